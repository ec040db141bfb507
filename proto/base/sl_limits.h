/*
 * sl_limits.h — every limit in sluice, in one place (STYLE.md §6).
 *
 * Decoders check these, pools are sized from them, and running out applies
 * backpressure (and is logged) rather than failing the broker. A limit that a
 * Kafka configuration can lower or raise is the hard ceiling of that setting.
 */
#ifndef SL_LIMITS_H
#define SL_LIMITS_H

/* --- shards and connections -------------------------------------------- */
#define SL_MAX_SHARDS 64                 /* one per core; MSG_RING fan-out */
#define SL_MAX_CONNS_PER_SHARD 16384     /* preallocated connection slots */
#define SL_MAX_INFLIGHT_PER_CONN 64      /* pipelined requests awaiting response */
#define SL_CROSS_SHARD_QUEUE_DEPTH 4096  /* SPSC queue slots per ordered pair */

/* --- frames and protocol fields ---------------------------------------- */
#define SL_DEFAULT_REQUEST_MAX_BYTES (100 * 1024 * 1024) /* socket.request.max.bytes */
#define SL_MAX_REQUEST_MAX_BYTES (1024 * 1024 * 1024)
#define KP_MAX_STRING_BYTES 32767        /* int16 length strings */
#define KP_MAX_ARRAY_COUNT (1 << 20)     /* also capped by remaining bytes */
#define KP_MAX_TAGGED_FIELDS 1024
#define KP_MAX_TOPIC_NAME_BYTES 249      /* Kafka's topic name limit */
#define KP_MAX_CLIENT_ID_BYTES 32767

/* --- topics, partitions, storage ---------------------------------------- */
#define SL_MAX_TOPICS 100000
#define SL_MAX_PARTITIONS_PER_TOPIC 100000
#define SL_MAX_PARTITIONS_TOTAL 200000
#define SL_MAX_LOG_DIRS 16
#define SL_MAX_PATH 4096
#define ST_MAX_SEGMENT_BYTES (1LL << 31) /* .index positions are int32 */

#endif /* SL_LIMITS_H */
