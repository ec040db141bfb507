/* kp_codec.c — wire primitives, writer with out-of-line records, arena (kp_codec.h). */
#include "sl_base.h"

#include <stdlib.h>

#include "kp_codec.h"

/* ---------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------- */

kp_str_t kp_str_from(const char *s)
{
    if (!s)
        return KP_STR_NULL;
    size_t n = strlen(s);
    ASSERT(n <= INT32_MAX);
    return (kp_str_t){s, (int32_t)n};
}

bool kp_str_eq(kp_str_t s, const char *c)
{
    ASSERT(c != NULL);
    if (s.len < 0)
        return false;
    size_t n = strlen(c);
    return n == (size_t)s.len && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

bool kp_str_equal(kp_str_t a, kp_str_t b)
{
    if (a.len < 0 || b.len < 0)
        return a.len < 0 && b.len < 0;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

bool kp_bytes_equal(kp_bytes_t a, kp_bytes_t b)
{
    if (a.len < 0 || b.len < 0)
        return a.len < 0 && b.len < 0;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

bool kp_uuid_is_zero(const kp_uuid_t *u)
{
    ASSERT(u != NULL);
    uint8_t acc = 0;
    for (size_t i = 0; i < sizeof(u->b); i++)
        acc |= u->b[i];
    return acc == 0;
}

/* ---------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------- */

static inline bool rd_has(const kp_reader_t *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static inline uint16_t rd_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t rd_be64(const uint8_t *p)
{
    return (uint64_t)rd_be32(p) << 32 | rd_be32(p + 4);
}

int kp_read_int8(kp_reader_t *r, int8_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, 1)))
        return SL_ERR_PROTO;
    *out = (int8_t)r->p[0];
    r->p += 1;
    return 0;
}

int kp_read_int16(kp_reader_t *r, int16_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, 2)))
        return SL_ERR_PROTO;
    *out = (int16_t)rd_be16(r->p);
    r->p += 2;
    return 0;
}

int kp_read_int32(kp_reader_t *r, int32_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, 4)))
        return SL_ERR_PROTO;
    *out = (int32_t)rd_be32(r->p);
    r->p += 4;
    return 0;
}

int kp_read_int64(kp_reader_t *r, int64_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, 8)))
        return SL_ERR_PROTO;
    *out = (int64_t)rd_be64(r->p);
    r->p += 8;
    return 0;
}

int kp_read_uint16(kp_reader_t *r, uint16_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, 2)))
        return SL_ERR_PROTO;
    *out = rd_be16(r->p);
    r->p += 2;
    return 0;
}

int kp_read_uint32(kp_reader_t *r, uint32_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, 4)))
        return SL_ERR_PROTO;
    *out = rd_be32(r->p);
    r->p += 4;
    return 0;
}

int kp_read_float64(kp_reader_t *r, double *out)
{
    if (SL_UNLIKELY(!rd_has(r, 8)))
        return SL_ERR_PROTO;
    uint64_t bits = rd_be64(r->p);
    _Static_assert(sizeof(double) == sizeof(uint64_t), "IEEE 754 double");
    memcpy(out, &bits, sizeof(bits));
    r->p += 8;
    return 0;
}

int kp_read_bool(kp_reader_t *r, bool *out)
{
    if (SL_UNLIKELY(!rd_has(r, 1)))
        return SL_ERR_PROTO;
    *out = r->p[0] != 0;
    r->p += 1;
    return 0;
}

int kp_read_uuid(kp_reader_t *r, kp_uuid_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, 16)))
        return SL_ERR_PROTO;
    memcpy(out->b, r->p, 16);
    r->p += 16;
    return 0;
}

int kp_read_uvarint(kp_reader_t *r, uint32_t *out)
{
    uint32_t v = 0;
    const uint8_t *p = r->p;
    for (int i = 0; i < 5; i++) {
        if (SL_UNLIKELY(p == r->end))
            return SL_ERR_PROTO;
        uint8_t b = *p++;
        if (i == 4 && b > 0x0f)
            return SL_ERR_PROTO; /* continuation, or bits beyond 32 */
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            r->p = p;
            *out = v;
            return 0;
        }
    }
    return SL_ERR_PROTO; /* not reached: the fifth byte has no continuation */
}

