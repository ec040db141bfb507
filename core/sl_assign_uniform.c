/* sl_assign_uniform.c — the "uniform" assignor (Kafka's KIP-848 UniformAssignor,
 * following its heterogeneous builder, which also covers homogeneous groups).
 * See sl_assign.h for the contract.
 *
 * Members are numbered by rank = position in member-id order, so every tie
 * broken "by member" is broken by member id and the input order of the members
 * array does not matter. Partitions live in one flat array (topic t's
 * partition p at base[t] + p).
 *
 * Steps, each named for its function:
 *   1. uni_keep_owned     every valid owned partition stays with its owner
 *                         (first claim in rank order wins a conflict);
 *  1b. uni_revoke_over_quota  only when all members subscribe to the same
 *                         topics: members keep at most their quota, the
 *                         larger quotas going to those that kept the most;
 *   2. uni_fill           topics in uni_topic_cmp order; each unassigned
 *                         partition goes to the least loaded subscriber;
 *   3. uni_balance_topic  repeated over the topics until a pass moves nothing
 *                         (at most SL_ASSIGN_UNIFORM_MAX_PASSES): while the most
 *                         loaded subscriber holding a partition of the topic has
 *                         two or more partitions more than the least loaded
 *                         subscriber, move one of them across — a partition
 *                         it did not own before if it has one, else its
 *                         highest-numbered one.
 *
 * Why it balances: in a homogeneous group, steps 1b and 2 leave every member
 * at its quota (P / M or one more) and step 3 has nothing to do. Otherwise, at
 * a fixpoint of step 3 a member holding a partition of topic T has at most one
 * partition more than any subscriber of T, so two members with the same
 * subscriptions differ by at most one (the pass cap can stop pathological
 * chains short of the fixpoint; see SL_ASSIGN_UNIFORM_MAX_PASSES).
 * Why it stops: each move takes a partition from a member with load a to one
 * with load b <= a - 2, lowering the sum of squared loads by 2(a - b - 1) >= 2.
 * Why it is sticky: partitions only leave members that are above the least
 * loaded subscriber by two or more, receivers are least loaded (ties: fewer
 * kept partitions first, so a newcomer is served before an old member), and a
 * partition a member received in this run leaves before one it owned. In a
 * homogeneous group step 1b makes it exact: exactly sum(min(kept, quota))
 * partitions stay put, the most any balanced assignment can keep.
 *
 * Invariants (asserted): loads equal the number of partitions owned; a
 * partition's owner subscribes to its topic (debug checker uni_consistent);
 * after a move in step 3 the receiver's load is at most the giver's. */
#include "sl_base.h"
#include "sl_assign.h"

#include <errno.h>
#include <stdlib.h>

/* A binary heap of member ranks with a position index, ordered "least loaded
 * first" (lo) or "most loaded first" (hi). */
typedef struct uni_heap {
    uint32_t *slot; /* ranks */
    uint32_t *pos;  /* [member_count] rank -> slot index, valid while in the heap */
    uint32_t len;
    bool hi;
} uni_heap_t;

typedef struct uni {
    const sl_assign_input_t *in;
    uint32_t member_count;
    uint32_t *by_id;     /* [M] rank -> input index (and by_static_first after it) */
    uint32_t *base;      /* [T + 1] flat offset of each topic */
    int32_t *owner;      /* [P] current owner rank, -1 unassigned */
    int32_t *prev;       /* [P] owner rank after step 1, -1 none */
    uint32_t *sub_start; /* [T + 1] topic t's subscribers: subs[sub_start[t]..] */
    uint32_t *subs;      /* subscriber ranks, ascending per topic */
    int32_t *load;       /* [M] partitions held */
    int32_t *kept;       /* [M] partitions kept from owned (after step 1) */
    uint32_t *stamp;     /* [T] scratch: rank + 1 of the last subscriber marked */
    uint32_t *order;     /* topics with subscribers, in uni_topic_cmp order */
    uint32_t order_count;
    uni_heap_t lo, hi;
    uint64_t *items;   /* [largest topic] (owner, moved-in, partition) keys */
    uint32_t *grp_beg; /* [M] a member's slice of items */
    uint32_t *grp_end;
} uni_t;

