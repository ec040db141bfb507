/*
 * zc_bench.c — two questions of the data path, measured instead of assumed:
 *
 *   1. Does IORING_OP_SEND_ZC beat a plain SEND for responses built in memory
 *      (ARCHITECTURE.md §2), and from what size? One loopback connection, a
 *      reader process draining it, one send in flight; for SEND_ZC the buffer
 *      is reused only after the notification CQE.
 *   2. Do registered (fixed) buffers make buffered file writes cheaper?
 *      io_uring WRITE vs WRITE_FIXED of the same buffer into a file in the page
 *      cache (ext4 runs both in io-wq workers), 1 GiB per case, several in flight.
 *
 * Prints GB/s and this process's CPU seconds per GB (its io-wq workers are
 * threads of it; the reader is a child process, not counted).
 *
 *   gcc -O2 -o /tmp/zc_bench perf/bench/zc_bench.c -luring && /tmp/zc_bench [DIR]
 *
 * DIR holds the write test's file (default /var/tmp); it is removed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

/* One send (zc or not) of len bytes, resumed after short sends; waits for the
 * zero-copy notification before returning (the buffer is reusable then). */
static int zb_send(struct io_uring *ring, int sock, const uint8_t *buf, uint32_t len, bool zc)
{
    uint32_t sent = 0;
    while (sent < len) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        if (zc)
            io_uring_prep_send_zc(sqe, sock, buf + sent, len - sent, MSG_NOSIGNAL, 0);
        else
            io_uring_prep_send(sqe, sock, buf + sent, len - sent, MSG_NOSIGNAL);
        io_uring_submit(ring);
        int32_t res = 0;
        bool need_notif = false, have_res = false;
        while (!have_res || need_notif) {
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(ring, &cqe) < 0)
                return -EIO;
            if (cqe->flags & IORING_CQE_F_NOTIF) {
                need_notif = false;
            } else {
                res = cqe->res;
                have_res = true;
                need_notif = zc && (cqe->flags & IORING_CQE_F_MORE);
            }
            io_uring_cqe_seen(ring, cqe);
        }
        if (res <= 0)
            return res < 0 ? res : -EIO;
        sent += (uint32_t)res;
    }
    return 0;
}

static void bench_send(struct io_uring *ring, double seconds)
{
    printf("\n1. in-memory response -> loopback socket, one send in flight\n");
    printf("%-10s %-8s %8s %10s\n", "size", "method", "GB/s", "CPU-s/GB");
    static const uint32_t sizes[] = {4096, 16384, 65536, 262144, 1 << 20};
    uint8_t *buf = aligned_alloc(4096, 1 << 20);
    memset(buf, 'z', 1 << 20);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int zc = 0; zc <= 1; zc++) {
            pid_t reader;
            int sock = bench_connect(&reader);
            double t0 = bench_now(), c0 = bench_cpu(), t;
            uint64_t bytes = 0;
            while ((t = bench_now()) - t0 < seconds) {
                int rc = zb_send(ring, sock, buf, sizes[i], zc);
                if (rc < 0)
                    bench_die(zc ? "send_zc" : "send", -rc);
                bytes += sizes[i];
            }
            double cpu = bench_cpu() - c0, gb = (double)bytes / 1e9;
            close(sock);
            waitpid(reader, NULL, 0);
            printf("%-10u %-8s %8.2f %10.3f\n", sizes[i], zc ? "send_zc" : "send", gb / (t - t0),
                   cpu / gb);
            fflush(stdout);
        }
    }
    free(buf);
}

static void bench_write(struct io_uring *ring, const char *dir)
{
    printf("\n2. buffered file writes (page cache), 1 MiB each, 8 in flight, 1 GiB per case\n");
    printf("%-12s %8s %10s\n", "method", "GB/s", "CPU-s/GB");
    enum { DEPTH = 8, CHUNK = 1 << 20 };
    const uint64_t total = 1ULL << 30;
    uint8_t *bufs = aligned_alloc(4096, (size_t)DEPTH * CHUNK);
    memset(bufs, 'w', (size_t)DEPTH * CHUNK);
    struct iovec iov[DEPTH];
    for (int i = 0; i < DEPTH; i++)
        iov[i] = (struct iovec){bufs + (size_t)i * CHUNK, CHUNK};
    int rc = io_uring_register_buffers(ring, iov, DEPTH);
    if (rc < 0)
        bench_die("io_uring_register_buffers", -rc);
    for (int round = 0; round < 2; round++) {
        for (int fixed = 0; fixed <= 1; fixed++) {
            char path[512];
            snprintf(path, sizeof(path), "%s/zc_bench.XXXXXX", dir);
            int fd = mkstemp(path);
            if (fd < 0)
                bench_die("mkstemp", errno);
            unlink(path);
            double t0 = bench_now(), c0 = bench_cpu();
            uint64_t submitted = 0, done = 0;
            int inflight = 0;
            while (done < total) {
                while (inflight < DEPTH && submitted < total) {
                    int slot = (int)((submitted / CHUNK) % DEPTH);
                    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
                    if (fixed)
                        io_uring_prep_write_fixed(sqe, fd, iov[slot].iov_base, CHUNK, submitted,
                                                  slot);
                    else
                        io_uring_prep_write(sqe, fd, iov[slot].iov_base, CHUNK, submitted);
                    submitted += CHUNK;
                    inflight++;
                }
                io_uring_submit(ring);
                struct io_uring_cqe *cqe;
                if (io_uring_wait_cqe(ring, &cqe) < 0)
                    bench_die("wait", EIO);
                if (cqe->res != CHUNK)
                    bench_die("write", cqe->res < 0 ? -cqe->res : EIO);
                io_uring_cqe_seen(ring, cqe);
                inflight--;
                done += CHUNK;
            }
            double t = bench_now() - t0, cpu = bench_cpu() - c0, gb = (double)total / 1e9;
            close(fd);
            printf("%-12s %8.2f %10.3f%s\n", fixed ? "write_fixed" : "write", gb / t, cpu / gb,
                   round == 0 ? "  (first round: warms the page cache)" : "");
            fflush(stdout);
        }
    }
    io_uring_unregister_buffers(ring);
    free(bufs);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    signal(SIGPIPE, SIG_IGN);
    struct io_uring ring;
    int rc = io_uring_queue_init(64, &ring, 0);
    if (rc < 0)
        bench_die("io_uring_queue_init", -rc);
    bench_send(&ring, 1.5);
    bench_write(&ring, dir);
    io_uring_queue_exit(&ring);
    return 0;
}
