/*
 * st_store.h — the per-shard storage context: the ring that all partition-log disk
 * I/O goes through, the pool of in-flight appends, the group commit, and the
 * per-log-dir clean-shutdown marker.
 *
 * Ownership and threading
 *   One store per shard, created and used only on that shard's thread (like its
 *   ring, io_ring.h). The store owns every st_log_t opened on it until the log is
 *   closed or deleted; st_store_close() closes the ones still open. The ring is the
 *   caller's and must outlive the store.
 *
 * The event-loop contract
 *   The shard loop calls io_ring_run_once() (which dispatches write and fdatasync
 *   completions to storage) and then st_store_end_turn() once per turn. end_turn
 *   issues the group commit: one fdatasync per log per turn at most, covering every
 *   append of that log whose write had completed, so N acks=all produces to one
 *   partition in one turn cost one fdatasync. It also runs deferred work: retrying a
 *   sync that found the ring full, repairing a log after a failed write, and freeing
 *   logs closed while their I/O was in flight.
 *   The loop also calls st_store_tick(now) every turn before end_turn: retention,
 *   recovery-point checkpoints and flush.ms, each on its own interval (O(1) when
 *   nothing is due).
 *
 * Memory (STYLE.md §7)
 *   st_store_open allocates the append pool once: ST_MAX_PENDING_APPENDS_PER_SHARD
 *   records of ~100 bytes. Appends take a record and return it before their
 *   callback runs; an empty pool (or a full ring) is -EBUSY from st_log_append.
 *
 * Clean-shutdown marker (Kafka's <log.dir>/.kafka_cleanshutdown)
 *   At start, before any log of a log dir opens, the process calls
 *   st_clean_marker_take(): it reads and removes the marker, so that a crash from
 *   then on leaves no marker and the next start recovers. was_clean selects
 *   st_log_open(recover = !was_clean). After every log closed cleanly (and
 *   st_store_needs_recovery() is false on every shard) the process writes it back
 *   with st_clean_marker_write(). Content (Kafka 4.0's CleanShutdownFileHandler):
 *       {"version":0,"brokerEpoch":-1}
 *   written to the file, fsynced, then the directory fsynced.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include "sl_base.h"
#include "io_ring.h"

typedef struct st_store st_store_t;

typedef struct st_store_stats {
    uint64_t appends; /* accepted by st_log_append */
    uint64_t append_bytes;
    uint64_t append_busy;      /* refused with -EBUSY (pool or ring full) */
    uint64_t writes_submitted; /* write SQEs, resubmissions of short writes included */
    /* Idempotent producers (st_producer.h): retries answered with the original
     * offsets, producers dropped by producer_id_expiration_ms (st_store_tick),
     * <offset>.snapshot files written. */
    uint64_t duplicate_appends;
    uint64_t producers_expired;
    uint64_t producer_snapshots;
    uint64_t short_writes;
    uint64_t write_errors;
    uint64_t sync_rounds; /* group commits issued (at most one per log per turn) */
    uint64_t fdatasyncs;  /* fdatasync/fsync SQEs of those group commits */
    uint64_t rolls;
    uint64_t reads;
    uint64_t read_cache_hits;      /* fetch positions found in the recent-batch cache */
    uint64_t read_header_preads;   /* pread(2)s of batch headers by fetch positioning */
    uint64_t segments_deleted;     /* by retention and DeleteRecords */
    uint64_t retention_checks;     /* st_store_tick passes over the logs */
    uint64_t policy_flushes;       /* flushes requested by flush_messages / flush_ms */
    uint64_t segments_recovered;   /* segments re-read with CRC checks by unclean opens */
    uint64_t recovery_checkpoints; /* recovery-point-offset-checkpoint files written */
} st_store_stats_t;

/* Creates the shard's storage context on ring. Returns 0 or -ENOMEM. */
int st_store_open(st_store_t **out, io_ring_t *ring, int shard_id);
/* Closes every log still open (cleanly: data fdatasynced, index files trimmed and
 * synced), waits for their in-flight I/O by driving the ring (so: never from inside
 * an io callback; other completions on the ring are dispatched meanwhile), then
 * frees the store. */
void st_store_close(st_store_t *s);
/* Shutdown: logs closed from now on skip their per-file syncs (data, index files,
 * producer snapshot, directory: about five fsyncs per partition, 27 s for 10,000
 * partitions here) and st_store_close() makes everything durable with one syncfs(2)
 * per file system instead; a failed syncfs counts as a failed clean close
 * (st_store_needs_recovery). Read st_store_needs_recovery() after st_store_close's
 * sync, i.e. use st_store_close_clean(). */
