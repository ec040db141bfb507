/* pf_hist.c — log-linear latency histogram; the layout is drawn in pf_hist.h. */
#include "sl_base.h"
#include "pf_hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* Slot of value (value <= highest): see "Bucket layout" in pf_hist.h. */
static inline uint32_t hist_index(const pf_hist_t *h, uint64_t value)
{
    /* OR-ing the mask puts every value below S << u in bucket 0, and makes the
     * argument of clz non-zero. */
    int pow2_ceiling = 64 - __builtin_clzll(value | h->sub_bucket_mask);
    int bucket = pow2_ceiling - h->unit_magnitude - (h->sub_bucket_half_count_magnitude + 1);
    uint32_t sub = (uint32_t)(value >> (bucket + h->unit_magnitude));
    return ((uint32_t)(bucket + 1) << h->sub_bucket_half_count_magnitude) + sub -
           h->sub_bucket_half_count;
}

/* The inverse of hist_index: lowest value of slot idx, and log2 of its width. */
static uint64_t hist_slot_lowest(const pf_hist_t *h, uint32_t idx, int *width_log2)
{
    int bucket = (int)(idx >> h->sub_bucket_half_count_magnitude) - 1;
    uint32_t sub = (idx & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
    if (bucket < 0) {
        sub -= h->sub_bucket_half_count;
        bucket = 0;
    }
    *width_log2 = bucket + h->unit_magnitude;
    return (uint64_t)sub << *width_log2;
}

static uint64_t hist_slot_highest(const pf_hist_t *h, uint32_t idx)
{
    int width_log2;
    uint64_t lowest = hist_slot_lowest(h, idx, &width_log2);
    return lowest + ((uint64_t)1 << width_log2) - 1;
}

/* Middle of slot idx: the value a slot's members count as in mean and stddev. */
static double hist_slot_middle(const pf_hist_t *h, uint32_t idx)
{
    int width_log2;
    uint64_t lowest = hist_slot_lowest(h, idx, &width_log2);
    return (double)(lowest + (((uint64_t)1 << width_log2) >> 1));
}

/* Adds count values, the smallest lo and the largest hi, all in slot idx. */
static inline void hist_add(pf_hist_t *h, uint32_t idx, uint64_t count, uint64_t lo, uint64_t hi)
{
    h->counts[idx] += count;
    h->total_count += count;
    if (lo < h->min_value)
        h->min_value = lo;
    if (hi > h->max_value)
        h->max_value = hi;
}

int pf_hist_init(pf_hist_t *h, uint64_t lowest, uint64_t highest, int digits)
{
    ASSERT(h != NULL);
    memset(h, 0, sizeof(*h));
    if (lowest < 1 || digits < PF_HIST_DIGITS_MIN || digits > PF_HIST_DIGITS_MAX)
        return -EINVAL;
    if (highest > (uint64_t)INT64_MAX || highest / 2 < lowest)
        return -EINVAL;

    uint64_t single_unit_resolution = 2;
    for (int i = 0; i < digits; i++)
        single_unit_resolution *= 10;
    int sub_bucket_count_magnitude = 0;
    while (((uint64_t)1 << sub_bucket_count_magnitude) < single_unit_resolution)
        sub_bucket_count_magnitude++;
    int unit_magnitude = 63 - __builtin_clzll(lowest);
    /* S << u must stay within 2^62 so that doubling it while sizing cannot wrap. */
    if (unit_magnitude + sub_bucket_count_magnitude > 62)
        return -EINVAL;

    uint32_t sub_bucket_count = (uint32_t)1 << sub_bucket_count_magnitude;
    uint32_t bucket_count = 1;
    for (uint64_t untrackable = (uint64_t)sub_bucket_count << unit_magnitude;
         untrackable <= highest; untrackable <<= 1)
        bucket_count++;
    /* Largest case: d = 5, L = 1, H = 2^63 - 1: B = 46, counts_len = 47 * 2^17. */
    ASSERT(bucket_count <= 64);

    h->lowest_discernible = lowest;
    h->highest_trackable = highest;
    h->significant_digits = digits;
    h->unit_magnitude = unit_magnitude;
    h->sub_bucket_half_count_magnitude = sub_bucket_count_magnitude - 1;
    h->sub_bucket_count = sub_bucket_count;
    h->sub_bucket_half_count = sub_bucket_count / 2;
    h->sub_bucket_mask = ((uint64_t)sub_bucket_count - 1) << unit_magnitude;
    h->bucket_count = bucket_count;
    h->counts_len = (bucket_count + 1) * h->sub_bucket_half_count;
    h->counts = calloc(h->counts_len, sizeof(h->counts[0]));
    if (h->counts == NULL) {
        memset(h, 0, sizeof(*h));
        return -ENOMEM;
    }
    h->min_value = UINT64_MAX;
    /* The top slot must hold highest: every clamped value lands in range. */
    ASSERT(hist_index(h, highest) < h->counts_len);
    return 0;
}

void pf_hist_destroy(pf_hist_t *h)
{
    ASSERT(h != NULL);
    free(h->counts);
    memset(h, 0, sizeof(*h));
}

void pf_hist_record_n(pf_hist_t *h, uint64_t value, uint64_t count)
{
    DEBUG_ASSERT(h->counts != NULL);
    if (SL_UNLIKELY(value > h->highest_trackable)) {
        value = h->highest_trackable;
        h->overflow_count += count;
    }
    hist_add(h, hist_index(h, value), count, value, value);
}

void pf_hist_record(pf_hist_t *h, uint64_t value)
{
    pf_hist_record_n(h, value, 1);
}

void pf_hist_record_corrected(pf_hist_t *h, uint64_t value, uint64_t expected_interval)
{
    pf_hist_record(h, value);
    if (expected_interval == 0 || value <= expected_interval)
        return;
    /* Synthetic values: value - k * I for k = 1 .. K, K = value / I - 1 (the
     * smallest is >= I). HdrHistogram loops over them one by one; here the
     * arithmetic progression is cut at slot boundaries and each piece added at
     * once, so the work is at most min(K, counts_len) steps. */
    const uint64_t interval = expected_interval;
    uint64_t remaining = value / interval - 1;
    if (remaining == 0)
        return;
    uint64_t k_first = 1;
    if (value - interval > h->highest_trackable) {
        /* Those above highest: k with value - k * I > H, i.e. k <= (value - H - 1) / I. */
        uint64_t above = (value - h->highest_trackable - 1) / interval;
        if (above > remaining)
            above = remaining;
        pf_hist_record_n(h, h->highest_trackable + 1, above);
        remaining -= above;
        k_first += above;
    }
    if (remaining == 0)
        return;
    uint64_t current = value - k_first * interval; /* the largest left, <= highest */
    while (remaining > 0) {
        DEBUG_ASSERT(current >= interval && current <= h->highest_trackable);
        uint32_t idx = hist_index(h, current);
        int width_log2;
        uint64_t slot_lowest = hist_slot_lowest(h, idx, &width_log2);
        uint64_t in_slot = (current - slot_lowest) / interval + 1;
        if (in_slot > remaining)
            in_slot = remaining;
        uint64_t smallest = current - (in_slot - 1) * interval;
        hist_add(h, idx, in_slot, smallest, current);
        remaining -= in_slot;
        if (remaining > 0)
            current = smallest - interval;
    }
}

int pf_hist_merge(pf_hist_t *dst, const pf_hist_t *src)
{
    ASSERT(dst != NULL && src != NULL);
    if (dst->counts == NULL || src->counts == NULL ||
        dst->lowest_discernible != src->lowest_discernible ||
        dst->highest_trackable != src->highest_trackable ||
        dst->significant_digits != src->significant_digits)
        return -EINVAL;
    ASSERT(dst->counts_len == src->counts_len);
    if (src->total_count == 0)
        return 0;
    for (uint32_t i = 0; i < src->counts_len; i++)
        dst->counts[i] += src->counts[i];
    dst->total_count += src->total_count;
    dst->overflow_count += src->overflow_count;
    if (src->min_value < dst->min_value)
        dst->min_value = src->min_value;
    if (src->max_value > dst->max_value)
        dst->max_value = src->max_value;
    return 0;
}

void pf_hist_reset(pf_hist_t *h)
{
    ASSERT(h->counts != NULL);
    memset(h->counts, 0, (size_t)h->counts_len * sizeof(h->counts[0]));
    h->total_count = 0;
    h->overflow_count = 0;
    h->min_value = UINT64_MAX;
    h->max_value = 0;
}

uint64_t pf_hist_count(const pf_hist_t *h)
{
    return h->total_count;
}

uint64_t pf_hist_overflow_count(const pf_hist_t *h)
{
    return h->overflow_count;
}

uint64_t pf_hist_min(const pf_hist_t *h)
{
    return h->total_count == 0 ? 0 : h->min_value;
}

uint64_t pf_hist_max(const pf_hist_t *h)
{
    return h->max_value;
}

double pf_hist_mean(const pf_hist_t *h)
{
    if (h->total_count == 0)
        return 0.0;
    double sum = 0.0;
    for (uint32_t i = 0; i < h->counts_len; i++)
        if (h->counts[i] != 0)
            sum += hist_slot_middle(h, i) * (double)h->counts[i];
    return sum / (double)h->total_count;
}

double pf_hist_stddev(const pf_hist_t *h)
{
    if (h->total_count == 0)
        return 0.0;
    double mean = pf_hist_mean(h);
    double sum_sq = 0.0;
    for (uint32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] != 0) {
            double dev = hist_slot_middle(h, i) - mean;
            sum_sq += dev * dev * (double)h->counts[i];
        }
    }
    return sqrt(sum_sq / (double)h->total_count);
}

