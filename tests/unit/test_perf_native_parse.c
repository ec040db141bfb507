/* test_perf_native_parse.c — what the native engine reads from the wire:
 * Produce and Fetch responses round-trip through the generated encoders, every
 * truncation of them fails cleanly (each prefix in its own exact-size
 * allocation, so ASan catches any read past it), error codes are found and
 * named, and the record walker counts what it should, tolerates a partial
 * tail, skips records before the fetch offset and survives corrupted and
 * hostile bytes. */
#include "sl_base.h"
#include "pf_native_batch.h"
#include "pf_native_parse.h"
#include "kp_batch.h"
#include "kp_header.h"

#include <criterion/criterion.h>
#include <stdlib.h>

/* Encodes a response body (header + body, no size) into a fresh buffer. */
static uint8_t *encode_response(int16_t key, int16_t version, int32_t corr, const void *msg,
                                size_t *len)
{
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    kp_writer_t w;
    kp_writer_init(&w, buf, cap);
    cr_assert_eq(kp_response_header_encode(&w, kp_response_header_version(key, version), corr), 0);
    cr_assert_eq(kp_api_schema_find(key)->response.encode(&w, msg, version), 0);
    *len = w.len;
    return buf;
}

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n > 0 ? n : 1);
    memcpy(q, p, n);
    return q;
}

static void make_produce(int16_t error, kp_produce_response_t *resp,
                         kp_produce_response_topic_produce_response_t *t,
                         kp_produce_response_partition_produce_response_t *p)
{
    kp_produce_response_init(resp);
    kp_produce_response_topic_produce_response_init(t);
    for (int i = 0; i < 2; i++) {
        kp_produce_response_partition_produce_response_init(&p[i]);
        p[i].index = i + 3;
        p[i].error_code = i == 1 ? error : 0;
        p[i].base_offset = 1000 * i;
    }
    t->name = kp_str_from("bench");
    t->partition_responses = p;
    t->partition_responses_count = 2;
    resp->responses = t;
    resp->responses_count = 1;
}

Test(perf_native_parse, produce_response_errors_are_found_at_every_version)
{
    for (int16_t v = 3; v <= 9; v++) {
        kp_produce_response_t resp;
        kp_produce_response_topic_produce_response_t t;
        kp_produce_response_partition_produce_response_t p[2];
        make_produce(6, &resp, &t, p);
        size_t len;
        uint8_t *body = encode_response(KP_API_PRODUCE, v, 41, &resp, &len);
        kp_reader_t r;
        int32_t corr;
        cr_assert_eq(pf_nparse_header(body, len, KP_API_PRODUCE, v, &corr, &r), 0);
        cr_assert_eq(corr, 41);
        kp_arena_t a;
        kp_arena_init(&a, 1 << 20);
        pf_nproduce_result_t res;
        cr_assert_eq(pf_nparse_produce(&r, &a, v, &res), 0);
        cr_assert_eq(res.partitions, 2);
        cr_assert_eq(res.error_code, 6);
        cr_assert_eq(res.error_partition, 4);
        cr_assert_str_eq(pf_nerror_name(res.error_code), "NOT_LEADER_OR_FOLLOWER");
        /* Every strict prefix fails (header or body), none reads past it. */
        for (size_t n = 0; n < len; n++) {
            uint8_t *cut = dup_exact(body, n);
            kp_arena_reset(&a);
            int rc = pf_nparse_header(cut, n, KP_API_PRODUCE, v, &corr, &r);
            if (rc == 0)
                rc = pf_nparse_produce(&r, &a, v, &res);
            cr_assert_neq(rc, 0, "prefix of %zu of %zu bytes accepted at v%d", n, len, v);
            free(cut);
        }
        kp_arena_destroy(&a);
        free(body);
    }
}

