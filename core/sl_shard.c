/*
 * sl_shard.c — the shard thread: ring set-up, the loop, cross-shard messages,
 * owned partitions and snapshot adoption. See sl_shard.h for the loop's order.
 */
#include "sl_base.h"
#include "sl_shard.h"
#include "sl_conn.h"
#include "sl_fetch.h"
#include "sl_group.h"
#include "sl_topic_config.h"
#include "sl_log.h"
#include "sl_producer_ids.h"
#include "st_log.h"
#include "st_store.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------- messages */

static void list_push(sl_xmsg_list_t *l, sl_xmsg_t *m)
{
    m->next = NULL;
    if (l->tail)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
}

void sl_shard_post(sl_shard_t *self, int target, sl_xmsg_t *m)
{
    ASSERT(target >= 0 && target < self->broker->shard_count);
    ASSERT(m->run);
    m->from_shard = (int16_t)self->id;
    if (target == self->id) {
        list_push(&self->local, m);
        return;
    }
    sl_shard_t *t = &self->broker->shards[target];
    if (self->overflow[target].head || !io_spsc_push(&t->inbox[self->id], m))
        list_push(&self->overflow[target], m);
    self->doorbell_due[target] = true;
}

/* Pushes spilled messages and rings the shards we posted to this turn. */
static void flush_outbound(sl_shard_t *s)
{
    for (int t = 0; t < s->broker->shard_count; t++) {
        sl_shard_t *target = &s->broker->shards[t];
        sl_xmsg_list_t *ov = &s->overflow[t];
        while (ov->head) {
            sl_xmsg_t *m = ov->head;
            if (!io_spsc_push(&target->inbox[s->id], m))
                break;
            ov->head = m->next;
            if (!ov->head)
                ov->tail = NULL;
            s->doorbell_due[t] = true;
        }
        if (s->doorbell_due[t]) {
            int fd = atomic_load_explicit(&target->ring_fd, memory_order_acquire);
            if (fd >= 0)
                io_doorbell_ring(&s->ring, fd, s->id);
            s->doorbell_due[t] = false;
        }
    }
}

/* Runs local messages and up to a batch of inbound ones from every shard.
 * Returns how many ran. */
static int run_messages(sl_shard_t *s)
{
    int ran = 0;
    for (int round = 0; round < 4 && s->local.head; round++) {
        sl_xmsg_list_t batch = s->local;
        s->local.head = s->local.tail = NULL;
        for (sl_xmsg_t *m = batch.head; m;) {
            sl_xmsg_t *next = m->next;
            m->run(s, m);
            ran++;
            m = next;
        }
    }
    for (int from = 0; from < s->broker->shard_count; from++) {
        if (from == s->id)
            continue;
        for (int i = 0; i < 1024; i++) {
            sl_xmsg_t *m = io_spsc_pop(&s->inbox[from]);
            if (!m)
                break;
            m->run(s, m);
            ran++;
        }
    }
    return ran;
}

static void on_doorbell(void *ctx, int32_t from_shard)
{
    (void)ctx;
    (void)from_shard; /* queues are drained every turn; the CQE only wakes us */
}

/* ------------------------------------------------------ owned partitions */

static uint32_t uuid_hash(const sl_uuid_t *u)
{
    uint32_t h;
    memcpy(&h, u->b + 12, sizeof(h));
    return h * 2654435761u;
}

static sl_local_topic_t *local_topic_find(sl_shard_t *s, const sl_uuid_t *id)
{
    if (!s->topics)
        return NULL;
    uint32_t h = uuid_hash(id) & s->topics_mask;
    while (s->topics[h].logs) {
        if (memcmp(&s->topics[h].id, id, sizeof(*id)) == 0)
            return &s->topics[h];
        h = (h + 1) & s->topics_mask;
    }
    return NULL;
}

struct st_log *sl_shard_log(sl_shard_t *s, const sl_uuid_t *topic_id, int32_t partition)
{
    sl_local_topic_t *t = local_topic_find(s, topic_id);
    if (!t || partition < 0 || partition >= t->partition_count)
        return NULL;
    return t->logs[partition];
}

