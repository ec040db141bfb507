/*
 * h_init_producer_id.c — InitProducerId (key 22) v0–5: a producer id and epoch
 * for an idempotent producer (ARCHITECTURE.md §5).
 *
 * transactional_id null (idempotent producer): a brand-new producer id with
 *   epoch 0, allocated on shard 0 (sl_producer_ids.h). The request is posted
 *   to shard 0 as a message and the answer comes back to the connection's shard
 *   by message. As Kafka does for every non-transactional InitProducerId, an id
 *   and epoch passed in v3+ (KIP-360 epoch bump) are ignored: the producer gets
 *   a new id, which resets its sequences exactly like a bumped epoch would.
 *   transaction_timeout_ms is not checked (Kafka checks it only for
 *   transactional requests).
 *
 * transactional_id non-null: transactions are not implemented yet. The
 *   timeout is validated first as Kafka does (INVALID_TRANSACTION_TIMEOUT when
 *   <= 0 or > transaction.max.timeout.ms, default 900000), then the answer is
 *   COORDINATOR_NOT_AVAILABLE (15) — what a Kafka broker answers when no
 *   transaction coordinator is active. No real client gets here: FindCoordinator
 *   is not advertised, so librdkafka and the Java client fail their transaction
 *   coordinator lookup (a clear "not supported" error) before sending
 *   InitProducerId; a client that does send it and retries would retry a
 *   lookup that fails the same way. When the transaction coordinator lands,
 *   this branch routes to it.
 *
 * Errors of the allocator: a failed block reservation (disk) answers
 *   COORDINATOR_LOAD_IN_PROGRESS (14), what Kafka answers while its producer id
 *   manager has no block; clients retry. The allocator retries the write on the
 *   next request.
 */
#include "sl_base.h"
#include "sl_api.h"
#include "sl_producer_ids.h"
#include "kp_messages.h"

enum {
    KE_INVALID_TRANSACTION_TIMEOUT = 50,
};

/* Kafka's default transaction.max.timeout.ms (not yet a sluice setting). */
#define PID_TRANSACTION_MAX_TIMEOUT_MS 900000

/* The trip to shard 0 and back; lives in the request's arena. */
typedef struct pid_trip {
    sl_xmsg_t x;
    sl_req_t *req;
    int16_t origin_shard;
    kp_init_producer_id_response_t resp; /* written on shard 0, read back on origin */
} pid_trip_t;

/* Back on the connection's shard. */
static void pid_answer(sl_shard_t *self, sl_xmsg_t *m)
{
    pid_trip_t *t = (pid_trip_t *)m;
    ASSERT(self->id == t->origin_shard);
    SL_RESPOND(t->req, init_producer_id_response, &t->resp);
}

/* On shard 0. */
static void pid_allocate(sl_shard_t *self, sl_xmsg_t *m)
{
    pid_trip_t *t = (pid_trip_t *)m;
    ASSERT(self->id == 0 && self->producer_ids);
    int64_t id = -1;
    int rc = sl_producer_ids_next(self->producer_ids, &id);
    if (rc == 0) {
        t->resp.error_code = KE_NONE;
        t->resp.producer_id = id;
        t->resp.producer_epoch = 0;
    } else {
        t->resp.error_code = rc == SL_ERR_LIMIT ? KE_UNKNOWN_SERVER_ERROR
                                                : KE_COORDINATOR_LOAD_IN_PROGRESS;
        t->resp.producer_id = -1;
        t->resp.producer_epoch = -1;
    }
    t->x.run = pid_answer;
    sl_shard_post(self, t->origin_shard, &t->x);
}

void sl_handle_init_producer_id(sl_req_t *req)
{
    kp_init_producer_id_request_t in;
    pid_trip_t *t = kp_arena_alloc(&req->arena, sizeof(*t));
    if (!t || kp_init_producer_id_request_decode(&req->body, &req->arena, req->hdr.api_version,
                                                 &in) != 0) {
        sl_req_fail_close(req, "malformed InitProducerId request");
        return;
    }
    memset(t, 0, sizeof(*t));
    kp_init_producer_id_response_init(&t->resp);
    t->resp.producer_id = -1;
    t->resp.producer_epoch = -1;
    t->req = req;
    t->origin_shard = (int16_t)req->shard->id;
    if (in.transactional_id.len >= 0) {
        if (in.transaction_timeout_ms <= 0 ||
            in.transaction_timeout_ms > PID_TRANSACTION_MAX_TIMEOUT_MS)
            t->resp.error_code = KE_INVALID_TRANSACTION_TIMEOUT;
        else
            t->resp.error_code = KE_COORDINATOR_NOT_AVAILABLE;
        SL_RESPOND(req, init_producer_id_response, &t->resp);
        return;
    }
    t->x.run = pid_allocate;
    sl_shard_post(req->shard, 0, &t->x);
}
