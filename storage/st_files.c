/* st_files.c — small durable files: partition.metadata, the clean-shutdown marker,
 * directory fsync, and Kafka's base64url topic-id text form. */
#include "sl_base.h"
#include "sl_limits.h"
#include "sl_log.h"
#include "st_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLEAN_MARKER_NAME ".kafka_cleanshutdown"
#define CLEAN_MARKER_CONTENT "{\"version\":0,\"brokerEpoch\":-1}"
#define PARTITION_METADATA_NAME "partition.metadata"
#define PARTITION_METADATA_MAX_BYTES 256

int st_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return err;
}

int st_fsync_parent_dir(const char *path)
{
    char parent[SL_MAX_PATH];
    size_t n = strnlen(path, sizeof(parent));
    if (n == 0 || n >= sizeof(parent))
        return -ENAMETOOLONG;
    memcpy(parent, path, n + 1);
    while (n > 1 && parent[n - 1] == '/') /* "a/b/" -> "a/b" */
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        return st_fsync_dir(".");
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    return st_fsync_dir(parent);
}

int st_dir_remove_all(const char *dir)
{
    int err = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT && !err)
                err = -errno;
        }
        closedir(d);
    } else if (errno != ENOENT) {
        err = -errno;
    }
    if (rmdir(dir) != 0 && errno != ENOENT && !err)
        err = -errno;
    return err;
}

/* What write_file_sync makes durable before returning. */
enum {
    WRITE_SYNC_FILE = 1, /* fsync the content before the rename */
    WRITE_SYNC_DIR = 2,  /* fsync the directory after it (the rename itself) */
    WRITE_DURABLE = WRITE_SYNC_FILE | WRITE_SYNC_DIR,
};

/* Writes content to dir/name through dir/name.tmp + rename, with the fsyncs
 * of `sync` (WRITE_*). */
static int write_file_sync(const char *dir, const char *name, const char *content, size_t len,
                           int sync)
{
    char path[SL_MAX_PATH], tmp[SL_MAX_PATH];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    int m = snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path) || m < 0 || (size_t)m >= sizeof(tmp))
        return -ENAMETOOLONG;
    int err = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, content + done, len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            err = -errno;
            goto out_unlink_tmp;
        }
        done += (size_t)w;
    }
    if ((sync & WRITE_SYNC_FILE) && fsync(fd) != 0) {
        err = -errno;
        goto out_unlink_tmp;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = -errno;
        goto out_unlink_tmp;
    }
    return (sync & WRITE_SYNC_DIR) ? st_fsync_dir(dir) : 0;

out_unlink_tmp:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return err;
}

/* --- log start offset (st_log.h "Log start offset") ---------------------------------- */

#define START_OFFSET_NAME "log-start-offset-checkpoint"
#define RECOVERY_POINT_NAME "recovery-point-offset-checkpoint"
#define START_OFFSET_MAX_BYTES 4096

/* "<topic> <partition>" from the directory's last component "<topic>-<partition>". */
static void dir_topic_partition(const char *dir, const char **topic, int *topic_len,
                                long *partition)
{
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    const char *dash = strrchr(base, '-');
    char *end = NULL;
    long p = dash ? strtol(dash + 1, &end, 10) : 0;
    if (!dash || !end || *end != '\0' || end == dash + 1) {
        *topic = base;
        *topic_len = (int)strlen(base);
        *partition = 0;
        return;
    }
    *topic = base;
    *topic_len = (int)(dash - base);
    *partition = p;
}

static int offset_file_write(const char *dir, const char *name, int64_t offset)
{
    char buf[START_OFFSET_MAX_BYTES];
    const char *topic;
    int topic_len;
    long partition;
    dir_topic_partition(dir, &topic, &topic_len, &partition);
    int n = snprintf(buf, sizeof(buf), "0\n1\n%.*s %ld %lld\n", topic_len, topic, partition,
                     (long long)offset);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -ENAMETOOLONG;
    return write_file_sync(dir, name, buf, (size_t)n, WRITE_DURABLE);
}

