/*
 * sl_shard.h — a shard: one thread pinned to one core, with its own io_uring
 * ring, connections, timers, storage and the partitions it owns.
 *
 * Threading (ARCHITECTURE.md §1)
 *   Everything in sl_shard_t is touched only by its own thread, except the
 *   inbound queues (inbox[from], single producer = shard `from`) and ring_fd
 *   (read by others to ring the doorbell, immutable once the shard is up).
 *   Other shards are reached only by sl_shard_post(): the message is pushed on
 *   the SPSC queue for (self -> target) and the target's ring is woken with
 *   IORING_OP_MSG_RING once per loop turn.
 *
 * Messages (sl_xmsg_t) are owned by whoever created them; a message travels to
 *   a shard, runs there, and usually travels back carrying its result (a
 *   request's per-shard part, sl_fanout.h). A message posted to the shard itself
 *   runs later in the same loop turn, never re-entrantly.
 *
 * The loop, one turn:
 *   1. run local and inbound messages;          4. storage end-of-turn (group commit)
 *   2. fire due timers;                          5. ring doorbells of shards we posted to
 *   3. re-arm receives that ran out of buffers;  6. submit + wait for completions, dispatch
 */
#ifndef SL_SHARD_H
#define SL_SHARD_H

#include "sl_base.h"
#include "sl_config.h"
#include "sl_meta.h"
#include "io_bufring.h"
#include "io_splice.h"
#include "sl_pool.h"
#include "io_ring.h"
#include "io_spsc.h"
#include "io_timer.h"
#include "io_net.h"

#include <pthread.h>
#include <stdatomic.h>

struct st_store;
struct st_log;
struct sl_conn;
struct sl_broker;
struct sl_shard;
struct sl_producer_ids;

typedef struct sl_xmsg {
    void (*run)(struct sl_shard *self, struct sl_xmsg *m);
    struct sl_xmsg *next; /* local run list / overflow list linkage */
    int16_t from_shard;
} sl_xmsg_t;

typedef struct sl_xmsg_list {
    sl_xmsg_t *head, *tail;
} sl_xmsg_list_t;

/* Logs of one topic owned by this shard: logs[p] is NULL for partitions owned
 * by other shards. */
typedef struct sl_local_topic {
    sl_uuid_t id;
    int32_t partition_count;
    struct st_log **logs;
} sl_local_topic_t;

typedef struct sl_shard {
    int id;
    struct sl_broker *broker;
    const sl_config_t *config;
    pthread_t thread;
    io_ring_t ring;
    _Atomic int ring_fd; /* -1 until the ring exists */
    io_bufring_t bufring;
    io_pipe_pool_t pipes;             /* zero-copy fetch (io_splice.h) */
    uint64_t splice_fallbacks;        /* file pieces read and sent from memory instead */
    uint64_t direct_recv_bytes;       /* frame bytes read straight into frames (sl_conn.h) */
    sl_pool_t pool;                   /* request and buffer caches (sl_pool.h) */
    void *region;                     /* registered with the ring (fixed buffer 0), or NULL */
    bool loop_failed;                 /* the ring failed: left the loop without the quiesce */
    size_t region_len;
    io_timers_t timers;
    struct st_store *store;

    /* Connections: preallocated slots on a free list (nginx-style). */
    int listen_fd;
    io_token_t accept_token;
    bool accept_armed;
    io_timer_t accept_backoff;  /* re-arms accept after a resource error (EMFILE...) */
    uint64_t accept_errors;
    uint64_t accept_warned_ms;
    struct sl_conn *conns;
    struct sl_conn *conn_free;
    uint32_t conn_count;
    struct sl_conn *rearm_head; /* receives waiting for buffers */

    /* Cross-shard messaging. */
    io_spsc_t inbox[SL_MAX_SHARDS]; /* inbox[s]: messages from shard s */
    sl_xmsg_list_t overflow[SL_MAX_SHARDS]; /* outbound, target queue was full */
    bool doorbell_due[SL_MAX_SHARDS];
    sl_xmsg_list_t local;

    /* Metadata and owned partitions. */
    sl_meta_t *meta;
    sl_local_topic_t *topics; /* open addressing by topic id */
    uint32_t topics_mask;
    uint32_t topic_count;

    /* Long-poll fetches parked on this shard (sl_fetch.c). */
    struct sl_req *parked_head;
    _Atomic bool fetch_wake; /* set by appenders on any shard */
    uint64_t appends_this_turn;

    /* Group coordinator of the __consumer_offsets partitions owned here (sl_group.h). */
    struct sl_coord *coord;

    /* Producer id allocator: shard 0 only, NULL elsewhere (sl_producer_ids.h). */
    struct sl_producer_ids *producer_ids;

    bool stopping;
    bool quiesced;
    bool storage_needs_recovery; /* set at exit: a log lost durability */
    uint64_t inflight_requests;
    uint64_t turns;
} sl_shard_t;

/* Process-wide broker: config, shards, shutdown coordination. */
typedef struct sl_broker {
    sl_config_t config;
    int shard_count;
    sl_shard_t *shards;
    struct sl_controller *controller; /* lives on shard 0 */
    io_endpoint_t listener;
    io_endpoint_t advertised;
    bool log_dirs_clean[SL_MAX_LOG_DIRS];
    /* A log dir that could not be used at start-up is offline: its partitions
     * answer KAFKA_STORAGE_ERROR and new partitions are placed elsewhere. The
     * first online dir holds the metadata log. Immutable once shards run. */
    bool log_dirs_offline[SL_MAX_LOG_DIRS];
    int metadata_log_dir;
    _Atomic bool stop;
    _Atomic int shards_ready;   /* rings up */
    _Atomic int shards_serving; /* listeners up */
    _Atomic int shards_quiesced;
    _Atomic int shards_failed;
    _Atomic uint64_t parked_shards_mask; /* shards with parked fetches */
    _Atomic uint64_t append_seq; /* bumped by every turn that appended (sl_fetch.h) */
    sl_meta_t *initial_meta; /* replayed at start, adopted by every shard */
} sl_broker_t;

/* Queues m to run on shard target (itself included). Never fails: a full queue
 * spills into an overflow list retried every turn. */
void sl_shard_post(sl_shard_t *self, int target, sl_xmsg_t *m);

/* The local logs for (topic id, partition) or NULL if not owned here. */
struct st_log *sl_shard_log(sl_shard_t *s, const sl_uuid_t *topic_id, int32_t partition);

/* Adopts snapshot m (a reference handed over by the caller): opens logs for
 * partitions now owned here, deletes the logs of topics that disappeared.
 * Returns 0 or the first -errno of a log that failed to open (logged; the
 * partition then answers KAFKA_STORAGE_ERROR). */
int sl_shard_adopt(sl_shard_t *s, sl_meta_t *m);

/* Called by storage-append completions: a partition on this shard advanced its
 * high watermark, so parked fetches anywhere may now be satisfiable. */
void sl_shard_note_append(sl_shard_t *s);

/* Thread entry. */
void *sl_shard_main(void *arg);

/* Path of a partition directory: <log.dir>/<topic>-<partition>. */
int sl_partition_dir(const sl_config_t *c, const sl_topic_meta_t *t, int32_t partition,
                     char *out, size_t out_len);

#endif /* SL_SHARD_H */
