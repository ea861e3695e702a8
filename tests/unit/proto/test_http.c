#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "proto/http.h"
#include "../tap.h"

/* ---- running the parser ----------------------------------------------------- */

/* The whole input at once, from a private copy of exactly n bytes (ASan sees
 * any read past the end). *copy keeps the bytes req points into. */
static long parse_whole(const char *s, size_t n, struct http_request *req, char **copy)
{
    struct http_parser p;
    http_parser_init(&p);
    *copy = malloc(n ? n : 1);
    memcpy(*copy, s, n);
    return http_parse(&p, *copy, n, req);
}

/* The input arriving one byte at a time: each call sees a fresh, longer buffer.
 * Returns the first non-zero result and sets *at to the length that gave it. */
static long parse_bytewise(const char *s, size_t n, struct http_request *req, char **copy,
                           size_t *at)
{
    struct http_parser p;
    http_parser_init(&p);
    *copy = NULL;
    for (size_t k = 1; k <= n; k++) {
        free(*copy);
        *copy = malloc(k);
        memcpy(*copy, s, k);
        long r = http_parse(&p, *copy, k, req);
        if (r != 0) {
            *at = k;
            return r;
        }
    }
    *at = n;
    return 0;
}

/* Result of the whole parse, after checking the bytewise parse agrees. */
static long parse_both(const char *s, size_t n, bool *agree)
{
    struct http_request req;
    char *copy;
    long whole = parse_whole(s, n, &req, &copy);
    free(copy);
    size_t at;
    long bytewise = parse_bytewise(s, n, &req, &copy, &at);
    free(copy);
    *agree = whole == bytewise;
    return whole;
}

static bool span_is(const char *p, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(p, want, n) == 0;
}

static bool header_is(const struct http_request *r, size_t i, const char *name, const char *value)
{
    return i < r->nheaders && span_is(r->headers[i].name, r->headers[i].name_len, name) &&
           span_is(r->headers[i].value, r->headers[i].value_len, value);
}

/* A string builder for long requests. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static char *cat(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

/* ---- a normal request --------------------------------------------------------- */

static const char upgrade[] = "GET /chat?room=1 HTTP/1.1\r\n"
                              "Host: server.example.com\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Origin: http://example.com\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

