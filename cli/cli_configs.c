/*
 * cli_configs.c — `sluice configs`, the describe half of kafka-configs.sh.
 *
 *   sluice configs --describe (--topic T | --broker ID | --entity-type topics|brokers
 *                  --entity-name NAME) [--all] [--bootstrap-server H:P]
 *
 * Prints, like kafka-configs.sh, "Dynamic configs for topic T are:" with the
 * topic's overrides only, or with --all "All configs for topic T are:" and
 * every config, each as `name=value sensitive=false synonyms={SOURCE:name=value, ...}`.
 *
 *   sluice configs --alter --topic T [--add-config k=v[,k=v...]] [--delete-config k[,k...]]
 *
 * changes a topic's overrides. librdkafka 2.0 only has the non-incremental
 * AlterConfigs (which replaces every override), so --alter reads the current
 * overrides, applies the additions and deletions, and writes the whole set back,
 * as kafka-configs.sh did before IncrementalAlterConfigs; a concurrent change by
 * someone else between the two calls can be lost.
 * Uses librdkafka's admin calls, so it works against any Kafka-protocol broker.
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
            "       sluice configs --alter --topic T [--add-config k=v[,k=v...]]\n"
            "                      [--delete-config k[,k...]] [--bootstrap-server HOST:PORT]\n\n"
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

#define MAX_ALTER 64

/* Waits for one admin result event of the given type; NULL after an error. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, int timeout_ms)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (!ev) {
        cli_err("no answer within %d ms", timeout_ms);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        cli_err("%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static int alter(const char *bootstrap, const char *topic, char *add, char *del, int timeout_ms)
{
    char *names[MAX_ALTER], *values[MAX_ALTER];
    int n = 0, rc = CLI_EXIT_FAIL;
    rd_kafka_conf_t *conf = cli_conf_new(bootstrap, NULL);
    if (!conf)
        return CLI_EXIT_FAIL;
    rd_kafka_t *rk = cli_client_new(RD_KAFKA_PRODUCER, conf);
    if (!rk)
        return CLI_EXIT_FAIL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    char errstr[256];
    /* 1. The current overrides. */
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_DescribeConfigs(rk, &res, 1, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_event_t *ev = admin_wait(q, timeout_ms);
    if (!ev)
        goto out;
    size_t nres = 0;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    if (nres != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        cli_err("topic %s: %s", topic,
                nres == 1 ? rd_kafka_ConfigResource_error_string(rs[0]) : "no answer");
        rd_kafka_event_destroy(ev);
        goto out;
    }
    size_t ne = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &ne);
    for (size_t i = 0; i < ne && n < MAX_ALTER; i++)
        if (rd_kafka_ConfigEntry_source(entries[i]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) {
            names[n] = strdup(rd_kafka_ConfigEntry_name(entries[i]));
            const char *v = rd_kafka_ConfigEntry_value(entries[i]);
            values[n] = strdup(v ? v : "");
            n++;
        }
    rd_kafka_event_destroy(ev);
    /* 2. Deletions, then additions (k=v, comma-separated). */
    for (char *tok = del ? strtok(del, ",") : NULL; tok; tok = strtok(NULL, ",")) {
        bool found = false;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], tok) == 0) {
                free(names[i]);
                free(values[i]);
                names[i] = names[--n];
                values[i] = values[n];
                found = true;
                break;
            }
        if (!found) {
            cli_err("topic %s has no override of '%s' to delete", topic, tok);
            goto out;
        }
    }
    for (char *tok = add ? strtok(add, ",") : NULL; tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) {
            cli_err("--add-config expects key=value, got '%s'", tok);
            goto out;
        }
        *eq = 0;
        int at = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], tok) == 0)
                at = i;
        if (at < 0) {
            if (n == MAX_ALTER) {
                cli_err("more than %d overrides", MAX_ALTER);
                goto out;
            }
            at = n++;
            names[at] = strdup(tok);
            values[at] = NULL;
        }
        free(values[at]);
        values[at] = strdup(eq + 1);
    }
    /* 3. Write the whole set back. */
    res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    for (int i = 0; i < n; i++)
        rd_kafka_ConfigResource_set_config(res, names[i], values[i]);
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AlterConfigs(rk, &res, 1, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(res);
    ev = admin_wait(q, timeout_ms);
    if (!ev)
        goto out;
    rs = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &nres);
    if (nres != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        cli_err("topic %s: %s", topic,
                nres == 1 ? rd_kafka_ConfigResource_error_string(rs[0]) : "no answer");
    } else {
        printf("Completed updating config for topic %s.\n", topic);
        rc = CLI_EXIT_OK;
    }
    rd_kafka_event_destroy(ev);
out:
    for (int i = 0; i < n; i++) {
        free(names[i]);
        free(values[i]);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int cli_configs_main(int argc, char **argv)
{
    cli_set_command("configs");
    static const struct option opts[] = {
        {"describe", no_argument, NULL, 'd'},
        {"alter", no_argument, NULL, 'A'},
        {"add-config", required_argument, NULL, 'c'},
        {"delete-config", required_argument, NULL, 'x'},
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
    bool describe_flag = false, alter_flag = false, all = false;
    char *add = NULL, *del = NULL;
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
        case 'A':
            alter_flag = true;
            break;
        case 'c':
            add = optarg;
            break;
        case 'x':
            del = optarg;
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
    if (describe_flag == alter_flag)
        return cli_usage_error("say what to do: --describe or --alter");
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
    if (alter_flag) {
        if (!topic)
            return cli_usage_error("--alter changes topic configs: give --topic");
        if (!add && !del)
            return cli_usage_error("--alter needs --add-config and/or --delete-config");
        return alter(bootstrap, topic, add, del, (int)timeout_ms);
    }
    return describe(bootstrap, topic ? RD_KAFKA_RESOURCE_TOPIC : RD_KAFKA_RESOURCE_BROKER,
                    topic ? topic : broker, all, (int)timeout_ms);
}
