#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "proto/msgzip.h"

/* ---- byte strings and test data ----------------------------------------- */

struct bytes {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
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

static bool same(const struct bytes *b, const void *p, size_t n)
{
    return b->n == n && (n == 0 || memcmp(b->p, p, n) == 0);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rnd() >> 24);
}

/* Words in a random order: compressible, but not trivially. */
static void fill_text(uint8_t *p, size_t n)
{
    static const char *const words[] = {"the ",     "quick ",   "brown ",  "fox ",   "jumps ",
                                        "over ",    "lazy ",    "dog, ",   "and ",   "a ",
                                        "message ", "frame ",   "window ", "bits. ", "\n",
                                        "deflate ", "inflate ", "zlib ",   "socket "};
    size_t i = 0;
    while (i < n) {
        const char *w = words[rnd() % (sizeof words / sizeof words[0])];
        for (size_t k = 0; w[k] && i < n; k++) p[i++] = (uint8_t)w[k];
    }
}

/* ---- helpers ------------------------------------------------------------ */

/* One message compressed whole by a fresh stream. */
static struct bytes deflate_message(int level, int wbits, const void *p, size_t n)
{
    struct msgzip_out o;
    if (msgzip_out_init(&o, level, wbits, 8) < 0) abort();
    struct bytes b = {0};
    b.cap = msgzip_bound(&o, n);
    b.p = malloc(b.cap);
    if (!b.p) abort();
    b.n = msgzip_deflate(&o, p, n, true, true, b.p, b.cap);
    if (b.n == (size_t)-1) abort();
    msgzip_out_free(&o);
    return b;
}

struct result {
    enum msgzip_status st;
    struct bytes out;
    bool contract; /* every call kept the API's promises */
};

/* Inflate one message with s, fed feed bytes at a time (0: whole), into an
 * output buffer of exactly cap bytes. */
static struct result inflate_message(struct msgzip_in *s, const uint8_t *in, size_t n, size_t feed,
                                     size_t cap, uint64_t limit)
{
    struct result r = {.contract = true};
    uint8_t *obuf = malloc(cap);
    if (!obuf) abort();
    size_t off = 0;
    for (;;) {
        const size_t chunk = feed && feed < n - off ? feed : n - off;
        const bool fin = off + chunk == n;
        size_t pos = 0;
        enum msgzip_status st;
        for (;;) {
            size_t used = 99, made = 99;
            st =
                msgzip_inflate(s, in + off + pos, chunk - pos, fin, obuf, cap, limit, &used, &made);
            if (used > chunk - pos || made > cap) r.contract = false;
            put(&r.out, obuf, made);
            pos += used;
            if (limit && r.out.n > limit) r.contract = false;
            if (st != MSGZIP_MORE) break;
            if (!used && !made) { /* MORE must make progress */
                r.contract = false;
                break;
            }
        }
        if (st == MSGZIP_NEED_INPUT && !fin && pos == chunk) {
            off += chunk;
            continue;
        }
        if ((st == MSGZIP_NEED_INPUT) || (st == MSGZIP_END && pos != chunk)) r.contract = false;
        r.st = st;
        break;
    }
    free(obuf);
    return r;
}

/* A fresh inflater on one whole message. */
static struct result inflate_fresh(int wbits, const void *in, size_t n, size_t cap, uint64_t limit)
{
    struct msgzip_in s;
    if (msgzip_in_init(&s, wbits) < 0) abort();
    struct result r = inflate_message(&s, in, n, 0, cap, limit);
    msgzip_in_free(&s);
    return r;
}

static const char *status_name(enum msgzip_status st)
{
    switch (st) {
    case MSGZIP_MORE: return "MORE";
    case MSGZIP_NEED_INPUT: return "NEED_INPUT";
    case MSGZIP_END: return "END";
    case MSGZIP_TOO_BIG: return "TOO_BIG";
    case MSGZIP_BAD: return "BAD";
    case MSGZIP_NOMEM: return "NOMEM";
    }
    return "?";
}

