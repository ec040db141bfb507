/* sl_controller.c — metadata changes on shard 0. See sl_controller.h. */
#include "sl_base.h"
#include "sl_controller.h"
#include "sl_api.h"
#include "sl_log.h"
#include "sl_topic_config.h"
#include "st_metalog.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

enum { REC_TOPICS_CREATED = 1, REC_TOPICS_DELETED = 2, REC_CLUSTER_ID = 3, REC_TOPICS_UPDATED = 4 };

/* ----------------------------------------------------------- records */

static int put_str(kp_writer_t *w, const char *s, size_t n)
{
    if (n > INT16_MAX)
        return SL_ERR_LIMIT;
    kp_write_int16(w, (int16_t)n);
    kp_write_raw(w, s, n);
    return 0;
}

/* Encodes the TOPICS_CREATED record for the topics of op that were accepted.
 * Returns the payload (malloc'd) and its length, or NULL. */
static uint8_t *encode_created(sl_ctl_op_t *op, const sl_meta_t *next, size_t *len_out)
{
    size_t cap = 16;
    int32_t n = 0;
    for (int32_t i = 0; i < op->topic_count; i++) {
        if (op->topics[i].error_code != KE_NONE)
            continue;
        const sl_topic_meta_t *t = sl_meta_find_id(next, &op->topics[i].id_out);
        ASSERT(t);
        cap += 2 + t->name_len + 16 + 4 + (size_t)t->partition_count * 4 + 4;
        for (int32_t c = 0; c < t->config_count; c++)
            cap += 4 + strlen(t->configs[c].name) + strlen(t->configs[c].value);
        n++;
    }
    uint8_t *buf = malloc(cap);
    if (!buf)
        return NULL;
    kp_writer_t w;
    kp_writer_init(&w, buf, cap);
    kp_write_int16(&w, 0);
    kp_write_int32(&w, n);
    for (int32_t i = 0; i < op->topic_count; i++) {
        if (op->topics[i].error_code != KE_NONE)
            continue;
        const sl_topic_meta_t *t = sl_meta_find_id(next, &op->topics[i].id_out);
        put_str(&w, t->name, t->name_len);
        kp_write_raw(&w, t->id.b, 16);
        kp_write_int32(&w, t->partition_count);
        for (int32_t p = 0; p < t->partition_count; p++) {
            kp_write_int16(&w, t->partitions[p].shard);
            kp_write_int16(&w, t->partitions[p].log_dir);
        }
        kp_write_int32(&w, t->config_count);
        for (int32_t c = 0; c < t->config_count; c++) {
            put_str(&w, t->configs[c].name, strlen(t->configs[c].name));
            put_str(&w, t->configs[c].value, strlen(t->configs[c].value));
        }
    }
    ASSERT(!kp_writer_overflowed(&w));
    *len_out = w.len;
    return buf;
}

static uint8_t *encode_deleted(sl_ctl_op_t *op, size_t *len_out)
{
    size_t cap = 6 + (size_t)op->topic_count * 16;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return NULL;
    kp_writer_t w;
    kp_writer_init(&w, buf, cap);
    int32_t n = 0;
    for (int32_t i = 0; i < op->topic_count; i++)
        n += op->topics[i].error_code == KE_NONE;
    kp_write_int16(&w, 0);
    kp_write_int32(&w, n);
    for (int32_t i = 0; i < op->topic_count; i++)
        if (op->topics[i].error_code == KE_NONE)
            kp_write_raw(&w, op->topics[i].id_out.b, 16);
    ASSERT(!kp_writer_overflowed(&w));
    *len_out = w.len;
    return buf;
}

/* Replay state: the topic list being rebuilt from the log. */
typedef struct replay {
    sl_topic_meta_t **topics;
    int32_t count, cap;
    char cluster_id[64];
} replay_t;

