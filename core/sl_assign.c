/* sl_assign.c — assignor dispatch, input validation, output building and the
 * output checker shared by the assignors. See sl_assign.h. */
#include "sl_base.h"
#include "sl_assign.h"

#include <errno.h>
#include <stdlib.h>

typedef struct assign_name {
    const char *name;
    sl_assignor_fn fn;
} assign_name_t;

static const assign_name_t assign_names[] = {
    {"uniform", sl_assign_uniform},
    {"range", sl_assign_range},
};

sl_assignor_fn sl_assignor_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < SL_ARRAY_SIZE(assign_names); i++) {
        if (strcmp(assign_names[i].name, name) == 0)
            return assign_names[i].fn;
    }
    return NULL;
}

void sl_assign_output_free(sl_assign_output_t *out)
{
    if (out == NULL)
        return;
    free(out->mem);
    out->mem = NULL;
    out->members = NULL;
}

/* --- validation ------------------------------------------------------------ */

typedef struct member_key {
    const char *instance_id; /* NULL when not static */
    const char *member_id;
    uint32_t index;
} member_key_t;

static int member_key_cmp_id(const void *a, const void *b)
{
    const member_key_t *x = a, *y = b;
    return strcmp(x->member_id, y->member_id);
}

/* Static members first, by instance id; then dynamic members by member id.
 * Member ids are unique (checked before this sort), so the order is total. */
static int member_key_cmp_static_first(const void *a, const void *b)
{
    const member_key_t *x = a, *y = b;
    if (x->instance_id != NULL && y->instance_id != NULL) {
        int c = strcmp(x->instance_id, y->instance_id);
        return c != 0 ? c : strcmp(x->member_id, y->member_id);
    }
    if (x->instance_id != NULL)
        return -1;
    if (y->instance_id != NULL)
        return 1;
    return strcmp(x->member_id, y->member_id);
}

/* True when s is a usable id: non-NULL, non-empty, within the length limit. */
static bool assign_id_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    return strnlen(s, SL_ASSIGN_MAX_ID_BYTES + 1) <= SL_ASSIGN_MAX_ID_BYTES;
}

static int assign_check_topics(const sl_assign_input_t *in)
{
    if (in->topic_count > SL_ASSIGN_MAX_TOPICS)
        return -EINVAL;
    if (in->topic_count > 0 && in->topics == NULL)
        return -EINVAL;
    uint64_t total = 0;
    for (uint32_t t = 0; t < in->topic_count; t++) {
        const sl_assign_topic_t *topic = &in->topics[t];
        if (topic->name == NULL || topic->partition_count < 0)
            return -EINVAL;
        total += (uint64_t)topic->partition_count;
        if (total > SL_ASSIGN_MAX_PARTITIONS)
            return -EINVAL;
    }
    return 0;
}

/* Checks one member's fields; seen[] (topic_count slots) holds, per topic, the
 * 1-based index of the last member that subscribed to it. */
static int assign_check_member(const sl_assign_input_t *in, uint32_t i, uint32_t *seen)
{
    const sl_assign_member_t *m = &in->members[i];
    if (!assign_id_ok(m->member_id))
        return -EINVAL;
    if (m->instance_id != NULL && !assign_id_ok(m->instance_id))
        return -EINVAL;
    if (m->subscribed_count > in->topic_count)
        return -EINVAL; /* no duplicates: cannot exceed the topic count */
    if (m->subscribed_count > 0 && m->subscribed == NULL)
        return -EINVAL;
    if (m->owned_count > 0 && m->owned == NULL)
        return -EINVAL;
    for (uint32_t s = 0; s < m->subscribed_count; s++) {
        int32_t t = m->subscribed[s];
        if (t < 0 || (uint32_t)t >= in->topic_count)
            return -EINVAL;
        if (seen[t] == i + 1)
            return -EINVAL; /* duplicate subscription */
        seen[t] = i + 1;
    }
    for (uint32_t o = 0; o < m->owned_count; o++) {
        int32_t t = m->owned[o].topic;
        if (t < 0 || (uint32_t)t >= in->topic_count)
            return -EINVAL;
    }
    return 0;
}

