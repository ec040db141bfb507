/* Unit tests for io/: timers, the SPSC queue (across threads), the ring's
 * dispatch, the registered region (_FIXED opcodes), the wait-all receive and
 * the MSG_RING doorbell. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_ring.h"
#include "io_spsc.h"
#include "io_timer.h"

static int fired_order[16];
static int fired_count;

static void record_fire(void *ctx)
{
    fired_order[fired_count++] = (int)(intptr_t)ctx;
}

Test(io_timer, fires_in_deadline_order_and_skips_cancelled)
{
    io_timers_t t;
    cr_assert_eq(io_timers_init(&t, 8), 0);
    io_timer_t tm[5];
    uint64_t deadlines[5] = {50, 10, 40, 20, 30};
    for (int i = 0; i < 5; i++) {
        io_timer_setup(&tm[i], record_fire, (void *)(intptr_t)i);
        cr_assert_eq(io_timer_arm(&t, &tm[i], deadlines[i]), 0);
    }
    io_timer_cancel(&t, &tm[2]); /* deadline 40 */
    cr_assert_not(io_timer_armed(&tm[2]));
    fired_count = 0;
    cr_assert_eq(io_timers_next_ns(&t, 0), 10);
    cr_assert_eq(io_timers_run(&t, 35), 3);
    cr_assert_eq(fired_order[0], 1);
    cr_assert_eq(fired_order[1], 3);
    cr_assert_eq(fired_order[2], 4);
    cr_assert_eq(io_timers_run(&t, 100), 1);
    cr_assert_eq(fired_order[3], 0);
    cr_assert_eq(io_timers_next_ns(&t, 100), -1);
    io_timers_destroy(&t);
}

Test(io_timer, rearm_moves_deadline_and_full_heap_refuses)
{
    io_timers_t t;
    cr_assert_eq(io_timers_init(&t, 2), 0);
    io_timer_t a, b, c;
    io_timer_setup(&a, record_fire, (void *)1);
    io_timer_setup(&b, record_fire, (void *)2);
    io_timer_setup(&c, record_fire, (void *)3);
    cr_assert_eq(io_timer_arm(&t, &a, 100), 0);
    cr_assert_eq(io_timer_arm(&t, &b, 200), 0);
    cr_assert_eq(io_timer_arm(&t, &c, 50), -ENOSPC);
    cr_assert_eq(io_timer_arm(&t, &b, 10), 0); /* re-arm does not need a new slot */
    cr_assert_eq(io_timers_next_ns(&t, 0), 10);
    io_timers_destroy(&t);
}

Test(io_spsc, fifo_order_and_full_queue_refuses)
{
    io_spsc_t q;
    cr_assert_eq(io_spsc_init(&q, 4), 0);
    int v[5];
    for (int i = 0; i < 4; i++)
        cr_assert(io_spsc_push(&q, &v[i]));
    cr_assert_not(io_spsc_push(&q, &v[4]));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(io_spsc_pop(&q), &v[i]);
    cr_assert_null(io_spsc_pop(&q));
    io_spsc_destroy(&q);
}

#define SPSC_ITEMS 200000
static io_spsc_t g_q;

static void *producer(void *arg)
{
    (void)arg;
    for (uintptr_t i = 1; i <= SPSC_ITEMS; i++)
        while (!io_spsc_push(&g_q, (void *)i))
            ;
    return NULL;
}

Test(io_spsc, two_threads_see_every_item_once_in_order)
{
    cr_assert_eq(io_spsc_init(&g_q, 64), 0);
    pthread_t th;
    pthread_create(&th, NULL, producer, NULL);
    uintptr_t expect = 1;
    while (expect <= SPSC_ITEMS) {
        void *p = io_spsc_pop(&g_q);
        if (!p)
            continue;
        cr_assert_eq((uintptr_t)p, expect);
        expect++;
    }
    pthread_join(th, NULL);
    cr_assert_null(io_spsc_pop(&g_q));
    io_spsc_destroy(&g_q);
}

static int cb_calls;
static int32_t cb_res;

static void on_done(void *ctx, int32_t res, uint32_t flags)
{
    (void)ctx;
    (void)flags;
    cb_calls++;
    cb_res = res;
}

Test(io_ring, write_and_read_complete_through_callbacks)
{
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 8, 4), 0);
    char path[] = "/tmp/sluice-io-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    cb_calls = 0;
    cr_assert_eq(io_submit_write(&r, fd, "hello", 5, 0, on_done, NULL), 0);
    while (cb_calls == 0)
        cr_assert(io_ring_run_once(&r, -1) >= 0);
    cr_assert_eq(cb_res, 5);
    char buf[8] = {0};
    cr_assert_eq(io_submit_read(&r, fd, buf, 5, 0, on_done, NULL), 0);
    while (cb_calls == 1)
        cr_assert(io_ring_run_once(&r, -1) >= 0);
    cr_assert_eq(cb_res, 5);
    cr_assert_str_eq(buf, "hello");
    cr_assert_eq(r.pending_in_use, 0);
    close(fd);
    io_ring_destroy(&r);
}

