#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base64.h"
#include "../tap.h"

/* ---- helpers ----------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t xorshift(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The most base64_decode may write for a chunk of n characters. */
static size_t decode_bound(size_t n)
{
    return 3 * (n + 3) / 4;
}

/* A reference encoder written independently of base64.c: the input as a
 * stream of bits taken six at a time, then '=' up to a multiple of four. */
static size_t ref_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz"
                                 "0123456789+/";
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8 | in[i]) & 0xFFFF;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = digits[(acc >> bits) & 63];
        }
    }
    if (bits) out[o++] = digits[(acc << (6 - bits)) & 63];
    while (o % 4) out[o++] = '=';
    return o;
}

/* Encode into an exactly-sized buffer followed by a canary. Returns a malloc'd
 * NUL-terminated copy, or NULL when the canary was overwritten. */
static char *encode(const uint8_t *in, size_t n)
{
    size_t len = base64_encoded_len(n);
    char *out = malloc(len + 2);
    out[len] = '#';
    out[len + 1] = '#';
    base64_encode(in, n, out);
    if (out[len] != '#' || out[len + 1] != '#') {
        free(out);
        return NULL;
    }
    out[len] = '\0';
    return out;
}

struct decoded {
    long len;          /* total bytes, or -1 when a chunk was refused */
    bool finished;     /* base64_decode_finish at the end (when len >= 0) */
    bool within_bound; /* no chunk returned more than decode_bound() */
    uint8_t data[512];
};

/* Decode s[0..n) in chunks ending at the given cut points (increasing, last
 * one n). Each chunk is a fresh exact-sized copy and its output buffer is
 * exactly decode_bound() bytes, so ASan sees a read or write past either. */
static void decode_cuts(const char *s, const size_t *cuts, size_t ncuts, struct decoded *r)
{
    struct base64_decoder d;
    base64_decoder_init(&d);
    r->len = 0;
    r->finished = false;
    r->within_bound = true;
    size_t at = 0;
    for (size_t k = 0; k < ncuts; k++) {
        size_t m = cuts[k] - at;
        char *in = malloc(m ? m : 1);
        memcpy(in, s + at, m);
        size_t cap = decode_bound(m);
        uint8_t *out = malloc(cap ? cap : 1);
        long got = base64_decode(&d, in, m, out);
        free(in);
        if (got > (long)cap) r->within_bound = false;
        if (got < 0) {
            free(out);
            r->len = -1;
            return;
        }
        if ((size_t)r->len + (size_t)got <= sizeof r->data)
            memcpy(r->data + r->len, out, (size_t)got);
        r->len += got;
        free(out);
        at = cuts[k];
    }
    r->finished = base64_decode_finish(&d);
}

static void decode_whole(const char *s, size_t n, struct decoded *r)
{
    decode_cuts(s, &n, 1, r);
}

static void decode_bytewise(const char *s, size_t n, struct decoded *r)
{
    size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
    for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
    decode_cuts(s, cuts, n, r);
    free(cuts);
}

static bool same(const struct decoded *r, const void *want, size_t want_len)
{
    return r->len == (long)want_len && r->finished && r->within_bound &&
           memcmp(r->data, want, want_len) == 0;
}

/* ---- encoding ---------------------------------------------------------------------- */

static const struct {
    const char *plain, *encoded;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};
#define NVECTORS (sizeof rfc4648 / sizeof rfc4648[0])

static void test_encode(void)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        size_t n = strlen(rfc4648[i].plain);
        char *got = encode((const uint8_t *)rfc4648[i].plain, n);
        ok(got && strcmp(got, rfc4648[i].encoded) == 0 &&
               base64_encoded_len(n) == strlen(rfc4648[i].encoded),
           "RFC 4648 section 10: BASE64(\"%s\") = \"%s\" (got \"%s\")", rfc4648[i].plain,
           rfc4648[i].encoded, got ? got : "(overrun)");
        free(got);
    }

    /* Every byte value in every position of a 3-byte group. */
    uint8_t all[258];
    for (size_t i = 0; i < sizeof all; i++) all[i] = (uint8_t)i;
    char *got = encode(all, sizeof all);
    char want[400];
    size_t wn = ref_encode(all, sizeof all, want);
    ok(got && wn == strlen(got) && memcmp(got, want, wn) == 0,
       "bytes 0..255,0,1 encode as the reference encoder does");
    free(got);

    /* Random data of every length up to 300 against the reference. */
    int bad = 0;
    size_t first_bad = 0;
    for (size_t n = 0; n <= 300; n++) {
        uint8_t in[300];
        for (size_t i = 0; i < n; i++) in[i] = (uint8_t)xorshift();
        char ref[404];
        size_t rn = ref_encode(in, n, ref);
        char *e = encode(in, n);
        if (!e || rn != base64_encoded_len(n) || strlen(e) != rn || memcmp(e, ref, rn) != 0) {
            if (!bad++) first_bad = n;
        }
        free(e);
    }
    ok(bad == 0, "random data of lengths 0..300 encodes as the reference (%d bad, first at %zu)",
       bad, first_bad);

    ok(base64_encoded_len(0) == 0 && base64_encoded_len(1) == 4 && base64_encoded_len(2) == 4 &&
           base64_encoded_len(3) == 4 && base64_encoded_len(4) == 8 &&
           base64_encoded_len(300) == 400,
       "base64_encoded_len rounds up to whole quartets");
}

