/* test_storage_recover.c — opening a log after a crash or a clean shutdown: torn
 * tails, flipped bytes (truncation and deletion of later segments), offsets going
 * backwards, missing and implausible indexes, leftover files, the clean-shutdown
 * marker, and the recovery speed figure. */
#define SH_TMP_TAG "recover"
#include "storage_harness.h"

#include <dirent.h>
#include <time.h>

/* Appends n batches of `records` x value_bytes and waits; returns their sizes. */
static void append_batches(harness_t *h, st_log_t *l, int n, int records, uint32_t value_bytes,
                           uint32_t *lens)
{
    acks_t a = {0};
    uint8_t **bufs = calloc((size_t)n, sizeof(*bufs));
    for (int i = 0; i < n; i++) {
        uint32_t len;
        bufs[i] = make_batch(records, value_bytes, 5000 + st_log_end_offset(l), &len);
        if (lens)
            lens[i] = len;
        cr_assert_eq(st_log_append(l, bufs[i], len, false, on_ack, &a), 0);
    }
    h_until(h, &a.count, n);
    cr_assert_eq(a.errors, 0);
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
}

static void seg_path(const harness_t *h, int64_t base, const char *suffix, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%020lld%s", h->dir, (long long)base, suffix);
}

/* Reads every offset below the HWM and checks it lands on its batch. */
static void check_reads(st_log_t *l, int records_per_batch)
{
    for (int64_t off = st_log_start_offset(l); off < st_log_high_watermark(l); off++) {
        st_slice_t s;
        cr_assert_eq(st_log_read(l, off, 1, &s), 0, "read %lld", (long long)off);
        uint8_t hdr[61];
        cr_assert_eq(pread(s.fd, hdr, sizeof(hdr), s.file_pos), 61);
        kp_batch_header_t bh;
        cr_assert_eq(kp_batch_parse_prefix(hdr, 61, &bh), 0);
        cr_assert_eq(bh.base_offset, off - off % records_per_batch, "offset %lld", (long long)off);
        st_slice_release(&s);
    }
}

/* ------------------------------------------------------------------------------------------ */

Test(storage_recover, truncates_a_torn_tail_and_continues_from_there)
{
    for (int recover = 0; recover < 2; recover++) {
        harness_t h;
        h_init(&h);
        st_log_t *l = h_open(&h, NULL, false);
        uint32_t lens[10];
        append_batches(&h, l, 10, 2, 300, lens);
        st_log_close(l);
        char path[256];
        seg_path(&h, 0, ".log", path, sizeof(path));
        off_t keep = 0;
        for (int i = 0; i < 7; i++)
            keep += lens[i];
        /* A crash in the middle of batch 7's write. */
        cr_assert_eq(truncate(path, keep + lens[7] / 2), 0);
        l = h_open(&h, NULL, recover);
        cr_assert_eq(st_log_end_offset(l), 14, "recover=%d", recover);
        cr_assert_eq(st_log_high_watermark(l), 14);
        cr_assert_eq(file_size(path), keep, "truncated at the last whole batch");
        check_reads(l, 2);
        append_batches(&h, l, 1, 2, 10, NULL);
        cr_assert_eq(st_log_end_offset(l), 16);
        st_log_close(l);
        l = h_open(&h, NULL, true);
        cr_assert_eq(st_log_end_offset(l), 16);
        check_reads(l, 2);
        st_log_close(l);
        h_fini(&h);
    }
}

