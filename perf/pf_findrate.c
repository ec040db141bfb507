/*
 * pf_findrate.c — see pf_findrate.h.
 */
#include "pf_findrate.h"

void pf_findrate_init(pf_findrate_t *f, double p99_max_ms, uint64_t start_rate, int max_steps)
{
    ASSERT(p99_max_ms > 0.0);
    ASSERT(start_rate >= 1);
    ASSERT(max_steps >= 1 && max_steps <= PF_FINDRATE_MAX_STEPS);
    memset(f, 0, sizeof(*f));
    f->p99_max_ms = p99_max_ms;
    f->start_rate = start_rate;
    f->max_steps = max_steps;
    f->precision = PF_FINDRATE_PRECISION;
}

bool pf_findrate_passes(const pf_findrate_t *f, uint64_t rate, double p99_ms, double achieved_msg_s,
                        uint64_t errors)
{
    return errors == 0 && p99_ms <= f->p99_max_ms &&
           achieved_msg_s >= (double)rate * PF_FINDRATE_MIN_ACHIEVED;
}

bool pf_findrate_record(pf_findrate_t *f, uint64_t rate, double p99_ms, double achieved_msg_s,
                        uint64_t errors)
{
    ASSERT(f->step_count < f->max_steps);
    ASSERT(rate >= 1);
    bool passed = pf_findrate_passes(f, rate, p99_ms, achieved_msg_s, errors);
    f->steps[f->step_count++] = (pf_findrate_step_t){
        .rate = rate,
        .p99_ms = p99_ms,
        .achieved_msg_s = achieved_msg_s,
        .errors = errors,
        .passed = passed,
    };
    /* Noise can make a rate pass above one that failed: keep lo < hi by
     * believing the latest result at each end. */
    if (passed) {
        if (rate > f->lo)
            f->lo = rate;
        if (f->hi != 0 && f->hi <= f->lo)
            f->hi = 0;
    } else {
        if (f->hi == 0 || rate < f->hi)
            f->hi = rate;
        if (f->lo >= f->hi)
            f->lo = 0;
    }
    ASSERT(f->lo == 0 || f->hi == 0 || f->lo < f->hi);
    return passed;
}

uint64_t pf_findrate_next(const pf_findrate_t *f)
{
    if (f->step_count >= f->max_steps)
        return 0;
    if (f->step_count == 0)
        return f->start_rate;
    if (f->hi == 0) /* every step passed so far: grow */
        return f->lo > UINT64_MAX / 4 ? 0 : f->lo * 2;
    if (f->lo == 0) { /* nothing passed yet: descend */
        uint64_t next = f->hi / 2;
        return next < PF_FINDRATE_MIN_RATE ? 0 : next;
    }
    uint64_t gap = f->hi - f->lo;
    if ((double)gap <= (double)f->lo * f->precision || gap < 2)
        return 0;
    return f->lo + gap / 2;
}
