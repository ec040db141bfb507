/*
 * st_log.h — one partition's log in Kafka's on-disk layout (ARCHITECTURE.md §4,
 * KAFKA-PROTOCOL.md §4): append, fetch positioning, recovery.
 *
 * Ownership and threading
 *   A log is owned by exactly one shard and used only on that shard's thread,
 *   through the store (st_store.h) it was opened on. Its segments are the only
 *   objects other threads touch: a fetch slice (st_slice_t) pins a segment with an
 *   atomic refcount and may be released from any thread; the pinned file
 *   descriptor stays open until the last release.
 *
 * Directory <log.dir>/<topic>-<partition>/
 *   00000000000000000000.log        batches exactly as produced (baseOffset and
 *                                   partitionLeaderEpoch stamped), concatenated
 *   00000000000000000000.index      sparse offset index (below)
 *   00000000000000000000.timeindex  time index (below)
 *   <next base offset>.log/...      one triple per segment; name = %020lld of the
 *                                   segment's base offset (<= its first batch's offset)
 *   partition.metadata              "version: 0\ntopic_id: <22-char base64url uuid>"
 *                                   (no trailing newline, as Kafka writes it;
 *                                   written to .tmp, fsynced, renamed)
 *
 * .index — 8-byte entries, big-endian, preallocated to segment_index_bytes (rounded
 * down to a multiple of 8) and mmap'd while the segment is active; trimmed to the
 * entries written when the segment rolls or the log closes cleanly.
 *
 *   offset size field
 *   ------ ---- --------------------------------------------------------------
 *        0    4 relative offset: LAST offset of the batch - segment base offset
 *        4    4 file position of that batch's first byte
 *
 *   An entry is added before a batch when more than index_interval_bytes were
 *   appended since the previous entry (Kafka's LogSegment.append), so entries are
 *   strictly increasing in both fields and the first batch of a segment never has
 *   one. Lookup: the largest entry with relative offset <= target, else position 0,
 *   then a scan of batch headers. (Kafka's DumpLogSegments checks that an entry's
 *   offset is its batch's last offset; ours are.)
 *
 * .timeindex — 12-byte entries, big-endian, preallocated like .index:
 *
 *   offset size field
 *   ------ ---- --------------------------------------------------------------
 *        0    8 timestamp: the segment's max batch timestamp so far
 *        8    4 relative offset of the last offset of the batch holding it
 *
 *   Appended next to each .index entry when the max timestamp grew, and once more
 *   when the segment rolls or closes; non-decreasing in both fields.
 *
 * Offsets
 *   start offset  first segment's base offset (retention and DeleteRecords later)
 *   LEO           next offset to assign; advanced at append, before the write
 *   HWM           every offset below is written and readable: the end of the longest
 *                 prefix of appends whose writes completed. With a single replica the
 *                 high watermark is this; fetches never see past it.
 *   start <= HWM <= LEO. Offsets are contiguous within a log written by sluice.
 *
 * Appends (st_log_append)
 *   1. The batch's baseOffset/partitionLeaderEpoch are stamped, LEO advances, the
 *      index entry is added and a write at the segment's next position is submitted
 *      through the store's ring. Several writes of one log may be in flight and may
 *      complete in any order.
 *   2. HWM advances over the contiguous prefix of completed writes.
 *   3. Callbacks run strictly in offset order: an append's callback runs when its
 *      write completed (sync=false) or when a group-commit fdatasync issued after it
 *      completed has completed too (sync=true) — and, for either, after every earlier
 *      append's callback. So an acks=1 produce queued behind an acks=all produce of
 *      the same partition waits for that sync.
 *   4. Rolls: before an append when the active segment is not empty and either the
 *      batch would pass segment_bytes, the .index or .timeindex is full, or the
 *      batch's last offset is not expressible as an int32 relative offset. Creating
 *      the files is synchronous (open/ftruncate/mmap: a few syscalls, once per
 *      segment); the directory entry is made durable by the next group commit, which
 *      fsyncs the directory too. The old segment's index files are trimmed once all
 *      its writes completed.
 *
 * Failed writes (ENOSPC, EIO), the policy chosen
 *   The first failed write puts the log in the failed state: st_log_append returns
 *   that error (cb not called) until the log is repaired. Appends already accepted
 *   keep completing; in offset order, those before the failed one get their own
 *   result and it and all after it get the error. Once nothing is in flight the log
 *   is repaired (at st_store_end_turn): the segment holding the failed write is
 *   truncated back to the HWM's position, later segments are deleted, index entries
 *   past the cut are dropped, and LEO = HWM: nothing was acknowledged past the HWM,
 *   so no acknowledged data is lost and no offset is reused that a client saw. The
 *   log then accepts appends again (a retried produce gets the same offsets).
 *   A failed fdatasync is different (the kernel may have dropped dirty pages, so what
 *   the page cache says is not what the disk holds): the log stays failed until it
 *   is reopened, every waiting sync append gets the error, and the store reports
 *   st_store_needs_recovery() so the next start runs recovery.
 *
 * Recovery (st_log_open with recover=true; Kafka's LogLoader / LogSegment.recover)
 *   1. Leftover temporary files (*.tmp, *.deleted, *.cleaned, *.swap) and index files
 *      without a .log are deleted.
 *   2. Every segment is re-read sequentially (pread, ST_RECOVERY_READ_BYTES chunks),
 *      each batch's header checked (kp_batch.h rules), its CRC verified, its offsets
 *      checked (not below the previous batch's next offset, relative offset fits
 *      int32), and the .index/.timeindex rebuilt from scratch.
 *   3. At the first invalid byte the segment is truncated there and every later
 *      segment deleted; each is logged with LOG_WARN (file, position, bytes, reason).
 *   Limit of the format: baseOffset and partitionLeaderEpoch lie outside the CRC. A
 *   damaged baseOffset that moves backwards or out of the segment's range is caught
 *   (step 2); one that only jumps forward looks like a legal offset gap (compaction
 *   leaves those) and is kept, as Kafka keeps it.
 *   recover=false (a clean shutdown): segments are trusted; each index is opened and
 *   sanity-checked (size a multiple of the entry, entries increasing, positions inside
 *   the .log) and rebuilt from batch headers when missing or implausible; the last
 *   segment's batches after its last index entry are scanned to find LEO (a torn
 *   tail there is still truncated).
 *
 * Limits: segment_bytes <= ST_MAX_SEGMENT_BYTES (positions are int32). Each segment
 * holds one open fd (.log); its index files are mmap'd (two mappings per segment:
 * raise vm.max_map_count with very many partitions, as Kafka's docs advise).
 */
