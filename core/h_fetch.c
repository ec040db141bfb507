/*
 * h_fetch.c — Fetch (key 1), v4–12, and the long-poll purgatory (sl_fetch.h).
 *
 * 1. The connection's shard resolves topics and sends each partition to its
 *    owner (sl_fanout.h); the owner turns (offset, partition_max_bytes) into a
 *    pinned file slice (st_log_read) plus the partition's offsets.
 * 2. Back on the connection's shard: trim slices to the request's max_bytes
 *    (the first non-empty partition always keeps at least one whole batch,
 *    KIP-74); if fewer than min_bytes are available and max_wait has not
 *    passed, release the slices and park (woken by appends or the deadline).
 * 3. Slices of at least fetch.splice.min.bytes stay pinned and go out zero-copy:
 *    the response names them as file pieces (sl_req.h) and the connection
 *    splices file -> pipe -> socket (io_splice.h); they are unpinned when the
 *    request is freed, after the send. Smaller slices are read through the ring
 *    into a buffer, unpinned, and referenced from the response (no copy into
 *    it): below the crossover a read + send costs less than the splice's
 *    io-wq round trips (perf/bench/splice_bench.c, README "Performance").
 * read_committed sees the same data as read_uncommitted until transactions
 * exist: the last stable offset is the high watermark.
 * Fetch sessions (v7+) are not kept: the answer's session id is 0, which tells
 * the client to send full fetches (allowed by KIP-227).
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_fanout.h"
#include "sl_fetch.h"
#include "sl_conn.h"
#include "kp_messages.h"
#include "st_log.h"

#include <errno.h>
#include <stdlib.h>

typedef kp_fetch_request_fetch_topic_t fe_req_topic_t;
typedef kp_fetch_request_fetch_partition_t fe_req_part_t;
typedef kp_fetch_response_fetchable_topic_response_t fe_topic_t;
typedef kp_fetch_response_partition_data_t fe_part_t;

typedef struct fetch_item {
    sl_uuid_t topic_id;
    int32_t partition;
    int64_t fetch_offset;
    uint32_t max_bytes;
    /* out (owner) */
    int16_t error_code;
    int64_t high_watermark;
    int64_t log_start_offset;
    st_slice_t slice;
    /* origin */
    fe_part_t *out;
    uint8_t *data;     /* read buffer from the shard's pool, data_cap bytes asked */
    uint32_t data_cap;
    uint32_t data_len;
    bool spliced; /* the slice stays pinned and is sent as a file piece */
    struct fetch_state *st;
} fetch_item_t;

typedef struct fetch_state {
    kp_fetch_request_t in;
    kp_fetch_response_t resp;
    sl_fanout_t *fo;
    fetch_item_t **items;
    int32_t item_count;
    uint64_t deadline_ns;
    io_timer_t timer;
    bool final;          /* deadline passed or shutting down: answer now */
    uint64_t launch_append_seq; /* broker->append_seq when the owners were asked */
    int32_t reads_pending;
    sl_req_t *req;
} fetch_state_t;

static void fetch_launch(sl_req_t *req);

/* Owner shard: resolve one partition to a slice. */
static void fetch_on_item(sl_shard_t *owner, sl_fanout_part_t *part, void *item)
{
    fetch_item_t *it = item;
    memset(&it->slice, 0, sizeof(it->slice));
    struct st_log *log = sl_shard_log(owner, &it->topic_id, it->partition);
    if (!log) {
        it->error_code = KE_KAFKA_STORAGE_ERROR;
        sl_fanout_item_done(owner, part);
        return;
    }
    it->high_watermark = st_log_high_watermark(log);
    it->log_start_offset = st_log_start_offset(log);
    int rc = st_log_read(log, it->fetch_offset, it->max_bytes, &it->slice);
    if (rc == SL_ERR_RANGE)
        it->error_code = KE_OFFSET_OUT_OF_RANGE;
    else if (rc != 0)
        it->error_code = KE_KAFKA_STORAGE_ERROR;
    else
        it->error_code = KE_NONE;
    sl_fanout_item_done(owner, part);
}

