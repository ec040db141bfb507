/*
 * sl_group_log.c — group metadata and committed offsets as records of
 * __consumer_offsets, in Kafka's formats (KAFKA-PROTOCOL.md §5), written
 * through the owning shard's log and replayed when the shard adopts the topic.
 *
 * Records (key and value each start with an int16 schema version; big-endian):
 *   offset commit   key v1   group string, topic string, partition int32
 *                   value v3 offset int64, leaderEpoch int32, metadata string,
 *                            commitTimestamp int64
 *                   value v1 (written when the commit carries a retention time)
 *                            offset int64, metadata string, commitTimestamp int64,
 *                            expireTimestamp int64
 *   group metadata  key v2   group string
 *                   value v3 protocolType string, generation int32, protocol
 *                            nullable string, leader nullable string,
 *                            currentStateTimestamp int64, members array of
 *                            { memberId, groupInstanceId (nullable), clientId,
 *                              clientHost strings, rebalanceTimeout int32,
 *                              sessionTimeout int32, subscription bytes,
 *                              assignment bytes }
 *   a null value is a tombstone (offset deleted / group deleted).
 * Loading also reads offset values v0-v4 and group values v0-v4 (v4 is the
 * flexible encoding: compact strings, tagged fields), as Kafka may have written
 * them; records with other key versions (KIP-848, share groups, transactions)
 * are skipped. A record that does not decode is logged and skipped: state from
 * the world's bytes never stops the shard.
 *
 * Writes: one uncompressed batch per operation (an OffsetCommit's partitions
 * together), appended without fdatasync (acks=1 durability: a process crash loses
 * nothing written; see README "Durability"). The group is kept alive while its
 * appends are in flight (appends_inflight).
 *
 * Loading reads the partition's log from its start offset to its high watermark
 * with blocking preads, on the shard's thread, when the shard adopts the topic
 * (start-up, or the topic's creation). Without compaction the log holds every
 * commit ever made; loading time grows with it (README, "Left out").
 */
#include "sl_base.h"
#include "sl_group.h"
#include "sl_log.h"
#include "kp_batch.h"
#include "kp_batch_build.h"
#include "kp_codec.h"
#include "st_log.h"

#include <stdlib.h>
#include <unistd.h>

#define LOAD_READ_BYTES (1u << 20)

/* ---------------------------------------------------------------- writing */

typedef struct glog_write {
    sl_group_t *g;
    void (*done)(sl_group_t *g, int err, void *ctx);
    void *ctx;
    uint32_t len;
    uint8_t batch[];
} glog_write_t;

static void glog_appended(void *ctx, int err, int64_t base_offset)
{
    (void)base_offset;
    glog_write_t *w = ctx;
    sl_group_t *g = w->g;
    ASSERT(g->appends_inflight > 0);
    g->appends_inflight--;
    sl_shard_note_append(g->coord->shard);
    if (w->done)
        w->done(g, err, w->ctx);
    free(w);
    sl_group_release_if_deleted(g);
}

/* Appends the finished batch in w. Returns 0 (done runs later) or an error
 * (done not called, w freed). */
static int glog_submit(sl_group_t *g, glog_write_t *w)
{
    sl_coord_t *c = g->coord;
    struct st_log *log = sl_uuid_is_zero(&c->offsets_topic_id)
                             ? NULL
                             : sl_shard_log(c->shard, &c->offsets_topic_id, g->partition);
    if (!log) {
        free(w);
        return -ENOENT;
    }
    w->g = g;
    g->appends_inflight++;
    int rc = st_log_append(log, w->batch, w->len, false, glog_appended, w);
    if (rc != 0) {
        g->appends_inflight--;
        free(w);
        return rc;
    }
    return 0;
}

static void put_str(kp_writer_t *w, const char *s)
{
    kp_write_string(w, s ? kp_str_from(s) : KP_STR_NULL);
}

static size_t str_size(const char *s)
{
    return 2 + (s ? strlen(s) : 0);
}

size_t sl_group_offset_key(uint8_t *buf, size_t cap, const char *group, const char *topic,
                           size_t topic_len, int32_t partition)
{
    kp_writer_t w;
    kp_writer_init(&w, buf, cap);
    kp_write_int16(&w, 1);
    put_str(&w, group);
    kp_write_string(&w, (kp_str_t){topic, (int32_t)topic_len});
    kp_write_int32(&w, partition);
    return kp_writer_overflowed(&w) ? 0 : kp_writer_total_len(&w);
}

