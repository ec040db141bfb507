/*
 * st_segment.h — one log segment: its .log file descriptor, its two mmap'd index
 * files, and the refcount that lets fetch slices pin it. Internal to storage/; the
 * file formats are drawn in st_log.h.
 *
 * Ownership and threading
 *   The owning log holds one reference for as long as the segment is in its list;
 *   every fetch slice holds one more. Everything but `refs`, `log_fd` and `deleted`
 *   is owned by the log's shard. When the log lets go (st_segment_drop) it closes
 *   the index mappings itself; the last reference — possibly released on another
 *   thread — only closes log_fd and frees the struct. So a pinned segment keeps
 *   exactly what a reader needs: the open .log descriptor.
 *
 * Index file states
 *   active   preallocated to the maximum size and mapped read-write; no fd is kept
 *            (a partition costs one descriptor, its active .log: 10,000 partitions
 *            fit under a 20,000 RLIMIT_NOFILE with connections beside them); the
 *            file is reopened by path to be trimmed and synced when sealed
 *   sealed   trimmed to entries * entry_bytes, mapping kept for lookups
 *            (never touched past the trimmed size: that would be SIGBUS)
 *   loaded   an existing file mapped read-only at its size (sealed segments of a
 *            log opened after a clean shutdown)
 *
 * Invariants (checked by st_segment_check in debug builds)
 *   0 <= committed <= size <= ST_MAX_SEGMENT_BYTES; index entries strictly increasing
 *   with positions < size; time-index entries non-decreasing.
 */
#ifndef ST_SEGMENT_H
#define ST_SEGMENT_H

#include "sl_base.h"
#include "st_log.h"

#include <stdatomic.h>

#define ST_OINDEX_ENTRY_BYTES 8
#define ST_TINDEX_ENTRY_BYTES 12
#define ST_SEGMENT_NAME_DIGITS 20

typedef struct st_idxfile {
    bool active;  /* mapped read-write, appendable; false once sealed or loaded read-only */
    uint8_t *map; /* NULL when map_bytes == 0 */
    size_t map_bytes;
    uint32_t entry_bytes; /* ST_OINDEX_ENTRY_BYTES or ST_TINDEX_ENTRY_BYTES */
    uint32_t entries;     /* entries written */
    uint32_t max_entries; /* entries the mapping can hold */
} st_idxfile_t;

typedef struct st_segment {
    atomic_int refs;
    atomic_bool deleted; /* names unlinked; space freed with the last reference */
    int log_fd;
    int64_t base_offset;

    /* Owner shard only from here. */
    int64_t size;      /* bytes reserved by appends: the next write position */
    int64_t committed; /* bytes below the log's HWM: what fetches may read */
    st_idxfile_t oindex;
    st_idxfile_t tindex;
    int64_t max_ts;        /* max batch timestamp so far (-1: none) */
    int64_t max_ts_offset; /* last offset of the batch holding it */
    int64_t bytes_since_index;
    int64_t first_append_ms; /* store clock at the first append (-1: none yet) */
    int64_t roll_jitter_ms;  /* this segment's share of segment_jitter_ms */
    bool sealed;             /* index files trimmed and closed */
    bool data_unsynced;      /* committed bytes not yet covered by an issued fdatasync */
    bool index_unsynced;     /* index files rewritten and not yet fsynced */
    char path[];             /* "<dir>/<20-digit base offset>", no suffix */
} st_segment_t;

/* --- segments ------------------------------------------------------------------ */

/* Creates empty .log, .index and .timeindex files for base_offset in dir (replacing
 * stale files of that name), indexes preallocated to index_max_bytes and mapped.
 * Returns 0 with *out holding one reference, or -errno (nothing left behind). */
int st_segment_create(const char *dir, int64_t base_offset, uint32_t index_max_bytes,
                      st_segment_t **out);
/* Opens an existing .log read-write; size = committed = file size; no index yet
 * (the loader opens or rebuilds them). Returns 0 or -errno. */
int st_segment_open(const char *dir, int64_t base_offset, st_segment_t **out);

/* "<path><suffix>" into buf (SL_MAX_PATH). */
void st_segment_file(const st_segment_t *seg, const char *suffix, char *buf, size_t size);

