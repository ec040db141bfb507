/*
 * pf_rdk.h — the librdkafka engine of sluice-perf: topic preparation (Admin
 * API), producer threads (one librdkafka producer instance each) and one
 * consumer thread.
 *
 * Timing model, warm-up and the run's counters: pf_run.h. Producer k of N
 * sends the record indices g = k, k + N, ... one produce call each.
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
#include "pf_run.h"

#include <librdkafka/rdkafka.h>

/* Destroys every librdkafka client still held (the consumer leaves its
 * group first). Call after pf_rdk_join, before pf_run_destroy. */
void pf_rdk_release(pf_run_t *run);

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