/* Inflating `in` gives exactly want[0..want_n) (want NULL: the status st),
 * fed whole into a 64-byte buffer and byte by byte into a 1-byte one. */
static void inflates_to_n(int wbits, const uint8_t *in, size_t n, const char *want, size_t want_n,
                          enum msgzip_status st, const char *what)
{
    for (int pass = 0; pass < 2; pass++) {
        struct msgzip_in s;
        if (msgzip_in_init(&s, wbits) < 0) abort();
        struct result r = inflate_message(&s, in, n, pass ? 1 : 0, pass ? 1 : 64, 0);
        if (want)
            ok(r.contract && r.st == MSGZIP_END && same(&r.out, want, want_n),
               "%s (%s): \"%s\" (got %s, %zu bytes)", what, pass ? "byte by byte" : "whole",
               escn(want, want_n), status_name(r.st), r.out.n);
        else
            ok(r.contract && r.st == st, "%s (%s): %s (got %s)", what,
               pass ? "byte by byte" : "whole", status_name(st), status_name(r.st));
        free(r.out.p);
        msgzip_in_free(&s);
    }
}

static void inflates_to(int wbits, const uint8_t *in, size_t n, const char *want,
                        enum msgzip_status st, const char *what)
{
    inflates_to_n(wbits, in, n, want, want ? strlen(want) : 0, st, what);
}

/* ---- tests -------------------------------------------------------------- */

static void test_round_trips(void)
{
    enum { MIB = 1 << 20 };
    uint8_t *big = malloc(MIB);
    if (!big) abort();
    /* Text with runs of random bytes in it. */
    fill_text(big, MIB);
    for (size_t at = 4096; at + 3000 < MIB; at += 65536) fill_random(big + at, 3000);
    uint8_t text[5000], noise[20000];
    fill_text(text, sizeof text);
    fill_random(noise, sizeof noise);
    const struct {
        const char *name;
        const uint8_t *p;
        size_t n;
    } sets[] = {
        {"empty", text, 0},          {"1 byte", (const uint8_t *)"x", 1},
        {"text", text, sizeof text}, {"random", noise, sizeof noise},
        {"1 MiB", big, MIB},
    };
    static const int levels[] = {1, 6, 9};
    for (size_t d = 0; d < sizeof sets / sizeof sets[0]; d++) {
        const bool huge = sets[d].n == MIB;
        for (int wbits = 9; wbits <= 15; wbits++)
            for (size_t l = 0; l < 3; l++) {
                struct bytes c = deflate_message(levels[l], wbits, sets[d].p, sets[d].n);
                const size_t whole = sets[d].n ? sets[d].n : 1;
                const size_t caps[] = {1, 7, 4096, whole};
                bool good = true;
                size_t runs = 0;
                for (size_t k = 0; k < 4; k++)
                    for (int by_byte = 0; by_byte < 2; by_byte++) {
                        /* The megabyte a byte or a few bytes at a time: once. */
                        if (huge && (caps[k] < 4096 || by_byte) && !(wbits == 15 && levels[l] == 6))
                            continue;
                        struct msgzip_in s;
                        if (msgzip_in_init(&s, wbits) < 0) abort();
                        struct result r = inflate_message(&s, c.p, c.n, by_byte ? 1 : 0, caps[k],
                                                          by_byte ? 0 : sets[d].n);
                        good = good && r.contract && r.st == MSGZIP_END &&
                               same(&r.out, sets[d].p, sets[d].n);
                        runs++;
                        free(r.out.p);
                        msgzip_in_free(&s);
                    }
                ok(good, "round trip %s, window %d, level %d: %zu -> %zu bytes, %zu ways",
                   sets[d].name, wbits, levels[l], sets[d].n, c.n, runs);
                free(c.p);
            }
    }

    /* A larger window inflates what a smaller one made; a raw 8-bit
     * inflater exists (client_max_window_bits=8). */
    struct bytes c = deflate_message(6, 9, text, sizeof text);
    struct result r = inflate_fresh(15, c.p, c.n, 4096, 0);
    ok(r.st == MSGZIP_END && same(&r.out, text, sizeof text), "9-bit data, 15-bit inflater");
    free(r.out.p);
    free(c.p);
    struct msgzip_in s8;
    ok(msgzip_in_init(&s8, 8) == 0, "an 8-bit inflater");
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    r = inflate_message(&s8, hello, sizeof hello, 0, 16, 0);
    ok(r.st == MSGZIP_END && same(&r.out, "Hello", 5), "an 8-bit inflater: Hello");
    free(r.out.p);
    msgzip_in_free(&s8);
    free(big);
}

