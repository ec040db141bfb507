/* test_storage_log.c — the partition log: append/read/reopen, offsets, sparse index
 * lookups, fetch bounds (HWM, RANGE, KIP-74), segment rolls, out-of-order write
 * completions, group commit, failed writes and repair, timestamp lookup, pinned
 * slices across delete, and callbacks that close their log. */
#include "sl_base.h"
#include "sl_limits.h"
#include "kp_batch.h"
#include "kp_crc32c.h"
#include "io_ring.h"
#include "st_log.h"
#include "st_store.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SH_TMP_TAG "log"
#include "storage_harness.h"

/* ------------------------------------------------------------------------------------ */

Test(storage_log, appends_reads_and_reopens_with_offsets_continuing)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    cr_assert_eq(st_log_start_offset(l), 0);
    cr_assert_eq(st_log_end_offset(l), 0);
    cr_assert_eq(st_log_high_watermark(l), 0);

    acks_t a = {0};
    appended_t ap = {0};
    append_n(&h, l, &ap, &a, 10, 3, 100, false);
    cr_assert_eq(a.errors, 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(a.bases[i], 3 * i, "callbacks in offset order");
    cr_assert_eq(st_log_end_offset(l), 30);
    cr_assert_eq(st_log_high_watermark(l), 30);

    for (int64_t off = 0; off < 30; off++) {
        st_slice_t s;
        cr_assert_eq(st_log_read(l, off, 1 << 20, &s), 0);
        int64_t first = -1, last = -1;
        int n = slice_batches(&s, &first, &last);
        cr_assert_eq(first, off - off % 3, "offset %lld starts at its batch", (long long)off);
        cr_assert_eq(last, 29);
        cr_assert_eq(n, 10 - off / 3);
        cr_assert_eq(s.file_pos, ap.pos[0] + (off / 3) * ap.len[0]);
        st_slice_release(&s);
        cr_assert_null(s.seg);
    }
    st_log_close(l);

    /* Reopen both ways: offsets continue where they were. */
    for (int pass = 0; pass < 2; pass++) {
        l = h_open(&h, NULL, pass == 1);
        cr_assert_eq(st_log_end_offset(l), 30 + 6 * pass);
        cr_assert_eq(st_log_high_watermark(l), 30 + 6 * pass);
        append_n(&h, l, &ap, &a, 2, 3, 50, false);
        cr_assert_eq(a.bases[a.count - 2], 30 + 6 * pass);
        cr_assert_eq(a.bases[a.count - 1], 33 + 6 * pass);
        st_slice_t s;
        cr_assert_eq(st_log_read(l, 2, 100, &s), 0);
        int64_t first = -1, last = -1;
        cr_assert_geq(slice_batches(&s, &first, &last), 1);
        cr_assert_eq(first, 0);
        st_slice_release(&s);
        st_log_close(l);
    }
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, writes_partition_metadata_and_refuses_another_topics_directory)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    st_log_close(l);
    char path[256], text[128] = {0};
    snprintf(path, sizeof(path), "%s/partition.metadata", h.dir);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_gt(read(fd, text, sizeof(text) - 1), 0);
    close(fd);
    /* 0x10..0x1f as Kafka's Uuid.toString prints it (base64url, no padding). */
    cr_assert_str_eq(text, "version: 0\ntopic_id: EBESExQVFhcYGRobHB0eHw");

    uint8_t other[16] = {1};
    st_log_config_t c;
    st_log_config_default(&c);
    cr_assert_eq(st_log_open(h.store, h.dir, other, &c, false, &l), SL_ERR_CORRUPT);
    h_fini(&h);
}

