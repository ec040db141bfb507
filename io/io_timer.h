/*
 * io_timer.h — per-shard timers: a binary min-heap of deadlines.
 *
 * The shard loop asks io_timers_next_ns() how long it may sleep in
 * io_ring_run_once(), then calls io_timers_run() to fire what is due. A timer
 * is embedded in its owner's struct (no allocation); heap_index tells whether it
 * is armed (IO_TIMER_UNARMED otherwise). The heap's capacity is fixed at init;
 * arming past it returns -ENOSPC and the caller must treat it as backpressure.
 * Callbacks may arm or cancel any timer, including their own.
 *
 * Owner: one shard. Not thread-safe.
 */
#ifndef IO_TIMER_H
#define IO_TIMER_H

#include "sl_base.h"

#define IO_TIMER_UNARMED UINT32_MAX

typedef struct io_timer {
    uint64_t deadline_ns; /* CLOCK_MONOTONIC */
    void (*cb)(void *ctx);
    void *ctx;
    uint32_t heap_index;
} io_timer_t;

typedef struct io_timers {
    io_timer_t **heap;
    uint32_t count;
    uint32_t cap;
} io_timers_t;

uint64_t io_now_ns(void);
uint64_t io_now_ms(void);

int io_timers_init(io_timers_t *t, uint32_t cap);
void io_timers_destroy(io_timers_t *t);

/* Prepares an unarmed timer. */
void io_timer_setup(io_timer_t *tm, void (*cb)(void *ctx), void *ctx);
/* (Re)arms tm for deadline_ns. Returns 0 or -ENOSPC. */
int io_timer_arm(io_timers_t *t, io_timer_t *tm, uint64_t deadline_ns);
void io_timer_cancel(io_timers_t *t, io_timer_t *tm);
static inline bool io_timer_armed(const io_timer_t *tm)
{
    return tm->heap_index != IO_TIMER_UNARMED;
}
/* Nanoseconds until the earliest deadline (0 if due), or -1 if none armed. */
int64_t io_timers_next_ns(const io_timers_t *t, uint64_t now_ns);
/* Fires every timer whose deadline is <= now_ns. Returns how many fired. */
int io_timers_run(io_timers_t *t, uint64_t now_ns);

#endif /* IO_TIMER_H */