static int replay_add(replay_t *r, sl_topic_meta_t *t)
{
    if (r->count == r->cap) {
        int32_t cap = r->cap ? r->cap * 2 : 64;
        sl_topic_meta_t **n = realloc(r->topics, (size_t)cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        r->topics = n;
        r->cap = cap;
    }
    r->topics[r->count++] = t;
    return 0;
}

static int replay_record(void *ctx, uint16_t type, const uint8_t *payload, uint32_t len)
{
    replay_t *r = ctx;
    kp_reader_t rd;
    kp_reader_init(&rd, payload, len);
    int16_t version;
    int32_t n;
    if (kp_read_int16(&rd, &version) != 0 || version != 0)
        goto corrupt;
    if (type == REC_CLUSTER_ID) {
        int16_t l;
        if (kp_read_int16(&rd, &l) != 0 || l <= 0 || l >= (int16_t)sizeof(r->cluster_id) ||
            kp_reader_remaining(&rd) < (size_t)l)
            goto corrupt;
        memcpy(r->cluster_id, rd.p, (size_t)l);
        r->cluster_id[l] = 0;
        return 0;
    }
    if (kp_read_int32(&rd, &n) != 0 || n < 0)
        goto corrupt;
    for (int32_t i = 0; i < n; i++) {
        if (type == REC_TOPICS_DELETED) {
            if (kp_reader_remaining(&rd) < 16)
                goto corrupt;
            for (int32_t k = 0; k < r->count; k++)
                if (memcmp(r->topics[k]->id.b, rd.p, 16) == 0) {
                    sl_topic_unref(r->topics[k]);
                    r->topics[k] = r->topics[--r->count];
                    break;
                }
            kp_read_skip(&rd, 16);
            continue;
        }
        if (type != REC_TOPICS_CREATED && type != REC_TOPICS_UPDATED)
            goto corrupt;
        int16_t name_len;
        int32_t parts, configs;
        if (kp_read_int16(&rd, &name_len) != 0 || name_len <= 0 ||
            name_len > KP_MAX_TOPIC_NAME_BYTES || kp_reader_remaining(&rd) < (size_t)name_len + 20)
            goto corrupt;
        const char *name = (const char *)rd.p;
        kp_read_skip(&rd, (size_t)name_len);
        sl_uuid_t id;
        memcpy(id.b, rd.p, 16);
        kp_read_skip(&rd, 16);
        if (kp_read_int32(&rd, &parts) != 0 || parts < 0 || parts > SL_MAX_PARTITIONS_PER_TOPIC ||
            kp_reader_remaining(&rd) < (size_t)parts * 4)
            goto corrupt;
        sl_topic_meta_t *t = sl_topic_new(name, (size_t)name_len, &id, parts);
        if (!t)
            return -ENOMEM;
        for (int32_t p = 0; p < parts; p++) {
            kp_read_int16(&rd, &t->partitions[p].shard);
            kp_read_int16(&rd, &t->partitions[p].log_dir);
            /* Disk bytes: a negative placement would index shards backwards. */
            if (t->partitions[p].shard < 0 || t->partitions[p].log_dir < 0 ||
                t->partitions[p].log_dir >= SL_MAX_LOG_DIRS) {
                sl_topic_unref(t);
                goto corrupt;
            }
        }
        if (kp_read_int32(&rd, &configs) != 0 || configs < 0) {
            sl_topic_unref(t);
            goto corrupt;
        }
        for (int32_t c = 0; c < configs; c++) {
            int16_t kl, vl;
            const char *k, *v;
            if (kp_read_int16(&rd, &kl) != 0 || kl < 0 || kp_reader_remaining(&rd) < (size_t)kl)
                goto corrupt_topic;
            k = (const char *)rd.p;
            kp_read_skip(&rd, (size_t)kl);
            if (kp_read_int16(&rd, &vl) != 0 || vl < 0 || kp_reader_remaining(&rd) < (size_t)vl)
                goto corrupt_topic;
            v = (const char *)rd.p;
            kp_read_skip(&rd, (size_t)vl);
            if (sl_topic_add_config(t, k, (size_t)kl, v, (size_t)vl) != 0)
                goto corrupt_topic;
            continue;
        corrupt_topic:
            sl_topic_unref(t);
            goto corrupt;
        }
        for (int32_t k = 0; k < r->count; k++)
            if (strcmp(r->topics[k]->name, t->name) == 0) {
                sl_topic_unref(r->topics[k]);
                r->topics[k] = r->topics[--r->count];
                break;
            }
        if (replay_add(r, t) != 0) {
            sl_topic_unref(t);
            return -ENOMEM;
        }
    }
    return 0;
corrupt:
    LOG_ERROR("metadata log: record of type %u is malformed", type);
    return SL_ERR_CORRUPT;
}

int sl_controller_open(sl_broker_t *b, sl_controller_t **out)
{
    sl_controller_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->broker = b;
    char dir[SL_MAX_PATH + 32], path[SL_MAX_PATH + 64];
    snprintf(dir, sizeof(dir), "%s/sluice-metadata", b->config.log_dirs[b->metadata_log_dir]);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        LOG_ERROR("cannot create %s: %s", dir, strerror(e));
        free(c);
        return -e;
    }
    snprintf(path, sizeof(path), "%s/metadata.log", dir);
    replay_t r;
    memset(&r, 0, sizeof(r));
    int rc = st_metalog_open(path, replay_record, &r, &c->mlog);
    if (rc != 0) {
        LOG_ERROR("cannot open the metadata log %s: %d", path, rc);
        for (int32_t i = 0; i < r.count; i++)
            sl_topic_unref(r.topics[i]);
        free(r.topics);
        free(c);
        return rc;
    }
    if (!r.cluster_id[0]) {
        sl_uuid_t u;
        sl_uuid_generate(&u);
        char text[23];
        sl_uuid_to_base64(&u, text);
        snprintf(r.cluster_id, sizeof(r.cluster_id), "%s", text);
    } else {
        c->cluster_id_persisted = true;
    }
    sl_meta_t *m = sl_meta_new_empty(r.cluster_id);
    ASSERT(m);
    for (int32_t i = 0; i < r.count; i++) {
        sl_meta_t *next = sl_meta_with_topic(m, r.topics[i]);
        ASSERT(next);
        sl_meta_unref(m);
        m = next;
    }
    free(r.topics);
    c->current = m;
    sl_meta_ref(m);
    b->initial_meta = m;
    c->next_shard = (uint32_t)m->topic_count;
    LOG_INFO("metadata: cluster id %s, %d topics", m->cluster_id, m->topic_count);
    *out = c;
    return 0;
}

