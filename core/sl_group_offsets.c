/*
 * sl_group_offsets.c — committed offsets of a group: the table, OffsetCommit,
 * OffsetFetch, OffsetDelete and offsets.retention.minutes expiry.
 *
 * A commit is applied to the table only when its records are written (so a
 * fetch never reports an offset that a crash would lose); a delete or an expiry
 * removes at once and writes tombstones behind (a crash before they are written
 * brings the offset back, as Kafka would after an unclean election).
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_group.h"
#include "sl_log.h"
#include "kp_batch.h"
#include "kp_batch_build.h"
#include "kp_messages.h"

#include <stdlib.h>


/* ------------------------------------------------------------------ table */

static uint32_t tp_hash(const char *topic, size_t len, int32_t partition)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)topic[i]) * 16777619u;
    return (h ^ (uint32_t)partition) * 16777619u;
}

sl_offset_t *sl_group_offset_find(sl_group_t *g, const char *topic, size_t len, int32_t partition)
{
    for (sl_offset_t *o = g->offsets[tp_hash(topic, len, partition) & g->offsets_mask]; o;
         o = o->next)
        if (o->partition == partition && strlen(o->topic) == len && memcmp(o->topic, topic, len) == 0)
            return o;
    return NULL;
}

static void offsets_grow(sl_group_t *g)
{
    uint32_t size = (g->offsets_mask + 1) * 2;
    sl_offset_t **t = calloc(size, sizeof(*t));
    if (!t)
        return;
    for (uint32_t i = 0; i <= g->offsets_mask; i++) {
        for (sl_offset_t *o = g->offsets[i], *next; o; o = next) {
            next = o->next;
            uint32_t h = tp_hash(o->topic, strlen(o->topic), o->partition) & (size - 1);
            o->next = t[h];
            t[h] = o;
        }
    }
    free(g->offsets);
    g->offsets = t;
    g->offsets_mask = size - 1;
}

int sl_group_offset_put(sl_group_t *g, const char *topic, size_t topic_len, int32_t partition,
                        int64_t offset, int32_t leader_epoch, const char *metadata,
                        size_t metadata_len, int64_t commit_ts, int64_t expire_ts)
{
    sl_offset_t *o = sl_group_offset_find(g, topic, topic_len, partition);
    char *md = strndup(metadata ? metadata : "", metadata ? metadata_len : 0);
    if (!md)
        return -ENOMEM;
    if (!o) {
        o = calloc(1, sizeof(*o));
        if (!o || !(o->topic = strndup(topic, topic_len))) {
            free(o);
            free(md);
            return -ENOMEM;
        }
        o->partition = partition;
        if (g->offset_count + 1 > (g->offsets_mask + 1) * 2)
            offsets_grow(g);
        uint32_t h = tp_hash(topic, topic_len, partition) & g->offsets_mask;
        o->next = g->offsets[h];
        g->offsets[h] = o;
        g->offset_count++;
    }
    free(o->metadata);
    o->metadata = md;
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    o->commit_timestamp_ms = commit_ts;
    o->expire_timestamp_ms = expire_ts;
    return 0;
}

void sl_group_offset_remove(sl_group_t *g, const char *topic, size_t len, int32_t partition)
{
    uint32_t h = tp_hash(topic, len, partition) & g->offsets_mask;
    for (sl_offset_t **pp = &g->offsets[h]; *pp; pp = &(*pp)->next) {
        sl_offset_t *o = *pp;
        if (o->partition == partition && strlen(o->topic) == len &&
            memcmp(o->topic, topic, len) == 0) {
            *pp = o->next;
            free(o->topic);
            free(o->metadata);
            free(o);
            g->offset_count--;
            return;
        }
    }
}

void sl_group_offsets_clear(sl_group_t *g)
{
    for (uint32_t i = 0; i <= g->offsets_mask; i++) {
        while (g->offsets[i]) {
            sl_offset_t *o = g->offsets[i];
            g->offsets[i] = o->next;
            free(o->topic);
            free(o->metadata);
            free(o);
        }
    }
    g->offset_count = 0;
}

/* ---------------------------------------------------------- OffsetCommit */

