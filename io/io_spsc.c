/* io_spsc.c — see io_spsc.h. */
#include "io_ring.h"
#include "io_spsc.h"

#include <errno.h>
#include <stdlib.h>

int io_spsc_init(io_spsc_t *q, uint32_t capacity)
{
    ASSERT(capacity >= 2 && (capacity & (capacity - 1)) == 0);
    memset(q, 0, sizeof(*q));
    q->slots = calloc(capacity, sizeof(void *));
    if (!q->slots)
        return -ENOMEM;
    q->mask = capacity - 1;
    return 0;
}

void io_spsc_destroy(io_spsc_t *q)
{
    free(q->slots);
    q->slots = NULL;
}

void io_doorbell_ring(io_ring_t *r, int target_ring_fd, int32_t payload)
{
    struct io_uring_sqe *sqe = io_ring_sqe_nocb(r);
    io_uring_prep_msg_ring(sqe, target_ring_fd, (unsigned)payload,
                           (uint64_t)IO_KIND_DOORBELL << 56, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}
