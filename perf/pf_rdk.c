/*
 * pf_rdk.c — see pf_rdk.h.
 */
#include "pf_rdk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#define PF_ADMIN_TIMEOUT_MS 30000
#define PF_MESSAGE_TIMEOUT_MS "30000"
#define PF_MAX_REPORTED_ERRORS 10 /* per worker; the rest are only counted */
#define PF_SPIN_NS 20000          /* below this a waiting producer polls instead of sleeping */

void pf_rdk_release(pf_run_t *run)
{
    for (int i = 0; i < run->producer_count; i++)
        if (run->producers[i].rk != NULL) {
            rd_kafka_destroy(run->producers[i].rk);
            run->producers[i].rk = NULL;
        }
    if (run->have_consumer && run->consumer.rk != NULL) {
        /* A consumer must leave its group before it is destroyed. */
        rd_kafka_consumer_close(run->consumer.rk);
        rd_kafka_destroy(run->consumer.rk);
        run->consumer.rk = NULL;
    }
}

/* Sets one librdkafka property. Returns 0, or -1 after printing the reason. */
static int pf_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "sluice-perf: %s=%s: %s\n", key, value, errstr);
        return -1;
    }
    return 0;
}

/* A configuration with bootstrap.servers and client.id set, or NULL after
 * printing an error. */
static rd_kafka_conf_t *pf_conf_new(const pf_config_t *c)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (pf_conf_set(conf, "bootstrap.servers", c->bootstrap) != 0 ||
        pf_conf_set(conf, "client.id", "sluice-perf") != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* Creates a client, always taking over conf. NULL after printing an error. */
static rd_kafka_t *pf_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "sluice-perf: cannot create client: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Partition count of c->topic per fresh metadata: > 0, 0 when the topic does
 * not exist, -1 after printing an error. `ctx` is the rd_kafka_t
 * (pf_topic_ops_t). */
static int32_t pf_topic_partitions(void *ctx, const char *topic)
{
    rd_kafka_t *rk = ctx;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, PF_ADMIN_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "sluice-perf: metadata: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    int32_t n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 &&
            md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Creates the topic. Returns 0 (also when it appeared meanwhile), or -1
 * after printing an error. `ctx` is the rd_kafka_t (pf_topic_ops_t). */
static int pf_topic_create(void *ctx, const char *topic, int32_t partitions)
{
    rd_kafka_t *rk = ctx;
    char errstr[512];
    int rc = -1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof(errstr));
    if (nt == NULL) {
        fprintf(stderr, "sluice-perf: topic %s: %s\n", topic, errstr);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, PF_ADMIN_TIMEOUT_MS, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(opts, PF_ADMIN_TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, PF_ADMIN_TIMEOUT_MS + 5000);
    if (ev == NULL) {
        fprintf(stderr, "sluice-perf: create topic %s: no answer\n", topic);
        goto out_free;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "sluice-perf: create topic %s: %s\n", topic,
                rd_kafka_event_error_string(ev));
        goto out_event;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            fprintf(stderr, "sluice-perf: create topic %s: %s\n", topic,
                    rd_kafka_topic_result_error_string(res[i]) != NULL
                        ? rd_kafka_topic_result_error_string(res[i])
                        : rd_kafka_err2str(err));
            rc = -1;
        }
    }
out_event:
    rd_kafka_event_destroy(ev);
out_free:
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static void pf_topic_pause(void *ctx, int32_t n)
{
    (void)n;
    rd_kafka_poll(ctx, 100);
}

int pf_rdk_topic_prepare(pf_run_t *run)
{
    rd_kafka_conf_t *conf = pf_conf_new(run->config);
    if (conf == NULL)
        return -1;
    rd_kafka_t *rk = pf_client_new(RD_KAFKA_PRODUCER, conf);
    if (rk == NULL)
        return -1;
    const pf_topic_ops_t ops = {
        .ctx = rk,
        .partitions = pf_topic_partitions,
        .create = pf_topic_create,
        .pause = pf_topic_pause,
    };
    int rc = pf_run_prepare_topic(run, &ops);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- producer ---------------------------------------------------------- */

/* Delivery report, on the producer's thread. _private carries the intended
 * send time (monotonic ns). */
static void pf_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    pf_worker_t *w = opaque;
    uint64_t now = pf_now_ns();
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        uint64_t e = atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed) + 1;
        if (e <= PF_MAX_REPORTED_ERRORS)
            fprintf(stderr, "sluice-perf: producer %d: delivery failed: %s\n", w->index,
                    rd_kafka_err2str(msg->err));
        return;
    }
    uint64_t intended = (uint64_t)(uintptr_t)msg->_private;
    uint64_t latency = now > intended ? now - intended : 0;
    atomic_fetch_add_explicit(&w->records, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->bytes, msg->len + msg->key_len, memory_order_relaxed);
    atomic_store_explicit(&w->last_ns, now, memory_order_relaxed);
    if (intended >= w->run->warm_end_ns)
        pf_hist_record(&w->final_hist, latency);
    pthread_mutex_lock(&w->interval_lock);
    pf_hist_record(&w->interval_hist, latency);
    pthread_mutex_unlock(&w->interval_lock);
}

