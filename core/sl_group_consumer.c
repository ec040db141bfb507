/*
 * sl_group_consumer.c — the KIP-848 consumer group protocol on the owner shard:
 * ConsumerGroupHeartbeat, ConsumerGroupDescribe, member epochs, the target
 * assignment from a server-side assignor (sl_assign.h), and incremental
 * reconciliation (Kafka's GroupMetadataManager.consumerGroupHeartbeat and
 * CurrentAssignmentBuilder).
 *
 * Epochs
 *   group epoch       bumped when membership or a subscription changes, or when
 *                     the topics behind the subscriptions change so that the
 *                     target assignment changes;
 *   assignment epoch  the group epoch the target assignment was computed for;
 *                     the target is recomputed synchronously at the heartbeat that
 *                     finds group epoch > assignment epoch (so "Assigning" is
 *                     never observed from outside);
 *   member epoch      the assignment epoch the member has reconciled to.
 *
 * Member states (member_set_state asserts the table; every change is traced):
 *   STABLE      owns its whole target at the assignment epoch
 *   UNREVOKED   must give up `revoking` first; the member epoch stays until the
 *               member reports (TopicPartitions) that it no longer owns them,
 *               within its rebalance timeout, else it is fenced (removed)
 *   UNRELEASED  at the assignment epoch, but some target partitions are still
 *               owned (or being revoked) by other members; it gets them at a
 *               later heartbeat once they are free
 *   Transitions: STABLE -> UNREVOKED | UNRELEASED; UNREVOKED -> STABLE | UNRELEASED;
 *   UNRELEASED -> STABLE | UNREVOKED. A partition is never assigned to a member
 *   while another member still owns it or is revoking it.
 *
 * Heartbeat epochs from the member: 0 joins (a full request: subscription
 * required), -1 leaves, -2 is a static member leaving for now (its partitions
 * stay reserved for its instance id until its session times out), > 0 must be
 * the member's epoch (or its previous one with owned partitions that are a
 * subset of its assignment, a lost response) else FENCED_MEMBER_EPOCH.
 *
 * The assignment is sent whenever it changed since it was last sent, and on
 * every full request. Members are kept in memory only: after a broker restart
 * members get UNKNOWN_MEMBER_ID and rejoin; committed offsets are durable.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_assign.h"
#include "sl_group.h"
#include "sl_log.h"
#include "kp_messages.h"
#include "kp_batch_build.h"

#include <regex.h>
#include <stdlib.h>

#define CG_MAX_SUBSCRIBED_TOPICS 100000
#define CG_MAX_REGEX_BYTES 1024

typedef struct cg_tp {
    sl_uuid_t topic;
    int32_t partition;
} cg_tp_t;

typedef struct cg_set { /* sorted by (topic bytes, partition), no duplicates */
    cg_tp_t *v;
    uint32_t n;
} cg_set_t;

typedef enum { CM_STABLE, CM_UNREVOKED, CM_UNRELEASED, CM_STATE_COUNT } cm_state_t;

static const char *const g_cm_names[CM_STATE_COUNT] = {"STABLE", "UNREVOKED_PARTITIONS",
                                                       "UNRELEASED_PARTITIONS"};
static const bool g_cm_legal[CM_STATE_COUNT][CM_STATE_COUNT] = {
    [CM_STABLE] = {[CM_STABLE] = true, [CM_UNREVOKED] = true, [CM_UNRELEASED] = true},
    [CM_UNREVOKED] = {[CM_UNREVOKED] = true, [CM_STABLE] = true, [CM_UNRELEASED] = true},
    [CM_UNRELEASED] = {[CM_UNRELEASED] = true, [CM_STABLE] = true, [CM_UNREVOKED] = true},
};

typedef struct cmember {
    struct cmember *next;
    char *member_id;
    char *instance_id;
    char *rack_id;
    char *client_id;
    char *client_host;
    char *server_assignor;
    int32_t rebalance_timeout_ms;
    char **subscribed;
    uint32_t subscribed_count;
    char *regex;
    regex_t re;
    bool re_compiled;
    int32_t member_epoch;
    int32_t previous_epoch;
    cm_state_t state;
    cg_set_t assigned; /* what it may own now */
    cg_set_t revoking; /* what it must give up */
    cg_set_t target;   /* from the target assignment */
    bool send_assignment;
    bool left_static; /* -2: gone for now, reserved for its instance id */
    uint64_t session_deadline_ns;
    uint64_t revoke_deadline_ns; /* UNREVOKED only */
} cmember_t;

typedef struct sl_cgroup {
    int32_t group_epoch;
    int32_t assignment_epoch;
    bool needs_target; /* membership or subscriptions changed since the target */
    uint64_t target_meta_version;
    char assignor[32];
    cmember_t *members;
    uint32_t member_count;
    uint64_t changes;           /* bumped by every change worth writing */
    uint64_t persisted_changes; /* changes when last written */
    char **gone;                /* ids of members removed since the last write */
    uint32_t gone_count, gone_cap;
} sl_cgroup_t;

static void cg_maybe_persist(sl_group_t *g);

/* ------------------------------------------------------------------- sets */

