/* test_perf_native_batch.c — the native engine's pre-encoded batches and
 * Produce frames: after every patch (whole, or cut to fewer records) the
 * batch decodes with proto's own decoder (header rules, CRC-32C, record
 * iteration), carries the stamped send times and keys, and the frame
 * (cut to the batch) decodes as a Produce request whose partition and
 * records are the patched ones, at every Produce version. */
#include "sl_base.h"
#include "pf_native_batch.h"
#include "pf_native_frame.h"
#include "pf_run.h"
#include "kp_batch.h"
#include "kp_header.h"
#include "kp_messages.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>

/* Decodes batch and checks every record against the stamp. */
static void check_batch(const uint8_t *batch, const pf_nbatch_layout_t *l,
                        const pf_nbatch_stamp_t *s, uint64_t rng_before, uint32_t n)
{
    kp_batch_header_t h;
    uint32_t bytes = pf_nbatch_bytes(l, n);
    cr_assert_eq(kp_batch_parse_header(batch, bytes, &h), 0);
    cr_assert_eq(kp_batch_verify_crc(batch, &h), 0, "CRC valid after patching");
    cr_assert_eq(kp_batch_check_produce(&h, false), 0);
    cr_assert_eq(h.records_count, (int32_t)n);
    cr_assert_eq(h.last_offset_delta, (int32_t)n - 1);
    cr_assert_eq(h.base_timestamp, s->timestamp_ms);
    cr_assert_eq(h.max_timestamp, s->timestamp_ms);
    cr_assert_eq(kp_batch_total_size(&h), bytes);
    kp_record_iter_t it;
    cr_assert_eq(kp_record_iter_init(&it, batch, &h), 0);
    kp_record_t rec;
    uint64_t rng = rng_before;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t g = s->g0 + (uint64_t)i * s->stride;
        cr_assert_eq(kp_record_iter_next(&it, &rec), 1);
        cr_assert_eq(rec.value_len, (int32_t)l->value_size);
        int64_t rt;
        memcpy(&rt, rec.value, 8);
        int64_t want = s->start_rt_ns;
        if (s->rate > 0)
            want += (int64_t)pf_intended_offset_ns(g, s->rate);
        cr_assert_eq(rt, want, "record %u send time", i);
        for (uint32_t k = 8; k < l->value_size; k++)
            cr_assert_eq(rec.value[k], 'x');
        if (l->keys == PF_KEYS_NONE) {
            cr_assert_eq(rec.key_len, -1);
        } else {
            cr_assert_eq(rec.key_len, 8);
            uint64_t key = 0;
            if (l->keys == PF_KEYS_SEQ) {
                for (int b = 0; b < 8; b++)
                    key = key << 8 | rec.key[b];
                cr_assert_eq(key, g);
            } else {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                memcpy(&key, rec.key, 8);
                cr_assert_eq(key, rng);
            }
        }
    }
    cr_assert_eq(kp_record_iter_next(&it, &rec), 0);
}

Test(perf_native_batch, size_matches_the_builder_for_many_shapes)
{
    uint32_t counts[] = {1, 2, 63, 64, 65, 200, 8191, 8193};
    uint32_t sizes[] = {8, 100, 1024, 20000};
    for (size_t i = 0; i < SL_ARRAY_SIZE(counts); i++)
        for (size_t j = 0; j < SL_ARRAY_SIZE(sizes); j++)
            for (int k = 0; k < PF_KEYS_COUNT; k++) {
                if ((uint64_t)counts[i] * sizes[j] > (8u << 20))
                    continue;
                size_t n = pf_nbatch_size(counts[i], sizes[j], (pf_keys_t)k);
                uint8_t *buf = malloc(n);
                pf_nbatch_layout_t l;
                cr_assert_eq(pf_nbatch_layout_build(&l, buf, n, counts[i], sizes[j], (pf_keys_t)k),
                             0);
                cr_assert_eq(l.total_bytes, n);
                pf_nbatch_layout_free(&l);
                free(buf);
            }
}

Test(perf_native_batch, refuses_a_buffer_too_small)
{
    size_t n = pf_nbatch_size(10, 100, PF_KEYS_NONE);
    uint8_t *buf = malloc(n - 1);
    pf_nbatch_layout_t l;
    cr_assert_eq(pf_nbatch_layout_build(&l, buf, n - 1, 10, 100, PF_KEYS_NONE), SL_ERR_NOSPACE);
    free(buf);
}

