/* Incremental HTTP/1.1 request-head parser with hard limits, and small
 * helpers to read headers and write responses. No I/O. */
#ifndef WSB_HTTP_H
#define WSB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"

#define HTTP_MAX_REQUEST_LINE  8192
#define HTTP_MAX_HEADER_BYTES  16384
#define HTTP_MAX_HEADERS       100
#define HTTP_MAX_LEADING_EMPTY 64 /* bytes of empty lines tolerated before the request line */
/* The most a client can make us hold before the head is complete: the
 * request line with its CRLF, then the header section with the blank line. */
#define HTTP_MAX_HEAD (HTTP_MAX_LEADING_EMPTY + HTTP_MAX_REQUEST_LINE + 2 + HTTP_MAX_HEADER_BYTES)

struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing whitespace removed */
    size_t value_len;
};

struct http_request {
    const char *method;
    size_t method_len;
    const char *target; /* raw request-target */
    size_t target_len;
    int minor_version; /* HTTP/1.x */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
};

/* Tracks how far the head has been scanned, so each byte is looked at once
 * while the request arrives. */
struct http_parser {
    size_t pos;        /* next byte to scan */
    size_t line_start; /* start of the line being scanned */
    size_t head_start; /* start of the first header line (0 until the request line ends) */
    unsigned nlines;   /* header lines seen */
    bool request_line_done;
};

void http_parser_init(struct http_parser *p);

/* Feed the whole buffer received so far (it only grows between calls).
 * Returns 0 when more input is needed, the length of the request head when it
 * is complete (req then points into buf), or minus an HTTP status:
 * -400 malformed, -414 request line too long, -431 header section too large
 * or too many fields, -505 HTTP major version other than 1. */
long http_parse(struct http_parser *p, const char *buf, size_t len, struct http_request *req);

/* Case-insensitive comparison of a counted string with a literal. */
bool http_name_eq(const char *s, size_t n, const char *literal);

/* First header with this name (case-insensitive), or NULL. */
const struct http_header *http_header_find(const struct http_request *r, const char *name);

/* How many header lines have this name. */
size_t http_header_count(const struct http_request *r, const char *name);

/* Whether any header line with this name lists `token` in its
 * comma-separated value (case-insensitive, whitespace trimmed). */
bool http_header_has_token(const struct http_request *r, const char *name, const char *token);

/* Whether the comma-separated list v (n bytes; blanks around elements
 * trimmed) has element (len bytes): ASCII case-insensitively, or exactly. */
bool http_list_has(const char *v, size_t n, const char *element, size_t len, bool exact_case);

bool http_is_tchar(unsigned char c);

/* Split the request-target into path and query (absolute-form targets are
 * reduced to their path). Returns false if the target is not usable. */
bool http_split_target(const struct http_request *r, const char **path, size_t *path_len,
                       const char **query, size_t *query_len);

/* Decode %XX escapes into out (at least n bytes). Returns the decoded length,
 * or -1 for a malformed escape or a NUL byte. */
long http_percent_decode(const char *in, size_t n, char *out);

/* Merge each run of '/' in path (n bytes) into one, in place, so that
 * "//a" and "/a" name the same route and file. Returns the new length. */
size_t http_merge_slashes(char *path, size_t n);

/* The value of parameter `name` in a query string ("a=1&name=v"), decoded
 * as a form value ('+' is a space) into out (at least len bytes). Returns
 * its length, or -1 when absent or badly encoded. */
long http_query_param(const char *query, size_t len, const char *name, char *out);

const char *http_status_reason(int status);

/* --- keep-alive (RFC 9112 9.3) --- */

/* Whether the client wants the connection kept after this request:
 * HTTP/1.1 unless it sent "Connection: close"; HTTP/1.0 only with
 * "Connection: keep-alive". */
bool http_wants_keep_alive(const struct http_request *r);

/* Whether a body follows the head: Transfer-Encoding, or a Content-Length
 * other than 0 (an unreadable one too: the framing is unclear). */