Test(storage_recover, truncates_at_a_flipped_byte_and_deletes_later_segments)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 256;
    st_log_t *l = h_open(&h, &c, false);
    uint32_t lens[20];
    append_batches(&h, l, 20, 2, 450, lens); /* 4 batches (8 offsets) per segment */
    cr_assert_eq(st_log_segment_count(l), 5);
    st_log_close(l);

    /* Flip one byte in the value of the 3rd batch of segment 8 (offsets 12, 13). */
    char path[256];
    seg_path(&h, 8, ".log", path, sizeof(path));
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    off_t at = (off_t)lens[8] + lens[9] + 200;
    uint8_t byte;
    cr_assert_eq(pread(fd, &byte, 1, at), 1);
    byte ^= 0x20;
    cr_assert_eq(pwrite(fd, &byte, 1, at), 1);
    close(fd);

    /* Trusted open: CRCs are not read, the damage goes unnoticed. */
    l = h_open(&h, &c, false);
    cr_assert_eq(st_log_end_offset(l), 40);
    st_log_close(l);

    l = h_open(&h, &c, true);
    cr_assert_eq(st_log_end_offset(l), 12, "truncated at the damaged batch");
    cr_assert_eq(st_log_segment_count(l), 2);
    cr_assert_eq(file_size(path), lens[8] + lens[9]);
    for (int64_t base = 16; base < 40; base += 8) {
        char p2[256];
        seg_path(&h, base, ".log", p2, sizeof(p2));
        cr_assert_eq(file_size(p2), -1, "segment %lld deleted", (long long)base);
        seg_path(&h, base, ".index", p2, sizeof(p2));
        cr_assert_eq(file_size(p2), -1);
    }
    check_reads(l, 2);
    st_slice_t s;
    cr_assert_eq(st_log_read(l, 12, 100, &s), 0);
    cr_assert_eq(s.len, 0);
    cr_assert_eq(st_log_read(l, 13, 100, &s), SL_ERR_RANGE);
    /* Appends continue in the truncated segment. */
    append_batches(&h, l, 3, 2, 100, NULL);
    cr_assert_eq(st_log_end_offset(l), 18);
    check_reads(l, 2);
    st_log_close(l);
    l = h_open(&h, &c, true);
    cr_assert_eq(st_log_end_offset(l), 18);
    st_log_close(l);
    h_fini(&h);
}

Test(storage_recover, truncates_where_offsets_go_backwards_even_with_valid_crcs)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    uint32_t lens[4];
    append_batches(&h, l, 4, 1, 100, lens);
    st_log_close(l);
    /* Append a copy of batch 0 (offset 0, valid CRC) to the end of the segment. */
    char path[256];
    seg_path(&h, 0, ".log", path, sizeof(path));
    int fd = open(path, O_RDWR);
    uint8_t *b = malloc(lens[0]);
    cr_assert_eq(pread(fd, b, lens[0], 0), lens[0]);
    off_t end = file_size(path);
    cr_assert_eq(pwrite(fd, b, lens[0], end), lens[0]);
    close(fd);
    free(b);
    l = h_open(&h, NULL, true);
    cr_assert_eq(st_log_end_offset(l), 4);
    cr_assert_eq(file_size(path), end);
    st_log_close(l);
    h_fini(&h);
}

Test(storage_recover, truncates_a_segment_whose_first_header_is_garbage)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 2048;
    st_log_t *l = h_open(&h, &c, false);
    append_batches(&h, l, 12, 1, 400, NULL); /* 470 B: 4 per segment: 0, 4, 8 */
    cr_assert_eq(st_log_segment_count(l), 3);
    st_log_close(l);
    char path[256];
    seg_path(&h, 4, ".log", path, sizeof(path));
    int fd = open(path, O_RDWR);
    static const uint8_t junk[16] = {0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef,
                                     0x7f, 0xff, 0xff, 0xff, 0,    0,    0,    0};
    cr_assert_eq(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    close(fd);
    l = h_open(&h, &c, true);
    cr_assert_eq(st_log_segment_count(l), 2);
    cr_assert_eq(file_size(path), 0);
    cr_assert_eq(st_log_end_offset(l), 4);
    check_reads(l, 1);
    append_batches(&h, l, 2, 1, 10, NULL);
    cr_assert_eq(st_log_end_offset(l), 6);
    st_log_close(l);
    h_fini(&h);
}

