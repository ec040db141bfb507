/* st_segment.c — segment files, refcount pinning, sealing and truncation
 * (st_segment.h). */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "st_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static st_segment_t *segment_alloc(const char *dir, int64_t base_offset)
{
    ASSERT(base_offset >= 0);
    char name[SL_MAX_PATH];
    int n = snprintf(name, sizeof(name), "%s/%020lld", dir, (long long)base_offset);
    if (n < 0 || (size_t)n + 16 >= sizeof(name))
        return NULL;
    st_segment_t *seg = calloc(1, sizeof(*seg) + (size_t)n + 1);
    if (!seg)
        return NULL;
    memcpy(seg->path, name, (size_t)n + 1);
    atomic_init(&seg->refs, 1);
    atomic_init(&seg->deleted, false);
    seg->log_fd = -1;
    seg->base_offset = base_offset;
    seg->max_ts = -1;
    seg->max_ts_offset = base_offset;
    seg->first_append_ms = -1;
    st_idxfile_init_closed(&seg->oindex, ST_OINDEX_ENTRY_BYTES);
    st_idxfile_init_closed(&seg->tindex, ST_TINDEX_ENTRY_BYTES);
    return seg;
}

void st_segment_file(const st_segment_t *seg, const char *suffix, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s%s", seg->path, suffix);
    ASSERT(n > 0 && (size_t)n < size);
}

int st_segment_create(const char *dir, int64_t base_offset, uint32_t index_max_bytes,
                      st_segment_t **out)
{
    char path[SL_MAX_PATH];
    int err;
    st_segment_t *seg = segment_alloc(dir, base_offset);
    if (!seg)
        return -ENOMEM;
    st_segment_file(seg, ".log", path, sizeof(path));
    seg->log_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (seg->log_fd < 0) {
        err = -errno;
        goto out_free;
    }
    st_segment_file(seg, ".index", path, sizeof(path));
    err = st_idxfile_create(&seg->oindex, path, ST_OINDEX_ENTRY_BYTES, index_max_bytes);
    if (err)
        goto out_unlink_log;
    st_segment_file(seg, ".timeindex", path, sizeof(path));
    err = st_idxfile_create(&seg->tindex, path, ST_TINDEX_ENTRY_BYTES, index_max_bytes);
    if (err)
        goto out_unlink_index;
    *out = seg;
    return 0;

out_unlink_index:
    st_idxfile_close(&seg->oindex);
    st_segment_file(seg, ".index", path, sizeof(path));
    unlink(path);
out_unlink_log:
    close(seg->log_fd);
    st_segment_file(seg, ".log", path, sizeof(path));
    unlink(path);
out_free:
    free(seg);
    return err;
}

int st_segment_open(const char *dir, int64_t base_offset, st_segment_t **out)
{
    char path[SL_MAX_PATH];
    int err;
    st_segment_t *seg = segment_alloc(dir, base_offset);
    if (!seg)
        return -ENOMEM;
    st_segment_file(seg, ".log", path, sizeof(path));
    seg->log_fd = open(path, O_RDWR | O_CLOEXEC);
    if (seg->log_fd < 0) {
        err = -errno;
        goto out_free;
    }
    struct stat st;
    if (fstat(seg->log_fd, &st) != 0) {
        err = -errno;
        goto out_close_fd;
    }
    seg->size = st.st_size;
    seg->committed = st.st_size;
    *out = seg;
    return 0;

out_close_fd:
    close(seg->log_fd);
out_free:
    free(seg);
    return err;
}

void st_segment_ref(st_segment_t *seg)
{
    int prev = atomic_fetch_add_explicit(&seg->refs, 1, memory_order_relaxed);
    ASSERT(prev > 0);
}

void st_segment_unref(st_segment_t *seg)
{
    /* acq_rel: whoever frees must see every other holder's last use. */
    int prev = atomic_fetch_sub_explicit(&seg->refs, 1, memory_order_acq_rel);
    ASSERT(prev > 0);
    if (prev > 1)
        return;
    if (seg->log_fd >= 0)
        close(seg->log_fd);
    free(seg);
}

void st_segment_drop(st_segment_t *seg)
{
    st_idxfile_close(&seg->oindex);
    st_idxfile_close(&seg->tindex);
    st_segment_unref(seg);
}

