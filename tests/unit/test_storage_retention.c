/* test_storage_retention.c — time-based segment rolls, retention by time and size,
 * the store tick, DeleteRecords and the persisted log start offset, and the
 * flush.messages / flush.ms policy. Time is a fake store clock (no sleeping). */
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

#define SH_TMP_TAG "ret"
#include "storage_harness.h"

static int64_t fake_now_ms = 1700000000000LL;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now_ms;
}

static void h_fake_clock(harness_t *h)
{
    fake_now_ms = 1700000000000LL;
    st_store_set_clock(h->store, fake_clock, NULL);
}

/* --- roll by time ------------------------------------------------------------------- */

Test(storage_retention, rolls_by_time_at_the_next_append_after_segment_ms)
{
    harness_t h;
    h_init(&h);
    h_fake_clock(&h);
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.segment_ms = 1000;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};

    /* An empty segment never rolls, however old. */
    fake_now_ms += 1000000;
    append_n(&h, l, &ap, &a, 1, 2, 10, false);
    cr_assert_eq(st_log_segment_count(l), 1);

    fake_now_ms += 1000; /* exactly segment_ms: not yet */
    append_n(&h, l, &ap, &a, 1, 2, 10, false);
    cr_assert_eq(st_log_segment_count(l), 1);

    fake_now_ms += 1; /* past it: the next append rolls first */
    append_n(&h, l, &ap, &a, 1, 2, 10, false);
    cr_assert_eq(st_log_segment_count(l), 2);
    cr_assert_eq(st_log_segment_base_offset(l, 1), 4);
    cr_assert_eq(st_store_stats(h.store)->rolls, 1);
    char path[SL_MAX_PATH];
    snprintf(path, sizeof(path), "%s/00000000000000000004.log", h.dir);
    cr_assert_gt(file_size(path), 0);

    /* The new segment's clock starts at its own first append. */
    fake_now_ms += 999;
    append_n(&h, l, &ap, &a, 1, 2, 10, false);
    cr_assert_eq(st_log_segment_count(l), 2);
    fake_now_ms += 2;
    append_n(&h, l, &ap, &a, 1, 2, 10, false);
    cr_assert_eq(st_log_segment_count(l), 3);
    cr_assert_eq(st_log_segment_base_offset(l, 2), 8);

    /* Reads still work across the time-rolled segments. */
    st_slice_t sl;
    cr_assert_eq(st_log_read(l, 5, 1 << 20, &sl), 0);
    int64_t first = -1, last = -1;
    cr_assert_eq(slice_batches(&sl, &first, &last), 2);
    cr_assert_eq(first, 4);
    st_slice_release(&sl);

    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, jitter_rolls_earlier_but_never_before_segment_ms_minus_jitter)
{
    harness_t h;
    h_init(&h);
    h_fake_clock(&h);
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.segment_ms = 1000;
    cfg.segment_jitter_ms = 500;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    append_n(&h, l, &ap, &a, 1, 1, 10, false);
    fake_now_ms += 500; /* jitter < 500: not due yet */
    append_n(&h, l, &ap, &a, 1, 1, 10, false);
    cr_assert_eq(st_log_segment_count(l), 1);
    fake_now_ms += 501; /* past segment_ms: due whatever the jitter */
    append_n(&h, l, &ap, &a, 1, 1, 10, false);
    cr_assert_eq(st_log_segment_count(l), 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, a_reopened_active_segment_counts_its_age_from_the_open)
{
    harness_t h;
    h_init(&h);
    h_fake_clock(&h);
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.segment_ms = 1000;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    append_n(&h, l, &ap, &a, 2, 1, 10, true);
    st_log_close(l);
    fake_now_ms += 5000;
    l = h_open(&h, &cfg, false);
    append_n(&h, l, &ap, &a, 1, 1, 10, false);
    cr_assert_eq(st_log_segment_count(l), 1);
    fake_now_ms += 1001;
    append_n(&h, l, &ap, &a, 1, 1, 10, false);
    cr_assert_eq(st_log_segment_count(l), 2);
    cr_assert_eq(st_log_segment_base_offset(l, 1), 3);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* --- retention ---------------------------------------------------------------------- */

/* Appends one batch of one record stamped ts, without waiting. */
static void append_ts_nowait(st_log_t *l, appended_t *ap, acks_t *a, int64_t ts)
{
    int k = ap->count++;
    ap->buf[k] = make_batch(1, 100, ts, &ap->len[k]);
    ap->base[k] = st_log_end_offset(l);
    int rc = st_log_append(l, ap->buf[k], ap->len[k], false, on_ack, a);
    cr_assert_eq(rc, 0, "append %d: %d", k, rc);
}

static void append_ts(harness_t *h, st_log_t *l, appended_t *ap, acks_t *a, int64_t ts)
{
    int target = a->count + 1;
    append_ts_nowait(l, ap, a, ts);
    h_until(h, &a->count, target);
}

/* One batch per segment: segment_bytes fits exactly one of append_ts's batches. */
static void one_batch_segments(st_log_config_t *cfg, uint32_t *batch_len)
{
    uint32_t len;
    uint8_t *b = make_batch(1, 100, 0, &len);
    free(b);
    st_log_config_default(cfg);
    cfg->segment_bytes = len;
    *batch_len = len;
}

static bool seg_file_exists(const harness_t *h, int64_t base)
{
    char path[SL_MAX_PATH];
    snprintf(path, sizeof(path), "%s/%020lld.log", h->dir, (long long)base);
    return file_size(path) >= 0;
}

#define T0 1700000000000LL

Test(storage_retention, by_time_deletes_exactly_the_expired_oldest_segments)
{
    harness_t h;
    h_init(&h);
    h_fake_clock(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = 2500;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 5; i++)
        append_ts(&h, l, &ap, &a, T0 + i * 1000);
    cr_assert_eq(st_log_segment_count(l), 5);

    int64_t bytes = -1;
    cr_assert_eq(st_log_enforce_retention(l, T0 + 4000, &bytes), 0);
    /* now - ts > 2500 for ts T0 and T0+1000 only. */
    cr_assert_eq(st_log_segment_count(l), 3);
    cr_assert_eq(bytes, 2 * (int64_t)len);
    cr_assert_eq(st_log_start_offset(l), 2);
    cr_assert_eq(st_log_segment_base_offset(l, 0), 2);
    cr_assert(!seg_file_exists(&h, 0) && !seg_file_exists(&h, 1) && seg_file_exists(&h, 2));
    cr_assert_eq(st_store_stats(h.store)->segments_deleted, 2);

    st_slice_t sl;
    cr_assert_eq(st_log_read(l, 1, 1 << 20, &sl), SL_ERR_RANGE);
    cr_assert_eq(st_log_read(l, 2, 1 << 20, &sl), 0);
    int64_t first = -1, last = -1;
    cr_assert_eq(slice_batches(&sl, &first, &last), 1);
    cr_assert_eq(first, 2);
    st_slice_release(&sl);

    /* Idempotent; then everything but the active segment once all expired. */
    cr_assert_eq(st_log_enforce_retention(l, T0 + 4000, &bytes), 0);
    cr_assert_eq(bytes, 0);
    cr_assert_eq(st_log_enforce_retention(l, T0 + 1000000, &bytes), 0);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert_eq(st_log_start_offset(l), 4);
    cr_assert_eq(st_log_high_watermark(l), 5);

    /* Appends continue, and the start offset survives a reopen (segment files). */
    append_ts(&h, l, &ap, &a, T0 + 5000);
    cr_assert_eq(st_log_end_offset(l), 6);
    st_log_close(l);
    l = h_open(&h, &cfg, false);
    cr_assert_eq(st_log_start_offset(l), 4);
    cr_assert_eq(st_log_end_offset(l), 6);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, unlimited_time_and_future_timestamps_keep_segments)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = -1;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        append_ts(&h, l, &ap, &a, T0);
    cr_assert_eq(st_log_enforce_retention(l, T0 * 2, NULL), 0);
    cr_assert_eq(st_log_segment_count(l), 3);
    st_log_close(l);

    cfg.retention_ms = 1000;
    l = h_open(&h, &cfg, false);
    append_ts(&h, l, &ap, &a, T0 + 1000000); /* in the future of now below */
    append_ts(&h, l, &ap, &a, T0);
    /* Segments 0..2 expired; segment 3 (future) stops the walk; 4 is active. */
    cr_assert_eq(st_log_enforce_retention(l, T0 + 5000, NULL), 0);
    cr_assert_eq(st_log_segment_count(l), 2);
    cr_assert_eq(st_log_start_offset(l), 3);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, by_size_deletes_while_the_rest_stays_at_or_above_retention_bytes)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = -1;
    cfg.retention_bytes = 2 * (int64_t)len + len / 2;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 5; i++)
        append_ts(&h, l, &ap, &a, T0);
    int64_t bytes = 0;
    cr_assert_eq(st_log_enforce_retention(l, T0, &bytes), 0);
    /* 5L -> 4L -> 3L; 3L - L = 2L < 2.5L stops. */
    cr_assert_eq(st_log_segment_count(l), 3);
    cr_assert_eq(bytes, 2 * (int64_t)len);
    cr_assert_eq(st_log_start_offset(l), 2);
    cr_assert_eq(st_log_size_bytes(l), 3 * (int64_t)len);
    st_log_close(l);

    /* Exactly at the limit counts as enough: 3L - L = 2L >= 2L. */
    cfg.retention_bytes = 2 * (int64_t)len;
    l = h_open(&h, &cfg, false);
    cr_assert_eq(st_log_enforce_retention(l, T0, &bytes), 0);
    cr_assert_eq(st_log_segment_count(l), 2);
    /* 0 bytes: everything but the active segment. */
    st_log_close(l);
    cfg.retention_bytes = 0;
    l = h_open(&h, &cfg, false);
    cr_assert_eq(st_log_enforce_retention(l, T0, &bytes), 0);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert_eq(st_log_start_offset(l), 4);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, never_deletes_the_active_segment_or_one_with_writes_in_flight)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = 0;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        append_ts(&h, l, &ap, &a, T0);
    /* Two appends in flight: offset 3 fills segment 3, offset 4 rolls to segment 4,
     * so segment 3 is no longer active but its write has not completed. */
    append_ts_nowait(l, &ap, &a, T0);
    append_ts_nowait(l, &ap, &a, T0);
    cr_assert_eq(st_log_segment_count(l), 5);
    cr_assert_eq(st_log_enforce_retention(l, T0 + 1000000, NULL), 0);
    cr_assert_eq(st_log_segment_count(l), 2, "kept %u", st_log_segment_count(l));
    cr_assert_eq(st_log_segment_base_offset(l, 0), 3);
    h_until(&h, &a.count, 5);
    cr_assert_eq(a.errors, 0);
    cr_assert_eq(st_log_high_watermark(l), 5);
    st_slice_t sl;
    cr_assert_eq(st_log_read(l, 3, 1 << 20, &sl), 0);
    st_slice_release(&sl);
    /* Once the writes completed segment 3 goes too; the active one never. */
    cr_assert_eq(st_log_enforce_retention(l, T0 + 1000000, NULL), 0);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert_eq(st_log_start_offset(l), 4);
    for (int i = 0; i < 3; i++) {
        append_ts(&h, l, &ap, &a, T0);
        cr_assert_eq(st_log_enforce_retention(l, T0 + 1000000, NULL), 0);
        cr_assert_eq(st_log_segment_count(l), 1);
        cr_assert_eq(st_log_start_offset(l), 5 + i);
    }
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, a_pinned_slice_stays_readable_across_retention)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = 0;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        append_ts(&h, l, &ap, &a, T0);
    st_slice_t sl;
    cr_assert_eq(st_log_read(l, 0, 1 << 20, &sl), 0);
    cr_assert_eq(sl.len, len);
    cr_assert_eq(st_log_enforce_retention(l, T0 + 10, NULL), 0);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert(!seg_file_exists(&h, 0)); /* name gone at once */
    int64_t first = -1, last = -1;
    cr_assert_eq(slice_batches(&sl, &first, &last), 1); /* bytes still readable */
    cr_assert_eq(first, 0);
    cr_assert_eq(memcmp(ap.buf[0], ap.buf[0], len), 0);
    st_slice_release(&sl);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* A sync hook that holds fdatasyncs until released, to catch retention during one. */
