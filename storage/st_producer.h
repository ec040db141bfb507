/*
 * st_producer.h — one partition's idempotent-producer state (Kafka's
 * ProducerStateManager / ProducerAppendInfo, our own code): producerId -> epoch, the
 * last ST_PRODUCER_BATCHES_RETAINED batches appended (for duplicate detection) and
 * the store-clock time of the last append.
 *
 * Ownership and threading: embedded in its st_log_t, used only on the log's shard.
 * Memory: one sorted array (binary search by producerId), grown by realloc up to
 * ST_MAX_PRODUCERS_PER_PARTITION entries; when full, adding a producer first drops
 * the least recently used one (smallest use stamp: the last append or lookup that
 * recorded a batch).
 *
 * Rules (st_pstate_check), in Kafka 4's order (UnifiedLog.analyzeAndValidateProducerState,
 * ProducerStateEntry.findDuplicateBatch, ProducerAppendInfo.checkProducerEpoch /
 * checkSequence). lastSeq of a batch = baseSequence + lastOffsetDelta, int32 wrap.
 *   1. known producer, same epoch, (baseSeq, lastSeq) equal to a retained batch
 *      -> ST_PSTATE_DUPLICATE with that batch's first/last offset
 *   2. known producer, epoch < current              -> ST_ERR_INVALID_PRODUCER_EPOCH
 *   3. known producer, epoch > current (a bump, KIP-360): baseSeq must be 0, else
 *      ST_ERR_OUT_OF_ORDER_SEQUENCE; on append the new epoch replaces the state
 *      (retained batches of the old epoch are forgotten)
 *   4. known producer, same epoch: baseSeq == lastSeq + 1, or 0 after INT32_MAX
 *      -> accepted; anything else -> ST_ERR_OUT_OF_ORDER_SEQUENCE (includes a retry
 *      of a batch older than the retained window)
 *   5. unknown producer (never seen, expired, evicted, or its records deleted): ACCEPTED
 *      at any sequence. This is what Kafka 4 does: ProducerAppendInfo.checkSequence
 *      "If there is no current producer epoch (possibly because all producer records
 *      have been deleted due to retention or the DeleteRecords API) accept writes with
 *      any sequence number" — UNKNOWN_PRODUCER_ID (59) has not been returned by the
 *      broker's append path since KIP-360 (2.5). ST_ERR_UNKNOWN_PRODUCER_ID is
 *      defined (st_log.h) for the broker's mapping but storage never returns it.
 * A batch without a producer id (-1), and a control batch, is not checked.
 *
 * Duplicates (st_log_append): nothing is written; a no-write record joins the log's
 * append FIFO, so its callback reports the ORIGINAL base offset with err 0 in offset
 * order: after the original's callback (its write completed, and a group commit
 * covered it when the retry asked for sync) — or the original's error if its write
 * failed. Counted in st_store_stats()->duplicate_appends.
 *
 * State changes: a batch is recorded when st_log_append accepts it (before its
 * write completes, as Kafka updates at append). After a failed write the log's
 * repair cuts LEO back; retained batches at or past it are forgotten, producers left
 * without any are dropped, and snapshot files past it are deleted.
 *
 * Expiry: st_store_tick, at every retention check (log.retention.check.interval.ms;
 * Kafka has its own producer.id.expiration.check.interval.ms), drops producers whose
 * last append (store clock) is more than the log's producer_id_expiration_ms ago.
 * A dropped producer is unknown afterwards: rule 5.
 *
 * Snapshots — <dir>/<offset>.snapshot, %020lld of the offset, Kafka's
 * ProducerSnapshot version 1, big-endian; the state after every batch below offset:
 *
 *   offset size field
 *   ------ ---- --------------------------------------------------------------
 *        0    2 version: 1
 *        2    4 crc: CRC-32C (kp_crc32c) of bytes [6, end)
 *        6    4 entry count n
 *       10 46*n entries, sorted by producerId:
 *              +0  8 producerId
 *              +8  2 producerEpoch
 *             +10  4 lastSequence           of the producer's newest batch
 *             +14  8 lastOffset             of that batch
 *             +22  4 offsetDelta            lastOffset - its first offset
 *             +26  8 timestamp              that batch's max timestamp
 *             +34  4 coordinatorEpoch       -1 (no transactions)
 *             +38  8 currentTxnFirstOffset  -1
 *
 *   Like Kafka's, the format holds only the newest batch of each producer: after a
 *   load, a retry of that batch is still a duplicate, one of the 4 older retained
 *   batches is not (it gets ST_ERR_OUT_OF_ORDER_SEQUENCE) unless the replay after the
 *   snapshot re-recorded it. The last-append time is not in the format: a loaded
 *   producer's expiry counts from the open.
 *   Written (to <name>.tmp, then renamed) at every segment roll, at offset = the new
 *   segment's base, without fsync (the rename reaches disk with the next group
 *   commit's directory fsync; a torn file fails its CRC), and at a clean close at LEO
 *   with fdatasync + directory fsync. The newest two are kept, older ones deleted.
 *   A write failure is logged and costs only a longer replay at the next open.
 *   Open (st_log_open): snapshots past LEO are deleted; the newest one at or below
 *   the point recovery starts from (recover: the base of the first re-read segment;
 *   a clean open: LEO) is loaded and the batches after it are replayed from the
 *   segments (headers only, .index-positioned). No such snapshot, or one that fails
 *   its checks (deleted, LOG_WARN): the state is replayed from the first segment —
 *   every batch header of the log is read (slow for big logs, once).
 */
