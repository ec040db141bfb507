/*
 * st_internal.h — the structures shared by the storage files (st_store.c, st_log.c,
 * st_read.c, st_recover.c, st_files.c). Not for use outside storage/.
 *
 * Append records (st_write_t)
 *   Each accepted append holds one record from the store's pool until just before
 *   its callback. A log keeps its records in a FIFO in offset order:
 *
 *     head ............ uncommitted ............................ tail
 *     [committed, waiting for their sync or for an earlier record]
 *                       [written or in flight, at or past the HWM]
 *
 *   `uncommitted` is the first record not yet below the HWM (NULL when all are).
 *   A record is popped (and its callback run) only from the head, when it is done
 *   and: committed and (not sync or synced), or past a failed write.
 *
 * Log life cycle (state, set only by the functions named)
 *   OPEN     --st_log_close-->  CLOSING  --(idle) log_finalize-->  freed
 *   OPEN     --st_log_delete--> DELETING --(idle) log_finalize-->  freed
 *   idle = no record in the FIFO and no sync in flight. A log stays in the store's
 *   list until freed, so st_store_close can wait for it.
 */
#ifndef ST_INTERNAL_H
#define ST_INTERNAL_H

#include "sl_base.h"
#include "sl_limits.h"
#include "st_log.h"
#include "st_producer.h"
#include "st_segment.h"
#include "st_store.h"

#include <sys/types.h>

#define ST_MAX_SYNC_FS 16 /* distinct file systems one shutdown sync covers (log.dirs) */

typedef struct st_write {
    struct st_write *next; /* FIFO link, or free-list link */
    st_log_t *log;
    st_segment_t *seg;
    uint8_t *buf;
    uint32_t len;
    uint32_t done_bytes; /* written so far (short writes are resubmitted) */
    int64_t pos;         /* file position in seg */
    int64_t base_offset;
    int64_t last_offset;
    st_append_cb_t cb;
    void *ctx;
    int32_t res; /* 0 or -errno of the write */
    bool sync;
    bool done;
    /* A duplicate of an earlier idempotent batch (st_producer.h): nothing written,
     * seg NULL, base/last_offset are the ORIGINAL batch's; delivered in FIFO order
     * with err 0 once the original is committed (and synced when sync). Dups are
     * outside the offset contiguity of the FIFO and never move the HWM. */
    bool dup;
} st_write_t;

/* 16 bytes: offsets relative to the active segment's base, like index entries. */
typedef struct st_recent_batch {
    uint32_t rel_base_offset;
    uint32_t last_offset_delta;
    uint32_t pos;
    uint32_t size;
} st_recent_batch_t;
_Static_assert(sizeof(st_recent_batch_t) == 16, "recent-batch cache entry size");

typedef enum {
    ST_LOG_OPEN = 0,
    ST_LOG_CLOSING,
    ST_LOG_DELETING,
    ST_LOG_STATE_COUNT
} st_log_state_t;

struct st_log {
    st_store_t *store;
    char *dir;
    st_log_config_t cfg;
    uint32_t index_max_bytes; /* segment_index_bytes as a uint32 */
    st_log_state_t state;

    st_segment_t **segs; /* by base offset; the last is active */
    uint32_t seg_count;
    uint32_t seg_cap;
    uint32_t first_unsealed; /* segs[first_unsealed..] are not sealed */

    int64_t start_offset;
    int64_t epoch_start; /* leader-epoch-checkpoint's start of epoch 0 (-1: not written) */
    bool creating;       /* st_log_open made the directory: one dir fsync at its end
                          * stands for the per-file ones (st_log.h "Creation") */
    int64_t leo;
    int64_t hwm;

    /* Appends (see the FIFO above). */
    st_write_t *head;
    st_write_t *tail;
    st_write_t *uncommitted;
    uint32_t inflight; /* writes submitted and not completed */

    /* Group commit: at most one sync round in flight. */
    int64_t sync_wanted; /* committed sync appends end below this */
    int64_t synced;      /* offsets below are durable */
    int64_t sync_target; /* what the round in flight covers */
    uint32_t sync_ops;   /* SQEs of the round still outstanding */
    int32_t sync_res;
    int sync_dirfd; /* directory fd of the round, -1 if none */
    bool sync_inflight;
    bool dir_unsynced; /* a segment file was created since the last round */

