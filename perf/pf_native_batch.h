/*
 * pf_native_batch.h — pre-encoded record batches of the native engine.
 *
 * A batch template is built once (kp_batch_build.h: magic 2, uncompressed,
 * CreateTime, producerId -1) with `record_count` records of the same shape:
 * key null or 8 bytes, value `value_size` bytes, timestampDelta 0. Building
 * it records where each record's key and value lie (pf_nbatch_layout_t), so
 * that a send rewrites only what changes and then the CRC:
 *
 *   what                      where                        patched by
 *   ------------------------  ---------------------------  ----------------------
 *   baseTimestamp, maxTimest  header offsets 27 and 35     pf_nbatch_patch (ms)
 *   intended send time        value[0..8) of every record  pf_nbatch_patch
 *                             (CLOCK_REALTIME ns, host order; pf_run.h)
 *   key                       key[0..8) (keys random/seq)  pf_nbatch_patch
 *   crc                       header offset 17, over       pf_nbatch_patch
 *                             [21, total)
 *
 * Every record's timestamp is baseTimestamp (delta 0), so patching never
 * changes a varint's length and the layout stays valid for every send.
 * Bytes of the value after the first 8 are 'x'.
 *
 * Cutting: the first n records of the template are byte for byte the records
 * of an n-record batch (same offset deltas), so a send of n <= record_count
 * records patches batchLength (offset 8), lastOffsetDelta (23) and
 * recordsCount (57) too and checksums only [21, pf_nbatch_bytes(l, n)).
 *
 * Ownership: the layout's offset array is allocated by pf_nbatch_layout_build
 * and freed by pf_nbatch_layout_free; the batch bytes live in the caller's
 * buffer (inside a pre-built Produce frame, pf_native_frame.h). Pure
 * functions otherwise, usable from any thread on distinct buffers.
 */
#ifndef PF_NATIVE_BATCH_H
#define PF_NATIVE_BATCH_H

#include "sl_base.h"
#include "pf_report.h"

#define PF_NBATCH_MAX_RECORDS 1000000 /* records per batch */
#define PF_NBATCH_KEY_BYTES 8

typedef struct pf_nbatch_layout {
    uint32_t record_count;
    uint32_t value_size;  /* >= 8 */
    pf_keys_t keys;       /* PF_KEYS_NONE: null keys */
    uint32_t total_bytes; /* of the whole batch */
    uint32_t *value_off;  /* record i's value starts at batch + value_off[i] */
    uint32_t *key_off;    /* record i's key (keys != NONE), or NULL */
} pf_nbatch_layout_t;

/* The exact size of such a batch, for sizing buffers. */
size_t pf_nbatch_size(uint32_t record_count, uint32_t value_size, pf_keys_t keys);

/* Builds the batch into buf[0..cap) and fills l. record_count in
 * 1..PF_NBATCH_MAX_RECORDS, value_size >= 8 (asserted). Returns 0, -ENOMEM,
 * or SL_ERR_NOSPACE when cap < pf_nbatch_size() (nothing usable written). */
int pf_nbatch_layout_build(pf_nbatch_layout_t *l, uint8_t *buf, size_t cap, uint32_t record_count,
                           uint32_t value_size, pf_keys_t keys);
void pf_nbatch_layout_free(pf_nbatch_layout_t *l);

/* What one send stamps into the batch. Record i of the batch is record
 * g = g0 + i * stride of the run (stride >= 1: one thread of T takes every
 * T-th record): its intended time is start_rt_ns + g / rate seconds (rate >
 * 0) or start_rt_ns (rate 0); timestamp_ms is the batch timestamp; keys: seq
 * writes g big-endian, random draws from *rng (xorshift64). */
typedef struct pf_nbatch_stamp {
    uint64_t g0;
    uint64_t stride;
    uint64_t rate;
    int64_t start_rt_ns;
    int64_t timestamp_ms;
    uint64_t *rng;
} pf_nbatch_stamp_t;

/* Bytes of the batch cut to its first n records, 1 <= n <= record_count. */
uint32_t pf_nbatch_bytes(const pf_nbatch_layout_t *l, uint32_t n);

/* Cuts the batch at `batch` (built with l) to its first n records (1 <= n <=
 * record_count, asserted), rewrites timestamps, send times and keys of those
 * records, then the CRC-32C. Returns the batch's bytes (pf_nbatch_bytes). */
uint32_t pf_nbatch_patch(uint8_t *batch, const pf_nbatch_layout_t *l, const pf_nbatch_stamp_t *s,
                         uint32_t n);

/* Key + value bytes of the batch's records (what throughput counts). */
static inline uint64_t pf_nbatch_payload_bytes(const pf_nbatch_layout_t *l)
{
    uint32_t key = l->keys == PF_KEYS_NONE ? 0 : PF_NBATCH_KEY_BYTES;
    return (uint64_t)l->record_count * (key + l->value_size);
}

#endif /* PF_NATIVE_BATCH_H */
