/* test_proto_messages_golden.c — generated codecs against byte vectors derived
 * by hand from the protocol rules (KAFKA-PROTOCOL.md §1), and the behaviours
 * the generator promises: defaults, tagged fields written only when they
 * differ, unknown tags skipped, null handling, out-of-line records. */
#include "sl_base.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>

#include "kp_header.h"
#include "kp_messages.h"

/* ----------------------------------------------------------- golden cases */

/* The byte vectors are laid out one protocol field a line. */
/* clang-format off */

/* Each case builds a message into `m` (static storage for its arrays), and
 * knows the exact bytes of header (optional) + body. */
typedef struct {
    const char *name;
    int16_t api_key;
    int16_t version;
    bool response;
    int header_version; /* -1: body only */
    int32_t correlation_id;
    const char *client_id;
    void (*build)(void *m);
    const uint8_t *bytes;
    size_t len;
} golden_t;

static void build_api_versions_v0_response(void *p)
{
    static kp_api_versions_response_api_version_t keys[2] = {
        {KP_API_PRODUCE, 0, 9},
        {KP_API_API_VERSIONS, 0, 4},
    };
    kp_api_versions_response_t *m = p;
    kp_api_versions_response_init(m);
    m->api_keys = keys;
    m->api_keys_count = 2;
}
static const uint8_t api_versions_v0_response[] = {
    0x00, 0x00, 0x00, 0x2a,             /* response header v0: correlation id 42 */
    0x00, 0x00,                         /* error_code 0 */
    0x00, 0x00, 0x00, 0x02,             /* api_keys: 2 (int32) */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* Produce 0..9 */
    0x00, 0x12, 0x00, 0x00, 0x00, 0x04, /* ApiVersions 0..4 */
};

static void build_api_versions_v3_request(void *p)
{
    kp_api_versions_request_t *m = p;
    kp_api_versions_request_init(m);
    m->client_software_name = kp_str_from("librdkafka");
    m->client_software_version = kp_str_from("2.0.2");
}
static const uint8_t api_versions_v3_request[] = {
    0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,                /* key 18, v3, correlation 1 */
    0x00, 0x07, 'r',  'd',  'k',  'a',  'f',  'k',  'a',           /* client id: classic string */
    0x00,                                                          /* header tagged fields */
    0x0b, 'l',  'i',  'b',  'r',  'd',  'k',  'a',  'f', 'k', 'a', /* compact "librdkafka" */
    0x06, '2',  '.',  '0',  '.',  '2',                             /* compact "2.0.2" */
    0x00,                                                          /* body tagged fields */
};

static void build_api_versions_v3_response(void *p)
{
    static kp_api_versions_response_api_version_t keys[1] = {{KP_API_API_VERSIONS, 0, 4}};
    kp_api_versions_response_t *m = p;
    kp_api_versions_response_init(m);
    m->api_keys = keys;
    m->api_keys_count = 1;
    m->finalized_features_epoch = 5;
}
static const uint8_t api_versions_v3_response[] = {
    0x00, 0x00,                                     /* error_code */
    0x02,                                           /* api_keys: compact count 1 */
    0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,       /* entry + its tagged fields */
    0x00, 0x00, 0x00, 0x00,                         /* throttle_time_ms */
    0x01,                                           /* one tagged field: */
    0x01, 0x08,                                     /* tag 1, 8 bytes */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* finalized_features_epoch 5 */
};

static void build_metadata_v1_request(void *p)
{
    static kp_metadata_request_metadata_request_topic_t topics[1];
    kp_metadata_request_metadata_request_topic_init(&topics[0]);
    topics[0].name = kp_str_from("foo");
    kp_metadata_request_t *m = p;
    kp_metadata_request_init(m);
    m->topics = topics;
    m->topics_count = 1;
}
static const uint8_t metadata_v1_request[] = {
    0x00, 0x00, 0x00, 0x01,      /* topics: 1 */
    0x00, 0x03, 'f',  'o',  'o', /* name */
};

static void build_metadata_v1_request_all(void *p)
{
    kp_metadata_request_t *m = p;
    kp_metadata_request_init(m);
    m->topics_count = -1;
}
static const uint8_t metadata_v1_request_all[] = {0xff, 0xff, 0xff, 0xff};

