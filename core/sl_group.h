/*
 * sl_group.h — the group coordinator of one shard: classic groups as state
 * machines, their committed offsets, and their records in __consumer_offsets
 * (ARCHITECTURE.md §1 and §5, KAFKA-PROTOCOL.md §5).
 *
 * Placement
 *   A group belongs to partition abs(javaHashCode(group id)) % partitions of
 *   __consumer_offsets, and lives on the shard that owns that partition. Only
 *   that shard's thread touches the group; requests reach it as fan-out items
 *   (sl_gop_t) sent by the shard that accepted the connection.
 *
 * Classic group states (Kafka's ClassicGroupState) and the transitions, each
 * made only by group_set_state() in sl_group.c, which asserts legality:
 *
 *   EMPTY               -> PREPARING_REBALANCE   a member joins    (classic_add_member)
 *   EMPTY               -> DEAD                  deleted, or offsets all expired
 *   PREPARING_REBALANCE -> COMPLETING_REBALANCE  every member rejoined or the join
 *                                                deadline passed    (classic_complete_join)
 *   PREPARING_REBALANCE -> EMPTY                 nobody rejoined    (classic_complete_join)
 *   PREPARING_REBALANCE -> DEAD                  deleted
 *   COMPLETING_REBALANCE-> STABLE                the leader's assignment is stored
 *   COMPLETING_REBALANCE-> PREPARING_REBALANCE   a join, leave, expiry or sync timeout
 *   STABLE              -> PREPARING_REBALANCE   a join of the leader or with new
 *                                                metadata, a leave, a session expiry
 *   any                 -> DEAD                  (not EMPTY: the group is deleted only
 *                                                when it has no members; DEAD is terminal)
 *
 * Requests in each state (error codes are Kafka's):
 *   EMPTY                join starts a rebalance (after group.initial.rebalance.delay.ms
 *                        for the first members); sync/heartbeat UNKNOWN_MEMBER_ID;
 *                        commits only from outside a generation (generation -1)
 *   PREPARING_REBALANCE  joins are parked until all members rejoined; heartbeat and
 *                        sync REBALANCE_IN_PROGRESS; commits from the current generation
 *   COMPLETING_REBALANCE syncs are parked until the leader's sync; commits
 *                        REBALANCE_IN_PROGRESS; heartbeats keep members alive
 *   STABLE               heartbeats, syncs answered at once, commits of the generation
 *
 * Members
 *   A member has an id (client id + "-" + uuid, made here), maybe a group instance id
 *   (static membership, KIP-345), its protocols (name + metadata) and its assignment.
 *   Its session deadline is refreshed by heartbeats, syncs and commits; a member with a
 *   parked join or sync never expires. With JoinGroup v4+ a new dynamic member first
 *   gets MEMBER_ID_REQUIRED and a member id (KIP-394): it is "pending" until it rejoins
 *   with that id, and forgotten if it does not within its session timeout.
 *
 * One timer per group (group->timer) fires at the earliest of: the join deadline
 * (PREPARING_REBALANCE), the sync deadline (COMPLETING_REBALANCE), and the session
 * deadlines of members and pending members. It only moves earlier when armed; a
 * firing re-evaluates everything and re-arms.
 *
 * Persistence: see sl_group_log.c. Group metadata records are written when a
 * generation's assignment is stored (-> STABLE), when the group becomes EMPTY, and
 * as a tombstone when it is deleted; offset commits are written before they are
 * acknowledged. Both are applied to memory when their append completed.
 */
#ifndef SL_GROUP_H
#define SL_GROUP_H

#include "sl_base.h"
#include "sl_fanout.h"
#include "io_timer.h"
#include "kp_batch.h"

#define SL_GROUP_OFFSETS_TOPIC "__consumer_offsets"
#define SL_GROUP_MAX_ID_BYTES 1024         /* group ids, member ids, instance ids */
#define SL_GROUP_MAX_PROTOCOLS 64          /* protocols one member offers */
#define SL_GROUP_MAX_MEMBERS 65536         /* per group, also group.max.size's cap */
#define SL_GROUP_MAX_METADATA_BYTES (1 << 20) /* member metadata / assignment */
#define SL_GROUP_MAX_RECORD_BYTES (64 << 20)  /* one group metadata record */

