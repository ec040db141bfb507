/* sl_api.c — the API table and request dispatch. See sl_api.h. */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_log.h"

const sl_api_t sl_apis[] = {
    {0, "Produce", 0, 3, 9, sl_handle_produce},
    {1, "Fetch", 4, 4, 12, sl_handle_fetch},
    {2, "ListOffsets", 1, 1, 7, sl_handle_list_offsets},
    {3, "Metadata", 0, 0, 12, sl_handle_metadata},
    {8, "OffsetCommit", 2, 2, 9, sl_handle_offset_commit},
    {9, "OffsetFetch", 1, 1, 9, sl_handle_offset_fetch},
    {10, "FindCoordinator", 0, 0, 6, sl_handle_find_coordinator},
    {11, "JoinGroup", 0, 0, 9, sl_handle_join_group},
    {12, "Heartbeat", 0, 0, 4, sl_handle_heartbeat},
    {13, "LeaveGroup", 0, 0, 5, sl_handle_leave_group},
    {14, "SyncGroup", 0, 0, 5, sl_handle_sync_group},
    {15, "DescribeGroups", 0, 0, 6, sl_handle_describe_groups},
    {16, "ListGroups", 0, 0, 5, sl_handle_list_groups},
    {18, "ApiVersions", 0, 0, 4, sl_handle_api_versions},
    {19, "CreateTopics", 2, 2, 7, sl_handle_create_topics},
    {20, "DeleteTopics", 1, 1, 6, sl_handle_delete_topics},
    {21, "DeleteRecords", 0, 0, 2, sl_handle_delete_records},
    {22, "InitProducerId", 0, 0, 5, sl_handle_init_producer_id},
    {23, "OffsetForLeaderEpoch", 2, 2, 4, sl_handle_offset_for_leader_epoch},
    {32, "DescribeConfigs", 1, 1, 4, sl_handle_describe_configs},
    {33, "AlterConfigs", 0, 0, 2, sl_handle_alter_configs},
    {42, "DeleteGroups", 0, 0, 2, sl_handle_delete_groups},
    {44, "IncrementalAlterConfigs", 0, 0, 1, sl_handle_incremental_alter_configs},
    {47, "OffsetDelete", 0, 0, 0, sl_handle_offset_delete},
    {68, "ConsumerGroupHeartbeat", 0, 0, 1, sl_handle_consumer_group_heartbeat},
    {69, "ConsumerGroupDescribe", 0, 0, 1, sl_handle_consumer_group_describe},
};
const size_t sl_api_count = SL_ARRAY_SIZE(sl_apis);

const sl_api_t *sl_api_find(int16_t key)
{
    for (size_t i = 0; i < sl_api_count; i++)
        if (sl_apis[i].key == key)
            return &sl_apis[i];
    return NULL;
}

void sl_api_dispatch(sl_req_t *req)
{
    const uint8_t *f = req->frame;
    if (req->frame_len < 8) {
        sl_req_fail_close(req, "frame shorter than a request header");
        return;
    }
    req->hdr.api_key = (int16_t)((f[0] << 8) | f[1]);
    req->hdr.api_version = (int16_t)((f[2] << 8) | f[3]);
    req->hdr.correlation_id = (int32_t)((uint32_t)f[4] << 24 | (uint32_t)f[5] << 16 |
                                        (uint32_t)f[6] << 8 | f[7]);
    const sl_api_t *api = sl_api_find(req->hdr.api_key);
    if (!api) {
        sl_req_fail_close(req, "unknown API key");
        return;
    }
    if (api->key == 18 && req->hdr.api_version > api->max_version) {
        /* KIP-511: the client learns our range from a v0 response. */
        sl_handle_api_versions(req);
        return;
    }
    if (req->hdr.api_version < api->advertised_min || req->hdr.api_version > api->max_version) {
        sl_req_fail_close(req, "unsupported API version");
        return;
    }
    kp_reader_t r;
    kp_reader_init(&r, req->frame, req->frame_len);
    req->hdr_version = kp_request_header_version(req->hdr.api_key, req->hdr.api_version);
    if (kp_request_header_decode(&r, req->hdr_version, &req->hdr) != 0) {
        sl_req_fail_close(req, "malformed request header");
        return;
    }
    req->body = r;
    LOG_DEBUG("%s v%d correlation %d from %s", api->name, req->hdr.api_version,
              req->hdr.correlation_id, req->conn ? "client" : "?");
    api->handler(req);
}
