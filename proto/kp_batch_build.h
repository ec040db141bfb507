/*
 * kp_batch_build.h — writes one uncompressed record batch v2 (magic 2) into a
 * caller's buffer: the broker's own records (group metadata and offsets in
 * __consumer_offsets) and pre-encoded load-generator batches.
 *
 * Layout written (KAFKA-PROTOCOL.md §3): the 61-byte header, then records of
 *   length varint | attributes int8 = 0 | timestampDelta varlong |
 *   offsetDelta varint | keyLength varint (-1 null) | key |
 *   valueLength varint (-1 null) | value | headerCount varint = 0
 * baseOffset 0 (stamped by the log at append), partitionLeaderEpoch -1 (stamped
 * too), producerId -1, producerEpoch -1, baseSequence -1, CreateTime.
 *
 * Invariants: a builder never writes past cap; once a record did not fit the
 * builder refuses further records and finish() still produces a valid batch of
 * the records before it. A batch must hold at least one record to be finished.
 */
#ifndef KP_BATCH_BUILD_H
#define KP_BATCH_BUILD_H

#include "sl_base.h"

typedef struct kp_batch_builder {
    uint8_t *buf; /* caller's, at least KP_BATCH_HEADER_BYTES */
    size_t cap;
    size_t len;
    int32_t record_count;
    int64_t base_timestamp_ms;
    int64_t max_timestamp_ms;
} kp_batch_builder_t;

/* Bytes one record takes in a batch (a bound exact to the byte). */
size_t kp_batch_record_size(int32_t key_len, int32_t value_len, int64_t timestamp_delta_ms,
                            int32_t offset_delta);

void kp_batch_builder_init(kp_batch_builder_t *b, uint8_t *buf, size_t cap,
                           int64_t base_timestamp_ms);
/* Appends a record; key/value NULL with length -1 are null. Returns 0, or
 * SL_ERR_LIMIT when it does not fit (nothing written). */
int kp_batch_builder_add(kp_batch_builder_t *b, const void *key, int32_t key_len,
                         const void *value, int32_t value_len, int64_t timestamp_ms);
/* Fills in the header and CRC; returns the batch's total size in bytes. */
size_t kp_batch_builder_finish(kp_batch_builder_t *b);

#endif /* KP_BATCH_BUILD_H */
