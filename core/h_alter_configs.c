/*
 * h_alter_configs.c — AlterConfigs (key 33) v0–2 and IncrementalAlterConfigs
 * (key 44) v0–1 for topic resources.
 *
 * AlterConfigs replaces a topic's overrides with the given set (configs not
 * named go back to their defaults); IncrementalAlterConfigs sets, deletes,
 * appends to or subtracts from individual configs (append/subtract only for
 * list configs, i.e. cleanup.policy). Both become one controller op (validated
 * with the topic-config registry, written to the metadata log, adopted by every
 * shard, which hands the new settings to the open logs). Broker resources are
 * refused with INVALID_CONFIG: there are no dynamic broker configs yet, broker
 * settings live in server.properties.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_controller.h"
#include "kp_messages.h"

enum { RES_TOPIC = 2, RES_BROKER = 4 };

typedef struct ac_state {
    bool incremental;
    int32_t resource_count;
    int8_t *resource_types;
    kp_str_t *resource_names;
    int32_t *op_index; /* per resource: index into op->topics, or -1 */
    int16_t *pre_error;
    const char **pre_message;
} ac_state_t;

/* Resource i's outcome: the controller's for a topic in the op, else the one
 * decided before the op (a refused resource type). */
static void ac_outcome(const ac_state_t *st, const sl_ctl_op_t *op, int32_t i, int16_t *error_code,
                       kp_str_t *error_message)
{
    const sl_ctl_topic_t *t = st->op_index[i] >= 0 ? &op->topics[st->op_index[i]] : NULL;
    *error_code = t ? t->error_code : st->pre_error[i];
    const char *msg = t ? t->error_message : st->pre_message[i];
    *error_message = msg ? kp_str_from(msg) : KP_STR_NULL;
}

static void ac_done(sl_req_t *req, sl_ctl_op_t *op)
{
    ac_state_t *st = req->state;
    int32_t n = st->resource_count;
    if (st->incremental) {
        kp_incremental_alter_configs_response_t resp;
        kp_incremental_alter_configs_response_init(&resp);
        resp.responses = kp_arena_alloc(
            &req->arena,
            (size_t)SL_MAX(n, 1) *
                sizeof(kp_incremental_alter_configs_response_alter_configs_resource_response_t));
        if (!resp.responses)
            goto oom;
        resp.responses_count = n;
        for (int32_t i = 0; i < n; i++) {
            kp_incremental_alter_configs_response_alter_configs_resource_response_t *r =
                &resp.responses[i];
            kp_incremental_alter_configs_response_alter_configs_resource_response_init(r);
            r->resource_type = st->resource_types[i];
            r->resource_name = st->resource_names[i];
            ac_outcome(st, op, i, &r->error_code, &r->error_message);
        }
        SL_RESPOND(req, incremental_alter_configs_response, &resp);
        return;
    }
    kp_alter_configs_response_t resp;
    kp_alter_configs_response_init(&resp);
    resp.responses = kp_arena_alloc(
        &req->arena,
        (size_t)SL_MAX(n, 1) * sizeof(kp_alter_configs_response_alter_configs_resource_response_t));
    if (!resp.responses)
        goto oom;
    resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        kp_alter_configs_response_alter_configs_resource_response_t *r = &resp.responses[i];
        kp_alter_configs_response_alter_configs_resource_response_init(r);
        r->resource_type = st->resource_types[i];
        r->resource_name = st->resource_names[i];
        ac_outcome(st, op, i, &r->error_code, &r->error_message);
    }
    SL_RESPOND(req, alter_configs_response, &resp);
    return;
oom:
    sl_req_fail_close(req, "out of memory");
}

/* Shared set-up: allocates the state and the op for the request's resources
 * (resources_count, negative when null). */
static ac_state_t *ac_begin(sl_req_t *req, int32_t resources_count, bool incremental,
                            bool validate_only, sl_ctl_op_t **op_out)
{
    int32_t n = SL_MAX(resources_count, 0);
    ac_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    sl_ctl_op_t *op = kp_arena_alloc(&req->arena, sizeof(*op));
    size_t m = (size_t)SL_MAX(n, 1);
    if (!st || !op)
        return NULL;
    st->incremental = incremental;
    st->resource_count = n;
    st->resource_types = kp_arena_alloc(&req->arena, m);
    st->resource_names = kp_arena_alloc(&req->arena, m * sizeof(kp_str_t));
    st->op_index = kp_arena_alloc(&req->arena, m * sizeof(int32_t));
    st->pre_error = kp_arena_alloc(&req->arena, m * sizeof(int16_t));
    st->pre_message = kp_arena_alloc(&req->arena, m * sizeof(char *));
    op->topics = kp_arena_alloc(&req->arena, m * sizeof(sl_ctl_topic_t));
    if (!st->resource_types || !st->resource_names || !st->op_index || !st->pre_error ||
        !st->pre_message || !op->topics)
        return NULL;
    op->kind = SL_CTL_ALTER_CONFIGS;
    op->replace_all = !incremental;
    op->validate_only = validate_only;
    op->req = req;
    op->on_done = ac_done;
    req->state = st;
    *op_out = op;
    return st;
}

