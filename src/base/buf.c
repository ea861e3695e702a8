#include "autoconfig.h"

#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 4096

int buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->end >= n) return 0;
    size_t len = buf_len(b);
    if (b->cap - len >= n && b->start >= len) {
        /* Enough room overall and the move is cheap relative to what was consumed. */
        memcpy(b->data, b->data + b->start, len);
        b->start = 0;
        b->end = len;
        return 0;
    }
    if (len + n < len || len + n > SIZE_MAX - BUF_MIN_ALLOC) return -1;
    /* Double to keep appends amortized, but a first large reserve gets
     * just what it asks for (rounded to whole pages). */
    size_t want = (len + n + BUF_MIN_ALLOC - 1) & ~(size_t)(BUF_MIN_ALLOC - 1);
    size_t cap = b->cap <= SIZE_MAX / 2 ? b->cap * 2 : SIZE_MAX;
    if (cap < want) cap = want;
    uint8_t *p = malloc(cap);
    if (!p) return -1;
    if (len) memcpy(p, b->data + b->start, len);
    free(b->data);
    b->data = p;
    b->cap = cap;
    b->start = 0;
    b->end = len;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end) buf_free(b);
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}
