/*
 * sl_group_classic.c — the classic group protocol on the owner shard:
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, session expiry and the
 * rebalance deadlines (KAFKA-PROTOCOL.md §5; the states and transitions are
 * listed in sl_group.h).
 *
 * Every entry point answers its operation exactly once: at once, or later when
 * the rebalance completes (joins), the leader's assignment is stored (syncs),
 * or the shard stops (NOT_COORDINATOR, so clients look the coordinator up again).
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_group.h"
#include "sl_log.h"
#include "kp_messages.h"

#include <stdlib.h>

/* ---------------------------------------------------------------- helpers */

static uint64_t ms_to_ns(int64_t ms)
{
    return ms <= 0 ? 0 : (uint64_t)ms * 1000000ULL;
}

static char *dup_kstr(kp_str_t s)
{
    if (kp_str_is_null(s))
        return NULL;
    return strndup(s.ptr ? s.ptr : "", (size_t)s.len);
}

static bool kstr_is(kp_str_t s, const char *c)
{
    return c && !kp_str_is_null(s) && kp_str_eq(s, c);
}

/* "<prefix>-<uuid>", Kafka's member id form. */
static char *new_member_id(kp_str_t prefix)
{
    sl_uuid_t u;
    sl_uuid_generate(&u);
    char buf[SL_GROUP_MAX_ID_BYTES + 64];
    int plen = kp_str_is_null(prefix) ? 0 : (prefix.len > 128 ? 128 : prefix.len);
    snprintf(buf, sizeof(buf),
             "%.*s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", plen,
             plen ? prefix.ptr : "", u.b[0], u.b[1], u.b[2], u.b[3], u.b[4], u.b[5], u.b[6],
             u.b[7], u.b[8], u.b[9], u.b[10], u.b[11], u.b[12], u.b[13], u.b[14], u.b[15]);
    return strdup(buf);
}

static const sl_protocol_t *member_protocol(const sl_member_t *m, const char *name)
{
    if (!name)
        return NULL;
    for (uint32_t i = 0; i < m->protocol_count; i++)
        if (strcmp(m->protocols[i].name, name) == 0)
            return &m->protocols[i];
    return NULL;
}

/* True when every member (except skip) offers protocol `name`. */
static bool all_support(const sl_group_t *g, const char *name, const sl_member_t *skip)
{
    for (const sl_member_t *m = g->members; m; m = m->next)
        if (m != skip && !member_protocol(m, name))
            return false;
    return true;
}

/* Kafka's supportsProtocols: same protocol type, and one of the offered
 * protocols is offered by every other member too. */
static bool group_accepts(const sl_group_t *g, const kp_join_group_request_t *in,
                          const sl_member_t *self)
{
    if (kp_str_is_null(in->protocol_type) || in->protocol_type.len == 0 || in->protocols_count == 0)
        return false;
    bool others = false;
    for (const sl_member_t *m = g->members; m; m = m->next)
        others |= m != self;
    if (!others)
        return true;
    if (g->protocol_type && !kstr_is(in->protocol_type, g->protocol_type))
        return false;
    for (int32_t i = 0; i < in->protocols_count; i++) {
        char name[256];
        kp_str_t n = kp_str_nonnull(in->protocols[i].name);
        if (n.len >= (int32_t)sizeof(name))
            continue;
        memcpy(name, n.ptr, (size_t)n.len);
        name[n.len] = 0;
        if (all_support(g, name, self))
            return true;
    }
    return false;
}

/* Kafka's selectProtocol: among protocols every member offers (the
 * candidates), each member votes for the first candidate it lists; most votes
 * wins, ties go to the first member's earlier preference.
 * O(P * M * P) to find the candidates, then O(M * P * C) to vote. */
static const char *select_protocol(const sl_group_t *g)
{
    const sl_member_t *first = g->members;
    ASSERT(first);
    const char *cand[SL_GROUP_MAX_PROTOCOLS];
    uint32_t votes[SL_GROUP_MAX_PROTOCOLS] = {0};
    uint32_t nc = 0;
    for (uint32_t i = 0; i < first->protocol_count && nc < SL_GROUP_MAX_PROTOCOLS; i++)
        if (all_support(g, first->protocols[i].name, NULL))
            cand[nc++] = first->protocols[i].name;
    if (nc == 0)
        return NULL;
    for (const sl_member_t *m = g->members; m; m = m->next) {
        bool voted = false;
        for (uint32_t j = 0; j < m->protocol_count && !voted; j++) {
            for (uint32_t k = 0; k < nc; k++) {
                if (strcmp(m->protocols[j].name, cand[k]) == 0) {
                    votes[k]++;
                    voted = true;
                    break;
                }
            }
        }
    }
    uint32_t best = 0;
    for (uint32_t k = 1; k < nc; k++)
        if (votes[k] > votes[best])
            best = k;
    return cand[best];
}

/* Replaces m's protocols with the request's. Returns 0 or -ENOMEM. */
static int member_set_protocols(sl_member_t *m, const kp_join_group_request_t *in)
{
    sl_protocol_t *ps = calloc((size_t)in->protocols_count, sizeof(*ps));
    if (!ps)
        return -ENOMEM;
    for (int32_t i = 0; i < in->protocols_count; i++) {
        kp_bytes_t md = kp_bytes_nonnull(in->protocols[i].metadata);
        ps[i].name = dup_kstr(kp_str_nonnull(in->protocols[i].name));
        ps[i].metadata = md.len ? malloc((size_t)md.len) : NULL;
        ps[i].metadata_len = (uint32_t)md.len;
        if (!ps[i].name || (md.len && !ps[i].metadata)) {
            for (int32_t j = 0; j <= i; j++) {
                free(ps[j].name);
                free(ps[j].metadata);
            }
            free(ps);
            return -ENOMEM;
        }
        if (md.len)
            memcpy(ps[i].metadata, md.ptr, (size_t)md.len);
    }
    for (uint32_t i = 0; i < m->protocol_count; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].metadata);
    }
    free(m->protocols);
    m->protocols = ps;
    m->protocol_count = (uint32_t)in->protocols_count;
    return 0;
}

