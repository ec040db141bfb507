/*
 * cli_groups.c — `sluice groups`, the kafka-consumer-groups.sh equivalent.
 *
 *   --list [--state [S1,S2,...]]                        ListConsumerGroups
 *   --describe (--group G ... | --all-groups)
 *              [--offsets | --members | --state]        DescribeConsumerGroups,
 *                                                        ListConsumerGroupOffsets,
 *                                                        ListOffsets (watermarks)
 *   --delete (--group G ... | --all-groups)             DeleteGroups
 *   --reset-offsets --group G (--topic T[:P,...] ... | --all-topics) SPEC
 *                   [--dry-run | --execute]             see cli_groups_reset.c
 *   --delete-offsets --group G --topic T[:P,...] ...    DeleteConsumerGroupOffsets
 *
 * Output follows kafka-consumer-groups.sh:
 *   --list: a "GROUP STATE" table sorted by group id (the states of
 *     --state S1,S2 only; names as Kafka spells them, any case).
 *   --describe (offsets view, the default): per partition with a committed
 *     offset or a member owning it, GROUP TOPIC PARTITION CURRENT-OFFSET
 *     LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID, '-' where unknown,
 *     sorted by topic and partition.
 *   --describe --members: GROUP CONSUMER-ID [GROUP-INSTANCE-ID] HOST
 *     CLIENT-ID #PARTITIONS ASSIGNMENT (topic(p,p),topic(p)).
 *   --describe --state: GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE
 *     #MEMBERS.
 *   As in Kafka, tables start with an empty line; "Consumer group 'G' has no
 *   active members." and "Warning: Consumer group 'G' is rebalancing." go to
 *   stderr, and a group the broker reports Dead (or GROUP_ID_NOT_FOUND) with
 *   no committed offsets is an error: "consumer group 'G' does not exist".
 *   --delete: "Deletion of requested consumer groups ('G') was successful."
 *   --delete-offsets: "TOPIC PARTITION STATUS" per partition.
 *
 * The client is a consumer without group.id (admin requests and ListOffsets
 * only; it never joins a group) with isolation.level=read_uncommitted, so the
 * log end offset is the high watermark as Kafka's tool reports it.
 *
 * Broker errors print with librdkafka's error name and message, e.g.
 * "group 'G' could not be deleted: it has active members (NON_EMPTY_GROUP: The
 * group is not empty.); stop its consumers first".
 * Exit status: 0 done, 1 the broker refused, a group does not exist or could
 * not be reached, 2 bad usage.
 */
#include "sl_base.h"
#include "cli_groups.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

enum {
    OPT_BOOTSTRAP = 256,
    OPT_GROUP,
    OPT_ALL_GROUPS,
    OPT_LIST,
    OPT_DESCRIBE,
    OPT_DELETE,
    OPT_RESET_OFFSETS,
    OPT_DELETE_OFFSETS,
    OPT_TOPIC,
    OPT_ALL_TOPICS,
    OPT_MEMBERS,
    OPT_STATE,
    OPT_OFFSETS,
    OPT_VERBOSE,
    OPT_TO_EARLIEST,
    OPT_TO_LATEST,
    OPT_TO_OFFSET,
    OPT_SHIFT_BY,
    OPT_TO_DATETIME,
    OPT_TO_CURRENT,
    OPT_DRY_RUN,
    OPT_EXECUTE,
    OPT_TIMEOUT,
    OPT_COMMAND_PROPERTY,
};

static void groups_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice groups ACTION [options]\n\n"
            "Lists, describes and deletes consumer groups and manages their committed\n"
            "offsets, like kafka-consumer-groups.sh.\n\n"
            "Actions (exactly one):\n"
            "  --list [--state [S1,S2,...]]\n"
            "          print every group and its state, sorted; with --state S1,S2 only\n"
            "          groups in those states (Stable, Empty, Dead, PreparingRebalance,\n"
            "          CompletingRebalance; any case)\n"
            "  --describe (--group G [--group G2 ...] | --all-groups) [VIEW]\n"
            "          VIEW is one of:\n"
            "          --offsets   (default) per partition: GROUP TOPIC PARTITION\n"
            "                      CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST\n"
            "                      CLIENT-ID ('-' where unknown)\n"
            "          --members   per member: consumer id, host, client id, number of\n"
            "                      partitions and the assignment ('--verbose' is accepted)\n"
            "          --state     coordinator, assignment strategy, state, #members\n"
            "  --delete (--group G [--group G2 ...] | --all-groups)\n"
            "          delete the groups and their offsets; a group with active members\n"
            "          is refused (NON_EMPTY_GROUP)\n"
            "  --reset-offsets --group G (--topic T[:P[,P...]] ... | --all-topics) SPEC\n"
            "                  [--dry-run | --execute]\n"
            "          print GROUP TOPIC PARTITION NEW-OFFSET; --execute commits them.\n"
            "          Only for an inactive group (state Empty or Dead): stop its\n"
            "          consumers first. --all-topics: every partition the group has a\n"
            "          committed offset for. SPEC is one of:\n"
            "          --to-earliest          the log start offset\n"
            "          --to-latest            the log end offset\n"
            "          --to-offset N          N, clamped to [log start, log end]\n"
            "          --shift-by N           committed offset + N (N may be negative),\n"
            "                                 clamped to [log start, log end]\n"
            "          --to-datetime YYYY-MM-DDTHH:MM:SS[.mmm][Z|+hh:mm|-hh:mm]\n"
            "                                 the first offset whose timestamp is at or\n"
            "                                 after that time (no zone: local time), or\n"
            "                                 the log end offset if there is none\n"
            "          --to-current           the committed offset (log end if none)\n"
            "          --dry-run (the default) only prints; --execute applies.\n"
            "  --delete-offsets --group G --topic T[:P[,P...]] ...\n"
            "          delete the group's committed offsets of those partitions (all of\n"
            "          T's if none given); refused while the group consumes T\n\n"
            "Options:\n"
            "  --bootstrap-server HOST:PORT  broker to contact (default %s)\n"
            "  --timeout-ms MS               wait at most MS for the broker (default %d)\n"
            "  --command-property k=v        librdkafka client property (repeatable)\n"
            "  --help                        this text\n\n"
            "Exit status: 0 done, 1 the broker refused or could not be reached, a group\n"
            "does not exist or is active (--reset-offsets), 2 bad usage.\n",
            CLI_DEFAULT_BOOTSTRAP, CLI_DEFAULT_TIMEOUT_MS);
}

