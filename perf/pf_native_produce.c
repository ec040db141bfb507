/*
 * pf_native_produce.c — the producer side of a native engine thread: slots
 * of pre-built Produce frames, open-loop scheduling of batches, and ack
 * accounting (pf_native.h "Data phase", slot states in pf_native_thread.h).
 */
#include "pf_native_thread.h"
#include "pf_native_parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

static int16_t pf_nprod_acks(const pf_config_t *c)
{
    if (strcmp(c->acks, "0") == 0)
        return 0;
    if (strcmp(c->acks, "1") == 0)
        return 1;
    return -1;
}

/* Builds slot's frame around layout l (partition 0; patched per send). */
static int pf_nslot_build(pf_nthread_t *th, pf_nslot_t *s, const pf_nbatch_layout_t *l,
                          const uint8_t *tmpl, size_t cap)
{
    const pf_config_t *c = th->run->config;
    int n =
        pf_nframe_produce_build(s->frame, cap, th->eng->versions.produce, pf_nprod_acks(c),
                                PF_NATIVE_REQUEST_TIMEOUT_MS, c->topic, 0, l->total_bytes, &s->fp);
    if (n < 0)
        return -1;
    memcpy(s->frame + s->fp.batch_off, tmpl, l->total_bytes);
    return 0;
}

static void pf_nprod_on_frame(void *owner, pf_nconn_t *conn, const uint8_t *body, size_t len);
static void pf_nprod_on_sent(void *owner, pf_nconn_t *conn, void *tag);
static void pf_nprod_on_fail(void *owner, pf_nconn_t *conn);

int pf_nprod_setup(pf_nthread_t *th)
{
    pf_run_t *run = th->run;
    const pf_config_t *c = run->config;
    uint32_t n = th->eng->records_per_batch;
    size_t size = pf_nbatch_size(n, c->record_size, c->keys);
    th->tmpl = malloc(size);
    if (th->tmpl == NULL ||
        pf_nbatch_layout_build(&th->layout, th->tmpl, size, n, c->record_size, c->keys) != 0) {
        fprintf(stderr, "sluice-perf: out of memory for batches\n");
        return -1;
    }
    uint64_t threads = (uint64_t)th->eng->thread_count;
    uint64_t t = (uint64_t)th->index;
    th->k_end = UINT64_MAX;
    if (c->count > 0) /* the g = k * T + t below count */
        th->k_end = c->count > t ? (c->count - t + threads - 1) / threads : 0;
    th->next_k = 0;
    th->next_partition = (uint32_t)(t % (uint64_t)run->partition_count);
    th->linger_ns = (uint64_t)c->linger_ms * 1000000ULL;
    size_t frame_cap = size + PF_NFRAME_OVERHEAD_BYTES + strlen(c->topic);
    th->pconns = calloc((size_t)c->connections, sizeof(*th->pconns));
    if (th->pconns == NULL)
        return -1;
    th->pconn_count = c->connections;
    for (int i = 0; i < c->connections; i++) {
        pf_npconn_t *pc = &th->pconns[i];
        pc->th = th;
        pc->slots = calloc((size_t)c->inflight, sizeof(*pc->slots));
        pc->fifo = calloc((size_t)c->inflight, sizeof(*pc->fifo));
        if (pc->slots == NULL || pc->fifo == NULL)
            return -1;
        for (int k = 0; k < c->inflight; k++) {
            pf_nslot_t *s = &pc->slots[k];
            s->pc = pc;
            s->frame = malloc(frame_cap);
            if (s->frame == NULL || pf_nslot_build(th, s, &th->layout, th->tmpl, frame_cap) != 0) {
                fprintf(stderr, "sluice-perf: out of memory for frames\n");
                return -1;
            }
        }
        pc->free_count = (uint32_t)c->inflight;
        int fd = pf_nconn_connect(&th->eng->addr, th->eng->addr_len);
        if (fd < 0) {
            fprintf(stderr, "sluice-perf: cannot connect to %s: %s\n", c->bootstrap, strerror(-fd));
            return -1;
        }
        if (pf_nconn_open(&pc->conn, &th->ring, fd, 64 * 1024, 16u << 20, pc, pf_nprod_on_frame,
                          pf_nprod_on_sent, pf_nprod_on_fail) != 0) {
            fprintf(stderr, "sluice-perf: cannot set up a connection\n");
            return -1;
        }
        pc->open = true;
    }
    return 0;
}

