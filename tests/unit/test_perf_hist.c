/* test_perf_hist.c — the latency histogram: exact small values, the relative error
 * bound against exact percentiles of 100k log-uniform values for every digit count,
 * monotonicity, merge, clamping, bad arguments, coordinated-omission correction
 * against HdrHistogram's one-by-one loop, and a printed ns-per-record figure. */
#include "sl_base.h"
#include "pf_hist.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#define HOUR_NS 3600000000000ull

static uint64_t rng_next(uint64_t *state) /* splitmix64 */
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Log-uniform in [1, max]: as many values per decade in every decade. */
static uint64_t rng_log_uniform(uint64_t *state, uint64_t max)
{
    double u = (double)(rng_next(state) >> 11) / 9007199254740992.0; /* [0, 1) */
    uint64_t v = (uint64_t)exp(u * log((double)max));
    return v < 1 ? 1 : (v > max ? max : v);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The exact percentile with the histogram's rank rule, from a sorted array. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void assert_same_counts(const pf_hist_t *a, const pf_hist_t *b)
{
    cr_assert_eq(a->counts_len, b->counts_len);
    cr_assert_eq(pf_hist_count(a), pf_hist_count(b));
    cr_assert_eq(pf_hist_overflow_count(a), pf_hist_overflow_count(b));
    cr_assert_eq(pf_hist_min(a), pf_hist_min(b));
    cr_assert_eq(pf_hist_max(a), pf_hist_max(b));
    for (uint32_t i = 0; i < a->counts_len; i++)
        cr_assert_eq(a->counts[i], b->counts[i], "slot %u: %llu != %llu", i,
                     (unsigned long long)a->counts[i], (unsigned long long)b->counts[i]);
}

Test(perf_hist, rejects_bad_init_arguments)
{
    pf_hist_t h;
    cr_assert_eq(pf_hist_init(&h, 0, HOUR_NS, 3), -EINVAL, "lowest 0");
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, 0), -EINVAL, "digits 0");
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, 6), -EINVAL, "digits 6");
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, -3), -EINVAL, "digits negative");
    cr_assert_eq(pf_hist_init(&h, 1000, 1999, 3), -EINVAL, "highest < 2 * lowest");
    cr_assert_eq(pf_hist_init(&h, 1, (uint64_t)INT64_MAX + 1, 3), -EINVAL, "highest > INT64_MAX");
    cr_assert_eq(pf_hist_init(&h, 1, UINT64_MAX, 3), -EINVAL, "highest UINT64_MAX");
    cr_assert_eq(pf_hist_init(&h, 1ull << 60, (uint64_t)INT64_MAX, 3), -EINVAL, "S << u past 2^62");
    cr_assert_null(h.counts, "nothing to free after a failure");
    pf_hist_destroy(&h); /* harmless */

    cr_assert_eq(pf_hist_init(&h, 1000, 2000, 3), 0, "highest == 2 * lowest is fine");
    pf_hist_destroy(&h);
    cr_assert_eq(pf_hist_init(&h, 1, (uint64_t)INT64_MAX, 3), 0, "full int64 range");
    pf_hist_record(&h, (uint64_t)INT64_MAX);
    cr_assert_eq(pf_hist_percentile(&h, 100.0), (uint64_t)INT64_MAX);
    pf_hist_destroy(&h);
    cr_assert_null(h.counts);
}

Test(perf_hist, memory_matches_the_documented_formula)
{
    /* pf_hist.h, "Memory": L = 1, H = 3.6e12 ns. */
    static const struct {
        int digits;
        uint32_t buckets, half;
    } cases[] = {{1, 38, 16}, {2, 35, 128}, {3, 32, 1024}, {4, 28, 16384}, {5, 25, 131072}};
    for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
        pf_hist_t h;
        cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, cases[i].digits), 0);
        cr_assert_eq(h.bucket_count, cases[i].buckets, "d=%d: B=%u", cases[i].digits,
                     h.bucket_count);
        cr_assert_eq(h.sub_bucket_half_count, cases[i].half);
        cr_assert_eq(h.counts_len, (cases[i].buckets + 1) * cases[i].half);
        /* The top slot still holds highest, one bucket fewer would not. */
        cr_assert_lt((uint64_t)h.sub_bucket_count << (h.bucket_count - 2), HOUR_NS + 1);
        cr_assert_gt((uint64_t)h.sub_bucket_count << (h.bucket_count - 1), HOUR_NS);
        pf_hist_destroy(&h);
    }
}

