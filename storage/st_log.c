/* st_log.c — a partition log: open/close/delete, the append path, write and sync
 * completions, group commit, and repair after a failed write. Fetch positioning is
 * in st_read.c, loading and recovery in st_recover.c. Contracts in st_log.h, the
 * append FIFO and life cycle in st_internal.h. */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "kp_batch.h"
#include "st_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void log_write_done(void *ctx, int32_t res, uint32_t cqe_flags);
static void log_sync_done(void *ctx, int32_t res, uint32_t cqe_flags);
static int log_trim_below_start(st_log_t *l, int64_t *bytes);
static int64_t log_roll_jitter_ms(const st_log_t *l, int64_t base_offset);

/* --- configuration ---------------------------------------------------------------- */

void st_log_config_default(st_log_config_t *c)
{
    c->segment_bytes = 1073741824;     /* segment.bytes */
    c->index_interval_bytes = 4096;    /* index.interval.bytes */
    c->segment_index_bytes = 10485760; /* segment.index.bytes */
    c->segment_ms = 604800000;         /* segment.ms: 7 days */
    c->segment_jitter_ms = 0;          /* segment.jitter.ms */
    c->retention_ms = 604800000;       /* retention.ms: 7 days */
    c->retention_bytes = -1;           /* retention.bytes: unlimited */
    c->flush_messages = INT64_MAX;     /* flush.messages: off */
    c->flush_ms = INT64_MAX;           /* flush.ms: off */
    /* producer.id.expiration.ms: 1 day */
    c->producer_id_expiration_ms = 86400000;
}

bool st_log_config_valid(const st_log_config_t *c)
{
    return c->segment_bytes >= KP_BATCH_HEADER_BYTES && c->segment_bytes <= ST_MAX_SEGMENT_BYTES &&
           c->index_interval_bytes >= 0 && c->segment_index_bytes >= ST_TINDEX_ENTRY_BYTES &&
           c->segment_ms >= 1 && c->segment_jitter_ms >= 0 && c->retention_ms >= -1 &&
           c->retention_bytes >= -1 && c->flush_messages >= 1 && c->flush_ms >= 0 &&
           c->producer_id_expiration_ms >= 1;
}

int st_log_set_config(st_log_t *l, const st_log_config_t *cfg)
{
    ASSERT(l && cfg && l->state == ST_LOG_OPEN);
    if (!st_log_config_valid(cfg))
        return SL_ERR_PROTO;
    l->cfg = *cfg;
    l->index_max_bytes = (uint32_t)cfg->segment_index_bytes;
    /* flush_ms: the store's check interval only shrinks (st_store_link_log). */
    st_store_note_flush_ms(l->store, cfg->flush_ms);
    return 0;
}

/* --- invariants -------------------------------------------------------------------- */

static bool log_idle(const st_log_t *l)
{
    return l->head == NULL && !l->sync_inflight;
}

/* leader-epoch-checkpoint (st_log.h "Leader epoch"): once the start offset moved
 * past epoch 0's start, rewrite the file (Kafka's LeaderEpochFileCache.truncateFromStart).
 * A failed write is logged and retried at the next move or open. */
static void log_epoch_follow_start(st_log_t *l)
{
    if (l->epoch_start >= 0 && l->start_offset <= l->epoch_start)
        return;
    int err = st_leader_epoch_write(l->dir, l->start_offset, !l->creating);
    if (err) {
        LOG_WARN("storage: %s: cannot write leader-epoch-checkpoint (epoch 0 from %lld): %d",
                 l->dir, (long long)l->start_offset, err);
        return;
    }
    l->epoch_start = l->start_offset;
}

/* At open: read and validate the file; missing, corrupt or inconsistent (not epoch 0,
 * or epoch 0 starting past the log start) means it is rewritten from the start offset. */
static void log_epoch_load(st_log_t *l)
{
    int32_t epoch = -1;
    int64_t off = -1;
    int err = st_leader_epoch_read(l->dir, &epoch, &off);
    l->epoch_start = -1;
    if (err == 0 && epoch == 0 && off <= l->start_offset) {
        l->epoch_start = off;
        log_epoch_follow_start(l); /* a start offset moved while the write failed */
        return;
    }
    if (err == -ENOENT)
        LOG_INFO("storage: %s: writing leader-epoch-checkpoint (epoch 0 from %lld)", l->dir,
                 (long long)l->start_offset);
    else if (err)
        LOG_WARN("storage: %s: unreadable leader-epoch-checkpoint (%d); rewriting it (epoch 0 "
                 "from %lld)",
                 l->dir, err, (long long)l->start_offset);
    else
        LOG_WARN("storage: %s: leader-epoch-checkpoint names epoch %d from %lld, not epoch 0 "
                 "from at most the log start %lld; rewriting it",
                 l->dir, (int)epoch, (long long)off, (long long)l->start_offset);
    log_epoch_follow_start(l);
}

