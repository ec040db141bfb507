/* sl_topic_config.c — see sl_topic_config.h. */
#include "sl_base.h"
#include "sl_topic_config.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

static const char *const cleanup_values[] = {"delete", "compact", NULL};
static const char *const compression_values[] = {"uncompressed", "zstd", "lz4", "snappy", "gzip",
                                                 "producer", NULL};
static const char *const ts_type_values[] = {"CreateTime", "LogAppendTime", NULL};

const sl_topic_config_desc_t sl_topic_configs[] = {
    {"cleanup.policy", "log.cleanup.policy", SL_TC_LIST, 0, 0, cleanup_values,
     "delete: remove old segments by retention; compact: keep the latest value per key"},
    {"compression.type", "compression.type", SL_TC_ENUM, 0, 0, compression_values,
     "Codec of stored batches; producer keeps the producer's"},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms", SL_TC_LONG, 0, INT64_MAX, NULL,
     "How long tombstones are kept by compaction"},
    {"file.delete.delay.ms", "log.segment.delete.delay.ms", SL_TC_LONG, 0, INT64_MAX, NULL,
     "Delay before a deleted segment's files are removed"},
    {"flush.messages", "log.flush.interval.messages", SL_TC_LONG, 1, INT64_MAX, NULL,
     "Messages between forced fdatasyncs"},
    {"flush.ms", "log.flush.interval.ms", SL_TC_LONG, 0, INT64_MAX, NULL,
     "Longest time between forced fdatasyncs"},
    {"index.interval.bytes", "log.index.interval.bytes", SL_TC_INT, 0, INT32_MAX, NULL,
     "Log bytes between offset-index entries"},
    {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", SL_TC_LONG, 1, INT64_MAX, NULL,
     "Longest a record stays uncompacted"},
    {"max.message.bytes", "message.max.bytes", SL_TC_INT, 0, INT32_MAX, NULL,
     "Largest record batch accepted"},
    {"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", SL_TC_LONG, 0,
     INT64_MAX, NULL, "How far in the future a CreateTime may be"},
    {"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", SL_TC_LONG, 0,
     INT64_MAX, NULL, "How far in the past a CreateTime may be"},
    {"message.timestamp.type", "log.message.timestamp.type", SL_TC_ENUM, 0, 0, ts_type_values,
     "CreateTime (the producer's) or LogAppendTime (the broker's)"},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", SL_TC_DOUBLE, 0, 1, NULL,
     "Dirty fraction that makes a log eligible for compaction"},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", SL_TC_LONG, 0, INT64_MAX, NULL,
     "Shortest a record stays uncompacted"},
    {"min.insync.replicas", "min.insync.replicas", SL_TC_INT, 1, 1, NULL,
     "Accepted for compatibility: a single node has exactly one in-sync replica"},
    {"preallocate", "log.preallocate", SL_TC_BOOL, 0, 1, NULL,
     "Accepted; segment files are not preallocated"},
    {"retention.bytes", "log.retention.bytes", SL_TC_LONG, -1, INT64_MAX, NULL,
     "Largest log size before old segments are deleted (-1: no limit)"},
    {"retention.ms", "log.retention.ms", SL_TC_LONG, -1, INT64_MAX, NULL,
     "Age after which segments are deleted (-1: forever)"},
    {"segment.bytes", "log.segment.bytes", SL_TC_INT, 14, INT32_MAX, NULL,
     "Segment size before a roll"},
    {"segment.index.bytes", "log.index.size.max.bytes", SL_TC_INT, 4, INT32_MAX, NULL,
     "Largest offset index file"},
    {"segment.jitter.ms", "log.roll.jitter.ms", SL_TC_LONG, 0, INT64_MAX, NULL,
     "Random jitter subtracted from segment.ms"},
    {"segment.ms", "log.roll.ms", SL_TC_LONG, 1, INT64_MAX, NULL, "Segment age before a roll"},
    {"unclean.leader.election.enable", "unclean.leader.election.enable", SL_TC_BOOL, 0, 1, NULL,
     "Accepted for compatibility; meaningless on a single node"},
};
const size_t sl_topic_config_count = SL_ARRAY_SIZE(sl_topic_configs);

