/* test_storage_producer.c — idempotent-producer state (st_producer.h) through
 * st_log_append: sequence checks, duplicates answered with the original offsets in
 * offset order, fencing, epoch bumps, the unknown-producer rule, expiry, state
 * rebuilt at open, and st_log_set_config. */
#define SH_TMP_TAG "pst"
#include "storage_harness.h"
#include "st_internal.h" /* producer state and open statistics */
#include "st_producer.h"

static int64_t fake_now_ms = 1700000000000LL;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now_ms;
}

#define PID 4242

/* Appends one batch of `records` records for (pid, epoch, seq); returns the rc of
 * st_log_append. The buffer is kept in ap. */
static int papp(st_log_t *l, appended_t *ap, acks_t *a, int64_t pid, int16_t epoch, int32_t seq,
                int records, bool sync)
{
    int k = ap->count++;
    cr_assert_lt(k, 4096);
    ap->buf[k] = make_producer_batch(records, 8, 1000000 + st_log_end_offset(l), pid, epoch, seq,
                                     &ap->len[k]);
    ap->base[k] = st_log_end_offset(l);
    return st_log_append(l, ap->buf[k], ap->len[k], sync, on_ack, a);
}

/* Same, and waits for the callback; returns the base offset the callback reported. */
static int64_t papp_ok(harness_t *h, st_log_t *l, appended_t *ap, acks_t *a, int64_t pid,
                       int16_t epoch, int32_t seq, int records)
{
    int target = a->count + 1;
    int rc = papp(l, ap, a, pid, epoch, seq, records, false);
    cr_assert_eq(rc, 0, "append pid %lld epoch %d seq %d: %d", (long long)pid, epoch, seq, rc);
    h_until(h, &a->count, target);
    cr_assert_eq(a->errs[a->count - 1], 0);
    return a->bases[a->count - 1];
}

static void h_fake(harness_t *h)
{
    fake_now_ms = 1700000000000LL;
    st_store_set_clock(h->store, fake_clock, NULL);
}

/* --- st_log_set_config ------------------------------------------------------------- */

Test(storage_producer, set_config_applies_roll_and_rejects_invalid)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        papp_ok(&h, l, &ap, &a, -1, -1, -1, 1);
    cr_assert_eq(st_log_segment_count(l), 1);
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.segment_bytes = 0; /* invalid */
    cr_assert_eq(st_log_set_config(l, &cfg), SL_ERR_PROTO);
    st_log_config_default(&cfg);
    cfg.segment_bytes = ap.len[0]; /* one batch per segment from now on */
    cfg.retention_bytes = 0;
    cr_assert_eq(st_log_set_config(l, &cfg), 0);
    for (int i = 0; i < 3; i++)
        papp_ok(&h, l, &ap, &a, -1, -1, -1, 1);
    cr_assert_eq(st_log_segment_count(l), 4);
    cr_assert_eq(st_log_enforce_retention(l, 0, NULL), 0);
    cr_assert_eq(st_log_segment_count(l), 1); /* retention.bytes=0 keeps only the active */
    cr_assert_eq(st_log_start_offset(l), 5);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, set_config_flush_messages_takes_effect)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    papp_ok(&h, l, &ap, &a, -1, -1, -1, 1);
    uint64_t before = st_store_stats(h.store)->fdatasyncs;
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.flush_messages = 1;
    cr_assert_eq(st_log_set_config(l, &cfg), 0);
    papp_ok(&h, l, &ap, &a, -1, -1, -1, 1);
    for (int i = 0; i < 50 && st_store_stats(h.store)->fdatasyncs == before; i++)
        h_turn(&h);
    cr_assert_gt(st_store_stats(h.store)->fdatasyncs, before);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* --- sequences ---------------------------------------------------------------------- */

