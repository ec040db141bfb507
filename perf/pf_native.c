/*
 * pf_native.c — the native engine's threads (pf_native.h): set-up hand-off,
 * the one loop per thread around its io_uring, and teardown.
 *
 * Start-up order: pf_native_prepare runs the set-up conversation, then starts
 * the threads; each creates its ring (on itself: SINGLE_ISSUER), connects,
 * builds its frames and reports ready, then waits for pf_native_start, so
 * that connection set-up is not measured as latency of the first records.
 *
 * Loop of a thread, until its producer part is finished (every batch sent and
 * acknowledged, or stopped and drained / timed out) and its consumer part is
 * done: pump the producer (queue the batches that are due), pump the consumer
 * (a Fetch per idle stream), then submit and wait in io_ring_run_once until a
 * completion or the next batch's due time (never longer than PF_NLOOP_NAP_NS,
 * so stop is noticed). Waits shorter than PF_NLOOP_SPIN_NS poll instead.
 */
#include "pf_native.h"
#include "pf_native_thread.h"
#include "pf_native_split.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>

#define PF_NLOOP_NAP_NS 20000000ULL /* 20 ms */
#define PF_NLOOP_SPIN_NS 20000ULL   /* 20 us */
#define PF_NLOOP_STOP_DRAIN_NS (10ULL * PF_NS_PER_S)
#define PF_NLOOP_CLOSE_NS (2ULL * PF_NS_PER_S)
#define PF_NRING_SQ_ENTRIES 256
#define PF_NARENA_BYTES (64u << 20)

/* The start-up hand-off. One engine runs at a time in the process (rate
 * discovery runs its steps one after the other), so it is a single static. */
typedef struct pf_nsync {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready;
    int failed;
    bool go;
} pf_nsync_t;

static pf_nsync_t pf_nsync = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false};

