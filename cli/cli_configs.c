/*
 * cli_configs.c — `sluice configs`, the describe half of kafka-configs.sh.
 *
 *   sluice configs --describe (--topic T | --broker ID | --entity-type topics|brokers
 *                  --entity-name NAME) [--all] [--bootstrap-server H:P]
 *
 * Prints, like kafka-configs.sh, "Dynamic configs for topic T are:" with the
 * topic's overrides only, or with --all "All configs for topic T are:" and
 * every config, each as `name=value sensitive=false synonyms={SOURCE:name=value, ...}`.
 * Uses librdkafka's DescribeConfigs admin call, so it works against any
 * Kafka-protocol broker. (--alter comes with AlterConfigs support.)
 */
#include "sl_base.h"
#include "cli_common.h"

#include <getopt.h>
#include <stdlib.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sluice configs --describe (--topic T | --broker ID |\n"
            "                      --entity-type topics|brokers --entity-name NAME) [--all]\n"
            "                      [--bootstrap-server HOST:PORT] [--timeout-ms MS]\n\n"
            "Without --all only the topic's own overrides (or the broker's explicit\n"
            "settings) are printed, as kafka-configs.sh does.\n");
}

static bool shown(const rd_kafka_ConfigEntry_t *e, bool all)
{
    if (all)
        return true;
    rd_kafka_ConfigSource_t src = rd_kafka_ConfigEntry_source(e);
    return src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG ||
           src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG ||
           src == RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG;
}

static void print_entry(const rd_kafka_ConfigEntry_t *e)
{
    const char *value = rd_kafka_ConfigEntry_value(e);
    printf("  %s=%s sensitive=%s synonyms={", rd_kafka_ConfigEntry_name(e),
           rd_kafka_ConfigEntry_is_sensitive(e) ? "null" : (value ? value : "null"),
           rd_kafka_ConfigEntry_is_sensitive(e) ? "true" : "false");
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **syn = rd_kafka_ConfigEntry_synonyms(e, &n);
    for (size_t i = 0; i < n; i++) {
        const char *sv = rd_kafka_ConfigEntry_value(syn[i]);
        printf("%s%s:%s=%s", i ? ", " : "",
               rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(syn[i])),
               rd_kafka_ConfigEntry_name(syn[i]), sv ? sv : "null");
    }
    printf("}\n");
}

static int describe(const char *bootstrap, rd_kafka_ResourceType_t type, const char *name,
                    bool all, int timeout_ms)
{
    rd_kafka_conf_t *conf = cli_conf_new(bootstrap, NULL);
    if (!conf)
        return CLI_EXIT_FAIL;
    rd_kafka_t *rk = cli_client_new(RD_KAFKA_PRODUCER, conf);
    if (!rk)
        return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_FAIL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, name);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (!ev) {
        cli_err("no answer to DescribeConfigs within %d ms", timeout_ms);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        cli_err("%s", rd_kafka_event_error_string(ev));
        goto out_event;
    }
    const rd_kafka_DescribeConfigs_result_t *result = rd_kafka_event_DescribeConfigs_result(ev);
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(result, &nres);
    if (nres != 1) {
        cli_err("the broker answered %zu resources for one", nres);
        goto out_event;
    }
    if (rd_kafka_ConfigResource_error(rs[0])) {
        cli_err("%s %s: %s", type == RD_KAFKA_RESOURCE_TOPIC ? "topic" : "broker", name,
                rd_kafka_ConfigResource_error_string(rs[0]));
        goto out_event;
    }
    printf("%s configs for %s %s are:\n", all ? "All" : "Dynamic",
           type == RD_KAFKA_RESOURCE_TOPIC ? "topic" : "broker", name);
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &n);
    for (size_t i = 0; i < n; i++)
        if (shown(entries[i], all))
            print_entry(entries[i]);
    rc = CLI_EXIT_OK;
out_event:
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int cli_configs_main(int argc, char **argv)
{
    cli_set_command("configs");
    static const struct option opts[] = {
        {"describe", no_argument, NULL, 'd'},
        {"topic", required_argument, NULL, 't'},
        {"broker", required_argument, NULL, 'b'},
        {"entity-type", required_argument, NULL, 'T'},
        {"entity-name", required_argument, NULL, 'N'},
        {"all", no_argument, NULL, 'a'},
        {"bootstrap-server", required_argument, NULL, 'B'},
        {"timeout-ms", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool describe_flag = false, all = false;
    const char *topic = NULL, *broker = NULL, *entity_type = NULL, *entity_name = NULL;
    const char *bootstrap = CLI_DEFAULT_BOOTSTRAP;
    int64_t timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            describe_flag = true;
            break;
        case 't':
            topic = optarg;
            break;
        case 'b':
            broker = optarg;
            break;
        case 'T':
            entity_type = optarg;
            break;
        case 'N':
            entity_name = optarg;
            break;
        case 'a':
            all = true;
            break;
        case 'B':
            bootstrap = optarg;
            break;
        case 'm':
            if (cli_parse_i64(optarg, 1, INT32_MAX, &timeout_ms) != 0)
                return cli_usage_error("--timeout-ms: '%s' is not a positive number", optarg);
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!describe_flag)
        return cli_usage_error("say what to do: --describe");
    if (entity_type) {
        if (!entity_name)
            return cli_usage_error("--entity-type needs --entity-name");
        if (strcmp(entity_type, "topics") == 0)
            topic = entity_name;
        else if (strcmp(entity_type, "brokers") == 0)
            broker = entity_name;
        else
            return cli_usage_error("--entity-type must be topics or brokers");
    }
    if (!!topic == !!broker)
        return cli_usage_error("give exactly one of --topic or --broker");
    return describe(bootstrap, topic ? RD_KAFKA_RESOURCE_TOPIC : RD_KAFKA_RESOURCE_BROKER,
                    topic ? topic : broker, all, (int)timeout_ms);
}