static void check_upgrade_fields(const struct http_request *r, const char *how)
{
    ok(span_is(r->method, r->method_len, "GET") &&
           span_is(r->target, r->target_len, "/chat?room=1") && r->minor_version == 1,
       "upgrade request (%s): method, target and version", how);
    ok(r->nheaders == 6 && header_is(r, 0, "Host", "server.example.com") &&
           header_is(r, 1, "Upgrade", "websocket") && header_is(r, 2, "Connection", "Upgrade") &&
           header_is(r, 3, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") &&
           header_is(r, 4, "Origin", "http://example.com") &&
           header_is(r, 5, "Sec-WebSocket-Version", "13"),
       "upgrade request (%s): six headers in order with their values", how);
}

static void test_upgrade_request(void)
{
    /* Frame bytes right behind the head must not be counted in it. */
    size_t head = sizeof upgrade - 1;
    char *with_frame = cat(upgrade, "\x81\x85\x01\x02\x03\x04", "");
    size_t n = strlen(with_frame);
    struct http_request req;
    char *copy;
    long r = parse_whole(with_frame, n, &req, &copy);
    ok(r == (long)head, "upgrade request fed whole: the head length is returned (%ld)", r);
    check_upgrade_fields(&req, "whole");
    free(copy);

    size_t at;
    r = parse_bytewise(with_frame, n, &req, &copy, &at);
    ok(r == (long)head && at == head,
       "upgrade request fed byte by byte: complete exactly at its last byte (%zu)", at);
    check_upgrade_fields(&req, "byte by byte");

    ok(http_header_find(&req, "sec-websocket-key") == &req.headers[3] &&
           http_header_find(&req, "HOST") == &req.headers[0] &&
           http_header_find(&req, "Sec-Websocket-Version") == &req.headers[5],
       "header lookup ignores case");
    ok(http_header_find(&req, "Hos") == NULL && http_header_find(&req, "Hostx") == NULL &&
           http_header_find(&req, "Cookie") == NULL,
       "header lookup needs the whole name");
    ok(http_header_count(&req, "host") == 1 && http_header_count(&req, "X-None") == 0,
       "header count");
    free(copy);
    free(with_frame);

    static const char incomplete[] = "GET / HTTP/1.1\r\nHost: a\r\n";
    ok(parse_whole(incomplete, sizeof incomplete - 1, &req, &copy) == 0,
       "a head without its blank line needs more input");
    free(copy);
}

static void test_header_values(void)
{
    static const char text[] = "GET / HTTP/1.1\r\n"
                               "Host:   example.com  \t\r\n"
                               "X-Empty:\r\n"
                               "X-Blank:    \r\n"
                               "Connection: keep-alive, Upgrade\r\n"
                               "connection: close\r\n"
                               "X-List: ,, a ,\tb\t,c,  \r\n"
                               "X-Tab: a\tb\r\n"
                               "X-Utf8: caf\xC3\xA9\r\n"
                               "\r\n";
    struct http_request req;
    char *copy;
    long r = parse_whole(text, sizeof text - 1, &req, &copy);
    ok(r == (long)sizeof text - 1, "a request with unusual header values parses");
    ok(header_is(&req, 0, "Host", "example.com"), "leading and trailing whitespace is trimmed");
    ok(header_is(&req, 1, "X-Empty", "") && header_is(&req, 2, "X-Blank", ""),
       "empty and blank values have length 0");
    ok(header_is(&req, 6, "X-Tab", "a\tb") && header_is(&req, 7, "X-Utf8", "caf\xC3\xA9"),
       "inner tabs and non-ASCII bytes are kept");
    ok(http_header_has_token(&req, "Connection", "upgrade") &&
           http_header_has_token(&req, "CONNECTION", "Keep-Alive"),
       "token list \"keep-alive, Upgrade\": both tokens found, case-insensitively");
    ok(http_header_has_token(&req, "Connection", "close"),
       "tokens in a second header line of the same name are found");
    ok(!http_header_has_token(&req, "Connection", "upgr") &&
           !http_header_has_token(&req, "Connection", "upgradex") &&
           !http_header_has_token(&req, "Connection", "keep") &&
           !http_header_has_token(&req, "Upgrade", "upgrade"),
       "a token must match a whole list element of the named header");
    ok(http_header_has_token(&req, "X-List", "a") && http_header_has_token(&req, "X-List", "b") &&
           http_header_has_token(&req, "X-List", "c") && !http_header_has_token(&req, "X-List", ""),
       "empty list elements and whitespace around elements are skipped");
    ok(http_header_count(&req, "connection") == 2, "two Connection lines are counted");
    free(copy);
}

static void test_line_endings(void)
{
    static const char lf[] = "GET /lf HTTP/1.1\nHost: a\nX: b\n\n";
    struct http_request req;
    char *copy;
    bool agree;
    ok(parse_both(lf, sizeof lf - 1, &agree) == (long)sizeof lf - 1 && agree,
       "LF-only line endings are accepted");
    long r = parse_whole(lf, sizeof lf - 1, &req, &copy);
    ok(r > 0 && header_is(&req, 0, "Host", "a") && header_is(&req, 1, "X", "b") &&
           span_is(req.target, req.target_len, "/lf"),
       "LF-only: no stray CR in the fields");
    free(copy);

    static const char mixed[] = "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\n";
    ok(parse_both(mixed, sizeof mixed - 1, &agree) == (long)sizeof mixed - 1 && agree,
       "mixed CRLF and LF line endings are accepted");

    static const char leading[] = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    r = parse_whole(leading, sizeof leading - 1, &req, &copy);
    ok(r == (long)sizeof leading - 1 && span_is(req.method, req.method_len, "GET") &&
           req.nheaders == 1,
       "empty lines before the request line are skipped");
    free(copy);
    ok(parse_both(leading, sizeof leading - 1, &agree) > 0 && agree,
       "leading empty lines byte by byte");

    char *flood = repeat('\n', 200);
    char *req_text = cat(flood, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "");
    ok(parse_both(req_text, strlen(req_text), &agree) == -400 && agree,
       "a flood of 200 empty lines is refused with 400");
    free(flood);
    free(req_text);
}

/* ---- limits ------------------------------------------------------------------- */

/* A request line of exactly `len` bytes (without its line ending). */
static char *request_line(size_t len)
{
    static const char pre[] = "GET /", post[] = " HTTP/1.1";
    size_t fill = len - (sizeof pre - 1) - (sizeof post - 1);
    char *path = repeat('a', fill);
    char *line = cat(pre, path, post);
    free(path);
    return line;
}

static void test_request_line_limit(void)
{
    bool agree;
    char *line = request_line(HTTP_MAX_REQUEST_LINE);
    char *req = cat(line, "\r\nHost: a\r\n", "\r\n");
    ok(strlen(line) == 8192 && parse_both(req, strlen(req), &agree) == (long)strlen(req) && agree,
       "a request line of exactly 8192 bytes is accepted");
    free(req);
    req = cat(line, "\nHost: a\n", "\n");
    ok(parse_both(req, strlen(req), &agree) == (long)strlen(req) && agree,
       "a request line of exactly 8192 bytes with LF endings is accepted");
    free(req);
    free(line);

    line = request_line(HTTP_MAX_REQUEST_LINE + 1);
    req = cat(line, "\r\nHost: a\r\n", "\r\n");
    ok(parse_both(req, strlen(req), &agree) == -414 && agree,
       "a request line of 8193 bytes gets 414");
    struct http_request r;
    char *copy;
    size_t at;
    long rc = parse_bytewise(req, strlen(req), &r, &copy, &at);
    ok(rc == -414 && at <= strlen(line) + 1,
       "fed byte by byte, the 414 comes before the line ends (at byte %zu of %zu)", at,
       strlen(line) + 2);
    free(copy);
    free(req);
    free(line);

    line = request_line(HTTP_MAX_REQUEST_LINE + 1);
    req = cat(line, "\nHost: a\n", "\n");
    ok(parse_both(req, strlen(req), &agree) == -414 && agree,
       "a request line of 8193 bytes with an LF ending gets 414");
    free(req);
    free(line);

    char *endless = repeat('a', 20000);
    memcpy(endless, "GET /", 5);
    rc = parse_whole(endless, 20000, &r, &copy);
    ok(rc == -414, "a 20000-byte request line without a line end gets 414 at once");
    free(copy);
    free(endless);
}

/* Header lines of `len` bytes each (CRLF included), filling `total` bytes with
 * `count` lines; the last one absorbs the remainder. */
static char *header_block(size_t total, size_t count)
{
    char *s = malloc(total + 1);
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = i + 1 < count ? total / count : total - pos;
        int k = snprintf(s + pos, len + 1, "X-%04zu: ", i);
        memset(s + pos + k, 'v', len - (size_t)k - 2);
        memcpy(s + pos + len - 2, "\r\n", 2);
        pos += len;
    }
    s[pos] = '\0';
    return s;
}