size_t sl_group_offset_value(uint8_t *buf, size_t cap, int64_t offset, int32_t leader_epoch,
                             const char *metadata, size_t metadata_len, int64_t commit_ts,
                             int64_t expire_ts)
{
    kp_writer_t w;
    kp_writer_init(&w, buf, cap);
    kp_str_t md = {metadata ? metadata : "", metadata ? (int32_t)metadata_len : 0};
    if (expire_ts >= 0) {
        kp_write_int16(&w, 1);
        kp_write_int64(&w, offset);
        kp_write_string(&w, md);
        kp_write_int64(&w, commit_ts);
        kp_write_int64(&w, expire_ts);
    } else {
        kp_write_int16(&w, 3);
        kp_write_int64(&w, offset);
        kp_write_int32(&w, leader_epoch);
        kp_write_string(&w, md);
        kp_write_int64(&w, commit_ts);
    }
    return kp_writer_overflowed(&w) ? 0 : kp_writer_total_len(&w);
}

static size_t group_value_size(const sl_group_t *g)
{
    size_t n = 2 + str_size(g->protocol_type ? g->protocol_type : "") + 4 +
               str_size(g->protocol_name) + str_size(g->leader_id) + 8 + 4;
    for (const sl_member_t *m = g->members; m; m = m->next) {
        const sl_protocol_t *p = NULL;
        for (uint32_t i = 0; g->protocol_name && i < m->protocol_count; i++)
            if (strcmp(m->protocols[i].name, g->protocol_name) == 0)
                p = &m->protocols[i];
        n += str_size(m->member_id) + str_size(m->instance_id) + str_size(m->client_id) +
             str_size(m->client_host) + 4 + 4 + 4 + (p ? p->metadata_len : 0) + 4 +
             m->assignment_len;
    }
    return n;
}

static size_t group_value_encode(const sl_group_t *g, uint8_t *buf, size_t cap)
{
    kp_writer_t w;
    kp_writer_init(&w, buf, cap);
    kp_write_int16(&w, 3);
    put_str(&w, g->protocol_type ? g->protocol_type : "");
    kp_write_int32(&w, g->generation);
    put_str(&w, g->protocol_name);
    put_str(&w, g->leader_id);
    kp_write_int64(&w, g->state_timestamp_ms);
    kp_write_int32(&w, (int32_t)g->member_count);
    for (const sl_member_t *m = g->members; m; m = m->next) {
        const sl_protocol_t *p = NULL;
        for (uint32_t i = 0; g->protocol_name && i < m->protocol_count; i++)
            if (strcmp(m->protocols[i].name, g->protocol_name) == 0)
                p = &m->protocols[i];
        put_str(&w, m->member_id);
        put_str(&w, m->instance_id);
        put_str(&w, m->client_id);
        put_str(&w, m->client_host);
        kp_write_int32(&w, m->rebalance_timeout_ms);
        kp_write_int32(&w, m->session_timeout_ms);
        kp_write_bytes(&w, p ? (kp_bytes_t){p->metadata, (int32_t)p->metadata_len}
                             : (kp_bytes_t){NULL, 0});
        kp_write_bytes(&w, (kp_bytes_t){m->assignment, (int32_t)m->assignment_len});
    }
    return kp_writer_overflowed(&w) ? 0 : kp_writer_total_len(&w);
}

int sl_group_log_store_group(sl_group_t *g, void (*done)(sl_group_t *g, int err, void *ctx),
                             void *ctx)
{
    bool tombstone = g->state == SL_GROUP_DEAD;
    size_t key_len = 2 + str_size(g->id);
    size_t value_len = tombstone ? 0 : group_value_size(g);
    if (value_len > SL_GROUP_MAX_RECORD_BYTES) {
        LOG_WARN("group %s: metadata record of %zu bytes is over the %d-byte limit", g->id,
                 value_len, SL_GROUP_MAX_RECORD_BYTES);
        return -E2BIG;
    }
    size_t cap = KP_BATCH_HEADER_BYTES + kp_batch_record_size((int32_t)key_len,
                                                              tombstone ? -1 : (int32_t)value_len,
                                                              0, 0) + key_len + value_len;
    glog_write_t *w = malloc(sizeof(*w) + cap + key_len + value_len);
    if (!w)
        return -ENOMEM;
    uint8_t *key = w->batch + cap, *value = key + key_len;
    kp_writer_t kw;
    kp_writer_init(&kw, key, key_len);
    kp_write_int16(&kw, 2);
    put_str(&kw, g->id);
    ASSERT(!kp_writer_overflowed(&kw));
    if (!tombstone) {
        size_t n = group_value_encode(g, value, value_len);
        ASSERT(n == value_len);
    }
    kp_batch_builder_t b;
    int64_t now = sl_group_wall_ms();
    kp_batch_builder_init(&b, w->batch, cap, now);
    int rc = kp_batch_builder_add(&b, key, (int32_t)key_len, tombstone ? NULL : value,
                                  tombstone ? -1 : (int32_t)value_len, now);
    ASSERT(rc == 0);
    w->len = (uint32_t)kp_batch_builder_finish(&b);
    w->done = done;
    w->ctx = ctx;
    g->coord->group_writes++;
    return glog_submit(g, w);
}


