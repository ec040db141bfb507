/* sl_group_admin.h — the per-shard result of ListGroups (sl_group_admin.c). */
#ifndef SL_GROUP_ADMIN_H
#define SL_GROUP_ADMIN_H

#include "kp_messages.h"

typedef struct sl_group_list_out {
    int16_t error_code;
    kp_list_groups_response_groups_t *groups; /* in the operation's arena */
    int32_t count;
} sl_group_list_out_t;

#endif /* SL_GROUP_ADMIN_H */
