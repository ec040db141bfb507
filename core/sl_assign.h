/*
 * sl_assign.h — KIP-848 server-side partition assignors ("uniform", "range") as
 * pure functions: a description of the group in, a target assignment out.
 *
 * Why pure
 *   The group coordinator owns members, epochs and persistence; the assignor
 *   only maps (topics, member subscriptions, current target assignment) to a
 *   new target assignment. No state, no I/O, no globals: the same input gives
 *   the same output, byte for byte, on any shard and across restarts. That is
 *   what lets the coordinator recompute an assignment after recovery and get
 *   the one it had written.
 *
 * Ownership
 *   The caller owns everything in sl_assign_input_t and keeps it alive for the
 *   duration of the call; the assignor reads it and never keeps a pointer.
 *   On success the assignor fills *out; all of it lives in one allocation
 *   (out->mem) released by sl_assign_output_free(). On failure *out is zeroed
 *   and nothing needs freeing. Assignors allocate (malloc) a scratch block per
 *   call: they run on a rebalance, not per request, so this is off the data path.
 *   Thread-safe: any shard may call them concurrently.
 *
 * Input model
 *   Topics are an array; everything else refers to a topic by its index. A
 *   member's `owned` list is its current target assignment, the stickiness
 *   input. Entries whose partition no longer exists (partition < 0 or
 *   >= partition_count) or whose topic the member no longer subscribes to are
 *   ignored, as are repeats; if two members claim the same partition, the
 *   member with the smaller member id (strcmp) keeps the claim. An owned entry
 *   whose topic index is outside [0, topic_count) is bad input (-EINVAL): a
 *   deleted topic has no index, so the caller drops owned entries naming it
 *   (or keeps the topic in the array, with any partition count).
 *
 * Output guarantees (both assignors; checked by sl_assign_output_verify)
 *   1. every partition of a topic that at least one member subscribes to is
 *      assigned to exactly one member, and that member subscribes to the topic;
 *   2. partitions of topics nobody subscribes to are not assigned;
 *   3. out->members[i] belongs to in->members[i]; its tps are sorted by
 *      (topic, partition) with no repeats;
 *   4. the output depends on the members' ids, instance ids, subscriptions and
 *      owned lists, not on the order of the members array (ties are broken by
 *      member id, then topic name, then topic index).
 *
 * "uniform" (sl_assign_uniform.c; Kafka's UniformAssignor: its homogeneous
 * builder's quotas when all members subscribe to the same topics, its
 * heterogeneous builder's per-topic balancing otherwise)
 *   Balance first, then stickiness:
 *   - when every member subscribes to the same topics, members differ by at
 *     most one partition;
 *   - otherwise balancing is Kafka's per-topic iteration: at its fixpoint
 *     every member that holds a partition of topic T holds at most one more
 *     partition than any other subscriber of T, so members with identical
 *     subscriptions differ by at most one. It is capped at
 *     SL_ASSIGN_UNIFORM_MAX_PASSES passes (Kafka: 16); only long chains of
 *     overlapping subscriptions starting from a heavy skew need more (e.g. 30
 *     members each on 2 of 31 topics with 900k partitions all on one member),
 *     and the cap leaves them short of the fixpoint, still complete;
 *   - every valid owned partition is kept unless keeping it breaks balance.
 *     Homogeneous groups keep the most partitions any balanced assignment can
 *     keep (the larger quotas go to the members that own the most; Kafka gives
 *     them to the first members it iterates over). So when a member joins a
 *     balanced group it receives exactly floor(P / M) partitions and no other
 *     partition moves, and when one leaves only its partitions move. Otherwise a member gives
 *     up partitions it did not own before ones it did, and receivers are the
 *     least loaded (ties: fewest previously owned partitions, then member id).
 *
 * "range" (sl_assign_range.c; Kafka's 848 RangeAssignor)
 *   Per topic, its subscribers in order — members with an instance id first,
 *   sorted by instance id, then the others sorted by member id — get contiguous
 *   ranges of partitions; with P partitions and N subscribers each gets P / N and
 *   the first P % N get one more. Topics with equal partition counts and equal
 *   subscribers are therefore co-partitioned (a member gets the same partition
 *   numbers of each). Like Kafka's current RangeAssignor it ignores `owned`:
 *   its stickiness is the stable member order (static members keep their place
 *   across restarts through their instance id).
 *
 * Limits: the SL_ASSIGN_MAX_* below; inputs beyond them are rejected (-EINVAL).
 */
#ifndef SL_ASSIGN_H
#define SL_ASSIGN_H

#include "sl_base.h"

/* --- limits -------------------------------------------------------------- */
#define SL_ASSIGN_MAX_MEMBERS 100000
#define SL_ASSIGN_MAX_TOPICS 100000
/* Sum of partition_count over all topics of one input (so the scratch arrays
 * indexed by partition are at most 4 MB each). */
