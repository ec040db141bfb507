/* kp_batch.c — record batch v2: header parse, CRC, stamp, batch and record
 * iteration. See kp_batch.h for the layout and the validation rules. */
#include "sl_base.h"
#include "kp_batch.h"
#include "kp_crc32c.h"

#include <errno.h>

_Static_assert(KP_BATCH_HEADER_BYTES == KP_BATCH_OFF_RECORDS_COUNT + 4, "header layout");
_Static_assert(KP_BATCH_MIN_LENGTH == KP_BATCH_HEADER_BYTES - KP_BATCH_LOG_OVERHEAD,
               "minimum batchLength");
_Static_assert(KP_MAX_BATCH_BYTES <= INT32_MAX, "batchLength is an int32");

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

int kp_batch_parse_prefix(const uint8_t *p, size_t len, kp_batch_header_t *out)
{
    ASSERT(out);
    ASSERT(p || len == 0);
    memset(out, 0, sizeof(*out));
    if (len < KP_BATCH_LOG_OVERHEAD)
        return SL_ERR_AGAIN;
    out->base_offset = (int64_t)be64(p + KP_BATCH_OFF_BASE_OFFSET);
    out->batch_length = (int32_t)be32(p + KP_BATCH_OFF_BATCH_LENGTH);
    /* Rule 1, as early as possible: a hostile length must not make a caller wait
     * for (or allocate) bytes that will never form a batch. */
    if (out->batch_length < KP_BATCH_MIN_LENGTH ||
        (int64_t)out->batch_length > (int64_t)KP_MAX_BATCH_BYTES - KP_BATCH_LOG_OVERHEAD)
        return SL_ERR_CORRUPT;
    if (len > KP_BATCH_OFF_MAGIC) {
        out->magic = (int8_t)p[KP_BATCH_OFF_MAGIC];
        if (out->magic != KP_BATCH_MAGIC_V2) /* rule 2 */
            return SL_ERR_CORRUPT;
    }
    if (len < KP_BATCH_HEADER_BYTES)
        return SL_ERR_AGAIN;

    out->partition_leader_epoch = (int32_t)be32(p + KP_BATCH_OFF_LEADER_EPOCH);
    out->crc = be32(p + KP_BATCH_OFF_CRC);
    out->attributes = (int16_t)be16(p + KP_BATCH_OFF_ATTRIBUTES);
    out->last_offset_delta = (int32_t)be32(p + KP_BATCH_OFF_LAST_OFFSET_DELTA);
    out->base_timestamp = (int64_t)be64(p + KP_BATCH_OFF_BASE_TIMESTAMP);
    out->max_timestamp = (int64_t)be64(p + KP_BATCH_OFF_MAX_TIMESTAMP);
    out->producer_id = (int64_t)be64(p + KP_BATCH_OFF_PRODUCER_ID);
    out->producer_epoch = (int16_t)be16(p + KP_BATCH_OFF_PRODUCER_EPOCH);
    out->base_sequence = (int32_t)be32(p + KP_BATCH_OFF_BASE_SEQUENCE);
    out->records_count = (int32_t)be32(p + KP_BATCH_OFF_RECORDS_COUNT);

    if (kp_batch_codec(out) >= KP_CODEC_COUNT) /* rule 3 */
        return SL_ERR_CORRUPT;
    if (out->last_offset_delta < 0 || out->records_count < 0) /* rule 4 */
        return SL_ERR_CORRUPT;
    if ((int64_t)out->records_count > (int64_t)out->last_offset_delta + 1)
        return SL_ERR_CORRUPT;
    if (kp_batch_codec(out) == KP_CODEC_NONE && /* rule 5 */
        (int64_t)out->records_count * KP_RECORD_MIN_BYTES >
            (int64_t)out->batch_length - KP_BATCH_MIN_LENGTH)
        return SL_ERR_CORRUPT;
    if (out->base_offset > INT64_MAX - out->last_offset_delta) /* rule 6 */
        return SL_ERR_CORRUPT;
    return 0;
}

int kp_batch_parse_header(const uint8_t *p, size_t len, kp_batch_header_t *out)
{
    int rc = kp_batch_parse_prefix(p, len, out);
    if (rc != 0)
        return rc;
    return len < kp_batch_total_size(out) ? SL_ERR_AGAIN : 0;
}

int kp_batch_verify_crc(const uint8_t *p, const kp_batch_header_t *h)
{
    ASSERT(p && h);
    uint32_t total = kp_batch_total_size(h);
    ASSERT(total >= KP_BATCH_HEADER_BYTES); /* h came from a successful parse */
    uint32_t crc = kp_crc32c(0, p + KP_BATCH_CRC_START, total - KP_BATCH_CRC_START);
    return crc == h->crc ? 0 : SL_ERR_CORRUPT;
}