/* Accounts a slot whose batch was acknowledged (ok) or failed at ack_ns. */
static void pf_nslot_done(pf_nthread_t *th, pf_nslot_t *s, bool ok, uint64_t ack_ns)
{
    pf_run_t *run = th->run;
    pf_worker_t *w = th->pw;
    uint64_t rate = run->config->rate;
    ASSERT(s->busy);
    if (ok) {
        atomic_fetch_add_explicit(&w->records, s->records, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->bytes, s->payload_bytes, memory_order_relaxed);
        atomic_store_explicit(&w->last_ns, ack_ns, memory_order_relaxed);
        if (rate == 0) {
            uint64_t lat = ack_ns > s->intended0 ? ack_ns - s->intended0 : 0;
            pf_worker_record(w, lat, s->records, s->intended0 >= run->warm_end_ns);
        } else {
            /* Each record's own intended time; one lock for the batch. */
            pthread_mutex_lock(&w->interval_lock);
            uint64_t threads = (uint64_t)th->eng->thread_count;
            for (uint32_t i = 0; i < s->records; i++) {
                uint64_t g = (s->k0 + i) * threads + (uint64_t)th->index;
                uint64_t intended = run->start_ns + pf_intended_offset_ns(g, rate);
                uint64_t lat = ack_ns > intended ? ack_ns - intended : 0;
                if (intended >= run->warm_end_ns)
                    pf_hist_record(&w->final_hist, lat);
                pf_hist_record(&w->interval_hist, lat);
            }
            pthread_mutex_unlock(&w->interval_lock);
        }
    }
    s->busy = false;
    s->pc->free_count++;
}

static void pf_nprod_on_sent(void *owner, pf_nconn_t *conn, void *tag)
{
    (void)conn;
    pf_npconn_t *pc = owner;
    pf_nslot_t *s = tag;
    ASSERT(s->busy && !s->sent && s->pc == pc);
    s->sent = true;
    if (pf_nprod_acks(pc->th->run->config) == 0)
        pf_nslot_done(pc->th, s, true, pf_now_ns());
    else if (s->answered)
        pf_nslot_done(pc->th, s, s->ok, s->ack_ns);
}

static void pf_nprod_on_frame(void *owner, pf_nconn_t *conn, const uint8_t *body, size_t len)
{
    pf_npconn_t *pc = owner;
    pf_nthread_t *th = pc->th;
    uint64_t now = pf_now_ns();
    if (pc->fifo_count == 0) {
        pf_native_error(th->pw, 0, "unexpected Produce response");
        pf_nconn_abort(conn, SL_ERR_PROTO);
        return;
    }
    pf_nslot_t *s = &pc->slots[pc->fifo[pc->fifo_head]];
    int16_t version = th->eng->versions.produce;
    int32_t corr;
    kp_reader_t r;
    pf_nproduce_result_t res;
    kp_arena_reset(&th->arena);
    if (pf_nparse_header(body, len, KP_API_PRODUCE, version, &corr, &r) != 0 ||
        corr != s->correlation || pf_nparse_produce(&r, &th->arena, version, &res) != 0) {
        pf_native_error(
            th->pw, 0, "malformed Produce response (correlation %" PRId32 ", expected %" PRId32 ")",
            corr, s->correlation);
        pf_nconn_abort(conn, SL_ERR_PROTO);
        return;
    }
    pc->fifo_head = (pc->fifo_head + 1) % (uint32_t)th->run->config->inflight;
    pc->fifo_count--;
    bool ok = res.error_code == 0 && res.partitions >= 1;
    if (!ok)
        pf_native_error(th->pw, s->records, "produce to %s/%" PRId32 ": %s (%d)",
                        th->run->config->topic, res.error_partition,
                        res.partitions == 0 ? "no partition in the response"
                                            : pf_nerror_name(res.error_code),
                        res.error_code);
    /* The response may be reaped before the send's own completion: then the
     * send completion finishes the slot. */
    s->answered = true;
    s->ok = ok;
    s->ack_ns = now;
    if (s->sent)
        pf_nslot_done(th, s, ok, now);
}