static void groups_set_action(groups_opts_t *o, groups_action_t action)
{
    if (o->action != action)
        o->action_count++;
    o->action = action;
}

static void groups_set_reset(groups_opts_t *o, groups_reset_t reset)
{
    if (o->reset != reset)
        o->reset_count++;
    o->reset = reset;
}

/* Adds one --topic T or T:P[,P...] to o->topics. Returns 0, or a usage exit
 * code after printing the error. */
static int groups_add_topic(groups_opts_t *o, char *arg)
{
    char *colon = strchr(arg, ':');
    if (colon != NULL)
        *colon = '\0';
    if (arg[0] == '\0')
        return cli_usage_error("--topic expects T or T:P[,P...], got an empty topic");
    if (o->topics == NULL)
        o->topics = rd_kafka_topic_partition_list_new(8);
    if (colon == NULL) {
        rd_kafka_topic_partition_list_add(o->topics, arg, RD_KAFKA_PARTITION_UA);
        return 0;
    }
    char *rest = colon + 1;
    if (*rest == '\0')
        return cli_usage_error("--topic %s: no partition after ':'", arg);
    while (rest != NULL) {
        char *comma = strchr(rest, ',');
        if (comma != NULL)
            *comma = '\0';
        int64_t p;
        if (cli_parse_i64(rest, 0, INT32_MAX, &p) != 0)
            return cli_usage_error("--topic %s: '%s' is not a partition number", arg, rest);
        if (rd_kafka_topic_partition_list_find(o->topics, arg, (int32_t)p) == NULL)
            rd_kafka_topic_partition_list_add(o->topics, arg, (int32_t)p);
        rest = comma != NULL ? comma + 1 : NULL;
    }
    return 0;
}

/* Checks a --state S1,S2 list. Returns 0, or a usage exit code (after
 * printing the error only if `report`). */
static int groups_check_state_filter(const char *list, bool report)
{
    const char *s = list;
    do {
        size_t len = strcspn(s, ",");
        bool known = false;
        for (int st = 0; st < RD_KAFKA_CONSUMER_GROUP_STATE__CNT; st++) {
            const char *name = rd_kafka_consumer_group_state_name(st);
            if (strlen(name) == len && strncasecmp(name, s, len) == 0)
                known = true;
        }
        if (!known || len == 0) {
            if (!report)
                return CLI_EXIT_USAGE;
            return cli_usage_error("--state: unknown group state '%.*s' (Stable, Empty, Dead, "
                                   "PreparingRebalance, CompletingRebalance)",
                                   (int)len, s);
        }
        s += len;
    } while (*s++ == ',');
    return 0;
}

/* Whether `state` is in the --state list (NULL: every state). */
static bool groups_state_matches(const char *list, rd_kafka_consumer_group_state_t state)
{
    if (list == NULL)
        return true;
    const char *name = rd_kafka_consumer_group_state_name(state);
    size_t nlen = strlen(name);
    for (const char *s = list; *s != '\0';) {
        size_t len = strcspn(s, ",");
        if (len == nlen && strncasecmp(name, s, len) == 0)
            return true;
        s += len;
        if (*s == ',')
            s++;
    }
    return false;
}

/* Checks which options go with the action. Returns -1 if all is well, or a
 * usage exit code. */
static int groups_check(const groups_opts_t *o)
{
    if (o->action_count != 1)
        return cli_usage_error("exactly one of --list, --describe, --delete, --reset-offsets, "
                               "--delete-offsets is required");
    bool is_describe = o->action == GROUPS_DESCRIBE, is_reset = o->action == GROUPS_RESET;
    bool takes_groups = o->action != GROUPS_LIST;
    if (!takes_groups && (o->group_count > 0 || o->all_groups))
        return cli_usage_error("--list does not take --group or --all-groups");
    if (takes_groups && o->group_count == 0 && !o->all_groups)
        return cli_usage_error("--group is required");
    if (o->all_groups && o->group_count > 0)
        return cli_usage_error("--group and --all-groups cannot be used together");
    if (o->all_groups && !is_describe && o->action != GROUPS_DELETE)
        return cli_usage_error("--all-groups only applies to --describe and --delete");
    if ((is_reset || o->action == GROUPS_DELETE_OFFSETS) && o->group_count != 1)
        return cli_usage_error("--%s takes exactly one --group",
                               is_reset ? "reset-offsets" : "delete-offsets");
    if (o->state && o->action != GROUPS_LIST && !is_describe)
        return cli_usage_error("--state only applies to --list and --describe");
    if (o->state_filter != NULL && o->action != GROUPS_LIST)
        return cli_usage_error("--describe --state takes no value");
    if ((o->members || o->offsets) && !is_describe)
        return cli_usage_error("--members and --offsets only apply to --describe");
    if (is_describe && (int)o->members + (int)o->offsets + (int)o->state > 1)
        return cli_usage_error("--offsets, --members and --state cannot be used together");
    bool has_topics = o->topics != NULL && o->topics->cnt > 0;
    if ((has_topics || o->all_topics) && !is_reset && o->action != GROUPS_DELETE_OFFSETS)
        return cli_usage_error("--topic and --all-topics only apply to --reset-offsets and "
                               "--delete-offsets");
    if (o->all_topics && o->action == GROUPS_DELETE_OFFSETS)
        return cli_usage_error("--delete-offsets takes --topic, not --all-topics");
    if (o->action == GROUPS_DELETE_OFFSETS && !has_topics)
        return cli_usage_error("--delete-offsets requires --topic");
    if (is_reset && has_topics == o->all_topics)
        return cli_usage_error("--reset-offsets requires either --topic or --all-topics");
    if (is_reset && o->reset_count != 1)
        return cli_usage_error("--reset-offsets requires exactly one of --to-earliest, "
                               "--to-latest, --to-offset, --shift-by, --to-datetime, "
                               "--to-current");
    if (!is_reset && (o->reset_count > 0 || o->dry_run || o->execute))
        return cli_usage_error("--to-*, --shift-by, --dry-run and --execute only apply to "
                               "--reset-offsets");
    if (o->dry_run && o->execute)
        return cli_usage_error("--dry-run and --execute cannot be used together");
    return -1;
}