Test(perf_hist, small_values_are_exact)
{
    pf_hist_t h;
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, 3), 0);
    /* With L = 1 every value below S = 2048 has a slot of its own. */
    for (uint64_t v = 0; v < 2048; v++) {
        cr_assert_eq(pf_hist_lowest_equivalent(&h, v), v);
        cr_assert_eq(pf_hist_highest_equivalent(&h, v), v);
        pf_hist_record(&h, v);
    }
    cr_assert_eq(pf_hist_count(&h), 2048);
    cr_assert_eq(pf_hist_min(&h), 0);
    cr_assert_eq(pf_hist_max(&h), 2047);
    cr_assert_eq(pf_hist_percentile(&h, 0.0), 0);
    cr_assert_eq(pf_hist_percentile(&h, 50.0), 1023); /* rank 1024 */
    cr_assert_eq(pf_hist_percentile(&h, 100.0), 2047);
    for (uint64_t rank = 1; rank <= 2048; rank++)
        cr_assert_eq(pf_hist_percentile(&h, 100.0 * (double)rank / 2048.0), rank - 1);
    cr_assert_float_eq(pf_hist_mean(&h), 1023.5, 1e-9);
    cr_assert_float_eq(pf_hist_stddev(&h), sqrt((2048.0 * 2048.0 - 1.0) / 12.0), 1e-6);

    /* 2048 is the first value sharing a slot (width 2) with its neighbour. */
    cr_assert_eq(pf_hist_lowest_equivalent(&h, 2049), 2048);
    cr_assert_eq(pf_hist_highest_equivalent(&h, 2048), 2049);
    pf_hist_destroy(&h);
}

Test(perf_hist, empty_histogram_reports_zeros)
{
    pf_hist_t h;
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, 3), 0);
    cr_assert_eq(pf_hist_count(&h), 0);
    cr_assert_eq(pf_hist_min(&h), 0);
    cr_assert_eq(pf_hist_max(&h), 0);
    cr_assert_eq(pf_hist_percentile(&h, 99.0), 0);
    cr_assert_float_eq(pf_hist_mean(&h), 0.0, 1e-12);
    cr_assert_float_eq(pf_hist_stddev(&h), 0.0, 1e-12);
    pf_hist_destroy(&h);
}

/* For every digit count: every recorded value's slot is within 10^-d of it, and
 * percentiles 0..100 (step 0.01 up to d=3, coarser above) are within 10^-d of the exact ones,
 * monotonic, with p0 equivalent to min and p100 equivalent to max. */