static void build_create_topics_v5_request(void *p)
{
    static kp_create_topics_request_creatable_topic_t topics[1];
    static kp_create_topics_request_creatable_topic_config_t configs[1];
    kp_create_topics_request_creatable_topic_config_init(&configs[0]);
    configs[0].name = kp_str_from("cleanup.policy");
    configs[0].value = kp_str_from("compact");
    kp_create_topics_request_creatable_topic_init(&topics[0]);
    topics[0].name = kp_str_from("t");
    topics[0].num_partitions = 3;
    topics[0].replication_factor = 1;
    topics[0].configs = configs;
    topics[0].configs_count = 1;
    kp_create_topics_request_t *m = p;
    kp_create_topics_request_init(m);
    m->topics = topics;
    m->topics_count = 1;
    m->timeout_ms = 30000;
}
static const uint8_t create_topics_v5_request[] = {
    0x02,                                      /* topics: compact count 1 */
    0x02, 't',                                 /* name */
    0x00, 0x00, 0x00, 0x03,                    /* num_partitions */
    0x00, 0x01,                                /* replication_factor */
    0x01,                                      /* assignments: empty */
    0x02,                                      /* configs: 1 */
    0x0f, 'c', 'l', 'e', 'a', 'n', 'u', 'p',   /* name: compact, 14 bytes */
    '.', 'p', 'o', 'l', 'i', 'c', 'y',
    0x08, 'c', 'o', 'm', 'p', 'a', 'c', 't',   /* value: compact, 7 bytes */
    0x00,                                      /* config tagged fields */
    0x00,                                      /* topic tagged fields */
    0x00, 0x00, 0x75, 0x30,                    /* timeout_ms 30000 */
    0x00,                                      /* validate_only false */
    0x00,                                      /* tagged fields */
};

static void build_fetch_v4_request(void *p)
{
    static kp_fetch_request_fetch_topic_t topics[1];
    static kp_fetch_request_fetch_partition_t parts[1];
    kp_fetch_request_fetch_partition_init(&parts[0]);
    parts[0].partition = 0;
    parts[0].fetch_offset = 42;
    parts[0].partition_max_bytes = 1048576;
    kp_fetch_request_fetch_topic_init(&topics[0]);
    topics[0].topic = kp_str_from("foo");
    topics[0].partitions = parts;
    topics[0].partitions_count = 1;
    kp_fetch_request_t *m = p;
    kp_fetch_request_init(m);
    m->max_wait_ms = 500;
    m->min_bytes = 1;
    m->max_bytes = 52428800;
    m->isolation_level = 1;
    m->topics = topics;
    m->topics_count = 1;
}
static const uint8_t fetch_v4_request[] = {
    0xff, 0xff, 0xff, 0xff,                         /* replica_id -1 (default) */
    0x00, 0x00, 0x01, 0xf4,                         /* max_wait_ms 500 */
    0x00, 0x00, 0x00, 0x01,                         /* min_bytes 1 */
    0x03, 0x20, 0x00, 0x00,                         /* max_bytes 50 MiB */
    0x01,                                           /* isolation_level read_committed */
    0x00, 0x00, 0x00, 0x01,                         /* topics: 1 */
    0x00, 0x03, 'f',  'o',  'o',                    /* topic */
    0x00, 0x00, 0x00, 0x01,                         /* partitions: 1 */
    0x00, 0x00, 0x00, 0x00,                         /* partition 0 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* fetch_offset 42 */
    0x00, 0x10, 0x00, 0x00,                         /* partition_max_bytes 1 MiB */
};

static const uint8_t records_abcd[] = {'a', 'b', 'c', 'd'};

static void build_produce_v3_request(void *p)
{
    static kp_produce_request_topic_data_t topics[1];
    static kp_produce_request_partition_data_t parts[1];
    kp_produce_request_partition_data_init(&parts[0]);
    parts[0].index = 0;
    parts[0].records = (kp_bytes_t){records_abcd, 4};
    kp_produce_request_topic_data_init(&topics[0]);
    topics[0].name = kp_str_from("foo");
    topics[0].partition_data = parts;
    topics[0].partition_data_count = 1;
    kp_produce_request_t *m = p;
    kp_produce_request_init(m);
    m->acks = -1;
    m->timeout_ms = 1500;
    m->topic_data = topics;
    m->topic_data_count = 1;
}
static const uint8_t produce_v3_request[] = {
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, /* key 0, v3, correlation 7 */
    0x00, 0x03, 'c',  'l',  'i',                    /* client id (header v1) */
    0xff, 0xff,                                     /* transactional_id null */
    0xff, 0xff,                                     /* acks -1 */
    0x00, 0x00, 0x05, 0xdc,                         /* timeout_ms 1500 */
    0x00, 0x00, 0x00, 0x01,                         /* topic_data: 1 */
    0x00, 0x03, 'f',  'o',  'o',                    /* name */
    0x00, 0x00, 0x00, 0x01,                         /* partition_data: 1 */
    0x00, 0x00, 0x00, 0x00,                         /* index 0 */
    0x00, 0x00, 0x00, 0x04, 'a',  'b',  'c',  'd',  /* records */
};