int kp_read_uvarlong(kp_reader_t *r, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *p = r->p;
    for (int i = 0; i < 10; i++) {
        if (SL_UNLIKELY(p == r->end))
            return SL_ERR_PROTO;
        uint8_t b = *p++;
        if (i == 9 && b > 0x01)
            return SL_ERR_PROTO;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            r->p = p;
            *out = v;
            return 0;
        }
    }
    return SL_ERR_PROTO;
}

int kp_read_varint(kp_reader_t *r, int32_t *out)
{
    uint32_t u;
    int rc = kp_read_uvarint(r, &u);
    if (rc)
        return rc;
    *out = (int32_t)((u >> 1) ^ (~(u & 1) + 1));
    return 0;
}

int kp_read_varlong(kp_reader_t *r, int64_t *out)
{
    uint64_t u;
    int rc = kp_read_uvarlong(r, &u);
    if (rc)
        return rc;
    *out = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return 0;
}

/* Takes a string of n bytes (n already known to be >= 0). */
static int rd_take_str(kp_reader_t *r, uint64_t n, kp_str_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, n)))
        return SL_ERR_PROTO;
    if (SL_UNLIKELY(n > KP_MAX_STRING_BYTES))
        return SL_ERR_LIMIT;
    out->ptr = (const char *)r->p;
    out->len = (int32_t)n;
    r->p += n;
    return 0;
}

int kp_read_string(kp_reader_t *r, kp_str_t *out)
{
    kp_reader_t save = *r;
    int16_t n;
    int rc = kp_read_int16(r, &n);
    if (rc)
        return rc;
    if (n == -1) {
        *out = KP_STR_NULL;
        return 0;
    }
    if (SL_UNLIKELY(n < -1)) {
        *r = save;
        return SL_ERR_PROTO;
    }
    rc = rd_take_str(r, (uint64_t)n, out);
    if (rc)
        *r = save;
    return rc;
}

int kp_read_compact_string(kp_reader_t *r, kp_str_t *out)
{
    kp_reader_t save = *r;
    uint32_t n1;
    int rc = kp_read_uvarint(r, &n1);
    if (rc)
        return rc;
    if (n1 == 0) {
        *out = KP_STR_NULL;
        return 0;
    }
    rc = rd_take_str(r, (uint64_t)n1 - 1, out);
    if (rc)
        *r = save;
    return rc;
}

static int rd_take_bytes(kp_reader_t *r, uint64_t n, kp_bytes_t *out)
{
    if (SL_UNLIKELY(!rd_has(r, n) || n > INT32_MAX))
        return SL_ERR_PROTO;
    out->ptr = r->p;
    out->len = (int32_t)n;
    r->p += n;
    return 0;
}

int kp_read_bytes(kp_reader_t *r, kp_bytes_t *out)
{
    kp_reader_t save = *r;
    int32_t n;
    int rc = kp_read_int32(r, &n);
    if (rc)
        return rc;
    if (n == -1) {
        *out = KP_BYTES_NULL;
        return 0;
    }
    if (SL_UNLIKELY(n < -1)) {
        *r = save;
        return SL_ERR_PROTO;
    }
    rc = rd_take_bytes(r, (uint64_t)n, out);
    if (rc)
        *r = save;
    return rc;
}

int kp_read_compact_bytes(kp_reader_t *r, kp_bytes_t *out)
{
    kp_reader_t save = *r;
    uint32_t n1;
    int rc = kp_read_uvarint(r, &n1);
    if (rc)
        return rc;
    if (n1 == 0) {
        *out = KP_BYTES_NULL;
        return 0;
    }
    rc = rd_take_bytes(r, (uint64_t)n1 - 1, out);
    if (rc)
        *r = save;
    return rc;
}

