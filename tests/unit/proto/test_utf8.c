#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "proto/utf8.h"

/* How a byte string ends: after whole characters, inside one, or broken. */
enum verdict { COMPLETE, INCOMPLETE, INVALID };

static const char *const verdict_name[] = {"valid", "incomplete", "invalid"};

static enum verdict classify_state(uint32_t s)
{
    return s == UTF8_ACCEPT ? COMPLETE : s == UTF8_REJECT ? INVALID : INCOMPLETE;
}

static enum verdict dfa(const uint8_t *p, size_t n)
{
    return classify_state(utf8_validate(UTF8_ACCEPT, p, n));
}

/* Reference decoder written straight from Unicode's table 3-7 (well-formed
 * byte sequences), independent of the DFA under test. */
static enum verdict reference(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b == 0xE0) {
            need = 2, lo = 0xA0;
        } else if (b == 0xED) {
            need = 2, hi = 0x9F;
        } else if (b >= 0xE1 && b <= 0xEF) {
            need = 2;
        } else if (b == 0xF0) {
            need = 3, lo = 0x90;
        } else if (b == 0xF4) {
            need = 3, hi = 0x8F;
        } else if (b >= 0xF1 && b <= 0xF3) {
            need = 3;
        } else {
            return INVALID;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k == n) return INCOMPLETE;
            uint8_t c = p[i + k];
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return INVALID;
        }
        i += need + 1;
    }
    return COMPLETE;
}

/* Encode a code point the textbook way (no validity checks). */
static size_t encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- Markus Kuhn's UTF-8 decoder capability and stress test ---------- */

struct kuhn_case {
    const char *name;
    const char *bytes;
    size_t len;
    enum verdict expect; /* for the bytes alone, as a complete text */
};

#define B(s) s, sizeof s - 1