void kp_batch_stamp(uint8_t *p, int64_t base_offset, int32_t partition_leader_epoch)
{
    ASSERT(p);
    ASSERT(base_offset >= 0);
    put_be64(p + KP_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
    put_be32(p + KP_BATCH_OFF_LEADER_EPOCH, (uint32_t)partition_leader_epoch);
}

int kp_batch_check_produce(const kp_batch_header_t *h, bool allow_control)
{
    ASSERT(h && h->magic == KP_BATCH_MAGIC_V2);
    if (h->records_count < 1 || (int64_t)h->records_count != (int64_t)h->last_offset_delta + 1)
        return SL_ERR_CORRUPT;
    if (kp_batch_is_control(h) && !allow_control)
        return SL_ERR_CORRUPT;
    if (kp_batch_is_transactional(h) && !kp_batch_has_producer_id(h))
        return SL_ERR_CORRUPT;
    if (kp_batch_has_producer_id(h) && h->base_sequence < 0)
        return SL_ERR_CORRUPT;
    return 0;
}

/* --- batch iteration ------------------------------------------------------------ */

void kp_batch_iter_init(kp_batch_iter_t *it, const uint8_t *buf, size_t len, bool verify_crc)
{
    ASSERT(it && (buf || len == 0));
    it->buf = buf;
    it->len = len;
    it->pos = 0;
    it->verify_crc = verify_crc;
}

int kp_batch_iter_next(kp_batch_iter_t *it, kp_batch_header_t *h, const uint8_t **batch)
{
    ASSERT(it->pos <= it->len);
    if (it->pos == it->len)
        return KP_ITER_END;
    const uint8_t *p = it->buf + it->pos;
    int rc = kp_batch_parse_header(p, it->len - it->pos, h);
    if (rc != 0)
        return rc;
    if (it->verify_crc && kp_batch_verify_crc(p, h) != 0)
        return SL_ERR_CORRUPT;
    *batch = p;
    it->pos += kp_batch_total_size(h);
    return KP_ITER_BATCH;
}

/* --- varints -------------------------------------------------------------------- */

static int varlong_read(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t raw = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return SL_ERR_CORRUPT;
        uint8_t b = *p++;
        raw |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((raw >> 1) ^ (~(raw & 1) + 1));
            *pp = p;
            return 0;
        }
    }
    return SL_ERR_CORRUPT; /* more than 10 bytes */
}

static int varint_read(const uint8_t **pp, const uint8_t *end, int32_t *out)
{
    const uint8_t *p = *pp;
    uint32_t raw = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (p >= end)
            return SL_ERR_CORRUPT;
        uint8_t b = *p++;
        raw |= (uint32_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = (int32_t)((raw >> 1) ^ (~(raw & 1) + 1));
            *pp = p;
            return 0;
        }
    }
    return SL_ERR_CORRUPT; /* more than 5 bytes */
}

/* A length-prefixed field: varint length (-1 = null when allowed), then bytes that
 * must lie inside [*pp, end). */
static int bytes_read(const uint8_t **pp, const uint8_t *end, bool nullable, int32_t *len_out,
                      const uint8_t **data_out)
{
    int32_t n;
    if (varint_read(pp, end, &n) != 0)
        return SL_ERR_CORRUPT;
    if (n < 0) {
        if (n != -1 || !nullable)
            return SL_ERR_CORRUPT;
        *len_out = -1;
        *data_out = NULL;
        return 0;
    }
    if ((size_t)n > (size_t)(end - *pp))
        return SL_ERR_CORRUPT;
    *len_out = n;
    *data_out = *pp;
    *pp += n;
    return 0;
}

/* --- record iteration ----------------------------------------------------------- */

int kp_record_iter_init(kp_record_iter_t *it, const uint8_t *batch, const kp_batch_header_t *h)
{
    ASSERT(it && batch && h);
    ASSERT(kp_batch_total_size(h) >= KP_BATCH_HEADER_BYTES);
    if (kp_batch_codec(h) != KP_CODEC_NONE)
        return -ENOTSUP;
    it->p = batch + KP_BATCH_HEADER_BYTES;
    it->end = batch + kp_batch_total_size(h);
    it->remaining = h->records_count;
    it->last_offset_delta = h->last_offset_delta;
    it->prev_offset_delta = -1;
    it->base_offset = h->base_offset;
    it->base_timestamp = h->base_timestamp;
    it->log_append_time =
        kp_batch_timestamp_type(h) == KP_TS_LOG_APPEND_TIME ? h->max_timestamp : -1;
    return 0;
}

