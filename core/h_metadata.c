/*
 * h_metadata.c — Metadata (key 3), v0–12.
 *
 * Answers from the shard's adopted snapshot: one broker (this one), every
 * partition led by it with itself as the only replica. Unknown topics are
 * created first when the client allows it (v4+ flag; always for v0–3) and
 * auto.create.topics.enable is true: the request waits for the controller so
 * the answer already carries the new topic.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_controller.h"
#include "kp_messages.h"

typedef kp_metadata_request_metadata_request_topic_t md_req_topic_t;
typedef kp_metadata_response_metadata_response_broker_t md_broker_t;
typedef kp_metadata_response_metadata_response_topic_t md_topic_t;
typedef kp_metadata_response_metadata_response_partition_t md_partition_t;

typedef struct md_state {
    kp_metadata_request_t in;
    sl_ctl_op_t *op; /* auto-creation, or NULL */
} md_state_t;

static bool wants_all(const md_state_t *st, int16_t version)
{
    return st->in.topics_count < 0 || (version == 0 && st->in.topics_count == 0);
}

static int fill_topic(sl_req_t *req, md_topic_t *out, const sl_topic_meta_t *t)
{
    int32_t node = req->shard->config->node_id;
    out->error_code = KE_NONE;
    out->name.ptr = t->name;
    out->name.len = t->name_len;
    memcpy(out->topic_id.b, t->id.b, 16);
    out->is_internal = t->internal;
    out->partitions = kp_arena_alloc(&req->arena,
                                     (size_t)SL_MAX(t->partition_count, 1) * sizeof(md_partition_t));
    int32_t *replicas = kp_arena_alloc(&req->arena, sizeof(int32_t));
    if (!out->partitions || !replicas)
        return SL_ERR_LIMIT;
    replicas[0] = node;
    out->partitions_count = t->partition_count;
    for (int32_t p = 0; p < t->partition_count; p++) {
        md_partition_t *mp = &out->partitions[p];
        kp_metadata_response_metadata_response_partition_init(mp);
        mp->error_code = KE_NONE;
        mp->partition_index = p;
        mp->leader_id = node;
        mp->leader_epoch = 0;
        mp->replica_nodes = replicas;
        mp->replica_nodes_count = 1;
        mp->isr_nodes = replicas;
        mp->isr_nodes_count = 1;
        mp->offline_replicas = NULL;
        mp->offline_replicas_count = 0;
    }
    return 0;
}

