/*
 * pf_native_consume.c — the consumer side of a native engine thread (threads
 * 0 .. Tc - 1): fetch streams over the thread's partitions, pipelined
 * Fetches, record counting and e2e latency (pf_native.h "Data phase").
 *
 * Streams: consume mode pipelines `inflight` streams per connection; e2e mode
 * keeps one per connection (see pf_ncons_setup: responses come in request
 * order, so a parked long-poll Fetch would delay the ones behind it).
 *
 * Invariants: partition p belongs to thread p % Tc and, inside it, to one
 * stream (pf_native_split.h), so no two Fetches in flight (on any thread)
 * ask for the same partition; a stream's offsets only move forward, to the
 * offset after the last complete batch received. The consumer worker is
 * shared: its counters are atomics added once per partition of a response,
 * its histograms are written under interval_lock (e2e only).
 */
#include "pf_native_thread.h"
#include "pf_native_parse.h"
#include "pf_native_split.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#define PF_NCONS_MAX_PART_BYTES (64 << 20) /* a stream's partition max may grow to this */

static void pf_ncons_on_frame(void *owner, pf_nconn_t *conn, const uint8_t *body, size_t len);
static void pf_ncons_on_fail(void *owner, pf_nconn_t *conn);

/* Allocates stream s of `streams` over this thread's `parts` partitions
 * (thread-local indices s, s + streams, ...; pf_native_split.h). */
static int pf_ncons_stream_init(pf_nthread_t *th, pf_nstream_t *st, int32_t parts, int32_t streams,
                                int32_t s)
{
    const pf_config_t *c = th->run->config;
    int32_t threads = th->eng->consumer_threads;
    int32_t count = pf_nsplit_size(parts, streams, s);
    ASSERT(count >= 1); /* streams <= parts */
    st->partitions = calloc((size_t)count, sizeof(int32_t));
    st->offsets = calloc((size_t)count, sizeof(int64_t));
    st->scratch = calloc((size_t)count, sizeof(*st->scratch));
    st->frame_cap = 512 + strlen(c->topic) + (size_t)count * 64;
    st->frame = malloc(st->frame_cap);
    if (st->partitions == NULL || st->offsets == NULL || st->scratch == NULL || st->frame == NULL)
        return -1;
    for (int32_t j = 0; j < count; j++) {
        int32_t p = pf_nsplit_item(threads, th->index, pf_nsplit_item(streams, s, j));
        ASSERT(p < th->run->partition_count);
        st->partitions[j] = p;
        st->offsets[j] = th->eng->start_offsets[p];
    }
    st->count = count;
    st->part_max_bytes = PF_NATIVE_PARTITION_MAX_BYTES;
    return 0;
}

/* Opens fetch connection fc, whose FIFO holds up to fifo_cap streams. */
static int pf_ncons_conn_open(pf_nthread_t *th, pf_nfconn_t *fc, uint32_t fifo_cap)
{
    fc->th = th;
    fc->fifo_cap = fifo_cap;
    fc->fifo = calloc(fc->fifo_cap, sizeof(uint32_t));
    if (fc->fifo == NULL)
        return -1;
    int fd = pf_nconn_connect(&th->eng->addr, th->eng->addr_len);
    if (fd < 0) {
        fprintf(stderr, "sluice-perf: cannot connect to %s: %s\n", th->run->config->bootstrap,
                strerror(-fd));
        return -1;
    }
    if (pf_nconn_open(&fc->conn, &th->ring, fd, 1u << 20, PF_NATIVE_MAX_RESPONSE_BYTES, fc,
                      pf_ncons_on_frame, NULL, pf_ncons_on_fail) != 0) {
        fprintf(stderr, "sluice-perf: cannot set up a connection\n");
        return -1;
    }
    fc->open = true;
    return 0;
}

