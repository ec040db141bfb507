/*
 * cli_groups_reset.c — `sluice groups --reset-offsets`, as
 * kafka-consumer-groups.sh does it.
 *
 *   --reset-offsets --group G (--topic T[:P,...] ... | --all-topics) SPEC
 *                   [--dry-run | --execute]
 *
 * 1. The group must be inactive: DescribeConsumerGroups must report Empty or
 *    Dead (or GROUP_ID_NOT_FOUND, or no state at all); otherwise it refuses
 *    with Kafka's words, "Assignments can only be reset if the group 'G' is
 *    inactive, but the current state is Stable.", exit 1, for a dry run too.
 * 2. The partitions: those of --topic (every partition of T if none given;
 *    an unknown topic or partition is an error), or with --all-topics every
 *    partition the group has a committed offset for (none is an error).
 * 3. The new offset of each (see SPEC in cli_groups.c's --help): log start
 *    and end offsets come from ListOffsets (watermarks), --to-datetime from
 *    rd_kafka_offsets_for_times(); --to-offset and --shift-by are clamped to
 *    [log start, log end] with a warning on stderr, as Kafka does; --shift-by
 *    of a partition without a committed offset is an error.
 * 4. Prints "GROUP TOPIC PARTITION NEW-OFFSET" (after an empty line), sorted
 *    by topic and partition. Only --execute commits the plan, with
 *    AlterConsumerGroupOffsets (OffsetCommit with no generation); without it
 *    (the default, or --dry-run) nothing changes, and without either flag a
 *    note on stderr says so. A partition the broker refuses is printed with
 *    its error name and fails the command; the table is printed only when
 *    every partition was committed.
 */
#include "sl_base.h"
#include "cli_groups.h"

#include <inttypes.h>
#include <stdlib.h>

/* The group's state must let its offsets be reset. Returns 0, or -1 after
 * printing why not. */
static int reset_check_inactive(rd_kafka_t *rk, const char *group, int timeout_ms)
{
    rd_kafka_event_t *ev = groups_describe(rk, &group, 1, timeout_ms);
    if (ev == NULL)
        return -1;
    rd_kafka_consumer_group_state_t state;
    int rc = groups_description_state(groups_find_description(ev, group), group, &state);
    rd_kafka_event_destroy(ev);
    if (rc != 0)
        return -1;
    if (state == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
        state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD ||
        state == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
        return 0;
    cli_err("Assignments can only be reset if the group '%s' is inactive, but the current "
            "state is %s.",
            group, rd_kafka_consumer_group_state_name(state));
    return -1;
}

/* The partitions to reset, sorted. Returns 0 with *out owned by the caller,
 * or -1 after printing an error. */
static int reset_targets(rd_kafka_t *rk, const groups_opts_t *o,
                         const rd_kafka_topic_partition_list_t *committed,
                         rd_kafka_topic_partition_list_t **out)
{
    if (!o->all_topics)
        return groups_resolve_topics(rk, o, out);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(committed->cnt);
    for (int i = 0; i < committed->cnt; i++)
        if (committed->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(list, committed->elems[i].topic,
                                              committed->elems[i].partition);
    if (list->cnt == 0) {
        cli_err("consumer group '%s' has no committed offsets: --all-topics finds nothing to "
                "reset (use --topic)",
                o->groups[0]);
        rd_kafka_topic_partition_list_destroy(list);
        return -1;
    }
    rd_kafka_topic_partition_list_sort(list, NULL, NULL);
    *out = list;
    return 0;
}

/* `want` limited to [low, high], with Kafka's warning when it is not. */
static int64_t reset_clamp(const rd_kafka_topic_partition_t *p, int64_t want, int64_t low,
                           int64_t high)
{
    if (want > high) {
        fprintf(stderr,
                "New offset (%" PRId64 ") is higher than latest offset for topic partition "
                "%s-%" PRId32 ". Value will be set to %" PRId64 "\n",
                want, p->topic, p->partition, high);
        return high;
    }
    if (want < low) {
        fprintf(stderr,
                "New offset (%" PRId64 ") is lower than earliest offset for topic partition "
                "%s-%" PRId32 ". Value will be set to %" PRId64 "\n",
                want, p->topic, p->partition, low);
        return low;
    }
    return want;
}

/* For --to-datetime: a copy of `targets` whose offsets are the first offset
 * at or after o->reset_value (negative: none). Returns NULL after printing an
 * error. */
static rd_kafka_topic_partition_list_t *reset_times(rd_kafka_t *rk, const groups_opts_t *o,
                                                    const rd_kafka_topic_partition_list_t *targets)
{
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_copy(targets);
    for (int i = 0; i < times->cnt; i++)
        times->elems[i].offset = o->reset_value;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, times, o->timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err("cannot look offsets up by timestamp: %s (%s)", rd_kafka_err2str(err),
                rd_kafka_err2name(err));
        goto fail;
    }
    for (int i = 0; i < times->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &times->elems[i];
        if (p->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cli_err("cannot look up the offset by timestamp of %s-%" PRId32 ": %s (%s)", p->topic,
                    p->partition, rd_kafka_err2str(p->err), rd_kafka_err2name(p->err));
            goto fail;
        }
    }
    return times;

fail:
    rd_kafka_topic_partition_list_destroy(times);
    return NULL;
}

/* Sets the new offset of each element of `plan` (a copy of the targets).
 * Returns 0, or -1 after printing an error. */
static int reset_plan(rd_kafka_t *rk, const groups_opts_t *o,
                      const rd_kafka_topic_partition_list_t *committed,
                      rd_kafka_topic_partition_list_t *plan)
{
    rd_kafka_topic_partition_list_t *times = NULL;
    if (o->reset == RESET_DATETIME && (times = reset_times(rk, o, plan)) == NULL)
        return -1;
    int rc = 0;
    for (int i = 0; i < plan->cnt && rc == 0; i++) {
        rd_kafka_topic_partition_t *p = &plan->elems[i];
        int64_t low, high;
        if (groups_watermarks(rk, p->topic, p->partition, o->timeout_ms, &low, &high) != 0) {
            rc = -1;
            break;
        }
        const rd_kafka_topic_partition_t *c =
            rd_kafka_topic_partition_list_find(committed, p->topic, p->partition);
        int64_t current = c != NULL && c->offset >= 0 ? c->offset : -1;
        switch (o->reset) {
        case RESET_EARLIEST:
            p->offset = low;
            break;
        case RESET_LATEST:
            p->offset = high;
            break;
        case RESET_OFFSET:
            p->offset = reset_clamp(p, o->reset_value, low, high);
            break;
        case RESET_SHIFT:
            if (current < 0) {
                cli_err("cannot shift the offset of %s-%" PRId32 ": group '%s' has no committed "
                        "offset for it",
                        p->topic, p->partition, o->groups[0]);
                rc = -1;
                break;
            }
            p->offset = reset_clamp(p, current + o->reset_value, low, high);
            break;
        case RESET_DATETIME: {
            const rd_kafka_topic_partition_t *t =
                rd_kafka_topic_partition_list_find(times, p->topic, p->partition);
            p->offset = t != NULL && t->offset >= 0 ? t->offset : high;
            break;
        }
        case RESET_CURRENT:
            p->offset = current >= 0 ? current : high;
            break;
        case RESET_NONE:
            ASSERT(!"parse guarantees a reset spec");
        }
    }
    if (times != NULL)
        rd_kafka_topic_partition_list_destroy(times);
    return rc;
}

/* Commits `plan` with AlterConsumerGroupOffsets. Returns 0, or -1 after
 * printing each failure. */
static int reset_execute(rd_kafka_t *rk, const char *group,
                         const rd_kafka_topic_partition_list_t *plan, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        cli_admin_options(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeout_ms);
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, plan);
    rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, opts, q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opts);
    int rc = -1;
    rd_kafka_event_t *ev = cli_admin_wait(q, timeout_ms, "AlterConsumerGroupOffsets");
    if (ev == NULL)
        goto out;
    size_t n = 0;
    const rd_kafka_group_result_t **res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    if (n != 1) {
        cli_err("AlterConsumerGroupOffsets: the broker answered for %zu groups instead of 1", n);
        goto out_event;
    }
    const rd_kafka_error_t *gerr = rd_kafka_group_result_error(res[0]);
    if (gerr != NULL) {
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "cannot commit the new offsets of group '%s'", group);
        cli_err_error(prefix, gerr);
        goto out_event;
    }
    const rd_kafka_topic_partition_list_t *done = rd_kafka_group_result_partitions(res[0]);
    int failed = 0;
    for (int i = 0; done != NULL && i < done->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &done->elems[i];
        if (p->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cli_err("cannot commit offset %" PRId64 " of %s-%" PRId32 ": %s (%s)", p->offset,
                    p->topic, p->partition, rd_kafka_err2str(p->err), rd_kafka_err2name(p->err));
            failed++;
        }
    }
    rc = failed == 0 ? 0 : -1;
