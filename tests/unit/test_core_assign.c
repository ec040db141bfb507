/* Unit tests for core/sl_assign: the KIP-848 "uniform" and "range" assignors —
 * coverage, balance, stickiness under churn, determinism, bad input, timing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sl_assign.h"

/* --- a small group builder ---------------------------------------------------- */

#define TG_MAX_TOPICS 64

typedef struct tmember {
    uint32_t uid; /* stable across removals of other members */
    char id[48];
    char inst[48];
    bool is_static;
    int32_t subs[TG_MAX_TOPICS];
    uint32_t sub_count;
    sl_assign_tp_t *owned;
    uint32_t owned_count, owned_cap;
} tmember_t;

typedef struct tgroup {
    sl_assign_topic_t topics[TG_MAX_TOPICS];
    char names[TG_MAX_TOPICS][16];
    uint32_t topic_count;
    tmember_t *m;
    uint32_t member_count, member_cap, next_uid;
    sl_assign_member_t *view;
} tgroup_t;

static void tg_init(tgroup_t *g)
{
    memset(g, 0, sizeof(*g));
}

static void tg_fini(tgroup_t *g)
{
    for (uint32_t i = 0; i < g->member_count; i++)
        free(g->m[i].owned);
    free(g->m);
    free(g->view);
    memset(g, 0, sizeof(*g));
}

static int32_t tg_topic(tgroup_t *g, int32_t partitions)
{
    cr_assert_lt(g->topic_count, TG_MAX_TOPICS);
    uint32_t t = g->topic_count++;
    snprintf(g->names[t], sizeof(g->names[t]), "topic-%02u", t);
    g->topics[t] = (sl_assign_topic_t){g->names[t], partitions};
    return (int32_t)t;
}

static uint32_t tg_member(tgroup_t *g, const char *id)
{
    if (g->member_count == g->member_cap) {
        g->member_cap = g->member_cap ? 2 * g->member_cap : 16;
        g->m = realloc(g->m, g->member_cap * sizeof(*g->m));
        g->view = realloc(g->view, g->member_cap * sizeof(*g->view));
        cr_assert(g->m != NULL && g->view != NULL);
    }
    uint32_t i = g->member_count++;
    memset(&g->m[i], 0, sizeof(g->m[i]));
    g->m[i].uid = g->next_uid++;
    snprintf(g->m[i].id, sizeof(g->m[i].id), "%s", id);
    return i;
}

static void tg_static(tgroup_t *g, uint32_t m, const char *instance)
{
    g->m[m].is_static = true;
    snprintf(g->m[m].inst, sizeof(g->m[m].inst), "%s", instance);
}

static void tg_subscribe(tgroup_t *g, uint32_t m, int32_t t)
{
    cr_assert_lt(g->m[m].sub_count, TG_MAX_TOPICS);
    g->m[m].subs[g->m[m].sub_count++] = t;
}

static void tg_subscribe_all(tgroup_t *g, uint32_t m)
{
    for (uint32_t t = 0; t < g->topic_count; t++)
        tg_subscribe(g, m, (int32_t)t);
}

static void tg_own(tgroup_t *g, uint32_t m, int32_t t, int32_t p)
{
    tmember_t *mm = &g->m[m];
    if (mm->owned_count == mm->owned_cap) {
        mm->owned_cap = mm->owned_cap ? 2 * mm->owned_cap : 8;
        mm->owned = realloc(mm->owned, mm->owned_cap * sizeof(*mm->owned));
        cr_assert_not_null(mm->owned);
    }
    mm->owned[mm->owned_count++] = (sl_assign_tp_t){t, p};
}

static void tg_remove(tgroup_t *g, uint32_t m)
{
    free(g->m[m].owned);
    memmove(&g->m[m], &g->m[m + 1], (g->member_count - m - 1) * sizeof(*g->m));
    g->member_count--;
}

static sl_assign_input_t tg_input(tgroup_t *g)
{
    for (uint32_t i = 0; i < g->member_count; i++) {
        tmember_t *mm = &g->m[i];
        g->view[i] = (sl_assign_member_t){mm->id,    mm->is_static ? mm->inst : NULL,
                                          mm->subs,  mm->sub_count,
                                          mm->owned, mm->owned_count};
    }
    return (sl_assign_input_t){g->topics, g->topic_count, g->view, g->member_count};
}

/* Every member's owned list := its part of `out` (computed for the same members). */
static void tg_adopt(tgroup_t *g, const sl_assign_output_t *out)
{
    for (uint32_t i = 0; i < g->member_count; i++) {
        g->m[i].owned_count = 0;
        for (uint32_t k = 0; k < out->members[i].count; k++)
            tg_own(g, i, out->members[i].tps[k].topic, out->members[i].tps[k].partition);
    }
}

static uint32_t tg_partitions(const tgroup_t *g)
{
    uint32_t n = 0;
    for (uint32_t t = 0; t < g->topic_count; t++)
        n += (uint32_t)g->topics[t].partition_count;
    return n;
}

static uint32_t tg_flat(const tgroup_t *g, int32_t t, int32_t p)
{
    uint32_t base = 0;
    for (int32_t i = 0; i < t; i++)
        base += (uint32_t)g->topics[i].partition_count;
    return base + (uint32_t)p;
}

/* owner_uid[flat] = uid of the member owning the partition in `out`, or -1. */
static int64_t *tg_owner_uids(const tgroup_t *g, const sl_assign_output_t *out)
{
    uint32_t n = tg_partitions(g);
    int64_t *map = malloc((n + 1) * sizeof(*map));
    cr_assert_not_null(map);
    for (uint32_t i = 0; i < n; i++)
        map[i] = -1;
    for (uint32_t m = 0; m < g->member_count; m++) {
        for (uint32_t k = 0; k < out->members[m].count; k++) {
            sl_assign_tp_t tp = out->members[m].tps[k];
            map[tg_flat(g, tp.topic, tp.partition)] = g->m[m].uid;
        }
    }
    return map;
}

