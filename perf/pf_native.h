/*
 * pf_native.h — the native engine of sluice-perf (--engine native): the Kafka
 * protocol spoken directly over io_uring with pre-encoded batches, so that the
 * generator is not the bottleneck on a 2-core machine shared with the broker.
 *
 * Set-up (pf_native_prepare, main thread, blocking sockets; pf_native_setup.c)
 *   ApiVersions v0 once, then the versions used are the highest both sides
 *   speak (Produce >= 3 for record batch v2, Fetch >= 4, ...); Metadata for
 *   the partition count, CreateTopics when the topic is missing and
 *   --partitions was given; ListOffsets for the consumer's start offsets
 *   (earliest in consume mode, latest in e2e mode so that only this run's
 *   records are read).
 *
 * Data phase (pf_native_start / pf_native_join; pf_native.c)
 *   config->threads threads (T), each with ONE io_uring and its own
 *   connections (--connections per thread, producer and consumer alike);
 *   producer worker t of pf_run_t is thread t. The consumer runs on threads
 *   0 .. Tc - 1, Tc = min(T, partitions) (consume mode starts only those),
 *   which share pf_run_t's one consumer worker (pf_run.h): partition p is
 *   read by thread p % Tc only (pf_native_split.h), every consumer thread
 *   applies the stop rule (pf_run_consumer_done) to the records of all of
 *   them, and the worker is finished when the last one is. --count ends
 *   the consumer once the threads together have that many records; the
 *   last responses read (on any thread) may carry a few more, which are
 *   counted too (as with one thread).
 *   (sluice-perf consume runs 2 threads unless --threads says otherwise.)
 *   Producer (pf_native_produce.c): thread t of T sends the records g = t,
 *   t + T, t + 2T, ... (pf_run.h timing model). With --rate R a record is
 *   due at its intended time and a batch holds records that are due: it goes
 *   out when N are due (N = records per batch, from --batch-size) or when its
 *   oldest record has waited --linger-ms (librdkafka's batch.size / linger.ms
 *   rule; linger 0: whatever is due goes at once), so a batch is never sent
 *   before its last record's intended time, and every record's ack latency
 *   is ack time - its own intended time. A sender behind schedule sends at
 *   once, full batches, without skipping. With R = 0 a batch of N goes out
 *   as soon as a slot is free (window-limited: connections x inflight slots
 *   per thread) and its intended time is that moment. Batches go to the
 *   partitions round-robin. A slot is one pre-built Produce frame (v8 at
 *   most) with an N-record batch in place (pf_native_frame.h,
 *   pf_native_batch.h); a send cuts it to n <= N records and patches
 *   partition, correlation id, lengths, timestamps, send times, keys and CRC.
 *   acks=0: the "ack" is the end of the send (no response exists).
 *   Consumer (pf_native_consume.c): a thread's partitions are spread over
 *   its fetch streams (consume: connections x inflight; e2e: one per
 *   connection; at most one per partition); each stream keeps one Fetch in
 *   flight for its partitions, so several Fetches are pipelined without
 *   ever asking twice for the same offsets. A consumer thread left without
 *   a working connection ends the whole consumer (its partitions would go
 *   unread).
 *
 * Limits and memory: everything is allocated before the run starts (frames,
 * receive buffers, the decode arena); a receive buffer may grow up to the
 * largest response allowed (PF_NATIVE_MAX_RESPONSE_BYTES). No allocation per
 * record or per request.
 *
 * Errors: a broker error code in a Produce response fails that batch's
 * records (counted as delivery errors, the first ones printed by name); in a
 * Fetch response it counts as a consumer error. A connection that fails
 * counts its in-flight records as errors and is not used again.
 */
#ifndef PF_NATIVE_H
#define PF_NATIVE_H

#include "sl_base.h"
#include "pf_run.h"

#include <sys/socket.h>

#define PF_NATIVE_MAX_THREADS 16
#define PF_NATIVE_MAX_CONNECTIONS 64            /* per thread */
#define PF_NATIVE_MAX_INFLIGHT 64               /* per connection */
#define PF_NATIVE_PARTITION_MAX_BYTES (1 << 20) /* Fetch, per partition */
#define PF_NATIVE_MAX_RESPONSE_BYTES (256u << 20)
#define PF_NATIVE_REQUEST_TIMEOUT_MS 30000
#define PF_NATIVE_FETCH_MAX_WAIT_MS 500
#define PF_NATIVE_MAX_REPORTED_ERRORS 10

/* Versions chosen by the ApiVersions exchange. */
typedef struct pf_nversions {
    int16_t produce, fetch, metadata, create_topics, list_offsets;
} pf_nversions_t;

typedef struct pf_native {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    pf_nversions_t versions;
    int64_t *start_offsets; /* consumer: per partition */
    uint32_t records_per_batch;
    struct pf_nthread *threads;
    int thread_count;
    int consumer_threads;            /* Tc: threads 0 .. Tc - 1 consume; 0 in produce mode */
    _Atomic int consumers_running;   /* consumer threads not finished yet */
    _Atomic bool consumer_abandoned; /* a consumer thread lost every connection */
} pf_native_t;

/* Refuses what the native engine does not do (compression, groups), with a
 * message on stderr. Returns 0 or -1. */
int pf_native_check_config(const pf_config_t *c);

/* Records per batch (N) for c: as many as fit in batch_size bytes, at least 1. */
uint32_t pf_native_records_per_batch(const pf_config_t *c);

/* Connects, negotiates versions, learns (or creates) the topic, and for a
 * consumer reads the start offsets; allocates run->engine. Returns 0, or -1
 * after printing an error (run->engine may hold state: pf_native_release). */
int pf_native_prepare(pf_run_t *run);

/* Starts the threads (run->start_ns and friends set). Returns 0, or -1 after
 * printing (threads already started keep running: set stop and join). */
int pf_native_start(pf_run_t *run);
void pf_native_join(pf_run_t *run);
/* Frees run->engine. */
void pf_native_release(pf_run_t *run);

#endif /* PF_NATIVE_H */