static void test_header_limits(void)
{
    bool agree;
    /* The header section counts from the first header line through the blank line. */
    char *block = header_block(HTTP_MAX_HEADER_BYTES - 2, 10);
    char *req = cat("GET / HTTP/1.1\r\n", block, "\r\n");
    ok(parse_both(req, strlen(req), &agree) == (long)strlen(req) && agree,
       "a header section of exactly 16384 bytes (blank line included) is accepted");
    free(req);
    free(block);

    block = header_block(HTTP_MAX_HEADER_BYTES - 1, 10);
    req = cat("GET / HTTP/1.1\r\n", block, "\r\n");
    ok(parse_both(req, strlen(req), &agree) == -431 && agree,
       "a header section of 16385 bytes gets 431");
    free(req);
    free(block);

    /* One huge header line that never ends: refused before it ends. */
    char *big = repeat('v', 20000);
    memcpy(big, "X-Big: ", 7);
    req = cat("GET / HTTP/1.1\r\nHost: a\r\n", big, "");
    struct http_request r;
    char *copy;
    long rc = parse_whole(req, strlen(req), &r, &copy);
    ok(rc == -431, "an unfinished 20000-byte header line gets 431 before it ends");
    free(copy);
    size_t at;
    rc = parse_bytewise(req, strlen(req), &r, &copy, &at);
    ok(rc == -431 && at == strlen("GET / HTTP/1.1\r\n") + HTTP_MAX_HEADER_BYTES + 1,
       "fed byte by byte, the 431 comes at byte 16385 of the header section (at %zu)", at);
    free(copy);
    free(req);
    free(big);

    block = header_block(100 * 12, 100);
    req = cat("GET / HTTP/1.1\r\n", block, "\r\n");
    ok(parse_both(req, strlen(req), &agree) == (long)strlen(req) && agree,
       "100 header fields are accepted");
    rc = parse_whole(req, strlen(req), &r, &copy);
    ok(rc > 0 && r.nheaders == 100 && header_is(&r, 99, "X-0099", "vv"),
       "all 100 fields are recorded");
    free(copy);
    free(req);
    free(block);

    block = header_block(101 * 12, 101);
    req = cat("GET / HTTP/1.1\r\n", block, "\r\n");
    ok(parse_both(req, strlen(req), &agree) == -431 && agree, "101 header fields get 431");
    rc = parse_bytewise(req, strlen(req), &r, &copy, &at);
    ok(rc == -431 && at == strlen(req) - 2,
       "fed byte by byte, the 431 comes as soon as the 101st field line ends (at %zu of %zu)", at,
       strlen(req));
    free(copy);
    free(req);
    free(block);

    /* The biggest head the parser accepts: 64 bytes of leading empty lines, an
     * 8192-byte request line and a 16384-byte header section. conn.c refuses
     * anything longer than HTTP_MAX_HEAD, so it must hold all of that. */
    char *lead = repeat('\n', 64);
    char *line = request_line(HTTP_MAX_REQUEST_LINE);
    char *first = cat(lead, line, "\r\n");
    block = header_block(HTTP_MAX_HEADER_BYTES - 2, 10);
    req = cat(first, block, "\r\n");
    rc = parse_whole(req, strlen(req), &r, &copy);
    free(copy);
    ok(rc == (long)strlen(req), "the largest acceptable head (%zu bytes) parses", strlen(req));
    /* conn.c stops reading at HTTP_MAX_HEAD: it must hold the largest valid head. */
    ok(strlen(req) <= HTTP_MAX_HEAD,
       "HTTP_MAX_HEAD (%d) covers the largest acceptable head (%zu bytes)", HTTP_MAX_HEAD,
       strlen(req));
    free(req);
    free(block);
    free(first);
    free(line);
    free(lead);
}

/* ---- malformed requests --------------------------------------------------------- */

