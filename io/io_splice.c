/*
 * io_splice.c — pipe pool and file -> socket splice transfers (io_splice.h).
 */
#include "io_splice.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "sl_log.h"

/* ------------------------------------------------------------ pipe pool */

void io_pipe_pool_init(io_pipe_pool_t *p, uint32_t max, uint32_t pipe_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max = max;
    p->pipe_bytes = pipe_bytes;
}

static void pipe_close(io_pipe_pool_t *p, io_pipe_t *pipe)
{
    close(pipe->rd);
    close(pipe->wr);
    free(pipe);
    ASSERT(p->live > 0);
    p->live--;
}

void io_pipe_pool_destroy(io_pipe_pool_t *p)
{
    ASSERT(p->out == 0);
    while (p->free) {
        io_pipe_t *next = p->free->next;
        pipe_close(p, p->free);
        p->free = next;
    }
    ASSERT(p->live == 0);
}

io_pipe_t *io_pipe_get(io_pipe_pool_t *p)
{
    io_pipe_t *pipe = p->free;
    if (pipe) {
        p->free = pipe->next;
    } else {
        if (p->live >= p->max) {
            p->exhausted++;
            return NULL;
        }
        pipe = calloc(1, sizeof(*pipe));
        int fds[2];
        if (!pipe || pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
            LOG_WARN("splice: no pipe: %s", strerror(pipe ? errno : ENOMEM));
            free(pipe);
            return NULL;
        }
        pipe->rd = fds[0];
        pipe->wr = fds[1];
        /* A bigger pipe means fewer steps; refused above the user's limit
         * (/proc/sys/fs/pipe-max-size, pipe-user-pages-*): keep what we got. */
        int got = fcntl(pipe->wr, F_SETPIPE_SZ, (int)p->pipe_bytes);
        if (got < 0)
            got = fcntl(pipe->wr, F_GETPIPE_SZ);
        pipe->bytes = got > 0 ? (uint32_t)got : 65536;
        if (pipe->bytes < p->pipe_bytes && !p->warned_small) {
            LOG_WARN("splice: pipes get %u bytes, not the %u asked (fs.pipe-max-size or the "
                     "per-user pipe budget, fs.pipe-user-pages-soft): more, smaller steps",
                     pipe->bytes, p->pipe_bytes);
            p->warned_small = true;
        }
        p->live++;
        p->created++;
    }
    pipe->next = NULL;
    p->out++;
    return pipe;
}

void io_pipe_put(io_pipe_pool_t *p, io_pipe_t *pipe, bool empty)
{
    ASSERT(p->out > 0);
    p->out--;
    if (!empty) {
        pipe_close(p, pipe);
        return;
    }
    pipe->next = p->free;
    p->free = pipe;
}

/* ------------------------------------------------------------- transfer */

static void splice_submit(io_splice_t *x);

static void splice_finish(io_splice_t *x, int64_t res)
{
    x->done(x->done_ctx, res);
}

/* Every completion of the outstanding submission arrived: account and go on. */
static void splice_settle(io_splice_t *x)
{
    int32_t err = 0;
    if (x->draining) {
        int32_t polled = x->res[0], out = x->res[1];
        if (polled < 0 && polled != -ECANCELED)
            err = polled;
        else if (out > 0) {
            ASSERT((uint32_t)out <= x->in_pipe);
            x->in_pipe -= (uint32_t)out;
            x->sent += (uint32_t)out;
        } else if (out == 0) {
            err = -EPIPE;
        } else if (out != -EAGAIN && out != -ECANCELED) {
            err = out;
        }
    } else {
        for (uint32_t i = 0; i < x->pairs; i++) {
            int32_t in = x->res[2 * i], out = x->res[2 * i + 1];
            if (in == -ECANCELED)
                break; /* an earlier step was short: the rest never ran */
            if (in <= 0) {
                err = in < 0 ? in : -EIO; /* 0: the file ends before the range */
                break;
            }
            ASSERT((uint32_t)in <= x->left);
            x->file_pos += (uint32_t)in;
            x->left -= (uint32_t)in;
            x->in_pipe += (uint32_t)in;
            if (out > 0) {
                ASSERT((uint32_t)out <= x->in_pipe);
                x->in_pipe -= (uint32_t)out;
                x->sent += (uint32_t)out;
            } else if (out == 0) {
                err = -EPIPE;
            } else if (out != -EAGAIN && out != -ECANCELED) {
                err = out;
            }
            if (err || (uint32_t)in != x->step_len[i] || out != in)
                break;
        }
    }
    if (err) {
        splice_finish(x, err);
        return;
    }
    if (x->in_pipe == 0 && x->left == 0) {
        ASSERT(x->sent == x->length);
        splice_finish(x, (int64_t)x->length);
        return;
    }
    splice_submit(x);
}

