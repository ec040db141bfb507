/*
 * kp_batch.h — Kafka record batch v2 (magic 2), parsed only as far as the broker
 * needs (ARCHITECTURE.md §3): header fields, the CRC-32C check, stamping of the
 * fields outside the CRC, iteration over concatenated batches, and record-level
 * iteration of UNcompressed batches.
 *
 * Decompression is a later issue: record iteration of a compressed batch returns
 * -ENOTSUP; the header, CRC and batch iterator work on every codec.
 *
 * Ownership and threading
 *   Pure functions over caller buffers; nothing is allocated or retained. Record
 *   and header views (kp_record_t, kp_record_header_t) point into the caller's
 *   batch and live as long as it does. Safe from any thread.
 *
 * Batch layout (big-endian; KAFKA-PROTOCOL.md §3, DefaultRecordBatch)
 *
 *   offset size field                 notes
 *   ------ ---- --------------------- ------------------------------------------------
 *        0    8 baseOffset            stamped by the broker (kp_batch_stamp)
 *        8    4 batchLength           bytes after this field; total = 12 + batchLength
 *       12    4 partitionLeaderEpoch  stamped by the broker; outside the CRC
 *       16    1 magic                 2
 *       17    4 crc                   CRC-32C of bytes [21, total)
 *       21    2 attributes            bits 0-2 codec, 3 timestamp type (1 = LogAppendTime),
 *                                     4 transactional, 5 control, 6 delete horizon
 *       23    4 lastOffsetDelta
 *       27    8 baseTimestamp
 *       35    8 maxTimestamp
 *       43    8 producerId            -1 if none
 *       51    2 producerEpoch
 *       53    4 baseSequence
 *       57    4 recordsCount
 *       61    . records               one block, compressed if codec != 0
 *
 * Record layout (uncompressed; varints are zig-zag, as Kafka's ByteUtils)
 *
 *   length varint (bytes that follow) | attributes int8 | timestampDelta varlong |
 *   offsetDelta varint | keyLength varint (-1 = null) | key | valueLength varint
 *   (-1 = null) | value | headerCount varint | headers: keyLength varint (>= 0) |
 *   key | valueLength varint (-1 = null) | value
 *
 * Validation (what kp_batch_parse_header() rejects as SL_ERR_CORRUPT; Kafka's
 * DefaultRecordBatch.ensureValid and LogValidator are the reference)
 *   1. batchLength < 49 (a header without records) or total > KP_MAX_BATCH_BYTES.
 *   2. magic != 2.
 *   3. codec > 4 (zstd).
 *   4. lastOffsetDelta < 0, recordsCount < 0, recordsCount > lastOffsetDelta + 1
 *      (compaction may leave fewer records than the offset range, never more).
 *   5. Uncompressed: recordsCount * 7 > record bytes (a record is at least 7 bytes).
 *   6. baseOffset + lastOffsetDelta overflows int64.
 *   The CRC is checked separately (kp_batch_verify_crc) because the broker checks it
 *   once per produced batch and recovery once per stored batch, never twice.
 *   Produce requests add the stricter client-batch rules of kp_batch_check_produce().
 */
#ifndef KP_BATCH_H
#define KP_BATCH_H

#include "sl_base.h"
#include "sl_limits.h"

/* --- layout constants ------------------------------------------------------- */
#define KP_BATCH_OFF_BASE_OFFSET 0
#define KP_BATCH_OFF_BATCH_LENGTH 8
#define KP_BATCH_OFF_LEADER_EPOCH 12
#define KP_BATCH_OFF_MAGIC 16
#define KP_BATCH_OFF_CRC 17
#define KP_BATCH_OFF_ATTRIBUTES 21
#define KP_BATCH_OFF_LAST_OFFSET_DELTA 23
#define KP_BATCH_OFF_BASE_TIMESTAMP 27
#define KP_BATCH_OFF_MAX_TIMESTAMP 35
#define KP_BATCH_OFF_PRODUCER_ID 43
#define KP_BATCH_OFF_PRODUCER_EPOCH 51
#define KP_BATCH_OFF_BASE_SEQUENCE 53
#define KP_BATCH_OFF_RECORDS_COUNT 57
#define KP_BATCH_HEADER_BYTES 61 /* RECORD_BATCH_OVERHEAD */
#define KP_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength: not counted in batchLength */
#define KP_BATCH_MIN_LENGTH 49   /* batchLength of a batch without records */
#define KP_BATCH_CRC_START KP_BATCH_OFF_ATTRIBUTES
#define KP_BATCH_MAGIC_V2 2
#define KP_RECORD_MIN_BYTES 7 /* length, attributes, 3 deltas/lengths, headerCount */