/* Full checker (STYLE.md §5): debug builds, at the calm points (open, roll, repair). */
static void log_check(const st_log_t *l)
{
#ifndef NDEBUG
    ASSERT(l->seg_count > 0 && l->state < ST_LOG_STATE_COUNT);
    ASSERT(l->start_offset >= l->segs[0]->base_offset);
    ASSERT(l->start_offset <= l->hwm && l->hwm <= l->leo);
    ASSERT(l->synced <= l->hwm || l->fail_permanent);
    ASSERT(l->first_unsealed < l->seg_count);
    for (uint32_t i = 0; i < l->seg_count; i++) {
        st_segment_check(l->segs[i]);
        if (i > 0)
            ASSERT(l->segs[i]->base_offset > l->segs[i - 1]->base_offset);
        ASSERT(l->segs[i]->sealed == (i < l->first_unsealed));
    }
    ASSERT(st_log_active(l)->base_offset <= l->leo);
    uint32_t n = 0;
    const st_write_t *prev = NULL;
    for (const st_write_t *w = l->head; w; w = w->next) {
        ASSERT(w->log == l && w->last_offset >= w->base_offset);
        if (!w->next)
            ASSERT(w == l->tail);
        if (w->dup) {
            ASSERT(w->done && !w->seg);
            continue;
        }
        if (prev)
            ASSERT(w->base_offset == prev->last_offset + 1);
        prev = w;
        n++;
    }
    if (prev)
        ASSERT(prev->last_offset + 1 == l->leo);
    ASSERT(n >= l->inflight);
#else
    (void)l;
#endif
}

/* --- segments array ---------------------------------------------------------------- */

int st_log_segs_push(st_log_t *l, st_segment_t *seg)
{
    if (l->seg_count == l->seg_cap) {
        uint32_t cap = l->seg_cap ? l->seg_cap * 2 : 8;
        st_segment_t **segs = realloc(l->segs, cap * sizeof(*segs));
        if (!segs)
            return -ENOMEM;
        l->segs = segs;
        l->seg_cap = cap;
    }
    l->segs[l->seg_count++] = seg;
    return 0;
}

/* Seals the segments before the active one whose writes have all completed, so their
 * index files are trimmed only once nothing can be repaired into them. */
void st_log_seal_committed(st_log_t *l)
{
    /* A deleted log's files are gone (and its directory's name may already be
     * a new log's: sealing reopens index files by path); a closing log seals
     * everything in log_close_clean. */
    if (l->state != ST_LOG_OPEN)
        return;
    while (l->first_unsealed + 1 < l->seg_count) {
        st_segment_t *seg = l->segs[l->first_unsealed];
        if (seg->committed < seg->size)
            break; /* writes in flight, or a failed one awaiting repair */
        int err = st_segment_seal(seg, false);
        if (err)
            LOG_WARN("storage: %s: trimming the index files failed (%d); they will be "
                     "rebuilt when the log is next opened",
                     seg->path, err);
        l->first_unsealed++;
    }
}

/* --- open / close / delete ---------------------------------------------------------- */

int st_log_open(st_store_t *s, const char *dir_path, const uint8_t topic_id[16],
                const st_log_config_t *cfg, bool recover, st_log_t **out)
{
    ASSERT(s && dir_path && topic_id && cfg && out);
    ASSERT(st_log_config_valid(cfg));
    size_t dlen = strnlen(dir_path, SL_MAX_PATH);
    while (dlen > 1 && dir_path[dlen - 1] == '/')
        dlen--;
    if (dlen == 0 || dlen + 64 >= SL_MAX_PATH)
        return -ENAMETOOLONG;
    int err;
    st_log_t *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->dir = strndup(dir_path, dlen);
    if (!l->dir) {
        err = -ENOMEM;
        goto out_free_log;
    }
    l->store = s;
    l->cfg = *cfg;
    l->index_max_bytes = (uint32_t)cfg->segment_index_bytes;
    l->state = ST_LOG_OPEN;
    l->sync_dirfd = -1;
    l->fail_offset = INT64_MAX;
    l->epoch_start = -1;

    bool created = false;
    if (mkdir(l->dir, 0755) == 0) {
        created = true;
    } else if (errno != EEXIST) {
        err = -errno;
        goto out_free_dir;
    } else {
        struct stat st;
        if (stat(l->dir, &st) != 0) {
            err = -errno;
            goto out_free_dir;
        }
        if (!S_ISDIR(st.st_mode)) {
            err = -ENOTDIR;
            goto out_free_dir;
        }
    }
    /* A directory made here is fsynced once its files exist, then its parent
     * (after st_log_load), instead of after each file: 3 fsyncs per new
     * partition, not 6.
     * A crash before that leaves a directory that the next open completes
     * (partition.metadata is rewritten when missing or empty, the
     * leader-epoch-checkpoint when missing or unreadable). */
    l->creating = created;
    err = st_partition_metadata_check(l->dir, topic_id, !created);
    if (err)
        goto out_free_dir;
    int64_t recovery_point = 0;
    if (recover) {
        err = st_recovery_point_read(l->dir, &recovery_point);
        if (err || recovery_point < 0) {
            if (err)
                LOG_WARN("storage: %s: ignoring an unreadable recovery-point-offset-checkpoint "
                         "(%d); recovering every segment",
                         l->dir, err);
            recovery_point = 0;
        }
    }
    err = st_log_load(l, recover, recovery_point);
    if (err)
        goto out_free_dir;
    if (created || recover) {
        /* The new directory's entries, then its own entry in the parent. The
         * leader-epoch-checkpoint written below needs neither (derived). After
         * an unclean stop too: the process may have died inside a creation,
         * whose entries the kernel still has but never synced (a clean
         * directory costs a cheap fsync). */
        err = st_fsync_dir(l->dir);
        if (!err)
            err = st_fsync_parent_dir(l->dir);
        if (err)
            goto out_drop_segments;
    }
    /* Producer state: from the snapshot at or below where recovery started. */
    int64_t pstate_bound = l->leo;
    if (recover) {
        uint32_t i = 0;
        while (i + 1 < l->seg_count && l->segs[i + 1]->base_offset <= recovery_point)
            i++;
        pstate_bound = l->segs[i]->base_offset;
    }
    st_log_load_producers(l, pstate_bound);
    l->start_offset = l->segs[0]->base_offset;
    int64_t ckpt = -1;
    err = st_start_offset_read(l->dir, &ckpt);
    if (err) {
        LOG_WARN("storage: %s: ignoring an unreadable log-start-offset-checkpoint (%d); the "
                 "log starts at its first segment",
                 l->dir, err);
        ckpt = -1;
        err = 0;
    }
    if (ckpt > l->start_offset)
        l->start_offset = SL_MIN(ckpt, l->leo);
    log_epoch_load(l);
    l->creating = false;
    l->hwm = l->leo;
    l->synced = l->leo;
    l->sync_wanted = l->leo;
    l->flush_upto = l->leo;
    l->last_flush_ms = st_store_now_ms(s);
    l->recovery_point = SL_MIN(recovery_point, l->leo);
    l->durable_end = l->leo; /* clean close, or recovery fdatasynced what it re-read */
    st_segment_t *act = st_log_active(l);
    act->roll_jitter_ms = log_roll_jitter_ms(l, act->base_offset);
    if (act->size > 0)
        act->first_append_ms = st_store_now_ms(s); /* see st_log.h "Rolls" */
    st_store_link_log(s, l);
    int64_t trimmed = 0;
    (void)log_trim_below_start(l, &trimmed); /* no sync in flight yet: runs now */
    log_check(l);
    *out = l;
    return 0;

out_drop_segments:
    /* A directory made here that could not be synced goes again (best
     * effort), so that the next open starts the creation over. */
    while (l->seg_count > 0)
        st_segment_drop(l->segs[--l->seg_count]);
    free(l->segs);
    if (created)
        (void)st_dir_remove_all(l->dir);
out_free_dir:
    free(l->dir);
out_free_log:
    free(l);
    return err;
}