typedef struct held_sync {
    io_cb_t cb[8];
    void *ctx[8];
    int n;
} held_sync_t;

static int hold_sync(void *arg, io_ring_t *ring, int fd, bool datasync, io_cb_t cb, void *cb_ctx)
{
    (void)ring, (void)fd, (void)datasync;
    held_sync_t *hs = arg;
    cr_assert_lt(hs->n, 8);
    hs->cb[hs->n] = cb;
    hs->ctx[hs->n] = cb_ctx;
    hs->n++;
    return 0;
}

Test(storage_retention, retention_during_a_sync_waits_for_it_then_runs_by_itself)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = 0;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        append_ts(&h, l, &ap, &a, T0);
    held_sync_t hs = {0};
    st_io_hooks_t hooks = {.sync = hold_sync, .arg = &hs};
    st_store_set_io_hooks(h.store, &hooks);
    int k = ap.count++;
    ap.buf[k] = make_batch(1, 100, T0, &ap.len[k]);
    cr_assert_eq(st_log_append(l, ap.buf[k], ap.len[k], true, on_ack, &a), 0);
    for (int i = 0; i < 50 && hs.n == 0; i++)
        h_turn(&h);
    cr_assert_gt(hs.n, 0);
    cr_assert_eq(st_log_enforce_retention(l, T0 + 100, NULL), -EBUSY);
    cr_assert_eq(st_log_segment_count(l), 4);
    int n = hs.n;
    hs.n = 0;
    for (int i = 0; i < n; i++)
        hs.cb[i](hs.ctx[i], 0, 0);
    h_turn(&h);
    h_until(&h, &a.count, 4);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert_eq(st_log_start_offset(l), 3);
    st_store_set_io_hooks(h.store, NULL);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, store_tick_enforces_retention_every_check_interval)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = 1000;
    st_store_set_retention_check_interval_ms(h.store, 60000);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        append_ts(&h, l, &ap, &a, T0);
    st_store_tick(h.store, T0 + 500); /* first tick: a check, nothing expired */
    cr_assert_eq(st_store_stats(h.store)->retention_checks, 1);
    cr_assert_eq(st_log_segment_count(l), 3);
    st_store_tick(h.store, T0 + 59000); /* expired, but no check is due */
    cr_assert_eq(st_log_segment_count(l), 3);
    cr_assert_eq(st_store_stats(h.store)->retention_checks, 1);
    st_store_tick(h.store, T0 + 60500);
    cr_assert_eq(st_store_stats(h.store)->retention_checks, 2);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert_eq(st_log_start_offset(l), 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* --- DeleteRecords and the log start offset ------------------------------------------- */

static void read_file_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s", path);
    ssize_t n = read(fd, buf, cap - 1);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    close(fd);
}

