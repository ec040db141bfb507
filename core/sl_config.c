/* sl_config.c — see sl_config.h. */
#include "sl_base.h"
#include "sl_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <strings.h>

#define OFF(f) offsetof(sl_config_t, f)

const sl_config_desc_t sl_config_descs[] = {
    {"listeners", SL_CFG_STRING, OFF(listeners), "PLAINTEXT://:9092", 0, 0,
     "Listener to bind: NAME://host:port (empty host = all interfaces)"},
    {"advertised.listeners", SL_CFG_STRING, OFF(advertised_listeners), "", 0, 0,
     "Address given to clients in Metadata; defaults to listeners"},
    {"socket.request.max.bytes", SL_CFG_INT, OFF(socket_request_max_bytes), "104857600", 64,
     SL_MAX_REQUEST_MAX_BYTES, "Largest request frame accepted; larger closes the connection"},
    {"socket.send.buffer.bytes", SL_CFG_INT, OFF(socket_send_buffer_bytes), "102400", -1,
     INT32_MAX, "SO_SNDBUF of client sockets (-1 = OS default)"},
    {"socket.receive.buffer.bytes", SL_CFG_INT, OFF(socket_receive_buffer_bytes), "102400", -1,
     INT32_MAX, "SO_RCVBUF of client sockets (-1 = OS default)"},
    {"max.connections.per.shard", SL_CFG_INT, OFF(max_connections_per_shard), "16384", 1,
     SL_MAX_CONNS_PER_SHARD, "Connection slots preallocated per shard"},
    {"fetch.splice.min.bytes", SL_CFG_INT, OFF(fetch_splice_min_bytes), "65536", -1, INT32_MAX,
     "Fetch slices of at least this many bytes are sent zero-copy (splice file -> pipe -> "
     "socket), smaller ones by read + send; -1 never splices (sluice's own setting)"},
    {"registered.buffer.bytes", SL_CFG_INT, OFF(registered_buffer_bytes), "33554432", 0,
     1 << 30,
     "Memory per shard registered with io_uring for request frames and the appends written "
     "from them (READ_FIXED / WRITE_FIXED), in whole MiB; 0 = none (sluice's own setting)"},
    {"node.id", SL_CFG_INT, OFF(node_id), "1", 0, INT32_MAX, "This broker's id in Metadata"},
    {"broker.id", SL_CFG_INT, OFF(node_id), "1", 0, INT32_MAX, "Alias of node.id"},
    {"num.shards", SL_CFG_INT, OFF(num_shards), "0", 0, SL_MAX_SHARDS,
     "Shards (threads pinned to cores); 0 = one per online core"},
    {"log.dirs", SL_CFG_STRING, OFF(log_dirs_raw), "/tmp/sluice-logs", 0, 0,
     "Comma-separated directories holding partition logs"},
    {"log.dir", SL_CFG_STRING, OFF(log_dirs_raw), "/tmp/sluice-logs", 0, 0,
     "Single log directory (log.dirs takes precedence)"},
    {"num.partitions", SL_CFG_INT, OFF(num_partitions), "1", 1, SL_MAX_PARTITIONS_PER_TOPIC,
     "Partitions of auto-created topics and of CreateTopics with -1"},
    {"default.replication.factor", SL_CFG_INT, OFF(default_replication_factor), "1", 1, 1,
     "Replication factor; a single node has one replica"},
    {"auto.create.topics.enable", SL_CFG_BOOL, OFF(auto_create_topics_enable), "true", 0, 1,
     "Create a topic when a client asks Metadata for an unknown one"},
    {"delete.topic.enable", SL_CFG_BOOL, OFF(delete_topic_enable), "true", 0, 1,
     "Allow DeleteTopics"},
    {"log.segment.bytes", SL_CFG_LONG, OFF(log_segment_bytes), "1073741824", 14,
     ST_MAX_SEGMENT_BYTES - 1, "Segment size before a new one is rolled"},
    {"log.index.interval.bytes", SL_CFG_INT, OFF(log_index_interval_bytes), "4096", 0, INT32_MAX,
     "Bytes of log between two offset-index entries"},
    {"log.index.size.max.bytes", SL_CFG_INT, OFF(log_index_size_max_bytes), "10485760", 4096,
     INT32_MAX, "Maximum size of an offset index file"},
    {"message.max.bytes", SL_CFG_INT, OFF(message_max_bytes), "1048588", 0, INT32_MAX,
     "Largest record batch accepted"},
    {"log.retention.hours", SL_CFG_INT, OFF(log_retention_hours), "168", -1, INT32_MAX,
     "Hours to keep a log segment (lowest precedence of the three retention settings)"},
    {"log.retention.minutes", SL_CFG_LONG, OFF(log_retention_minutes), "-2", -2, INT64_MAX / 60000,
     "Minutes to keep a log segment; overrides log.retention.hours"},
    {"log.retention.ms", SL_CFG_LONG, OFF(log_retention_ms_set), "-2", -2, INT64_MAX,
     "Milliseconds to keep a log segment (-1: forever); overrides the other two"},
    {"log.retention.bytes", SL_CFG_LONG, OFF(log_retention_bytes), "-1", -1, INT64_MAX,
     "Largest size of a partition's log before old segments are deleted (-1: no limit)"},
    {"log.roll.hours", SL_CFG_INT, OFF(log_roll_hours), "168", 1, INT32_MAX,
     "Hours before a new segment is rolled"},
    {"log.roll.ms", SL_CFG_LONG, OFF(log_roll_ms_set), "-2", -2, INT64_MAX,
     "Milliseconds before a new segment is rolled; overrides log.roll.hours"},
    {"log.roll.jitter.hours", SL_CFG_INT, OFF(log_roll_jitter_hours), "0", 0, INT32_MAX,
     "Random jitter subtracted from the roll time, hours"},
    {"log.roll.jitter.ms", SL_CFG_LONG, OFF(log_roll_jitter_ms_set), "-2", -2, INT64_MAX,
     "Random jitter subtracted from the roll time, ms; overrides the hours"},
    {"log.flush.interval.messages", SL_CFG_LONG, OFF(log_flush_interval_messages),
     "9223372036854775807", 1, INT64_MAX, "Messages appended before a log is flushed to disk"},
    {"log.flush.interval.ms", SL_CFG_LONG, OFF(log_flush_interval_ms), "9223372036854775807", 0,
     INT64_MAX, "Longest time unflushed data stays in the page cache"},
    {"log.retention.check.interval.ms", SL_CFG_LONG, OFF(log_retention_check_interval_ms),
     "300000", 1, INT64_MAX, "How often logs are checked for segments to delete"},
    {"log.segment.delete.delay.ms", SL_CFG_LONG, OFF(log_segment_delete_delay_ms), "60000", 0,
     INT64_MAX, "Delay before a deleted segment's file is removed"},
    {"log.cleaner.delete.retention.ms", SL_CFG_LONG, OFF(log_cleaner_delete_retention_ms),
     "86400000", 0, INT64_MAX, "How long compaction keeps delete tombstones"},
    {"log.cleaner.min.compaction.lag.ms", SL_CFG_LONG, OFF(log_cleaner_min_compaction_lag_ms),
     "0", 0, INT64_MAX, "Minimum age of a record before it may be compacted"},
    {"log.cleaner.max.compaction.lag.ms", SL_CFG_LONG, OFF(log_cleaner_max_compaction_lag_ms),
     "9223372036854775807", 1, INT64_MAX, "Maximum age of a record before it must be compacted"},
    {"log.cleaner.min.cleanable.ratio", SL_CFG_SHORT_STRING, OFF(log_cleaner_min_cleanable_ratio),
     "0.5", 0, 31, "Dirty ratio that makes a log eligible for compaction"},
    {"log.cleanup.policy", SL_CFG_SHORT_STRING, OFF(log_cleanup_policy), "delete", 0, 63,
     "delete, compact, or both (comma-separated)"},
    {"compression.type", SL_CFG_SHORT_STRING, OFF(compression_type), "producer", 0, 31,
     "Compression of stored batches: producer keeps what the producer sent"},
    {"log.message.timestamp.type", SL_CFG_SHORT_STRING, OFF(log_message_timestamp_type),
     "CreateTime", 0, 31, "CreateTime or LogAppendTime"},
    {"log.message.timestamp.before.max.ms", SL_CFG_LONG,
     OFF(log_message_timestamp_before_max_ms), "9223372036854775807", 0, INT64_MAX,
     "How far in the past a CreateTime timestamp may be"},
    {"log.message.timestamp.after.max.ms", SL_CFG_LONG, OFF(log_message_timestamp_after_max_ms),
     "9223372036854775807", 0, INT64_MAX, "How far in the future a CreateTime timestamp may be"},
    {"min.insync.replicas", SL_CFG_INT, OFF(min_insync_replicas), "1", 1, 1,
     "Accepted for compatibility; a single node always has exactly one in-sync replica"},
    {"unclean.leader.election.enable", SL_CFG_BOOL, OFF(unclean_leader_election_enable), "false",
     0, 1, "Accepted for compatibility; meaningless on a single node (there is no other replica)"},
    {"log.preallocate", SL_CFG_BOOL, OFF(log_preallocate), "false", 0, 1,
     "Preallocate segment files (accepted; segments are not preallocated)"},
    {"offsets.topic.num.partitions", SL_CFG_INT, OFF(offsets_topic_num_partitions), "50", 1,
     1000, "Partitions of __consumer_offsets (fixed once the topic exists)"},
    {"offsets.topic.segment.bytes", SL_CFG_LONG, OFF(offsets_topic_segment_bytes), "104857600",
     14, ST_MAX_SEGMENT_BYTES - 1, "Segment size of __consumer_offsets"},
    {"offsets.retention.minutes", SL_CFG_LONG, OFF(offsets_retention_minutes), "10080", 1,
     INT64_MAX / 60000, "How long committed offsets of an empty group are kept"},
    {"offsets.retention.check.interval.ms", SL_CFG_LONG, OFF(offsets_retention_check_interval_ms),
     "600000", 1, INT64_MAX, "How often expired offsets are looked for"},
    {"offset.metadata.max.bytes", SL_CFG_INT, OFF(offset_metadata_max_bytes), "4096", 0,
     INT32_MAX, "Largest metadata string of a committed offset"},
    {"group.min.session.timeout.ms", SL_CFG_INT, OFF(group_min_session_timeout_ms), "6000", 0,
     INT32_MAX, "Smallest session timeout a classic group member may ask for"},
    {"group.max.session.timeout.ms", SL_CFG_INT, OFF(group_max_session_timeout_ms), "1800000", 0,
     INT32_MAX, "Largest session timeout a classic group member may ask for"},
    {"group.initial.rebalance.delay.ms", SL_CFG_INT, OFF(group_initial_rebalance_delay_ms),
     "3000", 0, INT32_MAX, "Wait for more members before the first rebalance of an empty group"},
    {"group.max.size", SL_CFG_INT, OFF(group_max_size), "2147483647", 1, INT32_MAX,
     "Most members of a classic group"},
    {"group.consumer.assignors", SL_CFG_SHORT_STRING, OFF(group_consumer_assignors),
     "uniform,range", 0, 255, "Server-side assignors (KIP-848); the first is the default"},
    {"group.consumer.session.timeout.ms", SL_CFG_INT, OFF(group_consumer_session_timeout_ms),
     "45000", 1, INT32_MAX, "Session timeout of consumer-protocol members"},
    {"group.consumer.min.session.timeout.ms", SL_CFG_INT,
     OFF(group_consumer_min_session_timeout_ms), "45000", 1, INT32_MAX,
     "Smallest session timeout of consumer-protocol groups"},
    {"group.consumer.max.session.timeout.ms", SL_CFG_INT,
     OFF(group_consumer_max_session_timeout_ms), "60000", 1, INT32_MAX,
     "Largest session timeout of consumer-protocol groups"},
    {"group.consumer.heartbeat.interval.ms", SL_CFG_INT,
     OFF(group_consumer_heartbeat_interval_ms), "5000", 1, INT32_MAX,
     "Heartbeat interval given to consumer-protocol members"},
    {"group.consumer.min.heartbeat.interval.ms", SL_CFG_INT,
     OFF(group_consumer_min_heartbeat_interval_ms), "5000", 1, INT32_MAX,
     "Smallest heartbeat interval of consumer-protocol groups"},
    {"group.consumer.max.heartbeat.interval.ms", SL_CFG_INT,
     OFF(group_consumer_max_heartbeat_interval_ms), "15000", 1, INT32_MAX,
     "Largest heartbeat interval of consumer-protocol groups"},
    {"group.consumer.max.size", SL_CFG_INT, OFF(group_consumer_max_size), "2147483647", 1,
     INT32_MAX, "Most members of a consumer-protocol group"},
    {"log.level", SL_CFG_LOG_LEVEL, OFF(log_level), "info", 0, 0,
     "Broker log level: debug, info, warn, error"},
};
const size_t sl_config_desc_count = SL_ARRAY_SIZE(sl_config_descs);
_Static_assert(SL_ARRAY_SIZE(sl_config_descs) <= 128, "explicitly_set holds 128 bits");

