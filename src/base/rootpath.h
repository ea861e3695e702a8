/* URL paths as files under a root directory, never outside it: the one
 * place that checks containment, for static files (--staticdir) and
 * scripts (--dir). Results are HTTP status codes. */
#ifndef WSB_ROOTPATH_H
#define WSB_ROOTPATH_H

#include <stdbool.h>
#include <stddef.h>

/* A decoded URL path that starts with '/' and has no "." or ".." segment
 * (browsers never send them). */
bool rootpath_is_clean(const char *path, size_t len);

/* Canonicalize candidate into resolved (PATH_MAX bytes) and check that it
 * lies inside root, a canonical absolute path: symbolic links are followed,
 * but only to places inside root. Returns 0, 403 (outside, or not
 * readable) or 404. */
int rootpath_resolve(const char *root, const char *candidate, char *resolved);

/* The status for a failed open() or stat(): 403 for permissions, else 404. */
int rootpath_errno_status(int err);

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
int rootpath_find_script(const char *root, const char *path, size_t len, struct script_match *m);

#endif
