/*
 * sl_conn.c — connections: accept, frame, queue, respond in order, close.
 * See sl_conn.h for the states and the backpressure rule.
 */
#include "sl_base.h"
#include "sl_conn.h"
#include "sl_api.h"
#include "sl_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

static void conn_try_send(sl_conn_t *c);
static void conn_close(sl_conn_t *c, const char *why);
static void conn_arm_recv(sl_conn_t *c);
static void accept_arm(sl_shard_t *s);

/* Legal transitions: FREE->OPEN, OPEN->CLOSING, CLOSING->FREE. */
static const bool conn_transitions[SL_CONN_STATE_COUNT][SL_CONN_STATE_COUNT] = {
    [SL_CONN_FREE] = {[SL_CONN_OPEN] = true},
    [SL_CONN_OPEN] = {[SL_CONN_CLOSING] = true},
    [SL_CONN_CLOSING] = {[SL_CONN_FREE] = true},
};

static void conn_set_state(sl_conn_t *c, sl_conn_state_t to)
{
    ASSERT(to < SL_CONN_STATE_COUNT);
    ASSERT(conn_transitions[c->state][to]);
    c->state = to;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---------------------------------------------------------------- requests */

static void req_free(sl_req_t *req)
{
    for (sl_cleanup_t *cl = req->cleanups; cl; cl = cl->next)
        cl->fn(cl->arg);
    req->cleanups = NULL;
    sl_shard_t *s = req->shard;
    sl_pool_buf_put(&s->pool, req->frame, req->frame_len);
    sl_pool_buf_put(&s->pool, req->resp_buf, req->resp_cap);
    ASSERT(s->inflight_requests > 0);
    s->inflight_requests--;
    sl_pool_req_put(&s->pool, req);
}

bool sl_req_on_free(sl_req_t *req, void (*fn)(void *arg), void *arg)
{
    sl_cleanup_t *cl = kp_arena_alloc(&req->arena, sizeof(*cl));
    if (!cl) {
        fn(arg);
        return false;
    }
    cl->fn = fn;
    cl->arg = arg;
    cl->next = req->cleanups;
    req->cleanups = cl;
    return true;
}

kp_writer_t *sl_req_begin_response(sl_req_t *req, size_t total_body_bytes,
                                   size_t inline_body_bytes, kp_ext_t *ext, uint32_t ext_cap)
{
    ASSERT(!req->done && !req->resp_buf);
    ASSERT(inline_body_bytes <= total_body_bytes);
    int hv = kp_response_header_version(req->hdr.api_key, req->hdr.api_version);
    size_t hsize = kp_response_header_size(hv);
    size_t frame_size = hsize + total_body_bytes;
    if (frame_size > INT32_MAX) {
        sl_req_fail_close(req, "response larger than 2 GiB");
        return NULL;
    }
    req->resp_cap = 4 + hsize + inline_body_bytes;
    req->resp_buf = sl_pool_buf_get(&req->shard->pool, req->resp_cap);
    if (!req->resp_buf) {
        sl_req_fail_close(req, "out of memory for a response");
        return NULL;
    }
    kp_writer_init(&req->w, req->resp_buf, req->resp_cap);
    if (ext && ext_cap)
        kp_writer_set_ext(&req->w, ext, ext_cap, 0);
    kp_write_i32(&req->w, (int32_t)frame_size);
    kp_response_header_encode(&req->w, hv, req->hdr.correlation_id);
    return &req->w;
}

void sl_req_complete(sl_req_t *req)
{
    ASSERT(!req->done);
    ASSERT(req->resp_buf);
    req->done = true;
    sl_conn_request_done(req);
}

void sl_req_no_response(sl_req_t *req)
{
    ASSERT(!req->done);
    req->done = true;
    req->no_response = true;
    sl_conn_request_done(req);
}

void sl_req_fail_close(sl_req_t *req, const char *why)
{
    ASSERT(!req->done);
    LOG_INFO("closing connection %s: %s (api %d v%d, correlation %d)", req->conn->peer, why,
             req->hdr.api_key, req->hdr.api_version, req->hdr.correlation_id);
    req->done = true;
    req->no_response = true;
    req->close_conn = true;
    sl_conn_request_done(req);
}

/* A complete frame arrived: build the request and hand it to its handler. */
static void conn_on_frame(sl_conn_t *c, uint8_t *frame, uint32_t len)
{
    sl_shard_t *s = c->shard;
    sl_req_t *req = sl_pool_req_get(&s->pool);
    if (!req) {
        sl_pool_buf_put(&s->pool, frame, len);
        conn_close(c, "out of memory for a request");
        return;
    }
    req->conn = c;
    req->shard = s;
    req->frame = frame;
    req->frame_len = len;
    req->start_ns = io_now_ns();
    s->inflight_requests++;
    if (c->tail)
        c->tail->next = req;
    else
        c->head = req;
    c->tail = req;
    c->inflight++;
    c->holds++;
    if (c->inflight >= SL_MAX_INFLIGHT_PER_CONN && !c->recv_paused) {
        c->recv_paused = true;
        /* A direct read is never armed here: it completes the frame first. */
        ASSERT(!c->recv_direct);
        if (c->recv_armed && !c->recv_cancelling) {
            c->recv_cancelling = true;
            io_ring_cancel(&s->ring, c->recv_token);
        }
    }
    sl_api_dispatch(req);
}

/* Whether the rest of the frame being received is large enough to read
 * straight into it rather than through the provided buffers. */
static bool conn_wants_direct(const sl_conn_t *c)
{
    return c->frame != NULL && c->frame_len - c->frame_have >= SL_DIRECT_RECV_MIN_BYTES;
}

/* Consumes received bytes into frames. Stops early when the connection closes. */
static void conn_feed(sl_conn_t *c, const uint8_t *p, size_t n)
{
    int32_t max = c->shard->config->socket_request_max_bytes;
    while (n > 0 && c->state == SL_CONN_OPEN) {
        if (!c->frame) {
            size_t take = SL_MIN(n, 4 - (size_t)c->size_have);
            memcpy(c->size_buf + c->size_have, p, take);
            c->size_have += (uint32_t)take;
            p += take;
            n -= take;
            if (c->size_have < 4)
                return;
            int32_t size = (int32_t)be32(c->size_buf);
            c->size_have = 0;
            if (size <= 0 || size > max) {
                LOG_WARN("connection %s: frame size %d outside (0, socket.request.max.bytes=%d]",
                         c->peer, size, max);
                conn_close(c, "bad frame size");
                return;
            }
            c->frame = sl_pool_buf_get(&c->shard->pool, (size_t)size);
            if (!c->frame) {
                conn_close(c, "out of memory for a frame");
                return;
            }
            c->frame_len = (uint32_t)size;
            c->frame_have = 0;
        }
        size_t take = SL_MIN(n, (size_t)(c->frame_len - c->frame_have));
        memcpy(c->frame + c->frame_have, p, take);
        c->frame_have += (uint32_t)take;
        p += take;
        n -= take;
        if (c->frame_have == c->frame_len) {
            uint8_t *frame = c->frame;
            c->frame = NULL;
            conn_on_frame(c, frame, c->frame_len);
        }
    }
    /* Most of a large frame is still to come: end the multishot and read the
     * rest straight into the frame (on_recv arms it once the multishot ends). */
    if (c->state == SL_CONN_OPEN && c->recv_armed && !c->recv_direct && !c->recv_cancelling &&
        conn_wants_direct(c)) {
        c->recv_cancelling = true;
        io_ring_cancel(&c->shard->ring, c->recv_token);
    }
}

/* ------------------------------------------------------------- lifecycle */

static void conn_maybe_free(sl_conn_t *c)
{
    if (c->state != SL_CONN_CLOSING || c->holds > 0)
        return;
    ASSERT(!c->recv_armed && !c->send_inflight && !c->head);
    sl_shard_t *s = c->shard;
    close(c->fd);
    sl_pool_buf_put(&s->pool, c->frame, c->frame_len);
    c->frame = NULL;
    c->fd = -1;
    conn_set_state(c, SL_CONN_FREE);
    c->free_next = s->conn_free;
    s->conn_free = c;
    ASSERT(s->conn_count > 0);
    s->conn_count--;
    LOG_DEBUG("connection %s freed", c->peer);
}

static void conn_close(sl_conn_t *c, const char *why)
{
    if (c->state != SL_CONN_OPEN)
        return;
    LOG_DEBUG("closing connection %s: %s", c->peer, why);
    conn_set_state(c, SL_CONN_CLOSING);
    if (c->recv_armed)
        io_ring_cancel(&c->shard->ring, c->recv_token);
    /* Wake any send blocked on a full socket so it fails fast. */
    shutdown(c->fd, SHUT_RDWR);
    conn_try_send(c); /* frees requests that are already done */
    conn_maybe_free(c);
}

/* Queues c for conn_arm_recv at the end of the turn (no buffer, no slot).
 * The list holds the slot: a connection closed meanwhile is freed by
 * sl_conns_rearm, never reused while still linked. */
static void conn_queue_rearm(sl_conn_t *c)
{
    if (c->recv_need_rearm)
        return;
    c->recv_need_rearm = true;
    c->holds++;
    c->rearm_next = c->shard->rearm_head;
    c->shard->rearm_head = c;
}

/* The receive ended (final completion): nothing is armed any more. The
 * caller drops the receive's hold when it is done with the connection. */
static void conn_recv_ended(sl_conn_t *c)
{
    c->recv_armed = false;
    c->recv_direct = false;
    c->recv_cancelling = false;
    ASSERT(c->holds > 0);
}

/* Resumes a receive paused for backpressure once the queue has drained to
 * half. Called wherever the queue shrinks or a paused receive ends. */
static void conn_maybe_resume(sl_conn_t *c)
{
    if (c->state == SL_CONN_OPEN && c->recv_paused && !c->recv_armed &&
        c->inflight <= SL_MAX_INFLIGHT_PER_CONN / 2) {
        c->recv_paused = false;
        conn_arm_recv(c);
    }
}

static void on_recv(void *ctx, int32_t res, uint32_t flags)
{
    sl_conn_t *c = ctx;
    sl_shard_t *s = c->shard;
    if (flags & IORING_CQE_F_BUFFER) {
        uint16_t id;
        uint8_t *buf = io_bufring_buf(&s->bufring, flags, &id);
        if (res > 0)
            conn_feed(c, buf, (size_t)res);
        io_bufring_recycle(&s->bufring, id);
    }
    if (flags & IORING_CQE_F_MORE)
        return;
    conn_recv_ended(c);
    if (c->state == SL_CONN_OPEN) {
        if (res == 0) {
            conn_close(c, "closed by peer");
        } else if (res < 0 && res != -ECANCELED && res != -ENOBUFS) {
            conn_close(c, strerror(-res));
        } else if (c->recv_paused) {
            conn_maybe_resume(c); /* or later, from conn_try_send */
        } else if (res == -ENOBUFS && !conn_wants_direct(c)) {
            conn_queue_rearm(c); /* out of provided buffers: next turn */
        } else {
            conn_arm_recv(c); /* ended by the kernel, or for a direct read */
        }
    }
    c->holds--;
    conn_maybe_free(c);
}

static void on_recv_direct(void *ctx, int32_t res, uint32_t flags)
{
    (void)flags;
    sl_conn_t *c = ctx;
    conn_recv_ended(c);
    if (c->state == SL_CONN_OPEN) {
        if (res > 0) {
            ASSERT(c->frame && (uint32_t)res <= c->frame_len - c->frame_have);
            c->frame_have += (uint32_t)res;
            c->shard->direct_recv_bytes += (uint64_t)res;
            if (c->frame_have == c->frame_len) {
                uint8_t *frame = c->frame;
                c->frame = NULL;
                conn_on_frame(c, frame, c->frame_len);
            }
            if (c->state == SL_CONN_OPEN && !c->recv_paused) {
                /* conn_on_frame pauses at the limit; it is not lifted above half */
                ASSERT(c->inflight < SL_MAX_INFLIGHT_PER_CONN);
                conn_arm_recv(c);
            } else {
                conn_maybe_resume(c);
            }
        } else if (res == 0) {
            conn_close(c, "closed by peer");
        } else if (res != -ECANCELED) {
            conn_close(c, strerror(-res));
        } else if (!c->recv_paused) {
            conn_arm_recv(c);
        } else {
            conn_maybe_resume(c);
        }
    }
    c->holds--; /* held until here: conn_on_frame may close the connection */
    conn_maybe_free(c);
}

/* Reads the rest of the current frame (at most) straight into it. */
static void conn_arm_direct(sl_conn_t *c)
{
    sl_shard_t *s = c->shard;
    uint32_t want = c->frame_len - c->frame_have;
    if (io_submit_recv(&s->ring, c->fd, c->frame + c->frame_have, want, on_recv_direct, c,
                       &c->recv_token) != 0) {
        conn_queue_rearm(c);
        return;
    }
    c->recv_armed = true;
    c->recv_direct = true;
    c->holds++;
}

/* Starts the connection's receive: a direct read when most of a large frame
 * is missing, else a multishot receive into the provided buffers. */
static void conn_arm_recv(sl_conn_t *c)
{
    ASSERT(!c->recv_armed);
    if (conn_wants_direct(c)) {
        conn_arm_direct(c);
        return;
    }
    sl_shard_t *s = c->shard;
    struct io_uring_sqe *sqe = io_ring_sqe(&s->ring, on_recv, c, &c->recv_token);
    if (!sqe) {
        conn_queue_rearm(c);
        return;
    }
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = s->bufring.group_id;
    c->recv_armed = true;
    c->holds++;
}

void sl_conns_rearm(sl_shard_t *s)
{
    sl_conn_t *c = s->rearm_head;
    s->rearm_head = NULL;
    while (c) {
        sl_conn_t *next = c->rearm_next;
        c->recv_need_rearm = false;
        c->rearm_next = NULL;
        ASSERT(c->holds > 0);
        c->holds--; /* the list's hold (conn_queue_rearm) */
        if (c->state == SL_CONN_OPEN && !c->recv_armed && !c->recv_paused)
            conn_arm_recv(c);
        conn_maybe_free(c);
        c = next;
    }
}

/* ------------------------------------------------------------------ send */

/* A file piece read into memory (conn_file_piece_to_memory), freed with its request. */
typedef struct sl_conn_piece_buf {
    sl_shard_t *shard;
    uint8_t *buf;
    size_t len;
} sl_conn_piece_buf_t;

static void conn_piece_buf_free(void *arg)
{
    sl_conn_piece_buf_t *pb = arg;
    sl_pool_buf_put(&pb->shard->pool, pb->buf, pb->len);
}

/* The head's response went out completely: drop it. */
static void conn_pop_sent(sl_conn_t *c)
{
    sl_req_t *req = c->head;
    c->head = req->next;
    if (!c->head)
        c->tail = NULL;
    c->inflight--;
    c->holds--;
    req_free(req);
}

static void on_send(void *ctx, int32_t res, uint32_t flags)
{
    (void)flags;
    sl_conn_t *c = ctx;
    ASSERT(c->send_inflight);
    c->send_inflight = false;
    ASSERT(c->holds > 0);
    c->holds--;
    sl_req_t *req = c->head;
    ASSERT(req && req->iov);
    if (res < 0) {
        if (c->state == SL_CONN_OPEN)
            conn_close(c, strerror(-res));
    } else {
        size_t sent = (size_t)res;
        while (sent > 0 && req->iov_first < req->iov_count) {
            struct iovec *v = &req->iov[req->iov_first];
            ASSERT(v->iov_base); /* sendmsg never covers a file piece */
            if (sent >= v->iov_len) {
                sent -= v->iov_len;
                req->iov_first++;
            } else {
                v->iov_base = (uint8_t *)v->iov_base + sent;
                v->iov_len -= sent;
                sent = 0;
            }
        }
        if (req->iov_first == req->iov_count)
            conn_pop_sent(c);
    }
    conn_try_send(c);
    conn_maybe_free(c);
}

static void on_splice_done(void *ctx, int64_t res)
{
    sl_conn_t *c = ctx;
    sl_shard_t *s = c->shard;
    ASSERT(c->send_inflight && c->pipe);
    c->send_inflight = false;
    ASSERT(c->holds > 0);
    c->holds--;
    io_pipe_put(&s->pipes, c->pipe, res >= 0);
    c->pipe = NULL;
    sl_req_t *req = c->head;
    ASSERT(req && req->iov && req->iov[req->iov_first].iov_base == NULL);
    if (res < 0) {
        if (c->state == SL_CONN_OPEN)
            conn_close(c, res == -EBUSY ? "ring saturated during a zero-copy send"
                                        : strerror((int)-res));
    } else {
        ASSERT((uint64_t)res == req->iov[req->iov_first].iov_len);
        req->iov_first++;
        req->file_next++;
        if (req->iov_first == req->iov_count)
            conn_pop_sent(c);
    }
    conn_try_send(c);
    conn_maybe_free(c);
}

/* Builds the head's piece list: the writer's iovecs, with the entries of file
 * pieces given a NULL base (sl_file_piece_t). Returns false on out of memory. */
static bool conn_build_iov(sl_req_t *req)
{
    size_t cap = 2 * (size_t)req->w.ext_count + 1;
    req->iov = kp_arena_alloc(&req->arena, cap * sizeof(struct iovec));
    if (!req->iov)
        return false;
    req->iov_count = (uint32_t)kp_writer_iov(&req->w, req->iov, cap);
    req->iov_first = 0;
    ASSERT(req->iov_count > 0);
    uint32_t k = 0;
    for (uint32_t i = 0; i < req->iov_count && k < req->file_count; i++)
        if (req->iov[i].iov_base == req->files[k].key) {
            req->iov[i].iov_base = NULL;
            k++;
        }
    ASSERT(k == req->file_count);
    req->file_next = 0;
    return true;
}

/* No pipe (all out, or pipe2 failed) or no room in the ring: the file piece is
 * read here, synchronously, into a pooled buffer that becomes a memory piece.
 * A blocking pread on the shard (the tail of a log is normally in the page
 * cache), so it is the exception: it keeps a connection from waiting behind
 * stalled peers that hold every pipe. Returns false on a read error. */
static bool conn_file_piece_to_memory(sl_conn_t *c, sl_req_t *req)
{
    sl_shard_t *s = c->shard;
    const sl_file_piece_t *f = &req->files[req->file_next];
    struct iovec *v = &req->iov[req->iov_first];
    size_t len = v->iov_len;
    uint8_t *buf = sl_pool_buf_get(&s->pool, len);
    if (!buf)
        return false;
    size_t have = 0;
    while (have < len) {
        ssize_t n = pread(f->fd, buf + have, len - have, (off_t)(f->pos + have));
        if (n <= 0) {
            sl_pool_buf_put(&s->pool, buf, len);
            return false;
        }
        have += (size_t)n;
    }
    sl_conn_piece_buf_t *pb = kp_arena_alloc(&req->arena, sizeof(*pb));
    if (!pb) {
        sl_pool_buf_put(&s->pool, buf, len);
        return false;
    }
    *pb = (sl_conn_piece_buf_t){s, buf, len};
    if (!sl_req_on_free(req, conn_piece_buf_free, pb))
        return false; /* sl_req_on_free ran the free already */
    v->iov_base = buf;
    req->file_next++;
    s->splice_fallbacks++;
    return true;
}

/* Starts the splice of the head's next file piece, or turns it into a memory
 * piece (conn_file_piece_to_memory). Returns false when the connection closed. */
static bool conn_send_file_piece(sl_conn_t *c, sl_req_t *req)
{
    sl_shard_t *s = c->shard;
    ASSERT(req->file_next < req->file_count);
    io_pipe_t *pipe = io_pipe_get(&s->pipes);
    const sl_file_piece_t *f = &req->files[req->file_next];
    const struct iovec *v = &req->iov[req->iov_first];
    if (pipe) {
        int rc = io_splice_start(pipe, &s->ring, f->fd, f->pos, (uint32_t)v->iov_len, c->fd,
                                 on_splice_done, c);
        if (rc == 0) {
            c->pipe = pipe;
            c->send_inflight = true;
            c->holds++;
            return true;
        }
        io_pipe_put(&s->pipes, pipe, true);
    }
    if (!conn_file_piece_to_memory(c, req)) {
        conn_close(c, "reading a fetch slice failed");
        return false;
    }
    return true;
}

/* Sends the head's response if it is ready; drops finished requests that need
 * no response; unpauses the receive when the queue has drained. */
static void conn_try_send(sl_conn_t *c)
{
    sl_shard_t *s = c->shard;
    while (!c->send_inflight && c->head && c->head->done) {
        sl_req_t *req = c->head;
        if (req->no_response || c->state != SL_CONN_OPEN) {
            bool close_after = req->close_conn;
            c->head = req->next;
            if (!c->head)
                c->tail = NULL;
            c->inflight--;
            c->holds--;
            req_free(req);
            if (close_after && c->state == SL_CONN_OPEN)
                conn_close(c, "request failed");
            continue;
        }
        if (!req->iov && !conn_build_iov(req)) {
            conn_close(c, "out of memory for a response");
            continue;
        }
        if (req->iov[req->iov_first].iov_base == NULL) {
            if (!conn_send_file_piece(c, req) || c->send_inflight)
                continue; /* closed (the loop drops the requests), or splicing */
            /* now a memory piece: sent below */
        }
        /* A run of memory pieces, up to the next file piece. */
        uint32_t end = req->iov_first;
        while (end < req->iov_count && req->iov[end].iov_base && end - req->iov_first < IOV_MAX)
            end++;
        struct io_uring_sqe *sqe = io_ring_sqe(&s->ring, on_send, c, NULL);
        if (!sqe) {
            /* Pending table full: retried at the next completion on this connection. */
            LOG_WARN("connection %s: ring full, response delayed", c->peer);
            break;
        }
        memset(&c->msg, 0, sizeof(c->msg));
        c->msg.msg_iov = &req->iov[req->iov_first];
        c->msg.msg_iovlen = end - req->iov_first;
        int more = end < req->iov_count ? MSG_MORE : 0; /* a file piece follows */
        io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL | more);
        c->send_inflight = true;
        c->holds++;
    }
    conn_maybe_resume(c);
}