void sl_config_defaults(sl_config_t *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < sl_config_desc_count; i++) {
        int rc = sl_config_set(c, sl_config_descs[i].name, sl_config_descs[i].default_value, NULL,
                               0);
        ASSERT(rc == 0);
    }
    memset(c->explicitly_set, 0, sizeof(c->explicitly_set));
}

bool sl_config_is_set(const sl_config_t *c, const char *name)
{
    for (size_t i = 0; i < sl_config_desc_count; i++)
        if (strcmp(sl_config_descs[i].name, name) == 0)
            return (c->explicitly_set[i / 64] >> (i % 64)) & 1;
    return false;
}

const char *sl_config_value(const sl_config_t *c, const sl_config_desc_t *d, char *buf,
                            size_t buf_len)
{
    const char *field = (const char *)c + d->offset;
    switch (d->type) {
    case SL_CFG_INT: {
        int32_t v;
        memcpy(&v, field, sizeof(v));
        snprintf(buf, buf_len, "%d", v);
        return buf;
    }
    case SL_CFG_LONG: {
        int64_t v;
        memcpy(&v, field, sizeof(v));
        snprintf(buf, buf_len, "%lld", (long long)v);
        return buf;
    }
    case SL_CFG_BOOL: {
        bool v;
        memcpy(&v, field, sizeof(v));
        return v ? "true" : "false";
    }
    case SL_CFG_STRING:
    case SL_CFG_SHORT_STRING:
        return field;
    case SL_CFG_LOG_LEVEL: {
        int32_t v;
        memcpy(&v, field, sizeof(v));
        static const char *const names[] = {"debug", "info", "warn", "error"};
        return v >= 0 && v < 4 ? names[v] : "info";
    }
    }
    return "";
}

