/*
 * rdk_roundtrip.c — librdkafka (C) end-to-end checks, driven by
 * tests/integration/run.sh against a real broker.
 *
 * Modes (one per run):
 *   (default)            Create TOPIC with --partitions (admin API; it must not
 *                        exist), produce --count records with acks=all, then
 *                        read everything back with assign() from the beginning
 *                        and check every record. Writes --state FILE.
 *   --verify-only        Read TOPIC again and check it against --state FILE
 *                        (after a broker restart).
 *   --durability-produce Create TOPIC, produce --count records with acks=all
 *                        and append each acknowledged record to --state FILE
 *                        the moment its delivery report arrives (so the file
 *                        survives a broker killed mid-run).
 *   --durability-verify  Check that every record listed in --state FILE is at
 *                        its acknowledged offset, intact.
 *   --dump               Print every record of TOPIC, one line each (below),
 *                        for checks written in other languages.
 *
 * What "check" means (nothing is taken on trust):
 *   - the partition count is the one created; low watermark 0;
 *   - offsets in each partition are contiguous from 0 up to the high watermark
 *     queried before reading (ListOffsets);
 *   - the record at each acknowledged (partition, offset) is byte-identical to
 *     what was sent: key (null, empty, text, binary), value (null, empty,
 *     text+binary), headers (count, order, duplicates, null and empty values)
 *     and CreateTime timestamp;
 *   - default/--verify-only: the log holds exactly the acknowledged records,
 *     in production order within each partition;
 *   - durability: records that were never acknowledged may be present (the
 *     broker may have written them before it died) but are counted, not
 *     required.
 * Consumers run with check.crcs=true and auto.offset.reset=error, so a bad
 * CRC or a lost offset surfaces as an error instead of a silent skip.
 *
 * State file: "rdk-state v1 TOPIC PARTITIONS COUNT BASE_TS" then one line
 * "INDEX PARTITION OFFSET" per acknowledged record. Record INDEX's content is
 * a pure function of (INDEX, BASE_TS): see rt_record_make().
 *
 * Dump line: "P O TS KEY VALUE NHEADERS [NAME=VALUE ...]" where KEY, VALUE,
 * NAME and header VALUE are "~" for null or "x" followed by lowercase hex.
 *
 * Exit status: 0 pass; 1 a check failed or the broker misbehaved (the first
 * failures are printed); 2 bad usage; 3 (--durability-produce only) some
 * records were not acknowledged, which is expected when the broker is killed.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define RT_MAX_PARTITIONS 256
#define RT_MAX_HEADERS 4
#define RT_MAX_REPORTED 10 /* individual mismatches printed before giving up */
#define RT_EXIT_OK 0
#define RT_EXIT_FAIL 1
#define RT_EXIT_USAGE 2
#define RT_EXIT_PARTIAL 3

typedef enum {
    MODE_ROUNDTRIP,
    MODE_VERIFY,
    MODE_DURABLE_PRODUCE,
    MODE_DURABLE_VERIFY,
    MODE_DUMP,
} rt_mode_t;

typedef struct {
    rt_mode_t mode;
    const char *bootstrap;
    const char *topic;
    const char *state_path;
    const char *compression;
    int partitions;
    int64_t count;
    int timeout_ms;         /* whole consume phase / metadata waits */
    int message_timeout_ms; /* producer message.timeout.ms */
} rt_opts_t;

/* One header; value NULL means a null header value. */
typedef struct {
    const char *name;
    const void *value;
    size_t size;
} rt_header_t;

/* Record INDEX as produced. Pointers refer to the buffers inside the struct,
 * so a record must not be copied after rt_record_make(). */
typedef struct {
    const void *key; /* NULL: null key */
    size_t key_size;
    const void *value; /* NULL: null value */
    size_t value_size;
    rt_header_t headers[RT_MAX_HEADERS];
    int header_count;
    int64_t timestamp_ms;
    uint8_t key_buf[32];
    uint8_t value_buf[400];
    uint8_t header_buf[32];
} rt_record_t;

/* Acknowledged position of record INDEX. */
typedef struct {
    int64_t index;
    int32_t partition;
    int64_t offset;
} rt_ack_t;

typedef struct {
    char topic[256];
    int partitions;
    int64_t count;
    int64_t base_ts;
    rt_ack_t *acks;
    int64_t ack_count;
} rt_state_t;