static const struct kuhn_case kuhn[] = {
    /* 1 Some correct UTF-8 text */
    {"1 Greek kosme", B("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"), COMPLETE},
    /* 2.1 First possible sequence of a certain length */
    {"2.1.1 U+0000", B("\x00"), COMPLETE},
    {"2.1.2 U+0080", B("\xC2\x80"), COMPLETE},
    {"2.1.3 U+0800", B("\xE0\xA0\x80"), COMPLETE},
    {"2.1.4 U+10000", B("\xF0\x90\x80\x80"), COMPLETE},
    {"2.1.5 U+200000 (5 bytes)", B("\xF8\x88\x80\x80\x80"), INVALID},
    {"2.1.6 U+4000000 (6 bytes)", B("\xFC\x84\x80\x80\x80\x80"), INVALID},
    /* 2.2 Last possible sequence of a certain length */
    {"2.2.1 U+007F", B("\x7F"), COMPLETE},
    {"2.2.2 U+07FF", B("\xDF\xBF"), COMPLETE},
    {"2.2.3 U+FFFF", B("\xEF\xBF\xBF"), COMPLETE},
    {"2.2.4 U+1FFFFF (4 bytes, beyond U+10FFFF)", B("\xF7\xBF\xBF\xBF"), INVALID},
    {"2.2.5 U+3FFFFFF (5 bytes)", B("\xFB\xBF\xBF\xBF\xBF"), INVALID},
    {"2.2.6 U+7FFFFFFF (6 bytes)", B("\xFD\xBF\xBF\xBF\xBF\xBF"), INVALID},
    /* 2.3 Other boundary conditions */
    {"2.3.1 U+D7FF", B("\xED\x9F\xBF"), COMPLETE},
    {"2.3.2 U+E000", B("\xEE\x80\x80"), COMPLETE},
    {"2.3.3 U+FFFD", B("\xEF\xBF\xBD"), COMPLETE},
    {"2.3.4 U+10FFFF", B("\xF4\x8F\xBF\xBF"), COMPLETE},
    {"2.3.5 U+110000", B("\xF4\x90\x80\x80"), INVALID},
    /* 3.1 Unexpected continuation bytes */
    {"3.1.1 first continuation byte 0x80", B("\x80"), INVALID},
    {"3.1.2 last continuation byte 0xBF", B("\xBF"), INVALID},
    {"3.1.3 2 continuation bytes", B("\x80\xBF"), INVALID},
    {"3.1.4 3 continuation bytes", B("\x80\xBF\x80"), INVALID},
    {"3.1.5 4 continuation bytes", B("\x80\xBF\x80\xBF"), INVALID},
    {"3.1.6 5 continuation bytes", B("\x80\xBF\x80\xBF\x80"), INVALID},
    {"3.1.7 6 continuation bytes", B("\x80\xBF\x80\xBF\x80\xBF"), INVALID},
    {"3.1.8 7 continuation bytes", B("\x80\xBF\x80\xBF\x80\xBF\x80"), INVALID},
    {"3.1.x continuation byte after a complete character", B("\xC2\xA9\x80"), INVALID},
    {"3.1.x continuation byte after ASCII", B("abc\xBF"), INVALID},
    /* 3.3 Sequences with last continuation byte missing */
    {"3.3.1 2-byte U+0000 without its last byte", B("\xC0"), INVALID},
    {"3.3.2 3-byte U+0000 without its last byte", B("\xE0\x80"), INVALID},
    {"3.3.3 4-byte U+0000 without its last byte", B("\xF0\x80\x80"), INVALID},
    {"3.3.4 5-byte U+0000 without its last byte", B("\xF8\x80\x80\x80"), INVALID},
    {"3.3.5 6-byte U+0000 without its last byte", B("\xFC\x80\x80\x80\x80"), INVALID},
    {"3.3.6 2-byte U+07FF without its last byte", B("\xDF"), INCOMPLETE},
    {"3.3.7 3-byte U+FFFF without its last byte", B("\xEF\xBF"), INCOMPLETE},
    {"3.3.8 4-byte U+1FFFFF without its last byte", B("\xF7\xBF\xBF"), INVALID},
    {"3.3.9 5-byte U+3FFFFFF without its last byte", B("\xFB\xBF\xBF\xBF"), INVALID},
    {"3.3.10 6-byte U+7FFFFFFF without its last byte", B("\xFD\xBF\xBF\xBF\xBF"), INVALID},
    {"3.3.x 4-byte U+10FFFF without its last byte", B("\xF4\x8F\xBF"), INCOMPLETE},
    {"3.3.x 4-byte U+10000 without its last two bytes", B("\xF0\x90"), INCOMPLETE},
    /* 3.4 Concatenation of incomplete sequences */
    {"3.4 all ten incomplete sequences concatenated",
     B("\xC0\xE0\x80\xF0\x80\x80\xF8\x80\x80\x80\xFC\x80\x80\x80\x80"
       "\xDF\xEF\xBF\xF7\xBF\xBF\xFB\xBF\xBF\xBF\xFD\xBF\xBF\xBF\xBF"),
     INVALID},
    {"3.4.x incomplete 2-byte then a complete 2-byte", B("\xDF\xC2\x80"), INVALID},
    {"3.4.x incomplete 3-byte then ASCII", B("\xEF\xBFz"), INVALID},
    /* 3.5 Impossible bytes */
    {"3.5.1 fe", B("\xFE"), INVALID},
    {"3.5.2 ff", B("\xFF"), INVALID},
    {"3.5.3 fe fe ff ff", B("\xFE\xFE\xFF\xFF"), INVALID},
    {"3.5.x ff after valid text", B("ok\xCE\xBA\xFF"), INVALID},
    /* 4.1 Overlong representations of "/" */
    {"4.1.1 C0 AF", B("\xC0\xAF"), INVALID},
    {"4.1.2 E0 80 AF", B("\xE0\x80\xAF"), INVALID},
    {"4.1.3 F0 80 80 AF", B("\xF0\x80\x80\xAF"), INVALID},
    {"4.1.4 F8 80 80 80 AF", B("\xF8\x80\x80\x80\xAF"), INVALID},
    {"4.1.5 FC 80 80 80 80 AF", B("\xFC\x80\x80\x80\x80\xAF"), INVALID},
    /* 4.2 Maximum overlong sequences */
    {"4.2.1 U+007F as 2 bytes", B("\xC1\xBF"), INVALID},
    {"4.2.2 U+07FF as 3 bytes", B("\xE0\x9F\xBF"), INVALID},
    {"4.2.3 U+FFFF as 4 bytes", B("\xF0\x8F\xBF\xBF"), INVALID},
    {"4.2.4 U+1FFFFF as 5 bytes", B("\xF8\x87\xBF\xBF\xBF"), INVALID},
    {"4.2.5 U+3FFFFFF as 6 bytes", B("\xFC\x83\xBF\xBF\xBF\xBF"), INVALID},
    /* 4.3 Overlong representation of the NUL character */
    {"4.3.1 NUL as 2 bytes", B("\xC0\x80"), INVALID},
    {"4.3.2 NUL as 3 bytes", B("\xE0\x80\x80"), INVALID},
    {"4.3.3 NUL as 4 bytes", B("\xF0\x80\x80\x80"), INVALID},
    {"4.3.4 NUL as 5 bytes", B("\xF8\x80\x80\x80\x80"), INVALID},
    {"4.3.5 NUL as 6 bytes", B("\xFC\x80\x80\x80\x80\x80"), INVALID},
    /* 5.1 Single UTF-16 surrogates */
    {"5.1.1 U+D800", B("\xED\xA0\x80"), INVALID},
    {"5.1.2 U+DB7F", B("\xED\xAD\xBF"), INVALID},
    {"5.1.3 U+DB80", B("\xED\xAE\x80"), INVALID},
    {"5.1.4 U+DBFF", B("\xED\xAF\xBF"), INVALID},
    {"5.1.5 U+DC00", B("\xED\xB0\x80"), INVALID},
    {"5.1.6 U+DF80", B("\xED\xBE\x80"), INVALID},
    {"5.1.7 U+DFFF", B("\xED\xBF\xBF"), INVALID},
    /* 5.2 Paired UTF-16 surrogates */
    {"5.2.1 U+D800 U+DC00", B("\xED\xA0\x80\xED\xB0\x80"), INVALID},
    {"5.2.2 U+D800 U+DFFF", B("\xED\xA0\x80\xED\xBF\xBF"), INVALID},
    {"5.2.3 U+DB7F U+DC00", B("\xED\xAD\xBF\xED\xB0\x80"), INVALID},
    {"5.2.4 U+DB7F U+DFFF", B("\xED\xAD\xBF\xED\xBF\xBF"), INVALID},
    {"5.2.5 U+DB80 U+DC00", B("\xED\xAE\x80\xED\xB0\x80"), INVALID},
    {"5.2.6 U+DB80 U+DFFF", B("\xED\xAE\x80\xED\xBF\xBF"), INVALID},
    {"5.2.7 U+DBFF U+DC00", B("\xED\xAF\xBF\xED\xB0\x80"), INVALID},
    {"5.2.8 U+DBFF U+DFFF", B("\xED\xAF\xBF\xED\xBF\xBF"), INVALID},
    /* 5.3 Noncharacters are valid UTF-8 (Unicode Corrigendum #9) */
    {"5.3.1 U+FFFE", B("\xEF\xBF\xBE"), COMPLETE},
    {"5.3.2 U+FFFF", B("\xEF\xBF\xBF"), COMPLETE},
    {"5.3.3 U+FDD0..U+FDEF (first and last)", B("\xEF\xB7\x90\xEF\xB7\xAF"), COMPLETE},
    {"5.3.4 U+1FFFE U+1FFFF", B("\xF0\x9F\xBF\xBE\xF0\x9F\xBF\xBF"), COMPLETE},
    {"5.3.4 U+10FFFE U+10FFFF", B("\xF4\x8F\xBF\xBE\xF4\x8F\xBF\xBF"), COMPLETE},
    /* Extra boundaries of table 3-7 */
    {"C2 is the first valid 2-byte lead", B("\xC2\xBF"), COMPLETE},
    {"C1 is never a lead byte", B("\xC1\x80"), INVALID},
    {"F5 is never a lead byte", B("\xF5\x80\x80\x80"), INVALID},
    {"E0 A0 is the smallest non-overlong 3-byte prefix", B("\xE0\xA0"), INCOMPLETE},
    {"ED 9F is the last non-surrogate ED prefix", B("\xED\x9F"), INCOMPLETE},
    {"ED A0 starts a surrogate", B("\xED\xA0"), INVALID},
    {"F0 8F is overlong", B("\xF0\x8F"), INVALID},
    {"F4 90 is beyond U+10FFFF", B("\xF4\x90"), INVALID},
    {"mixed text with 1- to 4-byte characters",
     B("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z\xED\x9F\xBF\xEE\x80\x80"), COMPLETE},
};