void sl_controller_close(sl_controller_t *c)
{
    if (!c)
        return;
    st_metalog_close(c->mlog);
    sl_meta_unref(c->current);
    free(c);
}

/* ---------------------------------------------------------------- ops */

static void ctl_next(sl_shard_t *s0);
static void op_returned(sl_shard_t *self, sl_xmsg_t *m);

static void op_finished(sl_shard_t *s0, sl_ctl_op_t *op)
{
    sl_controller_t *c = s0->broker->controller;
    ASSERT(c->busy);
    c->busy = false;
    /* Back to the origin, which runs on_done. */
    op->x.run = op_returned;
    sl_shard_post(s0, op->req->shard->id, &op->x);
    ctl_next(s0);
}

static void op_returned(sl_shard_t *self, sl_xmsg_t *m)
{
    sl_ctl_op_t *op = SL_CONTAINER_OF(m, sl_ctl_op_t, x);
    ASSERT(self == op->req->shard);
    op->on_done(op->req, op);
}

static void adopt_acked(sl_shard_t *self, sl_xmsg_t *m)
{
    struct sl_ctl_adopt *a = SL_CONTAINER_OF(m, struct sl_ctl_adopt, x);
    sl_ctl_op_t *op = a->op;
    ASSERT(self->id == 0);
    ASSERT(op->adopt_pending > 0);
    if (--op->adopt_pending == 0)
        op_finished(self, op);
}

static void adopt_run(sl_shard_t *self, sl_xmsg_t *m)
{
    struct sl_ctl_adopt *a = SL_CONTAINER_OF(m, struct sl_ctl_adopt, x);
    sl_shard_adopt(self, a->meta);
    a->x.run = adopt_acked;
    sl_shard_post(self, 0, &a->x);
}

/* The metadata record is durable: publish the new snapshot to every shard. */
static void ctl_publish(sl_shard_t *s0, sl_ctl_op_t *op)
{
    sl_controller_t *c = s0->broker->controller;
    sl_meta_unref(c->current);
    c->current = op->next_meta; /* the op's reference becomes the controller's */
    op->next_meta = NULL;
    int n = s0->broker->shard_count;
    op->adopt_pending = n;
    for (int i = 0; i < n; i++) {
        sl_meta_ref(c->current);
        op->adopt[i].op = op;
        op->adopt[i].meta = c->current;
        op->adopt[i].x.run = adopt_run;
        sl_shard_post(s0, i, &op->adopt[i].x);
    }
}