static void release_slices(fetch_state_t *st)
{
    for (int32_t i = 0; i < st->item_count; i++) {
        fetch_item_t *it = st->items[i];
        if (it->slice.seg)
            st_slice_release(&it->slice);
        memset(&it->slice, 0, sizeof(it->slice));
    }
}

static void free_buffers(void *arg)
{
    fetch_state_t *st = arg;
    release_slices(st);
    for (int32_t i = 0; i < st->item_count; i++) {
        sl_pool_buf_put(&st->req->shard->pool, st->items[i]->data, st->items[i]->data_cap);
        st->items[i]->data = NULL;
    }
}

static void fetch_respond(sl_req_t *req)
{
    fetch_state_t *st = req->state;
    uint32_t ext_cap = 0;
    size_t ext_bytes = 0;
    for (int32_t i = 0; i < st->item_count; i++) {
        fetch_item_t *it = st->items[i];
        if (it->error_code == KE_NONE) {
            /* A spliced slice's records are named by the item's address. */
            it->out->records.ptr = it->spliced ? (const uint8_t *)it : it->data;
            it->out->records.len = (int32_t)it->data_len;
            if (it->data_len > 0) {
                ext_cap++;
                ext_bytes += it->data_len;
            }
        }
    }
    kp_ext_t *ext = ext_cap ? kp_arena_alloc(&req->arena, ext_cap * sizeof(*ext)) : NULL;
    uint32_t file_count = 0;
    for (int32_t i = 0; i < st->item_count; i++)
        file_count += st->items[i]->error_code == KE_NONE && st->items[i]->spliced;
    sl_file_piece_t *files =
        file_count ? kp_arena_alloc(&req->arena, file_count * sizeof(*files)) : NULL;
    if ((ext_cap && !ext) || (file_count && !files)) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    size_t total = kp_fetch_response_size(&st->resp, req->hdr.api_version);
    kp_writer_t *w = sl_req_begin_response(req, total, total - ext_bytes, ext, ext_cap);
    if (!w)
        return;
    int rc = kp_fetch_response_encode(w, &st->resp, req->hdr.api_version);
    ASSERT(rc == 0);
    ASSERT(w->ext_bytes == ext_bytes);
    /* Items were added in response order, so the file pieces follow the
     * writer's out-of-line entries in order. */
    for (int32_t i = 0, k = 0; i < st->item_count; i++) {
        fetch_item_t *it = st->items[i];
        if (it->error_code != KE_NONE || !it->spliced)
            continue;
        files[k++] = (sl_file_piece_t){it, it->slice.fd, (uint64_t)it->slice.file_pos};
    }
    req->files = files;
    req->file_count = file_count;
    sl_req_complete(req);
}

static void fetch_read_done(void *ctx, int32_t res, uint32_t flags)
{
    fetch_item_t *it = ctx;
    fetch_state_t *st = it->st;
    if (res < 0) {
        it->error_code = KE_KAFKA_STORAGE_ERROR;
        it->out->error_code = KE_KAFKA_STORAGE_ERROR;
        it->data_len = 0;
    } else {
        it->data_len = (uint32_t)res; /* a short read ends in a partial batch: fine */
    }
    if (it->slice.seg)
        st_slice_release(&it->slice);
    memset(&it->slice, 0, sizeof(it->slice));
    if (--st->reads_pending == 0)
        fetch_respond(st->req);
}

static void fetch_park_timeout(void *ctx)
{
    sl_req_t *req = ctx;
    fetch_state_t *st = req->state;
    sl_shard_t *s = req->shard;
    /* Unlink from the parked list. */
    for (sl_req_t **pp = &s->parked_head; *pp; pp = &(*pp)->park_next)
        if (*pp == req) {
            *pp = req->park_next;
            break;
        }
    req->parked = false;
    if (!s->parked_head)
        atomic_fetch_and(&s->broker->parked_shards_mask, ~(1ULL << s->id));
    st->final = true;
    fetch_launch(req);
}