Test(storage_log, read_at_hwm_is_empty_and_beyond_is_out_of_range)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    st_slice_t s;
    cr_assert_eq(st_log_read(l, 0, 100, &s), 0); /* empty log: HWM 0 */
    cr_assert_eq(s.len, 0);
    cr_assert_null(s.seg);
    cr_assert_eq(st_log_read(l, 1, 100, &s), SL_ERR_RANGE);

    acks_t a = {0};
    appended_t ap = {0};
    append_n(&h, l, &ap, &a, 3, 2, 10, false);
    cr_assert_eq(st_log_read(l, 6, 100, &s), 0);
    cr_assert_eq(s.len, 0);
    cr_assert_eq(s.fd, -1);
    cr_assert_eq(st_log_read(l, 7, 100, &s), SL_ERR_RANGE);
    cr_assert_eq(st_log_read(l, -1, 100, &s), SL_ERR_RANGE);
    st_slice_release(&s); /* harmless on an empty slice */
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, first_batch_larger_than_max_bytes_is_returned_whole)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    appended_t ap = {0};
    append_n(&h, l, &ap, &a, 4, 1, 500, false);
    st_slice_t s;
    cr_assert_eq(st_log_read(l, 1, 10, &s), 0);
    cr_assert_eq(s.file_pos, ap.len[0]);
    cr_assert_eq(s.len, ap.len[1], "KIP-74: the whole first batch");
    st_slice_release(&s);
    cr_assert_eq(st_log_read(l, 1, 0, &s), 0);
    cr_assert_eq(s.len, ap.len[1]);
    st_slice_release(&s);
    /* One and a half batches: the end cuts the second batch, as Kafka does. */
    uint32_t max = ap.len[1] + ap.len[2] / 2;
    cr_assert_eq(st_log_read(l, 1, max, &s), 0);
    cr_assert_eq(s.len, max);
    st_slice_release(&s);
    /* Never past the HWM. */
    cr_assert_eq(st_log_read(l, 3, 1 << 20, &s), 0);
    cr_assert_eq(s.len, ap.len[3]);
    st_slice_release(&s);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, sparse_index_entries_name_batches_and_lookups_use_them)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.index_interval_bytes = 1024;
    st_log_t *l = h_open(&h, &c, false);
    acks_t a = {0};
    appended_t ap = {0};
    /* 200 batches of 2 records, ~300 bytes: an entry every 4th batch or so. */
    append_n(&h, l, &ap, &a, 200, 2, 120, false);
    int64_t pos = 0;
    for (int i = 0; i < ap.count; i++) {
        ap.pos[i] = pos;
        pos += ap.len[i];
    }
    st_log_close(l);

    /* The trimmed .index: entries (last offset of a batch, that batch's position),
     * more than 1024 bytes apart. */
    char path[256];
    snprintf(path, sizeof(path), "%s/00000000000000000000.index", h.dir);
    off_t isz = file_size(path);
    cr_assert_gt(isz, 0);
    cr_assert_eq(isz % 8, 0, "trimmed to whole entries");
    int entries = (int)(isz / 8);
    cr_assert(entries > 30 && entries < 80, "%d entries", entries);
    uint8_t *ix = malloc((size_t)isz);
    int fd = open(path, O_RDONLY);
    cr_assert_eq(read(fd, ix, (size_t)isz), isz);
    close(fd);
    int64_t prev_pos = 0;
    for (int e = 0; e < entries; e++) {
        int32_t rel = (int32_t)((uint32_t)ix[8 * e] << 24 | (uint32_t)ix[8 * e + 1] << 16 |
                                (uint32_t)ix[8 * e + 2] << 8 | ix[8 * e + 3]);
        int32_t p = (int32_t)((uint32_t)ix[8 * e + 4] << 24 | (uint32_t)ix[8 * e + 5] << 16 |
                              (uint32_t)ix[8 * e + 6] << 8 | ix[8 * e + 7]);
        int k = rel / 2; /* batch k holds offsets 2k, 2k+1 */
        cr_assert_eq(rel % 2, 1, "entry %d names a batch's last offset", e);
        cr_assert_eq(p, ap.pos[k], "entry %d position", e);
        cr_assert_gt(p - prev_pos, 1024);
        prev_pos = p;
    }
    free(ix);
    snprintf(path, sizeof(path), "%s/00000000000000000000.timeindex", h.dir);
    cr_assert_eq(file_size(path) % 12, 0);
    cr_assert_gt(file_size(path), 0);

    /* Reopen (trusted): every offset, at entries and between them, finds its batch with a
     * short scan: one pread of 8 KiB covers the ~1 KiB from the entry. */
    l = h_open(&h, &c, false);
    const st_store_stats_t *st = st_store_stats(h.store);
    for (int64_t off = 0; off < 400; off++) {
        uint64_t before = st->read_header_preads;
        st_slice_t s;
        cr_assert_eq(st_log_read(l, off, 1, &s), 0);
        cr_assert_eq(s.file_pos, ap.pos[off / 2], "offset %lld", (long long)off);
        cr_assert_eq(s.len, ap.len[off / 2]);
        cr_assert_leq(st->read_header_preads - before, 1, "offset %lld", (long long)off);
        st_slice_release(&s);
    }
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, tail_fetches_are_served_from_the_recent_batch_cache)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    appended_t ap = {0};
    /* More batches than the cache holds: the newest come from memory, older ones from
     * the index and a header scan. */
    append_n(&h, l, &ap, &a, 40, 2, 200, false);
    int64_t pos = 0;
    for (int i = 0; i < ap.count; i++) {
        ap.pos[i] = pos;
        pos += ap.len[i];
    }
    const st_store_stats_t *st = st_store_stats(h.store);
    for (int64_t off = 79; off >= 0; off--) {
        uint64_t preads = st->read_header_preads, hits = st->read_cache_hits;
        st_slice_t s;
        cr_assert_eq(st_log_read(l, off, 1, &s), 0);
        cr_assert_eq(s.file_pos, ap.pos[off / 2], "offset %lld", (long long)off);
        cr_assert_eq(s.len, ap.len[off / 2]);
        st_slice_release(&s);
        bool cached = off / 2 >= 40 - ST_RECENT_BATCHES_PER_LOG;
        cr_assert_eq(st->read_header_preads == preads, cached, "offset %lld", (long long)off);
        cr_assert_eq(st->read_cache_hits == hits + 1, cached);
    }
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, rolls_by_size_and_reads_stay_inside_one_segment)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 512;
    st_log_t *l = h_open(&h, &c, false);
    acks_t a = {0};
    appended_t ap = {0};
    append_n(&h, l, &ap, &a, 20, 2, 450, false); /* ~1 KiB each: 4 per segment */
    cr_assert_eq(st_log_segment_count(l), 5);
    for (uint32_t i = 0; i < 5; i++)
        cr_assert_eq(st_log_segment_base_offset(l, i), 8 * i);
    cr_assert_eq(st_log_high_watermark(l), 40);

    for (int pass = 0; pass < 3; pass++) {
        for (int64_t off = 0; off < 40; off++) {
            st_slice_t s;
            cr_assert_eq(st_log_read(l, off, 1 << 20, &s), 0);
            int64_t first = -1, last = -1;
            int n = slice_batches(&s, &first, &last);
            cr_assert_eq(first, off - off % 2);
            /* The slice ends at the end of the segment holding `off`. */
            cr_assert_eq(last, (off / 8) * 8 + 7, "offset %lld", (long long)off);
            cr_assert_eq(n, 4 - (off % 8) / 2);
            st_slice_release(&s);
        }
        st_log_close(l);
        l = h_open(&h, &c, pass == 1); /* trusted, then recovered */
        cr_assert_eq(st_log_segment_count(l), 5);
        cr_assert_eq(st_log_end_offset(l), 40);
    }
    /* Sealed segments' index files were trimmed at the roll. */
    char path[256];
    snprintf(path, sizeof(path), "%s/00000000000000000000.index", h.dir);
    cr_assert_lt(file_size(path), 64);
    snprintf(path, sizeof(path), "%s/00000000000000000032.index", h.dir);
    cr_assert_eq(file_size(path), 10485760, "the active index is preallocated");
    st_log_close(l);
    cr_assert_lt(file_size(path), 64, "trimmed at clean close");
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, rolls_when_the_index_is_full)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.index_interval_bytes = 0; /* an entry before every batch but the first */
    c.segment_index_bytes = 24; /* 3 offset entries, 2 time entries */
    st_log_t *l = h_open(&h, &c, false);
    acks_t a = {0};
    appended_t ap = {0};
    append_n(&h, l, &ap, &a, 12, 1, 10, false);
    cr_assert_geq(st_log_segment_count(l), 4);
    for (int64_t off = 0; off < 12; off++) {
        st_slice_t s;
        cr_assert_eq(st_log_read(l, off, 1, &s), 0);
        int64_t first = -1, last = -1;
        slice_batches(&s, &first, &last);
        cr_assert_eq(first, off);
        st_slice_release(&s);
    }
    st_log_close(l);
    l = h_open(&h, &c, true);
    cr_assert_eq(st_log_end_offset(l), 12);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, rejects_batches_larger_than_a_segment_and_malformed_ones)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 1024;
    st_log_t *l = h_open(&h, &c, false);
    acks_t a = {0};
    uint32_t len;
    uint8_t *b = make_batch(1, 2000, 0, &len);
    cr_assert_eq(st_log_append(l, b, len, false, on_ack, &a), SL_ERR_LIMIT);
    cr_assert_eq(st_log_append(l, b, len - 1, false, on_ack, &a), SL_ERR_CORRUPT);
    cr_assert_eq(st_log_end_offset(l), 0);
    cr_assert_eq(a.count, 0);
    free(b);
    st_log_close(l);
    h_fini(&h);
}