int sl_partition_dir(const sl_config_t *c, const sl_topic_meta_t *t, int32_t partition,
                     char *out, size_t out_len)
{
    int16_t dir = t->partitions[partition].log_dir;
    if (dir < 0 || dir >= c->log_dir_count)
        dir = (int16_t)(partition % c->log_dir_count);
    int n = snprintf(out, out_len, "%s/%s-%d", c->log_dirs[dir], t->name, partition);
    return n > 0 && (size_t)n < out_len ? 0 : -ENAMETOOLONG;
}

static void log_config_for(const sl_config_t *c, const sl_topic_meta_t *t, st_log_config_t *lc)
{
    st_log_config_default(lc);
    lc->segment_bytes = sl_topic_config_long(c, t, "segment.bytes");
    lc->index_interval_bytes = (int32_t)sl_topic_config_long(c, t, "index.interval.bytes");
    lc->segment_index_bytes = (int32_t)sl_topic_config_long(c, t, "segment.index.bytes");
    lc->segment_ms = sl_topic_config_long(c, t, "segment.ms");
    lc->segment_jitter_ms = sl_topic_config_long(c, t, "segment.jitter.ms");
    lc->retention_ms = sl_topic_config_long(c, t, "retention.ms");
    lc->retention_bytes = sl_topic_config_long(c, t, "retention.bytes");
    lc->flush_messages = sl_topic_config_long(c, t, "flush.messages");
    lc->flush_ms = sl_topic_config_long(c, t, "flush.ms");
    /* cleanup.policy=compact alone keeps data forever until compaction exists:
     * retention deletes only with the delete policy (Kafka's rule). */
    const char *policy = sl_topic_config_override(t, "cleanup.policy");
    if (!policy)
        policy = c->log_cleanup_policy;
    if (!strstr(policy, "delete")) {
        lc->retention_ms = -1;
        lc->retention_bytes = -1;
    }
}

/* Rebuilds the local topic table for snapshot m, reusing logs already open. */
int sl_shard_adopt(sl_shard_t *s, sl_meta_t *m)
{
    int first_err = 0;
    uint32_t size = 16;
    while (size < (uint32_t)m->topic_count * 2 + 2)
        size <<= 1;
    sl_local_topic_t *table = calloc(size, sizeof(*table));
    ASSERT(table); /* start-up sized; running out of memory here is fatal */
    uint32_t mask = size - 1, count = 0;
    for (int32_t i = 0; i < m->topic_count; i++) {
        const sl_topic_meta_t *t = m->topics[i];
        bool owns_any = false;
        for (int32_t p = 0; p < t->partition_count && !owns_any; p++)
            owns_any = t->partitions[p].shard % s->broker->shard_count == s->id;
        if (!owns_any)
            continue;
        sl_local_topic_t *old = local_topic_find(s, &t->id);
        uint32_t h = uuid_hash(&t->id) & mask;
        while (table[h].logs)
            h = (h + 1) & mask;
        sl_local_topic_t *lt = &table[h];
        lt->id = t->id;
        lt->partition_count = t->partition_count;
        lt->logs = calloc((size_t)t->partition_count, sizeof(*lt->logs));
        ASSERT(lt->logs);
        count++;
        for (int32_t p = 0; p < t->partition_count; p++) {
            if (t->partitions[p].shard % s->broker->shard_count != s->id)
                continue;
            if (old && p < old->partition_count && old->logs[p]) {
                lt->logs[p] = old->logs[p];
                old->logs[p] = NULL;
                /* Same topic id, new topic object: its configs were altered. */
                const sl_topic_meta_t *before = s->meta ? sl_meta_find_id(s->meta, &t->id) : NULL;
                if (before != t) {
                    st_log_config_t lc;
                    log_config_for(s->config, t, &lc);
                    if (st_log_set_config(lt->logs[p], &lc) != 0)
                        LOG_WARN("partition %s-%d: altered configs not applicable", t->name, p);
                }
                continue;
            }
            char dir[SL_MAX_PATH];
            if (sl_partition_dir(s->config, t, p, dir, sizeof(dir)) != 0) {
                LOG_ERROR("partition %s-%d: directory path too long", t->name, p);
                continue;
            }
            int16_t d = t->partitions[p].log_dir;
            if (d >= 0 && d < s->config->log_dir_count && s->broker->log_dirs_offline[d]) {
                LOG_WARN("partition %s-%d is offline: its log dir %s is offline", t->name, p,
                         s->config->log_dirs[d]);
                continue;
            }
            bool recover = !(d >= 0 && d < s->config->log_dir_count && s->broker->log_dirs_clean[d]);
            st_log_config_t lc;
            log_config_for(s->config, t, &lc);
            int rc = st_log_open(s->store, dir, t->id.b, &lc, recover, &lt->logs[p]);
            if (rc != 0) {
                LOG_ERROR("partition %s-%d: cannot open log in %s: %d", t->name, p, dir, rc);
                lt->logs[p] = NULL;
                if (!first_err)
                    first_err = rc;
            }
        }
    }
    /* Whatever is left in the old table belongs to deleted topics (or moved
     * partitions): delete deleted topics' data, close the rest. */
    if (s->topics) {
        for (uint32_t i = 0; i <= s->topics_mask; i++) {
            sl_local_topic_t *ot = &s->topics[i];
            if (!ot->logs)
                continue;
            bool still_exists = sl_meta_find_id(m, &ot->id) != NULL;
            for (int32_t p = 0; p < ot->partition_count; p++) {
                if (!ot->logs[p])
                    continue;
                if (still_exists)
                    st_log_close(ot->logs[p]);
                else
                    st_log_delete(ot->logs[p]);
            }
            free(ot->logs);
        }
        free(s->topics);
    }
    s->topics = table;
    s->topics_mask = mask;
    s->topic_count = count;
    sl_meta_t *old_meta = s->meta;
    s->meta = m;
    if (s->coord)
        sl_coord_adopted(s, old_meta);
    if (old_meta)
        sl_meta_unref(old_meta);
    return first_err;
}

