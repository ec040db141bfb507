/*
 * cli_groups.h — what the two files of `sluice groups` share; private to
 * that command. cli_groups.c has the options, --list, --describe, --delete,
 * --delete-offsets and the helpers below; cli_groups_reset.c has
 * --reset-offsets.
 *
 * Every helper prints its own errors (cli_common.h's convention) and returns
 * a failure value; nothing here exits.
 */
#ifndef CLI_GROUPS_H
#define CLI_GROUPS_H

#include "cli_common.h"

#define GROUPS_MAX_GROUPS 64 /* --group options on one command line */

typedef enum {
    GROUPS_NONE = 0,
    GROUPS_LIST,
    GROUPS_DESCRIBE,
    GROUPS_DELETE,
    GROUPS_RESET,
    GROUPS_DELETE_OFFSETS,
} groups_action_t;

/* The new position asked for by --reset-offsets. */
typedef enum {
    RESET_NONE = 0,
    RESET_EARLIEST, /* log start offset */
    RESET_LATEST,   /* log end offset */
    RESET_OFFSET,   /* value, clamped to [log start, log end] */
    RESET_SHIFT,    /* committed + value, clamped */
    RESET_DATETIME, /* first offset with timestamp >= value (ms), else log end */
    RESET_CURRENT,  /* committed offset, else log end */
} groups_reset_t;

typedef struct {
    const char *bootstrap;
    groups_action_t action;
    int action_count;
    const char *groups[GROUPS_MAX_GROUPS];
    int group_count;
    bool all_groups;
    /* --topic T[:P,...]: one element per partition; partition
     * RD_KAFKA_PARTITION_UA stands for every partition of the topic. */
    rd_kafka_topic_partition_list_t *topics;
    bool all_topics;
    bool members;             /* --describe --members */
    bool state;               /* --state given */
    const char *state_filter; /* --list --state S1,S2: the list, or NULL */
    bool offsets;             /* --describe --offsets (the default view) */
    groups_reset_t reset;
    int reset_count;
    int64_t reset_value; /* --to-offset N, --shift-by N, --to-datetime (ms) */
    bool dry_run;
    bool execute;
    int timeout_ms;
    cli_kv_list_t client_props; /* --command-property */
} groups_opts_t;

/* Set when DescribeConsumerGroups failed with _UNSUPPORTED_FEATURE (a broker
 * without DescribeGroups): librdkafka 2.0.2 then deadlocks in
 * rd_kafka_destroy(), so the command exits without destroying its client. */
extern bool groups_client_wedged;

/* DescribeConsumerGroups for names[0..n-1]. Returns the result event (the
 * caller destroys it; descriptions live as long as it), or NULL after
 * printing an error. */
rd_kafka_event_t *groups_describe(rd_kafka_t *rk, const char **names, int n, int timeout_ms);

/* The description of `group` in a DescribeConsumerGroups result, or NULL. */
const rd_kafka_ConsumerGroupDescription_t *groups_find_description(rd_kafka_event_t *ev,
                                                                   const char *group);

/* The state of a description: a description error GROUP_ID_NOT_FOUND counts
 * as DEAD. Returns 0, or -1 after printing any other description error. */
int groups_description_state(const rd_kafka_ConsumerGroupDescription_t *desc, const char *group,
                             rd_kafka_consumer_group_state_t *state);

/* Every committed offset of `group` (ListConsumerGroupOffsets for all
 * topics). Returns 0 with *out owned by the caller, or -1 after printing an
 * error. An unknown group has none: an empty list. */
int groups_committed(rd_kafka_t *rk, const char *group, int timeout_ms,
                     rd_kafka_topic_partition_list_t **out);

/* Log start and log end offsets of one partition. Returns 0, or -1 after
 * printing an error. */
int groups_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int timeout_ms,
                      int64_t *low, int64_t *high);

/* Expands o->topics into a sorted list of existing partitions (every
 * partition of a topic given without any). Returns 0 with *out owned by the
 * caller, or -1 after printing an error (unknown topic or partition). */
int groups_resolve_topics(rd_kafka_t *rk, const groups_opts_t *o,
                          rd_kafka_topic_partition_list_t **out);

/* Parses YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm] (no zone: local time)
 * into milliseconds since the epoch. Returns 0, or -1 (nothing printed). */
int groups_parse_datetime(const char *s, int64_t *ms);

/* --reset-offsets (cli_groups_reset.c). Returns a CLI_EXIT_* code. */
int groups_reset_offsets(rd_kafka_t *rk, const groups_opts_t *o);

#endif /* CLI_GROUPS_H */
