/* Static files under --staticdir: the file a path names (index.html for a
 * directory) and its content type. The connection streams the file. */
#ifndef WSB_STATIC_H
#define WSB_STATIC_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct static_file {
    int fd;
    off_t size;
    time_t mtime;
    const char *content_type;
};

/* Resolve a decoded URL path (it starts with '/') under root, which must be
 * a canonical absolute path (realpath). Returns 200 with f->fd open, 301
 * when a directory is named without its trailing slash, 403 when the path
 * escapes root or cannot be read, or 404. */
int static_resolve(const char *root, const char *path, size_t len, struct static_file *f);

/* Content-Type for a file name, by its extension. */
const char *static_content_type(const char *name);

#endif
