/* libFuzzer target for base64.c: the streaming decoder against an independent
 * reference decoder (RFC 4648, standard alphabet, padding required), whole
 * input vs byte by byte vs uneven chunks, the documented output bound, and
 * an encode -> decode round trip of the input taken as arbitrary bytes.
 *
 * The reference accepts non-zero pad bits ("QR==" is "A"): RFC 4648 3.5 lets
 * a decoder reject them, and base64.h documents no such check. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base64.h"

#include "fuzz_exact.h"

enum ref_class { REF_COMPLETE, REF_PARTIAL, REF_BAD };

/* 0..63 for a digit, -1 for anything else (including '='). */
static int ref_digit(uint8_t c)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? memchr(digits, c, 64) : NULL;
    return p ? (int)(p - digits) : -1;
}

/* Classify the whole text and decode what a streaming decoder must have
 * produced by its end: every complete quartet, and nothing of a partial one.
 * The grammar: 4k digits, then optionally "dd==" or "ddd=" and nothing after. */
static enum ref_class ref_decode(const uint8_t *in, size_t n, uint8_t *out, size_t *out_len)
{
    size_t data = 0; /* digits before the first '=' */
    while (data < n && in[data] != '=') {
        if (ref_digit(in[data]) < 0) return REF_BAD;
        data++;
    }
    enum ref_class verdict;
    if (data == n) {
        verdict = n % 4 == 0 ? REF_COMPLETE : REF_PARTIAL;
    } else {
        size_t place = data % 4; /* of the first '=' in its quartet */
        size_t pads = 4 - place; /* '=' needed to end the quartet */
        if (place < 2) return REF_BAD;
        for (size_t i = data; i < n; i++)
            if (i >= data + pads || in[i] != '=') return REF_BAD;
        verdict = n == data + pads ? REF_COMPLETE : REF_PARTIAL;
    }

    /* The bits of every digit of a completed quartet, 8 at a time. */
    size_t usable = verdict == REF_COMPLETE ? data : data - data % 4;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < usable; i++) {
        acc = (acc << 6 | (uint32_t)ref_digit(in[i])) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return verdict;
}

static void ref_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        size_t k = n - i < 3 ? n - i : 3;
        uint32_t v = 0;
        for (size_t j = 0; j < 3; j++) v = v << 8 | (j < k ? in[i + j] : 0);
        for (size_t j = 0; j < 4; j++) out[o++] = j <= k ? digits[(v >> (18 - 6 * j)) & 63] : '=';
    }
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Exactly-sized chunk and output buffers (fuzz_exact.h: one allocation
 * each, not a malloc per chunk, which under ASan cost most of each run). */
static struct exact chunk_buf, dst_buf;

/* Decode in chunks ending at the given cuts (increasing, the last one n):
 * each chunk is an exactly-sized copy and its output buffer is exactly the
 * documented 3 * (m + 3) / 4, so ASan sees any overrun. Returns the verdict
 * and appends the output to out. */
static enum ref_class decode_cuts(const uint8_t *in, const size_t *cuts, size_t ncuts, uint8_t *out,
                                  size_t *out_len)
{
    struct base64_decoder d;
    base64_decoder_init(&d);
    size_t at = 0, o = 0;
    for (size_t k = 0; k < ncuts; k++) {
        size_t m = cuts[k] - at;
        char *chunk = (char *)exact_use(&chunk_buf, m);
        size_t cap = 3 * (m + 3) / 4;
        uint8_t *dst = exact_use(&dst_buf, cap); /* the documented bound, exactly */
        if (m) memcpy(chunk, in + at, m);
        long got = base64_decode(&d, chunk, m, dst);
        if (got < -1 || got > (long)cap) abort();
        if (got == -1) {
            *out_len = o;
            return REF_BAD;
        }
        memcpy(out + o, dst, (size_t)got);
        o += (size_t)got;
        at = cuts[k];
    }
    *out_len = o;
    return base64_decode_finish(&d) ? REF_COMPLETE : REF_PARTIAL;
}

/* One byte at a time into one 3-byte buffer (the bound for one character). */
static enum ref_class decode_bytewise(const uint8_t *in, size_t n, uint8_t *out, size_t *out_len)
{
    struct base64_decoder d;
    base64_decoder_init(&d);
    uint8_t *dst = exact_use(&dst_buf, 3);
    size_t o = 0;
    enum ref_class verdict = REF_PARTIAL;
    for (size_t i = 0; i < n; i++) {
        long got = base64_decode(&d, (const char *)in + i, 1, dst);
        if (got < -1 || got > 3) abort();
        if (got == -1) {
            verdict = REF_BAD;
            break;
        }
        memcpy(out + o, dst, (size_t)got);
        o += (size_t)got;
    }
    *out_len = o;
    if (verdict == REF_BAD) return REF_BAD;
    return base64_decode_finish(&d) ? REF_COMPLETE : REF_PARTIAL;
}