/* An offsets batch: the caller built it in a block from sl_group_log_alloc. */
void *sl_group_log_alloc(size_t batch_cap, uint8_t **batch_out)
{
    glog_write_t *w = malloc(sizeof(*w) + batch_cap);
    if (!w)
        return NULL;
    *batch_out = w->batch;
    return w;
}

int sl_group_log_submit(sl_group_t *g, void *block, uint32_t len,
                        void (*done)(sl_group_t *g, int err, void *ctx), void *ctx)
{
    glog_write_t *w = block;
    w->len = len;
    w->done = done;
    w->ctx = ctx;
    return glog_submit(g, w);
}

/* ---------------------------------------------------------------- loading */

static char *read_cstr(kp_reader_t *r, bool compact, bool *ok)
{
    kp_str_t s;
    if (kp_read_str(r, compact, &s) != 0) {
        *ok = false;
        return NULL;
    }
    if (kp_str_is_null(s))
        return NULL;
    char *p = strndup(s.ptr ? s.ptr : "", (size_t)s.len);
    if (!p)
        *ok = false;
    return p;
}

static void load_offset(sl_coord_t *c, int32_t partition, kp_reader_t *kr, int16_t kv,
                        const kp_record_t *rec)
{
    (void)kv;
    kp_str_t group, topic;
    int32_t p;
    if (kp_read_string(kr, &group) != 0 || kp_str_is_null(group) ||
        kp_read_string(kr, &topic) != 0 || kp_str_is_null(topic) || kp_read_int32(kr, &p) != 0) {
        LOG_WARN("%s-%d offset %lld: undecodable offset key; skipped", SL_GROUP_OFFSETS_TOPIC,
                 partition, (long long)rec->offset);
        return;
    }
    sl_group_t *g = sl_coord_find(c, group.ptr, (size_t)group.len);
    if (!rec->value) {
        if (g)
            sl_group_offset_remove(g, topic.ptr, (size_t)topic.len, p);
        return;
    }
    kp_reader_t vr;
    kp_reader_init(&vr, rec->value, (size_t)rec->value_len);
    int16_t vv;
    int64_t offset, commit_ts = -1, expire_ts = -1;
    int32_t epoch = -1;
    kp_str_t md;
    bool flex = false;
    int bad = kp_read_int16(&vr, &vv) != 0 || vv < 0 || vv > 4;
    if (!bad) {
        flex = vv >= 4;
        bad |= kp_read_int64(&vr, &offset) != 0;
        if (vv >= 3)
            bad |= kp_read_int32(&vr, &epoch) != 0;
        bad |= kp_read_str(&vr, flex, &md) != 0;
        bad |= kp_read_int64(&vr, &commit_ts) != 0;
        if (vv == 1)
            bad |= kp_read_int64(&vr, &expire_ts) != 0;
    }
    if (bad) {
        LOG_WARN("%s-%d offset %lld: undecodable offset value; skipped", SL_GROUP_OFFSETS_TOPIC,
                 partition, (long long)rec->offset);
        return;
    }
    if (!g) {
        g = sl_coord_create(c, group.ptr, (size_t)group.len, partition);
        if (!g)
            return;
    }
    kp_str_t m = kp_str_nonnull(md);
    if (sl_group_offset_put(g, topic.ptr, (size_t)topic.len, p, offset, epoch, m.ptr,
                            (size_t)m.len, commit_ts, expire_ts) != 0)
        LOG_WARN("group %s: out of memory loading offsets", g->id);
}

