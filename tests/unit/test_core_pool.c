/*
 * test_core_pool.c — the per-shard request and buffer caches (core/sl_pool.h):
 * class rounding, reuse, the per-class bound, buffers above the largest class,
 * requests coming back zeroed with their arena usable.
 */
#include "sl_pool.h"
#include "sl_req.h"

#include <criterion/criterion.h>

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