/* Fills `o` from the command line. Returns -1 to continue, or an exit code
 * (--help, or a usage error already printed). */
static int groups_parse(int argc, char **argv, groups_opts_t *o)
{
    static const struct option longopts[] = {
        {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
        {"group", required_argument, NULL, OPT_GROUP},
        {"all-groups", no_argument, NULL, OPT_ALL_GROUPS},
        {"list", no_argument, NULL, OPT_LIST},
        {"describe", no_argument, NULL, OPT_DESCRIBE},
        {"delete", no_argument, NULL, OPT_DELETE},
        {"reset-offsets", no_argument, NULL, OPT_RESET_OFFSETS},
        {"delete-offsets", no_argument, NULL, OPT_DELETE_OFFSETS},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"all-topics", no_argument, NULL, OPT_ALL_TOPICS},
        {"members", no_argument, NULL, OPT_MEMBERS},
        {"state", optional_argument, NULL, OPT_STATE},
        {"offsets", no_argument, NULL, OPT_OFFSETS},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"to-earliest", no_argument, NULL, OPT_TO_EARLIEST},
        {"to-latest", no_argument, NULL, OPT_TO_LATEST},
        {"to-offset", required_argument, NULL, OPT_TO_OFFSET},
        {"shift-by", required_argument, NULL, OPT_SHIFT_BY},
        {"to-datetime", required_argument, NULL, OPT_TO_DATETIME},
        {"to-current", no_argument, NULL, OPT_TO_CURRENT},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"execute", no_argument, NULL, OPT_EXECUTE},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT}, /* Kafka's spelling */
        {"command-property", required_argument, NULL, OPT_COMMAND_PROPERTY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t v;
    int c, rc;
    opterr = 0;
    /* '+': no permutation, so "--state S1,S2" can take the next argument. */
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BOOTSTRAP:
            o->bootstrap = optarg;
            break;
        case OPT_GROUP:
            if (optarg[0] == '\0')
                return cli_usage_error("--group must not be empty");
            if (o->group_count >= GROUPS_MAX_GROUPS)
                return cli_usage_error("too many --group options (at most %d)", GROUPS_MAX_GROUPS);
            o->groups[o->group_count++] = optarg;
            break;
        case OPT_ALL_GROUPS:
            o->all_groups = true;
            break;
        case OPT_LIST:
            groups_set_action(o, GROUPS_LIST);
            break;
        case OPT_DESCRIBE:
            groups_set_action(o, GROUPS_DESCRIBE);
            break;
        case OPT_DELETE:
            groups_set_action(o, GROUPS_DELETE);
            break;
        case OPT_RESET_OFFSETS:
            groups_set_action(o, GROUPS_RESET);
            break;
        case OPT_DELETE_OFFSETS:
            groups_set_action(o, GROUPS_DELETE_OFFSETS);
            break;
        case OPT_TOPIC:
            rc = groups_add_topic(o, optarg);
            if (rc != 0)
                return rc;
            break;
        case OPT_ALL_TOPICS:
            o->all_topics = true;
            break;
        case OPT_MEMBERS:
            o->members = true;
            break;
        case OPT_STATE:
            o->state = true;
            /* "--state S1,S2" as well as "--state=S1,S2", if S1,S2 are states. */
            if (optarg == NULL && optind < argc && argv[optind][0] != '-' &&
                groups_check_state_filter(argv[optind], false) == 0)
                optarg = argv[optind++];
            if (optarg != NULL) {
                rc = groups_check_state_filter(optarg, true);
                if (rc != 0)
                    return rc;
                o->state_filter = optarg;
            }
            break;
        case OPT_OFFSETS:
            o->offsets = true;
            break;
        case OPT_VERBOSE:
            break; /* --members always prints the assignment */
        case OPT_TO_EARLIEST:
            groups_set_reset(o, RESET_EARLIEST);
            break;
        case OPT_TO_LATEST:
            groups_set_reset(o, RESET_LATEST);
            break;
        case OPT_TO_OFFSET:
            if (cli_parse_i64(optarg, 0, INT64_MAX, &v) != 0)
                return cli_usage_error("--to-offset must be a non-negative offset, got '%s'",
                                       optarg);
            groups_set_reset(o, RESET_OFFSET);
            o->reset_value = v;
            break;
        case OPT_SHIFT_BY:
            if (cli_parse_i64(optarg, INT64_MIN / 2, INT64_MAX / 2, &v) != 0)
                return cli_usage_error("--shift-by must be an integer, got '%s'", optarg);
            groups_set_reset(o, RESET_SHIFT);
            o->reset_value = v;
            break;
        case OPT_TO_DATETIME:
            if (groups_parse_datetime(optarg, &v) != 0)
                return cli_usage_error("--to-datetime must be YYYY-MM-DDTHH:MM:SS[.mmm] with an "
                                       "optional Z or +hh:mm/-hh:mm zone, after 1970, got '%s'",
                                       optarg);
            groups_set_reset(o, RESET_DATETIME);
            o->reset_value = v;
            break;
        case OPT_TO_CURRENT:
            groups_set_reset(o, RESET_CURRENT);
            break;
        case OPT_DRY_RUN:
            o->dry_run = true;
            break;
        case OPT_EXECUTE:
            o->execute = true;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_i64(optarg, 1, INT32_MAX / 2, &v) != 0)
                return cli_usage_error("--timeout-ms must be a positive integer, got '%s'", optarg);
            o->timeout_ms = (int)v;
            break;
        case OPT_COMMAND_PROPERTY:
            if (cli_kv_list_add(&o->client_props, optarg, "--command-property") != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h':
            groups_usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    return groups_check(o);
}

/* ------------------------------------------------------------ helpers */

bool groups_client_wedged;

/* Whole run of `n` ASCII digits at s. */
static bool all_digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