static void build_fetch_v12_response(void *p)
{
    static kp_fetch_response_fetchable_topic_response_t topics[1];
    static kp_fetch_response_partition_data_t parts[1];
    kp_fetch_response_partition_data_init(&parts[0]);
    parts[0].high_watermark = 10;
    parts[0].last_stable_offset = 10;
    parts[0].log_start_offset = 0;
    parts[0].aborted_transactions_count = -1;
    parts[0].current_leader.leader_id = 1;
    parts[0].current_leader.leader_epoch = 5;
    parts[0].records = (kp_bytes_t){records_abcd, 3};
    kp_fetch_response_fetchable_topic_response_init(&topics[0]);
    topics[0].topic = kp_str_from("t");
    topics[0].partitions = parts;
    topics[0].partitions_count = 1;
    kp_fetch_response_t *m = p;
    kp_fetch_response_init(m);
    m->responses = topics;
    m->responses_count = 1;
}
static const uint8_t fetch_v12_response[] = {
    0x00, 0x00, 0x00, 0x00,                         /* throttle_time_ms */
    0x00, 0x00,                                     /* error_code */
    0x00, 0x00, 0x00, 0x00,                         /* session_id */
    0x02,                                           /* responses: 1 */
    0x02, 't',                                      /* topic */
    0x02,                                           /* partitions: 1 */
    0x00, 0x00, 0x00, 0x00,                         /* partition_index */
    0x00, 0x00,                                     /* error_code */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, /* high_watermark 10 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, /* last_stable_offset 10 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* log_start_offset 0 */
    0x00,                                           /* aborted_transactions: null */
    0xff, 0xff, 0xff, 0xff,                         /* preferred_read_replica -1 */
    0x04, 'a',  'b',  'c',                          /* records: 3 bytes */
    0x01,                                           /* one tagged field (defaults omitted): */
    0x01, 0x09,                                     /* tag 1 current_leader, 9 bytes */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, /* leader 1, epoch 5 */
    0x00,                                           /* its own tagged fields */
    0x00,                                           /* topic tagged fields */
    0x00,                                           /* tagged fields */
};

/* Nullable struct (Assignment): int8 presence marker, 1 present / -1 null. */
static void build_cg_heartbeat_v0_response(void *p)
{
    static int32_t parts[2] = {0, 1};
    static kp_consumer_group_heartbeat_response_topic_partitions_t tps[1];
    static kp_consumer_group_heartbeat_response_assignment_t asg;
    kp_consumer_group_heartbeat_response_topic_partitions_init(&tps[0]);
    for (int i = 0; i < 16; i++)
        tps[0].topic_id.b[i] = (uint8_t)(i + 1);
    tps[0].partitions = parts;
    tps[0].partitions_count = 2;
    kp_consumer_group_heartbeat_response_assignment_init(&asg);
    asg.topic_partitions = tps;
    asg.topic_partitions_count = 1;
    kp_consumer_group_heartbeat_response_t *m = p;
    kp_consumer_group_heartbeat_response_init(m);
    m->member_id = kp_str_from("m");
    m->member_epoch = 5;
    m->heartbeat_interval_ms = 3000;
    m->assignment = &asg;
}
static const uint8_t cg_heartbeat_v0_response[] = {
    0x00, 0x00, 0x00, 0x00,                         /* throttle_time_ms */
    0x00, 0x00,                                     /* error_code */
    0x00,                                           /* error_message: null */
    0x02, 'm',                                      /* member_id */
    0x00, 0x00, 0x00, 0x05,                         /* member_epoch */
    0x00, 0x00, 0x0b, 0xb8,                         /* heartbeat_interval_ms 3000 */
    0x01,                                           /* assignment: present */
    0x02,                                           /* topic_partitions: 1 */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* topic_id */
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
    0x03,                                           /* partitions: 2 */
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01,
    0x00,                                           /* topic partition tagged fields */
    0x00,                                           /* assignment tagged fields */
    0x00,                                           /* tagged fields */
};