#define SL_ASSIGN_MAX_PARTITIONS 1000000
/* Sum of subscribed_count over all members (scratch: 4 bytes each). */
#define SL_ASSIGN_MAX_SUBSCRIPTIONS 10000000
/* Sum of owned_count over all members; stale entries count too. */
#define SL_ASSIGN_MAX_OWNED (2 * SL_ASSIGN_MAX_PARTITIONS)
/* Member id and instance id lengths (Kafka's int16 string limit). */
#define SL_ASSIGN_MAX_ID_BYTES 32767
/* Full balancing passes over all topics of the uniform assignor. Every move
 * strictly lowers the sum of squared member loads, so balancing ends anyway;
 * the cap bounds its time (a pass sorts the partitions of each unbalanced
 * topic: ~12 ms per pass at 1M partitions). Real inputs converge in a few
 * passes; an 11-member chain of overlapping subscriptions starting with all
 * 2200 partitions on one member takes 28. */
#define SL_ASSIGN_UNIFORM_MAX_PASSES 64

/* --- input ------------------------------------------------------------------ */
typedef struct sl_assign_topic {
    const char *name;        /* non-NULL; only used to break ties */
    int32_t partition_count; /* >= 0 */
} sl_assign_topic_t;

typedef struct sl_assign_tp {
    int32_t topic; /* index into sl_assign_input_t.topics */
    int32_t partition;
} sl_assign_tp_t;

typedef struct sl_assign_member {
    const char *member_id;     /* unique, non-empty */
    const char *instance_id;   /* NULL when not static; else unique, non-empty */
    const int32_t *subscribed; /* topic indexes, no duplicates, any order */
    uint32_t subscribed_count;
    const sl_assign_tp_t *owned; /* current target assignment, see "Input model" */
    uint32_t owned_count;
} sl_assign_member_t;

typedef struct sl_assign_input {
    const sl_assign_topic_t *topics;
    uint32_t topic_count;
    const sl_assign_member_t *members;
    uint32_t member_count;
} sl_assign_input_t;

/* --- output ----------------------------------------------------------------- */
typedef struct sl_assign_member_result {
    sl_assign_tp_t *tps; /* sorted by (topic, partition); NULL when count == 0 */
    uint32_t count;
} sl_assign_member_result_t;

typedef struct sl_assign_output {
    sl_assign_member_result_t *members; /* [member_count], same order as input */
    void *mem;                          /* the one allocation behind it all */
} sl_assign_output_t;

/* An assignor. Returns 0 and fills *out (free with sl_assign_output_free), or
 * -ENOMEM, or -EINVAL for bad input (topic index out of range, duplicate
 * subscription, duplicate member or instance id, empty or NULL member id,
 * negative partition count, a limit exceeded); *out is zeroed on failure. */
typedef int (*sl_assignor_fn)(const sl_assign_input_t *in, sl_assign_output_t *out);

int sl_assign_uniform(const sl_assign_input_t *in, sl_assign_output_t *out);
int sl_assign_range(const sl_assign_input_t *in, sl_assign_output_t *out);

/* Frees what an assignor put in *out and zeroes it. Safe on a zeroed output. */
void sl_assign_output_free(sl_assign_output_t *out);

/* The assignor called `name` ("uniform", "range"), or NULL if unknown (also for
 * NULL). Kafka's default server assignor is "uniform". */
sl_assignor_fn sl_assignor_find(const char *name);

/* Checks output guarantees 1-3 above for an output of `in`. Returns 0 when
 * they hold, -EINVAL when one is broken, -ENOMEM. A full checker for tests and
 * DEBUG_ASSERT; O(partitions + subscriptions). */
int sl_assign_output_verify(const sl_assign_input_t *in, const sl_assign_output_t *out);

/* --- shared by the assignors (sl_assign.c); not for other modules ------------ */

/* Validates `in` against the rules and limits above. On 0, by_member_id[r] is
 * the input index of the member with the r-th smallest member id, and
 * by_static_first[r] the r-th member in range order (instance ids first, by
 * instance id, then member ids); both arrays have member_count slots.
 * Returns 0, -EINVAL or -ENOMEM. */
int sl_assign_input_check(const sl_assign_input_t *in, uint32_t *by_member_id,
                          uint32_t *by_static_first);

/* Fills base[0..topic_count] with each topic's offset in a flat array of all
 * partitions (base[topic_count] is the total). Input must have passed
 * sl_assign_input_check. */
void sl_assign_topic_bases(const sl_assign_input_t *in, uint32_t *base);

/* Builds *out from owner[base[t] + p] = input member index owning partition p
 * of topic t, or -1. Returns 0 or -ENOMEM (*out zeroed). */
int sl_assign_output_build(const sl_assign_input_t *in, const uint32_t *base, const int32_t *owner,
                           sl_assign_output_t *out);

#endif /* SL_ASSIGN_H */
