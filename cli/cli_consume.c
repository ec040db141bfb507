/*
 * cli_consume.c — `sluice consume`, the kafka-console-consumer.sh equivalent.
 *
 * Without --group, the partitions of the topic (all of them, or --partition
 * P) are assigned directly with rd_kafka_assign() at the start position asked
 * for: the end (default), the beginning (--from-beginning, --offset earliest)
 * or an offset. librdkafka's assign() needs a group.id, so a throw-away one
 * is set ("sluice-console-consumer-<pid>", as Kafka's tool does); it never
 * joins the group and never commits.
 *
 * With --group G, the consumer joins G with rd_kafka_subscribe() and reads
 * the partitions the group assigns it (--partition and --offset do not
 * apply), from G's committed offsets; where G has none, from the end, or
 * from the beginning with --from-beginning (auto.offset.reset=earliest).
 * --partition-assignment-strategy range|roundrobin|cooperative-sticky picks
 * the assignor (default: librdkafka's "range,roundrobin"). The offset of
 * each record printed is stored (rd_kafka_offset_store) and committed
 * automatically (enable.auto.commit), and once more synchronously before the
 * consumer leaves the group, so that exactly the printed records count as
 * consumed; a failed final commit is an error (exit 1). It leaves with
 * unsubscribe() before close(), as close() alone sends no LeaveGroup for a
 * cooperative-sticky member in librdkafka 2.0.2.
 *
 * Output follows Kafka's DefaultMessageFormatter: for each record, the fields
 * enabled with --property print.X=true, in the order timestamp, partition,
 * offset, headers, key, value, separated by key.separator (default TAB) and
 * ended by line.separator (default "\n"); a null key or value prints as
 * null.literal (default "null"); headers print as k:v joined by
 * headers.separator (default ","), or NO_HEADERS.
 *
 * Ends after --max-messages records, after --timeout-ms without a record, or
 * on SIGINT/SIGTERM; prints "Processed a total of N messages" to stderr.
 * Exit status: 0, or 1 if the topic or partition does not exist, the broker
 * reported a fatal error or (--group) the final commit failed, 2 bad usage.
 */
#include "sl_base.h"
#include "cli_common.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#define CONSUME_POLL_MS 100
#define CONSUME_LEAVE_MS 5000 /* at most, to leave the group before close() */

typedef struct {
    bool print_timestamp;
    bool print_partition;
    bool print_offset;
    bool print_headers;
    bool print_key;
    bool print_value;
    const char *key_separator;
    const char *line_separator;
    const char *headers_separator;
    const char *null_literal;
} consume_format_t;

typedef struct {
    const char *bootstrap;
    const char *topic;
    int32_t partition;  /* -1: every partition */
    const char *offset; /* NULL, "earliest", "latest" or a number */
    bool from_beginning;
    int64_t max_messages;  /* -1: no limit */
    int64_t timeout_ms;    /* -1: wait forever */
    const char *isolation; /* isolation.level */
    const char *group;     /* --group: join it with subscribe(); NULL: assign() */
    const char *assignor;  /* partition.assignment.strategy, or NULL */
    consume_format_t fmt;
    cli_kv_list_t consumer_props;
} consume_opts_t;

enum {
    OPT_BOOTSTRAP = 256,
    OPT_TOPIC,
    OPT_FROM_BEGINNING,
    OPT_PARTITION,
    OPT_OFFSET,
    OPT_MAX_MESSAGES,
    OPT_TIMEOUT,
    OPT_PROPERTY,
    OPT_CONSUMER_PROPERTY,
    OPT_ISOLATION,
    OPT_GROUP,
    OPT_ASSIGNOR,
};

