/* st_recover.c — loading a partition directory at open: listing and cleaning the
 * directory, recovering segments (CRC-checked re-read, index rebuild, truncation
 * at the first invalid byte, deletion of later segments) or trusting them after a
 * clean shutdown (index sanity checks, tail scan). Steps in st_log.h "Recovery". */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "kp_batch.h"
#include "st_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Reader buffer for a trusted open: only the tail after the last index entry is read. */
#define TRUSTED_READ_BYTES (64 * 1024)

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    return n >= m && memcmp(name + n - m, suffix, m) == 0;
}

/* "<20 digits><suffix>" -> base offset. */
static bool parse_segment_name(const char *name, const char *suffix, int64_t *base)
{
    size_t m = strlen(suffix);
    if (strlen(name) != ST_SEGMENT_NAME_DIGITS + m || !has_suffix(name, suffix))
        return false;
    int64_t v = 0;
    for (int i = 0; i < ST_SEGMENT_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        if (v > (INT64_MAX - (name[i] - '0')) / 10)
            return false;
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool bases_contain(const int64_t *bases, uint32_t n, int64_t v)
{
    return bsearch(&v, bases, n, sizeof(*bases), cmp_i64) != NULL;
}

/* Lists the segment base offsets (sorted) and deletes leftovers: temporary files
 * and index files whose .log is gone. */
static int list_segments(const char *dir, int64_t **bases_out, uint32_t *count_out)
{
    int64_t *bases = NULL;
    uint32_t n = 0, cap = 0;
    int err = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        int64_t base;
        if (has_suffix(name, ".tmp") || has_suffix(name, ".deleted") ||
            has_suffix(name, ".cleaned") || has_suffix(name, ".swap")) {
            /* .swap would be a compaction result; sluice does not compact yet, so it
             * cannot be ours to complete. */
            LOG_WARN("storage: %s: deleting leftover file %s", dir, name);
            if (unlinkat(dirfd(d), name, 0) != 0 && errno != ENOENT) {
                err = -errno;
                goto out_close_dir;
            }
            continue;
        }
        if (!parse_segment_name(name, ".log", &base))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *b = realloc(bases, cap * sizeof(*b));
            if (!b) {
                err = -ENOMEM;
                goto out_close_dir;
            }
            bases = b;
        }
        bases[n++] = base;
    }
    if (n > 0)
        qsort(bases, n, sizeof(*bases), cmp_i64);
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        int64_t base;
        if ((parse_segment_name(de->d_name, ".index", &base) ||
             parse_segment_name(de->d_name, ".timeindex", &base) ||
             parse_segment_name(de->d_name, ".txnindex", &base)) &&
            !bases_contain(bases, n, base)) {
            LOG_WARN("storage: %s: deleting orphaned index file %s", dir, de->d_name);
            unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    closedir(d);
    *bases_out = bases;
    *count_out = n;
    return 0;

out_close_dir:
    closedir(d);
    free(bases);
    return err;
}

/* Unlinks the files of a segment that was never opened (after a truncation). */
static void delete_segment_files(const char *dir, int64_t base)
{
    static const char *const suffixes[] = {".log", ".index", ".timeindex", ".txnindex"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(suffixes); i++) {
        char path[SL_MAX_PATH];
        int n = snprintf(path, sizeof(path), "%s/%020lld%s", dir, (long long)base, suffixes[i]);
        ASSERT(n > 0 && (size_t)n < sizeof(path));
        unlink(path);
    }
}

typedef struct scan_result {
    int64_t next_offset; /* offset after the last valid batch; -1 if none */
    int64_t batches;
    bool truncated;
} scan_result_t;

/* Walks the batches of seg from start_pos, feeding the index bookkeeping, and
 * truncates the .log at the first invalid byte. min_offset: the lowest base offset
 * the first batch may carry. Returns 0 or -errno (I/O failures are not corruption:
 * nothing is truncated for them). */
static int segment_scan(st_log_t *l, st_segment_t *seg, st_reader_t *rd, int64_t start_pos,
                        int64_t min_offset, bool verify_crc, scan_result_t *res)
{
    st_reader_reset(rd, seg->log_fd, seg->size);
    int64_t pos = start_pos;
    int64_t expect = SL_MAX(min_offset, seg->base_offset);
    const char *why = NULL;
    res->next_offset = -1;
    res->batches = 0;
    res->truncated = false;
    while (pos < seg->size) {
        const uint8_t *p;
        int64_t n = st_reader_peek(rd, pos, KP_BATCH_HEADER_BYTES, &p);
        if (n < 0)
            return (int)n;
        kp_batch_header_t h;
        int rc = kp_batch_parse_prefix(p, (size_t)n, &h);
        if (rc == SL_ERR_AGAIN) {
            why = "a torn batch header";
            break;
        }
        if (rc != 0) {
            why = "an invalid batch header";
            break;
        }
        int64_t total = kp_batch_total_size(&h);
        int64_t last = kp_batch_last_offset(&h);
        if (pos + total > seg->size) {
            why = "a torn batch";
            break;
        }
        if (pos > INT32_MAX || pos + total > ST_MAX_SEGMENT_BYTES) {
            why = "a batch past the largest segment size";
            break;
        }
        if (h.base_offset < expect) {
            why = "a batch whose offsets go backwards";
            break;
        }
        if (last - seg->base_offset > INT32_MAX) {
            why = "a batch whose offset does not fit the segment's index";
            break;
        }
        if (verify_crc) {
            n = st_reader_peek(rd, pos, (uint32_t)total, &p);
            if (n < 0)
                return (int)n;
            if (n < total) {
                why = "a torn batch";
                break;
            }
            if (kp_batch_verify_crc(p, &h) != 0) {
                why = "a CRC mismatch";
                break;
            }
        }
        st_segment_note_batch(seg, pos, (uint32_t)total, last, h.max_timestamp,
                              l->cfg.index_interval_bytes);
        expect = last + 1;
        res->next_offset = expect;
        res->batches++;
        pos += total;
    }
    if (pos < seg->size) {
        LOG_WARN("storage: %s.log: %s at byte %lld; truncating the segment from %lld to %lld "
                 "bytes (%lld bytes dropped)",
                 seg->path, why, (long long)pos, (long long)seg->size, (long long)pos,
                 (long long)(seg->size - pos));
        if (ftruncate(seg->log_fd, pos) != 0)
            return -errno;
        seg->size = pos;
        res->truncated = true;
    }
    seg->committed = seg->size;
    return 0;
}

/* Recreates both index files of seg from its batches (every batch re-read; CRCs
 * checked when verify_crc). The index files stay active (writable). */
static int segment_rebuild(st_log_t *l, st_segment_t *seg, st_reader_t *rd, int64_t min_offset,
                           bool verify_crc, scan_result_t *res)
{
    char path[SL_MAX_PATH];
    st_idxfile_close(&seg->oindex);
    st_idxfile_close(&seg->tindex);
    st_segment_file(seg, ".index", path, sizeof(path));
    int err = st_idxfile_create(&seg->oindex, path, ST_OINDEX_ENTRY_BYTES, l->index_max_bytes);
    if (err)
        return err;
    st_segment_file(seg, ".timeindex", path, sizeof(path));
    err = st_idxfile_create(&seg->tindex, path, ST_TINDEX_ENTRY_BYTES, l->index_max_bytes);
    if (err)
        return err;
    seg->sealed = false;
    seg->max_ts = -1;
    seg->max_ts_offset = seg->base_offset;
    seg->bytes_since_index = 0;
    seg->index_unsynced = true;
    return segment_scan(l, seg, rd, 0, min_offset, verify_crc, res);
}

/* Opens seg's index files as they are; SL_ERR_CORRUPT (or -ENOENT) when one is
 * missing or implausible. */
static int segment_open_indexes(st_log_t *l, st_segment_t *seg, bool writable)
{
    char path[SL_MAX_PATH];
    st_segment_file(seg, ".index", path, sizeof(path));
    int err =
        st_idxfile_open(&seg->oindex, path, ST_OINDEX_ENTRY_BYTES, l->index_max_bytes, writable);
    if (!err)
        err = st_oindex_check(&seg->oindex, seg->size);
    if (!err) {
        st_segment_file(seg, ".timeindex", path, sizeof(path));
        err = st_idxfile_open(&seg->tindex, path, ST_TINDEX_ENTRY_BYTES, l->index_max_bytes,
                              writable);
    }
    if (!err)
        err = st_tindex_check(&seg->tindex);
    if (!err && seg->tindex.entries > 0) {
        int64_t ts;
        int32_t rel;
        st_tindex_entry(&seg->tindex, seg->tindex.entries - 1, &ts, &rel);
        if (seg->base_offset + rel < seg->base_offset || (seg->size == 0 && rel != 0))
            err = SL_ERR_CORRUPT;
        seg->max_ts = ts;
        seg->max_ts_offset = seg->base_offset + rel;
    }
    if (err) {
        st_idxfile_close(&seg->oindex);
        st_idxfile_close(&seg->tindex);
        seg->max_ts = -1;
        seg->max_ts_offset = seg->base_offset;
    }
    return err;
}

/* After a clean shutdown: use the index files when plausible, else rebuild them from
 * batch headers. The last segment's batches after its last index entry are scanned
 * to find the log end. */
static int segment_load_trusted(st_log_t *l, st_segment_t *seg, st_reader_t *rd, bool last,
                                scan_result_t *res)
{
    int err = seg->size > ST_MAX_SEGMENT_BYTES ? SL_ERR_CORRUPT /* no index can describe it */
                                               : segment_open_indexes(l, seg, last);
    if (err == SL_ERR_CORRUPT || err == -ENOENT) {
        LOG_WARN("storage: %s: index files %s; rebuilding them from the log", seg->path,
                 err == -ENOENT ? "missing" : "implausible");
        err = segment_rebuild(l, seg, rd, seg->base_offset, false, res);
        if (err)
            return err;
        /* A truncated segment becomes the last one: its indexes stay active. */
        if (!last && !res->truncated)
            return st_segment_seal(seg, false);
        return 0;
    }
    if (err)
        return err;
    if (!last) {
        seg->sealed = true; /* loaded read-only: nothing to trim */
        res->next_offset = -1;
        res->batches = 0;
        res->truncated = false;
        return 0;
    }
    /* The batch at the last index entry and those after it. That batch must be the
     * one the entry names, or later entries could go backwards. */
    int64_t start = st_oindex_last_pos(&seg->oindex);
    if (seg->oindex.entries > 0) {
        int32_t rel, pos;
        st_oindex_entry(&seg->oindex, seg->oindex.entries - 1, &rel, &pos);
        kp_batch_header_t h;
        const uint8_t *p;
        st_reader_reset(rd, seg->log_fd, seg->size);
        int64_t n = st_reader_peek(rd, start, KP_BATCH_HEADER_BYTES, &p);
        if (n < 0)
            return (int)n;
        if (kp_batch_parse_prefix(p, (size_t)n, &h) != 0 ||
            kp_batch_last_offset(&h) != seg->base_offset + rel) {
            LOG_WARN("storage: %s: the last index entry does not name a batch; rebuilding "
                     "the index files from the log",
                     seg->path);
            return segment_rebuild(l, seg, rd, seg->base_offset, false, res);
        }
    }
    seg->bytes_since_index = 0;
    err = segment_scan(l, seg, rd, start, seg->base_offset, false, res);
    if (err || !res->truncated)
        return err;
    /* A torn tail after a clean shutdown (the marker lied, or the file was cut by
     * hand): index entries may name the dropped bytes. Rare: rebuild them. */
    return segment_rebuild(l, seg, rd, seg->base_offset, false, res);
}

int st_log_load(st_log_t *l, bool recover, int64_t recovery_point)
{
    ASSERT(l->seg_count == 0);
    int64_t *bases = NULL;
    uint32_t count = 0;
    int err = list_segments(l->dir, &bases, &count);
    if (err)
        return err;
    st_reader_t rd;
    err = st_reader_init(&rd, recover ? ST_RECOVERY_READ_BYTES : TRUSTED_READ_BYTES);
    if (err)
        goto out_free_bases;

    int64_t next_offset = 0; /* after the last valid batch so far */
    for (uint32_t i = 0; i < count; i++) {
        st_segment_t *seg;
        err = st_segment_open(l->dir, bases[i], &seg);
        if (err) {
            LOG_ERROR("storage: %s: cannot open segment %020lld (%d)", l->dir, (long long)bases[i],
                      err);
            goto out_drop_segments;
        }
        err = st_log_segs_push(l, seg);
        if (err) {
            st_segment_drop(seg);
            goto out_drop_segments;
        }
        bool last = i + 1 == count;
        /* A segment wholly below the recovery point was fully fdatasynced. */
        bool seg_recover = recover && (last || bases[i + 1] > recovery_point);
        scan_result_t res;
        if (seg_recover) {
            l->store->stats.segments_recovered++;
            err = segment_rebuild(l, seg, &rd, next_offset, true, &res);
            /* Its bytes may have been in the page cache only: make them durable
             * now, so the recovery point may move past them (one fdatasync per
             * re-read segment; start-up work, like the re-read itself). */
            if (!err && fdatasync(seg->log_fd) != 0)
                err = -errno;
            if (!err && !last && !res.truncated)
                err = st_segment_seal(seg, false);
        } else {
            err = segment_load_trusted(l, seg, &rd, last, &res);
        }
        if (err) {
            LOG_ERROR("storage: %s: loading segment %020lld failed (%d)", l->dir,
                      (long long)bases[i], err);
            goto out_drop_segments;
        }
        if (res.next_offset >= 0)
            next_offset = res.next_offset;
        else if (!seg_recover && !last)
            next_offset = bases[i + 1]; /* trusted: the next segment starts there */
        next_offset = SL_MAX(next_offset, seg->base_offset);
        if (res.truncated && !last) {
            /* Everything after the first invalid byte goes (Kafka's LogLoader). */
            for (uint32_t j = i + 1; j < count; j++) {
                LOG_WARN("storage: %s: deleting segment %020lld, which follows a truncation",
                         l->dir, (long long)bases[j]);
                delete_segment_files(l->dir, bases[j]);
            }
            l->dir_unsynced = true;
            break;
        }
    }
    if (l->seg_count == 0) {
        st_segment_t *seg;
        err = st_segment_create(l->dir, 0, l->index_max_bytes, &seg);
        if (err)
            goto out_drop_segments;
        err = st_log_segs_push(l, seg);
        if (err) {
            st_segment_unlink(seg);
            st_segment_drop(seg);
            goto out_drop_segments;
        }
        err = l->creating ? 0 : st_fsync_dir(l->dir); /* st_log_open syncs a new dir */
        if (err)
            goto out_drop_segments;
        next_offset = 0;
    }
    l->first_unsealed = l->seg_count - 1;
    l->leo = next_offset;
    st_reader_free(&rd);
    free(bases);
    return 0;

out_drop_segments:
    while (l->seg_count > 0)
        st_segment_drop(l->segs[--l->seg_count]);
    free(l->segs);
    l->segs = NULL;
    l->seg_cap = 0;
    st_reader_free(&rd);
out_free_bases:
    free(bases);
    return err;
}
