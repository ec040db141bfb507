/* test_proto_batch.c — record batch v2: golden bytes built by hand, CRC accept and
 * reject, stamping, every truncation prefix, hostile lengths, batch and record
 * iteration. */
#include "sl_base.h"
#include "kp_batch.h"
#include "kp_crc32c.h"

#include <criterion/criterion.h>
#include <errno.h>

/* A 2-record uncompressed batch, written out field by field (KAFKA-PROTOCOL.md §3):
 *   record 0: key "k0", null value, one header h=v, offsetDelta 0, timestampDelta 0
 *   record 1: key "key1", value "value", no headers, offsetDelta 1, timestampDelta 5
 * The CRC 0x151D3739 was computed independently of kp_crc32c (bit-at-a-time). */
/* clang-format off */
static const uint8_t golden[90] = {
    /*  0 baseOffset            */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /*  8 batchLength = 78      */ 0x00, 0x00, 0x00, 0x4e,
    /* 12 partitionLeaderEpoch  */ 0xff, 0xff, 0xff, 0xff,
    /* 16 magic                 */ 0x02,
    /* 17 crc                   */ 0x15, 0x1d, 0x37, 0x39,
    /* 21 attributes            */ 0x00, 0x00,
    /* 23 lastOffsetDelta = 1   */ 0x00, 0x00, 0x00, 0x01,
    /* 27 baseTimestamp         */ 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    /* 35 maxTimestamp (+5)     */ 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05,
    /* 43 producerId = -1       */ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    /* 51 producerEpoch = -1    */ 0xff, 0xff,
    /* 53 baseSequence = -1     */ 0xff, 0xff, 0xff, 0xff,
    /* 57 recordsCount = 2      */ 0x00, 0x00, 0x00, 0x02,
    /* 61 record 0: length 12   */ 0x18,
    /*    attributes, tsDelta 0, offsetDelta 0 */ 0x00, 0x00, 0x00,
    /*    keyLen 2, "k0"        */ 0x04, 0x6b, 0x30,
    /*    valueLen -1 (null)    */ 0x01,
    /*    headerCount 1         */ 0x02,
    /*    hkeyLen 1 "h", hvalLen 1 "v" */ 0x02, 0x68, 0x02, 0x76,
    /* 74 record 1: length 15   */ 0x1e,
    /*    attributes, tsDelta 5, offsetDelta 1 */ 0x00, 0x0a, 0x02,
    /*    keyLen 4, "key1"      */ 0x08, 0x6b, 0x65, 0x79, 0x31,
    /*    valueLen 5, "value"   */ 0x0a, 0x76, 0x61, 0x6c, 0x75, 0x65,
    /*    headerCount 0         */ 0x00,
};
/* clang-format on */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void reseal(uint8_t *b, size_t len)
{
    put_be32(b + KP_BATCH_OFF_CRC, kp_crc32c(0, b + KP_BATCH_CRC_START, len - KP_BATCH_CRC_START));
}

Test(batch, parses_every_header_field_of_the_golden_batch)
{
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(golden, sizeof(golden), &h), 0);
    cr_assert_eq(h.base_offset, 0);
    cr_assert_eq(h.batch_length, 78);
    cr_assert_eq(kp_batch_total_size(&h), 90);
    cr_assert_eq(h.partition_leader_epoch, -1);
    cr_assert_eq(h.magic, 2);
    cr_assert_eq(h.crc, 0x151D3739u);
    cr_assert_eq(h.attributes, 0);
    cr_assert_eq(h.last_offset_delta, 1);
    cr_assert_eq(kp_batch_last_offset(&h), 1);
    cr_assert_eq(h.base_timestamp, 1700000000000LL);
    cr_assert_eq(h.max_timestamp, 1700000000005LL);
    cr_assert_eq(h.producer_id, -1);
    cr_assert_eq(h.producer_epoch, -1);
    cr_assert_eq(h.base_sequence, -1);
    cr_assert_eq(h.records_count, 2);
    cr_assert_eq(kp_batch_codec(&h), KP_CODEC_NONE);
    cr_assert_not(kp_batch_is_transactional(&h));
    cr_assert_not(kp_batch_is_control(&h));
    cr_assert_not(kp_batch_has_producer_id(&h));
    cr_assert_eq(kp_batch_timestamp_type(&h), KP_TS_CREATE_TIME);
    cr_assert_eq(kp_batch_check_produce(&h, false), 0);
}