static bool member_protocols_equal(const sl_member_t *m, const kp_join_group_request_t *in)
{
    if ((int32_t)m->protocol_count != in->protocols_count)
        return false;
    for (int32_t i = 0; i < in->protocols_count; i++) {
        kp_bytes_t md = kp_bytes_nonnull(in->protocols[i].metadata);
        if (!kstr_is(kp_str_nonnull(in->protocols[i].name), m->protocols[i].name) ||
            (uint32_t)md.len != m->protocols[i].metadata_len ||
            (md.len && memcmp(md.ptr, m->protocols[i].metadata, (size_t)md.len) != 0))
            return false;
    }
    return true;
}

static int32_t join_rebalance_timeout(const kp_join_group_request_t *in, int16_t v)
{
    return v >= 1 && in->rebalance_timeout_ms > 0 ? in->rebalance_timeout_ms
                                                   : in->session_timeout_ms;
}

static void member_touch(sl_group_t *g, sl_member_t *m)
{
    m->session_deadline_ns = io_now_ns() + ms_to_ns(m->session_timeout_ms);
    (void)g;
}

/* Kafka's ClassicGroup.validateMember: with an instance id, the member must be
 * that instance's current member (unknown instance: UNKNOWN_MEMBER_ID, another
 * member id: FENCED_INSTANCE_ID); without one, a member of the group. */
sl_member_t *sl_group_validate_member(sl_group_t *g, kp_str_t mid, kp_str_t iid, int16_t *err)
{
    if (!kp_str_is_null(iid)) {
        sl_member_t *byi = sl_group_member_by_instance(g, iid.ptr, (size_t)iid.len);
        if (!byi) {
            *err = KE_UNKNOWN_MEMBER_ID;
            return NULL;
        }
        if (!kstr_is(kp_str_nonnull(mid), byi->member_id)) {
            *err = KE_FENCED_INSTANCE_ID;
            return NULL;
        }
        *err = KE_NONE;
        return byi;
    }
    mid = kp_str_nonnull(mid);
    sl_member_t *m = sl_group_member(g, mid.ptr, (size_t)mid.len);
    *err = m ? KE_NONE : KE_UNKNOWN_MEMBER_ID;
    return m;
}

/* ------------------------------------------------------------- responses */

static void join_fill(sl_group_t *g, sl_member_t *m, sl_gop_t *op, int16_t err, bool with_members)
{
    kp_join_group_response_t *out = op->out;
    out->error_code = err;
    out->generation_id = g->generation;
    out->protocol_type = sl_gop_str(op, g->protocol_type);
    out->protocol_name = g->protocol_name ? sl_gop_str(op, g->protocol_name)
                                          : (op->version >= 7 ? KP_STR_NULL : (kp_str_t){"", 0});
    out->leader = sl_gop_str(op, g->leader_id ? g->leader_id : "");
    out->member_id = sl_gop_str(op, m->member_id);
    if (!with_members || err != KE_NONE)
        return;
    kp_join_group_response_members_t *ms =
        kp_arena_alloc(&op->arena, (size_t)g->member_count * sizeof(*ms));
    if (!ms)
        return; /* the leader sees no members and the rebalance times out */
    int32_t n = 0;
    for (sl_member_t *x = g->members; x; x = x->next) {
        const sl_protocol_t *p = member_protocol(x, g->protocol_name);
        kp_join_group_response_members_init(&ms[n]);
        ms[n].member_id = sl_gop_str(op, x->member_id);
        ms[n].group_instance_id = sl_gop_str(op, x->instance_id);
        ms[n].metadata = p ? sl_gop_bytes(op, p->metadata, p->metadata_len) : (kp_bytes_t){NULL, 0};
        n++;
    }
    out->members = ms;
    out->members_count = n;
}

static void join_fail(sl_gop_t *op, int16_t err, const char *member_id)
{
    kp_join_group_response_t *out = op->out;
    out->error_code = err;
    out->generation_id = -1;
    out->protocol_name = op->version >= 7 ? KP_STR_NULL : (kp_str_t){"", 0};
    out->leader = (kp_str_t){"", 0};
    out->member_id = sl_gop_str(op, member_id ? member_id : "");
    sl_gop_finish(op);
}

static void sync_answer(sl_group_t *g, sl_member_t *m, sl_gop_t *op, int16_t err)
{
    kp_sync_group_response_t *out = op->out;
    out->error_code = err;
    if (err == KE_NONE) {
        out->protocol_type = sl_gop_str(op, g->protocol_type);
        out->protocol_name = sl_gop_str(op, g->protocol_name);
        out->assignment = sl_gop_bytes(op, m->assignment, m->assignment_len);
    }
    sl_gop_finish(op);
}

static void sync_fail(sl_gop_t *op, int16_t err)
{
    ((kp_sync_group_response_t *)op->out)->error_code = err;
    sl_gop_finish(op);
}

/* ------------------------------------------------------- the rebalance */

static void prepare_rebalance(sl_group_t *g, const char *reason);
static void maybe_complete_join(sl_group_t *g);

