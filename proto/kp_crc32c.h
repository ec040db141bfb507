/*
 * kp_crc32c.h — CRC-32C (Castagnoli), the checksum of record batch v2, of
 * producer-state snapshots and of sluice's own metadata log records.
 *
 * Purpose
 *   One function, kp_crc32c(), with the standard init/xorout semantics of the
 *   CRC-32C/iSCSI catalogue entry (reflected polynomial 0x82F63B78, init and
 *   xorout 0xFFFFFFFF): kp_crc32c(0, "123456789", 9) == 0xE3069283. Chaining
 *   works: kp_crc32c(kp_crc32c(0, a, n), b, m) == kp_crc32c(0, a||b, n + m).
 *
 * Implementations (picked once, at the first call, by CPU detection)
 *   SSE42_PCLMUL  the SSE4.2 `crc32` instruction on three interleaved streams
 *                 (its latency is 3 cycles, its throughput 1 per cycle, so three
 *                 independent streams keep the unit busy); the three partial CRCs
 *                 are combined with one carry-less multiply each (PCLMULQDQ).
 *                 ~8 bytes per cycle. Used for buffers of 768 bytes and more;
 *                 shorter tails run on one stream.
 *   SSE42         one stream of `crc32` (no PCLMUL on the CPU): ~1/3 of the above.
 *   TABLE         portable slicing-by-8 tables (8 KiB, built once): ~1-2 GB/s.
 *
 * Ownership and threading
 *   Pure functions over caller memory; safe from any thread. The first call
 *   resolves the implementation and builds the table (pthread_once).
 *
 * Invariants
 *   Every implementation returns bit-identical results for every length and
 *   alignment (tests/unit/test_proto_crc32c.c checks them against each other).
 */
#ifndef KP_CRC32C_H
#define KP_CRC32C_H

#include "sl_base.h"

/* Continues the CRC-32C `crc` (0 to start) over buf[0..len). Cannot fail. */
uint32_t kp_crc32c(uint32_t crc, const void *buf, size_t len);

typedef enum {
    KP_CRC32C_TABLE = 0,
    KP_CRC32C_SSE42,
    KP_CRC32C_SSE42_PCLMUL,
    KP_CRC32C_IMPL_COUNT
} kp_crc32c_impl_t;

/* The implementation kp_crc32c() uses on this CPU. */
kp_crc32c_impl_t kp_crc32c_impl(void);
/* Human-readable name of an implementation ("table", "sse4.2", "sse4.2+pclmul 3-way"). */
const char *kp_crc32c_impl_name(kp_crc32c_impl_t impl);
/* Whether this CPU can run impl (TABLE always can). */
bool kp_crc32c_impl_supported(kp_crc32c_impl_t impl);
/* kp_crc32c() through one named implementation: for tests and benchmarks.
 * impl must be supported (asserted). */
uint32_t kp_crc32c_with(kp_crc32c_impl_t impl, uint32_t crc, const void *buf, size_t len);

#endif /* KP_CRC32C_H */