static void build_cg_heartbeat_v0_response_null(void *p)
{
    kp_consumer_group_heartbeat_response_t *m = p;
    kp_consumer_group_heartbeat_response_init(m);
    m->member_id = kp_str_from("m");
    m->member_epoch = 5;
    m->heartbeat_interval_ms = 3000;
}
static const uint8_t cg_heartbeat_v0_response_null[] = {
    0x00, 0x00, 0x00, 0x00,                         /* throttle_time_ms */
    0x00, 0x00,                                     /* error_code */
    0x00,                                           /* error_message: null */
    0x02, 'm',                                      /* member_id */
    0x00, 0x00, 0x00, 0x05,                         /* member_epoch */
    0x00, 0x00, 0x0b, 0xb8,                         /* heartbeat_interval_ms 3000 */
    0xff,                                           /* assignment: null */
    0x00,                                           /* tagged fields */
};

#define CASE(n, key, ver, resp, hv, corr, cid, b, bytes)                                           \
    {                                                                                              \
        n, key, ver, resp, hv, corr, cid, b, bytes, sizeof(bytes)                                  \
    }

static const golden_t goldens[] = {
    CASE("ApiVersions v0 response + header v0", KP_API_API_VERSIONS, 0, true, 0, 42, NULL,
         build_api_versions_v0_response, api_versions_v0_response),
    CASE("ApiVersions v3 request + header v2", KP_API_API_VERSIONS, 3, false, 2, 1, "rdkafka",
         build_api_versions_v3_request, api_versions_v3_request),
    CASE("ApiVersions v3 response with a tagged field", KP_API_API_VERSIONS, 3, true, -1, 0, NULL,
         build_api_versions_v3_response, api_versions_v3_response),
    CASE("Metadata v1 request", KP_API_METADATA, 1, false, -1, 0, NULL, build_metadata_v1_request,
         metadata_v1_request),
    CASE("Metadata v1 request, all topics", KP_API_METADATA, 1, false, -1, 0, NULL,
         build_metadata_v1_request_all, metadata_v1_request_all),
    CASE("CreateTopics v5 request", KP_API_CREATE_TOPICS, 5, false, -1, 0, NULL,
         build_create_topics_v5_request, create_topics_v5_request),
    CASE("Fetch v4 request", KP_API_FETCH, 4, false, -1, 0, NULL, build_fetch_v4_request,
         fetch_v4_request),
    CASE("Produce v3 request + header v1", KP_API_PRODUCE, 3, false, 1, 7, "cli",
         build_produce_v3_request, produce_v3_request),
    CASE("Fetch v12 response with nested tagged struct", KP_API_FETCH, 12, true, -1, 0, NULL,
         build_fetch_v12_response, fetch_v12_response),
    CASE("ConsumerGroupHeartbeat v0 response, assignment present",
         KP_API_CONSUMER_GROUP_HEARTBEAT, 0, true, -1, 0, NULL,
         build_cg_heartbeat_v0_response, cg_heartbeat_v0_response),
    CASE("ConsumerGroupHeartbeat v0 response, assignment null",
         KP_API_CONSUMER_GROUP_HEARTBEAT, 0, true, -1, 0, NULL,
         build_cg_heartbeat_v0_response_null, cg_heartbeat_v0_response_null),
};

/* clang-format on */

/* Parameters are indexes: Criterion runs each case in a worker process where
 * pointers taken in the parent may not be valid. */
ParameterizedTestParameters(golden, encodes_and_decodes_exact_bytes)
{
    static size_t idx[SL_ARRAY_SIZE(goldens)];
    for (size_t i = 0; i < SL_ARRAY_SIZE(goldens); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, SL_ARRAY_SIZE(goldens));
}