static void consume_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice consume --topic T [options]\n\n"
            "Prints the records of T, one per line; without --group it joins no\n"
            "consumer group and commits nothing.\n\n"
            "Options:\n"
            "  --bootstrap-server HOST:PORT  broker to contact (default %s)\n"
            "  --topic T                     topic to read (required)\n"
            "  --group G                     join consumer group G (subscribe) and read the\n"
            "                                partitions it assigns, from G's committed\n"
            "                                offsets; commits what it printed\n"
            "  --partition-assignment-strategy range|roundrobin|cooperative-sticky\n"
            "                                the group's assignor (with --group)\n"
            "  --from-beginning              start at the earliest offset (default: the end);\n"
            "                                with --group, only where G has no committed\n"
            "                                offset\n"
            "  --partition P                 read only partition P (not with --group)\n"
            "  --offset O|earliest|latest    start offset in P (needs --partition)\n"
            "  --max-messages N              exit after N records\n"
            "  --timeout-ms MS               exit when no record came for MS\n"
            "  --isolation-level read_uncommitted|read_committed   (default read_uncommitted)\n"
            "  --property print.key=true     also print keys (before the value)\n"
            "  --property print.partition|print.offset|print.timestamp|print.headers|\n"
            "             print.value=true|false\n"
            "  --property key.separator=SEP  between printed fields (default TAB)\n"
            "  --property line.separator=S | headers.separator=S | null.literal=S\n"
            "  --consumer-property k=v       librdkafka consumer property (repeatable)\n"
            "  --help                        this text\n\n"
            "Exit status: 0 done (limit, timeout or interrupt), 1 unknown topic or\n"
            "partition, a fatal broker error or (--group) a failed commit, 2 bad usage.\n",
            CLI_DEFAULT_BOOTSTRAP);
}

/* Applies one formatter --property. Returns 0, or a usage exit code. */
static int consume_apply_property(consume_format_t *f, const cli_kv_t *kv)
{
    static const struct {
        const char *name;
        size_t offset;
    } flags[] = {
        {"print.timestamp", offsetof(consume_format_t, print_timestamp)},
        {"print.partition", offsetof(consume_format_t, print_partition)},
        {"print.offset", offsetof(consume_format_t, print_offset)},
        {"print.headers", offsetof(consume_format_t, print_headers)},
        {"print.key", offsetof(consume_format_t, print_key)},
        {"print.value", offsetof(consume_format_t, print_value)},
    };
    for (size_t i = 0; i < SL_ARRAY_SIZE(flags); i++) {
        if (strcmp(kv->key, flags[i].name) != 0)
            continue;
        if (cli_parse_bool(kv->value, (bool *)((char *)f + flags[i].offset)) != 0)
            return cli_usage_error("%s must be true or false, got '%s'", kv->key, kv->value);
        return 0;
    }
    if (strcmp(kv->key, "key.separator") == 0)
        f->key_separator = kv->value;
    else if (strcmp(kv->key, "line.separator") == 0)
        f->line_separator = kv->value;
    else if (strcmp(kv->key, "headers.separator") == 0)
        f->headers_separator = kv->value;
    else if (strcmp(kv->key, "null.literal") == 0)
        f->null_literal = kv->value;
    else
        return cli_usage_error("unknown --property '%s'", kv->key);
    return 0;
}