static void test_malformed(void)
{
    static const struct {
        const char *name;
        const char *text;
        size_t len;
        long want;
    } cases[] = {
#define R(s) s, sizeof s - 1
        {"space before the colon", R("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400},
        {"obs-fold continuation line", R("GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n"), -400},
        {"obs-fold with a tab", R("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), -400},
        {"control character in a value", R("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"), -400},
        {"DEL in a value", R("GET / HTTP/1.1\r\nX: a\x7Fz\r\n\r\n"), -400},
        {"NUL in a value", R("GET / HTTP/1.1\r\nX: a\0z\r\n\r\n"), -400},
        {"bare CR inside a value", R("GET / HTTP/1.1\r\nX: a\rz\r\n\r\n"), -400},
        {"bare CR as a line ending", R("GET / HTTP/1.1\r\nX: a\r\rY: b\r\n\r\n"), -400},
        {"bare CR before the request line ends", R("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), -400},
        {"header line without a colon", R("GET / HTTP/1.1\r\nHost a\r\n\r\n"), -400},
        {"empty header name", R("GET / HTTP/1.1\r\n: a\r\n\r\n"), -400},
        {"header name with a slash", R("GET / HTTP/1.1\r\nX/Y: a\r\n\r\n"), -400},
        {"missing version", R("GET /\r\nHost: a\r\n\r\n"), -400},
        {"missing target and version", R("GET\r\nHost: a\r\n\r\n"), -400},
        {"HTTP/2.0", R("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505},
        {"HTTP/0.9", R("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), -505},
        {"HTTP/1.x", R("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), -400},
        {"HTTP/x.1", R("GET / HTTP/x.1\r\nHost: a\r\n\r\n"), -400},
        {"HTTP/1.10", R("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), -400},
        {"HTTP/11", R("GET / HTTP/11\r\nHost: a\r\n\r\n"), -400},
        {"lowercase http/1.1", R("GET / http/1.1\r\nHost: a\r\n\r\n"), -400},
        {"empty method", R(" / HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
        {"two spaces after the method", R("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
        {"two spaces before the version", R("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
        {"trailing space after the version", R("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400},
        {"tab instead of a space", R("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
        {"method with a non-token character", R("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
        {"control character in the target", R("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
        {"non-ASCII byte in the target", R("GET /\xC3\xA9 HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
        {"HTTP/1.0 is fine", R("GET / HTTP/1.0\r\n\r\n"), 18},
        {"any token method is fine", R("M-SEARCH * HTTP/1.1\r\n\r\n"), 23},
#undef R
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool agree;
        long r = parse_both(cases[i].text, cases[i].len, &agree);
        ok(r == cases[i].want && agree, "%s -> %ld (got %ld%s)", cases[i].name, cases[i].want, r,
           agree ? "" : ", byte by byte differs");
    }
    struct http_request req;
    char *copy;
    static const char v10[] = "GET / HTTP/1.0\r\n\r\n";
    ok(parse_whole(v10, sizeof v10 - 1, &req, &copy) > 0 && req.minor_version == 0 &&
           req.nheaders == 0,
       "HTTP/1.0 without headers: minor version 0, no headers");
    free(copy);
}

/* ---- helpers -------------------------------------------------------------------- */

static void test_tchar(void)
{
    int bad = -1;
    for (int c = 0; c < 256 && bad < 0; c++) {
        bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c && strchr("!#$%&'*+-.^_`|~", c));
        if (http_is_tchar((unsigned char)c) != want) bad = c;
    }
    ok(bad < 0, "http_is_tchar matches RFC 9110's tchar for all 256 bytes (first bad %d)", bad);
    ok(http_name_eq("Upgrade", 7, "upgrade") && http_name_eq("uPGRADE", 7, "Upgrade") &&
           !http_name_eq("Upgrad", 6, "Upgrade") && !http_name_eq("Upgrades", 8, "Upgrade") &&
           http_name_eq("", 0, ""),
       "http_name_eq: case-insensitive, whole string");
}

/* Prefix for the names of checks that document a known bug. */
static const char *tag = "";

static void check_split(const char *target, bool want_ok, const char *want_path,
                        const char *want_query)
{
    struct http_request r;
    memset(&r, 0, sizeof r);
    r.target = target;
    r.target_len = strlen(target);
    const char *path = NULL, *query = NULL;
    size_t pl = 0, ql = 0;
    bool got = http_split_target(&r, &path, &pl, &query, &ql);
    if (!want_ok) {
        ok(!got, "%ssplit_target \"%s\" is refused", tag, target);
        return;
    }
    ok(got && span_is(path, pl, want_path) && span_is(query, ql, want_query),
       "%ssplit_target \"%s\" -> path \"%s\" query \"%s\" (got \"%.*s\" \"%.*s\")", tag, target,
       want_path, want_query, got ? (int)pl : 0, got ? path : "", got ? (int)ql : 0,
       got ? query : "");
}

static void test_split_target(void)
{
    check_split("/", true, "/", "");
    check_split("/chat", true, "/chat", "");
    check_split("/chat?x=1&y=2", true, "/chat", "x=1&y=2");
    check_split("/a?", true, "/a", "");
    check_split("/a?b?c", true, "/a", "b?c");
    check_split("/a%20b?q=%20", true, "/a%20b", "q=%20");
    check_split("/p#frag", true, "/p", "");
    check_split("http://h:1/p?q", true, "/p", "q");
    check_split("http://h", true, "/", "");
    check_split("http://h?q=1", true, "/", "q=1");
    check_split("http://h:8080/", true, "/", "");
    check_split("HTTPS://example.com/a/b", true, "/a/b", "");
    check_split("ws://h/x", true, "/x", "");
    check_split("*", false, NULL, NULL);
    check_split("chat", false, NULL, NULL);
    check_split("h/x", false, NULL, NULL);
    check_split("1http://h/", false, NULL, NULL);
    check_split("ht tp://h/", false, NULL, NULL);
    /* RFC 3986 3.5: the fragment begins at the first '#' and ends the query. */
    check_split("/p?q#f", true, "/p", "q");
    check_split("/p#f?x", true, "/p", "");
    /* an absolute-form target needs a scheme */
    check_split("://h/p", false, NULL, NULL);
}

static void check_decode(const char *in, size_t n, long want, const char *want_out)
{
    char out[64];
    memset(out, 0x55, sizeof out);
    long r = http_percent_decode(in, n, out);
    if (want < 0) {
        ok(r == -1, "percent_decode \"%s\" is refused (got %ld)", escn(in, n), r);
        return;
    }
    ok(r == want && memcmp(out, want_out, (size_t)want) == 0 && out[want] == 0x55,
       "percent_decode \"%s\" -> %ld bytes", escn(in, n), want);
}

#define DEC(in, want, out) check_decode(in, sizeof in - 1, want, out)

static void check_merge(const char *in, const char *want)
{
    char buf[64];
    size_t n = strlen(in);
    memcpy(buf, in, n);
    size_t r = http_merge_slashes(buf, n);
    ok(r == strlen(want) && memcmp(buf, want, r) == 0, "merge_slashes \"%s\" -> \"%s\"", in, want);
}

static void test_merge_slashes(void)
{
    check_merge("", "");
    check_merge("/", "/");
    check_merge("//", "/");
    check_merge("///a", "/a");
    check_merge("/a//b///c/", "/a/b/c/");
    check_merge("/a/b", "/a/b");
    check_merge("a//", "a/");
    check_merge("/a/./b", "/a/./b"); /* dot segments are rootpath's to refuse */
}

static void test_percent_decode(void)
{
    DEC("", 0, "");
    DEC("abc", 3, "abc");
    DEC("/a%20b", 4, "/a b");
    DEC("%2F", 1, "/");
    DEC("%2f%2F", 2, "//");
    DEC("%41%42C", 3, "ABC");
    DEC("%E2%82%AC", 3, "\xE2\x82\xAC");
    DEC("%25", 1, "%");
    DEC("%2541", 3, "%41");
    DEC("a+b", 3, "a+b");
    DEC("%ff", 1, "\xFF");
    DEC("%00", -1, NULL);
    DEC("a%00b", -1, NULL);
    DEC("a\0b", -1, NULL);
    DEC("%4", -1, NULL);
    DEC("%", -1, NULL);
    DEC("ab%", -1, NULL);
    DEC("%G0", -1, NULL);
    DEC("%0G", -1, NULL);
    DEC("%-1", -1, NULL);
    DEC("% 1", -1, NULL);
    /* The length is honoured: a valid escape cut by n is truncated. */
    check_decode("%41", 2, -1, NULL);
}

/* ---- responses ------------------------------------------------------------------- */

/* Split a response into head and body; NULL when there is no blank line. */
static const char *find_body(const char *s, size_t n, size_t *head_len)
{
    const char *end = memmem(s, n, "\r\n\r\n", 4);
    if (!end) return NULL;
    *head_len = (size_t)(end - s) + 4;
    return end + 4;
}

static bool has_line(const char *head, size_t n, const char *line)
{
    char *l = cat("\r\n", line, "\r\n");
    bool found = memmem(head, n, l, strlen(l)) != NULL;
    free(l);
    return found;
}

static long content_length(const char *head, size_t n)
{
    const char *h = memmem(head, n, "\r\nContent-Length: ", 18);
    return h ? strtol(h + 18, NULL, 10) : -1;
}

static void test_append_error(void)
{
    struct buf out = {0};
    ok(http_append_error(&out, 400, "bad thing", NULL, NULL, true) == 0, "append_error succeeds");
    const char *s = (const char *)buf_head(&out);
    size_t n = buf_len(&out), head;
    const char *body = find_body(s, n, &head);
    ok(n > 26 && memcmp(s, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "status line");
    ok(body && has_line(s, head, "Server: " PACKAGE_NAME "/" PACKAGE_VERSION) &&
           memmem(s, head, "\r\nDate: ", 8) != NULL,
       "Server and Date headers");
    ok(body && has_line(s, head, "Connection: close") &&
           has_line(s, head, "Content-Type: text/plain; charset=utf-8"),
       "Connection: close and a plain-text content type");
    static const char want_body[] = "400 Bad Request: bad thing\n";
    ok(body && (size_t)(s + n - body) == sizeof want_body - 1 &&
           memcmp(body, want_body, sizeof want_body - 1) == 0,
       "body is \"<status> <reason>: <detail>\\n\"");
    ok(body && content_length(s, head) == (long)(s + n - body),
       "Content-Length matches the body (%ld)", body ? content_length(s, head) : -1L);
    buf_free(&out);

    ok(http_append_error(&out, 405, NULL, "Allow: GET\r\n", "X-Extra: 1\r\n", true) == 0,
       "append_error with two extra header lines");
    s = (const char *)buf_head(&out);
    n = buf_len(&out);
    body = find_body(s, n, &head);
    ok(body && has_line(s, head, "Allow: GET") && has_line(s, head, "X-Extra: 1"),
       "extra header lines are in the head");
    ok(body && (size_t)(s + n - body) == strlen("405 Method Not Allowed\n") &&
           memcmp(body, "405 Method Not Allowed\n", (size_t)(s + n - body)) == 0 &&
           content_length(s, head) == (long)strlen("405 Method Not Allowed\n"),
       "without detail the body is \"<status> <reason>\\n\"");
    buf_free(&out);

    ok(http_append_error(&out, 404, "nothing here", NULL, NULL, false) == 0,
       "append_error for HEAD");
    s = (const char *)buf_head(&out);
    n = buf_len(&out);
    body = find_body(s, n, &head);
    ok(body && head == n, "HEAD: nothing after the blank line");
    ok(body && content_length(s, head) == (long)strlen("404 Not Found: nothing here\n"),
       "HEAD: Content-Length is the length the body would have");
    buf_free(&out);

    /* A long detail is cut, and Content-Length still matches. */
    char *detail = repeat('d', 2000);
    ok(http_append_error(&out, 500, detail, NULL, NULL, true) == 0, "append_error with a "
                                                                    "2000-byte detail");
    s = (const char *)buf_head(&out);
    n = buf_len(&out);
    body = find_body(s, n, &head);
    ok(body && content_length(s, head) == (long)(s + n - body) && s + n - body > 0,
       "a long detail: Content-Length still matches the (cut) body");
    buf_free(&out);
    free(detail);

    /* Appending keeps what the queue held. */
    buf_append(&out, "previous", 8);
    http_append_error(&out, 431, NULL, NULL, NULL, true);
    ok(memcmp(buf_head(&out), "previousHTTP/1.1 431 Request Header Fields Too Large\r\n", 54) == 0,
       "append_error appends after existing output");
    buf_free(&out);

    static const struct {
        int status;
        const char *reason;
    } reasons[] = {{400, "Bad Request"},
                   {405, "Method Not Allowed"},
                   {414, "URI Too Long"},
                   {426, "Upgrade Required"},
                   {431, "Request Header Fields Too Large"},
                   {505, "HTTP Version Not Supported"},
                   {101, "Switching Protocols"}};
    bool good = true;
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(http_status_reason(reasons[i].status), reasons[i].reason) != 0) good = false;
    ok(good, "status reasons for the statuses the parser and the handshake produce");
}

/* ---- query parameters -------------------------------------------------------------- */

/* Look name up in the first n bytes of query, from an exactly-sized copy into
 * an exactly-sized output buffer (ASan sees any access past either). want < 0:
 * absent or refused; otherwise the value must be want_out. */
static void check_param(const char *query, size_t n, const char *name, long want,
                        const char *want_out, const char *what)
{
    char *q = malloc(n ? n : 1);
    memcpy(q, query, n);
    char *out = malloc(n ? n : 1);
    long r = http_query_param(q, n, name, out);
    bool good = want < 0 ? r == -1 : r == want && memcmp(out, want_out, (size_t)want) == 0;
    ok(good, "query_param \"%s\" in \"%s\": %s (want %ld, got %ld%s%s)", name, escn(query, n), what,
       want, r, r > 0 ? " " : "", r > 0 ? escn(out, (size_t)r) : "");
    free(q);
    free(out);
}

#define PARAM(query, name, want, out, what)                                                        \
    check_param(query, sizeof query - 1, name, want, out, what)

static void test_query_param(void)
{
    PARAM("token=abc", "token", 3, "abc", "the only parameter");
    PARAM("a=1&token=xyz&b=2", "token", 3, "xyz", "between others");
    PARAM("a=1&b=2&token=last", "token", 4, "last", "the last parameter");
    PARAM("a=1&b=2", "token", -1, NULL, "absent");
    PARAM("token=1&token=2", "token", 1, "1", "the first match wins");
    PARAM("token=1&token", "token", 1, "1", "the first match wins over a bare name");
    PARAM("token&token=2", "token", 0, "", "a bare name first wins too");
    PARAM("token=%4&token=2", "token", -1, NULL, "a bad first match is not skipped");
    PARAM("tokenx=1", "token", -1, NULL, "a longer name is not a match");
    PARAM("tokenx=1&token=2", "token", 1, "2", "a longer name is skipped");
    PARAM("tokenx&token=3", "token", 1, "3", "a longer bare name is skipped");
    PARAM("xtoken=1", "token", -1, NULL, "a name ending in it is not a match");
    PARAM("tok=1", "token", -1, NULL, "a prefix of the name is not a match");
    PARAM("TOKEN=1", "token", -1, NULL, "names are case-sensitive");
    PARAM("tok%65n=1", "token", -1, NULL, "names are not percent-decoded");
    PARAM("token", "token", 0, "", "a bare name has length 0");
    PARAM("a=1&token", "token", 0, "", "a bare name at the end has length 0");
    PARAM("token&a=1", "token", 0, "", "a bare name before others has length 0");
    PARAM("token=", "token", 0, "", "an empty value");
    PARAM("token=&a=1", "token", 0, "", "an empty value before others");
    PARAM("token=a+b", "token", 3, "a b", "'+' is a space");
    PARAM("token=a%2Bb", "token", 3, "a+b", "\"%2B\" is a plus");
    PARAM("token=%2b", "token", 1, "+", "\"%2b\" is a plus");
    PARAM("token=+%2B+", "token", 3, " + ", "spaces and an encoded plus");
    PARAM("token=%20", "token", 1, " ", "\"%20\" is a space");
    PARAM("token=%41%42c", "token", 3, "ABc", "percent escapes are decoded");
    PARAM("token=%E2%82%AC", "token", 3, "\xE2\x82\xAC", "escaped UTF-8");
    PARAM("token=%26", "token", 1, "&", "an escaped '&' does not split");
    PARAM("token=a=b", "token", 3, "a=b", "'=' inside the value");
    PARAM("token=%4", "token", -1, NULL, "a cut escape");
    PARAM("token=%", "token", -1, NULL, "a lone '%'");
    PARAM("token=%G1", "token", -1, NULL, "a non-hex escape");
    PARAM("token=%4&a=1", "token", -1, NULL, "an escape cut by '&'");
    PARAM("token=%00", "token", -1, NULL, "\"%00\"");
    PARAM("token=a%00b", "token", -1, NULL, "\"%00\" inside the value");
    PARAM("", "token", -1, NULL, "an empty query");
    PARAM("&&", "token", -1, NULL, "only separators");
    PARAM("=token", "token", -1, NULL, "an empty name");
    PARAM("&token=1&", "token", 1, "1", "empty parameters around it");
    PARAM("a=%zz&token=ok", "token", 2, "ok", "bad escapes elsewhere do not matter");
    /* The length is honoured. */
    check_param("token=abcdef", 9, "token", 3, "abc", "cut by the length");
    check_param("tokenx=1", 5, "token", 0, "", "\"token\" cut from \"tokenx=1\"");
    check_param("token=%41", 8, "token", -1, NULL, "an escape cut by the length");
}

/* ---- keep-alive ------------------------------------------------------------------- */

/* A request parsed from text (whole); *copy keeps its bytes. */
static bool parse_text(const char *text, struct http_request *req, char **copy)
{
    return parse_whole(text, strlen(text), req, copy) == (long)strlen(text);
}

static void test_keep_alive(void)
{
    static const struct {
        const char *text;
        bool keep, body;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true, false},
        {"GET / HTTP/1.0\r\n\r\n", false, false},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n", true, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", true, true},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", true, true},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", true, true},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", true, true},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n", true, true},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", true, true},
        {"GET / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\n\r\n", true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_request req;
        char *copy;
        bool parsed = parse_text(cases[i].text, &req, &copy);
        ok(parsed && http_wants_keep_alive(&req) == cases[i].keep &&
               http_has_body(&req) == cases[i].body,
           "\"%s\": keep-alive %s, body %s", escn(cases[i].text, strlen(cases[i].text)),
           cases[i].keep ? "wanted" : "not wanted", cases[i].body ? "follows" : "none");
        free(copy);
    }
    static const int keeps[] = {200, 206, 301, 304, 401, 403, 404, 405, 412, 416};
    static const int closes[] = {101, 400, 408, 413, 414, 426, 429, 431, 500, 502, 503, 505};
    bool good = true;
    for (size_t i = 0; i < sizeof keeps / sizeof keeps[0]; i++)
        good = good && http_status_keeps_connection(keeps[i]);
    for (size_t i = 0; i < sizeof closes / sizeof closes[0]; i++)
        good = good && !http_status_keeps_connection(closes[i]);
    ok(good, "statuses that keep the connection, and those that close it");

    struct buf out = {0};
    ok(http_append_error_keep(&out, 404, NULL, NULL, NULL, true, true) == 0, "error kept alive");
    const char *s = (const char *)buf_head(&out);
    size_t n = buf_len(&out), head;
    const char *body = find_body(s, n, &head);
    ok(body && has_line(s, head, "Connection: keep-alive") && !memmem(s, head, "close", 5) &&
           content_length(s, head) == (long)(s + n - body),
       "a kept-alive error says Connection: keep-alive, with its Content-Length");
    buf_free(&out);
}

/* ---- dates ------------------------------------------------------------------------ */

static void check_date(const char *text, bool want_ok, time_t want, time_t now)
{
    size_t n = strlen(text);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, text, n);
    time_t t = -12345;
    bool got = http_parse_date(copy, n, now, &t);
    if (want_ok)
        ok(got && t == want, "date \"%s\" -> %lld (got %s %lld)", text, (long long)want,
           got ? "ok" : "refused", (long long)t);
    else
        ok(!got, "date \"%s\" is refused", text);
    free(copy);
}

static void test_dates(void)
{
    char out[HTTP_DATE_LEN + 1];
    http_format_date(784111777, out);
    ok(strcmp(out, "Sun, 06 Nov 1994 08:49:37 GMT") == 0, "format: RFC 9110's example (%s)", out);
    http_format_date(0, out);
    ok(strcmp(out, "Thu, 01 Jan 1970 00:00:00 GMT") == 0, "format: the epoch (%s)", out);
    http_format_date(951782400, out);
    ok(strcmp(out, "Tue, 29 Feb 2000 00:00:00 GMT") == 0, "format: a leap day (%s)", out);

    time_t now = 1782000000; /* mid-2026 */
    check_date("Sun, 06 Nov 1994 08:49:37 GMT", true, 784111777, now);
    check_date("Sunday, 06-Nov-94 08:49:37 GMT", true, 784111777, now);
    check_date("Sun Nov  6 08:49:37 1994", true, 784111777, now);
    check_date("Wed Nov 16 08:49:37 1994", true, 784111777 + 10 * 86400, now);
    check_date("Tue, 29 Feb 2000 00:00:00 GMT", true, 951782400, now);
    check_date("Thu, 01 Jan 1970 00:00:00 GMT", true, 0, now);
    check_date("Fri, 31 Dec 9999 23:59:59 GMT", true, 253402300799, now);
    check_date("Thu, 01 Jan 1970 00:00:60 GMT", true, 60, now); /* a leap second */
    /* two-digit years: at most 50 years ahead of now (2026) */
    check_date("Thursday, 01-Jan-70 00:00:00 GMT", true, 3155760000, now);  /* 2070 */
    check_date("Wednesday, 01-Jan-76 00:00:00 GMT", true, 3345062400, now); /* 2076 */
    check_date("Saturday, 01-Jan-77 00:00:00 GMT", true, 220924800, now);   /* 1977 */
    check_date("Monday, 01-Jan-25 00:00:00 GMT", true, 1735689600, now);    /* 2025 */
    /* the weekday is not checked against the date (nor by other servers) */
    check_date("Mon, 06 Nov 1994 08:49:37 GMT", true, 784111777, now);
    static const char *const bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Noc 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 29 Feb 2023 08:49:37 GMT",
        "Sun, 32 Jan 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT; length=12",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, 06 Nov 199x 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunnyday, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 UTC",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov 06 08:49:37  1994",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun Xov  6 08:49:37 1994",
        "1994-11-06T08:49:37Z",
        "784111777",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) check_date(bad[i], false, 0, now);
    /* every prefix of a valid date is refused */
    static const char full[] = "Sun, 06 Nov 1994 08:49:37 GMT";
    bool prefixes = true;
    for (size_t k = 0; k < sizeof full - 1; k++) {
        char *copy = malloc(k ? k : 1);
        memcpy(copy, full, k);
        time_t t;
        if (http_parse_date(copy, k, now, &t)) prefixes = false;
        free(copy);
    }
    ok(prefixes, "every proper prefix of an IMF-fixdate is refused");
    /* Formatting and parsing agree with each other and with gmtime over two centuries. */
    bool round = true;
    time_t first_bad = 0;
    for (time_t t = -2208988800; t < 4102444800 && round; t += 86400 * 7 + 3671) {
        http_format_date(t, out);
        time_t back;
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[64];
        strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!http_parse_date(out, HTTP_DATE_LEN, now, &back) || back != t ||
            strcmp(out, want) != 0) {
            round = false;
            first_bad = t;
        }
    }
    ok(round, "format and parse round-trip from 1900 to 2100 and match strftime (first bad %lld)",
       (long long)first_bad);
}

/* ---- validators and ranges ----------------------------------------------------------- */

static void check_etag(const char *list, const char *etag, bool strong, bool want)
{
    size_t n = strlen(list);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, list, n);
    ok(http_etag_match(copy, n, etag, strlen(etag), strong) == want,
       "%s comparison of %s with [%s]: %s", strong ? "strong" : "weak", etag, list,
       want ? "match" : "no match");
    free(copy);
}

static void test_etags(void)
{
    const char *e = "\"5-abc\"";
    check_etag("\"5-abc\"", e, false, true);
    check_etag("\"5-abc\"", e, true, true);
    check_etag("W/\"5-abc\"", e, false, true);
    check_etag("W/\"5-abc\"", e, true, false);
    check_etag("\"5-abd\"", e, false, false);
    check_etag("\"x\", \"5-abc\"", e, false, true);
    check_etag("\"x\",\"y\" ,\t\"5-abc\"", e, false, true);
    check_etag(" , ,\"5-abc\",", e, false, true);
    check_etag("*", e, false, true);
    check_etag(" * ", e, true, true);
    check_etag("**", e, false, false);
    check_etag("*, \"5-abc\"", e, false, false);
    check_etag("5-abc", e, false, false);
    check_etag("\"5-abc", e, false, false);
    check_etag("\"5-abc\"x", e, false, false);
    check_etag("\"x\" \"5-abc\"", e, false, false);
    check_etag("\"x\", bad, \"5-abc\"", e, false, false);
    check_etag("w/\"5-abc\"", e, false, false);
    check_etag("\"5-ABC\"", e, false, false);
    check_etag("", e, false, false);
    check_etag("\"\"", "\"\"", true, true);
    check_etag("\"a,b\"", "\"a,b\"", true, true);
    check_etag("\"a\", \"b\"", "\"a,b\"", false, false);
    check_etag("\"5-abc\"", "W/\"5-abc\"", false, true);
    check_etag("\"5-abc\"", "W/\"5-abc\"", true, false);
    check_etag("\"a b\"", "\"a b\"", false, false); /* a space is no etagc */
    check_etag("\"5-abc\"", "5-abc", false, false); /* ours must be an entity-tag too */
    ok(http_is_etag("\"a\"", 3) && http_is_etag("W/\"a\"", 5) && http_is_etag("\"\"", 2) &&
           !http_is_etag("Sun, 06 Nov 1994 08:49:37 GMT", 29) && !http_is_etag("\"a", 2) &&
           !http_is_etag("W/a", 3) && !http_is_etag("*", 1) && !http_is_etag("", 0),
       "http_is_etag tells entity-tags from dates");
}

static void check_range(const char *v, uint64_t size, enum http_range want, uint64_t want_first,
                        uint64_t want_last)
{
    static const char *const names[] = {"ignored", "one range", "several ranges", "unsatisfiable"};
    size_t n = strlen(v);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, v, n);
    uint64_t first = 7777, last = 7777;
    enum http_range got = http_parse_range(copy, n, size, &first, &last);
    bool good = got == want;
    if (good && (want == HTTP_RANGE_ONE || want == HTTP_RANGE_MANY))
        good = first == want_first && last == want_last;
    ok(good, "range [%s] of %llu bytes: %s %llu-%llu (got %s %llu-%llu)", v,
       (unsigned long long)size, names[want], (unsigned long long)want_first,
       (unsigned long long)want_last, names[got], (unsigned long long)first,
       (unsigned long long)last);
    free(copy);
}

static void test_ranges(void)
{
    const uint64_t z = 10000;
    check_range("bytes=0-499", z, HTTP_RANGE_ONE, 0, 499);
    check_range("bytes=500-999", z, HTTP_RANGE_ONE, 500, 999);
    check_range("bytes=-500", z, HTTP_RANGE_ONE, 9500, 9999);
    check_range("bytes=9500-", z, HTTP_RANGE_ONE, 9500, 9999);
    check_range("bytes=0-0", z, HTTP_RANGE_ONE, 0, 0);
    check_range("bytes=-1", z, HTTP_RANGE_ONE, 9999, 9999);
    check_range("bytes=9999-9999", z, HTTP_RANGE_ONE, 9999, 9999);
    check_range("bytes=0-", z, HTTP_RANGE_ONE, 0, 9999);
    check_range("bytes=0-99999", z, HTTP_RANGE_ONE, 0, 9999);
    check_range("bytes=-20000", z, HTTP_RANGE_ONE, 0, 9999);
    check_range("bytes=0-99999999999999999999999", z, HTTP_RANGE_ONE, 0, 9999);
    check_range("bytes=-99999999999999999999999", z, HTTP_RANGE_ONE, 0, 9999);
    check_range("BYTES=1-2", z, HTTP_RANGE_ONE, 1, 2);
    check_range("Bytes=1-2", z, HTTP_RANGE_ONE, 1, 2);
    check_range("bytes=10000-", z, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=10000-10001", z, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=99999999999999999999999-", z, HTTP_RANGE_NONE, 0, 0);
    /* numbers past 2^64 - 1 saturate, but a last-pos below the first-pos is
     * still invalid (found by fuzz_httpvalue) */
    check_range("bytes=18446744073795551614-18446744073709551615", z, HTTP_RANGE_IGNORE, 0, 0);
    check_range("bytes=100000000000000000000-99999999999999999999", z, HTTP_RANGE_IGNORE, 0, 0);
    check_range("bytes=99999999999999999999-99999999999999999999", z, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=18446744073709551615-018446744073709551615", z, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=18446744073709551615-99999999999999999999", z, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=000000000000000000000001-2", z, HTTP_RANGE_ONE, 1, 2);
    check_range("bytes=-0", z, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=20000-, -0", z, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=0-1,5-6", z, HTTP_RANGE_MANY, 0, 1);
    check_range("bytes=0-1, 3-4 ,\t-5", z, HTTP_RANGE_MANY, 0, 1);
    check_range("bytes=0-5,3-8", z, HTTP_RANGE_MANY, 0, 5);
    check_range("bytes=10000-,5-6", z, HTTP_RANGE_ONE, 5, 6);
    check_range("bytes=5-6,20000-", z, HTTP_RANGE_ONE, 5, 6);
    check_range("bytes=,0-1", z, HTTP_RANGE_ONE, 0, 1);
    check_range("bytes=0-1,,", z, HTTP_RANGE_ONE, 0, 1);
    check_range("bytes=0-1 ", z, HTTP_RANGE_ONE, 0, 1);
    static const char *const invalid[] = {
        "bytes=5-2",
        "bytes=",
        "bytes=-",
        "bytes=,",
        "bytes=a-b",
        "bytes=1",
        "bytes=1-2-3",
        "bytes=0-1x",
        "bytes=0-1,5-2",
        "bytes=0 -1",
        "bytes=0- 1",
        "bytes = 0-1",
        "bytes 0-1",
        "items=0-1",
        "bytes=+1-2",
        "bytes=0x10-",
        "bytes=1.5-2",
        "bytes=0-1;q=1",
        "",
        "bytes",
        "bytes=--1",
        "bytes=0-1 2-3",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        check_range(invalid[i], z, HTTP_RANGE_IGNORE, 0, 0);
    check_range("bytes=0-", 1, HTTP_RANGE_ONE, 0, 0);
    check_range("bytes=1-", 1, HTTP_RANGE_NONE, 0, 0);
    check_range("bytes=-1", 1, HTTP_RANGE_ONE, 0, 0);
    /* an empty representation has no byte to select */
    check_range("bytes=0-", 0, HTTP_RANGE_IGNORE, 0, 0);
    check_range("bytes=-5", 0, HTTP_RANGE_IGNORE, 0, 0);
}

/* ---- content negotiation ------------------------------------------------------------ */

static void check_coding(const char *lines, const char *coding, int want)
{
    char *text = cat("GET / HTTP/1.1\r\nHost: a\r\n", lines, "\r\n");
    struct http_request req;
    char *copy;
    bool parsed = parse_text(text, &req, &copy);
    int got = parsed ? http_coding_weight(&req, coding) : -2;
    ok(got == want, "%s in [%s]: %d (got %d)", coding, escn(lines, strlen(lines)), want, got);
    free(copy);
    free(text);
}

static void test_codings(void)
{
    check_coding("Accept-Encoding: gzip\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: gzip, deflate, br, zstd\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: br;q=1.0, gzip;q=0.8, *;q=0.1\r\n", "gzip", 800);
    check_coding("Accept-Encoding: gzip;q=0\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip; q=0.5\r\n", "gzip", 500);
    check_coding("Accept-Encoding: gzip ;\tQ=0.25\r\n", "gzip", 250);
    check_coding("Accept-Encoding: gzip;q=1\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: gzip;q=1.000\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: gzip;q=0.001\r\n", "gzip", 1);
    check_coding("Accept-Encoding: gzip;q=0.000\r\n", "gzip", 0);
    check_coding("Accept-Encoding: GZIP\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: x-gzip\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: x-gzip;q=0.5\r\n", "gzip", 500);
    check_coding("Accept-Encoding: *\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: *;q=0\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip;q=0, *\r\n", "gzip", 0);
    check_coding("Accept-Encoding: *;q=0.1, gzip\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: deflate, br\r\n", "gzip", -1);
    check_coding("Accept-Encoding: gzipx, xgzip, gzi\r\n", "gzip", -1);
    check_coding("Accept-Encoding: identity\r\n", "gzip", -1);
    check_coding("Accept-Encoding:\r\n", "gzip", -1);
    check_coding("", "gzip", -1);
    check_coding("Accept-Encoding: br\r\nAccept-Encoding: gzip;q=0.3\r\n", "gzip", 300);
    check_coding("Accept-Encoding: , ,gzip,\r\n", "gzip", 1000);
    check_coding("Accept-Encoding: gzip;level=1\r\n", "gzip", 1000);
    /* an invalid q-value, or a malformed element, weighs nothing */
    check_coding("Accept-Encoding: gzip;q=1.5\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip;q=2\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip;q=0.1234\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip;q=\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip;q=.5\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip;q=0.5x\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip;q\r\n", "gzip", 0);
    check_coding("Accept-Encoding: gzip foo\r\n", "gzip", 0);
    check_coding("Accept-Encoding: br\r\n", "br", 1000);
    check_coding("Accept-Encoding: x-gzip\r\n", "br", -1);
}

int main(void)
{
    test_upgrade_request();
    test_header_values();
    test_line_endings();
    test_request_line_limit();
    test_header_limits();
    test_malformed();
    test_tchar();
    test_split_target();
    test_percent_decode();
    test_merge_slashes();
    test_append_error();
    test_query_param();
    test_keep_alive();
    test_dates();
    test_etags();
    test_ranges();
    test_codings();
    return tap_finish();
}
