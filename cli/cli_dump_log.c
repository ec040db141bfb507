/*
 * cli_dump_log.c — `sluice dump-log`: prints and checks segment files, the
 * equivalent of Kafka's kafka-dump-log.sh (DumpLogSegments).
 *
 *   sluice dump-log --files F[,F...] [--print-data-log] [--deep-iteration]
 *                   [--index-sanity-check] [--verify-index-only] [--offsets-decoder]
 *
 * It reads the files directly (read-only, whether sluiced runs or not) and
 * never talks to a broker: the file formats are those of KAFKA-PROTOCOL.md §3-4
 * and storage/st_log.h, decoded here with proto/kp_batch.h (the CLI does not
 * link storage/).
 *
 *   .log        "Dumping F", "Log starting offset: N", one line per batch in
 *               Kafka's format; with --deep-iteration (implied by
 *               --print-data-log) one "| offset: ..." line per record of an
 *               uncompressed batch, with --print-data-log its key and payload.
 *               A bad CRC prints isvalid: false; a bad header stops the dump
 *               with its position and reason; a torn tail is reported as
 *               "Found N invalid bytes at the end of F".
 *   .index      "offset: N position: P" per entry, up to the first all-zero
 *               entry after the first (preallocated space, as Kafka stops). With
 *               the .log of the same name next to it, each entry is checked:
 *               the batch at P must exist and its last offset must be N, else an
 *               "Index entry mismatch" line.
 *   .timeindex  "timestamp: T offset: N" per entry; flags timestamps that do not
 *               increase and offsets that are not the last offset of a batch of
 *               the .log (or whose batch's max timestamp is not T).
 *
 *   --index-sanity-check  only checks the index files (sizes, entries increasing,
 *                         positions inside the .log) and says passed / failed.
 *   --verify-index-only   checks the index entries against the .log but prints
 *                         only the problems.
 *
 * Exit status: CLI_EXIT_OK when every file was read and nothing invalid was
 * found, CLI_EXIT_FAIL when a file could not be read or something invalid was
 * found (the problems are printed on stdout, next to the entries they concern),
 * CLI_EXIT_USAGE for a bad command line.
 *
 * Memory: each file is read whole into one malloc'd buffer (files are at most
 * ST_MAX_SEGMENT_BYTES, 2 GiB: positions are int32), freed before the next file.
 * Record keys, payloads and header keys are printed as bytes, with control
 * characters escaped as \xNN so that one record stays one line.
 */
#include "sl_base.h"
#include "cli_common.h"
#include "cli_coordinator_records.h"
#include "kp_batch.h"
#include "kp_crc32c.h"
#include "sl_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DUMP_OINDEX_ENTRY_BYTES 8  /* int32 relative offset + int32 position */
#define DUMP_TINDEX_ENTRY_BYTES 12 /* int64 timestamp + int32 relative offset */
#define DUMP_NAME_DIGITS 20        /* "%020lld" of the segment's base offset */
#define DUMP_MAX_FILE_BYTES ST_MAX_SEGMENT_BYTES
#define DUMP_MAX_FILES 1024         /* --files entries */
#define DUMP_MAX_INDEX_PROBLEMS 100 /* mismatch lines printed per index file */

typedef struct {
    bool deep_iteration; /* one line per record (--deep-iteration, --print-data-log) */
    bool print_data;     /* keys and payloads too (--print-data-log) */
    bool offsets_decoder; /* decode __consumer_offsets records (--offsets-decoder) */
    bool index_sanity;   /* --index-sanity-check */
    bool verify_index;   /* --verify-index-only: print problems, not entries */
    char *files;         /* --files, split in place at the commas */
} dump_opts_t;

/* A file read whole. */
typedef struct {
    uint8_t *data; /* malloc'd, NULL when size == 0; owned, freed by dump_buf_free */
    size_t size;
} dump_buf_t;

/* What a .log scan found, for checking index entries against it. */
typedef struct {
    int64_t pos;
    int64_t last_offset;
    int64_t max_timestamp;
} dump_batch_t;

typedef struct {
    dump_batch_t *batches; /* malloc'd, in file order; owned */
    size_t count;
    size_t capacity;
    int64_t valid_bytes; /* bytes covered by well-formed batch headers from position 0 */
} dump_batch_list_t;

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