static void on_splice_cqe(void *ctx, int32_t res, uint32_t flags)
{
    (void)flags;
    io_splice_slot_t *slot = ctx;
    io_splice_t *x = slot->x;
    x->res[slot->index] = res;
    ASSERT(x->pending > 0);
    if (--x->pending == 0)
        splice_settle(x);
}

static struct io_uring_sqe *splice_sqe(io_splice_t *x, uint32_t index)
{
    x->slot[index] = (io_splice_slot_t){x, index};
    x->res[index] = -ECANCELED;
    struct io_uring_sqe *sqe = io_ring_sqe(x->ring, on_splice_cqe, &x->slot[index], NULL);
    ASSERT(sqe); /* io_ring_reserve made room */
    x->pending++;
    return sqe;
}

/* Prepares the next submission: a drain when the pipe holds bytes, else a chain.
 * Returns false when the ring has no room (nothing prepared). */
static bool splice_prepare(io_splice_t *x)
{
    ASSERT(x->pending == 0);
    if (x->in_pipe > 0) {
        if (!io_ring_reserve(x->ring, 2))
            return false;
        x->draining = true;
        struct io_uring_sqe *poll = splice_sqe(x, 0);
        io_uring_prep_poll_add(poll, x->sock_fd, POLLOUT);
        poll->flags |= IOSQE_IO_LINK;
        struct io_uring_sqe *out = splice_sqe(x, 1);
        io_uring_prep_splice(out, x->pipe->rd, -1, x->sock_fd, -1, x->in_pipe, 0);
        x->submissions++;
        return true;
    }
    /* A file -> pipe step moves at most the pipe's pages, so one starting
     * inside a page comes back short by the offset (failing the link): the
     * first step ends on a page boundary and the others are whole pipes. */
    uint32_t pairs = 0, planned = 0;
    while (pairs < IO_SPLICE_MAX_PAIRS && planned < x->left) {
        uint32_t room = x->pipe->bytes;
        uint32_t misalign = (uint32_t)((x->file_pos + planned) & (IO_SPLICE_PAGE - 1));
        if (misalign && room > IO_SPLICE_PAGE)
            room -= misalign;
        x->step_len[pairs] = SL_MIN(x->left - planned, room);
        planned += x->step_len[pairs];
        pairs++;
    }
    ASSERT(pairs > 0);
    if (!io_ring_reserve(x->ring, 2 * pairs))
        return false;
    x->draining = false;
    x->pairs = pairs;
    uint64_t pos = x->file_pos;
    for (uint32_t i = 0; i < pairs; i++) {
        struct io_uring_sqe *in = splice_sqe(x, 2 * i);
        io_uring_prep_splice(in, x->file_fd, (int64_t)pos, x->pipe->wr, -1, x->step_len[i], 0);
        in->flags |= IOSQE_IO_LINK;
        struct io_uring_sqe *out = splice_sqe(x, 2 * i + 1);
        io_uring_prep_splice(out, x->pipe->rd, -1, x->sock_fd, -1, x->step_len[i], 0);
        if (i + 1 < pairs)
            out->flags |= IOSQE_IO_LINK;
        pos += x->step_len[i];
    }
    x->submissions++;
    return true;
}

static void splice_submit(io_splice_t *x)
{
    if (!splice_prepare(x))
        splice_finish(x, -EBUSY); /* the ring is saturated mid-transfer: give up */
}

int io_splice_start(io_pipe_t *pipe, io_ring_t *ring, int file_fd, uint64_t file_pos,
                    uint32_t len, int sock_fd, io_splice_done_t done, void *done_ctx)
{
    ASSERT(len > 0 && pipe && done);
    io_splice_t *x = &pipe->xfer;
    memset(x, 0, sizeof(*x));
    x->ring = ring;
    x->pipe = pipe;
    x->file_fd = file_fd;
    x->sock_fd = sock_fd;
    x->file_pos = file_pos;
    x->left = len;
    x->length = len;
    x->done = done;
    x->done_ctx = done_ctx;
    return splice_prepare(x) ? 0 : -EBUSY;
}