/* Rebuilds a group from its metadata record (or removes it on a tombstone). */
static void load_group(sl_coord_t *c, int32_t partition, kp_reader_t *kr, const kp_record_t *rec)
{
    kp_str_t gid;
    if (kp_read_string(kr, &gid) != 0 || kp_str_is_null(gid) || gid.len == 0) {
        LOG_WARN("%s-%d offset %lld: undecodable group key; skipped", SL_GROUP_OFFSETS_TOPIC,
                 partition, (long long)rec->offset);
        return;
    }
    sl_group_t *g = sl_coord_find(c, gid.ptr, (size_t)gid.len);
    if (!rec->value) {
        if (g) {
            g->state = SL_GROUP_DEAD; /* loading rebuilds state: no transition */
            sl_coord_remove(c, g);
        }
        return;
    }
    kp_reader_t r;
    kp_reader_init(&r, rec->value, (size_t)rec->value_len);
    int16_t v;
    if (kp_read_int16(&r, &v) != 0 || v < 0 || v > 4) {
        LOG_WARN("group %.*s: metadata value version unknown; skipped", (int)gid.len, gid.ptr);
        return;
    }
    bool flex = v >= 4, ok = true;
    char *ptype = read_cstr(&r, flex, &ok);
    int32_t generation = 0, count = 0;
    ok &= kp_read_int32(&r, &generation) == 0;
    char *proto = read_cstr(&r, flex, &ok);
    char *leader = read_cstr(&r, flex, &ok);
    int64_t state_ts = -1;
    if (v >= 2)
        ok &= kp_read_int64(&r, &state_ts) == 0;
    ok &= kp_read_count(&r, flex, &count) == 0;
    sl_member_t *members = NULL, **tail = &members;
    uint32_t member_count = 0;
    for (int32_t i = 0; ok && i < count; i++) {
        sl_member_t *m = calloc(1, sizeof(*m));
        if (!m) {
            ok = false;
            break;
        }
        *tail = m;
        tail = &m->next;
        member_count++;
        m->member_id = read_cstr(&r, flex, &ok);
        if (v >= 3)
            m->instance_id = read_cstr(&r, flex, &ok);
        m->client_id = read_cstr(&r, flex, &ok);
        m->client_host = read_cstr(&r, flex, &ok);
        if (v >= 1)
            ok &= kp_read_int32(&r, &m->rebalance_timeout_ms) == 0;
        ok &= kp_read_int32(&r, &m->session_timeout_ms) == 0;
        if (v == 0)
            m->rebalance_timeout_ms = m->session_timeout_ms;
        kp_bytes_t sub = {0}, asg = {0};
        ok &= kp_read_byt(&r, flex, &sub) == 0;
        ok &= kp_read_byt(&r, flex, &asg) == 0;
        if (flex)
            ok &= kp_read_tagged_skip(&r) == 0;
        if (!ok || !m->member_id || !m->client_id || !m->client_host || !proto)
            ok = false;
        if (!ok)
            break;
        sub = kp_bytes_nonnull(sub);
        asg = kp_bytes_nonnull(asg);
        m->protocols = calloc(1, sizeof(*m->protocols));
        if (!m->protocols) {
            ok = false;
            break;
        }
        m->protocol_count = 1;
        m->protocols[0].name = strdup(proto);
        m->protocols[0].metadata = sub.len ? malloc((size_t)sub.len) : NULL;
        m->protocols[0].metadata_len = (uint32_t)sub.len;
        m->assignment = asg.len ? malloc((size_t)asg.len) : NULL;
        m->assignment_len = (uint32_t)asg.len;
        if (!m->protocols[0].name || (sub.len && !m->protocols[0].metadata) ||
            (asg.len && !m->assignment)) {
            ok = false;
            break;
        }
        if (sub.len)
            memcpy(m->protocols[0].metadata, sub.ptr, (size_t)sub.len);
        if (asg.len)
            memcpy(m->assignment, asg.ptr, (size_t)asg.len);
    }
    if (!ok || !ptype) {
        LOG_WARN("group %.*s: undecodable metadata value at offset %lld; skipped", (int)gid.len,
                 gid.ptr, (long long)rec->offset);
        while (members) {
            sl_member_t *m = members;
            members = m->next;
            sl_member_free(m);
        }
        free(ptype);
        free(proto);
        free(leader);
        return;
    }
    if (!g)
        g = sl_coord_create(c, gid.ptr, (size_t)gid.len, partition);
    if (!g) {
        while (members) {
            sl_member_t *m = members;
            members = m->next;
            sl_member_free(m);
        }
        free(ptype);
        free(proto);
        free(leader);
        return;
    }
    while (g->members) {
        sl_member_t *m = g->members;
        g->members = m->next;
        sl_member_free(m);
    }
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader_id);
    g->protocol_type = ptype[0] ? ptype : NULL;
    if (!ptype[0])
        free(ptype);
    g->protocol_name = proto;
    g->leader_id = leader;
    g->generation = generation;
    g->members = members;
    g->member_count = member_count;
    uint64_t now = io_now_ns();
    for (sl_member_t *m = members; m; m = m->next)
        m->session_deadline_ns = now + (uint64_t)(m->session_timeout_ms > 0 ? m->session_timeout_ms : 0) * 1000000ULL;
    /* A leader that is not a member (corrupt or hand-made record): the first. */
    if (members && (!g->leader_id || !sl_group_member(g, g->leader_id, strlen(g->leader_id)) ||
                    !g->protocol_name)) {
        free(g->leader_id);
        g->leader_id = strdup(members->member_id);
        if (!g->leader_id || !g->protocol_name) {
            LOG_WARN("group %s: stored metadata unusable; loaded without members", g->id);
            while (g->members) {
                sl_member_t *m = g->members;
                g->members = m->next;
                sl_member_free(m);
            }
            g->member_count = 0;
            members = NULL;
        }
    }
    /* Loading rebuilds state (Kafka's loadGroup): members mean Stable. */
    g->state = members ? SL_GROUP_STABLE : SL_GROUP_EMPTY;
    if (!members) {
        free(g->protocol_name);
        g->protocol_name = NULL;
        free(g->leader_id);
        g->leader_id = NULL;
    }
    g->state_timestamp_ms = state_ts >= 0 ? state_ts : sl_group_wall_ms();
}

