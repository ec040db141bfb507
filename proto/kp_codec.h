/*
 * kp_codec.h — the primitives of the Kafka wire protocol: bounds-checked reads,
 * overflow-safe writes, zero-copy views and the per-request arena. The code
 * generated from proto/messages/<api>.kp (kp_messages.h) is written against this
 * header and nothing else; hand-written codecs (kp_header.c) use it too.
 *
 * Wire primitives (all integers big-endian, KAFKA-PROTOCOL.md §1):
 *
 *   type            classic encoding                 compact (flexible) encoding
 *   --------------  -------------------------------  ---------------------------------
 *   int8..int64     1/2/4/8 bytes two's complement   same
 *   uint16, uint32  2/4 bytes                        same
 *   float64         8 bytes IEEE 754                 same
 *   bool            1 byte, 0 = false                same
 *   uuid            16 bytes                         same
 *   string          int16 N, then N bytes; -1 null   uvarint N+1, then N bytes; 0 null
 *   bytes, records  int32 N, then N bytes; -1 null   uvarint N+1, then N bytes; 0 null
 *   array           int32 N, then N items; -1 null   uvarint N+1, then N items; 0 null
 *   varint/varlong  zig-zag, 7 bits a byte, LSB first (record fields only)
 *   uvarint         unsigned, 7 bits a byte, at most 5 bytes (10 for uvarlong)
 *   tagged fields   (flexible only) uvarint count, then {uvarint tag, uvarint size, data}
 *
 * Reader (kp_reader_t): a view [p, end) of caller-owned bytes. Every read checks
 * the remaining bytes first and fails without consuming anything it cannot
 * complete. Reads return 0, or:
 *   SL_ERR_PROTO  the bytes are malformed: truncated, a length below -1, a
 *                 length or count larger than the bytes that remain, a varint
 *                 longer than its type allows;
 *   SL_ERR_LIMIT  a well-formed value exceeds a named limit (sl_limits.h).
 * A reader is always given a complete frame, so running out of bytes is a
 * protocol error, never SL_ERR_AGAIN. A failed primitive read consumes nothing;
 * after a failed message decode the position is unspecified and the caller
 * abandons the frame (answering it if it can). Strings and bytes read are views
 * into the reader's buffer (zero-copy): they live as long as that buffer.
 * Generated decoders use KP_TRY (rdkafka_buf.h style: one error label).
 *
 * Writer (kp_writer_t): appends to a caller buffer of fixed capacity. The first
 * write that does not fit sets a sticky overflow flag; from then on writes are
 * ignored and the encoder reports SL_ERR_NOSPACE. Optionally the writer keeps
 * large `records` values out of line (kp_writer_set_ext): only the length prefix
 * is written inline and {inline offset, pointer, length} is recorded, so the
 * response is sent with writev/sendmsg without copying record data. The caller
 * keeps those pointers valid until the bytes are sent.
 *
 * Arena (kp_arena_t): per-request bump allocator for decoded arrays and nested
 * structs. Owned by whoever decodes (one per connection slot on a shard; not
 * thread-safe). Everything allocated is released at once by kp_arena_reset().
 *
 * Invariants: r->p <= r->end; w->len <= w->cap; ext entries are in increasing
 * `at` order and every ext[i].at <= w->len. Programming errors (NULL pointers,
 * writing a classic string longer than 32767 bytes) are ASSERTs; bytes from the
 * network never reach an ASSERT.
 */
#ifndef KP_CODEC_H
#define KP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "sl_base.h"
#include "sl_limits.h"

/* ---------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------- */

/* A string view: NOT NUL-terminated. len == -1 means null (ptr unused). After a
 * decode, ptr points into the input buffer. */
typedef struct {
    const char *ptr;
    int32_t len;
} kp_str_t;

/* A byte view (bytes and records): len == -1 means null. Zero-copy like kp_str_t. */
typedef struct {
    const uint8_t *ptr;
    int32_t len;
} kp_bytes_t;

typedef struct {
    uint8_t b[16];
} kp_uuid_t;

#define KP_STR_NULL ((kp_str_t){NULL, -1})
#define KP_BYTES_NULL ((kp_bytes_t){NULL, -1})