/* Answers and forgets a member's parked requests. */
static void member_release(sl_group_t *g, sl_member_t *m, int16_t err)
{
    if (m->awaiting_join) {
        sl_gop_t *op = m->awaiting_join;
        m->awaiting_join = NULL;
        ASSERT(g->awaiting_join_count > 0);
        g->awaiting_join_count--;
        join_fail(op, err, m->member_id);
    }
    if (m->awaiting_sync) {
        sl_gop_t *op = m->awaiting_sync;
        m->awaiting_sync = NULL;
        sync_fail(op, err);
    }
}

static void member_unlink(sl_group_t *g, sl_member_t *m)
{
    for (sl_member_t **pp = &g->members; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            g->member_count--;
            break;
        }
    }
    if (g->leader_id && strcmp(g->leader_id, m->member_id) == 0) {
        free(g->leader_id);
        g->leader_id = NULL;
    }
}

/* Removes a member (leave, expiry, not rejoined) and moves the group on. */
static void remove_member(sl_group_t *g, sl_member_t *m, const char *reason, bool rebalance)
{
    LOG_DEBUG("group %s: member %s removed: %s", g->id, m->member_id, reason);
    member_release(g, m, KE_UNKNOWN_MEMBER_ID);
    member_unlink(g, m);
    sl_member_free(m);
    if (!rebalance)
        return;
    if (g->state == SL_GROUP_STABLE || g->state == SL_GROUP_COMPLETING_REBALANCE)
        prepare_rebalance(g, reason);
    else if (g->state == SL_GROUP_PREPARING_REBALANCE)
        maybe_complete_join(g);
}

static int32_t max_rebalance_timeout(const sl_group_t *g)
{
    int32_t t = 0;
    for (const sl_member_t *m = g->members; m; m = m->next)
        if (m->rebalance_timeout_ms > t)
            t = m->rebalance_timeout_ms;
    return t;
}

static void group_store_done(sl_group_t *g, int err, void *ctx);

static void complete_join(sl_group_t *g)
{
    ASSERT(g->state == SL_GROUP_PREPARING_REBALANCE);
    /* Members that did not rejoin in time leave the group. */
    for (sl_member_t *m = g->members, *next; m; m = next) {
        next = m->next;
        if (!m->awaiting_join)
            remove_member(g, m, "did not rejoin in time", false);
    }
    g->initial_delay_left_ms = -1;
    g->join_deadline_ns = 0;
    g->generation++;
    free(g->protocol_name);
    g->protocol_name = NULL;
    if (!g->members) {
        free(g->leader_id);
        g->leader_id = NULL;
        sl_group_set_state(g, SL_GROUP_EMPTY);
        if (sl_group_log_store_group(g, group_store_done, NULL) != 0)
            LOG_WARN("group %s: could not write its metadata", g->id);
        sl_group_rearm(g);
        return;
    }
    const char *proto = select_protocol(g);
    ASSERT(proto); /* joins are admitted only with a common protocol */
    g->protocol_name = strdup(proto);
    if (!g->leader_id || !sl_group_member(g, g->leader_id, strlen(g->leader_id))) {
        free(g->leader_id);
        g->leader_id = strdup(g->members->member_id);
    }
    if (!g->protocol_name || !g->leader_id) {
        LOG_ERROR("group %s: out of memory completing a rebalance", g->id);
        for (sl_member_t *m = g->members; m; m = m->next)
            member_release(g, m, KE_COORDINATOR_NOT_AVAILABLE);
        free(g->protocol_name);
        g->protocol_name = NULL;
        return;
    }
    sl_group_set_state(g, SL_GROUP_COMPLETING_REBALANCE);
    g->sync_deadline_ns = io_now_ns() + ms_to_ns(max_rebalance_timeout(g));
    LOG_INFO("group %s: generation %d with %u members, protocol %s, leader %s", g->id,
             g->generation, g->member_count, g->protocol_name, g->leader_id);
    for (sl_member_t *m = g->members; m; m = m->next) {
        sl_gop_t *op = m->awaiting_join;
        ASSERT(op);
        m->awaiting_join = NULL;
        g->awaiting_join_count--;
        m->is_new = false;
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        member_touch(g, m);
        join_fill(g, m, op, KE_NONE, strcmp(m->member_id, g->leader_id) == 0);
        sl_gop_finish(op);
    }
    ASSERT(g->awaiting_join_count == 0);
    sl_group_rearm(g);
}

static void maybe_complete_join(sl_group_t *g)
{
    if (g->state != SL_GROUP_PREPARING_REBALANCE || g->initial_delay_left_ms >= 0)
        return;
    if (g->awaiting_join_count == g->member_count && !g->pending)
        complete_join(g);
}

static void prepare_rebalance(sl_group_t *g, const char *reason)
{
    sl_coord_t *c = g->coord;
    if (g->state == SL_GROUP_COMPLETING_REBALANCE) {
        for (sl_member_t *m = g->members; m; m = m->next) {
            free(m->assignment);
            m->assignment = NULL;
            m->assignment_len = 0;
            if (m->awaiting_sync) {
                sl_gop_t *op = m->awaiting_sync;
                m->awaiting_sync = NULL;
                sync_fail(op, KE_REBALANCE_IN_PROGRESS);
            }
        }
    }
    bool was_empty = g->state == SL_GROUP_EMPTY;
    sl_group_set_state(g, SL_GROUP_PREPARING_REBALANCE);
    LOG_INFO("group %s: preparing to rebalance (generation %d): %s", g->id, g->generation,
             reason);
    int32_t timeout_ms = max_rebalance_timeout(g);
    int32_t delay_ms = c->shard->config->group_initial_rebalance_delay_ms;
    uint64_t now = io_now_ns();
    g->sync_deadline_ns = 0;
    if (was_empty && delay_ms > 0) {
        g->initial_delay_left_ms = timeout_ms > delay_ms ? timeout_ms - delay_ms : 0;
        g->new_member_during_delay = false;
        g->join_deadline_ns = now + ms_to_ns(delay_ms);
    } else {
        g->initial_delay_left_ms = -1;
        g->join_deadline_ns = now + ms_to_ns(timeout_ms);
    }
    sl_group_rearm(g);
    maybe_complete_join(g);
}

