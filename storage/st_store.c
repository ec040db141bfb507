/* st_store.c — the per-shard storage context: append pool, I/O submission (with
 * the test seams), the deferred-work list driven by st_store_end_turn. */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "st_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void st_store_close_logs(st_store_t *s);

static int64_t default_clock(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int default_write(void *arg, io_ring_t *ring, int fd, const void *buf, uint32_t len,
                         uint64_t file_pos, io_cb_t cb, void *cb_ctx)
{
    (void)arg;
    return io_submit_write(ring, fd, buf, len, file_pos, cb, cb_ctx);
}

static int default_sync(void *arg, io_ring_t *ring, int fd, bool datasync, io_cb_t cb, void *cb_ctx)
{
    (void)arg;
    if (datasync)
        return io_submit_fdatasync(ring, fd, cb, cb_ctx);
    struct io_uring_sqe *sqe = io_ring_sqe(ring, cb, cb_ctx, NULL);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_fsync(sqe, fd, 0);
    return 0;
}

int st_store_open(st_store_t **out, io_ring_t *ring, int shard_id)
{
    ASSERT(out && ring);
    st_store_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    /* Sizing: ST_MAX_PENDING_APPENDS_PER_SHARD records of sizeof(st_write_t). */
    s->pool = calloc(ST_MAX_PENDING_APPENDS_PER_SHARD, sizeof(*s->pool));
    if (!s->pool) {
        free(s);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < ST_MAX_PENDING_APPENDS_PER_SHARD; i++)
        s->pool[i].next = i + 1 < ST_MAX_PENDING_APPENDS_PER_SHARD ? &s->pool[i + 1] : NULL;
    s->free_writes = &s->pool[0];
    s->ring = ring;
    s->shard_id = shard_id;
    st_store_set_io_hooks(s, NULL);
    st_store_set_clock(s, NULL, NULL);
    s->retention_check_interval_ms = 300000; /* log.retention.check.interval.ms */
    s->last_retention_check_ms = INT64_MIN;
    s->next_retention_check_ms = INT64_MIN;
    s->flush_check_interval_ms = INT64_MAX;
    s->next_flush_check_ms = INT64_MIN;
    s->recovery_checkpoint_interval_ms = 60000; /* log.flush.offset.checkpoint.interval.ms */
    s->next_recovery_checkpoint_ms = INT64_MIN;
    *out = s;
    return 0;
}

void st_store_defer_close_sync(st_store_t *s)
{
    s->close_sync_deferred = true;
}

void st_store_note_fs(st_store_t *s, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        LOG_WARN("storage: %s: stat failed (%s)", dir, strerror(errno));
        return; /* its close then syncs per file (see log_close_clean) */
    }
    for (uint32_t i = 0; i < s->sync_fs_count; i++)
        if (s->sync_fs_dev[i] == st.st_dev)
            return;
    if (s->sync_fs_count == ST_MAX_SYNC_FS)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        LOG_WARN("storage: %s: open failed (%s)", dir, strerror(errno));
        return;
    }
    s->sync_fs_dev[s->sync_fs_count] = st.st_dev;
    s->sync_fs_fd[s->sync_fs_count++] = fd;
}

bool st_store_fs_noted(const st_store_t *s, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return false;
    for (uint32_t i = 0; i < s->sync_fs_count; i++)
        if (s->sync_fs_dev[i] == st.st_dev)
            return true;
    return false;
}

/* One syncfs per file system holding logs (deferred closes only): their data,
 * index trims, snapshots and directory entries become durable together, and a
 * writeback error since the file system's first log opened is reported. */
static void store_sync_closed(st_store_t *s)
{
    for (uint32_t i = 0; i < s->sync_fs_count; i++) {
        if (s->close_sync_deferred && syncfs(s->sync_fs_fd[i]) != 0) {
            LOG_ERROR("storage: syncfs failed (%s); the next start must recover",
                      strerror(errno));
            s->needs_recovery = true;
        }
        close(s->sync_fs_fd[i]);
    }
    s->sync_fs_count = 0;
}

