/* Static files under --staticdir: the file a path names (index.html for a
 * directory, or its precompressed FILE.gz), its content type, validators
 * (ETag, Last-Modified), the conditional and Range headers' verdict, and
 * the header lines of the answer. The connection streams the file. */
#ifndef WSB_STATIC_H
#define WSB_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "base/buf.h"

struct http_request;

struct static_file {
    int fd;
    off_t size;
    struct timespec mtime;
    const char *content_type; /* the named file's, also when FILE.gz is sent */
    bool gzip;                /* fd is FILE.gz: sent with Content-Encoding: gzip */
    bool vary;                /* FILE.gz exists: answers for this path vary with Accept-Encoding */
};

/* Resolve a decoded URL path (it starts with '/') under root, which must be
 * a canonical absolute path (realpath). Returns 200 with f->fd open, 301
 * when a directory is named without its trailing slash, 403 when the path
 * escapes root or cannot be read, or 404. gzip_ok: the client accepts gzip,
 * so FILE.gz is opened instead of FILE when it is a regular file inside
 * root (f->gzip); f->vary says whether there is one either way. */
int static_resolve(const char *root, const char *path, size_t len, bool gzip_ok,
                   struct static_file *f);

/* Content-Type for a file name, by its extension. */
const char *static_content_type(const char *name);

/* The strong ETag of f: "SIZE-MTIME" (hex; the modification time in
 * nanoseconds), "-gz" added for FILE.gz. */
#define STATIC_ETAG_MAX 48
void static_etag(const struct static_file *f, char *out);

/* What a GET or HEAD request gets for f, in RFC 9110 13.2.2's order:
 * If-Match, else If-Unmodified-Since (412 when they fail), If-None-Match
 * (weak comparison), else If-Modified-Since (304), then Range unless
 * If-Range names another version. Returns 200, 206 (bytes *first to
 * *first + *len - 1), 304, 412 or 416; for 200, *first is 0 and *len the
 * size. Dates that do not parse are ignored. */
int static_evaluate(const struct static_file *f, const struct http_request *req, time_t now,
                    off_t *first, off_t *len);

/* Append the header lines (each ending in CRLF, no blank line) that go with
 * status for f: for 200 and 206 the content's type, length, range and
 * coding, validators, Accept-Ranges, Vary and cache_control (NULL: none);
 * for 304 the validators, Vary and cache_control; for 416 the
 * Content-Range of an unsatisfiable range (RFC 9110 14.4: the size after
 * "bytes *" and a slash), Accept-Ranges and Vary. Returns 0 or -1 (out of
 * memory). */
int static_append_headers(struct buf *out, const struct static_file *f, int status, off_t first,
                          off_t len, const char *cache_control);

#endif