static void dump_usage(FILE *out)
{
    fprintf(out,
            "Usage: sluice dump-log --files F[,F...] [options]\n\n"
            "Prints the contents of segment files (.log, .index, .timeindex) read directly\n"
            "from disk, like Kafka's kafka-dump-log.sh, and checks them.\n\n"
            "  --files F[,F...]       the files to dump (comma-separated)\n"
            "  --print-data-log       print each record with its key and payload\n"
            "                         (implies --deep-iteration)\n"
            "  --deep-iteration       print each record of uncompressed batches\n"
            "  --offsets-decoder      decode __consumer_offsets records (group metadata,\n"
            "                         committed offsets; implies --deep-iteration)\n"
            "  --index-sanity-check   only check that index files are plausible\n"
            "  --verify-index-only    check index entries against the .log, print only problems\n"
            "  -h, --help             this text\n\n"
            "Exit status: 0 if everything read is valid, 1 if something is invalid or\n"
            "unreadable (the problems are printed), 2 for a bad command line.\n");
}

/* --- files -------------------------------------------------------------------- */

static void dump_buf_free(dump_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->size = 0;
}

/* Reads the whole file at path into *b. Returns 0, or -errno after printing why
 * (-EFBIG for a file larger than any segment). *b is empty on failure. */
static int dump_read_file(const char *path, dump_buf_t *b)
{
    struct stat st;
    int rc = 0;
    b->data = NULL;
    b->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        cli_err("cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        cli_err("cannot stat %s: %s", path, strerror(errno));
        goto out_close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        cli_err("%s is not a regular file", path);
        goto out_close_fd;
    }
    if (st.st_size > DUMP_MAX_FILE_BYTES) {
        rc = -EFBIG;
        cli_err("%s has %lld bytes, more than a segment can hold (%lld)", path,
                (long long)st.st_size, (long long)DUMP_MAX_FILE_BYTES);
        goto out_close_fd;
    }
    if (st.st_size == 0)
        goto out_close_fd;
    b->data = malloc((size_t)st.st_size);
    if (b->data == NULL) {
        rc = -ENOMEM;
        cli_err("out of memory reading %s (%lld bytes)", path, (long long)st.st_size);
        goto out_close_fd;
    }
    /* The file may shrink or grow under a running broker: read what is there
     * up to the size seen, and stop at end of file. */
    while (b->size < (size_t)st.st_size) {
        ssize_t n = pread(fd, b->data + b->size, (size_t)st.st_size - b->size, (off_t)b->size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            cli_err("cannot read %s: %s", path, strerror(errno));
            dump_buf_free(b);
            goto out_close_fd;
        }
        if (n == 0)
            break;
        b->size += (size_t)n;
    }
out_close_fd:
    close(fd);
    return rc;
}

/* The base offset in a segment file's name ("<dir>/<20 digits>.<suffix>").
 * Returns 0, or -1 after printing an error when the name is not one. */
static int dump_base_offset(const char *path, int64_t *out)
{
    const char *name = strrchr(path, '/');
    name = name != NULL ? name + 1 : path;
    const char *dot = strchr(name, '.');
    char digits[DUMP_NAME_DIGITS + 1];
    size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);
    if (n != DUMP_NAME_DIGITS) {
        cli_err("%s: the file name is not a %d-digit base offset", path, DUMP_NAME_DIGITS);
        return -1;
    }
    memcpy(digits, name, n);
    digits[n] = '\0';
    if (strspn(digits, "0123456789") != n || cli_parse_i64(digits, 0, INT64_MAX, out) != 0) {
        cli_err("%s: the file name is not a %d-digit base offset", path, DUMP_NAME_DIGITS);
        return -1;
    }
    return 0;
}

/* Whether path ends with suffix. */
static bool dump_has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcmp(path + n - m, suffix) == 0;
}

/* "<path without old_suffix><new_suffix>" into buf. Returns 0, or -1 if it
 * does not fit. */
