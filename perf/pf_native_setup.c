/*
 * pf_native_setup.c — the native engine's set-up conversation (pf_native.h
 * "Set-up"): blocking request/response on one socket, before any ring or
 * thread exists. Every response is read whole (size-checked against
 * PF_NSETUP_MAX_RESPONSE_BYTES) and decoded by the generated codecs.
 */
#include "pf_native.h"
#include "pf_native_frame.h"
#include "pf_native_parse.h"
#include "pf_native_conn.h"
#include "pf_native_thread.h"
#include "kp_batch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#define PF_NSETUP_MAX_RESPONSE_BYTES (64u << 20)
#define PF_NSETUP_REQUEST_BYTES (1u << 20)
#define PF_NSETUP_ARENA_BYTES (64u << 20)

typedef struct pf_nsetup {
    int fd;
    int32_t correlation;
    uint8_t *req;  /* PF_NSETUP_REQUEST_BYTES */
    uint8_t *resp; /* the last response, malloc'd */
    kp_arena_t arena;
} pf_nsetup_t;

static int pf_write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pf_read_all(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ECONNRESET;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends one request and reads its response; *body is left at the response
 * body (in s->resp). Returns 0, or -1 after printing. */
static int pf_nsetup_rpc(pf_nsetup_t *s, int16_t key, int16_t version, const void *req,
                         const char *what, kp_reader_t *body)
{
    int32_t corr = ++s->correlation;
    int n = pf_nframe_encode(s->req, PF_NSETUP_REQUEST_BYTES, key, version, corr, req);
    if (n < 0) {
        fprintf(stderr, "sluice-perf: %s request too large\n", what);
        return -1;
    }
    int err = pf_write_all(s->fd, s->req, (size_t)n);
    uint8_t sz[4];
    if (err == 0)
        err = pf_read_all(s->fd, sz, 4);
    if (err != 0) {
        fprintf(stderr, "sluice-perf: %s: %s\n", what, strerror(-err));
        return -1;
    }
    uint32_t size = (uint32_t)sz[0] << 24 | (uint32_t)sz[1] << 16 | (uint32_t)sz[2] << 8 | sz[3];
    if (size < 4 || size > PF_NSETUP_MAX_RESPONSE_BYTES) {
        fprintf(stderr, "sluice-perf: %s: response of %" PRIu32 " bytes refused\n", what, size);
        return -1;
    }
    free(s->resp);
    s->resp = malloc(size);
    if (s->resp == NULL) {
        fprintf(stderr, "sluice-perf: out of memory\n");
        return -1;
    }
    err = pf_read_all(s->fd, s->resp, size);
    if (err != 0) {
        fprintf(stderr, "sluice-perf: %s: %s\n", what, strerror(-err));
        return -1;
    }
    int32_t got;
    if (pf_nparse_header(s->resp, size, key, version, &got, body) != 0 || got != corr) {
        fprintf(stderr, "sluice-perf: %s: malformed response header\n", what);
        return -1;
    }
    kp_arena_reset(&s->arena);
    return 0;
}

/* The highest version in [lo, hi] both sides speak, or -1. */
static int16_t pf_pick_version(const kp_api_versions_response_t *av, int16_t key, int16_t lo,
                               int16_t hi)
{
    const kp_api_desc_t *d = kp_api_desc_find(key);
    ASSERT(d != NULL);
    hi = SL_MIN(hi, d->max_version);
    for (int32_t i = 0; i < av->api_keys_count; i++) {
        const kp_api_versions_response_api_version_t *e = &av->api_keys[i];
        if (e->api_key != key)
            continue;
        int16_t v = SL_MIN(hi, e->max_version);
        return v >= lo && v >= e->min_version ? v : -1;
    }
    return -1;
}

static int pf_nsetup_versions(pf_nsetup_t *s, pf_nversions_t *v)
{
    kp_api_versions_request_t req;
    kp_api_versions_request_init(&req);
    kp_reader_t r;
    if (pf_nsetup_rpc(s, KP_API_API_VERSIONS, 0, &req, "ApiVersions", &r) != 0)
        return -1;
    kp_api_versions_response_t resp;
    if (kp_api_versions_response_decode(&r, &s->arena, 0, &resp) != 0 || resp.error_code != 0) {
        fprintf(stderr, "sluice-perf: ApiVersions: bad response\n");
        return -1;
    }
    /* v8 at most: its frames can be cut short (pf_native_frame.h). */
    v->produce = pf_pick_version(&resp, KP_API_PRODUCE, 3, 8);
    v->fetch = pf_pick_version(&resp, KP_API_FETCH, 4, 12);
    v->metadata = pf_pick_version(&resp, KP_API_METADATA, 1, 12);
    v->create_topics = pf_pick_version(&resp, KP_API_CREATE_TOPICS, 0, 7);
    v->list_offsets = pf_pick_version(&resp, KP_API_LIST_OFFSETS, 1, 7);
    if (v->produce < 0 || v->fetch < 0 || v->metadata < 0 || v->list_offsets < 0) {
        fprintf(stderr, "sluice-perf: the broker lacks Produce v3+, Fetch v4+, Metadata v1+ "
                        "or ListOffsets v1+\n");
        return -1;
    }
    return 0;
}

/* Partition count of topic: > 0, 0 when it does not exist, -1 after printing. */
static int32_t pf_nsetup_partitions(pf_nsetup_t *s, const pf_nversions_t *v, const char *topic)
{
    kp_metadata_request_topics_t t;
    kp_metadata_request_topics_init(&t);
    t.name = kp_str_from(topic);
    kp_metadata_request_t req;
    kp_metadata_request_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.allow_auto_topic_creation = false;
    kp_reader_t r;
    if (pf_nsetup_rpc(s, KP_API_METADATA, v->metadata, &req, "Metadata", &r) != 0)
        return -1;
    kp_metadata_response_t resp;
    if (kp_metadata_response_decode(&r, &s->arena, v->metadata, &resp) != 0) {
        fprintf(stderr, "sluice-perf: Metadata: malformed response\n");
        return -1;
    }
    for (int32_t i = 0; i < resp.topics_count; i++) {
        const kp_metadata_response_topics_t *mt = &resp.topics[i];
        if (!kp_str_eq(mt->name, topic))
            continue;
        if (mt->error_code == 3) /* UNKNOWN_TOPIC_OR_PARTITION */
            return 0;
        if (mt->error_code != 0) {
            fprintf(stderr, "sluice-perf: Metadata of %s: %s (%d)\n", topic,
                    pf_nerror_name(mt->error_code), mt->error_code);
            return mt->error_code == 5 ? 0 : -1; /* LEADER_NOT_AVAILABLE: being created */
        }
        /* Partitions must be 0..n-1, all led by the broker we talk to. */
        return mt->partitions_count;
    }
    return 0;
}

static int pf_nsetup_create(pf_nsetup_t *s, const pf_nversions_t *v, const char *topic,
                            int32_t partitions)
{
    if (v->create_topics < 0) {
        fprintf(stderr, "sluice-perf: the broker has no CreateTopics\n");
        return -1;
    }
    kp_create_topics_request_topics_t t;
    kp_create_topics_request_topics_init(&t);
    t.name = kp_str_from(topic);
    t.num_partitions = partitions;
    t.replication_factor = 1;
    kp_create_topics_request_t req;
    kp_create_topics_request_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = PF_NATIVE_REQUEST_TIMEOUT_MS;
    kp_reader_t r;
    if (pf_nsetup_rpc(s, KP_API_CREATE_TOPICS, v->create_topics, &req, "CreateTopics", &r) != 0)
        return -1;
    kp_create_topics_response_t resp;
    if (kp_create_topics_response_decode(&r, &s->arena, v->create_topics, &resp) != 0) {
        fprintf(stderr, "sluice-perf: CreateTopics: malformed response\n");
        return -1;
    }
    for (int32_t i = 0; i < resp.topics_count; i++) {
        int16_t e = resp.topics[i].error_code;
        if (e != 0 && e != 36) { /* 36: TOPIC_ALREADY_EXISTS */
            fprintf(stderr, "sluice-perf: create topic %s: %s (%d)\n", topic, pf_nerror_name(e), e);
            return -1;
        }
    }
    return 0;
}

/* Offsets of every partition at `timestamp` (-1 latest, -2 earliest). */
static int pf_nsetup_offsets(pf_nsetup_t *s, const pf_nversions_t *v, const char *topic,
                             int32_t partitions, int64_t timestamp, int64_t *out)
{
    kp_list_offsets_request_partitions_t *ps = calloc((size_t)partitions, sizeof(*ps));
    if (ps == NULL)
        return -1;
    for (int32_t p = 0; p < partitions; p++) {
        kp_list_offsets_request_partitions_init(&ps[p]);
        ps[p].partition_index = p;
        ps[p].timestamp = timestamp;
        out[p] = -1;
    }
    kp_list_offsets_request_topics_t t;
    kp_list_offsets_request_topics_init(&t);
    t.name = kp_str_from(topic);
    t.partitions = ps;
    t.partitions_count = partitions;
    kp_list_offsets_request_t req;
    kp_list_offsets_request_init(&req);
    req.replica_id = -1;
    req.topics = &t;
    req.topics_count = 1;
    kp_reader_t r;
    int rc = pf_nsetup_rpc(s, KP_API_LIST_OFFSETS, v->list_offsets, &req, "ListOffsets", &r);
    free(ps);
    if (rc != 0)
        return -1;
    kp_list_offsets_response_t resp;
    if (kp_list_offsets_response_decode(&r, &s->arena, v->list_offsets, &resp) != 0) {
        fprintf(stderr, "sluice-perf: ListOffsets: malformed response\n");
        return -1;
    }
    for (int32_t i = 0; i < resp.topics_count; i++)
        for (int32_t j = 0; j < resp.topics[i].partitions_count; j++) {
            const kp_list_offsets_response_partitions_t *lp = &resp.topics[i].partitions[j];
            if (lp->error_code != 0) {
                fprintf(stderr, "sluice-perf: ListOffsets %s/%" PRId32 ": %s (%d)\n", topic,
                        lp->partition_index, pf_nerror_name(lp->error_code), lp->error_code);
                return -1;
            }
            if (lp->partition_index >= 0 && lp->partition_index < partitions)
                out[lp->partition_index] = lp->offset;
        }
    for (int32_t p = 0; p < partitions; p++)
        if (out[p] < 0) {
            fprintf(stderr, "sluice-perf: ListOffsets: no offset for partition %" PRId32 "\n", p);
            return -1;
        }
    return 0;
}

/* pf_topic_ops_t over a setup connection. */
typedef struct {
    pf_nsetup_t *s;
    const pf_nversions_t *v;
} pf_ntopic_ctx_t;

static int32_t pf_ntopic_partitions(void *ctx, const char *topic)
{
    pf_ntopic_ctx_t *t = ctx;
    return pf_nsetup_partitions(t->s, t->v, topic);
}

static int pf_ntopic_create(void *ctx, const char *topic, int32_t partitions)
{
    pf_ntopic_ctx_t *t = ctx;
    return pf_nsetup_create(t->s, t->v, topic, partitions);
}

static void pf_ntopic_pause(void *ctx, int32_t n)
{
    (void)ctx;
    if (n == 0) /* after an error (n < 0), check again at once */
        usleep(100000);
}

int pf_nsetup_run(pf_run_t *run)
{
    const pf_config_t *c = run->config;
    pf_native_t *eng = calloc(1, sizeof(*eng));
    if (eng == NULL)
        return -1;
    run->engine = eng;
    eng->records_per_batch = pf_native_records_per_batch(c);
    if (pf_nconn_resolve(c->bootstrap, &eng->addr, &eng->addr_len) != 0)
        return -1;
    pf_nsetup_t s = {.fd = -1};
    kp_arena_init(&s.arena, PF_NSETUP_ARENA_BYTES);
    int rc = -1;
    s.req = malloc(PF_NSETUP_REQUEST_BYTES);
    if (s.req == NULL)
        goto out;
    s.fd = pf_nconn_connect(&eng->addr, eng->addr_len);
    if (s.fd < 0) {
        fprintf(stderr, "sluice-perf: cannot connect to %s: %s\n", c->bootstrap, strerror(-s.fd));
        goto out;
    }
    if (pf_nsetup_versions(&s, &eng->versions) != 0)
        goto out;
    pf_ntopic_ctx_t tctx = {.s = &s, .v = &eng->versions};
    const pf_topic_ops_t ops = {
        .ctx = &tctx,
        .partitions = pf_ntopic_partitions,
        .create = pf_ntopic_create,
        .pause = pf_ntopic_pause,
    };
    if (pf_run_prepare_topic(run, &ops) != 0)
        goto out;
    int32_t n = run->partition_count;
    if (run->have_consumer) {
        eng->start_offsets = calloc((size_t)n, sizeof(int64_t));
        if (eng->start_offsets == NULL)
            goto out;
        if (pf_nsetup_offsets(&s, &eng->versions, c->topic, n, c->mode == PF_MODE_E2E ? -1 : -2,
                              eng->start_offsets) != 0)
            goto out;
    }
    rc = 0;
out:
    if (s.fd >= 0)
        close(s.fd);
    free(s.req);
    free(s.resp);
    kp_arena_destroy(&s.arena);
    return rc;
}