static const sl_config_desc_t *find_desc(const char *key)
{
    for (size_t i = 0; i < sl_config_desc_count; i++)
        if (strcmp(sl_config_descs[i].name, key) == 0)
            return &sl_config_descs[i];
    return NULL;
}

static int parse_int64(const char *v, int64_t *out)
{
    while (isspace((unsigned char)*v))
        v++;
    if (!*v)
        return -1;
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || *end)
        return -1;
    *out = n;
    return 0;
}

int sl_config_set(sl_config_t *c, const char *key, const char *value, char *err, size_t err_len)
{
    const sl_config_desc_t *d = find_desc(key);
    if (!d)
        return 1;
    size_t index = (size_t)(d - sl_config_descs);
    ASSERT(index < 128);
    c->explicitly_set[index / 64] |= 1ULL << (index % 64);
    char *field = (char *)c + d->offset;
    switch (d->type) {
    case SL_CFG_INT:
    case SL_CFG_LONG: {
        int64_t n;
        if (parse_int64(value, &n) != 0) {
            if (err)
                snprintf(err, err_len, "%s: '%s' is not an integer", key, value);
            return SL_ERR_PROTO;
        }
        if (n < d->min || n > d->max) {
            if (err)
                snprintf(err, err_len, "%s: %lld is outside [%lld, %lld]", key, (long long)n,
                         (long long)d->min, (long long)d->max);
            return SL_ERR_PROTO;
        }
        if (d->type == SL_CFG_INT) {
            int32_t v32 = (int32_t)n;
            memcpy(field, &v32, sizeof(v32));
        } else {
            memcpy(field, &n, sizeof(n));
        }
        return 0;
    }
    case SL_CFG_BOOL: {
        bool b;
        if (strcasecmp(value, "true") == 0)
            b = true;
        else if (strcasecmp(value, "false") == 0)
            b = false;
        else {
            if (err)
                snprintf(err, err_len, "%s: '%s' is not true or false", key, value);
            return SL_ERR_PROTO;
        }
        memcpy(field, &b, sizeof(b));
        return 0;
    }
    case SL_CFG_STRING: {
        size_t n = strlen(value);
        if (n >= SL_CONFIG_STR_MAX) {
            if (err)
                snprintf(err, err_len, "%s: value longer than %d bytes", key,
                         SL_CONFIG_STR_MAX - 1);
            return SL_ERR_PROTO;
        }
        memcpy(field, value, n + 1);
        return 0;
    }
    case SL_CFG_SHORT_STRING: {
        size_t n = strlen(value);
        if (n > (size_t)d->max) {
            if (err)
                snprintf(err, err_len, "%s: value longer than %lld bytes", key, (long long)d->max);
            return SL_ERR_PROTO;
        }
        memcpy(field, value, n + 1);
        return 0;
    }
    case SL_CFG_LOG_LEVEL: {
        int lvl = sl_log_parse_level(value);
        if (lvl < 0) {
            if (err)
                snprintf(err, err_len, "%s: '%s' is not one of debug, info, warn, error", key,
                         value);
            return SL_ERR_PROTO;
        }
        int32_t v32 = lvl;
        memcpy(field, &v32, sizeof(v32));
        return 0;
    }
    }
    ASSERT(0 && "unknown config type");
    return SL_ERR_PROTO;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

int sl_config_load_file(sl_config_t *c, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        if (err)
            snprintf(err, err_len, "%s: %s", path, strerror(e));
        return -e;
    }
    char line[4096], logical[8192];
    size_t logical_len = 0;
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            if (err)
                snprintf(err, err_len, "%s:%d: line too long", path, lineno);
            rc = SL_ERR_PROTO;
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        char *t = trim(line);
        if (!logical_len && (*t == '#' || *t == '!' || *t == 0))
            continue;
        size_t tl = strlen(t);
        bool cont = tl > 0 && t[tl - 1] == '\\';
        if (cont)
            t[--tl] = 0;
        if (logical_len + tl + 1 > sizeof(logical)) {
            if (err)
                snprintf(err, err_len, "%s:%d: setting too long", path, lineno);
            rc = SL_ERR_PROTO;
            break;
        }
        memcpy(logical + logical_len, t, tl + 1);
        logical_len += tl;
        if (cont)
            continue;
        logical_len = 0;
        char *sep = strpbrk(logical, "=:");
        if (!sep) {
            if (err)
                snprintf(err, err_len, "%s:%d: expected key=value", path, lineno);
            rc = SL_ERR_PROTO;
            break;
        }
        *sep = 0;
        char *key = trim(logical), *value = trim(sep + 1);
        char why[512];
        int r = sl_config_set(c, key, value, why, sizeof(why));
        if (r == 1) {
            LOG_WARN("config: %s:%d: unknown setting '%s' ignored", path, lineno, key);
        } else if (r != 0) {
            if (err)
                snprintf(err, err_len, "%s:%d: %s", path, lineno, why);
            rc = r;
            break;
        }
    }
    fclose(f);
    return rc;
}

