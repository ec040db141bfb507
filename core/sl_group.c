/*
 * sl_group.c — the coordinator's table of groups, the group state machine's
 * transition table, members, placement, and the shard hooks (see sl_group.h).
 */
#include "sl_base.h"
#include "sl_group.h"
#include "sl_log.h"
#include "st_log.h"

#include <stdlib.h>

/* ---------------------------------------------------------- state machine */

static const char *const g_state_names[SL_GROUP_STATE_COUNT] = {
    [SL_GROUP_EMPTY] = "Empty",
    [SL_GROUP_PREPARING_REBALANCE] = "PreparingRebalance",
    [SL_GROUP_COMPLETING_REBALANCE] = "CompletingRebalance",
    [SL_GROUP_STABLE] = "Stable",
    [SL_GROUP_DEAD] = "Dead",
};

/* g_legal[from][to]: the transition list of sl_group.h. */
static const bool g_legal[SL_GROUP_STATE_COUNT][SL_GROUP_STATE_COUNT] = {
    [SL_GROUP_EMPTY] = {[SL_GROUP_PREPARING_REBALANCE] = true, [SL_GROUP_DEAD] = true},
    [SL_GROUP_PREPARING_REBALANCE] = {[SL_GROUP_COMPLETING_REBALANCE] = true,
                                      [SL_GROUP_EMPTY] = true,
                                      [SL_GROUP_DEAD] = true},
    [SL_GROUP_COMPLETING_REBALANCE] = {[SL_GROUP_STABLE] = true,
                                       [SL_GROUP_PREPARING_REBALANCE] = true,
                                       [SL_GROUP_DEAD] = true},
    [SL_GROUP_STABLE] = {[SL_GROUP_PREPARING_REBALANCE] = true, [SL_GROUP_DEAD] = true},
    [SL_GROUP_DEAD] = {[SL_GROUP_DEAD] = true},
};

const char *sl_group_state_name(sl_group_state_t s)
{
    return s < SL_GROUP_STATE_COUNT ? g_state_names[s] : "Unknown";
}

bool sl_group_transition_legal(sl_group_state_t from, sl_group_state_t to)
{
    return from < SL_GROUP_STATE_COUNT && to < SL_GROUP_STATE_COUNT && g_legal[from][to];
}

int64_t sl_group_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sl_group_set_state(sl_group_t *g, sl_group_state_t to)
{
    ASSERT(sl_group_transition_legal(g->state, to));
    LOG_DEBUG("group %s: %s -> %s (generation %d, %u members)", g->id,
              g_state_names[g->state], g_state_names[to], g->generation, g->member_count);
    g->state = to;
    g->state_timestamp_ms = sl_group_wall_ms();
}

/* -------------------------------------------------------------- placement */

