/*
 * main.c — `sluice`, the admin and console tool: dispatches to a subcommand.
 *
 *   sluice topics   ...   create, list, describe, delete topics
 *   sluice produce  ...   stdin lines -> records
 *   sluice consume  ...   records -> stdout lines
 *   sluice configs  ...   describe topic and broker configs
 *   sluice groups   ...   list, describe, delete consumer groups; reset offsets
 *   sluice dump-log ...   print and check segment files (.log, .index, .timeindex)
 *
 * Each subcommand parses its own options and prints its own --help.
 */
#include "sl_base.h"
#include "cli_common.h"

typedef struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} cli_command_t;

static const cli_command_t g_commands[] = {
    {"topics", cli_topics_main, "create, list, describe and delete topics"},
    {"produce", cli_produce_main, "send lines from stdin as records"},
    {"consume", cli_consume_main, "print records of a topic to stdout"},
    {"configs", cli_configs_main, "describe topic and broker configs"},
    {"groups", cli_groups_main, "list, describe and delete consumer groups, reset offsets"},
    {"dump-log", cli_dump_log_main, "print and check segment files, read from disk"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "Usage: sluice <command> [options]\n"
                 "       sluice --version | --help\n\n"
                 "A console client for Kafka-protocol brokers (sluiced, Apache Kafka, ...).\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < SL_ARRAY_SIZE(g_commands); i++)
        fprintf(out, "  %-9s %s\n", g_commands[i].name, g_commands[i].summary);
    fprintf(out,
            "\nRun 'sluice <command> --help' for the options of a command.\n"
            "Every command but dump-log takes --bootstrap-server HOST:PORT (default %s).\n",
            CLI_DEFAULT_BOOTSTRAP);
}

int main(int argc, char **argv)
{
    cli_set_command("");
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("sluice %s (librdkafka %s)\n", CLI_VERSION, rd_kafka_version_str());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < SL_ARRAY_SIZE(g_commands); i++) {
        if (strcmp(cmd, g_commands[i].name) == 0) {
            cli_set_command(g_commands[i].name);
            return g_commands[i].main(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "sluice: unknown command '%s'\n\n", cmd);
    print_usage(stderr);
    return CLI_EXIT_USAGE;
}