/* True when two member results hold the same partitions. */
static bool same_tps(const sl_assign_member_result_t *a, const sl_assign_member_result_t *b)
{
    if (a->count != b->count)
        return false;
    return a->count == 0 || memcmp(a->tps, b->tps, a->count * sizeof(*a->tps)) == 0;
}

/* Runs `fn`, asserts success and the output guarantees. */
static void tg_assign(tgroup_t *g, sl_assignor_fn fn, sl_assign_output_t *out)
{
    sl_assign_input_t in = tg_input(g);
    cr_assert_eq(fn(&in, out), 0);
    cr_assert_eq(sl_assign_output_verify(&in, out), 0);
}

static bool tg_subscribes(const tgroup_t *g, uint32_t m, int32_t t)
{
    for (uint32_t s = 0; s < g->m[m].sub_count; s++)
        if (g->m[m].subs[s] == t)
            return true;
    return false;
}

static bool tg_same_subscriptions(const tgroup_t *g, uint32_t a, uint32_t b)
{
    if (g->m[a].sub_count != g->m[b].sub_count)
        return false;
    for (uint32_t s = 0; s < g->m[a].sub_count; s++)
        if (!tg_subscribes(g, b, g->m[a].subs[s]))
            return false;
    return true;
}

/* Uniform balance: identical subscriptions differ by <= 1, and every holder of
 * a partition of topic T is at most one above the least loaded subscriber of T. */
static void tg_check_uniform_balance(const tgroup_t *g, const sl_assign_output_t *out)
{
    for (uint32_t a = 0; a < g->member_count; a++) {
        for (uint32_t b = a + 1; b < g->member_count; b++) {
            if (!tg_same_subscriptions(g, a, b))
                continue;
            int64_t d = (int64_t)out->members[a].count - (int64_t)out->members[b].count;
            cr_assert(d >= -1 && d <= 1, "members %s and %s: %u vs %u partitions", g->m[a].id,
                      g->m[b].id, out->members[a].count, out->members[b].count);
        }
    }
    for (uint32_t t = 0; t < g->topic_count; t++) {
        uint32_t least = UINT32_MAX;
        for (uint32_t m = 0; m < g->member_count; m++)
            if (tg_subscribes(g, m, (int32_t)t))
                least = SL_MIN(least, out->members[m].count);
        for (uint32_t m = 0; m < g->member_count; m++) {
            bool holds = false;
            for (uint32_t k = 0; k < out->members[m].count; k++)
                holds = holds || out->members[m].tps[k].topic == (int32_t)t;
            if (holds)
                cr_assert_leq(out->members[m].count, least + 1, "topic %u member %s", t,
                              g->m[m].id);
        }
    }
}

/* --- a fixed-seed PRNG ------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rng_next(uint32_t bound)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return bound ? (uint32_t)(rng_state % bound) : 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* --- dispatch, empty and trivial inputs -------------------------------------------- */

Test(assign, finds_assignors_by_kafka_name)
{
    cr_assert_eq(sl_assignor_find("uniform"), sl_assign_uniform);
    cr_assert_eq(sl_assignor_find("range"), sl_assign_range);
    cr_assert_null(sl_assignor_find("roundrobin"));
    cr_assert_null(sl_assignor_find("Uniform"));
    cr_assert_null(sl_assignor_find(""));
    cr_assert_null(sl_assignor_find(NULL));
}

Test(assign, empty_group_gives_empty_output)
{
    sl_assignor_fn fns[] = {sl_assign_uniform, sl_assign_range};
    for (size_t f = 0; f < 2; f++) {
        sl_assign_input_t in = {0};
        sl_assign_output_t out = {(void *)1, (void *)1};
        cr_assert_eq(fns[f](&in, &out), 0);
        cr_assert_null(out.members);
        sl_assign_output_free(&out);
        sl_assign_output_free(&out); /* idempotent on a zeroed output */

        tgroup_t g;
        tg_init(&g);
        tg_topic(&g, 5);
        in = tg_input(&g);
        cr_assert_eq(fns[f](&in, &out), 0);
        cr_assert_null(out.members);
        tg_fini(&g);
    }
}

