/*
 * h_topics.c — CreateTopics (key 19) v2–7 and DeleteTopics (key 20) v1–6.
 *
 * Both become one controller op (sl_controller.h); the response is built when
 * the op comes back, after every shard adopted the change. Single-node rules:
 * replication factor must be 1 (or -1 = default), a manual assignment may name
 * only this broker, one replica per partition.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_controller.h"
#include "kp_messages.h"

typedef kp_create_topics_request_creatable_topic_t ct_req_topic_t;
typedef kp_create_topics_response_creatable_topic_result_t ct_result_t;
typedef kp_delete_topics_response_deletable_topic_result_t dt_result_t;

/* ------------------------------------------------------------ CreateTopics */

typedef struct ct_state {
    kp_create_topics_request_t in;
    int16_t *pre_error; /* per request topic: an error found before the controller */
    const char **pre_message;
} ct_state_t;

static void ct_done(sl_req_t *req, sl_ctl_op_t *op)
{
    ct_state_t *st = req->state;
    int32_t n = st->in.topics_count;
    kp_create_topics_response_t resp;
    kp_create_topics_response_init(&resp);
    resp.topics = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(ct_result_t));
    if (!resp.topics) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    resp.topics_count = n;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        ct_result_t *r = &resp.topics[i];
        kp_create_topics_response_creatable_topic_result_init(r);
        r->name = st->in.topics[i].name;
        int16_t err;
        const char *msg;
        const sl_ctl_topic_t *t = NULL;
        if (st->pre_error[i] != KE_NONE) {
            err = st->pre_error[i];
            msg = st->pre_message[i];
        } else {
            t = &op->topics[k++];
            err = t->error_code;
            msg = t->error_message;
        }
        r->error_code = err;
        r->error_message = msg ? kp_str_from(msg) : KP_STR_NULL;
        if (err == KE_NONE && t) {
            memcpy(r->topic_id.b, t->id_out.b, 16);
            r->num_partitions = t->partitions_out;
            r->replication_factor = 1;
            r->configs = NULL;
            r->configs_count = 0;
        } else {
            r->num_partitions = -1;
            r->replication_factor = -1;
            r->configs = NULL;
            r->configs_count = -1;
        }
    }
    SL_RESPOND(req, create_topics_response, &resp);
}