Test(perf_native_parse, error_names)
{
    cr_assert_str_eq(pf_nerror_name(0), "NONE");
    cr_assert_str_eq(pf_nerror_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    cr_assert_str_eq(pf_nerror_name(-1), "UNKNOWN_SERVER_ERROR");
    cr_assert_str_eq(pf_nerror_name(9999), "UNKNOWN_ERROR_CODE");
}

/* Two batches of `count` records (offsets base..base+2count-1) whose values
 * carry send times 1000 + g. Returns the bytes (malloc'd). */
static uint8_t *make_batches(uint32_t count, int64_t base, size_t *len)
{
    size_t one = pf_nbatch_size(count, 16, PF_KEYS_SEQ);
    uint8_t *buf = malloc(2 * one);
    for (int b = 0; b < 2; b++) {
        pf_nbatch_layout_t l;
        cr_assert_eq(pf_nbatch_layout_build(&l, buf + b * one, one, count, 16, PF_KEYS_SEQ), 0);
        uint64_t rng = 1;
        pf_nbatch_stamp_t st = {.g0 = (uint64_t)b * count,
                                .stride = 1,
                                .rate = 1000000000,
                                .start_rt_ns = 1000,
                                .timestamp_ms = 5,
                                .rng = &rng};
        pf_nbatch_patch(buf + b * one, &l, &st, count);
        kp_batch_stamp(buf + b * one, base + (int64_t)b * count, 0);
        pf_nbatch_layout_free(&l);
    }
    *len = 2 * one;
    return buf;
}

typedef struct {
    uint64_t n;
    int64_t sum;
} value_sum_t;

static void on_value(void *ctx, const uint8_t *value, int32_t value_len)
{
    value_sum_t *s = ctx;
    cr_assert_geq(value_len, 8);
    int64_t t;
    memcpy(&t, value, 8);
    s->n++;
    s->sum += t;
}

Test(perf_native_parse, walk_counts_records_bytes_and_values)
{
    size_t len;
    uint8_t *buf = make_batches(10, 100, &len);
    pf_nwalk_t w;
    value_sum_t vs = {0};
    cr_assert_eq(pf_nrecords_walk(buf, len, 100, true, on_value, &vs, &w), 0);
    cr_assert_eq(w.records, 20);
    cr_assert_eq(w.bytes, 20 * (8 + 16));
    cr_assert_eq(w.next_offset, 120);
    cr_assert_eq(w.batches, 2);
    cr_assert(!w.truncated);
    cr_assert_eq(vs.n, 20);
    int64_t want = 0;
    for (int g = 0; g < 20; g++)
        want += 1000 + g;
    cr_assert_eq(vs.sum, want);
    /* From the middle of the first batch: its earlier records are skipped. */
    cr_assert_eq(pf_nrecords_walk(buf, len, 105, false, NULL, NULL, &w), 0);
    cr_assert_eq(w.records, 15);
    cr_assert_eq(w.next_offset, 120);
    /* Past the first batch: it is skipped entirely. */
    cr_assert_eq(pf_nrecords_walk(buf, len, 110, false, NULL, NULL, &w), 0);
    cr_assert_eq(w.records, 10);
    cr_assert_eq(w.batches, 1);
    free(buf);
}

Test(perf_native_parse, walk_tolerates_every_partial_tail)
{
    size_t len;
    uint8_t *buf = make_batches(10, 0, &len);
    size_t one = len / 2;
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = dup_exact(buf, n);
        pf_nwalk_t w;
        cr_assert_eq(pf_nrecords_walk(cut, n, 0, true, NULL, NULL, &w), 0, "prefix %zu", n);
        cr_assert_eq(w.records, n >= one ? 10u : 0u);
        cr_assert_eq(w.next_offset, n >= one ? 10 : 0);
        cr_assert_eq(w.truncated, n != 0 && n != one);
        free(cut);
    }
    free(buf);
}

static void on_value_any(void *ctx, const uint8_t *value, int32_t value_len)
{
    value_sum_t *s = ctx;
    if (value_len >= 8) { /* what the engine's callback does: read only 8 bytes */
        int64_t t;
        memcpy(&t, value, 8);
        s->sum += t;
    }
    s->n++;
}

