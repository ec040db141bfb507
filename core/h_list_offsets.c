/*
 * h_list_offsets.c — ListOffsets (key 2), v1–7.
 *
 * Per partition, on its owner shard: timestamp -2 (earliest) gives the log
 * start offset, -1 (latest) the high watermark (= last stable offset until
 * transactions exist, so read_committed gets the same), -3 (v7+, KIP-734) the
 * record with the largest timestamp (st_log_max_timestamp), and a real
 * timestamp the first record at or after it (st_log_offset_for_timestamp).
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_fanout.h"
#include "kp_messages.h"
#include "st_log.h"

typedef kp_list_offsets_request_list_offsets_topic_t lo_req_topic_t;
typedef kp_list_offsets_request_list_offsets_partition_t lo_req_part_t;
typedef kp_list_offsets_response_list_offsets_topic_response_t lo_topic_t;
typedef kp_list_offsets_response_list_offsets_partition_response_t lo_part_t;

typedef struct lo_item {
    sl_uuid_t topic_id;
    int32_t partition;
    int64_t timestamp;
    lo_part_t *out; /* written by the owner */
} lo_item_t;

typedef struct lo_state {
    kp_list_offsets_request_t in;
    kp_list_offsets_response_t resp;
} lo_state_t;

static void lo_on_item(sl_shard_t *owner, sl_fanout_part_t *part, void *item)
{
    lo_item_t *it = item;
    struct st_log *log = sl_shard_log(owner, &it->topic_id, it->partition);
    if (!log) {
        it->out->error_code = KE_KAFKA_STORAGE_ERROR;
    } else if (it->timestamp == -2) {
        it->out->offset = st_log_start_offset(log);
        it->out->timestamp = -1;
    } else if (it->timestamp == -1) {
        it->out->offset = st_log_high_watermark(log);
        it->out->timestamp = -1;
    } else if (it->timestamp == -3) {
        int64_t ts = -1, off = -1;
        if (st_log_max_timestamp(log, &ts, &off) != 0) {
            it->out->error_code = KE_KAFKA_STORAGE_ERROR;
        } else {
            it->out->offset = off;
            it->out->timestamp = ts;
        }
    } else {
        int64_t off = -1, ts_found = -1;
        int rc = st_log_offset_for_timestamp(log, it->timestamp, &off, &ts_found);
        if (rc != 0) {
            it->out->error_code = KE_KAFKA_STORAGE_ERROR;
        } else {
            it->out->offset = off;
            it->out->timestamp = off >= 0 ? ts_found : -1;
        }
    }
    if (it->out->error_code == KE_NONE)
        it->out->leader_epoch = 0;
    sl_fanout_item_done(owner, part);
}

static void lo_done(sl_req_t *req)
{
    lo_state_t *st = req->state;
    SL_RESPOND(req, list_offsets_response, &st->resp);
}

void sl_handle_list_offsets(sl_req_t *req)
{
    lo_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    if (!st) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    req->state = st;
    int16_t v = req->hdr.api_version;
    if (kp_list_offsets_request_decode(&req->body, &req->arena, v, &st->in) != 0) {
        sl_req_fail_close(req, "malformed ListOffsets request");
        return;
    }
    kp_list_offsets_response_init(&st->resp);
    int32_t nt = SL_MAX(st->in.topics_count, 0);
    st->resp.topics = kp_arena_alloc(&req->arena, (size_t)SL_MAX(nt, 1) * sizeof(lo_topic_t));
    sl_fanout_t *fo = sl_fanout_new(req, lo_on_item, lo_done);
    if (!st->resp.topics || !fo)
        goto oom;
    st->resp.topics_count = nt;
    const sl_meta_t *m = req->shard->meta;
    for (int32_t ti = 0; ti < nt; ti++) {
        const lo_req_topic_t *rt = &st->in.topics[ti];
        lo_topic_t *ot = &st->resp.topics[ti];
        kp_list_offsets_response_list_offsets_topic_response_init(ot);
        ot->name = rt->name;
        int32_t np = SL_MAX(rt->partitions_count, 0);
        ot->partitions = kp_arena_alloc(&req->arena, (size_t)SL_MAX(np, 1) * sizeof(lo_part_t));
        if (!ot->partitions)
            goto oom;
        ot->partitions_count = np;
        const sl_topic_meta_t *t =
            rt->name.len > 0 ? sl_meta_find(m, rt->name.ptr, (size_t)rt->name.len) : NULL;
        for (int32_t pi = 0; pi < np; pi++) {
            const lo_req_part_t *rp = &rt->partitions[pi];
            lo_part_t *op = &ot->partitions[pi];
            kp_list_offsets_response_list_offsets_partition_response_init(op);
            op->partition_index = rp->partition_index;
            op->offset = -1;
            op->timestamp = -1;
            op->leader_epoch = -1;
            if (!t || rp->partition_index < 0 || rp->partition_index >= t->partition_count) {
                op->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (rp->timestamp < -3 || (rp->timestamp == -3 && v < 7)) {
                op->error_code = KE_UNSUPPORTED_VERSION;
                continue;
            }
            lo_item_t *it = kp_arena_alloc(&req->arena, sizeof(*it));
            if (!it)
                goto oom;
            it->topic_id = t->id;
            it->partition = rp->partition_index;
            it->timestamp = rp->timestamp;
            it->out = op;
            int shard = t->partitions[rp->partition_index].shard % req->shard->broker->shard_count;
            if (sl_fanout_add(fo, shard, it) != 0)
                goto oom;
        }
    }
    sl_fanout_launch(fo);
    return;
oom:
    sl_req_fail_close(req, "list offsets request does not fit the request arena");
}
