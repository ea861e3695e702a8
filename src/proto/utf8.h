/* Incremental UTF-8 validation (RFC 3629, Unicode table 3-7) and repair. */
#ifndef WSB_UTF8_H
#define WSB_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_ACCEPT 0u /* at a character boundary: everything so far is valid */
#define UTF8_REJECT 1u /* invalid; the state stays here */

/* Feed n bytes to the validator in `state` (start with UTF8_ACCEPT) and
 * return the new state. Any other value than the two above means "inside a
 * character, more bytes needed". */
uint32_t utf8_validate(uint32_t state, const uint8_t *p, size_t n);

/* Number of bytes at the end of p[0..n) that begin a valid character but do
 * not complete it (0..3). Used to cut a stream without splitting a character. */
size_t utf8_incomplete_tail(const uint8_t *p, size_t n);

/* Replace every maximal invalid subpart (and an incomplete character at the
 * end) with U+FFFD. Writes to out when it is not NULL and returns the output
 * length, which is at most 3 * n. */
size_t utf8_sanitize(const uint8_t *in, size_t n, uint8_t *out, size_t *replaced);

#endif
