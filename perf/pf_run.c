/*
 * pf_run.c — see pf_run.h.
 */
#include "pf_run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PF_TOPIC_WAIT_CHECKS 100 /* metadata checks, ~100 ms apart, after creating the topic */

uint64_t pf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * PF_NS_PER_S + (uint64_t)ts.tv_nsec;
}

int64_t pf_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * (int64_t)PF_NS_PER_S + ts.tv_nsec;
}

static int pf_worker_init(pf_worker_t *w, pf_run_t *run, int index)
{
    memset(w, 0, sizeof(*w));
    w->run = run;
    w->index = index;
    w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)index * 0xD1B54A32D192ED03ULL) ^ pf_now_ns();
    if (w->rng == 0)
        w->rng = 1;
    if (pf_hist_init(&w->final_hist, PF_LAT_LOWEST_NS, PF_LAT_HIGHEST_NS, PF_LAT_DIGITS) != 0)
        return -ENOMEM;
    if (pf_hist_init(&w->interval_hist, PF_LAT_LOWEST_NS, PF_LAT_HIGHEST_NS, PF_LAT_DIGITS) != 0) {
        pf_hist_destroy(&w->final_hist);
        return -ENOMEM;
    }
    pthread_mutex_init(&w->interval_lock, NULL);
    return 0;
}

static void pf_worker_destroy(pf_worker_t *w)
{
    ASSERT(w->rk == NULL); /* the engine released its client (pf_rdk_release) */
    pf_hist_destroy(&w->final_hist);
    pf_hist_destroy(&w->interval_hist);
    pthread_mutex_destroy(&w->interval_lock);
}

int pf_run_init(pf_run_t *run, const pf_config_t *config, int producers)
{
    ASSERT(producers >= 0 && producers <= PF_MAX_PRODUCERS);
    memset(run, 0, sizeof(*run));
    run->config = config;
    bool produces = config->mode != PF_MODE_CONSUME;
    run->producer_count = produces ? producers : 0;
    run->have_consumer = config->mode != PF_MODE_PRODUCE;
    for (int i = 0; i < run->producer_count; i++) {
        if (pf_worker_init(&run->producers[i], run, i) != 0) {
            run->producer_count = i;
            run->have_consumer = false;
            pf_run_destroy(run);
            return -ENOMEM;
        }
    }
    if (run->have_consumer && pf_worker_init(&run->consumer, run, 0) != 0) {
        run->have_consumer = false;
        pf_run_destroy(run);
        return -ENOMEM;
    }
    return 0;
}

void pf_run_destroy(pf_run_t *run)
{
    for (int i = 0; i < run->producer_count; i++)
        pf_worker_destroy(&run->producers[i]);
    if (run->have_consumer)
        pf_worker_destroy(&run->consumer);
    run->producer_count = 0;
    run->have_consumer = false;
}

void pf_worker_record(pf_worker_t *w, uint64_t latency_ns, uint64_t count, bool measured)
{
    if (measured)
        pf_hist_record_n(&w->final_hist, latency_ns, count);
    pthread_mutex_lock(&w->interval_lock);
    pf_hist_record_n(&w->interval_hist, latency_ns, count);
    pthread_mutex_unlock(&w->interval_lock);
}

void pf_worker_note_last(pf_worker_t *w, uint64_t now_ns)
{
    uint64_t seen = atomic_load_explicit(&w->last_ns, memory_order_relaxed);
    while (seen < now_ns &&
           !atomic_compare_exchange_weak_explicit(&w->last_ns, &seen, now_ns, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

bool pf_run_consumer_done(pf_run_t *run, uint64_t received, uint64_t now_ns)
{
    const pf_config_t *c = run->config;
    if (c->mode == PF_MODE_CONSUME)
        return c->count > 0 ? received >= c->count : now_ns >= run->send_end_ns;
    if (atomic_load(&run->producers_running) > 0)
        return false;
    uint64_t acked = 0;
    for (int i = 0; i < run->producer_count; i++)
        acked += atomic_load_explicit(&run->producers[i].records, memory_order_relaxed);
    if (received >= acked)
        return true;
    uint64_t done_ns = atomic_load(&run->producers_done_ns);
    if (done_ns != 0 && now_ns >= done_ns + PF_DRAIN_TIMEOUT_NS) {
        /* Several consumer threads may get here: one message. */
        if (!atomic_exchange(&run->drain_reported, true))
            fprintf(stderr,
                    "sluice-perf: consumer: %" PRIu64 " of %" PRIu64
                    " acked records not received within the drain timeout\n",
                    acked - received, acked);
        return true;
    }
    return false;
}

int pf_run_prepare_topic(pf_run_t *run, const pf_topic_ops_t *ops)
{
    const pf_config_t *c = run->config;
    int32_t n = ops->partitions(ops->ctx, c->topic);
    if (n < 0)
        return -1;
    if (n == 0) {
        if (c->partitions == 0) {
            fprintf(stderr,
                    "sluice-perf: topic %s does not exist (pass --partitions N to "
                    "create it)\n",
                    c->topic);
            return -1;
        }
        if (ops->create(ops->ctx, c->topic, c->partitions) != 0)
            return -1;
        /* Creation is asynchronous on some brokers: wait for the metadata. */
        for (int i = 0; i < PF_TOPIC_WAIT_CHECKS && n <= 0; i++) {
            n = ops->partitions(ops->ctx, c->topic);
            if (n <= 0)
                ops->pause(ops->ctx, n);
        }
        if (n <= 0) {
            fprintf(stderr, "sluice-perf: topic %s created but not in metadata\n", c->topic);
            return -1;
        }
        fprintf(stderr, "sluice-perf: created topic %s with %" PRId32 " partitions\n", c->topic, n);
    } else if (c->partitions > 0 && n != c->partitions) {
        fprintf(stderr,
                "sluice-perf: note: topic %s exists with %" PRId32 " partitions (not %" PRId32
                "); using it as is\n",
                c->topic, n, c->partitions);
    }
    run->partition_count = n;
    return 0;
}