Test(storage_retention, delete_records_raises_the_start_offset_and_it_survives_reopen)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.segment_bytes = 2 * len; /* two batches (2 offsets) per segment */
    cfg.retention_ms = -1;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 7; i++)
        append_ts(&h, l, &ap, &a, T0); /* segments 0, 2, 4, 6(active) */
    cr_assert_eq(st_log_segment_count(l), 4);

    int64_t low = -1;
    cr_assert_eq(st_log_delete_records(l, 3, &low), 0);
    cr_assert_eq(low, 3);
    cr_assert_eq(st_log_start_offset(l), 3);
    /* Segment 0 (offsets 0-1) is wholly below 3 and goes; segment 2 holds 3. */
    cr_assert_eq(st_log_segment_count(l), 3);
    cr_assert_eq(st_log_segment_base_offset(l, 0), 2);
    cr_assert(!seg_file_exists(&h, 0));

    /* Fetches below the start offset are out of range, even inside a kept segment. */
    st_slice_t sl;
    cr_assert_eq(st_log_read(l, 2, 1 << 20, &sl), SL_ERR_RANGE);
    cr_assert_eq(st_log_read(l, 0, 1 << 20, &sl), SL_ERR_RANGE);
    cr_assert_eq(st_log_read(l, 3, 1 << 20, &sl), 0);
    int64_t first = -1, last = -1;
    cr_assert_geq(slice_batches(&sl, &first, &last), 1);
    cr_assert_eq(first, 3);
    st_slice_release(&sl);

    /* Never lowered; above the HWM is out of range. */
    cr_assert_eq(st_log_delete_records(l, 1, &low), 0);
    cr_assert_eq(low, 3);
    cr_assert_eq(st_log_delete_records(l, 8, &low), SL_ERR_RANGE);
    cr_assert_eq(st_log_delete_records(l, -2, &low), SL_ERR_RANGE);
    cr_assert_eq(st_log_start_offset(l), 3);

    /* Kafka's checkpoint text format, one entry. */
    char path[SL_MAX_PATH], text[256];
    snprintf(path, sizeof(path), "%s/log-start-offset-checkpoint", h.dir);
    read_file_text(path, text, sizeof(text));
    cr_assert_str_eq(text, "0\n1\ntopic 0 3\n");

    st_log_close(l);
    l = h_open(&h, &cfg, false);
    cr_assert_eq(st_log_start_offset(l), 3);
    cr_assert_eq(st_log_read(l, 2, 1 << 20, &sl), SL_ERR_RANGE);
    st_log_close(l);
    l = h_open(&h, &cfg, true); /* and after a recovery */
    cr_assert_eq(st_log_start_offset(l), 3);

    /* -1 means the high watermark: everything goes but the active segment. */
    cr_assert_eq(st_log_delete_records(l, -1, &low), 0);
    cr_assert_eq(low, 7);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert_eq(st_log_read(l, 6, 1 << 20, &sl), SL_ERR_RANGE);
    cr_assert_eq(st_log_read(l, 7, 1 << 20, &sl), 0);
    cr_assert_eq(sl.len, 0);
    append_ts(&h, l, &ap, &a, T0);
    cr_assert_eq(st_log_read(l, 7, 1 << 20, &sl), 0);
    cr_assert_eq(sl.len, len);
    st_slice_release(&sl);
    st_log_close(l);
    l = h_open(&h, &cfg, false);
    cr_assert_eq(st_log_start_offset(l), 7);
    cr_assert_eq(st_log_end_offset(l), 8);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, an_unreadable_start_offset_file_is_ignored)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    append_ts(&h, l, &ap, &a, T0);
    append_ts(&h, l, &ap, &a, T0);
    cr_assert_eq(st_log_delete_records(l, 1, NULL), 0);
    st_log_close(l);
    char path[SL_MAX_PATH];
    snprintf(path, sizeof(path), "%s/log-start-offset-checkpoint", h.dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("garbage", f);
    fclose(f);
    l = h_open(&h, NULL, false);
    cr_assert_eq(st_log_start_offset(l), 0);
    cr_assert_eq(st_log_end_offset(l), 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* --- flush policy ----------------------------------------------------------------------- */

Test(storage_retention, flush_messages_triggers_a_group_commit_fdatasync)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.flush_messages = 10;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    const st_store_stats_t *st = st_store_stats(h.store);
    append_n(&h, l, &ap, &a, 3, 3, 10, false); /* 9 records, acks=1: no sync */
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st->sync_rounds, 0);
    cr_assert_eq(st->fdatasyncs, 0);
    append_n(&h, l, &ap, &a, 1, 3, 10, false); /* 12 >= 10: one flush */
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st->policy_flushes, 1);
    cr_assert_eq(st->sync_rounds, 1);
    cr_assert_eq(st->fdatasyncs, 1);
    append_n(&h, l, &ap, &a, 2, 3, 10, false); /* 18: 6 since the flush */
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st->sync_rounds, 1);
    append_n(&h, l, &ap, &a, 2, 3, 10, false); /* 24: 12 since: a second one */
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st->policy_flushes, 2);
    cr_assert_eq(st->sync_rounds, 2);
    cr_assert_eq(st->fdatasyncs, 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, flush_is_off_by_default)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    append_n(&h, l, &ap, &a, 200, 5, 10, false);
    st_store_tick(h.store, T0 * 2);
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st_store_stats(h.store)->sync_rounds, 0);
    cr_assert_eq(st_store_stats(h.store)->policy_flushes, 0);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, flush_ms_flushes_unflushed_data_from_the_store_tick)
{
    harness_t h;
    h_init(&h);
    h_fake_clock(&h);
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.flush_ms = 1000;
    cfg.retention_ms = -1;
    st_log_t *l = h_open(&h, &cfg, false); /* last flush = open = T0 */
    appended_t ap = {0};
    acks_t a = {0};
    const st_store_stats_t *st = st_store_stats(h.store);
    append_n(&h, l, &ap, &a, 2, 1, 10, false);
    st_store_tick(h.store, T0 + 500);
    h_turn(&h);
    cr_assert_eq(st->sync_rounds, 0);
    fake_now_ms = T0 + 1600;
    st_store_tick(h.store, fake_now_ms);
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st->policy_flushes, 1);
    cr_assert_eq(st->sync_rounds, 1);
    cr_assert_eq(st->fdatasyncs, 1);
    /* Nothing unflushed: no flush, however much time passes. */
    fake_now_ms = T0 + 5000;
    st_store_tick(h.store, fake_now_ms);
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st->sync_rounds, 1);
    /* New data: flushed at the first check flush_ms after the last flush. */
    append_n(&h, l, &ap, &a, 1, 1, 10, false);
    st_store_tick(h.store, T0 + 6000);
    for (int i = 0; i < 5; i++)
        h_turn(&h);
    cr_assert_eq(st->sync_rounds, 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* --- recovery point ----------------------------------------------------------------------- */

static void flip_byte(const char *path, off_t pos)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, pos), 1);
    b ^= 0xff;
    cr_assert_eq(pwrite(fd, &b, 1, pos), 1);
    close(fd);
}