int pf_rdk_producers_create(pf_run_t *run)
{
    const pf_config_t *c = run->config;
    char batch[32], linger[32];
    snprintf(batch, sizeof(batch), "%" PRId64, c->batch_size);
    snprintf(linger, sizeof(linger), "%" PRId64, c->linger_ms);
    for (int i = 0; i < run->producer_count; i++) {
        pf_worker_t *w = &run->producers[i];
        rd_kafka_conf_t *conf = pf_conf_new(c);
        if (conf == NULL)
            return -1;
        if (pf_conf_set(conf, "acks", c->acks) != 0 ||
            pf_conf_set(conf, "compression.type", c->compression) != 0 ||
            pf_conf_set(conf, "batch.size", batch) != 0 ||
            pf_conf_set(conf, "linger.ms", linger) != 0 ||
            pf_conf_set(conf, "message.timeout.ms", PF_MESSAGE_TIMEOUT_MS) != 0) {
            rd_kafka_conf_destroy(conf);
            return -1;
        }
        rd_kafka_conf_set_dr_msg_cb(conf, pf_on_delivery);
        rd_kafka_conf_set_opaque(conf, w);
        w->rk = pf_client_new(RD_KAFKA_PRODUCER, conf);
        if (w->rk == NULL)
            return -1;
        /* Connect and learn the topic's leaders now, so that the first
         * records do not carry the connection set-up as latency. */
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->rk, c->topic, NULL);
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t err = rkt != NULL
                                      ? rd_kafka_metadata(w->rk, 0, rkt, &md, PF_ADMIN_TIMEOUT_MS)
                                      : rd_kafka_last_error();
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        if (rkt != NULL)
            rd_kafka_topic_destroy(rkt);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "sluice-perf: producer %d: metadata of %s: %s\n", i, c->topic,
                    rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

static uint64_t pf_xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Waits until `target` (monotonic ns), serving delivery reports meanwhile. */
static void pf_wait_until(pf_worker_t *w, uint64_t target)
{
    for (;;) {
        rd_kafka_poll(w->rk, 0);
        uint64_t now = pf_now_ns();
        if (now >= target || atomic_load_explicit(&w->run->stop, memory_order_relaxed))
            return;
        uint64_t wait = target - now;
        if (wait >= 2000000) {
            rd_kafka_poll(w->rk, (int)(wait / 1000000) - 1); /* returns early on a report */
        } else if (wait > PF_SPIN_NS) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(wait - PF_SPIN_NS)};
            nanosleep(&ts, NULL);
        }
    }
}

/* Sends one record, retrying while librdkafka's queue is full. */
static void pf_produce_one(pf_worker_t *w, uint64_t g, uint64_t intended, char *value,
                           const pf_config_t *c)
{
    int64_t rt = (int64_t)intended + w->run->realtime_offset_ns;
    memcpy(value, &rt, sizeof(rt));
    unsigned char key[8];
    size_t key_size = 0;
    if (c->keys == PF_KEYS_RANDOM) {
        uint64_t r = pf_xorshift64(&w->rng);
        memcpy(key, &r, sizeof(r));
        key_size = sizeof(key);
    } else if (c->keys == PF_KEYS_SEQ) {
        for (int i = 0; i < 8; i++)
            key[i] = (unsigned char)(g >> (56 - 8 * i));
        key_size = sizeof(key);
    }
    const void *key_ptr = key_size > 0 ? key : NULL;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            w->rk, RD_KAFKA_V_TOPIC(c->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key_ptr, key_size), RD_KAFKA_V_VALUE(value, c->record_size),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)intended), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_fetch_add_explicit(&w->sent, 1, memory_order_relaxed);
            return;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
            !atomic_load_explicit(&w->run->stop, memory_order_relaxed)) {
            rd_kafka_poll(w->rk, 1);
            continue;
        }
        atomic_fetch_add_explicit(&w->sent, 1, memory_order_relaxed);
        uint64_t e = atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed) + 1;
        if (e <= PF_MAX_REPORTED_ERRORS)
            fprintf(stderr, "sluice-perf: producer %d: cannot send: %s\n", w->index,
                    rd_kafka_err2str(err));
        return;
    }
}