Test(storage_producer, in_sequence_batches_are_accepted_and_recorded)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 0, 3), 0); /* seq 0..2 */
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 3, 2), 3); /* seq 3..4 */
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 5, 1), 5);
    cr_assert_eq(st_log_end_offset(l), 6);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, duplicates_of_the_last_five_answer_the_original_offsets)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    int64_t orig[6];
    papp_ok(&h, l, &ap, &a, -1, -1, -1, 1); /* a non-idempotent batch at offset 0 */
    for (int i = 0; i < 6; i++)
        orig[i] = papp_ok(&h, l, &ap, &a, PID, 0, i * 2, 2); /* seqs 2i..2i+1 */
    int64_t leo = st_log_end_offset(l);
    uint64_t writes = st_store_stats(h.store)->appends;
    for (int i = 1; i < 6; i++) {
        int target = a.count + 1;
        cr_assert_eq(papp(l, &ap, &a, PID, 0, i * 2, 2, i % 2 == 0), 0);
        h_until(&h, &a.count, target);
        cr_assert_eq(a.errs[a.count - 1], 0);
        cr_assert_eq(a.bases[a.count - 1], orig[i], "dup %d: %lld != %lld", i,
                     (long long)a.bases[a.count - 1], (long long)orig[i]);
    }
    cr_assert_eq(st_log_end_offset(l), leo); /* nothing written */
    cr_assert_eq(st_store_stats(h.store)->appends, writes);
    cr_assert_eq(st_store_stats(h.store)->duplicate_appends, 5);
    /* The 6th-oldest fell out of the window: an out-of-order sequence now. */
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 0, 2, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    /* A partial overlap is not a duplicate either. */
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 10, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 12, 1), leo);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* Write hook holding every write until released. */
typedef struct held_writes {
    io_cb_t cb[16];
    void *ctx[16];
    uint32_t len[16];
    int n;
} held_writes_t;

static int hold_write(void *arg, io_ring_t *ring, int fd, const void *buf, uint32_t len,
                      uint64_t file_pos, io_cb_t cb, void *cb_ctx)
{
    (void)ring;
    held_writes_t *hw = arg;
    cr_assert_lt(hw->n, 16);
    cr_assert_eq(pwrite(fd, buf, len, (off_t)file_pos), (ssize_t)len);
    hw->cb[hw->n] = cb;
    hw->ctx[hw->n] = cb_ctx;
    hw->len[hw->n] = len;
    hw->n++;
    return 0;
}

