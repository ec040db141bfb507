/*
 * sl_topic_config.h — Kafka's topic-level configs: names, types, ranges,
 * validation, and the broker setting each one inherits its default from.
 *
 * A topic's effective value of config X is its override (stored in the
 * topic's metadata, sl_meta.h) if it has one, else the broker's value of X's
 * synonym (e.g. retention.ms <- log.retention.ms), else Kafka's default. The
 * table is the single source for CreateTopics validation, DescribeConfigs
 * (sources and synonyms) and the log settings of each partition.
 *
 * Read-only after start; safe from any shard.
 */
#ifndef SL_TOPIC_CONFIG_H
#define SL_TOPIC_CONFIG_H

#include "sl_config.h"
#include "sl_meta.h"

typedef enum {
    SL_TC_LONG,
    SL_TC_INT,
    SL_TC_BOOL,
    SL_TC_DOUBLE,
    SL_TC_ENUM, /* one of enum_values */
    SL_TC_LIST, /* comma-separated subset of enum_values, non-empty */
} sl_topic_config_type_t;

typedef struct sl_topic_config_desc {
    const char *name;           /* topic-level name */
    const char *broker_synonym; /* broker setting it inherits from */
    sl_topic_config_type_t type;
    int64_t min, max;           /* numbers (doubles: min/max in units) */
    const char *const *enum_values;
    const char *doc;
} sl_topic_config_desc_t;

extern const sl_topic_config_desc_t sl_topic_configs[];
extern const size_t sl_topic_config_count;

const sl_topic_config_desc_t *sl_topic_config_find(const char *name, size_t len);

/* Checks value for config name. Returns 0, or -1 with a reason in err (the
 * caller answers INVALID_CONFIG with it). */
int sl_topic_config_validate(const char *name, size_t name_len, const char *value,
                             size_t value_len, char *err, size_t err_len);

/* The broker-level default of d as text (what a topic without an override
 * gets). Never fails; buf must hold 32 bytes at least. */
const char *sl_topic_config_default(const sl_config_t *c, const sl_topic_config_desc_t *d,
                                    char *buf, size_t buf_len);

/* A topic's override of name, or NULL. */
const char *sl_topic_config_override(const sl_topic_meta_t *t, const char *name);

/* Effective value of a numeric/boolean config for topic t (override, else
 * broker default). Booleans are 0/1. */
int64_t sl_topic_config_long(const sl_config_t *c, const sl_topic_meta_t *t, const char *name);

/* True if topic t (or the broker default) uses LogAppendTime. */
bool sl_topic_config_is_log_append_time(const sl_config_t *c, const sl_topic_meta_t *t);

#endif /* SL_TOPIC_CONFIG_H */