int pf_ncons_setup(pf_nthread_t *th)
{
    pf_run_t *run = th->run;
    const pf_config_t *c = run->config;
    ASSERT(th->index < th->eng->consumer_threads);
    int32_t parts = pf_nsplit_size(run->partition_count, th->eng->consumer_threads, th->index);
    ASSERT(parts >= 1); /* consumer_threads <= partitions */
    int conns = c->connections;
    /* A broker answers a connection's requests in order, so a Fetch parked
     * at the log end holds back every Fetch behind it: e2e (always at the
     * log end) keeps one stream per connection; consume pipelines
     * `inflight` streams per connection (data is there to read). */
    int per_conn = c->mode == PF_MODE_E2E ? 1 : c->inflight;
    int streams = (int)SL_MIN((int64_t)parts, (int64_t)conns * per_conn);
    if (streams < conns)
        conns = streams;
    th->e2e = c->mode == PF_MODE_E2E;
    th->fconns = calloc((size_t)conns, sizeof(*th->fconns));
    th->streams = calloc((size_t)streams, sizeof(*th->streams));
    if (th->fconns == NULL || th->streams == NULL)
        return -1;
    th->fconn_count = conns;
    th->stream_count = streams;
    for (int s = 0; s < streams; s++) {
        if (pf_ncons_stream_init(th, &th->streams[s], parts, streams, s) != 0)
            return -1;
        th->streams[s].fc = &th->fconns[s % conns];
    }
    for (int i = 0; i < conns; i++)
        if (pf_ncons_conn_open(th, &th->fconns[i], (uint32_t)((streams + conns - 1) / conns)) != 0)
            return -1;
    return 0;
}

/* e2e: one record's value; the interval lock is held by the caller. */
static void pf_ncons_on_value(void *ctx, const uint8_t *value, int32_t value_len)
{
    pf_nthread_t *th = ctx;
    if (value_len < 8)
        return;
    int64_t sent_rt;
    memcpy(&sent_rt, value, sizeof(sent_rt));
    int64_t lat = (int64_t)th->walk_now_rt - sent_rt;
    uint64_t latency = lat > 0 ? (uint64_t)lat : 0;
    pf_worker_t *w = th->cw;
    if (sent_rt - th->run->realtime_offset_ns >= (int64_t)th->run->warm_end_ns)
        pf_hist_record(&w->final_hist, latency);
    pf_hist_record(&w->interval_hist, latency);
}

/* Accounts one partition of a Fetch response. */
static void pf_ncons_partition(pf_nthread_t *th, pf_nstream_t *st,
                               const kp_fetch_response_partition_data_t *pd, uint64_t now)
{
    pf_worker_t *w = th->cw;
    int32_t k = 0;
    while (k < st->count && st->partitions[k] != pd->partition_index)
        k++;
    if (k == st->count) {
        pf_native_error(w, 1, "Fetch answered partition %" PRId32 " not asked for",
                        pd->partition_index);
        return;
    }
    if (pd->error_code != 0) {
        pf_native_error(w, 1, "fetch %s/%" PRId32 " at %" PRId64 ": %s (%d)",
                        th->run->config->topic, pd->partition_index, st->offsets[k],
                        pf_nerror_name(pd->error_code), pd->error_code);
        return;
    }
    if (pd->records.len <= 0)
        return;
    pf_nwalk_t walk;
    int rc;
    if (th->e2e) {
        th->walk_now_rt = (uint64_t)((int64_t)now + th->run->realtime_offset_ns);
        pthread_mutex_lock(&w->interval_lock);
        rc = pf_nrecords_walk(pd->records.ptr, (size_t)pd->records.len, st->offsets[k], false,
                              pf_ncons_on_value, th, &walk);
        pthread_mutex_unlock(&w->interval_lock);
    } else {
        rc = pf_nrecords_walk(pd->records.ptr, (size_t)pd->records.len, st->offsets[k], false, NULL,
                              NULL, &walk);
    }
    if (rc != 0)
        pf_native_error(w, 1, "fetch %s/%" PRId32 ": corrupt batch after offset %" PRId64,
                        th->run->config->topic, pd->partition_index, walk.next_offset);
    if (walk.batches == 0 && walk.truncated && st->part_max_bytes < PF_NCONS_MAX_PART_BYTES)
        st->part_max_bytes *= 2; /* a batch larger than we asked for: ask for more */
    st->offsets[k] = walk.next_offset;
    if (walk.records > 0) {
        atomic_fetch_add_explicit(&w->records, walk.records, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->bytes, walk.bytes, memory_order_relaxed);
        pf_worker_note_last(w, now);
    }
}

