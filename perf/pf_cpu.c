/*
 * pf_cpu.c — see pf_cpu.h.
 *
 * /proc/<pid>/stat is "pid (comm) state ppid ..." where comm may itself hold
 * spaces and parentheses, so the fields are counted from the LAST ')'.
 * After it, field 3 (state) is the first; utime and stime are fields 14 and
 * 15 (proc(5)), i.e. the 12th and 13th after state.
 */
#include "pf_cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define PF_CPU_STAT_BYTES 4096 /* the line is a few hundred bytes; comm is <= 64 */

int pf_cpu_read_seconds(pid_t pid, double *seconds)
{
    ASSERT(seconds != NULL);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[PF_CPU_STAT_BYTES];
    ssize_t n;
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    int saved_errno = errno;
    close(fd);
    if (n < 0)
        return -saved_errno;
    buf[n] = '\0';

    char *p = strrchr(buf, ')');
    if (p == NULL)
        return SL_ERR_PROTO;
    p++;
    unsigned long long utime = 0, stime = 0;
    /* Field 3 (state) onward: skip 11 fields (3..13), then read 14 and 15. */
    for (int field = 3; field <= 15; field++) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return SL_ERR_PROTO;
        char *end = p;
        if (field == 14 || field == 15) {
            errno = 0;
            unsigned long long v = strtoull(p, &end, 10);
            if (errno != 0 || end == p)
                return SL_ERR_PROTO;
            if (field == 14)
                utime = v;
            else
                stime = v;
        } else {
            while (*end != ' ' && *end != '\0')
                end++;
        }
        p = end;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0)
        return SL_ERR_PROTO;
    *seconds = (double)(utime + stime) / (double)ticks;
    return 0;
}