static struct exact ref_buf, got_buf, cuts_buf, enc_buf, ref_enc_buf, dec_buf, ecuts_buf;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = 3 * (size + 3) / 4 + 3;
    uint8_t *ref = exact_use(&ref_buf, cap), *got = exact_use(&got_buf, cap);
    size_t *cuts = (size_t *)exact_use(&cuts_buf, (size + 1) * sizeof *cuts);

    /* The input as base64 text: whole, in chunks, byte by byte, all like the
     * reference. */
    size_t ref_len = 0, got_len = 0;
    enum ref_class want = ref_decode(data, size, ref, &ref_len);
    enum ref_class whole = decode_cuts(data, &size, 1, got, &got_len);
    if (whole != want) abort();
    if (want != REF_BAD && (got_len != ref_len || memcmp(got, ref, ref_len) != 0)) abort();

    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < size && i < 16; i++) seed = (seed ^ data[i]) * 0x100000001b3ull;
    seed |= 1;
    size_t ncuts = 0, at = 0;
    const size_t step_max = 1 + (size_t)(seed >> 60) * 3;
    while (at < size) {
        at += 1 + (size_t)(xorshift(&seed) % step_max);
        if (at > size) at = size;
        cuts[ncuts++] = at;
    }
    if (ncuts == 0) cuts[ncuts++] = 0;
    if (decode_cuts(data, cuts, ncuts, got, &got_len) != want) abort();
    if (want != REF_BAD && (got_len != ref_len || memcmp(got, ref, ref_len) != 0)) abort();

    if (decode_bytewise(data, size, got, &got_len) != want) abort();
    if (want != REF_BAD && (got_len != ref_len || memcmp(got, ref, ref_len) != 0)) abort();

    /* Canonical text (pad bits zero) is what encoding its bytes gives back. */
    if (want == REF_COMPLETE) {
        char *again = (char *)exact_use(&enc_buf, base64_encoded_len(ref_len));
        base64_encode(ref, ref_len, again);
        size_t elen = base64_encoded_len(ref_len);
        if (elen != size) abort();
        bool canonical = memcmp(again, data, size) == 0;
        /* Otherwise only a digit before the padding may differ. */
        if (!canonical) {
            const uint8_t *eq = memchr(data, '=', size);
            if (!eq) abort(); /* without padding every bit is data */
            size_t pad = size - (size_t)(eq - data);
            size_t i = size - pad - 1;
            if (memcmp(again, data, i) != 0 || memcmp(again + i + 1, data + i + 1, pad) != 0)
                abort();
        }
    }

    /* The input as arbitrary bytes: encoding matches the reference, writes
     * exactly base64_encoded_len bytes, and decodes back whole and in chunks. */
    size_t elen = base64_encoded_len(size);
    if (elen != 4 * ((size + 2) / 3)) abort();
    char *enc = (char *)exact_use(&enc_buf, elen), *ref_enc = (char *)exact_use(&ref_enc_buf, elen);
    base64_encode(data, size, enc);
    ref_encode(data, size, ref_enc);
    if (memcmp(enc, ref_enc, elen) != 0) abort();
    size_t dec_cap = 3 * (elen + 3) / 4 + 3;
    uint8_t *dec = exact_use(&dec_buf, dec_cap);
    size_t *ecuts = (size_t *)exact_use(&ecuts_buf, (elen + 1) * sizeof *ecuts);
    size_t dec_len = 0;
    if (decode_cuts((const uint8_t *)enc, &elen, 1, dec, &dec_len) != REF_COMPLETE ||
        dec_len != size || memcmp(dec, data, size) != 0)
        abort();
    size_t necuts = 0;
    at = 0;
    while (at < elen) {
        at += 1 + (size_t)(xorshift(&seed) % 11);
        if (at > elen) at = elen;
        ecuts[necuts++] = at;
    }
    if (necuts == 0) ecuts[necuts++] = 0;
    if (decode_cuts((const uint8_t *)enc, ecuts, necuts, dec, &dec_len) != REF_COMPLETE ||
        dec_len != size || memcmp(dec, data, size) != 0)
        abort();
    return 0;
}