void sl_conn_request_done(sl_req_t *req)
{
    sl_conn_t *c = req->conn;
    if (c->head == req)
        conn_try_send(c);
    conn_maybe_free(c);
}

/* ---------------------------------------------------------------- accept */

static void conn_open(sl_shard_t *s, int fd)
{
    sl_conn_t *c = s->conn_free;
    if (!c) {
        static _Thread_local uint64_t last_warn_ms;
        uint64_t now = io_now_ms();
        if (now - last_warn_ms > 1000) {
            LOG_WARN("connection limit (%d per shard) reached; refusing connections",
                     s->config->max_connections_per_shard);
            last_warn_ms = now;
        }
        close(fd);
        return;
    }
    s->conn_free = c->free_next;
    s->conn_count++;
    static _Thread_local uint64_t serial;
    uint32_t slot = c->slot;
    memset(c, 0, sizeof(*c));
    c->slot = slot;
    c->shard = s;
    c->fd = fd;
    c->serial = ++serial;
    conn_set_state(c, SL_CONN_OPEN);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
    io_socket_tune(fd, s->config->socket_send_buffer_bytes,
                   s->config->socket_receive_buffer_bytes);
    LOG_DEBUG("accepted connection %s", c->peer);
    conn_arm_recv(c);
}

static void accept_backoff_done(void *ctx)
{
    sl_shard_t *s = ctx;
    if (!s->accept_armed && !s->stopping)
        accept_arm(s);
}

