/* test_proto_codec.c — the wire primitives of proto/kp_codec.h: readers reject
 * truncated and hostile input, writers overflow safely, the arena keeps its
 * bound, and out-of-line records assemble into the right iovec list. */
#include "sl_base.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "kp_codec.h"

/* A reader over a heap copy of exactly len bytes, so ASan sees any overread. */
typedef struct {
    uint8_t *buf;
    kp_reader_t r;
} exact_t;

static exact_t exact(const void *bytes, size_t len)
{
    exact_t e;
    e.buf = malloc(len ? len : 1);
    cr_assert(e.buf != NULL);
    if (len)
        memcpy(e.buf, bytes, len);
    kp_reader_init(&e.r, e.buf, len);
    return e;
}

static void exact_free(exact_t *e)
{
    free(e->buf);
}

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

/* ---------------------------------------------------------------- readers */

Test(codec_read, fixed_width_ints_are_big_endian)
{
    exact_t e = exact(BYTES(0x81, 0x01, 0x02, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0x00, 0x01, 0x00, 0xfe, 0xdc, 0x80, 0x00, 0x00, 0x01));
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    uint16_t u16;
    uint32_t u32;
    cr_assert_eq(kp_read_int8(&e.r, &i8), 0);
    cr_assert_eq(i8, -127);
    cr_assert_eq(kp_read_int16(&e.r, &i16), 0);
    cr_assert_eq(i16, 0x0102);
    cr_assert_eq(kp_read_int32(&e.r, &i32), 0);
    cr_assert_eq(i32, -2);
    cr_assert_eq(kp_read_int64(&e.r, &i64), 0);
    cr_assert_eq(i64, 256);
    cr_assert_eq(kp_read_uint16(&e.r, &u16), 0);
    cr_assert_eq(u16, 0xfedc);
    cr_assert_eq(kp_read_uint32(&e.r, &u32), 0);
    cr_assert_eq(u32, 0x80000001u);
    cr_assert_eq(kp_reader_remaining(&e.r), 0);
    exact_free(&e);
}

Test(codec_read, float64_bool_and_uuid)
{
    /* 1.5 = 0x3FF8000000000000 */
    uint8_t in[8 + 2 + 16] = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x00, 0x07};
    for (int i = 0; i < 16; i++)
        in[10 + i] = (uint8_t)(i + 1);
    exact_t e = exact(in, sizeof(in));
    double d;
    bool b0, b1;
    kp_uuid_t u;
    cr_assert_eq(kp_read_float64(&e.r, &d), 0);
    cr_assert_eq(d, 1.5);
    cr_assert_eq(kp_read_bool(&e.r, &b0), 0);
    cr_assert_eq(kp_read_bool(&e.r, &b1), 0);
    cr_assert(!b0 && b1);
    cr_assert_eq(kp_read_uuid(&e.r, &u), 0);
    cr_assert_eq(u.b[0], 1);
    cr_assert_eq(u.b[15], 16);
    cr_assert(!kp_uuid_is_zero(&u));
    exact_free(&e);
}

/* Every reader, given one byte less than it needs, fails and consumes nothing. */
Test(codec_read, every_reader_rejects_truncated_input)
{
    static const uint8_t full[16] = {0};
    for (size_t len = 0; len < 16; len++) {
        exact_t e = exact(full, len);
        int8_t i8;
        int16_t i16;
        int32_t i32;
        int64_t i64;
        uint16_t u16;
        uint32_t u32;
        double d;
        bool b;
        kp_uuid_t u;
        if (len < 1) {
            cr_assert_eq(kp_read_int8(&e.r, &i8), SL_ERR_PROTO);
            cr_assert_eq(kp_read_bool(&e.r, &b), SL_ERR_PROTO);
        }
        if (len < 2) {
            cr_assert_eq(kp_read_int16(&e.r, &i16), SL_ERR_PROTO);
            cr_assert_eq(kp_read_uint16(&e.r, &u16), SL_ERR_PROTO);
        }
        if (len < 4) {
            cr_assert_eq(kp_read_int32(&e.r, &i32), SL_ERR_PROTO);
            cr_assert_eq(kp_read_uint32(&e.r, &u32), SL_ERR_PROTO);
        }
        if (len < 8) {
            cr_assert_eq(kp_read_int64(&e.r, &i64), SL_ERR_PROTO);
            cr_assert_eq(kp_read_float64(&e.r, &d), SL_ERR_PROTO);
        }
        cr_assert_eq(kp_read_uuid(&e.r, &u), SL_ERR_PROTO);
        cr_assert_eq(kp_reader_remaining(&e.r), len, "a failed read consumed bytes");
        exact_free(&e);
    }
}