static void *pf_producer_thread(void *arg)
{
    pf_worker_t *w = arg;
    pf_run_t *run = w->run;
    const pf_config_t *c = run->config;
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups on time, not up to 50 us late */
    char *value = malloc(c->record_size);
    ASSERT(value != NULL);
    memset(value, 'x', c->record_size);
    uint64_t step = (uint64_t)run->producer_count;
    for (uint64_t g = (uint64_t)w->index;; g += step) {
        if (atomic_load_explicit(&run->stop, memory_order_relaxed))
            break;
        if (c->count > 0 && g >= c->count)
            break;
        uint64_t intended;
        if (c->rate > 0) {
            /* start + g / rate without overflow for any g below 2^64 / 1e9 * rate. */
            intended =
                run->start_ns + (g / c->rate) * PF_NS_PER_S + (g % c->rate) * PF_NS_PER_S / c->rate;
            if (c->count == 0 && intended >= run->send_end_ns)
                break;
            pf_wait_until(w, intended);
            if (atomic_load_explicit(&run->stop, memory_order_relaxed))
                break;
        } else {
            intended = pf_now_ns();
            if (c->count == 0 && intended >= run->send_end_ns)
                break;
        }
        pf_produce_one(w, g, intended, value, c);
        rd_kafka_poll(w->rk, 0);
    }
    free(value);
    /* Every record gets one delivery report within message.timeout.ms. */
    while (rd_kafka_outq_len(w->rk) > 0)
        rd_kafka_flush(w->rk, 100);
    uint64_t now = pf_now_ns();
    if (atomic_fetch_sub(&run->producers_running, 1) == 1)
        atomic_store(&run->producers_done_ns, now);
    atomic_store(&w->finished, true);
    return NULL;
}

int pf_rdk_producers_start(pf_run_t *run)
{
    atomic_store(&run->producers_running, run->producer_count);
    for (int i = 0; i < run->producer_count; i++) {
        pf_worker_t *w = &run->producers[i];
        int err = pthread_create(&w->thread, NULL, pf_producer_thread, w);
        if (err != 0) {
            fprintf(stderr, "sluice-perf: cannot start producer thread: %s\n", strerror(err));
            atomic_fetch_sub(&run->producers_running, run->producer_count - i);
            return -1;
        }
        w->started = true;
    }
    return 0;
}

/* ---- consumer ---------------------------------------------------------- */