static void mlog_written(void *ctx, int err)
{
    sl_ctl_op_t *op = ctx;
    sl_shard_t *s0 = &op->req->shard->broker->shards[0];
    if (err != 0) {
        LOG_ERROR("metadata log write failed: %s", strerror(-err));
        for (int32_t i = 0; i < op->topic_count; i++)
            if (op->topics[i].error_code == KE_NONE) {
                op->topics[i].error_code = KE_KAFKA_STORAGE_ERROR;
                op->topics[i].error_message = "the metadata log could not be written";
            }
        sl_meta_unref(op->next_meta);
        op->next_meta = NULL;
        op_finished(s0, op);
        return;
    }
    ctl_publish(s0, op);
}

/* A copy of old with its overrides changed by t's operations; NULL with an
 * error code and message in t when an operation is invalid. */
static sl_topic_meta_t *topic_with_configs(const sl_topic_meta_t *old, sl_ctl_topic_t *t,
                                           bool replace_all, const sl_config_t *cfg)
{
    enum { MAX_CFG = 64 };
    char *names[MAX_CFG], *values[MAX_CFG];
    int n = 0;
    sl_topic_meta_t *nt = NULL;
    t->error_code = KE_INVALID_CONFIG;
    t->error_message = t->error_buf;
    if (!replace_all)
        for (int32_t i = 0; i < old->config_count && n < MAX_CFG; i++) {
            names[n] = strdup(old->configs[i].name);
            values[n] = strdup(old->configs[i].value);
            n++;
        }
    for (int32_t i = 0; i < t->config_count; i++) {
        kp_str_t name = t->config_names[i], value = t->config_values[i];
        int8_t kind = t->config_ops ? t->config_ops[i] : SL_CFG_OP_SET;
        for (int32_t j = 0; j < i; j++)
            if (kp_str_equal(name, t->config_names[j])) {
                snprintf(t->error_buf, sizeof(t->error_buf), "Duplicate config key %.*s",
                         (int)name.len, name.ptr);
                t->error_code = KE_INVALID_REQUEST;
                goto fail;
            }
        const sl_topic_config_desc_t *d =
            name.len > 0 ? sl_topic_config_find(name.ptr, (size_t)name.len) : NULL;
        if (!d) {
            snprintf(t->error_buf, sizeof(t->error_buf), "Unknown topic config name: %.*s",
                     (int)SL_MAX(name.len, 0), name.ptr ? name.ptr : "");
            goto fail;
        }
        int at = -1;
        for (int k = 0; k < n; k++)
            if (strcmp(names[k], d->name) == 0)
                at = k;
        char merged[256];
        const char *newv = NULL;
        if (kind == SL_CFG_OP_DELETE) {
            if (at >= 0) {
                free(names[at]);
                free(values[at]);
                names[at] = names[n - 1];
                values[at] = values[n - 1];
                n--;
            }
            continue;
        }
        if (value.len < 0) {
            snprintf(t->error_buf, sizeof(t->error_buf), "Null value for config %s", d->name);
            goto fail;
        }
        if (kind == SL_CFG_OP_SET) {
            if ((size_t)value.len >= sizeof(merged)) {
                snprintf(t->error_buf, sizeof(t->error_buf), "Value of %s too long", d->name);
                goto fail;
            }
            memcpy(merged, value.ptr, (size_t)value.len);
            merged[value.len] = 0;
            newv = merged;
        } else if (kind == SL_CFG_OP_APPEND || kind == SL_CFG_OP_SUBTRACT) {
            if (d->type != SL_TC_LIST) {
                snprintf(t->error_buf, sizeof(t->error_buf),
                         "Config value %s is not allowed for config key %s (not a list)",
                         kind == SL_CFG_OP_APPEND ? "append" : "subtract", d->name);
                goto fail;
            }
            char dbuf[32];
            const char *cur = at >= 0 ? values[at] : sl_topic_config_default(cfg, d, dbuf, sizeof(dbuf));
            /* Rebuild the list item by item: keep current items (minus the
             * subtracted ones), then add appended items not yet present. */
            merged[0] = 0;
            size_t len = 0;
            char item[64];
            for (const char *p = cur; *p;) {
                const char *comma = strchr(p, ',');
                size_t il = comma ? (size_t)(comma - p) : strlen(p);
                if (il < sizeof(item)) {
                    memcpy(item, p, il);
                    item[il] = 0;
                    bool drop = false;
                    if (kind == SL_CFG_OP_SUBTRACT)
                        for (const char *q = value.ptr; q < value.ptr + value.len;) {
                            const char *qc = memchr(q, ',', (size_t)(value.ptr + value.len - q));
                            size_t ql = qc ? (size_t)(qc - q) : (size_t)(value.ptr + value.len - q);
                            if (ql == il && memcmp(q, item, il) == 0)
                                drop = true;
                            q += ql + (qc ? 1 : 0);
                        }
                    if (!drop && len + il + 2 < sizeof(merged)) {
                        len += (size_t)snprintf(merged + len, sizeof(merged) - len, "%s%s",
                                                len ? "," : "", item);
                    }
                }
                p += il + (comma ? 1 : 0);
            }
            if (kind == SL_CFG_OP_APPEND)
                for (const char *q = value.ptr; q < value.ptr + value.len;) {
                    const char *qc = memchr(q, ',', (size_t)(value.ptr + value.len - q));
                    size_t ql = qc ? (size_t)(qc - q) : (size_t)(value.ptr + value.len - q);
                    bool present = false;
                    for (const char *p = merged; *p;) {
                        const char *comma = strchr(p, ',');
                        size_t il = comma ? (size_t)(comma - p) : strlen(p);
                        present |= il == ql && memcmp(p, q, ql) == 0;
                        p += il + (comma ? 1 : 0);
                    }
                    if (!present && ql > 0 && len + ql + 2 < sizeof(merged))
                        len += (size_t)snprintf(merged + len, sizeof(merged) - len, "%s%.*s",
                                                len ? "," : "", (int)ql, q);
                    q += ql + (qc ? 1 : 0);
                }
            newv = merged;
        } else {
            snprintf(t->error_buf, sizeof(t->error_buf), "Unknown config operation %d", kind);
            t->error_code = KE_INVALID_REQUEST;
            goto fail;
        }
        if (sl_topic_config_validate(d->name, strlen(d->name), newv, strlen(newv), t->error_buf,
                                     sizeof(t->error_buf)) != 0)
            goto fail;
        if (at >= 0) {
            free(values[at]);
            values[at] = strdup(newv);
        } else if (n < MAX_CFG) {
            names[n] = strdup(d->name);
            values[n] = strdup(newv);
            n++;
        }
    }
    nt = sl_topic_new(old->name, old->name_len, &old->id, old->partition_count);
    ASSERT(nt);
    memcpy(nt->partitions, old->partitions,
           (size_t)old->partition_count * sizeof(*old->partitions));
    for (int k = 0; k < n; k++)
        sl_topic_add_config(nt, names[k], strlen(names[k]), values[k], strlen(values[k]));
    t->error_code = KE_NONE;
    t->error_message = NULL;
fail:
    for (int k = 0; k < n; k++) {
        free(names[k]);
        free(values[k]);
    }
    return nt;
}

