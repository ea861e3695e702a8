#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rootpath.h"
#include "../tap.h"

static char root[PATH_MAX], outside[PATH_MAX];

static void make_file(const char *rel, mode_t mode)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
    chmod(p, mode);
}

static void make_link(const char *target, const char *rel)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    if (symlink(target, p) < 0) perror(p);
}

static int find(const char *path, struct script_match *m)
{
    return rootpath_find_script(root, path, strlen(path), m);
}

static int resolve(const char *rel)
{
    char candidate[PATH_MAX + 64], resolved[PATH_MAX];
    snprintf(candidate, sizeof candidate, "%s%s", root, rel);
    return rootpath_resolve(root, candidate, resolved);
}

int main(void)
{
    char tmpl[] = "/tmp/test_rootpath.XXXXXX", tmpl2[] = "/tmp/test_rootpath_out.XXXXXX";
    if (!mkdtemp(tmpl) || !mkdtemp(tmpl2) || !realpath(tmpl, root) || !realpath(tmpl2, outside)) {
        perror("mkdtemp");
        return 1;
    }
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/chat", root);
    mkdir(p, 0755);
    make_file("chat/room.sh", 0755);
    make_file("plain.txt", 0644);
    snprintf(p, sizeof p, "%s/secret.sh", outside);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
    chmod(p, 0755);
    make_link(p, "escape.sh");
    make_link("chat/room.sh", "alias.sh");

    ok(rootpath_is_clean("/a/b.html", 9), "a plain path is clean");
    ok(rootpath_is_clean("/", 1), "the root itself is clean");
    ok(!rootpath_is_clean("", 0), "an empty path is not");
    ok(!rootpath_is_clean("a/b", 3), "a path without its leading slash is not");
    ok(!rootpath_is_clean("/a/../b", 7), "a .. segment is refused");
    ok(!rootpath_is_clean("/a/./b", 6), "a . segment is refused");
    ok(!rootpath_is_clean("/..", 3), "a trailing .. segment is refused");
    ok(rootpath_is_clean("/a..b/.c", 8), "dots inside a name are fine");

    ok(resolve("/plain.txt") == 0, "a file inside resolves");
    ok(resolve("/missing") == 404, "a missing file is 404");
    ok(resolve("/escape.sh") == 403, "a symbolic link leading outside is 403");
    ok(resolve("/alias.sh") == 0, "a symbolic link staying inside resolves");
    ok(rootpath_errno_status(EACCES) == 403 && rootpath_errno_status(ENOENT) == 404,
       "errno values map to 403 and 404");

    struct script_match m;
    ok(find("/chat/room.sh/extra/path", &m) == 200 && m.script_name_len == strlen("/chat/room.sh"),
       "the walk stops at the script; the rest is PATH_INFO");
    snprintf(p, sizeof p, "%s/chat/room.sh", root);
    ok(strcmp(m.file, p) == 0, "the script's resolved path is given");
    ok(find("/chat", &m) == 404, "a path ending on a directory is 404");
    ok(find("/chat/", &m) == 404, "... also with its slash");
    ok(find("/nothing.sh", &m) == 404, "a missing script is 404");
    ok(find("/plain.txt", &m) == 403, "a file that is not executable is 403");
    ok(find("/escape.sh", &m) == 403, "a script linked from outside is 403");
    ok(find("/chat/../chat/room.sh", &m) == 403, "a path with .. is 403");

    char rm[2 * PATH_MAX + 16];
    snprintf(rm, sizeof rm, "rm -rf '%s' '%s'", root, outside);
    if (system(rm) != 0) fprintf(stderr, "cleanup failed\n");
    return tap_finish();
}
