/*
 * splice_bench.c — how fast can one shard serve a page-cached file to a
 * loopback TCP reader, and at what CPU cost? The measurement behind the fetch
 * path's choice between zero-copy splice and read + send (core/h_fetch.c,
 * io/io_splice.h; the crossover is in the README's Performance section).
 *
 * usage: splice_bench [--mib N] [--seconds S]
 *
 * For each chunk size (the size of one fetch slice) and each method it serves
 * the file over one connection for S seconds and prints GB/s and the serving
 * side's CPU seconds per GB (getrusage of this process: its io-wq workers are
 * threads of it; the reader is a child process, not counted):
 *   read+send   io_uring READ into a buffer, then SEND (two round trips)
 *   splice      io_uring SPLICE file->pipe and pipe->socket, linked, in pipe-size
 *               steps chained in one submission (what the broker does)
 *   sendfile    sendfile(2) in a loop (the reference; not usable from a ring)
 * A measurement tool, not part of CI:
 *   gcc -O2 -o /tmp/splice_bench perf/bench/splice_bench.c -luring && /tmp/splice_bench
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define SB_MAX_CHAIN 64

typedef enum { SB_READ_SEND, SB_SPLICE, SB_SENDFILE, SB_METHODS } sb_method_t;
static const char *const sb_names[SB_METHODS] = {"read+send", "splice", "sendfile"};

static int sb_wait(struct io_uring *ring, int n, int32_t *res)
{
    for (int i = 0; i < n; i++) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_wait_cqe(ring, &cqe);
        if (rc < 0)
            return rc;
        res[cqe->user_data] = cqe->res;
        io_uring_cqe_seen(ring, cqe);
    }
    return 0;
}

/* Serves [pos, pos + len) of fd to sock; returns bytes sent or -errno. */
static int64_t sb_serve(sb_method_t m, struct io_uring *ring, int fd, int sock, int pipefd[2],
                        uint32_t pipe_size, uint8_t *buf, uint64_t pos, uint32_t len)
{
    int32_t res[2 * SB_MAX_CHAIN];
    if (m == SB_SENDFILE) {
        off_t off = (off_t)pos;
        uint32_t left = len;
        while (left > 0) {
            ssize_t n = sendfile(sock, fd, &off, left);
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            left -= (uint32_t)n;
        }
        return len;
    }
    if (m == SB_READ_SEND) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        io_uring_prep_read(sqe, fd, buf, len, pos);
        sqe->user_data = 0;
        io_uring_submit(ring);
        if (sb_wait(ring, 1, res) < 0 || res[0] < 0)
            return -EIO;
        uint32_t have = (uint32_t)res[0], sent = 0;
        while (sent < have) {
            sqe = io_uring_get_sqe(ring);
            io_uring_prep_send(sqe, sock, buf + sent, have - sent, MSG_NOSIGNAL);
            sqe->user_data = 0;
            io_uring_submit(ring);
            if (sb_wait(ring, 1, res) < 0 || res[0] <= 0)
                return -EIO;
            sent += (uint32_t)res[0];
        }
        return have;
    }
    /* splice: chain file->pipe, pipe->sock pairs; resume after a short step. */
    uint32_t done = 0;
    while (done < len) {
        int pairs = 0;
        uint32_t planned = 0;
        while (done + planned < len && pairs < SB_MAX_CHAIN) {
            uint32_t step = len - done - planned < pipe_size ? len - done - planned : pipe_size;
            struct io_uring_sqe *a = io_uring_get_sqe(ring);
            io_uring_prep_splice(a, fd, (int64_t)(pos + done + planned), pipefd[1], -1, step, 0);
            a->flags |= IOSQE_IO_LINK;
            a->user_data = (uint64_t)(2 * pairs);
            struct io_uring_sqe *b = io_uring_get_sqe(ring);
            io_uring_prep_splice(b, pipefd[0], -1, sock, -1, step, 0);
            b->user_data = (uint64_t)(2 * pairs + 1);
            planned += step;
            pairs++;
            if (done + planned < len && pairs < SB_MAX_CHAIN)
                b->flags |= IOSQE_IO_LINK;
        }
        io_uring_submit(ring);
        if (sb_wait(ring, 2 * pairs, res) < 0)
            return -EIO;
        for (int i = 0; i < pairs; i++) {
            int32_t in = res[2 * i], out = res[2 * i + 1];
            if (in < 0 && in != -ECANCELED)
                return in;
            if (out < 0 && out != -ECANCELED)
                return out;
            if (out > 0)
                done += (uint32_t)out;
            if (in > 0 && out != in) { /* drain what the pipe still holds */
                uint32_t left = (uint32_t)in - (uint32_t)(out > 0 ? out : 0);
                while (left > 0) {
                    ssize_t n = splice(pipefd[0], NULL, sock, NULL, left, 0);
                    if (n <= 0)
                        return -EIO;
                    left -= (uint32_t)n;
                    done += (uint32_t)n;
                }
                break;
            }
            if (in <= 0)
                break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    uint32_t mib = 256;
    double seconds = 2.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--mib") == 0)
            mib = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
    }
    signal(SIGPIPE, SIG_IGN);
    char path[] = "/tmp/splice_bench.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        bench_die("mkstemp", errno);
    unlink(path);
    uint64_t file_bytes = (uint64_t)mib << 20;
    uint8_t *buf = aligned_alloc(4096, 1 << 20);
    memset(buf, 'x', 1 << 20);
    for (uint64_t o = 0; o < file_bytes; o += 1 << 20)
        if (pwrite(fd, buf, 1 << 20, (off_t)o) != 1 << 20)
            bench_die("pwrite", errno);
    struct io_uring ring;
    int rc = io_uring_queue_init(256, &ring, 0);
    if (rc < 0)
        bench_die("io_uring_queue_init", -rc);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        bench_die("pipe", errno);
    int pipe_size = fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20);
    if (pipe_size < 0)
        pipe_size = fcntl(pipefd[1], F_GETPIPE_SZ);
    printf("page-cached file %u MiB, one connection, pipe %d KiB, %.1f s per case\n", mib,
           pipe_size / 1024, seconds);
    printf("%-10s %-10s %8s %10s\n", "chunk", "method", "GB/s", "CPU-s/GB");
    static const uint32_t chunks[] = {4096, 16384, 65536, 262144, 1 << 20};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        for (int m = 0; m < SB_METHODS; m++) {
            pid_t reader;
            int sock = bench_connect(&reader);
            double t0 = bench_now(), c0 = bench_cpu(), t;
            uint64_t sent = 0, pos = 0;
            while ((t = bench_now()) - t0 < seconds) {
                int64_t n = sb_serve((sb_method_t)m, &ring, fd, sock, pipefd, (uint32_t)pipe_size,
                                     buf, pos, chunks[c]);
                if (n < 0)
                    bench_die(sb_names[m], (int)-n);
                sent += (uint64_t)n;
                pos += chunks[c];
                if (pos + chunks[c] > file_bytes)
                    pos = 0;
            }
            double cpu = bench_cpu() - c0;
            close(sock);
            waitpid(reader, NULL, 0);
            double gb = (double)sent / 1e9;
            printf("%-10u %-10s %8.2f %10.3f\n", chunks[c], sb_names[m], gb / (t - t0), cpu / gb);
            fflush(stdout);
        }
    }
    return 0;
}
