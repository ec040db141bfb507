/* test_proto_codec_header.c — request/response headers (proto/kp_header.h):
 * versions chosen from the API table, decode of header v0/v1/v2, encode and
 * size, and the KIP-511 peek of a request the broker cannot decode. */
#include "sl_base.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "kp_header.h"
#include "kp_messages.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

Test(header_version, request_header_follows_flexible_versions)
{
    cr_assert_eq(kp_request_header_version(KP_API_API_VERSIONS, 2), 1);
    cr_assert_eq(kp_request_header_version(KP_API_API_VERSIONS, 3), 2);
    cr_assert_eq(kp_request_header_version(KP_API_FETCH, 11), 1);
    cr_assert_eq(kp_request_header_version(KP_API_FETCH, 12), 2);
    cr_assert_eq(kp_request_header_version(KP_API_METADATA, 9), 2);
    cr_assert_eq(kp_request_header_version(KP_API_PRODUCE, 8), 1);
    cr_assert_eq(kp_request_header_version(KP_API_CREATE_TOPICS, 5), 2);
    cr_assert_eq(kp_request_header_version(KP_API_DELETE_TOPICS, 3), 1);
    cr_assert_eq(kp_request_header_version(999, 0), 1, "unknown api key");
    cr_assert_eq(kp_request_header_version(-5, 7), 1);
    /* beyond the described range a flexible API stays flexible */
    cr_assert_eq(kp_request_header_version(KP_API_API_VERSIONS, 127), 2);
}

Test(header_version, response_header_v1_when_flexible_except_api_versions)
{
    cr_assert_eq(kp_response_header_version(KP_API_API_VERSIONS, 0), 0);
    cr_assert_eq(kp_response_header_version(KP_API_API_VERSIONS, 3), 0);
    cr_assert_eq(kp_response_header_version(KP_API_API_VERSIONS, 4), 0);
    cr_assert_eq(kp_response_header_version(KP_API_FETCH, 11), 0);
    cr_assert_eq(kp_response_header_version(KP_API_FETCH, 12), 1);
    cr_assert_eq(kp_response_header_version(KP_API_LIST_OFFSETS, 6), 1);
    cr_assert_eq(kp_response_header_version(KP_API_LIST_OFFSETS, 5), 0);
    cr_assert_eq(kp_response_header_version(999, 3), 0);
    cr_assert_eq(kp_response_header_size(0), 4);
    cr_assert_eq(kp_response_header_size(1), 5);
}

static kp_reader_t reader_of(uint8_t **copy, const uint8_t *bytes, size_t len)
{
    *copy = malloc(len ? len : 1);
    memcpy(*copy, bytes, len);
    kp_reader_t r;
    kp_reader_init(&r, *copy, len);
    return r;
}

Test(header_decode, v0_has_no_client_id)
{
    uint8_t *copy;
    kp_reader_t r = reader_of(&copy, BYTES(0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xaa));
    kp_request_header_t h;
    cr_assert_eq(kp_request_header_decode(&r, 0, &h), 0);
    cr_assert_eq(h.api_key, 7);
    cr_assert_eq(h.api_version, 0);
    cr_assert_eq(h.correlation_id, 256);
    cr_assert_eq(h.client_id.len, -1);
    cr_assert_eq(kp_reader_remaining(&r), 1);
    free(copy);
}

Test(header_decode, v1_reads_a_nullable_classic_client_id)
{
    uint8_t *copy;
    kp_reader_t r = reader_of(&copy, BYTES(0x00, 0x03, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff, 0x00,
                                           0x03, 'c', 'l', 'i', 0xbb));
    kp_request_header_t h;
    cr_assert_eq(kp_request_header_decode(&r, 1, &h), 0);
    cr_assert_eq(h.api_key, KP_API_METADATA);
    cr_assert_eq(h.api_version, 1);
    cr_assert_eq(h.correlation_id, INT32_MAX);
    cr_assert(kp_str_eq(h.client_id, "cli"));
    cr_assert_eq(kp_reader_remaining(&r), 1);
    free(copy);

    r = reader_of(&copy, BYTES(0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0xff, 0xff));
    cr_assert_eq(kp_request_header_decode(&r, 1, &h), 0);
    cr_assert_eq(h.client_id.len, -1);
    free(copy);
}