static int headers_validate(const uint8_t **pp, const uint8_t *end, int32_t count)
{
    for (int32_t i = 0; i < count; i++) {
        int32_t n;
        const uint8_t *d;
        if (bytes_read(pp, end, false, &n, &d) != 0) /* header keys are never null */
            return SL_ERR_CORRUPT;
        if (bytes_read(pp, end, true, &n, &d) != 0)
            return SL_ERR_CORRUPT;
    }
    return 0;
}

int kp_record_iter_next(kp_record_iter_t *it, kp_record_t *rec)
{
    if (it->remaining == 0)
        return it->p == it->end ? 0 : SL_ERR_CORRUPT; /* trailing bytes */
    const uint8_t *start = it->p;
    const uint8_t *p = it->p;
    int32_t length;
    if (varint_read(&p, it->end, &length) != 0)
        return SL_ERR_CORRUPT;
    if (length < KP_RECORD_MIN_BYTES - 1 || (size_t)length > (size_t)(it->end - p))
        return SL_ERR_CORRUPT;
    const uint8_t *rend = p + length; /* every field must lie inside the record */

    memset(rec, 0, sizeof(*rec));
    if (p >= rend)
        return SL_ERR_CORRUPT;
    rec->attributes = (int8_t)*p++;
    if (varlong_read(&p, rend, &rec->timestamp_delta) != 0)
        return SL_ERR_CORRUPT;
    if (varint_read(&p, rend, &rec->offset_delta) != 0)
        return SL_ERR_CORRUPT;
    if (rec->offset_delta <= it->prev_offset_delta || rec->offset_delta > it->last_offset_delta)
        return SL_ERR_CORRUPT;
    if (bytes_read(&p, rend, true, &rec->key_len, &rec->key) != 0)
        return SL_ERR_CORRUPT;
    if (bytes_read(&p, rend, true, &rec->value_len, &rec->value) != 0)
        return SL_ERR_CORRUPT;
    if (varint_read(&p, rend, &rec->header_count) != 0 || rec->header_count < 0)
        return SL_ERR_CORRUPT;
    rec->headers = p;
    if (headers_validate(&p, rend, rec->header_count) != 0)
        return SL_ERR_CORRUPT;
    if (p != rend) /* the fields must fill the record's length exactly */
        return SL_ERR_CORRUPT;
    rec->headers_bytes = (uint32_t)(p - rec->headers);

    rec->offset = it->base_offset + rec->offset_delta;
    /* Wrapping add: a hostile delta must not be undefined behaviour. */
    rec->timestamp = it->log_append_time >= 0
                         ? it->log_append_time
                         : (int64_t)((uint64_t)it->base_timestamp + (uint64_t)rec->timestamp_delta);
    rec->size_bytes = (uint32_t)(rend - start);
    it->prev_offset_delta = rec->offset_delta;
    it->p = rend;
    it->remaining--;
    return 1;
}

void kp_header_iter_init(kp_header_iter_t *it, const kp_record_t *rec)
{
    ASSERT(it && rec);
    it->p = rec->headers;
    it->end = rec->headers + rec->headers_bytes;
    it->remaining = rec->header_count;
}

int kp_header_iter_next(kp_header_iter_t *it, kp_record_header_t *out)
{
    if (it->remaining <= 0)
        return 0;
    if (bytes_read(&it->p, it->end, false, &out->key_len, &out->key) != 0)
        return SL_ERR_CORRUPT;
    if (bytes_read(&it->p, it->end, true, &out->value_len, &out->value) != 0)
        return SL_ERR_CORRUPT;
    it->remaining--;
    return 1;
}

void kp_batch_set_log_append_time(uint8_t *p, uint32_t total_size, int64_t append_time_ms)
{
    ASSERT(total_size >= KP_BATCH_HEADER_BYTES);
    uint8_t *attr = p + KP_BATCH_OFF_ATTRIBUTES;
    uint16_t attributes = (uint16_t)((uint16_t)attr[0] << 8 | attr[1]);
    attributes |= KP_BATCH_ATTR_LOG_APPEND_TIME;
    attr[0] = (uint8_t)(attributes >> 8);
    attr[1] = (uint8_t)attributes;
    put_be64(p + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)append_time_ms);
    uint32_t crc = kp_crc32c(0, p + KP_BATCH_CRC_START, total_size - KP_BATCH_CRC_START);
    put_be32(p + KP_BATCH_OFF_CRC, crc);
}
