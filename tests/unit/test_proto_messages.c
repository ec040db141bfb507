/* test_proto_messages.c — every generated message, in every version, request
 * and response: populated structs round-trip (encode, size, decode, compare,
 * re-encode), truncated encodings fail cleanly, random mutations never crash.
 * The structs are filled and compared through the generated reflection schema,
 * so a new .kp file is covered without touching this file. */
#include "sl_base.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "kp_messages.h"

/* ------------------------------------------------------------------ random */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
}

static uint64_t rng_next(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(rng_next() % n);
}

/* ------------------------------------------------------------------ fill */

/* Test-owned memory for filled messages, released per test case. */
#define POOL_BYTES (4u << 20)
static uint8_t *pool;
static size_t pool_used;
static char text[256];

static void *pool_alloc(size_t n)
{
    n = SL_ALIGN_UP(n, (size_t)8);
    cr_assert(pool_used + n <= POOL_BYTES, "test pool exhausted");
    void *p = pool + pool_used;
    pool_used += n;
    memset(p, 0, n);
    return p;
}

static void setup(void)
{
    pool = malloc(POOL_BYTES);
    pool_used = 0;
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('a' + i % 26);
}

static void teardown(void)
{
    free(pool);
}

static bool in_range(int16_t v, int16_t lo, int16_t hi)
{
    return v >= lo && v <= hi;
}

static size_t scalar_size(kp_type_t t)
{
    switch (t) {
    case KP_TYPE_INT8:
        return sizeof(int8_t);
    case KP_TYPE_INT16:
        return sizeof(int16_t);
    case KP_TYPE_INT32:
        return sizeof(int32_t);
    case KP_TYPE_INT64:
        return sizeof(int64_t);
    case KP_TYPE_UINT16:
        return sizeof(uint16_t);
    case KP_TYPE_UINT32:
        return sizeof(uint32_t);
    case KP_TYPE_FLOAT64:
        return sizeof(double);
    case KP_TYPE_BOOL:
        return sizeof(bool);
    case KP_TYPE_STRING:
        return sizeof(kp_str_t);
    case KP_TYPE_BYTES:
    case KP_TYPE_RECORDS:
        return sizeof(kp_bytes_t);
    case KP_TYPE_UUID:
        return sizeof(kp_uuid_t);
    default:
        cr_assert_fail("no scalar size for type %d", t);
    }
    return 0;
}