static int dump_sibling(const char *path, const char *old_suffix, const char *new_suffix, char *buf,
                        size_t size)
{
    size_t stem = strlen(path) - strlen(old_suffix);
    int n = snprintf(buf, size, "%.*s%s", (int)stem, path, new_suffix);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* --- .log ------------------------------------------------------------------------ */

static const char *dump_codec_name(kp_codec_t codec)
{
    static const char *const names[KP_CODEC_COUNT] = {
        [KP_CODEC_NONE] = "none", [KP_CODEC_GZIP] = "gzip", [KP_CODEC_SNAPPY] = "snappy",
        [KP_CODEC_LZ4] = "lz4",   [KP_CODEC_ZSTD] = "zstd",
    };
    return (unsigned)codec < KP_CODEC_COUNT ? names[codec] : "unknown";
}

static const char *dump_ts_name(const kp_batch_header_t *h)
{
    return kp_batch_timestamp_type(h) == KP_TS_LOG_APPEND_TIME ? "LogAppendTime" : "CreateTime";
}

/* Kafka's DefaultRecordBatch.incrementSequence: sequences wrap at INT32_MAX. */
static int32_t dump_sequence(int32_t base_sequence, int32_t delta)
{
    if (base_sequence < 0)
        return -1;
    if (base_sequence > INT32_MAX - delta)
        return delta - (INT32_MAX - base_sequence) - 1;
    return base_sequence + delta;
}

/* Why kp_batch_parse_header() rejected the header at p (len >= 12 bytes), in
 * the words of its rules 1-6. */
static const char *dump_header_problem(const uint8_t *p, size_t len)
{
    int32_t batch_length = (int32_t)be32(p + KP_BATCH_OFF_BATCH_LENGTH);
    if (batch_length < KP_BATCH_MIN_LENGTH)
        return batch_length == 0 && be64(p) == 0 ? "zero bytes (no batch written here)"
                                                 : "batch length too small";
    if ((int64_t)batch_length + KP_BATCH_LOG_OVERHEAD > KP_MAX_BATCH_BYTES)
        return "batch length over the limit";
    if (len <= KP_BATCH_OFF_MAGIC)
        return "bad header";
    if (p[KP_BATCH_OFF_MAGIC] != KP_BATCH_MAGIC_V2)
        return "magic is not 2";
    if (len < KP_BATCH_HEADER_BYTES)
        return "bad header";
    if ((p[KP_BATCH_OFF_ATTRIBUTES + 1] & KP_BATCH_ATTR_CODEC_MASK) > KP_CODEC_ZSTD)
        return "unknown compression codec";
    return "bad offsets or record count";
}

/* Prints one record value (key, payload) escaping control characters. */
static void dump_print_bytes(const uint8_t *p, int32_t len)
{
    for (int32_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            printf("\\x%02x", p[i]);
        else
            putchar(p[i]);
    }
}

/* The record lines of one batch (deep iteration). Returns 0, or 1 when the
 * records are corrupt (said on a line of its own). */
static int dump_records(const uint8_t *batch, const kp_batch_header_t *h, int64_t pos,
                        const dump_opts_t *o)
{
    kp_record_iter_t it;
    kp_record_t rec;
    int rc;
    if (kp_record_iter_init(&it, batch, h) != 0) {
        printf("| records not shown: %s decompression is not implemented yet\n",
               dump_codec_name(kp_batch_codec(h)));
        return 0;
    }
    while ((rc = kp_record_iter_next(&it, &rec)) == 1) {
        printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %" PRId32 " valueSize: %" PRId32
               " sequence: %" PRId32 " headerKeys: [",
               rec.offset, dump_ts_name(h), rec.timestamp, rec.key_len, rec.value_len,
               dump_sequence(h->base_sequence, rec.offset_delta));
        kp_header_iter_t hit;
        kp_record_header_t hdr;
        kp_header_iter_init(&hit, &rec);
        for (int i = 0; kp_header_iter_next(&hit, &hdr) == 1; i++) {
            if (i > 0)
                putchar(',');
            dump_print_bytes(hdr.key, hdr.key_len);
        }
        putchar(']');
        if (kp_batch_is_control(h)) {
            int16_t type = rec.key_len >= 4 ? (int16_t)(be32(rec.key) & 0xffff) : -1;
            if ((type == 0 || type == 1) && rec.value_len >= 6)
                printf(" endTxnMarker: %s coordinatorEpoch: %" PRId32,
                       type == 0 ? "ABORT" : "COMMIT", (int32_t)be32(rec.value + 2));
            else
                printf(" controlType: UNKNOWN(%d)", type);
        } else if (o->offsets_decoder) {
            cli_print_coordinator_record(stdout, &rec);
        } else if (o->print_data) {
            if (rec.key != NULL) {
                printf(" key: ");
                dump_print_bytes(rec.key, rec.key_len);
            }
            if (rec.value != NULL) {
                printf(" payload: ");
                dump_print_bytes(rec.value, rec.value_len);
            }
        }
        putchar('\n');
    }
    if (rc == 0)
        return 0;
    printf("| corrupt records in the batch at position %" PRId64 ": a record does not parse "
           "(after %" PRId32 " of %" PRId32 " records)\n",
           pos, h->records_count - it.remaining, h->records_count);
    return 1;
}

