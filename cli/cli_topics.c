/*
 * cli_topics.c — `sluice topics`, the kafka-topics.sh equivalent.
 *
 *   --create --topic T [--partitions N] [--replication-factor R]
 *            [--config k=v ...] [--if-not-exists]      CreateTopics
 *   --list [--exclude-internal]                         Metadata (all topics)
 *   --describe [--topic T]                              Metadata (all topics)
 *   --delete --topic T [--if-exists]                    DeleteTopics
 *
 * Metadata is always requested for all topics: asking for one topic by name
 * may make a broker with auto.create.topics.enable create it.
 *
 * --describe prints Kafka's layout:
 *   Topic: T<TAB>TopicId: ID<TAB>PartitionCount: N<TAB>ReplicationFactor: R
 *   <TAB>Topic: T<TAB>Partition: P<TAB>Leader: L<TAB>Replicas: a,b<TAB>Isr: a,b
 * librdkafka 2.0.2 does not expose topic ids, so ID prints as "n/a".
 */
#include "sl_base.h"
#include "cli_common.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

typedef enum {
    TOPICS_NONE = 0,
    TOPICS_CREATE,
    TOPICS_LIST,
    TOPICS_DESCRIBE,
    TOPICS_DELETE,
} topics_action_t;

typedef struct {
    const char *bootstrap;
    const char *topic;
    topics_action_t action;
    int action_count; /* how many action flags were given (must be 1) */
    int partitions;   /* -1: broker default (num.partitions) */
    int replication;  /* -1: broker default */
    bool if_not_exists;
    bool if_exists;
    bool exclude_internal;
    bool with_overrides; /* --describe --topics-with-overrides */
    int timeout_ms;
    cli_kv_list_t configs;      /* topic configs for --create */
    cli_kv_list_t client_props; /* librdkafka properties (--command-property) */
} topics_opts_t;

enum {
    OPT_BOOTSTRAP = 256,
    OPT_TOPIC,
    OPT_CREATE,
    OPT_LIST,
    OPT_DESCRIBE,
    OPT_DELETE,
    OPT_PARTITIONS,
    OPT_REPLICATION,
    OPT_CONFIG,
    OPT_IF_NOT_EXISTS,
    OPT_IF_EXISTS,
    OPT_EXCLUDE_INTERNAL,
    OPT_TIMEOUT,
    OPT_COMMAND_PROPERTY,
    OPT_WITH_OVERRIDES,
};

static void topics_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice topics ACTION [options]\n\n"
            "Actions (exactly one):\n"
            "  --create --topic T [--partitions N] [--replication-factor R]\n"
            "           [--config k=v ...] [--if-not-exists]\n"
            "                          create T; partitions and replication factor default\n"
            "                          to the broker's num.partitions and\n"
            "                          default.replication.factor\n"
            "  --list [--exclude-internal]\n"
            "                          print every topic name, one per line, sorted\n"
            "  --describe [--topic T]  print partitions, leaders, replicas and ISR of T,\n"
            "                          and the topic's config overrides\n"
            "      [--topics-with-overrides]  only topics that override a config\n"
            "                          (or of every topic)\n"
            "  --delete --topic T [--if-exists]\n"
            "                          delete T\n\n"
            "Options:\n"
            "  --bootstrap-server HOST:PORT  broker to contact (default %s)\n"
            "  --timeout-ms MS               wait at most MS for the broker (default %d)\n"
            "  --command-property k=v        librdkafka client property (repeatable)\n"
            "  --help                        this text\n\n"
            "Exit status: 0 done, 1 the broker refused or could not be reached, 2 bad usage.\n",
            CLI_DEFAULT_BOOTSTRAP, CLI_DEFAULT_TIMEOUT_MS);
}

static void topics_set_action(topics_opts_t *o, topics_action_t action)
{
    if (o->action != action)
        o->action_count++;
    o->action = action;
}

/* Fills `o` from the command line. Returns -1 to continue, or an exit code
 * (--help, or a usage error already printed). */
