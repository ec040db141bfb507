/*
 * io_net.h — socket set-up for the shards: listener parsing and creation.
 *
 * Every shard binds its own SO_REUSEPORT listener on the same address, so the
 * kernel spreads new connections across shards and a connection lives on the
 * shard that accepted it (ARCHITECTURE.md §1). Blocking calls here run only at
 * start-up, never on a serving loop.
 */
#ifndef IO_NET_H
#define IO_NET_H

#include "sl_base.h"
#include <sys/socket.h>

#define IO_HOST_MAX 256

/* One listener endpoint, from Kafka's `listeners` syntax NAME://host:port. */
typedef struct io_endpoint {
    char name[64];       /* listener name, e.g. PLAINTEXT */
    char host[IO_HOST_MAX]; /* empty means all interfaces */
    uint16_t port;
} io_endpoint_t;

/* Parses "PLAINTEXT://127.0.0.1:9092" (also "[::1]:9092", "://:9092"). Only the
 * first entry of a comma-separated list is used by callers that want one.
 * Returns 0 or SL_ERR_PROTO with a reason in err (if non-NULL). */
int io_endpoint_parse(const char *text, io_endpoint_t *out, char *err, size_t err_len);

/* Creates a non-blocking TCP listener with SO_REUSEADDR + SO_REUSEPORT bound to
 * ep. Returns the fd or -errno. */
int io_listen(const io_endpoint_t *ep, int backlog);
/* Whether ep's address is free for this process: a bind without SO_REUSEPORT
 * (which io_listen uses so that every shard can listen) fails with -EADDRINUSE
 * while another process listens there, even one that set SO_REUSEPORT too.
 * Returns 0 (free), -EADDRINUSE or another -errno. */
int io_listen_check_free(const io_endpoint_t *ep);

/* Per-connection socket options: TCP_NODELAY, and buffer sizes when > 0. */
void io_socket_tune(int fd, int sndbuf_bytes, int rcvbuf_bytes);

#endif /* IO_NET_H */