/* Fills `o` from the command line. Returns -1 to continue, or an exit code. */
static int consume_parse(int argc, char **argv, consume_opts_t *o)
{
    static const struct option longopts[] = {
        {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
        {"partition", required_argument, NULL, OPT_PARTITION},
        {"offset", required_argument, NULL, OPT_OFFSET},
        {"max-messages", required_argument, NULL, OPT_MAX_MESSAGES},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"isolation-level", required_argument, NULL, OPT_ISOLATION},
        {"property", required_argument, NULL, OPT_PROPERTY},
        {"consumer-property", required_argument, NULL, OPT_CONSUMER_PROPERTY},
        {"group", required_argument, NULL, OPT_GROUP},
        {"partition-assignment-strategy", required_argument, NULL, OPT_ASSIGNOR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_kv_list_t props = {.count = 0};
    int64_t v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BOOTSTRAP:
            o->bootstrap = optarg;
            break;
        case OPT_TOPIC:
            if (optarg[0] == '\0')
                return cli_usage_error("--topic must not be empty");
            o->topic = optarg;
            break;
        case OPT_FROM_BEGINNING:
            o->from_beginning = true;
            break;
        case OPT_PARTITION:
            if (cli_parse_i64(optarg, 0, INT32_MAX, &v) != 0)
                return cli_usage_error("--partition must be a partition number, got '%s'", optarg);
            o->partition = (int32_t)v;
            break;
        case OPT_OFFSET:
            if (strcmp(optarg, "earliest") != 0 && strcmp(optarg, "latest") != 0 &&
                cli_parse_i64(optarg, 0, INT64_MAX, &v) != 0)
                return cli_usage_error("--offset must be earliest, latest or a non-negative "
                                       "offset, got '%s'",
                                       optarg);
            o->offset = optarg;
            break;
        case OPT_MAX_MESSAGES:
            if (cli_parse_i64(optarg, 1, INT64_MAX, &v) != 0)
                return cli_usage_error("--max-messages must be a positive integer, got '%s'",
                                       optarg);
            o->max_messages = v;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_i64(optarg, 0, INT64_MAX / 2, &v) != 0)
                return cli_usage_error("--timeout-ms must be a non-negative integer, got '%s'",
                                       optarg);
            o->timeout_ms = v;
            break;
        case OPT_ISOLATION:
            if (strcmp(optarg, "read_uncommitted") != 0 && strcmp(optarg, "read_committed") != 0)
                return cli_usage_error("--isolation-level must be read_uncommitted or "
                                       "read_committed, got '%s'",
                                       optarg);
            o->isolation = optarg;
            break;
        case OPT_PROPERTY:
            if (cli_kv_list_add(&props, optarg, "--property") != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_CONSUMER_PROPERTY:
            if (cli_kv_list_add(&o->consumer_props, optarg, "--consumer-property") != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_GROUP:
            if (optarg[0] == '\0')
                return cli_usage_error("--group must not be empty");
            o->group = optarg;
            break;
        case OPT_ASSIGNOR:
            if (strcmp(optarg, "range") != 0 && strcmp(optarg, "roundrobin") != 0 &&
                strcmp(optarg, "cooperative-sticky") != 0)
                return cli_usage_error("--partition-assignment-strategy must be range, "
                                       "roundrobin or cooperative-sticky, got '%s'",
                                       optarg);
            o->assignor = optarg;
            break;
        case 'h':
            consume_usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->topic == NULL)
        return cli_usage_error("--topic is required");
    if (o->offset != NULL && o->partition < 0)
        return cli_usage_error("--offset requires --partition");
    if (o->offset != NULL && o->from_beginning)
        return cli_usage_error("--offset and --from-beginning cannot be used together");
    if (o->group != NULL && o->partition >= 0)
        return cli_usage_error("--group and --partition cannot be used together");
    if (o->assignor != NULL && o->group == NULL)
        return cli_usage_error("--partition-assignment-strategy requires --group");
    for (int i = 0; i < props.count; i++) {
        int rc = consume_apply_property(&o->fmt, &props.items[i]);
        if (rc != 0)
            return rc;
    }
    return -1;
}

/* The librdkafka start offset for the options given. */
static int64_t consume_start_offset(const consume_opts_t *o)
{
    if (o->from_beginning)
        return RD_KAFKA_OFFSET_BEGINNING;
    if (o->offset == NULL || strcmp(o->offset, "latest") == 0)
        return RD_KAFKA_OFFSET_END;
    if (strcmp(o->offset, "earliest") == 0)
        return RD_KAFKA_OFFSET_BEGINNING;
    int64_t v = 0;
    int parsed = cli_parse_i64(o->offset, 0, INT64_MAX, &v);
    ASSERT(parsed == 0); /* consume_parse() accepted it */
    return v;
}

/* Builds the consumer. Returns NULL after printing an error. */
static rd_kafka_t *consume_client_new(const consume_opts_t *o)
{
    char group[64];
    snprintf(group, sizeof(group), "sluice-console-consumer-%ld", (long)getpid());
    bool joins = o->group != NULL;
    rd_kafka_conf_t *conf = cli_conf_new(o->bootstrap, NULL);
    if (conf == NULL)
        return NULL;
    /* Defaults first, so that --consumer-property can override them. With
     * --group, consume_loop() stores the offset of each record it printed,
     * and those are committed every auto.commit.interval.ms. */
    if (cli_conf_set(conf, "group.id", joins ? o->group : group) != 0 ||
        cli_conf_set(conf, "enable.auto.commit", joins ? "true" : "false") != 0 ||
        cli_conf_set(conf, "enable.auto.offset.store", "false") != 0 ||
        cli_conf_set(conf, "auto.offset.reset", o->from_beginning ? "earliest" : "latest") != 0 ||
        cli_conf_set(conf, "isolation.level", o->isolation) != 0 ||
        (o->assignor != NULL &&
         cli_conf_set(conf, "partition.assignment.strategy", o->assignor) != 0) ||
        cli_conf_set_all(conf, &o->consumer_props) != 0)
        goto out_destroy_conf;
    return cli_client_new(RD_KAFKA_CONSUMER, conf);

out_destroy_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Joins o->group, subscribed to o->topic. Returns 0, or -1 after printing an
 * error. */
static int consume_subscribe(rd_kafka_t *rk, const consume_opts_t *o)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, o->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("cannot subscribe to '%s' in group '%s': %s (%s)", o->topic, o->group,
                rd_kafka_err2str(err), rd_kafka_err2name(err));
        return -1;
    }
    return 0;
}

/* Assigns the partitions to read, or with --group subscribes. Returns 0, or
 * -1 after printing an error (unknown topic or partition, broker
 * unreachable). */
static int consume_assign(rd_kafka_t *rk, const consume_opts_t *o)
{
    const rd_kafka_metadata_t *md;
    if (cli_metadata_all(rk, CLI_DEFAULT_TIMEOUT_MS, &md) != 0)
        return -1;
    int rc = -1;
    const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, o->topic);
    if (t == NULL || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        cli_err("topic '%s' does not exist", o->topic);
        goto out_destroy_md;
    }
    if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("topic '%s': %s", o->topic, rd_kafka_err2str(t->err));
        goto out_destroy_md;
    }
    if (o->partition >= t->partition_cnt) {
        cli_err("topic '%s' has no partition %" PRId32 " (it has %d)", o->topic, o->partition,
                t->partition_cnt);
        goto out_destroy_md;
    }
    if (o->group != NULL) {
        rc = consume_subscribe(rk, o);
        goto out_destroy_md;
    }
    int64_t start = consume_start_offset(o);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(t->partition_cnt);
    for (int32_t p = 0; p < t->partition_cnt; p++)
        if (o->partition < 0 || o->partition == p)
            rd_kafka_topic_partition_list_add(list, o->topic, p)->offset = start;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("cannot assign partitions: %s", rd_kafka_err2str(err));
        goto out_destroy_md;
    }
    rc = 0;