static int topics_parse(int argc, char **argv, topics_opts_t *o)
{
    static const struct option longopts[] = {
        {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"create", no_argument, NULL, OPT_CREATE},
        {"list", no_argument, NULL, OPT_LIST},
        {"describe", no_argument, NULL, OPT_DESCRIBE},
        {"delete", no_argument, NULL, OPT_DELETE},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"replication-factor", required_argument, NULL, OPT_REPLICATION},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"if-not-exists", no_argument, NULL, OPT_IF_NOT_EXISTS},
        {"if-exists", no_argument, NULL, OPT_IF_EXISTS},
        {"exclude-internal", no_argument, NULL, OPT_EXCLUDE_INTERNAL},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"command-property", required_argument, NULL, OPT_COMMAND_PROPERTY},
        {"topics-with-overrides", no_argument, NULL, OPT_WITH_OVERRIDES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
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
        case OPT_CREATE:
            topics_set_action(o, TOPICS_CREATE);
            break;
        case OPT_LIST:
            topics_set_action(o, TOPICS_LIST);
            break;
        case OPT_DESCRIBE:
            topics_set_action(o, TOPICS_DESCRIBE);
            break;
        case OPT_DELETE:
            topics_set_action(o, TOPICS_DELETE);
            break;
        case OPT_PARTITIONS:
            if (cli_parse_i64(optarg, 1, INT32_MAX, &v) != 0)
                return cli_usage_error("--partitions must be a positive integer, got '%s'", optarg);
            o->partitions = (int)v;
            break;
        case OPT_REPLICATION:
            if (cli_parse_i64(optarg, 1, INT16_MAX, &v) != 0)
                return cli_usage_error("--replication-factor must be a positive integer, got '%s'",
                                       optarg);
            o->replication = (int)v;
            break;
        case OPT_CONFIG:
            if (cli_kv_list_add(&o->configs, optarg, "--config") != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_IF_NOT_EXISTS:
            o->if_not_exists = true;
            break;
        case OPT_IF_EXISTS:
            o->if_exists = true;
            break;
        case OPT_WITH_OVERRIDES:
            o->with_overrides = true;
            break;
        case OPT_EXCLUDE_INTERNAL:
            o->exclude_internal = true;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_i64(optarg, 1, INT32_MAX, &v) != 0)
                return cli_usage_error("--timeout-ms must be a positive integer, got '%s'", optarg);
            o->timeout_ms = (int)v;
            break;
        case OPT_COMMAND_PROPERTY:
            if (cli_kv_list_add(&o->client_props, optarg, "--command-property") != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h':
            topics_usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->action_count != 1)
        return cli_usage_error("exactly one of --create, --list, --describe, --delete is "
                               "required");
    if ((o->action == TOPICS_CREATE || o->action == TOPICS_DELETE) && o->topic == NULL)
        return cli_usage_error("--%s requires --topic",
                               o->action == TOPICS_CREATE ? "create" : "delete");
    if (o->action == TOPICS_LIST && o->topic != NULL)
        return cli_usage_error("--list does not take --topic");
    if (o->action != TOPICS_CREATE &&
        (o->partitions != -1 || o->replication != -1 || o->configs.count > 0 || o->if_not_exists))
        return cli_usage_error("--partitions, --replication-factor, --config and "
                               "--if-not-exists only apply to --create");
    if (o->action != TOPICS_DELETE && o->if_exists)
        return cli_usage_error("--if-exists only applies to --delete");
    if (o->action != TOPICS_LIST && o->exclude_internal)
        return cli_usage_error("--exclude-internal only applies to --list");
    return -1;
}

/* Waits for the admin result on `queue`. Returns the event (caller destroys
 * it), or NULL after printing an error: timeout, or a request-level failure
 * such as an unreachable broker. */
