/* io_ring.c — see io_ring.h for the user_data packing and pending-table rules. */
#include "io_ring.h"
#include "sl_log.h"

#include <errno.h>
#include <stdlib.h>

#define GEN_MASK 0xFFFFFFu

static inline io_token_t token_make(uint32_t kind, uint32_t gen, uint32_t slot)
{
    return ((uint64_t)kind << 56) | ((uint64_t)(gen & GEN_MASK) << 32) | slot;
}

int io_ring_init(io_ring_t *r, unsigned sq_entries, unsigned max_pending)
{
    memset(r, 0, sizeof(*r));
    ASSERT(max_pending > 0 && max_pending < UINT32_MAX);
    /* Try the best flag set first, then fall back one flag at a time: older
     * kernels refuse DEFER_TASKRUN (6.1) and SINGLE_ISSUER (6.0). */
    static const uint32_t attempts[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int err = -EINVAL;
    for (size_t i = 0; i < SL_ARRAY_SIZE(attempts); i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = attempts[i] | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
        p.cq_entries = sq_entries * 8;
        err = io_uring_queue_init_params(sq_entries, &r->uring, &p);
        if (err == 0) {
            r->setup_flags = p.flags;
            break;
        }
    }
    if (err < 0)
        return err;
    r->pending = calloc(max_pending, sizeof(*r->pending));
    if (!r->pending) {
        io_uring_queue_exit(&r->uring);
        return -ENOMEM;
    }
    r->pending_cap = max_pending;
    for (uint32_t i = 0; i < max_pending; i++) {
        r->pending[i].next_free = i + 1 < max_pending ? i + 1 : UINT32_MAX;
        r->pending[i].gen = 1;
    }
    r->free_head = 0;
    return 0;
}

void io_ring_destroy(io_ring_t *r)
{
    if (!r->pending)
        return;
    if (r->fixed_base)
        io_uring_unregister_buffers(&r->uring);
    r->fixed_base = NULL;
    io_uring_queue_exit(&r->uring);
    free(r->pending);
    r->pending = NULL;
}

static struct io_uring_sqe *get_sqe(io_ring_t *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    if (SL_UNLIKELY(!sqe)) {
        /* SQ full: hand what we have to the kernel and retry. With SUBMIT_ALL the
         * submit consumes every entry, so the second attempt cannot fail. */
        r->sqe_waits++;
        io_uring_submit(&r->uring);
        r->unsubmitted = 0;
        sqe = io_uring_get_sqe(&r->uring);
        ASSERT(sqe);
    }
    r->unsubmitted++;
    return sqe;
}

struct io_uring_sqe *io_ring_sqe(io_ring_t *r, io_cb_t cb, void *ctx, io_token_t *token_out)
{
    ASSERT(cb);
    if (SL_UNLIKELY(r->free_head == UINT32_MAX))
        return NULL;
    uint32_t slot = r->free_head;
    io_pending_t *p = &r->pending[slot];
    r->free_head = p->next_free;
    r->pending_in_use++;
    p->cb = cb;
    p->ctx = ctx;
    p->next_free = UINT32_MAX;
    struct io_uring_sqe *sqe = get_sqe(r);
    io_token_t tok = token_make(IO_KIND_CALLBACK, p->gen, slot);
    io_uring_sqe_set_data64(sqe, tok);
    if (token_out)
        *token_out = tok;
    return sqe;
}

bool io_ring_reserve(io_ring_t *r, unsigned n)
{
    ASSERT(n > 0 && n <= r->uring.sq.ring_entries);
    if (r->pending_cap - r->pending_in_use < n)
        return false;
    if (io_uring_sq_space_left(&r->uring) < n) {
        r->sqe_waits++;
        io_uring_submit(&r->uring);
        r->unsubmitted = 0;
        if (io_uring_sq_space_left(&r->uring) < n)
            return false; /* the submit did not take the entries */
    }
    return true;
}

struct io_uring_sqe *io_ring_sqe_nocb(io_ring_t *r)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_sqe_set_data64(sqe, IO_TOKEN_NONE);
    return sqe;
}

static void slot_release(io_ring_t *r, uint32_t slot)
{
    io_pending_t *p = &r->pending[slot];
    ASSERT(p->cb);
    p->cb = NULL;
    p->ctx = NULL;
    p->gen = (p->gen + 1) & GEN_MASK;
    if (p->gen == 0)
        p->gen = 1;
    p->next_free = r->free_head;
    r->free_head = slot;
    ASSERT(r->pending_in_use > 0);
    r->pending_in_use--;
}

int io_ring_cancel(io_ring_t *r, io_token_t token)
{
    uint32_t slot = (uint32_t)token;
    uint32_t gen = (uint32_t)(token >> 32) & GEN_MASK;
    if (slot >= r->pending_cap || r->pending[slot].gen != gen || !r->pending[slot].cb)
        return -ENOENT;
    struct io_uring_sqe *sqe = io_ring_sqe_nocb(r);
    io_uring_prep_cancel64(sqe, token, 0);
    return 0;
}

