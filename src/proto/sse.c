#include "autoconfig.h"

#include "proto/sse.h"

#include <stdio.h>
#include <string.h>

#include "proto/base64.h"
#include "proto/json.h"
#include "proto/utf8.h"

/* Everything but the payload, with the longest id and event name. */
#define ENVELOPE_MAX (sizeof "id: 18446744073709551615\nevent: binary-part\ndata: \"\"\n\n" - 1)

size_t sse_message_max(uint8_t type, size_t n)
{
    return ENVELOPE_MAX + (type == SSE_TEXT ? 6 * n : base64_encoded_len(n));
}

static size_t put(char *out, size_t at, const char *s)
{
    size_t n = strlen(s);
    memcpy(out + at, s, n);
    return at + n;
}

size_t sse_message(char *out, uint64_t id, uint8_t type, bool more, const uint8_t *p, size_t n)
{
    size_t at = (size_t)sprintf(out, "id: %llu\nevent: ", (unsigned long long)id);
    at = put(out, at, type == SSE_TEXT ? "text" : "binary");
    if (more) at = put(out, at, "-part");
    at = put(out, at, "\ndata: ");
    if (type == SSE_TEXT) {
        out[at++] = '"';
        at += json_escape(p, n, (uint8_t *)out + at);
        out[at++] = '"';
    } else {
        base64_encode(p, n, out + at);
        at += base64_encoded_len(n);
    }
    return put(out, at, "\n\n");
}

size_t sse_close(char out[SSE_CLOSE_MAX], uint64_t id, uint16_t code, const char *reason)
{
    size_t n = strlen(reason);
    if (n > 123) n = 123 - utf8_incomplete_tail((const uint8_t *)reason, 123);
    size_t at = (size_t)snprintf(out, SSE_CLOSE_MAX,
                                 "id: %llu\nevent: close\ndata: {\"code\":%u,\"reason\":\"",
                                 (unsigned long long)id, (unsigned)code);
    at += json_escape((const uint8_t *)reason, n, (uint8_t *)out + at);
    return put(out, at, "\"}\n\n");
}

bool sse_parse_id(const char *s, size_t n, uint64_t *id)
{
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0')) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *id = v;
    return true;
}
