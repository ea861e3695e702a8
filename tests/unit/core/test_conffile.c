#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conffile.h"
#include "../tap.h"

/* Parse from an exactly-sized copy (ASan sees a read past len). */
static int parse(struct conffile *f, const char *text, size_t len, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = conffile_parse(f, copy, len, err, errlen);
    free(copy);
    return rc;
}

static bool entry_is(const struct conffile *f, size_t i, const char *name, const char *value,
                     unsigned line)
{
    if (i >= f->n) return false;
    const struct conffile_entry *e = &f->entries[i];
    if (strcmp(e->name, name) != 0 || e->line != line) return false;
    return value ? e->value && strcmp(e->value, value) == 0 : e->value == NULL;
}

static void test_lines(void)
{
    static const char text[] = "# a comment\n"
                               "port = 8080\n"
                               "\n"
                               "   address=127.0.0.1   \n"
                               "\tbinary\t\n"
                               "  # indented comment = still a comment\n"
                               "header = X-A: b # not a comment\n"
                               "passenv =\n"
                               "--maxforks = 3\r\n"
                               "header-ws = \"  X-B: spaced  \"\n"
                               "command = /usr/bin/env  a   b\n"
                               "last = no newline";
    struct conffile f = {0};
    char err[128] = "";
    ok(parse(&f, text, sizeof text - 1, err, sizeof err) == 0, "a typical file parses (%s)", err);
    ok(f.n == 9, "nine entries (got %zu)", f.n);
    ok(entry_is(&f, 0, "port", "8080", 2), "name = value, line 2");
    ok(entry_is(&f, 1, "address", "127.0.0.1", 4), "blanks around '=' and the line are trimmed");
    ok(entry_is(&f, 2, "binary", NULL, 5), "a bare name is a flag (value NULL)");
    ok(entry_is(&f, 3, "header", "X-A: b # not a comment", 7),
       "'#' after the start of a line belongs to the value");
    ok(entry_is(&f, 4, "passenv", "", 8), "'name =' gives an empty value, not NULL");
    ok(entry_is(&f, 5, "maxforks", "3", 9), "leading -- is accepted and CR LF endings too");
    ok(entry_is(&f, 6, "header-ws", "  X-B: spaced  ", 10), "double quotes keep blanks");
    ok(entry_is(&f, 7, "command", "/usr/bin/env  a   b", 11), "the value is kept verbatim inside");
    ok(entry_is(&f, 8, "last", "no newline", 12), "the last line needs no newline");
    conffile_free(&f);
    ok(f.n == 0 && f.entries == NULL, "conffile_free clears");

    ok(parse(&f, "", 0, err, sizeof err) == 0 && f.n == 0, "an empty file has no entries");
    ok(parse(&f, "\n\n# x\n", 5, err, sizeof err) == 0 && f.n == 0, "only comments: none");
    ok(parse(&f, "a = \"\"\n", 7, err, sizeof err) == 0 && entry_is(&f, 0, "a", "", 1),
       "\"\" is an empty value");
    conffile_free(&f);
    ok(parse(&f, "a = \"x\n", 7, err, sizeof err) == 0 && entry_is(&f, 0, "a", "\"x", 1),
       "a lone quote is kept");
    conffile_free(&f);
}

