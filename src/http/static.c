#include "autoconfig.h"

#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rootpath.h"

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
    f->mtime = st.st_mtime;
    f->content_type = static_content_type(resolved);
    return 200;
}

int static_resolve(const char *root, const char *path, size_t len, struct static_file *f)
{
    f->fd = -1;
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
    return open_regular(resolved, f);
}