Test(perf_hist, percentiles_within_relative_error_bound_over_many_decades)
{
    enum { N = 100000 };
    uint64_t *values = malloc(N * sizeof(*values));
    cr_assert_not_null(values);
    for (int digits = PF_HIST_DIGITS_MIN; digits <= PF_HIST_DIGITS_MAX; digits++) {
        double bound = pow(10.0, -digits);
        pf_hist_t h;
        cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, digits), 0);
        uint64_t seed = 42 + (uint64_t)digits;
        double exact_sum = 0.0;
        for (size_t i = 0; i < N; i++) {
            uint64_t v = rng_log_uniform(&seed, HOUR_NS);
            values[i] = v;
            exact_sum += (double)v;
            pf_hist_record(&h, v);
            uint64_t lo = pf_hist_lowest_equivalent(&h, v), hi = pf_hist_highest_equivalent(&h, v);
            cr_assert(lo <= v && v <= hi);
            cr_assert_lt((double)(hi - lo), (double)v * bound + 1e-9,
                         "d=%d v=%llu slot [%llu, %llu]", digits, (unsigned long long)v,
                         (unsigned long long)lo, (unsigned long long)hi);
        }
        qsort(values, N, sizeof(values[0]), cmp_u64);
        cr_assert_eq(pf_hist_count(&h), N);
        cr_assert_eq(pf_hist_min(&h), values[0]);
        cr_assert_eq(pf_hist_max(&h), values[N - 1]);
        cr_assert_gt(values[N - 1] / values[0], 1000000000ull, "spans 9+ decades");

        /* pf_hist_percentile scans counts: sweep finer where counts_len is small. */
        int steps = digits <= 3 ? 10000 : (digits == 4 ? 1000 : 200);
        uint64_t previous = 0;
        double worst = 0.0;
        for (int step = 0; step <= steps; step++) {
            double p = 100.0 * step / steps;
            uint64_t got = pf_hist_percentile(&h, p);
            uint64_t want = exact_percentile(values, N, p);
            double rel = fabs((double)got - (double)want) / (double)want;
            if (rel > worst)
                worst = rel;
            cr_assert_leq(rel, bound, "d=%d p=%.2f got %llu want %llu (rel %.3g)", digits, p,
                          (unsigned long long)got, (unsigned long long)want, rel);
            cr_assert_geq(got, previous, "monotonic at p=%.2f", p);
            previous = got;
        }
        for (int k = 0; k < 4; k++) { /* the tail: p99.99, p99.999, ... */
            double p = 100.0 - pow(10.0, -2 - k);
            uint64_t got = pf_hist_percentile(&h, p), want = exact_percentile(values, N, p);
            cr_assert_leq(fabs((double)got - (double)want) / (double)want, bound);
        }
        cr_assert_eq(pf_hist_percentile(&h, 0.0), pf_hist_lowest_equivalent(&h, values[0]));
        cr_assert_eq(pf_hist_percentile(&h, 100.0), pf_hist_highest_equivalent(&h, values[N - 1]));
        cr_assert_eq(pf_hist_percentile(&h, -5.0), pf_hist_percentile(&h, 0.0), "clamped");
        cr_assert_eq(pf_hist_percentile(&h, 250.0), pf_hist_percentile(&h, 100.0), "clamped");
        cr_assert_eq(pf_hist_percentile(&h, NAN), pf_hist_percentile(&h, 0.0), "NaN as 0");

        double exact_mean = exact_sum / N;
        cr_assert_leq(fabs(pf_hist_mean(&h) - exact_mean) / exact_mean, bound);
        printf("pf_hist d=%d: counts_len %u (%zu KiB), worst percentile error %.3g (bound %g)\n",
               digits, h.counts_len, (size_t)h.counts_len * 8 / 1024, worst, bound);
        pf_hist_destroy(&h);
    }
    free(values);
}

Test(perf_hist, unit_magnitude_above_one_groups_small_values)
{
    pf_hist_t h;
    cr_assert_eq(pf_hist_init(&h, 1000, HOUR_NS, 3), 0); /* u = 9: slots of 512 ns */
    cr_assert_eq(h.unit_magnitude, 9);
    pf_hist_record(&h, 0);
    pf_hist_record(&h, 511);
    pf_hist_record(&h, 512);
    cr_assert_eq(h.counts[0], 2);
    cr_assert_eq(h.counts[1], 1);
    cr_assert_eq(pf_hist_percentile(&h, 50.0), 511);
    cr_assert_eq(pf_hist_min(&h), 0);
    cr_assert_eq(pf_hist_max(&h), 512);
    pf_hist_destroy(&h);
}

Test(perf_hist, record_n_equals_n_records)
{
    pf_hist_t a, b;
    cr_assert_eq(pf_hist_init(&a, 1, HOUR_NS, 3), 0);
    cr_assert_eq(pf_hist_init(&b, 1, HOUR_NS, 3), 0);
    uint64_t seed = 7;
    for (int i = 0; i < 1000; i++) {
        uint64_t v = rng_log_uniform(&seed, HOUR_NS * 2), n = rng_next(&seed) % 5;
        pf_hist_record_n(&a, v, n);
        for (uint64_t k = 0; k < n; k++)
            pf_hist_record(&b, v);
    }
    assert_same_counts(&a, &b);
    pf_hist_destroy(&a);
    pf_hist_destroy(&b);
}

Test(perf_hist, merge_equals_recording_both)
{
    pf_hist_t a, b, both;
    cr_assert_eq(pf_hist_init(&a, 1, HOUR_NS, 3), 0);
    cr_assert_eq(pf_hist_init(&b, 1, HOUR_NS, 3), 0);
    cr_assert_eq(pf_hist_init(&both, 1, HOUR_NS, 3), 0);
    uint64_t seed = 99;
    for (int i = 0; i < 20000; i++) {
        uint64_t v = rng_log_uniform(&seed, HOUR_NS * 10); /* some overflow too */
        pf_hist_record(i % 3 ? &a : &b, v);
        pf_hist_record(&both, v);
    }
    cr_assert_gt(pf_hist_overflow_count(&both), 0);
    cr_assert_eq(pf_hist_merge(&a, &b), 0);
    assert_same_counts(&a, &both);
    for (int p = 0; p <= 100; p++)
        cr_assert_eq(pf_hist_percentile(&a, p), pf_hist_percentile(&both, p));
    cr_assert_float_eq(pf_hist_mean(&a), pf_hist_mean(&both), 1e-3);

    /* Into an empty one: min and max come from src. */
    pf_hist_reset(&both);
    cr_assert_eq(pf_hist_merge(&both, &a), 0);
    assert_same_counts(&both, &a);
    /* An empty src changes nothing. */
    pf_hist_reset(&b);
    cr_assert_eq(pf_hist_merge(&a, &b), 0);
    assert_same_counts(&both, &a);
    pf_hist_destroy(&a);
    pf_hist_destroy(&b);
    pf_hist_destroy(&both);
}