int sl_config_finish(sl_config_t *c, char *err, size_t err_len)
{
    c->log_dir_count = 0;
    const char *p = c->log_dirs_raw;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        while (n > 0 && isspace((unsigned char)p[n - 1]))
            n--;
        if (n > 0) {
            if (c->log_dir_count == SL_MAX_LOG_DIRS) {
                snprintf(err, err_len, "log.dirs: more than %d directories", SL_MAX_LOG_DIRS);
                return SL_ERR_PROTO;
            }
            if (n >= SL_MAX_PATH) {
                snprintf(err, err_len, "log.dirs: path too long");
                return SL_ERR_PROTO;
            }
            memcpy(c->log_dirs[c->log_dir_count], p, n);
            c->log_dirs[c->log_dir_count][n] = 0;
            c->log_dir_count++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (c->log_dir_count == 0) {
        snprintf(err, err_len, "log.dirs: no directory given");
        return SL_ERR_PROTO;
    }
    /* Kafka's precedence: *.ms over *.minutes over *.hours. */
    if (c->log_retention_ms_set != SL_CONFIG_UNSET)
        c->log_retention_ms = c->log_retention_ms_set;
    else if (c->log_retention_minutes != SL_CONFIG_UNSET)
        c->log_retention_ms = c->log_retention_minutes < 0 ? -1 : c->log_retention_minutes * 60000;
    else
        c->log_retention_ms = c->log_retention_hours < 0 ? -1 : c->log_retention_hours * 3600000LL;
    c->log_roll_ms = c->log_roll_ms_set != SL_CONFIG_UNSET ? c->log_roll_ms_set
                                                          : c->log_roll_hours * 3600000LL;
    c->log_roll_jitter_ms = c->log_roll_jitter_ms_set != SL_CONFIG_UNSET
                                ? c->log_roll_jitter_ms_set
                                : c->log_roll_jitter_hours * 3600000LL;
    if (c->log_roll_ms < 1 || c->log_roll_jitter_ms < 0) {
        snprintf(err, err_len, "log.roll.ms must be >= 1 and log.roll.jitter.ms >= 0");
        return SL_ERR_PROTO;
    }
    if (!c->advertised_listeners[0])
        memcpy(c->advertised_listeners, c->listeners, sizeof(c->listeners));
    return 0;
}
