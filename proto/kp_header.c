/* kp_header.c — request/response headers and the request peek (kp_header.h). */
#include "sl_base.h"

#include "kp_header.h"
#include "kp_messages.h"

static bool api_version_is_flexible(int16_t api_key, int16_t api_version)
{
    const kp_api_desc_t *d = kp_api_desc_find(api_key);
    return d && d->flexible_min >= 0 && api_version >= d->flexible_min;
}

int kp_request_header_version(int16_t api_key, int16_t api_version)
{
    return api_version_is_flexible(api_key, api_version) ? 2 : 1;
}

int kp_response_header_version(int16_t api_key, int16_t api_version)
{
    if (api_key == KP_API_API_VERSIONS)
        return 0;
    return api_version_is_flexible(api_key, api_version) ? 1 : 0;
}

int kp_request_header_decode(kp_reader_t *r, int header_version, kp_request_header_t *out)
{
    ASSERT(r != NULL && out != NULL);
    ASSERT(header_version >= 0 && header_version <= 2);
    int rc;
    out->client_id = KP_STR_NULL;
    KP_TRY(kp_read_int16(r, &out->api_key));
    KP_TRY(kp_read_int16(r, &out->api_version));
    KP_TRY(kp_read_int32(r, &out->correlation_id));
    if (header_version >= 1) {
        KP_TRY(kp_read_string(r, &out->client_id));
        if (out->client_id.len > KP_MAX_CLIENT_ID_BYTES) {
            rc = SL_ERR_LIMIT;
            goto err_parse;
        }
    }
    if (header_version >= 2)
        KP_TRY(kp_read_tagged_skip(r));
    return 0;
err_parse:
    return rc;
}

size_t kp_request_header_size(const kp_request_header_t *h, int header_version)
{
    ASSERT(h != NULL);
    ASSERT(header_version >= 0 && header_version <= 2);
    size_t n = KP_REQUEST_HEADER_PREFIX_BYTES;
    if (header_version >= 1)
        n += kp_str_size(h->client_id, false);
    if (header_version >= 2)
        n += 1; /* empty tagged-field section */
    return n;
}

int kp_request_header_encode(kp_writer_t *w, const kp_request_header_t *h, int header_version)
{
    ASSERT(w != NULL && h != NULL);
    ASSERT(header_version >= 0 && header_version <= 2);
    kp_write_int16(w, h->api_key);
    kp_write_int16(w, h->api_version);
    kp_write_int32(w, h->correlation_id);
    if (header_version >= 1)
        kp_write_string(w, h->client_id);
    if (header_version >= 2)
        kp_write_uvarint(w, 0);
    return kp_writer_overflowed(w) ? SL_ERR_NOSPACE : 0;
}

size_t kp_response_header_size(int header_version)
{
    ASSERT(header_version == 0 || header_version == 1);
    return header_version == 0 ? 4 : 5;
}

int kp_response_header_encode(kp_writer_t *w, int header_version, int32_t correlation_id)
{
    ASSERT(w != NULL);
    ASSERT(header_version == 0 || header_version == 1);
    kp_write_int32(w, correlation_id);
    if (header_version == 1)
        kp_write_uvarint(w, 0);
    return kp_writer_overflowed(w) ? SL_ERR_NOSPACE : 0;
}

int kp_response_header_decode(kp_reader_t *r, int header_version, int32_t *correlation_id)
{
    ASSERT(r != NULL && correlation_id != NULL);
    ASSERT(header_version == 0 || header_version == 1);
    int rc;
    KP_TRY(kp_read_int32(r, correlation_id));
    if (header_version == 1)
        KP_TRY(kp_read_tagged_skip(r));
    return 0;
err_parse:
    return rc;
}

int kp_request_peek(const void *body, size_t len, int16_t *api_key, int16_t *api_version,
                    int32_t *correlation_id)
{
    ASSERT(body != NULL || len == 0);
    if (len < KP_REQUEST_HEADER_PREFIX_BYTES)
        return SL_ERR_PROTO;
    const uint8_t *p = body;
    if (api_key)
        *api_key = (int16_t)((uint16_t)p[0] << 8 | p[1]);
    if (api_version)
        *api_version = (int16_t)((uint16_t)p[2] << 8 | p[3]);
    if (correlation_id)
        *correlation_id =
            (int32_t)((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7]);
    return 0;
}