/* fdatasyncs a sealed segment's trimmed index files (blocking). 0 or -errno. */
static int segment_sync_index_files(st_segment_t *seg)
{
    static const char *const suffixes[] = {".index", ".timeindex"};
    int err = 0;
    for (size_t k = 0; k < SL_ARRAY_SIZE(suffixes); k++) {
        char path[SL_MAX_PATH];
        st_segment_file(seg, suffixes[k], path, sizeof(path));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fdatasync(fd) != 0)
            err = err ? err : -errno;
        if (fd >= 0)
            close(fd);
    }
    if (!err)
        seg->index_unsynced = false;
    return err;
}

/* Clean close of an idle log: data and index files durable, index files trimmed.
 * At shutdown (close_sync_deferred) the per-file syncs are left to the store's
 * one syncfs per file system. */
static void log_close_clean(st_log_t *l)
{
    /* A log whose file system has no syncfs descriptor (stat/open failed at
     * open, or more than ST_MAX_SYNC_FS file systems) syncs its own files. */
    bool sync = !l->store->close_sync_deferred || !st_store_fs_noted(l->store, l->dir);
    int err = 0;
    for (uint32_t i = 0; i < l->seg_count; i++) {
        st_segment_t *seg = l->segs[i];
        if (seg->data_unsynced && !l->fail_permanent) {
            if (sync && fdatasync(seg->log_fd) != 0 && !err)
                err = -errno;
            seg->data_unsynced = false;
        }
        if (!seg->sealed) {
            int e = st_segment_seal(seg, sync);
            err = err ? err : e;
        } else if (seg->index_unsynced && sync) {
            int e = segment_sync_index_files(seg);
            err = err ? err : e;
        }
    }
    if (!l->fail_err && !err)
        (void)st_psnap_write(l, l->leo, sync); /* failure logged: the next open replays */
    if (l->dir_unsynced && sync) {
        int e = st_fsync_dir(l->dir);
        err = err ? err : e;
        l->dir_unsynced = false;
    }
    if (err || l->fail_err) {
        LOG_ERROR("storage: %s: not closed cleanly (%d, failure %d); the next start must "
                  "recover it",
                  l->dir, err, l->fail_err);
        l->store->needs_recovery = true;
    }
}

static void log_finalize(st_log_t *l)
{
    ASSERT(l->state != ST_LOG_OPEN);
    ASSERT(log_idle(l) && l->inflight == 0 && !l->on_work && l->in_callbacks == 0);
    if (l->state == ST_LOG_CLOSING)
        log_close_clean(l);
    for (uint32_t i = 0; i < l->seg_count; i++)
        st_segment_drop(l->segs[i]);
    st_store_unlink_log(l->store, l);
    st_pstate_free(&l->producers);
    free(l->segs);
    free(l->dir);
    free(l);
}

/* Finalizes now when nothing is pending, else at a later end_turn. */
static void log_finalize_or_defer(st_log_t *l)
{
    if (log_idle(l) && l->in_callbacks == 0 && !l->on_work)
        log_finalize(l);
    else
        st_store_schedule(l->store, l);
}

void st_log_close(st_log_t *l)
{
    ASSERT(l && l->state == ST_LOG_OPEN);
    l->state = ST_LOG_CLOSING;
    log_finalize_or_defer(l);
}

int st_log_delete(st_log_t *l)
{
    ASSERT(l && l->state == ST_LOG_OPEN);
    l->state = ST_LOG_DELETING;
    int err = 0;
    for (uint32_t i = 0; i < l->seg_count; i++) {
        int e = st_segment_unlink(l->segs[i]);
        err = err ? err : e;
    }
    /* Whatever else lives there: partition.metadata, leftovers. */
    int e = st_dir_remove_all(l->dir);
    err = err ? err : e;
    if (!err)
        err = st_fsync_parent_dir(l->dir);
    if (err)
        LOG_WARN("storage: %s: removing the log's files failed (%d)", l->dir, err);
    log_finalize_or_defer(l);
    return err;
}

