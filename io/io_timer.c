/* io_timer.c — see io_timer.h. */
#include "io_timer.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

uint64_t io_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t io_now_ms(void)
{
    return io_now_ns() / 1000000ULL;
}

int io_timers_init(io_timers_t *t, uint32_t cap)
{
    t->heap = calloc(cap, sizeof(*t->heap));
    if (!t->heap)
        return -ENOMEM;
    t->count = 0;
    t->cap = cap;
    return 0;
}

void io_timers_destroy(io_timers_t *t)
{
    free(t->heap);
    t->heap = NULL;
    t->count = t->cap = 0;
}

void io_timer_setup(io_timer_t *tm, void (*cb)(void *ctx), void *ctx)
{
    tm->deadline_ns = 0;
    tm->cb = cb;
    tm->ctx = ctx;
    tm->heap_index = IO_TIMER_UNARMED;
}

static void heap_set(io_timers_t *t, uint32_t i, io_timer_t *tm)
{
    t->heap[i] = tm;
    tm->heap_index = i;
}

static void sift_up(io_timers_t *t, uint32_t i)
{
    io_timer_t *tm = t->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (t->heap[parent]->deadline_ns <= tm->deadline_ns)
            break;
        heap_set(t, i, t->heap[parent]);
        i = parent;
    }
    heap_set(t, i, tm);
}

static void sift_down(io_timers_t *t, uint32_t i)
{
    io_timer_t *tm = t->heap[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= t->count)
            break;
        if (child + 1 < t->count && t->heap[child + 1]->deadline_ns < t->heap[child]->deadline_ns)
            child++;
        if (tm->deadline_ns <= t->heap[child]->deadline_ns)
            break;
        heap_set(t, i, t->heap[child]);
        i = child;
    }
    heap_set(t, i, tm);
}

void io_timer_cancel(io_timers_t *t, io_timer_t *tm)
{
    if (tm->heap_index == IO_TIMER_UNARMED)
        return;
    uint32_t i = tm->heap_index;
    ASSERT(i < t->count && t->heap[i] == tm);
    tm->heap_index = IO_TIMER_UNARMED;
    t->count--;
    if (i == t->count)
        return;
    io_timer_t *moved = t->heap[t->count];
    heap_set(t, i, moved);
    sift_down(t, i);
    sift_up(t, moved->heap_index);
}

int io_timer_arm(io_timers_t *t, io_timer_t *tm, uint64_t deadline_ns)
{
    if (tm->heap_index != IO_TIMER_UNARMED)
        io_timer_cancel(t, tm);
    if (t->count == t->cap)
        return -ENOSPC;
    tm->deadline_ns = deadline_ns;
    heap_set(t, t->count, tm);
    t->count++;
    sift_up(t, t->count - 1);
    return 0;
}

int64_t io_timers_next_ns(const io_timers_t *t, uint64_t now_ns)
{
    if (t->count == 0)
        return -1;
    uint64_t d = t->heap[0]->deadline_ns;
    return d <= now_ns ? 0 : (int64_t)(d - now_ns);
}

int io_timers_run(io_timers_t *t, uint64_t now_ns)
{
    int fired = 0;
    while (t->count > 0 && t->heap[0]->deadline_ns <= now_ns) {
        io_timer_t *tm = t->heap[0];
        io_timer_cancel(t, tm);
        tm->cb(tm->ctx);
        fired++;
    }
    return fired;
}