/* Every deflate output fits in exactly msgzip_bound() bytes. */
static void test_bound(void)
{
    static const size_t sizes[] = {1, 2, 100, 65535, 65536, 300000};
    uint8_t *p = malloc(300000);
    if (!p) abort();
    fill_random(p, 300000);
    bool good = true;
    size_t runs = 0;
    for (int level = 0; level <= 9; level += 3)
        for (int wbits = 9; wbits <= 15; wbits += 3)
            for (int mem = 1; mem <= 9; mem += 4)
                for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                    struct msgzip_out o;
                    if (msgzip_out_init(&o, level, wbits, mem) < 0) abort();
                    size_t cap = msgzip_bound(&o, sizes[i]);
                    uint8_t *out = malloc(cap);
                    if (!out) abort();
                    /* Twice: the second with the first's context. */
                    for (int k = 0; k < 2; k++) {
                        size_t m = msgzip_deflate(&o, p, sizes[i], k == 1, false, out, cap);
                        good = good && m != (size_t)-1 && m <= cap;
                        runs++;
                    }
                    free(out);
                    msgzip_out_free(&o);
                }
    ok(good, "incompressible data fits in msgzip_bound() (%zu cases)", runs);
    free(p);
}

/* Fragments compressed one by one make one message. */
static void test_fragments(void)
{
    enum { N = 200000 };
    uint8_t *data = malloc(N);
    if (!data) abort();
    fill_text(data, N);
    fill_random(data + 50000, 10000);
    /* Fragment sizes, the last taking the rest; 0 is an empty fragment. */
    static const size_t cuts[][8] = {
        {1, 100, 5000, 0, 70000, 0, 0, 0},
        {N, 0, 0, 0, 0, 0, 0, 0},
        {65536, 65536, 0, 1, 0, 0, 0, 0},
        {0, 0, 3, 0, 0, 0, 0, 0},
    };
    static const size_t nparts[] = {6, 2, 5, 4};
    for (int takeover = 0; takeover < 2; takeover++)
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            struct msgzip_out o;
            if (msgzip_out_init(&o, 6, 15, 8) < 0) abort();
            struct bytes wire = {0};
            size_t pieces[8], off = 0, np = nparts[c];
            bool made = true;
            for (size_t k = 0; k < np; k++) {
                const bool last = k + 1 == np;
                const size_t len = last ? N - off : cuts[c][k];
                size_t cap = msgzip_bound(&o, len);
                uint8_t *buf = malloc(cap);
                if (!buf) abort();
                size_t m = msgzip_deflate(&o, data + off, len, last, !takeover, buf, cap);
                made = made && m != (size_t)-1;
                if (m != (size_t)-1) put(&wire, buf, m);
                pieces[k] = m;
                free(buf);
                off += len;
            }
            /* One inflater, the whole message at once, then piece by piece. */
            struct result r = inflate_fresh(15, wire.p, wire.n, 4096, 0);
            ok(made && r.contract && r.st == MSGZIP_END && same(&r.out, data, N),
               "%s, %zu fragments: the pieces make one message (%zu bytes)",
               takeover ? "context takeover" : "reset per fragment", np, wire.n);
            free(r.out.p);

            struct msgzip_in s;
            if (msgzip_in_init(&s, 15) < 0) abort();
            struct bytes out = {0};
            uint8_t obuf[3000];
            enum msgzip_status st = MSGZIP_BAD;
            size_t at = 0;
            bool contract = true;
            for (size_t k = 0; k < np && made; k++) {
                size_t pos = 0;
                do {
                    size_t used, made_now;
                    st = msgzip_inflate(&s, wire.p + at + pos, pieces[k] - pos, k + 1 == np, obuf,
                                        sizeof obuf, 0, &used, &made_now);
                    put(&out, obuf, made_now);
                    pos += used;
                } while (st == MSGZIP_MORE);
                contract = contract && pos == pieces[k];
                at += pieces[k];
            }
            ok(contract && st == MSGZIP_END && same(&out, data, N),
               "%s, %zu fragments: inflated fragment by fragment",
               takeover ? "context takeover" : "reset per fragment", np);
            free(out.p);
            msgzip_in_free(&s);
            free(wire.p);
            msgzip_out_free(&o);
        }
    free(data);
}