static rd_kafka_event_t *topics_admin_wait(rd_kafka_queue_t *queue, int timeout_ms,
                                           const char *what)
{
    /* The admin request carries its own timeout; the margin covers its reply. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, timeout_ms + 5000);
    if (ev == NULL) {
        cli_err("%s: no answer within %d ms", what, timeout_ms);
        return NULL;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("%s failed: %s", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* Checks the single per-topic result of a CreateTopics or DeleteTopics call.
 * `tolerated` is an error that counts as success (already exists / does not
 * exist with --if-not-exists / --if-exists), or NO_ERROR for none. */
static int topics_check_result(const rd_kafka_topic_result_t **results, size_t count,
                               const char *topic, rd_kafka_resp_err_t tolerated)
{
    if (count != 1) {
        cli_err("the broker answered for %zu topics instead of 1", count);
        return CLI_EXIT_FAIL;
    }
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[0]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || (err == tolerated && tolerated != 0))
        return CLI_EXIT_OK;
    const char *msg = rd_kafka_topic_result_error_string(results[0]);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        cli_err("topic '%s' already exists", topic);
    else if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        cli_err("topic '%s' does not exist", topic);
    else
        cli_err("topic '%s': %s (%s)", topic, msg ? msg : rd_kafka_err2str(err),
                rd_kafka_err2name(err));
    return CLI_EXIT_FAIL;
}

static int topics_create(rd_kafka_t *rk, const topics_opts_t *o)
{
    char errstr[512];
    int rc = CLI_EXIT_FAIL;
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(o->topic, o->partitions, o->replication, errstr, sizeof(errstr));
    if (nt == NULL) {
        cli_err("invalid topic: %s", errstr);
        return CLI_EXIT_USAGE;
    }
    for (int i = 0; i < o->configs.count; i++) {
        const cli_kv_t *kv = &o->configs.items[i];
        if (rd_kafka_NewTopic_set_config(nt, kv->key, kv->value) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cli_err("invalid --config %s=%s", kv->key, kv->value);
            rc = CLI_EXIT_USAGE;
            goto out_destroy_topic;
        }
    }
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, o->timeout_ms);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, queue);
    rd_kafka_event_t *ev = topics_admin_wait(queue, o->timeout_ms, "CreateTopics");
    if (ev != NULL) {
        size_t count = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &count);
        rc = topics_check_result(res, count, o->topic,
                                 o->if_not_exists ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
                                                  : RD_KAFKA_RESP_ERR_NO_ERROR);
        bool created = rc == CLI_EXIT_OK && count == 1 &&
                       rd_kafka_topic_result_error(res[0]) == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (created)
            printf("Created topic %s.\n", o->topic);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(queue);
