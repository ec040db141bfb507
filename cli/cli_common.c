/* cli_common.c — see cli_common.h. */
#include "sl_base.h"
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

static const char *g_command = "sluice";
static volatile sig_atomic_t g_stop;

void cli_set_command(const char *name)
{
    ASSERT(name != NULL);
    g_command = name;
}

static void cli_verr(const char *fmt, va_list ap)
{
    fprintf(stderr, "sluice%s%s: ", g_command[0] ? " " : "", g_command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verr(fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verr(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'sluice %s --help'.\n", g_command);
    return CLI_EXIT_USAGE;
}

int cli_getopt_error(int c, char **argv)
{
    const char *opt = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return cli_usage_error("option '%s' requires a value", opt);
    return cli_usage_error("unrecognized or ambiguous option '%s'", opt);
}

int cli_kv_list_add(cli_kv_list_t *list, char *arg, const char *option)
{
    ASSERT(list != NULL && arg != NULL);
    char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg) {
        cli_err("%s expects key=value, got '%s'", option, arg);
        return -1;
    }
    if (list->count >= CLI_MAX_KV) {
        cli_err("too many %s options (at most %d)", option, CLI_MAX_KV);
        return -1;
    }
    *eq = '\0';
    list->items[list->count].key = arg;
    list->items[list->count].value = eq + 1;
    list->count++;
    return 0;
}

int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    ASSERT(s != NULL && out != NULL && min <= max);
    if (*s == '\0')
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int cli_parse_bool(const char *s, bool *out)
{
    ASSERT(s != NULL && out != NULL);
    if (strcasecmp(s, "true") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(s, "false") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

int cli_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        cli_err("invalid client property %s=%s: %s", key, value, errstr);
        return -1;
    }
    return 0;
}

int cli_conf_set_all(rd_kafka_conf_t *conf, const cli_kv_list_t *list)
{
    for (int i = 0; list != NULL && i < list->count; i++)
        if (cli_conf_set(conf, list->items[i].key, list->items[i].value) != 0)
            return -1;
    return 0;
}

rd_kafka_conf_t *cli_conf_new(const char *bootstrap, const cli_kv_list_t *extra)
{
    ASSERT(bootstrap != NULL);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (cli_conf_set(conf, "bootstrap.servers", bootstrap) != 0 ||
        cli_conf_set(conf, "client.id", "sluice-cli") != 0 ||
        /* A console tool's connections close when it exits: not news. */
        cli_conf_set(conf, "log.connection.close", "false") != 0 ||
        cli_conf_set_all(conf, extra) != 0)
        goto out_destroy_conf;
    return conf;

out_destroy_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *cli_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    ASSERT(conf != NULL);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new keeps it only on success */
        cli_err("cannot create the Kafka client: %s", errstr);
    }
    return rk;
}

int cli_metadata_all(rd_kafka_t *rk, int timeout_ms, const rd_kafka_metadata_t **out)
{
    ASSERT(rk != NULL && out != NULL && timeout_ms > 0);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, out, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("cannot fetch metadata: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

const rd_kafka_metadata_topic_t *cli_metadata_topic(const rd_kafka_metadata_t *md, const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0)
            return &md->topics[i];
    return NULL;
}

rd_kafka_AdminOptions_t *cli_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms)
{
    ASSERT(rk != NULL && timeout_ms > 0);
    char errstr[256];
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, op);
    ASSERT(opts != NULL);
    /* Both setters only fail on out-of-range values, which callers exclude. */
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    return opts;
}

rd_kafka_event_t *cli_admin_wait(rd_kafka_queue_t *queue, int timeout_ms, const char *what)
{
    ASSERT(queue != NULL && what != NULL);
    /* The admin request carries its own timeout; the margin covers its reply. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, timeout_ms + 5000);
    if (ev == NULL) {
        cli_err("%s: no answer within %d ms", what, timeout_ms);
        return NULL;
    }
    rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("%s failed: %s (%s)", what, rd_kafka_event_error_string(ev),
                rd_kafka_err2name(err));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

void cli_err_error(const char *prefix, const rd_kafka_error_t *err)
{
    if (err == NULL)
        cli_err("%s: no error", prefix);
    else
        cli_err("%s: %s (%s)", prefix, rd_kafka_error_string(err), rd_kafka_error_name(err));
}

static void cli_on_stop_signal(int signo)
{
    (void)signo;
    g_stop = 1;
}

void cli_install_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cli_on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: let a blocked read see EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_stop_requested(void)
{
    return g_stop != 0;
}

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