Test(perf_native_batch, crc_and_stamps_valid_after_repeated_patches)
{
    for (int keys = 0; keys < PF_KEYS_COUNT; keys++) {
        uint32_t count = 300; /* offset deltas past 63: 2-byte varints */
        size_t n = pf_nbatch_size(count, 100, (pf_keys_t)keys);
        uint8_t *buf = malloc(n);
        pf_nbatch_layout_t l;
        cr_assert_eq(pf_nbatch_layout_build(&l, buf, n, count, 100, (pf_keys_t)keys), 0);
        uint64_t rng = 0x1234567;
        pf_nbatch_stamp_t stamps[] = {
            {.g0 = 0,
             .stride = 1,
             .rate = 0,
             .start_rt_ns = 1700000000000000000LL,
             .timestamp_ms = 1700000000000LL},
            {.g0 = 300,
             .stride = 3,
             .rate = 100000,
             .start_rt_ns = 1700000000123456789LL,
             .timestamp_ms = 1700000000124LL},
            {.g0 = 999999999, .stride = 1, .rate = 7, .start_rt_ns = 5, .timestamp_ms = 0},
            {.g0 = 1ULL << 40,
             .stride = 16,
             .rate = 1000000000,
             .start_rt_ns = -1,
             .timestamp_ms = 42},
        };
        /* Whole, cut to 1, to the varint boundaries, then whole again: a cut
         * must leave the template usable for any later count. */
        uint32_t cuts[] = {count, 1, 63, 64, 65, 299, count};
        for (size_t i = 0; i < SL_ARRAY_SIZE(stamps); i++)
            for (size_t j = 0; j < SL_ARRAY_SIZE(cuts); j++) {
                stamps[i].rng = &rng;
                uint64_t before = rng;
                uint32_t bytes = pf_nbatch_patch(buf, &l, &stamps[i], cuts[j]);
                cr_assert_eq(bytes, pf_nbatch_bytes(&l, cuts[j]));
                check_batch(buf, &l, &stamps[i], before, cuts[j]);
            }
        cr_assert_eq(pf_nbatch_bytes(&l, count), l.total_bytes);
        cr_assert_eq(pf_nbatch_payload_bytes(&l), (uint64_t)count * (100 + (keys ? 8 : 0)));
        pf_nbatch_layout_free(&l);
        free(buf);
    }
}

/* Produce versions the native engine may pick (3..8: record batch v2, and
 * non-flexible so the frame can be cut). */
ParameterizedTestParameters(perf_native_frame, produce_frame_decodes_at_every_version)
{
    static int16_t versions[] = {3, 4, 5, 6, 7, 8};
    return cr_make_param_array(int16_t, versions, SL_ARRAY_SIZE(versions));
}