#define KP_BATCH_ATTR_CODEC_MASK 0x07
#define KP_BATCH_ATTR_LOG_APPEND_TIME 0x08
#define KP_BATCH_ATTR_TRANSACTIONAL 0x10
#define KP_BATCH_ATTR_CONTROL 0x20
#define KP_BATCH_ATTR_DELETE_HORIZON 0x40

typedef enum {
    KP_CODEC_NONE = 0,
    KP_CODEC_GZIP = 1,
    KP_CODEC_SNAPPY = 2,
    KP_CODEC_LZ4 = 3,
    KP_CODEC_ZSTD = 4,
    KP_CODEC_COUNT
} kp_codec_t;

typedef enum { KP_TS_CREATE_TIME = 0, KP_TS_LOG_APPEND_TIME = 1 } kp_timestamp_type_t;

/* Every header field, host byte order. */
typedef struct kp_batch_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
} kp_batch_header_t;

static inline kp_codec_t kp_batch_codec(const kp_batch_header_t *h)
{
    return (kp_codec_t)(h->attributes & KP_BATCH_ATTR_CODEC_MASK);
}
static inline bool kp_batch_is_transactional(const kp_batch_header_t *h)
{
    return (h->attributes & KP_BATCH_ATTR_TRANSACTIONAL) != 0;
}
static inline bool kp_batch_is_control(const kp_batch_header_t *h)
{
    return (h->attributes & KP_BATCH_ATTR_CONTROL) != 0;
}
static inline bool kp_batch_has_delete_horizon(const kp_batch_header_t *h)
{
    return (h->attributes & KP_BATCH_ATTR_DELETE_HORIZON) != 0;
}
static inline kp_timestamp_type_t kp_batch_timestamp_type(const kp_batch_header_t *h)
{
    return (h->attributes & KP_BATCH_ATTR_LOG_APPEND_TIME) ? KP_TS_LOG_APPEND_TIME
                                                           : KP_TS_CREATE_TIME;
}
/* Total bytes of the batch on the wire and on disk: 12 + batchLength. Only meaningful
 * once batch_length was read (>= 12 bytes seen); 0 before. */
static inline uint32_t kp_batch_total_size(const kp_batch_header_t *h)
{
    return h->batch_length > 0 ? (uint32_t)h->batch_length + KP_BATCH_LOG_OVERHEAD : 0;
}
static inline int64_t kp_batch_last_offset(const kp_batch_header_t *h)
{
    return h->base_offset + h->last_offset_delta;
}
static inline bool kp_batch_has_producer_id(const kp_batch_header_t *h)
{
    return h->producer_id >= 0;
}

/* Reads and checks the header of the batch at p (rules 1-6 above) and requires the
 * whole batch to be present.
 * Returns 0 (*out complete), SL_ERR_AGAIN when more bytes are needed, or
 * SL_ERR_CORRUPT. On SL_ERR_AGAIN the needed size is reported: with >= 12 bytes
 * out->batch_length is filled (kp_batch_total_size(out) is the need; 0 if < 12
 * bytes), and with >= 61 bytes every field is filled and checked. Hostile lengths
 * are rejected as soon as the 12 bytes holding them are present. */
int kp_batch_parse_header(const uint8_t *p, size_t len, kp_batch_header_t *out);

/* Like kp_batch_parse_header() but needs only the 61 header bytes: returns 0 once
 * the header is present and sane, whether or not the records follow. Used by
 * scans that read headers alone (storage index rebuild, fetch positioning). */
int kp_batch_parse_prefix(const uint8_t *p, size_t len, kp_batch_header_t *out);

/* CRC-32C over [21, total) against h->crc. p holds the whole batch (as checked by
 * kp_batch_parse_header). Returns 0 or SL_ERR_CORRUPT. */
int kp_batch_verify_crc(const uint8_t *p, const kp_batch_header_t *h);

/* Writes baseOffset and partitionLeaderEpoch, the two fields outside the CRC, so
 * the CRC stays valid. p holds at least the 61 header bytes. Cannot fail. */
void kp_batch_stamp(uint8_t *p, int64_t base_offset, int32_t partition_leader_epoch);

/* Turns a whole batch of total_size bytes into a LogAppendTime batch (topics
 * with message.timestamp.type=LogAppendTime): sets the timestamp-type bit and
 * maxTimestamp = append_time_ms, then recomputes the CRC-32C, since both lie
 * inside the checksummed range. Consumers then read every record's timestamp
 * as append_time_ms, as with Kafka. */