ParameterizedTest(size_t *gi, golden, encodes_and_decodes_exact_bytes)
{
    const golden_t *g = &goldens[*gi];
    const kp_api_schema_t *api = kp_api_schema_find(g->api_key);
    cr_assert(api != NULL);
    const kp_msg_schema_t *ms = g->response ? &api->response : &api->request;
    void *m = calloc(1, ms->desc->size);
    g->build(m);

    /* encode header (if any) + body and compare with the vector */
    uint8_t buf[512];
    kp_writer_t w;
    kp_writer_init(&w, buf, sizeof(buf));
    kp_request_header_t h = {g->api_key, g->version, g->correlation_id, kp_str_from(g->client_id)};
    size_t hlen = 0;
    if (g->header_version >= 0) {
        if (g->response) {
            cr_assert_eq(g->header_version, kp_response_header_version(g->api_key, g->version));
            cr_assert_eq(kp_response_header_encode(&w, g->header_version, g->correlation_id), 0);
            hlen = kp_response_header_size(g->header_version);
        } else {
            cr_assert_eq(g->header_version, kp_request_header_version(g->api_key, g->version));
            cr_assert_eq(kp_request_header_encode(&w, &h, g->header_version), 0);
            hlen = kp_request_header_size(&h, g->header_version);
        }
        cr_assert_eq(w.len, hlen);
    }
    cr_assert_eq(ms->encode(&w, m, g->version), 0);
    cr_assert_eq(ms->size(m, g->version), g->len - hlen, "%s: size", g->name);
    cr_assert_eq(w.len, g->len, "%s: %zu bytes, want %zu", g->name, w.len, g->len);
    for (size_t i = 0; i < g->len; i++)
        cr_assert_eq(buf[i], g->bytes[i], "%s: byte %zu is %02x, want %02x", g->name, i, buf[i],
                     g->bytes[i]);

    /* decode the vector and re-encode it */
    uint8_t *copy = malloc(g->len);
    memcpy(copy, g->bytes, g->len);
    kp_reader_t r;
    kp_reader_init(&r, copy, g->len);
    if (g->header_version >= 0) {
        if (g->response) {
            int32_t corr;
            cr_assert_eq(kp_response_header_decode(&r, g->header_version, &corr), 0);
            cr_assert_eq(corr, g->correlation_id);
        } else {
            kp_request_header_t back;
            cr_assert_eq(kp_request_header_decode(&r, g->header_version, &back), 0);
            cr_assert_eq(back.correlation_id, g->correlation_id);
            cr_assert(kp_str_equal(back.client_id, h.client_id));
        }
    }
    kp_arena_t a;
    kp_arena_init(&a, 1 << 16);
    void *dec = calloc(1, ms->desc->size);
    cr_assert_eq(ms->decode(&r, &a, g->version, dec), 0, "%s: decode", g->name);
    cr_assert_eq(kp_reader_remaining(&r), 0);
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(ms->encode(&w, dec, g->version), 0);
    cr_assert_eq(w.len, g->len - hlen);
    cr_assert_eq(memcmp(buf, g->bytes + hlen, w.len), 0, "%s: re-encoding differs", g->name);
    kp_arena_destroy(&a);
    free(dec);
    free(copy);
    free(m);
}

/* ------------------------------------------------------------- behaviours */

static kp_arena_t arena;

static void arena_setup(void)
{
    kp_arena_init(&arena, 1 << 20);
}

static void arena_teardown(void)
{
    kp_arena_destroy(&arena);
}

TestSuite(generated, .init = arena_setup, .fini = arena_teardown);

Test(generated, init_sets_description_defaults)
{
    kp_fetch_request_t f;
    kp_fetch_request_init(&f);
    cr_assert_eq(f.replica_id, -1);
    cr_assert_eq(f.max_bytes, 0x7fffffff);
    cr_assert_eq(f.session_epoch, -1);
    cr_assert_eq(f.session_id, 0);
    cr_assert_eq(f.cluster_id.len, -1, "default null");
    cr_assert_eq(f.rack_id.len, 0, "default empty string");
    cr_assert_eq(f.topics_count, 0);
    cr_assert_null(f.topics);

    kp_metadata_request_t md;
    kp_metadata_request_init(&md);
    cr_assert(md.allow_auto_topic_creation);
    kp_metadata_response_metadata_response_topic_t t;
    kp_metadata_response_metadata_response_topic_init(&t);
    cr_assert_eq(t.topic_authorized_operations, INT32_MIN);
    kp_metadata_response_t mr;
    kp_metadata_response_init(&mr);
    cr_assert_eq(mr.controller_id, -1);
    cr_assert_eq(mr.cluster_id.len, -1);

    kp_produce_request_t p;
    kp_produce_request_init(&p);
    cr_assert_eq(p.transactional_id.len, -1);

    kp_fetch_response_partition_data_t pd;
    kp_fetch_response_partition_data_init(&pd);
    cr_assert_eq(pd.diverging_epoch.epoch, -1, "embedded structs get their defaults");
    cr_assert_eq(pd.diverging_epoch.end_offset, -1);
    cr_assert_eq(pd.current_leader.leader_id, -1);
    cr_assert_eq(pd.snapshot_id.end_offset, -1);
    cr_assert_eq(pd.preferred_read_replica, -1);

    kp_create_topics_request_t ct;
    kp_create_topics_request_init(&ct);
    cr_assert_eq(ct.timeout_ms, 60000);
    kp_list_offsets_request_list_offsets_partition_t lp;
    kp_list_offsets_request_list_offsets_partition_init(&lp);
    cr_assert_eq(lp.max_num_offsets, 1);
    kp_api_versions_response_t av;
    kp_api_versions_response_init(&av);
    cr_assert_eq(av.finalized_features_epoch, -1);
}