/* --- heaps ------------------------------------------------------------------- */

/* True when member a comes before member b in heap h's order. */
static bool uni_before(const uni_t *u, bool hi, uint32_t a, uint32_t b)
{
    if (u->load[a] != u->load[b])
        return hi ? u->load[a] > u->load[b] : u->load[a] < u->load[b];
    if (u->kept[a] != u->kept[b])
        return hi ? u->kept[a] > u->kept[b] : u->kept[a] < u->kept[b];
    return a < b;
}

static void uni_heap_swap(uni_heap_t *h, uint32_t i, uint32_t j)
{
    uint32_t a = h->slot[i], b = h->slot[j];
    h->slot[i] = b;
    h->slot[j] = a;
    h->pos[b] = i;
    h->pos[a] = j;
}

static void uni_heap_up(const uni_t *u, uni_heap_t *h, uint32_t i)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!uni_before(u, h->hi, h->slot[i], h->slot[parent]))
            break;
        uni_heap_swap(h, i, parent);
        i = parent;
    }
}

static void uni_heap_down(const uni_t *u, uni_heap_t *h, uint32_t i)
{
    for (;;) {
        uint32_t best = i, l = 2 * i + 1, r = 2 * i + 2;
        if (l < h->len && uni_before(u, h->hi, h->slot[l], h->slot[best]))
            best = l;
        if (r < h->len && uni_before(u, h->hi, h->slot[r], h->slot[best]))
            best = r;
        if (best == i)
            return;
        uni_heap_swap(h, i, best);
        i = best;
    }
}

/* Rebuilds h from the subscribers of topic t: all of them when grp_beg is
 * NULL, else those with a non-empty [grp_beg, grp_end) slice. */
static void uni_heap_build(const uni_t *u, uni_heap_t *h, uint32_t t, const uint32_t *grp_beg,
                           const uint32_t *grp_end)
{
    h->len = 0;
    for (uint32_t k = u->sub_start[t]; k < u->sub_start[t + 1]; k++) {
        uint32_t r = u->subs[k];
        if (grp_beg != NULL && grp_end[r] == grp_beg[r])
            continue;
        h->slot[h->len] = r;
        h->pos[r] = h->len;
        h->len++;
    }
    for (uint32_t i = h->len / 2; i-- > 0;)
        uni_heap_down(u, h, i);
}

static void uni_heap_pop(const uni_t *u, uni_heap_t *h)
{
    ASSERT(h->len > 0);
    h->len--;
    if (h->len > 0) {
        uni_heap_swap(h, 0, h->len);
        uni_heap_down(u, h, 0);
    }
}

/* --- topic order --------------------------------------------------------------- */

typedef struct uni_topic_key {
    int64_t partitions;
    int64_t subscribers;
    const char *name;
    uint32_t index;
} uni_topic_key_t;

/* Kafka's order: partitions per subscriber descending, then fewer subscribers
 * first, then name, then index (the index only for equal names). */
