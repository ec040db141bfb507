/*
 * pf_native_split.h — how the native engine's consumer spreads partitions:
 * over its threads, then over each thread's fetch streams (pf_native.h "Data
 * phase"). Pure arithmetic, no state; used by pf_native.c and
 * pf_native_consume.c and unit-tested on its own.
 *
 * Both levels are the same round-robin split of n items (0 .. n-1) into k
 * groups: item i goes to group i % k, so group g holds g, g + k, g + 2k, ...
 * in that order, every item is in exactly one group, and group sizes differ
 * by at most one. Partition p goes to consumer thread p % T (T =
 * pf_nsplit_threads); inside thread t its j-th partition (t + j * T) goes to
 * stream j % S of that thread.
 */
#ifndef PF_NATIVE_SPLIT_H
#define PF_NATIVE_SPLIT_H

#include "sl_base.h"

/* Consumer threads for `threads` engine threads and `partitions`
 * partitions: min(threads, partitions), so that none is left without a
 * partition. threads >= 1, partitions >= 1. */
int pf_nsplit_threads(int threads, int32_t partitions);

/* Items of group g when n items are split round-robin into k groups.
 * n >= 0, k >= 1, 0 <= g < k. */
int32_t pf_nsplit_size(int32_t n, int32_t k, int32_t g);

/* The j-th item (0-based) of group g of k: g + j * k. */
int32_t pf_nsplit_item(int32_t k, int32_t g, int32_t j);

#endif /* PF_NATIVE_SPLIT_H */