typedef struct commit_ctx {
    sl_gop_t *op;
    int64_t commit_ts;
    int64_t expire_ts;
} commit_ctx_t;

static void commit_written(sl_group_t *g, int err, void *ctx)
{
    commit_ctx_t *cc = ctx;
    sl_gop_t *op = cc->op;
    const kp_offset_commit_request_t *in = op->in;
    kp_offset_commit_response_t *out = op->out;
    for (int32_t t = 0; t < in->topics_count; t++) {
        kp_str_t name = kp_str_nonnull(in->topics[t].name);
        for (int32_t p = 0; p < in->topics[t].partitions_count; p++) {
            kp_offset_commit_response_partitions_t *r = &out->topics[t].partitions[p];
            if (r->error_code != KE_NONE)
                continue;
            if (err) {
                r->error_code = KE_COORDINATOR_NOT_AVAILABLE;
                continue;
            }
            const kp_offset_commit_request_partitions_t *rp = &in->topics[t].partitions[p];
            kp_str_t md = kp_str_nonnull(rp->committed_metadata);
            int32_t epoch = op->version >= 6 ? rp->committed_leader_epoch : -1;
            if (sl_group_offset_put(g, name.ptr, (size_t)name.len, rp->partition_index,
                                    rp->committed_offset, epoch, md.ptr, (size_t)md.len,
                                    cc->commit_ts, cc->expire_ts) != 0)
                r->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        }
    }
    if (!err)
        g->coord->commits++;
    free(cc);
    sl_gop_finish(op);
}

static void commit_fail_all(sl_gop_t *op, int16_t err)
{
    const kp_offset_commit_request_t *in = op->in;
    kp_offset_commit_response_t *out = op->out;
    for (int32_t t = 0; t < in->topics_count; t++)
        for (int32_t p = 0; p < in->topics[t].partitions_count; p++)
            if (out->topics[t].partitions[p].error_code == KE_NONE)
                out->topics[t].partitions[p].error_code = err;
    sl_gop_finish(op);
}

/* Kafka's ClassicGroup.validateOffsetCommit. */
static int16_t commit_check(sl_group_t *g, const kp_offset_commit_request_t *in, int16_t v)
{
    kp_str_t mid = kp_str_nonnull(in->member_id);
    kp_str_t iid = v >= 7 ? in->group_instance_id : KP_STR_NULL;
    int32_t generation = in->generation_id_or_member_epoch;
    if (g->state == SL_GROUP_DEAD)
        return KE_COORDINATOR_NOT_AVAILABLE;
    if (g->cg) /* KIP-848: the member epoch, not a generation */
        return sl_cgroup_check_member_epoch(g->cg, mid, generation, true);
    if (generation < 0 && g->state == SL_GROUP_EMPTY)
        return KE_NONE; /* a commit from outside any generation (admin tools) */
    if (generation >= 0 || mid.len > 0 || !kp_str_is_null(iid)) {
        int16_t err;
        sl_member_t *m = sl_group_validate_member(g, mid, iid, &err);
        if (!m)
            return err;
        if (generation != g->generation)
            return KE_ILLEGAL_GENERATION;
        m->session_deadline_ns = io_now_ns() + (uint64_t)m->session_timeout_ms * 1000000ULL;
    } else if (g->state != SL_GROUP_EMPTY) {
        return KE_UNKNOWN_MEMBER_ID;
    }
    if (g->state == SL_GROUP_COMPLETING_REBALANCE)
        return KE_REBALANCE_IN_PROGRESS;
    return KE_NONE;
}

