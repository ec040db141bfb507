/*
 * sl_base.h — the few things every sluice translation unit needs: assertions,
 * branch hints, array sizing, and the poisoning of unsafe libc calls.
 *
 * Assertions come in two tiers (STYLE.md §5):
 *   ASSERT(x)        always on; for invariants of our own code. Cheap.
 *   DEBUG_ASSERT(x)  only in debug builds (NDEBUG unset); for full checkers.
 * Never assert on bytes that came from the network or the disk: those return
 * an error code and the broker keeps serving.
 */
#ifndef SL_BASE_H
#define SL_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define SL_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define SL_CACHELINE 64

/* Return codes (STYLE.md §3): 0 is success, -errno a system failure, and these
 * for the world's bytes. They sit below -4095 so they never collide with errno. */
#define SL_ERR_AGAIN (-5001)   /* need more bytes: call again with more input */
#define SL_ERR_PROTO (-5002)   /* malformed or hostile protocol bytes */
#define SL_ERR_CORRUPT (-5003) /* corrupt bytes on disk or in a batch (bad CRC etc.) */
#define SL_ERR_LIMIT (-5004)   /* a named limit (sl_limits.h) was exceeded */
#define SL_ERR_NOSPACE (-5005) /* output buffer too small */
#define SL_ERR_RANGE (-5006)   /* an offset or index outside what exists */

/* Prints file:line and the failed expression, then aborts. */
void sl_assert_fail(const char *expr, const char *file, int line, const char *func)
    __attribute__((noreturn, cold));

#define ASSERT(x)                                                                          \
    do {                                                                                   \
        if (SL_UNLIKELY(!(x)))                                                             \
            sl_assert_fail(#x, __FILE__, __LINE__, __func__);                              \
    } while (0)

#ifdef NDEBUG
#define DEBUG_ASSERT(x) ((void)0)
#else
#define DEBUG_ASSERT(x) ASSERT(x)
#endif

/* Poisoned: use snprintf / memcpy with explicit sizes. The system headers are
 * included first so their own declarations do not trip the poison. */
#include <string.h>
#include <stdio.h>
#pragma GCC poison strcpy strcat sprintf gets vsprintf

#endif /* SL_BASE_H */
