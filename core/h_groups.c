/*
 * h_groups.c — the group APIs on the connection's shard: decode, route each
 * group to the shard owning its __consumer_offsets partition (sl_group.h),
 * gather, encode.
 *
 *   JoinGroup 0-9, SyncGroup 0-5, Heartbeat 0-4, LeaveGroup 0-5,
 *   OffsetCommit 2-9, OffsetFetch 1-9, OffsetDelete 0,
 *   DescribeGroups 0-6, ListGroups 0-5, DeleteGroups 0-2.
 *
 * Until __consumer_offsets exists (FindCoordinator creates it), every group
 * answers COORDINATOR_NOT_AVAILABLE, which clients retry after looking the
 * coordinator up. Each operation (sl_gop_t) carries its own result arena; the
 * arenas are destroyed when the request is freed.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_fanout.h"
#include "sl_group.h"
#include "sl_group_admin.h"
#include "sl_conn.h"
#include "kp_messages.h"

#define GOP_RESULT_ARENA_BYTES (64u << 20)

/* ----------------------------------------------------------------- routing */

static void gop_arena_free(void *arg)
{
    kp_arena_destroy(arg);
}

/* Owner shard of group gid, or -1 when __consumer_offsets does not exist. */
static int group_owner(sl_shard_t *s, kp_str_t gid, int32_t *partition)
{
    const sl_topic_meta_t *t =
        sl_meta_find(s->meta, SL_GROUP_OFFSETS_TOPIC, strlen(SL_GROUP_OFFSETS_TOPIC));
    if (!t || t->partition_count <= 0)
        return -1;
    gid = kp_str_nonnull(gid);
    *partition = sl_group_partition_for(gid.ptr, (size_t)gid.len, t->partition_count);
    return t->partitions[*partition].shard % s->broker->shard_count;
}

static sl_gop_t *gop_new(sl_req_t *req, void (*run)(sl_coord_t *, sl_gop_t *), const void *in,
                         void *out)
{
    sl_gop_t *op = kp_arena_alloc(&req->arena, sizeof(*op));
    if (!op)
        return NULL;
    memset(op, 0, sizeof(*op));
    op->run = run;
    op->version = req->hdr.api_version;
    op->in = in;
    op->out = out;
    op->client_id = req->hdr.client_id;
    kp_arena_init(&op->arena, GOP_RESULT_ARENA_BYTES);
    if (!sl_req_on_free(req, gop_arena_free, &op->arena))
        return NULL;
    /* Kafka reports a member's host as "/<address>". */
    const char *peer = req->conn->peer;
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n > sizeof(op->client_host) - 2)
        n = sizeof(op->client_host) - 2;
    op->client_host[0] = '/';
    memcpy(op->client_host + 1, peer, n);
    op->client_host[n + 1] = 0;
    return op;
}

static void gop_on_item(sl_shard_t *owner, sl_fanout_part_t *part, void *item)
{
    sl_gop_t *op = item;
    op->part = part;
    op->owner = owner;
    ASSERT(owner->coord);
    op->run(owner->coord, op);
}

/* Sends op for group gid to its owner; when it is back, on_done runs. Returns
 * false when the group has no coordinator yet (nothing sent). */
static bool route(sl_fanout_t *fo, sl_gop_t *op, kp_str_t gid)
{
    int owner = group_owner(fo->req->shard, gid, &op->partition);
    if (owner < 0)
        return false;
    op->group_id = NULL;
    return sl_fanout_add(fo, owner, op) == 0;
}

/* One group of a multi-group request: makes the op running `run` on `in` with
 * its result in `out` and sends it to the owner of gid; when gid has no
 * coordinator yet, *error_code = no_coordinator instead. Returns the op, or
 * NULL after closing the connection when out of memory. */
static sl_gop_t *add_group_op(sl_req_t *req, sl_fanout_t *fo, void (*run)(sl_coord_t *, sl_gop_t *),
                              const void *in, void *out, kp_str_t gid, int16_t *error_code,
                              int16_t no_coordinator)
{
    sl_gop_t *op = gop_new(req, run, in, out);
    if (!op) {
        sl_req_fail_close(req, "out of memory");
        return NULL;
    }
    if (!route(fo, op, gid))
        *error_code = no_coordinator;
    return op;
}

/* A request for one group: route, or answer at once with `fail` applied
 * (empty_err for an empty group id, checked first as Kafka does). */
