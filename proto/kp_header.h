/*
 * kp_header.h — Kafka request and response headers, and the peek a broker
 * needs before it can decode anything else.
 *
 * Every request frame body (after the 4-byte size) starts with a request header:
 *
 *   offset size  field            header versions
 *   ------ ----  ---------------  ------------------------------------------
 *   0      2     api_key          0, 1, 2
 *   2      2     api_version      0, 1, 2
 *   4      4     correlation_id   0, 1, 2
 *   8      2+N   client_id        1, 2: classic nullable string (int16 length,
 *                                 never compact, even in v2)
 *   ..     1+    tagged fields    2: uvarint count + fields (skipped)
 *
 * and every response body starts with a response header:
 *
 *   0      4     correlation_id   0, 1
 *   4      1+    tagged fields    1 (we write an empty section: one 0x00 byte)
 *
 * Which version: a request uses header v2 when its API version is flexible
 * (kp_api_descs in kp_messages.h), else v1; a response uses v1 when flexible,
 * else v0 — except ApiVersions responses, always v0 so that a client can read
 * the error of a version it guessed wrong (KIP-511, KAFKA-PROTOCOL.md §1).
 *
 * Ownership: a decoded client_id points into the reader's buffer (zero-copy).
 * Decoders return 0, SL_ERR_PROTO (truncated or malformed) or SL_ERR_LIMIT;
 * encoders return 0 or SL_ERR_NOSPACE (the writer overflowed). Header versions
 * passed in are our own choice (from the *_header_version functions): an
 * out-of-range one is a bug and ASSERTs.
 */
#ifndef KP_HEADER_H
#define KP_HEADER_H

#include "kp_codec.h"

typedef struct {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    kp_str_t client_id; /* null in header v0, or when the client sent null */
} kp_request_header_t;

/* The fixed prefix shared by all request header versions. */
#define KP_REQUEST_HEADER_PREFIX_BYTES 8

/* 2 if api_version of api_key is flexible, else 1 (also for an unknown key). */
int kp_request_header_version(int16_t api_key, int16_t api_version);
/* Decodes a request header of version 0, 1 or 2; r is left at the body. */
int kp_request_header_decode(kp_reader_t *r, int header_version, kp_request_header_t *out);
/* Exact encoded size of h in header_version. */
size_t kp_request_header_size(const kp_request_header_t *h, int header_version);
/* Encodes h in header_version (clients, tests). */
int kp_request_header_encode(kp_writer_t *w, const kp_request_header_t *h, int header_version);

/* 1 if api_version of api_key is flexible, else 0; ApiVersions always 0. */
int kp_response_header_version(int16_t api_key, int16_t api_version);
size_t kp_response_header_size(int header_version);
int kp_response_header_encode(kp_writer_t *w, int header_version, int32_t correlation_id);
/* Decodes a response header (clients); tagged fields are skipped. */
int kp_response_header_decode(kp_reader_t *r, int header_version, int32_t *correlation_id);

/* Reads api key, version and correlation id from the first 8 bytes of a request
 * frame body without decoding anything else, so that the broker can answer a
 * request it cannot decode (an unknown version, a malformed body). Any of the
 * out pointers may be NULL. Returns 0, or SL_ERR_PROTO if len < 8. */
int kp_request_peek(const void *body, size_t len, int16_t *api_key, int16_t *api_version,
                    int32_t *correlation_id);

#endif /* KP_HEADER_H */
