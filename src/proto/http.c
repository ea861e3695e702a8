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

/* RFC 9110's tchar: ALPHA, DIGIT and "!#$%&'*+-.^_`|~", one bit per byte
 * value. A lookup rather than comparisons: every header byte goes through
 * here (and under the fuzzer each comparison would be a traced call). */
static const uint64_t tchar_bits[4] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull, 0, 0};

bool http_is_tchar(unsigned char c)
{
    return (tchar_bits[c >> 6] >> (c & 63)) & 1;
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
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : "Error"; /* clients go by the code */
    }
}

/* ---- keep-alive ------------------------------------------------------------------- */

bool http_wants_keep_alive(const struct http_request *r)
{
    if (http_header_has_token(r, "Connection", "close")) return false;
    return r->minor_version >= 1 || http_header_has_token(r, "Connection", "keep-alive");
}

bool http_has_body(const struct http_request *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (http_name_eq(h->name, h->name_len, "Transfer-Encoding")) return true;
        if (!http_name_eq(h->name, h->name_len, "Content-Length")) continue;
        if (!h->value_len) return true;
        for (size_t k = 0; k < h->value_len; k++)
            if (h->value[k] != '0') return true;
    }
    return false;
}

bool http_status_keeps_connection(int status)
{
    switch (status) {
    case 200:
    case 206:
    case 301:
    case 304:
    case 401:
    case 403:
    case 404:
    case 405:
    case 412:
    case 416: return true;
    default: return false;
    }
}

/* ---- dates ---------------------------------------------------------------------- */

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put_digits(char *out, unsigned v, int k)
{
    while (k--) {
        out[k] = (char)('0' + v % 10);
        v /= 10;
    }
}

void http_format_date(time_t t, char *out)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    memcpy(out, day_names[tm.tm_wday], 3);
    memcpy(out + 3, ", ", 2);
    put_digits(out + 5, (unsigned)tm.tm_mday, 2);
    out[7] = ' ';
    memcpy(out + 8, month_names[tm.tm_mon], 3);
    out[11] = ' ';
    put_digits(out + 12, (unsigned)tm.tm_year + 1900, 4);
    out[16] = ' ';
    put_digits(out + 17, (unsigned)tm.tm_hour, 2);
    out[19] = ':';
    put_digits(out + 20, (unsigned)tm.tm_min, 2);
    out[22] = ':';
    put_digits(out + 23, (unsigned)tm.tm_sec, 2);
    memcpy(out + 25, " GMT", 5);
}

