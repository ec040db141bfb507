/* st_producer.c — per-partition idempotent-producer state. Contracts in st_producer.h. */
#include "sl_base.h"
#include "sl_limits.h"
#include "st_log.h"
#include "st_producer.h"

#include <errno.h>
#include <stdlib.h>

void st_pstate_init(st_pstate_t *m)
{
    memset(m, 0, sizeof(*m));
}

void st_pstate_free(st_pstate_t *m)
{
    free(m->v);
    memset(m, 0, sizeof(*m));
}

void st_pstate_clear(st_pstate_t *m)
{
    m->count = 0;
}

/* Index of producer_id, or of where it would be inserted (*found false). */
static uint32_t pstate_search(const st_pstate_t *m, int64_t producer_id, bool *found)
{
    uint32_t lo = 0, hi = m->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].producer_id < producer_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->count && m->v[lo].producer_id == producer_id;
    return lo;
}

const st_producer_t *st_pstate_find(const st_pstate_t *m, int64_t producer_id)
{
    bool found;
    uint32_t i = pstate_search(m, producer_id, &found);
    return found ? &m->v[i] : NULL;
}

int32_t st_pstate_last_seq(int32_t base_seq, int32_t last_offset_delta)
{
    int64_t s = (int64_t)base_seq + last_offset_delta;
    if (s > INT32_MAX)
        s -= (int64_t)INT32_MAX + 1; /* Kafka's DefaultRecordBatch.incrementSequence */
    return (int32_t)s;
}

static bool in_sequence(int32_t last_seq, int32_t next_seq)
{
    return (int64_t)next_seq == (int64_t)last_seq + 1 || (next_seq == 0 && last_seq == INT32_MAX);
}

int st_pstate_check(const st_pstate_t *m, int64_t producer_id, int16_t epoch, int32_t base_seq,
                    int32_t last_seq, st_producer_batch_t *dup)
{
    ASSERT(producer_id >= 0);
    const st_producer_t *p = st_pstate_find(m, producer_id);
    if (!p)
        return 0; /* rule 5: Kafka 4 accepts any sequence */
    if (epoch == p->epoch) {
        for (uint32_t i = 0; i < p->batch_count; i++) {
            if (p->batches[i].first_seq == base_seq && p->batches[i].last_seq == last_seq) {
                if (dup)
                    *dup = p->batches[i];
                return ST_PSTATE_DUPLICATE;
            }
        }
    }
    if (epoch < p->epoch)
        return ST_ERR_INVALID_PRODUCER_EPOCH;
    if (epoch > p->epoch)
        return base_seq == 0 ? 0 : ST_ERR_OUT_OF_ORDER_SEQUENCE;
    if (p->batch_count == 0)
        return 0; /* no sequence known (cannot happen after a record; kept for safety) */
    return in_sequence(p->batches[p->batch_count - 1].last_seq, base_seq)
               ? 0
               : ST_ERR_OUT_OF_ORDER_SEQUENCE;
}

static void pstate_remove_at(st_pstate_t *m, uint32_t i)
{
    ASSERT(i < m->count);
    memmove(&m->v[i], &m->v[i + 1], (m->count - i - 1) * sizeof(*m->v));
    m->count--;
}

/* Makes room for one more entry: grows the array, or drops the least recently used
 * entry when the limit is reached. 0 or -ENOMEM. */
static int pstate_make_room(st_pstate_t *m)
{
    if (m->count >= ST_MAX_PRODUCERS_PER_PARTITION) {
        uint32_t lru = 0;
        for (uint32_t i = 1; i < m->count; i++) {
            if (m->v[i].use < m->v[lru].use)
                lru = i;
        }
        pstate_remove_at(m, lru);
        m->evicted++;
        return 0;
    }
    if (m->count < m->cap)
        return 0;
    uint32_t cap = m->cap ? SL_MIN(m->cap * 2, (uint32_t)ST_MAX_PRODUCERS_PER_PARTITION) : 16;
    st_producer_t *v = realloc(m->v, (size_t)cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    m->v = v;
    m->cap = cap;
    return 0;
}

/* The entry of producer_id, inserted empty (epoch, no batches) if missing. */
static int pstate_get_or_insert(st_pstate_t *m, int64_t producer_id, int16_t epoch,
                                st_producer_t **out)
{
    bool found;
    uint32_t i = pstate_search(m, producer_id, &found);
    if (!found) {
        int err = pstate_make_room(m);
        if (err)
            return err;
        i = pstate_search(m, producer_id, &found); /* an eviction may have moved it */
        memmove(&m->v[i + 1], &m->v[i], (m->count - i) * sizeof(*m->v));
        m->count++;
        memset(&m->v[i], 0, sizeof(m->v[i]));
        m->v[i].producer_id = producer_id;
        m->v[i].epoch = epoch;
    }
    *out = &m->v[i];
    return 0;
}

int st_pstate_record(st_pstate_t *m, int64_t producer_id, int16_t epoch,
                     const st_producer_batch_t *b, int64_t now_ms)
{
    ASSERT(producer_id >= 0 && b);
    st_producer_t *p;
    int err = pstate_get_or_insert(m, producer_id, epoch, &p);
    if (err)
        return err;
    if (p->epoch != epoch) {
        p->epoch = epoch; /* a new epoch replaces the state */
        p->batch_count = 0;
    }
    if (p->batch_count == ST_PRODUCER_BATCHES_RETAINED) {
        memmove(&p->batches[0], &p->batches[1], (ST_PRODUCER_BATCHES_RETAINED - 1) * sizeof(*b));
        p->batch_count--;
    }
    p->batches[p->batch_count++] = *b;
    p->last_append_ms = now_ms;
    p->use = ++m->use_clock;
    return 0;
}

int st_pstate_put(st_pstate_t *m, const st_producer_t *src)
{
    ASSERT(src->producer_id >= 0 && src->batch_count <= ST_PRODUCER_BATCHES_RETAINED);
    st_producer_t *p;
    int err = pstate_get_or_insert(m, src->producer_id, src->epoch, &p);
    if (err)
        return err;
    *p = *src;
    p->use = ++m->use_clock;
    return 0;
}

uint32_t st_pstate_expire(st_pstate_t *m, int64_t now_ms, int64_t expiration_ms)
{
    uint32_t j = 0, n = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        if (now_ms - m->v[i].last_append_ms > expiration_ms) {
            n++;
            continue;
        }
        if (i != j)
            m->v[j] = m->v[i];
        j++;
    }
    m->count = j;
    m->expired += n;
    return n;
}

void st_pstate_truncate(st_pstate_t *m, int64_t end)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < m->count; i++) {
        st_producer_t *p = &m->v[i];
        while (p->batch_count > 0 && p->batches[p->batch_count - 1].last_offset >= end)
            p->batch_count--;
        if (p->batch_count == 0)
            continue;
        if (i != j)
            m->v[j] = *p;
        j++;
    }
    m->count = j;
}
