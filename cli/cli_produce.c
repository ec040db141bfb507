/*
 * cli_produce.c — `sluice produce`, the kafka-console-producer.sh equivalent.
 *
 * Reads stdin line by line; each line (without its "\n" or "\r\n") becomes one
 * record. With parse.key=true the line is split at the first key.separator:
 * key before, value after; a line without the separator is an error that
 * stops the input (as in Kafka). With null.marker=M a value (or key) equal to
 * M is sent as null. An empty line is a record with an empty value.
 *
 * At end of input (or SIGINT/SIGTERM) every record sent is waited for: the
 * command ends only when each has a delivery report, which librdkafka
 * guarantees within message.timeout.ms (30 s here unless overridden).
 *
 * Exit status: 0 if every line was delivered; 1 if any delivery failed (the
 * count is printed) or the input had a line without key separator; 2 bad usage.
 */
#include "sl_base.h"
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#define PRODUCE_MAX_REPORTED_ERRORS 10 /* individual failures printed; the rest counted */

typedef struct {
    const char *bootstrap;
    const char *topic;
    int32_t partition; /* RD_KAFKA_PARTITION_UA: the partitioner chooses */
    bool parse_key;
    const char *key_separator;
    const char *null_marker; /* NULL: no value is ever sent as null */
    const char *acks;
    const char *compression;
    cli_kv_list_t producer_props;
} produce_opts_t;

/* Delivery bookkeeping, updated from the delivery-report callback (which
 * librdkafka runs on this thread, inside rd_kafka_poll/flush). */
typedef struct {
    uint64_t sent;      /* accepted by rd_kafka_producev */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* rejected locally or failed delivery */
} produce_stats_t;

enum {
    OPT_BOOTSTRAP = 256,
    OPT_TOPIC,
    OPT_PARTITION,
    OPT_KEY_SEPARATOR,
    OPT_PROPERTY,
    OPT_ACKS,
    OPT_COMPRESSION,
    OPT_PRODUCER_PROPERTY,
};

static void produce_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice produce --topic T [options] < lines\n\n"
            "Sends each line of standard input as one record of T.\n\n"
            "Options:\n"
            "  --bootstrap-server HOST:PORT  broker to contact (default %s)\n"
            "  --topic T                     topic to write to (required)\n"
            "  --partition P                 write every record to partition P\n"
            "                                (default: librdkafka's partitioner, by key)\n"
            "  --key-separator SEP           lines are KEY SEP VALUE (same as\n"
            "                                --property parse.key=true\n"
            "                                --property key.separator=SEP)\n"
            "  --property parse.key=true|false   split each line into key and value\n"
            "  --property key.separator=SEP      separator for parse.key (default TAB)\n"
            "  --property null.marker=STR        send a key or value equal to STR as null\n"
            "  --acks 0|1|all                acknowledgements to wait for (default all)\n"
            "  --compression none|gzip|snappy|lz4|zstd   batch compression (default none)\n"
            "  --producer-property k=v       librdkafka producer property (repeatable),\n"
            "                                e.g. linger.ms=50, message.timeout.ms=60000\n"
            "  --help                        this text\n\n"
            "Exit status: 0 every record delivered, 1 some record failed (counted on\n"
            "stderr) or a line had no key separator, 2 bad usage.\n",
            CLI_DEFAULT_BOOTSTRAP);
}

/* Applies one --property of the console producer. Returns 0, or a usage exit
 * code after printing the error. */
static int produce_apply_property(produce_opts_t *o, const cli_kv_t *kv)
{
    if (strcmp(kv->key, "parse.key") == 0) {
        if (cli_parse_bool(kv->value, &o->parse_key) != 0)
            return cli_usage_error("parse.key must be true or false, got '%s'", kv->value);
    } else if (strcmp(kv->key, "key.separator") == 0) {
        if (kv->value[0] == '\0')
            return cli_usage_error("key.separator must not be empty");
        o->key_separator = kv->value;
    } else if (strcmp(kv->key, "null.marker") == 0) {
        o->null_marker = kv->value;
    } else {
        return cli_usage_error("unknown --property '%s' (known: parse.key, key.separator, "
                               "null.marker)",
                               kv->key);
    }
    return 0;
}