void sl_group_offset_commit(sl_coord_t *c, sl_gop_t *op)
{
    const kp_offset_commit_request_t *in = op->in;
    kp_offset_commit_response_t *out = op->out;
    kp_str_t gid = kp_str_nonnull(in->group_id);
    if (c->shard->stopping) {
        commit_fail_all(op, KE_NOT_COORDINATOR);
        return;
    }
    if (gid.len == 0 || gid.len > SL_GROUP_MAX_ID_BYTES) {
        commit_fail_all(op, KE_INVALID_GROUP_ID);
        return;
    }
    sl_group_t *g = sl_coord_find(c, gid.ptr, (size_t)gid.len);
    if (!g) {
        bool simple = in->generation_id_or_member_epoch < 0 && in->member_id.len <= 0;
        if (!simple) {
            commit_fail_all(op, KE_ILLEGAL_GENERATION);
            return;
        }
        g = sl_coord_create(c, gid.ptr, (size_t)gid.len, op->partition);
        if (!g) {
            commit_fail_all(op, KE_COORDINATOR_NOT_AVAILABLE);
            return;
        }
    }
    int16_t err = commit_check(g, in, op->version);
    if (err != KE_NONE) {
        commit_fail_all(op, err);
        return;
    }
    sl_group_rearm(g);
    /* Size the batch: one record per partition still without an error. */
    size_t cap = KP_BATCH_HEADER_BYTES;
    int32_t records = 0;
    int32_t max_md = c->shard->config->offset_metadata_max_bytes;
    for (int32_t t = 0; t < in->topics_count; t++) {
        kp_str_t name = kp_str_nonnull(in->topics[t].name);
        for (int32_t p = 0; p < in->topics[t].partitions_count; p++) {
            kp_offset_commit_response_partitions_t *r = &out->topics[t].partitions[p];
            if (r->error_code != KE_NONE)
                continue;
            kp_str_t md = kp_str_nonnull(in->topics[t].partitions[p].committed_metadata);
            if (md.len > max_md) {
                r->error_code = KE_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            size_t key = 2 + 2 + (size_t)gid.len + 2 + (size_t)name.len + 4;
            size_t value = 2 + 8 + 4 + 2 + (size_t)md.len + 8 + 8;
            cap += kp_batch_record_size((int32_t)key, (int32_t)value, 0, records) + key + value;
            records++;
        }
    }
    if (records == 0) {
        sl_gop_finish(op);
        return;
    }
    uint8_t *batch;
    void *block = sl_group_log_alloc(cap + 2 * SL_GROUP_MAX_ID_BYTES + 4096, &batch);
    commit_ctx_t *cc = calloc(1, sizeof(*cc));
    if (!block || !cc) {
        free(block);
        free(cc);
        commit_fail_all(op, KE_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    int64_t now = sl_group_wall_ms();
    cc->op = op;
    cc->commit_ts = now;
    cc->expire_ts = op->version <= 4 && in->retention_time_ms > 0 ? now + in->retention_time_ms : -1;
    kp_batch_builder_t b;
    kp_batch_builder_init(&b, batch, cap, now);
    uint8_t *scratch = batch + cap; /* key and value are built here, then copied */
    size_t scratch_cap = 2 * SL_GROUP_MAX_ID_BYTES + 4096;
    for (int32_t t = 0; t < in->topics_count; t++) {
        kp_str_t name = kp_str_nonnull(in->topics[t].name);
        for (int32_t p = 0; p < in->topics[t].partitions_count; p++) {
            if (out->topics[t].partitions[p].error_code != KE_NONE)
                continue;
            const kp_offset_commit_request_partitions_t *rp = &in->topics[t].partitions[p];
            kp_str_t md = kp_str_nonnull(rp->committed_metadata);
            size_t key_len = 2 + 2 + (size_t)gid.len + 2 + (size_t)name.len + 4;
            size_t value_cap = 2 + 8 + 4 + 2 + (size_t)md.len + 8 + 8;
            uint8_t *kv = key_len + value_cap <= scratch_cap ? scratch : malloc(key_len + value_cap);
            if (!kv) {
                out->topics[t].partitions[p].error_code = KE_COORDINATOR_NOT_AVAILABLE;
                continue;
            }
            char gbuf[SL_GROUP_MAX_ID_BYTES + 1];
            memcpy(gbuf, gid.ptr, (size_t)gid.len);
            gbuf[gid.len] = 0;
            size_t kl = sl_group_offset_key(kv, key_len, gbuf, name.ptr, (size_t)name.len,
                                            rp->partition_index);
            size_t vl = sl_group_offset_value(kv + key_len, value_cap, rp->committed_offset,
                                              op->version >= 6 ? rp->committed_leader_epoch : -1,
                                              md.ptr, (size_t)md.len, now, cc->expire_ts);
            ASSERT(kl == key_len && vl > 0);
            int rc = kp_batch_builder_add(&b, kv, (int32_t)kl, kv + key_len, (int32_t)vl, now);
            ASSERT(rc == 0);
            if (kv != scratch)
                free(kv);
        }
    }
    if (b.record_count == 0) {
        free(block);
        free(cc);
        sl_gop_finish(op);
        return;
    }
    uint32_t len = (uint32_t)kp_batch_builder_finish(&b);
    int rc = sl_group_log_submit(g, block, len, commit_written, cc);
    if (rc != 0) {
        LOG_WARN("group %s: offset commit not written: %d", g->id, rc);
        free(cc);
        commit_fail_all(op, KE_COORDINATOR_NOT_AVAILABLE);
    }
}

/* ----------------------------------------------------------- OffsetFetch */

static int offset_cmp(const void *a, const void *b)
{
    const sl_offset_t *x = *(const sl_offset_t *const *)a, *y = *(const sl_offset_t *const *)b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static void fetch_fill_partition(sl_gop_t *op, sl_group_t *g, kp_str_t topic, int32_t partition,
                                 kp_offset_fetch_response_offset_fetch_response_partitions_t *r)
{
    kp_offset_fetch_response_offset_fetch_response_partitions_init(r);
    r->partition_index = partition;
    const sl_offset_t *o = g ? sl_group_offset_find(g, topic.ptr, (size_t)topic.len, partition) : NULL;
    if (!o) {
        r->committed_offset = -1;
        r->committed_leader_epoch = -1;
        r->metadata = (kp_str_t){"", 0};
        return;
    }
    r->committed_offset = o->offset;
    r->committed_leader_epoch = o->leader_epoch;
    size_t n = strlen(o->metadata);
    char *md = kp_arena_alloc(&op->arena, n + 1);
    if (md)
        memcpy(md, o->metadata, n + 1);
    r->metadata = md ? (kp_str_t){md, (int32_t)n} : (kp_str_t){"", 0};
}

void sl_group_offset_fetch(sl_coord_t *c, sl_gop_t *op)
{
    const kp_offset_fetch_request_groups_t *in = op->in;
    kp_offset_fetch_response_groups_t *out = op->out;
    out->group_id = in->group_id;
    if (c->shard->stopping) {
        out->error_code = KE_NOT_COORDINATOR;
        sl_gop_finish(op);
        return;
    }
    kp_str_t gid = kp_str_nonnull(in->group_id);
    sl_group_t *g = gid.len ? sl_coord_find(c, gid.ptr, (size_t)gid.len) : NULL;
    if (op->version >= 9 && g && g->cg && !kp_str_is_null(in->member_id)) {
        int16_t err = sl_cgroup_check_member_epoch(g->cg, in->member_id, in->member_epoch, false);
        if (err != KE_NONE) {
            out->error_code = err;
            sl_gop_finish(op);
            return;
        }
    }
    if (in->topics_count >= 0) { /* a list (maybe empty); null asks for all */
        kp_offset_fetch_response_offset_fetch_response_topics_t *ts =
            in->topics_count ? kp_arena_alloc(&op->arena, (size_t)in->topics_count * sizeof(*ts))
                             : NULL;
        if (in->topics_count && !ts) {
            out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
            sl_gop_finish(op);
            return;
        }
        for (int32_t t = 0; t < in->topics_count; t++) {
            kp_offset_fetch_response_offset_fetch_response_topics_init(&ts[t]);
            ts[t].name = in->topics[t].name;
            int32_t n = in->topics[t].partition_indexes_count;
            ts[t].partitions = n > 0 ? kp_arena_alloc(&op->arena, (size_t)n * sizeof(*ts[t].partitions)) : NULL;
            if (n > 0 && !ts[t].partitions) {
                out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
                sl_gop_finish(op);
                return;
            }
            ts[t].partitions_count = n > 0 ? n : 0;
            for (int32_t p = 0; p < n; p++)
                fetch_fill_partition(op, g, kp_str_nonnull(in->topics[t].name),
                                     in->topics[t].partition_indexes[p], &ts[t].partitions[p]);
        }
        out->topics = ts;
        out->topics_count = in->topics_count;
        sl_gop_finish(op);
        return;
    }
    /* Every committed offset of the group, by topic. */
    uint32_t n = g ? g->offset_count : 0;
    sl_offset_t **all = n ? malloc(n * sizeof(*all)) : NULL;
    if (n && !all) {
        out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        sl_gop_finish(op);
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; g && i <= g->offsets_mask; i++)
        for (sl_offset_t *o = g->offsets[i]; o; o = o->next)
            all[k++] = o;
    ASSERT(k == n);
    if (n)
        qsort(all, n, sizeof(*all), offset_cmp);
    int32_t topic_count = 0;
    for (uint32_t i = 0; i < n; i++)
        topic_count += i == 0 || strcmp(all[i]->topic, all[i - 1]->topic) != 0;
    kp_offset_fetch_response_offset_fetch_response_topics_t *ts =
        topic_count ? kp_arena_alloc(&op->arena, (size_t)topic_count * sizeof(*ts)) : NULL;
    if (topic_count && !ts) {
        free(all);
        out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        sl_gop_finish(op);
        return;
    }
    int32_t t = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(all[i]->topic, all[i - 1]->topic) != 0) {
            uint32_t j = i;
            while (j < n && strcmp(all[j]->topic, all[i]->topic) == 0)
                j++;
            t++;
            kp_offset_fetch_response_offset_fetch_response_topics_init(&ts[t]);
            size_t len = strlen(all[i]->topic);
            char *name = kp_arena_alloc(&op->arena, len + 1);
            ts[t].partitions = kp_arena_alloc(&op->arena, (j - i) * sizeof(*ts[t].partitions));
            if (!name || !ts[t].partitions) {
                free(all);
                out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
                out->topics_count = 0;
                sl_gop_finish(op);
                return;
            }
            memcpy(name, all[i]->topic, len + 1);
            ts[t].name = (kp_str_t){name, (int32_t)len};
        }
        fetch_fill_partition(op, g, ts[t].name, all[i]->partition,
                             &ts[t].partitions[ts[t].partitions_count++]);
    }
    free(all);
    out->topics = ts;
    out->topics_count = topic_count;
    sl_gop_finish(op);
}

/* ---------------------------------------------------------- OffsetDelete */

/* Does any member's subscription (ConsumerProtocolSubscription: int16 version,
 * then an array of topic names) name this topic? */
static bool group_subscribes(const sl_group_t *g, kp_str_t topic)
{
    if (!g->protocol_type || strcmp(g->protocol_type, "consumer") != 0 || !g->protocol_name)
        return false;
    for (const sl_member_t *m = g->members; m; m = m->next) {
        for (uint32_t i = 0; i < m->protocol_count; i++) {
            if (strcmp(m->protocols[i].name, g->protocol_name) != 0)
                continue;
            kp_reader_t r;
            kp_reader_init(&r, m->protocols[i].metadata, m->protocols[i].metadata_len);
            int16_t v;
            int32_t n;
            if (kp_read_int16(&r, &v) != 0 || kp_read_int32(&r, &n) != 0)
                continue;
            for (int32_t k = 0; k < n; k++) {
                kp_str_t s;
                if (kp_read_string(&r, &s) != 0)
                    break;
                if (kp_str_equal(s, topic))
                    return true;
            }
        }
    }
    return false;
}

typedef struct delete_ctx {
    sl_gop_t *op;
} delete_ctx_t;

static void delete_written(sl_group_t *g, int err, void *ctx)
{
    (void)g;
    delete_ctx_t *dc = ctx;
    sl_gop_t *op = dc->op;
    if (err) {
        kp_offset_delete_response_t *out = op->out;
        for (int32_t t = 0; t < out->topics_count; t++)
            for (int32_t p = 0; p < out->topics[t].partitions_count; p++)
                if (out->topics[t].partitions[p].error_code == KE_NONE)
                    out->topics[t].partitions[p].error_code = KE_COORDINATOR_NOT_AVAILABLE;
    }
    free(dc);
    sl_gop_finish(op);
}

/* Writes tombstones for the listed offsets (already removed from memory). */
static int write_offset_tombstones(sl_group_t *g, uint32_t count, char **topics,
                                   const int32_t *partitions,
                                   void (*done)(sl_group_t *, int, void *), void *ctx)
{
    size_t cap = KP_BATCH_HEADER_BYTES;
    size_t glen = strlen(g->id);
    for (uint32_t i = 0; i < count; i++) {
        size_t key = 2 + 2 + glen + 2 + strlen(topics[i]) + 4;
        cap += kp_batch_record_size((int32_t)key, -1, 0, (int32_t)i) + key;
    }
    uint8_t *batch;
    void *block = sl_group_log_alloc(cap + 2048, &batch);
    if (!block)
        return -ENOMEM;
    int64_t now = sl_group_wall_ms();
    kp_batch_builder_t b;
    kp_batch_builder_init(&b, batch, cap, now);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t key[SL_GROUP_MAX_ID_BYTES + KP_MAX_TOPIC_NAME_BYTES + 64];
        size_t kl = sl_group_offset_key(key, sizeof(key), g->id, topics[i], strlen(topics[i]),
                                        partitions[i]);
        if (kl == 0)
            continue;
        int rc = kp_batch_builder_add(&b, key, (int32_t)kl, NULL, -1, now);
        ASSERT(rc == 0);
    }
    if (b.record_count == 0) {
        free(block);
        return -EINVAL;
    }
    uint32_t len = (uint32_t)kp_batch_builder_finish(&b);
    return sl_group_log_submit(g, block, len, done, ctx);
}

void sl_group_offset_delete(sl_coord_t *c, sl_gop_t *op)
{
    const kp_offset_delete_request_t *in = op->in;
    kp_offset_delete_response_t *out = op->out;
    kp_str_t gid = kp_str_nonnull(in->group_id);
    sl_group_t *g = gid.len ? sl_coord_find(c, gid.ptr, (size_t)gid.len) : NULL;
    if (c->shard->stopping || !g || g->state == SL_GROUP_DEAD) {
        out->error_code = c->shard->stopping ? KE_NOT_COORDINATOR : KE_GROUP_ID_NOT_FOUND;
        sl_gop_finish(op);
        return;
    }
    if (!g->cg && g->state != SL_GROUP_EMPTY &&
        (!g->protocol_type || strcmp(g->protocol_type, "consumer") != 0)) {
        /* Kafka: offsets of a live group that is not a consumer group cannot be
         * told apart from what it uses. */
        out->error_code = KE_NON_EMPTY_GROUP;
        sl_gop_finish(op);
        return;
    }
    uint32_t count = 0;
    for (int32_t t = 0; t < in->topics_count; t++)
        count += (uint32_t)(in->topics[t].partitions_count > 0 ? in->topics[t].partitions_count : 0);
    char **topics = count ? calloc(count, sizeof(*topics)) : NULL;
    int32_t *parts = count ? calloc(count, sizeof(*parts)) : NULL;
    if (count && (!topics || !parts)) {
        free(topics);
        free(parts);
        out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        sl_gop_finish(op);
        return;
    }
    uint32_t n = 0;
    for (int32_t t = 0; t < in->topics_count; t++) {
        kp_str_t name = kp_str_nonnull(in->topics[t].name);
        bool subscribed = g->state != SL_GROUP_EMPTY && group_subscribes(g, name);
        if (g->cg && !sl_cgroup_is_empty(g->cg))
            subscribed = true; /* conservative: KIP-848 members may consume it */
        for (int32_t p = 0; p < in->topics[t].partitions_count; p++) {
            kp_offset_delete_response_offset_delete_response_partition_t *r =
                &out->topics[t].partitions[p];
            if (r->error_code != KE_NONE)
                continue;
            if (subscribed) {
                r->error_code = KE_GROUP_SUBSCRIBED_TO_TOPIC;
                continue;
            }
            int32_t pi = in->topics[t].partitions[p].partition_index;
            if (!sl_group_offset_find(g, name.ptr, (size_t)name.len, pi))
                continue; /* nothing committed: nothing to delete, no error (Kafka) */
            sl_group_offset_remove(g, name.ptr, (size_t)name.len, pi);
            topics[n] = strndup(name.ptr, (size_t)name.len);
            parts[n] = pi;
            if (topics[n])
                n++;
        }
    }
    int rc = -1;
    delete_ctx_t *dc = n ? calloc(1, sizeof(*dc)) : NULL;
    if (dc) {
        dc->op = op;
        rc = write_offset_tombstones(g, n, topics, parts, delete_written, dc);
        if (rc != 0)
            free(dc);
    }
    for (uint32_t i = 0; i < n; i++)
        free(topics[i]);
    free(topics);
    free(parts);
    if (rc != 0)
        sl_gop_finish(op);
}

/* ---------------------------------------------------------------- expiry */

static void expiry_written(sl_group_t *g, int err, void *ctx)
{
    (void)ctx;
    if (err)
        LOG_WARN("group %s: writing expired-offset tombstones failed: %d", g->id, err);
}

static void group_tombstone_written(sl_group_t *g, int err, void *ctx)
{
    (void)ctx;
    if (err)
        LOG_WARN("group %s: writing its tombstone failed: %d", g->id, err);
}

/* Kafka's rule (KIP-211): offsets of an Empty group expire retention after the
 * group became empty; offsets of a group without members that never had any
 * (standalone commits) expire retention after their commit; an offset committed
 * with an explicit retention (OffsetCommit v2-4) expires at its own time. */
void sl_group_expire_offsets(sl_coord_t *c)
{
    int64_t now = sl_group_wall_ms();
    int64_t retention = c->shard->config->offsets_retention_minutes * 60000;
    for (uint32_t i = 0; i <= c->groups_mask; i++) {
        for (sl_group_t *g = c->groups[i], *gnext; g; g = gnext) {
            gnext = g->hash_next;
            if (g->state != SL_GROUP_EMPTY || (g->cg && !sl_cgroup_is_empty(g->cg)))
                continue;
            uint32_t n = 0, cap = 0;
            char **topics = NULL;
            int32_t *parts = NULL;
            for (uint32_t b = 0; b <= g->offsets_mask; b++) {
                for (sl_offset_t *o = g->offsets[b]; o; o = o->next) {
                    int64_t base = g->protocol_type ? g->state_timestamp_ms : o->commit_timestamp_ms;
                    bool expired = o->expire_timestamp_ms >= 0 ? now >= o->expire_timestamp_ms
                                                               : now - base >= retention;
                    if (!expired)
                        continue;
                    if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        char **nt = realloc(topics, cap * sizeof(*nt));
                        int32_t *np = nt ? realloc(parts, cap * sizeof(*np)) : NULL;
                        if (nt)
                            topics = nt;
                        if (!nt || !np)
                            goto next_group;
                        parts = np;
                    }
                    topics[n] = strdup(o->topic);
                    parts[n] = o->partition;
                    if (topics[n])
                        n++;
                }
            }
            if (n) {
                LOG_INFO("group %s: %u committed offsets expired", g->id, n);
                for (uint32_t k = 0; k < n; k++)
                    sl_group_offset_remove(g, topics[k], strlen(topics[k]), parts[k]);
                if (write_offset_tombstones(g, n, topics, parts, expiry_written, NULL) != 0)
                    LOG_WARN("group %s: expired-offset tombstones not written", g->id);
            }
            if (g->offset_count == 0 && !g->members && !g->pending) {
                sl_group_set_state(g, SL_GROUP_DEAD);
                if (g->protocol_type || g->generation > 0)
                    sl_group_log_store_group(g, group_tombstone_written, NULL);
                sl_coord_remove(c, g);
            }
        next_group:
            for (uint32_t k = 0; k < n; k++)
                free(topics[k]);
            free(topics);
            free(parts);
        }
    }
}

