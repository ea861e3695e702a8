/* Static files under --staticdir: path resolution that cannot leave the
 * directory, and content types. The connection streams the file. */
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

/* --dir: the script a URL path names, websocketd's way: path segments are
 * walked from root through directories until a file; what follows is the
 * PATH_INFO. */
struct script_match {
    char file[4096];        /* resolved path of the script */
    size_t script_name_len; /* bytes of the URL path that name it ("/a/b.sh") */
};

/* Returns 200 with m filled, 404 when nothing matches (or the path ends on a
 * directory), 403 when the path escapes root or the file is not an
 * executable regular file. */
int static_find_script(const char *root, const char *path, size_t len, struct script_match *m);

/* Content-Type for a file name, by its extension. */
const char *static_content_type(const char *name);

#endif