static int rd_check_count(const kp_reader_t *r, uint64_t n)
{
    if (SL_UNLIKELY(!rd_has(r, n)))
        return SL_ERR_PROTO;
    if (SL_UNLIKELY(n > KP_MAX_ARRAY_COUNT))
        return SL_ERR_LIMIT;
    return 0;
}

int kp_read_array_count(kp_reader_t *r, int32_t *out)
{
    kp_reader_t save = *r;
    int32_t n;
    int rc = kp_read_int32(r, &n);
    if (rc)
        return rc;
    if (n < -1) {
        *r = save;
        return SL_ERR_PROTO;
    }
    if (n >= 0 && (rc = rd_check_count(r, (uint64_t)n)) != 0) {
        *r = save;
        return rc;
    }
    *out = n;
    return 0;
}

int kp_read_compact_array_count(kp_reader_t *r, int32_t *out)
{
    kp_reader_t save = *r;
    uint32_t n1;
    int rc = kp_read_uvarint(r, &n1);
    if (rc)
        return rc;
    if (n1 == 0) {
        *out = -1;
        return 0;
    }
    if ((rc = rd_check_count(r, (uint64_t)n1 - 1)) != 0) {
        *r = save;
        return rc;
    }
    *out = (int32_t)(n1 - 1);
    return 0;
}

int kp_read_skip(kp_reader_t *r, size_t n)
{
    if (SL_UNLIKELY(!rd_has(r, n)))
        return SL_ERR_PROTO;
    r->p += n;
    return 0;
}

int kp_read_tagged_skip(kp_reader_t *r)
{
    int rc;
    uint32_t count;
    KP_TRY(kp_read_uvarint(r, &count));
    if (count > KP_MAX_TAGGED_FIELDS)
        return SL_ERR_LIMIT;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t tag, size;
        KP_TRY(kp_read_uvarint(r, &tag));
        KP_TRY(kp_read_uvarint(r, &size));
        KP_TRY(kp_read_skip(r, size));
    }
    return 0;
err_parse:
    return rc;
}

/* ---------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------- */

void kp_writer_init(kp_writer_t *w, void *buf, size_t cap)
{
    ASSERT(w != NULL);
    ASSERT(buf != NULL || cap == 0);
    memset(w, 0, sizeof(*w));
    w->buf = buf;
    w->cap = cap;
}

void kp_writer_set_ext(kp_writer_t *w, kp_ext_t *ext, uint32_t ext_cap, size_t threshold)
{
    ASSERT(w != NULL);
    ASSERT(ext != NULL || ext_cap == 0);
    ASSERT(w->ext_count == 0);
    w->ext = ext;
    w->ext_cap = ext_cap;
    w->ext_threshold = threshold;
}

size_t kp_writer_total_len(const kp_writer_t *w)
{
    return w->len + w->ext_bytes;
}

size_t kp_writer_iov(const kp_writer_t *w, struct iovec *iov, size_t iov_cap)
{
    ASSERT(iov != NULL || iov_cap == 0);
    size_t n = 0, from = 0;
    for (uint32_t i = 0; i <= w->ext_count; i++) {
        size_t to = i < w->ext_count ? w->ext[i].at : w->len;
        ASSERT(to >= from && to <= w->len);
        if (to > from) {
            if (n < iov_cap)
                iov[n] = (struct iovec){w->buf + from, to - from};
            n++;
        }
        from = to;
        if (i < w->ext_count && w->ext[i].len > 0) {
            if (n < iov_cap)
                iov[n] = (struct iovec){(void *)(uintptr_t)w->ext[i].ptr, w->ext[i].len};
            n++;
        }
    }
    return n;
}