int st_segment_unlink(st_segment_t *seg)
{
    static const char *const suffixes[] = {".log", ".index", ".timeindex", ".txnindex"};
    char path[SL_MAX_PATH];
    int err = 0;
    for (size_t i = 0; i < SL_ARRAY_SIZE(suffixes); i++) {
        st_segment_file(seg, suffixes[i], path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT && !err)
            err = -errno;
    }
    atomic_store_explicit(&seg->deleted, true, memory_order_release);
    return err;
}

void st_segment_note_batch(st_segment_t *seg, int64_t pos, uint32_t len, int64_t last_offset,
                           int64_t max_timestamp, int32_t interval_bytes)
{
    ASSERT(last_offset >= seg->base_offset && last_offset - seg->base_offset <= INT32_MAX);
    ASSERT(pos >= 0 && pos <= INT32_MAX);
    if (max_timestamp > seg->max_ts) {
        seg->max_ts = max_timestamp;
        seg->max_ts_offset = last_offset;
    }
    if (seg->bytes_since_index > interval_bytes && seg->oindex.entries < seg->oindex.max_entries) {
        st_oindex_append(&seg->oindex, (int32_t)(last_offset - seg->base_offset), (int32_t)pos);
        st_tindex_maybe_append(&seg->tindex, seg->max_ts,
                               (int32_t)(seg->max_ts_offset - seg->base_offset));
        seg->bytes_since_index = 0;
    }
    seg->bytes_since_index += len;
}

bool st_segment_index_full(const st_segment_t *seg)
{
    return seg->oindex.entries >= seg->oindex.max_entries ||
           seg->tindex.entries >= seg->tindex.max_entries;
}

int st_segment_seal(st_segment_t *seg, bool sync)
{
    if (seg->sealed)
        return 0;
    /* Kafka appends the segment's max timestamp once more when it becomes inactive,
     * so the last entry of a time index always holds the segment's maximum. */
    st_tindex_maybe_append(&seg->tindex, seg->max_ts,
                           (int32_t)(seg->max_ts_offset - seg->base_offset));
    char path[SL_MAX_PATH];
    st_segment_file(seg, ".index", path, sizeof(path));
    int err = st_idxfile_seal(&seg->oindex, path, sync);
    st_segment_file(seg, ".timeindex", path, sizeof(path));
    int err2 = st_idxfile_seal(&seg->tindex, path, sync);
    seg->sealed = true;
    seg->index_unsynced = !sync || err || err2;
    return err ? err : err2;
}

int st_segment_truncate(st_segment_t *seg, int64_t pos, int64_t next_offset)
{
    ASSERT(!seg->sealed);
    ASSERT(pos >= 0 && pos <= seg->size);
    ASSERT(next_offset >= seg->base_offset);
    int err = 0;
    if (ftruncate(seg->log_fd, pos) != 0)
        err = -errno;
    seg->size = pos;
    seg->committed = SL_MIN(seg->committed, pos);
    /* Index entries are dropped by count; the stale bytes past the count are never
     * read and are overwritten by the next entries (or trimmed away at seal). */
    while (seg->oindex.entries > 0) {
        int32_t rel, p;
        st_oindex_entry(&seg->oindex, seg->oindex.entries - 1, &rel, &p);
        if ((int64_t)p < pos && seg->base_offset + rel < next_offset)
            break;
        seg->oindex.entries--;
    }
    seg->max_ts = -1;
    seg->max_ts_offset = seg->base_offset;
    while (seg->tindex.entries > 0) {
        int64_t ts;
        int32_t rel;
        st_tindex_entry(&seg->tindex, seg->tindex.entries - 1, &ts, &rel);
        if (seg->base_offset + rel < next_offset) {
            /* Like Kafka after a truncation: the max so far is what the time index
             * still says. */
            seg->max_ts = ts;
            seg->max_ts_offset = seg->base_offset + rel;
            break;
        }
        seg->tindex.entries--;
    }
    seg->bytes_since_index = pos - st_oindex_last_pos(&seg->oindex);
    return err;
}

void st_segment_check(const st_segment_t *seg)
{
    ASSERT(atomic_load_explicit(&seg->refs, memory_order_relaxed) > 0);
    ASSERT(seg->committed >= 0 && seg->committed <= seg->size);
    ASSERT(seg->size <= ST_MAX_SEGMENT_BYTES);
#ifndef NDEBUG
    if (seg->oindex.map)
        ASSERT(st_oindex_check(&seg->oindex, SL_MAX(seg->size, 1)) == 0);
    if (seg->tindex.map)
        ASSERT(st_tindex_check(&seg->tindex) == 0);
#endif
}