static int tp_cmp(const cg_tp_t *a, const cg_tp_t *b)
{
    int c = memcmp(a->topic.b, b->topic.b, 16);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int tp_qcmp(const void *a, const void *b)
{
    return tp_cmp(a, b);
}

static void set_free(cg_set_t *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* out = a op b, op: 'i' intersection, 'd' difference (a - b), 'u' union.
 * Returns 0 or -ENOMEM (out untouched). */
static int set_op(const cg_set_t *a, const cg_set_t *b, char op, cg_set_t *out)
{
    cg_tp_t *v = malloc((a->n + b->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    uint32_t i = 0, j = 0, n = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : tp_cmp(&a->v[i], &b->v[j]);
        if (c == 0) {
            if (op == 'i' || op == 'u')
                v[n++] = a->v[i];
            i++;
            j++;
        } else if (c < 0) {
            if (op == 'd' || op == 'u')
                v[n++] = a->v[i];
            i++;
        } else {
            if (op == 'u')
                v[n++] = b->v[j];
            j++;
        }
    }
    out->v = v;
    out->n = n;
    return 0;
}

static bool set_equal(const cg_set_t *a, const cg_set_t *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (tp_cmp(&a->v[i], &b->v[i]) != 0)
            return false;
    return true;
}

static bool set_has(const cg_set_t *s, const cg_tp_t *tp)
{
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = tp_cmp(&s->v[mid], tp);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool set_intersects(const cg_set_t *a, const cg_set_t *b)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (set_has(b, &a->v[i]))
            return true;
    return false;
}

static bool set_subset(const cg_set_t *a, const cg_set_t *b)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (!set_has(b, &a->v[i]))
            return false;
    return true;
}

static void set_replace(cg_set_t *dst, cg_set_t *src)
{
    free(dst->v);
    *dst = *src;
    src->v = NULL;
    src->n = 0;
}

/* The request's TopicPartitions as a set. -ENOMEM, or -EINVAL past limits. */
static int set_from_request(const kp_consumer_group_heartbeat_request_t *in, cg_set_t *out)
{
    uint64_t total = 0;
    for (int32_t t = 0; t < in->topic_partitions_count; t++)
        total += (uint64_t)(in->topic_partitions[t].partitions_count > 0
                                ? in->topic_partitions[t].partitions_count
                                : 0);
    if (total > SL_ASSIGN_MAX_PARTITIONS)
        return -EINVAL;
    out->v = malloc((total + 1) * sizeof(*out->v));
    if (!out->v)
        return -ENOMEM;
    out->n = 0;
    for (int32_t t = 0; t < in->topic_partitions_count; t++)
        for (int32_t p = 0; p < in->topic_partitions[t].partitions_count; p++)
            out->v[out->n++] = (cg_tp_t){in->topic_partitions[t].topic_id,
                                         in->topic_partitions[t].partitions[p]};
    qsort(out->v, out->n, sizeof(*out->v), tp_qcmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < out->n; i++)
        if (k == 0 || tp_cmp(&out->v[k - 1], &out->v[i]) != 0)
            out->v[k++] = out->v[i];
    out->n = k;
    return 0;
}

/* ---------------------------------------------------------------- members */

static void member_set_state(const sl_group_t *g, cmember_t *m, cm_state_t to)
{
    ASSERT(g_cm_legal[m->state][to]);
    if (m->state != to)
        LOG_DEBUG("group %s: member %s %s -> %s (epoch %d)", g->id, m->member_id,
                  g_cm_names[m->state], g_cm_names[to], m->member_epoch);
    m->state = to;
}

static void member_clear_subscription(cmember_t *m)
{
    for (uint32_t i = 0; i < m->subscribed_count; i++)
        free(m->subscribed[i]);
    free(m->subscribed);
    m->subscribed = NULL;
    m->subscribed_count = 0;
    if (m->re_compiled)
        regfree(&m->re);
    m->re_compiled = false;
    free(m->regex);
    m->regex = NULL;
}

static void cmember_free(cmember_t *m)
{
    member_clear_subscription(m);
    free(m->member_id);
    free(m->instance_id);
    free(m->rack_id);
    free(m->client_id);
    free(m->client_host);
    free(m->server_assignor);
    set_free(&m->assigned);
    set_free(&m->revoking);
    set_free(&m->target);
    free(m);
}

void sl_cgroup_free(sl_cgroup_t *cg)
{
    if (!cg)
        return;
    for (uint32_t i = 0; i < cg->gone_count; i++)
        free(cg->gone[i]);
    free(cg->gone);
    while (cg->members) {
        cmember_t *m = cg->members;
        cg->members = m->next;
        cmember_free(m);
    }
    free(cg);
}

static cmember_t *cg_member(sl_cgroup_t *cg, kp_str_t id)
{
    for (cmember_t *m = cg->members; m; m = m->next)
        if (kp_str_eq(id, m->member_id))
            return m;
    return NULL;
}

static cmember_t *cg_member_by_instance(sl_cgroup_t *cg, kp_str_t iid)
{
    if (kp_str_is_null(iid))
        return NULL;
    for (cmember_t *m = cg->members; m; m = m->next)
        if (m->instance_id && kp_str_eq(iid, m->instance_id))
            return m;
    return NULL;
}

static void cg_unlink(sl_cgroup_t *cg, cmember_t *m)
{
    for (cmember_t **pp = &cg->members; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            cg->member_count--;
            return;
        }
    }
}

/* Remembers a member id whose records need tombstones at the next write. */
static void cg_note_gone(sl_cgroup_t *cg, const char *member_id)
{
    if (cg->gone_count == cg->gone_cap) {
        uint32_t cap = cg->gone_cap ? cg->gone_cap * 2 : 8;
        char **v = realloc(cg->gone, cap * sizeof(*v));
        if (!v)
            return; /* its records stay until the group is deleted; loading drops members
                     * whose session expired anyway */
        cg->gone = v;
        cg->gone_cap = cap;
    }
    char *id = strdup(member_id);
    if (id)
        cg->gone[cg->gone_count++] = id;
    cg->changes++;
}

static void cg_remove(sl_group_t *g, cmember_t *m, const char *why)
{
    sl_cgroup_t *cg = g->cg;
    LOG_INFO("group %s: member %s removed: %s", g->id, m->member_id, why);
    cg_note_gone(cg, m->member_id);
    cg_unlink(cg, m);
    cmember_free(m);
    cg->group_epoch++;
    cg->needs_target = true;
}

/* --------------------------------------------------------------- queries */

const char *sl_cgroup_state_name(const sl_cgroup_t *cg)
{
    if (!cg->members)
        return "Empty";
    if (cg->group_epoch > cg->assignment_epoch)
        return "Assigning";
    for (const cmember_t *m = cg->members; m; m = m->next)
        if (!m->left_static && (m->state != CM_STABLE || m->member_epoch != cg->assignment_epoch))
            return "Reconciling";
    return "Stable";
}

bool sl_cgroup_is_empty(const sl_cgroup_t *cg)
{
    return cg->members == NULL;
}

uint32_t sl_cgroup_member_count(const sl_cgroup_t *cg)
{
    return cg->member_count;
}

int16_t sl_cgroup_check_member_epoch(sl_cgroup_t *cg, kp_str_t member_id, int32_t epoch,
                                     bool commit)
{
    if (kp_str_is_null(member_id) || member_id.len == 0) {
        /* Admin commits (no member, epoch -1) are allowed only on an empty group. */
        if (commit)
            return epoch < 0 && !cg->members ? KE_NONE : KE_UNKNOWN_MEMBER_ID;
        return KE_NONE;
    }
    cmember_t *m = cg_member(cg, member_id);
    if (!m)
        return KE_UNKNOWN_MEMBER_ID;
    if (commit ? epoch > m->member_epoch || epoch < m->previous_epoch : epoch != m->member_epoch)
        return KE_STALE_MEMBER_EPOCH;
    return KE_NONE;
}

uint64_t sl_cgroup_next_deadline(const sl_cgroup_t *cg)
{
    uint64_t next = UINT64_MAX;
    for (const cmember_t *m = cg->members; m; m = m->next) {
        if (m->session_deadline_ns < next)
            next = m->session_deadline_ns;
        if (m->state == CM_UNREVOKED && m->revoke_deadline_ns < next)
            next = m->revoke_deadline_ns;
    }
    return next;
}

void sl_cgroup_on_timer(sl_group_t *g)
{
    sl_cgroup_t *cg = g->cg;
    uint64_t now = io_now_ns();
    for (cmember_t *m = cg->members, *next; m; m = next) {
        next = m->next;
        if (m->session_deadline_ns <= now)
            cg_remove(g, m, "session timeout expired");
        else if (m->state == CM_UNREVOKED && m->revoke_deadline_ns <= now)
            cg_remove(g, m, "did not revoke its partitions within the rebalance timeout");
    }
    cg_maybe_persist(g);
}

/* ---------------------------------------------------- the target assignment */

static bool member_subscribes(const cmember_t *m, const char *topic)
{
    for (uint32_t i = 0; i < m->subscribed_count; i++)
        if (strcmp(m->subscribed[i], topic) == 0)
            return true;
    return m->re_compiled && regexec(&m->re, topic, 0, NULL, 0) == 0;
}

static const char *cg_assignor(const sl_group_t *g)
{
    for (const cmember_t *m = g->cg->members; m; m = m->next)
        if (m->server_assignor)
            return m->server_assignor;
    const char *cfg = g->coord->shard->config->group_consumer_assignors;
    static _Thread_local char first[32];
    size_t n = strcspn(cfg, ", ");
    if (n == 0 || n >= sizeof(first))
        return "uniform";
    memcpy(first, cfg, n);
    first[n] = 0;
    return first;
}

/* Recomputes every member's target. Bumps the group epoch when a target changed
 * without a membership change (topics created, deleted or grown). Returns 0 or
 * an error (targets unchanged). */
static int cg_compute_target(sl_group_t *g)
{
    sl_cgroup_t *cg = g->cg;
    const sl_meta_t *meta = g->coord->shard->meta;
    const char *assignor_name = cg_assignor(g);
    sl_assignor_fn assignor = sl_assignor_find(assignor_name);
    if (!assignor)
        assignor = sl_assign_uniform;
    uint32_t mc = cg->member_count;
    /* Topics someone subscribes to. */
    int32_t *topic_of = calloc((size_t)meta->topic_count + 1, sizeof(*topic_of));
    sl_assign_topic_t *topics = calloc((size_t)meta->topic_count + 1, sizeof(*topics));
    const sl_topic_meta_t **tmeta = calloc((size_t)meta->topic_count + 1, sizeof(*tmeta));
    sl_assign_member_t *members = calloc(mc + 1, sizeof(*members));
    int32_t **subs = calloc(mc + 1, sizeof(*subs));
    sl_assign_tp_t **owned = calloc(mc + 1, sizeof(*owned));
    int rc = -ENOMEM;
    sl_assign_output_t out = {0};
    if (!topic_of || !topics || !tmeta || !members || !subs || !owned)
        goto done;
    uint32_t tc = 0;
    for (int32_t t = 0; t < meta->topic_count; t++) {
        const sl_topic_meta_t *tm = meta->topics[t];
        topic_of[t] = -1;
        if (tm->internal)
            continue;
        for (cmember_t *m = cg->members; m; m = m->next) {
            if (member_subscribes(m, tm->name)) {
                topic_of[t] = (int32_t)tc;
                topics[tc] = (sl_assign_topic_t){tm->name, tm->partition_count};
                tmeta[tc++] = tm;
                break;
            }
        }
    }
    uint32_t i = 0;
    for (cmember_t *m = cg->members; m; m = m->next, i++) {
        subs[i] = malloc((tc + 1) * sizeof(**subs));
        owned[i] = malloc((m->target.n + 1) * sizeof(**owned));
        if (!subs[i] || !owned[i])
            goto done;
        uint32_t sc = 0;
        for (uint32_t t = 0; t < tc; t++)
            if (member_subscribes(m, topics[t].name))
                subs[i][sc++] = (int32_t)t;
        uint32_t oc = 0;
        for (uint32_t k = 0; k < m->target.n; k++) {
            for (uint32_t t = 0; t < tc; t++) {
                if (memcmp(tmeta[t]->id.b, m->target.v[k].topic.b, 16) == 0) {
                    owned[i][oc++] = (sl_assign_tp_t){(int32_t)t, m->target.v[k].partition};
                    break;
                }
            }
        }
        members[i] = (sl_assign_member_t){m->member_id, m->instance_id, subs[i], sc, owned[i], oc};
    }
    sl_assign_input_t in = {topics, tc, members, mc};
    rc = assignor(&in, &out);
    if (rc != 0) {
        LOG_WARN("group %s: assignor %s failed: %d", g->id, assignor_name, rc);
        goto done;
    }
    bool changed = false;
    i = 0;
    for (cmember_t *m = cg->members; m; m = m->next, i++) {
        cg_set_t nt = {malloc((out.members[i].count + 1) * sizeof(cg_tp_t)), 0};
        if (!nt.v) {
            rc = -ENOMEM;
            goto done;
        }
        for (uint32_t k = 0; k < out.members[i].count; k++)
            nt.v[nt.n++] = (cg_tp_t){tmeta[out.members[i].tps[k].topic]->id,
                                     out.members[i].tps[k].partition};
        qsort(nt.v, nt.n, sizeof(*nt.v), tp_qcmp);
        if (!set_equal(&nt, &m->target))
            changed = true;
        set_replace(&m->target, &nt);
    }
    if (changed && !cg->needs_target)
        cg->group_epoch++; /* topics changed under the same membership */
    cg->assignment_epoch = cg->group_epoch;
    cg->needs_target = false;
    cg->changes++;
    cg->target_meta_version = meta->version;
    snprintf(cg->assignor, sizeof(cg->assignor), "%s", assignor_name);
    LOG_INFO("group %s: target assignment for epoch %d by %s (%u members, %u topics)", g->id,
             cg->assignment_epoch, cg->assignor, mc, tc);
done:
    sl_assign_output_free(&out);
    for (uint32_t k = 0; k < mc; k++) {
        if (subs)
            free(subs[k]);
        if (owned)
            free(owned[k]);
    }
    free(subs);
    free(owned);
    free(members);
    free(tmeta);
    free(topics);
    free(topic_of);
    return rc;
}

/* ----------------------------------------------------------- reconciling */

/* Is tp owned (assigned or being revoked) by a member other than self? */
static bool owned_by_other(const sl_cgroup_t *cg, const cmember_t *self, const cg_tp_t *tp)
{
    for (const cmember_t *m = cg->members; m; m = m->next)
        if (m != self && (set_has(&m->assigned, tp) || set_has(&m->revoking, tp)))
            return true;
    return false;
}

/* Moves m towards its target (CurrentAssignmentBuilder). owned: what the member
 * reported owning (NULL: not reported). Returns 0 or -ENOMEM. */
static int cg_reconcile(sl_group_t *g, cmember_t *m, const cg_set_t *owned)
{
    sl_cgroup_t *cg = g->cg;
    if (m->state == CM_UNREVOKED) {
        if (!owned || set_intersects(owned, &m->revoking))
            return 0; /* still holding partitions it must give up */
        set_free(&m->revoking);
    }
    if (m->state == CM_STABLE && m->member_epoch == cg->assignment_epoch &&
        set_equal(&m->assigned, &m->target))
        return 0;
    cg_set_t revoke, keep;
    if (set_op(&m->assigned, &m->target, 'd', &revoke) != 0)
        return -ENOMEM;
    if (revoke.n > 0) {
        if (set_op(&m->assigned, &m->target, 'i', &keep) != 0) {
            set_free(&revoke);
            return -ENOMEM;
        }
        set_replace(&m->assigned, &keep);
        set_replace(&m->revoking, &revoke);
        m->revoke_deadline_ns = io_now_ns() + (uint64_t)(m->rebalance_timeout_ms > 0
                                                            ? m->rebalance_timeout_ms
                                                            : 300000) * 1000000ULL;
        member_set_state(g, m, CM_UNREVOKED);
        m->send_assignment = true;
        cg->changes++;
        return 0;
    }
    set_free(&revoke);
    /* Nothing to revoke: move to the assignment epoch with what is free. */
    cg_set_t missing;
    if (set_op(&m->target, &m->assigned, 'd', &missing) != 0)
        return -ENOMEM;
    cg_set_t add = {malloc((missing.n + 1) * sizeof(cg_tp_t)), 0};
    if (!add.v) {
        set_free(&missing);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < missing.n; i++)
        if (!owned_by_other(cg, m, &missing.v[i]))
            add.v[add.n++] = missing.v[i];
    bool all = add.n == missing.n;
    set_free(&missing);
    if (add.n > 0) {
        cg_set_t merged;
        if (set_op(&m->assigned, &add, 'u', &merged) != 0) {
            set_free(&add);
            return -ENOMEM;
        }
        set_replace(&m->assigned, &merged);
        m->send_assignment = true;
    }
    set_free(&add);
    if (m->member_epoch != cg->assignment_epoch) {
        m->previous_epoch = m->member_epoch;
        m->member_epoch = cg->assignment_epoch;
        m->send_assignment = true;
    }
    if (m->send_assignment || m->state != (all ? CM_STABLE : CM_UNRELEASED))
        cg->changes++;
    member_set_state(g, m, all ? CM_STABLE : CM_UNRELEASED);
    return 0;
}

/* ----------------------------------------------------------- the response */

static int fill_assignment(sl_gop_t *op, const cg_set_t *s,
                           kp_consumer_group_heartbeat_response_assignment_t *a)
{
    kp_consumer_group_heartbeat_response_assignment_init(a);
    uint32_t topics = 0;
    for (uint32_t i = 0; i < s->n; i++)
        topics += i == 0 || memcmp(s->v[i].topic.b, s->v[i - 1].topic.b, 16) != 0;
    a->topic_partitions =
        topics ? kp_arena_alloc(&op->arena, topics * sizeof(*a->topic_partitions)) : NULL;
    int32_t *parts = s->n ? kp_arena_alloc(&op->arena, s->n * sizeof(int32_t)) : NULL;
    if ((topics && !a->topic_partitions) || (s->n && !parts))
        return -ENOMEM;
    int32_t t = -1;
    for (uint32_t i = 0; i < s->n; i++) {
        if (i == 0 || memcmp(s->v[i].topic.b, s->v[i - 1].topic.b, 16) != 0) {
            t++;
            kp_consumer_group_heartbeat_response_topic_partitions_init(&a->topic_partitions[t]);
            a->topic_partitions[t].topic_id = s->v[i].topic;
            a->topic_partitions[t].partitions = &parts[i];
        }
        parts[i] = s->v[i].partition;
        a->topic_partitions[t].partitions_count++;
    }
    a->topic_partitions_count = (int32_t)topics;
    return 0;
}

static void hb_fail(sl_gop_t *op, int16_t err, const char *msg)
{
    kp_consumer_group_heartbeat_response_t *out = op->out;
    out->error_code = err;
    out->error_message = msg ? kp_str_from(msg) : KP_STR_NULL;
    sl_gop_finish(op);
}

static char *dup_str(kp_str_t s)
{
    return kp_str_is_null(s) ? NULL : strndup(s.ptr ? s.ptr : "", (size_t)s.len);
}

/* Kafka evaluates subscription regexes with RE2J (Java syntax); sluice with
 * POSIX extended expressions after this translation: \d \D \w \W \s \S become
 * bracket expressions (also inside brackets), an escaped character stays
 * literal; backreferences (\1) and (?...) groups are refused (RE2 has no
 * backreferences; flags and lookarounds have no POSIX form). The result is
 * anchored: a whole topic name must match, as in Kafka. Returns 0, or -EINVAL
 * with *msg, or -E2BIG when it does not fit. */
static int regex_to_posix(kp_str_t in, char *out, size_t cap, const char **msg)
{
    size_t n = 0;
    bool bracket = false;
#define PUT(str)                                                                           \
    do {                                                                                   \
        size_t l_ = strlen(str);                                                           \
        if (n + l_ + 3 > cap)                                                              \
            return -E2BIG;                                                                 \
        memcpy(out + n, (str), l_);                                                        \
        n += l_;                                                                           \
    } while (0)
    PUT("^(");
    for (int32_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '\\' && i + 1 < in.len) {
            char e = in.ptr[++i];
            const char *cls = NULL, *neg = NULL;
            switch (e) {
            case 'd': cls = "0-9"; break;
            case 'D': neg = "0-9"; break;
            case 'w': cls = "A-Za-z0-9_"; break;
            case 'W': neg = "A-Za-z0-9_"; break;
            case 's': cls = "[:space:]"; break;
            case 'S': neg = "[:space:]"; break;
            default: break;
            }
            if (e >= '0' && e <= '9') {
                *msg = "backreferences are not supported in subscription regular expressions";
                return -EINVAL;
            }
            if (cls || neg) {
                if (bracket) {
                    if (neg) {
                        *msg = "a negated class inside brackets is not supported";
                        return -EINVAL;
                    }
                    PUT(cls);
                } else {
                    PUT(cls ? "[" : "[^");
                    PUT(cls ? cls : neg);
                    PUT("]");
                }
                continue;
            }
            char lit[3] = {'\\', e, 0};
            if (bracket)
                lit[0] = e, lit[1] = 0;
            PUT(lit);
            continue;
        }
        if (!bracket && c == '(' && i + 1 < in.len && in.ptr[i + 1] == '?') {
            *msg = "(?...) groups are not supported in subscription regular expressions";
            return -EINVAL;
        }
        if (!bracket && c == '[')
            bracket = true;
        else if (bracket && c == ']')
            bracket = false;
        char one[2] = {c, 0};
        if (c == 0) {
            *msg = "a NUL byte in the regular expression";
            return -EINVAL;
        }
        PUT(one);
    }
    PUT(")$");
#undef PUT
    out[n] = 0;
    return 0;
}

