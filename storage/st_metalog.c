/* st_metalog.c — the metadata log: replay at open, appends written and
 * group-fdatasynced through shard 0's ring (format and guarantees in st_metalog.h). */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "kp_crc32c.h"
#include "st_internal.h"
#include "st_metalog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define METALOG_MAGIC "SLUICEML"
#define METALOG_VERSION 1
#define METALOG_REPLAY_READ_BYTES (1024 * 1024)

_Static_assert(sizeof(METALOG_MAGIC) - 1 == 8, "magic is 8 bytes");

typedef struct ml_op {
    struct ml_op *next;
    st_metalog_t *m;
    uint32_t rec_len;
    uint32_t done_bytes;
    int64_t pos;
    st_metalog_cb_t cb;
    void *ctx;
    int32_t res;
    bool written;  /* the write completed (res says how) */
    uint8_t rec[]; /* header + payload, as written */
} ml_op_t;

struct st_metalog {
    int fd;
    char *path;
    int64_t end;     /* next write position */
    io_ring_t *ring; /* set by the first append */
    ml_op_t *head;   /* pending appends, in order */
    ml_op_t *tail;
    uint32_t pending;
    uint32_t writes_inflight;
    bool sync_inflight;
    ml_op_t *sync_last; /* the last op the sync in flight covers */
    int32_t fail_err;
};

static void ml_write_done(void *ctx, int32_t res, uint32_t cqe_flags);
static void ml_sync_done(void *ctx, int32_t res, uint32_t cqe_flags);

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void header_build(uint8_t h[ST_METALOG_HEADER_BYTES])
{
    memcpy(h, METALOG_MAGIC, 8);
    wr32(h + 8, METALOG_VERSION);
    wr32(h + 12, kp_crc32c(0, h, 12));
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, int64_t pos)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, pos);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        pos += n;
    }
    return 0;
}

/* A new (or torn-at-creation) file: write the header durably. */
static int metalog_init_file(st_metalog_t *m)
{
    uint8_t h[ST_METALOG_HEADER_BYTES];
    header_build(h);
    if (ftruncate(m->fd, 0) != 0)
        return -errno;
    int err = pwrite_all(m->fd, h, sizeof(h), 0);
    if (err)
        return err;
    if (fdatasync(m->fd) != 0)
        return -errno;
    m->end = ST_METALOG_HEADER_BYTES;
    return st_fsync_parent_dir(m->path);
}

/* Replays the records; truncates a torn or corrupt tail. */
static int metalog_replay(st_metalog_t *m, int64_t size, st_metalog_replay_cb cb, void *ctx)
{
    st_reader_t rd;
    int err = st_reader_init(&rd, METALOG_REPLAY_READ_BYTES);
    if (err)
        return err;
    st_reader_reset(&rd, m->fd, size);
    int64_t pos = ST_METALOG_HEADER_BYTES;
    const char *why = NULL;
    uint64_t records = 0;
    while (pos < size) {
        const uint8_t *p;
        int64_t n = st_reader_peek(&rd, pos, ST_METALOG_RECORD_OVERHEAD, &p);
        if (n < 0) {
            err = (int)n;
            goto out_free_reader;
        }
        if (n < ST_METALOG_RECORD_OVERHEAD) {
            why = "a torn record header";
            break;
        }
        uint32_t crc = rd32(p), len = rd32(p + 4);
        if (len > ST_METALOG_MAX_RECORD_BYTES) {
            why = "a record length over the limit";
            break;
        }
        uint32_t total = ST_METALOG_RECORD_OVERHEAD + len;
        n = st_reader_peek(&rd, pos, total, &p);
        if (n < 0) {
            err = (int)n;
            goto out_free_reader;
        }
        if (n < total) {
            why = "a torn record";
            break;
        }
        if (kp_crc32c(0, p + 4, total - 4) != crc) {
            why = "a CRC mismatch";
            break;
        }
        uint16_t type = (uint16_t)((uint16_t)p[8] << 8 | p[9]);
        err = cb(ctx, type, p + ST_METALOG_RECORD_OVERHEAD, len);
        if (err)
            goto out_free_reader;
        records++;
        pos += total;
    }
    if (pos < size) {
        LOG_WARN("storage: metadata log %s: %s at byte %lld after %llu records; truncating "
                 "%lld bytes",
                 m->path, why, (long long)pos, (unsigned long long)records,
                 (long long)(size - pos));
        if (ftruncate(m->fd, pos) != 0 || fdatasync(m->fd) != 0) {
            err = -errno;
            goto out_free_reader;
        }
    }
    m->end = pos;
    err = 0;

out_free_reader:
    st_reader_free(&rd);
    return err;
}