typedef enum {
    SL_GROUP_EMPTY,
    SL_GROUP_PREPARING_REBALANCE,
    SL_GROUP_COMPLETING_REBALANCE,
    SL_GROUP_STABLE,
    SL_GROUP_DEAD,
    SL_GROUP_STATE_COUNT
} sl_group_state_t;

/* Kafka's names ("Empty", "PreparingRebalance", ...), as DescribeGroups reports. */
const char *sl_group_state_name(sl_group_state_t s);

struct sl_gop;
struct sl_coord;

typedef struct sl_protocol {
    char *name;
    uint8_t *metadata;
    uint32_t metadata_len;
} sl_protocol_t;

typedef struct sl_member {
    struct sl_member *next; /* join order */
    char *member_id;
    char *instance_id; /* NULL: dynamic member */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    uint32_t protocol_count;
    sl_protocol_t *protocols;
    uint8_t *assignment;
    uint32_t assignment_len;
    struct sl_gop *awaiting_join;
    struct sl_gop *awaiting_sync;
    uint64_t session_deadline_ns;
    bool is_new; /* joined during the current rebalance */
} sl_member_t;

typedef struct sl_pending_member {
    struct sl_pending_member *next;
    char *member_id;
    uint64_t deadline_ns;
} sl_pending_member_t;

/* One committed offset of (topic, partition). */
typedef struct sl_offset {
    struct sl_offset *next; /* hash chain */
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata; /* never NULL ("" when none) */
    int64_t commit_timestamp_ms;
    int64_t expire_timestamp_ms; /* -1: by the group's rule */
} sl_offset_t;

struct sl_cgroup; /* KIP-848 consumer group state, sl_group_consumer.c */

typedef struct sl_group {
    struct sl_group *hash_next;
    struct sl_cgroup *cg; /* non-NULL: a consumer-protocol (KIP-848) group; the
                           * classic fields below are then unused */
    struct sl_coord *coord;
    char *id;
    int32_t partition; /* of __consumer_offsets */
    sl_group_state_t state;
    int64_t state_timestamp_ms;
    int32_t generation;
    char *protocol_type; /* NULL: no member ever joined (offsets only) */
    char *protocol_name; /* selected protocol, NULL when EMPTY */
    char *leader_id;     /* NULL when EMPTY */
    sl_member_t *members;
    uint32_t member_count;
    uint32_t awaiting_join_count;
    sl_pending_member_t *pending;
    io_timer_t timer;
    uint64_t join_deadline_ns; /* PREPARING_REBALANCE: complete the join then */
    uint64_t sync_deadline_ns; /* COMPLETING_REBALANCE: give up on the leader then */
    int64_t initial_delay_left_ms; /* >= 0 while the first rebalance's delay runs */
    bool new_member_during_delay;
    /* offsets */
    sl_offset_t **offsets;
    uint32_t offsets_mask;
    uint32_t offset_count;
    uint32_t appends_inflight; /* keeps the group alive until they complete */
    bool deleted;              /* DEAD and unlinked; freed when appends_inflight is 0 */
} sl_group_t;

/* The coordinator of one shard. */
typedef struct sl_coord {
    sl_shard_t *shard;
    sl_group_t **groups;
    uint32_t groups_mask;
    uint32_t group_count;
    sl_uuid_t offsets_topic_id; /* zero until __consumer_offsets is adopted */
    int32_t offsets_partition_count;
    io_timer_t expiry_timer; /* offsets.retention.check.interval.ms */
    /* Log rewrite state per __consumer_offsets partition (sl_group_rewrite.c):
     * rewrite_cut[p] >= 0 while a rewrite's records are being written; once the
     * high watermark reaches rewrite_end[p] the log start moves to rewrite_cut[p]. */
    int64_t *rewrite_cut;
    int64_t *rewrite_end;
    uint64_t commits, group_writes, loaded_records, rewrites; /* stats */
} sl_coord_t;

/* A group operation: a fan-out item carrying one request (or one group of a
 * multi-group request) to the group's shard. The origin fills the inputs; the
 * owner fills out (a generated response struct or element) with memory from
 * arena, then calls sl_gop_finish(). The origin encodes out and destroys arena. */
typedef struct sl_gop {
    void (*run)(struct sl_coord *c, struct sl_gop *op); /* on the owner */
    sl_fanout_part_t *part; /* set on the owner */
    sl_shard_t *owner;
    int16_t version;
    const void *in;
    void *out;
    kp_arena_t arena;
    kp_str_t client_id;
    char client_host[64];
    const kp_str_t *group_id;
    int32_t partition; /* of __consumer_offsets */
} sl_gop_t;

