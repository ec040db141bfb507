/* sl_fanout.c — see sl_fanout.h. */
#include "sl_base.h"
#include "sl_fanout.h"

sl_fanout_t *sl_fanout_new(sl_req_t *req, sl_fanout_item_fn on_item, void (*on_done)(sl_req_t *))
{
    sl_fanout_t *fo = kp_arena_alloc(&req->arena, sizeof(*fo));
    if (!fo)
        return NULL;
    fo->req = req;
    fo->on_item = on_item;
    fo->on_done = on_done;
    return fo;
}

int sl_fanout_add(sl_fanout_t *fo, int shard, void *item)
{
    ASSERT(shard >= 0 && shard < fo->req->shard->broker->shard_count);
    sl_fanout_part_t *p = fo->parts[shard];
    if (!p) {
        p = kp_arena_alloc(&fo->req->arena, sizeof(*p));
        if (!p)
            return SL_ERR_LIMIT;
        p->fo = fo;
        p->shard = (int16_t)shard;
        fo->parts[shard] = p;
    }
    if (p->item_count == p->item_cap) {
        uint32_t cap = p->item_cap ? p->item_cap * 2 : 8;
        void **items = kp_arena_alloc(&fo->req->arena, cap * sizeof(void *));
        if (!items)
            return SL_ERR_LIMIT;
        if (p->item_count)
            memcpy(items, p->items, p->item_count * sizeof(void *));
        p->items = items;
        p->item_cap = cap;
    }
    p->items[p->item_count++] = item;
    return 0;
}

/* Origin: a part came back. */
static void part_returned(sl_shard_t *self, sl_xmsg_t *m)
{
    sl_fanout_part_t *p = SL_CONTAINER_OF(m, sl_fanout_part_t, x);
    sl_fanout_t *fo = p->fo;
    ASSERT(self == fo->req->shard);
    ASSERT(fo->parts_pending > 0);
    if (--fo->parts_pending == 0)
        fo->on_done(fo->req);
}

/* Owner: run every item of the part. */
static void part_arrived(sl_shard_t *self, sl_xmsg_t *m)
{
    sl_fanout_part_t *p = SL_CONTAINER_OF(m, sl_fanout_part_t, x);
    ASSERT(self->id == p->shard);
    /* One extra hold so that items finishing synchronously cannot send the
     * part back while we are still iterating over it. */
    p->items_pending = p->item_count + 1;
    for (uint32_t i = 0; i < p->item_count; i++)
        p->fo->on_item(self, p, p->items[i]);
    sl_fanout_item_done(self, p);
}

void sl_fanout_item_done(sl_shard_t *owner, sl_fanout_part_t *part)
{
    ASSERT(owner->id == part->shard);
    ASSERT(part->items_pending > 0);
    if (--part->items_pending > 0)
        return;
    part->x.run = part_returned;
    sl_shard_post(owner, part->fo->req->shard->id, &part->x);
}

void sl_fanout_launch(sl_fanout_t *fo)
{
    sl_shard_t *self = fo->req->shard;
    int n = self->broker->shard_count;
    fo->parts_pending = 1; /* held until every part is posted */
    for (int s = 0; s < n; s++) {
        sl_fanout_part_t *p = fo->parts[s];
        if (!p)
            continue;
        fo->parts_pending++;
        p->x.run = part_arrived;
        sl_shard_post(self, s, &p->x);
    }
    if (--fo->parts_pending == 0)
        fo->on_done(fo->req);
}