uint64_t pf_hist_percentile(const pf_hist_t *h, double p)
{
    if (h->total_count == 0)
        return 0;
    if (!(p >= 0.0)) /* also NaN */
        p = 0.0;
    if (p > 100.0)
        p = 100.0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->total_count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->total_count)
        rank = h->total_count;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < h->counts_len; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            if (p == 0.0) {
                int width_log2;
                return hist_slot_lowest(h, i, &width_log2);
            }
            return hist_slot_highest(h, i);
        }
    }
    ASSERT(!"total_count exceeds the sum of counts");
    return 0;
}

uint64_t pf_hist_lowest_equivalent(const pf_hist_t *h, uint64_t value)
{
    ASSERT(value <= h->highest_trackable);
    int width_log2;
    return hist_slot_lowest(h, hist_index(h, value), &width_log2);
}

uint64_t pf_hist_highest_equivalent(const pf_hist_t *h, uint64_t value)
{
    ASSERT(value <= h->highest_trackable);
    return hist_slot_highest(h, hist_index(h, value));
}

int pf_hist_fprint_summary(FILE *out, const pf_hist_t *h, double unit_divisor,
                           const char *unit_name)
{
    ASSERT(out != NULL && unit_divisor > 0.0 && unit_name != NULL);
    static const struct {
        const char *label;
        double p;
    } points[] = {
        {"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}, {"p99.99", 99.99},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(points); i++)
        fprintf(out, "%s=%.3f ", points[i].label,
                (double)pf_hist_percentile(h, points[i].p) / unit_divisor);
    fprintf(out, "max=%.3f %s (count=%llu", (double)pf_hist_max(h) / unit_divisor, unit_name,
            (unsigned long long)h->total_count);
    if (h->overflow_count != 0)
        fprintf(out, ", overflow=%llu", (unsigned long long)h->overflow_count);
    fputs(")\n", out);
    return ferror(out) ? -EIO : 0;
}