/* A view of a NUL-terminated C string (NULL gives the null string). */
kp_str_t kp_str_from(const char *s);
/* True when s is not null and holds exactly the bytes of the C string c. */
bool kp_str_eq(kp_str_t s, const char *c);
/* True when both are null, or both hold the same bytes. */
bool kp_str_equal(kp_str_t a, kp_str_t b);
bool kp_bytes_equal(kp_bytes_t a, kp_bytes_t b);
bool kp_uuid_is_zero(const kp_uuid_t *u);

static inline bool kp_str_is_null(kp_str_t s)
{
    return s.len < 0;
}

/* The value to encode where a field is not nullable: null becomes empty. */
static inline kp_str_t kp_str_nonnull(kp_str_t s)
{
    return s.len < 0 ? (kp_str_t){"", 0} : s;
}

static inline kp_bytes_t kp_bytes_nonnull(kp_bytes_t b)
{
    return b.len < 0 ? (kp_bytes_t){NULL, 0} : b;
}

/* ---------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last readable byte */
} kp_reader_t;

static inline void kp_reader_init(kp_reader_t *r, const void *buf, size_t len)
{
    ASSERT(r != NULL);
    ASSERT(buf != NULL || len == 0);
    r->p = (const uint8_t *)buf;
    r->end = r->p + len;
}

static inline size_t kp_reader_remaining(const kp_reader_t *r)
{
    DEBUG_ASSERT(r->p <= r->end);
    return (size_t)(r->end - r->p);
}

/* Evaluate a read; on failure store the code in the local `rc` and jump to
 * `err_parse`. Every decoder that uses it declares `int rc` and the label. */
#define KP_TRY(expr)                                                                               \
    do {                                                                                           \
        int kp_try_rc_ = (expr);                                                                   \
        if (SL_UNLIKELY(kp_try_rc_ != 0)) {                                                        \
            rc = kp_try_rc_;                                                                       \
            goto err_parse;                                                                        \
        }                                                                                          \
    } while (0)

/* Fixed-size reads. */
int kp_read_int8(kp_reader_t *r, int8_t *out);
int kp_read_int16(kp_reader_t *r, int16_t *out);
int kp_read_int32(kp_reader_t *r, int32_t *out);
int kp_read_int64(kp_reader_t *r, int64_t *out);
int kp_read_uint16(kp_reader_t *r, uint16_t *out);
int kp_read_uint32(kp_reader_t *r, uint32_t *out);
int kp_read_float64(kp_reader_t *r, double *out);
/* Any non-zero byte reads as true (as Kafka does). */
int kp_read_bool(kp_reader_t *r, bool *out);
int kp_read_uuid(kp_reader_t *r, kp_uuid_t *out);

/* Unsigned varints: at most 5 bytes and 32 bits (uvarint), 10 bytes and 64 bits
 * (uvarlong); longer encodings are SL_ERR_PROTO. */
int kp_read_uvarint(kp_reader_t *r, uint32_t *out);
int kp_read_uvarlong(kp_reader_t *r, uint64_t *out);
/* Zig-zag signed varints (record format). */
int kp_read_varint(kp_reader_t *r, int32_t *out);
int kp_read_varlong(kp_reader_t *r, int64_t *out);

/* Strings: length checked against the remaining bytes (SL_ERR_PROTO) and
 * KP_MAX_STRING_BYTES (SL_ERR_LIMIT). A null string reads as len -1. */
int kp_read_string(kp_reader_t *r, kp_str_t *out);
int kp_read_compact_string(kp_reader_t *r, kp_str_t *out);
/* Bytes: length checked against the remaining bytes. Null reads as len -1. */
int kp_read_bytes(kp_reader_t *r, kp_bytes_t *out);
int kp_read_compact_bytes(kp_reader_t *r, kp_bytes_t *out);
/* Array counts: -1 (null) or 0..KP_MAX_ARRAY_COUNT (else SL_ERR_LIMIT), and a
 * count larger than the remaining bytes is SL_ERR_PROTO (every element of
 * every array takes at least one byte on the wire). */
int kp_read_array_count(kp_reader_t *r, int32_t *out);
int kp_read_compact_array_count(kp_reader_t *r, int32_t *out);
/* Skips n bytes (SL_ERR_PROTO if fewer remain). */
int kp_read_skip(kp_reader_t *r, size_t n);
/* Reads and discards a whole tagged-field section. */
int kp_read_tagged_skip(kp_reader_t *r);

/* Short spellings of the fixed-size reads. */
static inline int kp_read_i8(kp_reader_t *r, int8_t *out)
{
    return kp_read_int8(r, out);
}

