/*
 * h_api_versions.c — ApiVersions (key 18), v0–4.
 *
 * Lists every API of the table with [advertised_min, max_version]. A request
 * at a version above ours gets a v0 response with UNSUPPORTED_VERSION and the
 * ApiVersions entry (KIP-511), which is how clients learn what we speak.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "kp_messages.h"

typedef kp_api_versions_response_api_version_t av_entry_t;

void sl_handle_api_versions(sl_req_t *req)
{
    const sl_api_t *self = sl_api_find(18);
    kp_api_versions_response_t resp;
    kp_api_versions_response_init(&resp);
    if (req->hdr.api_version > self->max_version) {
        av_entry_t *e = kp_arena_alloc(&req->arena, sizeof(*e));
        if (!e) {
            sl_req_fail_close(req, "out of memory");
            return;
        }
        e->api_key = self->key;
        e->min_version = self->advertised_min;
        e->max_version = self->max_version;
        resp.error_code = KE_UNSUPPORTED_VERSION;
        resp.api_keys = e;
        resp.api_keys_count = 1;
        req->hdr.api_version = 0; /* answer in the v0 format */
        SL_RESPOND(req, api_versions_response, &resp);
        return;
    }
    kp_api_versions_request_t in;
    if (kp_api_versions_request_decode(&req->body, &req->arena, req->hdr.api_version, &in) != 0) {
        /* Kafka answers a malformed v3+ ApiVersions with INVALID_REQUEST. */
        resp.error_code = KE_INVALID_REQUEST;
        SL_RESPOND(req, api_versions_response, &resp);
        return;
    }
    av_entry_t *entries = kp_arena_alloc(&req->arena, sl_api_count * sizeof(*entries));
    if (!entries) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    for (size_t i = 0; i < sl_api_count; i++) {
        kp_api_versions_response_api_version_init(&entries[i]);
        entries[i].api_key = sl_apis[i].key;
        entries[i].min_version = sl_apis[i].advertised_min;
        entries[i].max_version = sl_apis[i].max_version;
    }
    resp.api_keys = entries;
    resp.api_keys_count = (int32_t)sl_api_count;
    SL_RESPOND(req, api_versions_response, &resp);
}