Test(storage_producer, a_duplicate_is_answered_only_after_the_original_completes)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    held_writes_t hw = {0};
    st_io_hooks_t hooks = {.write = hold_write, .arg = &hw};
    st_store_set_io_hooks(h.store, &hooks);
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 0, 2, true), 0);  /* original, sync */
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 0, 2, false), 0); /* its retry */
    for (int i = 0; i < 20; i++)
        h_turn(&h);
    cr_assert_eq(a.count, 0, "the duplicate was answered before its original");
    cr_assert_eq(hw.n, 1);
    st_store_set_io_hooks(h.store, NULL);
    hw.cb[0](hw.ctx[0], (int32_t)hw.len[0], 0);
    h_until(&h, &a.count, 2);
    cr_assert_eq(a.bases[0], 0);
    cr_assert_eq(a.bases[1], 0);
    cr_assert_eq(a.errs[0] | a.errs[1], 0);
    /* A sync duplicate of a completed non-sync original waits for an fdatasync. */
    uint64_t syncs = st_store_stats(h.store)->fdatasyncs;
    papp_ok(&h, l, &ap, &a, PID, 0, 2, 1);
    int target = a.count + 1;
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 2, 1, true), 0);
    h_until(&h, &a.count, target);
    cr_assert_eq(a.bases[a.count - 1], 2);
    cr_assert_gt(st_store_stats(h.store)->fdatasyncs, syncs);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, a_gap_is_out_of_order)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    papp_ok(&h, l, &ap, &a, PID, 0, 0, 2);
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 3, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 1, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    cr_assert_eq(st_log_end_offset(l), 2);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 2, 1), 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, an_older_epoch_is_fenced)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    papp_ok(&h, l, &ap, &a, PID, 3, 0, 1);
    cr_assert_eq(papp(l, &ap, &a, PID, 2, 1, 1, false), ST_ERR_INVALID_PRODUCER_EPOCH);
    cr_assert_eq(papp(l, &ap, &a, PID, 2, 0, 1, false), ST_ERR_INVALID_PRODUCER_EPOCH);
    cr_assert_eq(a.count, 1);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, an_epoch_bump_needs_sequence_zero_and_replaces_the_state)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    papp_ok(&h, l, &ap, &a, PID, 0, 0, 1);
    papp_ok(&h, l, &ap, &a, PID, 0, 1, 1);
    cr_assert_eq(papp(l, &ap, &a, PID, 1, 2, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 1, 0, 1), 2);
    /* The old epoch is now fenced, its batches are no duplicates any more. */
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 1, 1, false), ST_ERR_INVALID_PRODUCER_EPOCH);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 1, 1, 1), 3);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, an_unknown_producer_is_accepted_at_any_sequence_as_kafka_4_does)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 5, 999, 2), 0);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 5, 1001, 1), 2); /* continues from there */
    cr_assert_eq(papp(l, &ap, &a, PID, 5, 1003, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, sequences_wrap_from_int32_max_to_zero)
{
    harness_t h;
    h_init(&h);
    st_log_t *l = h_open(&h, NULL, false);
    appended_t ap = {0};
    acks_t a = {0};
    cr_assert_eq(st_pstate_last_seq(INT32_MAX - 1, 2), 0);
    papp_ok(&h, l, &ap, &a, PID, 0, INT32_MAX - 2, 2); /* ..INT32_MAX-1 */
    papp_ok(&h, l, &ap, &a, PID, 0, INT32_MAX, 1);     /* INT32_MAX */
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 0, 1), 3);
    papp_ok(&h, l, &ap, &a, PID, 0, 1, 1);
    /* A batch spanning the wrap: INT32_MAX-... handled by last_seq. */
    int target = a.count + 1;
    cr_assert_eq(papp(l, &ap, &a, PID, 0, INT32_MAX, 1, false), 0); /* a retained dup */
    h_until(&h, &a.count, target);
    cr_assert_eq(a.bases[a.count - 1], 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

/* --- expiry and the producer limit --------------------------------------------------- */

Test(storage_producer, producers_expire_after_producer_id_expiration_ms)
{
    harness_t h;
    h_init(&h);
    h_fake(&h);
    st_log_config_t cfg;
    st_log_config_default(&cfg);
    cfg.producer_id_expiration_ms = 10000;
    st_store_set_retention_check_interval_ms(h.store, 1000);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    papp_ok(&h, l, &ap, &a, PID, 0, 0, 1);
    fake_now_ms += 5000;
    papp_ok(&h, l, &ap, &a, PID + 1, 0, 0, 1);
    st_store_tick(h.store, fake_now_ms + 5001); /* PID is 10001 ms old */
    cr_assert_eq(st_store_stats(h.store)->producers_expired, 1);
    /* PID is forgotten: any sequence is accepted; PID+1 still checked. */
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 7, 1), 2);
    cr_assert_eq(papp(l, &ap, &a, PID + 1, 0, 7, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    /* A lowered expiry (st_log_set_config) applies at the next check. */
    cfg.producer_id_expiration_ms = 1;
    cr_assert_eq(st_log_set_config(l, &cfg), 0);
    st_store_tick(h.store, fake_now_ms + 7000);
    cr_assert_eq(st_store_stats(h.store)->producers_expired, 3);
    cr_assert_null(st_log_find_producer(l, PID + 1));
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, a_full_map_forgets_the_least_recently_used_producer)
{
    st_pstate_t m;
    st_pstate_init(&m);
    st_producer_batch_t b = {0, 0, 0, 0, 0};
    for (int64_t p = 0; p < ST_MAX_PRODUCERS_PER_PARTITION; p++) {
        b.first_offset = b.last_offset = p;
        cr_assert_eq(st_pstate_record(&m, p * 7 + 1, 0, &b, 0), 0);
    }
    b.first_seq = b.last_seq = 1;
    cr_assert_eq(st_pstate_record(&m, 1, 0, &b, 0), 0); /* touch the oldest */
    b.first_seq = b.last_seq = 0;
    cr_assert_eq(st_pstate_record(&m, 3, 0, &b, 0), 0); /* a new one: evicts pid 8 */
    cr_assert_eq(m.count, ST_MAX_PRODUCERS_PER_PARTITION);
    cr_assert_eq(m.evicted, 1);
    cr_assert_not_null(st_pstate_find(&m, 1));
    cr_assert_null(st_pstate_find(&m, 8));
    cr_assert_not_null(st_pstate_find(&m, 3));
    for (uint32_t i = 1; i < m.count; i++)
        cr_assert_lt(m.v[i - 1].producer_id, m.v[i].producer_id);
    st_pstate_free(&m);
}

/* --- snapshots ------------------------------------------------------------------------ */

static uint32_t pbatch_len(void)
{
    uint32_t len;
    free(make_producer_batch(1, 8, 0, PID, 0, 0, &len));
    return len;
}

static bool snap_exists(const harness_t *h, int64_t off)
{
    char path[SL_MAX_PATH];
    snprintf(path, sizeof(path), "%s/%020lld.snapshot", h->dir, (long long)off);
    return access(path, F_OK) == 0;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* One batch per segment: every append after the first rolls. */
static void one_per_segment(st_log_config_t *cfg)
{
    st_log_config_default(cfg);
    cfg->segment_bytes = pbatch_len();
    cfg->retention_ms = -1;
}

static void expect_last_batch(const st_log_t *l, int64_t pid, int16_t epoch, int32_t last_seq,
                              int64_t last_offset)
{
    const st_producer_t *p = st_log_find_producer(l, pid);
    cr_assert_not_null(p, "producer %lld unknown", (long long)pid);
    cr_assert_eq(p->epoch, epoch);
    cr_assert_geq(p->batch_count, 1);
    const st_producer_batch_t *b = &p->batches[p->batch_count - 1];
    cr_assert_eq(b->last_seq, last_seq);
    cr_assert_eq(b->first_seq, last_seq);
    cr_assert_eq(b->last_offset, last_offset);
    cr_assert_eq(b->first_offset, last_offset);
    cr_assert_eq(b->max_timestamp, 1000000 + last_offset);
}

Test(storage_producer, a_snapshot_is_written_at_each_roll_and_the_last_two_kept)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    one_per_segment(&cfg);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    papp_ok(&h, l, &ap, &a, PID, 2, 0, 1);
    papp_ok(&h, l, &ap, &a, PID + 1, 0, 0, 1); /* roll at 1: snapshot 1 */
    cr_assert(snap_exists(&h, 1));
    papp_ok(&h, l, &ap, &a, PID, 2, 1, 1);  /* snapshot 2 */
    papp_ok(&h, l, &ap, &a, -1, -1, -1, 1); /* snapshot 3 */
    cr_assert(!snap_exists(&h, 1) && snap_exists(&h, 2) && snap_exists(&h, 3));
    /* Decode snapshot 3: the state after offsets 0..2. */
    char path[SL_MAX_PATH];
    snprintf(path, sizeof(path), "%s/%020d.snapshot", h.dir, 3);
    uint8_t buf[256];
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    cr_assert_eq(n, 10 + 2 * 46);
    cr_assert_eq(be(buf, 2), 1);
    cr_assert_eq(be(buf + 2, 4), kp_crc32c(0, buf + 6, (size_t)n - 6));
    cr_assert_eq(be(buf + 6, 4), 2);
    const uint8_t *e = buf + 10; /* sorted by producer id: PID first */
    cr_assert_eq(be(e, 8), PID);
    cr_assert_eq(be(e + 8, 2), 2);            /* epoch */
    cr_assert_eq(be(e + 10, 4), 1);           /* lastSequence */
    cr_assert_eq(be(e + 14, 8), 2);           /* lastOffset */
    cr_assert_eq(be(e + 22, 4), 0);           /* offsetDelta */
    cr_assert_eq(be(e + 26, 8), 1000002);     /* timestamp */
    cr_assert_eq(be(e + 34, 4), 0xffffffffu); /* coordinatorEpoch -1 */
    cr_assert_eq(be(e + 38, 8), UINT64_MAX);  /* currentTxnFirstOffset -1 */
    cr_assert_eq(be(e + 46, 8), PID + 1);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, a_clean_reopen_loads_the_snapshot_at_the_log_end)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    one_per_segment(&cfg);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 4; i++)
        papp_ok(&h, l, &ap, &a, PID, 1, i, 1);
    papp_ok(&h, l, &ap, &a, PID + 9, 0, 41, 1);
    st_log_close(l);
    cr_assert(snap_exists(&h, 5));
    l = h_open(&h, &cfg, false);
    cr_assert_eq(l->pstate_loaded_from, 5);
    cr_assert_eq(l->pstate_replayed_batches, 0);
    cr_assert_eq(l->producers.count, 2);
    expect_last_batch(l, PID, 1, 3, 3);
    expect_last_batch(l, PID + 9, 0, 41, 4);
    /* The retry of the last batch is still a duplicate; the sequence continues. */
    int target = a.count + 1;
    cr_assert_eq(papp(l, &ap, &a, PID, 1, 3, 1, false), 0);
    h_until(&h, &a.count, target);
    cr_assert_eq(a.bases[a.count - 1], 3);
    cr_assert_eq(papp(l, &ap, &a, PID, 1, 5, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 4, 1, false), ST_ERR_INVALID_PRODUCER_EPOCH);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 1, 4, 1), 5);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, an_unclean_open_uses_the_snapshot_below_the_recovery_start)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    one_per_segment(&cfg);
    st_store_set_recovery_checkpoint_interval_ms(h.store, 1000);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 4; i++) { /* acks=all: durable through offset 3 */
        int target = a.count + 1;
        cr_assert_eq(papp(l, &ap, &a, PID, 0, i, 1, true), 0);
        h_until(&h, &a.count, target);
    }
    st_store_tick(h.store, 1);
    cr_assert_eq(st_log_checkpoint_recovery_point(l), 0);
    for (int i = 4; i < 7; i++)
        papp_ok(&h, l, &ap, &a, PID, 0, i, 1);
    st_log_close(l);
    /* A crash before the close: no snapshot at the end, the recovery point at 4. */
    char path[SL_MAX_PATH];
    snprintf(path, sizeof(path), "%s/%020d.snapshot", h.dir, 7);
    cr_assert_eq(unlink(path), 0);
    cr_assert(snap_exists(&h, 6) && !snap_exists(&h, 4));
    l = h_open(&h, &cfg, true);
    /* Recovery re-reads from segment 4; the newest snapshot at or below 4 is gone
     * (only the last two are kept), so the state is replayed from the log start. */
    cr_assert_eq(l->pstate_loaded_from, 0);
    cr_assert_eq(l->pstate_replayed_batches, 7);
    const st_producer_t *p = st_log_find_producer(l, PID);
    cr_assert_eq(p->batch_count, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(p->batches[i].first_seq, i + 2);
    expect_last_batch(l, PID, 0, 6, 6);
    st_log_close(l);
    /* Now a snapshot at the recovery start exists (5 and 6 after one more roll). */
    l = h_open(&h, &cfg, false);
    papp_ok(&h, l, &ap, &a, PID, 0, 7, 1); /* roll: snapshot 7 (and 8 kept) */
    papp_ok(&h, l, &ap, &a, PID, 0, 8, 1); /* snapshot 8 */
    cr_assert_eq(st_log_checkpoint_recovery_point(l), 0);
    st_log_close(l);
    snprintf(path, sizeof(path), "%s/%020d.snapshot", h.dir, 9);
    unlink(path);
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", h.dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "0\n1\ntopic 0 8\n");
    fclose(f);
    cr_assert(snap_exists(&h, 8));
    l = h_open(&h, &cfg, true);
    cr_assert_eq(l->pstate_loaded_from, 8);
    cr_assert_eq(l->pstate_replayed_batches, 1);
    expect_last_batch(l, PID, 0, 8, 8);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 9, 1), 9);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, a_corrupt_snapshot_is_rebuilt_from_the_log)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    one_per_segment(&cfg);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    for (int i = 0; i < 3; i++)
        papp_ok(&h, l, &ap, &a, PID, 0, i, 1);
    st_log_close(l);
    char path[SL_MAX_PATH];
    snprintf(path, sizeof(path), "%s/%020d.snapshot", h.dir, 3);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, 20), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, 20), 1);
    close(fd);
    l = h_open(&h, &cfg, false);
    cr_assert_eq(l->pstate_loaded_from, 0);
    cr_assert_eq(l->pstate_replayed_batches, 3);
    expect_last_batch(l, PID, 0, 2, 2);
    cr_assert_eq(st_log_find_producer(l, PID)->batch_count, 3);
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 4, 1, false), ST_ERR_OUT_OF_ORDER_SEQUENCE);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}