Test(batch, attribute_helpers_decode_each_bit)
{
    uint8_t b[sizeof(golden)];
    memcpy(b, golden, sizeof(b));
    b[KP_BATCH_OFF_ATTRIBUTES + 1] = KP_BATCH_ATTR_TRANSACTIONAL | KP_BATCH_ATTR_CONTROL |
                                     KP_BATCH_ATTR_LOG_APPEND_TIME | KP_CODEC_ZSTD;
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), 0);
    cr_assert_eq(kp_batch_codec(&h), KP_CODEC_ZSTD);
    cr_assert(kp_batch_is_transactional(&h));
    cr_assert(kp_batch_is_control(&h));
    cr_assert_eq(kp_batch_timestamp_type(&h), KP_TS_LOG_APPEND_TIME);
    cr_assert_eq(kp_batch_check_produce(&h, false), SL_ERR_CORRUPT); /* control, no pid */
}

Test(batch, crc_accepts_the_golden_batch_and_rejects_every_flipped_byte)
{
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(golden, sizeof(golden), &h), 0);
    cr_assert_eq(kp_batch_verify_crc(golden, &h), 0);
    for (size_t i = KP_BATCH_OFF_CRC; i < sizeof(golden); i++) {
        uint8_t b[sizeof(golden)];
        memcpy(b, golden, sizeof(b));
        b[i] ^= 0x01;
        int rc = kp_batch_parse_header(b, sizeof(b), &h);
        if (rc == 0)
            cr_assert_eq(kp_batch_verify_crc(b, &h), SL_ERR_CORRUPT, "flip at %zu accepted", i);
        else
            cr_assert_eq(rc, SL_ERR_CORRUPT, "flip at %zu", i);
    }
}

Test(batch, stamping_sets_offset_and_epoch_and_keeps_the_crc_valid)
{
    uint8_t b[sizeof(golden)];
    memcpy(b, golden, sizeof(b));
    kp_batch_stamp(b, 0x0102030405060708LL, 7);
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), 0);
    cr_assert_eq(h.base_offset, 0x0102030405060708LL);
    cr_assert_eq(h.partition_leader_epoch, 7);
    cr_assert_eq(kp_batch_last_offset(&h), 0x0102030405060709LL);
    cr_assert_eq(kp_batch_verify_crc(b, &h), 0);
    cr_assert_eq(memcmp(b + 16, golden + 16, sizeof(b) - 16), 0);
}

Test(batch, every_truncation_prefix_asks_for_more_and_reports_the_size)
{
    for (size_t len = 0; len < sizeof(golden); len++) {
        kp_batch_header_t h;
        int rc = kp_batch_parse_header(golden, len, &h);
        cr_assert_eq(rc, SL_ERR_AGAIN, "prefix %zu", len);
        if (len >= 12)
            cr_assert_eq(kp_batch_total_size(&h), sizeof(golden), "prefix %zu", len);
        else
            cr_assert_eq(kp_batch_total_size(&h), 0);
        if (len >= KP_BATCH_HEADER_BYTES) {
            cr_assert_eq(h.records_count, 2);
            cr_assert_eq(kp_batch_parse_prefix(golden, len, &h), 0);
        }
        kp_batch_iter_t it;
        const uint8_t *bp;
        kp_batch_iter_init(&it, golden, len, true);
        cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), len == 0 ? KP_ITER_END : SL_ERR_AGAIN);
        cr_assert_eq(it.pos, 0);
    }
}

static int parse_mutated(size_t off, uint32_t v, size_t avail)
{
    uint8_t b[sizeof(golden)];
    memcpy(b, golden, sizeof(b));
    put_be32(b + off, v);
    kp_batch_header_t h;
    return kp_batch_parse_header(b, avail, &h);
}

Test(batch, hostile_lengths_are_rejected_as_soon_as_they_are_seen)
{
    /* Only the first 12 bytes present: the length alone condemns the batch. */
    cr_assert_eq(parse_mutated(8, 48, 12), SL_ERR_CORRUPT);
    cr_assert_eq(parse_mutated(8, 0, 12), SL_ERR_CORRUPT);
    cr_assert_eq(parse_mutated(8, 0xFFFFFFFFu, 12), SL_ERR_CORRUPT); /* -1 */
    cr_assert_eq(parse_mutated(8, 0x80000000u, 12), SL_ERR_CORRUPT);
    cr_assert_eq(parse_mutated(8, 0x7FFFFFFFu, 12), SL_ERR_CORRUPT);
    cr_assert_eq(parse_mutated(8, KP_MAX_BATCH_BYTES - 11, 12), SL_ERR_CORRUPT);
    /* The largest legal length is only "need more". */
    cr_assert_eq(parse_mutated(8, KP_MAX_BATCH_BYTES - 12, 12), SL_ERR_AGAIN);
    /* 49 is the minimum: a header without records, legal only with count 0. */
    cr_assert_eq(parse_mutated(8, 49, 61), SL_ERR_CORRUPT); /* count 2 needs >= 14 bytes */
}