static int uni_topic_cmp(const void *a, const void *b)
{
    const uni_topic_key_t *x = a, *y = b;
    int64_t lhs = x->partitions * y->subscribers, rhs = y->partitions * x->subscribers;
    if (lhs != rhs)
        return lhs > rhs ? -1 : 1;
    if (x->subscribers != y->subscribers)
        return x->subscribers < y->subscribers ? -1 : 1;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int uni_topics_order(uni_t *u)
{
    const sl_assign_input_t *in = u->in;
    uni_topic_key_t *keys = malloc(((size_t)in->topic_count + 1) * sizeof(*keys));
    if (keys == NULL)
        return -ENOMEM;
    uint32_t n = 0;
    for (uint32_t t = 0; t < in->topic_count; t++) {
        uint32_t subscribers = u->sub_start[t + 1] - u->sub_start[t];
        if (subscribers == 0)
            continue;
        keys[n++] =
            (uni_topic_key_t){in->topics[t].partition_count, subscribers, in->topics[t].name, t};
    }
    qsort(keys, n, sizeof(*keys), uni_topic_cmp);
    for (uint32_t i = 0; i < n; i++)
        u->order[i] = keys[i].index;
    u->order_count = n;
    free(keys);
    return 0;
}

/* --- set-up ---------------------------------------------------------------------- */

static void uni_free(uni_t *u)
{
    free(u->by_id);
    free(u->base);
    free(u->owner);
    free(u->prev);
    free(u->sub_start);
    free(u->subs);
    free(u->load);
    free(u->kept);
    free(u->stamp);
    free(u->order);
    free(u->lo.slot);
    free(u->lo.pos);
    free(u->hi.slot);
    free(u->hi.pos);
    free(u->items);
    free(u->grp_beg);
    free(u->grp_end);
}

/* Allocates everything sized by the input and lists each topic's subscribers
 * in rank order. Returns 0 or -ENOMEM. */
static int uni_setup(uni_t *u)
{
    const sl_assign_input_t *in = u->in;
    size_t members = u->member_count, topics = (size_t)in->topic_count + 1;

    u->base = malloc(topics * sizeof(*u->base));
    u->sub_start = calloc(topics, sizeof(*u->sub_start));
    u->stamp = calloc(topics, sizeof(*u->stamp));
    u->order = malloc(topics * sizeof(*u->order));
    u->load = calloc(members, sizeof(*u->load));
    u->kept = calloc(members, sizeof(*u->kept));
    u->lo.pos = malloc(members * sizeof(*u->lo.pos));
    u->hi.pos = malloc(members * sizeof(*u->hi.pos));
    u->grp_beg = malloc(members * sizeof(*u->grp_beg));
    u->grp_end = malloc(members * sizeof(*u->grp_end));
    if (u->base == NULL || u->sub_start == NULL || u->stamp == NULL || u->order == NULL ||
        u->load == NULL || u->kept == NULL || u->lo.pos == NULL || u->hi.pos == NULL ||
        u->grp_beg == NULL || u->grp_end == NULL)
        return -ENOMEM;

    sl_assign_topic_bases(in, u->base);
    size_t partitions = (size_t)u->base[in->topic_count] + 1;
    u->owner = malloc(partitions * sizeof(*u->owner));
    u->prev = malloc(partitions * sizeof(*u->prev));
    if (u->owner == NULL || u->prev == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < partitions; i++)
        u->owner[i] = -1;

    /* Subscribers per topic: count, prefix-sum, then fill in rank order. */
    size_t subscriptions = 0;
    for (uint32_t m = 0; m < u->member_count; m++) {
        const sl_assign_member_t *mem = &in->members[m];
        for (uint32_t s = 0; s < mem->subscribed_count; s++)
            u->sub_start[mem->subscribed[s] + 1]++;
        subscriptions += mem->subscribed_count;
    }
    uint32_t largest_topic = 1, most_subscribers = 1;
    for (uint32_t t = 0; t < in->topic_count; t++) {
        uint32_t n = u->sub_start[t + 1];
        most_subscribers = SL_MAX(most_subscribers, n);
        if (n > 0)
            largest_topic = SL_MAX(largest_topic, (uint32_t)in->topics[t].partition_count);
        u->sub_start[t + 1] += u->sub_start[t];
    }
    ASSERT(u->sub_start[in->topic_count] == subscriptions);
    u->subs = malloc((subscriptions + 1) * sizeof(*u->subs));
    u->lo.slot = malloc((size_t)most_subscribers * sizeof(*u->lo.slot));
    u->hi.slot = malloc((size_t)most_subscribers * sizeof(*u->hi.slot));
    u->items = malloc((size_t)largest_topic * sizeof(*u->items));
    if (u->subs == NULL || u->lo.slot == NULL || u->hi.slot == NULL || u->items == NULL)
        return -ENOMEM;
    /* stamp[t] is the fill cursor of topic t here; zeroed again after. */
    for (uint32_t t = 0; t < in->topic_count; t++)
        u->stamp[t] = u->sub_start[t];
    for (uint32_t r = 0; r < u->member_count; r++) {
        const sl_assign_member_t *mem = &in->members[u->by_id[r]];
        for (uint32_t s = 0; s < mem->subscribed_count; s++)
            u->subs[u->stamp[mem->subscribed[s]]++] = r;
    }
    for (uint32_t t = 0; t < in->topic_count; t++) {
        ASSERT(u->stamp[t] == u->sub_start[t + 1]);
        u->stamp[t] = 0;
    }
    u->lo.hi = false;
    u->hi.hi = true;
    return 0;
}

/* --- step 1: keep owned ------------------------------------------------------------ */

static void uni_keep_owned(uni_t *u)
{
    const sl_assign_input_t *in = u->in;
    for (uint32_t r = 0; r < u->member_count; r++) {
        const sl_assign_member_t *mem = &in->members[u->by_id[r]];
        for (uint32_t s = 0; s < mem->subscribed_count; s++)
            u->stamp[mem->subscribed[s]] = r + 1;
        for (uint32_t o = 0; o < mem->owned_count; o++) {
            sl_assign_tp_t tp = mem->owned[o];
            /* Topic index was range-checked by sl_assign_input_check. */
            if (u->stamp[tp.topic] != r + 1)
                continue; /* no longer subscribed */
            if (tp.partition < 0 || tp.partition >= in->topics[tp.topic].partition_count)
                continue; /* partition gone */
            int32_t *o_slot = &u->owner[u->base[tp.topic] + (uint32_t)tp.partition];
            if (*o_slot != -1)
                continue; /* repeat, or an earlier member's claim */
            *o_slot = (int32_t)r;
            u->load[r]++;
        }
        u->kept[r] = u->load[r];
    }
    memcpy(u->prev, u->owner, (size_t)u->base[in->topic_count] * sizeof(*u->prev));
}

/* --- step 1b: quotas when everyone subscribes to the same topics ------------------ */

/* True when every topic with subscribers has all members as subscribers
 * (subscriptions have no repeats, so then every member subscribes to the
 * same set). */
static bool uni_is_homogeneous(const uni_t *u)
{
    for (uint32_t t = 0; t < u->in->topic_count; t++) {
        uint32_t n = u->sub_start[t + 1] - u->sub_start[t];
        if (n != 0 && n != u->member_count)
            return false;
    }
    return true;
}

typedef struct uni_quota_key {
    int32_t kept;
    uint32_t rank;
} uni_quota_key_t;

/* Most kept first; ties by rank. */
static int uni_quota_cmp(const void *a, const void *b)
{
    const uni_quota_key_t *x = a, *y = b;
    if (x->kept != y->kept)
        return x->kept > y->kept ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Homogeneous groups only (Kafka's homogeneous builder, with one change): each
 * member's quota is P / M, and the P % M larger quotas go to the members that
 * kept the most — not to the first members in iteration order as in Kafka — so
 * the fewest partitions have to move. Partitions kept beyond the quota are
 * released (highest topic index and partition first) for step 2; steps 2 and 3
 * then only fill up to the quotas. Returns 0 or -ENOMEM. */
static int uni_revoke_over_quota(uni_t *u)
{
    uint32_t members = u->member_count;
    uint64_t partitions = 0;
    for (uint32_t i = 0; i < u->order_count; i++)
        partitions += (uint64_t)u->in->topics[u->order[i]].partition_count;
    int32_t quota = (int32_t)(partitions / members);
    uint32_t extra = (uint32_t)(partitions % members);

    uni_quota_key_t *keys = malloc(members * sizeof(*keys));
    if (keys == NULL)
        return -ENOMEM;
    for (uint32_t r = 0; r < members; r++)
        keys[r] = (uni_quota_key_t){u->kept[r], r};
    qsort(keys, members, sizeof(*keys), uni_quota_cmp);
    /* grp_end is free until step 3: it holds each member's excess here. */
    uint32_t *excess = u->grp_end;
    for (uint32_t i = 0; i < members; i++) {
        int32_t cap = quota + (i < extra);
        uint32_t r = keys[i].rank;
        excess[r] = u->load[r] > cap ? (uint32_t)(u->load[r] - cap) : 0;
    }
    free(keys);
    for (uint32_t i = u->base[u->in->topic_count]; i-- > 0;) {
        int32_t o = u->owner[i];
        if (o >= 0 && excess[o] > 0) {
            u->owner[i] = -1;
            excess[o]--;
            u->load[o]--;
        }
    }
    return 0;
}

/* --- step 2: fill ------------------------------------------------------------------- */

static void uni_fill(uni_t *u)
{
    for (uint32_t i = 0; i < u->order_count; i++) {
        uint32_t t = u->order[i];
        int32_t *owner = u->owner + u->base[t];
        int32_t partitions = u->in->topics[t].partition_count;
        bool built = false;
        for (int32_t p = 0; p < partitions; p++) {
            if (owner[p] != -1)
                continue;
            if (!built) {
                uni_heap_build(u, &u->lo, t, NULL, NULL);
                built = true;
            }
            ASSERT(u->lo.len > 0);
            uint32_t r = u->lo.slot[0];
            owner[p] = (int32_t)r;
            u->load[r]++;
            uni_heap_down(u, &u->lo, 0);
        }
    }
}

/* --- step 3: balance -------------------------------------------------------------- */

#define UNI_ITEM_MOVED_IN (UINT64_C(1) << 31)
#define UNI_ITEM_PARTITION_MASK (UNI_ITEM_MOVED_IN - 1)

static int uni_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Groups topic t's partitions by owner into u->items, with the partitions an
 * owner did not own before last within its slice (so they leave first). */
static void uni_group_partitions(uni_t *u, uint32_t t)
{
    const int32_t *owner = u->owner + u->base[t];
    const int32_t *prev = u->prev + u->base[t];
    int32_t partitions = u->in->topics[t].partition_count;
    for (int32_t p = 0; p < partitions; p++) {
        ASSERT(owner[p] >= 0);
        uint64_t moved_in = owner[p] != prev[p] ? UNI_ITEM_MOVED_IN : 0;
        u->items[p] = (uint64_t)owner[p] << 32 | moved_in | (uint64_t)p;
    }
    qsort(u->items, (size_t)partitions, sizeof(*u->items), uni_u64_cmp);
    for (uint32_t k = u->sub_start[t]; k < u->sub_start[t + 1]; k++)
        u->grp_beg[u->subs[k]] = u->grp_end[u->subs[k]] = 0;
    for (int32_t i = 0; i < partitions; i++) {
        uint32_t r = (uint32_t)(u->items[i] >> 32);
        if (i == 0 || (uint32_t)(u->items[i - 1] >> 32) != r)
            u->grp_beg[r] = (uint32_t)i;
        u->grp_end[r] = (uint32_t)i + 1;
    }
}

/* Moves partitions of topic t from its most to its least loaded subscribers
 * until no holder is two above the least loaded one. Returns the moves made. */
static uint32_t uni_balance_topic(uni_t *u, uint32_t t)
{
    int32_t lo_load = INT32_MAX, hi_load = INT32_MIN;
    for (uint32_t k = u->sub_start[t]; k < u->sub_start[t + 1]; k++) {
        lo_load = SL_MIN(lo_load, u->load[u->subs[k]]);
        hi_load = SL_MAX(hi_load, u->load[u->subs[k]]);
    }
    if (hi_load - lo_load <= 1)
        return 0;

    uni_group_partitions(u, t);
    uni_heap_build(u, &u->lo, t, NULL, NULL);
    uni_heap_build(u, &u->hi, t, u->grp_beg, u->grp_end);
    int32_t *owner = u->owner + u->base[t];
    uint32_t moves = 0;
    while (u->hi.len > 0) {
        uint32_t from = u->hi.slot[0], to = u->lo.slot[0];
        if (u->load[from] - u->load[to] < 2)
            break;
        ASSERT(from != to && u->grp_end[from] > u->grp_beg[from]);
        uint32_t p = (uint32_t)(u->items[--u->grp_end[from]] & UNI_ITEM_PARTITION_MASK);
        ASSERT(owner[p] == (int32_t)from);
        owner[p] = (int32_t)to;
        u->load[from]--;
        u->load[to]++;
        ASSERT(u->load[to] <= u->load[from]);
        moves++;
        /* `to` never gives in this call: its load stays <= the new minimum + 1. */
        if (u->grp_end[from] == u->grp_beg[from])
            uni_heap_pop(u, &u->hi);
        else
            uni_heap_down(u, &u->hi, 0);
        uni_heap_down(u, &u->lo, 0);
        uni_heap_up(u, &u->lo, u->lo.pos[from]);
    }
    return moves;
}

static void uni_balance(uni_t *u)
{
    for (uint32_t pass = 0; pass < SL_ASSIGN_UNIFORM_MAX_PASSES; pass++) {
        uint32_t moves = 0;
        for (uint32_t i = 0; i < u->order_count; i++) {
            uint32_t t = u->order[i];
            if (u->sub_start[t + 1] - u->sub_start[t] >= 2)
                moves += uni_balance_topic(u, t);
        }
        if (moves == 0)
            return;
    }
}

#ifndef NDEBUG /* used only by DEBUG_ASSERT */
/* Full checker: loads match ownership and every owner subscribes to the
 * topic; partitions are unassigned only in topics without subscribers. */
static bool uni_consistent(const uni_t *u)
{
    const sl_assign_input_t *in = u->in;
    int32_t *count = calloc(u->member_count, sizeof(*count));
    uint32_t *mark = calloc(u->member_count, sizeof(*mark));
    bool ok = true;
    if (count == NULL || mark == NULL)
        goto out_free; /* cannot check; not a verdict */
    for (uint32_t t = 0; t < in->topic_count; t++) {
        for (uint32_t k = u->sub_start[t]; k < u->sub_start[t + 1]; k++)
            mark[u->subs[k]] = t + 1;
        bool has_subscribers = u->sub_start[t + 1] > u->sub_start[t];
        for (uint32_t i = u->base[t]; i < u->base[t + 1]; i++) {
            int32_t o = u->owner[i];
            if (o < 0) {
                ok = ok && !has_subscribers;
                continue;
            }
            count[o]++;
            ok = ok && mark[o] == t + 1;
        }
    }
    for (uint32_t r = 0; r < u->member_count; r++)
        ok = ok && count[r] == u->load[r];
out_free:
    free(mark);
    free(count);
    return ok;
}
#endif

int sl_assign_uniform(const sl_assign_input_t *in, sl_assign_output_t *out)
{
    ASSERT(in != NULL && out != NULL);
    out->members = NULL;
    out->mem = NULL;

    uni_t u = {.in = in, .member_count = in->member_count};
    size_t slots = in->member_count > 0 ? in->member_count : 1;
    u.by_id = malloc(2 * slots * sizeof(*u.by_id));
    if (u.by_id == NULL)
        return -ENOMEM;
    int rc = sl_assign_input_check(in, u.by_id, u.by_id + slots);
    if (rc != 0 || in->member_count == 0)
        goto out_free;
    rc = uni_setup(&u);
    if (rc != 0)
        goto out_free;
    rc = uni_topics_order(&u);
    if (rc != 0)
        goto out_free;

    uni_keep_owned(&u);
    if (uni_is_homogeneous(&u)) {
        rc = uni_revoke_over_quota(&u);
        if (rc != 0)
            goto out_free;
    }
    uni_fill(&u);
    uni_balance(&u);
    DEBUG_ASSERT(uni_consistent(&u));

    /* Ranks back to input indexes for the output. */
    for (uint32_t i = 0; i < u.base[in->topic_count]; i++) {
        if (u.owner[i] >= 0)
            u.owner[i] = (int32_t)u.by_id[u.owner[i]];
    }
    rc = sl_assign_output_build(in, u.base, u.owner, out);
    DEBUG_ASSERT(rc != 0 || sl_assign_output_verify(in, out) != -EINVAL);
out_free:
    uni_free(&u);
    return rc;
}