int sl_assign_input_check(const sl_assign_input_t *in, uint32_t *by_member_id,
                          uint32_t *by_static_first)
{
    ASSERT(in != NULL);
    int rc = assign_check_topics(in);
    if (rc != 0)
        return rc;
    if (in->member_count > SL_ASSIGN_MAX_MEMBERS)
        return -EINVAL;
    if (in->member_count == 0)
        return 0;
    if (in->members == NULL)
        return -EINVAL;
    ASSERT(by_member_id != NULL && by_static_first != NULL);

    uint32_t *seen = calloc(in->topic_count > 0 ? in->topic_count : 1, sizeof(*seen));
    member_key_t *keys = malloc(in->member_count * sizeof(*keys));
    if (seen == NULL || keys == NULL) {
        rc = -ENOMEM;
        goto out_free;
    }
    uint64_t subscriptions = 0, owned = 0;
    for (uint32_t i = 0; i < in->member_count; i++) {
        rc = assign_check_member(in, i, seen);
        if (rc != 0)
            goto out_free;
        subscriptions += in->members[i].subscribed_count;
        owned += in->members[i].owned_count;
        keys[i] = (member_key_t){in->members[i].instance_id, in->members[i].member_id, i};
    }
    if (subscriptions > SL_ASSIGN_MAX_SUBSCRIPTIONS || owned > SL_ASSIGN_MAX_OWNED) {
        rc = -EINVAL;
        goto out_free;
    }

    qsort(keys, in->member_count, sizeof(*keys), member_key_cmp_id);
    for (uint32_t r = 0; r < in->member_count; r++) {
        if (r > 0 && strcmp(keys[r - 1].member_id, keys[r].member_id) == 0) {
            rc = -EINVAL; /* duplicate member id */
            goto out_free;
        }
        by_member_id[r] = keys[r].index;
    }

    qsort(keys, in->member_count, sizeof(*keys), member_key_cmp_static_first);
    for (uint32_t r = 0; r < in->member_count; r++) {
        if (r > 0 && keys[r].instance_id != NULL && keys[r - 1].instance_id != NULL &&
            strcmp(keys[r - 1].instance_id, keys[r].instance_id) == 0) {
            rc = -EINVAL; /* duplicate instance id */
            goto out_free;
        }
        by_static_first[r] = keys[r].index;
    }
    rc = 0;
out_free:
    free(keys);
    free(seen);
    return rc;
}

void sl_assign_topic_bases(const sl_assign_input_t *in, uint32_t *base)
{
    uint32_t total = 0;
    for (uint32_t t = 0; t < in->topic_count; t++) {
        base[t] = total;
        total += (uint32_t)in->topics[t].partition_count;
    }
    base[in->topic_count] = total;
    ASSERT(total <= SL_ASSIGN_MAX_PARTITIONS);
}

/* --- output ------------------------------------------------------------------ */