void kp_batch_set_log_append_time(uint8_t *p, uint32_t total_size, int64_t append_time_ms);

/* Stricter rules for a batch arriving in a Produce request (Kafka's LogValidator):
 * recordsCount >= 1 and recordsCount == lastOffsetDelta + 1 (a client batch has no
 * gaps), not a control batch unless allow_control (coordinator-written markers),
 * a transactional batch carries a producer id, and a batch with a producer id has
 * baseSequence >= 0. Returns 0 or SL_ERR_CORRUPT (the broker answers INVALID_RECORD). */
int kp_batch_check_produce(const kp_batch_header_t *h, bool allow_control);

/* --- iteration over concatenated batches ------------------------------------- */

/* Walks a buffer of concatenated batches (a segment file read into memory, a fetch
 * response, a produce payload). Never reads outside [buf, buf + len). */
typedef struct kp_batch_iter {
    const uint8_t *buf;
    size_t len;
    size_t pos;      /* offset of the next batch in buf */
    bool verify_crc; /* check every batch's CRC */
} kp_batch_iter_t;

#define KP_ITER_END 0   /* pos == len: every byte was a complete, valid batch */
#define KP_ITER_BATCH 1 /* *h and *batch describe the batch at the old pos */

void kp_batch_iter_init(kp_batch_iter_t *it, const uint8_t *buf, size_t len, bool verify_crc);
/* Returns KP_ITER_BATCH and advances past it; KP_ITER_END; SL_ERR_AGAIN for a
 * partial tail starting at it->pos (an incomplete batch: *h says how much is needed
 * when >= 12 bytes are there); or SL_ERR_CORRUPT for invalid bytes at it->pos (bad
 * header or, with verify_crc, bad CRC). it->pos does not move on the last three, so
 * a caller truncating at the first invalid byte truncates at it->pos. */
int kp_batch_iter_next(kp_batch_iter_t *it, kp_batch_header_t *h, const uint8_t **batch);

/* --- records of an uncompressed batch ---------------------------------------- */

typedef struct kp_record {
    int64_t offset;    /* base_offset + offset_delta */
    int64_t timestamp; /* base_timestamp + delta, or max_timestamp for LogAppendTime */
    int64_t timestamp_delta;
    int32_t offset_delta;
    int8_t attributes;
    int32_t key_len; /* -1: null key (key == NULL) */
    const uint8_t *key;
    int32_t value_len; /* -1: null value (value == NULL) */
    const uint8_t *value;
    int32_t header_count;
    const uint8_t *headers; /* raw, already validated: walk with kp_header_iter */
    uint32_t headers_bytes;
    uint32_t size_bytes; /* the whole record, its length varint included */
} kp_record_t;

typedef struct kp_record_iter {
    const uint8_t *p;
    const uint8_t *end;
    int32_t remaining; /* records still expected (from recordsCount) */
    int32_t last_offset_delta;
    int32_t prev_offset_delta;
    int64_t base_offset;
    int64_t base_timestamp;
    int64_t log_append_time; /* -1 unless the batch uses LogAppendTime */
} kp_record_iter_t;

/* Prepares iteration of the records of the complete batch at `batch` (h from
 * kp_batch_parse_header). Returns 0, or -ENOTSUP for a compressed batch. */
int kp_record_iter_init(kp_record_iter_t *it, const uint8_t *batch, const kp_batch_header_t *h);
/* Returns 1 with *rec filled (views into the batch), 0 after the last record (when
 * exactly recordsCount records consumed exactly the batch's bytes), or
 * SL_ERR_CORRUPT: a varint running past its record or over its width, a negative
 * or overlong length, a record whose fields do not fill its length exactly, offset
 * deltas not increasing or beyond lastOffsetDelta, a null or negative header key,
 * or bytes left over after the last record. Headers are validated here, so header
 * iteration of a returned record cannot fail. */
int kp_record_iter_next(kp_record_iter_t *it, kp_record_t *rec);

typedef struct kp_record_header {
    int32_t key_len;
    const uint8_t *key;
    int32_t value_len; /* -1: null value */
    const uint8_t *value;
} kp_record_header_t;

typedef struct kp_header_iter {
    const uint8_t *p;
    const uint8_t *end;
    int32_t remaining;
} kp_header_iter_t;

void kp_header_iter_init(kp_header_iter_t *it, const kp_record_t *rec);
/* Returns 1 with *out filled, 0 after the last header. (SL_ERR_CORRUPT is only
 * possible for headers that did not come from kp_record_iter_next.) */
int kp_header_iter_next(kp_header_iter_t *it, kp_record_header_t *out);

#endif /* KP_BATCH_H */