Test(generated, fields_absent_in_the_version_keep_their_defaults)
{
    kp_reader_t r;
    kp_reader_init(&r, fetch_v4_request, sizeof(fetch_v4_request));
    kp_fetch_request_t f;
    cr_assert_eq(kp_fetch_request_decode(&r, &arena, 4, &f), 0);
    cr_assert_eq(f.session_epoch, -1);
    cr_assert_eq(f.topics[0].partitions[0].current_leader_epoch, -1);
    cr_assert_eq(f.topics[0].partitions[0].log_start_offset, -1);
    cr_assert_eq(f.forgotten_topics_data_count, 0);
    cr_assert(kp_str_eq(f.topics[0].topic, "foo"));
    cr_assert_eq(f.topics[0].partitions[0].fetch_offset, 42);
    cr_assert_eq((const uint8_t *)f.topics[0].topic.ptr, fetch_v4_request + 23,
                 "strings point into the input");
}

Test(generated, unknown_tagged_fields_are_skipped)
{
    /* ApiVersions v3 request with tags 7 (3 bytes) and 1000 (0 bytes) at the end */
    static const uint8_t body[] = {0x02, 'x',  0x02, 'y',  0x02, 0x07, 0x03,
                                   0xaa, 0xbb, 0xcc, 0xe8, 0x07, 0x00};
    kp_reader_t r;
    kp_reader_init(&r, body, sizeof(body));
    kp_api_versions_request_t req;
    cr_assert_eq(kp_api_versions_request_decode(&r, &arena, 3, &req), 0);
    cr_assert(kp_str_eq(req.client_software_name, "x"));
    cr_assert(kp_str_eq(req.client_software_version, "y"));
    cr_assert_eq(kp_reader_remaining(&r), 0);
    /* a tag size running past the end is malformed */
    static const uint8_t bad[] = {0x02, 'x', 0x02, 'y', 0x01, 0x07, 0x05, 0xaa};
    kp_reader_init(&r, bad, sizeof(bad));
    cr_assert_eq(kp_api_versions_request_decode(&r, &arena, 3, &req), SL_ERR_PROTO);
}

Test(generated, tagged_fields_at_their_default_are_not_written)
{
    kp_api_versions_response_t m;
    kp_api_versions_response_init(&m);
    /* all defaults: error, empty array, throttle, empty tagged section */
    cr_assert_eq(kp_api_versions_response_size(&m, 3), 2 + 1 + 4 + 1);
    m.zk_migration_ready = true;
    cr_assert_eq(kp_api_versions_response_size(&m, 3), 2 + 1 + 4 + 1 + 3);
    static kp_api_versions_response_supported_feature_key_t feats[1];
    kp_api_versions_response_supported_feature_key_init(&feats[0]);
    feats[0].name = kp_str_from("metadata.version");
    feats[0].min_version = 1;
    feats[0].max_version = 20;
    m.supported_features = feats;
    m.supported_features_count = 1;
    uint8_t buf[128];
    kp_writer_t w;
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_api_versions_response_encode(&w, &m, 3), 0);
    /* tags in ascending order: 0 (features) then 3 (zk ready) */
    size_t tagged_at = 2 + 1 + 4;
    cr_assert_eq(buf[tagged_at], 2);
    cr_assert_eq(buf[tagged_at + 1], 0);
    size_t feat_len = buf[tagged_at + 2];
    cr_assert_eq(feat_len, 1 + 1 + 16 + 2 + 2 + 1);
    cr_assert_eq(buf[tagged_at + 3 + feat_len], 3);
    cr_assert_eq(buf[tagged_at + 4 + feat_len], 1);
    cr_assert_eq(buf[tagged_at + 5 + feat_len], 1);
    kp_reader_t r;
    kp_reader_init(&r, buf, w.len);
    kp_api_versions_response_t back;
    cr_assert_eq(kp_api_versions_response_decode(&r, &arena, 3, &back), 0);
    cr_assert(back.zk_migration_ready);
    cr_assert_eq(back.supported_features_count, 1);
    cr_assert(kp_str_eq(back.supported_features[0].name, "metadata.version"));
    cr_assert_eq(back.finalized_features_epoch, -1);
    /* v2 has no tagged fields at all */
    cr_assert_eq(kp_api_versions_response_size(&m, 2), 2 + 4 + 4);
}

