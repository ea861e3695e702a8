/* libFuzzer target for the fallback's event stream (sse.c): what a program
 * prints must reach the client as exactly one well-framed event, whatever
 * the bytes, and the id a client resumes from must be read as documented.
 *
 * Input layout: byte 0 bit 0 the type (text or binary), bit 1 `more` (a
 * fragment); bytes 1-8 the event id (little-endian); bytes 9-10 a close
 * code; the rest the payload (made valid UTF-8 first, with utf8_sanitize,
 * where sse_message() and sse_close() require it).
 *
 * sse_message() writes into exactly sse_message_max() bytes (ASan catches
 * a byte past them) and must return at most that. A reference reader then
 * takes the event apart by the HTML standard's rules: lines end at LF and
 * nothing else (no CR anywhere, so no client splits a line the server did
 * not), "id: ID", "event: E" (text, binary, then -part for a fragment),
 * one "data: " line, an empty line, and nothing after it. The data must
 * give back the payload: text as a JSON string (RFC 8259 7, decoded by a
 * reference with no raw control character or unescaped quote allowed),
 * binary as padded base64 (RFC 4648).
 *
 * sse_close() with the payload as its reason (cut at its first NUL): the
 * same framing with event "close" and data {"code":N,"reason":"R"}; R
 * decodes to a prefix of the reason, all of it when it is at most 123
 * bytes, else 123 bytes less the incomplete character at the cut (at least
 * 120), and always valid UTF-8.
 *
 * sse_parse_id() of the payload's first bytes against a reference: 1 to 19
 * digits, no leading zero unless "0" alone, and the value strtoull gives. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sse.h"
#include "proto/utf8.h"

#include "fuzz_exact.h"

static struct exact text_buf, reason_buf, id_buf, out_buf, close_buf, decoded_buf;

/* The next LF-ended line of out[*at..end) without its LF; NULL if none. */
static const char *line(const char *out, size_t end, size_t *at, size_t *len)
{
    const char *p = out + *at;
    const char *lf = memchr(p, '\n', end - *at);
    if (!lf) return NULL;
    *len = (size_t)(lf - p);
    *at += *len + 1;
    return p;
}

static bool has_prefix(const char *p, size_t n, const char *prefix, size_t *rest)
{
    size_t k = strlen(prefix);
    if (n < k || memcmp(p, prefix, k) != 0) return false;
    *rest = n - k;
    return true;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0) return false;
        *v = *v << 4 | (unsigned)d;
    }
    return true;
}

static size_t put_utf8(uint8_t *out, unsigned cp)
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

/* The contents of a JSON string p[0..n) (without its quotes), decoded into
 * out (room for n bytes): its length, or -1 when it is not valid JSON. */
static long json_decode(const char *p, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == '"') return -1;
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        if (++i == n) return -1;
        const char *simple = strchr("\"\\/bfnrt", p[i]);
        if (simple && p[i]) {
            out[o++] = (uint8_t) "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        unsigned cp, lo;
        if (p[i] != 'u' || n - i < 5 || !hex4(p + i + 1, &cp)) return -1;
        i += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (n - i < 7 || p[i + 1] != '\\' || p[i + 2] != 'u' || !hex4(p + i + 3, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        o += put_utf8(out + o, cp);
    }
    return (long)o;
}

/* Padded base64 p[0..n) decoded into out: its length, or -1. */
static long base64_ref(const char *p, size_t n, uint8_t *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        unsigned v = 0, pads = 0;
        for (size_t k = 0; k < 4; k++) {
            const char *d = p[i + k] ? memchr(digits, p[i + k], 64) : NULL;
            if (p[i + k] == '=' && i + 4 == n && k >= 2) {
                pads++;
                d = digits;
            } else if (!d || pads) {
                return -1;
            }
            v = v << 6 | (unsigned)(d - digits);
        }
        out[o++] = (uint8_t)(v >> 16);
        if (pads < 2) out[o++] = (uint8_t)(v >> 8);
        if (pads < 1) out[o++] = (uint8_t)v;
    }
    return (long)o;
}

/* An event of out[0..end): id, event name and data checked, and data's
 * bytes (from *data, *data_len) returned for the caller to decode. */