out_event:
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_queue_destroy(q);
    return rc;
}

static void reset_print(const char *group, const rd_kafka_topic_partition_list_t *plan)
{
    int wgroup = 30, wtopic = 30;
    if ((int)strlen(group) > wgroup)
        wgroup = (int)strlen(group);
    for (int i = 0; i < plan->cnt; i++)
        if ((int)strlen(plan->elems[i].topic) > wtopic)
            wtopic = (int)strlen(plan->elems[i].topic);
    printf("\n%-*s %-*s %-10s %s\n", wgroup, "GROUP", wtopic, "TOPIC", "PARTITION", "NEW-OFFSET");
    for (int i = 0; i < plan->cnt; i++)
        printf("%-*s %-*s %-10" PRId32 " %" PRId64 "\n", wgroup, group, wtopic,
               plan->elems[i].topic, plan->elems[i].partition, plan->elems[i].offset);
}

int groups_reset_offsets(rd_kafka_t *rk, const groups_opts_t *o)
{
    ASSERT(o->group_count == 1);
    const char *group = o->groups[0];
    if (reset_check_inactive(rk, group, o->timeout_ms) != 0)
        return CLI_EXIT_FAIL;
    rd_kafka_topic_partition_list_t *committed = NULL;
    if (groups_committed(rk, group, o->timeout_ms, &committed) != 0)
        return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_FAIL;
    rd_kafka_topic_partition_list_t *plan = NULL;
    if (reset_targets(rk, o, committed, &plan) != 0)
        goto out;
    if (reset_plan(rk, o, committed, plan) != 0)
        goto out;
    if (o->execute && reset_execute(rk, group, plan, o->timeout_ms) != 0)
        goto out;
    reset_print(group, plan);
    if (!o->execute && !o->dry_run) {
        fflush(stdout);
        fprintf(stderr, "\nNo offsets were changed: this was a dry run. Add --execute to "
                        "commit them (or --dry-run to say a dry run is meant).\n");
    }
    rc = CLI_EXIT_OK;
out:
    if (plan != NULL)
        rd_kafka_topic_partition_list_destroy(plan);
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}