int groups_parse_datetime(const char *s, int64_t *ms)
{
    ASSERT(s != NULL && ms != NULL);
    /* YYYY-MM-DDTHH:MM:SS is 19 characters. */
    if (strlen(s) < 19 || !all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) ||
        s[7] != '-' || !all_digits(s + 8, 2) || s[10] != 'T' || !all_digits(s + 11, 2) ||
        s[13] != ':' || !all_digits(s + 14, 2) || s[16] != ':' || !all_digits(s + 17, 2))
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + two_digits(s + 2) - 1900;
    tm.tm_mon = two_digits(s + 5) - 1;
    tm.tm_mday = two_digits(s + 8);
    tm.tm_hour = two_digits(s + 11);
    tm.tm_min = two_digits(s + 14);
    tm.tm_sec = two_digits(s + 17);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 59)
        return -1;
    const char *p = s + 19;
    int64_t millis = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                millis = millis * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0 || digits > 9)
            return -1;
        for (; digits < 3; digits++)
            millis *= 10;
    }
    struct tm check = tm;
    time_t t;
    if (*p == '\0') { /* no zone: local time, as Kafka's tool */
        tm.tm_isdst = -1;
        t = mktime(&tm);
    } else {
        int64_t offset_s = 0;
        if (*p == 'Z' && p[1] == '\0') {
            offset_s = 0;
        } else if ((*p == '+' || *p == '-') && all_digits(p + 1, 2) &&
                   ((p[3] == ':' && all_digits(p + 4, 2) && p[6] == '\0') ||
                    (all_digits(p + 3, 2) && p[5] == '\0') || p[3] == '\0')) {
            int hh = two_digits(p + 1);
            int mm = p[3] == '\0' ? 0 : two_digits(p + (p[3] == ':' ? 4 : 3));
            if (hh > 18 || mm > 59)
                return -1;
            offset_s = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
        } else {
            return -1;
        }
        t = timegm(&tm);
        if (t != (time_t)-1)
            t -= (time_t)offset_s;
    }
    /* mktime/timegm normalize an impossible date (Feb 30): refuse it. */
    if (t == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon || t < 0)
        return -1;
    *ms = (int64_t)t * 1000 + millis;
    return 0;
}

rd_kafka_event_t *groups_describe(rd_kafka_t *rk, const char **names, int n, int timeout_ms)
{
    ASSERT(n > 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeout_ms);
    rd_kafka_DescribeConsumerGroups(rk, names, (size_t)n, opts, q);
    rd_kafka_event_t *ev = cli_admin_wait(q, timeout_ms, "DescribeConsumerGroups");
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    return ev;
}

const rd_kafka_ConsumerGroupDescription_t *groups_find_description(rd_kafka_event_t *ev,
                                                                   const char *group)
{
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **d = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rd_kafka_ConsumerGroupDescription_group_id(d[i]), group) == 0)
            return d[i];
    return NULL;
}

int groups_description_state(const rd_kafka_ConsumerGroupDescription_t *desc, const char *group,
                             rd_kafka_consumer_group_state_t *state)
{
    if (desc == NULL) {
        cli_err("the broker did not describe group '%s'", group);
        return -1;
    }
    const rd_kafka_error_t *err = rd_kafka_ConsumerGroupDescription_error(desc);
    if (err == NULL) {
        *state = rd_kafka_ConsumerGroupDescription_state(desc);
        return 0;
    }
    if (rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
        *state = RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
        return 0;
    }
    if (rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
        groups_client_wedged = true;
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "cannot describe group '%s'", group);
    cli_err_error(prefix, err);
    return -1;
}

/* Checks the single group result of a group admin call; prints a group-level
 * error. Returns the result, or NULL after printing an error. */
static const rd_kafka_group_result_t *groups_single_result(const rd_kafka_group_result_t **res,
                                                           size_t n, const char *group,
                                                           const char *what)
{
    if (n != 1) {
        cli_err("%s: the broker answered for %zu groups instead of 1", what, n);
        return NULL;
    }
    const rd_kafka_error_t *err = rd_kafka_group_result_error(res[0]);
    if (err != NULL) {
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s for group '%s' failed", what, group);
        cli_err_error(prefix, err);
        return NULL;
    }
    return res[0];
}

int groups_committed(rd_kafka_t *rk, const char *group, int timeout_ms,
                     rd_kafka_topic_partition_list_t **out)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout_ms);
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, opts, q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opts);
    int rc = -1;
    rd_kafka_event_t *ev = cli_admin_wait(q, timeout_ms, "ListConsumerGroupOffsets");
    if (ev != NULL) {
        size_t n = 0;
        const rd_kafka_group_result_t **res = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
        const rd_kafka_group_result_t *gr =
            groups_single_result(res, n, group, "ListConsumerGroupOffsets");
        if (gr != NULL) {
            const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(gr);
            *out = parts != NULL ? rd_kafka_topic_partition_list_copy(parts)
                                 : rd_kafka_topic_partition_list_new(0);
            for (int i = 0; i < (*out)->cnt; i++) {
                rd_kafka_topic_partition_t *p = &(*out)->elems[i];
                if (p->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    cli_err("warning: committed offset of %s-%" PRId32 " unknown: %s (%s)",
                            p->topic, p->partition, rd_kafka_err2str(p->err),
                            rd_kafka_err2name(p->err));
                    p->offset = RD_KAFKA_OFFSET_INVALID;
                }
                p->opaque = NULL;
            }
            rc = 0;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

int groups_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int timeout_ms,
                      int64_t *low, int64_t *high)
{
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic, partition, low, high, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("cannot get the log start and end offsets of %s-%" PRId32 ": %s (%s)", topic,
                partition, rd_kafka_err2str(err), rd_kafka_err2name(err));
        return -1;
    }
    return 0;
}