/* --- accessors ----------------------------------------------------------------------- */

const st_producer_t *st_log_find_producer(const st_log_t *l, int64_t producer_id)
{
    return st_pstate_find(&l->producers, producer_id);
}

int64_t st_log_start_offset(const st_log_t *l)
{
    return l->start_offset;
}

int64_t st_log_end_offset(const st_log_t *l)
{
    return l->leo;
}

int64_t st_log_high_watermark(const st_log_t *l)
{
    return l->hwm;
}

const char *st_log_dir(const st_log_t *l)
{
    return l->dir;
}

uint32_t st_log_segment_count(const st_log_t *l)
{
    return l->seg_count;
}

int64_t st_log_segment_base_offset(const st_log_t *l, uint32_t i)
{
    ASSERT(i < l->seg_count);
    return l->segs[i]->base_offset;
}

int64_t st_log_size_bytes(const st_log_t *l)
{
    int64_t n = 0;
    for (uint32_t i = 0; i < l->seg_count; i++)
        n += l->segs[i]->size;
    return n;
}

/* --- append ---------------------------------------------------------------------------- */

/* This segment's roll jitter: uniform-ish in [0, min(jitter, segment_ms)), fixed per
 * segment (splitmix64 of the base offset and the log's address). */
static int64_t log_roll_jitter_ms(const st_log_t *l, int64_t base_offset)
{
    int64_t bound = SL_MIN(l->cfg.segment_jitter_ms, l->cfg.segment_ms);
    if (bound <= 0)
        return 0;
    uint64_t z = (uint64_t)base_offset ^ (uint64_t)(uintptr_t)l;
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (int64_t)(z % (uint64_t)bound);
}

static bool log_too_old(const st_log_t *l, const st_segment_t *act, int64_t now_ms)
{
    return act->size > 0 && act->first_append_ms >= 0 &&
           now_ms - act->first_append_ms > l->cfg.segment_ms - act->roll_jitter_ms;
}

static bool log_needs_roll(const st_log_t *l, const st_segment_t *act, uint32_t len,
                           int64_t last_offset, int64_t now_ms)
{
    /* Even an empty segment rolls when its base is too far behind (a directory
     * whose last segment is empty but named far below the log end). */
    if (last_offset - act->base_offset > INT32_MAX)
        return true;
    if (act->size == 0)
        return false;
    return act->size + (int64_t)len > l->cfg.segment_bytes || st_segment_index_full(act) ||
           log_too_old(l, act, now_ms);
}

static int log_roll(st_log_t *l)
{
    st_segment_t *seg;
    int err = st_segment_create(l->dir, l->leo, l->index_max_bytes, &seg);
    if (err) {
        LOG_ERROR("storage: %s: cannot create a segment at offset %lld (%d)", l->dir,
                  (long long)l->leo, err);
        return err;
    }
    err = st_log_segs_push(l, seg);
    if (err) {
        st_segment_unlink(seg);
        st_segment_drop(seg);
        return err;
    }
    seg->roll_jitter_ms = log_roll_jitter_ms(l, seg->base_offset);
    l->dir_unsynced = true;
    l->recent_count = 0; /* the cache describes the active segment only */
    /* Producer state below the new segment; a failure is logged: the next open replays. */
    (void)st_psnap_write(l, l->leo, false);
    l->store->stats.rolls++;
    st_log_seal_committed(l);
    LOG_DEBUG("storage: %s: rolled to segment %lld", l->dir, (long long)seg->base_offset);
    log_check(l);
    return 0;
}

static void recent_push(st_log_t *l, const st_segment_t *act, int64_t base_offset,
                        int32_t last_delta, int64_t pos, uint32_t size)
{
    ASSERT(base_offset >= act->base_offset && base_offset - act->base_offset <= INT32_MAX);
    st_recent_batch_t *r = &l->recent[l->recent_next];
    r->rel_base_offset = (uint32_t)(base_offset - act->base_offset);
    r->last_offset_delta = (uint32_t)last_delta;
    r->pos = (uint32_t)pos;
    r->size = size;
    l->recent_next = (l->recent_next + 1) % ST_RECENT_BATCHES_PER_LOG;
    if (l->recent_count < ST_RECENT_BATCHES_PER_LOG)
        l->recent_count++;
}

/* A duplicate idempotent batch: a no-write record queued in the FIFO, so its callback
 * reports the original's base offset in offset order, after the original completed
 * (and was synced, when sync). Delivered from st_log_do_work when nothing before it
 * is pending (the callback never runs inside st_log_append). */
static int log_append_dup(st_log_t *l, const st_producer_batch_t *orig, bool sync,
                          st_append_cb_t cb, void *ctx)
{
    st_store_t *s = l->store;
    st_write_t *w = st_store_write_get(s);
    ASSERT(w);
    w->log = l;
    w->seg = NULL;
    w->buf = NULL;
    w->len = 0;
    w->pos = 0;
    w->base_offset = orig->first_offset;
    w->last_offset = orig->last_offset;
    w->cb = cb;
    w->ctx = ctx;
    w->sync = sync;
    w->done = true;
    w->dup = true;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    if (!l->uncommitted)
        l->uncommitted = w;
    s->stats.duplicate_appends++;
    st_store_schedule(s, l);
    return 0;
}