static void test_context_takeover(void)
{
    uint8_t text[3000];
    fill_text(text, sizeof text);
    struct msgzip_out o;
    if (msgzip_out_init(&o, 6, 15, 8) < 0) abort();
    const size_t cap = msgzip_bound(&o, sizeof text);
    uint8_t *c1 = malloc(cap), *c2 = malloc(cap), *c3 = malloc(cap);
    if (!c1 || !c2 || !c3) abort();
    size_t n1 = msgzip_deflate(&o, text, sizeof text, true, false, c1, cap);
    size_t n2 = msgzip_deflate(&o, text, sizeof text, true, false, c2, cap);
    size_t n3 = msgzip_deflate(&o, text, sizeof text, true, true, c3, cap);
    ok(n2 < n1 / 10, "context takeover: the same message again is much smaller (%zu, then %zu)", n1,
       n2);
    ok(n3 == n1 && memcmp(c1, c3, n1) == 0, "reset: the same message compresses as the first");

    struct msgzip_in s;
    if (msgzip_in_init(&s, 15) < 0) abort();
    struct result r1 = inflate_message(&s, c1, n1, 0, 1000, 0);
    msgzip_in_next(&s, true);
    struct result r2 = inflate_message(&s, c2, n2, 7, 1000, 0);
    msgzip_in_next(&s, true);
    struct result r3 = inflate_message(&s, c3, n3, 0, 1000, 0);
    ok(r1.st == MSGZIP_END && r2.st == MSGZIP_END && r3.st == MSGZIP_END &&
           same(&r1.out, text, sizeof text) && same(&r2.out, text, sizeof text) &&
           same(&r3.out, text, sizeof text),
       "context takeover: the inflater keeps the window between messages");
    free(r1.out.p);
    free(r2.out.p);
    free(r3.out.p);

    /* Without the window, the second message refers to what is not there. */
    msgzip_in_next(&s, false);
    r1 = inflate_message(&s, c1, n1, 0, 1000, 0);
    msgzip_in_next(&s, false);
    r2 = inflate_message(&s, c2, n2, 0, 1000, 0);
    ok(r1.st == MSGZIP_END && r2.st == MSGZIP_BAD,
       "no context takeover: the window is gone (second message %s)", status_name(r2.st));
    free(r1.out.p);
    free(r2.out.p);
    /* A failed message is never kept, even when asked to. */
    msgzip_in_next(&s, true);
    r1 = inflate_message(&s, c1, n1, 0, 1000, 0);
    ok(r1.st == MSGZIP_END && same(&r1.out, text, sizeof text),
       "after a failure, msgzip_in_next starts afresh");
    free(r1.out.p);
    msgzip_in_free(&s);
    free(c1);
    free(c2);
    free(c3);
    msgzip_out_free(&o);
}