ParameterizedTest(int16_t *version, perf_native_frame, produce_frame_decodes_at_every_version)
{
    uint32_t count = 70;
    size_t bn = pf_nbatch_size(count, 64, PF_KEYS_SEQ);
    size_t cap = bn + PF_NFRAME_OVERHEAD_BYTES;
    uint8_t *frame = malloc(cap);
    pf_nframe_produce_t fp;
    int n = pf_nframe_produce_build(frame, cap, *version, -1, 30000, "bench-topic", 0, (uint32_t)bn,
                                    &fp);
    cr_assert_gt(n, 0);
    cr_assert_eq((uint32_t)n, fp.frame_len);
    pf_nbatch_layout_t l;
    cr_assert_eq(pf_nbatch_layout_build(&l, frame + fp.batch_off, bn, count, 64, PF_KEYS_SEQ), 0);
    /* Patch what a send patches. */
    pf_nframe_set_correlation(frame, 77);
    pf_nframe_set_i32(frame + fp.partition_off, 5);
    uint64_t rng = 1;
    pf_nbatch_stamp_t st = {.g0 = 1000,
                            .stride = 2,
                            .rate = 50000,
                            .start_rt_ns = 1000000000,
                            .timestamp_ms = 1000,
                            .rng = &rng};
    cr_assert(fp.cuttable);
    uint32_t cut = 1 + (uint32_t)*version * 9; /* 28 .. 73 records: some cut, 8 whole */
    if (cut > count)
        cut = count;
    uint32_t bytes = pf_nbatch_patch(frame + fp.batch_off, &l, &st, cut);
    uint32_t frame_len = pf_nframe_produce_cut(frame, &fp, bytes);
    cr_assert_eq(frame_len, fp.batch_off + bytes);
    cr_assert_leq(frame_len, fp.frame_len);

    uint32_t size =
        (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 | (uint32_t)frame[2] << 8 | frame[3];
    cr_assert_eq(size + 4, frame_len);
    kp_reader_t r;
    kp_reader_init(&r, frame + 4, size);
    kp_request_header_t h;
    cr_assert_eq(
        kp_request_header_decode(&r, kp_request_header_version(KP_API_PRODUCE, *version), &h), 0);
    cr_assert_eq(h.api_key, KP_API_PRODUCE);
    cr_assert_eq(h.api_version, *version);
    cr_assert_eq(h.correlation_id, 77);
    cr_assert(kp_str_eq(h.client_id, PF_NFRAME_CLIENT_ID));
    kp_arena_t a;
    kp_arena_init(&a, 1 << 20);
    kp_produce_request_t req;
    cr_assert_eq(kp_produce_request_decode(&r, &a, *version, &req), 0);
    cr_assert_eq(kp_reader_remaining(&r), 0);
    cr_assert_eq(req.acks, -1);
    cr_assert_eq(req.timeout_ms, 30000);
    cr_assert_eq(req.topic_data_count, 1);
    cr_assert(kp_str_eq(req.topic_data[0].name, "bench-topic"));
    cr_assert_eq(req.topic_data[0].partition_data_count, 1);
    cr_assert_eq(req.topic_data[0].partition_data[0].index, 5);
    kp_bytes_t rec = req.topic_data[0].partition_data[0].records;
    cr_assert_eq(rec.len, (int32_t)bytes);
    cr_assert_eq(rec.ptr, frame + fp.batch_off);
    check_batch(rec.ptr, &l, &st, 1, cut);
    kp_arena_destroy(&a);
    pf_nbatch_layout_free(&l);
    free(frame);
}

Test(perf_native_frame, flexible_produce_frame_is_not_cuttable)
{
    uint8_t frame[2048];
    pf_nframe_produce_t fp;
    cr_assert_gt(pf_nframe_produce_build(frame, sizeof(frame), 9, 1, 1000, "t", 3, 100, &fp), 0);
    cr_assert(!fp.cuttable, "v9 has tagged fields after the records");
    cr_assert_eq(pf_nframe_produce_build(frame, 50, 8, 1, 1000, "t", 3, 100, &fp), SL_ERR_NOSPACE);
}

Test(perf_native_frame, fetch_frame_carries_partitions_and_offsets)
{
    int32_t parts[] = {0, 3, 6};
    int64_t offs[] = {0, 12345, 1LL << 40};
    kp_fetch_request_fetch_partition_t scratch[3];
    uint8_t frame[512];
    for (int16_t v = 4; v <= 12; v++) {
        int n = pf_nframe_fetch(frame, sizeof(frame), v, 9, "t", parts, offs, 3, 500, 3 << 20,
                                1 << 20, scratch);
        cr_assert_gt(n, 0);
        kp_reader_t r;
        kp_reader_init(&r, frame + 4, (size_t)n - 4);
        kp_request_header_t h;
        cr_assert_eq(kp_request_header_decode(&r, kp_request_header_version(KP_API_FETCH, v), &h),
                     0);
        cr_assert_eq(h.correlation_id, 9);
        kp_arena_t a;
        kp_arena_init(&a, 1 << 20);
        kp_fetch_request_t req;
        cr_assert_eq(kp_fetch_request_decode(&r, &a, v, &req), 0);
        cr_assert_eq(req.topics_count, 1);
        cr_assert_eq(req.min_bytes, 1);
        cr_assert_eq(req.max_wait_ms, 500);
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(req.topics[0].partitions[i].partition, parts[i]);
            cr_assert_eq(req.topics[0].partitions[i].fetch_offset, offs[i]);
            cr_assert_eq(req.topics[0].partitions[i].partition_max_bytes, 1 << 20);
        }
        kp_arena_destroy(&a);
    }
    cr_assert_eq(pf_nframe_fetch(frame, 20, 12, 9, "t", parts, offs, 3, 500, 1, 1, scratch),
                 SL_ERR_NOSPACE);
}