void sl_handle_create_topics(sl_req_t *req)
{
    ct_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    if (!st) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    req->state = st;
    if (kp_create_topics_request_decode(&req->body, &req->arena, req->hdr.api_version, &st->in) !=
        0) {
        sl_req_fail_close(req, "malformed CreateTopics request");
        return;
    }
    int32_t n = SL_MAX(st->in.topics_count, 0);
    st->in.topics_count = n;
    st->pre_error = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(int16_t));
    st->pre_message = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(char *));
    sl_ctl_op_t *op = kp_arena_alloc(&req->arena, sizeof(*op));
    sl_ctl_topic_t *topics = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(*topics));
    if (!st->pre_error || !st->pre_message || !op || !topics) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    int32_t node = req->shard->config->node_id;
    for (int32_t i = 0; i < n; i++) {
        const ct_req_topic_t *rt = &st->in.topics[i];
        /* A name given twice in one request is an error for every copy (Kafka). */
        for (int32_t j = 0; j < n; j++)
            if (j != i && kp_str_equal(rt->name, st->in.topics[j].name)) {
                st->pre_error[i] = KE_INVALID_REQUEST;
                st->pre_message[i] = "Duplicate topic name in the request.";
            }
        int32_t parts = rt->num_partitions;
        if (st->pre_error[i] == KE_NONE && rt->assignments_count > 0) {
            if (rt->num_partitions != -1 || rt->replication_factor != -1) {
                st->pre_error[i] = KE_INVALID_REQUEST;
                st->pre_message[i] =
                    "Both numPartitions or replicationFactor and replicasAssignments were set.";
            }
            for (int32_t a = 0; a < rt->assignments_count && st->pre_error[i] == KE_NONE; a++) {
                const kp_create_topics_request_creatable_replica_assignment_t *as =
                    &rt->assignments[a];
                if (as->partition_index != a || as->broker_ids_count != 1 ||
                    as->broker_ids[0] != node) {
                    st->pre_error[i] = KE_INVALID_REPLICA_ASSIGNMENT;
                    st->pre_message[i] = "Replica assignments must give each partition, in order, "
                                         "exactly this broker.";
                }
            }
            parts = rt->assignments_count;
        }
        if (st->pre_error[i] != KE_NONE)
            continue;
        sl_ctl_topic_t *t = &topics[op->topic_count++];
        t->name = rt->name;
        t->num_partitions = parts;
        t->replication_factor = rt->assignments_count > 0 ? 1 : rt->replication_factor;
        t->config_count = SL_MAX(rt->configs_count, 0);
        if (t->config_count > 0) {
            kp_str_t *names = kp_arena_alloc(&req->arena, (size_t)t->config_count * sizeof(kp_str_t));
            kp_str_t *values =
                kp_arena_alloc(&req->arena, (size_t)t->config_count * sizeof(kp_str_t));
            if (!names || !values) {
                sl_req_fail_close(req, "out of memory");
                return;
            }
            for (int32_t c = 0; c < t->config_count; c++) {
                names[c] = rt->configs[c].name;
                values[c] = rt->configs[c].value;
            }
            t->config_names = names;
            t->config_values = values;
        }
    }
    op->kind = SL_CTL_CREATE;
    op->validate_only = st->in.validate_only;
    op->topics = topics;
    op->req = req;
    op->on_done = ct_done;
    sl_controller_submit(req->shard, op);
}

/* ------------------------------------------------------------ DeleteTopics */

static void dt_done(sl_req_t *req, sl_ctl_op_t *op)
{
    int32_t n = op->topic_count;
    kp_delete_topics_response_t resp;
    kp_delete_topics_response_init(&resp);
    resp.responses = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(dt_result_t));
    if (!resp.responses) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        const sl_ctl_topic_t *t = &op->topics[i];
        dt_result_t *r = &resp.responses[i];
        kp_delete_topics_response_deletable_topic_result_init(r);
        if (t->name.len >= 0)
            r->name = t->name;
        else if (t->name_out[0])
            r->name = kp_str_from(t->name_out);
        else
            r->name = KP_STR_NULL;
        memcpy(r->topic_id.b, t->error_code == KE_NONE ? t->id_out.b : t->id.b, 16);
        r->error_code = t->error_code;
        r->error_message = t->error_message ? kp_str_from(t->error_message) : KP_STR_NULL;
    }
    SL_RESPOND(req, delete_topics_response, &resp);
}

void sl_handle_delete_topics(sl_req_t *req)
{
    kp_delete_topics_request_t in;
    if (kp_delete_topics_request_decode(&req->body, &req->arena, req->hdr.api_version, &in) != 0) {
        sl_req_fail_close(req, "malformed DeleteTopics request");
        return;
    }
    bool by_state = req->hdr.api_version >= 6;
    int32_t n = by_state ? SL_MAX(in.topics_count, 0) : SL_MAX(in.topic_names_count, 0);
    sl_ctl_op_t *op = kp_arena_alloc(&req->arena, sizeof(*op));
    sl_ctl_topic_t *topics = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(*topics));
    if (!op || !topics) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        if (by_state) {
            topics[i].name = in.topics[i].name;
            memcpy(topics[i].id.b, in.topics[i].topic_id.b, 16);
            if (topics[i].name.len >= 0)
                memset(topics[i].id.b, 0, 16); /* a name wins over an id */
        } else {
            topics[i].name = in.topic_names[i];
        }
    }
    op->kind = SL_CTL_DELETE;
    op->topic_count = n;
    op->topics = topics;
    op->req = req;
    op->on_done = dt_done;
    sl_controller_submit(req->shard, op);
}