static void close_all_logs(sl_shard_t *s)
{
    if (!s->topics)
        return;
    for (uint32_t i = 0; i <= s->topics_mask; i++) {
        sl_local_topic_t *t = &s->topics[i];
        if (!t->logs)
            continue;
        for (int32_t p = 0; p < t->partition_count; p++)
            if (t->logs[p])
                st_log_close(t->logs[p]);
        free(t->logs);
    }
    free(s->topics);
    s->topics = NULL;
}

void sl_shard_note_append(sl_shard_t *s)
{
    s->appends_this_turn++;
}

/* After a turn with appends: wake every shard that has parked fetches. */
static void wake_parked_fetches(sl_shard_t *s)
{
    if (!s->appends_this_turn)
        return;
    s->appends_this_turn = 0;
    /* Before reading the mask: a fetch parking concurrently either is in the
     * mask now or sees the new sequence number (h_fetch.c fetch_park). */
    atomic_fetch_add(&s->broker->append_seq, 1);
    uint64_t mask = atomic_load(&s->broker->parked_shards_mask);
    for (int t = 0; mask && t < s->broker->shard_count; t++) {
        if (!(mask & (1ULL << t)))
            continue;
        sl_shard_t *target = &s->broker->shards[t];
        if (t == s->id) {
            atomic_store_explicit(&target->fetch_wake, true, memory_order_release);
            continue;
        }
        if (!atomic_exchange_explicit(&target->fetch_wake, true, memory_order_acq_rel))
            s->doorbell_due[t] = true;
    }
}

/* ------------------------------------------------------------ the thread */

static void pin_to_cpu(sl_shard_t *s)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return;
    int n = CPU_COUNT(&allowed);
    if (n <= 0)
        return;
    int want = s->id % n, seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        if (seen++ == want) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0)
                LOG_DEBUG("pinned to cpu %d", cpu);
            return;
        }
    }
}

static void wait_for_all(sl_broker_t *b, _Atomic int *counter)
{
    while (atomic_load(counter) < b->shard_count && !atomic_load(&b->shards_failed))
        usleep(1000);
}

/* Registers registered.buffer.bytes (whole MiB) with the ring and lets the
 * pool's large buffers come from it. Pinned memory counts against
 * RLIMIT_MEMLOCK: when the kernel refuses, halve (while above 4 MiB), then
 * run without (plain READ/WRITE; only slower by what the measurement says). */
