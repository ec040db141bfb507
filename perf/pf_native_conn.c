/*
 * pf_native_conn.c — see pf_native_conn.h.
 */
#include "pf_native_conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <unistd.h>

int pf_nconn_resolve(const char *bootstrap, struct sockaddr_storage *addr, socklen_t *addr_len)
{
    char host[256];
    const char *comma = strchr(bootstrap, ',');
    size_t n = comma != NULL ? (size_t)(comma - bootstrap) : strlen(bootstrap);
    if (n == 0 || n >= sizeof(host)) {
        fprintf(stderr, "sluice-perf: bad --bootstrap-server '%s'\n", bootstrap);
        return -EINVAL;
    }
    memcpy(host, bootstrap, n);
    host[n] = '\0';
    char *colon = strrchr(host, ':');
    if (colon == NULL || colon[1] == '\0') {
        fprintf(stderr, "sluice-perf: --bootstrap-server needs host:port, not '%s'\n", host);
        return -EINVAL;
    }
    *colon = '\0';
    const char *port = colon + 1;
    char *h = host;
    if (h[0] == '[') { /* [::1]:9092 */
        h++;
        size_t hl = strlen(h);
        if (hl > 0 && h[hl - 1] == ']')
            h[hl - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(h, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        fprintf(stderr, "sluice-perf: cannot resolve %s:%s: %s\n", h, port, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int pf_nconn_connect(const struct sockaddr_storage *addr, socklen_t addr_len)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)addr, addr_len) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void pf_nconn_fail(pf_nconn_t *c, int error)
{
    if (c->error != 0)
        return;
    c->error = error;
    if (!c->closing)
        shutdown(c->fd, SHUT_RDWR); /* completes whatever is in flight */
    if (c->fail_fn != NULL && !c->closing)
        c->fail_fn(c->owner, c);
}

static void pf_nconn_on_recv(void *ctx, int32_t res, uint32_t flags);

static void pf_nconn_arm_recv(pf_nconn_t *c)
{
    ASSERT(!c->recv_armed && c->rlen < c->rcap);
    struct io_uring_sqe *sqe = io_ring_sqe(c->ring, pf_nconn_on_recv, c, NULL);
    if (sqe == NULL) { /* the ring is sized for 2 ops per connection */
        pf_nconn_fail(c, -EBUSY);
        return;
    }
    io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    c->recv_armed = true;
}

static uint32_t pf_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hands every complete frame over, keeps the tail, grows for a big frame.
 * Returns 0 or an error code. */
static int pf_nconn_cut(pf_nconn_t *c)
{
    size_t pos = 0;
    while (c->error == 0 && c->rlen - pos >= 4) {
        uint32_t size = pf_be32(c->rbuf + pos);
        if (size > INT32_MAX || (size_t)size + 4 > c->rmax)
            return SL_ERR_LIMIT;
        if (c->rlen - pos - 4 < size)
            break;
        c->frame_fn(c->owner, c, c->rbuf + pos + 4, size);
        pos += 4 + (size_t)size;
    }
    if (pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    if (c->rlen >= 4) {
        size_t need = (size_t)pf_be32(c->rbuf) + 4;
        if (need > c->rcap) {
            size_t cap = c->rcap;
            while (cap < need)
                cap *= 2;
            cap = SL_MIN(cap, c->rmax);
            uint8_t *nb = realloc(c->rbuf, cap);
            if (nb == NULL)
                return -ENOMEM;
            c->rbuf = nb;
            c->rcap = cap;
        }
    }
    return 0;
}

static void pf_nconn_on_recv(void *ctx, int32_t res, uint32_t flags)
{
    (void)flags;
    pf_nconn_t *c = ctx;
    c->recv_armed = false;
    if (c->error != 0 || c->closing)
        return;
    if (res <= 0) {
        pf_nconn_fail(c, res == 0 ? -ECONNRESET : res);
        return;
    }
    c->rlen += (size_t)res;
    int rc = pf_nconn_cut(c);
    if (rc != 0) {
        pf_nconn_fail(c, rc);
        return;
    }
    if (c->error == 0 && !c->closing)
        pf_nconn_arm_recv(c);
}

static void pf_nconn_on_send(void *ctx, int32_t res, uint32_t flags)
{
    (void)flags;
    pf_nconn_t *c = ctx;
    c->send_armed = false;
    if (c->error != 0 || c->closing)
        return;
    if (res < 0) {
        pf_nconn_fail(c, res);
        return;
    }
    size_t sent = (size_t)res;
    while (sent > 0) {
        ASSERT(c->q_count > 0);
        pf_nconn_frame_t *f = &c->q[c->q_head];
        size_t left = f->len - c->q_done;
        if (sent < left) {
            c->q_done += sent;
            break;
        }
        sent -= left;
        c->q_done = 0;
        c->q_head = (c->q_head + 1) % PF_NCONN_SENDQ;
        c->q_count--;
        if (c->sent_fn != NULL)
            c->sent_fn(c->owner, c, f->tag);
    }
    pf_nconn_flush(c);
}

int pf_nconn_open(pf_nconn_t *c, io_ring_t *ring, int fd, size_t rcap_initial, size_t rmax,
                  void *owner, pf_nconn_frame_fn frame_fn, pf_nconn_sent_fn sent_fn,
                  pf_nconn_fail_fn fail_fn)
{
    ASSERT(rcap_initial >= 4 && rcap_initial <= rmax && frame_fn != NULL);
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->ring = ring;
    c->owner = owner;
    c->frame_fn = frame_fn;
    c->sent_fn = sent_fn;
    c->fail_fn = fail_fn;
    c->rmax = rmax;
    c->rcap = rcap_initial;
    c->rbuf = malloc(rcap_initial);
    if (c->rbuf == NULL) {
        close(fd);
        c->fd = -1;
        return -ENOMEM;
    }
    pf_nconn_arm_recv(c);
    if (c->error != 0) {
        int err = c->error;
        free(c->rbuf);
        c->rbuf = NULL;
        close(fd);
        c->fd = -1;
        return err;
    }
    return 0;
}

int pf_nconn_send(pf_nconn_t *c, const uint8_t *frame, size_t len, void *tag)
{
    ASSERT(len > 0);
    if (c->error != 0)
        return c->error;
    if (c->q_count >= PF_NCONN_SENDQ)
        return -EBUSY;
    uint32_t i = (c->q_head + c->q_count) % PF_NCONN_SENDQ;
    c->q[i] = (pf_nconn_frame_t){frame, len, tag};
    c->q_count++;
    return 0;
}

void pf_nconn_flush(pf_nconn_t *c)
{
    if (c->send_armed || c->q_count == 0 || c->error != 0 || c->closing)
        return;
    uint32_t n = SL_MIN(c->q_count, (uint32_t)PF_NCONN_IOV);
    for (uint32_t k = 0; k < n; k++) {
        const pf_nconn_frame_t *f = &c->q[(c->q_head + k) % PF_NCONN_SENDQ];
        size_t skip = k == 0 ? c->q_done : 0;
        c->iov[k].iov_base = (void *)(uintptr_t)(f->p + skip);
        c->iov[k].iov_len = f->len - skip;
    }
    memset(&c->msg, 0, sizeof(c->msg));
    c->msg.msg_iov = c->iov;
    c->msg.msg_iovlen = n;
    struct io_uring_sqe *sqe = io_ring_sqe(c->ring, pf_nconn_on_send, c, NULL);
    if (sqe == NULL) {
        pf_nconn_fail(c, -EBUSY);
        return;
    }
    io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL | MSG_WAITALL);
    c->send_armed = true;
}

void pf_nconn_abort(pf_nconn_t *c, int error)
{
    ASSERT(error != 0);
    pf_nconn_fail(c, error);
}

void pf_nconn_close(pf_nconn_t *c)
{
    if (c->closing || c->fd < 0)
        return;
    c->closing = true;
    shutdown(c->fd, SHUT_RDWR);
}

void pf_nconn_release(pf_nconn_t *c)
{
    ASSERT(pf_nconn_idle(c));
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
}
