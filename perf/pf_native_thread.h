/*
 * pf_native_thread.h — internal to the native engine: one engine thread (its
 * ring, producer connections and slots, fetch streams) shared by
 * pf_native.c (the loop), pf_native_produce.c and pf_native_consume.c.
 *
 * Records of a producer thread: thread t of T sends the global records
 * g = k * T + t, k = 0, 1, ...; a batch is a run of consecutive k.
 *
 * Slot state machine (producer)
 *   FREE --fill+queue--> BUSY(sent=false, answered=false)
 *   BUSY: sent_fn sets sent; the matching response sets answered (acks=0:
 *   no response, answered is set together with sent); when both are set the
 *   slot is accounted and goes back to FREE. Responses on a connection come
 *   in request order, so the awaiting slots form a FIFO (fifo[]) and a
 *   response must carry the correlation id of the FIFO's head.
 *   A failed connection turns every BUSY slot of it into errors and FREE and
 *   is not used again.
 *
 * Everything here is touched by its thread only, except the pf_worker_t
 * counters (atomics) and histograms (interval_lock) of pf_run.h, and the
 * engine's consumer atomics (pf_native_t).
 */
#ifndef PF_NATIVE_THREAD_H
#define PF_NATIVE_THREAD_H

#include "pf_native.h"
#include "pf_native_batch.h"
#include "pf_native_conn.h"
#include "pf_native_frame.h"
#include "kp_codec.h"

typedef struct pf_nslot {
    uint8_t *frame;         /* owned: a Produce frame with the batch in place */
    pf_nframe_produce_t fp; /* its layout */
    struct pf_npconn *pc;
    bool busy, sent, answered;
    bool ok;         /* answered: the response carried no error */
    uint64_t ack_ns; /* answered: when the response was read */
    int32_t correlation;
    uint64_t k0;      /* first record, as a thread-local index k */
    uint32_t records; /* in this batch */
    uint64_t payload_bytes;
    uint64_t intended0; /* rate 0: monotonic ns the batch was queued */
} pf_nslot_t;

typedef struct pf_npconn {
    pf_nconn_t conn;
    bool open;
    struct pf_nthread *th;
    pf_nslot_t *slots; /* inflight */
    uint32_t *fifo;    /* slot indices awaiting a response, in send order */
    uint32_t fifo_head, fifo_count;
    uint32_t free_count;
    int32_t next_correlation;
} pf_npconn_t;

typedef struct pf_nstream {
    struct pf_nfconn *fc;
    int32_t count;
    int32_t *partitions;
    int64_t *offsets;
    kp_fetch_request_fetch_partition_t *scratch;
    uint8_t *frame;
    size_t frame_cap;
    int32_t part_max_bytes; /* grows when a batch did not fit */
    bool in_flight;
    int32_t correlation;
} pf_nstream_t;

typedef struct pf_nfconn {
    pf_nconn_t conn;
    bool open;
    struct pf_nthread *th;
    uint32_t *fifo; /* stream indices awaiting a response, in send order */
    uint32_t fifo_head, fifo_count, fifo_cap;
    int32_t next_correlation;
} pf_nfconn_t;

typedef struct pf_nthread {
    pf_run_t *run;
    pf_native_t *eng;
    int index;
    pthread_t thread;
    bool started;
    io_ring_t ring;
    bool ring_ready;
    kp_arena_t arena; /* response decoding, reset per response */
    /* producer (produce / e2e) */
    pf_worker_t *pw; /* NULL when this thread does not produce */
    pf_npconn_t *pconns;
    int pconn_count;
    pf_nbatch_layout_t layout; /* the template: N = records_per_batch records */
    uint8_t *tmpl;             /* its bytes */
    uint64_t next_k;           /* this thread's next record k: global g = k * T + index */
    uint64_t k_end;            /* records this thread sends (UINT64_MAX: until send_end) */
    uint32_t next_partition;   /* round-robin over the partitions, one batch each */
    uint64_t linger_ns;
    bool produce_over; /* no more batches will be sent */
    bool producer_finished;
    int rr_conn; /* round-robin start of the free-slot search */
    /* consumer (threads 0 .. consumer_threads - 1 in consume / e2e) */
    pf_worker_t *cw; /* run->consumer, shared by the consumer threads; NULL: none here */
    pf_nfconn_t *fconns;
    int fconn_count;
    pf_nstream_t *streams;
    int stream_count;
    bool consume_over;      /* no more Fetches will be sent */
    bool consumer_finished; /* this thread counted out of consumers_running */
    bool e2e;               /* read send times from values */
    uint64_t walk_now_rt;
} pf_nthread_t;

/* pf_native_produce.c */
int pf_nprod_setup(pf_nthread_t *th); /* frames, connections; -1 after printing */
void pf_nprod_pump(pf_nthread_t *th, uint64_t now, uint64_t *wake_ns);
bool pf_nprod_idle(const pf_nthread_t *th); /* every slot FREE */
void pf_nprod_teardown(pf_nthread_t *th);

/* pf_native_consume.c */
int pf_ncons_setup(pf_nthread_t *th);
void pf_ncons_pump(pf_nthread_t *th, uint64_t now);
/* Counts this thread's consumer out (once); the last one marks the shared
 * consumer worker finished. */
void pf_ncons_finished(pf_nthread_t *th);
void pf_ncons_teardown(pf_nthread_t *th);

/* pf_native_setup.c: the set-up conversation of pf_native_prepare (allocates
 * run->engine). Returns 0, or -1 after printing. */
int pf_nsetup_run(pf_run_t *run);

/* pf_native.c: counts an error on w and prints the first few. */
void pf_native_error(pf_worker_t *w, uint64_t count, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* PF_NATIVE_THREAD_H */
