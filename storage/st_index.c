/* st_index.c — the .index and .timeindex files: preallocated, mmap'd, big-endian
 * entries (formats in st_log.h, states in st_segment.h). */
#include "sl_base.h"
#include "st_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

void st_idxfile_init_closed(st_idxfile_t *f, uint32_t entry_bytes)
{
    memset(f, 0, sizeof(*f));
    f->entry_bytes = entry_bytes;
}

static int map_file(st_idxfile_t *f, int fd, size_t bytes, bool writable)
{
    f->map = NULL;
    f->map_bytes = 0;
    if (bytes == 0)
        return 0;
    void *m =
        mmap(NULL, bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    f->map = m;
    f->map_bytes = bytes;
    return 0;
}

int st_idxfile_create(st_idxfile_t *f, const char *path, uint32_t entry_bytes, uint32_t max_bytes)
{
    ASSERT(entry_bytes == ST_OINDEX_ENTRY_BYTES || entry_bytes == ST_TINDEX_ENTRY_BYTES);
    st_idxfile_init_closed(f, entry_bytes);
    size_t bytes = (max_bytes / entry_bytes) * entry_bytes;
    ASSERT(bytes > 0);
    int err;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    /* A sparse preallocation: blocks are allocated as entries are written. */
    if (ftruncate(fd, (off_t)bytes) != 0) {
        err = -errno;
        goto out_close_fd;
    }
    err = map_file(f, fd, bytes, true);
    if (err)
        goto out_close_fd;
    close(fd); /* the mapping keeps the file */
    f->active = true;
    f->max_entries = (uint32_t)(bytes / entry_bytes);
    return 0;

out_close_fd:
    close(fd);
    unlink(path);
    st_idxfile_init_closed(f, entry_bytes);
    return err;
}

int st_idxfile_open(st_idxfile_t *f, const char *path, uint32_t entry_bytes, uint32_t max_bytes,
                    bool writable)
{
    ASSERT(entry_bytes == ST_OINDEX_ENTRY_BYTES || entry_bytes == ST_TINDEX_ENTRY_BYTES);
    st_idxfile_init_closed(f, entry_bytes);
    int err;
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err = -errno;
        goto out_close_fd;
    }
    size_t max = (max_bytes / entry_bytes) * entry_bytes;
    if (st.st_size % entry_bytes != 0 || (writable && (uint64_t)st.st_size > max)) {
        err = SL_ERR_CORRUPT;
        goto out_close_fd;
    }
    f->entries = (uint32_t)((uint64_t)st.st_size / entry_bytes);
    if (writable) {
        if (ftruncate(fd, (off_t)max) != 0) {
            err = -errno;
            goto out_close_fd;
        }
        err = map_file(f, fd, max, true);
        if (err)
            goto out_close_fd;
        f->active = true;
        f->max_entries = (uint32_t)(max / entry_bytes);
    } else {
        err = map_file(f, fd, (size_t)st.st_size, false);
        if (err)
            goto out_close_fd;
        f->max_entries = f->entries;
    }
    close(fd); /* the mapping is all we need */
    return 0;

out_close_fd:
    close(fd);
    st_idxfile_init_closed(f, entry_bytes);
    return err;
}

int st_idxfile_seal(st_idxfile_t *f, const char *path, bool sync)
{
    if (!f->active)
        return 0;
    f->active = false;
    int err = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)f->entries * f->entry_bytes) != 0)
        err = -errno;
    if (sync && fdatasync(fd) != 0 && !err)
        err = -errno;
    close(fd);
    /* The mapping may now extend past the end of the file; nothing reads there
     * (entries are fixed from now on), so it stays for lookups. */
    f->max_entries = f->entries;
    return err;
}

void st_idxfile_close(st_idxfile_t *f)
{
    if (f->map)
        munmap(f->map, f->map_bytes);
    st_idxfile_init_closed(f, f->entry_bytes);
}

/* --- offset index ----------------------------------------------------------------- */

void st_oindex_entry(const st_idxfile_t *f, uint32_t i, int32_t *rel_offset, int32_t *pos)
{
    ASSERT(f->entry_bytes == ST_OINDEX_ENTRY_BYTES && i < f->entries);
    const uint8_t *p = f->map + (size_t)i * ST_OINDEX_ENTRY_BYTES;
    *rel_offset = (int32_t)rd32(p);
    *pos = (int32_t)rd32(p + 4);
}