Test(storage_producer, a_failed_write_fails_its_duplicate_and_is_forgotten_by_the_repair)
{
    harness_t h;
    h_init(&h);
    st_log_config_t cfg;
    one_per_segment(&cfg);
    st_log_t *l = h_open(&h, &cfg, false);
    appended_t ap = {0};
    acks_t a = {0};
    papp_ok(&h, l, &ap, &a, PID, 0, 0, 1);
    held_writes_t hw = {0};
    st_io_hooks_t hooks = {.write = hold_write, .arg = &hw};
    st_store_set_io_hooks(h.store, &hooks);
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 1, 1, false), 0); /* rolls: snapshot 1 */
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 1, 1, false), 0); /* its retry */
    cr_assert_eq(papp(l, &ap, &a, PID, 0, 2, 1, false), 0); /* rolls: snapshot 2 */
    cr_assert(snap_exists(&h, 2));
    cr_assert_eq(hw.n, 2);
    st_store_set_io_hooks(h.store, NULL);
    hw.cb[0](hw.ctx[0], -ENOSPC, 0);
    hw.cb[1](hw.ctx[1], (int32_t)hw.len[1], 0);
    h_until(&h, &a.count, 4);
    cr_assert_eq(a.errs[1], -ENOSPC);
    cr_assert_eq(a.errs[2], -ENOSPC); /* the duplicate shares its original's fate */
    cr_assert_eq(a.errs[3], -ENOSPC);
    for (int i = 0; i < 10 && st_log_end_offset(l) != 1; i++)
        h_turn(&h);
    cr_assert_eq(st_log_end_offset(l), 1); /* repaired */
    cr_assert(!snap_exists(&h, 2));
    expect_last_batch(l, PID, 0, 0, 0);
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 1, 1), 1); /* written again, not a dup */
    cr_assert_eq(papp_ok(&h, l, &ap, &a, PID, 0, 2, 1), 2);
    st_log_close(l);
    l = h_open(&h, &cfg, false);
    expect_last_batch(l, PID, 0, 2, 2);
    st_log_close(l);
    free_bufs(&ap);
    h_fini(&h);
}
