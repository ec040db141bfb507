/*
 * test_core_group.c — the group coordinator's pure parts: the classic state
 * machine's transition table, group placement (Java's String.hashCode, Kafka's
 * Utils.abs), and the record batch builder the coordinator writes with.
 */
#include <criterion/criterion.h>

#include "kp_batch.h"
#include "kp_batch_build.h"
#include "sl_group.h"

Test(group_state, legal_transitions_are_exactly_kafkas)
{
    static const struct {
        sl_group_state_t from, to;
    } legal[] = {
        {SL_GROUP_EMPTY, SL_GROUP_PREPARING_REBALANCE},
        {SL_GROUP_EMPTY, SL_GROUP_DEAD},
        {SL_GROUP_PREPARING_REBALANCE, SL_GROUP_COMPLETING_REBALANCE},
        {SL_GROUP_PREPARING_REBALANCE, SL_GROUP_EMPTY},
        {SL_GROUP_PREPARING_REBALANCE, SL_GROUP_DEAD},
        {SL_GROUP_COMPLETING_REBALANCE, SL_GROUP_STABLE},
        {SL_GROUP_COMPLETING_REBALANCE, SL_GROUP_PREPARING_REBALANCE},
        {SL_GROUP_COMPLETING_REBALANCE, SL_GROUP_DEAD},
        {SL_GROUP_STABLE, SL_GROUP_PREPARING_REBALANCE},
        {SL_GROUP_STABLE, SL_GROUP_DEAD},
        {SL_GROUP_DEAD, SL_GROUP_DEAD},
    };
    for (int f = 0; f < SL_GROUP_STATE_COUNT; f++) {
        for (int t = 0; t < SL_GROUP_STATE_COUNT; t++) {
            bool expect = false;
            for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
                expect |= legal[i].from == (sl_group_state_t)f && legal[i].to == (sl_group_state_t)t;
            cr_expect_eq(sl_group_transition_legal(f, t), expect, "%s -> %s",
                         sl_group_state_name(f), sl_group_state_name(t));
        }
    }
    /* Illegal examples a bug could produce. */
    cr_expect(!sl_group_transition_legal(SL_GROUP_EMPTY, SL_GROUP_STABLE));
    cr_expect(!sl_group_transition_legal(SL_GROUP_STABLE, SL_GROUP_COMPLETING_REBALANCE));
    cr_expect(!sl_group_transition_legal(SL_GROUP_DEAD, SL_GROUP_EMPTY));
    cr_expect(!sl_group_transition_legal(SL_GROUP_STATE_COUNT, SL_GROUP_EMPTY));
}

Test(group_state, names_are_kafkas)
{
    cr_expect_str_eq(sl_group_state_name(SL_GROUP_EMPTY), "Empty");
    cr_expect_str_eq(sl_group_state_name(SL_GROUP_PREPARING_REBALANCE), "PreparingRebalance");
    cr_expect_str_eq(sl_group_state_name(SL_GROUP_COMPLETING_REBALANCE), "CompletingRebalance");
    cr_expect_str_eq(sl_group_state_name(SL_GROUP_STABLE), "Stable");
    cr_expect_str_eq(sl_group_state_name(SL_GROUP_DEAD), "Dead");
    cr_expect_str_eq(sl_group_state_name(SL_GROUP_STATE_COUNT), "Unknown");
}

/* Expected values computed with Java's String.hashCode semantics over UTF-16
 * code units, abs (MIN_VALUE -> 0), modulo 50. */
