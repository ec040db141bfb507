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
 *   <offset>.snapshot               producer state (st_producer.h "Snapshots"), the
 *                                   newest two
 *   partition.metadata              "version: 0\ntopic_id: <22-char base64url uuid>"
 *                                   (no trailing newline, as Kafka writes it;
 *                                   written to .tmp, fsynced, renamed)
 *
 *   log-start-offset-checkpoint     written by st_log_delete_records (below)
 *   leader-epoch-checkpoint         "0\n1\n0 <offset>\n" (below, "Leader epoch")
 *
 * Creation
 *   A directory st_log_open makes gets partition.metadata (.tmp, fsync, rename),
 *   its first segment's files and the leader-epoch-checkpoint without directory
 *   fsyncs, then one fsync of the directory and one of its parent: three fsyncs
 *   per new partition (six when each file synced its directory; creation runs
 *   on the shard's thread). A crash before the last one leaves a directory the
 *   next open completes (missing or empty files are written again); an open
 *   after an unclean stop fsyncs the directory and its parent as well, since a
 *   process killed inside a creation leaves entries the kernel never synced.
 *   When those fsyncs fail, the directory made by this open is removed again.
 *
 * Log start offset
 *   Kafka keeps one log-start-offset-checkpoint per log dir for all its partitions.
 *   Here the logs of one dir belong to several shards, and a shared file would need
 *   a cross-shard lock or a single writer thread; instead each partition directory
 *   holds its own file of the same name and text format, with exactly one entry:
 *       "0\n1\n<topic> <partition> <offset>\n"
 *   (topic and partition taken from the directory name). It is written only when
 *   DeleteRecords raises the start offset past the first segment's base (retention
 *   needs no file: the remaining segment names say it), to a .tmp file, fsynced,
 *   renamed, and the directory fsynced, before the call returns. At open the start
 *   offset is max(first segment's base, min(file's offset, LEO)); a file that does
 *   not parse is logged and ignored (the segment base is used). Kafka's tools that
 *   read the per-dir file will not see ours.
 *
 * Leader epoch
 *   A single node has one leader epoch, 0 (batches are stamped partitionLeaderEpoch
 *   0). Kafka's leader-epoch-checkpoint (LeaderEpochCheckpointFile: version 0, entry
 *   count, then "<epoch> <start offset>" lines) holds one entry: epoch 0 starting at
 *   the log start offset when the file was written (0 for a new log). Written (.tmp,
 *   fsync, rename, directory fsync) at open when missing — for a log being created
 *   without the fsyncs, as it is derived and rewritten at the next open when lost;
 *   rewritten when the start
 *   offset moves past the entry's offset (DeleteRecords, retention, trimming), as
 *   Kafka's LeaderEpochFileCache.truncateFromStart moves the first entry's start.
 *   At open the file is read and validated: anything but exactly that layout, an
 *   epoch other than 0, or a start past the log start offset is logged (LOG_WARN)
 *   and the file rewritten from the log start offset. A failed write is logged and
 *   retried at the next start offset move or open; it never fails the caller (the
 *   log start offset has its own checkpoint; this file serves Kafka's tools).
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
 *   start offset  first offset a fetch may ask for: the first segment's base offset,
 *                 raised by retention (segment deletion) and by DeleteRecords (which
 *                 may leave it inside the first segment). Never lowered.
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
 *      batch would pass segment_bytes, the .index or .timeindex is full, the
 *      segment is too old (below), or the batch's last offset is not expressible as
 *      an int32 relative offset.
 *      Roll by time (Kafka's segment.ms / segment.jitter.ms): a segment remembers
 *      the store clock (st_store_now_ms, wall clock) at its first append, and rolls
 *      at the next append once now - that time > segment_ms - jitter, where jitter
 *      is drawn once per segment in [0, min(segment_jitter_ms, segment_ms)) so that
 *      partitions created together do not all roll in the same turn. An empty
 *      segment never rolls by time. The active segment of a reopened log counts
 *      from the open (its first append time is not on disk; Kafka would take the
 *      first batch's timestamp, which a producer controls). Creating
 *      the files is synchronous (open/ftruncate/mmap: a few syscalls, once per
 *      segment); the directory entry is made durable by the next group commit, which
 *      fsyncs the directory too. The old segment's index files are trimmed once all
 *      its writes completed.
 *
 * Flush policy (Kafka's flush.messages / flush.ms; both off by default, as in Kafka)
 *   Besides the group commit that acks=all appends ask for, the log issues one on
 *   its own (same machinery, same stats: sync_rounds/fdatasyncs; policy_flushes
 *   counts the requests):
 *   flush_messages  when an append leaves LEO - max(durable end, last policy flush
 *                   point) >= flush_messages, a flush of everything up to that LEO
 *                   is requested; it is issued at the st_store_end_turn after those
 *                   writes completed. Counted in offsets (= records: offsets are
 *                   contiguous).
 *   flush_ms        st_store_tick requests a flush of everything committed when
 *                   data is unflushed and flush_ms passed since the log's last
 *                   completed flush (or its open). Checked every
 *                   min(smallest flush_ms of the store's logs, 1000) ms, so a flush
 *                   is late by at most that.
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
 *   Recovery point (Kafka's recovery-point-offset-checkpoint, per partition here
 *   for the reason given under "Log start offset"): <dir>/recovery-point-offset-
 *   checkpoint, same text format, holds an offset below which every byte was
 *   covered by a completed group-commit fdatasync (data and directory entries).
 *   st_store_tick writes it every recovery_checkpoint_interval_ms for logs whose
 *   durable end moved. An unclean open re-reads (steps 2-3) only the segments that
 *   hold offsets at or past it (always the last one); those wholly below are loaded
 *   as after a clean shutdown (trusted, index files sanity-checked and rebuilt when
 *   implausible). A missing or unreadable file means 0: everything is re-read.
 *   Each re-read segment is fdatasynced before the open returns (its bytes may have
 *   been in the page cache only), so the point may then move to LEO.
 *   Index files of sealed segments are not fsynced by the group commit, so the
 *   checkpoint write first fdatasyncs the trimmed index files of every sealed
 *   segment that has unsynced ones (once per rolled segment).
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

/* Idempotent-producer errors of st_log_append (st_producer.h "Rules"); below -5100
 * so they never collide with SL_ERR_* (sl_base.h). The broker answers them with the
 * Kafka error code named. */
#define ST_ERR_INVALID_PRODUCER_EPOCH (-5101) /* INVALID_PRODUCER_EPOCH (47) */
#define ST_ERR_OUT_OF_ORDER_SEQUENCE (-5102)  /* OUT_OF_ORDER_SEQUENCE_NUMBER (45) */
/* UNKNOWN_PRODUCER_ID (59): defined for the broker's mapping; storage does not return
 * it (Kafka 4 accepts an unknown producer at any sequence, st_producer.h rule 5). */
#define ST_ERR_UNKNOWN_PRODUCER_ID (-5103)

typedef struct st_log_config {
    int64_t segment_bytes;        /* segment.bytes, default 1 GiB (1073741824) */
    int32_t index_interval_bytes; /* index.interval.bytes, default 4096 */
    int32_t segment_index_bytes;  /* segment.index.bytes, default 10 MiB (10485760) */
    int64_t segment_ms;           /* segment.ms, default 7 days (604800000) */
    int64_t segment_jitter_ms;    /* segment.jitter.ms, default 0 */
    int64_t retention_ms;         /* retention.ms, default 7 days; -1 = unlimited */
    int64_t retention_bytes;      /* retention.bytes, default -1 = unlimited */
    int64_t flush_messages;       /* flush.messages, default INT64_MAX (Long.MAX_VALUE): off */
    int64_t flush_ms;             /* flush.ms, default INT64_MAX: off */
    /* producer.id.expiration.ms, default 86400000 (1 day) */
    int64_t producer_id_expiration_ms;
} st_log_config_t;

void st_log_config_default(st_log_config_t *c);
/* Whether c is usable: KP_BATCH_HEADER_BYTES <= segment_bytes <= ST_MAX_SEGMENT_BYTES,
 * index_interval_bytes >= 0, segment_index_bytes >= 12 (one entry of each index),
 * segment_ms >= 1, segment_jitter_ms >= 0, retention_ms >= -1, retention_bytes >= -1,
 * flush_messages >= 1, flush_ms >= 0, producer_id_expiration_ms >= 1.
 * Configuration parsing checks this; st_log_open asserts it. */
bool st_log_config_valid(const st_log_config_t *c);

typedef struct st_log st_log_t;
struct st_segment;

/* Applies a changed configuration to an open log (the broker calls it when a topic's
 * configs are altered). Takes effect from now on: retention (next check), roll
 * (segment_bytes, segment_ms, segment_jitter_ms: checked at the next append; the
 * active segment keeps its drawn jitter), flush policy (flush_messages counted from
 * the current flush point, flush_ms at the next store flush check),
 * index_interval_bytes, producer_id_expiration_ms (next st_store_tick).
 * segment_index_bytes applies to segments created from now on. A segment larger than
 * a lowered segment_bytes is rolled at the next append; a batch larger than the new
 * segment_bytes is refused (SL_ERR_LIMIT) as usual.
 * Returns 0, or SL_ERR_PROTO when !st_log_config_valid(cfg) (nothing changed). */
int st_log_set_config(st_log_t *l, const st_log_config_t *cfg);

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

/* The producer's state in this partition (st_producer.h), or NULL when unknown. Valid
 * until the next append, tick or close of the log. */
const struct st_producer *st_log_find_producer(const st_log_t *l, int64_t producer_id);
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
 *   ST_ERR_INVALID_PRODUCER_EPOCH, ST_ERR_OUT_OF_ORDER_SEQUENCE
 *                   an idempotent batch (producerId >= 0) refused by the producer
 *                   state (st_producer.h "Rules"), checked before offsets are assigned
 *   -ENOMEM         no memory for a new producer's state
 * A duplicate of one of the producer's last 5 batches (same epoch, baseSequence and
 * lastSequence) returns 0, writes nothing, and its cb later reports the original's
 * base offset with err 0, in offset order after the original (st_producer.h).
 *   -errno          the failed roll (e.g. -ENOSPC, -EMFILE), or the error of a failed
 *                   write/sync while the log is failed (see "Failed writes")
 * A callback may append to, close or delete the log. */
int st_log_append(st_log_t *l, uint8_t *batch, uint32_t len, bool sync, st_append_cb_t cb,
                  void *ctx);

/* Retention (Kafka's UnifiedLog.deleteOldSegments): deletes whole segments from the
 * oldest, never the active one and never one with writes in flight (only sealed
 * segments qualify), stopping at the first that is kept:
 *   by time  while now_ms - the segment's largest batch timestamp > retention_ms
 *            (the .log file's mtime when no batch carried a timestamp); skipped when
 *            retention_ms < 0. A segment whose timestamps lie in the future stays.
 *   by size  then, while st_log_size_bytes() - the oldest segment's size >=
 *            retention_bytes; skipped when retention_bytes < 0.
 * The start offset becomes max(start offset, new first segment's base offset).
 * Deleted segments' names are unlinked now; a segment pinned by a slice keeps its
 * fd (and its disk space) until the last st_slice_release(), as for st_log_delete.
 * Synchronous unlink(2)s on the shard thread: a few per deleted segment.
 * *deleted_bytes (may be NULL) gets the bytes of the deleted segments.
 * Returns 0; -EBUSY when a group-commit sync is in flight (its fds must stay open
 * until it completes): nothing was deleted, and the log retries by itself at a
 * later st_store_end_turn with the same now_ms; or the first -errno of an unlink
 * (the segments are dropped from the log either way; the files are logged). */
int st_log_enforce_retention(st_log_t *l, int64_t now_ms, int64_t *deleted_bytes);

/* Writes the log's recovery point (see "Recovery point") when its durable end moved
 * since the last write. Blocking (index files of newly sealed segments fdatasynced,
 * then tmp file + fsync + rename + directory fsync).
 * Returns 0 or -errno (the previous file stays; the next call retries). */
int st_log_checkpoint_recovery_point(st_log_t *l);

/* DeleteRecords: raises the log start offset to `offset` (-1: the high watermark).
 * offset below the start offset changes nothing (never lowered). The new start
 * offset is persisted (see "Log start offset") before it takes effect, then every
 * non-active segment whose records all lie below it is deleted as by retention (at
 * a later st_store_end_turn if a sync is in flight). Reads below the new start offset
 * answer SL_ERR_RANGE from then on. Blocking: one small file write + fsync + rename
 * + directory fsync (an admin request, like topic deletion).
 * *low_watermark_out (may be NULL) gets the start offset afterwards.
 * Returns 0; SL_ERR_RANGE for offset > HWM or < -1 (nothing changed); -errno when
 * the checkpoint could not be written (nothing changed) or a segment file could not
 * be unlinked (the start offset was raised). */
int st_log_delete_records(st_log_t *l, int64_t offset, int64_t *low_watermark_out);

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

/* ListOffsets by timestamp: the first offset in [start offset, HWM) whose record
 * timestamp is >= ts, with that record's timestamp; *offset_out = -1 if there is none. Uses the
 * .timeindex, then scans batch headers; inside the first batch whose max timestamp is
 * >= ts the records are read (pread) to find the exact one when the batch is
 * uncompressed — for compressed batches (no decompression yet) the batch's base
 * offset and max timestamp are returned. Returns 0, SL_ERR_CORRUPT or -errno. */
int st_log_offset_for_timestamp(st_log_t *l, int64_t ts, int64_t *offset_out,
                                int64_t *timestamp_out);

/* ListOffsets MAX_TIMESTAMP (-3, KIP-734): the largest batch maxTimestamp among the
 * batches in [start offset, HWM), and the offset of the record carrying it, as Kafka
 * >= 3.8 (UnifiedLog.fetchOffsetByTimestamp: the first segment with the largest
 * maxTimestampSoFar, its first batch with that maxTimestamp, and in it
 * RecordBatch.offsetOfMaxTimestamp: the FIRST record whose timestamp equals it).
 * LogAppendTime batches: the batch's first offset (every record carries the batch
 * timestamp). Compressed batches: Kafka decompresses to find the record; storage
 * cannot decompress yet, so the batch's LAST offset is returned (Kafka < 3.7's
 * answer for compressed batches, offsetOfMaxTimestamp set by the validator).
 * Segments keep the max and the batch holding it in memory (st_segment_t.max_ts,
 * maintained at append, rebuilt at open from the time index's last entry plus the
 * batches after it), so the cost is O(segments) plus one read of the winning batch
 * (a header scan of a segment whose max is past the HWM or below the start offset).
 * Empty (nothing below the HWM): *offset_out = *timestamp_out = -1. Returns 0,
 * -errno or SL_ERR_CORRUPT. */
int st_log_max_timestamp(st_log_t *l, int64_t *timestamp_out, int64_t *offset_out);

#endif /* ST_LOG_H */