static void single(sl_req_t *req, sl_gop_t *op, kp_str_t gid, void (*on_done)(sl_req_t *),
                   void (*fail)(sl_gop_t *op, int16_t err), int16_t empty_err)
{
    sl_fanout_t *fo = sl_fanout_new(req, gop_on_item, on_done);
    if (!fo) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    req->state = op;
    if (kp_str_nonnull(gid).len == 0) {
        fail(op, empty_err);
        on_done(req);
        return;
    }
    if (!route(fo, op, gid)) {
        fail(op, KE_COORDINATOR_NOT_AVAILABLE);
        on_done(req);
        return;
    }
    sl_fanout_launch(fo);
}

#define DECODE_OR_CLOSE(req, name, in)                                                     \
    do {                                                                                   \
        (in) = kp_arena_alloc(&(req)->arena, sizeof(*(in)));                               \
        if (!(in)) {                                                                       \
            sl_req_fail_close((req), "out of memory");                                     \
            return;                                                                        \
        }                                                                                  \
        if (kp_##name##_decode(&(req)->body, &(req)->arena, (req)->hdr.api_version, (in)) != 0) { \
            sl_req_fail_close((req), "malformed " #name);                                  \
            return;                                                                        \
        }                                                                                  \
    } while (0)

/* --------------------------------------------------------------- JoinGroup */

static void join_fail(sl_gop_t *op, int16_t err)
{
    kp_join_group_response_t *out = op->out;
    out->error_code = err;
    out->generation_id = -1;
    if (op->version < 7)
        out->protocol_name = (kp_str_t){"", 0};
}

static void join_done(sl_req_t *req)
{
    sl_gop_t *op = req->state;
    SL_RESPOND(req, join_group_response, (kp_join_group_response_t *)op->out);
}

void sl_handle_join_group(sl_req_t *req)
{
    kp_join_group_request_t *in;
    DECODE_OR_CLOSE(req, join_group_request, in);
    kp_join_group_response_t *out = kp_arena_alloc(&req->arena, sizeof(*out));
    if (!out) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    kp_join_group_response_init(out);
    out->member_id = kp_str_nonnull(in->member_id);
    sl_gop_t *op = gop_new(req, sl_group_join, in, out);
    if (!op) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    single(req, op, in->group_id, join_done, join_fail, KE_INVALID_GROUP_ID);
}

/* ------------------------------------------ SyncGroup, Heartbeat, LeaveGroup */

/* The handler of a single-group API whose response needs only an error code
 * when the group cannot be reached: decode, make the response, route. */
#define SIMPLE_GROUP_API(api, run)                                                          \
    static void api##_fail(sl_gop_t *op, int16_t err)                                       \
    {                                                                                        \
        ((kp_##api##_response_t *)op->out)->error_code = err;                                \
    }                                                                                        \
    static void api##_done(sl_req_t *req)                                                    \
    {                                                                                        \
        sl_gop_t *op = req->state;                                                           \
        SL_RESPOND(req, api##_response, (kp_##api##_response_t *)op->out);                   \
    }                                                                                        \
    void sl_handle_##api(sl_req_t *req)                                                      \
    {                                                                                        \
        kp_##api##_request_t *in;                                                            \
        DECODE_OR_CLOSE(req, api##_request, in);                                             \
        kp_##api##_response_t *out = kp_arena_alloc(&req->arena, sizeof(*out));              \
        sl_gop_t *op = out ? gop_new(req, run, in, out) : NULL;                              \
        if (!op) {                                                                           \
            sl_req_fail_close(req, "out of memory");                                         \
            return;                                                                          \
        }                                                                                    \
        kp_##api##_response_init(out);                                                       \
        single(req, op, in->group_id, api##_done, api##_fail, KE_INVALID_GROUP_ID);          \
    }

SIMPLE_GROUP_API(sync_group, sl_group_sync)
SIMPLE_GROUP_API(heartbeat, sl_group_heartbeat)
SIMPLE_GROUP_API(leave_group, sl_group_leave)

/* ------------------------------------------------------------ OffsetCommit */

static void commit_fail(sl_gop_t *op, int16_t err)
{
    kp_offset_commit_response_t *out = op->out;
    for (int32_t t = 0; t < out->topics_count; t++)
        for (int32_t p = 0; p < out->topics[t].partitions_count; p++)
            if (out->topics[t].partitions[p].error_code == KE_NONE)
                out->topics[t].partitions[p].error_code = err;
}

static void commit_done(sl_req_t *req)
{
    sl_gop_t *op = req->state;
    SL_RESPOND(req, offset_commit_response, (kp_offset_commit_response_t *)op->out);
}

void sl_handle_offset_commit(sl_req_t *req)
{
    kp_offset_commit_request_t *in;
    DECODE_OR_CLOSE(req, offset_commit_request, in);
    kp_offset_commit_response_t *out = kp_arena_alloc(&req->arena, sizeof(*out));
    if (!out) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    kp_offset_commit_response_init(out);
    int32_t tn = in->topics_count > 0 ? in->topics_count : 0;
    out->topics = tn ? kp_arena_alloc(&req->arena, (size_t)tn * sizeof(*out->topics)) : NULL;
    if (tn && !out->topics) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    out->topics_count = tn;
    const sl_meta_t *meta = req->shard->meta;
    for (int32_t t = 0; t < tn; t++) {
        kp_offset_commit_response_topics_t *rt = &out->topics[t];
        kp_offset_commit_response_topics_init(rt);
        rt->name = kp_str_nonnull(in->topics[t].name);
        int32_t pn = in->topics[t].partitions_count > 0 ? in->topics[t].partitions_count : 0;
        rt->partitions = pn ? kp_arena_alloc(&req->arena, (size_t)pn * sizeof(*rt->partitions)) : NULL;
        if (pn && !rt->partitions) {
            sl_req_fail_close(req, "out of memory");
            return;
        }
        rt->partitions_count = pn;
        const sl_topic_meta_t *tm = sl_meta_find(meta, rt->name.ptr, (size_t)rt->name.len);
        for (int32_t p = 0; p < pn; p++) {
            kp_offset_commit_response_partitions_t *rp = &rt->partitions[p];
            kp_offset_commit_response_partitions_init(rp);
            rp->partition_index = in->topics[t].partitions[p].partition_index;
            if (!tm || rp->partition_index < 0 || rp->partition_index >= tm->partition_count)
                rp->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
        }
    }
    sl_gop_t *op = gop_new(req, sl_group_offset_commit, in, out);
    if (!op) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    single(req, op, in->group_id, commit_done, commit_fail, KE_INVALID_GROUP_ID);
}

/* ------------------------------------------------------------- OffsetFetch */

typedef struct fetch_state {
    int32_t count;
    sl_gop_t **ops;
    kp_offset_fetch_response_groups_t *groups;
} fetch_state_t;

static void fetch_done(sl_req_t *req)
{
    fetch_state_t *st = req->state;
    kp_offset_fetch_response_t resp;
    kp_offset_fetch_response_init(&resp);
    if (req->hdr.api_version >= 8) {
        resp.groups = st->groups;
        resp.groups_count = st->count;
        SL_RESPOND(req, offset_fetch_response, &resp);
        return;
    }
    /* v1-7: one group, its topics in the pre-v8 shapes. */
    ASSERT(st->count == 1);
    kp_offset_fetch_response_groups_t *g = &st->groups[0];
    resp.error_code = g->error_code;
    int32_t tn = g->topics_count > 0 ? g->topics_count : 0;
    resp.topics = tn ? kp_arena_alloc(&req->arena, (size_t)tn * sizeof(*resp.topics)) : NULL;
    if (tn && !resp.topics) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    resp.topics_count = tn;
    for (int32_t t = 0; t < tn; t++) {
        kp_offset_fetch_response_offset_fetch_response_topic_t *rt = &resp.topics[t];
        kp_offset_fetch_response_offset_fetch_response_topic_init(rt);
        rt->name = g->topics[t].name;
        int32_t pn = g->topics[t].partitions_count;
        rt->partitions = pn ? kp_arena_alloc(&req->arena, (size_t)pn * sizeof(*rt->partitions)) : NULL;
        if (pn && !rt->partitions) {
            sl_req_fail_close(req, "out of memory");
            return;
        }
        rt->partitions_count = pn;
        for (int32_t p = 0; p < pn; p++) {
            const kp_offset_fetch_response_offset_fetch_response_partitions_t *src =
                &g->topics[t].partitions[p];
            kp_offset_fetch_response_offset_fetch_response_partition_t *d = &rt->partitions[p];
            kp_offset_fetch_response_offset_fetch_response_partition_init(d);
            d->partition_index = src->partition_index;
            d->committed_offset = src->committed_offset;
            d->committed_leader_epoch = src->committed_leader_epoch;
            d->metadata = src->metadata;
            d->error_code = src->error_code ? src->error_code : g->error_code;
        }
    }
    SL_RESPOND(req, offset_fetch_response, &resp);
}

void sl_handle_offset_fetch(sl_req_t *req)
{
    kp_offset_fetch_request_t *in;
    DECODE_OR_CLOSE(req, offset_fetch_request, in);
    int16_t v = req->hdr.api_version;
    fetch_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    if (!st) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    memset(st, 0, sizeof(*st));
    req->state = st;
    kp_offset_fetch_request_groups_t *groups = in->groups;
    int32_t count = in->groups_count > 0 ? in->groups_count : 0;
    if (v < 8) {
        /* Convert the single-group form into the v8 element. */
        groups = kp_arena_alloc(&req->arena, sizeof(*groups));
        if (!groups) {
            sl_req_fail_close(req, "out of memory");
            return;
        }
        kp_offset_fetch_request_groups_init(groups);
        groups->group_id = in->group_id;
        count = 1;
        groups->topics_count = in->topics_count; /* -1: null, every committed offset */
        if (in->topics_count > 0) {
            groups->topics =
                kp_arena_alloc(&req->arena, (size_t)in->topics_count * sizeof(*groups->topics));
            if (!groups->topics) {
                sl_req_fail_close(req, "out of memory");
                return;
            }
            for (int32_t t = 0; t < in->topics_count; t++) {
                kp_offset_fetch_request_offset_fetch_request_topics_init(&groups->topics[t]);
                groups->topics[t].name = in->topics[t].name;
                groups->topics[t].partition_indexes = in->topics[t].partition_indexes;
                groups->topics[t].partition_indexes_count = in->topics[t].partition_indexes_count;
            }
        }
    }
    st->count = count;
    st->groups = count ? kp_arena_alloc(&req->arena, (size_t)count * sizeof(*st->groups)) : NULL;
    st->ops = count ? kp_arena_alloc(&req->arena, (size_t)count * sizeof(*st->ops)) : NULL;
    sl_fanout_t *fo = sl_fanout_new(req, gop_on_item, fetch_done);
    if ((count && (!st->groups || !st->ops)) || !fo) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    for (int32_t i = 0; i < count; i++) {
        kp_offset_fetch_response_groups_init(&st->groups[i]);
        st->groups[i].group_id = kp_str_nonnull(groups[i].group_id);
        st->ops[i] = add_group_op(req, fo, sl_group_offset_fetch, &groups[i], &st->groups[i],
                                  groups[i].group_id, &st->groups[i].error_code,
                                  KE_COORDINATOR_NOT_AVAILABLE);
        if (!st->ops[i])
            return;
    }
    sl_fanout_launch(fo);
}

/* ------------------------------------------------------------ OffsetDelete */

static void odelete_fail(sl_gop_t *op, int16_t err)
{
    ((kp_offset_delete_response_t *)op->out)->error_code = err;
}

static void odelete_done(sl_req_t *req)
{
    sl_gop_t *op = req->state;
    SL_RESPOND(req, offset_delete_response, (kp_offset_delete_response_t *)op->out);
}

void sl_handle_offset_delete(sl_req_t *req)
{
    kp_offset_delete_request_t *in;
    DECODE_OR_CLOSE(req, offset_delete_request, in);
    kp_offset_delete_response_t *out = kp_arena_alloc(&req->arena, sizeof(*out));
    if (!out) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    kp_offset_delete_response_init(out);
    int32_t tn = in->topics_count > 0 ? in->topics_count : 0;
    out->topics = tn ? kp_arena_alloc(&req->arena, (size_t)tn * sizeof(*out->topics)) : NULL;
    if (tn && !out->topics) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    out->topics_count = tn;
    for (int32_t t = 0; t < tn; t++) {
        kp_offset_delete_response_offset_delete_response_topic_t *rt = &out->topics[t];
        kp_offset_delete_response_offset_delete_response_topic_init(rt);
        rt->name = kp_str_nonnull(in->topics[t].name);
        int32_t pn = in->topics[t].partitions_count > 0 ? in->topics[t].partitions_count : 0;
        rt->partitions = pn ? kp_arena_alloc(&req->arena, (size_t)pn * sizeof(*rt->partitions)) : NULL;
        if (pn && !rt->partitions) {
            sl_req_fail_close(req, "out of memory");
            return;
        }
        rt->partitions_count = pn;
        const sl_topic_meta_t *tm = sl_meta_find(req->shard->meta, rt->name.ptr, (size_t)rt->name.len);
        for (int32_t p = 0; p < pn; p++) {
            kp_offset_delete_response_offset_delete_response_partition_init(&rt->partitions[p]);
            rt->partitions[p].partition_index = in->topics[t].partitions[p].partition_index;
            if (!tm || rt->partitions[p].partition_index < 0 ||
                rt->partitions[p].partition_index >= tm->partition_count)
                rt->partitions[p].error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
        }
    }
    sl_gop_t *op = gop_new(req, sl_group_offset_delete, in, out);
    if (!op) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    single(req, op, in->group_id, odelete_done, odelete_fail, KE_INVALID_GROUP_ID);
}

/* ------------------------------------------- DescribeGroups / DeleteGroups */

typedef struct multi_state {
    int32_t count;
    void *results; /* kp_describe_groups_response_groups_t[] or ..._results_t[] */
} multi_state_t;

/* The start of a request on many groups: its state, with a results array for
 * count groups (negative when null) of result_size bytes each, and in *fo the
 * fan-out that ends in on_done. Returns NULL after closing the connection when
 * out of memory. */
static multi_state_t *multi_begin(sl_req_t *req, int32_t count, size_t result_size,
                                  void (*on_done)(sl_req_t *), sl_fanout_t **fo)
{
    multi_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    int32_t n = count > 0 ? count : 0;
    void *res = n ? kp_arena_alloc(&req->arena, (size_t)n * result_size) : NULL;
    *fo = sl_fanout_new(req, gop_on_item, on_done);
    if (!st || (n && !res) || !*fo) {
        sl_req_fail_close(req, "out of memory");
        return NULL;
    }
    st->count = n;
    st->results = res;
    req->state = st;
    return st;
}

static void describe_done(sl_req_t *req)
{
    multi_state_t *st = req->state;
    kp_describe_groups_response_t resp;
    kp_describe_groups_response_init(&resp);
    resp.groups = st->results;
    resp.groups_count = st->count;
    SL_RESPOND(req, describe_groups_response, &resp);
}

void sl_handle_describe_groups(sl_req_t *req)
{
    kp_describe_groups_request_t *in;
    DECODE_OR_CLOSE(req, describe_groups_request, in);
    kp_describe_groups_response_groups_t *res;
    sl_fanout_t *fo;
    multi_state_t *st = multi_begin(req, in->groups_count, sizeof(*res), describe_done, &fo);
    if (!st)
        return;
    res = st->results;
    for (int32_t i = 0; i < st->count; i++) {
        kp_describe_groups_response_groups_init(&res[i]);
        res[i].group_id = kp_str_nonnull(in->groups[i]);
        res[i].group_state = (kp_str_t){"", 0};
        res[i].protocol_type = (kp_str_t){"", 0};
        res[i].protocol_data = (kp_str_t){"", 0};
        if (req->hdr.api_version >= 3 && in->include_authorized_operations)
            res[i].authorized_operations = (1 << 3) | (1 << 6) | (1 << 8);
        if (!add_group_op(req, fo, sl_group_describe, &in->groups[i], &res[i], in->groups[i],
                          &res[i].error_code, KE_COORDINATOR_NOT_AVAILABLE))
            return;
    }
    sl_fanout_launch(fo);
}

static void delete_done(sl_req_t *req)
{
    multi_state_t *st = req->state;
    kp_delete_groups_response_t resp;
    kp_delete_groups_response_init(&resp);
    resp.results = st->results;
    resp.results_count = st->count;
    SL_RESPOND(req, delete_groups_response, &resp);
}

void sl_handle_delete_groups(sl_req_t *req)
{
    kp_delete_groups_request_t *in;
    DECODE_OR_CLOSE(req, delete_groups_request, in);
    kp_delete_groups_response_results_t *res;
    sl_fanout_t *fo;
    multi_state_t *st = multi_begin(req, in->groups_names_count, sizeof(*res), delete_done, &fo);
    if (!st)
        return;
    res = st->results;
    for (int32_t i = 0; i < st->count; i++) {
        kp_delete_groups_response_results_init(&res[i]);
        res[i].group_id = kp_str_nonnull(in->groups_names[i]);
        if (!add_group_op(req, fo, sl_group_delete, &in->groups_names[i], &res[i],
                          in->groups_names[i], &res[i].error_code, KE_GROUP_ID_NOT_FOUND))
            return;
    }
    sl_fanout_launch(fo);
}

/* -------------------------------------------------------------- ListGroups */

typedef struct list_state {
    kp_list_groups_request_t *in;
    sl_group_list_out_t outs[SL_MAX_SHARDS];
    sl_gop_t *ops[SL_MAX_SHARDS];
} list_state_t;

static void list_done(sl_req_t *req)
{
    list_state_t *st = req->state;
    int n = req->shard->broker->shard_count;
    int32_t total = 0;
    kp_list_groups_response_t resp;
    kp_list_groups_response_init(&resp);
    for (int s = 0; s < n; s++) {
        total += st->outs[s].count;
        if (st->outs[s].error_code)
            resp.error_code = st->outs[s].error_code;
    }
    resp.groups = total ? kp_arena_alloc(&req->arena, (size_t)total * sizeof(*resp.groups)) : NULL;
    if (total && !resp.groups) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    for (int s = 0; s < n; s++)
        for (int32_t i = 0; i < st->outs[s].count; i++)
            resp.groups[resp.groups_count++] = st->outs[s].groups[i];
    SL_RESPOND(req, list_groups_response, &resp);
}

void sl_handle_list_groups(sl_req_t *req)
{
    kp_list_groups_request_t *in;
    DECODE_OR_CLOSE(req, list_groups_request, in);
    list_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    sl_fanout_t *fo = sl_fanout_new(req, gop_on_item, list_done);
    if (!st || !fo) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    memset(st, 0, sizeof(*st));
    st->in = in;
    req->state = st;
    for (int s = 0; s < req->shard->broker->shard_count; s++) {
        st->ops[s] = gop_new(req, sl_group_list, in, &st->outs[s]);
        if (!st->ops[s] || sl_fanout_add(fo, s, st->ops[s]) != 0) {
            sl_req_fail_close(req, "out of memory");
            return;
        }
    }
    sl_fanout_launch(fo);
}

/* ------------------------------------------------- ConsumerGroupHeartbeat */

static void cghb_fail(sl_gop_t *op, int16_t err)
{
    kp_consumer_group_heartbeat_response_t *out = op->out;
    out->error_code = err;
    out->error_message = kp_str_from(err == KE_INVALID_REQUEST ? "GroupId can't be empty."
                                                               : "the group coordinator is not available");
}

static void cghb_done(sl_req_t *req)
{
    sl_gop_t *op = req->state;
    SL_RESPOND(req, consumer_group_heartbeat_response,
               (kp_consumer_group_heartbeat_response_t *)op->out);
}

void sl_handle_consumer_group_heartbeat(sl_req_t *req)
{
    kp_consumer_group_heartbeat_request_t *in;
    DECODE_OR_CLOSE(req, consumer_group_heartbeat_request, in);
    kp_consumer_group_heartbeat_response_t *out = kp_arena_alloc(&req->arena, sizeof(*out));
    if (!out) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    kp_consumer_group_heartbeat_response_init(out);
    sl_gop_t *op = gop_new(req, sl_group_consumer_heartbeat, in, out);
    if (!op) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    single(req, op, in->group_id, cghb_done, cghb_fail, KE_INVALID_REQUEST);
}

/* -------------------------------------------------- ConsumerGroupDescribe */

static void cgdesc_done(sl_req_t *req)
{
    multi_state_t *st = req->state;
    kp_consumer_group_describe_response_t resp;
    kp_consumer_group_describe_response_init(&resp);
    resp.groups = st->results;
    resp.groups_count = st->count;
    SL_RESPOND(req, consumer_group_describe_response, &resp);
}

void sl_handle_consumer_group_describe(sl_req_t *req)
{
    kp_consumer_group_describe_request_t *in;
    DECODE_OR_CLOSE(req, consumer_group_describe_request, in);
    kp_consumer_group_describe_response_groups_t *res;
    sl_fanout_t *fo;
    multi_state_t *st = multi_begin(req, in->group_ids_count, sizeof(*res), cgdesc_done, &fo);
    if (!st)
        return;
    res = st->results;
    for (int32_t i = 0; i < st->count; i++) {
        kp_consumer_group_describe_response_groups_init(&res[i]);
        res[i].group_id = kp_str_nonnull(in->group_ids[i]);
        res[i].group_state = (kp_str_t){"", 0};
        res[i].assignor_name = (kp_str_t){"", 0};
        if (in->include_authorized_operations)
            res[i].authorized_operations = (1 << 3) | (1 << 6) | (1 << 8);
        if (!add_group_op(req, fo, sl_group_consumer_describe, &in->group_ids[i], &res[i],
                          in->group_ids[i], &res[i].error_code, KE_COORDINATOR_NOT_AVAILABLE))
            return;
    }
    sl_fanout_launch(fo);
}