    /* Failure (see st_log.h "Failed writes"). */
    int32_t fail_err;    /* 0, or the error appends return */
    bool fail_permanent; /* a sync failed: only reopening helps */
    int64_t fail_offset; /* base offset of the earliest failed write */
    st_segment_t *fail_seg;
    int64_t fail_pos;

    /* Batch positions of the active segment's newest batches (ring buffer). */
    st_recent_batch_t recent[ST_RECENT_BATCHES_PER_LOG];
    uint32_t recent_next;
    uint32_t recent_count;

    /* Retention deferred by a sync in flight (st_log_enforce_retention -EBUSY). */
    bool retention_due;
    int64_t retention_due_now_ms;
    bool trim_due; /* segments below the start offset wait for a sync in flight */

    /* Flush policy (st_log.h "Flush policy"). */
    int64_t flush_upto;     /* a policy flush of offsets below this was requested */
    int64_t last_flush_ms;  /* store clock at the last completed sync round (or open) */
    int64_t recovery_point; /* last value written to recovery-point-offset-checkpoint */
    int64_t durable_end;    /* below: covered by a completed fdatasync (the checkpoint) */

    /* Idempotent producers (st_producer.h). */
    st_pstate_t producers;
    int64_t snaps[2];                 /* offsets of the snapshot files kept, -1: none;
                                       * snaps[1] the newest */
    int64_t pstate_loaded_from;       /* open: snapshot offset replay started at */
    uint64_t pstate_replayed_batches; /* open: producer batches replayed */

    /* Store linkage. */
    st_log_t *store_prev;
    st_log_t *store_next;
    st_log_t *work_next;
    bool on_work;
    uint32_t in_callbacks; /* > 0 while this log's code runs user callbacks */
};

struct st_store {
    io_ring_t *ring;
    int shard_id;
    st_write_t *pool;
    st_write_t *free_writes;
    uint32_t writes_in_use;
    st_log_t *logs; /* every log not yet freed */
    st_log_t *work; /* logs with deferred work for end_turn */
    st_io_hooks_t hooks;
    st_clock_fn_t clock;
    void *clock_arg;
    int64_t retention_check_interval_ms;
    int64_t last_retention_check_ms; /* INT64_MIN: never */
    int64_t next_retention_check_ms;
    int64_t recovery_checkpoint_interval_ms;
    int64_t next_recovery_checkpoint_ms;
    int64_t flush_check_interval_ms; /* INT64_MAX: no log has flush_ms */
    int64_t next_flush_check_ms;
    st_store_stats_t stats;
    bool needs_recovery;
    /* Shutdown (st_store_defer_close_sync): clean closes skip per-file syncs and
     * st_store_close runs one syncfs per file system holding logs instead. The
     * descriptors are opened when the first log of a file system opens, so the
     * syncfs reports every writeback error since then (errseq is sampled at open). */
    bool close_sync_deferred;
    uint32_t sync_fs_count;
    dev_t sync_fs_dev[ST_MAX_SYNC_FS];
    int sync_fs_fd[ST_MAX_SYNC_FS];
};

static inline st_segment_t *st_log_active(const st_log_t *l)
{
    ASSERT(l->seg_count > 0);
    return l->segs[l->seg_count - 1];
}

/* st_store.c */
/* Remembers dir's file system for the shutdown syncfs (st_store_link_log). */
void st_store_note_fs(st_store_t *s, const char *dir);
/* Whether dir's file system has a shutdown-sync descriptor. */
bool st_store_fs_noted(const st_store_t *s, const char *dir);
st_write_t *st_store_write_get(st_store_t *s);
void st_store_write_put(st_store_t *s, st_write_t *w);
uint32_t st_store_ring_free(const st_store_t *s);
int st_store_submit_write(st_store_t *s, int fd, const void *buf, uint32_t len, uint64_t pos,
                          io_cb_t cb, void *ctx);
int st_store_submit_sync(st_store_t *s, int fd, bool datasync, io_cb_t cb, void *ctx);
/* Shrinks the flush check interval for a log with this flush_ms. */
void st_store_note_flush_ms(st_store_t *s, int64_t flush_ms);
void st_store_link_log(st_store_t *s, st_log_t *l);
void st_store_unlink_log(st_store_t *s, st_log_t *l);
void st_store_schedule(st_store_t *s, st_log_t *l);