/* Fills `o` from the command line. Returns -1 to continue, or an exit code. */
static int produce_parse(int argc, char **argv, produce_opts_t *o)
{
    static const struct option longopts[] = {
        {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
        {"broker-list", required_argument, NULL, OPT_BOOTSTRAP},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"partition", required_argument, NULL, OPT_PARTITION},
        {"key-separator", required_argument, NULL, OPT_KEY_SEPARATOR},
        {"property", required_argument, NULL, OPT_PROPERTY},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"request-required-acks", required_argument, NULL, OPT_ACKS},
        {"compression", required_argument, NULL, OPT_COMPRESSION},
        {"compression-codec", required_argument, NULL, OPT_COMPRESSION},
        {"producer-property", required_argument, NULL, OPT_PRODUCER_PROPERTY},
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
        case OPT_PARTITION:
            if (cli_parse_i64(optarg, 0, INT32_MAX, &v) != 0)
                return cli_usage_error("--partition must be a partition number, got '%s'", optarg);
            o->partition = (int32_t)v;
            break;
        case OPT_KEY_SEPARATOR:
            if (optarg[0] == '\0')
                return cli_usage_error("--key-separator must not be empty");
            o->parse_key = true;
            o->key_separator = optarg;
            break;
        case OPT_PROPERTY:
            if (cli_kv_list_add(&props, optarg, "--property") != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_ACKS:
            if (strcmp(optarg, "0") != 0 && strcmp(optarg, "1") != 0 &&
                strcmp(optarg, "all") != 0 && strcmp(optarg, "-1") != 0)
                return cli_usage_error("--acks must be 0, 1 or all, got '%s'", optarg);
            o->acks = optarg;
            break;
        case OPT_COMPRESSION:
            if (strcmp(optarg, "none") != 0 && strcmp(optarg, "gzip") != 0 &&
                strcmp(optarg, "snappy") != 0 && strcmp(optarg, "lz4") != 0 &&
                strcmp(optarg, "zstd") != 0)
                return cli_usage_error("--compression must be none, gzip, snappy, lz4 or "
                                       "zstd, got '%s'",
                                       optarg);
            o->compression = optarg;
            break;
        case OPT_PRODUCER_PROPERTY:
            if (cli_kv_list_add(&o->producer_props, optarg, "--producer-property") != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h':
            produce_usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->topic == NULL)
        return cli_usage_error("--topic is required");
    for (int i = 0; i < props.count; i++) {
        int rc = produce_apply_property(o, &props.items[i]);
        if (rc != 0)
            return rc;
    }
    return -1;
}

static void produce_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    produce_stats_t *stats = opaque;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        stats->delivered++;
        return;
    }
    stats->failed++;
    if (stats->failed <= PRODUCE_MAX_REPORTED_ERRORS)
        cli_err("delivery failed for line %" PRIuPTR ": %s", (uintptr_t)msg->_private,
                rd_kafka_err2str(msg->err));
}

/* Builds the producer. Returns NULL after printing an error. */
static rd_kafka_t *produce_client_new(const produce_opts_t *o, produce_stats_t *stats)
{
    /* Our defaults go first so --producer-property can override them. */
    rd_kafka_conf_t *conf = cli_conf_new(o->bootstrap, NULL);
    if (conf == NULL)
        return NULL;
    if (cli_conf_set(conf, "acks", o->acks) != 0 ||
        cli_conf_set(conf, "compression.type", o->compression) != 0 ||
        cli_conf_set(conf, "message.timeout.ms", "30000") != 0 ||
        cli_conf_set_all(conf, &o->producer_props) != 0)
        goto out_destroy_conf;
    rd_kafka_conf_set_dr_msg_cb(conf, produce_on_delivery);
    rd_kafka_conf_set_opaque(conf, stats);
    return cli_client_new(RD_KAFKA_PRODUCER, conf);

out_destroy_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Hands one record to librdkafka, waiting while its queue is full. A local
 * rejection (e.g. record too large, unknown partition) counts as a failed
 * delivery. */
static void produce_send(rd_kafka_t *rk, const produce_opts_t *o, produce_stats_t *stats,
                         uintptr_t line_no, const char *key, size_t key_size, const char *value,
                         size_t value_size)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(o->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_size),
            RD_KAFKA_V_VALUE((void *)value, value_size), RD_KAFKA_V_OPAQUE((void *)line_no),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            stats->sent++;
            break;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 100);
            continue;
        }
        stats->sent++;
        stats->failed++;
        if (stats->failed <= PRODUCE_MAX_REPORTED_ERRORS)
            cli_err("cannot send line %" PRIuPTR ": %s", line_no, rd_kafka_err2str(err));
        break;
    }
    rd_kafka_poll(rk, 0); /* serve delivery reports */
}

