/*
 * pf_native_split.c — see pf_native_split.h.
 */
#include "pf_native_split.h"

int pf_nsplit_threads(int threads, int32_t partitions)
{
    ASSERT(threads >= 1 && partitions >= 1);
    return (int)SL_MIN((int64_t)threads, (int64_t)partitions);
}

int32_t pf_nsplit_size(int32_t n, int32_t k, int32_t g)
{
    ASSERT(n >= 0 && k >= 1 && g >= 0 && g < k);
    return n > g ? (int32_t)(((int64_t)n - g + k - 1) / k) : 0;
}

int32_t pf_nsplit_item(int32_t k, int32_t g, int32_t j)
{
    ASSERT(k >= 1 && g >= 0 && g < k && j >= 0);
    return (int32_t)((int64_t)g + (int64_t)j * k);
}