static inline int kp_read_i16(kp_reader_t *r, int16_t *out)
{
    return kp_read_int16(r, out);
}

static inline int kp_read_i32(kp_reader_t *r, int32_t *out)
{
    return kp_read_int32(r, out);
}

static inline int kp_read_i64(kp_reader_t *r, int64_t *out)
{
    return kp_read_int64(r, out);
}

/* Dispatch on the encoding of the version being decoded. */
static inline int kp_read_str(kp_reader_t *r, bool compact, kp_str_t *out)
{
    return compact ? kp_read_compact_string(r, out) : kp_read_string(r, out);
}

static inline int kp_read_byt(kp_reader_t *r, bool compact, kp_bytes_t *out)
{
    return compact ? kp_read_compact_bytes(r, out) : kp_read_bytes(r, out);
}

static inline int kp_read_count(kp_reader_t *r, bool compact, int32_t *out)
{
    return compact ? kp_read_compact_array_count(r, out) : kp_read_array_count(r, out);
}

/* ---------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------- */

/* A piece of output kept out of line: `len` bytes at `ptr` belong right after
 * the first `at` inline bytes. */
typedef struct {
    size_t at;
    const void *ptr;
    size_t len;
} kp_ext_t;

typedef struct {
    uint8_t *buf;         /* caller-owned inline buffer */
    size_t cap;           /* its capacity */
    size_t len;           /* inline bytes written */
    bool overflow;        /* sticky: a write did not fit; later writes ignored */
    kp_ext_t *ext;        /* caller-owned slots for out-of-line records, or NULL */
    uint32_t ext_cap;     /* number of slots */
    uint32_t ext_count;   /* slots used */
    size_t ext_threshold; /* records of at least this many bytes go out of line */
    size_t ext_bytes;     /* total out-of-line bytes */
} kp_writer_t;

/* Starts writing at buf[0]. Out-of-line records are off until kp_writer_set_ext. */
void kp_writer_init(kp_writer_t *w, void *buf, size_t cap);
/* Enables out-of-line records: a `records` value of len >= threshold (and > 0)
 * uses a free slot of ext[0..ext_cap); when none is free it is copied inline. */
void kp_writer_set_ext(kp_writer_t *w, kp_ext_t *ext, uint32_t ext_cap, size_t threshold);

static inline bool kp_writer_overflowed(const kp_writer_t *w)
{
    return w->overflow;
}

/* Inline plus out-of-line bytes: the logical length of what was written. */
size_t kp_writer_total_len(const kp_writer_t *w);
/* Fills iov[0..iov_cap) with the output in order, inline pieces interleaved with
 * out-of-line ones, skipping empty pieces. Returns the number of entries the
 * whole output needs (at most 2 * ext_count + 1); if that is more than iov_cap
 * only the first iov_cap are filled. */
size_t kp_writer_iov(const kp_writer_t *w, struct iovec *iov, size_t iov_cap);

void kp_write_raw(kp_writer_t *w, const void *p, size_t n);
void kp_write_int8(kp_writer_t *w, int8_t v);
void kp_write_int16(kp_writer_t *w, int16_t v);
void kp_write_int32(kp_writer_t *w, int32_t v);
void kp_write_int64(kp_writer_t *w, int64_t v);
void kp_write_uint16(kp_writer_t *w, uint16_t v);
void kp_write_uint32(kp_writer_t *w, uint32_t v);
void kp_write_float64(kp_writer_t *w, double v);
void kp_write_bool(kp_writer_t *w, bool v);
void kp_write_uuid(kp_writer_t *w, const kp_uuid_t *v);
void kp_write_uvarint(kp_writer_t *w, uint32_t v);
void kp_write_uvarlong(kp_writer_t *w, uint64_t v);
void kp_write_varint(kp_writer_t *w, int32_t v);
void kp_write_varlong(kp_writer_t *w, int64_t v);
/* Null (len -1) is written as the null encoding. */
void kp_write_string(kp_writer_t *w, kp_str_t s);
void kp_write_compact_string(kp_writer_t *w, kp_str_t s);
void kp_write_bytes(kp_writer_t *w, kp_bytes_t b);
void kp_write_compact_bytes(kp_writer_t *w, kp_bytes_t b);
/* Like bytes, but eligible for out-of-line placement (see kp_writer_set_ext). */
void kp_write_records(kp_writer_t *w, bool compact, kp_bytes_t b);
/* count -1 writes a null array. */
void kp_write_array_count(kp_writer_t *w, int32_t count);
void kp_write_compact_array_count(kp_writer_t *w, int32_t count);