Test(perf_hist, merge_rejects_a_different_configuration)
{
    pf_hist_t a, other;
    cr_assert_eq(pf_hist_init(&a, 1, HOUR_NS, 3), 0);
    pf_hist_record(&a, 12345);
    const struct {
        uint64_t lowest, highest;
        int digits;
    } configs[] = {{1, HOUR_NS, 2}, {1, HOUR_NS / 2, 3}, {2, HOUR_NS, 3}};
    for (size_t i = 0; i < SL_ARRAY_SIZE(configs); i++) {
        cr_assert_eq(pf_hist_init(&other, configs[i].lowest, configs[i].highest, configs[i].digits),
                     0);
        pf_hist_record(&other, 777);
        cr_assert_eq(pf_hist_merge(&a, &other), -EINVAL);
        cr_assert_eq(pf_hist_count(&a), 1, "dst unchanged");
        cr_assert_eq(pf_hist_min(&a), 12345);
        pf_hist_destroy(&other);
    }
    cr_assert_eq(pf_hist_merge(&a, &other), -EINVAL, "destroyed src");
    pf_hist_destroy(&a);
}

Test(perf_hist, values_above_highest_are_clamped_and_counted)
{
    pf_hist_t h;
    const uint64_t highest = 1000000;
    cr_assert_eq(pf_hist_init(&h, 1, highest, 3), 0);
    pf_hist_record(&h, 10);
    pf_hist_record(&h, highest);
    pf_hist_record(&h, highest + 1);
    pf_hist_record(&h, UINT64_MAX);
    pf_hist_record_n(&h, 5 * highest, 3);
    cr_assert_eq(pf_hist_count(&h), 7);
    cr_assert_eq(pf_hist_overflow_count(&h), 5);
    cr_assert_eq(pf_hist_max(&h), highest);
    cr_assert_eq(pf_hist_min(&h), 10);
    cr_assert_eq(pf_hist_percentile(&h, 100.0), pf_hist_highest_equivalent(&h, highest));
    cr_assert_eq(pf_hist_percentile(&h, 50.0), pf_hist_highest_equivalent(&h, highest));

    char buf[256];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    cr_assert_not_null(f);
    cr_assert_eq(pf_hist_fprint_summary(f, &h, 1e3, "us"), 0);
    fclose(f);
    cr_assert(strstr(buf, "max=1000.000 us (count=7, overflow=5)") != NULL, "%s", buf);

    pf_hist_reset(&h);
    cr_assert_eq(pf_hist_count(&h), 0);
    cr_assert_eq(pf_hist_overflow_count(&h), 0);
    cr_assert_eq(pf_hist_max(&h), 0);
    pf_hist_record(&h, 3);
    cr_assert_eq(pf_hist_min(&h), 3);
    cr_assert_eq(pf_hist_max(&h), 3);
    pf_hist_destroy(&h);
}

Test(perf_hist, summary_prints_the_percentiles)
{
    pf_hist_t h;
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, 3), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        pf_hist_record(&h, v * 1000); /* 1..1000 us, exact to 3 digits */
    char buf[256];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    cr_assert_not_null(f);
    cr_assert_eq(pf_hist_fprint_summary(f, &h, 1e6, "ms"), 0);
    fclose(f);
    printf("pf_hist summary: %s", buf);
    cr_assert(strncmp(buf,
                      "p50=0.500 p90=0.900 p99=0.990 p99.9=0.999 p99.99=1.000 max=1.000 ms "
                      "(count=1000)\n",
                      sizeof(buf)) == 0,
              "%s", buf);
    pf_hist_destroy(&h);
}

/* HdrHistogram's recordCorrectedValue, one value at a time. */
static void record_corrected_naive(pf_hist_t *h, uint64_t value, uint64_t interval)
{
    pf_hist_record(h, value);
    if (interval == 0)
        return;
    for (uint64_t missing = value - interval; value > interval && missing >= interval;
         missing -= interval)
        pf_hist_record(h, missing);
}