/* ------------------------------------------------------------------ timer */

void sl_group_rearm(sl_group_t *g)
{
    if (g->deleted)
        return;
    uint64_t next = UINT64_MAX;
    if (g->cg)
        next = sl_cgroup_next_deadline(g->cg);
    else if (g->state == SL_GROUP_PREPARING_REBALANCE && g->join_deadline_ns)
        next = g->join_deadline_ns;
    if (g->state == SL_GROUP_COMPLETING_REBALANCE && g->sync_deadline_ns &&
        g->sync_deadline_ns < next)
        next = g->sync_deadline_ns;
    for (sl_member_t *m = g->members; m; m = m->next)
        if (!m->awaiting_join && !m->awaiting_sync && m->session_deadline_ns < next)
            next = m->session_deadline_ns;
    for (sl_pending_member_t *p = g->pending; p; p = p->next)
        if (p->deadline_ns < next)
            next = p->deadline_ns;
    io_timers_t *timers = &g->coord->shard->timers;
    if (next == UINT64_MAX) {
        io_timer_cancel(timers, &g->timer);
        return;
    }
    if (!io_timer_armed(&g->timer) || g->timer.deadline_ns > next || g->timer.deadline_ns < io_now_ns())
        if (io_timer_arm(timers, &g->timer, next) != 0)
            LOG_WARN("group %s: timer table full; deadlines are checked late", g->id);
}

void sl_group_on_timer(sl_group_t *g)
{
    uint64_t now = io_now_ns();
    if (g->cg) {
        sl_cgroup_on_timer(g);
        sl_group_rearm(g);
        return;
    }
    for (sl_pending_member_t **pp = &g->pending; *pp;) {
        sl_pending_member_t *p = *pp;
        if (p->deadline_ns <= now) {
            *pp = p->next;
            LOG_DEBUG("group %s: pending member %s never rejoined", g->id, p->member_id);
            free(p->member_id);
            free(p);
        } else {
            pp = &p->next;
        }
    }
    if (g->state == SL_GROUP_PREPARING_REBALANCE && g->join_deadline_ns &&
        g->join_deadline_ns <= now) {
        if (g->initial_delay_left_ms > 0 && g->new_member_during_delay) {
            /* Kafka's InitialDelayedJoin: new members arrived; wait once more. */
            int32_t delay = g->coord->shard->config->group_initial_rebalance_delay_ms;
            int64_t step = g->initial_delay_left_ms < delay ? g->initial_delay_left_ms : delay;
            g->initial_delay_left_ms -= step;
            g->new_member_during_delay = false;
            g->join_deadline_ns = now + ms_to_ns(step);
        } else {
            g->initial_delay_left_ms = -1;
            complete_join(g);
        }
    } else if (g->state == SL_GROUP_PREPARING_REBALANCE) {
        maybe_complete_join(g);
    }
    if (g->state == SL_GROUP_COMPLETING_REBALANCE && g->sync_deadline_ns &&
        g->sync_deadline_ns <= now) {
        /* The leader never sent its assignment: members that did not sync leave. */
        for (sl_member_t *m = g->members, *next; m; m = next) {
            next = m->next;
            if (!m->awaiting_sync)
                remove_member(g, m, "did not sync in time", false);
        }
        if (g->members)
            prepare_rebalance(g, "members did not sync in time");
        else
            prepare_rebalance(g, "every member left during the sync");
    }
    for (sl_member_t *m = g->members, *next; m; m = next) {
        next = m->next;
        if (!m->awaiting_join && !m->awaiting_sync && m->session_deadline_ns <= now &&
            g->state != SL_GROUP_EMPTY)
            remove_member(g, m, "session timeout expired", true);
    }
    sl_group_rearm(g);
}

/* A group made for a request that then failed, holding nothing. */
static void drop_if_unused(sl_coord_t *c, sl_group_t *g)
{
    if (!g->cg && g->state == SL_GROUP_EMPTY && !g->members && !g->pending && !g->protocol_type &&
        g->offset_count == 0 && g->generation == 0 && g->appends_inflight == 0) {
        sl_group_set_state(g, SL_GROUP_DEAD);
        sl_coord_remove(c, g);
    }
}

static void group_store_done(sl_group_t *g, int err, void *ctx)
{
    (void)ctx;
    if (err)
        LOG_WARN("group %s: writing its metadata failed: %d", g->id, err);
}

/* ------------------------------------------------------------- JoinGroup */