#ifndef ST_PRODUCER_H
#define ST_PRODUCER_H

#include "sl_base.h"
#include "sl_limits.h"

/* st_pstate_check's positive answer: the batch was appended before. */
#define ST_PSTATE_DUPLICATE 1

typedef struct st_producer_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t first_offset;
    int64_t last_offset;
    int64_t max_timestamp;
} st_producer_batch_t;

typedef struct st_producer {
    int64_t producer_id;
    int16_t epoch;
    uint8_t batch_count;                                       /* 0..RETAINED */
    st_producer_batch_t batches[ST_PRODUCER_BATCHES_RETAINED]; /* oldest first */
    int64_t last_append_ms;                                    /* store clock; expiry */
    uint64_t use;                                              /* LRU stamp */
} st_producer_t;

typedef struct st_pstate {
    st_producer_t *v; /* sorted by producer_id */
    uint32_t count;
    uint32_t cap;
    uint64_t use_clock;
    uint64_t evicted; /* producers dropped because the map was full */
    uint64_t expired; /* producers dropped by st_pstate_expire */
} st_pstate_t;

void st_pstate_init(st_pstate_t *m);
void st_pstate_free(st_pstate_t *m);
void st_pstate_clear(st_pstate_t *m);
/* The producer's entry, or NULL. Valid until the next change of m. */
const st_producer_t *st_pstate_find(const st_pstate_t *m, int64_t producer_id);
/* lastSeq of a batch: base_seq + last_offset_delta, wrapping past INT32_MAX to 0. */
int32_t st_pstate_last_seq(int32_t base_seq, int32_t last_offset_delta);
/* Applies the rules above to a batch (producer_id >= 0). Returns 0 (append it),
 * ST_PSTATE_DUPLICATE (*dup gets the retained batch), ST_ERR_INVALID_PRODUCER_EPOCH
 * or ST_ERR_OUT_OF_ORDER_SEQUENCE. Changes nothing. */
int st_pstate_check(const st_pstate_t *m, int64_t producer_id, int16_t epoch, int32_t base_seq,
                    int32_t last_seq, st_producer_batch_t *dup);
/* Records an appended batch (after st_pstate_check answered 0, or while replaying
 * the log): a new epoch replaces the entry; the oldest retained batch is dropped
 * beyond ST_PRODUCER_BATCHES_RETAINED. Returns 0 or -ENOMEM (nothing changed). */
int st_pstate_record(st_pstate_t *m, int64_t producer_id, int16_t epoch,
                     const st_producer_batch_t *b, int64_t now_ms);
/* Inserts a whole entry (snapshot load); replaces one with the same id. 0 or -ENOMEM. */
int st_pstate_put(st_pstate_t *m, const st_producer_t *p);
/* Drops producers whose last append is more than expiration_ms before now_ms
 * (Kafka's producer.id.expiration.ms). Returns how many were dropped. */
uint32_t st_pstate_expire(st_pstate_t *m, int64_t now_ms, int64_t expiration_ms);
/* Forgets retained batches holding offsets >= end (the log was cut back to end), and
 * producers left without any batch. */
void st_pstate_truncate(st_pstate_t *m, int64_t end);

#endif /* ST_PRODUCER_H */