bool http_has_body(const struct http_request *r);

/* The Content-Length of a request: its value, 0 without one, or -1 when
 * it is not one number (several that differ, or not digits). */
long long http_content_length(const struct http_request *r);

/* Whether the connection may carry another request after an answer with
 * this status: the answer was complete and the request was understood
 * (200, 206, 301, 304, 401, 403, 404, 405, 412, 416); not after a malformed
 * or oversized request, a refusal (429, 503) or a server error. */
bool http_status_keeps_connection(int status);

/* --- dates (RFC 9110 5.6.7) --- */

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* t as an IMF-fixdate into out (HTTP_DATE_LEN + 1 bytes), in any locale. */
void http_format_date(time_t t, char *out);

/* An HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms
 * that recipients must still accept (a two-digit year is 19xx or 20xx,
 * whichever is not more than 50 years ahead of `now`). Returns false for
 * anything else, an impossible day or time included. */
bool http_parse_date(const char *s, size_t n, time_t now, time_t *t);

/* --- validators and ranges (RFC 9110 8.8.3, 13.1, 14) --- */

/* Whether the If-Match / If-None-Match value v (n bytes: "*" or a list of
 * entity-tags) names etag (a full entity-tag, quotes included, with or
 * without W/). strong: RFC 9110's strong comparison (both tags strong and
 * equal), else the weak one (the opaque tags equal). A malformed list
 * matches nothing from its first bad element on. */
bool http_etag_match(const char *v, size_t n, const char *etag, size_t len, bool strong);

/* Whether v (n bytes) is an entity-tag rather than a date (If-Range). */
bool http_is_etag(const char *v, size_t n);

enum http_range {
    HTTP_RANGE_IGNORE, /* not a valid bytes range (or an empty representation): send it all */
    HTTP_RANGE_ONE,    /* one satisfiable range: *first..*last, inclusive */
    HTTP_RANGE_MANY,   /* several satisfiable ranges (we send it all, 200) */
    HTTP_RANGE_NONE,   /* valid, but no range is satisfiable: 416 */
};

/* A Range value ("bytes=0-99", "bytes=500-", "bytes=-200", lists of these)
 * against a representation of size bytes. Unsatisfiable members of a list
 * are skipped; a last-pos past the end is the end; a suffix longer than
 * the representation is all of it. A member whose last-pos is below its
 * first-pos makes the value invalid, however many digits they have. */
enum http_range http_parse_range(const char *v, size_t n, uint64_t size, uint64_t *first,
                                 uint64_t *last);

/* --- content negotiation (RFC 9110 12.5.3) --- */

/* The weight (0 to 1000: q=0.5 is 500) that the request's Accept-Encoding
 * lines give the content coding `coding` (for "gzip", "x-gzip" is the
 * same), or "*" when they do not name it; -1 when there is no
 * Accept-Encoding or it names neither. An invalid q-value weighs 0. */
int http_coding_weight(const struct http_request *r, const char *coding);

/* --- answers --- */

/* Append a complete response with a short plain-text body
 * ("<status> <reason>: <detail>\n") and "Connection: close".
 * extra1 and extra2 hold ready "Name: value\r\n" lines, or are NULL.
 * Without with_body (answers to HEAD) only the head is written. */
int http_append_error(struct buf *out, int status, const char *detail, const char *extra1,
                      const char *extra2, bool with_body);

/* The same with "Connection: keep-alive" when keep_alive. */
int http_append_error_keep(struct buf *out, int status, const char *detail, const char *extra1,
                           const char *extra2, bool with_body, bool keep_alive);

/* Append "HTTP/1.1 <status> <reason>\r\n" plus Server and Date headers. */
int http_append_status(struct buf *out, int status);

/* The same with this reason phrase (up to 64 bytes; NULL or "": ours). The
 * caller makes sure it holds no CR, LF or other control character. */
int http_append_status_reason(struct buf *out, int status, const char *reason);

#endif
