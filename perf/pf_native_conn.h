/*
 * pf_native_conn.h — one TCP connection of the native engine driven through
 * an io_uring (io_ring.h): an ordered send queue of whole frames and a
 * receive buffer cut into response frames.
 *
 * Sending
 *   Frames are queued (pf_nconn_send) and go out in queue order through at
 *   most ONE sendmsg in flight per connection, gathering every queued frame
 *   (up to PF_NCONN_IOV) into one call: two sends in flight on one stream
 *   socket could interleave after a short write. A short write resumes at
 *   the first unsent byte. sent_fn(tag) runs once a frame's last byte went
 *   out; the frame's bytes must stay untouched until then.
 *
 * Receiving
 *   One recv in flight, into rbuf[rlen..rcap). Every complete frame (int32
 *   size + body) is handed to frame_fn(body, size) in order; a partial tail
 *   is moved to the front (only after a frame was consumed, so each byte
 *   moves at most once per frame). A frame larger than rcap grows the buffer
 *   (doubling) up to rmax; a larger size, a negative size, EOF or a socket
 *   error makes the connection failed: `error` is set (sticky), fail_fn runs
 *   once, and nothing more is sent or received.
 *
 * Ownership and threading: the connection belongs to the thread that owns
 * its ring; callbacks run on it from io_ring_run_once. frame_fn may queue
 * sends but must not close the connection. pf_nconn_close shuts the socket
 * down and returns; the fd is closed and the buffer freed by
 * pf_nconn_release once pf_nconn_idle() (no operation in flight).
 */
#ifndef PF_NATIVE_CONN_H
#define PF_NATIVE_CONN_H

#include "sl_base.h"
#include "io_ring.h"

#include <sys/socket.h>
#include <sys/uio.h>

#define PF_NCONN_SENDQ 256 /* queued frames per connection (> inflight limit) */
#define PF_NCONN_IOV 64    /* frames gathered into one sendmsg */

struct pf_nconn;
typedef void (*pf_nconn_frame_fn)(void *owner, struct pf_nconn *c, const uint8_t *body, size_t len);
typedef void (*pf_nconn_sent_fn)(void *owner, struct pf_nconn *c, void *tag);
typedef void (*pf_nconn_fail_fn)(void *owner, struct pf_nconn *c);

typedef struct pf_nconn_frame {
    const uint8_t *p;
    size_t len;
    void *tag;
} pf_nconn_frame_t;

typedef struct pf_nconn {
    int fd;
    io_ring_t *ring;
    void *owner;
    pf_nconn_frame_fn frame_fn;
    pf_nconn_sent_fn sent_fn; /* may be NULL */
    pf_nconn_fail_fn fail_fn; /* may be NULL */
    /* receive: rbuf[0..rlen) holds unconsumed bytes; rlen <= rcap <= rmax */
    uint8_t *rbuf;
    size_t rcap, rlen, rmax;
    bool recv_armed;
    /* send: q[(q_head + i) % SENDQ] for i < q_count; q_done bytes of the head sent */
    pf_nconn_frame_t q[PF_NCONN_SENDQ];
    uint32_t q_head, q_count;
    size_t q_done;
    bool send_armed;
    struct iovec iov[PF_NCONN_IOV];
    struct msghdr msg;
    int error;    /* 0, or why the connection failed (-errno, SL_ERR_PROTO, SL_ERR_LIMIT) */
    bool closing; /* pf_nconn_close was called */
} pf_nconn_t;

/* Resolves "host:port" (the first entry of a comma-separated list) into
 * addr. Returns 0, or -EINVAL / -EHOSTUNREACH after printing why. */
int pf_nconn_resolve(const char *bootstrap, struct sockaddr_storage *addr, socklen_t *addr_len);

/* Connects a blocking TCP socket with TCP_NODELAY. Returns the fd or -errno. */
int pf_nconn_connect(const struct sockaddr_storage *addr, socklen_t addr_len);

/* Sets c up on an already connected fd (taken over) and arms its receive.
 * rcap_initial <= rmax. Returns 0 or -ENOMEM / -EBUSY (fd then closed). */
int pf_nconn_open(pf_nconn_t *c, io_ring_t *ring, int fd, size_t rcap_initial, size_t rmax,
                  void *owner, pf_nconn_frame_fn frame_fn, pf_nconn_sent_fn sent_fn,
                  pf_nconn_fail_fn fail_fn);

/* Queues a frame. Returns 0, -EBUSY when the queue is full, or c->error
 * when the connection failed (the frame is not queued). */
int pf_nconn_send(pf_nconn_t *c, const uint8_t *frame, size_t len, void *tag);

/* Puts a sendmsg in flight when frames wait and none is. Call after queueing
 * (queueing alone does not submit, so frames of one loop turn go together). */
void pf_nconn_flush(pf_nconn_t *c);

/* Marks the connection failed with `error` (e.g. SL_ERR_PROTO for a response
 * the owner could not parse) and shuts it down; fail_fn runs once. */
void pf_nconn_abort(pf_nconn_t *c, int error);

/* Shuts the socket down (in-flight operations complete with errors). */
void pf_nconn_close(pf_nconn_t *c);
static inline bool pf_nconn_idle(const pf_nconn_t *c)
{
    return !c->send_armed && !c->recv_armed;
}
/* Closes the fd and frees the buffer; c must be idle (asserted). */
void pf_nconn_release(pf_nconn_t *c);

#endif /* PF_NATIVE_CONN_H */