static bool produce_is_null_marker(const produce_opts_t *o, const char *field, size_t size)
{
    return o->null_marker != NULL && size == strlen(o->null_marker) &&
           memcmp(field, o->null_marker, size) == 0;
}

/* Reads stdin to the end (or a stop signal) and sends every line. Returns 0,
 * or -1 after printing an error if a line had no key separator or stdin
 * failed. */
static int produce_lines(rd_kafka_t *rk, const produce_opts_t *o, produce_stats_t *stats)
{
    char *line = NULL;
    size_t line_cap = 0;
    uintptr_t line_no = 0;
    int rc = 0;
    size_t sep_size = strlen(o->key_separator);
    for (;;) {
        errno = 0;
        ssize_t n = getline(&line, &line_cap, stdin);
        if (n < 0) {
            if (errno == EINTR && !cli_stop_requested())
                continue;
            if (errno != 0 && errno != EINTR) {
                cli_err("reading standard input: %s", strerror(errno));
                rc = -1;
            }
            break;
        }
        line_no++;
        size_t size = (size_t)n;
        if (size > 0 && line[size - 1] == '\n')
            size--;
        if (size > 0 && line[size - 1] == '\r')
            size--;

        const char *key = NULL, *value = line;
        size_t key_size = 0, value_size = size;
        if (o->parse_key) {
            char *sep = memmem(line, size, o->key_separator, sep_size);
            if (sep == NULL) {
                cli_err("no key separator '%s' on line %" PRIuPTR, o->key_separator, line_no);
                rc = -1;
                break;
            }
            key = line;
            key_size = (size_t)(sep - line);
            value = sep + sep_size;
            value_size = size - key_size - sep_size;
            if (produce_is_null_marker(o, key, key_size)) {
                key = NULL;
                key_size = 0;
            }
        }
        if (produce_is_null_marker(o, value, value_size)) {
            value = NULL;
            value_size = 0;
        }
        produce_send(rk, o, stats, line_no, key, key_size, value, value_size);
        if (cli_stop_requested())
            break;
    }
    free(line);
    return rc;
}

int cli_produce_main(int argc, char **argv)
{
    produce_opts_t o = {
        .bootstrap = CLI_DEFAULT_BOOTSTRAP,
        .partition = RD_KAFKA_PARTITION_UA,
        .key_separator = "\t",
        .acks = "all",
        .compression = "none",
    };
    int rc = produce_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;

    produce_stats_t stats = {0};
    rd_kafka_t *rk = produce_client_new(&o, &stats);
    if (rk == NULL)
        return CLI_EXIT_FAIL;
    cli_install_stop_signals();
    int input_rc = produce_lines(rk, &o, &stats);

    /* Every record sent gets exactly one delivery report, at the latest when
     * message.timeout.ms expires, so this loop ends. */
    while (stats.delivered + stats.failed < stats.sent)
        rd_kafka_flush(rk, 1000);
    rd_kafka_destroy(rk);

    if (stats.failed > 0) {
        cli_err("%" PRIu64 " of %" PRIu64 " records failed delivery", stats.failed, stats.sent);
        return CLI_EXIT_FAIL;
    }
    return input_rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