int32_t sl_group_partition_for(const char *id, size_t len, int32_t partition_count)
{
    ASSERT(partition_count > 0);
    const uint8_t *p = (const uint8_t *)id, *end = p + len;
    uint32_t h = 0;
    while (p < end) {
        uint32_t cp;
        size_t n;
        uint8_t b = *p;
        if (b < 0x80) {
            cp = b;
            n = 1;
        } else if ((b & 0xE0) == 0xC0 && end - p >= 2 && (p[1] & 0xC0) == 0x80) {
            cp = ((uint32_t)(b & 0x1F) << 6) | (p[1] & 0x3F);
            n = 2;
        } else if ((b & 0xF0) == 0xE0 && end - p >= 3 && (p[1] & 0xC0) == 0x80 &&
                   (p[2] & 0xC0) == 0x80) {
            cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            n = 3;
        } else if ((b & 0xF8) == 0xF0 && end - p >= 4 && (p[1] & 0xC0) == 0x80 &&
                   (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) {
            cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
                 ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
            n = 4;
        } else {
            cp = 0xFFFD;
            n = 1;
        }
        p += n;
        if (cp >= 0x10000) { /* a surrogate pair in UTF-16 */
            cp -= 0x10000;
            h = 31 * h + (0xD800 + (cp >> 10));
            h = 31 * h + (0xDC00 + (cp & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
    }
    int32_t hash = (int32_t)h;
    int32_t abs_hash = hash == INT32_MIN ? 0 : (hash < 0 ? -hash : hash);
    return abs_hash % partition_count;
}

/* ------------------------------------------------------------------ table */

static uint32_t str_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

sl_group_t *sl_coord_find(sl_coord_t *c, const char *id, size_t len)
{
    for (sl_group_t *g = c->groups[str_hash(id, len) & c->groups_mask]; g; g = g->hash_next)
        if (strlen(g->id) == len && memcmp(g->id, id, len) == 0)
            return g;
    return NULL;
}

static void coord_grow(sl_coord_t *c)
{
    uint32_t size = (c->groups_mask + 1) * 2;
    sl_group_t **t = calloc(size, sizeof(*t));
    if (!t)
        return; /* chains just get longer */
    for (uint32_t i = 0; i <= c->groups_mask; i++) {
        sl_group_t *g = c->groups[i];
        while (g) {
            sl_group_t *next = g->hash_next;
            uint32_t h = str_hash(g->id, strlen(g->id)) & (size - 1);
            g->hash_next = t[h];
            t[h] = g;
            g = next;
        }
    }
    free(c->groups);
    c->groups = t;
    c->groups_mask = size - 1;
}

static void group_timer_fired(void *ctx);

sl_group_t *sl_coord_create(sl_coord_t *c, const char *id, size_t len, int32_t partition)
{
    ASSERT(!sl_coord_find(c, id, len));
    sl_group_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->id = strndup(id, len);
    g->offsets = calloc(8, sizeof(*g->offsets));
    if (!g->id || !g->offsets) {
        free(g->id);
        free(g->offsets);
        free(g);
        return NULL;
    }
    g->offsets_mask = 7;
    g->coord = c;
    g->partition = partition;
    g->state = SL_GROUP_EMPTY;
    g->state_timestamp_ms = sl_group_wall_ms();
    g->initial_delay_left_ms = -1;
    io_timer_setup(&g->timer, group_timer_fired, g);
    if (c->group_count + 1 > (c->groups_mask + 1) * 2)
        coord_grow(c);
    uint32_t h = str_hash(id, len) & c->groups_mask;
    g->hash_next = c->groups[h];
    c->groups[h] = g;
    c->group_count++;
    return g;
}

void sl_member_free(sl_member_t *m)
{
    if (!m)
        return;
    free(m->member_id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    for (uint32_t i = 0; i < m->protocol_count; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].metadata);
    }
    free(m->protocols);
    free(m->assignment);
    free(m);
}

static void group_free(sl_group_t *g)
{
    ASSERT(g->appends_inflight == 0);
    while (g->members) {
        sl_member_t *m = g->members;
        g->members = m->next;
        ASSERT(!m->awaiting_join && !m->awaiting_sync);
        sl_member_free(m);
    }
    while (g->pending) {
        sl_pending_member_t *p = g->pending;
        g->pending = p->next;
        free(p->member_id);
        free(p);
    }
    sl_cgroup_free(g->cg);
    sl_group_offsets_clear(g);
    free(g->offsets);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader_id);
    free(g->id);
    free(g);
}

void sl_coord_remove(sl_coord_t *c, sl_group_t *g)
{
    ASSERT(g->state == SL_GROUP_DEAD && !g->deleted);
    uint32_t h = str_hash(g->id, strlen(g->id)) & c->groups_mask;
    for (sl_group_t **pp = &c->groups[h]; *pp; pp = &(*pp)->hash_next) {
        if (*pp == g) {
            *pp = g->hash_next;
            break;
        }
    }
    c->group_count--;
    io_timer_cancel(&c->shard->timers, &g->timer);
    g->deleted = true;
    if (g->appends_inflight == 0)
        group_free(g);
}

/* Called by sl_group_log.c when an append of a deleted group completed. */
void sl_group_release_if_deleted(sl_group_t *g)
{
    if (g->deleted && g->appends_inflight == 0)
        group_free(g);
}

sl_member_t *sl_group_member(sl_group_t *g, const char *member_id, size_t len)
{
    for (sl_member_t *m = g->members; m; m = m->next)
        if (strlen(m->member_id) == len && memcmp(m->member_id, member_id, len) == 0)
            return m;
    return NULL;
}

sl_member_t *sl_group_member_by_instance(sl_group_t *g, const char *instance_id, size_t len)
{
    for (sl_member_t *m = g->members; m; m = m->next)
        if (m->instance_id && strlen(m->instance_id) == len &&
            memcmp(m->instance_id, instance_id, len) == 0)
            return m;
    return NULL;
}

/* ------------------------------------------------------------------ timer */


static void group_timer_fired(void *ctx)
{
    sl_group_on_timer(ctx);
}

/* ------------------------------------------------------------ operations */

void sl_gop_finish(sl_gop_t *op)
{
    sl_fanout_item_done(op->owner, op->part);
}

kp_str_t sl_gop_str(sl_gop_t *op, const char *s)
{
    if (!s)
        return KP_STR_NULL;
    size_t n = strlen(s);
    char *p = kp_arena_alloc(&op->arena, n + 1);
    if (!p)
        return (kp_str_t){"", 0};
    memcpy(p, s, n + 1);
    return (kp_str_t){p, (int32_t)n};
}

kp_bytes_t sl_gop_bytes(sl_gop_t *op, const uint8_t *b, uint32_t len)
{
    if (len == 0)
        return (kp_bytes_t){NULL, 0};
    uint8_t *p = kp_arena_alloc(&op->arena, len);
    if (!p)
        return (kp_bytes_t){NULL, 0};
    memcpy(p, b, len);
    return (kp_bytes_t){p, (int32_t)len};
}

/* ---------------------------------------------------------- shard hooks */


static void expiry_timer_fired(void *ctx)
{
    sl_coord_t *c = ctx;
    sl_group_expire_offsets(c);
    sl_group_rewrite_check(c);
    uint64_t every_ms = (uint64_t)c->shard->config->offsets_retention_check_interval_ms;
    if (every_ms > 86400000ULL * 365)
        every_ms = 86400000ULL * 365;
    io_timer_arm(&c->shard->timers, &c->expiry_timer, io_now_ns() + every_ms * 1000000ULL);
}

int sl_coord_init(sl_shard_t *s)
{
    sl_coord_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->groups = calloc(64, sizeof(*c->groups));
    if (!c->groups) {
        free(c);
        return -ENOMEM;
    }
    c->groups_mask = 63;
    c->shard = s;
    io_timer_setup(&c->expiry_timer, expiry_timer_fired, c);
    s->coord = c;
    return 0;
}

void sl_coord_destroy(sl_shard_t *s)
{
    sl_coord_t *c = s->coord;
    if (!c)
        return;
    for (uint32_t i = 0; i <= c->groups_mask; i++) {
        while (c->groups[i]) {
            sl_group_t *g = c->groups[i];
            c->groups[i] = g->hash_next;
            io_timer_cancel(&s->timers, &g->timer);
            g->appends_inflight = 0; /* the store is closed: no callback will come */
            for (sl_member_t *m = g->members; m; m = m->next)
                m->awaiting_join = m->awaiting_sync = NULL;
            group_free(g);
        }
    }
    io_timer_cancel(&s->timers, &c->expiry_timer);
    free(c->rewrite_cut);
    free(c->rewrite_end);
    free(c->groups);
    free(c);
    s->coord = NULL;
}

/* Topics of old that are gone from s->meta: their offsets go too. */
static void coord_drop_deleted_topics(sl_shard_t *s, const sl_meta_t *old)
{
    sl_coord_t *c = s->coord;
    for (int32_t i = 0; i < old->topic_count; i++) {
        const sl_topic_meta_t *t = old->topics[i];
        if (sl_meta_find_id(s->meta, &t->id))
            continue;
        uint32_t removed = 0;
        for (uint32_t b = 0; b <= c->groups_mask; b++)
            for (sl_group_t *g = c->groups[b]; g; g = g->hash_next)
                removed += sl_group_offsets_drop_topic(g, t->name);
        if (removed)
            LOG_INFO("topic %s deleted: %u committed offsets removed", t->name, removed);
    }
}

void sl_coord_adopted(sl_shard_t *s, const sl_meta_t *old)
{
    sl_coord_t *c = s->coord;
    if (old)
        coord_drop_deleted_topics(s, old);
    const sl_topic_meta_t *t =
        sl_meta_find(s->meta, SL_GROUP_OFFSETS_TOPIC, strlen(SL_GROUP_OFFSETS_TOPIC));
    if (!t || (!sl_uuid_is_zero(&c->offsets_topic_id) &&
               memcmp(&c->offsets_topic_id, &t->id, sizeof(t->id)) == 0))
        return; /* not there, or loaded already */
    c->offsets_topic_id = t->id;
    c->offsets_partition_count = t->partition_count;
    free(c->rewrite_cut);
    free(c->rewrite_end);
    c->rewrite_cut = malloc((size_t)t->partition_count * sizeof(int64_t));
    c->rewrite_end = malloc((size_t)t->partition_count * sizeof(int64_t));
    for (int32_t p = 0; c->rewrite_cut && p < t->partition_count; p++)
        c->rewrite_cut[p] = -1;
    uint64_t t0 = io_now_ns();
    uint32_t loaded = 0;
    for (int32_t p = 0; p < t->partition_count; p++) {
        struct st_log *log = sl_shard_log(s, &t->id, p);
        if (!log)
            continue;
        int rc = sl_group_log_load(c, log, p);
        if (rc != 0)
            LOG_ERROR("%s-%d: loading groups failed (%d); groups of this partition may have "
                      "lost state", SL_GROUP_OFFSETS_TOPIC, p, rc);
        loaded++;
    }
    /* Loaded groups' deadlines (member sessions) need their timers. */
    for (uint32_t b = 0; b <= c->groups_mask; b++)
        for (sl_group_t *g = c->groups[b]; g; g = g->hash_next)
            sl_group_rearm(g);
    if (loaded)
        LOG_INFO("group coordinator: %u partitions of %s loaded, %u groups, %llu records, "
                 "%.1f ms", loaded, SL_GROUP_OFFSETS_TOPIC, c->group_count,
                 (unsigned long long)c->loaded_records, (double)(io_now_ns() - t0) / 1e6);
    expiry_timer_fired(c);
}


void sl_coord_stop(sl_shard_t *s)
{
    if (s->coord)
        sl_coord_stop_groups(s->coord);
}