static void on_accept(void *ctx, int32_t res, uint32_t flags)
{
    sl_shard_t *s = ctx;
    if (!(flags & IORING_CQE_F_MORE))
        s->accept_armed = false;
    if (res >= 0) {
        if (s->stopping)
            close(res);
        else
            conn_open(s, res);
    } else if (res != -ECANCELED && res != -EAGAIN && res != -EINTR) {
        /* Out of descriptors or memory: the connection stays in the backlog and
         * an immediate retry fails the same way, so wait before accepting again
         * (and warn once a second, not once a retry). */
        s->accept_errors++;
        uint64_t now = io_now_ms();
        if (now - s->accept_warned_ms >= 1000) {
            LOG_WARN("accept failed: %s (%llu times so far); retrying in %d ms", strerror(-res),
                     (unsigned long long)s->accept_errors, SL_ACCEPT_BACKOFF_MS);
            s->accept_warned_ms = now;
        }
        if (io_timer_armed(&s->accept_backoff))
            return;
        if (!s->accept_armed && !s->stopping &&
            io_timer_arm(&s->timers, &s->accept_backoff,
                         io_now_ns() + SL_ACCEPT_BACKOFF_MS * 1000000ULL) == 0)
            return;
    }
    if (!s->accept_armed && !s->stopping)
        accept_arm(s);
}

