/*
 * pf_native_batch.c — see pf_native_batch.h.
 */
#include "pf_native_batch.h"
#include "pf_run.h"
#include "kp_batch.h"
#include "kp_batch_build.h"
#include "kp_crc32c.h"

#include <errno.h>
#include <stdlib.h>

size_t pf_nbatch_size(uint32_t record_count, uint32_t value_size, pf_keys_t keys)
{
    int32_t key_len = keys == PF_KEYS_NONE ? -1 : PF_NBATCH_KEY_BYTES;
    size_t total = KP_BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < record_count; i++)
        total += kp_batch_record_size(key_len, (int32_t)value_size, 0, (int32_t)i);
    return total;
}

void pf_nbatch_layout_free(pf_nbatch_layout_t *l)
{
    free(l->value_off);
    free(l->key_off);
    memset(l, 0, sizeof(*l));
}

int pf_nbatch_layout_build(pf_nbatch_layout_t *l, uint8_t *buf, size_t cap, uint32_t record_count,
                           uint32_t value_size, pf_keys_t keys)
{
    ASSERT(record_count >= 1 && record_count <= PF_NBATCH_MAX_RECORDS);
    ASSERT(value_size >= 8 && value_size <= INT32_MAX / 2);
    memset(l, 0, sizeof(*l));
    size_t need = pf_nbatch_size(record_count, value_size, keys);
    if (need > cap || need > UINT32_MAX)
        return SL_ERR_NOSPACE;
    l->record_count = record_count;
    l->value_size = value_size;
    l->keys = keys;
    l->value_off = calloc(record_count, sizeof(uint32_t));
    if (keys != PF_KEYS_NONE)
        l->key_off = calloc(record_count, sizeof(uint32_t));
    if (l->value_off == NULL || (keys != PF_KEYS_NONE && l->key_off == NULL)) {
        pf_nbatch_layout_free(l);
        return -ENOMEM;
    }
    /* The builder copies key and value from a source: an 'x' pattern. */
    uint8_t *value = malloc(value_size);
    if (value == NULL) {
        pf_nbatch_layout_free(l);
        return -ENOMEM;
    }
    memset(value, 'x', value_size);
    uint8_t key[PF_NBATCH_KEY_BYTES] = {0};
    kp_batch_builder_t b;
    kp_batch_builder_init(&b, buf, cap, 0);
    for (uint32_t i = 0; i < record_count; i++) {
        int rc =
            keys == PF_KEYS_NONE
                ? kp_batch_builder_add(&b, NULL, -1, value, (int32_t)value_size, 0)
                : kp_batch_builder_add(&b, key, PF_NBATCH_KEY_BYTES, value, (int32_t)value_size, 0);
        ASSERT(rc == 0); /* sized above */
    }
    size_t total = kp_batch_builder_finish(&b);
    free(value);
    ASSERT(total == need);
    l->total_bytes = (uint32_t)total;
    /* Find every key and value with proto's own record iterator. */
    kp_batch_header_t h;
    ASSERT(kp_batch_parse_header(buf, total, &h) == 0);
    kp_record_iter_t it;
    ASSERT(kp_record_iter_init(&it, buf, &h) == 0);
    kp_record_t rec;
    for (uint32_t i = 0; i < record_count; i++) {
        ASSERT(kp_record_iter_next(&it, &rec) == 1);
        l->value_off[i] = (uint32_t)(rec.value - buf);
        if (l->key_off != NULL)
            l->key_off[i] = (uint32_t)(rec.key - buf);
    }
    ASSERT(kp_record_iter_next(&it, &rec) == 0);
    return 0;
}

static inline void pf_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline void pf_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

uint32_t pf_nbatch_bytes(const pf_nbatch_layout_t *l, uint32_t n)
{
    ASSERT(n >= 1 && n <= l->record_count);
    if (n == l->record_count)
        return l->total_bytes;
    /* Record n starts right after record n-1's value and its headerCount
     * varint (0: one byte). */
    return l->value_off[n - 1] + l->value_size + 1;
}

uint32_t pf_nbatch_patch(uint8_t *batch, const pf_nbatch_layout_t *l, const pf_nbatch_stamp_t *s,
                         uint32_t n)
{
    ASSERT(l->record_count > 0 && l->value_off != NULL);
    ASSERT(n >= 1 && n <= l->record_count && s->stride >= 1);
    uint32_t bytes = pf_nbatch_bytes(l, n);
    pf_put_be32(batch + KP_BATCH_OFF_BATCH_LENGTH, bytes - KP_BATCH_LOG_OVERHEAD);
    pf_put_be32(batch + KP_BATCH_OFF_LAST_OFFSET_DELTA, n - 1);
    pf_put_be32(batch + KP_BATCH_OFF_RECORDS_COUNT, n);
    pf_put_be64(batch + KP_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)s->timestamp_ms);
    pf_put_be64(batch + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)s->timestamp_ms);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t g = s->g0 + (uint64_t)i * s->stride;
        int64_t rt = s->start_rt_ns;
        if (s->rate > 0)
            rt += (int64_t)pf_intended_offset_ns(g, s->rate);
        memcpy(batch + l->value_off[i], &rt, sizeof(rt));
        if (l->keys == PF_KEYS_SEQ) {
            pf_put_be64(batch + l->key_off[i], g);
        } else if (l->keys == PF_KEYS_RANDOM) {
            uint64_t x = *s->rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *s->rng = x;
            memcpy(batch + l->key_off[i], &x, sizeof(x));
        }
    }
    uint32_t crc = kp_crc32c(0, batch + KP_BATCH_CRC_START, bytes - KP_BATCH_CRC_START);
    pf_put_be32(batch + KP_BATCH_OFF_CRC, crc);
    return bytes;
}