Test(batch, rejects_bad_magic_codec_deltas_and_counts)
{
    uint8_t b[sizeof(golden)];
    kp_batch_header_t h;

    memcpy(b, golden, sizeof(b));
    b[KP_BATCH_OFF_MAGIC] = 1;
    cr_assert_eq(kp_batch_parse_header(b, 17, &h), SL_ERR_CORRUPT); /* seen at 17 bytes */
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), SL_ERR_CORRUPT);

    memcpy(b, golden, sizeof(b));
    b[KP_BATCH_OFF_ATTRIBUTES + 1] = 5; /* codec 5 does not exist */
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), SL_ERR_CORRUPT);

    cr_assert_eq(parse_mutated(KP_BATCH_OFF_LAST_OFFSET_DELTA, 0xFFFFFFFFu, 90), SL_ERR_CORRUPT);
    cr_assert_eq(parse_mutated(KP_BATCH_OFF_RECORDS_COUNT, 0xFFFFFFFFu, 90), SL_ERR_CORRUPT);
    cr_assert_eq(parse_mutated(KP_BATCH_OFF_RECORDS_COUNT, 3, 90), SL_ERR_CORRUPT); /* > delta+1 */
    cr_assert_eq(parse_mutated(KP_BATCH_OFF_LAST_OFFSET_DELTA, 1000, 90), 0);       /* gaps ok */
    cr_assert_eq(parse_mutated(KP_BATCH_OFF_RECORDS_COUNT, 0, 90), 0);              /* empty ok */

    /* Base offset + delta must not overflow. */
    memcpy(b, golden, sizeof(b));
    put_be32(b, 0x7FFFFFFFu);
    put_be32(b + 4, 0xFFFFFFFFu);
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), SL_ERR_CORRUPT);

    /* Uncompressed: 100 records cannot fit in 29 bytes; compressed they might. */
    memcpy(b, golden, sizeof(b));
    put_be32(b + KP_BATCH_OFF_LAST_OFFSET_DELTA, 99);
    put_be32(b + KP_BATCH_OFF_RECORDS_COUNT, 100);
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), SL_ERR_CORRUPT);
    b[KP_BATCH_OFF_ATTRIBUTES + 1] = KP_CODEC_LZ4;
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), 0);
}

Test(batch, produce_rules_reject_gaps_empty_batches_and_missing_sequences)
{
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(golden, sizeof(golden), &h), 0);
    kp_batch_header_t x = h;
    x.last_offset_delta = 2;
    cr_assert_eq(kp_batch_check_produce(&x, false), SL_ERR_CORRUPT);
    x = h;
    x.records_count = 0;
    x.last_offset_delta = 0;
    cr_assert_eq(kp_batch_check_produce(&x, false), SL_ERR_CORRUPT);
    x = h;
    x.producer_id = 1000;
    cr_assert_eq(kp_batch_check_produce(&x, false), SL_ERR_CORRUPT); /* base_sequence -1 */
    x.base_sequence = 0;
    x.producer_epoch = 0;
    cr_assert_eq(kp_batch_check_produce(&x, false), 0);
    x.attributes = KP_BATCH_ATTR_CONTROL;
    cr_assert_eq(kp_batch_check_produce(&x, false), SL_ERR_CORRUPT);
    cr_assert_eq(kp_batch_check_produce(&x, true), 0);
}

