/*
 * sl_fetch.h — long-poll support for Fetch: requests parked until enough data
 * or their max wait (fetch.min.bytes / fetch.max.wait.ms).
 *
 * A Fetch that found fewer than min_bytes is parked on its connection's shard
 * with a timer at its deadline. Any append on any shard marks the shards with
 * parked fetches (broker->parked_shards_mask) and wakes them; a woken shard
 * re-evaluates its parked fetches. An append that lands between a fetch's look
 * at the logs and its parking is caught by broker->append_seq (bumped by every
 * appending turn before it reads the mask; compared by the fetch after it set
 * its bit). A parked fetch whose connection closed, or
 * a shard that is stopping, answers at once.
 */
#ifndef SL_FETCH_H
#define SL_FETCH_H

#include "sl_shard.h"

/* Re-evaluates every parked fetch of s (on s's thread). */
void sl_fetch_wake_parked(sl_shard_t *s);

#endif /* SL_FETCH_H */