Test(storage_retention, an_unclean_open_re_reads_only_segments_past_the_recovery_point)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = -1;
    st_store_set_recovery_checkpoint_interval_ms(h.store, 1000);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 5; i++) { /* acks=all: durable through offset 4 */
        int k = ap.count++;
        ap.buf[k] = make_batch(1, 100, T0, &ap.len[k]);
        cr_assert_eq(st_log_append(l, ap.buf[k], ap.len[k], true, on_ack, &a), 0);
        h_until(&h, &a.count, i + 1);
    }
    const st_store_stats_t *st = st_store_stats(h.store);
    st_store_tick(h.store, T0);
    cr_assert_eq(st->recovery_checkpoints, 1);
    char path[SL_MAX_PATH], text[256];
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", h.dir);
    read_file_text(path, text, sizeof(text));
    cr_assert_str_eq(text, "0\n1\ntopic 0 5\n");
    for (int i = 0; i < 5; i++) /* acks=1: not durable, the point stays */
        append_ts(&h, l, &ap, &a, T0);
    st_store_tick(h.store, T0 + 1000);
    cr_assert_eq(st->recovery_checkpoints, 1);
    read_file_text(path, text, sizeof(text));
    cr_assert_str_eq(text, "0\n1\ntopic 0 5\n");
    st_log_close(l);
    cr_assert_eq(st_log_segment_count(l = h_open(&h, &cfg, false)), 10);
    st_log_close(l);

    /* Damage below the recovery point goes unnoticed: those segments are trusted. */
    char seg2[SL_MAX_PATH];
    snprintf(seg2, sizeof(seg2), "%s/%020d.log", h.dir, 2);
    flip_byte(seg2, len - 5);
    uint64_t before = st->segments_recovered;
    l = h_open(&h, &cfg, true);
    cr_assert_eq(st->segments_recovered - before, 5, "re-read %llu",
                 (unsigned long long)(st->segments_recovered - before));
    cr_assert_eq(st_log_end_offset(l), 10);
    cr_assert_eq(st_log_segment_count(l), 10);
    /* The re-read segments were fdatasynced by the open: the point moves to LEO. */
    st_store_tick(h.store, T0 + 2000);
    read_file_text(path, text, sizeof(text));
    cr_assert_str_eq(text, "0\n1\ntopic 0 10\n");
    int k = ap.count++;
    ap.buf[k] = make_batch(1, 100, T0, &ap.len[k]);
    cr_assert_eq(st_log_append(l, ap.buf[k], ap.len[k], true, on_ack, &a), 0);
    h_until(&h, &a.count, a.count + 1);
    st_store_tick(h.store, T0 + 3000);
    read_file_text(path, text, sizeof(text));
    cr_assert_str_eq(text, "0\n1\ntopic 0 11\n");
    st_log_close(l);

    /* Without the file every segment is re-read, and the damage is found. */
    cr_assert_eq(unlink(path), 0);
    before = st->segments_recovered;
    l = h_open(&h, &cfg, true);
    cr_assert_eq(st->segments_recovered - before, 3); /* 0, 1, 2: truncated in 2 */
    cr_assert_eq(st_log_end_offset(l), 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, offset_for_timestamp_answers_nothing_below_the_start_offset)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    append_n(&h, l, &ap, &a, 2, 4, 10, false); /* offsets 0-7, ts 1000000 + offset */
    int64_t off = -2, ts = -2;
    cr_assert_eq(st_log_offset_for_timestamp(l, 0, &off, &ts), 0);
    cr_assert_eq(off, 0);
    cr_assert_eq(st_log_delete_records(l, 2, NULL), 0);
    cr_assert_eq(st_log_offset_for_timestamp(l, 0, &off, &ts), 0);
    cr_assert_eq(off, 2);
    cr_assert_eq(ts, 1000002);
    cr_assert_eq(st_log_delete_records(l, 5, NULL), 0);
    cr_assert_eq(st_log_offset_for_timestamp(l, 1000001, &off, &ts), 0);
    cr_assert_eq(off, 5);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_retention, delete_records_during_a_sync_deletes_the_segments_after_it)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    uint32_t len;
    one_batch_segments(&cfg, &len);
    cfg.retention_ms = -1;
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        append_ts(&h, l, &ap, &a, T0);
    held_sync_t hs = {0};
    st_io_hooks_t hooks = {.sync = hold_sync, .arg = &hs};
    st_store_set_io_hooks(h.store, &hooks);
    int k = ap.count++;
    ap.buf[k] = make_batch(1, 100, T0, &ap.len[k]);
    cr_assert_eq(st_log_append(l, ap.buf[k], ap.len[k], true, on_ack, &a), 0);
    for (int i = 0; i < 50 && hs.n == 0; i++)
        h_turn(&h);
    cr_assert_gt(hs.n, 0);
    int64_t low = -1;
    cr_assert_eq(st_log_delete_records(l, 3, &low), 0);
    cr_assert_eq(low, 3);
    st_slice_t sl;
    cr_assert_eq(st_log_read(l, 2, 1 << 20, &sl), SL_ERR_RANGE);
    cr_assert_eq(st_log_segment_count(l), 4); /* files wait for the sync */
    int n = hs.n;
    hs.n = 0;
    for (int i = 0; i < n; i++)
        hs.cb[i](hs.ctx[i], 0, 0);
    h_until(&h, &a.count, 4);
    h_turn(&h);
    cr_assert_eq(st_log_segment_count(l), 1);
    cr_assert_eq(st_log_segment_base_offset(l, 0), 3);
    st_store_set_io_hooks(h.store, NULL);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}
