/*
 * pf_native_parse.h — what the native engine reads from the broker: response
 * headers, Produce and Fetch responses, and the records inside fetched
 * batches. Every read is bounds-checked (proto's kp_reader_t and the
 * generated decoders); nothing from the wire reaches an ASSERT, and a
 * length from the wire is never trusted beyond the bytes actually there.
 *
 * Return codes: 0; SL_ERR_PROTO for a malformed or truncated response;
 * SL_ERR_LIMIT when the decode arena (bounded) runs out. Kafka error codes
 * found inside a response are data (pf_nproduce_result_t, the fetch
 * response's fields), named by pf_nerror_name.
 *
 * Ownership: decoded responses live in the caller's arena and point into
 * the caller's frame buffer; both must outlive their use. Pure functions,
 * no allocation beyond the arena; thread-safe on distinct buffers.
 */
#ifndef PF_NATIVE_PARSE_H
#define PF_NATIVE_PARSE_H

#include "sl_base.h"
#include "kp_codec.h"
#include "kp_messages.h"

/* Kafka's name of an error code ("UNKNOWN_TOPIC_OR_PARTITION"), or
 * "UNKNOWN_ERROR_CODE" for codes this table does not know. */
const char *pf_nerror_name(int16_t code);

/* Reads the response header of a frame body (the bytes after the size) of
 * api_key at version; *r is left at the response body. */
int pf_nparse_header(const uint8_t *body, size_t len, int16_t api_key, int16_t version,
                     int32_t *correlation_id, kp_reader_t *r);

/* The outcome of one Produce response. */
typedef struct pf_nproduce_result {
    int32_t partitions; /* partition responses seen */
    int16_t error_code; /* the first non-zero error code, else 0 */
    int32_t error_partition;
    int32_t throttle_time_ms;
} pf_nproduce_result_t;

/* Decodes a Produce response body at version. */
int pf_nparse_produce(kp_reader_t *r, kp_arena_t *a, int16_t version, pf_nproduce_result_t *out);

/* Decodes a Fetch response body at version (generated decoder). */
int pf_nparse_fetch(kp_reader_t *r, kp_arena_t *a, int16_t version, kp_fetch_response_t *out);

/* The records of one partition's fetched bytes. */
typedef struct pf_nwalk {
    uint64_t records;    /* with offset >= min_offset, control batches left out */
    uint64_t bytes;      /* their key + value bytes (0 for compressed batches) */
    int64_t next_offset; /* after the last complete batch, else min_offset */
    uint32_t batches;    /* complete batches seen */
    bool truncated;      /* a partial batch ended the bytes (normal for Fetch) */
} pf_nwalk_t;

/* Called for every counted record of an uncompressed batch with its value
 * (value_len may be < 8 or -1 for a null value: the callee checks). */
typedef void (*pf_nwalk_value_fn)(void *ctx, const uint8_t *value, int32_t value_len);

/* Walks concatenated batches p[0..len) as a Fetch returns them: complete
 * batches are counted, a partial tail is tolerated (truncated = true). The
 * CRC is not checked (check_crc false) unless asked. Returns 0, or
 * SL_ERR_CORRUPT for invalid batch or record bytes (*out then covers the
 * batches before them). value_fn may be NULL. */
int pf_nrecords_walk(const uint8_t *p, size_t len, int64_t min_offset, bool check_crc,
                     pf_nwalk_value_fn value_fn, void *ctx, pf_nwalk_t *out);

#endif /* PF_NATIVE_PARSE_H */
