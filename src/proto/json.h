/* JSON strings: the escaping of a UTF-8 string's contents (RFC 8259 7). */
#ifndef WSB_JSON_H
#define WSB_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Write in (valid UTF-8, n bytes) escaped for the inside of a JSON string:
 * '"' and '\' escaped, control characters as \n, \t... or \u00XX, the rest
 * as it is. out may be NULL to learn the length, which is at most 6 * n. */
size_t json_escape(const uint8_t *in, size_t n, uint8_t *out);

#endif