int st_log_append(st_log_t *l, uint8_t *batch, uint32_t len, bool sync, st_append_cb_t cb,
                  void *ctx)
{
    ASSERT(l && l->state == ST_LOG_OPEN);
    ASSERT(batch && cb);
    st_store_t *s = l->store;
    if (l->fail_err)
        return l->fail_err;
    kp_batch_header_t h;
    if (kp_batch_parse_header(batch, len, &h) != 0 || kp_batch_total_size(&h) != len)
        return SL_ERR_CORRUPT;
    if ((int64_t)len > l->cfg.segment_bytes)
        return SL_ERR_LIMIT;
    if (!s->free_writes || st_store_ring_free(s) == 0) {
        s->stats.append_busy++;
        return -EBUSY;
    }
    bool idem = kp_batch_has_producer_id(&h) && !kp_batch_is_control(&h);
    st_producer_batch_t pb;
    if (idem) {
        pb.first_seq = h.base_sequence;
        pb.last_seq = st_pstate_last_seq(h.base_sequence, h.last_offset_delta);
        st_producer_batch_t orig;
        int rc = st_pstate_check(&l->producers, h.producer_id, h.producer_epoch, pb.first_seq,
                                 pb.last_seq, &orig);
        if (rc == ST_PSTATE_DUPLICATE)
            return log_append_dup(l, &orig, sync, cb, ctx);
        if (rc)
            return rc;
    }
    int64_t base = l->leo;
    int64_t last = base + h.last_offset_delta;
    int64_t now_ms = st_store_now_ms(s);
    st_segment_t *act = st_log_active(l);
    if (log_needs_roll(l, act, len, last, now_ms)) {
        int err = log_roll(l);
        if (err)
            return err;
        act = st_log_active(l);
    }
    ASSERT(act->size + (int64_t)len <= l->cfg.segment_bytes);
    if (idem) {
        pb.first_offset = base;
        pb.last_offset = last;
        pb.max_timestamp = h.max_timestamp;
        int err = st_pstate_record(&l->producers, h.producer_id, h.producer_epoch, &pb, now_ms);
        if (err)
            return err; /* -ENOMEM; a roll that just happened is harmless */
    }

    kp_batch_stamp(batch, base, 0);
    st_write_t *w = st_store_write_get(s);
    ASSERT(w);
    w->log = l;
    w->seg = act;
    w->buf = batch;
    w->len = len;
    w->pos = act->size;
    w->base_offset = base;
    w->last_offset = last;
    w->cb = cb;
    w->ctx = ctx;
    w->sync = sync;

    if (act->size == 0)
        act->first_append_ms = now_ms;
    act->size += len;
    st_segment_note_batch(act, w->pos, len, last, h.max_timestamp, l->cfg.index_interval_bytes);
    recent_push(l, act, base, h.last_offset_delta, w->pos, len);
    l->leo = last + 1;
    if (l->leo - SL_MAX(l->synced, l->flush_upto) >= l->cfg.flush_messages) {
        l->flush_upto = l->leo; /* issued once these writes completed (log_commit) */
        s->stats.policy_flushes++;
    }

    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    if (!l->uncommitted)
        l->uncommitted = w;
    l->inflight++;
    s->stats.appends++;
    s->stats.append_bytes += len;

    /* Cannot fail: a ring slot was checked above and nothing consumed it since. */
    int rc = st_store_submit_write(s, act->log_fd, batch, len, (uint64_t)w->pos, log_write_done, w);
    ASSERT(rc == 0);
    return 0;
}

/* --- retention ---------------------------------------------------------------------------- */

/* The segment's largest timestamp (Kafka's LogSegment.largestTimestamp): the max
 * batch timestamp, else the .log file's modification time. */