int groups_resolve_topics(rd_kafka_t *rk, const groups_opts_t *o,
                          rd_kafka_topic_partition_list_t **out)
{
    ASSERT(o->topics != NULL);
    const rd_kafka_metadata_t *md;
    if (cli_metadata_all(rk, o->timeout_ms, &md) != 0)
        return -1;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    int rc = 0;
    for (int i = 0; i < o->topics->cnt && rc == 0; i++) {
        const rd_kafka_topic_partition_t *want = &o->topics->elems[i];
        const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, want->topic);
        if (t == NULL || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            cli_err("topic '%s' does not exist", want->topic);
            rc = -1;
        } else if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cli_err("topic '%s': %s (%s)", want->topic, rd_kafka_err2str(t->err),
                    rd_kafka_err2name(t->err));
            rc = -1;
        } else if (want->partition == RD_KAFKA_PARTITION_UA) {
            for (int k = 0; k < t->partition_cnt; k++)
                if (!rd_kafka_topic_partition_list_find(list, t->topic, t->partitions[k].id))
                    rd_kafka_topic_partition_list_add(list, t->topic, t->partitions[k].id);
        } else if (want->partition >= t->partition_cnt) {
            cli_err("topic '%s' has no partition %" PRId32 " (it has %d)", want->topic,
                    want->partition, t->partition_cnt);
            rc = -1;
        } else if (!rd_kafka_topic_partition_list_find(list, want->topic, want->partition)) {
            rd_kafka_topic_partition_list_add(list, want->topic, want->partition);
        }
    }
    rd_kafka_metadata_destroy(md);
    if (rc != 0) {
        rd_kafka_topic_partition_list_destroy(list);
        return -1;
    }
    rd_kafka_topic_partition_list_sort(list, NULL, NULL);
    *out = list;
    return 0;
}

/* "-" for an unknown (negative) value, else the number in buf. */
static const char *num_or_dash(char *buf, size_t size, int64_t v)
{
    if (v < 0)
        return "-";
    snprintf(buf, size, "%" PRId64, v);
    return buf;
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

static int str_width(const char *s)
{
    return s != NULL ? (int)strlen(s) : 1;
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

/* ------------------------------------------------------------ --list */

static int groups_cmp_listing(const void *a, const void *b)
{
    const rd_kafka_ConsumerGroupListing_t *const *la = a;
    const rd_kafka_ConsumerGroupListing_t *const *lb = b;
    return strcmp(rd_kafka_ConsumerGroupListing_group_id(*la),
                  rd_kafka_ConsumerGroupListing_group_id(*lb));
}

/* ListConsumerGroups. Returns the event (caller destroys it) with the sorted
 * listing in *sorted (caller frees the array) and *n entries, or NULL after
 * printing an error. Per-broker errors are printed as warnings and counted in
 * *errors. */
static rd_kafka_event_t *groups_list_all(rd_kafka_t *rk, int timeout_ms,
                                         const rd_kafka_ConsumerGroupListing_t ***sorted, size_t *n,
                                         size_t *errors)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout_ms);
    rd_kafka_ListConsumerGroups(rk, opts, q);
    rd_kafka_event_t *ev = cli_admin_wait(q, timeout_ms, "ListConsumerGroups");
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    if (ev == NULL)
        return NULL;
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t nerr = 0;
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    for (size_t i = 0; i < nerr; i++)
        cli_err_error("ListConsumerGroups: a broker failed", errs[i]);
    *errors = nerr;
    const rd_kafka_ConsumerGroupListing_t **valid =
        rd_kafka_ListConsumerGroups_result_valid(res, n);
    *sorted = calloc(*n + 1, sizeof(**sorted));
    if (*sorted == NULL) {
        cli_err("out of memory");
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        (*sorted)[i] = valid[i];
    qsort(*sorted, *n, sizeof(**sorted), groups_cmp_listing);
    return ev;
}

static int groups_list(rd_kafka_t *rk, const groups_opts_t *o)
{
    const rd_kafka_ConsumerGroupListing_t **sorted = NULL;
    size_t n = 0, errors = 0;
    rd_kafka_event_t *ev = groups_list_all(rk, o->timeout_ms, &sorted, &n, &errors);
    if (ev == NULL)
        return CLI_EXIT_FAIL;
    int width = 15;
    for (size_t i = 0; i < n; i++)
        width = max_int(width, str_width(rd_kafka_ConsumerGroupListing_group_id(sorted[i])));
    bool header = false;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupListing_state(sorted[i]);
        if (!groups_state_matches(o->state_filter, st))
            continue;
        if (!header) {
            printf("%-*s %s\n", width, "GROUP", "STATE");
            header = true;
        }
        printf("%-*s %s\n", width, rd_kafka_ConsumerGroupListing_group_id(sorted[i]),
               rd_kafka_consumer_group_state_name(st));
    }
    free(sorted);
    rd_kafka_event_destroy(ev);
    return errors > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* ------------------------------------------------------------ --describe */

/* One line of the offsets view. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t committed; /* < 0: none */
    int64_t end;       /* < 0: unknown */
    const rd_kafka_MemberDescription_t *member;
} groups_row_t;

/* Prints Kafka's message for a group state; returns false if the group does
 * not exist (Dead) and has nothing else to show (`rows` == 0). */
