/* st_read.c — fetch positioning (st_log_read), slice pinning, and the
 * timestamp lookup for ListOffsets. Batch headers are read with pread(2) from the
 * page cache (st_log.h says so); everything else is memory. */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "kp_batch.h"
#include "st_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* One pread brings in this many bytes of headers: with the default 4 KiB index
 * interval a lookup usually needs one or two. */
#define HDR_SCAN_CHUNK_BYTES 8192

typedef struct hdr_scan {
    st_log_t *log;
    st_segment_t *seg;
    int64_t pos;
    int64_t limit; /* committed bytes: whole batches only */
    int64_t buf_pos;
    int64_t buf_len;
    uint8_t buf[HDR_SCAN_CHUNK_BYTES];
} hdr_scan_t;

static void hdr_scan_init(hdr_scan_t *sc, st_log_t *l, st_segment_t *seg, int64_t start)
{
    sc->log = l;
    sc->seg = seg;
    sc->pos = start;
    sc->limit = seg->committed;
    sc->buf_pos = -1;
    sc->buf_len = 0;
}

static int scan_corrupt(const hdr_scan_t *sc, const char *why)
{
    LOG_WARN("storage: %s.log: %s at byte %lld (below the high watermark)", sc->seg->path, why,
             (long long)sc->pos);
    return SL_ERR_CORRUPT;
}

/* Returns 1 with the header of the batch at *pos (and moves past it), 0 at the end
 * of the committed bytes, SL_ERR_CORRUPT or -errno. */
static int hdr_scan_next(hdr_scan_t *sc, kp_batch_header_t *h, int64_t *pos)
{
    if (sc->pos >= sc->limit)
        return 0;
    if (sc->limit - sc->pos < KP_BATCH_HEADER_BYTES)
        return scan_corrupt(sc, "a partial batch");
    if (sc->pos < sc->buf_pos || sc->pos + KP_BATCH_HEADER_BYTES > sc->buf_pos + sc->buf_len) {
        size_t want = (size_t)SL_MIN((int64_t)sizeof(sc->buf), sc->limit - sc->pos);
        ssize_t n;
        do {
            n = pread(sc->seg->log_fd, sc->buf, want, sc->pos);
        } while (n < 0 && errno == EINTR);
        sc->log->store->stats.read_header_preads++;
        if (n < 0)
            return -errno;
        if (n < KP_BATCH_HEADER_BYTES)
            return scan_corrupt(sc, "a file shorter than its committed size");
        sc->buf_pos = sc->pos;
        sc->buf_len = n;
    }
    if (kp_batch_parse_prefix(sc->buf + (sc->pos - sc->buf_pos), KP_BATCH_HEADER_BYTES, h) != 0)
        return scan_corrupt(sc, "an invalid batch header");
    int64_t total = kp_batch_total_size(h);
    if (sc->pos + total > sc->limit)
        return scan_corrupt(sc, "a batch running past the committed bytes");
    *pos = sc->pos;
    sc->pos += total;
    return 1;
}

