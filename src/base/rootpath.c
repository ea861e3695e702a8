#include "autoconfig.h"

#include "base/rootpath.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool rootpath_is_clean(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/') return false;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/') i++;
        size_t start = i;
        while (i < len && path[i] != '/') i++;
        size_t n = i - start;
        if ((n == 1 && path[start] == '.') ||
            (n == 2 && path[start] == '.' && path[start + 1] == '.'))
            return false;
    }
    return true;
}

static bool inside(const char *root, const char *resolved)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0) return true;
    return strncmp(resolved, root, n) == 0 && (resolved[n] == '\0' || resolved[n] == '/');
}

int rootpath_errno_status(int err)
{
    return err == EACCES || err == EPERM ? 403 : 404;
}

int rootpath_resolve(const char *root, const char *candidate, char *resolved)
{
    if (!realpath(candidate, resolved)) return rootpath_errno_status(errno);
    return inside(root, resolved) ? 0 : 403;
}

int rootpath_find_script(const char *root, const char *path, size_t len, struct script_match *m)
{
    if (!rootpath_is_clean(path, len)) return 403;
    size_t rlen = strlen(root);
    char candidate[PATH_MAX];
    if (rlen + len >= sizeof candidate) return 404;
    memcpy(candidate, root, rlen);
    size_t at = 1; /* past the leading '/' */
    for (;;) {
        size_t end = at;
        while (end < len && path[end] != '/') end++;
        if (end == at) return 404; /* an empty segment, or the path ends on a directory */
        memcpy(candidate + rlen, path, end);
        candidate[rlen + end] = '\0';
        int rc = rootpath_resolve(root, candidate, m->file);
        if (rc) return rc;
        struct stat st;
        if (stat(m->file, &st) < 0) return rootpath_errno_status(errno);
        if (!S_ISDIR(st.st_mode)) {
            if (!S_ISREG(st.st_mode) || access(m->file, X_OK) < 0) return 403;
            m->script_name_len = end;
            return 200;
        }
        if (end == len) return 404;
        at = end + 1;
    }
}
