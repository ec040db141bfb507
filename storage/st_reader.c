/* st_reader.c — sequential buffered pread(2) for recovery and metadata-log replay:
 * one large read per chunk, so recovery runs at page-cache (or disk) speed rather
 * than at syscall speed. */
#include "sl_base.h"
#include "sl_limits.h"
#include "st_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int st_reader_init(st_reader_t *r, uint32_t cap)
{
    ASSERT(cap > 0);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->buf = malloc(cap);
    if (!r->buf)
        return -ENOMEM;
    r->cap = cap;
    return 0;
}

void st_reader_free(st_reader_t *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

void st_reader_reset(st_reader_t *r, int fd, int64_t file_size)
{
    r->fd = fd;
    r->file_size = file_size;
    r->buf_pos = 0;
    r->buf_len = 0;
}

int64_t st_reader_peek(st_reader_t *r, int64_t pos, uint32_t need, const uint8_t **out)
{
    ASSERT(pos >= 0 && r->fd >= 0);
    if (pos >= r->file_size)
        return 0;
    int64_t exist = SL_MIN((int64_t)need, r->file_size - pos);
    if (pos >= r->buf_pos && pos + exist <= r->buf_pos + r->buf_len) {
        *out = r->buf + (pos - r->buf_pos);
        return exist;
    }
    if ((uint64_t)exist > r->cap) {
        /* need is bounded by the callers (a batch or a record, each capped by a
         * named limit), so growing to it is bounded too. */
        uint8_t *b = realloc(r->buf, (size_t)exist);
        if (!b)
            return -ENOMEM;
        r->buf = b;
        r->cap = (uint32_t)exist;
    }
    /* Refill from pos: as much as fits, at least `exist`. */
    uint32_t want = (uint32_t)SL_MIN((int64_t)r->cap, r->file_size - pos);
    uint32_t got = 0;
    while (got < want) {
        ssize_t n = pread(r->fd, r->buf + got, want - got, pos + got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r->buf_len = 0;
            return -errno;
        }
        if (n == 0)
            break; /* the file shrank under us: report what exists */
        got += (uint32_t)n;
    }
    r->buf_pos = pos;
    r->buf_len = got;
    *out = r->buf;
    return SL_MIN(exist, (int64_t)got);
}
