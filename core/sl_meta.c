/* sl_meta.c — see sl_meta.h. */
#include "sl_base.h"
#include "sl_meta.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

sl_topic_meta_t *sl_topic_new(const char *name, size_t name_len, const sl_uuid_t *id,
                              int32_t partition_count)
{
    ASSERT(name_len <= KP_MAX_TOPIC_NAME_BYTES);
    ASSERT(partition_count >= 0 && partition_count <= SL_MAX_PARTITIONS_PER_TOPIC);
    sl_topic_meta_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->partitions = calloc((size_t)SL_MAX(partition_count, 1), sizeof(*t->partitions));
    if (!t->partitions) {
        free(t);
        return NULL;
    }
    memcpy(t->name, name, name_len);
    t->name[name_len] = 0;
    t->name_len = (uint16_t)name_len;
    t->id = *id;
    t->partition_count = partition_count;
    t->internal = name_len > 2 && name[0] == '_' && name[1] == '_';
    atomic_init(&t->refs, 1);
    return t;
}

int sl_topic_add_config(sl_topic_meta_t *t, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    sl_topic_config_t *c = realloc(t->configs, (size_t)(t->config_count + 1) * sizeof(*c));
    if (!c)
        return -ENOMEM;
    t->configs = c;
    char *n = strndup(name, name_len), *v = strndup(value, value_len);
    if (!n || !v) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    c[t->config_count].name = n;
    c[t->config_count].value = v;
    t->config_count++;
    return 0;
}

void sl_topic_ref(sl_topic_meta_t *t)
{
    int32_t before = atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    ASSERT(before > 0);
}

void sl_topic_unref(sl_topic_meta_t *t)
{
    int32_t before = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel);
    ASSERT(before > 0);
    if (before != 1)
        return;
    for (int32_t i = 0; i < t->config_count; i++) {
        free(t->configs[i].name);
        free(t->configs[i].value);
    }
    free(t->configs);
    free(t->partitions);
    free(t);
}

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static int topic_cmp(const void *a, const void *b)
{
    const sl_topic_meta_t *x = *(sl_topic_meta_t *const *)a, *y = *(sl_topic_meta_t *const *)b;
    return strcmp(x->name, y->name);
}

/* Builds the sorted array's name index. Returns 0 or -ENOMEM. */
static int meta_index(sl_meta_t *m)
{
    qsort(m->topics, (size_t)m->topic_count, sizeof(*m->topics), topic_cmp);
    uint32_t size = 16;
    while (size < (uint32_t)m->topic_count * 2)
        size <<= 1;
    m->name_index = malloc(size * sizeof(int32_t));
    if (!m->name_index)
        return -ENOMEM;
    for (uint32_t i = 0; i < size; i++)
        m->name_index[i] = -1;
    m->name_index_mask = size - 1;
    for (int32_t i = 0; i < m->topic_count; i++) {
        uint32_t h = name_hash(m->topics[i]->name, m->topics[i]->name_len) & m->name_index_mask;
        while (m->name_index[h] >= 0)
            h = (h + 1) & m->name_index_mask;
        m->name_index[h] = i;
    }
    return 0;
}

static sl_meta_t *meta_alloc(const char *cluster_id, int32_t topic_cap)
{
    sl_meta_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->topics = calloc((size_t)SL_MAX(topic_cap, 1), sizeof(*m->topics));
    if (!m->topics) {
        free(m);
        return NULL;
    }
    snprintf(m->cluster_id, sizeof(m->cluster_id), "%s", cluster_id);
    atomic_init(&m->refs, 1);
    return m;
}

static void meta_free(sl_meta_t *m)
{
    for (int32_t i = 0; i < m->topic_count; i++)
        sl_topic_unref(m->topics[i]);
    free(m->topics);
    free(m->name_index);
    free(m);
}

sl_meta_t *sl_meta_new_empty(const char *cluster_id)
{
    sl_meta_t *m = meta_alloc(cluster_id, 0);
    if (m && meta_index(m) != 0) {
        meta_free(m);
        return NULL;
    }
    return m;
}