/* Classifies resource i; returns the op topic to fill for a topic resource. */
static sl_ctl_topic_t *ac_resource(ac_state_t *st, sl_ctl_op_t *op, int32_t i, int8_t type,
                                   kp_str_t name)
{
    st->resource_types[i] = type;
    st->resource_names[i] = name;
    st->op_index[i] = -1;
    if (type == RES_BROKER) {
        st->pre_error[i] = KE_INVALID_CONFIG;
        st->pre_message[i] = "sluice has no dynamic broker configs yet: set broker settings in "
                             "server.properties";
        return NULL;
    }
    if (type != RES_TOPIC) {
        st->pre_error[i] = KE_INVALID_REQUEST;
        st->pre_message[i] = "Unsupported resource type.";
        return NULL;
    }
    st->op_index[i] = op->topic_count;
    sl_ctl_topic_t *t = &op->topics[op->topic_count++];
    t->name = name;
    return t;
}

/* Room in topic t for c configs (c negative when null): names, values and,
 * with_ops (IncrementalAlterConfigs), operations, for the caller to fill.
 * False when the request arena is full. */
static bool ac_configs(sl_req_t *req, sl_ctl_topic_t *t, int32_t c, bool with_ops, kp_str_t **names,
                       kp_str_t **values, int8_t **ops)
{
    c = SL_MAX(c, 0);
    *names = kp_arena_alloc(&req->arena, (size_t)SL_MAX(c, 1) * sizeof(kp_str_t));
    *values = kp_arena_alloc(&req->arena, (size_t)SL_MAX(c, 1) * sizeof(kp_str_t));
    *ops = with_ops ? kp_arena_alloc(&req->arena, (size_t)SL_MAX(c, 1)) : NULL;
    if (!*names || !*values || (with_ops && !*ops))
        return false;
    t->config_count = c;
    t->config_names = *names;
    t->config_values = *values;
    t->config_ops = *ops;
    return true;
}

void sl_handle_alter_configs(sl_req_t *req)
{
    kp_alter_configs_request_t in;
    if (kp_alter_configs_request_decode(&req->body, &req->arena, req->hdr.api_version, &in) != 0) {
        sl_req_fail_close(req, "malformed AlterConfigs request");
        return;
    }
    sl_ctl_op_t *op;
    ac_state_t *st = ac_begin(req, in.resources_count, false, in.validate_only, &op);
    if (!st)
        goto oom;
    for (int32_t i = 0; i < st->resource_count; i++) {
        const kp_alter_configs_request_alter_configs_resource_t *r = &in.resources[i];
        sl_ctl_topic_t *t = ac_resource(st, op, i, r->resource_type, r->resource_name);
        kp_str_t *names, *values;
        int8_t *ops;
        if (!t)
            continue;
        if (!ac_configs(req, t, r->configs_count, false, &names, &values, &ops))
            goto oom;
        for (int32_t k = 0; k < t->config_count; k++) {
            names[k] = r->configs[k].name;
            values[k] = r->configs[k].value;
        }
    }
    sl_controller_submit(req->shard, op);
    return;
oom:
    sl_req_fail_close(req, "AlterConfigs request does not fit the request arena");
}

void sl_handle_incremental_alter_configs(sl_req_t *req)
{
    kp_incremental_alter_configs_request_t in;
    if (kp_incremental_alter_configs_request_decode(&req->body, &req->arena, req->hdr.api_version,
                                                    &in) != 0) {
        sl_req_fail_close(req, "malformed IncrementalAlterConfigs request");
        return;
    }
    sl_ctl_op_t *op;
    ac_state_t *st = ac_begin(req, in.resources_count, true, in.validate_only, &op);
    if (!st)
        goto oom;
    for (int32_t i = 0; i < st->resource_count; i++) {
        const kp_incremental_alter_configs_request_alter_configs_resource_t *r = &in.resources[i];
        sl_ctl_topic_t *t = ac_resource(st, op, i, r->resource_type, r->resource_name);
        kp_str_t *names, *values;
        int8_t *ops;
        if (!t)
            continue;
        if (!ac_configs(req, t, r->configs_count, true, &names, &values, &ops))
            goto oom;
        for (int32_t k = 0; k < t->config_count; k++) {
            names[k] = r->configs[k].name;
            values[k] = r->configs[k].value;
            ops[k] = r->configs[k].config_operation;
        }
    }
    sl_controller_submit(req->shard, op);
    return;
oom:
    sl_req_fail_close(req, "IncrementalAlterConfigs request does not fit the request arena");
}
