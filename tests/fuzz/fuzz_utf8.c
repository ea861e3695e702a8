/* libFuzzer target for utf8.c: the validator against an independent
 * reference decoder, whole input vs byte-by-byte vs uneven chunks, and the
 * properties of utf8_sanitize and utf8_incomplete_tail.
 * The whole input is the text under test. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/utf8.h"

#include "fuzz_exact.h"

enum ref_class { REF_COMPLETE, REF_PARTIAL, REF_BAD };

/* Bytes a sequence starting with b should have; 0 when b cannot start one. */
static size_t ref_seq_len(uint8_t b)
{
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Classify p[0..n) (1 <= n <= its sequence length) as one character: complete
 * and valid, a proper prefix some continuation makes valid, or neither.
 * Written from RFC 3629 by decoding the scalar value, not from table 3-7. A
 * lone lead byte can always be completed. With two or more bytes present,
 * missing ones are taken as 0x80: the overlong, surrogate and > U+10FFFF
 * boundaries are multiples of the 64- or 4096-value blocks they span, so the
 * lowest completion is valid exactly when some completion is. */
static enum ref_class ref_char(const uint8_t *p, size_t n)
{
    size_t len = ref_seq_len(p[0]);
    if (len == 0 || n > len) return REF_BAD;
    if (len == 1) return REF_COMPLETE;
    if (n == 1) return REF_PARTIAL;
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t cp = p[0] & (0x7F >> len);
    for (size_t k = 1; k < len; k++) {
        uint8_t c = k < n ? p[k] : 0x80;
        if ((c & 0xC0) != 0x80) return REF_BAD;
        cp = cp << 6 | (c & 0x3F);
    }
    if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return REF_BAD;
    return n == len ? REF_COMPLETE : REF_PARTIAL;
}

/* The whole text: complete and valid, valid but cut inside its last
 * character, or invalid. */
static enum ref_class ref_text(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = ref_seq_len(p[i]);
        if (len == 0) return REF_BAD;
        size_t have = n - i < len ? n - i : len;
        enum ref_class c = ref_char(p + i, have);
        if (c != REF_COMPLETE) return c;
        i += len;
    }
    return REF_COMPLETE;
}

/* Unicode's "maximal subpart" repair, the slow obvious way. out holds 3n. */
static size_t ref_sanitize(const uint8_t *in, size_t n, uint8_t *out, size_t *replaced)
{
    size_t o = 0, i = 0, nrep = 0;
    while (i < n) {
        size_t len = ref_seq_len(in[i]);
        size_t sub = 1; /* longest prefix at i that could still become a character */
        while (len && sub < len && i + sub < n && ref_char(in + i, sub + 1) != REF_BAD) sub++;
        if (len && sub == len && ref_char(in + i, len) == REF_COMPLETE) {
            memcpy(out + o, in + i, len);
            o += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            nrep++;
        }
        i += sub;
    }
    *replaced = nrep;
    return o;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static bool in_progress(uint32_t state)
{
    return state != UTF8_ACCEPT && state != UTF8_REJECT;
}

static enum ref_class class_of(uint32_t state)
{
    return state == UTF8_ACCEPT ? REF_COMPLETE : state == UTF8_REJECT ? REF_BAD : REF_PARTIAL;
}

volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Validation: one call, byte by byte, and in uneven chunks agree. */
    uint32_t whole = utf8_validate(UTF8_ACCEPT, data, size);
    uint32_t bytewise = UTF8_ACCEPT;
    for (size_t i = 0; i < size; i++) bytewise = utf8_validate(bytewise, data + i, 1);
    if (bytewise != whole) abort();
    uint64_t seed = fnv1a(data, size) | 1;
    uint32_t chunked = UTF8_ACCEPT;
    for (size_t i = 0; i < size;) {
        size_t n = (size_t)(xorshift(&seed) % 24);
        if (n > size - i) n = size - i;
        chunked = utf8_validate(chunked, data + i, n);
        i += n;
    }
    if (chunked != whole) abort();
    if (utf8_validate(UTF8_REJECT, data, size) != UTF8_REJECT) abort();
    if (class_of(whole) != ref_text(data, size)) abort();

    /* Incomplete tail: 0..3, zero at a character boundary, and cutting it off
     * a text that is only cut short leaves a complete one. */
    size_t tail = utf8_incomplete_tail(data, size);
    if (tail > 3 || tail > size) abort();
    if (whole == UTF8_ACCEPT && tail != 0) abort();
    if (in_progress(whole) &&
        (tail == 0 || utf8_validate(UTF8_ACCEPT, data, size - tail) != UTF8_ACCEPT))
        abort();

    /* Sanitize: the sizing pass and the writing pass agree, the result is
     * valid, at most 3n, the identity on valid input, a fixed point, and what
     * the reference repair produces. */
    size_t rep_size = 0, rep_write = 0;
    size_t m = utf8_sanitize(data, size, NULL, &rep_size);
    if (m > 3 * size) abort();
    static struct exact out_buf, again_buf, ref_buf;
    uint8_t *out = exact_use(&out_buf, m); /* exactly m: ASan sees any overrun */
    if (utf8_sanitize(data, size, out, &rep_write) != m || rep_write != rep_size) abort();
    if (utf8_validate(UTF8_ACCEPT, out, m) != UTF8_ACCEPT) abort();
    if (whole == UTF8_ACCEPT && (rep_size != 0 || m != size || memcmp(out, data, size) != 0))
        abort();
    if (whole != UTF8_ACCEPT && rep_size == 0) abort();
    size_t rep_again = 1;
    uint8_t *again = exact_use(&again_buf, m);
    if (utf8_sanitize(out, m, again, &rep_again) != m || rep_again != 0 ||
        memcmp(again, out, m) != 0)
        abort();

    uint8_t *ref = exact_use(&ref_buf, 3 * size + 1);
    size_t rep_ref = 0;
    size_t rn = ref_sanitize(data, size, ref, &rep_ref);
    if (rn != m || rep_ref != rep_size || memcmp(ref, out, m) != 0) abort();
    sink = m + tail + whole;
    return 0;
}