static int offset_file_read(const char *dir, const char *name, int64_t *offset_out)
{
    char path[SL_MAX_PATH];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    *offset_out = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    char buf[START_OFFSET_MAX_BYTES];
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    int err = len < 0 ? -errno : 0;
    close(fd);
    if (err)
        return err;
    buf[len] = '\0';
    /* "0\n1\n<topic> <partition> <offset>\n": version 0, one entry. */
    long version = -1, count = -1;
    int used = 0;
    if (sscanf(buf, "%ld\n%ld\n%n", &version, &count, &used) != 2 || version != 0 || count != 1)
        return SL_ERR_CORRUPT;
    const char *line = buf + used;
    const char *sp = strrchr(line, ' ');
    if (!sp)
        return SL_ERR_CORRUPT;
    char *end = NULL;
    errno = 0;
    long long off = strtoll(sp + 1, &end, 10);
    if (errno || end == sp + 1 || (*end != '\n' && *end != '\0') || off < 0)
        return SL_ERR_CORRUPT;
    *offset_out = off;
    return 0;
}

int st_start_offset_write(const char *dir, int64_t offset)
{
    return offset_file_write(dir, START_OFFSET_NAME, offset);
}

int st_start_offset_read(const char *dir, int64_t *offset_out)
{
    return offset_file_read(dir, START_OFFSET_NAME, offset_out);
}

int st_recovery_point_write(const char *dir, int64_t offset)
{
    return offset_file_write(dir, RECOVERY_POINT_NAME, offset);
}

int st_recovery_point_read(const char *dir, int64_t *offset_out)
{
    return offset_file_read(dir, RECOVERY_POINT_NAME, offset_out);
}

/* --- leader-epoch-checkpoint (st_log.h "Leader epoch") ------------------------------- */

#define LEADER_EPOCH_NAME "leader-epoch-checkpoint"

int st_leader_epoch_write(const char *dir, int64_t start_offset, bool durable)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "0\n1\n0 %lld\n", (long long)start_offset);
    ASSERT(n > 0 && (size_t)n < sizeof(buf));
    return write_file_sync(dir, LEADER_EPOCH_NAME, buf, (size_t)n, durable ? WRITE_DURABLE : 0);
}

int st_leader_epoch_read(const char *dir, int32_t *epoch_out, int64_t *offset_out)
{
    char path[SL_MAX_PATH];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, LEADER_EPOCH_NAME);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[256];
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    int err = len < 0 ? -errno : 0;
    close(fd);
    if (err)
        return err;
    buf[len] = '\0';
    if ((size_t)len != strlen(buf))
        return SL_ERR_CORRUPT; /* a NUL inside */
    /* Exactly "0\n1\n<epoch> <start offset>\n": version 0, one entry. */
    long version = -1, count = -1, epoch = -1;
    long long off = -1;
    int used = -1;
    if (sscanf(buf, "%ld\n%ld\n%ld %lld\n%n", &version, &count, &epoch, &off, &used) != 4 ||
        used != len || buf[len - 1] != '\n' || version != 0 || count != 1 || epoch < 0 ||
        epoch > INT32_MAX || off < 0)
        return SL_ERR_CORRUPT;
    /* sscanf's "\n" skips any whitespace: insist on the exact layout. */
    char canon[256];
    int cn = snprintf(canon, sizeof(canon), "0\n1\n%ld %lld\n", epoch, off);
    if (cn != len || memcmp(canon, buf, (size_t)len) != 0)
        return SL_ERR_CORRUPT;
    *epoch_out = (int32_t)epoch;
    *offset_out = off;
    return 0;
}

/* --- clean-shutdown marker ----------------------------------------------------------- */

int st_clean_marker_take(const char *log_dir, bool *was_clean)
{
    char path[SL_MAX_PATH];
    int n = snprintf(path, sizeof(path), "%s/%s", log_dir, CLEAN_MARKER_NAME);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    *was_clean = false;
    if (unlink(path) != 0)
        return errno == ENOENT ? 0 : -errno;
    *was_clean = true;
    /* The removal must reach the disk before any log is touched: a crash from here
     * on must find no marker. */
    return st_fsync_dir(log_dir);
}

int st_clean_marker_write(const char *log_dir)
{
    return write_file_sync(log_dir, CLEAN_MARKER_NAME, CLEAN_MARKER_CONTENT,
                           sizeof(CLEAN_MARKER_CONTENT) - 1, WRITE_DURABLE);
}

