/*
 * io_ring.h — one io_uring ring per shard and its single completion dispatch.
 *
 * Ownership and threading
 *   A ring is created, submitted to and reaped by exactly one thread (its shard):
 *   it is set up with IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN when the kernel
 *   accepts them (falling back flag by flag otherwise). Other shards reach it only
 *   through IORING_OP_MSG_RING (io_doorbell.h).
 *
 * user_data packing (STYLE.md, liburing examples/proxy.c)
 *   bits 63..56  op kind   (IO_KIND_CALLBACK for every pending-table operation)
 *   bits 55..32  generation of the slot (24 bits, bumped at every release)
 *   bits 31..0   slot index in the pending table
 *   A completion whose generation differs from the slot's current one is stale
 *   (the slot was released and reused) and is dropped with a debug log.
 *   user_data 0 is reserved for completions nobody waits for (IO_TOKEN_NONE).
 *
 * Pending table invariants
 *   - Every in-flight SQE that expects a completion holds one slot.
 *   - A slot is released just before its callback runs for the final completion
 *     (no IORING_CQE_F_MORE), so a callback may immediately submit again.
 *   - The table has a fixed capacity chosen at init; when it is full,
 *     io_ring_sqe() returns NULL and the caller applies backpressure.
 *
 * Registered buffers (one region per ring)
 *   io_ring_register_region() registers one memory region as fixed buffer 0.
 *   io_submit_write / io_submit_read switch to WRITE_FIXED / READ_FIXED by
 *   themselves when the whole buffer lies inside the region, so callers hand
 *   out pointers and never see buffer indexes. The region must outlive the
 *   ring's use of it (the ring unregisters it at destroy).
 *
 * Timers
 *   io_ring_run_once() waits at most until the earliest deadline the caller
 *   passes; timer bookkeeping lives in io_timer.h and is driven by the shard loop.
 */
#ifndef IO_RING_H
#define IO_RING_H

#include "sl_base.h"
#include <liburing.h>

/* Called for each completion of an operation. res is cqe->res (>= 0 or -errno);
 * cqe_flags carries IORING_CQE_F_MORE / F_BUFFER etc. */
typedef void (*io_cb_t)(void *ctx, int32_t res, uint32_t cqe_flags);

typedef uint64_t io_token_t;
#define IO_TOKEN_NONE ((io_token_t)0)

enum {
    IO_KIND_NONE = 0,     /* fire-and-forget: completion ignored */
    IO_KIND_CALLBACK = 1, /* pending-table slot with a callback */
    IO_KIND_DOORBELL = 2, /* MSG_RING arrival from another shard (res = sender's payload) */
};

typedef struct io_pending {
    io_cb_t cb;
    void *ctx;
    uint32_t gen;     /* 24-bit generation */
    uint32_t next_free;
} io_pending_t;

typedef struct io_ring {
    struct io_uring uring;
    uint32_t setup_flags;       /* flags the kernel accepted */
    io_pending_t *pending;
    uint32_t pending_cap;
    uint32_t free_head;         /* UINT32_MAX when the table is full */
    uint32_t pending_in_use;
    uint32_t unsubmitted;       /* SQEs prepared since the last submit */
    /* Doorbell arrivals are handed to this function (set by the owner shard). */
    void (*on_doorbell)(void *ctx, int32_t payload);
    void *doorbell_ctx;
    /* The registered region (fixed buffer 0), or NULL. */
    const uint8_t *fixed_base;
    size_t fixed_len;
    /* Statistics (owner thread only). */
    uint64_t completions;
    uint64_t stale_completions;
    uint64_t sqe_waits;         /* times the SQ was full and had to be submitted */
    uint64_t fixed_ops;         /* reads/writes submitted as _FIXED */
} io_ring_t;

/* Sets up the ring with sq_entries submission slots and a pending table of
 * max_pending operations. Must be called on the thread that will use it.
 * Returns 0 or -errno (the ring is left unusable). */
int io_ring_init(io_ring_t *r, unsigned sq_entries, unsigned max_pending);
void io_ring_destroy(io_ring_t *r);

/* Returns an SQE whose user_data routes its completion(s) to cb(ctx, ...), or
 * NULL when the pending table is full (backpressure; nothing was consumed).
 * The caller must prep the SQE with an io_uring_prep_* call that does not touch
 * user_data (liburing's do not) and may set sqe->flags (LINK etc.) afterwards.
 * *token_out (optional) identifies the operation for io_ring_cancel(). */
struct io_uring_sqe *io_ring_sqe(io_ring_t *r, io_cb_t cb, void *ctx, io_token_t *token_out);

/* Makes room for a linked chain of n operations with callbacks: returns false
 * when the pending table has fewer than n free slots (nothing changed); else
 * submits what is prepared if the SQ lacks n free entries, so the chain's SQEs
 * cannot straddle a submit (the kernel ends a link at the end of a submit). */
bool io_ring_reserve(io_ring_t *r, unsigned n);

/* An SQE whose completion is ignored (user_data 0); never NULL. Used for
 * cancellations and for the link tails nobody waits for. */
struct io_uring_sqe *io_ring_sqe_nocb(io_ring_t *r);

/* Asks the kernel to cancel the operation behind token; its callback still
 * runs (usually with -ECANCELED). Returns 0, or -ENOENT if token is stale. */
int io_ring_cancel(io_ring_t *r, io_token_t token);

/* Submits what was prepared, waits for at least one completion or until
 * timeout_ns (< 0: wait forever, 0: do not wait), and dispatches every ready
 * completion. Returns the number of completions dispatched or -errno. */
int io_ring_run_once(io_ring_t *r, int64_t timeout_ns);

/* Submits prepared SQEs without waiting. Returns 0 or -errno. */
int io_ring_submit(io_ring_t *r);

/* Registers [base, base + len) as fixed buffer 0 (len <= 1 GiB). Returns 0,
 * or -errno (-ENOMEM when RLIMIT_MEMLOCK is too low for it): nothing is
 * registered then and the wrappers use the plain opcodes. */
int io_ring_register_region(io_ring_t *r, void *base, size_t len);

/* Whether [buf, buf + len) lies inside the registered region. */
static inline bool io_ring_is_fixed(const io_ring_t *r, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    return r->fixed_base != NULL && p >= r->fixed_base && len <= r->fixed_len &&
           (size_t)(p - r->fixed_base) <= r->fixed_len - len;
}

/* Convenience wrappers over io_ring_sqe() for the common one-shot ops.
 * Each returns 0 when queued, -EBUSY when the pending table is full. The
 * buffer must stay valid until the callback runs. */
int io_submit_write(io_ring_t *r, int fd, const void *buf, uint32_t len, uint64_t off,
                    io_cb_t cb, void *ctx);
int io_submit_writev(io_ring_t *r, int fd, const struct iovec *iov, uint32_t iov_count,
                     uint64_t off, io_cb_t cb, void *ctx);
int io_submit_read(io_ring_t *r, int fd, void *buf, uint32_t len, uint64_t off, io_cb_t cb,
                   void *ctx);
int io_submit_fdatasync(io_ring_t *r, int fd, io_cb_t cb, void *ctx);
/* Receives len bytes from a socket into buf with MSG_WAITALL: one
 * completion with len, or fewer at end of stream (0 when nothing came), or
 * -errno. *token_out (optional) as for io_ring_sqe(). */
int io_submit_recv(io_ring_t *r, int fd, void *buf, uint32_t len, io_cb_t cb, void *ctx,
                   io_token_t *token_out);

#endif /* IO_RING_H */