#define NKUHN (sizeof kuhn / sizeof kuhn[0])

/* Feed p[0..k) then p[k..n) with the state carried over. */
static enum verdict split_feed(const uint8_t *p, size_t n, size_t k)
{
    uint32_t s = utf8_validate(UTF8_ACCEPT, p, k);
    return classify_state(utf8_validate(s, p + k, n - k));
}

static void test_kuhn_case(const struct kuhn_case *c)
{
    /* A private copy of exactly len bytes lets ASan catch any over-read. */
    uint8_t *p = malloc(c->len ? c->len : 1);
    memcpy(p, c->bytes, c->len);
    enum verdict v = dfa(p, c->len);
    ok(v == c->expect, "%s: %s (got %s)", c->name, verdict_name[c->expect], verdict_name[v]);

    size_t bad_split = SIZE_MAX;
    for (size_t k = 0; k <= c->len && bad_split == SIZE_MAX; k++)
        if (split_feed(p, c->len, k) != v) bad_split = k;
    uint32_t s = UTF8_ACCEPT;
    for (size_t i = 0; i < c->len; i++) s = utf8_validate(s, p + i, 1);
    ok(bad_split == SIZE_MAX && classify_state(s) == v,
       "%s: same verdict when split at every position and fed 1 byte at a time", c->name);

    /* Every prefix, byte by byte: the DFA state agrees with the reference,
     * so a prefix that stops inside a character is neither ACCEPT nor REJECT. */
    size_t bad_prefix = SIZE_MAX;
    s = UTF8_ACCEPT;
    for (size_t i = 1; i <= c->len && bad_prefix == SIZE_MAX; i++) {
        s = utf8_validate(s, p + i - 1, 1);
        if (classify_state(s) != reference(p, i)) bad_prefix = i;
    }
    ok(bad_prefix == SIZE_MAX, "%s: every prefix is classified like the reference%s", c->name,
       bad_prefix == SIZE_MAX ? "" : " (mismatch)");

    /* Followed by a space, an unfinished character turns invalid. */
    uint8_t *q = malloc(c->len + 1);
    memcpy(q, p, c->len);
    q[c->len] = ' ';
    enum verdict want = c->expect == COMPLETE ? COMPLETE : INVALID;
    ok(dfa(q, c->len + 1) == want, "%s: followed by a space it is %s", c->name, verdict_name[want]);
    free(q);
    free(p);
}

