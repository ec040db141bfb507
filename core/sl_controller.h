/*
 * sl_controller.h — the controller: the only place metadata changes, on
 * shard 0 (ARCHITECTURE.md §1).
 *
 * A change (create or delete topics) arrives as an sl_ctl_op_t message from
 * the shard that took the request. The controller handles one op at a time:
 *   1. validate every topic of the op against the current snapshot;
 *   2. append one record describing the accepted changes to the metadata log
 *      (fdatasync'd through shard 0's ring) — unless validate_only;
 *   3. build the next snapshot and hand every shard a reference to adopt
 *      (each opens or deletes the logs of the partitions it owns);
 *   4. when every shard has adopted, send the op back to its origin, whose
 *      on_done callback encodes the response.
 * So when a CreateTopics response leaves, every shard already serves the topic.
 *
 * Metadata log records (payload formats; all integers big-endian):
 *   type 1 TOPICS_CREATED: u16 version=0, i32 n, n x { i16 name_len, name,
 *          16-byte id, i32 partitions, partitions x { i16 shard, i16 log_dir },
 *          i32 configs, configs x { i16 len, name, i16 len, value } }
 *   type 2 TOPICS_DELETED: u16 version=0, i32 n, n x 16-byte id
 *   type 3 CLUSTER_ID:     u16 version=0, i16 len, cluster id text
 *   type 4 TOPICS_UPDATED: as TOPICS_CREATED; each topic replaces the one of
 *          the same name (configs altered, same id and placement)
 */
#ifndef SL_CONTROLLER_H
#define SL_CONTROLLER_H

#include "sl_shard.h"
#include "kp_codec.h"

struct sl_req;
struct st_metalog;

typedef enum { SL_CTL_CREATE = 1, SL_CTL_DELETE, SL_CTL_ALTER_CONFIGS } sl_ctl_kind_t;

/* IncrementalAlterConfigs operations (Kafka's OpType ids). */
enum { SL_CFG_OP_SET = 0, SL_CFG_OP_DELETE = 1, SL_CFG_OP_APPEND = 2, SL_CFG_OP_SUBTRACT = 3 };

/* One topic of an op: inputs set by the origin, outputs by the controller. */
typedef struct sl_ctl_topic {
    /* in */
    kp_str_t name;          /* create; delete by name when id is zero */
    sl_uuid_t id;           /* delete by id (DeleteTopics v6) */
    int32_t num_partitions; /* -1: num.partitions */
    int16_t replication_factor;
    int32_t config_count;
    const kp_str_t *config_names;
    const kp_str_t *config_values;
    const int8_t *config_ops; /* alter: SL_CFG_OP_* per config (NULL: all SET) */
    /* out */
    int16_t error_code;
    const char *error_message; /* static text or error_buf */
    char error_buf[192];
    sl_uuid_t id_out;
    int32_t partitions_out;
    char name_out[KP_MAX_TOPIC_NAME_BYTES + 1]; /* delete by id: the name found */
} sl_ctl_topic_t;

typedef struct sl_ctl_op {
    sl_xmsg_t x;
    sl_ctl_kind_t kind;
    bool validate_only;
    bool internal; /* the broker itself creates an internal topic (__consumer_offsets) */
    bool replace_all; /* alter: AlterConfigs replaces every override */
    int32_t topic_count;
    sl_ctl_topic_t *topics;
    struct sl_req *req;
    void (*on_done)(struct sl_req *req, struct sl_ctl_op *op); /* on the origin shard */
    /* controller's working state */
    struct sl_ctl_op *queue_next;
    sl_meta_t *next_meta;
    int32_t adopt_pending;
    struct sl_ctl_adopt {
        sl_xmsg_t x;
        struct sl_ctl_op *op;
        sl_meta_t *meta;
    } adopt[SL_MAX_SHARDS];
} sl_ctl_op_t;

typedef struct sl_controller {
    sl_broker_t *broker;
    struct st_metalog *mlog;
    sl_meta_t *current;        /* the latest published snapshot (own reference) */
    sl_ctl_op_t *queue_head, *queue_tail;
    bool busy;
    uint32_t next_shard;       /* round-robin placement cursors */
    uint32_t next_dir;
    bool cluster_id_persisted;
} sl_controller_t;

/* Start-up, on the main thread: opens the metadata log under the first log
 * dir, replays it and builds the initial snapshot (b->initial_meta). Returns 0
 * or a negative error with the reason logged. */
int sl_controller_open(sl_broker_t *b, sl_controller_t **out);
void sl_controller_close(sl_controller_t *c);

/* From any shard: hands op to the controller. The origin's on_done runs later
 * on the origin shard. */
void sl_controller_submit(sl_shard_t *origin, sl_ctl_op_t *op);


#endif /* SL_CONTROLLER_H */