/* ---- decoding valid input ---------------------------------------------------------- */

/* Whole, 1 byte at a time, split in two at every position and in three at
 * every pair of positions: all must give back plain. */
static const char *streaming_failure(const char *enc, const uint8_t *plain, size_t plain_len)
{
    size_t n = strlen(enc);
    struct decoded r;
    decode_whole(enc, n, &r);
    if (!same(&r, plain, plain_len)) return "whole";
    decode_bytewise(enc, n, &r);
    if (!same(&r, plain, plain_len)) return "1 byte at a time";
    for (size_t a = 0; a <= n; a++) {
        size_t cuts[3] = {a, n};
        decode_cuts(enc, cuts, 2, &r);
        if (!same(&r, plain, plain_len)) return "split in two";
        for (size_t b = a; b <= n && n <= 40; b++) {
            cuts[1] = b;
            cuts[2] = n;
            decode_cuts(enc, cuts, 3, &r);
            if (!same(&r, plain, plain_len)) return "split in three";
        }
    }
    return NULL;
}

static void test_decode_valid(void)
{
    for (size_t i = 0; i < NVECTORS; i++) {
        const char *why = streaming_failure(rfc4648[i].encoded, (const uint8_t *)rfc4648[i].plain,
                                            strlen(rfc4648[i].plain));
        ok(why == NULL, "decode \"%s\": whole, 1 byte at a time, split at every position%s%s",
           rfc4648[i].encoded, why ? ": failed " : "", why ? why : "");
    }

    struct decoded r;
    decode_whole("QQ==", 4, &r);
    ok(same(&r, "A", 1), "\"QQ==\" is 1 byte");
    decode_whole("QUI=", 4, &r);
    ok(same(&r, "AB", 2), "\"QUI=\" is 2 bytes");
    decode_whole("QUJD", 4, &r);
    ok(same(&r, "ABC", 3), "\"QUJD\" is 3 bytes");
    decode_whole("", 0, &r);
    ok(same(&r, "", 0), "empty input: 0 bytes and finished");

    static const char all_digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t want[48];
    for (size_t i = 0; i < 16; i++) {
        /* four consecutive 6-bit values 4i..4i+3 packed into 3 bytes */
        unsigned v = (4 * i) << 18 | (4 * i + 1) << 12 | (4 * i + 2) << 6 | (4 * i + 3);
        want[3 * i] = (uint8_t)(v >> 16);
        want[3 * i + 1] = (uint8_t)(v >> 8);
        want[3 * i + 2] = (uint8_t)v;
    }
    const char *why = streaming_failure(all_digits, want, sizeof want);
    ok(why == NULL, "the 64 digits in order decode to their 6-bit values%s%s",
       why ? ": failed " : "", why ? why : "");

    /* Random data of every length up to 40, encoded by the reference. */
    int bad = 0;
    size_t first_bad = 0;
    const char *first_why = "";
    for (size_t n = 0; n <= 40; n++) {
        uint8_t in[40];
        char enc[60];
        for (size_t i = 0; i < n; i++) in[i] = (uint8_t)xorshift();
        enc[ref_encode(in, n, enc)] = '\0';
        const char *w = streaming_failure(enc, in, n);
        if (w && !bad++) {
            first_bad = n;
            first_why = w;
        }
    }
    ok(bad == 0,
       "random data of lengths 0..40: decoding splits at every position gives it back "
       "(%d bad, first at %zu: %s)",
       bad, first_bad, first_why);

    /* Longer random data in random chunks. */
    bad = 0;
    for (int round = 0; round < 200; round++) {
        uint8_t in[300];
        char enc[404];
        size_t n = (size_t)(xorshift() % 300);
        for (size_t i = 0; i < n; i++) in[i] = (uint8_t)xorshift();
        size_t en = ref_encode(in, n, enc);
        size_t cuts[404], ncuts = 0, at = 0;
        while (at < en) {
            at += 1 + (size_t)(xorshift() % 9);
            if (at > en) at = en;
            cuts[ncuts++] = at;
        }
        if (ncuts == 0) cuts[ncuts++] = 0;
        decode_cuts(enc, cuts, ncuts, &r);
        if (!same(&r, in, n)) bad++;
    }
    ok(bad == 0, "random data up to 300 bytes in random chunks of 1..9 characters (%d bad)", bad);

    /* A decoder can be used again after base64_decoder_init. */
    struct base64_decoder d;
    uint8_t out[8];
    base64_decoder_init(&d);
    long a = base64_decode(&d, "QQ==", 4, out);
    base64_decoder_init(&d);
    long b = base64_decode(&d, "QUJD", 4, out);
    ok(a == 1 && b == 3 && memcmp(out, "ABC", 3) == 0 && base64_decode_finish(&d),
       "base64_decoder_init resets a decoder that saw padding");
}