static sl_member_t *member_new(sl_group_t *g, sl_gop_t *op, char *member_id)
{
    const kp_join_group_request_t *in = op->in;
    sl_member_t *m = calloc(1, sizeof(*m));
    if (!m) {
        free(member_id);
        return NULL;
    }
    m->member_id = member_id;
    m->instance_id = op->version >= 5 ? dup_kstr(in->group_instance_id) : NULL;
    m->client_id = dup_kstr(kp_str_nonnull(op->client_id));
    m->client_host = strdup(op->client_host);
    m->session_timeout_ms = in->session_timeout_ms;
    m->rebalance_timeout_ms = join_rebalance_timeout(in, op->version);
    if (!m->member_id || !m->client_id || !m->client_host ||
        (op->version >= 5 && !kp_str_is_null(in->group_instance_id) && !m->instance_id) ||
        member_set_protocols(m, in) != 0) {
        sl_member_free(m);
        return NULL;
    }
    (void)g;
    return m;
}

static void pending_remove(sl_group_t *g, const char *id, size_t len)
{
    for (sl_pending_member_t **pp = &g->pending; *pp; pp = &(*pp)->next) {
        sl_pending_member_t *p = *pp;
        if (strlen(p->member_id) == len && memcmp(p->member_id, id, len) == 0) {
            *pp = p->next;
            free(p->member_id);
            free(p);
            return;
        }
    }
}

static uint32_t pending_count(const sl_group_t *g)
{
    uint32_t n = 0;
    for (const sl_pending_member_t *p = g->pending; p; p = p->next)
        n++;
    return n;
}

/* Kafka's group.max.size rule, pending (KIP-394) members counted. */
static bool group_full(const sl_group_t *g, const sl_config_t *cfg)
{
    uint32_t n = g->member_count + pending_count(g);
    return n >= (uint32_t)cfg->group_max_size || n >= SL_GROUP_MAX_MEMBERS;
}

static bool pending_has(sl_group_t *g, const char *id, size_t len)
{
    for (sl_pending_member_t *p = g->pending; p; p = p->next)
        if (strlen(p->member_id) == len && memcmp(p->member_id, id, len) == 0)
            return true;
    return false;
}

/* Adds a member whose join is parked, and starts or joins the rebalance. */
static void add_member_and_rebalance(sl_group_t *g, sl_gop_t *op, char *member_id)
{
    const kp_join_group_request_t *in = op->in;
    sl_member_t *m = member_new(g, op, member_id);
    if (!m) {
        join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
        return;
    }
    if (!g->protocol_type) {
        g->protocol_type = dup_kstr(in->protocol_type);
        if (!g->protocol_type) {
            sl_member_free(m);
            join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
            return;
        }
    }
    pending_remove(g, m->member_id, strlen(m->member_id));
    sl_member_t **tail = &g->members;
    while (*tail)
        tail = &(*tail)->next;
    *tail = m;
    g->member_count++;
    m->is_new = true;
    m->awaiting_join = op;
    g->awaiting_join_count++;
    if (g->initial_delay_left_ms >= 0)
        g->new_member_during_delay = true;
    if (g->state == SL_GROUP_PREPARING_REBALANCE)
        maybe_complete_join(g);
    else
        prepare_rebalance(g, "a new member joined");
}

/* Parks an existing member's join (its protocols updated) and rebalances. */
static void update_member_and_rebalance(sl_group_t *g, sl_member_t *m, sl_gop_t *op,
                                        const char *reason)
{
    const kp_join_group_request_t *in = op->in;
    if (member_set_protocols(m, in) != 0) {
        join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, m->member_id);
        return;
    }
    m->session_timeout_ms = in->session_timeout_ms;
    m->rebalance_timeout_ms = join_rebalance_timeout(in, op->version);
    if (m->awaiting_join) {
        join_fail(m->awaiting_join, KE_REBALANCE_IN_PROGRESS, m->member_id);
        m->awaiting_join = NULL;
        g->awaiting_join_count--;
    }
    m->awaiting_join = op;
    g->awaiting_join_count++;
    if (g->state == SL_GROUP_PREPARING_REBALANCE)
        maybe_complete_join(g);
    else
        prepare_rebalance(g, reason);
}

/* KIP-345: a static member rejoined with an empty member id: it takes over. */
static void replace_static_member(sl_group_t *g, sl_member_t *m, sl_gop_t *op)
{
    const kp_join_group_request_t *in = op->in;
    char *new_id = new_member_id(in->group_instance_id);
    if (!new_id) {
        join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
        return;
    }
    LOG_INFO("group %s: static member %s rejoined as %s", g->id, m->instance_id, new_id);
    member_release(g, m, KE_FENCED_INSTANCE_ID);
    if (g->leader_id && strcmp(g->leader_id, m->member_id) == 0) {
        char *leader = strdup(new_id);
        if (!leader) {
            free(new_id);
            join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
            return;
        }
        free(g->leader_id);
        g->leader_id = leader;
    }
    free(m->member_id);
    m->member_id = new_id;
    free(m->client_host);
    m->client_host = strdup(op->client_host);
    bool same = member_protocols_equal(m, in);
    if (g->state == SL_GROUP_STABLE && same) {
        /* No rebalance: the member gets the current generation and, at its
         * sync, its previous assignment. */
        m->session_timeout_ms = in->session_timeout_ms;
        m->rebalance_timeout_ms = join_rebalance_timeout(in, op->version);
        member_touch(g, m);
        if (sl_group_log_store_group(g, group_store_done, NULL) != 0)
            LOG_WARN("group %s: could not write its metadata", g->id);
        bool leader = g->leader_id && strcmp(g->leader_id, m->member_id) == 0;
        join_fill(g, m, op, KE_NONE, leader && op->version >= 9);
        if (leader && op->version >= 9)
            ((kp_join_group_response_t *)op->out)->skip_assignment = true;
        sl_gop_finish(op);
        sl_group_rearm(g);
        return;
    }
    update_member_and_rebalance(g, m, op, "a static member rejoined with new metadata");
}