Test(storage_recover, rebuilds_deleted_index_files_on_a_trusted_open)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 8192;
    c.index_interval_bytes = 300;
    st_log_t *l = h_open(&h, &c, false);
    append_batches(&h, l, 40, 2, 200, NULL);
    uint32_t segs = st_log_segment_count(l);
    cr_assert_geq(segs, 3);
    int64_t active = st_log_segment_base_offset(l, segs - 1);
    st_log_close(l);

    char p[256];
    seg_path(&h, 0, ".index", p, sizeof(p));
    off_t sealed_size = file_size(p);
    cr_assert_gt(sealed_size, 0);
    cr_assert_eq(unlink(p), 0);
    seg_path(&h, 0, ".timeindex", p, sizeof(p));
    cr_assert_eq(unlink(p), 0);
    seg_path(&h, active, ".index", p, sizeof(p));
    cr_assert_eq(unlink(p), 0);

    l = h_open(&h, &c, false);
    cr_assert_eq(st_log_end_offset(l), 80);
    const st_store_stats_t *st = st_store_stats(h.store);
    uint64_t before = st->read_header_preads;
    check_reads(l, 2);
    /* 80 reads; the rebuilt indexes keep each to one or two header reads. */
    cr_assert_leq(st->read_header_preads - before, 160);
    st_log_close(l);
    seg_path(&h, 0, ".index", p, sizeof(p));
    cr_assert_eq(file_size(p), sealed_size, "the same entries as before");
    seg_path(&h, active, ".index", p, sizeof(p));
    cr_assert_gt(file_size(p), 0);
    h_fini(&h);
}

Test(storage_recover, rebuilds_implausible_index_files)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 8192;
    c.index_interval_bytes = 300;
    st_log_t *l = h_open(&h, &c, false);
    append_batches(&h, l, 40, 2, 200, NULL);
    uint32_t segs = st_log_segment_count(l);
    int64_t active = st_log_segment_base_offset(l, segs - 1);
    st_log_close(l);

    char p[256];
    /* Sealed segment: entries going backwards. */
    seg_path(&h, 0, ".index", p, sizeof(p));
    static const uint8_t bad[16] = {0, 0, 0, 9, 0, 0, 4, 0, 0, 0, 0, 3, 0, 0, 8, 0};
    int fd = open(p, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
    close(fd);
    /* Active segment: a size that is no multiple of 8. */
    seg_path(&h, active, ".index", p, sizeof(p));
    cr_assert_eq(truncate(p, file_size(p) + 3), 0);
    /* Time index of segment 0: timestamps going backwards. */
    seg_path(&h, 0, ".timeindex", p, sizeof(p));
    static const uint8_t badt[24] = {0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 1,
                                     0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 2};
    fd = open(p, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, badt, sizeof(badt)), (ssize_t)sizeof(badt));
    close(fd);

    l = h_open(&h, &c, false);
    cr_assert_eq(st_log_end_offset(l), 80);
    check_reads(l, 2);
    int64_t o, t;
    cr_assert_eq(st_log_offset_for_timestamp(l, 5000 + 17, &o, &t), 0);
    cr_assert_eq(o, 17);
    st_log_close(l);
    h_fini(&h);
}

Test(storage_recover, rebuilds_an_active_index_whose_last_entry_names_no_batch)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.index_interval_bytes = 300;
    st_log_t *l = h_open(&h, &c, false);
    append_batches(&h, l, 20, 2, 200, NULL);
    st_log_close(l);
    char p[256];
    seg_path(&h, 0, ".index", p, sizeof(p));
    off_t sz = file_size(p);
    cr_assert_gt(sz, 8);
    /* Make the last entry point one byte into its batch (still increasing). */
    int fd = open(p, O_RDWR);
    uint8_t e[8];
    cr_assert_eq(pread(fd, e, 8, sz - 8), 8);
    e[7] += 1;
    cr_assert_eq(pwrite(fd, e, 8, sz - 8), 8);
    close(fd);
    l = h_open(&h, &c, false);
    cr_assert_eq(st_log_end_offset(l), 40);
    check_reads(l, 2);
    append_batches(&h, l, 10, 2, 200, NULL);
    check_reads(l, 2);
    st_log_close(l);
    h_fini(&h);
}