/* Exactly k digits at s. */
static bool get_digits(const char *s, int k, int *v)
{
    *v = 0;
    for (int i = 0; i < k; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

static int month_of(const char *s)
{
    for (int m = 0; m < 12; m++)
        if (memcmp(s, month_names[m], 3) == 0) return m;
    return -1;
}

static bool day_name_is(const char *s, size_t n)
{
    for (int d = 0; d < 7; d++) {
        const char *name = n == 3 ? day_names[d] : long_day_names[d];
        if (strlen(name) == n && memcmp(s, name, n) == 0) return true;
    }
    return false;
}

/* "HH:MM:SS" */
static bool get_time(const char *s, int *h, int *m, int *sec)
{
    return get_digits(s, 2, h) && s[2] == ':' && get_digits(s + 3, 2, m) && s[5] == ':' &&
           get_digits(s + 6, 2, sec) && *h <= 23 && *m <= 59 && *sec <= 60;
}

/* Days from 1970-01-01 to y-m-d (m 1..12), proleptic Gregorian. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool make_time(int year, int mon, int day, int h, int m, int sec, time_t *t)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 0 || day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap)) return false;
    int64_t v = days_from_civil(year, mon + 1, day) * 86400 + h * 3600 + m * 60 + sec;
    *t = (time_t)v;
    return true;
}

bool http_parse_date(const char *s, size_t n, time_t now, time_t *t)
{
    int day, year, h, m, sec, mon;
    if (n == 29 && s[3] == ',') { /* Sun, 06 Nov 1994 08:49:37 GMT */
        if (!day_name_is(s, 3) || s[4] != ' ' || !get_digits(s + 5, 2, &day) || s[7] != ' ' ||
            (mon = month_of(s + 8)) < 0 || s[11] != ' ' || !get_digits(s + 12, 4, &year) ||
            s[16] != ' ' || !get_time(s + 17, &h, &m, &sec) || memcmp(s + 25, " GMT", 4) != 0)
            return false;
        return make_time(year, mon, day, h, m, sec, t);
    }
    const char *comma = memchr(s, ',', n < 10 ? n : 10);
    if (comma) { /* Sunday, 06-Nov-94 08:49:37 GMT */
        size_t k = (size_t)(comma - s);
        const char *d = comma + 1;
        if (k < 6 || n != k + 24 || !day_name_is(s, k) || d[0] != ' ' ||
            !get_digits(d + 1, 2, &day) || d[3] != '-' || (mon = month_of(d + 4)) < 0 ||
            d[7] != '-' || !get_digits(d + 8, 2, &year) || d[10] != ' ' ||
            !get_time(d + 11, &h, &m, &sec) || memcmp(d + 19, " GMT", 4) != 0)
            return false;
        /* The century that puts it no more than 50 years ahead of now. */
        struct tm tm;
        int this_year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 1970;
        int y = this_year - this_year % 100 + year;
        if (y > this_year + 50) y -= 100;
        return make_time(y, mon, day, h, m, sec, t);
    }
    /* Sun Nov  6 08:49:37 1994 */
    if (n != 24 || !day_name_is(s, 3) || s[3] != ' ' || (mon = month_of(s + 4)) < 0 ||
        s[7] != ' ' || !(s[8] == ' ' ? get_digits(s + 9, 1, &day) : get_digits(s + 8, 2, &day)) ||
        s[10] != ' ' || !get_time(s + 11, &h, &m, &sec) || s[19] != ' ' ||
        !get_digits(s + 20, 4, &year))
        return false;
    return make_time(year, mon, day, h, m, sec, t);
}

/* ---- validators and ranges -------------------------------------------------------- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The entity-tag starting at v[i]: returns the offset past it (0 when
 * malformed), and where its opaque tag (quotes included) starts. */
static size_t etag_end(const char *v, size_t n, size_t i, size_t *opaque)
{
    if (i + 1 < n && v[i] == 'W' && v[i + 1] == '/') i += 2;
    *opaque = i;
    if (i >= n || v[i] != '"') return 0;
    for (size_t j = i + 1; j < n; j++) {
        unsigned char c = (unsigned char)v[j];
        if (c == '"') return j + 1;
        if (c < 0x21 || c == 0x7F) return 0;
    }
    return 0;
}

bool http_is_etag(const char *v, size_t n)
{
    size_t opaque;
    return n && etag_end(v, n, 0, &opaque) == n;
}

bool http_etag_match(const char *v, size_t n, const char *etag, size_t len, bool strong)
{
    size_t ours;
    if (!http_is_etag(etag, len)) return false;
    etag_end(etag, len, 0, &ours);
    bool ours_weak = ours > 0;
    size_t i = 0, end = n;
    while (i < end && is_ows(v[i])) i++;
    while (end > i && is_ows(v[end - 1])) end--;
    if (end - i == 1 && v[i] == '*') return true;
    while (i < end) {
        if (is_ows(v[i]) || v[i] == ',') { /* empty elements are allowed */
            i++;
            continue;
        }
        size_t opaque, e = etag_end(v, end, i, &opaque);
        if (!e) return false;
        size_t next = e;
        while (next < end && is_ows(v[next])) next++;
        if (next < end && v[next] != ',') return false;
        bool weak = opaque > i;
        if (e - opaque == len - ours && memcmp(v + opaque, etag + ours, e - opaque) == 0 &&
            (!strong || (!weak && !ours_weak)))
            return true;
        i = next;
    }
    return false;
}