static int16_t validate_create(sl_controller_t *c, sl_ctl_topic_t *t, const sl_meta_t *pending,
                               const char **msg)
{
    const sl_config_t *cfg = &c->broker->config;
    if (t->name.len <= 0 || !sl_topic_name_valid(t->name.ptr, (size_t)t->name.len)) {
        *msg = "Topic name is illegal: it must be 1-249 characters of [a-zA-Z0-9._-] and not '.' "
               "or '..'";
        return KE_INVALID_TOPIC_EXCEPTION;
    }
    if (sl_meta_find(pending, t->name.ptr, (size_t)t->name.len)) {
        *msg = "Topic already exists.";
        return KE_TOPIC_ALREADY_EXISTS;
    }
    int32_t parts = t->num_partitions == -1 ? cfg->num_partitions : t->num_partitions;
    if (parts <= 0 || parts > SL_MAX_PARTITIONS_PER_TOPIC) {
        *msg = "Number of partitions must be larger than 0 (and at most 100000).";
        return KE_INVALID_PARTITIONS;
    }
    if (t->replication_factor != -1 && t->replication_factor != 1) {
        *msg = "Replication factor must be 1: sluice is a single-node broker.";
        return KE_INVALID_REPLICATION_FACTOR;
    }
    for (int32_t i = 0; i < t->config_count; i++) {
        kp_str_t n = t->config_names[i], v = t->config_values[i];
        if (n.len <= 0 || v.len < 0) {
            *msg = "A topic config needs a name and a non-null value.";
            return KE_INVALID_CONFIG;
        }
        for (int32_t j = 0; j < i; j++)
            if (kp_str_equal(n, t->config_names[j])) {
                snprintf(t->error_buf, sizeof(t->error_buf), "Duplicate topic config %.*s",
                         (int)n.len, n.ptr);
                *msg = t->error_buf;
                return KE_INVALID_CONFIG;
            }
        if (sl_topic_config_validate(n.ptr, (size_t)n.len, v.ptr, (size_t)v.len, t->error_buf,
                                     sizeof(t->error_buf)) != 0) {
            *msg = t->error_buf;
            return KE_INVALID_CONFIG;
        }
    }
    t->partitions_out = parts;
    return KE_NONE;
}