int st_metalog_open(const char *path, st_metalog_replay_cb cb, void *ctx, st_metalog_t **out)
{
    ASSERT(path && cb && out);
    int err;
    st_metalog_t *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->path = strdup(path);
    if (!m->path) {
        err = -ENOMEM;
        goto out_free;
    }
    m->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m->fd < 0) {
        err = -errno;
        goto out_free_path;
    }
    struct stat st;
    if (fstat(m->fd, &st) != 0) {
        err = -errno;
        goto out_close_fd;
    }
    if (st.st_size < ST_METALOG_HEADER_BYTES) {
        if (st.st_size > 0)
            LOG_WARN("storage: metadata log %s: torn file header (%lld bytes); starting empty",
                     path, (long long)st.st_size);
        err = metalog_init_file(m);
        if (err)
            goto out_close_fd;
    } else {
        uint8_t h[ST_METALOG_HEADER_BYTES], want[ST_METALOG_HEADER_BYTES];
        ssize_t n = pread(m->fd, h, sizeof(h), 0);
        if (n != (ssize_t)sizeof(h)) {
            err = n < 0 ? -errno : -EIO;
            goto out_close_fd;
        }
        header_build(want);
        if (memcmp(h, want, sizeof(h)) != 0) {
            LOG_ERROR("storage: %s is not a sluice metadata log (bad magic, version or "
                      "header CRC); leaving it untouched",
                      path);
            err = SL_ERR_CORRUPT;
            goto out_close_fd;
        }
        err = metalog_replay(m, st.st_size, cb, ctx);
        if (err)
            goto out_close_fd;
    }
    *out = m;
    return 0;

out_close_fd:
    close(m->fd);
out_free_path:
    free(m->path);
out_free:
    free(m);
    return err;
}

int64_t st_metalog_size(const st_metalog_t *m)
{
    return m->end;
}

/* --- appends ------------------------------------------------------------------------ */

/* Issues one fdatasync covering the longest prefix of written appends, if none is in
 * flight. Called where a ring slot was just freed (completions) and at append. */
static void ml_maybe_sync(st_metalog_t *m)
{
    if (m->sync_inflight || m->fail_err || !m->ring)
        return;
    ml_op_t *last = NULL;
    for (ml_op_t *op = m->head; op && op->written && op->res == 0; op = op->next)
        last = op;
    if (!last)
        return;
    if (io_submit_fdatasync(m->ring, m->fd, ml_sync_done, m) != 0)
        return; /* ring full: the next completion or append retries */
    m->sync_inflight = true;
    m->sync_last = last;
}

/* After a failure: appends whose write has completed get the error, in order. */
static void ml_deliver_failed(st_metalog_t *m)
{
    ml_op_t *op;
    while (m->fail_err && !m->sync_inflight && (op = m->head) != NULL && op->written) {
        m->head = op->next;
        if (!m->head)
            m->tail = NULL;
        m->pending--;
        st_metalog_cb_t cb = op->cb;
        void *ctx = op->ctx;
        free(op);
        cb(ctx, m->fail_err);
    }
}

static int ml_submit(st_metalog_t *m, ml_op_t *op)
{
    return io_submit_write(m->ring, m->fd, op->rec + op->done_bytes, op->rec_len - op->done_bytes,
                           (uint64_t)(op->pos + op->done_bytes), ml_write_done, op);
}

