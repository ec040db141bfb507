/*
 * sl_conn.h — a client connection: framing, the in-order response queue, and
 * the receive/send operations on the shard's ring.
 *
 * States (transitions in sl_conn.c, conn_set_state):
 *   FREE -> OPEN        accepted into a preallocated slot
 *   OPEN -> CLOSING     peer closed, I/O error, protocol error, or shutdown
 *   CLOSING -> FREE     once no receive, send or request is outstanding
 *
 * Framing: each request is a 4-byte big-endian size then that many bytes. A
 * size <= 0 or > socket.request.max.bytes closes the connection (as Kafka does).
 * Bytes arrive in provided buffers (multishot receive), are copied into a
 * per-request frame buffer, and the provided buffer goes back at once. When
 * at least SL_DIRECT_RECV_MIN_BYTES of a frame are still missing, the
 * multishot is cancelled and the rest is received straight into the frame
 * (RECV with MSG_WAITALL: one completion); the multishot resumes once the
 * frame is whole. At most one receive (multishot or direct) is armed per
 * connection. Large frames come from the shard's registered region
 * (sl_pool.h), so the appends written from them go out as WRITE_FIXED.
 *
 * Backpressure: once SL_MAX_INFLIGHT_PER_CONN requests are queued the receive
 * is cancelled (frames already received before the cancel lands still count,
 * so a few more may queue) and re-armed when the queue has drained to half.
 *
 * Sending: a response is a list of pieces in order (sl_req.h): runs of memory
 * go out with sendmsg (MSG_MORE when a file piece follows), a file piece is
 * spliced file -> pipe -> socket (io_splice.h) with a pipe from the shard's
 * pool; when no pipe is free (all held, perhaps by stalled readers) or the ring
 * is full, the piece is read into a pooled buffer and sent from memory instead,
 * so no connection waits on another. One send operation per connection is in
 * flight.
 *
 * Only the owning shard's thread touches a connection.
 */
#ifndef SL_CONN_H
#define SL_CONN_H

#include "sl_base.h"
#include "sl_req.h"

#include <sys/uio.h>
#include <sys/socket.h>

typedef enum {
    SL_CONN_FREE = 0,
    SL_CONN_OPEN,
    SL_CONN_CLOSING,
    SL_CONN_STATE_COUNT
} sl_conn_state_t;

typedef struct sl_conn {
    sl_shard_t *shard;
    sl_conn_state_t state;
    int fd;
    uint32_t slot;
    uint64_t serial; /* for logs */
    char peer[64];
    /* receive */
    io_token_t recv_token;
    bool recv_armed;
    bool recv_paused;     /* cancelled for backpressure */
    bool recv_need_rearm; /* ran out of provided buffers */
    bool recv_direct;     /* the armed receive reads into the frame */
    bool recv_cancelling; /* a cancel of the armed receive was sent */
    struct sl_conn *rearm_next;
    uint8_t size_buf[4];
    uint32_t size_have;
    uint8_t *frame;
    uint32_t frame_len;
    uint32_t frame_have;
    /* requests, oldest first */
    sl_req_t *head;
    sl_req_t *tail;
    uint32_t inflight;
    /* send of head's response */
    bool send_inflight;
    struct msghdr msg;
    io_pipe_t *pipe;             /* a file piece being spliced (io_splice.h) */
    /* outstanding operations that hold the slot (recv, send, requests) */
    uint32_t holds;
    struct sl_conn *free_next;
} sl_conn_t;

/* Allocates the shard's connection slots and arms the multishot accept on
 * listen_fd. Returns 0 or -errno. */
int sl_conns_init(sl_shard_t *s);
void sl_conns_destroy(sl_shard_t *s);
/* Re-arms receives that stopped for lack of buffers; called once per turn. */
void sl_conns_rearm(sl_shard_t *s);
/* Stops accepting; closes every connection (shutdown). */
void sl_conns_shutdown(sl_shard_t *s);
/* A request finished (response ready or none): send what is now sendable. */
void sl_conn_request_done(sl_req_t *req);

#endif /* SL_CONN_H */