/* --- fake I/O: hold writes, complete them when and how the test says ---------------- */

typedef struct fake_io {
    struct {
        int fd;
        const void *buf;
        uint32_t len;
        uint64_t pos;
        io_cb_t cb;
        void *ctx;
    } w[256];
    int nw;
    int syncs;
    io_cb_t sync_cb[16];
    void *sync_ctx[16];
} fake_io_t;

static int fake_write(void *arg, io_ring_t *ring, int fd, const void *buf, uint32_t len,
                      uint64_t pos, io_cb_t cb, void *cb_ctx)
{
    (void)ring;
    fake_io_t *f = arg;
    cr_assert_lt(f->nw, 256);
    f->w[f->nw].fd = fd;
    f->w[f->nw].buf = buf;
    f->w[f->nw].len = len;
    f->w[f->nw].pos = pos;
    f->w[f->nw].cb = cb;
    f->w[f->nw].ctx = cb_ctx;
    f->nw++;
    return 0;
}

/* Completes held write i: bytes < 0 is an error, else that many bytes are written. */
static void fake_complete(fake_io_t *f, int i, int32_t bytes)
{
    cr_assert_lt(i, f->nw);
    if (bytes > 0)
        cr_assert_eq(pwrite(f->w[i].fd, f->w[i].buf, (size_t)bytes, (off_t)f->w[i].pos), bytes);
    f->w[i].cb(f->w[i].ctx, bytes, 0);
}

Test(storage_log, out_of_order_completions_advance_the_hwm_in_order)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    fake_io_t f = {0};
    st_io_hooks_t hooks = {.write = fake_write, .arg = &f};
    st_store_set_io_hooks(h.store, &hooks);

    acks_t a = {0};
    uint8_t *b[5];
    uint32_t len[5];
    for (int i = 0; i < 5; i++) {
        b[i] = make_batch(2, 64, 0, &len[i]);
        cr_assert_eq(st_log_append(l, b[i], len[i], false, on_ack, &a), 0);
    }
    cr_assert_eq(f.nw, 5);
    cr_assert_eq(st_log_end_offset(l), 10, "LEO advances at append");
    cr_assert_eq(st_log_high_watermark(l), 0);

    /* Complete 4, 2, 3, 0, 1. */
    fake_complete(&f, 4, (int32_t)len[4]);
    fake_complete(&f, 2, (int32_t)len[2]);
    fake_complete(&f, 3, (int32_t)len[3]);
    cr_assert_eq(st_log_high_watermark(l), 0, "a gap before them");
    cr_assert_eq(a.count, 0);
    st_slice_t s;
    cr_assert_eq(st_log_read(l, 0, 100, &s), 0);
    cr_assert_eq(s.len, 0, "nothing readable past the HWM");
    fake_complete(&f, 0, (int32_t)len[0]);
    cr_assert_eq(st_log_high_watermark(l), 2);
    cr_assert_eq(a.count, 1);
    cr_assert_eq(st_log_read(l, 0, 1 << 20, &s), 0);
    cr_assert_eq(s.len, len[0], "the slice ends at the HWM");
    st_slice_release(&s);
    fake_complete(&f, 1, (int32_t)len[1]);
    cr_assert_eq(st_log_high_watermark(l), 10);
    cr_assert_eq(a.count, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(a.bases[i], 2 * i, "callback %d in offset order", i);
    cr_assert_eq(a.errors, 0);

    st_store_set_io_hooks(h.store, NULL);
    st_log_close(l);
    l = h_open(&h, NULL, true);
    cr_assert_eq(st_log_end_offset(l), 10);
    st_log_close(l);
    for (int i = 0; i < 5; i++)
        free(b[i]);
    h_fini(&h);
}