Test(storage_recover, deletes_leftover_temporary_and_orphaned_files)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    append_batches(&h, l, 3, 1, 10, NULL);
    st_log_close(l);
    static const char *const junk[] = {
        "00000000000000000099.index", "00000000000000000099.timeindex",
        "00000000000000000000.log.deleted", "foo.tmp", "00000000000000000007.log.swap"};
    char p[256];
    for (size_t i = 0; i < SL_ARRAY_SIZE(junk); i++) {
        snprintf(p, sizeof(p), "%s/%s", h.dir, junk[i]);
        int fd = open(p, O_CREAT | O_WRONLY, 0644);
        cr_assert_geq(fd, 0);
        close(fd);
    }
    snprintf(p, sizeof(p), "%s/some-unknown-file", h.dir);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    l = h_open(&h, NULL, true);
    cr_assert_eq(st_log_end_offset(l), 3);
    for (size_t i = 0; i < SL_ARRAY_SIZE(junk); i++) {
        snprintf(p, sizeof(p), "%s/%s", h.dir, junk[i]);
        cr_assert_eq(file_size(p), -1, "%s deleted", junk[i]);
    }
    snprintf(p, sizeof(p), "%s/some-unknown-file", h.dir);
    cr_assert_eq(file_size(p), 0, "files we do not know are left alone");
    st_log_close(l);
    h_fini(&h);
}