Test(codec_read, strings_bytes_and_counts_reject_every_truncation)
{
    /* Valid encodings of "abc" / 3 bytes / count 3 (with 3 trailing bytes so the
     * count fits), classic and compact. Every strict prefix must fail. */
    static const uint8_t str[] = {0x00, 0x03, 'a', 'b', 'c'};
    static const uint8_t cstr[] = {0x04, 'a', 'b', 'c'};
    static const uint8_t byt[] = {0x00, 0x00, 0x00, 0x03, 1, 2, 3};
    static const uint8_t cbyt[] = {0x04, 1, 2, 3};
    static const uint8_t cnt[] = {0x00, 0x00, 0x00, 0x03, 1, 2, 3};
    static const uint8_t ccnt[] = {0x04, 1, 2, 3};
    kp_str_t s;
    kp_bytes_t by;
    int32_t n;
    for (size_t len = 0; len < sizeof(str); len++) {
        exact_t e = exact(str, len);
        cr_assert_eq(kp_read_string(&e.r, &s), SL_ERR_PROTO, "len %zu", len);
        cr_assert_eq(kp_reader_remaining(&e.r), len);
        exact_free(&e);
    }
    for (size_t len = 0; len < sizeof(cstr); len++) {
        exact_t e = exact(cstr, len);
        cr_assert_eq(kp_read_compact_string(&e.r, &s), SL_ERR_PROTO);
        exact_free(&e);
    }
    for (size_t len = 0; len < sizeof(byt); len++) {
        exact_t e = exact(byt, len);
        cr_assert_eq(kp_read_bytes(&e.r, &by), SL_ERR_PROTO);
        exact_free(&e);
    }
    for (size_t len = 0; len < sizeof(cbyt); len++) {
        exact_t e = exact(cbyt, len);
        cr_assert_eq(kp_read_compact_bytes(&e.r, &by), SL_ERR_PROTO);
        exact_free(&e);
    }
    for (size_t len = 0; len < sizeof(cnt); len++) {
        exact_t e = exact(cnt, len);
        cr_assert_eq(kp_read_array_count(&e.r, &n), SL_ERR_PROTO);
        exact_free(&e);
    }
    for (size_t len = 0; len < sizeof(ccnt); len++) {
        exact_t e = exact(ccnt, len);
        cr_assert_eq(kp_read_compact_array_count(&e.r, &n), SL_ERR_PROTO);
        exact_free(&e);
    }
    exact_t e = exact(str, sizeof(str));
    cr_assert_eq(kp_read_string(&e.r, &s), 0);
    cr_assert(kp_str_eq(s, "abc"));
    cr_assert_eq((const uint8_t *)s.ptr, e.buf + 2, "strings are views into the input");
    exact_free(&e);
}

Test(codec_read, string_length_minus_two_is_a_protocol_error)
{
    exact_t e = exact(BYTES(0xff, 0xfe, 'a', 'b'));
    kp_str_t s;
    cr_assert_eq(kp_read_string(&e.r, &s), SL_ERR_PROTO);
    cr_assert_eq(kp_reader_remaining(&e.r), 4);
    exact_free(&e);
    e = exact(BYTES(0xff, 0xff, 0xff, 0xfe, 1, 2));
    kp_bytes_t b;
    cr_assert_eq(kp_read_bytes(&e.r, &b), SL_ERR_PROTO);
    exact_free(&e);
    e = exact(BYTES(0x80, 0x00, 0x00, 0x00, 1, 2)); /* INT32_MIN */
    int32_t n;
    cr_assert_eq(kp_read_array_count(&e.r, &n), SL_ERR_PROTO);
    exact_free(&e);
}