Test(storage_log, short_writes_are_resubmitted)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    fake_io_t f = {0};
    st_io_hooks_t hooks = {.write = fake_write, .arg = &f};
    st_store_set_io_hooks(h.store, &hooks);
    acks_t a = {0};
    uint32_t len;
    uint8_t *b = make_batch(3, 300, 0, &len);
    cr_assert_eq(st_log_append(l, b, len, false, on_ack, &a), 0);
    fake_complete(&f, 0, 100);
    cr_assert_eq(f.nw, 2, "the rest was resubmitted");
    cr_assert_eq(f.w[1].pos, 100);
    cr_assert_eq(f.w[1].len, len - 100);
    cr_assert_eq(a.count, 0);
    fake_complete(&f, 1, (int32_t)(len - 100));
    cr_assert_eq(a.count, 1);
    cr_assert_eq(a.errors, 0);
    cr_assert_eq(st_log_high_watermark(l), 3);
    st_store_set_io_hooks(h.store, NULL);
    st_log_close(l);
    l = h_open(&h, NULL, true); /* the bytes on disk form a valid batch */
    cr_assert_eq(st_log_end_offset(l), 3);
    st_log_close(l);
    free(b);
    h_fini(&h);
}

Test(storage_log, a_failed_write_fails_it_and_later_appends_then_the_log_is_repaired)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.index_interval_bytes = 0;
    st_log_t *l = h_open(&h, &c, false);
    fake_io_t f = {0};
    st_io_hooks_t hooks = {.write = fake_write, .arg = &f};
    st_store_set_io_hooks(h.store, &hooks);
    acks_t a = {0};
    uint8_t *b[4];
    uint32_t len[4];
    for (int i = 0; i < 3; i++) {
        b[i] = make_batch(1, 100, 0, &len[i]);
        cr_assert_eq(st_log_append(l, b[i], len[i], false, on_ack, &a), 0);
    }
    fake_complete(&f, 2, (int32_t)len[2]); /* succeeds, but lies past the failure */
    fake_complete(&f, 1, -ENOSPC);
    cr_assert_eq(a.count, 0, "callbacks wait for offset 0");
    b[3] = make_batch(1, 100, 0, &len[3]);
    cr_assert_eq(st_log_append(l, b[3], len[3], false, on_ack, &a), -ENOSPC,
                 "appends refused while failed");
    fake_complete(&f, 0, (int32_t)len[0]);
    cr_assert_eq(a.count, 3);
    cr_assert_eq(a.errs[0], 0);
    cr_assert_eq(a.errs[1], -ENOSPC);
    cr_assert_eq(a.errs[2], -ENOSPC);
    cr_assert_eq(st_log_high_watermark(l), 1);
    cr_assert_eq(st_log_end_offset(l), 3);

    st_store_end_turn(h.store); /* the repair */
    cr_assert_eq(st_log_end_offset(l), 1, "LEO rolled back to the HWM");
    char path[256];
    snprintf(path, sizeof(path), "%s/00000000000000000000.log", h.dir);
    cr_assert_eq(file_size(path), len[0], "the segment was cut at the HWM");
    st_store_set_io_hooks(h.store, NULL);
    cr_assert_eq(st_log_append(l, b[3], len[3], false, on_ack, &a), 0);
    h_until(&h, &a.count, 4);
    cr_assert_eq(a.bases[3], 1, "the offset after the HWM is reused: nobody saw it");
    cr_assert_eq(a.errs[3], 0);
    st_log_close(l);
    l = h_open(&h, &c, true);
    cr_assert_eq(st_log_end_offset(l), 2);
    st_log_close(l);
    for (int i = 0; i < 4; i++)
        free(b[i]);
    h_fini(&h);
}

static int held_sync(void *arg, io_ring_t *ring, int fd, bool datasync, io_cb_t cb, void *ctx)
{
    (void)ring, (void)fd, (void)datasync;
    fake_io_t *f = arg;
    cr_assert_lt(f->syncs, 16);
    f->sync_cb[f->syncs] = cb;
    f->sync_ctx[f->syncs] = ctx;
    f->syncs++;
    return 0;
}

Test(storage_log, a_failed_fdatasync_fails_waiters_and_the_log_until_reopened)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    fake_io_t f = {0};
    st_io_hooks_t hooks = {.sync = held_sync, .arg = &f};
    st_store_set_io_hooks(h.store, &hooks);
    acks_t a = {0};
    uint32_t len;
    uint8_t *b = make_batch(1, 100, 0, &len);
    uint8_t *b2 = make_batch(1, 100, 0, &len);
    cr_assert_eq(st_log_append(l, b, len, true, on_ack, &a), 0);
    for (int i = 0; i < 10000 && f.syncs == 0; i++)
        h_turn(&h); /* the write completes, end_turn issues the sync */
    cr_assert_eq(f.syncs, 1);
    cr_assert_eq(a.count, 0, "waits for its sync");
    f.sync_cb[0](f.sync_ctx[0], -EIO, 0);
    cr_assert_eq(a.count, 1);
    cr_assert_eq(a.errs[0], -EIO);
    cr_assert(st_store_needs_recovery(h.store));
    cr_assert_eq(st_log_append(l, b2, len, false, on_ack, &a), -EIO);
    st_store_end_turn(h.store);
    cr_assert_eq(st_log_append(l, b2, len, false, on_ack, &a), -EIO,
                 "no repair after a sync failure");
    st_store_set_io_hooks(h.store, NULL);
    st_log_close(l);
    free(b);
    free(b2);
    h_fini(&h);
}