const sl_topic_config_desc_t *sl_topic_config_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sl_topic_config_count; i++)
        if (strlen(sl_topic_configs[i].name) == len &&
            memcmp(sl_topic_configs[i].name, name, len) == 0)
            return &sl_topic_configs[i];
    return NULL;
}

static bool in_enum(const char *const *values, const char *v, size_t n)
{
    for (const char *const *e = values; *e; e++)
        if (strlen(*e) == n && strncasecmp(*e, v, n) == 0)
            return true;
    return false;
}

int sl_topic_config_validate(const char *name, size_t name_len, const char *value,
                             size_t value_len, char *err, size_t err_len)
{
    const sl_topic_config_desc_t *d = sl_topic_config_find(name, name_len);
    if (!d) {
        snprintf(err, err_len, "Unknown topic config name: %.*s", (int)name_len, name);
        return -1;
    }
    char v[128];
    if (value_len >= sizeof(v)) {
        snprintf(err, err_len, "Invalid value for %s: too long", d->name);
        return -1;
    }
    memcpy(v, value, value_len);
    v[value_len] = 0;
    switch (d->type) {
    case SL_TC_LONG:
    case SL_TC_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (value_len == 0 || *end || errno) {
            snprintf(err, err_len, "Invalid value %s for configuration %s: Not a number", v,
                     d->name);
            return -1;
        }
        if (n < d->min || n > d->max) {
            snprintf(err, err_len, "Invalid value %s for configuration %s: must be in [%lld, %lld]",
                     v, d->name, (long long)d->min, (long long)d->max);
            return -1;
        }
        return 0;
    }
    case SL_TC_BOOL:
        if (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0)
            return 0;
        snprintf(err, err_len, "Invalid value %s for configuration %s: Expected true or false", v,
                 d->name);
        return -1;
    case SL_TC_DOUBLE: {
        char *end;
        double x = strtod(v, &end);
        if (value_len == 0 || *end || x < (double)d->min || x > (double)d->max) {
            snprintf(err, err_len, "Invalid value %s for configuration %s: must be a number in "
                     "[%lld, %lld]", v, d->name, (long long)d->min, (long long)d->max);
            return -1;
        }
        return 0;
    }
    case SL_TC_ENUM:
        if (in_enum(d->enum_values, v, value_len))
            return 0;
        snprintf(err, err_len, "Invalid value %s for configuration %s: not one of the allowed "
                 "values", v, d->name);
        return -1;
    case SL_TC_LIST: {
        const char *p = v;
        int items = 0;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            while (n && *p == ' ') {
                p++;
                n--;
            }
            while (n && p[n - 1] == ' ')
                n--;
            if (!in_enum(d->enum_values, p, n)) {
                snprintf(err, err_len, "Invalid value %s for configuration %s: not a list of "
                         "allowed values", v, d->name);
                return -1;
            }
            items++;
            if (!comma)
                break;
            p = comma + 1;
        }
        if (items == 0) {
            snprintf(err, err_len, "Invalid value for configuration %s: empty list", d->name);
            return -1;
        }
        return 0;
    }
    }
    ASSERT(0 && "unknown topic config type");
    return -1;
}

