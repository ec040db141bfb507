/*
 * sl_pool.c — per-shard request and buffer caches (sl_pool.h).
 */
#include "sl_base.h"
#include "sl_pool.h"
#include "sl_req.h"

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Class index of a request for bytes, or -1 above SL_POOL_MAX_BYTES. */
static int pool_class(size_t bytes)
{
    ASSERT(bytes > 0);
    if (bytes > ((size_t)1 << SL_POOL_MAX_SHIFT))
        return -1;
    int shift = SL_POOL_MIN_SHIFT;
    while (((size_t)1 << shift) < bytes)
        shift++;
    return shift - SL_POOL_MIN_SHIFT;
}

static size_t class_bytes(int c)
{
    return (size_t)1 << (c + SL_POOL_MIN_SHIFT);
}

static uint32_t class_cap(int c)
{
    size_t n = SL_POOL_CLASS_BYTES / class_bytes(c);
    return n < 2 ? 2 : (uint32_t)n;
}

void sl_pool_init(sl_pool_t *p)
{
    memset(p, 0, sizeof(*p));
}

void sl_pool_set_region(sl_pool_t *p, void *base, size_t len)
{
    ASSERT(p->region == NULL && base != NULL);
    ASSERT(len > 0 && len % ((size_t)1 << SL_POOL_MAX_SHIFT) == 0);
    p->region = base;
    p->region_len = len;
    p->region_used = 0;
    POOL_POISON(base, len);
}

bool sl_pool_in_region(const sl_pool_t *p, const void *buf)
{
    const uint8_t *b = buf;
    return p->region != NULL && b >= p->region && b < p->region + p->region_len;
}

/* A buffer of class c from the region, or NULL when the class has none free
 * and no slab is left. */
static void *region_get(sl_pool_t *p, int c, size_t bytes)
{
    if (p->region == NULL || c + SL_POOL_MIN_SHIFT < SL_POOL_REGION_MIN_SHIFT)
        return NULL;
    void *b = p->region_bufs[c];
    if (b == NULL) {
        size_t slab = (size_t)1 << SL_POOL_MAX_SHIFT;
        if (p->region_len - p->region_used < slab)
            return NULL;
        uint8_t *base = p->region + p->region_used;
        p->region_used += slab;
        /* Link the slab's buffers, first one at the head. */
        size_t each = class_bytes(c);
        for (size_t off = slab; off > 0; off -= each) {
            uint8_t *buf = base + off - each;
            POOL_UNPOISON(buf, sizeof(void *));
            *(void **)buf = p->region_bufs[c];
            POOL_POISON(buf, sizeof(void *));
            p->region_bufs[c] = buf;
        }
        b = p->region_bufs[c];
    }
    POOL_UNPOISON(b, sizeof(void *));
    p->region_bufs[c] = *(void **)b;
    POOL_UNPOISON(b, bytes); /* the class's slack stays poisoned */
    p->stats.region_hits++;
    return b;
}

void sl_pool_destroy(sl_pool_t *p)
{
    for (int c = 0; c < SL_POOL_CLASSES; c++) {
        void *b = p->free_bufs[c];
        while (b) {
            POOL_UNPOISON(b, class_bytes(c));
            void *next = *(void **)b;
            free(b);
            b = next;
        }
        p->free_bufs[c] = NULL;
        p->free_count[c] = 0;
    }
    p->cached_bytes = 0;
    memset(p->region_bufs, 0, sizeof(p->region_bufs));
    if (p->region)
        POOL_UNPOISON(p->region, p->region_len);
    p->region = NULL;
    p->region_len = p->region_used = 0;
    while (p->free_reqs) {
        sl_req_t *r = p->free_reqs;
        POOL_UNPOISON(r, sizeof(*r));
        p->free_reqs = r->next;
        kp_arena_destroy(&r->arena);
        free(r);
    }
    p->free_req_count = 0;
}

void *sl_pool_buf_get(sl_pool_t *p, size_t bytes)
{
    int c = pool_class(bytes);
    if (c < 0) {
        p->stats.buf_misses++;
        return malloc(bytes);
    }
    void *b = region_get(p, c, bytes);
    if (b)
        return b;
    b = p->free_bufs[c];
    if (b) {
        POOL_UNPOISON(b, sizeof(void *));
        void *next = *(void **)b;
        POOL_UNPOISON(b, bytes); /* the class's slack stays poisoned */
        p->free_bufs[c] = next;
        p->free_count[c]--;
        p->cached_bytes -= class_bytes(c);
        p->stats.buf_hits++;
        return b;
    }
    p->stats.buf_misses++;
    return malloc(class_bytes(c));
}

void sl_pool_buf_put(sl_pool_t *p, void *buf, size_t bytes)
{
    if (!buf)
        return;
    int c = pool_class(bytes);
    if (sl_pool_in_region(p, buf)) {
        ASSERT(c >= 0 && c + SL_POOL_MIN_SHIFT >= SL_POOL_REGION_MIN_SHIFT);
        *(void **)buf = p->region_bufs[c];
        p->region_bufs[c] = buf;
        POOL_POISON(buf, class_bytes(c));
        return;
    }
    if (c < 0 || p->free_count[c] >= class_cap(c) ||
        p->cached_bytes + class_bytes(c) > SL_POOL_MAX_CACHED_BYTES) {
        free(buf);
        return;
    }
    *(void **)buf = p->free_bufs[c];
    p->free_bufs[c] = buf;
    p->free_count[c]++;
    p->cached_bytes += class_bytes(c);
    POOL_POISON(buf, class_bytes(c));
}

sl_req_t *sl_pool_req_get(sl_pool_t *p)
{
    sl_req_t *r = p->free_reqs;
    if (!r) {
        p->stats.req_misses++;
        r = calloc(1, sizeof(*r));
        if (r)
            kp_arena_init(&r->arena, SL_MAX_REQUEST_ARENA_BYTES);
        return r;
    }
    POOL_UNPOISON(r, sizeof(*r));
    p->free_reqs = r->next;
    p->free_req_count--;
    p->stats.req_hits++;
    kp_arena_t arena = r->arena; /* reset at put, first chunk kept */
    memset(r, 0, sizeof(*r));
    r->arena = arena;
    return r;
}

void sl_pool_req_put(sl_pool_t *p, sl_req_t *req)
{
    if (p->free_req_count >= SL_POOL_MAX_REQS) {
        kp_arena_destroy(&req->arena);
        free(req);
        return;
    }
    kp_arena_reset(&req->arena);
    req->next = p->free_reqs;
    p->free_reqs = req;
    p->free_req_count++;
    POOL_POISON(req, sizeof(*req));
}