static void shard_setup_region(sl_shard_t *s)
{
    size_t mib = (size_t)1 << SL_POOL_MAX_SHIFT;
    size_t want = (size_t)s->config->registered_buffer_bytes / mib * mib;
    if (want != (size_t)s->config->registered_buffer_bytes && s->id == 0)
        LOG_WARN("registered.buffer.bytes=%d is not a whole number of MiB: using %zu MiB per "
                 "shard",
                 s->config->registered_buffer_bytes, want / mib);
    int rc = 0;
    for (size_t len = want; len >= mib; len = len > 4 * mib ? len / 2 / mib * mib : 0) {
        void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            rc = -errno;
            continue;
        }
        (void)madvise(mem, len, MADV_HUGEPAGE); /* fewer pages to pin; advice only */
        rc = io_ring_register_region(&s->ring, mem, len);
        if (rc == 0) {
            s->region = mem;
            s->region_len = len;
            sl_pool_set_region(&s->pool, mem, len);
            if (len < want)
                LOG_WARN("shard %d: registered %zu MiB of registered.buffer.bytes=%zu MiB "
                         "(RLIMIT_MEMLOCK)",
                         s->id, len / mib, want / mib);
            return;
        }
        munmap(mem, len);
    }
    if (want > 0)
        LOG_WARN("shard %d: cannot register buffers with io_uring (%s; RLIMIT_MEMLOCK?): frames "
                 "and appends use plain reads and writes",
                 s->id, strerror(-rc));
}

static int shard_setup(sl_shard_t *s)
{
    sl_broker_t *b = s->broker;
    if (s->id == 0) {
        /* Before the set-up barrier, so no shard listens unless this worked. */
        char err[SL_MAX_PATH + 256];
        int prc = sl_producer_ids_open(s->config->log_dirs[s->broker->metadata_log_dir], &s->producer_ids, err,
                                       sizeof(err));
        if (prc != 0) {
            LOG_ERROR("producer ids: %s", err);
            return prc;
        }
    }
    int rc = io_ring_init(&s->ring, SL_RING_SQ_ENTRIES, SL_RING_MAX_PENDING);
    if (rc < 0) {
        LOG_ERROR("io_uring set-up failed: %s", strerror(-rc));
        return rc;
    }
    s->ring.on_doorbell = on_doorbell;
    s->ring.doorbell_ctx = s;
    rc = io_bufring_init(&s->bufring, &s->ring, 0, SL_RECV_BUF_COUNT, SL_RECV_BUF_BYTES);
    if (rc < 0) {
        LOG_ERROR("provided buffer ring set-up failed: %s", strerror(-rc));
        return rc;
    }
    io_pipe_pool_init(&s->pipes, SL_PIPES_PER_SHARD, SL_PIPE_BYTES);
    sl_pool_init(&s->pool);
    shard_setup_region(s);
    rc = io_timers_init(&s->timers, SL_TIMERS_PER_SHARD);
    if (rc < 0)
        return rc;
    rc = st_store_open(&s->store, &s->ring, s->id);
    if (rc < 0) {
        LOG_ERROR("storage set-up failed: %d", rc);
        return rc;
    }
    st_store_set_retention_check_interval_ms(s->store, s->config->log_retention_check_interval_ms);
    atomic_store_explicit(&s->ring_fd, s->ring.uring.ring_fd, memory_order_release);
    LOG_DEBUG("ring up (setup flags 0x%x)", s->ring.setup_flags);
    atomic_fetch_add(&b->shards_ready, 1);
    wait_for_all(b, &b->shards_ready);
    if (atomic_load(&b->shards_failed))
        return -ECANCELED;
    rc = sl_coord_init(s);
    if (rc < 0)
        return rc;
    /* Open the logs this shard owns (recovery runs here, shards in parallel). */
    sl_meta_ref(b->initial_meta);
    rc = sl_shard_adopt(s, b->initial_meta);
    if (rc != 0)
        LOG_WARN("some partitions failed to open; they answer with an error");
    s->listen_fd = io_listen(&b->listener, 1024);
    if (s->listen_fd < 0) {
        LOG_ERROR("cannot listen on %s:%u: %s", b->listener.host[0] ? b->listener.host : "*",
                  b->listener.port, strerror(-s->listen_fd));
        return s->listen_fd;
    }
    rc = sl_conns_init(s);
    if (rc < 0)
        return rc;
    atomic_fetch_add(&b->shards_serving, 1);
    return 0;
}

