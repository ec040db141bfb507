/*
 * sl_producer_ids.h — the producer id allocator: hands out the ids of
 * idempotent (and, later, transactional) producers, never twice, across
 * restarts (ARCHITECTURE.md §5).
 *
 * Where and when
 *   One allocator per broker, created on shard 0 while it sets up (before any
 *   shard listens) and used only on shard 0's thread. Other shards reach it by
 *   message (h_init_producer_id.c posts an sl_xmsg_t to shard 0 and gets the
 *   answer back by message).
 *
 * Durability: blocks of SL_PRODUCER_ID_BLOCK_SIZE ids
 *   Before the first id of a block is handed out, the start of the NEXT block
 *   is written durably to <first log dir>/sluice-metadata/producer-id-block:
 *   temp file, fsync, rename over the old file, fsync of the directory. This
 *   is done SYNCHRONOUSLY on shard 0's loop, once per 1000 ids (a few ms of
 *   blocked loop per 1000 InitProducerId calls — accepted for simplicity; move
 *   it to the ring if it ever shows up in latency). At start-up the file's
 *   value is where allocation resumes, so ids of a block not used up before a
 *   restart are skipped, never reused.
 *
 * File format (20 bytes, integers big-endian)
 *   offset size field
 *        0    4 magic             "SLPI"
 *        4    2 version           0
 *        6    2 reserved          0
 *        8    8 next_block_start  first id not yet reserved, 0 <= x <= SL_PRODUCER_ID_MAX
 *       16    4 crc               CRC-32C of bytes 0..15
 *   A missing file means a fresh broker: allocation starts at 0. Any other
 *   content (short, bad magic/version/CRC, value out of range) is corruption:
 *   sl_producer_ids_open fails with a message naming the file and the broker
 *   refuses to start — guessing could hand out an id twice.
 *
 * Invariants: next_id <= block_end; block_end is the durable file value (what a
 *   restart resumes from); ids are handed out strictly increasing.
 */
#ifndef SL_PRODUCER_IDS_H
#define SL_PRODUCER_IDS_H

#include "sl_base.h"
#include "sl_limits.h"

#define SL_PRODUCER_ID_BLOCK_SIZE 1000
/* Highest id we hand out; leaves room so block_end never overflows int64. */
#define SL_PRODUCER_ID_MAX (INT64_MAX - 2 * SL_PRODUCER_ID_BLOCK_SIZE)
#define SL_PRODUCER_ID_FILE "producer-id-block"
#define SL_PRODUCER_ID_DIR "sluice-metadata"

typedef struct sl_producer_ids {
    char path[SL_MAX_PATH]; /* the block file */
    char dir[SL_MAX_PATH];  /* its directory (fsync'd after rename) */
    int64_t next_id;        /* next id to hand out */
    int64_t block_end;      /* ids below this are reserved durably */
} sl_producer_ids_t;

/* Reads (or starts) the allocator state under log_dir. Returns 0, or a
 * negative error with the reason (file named) written to err; *out is then
 * NULL. Creates the sluice-metadata directory if missing. Free with
 * sl_producer_ids_close. */
int sl_producer_ids_open(const char *log_dir, sl_producer_ids_t **out, char *err, size_t err_len);
void sl_producer_ids_close(sl_producer_ids_t *p);

/* Shard 0 only. Stores the next producer id in *id and returns 0; when a new
 * block must be reserved first this writes the file (blocking). Returns a
 * -errno if that write failed (no id handed out, state unchanged: the next call
 * tries again) or SL_ERR_LIMIT when the id space is exhausted. */
int sl_producer_ids_next(sl_producer_ids_t *p, int64_t *id);

#endif /* SL_PRODUCER_IDS_H */
