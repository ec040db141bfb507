/*
 * sl_group_admin.c — DescribeGroups, ListGroups and DeleteGroups on the owner
 * shard (one operation per group; ListGroups one per shard).
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_group.h"
#include "sl_group_admin.h"
#include "sl_log.h"
#include "kp_messages.h"

#include <strings.h>


/* Kafka's AclOperation bits a group supports: READ (3), DELETE (6), DESCRIBE (8). */
#define GROUP_AUTHORIZED_OPERATIONS ((1 << 3) | (1 << 6) | (1 << 8))

void sl_group_describe(sl_coord_t *c, sl_gop_t *op)
{
    const kp_str_t *gid = op->in;
    kp_describe_groups_response_groups_t *out = op->out;
    out->group_id = *gid;
    out->protocol_type = (kp_str_t){"", 0};
    out->protocol_data = (kp_str_t){"", 0};
    if (c->shard->stopping) {
        out->error_code = KE_NOT_COORDINATOR;
        out->group_state = (kp_str_t){"", 0};
        sl_gop_finish(op);
        return;
    }
    sl_group_t *g = gid->len > 0 ? sl_coord_find(c, gid->ptr, (size_t)gid->len) : NULL;
    if (!g || g->state == SL_GROUP_DEAD) {
        out->group_state = (kp_str_t){"Dead", 4};
        if (op->version >= 6) {
            out->error_code = KE_GROUP_ID_NOT_FOUND;
            out->error_message = (kp_str_t){"Group not found.", 16};
        }
        sl_gop_finish(op);
        return;
    }
    if (g->cg) {
        out->group_state = kp_str_from(sl_cgroup_state_name(g->cg));
        out->protocol_type = kp_str_from("consumer");
        uint32_t mc = sl_cgroup_member_count(g->cg);
        out->members = mc ? kp_arena_alloc(&op->arena, mc * sizeof(*out->members)) : NULL;
        if (mc && !out->members)
            out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        else
            out->members_count = sl_cgroup_describe_classic(g->cg, op, out->members);
        sl_gop_finish(op);
        return;
    }
    out->group_state = kp_str_from(sl_group_state_name(g->state));
    out->protocol_type = kp_str_nonnull(sl_gop_str(op, g->protocol_type));
    bool stable = g->state == SL_GROUP_STABLE;
    if (stable)
        out->protocol_data = kp_str_nonnull(sl_gop_str(op, g->protocol_name));
    if (g->member_count) {
        out->members = kp_arena_alloc(&op->arena, g->member_count * sizeof(*out->members));
        if (!out->members) {
            out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
            sl_gop_finish(op);
            return;
        }
    }
    int32_t n = 0;
    for (sl_member_t *m = g->members; m; m = m->next) {
        kp_describe_groups_response_members_t *d = &out->members[n++];
        kp_describe_groups_response_members_init(d);
        d->member_id = kp_str_nonnull(sl_gop_str(op, m->member_id));
        d->group_instance_id = sl_gop_str(op, m->instance_id);
        d->client_id = kp_str_nonnull(sl_gop_str(op, m->client_id));
        d->client_host = kp_str_nonnull(sl_gop_str(op, m->client_host));
        if (stable) {
            for (uint32_t i = 0; i < m->protocol_count; i++)
                if (strcmp(m->protocols[i].name, g->protocol_name) == 0)
                    d->member_metadata =
                        sl_gop_bytes(op, m->protocols[i].metadata, m->protocols[i].metadata_len);
            d->member_assignment = sl_gop_bytes(op, m->assignment, m->assignment_len);
        }
    }
    out->members_count = n;
    sl_gop_finish(op);
}

static bool filter_has(const kp_str_t *list, int32_t count, const char *name)
{
    if (count <= 0)
        return true;
    for (int32_t i = 0; i < count; i++)
        if (list[i].len >= 0 && (size_t)list[i].len == strlen(name) &&
            strncasecmp(list[i].ptr, name, (size_t)list[i].len) == 0)
            return true;
    return false;
}

void sl_group_list(sl_coord_t *c, sl_gop_t *op)
{
    const kp_list_groups_request_t *in = op->in;
    sl_group_list_out_t *out = op->out;
    int32_t states_n = op->version >= 4 ? in->states_filter_count : 0;
    int32_t types_n = op->version >= 5 ? in->types_filter_count : 0;
    out->groups = c->group_count
                      ? kp_arena_alloc(&op->arena, c->group_count * sizeof(*out->groups))
                      : NULL;
    if (c->group_count && !out->groups) {
        out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        sl_gop_finish(op);
        return;
    }
    for (uint32_t i = 0; i <= c->groups_mask; i++) {
        for (sl_group_t *g = c->groups[i]; g; g = g->hash_next) {
            if (g->state == SL_GROUP_DEAD)
                continue;
            const char *state = g->cg ? sl_cgroup_state_name(g->cg) : sl_group_state_name(g->state);
            const char *type = g->cg ? "consumer" : "classic";
            if (!filter_has(in->states_filter, states_n, state) ||
                !filter_has(in->types_filter, types_n, type))
                continue;
            kp_list_groups_response_groups_t *l = &out->groups[out->count++];
            kp_list_groups_response_groups_init(l);
            l->group_id = kp_str_nonnull(sl_gop_str(op, g->id));
            l->protocol_type = kp_str_nonnull(sl_gop_str(op, g->protocol_type));
            l->group_state = kp_str_from(state);
            l->group_type = kp_str_from(type);
        }
    }
    sl_gop_finish(op);
}

static void delete_written(sl_group_t *g, int err, void *ctx)
{
    sl_gop_t *op = ctx;
    kp_delete_groups_response_results_t *out = op->out;
    if (err) {
        LOG_WARN("group %s: its tombstone was not written: %d", g->id, err);
        out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
    }
    sl_gop_finish(op);
}

void sl_group_delete(sl_coord_t *c, sl_gop_t *op)
{
    const kp_str_t *gid = op->in;
    kp_delete_groups_response_results_t *out = op->out;
    out->group_id = *gid;
    if (c->shard->stopping) {
        out->error_code = KE_NOT_COORDINATOR;
        sl_gop_finish(op);
        return;
    }
    sl_group_t *g = gid->len > 0 ? sl_coord_find(c, gid->ptr, (size_t)gid->len) : NULL;
    if (!g || g->state == SL_GROUP_DEAD) {
        out->error_code = KE_GROUP_ID_NOT_FOUND;
        sl_gop_finish(op);
        return;
    }
    if (g->state != SL_GROUP_EMPTY || g->members || g->pending ||
        (g->cg && !sl_cgroup_is_empty(g->cg))) {
        out->error_code = KE_NON_EMPTY_GROUP;
        sl_gop_finish(op);
        return;
    }
    LOG_INFO("group %s deleted (%u committed offsets)", g->id, g->offset_count);
    if (sl_group_offsets_drop_all(g) != 0)
        LOG_WARN("group %s: offset tombstones not written", g->id);
    sl_group_set_state(g, SL_GROUP_DEAD);
    int rc = g->cg ? sl_cgroup_write_delete(g, delete_written, op)
                   : sl_group_log_store_group(g, delete_written, op);
    sl_coord_remove(c, g);
    if (rc != 0) {
        out->error_code = KE_COORDINATOR_NOT_AVAILABLE;
        sl_gop_finish(op);
    }
}