static bool groups_state_note(const char *group, rd_kafka_consumer_group_state_t state,
                              size_t members, int rows)
{
    switch (state) {
    case RD_KAFKA_CONSUMER_GROUP_STATE_DEAD:
        if (rows == 0) {
            cli_err("consumer group '%s' does not exist", group);
            return false;
        }
        break;
    case RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE:
    case RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE:
        fflush(stdout);
        fprintf(stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", group);
        break;
    default:
        if (members == 0) {
            fflush(stdout);
            fprintf(stderr, "\nConsumer group '%s' has no active members.\n", group);
        }
        break;
    }
    return true;
}

/* The offsets view of one group. Returns a CLI_EXIT_* code. */
static int groups_describe_offsets(rd_kafka_t *rk, const groups_opts_t *o, const char *group,
                                   const rd_kafka_ConsumerGroupDescription_t *desc)
{
    rd_kafka_consumer_group_state_t state;
    if (groups_description_state(desc, group, &state) != 0)
        return CLI_EXIT_FAIL;
    rd_kafka_topic_partition_list_t *list = NULL;
    if (groups_committed(rk, group, o->timeout_ms, &list) != 0)
        return CLI_EXIT_FAIL;
    /* Committed offsets first, then the partitions members own. */
    size_t members = rd_kafka_ConsumerGroupDescription_error(desc) == NULL
                         ? rd_kafka_ConsumerGroupDescription_member_count(desc)
                         : 0;
    for (size_t m = 0; m < members; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(desc, m);
        const rd_kafka_MemberAssignment_t *as = rd_kafka_MemberDescription_assignment(md);
        const rd_kafka_topic_partition_list_t *parts =
            as != NULL ? rd_kafka_MemberAssignment_partitions(as) : NULL;
        for (int i = 0; parts != NULL && i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
                list, parts->elems[i].topic, parts->elems[i].partition);
            if (p == NULL) {
                p = rd_kafka_topic_partition_list_add(list, parts->elems[i].topic,
                                                      parts->elems[i].partition);
                p->offset = RD_KAFKA_OFFSET_INVALID;
            }
            p->opaque = (void *)md;
        }
    }
    rd_kafka_topic_partition_list_sort(list, NULL, NULL);
    groups_row_t *rows = calloc((size_t)list->cnt + 1, sizeof(*rows));
    if (rows == NULL) {
        cli_err("out of memory");
        rd_kafka_topic_partition_list_destroy(list);
        return CLI_EXIT_FAIL;
    }
    int n = 0;
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &list->elems[i];
        if (p->offset < 0 && p->opaque == NULL)
            continue; /* neither committed nor owned: nothing to say */
        rows[n++] = (groups_row_t){
            .topic = p->topic,
            .partition = p->partition,
            .committed = p->offset,
            .end = -1,
            .member = p->opaque,
        };
    }
    int rc = CLI_EXIT_OK;
    if (!groups_state_note(group, state, members, n)) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (n == 0)
        goto out;
    int wgroup = max_int(15, str_width(group)), wtopic = 15, wcons = 15, whost = 15;
    for (int i = 0; i < n; i++) {
        int64_t low;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, rows[i].topic, rows[i].partition, &low, &rows[i].end, o->timeout_ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) { /* '-', as Kafka's tool, and say why */
            cli_err("warning: log end offset of %s-%" PRId32 " unknown: %s (%s)", rows[i].topic,
                    rows[i].partition, rd_kafka_err2str(err), rd_kafka_err2name(err));
            rows[i].end = -1;
        }
        wtopic = max_int(wtopic, str_width(rows[i].topic));
        if (rows[i].member != NULL) {
            wcons =
                max_int(wcons, str_width(rd_kafka_MemberDescription_consumer_id(rows[i].member)));
            whost = max_int(whost, str_width(rd_kafka_MemberDescription_host(rows[i].member)));
        }
    }
    printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s\n", wgroup, "GROUP", wtopic, "TOPIC",
           "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", wcons, "CONSUMER-ID", whost,
           "HOST", "CLIENT-ID");
    for (int i = 0; i < n; i++) {
        const groups_row_t *r = &rows[i];
        char b1[32], b2[32], b3[32];
        const char *lag_s = "-";
        if (r->committed >= 0 && r->end >= 0) {
            snprintf(b3, sizeof(b3), "%" PRId64, r->end - r->committed);
            lag_s = b3;
        }
        printf("%-*s %-*s %-10" PRId32 " %-15s %-15s %-15s %-*s %-*s %s\n", wgroup, group, wtopic,
               r->topic, r->partition, num_or_dash(b1, sizeof(b1), r->committed),
               num_or_dash(b2, sizeof(b2), r->end), lag_s, wcons,
               r->member ? or_dash(rd_kafka_MemberDescription_consumer_id(r->member)) : "-", whost,
               r->member ? or_dash(rd_kafka_MemberDescription_host(r->member)) : "-",
               r->member ? or_dash(rd_kafka_MemberDescription_client_id(r->member)) : "-");
    }
out:
    free(rows);
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* Prints a member's assignment as topic(p,p),topic(p), or '-'. */
static void groups_print_assignment(const rd_kafka_topic_partition_list_t *parts)
{
    if (parts == NULL || parts->cnt == 0) {
        fputs("-", stdout);
        return;
    }
    rd_kafka_topic_partition_list_t *sorted = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_topic_partition_list_sort(sorted, NULL, NULL);
    for (int i = 0; i < sorted->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &sorted->elems[i];
        bool first_of_topic = i == 0 || strcmp(sorted->elems[i - 1].topic, p->topic) != 0;
        bool last_of_topic =
            i + 1 == sorted->cnt || strcmp(sorted->elems[i + 1].topic, p->topic) != 0;
        if (first_of_topic)
            printf("%s%s(", i > 0 ? "," : "", p->topic);
        printf("%s%" PRId32, first_of_topic ? "" : ",", p->partition);
        if (last_of_topic)
            fputs(")", stdout);
    }
    rd_kafka_topic_partition_list_destroy(sorted);
}

static int groups_describe_members(const char *group,
                                   const rd_kafka_ConsumerGroupDescription_t *desc)
{
    rd_kafka_consumer_group_state_t state;
    if (groups_description_state(desc, group, &state) != 0)
        return CLI_EXIT_FAIL;
    size_t n = rd_kafka_ConsumerGroupDescription_error(desc) == NULL
                   ? rd_kafka_ConsumerGroupDescription_member_count(desc)
                   : 0;
    if (!groups_state_note(group, state, n, (int)n))
        return CLI_EXIT_FAIL;
    if (n == 0)
        return CLI_EXIT_OK;
    int wgroup = max_int(15, str_width(group)), wcons = 15, winst = 17, whost = 15, wclient = 15;
    bool instances = false;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(desc, i);
        wcons = max_int(wcons, str_width(rd_kafka_MemberDescription_consumer_id(m)));
        whost = max_int(whost, str_width(rd_kafka_MemberDescription_host(m)));
        wclient = max_int(wclient, str_width(rd_kafka_MemberDescription_client_id(m)));
        const char *inst = rd_kafka_MemberDescription_group_instance_id(m);
        if (inst != NULL && inst[0] != '\0') {
            instances = true;
            winst = max_int(winst, str_width(inst));
        }
    }
    printf("\n%-*s %-*s ", wgroup, "GROUP", wcons, "CONSUMER-ID");
    if (instances)
        printf("%-*s ", winst, "GROUP-INSTANCE-ID");
    printf("%-*s %-*s %-12s %s\n", whost, "HOST", wclient, "CLIENT-ID", "#PARTITIONS",
           "ASSIGNMENT");
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(desc, i);
        const rd_kafka_MemberAssignment_t *as = rd_kafka_MemberDescription_assignment(m);
        const rd_kafka_topic_partition_list_t *parts =
            as != NULL ? rd_kafka_MemberAssignment_partitions(as) : NULL;
        printf("%-*s %-*s ", wgroup, group, wcons,
               or_dash(rd_kafka_MemberDescription_consumer_id(m)));
        if (instances)
            printf("%-*s ", winst, or_dash(rd_kafka_MemberDescription_group_instance_id(m)));
        printf("%-*s %-*s %-12d ", whost, or_dash(rd_kafka_MemberDescription_host(m)), wclient,
               or_dash(rd_kafka_MemberDescription_client_id(m)), parts != NULL ? parts->cnt : 0);
        groups_print_assignment(parts);
        fputs("\n", stdout);
    }
    return CLI_EXIT_OK;
}