Test(batch, iterates_records_of_the_golden_batch_as_views)
{
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(golden, sizeof(golden), &h), 0);
    kp_record_iter_t it;
    kp_record_t r;
    cr_assert_eq(kp_record_iter_init(&it, golden, &h), 0);

    cr_assert_eq(kp_record_iter_next(&it, &r), 1);
    cr_assert_eq(r.offset, 0);
    cr_assert_eq(r.offset_delta, 0);
    cr_assert_eq(r.timestamp, 1700000000000LL);
    cr_assert_eq(r.key_len, 2);
    cr_assert_eq(memcmp(r.key, "k0", 2), 0);
    cr_assert(r.key >= golden && r.key < golden + sizeof(golden)); /* a view */
    cr_assert_eq(r.value_len, -1);
    cr_assert_null(r.value);
    cr_assert_eq(r.header_count, 1);
    cr_assert_eq(r.size_bytes, 13);
    kp_header_iter_t hi;
    kp_record_header_t rh;
    kp_header_iter_init(&hi, &r);
    cr_assert_eq(kp_header_iter_next(&hi, &rh), 1);
    cr_assert_eq(rh.key_len, 1);
    cr_assert_eq(rh.key[0], 'h');
    cr_assert_eq(rh.value_len, 1);
    cr_assert_eq(rh.value[0], 'v');
    cr_assert_eq(kp_header_iter_next(&hi, &rh), 0);

    cr_assert_eq(kp_record_iter_next(&it, &r), 1);
    cr_assert_eq(r.offset, 1);
    cr_assert_eq(r.timestamp, 1700000000005LL);
    cr_assert_eq(r.key_len, 4);
    cr_assert_eq(memcmp(r.key, "key1", 4), 0);
    cr_assert_eq(r.value_len, 5);
    cr_assert_eq(memcmp(r.value, "value", 5), 0);
    cr_assert_eq(r.header_count, 0);
    cr_assert_eq(kp_record_iter_next(&it, &r), 0);
    cr_assert_eq(kp_record_iter_next(&it, &r), 0);
}

Test(batch, log_append_time_batches_give_every_record_the_max_timestamp)
{
    uint8_t b[sizeof(golden)];
    memcpy(b, golden, sizeof(b));
    b[KP_BATCH_OFF_ATTRIBUTES + 1] = KP_BATCH_ATTR_LOG_APPEND_TIME;
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), 0);
    kp_record_iter_t it;
    kp_record_t r;
    cr_assert_eq(kp_record_iter_init(&it, b, &h), 0);
    cr_assert_eq(kp_record_iter_next(&it, &r), 1);
    cr_assert_eq(r.timestamp, 1700000000005LL);
}

Test(batch, compressed_batches_have_no_record_iteration_yet)
{
    uint8_t b[sizeof(golden)];
    memcpy(b, golden, sizeof(b));
    b[KP_BATCH_OFF_ATTRIBUTES + 1] = KP_CODEC_GZIP;
    kp_batch_header_t h;
    cr_assert_eq(kp_batch_parse_header(b, sizeof(b), &h), 0);
    kp_record_iter_t it;
    cr_assert_eq(kp_record_iter_init(&it, b, &h), -ENOTSUP);
}

static int iterate_all(const uint8_t *b, size_t len, int32_t *count_out)
{
    kp_batch_header_t h;
    if (kp_batch_parse_header(b, len, &h) != 0)
        return 1;
    kp_record_iter_t it;
    kp_record_t r;
    if (kp_record_iter_init(&it, b, &h) != 0)
        return 1;
    int rc;
    int32_t n = 0;
    while ((rc = kp_record_iter_next(&it, &r)) == 1) {
        kp_header_iter_t hi;
        kp_record_header_t rh;
        kp_header_iter_init(&hi, &r);
        while (kp_header_iter_next(&hi, &rh) == 1)
            cr_assert(rh.key_len >= 0);
        n++;
    }
    if (count_out)
        *count_out = n;
    return rc;
}

Test(batch, malformed_records_are_corrupt)
{
    uint8_t b[sizeof(golden)];

    /* Record 0's length claims more than the batch holds. */
    memcpy(b, golden, sizeof(b));
    b[61] = 0x7e; /* 63 */
    cr_assert_eq(iterate_all(b, sizeof(b), NULL), SL_ERR_CORRUPT);

    /* Record 0's length one short: its fields overrun it. */
    memcpy(b, golden, sizeof(b));
    b[61] = 0x16; /* 11 */
    cr_assert_eq(iterate_all(b, sizeof(b), NULL), SL_ERR_CORRUPT);

    /* Header key null (-1). */
    memcpy(b, golden, sizeof(b));
    b[70] = 0x01;
    cr_assert_eq(iterate_all(b, sizeof(b), NULL), SL_ERR_CORRUPT);

    /* Key length -2. */
    memcpy(b, golden, sizeof(b));
    b[65] = 0x03;
    cr_assert_eq(iterate_all(b, sizeof(b), NULL), SL_ERR_CORRUPT);

    /* Offset deltas must increase: record 1 says 0. */
    memcpy(b, golden, sizeof(b));
    b[77] = 0x00;
    cr_assert_eq(iterate_all(b, sizeof(b), NULL), SL_ERR_CORRUPT);

    /* Offset delta beyond lastOffsetDelta. */
    memcpy(b, golden, sizeof(b));
    b[77] = 0x04;
    cr_assert_eq(iterate_all(b, sizeof(b), NULL), SL_ERR_CORRUPT);

    /* recordsCount 1: record 1 becomes trailing garbage. */
    memcpy(b, golden, sizeof(b));
    b[60] = 1;
    int32_t n = 0;
    cr_assert_eq(iterate_all(b, sizeof(b), &n), SL_ERR_CORRUPT);
    cr_assert_eq(n, 1);

    /* An overlong varint (6 continuation bytes) for the timestamp delta of record 1
     * fits a varlong but an offset delta of 6 bytes does not fit a varint. */
    static const uint8_t rec_overlong[] = {0x18, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0x01, 0x00, 0x00, 0x00, 0x00};
    uint8_t c[61 + sizeof(rec_overlong)];
    memcpy(c, golden, 61);
    memcpy(c + 61, rec_overlong, sizeof(rec_overlong));
    put_be32(c + 8, (uint32_t)(sizeof(c) - 12));
    put_be32(c + KP_BATCH_OFF_RECORDS_COUNT, 1);
    reseal(c, sizeof(c));
    cr_assert_eq(iterate_all(c, sizeof(c), NULL), SL_ERR_CORRUPT);
}