Test(generated, null_in_a_non_nullable_field_is_rejected_on_decode)
{
    /* Metadata v1 request, topic name null: names are nullable only from v10 */
    static const uint8_t body[] = {0x00, 0x00, 0x00, 0x01, 0xff, 0xff};
    kp_reader_t r;
    kp_reader_init(&r, body, sizeof(body));
    kp_metadata_request_t m;
    cr_assert_eq(kp_metadata_request_decode(&r, &arena, 1, &m), SL_ERR_PROTO);
    /* Metadata v0: a null topic array is not allowed either */
    static const uint8_t body0[] = {0xff, 0xff, 0xff, 0xff};
    kp_reader_init(&r, body0, sizeof(body0));
    cr_assert_eq(kp_metadata_request_decode(&r, &arena, 0, &m), SL_ERR_PROTO);
    kp_reader_init(&r, body0, sizeof(body0));
    cr_assert_eq(kp_metadata_request_decode(&r, &arena, 1, &m), 0);
    cr_assert_eq(m.topics_count, -1);
    cr_assert_null(m.topics);
    /* a null element in an array of strings */
    static const uint8_t del[] = {0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01};
    kp_reader_init(&r, del, sizeof(del));
    kp_delete_topics_request_t d;
    cr_assert_eq(kp_delete_topics_request_decode(&r, &arena, 1, &d), SL_ERR_PROTO);
}

Test(generated, null_in_a_non_nullable_version_is_encoded_empty)
{
    kp_metadata_request_t m;
    kp_metadata_request_init(&m);
    m.topics_count = -1;
    uint8_t buf[32];
    kp_writer_t w;
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_metadata_request_encode(&w, &m, 0), 0);
    cr_assert_eq(w.len, 4);
    cr_assert_eq(memcmp(buf, (const uint8_t[]){0, 0, 0, 0}, 4), 0, "empty, not null, in v0");

    kp_metadata_request_metadata_request_topic_t t;
    kp_metadata_request_metadata_request_topic_init(&t);
    t.name = KP_STR_NULL;
    m.topics = &t;
    m.topics_count = 1;
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_metadata_request_encode(&w, &m, 9), 0);
    /* topics(02) name ""(01) topic tags(00) allow_auto(01) include_cluster_ops(00)
     * include_topic_ops(00) tags(00) */
    static const uint8_t want9[] = {0x02, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00};
    cr_assert_eq(w.len, sizeof(want9));
    cr_assert_eq(memcmp(buf, want9, sizeof(want9)), 0);
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_metadata_request_encode(&w, &m, 10), 0);
    cr_assert_eq(buf[1 + 16], 0x00, "v10: null name stays null after the topic id");
}

Test(generated, records_can_stay_out_of_line)
{
    static uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    kp_fetch_response_partition_data_t parts[2];
    kp_fetch_response_fetchable_topic_response_t topic;
    kp_fetch_response_t m;
    for (int i = 0; i < 2; i++) {
        kp_fetch_response_partition_data_init(&parts[i]);
        parts[i].partition_index = i;
        parts[i].records = (kp_bytes_t){big, i ? 300 : 20};
    }
    kp_fetch_response_fetchable_topic_response_init(&topic);
    topic.topic = kp_str_from("events");
    topic.partitions = parts;
    topic.partitions_count = 2;
    kp_fetch_response_init(&m);
    m.responses = &topic;
    m.responses_count = 1;

    for (int16_t v = 11; v <= 12; v++) {
        size_t n = kp_fetch_response_size(&m, v);
        uint8_t *flat = malloc(n);
        kp_writer_t w;
        kp_writer_init(&w, flat, n);
        cr_assert_eq(kp_fetch_response_encode(&w, &m, v), 0);

        uint8_t inl[256];
        kp_ext_t ext[4];
        kp_writer_t zw;
        kp_writer_init(&zw, inl, sizeof(inl));
        kp_writer_set_ext(&zw, ext, 4, 64);
        cr_assert_eq(kp_fetch_response_encode(&zw, &m, v), 0);
        cr_assert_eq(zw.ext_count, 1, "only the 300-byte records go out of line");
        cr_assert_eq(ext[0].ptr, big);
        cr_assert_eq(kp_writer_total_len(&zw), n);
        cr_assert_eq(zw.len, n - 300);
        struct iovec iov[9];
        size_t cnt = kp_writer_iov(&zw, iov, 9);
        cr_assert_eq(cnt, v == 12 ? 3 : 2, "v11 ends with the records; v12 with tags");
        uint8_t *joined = malloc(n);
        size_t at = 0;
        for (size_t i = 0; i < cnt; i++) {
            memcpy(joined + at, iov[i].iov_base, iov[i].iov_len);
            at += iov[i].iov_len;
        }
        cr_assert_eq(at, n);
        cr_assert_eq(memcmp(joined, flat, n), 0);
        free(joined);
        free(flat);
    }
}

