/*
 * bench_util.h — what the stand-alone measurement programs in perf/bench/ share:
 * clocks, this process's CPU time (its io-wq workers are threads of it), and a
 * loopback TCP connection whose reading side is a child process draining it (so
 * the reader's CPU is not counted). Header-only: each program is built alone with
 * one gcc line.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double bench_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline void bench_die(const char *what, int err)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(err));
    exit(1);
}

/* A connected loopback pair: returns the serving side; *reader is the child
 * that reads the other side until EOF (waitpid it after closing). */
static inline int bench_connect(pid_t *reader)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0)
        bench_die("listen", errno);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
            _exit(1);
        static char buf[1 << 20];
        while (read(c, buf, sizeof(buf)) > 0) {
        }
        _exit(0);
    }
    int s = accept(ls, NULL, NULL);
    if (s < 0)
        bench_die("accept", errno);
    close(ls);
    *reader = pid;
    return s;
}

#endif /* BENCH_UTIL_H */
