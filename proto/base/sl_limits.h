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
#define SL_RING_SQ_ENTRIES 1024          /* submission queue per shard */
#define SL_RING_MAX_PENDING 65536        /* in-flight operations per shard */
#define SL_RECV_BUF_COUNT 512            /* provided receive buffers per shard */
#define SL_RECV_BUF_BYTES (32 * 1024)    /* 512 x 32 KiB = 16 MiB per shard */
#define SL_DIRECT_RECV_MIN_BYTES (64 * 1024) /* rest of a frame read straight into it */
#define SL_ACCEPT_BACKOFF_MS 100         /* accept retry after EMFILE / ENFILE / ENOMEM */
#define SL_PIPES_PER_SHARD 64            /* zero-copy fetch pipes (io_splice.h) */
#define SL_PIPE_BYTES (256 * 1024)       /* asked of F_SETPIPE_SZ; the kernel may grant less.
                                          * 64 x 256 KiB x 2 shards stays inside the default
                                          * per-user pipe budget (pipe-user-pages-soft: 64 MiB) */
#define SL_TIMERS_PER_SHARD 65536
/* A Fetch response carries at most this much record data (Kafka's broker
 * fetch.max.bytes default); each partition's read buffer is capped by it too,
 * whatever MaxBytes / PartitionMaxBytes the client asked for. */
#define SL_FETCH_MAX_BYTES 57671680
#define SL_MAX_REQUEST_ARENA_BYTES (64 * 1024 * 1024) /* decoded form of one request */

/* --- frames and protocol fields ---------------------------------------- */
#define SL_DEFAULT_REQUEST_MAX_BYTES (100 * 1024 * 1024) /* socket.request.max.bytes */
#define SL_MAX_REQUEST_MAX_BYTES (1024 * 1024 * 1024)
#define KP_MAX_STRING_BYTES 32767        /* int16 length strings */
#define KP_MAX_ARRAY_COUNT (1 << 20)     /* also capped by remaining bytes */
#define KP_MAX_TAGGED_FIELDS 1024
#define KP_MAX_TOPIC_NAME_BYTES 249      /* Kafka's topic name limit */
#define KP_MAX_CLIENT_ID_BYTES 32767

/* --- per-request decode arena (kp_codec.h) ------------------------------- */
#define KP_ARENA_FIRST_CHUNK_BYTES (16 * 1024) /* kept across requests */

/* --- topics, partitions, storage ---------------------------------------- */
#define SL_MAX_TOPICS 100000
#define SL_MAX_PARTITIONS_PER_TOPIC 100000
#define SL_MAX_PARTITIONS_TOTAL 200000
#define SL_MAX_LOG_DIRS 16
#define SL_MAX_PATH 4096
#define ST_MAX_SEGMENT_BYTES (1LL << 31) /* .index positions are int32 */

/* --- record batches and the partition log (kp_batch.h, storage/) --------- */
/* A batch arrives inside one request, so no batch is larger than the largest
 * request; kp_batch_parse_header() rejects a batchLength beyond this at once. */
#define KP_MAX_BATCH_BYTES SL_MAX_REQUEST_MAX_BYTES
/* Appends waiting for their write (or their group-commit fdatasync) per shard: the
 * st_store write-record pool, allocated once at st_store_open (~100 B each).
 * Running out returns -EBUSY from st_log_append (backpressure). */
#define ST_MAX_PENDING_APPENDS_PER_SHARD 16384
/* Batch positions of the active segment kept in memory per log so tail fetches
 * need no index lookup or disk read: 16 B each, 256 B per partition. */
#define ST_RECENT_BATCHES_PER_LOG 16
/* Sequential read chunk of recovery and index rebuild (one buffer per open). */
#define ST_RECOVERY_READ_BYTES (4 * 1024 * 1024)
/* Metadata log (st_metalog.h): largest record payload, appends in flight. */
#define ST_METALOG_MAX_RECORD_BYTES (16 * 1024 * 1024)
#define ST_METALOG_MAX_PENDING 4096

/* Idempotent-producer state per partition (st_producer.h): producers remembered
 * (~200 B each; when full, the least recently used is forgotten), and the batches
 * retained per producer for duplicate detection (Kafka's NUM_BATCHES_TO_RETAIN, the
 * client's max.in.flight.requests.per.connection limit for idempotence). */
#define ST_MAX_PRODUCERS_PER_PARTITION 10000
#define ST_PRODUCER_BATCHES_RETAINED 5

#endif /* SL_LIMITS_H */
