#include "autoconfig.h"

#include "proto/utf8.h"

#include <string.h>

/* Byte classes: which byte ranges behave alike in Unicode's table 3-7. */
enum {
    C_ASCII, /* 00..7F */
    C_CONT1, /* 80..8F */
    C_CONT2, /* 90..9F */
    C_CONT3, /* A0..BF */
    C_BAD,   /* C0..C1, F5..FF */
    C_LEAD2, /* C2..DF */
    C_E0,    /* E0: second byte A0..BF */
    C_LEAD3, /* E1..EC, EE..EF */
    C_ED,    /* ED: second byte 80..9F (no surrogates) */
    C_F0,    /* F0: second byte 90..BF */
    C_LEAD4, /* F1..F3 */
    C_F4,    /* F4: second byte 80..8F (<= U+10FFFF) */
    NCLASS
};

/* States: 0 accept, 1 reject, then "need N more" and the restricted seconds. */
enum { S_OK, S_BAD, S_NEED1, S_NEED2, S_NEED3, S_E0, S_ED, S_F0, S_F4, NSTATE };

static uint8_t byte_class[256];
static uint8_t next_state[NSTATE][NCLASS];
static int tables_ready;

static void build_tables(void)
{
    for (int b = 0; b < 256; b++) {
        uint8_t c;
        if (b < 0x80)
            c = C_ASCII;
        else if (b < 0x90)
            c = C_CONT1;
        else if (b < 0xA0)
            c = C_CONT2;
        else if (b < 0xC0)
            c = C_CONT3;
        else if (b < 0xC2)
            c = C_BAD;
        else if (b < 0xE0)
            c = C_LEAD2;
        else if (b == 0xE0)
            c = C_E0;
        else if (b == 0xED)
            c = C_ED;
        else if (b < 0xF0)
            c = C_LEAD3;
        else if (b == 0xF0)
            c = C_F0;
        else if (b < 0xF4)
            c = C_LEAD4;
        else if (b == 0xF4)
            c = C_F4;
        else
            c = C_BAD;
        byte_class[b] = c;
    }
    memset(next_state, S_BAD, sizeof next_state);
    next_state[S_OK][C_ASCII] = S_OK;
    next_state[S_OK][C_LEAD2] = S_NEED1;
    next_state[S_OK][C_E0] = S_E0;
    next_state[S_OK][C_LEAD3] = S_NEED2;
    next_state[S_OK][C_ED] = S_ED;
    next_state[S_OK][C_F0] = S_F0;
    next_state[S_OK][C_LEAD4] = S_NEED3;
    next_state[S_OK][C_F4] = S_F4;
    for (int c = C_CONT1; c <= C_CONT3; c++) {
        next_state[S_NEED1][c] = S_OK;
        next_state[S_NEED2][c] = S_NEED1;
        next_state[S_NEED3][c] = S_NEED2;
    }
    next_state[S_E0][C_CONT3] = S_NEED1;
    next_state[S_ED][C_CONT1] = S_NEED1;
    next_state[S_ED][C_CONT2] = S_NEED1;
    next_state[S_F0][C_CONT2] = S_NEED2;
    next_state[S_F0][C_CONT3] = S_NEED2;
    next_state[S_F4][C_CONT1] = S_NEED2;
    tables_ready = 1;
}

static inline uint32_t step(uint32_t state, uint8_t byte)
{
    return next_state[state][byte_class[byte]];
}

uint32_t utf8_validate(uint32_t state, const uint8_t *p, size_t n)
{
    if (!tables_ready) build_tables();
    size_t i = 0;
    while (i < n) {
        if (state == S_OK) {
            /* ASCII fast path, eight bytes at a time. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
            if (i == n) break;
        } else if (state == S_BAD) {
            return S_BAD;
        }
        state = step(state, p[i++]);
    }
    return state;
}

size_t utf8_incomplete_tail(const uint8_t *p, size_t n)
{
    if (!tables_ready) build_tables();
    /* A lead byte can be at most three bytes back from the end. */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t b = p[n - back];
        if ((b & 0xC0) == 0x80) continue; /* continuation: keep looking */
        if (b < 0x80) return 0;
        uint32_t s = utf8_validate(S_OK, p + n - back, back);
        return (s != S_OK && s != S_BAD) ? back : 0;
    }
    return 0;
}

size_t utf8_sanitize(const uint8_t *in, size_t n, uint8_t *out, size_t *replaced)
{
    static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
    if (!tables_ready) build_tables();
    size_t o = 0, i = 0, nrep = 0;
    while (i < n) {
        /* Scan forward; [i, char_start) holds only complete, valid characters. */
        uint32_t s = S_OK;
        size_t j = i, char_start = i;
        for (;;) {
            if (s == S_OK) char_start = j;
            if (j == n) break;
            uint32_t t = step(s, in[j]);
            if (t == S_BAD) break;
            s = t;
            j++;
        }
        if (out) memcpy(out + o, in + i, char_start - i);
        o += char_start - i;
        if (j == n && s == S_OK) break;
        /* One U+FFFD per maximal invalid subpart (Unicode's recommended practice). */
        if (out) memcpy(out + o, fffd, sizeof fffd);
        o += sizeof fffd;
        nrep++;
        if (j == n)
            i = n; /* truncated character at the end */
        else if (j == char_start)
            i = j + 1; /* this byte cannot start a character */
        else
            i = j; /* a started character was cut: retry the byte */
    }
    if (replaced) *replaced = nrep;
    return o;
}