static void pf_nprod_on_fail(void *owner, pf_nconn_t *conn)
{
    pf_npconn_t *pc = owner;
    pf_nthread_t *th = pc->th;
    pc->open = false;
    uint64_t lost = 0;
    for (int k = 0; k < th->run->config->inflight; k++)
        if (pc->slots[k].busy) {
            lost += pc->slots[k].records;
            pc->slots[k].busy = false;
        }
    pc->fifo_count = 0;
    pc->free_count = 0; /* never used again */
    pf_native_error(
        th->pw, lost, "producer connection failed (%s); %" PRIu64 " records in flight lost",
        conn->error > -4096 && conn->error < 0 ? strerror(-conn->error) : "protocol error", lost);
}

/* Fills a free slot of some connection with records k0 .. k0 + n - 1 and
 * queues it. Returns false when every slot is busy. */
static bool pf_nprod_send_batch(pf_nthread_t *th, uint64_t k0, uint32_t n, uint64_t now)
{
    pf_run_t *run = th->run;
    const pf_config_t *c = run->config;
    pf_npconn_t *pc = NULL;
    for (int k = 0; k < th->pconn_count; k++) {
        pf_npconn_t *cand = &th->pconns[(th->rr_conn + k) % th->pconn_count];
        if (cand->open && cand->free_count > 0) {
            pc = cand;
            th->rr_conn = (th->rr_conn + k + 1) % th->pconn_count;
            break;
        }
    }
    if (pc == NULL)
        return false;
    pf_nslot_t *s = NULL;
    for (int k = 0; k < c->inflight; k++)
        if (!pc->slots[k].busy) {
            s = &pc->slots[k];
            break;
        }
    ASSERT(s != NULL);
    ASSERT(n >= 1 && n <= th->layout.record_count);
    uint64_t threads = (uint64_t)th->eng->thread_count;
    s->k0 = k0;
    s->records = n;
    s->payload_bytes = pf_nbatch_payload_bytes(&th->layout) / th->layout.record_count * n;
    s->intended0 = now;
    s->correlation = pc->next_correlation++;
    if (pc->next_correlation < 0)
        pc->next_correlation = 0;
    pf_nframe_set_correlation(s->frame, s->correlation);
    pf_nframe_set_i32(s->frame + s->fp.partition_off, (int32_t)th->next_partition);
    th->next_partition = (th->next_partition + 1) % (uint32_t)run->partition_count;
    pf_nbatch_stamp_t st = {
        .g0 = k0 * threads + (uint64_t)th->index,
        .stride = threads,
        .rate = c->rate,
        .start_rt_ns = (int64_t)(c->rate > 0 ? run->start_ns : now) + run->realtime_offset_ns,
        .timestamp_ms = ((int64_t)now + run->realtime_offset_ns) / 1000000,
        .rng = &th->pw->rng,
    };
    uint32_t bytes = pf_nbatch_patch(s->frame + s->fp.batch_off, &th->layout, &st, n);
    uint32_t frame_len = pf_nframe_produce_cut(s->frame, &s->fp, bytes);
    s->busy = true;
    s->sent = false;
    s->answered = false;
    pc->free_count--;
    int qrc = pf_nconn_send(&pc->conn, s->frame, frame_len, s);
    ASSERT(qrc == 0); /* pc is open and its queue holds more than inflight frames */
    if (pf_nprod_acks(c) != 0) {
        uint32_t cap = (uint32_t)c->inflight;
        pc->fifo[(pc->fifo_head + pc->fifo_count) % cap] = (uint32_t)(s - pc->slots);
        pc->fifo_count++;
    }
    atomic_fetch_add_explicit(&th->pw->sent, n, memory_order_relaxed);
    return true;
}

/* Thread-local records k with g = k * T + t < g_end: how many there are. */
static uint64_t pf_nprod_k_below(uint64_t g_end, uint64_t threads, uint64_t t)
{
    return g_end > t ? (g_end - t + threads - 1) / threads : 0;
}