static void dump_print_batch(const kp_batch_header_t *h, int64_t pos, bool crc_ok)
{
    char horizon[40];
    if (kp_batch_has_delete_horizon(h))
        snprintf(horizon, sizeof(horizon), "OptionalLong[%" PRId64 "]", h->base_timestamp);
    else
        snprintf(horizon, sizeof(horizon), "OptionalLong.empty");
    printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %" PRId32
           " baseSequence: %" PRId32 " lastSequence: %" PRId32 " producerId: %" PRId64
           " producerEpoch: %d partitionLeaderEpoch: %" PRId32
           " isTransactional: %s isControl: %s deleteHorizonMs: %s position: %" PRId64
           " %s: %" PRId64 " size: %" PRIu32 " magic: %d compresscodec: %s crc: %" PRIu32
           " isvalid: %s\n",
           h->base_offset, kp_batch_last_offset(h), h->records_count, h->base_sequence,
           dump_sequence(h->base_sequence, h->last_offset_delta), h->producer_id, h->producer_epoch,
           h->partition_leader_epoch, kp_batch_is_transactional(h) ? "true" : "false",
           kp_batch_is_control(h) ? "true" : "false", horizon, pos, dump_ts_name(h),
           h->max_timestamp, kp_batch_total_size(h), h->magic, dump_codec_name(kp_batch_codec(h)),
           h->crc, crc_ok ? "true" : "false");
}

/* Dumps a .log. Returns 0 if every byte was a valid batch, 1 if something was
 * invalid (reported), or -1 if the file could not be read. */
static int dump_log_file(const char *path, const dump_opts_t *o)
{
    dump_buf_t b;
    int64_t base;
    int bad = 0;
    if (dump_base_offset(path, &base) != 0)
        return -1;
    if (dump_read_file(path, &b) != 0)
        return -1;
    printf("Dumping %s\n", path);
    printf("Log starting offset: %" PRId64 "\n", base);
    size_t pos = 0;
    while (pos < b.size) {
        kp_batch_header_t h;
        const uint8_t *p = b.data + pos;
        size_t left = b.size - pos;
        int rc = kp_batch_parse_header(p, left, &h);
        if (rc == SL_ERR_AGAIN) {
            if (left < KP_BATCH_LOG_OVERHEAD)
                printf("Torn tail at position %zu: %zu bytes, less than a batch header\n", pos,
                       left);
            else
                printf("Torn tail at position %zu: a batch of %" PRIu32
                       " bytes (baseOffset: %" PRId64 ") with only %zu bytes present\n",
                       pos, kp_batch_total_size(&h), (int64_t)be64(p), left);
            printf("Found %zu invalid bytes at the end of %s\n", left, path);
            bad = 1;
            break;
        }
        if (rc != 0) {
            printf("Corrupt batch at position %zu: %s; the %zu bytes from there are not dumped\n",
                   pos, dump_header_problem(p, left), left);
            printf("Found %zu invalid bytes at the end of %s\n", left, path);
            bad = 1;
            break;
        }
        bool crc_ok = kp_batch_verify_crc(p, &h) == 0;
        dump_print_batch(&h, (int64_t)pos, crc_ok);
        if (!crc_ok) {
            uint32_t computed =
                kp_crc32c(0, p + KP_BATCH_CRC_START, kp_batch_total_size(&h) - KP_BATCH_CRC_START);
            printf("Corrupt batch at position %zu: CRC mismatch (stored %" PRIu32
                   ", computed %" PRIu32 ")\n",
                   pos, h.crc, computed);
            bad = 1;
        }
        if (o->deep_iteration && dump_records(p, &h, (int64_t)pos, o) != 0)
            bad = 1;
        pos += kp_batch_total_size(&h);
    }
    dump_buf_free(&b);
    return bad;
}

/* --- indexes ----------------------------------------------------------------------- */

