/* test_storage_metalog.c — the metadata log: append through the ring and replay in
 * order, callback order, torn tails, corrupt records, aborting replays, files that
 * are not metadata logs, limits. */
#include "sl_base.h"
#include "sl_limits.h"
#include "io_ring.h"
#include "st_metalog.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct harness {
    io_ring_t ring;
    char root[128];
    char path[192];
} harness_t;

static void h_init(harness_t *h)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->root, sizeof(h->root), "/tmp/sluice-test-metalog-XXXXXX");
    cr_assert(mkdtemp(h->root));
    snprintf(h->path, sizeof(h->path), "%s/__cluster_metadata.log", h->root);
    cr_assert_eq(io_ring_init(&h->ring, 64, 1024), 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void h_fini(harness_t *h)
{
    io_ring_destroy(&h->ring);
    nftw(h->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What replay saw. */
typedef struct seen {
    int count;
    uint16_t types[1024];
    uint32_t lens[1024];
    uint8_t first_bytes[1024];
    int abort_at; /* return 42 at this record (-1: never) */
} seen_t;

static int on_replay(void *ctx, uint16_t type, const uint8_t *payload, uint32_t len)
{
    seen_t *s = ctx;
    if (s->count == s->abort_at)
        return 42;
    cr_assert_lt(s->count, 1024);
    s->types[s->count] = type;
    s->lens[s->count] = len;
    s->first_bytes[s->count] = len ? payload[0] : 0;
    for (uint32_t i = 0; i < len; i++)
        cr_assert_eq(payload[i], (uint8_t)(type + i), "payload byte %u of record %d", i, s->count);
    s->count++;
    return 0;
}

/* Counts records whose CRC held; payload bytes may still be damaged in ways the CRC
 * cannot see only with probability 2^-32, so they are not checked here. */
static int on_replay_lenient(void *ctx, uint16_t type, const uint8_t *payload, uint32_t len)
{
    (void)payload;
    seen_t *s = ctx;
    cr_assert_lt(s->count, 1024);
    s->types[s->count] = type;
    s->lens[s->count] = len;
    s->count++;
    return 0;
}

typedef struct acks {
    int count;
    int errors;
    int order[1024];
} acks_t;

typedef struct ack_ctx {
    acks_t *acks;
    int index;
} ack_ctx_t;

static void on_ack(void *ctx, int err)
{
    ack_ctx_t *c = ctx;
    c->acks->order[c->acks->count++] = c->index;
    if (err)
        c->acks->errors++;
}

static st_metalog_t *open_log(harness_t *h, seen_t *s)
{
    memset(s, 0, sizeof(*s));
    s->abort_at = -1;
    st_metalog_t *m = NULL;
    cr_assert_eq(st_metalog_open(h->path, on_replay, s, &m), 0);
    return m;
}

/* Record i: type 100 + i, payload (i * 37) % 500 bytes of (type + k). */
static void append_records(harness_t *h, st_metalog_t *m, int from, int n)
{
    static ack_ctx_t ctxs[1024];
    acks_t a = {0};
    uint8_t payload[600];
    for (int i = from; i < from + n; i++) {
        uint16_t type = (uint16_t)(100 + i);
        uint32_t len = (uint32_t)((i * 37) % 500);
        for (uint32_t k = 0; k < len; k++)
            payload[k] = (uint8_t)(type + k);
        ctxs[i] = (ack_ctx_t){.acks = &a, .index = i};
        cr_assert_eq(st_metalog_append(m, &h->ring, type, payload, len, on_ack, &ctxs[i]), 0);
        memset(payload, 0xEE, sizeof(payload)); /* the log copied it */
    }
    for (int t = 0; t < 100000 && a.count < n; t++)
        cr_assert_geq(io_ring_run_once(&h->ring, 1000 * 1000), 0);
    cr_assert_eq(a.count, n);
    cr_assert_eq(a.errors, 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(a.order[i], from + i, "callbacks in append order");
}

static void check_seen(const seen_t *s, int n)
{
    cr_assert_eq(s->count, n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(s->types[i], 100 + i);
        cr_assert_eq(s->lens[i], (uint32_t)((i * 37) % 500));
    }
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* File offset of record i (records as written by append_records from 0). */
static off_t record_pos(int i)
{
    off_t pos = ST_METALOG_HEADER_BYTES;
    for (int k = 0; k < i; k++)
        pos += ST_METALOG_RECORD_OVERHEAD + (k * 37) % 500;
    return pos;
}

Test(storage_metalog, replays_every_record_in_order_after_reopen)
{
    harness_t h;
    h_init(&h);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    cr_assert_eq(s.count, 0);
    cr_assert_eq(st_metalog_size(m), ST_METALOG_HEADER_BYTES);
    append_records(&h, m, 0, 100);
    cr_assert_eq(st_metalog_size(m), record_pos(100));
    st_metalog_close(m);
    cr_assert_eq(file_size(h.path), record_pos(100));

    m = open_log(&h, &s);
    check_seen(&s, 100);
    append_records(&h, m, 100, 20);
    st_metalog_close(m);
    m = open_log(&h, &s);
    check_seen(&s, 120);
    st_metalog_close(m);
    h_fini(&h);
}

Test(storage_metalog, truncates_a_torn_tail)
{
    harness_t h;
    h_init(&h);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    append_records(&h, m, 0, 30);
    st_metalog_close(m);
    /* Torn inside the last record's payload, then inside a record header. */
    cr_assert_eq(truncate(h.path, record_pos(30) - 3), 0);
    m = open_log(&h, &s);
    check_seen(&s, 29);
    cr_assert_eq(file_size(h.path), record_pos(29));
    st_metalog_close(m);
    cr_assert_eq(truncate(h.path, record_pos(29) + 4), 0);
    m = open_log(&h, &s);
    check_seen(&s, 29);
    cr_assert_eq(file_size(h.path), record_pos(29));
    /* Appends continue after the cut. */
    append_records(&h, m, 29, 5);
    st_metalog_close(m);
    m = open_log(&h, &s);
    check_seen(&s, 34);
    st_metalog_close(m);
    h_fini(&h);
}

Test(storage_metalog, truncates_at_a_corrupt_record)
{
    harness_t h;
    h_init(&h);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    append_records(&h, m, 0, 60);
    st_metalog_close(m);
    /* A flipped payload byte in record 40, then a damaged length in record 20. */
    int fd = open(h.path, O_RDWR);
    uint8_t b;
    off_t at = record_pos(40) + ST_METALOG_RECORD_OVERHEAD + 5;
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x01;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
    m = open_log(&h, &s);
    check_seen(&s, 40);
    cr_assert_eq(file_size(h.path), record_pos(40));
    st_metalog_close(m);

    fd = open(h.path, O_RDWR);
    static const uint8_t len_bytes[4] = {0, 0, 0, 3};
    cr_assert_eq(pwrite(fd, len_bytes, 4, record_pos(20) + 4), 4);
    close(fd);
    m = open_log(&h, &s);
    check_seen(&s, 20);
    st_metalog_close(m);

    fd = open(h.path, O_RDWR);
    static const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
    cr_assert_eq(pwrite(fd, huge, 4, record_pos(10) + 4), 4);
    close(fd);
    m = open_log(&h, &s);
    check_seen(&s, 10);
    st_metalog_close(m);
    h_fini(&h);
}

Test(storage_metalog, a_replay_callback_error_aborts_the_open)
{
    harness_t h;
    h_init(&h);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    append_records(&h, m, 0, 10);
    st_metalog_close(m);
    memset(&s, 0, sizeof(s));
    s.abort_at = 4;
    cr_assert_eq(st_metalog_open(h.path, on_replay, &s, &m), 42);
    cr_assert_eq(file_size(h.path), record_pos(10), "nothing truncated");
    h_fini(&h);
}

Test(storage_metalog, refuses_a_file_that_is_not_a_metadata_log)
{
    harness_t h;
    h_init(&h);
    int fd = open(h.path, O_CREAT | O_WRONLY, 0644);
    static const char text[] = "this is somebody else's file";
    cr_assert_eq(write(fd, text, sizeof(text)), (ssize_t)sizeof(text));
    close(fd);
    seen_t s = {.abort_at = -1};
    st_metalog_t *m;
    cr_assert_eq(st_metalog_open(h.path, on_replay, &s, &m), SL_ERR_CORRUPT);
    cr_assert_eq(file_size(h.path), (off_t)sizeof(text), "left untouched");
    h_fini(&h);
}

Test(storage_metalog, a_torn_file_header_starts_an_empty_log)
{
    harness_t h;
    h_init(&h);
    int fd = open(h.path, O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(write(fd, "SLUIC", 5), 5);
    close(fd);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    cr_assert_eq(s.count, 0);
    cr_assert_eq(file_size(h.path), ST_METALOG_HEADER_BYTES);
    append_records(&h, m, 0, 3);
    st_metalog_close(m);
    m = open_log(&h, &s);
    check_seen(&s, 3);
    st_metalog_close(m);
    h_fini(&h);
}

Test(storage_metalog, rejects_payloads_over_the_limit)
{
    harness_t h;
    h_init(&h);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    uint8_t *big = calloc(1, ST_METALOG_MAX_RECORD_BYTES + 1);
    acks_t a = {0};
    ack_ctx_t c = {.acks = &a};
    cr_assert_eq(st_metalog_append(m, &h.ring, 1, big, ST_METALOG_MAX_RECORD_BYTES + 1, on_ack, &c),
                 SL_ERR_LIMIT);
    cr_assert_eq(a.count, 0);
    free(big);
    st_metalog_close(m);
    h_fini(&h);
}

Test(storage_metalog, close_waits_for_pending_appends)
{
    harness_t h;
    h_init(&h);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    acks_t a = {0};
    static ack_ctx_t ctxs[50];
    uint8_t payload[600];
    for (int i = 0; i < 50; i++) {
        uint16_t type = (uint16_t)(100 + i);
        uint32_t len = (uint32_t)((i * 37) % 500);
        for (uint32_t k = 0; k < len; k++)
            payload[k] = (uint8_t)(type + k);
        ctxs[i] = (ack_ctx_t){.acks = &a, .index = i};
        cr_assert_eq(st_metalog_append(m, &h.ring, type, payload, len, on_ack, &ctxs[i]), 0);
    }
    st_metalog_close(m);
    cr_assert_eq(a.count, 50);
    cr_assert_eq(a.errors, 0);
    m = open_log(&h, &s);
    check_seen(&s, 50);
    st_metalog_close(m);
    h_fini(&h);
}

Test(storage_metalog, random_damage_never_crashes_replay)
{
    harness_t h;
    h_init(&h);
    seen_t s;
    st_metalog_t *m = open_log(&h, &s);
    append_records(&h, m, 0, 40);
    st_metalog_close(m);
    off_t size = file_size(h.path);
    uint8_t *pristine = malloc((size_t)size);
    int fd = open(h.path, O_RDONLY);
    cr_assert_eq(read(fd, pristine, (size_t)size), size);
    close(fd);
    uint64_t x = 0xC0FFEE;
    int refused = 0;
    for (int iter = 0; iter < 500; iter++) {
        fd = open(h.path, O_WRONLY | O_TRUNC);
        cr_assert_eq(write(fd, pristine, (size_t)size), size);
        for (int k = 0; k < 3; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint8_t v = (uint8_t)(x >> 32);
            cr_assert_eq(pwrite(fd, &v, 1, (off_t)(x % (uint64_t)size)), 1);
        }
        close(fd);
        if (iter % 3 == 0)
            cr_assert_eq(truncate(h.path, (off_t)(x % (uint64_t)size)), 0);
        memset(&s, 0, sizeof(s));
        s.abort_at = -1;
        int rc = st_metalog_open(h.path, on_replay_lenient, &s, &m);
        if (rc == SL_ERR_CORRUPT) {
            refused++; /* the file header was hit */
            continue;
        }
        cr_assert_eq(rc, 0);
        cr_assert_leq(s.count, 40);
        cr_assert_eq(file_size(h.path), s.count ? record_pos(s.count) : ST_METALOG_HEADER_BYTES);
        st_metalog_close(m);
    }
    printf("metalog random damage: 500 opens, %d refused (damaged file header)\n", refused);
    fflush(stdout);
    free(pristine);
    h_fini(&h);
}