/* 3.1.9 and 3.2: every byte of a class, each tested on its own. */
static void test_byte_groups(void)
{
    int bad = -1;
    for (int b = 0x80; b <= 0xBF && bad < 0; b++) {
        uint8_t c = (uint8_t)b;
        if (dfa(&c, 1) != INVALID) bad = b;
    }
    ok(bad < 0, "3.1.9 each of the 64 continuation bytes 80..BF alone is invalid (first bad %#x)",
       (unsigned)bad);

    uint8_t all[64];
    for (int i = 0; i < 64; i++) all[i] = (uint8_t)(0x80 + i);
    ok(dfa(all, sizeof all) == INVALID, "3.1.9 the run of all 64 continuation bytes is invalid");

    static const struct {
        const char *name;
        int first, last;
    } groups[] = {
        {"3.2.1 lonely 2-byte lead bytes C0..DF", 0xC0, 0xDF},
        {"3.2.2 lonely 3-byte lead bytes E0..EF", 0xE0, 0xEF},
        {"3.2.3 lonely 4-byte lead bytes F0..F7", 0xF0, 0xF7},
        {"3.2.4 lonely 5-byte lead bytes F8..FB", 0xF8, 0xFB},
        {"3.2.5 lonely 6-byte lead bytes FC..FD", 0xFC, 0xFD},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        bad = -1;
        uint8_t run[64];
        size_t n = 0;
        for (int b = groups[g].first; b <= groups[g].last; b++) {
            uint8_t two[2] = {(uint8_t)b, ' '};
            if (dfa(two, 2) != INVALID && bad < 0) bad = b;
            run[n++] = (uint8_t)b;
            run[n++] = ' ';
        }
        ok(bad < 0 && dfa(run, n) == INVALID,
           "%s: each followed by a space is invalid, and so is the whole run (first bad %#x)",
           groups[g].name, (unsigned)bad);
    }
    /* A lonely lead byte at the very end is "incomplete", not "invalid", when it can start a
     * valid character. */
    bad = -1;
    for (int b = 0xC2; b <= 0xF4 && bad < 0; b++) {
        uint8_t c = (uint8_t)b;
        if (dfa(&c, 1) != INCOMPLETE) bad = b;
    }
    ok(bad < 0,
       "every valid lead byte C2..F4 alone leaves the validator mid-character (first "
       "bad %#x)",
       (unsigned)bad);
}

