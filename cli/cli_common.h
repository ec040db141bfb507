/*
 * cli_common.h — what every `sluice` subcommand shares: exit codes, error
 * printing, repeated `key=value` options, number parsing, stop signals and
 * librdkafka client setup.
 *
 * The CLI is a client (ARCHITECTURE.md §7): it talks to any Kafka-protocol
 * broker through librdkafka and never links core/. The subcommands mirror
 * Kafka's console scripts (kafka-topics.sh, kafka-console-producer.sh,
 * kafka-console-consumer.sh): same option names where they exist, same
 * output formats, so a Kafka user's habits and scripts carry over.
 *
 * Error convention: the helper that detects a failure prints it to stderr,
 * prefixed "sluice <command>: ", and returns a failure value; callers only
 * propagate it. Nothing here exits the process.
 *
 * Single-threaded: the command name and the stop flag are process globals
 * set at start-up (the stop flag also by signal handlers).
 */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* Keep in step with project(sluice VERSION ...) in the top CMakeLists.txt. */
#define CLI_VERSION "0.1.0"

/* Exit codes of every subcommand. */
#define CLI_EXIT_OK 0    /* the command did what was asked */
#define CLI_EXIT_FAIL 1  /* the broker or a record delivery failed */
#define CLI_EXIT_USAGE 2 /* the command line was wrong; nothing was sent */

#define CLI_DEFAULT_BOOTSTRAP "localhost:9092"
#define CLI_DEFAULT_TIMEOUT_MS 30000 /* admin and metadata requests */
#define CLI_MAX_KV 64                /* repeated --config / --property / ... options */

/* One `key=value` command-line argument, split in place (the '=' becomes NUL). */
typedef struct {
    const char *key;
    const char *value;
} cli_kv_t;

typedef struct {
    cli_kv_t items[CLI_MAX_KV];
    int count;
} cli_kv_list_t;

/* Names the running subcommand in error messages ("sluice topics: ..."). */
void cli_set_command(const char *name);

/* Prints "sluice <command>: <message>\n" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints an error and a hint to run --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a getopt_long() failure: `c` is its ':' (missing value) or '?'
 * (unknown or ambiguous option) return, argv/optind as getopt left them.
 * Returns CLI_EXIT_USAGE. */
int cli_getopt_error(int c, char **argv);

/* Splits `arg` ("key=value", modified in place) and appends it to `list`.
 * `option` names the flag for error messages. Returns 0, or -1 after printing
 * an error (no '=', empty key, or more than CLI_MAX_KV entries); the list is
 * unchanged on failure. */
int cli_kv_list_add(cli_kv_list_t *list, char *arg, const char *option);

/* Parses a whole decimal integer in [min, max]. Returns 0, or -1 (nothing
 * printed) if `s` is empty, has trailing characters or is out of range. */
int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parses "true"/"false" (any case). Returns 0, or -1 if neither. */
int cli_parse_bool(const char *s, bool *out);

/* Sets one librdkafka property. Returns 0, or -1 after printing librdkafka's
 * reason (unknown property, invalid value). */
int cli_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value);

/* Sets every property of `list` (NULL: none) in order, so later ones win.
 * Returns 0, or -1 after printing the first failure. */
int cli_conf_set_all(rd_kafka_conf_t *conf, const cli_kv_list_t *list);

/* A new librdkafka configuration with bootstrap.servers and client.id set,
 * then each `extra` property applied in order (so the user's settings win).
 * Returns NULL after printing an error; the caller owns the result. */
rd_kafka_conf_t *cli_conf_new(const char *bootstrap, const cli_kv_list_t *extra);

/* Creates a client of `type` from `conf`, which it always takes over (it is
 * destroyed on failure). Returns NULL after printing an error. */
rd_kafka_t *cli_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf);

/* Fetches metadata for all topics (which never auto-creates a topic).
 * Returns 0 with *out owned by the caller (rd_kafka_metadata_destroy), or -1
 * after printing an error. */
int cli_metadata_all(rd_kafka_t *rk, int timeout_ms, const rd_kafka_metadata_t **out);

/* The topic named `name` in `md`, or NULL. */
const rd_kafka_metadata_topic_t *cli_metadata_topic(const rd_kafka_metadata_t *md,
                                                    const char *name);

/* Admin options for `op` with request and operation timeouts of timeout_ms
 * (> 0). Never NULL; the caller destroys it. */
rd_kafka_AdminOptions_t *cli_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms);

/* Waits for the result of one admin request on `queue`. Returns the event
 * (the caller destroys it), or NULL after printing an error: no answer in
 * time, or a request-level failure (printed with librdkafka's error name). */
rd_kafka_event_t *cli_admin_wait(rd_kafka_queue_t *queue, int timeout_ms, const char *what);

/* Prints "<prefix>: <message> (<ERROR_NAME>)" as an error; `err` may be NULL
 * (then "<prefix>: no error"). */
void cli_err_error(const char *prefix, const rd_kafka_error_t *err);

/* Installs SIGINT/SIGTERM handlers that set the stop flag instead of killing
 * the process (no SA_RESTART: a blocking read returns EINTR). */
void cli_install_stop_signals(void);
bool cli_stop_requested(void);

/* Monotonic clock in milliseconds, for idle and flush timeouts. */
int64_t cli_now_ms(void);

/* Subcommand entry points: argv[0] is the subcommand's name. Each returns a
 * CLI_EXIT_* code. */
int cli_topics_main(int argc, char **argv);
int cli_produce_main(int argc, char **argv);
int cli_consume_main(int argc, char **argv);
int cli_dump_log_main(int argc, char **argv); /* reads segment files; no broker */
int cli_configs_main(int argc, char **argv);
int cli_groups_main(int argc, char **argv);

#endif /* CLI_COMMON_H */