Test(storage_log, sync_appends_are_group_committed)
{
    harness_t h;
    h_init(&h);
    st_log_t *logs[3];
    char dirs[3][256];
    for (int i = 0; i < 3; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "%s/topic-%d", h.root, i);
        st_log_config_t c;
        st_log_config_default(&c);
        cr_assert_eq(st_log_open(h.store, dirs[i], h.topic_id, &c, false, &logs[i]), 0);
    }
    const st_store_stats_t *st = st_store_stats(h.store);
    uint64_t syncs0 = st->fdatasyncs, rounds0 = st->sync_rounds;
    unsigned turns0 = h.turns;
    static acks_t a[3];
    memset(a, 0, sizeof(a));
    uint8_t *bufs[150];
    uint32_t len;
    /* 50 acks=all appends to each of 3 logs in one go: every log gets at most one
     * sync round per turn, each covering every write completed before it. */
    for (int i = 0; i < 150; i++) {
        bufs[i] = make_batch(1, 200, 0, &len);
        cr_assert_eq(st_log_append(logs[i % 3], bufs[i], len, true, on_ack, &a[i % 3]), 0);
    }
    int total = 0;
    for (int t = 0; t < 100000 && total < 150; t++) {
        h_turn(&h);
        total = a[0].count + a[1].count + a[2].count;
    }
    cr_assert_eq(total, 150);
    unsigned turns = h.turns - turns0;
    uint64_t syncs = st->fdatasyncs - syncs0, rounds = st->sync_rounds - rounds0;
    printf("group commit: 150 acks=all appends to 3 logs took %u turns, %llu sync rounds, "
           "%llu fdatasyncs\n",
           turns, (unsigned long long)rounds, (unsigned long long)syncs);
    fflush(stdout);
    cr_assert_leq(rounds, 3ull * turns, "at most one round per log per turn");
    cr_assert_leq(syncs, 3ull * turns);
    cr_assert_lt(syncs, 150, "appends shared fdatasyncs");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(a[i].errors, 0);
        cr_assert_eq(st_log_high_watermark(logs[i]), 50);
        for (int k = 0; k < 50; k++)
            cr_assert_eq(a[i].bases[k], k, "log %d callback %d in offset order", i, k);
    }
    for (int i = 0; i < 3; i++)
        st_log_close(logs[i]);
    for (int i = 0; i < 150; i++)
        free(bufs[i]);
    h_fini(&h);
}

Test(storage_log, one_log_gets_at_most_one_fdatasync_per_turn)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    const st_store_stats_t *st = st_store_stats(h.store);
    uint64_t syncs0 = st->fdatasyncs;
    unsigned turns0 = h.turns;
    acks_t a = {0};
    uint8_t *bufs[100];
    uint32_t len;
    for (int i = 0; i < 100; i++) {
        bufs[i] = make_batch(1, 100, 0, &len);
        cr_assert_eq(st_log_append(l, bufs[i], len, true, on_ack, &a), 0);
        if (i % 10 == 9)
            h_turn(&h); /* more appends arrive while syncs are in flight */
    }
    h_until(&h, &a.count, 100);
    uint64_t syncs = st->fdatasyncs - syncs0;
    cr_assert_leq(syncs, h.turns - turns0, "%llu fdatasyncs in %u turns", (unsigned long long)syncs,
                  h.turns - turns0);
    cr_assert_lt(syncs, 100);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(a.bases[i], i);
        cr_assert_eq(a.errs[i], 0);
        free(bufs[i]);
    }
    st_log_close(l);
    h_fini(&h);
}

Test(storage_log, an_acks_1_append_behind_an_acks_all_one_waits_for_its_sync)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    uint32_t len;
    uint8_t *b1 = make_batch(1, 10, 0, &len), *b2 = make_batch(1, 10, 0, &len);
    cr_assert_eq(st_log_append(l, b1, len, true, on_ack, &a), 0);
    cr_assert_eq(st_log_append(l, b2, len, false, on_ack, &a), 0);
    h_until(&h, &a.count, 2);
    cr_assert_eq(a.bases[0], 0);
    cr_assert_eq(a.bases[1], 1);
    cr_assert_geq(st_store_stats(h.store)->fdatasyncs, 1);
    st_log_close(l);
    free(b1);
    free(b2);
    h_fini(&h);
}

Test(storage_log, finds_offsets_by_timestamp)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 2048;
    c.index_interval_bytes = 256;
    st_log_t *l = h_open(&h, &c, false);
    acks_t a = {0};
    appended_t ap = {0};
    /* Batch k holds offsets 4k..4k+3 with timestamps 1000000 + 4k + i. */
    append_n(&h, l, &ap, &a, 30, 4, 50, false);
    cr_assert_gt(st_log_segment_count(l), 3);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t off = 0; off < 120; off += 7) {
            int64_t o, t;
            cr_assert_eq(st_log_offset_for_timestamp(l, 1000000 + off, &o, &t), 0);
            cr_assert_eq(o, off, "timestamp of offset %lld", (long long)off);
            cr_assert_eq(t, 1000000 + off);
        }
        int64_t o, t;
        cr_assert_eq(st_log_offset_for_timestamp(l, 0, &o, &t), 0);
        cr_assert_eq(o, 0);
        cr_assert_eq(st_log_offset_for_timestamp(l, 1000000 + 120, &o, &t), 0);
        cr_assert_eq(o, -1, "nothing that late");
        st_log_close(l);
        l = h_open(&h, &c, pass == 0);
    }
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_log, a_pinned_slice_survives_delete_until_released)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    appended_t ap = {0};
    append_n(&h, l, &ap, &a, 3, 1, 1000, false);
    st_slice_t s;
    cr_assert_eq(st_log_read(l, 1, 1 << 20, &s), 0);
    cr_assert_not_null(s.seg);
    int fd = s.fd;
    cr_assert_eq(st_log_delete(l), 0);
    struct stat sb;
    cr_assert_neq(stat(h.dir, &sb), 0, "the directory is gone");
    /* The pinned fd still reads the data. */
    int64_t first = -1, last = -1;
    cr_assert_eq(slice_batches(&s, &first, &last), 2);
    cr_assert_eq(first, 1);
    cr_assert_eq(last, 2);
    cr_assert_neq(fcntl(fd, F_GETFD), -1);
    st_slice_release(&s);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the last release closed the fd");
    cr_assert_eq(errno, EBADF);
    /* The same topic can be created again at once. */
    l = h_open(&h, NULL, false);
    cr_assert_eq(st_log_end_offset(l), 0);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

