/* io_net.c — see io_net.h. */
#include "io_net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <unistd.h>

int io_endpoint_parse(const char *text, io_endpoint_t *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    const char *sep = strstr(text, "://");
    if (!sep) {
        if (err)
            snprintf(err, err_len, "expected NAME://host:port, got '%s'", text);
        return SL_ERR_PROTO;
    }
    size_t name_len = (size_t)(sep - text);
    if (name_len >= sizeof(out->name)) {
        if (err)
            snprintf(err, err_len, "listener name too long in '%s'", text);
        return SL_ERR_PROTO;
    }
    memcpy(out->name, text, name_len);
    const char *hp = sep + 3;
    const char *end = strchr(hp, ',');
    size_t hp_len = end ? (size_t)(end - hp) : strlen(hp);
    const char *colon = NULL;
    const char *host = hp;
    size_t host_len;
    if (hp_len > 0 && hp[0] == '[') {
        const char *rb = memchr(hp, ']', hp_len);
        if (!rb || rb + 1 >= hp + hp_len || rb[1] != ':') {
            if (err)
                snprintf(err, err_len, "bad IPv6 listener '%s'", text);
            return SL_ERR_PROTO;
        }
        host = hp + 1;
        host_len = (size_t)(rb - host);
        colon = rb + 1;
    } else {
        for (const char *c = hp + hp_len; c > hp; c--)
            if (c[-1] == ':') {
                colon = c - 1;
                break;
            }
        if (!colon) {
            if (err)
                snprintf(err, err_len, "missing port in listener '%s'", text);
            return SL_ERR_PROTO;
        }
        host_len = (size_t)(colon - hp);
    }
    if (host_len >= sizeof(out->host)) {
        if (err)
            snprintf(err, err_len, "host too long in '%s'", text);
        return SL_ERR_PROTO;
    }
    memcpy(out->host, host, host_len);
    char port_buf[16];
    size_t port_len = (size_t)(hp + hp_len - colon - 1);
    if (port_len == 0 || port_len >= sizeof(port_buf)) {
        if (err)
            snprintf(err, err_len, "bad port in listener '%s'", text);
        return SL_ERR_PROTO;
    }
    memcpy(port_buf, colon + 1, port_len);
    port_buf[port_len] = 0;
    char *endp;
    long port = strtol(port_buf, &endp, 10);
    if (*endp || port < 0 || port > 65535) {
        if (err)
            snprintf(err, err_len, "bad port '%s' in listener '%s'", port_buf, text);
        return SL_ERR_PROTO;
    }
    out->port = (uint16_t)port;
    return 0;
}

int io_listen(const io_endpoint_t *ep, int backlog)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof(port), "%u", ep->port);
    int gai = getaddrinfo(ep->host[0] ? ep->host : NULL, port, &hints, &res);
    if (gai != 0)
        return -EADDRNOTAVAIL;
    int fd = -1, err = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            break;
        err = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : err;
}

void io_socket_tune(int fd, int sndbuf_bytes, int rcvbuf_bytes)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sndbuf_bytes > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_bytes, sizeof(sndbuf_bytes));
    if (rcvbuf_bytes > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof(rcvbuf_bytes));
}

int io_listen_check_free(const io_endpoint_t *ep)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof(port), "%u", ep->port);
    if (getaddrinfo(ep->host[0] ? ep->host : NULL, port, &hints, &res) != 0)
        return -EADDRNOTAVAIL;
    int err = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* TIME_WAIT is fine */
        err = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -errno;
        close(fd);
        if (err == 0 || err == -EADDRINUSE)
            break;
    }
    freeaddrinfo(res);
    return err;
}