static int g_failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    g_failures++;
    fprintf(stderr, "FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "rdk_roundtrip: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- records */

/* Fills `r` with record `index`: every shape a client can send. Keys: null
 * (1 in 10), empty, 8 binary bytes with NULs, or text shared by many records;
 * values: null (1 in 11), empty, or text followed by 0..299 binary bytes;
 * headers: none, one, a duplicated name, a null and an empty value, binary. */
static void rt_record_make(rt_record_t *r, int64_t index, int64_t base_ts)
{
    uint64_t i = (uint64_t)index;
    memset(r, 0, sizeof(*r));
    switch (i % 10) {
    case 3:
        r->key = NULL;
        break;
    case 7:
        r->key = r->key_buf;
        r->key_size = 0;
        break;
    case 9:
        for (int b = 0; b < 8; b++)
            r->key_buf[b] = (uint8_t)(i >> (56 - 8 * b));
        r->key = r->key_buf;
        r->key_size = 8;
        break;
    default:
        r->key_size =
            (size_t)snprintf((char *)r->key_buf, sizeof(r->key_buf), "key-%" PRIu64, i % 997);
        r->key = r->key_buf;
        break;
    }
    switch (i % 11) {
    case 5:
        r->value = NULL;
        break;
    case 8:
        r->value = r->value_buf;
        r->value_size = 0;
        break;
    default: {
        int n = snprintf((char *)r->value_buf, sizeof(r->value_buf), "value-%" PRIu64 "-", i);
        size_t pad = (size_t)((i * 7) % 300);
        for (size_t j = 0; j < pad; j++)
            r->value_buf[(size_t)n + j] = (uint8_t)(i + j * 31);
        r->value = r->value_buf;
        r->value_size = (size_t)n + pad;
        break;
    }
    }
    switch (i % 5) {
    case 0:
        r->header_count = 0;
        break;
    case 1: {
        int n = snprintf((char *)r->header_buf, sizeof(r->header_buf), "t-%" PRIu64, i);
        r->headers[0] = (rt_header_t){"trace", r->header_buf, (size_t)n};
        r->header_count = 1;
        break;
    }
    case 2:
        r->headers[0] = (rt_header_t){"dup", "a", 1};
        r->headers[1] = (rt_header_t){"dup", "b", 1};
        r->header_count = 2;
        break;
    case 3:
        r->headers[0] = (rt_header_t){"nullhdr", NULL, 0};
        r->headers[1] = (rt_header_t){"empty", "", 0};
        r->header_count = 2;
        break;
    default:
        r->header_buf[0] = 0x00;
        r->header_buf[1] = 0xff;
        r->header_buf[2] = (uint8_t)i;
        r->header_buf[3] = 0x80;
        r->headers[0] = (rt_header_t){"bin", r->header_buf, 4};
        r->header_count = 1;
        break;
    }
    r->timestamp_ms = base_ts + (int64_t)(i % 100000);
}

static bool bytes_equal(const void *a, size_t a_size, const void *b, size_t b_size)
{
    if ((a == NULL) != (b == NULL))
        return false;
    return a == NULL || (a_size == b_size && (a_size == 0 || memcmp(a, b, a_size) == 0));
}

static void describe_bytes(char *out, size_t out_size, const void *p, size_t size)
{
    if (p == NULL) {
        snprintf(out, out_size, "null");
        return;
    }
    size_t n = (size_t)snprintf(out, out_size, "%zu bytes [", size);
    for (size_t i = 0; i < size && i < 24 && n + 4 < out_size; i++)
        n += (size_t)snprintf(out + n, out_size - n, "%02x", ((const uint8_t *)p)[i]);
    snprintf(out + n, out_size - n, "%s]", size > 24 ? "..." : "");
}

/* Compares a consumed message with record `index`. Returns true if equal;
 * otherwise prints what differs (counted in g_failures). */
static bool rt_record_check(const rd_kafka_message_t *msg, int64_t index, int64_t base_ts)
{
    rt_record_t want;
    rt_record_make(&want, index, base_ts);
    char a[128], b[128];
    bool ok = true;
    char where[128];
    snprintf(where, sizeof(where), "record %" PRId64 " at partition %" PRId32 " offset %" PRId64,
             index, msg->partition, msg->offset);

    if (!bytes_equal(msg->key, msg->key_len, want.key, want.key_size)) {
        describe_bytes(a, sizeof(a), msg->key, msg->key_len);
        describe_bytes(b, sizeof(b), want.key, want.key_size);
        fail("%s: key is %s, expected %s", where, a, b);
        ok = false;
    }
    if (!bytes_equal(msg->payload, msg->len, want.value, want.value_size)) {
        describe_bytes(a, sizeof(a), msg->payload, msg->len);
        describe_bytes(b, sizeof(b), want.value, want.value_size);
        fail("%s: value is %s, expected %s", where, a, b);
        ok = false;
    }
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t herr = rd_kafka_message_headers(msg, &hdrs);
    size_t have_count = herr == RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_header_cnt(hdrs) : 0;
    if (herr != RD_KAFKA_RESP_ERR_NO_ERROR && herr != RD_KAFKA_RESP_ERR__NOENT) {
        fail("%s: cannot read headers: %s", where, rd_kafka_err2str(herr));
        ok = false;
    } else if (have_count != (size_t)want.header_count) {
        fail("%s: %zu headers, expected %d", where, have_count, want.header_count);
        ok = false;
    } else {
        for (size_t h = 0; h < have_count; h++) {
            const char *name;
            const void *value;
            size_t size;
            rd_kafka_header_get_all(hdrs, h, &name, &value, &size);
            const rt_header_t *w = &want.headers[h];
            if (strcmp(name, w->name) != 0 || !bytes_equal(value, size, w->value, w->size)) {
                describe_bytes(a, sizeof(a), value, size);
                describe_bytes(b, sizeof(b), w->value, w->size);
                fail("%s: header %zu is '%s'=%s, expected '%s'=%s", where, h, name, a, w->name, b);
                ok = false;
            }
        }
    }
    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);
    if (ts_type != RD_KAFKA_TIMESTAMP_CREATE_TIME || ts != want.timestamp_ms) {
        fail("%s: timestamp %" PRId64 " (type %d), expected CreateTime %" PRId64, where, ts,
             (int)ts_type, want.timestamp_ms);
        ok = false;
    }
    return ok;
}