/* ---- every single quartet ---------------------------------------------------------- */

/* Each quartet over the alphabet, '=' and one bad character, checked against the
 * rules written out: '=' only in the last two places, and "x=" nowhere. */
static void test_all_quartets(void)
{
    static const char symbols[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=.";
    const size_t ns = sizeof symbols - 1;
    long bad = 0;
    char first[5] = "";
    for (size_t i = 0; i < ns * ns * ns * ns; i++) {
        char q[4];
        unsigned v[4];
        size_t k = i;
        for (int p = 0; p < 4; p++) {
            v[p] = (unsigned)(k % ns);
            q[p] = symbols[v[p]];
            k /= ns;
        }
        bool has_bad = memchr(q, '.', 4) != NULL;
        bool valid = !has_bad && q[0] != '=' && q[1] != '=' && !(q[2] == '=' && q[3] != '=');
        size_t want_len = q[2] == '=' ? 1 : q[3] == '=' ? 2 : 3;
        unsigned bits = (v[0] & 63) << 18 | (v[1] & 63) << 12 | (v[2] & 63) << 6 | (v[3] & 63);
        if (q[2] == '=') bits &= ~0xFFFu;
        if (q[3] == '=') bits &= ~0x3Fu;
        uint8_t want[3] = {(uint8_t)(bits >> 16), (uint8_t)(bits >> 8), (uint8_t)bits};

        struct base64_decoder d;
        base64_decoder_init(&d);
        uint8_t out[3];
        long got = base64_decode(&d, q, 4, out);
        bool good = valid ? got == (long)want_len && memcmp(out, want, want_len) == 0 &&
                                base64_decode_finish(&d)
                          : got == -1;
        if (!good && !bad++) memcpy(first, q, 4);
    }
    ok(bad == 0, "all %zu quartets over the alphabet, '=' and '.' (%ld wrong, first \"%s\")",
       ns * ns * ns * ns, bad, first);
}

/* ---- invalid input ----------------------------------------------------------------- */

/* Refused whole and 1 byte at a time. */
static void check_invalid(const char *s, size_t n, const char *why)
{
    struct decoded w, b;
    decode_whole(s, n, &w);
    decode_bytewise(s, n, &b);
    ok(w.len == -1 && b.len == -1 && w.within_bound && b.within_bound,
       "\"%s\" is refused whole and 1 byte at a time: %s (got %ld, %ld)", escn(s, n), why, w.len,
       b.len);
}

#define INVALID(s, why) check_invalid(s, sizeof s - 1, why)

static void test_decode_invalid(void)
{
    /* Characters outside the alphabet in each place of a quartet, at the
     * start and in a second quartet. */
    static const char outside[] = " -_\0\x80\n\r\t.*:\xFF@[`{";
    for (size_t c = 0; c < sizeof outside - 1; c++) {
        int refused = 0;
        for (size_t p = 0; p < 8; p++) {
            char s[8];
            memcpy(s, "QUJDRUZH", 8);
            s[p] = outside[c];
            struct decoded w, b;
            decode_whole(s, 8, &w);
            decode_bytewise(s, 8, &b);
            if (w.len == -1 && b.len == -1) refused++;
        }
        ok(refused == 8, "0x%02X in any of 8 places of \"QUJDRUZH\" is refused (%d of 8)",
           (unsigned char)outside[c], refused);
    }

    INVALID("=QUJ", "'=' first in a quartet");
    INVALID("Q=UJ", "'=' second in a quartet");
    INVALID("Q===", "'=' second in a quartet, then more");
    INVALID("====", "a quartet of padding");
    INVALID("==", "'=' alone");
    INVALID("QUJD=QUJ", "'=' first in the second quartet");
    INVALID("QUJDQ=QQ", "'=' second in the second quartet");
    INVALID("QQ==QQ==", "data after padding");
    INVALID("QQ==A", "a character after padding");
    INVALID("QUI=QUJD", "a quartet after a padded one");
    INVALID("QUI==", "'=' after a complete padded quartet");
    INVALID("QQ===", "a third '=' after \"QQ==\"");
    INVALID("QUJD=", "'=' after a complete quartet");
    INVALID("QU=D", "'=' followed by a data character");
    INVALID("QUJDQU=D", "'=' followed by a data character in the second quartet");

    /* Refusal is immediate: the valid prefix was accepted, the bad byte not. */
    struct base64_decoder d;
    uint8_t out[8];
    base64_decoder_init(&d);
    long a = base64_decode(&d, "QQ==", 4, out);
    long b = base64_decode(&d, "Q", 1, out);
    ok(a == 1 && b == -1, "after \"QQ==\" a later chunk \"Q\" is refused (%ld, %ld)", a, b);
    base64_decoder_init(&d);
    a = base64_decode(&d, "QQ==", 4, out);
    b = base64_decode(&d, "", 0, out);
    ok(a == 1 && b == 0 && base64_decode_finish(&d),
       "after \"QQ==\" an empty chunk is fine and the input may end");
}

/* ---- the end of the input ---------------------------------------------------------- */

static void check_dangling(const char *s)
{
    size_t n = strlen(s);
    struct decoded w, b;
    decode_whole(s, n, &w);
    decode_bytewise(s, n, &b);
    ok(w.len >= 0 && !w.finished && b.len == w.len && !b.finished,
       "\"%s\": accepted so far, but base64_decode_finish is false", s);
}

static void test_finish(void)
{
    check_dangling("Q");
    check_dangling("QU");
    check_dangling("QUJ");
    check_dangling("QQ=");
    check_dangling("QUI");
    check_dangling("QUJDQ");
    check_dangling("QUJDQUJ");
    check_dangling("QUJDQQ=");

    struct base64_decoder d;
    base64_decoder_init(&d);
    ok(base64_decode_finish(&d), "a fresh decoder may finish (empty input)");
    uint8_t out[8];
    long a = base64_decode(&d, "QUJDQ", 5, out);
    long b = base64_decode(&d, "UJD", 3, out + 3);
    ok(a == 3 && b == 3 && memcmp(out, "ABCABC", 6) == 0 && base64_decode_finish(&d),
       "a partial quartet completed by the next chunk finishes");
}

/* ---- the output bound -------------------------------------------------------------- */

/* With 0..3 characters already held, a chunk of n characters never yields more
 * than 3 * (n + 3) / 4 bytes (written into an exactly-sized buffer). */
static void test_output_bound(void)
{
    static const char text[] = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
    int bad = 0, worst_held = 0;
    size_t worst_n = 0;
    for (int held = 0; held <= 3; held++) {
        for (size_t n = 0; held + n <= sizeof text - 1; n++) {
            struct base64_decoder d;
            base64_decoder_init(&d);
            uint8_t first[3];
            base64_decode(&d, text, (size_t)held, first);
            size_t cap = decode_bound(n);
            uint8_t *out = malloc(cap ? cap : 1);
            long got = base64_decode(&d, text + held, n, out);
            free(out);
            size_t whole_quartets = ((size_t)held + n) / 4;
            size_t real = whole_quartets * 3;
            if (held + n == sizeof text - 1) real -= 1; /* the last quartet has one '=' */
            if (got < 0 || (size_t)got > cap || (size_t)got != real) {
                if (!bad++) {
                    worst_held = held;
                    worst_n = n;
                }
            }
        }
    }
    ok(bad == 0,
       "output <= 3 * (n + 3) / 4 with 0..3 characters held over (%d bad, first with %d held "
       "and n = %zu)",
       bad, worst_held, worst_n);
}

int main(void)
{
    test_encode();
    test_decode_valid();
    test_all_quartets();
    test_decode_invalid();
    test_finish();
    test_output_bound();
    return tap_finish();
}
