/* sl_assign_range.c — the "range" assignor (Kafka's KIP-848 RangeAssignor).
 * See sl_assign.h for the contract.
 *
 * Members are walked once in range order (static members by instance id, then
 * dynamic members by member id). Each topic keeps a cursor `next` and the
 * number of extra partitions still to hand out; a member takes, from each topic
 * it subscribes to, [next, next + P / N (+1 while extras remain)). Because
 * every topic's subscribers are visited in the same order, topics with equal
 * partition counts and equal subscribers give each member the same partition
 * numbers (co-partitioning). `owned` is not consulted, as in Kafka.
 *
 * Invariants (asserted): a topic's cursor never passes its partition count and
 * ends exactly on it once all its subscribers were served. */
#include "sl_base.h"
#include "sl_assign.h"

#include <errno.h>
#include <stdlib.h>

typedef struct range_topic {
    int32_t subscribers; /* N */
    int32_t next;        /* first partition not yet handed out */
    int32_t extra_left;  /* members still due P / N + 1 */
    int32_t served;      /* subscribers handed a range so far */
} range_topic_t;

int sl_assign_range(const sl_assign_input_t *in, sl_assign_output_t *out)
{
    ASSERT(in != NULL && out != NULL);
    out->members = NULL;
    out->mem = NULL;

    range_topic_t *topics = NULL;
    uint32_t *base = NULL;
    int32_t *owner = NULL;
    uint32_t member_slots = in->member_count > 0 ? in->member_count : 1;
    uint32_t *by_id = malloc(2 * (size_t)member_slots * sizeof(*by_id));
    if (by_id == NULL)
        return -ENOMEM;
    uint32_t *order = by_id + member_slots;
    int rc = sl_assign_input_check(in, by_id, order);
    if (rc != 0 || in->member_count == 0)
        goto out_free; /* bad input, or nobody to assign to: empty output */

    topics = calloc((size_t)in->topic_count + 1, sizeof(*topics));
    base = malloc(((size_t)in->topic_count + 1) * sizeof(*base));
    if (topics == NULL || base == NULL) {
        rc = -ENOMEM;
        goto out_free;
    }
    sl_assign_topic_bases(in, base);
    owner = malloc(((size_t)base[in->topic_count] + 1) * sizeof(*owner));
    if (owner == NULL) {
        rc = -ENOMEM;
        goto out_free;
    }
    for (uint32_t i = 0; i < base[in->topic_count]; i++)
        owner[i] = -1;

    for (uint32_t m = 0; m < in->member_count; m++) {
        const sl_assign_member_t *mem = &in->members[m];
        for (uint32_t s = 0; s < mem->subscribed_count; s++)
            topics[mem->subscribed[s]].subscribers++;
    }
    for (uint32_t t = 0; t < in->topic_count; t++) {
        if (topics[t].subscribers > 0)
            topics[t].extra_left = in->topics[t].partition_count % topics[t].subscribers;
    }

    for (uint32_t r = 0; r < in->member_count; r++) {
        uint32_t m = order[r];
        const sl_assign_member_t *mem = &in->members[m];
        for (uint32_t s = 0; s < mem->subscribed_count; s++) {
            int32_t t = mem->subscribed[s];
            range_topic_t *rt = &topics[t];
            int32_t partitions = in->topics[t].partition_count;
            int32_t take = partitions / rt->subscribers;
            if (rt->extra_left > 0) {
                take++;
                rt->extra_left--;
            }
            ASSERT(rt->next + take <= partitions);
            for (int32_t p = rt->next; p < rt->next + take; p++)
                owner[base[t] + (uint32_t)p] = (int32_t)m;
            rt->next += take;
            rt->served++;
        }
    }
    for (uint32_t t = 0; t < in->topic_count; t++) {
        ASSERT(topics[t].served == topics[t].subscribers);
        ASSERT(topics[t].subscribers == 0 || topics[t].next == in->topics[t].partition_count);
    }

    rc = sl_assign_output_build(in, base, owner, out);
    DEBUG_ASSERT(rc != 0 || sl_assign_output_verify(in, out) != -EINVAL);
out_free:
    free(owner);
    free(base);
    free(topics);
    free(by_id);
    return rc;
}