out_destroy_md:
    rd_kafka_metadata_destroy(md);
    return rc;
}

static void write_field(const void *data, size_t size, const char *null_literal)
{
    if (data == NULL)
        fputs(null_literal, stdout);
    else
        fwrite(data, 1, size, stdout);
}

/* Writes the separator after a field: key.separator if another field
 * follows, line.separator if it was the last one. */
static void write_separator(const consume_format_t *f, bool more)
{
    fputs(more ? f->key_separator : f->line_separator, stdout);
}

static void consume_print_headers(const consume_format_t *f, const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_cnt(hdrs) == 0) {
        fputs("NO_HEADERS", stdout);
        return;
    }
    const char *name;
    const void *value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (i > 0)
            fputs(f->headers_separator, stdout);
        fputs(name, stdout);
        fputc(':', stdout);
        write_field(value, size, f->null_literal);
    }
}

/* Prints one record in DefaultMessageFormatter layout (see the file header). */
static void consume_print(const consume_format_t *f, const rd_kafka_message_t *msg)
{
    if (f->print_timestamp) {
        rd_kafka_timestamp_type_t type;
        int64_t ts = rd_kafka_message_timestamp(msg, &type);
        if (type == RD_KAFKA_TIMESTAMP_CREATE_TIME)
            printf("CreateTime:%" PRId64, ts);
        else if (type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME)
            printf("LogAppendTime:%" PRId64, ts);
        else
            fputs("NO_TIMESTAMP", stdout);
        write_separator(f, f->print_partition || f->print_offset || f->print_headers ||
                               f->print_key || f->print_value);
    }
    if (f->print_partition) {
        printf("Partition:%" PRId32, msg->partition);
        write_separator(f, f->print_offset || f->print_headers || f->print_key || f->print_value);
    }
    if (f->print_offset) {
        printf("Offset:%" PRId64, msg->offset);
        write_separator(f, f->print_headers || f->print_key || f->print_value);
    }
    if (f->print_headers) {
        consume_print_headers(f, msg);
        write_separator(f, f->print_key || f->print_value);
    }
    if (f->print_key) {
        write_field(msg->key, msg->key_len, f->null_literal);
        write_separator(f, f->print_value);
    }
    if (f->print_value) {
        write_field(msg->payload, msg->len, f->null_literal);
        fputs(f->line_separator, stdout);
    }
}

