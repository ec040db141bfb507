/*
 * io_spsc.h — bounded single-producer/single-consumer queue of pointers, the
 * only channel between shards (ARCHITECTURE.md §1). One queue per ordered pair
 * of shards; the producer rings the consumer's io_uring with MSG_RING after
 * pushing (io_doorbell_ring) so a sleeping shard wakes from its own ring.
 *
 * Memory ordering: the producer writes the slot, then publishes tail with a
 * release store; the consumer reads tail with an acquire load, reads the slot,
 * then publishes head with a release store, which the producer acquires before
 * reusing the slot. head and tail live on separate cache lines, and each side
 * caches the other's index to avoid touching the shared line on every call.
 *
 * Capacity is a power of two fixed at init. io_spsc_push fails (returns false)
 * when full: the caller keeps the item and retries on a later loop turn.
 */
#ifndef IO_SPSC_H
#define IO_SPSC_H

#include "sl_base.h"
#include <stdatomic.h>

typedef struct io_spsc {
    _Alignas(SL_CACHELINE) _Atomic uint32_t head; /* consumer-owned */
    uint32_t cached_tail;                         /* consumer's view of tail */
    _Alignas(SL_CACHELINE) _Atomic uint32_t tail; /* producer-owned */
    uint32_t cached_head;                         /* producer's view of head */
    _Alignas(SL_CACHELINE) void **slots;
    uint32_t mask;
} io_spsc_t;

/* capacity: power of two. Returns 0 or -ENOMEM. */
int io_spsc_init(io_spsc_t *q, uint32_t capacity);
void io_spsc_destroy(io_spsc_t *q);

static inline bool io_spsc_push(io_spsc_t *q, void *item)
{
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (tail - q->cached_head > q->mask) {
        q->cached_head = atomic_load_explicit(&q->head, memory_order_acquire);
        if (tail - q->cached_head > q->mask)
            return false;
    }
    q->slots[tail & q->mask] = item;
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
    return true;
}

/* Returns the oldest item or NULL when empty. */
static inline void *io_spsc_pop(io_spsc_t *q)
{
    uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (head == q->cached_tail) {
        q->cached_tail = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (head == q->cached_tail)
            return NULL;
    }
    void *item = q->slots[head & q->mask];
    atomic_store_explicit(&q->head, head + 1, memory_order_release);
    return item;
}

/* Wakes the ring target_ring_fd: posts a CQE with user_data IO_KIND_DOORBELL
 * and res = payload there. No completion is posted on r on success. */
void io_doorbell_ring(io_ring_t *r, int target_ring_fd, int32_t payload);

#endif /* IO_SPSC_H */