/* Owner: the operation is answered (out filled); hands it back to the origin. */
void sl_gop_finish(sl_gop_t *op);
/* Copies into the operation's result arena (what the origin may read after the
 * group changed). A NULL string gives the null string; out of memory gives ""
 * and empty bytes (the response is then incomplete, never invalid). */
kp_str_t sl_gop_str(sl_gop_t *op, const char *s);
kp_bytes_t sl_gop_bytes(sl_gop_t *op, const uint8_t *b, uint32_t len);
/* Wall-clock milliseconds (commit timestamps, state timestamps). */
int64_t sl_group_wall_ms(void);

/* Java's String.hashCode over the UTF-16 code units of a UTF-8 group id
 * (invalid UTF-8 bytes count as U+FFFD), then Kafka's Utils.abs and modulo. */
int32_t sl_group_partition_for(const char *id, size_t len, int32_t partition_count);

/* Shard set-up / tear-down. Returns 0 or -ENOMEM. */
int sl_coord_init(sl_shard_t *s);
void sl_coord_destroy(sl_shard_t *s);
/* After the shard adopted a snapshot (s->meta; old: the one before, or NULL):
 * loads the groups of __consumer_offsets partitions newly owned here (blocking
 * reads of their logs), and removes the committed offsets of topics that were
 * deleted, writing their tombstones (Kafka's onPartitionsDeleted). */
void sl_coord_adopted(sl_shard_t *s, const sl_meta_t *old);
/* The shard is stopping: parked joins and syncs are answered now. */
void sl_coord_stop(sl_shard_t *s);

/* Lookup helpers for the operations (sl_group_*.c). */
sl_group_t *sl_coord_find(sl_coord_t *c, const char *id, size_t len);
/* NULL on allocation failure. The group starts EMPTY with generation 0. */
sl_group_t *sl_coord_create(sl_coord_t *c, const char *id, size_t len, int32_t partition);
/* Unlinks a DEAD group and frees it (now or when its appends complete). */
void sl_coord_remove(sl_coord_t *c, sl_group_t *g);

void sl_group_set_state(sl_group_t *g, sl_group_state_t to);
sl_member_t *sl_group_member(sl_group_t *g, const char *member_id, size_t len);
sl_member_t *sl_group_member_by_instance(sl_group_t *g, const char *instance_id, size_t len);
void sl_member_free(sl_member_t *m);
/* Kafka's ClassicGroup.validateMember (sl_group_classic.c). NULL with *err set. */
sl_member_t *sl_group_validate_member(sl_group_t *g, kp_str_t member_id, kp_str_t instance_id,
                                      int16_t *err);

/* Offsets (sl_group_offsets.c). */
sl_offset_t *sl_group_offset_find(sl_group_t *g, const char *topic, size_t len, int32_t partition);
/* Sets an offset (any value, as committed). Returns 0 or -ENOMEM. */
int sl_group_offset_put(sl_group_t *g, const char *topic, size_t topic_len, int32_t partition,
                        int64_t offset, int32_t leader_epoch, const char *metadata,
                        size_t metadata_len, int64_t commit_ts, int64_t expire_ts);
void sl_group_offset_remove(sl_group_t *g, const char *topic, size_t len, int32_t partition);
void sl_group_offsets_clear(sl_group_t *g);

/* Group timer: re-arms at the earliest deadline (sl_group_classic.c). */
void sl_group_rearm(sl_group_t *g);

/* Entry points on the owner shard (sl_group_classic.c, sl_group_offsets.c,
 * sl_group_admin.c); each ends in sl_gop_finish(op), maybe later. */
void sl_group_join(sl_coord_t *c, sl_gop_t *op);
void sl_group_sync(sl_coord_t *c, sl_gop_t *op);
void sl_group_heartbeat(sl_coord_t *c, sl_gop_t *op);
void sl_group_leave(sl_coord_t *c, sl_gop_t *op);
void sl_group_offset_commit(sl_coord_t *c, sl_gop_t *op);
void sl_group_offset_fetch(sl_coord_t *c, sl_gop_t *op); /* in: one group (v8 element form) */
void sl_group_offset_delete(sl_coord_t *c, sl_gop_t *op);
void sl_group_describe(sl_coord_t *c, sl_gop_t *op);
void sl_group_delete(sl_coord_t *c, sl_gop_t *op);
void sl_group_list(sl_coord_t *c, sl_gop_t *op);
void sl_group_consumer_heartbeat(sl_coord_t *c, sl_gop_t *op);
void sl_group_consumer_describe(sl_coord_t *c, sl_gop_t *op);