#ifndef ST_LOG_H
#define ST_LOG_H

#include "sl_base.h"
#include "st_store.h"

typedef struct st_log_config {
    int64_t segment_bytes;        /* segment.bytes, default 1 GiB (1073741824) */
    int32_t index_interval_bytes; /* index.interval.bytes, default 4096 */
    int32_t segment_index_bytes;  /* segment.index.bytes, default 10 MiB (10485760) */
} st_log_config_t;

void st_log_config_default(st_log_config_t *c);
/* Whether c is usable: KP_BATCH_HEADER_BYTES <= segment_bytes <= ST_MAX_SEGMENT_BYTES,
 * index_interval_bytes >= 0, segment_index_bytes >= 12 (one entry of each index).
 * Configuration parsing checks this; st_log_open asserts it. */
bool st_log_config_valid(const st_log_config_t *c);

typedef struct st_log st_log_t;
struct st_segment;

/* Opens (creating if missing) the partition directory dir_path =
 * "<log.dir>/<topic>-<partition>". A new directory gets partition.metadata with
 * topic_id; an existing one must carry the same id (else SL_ERR_CORRUPT, logged).
 * recover: see "Recovery" above. Runs synchronously (start-up / topic creation).
 * Returns 0 with *out, or -errno, SL_ERR_CORRUPT (unreadable partition.metadata or
 * another topic's directory); nothing is left open on failure. */
int st_log_open(st_store_t *s, const char *dir_path, const uint8_t topic_id[16],
                const st_log_config_t *cfg, bool recover, st_log_t **out);
/* Clean close: data fdatasynced, the active segment's index files get their final
 * time-index entry, are trimmed to their used size and synced, fds closed. If
 * appends are in flight the log finishes them first (their callbacks still run)
 * and is freed at a later st_store_end_turn. l must not be used after the call.
 * Blocking fdatasyncs: a close is a start-up/shutdown/admin event. */