Test(io_ring, buffers_in_the_registered_region_use_the_fixed_opcodes)
{
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 8, 4), 0);
    size_t len = 1 << 20;
    uint8_t *region = aligned_alloc(4096, len);
    cr_assert_not_null(region);
    cr_assert_eq(io_ring_register_region(&r, region, len), 0);
    cr_assert(io_ring_is_fixed(&r, region, len));
    cr_assert(io_ring_is_fixed(&r, region + len - 1, 1));
    cr_assert_not(io_ring_is_fixed(&r, region + len - 1, 2), "straddles the end");
    cr_assert_not(io_ring_is_fixed(&r, region + len, 1));
    char path[] = "/tmp/sluice-io-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    memcpy(region + 4096, "registered", 10);
    cb_calls = 0;
    cr_assert_eq(io_submit_write(&r, fd, region + 4096, 10, 0, on_done, NULL), 0);
    cr_assert_eq(io_submit_write(&r, fd, " plain", 6, 10, on_done, NULL), 0);
    while (cb_calls < 2)
        cr_assert(io_ring_run_once(&r, -1) >= 0);
    cr_assert_eq(r.fixed_ops, 1, "only the write from the region is fixed");
    memset(region, 0, 64);
    cr_assert_eq(io_submit_read(&r, fd, region, 16, 0, on_done, NULL), 0);
    while (cb_calls < 3)
        cr_assert(io_ring_run_once(&r, -1) >= 0);
    cr_assert_eq(cb_res, 16);
    cr_assert_eq(memcmp(region, "registered plain", 16), 0);
    cr_assert_eq(r.fixed_ops, 2);
    close(fd);
    io_ring_destroy(&r);
    free(region);
}

static int g_peer = -1;

/* Writes 300,000 bytes (byte i = i % 251) in 7,000-byte pieces, pausing. */
static void *trickle(void *arg)
{
    (void)arg;
    static uint8_t data[300000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i % 251);
    for (size_t off = 0; off < sizeof(data);) {
        size_t n = sizeof(data) - off < 7000 ? sizeof(data) - off : 7000;
        ssize_t w = write(g_peer, data + off, n);
        cr_assert(w > 0);
        off += (size_t)w;
        usleep(500);
    }
    return NULL;
}

Test(io_ring, recv_waits_for_every_byte_then_reports_end_of_stream)
{
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 8, 4), 0);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    g_peer = sv[1];
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, trickle, NULL), 0);
    static uint8_t got[300000 + 16];
    cb_calls = 0;
    cr_assert_eq(io_submit_recv(&r, sv[0], got, 300000, on_done, NULL, NULL), 0);
    while (cb_calls == 0)
        cr_assert(io_ring_run_once(&r, -1) >= 0);
    cr_assert_eq(cb_res, 300000, "one completion for the whole length");
    for (size_t i = 0; i < 300000; i++)
        cr_assert_eq(got[i], (uint8_t)(i % 251), "byte %zu", i);
    pthread_join(t, NULL);
    /* The peer sends 5 bytes and closes: fewer than asked, then 0. */
    cr_assert_eq(write(sv[1], "tail!", 5), 5);
    close(sv[1]);
    cr_assert_eq(io_submit_recv(&r, sv[0], got, 100, on_done, NULL, NULL), 0);
    while (cb_calls == 1)
        cr_assert(io_ring_run_once(&r, -1) >= 0);
    cr_assert_eq(cb_res, 5);
    cr_assert_eq(io_submit_recv(&r, sv[0], got, 100, on_done, NULL, NULL), 0);
    while (cb_calls == 2)
        cr_assert(io_ring_run_once(&r, -1) >= 0);
    cr_assert_eq(cb_res, 0);
    close(sv[0]);
    io_ring_destroy(&r);
}

Test(io_ring, pending_table_full_returns_null_without_consuming)
{
    io_ring_t r;
    cr_assert_eq(io_ring_init(&r, 8, 2), 0);
    struct io_uring_sqe *a = io_ring_sqe(&r, on_done, NULL, NULL);
    cr_assert_not_null(a);
    io_uring_prep_nop(a);
    struct io_uring_sqe *b = io_ring_sqe(&r, on_done, NULL, NULL);
    cr_assert_not_null(b);
    io_uring_prep_nop(b);
    cr_assert_null(io_ring_sqe(&r, on_done, NULL, NULL));
    io_ring_destroy(&r);
}

static int doorbells;
static void on_bell(void *ctx, int32_t payload)
{
    (void)ctx;
    doorbells += payload;
}

Test(io_ring, doorbell_wakes_the_target_ring)
{
    io_ring_t a, b;
    cr_assert_eq(io_ring_init(&a, 8, 4), 0);
    cr_assert_eq(io_ring_init(&b, 8, 4), 0);
    b.on_doorbell = on_bell;
    doorbells = 0;
    io_doorbell_ring(&a, b.uring.ring_fd, 7);
    cr_assert_eq(io_ring_submit(&a), 0);
    for (int i = 0; i < 100 && doorbells == 0; i++)
        io_ring_run_once(&b, 10000000);
    cr_assert_eq(doorbells, 7);
    io_ring_destroy(&a);
    io_ring_destroy(&b);
}