/* Every Unicode scalar value is accepted, every surrogate rejected. */
static void test_all_code_points(void)
{
    uint32_t bad_scalar = UINT32_MAX, bad_surrogate = UINT32_MAX;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        uint8_t e[4];
        size_t n = encode(cp, e);
        enum verdict v = dfa(e, n);
        bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        if (!surrogate && v != COMPLETE && bad_scalar == UINT32_MAX) bad_scalar = cp;
        if (surrogate && v != INVALID && bad_surrogate == UINT32_MAX) bad_surrogate = cp;
    }
    ok(bad_scalar == UINT32_MAX,
       "all 1,112,064 scalar values U+0000..U+10FFFF are accepted "
       "(first bad U+%04X)",
       (unsigned)bad_scalar);
    ok(bad_surrogate == UINT32_MAX, "all 2048 surrogates U+D800..U+DFFF are rejected");

    /* Code points beyond U+10FFFF in the old 4-byte form. */
    uint32_t bad_big = UINT32_MAX;
    for (uint32_t cp = 0x110000; cp <= 0x1FFFFF; cp += 0x1001) {
        uint8_t e[4];
        size_t n = encode(cp, e);
        if (dfa(e, n) != INVALID && bad_big == UINT32_MAX) bad_big = cp;
    }
    ok(bad_big == UINT32_MAX, "4-byte forms above U+10FFFF are rejected");
}