Test(generated, field_named_aliases_match_kafka_type_names)
{
    /* The struct of Produce's TopicData field is Kafka's TopicProduceData; both
     * spellings name the same type. */
    kp_produce_request_topic_data_t a;
    kp_produce_request_topic_produce_data_t *b = &a;
    kp_produce_request_topic_data_init(b);
    cr_assert_eq(a.partition_data_count, 0);
    kp_fetch_response_partitions_t p;
    kp_fetch_response_partition_data_init(&p);
    cr_assert_eq(p.last_stable_offset, -1);
    cr_assert_eq(sizeof(kp_metadata_response_topics_t),
                 sizeof(kp_metadata_response_metadata_response_topic_t));
}

/* __consumer_offsets records: the structs exclude the int16 record type / value
 * version prefix. */
Test(generated, consumer_offsets_records_have_kafkas_layout)
{
    kp_offset_commit_key_t k;
    kp_offset_commit_key_init(&k);
    k.group = kp_str_from("g");
    k.topic = kp_str_from("t");
    k.partition = 3;
    static const uint8_t key[] = {
        0x00, 0x01, 'g',        /* group */
        0x00, 0x01, 't',        /* topic */
        0x00, 0x00, 0x00, 0x03, /* partition */
    };
    uint8_t buf[64];
    kp_writer_t w;
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_offset_commit_key_encode(&w, &k, 0), 0);
    cr_assert_eq(w.len, sizeof(key));
    cr_assert_eq(memcmp(buf, key, sizeof(key)), 0);

    /* OffsetCommitValue v3: offset, leader epoch, metadata, commit timestamp */
    static const uint8_t val3[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* offset 42 */
        0x00, 0x00, 0x00, 0x07,                         /* leader_epoch 7 */
        0x00, 0x00,                                     /* metadata "" */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, /* commit_timestamp 1000 */
    };
    kp_reader_t r;
    kp_reader_init(&r, val3, sizeof(val3));
    kp_offset_commit_value_t v;
    cr_assert_eq(kp_offset_commit_value_decode(&r, &arena, 3, &v), 0);
    cr_assert_eq(kp_reader_remaining(&r), 0);
    cr_assert_eq(v.offset, 42);
    cr_assert_eq(v.leader_epoch, 7);
    cr_assert_eq(v.commit_timestamp, 1000);
    cr_assert_eq(v.expire_timestamp, -1);
    cr_assert_eq(kp_offset_commit_value_size(&v, 3), sizeof(val3));

    /* a tagged nullable struct: null is not written, present is tag 0 */
    kp_consumer_group_member_metadata_value_t mm;
    kp_consumer_group_member_metadata_value_init(&mm);
    cr_assert_null(mm.classic_member_metadata);
    cr_assert_eq(mm.rebalance_timeout_ms, -1);
    size_t plain = kp_consumer_group_member_metadata_value_size(&mm, 0);
    kp_consumer_group_member_metadata_value_classic_member_metadata_t cm;
    kp_consumer_group_member_metadata_value_classic_member_metadata_init(&cm);
    mm.classic_member_metadata = &cm;
    /* + tag, size, marker, empty array, its tagged fields */
    cr_assert_eq(kp_consumer_group_member_metadata_value_size(&mm, 0), plain + 5);
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_consumer_group_member_metadata_value_encode(&w, &mm, 0), 0);
    kp_reader_init(&r, buf, w.len);
    kp_consumer_group_member_metadata_value_t back;
    cr_assert_eq(kp_consumer_group_member_metadata_value_decode(&r, &arena, 0, &back), 0);
    cr_assert_not_null(back.classic_member_metadata);
    cr_assert_eq(back.classic_member_metadata->supported_protocols_count, 0);
}