#define RELEASE_SLICES 64
static void *release_all(void *arg)
{
    st_slice_t *slices = arg;
    for (int i = 0; i < RELEASE_SLICES; i++)
        st_slice_release(&slices[i]);
    return NULL;
}

Test(storage_log, slices_are_released_from_another_thread)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    appended_t ap = {0};
    append_n(&h, l, &ap, &a, 1, 1, 10, false);
    enum { N = RELEASE_SLICES };
    static st_slice_t slices[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(st_log_read(l, 0, 100, &slices[i]), 0);
    st_log_close(l); /* the log lets go; the slices keep the segment */
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, release_all, slices), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    for (int i = 0; i < N; i++)
        cr_assert_null(slices[i].seg);
    free_bufs(&ap);
    h_fini(&h);
}

typedef struct closer {
    st_log_t *log;
    int count;
    bool delete_it;
} closer_t;

static void close_on_second(void *ctx, int err, int64_t base)
{
    (void)base;
    closer_t *c = ctx;
    cr_assert_eq(err, 0);
    if (++c->count == 2) {
        if (c->delete_it)
            st_log_delete(c->log);
        else
            st_log_close(c->log);
    }
}

Test(storage_log, a_callback_may_close_or_delete_its_log_with_appends_in_flight)
{
    for (int del = 0; del < 2; del++) {
        harness_t h;
        h_init(&h);
        closer_t c = {.log = h_open(&h, NULL, false), .delete_it = del};
        uint8_t *b[6];
        uint32_t len;
        for (int i = 0; i < 6; i++) {
            b[i] = make_batch(1, 100, 0, &len);
            cr_assert_eq(st_log_append(c.log, b[i], len, i % 2 == 0, close_on_second, &c), 0);
        }
        h_until(&h, &c.count, 6);
        for (int i = 0; i < 20; i++)
            h_turn(&h); /* the log is freed at an end_turn */
        if (!del) {
            st_log_t *l = h_open(&h, NULL, false);
            cr_assert_eq(st_log_end_offset(l), 6, "in-flight appends were finished");
            st_log_close(l);
        }
        for (int i = 0; i < 6; i++)
            free(b[i]);
        h_fini(&h);
    }
}

Test(storage_log, store_close_finishes_logs_with_io_in_flight)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    uint8_t *b[10];
    uint32_t len;
    for (int i = 0; i < 10; i++) {
        b[i] = make_batch(1, 100, 0, &len);
        cr_assert_eq(st_log_append(l, b[i], len, true, on_ack, &a), 0);
    }
    st_store_close(h.store); /* closes l, waits for the writes and syncs */
    cr_assert_eq(a.count, 10);
    cr_assert_eq(a.errors, 0);
    cr_assert_eq(st_store_open(&h.store, &h.ring, 0), 0);
    l = h_open(&h, NULL, false);
    cr_assert_eq(st_log_end_offset(l), 10);
    st_log_close(l);
    for (int i = 0; i < 10; i++)
        free(b[i]);
    h_fini(&h);
}

Test(storage_log, deferred_close_sync_trims_indexes_and_reopens_clean)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    uint8_t *b[40];
    uint32_t len;
    for (int i = 0; i < 40; i++) {
        b[i] = make_batch(5, 300, 0, &len); /* > index.interval.bytes in all: entries */
        cr_assert_eq(st_log_append(l, b[i], len, false, on_ack, &a), 0);
    }
    h_until(&h, &a.count, 40);
    st_store_defer_close_sync(h.store);
    cr_assert(st_store_close_clean(h.store), "closed clean with one syncfs");
    /* The active index files were trimmed to their entries at the close. */
    char path[320];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%020d.index", h.dir, 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(st.st_size > 0 && st.st_size % 8 == 0 && st.st_size < 4096,
              "trimmed .index (%lld bytes)", (long long)st.st_size);
    snprintf(path, sizeof(path), "%s/%020d.timeindex", h.dir, 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(st.st_size > 0 && st.st_size % 12 == 0 && st.st_size < 4096);
    cr_assert_eq(st_store_open(&h.store, &h.ring, 0), 0);
    l = h_open(&h, NULL, false);
    cr_assert_eq(st_log_end_offset(l), 200);
    st_log_close(l);
    for (int i = 0; i < 40; i++)
        free(b[i]);
    h_fini(&h);
}

/* --- ListOffsets MAX_TIMESTAMP ---------------------------------------------------- */

