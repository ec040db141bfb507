/*
 * h_describe_configs.c — DescribeConfigs (key 32), v1–4.
 *
 * Topic resources (type 2): every topic config of the registry
 * (sl_topic_config.h) with its effective value and source — TOPIC_CONFIG for
 * an override, STATIC_BROKER_CONFIG when the inherited broker setting was
 * given explicitly, DEFAULT_CONFIG otherwise — and, when asked, the synonyms
 * chain (override, broker setting, default). Broker resources (type 4, named by
 * node id or empty): every broker setting, read-only (there are no dynamic
 * broker configs yet). Answered from the shard's snapshot; no other shard is
 * involved.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_topic_config.h"
#include "kp_messages.h"

#include <stdlib.h>

typedef kp_describe_configs_request_describe_configs_resource_t dc_req_res_t;
typedef kp_describe_configs_response_describe_configs_result_t dc_result_t;
typedef kp_describe_configs_response_describe_configs_resource_result_t dc_entry_t;
typedef kp_describe_configs_response_describe_configs_synonym_t dc_synonym_t;

enum { RES_TOPIC = 2, RES_BROKER = 4, RES_BROKER_LOGGER = 8 };
enum {
    SRC_TOPIC_CONFIG = 1,
    SRC_STATIC_BROKER_CONFIG = 4,
    SRC_DEFAULT_CONFIG = 5,
};
enum { TYPE_BOOLEAN = 1, TYPE_STRING = 2, TYPE_INT = 3, TYPE_LONG = 5, TYPE_DOUBLE = 6,
       TYPE_LIST = 7 };

/* Whether the broker setting a topic config inherits was given explicitly;
 * retention and roll times may be given in ms, minutes or hours. */
static bool broker_synonym_set(const sl_config_t *c, const char *name)
{
    if (sl_config_is_set(c, name))
        return true;
    if (!strcmp(name, "log.retention.ms"))
        return sl_config_is_set(c, "log.retention.minutes") ||
               sl_config_is_set(c, "log.retention.hours");
    if (!strcmp(name, "log.roll.ms"))
        return sl_config_is_set(c, "log.roll.hours");
    if (!strcmp(name, "log.roll.jitter.ms"))
        return sl_config_is_set(c, "log.roll.jitter.hours");
    return false;
}

static bool wanted(const dc_req_res_t *r, const char *name)
{
    if (r->configuration_keys_count < 0)
        return true;
    for (int32_t i = 0; i < r->configuration_keys_count; i++)
        if (kp_str_eq(r->configuration_keys[i], name))
            return true;
    return false;
}

static int8_t topic_type(sl_topic_config_type_t t)
{
    switch (t) {
    case SL_TC_LONG:
        return TYPE_LONG;
    case SL_TC_INT:
        return TYPE_INT;
    case SL_TC_BOOL:
        return TYPE_BOOLEAN;
    case SL_TC_DOUBLE:
        return TYPE_DOUBLE;
    case SL_TC_LIST:
        return TYPE_LIST;
    case SL_TC_ENUM:
        return TYPE_STRING;
    }
    return TYPE_STRING;
}

static int8_t broker_type(sl_config_type_t t)
{
    switch (t) {
    case SL_CFG_INT:
        return TYPE_INT;
    case SL_CFG_LONG:
        return TYPE_LONG;
    case SL_CFG_BOOL:
        return TYPE_BOOLEAN;
    default:
        return TYPE_STRING;
    }
}

/* Copies text into the arena (values computed into stack buffers). */
static kp_str_t arena_str(sl_req_t *req, const char *s)
{
    size_t n = strlen(s);
    char *p = kp_arena_alloc(&req->arena, n + 1);
    if (!p)
        return KP_STR_NULL;
    memcpy(p, s, n + 1);
    return (kp_str_t){p, (int32_t)n};
}