sl_meta_t *sl_meta_with_topic(const sl_meta_t *old, sl_topic_meta_t *topic)
{
    ASSERT(!sl_meta_find(old, topic->name, topic->name_len));
    sl_meta_t *m = meta_alloc(old->cluster_id, old->topic_count + 1);
    if (!m)
        return NULL;
    for (int32_t i = 0; i < old->topic_count; i++) {
        sl_topic_ref(old->topics[i]);
        m->topics[m->topic_count++] = old->topics[i];
    }
    m->topics[m->topic_count++] = topic;
    m->version = old->version + 1;
    if (meta_index(m) != 0) {
        m->topic_count--; /* the caller keeps its topic reference */
        meta_free(m);
        return NULL;
    }
    return m;
}

sl_meta_t *sl_meta_without_topic(const sl_meta_t *old, const sl_uuid_t *id)
{
    sl_meta_t *m = meta_alloc(old->cluster_id, old->topic_count);
    if (!m)
        return NULL;
    for (int32_t i = 0; i < old->topic_count; i++) {
        if (memcmp(&old->topics[i]->id, id, sizeof(*id)) == 0)
            continue;
        sl_topic_ref(old->topics[i]);
        m->topics[m->topic_count++] = old->topics[i];
    }
    m->version = old->version + 1;
    if (meta_index(m) != 0) {
        meta_free(m);
        return NULL;
    }
    return m;
}

void sl_meta_ref(sl_meta_t *m)
{
    int32_t before = atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    ASSERT(before > 0);
}

void sl_meta_unref(sl_meta_t *m)
{
    int32_t before = atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel);
    ASSERT(before > 0);
    if (before == 1)
        meta_free(m);
}

const sl_topic_meta_t *sl_meta_find(const sl_meta_t *m, const char *name, size_t name_len)
{
    if (name_len > KP_MAX_TOPIC_NAME_BYTES)
        return NULL;
    uint32_t h = name_hash(name, name_len) & m->name_index_mask;
    while (m->name_index[h] >= 0) {
        const sl_topic_meta_t *t = m->topics[m->name_index[h]];
        if (t->name_len == name_len && memcmp(t->name, name, name_len) == 0)
            return t;
        h = (h + 1) & m->name_index_mask;
    }
    return NULL;
}

const sl_topic_meta_t *sl_meta_find_id(const sl_meta_t *m, const sl_uuid_t *id)
{
    for (int32_t i = 0; i < m->topic_count; i++)
        if (memcmp(&m->topics[i]->id, id, sizeof(*id)) == 0)
            return m->topics[i];
    return NULL;
}

bool sl_topic_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > KP_MAX_TOPIC_NAME_BYTES)
        return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

void sl_uuid_generate(sl_uuid_t *out)
{
    do {
        ssize_t n = getrandom(out->b, sizeof(out->b), 0);
        ASSERT(n == (ssize_t)sizeof(out->b));
        out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x40);
        out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
    } while (sl_uuid_is_zero(out));
}

bool sl_uuid_is_zero(const sl_uuid_t *u)
{
    for (int i = 0; i < 16; i++)
        if (u->b[i])
            return false;
    return true;
}

void sl_uuid_to_base64(const sl_uuid_t *u, char out[23])
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /* 16 bytes = 5 groups of 3 (20 characters) + 1 byte (2 characters), no padding. */
    for (int g = 0; g < 5; g++) {
        uint32_t v = (uint32_t)u->b[3 * g] << 16 | (uint32_t)u->b[3 * g + 1] << 8 | u->b[3 * g + 2];
        out[4 * g] = tbl[(v >> 18) & 63];
        out[4 * g + 1] = tbl[(v >> 12) & 63];
        out[4 * g + 2] = tbl[(v >> 6) & 63];
        out[4 * g + 3] = tbl[v & 63];
    }
    out[20] = tbl[u->b[15] >> 2];
    out[21] = tbl[(u->b[15] & 3) << 4];
    out[22] = 0;
}

bool sl_topic_name_internal(const char *name, size_t len)
{
    return (len == 18 && memcmp(name, "__consumer_offsets", 18) == 0) ||
           (len == 19 && memcmp(name, "__transaction_state", 19) == 0);
}