static void check_frame(const char *out, size_t end, uint64_t id, const char *name,
                        const char **data, size_t *data_len)
{
    if (memchr(out, '\r', end)) abort(); /* a CR ends a line for an EventSource */
    size_t at = 0, n, rest;
    char want[40];
    snprintf(want, sizeof want, "id: %llu", (unsigned long long)id);
    const char *l = line(out, end, &at, &n);
    if (!l || n != strlen(want) || memcmp(l, want, n) != 0) abort();
    l = line(out, end, &at, &n);
    if (!l || !has_prefix(l, n, "event: ", &rest) || rest != strlen(name) ||
        memcmp(l + 7, name, rest) != 0)
        abort();
    l = line(out, end, &at, &n);
    if (!l || !has_prefix(l, n, "data: ", &rest)) abort();
    *data = l + 6;
    *data_len = rest;
    l = line(out, end, &at, &n);
    if (!l || n != 0 || at != end) abort(); /* one empty line, and the end */
}

static void check_message(uint64_t id, uint8_t type, bool more, const uint8_t *p, size_t n)
{
    size_t max = sse_message_max(type, n);
    char *out = (char *)exact_use(&out_buf, max);
    size_t len = sse_message(out, id, type, more, p, n);
    if (len > max) abort();
    char name[16];
    snprintf(name, sizeof name, "%s%s", type == SSE_TEXT ? "text" : "binary", more ? "-part" : "");
    const char *data;
    size_t dlen;
    check_frame(out, len, id, name, &data, &dlen);
    uint8_t *back = exact_use(&decoded_buf, dlen + 4);
    long got;
    if (type == SSE_TEXT) {
        if (dlen < 2 || data[0] != '"' || data[dlen - 1] != '"') abort();
        got = json_decode(data + 1, dlen - 2, back);
    } else {
        got = base64_ref(data, dlen, back);
    }
    if (got < 0 || (size_t)got != n || (n && memcmp(back, p, n) != 0)) abort();
}

static void check_close(uint64_t id, uint16_t code, const uint8_t *p, size_t n)
{
    const uint8_t *nul = memchr(p, 0, n);
    size_t rn = nul ? (size_t)(nul - p) : n;
    char *reason = (char *)exact_use(&reason_buf, rn + 1);
    memcpy(reason, p, rn);
    reason[rn] = '\0';
    char *out = (char *)exact_use(&close_buf, SSE_CLOSE_MAX);
    size_t len = sse_close(out, id, code, reason);
    if (len > SSE_CLOSE_MAX) abort();
    const char *data;
    size_t dlen;
    check_frame(out, len, id, "close", &data, &dlen);
    char head[48];
    int h = snprintf(head, sizeof head, "{\"code\":%u,\"reason\":\"", (unsigned)code);
    if (dlen < (size_t)h + 2 || memcmp(data, head, (size_t)h) != 0 ||
        memcmp(data + dlen - 2, "\"}", 2) != 0)
        abort();
    uint8_t *back = exact_use(&decoded_buf, dlen);
    long got = json_decode(data + h, dlen - (size_t)h - 2, back);
    if (got < 0 || (size_t)got > rn || memcmp(back, reason, (size_t)got) != 0) abort();
    if (rn <= 123 ? (size_t)got != rn : got > 123 || got < 120) abort();
    if (rn > 123 && (size_t)got != 123 - utf8_incomplete_tail((const uint8_t *)reason, 123))
        abort();
    if (utf8_validate(UTF8_ACCEPT, back, (size_t)got) != UTF8_ACCEPT) abort();
}

static void check_parse_id(const uint8_t *p, size_t n)
{
    if (n > 24) n = 24;
    const char *s = (const char *)exact_copy(&id_buf, p, n);
    bool digits = n > 0;
    for (size_t i = 0; i < n; i++) digits = digits && s[i] >= '0' && s[i] <= '9';
    bool want = digits && n <= 19 && (n == 1 || s[0] != '0');
    uint64_t id = 0, ref = 0;
    bool got = sse_parse_id(s, n, &id);
    if (got != want) abort();
    if (!got) return;
    char z[25];
    memcpy(z, s, n);
    z[n] = '\0';
    ref = strtoull(z, NULL, 10);
    if (id != ref) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 11) return 0;
    uint8_t type = data[0] & 1 ? SSE_BINARY : SSE_TEXT;
    bool more = data[0] & 2;
    uint64_t id = 0;
    for (int i = 7; i >= 0; i--) id = id << 8 | data[1 + i];
    uint16_t code = (uint16_t)(data[9] | data[10] << 8);
    const uint8_t *p = data + 11;
    size_t n = size - 11;
    size_t replaced;
    uint8_t *text = exact_use(&text_buf, utf8_sanitize(p, n, NULL, &replaced));
    size_t text_len = utf8_sanitize(p, n, text, &replaced);
    if (type == SSE_TEXT)
        check_message(id, type, more, text, text_len);
    else
        check_message(id, type, more, p, n);
    check_close(id, code, text, text_len);
    check_parse_id(p, n);
    return 0;
}