/* A batch of n uncompressed records with the given (unordered) timestamps. */
static uint8_t *make_batch_ts(int n, const int64_t *ts, uint32_t *len_out)
{
    int64_t first = ts[0], max = ts[0];
    for (int i = 1; i < n; i++) {
        first = ts[i] < first ? ts[i] : first;
        max = ts[i] > max ? ts[i] : max;
    }
    uint8_t *b = calloc(1, 61 + (size_t)n * 48);
    cr_assert(b);
    size_t pos = 61;
    for (int i = 0; i < n; i++) {
        uint8_t body[40];
        size_t k = 0;
        body[k++] = 0;
        k += put_varint(body + k, ts[i] - first);
        k += put_varint(body + k, i);
        k += put_varint(body + k, -1);
        k += put_varint(body + k, 10);
        pos += put_varint(b + pos, (int64_t)(k + 10 + 1));
        memcpy(b + pos, body, k);
        pos += k;
        memset(b + pos, 'x', 10);
        pos += 10;
        b[pos++] = 0;
    }
    put_be(b + 8, pos - 12, 4);
    put_be(b + 12, (uint64_t)-1, 4);
    b[16] = 2;
    put_be(b + 23, (uint64_t)(n - 1), 4);
    put_be(b + 27, (uint64_t)first, 8);
    put_be(b + 35, (uint64_t)max, 8);
    put_be(b + 43, (uint64_t)-1, 8);
    put_be(b + 51, (uint64_t)-1, 2);
    put_be(b + 53, (uint64_t)-1, 4);
    put_be(b + 57, (uint64_t)n, 4);
    put_be(b + 17, kp_crc32c(0, b + 21, pos - 21), 4);
    *len_out = (uint32_t)pos;
    return b;
}

static void append_ts(harness_t *h, st_log_t *l, acks_t *a, int64_t t0, int64_t t1, int64_t t2)
{
    int64_t ts[3] = {t0, t1, t2};
    uint32_t len;
    uint8_t *b = make_batch_ts(3, ts, &len);
    int target = a->count + 1;
    cr_assert_eq(st_log_append(l, b, len, false, on_ack, a), 0);
    h_until(h, &a->count, target);
    cr_assert_eq(a->errors, 0);
    free(b);
}

static void expect_max(st_log_t *l, int64_t ts, int64_t off)
{
    int64_t t = 0, o = 0;
    cr_assert_eq(st_log_max_timestamp(l, &t, &o), 0);
    cr_assert_eq(t, ts, "max timestamp %lld, want %lld", (long long)t, (long long)ts);
    cr_assert_eq(o, off, "offset of max %lld, want %lld", (long long)o, (long long)off);
}

Test(storage_log, max_timestamp_across_batches_segments_and_reopen)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 250; /* two 3-record batches per segment */
    c.index_interval_bytes = 0;
    st_log_t *l = h_open(&h, &c, false);
    expect_max(l, -1, -1); /* empty */
    acks_t a = {0};
    append_ts(&h, l, &a, 100, 300, 200); /* 0-2: max 300 at 1 */
    expect_max(l, 300, 1);
    append_ts(&h, l, &a, 50, 60, 70);    /* 3-5 */
    append_ts(&h, l, &a, 500, 900, 400); /* 6-8: max 900 at 7 */
    append_ts(&h, l, &a, 900, 100, 100); /* 9-11: a tie later: the first one wins */
    append_ts(&h, l, &a, 10, 20, 30);    /* 12-14 */
    append_ts(&h, l, &a, 1, 2, 3);       /* 15-17 */
    cr_assert_geq(st_log_segment_count(l), 3);
    expect_max(l, 900, 7);
    for (int pass = 0; pass < 2; pass++) {
        st_log_close(l);
        l = h_open(&h, &c, pass == 1); /* clean, then unclean */
        expect_max(l, 900, 7);
    }
    append_ts(&h, l, &a, 5, 1000, 1000); /* 18-20: the first record of the max */
    expect_max(l, 1000, 19);
    st_log_close(l);
    l = h_open(&h, &c, true);
    expect_max(l, 1000, 19);
    st_log_close(l);
    h_fini(&h);
}

/* --- leader-epoch-checkpoint ------------------------------------------------------ */

static void read_text(const harness_t *h, const char *name, char *buf, size_t cap)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", h->dir, name);
    int fd = open(p, O_RDONLY);
    cr_assert_geq(fd, 0, "%s exists", name);
    ssize_t n = read(fd, buf, cap - 1);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    close(fd);
}

static void write_text(const harness_t *h, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", h->dir, name);
    int fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void expect_epoch_file(const harness_t *h, const char *want)
{
    char buf[256];
    read_text(h, "leader-epoch-checkpoint", buf, sizeof(buf));
    cr_assert_str_eq(buf, want);
    char p[256];
    snprintf(p, sizeof(p), "%s/leader-epoch-checkpoint.tmp", h->dir);
    cr_assert_eq(access(p, F_OK), -1, "no temporary file left");
}

Test(storage_log, leader_epoch_checkpoint_created_moved_and_repaired)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 250;
    st_log_t *l = h_open(&h, &c, false);
    expect_epoch_file(&h, "0\n1\n0 0\n"); /* at create */
    acks_t a = {0};
    for (int i = 0; i < 6; i++)
        append_ts(&h, l, &a, 10 * i, 10 * i + 1, 10 * i + 2); /* offsets 0-17 */
    expect_epoch_file(&h, "0\n1\n0 0\n");
    int64_t low = -1;
    cr_assert_eq(st_log_delete_records(l, 4, &low), 0); /* inside the first segment */
    cr_assert_eq(low, 4);
    expect_epoch_file(&h, "0\n1\n0 4\n");
    cr_assert_eq(st_log_delete_records(l, 2, &low), 0); /* no move: unchanged */
    expect_epoch_file(&h, "0\n1\n0 4\n");
    cr_assert_eq(st_log_delete_records(l, 13, &low), 0); /* drops segments too */
    cr_assert_eq(low, 13);
    expect_epoch_file(&h, "0\n1\n0 13\n");
    /* The max timestamp ignores records below the start offset. */
    expect_max(l, 52, 17);
    st_log_close(l);
    l = h_open(&h, &c, false);
    expect_epoch_file(&h, "0\n1\n0 13\n"); /* valid: kept */
    st_log_close(l);
    static const char *const bad[] = {"",
                                      "garbage",
                                      "0\n1\n",
                                      "1\n1\n0 13\n",
                                      "0\n2\n0 13\n",
                                      "0\n1\n0 13",
                                      "0\n1\n0 13\nextra\n",
                                      "0\n1\n0 -5\n",
                                      "0\n1\n3 13\n", /* not epoch 0 */
                                      "0\n1\n0 99\n", /* starts past the log start */
                                      "0\n1\n0  13\n"};
    for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
        write_text(&h, "leader-epoch-checkpoint", bad[i]);
        l = h_open(&h, &c, i % 2 == 0);
        expect_epoch_file(&h, "0\n1\n0 13\n");
        st_log_close(l);
    }
    /* Missing: written again. An older entry is moved up to the start offset. */
    char p[256];
    snprintf(p, sizeof(p), "%s/leader-epoch-checkpoint", h.dir);
    cr_assert_eq(unlink(p), 0);
    l = h_open(&h, &c, false);
    expect_epoch_file(&h, "0\n1\n0 13\n");
    st_log_close(l);
    write_text(&h, "leader-epoch-checkpoint", "0\n1\n0 0\n");
    l = h_open(&h, &c, false);
    expect_epoch_file(&h, "0\n1\n0 13\n");
    st_log_close(l);
    h_fini(&h);
}

