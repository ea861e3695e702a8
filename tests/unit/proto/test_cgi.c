#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cgi.h"
#include "../tap.h"

/* Parse in (a C string); returns what cgi_parse_head() did, with h, the
 * lines (NUL-terminated in *lines_out, static) and why. */
static long parse(const char *in, struct cgi_head *h, const char **lines_out, const char **why)
{
    static char text[CGI_MAX_HEAD * 2];
    struct buf lines = {0};
    *why = NULL;
    long r = cgi_parse_head(in, strlen(in), h, &lines, why);
    size_t n = buf_len(&lines) < sizeof text - 1 ? buf_len(&lines) : sizeof text - 1;
    if (n) memcpy(text, buf_head(&lines), n);
    text[n] = '\0';
    buf_free(&lines);
    *lines_out = text;
    return r;
}

static void accepts(const char *in, long len, int status, long long clen, const char *want_lines)
{
    struct cgi_head h;
    const char *lines, *why;
    long r = parse(in, &h, &lines, &why);
    if (len < 0) len = (long)strlen(in); /* the whole input is the head */
    if (!ok(r == len && h.status == status && h.content_length == clen &&
                strcmp(lines, want_lines) == 0,
            "'%s' -> %ld, status %d, length %lld, lines '%s'", escn(in, strlen(in)), len, status,
            clen, escn(want_lines, strlen(want_lines))))
        printf("#   got %ld, status %d, length %lld, lines '%s' (%s)\n", r, h.status,
               h.content_length, escn(lines, strlen(lines)), why ? why : "-");
}

static void refuses(const char *in, const char *want_why)
{
    struct cgi_head h;
    const char *lines, *why;
    long r = parse(in, &h, &lines, &why);
    ok(r == -1 && why && strstr(why, want_why), "'%s' refused: %s (got %ld, %s)",
       escn(in, strlen(in)), want_why, r, why ? why : "-");
}

static void needs_more(const char *in)
{
    struct cgi_head h;
    const char *lines, *why;
    ok(parse(in, &h, &lines, &why) == 0, "'%s' needs more", escn(in, strlen(in)));
}