/* The global records intended before `at` (rate > 0): g < this. */
static uint64_t pf_nprod_g_due(const pf_run_t *run, uint64_t at)
{
    if (at < run->start_ns)
        return 0;
    /* Record g is intended at start + floor(g * 1e9 / R) (pf_intended_offset_ns),
     * which is <= at exactly when g < (at - start + 1) * R / 1e9. */
    unsigned __int128 g = (unsigned __int128)(at - run->start_ns + 1) * run->config->rate;
    g = (g + PF_NS_PER_S - 1) / PF_NS_PER_S;
    return g > UINT64_MAX ? UINT64_MAX : (uint64_t)g;
}

void pf_nprod_pump(pf_nthread_t *th, uint64_t now, uint64_t *wake_ns)
{
    pf_run_t *run = th->run;
    const pf_config_t *c = run->config;
    uint64_t threads = (uint64_t)th->eng->thread_count;
    uint64_t t = (uint64_t)th->index;
    uint64_t max_n = th->layout.record_count;
    bool any_open = false;
    for (int k = 0; k < th->pconn_count; k++)
        any_open |= th->pconns[k].open;
    if (!any_open) /* every connection failed: nothing more can be sent */
        th->produce_over = true;
    while (!th->produce_over) {
        if (atomic_load_explicit(&run->stop, memory_order_relaxed) || th->next_k >= th->k_end) {
            th->produce_over = true;
            break;
        }
        uint64_t k_lim = th->k_end;
        uint64_t n;
        if (c->rate > 0) {
            if (c->count == 0) { /* nothing intended at or after send_end */
                uint64_t g_end = pf_nprod_g_due(run, run->send_end_ns - 1);
                k_lim = SL_MIN(k_lim, pf_nprod_k_below(g_end, threads, t));
                if (th->next_k >= k_lim) {
                    th->produce_over = true;
                    break;
                }
            }
            uint64_t k_due = SL_MIN(pf_nprod_k_below(pf_nprod_g_due(run, now), threads, t), k_lim);
            uint64_t first =
                run->start_ns + pf_intended_offset_ns(th->next_k * threads + t, c->rate);
            if (k_due <= th->next_k) { /* the next record is not due yet */
                *wake_ns = SL_MIN(*wake_ns, first);
                break;
            }
            n = SL_MIN(k_due - th->next_k, max_n);
            /* Linger: a batch that is neither full nor the run's last waits
             * until its oldest record is linger old (librdkafka's rule). */
            if (n < max_n && th->next_k + n < k_lim && now < first + th->linger_ns) {
                uint64_t k_full = th->next_k + max_n - 1;
                uint64_t full_at =
                    run->start_ns + pf_intended_offset_ns(k_full * threads + t, c->rate);
                *wake_ns = SL_MIN(*wake_ns, SL_MIN(first + th->linger_ns, full_at));
                break;
            }
        } else {
            if (c->count == 0 && now >= run->send_end_ns) {
                th->produce_over = true;
                break;
            }
            n = SL_MIN(k_lim - th->next_k, max_n);
        }
        if (!pf_nprod_send_batch(th, th->next_k, (uint32_t)n, now))
            break;
        th->next_k += n;
    }
    for (int k = 0; k < th->pconn_count; k++)
        pf_nconn_flush(&th->pconns[k].conn);
}

bool pf_nprod_idle(const pf_nthread_t *th)
{
    for (int k = 0; k < th->pconn_count; k++) {
        const pf_npconn_t *pc = &th->pconns[k];
        if (pc->open && pc->free_count < (uint32_t)th->run->config->inflight)
            return false;
    }
    return true;
}

void pf_nprod_teardown(pf_nthread_t *th)
{
    for (int k = 0; k < th->pconn_count; k++) {
        pf_npconn_t *pc = &th->pconns[k];
        if (pc->slots != NULL)
            for (int i = 0; i < th->run->config->inflight; i++)
                free(pc->slots[i].frame);
        free(pc->slots);
        free(pc->fifo);
    }
    free(th->pconns);
    th->pconns = NULL;
    pf_nbatch_layout_free(&th->layout);
    free(th->tmpl);
}