static void pf_ncons_on_frame(void *owner, pf_nconn_t *conn, const uint8_t *body, size_t len)
{
    pf_nfconn_t *fc = owner;
    pf_nthread_t *th = fc->th;
    uint64_t now = pf_now_ns();
    if (fc->fifo_count == 0) {
        pf_native_error(th->cw, 1, "unexpected Fetch response");
        pf_nconn_abort(conn, SL_ERR_PROTO);
        return;
    }
    pf_nstream_t *st = &th->streams[fc->fifo[fc->fifo_head]];
    int16_t version = th->eng->versions.fetch;
    int32_t corr = -1;
    kp_reader_t r;
    kp_fetch_response_t resp;
    kp_arena_reset(&th->arena);
    if (pf_nparse_header(body, len, KP_API_FETCH, version, &corr, &r) != 0 ||
        corr != st->correlation || pf_nparse_fetch(&r, &th->arena, version, &resp) != 0) {
        pf_native_error(th->cw, 1,
                        "malformed Fetch response (correlation %" PRId32 ", expected %" PRId32 ")",
                        corr, st->correlation);
        pf_nconn_abort(conn, SL_ERR_PROTO);
        return;
    }
    fc->fifo_head = (fc->fifo_head + 1) % fc->fifo_cap;
    fc->fifo_count--;
    st->in_flight = false;
    if (resp.error_code != 0)
        pf_native_error(th->cw, 1, "fetch: %s (%d)", pf_nerror_name(resp.error_code),
                        resp.error_code);
    for (int32_t t = 0; t < resp.responses_count; t++)
        for (int32_t p = 0; p < resp.responses[t].partitions_count; p++)
            pf_ncons_partition(th, st, &resp.responses[t].partitions[p], now);
}

static void pf_ncons_on_fail(void *owner, pf_nconn_t *conn)
{
    pf_nfconn_t *fc = owner;
    fc->open = false;
    fc->fifo_count = 0;
    pf_native_error(fc->th->cw, 1, "consumer connection failed (%s)",
                    conn->error > -4096 && conn->error < 0 ? strerror(-conn->error)
                                                           : "protocol error");
}

/* Whether the consumer is over: stopped, abandoned (some consumer thread,
 * maybe this one, has no fetch connection left), or pf_run_consumer_done on
 * the records of every consumer thread (the shared worker). */
static bool pf_ncons_done(pf_nthread_t *th, uint64_t now)
{
    pf_run_t *run = th->run;
    pf_native_t *eng = th->eng;
    if (atomic_load_explicit(&run->stop, memory_order_relaxed))
        return true;
    bool any_open = false;
    for (int i = 0; i < th->fconn_count; i++)
        any_open |= th->fconns[i].open;
    if (!any_open)
        atomic_store(&eng->consumer_abandoned, true);
    if (atomic_load_explicit(&eng->consumer_abandoned, memory_order_relaxed))
        return true;
    uint64_t received = atomic_load_explicit(&th->cw->records, memory_order_relaxed);
    return pf_run_consumer_done(run, received, now);
}

void pf_ncons_finished(pf_nthread_t *th)
{
    if (th->cw == NULL || th->consumer_finished)
        return;
    th->consumer_finished = true;
    if (atomic_fetch_sub(&th->eng->consumers_running, 1) == 1)
        atomic_store(&th->cw->finished, true);
}

void pf_ncons_pump(pf_nthread_t *th, uint64_t now)
{
    if (th->consume_over)
        return;
    if (pf_ncons_done(th, now)) {
        th->consume_over = true;
        pf_ncons_finished(th);
        return;
    }
    const pf_config_t *c = th->run->config;
    for (int s = 0; s < th->stream_count; s++) {
        pf_nstream_t *st = &th->streams[s];
        pf_nfconn_t *fc = st->fc;
        if (st->in_flight || !fc->open)
            continue;
        int32_t corr = fc->next_correlation++;
        if (fc->next_correlation < 0)
            fc->next_correlation = 0;
        int64_t max_bytes = (int64_t)st->part_max_bytes * st->count;
        int n =
            pf_nframe_fetch(st->frame, st->frame_cap, th->eng->versions.fetch, corr, c->topic,
                            st->partitions, st->offsets, st->count, PF_NATIVE_FETCH_MAX_WAIT_MS,
                            (int32_t)SL_MIN(max_bytes, INT32_MAX), st->part_max_bytes, st->scratch);
        ASSERT(n > 0); /* frame_cap covers every partition */
        if (pf_nconn_send(&fc->conn, st->frame, (size_t)n, NULL) != 0)
            continue;
        st->correlation = corr;
        st->in_flight = true;
        fc->fifo[(fc->fifo_head + fc->fifo_count) % fc->fifo_cap] = (uint32_t)s;
        fc->fifo_count++;
    }
    for (int i = 0; i < th->fconn_count; i++)
        pf_nconn_flush(&th->fconns[i].conn);
}

void pf_ncons_teardown(pf_nthread_t *th)
{
    for (int s = 0; s < th->stream_count; s++) {
        pf_nstream_t *st = &th->streams[s];
        free(st->partitions);
        free(st->offsets);
        free(st->scratch);
        free(st->frame);
    }
    free(th->streams);
    th->streams = NULL;
    for (int i = 0; i < th->fconn_count; i++)
        free(th->fconns[i].fifo);
    free(th->fconns);
    th->fconns = NULL;
}
