/*
 * st_metalog.h — the broker's metadata log: topics, partitions and placement,
 * configs, ACLs, credentials are records appended here by shard 0 (the controller,
 * ARCHITECTURE.md §1) and replayed in order at start.
 *
 * Ownership and threading
 *   One metadata log per process, used only on shard 0's thread. Appends go through
 *   that shard's ring (passed to each append; always the same ring). The log copies
 *   each payload, so the caller's buffer is free when st_metalog_append returns.
 *   Appends allocate (one malloc per record): metadata changes are rare, not the
 *   data path.
 *
 * File layout (all integers big-endian)
 *
 *   File header, once:
 *   offset size field
 *   ------ ---- ------------------------------------------------------------------
 *        0    8 magic "SLUICEML"
 *        8    4 version = 1
 *       12    4 CRC-32C of bytes [0, 12)
 *
 *   Then records, back to back:
 *   offset size field
 *   ------ ---- ------------------------------------------------------------------
 *        0    4 CRC-32C of bytes [4, 10 + length): covers the length and the type too,
 *               so a damaged length cannot make garbage look like a record
 *        4    4 length of the payload (<= ST_METALOG_MAX_RECORD_BYTES)
 *        8    2 type (the caller's; opaque here)
 *       10    . payload
 *
 * Guarantees
 *   1. st_metalog_append's callback runs after the record and every record before
 *      it are on stable storage (written, then fdatasync'ed through the ring).
 *   2. Callbacks run in append order. Appends issued together share fdatasyncs
 *      (group commit: one sync in flight; the next covers everything written
 *      meanwhile).
 *   3. At open every valid record is replayed in order; the first record that is torn
 *      (file ends inside it) or corrupt (bad CRC, length over the limit) and
 *      everything after it are truncated away, with a LOG_WARN. Nothing acknowledged
 *      can be lost that way: an acknowledged record and all before it were synced.
 *   4. After a failed write or fdatasync the log refuses appends (returns the error)
 *      until reopened; pending appends get the error in order.
 */
#ifndef ST_METALOG_H
#define ST_METALOG_H

#include "sl_base.h"
#include "io_ring.h"

#define ST_METALOG_HEADER_BYTES 16
#define ST_METALOG_RECORD_OVERHEAD 10

typedef struct st_metalog st_metalog_t;

/* Called once per valid record at open, in order. payload is valid during the call
 * only. Return 0 to continue; anything else aborts the open with that value. */
typedef int (*st_metalog_replay_cb)(void *ctx, uint16_t type, const uint8_t *payload, uint32_t len);

/* Opens or creates the file at path and replays every valid record in order
 * (synchronously, start-up); a torn or corrupt tail is truncated (logged). A new file
 * gets its header durably (file and directory synced). Returns 0 with *out, -errno,
 * SL_ERR_CORRUPT (the file is not a metadata log: bad magic, version or header CRC;
 * it is left untouched), or the callback's non-zero return. */
int st_metalog_open(const char *path, st_metalog_replay_cb cb, void *ctx, st_metalog_t **out);

typedef void (*st_metalog_cb_t)(void *ctx, int err /* 0 or -errno */);

/* Copies the payload, writes the record and fdatasyncs through the ring; cb after
 * the sync (guarantees 1, 2). Returns 0, or with cb NOT called: -EBUSY (ring full,
 * or ST_METALOG_MAX_PENDING appends pending), SL_ERR_LIMIT (payload over
 * ST_METALOG_MAX_RECORD_BYTES), -ENOMEM, or the error that failed the log (4). */
int st_metalog_append(st_metalog_t *m, io_ring_t *ring, uint16_t type, const void *payload,
                      uint32_t len, st_metalog_cb_t cb, void *ctx);

/* Bytes in the file (header included). */
int64_t st_metalog_size(const st_metalog_t *m);

/* Waits for pending appends by driving their ring (their callbacks run; so never
 * from inside an io callback), then closes the file. */
void st_metalog_close(st_metalog_t *m);

#endif /* ST_METALOG_H */