Test(batch, every_single_byte_mutation_is_parsed_safely)
{
    /* Under ASan this catches any read outside the batch. */
    for (size_t i = 0; i < sizeof(golden); i++) {
        static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
        for (size_t v = 0; v < sizeof(vals); v++) {
            uint8_t *b = malloc(sizeof(golden)); /* exact size: ASan sees overruns */
            memcpy(b, golden, sizeof(golden));
            b[i] = vals[v];
            int32_t n;
            int rc = iterate_all(b, sizeof(golden), &n);
            cr_assert(rc == 0 || rc == 1 || rc == SL_ERR_CORRUPT);
            kp_batch_iter_t it;
            kp_batch_header_t h;
            const uint8_t *bp;
            kp_batch_iter_init(&it, b, sizeof(golden), true);
            while ((rc = kp_batch_iter_next(&it, &h, &bp)) == KP_ITER_BATCH)
                ;
            cr_assert(rc == KP_ITER_END || rc == SL_ERR_AGAIN || rc == SL_ERR_CORRUPT);
            free(b);
        }
    }
}

Test(batch, iterator_walks_concatenated_batches_and_stops_at_tail_or_corruption)
{
    uint8_t buf[3 * sizeof(golden) + 30];
    for (int i = 0; i < 3; i++) {
        memcpy(buf + i * sizeof(golden), golden, sizeof(golden));
        kp_batch_stamp(buf + i * sizeof(golden), 2 * i, 0);
    }
    memcpy(buf + 3 * sizeof(golden), golden, 30); /* a torn fourth batch */

    kp_batch_iter_t it;
    kp_batch_header_t h;
    const uint8_t *bp;
    kp_batch_iter_init(&it, buf, 3 * sizeof(golden), true);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), KP_ITER_BATCH);
        cr_assert_eq(h.base_offset, 2 * i);
        cr_assert_eq(bp, buf + i * sizeof(golden));
    }
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), KP_ITER_END);

    kp_batch_iter_init(&it, buf, sizeof(buf), true);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), KP_ITER_BATCH);
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), SL_ERR_AGAIN);
    cr_assert_eq(it.pos, 3 * sizeof(golden));
    cr_assert_eq(kp_batch_total_size(&h), sizeof(golden)); /* how much the tail needs */

    /* A flipped byte inside the second batch: corrupt at its start (with CRC checks),
     * unnoticed without them. */
    buf[sizeof(golden) + 80] ^= 0x40;
    kp_batch_iter_init(&it, buf, 3 * sizeof(golden), true);
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), KP_ITER_BATCH);
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), SL_ERR_CORRUPT);
    cr_assert_eq(it.pos, sizeof(golden));
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), SL_ERR_CORRUPT); /* stays put */
    kp_batch_iter_init(&it, buf, 3 * sizeof(golden), false);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), KP_ITER_BATCH);

    /* A hostile length in the third batch. */
    put_be32(buf + 2 * sizeof(golden) + 8, 0x7FFFFFF0u);
    kp_batch_iter_init(&it, buf, sizeof(buf), false);
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), KP_ITER_BATCH);
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), KP_ITER_BATCH);
    cr_assert_eq(kp_batch_iter_next(&it, &h, &bp), SL_ERR_CORRUPT);
    cr_assert_eq(it.pos, 2 * sizeof(golden));
}