/* Applies the request's subscription to m: SubscribedTopicNames and
 * SubscribedTopicRegex each replace the member's when given (not null) and
 * leave it alone when null; an empty regex removes the member's (Kafka's rule).
 * Returns 1 when the subscription changed, 0 when not, < 0 on error (*msg set):
 * -EINVAL for a regex that does not compile, -E2BIG past the limits, -ENOMEM. */
static int member_update_subscription(cmember_t *m, const kp_consumer_group_heartbeat_request_t *in,
                                      int16_t v, const char **msg)
{
    bool names_given = in->subscribed_topic_names_count >= 0;
    bool regex_given = v >= 1 && !kp_str_is_null(in->subscribed_topic_regex);
    if (!names_given && !regex_given)
        return 0;
    if (names_given && in->subscribed_topic_names_count > CG_MAX_SUBSCRIBED_TOPICS) {
        *msg = "too many subscribed topics";
        return -E2BIG;
    }
    bool names_same = true;
    if (names_given) {
        names_same = (uint32_t)in->subscribed_topic_names_count == m->subscribed_count;
        for (int32_t i = 0; names_same && i < in->subscribed_topic_names_count; i++)
            names_same = kp_str_eq(in->subscribed_topic_names[i], m->subscribed[i]);
    }
    kp_str_t r = regex_given ? in->subscribed_topic_regex : KP_STR_NULL;
    bool regex_same = !regex_given || (r.len == 0 ? m->regex == NULL
                                                  : m->regex != NULL && kp_str_eq(r, m->regex));
    if (names_same && regex_same)
        return 0;
    regex_t re;
    bool compiled = false;
    if (regex_given && r.len > 0) {
        if (r.len > CG_MAX_REGEX_BYTES) {
            *msg = "the subscription regular expression is too long";
            return -E2BIG;
        }
        char pat[4 * CG_MAX_REGEX_BYTES + 16];
        int trc = regex_to_posix(r, pat, sizeof(pat), msg);
        if (trc != 0) {
            if (trc == -E2BIG)
                *msg = "the subscription regular expression is too long";
            return trc == -E2BIG ? -E2BIG : -EINVAL;
        }
        if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
            *msg = "the subscription regular expression does not compile";
            return -EINVAL;
        }
        compiled = true;
    }
    char **names = NULL;
    uint32_t count = 0;
    char *regex_copy = compiled ? dup_str(r) : NULL;
    if (compiled && !regex_copy)
        goto oom;
    if (names_given && !names_same && in->subscribed_topic_names_count > 0) {
        names = calloc((size_t)in->subscribed_topic_names_count, sizeof(*names));
        if (!names)
            goto oom;
        for (int32_t i = 0; i < in->subscribed_topic_names_count; i++) {
            names[count] = dup_str(kp_str_nonnull(in->subscribed_topic_names[i]));
            if (!names[count])
                goto oom;
            count++;
        }
    }
    if (names_given && !names_same) {
        for (uint32_t i = 0; i < m->subscribed_count; i++)
            free(m->subscribed[i]);
        free(m->subscribed);
        m->subscribed = names;
        m->subscribed_count = count;
    }
    if (!regex_same) {
        if (m->re_compiled)
            regfree(&m->re);
        free(m->regex);
        m->re_compiled = compiled;
        m->regex = regex_copy;
        if (compiled)
            m->re = re;
    }
    return 1;