static void test_errors(void)
{
    static const struct {
        const char *text;
        const char *err;
    } bad[] = {
        {"port 8080\n", "1: expected 'name = value' (an option name"},
        {"ok = 1\n= 5\n", "2: expected 'name = value'"},
        {"Port = 1\n", "1: expected 'name = value' (an option name"},
        {"po.rt = 1\n", "1: expected 'name = value' (an option name"},
        {"a = 1\n\nb = x\0y\n", "3: NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct conffile f = {0};
        char err[128] = "";
        size_t len = strlen(bad[i].text);
        if (i == 4) len = 15; /* the NUL is inside */
        int rc = parse(&f, bad[i].text, len, err, sizeof err);
        ok(rc == -1 && strncmp(err, bad[i].err, strlen(bad[i].err)) == 0,
           "bad line %zu refused with \"%s\" (got \"%s\")", i, bad[i].err, err);
        conffile_free(&f);
    }
    struct conffile f = {0};
    char err[128];
    ok(parse(&f, "a = 1\nb c\nd = 2\n", 16, err, sizeof err) == -1 && f.n == 1 &&
           entry_is(&f, 0, "a", "1", 1),
       "entries before the bad line are kept (and freed by conffile_free)");
    conffile_free(&f);
}

static void test_sections(void)
{
    static const char text[] = "port = 8080\n"
                               "[route /chat/]\n"
                               "shared\n"
                               "command = room.py\n"
                               "  [ route   =   /exact ]  \n"
                               "\n"
                               "[route /]\n"
                               "binary\n";
    struct conffile f = {0};
    char err[128] = "";
    ok(parse(&f, text, sizeof text - 1, err, sizeof err) == 0, "a file with routes parses (%s)",
       err);
    ok(f.nsections == 3, "three sections (got %zu)", f.nsections);
    ok(f.n == 4, "four entries (got %zu)", f.n);
    ok(f.n == 4 && f.entries[0].section == 0 && f.entries[1].section == 1 &&
           f.entries[2].section == 1 && f.entries[3].section == 3,
       "entries belong to the section above them (0: none)");
    ok(f.nsections == 3 && strcmp(f.sections[0].path, "/chat/") == 0 && !f.sections[0].exact &&
           f.sections[0].line == 2,
       "[route /chat/] is a prefix route, line 2");
    ok(f.nsections == 3 && strcmp(f.sections[1].path, "/exact") == 0 && f.sections[1].exact &&
           f.sections[1].line == 5,
       "[ route = /exact ] is an exact route; blanks around the parts are fine");
    ok(f.nsections == 3 && strcmp(f.sections[2].path, "/") == 0 && f.sections[2].line == 7,
       "an empty section is kept (line 7)");
    conffile_free(&f);
    ok(f.sections == NULL && f.nsections == 0, "conffile_free clears the sections");

    static const struct {
        const char *text;
        const char *err;
    } bad[] = {
        {"[route /a/\n", "1: expected '[route /path/]' (a section ends with ']')"},
        {"[location /a/]\n", "1: expected '[route /path/]' (the only section is 'route')"},
        {"[routes /a/]\n", "1: expected '[route /path/]' (the only section is 'route')"},
        {"[route]\n", "1: a route's path starts with '/'"},
        {"[route chat/]\n", "1: a route's path starts with '/'"},
        {"[route = ]\n", "1: a route's path starts with '/'"},
        {"a = 1\n[route /a b/]\n", "2: a route's path has no blanks"},
        {"[route /a?x]\n", "1: a route's path has no blanks"},
        {"[route /a#x]\n", "1: a route's path has no blanks"},
        {"[]\n", "1: expected '[route /path/]' (the only section is 'route')"},
        {"[\n", "1: expected '[route /path/]' (a section ends with ']')"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char e[128] = "";
        int rc = parse(&f, bad[i].text, strlen(bad[i].text), e, sizeof e);
        ok(rc == -1 && strncmp(e, bad[i].err, strlen(bad[i].err)) == 0,
           "bad section %zu refused with \"%s\" (got \"%s\")", i, bad[i].err, e);
        conffile_free(&f);
    }
}

/* Every split of a file gives the same entries as the whole: the parser is
 * line-based, so this checks it never reads past len. */
static void test_truncations(void)
{
    static const char text[] = "a = 1\nbb\n#c\nd = \"x\"\n";
    size_t len = sizeof text - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        struct conffile f = {0};
        char err[128] = "";
        int rc = parse(&f, text, cut, err, sizeof err);
        ok(rc == 0, "prefix of %zu bytes parses (%s)", cut, err);
        conffile_free(&f);
    }
}

int main(void)
{
    test_lines();
    test_errors();
    test_sections();
    test_truncations();
    return tap_finish();
}
