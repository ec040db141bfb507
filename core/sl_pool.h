/*
 * sl_pool.h — per-shard caches of requests and buffers, so that once warm the
 * data path (receive a frame, decode it, answer it, read fetch slices) allocates
 * nothing per request (ARCHITECTURE.md §1 "slab pools"; issue 5).
 *
 * Buffers
 *   Power-of-two classes from SL_POOL_MIN_BYTES to SL_POOL_MAX_BYTES. get(n)
 *   returns a buffer of at least n bytes from n's class; put(buf, n) must pass
 *   the same n (the class is derived from it). A class caches at most
 *   SL_POOL_CLASS_BYTES of free buffers (at least two), and all classes together
 *   at most SL_POOL_MAX_CACHED_BYTES; beyond that, and for buffers larger than
 *   SL_POOL_MAX_BYTES, put frees. (Measured: with 1 MiB produce frames and only
 *   four cached, most frames were fresh allocations, and first-touch page
 *   faults showed in the broker's CPU per GB.) Nothing is handed out twice.
 * The registered region (optional, sl_pool_set_region)
 *   Buffers of SL_POOL_REGION_MIN_SHIFT and up come first from a region the
 *   shard registered with its ring, so appends written from frames and fetch
 *   reads into them go out as WRITE_FIXED / READ_FIXED (io_ring.h). The region
 *   is cut into slabs of SL_POOL_MAX_BYTES; a class takes a whole slab
 *   whenever its region list is empty and slabs are left, and keeps it (a
 *   slab splits into 2^k buffers of the class), so the sizes in demand first
 *   get the region. Frames, responses and fetch read buffers all draw on it.
 *   Region buffers always return to their class's region list and are never
 *   freed; when the region is used up, buffers come from the heap as below.
 *   Region memory is not counted in the cache bounds.
 * Requests
 *   sl_req_t objects are cached (at most SL_POOL_MAX_REQS) with their arena's
 *   first chunk, which kp_arena_reset keeps.
 * Threading: the owner shard only. Under AddressSanitizer cached memory is
 * poisoned, so a use after put is reported as a use after free would be.
 */
#ifndef SL_POOL_H
#define SL_POOL_H

#include "sl_base.h"

#define SL_POOL_MIN_SHIFT 10 /* 1 KiB */
#define SL_POOL_MAX_SHIFT 20 /* 1 MiB */
#define SL_POOL_CLASSES (SL_POOL_MAX_SHIFT - SL_POOL_MIN_SHIFT + 1)
#define SL_POOL_CLASS_BYTES (32u * 1024 * 1024) /* free bytes cached per class */
#define SL_POOL_MAX_CACHED_BYTES (64u * 1024 * 1024) /* free bytes cached, all classes */
#define SL_POOL_MAX_REQS 1024
#define SL_POOL_REGION_MIN_SHIFT 16 /* classes from 64 KiB use the region */

struct sl_req;

typedef struct sl_pool_stats {
    uint64_t buf_hits;   /* get served from a cache */
    uint64_t buf_misses; /* get that called malloc */
    uint64_t req_hits;
    uint64_t req_misses;
    uint64_t region_hits; /* get served from the registered region */
} sl_pool_stats_t;

typedef struct sl_pool {
    void *free_bufs[SL_POOL_CLASSES]; /* singly linked through the first word */
    uint32_t free_count[SL_POOL_CLASSES];
    size_t cached_bytes;              /* free bytes in all classes */
    void *region_bufs[SL_POOL_CLASSES]; /* free region buffers, same linking */
    uint8_t *region;                    /* the registered region, or NULL */
    size_t region_len;
    size_t region_used;               /* bytes handed to classes as slabs */
    struct sl_req *free_reqs;         /* linked through req->next */
    uint32_t free_req_count;
    sl_pool_stats_t stats;
} sl_pool_t;

void sl_pool_init(sl_pool_t *p);
/* Lets buffers of SL_POOL_REGION_MIN_SHIFT and up come from [base, base +
 * len) (len a multiple of SL_POOL_MAX_BYTES). The caller owns the memory and
 * frees it after sl_pool_destroy. */
void sl_pool_set_region(sl_pool_t *p, void *base, size_t len);
/* Whether buf came from the region. */
bool sl_pool_in_region(const sl_pool_t *p, const void *buf);
/* Frees every cached buffer and request. */
void sl_pool_destroy(sl_pool_t *p);

/* A buffer of at least bytes (> 0), or NULL when malloc fails. */
void *sl_pool_buf_get(sl_pool_t *p, size_t bytes);
/* Gives back buf from sl_pool_buf_get(p, bytes) with the same bytes; NULL is ignored. */
void sl_pool_buf_put(sl_pool_t *p, void *buf, size_t bytes);

/* A zeroed request whose arena is initialised (maybe with a cached first
 * chunk), or NULL when malloc fails. */
struct sl_req *sl_pool_req_get(sl_pool_t *p);
/* Resets the request's arena and caches it (or destroys and frees it). */
void sl_pool_req_put(sl_pool_t *p, struct sl_req *req);

#endif /* SL_POOL_H */