static void ctl_start(sl_shard_t *s0, sl_ctl_op_t *op)
{
    sl_controller_t *c = s0->broker->controller;
    ASSERT(!c->busy);
    c->busy = true;
    sl_meta_t *next = c->current;
    sl_meta_ref(next);
    int accepted = 0;
    for (int32_t i = 0; i < op->topic_count; i++) {
        sl_ctl_topic_t *t = &op->topics[i];
        t->error_code = KE_NONE;
        t->error_message = NULL;
        if (op->kind == SL_CTL_CREATE) {
            t->error_code = validate_create(c, t, next, &t->error_message);
            if (t->error_code == KE_NONE && !op->internal &&
                sl_topic_name_internal(t->name.ptr, (size_t)t->name.len)) {
                t->error_code = KE_INVALID_REQUEST;
                t->error_message = "Creation of an internal topic is prohibited: the broker "
                                   "creates it.";
            }
            if (t->error_code != KE_NONE)
                continue;
            sl_uuid_generate(&t->id_out);
            if (op->validate_only)
                continue;
            sl_topic_meta_t *tm = sl_topic_new(t->name.ptr, (size_t)t->name.len, &t->id_out,
                                               t->partitions_out);
            ASSERT(tm);
            int n = s0->broker->shard_count, dirs = s0->broker->config.log_dir_count;
            for (int32_t p = 0; p < tm->partition_count; p++) {
                tm->partitions[p].shard = (int16_t)(c->next_shard++ % (uint32_t)n);
                /* Round-robin over the online dirs only. */
                int16_t d = (int16_t)(c->next_dir++ % (uint32_t)dirs);
                for (int k = 0; k < dirs && s0->broker->log_dirs_offline[d]; k++)
                    d = (int16_t)(c->next_dir++ % (uint32_t)dirs);
                tm->partitions[p].log_dir = d;
            }
            for (int32_t k = 0; k < t->config_count; k++)
                sl_topic_add_config(tm, t->config_names[k].ptr, (size_t)t->config_names[k].len,
                                    t->config_values[k].ptr, (size_t)t->config_values[k].len);
            sl_meta_t *with = sl_meta_with_topic(next, tm);
            ASSERT(with);
            sl_meta_unref(next);
            next = with;
            accepted++;
        } else if (op->kind == SL_CTL_ALTER_CONFIGS) {
            const sl_topic_meta_t *tm =
                t->name.len > 0 ? sl_meta_find(next, t->name.ptr, (size_t)t->name.len) : NULL;
            if (!tm) {
                t->error_code = KE_UNKNOWN_TOPIC_OR_PARTITION;
                t->error_message = "This server does not host this topic.";
                continue;
            }
            sl_topic_meta_t *nt = topic_with_configs(tm, t, op->replace_all, &s0->broker->config);
            if (!nt)
                continue;
            t->id_out = tm->id;
            if (op->validate_only) {
                sl_topic_unref(nt);
                continue;
            }
            sl_meta_t *without = sl_meta_without_topic(next, &tm->id);
            ASSERT(without);
            sl_meta_t *with = sl_meta_with_topic(without, nt);
            ASSERT(with);
            sl_meta_unref(without);
            sl_meta_unref(next);
            next = with;
            accepted++;
        } else {
            const sl_topic_meta_t *tm =
                sl_uuid_is_zero(&t->id)
                    ? (t->name.len > 0 ? sl_meta_find(next, t->name.ptr, (size_t)t->name.len)
                                       : NULL)
                    : sl_meta_find_id(next, &t->id);
            if (!tm) {
                t->error_code = sl_uuid_is_zero(&t->id) ? KE_UNKNOWN_TOPIC_OR_PARTITION
                                                        : KE_UNKNOWN_TOPIC_ID;
                t->error_message = "This server does not host this topic.";
                continue;
            }
            if (sl_topic_name_internal(tm->name, tm->name_len)) {
                t->error_code = KE_INVALID_REQUEST;
                t->error_message = "Internal topics cannot be deleted.";
                continue;
            }
            if (!s0->broker->config.delete_topic_enable) {
                t->error_code = KE_TOPIC_DELETION_DISABLED;
                t->error_message = "Topic deletion is disabled (delete.topic.enable=false).";
                continue;
            }
            t->id_out = tm->id;
            snprintf(t->name_out, sizeof(t->name_out), "%s", tm->name);
            sl_meta_t *without = sl_meta_without_topic(next, &tm->id);
            ASSERT(without);
            sl_meta_unref(next);
            next = without;
            accepted++;
        }
    }
    if (accepted == 0) {
        sl_meta_unref(next);
        op_finished(s0, op);
        return;
    }
    op->next_meta = next;
    size_t len = 0;
    uint8_t *payload = op->kind == SL_CTL_DELETE ? encode_deleted(op, &len)
                                                 : encode_created(op, next, &len);
    uint16_t type = op->kind == SL_CTL_CREATE   ? REC_TOPICS_CREATED
                    : op->kind == SL_CTL_DELETE ? REC_TOPICS_DELETED
                                                : REC_TOPICS_UPDATED;
    int rc = payload ? st_metalog_append(c->mlog, &s0->ring, type, payload, (uint32_t)len,
                                         mlog_written, op)
                     : -ENOMEM;
    free(payload);
    if (rc != 0)
        mlog_written(op, rc < 0 ? rc : -EIO);
}

