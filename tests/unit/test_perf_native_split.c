/* test_perf_native_split.c — how the native consumer spreads partitions
 * (pf_native_split.h): over threads, then over each thread's streams, every
 * partition lands in exactly one (thread, stream), partition p on thread
 * p % T, group sizes differ by at most one, a stream's partitions ascend,
 * and there are never more consumer threads than partitions. */
#include "sl_base.h"
#include "pf_native_split.h"

#include <criterion/criterion.h>

#define MAX_PARTS 200

Test(perf_native_split, threads_never_exceed_partitions)
{
    cr_assert_eq(pf_nsplit_threads(1, 8), 1);
    cr_assert_eq(pf_nsplit_threads(2, 8), 2);
    cr_assert_eq(pf_nsplit_threads(16, 8), 8);
    cr_assert_eq(pf_nsplit_threads(4, 1), 1);
}

Test(perf_native_split, round_robin_groups)
{
    cr_assert_eq(pf_nsplit_size(8, 2, 0), 4);
    cr_assert_eq(pf_nsplit_size(8, 2, 1), 4);
    cr_assert_eq(pf_nsplit_size(8, 3, 0), 3);
    cr_assert_eq(pf_nsplit_size(8, 3, 1), 3);
    cr_assert_eq(pf_nsplit_size(8, 3, 2), 2);
    cr_assert_eq(pf_nsplit_size(2, 5, 3), 0);
    cr_assert_eq(pf_nsplit_size(0, 1, 0), 0);
    cr_assert_eq(pf_nsplit_item(3, 2, 0), 2);
    cr_assert_eq(pf_nsplit_item(3, 2, 1), 5);
    cr_assert_eq(pf_nsplit_item(1, 0, 7), 7);
}

/* Splits `parts` partitions over min(threads, parts) threads and each
 * thread's share over min(share, streams_per_thread) streams, as
 * pf_ncons_setup does, and checks the invariants. */
static void check_split(int threads, int32_t parts, int streams_per_thread)
{
    int seen[MAX_PARTS] = {0};
    int tc = pf_nsplit_threads(threads, parts);
    cr_assert(tc >= 1 && tc <= threads && tc <= parts);
    int32_t min_share = parts, max_share = 0;
    for (int t = 0; t < tc; t++) {
        int32_t share = pf_nsplit_size(parts, tc, t);
        cr_assert(share >= 1, "thread %d of %d has no partition (%d partitions)", t, tc, parts);
        min_share = SL_MIN(min_share, share);
        max_share = SL_MAX(max_share, share);
        int32_t streams = (int32_t)SL_MIN((int64_t)share, (int64_t)streams_per_thread);
        int32_t total = 0;
        for (int32_t s = 0; s < streams; s++) {
            int32_t count = pf_nsplit_size(share, streams, s);
            cr_assert(count >= 1);
            int32_t prev = -1;
            for (int32_t j = 0; j < count; j++) {
                int32_t p = pf_nsplit_item(tc, t, pf_nsplit_item(streams, s, j));
                cr_assert(p >= 0 && p < parts, "partition %d out of range", p);
                cr_assert_eq(p % tc, t, "partition %d on thread %d of %d", p, t, tc);
                cr_assert(p > prev);
                prev = p;
                seen[p]++;
            }
            total += count;
        }
        cr_assert_eq(total, share);
    }
    cr_assert(max_share - min_share <= 1);
    for (int32_t p = 0; p < parts; p++)
        cr_assert_eq(seen[p], 1, "partition %d read %d times (T=%d, P=%d, S=%d)", p, seen[p],
                     threads, parts, streams_per_thread);
}

Test(perf_native_split, every_partition_exactly_once)
{
    for (int threads = 1; threads <= 16; threads++)
        for (int32_t parts = 1; parts <= 40; parts++)
            for (int streams = 1; streams <= 12; streams += 5)
                check_split(threads, parts, streams);
    check_split(2, MAX_PARTS, 5);
    check_split(3, MAX_PARTS - 1, 64 * 64);
}
