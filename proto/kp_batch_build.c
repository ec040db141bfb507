/* kp_batch_build.c — see kp_batch_build.h. */
#include "kp_batch_build.h"
#include "kp_batch.h"
#include "kp_crc32c.h"

static size_t varint_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    return p;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static size_t record_body_size(int32_t key_len, int32_t value_len, int64_t ts_delta,
                               int32_t offset_delta)
{
    return 1 + varint_size(ts_delta) + varint_size(offset_delta) + varint_size(key_len) +
           (key_len > 0 ? (size_t)key_len : 0) + varint_size(value_len) +
           (value_len > 0 ? (size_t)value_len : 0) + varint_size(0);
}

size_t kp_batch_record_size(int32_t key_len, int32_t value_len, int64_t timestamp_delta_ms,
                            int32_t offset_delta)
{
    size_t body = record_body_size(key_len, value_len, timestamp_delta_ms, offset_delta);
    return varint_size((int64_t)body) + body;
}

void kp_batch_builder_init(kp_batch_builder_t *b, uint8_t *buf, size_t cap,
                           int64_t base_timestamp_ms)
{
    ASSERT(cap >= KP_BATCH_HEADER_BYTES);
    b->buf = buf;
    b->cap = cap;
    b->len = KP_BATCH_HEADER_BYTES;
    b->record_count = 0;
    b->base_timestamp_ms = base_timestamp_ms;
    b->max_timestamp_ms = base_timestamp_ms;
}

int kp_batch_builder_add(kp_batch_builder_t *b, const void *key, int32_t key_len,
                         const void *value, int32_t value_len, int64_t timestamp_ms)
{
    ASSERT(key_len >= -1 && value_len >= -1);
    ASSERT((key_len <= 0 || key) && (value_len <= 0 || value));
    int64_t ts_delta = timestamp_ms - b->base_timestamp_ms;
    int32_t offset_delta = b->record_count;
    size_t body = record_body_size(key_len, value_len, ts_delta, offset_delta);
    size_t need = varint_size((int64_t)body) + body;
    if (need > b->cap - b->len || b->record_count == INT32_MAX)
        return SL_ERR_LIMIT;
    uint8_t *p = b->buf + b->len;
    p = put_varint(p, (int64_t)body);
    *p++ = 0; /* attributes */
    p = put_varint(p, ts_delta);
    p = put_varint(p, offset_delta);
    p = put_varint(p, key_len);
    if (key_len > 0) {
        memcpy(p, key, (size_t)key_len);
        p += key_len;
    }
    p = put_varint(p, value_len);
    if (value_len > 0) {
        memcpy(p, value, (size_t)value_len);
        p += value_len;
    }
    p = put_varint(p, 0); /* headers */
    ASSERT((size_t)(p - (b->buf + b->len)) == need);
    b->len += need;
    b->record_count++;
    if (timestamp_ms > b->max_timestamp_ms)
        b->max_timestamp_ms = timestamp_ms;
    return 0;
}

size_t kp_batch_builder_finish(kp_batch_builder_t *b)
{
    ASSERT(b->record_count > 0);
    uint8_t *h = b->buf;
    put_be(h + KP_BATCH_OFF_BASE_OFFSET, 0, 8);
    put_be(h + KP_BATCH_OFF_BATCH_LENGTH, (uint64_t)(b->len - KP_BATCH_LOG_OVERHEAD), 4);
    put_be(h + KP_BATCH_OFF_LEADER_EPOCH, (uint64_t)(int64_t)-1, 4);
    h[KP_BATCH_OFF_MAGIC] = KP_BATCH_MAGIC_V2;
    put_be(h + KP_BATCH_OFF_ATTRIBUTES, 0, 2);
    put_be(h + KP_BATCH_OFF_LAST_OFFSET_DELTA, (uint64_t)(b->record_count - 1), 4);
    put_be(h + KP_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)b->base_timestamp_ms, 8);
    put_be(h + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)b->max_timestamp_ms, 8);
    put_be(h + KP_BATCH_OFF_PRODUCER_ID, (uint64_t)(int64_t)-1, 8);
    put_be(h + KP_BATCH_OFF_PRODUCER_EPOCH, (uint64_t)(int64_t)-1, 2);
    put_be(h + KP_BATCH_OFF_BASE_SEQUENCE, (uint64_t)(int64_t)-1, 4);
    put_be(h + KP_BATCH_OFF_RECORDS_COUNT, (uint64_t)b->record_count, 4);
    uint32_t crc = kp_crc32c(0, h + KP_BATCH_CRC_START, b->len - KP_BATCH_CRC_START);
    put_be(h + KP_BATCH_OFF_CRC, crc, 4);
    return b->len;
}