void st_segment_ref(st_segment_t *seg);
/* Any thread. The last reference closes log_fd and frees the segment. */
void st_segment_unref(st_segment_t *seg);
/* Owner: closes the index files, then drops the log's reference. */
void st_segment_drop(st_segment_t *seg);
/* Owner: unlinks .log/.index/.timeindex (and .txnindex if present) and marks the
 * segment deleted. Returns 0 or the first -errno other than ENOENT. */
int st_segment_unlink(st_segment_t *seg);

/* Adds the final time-index entry, trims both index files to their entries and
 * closes their fds; with sync, fdatasyncs them first (clean close), else marks them
 * index_unsynced. Returns 0 or -errno (the segment is sealed either way). */
int st_segment_seal(st_segment_t *seg, bool sync);
/* Truncates the .log to pos (ftruncate), drops index entries at or past pos / the
 * offset next_offset, and resets the max-timestamp tracking from the remaining
 * time-index entry. Owner; the segment must not be sealed. Returns 0 or -errno. */
int st_segment_truncate(st_segment_t *seg, int64_t pos, int64_t next_offset);

/* Index bookkeeping of one appended batch (Kafka's LogSegment.append): max
 * timestamp, then an index entry when more than interval bytes passed. */
void st_segment_note_batch(st_segment_t *seg, int64_t pos, uint32_t len, int64_t last_offset,
                           int64_t max_timestamp, int32_t interval_bytes);
bool st_segment_index_full(const st_segment_t *seg);

void st_segment_check(const st_segment_t *seg);

/* --- index files ---------------------------------------------------------------- */

/* New file at path (truncated if it exists), preallocated to max_bytes rounded down
 * to the entry size, mapped read-write. Returns 0 or -errno. */
int st_idxfile_create(st_idxfile_t *f, const char *path, uint32_t entry_bytes, uint32_t max_bytes);
/* Existing file. writable: extended to max_bytes and mapped read-write (the active
 * segment); else mapped read-only at its size. entries = size / entry_bytes.
 * Returns 0, -ENOENT, other -errno, or SL_ERR_CORRUPT (size not a multiple of the
 * entry, or larger than max_bytes when writable). */
int st_idxfile_open(st_idxfile_t *f, const char *path, uint32_t entry_bytes, uint32_t max_bytes,
                    bool writable);
/* Trims the file at path to its entries (optionally fdatasync after) and makes it
 * read-only for the rest of its life. Returns 0 or -errno (sealed either way). */
int st_idxfile_seal(st_idxfile_t *f, const char *path, bool sync);
void st_idxfile_close(st_idxfile_t *f);
void st_idxfile_init_closed(st_idxfile_t *f, uint32_t entry_bytes);

/* Offset index. */
void st_oindex_entry(const st_idxfile_t *f, uint32_t i, int32_t *rel_offset, int32_t *pos);
void st_oindex_append(st_idxfile_t *f, int32_t rel_offset, int32_t pos);
/* Position of the largest entry with relative offset <= rel_target, 0 if none. */
int64_t st_oindex_lookup(const st_idxfile_t *f, int64_t rel_target);
/* Position of the last entry, 0 if none. */
int64_t st_oindex_last_pos(const st_idxfile_t *f);
/* Plausibility (Kafka's sanityCheck, and more): entries strictly increasing in both
 * fields, relative offsets >= 0, positions < log_bytes. 0 or SL_ERR_CORRUPT. */
int st_oindex_check(const st_idxfile_t *f, int64_t log_bytes);

/* Time index. */
void st_tindex_entry(const st_idxfile_t *f, uint32_t i, int64_t *ts, int32_t *rel_offset);
/* Appends (ts, rel) if ts is above the last entry's timestamp and there is room. */
void st_tindex_maybe_append(st_idxfile_t *f, int64_t ts, int32_t rel_offset);
/* Relative offset of the largest entry with timestamp < ts, -1 if none. */
int64_t st_tindex_lookup_below(const st_idxfile_t *f, int64_t ts);
int st_tindex_check(const st_idxfile_t *f);

#endif /* ST_SEGMENT_H */
