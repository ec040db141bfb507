/*
 * h_find_coordinator.c — FindCoordinator 0-6: which broker coordinates a group.
 *
 * A single node coordinates everything, so the answer is always this broker
 * (its advertised listener). What matters is that the coordinator can serve:
 * the first lookup of a group creates __consumer_offsets (as Kafka does) with
 * offsets.topic.num.partitions partitions, cleanup.policy=compact and
 * offsets.topic.segment.bytes, and answers once every shard has adopted it and
 * loaded its groups. Transactional ids (key type 1) answer
 * COORDINATOR_NOT_AVAILABLE until the transaction coordinator exists; share
 * groups (key type 2) answer INVALID_REQUEST.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_controller.h"
#include "sl_group.h"
#include "kp_messages.h"

enum { KEY_GROUP = 0, KEY_TRANSACTION = 1 };

typedef struct fc_state {
    kp_find_coordinator_request_t in;
    sl_ctl_op_t *op;
    char segment_bytes[32];
} fc_state_t;

static void fc_respond(sl_req_t *req)
{
    fc_state_t *st = req->state;
    const sl_broker_t *b = req->shard->broker;
    int16_t v = req->hdr.api_version;
    bool ready = sl_meta_find(req->shard->meta, SL_GROUP_OFFSETS_TOPIC,
                              strlen(SL_GROUP_OFFSETS_TOPIC)) != NULL;
    int16_t err = KE_NONE;
    const char *msg = NULL;
    if (st->in.key_type == KEY_TRANSACTION) {
        err = KE_COORDINATOR_NOT_AVAILABLE;
        msg = "transactions are not supported yet";
    } else if (st->in.key_type != KEY_GROUP) {
        err = KE_INVALID_REQUEST;
        msg = "unsupported coordinator key type";
    } else if (!ready || req->shard->stopping) {
        err = KE_COORDINATOR_NOT_AVAILABLE;
        msg = "the group coordinator is not available";
    }
    kp_find_coordinator_response_t resp;
    kp_find_coordinator_response_init(&resp);
    kp_str_t host = kp_str_from(b->advertised.host);
    int32_t node = req->shard->config->node_id;
    if (v < 4) {
        resp.error_code = err;
        resp.error_message = err ? kp_str_from(msg) : KP_STR_NULL;
        resp.node_id = err ? -1 : node;
        resp.host = err ? (kp_str_t){"", 0} : host;
        resp.port = err ? -1 : b->advertised.port;
        SL_RESPOND(req, find_coordinator_response, &resp);
        return;
    }
    int32_t n = st->in.coordinator_keys_count > 0 ? st->in.coordinator_keys_count : 0;
    resp.coordinators = n ? kp_arena_alloc(&req->arena, (size_t)n * sizeof(*resp.coordinators)) : NULL;
    if (n && !resp.coordinators) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    resp.coordinators_count = n;
    for (int32_t i = 0; i < n; i++) {
        kp_find_coordinator_response_coordinators_t *c = &resp.coordinators[i];
        kp_find_coordinator_response_coordinators_init(c);
        c->key = kp_str_nonnull(st->in.coordinator_keys[i]);
        c->error_code = err;
        c->error_message = err ? kp_str_from(msg) : KP_STR_NULL;
        c->node_id = err ? -1 : node;
        c->host = err ? (kp_str_t){"", 0} : host;
        c->port = err ? -1 : b->advertised.port;
    }
    SL_RESPOND(req, find_coordinator_response, &resp);
}

static void fc_created(sl_req_t *req, sl_ctl_op_t *op)
{
    (void)op; /* TOPIC_ALREADY_EXISTS (a concurrent lookup) is fine too */
    fc_respond(req);
}

void sl_handle_find_coordinator(sl_req_t *req)
{
    fc_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    if (!st) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    memset(st, 0, sizeof(*st));
    req->state = st;
    if (kp_find_coordinator_request_decode(&req->body, &req->arena, req->hdr.api_version,
                                           &st->in) != 0) {
        sl_req_fail_close(req, "malformed FindCoordinator request");
        return;
    }
    if (req->hdr.api_version < 1)
        st->in.key_type = KEY_GROUP;
    if (st->in.key_type != KEY_GROUP || req->shard->stopping ||
        sl_meta_find(req->shard->meta, SL_GROUP_OFFSETS_TOPIC, strlen(SL_GROUP_OFFSETS_TOPIC))) {
        fc_respond(req);
        return;
    }
    /* First use of groups: create __consumer_offsets through the controller. */
    static const char *const names[] = {"cleanup.policy", "segment.bytes", "compression.type"};
    kp_str_t *cn = kp_arena_alloc(&req->arena, 3 * sizeof(*cn));
    kp_str_t *cv = kp_arena_alloc(&req->arena, 3 * sizeof(*cv));
    sl_ctl_op_t *op = kp_arena_alloc(&req->arena, sizeof(*op));
    sl_ctl_topic_t *t = kp_arena_alloc(&req->arena, sizeof(*t));
    if (!cn || !cv || !op || !t) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    memset(op, 0, sizeof(*op));
    memset(t, 0, sizeof(*t));
    snprintf(st->segment_bytes, sizeof(st->segment_bytes), "%lld",
             (long long)req->shard->config->offsets_topic_segment_bytes);
    for (int i = 0; i < 3; i++)
        cn[i] = kp_str_from(names[i]);
    cv[0] = kp_str_from("compact");
    cv[1] = kp_str_from(st->segment_bytes);
    cv[2] = kp_str_from("producer");
    t->name = kp_str_from(SL_GROUP_OFFSETS_TOPIC);
    t->num_partitions = req->shard->config->offsets_topic_num_partitions;
    t->replication_factor = -1;
    t->config_count = 3;
    t->config_names = cn;
    t->config_values = cv;
    op->kind = SL_CTL_CREATE;
    op->internal = true;
    op->topics = t;
    op->topic_count = 1;
    op->req = req;
    op->on_done = fc_created;
    st->op = op;
    sl_controller_submit(req->shard, op);
}
