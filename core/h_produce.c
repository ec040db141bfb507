/*
 * h_produce.c — Produce (key 0), v3–9 (v0–2 advertised, answered
 * UNSUPPORTED_VERSION; KAFKA-PROTOCOL.md §1).
 *
 * Validation on the connection's shard (KAFKA-PROTOCOL.md §3): each partition
 * carries exactly one magic-2 batch whose CRC-32C matches, no control batch,
 * at most message.max.bytes, not transactional (INVALID_TXN_STATE: there is no
 * transaction coordinator yet, so no transaction can be ongoing). Valid batches
 * go to their partitions' owner shards (sl_fanout.h), which stamp the base
 * offset and append them as received, straight from the request's frame
 * buffer (no copy). The answer
 * waits for the write (acks=1), for the group-committed fdatasync (acks=-1),
 * or is never sent (acks=0 — except that an error then closes the connection,
 * so the client notices, as Kafka does).
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_fanout.h"
#include "sl_topic_config.h"
#include "kp_batch.h"
#include "kp_messages.h"
#include "st_log.h"

#include <errno.h>
#include <time.h>
#include <stdlib.h>

typedef kp_produce_request_topic_produce_data_t pr_req_topic_t;
typedef kp_produce_request_partition_produce_data_t pr_req_part_t;
typedef kp_produce_response_topic_produce_response_t pr_topic_t;
typedef kp_produce_response_partition_produce_response_t pr_part_t;

/* Idempotence errors (KAFKA-PROTOCOL.md §7). */
enum {
    KE_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KE_INVALID_PRODUCER_EPOCH = 47,
    KE_INVALID_TXN_STATE = 48,
    KE_UNKNOWN_PRODUCER_ID = 59,
    KE_INVALID_TIMESTAMP = 32,
};

typedef struct produce_item {
    /* in */
    sl_uuid_t topic_id;
    int32_t partition;
    uint8_t *batch;
    uint32_t batch_len;
    bool sync;
    bool log_append_time; /* topic has message.timestamp.type=LogAppendTime */
    /* out */
    pr_part_t *out;
    /* owner-side */
    sl_fanout_part_t *part;
    sl_shard_t *owner;
    struct st_log *log;
} produce_item_t;

typedef struct produce_state {
    kp_produce_request_t in;
    kp_produce_response_t resp;
    bool any_error;
} produce_state_t;

static void produce_appended(void *ctx, int err, int64_t base_offset)
{
    produce_item_t *it = ctx;
    if (err != 0) {
        it->out->error_code = KE_KAFKA_STORAGE_ERROR;
        it->out->error_message = kp_str_from("the partition's log could not be written");
    } else {
        it->out->error_code = KE_NONE;
        it->out->base_offset = base_offset;
        it->out->log_start_offset = st_log_start_offset(it->log);
        sl_shard_note_append(it->owner);
    }
    sl_fanout_item_done(it->owner, it->part);
}