static int groups_describe_state(const char *group, const rd_kafka_ConsumerGroupDescription_t *desc)
{
    rd_kafka_consumer_group_state_t state;
    if (groups_description_state(desc, group, &state) != 0)
        return CLI_EXIT_FAIL;
    if (state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        cli_err("consumer group '%s' does not exist", group);
        return CLI_EXIT_FAIL;
    }
    char coord[300] = "-";
    const rd_kafka_Node_t *node = rd_kafka_ConsumerGroupDescription_coordinator(desc);
    if (node != NULL)
        snprintf(coord, sizeof(coord), "%s:%u  (%d)", rd_kafka_Node_host(node),
                 (unsigned)rd_kafka_Node_port(node), rd_kafka_Node_id(node));
    const char *assignor = or_dash(rd_kafka_ConsumerGroupDescription_partition_assignor(desc));
    int wgroup = max_int(15, str_width(group)), wcoord = max_int(25, str_width(coord));
    printf("\n%-*s %-*s %-20s %-20s %s\n", wgroup, "GROUP", wcoord, "COORDINATOR (ID)",
           "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS");
    printf("%-*s %-*s %-20s %-20s %zu\n", wgroup, group, wcoord, coord, assignor,
           rd_kafka_consumer_group_state_name(state),
           rd_kafka_ConsumerGroupDescription_member_count(desc));
    return CLI_EXIT_OK;
}

static int groups_describe_cmd(rd_kafka_t *rk, const groups_opts_t *o, const char **names, int n)
{
    rd_kafka_event_t *ev = groups_describe(rk, names, n, o->timeout_ms);
    if (ev == NULL)
        return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < n; i++) {
        const rd_kafka_ConsumerGroupDescription_t *desc = groups_find_description(ev, names[i]);
        int one;
        if (o->members)
            one = groups_describe_members(names[i], desc);
        else if (o->state)
            one = groups_describe_state(names[i], desc);
        else
            one = groups_describe_offsets(rk, o, names[i], desc);
        if (one != CLI_EXIT_OK)
            rc = one;
        fflush(stdout);
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* ------------------------------------------------------------ --delete */

static int groups_delete(rd_kafka_t *rk, const groups_opts_t *o, const char **names, int n)
{
    rd_kafka_DeleteGroup_t **del = calloc((size_t)n, sizeof(*del));
    if (del == NULL) {
        cli_err("out of memory");
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++)
        del[i] = rd_kafka_DeleteGroup_new(names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS, o->timeout_ms);
    rd_kafka_DeleteGroups(rk, del, (size_t)n, opts, q);
    rd_kafka_DeleteGroup_destroy_array(del, (size_t)n);
    free(del);
    rd_kafka_AdminOptions_destroy(opts);
    int rc = CLI_EXIT_FAIL;
    rd_kafka_event_t *ev = cli_admin_wait(q, o->timeout_ms, "DeleteGroups");
    if (ev == NULL)
        goto out;
    size_t cnt = 0;
    const rd_kafka_group_result_t **res =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &cnt);
    size_t ok = 0;
    for (size_t i = 0; i < cnt; i++) {
        const rd_kafka_error_t *err = rd_kafka_group_result_error(res[i]);
        const char *name = rd_kafka_group_result_name(res[i]);
        if (err == NULL) {
            ok++;
            continue;
        }
        rd_kafka_resp_err_t code = rd_kafka_error_code(err);
        if (code == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP)
            cli_err("group '%s' could not be deleted: it has active members (%s: %s); stop its "
                    "consumers first",
                    name, rd_kafka_error_name(err), rd_kafka_error_string(err));
        else if (code == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
            cli_err("group '%s' could not be deleted: it does not exist (%s: %s)", name,
                    rd_kafka_error_name(err), rd_kafka_error_string(err));
        else
            cli_err("group '%s' could not be deleted: %s (%s)", name, rd_kafka_error_string(err),
                    rd_kafka_error_name(err));
    }
    if (ok > 0) {
        fputs(ok == cnt ? "Deletion of requested consumer groups ("
                        : "These consumer groups were deleted successfully: (",
              stdout);
        bool first = true;
        for (size_t i = 0; i < cnt; i++) {
            if (rd_kafka_group_result_error(res[i]) != NULL)
                continue;
            printf("%s'%s'", first ? "" : ", ", rd_kafka_group_result_name(res[i]));
            first = false;
        }
        fputs(ok == cnt ? ") was successful.\n" : ")\n", stdout);
    }
    if (cnt != (size_t)n)
        cli_err("the broker answered for %zu groups instead of %d", cnt, n);
    rc = ok == cnt && cnt == (size_t)n ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_queue_destroy(q);
    return rc;
}

/* ------------------------------------------------------------ --delete-offsets */

static int groups_delete_offsets(rd_kafka_t *rk, const groups_opts_t *o)
{
    const char *group = o->groups[0];
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (groups_resolve_topics(rk, o, &parts) != 0)
        return CLI_EXIT_FAIL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS, o->timeout_ms);
    rd_kafka_DeleteConsumerGroupOffsets_t *req =
        rd_kafka_DeleteConsumerGroupOffsets_new(group, parts);
    rd_kafka_DeleteConsumerGroupOffsets(rk, &req, 1, opts, q);
    rd_kafka_DeleteConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opts);
    int rc = CLI_EXIT_FAIL;
    rd_kafka_event_t *ev = cli_admin_wait(q, o->timeout_ms, "DeleteConsumerGroupOffsets");
    if (ev == NULL)
        goto out;
    size_t n = 0;
    const rd_kafka_group_result_t **res = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
        rd_kafka_event_DeleteConsumerGroupOffsets_result(ev), &n);
    if (n != 1) {
        cli_err("DeleteConsumerGroupOffsets: the broker answered for %zu groups instead of 1", n);
        goto out_event;
    }
    const rd_kafka_error_t *gerr = rd_kafka_group_result_error(res[0]);
    if (gerr != NULL) {
        rd_kafka_resp_err_t code = rd_kafka_error_code(gerr);
        if (code == RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC)
            cli_err("deleting offsets of consumer group '%s' is forbidden while the group is "
                    "subscribed to the topic (%s: %s)",
                    group, rd_kafka_error_name(gerr), rd_kafka_error_string(gerr));
        else if (code == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
            cli_err("consumer group '%s' does not exist (%s: %s)", group, rd_kafka_error_name(gerr),
                    rd_kafka_error_string(gerr));
        else
            cli_err("deleting offsets of consumer group '%s' failed: %s (%s)", group,
                    rd_kafka_error_string(gerr), rd_kafka_error_name(gerr));
        goto out_event;
    }
    const rd_kafka_topic_partition_list_t *done = rd_kafka_group_result_partitions(res[0]);
    int failed = 0;
    int wtopic = 30;
    for (int i = 0; done != NULL && i < done->cnt; i++)
        wtopic = max_int(wtopic, str_width(done->elems[i].topic));
    printf("\n%-*s %-15s %s\n", wtopic, "TOPIC", "PARTITION", "STATUS");
    for (int i = 0; done != NULL && i < done->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &done->elems[i];
        if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("%-*s %-15" PRId32 " %s\n", wtopic, p->topic, p->partition, "Successful");
        } else {
            failed++;
            printf("%-*s %-15" PRId32 " Error: %s (%s)\n", wtopic, p->topic, p->partition,
                   rd_kafka_err2str(p->err), rd_kafka_err2name(p->err));
        }
    }
    if (failed > 0)
        cli_err("%d partition(s) failed, see the STATUS column", failed);
    rc = failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out_event:
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