int sl_assign_output_build(const sl_assign_input_t *in, const uint32_t *base, const int32_t *owner,
                           sl_assign_output_t *out)
{
    out->members = NULL;
    out->mem = NULL;
    if (in->member_count == 0)
        return 0;

    uint32_t total = base[in->topic_count];
    uint32_t assigned = 0;
    for (uint32_t i = 0; i < total; i++)
        assigned += owner[i] >= 0;

    size_t members_bytes = (size_t)in->member_count * sizeof(sl_assign_member_result_t);
    members_bytes = SL_ALIGN_UP(members_bytes, _Alignof(sl_assign_tp_t));
    char *mem = malloc(members_bytes + (size_t)assigned * sizeof(sl_assign_tp_t));
    if (mem == NULL)
        return -ENOMEM;
    sl_assign_member_result_t *res = (sl_assign_member_result_t *)mem;
    sl_assign_tp_t *tps = (sl_assign_tp_t *)(mem + members_bytes);

    for (uint32_t m = 0; m < in->member_count; m++)
        res[m] = (sl_assign_member_result_t){NULL, 0};
    for (uint32_t i = 0; i < total; i++) {
        if (owner[i] >= 0) {
            ASSERT((uint32_t)owner[i] < in->member_count);
            res[owner[i]].count++;
        }
    }
    /* Hand out slices in member order; count is re-used as the fill cursor. */
    uint32_t next = 0;
    for (uint32_t m = 0; m < in->member_count; m++) {
        res[m].tps = res[m].count > 0 ? tps + next : NULL;
        next += res[m].count;
        res[m].count = 0;
    }
    ASSERT(next == assigned);
    /* Walking topics then partitions in order leaves every slice sorted. */
    for (uint32_t t = 0; t < in->topic_count; t++) {
        for (int32_t p = 0; p < in->topics[t].partition_count; p++) {
            int32_t o = owner[base[t] + (uint32_t)p];
            if (o >= 0)
                res[o].tps[res[o].count++] = (sl_assign_tp_t){(int32_t)t, p};
        }
    }
    out->members = res;
    out->mem = mem;
    return 0;
}

int sl_assign_output_verify(const sl_assign_input_t *in, const sl_assign_output_t *out)
{
    if (in->member_count == 0)
        return 0;
    if (out->members == NULL)
        return -EINVAL;
    uint32_t *base = malloc(((size_t)in->topic_count + 1) * sizeof(*base));
    uint8_t *topic_wanted = calloc(in->topic_count + 1, 1);
    uint32_t *sub_mark = calloc(in->topic_count + 1, sizeof(*sub_mark));
    if (base == NULL || topic_wanted == NULL || sub_mark == NULL) {
        free(base);
        free(topic_wanted);
        free(sub_mark);
        return -ENOMEM;
    }
    sl_assign_topic_bases(in, base);
    uint8_t *seen = calloc(base[in->topic_count] + 1, 1);
    int rc = seen == NULL ? -ENOMEM : 0;

    for (uint32_t m = 0; rc == 0 && m < in->member_count; m++) {
        const sl_assign_member_t *mem = &in->members[m];
        const sl_assign_member_result_t *res = &out->members[m];
        for (uint32_t s = 0; s < mem->subscribed_count; s++) {
            topic_wanted[mem->subscribed[s]] = 1;
            sub_mark[mem->subscribed[s]] = m + 1;
        }
        if (res->count > 0 && res->tps == NULL)
            rc = -EINVAL;
        for (uint32_t k = 0; rc == 0 && k < res->count; k++) {
            sl_assign_tp_t tp = res->tps[k];
            if (tp.topic < 0 || (uint32_t)tp.topic >= in->topic_count || tp.partition < 0 ||
                tp.partition >= in->topics[tp.topic].partition_count ||
                sub_mark[tp.topic] != m + 1) {
                rc = -EINVAL; /* not a partition, or not a subscribed one */
                break;
            }
            if (k > 0) {
                sl_assign_tp_t prev = res->tps[k - 1];
                if (prev.topic > tp.topic ||
                    (prev.topic == tp.topic && prev.partition >= tp.partition)) {
                    rc = -EINVAL; /* unsorted or repeated */
                    break;
                }
            }
            uint32_t flat = base[tp.topic] + (uint32_t)tp.partition;
            if (seen[flat]) {
                rc = -EINVAL; /* assigned twice */
                break;
            }
            seen[flat] = 1;
        }
    }
    for (uint32_t t = 0; rc == 0 && t < in->topic_count; t++) {
        for (uint32_t i = base[t]; i < base[t + 1]; i++) {
            if (seen[i] != topic_wanted[t]) {
                rc = -EINVAL; /* subscribed but unassigned */
                break;
            }
        }
    }
    free(seen);
    free(sub_mark);
    free(topic_wanted);
    free(base);
    return rc;
}