static void load_record(sl_coord_t *c, int32_t partition, const kp_record_t *rec)
{
    if (!rec->key || rec->key_len < 2)
        return;
    kp_reader_t kr;
    kp_reader_init(&kr, rec->key, (size_t)rec->key_len);
    int16_t kv;
    kp_read_int16(&kr, &kv);
    c->loaded_records++;
    if (kv == 0 || kv == 1)
        load_offset(c, partition, &kr, kv, rec);
    else if (kv == 2)
        load_group(c, partition, &kr, rec);
    else if (kv == 3 || (kv >= 5 && kv <= 8))
        sl_cgroup_load_record(c, partition, kv, rec);
    /* other key versions: KIP-848, share groups, ...: not ours to read yet */
}

int sl_group_log_load(sl_coord_t *c, struct st_log *log, int32_t partition)
{
    int64_t offset = st_log_start_offset(log);
    int64_t end = st_log_high_watermark(log);
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (offset < end) {
        st_slice_t s;
        rc = st_log_read(log, offset, LOAD_READ_BYTES, &s);
        if (rc != 0)
            break;
        if (s.len == 0)
            break;
        if (s.len > cap) {
            uint8_t *nb = realloc(buf, s.len);
            if (!nb) {
                st_slice_release(&s);
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap = s.len;
        }
        size_t got = 0;
        while (got < s.len) {
            ssize_t n = pread(s.fd, buf + got, s.len - got, (off_t)(s.file_pos + (int64_t)got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = n < 0 ? -errno : -EIO;
                break;
            }
            got += (size_t)n;
        }
        st_slice_release(&s);
        if (rc != 0)
            break;
        kp_batch_iter_t it;
        kp_batch_iter_init(&it, buf, got, true);
        kp_batch_header_t h;
        const uint8_t *batch;
        int64_t next = offset;
        int step;
        while ((step = kp_batch_iter_next(&it, &h, &batch)) == KP_ITER_BATCH) {
            next = kp_batch_last_offset(&h) + 1;
            if (kp_batch_is_control(&h) || kp_batch_last_offset(&h) < offset)
                continue;
            if (kp_batch_codec(&h) != KP_CODEC_NONE) {
                LOG_WARN("%s-%d: compressed batch at %lld skipped", SL_GROUP_OFFSETS_TOPIC,
                         partition, (long long)h.base_offset);
                continue;
            }
            kp_record_iter_t ri;
            if (kp_record_iter_init(&ri, batch, &h) != 0)
                continue;
            kp_record_t rec;
            while (kp_record_iter_next(&ri, &rec) == 1)
                if (rec.offset >= offset)
                    load_record(c, partition, &rec);
        }
        if (step == SL_ERR_CORRUPT) {
            LOG_WARN("%s-%d: invalid batch at offset %lld; loading stops there",
                     SL_GROUP_OFFSETS_TOPIC, partition, (long long)next);
            rc = SL_ERR_CORRUPT;
            break;
        }
        if (next <= offset)
            break; /* no whole batch in the slice: cannot progress */
        offset = next;
    }
    free(buf);
    return rc;
}