static int64_t segment_largest_ts(const st_segment_t *seg)
{
    if (seg->max_ts >= 0)
        return seg->max_ts;
    struct stat st;
    if (fstat(seg->log_fd, &st) != 0)
        return INT64_MAX; /* unknown: keep it */
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Drops the n oldest segments (all sealed, none active): names unlinked, the log's
 * references dropped (pinned ones live on until their slices are released). */
static int log_delete_oldest(st_log_t *l, uint32_t n, int64_t *bytes, const char *why)
{
    ASSERT(n < l->seg_count && n <= l->first_unsealed);
    ASSERT(!l->sync_inflight);
    int err = 0;
    for (uint32_t i = 0; i < n; i++) {
        st_segment_t *seg = l->segs[i];
        ASSERT(seg->sealed && seg->committed == seg->size && seg != l->fail_seg);
        *bytes += seg->size;
        int e = st_segment_unlink(seg);
        if (e)
            LOG_WARN("storage: %s: unlinking deleted segment files failed (%d)", seg->path, e);
        err = err ? err : e;
        LOG_INFO("storage: %s: deleted segment %020lld (%lld bytes) by %s", l->dir,
                 (long long)seg->base_offset, (long long)seg->size, why);
        st_segment_drop(seg);
    }
    memmove(l->segs, l->segs + n, (l->seg_count - n) * sizeof(*l->segs));
    l->seg_count -= n;
    l->first_unsealed -= n;
    l->start_offset = SL_MAX(l->start_offset, l->segs[0]->base_offset);
    log_epoch_follow_start(l);
    l->store->stats.segments_deleted += n;
    if (n)
        l->dir_unsynced = true; /* made durable by the next group commit */
    log_check(l);
    return err;
}

/* Deletes the non-active sealed segments whose records all lie below the start
 * offset (the next segment starts at or below it). -EBUSY while a sync is in flight
 * (trim_due makes st_log_do_work retry). */
static int log_trim_below_start(st_log_t *l, int64_t *bytes)
{
    if (l->sync_inflight) {
        l->trim_due = true;
        st_store_schedule(l->store, l);
        return -EBUSY;
    }
    l->trim_due = false;
    uint32_t limit = SL_MIN(l->first_unsealed, l->seg_count - 1);
    uint32_t n = 0;
    while (n < limit && l->segs[n + 1]->base_offset <= l->start_offset)
        n++;
    return n ? log_delete_oldest(l, n, bytes, "log start offset") : 0;
}

int st_log_enforce_retention(st_log_t *l, int64_t now_ms, int64_t *deleted_bytes)
{
    ASSERT(l && l->state == ST_LOG_OPEN);
    int64_t bytes = 0;
    if (deleted_bytes)
        *deleted_bytes = 0;
    if (l->sync_inflight) {
        l->retention_due = true;
        l->retention_due_now_ms = now_ms;
        return -EBUSY; /* retried from st_log_do_work once the sync completed */
    }
    l->retention_due = false;
    /* Only sealed segments (all writes done, never the active one) qualify. */
    uint32_t limit = SL_MIN(l->first_unsealed, l->seg_count - 1);
    uint32_t n_time = 0, n = 0;
    if (l->cfg.retention_ms >= 0) {
        while (n_time < limit && now_ms - segment_largest_ts(l->segs[n_time]) > l->cfg.retention_ms)
            n_time++;
    }
    n = n_time;
    if (l->cfg.retention_bytes >= 0) {
        int64_t total = st_log_size_bytes(l);
        for (uint32_t i = 0; i < n; i++)
            total -= l->segs[i]->size;
        while (n < limit && total - l->segs[n]->size >= l->cfg.retention_bytes) {
            total -= l->segs[n]->size;
            n++;
        }
    }
    int err = 0;
    if (n_time > 0)
        err = log_delete_oldest(l, n_time, &bytes, "retention.ms");
    if (n > n_time) {
        int e = log_delete_oldest(l, n - n_time, &bytes, "retention.bytes");
        err = err ? err : e;
    }
    int e = log_trim_below_start(l, &bytes);
    err = err ? err : e;
    if (deleted_bytes)
        *deleted_bytes = bytes;
    return err;
}

int st_log_checkpoint_recovery_point(st_log_t *l)
{
    ASSERT(l && l->state == ST_LOG_OPEN);
    int64_t point = l->fail_permanent ? l->recovery_point : l->durable_end;
    if (point <= l->recovery_point)
        return 0;
    /* Segments below the point are loaded trusted after a crash: their trimmed index
     * files must be durable too (once per rolled segment). */
    int err = 0;
    for (uint32_t i = 0; i < l->first_unsealed && !err; i++) {
        if (l->segs[i]->index_unsynced)
            err = segment_sync_index_files(l->segs[i]);
    }
    if (!err)
        err = st_recovery_point_write(l->dir, point);
    if (err) {
        LOG_WARN("storage: %s: cannot write the recovery point %lld (%d)", l->dir, (long long)point,
                 err);
        return err;
    }
    l->recovery_point = point;
    l->store->stats.recovery_checkpoints++;
    return 0;
}

int st_log_delete_records(st_log_t *l, int64_t offset, int64_t *low_watermark_out)
{
    ASSERT(l && l->state == ST_LOG_OPEN);
    if (offset == -1)
        offset = l->hwm;
    if (offset < 0 || offset > l->hwm)
        return SL_ERR_RANGE;
    int err = 0;
    if (offset > l->start_offset) {
        err = st_start_offset_write(l->dir, offset);
        if (err) {
            LOG_ERROR("storage: %s: cannot persist the log start offset %lld (%d)", l->dir,
                      (long long)offset, err);
            return err;
        }
        LOG_INFO("storage: %s: log start offset raised from %lld to %lld by DeleteRecords", l->dir,
                 (long long)l->start_offset, (long long)offset);
        l->start_offset = offset;
        log_epoch_follow_start(l);
        int64_t bytes = 0;
        err = log_trim_below_start(l, &bytes);
        if (err == -EBUSY)
            err = 0; /* deferred: st_log_do_work finishes it */
    }
    if (low_watermark_out)
        *low_watermark_out = l->start_offset;
    return err;
}

void st_log_flush_if_due(st_log_t *l, int64_t now_ms)
{
    ASSERT(l->state == ST_LOG_OPEN);
    if (l->cfg.flush_ms == INT64_MAX || l->hwm <= l->synced || l->fail_permanent)
        return;
    if (now_ms - l->last_flush_ms < l->cfg.flush_ms || l->sync_wanted >= l->hwm)
        return;
    l->sync_wanted = l->hwm;
    l->store->stats.policy_flushes++;
    st_store_schedule(l->store, l);
}

/* --- completions -------------------------------------------------------------------------- */

/* Moves the HWM over the contiguous prefix of completed writes (never past a failed
 * one) and schedules a group commit for committed sync appends. */
static void log_commit(st_log_t *l)
{
    st_write_t *w = l->uncommitted;
    bool moved = false;
    while (w && w->done && w->res == 0 && w->base_offset < l->fail_offset) {
        if (w->dup) {
            /* Everything before it is committed, so is its original. */
            if (w->sync)
                l->sync_wanted = SL_MAX(l->sync_wanted, SL_MIN(w->last_offset + 1, l->hwm));
            w = w->next;
            moved = true;
            continue;
        }
        ASSERT(w->base_offset == l->hwm);
        l->hwm = w->last_offset + 1;
        w->seg->committed = w->pos + w->len;
        w->seg->data_unsynced = true;
        if (w->sync)
            l->sync_wanted = l->hwm;
        w = w->next;
        moved = true;
    }
    l->uncommitted = w;
    if (!moved)
        return;
    /* A policy flush waits for all the writes it covers: one round, not several. */
    if (l->flush_upto > l->sync_wanted && l->hwm >= l->flush_upto)
        l->sync_wanted = l->flush_upto;
    st_log_seal_committed(l);
    if (l->sync_wanted > l->synced && !l->sync_inflight && !l->fail_permanent)
        st_store_schedule(l->store, l);
}

/* Runs the callbacks of the head records that are finished, in offset order. */
static void log_deliver(st_log_t *l)
{
    l->in_callbacks++;
    st_write_t *w;
    while ((w = l->head) != NULL && w->done) {
        int err = 0;
        if (w->last_offset < l->hwm) {
            if (w->sync && l->synced <= w->last_offset) {
                if (!l->fail_permanent)
                    break; /* waits for the group commit */
                err = l->fail_err;
            }
        } else {
            /* Done but not committed: at or after a failed write. */
            ASSERT(l->fail_err != 0);
            err = l->fail_err;
        }
        l->head = w->next;
        if (!l->head)
            l->tail = NULL;
        if (l->uncommitted == w)
            l->uncommitted = w->next;
        st_append_cb_t cb = w->cb;
        void *ctx = w->ctx;
        int64_t base = w->base_offset;
        st_store_write_put(l->store, w); /* before the callback: it may append again */
        cb(ctx, err, base);
    }
    l->in_callbacks--;
    if (l->state != ST_LOG_OPEN || (l->fail_err && !l->fail_permanent))
        st_store_schedule(l->store, l); /* finalize or repair once idle */
}

static void log_note_failure(st_log_t *l, st_write_t *w, int32_t res)
{
    l->store->stats.write_errors++;
    if (!l->fail_err) {
        l->fail_err = res;
        LOG_ERROR("storage: %s: write of offsets %lld..%lld at %s.log:%lld failed (%d); "
                  "appends refused until the log is repaired",
                  l->dir, (long long)w->base_offset, (long long)w->last_offset, w->seg->path,
                  (long long)w->pos, res);
    }
    if (w->base_offset < l->fail_offset) {
        l->fail_offset = w->base_offset;
        l->fail_seg = w->seg;
        l->fail_pos = w->pos;
    }
}

static void log_write_done(void *ctx, int32_t res, uint32_t cqe_flags)
{
    (void)cqe_flags;
    st_write_t *w = ctx;
    st_log_t *l = w->log;
    ASSERT(l && !w->done);
    if (res > 0 && (uint32_t)res < w->len - w->done_bytes) {
        /* Short write (e.g. the disk filled up mid-write): resubmit the rest, which
         * reports the real error if there is one. Our slot was just released, so the
         * submission cannot find the ring full. */
        w->done_bytes += (uint32_t)res;
        l->store->stats.short_writes++;
        int rc = st_store_submit_write(l->store, w->seg->log_fd, w->buf + w->done_bytes,
                                       w->len - w->done_bytes, (uint64_t)(w->pos + w->done_bytes),
                                       log_write_done, w);
        if (rc == 0)
            return;
        res = rc;
    } else if (res == 0) {
        res = -EIO; /* no progress on a regular file: do not loop */
    }
    w->done = true;
    ASSERT(l->inflight > 0);
    l->inflight--;
    if (res < 0) {
        w->res = res;
        log_note_failure(l, w, res);
    } else {
        w->done_bytes = w->len;
    }
    log_commit(l);
    log_deliver(l);
}

/* --- group commit -------------------------------------------------------------------------- */

static void log_sync_op_done(st_log_t *l, int32_t res)
{
    if (res < 0 && !l->sync_res)
        l->sync_res = res;
    ASSERT(l->sync_ops > 0);
    if (--l->sync_ops > 0)
        return;
    if (l->sync_dirfd >= 0) {
        close(l->sync_dirfd);
        l->sync_dirfd = -1;
    }
    l->sync_inflight = false;
    if (l->sync_res) {
        /* After a failed fdatasync the page cache no longer tells what the disk holds
         * (the kernel may have dropped the dirty pages): stop until reopened. */
        LOG_ERROR("storage: %s: fdatasync failed (%d); the log refuses appends until it is "
                  "reopened, and the next start recovers it",
                  l->dir, l->sync_res);
        l->fail_permanent = true;
        if (!l->fail_err)
            l->fail_err = l->sync_res;
        l->store->needs_recovery = true;
    } else {
        l->synced = SL_MAX(l->synced, l->sync_target);
        l->durable_end = SL_MAX(l->durable_end, l->sync_target);
        l->last_flush_ms = st_store_now_ms(l->store);
    }
    log_deliver(l);
    if ((l->sync_wanted > l->synced && !l->fail_permanent) || l->retention_due || l->trim_due)
        st_store_schedule(l->store, l);
}

static void log_sync_done(void *ctx, int32_t res, uint32_t cqe_flags)
{
    (void)cqe_flags;
    log_sync_op_done(ctx, res);
}

/* One group commit for the log: fdatasync of every segment with committed unsynced
 * bytes (normally just the active one) and, after a roll, fsync of the directory. */
static void log_issue_sync(st_log_t *l)
{
    if (l->sync_inflight || l->sync_wanted <= l->synced || l->fail_permanent)
        return;
    st_store_t *s = l->store;
    uint32_t first = l->seg_count, n = 0;
    for (uint32_t i = l->seg_count; i-- > 0;) {
        st_segment_t *seg = l->segs[i];
        if (seg->data_unsynced) {
            first = i;
            n++;
        } else if (seg->sealed) {
            break; /* committed bytes are in order: nothing unsynced before this */
        }
    }
    bool dir = l->dir_unsynced && l->state != ST_LOG_DELETING;
    if (n == 0 && !dir) {
        /* Everything committed was covered by the previous round. */
        l->synced = SL_MAX(l->synced, l->hwm);
        l->durable_end = SL_MAX(l->durable_end, l->hwm);
        log_deliver(l);
        return;
    }
    if (st_store_ring_free(s) < n + (dir ? 1 : 0)) {
        st_store_schedule(s, l); /* ring full: next turn */
        return;
    }
    if (dir) {
        l->sync_dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l->sync_dirfd < 0) {
            LOG_WARN("storage: %s: cannot open the directory to fsync it (%d); retrying", l->dir,
                     -errno);
            st_store_schedule(s, l);
            return;
        }
    }
    l->sync_inflight = true;
    l->sync_ops = n + (dir ? 1 : 0);
    l->sync_res = 0;
    l->sync_target = l->hwm;
    s->stats.sync_rounds++;
    if (dir)
        l->dir_unsynced = false;
    /* sync_ops is set before the first submission, so a hook failing an op at once
     * cannot finish the round early. Nothing touches l after the last submission. */
    int dirfd = l->sync_dirfd;
    for (uint32_t i = first; i < l->seg_count && n > 0; i++) {
        st_segment_t *seg = l->segs[i];
        if (!seg->data_unsynced)
            continue;
        seg->data_unsynced = false;
        n--;
        bool last = n == 0 && !dir;
        int rc = st_store_submit_sync(s, seg->log_fd, true, log_sync_done, l);
        if (rc != 0)
            log_sync_op_done(l, rc);
        if (last)
            return;
    }
    if (dir) {
        int rc = st_store_submit_sync(s, dirfd, false, log_sync_done, l);
        if (rc != 0)
            log_sync_op_done(l, rc);
    }
}

