/*
 * pf_native_parse.c — see pf_native_parse.h.
 */
#include "pf_native_parse.h"
#include "kp_batch.h"
#include "kp_header.h"

typedef struct {
    int16_t code;
    const char *name;
} pf_nerror_t;

/* The codes a Produce or Fetch can answer with (Kafka's Errors.java). */
static const pf_nerror_t pf_nerrors[] = {
    {-1, "UNKNOWN_SERVER_ERROR"},
    {0, "NONE"},
    {1, "OFFSET_OUT_OF_RANGE"},
    {2, "CORRUPT_MESSAGE"},
    {3, "UNKNOWN_TOPIC_OR_PARTITION"},
    {4, "INVALID_FETCH_SIZE"},
    {5, "LEADER_NOT_AVAILABLE"},
    {6, "NOT_LEADER_OR_FOLLOWER"},
    {7, "REQUEST_TIMED_OUT"},
    {10, "MESSAGE_TOO_LARGE"},
    {17, "INVALID_TOPIC_EXCEPTION"},
    {18, "RECORD_LIST_TOO_LARGE"},
    {19, "NOT_ENOUGH_REPLICAS"},
    {20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"},
    {21, "INVALID_REQUIRED_ACKS"},
    {29, "TOPIC_AUTHORIZATION_FAILED"},
    {35, "UNSUPPORTED_VERSION"},
    {36, "TOPIC_ALREADY_EXISTS"},
    {37, "INVALID_PARTITIONS"},
    {38, "INVALID_REPLICATION_FACTOR"},
    {42, "INVALID_REQUEST"},
    {43, "UNSUPPORTED_FOR_MESSAGE_FORMAT"},
    {45, "OUT_OF_ORDER_SEQUENCE_NUMBER"},
    {46, "DUPLICATE_SEQUENCE_NUMBER"},
    {56, "KAFKA_STORAGE_ERROR"},
    {74, "FENCED_LEADER_EPOCH"},
    {75, "UNKNOWN_LEADER_EPOCH"},
    {76, "UNSUPPORTED_COMPRESSION_TYPE"},
    {87, "INVALID_RECORD"},
    {100, "UNKNOWN_TOPIC_ID"},
};

const char *pf_nerror_name(int16_t code)
{
    for (size_t i = 0; i < SL_ARRAY_SIZE(pf_nerrors); i++)
        if (pf_nerrors[i].code == code)
            return pf_nerrors[i].name;
    return "UNKNOWN_ERROR_CODE";
}

int pf_nparse_header(const uint8_t *body, size_t len, int16_t api_key, int16_t version,
                     int32_t *correlation_id, kp_reader_t *r)
{
    kp_reader_init(r, body, len);
    return kp_response_header_decode(r, kp_response_header_version(api_key, version),
                                     correlation_id) == 0
               ? 0
               : SL_ERR_PROTO;
}

int pf_nparse_produce(kp_reader_t *r, kp_arena_t *a, int16_t version, pf_nproduce_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->error_partition = -1;
    kp_produce_response_t resp;
    int rc = kp_produce_response_decode(r, a, version, &resp);
    if (rc != 0)
        return rc == SL_ERR_LIMIT ? SL_ERR_LIMIT : SL_ERR_PROTO;
    out->throttle_time_ms = resp.throttle_time_ms;
    for (int32_t t = 0; t < resp.responses_count; t++) {
        const kp_produce_response_topic_produce_response_t *tr = &resp.responses[t];
        for (int32_t p = 0; p < tr->partition_responses_count; p++) {
            const kp_produce_response_partition_produce_response_t *pr =
                &tr->partition_responses[p];
            out->partitions++;
            if (pr->error_code != 0 && out->error_code == 0) {
                out->error_code = pr->error_code;
                out->error_partition = pr->index;
            }
        }
    }
    return 0;
}

int pf_nparse_fetch(kp_reader_t *r, kp_arena_t *a, int16_t version, kp_fetch_response_t *out)
{
    int rc = kp_fetch_response_decode(r, a, version, out);
    if (rc != 0)
        return rc == SL_ERR_LIMIT ? SL_ERR_LIMIT : SL_ERR_PROTO;
    return 0;
}

int pf_nrecords_walk(const uint8_t *p, size_t len, int64_t min_offset, bool check_crc,
                     pf_nwalk_value_fn value_fn, void *ctx, pf_nwalk_t *out)
{
    memset(out, 0, sizeof(*out));
    out->next_offset = min_offset;
    if (len == 0)
        return 0;
    kp_batch_iter_t it;
    kp_batch_iter_init(&it, p, len, check_crc);
    for (;;) {
        kp_batch_header_t h;
        const uint8_t *batch;
        int rc = kp_batch_iter_next(&it, &h, &batch);
        if (rc == KP_ITER_END)
            return 0;
        if (rc == SL_ERR_AGAIN) {
            out->truncated = true;
            return 0;
        }
        if (rc != KP_ITER_BATCH)
            return SL_ERR_CORRUPT;
        int64_t last = kp_batch_last_offset(&h);
        if (last < min_offset) /* wholly before what was asked: skip */
            continue;
        out->batches++;
        if (last + 1 > out->next_offset)
            out->next_offset = last + 1;
        if (kp_batch_is_control(&h))
            continue;
        kp_record_iter_t ri;
        if (kp_record_iter_init(&ri, batch, &h) != 0) {
            /* Compressed: count from the header, bytes unknown. */
            if (h.base_offset >= min_offset)
                out->records += (uint64_t)h.records_count;
            continue;
        }
        kp_record_t rec;
        for (;;) {
            int rr = kp_record_iter_next(&ri, &rec);
            if (rr == 0)
                break;
            if (rr != 1)
                return SL_ERR_CORRUPT;
            if (rec.offset < min_offset)
                continue;
            out->records++;
            out->bytes += (uint64_t)SL_MAX(rec.key_len, 0) + (uint64_t)SL_MAX(rec.value_len, 0);
            if (value_fn != NULL)
                value_fn(ctx, rec.value, rec.value_len);
        }
    }
}
