/*
 * pf_native_frame.c — see pf_native_frame.h.
 */
#include "pf_native_frame.h"
#include "kp_header.h"

#define PF_NFRAME_INLINE_MAX 2048 /* headers and fields of a Produce frame */

/* Writes the size placeholder and the request header. */
static void pf_nframe_head(kp_writer_t *w, int16_t api_key, int16_t version, int32_t correlation_id)
{
    kp_write_int32(w, 0);
    kp_request_header_t h = {
        .api_key = api_key,
        .api_version = version,
        .correlation_id = correlation_id,
        .client_id = kp_str_from(PF_NFRAME_CLIENT_ID),
    };
    kp_request_header_encode(w, &h, kp_request_header_version(api_key, version));
}

int pf_nframe_encode(uint8_t *buf, size_t cap, int16_t api_key, int16_t version,
                     int32_t correlation_id, const void *request)
{
    const kp_api_schema_t *schema = kp_api_schema_find(api_key);
    ASSERT(schema != NULL);
    kp_writer_t w;
    kp_writer_init(&w, buf, cap);
    pf_nframe_head(&w, api_key, version, correlation_id);
    if (schema->request.encode(&w, request, version) != 0 || kp_writer_overflowed(&w) ||
        w.len > INT32_MAX)
        return SL_ERR_NOSPACE;
    pf_nframe_set_i32(buf, (int32_t)(w.len - 4));
    return (int)w.len;
}

int pf_nframe_produce_build(uint8_t *buf, size_t cap, int16_t version, int16_t acks,
                            int32_t timeout_ms, const char *topic, int32_t partition,
                            uint32_t batch_len, pf_nframe_produce_t *out)
{
    /* Encode with the records kept out of line (kp_writer_set_ext), then lay
     * out inline head | batch space | inline tail in buf. The record pointer
     * is never read: only its length is encoded. */
    static const uint8_t placeholder;
    uint8_t inl[PF_NFRAME_INLINE_MAX];
    kp_ext_t ext;
    kp_writer_t w;
    kp_writer_init(&w, inl, sizeof(inl));
    kp_writer_set_ext(&w, &ext, 1, 1);
    pf_nframe_head(&w, KP_API_PRODUCE, version, 0);
    kp_produce_request_partition_produce_data_t pd;
    kp_produce_request_partition_produce_data_init(&pd);
    pd.index = partition;
    pd.records = (kp_bytes_t){&placeholder, (int32_t)batch_len};
    kp_produce_request_topic_produce_data_t td;
    kp_produce_request_topic_produce_data_init(&td);
    td.name = kp_str_from(topic);
    td.partition_data = &pd;
    td.partition_data_count = 1;
    kp_produce_request_t req;
    kp_produce_request_init(&req);
    req.acks = acks;
    req.timeout_ms = timeout_ms;
    req.topic_data = &td;
    req.topic_data_count = 1;
    if (kp_produce_request_encode(&w, &req, version) != 0 || kp_writer_overflowed(&w))
        return SL_ERR_NOSPACE;
    ASSERT(w.ext_count == 1 && ext.len == batch_len);
    size_t total = w.len + batch_len;
    if (total > cap || total > INT32_MAX)
        return SL_ERR_NOSPACE;
    memcpy(buf, inl, ext.at);
    memcpy(buf + ext.at + batch_len, inl + ext.at, w.len - ext.at);
    pf_nframe_set_i32(buf, (int32_t)(total - 4));
    const kp_api_desc_t *desc = kp_api_desc_find(KP_API_PRODUCE);
    bool compact = desc->flexible_min >= 0 && version >= desc->flexible_min;
    size_t prefix = compact ? kp_uvarint_size(batch_len + 1) : 4;
    ASSERT(ext.at >= prefix + 4);
    out->frame_len = (uint32_t)total;
    out->batch_off = (uint32_t)ext.at;
    out->batch_len = batch_len;
    out->partition_off = (uint32_t)(ext.at - prefix - 4);
    out->cuttable = !compact && ext.at == w.len;
    uint8_t check[4];
    pf_nframe_set_i32(check, partition);
    ASSERT(memcmp(buf + out->partition_off, check, 4) == 0);
    return (int)total;
}

int pf_nframe_fetch(uint8_t *buf, size_t cap, int16_t version, int32_t correlation_id,
                    const char *topic, const int32_t *partitions, const int64_t *offsets,
                    int32_t count, int32_t max_wait_ms, int32_t max_bytes,
                    int32_t partition_max_bytes, kp_fetch_request_fetch_partition_t *scratch)
{
    ASSERT(count >= 1);
    for (int32_t i = 0; i < count; i++) {
        kp_fetch_request_fetch_partition_init(&scratch[i]);
        scratch[i].partition = partitions[i];
        scratch[i].fetch_offset = offsets[i];
        scratch[i].partition_max_bytes = partition_max_bytes;
    }
    kp_fetch_request_fetch_topic_t t;
    kp_fetch_request_fetch_topic_init(&t);
    t.topic = kp_str_from(topic);
    t.partitions = scratch;
    t.partitions_count = count;
    kp_fetch_request_t req;
    kp_fetch_request_init(&req);
    req.replica_id = -1;
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = max_bytes;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1; /* full fetch, no session (KIP-227) */
    req.topics = &t;
    req.topics_count = 1;
    return pf_nframe_encode(buf, cap, KP_API_FETCH, version, correlation_id, &req);
}