/* --- repair after a failed write ----------------------------------------------------------- */

static void log_repair(st_log_t *l)
{
    ASSERT(l->fail_err && !l->fail_permanent && log_idle(l) && l->inflight == 0);
    ASSERT(l->hwm == l->fail_offset && l->fail_seg);
    st_segment_t *fs = l->fail_seg;
    uint32_t i = l->seg_count;
    while (i-- > 0 && l->segs[i] != fs)
        ;
    ASSERT(i < l->seg_count && !fs->sealed);
    ASSERT(fs->committed == l->fail_pos);
    uint32_t deleted = 0;
    int err = 0;
    while (l->seg_count > i + 1) {
        st_segment_t *seg = l->segs[--l->seg_count];
        int e = st_segment_unlink(seg);
        err = err ? err : e;
        st_segment_drop(seg);
        deleted++;
    }
    int64_t old_size = fs->size;
    int e = st_segment_truncate(fs, l->fail_pos, l->hwm);
    err = err ? err : e;
    if (err) {
        LOG_ERROR("storage: %s: repair after a failed write failed (%d); the log refuses "
                  "appends until it is reopened",
                  l->dir, err);
        l->fail_permanent = true;
        l->store->needs_recovery = true;
        return;
    }
    LOG_WARN("storage: %s: after a failed write (%d): %s.log truncated from %lld to %lld "
             "bytes, %u later segment(s) deleted, log end offset back from %lld to %lld",
             l->dir, l->fail_err, fs->path, (long long)old_size, (long long)l->fail_pos, deleted,
             (long long)l->leo, (long long)l->hwm);
    if (deleted)
        l->dir_unsynced = true;
    l->first_unsealed = SL_MIN(l->first_unsealed, l->seg_count - 1);
    if (fs->size == 0)
        fs->first_append_ms = -1;
    l->flush_upto = SL_MIN(l->flush_upto, l->hwm);
    l->leo = l->hwm;
    st_pstate_truncate(&l->producers, l->leo);
    st_psnap_truncate(l, l->leo);
    l->recent_count = 0;
    l->fail_err = 0;
    l->fail_offset = INT64_MAX;
    l->fail_seg = NULL;
    l->fail_pos = 0;
    log_check(l);
}

void st_log_do_work(st_log_t *l)
{
    if (l->in_callbacks) {
        st_store_schedule(l->store, l);
        return;
    }
    if (l->retention_due && l->state == ST_LOG_OPEN && !l->sync_inflight)
        (void)st_log_enforce_retention(l, l->retention_due_now_ms, NULL);
    if (l->trim_due && l->state == ST_LOG_OPEN && !l->sync_inflight) {
        int64_t bytes = 0;
        (void)log_trim_below_start(l, &bytes);
    }
    if (l->uncommitted && l->uncommitted->dup) {
        log_commit(l); /* passes duplicates whose predecessors are committed */
        log_deliver(l);
    } else if (l->head && l->head->dup) {
        log_deliver(l);
    }
    log_issue_sync(l);
    if (l->fail_err && !l->fail_permanent && log_idle(l))
        log_repair(l);
    if (l->state != ST_LOG_OPEN && log_idle(l) && !l->on_work && l->in_callbacks == 0)
        log_finalize(l);
}