const char *sl_topic_config_default(const sl_config_t *c, const sl_topic_config_desc_t *d,
                                    char *buf, size_t buf_len)
{
    const char *n = d->broker_synonym;
#define NUM(field) (snprintf(buf, buf_len, "%lld", (long long)(field)), buf)
    if (!strcmp(n, "log.cleanup.policy"))
        return c->log_cleanup_policy;
    if (!strcmp(n, "compression.type"))
        return c->compression_type;
    if (!strcmp(n, "log.cleaner.delete.retention.ms"))
        return NUM(c->log_cleaner_delete_retention_ms);
    if (!strcmp(n, "log.segment.delete.delay.ms"))
        return NUM(c->log_segment_delete_delay_ms);
    if (!strcmp(n, "log.flush.interval.messages"))
        return NUM(c->log_flush_interval_messages);
    if (!strcmp(n, "log.flush.interval.ms"))
        return NUM(c->log_flush_interval_ms);
    if (!strcmp(n, "log.index.interval.bytes"))
        return NUM(c->log_index_interval_bytes);
    if (!strcmp(n, "log.cleaner.max.compaction.lag.ms"))
        return NUM(c->log_cleaner_max_compaction_lag_ms);
    if (!strcmp(n, "message.max.bytes"))
        return NUM(c->message_max_bytes);
    if (!strcmp(n, "log.message.timestamp.after.max.ms"))
        return NUM(c->log_message_timestamp_after_max_ms);
    if (!strcmp(n, "log.message.timestamp.before.max.ms"))
        return NUM(c->log_message_timestamp_before_max_ms);
    if (!strcmp(n, "log.message.timestamp.type"))
        return c->log_message_timestamp_type;
    if (!strcmp(n, "log.cleaner.min.cleanable.ratio"))
        return c->log_cleaner_min_cleanable_ratio;
    if (!strcmp(n, "log.cleaner.min.compaction.lag.ms"))
        return NUM(c->log_cleaner_min_compaction_lag_ms);
    if (!strcmp(n, "min.insync.replicas"))
        return NUM(c->min_insync_replicas);
    if (!strcmp(n, "log.preallocate"))
        return c->log_preallocate ? "true" : "false";
    if (!strcmp(n, "log.retention.bytes"))
        return NUM(c->log_retention_bytes);
    if (!strcmp(n, "log.retention.ms"))
        return NUM(c->log_retention_ms);
    if (!strcmp(n, "log.segment.bytes"))
        return NUM(c->log_segment_bytes);
    if (!strcmp(n, "log.index.size.max.bytes"))
        return NUM(c->log_index_size_max_bytes);
    if (!strcmp(n, "log.roll.jitter.ms"))
        return NUM(c->log_roll_jitter_ms);
    if (!strcmp(n, "log.roll.ms"))
        return NUM(c->log_roll_ms);
    if (!strcmp(n, "unclean.leader.election.enable"))
        return c->unclean_leader_election_enable ? "true" : "false";
#undef NUM
    ASSERT(0 && "topic config without a broker default");
    return "";
}

const char *sl_topic_config_override(const sl_topic_meta_t *t, const char *name)
{
    for (int32_t i = 0; i < t->config_count; i++)
        if (strcmp(t->configs[i].name, name) == 0)
            return t->configs[i].value;
    return NULL;
}

int64_t sl_topic_config_long(const sl_config_t *c, const sl_topic_meta_t *t, const char *name)
{
    const sl_topic_config_desc_t *d = sl_topic_config_find(name, strlen(name));
    ASSERT(d && d->type != SL_TC_ENUM && d->type != SL_TC_LIST && d->type != SL_TC_DOUBLE);
    const char *v = t ? sl_topic_config_override(t, name) : NULL;
    char buf[32];
    if (!v)
        v = sl_topic_config_default(c, d, buf, sizeof(buf));
    if (d->type == SL_TC_BOOL)
        return strcasecmp(v, "true") == 0;
    return strtoll(v, NULL, 10);
}

bool sl_topic_config_is_log_append_time(const sl_config_t *c, const sl_topic_meta_t *t)
{
    const char *v = t ? sl_topic_config_override(t, "message.timestamp.type") : NULL;
    if (!v)
        v = c->log_message_timestamp_type;
    return strcasecmp(v, "LogAppendTime") == 0;
}
