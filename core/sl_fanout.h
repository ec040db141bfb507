/*
 * sl_fanout.h — a request's work split across the shards that own its
 * partitions, and the gathering of the results (ARCHITECTURE.md §1).
 *
 * The handler (on the connection's shard, the origin) creates a fan-out, adds
 * one item per partition tagged with the owner shard, and launches it. Each
 * owner receives its part as one message, calls on_item for each of its items,
 * and every item reports sl_fanout_item_done() when finished (at once, or after
 * a disk write). When a part's items are all done the part travels back to the
 * origin; when every part is back, on_done runs on the origin.
 *
 * Memory: the fan-out, its parts and the items live in the request's arena.
 * Owners only read the items' inputs and write their outputs; they never
 * allocate from the arena.
 */
#ifndef SL_FANOUT_H
#define SL_FANOUT_H

#include "sl_req.h"

struct sl_fanout;

typedef struct sl_fanout_part {
    sl_xmsg_t x;
    struct sl_fanout *fo;
    int16_t shard;
    uint32_t item_count;
    uint32_t item_cap;
    void **items;
    uint32_t items_pending; /* touched only by the owner while the part is there */
} sl_fanout_part_t;

typedef void (*sl_fanout_item_fn)(sl_shard_t *owner, sl_fanout_part_t *part, void *item);

typedef struct sl_fanout {
    sl_req_t *req;
    sl_fanout_item_fn on_item;
    void (*on_done)(sl_req_t *req);
    sl_fanout_part_t *parts[SL_MAX_SHARDS];
    uint32_t parts_pending;
} sl_fanout_t;

/* NULL when the request's arena is exhausted. */
sl_fanout_t *sl_fanout_new(sl_req_t *req, sl_fanout_item_fn on_item, void (*on_done)(sl_req_t *));
/* Returns 0 or SL_ERR_LIMIT (arena exhausted). */
int sl_fanout_add(sl_fanout_t *fo, int shard, void *item);
/* Sends every part to its owner; on_done runs (later, on this shard) when all
 * are back, even if there were no items. */
void sl_fanout_launch(sl_fanout_t *fo);
/* Owner side: one item of part is finished. */
void sl_fanout_item_done(sl_shard_t *owner, sl_fanout_part_t *part);

#endif /* SL_FANOUT_H */