static void test_rfc_examples(void)
{
    /* 7.2.3.1: one compressed block; our deflater makes exactly it. */
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    inflates_to(15, hello, sizeof hello, "Hello", MSGZIP_END, "7.2.3.1");
    struct msgzip_out o;
    if (msgzip_out_init(&o, 6, 15, 8) < 0) abort();
    uint8_t buf[64];
    size_t n = msgzip_deflate(&o, (const uint8_t *)"Hello", 5, true, false, buf, sizeof buf);
    ok(n == sizeof hello && memcmp(buf, hello, n) == 0, "7.2.3.1: our deflater makes it");
    /* 7.2.3.2: the same again, sharing the window. */
    static const uint8_t hello2[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    n = msgzip_deflate(&o, (const uint8_t *)"Hello", 5, true, false, buf, sizeof buf);
    ok(n == sizeof hello2 && memcmp(buf, hello2, n) == 0, "7.2.3.2: our deflater makes it");
    struct msgzip_in s;
    if (msgzip_in_init(&s, 15) < 0) abort();
    struct result a = inflate_message(&s, hello, sizeof hello, 0, 64, 0);
    msgzip_in_next(&s, true);
    struct result b = inflate_message(&s, hello2, sizeof hello2, 1, 1, 0);
    ok(a.st == MSGZIP_END && b.st == MSGZIP_END && same(&a.out, "Hello", 5) &&
           same(&b.out, "Hello", 5),
       "7.2.3.2: sharing the window");
    free(a.out.p);
    free(b.out.p);
    /* 7.2.3.3: a stored block. */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
                                     0x65, 0x6c, 0x6c, 0x6f, 0x00};
    inflates_to(15, stored, sizeof stored, "Hello", MSGZIP_END, "7.2.3.3");
    /* 7.2.3.4: BFINAL set, then the empty block's header byte. With
     * context takeover the window outlives the final block: 7.2.3.2's
     * second message still refers to it. */
    static const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    inflates_to(15, bfinal, sizeof bfinal, "Hello", MSGZIP_END, "7.2.3.4");
    msgzip_in_next(&s, true);
    a = inflate_message(&s, bfinal, sizeof bfinal, 0, 64, 0);
    msgzip_in_next(&s, true);
    b = inflate_message(&s, hello2, sizeof hello2, 0, 64, 0);
    ok(a.st == MSGZIP_END && b.st == MSGZIP_END && same(&b.out, "Hello", 5),
       "7.2.3.4: after a BFINAL message the window is kept");
    free(a.out.p);
    free(b.out.p);
    /* ... and also when the message ends exactly with the final block. */
    msgzip_in_next(&s, true);
    a = inflate_message(&s, bfinal, sizeof bfinal - 1, 0, 64, 0);
    msgzip_in_next(&s, true);
    b = inflate_message(&s, hello2, sizeof hello2, 0, 64, 0);
    ok(a.st == MSGZIP_END && same(&a.out, "Hello", 5) && b.st == MSGZIP_END &&
           same(&b.out, "Hello", 5),
       "a message that ends with its BFINAL block (no empty block after it)");
    free(a.out.p);
    free(b.out.p);
    /* 7.2.3.5: two blocks. */
    static const uint8_t two[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
                                  0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
    inflates_to(15, two, sizeof two, "Hello", MSGZIP_END, "7.2.3.5");
    /* 7.2.3.6: an empty message is one byte; ours is too. */
    static const uint8_t empty[] = {0x00};
    inflates_to(15, empty, sizeof empty, "", MSGZIP_END, "7.2.3.6");
    n = msgzip_deflate(&o, NULL, 0, true, false, buf, sizeof buf);
    ok(n == 1 && buf[0] == 0x00, "7.2.3.6: our empty message");
    n = msgzip_deflate(&o, NULL, 0, true, true, buf, sizeof buf);
    ok(n == 1 && buf[0] == 0x00, "7.2.3.6: our empty message after a reset");
    n = msgzip_deflate(&o, NULL, 0, false, false, buf, sizeof buf);
    ok(n == 0, "an empty non-final fragment is empty");
    msgzip_in_free(&s);
    msgzip_out_free(&o);

    /* No bytes at all, a final stored block completed by the tail. */
    inflates_to(15, (const uint8_t *)"", 0, "", MSGZIP_END, "a payload of no bytes");
    static const uint8_t final_stored[] = {0x01};
    inflates_to(15, final_stored, sizeof final_stored, "", MSGZIP_END,
                "a final stored block the tail completes");
    /* A stored block that takes the tail as its last four bytes of data:
     * still a message that ends between blocks. */
    static const uint8_t eats_tail[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 'x'};
    inflates_to_n(15, eats_tail, sizeof eats_tail, "x\x00\x00\xff\xff", 5, MSGZIP_END,
                  "a stored block whose data ends with the tail");
}

static void test_after_final_block(void)
{
    /* 7.2.1: "The next DEFLATE block follows the padded data if any": a
     * stream of its own after the final block, in the same message. */
    struct msgzip_out o;
    if (msgzip_out_init(&o, 6, 15, 8) < 0) abort();
    uint8_t world[32];
    size_t wn = msgzip_deflate(&o, (const uint8_t *)"World", 5, true, true, world, sizeof world);
    struct bytes m = {0};
    static const uint8_t hello_final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    put(&m, hello_final, sizeof hello_final);
    put(&m, world, wn);
    inflates_to(15, m.p, m.n, "HelloWorld", MSGZIP_END, "blocks after a BFINAL block");
    /* Many empty final blocks (03 00) in a row cost nothing. */
    m.n = 0;
    for (int i = 0; i < 5000; i++) put(&m, "\x03\x00", 2);
    put(&m, hello_final, sizeof hello_final);
    struct result r = inflate_fresh(15, m.p, m.n, 64, 0);
    ok(r.st == MSGZIP_END && same(&r.out, "Hello", 5), "5000 empty final blocks, then Hello");
    free(r.out.p);
    /* Data after the final block that is no deflate block. */
    m.n = 0;
    put(&m, hello_final, sizeof hello_final);
    put(&m, "\xff", 1);
    inflates_to(15, m.p, m.n, NULL, MSGZIP_BAD, "a reserved block type after the final block");
    m.n = sizeof hello_final;
    put(&m, "\x00\x00\x00", 3); /* then the tail: LEN 0000, NLEN 0000 */
    inflates_to(15, m.p, m.n, NULL, MSGZIP_BAD, "bad stored lengths after the final block");
    m.n = sizeof hello_final;
    put(&m, "\x00\x05\x00\xfa\xff", 5);
    inflates_to(15, m.p, m.n, NULL, MSGZIP_BAD, "a truncated stored block after the final block");
    free(m.p);
    msgzip_out_free(&o);
}

static void test_bad_input(void)
{
    static const uint8_t reserved[] = {0x07, 0x00};
    inflates_to(15, reserved, sizeof reserved, NULL, MSGZIP_BAD, "block type 11");
    static const uint8_t lengths[] = {0x00, 0x05, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o', 0x00};
    inflates_to(15, lengths, sizeof lengths, NULL, MSGZIP_BAD, "stored lengths that disagree");
    static const uint8_t short_stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e'};
    inflates_to(15, short_stored, sizeof short_stored, NULL, MSGZIP_BAD,
                "a truncated stored block");
    static const uint8_t empty_tail[] = {0x00, 0x00};
    inflates_to(15, empty_tail, sizeof empty_tail, NULL, MSGZIP_BAD, "00 00 + tail");
    /* A distance further back than anything inflated. */
    static const uint8_t far[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    inflates_to(15, far, sizeof far, NULL, MSGZIP_BAD, "a distance before the start");

    /* Truncated: half of a message stops inside a block. */
    uint8_t text[20000];
    fill_text(text, sizeof text);
    struct bytes c = deflate_message(6, 15, text, sizeof text);
    inflates_to(15, c.p, c.n / 2, NULL, MSGZIP_BAD, "the first half of a message");
    inflates_to(15, c.p, c.n - 1, NULL, MSGZIP_BAD, "a message without its last byte");
    /* A 9-bit inflater on 15-bit data. */
    struct result r = inflate_fresh(9, c.p, c.n, 4096, 0);
    ok(r.st == MSGZIP_BAD, "15-bit data, 9-bit inflater: BAD");
    free(r.out.p);

    /* Errors are sticky until msgzip_in_next; END too. */
    struct msgzip_in s;
    if (msgzip_in_init(&s, 15) < 0) abort();
    r = inflate_message(&s, reserved, sizeof reserved, 0, 64, 0);
    uint8_t out[64];
    size_t used = 1, made = 1;
    enum msgzip_status st = msgzip_inflate(&s, c.p, c.n, true, out, sizeof out, 0, &used, &made);
    ok(r.st == MSGZIP_BAD && st == MSGZIP_BAD && used == 0 && made == 0, "BAD is sticky");
    free(r.out.p);
    msgzip_in_next(&s, false);
    r = inflate_message(&s, c.p, c.n, 0, 4096, 0);
    ok(r.st == MSGZIP_END && same(&r.out, text, sizeof text), "msgzip_in_next clears it");
    free(r.out.p);
    st = msgzip_inflate(&s, NULL, 0, true, out, sizeof out, 0, &used, &made);
    ok(st == MSGZIP_END && used == 0 && made == 0, "after END, nothing more: END");
    st = msgzip_inflate(&s, c.p, 1, true, out, sizeof out, 0, &used, &made);
    ok(st == MSGZIP_BAD && used == 0, "after END, more input: BAD");
    msgzip_in_free(&s);
    free(c.p);

    /* A stream that was never set up. */
    struct msgzip_in none = {0};
    ok(msgzip_inflate(&none, out, 0, true, out, sizeof out, 0, &used, &made) == MSGZIP_NOMEM,
       "an uninitialized inflater: NOMEM");
    msgzip_in_free(&none);
    msgzip_in_next(&none, true);
    struct msgzip_out onone = {0};
    ok(msgzip_deflate(&onone, out, 1, true, true, out, sizeof out) == (size_t)-1,
       "an uninitialized deflater: -1");
    msgzip_out_free(&onone);

    /* Bad settings. */
    struct msgzip_in si;
    struct msgzip_out so;
    errno = 0;
    ok(msgzip_in_init(&si, 7) < 0 && errno == EINVAL, "inflate window 7: EINVAL");
    ok(msgzip_in_init(&si, 16) < 0 && errno == EINVAL, "inflate window 16: EINVAL");
    errno = 0;
    ok(msgzip_out_init(&so, 6, 8, 8) < 0 && errno == EINVAL, "deflate window 8: EINVAL");
    ok(msgzip_out_init(&so, 10, 15, 8) < 0 && errno == EINVAL, "deflate level 10: EINVAL");
    ok(msgzip_out_init(&so, 6, 15, 0) < 0 && errno == EINVAL, "deflate memlevel 0: EINVAL");
    msgzip_out_free(&so);
    ok(msgzip_out_init(&so, 6, 15, 8) == 0, "deflate 6/15/8");
    uint8_t small[4];
    ok(msgzip_deflate(&so, text, sizeof text, true, true, small, sizeof small) == (size_t)-1,
       "an output buffer too small: -1");
    msgzip_out_free(&so);
}

static void test_limits(void)
{
    enum { MIB = 1 << 20, LIMIT = 64 << 10 };
    uint8_t *zeros = calloc(1, MIB);
    if (!zeros) abort();
    struct bytes bomb = deflate_message(9, 15, zeros, MIB);
    struct msgzip_in s;
    if (msgzip_in_init(&s, 15) < 0) abort();
    const size_t mem = msgzip_in_memory(&s);
    /* Output buffers of 4096 and 1000 bytes: the limit is not a multiple. */
    static const size_t caps[] = {4096, 1000, 1};
    for (size_t k = 0; k < 3; k++) {
        struct result r = inflate_message(&s, bomb.p, bomb.n, k == 2 ? 1 : 0, caps[k], LIMIT);
        ok(r.contract && r.st == MSGZIP_TOO_BIG && r.out.n == LIMIT,
           "1 MiB of zeros (%zu bytes compressed), limit 64 KiB, output %zu: TOO_BIG after "
           "exactly %zu bytes",
           bomb.n, caps[k], r.out.n);
        free(r.out.p);
        msgzip_in_next(&s, false);
    }
    ok(msgzip_in_memory(&s) == mem, "zlib's memory did not grow (%zu bytes)", mem);

    /* A limit of exactly the size is fine; one less is not. */
    uint8_t text[1000];
    fill_text(text, sizeof text);
    struct bytes c = deflate_message(6, 15, text, sizeof text);
    for (size_t cap = 1; cap <= 2000; cap += 333) {
        struct result r = inflate_message(&s, c.p, c.n, 0, cap, sizeof text);
        msgzip_in_next(&s, false);
        struct result t = inflate_message(&s, c.p, c.n, 0, cap, sizeof text - 1);
        msgzip_in_next(&s, false);
        ok(r.st == MSGZIP_END && same(&r.out, text, sizeof text) && t.st == MSGZIP_TOO_BIG &&
               same(&t.out, text, sizeof text - 1),
           "limit = size: END; size - 1: TOO_BIG after size - 1 bytes (output %zu)", cap);
        free(r.out.p);
        free(t.out.p);
    }
    free(c.p);
    msgzip_in_free(&s);
    free(bomb.p);
    free(zeros);
}

static void test_memory(void)
{
    for (int wbits = 8; wbits <= 15; wbits++) {
        struct msgzip_in s;
        if (msgzip_in_init(&s, wbits) < 0) abort();
        const size_t mem = msgzip_in_memory(&s);
        uint8_t text[4000];
        fill_text(text, sizeof text);
        struct bytes c = deflate_message(6, wbits < 9 ? 9 : wbits, text, sizeof text);
        struct result r = inflate_message(&s, c.p, c.n, 0, 100, 0);
        ok(mem >= ((size_t)1 << wbits) && msgzip_in_memory(&s) == mem && r.st == MSGZIP_END,
           "inflate, window %d: %zu bytes, allocated at init", wbits, mem);
        free(r.out.p);
        free(c.p);
        msgzip_in_free(&s);
        ok(msgzip_in_memory(&s) == 0, "inflate, window %d: all freed", wbits);
    }
    static const int settings[][3] = {{6, 15, 8}, {6, 15, 9}, {6, 12, 8}, {1, 9, 1}, {9, 15, 9}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        struct msgzip_out o;
        if (msgzip_out_init(&o, settings[i][0], settings[i][1], settings[i][2]) < 0) abort();
        const size_t mem = msgzip_out_memory(&o);
        uint8_t text[4000], out[8000];
        fill_text(text, sizeof text);
        size_t n = msgzip_deflate(&o, text, sizeof text, true, false, out, sizeof out);
        ok(n != (size_t)-1 && msgzip_out_memory(&o) == mem,
           "deflate, level %d, window %d, memlevel %d: %zu bytes, allocated at init",
           settings[i][0], settings[i][1], settings[i][2], mem);
        msgzip_out_free(&o);
        ok(msgzip_out_memory(&o) == 0, "deflate: all freed");
    }
}

int main(void)
{
    test_round_trips();
    test_bound();
    test_fragments();
    test_context_takeover();
    test_rfc_examples();
    test_after_final_block();
    test_bad_input();
    test_limits();
    test_memory();
    return tap_finish();
}
