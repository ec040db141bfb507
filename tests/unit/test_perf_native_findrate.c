/* test_perf_native_findrate.c — the rate-discovery search as a function of
 * step results: against a simulated broker whose p99 stays under the bound
 * up to a capacity C and explodes above it, the answer is a passing rate
 * within the precision of C, found in a bounded number of steps; a first
 * failing step makes it descend; nothing passing gives 0; steps that fall
 * short of their rate or have errors fail; noisy steps keep lo < hi. */
#include "sl_base.h"
#include "pf_findrate.h"

#include <criterion/criterion.h>

/* Runs the search against capacity C; returns the answer, *steps the count. */
static uint64_t search(uint64_t capacity, uint64_t start, int max_steps, int *steps)
{
    pf_findrate_t f;
    pf_findrate_init(&f, 1.0, start, max_steps);
    uint64_t rate;
    uint64_t prev = 0;
    while ((rate = pf_findrate_next(&f)) != 0) {
        cr_assert_neq(rate, prev, "the same rate twice in a row");
        prev = rate;
        bool ok = rate <= capacity;
        double p99 = ok ? 0.5 : 50.0;
        double achieved = ok ? (double)rate : (double)capacity;
        pf_findrate_record(&f, rate, p99, achieved, 0);
        cr_assert(f.lo == 0 || f.hi == 0 || f.lo < f.hi);
    }
    *steps = f.step_count;
    return pf_findrate_result(&f);
}

Test(perf_native_findrate, converges_to_the_capacity_within_precision)
{
    uint64_t caps[] = {15000, 100000, 333333, 2000000, 7654321};
    for (size_t i = 0; i < SL_ARRAY_SIZE(caps); i++) {
        int steps;
        uint64_t r = search(caps[i], 10000, PF_FINDRATE_MAX_STEPS, &steps);
        cr_assert_leq(r, caps[i], "answer above capacity");
        cr_assert_geq((double)r, (double)caps[i] * (1.0 - 2 * PF_FINDRATE_PRECISION),
                      "capacity %lu: answer %lu", (unsigned long)caps[i], (unsigned long)r);
        cr_assert_leq(steps, 20);
    }
}

Test(perf_native_findrate, a_failing_first_step_descends)
{
    int steps;
    uint64_t r = search(3000, 100000, PF_FINDRATE_MAX_STEPS, &steps);
    cr_assert_leq(r, 3000);
    cr_assert_geq(r, 2700);
}

Test(perf_native_findrate, nothing_passing_gives_zero)
{
    int steps;
    uint64_t r = search(0, 10000, PF_FINDRATE_MAX_STEPS, &steps);
    cr_assert_eq(r, 0);
    cr_assert_leq(steps, 12);
}

Test(perf_native_findrate, bounded_by_max_steps)
{
    int steps;
    uint64_t r = search(1000000000, 10, 5, &steps);
    cr_assert_eq(steps, 5);
    cr_assert_eq(r, 160); /* 10, 20, 40, 80, 160 all passed */
}

Test(perf_native_findrate, shortfall_and_errors_fail_a_step)
{
    pf_findrate_t f;
    pf_findrate_init(&f, 2.0, 1000, 8);
    cr_assert(pf_findrate_passes(&f, 1000, 1.9, 1000.0, 0));
    cr_assert(!pf_findrate_passes(&f, 1000, 2.1, 1000.0, 0), "p99 over the bound");
    cr_assert(!pf_findrate_passes(&f, 1000, 1.0, 900.0, 0), "rate not reached");
    cr_assert(!pf_findrate_passes(&f, 1000, 1.0, 1000.0, 1), "errors");
}

Test(perf_native_findrate, noisy_results_keep_lo_below_hi)
{
    pf_findrate_t f;
    pf_findrate_init(&f, 1.0, 1000, 10);
    pf_findrate_record(&f, 1000, 0.5, 1000, 0); /* pass */
    pf_findrate_record(&f, 2000, 5.0, 2000, 0); /* fail */
    pf_findrate_record(&f, 1500, 5.0, 1500, 0); /* fail */
    cr_assert_eq(f.lo, 1000);
    cr_assert_eq(f.hi, 1500);
    pf_findrate_record(&f, 1800, 0.5, 1800, 0); /* a pass above a failure: believed */
    cr_assert_eq(f.lo, 1800);
    cr_assert_eq(f.hi, 0, "the older failure below it is forgotten");
    cr_assert_eq(pf_findrate_next(&f), 3600);
    pf_findrate_record(&f, 3600, 5.0, 3600, 0);
    pf_findrate_record(&f, 1200, 5.0, 1200, 0); /* a failure below lo: lo forgotten */
    cr_assert_eq(f.hi, 1200);
    cr_assert_eq(f.lo, 0);
    cr_assert_eq(pf_findrate_next(&f), 600);
}