Test(codec_read, null_string_bytes_and_array)
{
    exact_t e =
        exact(BYTES(0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00));
    kp_str_t s;
    kp_bytes_t b;
    int32_t n;
    cr_assert_eq(kp_read_string(&e.r, &s), 0);
    cr_assert_eq(s.len, -1);
    cr_assert_eq(kp_read_compact_string(&e.r, &s), 0);
    cr_assert_eq(s.len, -1);
    cr_assert_eq(kp_read_bytes(&e.r, &b), 0);
    cr_assert_eq(b.len, -1);
    cr_assert_eq(kp_read_compact_bytes(&e.r, &b), 0);
    cr_assert_eq(b.len, -1);
    cr_assert_eq(kp_read_array_count(&e.r, &n), 0);
    cr_assert_eq(n, -1);
    cr_assert_eq(kp_read_compact_array_count(&e.r, &n), 0);
    cr_assert_eq(n, -1);
    cr_assert_eq(kp_reader_remaining(&e.r), 0);
    exact_free(&e);
}

Test(codec_read, array_count_beyond_remaining_bytes_is_rejected)
{
    /* count 5 with only 4 bytes after it */
    exact_t e = exact(BYTES(0x00, 0x00, 0x00, 0x05, 1, 2, 3, 4));
    int32_t n;
    cr_assert_eq(kp_read_array_count(&e.r, &n), SL_ERR_PROTO);
    exact_free(&e);
    e = exact(BYTES(0x06, 1, 2, 3, 4));
    cr_assert_eq(kp_read_compact_array_count(&e.r, &n), SL_ERR_PROTO);
    exact_free(&e);
    /* a huge count never gets as far as an allocation */
    e = exact(BYTES(0x7f, 0xff, 0xff, 0xff, 0));
    cr_assert_eq(kp_read_array_count(&e.r, &n), SL_ERR_PROTO);
    exact_free(&e);
    e = exact(BYTES(0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4));
    cr_assert_eq(kp_read_array_count(&e.r, &n), 0);
    cr_assert_eq(n, 4);
    exact_free(&e);
}

Test(codec_read, array_count_over_limit_is_a_limit_error)
{
    size_t len = 4 + (size_t)KP_MAX_ARRAY_COUNT + 1;
    uint8_t *buf = calloc(1, len);
    uint32_t n1 = KP_MAX_ARRAY_COUNT + 1;
    buf[0] = (uint8_t)(n1 >> 24);
    buf[1] = (uint8_t)(n1 >> 16);
    buf[2] = (uint8_t)(n1 >> 8);
    buf[3] = (uint8_t)n1;
    kp_reader_t r;
    kp_reader_init(&r, buf, len);
    int32_t n;
    cr_assert_eq(kp_read_array_count(&r, &n), SL_ERR_LIMIT);
    kp_reader_init(&r, buf, len);
    buf[3] = (uint8_t)(n1 - 1);
    cr_assert_eq(kp_read_array_count(&r, &n), 0);
    cr_assert_eq(n, KP_MAX_ARRAY_COUNT);
    free(buf);
}

Test(codec_read, compact_string_over_limit_is_a_limit_error)
{
    size_t n = KP_MAX_STRING_BYTES + 1;
    uint8_t *buf = calloc(1, n + 3);
    /* uvarint(n + 1) = 32769 = 0x8001 -> 0x81 0x80 0x02 */
    buf[0] = 0x81;
    buf[1] = 0x80;
    buf[2] = 0x02;
    kp_reader_t r;
    kp_reader_init(&r, buf, n + 3);
    kp_str_t s;
    cr_assert_eq(kp_read_compact_string(&r, &s), SL_ERR_LIMIT);
    /* the same length with the bytes missing is malformed */
    kp_reader_init(&r, buf, 10);
    cr_assert_eq(kp_read_compact_string(&r, &s), SL_ERR_PROTO);
    free(buf);
}

Test(codec_read, uvarint_longer_than_five_bytes_is_rejected)
{
    uint32_t v;
    exact_t e = exact(BYTES(0x80, 0x80, 0x80, 0x80, 0x80, 0x01));
    cr_assert_eq(kp_read_uvarint(&e.r, &v), SL_ERR_PROTO);
    exact_free(&e);
    /* five bytes but more than 32 bits */
    e = exact(BYTES(0xff, 0xff, 0xff, 0xff, 0x1f));
    cr_assert_eq(kp_read_uvarint(&e.r, &v), SL_ERR_PROTO);
    exact_free(&e);
    e = exact(BYTES(0xff, 0xff, 0xff, 0xff, 0x0f));
    cr_assert_eq(kp_read_uvarint(&e.r, &v), 0);
    cr_assert_eq(v, UINT32_MAX);
    exact_free(&e);
    /* truncated in the middle */
    e = exact(BYTES(0x80, 0x80));
    cr_assert_eq(kp_read_uvarint(&e.r, &v), SL_ERR_PROTO);
    exact_free(&e);
}

