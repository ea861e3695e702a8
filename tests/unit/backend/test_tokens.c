#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "backend/tokens.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* Parse from an exactly-sized copy (ASan sees a read past len). */
static int parse(struct token_table *t, const char *text, size_t len, const char *name, char *err,
                 size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = tokens_parse(t, copy, len, name, err, errlen);
    free(copy);
    return rc;
}

static bool entry_is(const struct token_table *t, size_t i, const char *token, const char *host,
                     unsigned port, const char *path)
{
    if (i >= t->n) return false;
    const struct token_entry *e = &t->entries[i];
    return strcmp(e->token, token) == 0 && e->target.is_unix == (path != NULL) &&
           strcmp(e->target.host, host ? host : "") == 0 && e->target.port == port &&
           strcmp(e->target.path, path ? path : "") == 0;
}

static const struct token_entry *find(const struct token_table *t, const char *token)
{
    return tokens_find(t, token, strlen(token));
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- parsing ----------------------------------------------------------------------- */

static void test_parse_valid(void)
{
    static const char text[] = "# websockify token file\n"
                               "\n"
                               "   \t \n"
                               "tok1: host:1\n"
                               "  tok2  :   127.0.0.1:5901   \n"
                               "tok3: unix:/run/vnc.sock\r\n"
                               "tok4: [::1]:5900 # a trailing comment\n"
                               "\t tok5\t:\tvnc.example.com:5\t\r\n"
                               "   # an indented comment\n"
                               "#tok6: host:6\n"
                               "tok7:h:7\r\n"
                               "\r\n"
                               "last: [fe80::1%eth0]:22";
    struct token_table t = {0};
    char err[256] = "";
    int rc = parse(&t, text, sizeof text - 1, "tokens.cfg", err, sizeof err);
    ok(rc == 0 && t.n == 7,
       "a token file with comments, blank lines, CRLF: 7 entries (rc %d, %zu%s%s)", rc, t.n,
       *err ? ", " : "", err);
    ok(entry_is(&t, 0, "tok1", "host", 1, NULL), "\"tok1: host:1\"");
    ok(entry_is(&t, 1, "tok2", "127.0.0.1", 5901, NULL),
       "spaces around the token and the target are trimmed");
    ok(entry_is(&t, 2, "tok3", NULL, 0, "/run/vnc.sock"), "\"token: unix:/path\" with CRLF");
    ok(entry_is(&t, 3, "tok4", "::1", 5900, NULL) &&
           strcmp(t.entries[3].target.name, "[::1]:5900") == 0,
       "a comment after the target is cut, the name is the target as written");
    ok(entry_is(&t, 4, "tok5", "vnc.example.com", 5, NULL),
       "tabs around the token and the target, CRLF");
    ok(entry_is(&t, 5, "tok7", "h", 7, NULL), "no space after the colon");
    ok(entry_is(&t, 6, "last", "fe80::1%eth0", 22, NULL), "a last line without a newline");
    ok(find(&t, "tok6") == NULL && find(&t, "#tok6") == NULL, "a commented-out line is no entry");

    /* websockify splits at ": ", so a token may hold ':' or '#' (a '#' opens a
     * comment only at the start of a line or after a blank). */
    static const char compat[] = "a:b: host:1\nc#d: host:2\nv:1: unix:/s # note\n";
    struct token_table w = {0};
    rc = parse(&w, compat, sizeof compat - 1, "compat", err, sizeof err);
    ok(rc == 0 && w.n == 3 && entry_is(&w, 0, "a:b", "host", 1, NULL) &&
           entry_is(&w, 1, "c#d", "host", 2, NULL) && entry_is(&w, 2, "v:1", NULL, 0, "/s"),
       "tokens with ':' and '#' as websockify reads them (rc %d, %zu entries)", rc, w.n);
    tokens_free(&w);

    /* A second text is appended to the same table. */
    static const char more[] = "tok8: unix:/tmp/s\n";
    rc = parse(&t, more, sizeof more - 1, "more", err, sizeof err);
    ok(rc == 0 && t.n == 8 && entry_is(&t, 7, "tok8", NULL, 0, "/tmp/s") &&
           entry_is(&t, 0, "tok1", "host", 1, NULL),
       "parsing another text appends to the table");
    tokens_free(&t);
    ok(t.n == 0 && t.entries == NULL, "tokens_free empties the table");

    /* Empty and comment-only texts give no entries and no error. */
    static const char *const empty[] = {"",  "\n", "\r\n\r\n", "# only a comment", "  # x\n\n#y\n",
                                        "\t"};
    bool good = true;
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
        if (parse(&t, empty[i], strlen(empty[i]), "e", err, sizeof err) != 0 || t.n != 0)
            good = false;
    ok(good, "empty, blank and comment-only texts give no entries");

    /* The length is honoured: what follows len is not read. */
    rc = parse(&t, "a: h:1\nb: h:2\n", 7, "len", err, sizeof err);
    ok(rc == 0 && t.n == 1 && entry_is(&t, 0, "a", "h", 1, NULL), "only len bytes are parsed");
    tokens_free(&t);
    rc = parse(&t, "a: h:12345", 6, "len", err, sizeof err);
    ok(rc == 0 && t.n == 1 && entry_is(&t, 0, "a", "h", 1, NULL),
       "a target cut by len is parsed as cut");
    tokens_free(&t);
}

/* The error is "<name>:<line>: <reason>", and entries before it are kept. */
static void check_error(const char *text, const char *prefix, const char *reason, size_t kept,
                        const char *what)
{
    struct token_table t = {0};
    char err[256] = "";
    int rc = parse(&t, text, strlen(text), "f.txt", err, sizeof err);
    ok(rc == -1 && starts_with(err, prefix) && strstr(err + strlen(prefix), reason) != NULL &&
           t.n == kept,
       "%s: \"%s\" gives \"%s ...%s...\" and keeps %zu entries (got \"%s\", %zu)", what,
       escn(text, strlen(text)), prefix, reason, kept, err, t.n);
    tokens_free(&t);
}

static void test_parse_errors(void)
{
    check_error("tok1 host 1\n", "f.txt:1: ", "expected 'token: host:port'", 0, "no colon");
    check_error("a: h:1\n\n# c\nnocolon\n", "f.txt:4: ", "expected 'token: host:port'", 1,
                "no colon after blank and comment lines");
    check_error(": host:1\n", "f.txt:1: ", "empty token", 0, "empty token");
    check_error("a: h:1\r\n  \t: host:1\r\n", "f.txt:2: ", "empty token", 1,
                "blank token, CRLF lines");
    check_error("tok:\n", "f.txt:1: ", "missing", 0, "missing target");
    check_error("tok:   \t\r\n", "f.txt:1: ", "missing", 0, "blank target");
    check_error("tok: # comment\n", "f.txt:1: ", "missing", 0, "only a comment after the colon");
    check_error("a: h:1\nb: h:2\ntok: host\n", "f.txt:3: ", "HOST:PORT", 2, "bad target: no port");
    check_error("tok: host:0\n", "f.txt:1: ", "port must be a number", 0, "bad target: port 0");
    check_error("tok: host:65536", "f.txt:1: ", "port must be a number", 0,
                "bad target: port too large, no newline");
    check_error("tok: unix:\n", "f.txt:1: ", "unix socket path", 0, "bad target: empty unix path");
    check_error("tok: ::1:80\n", "f.txt:1: ", "HOST:PORT", 0, "bad target: unbracketed IPv6");
    check_error("tok: ho st:80\n", "f.txt:1: ", "invalid character", 0,
                "bad target: space in the host");

    struct token_table t = {0};
    char err[256] = "";
    static const char nul[] = "a: h:1\nt\0k: h:1\n";
    int rc = parse(&t, nul, sizeof nul - 1, "f.txt", err, sizeof err);
    ok(rc == -1 && starts_with(err, "f.txt:2: ") && t.n == 1,
       "a NUL byte in a line is refused (%s)", err);
    tokens_free(&t);

    char big[600];
    memcpy(big, "tok: ", 5);
    memset(big + 5, 'h', 400);
    memcpy(big + 405, ":80\n", 5);
    rc = parse(&t, big, strlen(big), "f.txt", err, sizeof err);
    ok(rc == -1 && starts_with(err, "f.txt:1: ") && t.n == 0, "an over-long target is refused (%s)",
       err);
    tokens_free(&t);

    /* A small err buffer is terminated, not overrun. */
    char small[12];
    memset(small, 'Z', sizeof small);
    rc = parse(&t, "nocolon", 7, "a-long-file-name", small, 8);
    ok(rc == -1 && memchr(small, '\0', 8) != NULL && small[8] == 'Z',
       "a short err buffer is terminated within its length");
    tokens_free(&t);
}

/* ---- finding ----------------------------------------------------------------------- */

static void test_find(void)
{
    static const char text[] = "alpha: h:1\n"
                               "Alpha: h:2\n"
                               "alphabet: h:3\n"
                               "beta: h:4\n"
                               "alpha: h:5\n"
                               "gamma delta: h:6\n";
    struct token_table t = {0};
    char err[256];
    parse(&t, text, sizeof text - 1, "f", err, sizeof err);
    const struct token_entry *e;

    e = find(&t, "beta");
    ok(e && e->target.port == 4, "an exact token is found");
    e = find(&t, "Alpha");
    ok(e && e->target.port == 2, "tokens are case-sensitive (\"Alpha\")");
    ok(find(&t, "ALPHA") == NULL && find(&t, "BETA") == NULL, "no case-insensitive match");
    e = find(&t, "alpha");
    ok(e && e->target.port == 5, "a later duplicate wins (got port %u)", e ? e->target.port : 0);
    e = find(&t, "alphabet");
    ok(e && e->target.port == 3, "a token that extends another is its own entry");
    ok(find(&t, "alph") == NULL && find(&t, "bet") == NULL && find(&t, "b") == NULL,
       "a prefix of a token is not a match");
    ok(find(&t, "betax") == NULL && find(&t, "alphabets") == NULL,
       "a token plus more is not a match");
    ok(find(&t, "") == NULL && tokens_find(&t, "beta", 0) == NULL, "the empty token is no match");
    e = tokens_find(&t, "betamax", 4);
    ok(e && e->target.port == 4, "the length decides, not a terminator (\"betamax\", 4)");
    e = tokens_find(&t, "alphabet", 5);
    ok(e && e->target.port == 5, "\"alphabet\" cut to 5 bytes is \"alpha\"");
    e = find(&t, "gamma delta");
    ok(e && e->target.port == 6, "a token with an inner space");
    tokens_free(&t);
    ok(find(&t, "alpha") == NULL, "nothing is found in an empty table");
}

/* ---- files and directories --------------------------------------------------------- */

static char tmpdir[64];

static char *path_of(const char *rel)
{
    static char slots[4][512];
    static int next;
    char *p = slots[next++ & 3];
    snprintf(p, sizeof slots[0], "%s/%s", tmpdir, rel);
    return p;
}

static bool write_file(const char *rel, const char *content)
{
    FILE *f = fopen(path_of(rel), "w");
    if (!f) return false;
    bool good = fputs(content, f) >= 0;
    return fclose(f) == 0 && good;
}

/* Give a file a distinct modification time without touching its content. */
static bool set_mtime(const char *rel, time_t sec)
{
    struct timespec ts[2] = {{.tv_sec = sec, .tv_nsec = 0}, {.tv_sec = sec, .tv_nsec = 0}};
    return utimensat(AT_FDCWD, path_of(rel), ts, 0) == 0;
}

static char warnings[1024];
static int nwarnings;

static void collect_warning(const char *msg)
{
    nwarnings++;
    size_t have = strlen(warnings);
    snprintf(warnings + have, sizeof warnings - have, "%s|", msg);
}

static void test_load_file(void)
{
    struct token_table t = {0};
    char err[600] = "";
    ok(write_file("single", "# one file\nvnc: 127.0.0.1:5900\nsock: unix:/run/vnc.sock\n"),
       "write a token file");
    nwarnings = 0;
    int rc = tokens_load(path_of("single"), &t, err, sizeof err, collect_warning);
    ok(rc == 0 && t.n == 2 && find(&t, "vnc") && find(&t, "sock") && t.entries[0].resolved &&
           t.entries[1].resolved && nwarnings == 0,
       "tokens_load on a file: two entries, both resolved (%s)", err);
    const struct token_entry *e = find(&t, "vnc");
    ok(e && e->target.naddrs == 1 && e->target.addrs[0].ss_family == AF_INET,
       "a loaded host target carries its address");
    tokens_free(&t);

    ok(write_file("unresolvable", "good: 127.0.0.1:1\nbad: no-such-host.invalid:80\n"),
       "write a token file with a target that does not resolve");
    warnings[0] = '\0';
    nwarnings = 0;
    rc = tokens_load(path_of("unresolvable"), &t, err, sizeof err, collect_warning);
    e = find(&t, "bad");
    ok(rc == 0 && t.n == 2 && e && !e->resolved && find(&t, "good") && find(&t, "good")->resolved,
       "a target that does not resolve is kept, marked unresolved");
    ok(nwarnings == 1 && strstr(warnings, "bad") && strstr(warnings, "no-such-host.invalid"),
       "and reported once through warn() naming the token and the host (%s)", warnings);
    tokens_free(&t);
    rc = tokens_load(path_of("unresolvable"), &t, err, sizeof err, NULL);
    ok(rc == 0 && t.n == 2, "warn may be NULL");
    tokens_free(&t);

    ok(write_file("broken", "a: h:1\nb: h:2\nc: h\n"), "write a token file with an error");
    rc = tokens_load(path_of("broken"), &t, err, sizeof err, collect_warning);
    char want[600];
    snprintf(want, sizeof want, "%s:3: ", path_of("broken"));
    ok(rc == -1 && starts_with(err, want) && t.n == 0 && t.entries == NULL,
       "an error in a file: \"<path>:3: ...\", and the table is left empty (%s)", err);

    rc = tokens_load(path_of("missing"), &t, err, sizeof err, collect_warning);
    ok(rc == -1 && strstr(err, path_of("missing")) && strstr(err, strerror(ENOENT)),
       "a missing path fails with the path and the reason (%s)", err);

    ok(write_file("empty", ""), "write an empty token file");
    rc = tokens_load(path_of("empty"), &t, err, sizeof err, collect_warning);
    ok(rc == 0 && t.n == 0, "an empty file loads as an empty table");
    tokens_free(&t);

    ok(mkfifo(path_of("fifo"), 0600) == 0, "make a FIFO");
    rc = tokens_load(path_of("fifo"), &t, err, sizeof err, collect_warning);
    ok(rc == -1 && *err, "tokens_load on a FIFO fails without blocking (%s)", err);
}

static void test_load_dir(void)
{
    struct token_table t = {0};
    char err[600] = "";
    /* Created out of name order; name order is "10" < "2" < "a". */
    ok(mkdir(path_of("dir"), 0700) == 0 &&
           write_file("dir/a", "dup: 127.0.0.1:3\nfroma: 127.0.0.1:30\n") &&
           write_file("dir/2", "dup: 127.0.0.1:2\nfrom2: 127.0.0.1:20\n") &&
           write_file("dir/10", "dup: 127.0.0.1:1\nfrom10: unix:/s10\n") &&
           write_file("dir/.hidden", "this is not a token file\n") &&
           write_file("dir/.dup", "dup: 127.0.0.1:99\n") && mkdir(path_of("dir/sub"), 0700) == 0 &&
           write_file("dir/sub/x", "dup: 127.0.0.1:98\n") && mkfifo(path_of("dir/pipe"), 0600) == 0,
       "make a token directory with 3 files, 2 hidden ones, a subdirectory and a FIFO");
    int rc = tokens_load(path_of("dir"), &t, err, sizeof err, collect_warning);
    ok(rc == 0 && t.n == 6, "tokens_load on the directory: 6 entries (rc %d, %zu, %s)", rc, t.n,
       err);
    ok(entry_is(&t, 0, "dup", "127.0.0.1", 1, NULL) && entry_is(&t, 1, "from10", NULL, 0, "/s10") &&
           entry_is(&t, 2, "dup", "127.0.0.1", 2, NULL) &&
           entry_is(&t, 3, "from2", "127.0.0.1", 20, NULL) &&
           entry_is(&t, 4, "dup", "127.0.0.1", 3, NULL) &&
           entry_is(&t, 5, "froma", "127.0.0.1", 30, NULL),
       "files are read in name order (\"10\", \"2\", \"a\")");
    const struct token_entry *e = find(&t, "dup");
    ok(e && e->target.port == 3, "the last file in name order wins a duplicate (port %u)",
       e ? e->target.port : 0);
    tokens_free(&t);

    ok(write_file("dir/b", "ok: 127.0.0.1:1\n\nbad line\n"), "add a file with an error");
    rc = tokens_load(path_of("dir"), &t, err, sizeof err, collect_warning);
    char want[600];
    snprintf(want, sizeof want, "%s:3: ", path_of("dir/b"));
    ok(rc == -1 && starts_with(err, want) && t.n == 0,
       "an error in one file of a directory names that file and line (%s)", err);
    unlink(path_of("dir/b"));

    ok(mkdir(path_of("emptydir"), 0700) == 0, "make an empty directory");
    rc = tokens_load(path_of("emptydir"), &t, err, sizeof err, collect_warning);
    ok(rc == 0 && t.n == 0, "an empty directory loads as an empty table");
    tokens_free(&t);
}

static void test_fingerprint(void)
{
    ok(write_file("fp", "a: unix:/1\n") && set_mtime("fp", 1000000000),
       "write a file for fingerprints");
    uint64_t f0 = tokens_fingerprint(path_of("fp"));
    ok(tokens_fingerprint(path_of("fp")) == f0, "file: the fingerprint is stable");
    struct token_table t = {0};
    char err[600];
    tokens_load(path_of("fp"), &t, err, sizeof err, NULL);
    tokens_free(&t);
    ok(tokens_fingerprint(path_of("fp")) == f0, "file: reading it does not change the fingerprint");
    write_file("fp", "a: unix:/12\n");
    set_mtime("fp", 1000000000);
    uint64_t f1 = tokens_fingerprint(path_of("fp"));
    ok(f1 != f0, "file: new content of another size changes it");
    set_mtime("fp", 1000000001);
    uint64_t f2 = tokens_fingerprint(path_of("fp"));
    ok(f2 != f1, "file: a new mtime alone changes it");
    write_file("fp", "a: unix:/21\n");
    set_mtime("fp", 1000000002);
    uint64_t f3 = tokens_fingerprint(path_of("fp"));
    ok(f3 != f2, "file: new content of the same size with a new mtime changes it");

    ok(mkdir(path_of("fpdir"), 0700) == 0 && write_file("fpdir/one", "a: unix:/1\n") &&
           write_file("fpdir/two", "b: unix:/2\n") && set_mtime("fpdir/one", 1000000000) &&
           set_mtime("fpdir/two", 1000000000),
       "make a directory for fingerprints");
    uint64_t d0 = tokens_fingerprint(path_of("fpdir"));
    ok(tokens_fingerprint(path_of("fpdir")) == d0, "directory: the fingerprint is stable");
    tokens_load(path_of("fpdir"), &t, err, sizeof err, NULL);
    tokens_free(&t);
    ok(tokens_fingerprint(path_of("fpdir")) == d0,
       "directory: loading it does not change the fingerprint");

    /* In-place changes leave the directory's own mtime alone: only the
     * entries' stat tells. */
    write_file("fpdir/one", "a: unix:/100\n");
    set_mtime("fpdir/one", 1000000000);
    uint64_t d1 = tokens_fingerprint(path_of("fpdir"));
    ok(d1 != d0, "directory: a file's new content changes it");
    set_mtime("fpdir/two", 1000000005);
    uint64_t d2 = tokens_fingerprint(path_of("fpdir"));
    ok(d2 != d1, "directory: a file's new mtime changes it");
    ok(write_file("fpdir/three", "c: unix:/3\n"), "add a file");
    uint64_t d3 = tokens_fingerprint(path_of("fpdir"));
    ok(d3 != d2, "directory: an added file changes it");
    ok(tokens_fingerprint(path_of("fpdir")) == d3, "directory: stable again after the change");
    unlink(path_of("fpdir/three"));
    ok(tokens_fingerprint(path_of("fpdir")) != d3, "directory: a removed file changes it");

    uint64_t m0 = tokens_fingerprint(path_of("nothing"));
    ok(tokens_fingerprint(path_of("nothing")) == m0, "missing path: the fingerprint is stable");
    write_file("nothing", "a: unix:/1\n");
    ok(tokens_fingerprint(path_of("nothing")) != m0, "missing path: appearing changes it");
}

static void remove_tree(const char *rel)
{
    static const char *const names[] = {"a", "2", "10", ".hidden", ".dup", "pipe", "one", "two"};
    char sub[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(sub, sizeof sub, "%s/%s", rel, names[i]);
        unlink(path_of(sub));
    }
    snprintf(sub, sizeof sub, "%s/sub/x", rel);
    unlink(path_of(sub));
    snprintf(sub, sizeof sub, "%s/sub", rel);
    rmdir(path_of(sub));
    rmdir(path_of(rel));
}

int main(void)
{
    test_parse_valid();
    test_parse_errors();
    test_find();

    strcpy(tmpdir, "/tmp/test_tokens.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        ok(0, "mkdtemp: %s", strerror(errno));
        return tap_finish();
    }
    test_load_file();
    test_load_dir();
    test_fingerprint();

    static const char *const files[] = {"single", "unresolvable", "broken", "empty",
                                        "fifo",   "fp",           "nothing"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(path_of(files[i]));
    remove_tree("dir");
    remove_tree("emptydir");
    remove_tree("fpdir");
    int rc = rmdir(tmpdir);
    ok(rc == 0, "the temporary directory is removed clean (%s)", rc ? strerror(errno) : tmpdir);
    return tap_finish();
}