/* ------------------------------------------------------------ main */

/* The names of every group, for --all-groups: *names (caller frees the array
 * and each name) and *n. Returns 0, or -1 after printing an error. */
static int groups_all_names(rd_kafka_t *rk, int timeout_ms, char ***names, int *n)
{
    const rd_kafka_ConsumerGroupListing_t **sorted = NULL;
    size_t cnt = 0, errors = 0;
    rd_kafka_event_t *ev = groups_list_all(rk, timeout_ms, &sorted, &cnt, &errors);
    if (ev == NULL)
        return -1;
    int rc = errors > 0 ? -1 : 0;
    *names = calloc(cnt + 1, sizeof(**names));
    *n = 0;
    if (*names == NULL) {
        cli_err("out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        (*names)[i] = strdup(rd_kafka_ConsumerGroupListing_group_id(sorted[i]));
        if ((*names)[i] == NULL) {
            cli_err("out of memory");
            rc = -1;
            break;
        }
        (*n)++;
    }
    free(sorted);
    rd_kafka_event_destroy(ev);
    return rc;
}

static rd_kafka_t *groups_client_new(const groups_opts_t *o)
{
    rd_kafka_conf_t *conf = cli_conf_new(o->bootstrap, NULL);
    if (conf == NULL)
        return NULL;
    /* Log end offsets as Kafka's tool reports them (not the last stable
     * offset); --command-property may still override it. */
    if (cli_conf_set(conf, "isolation.level", "read_uncommitted") != 0 ||
        cli_conf_set_all(conf, &o->client_props) != 0)
        goto out_destroy_conf;
    return cli_client_new(RD_KAFKA_CONSUMER, conf);

out_destroy_conf:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int cli_groups_main(int argc, char **argv)
{
    groups_opts_t o = {
        .bootstrap = CLI_DEFAULT_BOOTSTRAP,
        .timeout_ms = CLI_DEFAULT_TIMEOUT_MS,
    };
    int rc = groups_parse(argc, argv, &o);
    if (rc >= 0)
        goto out_topics;

    rc = CLI_EXIT_FAIL;
    rd_kafka_t *rk = groups_client_new(&o);
    if (rk == NULL)
        goto out_topics;
    char **all = NULL;
    int nall = 0;
    const char **names = o.groups;
    int n = o.group_count;
    if (o.all_groups) {
        if (groups_all_names(rk, o.timeout_ms, &all, &nall) != 0)
            goto out_client;
        names = (const char **)all;
        n = nall;
        if (n == 0) {
            fprintf(stderr, "There are no consumer groups.\n");
            rc = CLI_EXIT_OK;
            goto out_client;
        }
    }
    switch (o.action) {
    case GROUPS_LIST:
        rc = groups_list(rk, &o);
        break;
    case GROUPS_DESCRIBE:
        rc = groups_describe_cmd(rk, &o, names, n);
        break;
    case GROUPS_DELETE:
        rc = groups_delete(rk, &o, names, n);
        break;
    case GROUPS_RESET:
        rc = groups_reset_offsets(rk, &o);
        break;
    case GROUPS_DELETE_OFFSETS:
        rc = groups_delete_offsets(rk, &o);
        break;
    case GROUPS_NONE:
        ASSERT(!"parse guarantees an action");
    }
out_client:
    fflush(stdout);
    for (int i = 0; all != NULL && i < nall; i++)
        free(all[i]);
    free(all);
    if (!groups_client_wedged)
        rd_kafka_destroy(rk);
out_topics:
    if (o.topics != NULL)
        rd_kafka_topic_partition_list_destroy(o.topics);
    return rc;
}