/* Runs on the partition's owner shard. */
static void produce_on_item(sl_shard_t *owner, sl_fanout_part_t *part, void *item)
{
    produce_item_t *it = item;
    it->owner = owner;
    it->part = part;
    it->log = sl_shard_log(owner, &it->topic_id, it->partition);
    if (!it->log) {
        it->out->error_code = KE_KAFKA_STORAGE_ERROR;
        it->out->error_message = kp_str_from("the partition's log is not available");
        sl_fanout_item_done(owner, part);
        return;
    }
    if (it->log_append_time) {
        /* Stamped here, on the owner, so append times follow offset order. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        kp_batch_set_log_append_time(it->batch, it->batch_len, now_ms);
        it->out->log_append_time_ms = now_ms;
    }
    int rc = st_log_append(it->log, it->batch, it->batch_len, it->sync, produce_appended, it);
    if (rc == 0)
        return;
    if (rc == -EBUSY)
        it->out->error_code = KE_REQUEST_TIMED_OUT; /* ring saturated: retriable */
    else if (rc == SL_ERR_LIMIT)
        it->out->error_code = KE_MESSAGE_TOO_LARGE;
#ifdef ST_ERR_OUT_OF_ORDER_SEQUENCE
    /* Producer-state checks (idempotence); duplicates come back through the
     * callback with the original base offset. */
    else if (rc == ST_ERR_INVALID_PRODUCER_EPOCH)
        it->out->error_code = KE_INVALID_PRODUCER_EPOCH;
    else if (rc == ST_ERR_OUT_OF_ORDER_SEQUENCE)
        it->out->error_code = KE_OUT_OF_ORDER_SEQUENCE_NUMBER;
    else if (rc == ST_ERR_UNKNOWN_PRODUCER_ID)
        it->out->error_code = KE_UNKNOWN_PRODUCER_ID;
#endif
    else
        it->out->error_code = KE_KAFKA_STORAGE_ERROR;
    sl_fanout_item_done(owner, part);
}

static void produce_done(sl_req_t *req)
{
    produce_state_t *st = req->state;
    if (st->in.acks == 0) {
        bool failed = st->any_error;
        for (int32_t t = 0; t < st->resp.responses_count && !failed; t++)
            for (int32_t p = 0; p < st->resp.responses[t].partition_responses_count; p++)
                failed |= st->resp.responses[t].partition_responses[p].error_code != KE_NONE;
        if (failed)
            sl_req_fail_close(req, "acks=0 produce failed");
        else
            sl_req_no_response(req);
        return;
    }
    SL_RESPOND(req, produce_response, &st->resp);
}

/* Checks one partition's records; returns a Kafka error code. */
static int16_t validate_batch(sl_req_t *req, const sl_topic_meta_t *t, kp_bytes_t records,
                              kp_batch_header_t *h, const char **msg)
{
    if (records.len <= 0) {
        *msg = "a produce request must carry exactly one record batch per partition";
        return KE_INVALID_RECORD;
    }
    int rc = kp_batch_parse_header(records.ptr, (size_t)records.len, h);
    if (rc == SL_ERR_AGAIN) {
        *msg = "truncated record batch";
        return KE_CORRUPT_MESSAGE;
    }
    if (rc != 0) {
        *msg = "malformed record batch (only magic 2 is accepted)";
        return KE_CORRUPT_MESSAGE;
    }
    if (kp_batch_total_size(h) != (uint32_t)records.len) {
        *msg = "a produce request must carry exactly one record batch per partition";
        return KE_INVALID_RECORD;
    }
    if (kp_batch_verify_crc(records.ptr, h) != 0) {
        *msg = "record batch CRC-32C mismatch";
        return KE_CORRUPT_MESSAGE;
    }
    if (kp_batch_is_control(h)) {
        *msg = "clients may not write control batches";
        return KE_INVALID_RECORD;
    }
    if (kp_batch_is_transactional(h)) {
        /* No transaction coordinator yet, so no producer can have a transaction
         * ongoing; Kafka's log answers such a batch with INVALID_TXN_STATE. */
        *msg = "transactional batch without an ongoing transaction (transactions are not "
               "supported)";
        return KE_INVALID_TXN_STATE;
    }
    int codec = (int)kp_batch_codec(h);
    if (codec > 4) {
        *msg = "unknown compression codec";
        return KE_CORRUPT_MESSAGE;
    }
    if (codec == 4 && req->hdr.api_version < 7) {
        *msg = "zstd needs Produce v7 or later";
        return KE_UNSUPPORTED_COMPRESSION_TYPE;
    }
    int64_t max = sl_topic_config_long(req->shard->config, t, "max.message.bytes");
    if (records.len > max) {
        *msg = "record batch larger than max.message.bytes";
        return KE_MESSAGE_TOO_LARGE;
    }
    /* CreateTime bounds (message.timestamp.before/after.max.ms), checked on the
     * batch's base and max timestamps (Kafka checks every record; producers set
     * the base to the first record's and deltas are non-negative). */
    if (kp_batch_timestamp_type(h) == KP_TS_CREATE_TIME &&
        !sl_topic_config_is_log_append_time(req->shard->config, t)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int64_t before = sl_topic_config_long(req->shard->config, t,
                                              "message.timestamp.before.max.ms");
        int64_t after = sl_topic_config_long(req->shard->config, t,
                                             "message.timestamp.after.max.ms");
        if ((before < INT64_MAX && h->base_timestamp >= 0 && h->base_timestamp < now_ms - before) ||
            (after < INT64_MAX && h->max_timestamp > now_ms + after)) {
            *msg = "record timestamp outside message.timestamp.before.max.ms / after.max.ms";
            return KE_INVALID_TIMESTAMP;
        }
    }
    return KE_NONE;
}

void sl_handle_produce(sl_req_t *req)
{
    produce_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    if (!st) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    req->state = st;
    int16_t v = req->hdr.api_version;
    if (kp_produce_request_decode(&req->body, &req->arena, v, &st->in) != 0) {
        sl_req_fail_close(req, "malformed Produce request");
        return;
    }
    kp_produce_response_init(&st->resp);
    int32_t nt = SL_MAX(st->in.topic_data_count, 0);
    st->resp.responses = kp_arena_alloc(&req->arena, (size_t)SL_MAX(nt, 1) * sizeof(pr_topic_t));
    sl_fanout_t *fo = sl_fanout_new(req, produce_on_item, produce_done);
    if (!st->resp.responses || !fo)
        goto oom;
    st->resp.responses_count = nt;
    int16_t global_err = KE_NONE;
    if (v < 3)
        global_err = KE_UNSUPPORTED_VERSION;
    else if (st->in.acks != 0 && st->in.acks != 1 && st->in.acks != -1)
        global_err = KE_INVALID_REQUIRED_ACKS;
    const sl_meta_t *m = req->shard->meta;
    for (int32_t ti = 0; ti < nt; ti++) {
        const pr_req_topic_t *rt = &st->in.topic_data[ti];
        pr_topic_t *ot = &st->resp.responses[ti];
        kp_produce_response_topic_produce_response_init(ot);
        ot->name = rt->name;
        int32_t np = SL_MAX(rt->partition_data_count, 0);
        ot->partition_responses =
            kp_arena_alloc(&req->arena, (size_t)SL_MAX(np, 1) * sizeof(pr_part_t));
        if (!ot->partition_responses)
            goto oom;
        ot->partition_responses_count = np;
        const sl_topic_meta_t *t =
            rt->name.len > 0 ? sl_meta_find(m, rt->name.ptr, (size_t)rt->name.len) : NULL;
        for (int32_t pi = 0; pi < np; pi++) {
            const pr_req_part_t *rp = &rt->partition_data[pi];
            pr_part_t *op = &ot->partition_responses[pi];
            kp_produce_response_partition_produce_response_init(op);
            op->index = rp->index;
            op->base_offset = -1;
            op->log_append_time_ms = -1;
            op->log_start_offset = -1;
            if (global_err != KE_NONE) {
                op->error_code = global_err;
                continue;
            }
            if (!t || rp->index < 0 || rp->index >= t->partition_count) {
                op->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (sl_topic_name_internal(t->name, t->name_len)) {
                op->error_code = KE_INVALID_TOPIC_EXCEPTION;
                op->error_message = kp_str_from("Cannot append to an internal topic.");
                continue;
            }
            kp_batch_header_t h;
            const char *msg = NULL;
            int16_t err = validate_batch(req, t, rp->records, &h, &msg);
            if (err != KE_NONE) {
                op->error_code = err;
                op->error_message = kp_str_from(msg);
                continue;
            }
            produce_item_t *it = kp_arena_alloc(&req->arena, sizeof(*it));
            if (!it)
                goto oom;
            it->topic_id = t->id;
            it->partition = rp->index;
            /* The frame buffer is ours and writable: the owner stamps the base
             * offset into it in place. */
            it->batch = (uint8_t *)rp->records.ptr;
            it->batch_len = (uint32_t)rp->records.len;
            it->sync = st->in.acks == -1;
            it->log_append_time = sl_topic_config_is_log_append_time(req->shard->config, t);
            it->out = op;
            int shard = t->partitions[rp->index].shard % req->shard->broker->shard_count;
            if (sl_fanout_add(fo, shard, it) != 0)
                goto oom;
        }
    }
    sl_fanout_launch(fo);
    return;
oom:
    sl_req_fail_close(req, "produce request does not fit the request arena");
}
