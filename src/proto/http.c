#include "autoconfig.h"

#include "proto/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void http_parser_init(struct http_parser *p)
{
    memset(p, 0, sizeof *p);
}

bool http_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Strip one line ending; returns the content length of the line [s, nl). */
static size_t line_content(const char *s, const char *nl)
{
    size_t n = (size_t)(nl - s);
    if (n && s[n - 1] == '\r') n--;
    return n;
}

static int parse_request_line(const char *s, size_t n, struct http_request *req)
{
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)s[i])) i++;
    if (i == 0 || i >= n || s[i] != ' ') return -400;
    req->method = s;
    req->method_len = i;
    size_t t = ++i;
    while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7F) i++;
    if (i == t || i >= n || s[i] != ' ') return -400;
    req->target = s + t;
    req->target_len = i - t;
    i++;
    const char *v = s + i;
    size_t vn = n - i;
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return -400;
    if (v[5] != '1') return -505;
    req->minor_version = v[7] - '0';
    return 0;
}

static int parse_header_line(const char *s, size_t n, struct http_request *req)
{
    if (n && (s[0] == ' ' || s[0] == '\t')) return -400; /* obsolete line folding */
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)s[i])) i++;
    if (i == 0 || i >= n || s[i] != ':') return -400;
    size_t name_len = i++;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    size_t vstart = i, vend = n;
    while (vend > vstart && (s[vend - 1] == ' ' || s[vend - 1] == '\t')) vend--;
    for (size_t k = vstart; k < vend; k++) {
        unsigned char c = (unsigned char)s[k];
        if ((c < 0x20 && c != '\t') || c == 0x7F) return -400;
    }
    if (req->nheaders == HTTP_MAX_HEADERS) return -431;
    struct http_header *h = &req->headers[req->nheaders++];
    h->name = s;
    h->name_len = name_len;
    h->value = s + vstart;
    h->value_len = vend - vstart;
    return 0;
}

/* The head is complete: a single pass fills req. */
static long parse_head(const char *buf, size_t len, struct http_request *req)
{
    memset(req, 0, sizeof *req);
    const char *s = buf, *end = buf + len;
    bool have_request_line = false;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl) return -400;
        size_t n = line_content(s, nl);
        if (memchr(s, '\r', n)) return -400; /* a bare CR inside a line */
        int rc;
        if (!have_request_line) {
            if (n == 0) { /* empty lines before the request line are ignored (RFC 9112 2.2) */
                s = nl + 1;
                continue;
            }
            rc = parse_request_line(s, n, req);
            have_request_line = true;
        } else if (n == 0) {
            return (long)(nl + 1 - buf);
        } else {
            rc = parse_header_line(s, n, req);
        }
        if (rc < 0) return rc;
        s = nl + 1;
    }
    return -400;
}

long http_parse(struct http_parser *p, const char *buf, size_t len, struct http_request *req)
{
    while (p->pos < len) {
        const char *nl = memchr(buf + p->pos, '\n', len - p->pos);
        if (!nl) {
            p->pos = len;
            break;
        }
        size_t line_end = (size_t)(nl - buf) + 1;
        size_t content = line_content(buf + p->line_start, nl);
        if (!p->request_line_done) {
            if (content > HTTP_MAX_REQUEST_LINE) return -414;
            if (content > 0) {
                p->request_line_done = true;
                p->head_start = line_end;
            } else if (line_end > HTTP_MAX_LEADING_EMPTY) {
                return -400; /* a flood of empty lines */
            }
        } else {
            if (line_end - p->head_start > HTTP_MAX_HEADER_BYTES) return -431;
            if (content == 0) return parse_head(buf, line_end, req);
            if (++p->nlines > HTTP_MAX_HEADERS) return -431;
        }
        p->line_start = p->pos = line_end;
    }
    /* Enforce the limits on the partial line too, before it is complete. */
    if (!p->request_line_done) {
        if (len - p->line_start > HTTP_MAX_REQUEST_LINE + 1) return -414;
    } else if (len - p->head_start > HTTP_MAX_HEADER_BYTES) {
        return -431;
    }
    return 0;
}

bool http_name_eq(const char *s, size_t n, const char *literal)
{
    return strlen(literal) == n && strncasecmp(s, literal, n) == 0;
}

const struct http_header *http_header_find(const struct http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (http_name_eq(r->headers[i].name, r->headers[i].name_len, name)) return &r->headers[i];
    return NULL;
}