/* Reserves n inline bytes; NULL (and the overflow flag) when they do not fit. */
static inline uint8_t *wr_reserve(kp_writer_t *w, size_t n)
{
    if (SL_UNLIKELY(w->overflow || w->cap - w->len < n)) {
        w->overflow = true;
        return NULL;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

void kp_write_raw(kp_writer_t *w, const void *p, size_t n)
{
    ASSERT(p != NULL || n == 0);
    uint8_t *d = wr_reserve(w, n);
    if (d && n)
        memcpy(d, p, n);
}

static inline void wr_be16(uint8_t *d, uint16_t v)
{
    d[0] = (uint8_t)(v >> 8);
    d[1] = (uint8_t)v;
}

static inline void wr_be32(uint8_t *d, uint32_t v)
{
    d[0] = (uint8_t)(v >> 24);
    d[1] = (uint8_t)(v >> 16);
    d[2] = (uint8_t)(v >> 8);
    d[3] = (uint8_t)v;
}

static inline void wr_be64(uint8_t *d, uint64_t v)
{
    wr_be32(d, (uint32_t)(v >> 32));
    wr_be32(d + 4, (uint32_t)v);
}

void kp_write_int8(kp_writer_t *w, int8_t v)
{
    uint8_t *d = wr_reserve(w, 1);
    if (d)
        d[0] = (uint8_t)v;
}

void kp_write_int16(kp_writer_t *w, int16_t v)
{
    uint8_t *d = wr_reserve(w, 2);
    if (d)
        wr_be16(d, (uint16_t)v);
}

void kp_write_int32(kp_writer_t *w, int32_t v)
{
    uint8_t *d = wr_reserve(w, 4);
    if (d)
        wr_be32(d, (uint32_t)v);
}

void kp_write_int64(kp_writer_t *w, int64_t v)
{
    uint8_t *d = wr_reserve(w, 8);
    if (d)
        wr_be64(d, (uint64_t)v);
}

void kp_write_uint16(kp_writer_t *w, uint16_t v)
{
    uint8_t *d = wr_reserve(w, 2);
    if (d)
        wr_be16(d, v);
}

void kp_write_uint32(kp_writer_t *w, uint32_t v)
{
    uint8_t *d = wr_reserve(w, 4);
    if (d)
        wr_be32(d, v);
}

void kp_write_float64(kp_writer_t *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint8_t *d = wr_reserve(w, 8);
    if (d)
        wr_be64(d, bits);
}

void kp_write_bool(kp_writer_t *w, bool v)
{
    kp_write_int8(w, v ? 1 : 0);
}

void kp_write_uuid(kp_writer_t *w, const kp_uuid_t *v)
{
    kp_write_raw(w, v->b, sizeof(v->b));
}

void kp_write_uvarlong(kp_writer_t *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    kp_write_raw(w, tmp, n);
}

void kp_write_uvarint(kp_writer_t *w, uint32_t v)
{
    kp_write_uvarlong(w, v);
}

void kp_write_varint(kp_writer_t *w, int32_t v)
{
    kp_write_uvarint(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void kp_write_varlong(kp_writer_t *w, int64_t v)
{
    kp_write_uvarlong(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void kp_write_string(kp_writer_t *w, kp_str_t s)
{
    if (s.len < 0) {
        kp_write_int16(w, -1);
        return;
    }
    ASSERT(s.len <= INT16_MAX); /* our data: a classic string cannot hold more */
    kp_write_int16(w, (int16_t)s.len);
    kp_write_raw(w, s.ptr, (size_t)s.len);
}

void kp_write_compact_string(kp_writer_t *w, kp_str_t s)
{
    if (s.len < 0) {
        kp_write_uvarint(w, 0);
        return;
    }
    kp_write_uvarint(w, (uint32_t)s.len + 1);
    kp_write_raw(w, s.ptr, (size_t)s.len);
}

void kp_write_bytes(kp_writer_t *w, kp_bytes_t b)
{
    kp_write_int32(w, b.len < 0 ? -1 : b.len);
    if (b.len > 0)
        kp_write_raw(w, b.ptr, (size_t)b.len);
}

void kp_write_compact_bytes(kp_writer_t *w, kp_bytes_t b)
{
    kp_write_uvarint(w, b.len < 0 ? 0 : (uint32_t)b.len + 1);
    if (b.len > 0)
        kp_write_raw(w, b.ptr, (size_t)b.len);
}

void kp_write_records(kp_writer_t *w, bool compact, kp_bytes_t b)
{
    if (b.len <= 0 || w->ext_count >= w->ext_cap || (size_t)b.len < w->ext_threshold) {
        kp_write_byt(w, compact, b);
        return;
    }
    if (compact)
        kp_write_uvarint(w, (uint32_t)b.len + 1);
    else
        kp_write_int32(w, b.len);
    if (w->overflow)
        return;
    ASSERT(b.ptr != NULL);
    w->ext[w->ext_count++] = (kp_ext_t){w->len, b.ptr, (size_t)b.len};
    w->ext_bytes += (size_t)b.len;
}

void kp_write_array_count(kp_writer_t *w, int32_t count)
{
    kp_write_int32(w, count < 0 ? -1 : count);
}

void kp_write_compact_array_count(kp_writer_t *w, int32_t count)
{
    kp_write_uvarint(w, count < 0 ? 0 : (uint32_t)count + 1);
}

/* ---------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------- */

size_t kp_uvarlong_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t kp_uvarint_size(uint32_t v)
{
    return kp_uvarlong_size(v);
}

size_t kp_varint_size(int32_t v)
{
    return kp_uvarint_size(((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

size_t kp_varlong_size(int64_t v)
{
    return kp_uvarlong_size(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* ---------------------------------------------------------------------------
 * Arena
 * ------------------------------------------------------------------------- */

struct kp_arena_chunk {
    struct kp_arena_chunk *next; /* next newer chunk */
    size_t cap;                  /* bytes in data[] */
    size_t used;                 /* bytes handed out from data[] */
    _Alignas(8) uint8_t data[];
};

#define KP_ARENA_ALIGN 8

void kp_arena_init(kp_arena_t *a, size_t max_bytes)
{
    ASSERT(a != NULL);
    ASSERT(max_bytes > 0);
    memset(a, 0, sizeof(*a));
    a->max_bytes = max_bytes;
}

/* Adds a chunk able to hold `bytes`; false when max_bytes or malloc forbid it. */
static bool arena_grow(kp_arena_t *a, size_t bytes)
{
    size_t budget = a->max_bytes - a->held_bytes;
    size_t cap = a->head ? a->head->cap * 2 : KP_ARENA_FIRST_CHUNK_BYTES;
    cap = SL_MAX(cap, bytes);
    cap = SL_MIN(cap, budget);
    if (cap < bytes)
        return false;
    kp_arena_chunk_t *c = malloc(sizeof(*c) + cap);
    if (!c)
        return false;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    if (a->head)
        a->head->next = c;
    else
        a->first = c;
    a->head = c;
    a->held_bytes += cap;
    return true;
}

void *kp_arena_alloc(kp_arena_t *a, size_t bytes)
{
    ASSERT(a != NULL && a->max_bytes > 0);
    if (bytes > a->max_bytes)
        return NULL;
    size_t need = SL_ALIGN_UP(bytes, (size_t)KP_ARENA_ALIGN);
    kp_arena_chunk_t *c = a->head;
    if (!c || c->cap - c->used < need) {
        if (!arena_grow(a, need))
            return NULL;
        c = a->head;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used_bytes += need;
    memset(p, 0, bytes);
    DEBUG_ASSERT(((uintptr_t)p & (KP_ARENA_ALIGN - 1)) == 0);
    return p;
}

void kp_arena_reset(kp_arena_t *a)
{
    ASSERT(a != NULL);
    kp_arena_chunk_t *first = a->first;
    if (!first)
        return;
    kp_arena_chunk_t *c = first->next;
    while (c) {
        kp_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    first->next = NULL;
    first->used = 0;
    a->head = first;
    a->held_bytes = first->cap;
    a->used_bytes = 0;
}

void kp_arena_destroy(kp_arena_t *a)
{
    ASSERT(a != NULL);
    kp_arena_chunk_t *c = a->first;
    while (c) {
        kp_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->first = a->head = NULL;
    a->held_bytes = 0;
    a->used_bytes = 0;
}