/* st_log.c */
/* flush.ms: requests a flush when due at now_ms. */
void st_log_flush_if_due(st_log_t *l, int64_t now_ms);
void st_log_do_work(st_log_t *l);
int st_log_segs_push(st_log_t *l, st_segment_t *seg);
void st_log_seal_committed(st_log_t *l);

/* st_recover.c: fills l->segs from the directory (see st_log.h "Recovery"). With
 * recover, only segments holding offsets >= recovery_point are re-read (0: all). */
int st_log_load(st_log_t *l, bool recover, int64_t recovery_point);

/* st_psnap.c (st_producer.h "Snapshots") */
/* Writes <dir>/<offset>.snapshot from l->producers (tmp + rename; with sync, fdatasync
 * and directory fsync) and deletes all but the newest two. 0 or -errno (logged). */
int st_psnap_write(st_log_t *l, int64_t offset, bool sync);
/* At open, after the segments are loaded: the newest readable snapshot at or below
 * min(bound, LEO) is loaded (newer ones past LEO deleted) and the batches after it
 * replayed; no snapshot or a corrupt one: replay from the first segment (logged). */
void st_log_load_producers(st_log_t *l, int64_t bound);
/* Deletes the snapshot files past offset `end` (the log was cut back to end). */
void st_psnap_truncate(st_log_t *l, int64_t end);

/* st_files.c */
int st_fsync_dir(const char *dir);
int st_fsync_parent_dir(const char *path);
/* Unlinks every entry of dir (a partition directory holds files only), then
 * dir itself. 0 or the first -errno (ENOENT ignored); no fsync. */
int st_dir_remove_all(const char *dir);
/* Checks <dir>/partition.metadata names topic_id; writes it when missing or
 * empty (tmp + fsync + rename, then a dir fsync when sync_dir: st_log_open
 * passes false for a directory it just made and fsyncs it once at the end).
 * 0, -errno, or SL_ERR_CORRUPT (unreadable, or another topic's id). */
int st_partition_metadata_check(const char *dir, const uint8_t topic_id[16], bool sync_dir);
/* <dir>/log-start-offset-checkpoint (st_log.h "Log start offset"). write: durably
 * (tmp + fsync + rename + dir fsync), 0 or -errno. read: *offset_out = -1 when the
 * file is missing; 0, -errno or SL_ERR_CORRUPT. */
int st_start_offset_write(const char *dir, int64_t offset);
int st_start_offset_read(const char *dir, int64_t *offset_out);
/* <dir>/leader-epoch-checkpoint (st_log.h "Leader epoch"): write "0\n1\n0 <offset>\n"
 * (tmp + rename; when durable also fsync before the rename and of the dir after
 * it), 0 or -errno. Not durable only for a log being created: the file is
 * derived from the start offset, and open rewrites it when missing or
 * unreadable. read: 0 with the one entry, -ENOENT, other -errno, or
 * SL_ERR_CORRUPT (anything but that exact layout). */
int st_leader_epoch_write(const char *dir, int64_t start_offset, bool durable);
int st_leader_epoch_read(const char *dir, int32_t *epoch_out, int64_t *offset_out);
/* <dir>/recovery-point-offset-checkpoint, same format and rules. */
int st_recovery_point_write(const char *dir, int64_t offset);
int st_recovery_point_read(const char *dir, int64_t *offset_out);
void st_uuid_base64url(const uint8_t id[16], char out[23]);
int st_uuid_parse_base64url(const char *s, size_t len, uint8_t id[16]);

/* st_reader.c: sequential buffered pread for recovery and replay. */
typedef struct st_reader {
    int fd;
    int64_t file_size;
    uint8_t *buf;
    uint32_t cap;
    int64_t buf_pos;  /* file position of buf[0] */
    uint32_t buf_len; /* valid bytes in buf */
} st_reader_t;

int st_reader_init(st_reader_t *r, uint32_t cap);
void st_reader_free(st_reader_t *r);
void st_reader_reset(st_reader_t *r, int fd, int64_t file_size);
/* Points *out at file bytes [pos, pos + need), reading (and growing the buffer up to
 * need) as required. Returns how many of them exist (< need only at end of file) or
 * -errno. */
int64_t st_reader_peek(st_reader_t *r, int64_t pos, uint32_t need, const uint8_t **out);

#endif /* ST_INTERNAL_H */