bool st_store_close_clean(st_store_t *s)
{
    ASSERT(s);
    st_store_close_logs(s);
    bool clean = !s->needs_recovery;
    free(s->pool);
    free(s);
    return clean;
}

void st_store_close(st_store_t *s)
{
    if (!s)
        return;
    st_store_close_logs(s);
    free(s->pool);
    free(s);
}

/* Closes every open log, waits for the ones with I/O in flight, then runs the
 * deferred sync. */
static void st_store_close_logs(st_store_t *s)
{
    for (st_log_t *l = s->logs, *next; l; l = next) {
        next = l->store_next;
        if (l->state == ST_LOG_OPEN)
            st_log_close(l); /* may free l */
    }
    /* Logs closed with I/O in flight finish it; drive the ring until they are gone. */
    unsigned waits = 0;
    while (s->logs) {
        st_store_end_turn(s);
        if (!s->logs)
            break;
        int rc = io_ring_run_once(s->ring, 100 * 1000 * 1000LL);
        if (rc < 0 && rc != -EINTR) {
            LOG_ERROR("storage: ring failed (%d) while closing logs; leaking them", rc);
            break;
        }
        if (++waits % 100 == 0)
            LOG_WARN("storage: still waiting for I/O of closed logs (%u turns)", waits);
    }
    ASSERT(s->logs || s->writes_in_use == 0);
    store_sync_closed(s);
}

void st_store_end_turn(st_store_t *s)
{
    /* Take the list: work scheduled while processing runs at the next turn. */
    st_log_t *list = s->work;
    s->work = NULL;
    while (list) {
        st_log_t *l = list;
        list = l->work_next;
        l->work_next = NULL;
        l->on_work = false;
        st_log_do_work(l); /* may free l */
    }
    io_ring_submit(s->ring);
}

void st_store_tick(st_store_t *s, int64_t now_ms)
{
    if (now_ms >= s->next_retention_check_ms) {
        s->last_retention_check_ms = now_ms;
        s->next_retention_check_ms = now_ms + s->retention_check_interval_ms;
        s->stats.retention_checks++;
        /* enforce_retention never frees or unlinks a log: the walk is safe. */
        for (st_log_t *l = s->logs; l; l = l->store_next) {
            if (l->state == ST_LOG_OPEN) {
                (void)st_log_enforce_retention(l, now_ms, NULL);
                /* Kafka checks producer.id.expiration.ms every
                 * producer.id.expiration.check.interval.ms; we do it with retention. */
                s->stats.producers_expired +=
                    st_pstate_expire(&l->producers, now_ms, l->cfg.producer_id_expiration_ms);
            }
        }
    }
    if (now_ms >= s->next_recovery_checkpoint_ms) {
        s->next_recovery_checkpoint_ms = now_ms + s->recovery_checkpoint_interval_ms;
        for (st_log_t *l = s->logs; l; l = l->store_next) {
            if (l->state == ST_LOG_OPEN)
                (void)st_log_checkpoint_recovery_point(l);
        }
    }
    if (s->flush_check_interval_ms != INT64_MAX && now_ms >= s->next_flush_check_ms) {
        s->next_flush_check_ms = now_ms + s->flush_check_interval_ms;
        for (st_log_t *l = s->logs; l; l = l->store_next) {
            if (l->state == ST_LOG_OPEN)
                st_log_flush_if_due(l, now_ms);
        }
    }
}

void st_store_set_retention_check_interval_ms(st_store_t *s, int64_t interval_ms)
{
    ASSERT(interval_ms >= 1);
    s->retention_check_interval_ms = interval_ms;
    s->next_retention_check_ms = s->last_retention_check_ms == INT64_MIN
                                     ? INT64_MIN
                                     : s->last_retention_check_ms + interval_ms;
}

void st_store_set_recovery_checkpoint_interval_ms(st_store_t *s, int64_t interval_ms)
{
    ASSERT(interval_ms >= 1);
    s->recovery_checkpoint_interval_ms = interval_ms;
    if (s->next_recovery_checkpoint_ms != INT64_MIN)
        s->next_recovery_checkpoint_ms = INT64_MIN; /* at the next tick, then every interval */
}