/* Exhaustive comparison with the reference over all short strings. */
static void test_exhaustive(void)
{
    uint8_t p[4];
    long mismatch = -1;
    for (unsigned v = 0; v < 1u << 16 && mismatch < 0; v++) {
        p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
        if (dfa(p, 2) != reference(p, 2) || dfa(p, 1) != reference(p, 1)) mismatch = (long)v;
    }
    ok(mismatch < 0, "all 65536 2-byte strings (and their prefixes) match the reference");

    size_t accepted = 0;
    mismatch = -1;
    for (unsigned v = 0; v < 1u << 24; v++) {
        p[0] = (uint8_t)(v >> 16), p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)v;
        enum verdict d = dfa(p, 3);
        if (d == COMPLETE) accepted++;
        if (mismatch < 0 && d != reference(p, 3)) mismatch = (long)v;
    }
    ok(mismatch < 0, "all 2^24 3-byte strings match the reference (first mismatch %#lx)",
       (unsigned long)mismatch);
    /* 128^3 ASCII triples + 2 * 128 * 1920 (ASCII next to a 2-byte character) + 61440
     * 3-byte characters (U+0800..U+FFFF without the 2048 surrogates). */
    ok(accepted == 2097152 + 491520 + 61440, "exactly 2650112 valid 3-byte strings (got %zu)",
       accepted);

    accepted = 0;
    for (unsigned lead = 0xF0; lead <= 0xF7; lead++)
        for (unsigned v = 0; v < 1u << 18; v++) {
            p[0] = (uint8_t)lead;
            p[1] = (uint8_t)(0x80 | (v >> 12 & 0x3F));
            p[2] = (uint8_t)(0x80 | (v >> 6 & 0x3F));
            p[3] = (uint8_t)(0x80 | (v & 0x3F));
            if (dfa(p, 4) == COMPLETE) accepted++;
        }
    ok(accepted == 0x100000,
       "of all F0..F7 lead + 3 continuation forms, exactly the 1048576 "
       "for U+10000..U+10FFFF are valid (got %zu)",
       accepted);
}

/* The eight-bytes-at-a-time ASCII path must not skip checks. */
static void test_ascii_fast_path(void)
{
    uint8_t buf[40];
    int bad = -1;
    for (int at = 0; at < 32 && bad < 0; at++) {
        memset(buf, 'a', sizeof buf);
        buf[at] = 0xFF;
        if (dfa(buf, 32) != INVALID) bad = at;
    }
    ok(bad < 0, "an invalid byte is found at every position of a 32-byte ASCII run");

    bad = -1;
    for (int at = 0; at + 3 <= 32 && bad < 0; at++) {
        memset(buf, 'a', sizeof buf);
        memcpy(buf + at, "\xE2\x82\xAC", 3);
        if (dfa(buf, 32) != COMPLETE) bad = at;
        if (dfa(buf, (size_t)at + 2) != INCOMPLETE) bad = at;
    }
    ok(bad < 0, "a 3-byte character is accepted at every position of an ASCII run, and "
                "cutting inside it leaves the state incomplete");

    memset(buf, 'a', sizeof buf);
    uint32_t s = utf8_validate(UTF8_ACCEPT, (const uint8_t *)"\xC3", 1);
    ok(utf8_validate(s, buf, 32) == UTF8_REJECT,
       "ASCII after an unfinished lead byte is rejected, even a long run");
    s = utf8_validate(UTF8_ACCEPT, (const uint8_t *)"\xF0\x9F\x98", 3);
    ok(utf8_validate(s, (const uint8_t *)"\x80", 1) == UTF8_ACCEPT,
       "the state carries the last byte of a 4-byte character across calls");
    ok(utf8_validate(UTF8_REJECT, buf, 32) == UTF8_REJECT,
       "REJECT is sticky: valid input does not clear it");
    ok(utf8_validate(UTF8_ACCEPT, buf, 0) == UTF8_ACCEPT && utf8_validate(s, buf, 0) == s,
       "an empty feed leaves the state unchanged");
}

/* ---- utf8_incomplete_tail ------------------------------------------- */

