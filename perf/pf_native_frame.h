/*
 * pf_native_frame.h — request frames of the native engine, encoded with
 * proto's generated codecs (kp_messages.h) into caller buffers.
 *
 * Frame layout (KAFKA-PROTOCOL.md §1): int32 size (bytes after it), request
 * header v1 or v2 (kp_header.h; client id "sluice-perf"), body.
 *
 *   offset  size  field              patched per send
 *   ------  ----  -----------------  -----------------------------------
 *   0       4     size               no
 *   4       2     api key            no
 *   6       2     api version        no
 *   8       4     correlation id     yes: pf_nframe_set_correlation
 *
 * A Produce frame is built once per in-flight slot with one topic, one
 * partition and one batch in place (pf_nframe_produce_t): per send only the
 * correlation id, the partition index (partition_off) and the batch's
 * stamped fields (pf_native_batch.h) change; their sizes never do. The batch
 * is the last field of the partition, so partition_off = batch_off - length
 * prefix - 4, which pf_nframe_produce_build checks. In the non-flexible
 * versions (3..8) nothing follows the batch (no tagged fields) and its
 * length prefix is an int32, so a send of fewer records than the template
 * holds is the same frame cut short (pf_nframe_produce_cut): the native
 * engine uses Produce v8 at most for that reason.
 *
 * Return codes: a frame length > 0, or SL_ERR_NOSPACE when cap is too small
 * (the buffer then holds garbage). Encoding at a version outside the
 * generated codec's range is a bug (ASSERT). No allocation; thread-safe.
 */
#ifndef PF_NATIVE_FRAME_H
#define PF_NATIVE_FRAME_H

#include "sl_base.h"
#include "pf_native_batch.h"
#include "kp_messages.h"

#define PF_NFRAME_CLIENT_ID "sluice-perf"
#define PF_NFRAME_CORRELATION_OFF 8
#define PF_NFRAME_OVERHEAD_BYTES 1024 /* a Produce frame = batch + at most this */

static inline void pf_nframe_set_correlation(uint8_t *frame, int32_t correlation_id)
{
    uint32_t v = (uint32_t)correlation_id;
    frame[8] = (uint8_t)(v >> 24);
    frame[9] = (uint8_t)(v >> 16);
    frame[10] = (uint8_t)(v >> 8);
    frame[11] = (uint8_t)v;
}

static inline void pf_nframe_set_i32(uint8_t *p, int32_t value)
{
    uint32_t v = (uint32_t)value;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Encodes any request whose body encoder is kp_api_schema_find(api_key)->
 * request.encode: a frame length or SL_ERR_NOSPACE. */
int pf_nframe_encode(uint8_t *buf, size_t cap, int16_t api_key, int16_t version,
                     int32_t correlation_id, const void *request);

typedef struct pf_nframe_produce {
    uint32_t frame_len;
    uint32_t partition_off; /* int32 partition index */
    uint32_t batch_off;     /* first byte of the record batch */
    uint32_t batch_len;
    bool cuttable; /* the batch ends the frame behind an int32 length (v3..8) */
} pf_nframe_produce_t;

/* Cuts a cuttable frame's batch to batch_bytes (<= batch_len, asserted):
 * rewrites the frame size and the records length. Returns the frame length. */
static inline uint32_t pf_nframe_produce_cut(uint8_t *frame, const pf_nframe_produce_t *fp,
                                             uint32_t batch_bytes)
{
    ASSERT(fp->cuttable && batch_bytes <= fp->batch_len);
    uint32_t len = fp->batch_off + batch_bytes;
    pf_nframe_set_i32(frame, (int32_t)(len - 4));
    pf_nframe_set_i32(frame + fp->batch_off - 4, (int32_t)batch_bytes);
    return len;
}

/* Builds a Produce frame for topic/partition around a batch of batch_len
 * bytes, leaving the batch bytes unwritten (the caller builds the batch at
 * buf + out->batch_off). Returns the frame length or SL_ERR_NOSPACE. */
int pf_nframe_produce_build(uint8_t *buf, size_t cap, int16_t version, int16_t acks,
                            int32_t timeout_ms, const char *topic, int32_t partition,
                            uint32_t batch_len, pf_nframe_produce_t *out);

/* Fetch of one topic: partitions[i] from offsets[i]. scratch holds count
 * elements (the caller's, so nothing is allocated). Returns the frame
 * length or SL_ERR_NOSPACE. */
int pf_nframe_fetch(uint8_t *buf, size_t cap, int16_t version, int32_t correlation_id,
                    const char *topic, const int32_t *partitions, const int64_t *offsets,
                    int32_t count, int32_t max_wait_ms, int32_t max_bytes,
                    int32_t partition_max_bytes, kp_fetch_request_fetch_partition_t *scratch);

#endif /* PF_NATIVE_FRAME_H */