static void accept_arm(sl_shard_t *s)
{
    struct io_uring_sqe *sqe = io_ring_sqe(&s->ring, on_accept, s, &s->accept_token);
    if (!sqe)
        return; /* retried when the next accept completion or turn comes */
    io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    s->accept_armed = true;
}

int sl_conns_init(sl_shard_t *s)
{
    uint32_t n = (uint32_t)s->config->max_connections_per_shard;
    s->conns = calloc(n, sizeof(*s->conns));
    if (!s->conns)
        return -ENOMEM;
    for (uint32_t i = n; i-- > 0;) {
        s->conns[i].slot = i;
        s->conns[i].fd = -1;
        s->conns[i].free_next = s->conn_free;
        s->conn_free = &s->conns[i];
    }
    io_timer_setup(&s->accept_backoff, accept_backoff_done, s);
    accept_arm(s);
    return s->accept_armed ? 0 : -EBUSY;
}

void sl_conns_shutdown(sl_shard_t *s)
{
    if (s->accept_armed)
        io_ring_cancel(&s->ring, s->accept_token);
    if (io_timer_armed(&s->accept_backoff))
        io_timer_cancel(&s->timers, &s->accept_backoff);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    uint32_t n = (uint32_t)s->config->max_connections_per_shard;
    for (uint32_t i = 0; i < n; i++)
        if (s->conns[i].state == SL_CONN_OPEN)
            conn_close(&s->conns[i], "broker shutting down");
}

void sl_conns_destroy(sl_shard_t *s)
{
    free(s->conns);
    s->conns = NULL;
}
