/*
 * pf_rdk.h — the librdkafka engine of sluice-perf: topic preparation (Admin
 * API), producer threads (one librdkafka producer instance each) and one
 * consumer thread.
 *
 * Timing model (no coordinated omission)
 *   With rate R > 0 record g (global index, 0-based) has the intended send
 *   time start + g / R, on CLOCK_MONOTONIC. Producer k of N sends the indices
 *   g = k, k + N, k + 2N, ...: it waits until the intended time, and when it
 *   is behind it sends at once without skipping, so a stall shows up as
 *   latency of every record that should have gone out meanwhile. Ack latency
 *   = delivery-report time - intended send time. With R = 0 (max rate) the
 *   "intended" time is the time of the produce call.
 *   Every record value starts with its intended send time as 8 bytes of
 *   CLOCK_REALTIME ns (host byte order); the consumer computes e2e latency =
 *   receive time (CLOCK_REALTIME) - that, which is meaningful when producer
 *   and consumer share the machine's clock (e2e mode: one process).
 *
 * Warm-up
 *   Latency samples of records whose intended send time falls in the warm-up
 *   (the first warmup_s seconds) are left out of the final histograms; they
 *   still appear in the per-second progress lines. Throughput counters are
 *   cumulative; the caller snapshots them at the end of the warm-up.
 *
 * Threading and ownership
 *   pf_run_t is owned by the caller, set up by pf_run_init and torn down by
 *   pf_run_destroy after every thread is joined. Counters are relaxed atomics
 *   read by the main thread at any time. Each worker writes its final
 *   histogram alone (read only after join) and its interval histogram under
 *   interval_lock, which the main thread takes once a second to merge and
 *   reset it. Delivery reports run on the producer's own thread (inside
 *   rd_kafka_poll), so each producer's histograms have exactly one writer.
 */
#ifndef PF_RDK_H
#define PF_RDK_H

#include "sl_base.h"
#include "pf_hist.h"
#include "pf_report.h"

#include <pthread.h>
#include <stdatomic.h>

#include <librdkafka/rdkafka.h>

#define PF_MAX_PRODUCERS 64
#define PF_DRAIN_TIMEOUT_NS (30ULL * 1000000000ULL) /* e2e: wait for stragglers after produce */

typedef struct pf_worker {
    pthread_t thread;
    bool started;
    int index;
    struct pf_run *run;
    rd_kafka_t *rk;
    pf_hist_t final_hist;          /* warm-up excluded; read after join */
    pthread_mutex_t interval_lock; /* guards interval_hist */
    pf_hist_t interval_hist;       /* since the last progress line */
    _Atomic uint64_t sent;         /* producer: handed to librdkafka */
    _Atomic uint64_t records;      /* producer: acked; consumer: received */
    _Atomic uint64_t bytes;        /* key + value bytes of `records` */
    _Atomic uint64_t errors;       /* producer: failed DR + local rejects; consumer: errors */
    _Atomic uint64_t last_ns;      /* monotonic time of the last ack / receive */
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
    int producer_count;
    pf_worker_t producers[PF_MAX_PRODUCERS];
    pf_worker_t consumer;
    bool have_consumer;
} pf_run_t;

/* Monotonic and real-time clocks in ns. */
uint64_t pf_now_ns(void);
int64_t pf_realtime_ns(void);

/* Zeroes run and allocates the histograms of config->producers producers and
 * (consume/e2e) one consumer. Returns 0 or -ENOMEM (run holds nothing). */
int pf_run_init(pf_run_t *run, const pf_config_t *config);
void pf_run_destroy(pf_run_t *run); /* destroys any client still held, frees histograms */

/* Makes sure config->topic exists: when it is missing and config->partitions
 * > 0 it is created with that many partitions (replication factor 1) through
 * the Admin API. Sets run->partition_count. Returns 0, or -1 after printing an
 * error (missing topic without --partitions, broker unreachable, creation
 * failed). */
int pf_rdk_topic_prepare(pf_run_t *run);

/* Creates the librdkafka clients (all producers, or the consumer) so that
 * configuration errors show before any thread starts. The consumer without a
 * group is assigned every partition: from the beginning in consume mode,
 * from the current high watermark in e2e mode (so only this run's records are
 * read); with a group it subscribes (auto.offset.reset=earliest for consume,
 * latest for e2e). Returns 0, or -1 after printing an error. */
int pf_rdk_producers_create(pf_run_t *run);
int pf_rdk_consumer_create(pf_run_t *run);

/* With a group: polls the consumer until it has partitions assigned (or
 * timeout_ms passes). Call before the producers start in e2e mode, so that
 * latest-offset consumers miss nothing. Returns 0, or -1 after printing. */
int pf_rdk_consumer_wait_assigned(pf_run_t *run, int timeout_ms);

/* Starts the threads; run->start_ns and friends must be set. Return 0, or -1
 * after printing an error (threads already started keep running: set stop and
 * join). */
int pf_rdk_producers_start(pf_run_t *run);
int pf_rdk_consumer_start(pf_run_t *run);

/* Joins every started thread. Producers return after their last delivery
 * report (or after stop + flush timeout); the consumer when it has its count,
 * the duration is over, or (e2e) it has read everything the producers got
 * acked, or stop is set. */
void pf_rdk_join(pf_run_t *run);

#endif /* PF_RDK_H */