static void fill_scalar(kp_type_t t, void *p, bool nullable)
{
    uint64_t x = rng_next();
    switch (t) {
    case KP_TYPE_INT8: {
        int8_t v = (int8_t)x;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_INT16: {
        int16_t v = (int16_t)x;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_INT32: {
        int32_t v = rnd(4) == 0 ? -1 : (int32_t)x;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_INT64: {
        int64_t v = rnd(4) == 0 ? -1 : (int64_t)x;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_UINT16: {
        uint16_t v = (uint16_t)x;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_UINT32: {
        uint32_t v = (uint32_t)x;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_FLOAT64: {
        double v = (double)(int32_t)x / 7.0;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_BOOL: {
        bool v = x & 1;
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_UUID: {
        kp_uuid_t v;
        for (int i = 0; i < 16; i++)
            v.b[i] = (uint8_t)rng_next();
        if (rnd(5) == 0)
            memset(&v, 0, sizeof(v));
        memcpy(p, &v, sizeof(v));
        break;
    }
    case KP_TYPE_STRING: {
        kp_str_t s = {text + rnd(100), (int32_t)rnd(12)};
        if (nullable && rnd(4) == 0)
            s = KP_STR_NULL;
        memcpy(p, &s, sizeof(s));
        break;
    }
    case KP_TYPE_BYTES:
    case KP_TYPE_RECORDS: {
        kp_bytes_t b = {(const uint8_t *)text + rnd(100), (int32_t)rnd(40)};
        if (nullable && rnd(4) == 0)
            b = KP_BYTES_NULL;
        memcpy(p, &b, sizeof(b));
        break;
    }
    default:
        cr_assert_fail("bad type");
    }
}

/* Fills every field present in `version` with random values; nulls only where
 * the field is nullable in `version`. Fields absent keep their init defaults. */
static void fill_struct(const kp_struct_desc_t *d, void *m, int16_t version)
{
    d->init(m);
    for (size_t i = 0; i < d->field_count; i++) {
        const kp_field_desc_t *f = &d->fields[i];
        if (!in_range(version, f->min_version, f->max_version))
            continue;
        bool nullable = in_range(version, f->nullable_min, f->nullable_max);
        uint8_t *p = (uint8_t *)m + f->offset;
        if (f->is_array) {
            int32_t count = (int32_t)rnd(4);
            void *arr = NULL;
            if (nullable && rnd(4) == 0) {
                count = -1;
            } else if (count > 0) {
                size_t esz = f->type == KP_TYPE_STRUCT ? f->sub->size : scalar_size(f->type);
                arr = pool_alloc(esz * (size_t)count);
                for (int32_t j = 0; j < count; j++) {
                    uint8_t *e = (uint8_t *)arr + esz * (size_t)j;
                    if (f->type == KP_TYPE_STRUCT)
                        fill_struct(f->sub, e, version);
                    else
                        fill_scalar(f->type, e, false);
                }
            }
            memcpy(p, &arr, sizeof(arr));
            memcpy((uint8_t *)m + f->count_offset, &count, sizeof(count));
        } else if (f->is_ptr) {
            /* nullable struct: NULL is null; present where not nullable */
            void *sub = NULL;
            if (!nullable || rnd(3) != 0) {
                sub = pool_alloc(f->sub->size);
                fill_struct(f->sub, sub, version);
            }
            memcpy(p, &sub, sizeof(sub));
        } else if (f->type == KP_TYPE_STRUCT) {
            fill_struct(f->sub, p, version);
        } else {
            fill_scalar(f->type, p, nullable);
        }
    }
}

/* ------------------------------------------------------------------ compare */

static bool scalar_equal(kp_type_t t, const void *a, const void *b)
{
    switch (t) {
    case KP_TYPE_STRING: {
        kp_str_t x, y;
        memcpy(&x, a, sizeof(x));
        memcpy(&y, b, sizeof(y));
        return kp_str_equal(x, y);
    }
    case KP_TYPE_BYTES:
    case KP_TYPE_RECORDS: {
        kp_bytes_t x, y;
        memcpy(&x, a, sizeof(x));
        memcpy(&y, b, sizeof(y));
        return kp_bytes_equal(x, y);
    }
    case KP_TYPE_BOOL:
        return *(const bool *)a == *(const bool *)b;
    default:
        return memcmp(a, b, scalar_size(t)) == 0;
    }
}

/* Compares every field (present or not); writes the path of the first
 * difference to `where`. */
static bool struct_equal(const kp_struct_desc_t *d, const void *a, const void *b, char *where,
                         size_t where_len)
{
    for (size_t i = 0; i < d->field_count; i++) {
        const kp_field_desc_t *f = &d->fields[i];
        const uint8_t *pa = (const uint8_t *)a + f->offset;
        const uint8_t *pb = (const uint8_t *)b + f->offset;
        bool ok = true;
        if (f->is_array) {
            int32_t ca, cb;
            memcpy(&ca, (const uint8_t *)a + f->count_offset, sizeof(ca));
            memcpy(&cb, (const uint8_t *)b + f->count_offset, sizeof(cb));
            if (ca != cb) {
                snprintf(where, where_len, "%s.%s count %d != %d", d->name, f->name, ca, cb);
                return false;
            }
            const uint8_t *ea, *eb;
            memcpy(&ea, pa, sizeof(ea));
            memcpy(&eb, pb, sizeof(eb));
            size_t esz = f->type == KP_TYPE_STRUCT ? f->sub->size : scalar_size(f->type);
            for (int32_t j = 0; j < ca && ok; j++) {
                if (f->type == KP_TYPE_STRUCT)
                    ok = struct_equal(f->sub, ea + esz * (size_t)j, eb + esz * (size_t)j, where,
                                      where_len);
                else
                    ok = scalar_equal(f->type, ea + esz * (size_t)j, eb + esz * (size_t)j);
            }
        } else if (f->is_ptr) {
            const uint8_t *sa, *sb;
            memcpy(&sa, pa, sizeof(sa));
            memcpy(&sb, pb, sizeof(sb));
            if (!sa || !sb)
                ok = sa == sb;
            else
                ok = struct_equal(f->sub, sa, sb, where, where_len);
        } else if (f->type == KP_TYPE_STRUCT) {
            ok = struct_equal(f->sub, pa, pb, where, where_len);
        } else {
            ok = scalar_equal(f->type, pa, pb);
        }
        if (!ok) {
            if (!where[0])
                snprintf(where, where_len, "%s.%s", d->name, f->name);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ drivers */

/* Every request, every response, then every data block (__consumer_offsets
 * records). */
typedef struct {
    const char *name;
    const kp_msg_schema_t *msg;
    const char *kind;
    int16_t min_version, max_version;
} target_t;

static size_t target_count(void)
{
    return kp_api_desc_count * 2 + kp_data_schema_count;
}

static target_t target_at(size_t i)
{
    target_t t;
    if (i >= kp_api_desc_count * 2) {
        const kp_data_schema_t *d = &kp_data_schemas[i - kp_api_desc_count * 2];
        t.name = d->name;
        t.msg = &d->schema;
        t.kind = "data";
        t.min_version = d->min_version;
        t.max_version = d->max_version;
        return t;
    }
    const kp_api_desc_t *api = &kp_api_descs[i / 2];
    t.name = api->name;
    t.msg = i % 2 ? &kp_api_schemas[i / 2].response : &kp_api_schemas[i / 2].request;
    t.kind = i % 2 ? "response" : "request";
    t.min_version = api->min_version;
    t.max_version = api->max_version;
    return t;
}

/* Encodes m at version into a fresh heap buffer of exactly its size. */
static uint8_t *encode_exact(const target_t *t, const void *m, int16_t version, size_t *len)
{
    size_t n = t->msg->size(m, version);
    uint8_t *buf = malloc(n ? n : 1);
    kp_writer_t w;
    kp_writer_init(&w, buf, n);
    int rc = t->msg->encode(&w, m, version);
    cr_assert_eq(rc, 0, "%s %s v%d: encode into its exact size failed", t->name, t->kind, version);
    cr_assert_eq(w.len, n, "%s %s v%d: wrote %zu bytes, size said %zu", t->name, t->kind, version,
                 w.len, n);
    *len = n;
    return buf;
}

static void round_trip(const target_t *t, int16_t version, uint64_t seed)
{
    const kp_struct_desc_t *d = t->msg->desc;
    void *m = pool_alloc(d->size);
    void *back = pool_alloc(d->size);
    rng_seed(seed);
    fill_struct(d, m, version);

    size_t len;
    uint8_t *buf = encode_exact(t, m, version, &len);

    if (len > 0) {
        /* one byte short: the writer reports it and stays in bounds */
        uint8_t *small = malloc(len - 1 ? len - 1 : 1);
        kp_writer_t w;
        kp_writer_init(&w, small, len - 1);
        cr_assert_eq(t->msg->encode(&w, m, version), SL_ERR_NOSPACE);
        free(small);
    }

    kp_arena_t a;
    kp_arena_init(&a, 1 << 20);
    kp_reader_t r;
    kp_reader_init(&r, buf, len);
    int rc = t->msg->decode(&r, &a, version, back);
    cr_assert_eq(rc, 0, "%s %s v%d seed %llu: decode failed (%d)", t->name, t->kind, version,
                 (unsigned long long)seed, rc);
    cr_assert_eq(kp_reader_remaining(&r), 0, "%s %s v%d: decode left %zu bytes", t->name, t->kind,
                 version, kp_reader_remaining(&r));
    char where[256] = "";
    cr_assert(struct_equal(d, m, back, where, sizeof(where)),
              "%s %s v%d seed %llu: round trip differs at %s", t->name, t->kind, version,
              (unsigned long long)seed, where);

    size_t len2;
    uint8_t *buf2 = encode_exact(t, back, version, &len2);
    cr_assert_eq(len2, len);
    cr_assert_eq(memcmp(buf, buf2, len), 0, "%s %s v%d: re-encoding differs", t->name, t->kind,
                 version);
    free(buf2);
    free(buf);
    kp_arena_destroy(&a);
}

TestSuite(messages, .init = setup, .fini = teardown);

Test(messages, every_api_version_round_trips_requests_and_responses)
{
    size_t cases = 0;
    for (size_t i = 0; i < target_count(); i++) {
        target_t t = target_at(i);
        for (int16_t v = t.min_version; v <= t.max_version; v++) {
            for (uint64_t seed = 1; seed <= 40; seed++) {
                pool_used = 0;
                round_trip(&t, v, seed * 1000 + (uint64_t)v);
                cases++;
            }
        }
    }
    cr_assert(cases > 0);
}

Test(messages, api_table_is_sorted_and_consistent)
{
    cr_assert_eq(kp_api_desc_count, KP_API_DESC_COUNT);
    for (size_t i = 0; i < kp_api_desc_count; i++) {
        const kp_api_desc_t *d = &kp_api_descs[i];
        if (i > 0)
            cr_assert(kp_api_descs[i - 1].key < d->key);
        cr_assert_eq(kp_api_desc_find(d->key), d);
        cr_assert_eq(kp_api_schema_find(d->key), &kp_api_schemas[i]);
        cr_assert_eq(kp_api_schemas[i].key, d->key);
        cr_assert(d->min_version <= d->max_version);
    }
    cr_assert_null(kp_api_desc_find(-1));
    cr_assert_null(kp_api_desc_find(9999));
    cr_assert_eq(kp_api_desc_find(KP_API_FETCH)->flexible_min, 12);
    cr_assert_eq(kp_api_desc_find(KP_API_PRODUCE)->max_version, 9);
    cr_assert_eq(kp_api_desc_find(KP_API_METADATA)->max_version, 12);
    cr_assert_eq(kp_api_desc_find(KP_API_API_VERSIONS)->flexible_min, 3);
    cr_assert_eq(KP_API_PRODUCE, 0);
    cr_assert_eq(KP_API_FETCH, 1);
    cr_assert_eq(KP_API_LIST_OFFSETS, 2);
    cr_assert_eq(KP_API_METADATA, 3);
    cr_assert_eq(KP_API_API_VERSIONS, 18);
    cr_assert_eq(KP_API_CREATE_TOPICS, 19);
    cr_assert_eq(KP_API_DELETE_TOPICS, 20);
    cr_assert_eq(KP_API_FIND_COORDINATOR, 10);
    cr_assert_eq(KP_API_INIT_PRODUCER_ID, 22);
    cr_assert_eq(KP_API_OFFSET_FOR_LEADER_EPOCH, 23);
    cr_assert_eq(kp_api_desc_find(KP_API_FIND_COORDINATOR)->max_version, 6);
    cr_assert_eq(kp_api_desc_find(KP_API_INIT_PRODUCER_ID)->flexible_min, 2);
    cr_assert_eq(kp_api_desc_find(KP_API_OFFSET_FOR_LEADER_EPOCH)->flexible_min, 4);
    cr_assert_eq(kp_api_desc_find(KP_API_LIST_OFFSETS)->max_version, 7);
    cr_assert_eq(kp_api_desc_find(KP_API_CREATE_TOPICS)->max_version, 7);
    cr_assert_eq(kp_api_desc_find(KP_API_DELETE_TOPICS)->max_version, 6);
    cr_assert_eq(kp_api_desc_find(KP_API_API_VERSIONS)->max_version, 4);
    cr_assert_eq(KP_API_OFFSET_COMMIT, 8);
    cr_assert_eq(KP_API_JOIN_GROUP, 11);
    cr_assert_eq(KP_API_CONSUMER_GROUP_HEARTBEAT, 68);
    cr_assert_eq(kp_api_desc_find(KP_API_OFFSET_COMMIT)->min_version, 2);
    cr_assert_eq(kp_api_desc_find(KP_API_OFFSET_FETCH)->min_version, 1);
}

Test(messages, data_table_is_sorted_and_consistent)
{
    cr_assert_eq(kp_data_schema_count, KP_DATA_SCHEMA_COUNT);
    for (size_t i = 0; i < kp_data_schema_count; i++) {
        const kp_data_schema_t *d = &kp_data_schemas[i];
        if (i > 0)
            cr_assert(strcmp(kp_data_schemas[i - 1].name, d->name) < 0);
        cr_assert_eq(kp_data_schema_find(d->name), d);
        cr_assert(d->min_version <= d->max_version);
    }
    cr_assert_null(kp_data_schema_find("NoSuchRecord"));
    const kp_data_schema_t *v = kp_data_schema_find("OffsetCommitValue");
    cr_assert_not_null(v);
    cr_assert_eq(v->record_type, KP_DATA_TYPE_OFFSET_COMMIT_VALUE);
    cr_assert_eq(v->max_version, 4);
    cr_assert_eq(v->flexible_min, 4);
    cr_assert_eq(kp_data_schema_find("GroupMetadataKey")->record_type, 2);
    cr_assert_eq(kp_data_schema_find("OffsetCommitKey")->flexible_min, -1);
}

/* Every strict prefix of a valid body must fail to decode, and must not read
 * outside the prefix: it is copied to a heap block of exactly its length. */
static void check_truncations(const target_t *t, int16_t version, uint64_t seed)
{
    const kp_struct_desc_t *d = t->msg->desc;
    void *m = pool_alloc(d->size);
    void *back = pool_alloc(d->size);
    rng_seed(seed);
    fill_struct(d, m, version);
    size_t len;
    uint8_t *buf = encode_exact(t, m, version, &len);
    kp_arena_t a;
    kp_arena_init(&a, 1 << 20);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *pre = malloc(cut ? cut : 1);
        memcpy(pre, buf, cut);
        kp_reader_t r;
        kp_reader_init(&r, pre, cut);
        int rc = t->msg->decode(&r, &a, version, back);
        cr_assert(rc == SL_ERR_PROTO || rc == SL_ERR_LIMIT,
                  "%s %s v%d: prefix of %zu/%zu bytes gave %d", t->name, t->kind, version, cut, len,
                  rc);
        free(pre);
        kp_arena_reset(&a);
    }
    kp_arena_destroy(&a);
    free(buf);
}

Test(messages, every_truncated_body_is_rejected_without_overread)
{
    for (size_t i = 0; i < target_count(); i++) {
        target_t t = target_at(i);
        for (int16_t v = t.min_version; v <= t.max_version; v++) {
            for (uint64_t seed = 1; seed <= 3; seed++) {
                pool_used = 0;
                check_truncations(&t, v, seed + 77);
            }
        }
    }
}

/* Mutated bodies decode to an error or to a message that re-encodes to
 * exactly its computed size; nothing crashes or reads out of bounds. */
Test(messages, random_mutations_never_crash)
{
    for (size_t i = 0; i < target_count(); i++) {
        target_t t = target_at(i);
        const int16_t versions[2] = {t.min_version, t.max_version};
        for (int vi = 0; vi < 2; vi++) {
            int16_t vv = versions[vi];
            for (uint64_t seed = 1; seed <= 300; seed++) {
                pool_used = 0;
                const kp_struct_desc_t *d = t.msg->desc;
                void *m = pool_alloc(d->size);
                void *back = pool_alloc(d->size);
                rng_seed(seed * 7 + i);
                fill_struct(d, m, vv);
                size_t len;
                uint8_t *buf = encode_exact(&t, m, vv, &len);
                if (len == 0) {
                    free(buf);
                    break;
                }
                int flips = 1 + (int)rnd(4);
                for (int k = 0; k < flips; k++) {
                    size_t at = rnd((uint32_t)len);
                    switch (rnd(4)) {
                    case 0:
                        buf[at] ^= (uint8_t)(1u << rnd(8));
                        break;
                    case 1:
                        buf[at] = 0xff;
                        break;
                    case 2:
                        buf[at] = 0x7f;
                        break;
                    default:
                        buf[at] = (uint8_t)rng_next();
                    }
                }
                kp_arena_t a;
                kp_arena_init(&a, 1 << 20);
                kp_reader_t r;
                kp_reader_init(&r, buf, len);
                int rc = t.msg->decode(&r, &a, vv, back);
                cr_assert(rc == 0 || rc == SL_ERR_PROTO || rc == SL_ERR_LIMIT);
                if (rc == 0) {
                    size_t n2;
                    uint8_t *again = encode_exact(&t, back, vv, &n2);
                    free(again);
                }
                kp_arena_destroy(&a);
                free(buf);
            }
        }
    }
}

Test(messages, random_bytes_never_crash)
{
    rng_seed(4242);
    for (size_t i = 0; i < target_count(); i++) {
        target_t t = target_at(i);
        void *back = malloc(t.msg->desc->size);
        for (int16_t v = t.min_version; v <= t.max_version; v++) {
            for (int k = 0; k < 200; k++) {
                size_t len = rnd(64);
                uint8_t *buf = malloc(len ? len : 1);
                for (size_t j = 0; j < len; j++)
                    buf[j] = rnd(3) == 0 ? 0 : (uint8_t)rng_next();
                kp_arena_t a;
                kp_arena_init(&a, 1 << 16);
                kp_reader_t r;
                kp_reader_init(&r, buf, len);
                int rc = t.msg->decode(&r, &a, v, back);
                cr_assert(rc == 0 || rc == SL_ERR_PROTO || rc == SL_ERR_LIMIT);
                kp_arena_destroy(&a);
                free(buf);
            }
        }
        free(back);
    }
}

Test(messages, decode_rejects_versions_outside_the_valid_range)
{
    static const uint8_t body[64];
    for (size_t i = 0; i < target_count(); i++) {
        target_t t = target_at(i);
        void *back = malloc(t.msg->desc->size);
        kp_arena_t a;
        kp_arena_init(&a, 1 << 16);
        kp_reader_t r;
        kp_reader_init(&r, body, sizeof(body));
        cr_assert_eq(t.msg->decode(&r, &a, (int16_t)(t.max_version + 1), back), SL_ERR_PROTO);
        cr_assert_eq(t.msg->decode(&r, &a, -1, back), SL_ERR_PROTO);
        kp_arena_destroy(&a);
        free(back);
    }
}

Test(messages, arena_exhaustion_is_a_limit_error)
{
    /* Metadata v1 request asking for 1000 topics: 1000 kp_str_t-bearing structs
     * cannot fit a 1 KiB arena. */
    uint8_t body[4 + 1000 * 3];
    body[0] = 0;
    body[1] = 0;
    body[2] = 0x03;
    body[3] = 0xe8;
    for (int i = 0; i < 1000; i++) {
        body[4 + 3 * i] = 0;
        body[5 + 3 * i] = 1;
        body[6 + 3 * i] = 'x';
    }
    kp_arena_t a;
    kp_arena_init(&a, 1024);
    kp_reader_t r;
    kp_reader_init(&r, body, sizeof(body));
    kp_metadata_request_t req;
    cr_assert_eq(kp_metadata_request_decode(&r, &a, 1, &req), SL_ERR_LIMIT);
    kp_arena_destroy(&a);
    kp_arena_init(&a, 1 << 20);
    kp_reader_init(&r, body, sizeof(body));
    cr_assert_eq(kp_metadata_request_decode(&r, &a, 1, &req), 0);
    cr_assert_eq(req.topics_count, 1000);
    cr_assert(kp_str_eq(req.topics[999].name, "x"));
    kp_arena_destroy(&a);
}