void sl_group_join(sl_coord_t *c, sl_gop_t *op)
{
    const kp_join_group_request_t *in = op->in;
    const sl_config_t *cfg = c->shard->config;
    kp_str_t gid = kp_str_nonnull(in->group_id);
    kp_str_t mid = kp_str_nonnull(in->member_id);
    kp_str_t iid = op->version >= 5 ? in->group_instance_id : KP_STR_NULL;
    if (c->shard->stopping) {
        join_fail(op, KE_NOT_COORDINATOR, NULL);
        return;
    }
    if (gid.len == 0 || gid.len > SL_GROUP_MAX_ID_BYTES || mid.len > SL_GROUP_MAX_ID_BYTES ||
        iid.len > SL_GROUP_MAX_ID_BYTES || (!kp_str_is_null(iid) && iid.len == 0)) {
        join_fail(op, KE_INVALID_GROUP_ID, mid.len ? NULL : "");
        return;
    }
    if (in->session_timeout_ms < cfg->group_min_session_timeout_ms ||
        in->session_timeout_ms > cfg->group_max_session_timeout_ms) {
        join_fail(op, KE_INVALID_SESSION_TIMEOUT, NULL);
        return;
    }
    if (in->protocols_count <= 0 || in->protocols_count > SL_GROUP_MAX_PROTOCOLS ||
        kp_str_is_null(in->protocol_type) || in->protocol_type.len == 0) {
        join_fail(op, KE_INCONSISTENT_GROUP_PROTOCOL, NULL);
        return;
    }
    for (int32_t i = 0; i < in->protocols_count; i++) {
        if (kp_bytes_nonnull(in->protocols[i].metadata).len > SL_GROUP_MAX_METADATA_BYTES ||
            kp_str_nonnull(in->protocols[i].name).len > 255) {
            join_fail(op, KE_INCONSISTENT_GROUP_PROTOCOL, NULL);
            return;
        }
    }
    sl_group_t *g = sl_coord_find(c, gid.ptr, (size_t)gid.len);
    if (!g) {
        if (mid.len > 0) {
            join_fail(op, KE_UNKNOWN_MEMBER_ID, NULL);
            return;
        }
        g = sl_coord_create(c, gid.ptr, (size_t)gid.len, op->partition);
        if (!g) {
            join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
            return;
        }
    }
    if (g->state == SL_GROUP_DEAD) {
        join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
        return;
    }
    if (g->cg && sl_cgroup_is_empty(g->cg)) {
        /* An empty consumer-protocol group becomes classic again (Kafka's
         * downgrade of an empty group); its offsets stay. */
        LOG_INFO("group %s: empty consumer group converted to a classic group", g->id);
        if (sl_cgroup_write_delete(g, NULL, NULL) != 0)
            LOG_WARN("group %s: consumer group tombstones not written", g->id);
        sl_cgroup_free(g->cg);
        g->cg = NULL;
        free(g->protocol_type);
        g->protocol_type = NULL;
    }
    if (g->cg) {
        /* A consumer-protocol group with members: classic members are not admitted. */
        join_fail(op, KE_INCONSISTENT_GROUP_PROTOCOL, NULL);
        return;
    }
    sl_member_t *self = mid.len ? sl_group_member(g, mid.ptr, (size_t)mid.len) : NULL;
    if (!self && !kp_str_is_null(iid))
        self = sl_group_member_by_instance(g, iid.ptr, (size_t)iid.len);
    if (!group_accepts(g, in, self)) {
        join_fail(op, KE_INCONSISTENT_GROUP_PROTOCOL, NULL);
        drop_if_unused(c, g);
        return;
    }

    if (mid.len == 0) {
        /* A new member, or a static member coming back. */
        if (!kp_str_is_null(iid)) {
            sl_member_t *old = sl_group_member_by_instance(g, iid.ptr, (size_t)iid.len);
            if (old) {
                replace_static_member(g, old, op);
                return;
            }
        }
        if (group_full(g, cfg)) {
            join_fail(op, KE_GROUP_MAX_SIZE_REACHED, NULL);
            drop_if_unused(c, g);
            return;
        }
        char *id = new_member_id(kp_str_is_null(iid) ? op->client_id : iid);
        if (!id) {
            join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
            drop_if_unused(c, g);
            return;
        }
        if (op->version >= 4 && kp_str_is_null(iid)) {
            /* KIP-394: the member must come back with this id. */
            sl_pending_member_t *p = calloc(1, sizeof(*p));
            if (!p) {
                free(id);
                join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
                drop_if_unused(c, g);
                return;
            }
            p->member_id = id;
            p->deadline_ns = io_now_ns() + ms_to_ns(in->session_timeout_ms);
            p->next = g->pending;
            g->pending = p;
            join_fail(op, KE_MEMBER_ID_REQUIRED, id);
            sl_group_rearm(g);
            return;
        }
        add_member_and_rebalance(g, op, id);
        return;
    }

    /* A known (or pending) member id. A pending member was counted when it got
     * its id, so it fits. */
    if (pending_has(g, mid.ptr, (size_t)mid.len)) {
        char *id = strndup(mid.ptr, (size_t)mid.len);
        if (!id) {
            join_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
            return;
        }
        add_member_and_rebalance(g, op, id);
        return;
    }
    sl_member_t *m = sl_group_member(g, mid.ptr, (size_t)mid.len);
    if (!m) {
        bool fenced = !kp_str_is_null(iid) &&
                      sl_group_member_by_instance(g, iid.ptr, (size_t)iid.len);
        join_fail(op, fenced ? KE_FENCED_INSTANCE_ID : KE_UNKNOWN_MEMBER_ID, NULL);
        drop_if_unused(c, g);
        return;
    }
    if (m->instance_id && !kp_str_is_null(iid) && !kstr_is(iid, m->instance_id)) {
        join_fail(op, KE_FENCED_INSTANCE_ID, NULL);
        return;
    }
    free(m->client_host);
    m->client_host = strdup(op->client_host);
    switch (g->state) {
    case SL_GROUP_PREPARING_REBALANCE:
        update_member_and_rebalance(g, m, op, "member rejoined");
        return;
    case SL_GROUP_COMPLETING_REBALANCE:
        if (member_protocols_equal(m, in)) {
            /* A retried join: the same answer as the first one. */
            member_touch(g, m);
            join_fill(g, m, op, KE_NONE, strcmp(m->member_id, g->leader_id) == 0);
            sl_gop_finish(op);
            return;
        }
        update_member_and_rebalance(g, m, op, "member rejoined with new metadata");
        return;
    case SL_GROUP_STABLE:
        if (strcmp(m->member_id, g->leader_id) == 0 || !member_protocols_equal(m, in)) {
            update_member_and_rebalance(g, m, op,
                                        strcmp(m->member_id, g->leader_id) == 0
                                            ? "the leader rejoined"
                                            : "member rejoined with new metadata");
            return;
        }
        member_touch(g, m);
        join_fill(g, m, op, KE_NONE, false);
        sl_gop_finish(op);
        return;
    case SL_GROUP_EMPTY:
    case SL_GROUP_DEAD:
    case SL_GROUP_STATE_COUNT:
        break;
    }
    join_fail(op, KE_UNKNOWN_MEMBER_ID, NULL);
}