/* Removes every committed offset of g and writes their tombstones (DeleteGroups).
 * Returns 0 or an error (the offsets are gone from memory either way). */
int sl_group_offsets_drop_all(sl_group_t *g)
{
    uint32_t n = 0;
    char **topics = g->offset_count ? calloc(g->offset_count, sizeof(*topics)) : NULL;
    int32_t *parts = g->offset_count ? calloc(g->offset_count, sizeof(*parts)) : NULL;
    int rc = 0;
    if (g->offset_count && (!topics || !parts)) {
        rc = -ENOMEM;
    } else {
        for (uint32_t b = 0; b <= g->offsets_mask; b++) {
            for (sl_offset_t *o = g->offsets[b]; o; o = o->next) {
                topics[n] = strdup(o->topic);
                parts[n] = o->partition;
                if (topics[n])
                    n++;
            }
        }
        if (n)
            rc = write_offset_tombstones(g, n, topics, parts, expiry_written, NULL);
    }
    sl_group_offsets_clear(g);
    for (uint32_t k = 0; k < n; k++)
        free(topics[k]);
    free(topics);
    free(parts);
    return rc;
}

/* Appends every committed offset of g again (log rewrite, sl_group_rewrite.c):
 * one batch, fire and forget. Returns 0 or an error. */