Test(assign, members_without_topics_or_subscriptions_get_nothing)
{
    sl_assignor_fn fns[] = {sl_assign_uniform, sl_assign_range};
    for (size_t f = 0; f < 2; f++) {
        tgroup_t g;
        tg_init(&g);
        tg_member(&g, "a");
        tg_member(&g, "b");
        sl_assign_output_t out;
        tg_assign(&g, fns[f], &out); /* no topics at all */
        cr_assert_eq(out.members[0].count, 0);
        cr_assert_eq(out.members[1].count, 0);
        cr_assert_null(out.members[0].tps);
        sl_assign_output_free(&out);

        int32_t t = tg_topic(&g, 4);
        tg_own(&g, 0, t, 1); /* owned but not subscribed: dropped */
        tg_assign(&g, fns[f], &out);
        cr_assert_eq(out.members[0].count + out.members[1].count, 0);
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

Test(assign, one_member_gets_every_subscribed_partition)
{
    sl_assignor_fn fns[] = {sl_assign_uniform, sl_assign_range};
    for (size_t f = 0; f < 2; f++) {
        tgroup_t g;
        tg_init(&g);
        int32_t t0 = tg_topic(&g, 3), t1 = tg_topic(&g, 0), t2 = tg_topic(&g, 2);
        tg_topic(&g, 7); /* nobody subscribes: stays unassigned */
        uint32_t m = tg_member(&g, "solo");
        tg_subscribe(&g, m, t2);
        tg_subscribe(&g, m, t0);
        tg_subscribe(&g, m, t1);
        sl_assign_output_t out;
        tg_assign(&g, fns[f], &out);
        cr_assert_eq(out.members[0].count, 5);
        sl_assign_tp_t want[] = {{0, 0}, {0, 1}, {0, 2}, {2, 0}, {2, 1}};
        for (int k = 0; k < 5; k++) {
            cr_assert_eq(out.members[0].tps[k].topic, want[k].topic);
            cr_assert_eq(out.members[0].tps[k].partition, want[k].partition);
        }
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

Test(assign, more_members_than_partitions_leaves_some_members_empty)
{
    sl_assignor_fn fns[] = {sl_assign_uniform, sl_assign_range};
    for (size_t f = 0; f < 2; f++) {
        tgroup_t g;
        tg_init(&g);
        tg_topic(&g, 3);
        char id[48];
        for (int i = 0; i < 7; i++) {
            snprintf(id, sizeof(id), "m%d", i);
            tg_subscribe_all(&g, tg_member(&g, id));
        }
        sl_assign_output_t out;
        tg_assign(&g, fns[f], &out);
        uint32_t with_one = 0;
        for (int i = 0; i < 7; i++) {
            cr_assert_leq(out.members[i].count, 1);
            with_one += out.members[i].count;
        }
        cr_assert_eq(with_one, 3);
        if (fns[f] == sl_assign_range) { /* the first three by member id */
            for (int i = 0; i < 3; i++) {
                cr_assert_eq(out.members[i].count, 1);
                cr_assert_eq(out.members[i].tps[0].partition, i);
            }
        }
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

/* --- range ------------------------------------------------------------------------- */

Test(range, gives_contiguous_ranges_with_extras_to_the_first_members)
{
    tgroup_t g;
    tg_init(&g);
    tg_topic(&g, 11);
    /* Added out of order: range order is by member id. */
    tg_subscribe_all(&g, tg_member(&g, "c"));
    tg_subscribe_all(&g, tg_member(&g, "a"));
    tg_subscribe_all(&g, tg_member(&g, "b"));
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_range, &out);
    /* a: 0-3, b: 4-7, c: 8-10 */
    cr_assert_eq(out.members[1].count, 4);
    cr_assert_eq(out.members[1].tps[0].partition, 0);
    cr_assert_eq(out.members[1].tps[3].partition, 3);
    cr_assert_eq(out.members[2].count, 4);
    cr_assert_eq(out.members[2].tps[0].partition, 4);
    cr_assert_eq(out.members[0].count, 3);
    cr_assert_eq(out.members[0].tps[0].partition, 8);
    cr_assert_eq(out.members[0].tps[2].partition, 10);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(range, co_partitions_topics_with_equal_partition_counts)
{
    /* Kafka's example: M0, M1; T1, T2 with 3 partitions each. */
    tgroup_t g;
    tg_init(&g);
    int32_t t1 = tg_topic(&g, 3), t2 = tg_topic(&g, 3);
    uint32_t m1 = tg_member(&g, "M1"), m0 = tg_member(&g, "M0");
    tg_subscribe(&g, m1, t2);
    tg_subscribe(&g, m1, t1);
    tg_subscribe(&g, m0, t1);
    tg_subscribe(&g, m0, t2);
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_range, &out);
    sl_assign_tp_t want0[] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    sl_assign_tp_t want1[] = {{0, 2}, {1, 2}};
    cr_assert_eq(out.members[m0].count, 4);
    cr_assert_eq(out.members[m1].count, 2);
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(out.members[m0].tps[k].topic, want0[k].topic);
        cr_assert_eq(out.members[m0].tps[k].partition, want0[k].partition);
    }
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(out.members[m1].tps[k].topic, want1[k].topic);
        cr_assert_eq(out.members[m1].tps[k].partition, want1[k].partition);
    }
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(range, orders_static_members_first_by_instance_id)
{
    tgroup_t g;
    tg_init(&g);
    tg_topic(&g, 4);
    uint32_t a = tg_member(&g, "a"), z = tg_member(&g, "z"), y = tg_member(&g, "y");
    tg_subscribe_all(&g, a);
    tg_subscribe_all(&g, z);
    tg_subscribe_all(&g, y);
    tg_static(&g, z, "instance-1");
    tg_static(&g, y, "instance-2");
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_range, &out);
    /* z (instance-1): 0-1, y (instance-2): 2, a (dynamic): 3 */
    cr_assert_eq(out.members[z].count, 2);
    cr_assert_eq(out.members[z].tps[0].partition, 0);
    cr_assert_eq(out.members[y].count, 1);
    cr_assert_eq(out.members[y].tps[0].partition, 2);
    cr_assert_eq(out.members[a].count, 1);
    cr_assert_eq(out.members[a].tps[0].partition, 3);
    sl_assign_output_free(&out);

    /* A static member rejoining under a new member id keeps its range. */
    snprintf(g.m[z].id, sizeof(g.m[z].id), "%s", "b-new-id");
    tg_assign(&g, sl_assign_range, &out);
    cr_assert_eq(out.members[z].count, 2);
    cr_assert_eq(out.members[z].tps[0].partition, 0);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(range, heterogeneous_subscriptions_range_each_topic_over_its_subscribers)
{
    tgroup_t g;
    tg_init(&g);
    int32_t t0 = tg_topic(&g, 5), t1 = tg_topic(&g, 2);
    uint32_t a = tg_member(&g, "a"), b = tg_member(&g, "b"), c = tg_member(&g, "c");
    tg_subscribe(&g, a, t0);
    tg_subscribe(&g, b, t0);
    tg_subscribe(&g, b, t1);
    tg_subscribe(&g, c, t1);
    tg_own(&g, c, t0, 0); /* owned is not consulted by range */
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_range, &out);
    /* t0 over a, b: a 0-2, b 3-4. t1 over b, c: b 0, c 1. */
    cr_assert_eq(out.members[a].count, 3);
    cr_assert_eq(out.members[b].count, 3);
    cr_assert_eq(out.members[b].tps[0].topic, t0);
    cr_assert_eq(out.members[b].tps[0].partition, 3);
    cr_assert_eq(out.members[b].tps[2].topic, t1);
    cr_assert_eq(out.members[b].tps[2].partition, 0);
    cr_assert_eq(out.members[c].count, 1);
    cr_assert_eq(out.members[c].tps[0].partition, 1);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(range, random_inputs_keep_the_range_properties)
{
    rng_state = 0x5eed0001;
    for (int iter = 0; iter < 300; iter++) {
        tgroup_t g;
        tg_init(&g);
        uint32_t topics = 1 + rng_next(6), members = 1 + rng_next(12);
        for (uint32_t t = 0; t < topics; t++)
            tg_topic(&g, (int32_t)rng_next(20));
        char id[48];
        for (uint32_t i = 0; i < members; i++) {
            snprintf(id, sizeof(id), "m-%02u", rng_next(1000) * 100 + i);
            uint32_t m = tg_member(&g, id);
            if (rng_next(3) == 0) {
                snprintf(id, sizeof(id), "i-%02u", i);
                tg_static(&g, m, id);
            }
            for (uint32_t t = 0; t < topics; t++)
                if (rng_next(2))
                    tg_subscribe(&g, m, (int32_t)t);
        }
        sl_assign_output_t out;
        tg_assign(&g, sl_assign_range, &out);
        /* Per topic: counts are P/N or P/N+1, and each member's slice is contiguous. */
        for (uint32_t t = 0; t < topics; t++) {
            uint32_t n = 0;
            for (uint32_t m = 0; m < members; m++)
                n += tg_subscribes(&g, m, (int32_t)t);
            if (n == 0)
                continue;
            uint32_t p = (uint32_t)g.topics[t].partition_count;
            for (uint32_t m = 0; m < members; m++) {
                if (!tg_subscribes(&g, m, (int32_t)t))
                    continue;
                int32_t first = -1, last = -1;
                uint32_t c = 0;
                for (uint32_t k = 0; k < out.members[m].count; k++) {
                    if (out.members[m].tps[k].topic != (int32_t)t)
                        continue;
                    if (first < 0)
                        first = out.members[m].tps[k].partition;
                    last = out.members[m].tps[k].partition;
                    c++;
                }
                cr_assert(c == p / n || c == p / n + 1);
                cr_assert(c == 0 || (uint32_t)(last - first + 1) == c);
            }
        }
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

/* --- uniform --------------------------------------------------------------------------- */

Test(uniform, spreads_a_fresh_group_round_robin_by_member_id)
{
    tgroup_t g;
    tg_init(&g);
    tg_topic(&g, 7);
    tg_subscribe_all(&g, tg_member(&g, "b"));
    tg_subscribe_all(&g, tg_member(&g, "c"));
    tg_subscribe_all(&g, tg_member(&g, "a"));
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_uniform, &out);
    /* a: 0 3 6, b: 1 4, c: 2 5 */
    cr_assert_eq(out.members[2].count, 3);
    cr_assert_eq(out.members[2].tps[0].partition, 0);
    cr_assert_eq(out.members[2].tps[1].partition, 3);
    cr_assert_eq(out.members[2].tps[2].partition, 6);
    cr_assert_eq(out.members[0].count, 2);
    cr_assert_eq(out.members[0].tps[0].partition, 1);
    cr_assert_eq(out.members[1].count, 2);
    cr_assert_eq(out.members[1].tps[1].partition, 5);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(uniform, keeps_a_balanced_current_assignment_unchanged)
{
    tgroup_t g;
    tg_init(&g);
    tg_topic(&g, 6);
    uint32_t a = tg_member(&g, "a"), b = tg_member(&g, "b");
    tg_subscribe_all(&g, a);
    tg_subscribe_all(&g, b);
    for (int p = 0; p < 3; p++) {
        tg_own(&g, a, 0, 5 - p); /* owned lists in any order */
        tg_own(&g, b, 0, p);
    }
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_uniform, &out);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(out.members[a].tps[k].partition, 3 + k);
        cr_assert_eq(out.members[b].tps[k].partition, k);
    }
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(uniform, ignores_owned_entries_for_vanished_partitions_and_unsubscribed_topics)
{
    tgroup_t g;
    tg_init(&g);
    int32_t t0 = tg_topic(&g, 4), t1 = tg_topic(&g, 2), t2 = tg_topic(&g, 0);
    uint32_t a = tg_member(&g, "a"), b = tg_member(&g, "b");
    tg_subscribe(&g, a, t0);
    tg_subscribe(&g, a, t2);
    tg_subscribe(&g, b, t0);
    tg_subscribe(&g, b, t1);
    tg_own(&g, a, t0, 0);
    tg_own(&g, a, t0, 0);  /* repeated */
    tg_own(&g, a, t0, 9);  /* partition gone */
    tg_own(&g, a, t0, -1); /* nonsense partition */
    tg_own(&g, a, t1, 0);  /* not subscribed any more */
    tg_own(&g, a, t2, 0);  /* topic now has no partitions */
    tg_own(&g, b, t0, 1);
    tg_own(&g, b, t0, 0); /* also claimed by a: the smaller member id keeps it */
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_uniform, &out);
    /* a keeps t0:0 and b keeps t0:1; t1 (fewer subscribers per partition
     * ratio tie, fewer subscribers) goes to b, then t0:2-3 to the lighter a. */
    cr_assert_eq(out.members[a].count, 3);
    cr_assert_eq(out.members[a].tps[0].topic, t0);
    cr_assert_eq(out.members[a].tps[0].partition, 0);
    cr_assert_eq(out.members[b].count, 3);
    bool b_kept_1 = false;
    for (uint32_t k = 0; k < out.members[b].count; k++)
        b_kept_1 =
            b_kept_1 || (out.members[b].tps[k].topic == t0 && out.members[b].tps[k].partition == 1);
    cr_assert(b_kept_1);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(uniform, balances_heterogeneous_subscriptions_as_kafka_does)
{
    /* a: t0; b: t0 t1; c: t1; 6 partitions each. From scratch: 4 each. */
    tgroup_t g;
    tg_init(&g);
    int32_t t0 = tg_topic(&g, 6), t1 = tg_topic(&g, 6);
    uint32_t a = tg_member(&g, "a"), b = tg_member(&g, "b"), c = tg_member(&g, "c");
    tg_subscribe(&g, a, t0);
    tg_subscribe(&g, b, t0);
    tg_subscribe(&g, b, t1);
    tg_subscribe(&g, c, t1);
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_uniform, &out);
    cr_assert_eq(out.members[a].count, 4);
    cr_assert_eq(out.members[b].count, 4);
    cr_assert_eq(out.members[c].count, 4);
    tg_check_uniform_balance(&g, &out);
    sl_assign_output_free(&out);

    /* From a skewed state (b holds everything) Kafka's per-topic balancing
     * stops at a fixpoint that is balanced per topic but not globally
     * (Kafka documents 9/10/11 for such chains): here 5/4/3. */
    for (int p = 0; p < 6; p++) {
        tg_own(&g, b, t0, p);
        tg_own(&g, b, t1, p);
    }
    tg_assign(&g, sl_assign_uniform, &out);
    tg_check_uniform_balance(&g, &out);
    cr_assert_eq(out.members[a].count, 5);
    cr_assert_eq(out.members[b].count, 4);
    cr_assert_eq(out.members[c].count, 3);
    sl_assign_output_free(&out);

    /* A member that is the only subscriber of a topic gets all of it. */
    int32_t t2 = tg_topic(&g, 9);
    uint32_t d = tg_member(&g, "d");
    tg_subscribe(&g, d, t2);
    tg_assign(&g, sl_assign_uniform, &out);
    cr_assert_eq(out.members[d].count, 9);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(uniform, new_member_of_one_topic_takes_only_that_topic_from_its_subscribers)
{
    tgroup_t g;
    tg_init(&g);
    int32_t t0 = tg_topic(&g, 8), t1 = tg_topic(&g, 8);
    uint32_t a = tg_member(&g, "a"), b = tg_member(&g, "b");
    tg_subscribe_all(&g, a);
    tg_subscribe_all(&g, b);
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_uniform, &out);
    tg_adopt(&g, &out);
    int64_t *before = tg_owner_uids(&g, &out);
    sl_assign_output_free(&out);

    uint32_t c = tg_member(&g, "c");
    tg_subscribe(&g, c, t1);
    tg_assign(&g, sl_assign_uniform, &out);
    int64_t *after = tg_owner_uids(&g, &out);
    /* 16 partitions over 3 members: c gets 5 of t1; nothing else changes hands. */
    cr_assert_eq(out.members[c].count, 5);
    uint32_t moved = 0;
    for (uint32_t i = 0; i < tg_partitions(&g); i++) {
        if (before[i] != after[i]) {
            cr_assert_eq(after[i], g.m[c].uid);
            moved++;
        }
    }
    cr_assert_eq(moved, 5);
    for (uint32_t k = 0; k < out.members[c].count; k++)
        cr_assert_eq(out.members[c].tps[k].topic, t1);
    (void)t0;
    free(before);
    free(after);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

/* Builds a homogeneous group: `members` members, `topics` topics of random size. */
static void build_homogeneous(tgroup_t *g, uint32_t topics, uint32_t members, uint32_t max_p)
{
    tg_init(g);
    for (uint32_t t = 0; t < topics; t++)
        tg_topic(g, (int32_t)rng_next(max_p + 1));
    char id[48];
    for (uint32_t i = 0; i < members; i++) {
        snprintf(id, sizeof(id), "member-%08x", rng_next(UINT32_MAX));
        tg_subscribe_all(g, tg_member(g, id));
    }
}

Test(uniform, adding_a_member_moves_only_partitions_to_it_and_the_minimum_number)
{
    rng_state = 0x5eed0002;
    for (int iter = 0; iter < 200; iter++) {
        tgroup_t g;
        build_homogeneous(&g, 1 + rng_next(4), 1 + rng_next(12), 40);
        sl_assign_output_t out;
        tg_assign(&g, sl_assign_uniform, &out);
        tg_adopt(&g, &out);
        int64_t *before = tg_owner_uids(&g, &out);
        sl_assign_output_free(&out);

        char id[48];
        snprintf(id, sizeof(id), "joiner-%d", iter);
        uint32_t j = tg_member(&g, id);
        tg_subscribe_all(&g, j);
        tg_assign(&g, sl_assign_uniform, &out);
        tg_check_uniform_balance(&g, &out);
        int64_t *after = tg_owner_uids(&g, &out);
        uint32_t moved = 0, total = tg_partitions(&g);
        for (uint32_t i = 0; i < total; i++) {
            if (before[i] != after[i]) {
                cr_assert_eq(after[i], g.m[j].uid, "iter %d: a partition moved between old members",
                             iter);
                moved++;
            }
        }
        /* Minimal: the newcomer gets floor(P / members), all of it moved. */
        cr_assert_eq(moved, total / g.member_count, "iter %d", iter);
        cr_assert_eq(out.members[j].count, moved);
        free(before);
        free(after);
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

Test(uniform, removing_a_member_moves_only_its_partitions)
{
    rng_state = 0x5eed0003;
    for (int iter = 0; iter < 200; iter++) {
        tgroup_t g;
        build_homogeneous(&g, 1 + rng_next(4), 2 + rng_next(12), 40);
        sl_assign_output_t out;
        tg_assign(&g, sl_assign_uniform, &out);
        tg_adopt(&g, &out);
        int64_t *before = tg_owner_uids(&g, &out);
        sl_assign_output_free(&out);

        uint32_t gone = rng_next(g.member_count);
        uint32_t gone_uid = g.m[gone].uid;
        tg_remove(&g, gone);
        tg_assign(&g, sl_assign_uniform, &out);
        tg_check_uniform_balance(&g, &out);
        int64_t *after = tg_owner_uids(&g, &out);
        for (uint32_t i = 0; i < tg_partitions(&g); i++) {
            if (before[i] != after[i])
                cr_assert_eq(before[i], gone_uid, "iter %d: a survivor lost a partition", iter);
        }
        free(before);
        free(after);
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

static int cmp_desc_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

Test(uniform, homogeneous_rebalance_from_any_state_moves_the_minimum)
{
    /* From a random valid owned state (disjoint, some partitions unowned), the
     * fewest partitions that must change hands is P - sum min(owned_i, quota_i)
     * with the P % M larger quotas given to the members owning the most. */
    rng_state = 0x5eed0004;
    for (int iter = 0; iter < 300; iter++) {
        tgroup_t g;
        build_homogeneous(&g, 1 + rng_next(4), 1 + rng_next(10), 30);
        uint32_t total = tg_partitions(&g);
        for (uint32_t t = 0; t < g.topic_count; t++)
            for (int32_t p = 0; p < g.topics[t].partition_count; p++)
                if (rng_next(10) < 8)
                    tg_own(&g, rng_next(g.member_count), (int32_t)t, p);
        uint32_t *owned = calloc(g.member_count, sizeof(*owned));
        for (uint32_t m = 0; m < g.member_count; m++)
            owned[m] = g.m[m].owned_count;
        qsort(owned, g.member_count, sizeof(*owned), cmp_desc_u32);
        uint32_t q = total / g.member_count, r = total % g.member_count, keep = 0;
        for (uint32_t m = 0; m < g.member_count; m++)
            keep += SL_MIN(owned[m], q + (m < r));
        free(owned);

        sl_assign_output_t out;
        tg_assign(&g, sl_assign_uniform, &out);
        tg_check_uniform_balance(&g, &out);
        uint32_t kept = 0;
        for (uint32_t m = 0; m < g.member_count; m++)
            for (uint32_t o = 0; o < g.m[m].owned_count; o++)
                for (uint32_t k = 0; k < out.members[m].count; k++)
                    kept += out.members[m].tps[k].topic == g.m[m].owned[o].topic &&
                            out.members[m].tps[k].partition == g.m[m].owned[o].partition;
        cr_assert_eq(kept, keep, "iter %d: kept %u, could keep %u", iter, kept, keep);
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

Test(uniform, random_heterogeneous_inputs_are_complete_and_balanced)
{
    rng_state = 0x5eed0005;
    for (int iter = 0; iter < 500; iter++) {
        tgroup_t g;
        tg_init(&g);
        uint32_t topics = 1 + rng_next(8), members = 1 + rng_next(25);
        for (uint32_t t = 0; t < topics; t++)
            tg_topic(&g, (int32_t)rng_next(50));
        bool homogeneous = rng_next(4) == 0;
        char id[48];
        for (uint32_t i = 0; i < members; i++) {
            snprintf(id, sizeof(id), "m%06u", rng_next(1000000));
            if (i > 0 && rng_next(20) == 0)
                snprintf(id, sizeof(id), "%s", g.m[0].id); /* would be a duplicate */
            bool dup = false;
            for (uint32_t k = 0; k < g.member_count; k++)
                dup = dup || strcmp(g.m[k].id, id) == 0;
            if (dup)
                continue;
            uint32_t m = tg_member(&g, id);
            for (uint32_t t = 0; t < topics; t++)
                if (homogeneous || rng_next(3) == 0)
                    tg_subscribe(&g, m, (int32_t)t);
            /* Owned: mostly plausible, some stale or conflicting. */
            uint32_t owned = rng_next(20);
            for (uint32_t o = 0; o < owned; o++)
                tg_own(&g, m, (int32_t)rng_next(topics), (int32_t)rng_next(60) - 5);
        }
        sl_assign_output_t out;
        tg_assign(&g, sl_assign_uniform, &out);
        tg_check_uniform_balance(&g, &out);
        if (homogeneous) {
            uint32_t lo = UINT32_MAX, hi = 0;
            for (uint32_t m = 0; m < g.member_count; m++) {
                lo = SL_MIN(lo, out.members[m].count);
                hi = SL_MAX(hi, out.members[m].count);
            }
            cr_assert_leq(hi - lo, 1);
        }
        /* Sticky fixpoint: feeding the output back in changes nothing. */
        tg_adopt(&g, &out);
        sl_assign_output_t again;
        tg_assign(&g, sl_assign_uniform, &again);
        for (uint32_t m = 0; m < g.member_count; m++)
            cr_assert(same_tps(&again.members[m], &out.members[m]), "iter %d", iter);
        sl_assign_output_free(&again);
        sl_assign_output_free(&out);
        tg_fini(&g);
    }
}

Test(uniform, converges_on_a_chain_of_overlapping_subscriptions)
{
    /* member i subscribes to topics i and i + 1; everything starts on member 0
     * or nowhere: the worst shape for per-topic balancing. */
    tgroup_t g;
    tg_init(&g);
    for (int t = 0; t < 12; t++)
        tg_topic(&g, 100);
    char id[48];
    for (int i = 0; i < 11; i++) {
        snprintf(id, sizeof(id), "m%02d", i);
        uint32_t m = tg_member(&g, id);
        tg_subscribe(&g, m, i);
        tg_subscribe(&g, m, i + 1);
    }
    for (int p = 0; p < 100; p++) {
        tg_own(&g, 0, 0, p);
        tg_own(&g, 0, 1, p);
    }
    sl_assign_output_t out;
    tg_assign(&g, sl_assign_uniform, &out);
    tg_check_uniform_balance(&g, &out);
    sl_assign_output_free(&out);
    tg_fini(&g);
}

Test(uniform, heterogeneous_churn_keeps_everything_valid_and_balanced)
{
    rng_state = 0x5eed0007;
    tgroup_t g;
    tg_init(&g);
    for (int t = 0; t < 6; t++)
        tg_topic(&g, (int32_t)rng_next(40));
    char id[48];
    for (int step = 0; step < 300; step++) {
        if (g.member_count > 0 && rng_next(3) == 0) {
            tg_remove(&g, rng_next(g.member_count));
        } else {
            snprintf(id, sizeof(id), "m-%d", step);
            uint32_t m = tg_member(&g, id);
            for (uint32_t t = 0; t < g.topic_count; t++)
                if (rng_next(2))
                    tg_subscribe(&g, m, (int32_t)t);
        }
        if (g.member_count == 0)
            continue;
        sl_assign_output_t out;
        tg_assign(&g, sl_assign_uniform, &out);
        tg_check_uniform_balance(&g, &out);
        tg_adopt(&g, &out);
        sl_assign_output_free(&out);
    }
    tg_fini(&g);
}

/* --- determinism --------------------------------------------------------------------- */

Test(assign, output_does_not_depend_on_member_order)
{
    sl_assignor_fn fns[] = {sl_assign_uniform, sl_assign_range};
    rng_state = 0x5eed0006;
    for (int iter = 0; iter < 100; iter++) {
        for (size_t f = 0; f < 2; f++) {
            tgroup_t g, h;
            tg_init(&g);
            tg_init(&h);
            uint32_t topics = 1 + rng_next(5), members = 1 + rng_next(15);
            for (uint32_t t = 0; t < topics; t++) {
                int32_t p = (int32_t)rng_next(30);
                tg_topic(&g, p);
                tg_topic(&h, p);
            }
            char id[48];
            for (uint32_t i = 0; i < members; i++) {
                snprintf(id, sizeof(id), "m%03u", i);
                uint32_t m = tg_member(&g, id);
                for (uint32_t t = 0; t < topics; t++)
                    if (rng_next(2))
                        tg_subscribe(&g, m, (int32_t)t);
                for (uint32_t o = rng_next(10); o > 0; o--)
                    tg_own(&g, m, (int32_t)rng_next(topics), (int32_t)rng_next(30));
            }
            /* h: the same members, reversed, with reversed subscription lists. */
            for (uint32_t i = members; i-- > 0;) {
                uint32_t m = tg_member(&h, g.m[i].id);
                for (uint32_t s = g.m[i].sub_count; s-- > 0;)
                    tg_subscribe(&h, m, g.m[i].subs[s]);
                for (uint32_t o = 0; o < g.m[i].owned_count; o++)
                    tg_own(&h, m, g.m[i].owned[o].topic, g.m[i].owned[o].partition);
            }
            sl_assign_output_t a, b, c;
            tg_assign(&g, fns[f], &a);
            tg_assign(&g, fns[f], &c);
            tg_assign(&h, fns[f], &b);
            for (uint32_t i = 0; i < members; i++) {
                uint32_t j = members - 1 - i;
                cr_assert(same_tps(&a.members[i], &b.members[j]), "iter %d", iter);
                cr_assert(same_tps(&a.members[i], &c.members[i]), "iter %d", iter);
            }
            sl_assign_output_free(&a);
            sl_assign_output_free(&b);
            sl_assign_output_free(&c);
            tg_fini(&g);
            tg_fini(&h);
        }
    }
}

/* --- bad input ------------------------------------------------------------------------- */

static void expect_einval(tgroup_t *g)
{
    sl_assignor_fn fns[] = {sl_assign_uniform, sl_assign_range};
    for (size_t f = 0; f < 2; f++) {
        sl_assign_input_t in = tg_input(g);
        sl_assign_output_t out = {(void *)1, (void *)1};
        cr_assert_eq(fns[f](&in, &out), -EINVAL);
        cr_assert_null(out.members);
        cr_assert_null(out.mem);
    }
}

Test(assign, rejects_bad_input)
{
    tgroup_t g;
    /* subscribed topic index out of range */
    tg_init(&g);
    tg_topic(&g, 3);
    tg_subscribe(&g, tg_member(&g, "a"), 1);
    expect_einval(&g);
    g.m[0].subs[0] = -1;
    expect_einval(&g);
    tg_fini(&g);

    /* owned topic index out of range */
    tg_init(&g);
    tg_topic(&g, 3);
    uint32_t a = tg_member(&g, "a");
    tg_subscribe_all(&g, a);
    tg_own(&g, a, 5, 0);
    expect_einval(&g);
    tg_fini(&g);

    /* duplicate subscription */
    tg_init(&g);
    tg_topic(&g, 3);
    a = tg_member(&g, "a");
    tg_subscribe(&g, a, 0);
    tg_subscribe(&g, a, 0);
    expect_einval(&g);
    tg_fini(&g);

    /* duplicate member id, empty member id */
    tg_init(&g);
    tg_topic(&g, 3);
    tg_subscribe_all(&g, tg_member(&g, "a"));
    tg_subscribe_all(&g, tg_member(&g, "b"));
    tg_subscribe_all(&g, tg_member(&g, "a"));
    expect_einval(&g);
    snprintf(g.m[2].id, sizeof(g.m[2].id), "%s", "");
    expect_einval(&g);
    tg_fini(&g);

    /* duplicate instance id */
    tg_init(&g);
    tg_topic(&g, 3);
    tg_static(&g, tg_member(&g, "a"), "same");
    tg_static(&g, tg_member(&g, "b"), "same");
    expect_einval(&g);
    tg_fini(&g);

    /* negative partition count, NULL topic name */
    tg_init(&g);
    tg_topic(&g, -1);
    tg_member(&g, "a");
    expect_einval(&g);
    g.topics[0].partition_count = 1;
    g.topics[0].name = NULL;
    expect_einval(&g);
    tg_fini(&g);

    /* total partitions over the limit */
    tg_init(&g);
    tg_topic(&g, SL_ASSIGN_MAX_PARTITIONS / 2 + 1);
    tg_topic(&g, SL_ASSIGN_MAX_PARTITIONS / 2 + 1);
    tg_member(&g, "a");
    expect_einval(&g);
    tg_fini(&g);

    /* too many members (rejected before any member is read) */
    sl_assign_member_t *many = calloc(SL_ASSIGN_MAX_MEMBERS + 1, sizeof(*many));
    cr_assert_not_null(many);
    sl_assign_input_t in = {NULL, 0, many, SL_ASSIGN_MAX_MEMBERS + 1};
    sl_assign_output_t out;
    cr_assert_eq(sl_assign_uniform(&in, &out), -EINVAL);
    cr_assert_eq(sl_assign_range(&in, &out), -EINVAL);
    free(many);

    /* NULL member id */
    sl_assign_member_t one = {0};
    in = (sl_assign_input_t){NULL, 0, &one, 1};
    cr_assert_eq(sl_assign_uniform(&in, &out), -EINVAL);
    cr_assert_eq(sl_assign_range(&in, &out), -EINVAL);
}

/* --- timing ------------------------------------------------------------------------------ */

Test(assign, timing_1000_members_10000_partitions)
{
    tgroup_t g;
    tg_init(&g);
    for (int t = 0; t < 10; t++)
        tg_topic(&g, 1000);
    char id[48];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "consumer-%04d-%08x", i, (unsigned)(i * 2654435761u));
        tg_subscribe_all(&g, tg_member(&g, id));
    }
    sl_assign_input_t in = tg_input(&g);
    sl_assign_output_t out;

    double t0 = now_ms();
    cr_assert_eq(sl_assign_uniform(&in, &out), 0);
    double fresh_ms = now_ms() - t0;
    tg_adopt(&g, &out);
    sl_assign_output_free(&out);

    tg_remove(&g, 500); /* churn: one member leaves, one joins */
    tg_subscribe_all(&g, tg_member(&g, "consumer-new"));
    in = tg_input(&g);
    t0 = now_ms();
    cr_assert_eq(sl_assign_uniform(&in, &out), 0);
    double sticky_ms = now_ms() - t0;
    cr_assert_eq(sl_assign_output_verify(&in, &out), 0);
    sl_assign_output_free(&out);

    /* Heterogeneous: each member subscribes to 5 of the 10 topics. */
    for (uint32_t m = 0; m < g.member_count; m++) {
        g.m[m].sub_count = 0;
        for (int t = 0; t < 5; t++)
            tg_subscribe(&g, m, (int32_t)((m + (uint32_t)t * 2) % 10));
    }
    in = tg_input(&g);
    t0 = now_ms();
    cr_assert_eq(sl_assign_uniform(&in, &out), 0);
    double hetero_ms = now_ms() - t0;
    cr_assert_eq(sl_assign_output_verify(&in, &out), 0);
    sl_assign_output_free(&out);

    t0 = now_ms();
    cr_assert_eq(sl_assign_range(&in, &out), 0);
    double range_ms = now_ms() - t0;
    sl_assign_output_free(&out);

    printf("assign timing, 1000 members x 10000 partitions: uniform fresh %.2f ms, "
           "uniform sticky churn %.2f ms, uniform heterogeneous %.2f ms, range %.2f ms\n",
           fresh_ms, sticky_ms, hetero_ms, range_ms);
    fflush(stdout);
    /* Generous: sanitizer builds are several times slower than release. */
    cr_assert_lt(fresh_ms, 1000.0);
    cr_assert_lt(sticky_ms, 1000.0);
    cr_assert_lt(hetero_ms, 1000.0);
    tg_fini(&g);
}
