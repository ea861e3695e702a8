/* Exactly-sized buffers for the fuzz targets, without a malloc per use.
 *
 * A target that hands a parser "exactly n bytes" used to malloc(n) a copy,
 * so that ASan's redzones catch a read or write past either end. Under ASan
 * a malloc and free of a large block cost far more than the parsing (the
 * shadow is poisoned on both, and the quarantine hands out cold memory), so
 * doing it once per chunk made some targets 10-100 times slower.
 *
 * A struct exact is one allocation, made once, of the largest size a target
 * needs. exact_use(e, n) makes its first n bytes addressable and poisons
 * everything after them up to its end, so ASan reports any access past n
 * (and, through the allocation's left redzone, any before the start): the
 * same detection as a fresh malloc(n), with a larger right "redzone". Only
 * the bytes whose state changes are touched, so growing a view one byte at a
 * time costs O(1) per byte. exact_hide(e) poisons it all: a parser that kept
 * a pointer into a buffer it was given earlier then faults on its next use.
 *
 * Built without ASan, the poisoning is a no-op and only the bounds checks on
 * the sizes below remain. */
#ifndef WSB_FUZZ_EXACT_H
#define WSB_FUZZ_EXACT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXACT_ASAN 1
#endif
#endif
#if !defined(EXACT_ASAN) && defined(__SANITIZE_ADDRESS__)
#define EXACT_ASAN 1
#endif
#ifdef EXACT_ASAN
#include <sanitizer/asan_interface.h>
#define EXACT_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define EXACT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define EXACT_POISON(p, n)   ((void)(p), (void)(n))
#define EXACT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct exact {
    uint8_t *p;  /* 8-aligned (malloc's alignment), so the shadow is exact at p */
    size_t cap;  /* bytes allocated */
    size_t open; /* bytes [0, open) addressable, [open, cap) poisoned */
};

/* Make the first n bytes of e addressable and the rest poisoned; allocates
 * (once, or again when a larger n comes) and returns the start. */
static inline uint8_t *exact_use(struct exact *e, size_t n)
{
    if (n > e->cap || !e->p) {
        size_t cap = e->cap ? e->cap : 4096;
        while (cap < n) cap *= 2;
        if (e->p) EXACT_UNPOISON(e->p, e->cap);
        free(e->p);
        e->p = malloc(cap);
        if (!e->p) abort();
        e->cap = cap;
        EXACT_POISON(e->p, cap);
        e->open = 0;
    }
    if (n > e->open) {
        EXACT_UNPOISON(e->p + e->open, n - e->open);
    } else if (n < e->open) {
        /* From inside a shadow granule ASan keeps the bytes before n. */
        EXACT_POISON(e->p + n, e->open - n);
    }
    e->open = n;
    return e->p;
}

/* Poison all of e: nothing of it may be read until the next exact_use. */
static inline void exact_hide(struct exact *e)
{
    if (e->p) exact_use(e, 0);
}

/* exact_use, then the n bytes of src copied in. */
static inline uint8_t *exact_copy(struct exact *e, const void *src, size_t n)
{
    uint8_t *p = exact_use(e, n);
    if (n) memcpy(p, src, n);
    return p;
}

#endif