Test(header_decode, v2_skips_tagged_fields_and_keeps_the_client_id_classic)
{
    uint8_t *copy;
    /* client id "ab" as int16 length even in v2; then 2 tagged fields */
    kp_reader_t r =
        reader_of(&copy, BYTES(0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x02, 'a', 'b',
                               0x02, 0x00, 0x02, 0x11, 0x22, 0x05, 0x00, 0xcc));
    kp_request_header_t h;
    cr_assert_eq(kp_request_header_decode(&r, 2, &h), 0);
    cr_assert_eq(h.api_key, KP_API_API_VERSIONS);
    cr_assert_eq(h.correlation_id, 5);
    cr_assert(kp_str_eq(h.client_id, "ab"));
    cr_assert_eq(kp_reader_remaining(&r), 1);
    cr_assert_eq(*r.p, 0xcc);
    free(copy);
}

Test(header_decode, every_truncation_is_a_protocol_error)
{
    static const uint8_t full[] = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05,
                                   0x00, 0x02, 'a',  'b',  0x01, 0x00, 0x01, 0x11};
    for (int hv = 0; hv <= 2; hv++) {
        size_t need = hv == 0 ? 8 : hv == 1 ? 12 : sizeof(full);
        for (size_t len = 0; len < need; len++) {
            uint8_t *copy;
            kp_reader_t r = reader_of(&copy, full, len);
            kp_request_header_t h;
            cr_assert_eq(kp_request_header_decode(&r, hv, &h), SL_ERR_PROTO, "v%d len %zu", hv,
                         len);
            free(copy);
        }
    }
    uint8_t *copy;
    kp_reader_t r =
        reader_of(&copy, BYTES(0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00));
    kp_request_header_t h;
    cr_assert_eq(kp_request_header_decode(&r, 1, &h), SL_ERR_PROTO, "client id length -2");
    free(copy);
}

Test(header_encode, request_header_round_trips_in_every_version)
{
    kp_request_header_t h = {KP_API_FETCH, 12, -77, kp_str_from("sluice-cli")};
    for (int hv = 0; hv <= 2; hv++) {
        uint8_t buf[64];
        kp_writer_t w;
        kp_writer_init(&w, buf, sizeof(buf));
        cr_assert_eq(kp_request_header_encode(&w, &h, hv), 0);
        cr_assert_eq(w.len, kp_request_header_size(&h, hv));
        kp_reader_t r;
        kp_reader_init(&r, buf, w.len);
        kp_request_header_t back;
        cr_assert_eq(kp_request_header_decode(&r, hv, &back), 0);
        cr_assert_eq(kp_reader_remaining(&r), 0);
        cr_assert_eq(back.api_key, h.api_key);
        cr_assert_eq(back.api_version, h.api_version);
        cr_assert_eq(back.correlation_id, h.correlation_id);
        if (hv > 0)
            cr_assert(kp_str_equal(back.client_id, h.client_id));
        kp_writer_init(&w, buf, kp_request_header_size(&h, hv) - 1);
        cr_assert_eq(kp_request_header_encode(&w, &h, hv), SL_ERR_NOSPACE);
    }
}

