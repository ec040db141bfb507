/*
 * sl_meta.h — immutable metadata snapshots: topics, their ids, partitions and
 * placement (which shard owns each partition, which log dir holds it).
 *
 * Ownership and threading
 *   Only shard 0 (the controller, sl_controller.h) creates snapshots. A snapshot
 *   is never modified after sl_meta_seal(); it is shared by every shard through
 *   references. Shard 0 takes one reference per shard and hands it over in an
 *   "adopt" message; a shard drops its old snapshot's reference when it adopts a
 *   new one. Topic objects are shared between successive snapshots, also by
 *   reference count. The last unref frees (from any thread).
 *
 * Invariants
 *   - topic names and ids are unique within a snapshot;
 *   - every partition's shard is < the number of running shards;
 *   - versions increase by one per change.
 */
#ifndef SL_META_H
#define SL_META_H

#include "sl_base.h"
#include "sl_limits.h"
#include "kp_codec.h"
#include <stdatomic.h>

/* Topic ids travel on the wire as kp_uuid_t; the broker uses the same type. */
typedef kp_uuid_t sl_uuid_t;

typedef struct sl_partition_meta {
    int16_t shard;   /* owner shard */
    int16_t log_dir; /* index into the broker's log.dirs */
} sl_partition_meta_t;

typedef struct sl_topic_config {
    char *name;
    char *value;
} sl_topic_config_t;

typedef struct sl_topic_meta {
    _Atomic int32_t refs;
    char name[KP_MAX_TOPIC_NAME_BYTES + 1];
    uint16_t name_len;
    sl_uuid_t id;
    bool internal;
    int32_t partition_count;
    sl_partition_meta_t *partitions;
    int32_t config_count;
    sl_topic_config_t *configs; /* topic-level overrides, Kafka names */
} sl_topic_meta_t;

typedef struct sl_meta {
    _Atomic int32_t refs;
    uint64_t version;
    char cluster_id[64];
    int32_t topic_count;
    sl_topic_meta_t **topics; /* sorted by name */
    int32_t *name_index;      /* open addressing: topic index or -1 */
    uint32_t name_index_mask;
} sl_meta_t;

/* Allocates a topic with partition_count partitions (placement zeroed) and
 * refs = 1. Returns NULL on allocation failure. */
sl_topic_meta_t *sl_topic_new(const char *name, size_t name_len, const sl_uuid_t *id,
                              int32_t partition_count);
/* Adds a config override (copied). Returns 0 or -ENOMEM. */
int sl_topic_add_config(sl_topic_meta_t *t, const char *name, size_t name_len, const char *value,
                        size_t value_len);
void sl_topic_ref(sl_topic_meta_t *t);
void sl_topic_unref(sl_topic_meta_t *t);

/* An empty snapshot at version 0 with refs = 1. NULL on allocation failure. */
sl_meta_t *sl_meta_new_empty(const char *cluster_id);
/* A new snapshot = old + topic (reference taken over from the caller) or old -
 * topic id. Version = old + 1, refs = 1. NULL on allocation failure (the
 * caller still owns its topic reference then). */
sl_meta_t *sl_meta_with_topic(const sl_meta_t *old, sl_topic_meta_t *topic);
sl_meta_t *sl_meta_without_topic(const sl_meta_t *old, const sl_uuid_t *id);
void sl_meta_ref(sl_meta_t *m);
void sl_meta_unref(sl_meta_t *m);

const sl_topic_meta_t *sl_meta_find(const sl_meta_t *m, const char *name, size_t name_len);
const sl_topic_meta_t *sl_meta_find_id(const sl_meta_t *m, const sl_uuid_t *id);

/* Kafka's Topic.isInternal: __consumer_offsets and __transaction_state, the
 * topics the broker writes itself (clients may not create, delete or produce). */
bool sl_topic_name_internal(const char *name, size_t len);

/* Kafka's topic name rule: 1..249 chars of [a-zA-Z0-9._-], not "." or "..". */
bool sl_topic_name_valid(const char *name, size_t len);

/* Random version-4 UUID (never the all-zero or the Kafka "metadata" id). */
void sl_uuid_generate(sl_uuid_t *out);
bool sl_uuid_is_zero(const sl_uuid_t *u);
/* Kafka's text form of topic ids: URL-safe base64 without padding (22 chars). */
void sl_uuid_to_base64(const sl_uuid_t *u, char out[23]);

#endif /* SL_META_H */