Test(perf_native_parse, walk_survives_corruption_and_hostile_lengths)
{
    size_t len;
    uint8_t *buf = make_batches(30, 0, &len);
    uint64_t seed = 99;
    for (int round = 0; round < 3000; round++) {
        uint8_t *bad = dup_exact(buf, len);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            bad[(seed >> 33) % len] ^= (uint8_t)(1u << ((seed >> 20) % 8));
        }
        pf_nwalk_t w;
        value_sum_t vs = {0};
        int rc = pf_nrecords_walk(bad, len, 0, round % 2 == 0, on_value_any, &vs, &w);
        cr_assert(rc == 0 || rc == SL_ERR_CORRUPT);
        cr_assert_leq(w.records, 60);
        free(bad);
    }
    /* A batch length far beyond the bytes: a partial tail, never a read past. */
    uint8_t *bad = dup_exact(buf, len);
    bad[8] = 0x7f;
    pf_nwalk_t w;
    int rc = pf_nrecords_walk(bad, len, 0, false, NULL, NULL, &w);
    cr_assert(rc == SL_ERR_CORRUPT || (rc == 0 && w.records == 0));
    free(bad);
    free(buf);
}

Test(perf_native_parse, fetch_response_round_trip_and_truncations)
{
    size_t rlen;
    uint8_t *records = make_batches(5, 0, &rlen);
    for (int16_t v = 4; v <= 12; v++) {
        kp_fetch_response_partition_data_t p[2];
        for (int i = 0; i < 2; i++) {
            kp_fetch_response_partition_data_init(&p[i]);
            p[i].partition_index = i;
            p[i].high_watermark = 10;
        }
        p[0].records = (kp_bytes_t){records, (int32_t)rlen};
        p[1].error_code = 1;
        p[1].records = (kp_bytes_t){NULL, 0};
        kp_fetch_response_fetchable_topic_response_t t;
        kp_fetch_response_fetchable_topic_response_init(&t);
        t.topic = kp_str_from("bench");
        t.partitions = p;
        t.partitions_count = 2;
        kp_fetch_response_t resp;
        kp_fetch_response_init(&resp);
        resp.responses = &t;
        resp.responses_count = 1;
        size_t len;
        uint8_t *body = encode_response(KP_API_FETCH, v, 7, &resp, &len);
        kp_arena_t a;
        kp_arena_init(&a, 1 << 20);
        kp_reader_t r;
        int32_t corr;
        cr_assert_eq(pf_nparse_header(body, len, KP_API_FETCH, v, &corr, &r), 0);
        cr_assert_eq(corr, 7);
        kp_fetch_response_t out;
        cr_assert_eq(pf_nparse_fetch(&r, &a, v, &out), 0);
        cr_assert_eq(out.responses_count, 1);
        cr_assert_eq(out.responses[0].partitions_count, 2);
        cr_assert_eq(out.responses[0].partitions[1].error_code, 1);
        kp_bytes_t got = out.responses[0].partitions[0].records;
        cr_assert_eq(got.len, (int32_t)rlen);
        pf_nwalk_t w;
        cr_assert_eq(pf_nrecords_walk(got.ptr, (size_t)got.len, 0, true, NULL, NULL, &w), 0);
        cr_assert_eq(w.records, 10);
        for (size_t n = 0; n < len; n++) {
            uint8_t *cut = dup_exact(body, n);
            kp_arena_reset(&a);
            int rc = pf_nparse_header(cut, n, KP_API_FETCH, v, &corr, &r);
            if (rc == 0)
                rc = pf_nparse_fetch(&r, &a, v, &out);
            cr_assert_neq(rc, 0, "prefix of %zu of %zu bytes accepted at v%d", n, len, v);
            free(cut);
        }
        kp_arena_destroy(&a);
        free(body);
    }
    free(records);
}
