/*
 * test_io_splice.c — zero-copy file -> socket transfers (io/io_splice.h) over a
 * real loopback TCP connection: whole ranges arrive intact, a slow reader
 * forces drains (short and -EAGAIN socket steps), a range past the end of the
 * file fails with -EIO instead of looping, a closed peer fails the transfer,
 * the pipe pool is bounded, and a full ring refuses to start.
 */
#include "io_splice.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIB (1024u * 1024u)

static uint8_t pattern_byte(uint64_t pos)
{
    return (uint8_t)(pos * 2654435761u >> 13);
}

/* A file of `bytes` bytes of the pattern. */
static int make_file(uint32_t bytes)
{
    char path[] = "/tmp/sluice-splice-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    uint8_t *buf = malloc(bytes);
    for (uint32_t i = 0; i < bytes; i++)
        buf[i] = pattern_byte(i);
    cr_assert_eq(pwrite(fd, buf, bytes, 0), (ssize_t)bytes);
    free(buf);
    return fd;
}

/* A connected loopback pair: *server non-blocking (as the broker's), *client blocking. */
static void tcp_pair(int *server, int *client, int sndbuf)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    cr_assert(ls >= 0);
    cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(ls, 1), 0);
    cr_assert_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
    *server = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
    cr_assert(*server >= 0);
    if (sndbuf > 0)
        setsockopt(*server, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    close(ls);
}

typedef struct reader {
    int fd;
    uint64_t from; /* file position of the first byte expected */
    uint32_t len;
    useconds_t delay_us;
    uint32_t got;
    bool intact;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    usleep(r->delay_us);
    static uint8_t buf[256 * 1024];
    r->intact = true;
    while (r->got < r->len) {
        ssize_t n = read(r->fd, buf, SL_MIN(sizeof(buf), (size_t)(r->len - r->got)));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern_byte(r->from + r->got + (uint64_t)i))
                r->intact = false;
        r->got += (uint32_t)n;
    }
    return NULL;
}

static int64_t done_res;
static int done_calls;

static void on_done(void *ctx, int64_t res)
{
    (void)ctx;
    done_res = res;
    done_calls++;
}

static void run_until_done(io_ring_t *r)
{
    while (done_calls == 0)
        cr_assert(io_ring_run_once(r, -1) >= 0);
}

static void transfer(uint32_t file_bytes, uint64_t pos, uint32_t len, int sndbuf,
                     useconds_t reader_delay_us, uint32_t *submissions)
{
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 64, 64), 0);
    io_pipe_pool_t pool;
    io_pipe_pool_init(&pool, 2, 256 * 1024);
    int fd = make_file(file_bytes), server, client;
    tcp_pair(&server, &client, sndbuf);
    reader_t rd = {.fd = client, .from = pos, .len = len, .delay_us = reader_delay_us};
    pthread_t t;
    pthread_create(&t, NULL, reader_main, &rd);
    io_pipe_t *p = io_pipe_get(&pool);
    cr_assert_not_null(p);
    done_calls = 0;
    cr_assert_eq(io_splice_start(p, &r, fd, pos, len, server, on_done, NULL), 0);
    run_until_done(&r);
    *submissions = p->xfer.submissions;
    io_pipe_put(&pool, p, done_res >= 0);
    pthread_join(t, NULL);
    cr_assert_eq(done_calls, 1);
    cr_assert_eq(done_res, (int64_t)len, "transfer result %lld", (long long)done_res);
    cr_assert_eq(rd.got, len);
    cr_assert(rd.intact, "the bytes on the socket are the file's");
    cr_assert_eq(r.pending_in_use, 0);
    io_pipe_pool_destroy(&pool);
    close(server);
    close(client);
    close(fd);
    io_ring_destroy(&r);
}

Test(io_splice, whole_range_arrives_intact)
{
    uint32_t submissions;
    transfer(5 * MIB, 12345, 5 * MIB - 20000, 0, 0, &submissions);
    cr_assert_geq(submissions, 1);
}