oom:
    for (uint32_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    free(regex_copy);
    if (compiled)
        regfree(&re);
    *msg = "out of memory";
    return -ENOMEM;
}

/* ------------------------------------------------------ the heartbeat */

/* The group for a heartbeat: an existing consumer group, or a new one (an
 * empty classic group holding only offsets converts). NULL with *err set. */
static sl_group_t *cg_group(sl_coord_t *c, sl_gop_t *op, kp_str_t gid, bool create, int16_t *err)
{
    sl_group_t *g = sl_coord_find(c, gid.ptr, (size_t)gid.len);
    if (g && g->state == SL_GROUP_DEAD) {
        *err = KE_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    if (g && !g->cg) {
        if (g->members || g->pending || g->state != SL_GROUP_EMPTY) {
            *err = KE_GROUP_ID_NOT_FOUND; /* Kafka: "not a consumer group" */
            return NULL;
        }
        if (!create) {
            *err = KE_UNKNOWN_MEMBER_ID;
            return NULL;
        }
    }
    if (!g) {
        if (!create) {
            *err = KE_UNKNOWN_MEMBER_ID;
            return NULL;
        }
        g = sl_coord_create(c, gid.ptr, (size_t)gid.len, op->partition);
        if (!g) {
            *err = KE_COORDINATOR_NOT_AVAILABLE;
            return NULL;
        }
    }
    if (!g->cg) {
        g->cg = calloc(1, sizeof(*g->cg));
        if (!g->cg) {
            *err = KE_COORDINATOR_NOT_AVAILABLE;
            return NULL;
        }
        free(g->protocol_type);
        g->protocol_type = strdup("consumer");
    }
    return g;
}

void sl_group_consumer_heartbeat(sl_coord_t *c, sl_gop_t *op)
{
    const kp_consumer_group_heartbeat_request_t *in = op->in;
    kp_consumer_group_heartbeat_response_t *out = op->out;
    const sl_config_t *cfg = c->shard->config;
    kp_str_t gid = kp_str_nonnull(in->group_id);
    kp_str_t mid = kp_str_nonnull(in->member_id);
    int32_t epoch = in->member_epoch;
    if (c->shard->stopping) {
        hb_fail(op, KE_NOT_COORDINATOR, NULL);
        return;
    }
    if (gid.len == 0 || gid.len > SL_GROUP_MAX_ID_BYTES) {
        hb_fail(op, KE_INVALID_REQUEST, "GroupId can't be empty.");
        return;
    }
    if (mid.len > SL_GROUP_MAX_ID_BYTES || in->instance_id.len > SL_GROUP_MAX_ID_BYTES ||
        in->rack_id.len > SL_GROUP_MAX_ID_BYTES || in->server_assignor.len > 31) {
        hb_fail(op, KE_INVALID_REQUEST, "an id is too long");
        return;
    }
    if (op->version >= 1 && mid.len == 0) {
        hb_fail(op, KE_INVALID_REQUEST, "MemberId can't be empty.");
        return;
    }
    if (epoch < -2) {
        hb_fail(op, KE_INVALID_REQUEST, "MemberEpoch is invalid.");
        return;
    }
    if (epoch == 0) {
        if (in->rebalance_timeout_ms < 0 && in->rebalance_timeout_ms != -1) {
            hb_fail(op, KE_INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.");
            return;
        }
        if (in->subscribed_topic_names_count < 0 &&
            (op->version < 1 || kp_str_is_null(in->subscribed_topic_regex))) {
            hb_fail(op, KE_INVALID_REQUEST,
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.");
            return;
        }
        if (in->topic_partitions_count < 0) {
            hb_fail(op, KE_INVALID_REQUEST, "TopicPartitions must be set in first request.");
            return;
        }
    }
    if (!kp_str_is_null(in->server_assignor)) {
        char name[32];
        snprintf(name, sizeof(name), "%.*s", (int)in->server_assignor.len, in->server_assignor.ptr);
        if (!sl_assignor_find(name) || !strstr(cfg->group_consumer_assignors, name)) {
            hb_fail(op, KE_UNSUPPORTED_ASSIGNOR, "ServerAssignor is not supported.");
            return;
        }
    }
    int16_t err = KE_NONE;
    sl_group_t *g = cg_group(c, op, gid, epoch == 0, &err);
    if (!g) {
        hb_fail(op, err, epoch == 0 ? NULL : "unknown member");
        return;
    }
    sl_cgroup_t *cg = g->cg;
    uint64_t now = io_now_ns();
    cmember_t *m = mid.len ? cg_member(cg, mid) : NULL;

    if (epoch == -1 || epoch == -2) {
        if (!m && !kp_str_is_null(in->instance_id))
            m = cg_member_by_instance(cg, in->instance_id);
        if (!m) {
            hb_fail(op, KE_UNKNOWN_MEMBER_ID, NULL);
            return;
        }
        out->member_id = sl_gop_str(op, m->member_id);
        out->member_epoch = epoch;
        if (epoch == -2 && m->instance_id) {
            /* Static member away: its partitions stay reserved until its session ends. */
            m->left_static = true;
            m->session_deadline_ns = now + (uint64_t)cfg->group_consumer_session_timeout_ms * 1000000ULL;
            LOG_INFO("group %s: static member %s (%s) left for now", g->id, m->member_id,
                     m->instance_id);
        } else {
            cg_remove(g, m, "left the group");
        }
        cg_maybe_persist(g);
        sl_group_rearm(g);
        sl_gop_finish(op);
        return;
    }

    /* Kafka's isFullRequest: a join, or a member re-sending everything (after an
     * error or a timeout) gets its whole assignment back. */
    bool full = epoch == 0 ||
                (in->rebalance_timeout_ms != -1 &&
                 (in->subscribed_topic_names_count >= 0 ||
                  (op->version >= 1 && !kp_str_is_null(in->subscribed_topic_regex))) &&
                 in->topic_partitions_count >= 0);
    bool created = false;
    if (epoch == 0) {
        cmember_t *prev = cg_member_by_instance(cg, in->instance_id);
        if (prev && !prev->left_static && (!m || prev != m)) {
            hb_fail(op, KE_UNRELEASED_INSTANCE_ID,
                    "the static member with this instance id is still in the group");
            return;
        }
        if (m && m != prev) {
            /* A fenced member rejoining with its id: it starts over. */
            cg_note_gone(cg, m->member_id);
            cg_unlink(cg, m);
            cmember_free(m);
            m = NULL;
            cg->group_epoch++;
            cg->needs_target = true;
        }
        if (prev) {
            /* A static member returns: it takes over its old self. */
            char *id = mid.len ? dup_str(mid) : NULL;
            if (!id) {
                char buf[64];
                sl_uuid_t u;
                sl_uuid_generate(&u);
                sl_uuid_to_base64(&u, buf);
                id = strdup(buf);
            }
            if (!id) {
                hb_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
                return;
            }
            LOG_INFO("group %s: static member %s rejoined as %s", g->id, prev->instance_id, id);
            if (strcmp(prev->member_id, id) != 0)
                cg_note_gone(cg, prev->member_id);
            free(prev->member_id);
            prev->member_id = id;
            prev->left_static = false;
            m = prev;
        } else {
            if (cg->member_count >= (uint32_t)cfg->group_consumer_max_size ||
                cg->member_count >= SL_GROUP_MAX_MEMBERS) {
                hb_fail(op, KE_GROUP_MAX_SIZE_REACHED, NULL);
                return;
            }
            m = calloc(1, sizeof(*m));
            if (!m) {
                hb_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
                return;
            }
            if (mid.len) {
                m->member_id = dup_str(mid);
            } else {
                char buf[64];
                sl_uuid_t u;
                sl_uuid_generate(&u);
                sl_uuid_to_base64(&u, buf);
                m->member_id = strdup(buf);
            }
            m->instance_id = dup_str(in->instance_id);
            m->state = CM_STABLE;
            if (!m->member_id) {
                cmember_free(m);
                hb_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
                return;
            }
            m->next = cg->members;
            cg->members = m;
            cg->member_count++;
            cg->group_epoch++;
            cg->needs_target = true;
            created = true;
            cg->changes++;
        }
        m->send_assignment = true;
    } else {
        if (!m) {
            hb_fail(op, KE_UNKNOWN_MEMBER_ID, NULL);
            return;
        }
        if (epoch != m->member_epoch) {
            bool lost_response = false;
            if (epoch == m->previous_epoch && in->topic_partitions_count >= 0) {
                cg_set_t owned = {0};
                if (set_from_request(in, &owned) == 0)
                    lost_response = set_subset(&owned, &m->assigned);
                set_free(&owned);
            }
            if (!lost_response) {
                hb_fail(op, KE_FENCED_MEMBER_EPOCH,
                        "The consumer group member has a smaller member epoch than expected.");
                return;
            }
            m->send_assignment = true;
        }
    }
    /* Refresh what the request carries. */
    free(m->client_id);
    m->client_id = dup_str(kp_str_nonnull(op->client_id));
    free(m->client_host);
    m->client_host = strdup(op->client_host);
    if (!kp_str_is_null(in->rack_id)) {
        free(m->rack_id);
        m->rack_id = dup_str(in->rack_id);
    }
    if (in->rebalance_timeout_ms > 0)
        m->rebalance_timeout_ms = in->rebalance_timeout_ms;
    if (!kp_str_is_null(in->server_assignor)) {
        free(m->server_assignor);
        m->server_assignor = dup_str(in->server_assignor);
    }
    const char *msg = NULL;
    int changed = member_update_subscription(m, in, op->version, &msg);
    if (changed < 0) {
        if (created) { /* the join failed: the member never existed */
            cg_unlink(cg, m);
            cmember_free(m);
        }
        hb_fail(op,
                changed == -ENOMEM  ? KE_COORDINATOR_NOT_AVAILABLE
                : changed == -E2BIG ? KE_INVALID_REQUEST
                                    : KE_INVALID_REGULAR_EXPRESSION,
                msg);
        return;
    }
    if (created)
        LOG_INFO("group %s: member %s joined (epoch %d)", g->id, m->member_id, cg->group_epoch);
    if (changed > 0) {
        cg->changes++;
        cg->group_epoch += created ? 0 : 1; /* a join bumped it already */
        cg->needs_target = true;
        full = true;
    }
    m->session_deadline_ns = now + (uint64_t)cfg->group_consumer_session_timeout_ms * 1000000ULL;
    if (cg->needs_target || cg->target_meta_version != c->shard->meta->version) {
        if (cg_compute_target(g) != 0) {
            hb_fail(op, KE_COORDINATOR_NOT_AVAILABLE, "the assignment could not be computed");
            return;
        }
    }
    cg_set_t owned = {0};
    bool has_owned = in->topic_partitions_count >= 0;
    if (has_owned && set_from_request(in, &owned) != 0) {
        hb_fail(op, KE_INVALID_REQUEST, "TopicPartitions too large");
        return;
    }
    int rc = cg_reconcile(g, m, has_owned ? &owned : NULL);
    set_free(&owned);
    if (rc != 0) {
        hb_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
        return;
    }
    size_t id_len = strlen(m->member_id);
    char *id = kp_arena_alloc(&op->arena, id_len + 1);
    if (id)
        memcpy(id, m->member_id, id_len + 1);
    out->member_id = id ? (kp_str_t){id, (int32_t)id_len} : mid;
    out->member_epoch = m->member_epoch;
    out->heartbeat_interval_ms = cfg->group_consumer_heartbeat_interval_ms;
    if (m->send_assignment || full) {
        out->assignment = kp_arena_alloc(&op->arena, sizeof(*out->assignment));
        if (!out->assignment || fill_assignment(op, &m->assigned, out->assignment) != 0) {
            hb_fail(op, KE_COORDINATOR_NOT_AVAILABLE, NULL);
            return;
        }
        m->send_assignment = false;
    }
    cg_maybe_persist(g);
    sl_group_rearm(g);
    sl_gop_finish(op);
}

/* ------------------------------------------------------------ describing */

static int describe_set(sl_gop_t *op, const sl_meta_t *meta, const cg_set_t *s,
                        kp_consumer_group_describe_response_assignment_t *a)
{
    kp_consumer_group_describe_response_assignment_init(a);
    uint32_t topics = 0;
    for (uint32_t i = 0; i < s->n; i++)
        topics += i == 0 || memcmp(s->v[i].topic.b, s->v[i - 1].topic.b, 16) != 0;
    a->topic_partitions = topics ? kp_arena_alloc(&op->arena, topics * sizeof(*a->topic_partitions)) : NULL;
    int32_t *parts = s->n ? kp_arena_alloc(&op->arena, s->n * sizeof(int32_t)) : NULL;
    if ((topics && !a->topic_partitions) || (s->n && !parts))
        return -ENOMEM;
    int32_t t = -1;
    for (uint32_t i = 0; i < s->n; i++) {
        if (i == 0 || memcmp(s->v[i].topic.b, s->v[i - 1].topic.b, 16) != 0) {
            t++;
            kp_consumer_group_describe_response_topic_partitions_t *tp = &a->topic_partitions[t];
            kp_consumer_group_describe_response_topic_partitions_init(tp);
            tp->topic_id = s->v[i].topic;
            const sl_topic_meta_t *tm = sl_meta_find_id(meta, &s->v[i].topic);
            if (tm) {
                char *n = kp_arena_alloc(&op->arena, tm->name_len + 1u);
                if (n) {
                    memcpy(n, tm->name, tm->name_len + 1u);
                    tp->topic_name = (kp_str_t){n, tm->name_len};
                }
            }
            tp->partitions = &parts[i];
        }
        parts[i] = s->v[i].partition;
        a->topic_partitions[t].partitions_count++;
    }
    a->topic_partitions_count = (int32_t)topics;
    return 0;
}

void sl_group_consumer_describe(sl_coord_t *c, sl_gop_t *op)
{
    const kp_str_t *gid = op->in;
    kp_consumer_group_describe_response_groups_t *out = op->out;
    out->group_id = *gid;
    out->group_state = (kp_str_t){"", 0};
    out->assignor_name = (kp_str_t){"", 0};
    sl_group_t *g = gid->len > 0 ? sl_coord_find(c, gid->ptr, (size_t)gid->len) : NULL;
    if (c->shard->stopping) {
        out->error_code = KE_NOT_COORDINATOR;
        sl_gop_finish(op);
        return;
    }
    if (!g || g->state == SL_GROUP_DEAD || !g->cg) {
        out->error_code = KE_GROUP_ID_NOT_FOUND;
        out->error_message = kp_str_from(g && !g->cg ? "Group is not a consumer group."
                                                     : "Group not found.");
        sl_gop_finish(op);
        return;
    }
    sl_cgroup_t *cg = g->cg;
    const sl_meta_t *meta = c->shard->meta;
    out->group_state = kp_str_from(sl_cgroup_state_name(cg));
    out->group_epoch = cg->group_epoch;
    out->assignment_epoch = cg->assignment_epoch;
    out->assignor_name = sl_gop_str(op, cg->assignor[0] ? cg->assignor : cg_assignor(g));
    out->members = cg->member_count
                       ? kp_arena_alloc(&op->arena, cg->member_count * sizeof(*out->members))
                       : NULL;
    if (cg->member_count && !out->members) {
        out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        sl_gop_finish(op);
        return;
    }
    int32_t n = 0;
    for (cmember_t *m = cg->members; m; m = m->next) {
        kp_consumer_group_describe_response_members_t *d = &out->members[n++];
        kp_consumer_group_describe_response_members_init(d);
        d->member_id = sl_gop_str(op, m->member_id);
        d->instance_id = sl_gop_str(op, m->instance_id);
        d->rack_id = sl_gop_str(op, m->rack_id);
        d->member_epoch = m->member_epoch;
        d->client_id = kp_str_nonnull(sl_gop_str(op, m->client_id));
        d->client_host = kp_str_nonnull(sl_gop_str(op, m->client_host));
        d->subscribed_topic_regex = sl_gop_str(op, m->regex);
        d->member_type = 1;
        if (m->subscribed_count) {
            d->subscribed_topic_names = kp_arena_alloc(&op->arena, m->subscribed_count * sizeof(kp_str_t));
            if (d->subscribed_topic_names) {
                for (uint32_t i = 0; i < m->subscribed_count; i++)
                    d->subscribed_topic_names[i] = sl_gop_str(op, m->subscribed[i]);
                d->subscribed_topic_names_count = (int32_t)m->subscribed_count;
            }
        }
        if (describe_set(op, meta, &m->assigned, &d->assignment) != 0 ||
            describe_set(op, meta, &m->target, &d->target_assignment) != 0) {
            out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
            break;
        }
    }
    out->members_count = n;
    sl_gop_finish(op);
}

int32_t sl_cgroup_describe_classic(const sl_cgroup_t *cg, sl_gop_t *op, void *members_out)
{
    kp_describe_groups_response_members_t *ms = members_out;
    int32_t n = 0;
    for (const cmember_t *m = cg->members; m; m = m->next) {
        kp_describe_groups_response_members_t *d = &ms[n++];
        kp_describe_groups_response_members_init(d);
        d->member_id = sl_gop_str(op, m->member_id);
        d->group_instance_id = sl_gop_str(op, m->instance_id);
        d->client_id = kp_str_nonnull(sl_gop_str(op, m->client_id));
        d->client_host = kp_str_nonnull(sl_gop_str(op, m->client_host));
    }
    return n;
}

/* ============================================================ persistence
 *
 * A consumer group's state is written as Kafka's coordinator records (record
 * type: key struct / value struct, all version 0):
 *   3  ConsumerGroupMetadata          group          -> group epoch
 *   5  ConsumerGroupMemberMetadata    group, member  -> ids, client, subscription
 *   6  ConsumerGroupTargetAssignmentMetadata  group  -> assignment epoch
 *   7  ConsumerGroupTargetAssignmentMember    group, member -> target partitions
 *   8  ConsumerGroupCurrentMemberAssignment   group, member -> epochs, state,
 *                                                assigned, pending revocation
 * After every heartbeat or expiry that changed the group, one batch carries all
 * of them for every member (groups are small; writing all keeps loading simple:
 * the last record of each key wins), plus tombstones (null values) of types 5, 7
 * and 8 for members that left. Deleting the group writes tombstones of 3 and 6.
 * The batch is appended without waiting (like a group metadata record): a crash
 * loses at most the last changes, and the members then rejoin.
 */

typedef struct rec_buf {
    uint8_t *key, *value; /* malloc'd; value NULL: tombstone */
    uint32_t key_len, value_len;
} rec_buf_t;

typedef struct rec_list {
    rec_buf_t *v;
    uint32_t n, cap;
    bool failed;
} rec_list_t;

#define ENCODE_PART(buf_out, len_out, prefix, name, msg)                                  \
    do {                                                                                   \
        size_t sz_ = 2 + kp_##name##_size((msg), 0);                                       \
        (buf_out) = malloc(sz_);                                                           \
        if (!(buf_out)) {                                                                  \
            list->failed = true;                                                           \
            break;                                                                         \
        }                                                                                  \
        kp_writer_t w_;                                                                    \
        kp_writer_init(&w_, (buf_out), sz_);                                               \
        kp_write_int16(&w_, (prefix));                                                     \
        kp_##name##_encode(&w_, (msg), 0);                                                 \
        ASSERT(!kp_writer_overflowed(&w_) && kp_writer_total_len(&w_) == sz_);             \
        (len_out) = (uint32_t)sz_;                                                         \
    } while (0)

static rec_buf_t *rec_add(rec_list_t *list)
{
    if (list->n == list->cap) {
        uint32_t cap = list->cap ? list->cap * 2 : 16;
        rec_buf_t *v = realloc(list->v, cap * sizeof(*v));
        if (!v) {
            list->failed = true;
            return NULL;
        }
        list->v = v;
        list->cap = cap;
    }
    rec_buf_t *r = &list->v[list->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

static void rec_list_free(rec_list_t *list)
{
    for (uint32_t i = 0; i < list->n; i++) {
        free(list->v[i].key);
        free(list->v[i].value);
    }
    free(list->v);
}

/* Partitions of a set grouped by topic, in arena memory, as the generated
 * TopicPartitions arrays of records 7 and 8 (same layout: topic id, partitions). */
typedef struct {
    kp_uuid_t topic_id;
    int32_t *partitions;
    int32_t partitions_count;
} tp_group_t;

static tp_group_t *set_groups(const cg_set_t *s, kp_arena_t *a, int32_t *count)
{
    uint32_t topics = 0;
    for (uint32_t i = 0; i < s->n; i++)
        topics += i == 0 || memcmp(s->v[i].topic.b, s->v[i - 1].topic.b, 16) != 0;
    *count = (int32_t)topics;
    if (!topics)
        return NULL;
    tp_group_t *g = kp_arena_alloc(a, topics * sizeof(*g));
    int32_t *parts = kp_arena_alloc(a, s->n * sizeof(int32_t));
    if (!g || !parts) {
        *count = -2;
        return NULL;
    }
    int32_t t = -1;
    for (uint32_t i = 0; i < s->n; i++) {
        if (i == 0 || memcmp(s->v[i].topic.b, s->v[i - 1].topic.b, 16) != 0) {
            t++;
            g[t].topic_id = s->v[i].topic;
            g[t].partitions = &parts[i];
            g[t].partitions_count = 0;
        }
        parts[i] = s->v[i].partition;
        g[t].partitions_count++;
    }
    return g;
}

static void add_member_records(rec_list_t *list, const sl_group_t *g, const cmember_t *m,
                               kp_arena_t *a)
{
    kp_str_t gid = kp_str_from(g->id), mid = kp_str_from(m->member_id);
    /* 5: member metadata */
    rec_buf_t *r = rec_add(list);
    if (!r)
        return;
    kp_consumer_group_member_metadata_key_t mk;
    kp_consumer_group_member_metadata_key_init(&mk);
    mk.group_id = gid;
    mk.member_id = mid;
    ENCODE_PART(r->key, r->key_len, 5, consumer_group_member_metadata_key, &mk);
    kp_consumer_group_member_metadata_value_t mv;
    kp_consumer_group_member_metadata_value_init(&mv);
    mv.instance_id = kp_str_from(m->instance_id);
    mv.rack_id = kp_str_from(m->rack_id);
    mv.client_id = kp_str_from(m->client_id ? m->client_id : "");
    mv.client_host = kp_str_from(m->client_host ? m->client_host : "");
    mv.subscribed_topic_regex = kp_str_from(m->regex);
    mv.rebalance_timeout_ms = m->rebalance_timeout_ms;
    mv.server_assignor = kp_str_from(m->server_assignor);
    if (m->subscribed_count) {
        mv.subscribed_topic_names = kp_arena_alloc(a, m->subscribed_count * sizeof(kp_str_t));
        if (!mv.subscribed_topic_names) {
            list->failed = true;
            return;
        }
        for (uint32_t i = 0; i < m->subscribed_count; i++)
            mv.subscribed_topic_names[i] = kp_str_from(m->subscribed[i]);
        mv.subscribed_topic_names_count = (int32_t)m->subscribed_count;
    }
    ENCODE_PART(r->value, r->value_len, 0, consumer_group_member_metadata_value, &mv);
    /* 7: target assignment */
    if (!(r = rec_add(list)))
        return;
    kp_consumer_group_target_assignment_member_key_t tk;
    kp_consumer_group_target_assignment_member_key_init(&tk);
    tk.group_id = gid;
    tk.member_id = mid;
    ENCODE_PART(r->key, r->key_len, 7, consumer_group_target_assignment_member_key, &tk);
    kp_consumer_group_target_assignment_member_value_t tv;
    kp_consumer_group_target_assignment_member_value_init(&tv);
    int32_t nt = 0;
    tp_group_t *gt = set_groups(&m->target, a, &nt);
    tv.topic_partitions = nt > 0 ? kp_arena_alloc(a, (size_t)nt * sizeof(*tv.topic_partitions)) : NULL;
    if (nt < 0 || (nt > 0 && !tv.topic_partitions)) {
        list->failed = true;
        return;
    }
    for (int32_t i = 0; i < nt; i++) {
        kp_consumer_group_target_assignment_member_value_topic_partitions_init(&tv.topic_partitions[i]);
        tv.topic_partitions[i].topic_id = gt[i].topic_id;
        tv.topic_partitions[i].partitions = gt[i].partitions;
        tv.topic_partitions[i].partitions_count = gt[i].partitions_count;
    }
    tv.topic_partitions_count = nt;
    ENCODE_PART(r->value, r->value_len, 0, consumer_group_target_assignment_member_value, &tv);
    /* 8: current assignment */
    if (!(r = rec_add(list)))
        return;
    kp_consumer_group_current_member_assignment_key_t ck;
    kp_consumer_group_current_member_assignment_key_init(&ck);
    ck.group_id = gid;
    ck.member_id = mid;
    ENCODE_PART(r->key, r->key_len, 8, consumer_group_current_member_assignment_key, &ck);
    kp_consumer_group_current_member_assignment_value_t cv;
    kp_consumer_group_current_member_assignment_value_init(&cv);
    cv.member_epoch = m->member_epoch;
    cv.previous_member_epoch = m->previous_epoch;
    cv.state = (int8_t)m->state;
    int32_t na = 0, nr = 0;
    tp_group_t *ga = set_groups(&m->assigned, a, &na);
    tp_group_t *gr = set_groups(&m->revoking, a, &nr);
    if (na < 0 || nr < 0) {
        list->failed = true;
        return;
    }
    /* The generated element type has an extra tagged array: copy into it. */
    cv.assigned_partitions = na ? kp_arena_alloc(a, (size_t)na * sizeof(*cv.assigned_partitions)) : NULL;
    cv.partitions_pending_revocation =
        nr ? kp_arena_alloc(a, (size_t)nr * sizeof(*cv.partitions_pending_revocation)) : NULL;
    if ((na && !cv.assigned_partitions) || (nr && !cv.partitions_pending_revocation)) {
        list->failed = true;
        return;
    }
    for (int32_t i = 0; i < na; i++) {
        kp_consumer_group_current_member_assignment_value_topic_partitions_init(&cv.assigned_partitions[i]);
        cv.assigned_partitions[i].topic_id = ga[i].topic_id;
        cv.assigned_partitions[i].partitions = ga[i].partitions;
        cv.assigned_partitions[i].partitions_count = ga[i].partitions_count;
    }
    for (int32_t i = 0; i < nr; i++) {
        kp_consumer_group_current_member_assignment_value_topic_partitions_init(
            &cv.partitions_pending_revocation[i]);
        cv.partitions_pending_revocation[i].topic_id = gr[i].topic_id;
        cv.partitions_pending_revocation[i].partitions = gr[i].partitions;
        cv.partitions_pending_revocation[i].partitions_count = gr[i].partitions_count;
    }
    cv.assigned_partitions_count = na;
    cv.partitions_pending_revocation_count = nr;
    ENCODE_PART(r->value, r->value_len, 0, consumer_group_current_member_assignment_value, &cv);
}

static void add_tombstones(rec_list_t *list, const char *group, const char *member)
{
    static const int16_t types[] = {5, 7, 8};
    for (size_t i = 0; i < 3; i++) {
        rec_buf_t *r = rec_add(list);
        if (!r)
            return;
        /* Keys 5, 7 and 8 share one layout: group id, member id. */
        kp_consumer_group_member_metadata_key_t k;
        kp_consumer_group_member_metadata_key_init(&k);
        k.group_id = kp_str_from(group);
        k.member_id = kp_str_from(member);
        ENCODE_PART(r->key, r->key_len, types[i], consumer_group_member_metadata_key, &k);
    }
}

static void cg_written(sl_group_t *g, int err, void *ctx)
{
    (void)ctx;
    if (err)
        LOG_WARN("group %s: writing its consumer group records failed: %d", g->id, err);
}

static int submit_records(sl_group_t *g, rec_list_t *list)
{
    if (list->failed || list->n == 0)
        return list->failed ? -ENOMEM : 0;
    size_t cap = KP_BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < list->n; i++)
        cap += kp_batch_record_size((int32_t)list->v[i].key_len,
                                    list->v[i].value ? (int32_t)list->v[i].value_len : -1, 0,
                                    (int32_t)i) +
               list->v[i].key_len + list->v[i].value_len;
    uint8_t *batch;
    void *block = sl_group_log_alloc(cap, &batch);
    if (!block)
        return -ENOMEM;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    kp_batch_builder_t b;
    kp_batch_builder_init(&b, batch, cap, now);
    for (uint32_t i = 0; i < list->n; i++) {
        int rc = kp_batch_builder_add(&b, list->v[i].key, (int32_t)list->v[i].key_len,
                                      list->v[i].value,
                                      list->v[i].value ? (int32_t)list->v[i].value_len : -1, now);
        ASSERT(rc == 0);
    }
    return sl_group_log_submit(g, block, (uint32_t)kp_batch_builder_finish(&b), cg_written, NULL);
}

/* Writes the whole consumer group (see above) plus tombstones for the members
 * that left since the last write. */
static void cg_persist(sl_group_t *g)
{
    sl_cgroup_t *cg = g->cg;
    rec_list_t storage = {0};
    rec_list_t *list = &storage;
    kp_arena_t a;
    kp_arena_init(&a, 64u << 20);
    rec_buf_t *r = rec_add(list);
    if (r) {
        kp_consumer_group_metadata_key_t k;
        kp_consumer_group_metadata_key_init(&k);
        k.group_id = kp_str_from(g->id);
        kp_consumer_group_metadata_value_t v;
        kp_consumer_group_metadata_value_init(&v);
        v.epoch = cg->group_epoch;
        do {
            ENCODE_PART(r->key, r->key_len, 3, consumer_group_metadata_key, &k);
            ENCODE_PART(r->value, r->value_len, 0, consumer_group_metadata_value, &v);
        } while (0);
    }
    if ((r = rec_add(list))) {
        kp_consumer_group_target_assignment_metadata_key_t k;
        kp_consumer_group_target_assignment_metadata_key_init(&k);
        k.group_id = kp_str_from(g->id);
        kp_consumer_group_target_assignment_metadata_value_t v;
        kp_consumer_group_target_assignment_metadata_value_init(&v);
        v.assignment_epoch = cg->assignment_epoch;
        do {
            ENCODE_PART(r->key, r->key_len, 6, consumer_group_target_assignment_metadata_key, &k);
            ENCODE_PART(r->value, r->value_len, 0, consumer_group_target_assignment_metadata_value,
                        &v);
        } while (0);
    }
    for (cmember_t *m = cg->members; m; m = m->next)
        add_member_records(list, g, m, &a);
    for (uint32_t i = 0; i < cg->gone_count; i++)
        add_tombstones(list, g->id, cg->gone[i]);
    if (submit_records(g, list) != 0)
        LOG_WARN("group %s: its consumer group records were not written", g->id);
    for (uint32_t i = 0; i < cg->gone_count; i++)
        free(cg->gone[i]);
    cg->gone_count = 0;
    cg->persisted_changes = cg->changes;
    rec_list_free(list);
    kp_arena_destroy(&a);
}

static void cg_maybe_persist(sl_group_t *g)
{
    if (g->cg && g->cg->changes != g->cg->persisted_changes)
        cg_persist(g);
}

/* ---------------------------------------------------------------- loading */

static sl_cgroup_t *load_group(sl_coord_t *c, int32_t partition, kp_str_t gid)
{
    if (kp_str_is_null(gid) || gid.len <= 0 || gid.len > SL_GROUP_MAX_ID_BYTES)
        return NULL;
    sl_group_t *g = sl_coord_find(c, gid.ptr, (size_t)gid.len);
    if (g && !g->cg && g->members) {
        LOG_WARN("group %.*s: consumer group records for a classic group with members; skipped",
                 (int)gid.len, gid.ptr);
        return NULL;
    }
    if (!g && !(g = sl_coord_create(c, gid.ptr, (size_t)gid.len, partition)))
        return NULL;
    if (!g->cg) {
        g->cg = calloc(1, sizeof(*g->cg));
        if (!g->cg)
            return NULL;
        free(g->protocol_type);
        g->protocol_type = strdup("consumer");
    }
    return g->cg;
}

static int load_set(cg_set_t *out, const kp_uuid_t *ids, int32_t *const *parts,
                    const int32_t *counts, int32_t n)
{
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += (uint64_t)(counts[i] > 0 ? counts[i] : 0);
    if (total > SL_ASSIGN_MAX_PARTITIONS)
        return -EINVAL;
    cg_set_t s = {malloc((total + 1) * sizeof(cg_tp_t)), 0};
    if (!s.v)
        return -ENOMEM;
    for (int32_t i = 0; i < n; i++)
        for (int32_t k = 0; k < counts[i]; k++)
            s.v[s.n++] = (cg_tp_t){ids[i], parts[i][k]};
    qsort(s.v, s.n, sizeof(*s.v), tp_qcmp);
    set_replace(out, &s);
    return 0;
}

void sl_cgroup_load_record(sl_coord_t *c, int32_t partition, int16_t type, const kp_record_t *rec)
{
    kp_arena_t a;
    kp_arena_init(&a, 64u << 20);
    kp_reader_t kr, vr;
    kp_reader_init(&kr, rec->key + 2, (size_t)rec->key_len - 2);
    int16_t vv = 0;
    if (rec->value) {
        kp_reader_init(&vr, rec->value, (size_t)rec->value_len);
        if (kp_read_int16(&vr, &vv) != 0 || vv != 0)
            goto bad;
    }
    if (type == 3 || type == 6) {
        kp_consumer_group_metadata_key_t k; /* 3 and 6 keys: the group id alone */
        if (kp_consumer_group_metadata_key_decode(&kr, &a, 0, &k) != 0)
            goto bad;
        if (!rec->value) {
            sl_group_t *g = sl_coord_find(c, k.group_id.ptr, (size_t)k.group_id.len);
            if (type == 3 && g && g->cg) {
                sl_cgroup_free(g->cg);
                g->cg = NULL;
                if (g->offset_count == 0) {
                    g->state = SL_GROUP_DEAD; /* loading rebuilds state: no transition */
                    sl_coord_remove(c, g);
                }
            }
            goto done;
        }
        sl_cgroup_t *cg = load_group(c, partition, k.group_id);
        if (!cg)
            goto done;
        if (type == 3) {
            kp_consumer_group_metadata_value_t v;
            if (kp_consumer_group_metadata_value_decode(&vr, &a, 0, &v) != 0)
                goto bad;
            cg->group_epoch = v.epoch;
        } else {
            kp_consumer_group_target_assignment_metadata_value_t v;
            if (kp_consumer_group_target_assignment_metadata_value_decode(&vr, &a, 0, &v) != 0)
                goto bad;
            cg->assignment_epoch = v.assignment_epoch;
        }
        goto done;
    }
    /* 5, 7, 8: keys of group id + member id. */
    kp_consumer_group_member_metadata_key_t k;
    if (kp_consumer_group_member_metadata_key_decode(&kr, &a, 0, &k) != 0 ||
        kp_str_is_null(k.member_id) || k.member_id.len <= 0)
        goto bad;
    sl_group_t *g = sl_coord_find(c, k.group_id.ptr, (size_t)k.group_id.len);
    if (!rec->value) {
        if (type == 5 && g && g->cg) {
            cmember_t *m = cg_member(g->cg, k.member_id);
            if (m) {
                cg_unlink(g->cg, m);
                cmember_free(m);
            }
        }
        goto done;
    }
    sl_cgroup_t *cg = load_group(c, partition, k.group_id);
    if (!cg)
        goto done;
    cmember_t *m = cg_member(cg, k.member_id);
    if (!m) {
        m = calloc(1, sizeof(*m));
        if (!m || !(m->member_id = dup_str(k.member_id))) {
            free(m);
            goto done;
        }
        m->state = CM_STABLE;
        m->next = cg->members;
        cg->members = m;
        cg->member_count++;
        m->session_deadline_ns =
            io_now_ns() + (uint64_t)c->shard->config->group_consumer_session_timeout_ms * 1000000ULL;
    }
    if (type == 5) {
        kp_consumer_group_member_metadata_value_t v;
        if (kp_consumer_group_member_metadata_value_decode(&vr, &a, 0, &v) != 0)
            goto bad;
        kp_consumer_group_heartbeat_request_t fake;
        kp_consumer_group_heartbeat_request_init(&fake);
        fake.subscribed_topic_names = v.subscribed_topic_names;
        fake.subscribed_topic_names_count =
            v.subscribed_topic_names_count >= 0 ? v.subscribed_topic_names_count : 0;
        fake.subscribed_topic_regex = v.subscribed_topic_regex;
        const char *msg = NULL;
        member_clear_subscription(m);
        if (member_update_subscription(m, &fake, 1, &msg) < 0)
            LOG_WARN("group %.*s: member %s: stored subscription unusable: %s",
                     (int)k.group_id.len, k.group_id.ptr, m->member_id, msg ? msg : "?");
        free(m->instance_id);
        free(m->rack_id);
        free(m->client_id);
        free(m->client_host);
        free(m->server_assignor);
        m->instance_id = dup_str(v.instance_id);
        m->rack_id = dup_str(v.rack_id);
        m->client_id = dup_str(kp_str_nonnull(v.client_id));
        m->client_host = dup_str(kp_str_nonnull(v.client_host));
        m->server_assignor = dup_str(v.server_assignor);
        m->rebalance_timeout_ms = v.rebalance_timeout_ms;
    } else if (type == 7) {
        kp_consumer_group_target_assignment_member_value_t v;
        if (kp_consumer_group_target_assignment_member_value_decode(&vr, &a, 0, &v) != 0)
            goto bad;
        int32_t n = v.topic_partitions_count > 0 ? v.topic_partitions_count : 0;
        kp_uuid_t *ids = kp_arena_alloc(&a, (size_t)(n + 1) * sizeof(*ids));
        int32_t **parts = kp_arena_alloc(&a, (size_t)(n + 1) * sizeof(*parts));
        int32_t *counts = kp_arena_alloc(&a, (size_t)(n + 1) * sizeof(*counts));
        if (!ids || !parts || !counts)
            goto done;
        for (int32_t i = 0; i < n; i++) {
            ids[i] = v.topic_partitions[i].topic_id;
            parts[i] = v.topic_partitions[i].partitions;
            counts[i] = v.topic_partitions[i].partitions_count;
        }
        if (load_set(&m->target, ids, parts, counts, n) != 0)
            goto bad;
    } else if (type == 8) {
        kp_consumer_group_current_member_assignment_value_t v;
        if (kp_consumer_group_current_member_assignment_value_decode(&vr, &a, 0, &v) != 0 ||
            v.state < 0 || v.state >= CM_STATE_COUNT)
            goto bad;
        m->member_epoch = v.member_epoch;
        m->previous_epoch = v.previous_member_epoch;
        m->state = (cm_state_t)v.state; /* loading rebuilds state: no transition */
        for (int which = 0; which < 2; which++) {
            kp_consumer_group_current_member_assignment_value_topic_partitions_t *tp =
                which ? v.partitions_pending_revocation : v.assigned_partitions;
            int32_t n = which ? v.partitions_pending_revocation_count : v.assigned_partitions_count;
            n = n > 0 ? n : 0;
            kp_uuid_t *ids = kp_arena_alloc(&a, (size_t)(n + 1) * sizeof(*ids));
            int32_t **parts = kp_arena_alloc(&a, (size_t)(n + 1) * sizeof(*parts));
            int32_t *counts = kp_arena_alloc(&a, (size_t)(n + 1) * sizeof(*counts));
            if (!ids || !parts || !counts)
                goto done;
            for (int32_t i = 0; i < n; i++) {
                ids[i] = tp[i].topic_id;
                parts[i] = tp[i].partitions;
                counts[i] = tp[i].partitions_count;
            }
            if (load_set(which ? &m->revoking : &m->assigned, ids, parts, counts, n) != 0)
                goto bad;
        }
        if (m->state == CM_UNREVOKED)
            m->revoke_deadline_ns = io_now_ns() + (uint64_t)(m->rebalance_timeout_ms > 0
                                                                ? m->rebalance_timeout_ms
                                                                : 300000) * 1000000ULL;
    }
    goto done;
bad:
    LOG_WARN("%s-%d offset %lld: undecodable consumer group record (type %d); skipped",
             SL_GROUP_OFFSETS_TOPIC, partition, (long long)rec->offset, type);
done:
    kp_arena_destroy(&a);
}

int sl_cgroup_write_delete(sl_group_t *g, void (*done)(sl_group_t *g, int err, void *ctx),
                           void *ctx)
{
    rec_list_t storage = {0};
    rec_list_t *list = &storage;
    static const int16_t types[] = {3, 6};
    for (size_t i = 0; i < 2; i++) {
        rec_buf_t *r = rec_add(list);
        if (!r)
            break;
        kp_consumer_group_metadata_key_t k; /* keys 3 and 6: the group id alone */
        kp_consumer_group_metadata_key_init(&k);
        k.group_id = kp_str_from(g->id);
        ENCODE_PART(r->key, r->key_len, types[i], consumer_group_metadata_key, &k);
    }
    for (uint32_t i = 0; g->cg && i < g->cg->gone_count; i++)
        add_tombstones(list, g->id, g->cg->gone[i]);
    int rc = -ENOMEM;
    if (!list->failed) {
        size_t cap = KP_BATCH_HEADER_BYTES;
        for (uint32_t i = 0; i < list->n; i++)
            cap += kp_batch_record_size((int32_t)list->v[i].key_len, -1, 0, (int32_t)i) +
                   list->v[i].key_len;
        uint8_t *batch;
        void *block = sl_group_log_alloc(cap, &batch);
        if (block) {
            kp_batch_builder_t b;
            kp_batch_builder_init(&b, batch, cap, 0);
            for (uint32_t i = 0; i < list->n; i++) {
                int arc = kp_batch_builder_add(&b, list->v[i].key, (int32_t)list->v[i].key_len,
                                               NULL, -1, 0);
                ASSERT(arc == 0);
            }
            rc = sl_group_log_submit(g, block, (uint32_t)kp_batch_builder_finish(&b), done, ctx);
        }
    }
    rec_list_free(list);
    return rc;
}

void sl_cgroup_persist(sl_group_t *g)
{
    if (g->cg)
        cg_persist(g);
}
