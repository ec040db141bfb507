/*
 * sl_config.h — broker configuration with Kafka's names and defaults.
 *
 * Sources, lowest to highest precedence: built-in defaults, a server.properties
 * file (Kafka's syntax: key=value or key: value, '#'/'!' comments, trailing '\'
 * continues a line), environment variables SLUICE_<NAME> (below), then
 * command-line `--override key=value`. Every setting is described once in a
 * table (name, type, default, range, doc) that drives parsing, validation and
 * later DescribeConfigs. Unknown keys in the file are logged and ignored, as
 * Kafka does; an unknown SLUICE_ variable, an unknown --override or an invalid
 * value anywhere is an error that stops start-up with a clear message.
 *
 * Environment names (sl_config_env.c) follow Apache Kafka's docker image
 * (KAFKA_ there): drop the SLUICE_ prefix, lower-case, then '___' -> '-',
 * '__' -> '_', '_' -> '.', so SLUICE_LOG_RETENTION_HOURS=24 sets
 * log.retention.hours and SLUICE_ADVERTISED_LISTENERS sets advertised.listeners.
 * No setting has '_' or '-' in its name today; the escapes keep the mapping
 * total. Variables that are not settings but are read by sluice's own image,
 * tools and tests are skipped (sl_config_env_reserved below); any other
 * SLUICE_ variable must name a setting, so a typo stops the broker instead of
 * being silently ignored in a container.
 *
 * The struct is filled on the main thread before shards start and is read-only
 * afterwards (shards may read it freely).
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"

#define SL_CONFIG_STR_MAX 1024
#define SL_CONFIG_UNSET (-2)

typedef struct sl_config {
    /* network */
    char listeners[SL_CONFIG_STR_MAX];
    char advertised_listeners[SL_CONFIG_STR_MAX];
    int32_t socket_request_max_bytes;
    int32_t socket_send_buffer_bytes;
    int32_t socket_receive_buffer_bytes;
    int32_t max_connections_per_shard;
    int32_t fetch_splice_min_bytes; /* -1: never splice */
    int32_t registered_buffer_bytes; /* per shard, 0: none (sl_pool.h region) */
    /* identity */
    int32_t node_id;
    /* threads */
    int32_t num_shards;              /* 0 = one per online core */
    /* topics and logs */
    char log_dirs_raw[SL_CONFIG_STR_MAX];
    char log_dirs[SL_MAX_LOG_DIRS][SL_MAX_PATH];
    int32_t log_dir_count;
    int32_t num_partitions;
    int32_t default_replication_factor;
    bool auto_create_topics_enable;
    bool delete_topic_enable;
    int64_t log_segment_bytes;
    int32_t log_index_interval_bytes;
    int32_t log_index_size_max_bytes;
    int32_t message_max_bytes;
    /* log.* defaults that topic configs inherit (sl_topic_config.h). A value of
     * SL_CONFIG_UNSET (-2) marks an optional setting that was not given; the
     * effective values are computed by sl_config_finish(). */
    int32_t log_retention_hours;
    int64_t log_retention_minutes;
    int64_t log_retention_ms_set;
    int64_t log_retention_bytes;
    int32_t log_roll_hours;
    int64_t log_roll_ms_set;
    int32_t log_roll_jitter_hours;
    int64_t log_roll_jitter_ms_set;
    int64_t log_flush_interval_messages;
    int64_t log_flush_interval_ms;
    int64_t log_retention_check_interval_ms;
    int64_t log_segment_delete_delay_ms;
    int64_t log_cleaner_delete_retention_ms;
    int64_t log_cleaner_min_compaction_lag_ms;
    int64_t log_cleaner_max_compaction_lag_ms;
    char log_cleaner_min_cleanable_ratio[32];
    char log_cleanup_policy[64];
    char compression_type[32];
    char log_message_timestamp_type[32];
    int64_t log_message_timestamp_before_max_ms;
    int64_t log_message_timestamp_after_max_ms;
    int32_t min_insync_replicas;
    bool unclean_leader_election_enable;
    bool log_preallocate;
    /* effective, from the above */
    int64_t log_retention_ms;
    int64_t log_roll_ms;
    int64_t log_roll_jitter_ms;
    /* group coordinator (GroupCoordinatorConfig's names and defaults) */
    int32_t offsets_topic_num_partitions;
    int64_t offsets_topic_segment_bytes;
    int64_t offsets_retention_minutes;
    int64_t offsets_retention_check_interval_ms;
    int32_t offset_metadata_max_bytes;
    int32_t group_min_session_timeout_ms;
    int32_t group_max_session_timeout_ms;
    int32_t group_initial_rebalance_delay_ms;
    int32_t group_max_size;
    char group_consumer_assignors[256];
    int32_t group_consumer_session_timeout_ms;
    int32_t group_consumer_min_session_timeout_ms;
    int32_t group_consumer_max_session_timeout_ms;
    int32_t group_consumer_heartbeat_interval_ms;
    int32_t group_consumer_min_heartbeat_interval_ms;
    int32_t group_consumer_max_heartbeat_interval_ms;
    int32_t group_consumer_max_size;
    /* sluice-specific */
    int32_t log_level;               /* sl_log_level_t */
    /* which settings were given explicitly (file, environment or override),
     * by index into sl_config_descs: DescribeConfigs reports them as
     * STATIC_BROKER_CONFIG, the others as DEFAULT_CONFIG */
    uint64_t explicitly_set[2];
} sl_config_t;