/* Index of the last segment whose base offset is <= offset (offset >= start). */
static uint32_t seg_index_for(const st_log_t *l, int64_t offset)
{
    uint32_t lo = 0, hi = l->seg_count;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (l->segs[mid]->base_offset <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Newest first: the batch of the active segment holding target, if cached. */
static bool recent_find(const st_log_t *l, int64_t target, int64_t *pos, uint32_t *size)
{
    int64_t seg_base = st_log_active(l)->base_offset;
    for (uint32_t k = 0; k < l->recent_count; k++) {
        uint32_t i =
            (l->recent_next + ST_RECENT_BATCHES_PER_LOG - 1 - k) % ST_RECENT_BATCHES_PER_LOG;
        const st_recent_batch_t *r = &l->recent[i];
        int64_t base = seg_base + r->rel_base_offset;
        if (base <= target) {
            if (target > base + (int64_t)r->last_offset_delta)
                return false;
            *pos = r->pos;
            *size = r->size;
            return true;
        }
    }
    return false;
}

/* Finds the batch holding `offset` in seg. 0, SL_ERR_RANGE (not in seg), else error. */
static int locate(st_log_t *l, st_segment_t *seg, int64_t offset, int64_t *pos_out,
                  uint32_t *size_out)
{
    if (seg == st_log_active(l) && recent_find(l, offset, pos_out, size_out)) {
        l->store->stats.read_cache_hits++;
        return 0;
    }
    int64_t start = 0;
    if (offset >= seg->base_offset)
        start = st_oindex_lookup(&seg->oindex, offset - seg->base_offset);
    hdr_scan_t sc; /* 8 KiB on the shard's stack: no allocation per fetch */
    hdr_scan_init(&sc, l, seg, start);
    kp_batch_header_t h;
    int64_t pos;
    int rc;
    while ((rc = hdr_scan_next(&sc, &h, &pos)) == 1) {
        if (kp_batch_last_offset(&h) >= offset) {
            *pos_out = pos;
            *size_out = kp_batch_total_size(&h);
            break;
        }
    }
    if (rc == 1)
        return 0;
    return rc == 0 ? SL_ERR_RANGE : rc;
}

int st_log_read(st_log_t *l, int64_t offset, uint32_t max_bytes, st_slice_t *out)
{
    ASSERT(l && out && l->state == ST_LOG_OPEN);
    out->fd = -1;
    out->file_pos = 0;
    out->len = 0;
    out->seg = NULL;
    l->store->stats.reads++;
    if (offset < l->start_offset || offset > l->hwm)
        return SL_ERR_RANGE;
    if (offset == l->hwm)
        return 0;
    for (uint32_t i = seg_index_for(l, offset); i < l->seg_count; i++) {
        st_segment_t *seg = l->segs[i];
        int64_t pos;
        uint32_t size;
        int rc = locate(l, seg, offset, &pos, &size);
        if (rc == SL_ERR_RANGE)
            continue; /* an offset gap at the end of seg: the next segment serves it */
        if (rc != 0)
            return rc;
        /* KIP-74: at least the whole first batch, which is committed (offset < HWM). */
        int64_t end = pos + SL_MAX((int64_t)max_bytes, (int64_t)size);
        end = SL_MIN(end, seg->committed);
        ASSERT(end >= pos + size);
        st_segment_ref(seg);
        out->fd = seg->log_fd;
        out->file_pos = pos;
        out->len = (uint32_t)(end - pos);
        out->seg = seg;
        return 0;
    }
    LOG_WARN("storage: %s: offset %lld, below the high watermark %lld, is in no batch", l->dir,
             (long long)offset, (long long)l->hwm);
    return SL_ERR_CORRUPT;
}

void st_slice_release(st_slice_t *s)
{
    if (s->seg)
        st_segment_unref(s->seg);
    s->seg = NULL;
    s->fd = -1;
    s->len = 0;
    s->file_pos = 0;
}

/* --- ListOffsets by timestamp ------------------------------------------------------------ */

/* The first record of the batch at pos with timestamp >= ts and offset >= min_offset
 * (the log start offset), reading the batch. */
static int batch_find_timestamp(st_segment_t *seg, int64_t pos, const kp_batch_header_t *h,
                                int64_t ts, int64_t min_offset, bool compressed_last,
                                int64_t *offset_out, int64_t *ts_out)
{
    uint32_t total = kp_batch_total_size(h);
    uint8_t *b = malloc(total);
    if (!b)
        return -ENOMEM;
    int rc = 0;
    uint32_t got = 0;
    while (got < total) {
        ssize_t n = pread(seg->log_fd, b + got, total - got, pos + got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : SL_ERR_CORRUPT;
            goto out_free;
        }
        got += (uint32_t)n;
    }
    kp_batch_header_t hh;
    if (kp_batch_parse_header(b, total, &hh) != 0) {
        rc = SL_ERR_CORRUPT;
        goto out_free;
    }
    kp_record_iter_t it;
    kp_record_t r;
    rc = kp_record_iter_init(&it, b, &hh);
    if (rc == -ENOTSUP) {
        /* Compressed: no decompression yet; the batch is the best answer we have. */
        *offset_out = compressed_last ? kp_batch_last_offset(&hh)
                                      : SL_MAX(hh.base_offset, min_offset);
        *ts_out = hh.max_timestamp;
        rc = 0;
        goto out_free;
    }
    while ((rc = kp_record_iter_next(&it, &r)) == 1) {
        if (r.timestamp >= ts && r.offset >= min_offset) {
            *offset_out = r.offset;
            *ts_out = r.timestamp;
            rc = 0;
            goto out_free;
        }
    }
    rc = rc == 0 ? SL_ERR_RANGE : rc; /* maxTimestamp lied: keep looking */

out_free:
    free(b);
    return rc;
}

int st_log_offset_for_timestamp(st_log_t *l, int64_t ts, int64_t *offset_out,
                                int64_t *timestamp_out)
{
    ASSERT(l && offset_out && timestamp_out && l->state == ST_LOG_OPEN);
    *offset_out = -1;
    *timestamp_out = -1;
    for (uint32_t i = 0; i < l->seg_count; i++) {
        st_segment_t *seg = l->segs[i];
        if (seg->committed == 0 || seg->max_ts < ts)
            continue;
        /* Every offset up to the entry below ts has a timestamp below ts. */
        int64_t rel = st_tindex_lookup_below(&seg->tindex, ts);
        int64_t start = rel >= 0 ? st_oindex_lookup(&seg->oindex, rel) : 0;
        hdr_scan_t sc;
        hdr_scan_init(&sc, l, seg, start);
        kp_batch_header_t h;
        int64_t pos;
        int rc;
        while ((rc = hdr_scan_next(&sc, &h, &pos)) == 1) {
            if (h.max_timestamp < ts || kp_batch_last_offset(&h) < l->start_offset)
                continue;
            rc = batch_find_timestamp(seg, pos, &h, ts, l->start_offset, false, offset_out,
                                      timestamp_out);
            if (rc != SL_ERR_RANGE)
                break;
        }
        if (rc == 0 && *offset_out >= 0)
            return 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* --- ListOffsets MAX_TIMESTAMP ------------------------------------------------------------- */

/* seg's max batch timestamp over batches with offsets in [start, hwm) (the committed
 * bytes) by a header scan: used when the in-memory max is not usable. *ts_out = -1 when
 * none. */
static int seg_max_scan(st_log_t *l, st_segment_t *seg, int64_t *ts_out, int64_t *last_out)
{
    *ts_out = -1;
    *last_out = -1;
    hdr_scan_t sc;
    hdr_scan_init(&sc, l, seg, 0);
    kp_batch_header_t h;
    int64_t pos;
    int rc;
    while ((rc = hdr_scan_next(&sc, &h, &pos)) == 1) {
        int64_t last = kp_batch_last_offset(&h);
        if (last < l->start_offset || last >= l->hwm)
            continue;
        if (h.max_timestamp > *ts_out) {
            *ts_out = h.max_timestamp;
            *last_out = last;
        }
    }
    return rc;
}

int st_log_max_timestamp(st_log_t *l, int64_t *timestamp_out, int64_t *offset_out)
{
    ASSERT(l && offset_out && timestamp_out && l->state == ST_LOG_OPEN);
    *offset_out = -1;
    *timestamp_out = -1;
    st_segment_t *best = NULL;
    int64_t best_ts = -1, best_last = -1;
    for (uint32_t i = 0; i < l->seg_count; i++) {
        st_segment_t *seg = l->segs[i];
        if (seg->base_offset >= l->hwm)
            break;
        if (seg->committed == 0)
            continue;
        int64_t ts = seg->max_ts, last = seg->max_ts_offset;
        if (ts >= 0 && (last >= l->hwm || last < l->start_offset)) {
            /* The max is in a batch not yet below the HWM, or below the start offset:
             * rare (writes in flight, DeleteRecords inside the first segment). */
            int rc = seg_max_scan(l, seg, &ts, &last);
            if (rc < 0)
                return rc;
        }
        if (ts > best_ts) { /* strict: the earliest segment holding the max wins */
            best = seg;
            best_ts = ts;
            best_last = last;
        }
    }
    if (!best)
        return 0;
    /* The batch whose last offset is best_last, then its first record carrying the max. */
    int64_t rel = best_last - best->base_offset;
    hdr_scan_t sc;
    hdr_scan_init(&sc, l, best, st_oindex_lookup(&best->oindex, rel));
    kp_batch_header_t h;
    int64_t pos;
    int rc;
    while ((rc = hdr_scan_next(&sc, &h, &pos)) == 1) {
        if (kp_batch_last_offset(&h) < best_last)
            continue;
        if (kp_batch_last_offset(&h) > best_last || h.max_timestamp != best_ts)
            return scan_corrupt(&sc, "a time index entry not matching its batch");
        if (h.attributes & KP_BATCH_ATTR_LOG_APPEND_TIME) {
            /* Every record carries the batch's timestamp: the first one. */
            *offset_out = SL_MAX(h.base_offset, l->start_offset);
            *timestamp_out = best_ts;
            return 0;
        }
        rc = batch_find_timestamp(best, pos, &h, best_ts, l->start_offset, true, offset_out,
                                  timestamp_out);
        if (rc == SL_ERR_RANGE) { /* no record reaches the header's maxTimestamp */
            *offset_out = best_last;
            *timestamp_out = best_ts;
            rc = 0;
        }
        return rc;
    }
    return rc < 0 ? rc : scan_corrupt(&sc, "a missing batch of the time index");
}