/* ------------------------------------------------------------- SyncGroup */

static void sync_store_done(sl_group_t *g, int err, void *ctx)
{
    int32_t generation = (int32_t)(intptr_t)ctx;
    if (g->deleted || g->state != SL_GROUP_COMPLETING_REBALANCE || g->generation != generation)
        return; /* the rebalance moved on; its syncs were answered then */
    if (err) {
        LOG_WARN("group %s: storing the assignment failed (%d); rebalancing", g->id, err);
        for (sl_member_t *m = g->members; m; m = m->next) {
            if (m->awaiting_sync) {
                sl_gop_t *op = m->awaiting_sync;
                m->awaiting_sync = NULL;
                sync_fail(op, KE_COORDINATOR_NOT_AVAILABLE);
            }
        }
        prepare_rebalance(g, "storing the assignment failed");
        return;
    }
    sl_group_set_state(g, SL_GROUP_STABLE);
    g->sync_deadline_ns = 0;
    for (sl_member_t *m = g->members; m; m = m->next) {
        member_touch(g, m);
        if (m->awaiting_sync) {
            sl_gop_t *op = m->awaiting_sync;
            m->awaiting_sync = NULL;
            sync_answer(g, m, op, KE_NONE);
        }
    }
    sl_group_rearm(g);
}

/* Common checks of Sync/Heartbeat: the member and its generation. Returns the
 * member or NULL with *err set. */
