#include "autoconfig.h"

#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rootpath.h"
#include "proto/http.h"

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
};

const char *static_content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot) {
        for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
            if (strcasecmp(dot + 1, content_types[i].ext) == 0) return content_types[i].type;
    }
    return "application/octet-stream";
}

/* Open resolved if it is a regular file. Returns 200, or 403/404. */
static int open_regular(const char *resolved, struct static_file *f)
{
    int fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return rootpath_errno_status(errno);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 403;
    }
    f->fd = fd;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    return 200;
}

/* FILE.gz next to the file candidate names (before links are followed, as
 * the URL names it), under the same containment rule: whether it is a
 * regular file, and with gzip_ok, f switched over to it. */
static void find_gzip(const char *root, const char *candidate, bool gzip_ok, struct static_file *f)
{
    char gz[PATH_MAX], resolved[PATH_MAX];
    size_t n = strlen(candidate);
    if (n + sizeof ".gz" > sizeof gz) return;
    memcpy(gz, candidate, n);
    memcpy(gz + n, ".gz", sizeof ".gz");
    struct stat st;
    if (rootpath_resolve(root, gz, resolved) || stat(resolved, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    f->vary = true;
    if (!gzip_ok) return;
    struct static_file z = *f;
    if (open_regular(resolved, &z) != 200) return; /* the plain file still serves */
    close(f->fd);
    *f = z;
    f->gzip = true;
}

int static_resolve(const char *root, const char *path, size_t len, bool gzip_ok,
                   struct static_file *f)
{
    f->fd = -1;
    f->gzip = f->vary = false;
    if (!rootpath_is_clean(path, len)) return 403;
    size_t rlen = strlen(root);
    if (rlen + len + sizeof "/index.html" > PATH_MAX) return 404;

    char candidate[PATH_MAX], resolved[PATH_MAX];
    memcpy(candidate, root, rlen);
    memcpy(candidate + rlen, path, len);
    candidate[rlen + len] = '\0';
    int rc = rootpath_resolve(root, candidate, resolved);
    if (rc) return rc;

    struct stat st;
    if (stat(resolved, &st) < 0) return rootpath_errno_status(errno);
    if (S_ISDIR(st.st_mode)) {
        if (path[len - 1] != '/') return 301;
        size_t n = strlen(resolved);
        if (n + sizeof "/index.html" > PATH_MAX) return 404;
        memcpy(resolved + n, "/index.html", sizeof "/index.html");
        memcpy(candidate, resolved, n + sizeof "/index.html");
        rc = rootpath_resolve(root, candidate, resolved);
        if (rc == 404) return 403; /* a directory without an index: no listings */
        if (rc) return rc;
    }
    rc = open_regular(resolved, f);
    if (rc != 200) return rc;
    f->content_type = static_content_type(resolved);
    find_gzip(root, candidate, gzip_ok, f);
    return 200;
}

void static_etag(const struct static_file *f, char *out)
{
    uint64_t ns = (uint64_t)f->mtime.tv_sec * 1000000000u + (uint64_t)f->mtime.tv_nsec;
    snprintf(out, STATIC_ETAG_MAX, "\"%llx-%llx%s\"", (unsigned long long)f->size,
             (unsigned long long)ns, f->gzip ? "-gz" : "");
}

/* Whether any line of the If-Match or If-None-Match header name lists etag. */
static bool etag_listed(const struct http_request *req, const char *name, const char *etag,
                        bool strong)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (http_name_eq(h->name, h->name_len, name) &&
            http_etag_match(h->value, h->value_len, etag, strlen(etag), strong))
            return true;
    }
    return false;
}

/* The date in header name, when there is exactly one and it parses. */
static bool one_date(const struct http_request *req, const char *name, time_t now, time_t *t)
{
    const struct http_header *h = http_header_find(req, name);
    return h && http_header_count(req, name) == 1 &&
           http_parse_date(h->value, h->value_len, now, t);
}

int static_evaluate(const struct static_file *f, const struct http_request *req, time_t now,
                    off_t *first, off_t *len)
{
    char etag[STATIC_ETAG_MAX];
    static_etag(f, etag);
    time_t mtime = f->mtime.tv_sec, date;
    *first = 0;
    *len = f->size;
    if (http_header_find(req, "If-Match")) {
        if (!etag_listed(req, "If-Match", etag, true)) return 412;
    } else if (one_date(req, "If-Unmodified-Since", now, &date) && mtime > date) {
        return 412;
    }
    if (http_header_find(req, "If-None-Match")) {
        if (etag_listed(req, "If-None-Match", etag, false)) return 304;
    } else if (one_date(req, "If-Modified-Since", now, &date) && mtime <= date) {
        return 304;
    }
    const struct http_header *range = http_header_find(req, "Range");
    if (!range || http_header_count(req, "Range") > 1) return 200;
    const struct http_header *if_range = http_header_find(req, "If-Range");
    if (if_range) {
        /* Another version than the one the client holds part of: all of it. */
        if (http_is_etag(if_range->value, if_range->value_len)) {
            if (!http_etag_match(if_range->value, if_range->value_len, etag, strlen(etag), true))
                return 200;
        } else if (!http_parse_date(if_range->value, if_range->value_len, now, &date) ||
                   date != mtime) {
            return 200;
        }
    }
    uint64_t a, b;
    switch (http_parse_range(range->value, range->value_len, (uint64_t)f->size, &a, &b)) {
    case HTTP_RANGE_ONE:
        *first = (off_t)a;
        *len = (off_t)(b - a + 1);
        return 206;
    case HTTP_RANGE_NONE: return 416;
    default: return 200; /* ignored, or several ranges: all of it */
    }
}

int static_append_headers(struct buf *out, const struct static_file *f, int status, off_t first,
                          off_t len, const char *cache_control)
{
    static const char vary[] = "Vary: Accept-Encoding\r\n";
    char lines[512];
    int n;
    if (status == 416) {
        n = snprintf(lines, sizeof lines,
                     "Content-Range: bytes */%lld\r\nAccept-Ranges: bytes\r\n%s",
                     (long long)f->size, f->vary ? vary : "");
        return buf_append(out, lines, (size_t)n);
    }
    char etag[STATIC_ETAG_MAX], date[HTTP_DATE_LEN + 1];
    static_etag(f, etag);
    http_format_date(f->mtime.tv_sec, date);
    n = 0;
    if (status != 304) {
        n = snprintf(lines, sizeof lines, "Content-Type: %s\r\nContent-Length: %lld\r\n",
                     f->content_type, (long long)len);
        if (status == 206)
            n += snprintf(lines + n, sizeof lines - (size_t)n,
                          "Content-Range: bytes %lld-%lld/%lld\r\n", (long long)first,
                          (long long)(first + len - 1), (long long)f->size);
        if (f->gzip)
            n += snprintf(lines + n, sizeof lines - (size_t)n, "Content-Encoding: gzip\r\n");
    }
    n += snprintf(
        lines + n, sizeof lines - (size_t)n, "Last-Modified: %s\r\nETag: %s\r\n%s%s", date, etag,
        status != 304 ? "Accept-Ranges: bytes\r\nX-Content-Type-Options: nosniff\r\n" : "",
        f->vary ? vary : "");
    if (buf_append(out, lines, (size_t)n) < 0) return -1;
    if (!cache_control) return 0;
    if (buf_append(out, "Cache-Control: ", 15) < 0 ||
        buf_append(out, cache_control, strlen(cache_control)) < 0 || buf_append(out, "\r\n", 2) < 0)
        return -1;
    return 0;
}
