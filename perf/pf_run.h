/*
 * pf_run.h — one sluice-perf run as every engine sees it: the workers'
 * counters and histograms, the clocks, and the timing model shared by the
 * librdkafka engine (pf_rdk.h) and the native engine (pf_native.h).
 *
 * Timing model (no coordinated omission)
 *   With rate R > 0 record g (global index, 0-based) has the intended send
 *   time start + g / R on CLOCK_MONOTONIC (pf_intended_offset_ns). A sender
 *   that is behind sends at once without skipping, so a stall shows up as
 *   latency of every record that should have gone out meanwhile. Ack latency
 *   = acknowledgement time - intended send time. With R = 0 (max rate) the
 *   "intended" time is the time the record (or batch) is handed to the wire
 *   or the client library.
 *   Every record value starts with its intended send time as 8 bytes of
 *   CLOCK_REALTIME ns (host byte order); the consumer computes e2e latency =
 *   receive time (CLOCK_REALTIME) - that, which is meaningful when producer
 *   and consumer share the machine's clock (e2e mode: one process).
 *   librdkafka engine: producer k of N sends g = k, k + N, ... one record at
 *   a time. Native engine: see pf_native.h (batches of records, a batch goes
 *   out when its last record's intended time has come).
 *
 * Warm-up
 *   Latency samples of records whose intended send time falls in the warm-up
 *   (the first warmup_s seconds) are left out of the final histograms; they
 *   still appear in the per-second progress lines. Throughput counters are
 *   cumulative; the caller snapshots them at the end of the warm-up.
 *
 * Threading and ownership
 *   pf_run_t is owned by the caller, set up by pf_run_init and torn down by
 *   pf_run_destroy after every thread is joined (and the engine released its
 *   clients). Counters are relaxed atomics read by the main thread at any
 *   time. A producer worker has one writer thread; so does the consumer
 *   worker of the rdkafka engine, while the native engine's consumer threads
 *   share the one consumer worker (pf_native.h): its counters are atomics
 *   (last_ns only moves forward, pf_worker_note_last) and it writes both
 *   histograms under interval_lock only. A final histogram is read only after
 *   join; an interval histogram is written under interval_lock, which the
 *   main thread takes once a second to merge and reset it.
 */
#ifndef PF_RUN_H
#define PF_RUN_H

#include "sl_base.h"
#include "pf_hist.h"
#include "pf_report.h"

#include <pthread.h>
#include <stdatomic.h>

#define PF_MAX_PRODUCERS 64
#define PF_NS_PER_S 1000000000ULL
#define PF_DRAIN_TIMEOUT_NS (30ULL * PF_NS_PER_S) /* e2e: wait for stragglers after produce */

struct rd_kafka_s; /* librdkafka's client, only touched by pf_rdk.c */

typedef struct pf_worker {
    pthread_t thread;
    bool started;
    int index;
    struct pf_run *run;
    struct rd_kafka_s *rk;         /* rdkafka engine only */
    pf_hist_t final_hist;          /* warm-up excluded; read after join */
    pthread_mutex_t interval_lock; /* guards interval_hist */
    pf_hist_t interval_hist;       /* since the last progress line */
    _Atomic uint64_t sent;         /* producer: records handed to the client / the wire */
    _Atomic uint64_t records;      /* producer: acked; consumer: received */
    _Atomic uint64_t bytes;        /* key + value bytes of `records` */
    _Atomic uint64_t errors;       /* producer: failed deliveries; consumer: errors */
    _Atomic uint64_t last_ns;      /* monotonic time of the last ack / receive (the latest) */
    uint64_t rng;                  /* producer: xorshift64 state for random keys */
    _Atomic bool finished;         /* set by the thread as its last act */
} pf_worker_t;

typedef struct pf_run {
    const pf_config_t *config;
    int32_t partition_count;
    uint64_t start_ns;          /* monotonic: intended time of record 0 */
    uint64_t warm_end_ns;       /* monotonic: start_ns + warm-up */
    uint64_t send_end_ns;       /* monotonic: no record intended at or after this (duration mode) */
    int64_t realtime_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC, taken at start */
    _Atomic bool stop;          /* set by a signal or by the main thread: wind down now */
    _Atomic int producers_running;
    _Atomic uint64_t producers_done_ns; /* monotonic time the last producer finished; 0 before */
    atomic_bool drain_reported; /* the drain-timeout message was printed (once per run) */
    int producer_count;
    pf_worker_t producers[PF_MAX_PRODUCERS];
    pf_worker_t consumer;
    bool have_consumer;
    void *engine; /* engine state (native: pf_native_t), owned by the engine */
} pf_run_t;

/* Monotonic and real-time clocks in ns. */
uint64_t pf_now_ns(void);
int64_t pf_realtime_ns(void);

/* g / rate seconds in ns, without overflow for any g below 2^64 / 1e9 * rate.
 * rate > 0. */
static inline uint64_t pf_intended_offset_ns(uint64_t g, uint64_t rate)
{
    return (g / rate) * PF_NS_PER_S + (g % rate) * PF_NS_PER_S / rate;
}

/* Zeroes run and allocates the histograms of `producers` producer workers
 * (0 in consume mode) and, in consume/e2e mode, one consumer. Returns 0 or
 * -ENOMEM (run holds nothing). */
int pf_run_init(pf_run_t *run, const pf_config_t *config, int producers);
/* Frees the histograms. Engine clients must have been released before. */
void pf_run_destroy(pf_run_t *run);

/* Records one latency sample into w's histograms: the interval one always,
 * the final one when the record's intended time is past the warm-up.
 * Called by the worker's own thread. */
void pf_worker_record(pf_worker_t *w, uint64_t latency_ns, uint64_t count, bool measured);

/* Raises w->last_ns to now_ns unless it is later already: for a worker
 * whose counters several threads update. */
void pf_worker_note_last(pf_worker_t *w, uint64_t now_ns);

/* The consumer's stop rule, the same for every engine: consume mode, --count
 * records received or the duration over; e2e mode, every record the producers
 * got acked received once they finished, or PF_DRAIN_TIMEOUT_NS after that
 * (the shortfall is printed). received = records the consumer has (all its
 * threads: the native engine may read on several); now_ns on
 * CLOCK_MONOTONIC. */
bool pf_run_consumer_done(pf_run_t *run, uint64_t received, uint64_t now_ns);

/* How an engine looks up and creates the run's topic (pf_run_prepare_topic). */
typedef struct {
    void *ctx; /* passed to each callback */
    /* Partition count of `topic`: > 0, 0 when it does not exist, or -1 after
     * printing an error. */
    int32_t (*partitions)(void *ctx, const char *topic);
    /* Creates `topic`. Returns 0 (also when it exists already), or -1 after
     * printing an error. */
    int (*create)(void *ctx, const char *topic, int32_t partitions);
    /* Waits about 100 ms before the next metadata check after a creation;
     * `n` is what the last check returned (<= 0). */
    void (*pause)(void *ctx, int32_t n);
} pf_topic_ops_t;

/* Makes sure config->topic exists, the same for every engine: creates it
 * with config->partitions partitions when it does not exist and --partitions
 * was given, then waits (up to 100 checks) until metadata shows it; notes a
 * partition count other than the one asked for. Sets run->partition_count.
 * Returns 0, or -1 after printing an error. */
int pf_run_prepare_topic(pf_run_t *run, const pf_topic_ops_t *ops);

#endif /* PF_RUN_H */