Test(storage_recover, clean_marker_is_taken_and_written)
{
    harness_t h;
    h_init(&h);
    bool clean = true;
    cr_assert_eq(st_clean_marker_take(h.root, &clean), 0);
    cr_assert_not(clean);
    cr_assert_eq(st_clean_marker_write(h.root), 0);
    char p[256], text[64] = {0};
    snprintf(p, sizeof(p), "%s/.kafka_cleanshutdown", h.root);
    int fd = open(p, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_gt(read(fd, text, sizeof(text) - 1), 0);
    close(fd);
    cr_assert_str_eq(text, "{\"version\":0,\"brokerEpoch\":-1}");
    cr_assert_eq(st_clean_marker_take(h.root, &clean), 0);
    cr_assert(clean);
    cr_assert_eq(file_size(p), -1, "taken means removed");
    cr_assert_eq(st_clean_marker_take(h.root, &clean), 0);
    cr_assert_not(clean);
    cr_assert_eq(st_clean_marker_take("/nonexistent-sluice-dir", &clean), 0);
    h_fini(&h);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void drop_cache(const harness_t *h, st_log_t *l)
{
    for (uint32_t i = 0; i < st_log_segment_count(l); i++) {
        char p[256];
        seg_path(h, st_log_segment_base_offset(l, i), ".log", p, sizeof(p));
        int fd = open(p, O_RDONLY);
        cr_assert_geq(fd, 0);
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

Test(storage_recover, prints_recovery_speed, .timeout = 280)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 128 * 1024 * 1024;
    st_log_t *l = h_open(&h, &c, false);
    enum { WINDOW = 64, BATCHES = 4096 };
    uint8_t *bufs[WINDOW];
    uint32_t len = 0;
    for (int i = 0; i < WINDOW; i++)
        bufs[i] = make_batch(64, 1000, 0, &len); /* ~64 KiB, 64 records */
    double t0 = now_s();
    acks_t a = {0};
    for (int round = 0; round < BATCHES / WINDOW; round++) {
        for (int i = 0; i < WINDOW; i++)
            cr_assert_eq(st_log_append(l, bufs[i], len, false, on_ack, &a), 0);
        h_until(&h, &a.count, (round + 1) * WINDOW);
    }
    double t_write = now_s() - t0;
    cr_assert_eq(a.errors, 0);
    int64_t bytes = st_log_size_bytes(l);
    int64_t leo = st_log_end_offset(l);
    uint32_t segs = st_log_segment_count(l);
    st_log_close(l);

    t0 = now_s();
    l = h_open(&h, &c, true);
    double t_warm = now_s() - t0;
    cr_assert_eq(st_log_end_offset(l), leo);
    drop_cache(&h, l);
    st_log_close(l);
    drop_cache(&h, l = h_open(&h, &c, false));
    st_log_close(l);

    t0 = now_s();
    l = h_open(&h, &c, true);
    double t_cold = now_s() - t0;
    cr_assert_eq(st_log_end_offset(l), leo);
    st_log_close(l);

    t0 = now_s();
    l = h_open(&h, &c, false);
    double t_trusted = now_s() - t0;
    st_log_close(l);

    double mb = (double)bytes / 1e6;
    printf("recovery: %.0f MB in %u segments, %d batches of %u B (%lld records); appended at "
           "%.0f MB/s (page cache)\n",
           mb, segs, BATCHES, len, (long long)leo, mb / t_write);
    printf("recovery: recover=true (CRC-checked re-read, index rebuild): %.0f MB/s warm page "
           "cache, %.0f MB/s cold (fadvise DONTNEED); trusted open %.1f ms\n",
           mb / t_warm, mb / t_cold, t_trusted * 1e3);
#if defined(__SANITIZE_ADDRESS__)
    printf("recovery: (AddressSanitizer build; a release build is faster)\n");
#endif
    fflush(stdout);
    for (int i = 0; i < WINDOW; i++)
        free(bufs[i]);
    h_fini(&h);
}

Test(storage_recover, prints_recovery_speed_for_small_batches, .timeout = 280)
{
    /* Per-batch cost: 64 MB of ~1 KiB batches written straight into the segment. */
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    st_log_close(l);
    uint32_t len;
    uint8_t *b = make_batch(4, 230, 0, &len);
    int n = (64 * 1000 * 1000) / (int)len;
    size_t bytes = (size_t)n * len;
    uint8_t *all = malloc(bytes);
    cr_assert(all);
    for (int i = 0; i < n; i++) {
        memcpy(all + (size_t)i * len, b, len);
        kp_batch_stamp(all + (size_t)i * len, 4LL * i, 0);
    }
    char p[256];
    seg_path(&h, 0, ".log", p, sizeof(p));
    int fd = open(p, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, all, bytes), (ssize_t)bytes);
    close(fd);
    double t0 = now_s();
    l = h_open(&h, NULL, true);
    double t = now_s() - t0;
    cr_assert_eq(st_log_end_offset(l), 4LL * n);
    st_log_close(l);
    printf(
        "recovery: %d batches of %u B (%.0f MB): %.0f MB/s, %.2f M batches/s (warm page cache)\n",
        n, len, (double)bytes / 1e6, (double)bytes / 1e6 / t, (double)n / 1e6 / t);
    fflush(stdout);
    free(all);
    free(b);
    h_fini(&h);
}

/* --- random damage: no disk bytes may crash or assert ----------------------------------- */

typedef struct saved_file {
    char name[256];
    uint8_t *data;
    size_t len;
} saved_file_t;

static int save_dir(const char *dir, saved_file_t *files, int max)
{
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        cr_assert_lt(n, max);
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        snprintf(files[n].name, sizeof(files[n].name), "%s", de->d_name);
        files[n].len = (size_t)file_size(p);
        files[n].data = malloc(files[n].len + 1);
        int fd = open(p, O_RDONLY);
        cr_assert_eq(read(fd, files[n].data, files[n].len), (ssize_t)files[n].len);
        close(fd);
        n++;
    }
    closedir(d);
    return n;
}

static void restore_dir(const char *dir, const saved_file_t *files, int n)
{
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    for (int i = 0; i < n; i++) {
        char p[512];
        int pn = snprintf(p, sizeof(p), "%s/%s", dir, files[i].name);
        cr_assert(pn > 0 && (size_t)pn < sizeof(p));
        int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        cr_assert_eq(write(fd, files[i].data, files[i].len), (ssize_t)files[i].len);
        close(fd);
    }
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

Test(storage_recover, random_damage_never_crashes_open_read_or_append, .timeout = 280)
{
    harness_t h;
    h_init(&h);
    st_log_config_t c;
    st_log_config_default(&c);
    c.segment_bytes = 3000;
    c.index_interval_bytes = 200;
    st_log_t *l = h_open(&h, &c, false);
    append_batches(&h, l, 24, 3, 150, NULL);
    st_log_close(l);
    saved_file_t files[32];
    int nfiles = save_dir(h.dir, files, 32);
    cr_assert_gt(nfiles, 6);
    uint64_t rng = 0x1234567;
    int corrupt_reads = 0, truncations = 0;
    for (int iter = 0; iter < 300; iter++) {
        restore_dir(h.dir, files, nfiles);
        int damages = 1 + (int)(rng_next(&rng) % 3);
        for (int k = 0; k < damages; k++) {
            const saved_file_t *f = &files[rng_next(&rng) % (uint64_t)nfiles];
            if (strcmp(f->name, "partition.metadata") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", h.dir, f->name);
            off_t sz = file_size(p);
            uint64_t what = rng_next(&rng) % 4;
            if (what == 0 && sz > 0) {
                cr_assert_eq(truncate(p, (off_t)(rng_next(&rng) % (uint64_t)sz)), 0);
            } else if (what == 1) {
                unlink(p);
            } else if (sz > 0) {
                int fd = open(p, O_RDWR);
                for (int b = 0; b < 1 + (int)(rng_next(&rng) % 4); b++) {
                    uint8_t v = (uint8_t)rng_next(&rng);
                    cr_assert_eq(pwrite(fd, &v, 1, (off_t)(rng_next(&rng) % (uint64_t)sz)), 1);
                }
                close(fd);
            }
        }
        bool recover = iter % 2 == 0;
        st_log_t *lg = NULL;
        int rc = st_log_open(h.store, h.dir, h.topic_id, &c, recover, &lg);
        cr_assert_eq(rc, 0, "iteration %d: open %d", iter, rc);
        cr_assert_leq(st_log_start_offset(lg), st_log_high_watermark(lg));
        if (st_log_end_offset(lg) < 72)
            truncations++;
        /* Walk batch by batch: a flipped bit in a baseOffset (outside the CRC, as in
         * Kafka) can leave a legal-looking offset gap, so offsets are not dense. */
        int64_t off = st_log_start_offset(lg);
        for (int reads = 0; reads < 1000; reads++) {
            st_slice_t s;
            rc = st_log_read(lg, off, 500, &s);
            if (rc == SL_ERR_CORRUPT) {
                corrupt_reads++;
                break;
            }
            cr_assert_eq(rc, 0, "iteration %d: read %lld: %d", iter, (long long)off, rc);
            if (s.len == 0) {
                cr_assert_eq(off, st_log_high_watermark(lg));
                break;
            }
            uint8_t *b = malloc(s.len);
            cr_assert_eq(pread(s.fd, b, s.len, s.file_pos), (ssize_t)s.len);
            kp_batch_header_t bh;
            cr_assert_eq(kp_batch_parse_prefix(b, s.len, &bh), 0);
            cr_assert_geq(kp_batch_last_offset(&bh), off);
            /* Recovered logs hold only CRC-valid batches. */
            if (recover && kp_batch_total_size(&bh) <= s.len)
                cr_assert_eq(kp_batch_verify_crc(b, &bh), 0);
            free(b);
            st_slice_release(&s);
            off = kp_batch_last_offset(&bh) + 1;
            if (off > st_log_high_watermark(lg))
                break;
        }
        int64_t o, t;
        rc = st_log_offset_for_timestamp(lg, 5000 + (int64_t)(rng_next(&rng) % 80), &o, &t);
        cr_assert(rc == 0 || rc == SL_ERR_CORRUPT);
        append_batches(&h, lg, 1, 2, 20, NULL);
        st_log_close(lg);
    }
    printf("random damage: 300 opens, %d with truncated logs, %d reads found corrupt headers "
           "(trusted opens do not read CRCs)\n",
           truncations, corrupt_reads);
    fflush(stdout);
    for (int i = 0; i < nfiles; i++)
        free(files[i].data);
    h_fini(&h);
}