static sl_member_t *check_member(sl_group_t *g, kp_str_t mid, kp_str_t iid, int32_t generation,
                                 int16_t *err)
{
    if (!g || g->state == SL_GROUP_EMPTY || g->cg) {
        *err = KE_UNKNOWN_MEMBER_ID;
        return NULL;
    }
    if (g->state == SL_GROUP_DEAD) {
        *err = KE_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    sl_member_t *m = sl_group_validate_member(g, mid, iid, err);
    if (!m)
        return NULL;
    if (generation != g->generation) {
        *err = KE_ILLEGAL_GENERATION;
        return NULL;
    }
    *err = KE_NONE;
    return m;
}

void sl_group_sync(sl_coord_t *c, sl_gop_t *op)
{
    const kp_sync_group_request_t *in = op->in;
    kp_str_t gid = kp_str_nonnull(in->group_id);
    kp_str_t iid = op->version >= 3 ? in->group_instance_id : KP_STR_NULL;
    if (c->shard->stopping) {
        sync_fail(op, KE_NOT_COORDINATOR);
        return;
    }
    sl_group_t *g = gid.len ? sl_coord_find(c, gid.ptr, (size_t)gid.len) : NULL;
    int16_t err;
    sl_member_t *m =
        check_member(g, kp_str_nonnull(in->member_id), iid, in->generation_id, &err);
    if (!m) {
        sync_fail(op, err);
        return;
    }
    if ((op->version >= 5 && !kp_str_is_null(in->protocol_type) &&
         !kstr_is(in->protocol_type, g->protocol_type)) ||
        (op->version >= 5 && !kp_str_is_null(in->protocol_name) && g->protocol_name &&
         !kstr_is(in->protocol_name, g->protocol_name))) {
        sync_fail(op, KE_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    if (g->state == SL_GROUP_PREPARING_REBALANCE) {
        sync_fail(op, KE_REBALANCE_IN_PROGRESS);
        return;
    }
    if (g->state == SL_GROUP_STABLE) {
        member_touch(g, m);
        sync_answer(g, m, op, KE_NONE);
        sl_group_rearm(g);
        return;
    }
    ASSERT(g->state == SL_GROUP_COMPLETING_REBALANCE);
    if (m->awaiting_sync)
        sync_fail(m->awaiting_sync, KE_REBALANCE_IN_PROGRESS);
    m->awaiting_sync = op;
    if (strcmp(m->member_id, g->leader_id) != 0)
        return;
    /* The leader's assignment: members it does not name get an empty one. */
    for (sl_member_t *x = g->members; x; x = x->next) {
        free(x->assignment);
        x->assignment = NULL;
        x->assignment_len = 0;
    }
    for (int32_t i = 0; i < in->assignments_count; i++) {
        kp_str_t aid = kp_str_nonnull(in->assignments[i].member_id);
        kp_bytes_t a = kp_bytes_nonnull(in->assignments[i].assignment);
        sl_member_t *x = sl_group_member(g, aid.ptr, (size_t)aid.len);
        if (!x || a.len == 0 || a.len > SL_GROUP_MAX_METADATA_BYTES)
            continue;
        free(x->assignment);
        x->assignment = malloc((size_t)a.len);
        if (!x->assignment)
            continue;
        memcpy(x->assignment, a.ptr, (size_t)a.len);
        x->assignment_len = (uint32_t)a.len;
    }
    if (sl_group_log_store_group(g, sync_store_done, (void *)(intptr_t)g->generation) != 0)
        sync_store_done(g, -EIO, (void *)(intptr_t)g->generation);
}

/* ------------------------------------------------------------- Heartbeat */

void sl_group_heartbeat(sl_coord_t *c, sl_gop_t *op)
{
    const kp_heartbeat_request_t *in = op->in;
    kp_heartbeat_response_t *out = op->out;
    kp_str_t gid = kp_str_nonnull(in->group_id);
    kp_str_t iid = op->version >= 3 ? in->group_instance_id : KP_STR_NULL;
    if (c->shard->stopping) {
        out->error_code = KE_NOT_COORDINATOR;
        sl_gop_finish(op);
        return;
    }
    sl_group_t *g = gid.len ? sl_coord_find(c, gid.ptr, (size_t)gid.len) : NULL;
    int16_t err;
    sl_member_t *m =
        check_member(g, kp_str_nonnull(in->member_id), iid, in->generation_id, &err);
    if (m) {
        member_touch(g, m);
        if (g->state == SL_GROUP_PREPARING_REBALANCE)
            err = KE_REBALANCE_IN_PROGRESS;
        sl_group_rearm(g);
    }
    out->error_code = err;
    sl_gop_finish(op);
}

/* ------------------------------------------------------------ LeaveGroup */

/* Kafka's classic leave: by instance id when one is given (a member id that
 * is not the instance's is fenced), else by member id (pending members too). */
static int16_t leave_one(sl_group_t *g, kp_str_t mid, kp_str_t iid)
{
    sl_member_t *m = NULL;
    if (!kp_str_is_null(iid)) {
        m = sl_group_member_by_instance(g, iid.ptr, (size_t)iid.len);
        if (!m)
            return KE_UNKNOWN_MEMBER_ID;
        if (mid.len > 0 && !kstr_is(mid, m->member_id))
            return KE_FENCED_INSTANCE_ID;
    } else if (mid.len > 0) {
        m = sl_group_member(g, mid.ptr, (size_t)mid.len);
        if (!m) {
            if (pending_has(g, mid.ptr, (size_t)mid.len)) {
                pending_remove(g, mid.ptr, (size_t)mid.len);
                return KE_NONE;
            }
            return KE_UNKNOWN_MEMBER_ID;
        }
    } else {
        return KE_UNKNOWN_MEMBER_ID;
    }
    remove_member(g, m, "left the group", true);
    return KE_NONE;
}

void sl_group_leave(sl_coord_t *c, sl_gop_t *op)
{
    const kp_leave_group_request_t *in = op->in;
    kp_leave_group_response_t *out = op->out;
    kp_str_t gid = kp_str_nonnull(in->group_id);
    sl_group_t *g = gid.len ? sl_coord_find(c, gid.ptr, (size_t)gid.len) : NULL;
    if (c->shard->stopping) {
        out->error_code = KE_NOT_COORDINATOR;
        sl_gop_finish(op);
        return;
    }
    if (!g || g->state == SL_GROUP_DEAD || g->cg) {
        out->error_code = g && !g->cg ? KE_COORDINATOR_NOT_AVAILABLE : KE_UNKNOWN_MEMBER_ID;
        sl_gop_finish(op);
        return;
    }
    if (op->version < 3) {
        out->error_code = leave_one(g, kp_str_nonnull(in->member_id), KP_STR_NULL);
    } else {
        kp_leave_group_response_members_t *rs =
            in->members_count > 0
                ? kp_arena_alloc(&op->arena, (size_t)in->members_count * sizeof(*rs))
                : NULL;
        if (in->members_count > 0 && !rs) {
            out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
            sl_gop_finish(op);
            return;
        }
        for (int32_t i = 0; i < in->members_count; i++) {
            kp_leave_group_response_members_init(&rs[i]);
            rs[i].member_id = kp_str_nonnull(in->members[i].member_id);
            rs[i].group_instance_id = in->members[i].group_instance_id;
            rs[i].error_code = leave_one(g, kp_str_nonnull(in->members[i].member_id),
                                         in->members[i].group_instance_id);
        }
        out->members = rs;
        out->members_count = in->members_count > 0 ? in->members_count : 0;
    }
    sl_group_rearm(g);
    sl_gop_finish(op);
}

/* ------------------------------------------------------------- stopping */

void sl_coord_stop_groups(sl_coord_t *c)
{
    for (uint32_t i = 0; i <= c->groups_mask; i++)
        for (sl_group_t *g = c->groups[i]; g; g = g->hash_next)
            for (sl_member_t *m = g->members; m; m = m->next)
                member_release(g, m, KE_NOT_COORDINATOR);
}
