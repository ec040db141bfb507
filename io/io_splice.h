/*
 * io_splice.h — zero-copy transfers of a file range to a socket on the shard's
 * ring: IORING_OP_SPLICE file -> pipe and pipe -> socket, linked, through pipes
 * from a bounded per-shard pool (ARCHITECTURE.md §2 "Zero-copy fetch").
 *
 * Pipe pool
 *   At most `max` pipes exist per pool (each holds up to pipe_bytes of page
 *   references and counts against the user's pipe-page limit). io_pipe_get
 *   reuses a free pipe or creates one; NULL when max pipes are out or pipe2
 *   failed (the connection then reads the piece and sends it from memory). A pipe goes back empty; a pipe that
 *   may still hold bytes (an aborted transfer) is closed instead.
 *
 * One transfer (io_splice_t, living in its pipe: pipe->xfer) at a time per pipe:
 *   The range is moved in steps of at most the pipe's size: each step is a pair
 *   [splice file->pipe (n) | LINK | splice pipe->socket (n)], and up to
 *   IO_SPLICE_MAX_PAIRS pairs are chained in one submission. The socket is
 *   non-blocking, so a step never parks a kernel worker on a slow reader: a
 *   short or -EAGAIN socket step leaves bytes in the pipe, the chain's tail is
 *   cancelled by the kernel (a short splice fails the link), and the transfer
 *   drains the pipe with [poll POLLOUT | LINK | splice pipe->socket] before
 *   chaining the next steps. The file side never blocks: it only runs after
 *   the pipe was emptied by the previous step.
 *   Invariants: bytes sent + bytes in the pipe + bytes left == length; at most
 *   one submission (chain or drain) is outstanding; `done` runs exactly once,
 *   with the total length or -errno (the pipe then holds unknown bytes and is
 *   closed by io_pipe_put). A file that ends early (truncated below the range)
 *   fails with -EIO instead of looping.
 *   The completion callbacks keep pointers into pipe->xfer: the caller keeps
 *   the pipe until `done` ran.
 */
#ifndef IO_SPLICE_H
#define IO_SPLICE_H

#include "sl_base.h"
#include "io_ring.h"

#define IO_SPLICE_MAX_PAIRS 8 /* steps chained per submission */
#define IO_SPLICE_PAGE 4096u  /* a pipe buffer holds at most one page */

/* res: the whole length, or -errno. */
typedef void (*io_splice_done_t)(void *ctx, int64_t res);

typedef struct io_splice_slot {
    struct io_splice *x;
    uint32_t index;
} io_splice_slot_t;

typedef struct io_splice {
    io_ring_t *ring;
    struct io_pipe *pipe;
    int file_fd;
    int sock_fd;
    uint64_t file_pos;   /* next byte to move into the pipe */
    uint32_t left;       /* bytes not yet moved into the pipe */
    uint32_t in_pipe;    /* bytes in the pipe, not yet sent */
    uint64_t sent;       /* bytes sent so far */
    uint64_t length;
    /* the outstanding submission */
    bool draining;       /* a drain [poll | splice] rather than a chain */
    uint32_t pairs;
    uint32_t step_len[IO_SPLICE_MAX_PAIRS];
    int32_t res[2 * IO_SPLICE_MAX_PAIRS];
    uint32_t pending;
    io_splice_slot_t slot[2 * IO_SPLICE_MAX_PAIRS];
    io_splice_done_t done;
    void *done_ctx;
    /* statistics */
    uint32_t submissions;
} io_splice_t;

/* A pipe and the state of the transfer using it (one at a time). */
typedef struct io_pipe {
    int rd;
    int wr;
    uint32_t bytes; /* capacity granted by the kernel */
    struct io_pipe *next;
    io_splice_t xfer;
} io_pipe_t;

typedef struct io_pipe_pool {
    io_pipe_t *free;
    uint32_t live;       /* pipes created and not closed (free + out) */
    uint32_t out;        /* pipes handed out */
    uint32_t max;
    uint32_t pipe_bytes; /* F_SETPIPE_SZ wish; the kernel may grant less */
    uint64_t created;    /* statistics */
    uint64_t exhausted;  /* io_pipe_get found max pipes out */
    bool warned_small;   /* the kernel granted less than pipe_bytes (logged once) */
} io_pipe_pool_t;

void io_pipe_pool_init(io_pipe_pool_t *p, uint32_t max, uint32_t pipe_bytes);
/* Closes the free pipes; every pipe must have been put back. */
void io_pipe_pool_destroy(io_pipe_pool_t *p);
io_pipe_t *io_pipe_get(io_pipe_pool_t *p);
/* Returns a pipe; `empty` false closes it (it may hold bytes of an aborted transfer). */
void io_pipe_put(io_pipe_pool_t *p, io_pipe_t *pipe, bool empty);

/* Starts moving [file_pos, file_pos + len) of file_fd to sock_fd through pipe
 * (empty, owned by the caller until done ran; the transfer's state lives in
 * pipe->xfer). len > 0. Returns 0 (done will run), or -EBUSY when the ring's
 * pending table cannot take the first submission (nothing was started). */
int io_splice_start(io_pipe_t *pipe, io_ring_t *ring, int file_fd, uint64_t file_pos,
                    uint32_t len, int sock_fd, io_splice_done_t done, void *done_ctx);

#endif /* IO_SPLICE_H */
