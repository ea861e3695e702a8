/* A growable byte string for the fuzz targets: what a run saw, kept to be
 * compared with another run. Out of memory aborts (a fuzz run, not the
 * daemon). */
#ifndef WSB_FUZZ_BYTES_H
#define WSB_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bytes {
    uint8_t *p;
    size_t n, cap;
};

/* Append n bytes of p. */
static inline void put(struct bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

#endif
