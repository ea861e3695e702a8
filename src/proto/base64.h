/* Base64 (RFC 4648, standard alphabet, padded) for the "base64"
 * subprotocol: one-shot encoding, streaming strict decoding. */
#ifndef WSB_BASE64_H
#define WSB_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline size_t base64_encoded_len(size_t n)
{
    return 4 * ((n + 2) / 3);
}

/* Write base64_encoded_len(n) characters (no terminator). */
void base64_encode(const uint8_t *in, size_t n, char *out);

struct base64_decoder {
    uint8_t quad[4];
    uint8_t have; /* characters of the current quartet */
    bool padded;  /* a quartet with '=' ended the data */
};

static inline void base64_decoder_init(struct base64_decoder *d)
{
    d->have = 0;
    d->padded = false;
}

/* Decode a chunk; out needs room for 3 * (n + 3) / 4 bytes. Returns the
 * number of bytes written, or -1 for a character outside the alphabet or
 * data after the padding. */
long base64_decode(struct base64_decoder *d, const char *in, size_t n, uint8_t *out);

/* The input has ended: true when it ended on a quartet boundary. */
bool base64_decode_finish(const struct base64_decoder *d);

#endif
