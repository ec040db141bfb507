/*
 * h_log_admin.c — per-partition log requests answered by the owner shard:
 * DeleteRecords (key 21) v0–2 and OffsetForLeaderEpoch (key 23) v2–4.
 *
 * DeleteRecords raises a partition's log start offset (offset -1 = the high
 * watermark) and deletes the segments wholly below it; the new start offset
 * is the answer's low watermark and survives restarts (st_log.h).
 * OffsetForLeaderEpoch (KIP-320): a single node has one leader epoch, 0,
 * beginning at the log start, so epoch 0 ends at the log end offset; an
 * unknown later epoch answers -1/-1 as Kafka does, and a client claiming a
 * current epoch above 0 gets UNKNOWN_LEADER_EPOCH.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_fanout.h"
#include "kp_messages.h"
#include "st_log.h"

typedef kp_delete_records_request_delete_records_topic_t dr_req_topic_t;
typedef kp_delete_records_request_delete_records_partition_t dr_req_part_t;
typedef kp_delete_records_response_delete_records_topic_result_t dr_topic_t;
typedef kp_delete_records_response_delete_records_partition_result_t dr_part_t;
typedef kp_offset_for_leader_epoch_request_offset_for_leader_topic_t oe_req_topic_t;
typedef kp_offset_for_leader_epoch_request_offset_for_leader_partition_t oe_req_part_t;
typedef kp_offset_for_leader_epoch_response_offset_for_leader_topic_result_t oe_topic_t;
typedef kp_offset_for_leader_epoch_response_epoch_end_offset_t oe_part_t;

enum { KE_FENCED_LEADER_EPOCH = 74, KE_UNKNOWN_LEADER_EPOCH = 75 };

/* One partition's work, on its owner. */
typedef struct part_item {
    sl_uuid_t topic_id;
    int32_t partition;
    int64_t offset;      /* DeleteRecords target */
    int32_t epoch;       /* OffsetForLeaderEpoch requested epoch */
    int32_t current_epoch;
    int16_t *error_code; /* outputs in the response */
    int64_t *out_offset;
    int32_t *out_epoch;
} part_item_t;

/* n elements of size bytes from the request arena; room for one at least, so
 * that NULL always means the arena is full. */
static void *arena_array(sl_req_t *req, int32_t n, size_t size)
{
    return kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * size);
}

/* The topic a request names, or NULL when it is unknown or the name empty. */
static const sl_topic_meta_t *find_topic(sl_req_t *req, kp_str_t name)
{
    return name.len > 0 ? sl_meta_find(req->shard->meta, name.ptr, (size_t)name.len) : NULL;
}

/* Resolves topic/partition; on success adds the item to fo and returns true,
 * else sets the error and returns false. */
static bool route(sl_req_t *req, sl_fanout_t *fo, const sl_topic_meta_t *t, part_item_t *it,
                  bool *oom)
{
    if (!t || it->partition < 0 || it->partition >= t->partition_count) {
        *it->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
        return false;
    }
    it->topic_id = t->id;
    int shard = t->partitions[it->partition].shard % req->shard->broker->shard_count;
    if (sl_fanout_add(fo, shard, it) != 0)
        *oom = true;
    return true;
}

/* --------------------------------------------------------- DeleteRecords */

static void dr_on_item(sl_shard_t *owner, sl_fanout_part_t *part, void *item)
{
    part_item_t *it = item;
    struct st_log *log = sl_shard_log(owner, &it->topic_id, it->partition);
    if (!log) {
        *it->error_code = KE_KAFKA_STORAGE_ERROR;
    } else {
        int64_t low = -1;
        int rc = st_log_delete_records(log, it->offset, &low);
        *it->error_code = rc == 0                 ? KE_NONE
                          : rc == SL_ERR_RANGE ? KE_OFFSET_OUT_OF_RANGE
                                               : KE_KAFKA_STORAGE_ERROR;
        *it->out_offset = rc == 0 ? low : -1;
    }
    sl_fanout_item_done(owner, part);
}

static void dr_done(sl_req_t *req)
{
    SL_RESPOND(req, delete_records_response, (kp_delete_records_response_t *)req->state);
}

