/*
 * pf_hist.h — latency histogram of sluice-perf: an HdrHistogram-style log-linear
 * histogram of uint64 values (nanoseconds by convention), fixed memory, O(1)
 * allocation-free recording.
 *
 * Purpose
 *   sluice-perf records one value per acknowledged batch / consumed record and
 *   reports p50 ... p99.99 and max (BENCHMARKS.md "What the load generator must
 *   do"). A sorted array would allocate per record and cost O(n log n) at the end;
 *   this costs a few ns per record and a few hundred KiB, whatever the count.
 *
 * Configuration (pf_hist_init)
 *   lowest   L >= 1   lowest discernible value: values below L share a slot with 0.
 *   highest  H        highest trackable value, 2L <= H <= INT64_MAX (e.g. 3600 s
 *                     in ns = 3.6e12). Larger values are clamped to H and counted
 *                     in overflow_count.
 *   digits   d 1..5   significant decimal digits kept (3 is usual).
 *
 * Bucket layout (the same as HdrHistogram, so figures compare)
 *   u  = floor(log2(L))                        unit magnitude
 *   S  = 2^ceil(log2(2 * 10^d))                sub-buckets per bucket (d=3: 2048)
 *   s  = log2(S) - 1;   S/2 = 2^s              half count (d=3: 1024)
 *   B  = smallest B >= 1 with (S << (u + B - 1)) > H      bucket count
 *   Bucket 0 holds [0, S * 2^u) in S slots of width 2^u. Bucket b >= 1 holds
 *   [S/2 * 2^(u+b), S * 2^(u+b)) in S/2 slots of width 2^(u+b): each bucket
 *   doubles the range and the slot width. For a value v:
 *     b   = max(0, floor(log2(v)) + 1 - u - log2(S))
 *     sub = v >> (u + b)                       in [S/2, S), or [0, S) when b = 0
 *     idx = (b + 1) * S/2 + sub - S/2
 *   and slot idx stands for the values [sub << (u+b), (sub+1) << (u+b)).
 *
 * Error bound
 *   In bucket b >= 1 a slot is 2^(u+b) wide and every value in it is at least
 *   S/2 * 2^(u+b) >= 10^d * 2^(u+b), so any value reported for v (its slot's
 *   lowest or highest equivalent value) differs from v by less than
 *   v * 10^-d. With L = 1 values below S are exact. Min and max are exact.
 *
 * Memory
 *   counts_len = (B + 1) * S/2 slots of 8 bytes, allocated once by pf_hist_init.
 *   L = 1, H = 3.6e12 ns: d=3 -> 33 * 1024 * 8 = 264 KiB; d=5 -> 26 * 131072 * 8
 *   = 26 MiB; d=2 -> 36 * 128 * 8 = 36 KiB.
 *
 * Ownership and threading
 *   The caller owns the pf_hist_t (stack, static or embedded); pf_hist_init
 *   allocates counts, pf_hist_destroy frees them. No locks and no atomics: one
 *   writer thread per histogram. Each sender thread records into its own
 *   histogram; at the end (or at an interval, after the writer has handed its
 *   histogram over) pf_hist_merge adds them into one for reporting. Readers
 *   (count, percentile, ...) must not run concurrently with the writer.
 *
 * Invariants
 *   total_count == sum(counts); when total_count > 0, min_value <= max_value <= H
 *   and both lie in slots with a non-zero count; overflow_count <= total_count.
 */
#ifndef PF_HIST_H
#define PF_HIST_H

#include "sl_base.h"

#define PF_HIST_DIGITS_MIN 1
#define PF_HIST_DIGITS_MAX 5
#define PF_HIST_DIGITS_DEFAULT 3

typedef struct pf_hist {
    /* Configuration, fixed by pf_hist_init. */
    uint64_t lowest_discernible;
    uint64_t highest_trackable;
    int significant_digits;
    int unit_magnitude;                  /* u */
    int sub_bucket_half_count_magnitude; /* s */
    uint32_t sub_bucket_count;           /* S */
    uint32_t sub_bucket_half_count;      /* S/2 */
    uint64_t sub_bucket_mask;            /* (S - 1) << u */
    uint32_t bucket_count;               /* B */
    uint32_t counts_len;                 /* (B + 1) * S/2 */
    /* State. */
    uint64_t total_count;
    uint64_t overflow_count; /* values recorded above highest_trackable (clamped) */
    uint64_t min_value;      /* exact; UINT64_MAX while empty */
    uint64_t max_value;      /* exact (after clamping); 0 while empty */
    uint64_t *counts;        /* owned: counts_len slots */
} pf_hist_t;