void pf_native_error(pf_worker_t *w, uint64_t count, const char *fmt, ...)
{
    uint64_t before =
        atomic_fetch_add_explicit(&w->errors, count > 0 ? count : 1, memory_order_relaxed);
    static _Atomic int printed;
    if (before > 0 && atomic_fetch_add(&printed, 1) >= PF_NATIVE_MAX_REPORTED_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice-perf: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

int pf_native_check_config(const pf_config_t *c)
{
    if (c->mode != PF_MODE_CONSUME && strcmp(c->compression, "none") != 0) {
        fprintf(stderr,
                "sluice-perf: --engine native sends uncompressed batches only "
                "(--compression none); use --engine rdkafka for %s\n",
                c->compression);
        return -1;
    }
    if (c->group != NULL) {
        fprintf(stderr, "sluice-perf: --engine native does not consume in a group; use "
                        "--engine rdkafka with --group\n");
        return -1;
    }
    return 0;
}

uint32_t pf_native_records_per_batch(const pf_config_t *c)
{
    /* A record costs its key and value plus at most 16 bytes of framing
     * (length, attributes, deltas, key/value lengths, header count), so the
     * batch stays within batch_size (and the broker's max.message.bytes when
     * batch_size respects it). */
    uint64_t per = (uint64_t)c->record_size + (c->keys == PF_KEYS_NONE ? 0 : 8) + 16;
    uint64_t room = c->batch_size > 61 ? (uint64_t)c->batch_size - 61 : 0;
    uint64_t n = SL_MAX(room / per, 1);
    return (uint32_t)SL_MIN(n, (uint64_t)PF_NBATCH_MAX_RECORDS);
}

static void pf_nthread_close_all(pf_nthread_t *th)
{
    for (int k = 0; k < th->pconn_count; k++)
        if (th->pconns[k].conn.rbuf != NULL)
            pf_nconn_close(&th->pconns[k].conn);
    for (int k = 0; k < th->fconn_count; k++)
        if (th->fconns[k].conn.rbuf != NULL)
            pf_nconn_close(&th->fconns[k].conn);
    /* Let the shut-down sockets' operations complete before freeing. */
    uint64_t deadline = pf_now_ns() + PF_NLOOP_CLOSE_NS;
    for (;;) {
        bool idle = true;
        for (int k = 0; k < th->pconn_count; k++)
            idle &= pf_nconn_idle(&th->pconns[k].conn);
        for (int k = 0; k < th->fconn_count; k++)
            idle &= pf_nconn_idle(&th->fconns[k].conn);
        if (idle || pf_now_ns() >= deadline)
            break;
        io_ring_run_once(&th->ring, 10000000);
    }
    for (int k = 0; k < th->pconn_count; k++)
        if (th->pconns[k].conn.rbuf != NULL && pf_nconn_idle(&th->pconns[k].conn))
            pf_nconn_release(&th->pconns[k].conn);
    for (int k = 0; k < th->fconn_count; k++)
        if (th->fconns[k].conn.rbuf != NULL && pf_nconn_idle(&th->fconns[k].conn))
            pf_nconn_release(&th->fconns[k].conn);
}

/* Marks this thread's producer finished (once). */
static void pf_nthread_producer_finished(pf_nthread_t *th)
{
    if (th->pw == NULL || th->producer_finished)
        return;
    th->producer_finished = true;
    pf_run_t *run = th->run;
    if (atomic_fetch_sub(&run->producers_running, 1) == 1)
        atomic_store(&run->producers_done_ns, pf_now_ns());
    atomic_store(&th->pw->finished, true);
}

static void pf_nthread_loop(pf_nthread_t *th)
{
    pf_run_t *run = th->run;
    uint64_t stop_deadline = 0;
    for (;;) {
        uint64_t now = pf_now_ns();
        uint64_t wake = now + PF_NLOOP_NAP_NS;
        if (th->pw != NULL && !th->producer_finished) {
            pf_nprod_pump(th, now, &wake);
            if (th->produce_over && pf_nprod_idle(th))
                pf_nthread_producer_finished(th);
            if (atomic_load_explicit(&run->stop, memory_order_relaxed)) {
                if (stop_deadline == 0)
                    stop_deadline = now + PF_NLOOP_STOP_DRAIN_NS;
                else if (now >= stop_deadline)
                    pf_nthread_producer_finished(th);
            }
        }
        if (th->cw != NULL)
            pf_ncons_pump(th, now);
        bool prod_done = th->pw == NULL || th->producer_finished;
        bool cons_done = th->cw == NULL || th->consume_over;
        if (prod_done && cons_done)
            break;
        uint64_t wait = wake > now ? wake - now : 0;
        int rc = io_ring_run_once(&th->ring, wait < PF_NLOOP_SPIN_NS ? 0 : (int64_t)wait);
        if (rc < 0) {
            fprintf(stderr, "sluice-perf: io_uring: %s\n", strerror(-rc));
            atomic_store(&run->stop, true);
        }
    }
}

static void *pf_nthread_main(void *arg)
{
    pf_nthread_t *th = arg;
    pf_run_t *run = th->run;
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups on time, not up to 50 us late */
    int conns = run->config->connections * 2 + 4;
    int rc = io_ring_init(&th->ring, PF_NRING_SQ_ENTRIES, (unsigned)conns * 2 + 16);
    bool ok = rc == 0;
    if (!ok)
        fprintf(stderr, "sluice-perf: io_uring set-up: %s\n", strerror(-rc));
    th->ring_ready = ok;
    kp_arena_init(&th->arena, PF_NARENA_BYTES);
    if (ok && th->pw != NULL && pf_nprod_setup(th) != 0)
        ok = false;
    if (ok && th->cw != NULL && pf_ncons_setup(th) != 0)
        ok = false;
    pthread_mutex_lock(&pf_nsync.lock);
    pf_nsync.ready++;
    if (!ok)
        pf_nsync.failed++;
    pthread_cond_broadcast(&pf_nsync.cond);
    while (!pf_nsync.go)
        pthread_cond_wait(&pf_nsync.cond, &pf_nsync.lock);
    pthread_mutex_unlock(&pf_nsync.lock);
    if (ok && !atomic_load(&run->stop))
        pf_nthread_loop(th);
    if (th->ring_ready)
        pf_nthread_close_all(th);
    pf_nthread_producer_finished(th);
    pf_ncons_finished(th);
    if (th->pw != NULL)
        pf_nprod_teardown(th);
    if (th->cw != NULL)
        pf_ncons_teardown(th);
    if (th->ring_ready)
        io_ring_destroy(&th->ring);
    kp_arena_destroy(&th->arena);
    return NULL;
}

/* Engine threads, and how many of them (the first ones) consume
 * (pf_native.h "Data phase"): produce and e2e start one thread per producer
 * worker, consume only the consumer threads. */
static int pf_native_thread_plan(const pf_run_t *run, int *consumers)
{
    const pf_config_t *c = run->config;
    int threads = run->producer_count > 0 ? run->producer_count : c->threads;
    *consumers = run->have_consumer ? pf_nsplit_threads(threads, run->partition_count) : 0;
    return run->producer_count > 0 ? threads : SL_MAX(*consumers, 1);
}

/* Thread t could not be started: takes it and the later threads out of the
 * running producers and consumers. */
static void pf_native_spawn_failed(pf_run_t *run, int t)
{
    pf_native_t *eng = run->engine;
    if (t < run->producer_count)
        atomic_fetch_sub(&run->producers_running, run->producer_count - t);
    if (t < eng->consumer_threads &&
        atomic_fetch_sub(&eng->consumers_running, eng->consumer_threads - t) ==
            eng->consumer_threads - t)
        atomic_store(&run->consumer.finished, true);
}

/* Starts the threads and waits until each is connected and ready. */
static int pf_native_spawn(pf_run_t *run)
{
    pf_native_t *eng = run->engine;
    int consumers;
    int threads = pf_native_thread_plan(run, &consumers);
    ASSERT(threads >= 1 && threads <= PF_MAX_PRODUCERS && consumers <= threads);
    eng->threads = calloc((size_t)threads, sizeof(pf_nthread_t));
    if (eng->threads == NULL)
        return -1;
    eng->thread_count = threads;
    eng->consumer_threads = consumers;
    atomic_store(&eng->consumers_running, consumers);
    atomic_store(&eng->consumer_abandoned, false);
    pthread_mutex_lock(&pf_nsync.lock);
    pf_nsync.ready = 0;
    pf_nsync.failed = 0;
    pf_nsync.go = false;
    pthread_mutex_unlock(&pf_nsync.lock);
    atomic_store(&run->producers_running, run->producer_count);
    int started = 0;
    for (int t = 0; t < threads; t++) {
        pf_nthread_t *th = &eng->threads[t];
        th->run = run;
        th->eng = eng;
        th->index = t;
        th->pw = t < run->producer_count ? &run->producers[t] : NULL;
        th->cw = t < consumers ? &run->consumer : NULL;
        int err = pthread_create(&th->thread, NULL, pf_nthread_main, th);
        if (err != 0) {
            fprintf(stderr, "sluice-perf: cannot start a thread: %s\n", strerror(err));
            pf_native_spawn_failed(run, t);
            break;
        }
        th->started = true;
        started++;
    }
    pthread_mutex_lock(&pf_nsync.lock);
    while (pf_nsync.ready < started)
        pthread_cond_wait(&pf_nsync.cond, &pf_nsync.lock);
    bool failed = pf_nsync.failed > 0 || started < threads;
    pthread_mutex_unlock(&pf_nsync.lock);
    return failed ? -1 : 0;
}

int pf_native_prepare(pf_run_t *run)
{
    if (pf_nsetup_run(run) != 0)
        return -1;
    if (pf_native_spawn(run) != 0) {
        atomic_store(&run->stop, true);
        pf_native_join(run);
        return -1;
    }
    return 0;
}

int pf_native_start(pf_run_t *run)
{
    (void)run;
    pthread_mutex_lock(&pf_nsync.lock);
    pf_nsync.go = true;
    pthread_cond_broadcast(&pf_nsync.cond);
    pthread_mutex_unlock(&pf_nsync.lock);
    return 0;
}

void pf_native_join(pf_run_t *run)
{
    pf_native_t *eng = run->engine;
    if (eng == NULL || eng->threads == NULL)
        return;
    pf_native_start(run); /* threads still waiting for go see stop and end */
    for (int t = 0; t < eng->thread_count; t++)
        if (eng->threads[t].started) {
            pthread_join(eng->threads[t].thread, NULL);
            eng->threads[t].started = false;
        }
}

void pf_native_release(pf_run_t *run)
{
    pf_native_t *eng = run->engine;
    if (eng == NULL)
        return;
    free(eng->threads);
    free(eng->start_offsets);
    free(eng);
    run->engine = NULL;
}