/* Scans the headers of the .log at log_path (no CRC check: the index is checked
 * against where batches are, not whether their payload is intact). Returns 0 with
 * *list filled (owned by the caller, free(list->batches)), 1 if there is no such
 * file (nothing printed), or -1 after printing an error. */
static int dump_scan_log(const char *log_path, dump_batch_list_t *list)
{
    dump_buf_t b;
    memset(list, 0, sizeof(*list));
    if (access(log_path, F_OK) != 0 && errno == ENOENT)
        return 1;
    if (dump_read_file(log_path, &b) != 0)
        return -1;
    size_t pos = 0;
    while (pos < b.size) {
        kp_batch_header_t h;
        if (kp_batch_parse_header(b.data + pos, b.size - pos, &h) != 0)
            break;
        if (list->count == list->capacity) {
            size_t cap = list->capacity ? list->capacity * 2 : 256;
            dump_batch_t *nb = realloc(list->batches, cap * sizeof(*nb));
            if (nb == NULL) {
                cli_err("out of memory scanning %s", log_path);
                free(list->batches);
                list->batches = NULL;
                dump_buf_free(&b);
                return -1;
            }
            list->batches = nb;
            list->capacity = cap;
        }
        list->batches[list->count++] = (dump_batch_t){
            .pos = (int64_t)pos,
            .last_offset = kp_batch_last_offset(&h),
            .max_timestamp = h.max_timestamp,
        };
        pos += kp_batch_total_size(&h);
    }
    list->valid_bytes = (int64_t)pos;
    dump_buf_free(&b);
    return 0;
}

/* The first batch with last offset >= offset, or NULL. Batches are in file
 * order, and offsets increase with it in a valid log. */
static const dump_batch_t *dump_find_offset(const dump_batch_list_t *list, int64_t offset)
{
    size_t lo = 0, hi = list->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list->batches[mid].last_offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < list->count ? &list->batches[lo] : NULL;
}

