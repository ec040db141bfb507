/*
 * pf_findrate.h — rate discovery (--find-rate): the search over open-loop
 * steps for the highest rate whose p99 latency stays under a bound. Pure: the
 * caller runs each step and feeds its result in; nothing here touches a
 * clock or a socket, so the search is unit-tested as a function of step
 * results (tests/unit/test_perf_native_findrate.c).
 *
 * Search
 *   1. The first step runs at start_rate.
 *   2. While every step passed: double the rate (exponential growth).
 *   3. After the first failure: bisect between lo (highest passing rate, 0
 *      if none yet) and hi (lowest failing rate); with no passing rate yet the
 *      next rate is hi / 2 (exponential descent).
 *   4. Done when hi - lo <= lo * precision (default 5%), when hi falls to
 *      PF_FINDRATE_MIN_RATE or below with nothing passing, or after
 *      max_steps steps. The answer is lo (0: no rate passed).
 *   A step passes when its p99 <= p99_max_ms, it achieved at least
 *   PF_FINDRATE_MIN_ACHIEVED of its rate, and it had no errors.
 *
 * Invariants: lo < hi whenever both are set; steps[] holds step_count <=
 * max_steps <= PF_FINDRATE_MAX_STEPS entries in the order run. Owned by the
 * caller; no allocation.
 */
#ifndef PF_FINDRATE_H
#define PF_FINDRATE_H

#include "sl_base.h"

#define PF_FINDRATE_MAX_STEPS 32
#define PF_FINDRATE_DEFAULT_STEPS 16
#define PF_FINDRATE_MIN_RATE 10       /* records/s: below this the search gives up */
#define PF_FINDRATE_MIN_ACHIEVED 0.95 /* fraction of the asked rate a passing step reaches */
#define PF_FINDRATE_PRECISION 0.05
#define PF_FINDRATE_DEFAULT_START 10000 /* records/s when --rate is not given */

typedef struct pf_findrate_step {
    uint64_t rate;         /* asked, records/s */
    double p99_ms;         /* the bounded percentile measured */
    double achieved_msg_s; /* acked (produce) or consumed (e2e) records/s */
    uint64_t errors;
    bool passed;
} pf_findrate_step_t;

typedef struct pf_findrate {
    double p99_max_ms;
    uint64_t start_rate;
    int max_steps;
    double precision;
    uint64_t lo; /* highest passing rate; 0 = none */
    uint64_t hi; /* lowest failing rate; 0 = none */
    int step_count;
    pf_findrate_step_t steps[PF_FINDRATE_MAX_STEPS];
} pf_findrate_t;

/* Prepares a search. p99_max_ms > 0, start_rate >= 1, 1 <= max_steps <=
 * PF_FINDRATE_MAX_STEPS (asserted). */
void pf_findrate_init(pf_findrate_t *f, double p99_max_ms, uint64_t start_rate, int max_steps);

/* Whether a step with these figures passes (rule above). */
bool pf_findrate_passes(const pf_findrate_t *f, uint64_t rate, double p99_ms, double achieved_msg_s,
                        uint64_t errors);

/* Records the result of the step run at `rate` (the value pf_findrate_next
 * returned) and returns whether it passed. */
bool pf_findrate_record(pf_findrate_t *f, uint64_t rate, double p99_ms, double achieved_msg_s,
                        uint64_t errors);

/* The rate of the next step, or 0 when the search is over. */
uint64_t pf_findrate_next(const pf_findrate_t *f);

/* The answer so far: the highest passing rate, 0 if none passed. */
static inline uint64_t pf_findrate_result(const pf_findrate_t *f)
{
    return f->lo;
}

#endif /* PF_FINDRATE_H */