/* Errors after which reading cannot make progress. */
static bool consume_error_is_fatal(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED || err == RD_KAFKA_RESP_ERR__FATAL;
}

/* Polls and prints until a limit, a fatal error or a stop signal. Returns
 * the exit code; *count receives the number of records printed. */
static int consume_loop(rd_kafka_t *rk, const consume_opts_t *o, int64_t *count)
{
    int64_t last_activity_ms = cli_now_ms();
    *count = 0;
    while (!cli_stop_requested() && (o->max_messages < 0 || *count < o->max_messages)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, CONSUME_POLL_MS);
        if (msg == NULL) {
            fflush(stdout); /* caught up: let a reader see everything so far */
            if (o->timeout_ms >= 0 && cli_now_ms() - last_activity_ms >= o->timeout_ms)
                break;
            continue;
        }
        if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_resp_err_t err = msg->err;
            cli_err("%s: %s", consume_error_is_fatal(err) ? "error" : "warning",
                    rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            if (consume_error_is_fatal(err))
                return CLI_EXIT_FAIL;
            continue;
        }
        consume_print(&o->fmt, msg);
        /* With --group: this record counts as consumed. Fails only when the
         * partition was just revoked (its new owner reads it again) or when
         * --consumer-property turned enable.auto.offset.store back on. */
        if (o->group != NULL)
            (void)rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset); /* +1 by it */
        rd_kafka_message_destroy(msg);
        (*count)++;
        last_activity_ms = cli_now_ms();
    }
    return CLI_EXIT_OK;
}

/* With --group: commits the offsets of the records printed, synchronously,
 * before leaving the group. Returns 0 (also when there was nothing new to
 * commit), or -1 after printing an error. */
static int consume_commit(rd_kafka_t *rk, const consume_opts_t *o)
{
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, NULL, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return 0;
    cli_err("cannot commit the offsets of group '%s': %s (%s)", o->group, rd_kafka_err2str(err),
            rd_kafka_err2name(err));
    return -1;
}

/* Leaves the group before close(): librdkafka 2.0.2's close() of a
 * cooperative-sticky member sends no LeaveGroup (the group would wait
 * session.timeout.ms for it), while unsubscribe() does once the incremental
 * unassign it starts has completed, which takes polling. */
static void consume_leave(rd_kafka_t *rk)
{
    if (rd_kafka_unsubscribe(rk) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return; /* close() still tries */
    int64_t deadline = cli_now_ms() + CONSUME_LEAVE_MS;
    while (cli_now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, CONSUME_POLL_MS / 4);
        if (msg != NULL)
            rd_kafka_message_destroy(msg); /* not printed, so not stored */
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        int left = parts->cnt;
        rd_kafka_topic_partition_list_destroy(parts);
        if (left == 0)
            break;
    }
}

int cli_consume_main(int argc, char **argv)
{
    consume_opts_t o = {
        .bootstrap = CLI_DEFAULT_BOOTSTRAP,
        .partition = -1,
        .max_messages = -1,
        .timeout_ms = -1,
        .isolation = "read_uncommitted",
        .fmt =
            {
                .print_value = true,
                .key_separator = "\t",
                .line_separator = "\n",
                .headers_separator = ",",
                .null_literal = "null",
            },
    };
    int rc = consume_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;

    rd_kafka_t *rk = consume_client_new(&o);
    if (rk == NULL)
        return CLI_EXIT_FAIL;
    cli_install_stop_signals();
    int64_t count = 0;
    rc = consume_assign(rk, &o) == 0 ? consume_loop(rk, &o, &count) : CLI_EXIT_FAIL;
    fflush(stdout);
    fprintf(stderr, "Processed a total of %" PRId64 " messages\n", count);
    if (o.group != NULL && count > 0 && consume_commit(rk, &o) != 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_FAIL;
    if (o.group != NULL)
        consume_leave(rk);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
