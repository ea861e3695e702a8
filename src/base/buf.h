/* Byte queue: append at the tail, consume from the head. An empty queue
 * holds no memory, so idle connections cost only their struct. */
#ifndef WSB_BUF_H
#define WSB_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte */
    size_t cap;
};

static inline size_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

static inline uint8_t *buf_head(const struct buf *b)
{
    return b->data + b->start;
}

static inline uint8_t *buf_tail(const struct buf *b)
{
    return b->data + b->end;
}

/* Make room for n more bytes at the tail. Returns 0, or -1 when out of memory
 * (the queue is unchanged). */
int buf_reserve(struct buf *b, size_t n);

/* Declare n bytes written at buf_tail() after a buf_reserve(). */
static inline void buf_commit(struct buf *b, size_t n)
{
    b->end += n;
}

/* Append n bytes; returns 0 or -1 when out of memory. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Keep only the first n bytes. */
static inline void buf_truncate(struct buf *b, size_t n)
{
    if (n < buf_len(b)) b->end = b->start + n;
}

/* Drop n bytes from the head; frees the storage once the queue is empty. */
void buf_consume(struct buf *b, size_t n);

void buf_free(struct buf *b);

#endif