Test(perf_hist, corrected_recording_adds_the_synthetic_values)
{
    pf_hist_t h, naive;
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, 3), 0);
    cr_assert_eq(pf_hist_init(&naive, 1, HOUR_NS, 3), 0);

    /* 1000 with an interval of 100: 1000, 900, ..., 100. */
    pf_hist_record_corrected(&h, 1000, 100);
    cr_assert_eq(pf_hist_count(&h), 10);
    cr_assert_eq(pf_hist_min(&h), 100);
    cr_assert_eq(pf_hist_max(&h), 1000);
    for (uint64_t v = 100; v <= 1000; v += 100)
        cr_assert_eq(h.counts[v], 1);
    /* At or below the interval, or with no interval: the value alone. */
    pf_hist_reset(&h);
    pf_hist_record_corrected(&h, 100, 100);
    pf_hist_record_corrected(&h, 50, 100);
    pf_hist_record_corrected(&h, 5000, 0);
    pf_hist_record_corrected(&h, 199, 100); /* 199 and 99 < 100: no synthetic */
    cr_assert_eq(pf_hist_count(&h), 4);

    /* Against the one-by-one loop, across slot widths and into overflow. */
    static const struct {
        uint64_t value, interval;
    } cases[] = {
        {10000000, 3},
        {10000000, 1},
        {123456789, 1000},
        {5000000, 4097},
        {HOUR_NS + 5000000, 1000000},
        {3 * HOUR_NS, 7 * 1000000000ull},
        {2048, 1},
        {2049, 2},
        {UINT64_MAX, HOUR_NS / 3},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
        pf_hist_reset(&h);
        pf_hist_reset(&naive);
        pf_hist_record(&h, 5); /* so min is tested against an existing value too */
        pf_hist_record(&naive, 5);
        pf_hist_record_corrected(&h, cases[i].value, cases[i].interval);
        record_corrected_naive(&naive, cases[i].value, cases[i].interval);
        cr_assert_eq(pf_hist_count(&h), 1 + cases[i].value / cases[i].interval, "case %zu", i);
        assert_same_counts(&h, &naive);
    }

    /* One hour stalled with a 1 ns interval: 3.6e12 synthetic values, added in
     * at most counts_len steps (the naive loop would take an hour itself). */
    pf_hist_reset(&h);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pf_hist_record_corrected(&h, HOUR_NS, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(pf_hist_count(&h), HOUR_NS);
    cr_assert_eq(pf_hist_min(&h), 1);
    cr_assert_eq(pf_hist_max(&h), HOUR_NS);
    uint64_t p50 = pf_hist_percentile(&h, 50.0);
    cr_assert_leq(fabs((double)p50 - HOUR_NS / 2.0) / (HOUR_NS / 2.0), 1e-3);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("pf_hist: 3.6e12 corrected values recorded in %.3f ms\n", ms);
    pf_hist_destroy(&h);
    pf_hist_destroy(&naive);
}

Test(perf_hist, records_in_a_few_ns)
{
    enum { N = 1 << 20, ROUNDS = 20 };
    uint64_t *values = malloc(N * sizeof(*values));
    cr_assert_not_null(values);
    uint64_t seed = 1;
    for (size_t i = 0; i < N; i++)
        values[i] = rng_log_uniform(&seed, 100000000); /* 1 ns .. 100 ms */
    pf_hist_t h;
    cr_assert_eq(pf_hist_init(&h, 1, HOUR_NS, 3), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < N; i++)
            pf_hist_record(&h, values[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    double per_record_ns = ns / ((double)N * ROUNDS);
    cr_assert_eq(pf_hist_count(&h), (uint64_t)N * ROUNDS);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t sink = 0;
    for (int i = 0; i < 100; i++)
        sink += pf_hist_percentile(&h, 99.99);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double pct_us =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 100 / 1e3;
    printf("pf_hist: %.2f ns per record (%d x %d log-uniform values, d=3); "
           "percentile %.1f us (sink %llu)\n",
           per_record_ns, ROUNDS, N, pct_us, (unsigned long long)(sink & 1));
    /* Generous: a debug or sanitizer build on a shared machine must still pass. */
    cr_assert_lt(per_record_ns, 200.0);
    pf_hist_destroy(&h);
    free(values);
}