out_destroy_topic:
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int topics_delete(rd_kafka_t *rk, const topics_opts_t *o)
{
    int rc = CLI_EXIT_FAIL;
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(o->topic);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, o->timeout_ms);
    rd_kafka_DeleteTopics(rk, &dt, 1, opts, queue);
    rd_kafka_event_t *ev = topics_admin_wait(queue, o->timeout_ms, "DeleteTopics");
    if (ev != NULL) {
        size_t count = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &count);
        rc = topics_check_result(res, count, o->topic,
                                 o->if_exists ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                                              : RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(queue);
    rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

static int topics_cmp_by_name(const void *a, const void *b)
{
    const rd_kafka_metadata_topic_t *const *ta = a;
    const rd_kafka_metadata_topic_t *const *tb = b;
    return strcmp((*ta)->topic, (*tb)->topic);
}

static int partitions_cmp_by_id(const void *a, const void *b)
{
    const rd_kafka_metadata_partition_t *const *pa = a;
    const rd_kafka_metadata_partition_t *const *pb = b;
    return ((*pa)->id > (*pb)->id) - ((*pa)->id < (*pb)->id);
}

/* Kafka treats exactly these two as internal topics. */
static bool topics_is_internal(const char *name)
{
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
}

/* Returns the topics of `md` sorted by name, or NULL if out of memory. The
 * caller frees the array (not its elements, which belong to `md`). */
static const rd_kafka_metadata_topic_t **topics_sorted(const rd_kafka_metadata_t *md)
{
    const rd_kafka_metadata_topic_t **v = calloc((size_t)md->topic_cnt + 1, sizeof(*v));
    if (v == NULL)
        return NULL;
    for (int i = 0; i < md->topic_cnt; i++)
        v[i] = &md->topics[i];
    qsort(v, (size_t)md->topic_cnt, sizeof(*v), topics_cmp_by_name);
    return v;
}

static int topics_list(rd_kafka_t *rk, const topics_opts_t *o)
{
    const rd_kafka_metadata_t *md;
    if (cli_metadata_all(rk, o->timeout_ms, &md) != 0)
        return CLI_EXIT_FAIL;
    const rd_kafka_metadata_topic_t **sorted = topics_sorted(md);
    if (sorted == NULL) {
        rd_kafka_metadata_destroy(md);
        cli_err("out of memory");
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < md->topic_cnt; i++)
        if (!(o->exclude_internal && topics_is_internal(sorted[i]->topic)))
            printf("%s\n", sorted[i]->topic);
    free(sorted);
    rd_kafka_metadata_destroy(md);
    return CLI_EXIT_OK;
}

static void print_id_list(const int32_t *ids, int count)
{
    for (int i = 0; i < count; i++)
        printf("%s%" PRId32, i ? "," : "", ids[i]);
}

/* The config overrides of each topic in names[], as "k=v,k=v" strings
 * (malloc'd, "" for none), fetched with one DescribeConfigs call. Returns 0,
 * or -1 after printing an error. */
static int topics_overrides(rd_kafka_t *rk, const char **names, int n, int timeout_ms,
                            char **out)
{
    if (n == 0)
        return 0;
    rd_kafka_ConfigResource_t **res = calloc((size_t)n, sizeof(*res));
    if (!res) {
        cli_err("out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_DescribeConfigs(rk, res, (size_t)n, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy_array(res, (size_t)n);
    free(res);
    int rc = -1;
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (!ev) {
        cli_err("no answer to DescribeConfigs within %d ms", timeout_ms);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        cli_err("%s", rd_kafka_event_error_string(ev));
        goto out_event;
    }
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    for (size_t r = 0; r < nres; r++) {
        const char *name = rd_kafka_ConfigResource_name(rs[r]);
        int at = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], name) == 0)
                at = i;
        if (at < 0 || rd_kafka_ConfigResource_error(rs[r]))
            continue;
        size_t ne = 0, len = 0;
        const rd_kafka_ConfigEntry_t **e = rd_kafka_ConfigResource_configs(rs[r], &ne);
        for (size_t k = 0; k < ne; k++)
            if (rd_kafka_ConfigEntry_source(e[k]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
                len += strlen(rd_kafka_ConfigEntry_name(e[k])) +
                       strlen(rd_kafka_ConfigEntry_value(e[k]) ? rd_kafka_ConfigEntry_value(e[k])
                                                               : "") + 2;
        char *text = malloc(len + 1);
        if (!text) {
            cli_err("out of memory");
            goto out_event;
        }
        size_t used = 0;
        text[0] = 0;
        for (size_t k = 0; k < ne; k++)
            if (rd_kafka_ConfigEntry_source(e[k]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) {
                const char *v = rd_kafka_ConfigEntry_value(e[k]);
                used += (size_t)snprintf(text + used, len + 1 - used, "%s%s=%s", used ? "," : "",
                                         rd_kafka_ConfigEntry_name(e[k]), v ? v : "");
            }
        free(out[at]);
        out[at] = text;
    }
    rc = 0;
out_event:
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Prints one topic in kafka-topics.sh --describe layout, with its config
 * overrides (may be NULL). Returns 0, or -1 after printing an error if out of
 * memory. */
static int topics_describe_one(const rd_kafka_metadata_topic_t *t, const char *configs)
{
    if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        printf("Topic: %s\tError: %s\n", t->topic, rd_kafka_err2name(t->err));
        return 0;
    }
    const rd_kafka_metadata_partition_t **parts =
        calloc((size_t)t->partition_cnt + 1, sizeof(*parts));
    if (parts == NULL) {
        cli_err("out of memory");
        return -1;
    }
    for (int i = 0; i < t->partition_cnt; i++)
        parts[i] = &t->partitions[i];
    qsort(parts, (size_t)t->partition_cnt, sizeof(*parts), partitions_cmp_by_id);

    int replication = t->partition_cnt > 0 ? parts[0]->replica_cnt : 0;
    printf("Topic: %s\tTopicId: n/a\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
           t->topic, t->partition_cnt, replication, configs ? configs : "");
    for (int i = 0; i < t->partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *p = parts[i];
        printf("\tTopic: %s\tPartition: %" PRId32 "\tLeader: ", t->topic, p->id);
        if (p->leader < 0)
            printf("none");
        else
            printf("%" PRId32, p->leader);
        printf("\tReplicas: ");
        print_id_list(p->replicas, p->replica_cnt);
        printf("\tIsr: ");
        print_id_list(p->isrs, p->isr_cnt);
        if (p->err != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("\tError: %s", rd_kafka_err2name(p->err));
        printf("\n");
    }
    free(parts);
    return 0;
}

static int topics_describe(rd_kafka_t *rk, const topics_opts_t *o)
{
    const rd_kafka_metadata_t *md;
    if (cli_metadata_all(rk, o->timeout_ms, &md) != 0)
        return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_OK;
    const rd_kafka_metadata_topic_t **sorted = NULL;
    const char **names = NULL;
    char **configs = NULL;
    int n = 0;
    if (o->topic != NULL) {
        const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, o->topic);
        if (t == NULL) {
            cli_err("topic '%s' does not exist", o->topic);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        sorted = calloc(1, sizeof(*sorted));
        if (sorted)
            sorted[0] = t;
        n = 1;
    } else {
        sorted = topics_sorted(md);
        n = md->topic_cnt;
    }
    names = calloc((size_t)n + 1, sizeof(*names));
    configs = calloc((size_t)n + 1, sizeof(*configs));
    if (!sorted || !names || !configs) {
        cli_err("out of memory");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    for (int i = 0; i < n; i++)
        names[i] = sorted[i]->topic;
    if (topics_overrides(rk, names, n, o->timeout_ms, configs) != 0) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    for (int i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        if (o->with_overrides && (!configs[i] || !configs[i][0]))
            continue;
        if (topics_describe_one(sorted[i], configs[i]) != 0)
            rc = CLI_EXIT_FAIL;
    }
out:
    for (int i = 0; configs && i < n; i++)
        free(configs[i]);
    free(configs);
    free(names);
    free(sorted);
    rd_kafka_metadata_destroy(md);
    return rc;
}

int cli_topics_main(int argc, char **argv)
{
    topics_opts_t o = {
        .bootstrap = CLI_DEFAULT_BOOTSTRAP,
        .partitions = -1,
        .replication = -1,
        .timeout_ms = CLI_DEFAULT_TIMEOUT_MS,
    };
    int rc = topics_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;

    rd_kafka_conf_t *conf = cli_conf_new(o.bootstrap, &o.client_props);
    if (conf == NULL)
        return CLI_EXIT_USAGE;
    rd_kafka_t *rk = cli_client_new(RD_KAFKA_PRODUCER, conf);
    if (rk == NULL)
        return CLI_EXIT_FAIL;
    switch (o.action) {
    case TOPICS_CREATE:
        rc = topics_create(rk, &o);
        break;
    case TOPICS_DELETE:
        rc = topics_delete(rk, &o);
        break;
    case TOPICS_LIST:
        rc = topics_list(rk, &o);
        break;
    case TOPICS_DESCRIBE:
        rc = topics_describe(rk, &o);
        break;
    case TOPICS_NONE:
        ASSERT(!"parse guarantees an action");
    }
    fflush(stdout);
    rd_kafka_destroy(rk);
    return rc;
}
