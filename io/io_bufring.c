/* io_bufring.c — see io_bufring.h. */
#include "io_bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

int io_bufring_init(io_bufring_t *b, io_ring_t *r, uint16_t group_id, uint32_t count,
                    uint32_t buf_bytes)
{
    memset(b, 0, sizeof(*b));
    ASSERT(count > 0 && count <= 32768 && (count & (count - 1)) == 0);
    ASSERT(buf_bytes > 0);
    size_t ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
    void *ring_mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                          -1, 0);
    if (ring_mem == MAP_FAILED)
        return -errno;
    b->mem = malloc((size_t)count * buf_bytes);
    if (!b->mem) {
        munmap(ring_mem, ring_bytes);
        return -ENOMEM;
    }
    b->br = ring_mem;
    io_uring_buf_ring_init(b->br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)ring_mem;
    reg.ring_entries = count;
    reg.bgid = group_id;
    int err = io_uring_register_buf_ring(&r->uring, &reg, 0);
    if (err < 0) {
        free(b->mem);
        munmap(ring_mem, ring_bytes);
        b->mem = NULL;
        b->br = NULL;
        return err;
    }
    b->count = count;
    b->buf_bytes = buf_bytes;
    b->group_id = group_id;
    b->mask = io_uring_buf_ring_mask(count);
    for (uint32_t i = 0; i < count; i++)
        io_uring_buf_ring_add(b->br, b->mem + (size_t)i * buf_bytes, buf_bytes, (uint16_t)i,
                              b->mask, (int)i);
    io_uring_buf_ring_advance(b->br, (int)count);
    return 0;
}

void io_bufring_destroy(io_bufring_t *b, io_ring_t *r)
{
    if (!b->br)
        return;
    io_uring_unregister_buf_ring(&r->uring, b->group_id);
    munmap(b->br, (size_t)b->count * sizeof(struct io_uring_buf));
    free(b->mem);
    b->br = NULL;
    b->mem = NULL;
}

void io_bufring_recycle(io_bufring_t *b, uint16_t id)
{
    ASSERT(id < b->count);
    io_uring_buf_ring_add(b->br, b->mem + (size_t)id * b->buf_bytes, b->buf_bytes, id, b->mask,
                          0);
    io_uring_buf_ring_advance(b->br, 1);
}