/* ------------------------------------------------------------ state file */

static int state_write_header(FILE *f, const char *topic, int partitions, int64_t count,
                              int64_t base_ts)
{
    return fprintf(f, "rdk-state v1 %s %d %" PRId64 " %" PRId64 "\n", topic, partitions, count,
                   base_ts) < 0
               ? -1
               : 0;
}

/* Loads `path`. Returns 0, or -1 after printing why (missing, malformed). */
static int state_load(const char *path, rt_state_t *st)
{
    memset(st, 0, sizeof(*st));
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fail("cannot open state file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fscanf(f, "rdk-state v1 %255s %d %" SCNd64 " %" SCNd64 "\n", st->topic, &st->partitions,
               &st->count, &st->base_ts) != 4 ||
        st->partitions <= 0 || st->partitions > RT_MAX_PARTITIONS || st->count < 0) {
        fail("state file %s: bad header", path);
        fclose(f);
        return -1;
    }
    st->acks = calloc((size_t)st->count + 1, sizeof(*st->acks));
    if (st->acks == NULL) {
        fclose(f);
        fail("out of memory");
        return -1;
    }
    rt_ack_t a;
    int n;
    while ((n = fscanf(f, "%" SCNd64 " %" SCNd32 " %" SCNd64 "\n", &a.index, &a.partition,
                       &a.offset)) == 3) {
        if (a.index < 0 || a.index >= st->count || a.partition < 0 ||
            a.partition >= st->partitions || a.offset < 0 || st->ack_count >= st->count) {
            fail("state file %s: bad line after %" PRId64 " entries", path, st->ack_count);
            fclose(f);
            return -1;
        }
        st->acks[st->ack_count++] = a;
    }
    /* A killed writer may leave a torn last line: only whole lines count. */
    fclose(f);
    return 0;
}

/* ------------------------------------------------------------- clients */

static rd_kafka_conf_t *conf_new(const rt_opts_t *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "rdk_roundtrip", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdk_roundtrip: %s\n", errstr);
        exit(RT_EXIT_USAGE);
    }
    return conf;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdk_roundtrip: %s=%s: %s\n", k, v, errstr);
        exit(RT_EXIT_USAGE);
    }
}

static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "rdk_roundtrip: rd_kafka_new: %s\n", errstr);
        exit(RT_EXIT_FAIL);
    }
    return rk;
}

/* Creates the topic with the admin API, then waits until the metadata shows
 * every partition with a leader. Returns 0, or -1 after printing why. */
