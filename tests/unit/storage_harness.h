/*
 * storage_harness.h — what the storage unit tests share: record batches built by
 * hand (make_batch), a temp directory with a ring and a store (harness_t, h_init,
 * h_fini, h_turn, h_until, h_open), append helpers that check stamping and CRCs
 * (acks_t, appended_t, append_n), and slice/file inspection. Test-only: it uses
 * Criterion's asserts. Include once per test file after defining SH_TMP_TAG (the
 * temp directory's tag, e.g. "log"); every function is static.
 */
#ifndef STORAGE_HARNESS_H
#define STORAGE_HARNESS_H

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
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SH_TMP_TAG
#error "define SH_TMP_TAG before including storage_harness.h"
#endif
#define SH_UNUSED __attribute__((unused))

/* --- batches -------------------------------------------------------------------- */

SH_UNUSED static size_t put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

SH_UNUSED static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* An uncompressed batch of `records` records, each with a value_bytes value, record i
 * stamped base_ts + i, from producer (pid, epoch) at base_seq (-1s: none). Caller
 * frees. */
SH_UNUSED static uint8_t *make_producer_batch(int records, uint32_t value_bytes, int64_t base_ts,
                                              int64_t pid, int16_t epoch, int32_t base_seq,
                                              uint32_t *len_out)
{
    size_t cap = 61 + (size_t)records * (value_bytes + 32);
    uint8_t *b = calloc(1, cap);
    cr_assert(b);
    size_t pos = 61;
    for (int i = 0; i < records; i++) {
        uint8_t body[32];
        size_t n = 0;
        body[n++] = 0;                          /* attributes */
        n += put_varint(body + n, i);           /* timestampDelta */
        n += put_varint(body + n, i);           /* offsetDelta */
        n += put_varint(body + n, -1);          /* null key */
        n += put_varint(body + n, value_bytes); /* value length */
        size_t rec_len = n + value_bytes + 1;   /* + headerCount */
        pos += put_varint(b + pos, (int64_t)rec_len);
        memcpy(b + pos, body, n);
        pos += n;
        memset(b + pos, 'a' + (i % 26), value_bytes);
        pos += value_bytes;
        b[pos++] = 0; /* no headers */
    }
    put_be(b + 8, pos - 12, 4);
    put_be(b + 12, (uint64_t)-1, 4);
    b[16] = 2;
    put_be(b + 23, (uint64_t)(records - 1), 4);
    put_be(b + 27, (uint64_t)base_ts, 8);
    put_be(b + 35, (uint64_t)(base_ts + records - 1), 8);
    put_be(b + 43, (uint64_t)pid, 8);
    put_be(b + 51, (uint64_t)(uint16_t)epoch, 2);
    put_be(b + 53, (uint64_t)(uint32_t)base_seq, 4);
    put_be(b + 57, (uint64_t)records, 4);
    put_be(b + 17, kp_crc32c(0, b + 21, pos - 21), 4);
    *len_out = (uint32_t)pos;
    return b;
}

/* The same without a producer. */
SH_UNUSED static uint8_t *make_batch(int records, uint32_t value_bytes, int64_t base_ts,
                                     uint32_t *len_out)
{
    return make_producer_batch(records, value_bytes, base_ts, -1, -1, -1, len_out);
}

/* --- harness: a temp dir, a ring, a store ------------------------------------------ */

typedef struct harness {
    io_ring_t ring;
    st_store_t *store;
    char root[128];
    char dir[192];
    uint8_t topic_id[16];
    unsigned turns;
} harness_t;

SH_UNUSED static void h_init(harness_t *h)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->root, sizeof(h->root), "/tmp/sluice-test-" SH_TMP_TAG "-XXXXXX");
    cr_assert(mkdtemp(h->root));
    snprintf(h->dir, sizeof(h->dir), "%s/topic-0", h->root);
    for (int i = 0; i < 16; i++)
        h->topic_id[i] = (uint8_t)(0x10 + i);
    cr_assert_eq(io_ring_init(&h->ring, 256, 4096), 0);
    cr_assert_eq(st_store_open(&h->store, &h->ring, 0), 0);
}

SH_UNUSED static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