int sl_group_offsets_write_all(sl_group_t *g)
{
    if (g->offset_count == 0)
        return 0;
    size_t glen = strlen(g->id);
    size_t cap = KP_BATCH_HEADER_BYTES;
    int32_t i = 0;
    for (uint32_t b = 0; b <= g->offsets_mask; b++) {
        for (sl_offset_t *o = g->offsets[b]; o; o = o->next, i++) {
            size_t key = 2 + 2 + glen + 2 + strlen(o->topic) + 4;
            size_t value = 2 + 8 + 4 + 2 + strlen(o->metadata) + 8 + 8;
            cap += kp_batch_record_size((int32_t)key, (int32_t)value, 0, i) + key + value;
        }
    }
    uint8_t *batch;
    void *block = sl_group_log_alloc(cap, &batch);
    if (!block)
        return -ENOMEM;
    int64_t now = sl_group_wall_ms();
    kp_batch_builder_t bb;
    kp_batch_builder_init(&bb, batch, cap, now);
    for (uint32_t b = 0; b <= g->offsets_mask; b++) {
        for (sl_offset_t *o = g->offsets[b]; o; o = o->next) {
            size_t mdl = strlen(o->metadata);
            size_t key_cap = 2 + 2 + glen + 2 + strlen(o->topic) + 4;
            size_t value_cap = 2 + 8 + 4 + 2 + mdl + 8 + 8;
            uint8_t *kv = malloc(key_cap + value_cap);
            if (!kv) {
                free(block);
                return -ENOMEM;
            }
            size_t kl = sl_group_offset_key(kv, key_cap, g->id, o->topic, strlen(o->topic),
                                            o->partition);
            size_t vl = sl_group_offset_value(kv + key_cap, value_cap, o->offset, o->leader_epoch,
                                              o->metadata, mdl, o->commit_timestamp_ms,
                                              o->expire_timestamp_ms);
            ASSERT(kl > 0 && vl > 0);
            int rc = kp_batch_builder_add(&bb, kv, (int32_t)kl, kv + key_cap, (int32_t)vl, now);
            ASSERT(rc == 0);
            free(kv);
        }
    }
    return sl_group_log_submit(g, block, (uint32_t)kp_batch_builder_finish(&bb), expiry_written,
                               NULL);
}

uint32_t sl_group_offsets_drop_topic(sl_group_t *g, const char *topic)
{
    size_t len = strlen(topic);
    uint32_t n = 0, cap = 0;
    int32_t *parts = NULL;
    for (uint32_t b = 0; b <= g->offsets_mask; b++) {
        for (sl_offset_t *o = g->offsets[b]; o; o = o->next) {
            if (strcmp(o->topic, topic) != 0)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                int32_t *np = realloc(parts, cap * sizeof(*np));
                if (!np)
                    break;
                parts = np;
            }
            parts[n++] = o->partition;
        }
    }
    if (n == 0) {
        free(parts);
        return 0;
    }
    char **topics = calloc(n, sizeof(*topics));
    for (uint32_t i = 0; i < n; i++)
        sl_group_offset_remove(g, topic, len, parts[i]);
    if (topics) {
        for (uint32_t i = 0; i < n; i++)
            topics[i] = (char *)topic;
        if (write_offset_tombstones(g, n, topics, parts, expiry_written, NULL) != 0)
            LOG_WARN("group %s: tombstones of deleted topic %s not written", g->id, topic);
    }
    free(topics);
    free(parts);
    return n;
}