/* --- topic ids as Kafka prints them: base64url, no padding (Uuid.toString) ---------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void st_uuid_base64url(const uint8_t id[16], char out[23])
{
    size_t o = 0;
    for (size_t i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)id[i] << 16 | (uint32_t)id[i + 1] << 8 | id[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    uint32_t v = (uint32_t)id[15] << 16; /* last byte: two characters, no padding */
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    out[o] = '\0';
    ASSERT(o == 22);
}

static int b64url_value(char c)
{
    const char *p = memchr(b64url, c, 64);
    return (c && p) ? (int)(p - b64url) : -1;
}

int st_uuid_parse_base64url(const char *s, size_t len, uint8_t id[16])
{
    if (len != 22)
        return SL_ERR_CORRUPT;
    int v[22];
    for (size_t i = 0; i < 22; i++)
        if ((v[i] = b64url_value(s[i])) < 0)
            return SL_ERR_CORRUPT;
    size_t o = 0;
    for (size_t i = 0; i < 20; i += 4) {
        uint32_t x = (uint32_t)v[i] << 18 | (uint32_t)v[i + 1] << 12 | (uint32_t)v[i + 2] << 6 |
                     (uint32_t)v[i + 3];
        id[o++] = (uint8_t)(x >> 16);
        id[o++] = (uint8_t)(x >> 8);
        id[o++] = (uint8_t)x;
    }
    if (v[21] & 15) /* bits past the 128th must be zero */
        return SL_ERR_CORRUPT;
    id[15] = (uint8_t)(v[20] << 2 | v[21] >> 4);
    return 0;
}

/* --- partition.metadata -------------------------------------------------------------- */

/* Parses "version: 0\ntopic_id: <id>" (whitespace after the colons, an optional
 * trailing newline). */
static int partition_metadata_parse(const char *text, size_t len, uint8_t id[16])
{
    static const char v0[] = "version: 0\n";
    static const char key[] = "topic_id:";
    if (len < sizeof(v0) - 1 || memcmp(text, v0, sizeof(v0) - 1) != 0)
        return SL_ERR_CORRUPT;
    const char *p = text + sizeof(v0) - 1, *end = text + len;
    if ((size_t)(end - p) < sizeof(key) - 1 || memcmp(p, key, sizeof(key) - 1) != 0)
        return SL_ERR_CORRUPT;
    p += sizeof(key) - 1;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *q = p;
    while (q < end && *q != '\n' && *q != '\r' && *q != ' ')
        q++;
    for (const char *r = q; r < end; r++)
        if (*r != '\n' && *r != '\r' && *r != ' ')
            return SL_ERR_CORRUPT;
    return st_uuid_parse_base64url(p, (size_t)(q - p), id);
}

int st_partition_metadata_check(const char *dir, const uint8_t topic_id[16], bool sync_dir)
{
    char path[SL_MAX_PATH];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, PARTITION_METADATA_NAME);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    char text[PARTITION_METADATA_MAX_BYTES];
    ssize_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        len = read(fd, text, sizeof(text));
        int saved = errno;
        close(fd);
        if (len < 0)
            return -saved;
    } else if (errno != ENOENT) {
        return -errno;
    }
    if (len > 0) {
        uint8_t found[16];
        if (partition_metadata_parse(text, (size_t)len, found) != 0) {
            LOG_ERROR("storage: %s is not a readable partition.metadata", path);
            return SL_ERR_CORRUPT;
        }
        if (memcmp(found, topic_id, 16) != 0) {
            char want[23], have[23];
            st_uuid_base64url(topic_id, want);
            st_uuid_base64url(found, have);
            LOG_ERROR("storage: %s holds topic id %s, expected %s", path, have, want);
            return SL_ERR_CORRUPT;
        }
        return 0;
    }
    /* Missing (or the empty file older Kafka creates first): write it. */
    char id[23], content[64];
    st_uuid_base64url(topic_id, id);
    int m = snprintf(content, sizeof(content), "version: 0\ntopic_id: %s", id);
    ASSERT(m > 0 && (size_t)m < sizeof(content));
    return write_file_sync(dir, PARTITION_METADATA_NAME, content, (size_t)m,
                           sync_dir ? WRITE_DURABLE : WRITE_SYNC_FILE);
}