size_t http_header_count(const struct http_request *r, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (http_name_eq(r->headers[i].name, r->headers[i].name_len, name)) n++;
    return n;
}

bool http_list_has(const char *v, size_t n, const char *element, size_t len, bool exact_case)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t start = i;
        while (i < n && v[i] != ',') i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        if (end - start != len || !len) continue;
        if (exact_case ? memcmp(v + start, element, len) == 0
                       : http_name_eq(v + start, len, element))
            return true;
    }
    return false;
}

bool http_header_has_token(const struct http_request *r, const char *name, const char *token)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (http_name_eq(h->name, h->name_len, name) &&
            http_list_has(h->value, h->value_len, token, strlen(token), false))
            return true;
    }
    return false;
}

bool http_split_target(const struct http_request *r, const char **path, size_t *path_len,
                       const char **query, size_t *query_len)
{
    const char *t = r->target, *end = r->target + r->target_len;
    /* A fragment ends everything (clients should not send one at all). */
    const char *hash = memchr(t, '#', r->target_len);
    if (hash) end = hash;
    if (*t != '/') {
        /* absolute-form: scheme "://" authority [path] */
        const char *sep = memmem(t, (size_t)(end - t), "://", 3);
        if (!sep || sep == t) return false;
        for (const char *c = t; c < sep; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) return false;
        t = sep + 3;
        while (t < end && *t != '/' && *t != '?') t++;
        if (t == end || *t == '?') {
            static const char root[] = "/";
            *path = root;
            *path_len = 1;
            *query = t < end ? t + 1 : end;
            *query_len = t < end ? (size_t)(end - t - 1) : 0;
            return true;
        }
    }
    const char *q = memchr(t, '?', (size_t)(end - t));
    *path = t;
    *path_len = (size_t)((q ? q : end) - t);
    *query = q ? q + 1 : end;
    *query_len = q ? (size_t)(end - q - 1) : 0;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long http_percent_decode(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0') return -1;
        out[o++] = c;
    }
    return (long)o;
}

size_t http_merge_slashes(char *path, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (path[i] != '/' || o == 0 || path[o - 1] != '/') path[o++] = path[i];
    return o;
}

long http_query_param(const char *query, size_t len, const char *name, char *out)
{
    size_t nlen = strlen(name), i = 0;
    while (i < len) {
        const char *pair = query + i;
        const char *amp = memchr(pair, '&', len - i);
        size_t plen = amp ? (size_t)(amp - pair) : len - i;
        i += plen + 1;
        if (plen < nlen || memcmp(pair, name, nlen) != 0) continue;
        if (plen == nlen) {
            out[0] = '\0';
            return 0; /* "name" with no value */
        }
        if (pair[nlen] != '=') continue;
        /* '+' means a space in form encoding ("%2B" is a plus): map it first,
         * then decode in place (decoding never writes ahead of its reading). */
        size_t vlen = plen - nlen - 1;
        for (size_t k = 0; k < vlen; k++)
            out[k] = pair[nlen + 1 + k] == '+' ? ' ' : pair[nlen + 1 + k];
        return http_percent_decode(out, vlen, out);
    }
    return -1;
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

int http_append_status(struct buf *out, int status)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    char line[256];
    int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\nServer: %s/%s\r\nDate: %s\r\n", status,
                     http_status_reason(status), PACKAGE_NAME, PACKAGE_VERSION, date);
    return buf_append(out, line, (size_t)n);
}

int http_append_error(struct buf *out, int status, const char *detail, const char *extra1,
                      const char *extra2, bool with_body)
{
    char body[512], head[256];
    int bn = snprintf(body, sizeof body, "%d %s%s%s\n", status, http_status_reason(status),
                      detail ? ": " : "", detail ? detail : "");
    if (bn < 0) return -1;
    if ((size_t)bn >= sizeof body) bn = sizeof body - 1;
    int hn = snprintf(head, sizeof head,
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n",
                      bn);
    if (http_append_status(out, status) < 0 || buf_append(out, head, (size_t)hn) < 0) return -1;
    if (extra1 && buf_append(out, extra1, strlen(extra1)) < 0) return -1;
    if (extra2 && buf_append(out, extra2, strlen(extra2)) < 0) return -1;
    if (buf_append(out, "\r\n", 2) < 0) return -1;
    return with_body ? buf_append(out, body, (size_t)bn) : 0;
}