/* Whether the decimal digits x (xn bytes) are a smaller number than y: for
 * numbers that get_number() saturated, whatever their length. */
static bool digits_less(const char *x, size_t xn, const char *y, size_t yn)
{
    while (xn && *x == '0') x++, xn--;
    while (yn && *y == '0') y++, yn--;
    return xn != yn ? xn < yn : memcmp(x, y, xn) < 0;
}

/* Decimal digits at v[*i], saturating. Returns whether there was one. */
static bool get_number(const char *v, size_t n, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t x = 0;
    while (*i < n && v[*i] >= '0' && v[*i] <= '9') {
        unsigned d = (unsigned)(v[*i] - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
        (*i)++;
    }
    *out = x;
    return *i > start;
}

enum http_range http_parse_range(const char *v, size_t n, uint64_t size, uint64_t *first,
                                 uint64_t *last)
{
    if (n < 6 || strncasecmp(v, "bytes=", 6) != 0) return HTTP_RANGE_IGNORE;
    unsigned specs = 0, satisfiable = 0;
    size_t i = 6;
    while (i < n) {
        if (is_ows(v[i]) || v[i] == ',') {
            i++;
            continue;
        }
        uint64_t a, b;
        const size_t a_at = i;
        bool has_a = get_number(v, n, &i, &a);
        if (i >= n || v[i] != '-') return HTTP_RANGE_IGNORE;
        const size_t a_end = i++;
        bool has_b = get_number(v, n, &i, &b);
        const size_t b_end = i;
        while (i < n && is_ows(v[i])) i++;
        if ((i < n && v[i] != ',') || (!has_a && !has_b)) return HTTP_RANGE_IGNORE;
        /* last-pos < first-pos makes the spec invalid (RFC 9110 14.1.1), huge
         * numbers too: two that saturated are compared as digits. */
        if (has_a && has_b &&
            (b < a || (a == UINT64_MAX && b == UINT64_MAX &&
                       digits_less(v + a_end + 1, b_end - a_end - 1, v + a_at, a_end - a_at))))
            return HTTP_RANGE_IGNORE;
        specs++;
        uint64_t from, to;
        if (has_a) {
            if (a >= size) continue;
            from = a;
            to = has_b && b < size - 1 ? b : size - 1;
        } else {
            if (b == 0 || size == 0) continue;
            from = b < size ? size - b : 0;
            to = size - 1;
        }
        if (++satisfiable == 1) {
            *first = from;
            *last = to;
        }
    }
    if (!specs || size == 0) return HTTP_RANGE_IGNORE;
    return satisfiable == 0 ? HTTP_RANGE_NONE : satisfiable == 1 ? HTTP_RANGE_ONE : HTTP_RANGE_MANY;
}

/* ---- content negotiation ---------------------------------------------------------- */

/* "0", "0.5", "1", "1.000": 0..1000, or -1. */
static int parse_qvalue(const char *s, size_t n)
{
    if (!n || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1) return q;
    if (s[1] != '.' || n > 5) return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9') return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* One element of an Accept-Encoding list: the coding in *name, and its
 * weight (1000 without q; 0 when the element is malformed). */
static int coding_element(const char *s, size_t n, const char **name, size_t *name_len)
{
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)s[i])) i++;
    *name = s;
    *name_len = i;
    int q = 1000;
    while (i < n) {
        while (i < n && is_ows(s[i])) i++;
        if (i >= n || s[i] != ';') return 0;
        i++;
        while (i < n && is_ows(s[i])) i++;
        size_t p = i;
        while (i < n && http_is_tchar((unsigned char)s[i])) i++;
        size_t plen = i - p;
        if (!plen || i >= n || s[i] != '=') return 0;
        size_t val = ++i;
        while (i < n && http_is_tchar((unsigned char)s[i])) i++;
        if (plen == 1 && (s[p] == 'q' || s[p] == 'Q')) {
            q = parse_qvalue(s + val, i - val);
            if (q < 0) return 0;
        }
    }
    return *name_len ? q : 0;
}