static void md_respond(sl_req_t *req)
{
    md_state_t *st = req->state;
    const sl_meta_t *m = req->shard->meta;
    int16_t v = req->hdr.api_version;
    const sl_config_t *cfg = req->shard->config;
    const sl_broker_t *b = req->shard->broker;

    kp_metadata_response_t resp;
    kp_metadata_response_init(&resp);
    md_broker_t *broker = kp_arena_alloc(&req->arena, sizeof(*broker));
    if (!broker)
        goto oom;
    kp_metadata_response_metadata_response_broker_init(broker);
    broker->node_id = cfg->node_id;
    broker->host = kp_str_from(b->advertised.host);
    broker->port = b->advertised.port;
    resp.brokers = broker;
    resp.brokers_count = 1;
    resp.cluster_id = kp_str_from(m->cluster_id);
    resp.controller_id = cfg->node_id;

    if (wants_all(st, v)) {
        resp.topics = kp_arena_alloc(&req->arena,
                                     (size_t)SL_MAX(m->topic_count, 1) * sizeof(md_topic_t));
        if (!resp.topics)
            goto oom;
        resp.topics_count = 0;
        for (int32_t i = 0; i < m->topic_count; i++) {
            md_topic_t *t = &resp.topics[resp.topics_count++];
            kp_metadata_response_metadata_response_topic_init(t);
            if (fill_topic(req, t, m->topics[i]) != 0)
                goto oom;
        }
    } else {
        int32_t n = st->in.topics_count;
        resp.topics = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(md_topic_t));
        if (!resp.topics)
            goto oom;
        resp.topics_count = n;
        for (int32_t i = 0; i < n; i++) {
            const md_req_topic_t *rt = &st->in.topics[i];
            md_topic_t *t = &resp.topics[i];
            kp_metadata_response_metadata_response_topic_init(t);
            const sl_topic_meta_t *tm = NULL;
            if (rt->name.len >= 0)
                tm = sl_meta_find(m, rt->name.ptr, (size_t)rt->name.len);
            else if (!kp_uuid_is_zero(&rt->topic_id))
                tm = sl_meta_find_id(m, &rt->topic_id);
            if (tm) {
                if (fill_topic(req, t, tm) != 0)
                    goto oom;
                continue;
            }
            t->name = rt->name;
            t->topic_id = rt->topic_id;
            t->partitions_count = 0;
            if (rt->name.len < 0)
                t->error_code = KE_UNKNOWN_TOPIC_ID;
            else if (!sl_topic_name_valid(rt->name.ptr, (size_t)rt->name.len))
                t->error_code = KE_INVALID_TOPIC_EXCEPTION;
            else if (st->op) {
                /* Creation was attempted: report why it is not there. */
                t->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
                for (int32_t k = 0; k < st->op->topic_count; k++)
                    if (st->op->topics[k].name.ptr == rt->name.ptr &&
                        st->op->topics[k].error_code != KE_TOPIC_ALREADY_EXISTS &&
                        st->op->topics[k].error_code != KE_NONE)
                        t->error_code = st->op->topics[k].error_code;
                if (t->error_code == KE_NONE)
                    t->error_code = KE_LEADER_NOT_AVAILABLE;
            } else {
                t->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
            }
        }
    }
    SL_RESPOND(req, metadata_response, &resp);
    return;
oom:
    sl_req_fail_close(req, "metadata response does not fit the request arena");
}

static void md_created(sl_req_t *req, sl_ctl_op_t *op)
{
    (void)op;
    md_respond(req);
}

void sl_handle_metadata(sl_req_t *req)
{
    md_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    if (!st) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    req->state = st;
    int16_t v = req->hdr.api_version;
    if (kp_metadata_request_decode(&req->body, &req->arena, v, &st->in) != 0) {
        sl_req_fail_close(req, "malformed Metadata request");
        return;
    }
    bool allow_create = v < 4 || st->in.allow_auto_topic_creation;
    if (!allow_create || !req->shard->config->auto_create_topics_enable || wants_all(st, v)) {
        md_respond(req);
        return;
    }
    /* Collect the valid names we do not know. */
    int32_t missing = 0;
    for (int32_t i = 0; i < st->in.topics_count; i++) {
        kp_str_t n = st->in.topics[i].name;
        if (n.len > 0 && sl_topic_name_valid(n.ptr, (size_t)n.len) &&
            !sl_meta_find(req->shard->meta, n.ptr, (size_t)n.len))
            missing++;
    }
    if (missing == 0) {
        md_respond(req);
        return;
    }
    sl_ctl_op_t *op = kp_arena_alloc(&req->arena, sizeof(*op));
    sl_ctl_topic_t *topics = kp_arena_alloc(&req->arena, (size_t)missing * sizeof(*topics));
    if (!op || !topics) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    op->kind = SL_CTL_CREATE;
    op->topics = topics;
    op->req = req;
    op->on_done = md_created;
    for (int32_t i = 0; i < st->in.topics_count; i++) {
        kp_str_t n = st->in.topics[i].name;
        if (n.len > 0 && sl_topic_name_valid(n.ptr, (size_t)n.len) &&
            !sl_meta_find(req->shard->meta, n.ptr, (size_t)n.len)) {
            sl_ctl_topic_t *t = &topics[op->topic_count++];
            t->name = n;
            t->num_partitions = -1;
            t->replication_factor = -1;
        }
    }
    st->op = op;
    sl_controller_submit(req->shard, op);
}