/* Short spellings of the fixed-size writes. */
static inline void kp_write_i8(kp_writer_t *w, int8_t v)
{
    kp_write_int8(w, v);
}

static inline void kp_write_i16(kp_writer_t *w, int16_t v)
{
    kp_write_int16(w, v);
}

static inline void kp_write_i32(kp_writer_t *w, int32_t v)
{
    kp_write_int32(w, v);
}

static inline void kp_write_i64(kp_writer_t *w, int64_t v)
{
    kp_write_int64(w, v);
}

static inline void kp_write_str(kp_writer_t *w, bool compact, kp_str_t s)
{
    if (compact)
        kp_write_compact_string(w, s);
    else
        kp_write_string(w, s);
}

static inline void kp_write_byt(kp_writer_t *w, bool compact, kp_bytes_t b)
{
    if (compact)
        kp_write_compact_bytes(w, b);
    else
        kp_write_bytes(w, b);
}

static inline void kp_write_count(kp_writer_t *w, bool compact, int32_t count)
{
    if (compact)
        kp_write_compact_array_count(w, count);
    else
        kp_write_array_count(w, count);
}

/* ---------------------------------------------------------------------------
 * Sizes (exact encoded byte counts)
 * ------------------------------------------------------------------------- */

size_t kp_uvarint_size(uint32_t v);
size_t kp_uvarlong_size(uint64_t v);
size_t kp_varint_size(int32_t v);
size_t kp_varlong_size(int64_t v);

static inline size_t kp_str_size(kp_str_t s, bool compact)
{
    if (compact)
        return s.len < 0 ? 1 : kp_uvarint_size((uint32_t)s.len + 1) + (size_t)s.len;
    return 2 + (s.len < 0 ? 0 : (size_t)s.len);
}

static inline size_t kp_bytes_size(kp_bytes_t b, bool compact)
{
    if (compact)
        return b.len < 0 ? 1 : kp_uvarint_size((uint32_t)b.len + 1) + (size_t)b.len;
    return 4 + (b.len < 0 ? 0 : (size_t)b.len);
}

static inline size_t kp_count_size(int32_t count, bool compact)
{
    if (compact)
        return count < 0 ? 1 : kp_uvarint_size((uint32_t)count + 1);
    return 4;
}

/* ---------------------------------------------------------------------------
 * Arena
 *
 * Sizing: the first chunk holds KP_ARENA_FIRST_CHUNK_BYTES (enough for a typical
 * Produce or Fetch request of a few dozen partitions) and is kept across
 * kp_arena_reset(), so a steady request mix never calls malloc. Each further
 * chunk doubles the previous one (or fits the allocation, if larger), capped so
 * that the chunks together never exceed max_bytes: a hostile request cannot make
 * the arena hold more than max_bytes (plus one small header per chunk). Every
 * array element costs at least one wire byte, so a decoded request needs at
 * most (largest element struct size) x (frame bytes); SL_MAX_REQUEST_ARENA_BYTES
 * covers the request sizes clients send in practice.
 * ------------------------------------------------------------------------- */

typedef struct kp_arena_chunk kp_arena_chunk_t;

typedef struct {
    kp_arena_chunk_t *head;  /* chunk being filled (newest); NULL before first use */
    kp_arena_chunk_t *first; /* oldest chunk, kept by reset */
    size_t held_bytes;       /* capacity of all chunks held */
    size_t max_bytes;        /* bound on held_bytes */
    size_t used_bytes;       /* bytes handed out since the last reset (with padding) */
} kp_arena_t;

/* Prepares an empty arena; allocates nothing yet. max_bytes > 0. */
void kp_arena_init(kp_arena_t *a, size_t max_bytes);
/* Returns `bytes` zeroed bytes aligned to 8, valid until the next reset or
 * destroy. Returns NULL (and changes nothing) when the chunks would exceed
 * max_bytes or malloc fails; decoders turn that into SL_ERR_LIMIT. */
void *kp_arena_alloc(kp_arena_t *a, size_t bytes);
/* Releases every allocation; keeps the first chunk for reuse. */
void kp_arena_reset(kp_arena_t *a);
/* Frees all chunks; the arena may be initialized again. */
void kp_arena_destroy(kp_arena_t *a);

#endif /* KP_CODEC_H */