SH_UNUSED static void h_fini(harness_t *h)
{
    st_store_close(h->store);
    io_ring_destroy(&h->ring);
    nftw(h->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* One event-loop turn as the shard runs it. */
SH_UNUSED static void h_turn(harness_t *h)
{
    int rc = io_ring_run_once(&h->ring, 1000 * 1000); /* at most 1 ms */
    cr_assert(rc >= 0 || rc == -EINTR, "run_once %d", rc);
    st_store_end_turn(h->store);
    h->turns++;
}

SH_UNUSED static void h_until(harness_t *h, const int *counter, int target)
{
    for (int i = 0; i < 100000 && *counter < target; i++)
        h_turn(h);
    cr_assert_geq(*counter, target, "timed out waiting (%d < %d)", *counter, target);
}

SH_UNUSED static st_log_t *h_open(harness_t *h, const st_log_config_t *cfg, bool recover)
{
    st_log_config_t def;
    st_log_config_default(&def);
    st_log_t *l = NULL;
    int rc = st_log_open(h->store, h->dir, h->topic_id, cfg ? cfg : &def, recover, &l);
    cr_assert_eq(rc, 0, "st_log_open: %d", rc);
    return l;
}

typedef struct acks {
    int count;
    int errors;
    int last_err;
    int64_t bases[4096];
    int errs[4096];
} acks_t;

SH_UNUSED static void on_ack(void *ctx, int err, int64_t base_offset)
{
    acks_t *a = ctx;
    cr_assert_lt(a->count, 4096);
    a->bases[a->count] = base_offset;
    a->errs[a->count] = err;
    a->count++;
    if (err) {
        a->errors++;
        a->last_err = err;
    }
}

/* Appends n batches of `records` records each and waits for every callback. Batches
 * are kept alive in bufs (caller frees with free_bufs). */
typedef struct appended {
    uint8_t *buf[4096];
    uint32_t len[4096];
    int64_t base[4096];
    int64_t pos[4096];
    int count;
} appended_t;

SH_UNUSED static void free_bufs(appended_t *ap)
{
    for (int i = 0; i < ap->count; i++)
        free(ap->buf[i]);
    ap->count = 0;
}

SH_UNUSED static void append_n(harness_t *h, st_log_t *l, appended_t *ap, acks_t *a, int n, int records,
                     uint32_t value_bytes, bool sync)
{
    int target = a->count + n;
    for (int i = 0; i < n; i++) {
        int k = ap->count++;
        ap->buf[k] = make_batch(records, value_bytes, 1000000 + st_log_end_offset(l), &ap->len[k]);
        ap->base[k] = st_log_end_offset(l);
        int rc = st_log_append(l, ap->buf[k], ap->len[k], sync, on_ack, a);
        cr_assert_eq(rc, 0, "append %d: %d", k, rc);
        kp_batch_header_t bh;
        cr_assert_eq(kp_batch_parse_header(ap->buf[k], ap->len[k], &bh), 0);
        cr_assert_eq(bh.base_offset, ap->base[k]); /* stamped */
        cr_assert_eq(bh.partition_leader_epoch, 0);
        cr_assert_eq(kp_batch_verify_crc(ap->buf[k], &bh), 0); /* stamping kept the CRC */
    }
    h_until(h, &a->count, target);
}

/* Reads the slice's bytes and returns the batches it holds (complete ones). */
SH_UNUSED static int slice_batches(const st_slice_t *s, int64_t *first_base, int64_t *last_offset)
{
    uint8_t *b = malloc(s->len ? s->len : 1);
    cr_assert(b);
    cr_assert_eq(pread(s->fd, b, s->len, s->file_pos), (ssize_t)s->len);
    kp_batch_iter_t it;
    kp_batch_header_t hd;
    const uint8_t *p;
    kp_batch_iter_init(&it, b, s->len, true);
    int n = 0, rc;
    while ((rc = kp_batch_iter_next(&it, &hd, &p)) == KP_ITER_BATCH) {
        if (n == 0)
            *first_base = hd.base_offset;
        *last_offset = kp_batch_last_offset(&hd);
        n++;
    }
    cr_assert(rc == KP_ITER_END || rc == SL_ERR_AGAIN, "slice holds corrupt bytes (%d)", rc);
    free(b);
    return n;
}

SH_UNUSED static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

#endif /* STORAGE_HARNESS_H */
