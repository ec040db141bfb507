/* st_psnap.c — producer-state snapshots (<offset>.snapshot, Kafka's format) and the
 * rebuild of a log's producer state at open. Format and rules in st_producer.h
 * ("Snapshots"); the append-side rules are in st_producer.c. */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "kp_batch.h"
#include "kp_crc32c.h"
#include "st_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PSNAP_VERSION 1
#define PSNAP_HEADER_BYTES 10 /* version 2, crc 4, entry count 4 */
#define PSNAP_ENTRY_BYTES 46
#define PSNAP_SUFFIX ".snapshot"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint64_t get64(const uint8_t *p)
{
    return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

/* Parses "<20 digits>.snapshot"; -1 if the name is not a snapshot. */
static int64_t psnap_name_offset(const char *name)
{
    size_t n = strlen(name);
    if (n != 20 + strlen(PSNAP_SUFFIX) || strcmp(name + 20, PSNAP_SUFFIX) != 0)
        return -1;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted offsets of the snapshot files in dir (caller frees *out). 0 or -errno. */
static int psnap_list(const char *dir, int64_t **out, uint32_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    uint32_t cap = 0;
    struct dirent *de;
    int err = 0;
    while ((de = readdir(d)) != NULL) {
        int64_t off = psnap_name_offset(de->d_name);
        if (off < 0)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            int64_t *v = realloc(*out, cap * sizeof(*v));
            if (!v) {
                err = -ENOMEM;
                break;
            }
            *out = v;
        }
        (*out)[(*count)++] = off;
    }
    closedir(d);
    if (err) {
        free(*out);
        *out = NULL;
        *count = 0;
        return err;
    }
    if (*count)
        qsort(*out, *count, sizeof(**out), cmp_i64);
    return 0;
}

static void psnap_path(const char *dir, int64_t offset, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%020lld" PSNAP_SUFFIX, dir, (long long)offset);
}

static void psnap_unlink(const char *dir, int64_t offset)
{
    char path[SL_MAX_PATH];
    psnap_path(dir, offset, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        LOG_WARN("storage: %s: cannot delete the producer snapshot (%d)", path, -errno);
}

int st_psnap_write(st_log_t *l, int64_t offset, bool sync)
{
    const st_pstate_t *m = &l->producers;
    size_t bytes = PSNAP_HEADER_BYTES + (size_t)m->count * PSNAP_ENTRY_BYTES;
    uint8_t *buf = malloc(bytes);
    if (!buf)
        return -ENOMEM;
    uint32_t n = 0;
    uint8_t *p = buf + PSNAP_HEADER_BYTES;
    for (uint32_t i = 0; i < m->count; i++) {
        const st_producer_t *e = &m->v[i];
        if (e->batch_count == 0)
            continue;
        const st_producer_batch_t *b = &e->batches[e->batch_count - 1];
        put64(p, (uint64_t)e->producer_id);
        put16(p + 8, (uint16_t)e->epoch);
        put32(p + 10, (uint32_t)b->last_seq);
        put64(p + 14, (uint64_t)b->last_offset);
        put32(p + 22, (uint32_t)(b->last_offset - b->first_offset));
        put64(p + 26, (uint64_t)b->max_timestamp);
        put32(p + 34, (uint32_t)-1); /* coordinatorEpoch */
        put64(p + 38, (uint64_t)-1); /* currentTxnFirstOffset */
        p += PSNAP_ENTRY_BYTES;
        n++;
    }
    bytes = PSNAP_HEADER_BYTES + (size_t)n * PSNAP_ENTRY_BYTES;
    put16(buf, PSNAP_VERSION);
    put32(buf + 6, n);
    put32(buf + 2, kp_crc32c(0, buf + 6, bytes - 6));

    char path[SL_MAX_PATH], tmp[SL_MAX_PATH + 8];
    psnap_path(l->dir, offset, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int err = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = -errno;
        goto out_free;
    }
    size_t done = 0;
    while (done < bytes) {
        ssize_t w = write(fd, buf + done, bytes - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = w < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)w;
    }
    if (!err && sync && fdatasync(fd) != 0)
        err = -errno;
    close(fd);
    if (!err && rename(tmp, path) != 0)
        err = -errno;
    if (err) {
        unlink(tmp);
        goto out_free;
    }
    if (sync)
        err = st_fsync_dir(l->dir);
    else
        l->dir_unsynced = true; /* the next group commit fsyncs the directory */
    l->store->stats.producer_snapshots++;
    /* Keep the newest two (no directory listing on the append path). */
    if (l->snaps[1] != offset) {
        if (l->snaps[0] >= 0 && l->snaps[0] != offset)
            psnap_unlink(l->dir, l->snaps[0]);
        l->snaps[0] = l->snaps[1];
        l->snaps[1] = offset;
    }
out_free:
    free(buf);
    if (err)
        LOG_WARN("storage: %s: cannot write the producer snapshot at %lld (%d)", l->dir,
                 (long long)offset, err);
    return err;
}

/* Loads <offset>.snapshot into m (emptied first). 0, SL_ERR_CORRUPT or -errno. */
static int psnap_read(const char *dir, int64_t offset, st_pstate_t *m, int64_t now_ms)
{
    char path[SL_MAX_PATH];
    psnap_path(dir, offset, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int err = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0) {
        err = -errno;
        goto out_close;
    }
    if (st.st_size < PSNAP_HEADER_BYTES ||
        st.st_size >
            PSNAP_HEADER_BYTES + (int64_t)ST_MAX_PRODUCERS_PER_PARTITION * 4 * PSNAP_ENTRY_BYTES) {
        err = SL_ERR_CORRUPT;
        goto out_close;
    }
    buf = malloc((size_t)st.st_size);
    if (!buf) {
        err = -ENOMEM;
        goto out_close;
    }
    ssize_t r = pread(fd, buf, (size_t)st.st_size, 0);
    if (r != st.st_size) {
        err = r < 0 ? -errno : SL_ERR_CORRUPT;
        goto out_free;
    }
    uint32_t n = get32(buf + 6);
    if (get16(buf) != PSNAP_VERSION ||
        (int64_t)n * PSNAP_ENTRY_BYTES + PSNAP_HEADER_BYTES != st.st_size ||
        get32(buf + 2) != kp_crc32c(0, buf + 6, (size_t)st.st_size - 6)) {
        err = SL_ERR_CORRUPT;
        goto out_free;
    }
    st_pstate_clear(m);
    const uint8_t *p = buf + PSNAP_HEADER_BYTES;
    for (uint32_t i = 0; i < n && !err; i++, p += PSNAP_ENTRY_BYTES) {
        st_producer_t e;
        memset(&e, 0, sizeof(e));
        e.producer_id = (int64_t)get64(p);
        e.epoch = (int16_t)get16(p + 8);
        int32_t last_seq = (int32_t)get32(p + 10);
        int64_t last_off = (int64_t)get64(p + 14);
        int32_t delta = (int32_t)get32(p + 22);
        if (e.producer_id < 0 || delta < 0 || last_off < delta || last_off >= offset) {
            err = SL_ERR_CORRUPT;
            break;
        }
        st_producer_batch_t *b = &e.batches[0];
        /* Kafka's ProducerStateEntry: firstSeq = lastSeq - offsetDelta (wrapping). */
        int64_t first_seq = (int64_t)last_seq - delta;
        if (first_seq < 0)
            first_seq += (int64_t)INT32_MAX + 1;
        b->first_seq = (int32_t)first_seq;
        b->last_seq = last_seq;
        b->last_offset = last_off;
        b->first_offset = last_off - delta;
        b->max_timestamp = (int64_t)get64(p + 26);
        e.batch_count = 1;
        e.last_append_ms = now_ms; /* not in the format: expiry counts from the open */
        err = st_pstate_put(m, &e);
    }
    if (err)
        st_pstate_clear(m);
out_free:
    free(buf);
out_close:
    close(fd);
    return err;
}

/* Index of the last segment whose base offset is <= offset (0 if none). */
static uint32_t seg_for(const st_log_t *l, int64_t offset)
{
    uint32_t i = 0;
    while (i + 1 < l->seg_count && l->segs[i + 1]->base_offset <= offset)
        i++;
    return i;
}

/* Records every producer batch with offsets >= from, up to the log end. */
static int psnap_replay(st_log_t *l, int64_t from, int64_t now_ms, uint64_t *batches)
{
    st_reader_t r;
    int err = st_reader_init(&r, 64 * 1024);
    if (err)
        return err;
    for (uint32_t i = seg_for(l, from); i < l->seg_count && !err; i++) {
        st_segment_t *seg = l->segs[i];
        int64_t pos = 0;
        if (from > seg->base_offset && !seg->sealed)
            pos = st_oindex_lookup(&seg->oindex, from - seg->base_offset);
        st_reader_reset(&r, seg->log_fd, seg->size);
        while (pos < seg->size) {
            const uint8_t *p;
            int64_t got = st_reader_peek(&r, pos, KP_BATCH_HEADER_BYTES, &p);
            if (got < 0) {
                err = (int)got;
                break;
            }
            kp_batch_header_t h;
            if (got < KP_BATCH_HEADER_BYTES ||
                kp_batch_parse_prefix(p, KP_BATCH_HEADER_BYTES, &h) != 0) {
                err = SL_ERR_CORRUPT;
                break;
            }
            int64_t last = kp_batch_last_offset(&h);
            if (last >= from && kp_batch_has_producer_id(&h) && !kp_batch_is_control(&h)) {
                st_producer_batch_t b = {
                    .first_seq = h.base_sequence,
                    .last_seq = st_pstate_last_seq(h.base_sequence, h.last_offset_delta),
                    .first_offset = h.base_offset,
                    .last_offset = last,
                    .max_timestamp = h.max_timestamp,
                };
                err = st_pstate_record(&l->producers, h.producer_id, h.producer_epoch, &b, now_ms);
                if (err)
                    break;
                (*batches)++;
            }
            pos += kp_batch_total_size(&h);
        }
    }
    st_reader_free(&r);
    return err;
}

void st_log_load_producers(st_log_t *l, int64_t bound)
{
    int64_t now_ms = st_store_now_ms(l->store);
    st_pstate_clear(&l->producers);
    bound = SL_MIN(bound, l->leo);
    int64_t *offs = NULL;
    uint32_t cnt = 0;
    int err = psnap_list(l->dir, &offs, &cnt);
    if (err)
        LOG_WARN("storage: %s: cannot list producer snapshots (%d)", l->dir, err);
    int64_t from = -1;
    bool tried = false;
    l->snaps[0] = l->snaps[1] = -1;
    uint32_t kept = 0;
    for (uint32_t k = cnt; k-- > 0;) {
        /* Past LEO: describes offsets the log no longer has. Beyond the newest two
         * below it: stale. */
        if (offs[k] > l->leo || kept == 2) {
            psnap_unlink(l->dir, offs[k]);
            continue;
        }
        if (offs[k] <= bound && !tried) {
            tried = true; /* only the newest at or below bound is tried (st_producer.h) */
            err = psnap_read(l->dir, offs[k], &l->producers, now_ms);
            if (err) {
                LOG_WARN("storage: %s/%020lld.snapshot: unreadable producer snapshot (%d); "
                         "deleted, rebuilding the producer state from the log start",
                         l->dir, (long long)offs[k], err);
                psnap_unlink(l->dir, offs[k]);
                continue;
            }
            from = offs[k];
        }
        l->snaps[1 - kept++] = offs[k]; /* newest first: snaps[1], then snaps[0] */
    }
    free(offs);
    if (from < 0) {
        st_pstate_clear(&l->producers);
        from = l->segs[0]->base_offset;
        if (l->leo > from)
            LOG_INFO("storage: %s: no usable producer snapshot; replaying from %lld", l->dir,
                     (long long)from);
    }
    uint64_t batches = 0;
    if (from < l->leo)
        err = psnap_replay(l, from, now_ms, &batches);
    else
        err = 0;
    if (err)
        LOG_WARN("storage: %s: producer state replay stopped (%d); duplicates of older "
                 "batches may not be detected",
                 l->dir, err);
    l->pstate_loaded_from = from;
    l->pstate_replayed_batches = batches;
}

void st_psnap_truncate(st_log_t *l, int64_t end)
{
    for (int i = 1; i >= 0; i--) {
        if (l->snaps[i] > end) {
            psnap_unlink(l->dir, l->snaps[i]);
            l->snaps[i] = -1;
        }
    }
    if (l->snaps[1] < 0) {
        l->snaps[1] = l->snaps[0];
        l->snaps[0] = -1;
    }
}