void st_store_defer_close_sync(st_store_t *s);
/* st_store_close() and returns !st_store_needs_recovery() as it stood after the
 * deferred sync. */
bool st_store_close_clean(st_store_t *s);
/* Called once per event-loop turn after completions were dispatched: issues the
 * group-commit fdatasync for every log that has completed writes waiting for a sync
 * and runs the other deferred work (see above). Cannot fail; a sync that finds the
 * ring full is retried at the next turn. */
void st_store_end_turn(st_store_t *s);

/* Periodic storage work, called by the shard every loop turn with the current time
 * (before st_store_end_turn, which issues the I/O it schedules). O(1) when nothing
 * is due. Every retention_check_interval_ms (Kafka's
 * log.retention.check.interval.ms, default 300000; the first tick is due at once)
 * it runs st_log_enforce_retention on every open log and drops the producers whose
 * last append is older than the log's producer_id_expiration_ms (st_producer.h); every
 * recovery_checkpoint_interval_ms it runs st_log_checkpoint_recovery_point on every
 * open log (blocking file writes, only for logs whose durable end moved); and it
 * requests the flush.ms flushes that are due (st_log.h "Flush policy"). Cannot fail: errors are
 * logged by the log. */
void st_store_tick(st_store_t *s, int64_t now_ms);
/* interval_ms >= 1; the next check is due interval_ms after the previous one. */
void st_store_set_retention_check_interval_ms(st_store_t *s, int64_t interval_ms);
/* How often st_store_tick writes each log's recovery point (st_log.h "Recovery
 * point"); Kafka's log.flush.offset.checkpoint.interval.ms, default 60000.
 * interval_ms >= 1; the next write is due interval_ms after now (or at once if no
 * tick ran yet). */
void st_store_set_recovery_checkpoint_interval_ms(st_store_t *s, int64_t interval_ms);

io_ring_t *st_store_ring(const st_store_t *s);
int st_store_shard_id(const st_store_t *s);
const st_store_stats_t *st_store_stats(const st_store_t *s);
/* True once a log of this store lost data durability (a failed fdatasync, a failed
 * repair, a failed clean close): the process must not write the clean-shutdown
 * marker, so the next start recovers every log. */
bool st_store_needs_recovery(const st_store_t *s);

/* Reads and removes <log_dir>/.kafka_cleanshutdown. *was_clean tells whether it was
 * there. Returns 0 or -errno (the marker may then still exist). */
int st_clean_marker_take(const char *log_dir, bool *was_clean);
/* Writes the marker durably (file and directory fsynced). Returns 0 or -errno. */
int st_clean_marker_write(const char *log_dir);

/* --- test seams ---------------------------------------------------------------- */

/* How storage submits its writes and syncs. The defaults are io_submit_write() and
 * io_submit_fdatasync() on the store's ring (a directory is fsynced, not datasynced).
 * Tests replace them to complete writes out of order or to inject ENOSPC / EIO; a
 * hook must eventually call cb(cb_ctx, res, 0) exactly once per call that returned
 * 0, from the shard's thread and not from inside the hook. */
typedef struct st_io_hooks {
    int (*write)(void *arg, io_ring_t *ring, int fd, const void *buf, uint32_t len,
                 uint64_t file_pos, io_cb_t cb, void *cb_ctx);
    int (*sync)(void *arg, io_ring_t *ring, int fd, bool datasync, io_cb_t cb, void *cb_ctx);
    void *arg;
} st_io_hooks_t;
/* Installs hooks (NULL members keep the default); NULL restores the defaults. */
void st_store_set_io_hooks(st_store_t *s, const st_io_hooks_t *hooks);

/* The clock storage reads for time-based rolls (and, with st_store_tick, the flush
 * timers): milliseconds since the epoch. Default: clock_gettime(CLOCK_REALTIME)
 * (wall clock, like Kafka's time.milliseconds()). Tests install a fake; NULL
 * restores the default. */
typedef int64_t (*st_clock_fn_t)(void *arg);
void st_store_set_clock(st_store_t *s, st_clock_fn_t now_ms, void *arg);
int64_t st_store_now_ms(const st_store_t *s);

#endif /* ST_STORE_H */
