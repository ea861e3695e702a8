/* libFuzzer target for proto/cgi.c (a CGI script's response head). On the
 * whole input r = cgi_parse_head(): a head found (r > 0) is at most the input
 * and CGI_MAX_HEAD, ends in a blank line, and every shorter prefix needs more
 * (0); a refusal (-1) says why; 0 only below CGI_MAX_HEAD bytes. The lines it
 * makes are "Name: value\r\n" with a token name, no control character but HT
 * in the value, none of the dropped fields, at most CGI_MAX_FIELDS of them;
 * the status is 200 to 599 with a clean reason. Round trip: those lines, with
 * the Status and Content-Length put back, parse to the same answer. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cgi.h"
#include "proto/http.h"

static const char *const dropped[] = {
    "Connection", "Keep-Alive", "Transfer-Encoding", "TE",
    "Trailer",    "Upgrade",    "Proxy-Connection",  "Date",
    "Server",     "Status",     "Content-Length",
};

/* Returns how many lines there are. */
static size_t check_lines(const struct buf *lines)
{
    if (!buf_len(lines)) return 0; /* an empty queue has no memory */
    const char *p = (const char *)buf_head(lines);
    size_t n = buf_len(lines), at = 0, count = 0;
    while (at < n) {
        const char *nl = memchr(p + at, '\n', n - at);
        if (!nl || nl == p + at || nl[-1] != '\r') abort();
        size_t len = (size_t)(nl - (p + at)) - 1, name = 0;
        const char *line = p + at;
        while (name < len && http_is_tchar((unsigned char)line[name])) name++;
        if (name == 0 || name + 2 > len + 0 || line[name] != ':' || line[name + 1] != ' ') abort();
        for (size_t i = name + 2; i < len; i++) {
            unsigned char c = (unsigned char)line[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) abort();
        }
        for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
            if (http_name_eq(line, name, dropped[i])) abort();
        count++;
        at += len + 2;
    }
    if (count > CGI_MAX_FIELDS) abort();
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct cgi_head h;
    struct buf lines = {0};
    const char *why = NULL;
    long r = cgi_parse_head(in, size, &h, &lines, &why);
    if (r == 0) {
        if (size >= CGI_MAX_HEAD) abort();
    } else if (r < 0) {
        if (r != -1 || !why || !*why) abort();
    } else {
        if ((size_t)r > size || r > CGI_MAX_HEAD || in[r - 1] != '\n') abort();
        if (h.status < 200 || h.status > 599) abort();
        for (const char *c = h.reason; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) abort();
        size_t fields = check_lines(&lines) + 1 + (h.content_length >= 0);
        /* A prefix without the end needs more. */
        struct cgi_head h2;
        struct buf l2 = {0};
        if (cgi_parse_head(in, (size_t)r - 1, &h2, &l2, &why) != 0) abort();
        buf_free(&l2);
        /* Round trip. */
        struct buf again = {0};
        char extra[128];
        int k = snprintf(extra, sizeof extra, "Status: %d %s\r\n", h.status, h.reason);
        buf_append(&again, extra, (size_t)k);
        if (h.content_length >= 0) {
            k = snprintf(extra, sizeof extra, "Content-Length: %lld\r\n", h.content_length);
            buf_append(&again, extra, (size_t)k);
        }
        if (buf_len(&lines)) buf_append(&again, buf_head(&lines), buf_len(&lines));
        buf_append(&again, "\r\n", 2);
        long r2 = cgi_parse_head((const char *)buf_head(&again), buf_len(&again), &h2, &l2, &why);
        if (buf_len(&again) <= CGI_MAX_HEAD && fields <= CGI_MAX_FIELDS) {
            if (r2 != (long)buf_len(&again) || h2.status != h.status ||
                h2.content_length != h.content_length || strcmp(h2.reason, h.reason) != 0 ||
                buf_len(&l2) != buf_len(&lines) ||
                (buf_len(&lines) && memcmp(buf_head(&l2), buf_head(&lines), buf_len(&lines))))
                abort();
        }
        buf_free(&l2);
        buf_free(&again);
    }
    buf_free(&lines);
    return 0;
}
