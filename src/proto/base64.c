#include "autoconfig.h"

#include "proto/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
}

/* 0..63 for the alphabet, 64 for '=', 255 for anything else. */
static uint8_t value_of(char c)
{
    if (c >= 'A' && c <= 'Z') return (uint8_t)(c - 'A');
    if (c >= 'a' && c <= 'z') return (uint8_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9') return (uint8_t)(c - '0' + 52);
    if (c == '+') return 62;
    if (c == '/') return 63;
    if (c == '=') return 64;
    return 255;
}

long base64_decode(struct base64_decoder *d, const char *in, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t v = value_of(in[i]);
        if (v == 255 || d->padded) return -1;
        /* '=' may only fill the last one or two places of a quartet. */
        if (v == 64 && d->have < 2) return -1;
        if (v != 64 && d->have == 3 && d->quad[2] == 64) return -1;
        d->quad[d->have++] = v;
        if (d->have < 4) continue;
        uint32_t a = d->quad[0], b = d->quad[1], c = d->quad[2], e = d->quad[3];
        out[o++] = (uint8_t)(a << 2 | b >> 4);
        if (c != 64) out[o++] = (uint8_t)(b << 4 | c >> 2);
        if (e != 64 && c != 64) out[o++] = (uint8_t)(c << 6 | e);
        d->padded = c == 64 || e == 64;
        d->have = 0;
    }
    return (long)o;
}

bool base64_decode_finish(const struct base64_decoder *d)
{
    return d->have == 0;
}