io_ring_t *st_store_ring(const st_store_t *s)
{
    return s->ring;
}

int st_store_shard_id(const st_store_t *s)
{
    return s->shard_id;
}

const st_store_stats_t *st_store_stats(const st_store_t *s)
{
    return &s->stats;
}

bool st_store_needs_recovery(const st_store_t *s)
{
    return s->needs_recovery;
}

void st_store_set_io_hooks(st_store_t *s, const st_io_hooks_t *hooks)
{
    s->hooks.write = hooks && hooks->write ? hooks->write : default_write;
    s->hooks.sync = hooks && hooks->sync ? hooks->sync : default_sync;
    s->hooks.arg = hooks ? hooks->arg : NULL;
}

void st_store_set_clock(st_store_t *s, st_clock_fn_t now_ms, void *arg)
{
    s->clock = now_ms ? now_ms : default_clock;
    s->clock_arg = now_ms ? arg : NULL;
}

int64_t st_store_now_ms(const st_store_t *s)
{
    return s->clock(s->clock_arg);
}

/* --- internal ------------------------------------------------------------------------ */

st_write_t *st_store_write_get(st_store_t *s)
{
    st_write_t *w = s->free_writes;
    if (!w)
        return NULL;
    s->free_writes = w->next;
    s->writes_in_use++;
    memset(w, 0, sizeof(*w));
    return w;
}

void st_store_write_put(st_store_t *s, st_write_t *w)
{
    ASSERT(s->writes_in_use > 0);
    ASSERT(w >= s->pool && w < s->pool + ST_MAX_PENDING_APPENDS_PER_SHARD);
    w->log = NULL;
    w->buf = NULL;
    w->next = s->free_writes;
    s->free_writes = w;
    s->writes_in_use--;
}

uint32_t st_store_ring_free(const st_store_t *s)
{
    ASSERT(s->ring->pending_in_use <= s->ring->pending_cap);
    return s->ring->pending_cap - s->ring->pending_in_use;
}

int st_store_submit_write(st_store_t *s, int fd, const void *buf, uint32_t len, uint64_t pos,
                          io_cb_t cb, void *ctx)
{
    int rc = s->hooks.write(s->hooks.arg, s->ring, fd, buf, len, pos, cb, ctx);
    if (rc == 0)
        s->stats.writes_submitted++;
    return rc;
}

int st_store_submit_sync(st_store_t *s, int fd, bool datasync, io_cb_t cb, void *ctx)
{
    int rc = s->hooks.sync(s->hooks.arg, s->ring, fd, datasync, cb, ctx);
    if (rc == 0)
        s->stats.fdatasyncs++;
    return rc;
}

void st_store_note_flush_ms(st_store_t *s, int64_t flush_ms)
{
    if (flush_ms != INT64_MAX) {
        /* The check interval only shrinks (a closed log's smaller flush_ms keeps it
         * small: cheap, and simpler than recomputing). */
        int64_t iv = SL_MAX(SL_MIN(flush_ms, 1000), 1);
        if (iv < s->flush_check_interval_ms) {
            s->flush_check_interval_ms = iv;
            s->next_flush_check_ms = INT64_MIN;
        }
    }
}

void st_store_link_log(st_store_t *s, st_log_t *l)
{
    st_store_note_fs(s, l->dir);
    st_store_note_flush_ms(s, l->cfg.flush_ms);
    l->store = s;
    l->store_prev = NULL;
    l->store_next = s->logs;
    if (s->logs)
        s->logs->store_prev = l;
    s->logs = l;
}

void st_store_unlink_log(st_store_t *s, st_log_t *l)
{
    ASSERT(!l->on_work);
    if (l->store_prev)
        l->store_prev->store_next = l->store_next;
    else
        s->logs = l->store_next;
    if (l->store_next)
        l->store_next->store_prev = l->store_prev;
    l->store_prev = l->store_next = NULL;
}

void st_store_schedule(st_store_t *s, st_log_t *l)
{
    if (l->on_work)
        return;
    l->on_work = true;
    l->work_next = s->work;
    s->work = l;
}