Test(codec_read, uvarlong_longer_than_ten_bytes_is_rejected)
{
    uint64_t v;
    exact_t e = exact(BYTES(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01));
    cr_assert_eq(kp_read_uvarlong(&e.r, &v), SL_ERR_PROTO);
    exact_free(&e);
    e = exact(BYTES(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01));
    cr_assert_eq(kp_read_uvarlong(&e.r, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    exact_free(&e);
    e = exact(BYTES(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02));
    cr_assert_eq(kp_read_uvarlong(&e.r, &v), SL_ERR_PROTO);
    exact_free(&e);
}

Test(codec_read, zigzag_varints_decode_known_values)
{
    /* 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, 63 -> 126, -64 -> 127, 64 -> 128 (0x80 0x01) */
    exact_t e = exact(BYTES(0x00, 0x01, 0x02, 0x03, 0x7e, 0x7f, 0x80, 0x01));
    static const int32_t want[] = {0, -1, 1, -2, 63, -64, 64};
    for (size_t i = 0; i < SL_ARRAY_SIZE(want); i++) {
        int32_t v;
        cr_assert_eq(kp_read_varint(&e.r, &v), 0);
        cr_assert_eq(v, want[i]);
    }
    exact_free(&e);
}

Test(codec_read, tagged_section_skip_checks_sizes)
{
    kp_reader_t r;
    static const uint8_t ok[] = {0x02, 0x00, 0x01, 0xaa, 0x05, 0x02, 0xbb, 0xcc, 0x99};
    kp_reader_init(&r, ok, sizeof(ok));
    cr_assert_eq(kp_read_tagged_skip(&r), 0);
    cr_assert_eq(kp_reader_remaining(&r), 1);
    static const uint8_t bad[] = {0x01, 0x00, 0x05, 0xaa};
    exact_t e = exact(bad, sizeof(bad));
    cr_assert_eq(kp_read_tagged_skip(&e.r), SL_ERR_PROTO);
    exact_free(&e);
}

/* ---------------------------------------------------------------- writers */

Test(codec_write, round_trips_every_primitive)
{
    uint8_t buf[256];
    kp_writer_t w;
    kp_writer_init(&w, buf, sizeof(buf));
    kp_uuid_t u = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
    static const uint8_t raw[] = {9, 8, 7};
    kp_write_int8(&w, -5);
    kp_write_int16(&w, -300);
    kp_write_int32(&w, INT32_MIN);
    kp_write_int64(&w, INT64_MAX);
    kp_write_uint16(&w, 65535);
    kp_write_uint32(&w, 4000000000u);
    kp_write_float64(&w, -2.25);
    kp_write_bool(&w, true);
    kp_write_uuid(&w, &u);
    kp_write_uvarint(&w, 300);
    kp_write_uvarlong(&w, UINT64_MAX);
    kp_write_varint(&w, INT32_MIN);
    kp_write_varlong(&w, INT64_MIN);
    kp_write_string(&w, kp_str_from("hello"));
    kp_write_compact_string(&w, KP_STR_NULL);
    kp_write_bytes(&w, (kp_bytes_t){raw, 3});
    kp_write_compact_bytes(&w, (kp_bytes_t){raw, 3});
    kp_write_array_count(&w, -1);
    kp_write_compact_array_count(&w, 200);
    cr_assert(!kp_writer_overflowed(&w));

    kp_reader_t r;
    kp_reader_init(&r, buf, w.len);
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    double d;
    bool b;
    kp_uuid_t u2;
    kp_str_t s;
    kp_bytes_t by;
    cr_assert(kp_read_int8(&r, &i8) == 0 && i8 == -5);
    cr_assert(kp_read_int16(&r, &i16) == 0 && i16 == -300);
    cr_assert(kp_read_int32(&r, &i32) == 0 && i32 == INT32_MIN);
    cr_assert(kp_read_int64(&r, &i64) == 0 && i64 == INT64_MAX);
    cr_assert(kp_read_uint16(&r, &u16) == 0 && u16 == 65535);
    cr_assert(kp_read_uint32(&r, &u32) == 0 && u32 == 4000000000u);
    cr_assert(kp_read_float64(&r, &d) == 0 && d == -2.25);
    cr_assert(kp_read_bool(&r, &b) == 0 && b);
    cr_assert(kp_read_uuid(&r, &u2) == 0 && memcmp(&u, &u2, 16) == 0);
    cr_assert(kp_read_uvarint(&r, &u32) == 0 && u32 == 300);
    cr_assert(kp_read_uvarlong(&r, &u64) == 0 && u64 == UINT64_MAX);
    cr_assert(kp_read_varint(&r, &i32) == 0 && i32 == INT32_MIN);
    cr_assert(kp_read_varlong(&r, &i64) == 0 && i64 == INT64_MIN);
    cr_assert(kp_read_string(&r, &s) == 0 && kp_str_eq(s, "hello"));
    cr_assert(kp_read_compact_string(&r, &s) == 0 && s.len == -1);
    cr_assert(kp_read_bytes(&r, &by) == 0 && by.len == 3 && memcmp(by.ptr, raw, 3) == 0);
    cr_assert(kp_read_compact_bytes(&r, &by) == 0 && by.len == 3);
    cr_assert(kp_read_array_count(&r, &i32) == 0 && i32 == -1);
    /* compact count 200 needs 200 bytes to follow: check the raw uvarint instead */
    cr_assert(kp_read_uvarint(&r, &u32) == 0 && u32 == 201);
    cr_assert_eq(kp_reader_remaining(&r), 0);
}

Test(codec_write, varint_sizes_match_what_is_written)
{
    static const uint64_t vals[] = {0,       1,       127,       128,       16383,      16384,
                                    2097151, 2097152, 268435455, 268435456, UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < SL_ARRAY_SIZE(vals); i++) {
        uint8_t buf[16];
        kp_writer_t w;
        kp_writer_init(&w, buf, sizeof(buf));
        kp_write_uvarlong(&w, vals[i]);
        cr_assert_eq(w.len, kp_uvarlong_size(vals[i]));
        if (vals[i] <= UINT32_MAX) {
            cr_assert_eq(w.len, kp_uvarint_size((uint32_t)vals[i]));
        }
    }
    static const int64_t svals[] = {0, -1, 1, -64, 64, INT32_MIN, INT32_MAX, INT64_MIN};
    for (size_t i = 0; i < SL_ARRAY_SIZE(svals); i++) {
        uint8_t buf[16];
        kp_writer_t w;
        kp_writer_init(&w, buf, sizeof(buf));
        kp_write_varlong(&w, svals[i]);
        cr_assert_eq(w.len, kp_varlong_size(svals[i]));
    }
}

Test(codec_write, overflow_is_sticky_and_never_writes_past_capacity)
{
    uint8_t buf[8];
    memset(buf, 0xee, sizeof(buf));
    kp_writer_t w;
    kp_writer_init(&w, buf, 6);
    kp_write_int32(&w, 1);
    cr_assert(!kp_writer_overflowed(&w));
    kp_write_int32(&w, 2); /* does not fit */
    cr_assert(kp_writer_overflowed(&w));
    cr_assert_eq(w.len, 4);
    kp_write_int8(&w, 3); /* would fit, but overflow is sticky */
    cr_assert_eq(w.len, 4);
    cr_assert(kp_writer_overflowed(&w));
    cr_assert_eq(buf[4], 0xee);
    cr_assert_eq(buf[6], 0xee);
    kp_writer_t z;
    kp_writer_init(&z, buf, 0);
    kp_write_string(&z, kp_str_from("x"));
    cr_assert(kp_writer_overflowed(&z));
}

Test(codec_write, size_helpers_match_encodings)
{
    kp_str_t strs[] = {KP_STR_NULL, kp_str_from(""), kp_str_from("abc")};
    for (size_t i = 0; i < SL_ARRAY_SIZE(strs); i++) {
        for (int compact = 0; compact < 2; compact++) {
            uint8_t buf[32];
            kp_writer_t w;
            kp_writer_init(&w, buf, sizeof(buf));
            kp_write_str(&w, compact, strs[i]);
            cr_assert_eq(w.len, kp_str_size(strs[i], compact));
            kp_writer_init(&w, buf, sizeof(buf));
            kp_bytes_t b = {(const uint8_t *)strs[i].ptr, strs[i].len};
            kp_write_byt(&w, compact, b);
            cr_assert_eq(w.len, kp_bytes_size(b, compact));
        }
    }
    for (int32_t c = -1; c < 300; c += 50) {
        uint8_t buf[8];
        kp_writer_t w;
        kp_writer_init(&w, buf, sizeof(buf));
        kp_write_count(&w, true, c);
        cr_assert_eq(w.len, kp_count_size(c, true));
    }
}

/* ------------------------------------------------------- out-of-line records */

static size_t gather(const struct iovec *iov, size_t n, uint8_t *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

Test(codec_ext, large_records_go_out_of_line_and_iov_restores_order)
{
    uint8_t big1[100], big2[64], small[10];
    for (size_t i = 0; i < sizeof(big1); i++)
        big1[i] = (uint8_t)i;
    memset(big2, 0x22, sizeof(big2));
    memset(small, 0x33, sizeof(small));

    /* reference: everything inline */
    uint8_t ref[512];
    kp_writer_t rw;
    kp_writer_init(&rw, ref, sizeof(ref));
    kp_write_int32(&rw, 7);
    kp_write_records(&rw, false, (kp_bytes_t){big1, 100});
    kp_write_records(&rw, true, (kp_bytes_t){small, 10});
    kp_write_records(&rw, true, (kp_bytes_t){big2, 64});
    kp_write_records(&rw, false, KP_BYTES_NULL);
    cr_assert_eq(rw.ext_count, 0, "without ext set records are copied");

    uint8_t inl[512];
    kp_ext_t ext[4];
    kp_writer_t w;
    kp_writer_init(&w, inl, sizeof(inl));
    kp_writer_set_ext(&w, ext, 4, 32);
    kp_write_int32(&w, 7);
    kp_write_records(&w, false, (kp_bytes_t){big1, 100});
    kp_write_records(&w, true, (kp_bytes_t){small, 10});
    kp_write_records(&w, true, (kp_bytes_t){big2, 64});
    kp_write_records(&w, false, KP_BYTES_NULL);
    cr_assert(!kp_writer_overflowed(&w));
    cr_assert_eq(w.ext_count, 2);
    cr_assert_eq(ext[0].at, 8); /* after int32 + int32 length */
    cr_assert_eq(ext[0].ptr, big1);
    cr_assert_eq(ext[0].len, 100);
    cr_assert_eq(ext[1].len, 64);
    cr_assert_eq(w.len, rw.len - 164);
    cr_assert_eq(kp_writer_total_len(&w), rw.len);

    struct iovec iov[8];
    size_t n = kp_writer_iov(&w, iov, 8);
    cr_assert_eq(n, 5); /* inline, big1, inline, big2, inline (null records) */
    uint8_t out[512];
    cr_assert_eq(gather(iov, n, out), rw.len);
    cr_assert_eq(memcmp(out, ref, rw.len), 0);

    /* too few iovecs: reports the number needed, fills what fits */
    struct iovec few[2];
    cr_assert_eq(kp_writer_iov(&w, few, 2), 5);
    cr_assert_eq(few[1].iov_base, big1);
}

Test(codec_ext, no_free_slot_means_copy_inline)
{
    uint8_t big[50];
    memset(big, 0x44, sizeof(big));
    uint8_t inl[256];
    kp_ext_t ext[1];
    kp_writer_t w;
    kp_writer_init(&w, inl, sizeof(inl));
    kp_writer_set_ext(&w, ext, 1, 0);
    kp_write_records(&w, false, (kp_bytes_t){big, 50});
    kp_write_records(&w, false, (kp_bytes_t){big, 50});
    cr_assert_eq(w.ext_count, 1);
    cr_assert_eq(w.len, 4 + 4 + 50);
    cr_assert_eq(kp_writer_total_len(&w), 108);
    struct iovec iov[4];
    size_t n = kp_writer_iov(&w, iov, 4);
    cr_assert_eq(n, 3);
    uint8_t out[256];
    cr_assert_eq(gather(iov, n, out), 108);
    cr_assert_eq(out[8], 0x44);
    cr_assert_eq(out[107], 0x44);
}

Test(codec_ext, records_ending_the_output_leave_no_empty_iovec)
{
    uint8_t big[40];
    memset(big, 1, sizeof(big));
    uint8_t inl[16];
    kp_ext_t ext[2];
    kp_writer_t w;
    kp_writer_init(&w, inl, sizeof(inl));
    kp_writer_set_ext(&w, ext, 2, 1);
    kp_write_records(&w, true, (kp_bytes_t){big, 40});
    struct iovec iov[4];
    cr_assert_eq(kp_writer_iov(&w, iov, 4), 2);
    cr_assert_eq(iov[0].iov_len, 1);
    cr_assert_eq(iov[1].iov_len, 40);
}

/* ------------------------------------------------------------------ arena */

Test(codec_arena, allocations_are_zeroed_aligned_and_bounded)
{
    kp_arena_t a;
    kp_arena_init(&a, 64 * 1024);
    for (int i = 1; i < 200; i++) {
        uint8_t *p = kp_arena_alloc(&a, (size_t)i);
        cr_assert(p != NULL);
        cr_assert_eq((uintptr_t)p % 8, 0);
        for (int j = 0; j < i; j++)
            cr_assert_eq(p[j], 0);
        memset(p, 0xab, (size_t)i);
    }
    cr_assert(a.held_bytes <= 64 * 1024);
    cr_assert_null(kp_arena_alloc(&a, 64 * 1024 + 1), "larger than the whole arena");
    /* fill up until the limit refuses */
    size_t got = 0;
    while (kp_arena_alloc(&a, 1000))
        got += 1000;
    cr_assert(a.held_bytes <= 64 * 1024);
    cr_assert(got > 10 * 1000);
    kp_arena_destroy(&a);
}

Test(codec_arena, reset_keeps_the_first_chunk_and_frees_the_rest)
{
    kp_arena_t a;
    kp_arena_init(&a, 1 << 20);
    void *first = kp_arena_alloc(&a, 16);
    for (int i = 0; i < 100; i++)
        cr_assert(kp_arena_alloc(&a, 4000) != NULL);
    cr_assert(a.held_bytes > KP_ARENA_FIRST_CHUNK_BYTES);
    kp_arena_reset(&a);
    cr_assert_eq(a.held_bytes, KP_ARENA_FIRST_CHUNK_BYTES);
    cr_assert_eq(a.used_bytes, 0);
    uint8_t *again = kp_arena_alloc(&a, 16);
    cr_assert_eq(again, first, "the first chunk is reused");
    cr_assert_eq(again[0], 0);
    kp_arena_destroy(&a);
    kp_arena_init(&a, 100);
    cr_assert(kp_arena_alloc(&a, 96) != NULL);
    cr_assert_null(kp_arena_alloc(&a, 8));
    kp_arena_reset(&a);
    cr_assert(kp_arena_alloc(&a, 96) != NULL);
    kp_arena_destroy(&a);
}

Test(codec_arena, chunks_grow_geometrically)
{
    kp_arena_t a;
    kp_arena_init(&a, 64 << 20);
    /* 1 MiB in small pieces needs only a handful of chunks: 16K, 32K, ... */
    for (int i = 0; i < 1024; i++)
        cr_assert(kp_arena_alloc(&a, 1024) != NULL);
    cr_assert(a.held_bytes < 4u << 20, "held %zu", a.held_bytes);
    kp_arena_destroy(&a);
}

/* ---------------------------------------------------------------- helpers */

Test(codec_values, string_helpers)
{
    kp_str_t s = kp_str_from("topic");
    cr_assert_eq(s.len, 5);
    cr_assert(kp_str_eq(s, "topic"));
    cr_assert(!kp_str_eq(s, "topi"));
    cr_assert(!kp_str_eq(KP_STR_NULL, ""));
    cr_assert(kp_str_eq(kp_str_from(""), ""));
    cr_assert_eq(kp_str_from(NULL).len, -1);
    cr_assert(kp_str_equal(KP_STR_NULL, KP_STR_NULL));
    cr_assert(!kp_str_equal(KP_STR_NULL, kp_str_from("")));
    cr_assert(kp_str_equal((kp_str_t){"abcd", 3}, kp_str_from("abc")));
    cr_assert_eq(kp_str_nonnull(KP_STR_NULL).len, 0);
    kp_uuid_t z = {{0}};
    cr_assert(kp_uuid_is_zero(&z));
    z.b[15] = 1;
    cr_assert(!kp_uuid_is_zero(&z));
}