static int topic_create(rd_kafka_t *rk, const rt_opts_t *o)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(o->topic, o->partitions, 1, errstr, sizeof(errstr));
    if (nt == NULL) {
        fail("NewTopic: %s", errstr);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 30000, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = -1;
    if (ev == NULL) {
        fail("CreateTopics(%s): no result within 60 s", o->topic);
    } else if (rd_kafka_event_error(ev)) {
        fail("CreateTopics(%s): %s", o->topic, rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (n != 1 || strcmp(rd_kafka_topic_result_name(res[0]), o->topic) != 0)
            fail("CreateTopics(%s): %zu results, expected 1 for this topic", o->topic, n);
        else if (rd_kafka_topic_result_error(res[0]))
            fail("CreateTopics(%s): %s: %s", o->topic,
                 rd_kafka_err2name(rd_kafka_topic_result_error(res[0])),
                 rd_kafka_topic_result_error_string(res[0])
                     ? rd_kafka_topic_result_error_string(res[0])
                     : "");
        else
            rc = 0;
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Waits (up to timeout_ms) until the metadata of all topics lists `topic`
 * with `partitions` partitions, each with a leader. Returns 0, or -1 after
 * printing the last state seen. */
static int topic_wait_ready(rd_kafka_t *rk, const char *topic, int partitions, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    char last[256] = "no metadata";
    while (now_ms() < deadline) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 5000);
        if (err) {
            snprintf(last, sizeof(last), "metadata request failed: %s", rd_kafka_err2str(err));
        } else {
            const rd_kafka_metadata_topic_t *t = NULL;
            for (int i = 0; i < md->topic_cnt; i++)
                if (strcmp(md->topics[i].topic, topic) == 0)
                    t = &md->topics[i];
            int led = 0;
            for (int i = 0; t && i < t->partition_cnt; i++)
                led += t->partitions[i].leader >= 0 && t->partitions[i].err == 0;
            if (t == NULL)
                snprintf(last, sizeof(last), "topic not listed");
            else if (t->err)
                snprintf(last, sizeof(last), "topic error %s", rd_kafka_err2name(t->err));
            else if (t->partition_cnt != partitions)
                snprintf(last, sizeof(last), "%d partitions, expected %d", t->partition_cnt,
                         partitions);
            else if (led != partitions)
                snprintf(last, sizeof(last), "%d of %d partitions have a leader", led, partitions);
            else {
                rd_kafka_metadata_destroy(md);
                return 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        usleep(200 * 1000);
    }
    fail("topic %s not ready within %d ms: %s", topic, timeout_ms, last);
    return -1;
}

/* ------------------------------------------------------------ producing */

typedef struct {
    rt_ack_t *acks;    /* by index (roundtrip), NULL in durability mode */
    FILE *ack_file;    /* durability mode: appended as reports arrive */
    int64_t delivered; /* successful delivery reports */
    int64_t failed;    /* failed delivery reports */
} rt_produce_ctx_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    rt_produce_ctx_t *ctx = opaque;
    int64_t index = (int64_t)(intptr_t)msg->_private;
    if (msg->err) {
        if (++ctx->failed <= RT_MAX_REPORTED)
            note("delivery of record %" PRId64 " failed: %s", index, rd_kafka_err2str(msg->err));
        return;
    }
    if (msg->offset < 0) {
        fail("record %" PRId64 " acknowledged without an offset (acks=all must return one)", index);
        ctx->failed++;
        return;
    }
    ctx->delivered++;
    rt_ack_t a = {index, msg->partition, msg->offset};
    if (ctx->acks)
        ctx->acks[index] = a;
    if (ctx->ack_file)
        fprintf(ctx->ack_file, "%" PRId64 " %" PRId32 " %" PRId64 "\n", a.index, a.partition,
                a.offset);
}

static rd_kafka_t *producer_new(const rt_opts_t *o, rt_produce_ctx_t *ctx)
{
    char timeout[32];
    rd_kafka_conf_t *conf = conf_new(o);
    snprintf(timeout, sizeof(timeout), "%d", o->message_timeout_ms);
    conf_set(conf, "acks", "all");
    conf_set(conf, "linger.ms", "5");
    conf_set(conf, "message.timeout.ms", timeout);
    conf_set(conf, "compression.type", o->compression);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, ctx);
    return client_new(RD_KAFKA_PRODUCER, conf);
}

/* Produces records 0..count-1 and waits for every delivery report. Returns
 * the number of records librdkafka refused outright (0 normally). */
static int64_t produce_all(rd_kafka_t *rk, const rt_opts_t *o, int64_t base_ts,
                           rt_produce_ctx_t *ctx)
{
    int64_t refused = 0;
    int64_t next_progress = o->count / 10;
    for (int64_t i = 0; i < o->count; i++) {
        rt_record_t r;
        rt_record_make(&r, i, base_ts);
        rd_kafka_headers_t *hdrs = NULL;
        if (r.header_count > 0) {
            hdrs = rd_kafka_headers_new((size_t)r.header_count);
            for (int h = 0; h < r.header_count; h++)
                rd_kafka_header_add(hdrs, r.headers[h].name, -1, r.headers[h].value,
                                    (ssize_t)r.headers[h].size);
        }
        rd_kafka_resp_err_t err;
        for (;;) {
            /* Headers are passed as a copy: producev takes ownership only on
             * success, and a QUEUE_FULL retry needs them again. */
            rd_kafka_headers_t *copy = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;
            err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(r.key, r.key_size), RD_KAFKA_V_VALUE((void *)r.value, r.value_size),
                RD_KAFKA_V_TIMESTAMP(r.timestamp_ms),
                RD_KAFKA_V_HEADERS(copy), /* NULL: no headers */
                RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (copy)
                rd_kafka_headers_destroy(copy);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 50);
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (err) {
            if (++refused <= RT_MAX_REPORTED)
                note("producev(record %" PRId64 "): %s", i, rd_kafka_err2str(err));
        }
        rd_kafka_poll(rk, 0);
        if (ctx->ack_file)
            fflush(ctx->ack_file);
        if (i + 1 == next_progress) {
            note("queued %" PRId64 "/%" PRId64 ", acknowledged %" PRId64, i + 1, o->count,
                 ctx->delivered);
            next_progress += o->count / 10;
        }
    }
    while (ctx->delivered + ctx->failed + refused < o->count) {
        rd_kafka_flush(rk, 1000);
        if (ctx->ack_file)
            fflush(ctx->ack_file);
    }
    return refused;
}

/* ------------------------------------------------------------ consuming */

/* Called for each consumed record, in offset order per partition. */
typedef void (*rt_visit_fn)(const rd_kafka_message_t *msg, void *arg);

static rd_kafka_t *consumer_new(const rt_opts_t *o)
{
    char group[64];
    rd_kafka_conf_t *conf = conf_new(o);
    /* assign() needs a group.id; nothing joins or commits. */
    snprintf(group, sizeof(group), "rdk-roundtrip-%ld", (long)getpid());
    conf_set(conf, "group.id", group);
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "enable.auto.offset.store", "false");
    conf_set(conf, "auto.offset.reset", "error");
    conf_set(conf, "check.crcs", "true");
    return client_new(RD_KAFKA_CONSUMER, conf);
}