static void ctl_next(sl_shard_t *s0)
{
    sl_controller_t *c = s0->broker->controller;
    if (c->busy || !c->queue_head)
        return;
    sl_ctl_op_t *op = c->queue_head;
    c->queue_head = op->queue_next;
    if (!c->queue_head)
        c->queue_tail = NULL;
    ctl_start(s0, op);
}

static void cluster_id_written(void *ctx, int err)
{
    sl_controller_t *c = ctx;
    if (err == 0)
        c->cluster_id_persisted = true;
    else
        LOG_WARN("could not persist the cluster id: %s", strerror(-err));
}

static void ctl_receive(sl_shard_t *self, sl_xmsg_t *m)
{
    sl_ctl_op_t *op = SL_CONTAINER_OF(m, sl_ctl_op_t, x);
    sl_controller_t *c = self->broker->controller;
    ASSERT(self->id == 0);
    if (!c->cluster_id_persisted) {
        uint8_t buf[80];
        kp_writer_t w;
        kp_writer_init(&w, buf, sizeof(buf));
        kp_write_int16(&w, 0);
        put_str(&w, c->current->cluster_id, strlen(c->current->cluster_id));
        c->cluster_id_persisted = true; /* attempt once per run */
        st_metalog_append(c->mlog, &self->ring, REC_CLUSTER_ID, buf, (uint32_t)w.len,
                          cluster_id_written, c);
    }
    op->queue_next = NULL;
    if (c->queue_tail)
        c->queue_tail->queue_next = op;
    else
        c->queue_head = op;
    c->queue_tail = op;
    ctl_next(self);
}

void sl_controller_submit(sl_shard_t *origin, sl_ctl_op_t *op)
{
    op->x.run = ctl_receive;
    sl_shard_post(origin, 0, &op->x);
}
