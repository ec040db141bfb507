/*
 * test_core_pool.c — the per-shard request and buffer caches (core/sl_pool.h):
 * class rounding, reuse, the per-class bound, buffers above the largest class,
 * requests coming back zeroed with their arena usable, the registered region
 * (large classes first from it, slabs per class, heap when it is used up).
 */
#include "sl_pool.h"
#include "sl_req.h"

#include <criterion/criterion.h>
#include <stdlib.h>

Test(core_pool, buffers_are_reused_within_their_class)
{
    sl_pool_t p;
    sl_pool_init(&p);
    uint8_t *a = sl_pool_buf_get(&p, 1500); /* 2 KiB class */
    cr_assert_not_null(a);
    memset(a, 0xAB, 2048); /* the whole class size is usable */
    sl_pool_buf_put(&p, a, 1500);
    cr_assert_eq(sl_pool_buf_get(&p, 2048), a, "same class, same buffer");
    uint8_t *b = sl_pool_buf_get(&p, 2049);
    cr_assert_neq(b, a, "the next class is another list");
    cr_assert_eq(p.stats.buf_hits, 1);
    sl_pool_buf_put(&p, b, 2049);
    sl_pool_buf_put(&p, a, 2048);
    uint8_t *tiny = sl_pool_buf_get(&p, 1);
    cr_assert_not_null(tiny);
    sl_pool_buf_put(&p, tiny, 1);
    sl_pool_destroy(&p);
}

Test(core_pool, a_class_caches_a_bounded_number)
{
    sl_pool_t p;
    sl_pool_init(&p);
    enum { N = 80 };
    void *b[N];
    for (int i = 0; i < N; i++)
        b[i] = sl_pool_buf_get(&p, 1 << 20);
    for (int i = 0; i < N; i++)
        sl_pool_buf_put(&p, b[i], 1 << 20);
    int c = 20 - SL_POOL_MIN_SHIFT;
    cr_assert_eq(p.free_count[c], SL_POOL_CLASS_BYTES >> 20, "32 MiB of 1 MiB buffers kept");
    cr_assert_eq(p.cached_bytes, SL_POOL_CLASS_BYTES);
    /* All classes together stay under the shard-wide bound. */
    void *h[N];
    for (int i = 0; i < N; i++)
        h[i] = sl_pool_buf_get(&p, 1 << 19);
    for (int i = 0; i < N; i++)
        sl_pool_buf_put(&p, h[i], 1 << 19);
    cr_assert_leq(p.cached_bytes, SL_POOL_MAX_CACHED_BYTES);
    cr_assert_eq(p.free_count[c - 1], (SL_POOL_MAX_CACHED_BYTES - SL_POOL_CLASS_BYTES) >> 19);
    sl_pool_destroy(&p);
    cr_assert_eq(p.free_count[c], 0);
}

Test(core_pool, buffers_above_the_largest_class_are_not_cached)
{
    sl_pool_t p;
    sl_pool_init(&p);
    void *big = sl_pool_buf_get(&p, (1 << 20) + 1);
    cr_assert_not_null(big);
    sl_pool_buf_put(&p, big, (1 << 20) + 1);
    for (int c = 0; c < SL_POOL_CLASSES; c++)
        cr_assert_eq(p.free_count[c], 0);
    sl_pool_buf_put(&p, NULL, 100); /* ignored */
    sl_pool_destroy(&p);
}

Test(core_pool, requests_come_back_zeroed_with_a_working_arena)
{
    sl_pool_t p;
    sl_pool_init(&p);
    sl_req_t *r = sl_pool_req_get(&p);
    cr_assert_not_null(r);
    r->frame_len = 77;
    r->done = true;
    void *x = kp_arena_alloc(&r->arena, 100);
    cr_assert_not_null(x);
    void *big = kp_arena_alloc(&r->arena, 100000); /* a second chunk, freed at put */
    cr_assert_not_null(big);
    sl_pool_req_put(&p, r);
    cr_assert_eq(p.free_req_count, 1);
    sl_req_t *r2 = sl_pool_req_get(&p);
    cr_assert_eq(r2, r);
    cr_assert_eq(r2->frame_len, 0);
    cr_assert(!r2->done);
    cr_assert_not_null(kp_arena_alloc(&r2->arena, 100), "the arena works after reuse");
    cr_assert_eq(p.stats.req_hits, 1);
    sl_pool_req_put(&p, r2);
    sl_pool_destroy(&p);
    cr_assert_eq(p.free_req_count, 0);
}