typedef enum {
    SL_CFG_INT,
    SL_CFG_LONG,
    SL_CFG_BOOL,
    SL_CFG_STRING,
    SL_CFG_LOG_LEVEL,
    SL_CFG_SHORT_STRING, /* into a char[32] or char[64]: max length in desc->max */
} sl_config_type_t;

typedef struct sl_config_desc {
    const char *name;            /* Kafka's name */
    sl_config_type_t type;
    size_t offset;               /* into sl_config_t */
    const char *default_value;
    int64_t min, max;            /* for numbers */
    const char *doc;
} sl_config_desc_t;

extern const sl_config_desc_t sl_config_descs[];
extern const size_t sl_config_desc_count;

/* True if the setting named name was given explicitly. */
bool sl_config_is_set(const sl_config_t *c, const char *name);
/* The current value of setting d as text (buf: at least 32 bytes). */
const char *sl_config_value(const sl_config_t *c, const sl_config_desc_t *d, char *buf,
                            size_t buf_len);

/* Fills c with every default. Cannot fail. */
void sl_config_defaults(sl_config_t *c);

/* Sets one key. Returns 0; 1 if the key is unknown (logged, ignored); or
 * SL_ERR_PROTO with a message in err for an invalid value. */
int sl_config_set(sl_config_t *c, const char *key, const char *value, char *err, size_t err_len);

/* Reads a server.properties file. Returns 0, -errno if it cannot be read, or
 * SL_ERR_PROTO with "path:line: reason" in err. */
int sl_config_load_file(sl_config_t *c, const char *path, char *err, size_t err_len);

#define SL_CONFIG_ENV_PREFIX "SLUICE_"

/* Maps an environment variable name (with or without its "=value") to the
 * setting name it stands for, into key (key_len bytes with the NUL). Does not
 * check that the setting exists. Returns 0; SL_ERR_PROTO if the name does not
 * start with SLUICE_ or has nothing after it; SL_ERR_LIMIT if the setting
 * name does not fit key (key is then ""). */
int sl_config_env_to_key(const char *var, char *key, size_t key_len);

/* True if the variable (name, with or without "=value") is one of the SLUICE_
 * names that are not settings: the image's SLUICE_HEALTHCHECK_BOOTSTRAP, and
 * the test harness's SLUICE_BOOTSTRAP, SLUICE_CLI, SLUICE_STATE_DIR,
 * SLUICE_DATA_DIR, SLUICE_RECORD_COUNT, SLUICE_AUTO_PARTITIONS and SLUICE_IT_*.
 * sl_config_load_env() skips them. */
bool sl_config_env_reserved(const char *var);

/* Applies every SLUICE_<NAME>=value of envp (a NULL-terminated environ-style
 * array; NULL means none) in order, skipping the reserved names. Returns 0, or
 * SL_ERR_PROTO with "environment SLUICE_X: reason" in err at the first variable
 * that names no setting or holds an invalid value; settings applied before it
 * stay applied (start-up stops anyway). */
int sl_config_load_env(sl_config_t *c, char *const *envp, char *err, size_t err_len);

/* Derived values and cross-field checks (log.dirs split, advertised.listeners
 * defaulting to listeners). Returns 0 or SL_ERR_PROTO with a reason. */
int sl_config_finish(sl_config_t *c, char *err, size_t err_len);

#endif /* SL_CONFIG_H */