Test(group_placement, matches_kafka)
{
    static const struct {
        const char *id;
        int32_t partition;
    } cases[] = {
        {"grpA", 14},
        {"test-group", 12},
        {"", 0},
        {"console-consumer-12345", 6},
        {"gr\xc3\xb6up", 32},                 /* U+00F6 */
        {"g\xf0\x9f\x99\x82x", 8},            /* U+1F642: a surrogate pair */
        {"polygenelubricants", 0},            /* hashCode == Integer.MIN_VALUE */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(sl_group_partition_for(cases[i].id, strlen(cases[i].id), 50),
                     cases[i].partition, "%s", cases[i].id);
    /* Invalid UTF-8 does not crash and stays in range. */
    const char bad[] = {(char)0xff, (char)0xc3, 'a', (char)0xe2, (char)0x82};
    int32_t p = sl_group_partition_for(bad, sizeof(bad), 7);
    cr_expect(p >= 0 && p < 7);
}

Test(batch_builder, builds_a_batch_that_parses_and_iterates)
{
    uint8_t buf[4096];
    kp_batch_builder_t b;
    kp_batch_builder_init(&b, buf, sizeof(buf), 1700000000000);
    cr_assert_eq(kp_batch_builder_add(&b, "k1", 2, "value-1", 7, 1700000000000), 0);
    cr_assert_eq(kp_batch_builder_add(&b, "k2", 2, NULL, -1, 1700000000005), 0); /* tombstone */
    cr_assert_eq(kp_batch_builder_add(&b, NULL, -1, "v", 1, 1699999999990), 0);
    size_t len = kp_batch_builder_finish(&b);
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(buf, len, &h), 0);
    cr_assert_eq(kp_batch_verify_crc(buf, &h), 0);
    cr_expect_eq(kp_batch_total_size(&h), len);
    cr_expect_eq(h.records_count, 3);
    cr_expect_eq(h.last_offset_delta, 2);
    cr_expect_eq(h.max_timestamp, 1700000000005);
    cr_expect_eq(h.producer_id, -1);
    kp_record_iter_t it;
    cr_assert_eq(kp_record_iter_init(&it, buf, &h), 0);
    kp_record_t r;
    cr_assert_eq(kp_record_iter_next(&it, &r), 1);
    cr_expect(r.key_len == 2 && memcmp(r.key, "k1", 2) == 0);
    cr_expect(r.value_len == 7 && memcmp(r.value, "value-1", 7) == 0);
    cr_assert_eq(kp_record_iter_next(&it, &r), 1);
    cr_expect(r.value == NULL && r.value_len == -1);
    cr_expect_eq(r.timestamp, 1700000000005);
    cr_assert_eq(kp_record_iter_next(&it, &r), 1);
    cr_expect(r.key == NULL && r.key_len == -1);
    cr_expect_eq(r.timestamp, 1699999999990); /* negative delta */
    cr_expect_eq(kp_record_iter_next(&it, &r), 0);
}

Test(batch_builder, refuses_what_does_not_fit_and_keeps_the_rest_valid)
{
    uint8_t buf[128];
    kp_batch_builder_t b;
    kp_batch_builder_init(&b, buf, sizeof(buf), 0);
    cr_assert_eq(kp_batch_builder_add(&b, "k", 1, "v", 1, 0), 0);
    char big[200] = {0};
    cr_expect_eq(kp_batch_builder_add(&b, "k", 1, big, sizeof(big), 0), SL_ERR_LIMIT);
    size_t len = kp_batch_builder_finish(&b);
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(buf, len, &h), 0);
    cr_expect_eq(kp_batch_verify_crc(buf, &h), 0);
    cr_expect_eq(h.records_count, 1);
    for (int32_t kl = 0; kl < 40; kl++)
        for (int32_t vl = -1; vl < 300; vl += 7) {
            uint8_t one[1024];
            kp_batch_builder_init(&b, one, sizeof(one), 0);
            char k[64] = {0}, v[320] = {0};
            cr_assert_eq(kp_batch_builder_add(&b, k, kl, vl < 0 ? NULL : v, vl, 3), 0);
            cr_expect_eq(b.len - KP_BATCH_HEADER_BYTES, kp_batch_record_size(kl, vl, 3, 0));
        }
}