/* Sets h up for values in [0, highest] with `digits` significant digits and
 * allocates its counts (see Memory above). Returns 0; -EINVAL when lowest < 1,
 * highest < 2 * lowest, highest > INT64_MAX, digits outside 1..5, or lowest so
 * large that S << u would pass 2^62; -ENOMEM when the counts cannot be
 * allocated. On failure h holds nothing to free (pf_hist_destroy is harmless). */
int pf_hist_init(pf_hist_t *h, uint64_t lowest, uint64_t highest, int digits);

/* Frees the counts and zeroes h. Harmless on a zeroed or destroyed h. */
void pf_hist_destroy(pf_hist_t *h);

/* Records one value. Values above highest are recorded as highest and counted
 * in overflow_count. Never fails, never allocates. */
void pf_hist_record(pf_hist_t *h, uint64_t value);

/* Records `count` occurrences of value (as pf_hist_record, count times). */
void pf_hist_record_n(pf_hist_t *h, uint64_t value, uint64_t count);

/* Records value and, as HdrHistogram's recordCorrectedValue does for
 * coordinated omission, the values a closed loop failed to send while it was
 * stalled: value - k * expected_interval for k = 1, 2, ... while that is at
 * least expected_interval. expected_interval = 0 records value alone. The
 * synthetic values are added a slot at a time, so the cost is bounded by
 * counts_len, not by value / expected_interval. Synthetic values above highest
 * are clamped and counted in overflow_count like any other. Never fails.
 * (sluice-perf's open-loop modes measure from intended send times and need no
 * correction; this is for its closed-loop modes.) */
void pf_hist_record_corrected(pf_hist_t *h, uint64_t value, uint64_t expected_interval);

/* Adds every value of src into dst. Both must have been initialised with the
 * same lowest, highest and digits; otherwise returns -EINVAL and dst is
 * unchanged. Returns 0. src is not modified. */
int pf_hist_merge(pf_hist_t *dst, const pf_hist_t *src);

/* Forgets every recorded value; the configuration and memory stay. */
void pf_hist_reset(pf_hist_t *h);

/* Number of values recorded (including clamped ones). */
uint64_t pf_hist_count(const pf_hist_t *h);
/* Number of values that were above highest and recorded as highest. */
uint64_t pf_hist_overflow_count(const pf_hist_t *h);
/* Exact smallest / largest value recorded (largest after clamping); 0 when empty. */
uint64_t pf_hist_min(const pf_hist_t *h);
uint64_t pf_hist_max(const pf_hist_t *h);
/* Mean and population standard deviation, computed over slots (each value
 * taken as its slot's middle, as HdrHistogram does); 0.0 when empty. */
double pf_hist_mean(const pf_hist_t *h);
double pf_hist_stddev(const pf_hist_t *h);

/* The value at percentile p, with HdrHistogram's semantics: the value ranked
 * max(1, round(p / 100 * count)) in ascending order is found, and the highest
 * value equivalent to it (the top of its slot) is returned; for p == 0 the
 * lowest equivalent value of the smallest value's slot. So the result is within
 * the error bound of the exact percentile, and may exceed pf_hist_max() by
 * less than a slot width. p outside [0, 100] (or NaN) is clamped. Returns 0 when
 * empty. Costs O(counts_len). */
uint64_t pf_hist_percentile(const pf_hist_t *h, double p);

/* Bounds of the slot value falls in: every value in
 * [pf_hist_lowest_equivalent(v), pf_hist_highest_equivalent(v)] is recorded
 * identically. value must be <= highest (asserted). */
uint64_t pf_hist_lowest_equivalent(const pf_hist_t *h, uint64_t value);
uint64_t pf_hist_highest_equivalent(const pf_hist_t *h, uint64_t value);

/* Writes one line "p50=... p90=... p99=... p99.9=... p99.99=... max=... <unit>
 * (count=N[, overflow=M])" with every value divided by unit_divisor (> 0;
 * e.g. 1e3 and "us", 1e6 and "ms") and 3 decimals. Returns 0, or -EIO when the
 * stream reports an error. */
int pf_hist_fprint_summary(FILE *out, const pf_hist_t *h, double unit_divisor,
                           const char *unit_name);

#endif /* PF_HIST_H */