/* The batch starting exactly at pos, or NULL. */
static const dump_batch_t *dump_find_pos(const dump_batch_list_t *list, int64_t pos)
{
    size_t lo = 0, hi = list->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list->batches[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < list->count && list->batches[lo].pos == pos ? &list->batches[lo] : NULL;
}

/* Counts and prints one index problem (only the first DUMP_MAX_INDEX_PROBLEMS). */
static void dump_index_problem(unsigned *problems, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void dump_index_problem(unsigned *problems, const char *fmt, ...)
{
    if (++*problems > DUMP_MAX_INDEX_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* Opens an index: base offset from the name, contents, the .log next to it.
 * Returns 0 (has_log says whether the .log was found and scanned), or -1 after
 * printing an error. On 0 the caller frees b and list. */
static int dump_index_open(const char *path, const char *suffix, int64_t *base, dump_buf_t *b,
                           dump_batch_list_t *list, bool *has_log)
{
    char log_path[SL_MAX_PATH];
    if (dump_base_offset(path, base) != 0)
        return -1;
    if (dump_sibling(path, suffix, ".log", log_path, sizeof(log_path)) != 0) {
        cli_err("%s: path too long", path);
        return -1;
    }
    if (dump_read_file(path, b) != 0)
        return -1;
    int rc = dump_scan_log(log_path, list);
    if (rc < 0) {
        dump_buf_free(b);
        return -1;
    }
    *has_log = rc == 0;
    return 0;
}

/* Entries before the first all-zero-offset entry after the first: the rest is
 * preallocated space (Kafka's DumpLogSegments stops there too). */
static uint32_t dump_index_used(const dump_buf_t *b, uint32_t entry_bytes, uint32_t rel_at)
{
    uint32_t n = (uint32_t)(b->size / entry_bytes);
    for (uint32_t i = 1; i < n; i++)
        if (be32(b->data + (size_t)i * entry_bytes + rel_at) == 0)
            return i;
    return n;
}

/* Dumps a .index. Returns 0 if it is consistent, 1 if not (reported), -1 on a
 * read error. */
static int dump_oindex_file(const char *path, const dump_opts_t *o)
{
    dump_buf_t b;
    dump_batch_list_t list;
    int64_t base;
    bool has_log;
    unsigned problems = 0;
    if (dump_index_open(path, ".index", &base, &b, &list, &has_log) != 0)
        return -1;
    uint32_t used = dump_index_used(&b, DUMP_OINDEX_ENTRY_BYTES, 0);
    printf("Dumping %s\n", path);
    if (b.size % DUMP_OINDEX_ENTRY_BYTES != 0)
        dump_index_problem(&problems, "Index file size %zu is not a multiple of %d", b.size,
                           DUMP_OINDEX_ENTRY_BYTES);
    if (!has_log && !o->index_sanity)
        printf("No %.*s.log next to it: entries are not checked against the log\n",
               (int)(strlen(path) - strlen(".index")), path);
    int64_t prev_rel = -1, prev_pos = -1;
    for (uint32_t i = 0; i < used; i++) {
        const uint8_t *e = b.data + (size_t)i * DUMP_OINDEX_ENTRY_BYTES;
        int32_t rel = (int32_t)be32(e);
        int32_t pos = (int32_t)be32(e + 4);
        int64_t offset = base + rel;
        if (rel < 0 || pos < 0 || rel <= prev_rel || pos <= prev_pos)
            dump_index_problem(&problems,
                               "Index entry %" PRIu32 " out of order: offset: %" PRId64
                               " position: %" PRId32 " after offset: %" PRId64
                               " position: %" PRId64,
                               i, offset, pos, base + prev_rel, prev_pos);
        prev_rel = rel;
        prev_pos = pos;
        if (has_log && !o->index_sanity) {
            const dump_batch_t *bt = dump_find_pos(&list, pos);
            if (pos >= list.valid_bytes)
                dump_index_problem(&problems,
                                   "Index entry mismatch: offset: %" PRId64 " position: %" PRId32
                                   " is beyond the valid log (%" PRId64 " bytes)",
                                   offset, pos, list.valid_bytes);
            else if (bt == NULL)
                dump_index_problem(&problems,
                                   "Index entry mismatch: offset: %" PRId64 " position: %" PRId32
                                   " is not the start of a batch",
                                   offset, pos);
            else if (bt->last_offset != offset)
                dump_index_problem(&problems,
                                   "Index entry mismatch: offset: %" PRId64 " position: %" PRId32
                                   " but the batch there has last offset %" PRId64,
                                   offset, pos, bt->last_offset);
        } else if (has_log && pos >= list.valid_bytes) {
            dump_index_problem(&problems,
                               "Index entry %" PRIu32 ": position %" PRId32
                               " is beyond the valid log (%" PRId64 " bytes)",
                               i, pos, list.valid_bytes);
        }
        if (!o->verify_index && !o->index_sanity)
            printf("offset: %" PRId64 " position: %" PRId32 "\n", offset, pos);
    }
    if (problems > DUMP_MAX_INDEX_PROBLEMS)
        printf("... and %u more index problems\n", problems - DUMP_MAX_INDEX_PROBLEMS);
    if (o->index_sanity)
        printf("%s %s sanity check.\n", path, problems == 0 ? "passed" : "failed");
    else if (o->verify_index && problems == 0)
        printf("%s: %" PRIu32 " entries, no mismatch\n", path, used);
    free(list.batches);
    dump_buf_free(&b);
    return problems > 0;
}

/* Dumps a .timeindex. Returns 0 if it is consistent, 1 if not (reported), -1 on
 * a read error. */
static int dump_tindex_file(const char *path, const dump_opts_t *o)
{
    dump_buf_t b;
    dump_batch_list_t list;
    int64_t base;
    bool has_log;
    unsigned problems = 0;
    if (dump_index_open(path, ".timeindex", &base, &b, &list, &has_log) != 0)
        return -1;
    uint32_t used = dump_index_used(&b, DUMP_TINDEX_ENTRY_BYTES, 8);
    printf("Dumping %s\n", path);
    if (b.size % DUMP_TINDEX_ENTRY_BYTES != 0)
        dump_index_problem(&problems, "Time index file size %zu is not a multiple of %d", b.size,
                           DUMP_TINDEX_ENTRY_BYTES);
    if (!has_log && !o->index_sanity)
        printf("No %.*s.log next to it: entries are not checked against the log\n",
               (int)(strlen(path) - strlen(".timeindex")), path);
    int64_t prev_ts = INT64_MIN, prev_rel = -1;
    for (uint32_t i = 0; i < used; i++) {
        const uint8_t *e = b.data + (size_t)i * DUMP_TINDEX_ENTRY_BYTES;
        int64_t ts = (int64_t)be64(e);
        int32_t rel = (int32_t)be32(e + 8);
        int64_t offset = base + rel;
        if (i > 0 && ts <= prev_ts)
            dump_index_problem(&problems,
                               "Time index entry not monotonic: timestamp: %" PRId64
                               " offset: %" PRId64 " after timestamp: %" PRId64,
                               ts, offset, prev_ts);
        if (rel < 0 || rel < prev_rel)
            dump_index_problem(&problems,
                               "Time index entry out of order: offset: %" PRId64
                               " after offset: %" PRId64,
                               offset, base + prev_rel);
        prev_ts = ts;
        prev_rel = rel;
        if (has_log && !o->index_sanity) {
            const dump_batch_t *bt = dump_find_offset(&list, offset);
            if (bt == NULL || bt->last_offset != offset)
                dump_index_problem(&problems,
                                   "Time index entry mismatch: timestamp: %" PRId64
                                   " offset: %" PRId64
                                   " is not the last offset of a batch in the log",
                                   ts, offset);
            else if (bt->max_timestamp != ts)
                dump_index_problem(&problems,
                                   "Time index entry mismatch: timestamp: %" PRId64
                                   " offset: %" PRId64
                                   " but that batch's max timestamp is %" PRId64,
                                   ts, offset, bt->max_timestamp);
        }
        if (!o->verify_index && !o->index_sanity)
            printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", ts, offset);
    }
    if (problems > DUMP_MAX_INDEX_PROBLEMS)
        printf("... and %u more time index problems\n", problems - DUMP_MAX_INDEX_PROBLEMS);
    if (o->index_sanity)
        printf("%s %s sanity check.\n", path, problems == 0 ? "passed" : "failed");
    else if (o->verify_index && problems == 0)
        printf("%s: %" PRIu32 " entries, no mismatch\n", path, used);
    free(list.batches);
    dump_buf_free(&b);
    return problems > 0;
}

/* --- command ------------------------------------------------------------------------ */

/* Fills `o` from the command line. Returns -1 to continue, or an exit code. */
static int dump_parse(int argc, char **argv, dump_opts_t *o)
{
    enum { OPT_FILES = 256, OPT_PRINT, OPT_DEEP, OPT_SANITY, OPT_VERIFY, OPT_OFFSETS };
    static const struct option longopts[] = {
        {"files", required_argument, NULL, OPT_FILES},
        {"print-data-log", no_argument, NULL, OPT_PRINT},
        {"deep-iteration", no_argument, NULL, OPT_DEEP},
        {"index-sanity-check", no_argument, NULL, OPT_SANITY},
        {"verify-index-only", no_argument, NULL, OPT_VERIFY},
        {"offsets-decoder", no_argument, NULL, OPT_OFFSETS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FILES:
            if (optarg[0] == '\0')
                return cli_usage_error("--files must not be empty");
            o->files = optarg;
            break;
        case OPT_PRINT:
            o->print_data = true;
            o->deep_iteration = true;
            break;
        case OPT_DEEP:
            o->deep_iteration = true;
            break;
        case OPT_OFFSETS:
            o->offsets_decoder = true;
            o->deep_iteration = true;
            break;
        case OPT_SANITY:
            o->index_sanity = true;
            break;
        case OPT_VERIFY:
            o->verify_index = true;
            break;
        case 'h':
            dump_usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->files == NULL)
        return cli_usage_error("--files is required");
    return -1;
}

int cli_dump_log_main(int argc, char **argv)
{
    dump_opts_t o = {0};
    int rc = dump_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    bool failed = false;
    unsigned nfiles = 0;
    for (char *save = NULL, *f = strtok_r(o.files, ",", &save); f != NULL;
         f = strtok_r(NULL, ",", &save)) {
        if (++nfiles > DUMP_MAX_FILES)
            return cli_usage_error("more than %d files in --files", DUMP_MAX_FILES);
        if (dump_has_suffix(f, ".log"))
            rc = dump_log_file(f, &o);
        else if (dump_has_suffix(f, ".index"))
            rc = dump_oindex_file(f, &o);
        else if (dump_has_suffix(f, ".timeindex"))
            rc = dump_tindex_file(f, &o);
        else {
            printf("Ignoring unknown file %s\n", f);
            rc = 0;
        }
        failed |= rc != 0;
        fflush(stdout);
    }
    if (nfiles == 0)
        return cli_usage_error("--files names no file");
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