void st_oindex_append(st_idxfile_t *f, int32_t rel_offset, int32_t pos)
{
    ASSERT(f->entry_bytes == ST_OINDEX_ENTRY_BYTES);
    ASSERT(f->active && f->entries < f->max_entries);
    ASSERT(rel_offset >= 0 && pos >= 0);
    if (f->entries > 0) {
        int32_t last_rel, last_pos;
        st_oindex_entry(f, f->entries - 1, &last_rel, &last_pos);
        ASSERT(rel_offset > last_rel && pos > last_pos);
    }
    uint8_t *p = f->map + (size_t)f->entries * ST_OINDEX_ENTRY_BYTES;
    wr32(p, (uint32_t)rel_offset);
    wr32(p + 4, (uint32_t)pos);
    f->entries++;
}

int64_t st_oindex_lookup(const st_idxfile_t *f, int64_t rel_target)
{
    /* Binary search for the largest entry with relative offset <= rel_target. */
    uint32_t lo = 0, hi = f->entries; /* answer in [lo - 1, hi - 1] */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int32_t rel, pos;
        st_oindex_entry(f, mid, &rel, &pos);
        if (rel <= rel_target)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    int32_t rel, pos;
    st_oindex_entry(f, lo - 1, &rel, &pos);
    return pos;
}

int64_t st_oindex_last_pos(const st_idxfile_t *f)
{
    if (f->entries == 0)
        return 0;
    int32_t rel, pos;
    st_oindex_entry(f, f->entries - 1, &rel, &pos);
    return pos;
}

int st_oindex_check(const st_idxfile_t *f, int64_t log_bytes)
{
    int32_t prev_rel = -1, prev_pos = -1;
    for (uint32_t i = 0; i < f->entries; i++) {
        int32_t rel, pos;
        st_oindex_entry(f, i, &rel, &pos);
        if (rel <= prev_rel || pos <= prev_pos || (int64_t)pos >= log_bytes)
            return SL_ERR_CORRUPT;
        prev_rel = rel;
        prev_pos = pos;
    }
    return 0;
}

/* --- time index ------------------------------------------------------------------- */

void st_tindex_entry(const st_idxfile_t *f, uint32_t i, int64_t *ts, int32_t *rel_offset)
{
    ASSERT(f->entry_bytes == ST_TINDEX_ENTRY_BYTES && i < f->entries);
    const uint8_t *p = f->map + (size_t)i * ST_TINDEX_ENTRY_BYTES;
    *ts = (int64_t)((uint64_t)rd32(p) << 32 | rd32(p + 4));
    *rel_offset = (int32_t)rd32(p + 8);
}

void st_tindex_maybe_append(st_idxfile_t *f, int64_t ts, int32_t rel_offset)
{
    ASSERT(f->entry_bytes == ST_TINDEX_ENTRY_BYTES);
    if (!f->active || f->entries >= f->max_entries || rel_offset < 0)
        return;
    if (f->entries > 0) {
        int64_t last_ts;
        int32_t last_rel;
        st_tindex_entry(f, f->entries - 1, &last_ts, &last_rel);
        /* rel_offset < last_rel only with a damaged file loaded from disk: skip. */
        if (ts <= last_ts || rel_offset < last_rel)
            return;
    } else if (ts < 0) {
        return; /* no timestamp yet */
    }
    uint8_t *p = f->map + (size_t)f->entries * ST_TINDEX_ENTRY_BYTES;
    wr32(p, (uint32_t)((uint64_t)ts >> 32));
    wr32(p + 4, (uint32_t)ts);
    wr32(p + 8, (uint32_t)rel_offset);
    f->entries++;
}

int64_t st_tindex_lookup_below(const st_idxfile_t *f, int64_t ts)
{
    uint32_t lo = 0, hi = f->entries;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t t;
        int32_t rel;
        st_tindex_entry(f, mid, &t, &rel);
        if (t < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    int64_t t;
    int32_t rel;
    st_tindex_entry(f, lo - 1, &t, &rel);
    return rel;
}

int st_tindex_check(const st_idxfile_t *f)
{
    int64_t prev_ts = INT64_MIN;
    int32_t prev_rel = 0;
    for (uint32_t i = 0; i < f->entries; i++) {
        int64_t ts;
        int32_t rel;
        st_tindex_entry(f, i, &ts, &rel);
        if (ts < prev_ts || rel < prev_rel || rel < 0)
            return SL_ERR_CORRUPT;
        prev_ts = ts;
        prev_rel = rel;
    }
    return 0;
}