void st_log_close(st_log_t *l);
/* Closes the log and removes its files and directory. Names are unlinked at once
 * (so a topic of the same name can be created right away and the directory
 * disappears); segments are marked deleted and a pinned segment's fd — and with it
 * the disk space — is released when its last slice is released. In-flight appends
 * complete as for st_log_close. Returns 0 or the first -errno of the removal (the
 * log is closed either way). */
int st_log_delete(st_log_t *l);

int64_t st_log_start_offset(const st_log_t *l);
int64_t st_log_end_offset(const st_log_t *l);     /* LEO: next offset to assign */
int64_t st_log_high_watermark(const st_log_t *l); /* every offset below is written and readable */
const char *st_log_dir(const st_log_t *l);
uint32_t st_log_segment_count(const st_log_t *l);
/* Base offset of segment i (0 = oldest). */
int64_t st_log_segment_base_offset(const st_log_t *l, uint32_t i);
/* Bytes in all segments, in-flight appends included. */
int64_t st_log_size_bytes(const st_log_t *l);

typedef void (*st_append_cb_t)(void *ctx, int err /* 0 or -errno */, int64_t base_offset);

/* Appends one complete, already validated (parsed + CRC-checked) v2 batch. Stamps
 * baseOffset = LEO and partitionLeaderEpoch (0 for now) into the caller's buffer,
 * advances LEO by lastOffsetDelta + 1 at once and submits the write through the
 * store's ring. The buffer must stay valid and unmodified until cb runs.
 * sync=false: cb after the write completed. sync=true: cb after an fdatasync that
 * covers the write (group commit at st_store_end_turn). Callbacks run in offset
 * order (see "Appends"). Rolls to a new segment first when needed.
 * Returns 0, or an error with cb NOT called and nothing changed:
 *   -EBUSY          ring pending table or append pool full (backpressure)
 *   SL_ERR_LIMIT    the batch is larger than segment_bytes
 *   SL_ERR_CORRUPT  the bytes do not parse as one batch of exactly len bytes
 *   -errno          the failed roll (e.g. -ENOSPC, -EMFILE), or the error of a failed
 *                   write/sync while the log is failed (see "Failed writes")
 * A callback may append to, close or delete the log. */
int st_log_append(st_log_t *l, uint8_t *batch, uint32_t len, bool sync, st_append_cb_t cb,
                  void *ctx);

/* A byte range of one segment file, pinned so it stays readable (its fd open)
 * until released. */
typedef struct st_slice {
    int fd;
    int64_t file_pos;
    uint32_t len;
    struct st_segment *seg; /* pin; NULL when len == 0 */
} st_slice_t;

/* Resolves a fetch at `offset`: the slice starts at the first byte of the batch
 * containing `offset` and ends at min(start + max_bytes, file position of the HWM),
 * except that a first batch larger than max_bytes is covered whole (KIP-74: a
 * consumer always makes progress). Like Kafka, the end may cut a batch in the middle
 * (clients drop a partial trailing batch). A fetch never crosses a segment boundary.
 * offset == HWM gives len 0 (fd -1, seg NULL).
 * Positioning: the recent-batch cache of the active segment (tail fetches: no I/O),
 * else a binary search of the .index and a short scan of batch headers read with
 * pread(2) — synchronous, normally from the page cache; a cold read blocks the shard.
 * Returns 0, SL_ERR_RANGE (offset < start offset or > HWM), SL_ERR_CORRUPT (batch
 * headers on disk fail their checks; logged) or -errno of a failed pread. */
int st_log_read(st_log_t *l, int64_t offset, uint32_t max_bytes, st_slice_t *out);
/* Drops the pin. Any thread; idempotent (the slice is reset to len 0). */
void st_slice_release(st_slice_t *s);

/* ListOffsets by timestamp: the first offset below the HWM whose record timestamp is
 * >= ts, with that record's timestamp; *offset_out = -1 if there is none. Uses the
 * .timeindex, then scans batch headers; inside the first batch whose max timestamp is
 * >= ts the records are read (pread) to find the exact one when the batch is
 * uncompressed — for compressed batches (no decompression yet) the batch's base
 * offset and max timestamp are returned. Returns 0, SL_ERR_CORRUPT or -errno. */
int st_log_offset_for_timestamp(st_log_t *l, int64_t ts, int64_t *offset_out,
                                int64_t *timestamp_out);

#endif /* ST_LOG_H */