int st_metalog_append(st_metalog_t *m, io_ring_t *ring, uint16_t type, const void *payload,
                      uint32_t len, st_metalog_cb_t cb, void *ctx)
{
    ASSERT(m && ring && cb && (payload || len == 0));
    ASSERT(!m->ring || m->ring == ring);
    m->ring = ring;
    if (m->fail_err)
        return m->fail_err;
    if (len > ST_METALOG_MAX_RECORD_BYTES)
        return SL_ERR_LIMIT;
    if (m->pending >= ST_METALOG_MAX_PENDING || ring->pending_in_use >= ring->pending_cap)
        return -EBUSY;
    uint32_t total = ST_METALOG_RECORD_OVERHEAD + len;
    ml_op_t *op = malloc(sizeof(*op) + total);
    if (!op)
        return -ENOMEM;
    memset(op, 0, sizeof(*op));
    op->m = m;
    op->rec_len = total;
    op->pos = m->end;
    op->cb = cb;
    op->ctx = ctx;
    wr32(op->rec + 4, len);
    op->rec[8] = (uint8_t)(type >> 8);
    op->rec[9] = (uint8_t)type;
    if (len)
        memcpy(op->rec + ST_METALOG_RECORD_OVERHEAD, payload, len);
    wr32(op->rec, kp_crc32c(0, op->rec + 4, total - 4));

    int rc = ml_submit(m, op);
    if (rc != 0) {
        free(op);
        return rc;
    }
    m->end += total;
    m->pending++;
    m->writes_inflight++;
    if (m->tail)
        m->tail->next = op;
    else
        m->head = op;
    m->tail = op;
    return 0;
}

static void ml_write_done(void *ctx, int32_t res, uint32_t cqe_flags)
{
    (void)cqe_flags;
    ml_op_t *op = ctx;
    st_metalog_t *m = op->m;
    if (res > 0 && (uint32_t)res < op->rec_len - op->done_bytes) {
        op->done_bytes += (uint32_t)res; /* short write: the rest, in our freed slot */
        int rc = ml_submit(m, op);
        if (rc == 0)
            return;
        res = rc;
    } else if (res == 0) {
        res = -EIO;
    }
    op->written = true;
    m->writes_inflight--;
    if (res < 0) {
        op->res = res;
        if (!m->fail_err) {
            m->fail_err = res;
            LOG_ERROR("storage: metadata log %s: write at %lld failed (%d); appends refused "
                      "until reopened",
                      m->path, (long long)op->pos, res);
        }
        ml_deliver_failed(m);
        return;
    }
    ml_maybe_sync(m);
}

static void ml_sync_done(void *ctx, int32_t res, uint32_t cqe_flags)
{
    (void)cqe_flags;
    st_metalog_t *m = ctx;
    ASSERT(m->sync_inflight && m->sync_last);
    /* Detach what this sync covered, start the next sync (our slot was just freed),
     * then run the callbacks, which may append. */
    ml_op_t *done = m->head, *last = m->sync_last;
    m->head = last->next;
    if (!m->head)
        m->tail = NULL;
    last->next = NULL;
    m->sync_inflight = false;
    m->sync_last = NULL;
    if (res < 0 && !m->fail_err) {
        m->fail_err = res;
        LOG_ERROR("storage: metadata log %s: fdatasync failed (%d); appends refused until "
                  "reopened",
                  m->path, res);
    }
    ml_maybe_sync(m);
    while (done) {
        ml_op_t *next = done->next;
        st_metalog_cb_t cb = done->cb;
        void *cctx = done->ctx;
        m->pending--;
        free(done);
        cb(cctx, res < 0 ? res : 0);
        done = next;
    }
    ml_deliver_failed(m);
}

void st_metalog_close(st_metalog_t *m)
{
    if (!m)
        return;
    while (m->head) {
        ASSERT(m->ring);
        ml_maybe_sync(m);
        int rc = io_ring_run_once(m->ring, 100 * 1000 * 1000LL);
        if (rc < 0 && rc != -EINTR) {
            LOG_ERROR("storage: metadata log %s: ring failed (%d) while closing", m->path, rc);
            break;
        }
    }
    close(m->fd);
    free(m->path);
    free(m);
}