static int describe_topic(sl_req_t *req, const dc_req_res_t *in, dc_result_t *out, bool synonyms,
                          bool docs)
{
    const sl_config_t *c = req->shard->config;
    const sl_topic_meta_t *t =
        in->resource_name.len > 0
            ? sl_meta_find(req->shard->meta, in->resource_name.ptr, (size_t)in->resource_name.len)
            : NULL;
    if (!t) {
        out->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
        out->error_message = kp_str_from("This server does not host this topic.");
        out->configs_count = 0;
        return 0;
    }
    out->configs = kp_arena_alloc(&req->arena, sl_topic_config_count * sizeof(dc_entry_t));
    if (!out->configs)
        return SL_ERR_LIMIT;
    out->configs_count = 0;
    for (size_t i = 0; i < sl_topic_config_count; i++) {
        const sl_topic_config_desc_t *d = &sl_topic_configs[i];
        if (!wanted(in, d->name))
            continue;
        dc_entry_t *e = &out->configs[out->configs_count++];
        kp_describe_configs_response_describe_configs_resource_result_init(e);
        char buf[32];
        const char *override = sl_topic_config_override(t, d->name);
        const char *dflt = sl_topic_config_default(c, d, buf, sizeof(buf));
        bool broker_set = broker_synonym_set(c, d->broker_synonym);
        e->name = kp_str_from(d->name);
        e->value = arena_str(req, override ? override : dflt);
        e->read_only = false;
        e->is_default = !override && !broker_set;
        e->config_source = override      ? SRC_TOPIC_CONFIG
                           : broker_set ? SRC_STATIC_BROKER_CONFIG
                                        : SRC_DEFAULT_CONFIG;
        e->is_sensitive = false;
        e->config_type = topic_type(d->type);
        e->documentation = docs ? kp_str_from(d->doc) : KP_STR_NULL;
        e->synonyms_count = 0;
        if (!synonyms)
            continue;
        e->synonyms = kp_arena_alloc(&req->arena, 2 * sizeof(dc_synonym_t));
        if (!e->synonyms)
            return SL_ERR_LIMIT;
        if (override) {
            dc_synonym_t *s = &e->synonyms[e->synonyms_count++];
            kp_describe_configs_response_describe_configs_synonym_init(s);
            s->name = kp_str_from(d->name);
            s->value = e->value;
            s->source = SRC_TOPIC_CONFIG;
        }
        dc_synonym_t *s = &e->synonyms[e->synonyms_count++];
        kp_describe_configs_response_describe_configs_synonym_init(s);
        s->name = kp_str_from(d->broker_synonym);
        s->value = arena_str(req, dflt);
        s->source = broker_set ? SRC_STATIC_BROKER_CONFIG : SRC_DEFAULT_CONFIG;
    }
    return 0;
}

static int describe_broker(sl_req_t *req, const dc_req_res_t *in, dc_result_t *out, bool docs)
{
    const sl_config_t *c = req->shard->config;
    char id[16];
    snprintf(id, sizeof(id), "%d", c->node_id);
    if (in->resource_name.len > 0 && !kp_str_eq(in->resource_name, id)) {
        out->error_code = KE_INVALID_REQUEST;
        out->error_message = kp_str_from("Unexpected broker id: this is a single-node cluster.");
        out->configs_count = 0;
        return 0;
    }
    out->configs = kp_arena_alloc(&req->arena, sl_config_desc_count * sizeof(dc_entry_t));
    if (!out->configs)
        return SL_ERR_LIMIT;
    out->configs_count = 0;
    for (size_t i = 0; i < sl_config_desc_count; i++) {
        const sl_config_desc_t *d = &sl_config_descs[i];
        if (!wanted(in, d->name))
            continue;
        dc_entry_t *e = &out->configs[out->configs_count++];
        kp_describe_configs_response_describe_configs_resource_result_init(e);
        char buf[64];
        bool set = sl_config_is_set(c, d->name);
        e->name = kp_str_from(d->name);
        e->value = arena_str(req, sl_config_value(c, d, buf, sizeof(buf)));
        e->read_only = true;
        e->is_default = !set;
        e->config_source = set ? SRC_STATIC_BROKER_CONFIG : SRC_DEFAULT_CONFIG;
        e->config_type = broker_type(d->type);
        e->documentation = docs ? kp_str_from(d->doc) : KP_STR_NULL;
        e->synonyms_count = 0;
    }
    return 0;
}

void sl_handle_describe_configs(sl_req_t *req)
{
    kp_describe_configs_request_t in;
    if (kp_describe_configs_request_decode(&req->body, &req->arena, req->hdr.api_version, &in) !=
        0) {
        sl_req_fail_close(req, "malformed DescribeConfigs request");
        return;
    }
    int32_t n = SL_MAX(in.resources_count, 0);
    kp_describe_configs_response_t resp;
    kp_describe_configs_response_init(&resp);
    resp.results = kp_arena_alloc(&req->arena, (size_t)SL_MAX(n, 1) * sizeof(dc_result_t));
    if (!resp.results)
        goto oom;
    resp.results_count = n;
    for (int32_t i = 0; i < n; i++) {
        const dc_req_res_t *r = &in.resources[i];
        dc_result_t *out = &resp.results[i];
        kp_describe_configs_response_describe_configs_result_init(out);
        out->resource_type = r->resource_type;
        out->resource_name = r->resource_name;
        out->error_code = KE_NONE;
        int rc = 0;
        if (r->resource_type == RES_TOPIC)
            rc = describe_topic(req, r, out, in.include_synonyms, in.include_documentation);
        else if (r->resource_type == RES_BROKER)
            rc = describe_broker(req, r, out, in.include_documentation);
        else {
            out->error_code = KE_INVALID_REQUEST;
            out->error_message = kp_str_from("Unsupported resource type.");
            out->configs_count = 0;
        }
        if (rc != 0)
            goto oom;
    }
    SL_RESPOND(req, describe_configs_response, &resp);
    return;
oom:
    sl_req_fail_close(req, "DescribeConfigs response does not fit the request arena");
}
