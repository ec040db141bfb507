/*
 * pf_cpu.h — CPU time of another process (the broker), read from /proc/<pid>/stat.
 *
 * sluice-perf reports broker CPU seconds per GB moved beside the throughput
 * (BENCHMARKS.md): on a shared machine it is the figure that travels. The
 * reading is utime + stime of the whole process (all threads), in seconds,
 * at the resolution of the kernel's clock tick (sysconf(_SC_CLK_TCK), 10 ms
 * on most systems), so short runs carry that much error.
 *
 * Stateless and thread-safe; nothing to free.
 */
#ifndef PF_CPU_H
#define PF_CPU_H

#include "sl_base.h"

#include <sys/types.h>

/* Reads utime + stime of process `pid` into *seconds. Returns 0; -errno when
 * /proc/<pid>/stat cannot be opened or read (e.g. -ENOENT: no such process);
 * SL_ERR_PROTO when its contents cannot be parsed. *seconds is unchanged on
 * failure. */
int pf_cpu_read_seconds(pid_t pid, double *seconds);

#endif /* PF_CPU_H */