static void dispatch(io_ring_t *r, struct io_uring_cqe *cqe)
{
    io_token_t tok = cqe->user_data;
    uint32_t kind = (uint32_t)(tok >> 56);
    r->completions++;
    if (kind == IO_KIND_NONE)
        return;
    if (kind == IO_KIND_DOORBELL) {
        if (r->on_doorbell)
            r->on_doorbell(r->doorbell_ctx, cqe->res);
        return;
    }
    ASSERT(kind == IO_KIND_CALLBACK);
    uint32_t slot = (uint32_t)tok;
    uint32_t gen = (uint32_t)(tok >> 32) & GEN_MASK;
    ASSERT(slot < r->pending_cap);
    io_pending_t *p = &r->pending[slot];
    if (SL_UNLIKELY(p->gen != gen || !p->cb)) {
        r->stale_completions++;
        LOG_DEBUG("io: stale completion slot=%u gen=%u res=%d", slot, gen, cqe->res);
        return;
    }
    io_cb_t cb = p->cb;
    void *ctx = p->ctx;
    if (!(cqe->flags & IORING_CQE_F_MORE))
        slot_release(r, slot);
    cb(ctx, cqe->res, cqe->flags);
}

int io_ring_submit(io_ring_t *r)
{
    if (r->unsubmitted == 0)
        return 0;
    int ret = io_uring_submit(&r->uring);
    r->unsubmitted = 0;
    return ret < 0 ? ret : 0;
}

int io_ring_run_once(io_ring_t *r, int64_t timeout_ns)
{
    struct io_uring_cqe *cqe;
    int ret;
    if (timeout_ns == 0) {
        ret = io_ring_submit(r);
        /* With DEFER_TASKRUN, completions are only posted when we enter the
         * kernel asking for events; peek alone would miss them. */
        if (r->setup_flags & IORING_SETUP_DEFER_TASKRUN)
            io_uring_get_events(&r->uring);
    } else if (timeout_ns < 0) {
        ret = io_uring_submit_and_wait(&r->uring, 1);
        r->unsubmitted = 0;
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000LL,
                                       .tv_nsec = timeout_ns % 1000000000LL};
        ret = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1, &ts, NULL);
        r->unsubmitted = 0;
        if (ret == -ETIME)
            ret = 0;
    }
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
        return ret;
    int count = 0;
    unsigned head;
    /* Dispatch in batches: callbacks may submit new work, which is fine, but a
     * callback must not recurse into run_once. */
    for (;;) {
        unsigned seen = 0;
        io_uring_for_each_cqe(&r->uring, head, cqe)
        {
            dispatch(r, cqe);
            seen++;
            io_uring_cq_advance(&r->uring, 1);
            if (seen >= 256)
                break;
        }
        count += (int)seen;
        if (seen < 256)
            break;
    }
    return count;
}

int io_ring_register_region(io_ring_t *r, void *base, size_t len)
{
    ASSERT(r->fixed_base == NULL);
    ASSERT(base != NULL && len > 0 && len <= ((size_t)1 << 30));
    struct iovec iov = {.iov_base = base, .iov_len = len};
    int rc = io_uring_register_buffers(&r->uring, &iov, 1);
    if (rc < 0)
        return rc;
    r->fixed_base = base;
    r->fixed_len = len;
    return 0;
}

int io_submit_write(io_ring_t *r, int fd, const void *buf, uint32_t len, uint64_t off,
                    io_cb_t cb, void *ctx)
{
    struct io_uring_sqe *sqe = io_ring_sqe(r, cb, ctx, NULL);
    if (!sqe)
        return -EBUSY;
    if (io_ring_is_fixed(r, buf, len)) {
        io_uring_prep_write_fixed(sqe, fd, buf, len, off, 0);
        r->fixed_ops++;
    } else {
        io_uring_prep_write(sqe, fd, buf, len, off);
    }
    return 0;
}

int io_submit_writev(io_ring_t *r, int fd, const struct iovec *iov, uint32_t iov_count,
                     uint64_t off, io_cb_t cb, void *ctx)
{
    struct io_uring_sqe *sqe = io_ring_sqe(r, cb, ctx, NULL);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_writev(sqe, fd, iov, iov_count, off);
    return 0;
}

int io_submit_read(io_ring_t *r, int fd, void *buf, uint32_t len, uint64_t off, io_cb_t cb,
                   void *ctx)
{
    struct io_uring_sqe *sqe = io_ring_sqe(r, cb, ctx, NULL);
    if (!sqe)
        return -EBUSY;
    if (io_ring_is_fixed(r, buf, len)) {
        io_uring_prep_read_fixed(sqe, fd, buf, len, off, 0);
        r->fixed_ops++;
    } else {
        io_uring_prep_read(sqe, fd, buf, len, off);
    }
    return 0;
}

int io_submit_recv(io_ring_t *r, int fd, void *buf, uint32_t len, io_cb_t cb, void *ctx,
                   io_token_t *token_out)
{
    struct io_uring_sqe *sqe = io_ring_sqe(r, cb, ctx, token_out);
    if (!sqe)
        return -EBUSY;
    /* Not READ_FIXED even in the region: a socket read completes with what
     * has arrived (ten completions per MiB frame at a 100 KB receive buffer),
     * while MSG_WAITALL lets the kernel keep filling the buffer as data comes
     * (one completion). Measured: 1 KiB produce 915-1014 MB/s with
     * RECV+WAITALL against 688-977 with READ_FIXED. This kernel refuses
     * IORING_RECVSEND_FIXED_BUF on RECV. */
    io_uring_prep_recv(sqe, fd, buf, len, MSG_WAITALL);
    return 0;
}

int io_submit_fdatasync(io_ring_t *r, int fd, io_cb_t cb, void *ctx)
{
    struct io_uring_sqe *sqe = io_ring_sqe(r, cb, ctx, NULL);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    return 0;
}