void sl_handle_delete_records(sl_req_t *req)
{
    kp_delete_records_request_t in;
    kp_delete_records_response_t *resp = kp_arena_alloc(&req->arena, sizeof(*resp));
    if (!resp || kp_delete_records_request_decode(&req->body, &req->arena, req->hdr.api_version,
                                                  &in) != 0) {
        sl_req_fail_close(req, "malformed DeleteRecords request");
        return;
    }
    req->state = resp;
    kp_delete_records_response_init(resp);
    sl_fanout_t *fo = sl_fanout_new(req, dr_on_item, dr_done);
    int32_t nt = SL_MAX(in.topics_count, 0);
    resp->topics = arena_array(req, nt, sizeof(dr_topic_t));
    if (!fo || !resp->topics)
        goto oom;
    resp->topics_count = nt;
    bool oom = false;
    for (int32_t ti = 0; ti < nt && !oom; ti++) {
        const dr_req_topic_t *rt = &in.topics[ti];
        dr_topic_t *ot = &resp->topics[ti];
        kp_delete_records_response_delete_records_topic_result_init(ot);
        ot->name = rt->name;
        int32_t np = SL_MAX(rt->partitions_count, 0);
        ot->partitions = arena_array(req, np, sizeof(dr_part_t));
        part_item_t *items = arena_array(req, np, sizeof(*items));
        if (!ot->partitions || !items)
            goto oom;
        ot->partitions_count = np;
        const sl_topic_meta_t *t = find_topic(req, rt->name);
        for (int32_t pi = 0; pi < np; pi++) {
            dr_part_t *op = &ot->partitions[pi];
            kp_delete_records_response_delete_records_partition_result_init(op);
            op->partition_index = rt->partitions[pi].partition_index;
            op->low_watermark = -1;
            part_item_t *it = &items[pi];
            it->partition = op->partition_index;
            it->offset = rt->partitions[pi].offset;
            it->error_code = &op->error_code;
            it->out_offset = &op->low_watermark;
            if (it->offset < -1) {
                op->error_code = KE_OFFSET_OUT_OF_RANGE;
                continue;
            }
            route(req, fo, t, it, &oom);
        }
    }
    if (oom)
        goto oom;
    sl_fanout_launch(fo);
    return;
oom:
    sl_req_fail_close(req, "DeleteRecords request does not fit the request arena");
}

/* -------------------------------------------------- OffsetForLeaderEpoch */

static void oe_on_item(sl_shard_t *owner, sl_fanout_part_t *part, void *item)
{
    part_item_t *it = item;
    struct st_log *log = sl_shard_log(owner, &it->topic_id, it->partition);
    *it->out_epoch = -1;
    *it->out_offset = -1;
    if (!log) {
        *it->error_code = KE_KAFKA_STORAGE_ERROR;
    } else if (it->current_epoch > 0) {
        *it->error_code = KE_UNKNOWN_LEADER_EPOCH;
    } else {
        *it->error_code = KE_NONE;
        if (it->epoch == 0) {
            *it->out_epoch = 0;
            *it->out_offset = st_log_end_offset(log);
        }
    }
    sl_fanout_item_done(owner, part);
}

static void oe_done(sl_req_t *req)
{
    SL_RESPOND(req, offset_for_leader_epoch_response,
               (kp_offset_for_leader_epoch_response_t *)req->state);
}

void sl_handle_offset_for_leader_epoch(sl_req_t *req)
{
    kp_offset_for_leader_epoch_request_t in;
    kp_offset_for_leader_epoch_response_t *resp = kp_arena_alloc(&req->arena, sizeof(*resp));
    if (!resp || kp_offset_for_leader_epoch_request_decode(&req->body, &req->arena,
                                                           req->hdr.api_version, &in) != 0) {
        sl_req_fail_close(req, "malformed OffsetForLeaderEpoch request");
        return;
    }
    req->state = resp;
    kp_offset_for_leader_epoch_response_init(resp);
    sl_fanout_t *fo = sl_fanout_new(req, oe_on_item, oe_done);
    int32_t nt = SL_MAX(in.topics_count, 0);
    resp->topics = arena_array(req, nt, sizeof(oe_topic_t));
    if (!fo || !resp->topics)
        goto oom;
    resp->topics_count = nt;
    bool oom = false;
    for (int32_t ti = 0; ti < nt && !oom; ti++) {
        const oe_req_topic_t *rt = &in.topics[ti];
        oe_topic_t *ot = &resp->topics[ti];
        kp_offset_for_leader_epoch_response_offset_for_leader_topic_result_init(ot);
        ot->topic = rt->topic;
        int32_t np = SL_MAX(rt->partitions_count, 0);
        ot->partitions = arena_array(req, np, sizeof(oe_part_t));
        part_item_t *items = arena_array(req, np, sizeof(*items));
        if (!ot->partitions || !items)
            goto oom;
        ot->partitions_count = np;
        const sl_topic_meta_t *t = find_topic(req, rt->topic);
        for (int32_t pi = 0; pi < np; pi++) {
            const oe_req_part_t *rp = &rt->partitions[pi];
            oe_part_t *op = &ot->partitions[pi];
            kp_offset_for_leader_epoch_response_epoch_end_offset_init(op);
            op->partition = rp->partition;
            op->leader_epoch = -1;
            op->end_offset = -1;
            part_item_t *it = &items[pi];
            it->partition = rp->partition;
            it->epoch = rp->leader_epoch;
            it->current_epoch = rp->current_leader_epoch;
            it->error_code = &op->error_code;
            it->out_offset = &op->end_offset;
            it->out_epoch = &op->leader_epoch;
            route(req, fo, t, it, &oom);
        }
    }
    if (oom)
        goto oom;
    sl_fanout_launch(fo);
    return;
oom:
    sl_req_fail_close(req, "OffsetForLeaderEpoch request does not fit the request arena");
}