void *sl_shard_main(void *arg)
{
    sl_shard_t *s = arg;
    sl_broker_t *b = s->broker;
    sl_log_set_thread_shard(s->id);
    pin_to_cpu(s);
    s->listen_fd = -1;
    if (shard_setup(s) != 0) {
        /* Others waiting at the set-up barrier see the failure and stop. */
        atomic_fetch_add(&b->shards_failed, 1);
        return NULL;
    }
    for (;;) {
        s->turns++;
        int ran = run_messages(s);
        io_timers_run(&s->timers, io_now_ns());
        sl_conns_rearm(s);
        if (atomic_exchange_explicit(&s->fetch_wake, false, memory_order_acq_rel))
            sl_fetch_wake_parked(s);
        st_store_tick(s->store, st_store_now_ms(s->store));
        st_store_end_turn(s->store);
        wake_parked_fetches(s);
        flush_outbound(s);
        if (!s->stopping && atomic_load_explicit(&b->stop, memory_order_acquire)) {
            LOG_DEBUG("stopping: closing connections");
            s->stopping = true;
            sl_conns_shutdown(s);
            sl_fetch_wake_parked(s);
            sl_coord_stop(s);
        }
        if (s->stopping && !s->quiesced && s->inflight_requests == 0 && s->conn_count == 0) {
            s->quiesced = true;
            atomic_fetch_add(&b->shards_quiesced, 1);
        }
        if (s->quiesced && atomic_load(&b->shards_quiesced) == b->shard_count && !s->local.head)
            break;
        int64_t timeout = io_timers_next_ns(&s->timers, io_now_ns());
        if (ran > 0 || s->local.head ||
            atomic_load_explicit(&s->fetch_wake, memory_order_acquire))
            timeout = 0;
        if (s->stopping && (timeout < 0 || timeout > 5000000))
            timeout = 5000000; /* poll the global quiesce while stopping */
        int rc = io_ring_run_once(&s->ring, timeout);
        if (rc < 0 && rc != -EINTR) {
            LOG_ERROR("ring wait failed: %s", strerror(-rc));
            s->loop_failed = true;
            break;
        }
    }
    /* Let outstanding disk writes finish before closing the logs. */
    for (int i = 0; i < 1000 && s->ring.pending_in_use > 0; i++) {
        st_store_end_turn(s->store);
        io_ring_run_once(&s->ring, 1000000);
    }
    sl_coord_destroy(s);
    st_store_defer_close_sync(s->store); /* one syncfs instead of fsyncs per partition */
    close_all_logs(s);
    s->storage_needs_recovery = !st_store_close_clean(s->store);
    if (s->meta)
        sl_meta_unref(s->meta);
    s->meta = NULL;
    sl_conns_destroy(s);
    uint64_t region_hits = s->pool.stats.region_hits;
    uint64_t fixed_ops = s->ring.fixed_ops;
    sl_pool_destroy(&s->pool);
    sl_producer_ids_close(s->producer_ids);
    s->producer_ids = NULL;
    io_timers_destroy(&s->timers);
    io_bufring_destroy(&s->bufring, &s->ring);
    io_pipe_pool_destroy(&s->pipes);
    atomic_store(&s->ring_fd, -1);
    io_ring_destroy(&s->ring);
    /* After a failed loop other shards may still append from this shard's
     * frames (cross-shard produce): leave the region mapped; the process is
     * going down. */
    if (s->region && !s->loop_failed)
        munmap(s->region, s->region_len);
    s->region = NULL;
    LOG_INFO("shard %d stopped after %llu turns: %llu MiB received straight into frames, %llu "
             "fixed reads/writes, %llu region buffers handed out, %llu spliced pieces read instead",
             s->id, (unsigned long long)s->turns, (unsigned long long)(s->direct_recv_bytes >> 20),
             (unsigned long long)fixed_ops, (unsigned long long)region_hits,
             (unsigned long long)s->splice_fallbacks);
    return NULL;
}