/* KIP-848 groups (sl_group_consumer.c). */
void sl_cgroup_free(struct sl_cgroup *cg);
/* "Empty", "Assigning", "Reconciling", "Stable". */
const char *sl_cgroup_state_name(const struct sl_cgroup *cg);
bool sl_cgroup_is_empty(const struct sl_cgroup *cg);
uint32_t sl_cgroup_member_count(const struct sl_cgroup *cg);
/* OffsetCommit / OffsetFetch v9 member checks: KE_NONE, UNKNOWN_MEMBER_ID,
 * STALE_MEMBER_EPOCH. */
int16_t sl_cgroup_check_member_epoch(struct sl_cgroup *cg, kp_str_t member_id, int32_t epoch,
                                     bool commit);
uint64_t sl_cgroup_next_deadline(const struct sl_cgroup *cg);
/* Loading __consumer_offsets: applies a record of type 3, 5, 6, 7 or 8 (rec's key
 * starts with that int16). Undecodable records are logged and skipped. */
void sl_cgroup_load_record(sl_coord_t *c, int32_t partition, int16_t type,
                           const kp_record_t *rec);
/* Writes the consumer group's records now (log rewrite). */
void sl_cgroup_persist(sl_group_t *g);
/* Appends every committed offset of g again (log rewrite). 0 or an error. */
int sl_group_offsets_write_all(sl_group_t *g);
/* Log rewrite of __consumer_offsets (sl_group_rewrite.c): called by the
 * coordinator's periodic timer. */
void sl_group_rewrite_check(sl_coord_t *c);

/* DeleteGroups of a consumer group: tombstones of its records 3 and 6. */
int sl_cgroup_write_delete(sl_group_t *g, void (*done)(sl_group_t *g, int err, void *ctx),
                           void *ctx);
void sl_cgroup_on_timer(sl_group_t *g);
/* Members for DescribeGroups: fills ids, client ids and hosts. */
int32_t sl_cgroup_describe_classic(const struct sl_cgroup *cg, sl_gop_t *op, void *members_out);

/* Persistence (sl_group_log.c): appends the group's metadata record (a
 * tombstone when deleted) and calls done(g, err) when it completed. */
int sl_group_log_store_group(sl_group_t *g, void (*done)(sl_group_t *g, int err, void *ctx),
                             void *ctx);
/* Loads partition p's records into the coordinator. Returns 0 or -errno. */
int sl_group_log_load(sl_coord_t *c, struct st_log *log, int32_t partition);

/* Between the coordinator's own files (not for handlers). */
bool sl_group_transition_legal(sl_group_state_t from, sl_group_state_t to);
void sl_group_release_if_deleted(sl_group_t *g);
void sl_group_on_timer(sl_group_t *g);
void sl_group_expire_offsets(sl_coord_t *c);
void sl_coord_stop_groups(sl_coord_t *c);
int sl_group_offsets_drop_all(sl_group_t *g);
/* Removes g's committed offsets of one topic and writes their tombstones.
 * Returns how many were removed. */
uint32_t sl_group_offsets_drop_topic(sl_group_t *g, const char *topic);
size_t sl_group_offset_key(uint8_t *buf, size_t cap, const char *group, const char *topic,
                           size_t topic_len, int32_t partition);
size_t sl_group_offset_value(uint8_t *buf, size_t cap, int64_t offset, int32_t leader_epoch,
                             const char *metadata, size_t metadata_len, int64_t commit_ts,
                             int64_t expire_ts);
/* A write block with room for a batch of batch_cap bytes (*batch_out), to be
 * handed to sl_group_log_submit (which owns it from then on). NULL: no memory. */
void *sl_group_log_alloc(size_t batch_cap, uint8_t **batch_out);
int sl_group_log_submit(sl_group_t *g, void *block, uint32_t len,
                        void (*done)(sl_group_t *g, int err, void *ctx), void *ctx);

#endif /* SL_GROUP_H */
