#include "autoconfig.h"

#include "proto/cgi.h"

#include <string.h>

#include "proto/http.h"

/* Fields the script must not choose: the connection's own, and ours. */
static bool dropped(const char *name, size_t len)
{
    static const char *const names[] = {
        "Connection", "Keep-Alive", "Transfer-Encoding", "TE",
        "Trailer",    "Upgrade",    "Proxy-Connection",  "Date",
        "Server",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (http_name_eq(name, len, names[i])) return true;
    return false;
}

/* Where the head ends: the offset just past its blank line, or 0. */
static size_t head_end(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') continue;
        if (i == 0 || p[i - 1] == '\n') return i + 1;
        if (p[i - 1] == '\r' && (i == 1 || p[i - 2] == '\n')) return i + 1;
    }
    return 0;
}

/* "NNN reason": the value is trimmed and free of control characters already. */
static bool parse_status(const char *v, size_t n, struct cgi_head *h)
{
    if (n < 3 || (n > 3 && v[3] != ' ' && v[3] != '\t')) return false;
    int s = 0;
    for (int i = 0; i < 3; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        s = s * 10 + (v[i] - '0');
    }
    if (s < 200 || s > 599) return false;
    h->status = s;
    size_t at = 3;
    while (at < n && (v[at] == ' ' || v[at] == '\t')) at++;
    size_t len = n - at < sizeof h->reason - 1 ? n - at : sizeof h->reason - 1;
    while (len && (v[at + len - 1] == ' ' || v[at + len - 1] == '\t')) len--; /* cut there */
    for (size_t i = 0; i < len; i++) h->reason[i] = v[at + i] == '\t' ? ' ' : v[at + i];
    h->reason[len] = '\0';
    return true;
}

static bool parse_length(const char *v, size_t n, long long *len)
{
    if (n == 0 || n > 18) return false; /* 18 digits cannot overflow */
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (v[i] - '0');
    }
    *len = x;
    return true;
}

static long fail(const char **why, const char *text)
{
    *why = text;
    return -1;
}

long cgi_parse_head(const char *p, size_t n, struct cgi_head *h, struct buf *lines,
                    const char **why)
{
    size_t end = head_end(p, n < CGI_MAX_HEAD ? n : CGI_MAX_HEAD);
    if (!end) return n >= CGI_MAX_HEAD ? fail(why, "the head is larger than 16 KiB") : 0;
    *h = (struct cgi_head){.status = 0, .content_length = -1};
    bool has_status = false;
    unsigned fields = 0;
    size_t at = 0;
    for (;;) {
        const char *nl = memchr(p + at, '\n', end - at);
        size_t len = (size_t)(nl - (p + at));
        const char *line = p + at;
        at += len + 1;
        if (len && line[len - 1] == '\r') len--;
        if (len == 0) break;
        if (line[0] == ' ' || line[0] == '\t')
            return fail(why, "a continuation line (obsolete line folding)");
        if (++fields > CGI_MAX_FIELDS) return fail(why, "more than 100 header fields");
        size_t name_len = 0;
        while (name_len < len && http_is_tchar((unsigned char)line[name_len])) name_len++;
        if (name_len == 0 || name_len == len || line[name_len] != ':')
            return fail(why, "a line that is not 'Name: value'");
        const char *v = line + name_len + 1;
        size_t vlen = len - name_len - 1;
        while (vlen && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
        for (size_t i = 0; i < vlen; i++) {
            unsigned char c = (unsigned char)v[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return fail(why, "a control character in a field value");
        }
        if (http_name_eq(line, name_len, "Status")) {
            if (has_status) return fail(why, "two Status fields");
            if (!parse_status(v, vlen, h))
                return fail(why, "a Status that is not a code from 200 to 599");
            has_status = true;
            continue;
        }
        if (http_name_eq(line, name_len, "Content-Length")) {
            long long x;
            if (!parse_length(v, vlen, &x)) return fail(why, "an unreadable Content-Length");
            if (h->content_length >= 0 && h->content_length != x)
                return fail(why, "Content-Length fields that differ");
            h->content_length = x;
            continue;
        }
        if (dropped(line, name_len)) continue;
        bool location = http_name_eq(line, name_len, "Location");
        bool type = http_name_eq(line, name_len, "Content-Type");
        if ((location && h->has_location) || (type && h->has_content_type))
            return fail(why, location ? "two Location fields" : "two Content-Type fields");
        h->has_location |= location;
        h->has_content_type |= type;
        if (buf_append(lines, line, name_len) < 0 || buf_append(lines, ": ", 2) < 0 ||
            buf_append(lines, v, vlen) < 0 || buf_append(lines, "\r\n", 2) < 0)
            return fail(why, "out of memory");
    }
    if (fields == 0) return fail(why, "no header fields");
    if (!has_status && !h->has_location && !h->has_content_type)
        return fail(why, "no Content-Type (nor Status or Location)");
    if (!has_status) h->status = h->has_location ? 302 : 200;
    return (long)end;
}
