/*
 * sl_api.h — the API table: for each Kafka API key the versions sluice
 * implements, the minimum it advertises, and the handler. One table drives
 * dispatch, version checks and the ApiVersions response (ARCHITECTURE.md §3).
 *
 * Version rules (KAFKA-PROTOCOL.md §2)
 *   - advertised_min may be below min_version where clients key features off
 *     the advertised range (Produce: librdkafka enables compression only when
 *     v0 is advertised); such old versions reach the handler, which answers
 *     UNSUPPORTED_VERSION in the response body.
 *   - ApiVersions at a version above max gets a v0 response with error 35.
 *   - Any other version outside [advertised_min, max_version] closes the
 *     connection, as Kafka does; so does an unknown API key.
 */
#ifndef SL_API_H
#define SL_API_H

#include "sl_req.h"

typedef void (*sl_handler_fn)(sl_req_t *req);

typedef struct sl_api {
    int16_t key;
    const char *name;
    int16_t advertised_min;
    int16_t min_version; /* lowest version the handler serves fully */
    int16_t max_version;
    sl_handler_fn handler;
} sl_api_t;

extern const sl_api_t sl_apis[];
extern const size_t sl_api_count;

const sl_api_t *sl_api_find(int16_t key);
/* Parses the request header and runs the handler (or closes the connection). */
void sl_api_dispatch(sl_req_t *req);

/* Handlers (core/h_*.c). */
void sl_handle_api_versions(sl_req_t *req);
void sl_handle_metadata(sl_req_t *req);
void sl_handle_produce(sl_req_t *req);
void sl_handle_fetch(sl_req_t *req);
void sl_handle_list_offsets(sl_req_t *req);
void sl_handle_create_topics(sl_req_t *req);
void sl_handle_delete_topics(sl_req_t *req);
void sl_handle_describe_configs(sl_req_t *req);
void sl_handle_alter_configs(sl_req_t *req);
void sl_handle_incremental_alter_configs(sl_req_t *req);
void sl_handle_delete_records(sl_req_t *req);
void sl_handle_init_producer_id(sl_req_t *req);
void sl_handle_offset_for_leader_epoch(sl_req_t *req);
void sl_handle_find_coordinator(sl_req_t *req);
void sl_handle_join_group(sl_req_t *req);
void sl_handle_sync_group(sl_req_t *req);
void sl_handle_heartbeat(sl_req_t *req);
void sl_handle_leave_group(sl_req_t *req);
void sl_handle_offset_commit(sl_req_t *req);
void sl_handle_offset_fetch(sl_req_t *req);
void sl_handle_offset_delete(sl_req_t *req);
void sl_handle_describe_groups(sl_req_t *req);
void sl_handle_list_groups(sl_req_t *req);
void sl_handle_delete_groups(sl_req_t *req);
void sl_handle_consumer_group_heartbeat(sl_req_t *req);
void sl_handle_consumer_group_describe(sl_req_t *req);

/* Kafka error codes used by the handlers (KAFKA-PROTOCOL.md §7). */
enum {
    KE_NONE = 0,
    KE_UNKNOWN_SERVER_ERROR = -1,
    KE_OFFSET_OUT_OF_RANGE = 1,
    KE_CORRUPT_MESSAGE = 2,
    KE_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KE_INVALID_FETCH_SIZE = 4,
    KE_LEADER_NOT_AVAILABLE = 5,
    KE_NOT_LEADER_OR_FOLLOWER = 6,
    KE_REQUEST_TIMED_OUT = 7,
    KE_MESSAGE_TOO_LARGE = 10,
    KE_OFFSET_METADATA_TOO_LARGE = 12,
    KE_COORDINATOR_LOAD_IN_PROGRESS = 14,
    KE_COORDINATOR_NOT_AVAILABLE = 15,
    KE_NOT_COORDINATOR = 16,
    KE_INVALID_TOPIC_EXCEPTION = 17,
    KE_RECORD_LIST_TOO_LARGE = 18,
    KE_INVALID_REQUIRED_ACKS = 21,
    KE_ILLEGAL_GENERATION = 22,
    KE_INCONSISTENT_GROUP_PROTOCOL = 23,
    KE_INVALID_GROUP_ID = 24,
    KE_UNKNOWN_MEMBER_ID = 25,
    KE_INVALID_SESSION_TIMEOUT = 26,
    KE_REBALANCE_IN_PROGRESS = 27,
    KE_INVALID_COMMIT_OFFSET_SIZE = 28,
    KE_TOPIC_AUTHORIZATION_FAILED = 29,
    KE_UNSUPPORTED_VERSION = 35,
    KE_TOPIC_ALREADY_EXISTS = 36,
    KE_INVALID_PARTITIONS = 37,
    KE_INVALID_REPLICATION_FACTOR = 38,
    KE_INVALID_REPLICA_ASSIGNMENT = 39,
    KE_INVALID_CONFIG = 40,
    KE_INVALID_REQUEST = 42,
    KE_TOPIC_DELETION_DISABLED = 73,
    KE_NON_EMPTY_GROUP = 68,
    KE_GROUP_ID_NOT_FOUND = 69,
    KE_MEMBER_ID_REQUIRED = 79,
    KE_GROUP_MAX_SIZE_REACHED = 81,
    KE_FENCED_INSTANCE_ID = 82,
    KE_GROUP_SUBSCRIBED_TO_TOPIC = 86,
    KE_UNSTABLE_OFFSET_COMMIT = 88,
    KE_FENCED_MEMBER_EPOCH = 110,
    KE_UNRELEASED_INSTANCE_ID = 111,
    KE_UNSUPPORTED_ASSIGNOR = 112,
    KE_STALE_MEMBER_EPOCH = 113,
    KE_INVALID_REGULAR_EXPRESSION = 128,
    KE_KAFKA_STORAGE_ERROR = 56,
    KE_UNSUPPORTED_COMPRESSION_TYPE = 76,
    KE_INVALID_RECORD = 87,
    KE_UNKNOWN_TOPIC_ID = 100,
};

#endif /* SL_API_H */