/* A region of 4 slabs (1 MiB each), as a shard registers it. */
#define REGION_SLABS 4
static uint8_t *region_new(void)
{
    uint8_t *r = aligned_alloc(4096, (size_t)REGION_SLABS << SL_POOL_MAX_SHIFT);
    cr_assert_not_null(r);
    return r;
}

Test(core_pool, large_buffers_come_from_the_region_and_go_back_to_it)
{
    sl_pool_t p;
    sl_pool_init(&p);
    uint8_t *region = region_new();
    sl_pool_set_region(&p, region, (size_t)REGION_SLABS << SL_POOL_MAX_SHIFT);
    /* 64 KiB and up: region; below: heap. */
    uint8_t *big = sl_pool_buf_get(&p, 100 * 1024); /* 128 KiB class */
    cr_assert(sl_pool_in_region(&p, big));
    memset(big, 0x5A, 100 * 1024); /* the slack past 100 KiB stays poisoned under ASan */
    uint8_t *small = sl_pool_buf_get(&p, 30 * 1024); /* 32 KiB class */
    cr_assert_not(sl_pool_in_region(&p, small));
    /* The 128 KiB class took one slab and splits it into 8 buffers. */
    cr_assert_eq(p.region_used, (size_t)1 << SL_POOL_MAX_SHIFT);
    void *more[7];
    for (int i = 0; i < 7; i++) {
        more[i] = sl_pool_buf_get(&p, 128 * 1024);
        cr_assert(sl_pool_in_region(&p, more[i]));
        cr_assert_neq(more[i], big);
        for (int j = 0; j < i; j++)
            cr_assert_neq(more[i], more[j], "nothing is handed out twice");
    }
    cr_assert_eq(p.region_used, (size_t)1 << SL_POOL_MAX_SHIFT, "still the first slab");
    /* Back to the region list, never freed, not counted in the heap cache. */
    sl_pool_buf_put(&p, big, 100 * 1024);
    cr_assert_eq(p.cached_bytes, 0);
    cr_assert_eq(sl_pool_buf_get(&p, 128 * 1024), big);
    for (int i = 0; i < 7; i++)
        sl_pool_buf_put(&p, more[i], 128 * 1024);
    sl_pool_buf_put(&p, big, 128 * 1024);
    sl_pool_buf_put(&p, small, 30 * 1024);
    sl_pool_destroy(&p);
    free(region);
}

Test(core_pool, a_used_up_region_falls_back_to_the_heap)
{
    sl_pool_t p;
    sl_pool_init(&p);
    uint8_t *region = region_new();
    sl_pool_set_region(&p, region, (size_t)REGION_SLABS << SL_POOL_MAX_SHIFT);
    void *b[REGION_SLABS + 2];
    for (int i = 0; i < REGION_SLABS + 2; i++) {
        b[i] = sl_pool_buf_get(&p, 1 << 20);
        cr_assert_not_null(b[i]);
        cr_assert_eq(sl_pool_in_region(&p, b[i]), i < REGION_SLABS);
    }
    cr_assert_eq(p.region_used, (size_t)REGION_SLABS << SL_POOL_MAX_SHIFT);
    /* Another class finds no slab left: heap. */
    void *other = sl_pool_buf_get(&p, 64 * 1024);
    cr_assert_not(sl_pool_in_region(&p, other));
    sl_pool_buf_put(&p, other, 64 * 1024);
    /* Frames larger than the largest class never touch the region. */
    void *huge = sl_pool_buf_get(&p, (1 << 20) + 1);
    cr_assert_not(sl_pool_in_region(&p, huge));
    sl_pool_buf_put(&p, huge, (1 << 20) + 1);
    for (int i = 0; i < REGION_SLABS + 2; i++)
        sl_pool_buf_put(&p, b[i], 1 << 20);
    /* Region buffers come back before heap ones. */
    void *again = sl_pool_buf_get(&p, 1 << 20);
    cr_assert(sl_pool_in_region(&p, again));
    sl_pool_buf_put(&p, again, 1 << 20);
    sl_pool_destroy(&p);
    free(region);
}