/* A creation cut short (st_log.h "Creation": the directory's fsyncs come last):
 * the directory exists with an empty partition.metadata, or a half-written
 * .tmp, and nothing else. The next open completes it. */
Test(storage_log, a_creation_cut_short_is_completed_at_the_next_open)
{
    harness_t h;
    h_init(&h);
    for (int variant = 0; variant < 2; variant++) {
        cr_assert_eq(mkdir(h.dir, 0755), 0);
        if (variant == 0)
            write_text(&h, "partition.metadata", "");
        else
            write_text(&h, "partition.metadata.tmp", "version: 0\ntopic_");
        st_log_t *l = h_open(&h, NULL, true);
        char buf[256];
        read_text(&h, "partition.metadata", buf, sizeof(buf));
        cr_assert_str_eq(buf, "version: 0\ntopic_id: EBESExQVFhcYGRobHB0eHw");
        expect_epoch_file(&h, "0\n1\n0 0\n");
        char p[300];
        snprintf(p, sizeof(p), "%s/00000000000000000000.log", h.dir);
        cr_assert_eq(access(p, F_OK), 0, "the first segment exists");
        snprintf(p, sizeof(p), "%s/partition.metadata.tmp", h.dir);
        cr_assert_eq(access(p, F_OK), -1, "no temporary file left");
        acks_t a = {0};
        append_ts(&h, l, &a, 1, 2, 3);
        cr_assert_eq(st_log_high_watermark(l), 3);
        cr_assert_eq(st_log_delete(l), 0);
        cr_assert_eq(access(h.dir, F_OK), -1, "deleted, for the next variant");
    }
    h_fini(&h);
}

Test(storage_log, max_timestamp_skips_batches_below_the_start_offset)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 250;
    st_log_t *l = h_open(&h, &c, false);
    acks_t a = {0};
    append_ts(&h, l, &a, 100, 900, 200); /* 0-2 */
    append_ts(&h, l, &a, 3, 1, 2);       /* 3-5 */
    append_ts(&h, l, &a, 4, 6, 5);       /* 6-8, next segment */
    cr_assert_eq(st_log_segment_count(l), 2);
    expect_max(l, 900, 1);
    int64_t low;
    cr_assert_eq(st_log_delete_records(l, 3, &low), 0);
    cr_assert_eq(st_log_segment_count(l), 2, "the first segment still holds 3-5");
    expect_max(l, 6, 7);
    cr_assert_eq(st_log_delete_records(l, 6, &low), 0);
    expect_max(l, 6, 7);
    cr_assert_eq(st_log_delete_records(l, 9, &low), 0);
    expect_max(l, -1, -1); /* nothing left below the HWM */
    st_log_close(l);
    h_fini(&h);
}

Test(storage_log, max_timestamp_ignores_appends_past_the_hwm)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    acks_t a = {0};
    append_ts(&h, l, &a, 100, 300, 200); /* 0-2 */
    fake_io_t f = {0};
    st_io_hooks_t hooks = {.write = fake_write, .arg = &f};
    st_store_set_io_hooks(h.store, &hooks);
    int64_t t1[3] = {10, 20, 30}, t2[3] = {999, 5, 999};
    uint32_t len1, len2;
    uint8_t *b1 = make_batch_ts(3, t1, &len1), *b2 = make_batch_ts(3, t2, &len2);
    cr_assert_eq(st_log_append(l, b1, len1, false, on_ack, &a), 0); /* 3-5 */
    cr_assert_eq(st_log_append(l, b2, len2, false, on_ack, &a), 0); /* 6-8 */
    cr_assert_eq(f.nw, 2);
    expect_max(l, 300, 1); /* 999 is not below the HWM */
    fake_complete(&f, 1, (int32_t)len2);
    expect_max(l, 300, 1); /* written, but behind a gap */
    fake_complete(&f, 0, (int32_t)len1);
    cr_assert_eq(st_log_high_watermark(l), 9);
    expect_max(l, 999, 6);
    st_store_set_io_hooks(h.store, NULL);
    h_until(&h, &a.count, 3);
    st_log_close(l);
    free(b1);
    free(b2);
    l = h_open(&h, NULL, false);
    expect_max(l, 999, 6);
    st_log_close(l);
    h_fini(&h);
}