int pf_rdk_consumer_create(pf_run_t *run)
{
    const pf_config_t *c = run->config;
    pf_worker_t *w = &run->consumer;
    rd_kafka_conf_t *conf = pf_conf_new(c);
    if (conf == NULL)
        return -1;
    if (pf_conf_set(conf, "enable.auto.commit", c->group != NULL ? "true" : "false") != 0 ||
        pf_conf_set(conf, "auto.offset.reset", c->mode == PF_MODE_E2E ? "latest" : "earliest") !=
            0 ||
        /* librdkafka's assign() wants a group.id even though no group is
         * joined and (auto-commit off) no offset committed. */
        pf_conf_set(conf, "group.id", c->group != NULL ? c->group : "sluice-perf-assign") != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    w->rk = pf_client_new(RD_KAFKA_CONSUMER, conf);
    if (w->rk == NULL)
        return -1;
    rd_kafka_poll_set_consumer(w->rk);

    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(run->partition_count);
    for (int32_t p = 0; p < run->partition_count; p++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(parts, c->topic, p);
        tp->offset = RD_KAFKA_OFFSET_BEGINNING;
        if (c->group == NULL && c->mode == PF_MODE_E2E) {
            int64_t lo = 0, hi = 0;
            rd_kafka_resp_err_t err =
                rd_kafka_query_watermark_offsets(w->rk, c->topic, p, &lo, &hi, PF_ADMIN_TIMEOUT_MS);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                fprintf(stderr, "sluice-perf: watermarks of %s/%" PRId32 ": %s\n", c->topic, p,
                        rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(parts);
                return -1;
            }
            tp->offset = hi;
        }
    }
    rd_kafka_resp_err_t err;
    if (c->group == NULL) {
        err = rd_kafka_assign(w->rk, parts);
    } else {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, c->topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(w->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "sluice-perf: %s: %s\n", c->group == NULL ? "assign" : "subscribe",
                rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Accounts one consumed message (or error). */
static void pf_consumer_handle(pf_worker_t *w, const rd_kafka_message_t *m)
{
    pf_run_t *run = w->run;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        uint64_t e = atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed) + 1;
        if (e <= PF_MAX_REPORTED_ERRORS)
            fprintf(stderr, "sluice-perf: consumer: %s\n", rd_kafka_message_errstr(m));
        return;
    }
    uint64_t now = pf_now_ns();
    atomic_fetch_add_explicit(&w->records, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->bytes, m->len + m->key_len, memory_order_relaxed);
    atomic_store_explicit(&w->last_ns, now, memory_order_relaxed);
    if (run->config->mode != PF_MODE_E2E || m->len < sizeof(int64_t))
        return;
    int64_t sent_rt;
    memcpy(&sent_rt, m->payload, sizeof(sent_rt));
    int64_t lat = pf_realtime_ns() - sent_rt;
    uint64_t latency = lat > 0 ? (uint64_t)lat : 0;
    if (sent_rt - run->realtime_offset_ns >= (int64_t)run->warm_end_ns)
        pf_hist_record(&w->final_hist, latency);
    pthread_mutex_lock(&w->interval_lock);
    pf_hist_record(&w->interval_hist, latency);
    pthread_mutex_unlock(&w->interval_lock);
}

int pf_rdk_consumer_wait_assigned(pf_run_t *run, int timeout_ms)
{
    pf_worker_t *w = &run->consumer;
    uint64_t deadline = pf_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    while (pf_now_ns() < deadline && !atomic_load(&run->stop)) {
        rd_kafka_topic_partition_list_t *a = NULL;
        if (rd_kafka_assignment(w->rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a != NULL) {
            int n = a->cnt;
            rd_kafka_topic_partition_list_destroy(a);
            if (n > 0)
                return 0;
        }
        /* Joining happens inside the poll; a message read here is accounted. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 100);
        if (m != NULL) {
            pf_consumer_handle(w, m);
            rd_kafka_message_destroy(m);
        }
    }
    fprintf(stderr, "sluice-perf: consumer got no partitions of group %s in %d ms\n",
            run->config->group, timeout_ms);
    return -1;
}

/* True when the consumer has done what was asked (pf_run_consumer_done). */
static bool pf_consumer_done(pf_run_t *run)
{
    uint64_t received = atomic_load_explicit(&run->consumer.records, memory_order_relaxed);
    return pf_run_consumer_done(run, received, pf_now_ns());
}

static void *pf_consumer_thread(void *arg)
{
    pf_worker_t *w = arg;
    pf_run_t *run = w->run;
    while (!atomic_load_explicit(&run->stop, memory_order_relaxed) && !pf_consumer_done(run)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 100);
        if (m == NULL)
            continue;
        pf_consumer_handle(w, m);
        rd_kafka_message_destroy(m);
    }
    atomic_store(&w->finished, true);
    return NULL;
}

int pf_rdk_consumer_start(pf_run_t *run)
{
    pf_worker_t *w = &run->consumer;
    int err = pthread_create(&w->thread, NULL, pf_consumer_thread, w);
    if (err != 0) {
        fprintf(stderr, "sluice-perf: cannot start consumer thread: %s\n", strerror(err));
        return -1;
    }
    w->started = true;
    return 0;
}

void pf_rdk_join(pf_run_t *run)
{
    for (int i = 0; i < run->producer_count; i++)
        if (run->producers[i].started) {
            pthread_join(run->producers[i].thread, NULL);
            run->producers[i].started = false;
        }
    if (run->have_consumer && run->consumer.started) {
        pthread_join(run->consumer.thread, NULL);
        run->consumer.started = false;
    }
}