int http_coding_weight(const struct http_request *r, const char *coding)
{
    bool gzip = strcasecmp(coding, "gzip") == 0;
    int named = -1, star = -1;
    for (size_t h = 0; h < r->nheaders; h++) {
        const struct http_header *hd = &r->headers[h];
        if (!http_name_eq(hd->name, hd->name_len, "Accept-Encoding")) continue;
        const char *v = hd->value;
        size_t n = hd->value_len, i = 0;
        while (i < n) {
            while (i < n && (is_ows(v[i]) || v[i] == ',')) i++;
            size_t start = i;
            while (i < n && v[i] != ',') i++;
            size_t end = i;
            while (end > start && is_ows(v[end - 1])) end--;
            if (end == start) continue;
            const char *name;
            size_t len;
            int q = coding_element(v + start, end - start, &name, &len);
            if (http_name_eq(name, len, coding) || (gzip && http_name_eq(name, len, "x-gzip"))) {
                if (named < 0) named = q;
            } else if (len == 1 && name[0] == '*') {
                if (star < 0) star = q;
            }
        }
    }
    return named >= 0 ? named : star;
}

/* ---- answers ---------------------------------------------------------------------- */

int http_append_status_reason(struct buf *out, int status, const char *reason)
{
    char date[HTTP_DATE_LEN + 1];
    http_format_date(time(NULL), date);
    char line[256];
    int n = snprintf(line, sizeof line, "HTTP/1.1 %d %.64s\r\nServer: %s/%s\r\nDate: %s\r\n",
                     status, reason && *reason ? reason : http_status_reason(status), PACKAGE_NAME,
                     PACKAGE_VERSION, date);
    return buf_append(out, line, (size_t)n);
}

int http_append_status(struct buf *out, int status)
{
    return http_append_status_reason(out, status, NULL);
}

int http_append_error_keep(struct buf *out, int status, const char *detail, const char *extra1,
                           const char *extra2, bool with_body, bool keep_alive)
{
    char body[512], head[256];
    int bn = snprintf(body, sizeof body, "%d %s%s%s\n", status, http_status_reason(status),
                      detail ? ": " : "", detail ? detail : "");
    if (bn < 0) return -1;
    if ((size_t)bn >= sizeof body) bn = sizeof body - 1;
    int hn = snprintf(head, sizeof head,
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n", bn);
    if (http_append_status(out, status) < 0 || buf_append(out, head, (size_t)hn) < 0) return -1;
    if (extra1 && buf_append(out, extra1, strlen(extra1)) < 0) return -1;
    if (extra2 && buf_append(out, extra2, strlen(extra2)) < 0) return -1;
    const char *conn = keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (buf_append(out, conn, strlen(conn)) < 0) return -1;
    return with_body ? buf_append(out, body, (size_t)bn) : 0;
}

int http_append_error(struct buf *out, int status, const char *detail, const char *extra1,
                      const char *extra2, bool with_body)
{
    return http_append_error_keep(out, status, detail, extra1, extra2, with_body, false);
}

long long http_content_length(const struct http_request *req)
{
    long long len = -2;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!http_name_eq(h->name, h->name_len, "Content-Length")) continue;
        if (h->value_len == 0 || h->value_len > 18) return -1;
        long long x = 0;
        for (size_t k = 0; k < h->value_len; k++) {
            if (h->value[k] < '0' || h->value[k] > '9') return -1;
            x = x * 10 + (h->value[k] - '0');
        }
        if (len != -2 && len != x) return -1;
        len = x;
    }
    return len == -2 ? 0 : len;
}