Test(header_encode, response_headers_v0_and_v1_golden)
{
    uint8_t buf[8];
    kp_writer_t w;
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_response_header_encode(&w, 0, 42), 0);
    cr_assert_eq(w.len, 4);
    cr_assert_eq(memcmp(buf, (const uint8_t[]){0x00, 0x00, 0x00, 0x2a}, 4), 0);
    kp_writer_init(&w, buf, sizeof(buf));
    cr_assert_eq(kp_response_header_encode(&w, 1, 42), 0);
    cr_assert_eq(w.len, 5);
    cr_assert_eq(memcmp(buf, (const uint8_t[]){0x00, 0x00, 0x00, 0x2a, 0x00}, 5), 0);
    kp_writer_init(&w, buf, 4);
    cr_assert_eq(kp_response_header_encode(&w, 1, 42), SL_ERR_NOSPACE);

    uint8_t *copy;
    int32_t corr;
    kp_reader_t r = reader_of(&copy, BYTES(0xff, 0xff, 0xff, 0xfe, 0x01, 0x03, 0x01, 0x09, 0x77));
    cr_assert_eq(kp_response_header_decode(&r, 1, &corr), 0);
    cr_assert_eq(corr, -2);
    cr_assert_eq(kp_reader_remaining(&r), 1);
    free(copy);
    r = reader_of(&copy, BYTES(0x00, 0x00, 0x01));
    cr_assert_eq(kp_response_header_decode(&r, 0, &corr), SL_ERR_PROTO);
    free(copy);
}

/* KIP-511: a client sends ApiVersions at a version we do not know. The broker
 * cannot decode the body, but the peek still yields the api key, the version
 * and the correlation id, and the answer is a v0 response with error 35 and
 * our ApiVersions range. */
Test(header_peek, api_versions_at_unknown_version_127)
{
    static const uint8_t frame[] = {
        0x00, 0x12, 0x00, 0x7f, 0x00, 0x00, 0x00, 0x09, /* key 18, v127, corr 9 */
        0x00, 0x04, 't',  'e',  's',  't',              /* client id */
        0x00,                                           /* tagged fields */
        0xde, 0xad, 0xbe, 0xef,                         /* a body from the future */
    };
    int16_t key, version;
    int32_t corr;
    cr_assert_eq(kp_request_peek(frame, sizeof(frame), &key, &version, &corr), 0);
    cr_assert_eq(key, KP_API_API_VERSIONS);
    cr_assert_eq(version, 127);
    cr_assert_eq(corr, 9);
    cr_assert_eq(kp_request_peek(frame, 8, NULL, NULL, &corr), 0);
    cr_assert_eq(kp_request_peek(frame, 7, &key, &version, &corr), SL_ERR_PROTO);

    /* the header itself is still readable (header v2 for a flexible API) */
    kp_reader_t r;
    kp_reader_init(&r, frame, sizeof(frame));
    kp_request_header_t h;
    cr_assert_eq(kp_request_header_decode(&r, kp_request_header_version(key, version), &h), 0);
    cr_assert(kp_str_eq(h.client_id, "test"));
    /* the body is not: 127 is outside the described versions */
    kp_arena_t a;
    kp_arena_init(&a, 4096);
    kp_api_versions_request_t req;
    cr_assert_eq(kp_api_versions_request_decode(&r, &a, version, &req), SL_ERR_PROTO);
    kp_arena_destroy(&a);

    /* the answer: response header v0 + ApiVersions v0 body, error 35 */
    const kp_api_desc_t *d = kp_api_desc_find(KP_API_API_VERSIONS);
    kp_api_versions_response_api_version_t entry = {KP_API_API_VERSIONS, d->min_version,
                                                    d->max_version};
    kp_api_versions_response_t resp;
    kp_api_versions_response_init(&resp);
    resp.error_code = 35;
    resp.api_keys = &entry;
    resp.api_keys_count = 1;
    uint8_t buf[64];
    kp_writer_t w;
    kp_writer_init(&w, buf, sizeof(buf));
    int hv = kp_response_header_version(KP_API_API_VERSIONS, 0);
    cr_assert_eq(kp_response_header_encode(&w, hv, corr), 0);
    cr_assert_eq(kp_api_versions_response_encode(&w, &resp, 0), 0);
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x09, 0x00, 0x23, 0x00, 0x00,
                                   0x00, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04};
    cr_assert_eq(w.len, sizeof(want));
    cr_assert_eq(memcmp(buf, want, sizeof(want)), 0);
}
