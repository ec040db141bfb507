/*
 * sl_req.h — one Kafka request on its way through the broker, and the API a
 * handler uses to answer it.
 *
 * Lifecycle
 *   sl_conn.c creates a request when a whole frame has arrived, decodes the
 *   header, and calls the handler from the API table (sl_api.h). The handler
 *   decodes the body from req->body into req->arena, acts (maybe through other
 *   shards, maybe waiting for disk), then answers exactly once with
 *   SL_RESPOND() / sl_req_complete(), or sl_req_no_response() (acks=0), or
 *   sl_req_fail_close() (the connection is closed after the responses before
 *   it have gone out). The connection sends responses in request order and frees
 *   each request after its response was written to the socket.
 *
 * Ownership
 *   frame, arena and response buffer belong to the request and are freed with
 *   it, after the cleanups registered with sl_req_on_free() ran (unpinning
 *   segments, freeing read buffers). Other shards may read the request's arena
 *   (immutable decoded data) and write the per-shard result slots they were given
 *   while a part of the request is with them; they never free anything of it.
 */
#ifndef SL_REQ_H
#define SL_REQ_H

#include "sl_base.h"
#include "sl_shard.h"
#include "kp_codec.h"
#include "kp_header.h"

#include <sys/uio.h>

typedef struct sl_cleanup {
    void (*fn)(void *arg);
    void *arg;
    struct sl_cleanup *next;
} sl_cleanup_t;

/* A piece of the response sent from a file (zero-copy fetch): the writer's
 * out-of-line entry whose pointer is `key` (an address the handler owns, never
 * dereferenced) stands for the bytes at `pos` of `fd`. The handler keeps fd
 * open (a pinned segment) until the request is freed. */
typedef struct sl_file_piece {
    const void *key;
    int fd;
    uint64_t pos;
} sl_file_piece_t;

typedef struct sl_req {
    struct sl_conn *conn;
    sl_shard_t *shard;
    struct sl_req *next;      /* connection FIFO */
    struct sl_req *park_next; /* shard's parked fetch list */
    uint8_t *frame;           /* request bytes after the 4-byte size */
    uint32_t frame_len;
    kp_request_header_t hdr;
    int hdr_version;
    kp_reader_t body;
    kp_arena_t arena;
    void *state;              /* handler's own state, in the arena */
    /* response */
    uint8_t *resp_buf;
    size_t resp_cap;
    kp_writer_t w;
    struct iovec *iov; /* built from w when the response is sent */
    uint32_t iov_count;
    uint32_t iov_first;
    sl_file_piece_t *files; /* in the order of their out-of-line entries */
    uint32_t file_count;
    uint32_t file_next;     /* the piece iov entries with a NULL base map to next */
    bool done;
    bool no_response;
    bool close_conn;
    bool parked;
    sl_cleanup_t *cleanups;
    uint64_t start_ns;
} sl_req_t;

/* Prepares the response: allocates room for the size prefix, the response
 * header and inline_body_bytes, writes prefix and header (the prefix counts
 * total_body_bytes, which includes bytes referenced through ext), and returns
 * the writer positioned at the body. ext/ext_cap (may be NULL/0) enable
 * zero-copy references for records fields. Returns NULL if memory ran out
 * (the request is then failed and the connection closed). */
kp_writer_t *sl_req_begin_response(sl_req_t *req, size_t total_body_bytes,
                                   size_t inline_body_bytes, kp_ext_t *ext, uint32_t ext_cap);
/* The response is encoded; send it when its turn comes. */
void sl_req_complete(sl_req_t *req);
/* This request gets no response (acks=0). */
void sl_req_no_response(sl_req_t *req);
/* No response, and close the connection once earlier responses are sent. */
void sl_req_fail_close(sl_req_t *req, const char *why);
/* Runs fn(arg) when the request is freed. Returns false if the arena is out
 * of memory (fn is then run at once). */
bool sl_req_on_free(sl_req_t *req, void (*fn)(void *arg), void *arg);

/* Encodes message `msg` of generated type kp_<name>_t as the response body. */
#define SL_RESPOND(req, name, msg)                                                         \
    do {                                                                                   \
        size_t sz_ = kp_##name##_size((msg), (req)->hdr.api_version);                      \
        kp_writer_t *w_ = sl_req_begin_response((req), sz_, sz_, NULL, 0);                 \
        if (w_) {                                                                          \
            int rc_ = kp_##name##_encode(w_, (msg), (req)->hdr.api_version);               \
            ASSERT(rc_ == 0);                                                              \
            sl_req_complete(req);                                                          \
        }                                                                                  \
    } while (0)

#endif /* SL_REQ_H */