/* Queries low/high watermarks of every partition, retrying transient errors
 * until `deadline`. Returns 0, or -1 after printing the failure. */
static int query_watermarks(rd_kafka_t *rk, const char *topic, int partitions, int64_t deadline,
                            int64_t *low, int64_t *high)
{
    for (int p = 0; p < partitions; p++) {
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_query_watermark_offsets(rk, topic, p, &low[p], &high[p], 5000)) &&
               now_ms() < deadline)
            usleep(200 * 1000);
        if (err) {
            fail("ListOffsets %s [%d]: %s", topic, p, rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

/* Reads every partition of `topic` from offset 0 up to its high watermark
 * (taken before reading) and hands each record to `visit`, checking on the
 * way that offsets are contiguous from 0. *total receives the record count.
 * Returns 0 if everything was read, -1 on failure (printed). */
static int consume_all(const rt_opts_t *o, const char *topic, int partitions, int64_t *high,
                       rt_visit_fn visit, void *arg, int64_t *total)
{
    int64_t low[RT_MAX_PARTITIONS], next[RT_MAX_PARTITIONS];
    int64_t deadline = now_ms() + o->timeout_ms;
    rd_kafka_t *rk = consumer_new(o);
    int rc = -1;
    *total = 0;

    if (topic_wait_ready(rk, topic, partitions, o->timeout_ms) != 0 ||
        query_watermarks(rk, topic, partitions, deadline, low, high) != 0)
        goto out_destroy;
    int64_t expected = 0;
    for (int p = 0; p < partitions; p++) {
        if (low[p] != 0)
            fail("%s [%d]: low watermark %" PRId64 ", expected 0 (nothing was deleted)", topic, p,
                 low[p]);
        if (high[p] < low[p])
            fail("%s [%d]: high watermark %" PRId64 " below low %" PRId64, topic, p, high[p],
                 low[p]);
        next[p] = 0;
        expected += high[p];
    }
    if (g_failures)
        goto out_destroy;

    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        fail("assign: %s", rd_kafka_err2str(err));
        goto out_destroy;
    }

    int64_t next_progress = expected / 10;
    while (*total < expected && g_failures < RT_MAX_REPORTED) {
        if (now_ms() > deadline) {
            for (int p = 0; p < partitions; p++)
                if (next[p] < high[p])
                    fail("%s [%d]: read up to offset %" PRId64 " of %" PRId64 " within %d ms",
                         topic, p, next[p], high[p], o->timeout_ms);
            goto out_unassign;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 500);
        if (msg == NULL)
            continue;
        if (msg->err) {
            bool fatal = msg->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                         msg->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN &&
                         msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF;
            if (fatal)
                fail("consumer error on %s [%" PRId32 "] at %" PRId64 ": %s",
                     msg->rkt ? rd_kafka_topic_name(msg->rkt) : "-", msg->partition, msg->offset,
                     rd_kafka_message_errstr(msg));
            else
                note("consumer warning: %s", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        int32_t p = msg->partition;
        if (p < 0 || p >= partitions) {
            fail("record from unexpected partition %" PRId32, p);
        } else if (msg->offset != next[p]) {
            fail("%s [%" PRId32 "]: got offset %" PRId64 ", expected %" PRId64
                 " (offsets must be contiguous)",
                 topic, p, msg->offset, next[p]);
        } else if (msg->offset >= high[p]) {
            fail("%s [%" PRId32 "]: offset %" PRId64 " is at or past the high watermark %" PRId64
                 " read before consuming, but nothing else writes to this topic",
                 topic, p, msg->offset, high[p]);
        } else {
            next[p]++;
            (*total)++;
            visit(msg, arg);
        }
        rd_kafka_message_destroy(msg);
        if (*total == next_progress) {
            note("read %" PRId64 "/%" PRId64, *total, expected);
            next_progress += expected / 10;
        }
    }
    if (g_failures == 0)
        rc = 0;
out_unassign:
    rd_kafka_assign(rk, NULL);
out_destroy:
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* ------------------------------------------------------------ verifying */

/* Index of the acknowledged record at each (partition, offset), or -1. */
typedef struct {
    int64_t *by_offset[RT_MAX_PARTITIONS];
    int64_t size[RT_MAX_PARTITIONS];
    int64_t base_ts;
    bool exact;                            /* every offset must be acknowledged */
    int64_t last_index[RT_MAX_PARTITIONS]; /* production order check (exact mode) */
    int64_t checked;
    int64_t unacknowledged;
} rt_verify_t;

static void verify_visit(const rd_kafka_message_t *msg, void *arg)
{
    rt_verify_t *v = arg;
    int32_t p = msg->partition;
    int64_t index = msg->offset < v->size[p] ? v->by_offset[p][msg->offset] : -1;
    if (index < 0) {
        v->unacknowledged++;
        if (v->exact)
            fail("partition %" PRId32 " offset %" PRId64
                 " holds a record that was never acknowledged",
                 p, msg->offset);
        return;
    }
    if (v->exact) {
        if (index <= v->last_index[p])
            fail("partition %" PRId32 ": record %" PRId64 " at offset %" PRId64
                 " comes after record %" PRId64 " (production order broken)",
                 p, index, msg->offset, v->last_index[p]);
        v->last_index[p] = index;
    }
    rt_record_check(msg, index, v->base_ts);
    v->checked++;
}

/* Checks TOPIC against the acknowledged records in `st`. `exact`: the log
 * must hold exactly those records (roundtrip); otherwise unacknowledged extras
 * are allowed (durability). Returns an exit code. */
static int verify_topic(const rt_opts_t *o, const rt_state_t *st, bool exact)
{
    rt_verify_t v;
    int64_t high[RT_MAX_PARTITIONS], total = 0;
    memset(&v, 0, sizeof(v));
    v.base_ts = st->base_ts;
    v.exact = exact;

    /* Size the offset maps from the acknowledgements; past the high
     * watermark means lost (checked below). */
    for (int64_t k = 0; k < st->ack_count; k++) {
        const rt_ack_t *a = &st->acks[k];
        if (a->offset + 1 > v.size[a->partition])
            v.size[a->partition] = a->offset + 1;
    }
    for (int p = 0; p < st->partitions; p++) {
        v.last_index[p] = -1;
        v.by_offset[p] = malloc(sizeof(int64_t) * (size_t)(v.size[p] + 1));
        if (v.by_offset[p] == NULL) {
            fail("out of memory");
            return RT_EXIT_FAIL;
        }
        for (int64_t off = 0; off < v.size[p]; off++)
            v.by_offset[p][off] = -1;
    }
    for (int64_t k = 0; k < st->ack_count; k++) {
        const rt_ack_t *a = &st->acks[k];
        if (v.by_offset[a->partition][a->offset] >= 0)
            fail("records %" PRId64 " and %" PRId64 " were both acknowledged at partition %" PRId32
                 " offset %" PRId64,
                 v.by_offset[a->partition][a->offset], a->index, a->partition, a->offset);
        v.by_offset[a->partition][a->offset] = a->index;
    }

    int rc = RT_EXIT_FAIL;
    if (g_failures == 0 &&
        consume_all(o, st->topic, st->partitions, high, verify_visit, &v, &total) == 0) {
        for (int p = 0; p < st->partitions; p++)
            if (v.size[p] > high[p])
                fail("partition %d: acknowledged offset %" PRId64
                     " is beyond the high watermark %" PRId64 ": acknowledged records lost",
                     p, v.size[p] - 1, high[p]);
        if (v.checked != st->ack_count)
            fail("checked %" PRId64 " acknowledged records, expected %" PRId64, v.checked,
                 st->ack_count);
        if (g_failures == 0)
            rc = RT_EXIT_OK;
    }
    note("%s: %" PRId64 " records read, %" PRId64 " acknowledged ones checked, %" PRId64
         " never acknowledged%s",
         st->topic, total, v.checked, v.unacknowledged, exact ? "" : " (allowed)");
    for (int p = 0; p < st->partitions; p++)
        free(v.by_offset[p]);
    return rc;
}

/* ----------------------------------------------------------------- modes */

static int mode_roundtrip(const rt_opts_t *o)
{
    rt_produce_ctx_t ctx = {0};
    int64_t base_ts = wall_ms() - 100000; /* timestamps stay in the past */
    ctx.acks = calloc((size_t)o->count + 1, sizeof(*ctx.acks));
    if (ctx.acks == NULL) {
        fail("out of memory");
        return RT_EXIT_FAIL;
    }
    rd_kafka_t *rk = producer_new(o, &ctx);
    int rc = RT_EXIT_FAIL;
    if (topic_create(rk, o) != 0 ||
        topic_wait_ready(rk, o->topic, o->partitions, o->timeout_ms) != 0) {
        rd_kafka_destroy(rk);
        goto out_free;
    }
    int64_t t0 = now_ms();
    int64_t refused = produce_all(rk, o, base_ts, &ctx);
    rd_kafka_destroy(rk);
    note("produced %" PRId64 " records in %" PRId64 " ms: %" PRId64 " acknowledged, %" PRId64
         " failed, %" PRId64 " refused",
         o->count, now_ms() - t0, ctx.delivered, ctx.failed, refused);
    if (ctx.delivered != o->count) {
        fail("only %" PRId64 " of %" PRId64 " records were acknowledged", ctx.delivered, o->count);
        goto out_free;
    }

    FILE *f = fopen(o->state_path, "w");
    if (f == NULL || state_write_header(f, o->topic, o->partitions, o->count, base_ts) != 0) {
        fail("cannot write %s: %s", o->state_path, strerror(errno));
        if (f)
            fclose(f);
        goto out_free;
    }
    for (int64_t i = 0; i < o->count; i++)
        fprintf(f, "%" PRId64 " %" PRId32 " %" PRId64 "\n", ctx.acks[i].index,
                ctx.acks[i].partition, ctx.acks[i].offset);
    if (fclose(f) != 0) {
        fail("cannot write %s", o->state_path);
        goto out_free;
    }

    rt_state_t st = {.partitions = o->partitions,
                     .count = o->count,
                     .base_ts = base_ts,
                     .acks = ctx.acks,
                     .ack_count = o->count};
    snprintf(st.topic, sizeof(st.topic), "%s", o->topic);
    rc = verify_topic(o, &st, true);
out_free:
    free(ctx.acks);
    return rc;
}

static int mode_verify(const rt_opts_t *o, bool exact)
{
    rt_state_t st;
    if (state_load(o->state_path, &st) != 0)
        return RT_EXIT_FAIL;
    if (strcmp(st.topic, o->topic) != 0) {
        fail("state file is for topic %s, not %s", st.topic, o->topic);
        free(st.acks);
        return RT_EXIT_FAIL;
    }
    if (exact && st.ack_count != st.count) {
        fail("state file lists %" PRId64 " of %" PRId64 " records", st.ack_count, st.count);
        free(st.acks);
        return RT_EXIT_FAIL;
    }
    note("verifying %" PRId64 " acknowledged records of %s", st.ack_count, st.topic);
    int rc = verify_topic(o, &st, exact);
    free(st.acks);
    return rc;
}

static int mode_durable_produce(const rt_opts_t *o)
{
    rt_produce_ctx_t ctx = {0};
    int64_t base_ts = wall_ms() - 100000;
    ctx.ack_file = fopen(o->state_path, "w");
    if (ctx.ack_file == NULL ||
        state_write_header(ctx.ack_file, o->topic, o->partitions, o->count, base_ts) != 0 ||
        fflush(ctx.ack_file) != 0) {
        fail("cannot write %s: %s", o->state_path, strerror(errno));
        return RT_EXIT_FAIL;
    }
    rd_kafka_t *rk = producer_new(o, &ctx);
    int rc = RT_EXIT_FAIL;
    if (topic_create(rk, o) == 0 &&
        topic_wait_ready(rk, o->topic, o->partitions, o->timeout_ms) == 0) {
        int64_t refused = produce_all(rk, o, base_ts, &ctx);
        note("durability: %" PRId64 " acknowledged, %" PRId64 " failed, %" PRId64 " refused",
             ctx.delivered, ctx.failed, refused);
        rc = ctx.delivered == o->count ? RT_EXIT_OK : RT_EXIT_PARTIAL;
        if (ctx.delivered == 0)
            rc = RT_EXIT_FAIL;
    }
    rd_kafka_destroy(rk);
    if (fclose(ctx.ack_file) != 0) {
        fail("cannot write %s", o->state_path);
        rc = RT_EXIT_FAIL;
    }
    return rc;
}

typedef struct {
    FILE *out;
} rt_dump_t;

static void dump_bytes(FILE *out, const void *p, size_t size)
{
    if (p == NULL) {
        fputs("~", out);
        return;
    }
    fputc('x', out);
    for (size_t i = 0; i < size; i++)
        fprintf(out, "%02x", ((const uint8_t *)p)[i]);
}

static void dump_visit(const rd_kafka_message_t *msg, void *arg)
{
    rt_dump_t *d = arg;
    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);
    fprintf(d->out, "%" PRId32 " %" PRId64 " %" PRId64 " ", msg->partition, msg->offset, ts);
    dump_bytes(d->out, msg->key, msg->key_len);
    fputc(' ', d->out);
    dump_bytes(d->out, msg->payload, msg->len);
    rd_kafka_headers_t *hdrs = NULL;
    size_t count = 0;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        count = rd_kafka_header_cnt(hdrs);
    fprintf(d->out, " %zu", count);
    for (size_t h = 0; h < count; h++) {
        const char *name;
        const void *value;
        size_t size;
        rd_kafka_header_get_all(hdrs, h, &name, &value, &size);
        fputc(' ', d->out);
        dump_bytes(d->out, name, strlen(name));
        fputc('=', d->out);
        dump_bytes(d->out, value, size);
    }
    fputc('\n', d->out);
}

static int mode_dump(const rt_opts_t *o)
{
    int64_t high[RT_MAX_PARTITIONS], total = 0;
    rt_dump_t d = {stdout};
    if (consume_all(o, o->topic, o->partitions, high, dump_visit, &d, &total) != 0)
        return RT_EXIT_FAIL;
    note("dumped %" PRId64 " records of %s", total, o->topic);
    return fflush(stdout) == 0 ? RT_EXIT_OK : RT_EXIT_FAIL;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rdk_roundtrip --bootstrap HOST:PORT --topic T [mode] [options]\n"
            "modes: (default: create, produce, verify) | --verify-only | --durability-produce\n"
            "       | --durability-verify | --dump\n"
            "options: --state FILE (not for --dump)  --partitions N (default 6)\n"
            "         --count N (default 100000)  --timeout-ms MS (default 300000)\n"
            "         --message-timeout-ms MS (default 60000)  --compression CODEC\n");
}

static int parse_args(int argc, char **argv, rt_opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (strcmp(a, "--bootstrap") == 0 && v)
            o->bootstrap = v;
        else if (strcmp(a, "--topic") == 0 && v)
            o->topic = v;
        else if (strcmp(a, "--state") == 0 && v)
            o->state_path = v;
        else if (strcmp(a, "--compression") == 0 && v)
            o->compression = v;
        else if (strcmp(a, "--partitions") == 0 && v)
            o->partitions = atoi(v);
        else if (strcmp(a, "--count") == 0 && v)
            o->count = atoll(v);
        else if (strcmp(a, "--timeout-ms") == 0 && v)
            o->timeout_ms = atoi(v);
        else if (strcmp(a, "--message-timeout-ms") == 0 && v)
            o->message_timeout_ms = atoi(v);
        else {
            takes_value = false;
            if (strcmp(a, "--verify-only") == 0)
                o->mode = MODE_VERIFY;
            else if (strcmp(a, "--durability-produce") == 0)
                o->mode = MODE_DURABLE_PRODUCE;
            else if (strcmp(a, "--durability-verify") == 0)
                o->mode = MODE_DURABLE_VERIFY;
            else if (strcmp(a, "--dump") == 0)
                o->mode = MODE_DUMP;
            else if (strcmp(a, "--help") == 0) {
                usage(stdout);
                exit(RT_EXIT_OK);
            } else {
                fprintf(stderr, "rdk_roundtrip: bad argument '%s'\n", a);
                return -1;
            }
        }
        if (takes_value)
            i++;
    }
    if (o->bootstrap == NULL || o->topic == NULL || o->partitions <= 0 ||
        o->partitions > RT_MAX_PARTITIONS || o->count <= 0 || o->timeout_ms <= 0 ||
        o->message_timeout_ms <= 0 || (o->mode != MODE_DUMP && o->state_path == NULL)) {
        fprintf(stderr, "rdk_roundtrip: missing or invalid options\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    rt_opts_t o = {
        .mode = MODE_ROUNDTRIP,
        .compression = "none",
        .partitions = 6,
        .count = 100000,
        .timeout_ms = 300000,
        .message_timeout_ms = 60000,
    };
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return RT_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc;
    switch (o.mode) {
    case MODE_ROUNDTRIP:
        rc = mode_roundtrip(&o);
        break;
    case MODE_VERIFY:
        rc = mode_verify(&o, true);
        break;
    case MODE_DURABLE_PRODUCE:
        rc = mode_durable_produce(&o);
        break;
    case MODE_DURABLE_VERIFY:
        rc = mode_verify(&o, false);
        break;
    default:
        rc = mode_dump(&o);
        break;
    }
    if (g_failures > 0 && rc == RT_EXIT_OK)
        rc = RT_EXIT_FAIL;
    fprintf(stderr, "rdk_roundtrip: %s (%d failure%s)\n", rc == RT_EXIT_OK ? "PASS" : "FAIL",
            g_failures, g_failures == 1 ? "" : "s");
    return rc;
}