int main(void)
{
    accepts("Content-Type: text/plain\n\nbody", 26, 200, -1, "Content-Type: text/plain\r\n");
    accepts("Content-Type: text/plain\r\n\r\nbody", 28, 200, -1, "Content-Type: text/plain\r\n");
    accepts("content-type:text/html  \n\n", 26, 200, -1, "content-type: text/html\r\n");
    accepts("Status: 404 Not Found\nContent-Type: text/plain\n\n", 48, 404, -1,
            "Content-Type: text/plain\r\n");
    accepts("Status: 201\n\n", 13, 201, -1, "");
    accepts("Status: 599 x\n\n", 15, 599, -1, "");
    accepts("Location: /elsewhere\n\n", 22, 302, -1, "Location: /elsewhere\r\n");
    accepts("Status: 301 Moved\nLocation: http://x/\n\n", 39, 301, -1, "Location: http://x/\r\n");
    accepts("Content-Type: a/b\nContent-Length: 42\n\n", 38, 200, 42, "Content-Type: a/b\r\n");
    accepts("Content-Type: a/b\nContent-Length: 5\nContent-Length: 5\n\n", -1, 200, 5,
            "Content-Type: a/b\r\n");
    accepts("Content-Type: a/b\nConnection: close\nTransfer-Encoding: chunked\nKeep-Alive: 5\n"
            "TE: x\nTrailer: y\nUpgrade: h2c\nProxy-Connection: k\nDate: now\nServer: me\n"
            "X-A: 1\nSet-Cookie: a=1\nSet-Cookie: b=2\n\n",
            -1, 200, -1, "Content-Type: a/b\r\nX-A: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n");
    accepts("Content-Type: a/b\nX-Empty:\nX-Utf8: \xc3\xa9\n\n", 39, 200, -1,
            "Content-Type: a/b\r\nX-Empty: \r\nX-Utf8: \xc3\xa9\r\n");
    accepts("Content-Type: a/b\nX-Tab: a\tb\n\n", -1, 200, -1,
            "Content-Type: a/b\r\nX-Tab: a\tb\r\n");

    needs_more("");
    needs_more("Content-Type: text/plain");
    needs_more("Content-Type: text/plain\n");
    needs_more("Content-Type: text/plain\r\n\r");

    refuses("\n", "no header fields");
    refuses("\r\n", "no header fields");
    refuses("X-A: 1\n\n", "no Content-Type");
    refuses("Content-Length: 3\n\nabc", "no Content-Type");
    refuses("Status: 100 Continue\n\n", "200 to 599");
    refuses("Status: 199\n\n", "200 to 599");
    refuses("Status: 600\n\n", "200 to 599");
    refuses("Status: 20\n\n", "200 to 599");
    refuses("Status: 2000\n\n", "200 to 599");
    refuses("Status: abc\n\n", "200 to 599");
    refuses("Status: 200\nStatus: 404\n\n", "two Status");
    refuses("Location: /a\nLocation: /b\n\n", "two Location");
    refuses("Content-Type: a/b\ncontent-type: c/d\n\n", "two Content-Type");
    refuses("Content-Type: a/b\nContent-Length: 5\nContent-Length: 6\n\n", "differ");
    refuses("Content-Type: a/b\nContent-Length: -1\n\n", "unreadable Content-Length");
    refuses("Content-Type: a/b\nContent-Length: 1 2\n\n", "unreadable Content-Length");
    refuses("Content-Type: a/b\nContent-Length:\n\n", "unreadable Content-Length");
    refuses("Content-Type: a/b\nContent-Length: 1234567890123456789\n\n",
            "unreadable Content-Length");
    refuses("Content-Type: a/b\n folded\n\n", "continuation");
    refuses("Content-Type: a/b\n\tfolded\n\n", "continuation");
    refuses("Content-Type a/b\n\n", "Name: value");
    refuses("Content-Type : a/b\n\n", "Name: value");
    refuses(": a/b\n\n", "Name: value");
    refuses("Bad Name: x\n\n", "Name: value");
    refuses("Content-Type: a/b\nX: a\rb\n\n", "control character");
    refuses("Content-Type: a/b\nX: a\x01z\n\n", "control character");
    refuses("Content-Type: a/b\nX: a\x7fz\n\n", "control character");

    /* limits */
    char *big = malloc(CGI_MAX_HEAD + 64);
    strcpy(big, "Content-Type: a/b\nX: ");
    size_t n = strlen(big);
    memset(big + n, 'x', CGI_MAX_HEAD - n - 2);
    strcpy(big + CGI_MAX_HEAD - 2, "\n\n"); /* exactly CGI_MAX_HEAD bytes */
    struct cgi_head h;
    struct buf lines = {0};
    const char *why = NULL;
    ok(cgi_parse_head(big, CGI_MAX_HEAD, &h, &lines, &why) == CGI_MAX_HEAD,
       "a head of exactly 16 KiB is taken");
    buf_free(&lines);
    memset(big + n, 'x', CGI_MAX_HEAD);
    ok(cgi_parse_head(big, CGI_MAX_HEAD - 1, &h, &lines, &why) == 0,
       "16 KiB - 1 without an end needs more");
    ok(cgi_parse_head(big, CGI_MAX_HEAD + 10, &h, &lines, &why) == -1 && strstr(why, "16 KiB"),
       "past 16 KiB without an end is refused");
    buf_free(&lines);
    free(big);

    char many[4096];
    size_t k = (size_t)sprintf(many, "Content-Type: a/b\n");
    for (int i = 1; i < CGI_MAX_FIELDS; i++) k += (size_t)sprintf(many + k, "X-%d: v\n", i);
    strcpy(many + k, "\n");
    ok(cgi_parse_head(many, k + 1, &h, &lines, &why) == (long)k + 1, "100 fields are taken");
    buf_free(&lines);
    sprintf(many + k, "X-last: v\n\n");
    ok(cgi_parse_head(many, strlen(many), &h, &lines, &why) == -1 && strstr(why, "100"),
       "101 fields are refused");
    buf_free(&lines);
    return tap_finish();
}
