/* sl_producer_ids.c — the producer id allocator. See sl_producer_ids.h. */
#include "sl_base.h"
#include "sl_producer_ids.h"
#include "sl_log.h"
#include "kp_crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PID_FILE_BYTES 20
static const uint8_t pid_magic[4] = {'S', 'L', 'P', 'I'};

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void encode_file(uint8_t out[PID_FILE_BYTES], int64_t next_block_start)
{
    memcpy(out, pid_magic, 4);
    out[4] = out[5] = out[6] = out[7] = 0; /* version 0, reserved 0 */
    put_be64(out + 8, (uint64_t)next_block_start);
    uint32_t crc = kp_crc32c(0, out, 16);
    out[16] = (uint8_t)(crc >> 24);
    out[17] = (uint8_t)(crc >> 16);
    out[18] = (uint8_t)(crc >> 8);
    out[19] = (uint8_t)crc;
}

/* Returns 0 and the value, or SL_ERR_CORRUPT with the reason in *why. */
static int decode_file(const uint8_t *buf, ssize_t len, int64_t *value, const char **why)
{
    if (len != PID_FILE_BYTES) {
        *why = "wrong size";
        return SL_ERR_CORRUPT;
    }
    uint32_t crc = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 |
                   buf[19];
    if (memcmp(buf, pid_magic, 4) != 0) {
        *why = "bad magic";
        return SL_ERR_CORRUPT;
    }
    if (kp_crc32c(0, buf, 16) != crc) {
        *why = "CRC mismatch";
        return SL_ERR_CORRUPT;
    }
    if (buf[4] != 0 || buf[5] != 0 || buf[6] != 0 || buf[7] != 0) {
        *why = "unknown version";
        return SL_ERR_CORRUPT;
    }
    int64_t v = (int64_t)get_be64(buf + 8);
    if (v < 0 || v > SL_PRODUCER_ID_MAX) {
        *why = "value out of range";
        return SL_ERR_CORRUPT;
    }
    *value = v;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Durably replaces the file with value: temp + fsync + rename + dir fsync.
 * Returns 0 or -errno (the old file is then still in place). */
static int persist(const sl_producer_ids_t *p, int64_t value)
{
    char tmp[SL_MAX_PATH];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", p->path);
    if (n <= 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    uint8_t buf[PID_FILE_BYTES];
    encode_file(buf, value);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = write_all(fd, buf, sizeof(buf));
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc != 0)
        goto out_unlink;
    if (rename(tmp, p->path) != 0) {
        rc = -errno;
        goto out_unlink;
    }
    int dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    rc = fsync(dfd) != 0 ? -errno : 0;
    close(dfd);
    return rc;
out_unlink:
    unlink(tmp);
    return rc;
}

int sl_producer_ids_open(const char *log_dir, sl_producer_ids_t **out, char *err, size_t err_len)
{
    *out = NULL;
    sl_producer_ids_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    int n1 = snprintf(p->dir, sizeof(p->dir), "%s/%s", log_dir, SL_PRODUCER_ID_DIR);
    int n2 = snprintf(p->path, sizeof(p->path), "%s/%s", p->dir, SL_PRODUCER_ID_FILE);
    int rc = 0;
    if (n1 <= 0 || (size_t)n1 >= sizeof(p->dir) || n2 <= 0 || (size_t)n2 + 8 >= sizeof(p->path)) {
        snprintf(err, err_len, "log dir path too long for %s", SL_PRODUCER_ID_FILE);
        rc = -ENAMETOOLONG;
        goto out_free;
    }
    if (mkdir(p->dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, err_len, "cannot create %s: %s", p->dir, strerror(errno));
        goto out_free;
    }
    int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        p->next_id = p->block_end = 0; /* fresh broker */
    } else if (fd < 0) {
        rc = -errno;
        snprintf(err, err_len, "cannot open %s: %s", p->path, strerror(errno));
        goto out_free;
    } else {
        uint8_t buf[PID_FILE_BYTES + 1];
        ssize_t len = read(fd, buf, sizeof(buf));
        int read_errno = errno;
        close(fd);
        if (len < 0) {
            rc = -read_errno;
            snprintf(err, err_len, "cannot read %s: %s", p->path, strerror(read_errno));
            goto out_free;
        }
        const char *why = NULL;
        int64_t v = 0;
        if (decode_file(buf, len, &v, &why) != 0) {
            rc = SL_ERR_CORRUPT;
            snprintf(err, err_len,
                     "%s is corrupt (%s); refusing to start, since producer ids could be "
                     "reused. If this log dir really has no producers to protect, remove the "
                     "file; otherwise restore it",
                     p->path, why);
            goto out_free;
        }
        p->next_id = p->block_end = v;
    }
    *out = p;
    return 0;
out_free:
    free(p);
    return rc;
}

void sl_producer_ids_close(sl_producer_ids_t *p)
{
    free(p);
}

int sl_producer_ids_next(sl_producer_ids_t *p, int64_t *id)
{
    ASSERT(p->next_id <= p->block_end);
    if (p->next_id > SL_PRODUCER_ID_MAX)
        return SL_ERR_LIMIT;
    if (p->next_id == p->block_end) {
        int64_t end = p->block_end + SL_PRODUCER_ID_BLOCK_SIZE;
        int rc = persist(p, end);
        if (rc != 0) {
            LOG_ERROR("cannot reserve producer ids %lld..%lld in %s: %s", (long long)p->block_end,
                      (long long)end - 1, p->path, strerror(-rc));
            return rc;
        }
        LOG_DEBUG("reserved producer ids %lld..%lld", (long long)p->block_end, (long long)end - 1);
        p->block_end = end;
    }
    *id = p->next_id++;
    ASSERT(*id >= 0 && p->next_id <= p->block_end);
    return 0;
}
