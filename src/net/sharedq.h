/* Shared output for broadcast: a block of encoded frames is made once,
 * reference-counted, and queued to every client that gets it. The frames
 * are the WebSocket ones a server sends (another transport decodes them).
 * Pure: no I/O, no libev. */
#ifndef WSB_SHAREDQ_H
#define WSB_SHAREDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sq_block {
    unsigned refs;
    size_t len, cap;
    uint8_t data[];
};

/* A block with room for cap bytes and one reference (the maker's). */
struct sq_block *sq_block_new(size_t cap);
void sq_block_ref(struct sq_block *b);
void sq_block_unref(struct sq_block *b);

/* Whether one more message of n payload bytes, with its frame header, fits
 * in b (NULL: sq_block_add_message() makes a block that fits it). */
bool sq_block_has_room(const struct sq_block *b, size_t n);

/* Append one message (b0: its FIN bit and type; compressed: the payload is
 * permessage-deflate's, RSV1 set) as a server's WebSocket frame to *b,
 * made first when NULL, with room for at least min_cap bytes. Returns 0,
 * or -1 when out of memory. The caller checked sq_block_has_room(). */
int sq_block_add_message(struct sq_block **b, uint8_t b0, bool compressed, const uint8_t *p,
                         size_t n, size_t min_cap);

struct sq_node {
    struct sq_node *next;
    struct sq_block *block;
};

/* One reader's queue of blocks; off bytes of the head are already sent. */
struct sq {
    struct sq_node *head, *tail;
    size_t off;
    size_t bytes; /* unsent bytes in the queue */
};

/* Queue b (taking a reference). Returns 0, or -1 when out of memory. */
int sq_push(struct sq *q, struct sq_block *b);

static inline bool sq_empty(const struct sq *q)
{
    return q->head == NULL;
}

/* The head block is partly sent: its rest must go before anything else. */
static inline bool sq_started(const struct sq *q)
{
    return q->head && q->off > 0;
}

/* The unsent part of the head block. */
const uint8_t *sq_peek(const struct sq *q, size_t *len);

/* n bytes of the head went out (n at most what sq_peek gave). */
void sq_consume(struct sq *q, size_t n);

/* Drop every block that has not started to go out (the started head stays,
 * its frames being partly on the wire). */
void sq_drop_unstarted(struct sq *q);

void sq_clear(struct sq *q);

#endif