static void fetch_park(sl_req_t *req)
{
    fetch_state_t *st = req->state;
    sl_shard_t *s = req->shard;
    release_slices(st);
    io_timer_setup(&st->timer, fetch_park_timeout, req);
    if (io_timer_arm(&s->timers, &st->timer, st->deadline_ns) != 0) {
        st->final = true;
        fetch_launch(req);
        return;
    }
    req->parked = true;
    req->park_next = s->parked_head;
    s->parked_head = req;
    atomic_fetch_or(&s->broker->parked_shards_mask, 1ULL << s->id);
    /* An append that completed after the owners read their logs but before the
     * mask above was set did not see this fetch: look again at once. (Appenders
     * bump append_seq, then read the mask; both sides are seq_cst, so one of
     * them sees the other.) */
    if (atomic_load(&s->broker->append_seq) != st->launch_append_seq)
        atomic_store(&s->fetch_wake, true);
}

void sl_fetch_wake_parked(sl_shard_t *s)
{
    sl_req_t *list = s->parked_head;
    s->parked_head = NULL;
    atomic_fetch_and(&s->broker->parked_shards_mask, ~(1ULL << s->id));
    while (list) {
        sl_req_t *req = list;
        list = req->park_next;
        fetch_state_t *st = req->state;
        io_timer_cancel(&s->timers, &st->timer);
        req->parked = false;
        if (s->stopping || req->conn->state != SL_CONN_OPEN || io_now_ns() >= st->deadline_ns)
            st->final = true;
        fetch_launch(req);
    }
}

/* Origin: every owner answered. */
static void fetch_resolved(sl_req_t *req)
{
    fetch_state_t *st = req->state;
    int64_t budget = st->in.max_bytes > 0 ? SL_MIN(st->in.max_bytes, SL_FETCH_MAX_BYTES)
                                          : SL_FETCH_MAX_BYTES;
    int64_t available = 0;
    bool first = true, has_error = false;
    for (int32_t i = 0; i < st->item_count; i++) {
        fetch_item_t *it = st->items[i];
        fe_part_t *out = it->out;
        out->error_code = it->error_code;
        out->high_watermark = it->error_code == KE_NONE ? it->high_watermark : -1;
        out->last_stable_offset = out->high_watermark;
        out->log_start_offset = it->error_code == KE_NONE ? it->log_start_offset : -1;
        has_error |= it->error_code != KE_NONE;
        if (it->slice.len == 0)
            continue;
        if (!first && (int64_t)it->slice.len > budget)
            it->slice.len = (uint32_t)SL_MAX(budget, 0);
        first = false;
        budget -= it->slice.len;
        available += it->slice.len;
    }
    /* Like Kafka, an error on any partition answers at once. */
    if (!st->final && !has_error && available < st->in.min_bytes && st->in.max_wait_ms > 0 &&
        io_now_ns() < st->deadline_ns && !req->shard->stopping &&
        req->conn->state == SL_CONN_OPEN) {
        fetch_park(req);
        return;
    }
    st->reads_pending = 1;
    for (int32_t i = 0; i < st->item_count; i++) {
        fetch_item_t *it = st->items[i];
        if (it->slice.len == 0) {
            if (it->slice.seg)
                st_slice_release(&it->slice);
            memset(&it->slice, 0, sizeof(it->slice));
            continue;
        }
        int32_t splice_min = req->shard->config->fetch_splice_min_bytes;
        if (splice_min >= 0 && it->slice.len >= (uint32_t)splice_min) {
            it->spliced = true;
            it->data_len = it->slice.len;
            continue;
        }
        it->data_cap = it->slice.len;
        it->data = sl_pool_buf_get(&req->shard->pool, it->data_cap);
        int rc = it->data ? io_submit_read(&req->shard->ring, it->slice.fd, it->data,
                                           it->slice.len, (uint64_t)it->slice.file_pos,
                                           fetch_read_done, it)
                          : -ENOMEM;
        if (rc != 0) {
            it->error_code = rc == -EBUSY ? KE_REQUEST_TIMED_OUT : KE_UNKNOWN_SERVER_ERROR;
            it->out->error_code = it->error_code;
            it->data_len = 0;
            st_slice_release(&it->slice);
            memset(&it->slice, 0, sizeof(it->slice));
            continue;
        }
        st->reads_pending++;
    }
    if (--st->reads_pending == 0)
        fetch_respond(req);
}