static void test_incomplete_tail(void)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        size_t tail;
    } cases[] = {
        {"empty", B(""), 0},
        {"ASCII", B("abc"), 0},
        {"lead of a 2-byte character", B("a\xC3"), 1},
        {"2 of 3 bytes", B("a\xE2\x82"), 2},
        {"1 of 3 bytes", B("ab\xE2"), 1},
        {"3 of 4 bytes", B("\xF0\x9F\x98"), 3},
        {"3 of 4 bytes after text", B("x\xC3\xA9\xF0\x9F\x98"), 3},
        {"2 of 4 bytes", B("xy\xF0\x9F"), 2},
        {"complete 2-byte character", B("\xC3\xA9"), 0},
        {"complete 3-byte character", B("\xE2\x82\xAC"), 0},
        {"complete 4-byte character", B("\xF0\x9F\x98\x80"), 0},
        {"a lead that can start nothing (C0)", B("a\xC0"), 0},
        {"a lead that can start nothing (FF)", B("a\xFF"), 0},
        {"overlong start E0 80", B("\xE0\x80"), 0},
        {"surrogate start ED A0", B("\xED\xA0"), 0},
        {"beyond U+10FFFF F4 90", B("\xF4\x90"), 0},
        {"highest 4-byte start F4 8F BF", B("\xF4\x8F\xBF"), 3},
        {"a lone continuation byte", B("a\x80"), 0},
        {"three continuation bytes", B("\x80\x80\x80"), 0},
        {"four continuation bytes after a lead", B("\xF0\x80\x80\x80\x80"), 0},
        {"a lead after a complete character", B("\xC3\xA9\xC3"), 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t t = utf8_incomplete_tail((const uint8_t *)cases[i].bytes, cases[i].len);
        ok(t == cases[i].tail, "incomplete_tail: %s -> %zu (got %zu)", cases[i].name, cases[i].tail,
           t);
    }

    /* Cutting a valid text anywhere: the tail is the distance back to the last boundary. */
    static const char text[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
    static const size_t boundaries[] = {0, 1, 3, 6, 10, 11};
    int bad = -1;
    for (size_t cut = 0; cut < sizeof text; cut++) {
        size_t last = 0;
        for (size_t b = 0; b < sizeof boundaries / sizeof boundaries[0]; b++)
            if (boundaries[b] <= cut) last = boundaries[b];
        if (utf8_incomplete_tail((const uint8_t *)text, cut) != cut - last && bad < 0)
            bad = (int)cut;
    }
    ok(bad < 0,
       "incomplete_tail of every prefix of a valid text is the bytes since the last "
       "character boundary (first bad cut %d)",
       bad);
}

/* ---- utf8_sanitize ----------------------------------------------------- */

#define FFFD "\xEF\xBF\xBD"

static void check_sanitize(const char *name, const char *in, size_t n, const char *want,
                           size_t want_len, size_t want_rep)
{
    uint8_t *out = malloc(3 * n + 1);
    size_t rep = 12345, rep2 = 54321;
    size_t len = utf8_sanitize((const uint8_t *)in, n, out, &rep);
    size_t dry = utf8_sanitize((const uint8_t *)in, n, NULL, &rep2);
    ok(len == want_len && memcmp(out, want, want_len) == 0 && rep == want_rep && dry == len &&
           rep2 == rep,
       "sanitize: %s -> %zu bytes, %zu replacement(s) (got %zu bytes, %zu)", name, want_len,
       want_rep, len, rep);
    free(out);
}

#define SAN(name, in, want, rep) check_sanitize(name, in, sizeof in - 1, want, sizeof want - 1, rep)

static void test_sanitize(void)
{
    SAN("empty", "", "", 0);
    SAN("ASCII unchanged", "hello, world", "hello, world", 0);
    SAN("Greek kosme unchanged", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",
        "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", 0);
    SAN("4-byte character unchanged", "\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", 0);
    SAN("overlong NUL C0 80", "\xC0\x80", FFFD FFFD, 2);
    SAN("surrogate ED A0 80", "\xED\xA0\x80", FFFD FFFD FFFD, 3);
    SAN("truncated overlong E0 80", "\xE0\x80", FFFD FFFD, 2);
    SAN("beyond U+10FFFF F4 90 80 80", "\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD, 4);
    SAN("truncated E2 82 at the end", "a\xE2\x82", "a" FFFD, 1);
    SAN("truncated F0 9F 98 at the end", "\xF0\x9F\x98", FFFD, 1);
    SAN("truncated E2 82 before ASCII", "\xE2\x82z", FFFD "z", 1);
    SAN("truncated E2 82 before a valid character", "\xE2\x82\xC3\xA9", FFFD "\xC3\xA9", 1);
    SAN("lone continuation byte", "a\x80z", "a" FFFD "z", 1);
    SAN("impossible bytes FE FE FF FF", "\xFE\xFE\xFF\xFF", FFFD FFFD FFFD FFFD, 4);
    SAN("5-byte form F8 88 80 80 80", "\xF8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD, 5);
    /* Unicode 15, chapter 3.9, tables 3-8 to 3-11. */
    SAN("Unicode table 3-8 (non-shortest forms)", "\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41",
        FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD "A", 8);
    SAN("Unicode table 3-9 (surrogates)", "\xED\xA0\x80\xED\xBF\xBF\xED\xAF\x41",
        FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD "A", 8);
    SAN("Unicode table 3-10 (other ill-formed)", "\xF4\x91\x92\x93\xFF\x41\x80\xBF\x42",
        FFFD FFFD FFFD FFFD FFFD "A" FFFD FFFD "B", 7);
    SAN("Unicode table 3-11 (truncated)", "\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41",
        FFFD FFFD FFFD FFFD "A", 4);
    SAN("Unicode's example 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64",
        "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
        "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d", 6);
    SAN("Kuhn 3.4 concatenated incomplete sequences",
        "\xC0\xE0\x80\xF0\x80\x80\xF8\x80\x80\x80\xFC\x80\x80\x80\x80"
        "\xDF\xEF\xBF\xF7\xBF\xBF\xFB\xBF\xBF\xBF\xFD\xBF\xBF\xBF\xBF",
        FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD
            FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD,
        29);

    /* Worst case: every byte replaced. */
    uint8_t ff[100], out[300];
    memset(ff, 0xFF, sizeof ff);
    size_t rep;
    ok(utf8_sanitize(ff, sizeof ff, out, &rep) == 300 && rep == 100,
       "100 impossible bytes become exactly 300 output bytes");
    ok(utf8_sanitize(ff, 0, NULL, NULL) == 0, "replaced may be NULL");
}

/* Properties over many random strings (fixed seed): bounded growth, valid
 * output, and identity on valid input. */
static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_sanitize_properties(void)
{
    static const uint8_t alphabet[] = {'a',  0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                                       0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF,
                                       0xF0, 0xF1, 0xF4, 0xF5, 0xF8, 0xFF};
    int bad_len = 0, bad_valid = 0, bad_identity = 0, bad_count = 0;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t in[12], out[36];
        size_t n = rng() % sizeof in;
        for (size_t i = 0; i < n; i++) in[i] = alphabet[rng() % sizeof alphabet];
        size_t rep;
        size_t len = utf8_sanitize(in, n, out, &rep);
        if (len > 3 * n) bad_len++;
        if (dfa(out, len) != COMPLETE) bad_valid++;
        bool valid = dfa(in, n) == COMPLETE;
        if (valid && (len != n || memcmp(in, out, n) != 0)) bad_identity++;
        if (valid != (rep == 0)) bad_count++;
    }
    ok(bad_len == 0, "random inputs: output length <= 3 * input length (%d bad)", bad_len);
    ok(bad_valid == 0, "random inputs: output is always valid UTF-8 (%d bad)", bad_valid);
    ok(bad_identity == 0, "random inputs: valid input is copied unchanged (%d bad)", bad_identity);
    ok(bad_count == 0, "random inputs: replacements happen iff the input is invalid (%d bad)",
       bad_count);
}

int main(void)
{
    for (size_t i = 0; i < NKUHN; i++) test_kuhn_case(&kuhn[i]);
    test_byte_groups();
    test_all_code_points();
    test_exhaustive();
    test_ascii_fast_path();
    test_incomplete_tail();
    test_sanitize();
    test_sanitize_properties();
    return tap_finish();
}
