/*
 * io_bufring.h — a provided-buffer ring for multishot receive.
 *
 * The kernel picks a buffer from the ring for each receive completion and
 * reports its id in the CQE flags (IORING_CQE_F_BUFFER, id in the upper 16
 * bits). The owner copies what it needs out and hands the buffer back with
 * io_bufring_recycle() at once, so a slow request never starves the shard.
 *
 * Sizing: count buffers of buf_bytes each, count a power of two <= 32768.
 * Memory = count * buf_bytes, allocated once at init (HAProxy: malloc at boot).
 * When every buffer is in use a multishot receive ends with -ENOBUFS; its owner
 * re-arms it on the next loop turn.
 *
 * Owner: one shard (the ring's thread). Not thread-safe.
 */
#ifndef IO_BUFRING_H
#define IO_BUFRING_H

#include "io_ring.h"

typedef struct io_bufring {
    struct io_uring_buf_ring *br;
    uint8_t *mem;
    uint32_t count;
    uint32_t buf_bytes;
    uint16_t group_id;
    int mask;
} io_bufring_t;

/* Registers count buffers of buf_bytes as buffer group group_id on r.
 * Returns 0 or -errno (nothing registered). */
int io_bufring_init(io_bufring_t *b, io_ring_t *r, uint16_t group_id, uint32_t count,
                    uint32_t buf_bytes);
void io_bufring_destroy(io_bufring_t *b, io_ring_t *r);

/* The buffer a completion landed in. cqe_flags must carry IORING_CQE_F_BUFFER. */
static inline uint8_t *io_bufring_buf(const io_bufring_t *b, uint32_t cqe_flags, uint16_t *id_out)
{
    uint16_t id = (uint16_t)(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    ASSERT(id < b->count);
    *id_out = id;
    return b->mem + (size_t)id * b->buf_bytes;
}

/* Returns buffer id to the kernel. */
void io_bufring_recycle(io_bufring_t *b, uint16_t id);

#endif /* IO_BUFRING_H */