Test(io_splice, slow_reader_forces_drains_and_loses_nothing)
{
    uint32_t submissions;
    /* A small send buffer and a reader that starts late: socket steps come back
     * short or -EAGAIN and the pipe is drained after a poll. */
    transfer(3 * MIB, 0, 3 * MIB, 16384, 200000, &submissions);
    cr_assert_gt(submissions, 2, "drains happened (%u submissions)", submissions);
}

Test(io_splice, range_past_end_of_file_fails_with_eio)
{
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 64, 64), 0);
    io_pipe_pool_t pool;
    io_pipe_pool_init(&pool, 1, 65536);
    int fd = make_file(100000), server, client;
    tcp_pair(&server, &client, 0);
    io_pipe_t *p = io_pipe_get(&pool);
    done_calls = 0;
    cr_assert_eq(io_splice_start(p, &r, fd, 50000, 200000, server, on_done, NULL), 0);
    run_until_done(&r);
    cr_assert_eq(done_res, -EIO);
    io_pipe_put(&pool, p, false);
    cr_assert_eq(pool.live, 0, "a pipe that may hold bytes is closed");
    io_pipe_pool_destroy(&pool);
    close(server);
    close(client);
    close(fd);
    io_ring_destroy(&r);
}

Test(io_splice, closed_peer_fails_the_transfer)
{
    signal(SIGPIPE, SIG_IGN);
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 64, 64), 0);
    io_pipe_pool_t pool;
    io_pipe_pool_init(&pool, 1, 65536);
    int fd = make_file(4 * MIB), server, client;
    tcp_pair(&server, &client, 16384);
    close(client);
    io_pipe_t *p = io_pipe_get(&pool);
    done_calls = 0;
    cr_assert_eq(io_splice_start(p, &r, fd, 0, 4 * MIB, server, on_done, NULL), 0);
    run_until_done(&r);
    cr_assert_lt(done_res, 0, "got %lld", (long long)done_res);
    cr_assert_eq(done_calls, 1);
    io_pipe_put(&pool, p, false);
    io_pipe_pool_destroy(&pool);
    close(server);
    close(fd);
    io_ring_destroy(&r);
}

Test(io_splice, pipe_pool_is_bounded_and_reuses)
{
    io_pipe_pool_t pool;
    io_pipe_pool_init(&pool, 2, 65536);
    io_pipe_t *a = io_pipe_get(&pool), *b = io_pipe_get(&pool);
    cr_assert(a && b && a != b);
    cr_assert_geq(a->bytes, 4096);
    cr_assert_null(io_pipe_get(&pool));
    cr_assert_eq(pool.exhausted, 1);
    io_pipe_put(&pool, a, true);
    cr_assert_eq(io_pipe_get(&pool), a, "an empty pipe is reused");
    cr_assert_eq(pool.created, 2);
    io_pipe_put(&pool, a, true);
    io_pipe_put(&pool, b, true);
    cr_assert_eq(pool.live, 2);
    io_pipe_pool_destroy(&pool);
    cr_assert_eq(pool.live, 0);
}

Test(io_splice, full_ring_refuses_to_start)
{
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 8, 1), 0); /* one pending slot: a pair needs two */
    io_pipe_pool_t pool;
    io_pipe_pool_init(&pool, 1, 65536);
    int fd = make_file(65536), server, client;
    tcp_pair(&server, &client, 0);
    io_pipe_t *p = io_pipe_get(&pool);
    done_calls = 0;
    cr_assert_eq(io_splice_start(p, &r, fd, 0, 65536, server, on_done, NULL), -EBUSY);
    cr_assert_eq(r.pending_in_use, 0, "nothing was started");
    cr_assert_eq(done_calls, 0);
    io_pipe_put(&pool, p, true);
    io_pipe_pool_destroy(&pool);
    close(server);
    close(client);
    close(fd);
    io_ring_destroy(&r);
}
