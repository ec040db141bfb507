/*
 * sl_group_rewrite.c — keeps the partitions of __consumer_offsets bounded
 * without a log cleaner.
 *
 * The coordinator holds every live group, member and committed offset of its
 * partitions in memory; the log behind them only grows (each commit, each
 * rebalance appends). When a partition's log passes
 * SL_GROUP_REWRITE_SEGMENTS x offsets.topic.segment.bytes, the coordinator
 *   1. notes cut = the log end offset,
 *   2. appends the live state of every group of the partition again (group
 *      metadata, KIP-848 records, one batch of all committed offsets per group),
 *   3. once the high watermark passed all of those (checked at the next tick),
 *      raises the log start offset to cut (DeleteRecords): every record below cut
 *      is superseded by one at or above it, so loading from the new start
 *      rebuilds the same state. Whole segments below cut are deleted.
 * Records appended after cut by ordinary operations stay and win on reload
 * (they come later). A rewrite starts only when no group of the partition has
 * a write in flight or a rebalance under way (rewrite_can_start), so what is
 * copied from memory is what the log says. A tombstone below cut is not needed any more: what it
 * deleted is not in memory, so it was not rewritten. If the rewrite's writes
 * fail, the cut is never applied (the high watermark does not pass them) and
 * the next tick after SL_GROUP_REWRITE_GIVE_UP_TICKS starts over.
 *
 * Kafka gets the same bound from compaction (cleanup.policy=compact) with its
 * log cleaner; sluice has no cleaner yet (README).
 */
#include "sl_base.h"
#include "sl_group.h"
#include "sl_log.h"
#include "st_log.h"

#define SL_GROUP_REWRITE_SEGMENTS 2

/* A rewrite copies memory into the log, so memory must equal what the log will
 * say: no group of the partition may have a write in flight (a commit is
 * applied to memory only when written) or be in the middle of a rebalance (its
 * record would store a generation without its assignment). */
static bool rewrite_can_start(const sl_coord_t *c, int32_t p)
{
    for (uint32_t i = 0; i <= c->groups_mask; i++)
        for (const sl_group_t *g = c->groups[i]; g; g = g->hash_next)
            if (g->partition == p &&
                (g->appends_inflight > 0 ||
                 (!g->cg && (g->state == SL_GROUP_PREPARING_REBALANCE ||
                             g->state == SL_GROUP_COMPLETING_REBALANCE))))
                return false;
    return true;
}

static void rewrite_start(sl_coord_t *c, struct st_log *log, int32_t p)
{
    if (!rewrite_can_start(c, p))
        return; /* next tick */
    int64_t cut = st_log_end_offset(log);
    uint32_t groups = 0;
    for (uint32_t i = 0; i <= c->groups_mask; i++) {
        for (sl_group_t *g = c->groups[i]; g; g = g->hash_next) {
            if (g->partition != p || g->state == SL_GROUP_DEAD)
                continue;
            groups++;
            if (g->cg)
                sl_cgroup_persist(g);
            else if (g->protocol_type || g->generation > 0)
                if (sl_group_log_store_group(g, NULL, NULL) != 0)
                    goto failed;
            if (sl_group_offsets_write_all(g) != 0)
                goto failed;
        }
    }
    c->rewrite_cut[p] = cut;
    c->rewrite_end[p] = st_log_end_offset(log);
    c->rewrites++;
    LOG_INFO("%s-%d: log of %lld bytes rewritten from offset %lld (%u groups)",
             SL_GROUP_OFFSETS_TOPIC, p, (long long)st_log_size_bytes(log), (long long)cut, groups);
    return;
failed:
    LOG_WARN("%s-%d: log rewrite failed to write; tried again later", SL_GROUP_OFFSETS_TOPIC, p);
}

void sl_group_rewrite_check(sl_coord_t *c)
{
    if (!c->rewrite_cut || sl_uuid_is_zero(&c->offsets_topic_id))
        return;
    int64_t limit = SL_GROUP_REWRITE_SEGMENTS * c->shard->config->offsets_topic_segment_bytes;
    for (int32_t p = 0; p < c->offsets_partition_count; p++) {
        struct st_log *log = sl_shard_log(c->shard, &c->offsets_topic_id, p);
        if (!log)
            continue;
        if (c->rewrite_cut[p] >= 0) {
            if (st_log_high_watermark(log) < c->rewrite_end[p]) {
                if (st_log_end_offset(log) < c->rewrite_end[p])
                    c->rewrite_cut[p] = -1; /* writes failed and were cut back: start over */
                continue;
            }
            int64_t low = 0;
            int rc = st_log_delete_records(log, c->rewrite_cut[p], &low);
            if (rc != 0)
                LOG_WARN("%s-%d: raising the log start after a rewrite failed: %d",
                         SL_GROUP_OFFSETS_TOPIC, p, rc);
            else
                LOG_INFO("%s-%d: log start offset now %lld, %lld bytes left",
                         SL_GROUP_OFFSETS_TOPIC, p, (long long)low,
                         (long long)st_log_size_bytes(log));
            c->rewrite_cut[p] = -1;
            continue;
        }
        if (st_log_size_bytes(log) > limit)
            rewrite_start(c, log, p);
    }
}