static void fetch_launch(sl_req_t *req)
{
    fetch_state_t *st = req->state;
    st->launch_append_seq = atomic_load(&req->shard->broker->append_seq);
    for (int32_t i = 0; i < st->item_count; i++) {
        st->items[i]->error_code = KE_NONE;
        st->items[i]->data_len = 0;
        st->items[i]->spliced = false;
    }
    sl_fanout_launch(st->fo);
}

void sl_handle_fetch(sl_req_t *req)
{
    fetch_state_t *st = kp_arena_alloc(&req->arena, sizeof(*st));
    if (!st) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    req->state = st;
    st->req = req;
    int16_t v = req->hdr.api_version;
    if (kp_fetch_request_decode(&req->body, &req->arena, v, &st->in) != 0) {
        sl_req_fail_close(req, "malformed Fetch request");
        return;
    }
    if (!sl_req_on_free(req, free_buffers, st)) {
        sl_req_fail_close(req, "out of memory");
        return;
    }
    st->deadline_ns = io_now_ns() + (uint64_t)SL_MAX(st->in.max_wait_ms, 0) * 1000000ULL;
    kp_fetch_response_init(&st->resp);
    st->resp.error_code = KE_NONE;
    st->resp.session_id = 0;
    int32_t nt = SL_MAX(st->in.topics_count, 0), total_parts = 0;
    for (int32_t t = 0; t < nt; t++)
        total_parts += SL_MAX(st->in.topics[t].partitions_count, 0);
    st->resp.responses = kp_arena_alloc(&req->arena, (size_t)SL_MAX(nt, 1) * sizeof(fe_topic_t));
    st->items = kp_arena_alloc(&req->arena, (size_t)SL_MAX(total_parts, 1) * sizeof(void *));
    st->fo = sl_fanout_new(req, fetch_on_item, fetch_resolved);
    if (!st->resp.responses || !st->items || !st->fo)
        goto oom;
    st->resp.responses_count = nt;
    const sl_meta_t *m = req->shard->meta;
    for (int32_t ti = 0; ti < nt; ti++) {
        const fe_req_topic_t *rt = &st->in.topics[ti];
        fe_topic_t *ot = &st->resp.responses[ti];
        kp_fetch_response_fetchable_topic_response_init(ot);
        ot->topic = rt->topic;
        ot->topic_id = rt->topic_id;
        int32_t np = SL_MAX(rt->partitions_count, 0);
        ot->partitions = kp_arena_alloc(&req->arena, (size_t)SL_MAX(np, 1) * sizeof(fe_part_t));
        if (!ot->partitions)
            goto oom;
        ot->partitions_count = np;
        const sl_topic_meta_t *t =
            rt->topic.len > 0 ? sl_meta_find(m, rt->topic.ptr, (size_t)rt->topic.len) : NULL;
        for (int32_t pi = 0; pi < np; pi++) {
            const fe_req_part_t *rp = &rt->partitions[pi];
            fe_part_t *op = &ot->partitions[pi];
            kp_fetch_response_partition_data_init(op);
            op->partition_index = rp->partition;
            op->high_watermark = -1;
            op->last_stable_offset = -1;
            op->log_start_offset = -1;
            op->preferred_read_replica = -1;
            op->aborted_transactions = NULL;
            op->aborted_transactions_count = st->in.isolation_level == 1 ? 0 : -1;
            op->records.ptr = NULL;
            op->records.len = 0;
            if (!t || rp->partition < 0 || rp->partition >= t->partition_count) {
                op->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            fetch_item_t *it = kp_arena_alloc(&req->arena, sizeof(*it));
            if (!it)
                goto oom;
            it->topic_id = t->id;
            it->partition = rp->partition;
            it->fetch_offset = rp->fetch_offset;
            it->max_bytes = (uint32_t)SL_MIN(SL_MAX(rp->partition_max_bytes, 0), SL_FETCH_MAX_BYTES);
            it->out = op;
            it->st = st;
            st->items[st->item_count++] = it;
            int shard = t->partitions[rp->partition].shard % req->shard->broker->shard_count;
            if (sl_fanout_add(st->fo, shard, it) != 0)
                goto oom;
        }
    }
    fetch_launch(req);
    return;
oom:
    sl_req_fail_close(req, "fetch request does not fit the request arena");
}
