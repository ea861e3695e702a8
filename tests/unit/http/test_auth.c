#include "autoconfig.h"

#include <crypt.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/auth.h"
#include "proto/base64.h"
#include "../tap.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* Published vectors: Drepper's SHA-crypt specification and OpenBSD's bcrypt tests. */
static const char sha512_vector[] = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBn"
                                    "IFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
static const char sha512_vector_pw[] = "Hello world!";
static const char bcrypt_vector[] = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
static const char bcrypt_vector_pw[] = "U*U";

/* A fresh crypt(3) hash of pw with a random salt; "" when the method is
 * missing (then every check that uses it fails). */
static const char *make_hash(const char *prefix, unsigned long count, const char *pw)
{
    static char slots[8][CRYPT_OUTPUT_SIZE];
    static int next;
    char *out = slots[next++ & 7];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = calloc(1, sizeof *cd);
    const char *h = NULL;
    out[0] = '\0';
    if (cd && crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof setting))
        h = crypt_rn(pw, setting, cd, sizeof *cd);
    if (h && h[0] != '*' && strlen(h) < CRYPT_OUTPUT_SIZE) strcpy(out, h);
    free(cd);
    return out;
}

/* Parse from an exactly-sized copy (ASan sees a read past len). */
static int parse(struct auth_table *t, const char *text, size_t len, const char *name, char *err,
                 size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    err[0] = '\0';
    int rc = auth_parse_htpasswd(t, copy, len, name, err, errlen);
    free(copy);
    return rc;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const struct auth_user *user_at(const struct auth_table *t, const char *name)
{
    const struct auth_user *u = NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->users[i].name, name) == 0) u = &t->users[i];
    return u;
}

/* auth_check gives the named user for the right password and nothing for a wrong one. */
static bool accepts(struct auth_table *t, const char *user, const char *pass)
{
    const struct auth_user *u = auth_check(t, user, pass);
    return u && u == user_at(t, user);
}

/* ---- plain users ------------------------------------------------------------------- */

static void test_plain(void)
{
    struct auth_table t = {0};
    char err[256] = "";
    ok(auth_add_plain(&t, "alice:secret", err, sizeof err) == 0 && t.n == 1 &&
           strcmp(t.users[0].name, "alice") == 0 && strcmp(t.users[0].secret, "secret") == 0 &&
           !t.users[0].hashed,
       "auth_add_plain \"alice:secret\"");
    ok(auth_add_plain(&t, "bob:", err, sizeof err) == 0 && t.n == 2 &&
           strcmp(t.users[1].secret, "") == 0,
       "\"bob:\": an empty password");
    ok(auth_add_plain(&t, "carol:a:b c", err, sizeof err) == 0 && t.n == 3 &&
           strcmp(t.users[2].name, "carol") == 0 && strcmp(t.users[2].secret, "a:b c") == 0,
       "\"carol:a:b c\": the password holds ':' and ' '");

    static const char *const bad[] = {"nocolon", ":pw", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = auth_add_plain(&t, bad[i], err, sizeof err);
        ok(rc == -1 && strstr(err, "expected user:password") && t.n == 3,
           "auth_add_plain \"%s\" is refused (%s)", bad[i], err);
    }

    ok(accepts(&t, "alice", "secret"), "plain: the right password");
    ok(!auth_check(&t, "alice", "Secret") && !auth_check(&t, "alice", "secre") &&
           !auth_check(&t, "alice", "secret ") && !auth_check(&t, "alice", ""),
       "plain: wrong, shorter, longer and empty passwords are refused");
    ok(!auth_check(&t, "Alice", "secret") && !auth_check(&t, "alic", "secret") &&
           !auth_check(&t, "mallory", "secret") && !auth_check(&t, "", "secret"),
       "plain: unknown users (user names are case-sensitive)");
    ok(accepts(&t, "bob", "") && !auth_check(&t, "bob", "x"),
       "plain: an empty password is accepted only as empty");
    ok(accepts(&t, "carol", "a:b c") && !auth_check(&t, "carol", "a"),
       "plain: a password holding ':'");
    ok(!auth_check(&t, "alice", "bob") && !auth_check(&t, "bob", "secret"),
       "plain: another user's password is refused");

    auth_free(&t);
    ok(t.n == 0 && t.users == NULL && t.cache_used == 0, "auth_free empties the table");
    ok(!auth_check(&t, "alice", "secret"), "nothing is accepted from an empty table");
}

/* ---- htpasswd ---------------------------------------------------------------------- */

static void test_htpasswd(void)
{
    char err[256] = "";
    struct crypt_data *cd = calloc(1, sizeof *cd);
    const char *v = cd ? crypt_rn(sha512_vector_pw, sha512_vector, cd, sizeof *cd) : NULL;
    ok(v && strcmp(v, sha512_vector) == 0, "libcrypt reproduces the published $6$ vector");
    v = cd ? crypt_rn(bcrypt_vector_pw, bcrypt_vector, cd, sizeof *cd) : NULL;
    ok(v && strcmp(v, bcrypt_vector) == 0, "libcrypt reproduces the published $2b$ vector");
    free(cd);

    const char *h2y = make_hash("$2y$", 4, "pw-2y"), *h2b = make_hash("$2b$", 4, "pw-2b");
    const char *h6 = make_hash("$6$", 0, "pw-6 with spaces"), *hy = make_hash("$y$", 0, "pw-y");
    ok(starts_with(h2y, "$2y$04$") && starts_with(h2b, "$2b$04$") && starts_with(h6, "$6$") &&
           starts_with(hy, "$y$"),
       "generate $2y$, $2b$, $6$ and $y$ hashes (%s, %s, %s, %s)", h2y, h2b, h6, hy);

    char text[2048];
    snprintf(text, sizeof text,
             "# htpasswd\n"
             "\n"
             "alice:%s\n"
             "   \t\r\n"
             "bob:%s\r\n"
             "  # an indented comment\n"
             "carol:%s   \n"
             "\tdave:%s\t\r\n"
             "hello:%s\n"
             "ucu:%s:Apache's extra field\n"
             "#nobody:%s\n"
             "last:%s",
             h2y, h2b, h6, hy, sha512_vector, bcrypt_vector, h6, h6);
    struct auth_table t = {0};
    int rc = parse(&t, text, strlen(text), "users.htpasswd", err, sizeof err);
    ok(rc == 0 && t.n == 7,
       "an htpasswd text with comments, blank lines, CRLF: 7 users (rc %d, %zu%s%s)", rc, t.n,
       *err ? ", " : "", err);
    const struct auth_user *u = user_at(&t, "alice");
    ok(u && u->hashed && strcmp(u->secret, h2y) == 0, "alice: the $2y$ hash as written");
    u = user_at(&t, "dave");
    ok(u && u->hashed && strcmp(u->secret, hy) == 0, "dave: blanks and CRLF around are trimmed");
    u = user_at(&t, "ucu");
    ok(u && strcmp(u->secret, bcrypt_vector) == 0, "ucu: the hash ends at a second ':'");
    ok(user_at(&t, "#nobody") == NULL && user_at(&t, "nobody") == NULL,
       "a commented-out line is no user");

    ok(accepts(&t, "alice", "pw-2y") && !auth_check(&t, "alice", "pw-2b"), "bcrypt $2y$");
    ok(accepts(&t, "bob", "pw-2b") && !auth_check(&t, "bob", "pw-2y"), "bcrypt $2b$");
    ok(accepts(&t, "carol", "pw-6 with spaces") && !auth_check(&t, "carol", "pw-6"),
       "sha512crypt $6$");
    ok(accepts(&t, "dave", "pw-y") && !auth_check(&t, "dave", "pw-Y"), "yescrypt $y$");
    ok(accepts(&t, "hello", sha512_vector_pw) && !auth_check(&t, "hello", "Hello world"),
       "the published $6$ vector");
    ok(accepts(&t, "ucu", bcrypt_vector_pw) && !auth_check(&t, "ucu", "U*V"),
       "the published $2b$ vector, with an extra field");
    ok(accepts(&t, "last", "pw-6 with spaces"), "a last line without a newline");
    ok(!auth_check(&t, "alice", h2y), "the hash itself is not the password");
    ok(!auth_check(&t, "nobody", "x") && !auth_check(&t, "ALICE", "pw-2y"), "unknown users");

    /* A second text is appended; the later duplicate wins, also over a plain user. */
    const char *ha = make_hash("$6$", 0, "first"), *hb = make_hash("$6$", 0, "second");
    snprintf(text, sizeof text, "dup:%s\ndup:%s\n", ha, hb);
    rc = parse(&t, text, strlen(text), "more", err, sizeof err);
    ok(rc == 0 && t.n == 9, "a second text appends to the table (%zu users)", t.n);
    ok(accepts(&t, "dup", "second") && !auth_check(&t, "dup", "first"),
       "the later duplicate line wins");
    ok(auth_add_plain(&t, "dup:third", err, sizeof err) == 0 && accepts(&t, "dup", "third") &&
           !auth_check(&t, "dup", "second"),
       "a later plain user wins over an htpasswd line");
    auth_free(&t);

    /* Empty and comment-only texts. */
    static const char *const empty[] = {"", "\n", "\r\n\r\n", "# c", "  # x\n\n#y\n", "\t"};
    bool good = true;
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
        if (parse(&t, empty[i], strlen(empty[i]), "e", err, sizeof err) != 0 || t.n != 0)
            good = false;
    ok(good, "empty, blank and comment-only texts give no users");

    /* Only len bytes are read. */
    snprintf(text, sizeof text, "a:%s\nb:nonsense\n", h6);
    rc = parse(&t, text, 3 + strlen(h6), "len", err, sizeof err);
    ok(rc == 0 && t.n == 1 && accepts(&t, "a", "pw-6 with spaces"), "only len bytes are parsed");
    auth_free(&t);

    /* crypt_checksalt() calls md5crypt and sha256crypt legacy; crypt_rn still
     * checks them, so they are accepted (old DES is not). */
    const char *h1 = make_hash("$1$", 0, "pw-1"), *h5 = make_hash("$5$", 0, "pw-5");
    snprintf(text, sizeof text, "md5:%s\n", h1);
    rc = parse(&t, text, strlen(text), "f", err, sizeof err);
    ok(starts_with(h1, "$1$") && rc == 0 && t.n == 1 && accepts(&t, "md5", "pw-1") &&
           !auth_check(&t, "md5", "pw-5"),
       "auth_parse_htpasswd: a md5crypt $1$ line is accepted and checked (%s, rc %d, \"%s\")", h1,
       rc, err);
    auth_free(&t);
    snprintf(text, sizeof text, "sha256:%s\n", h5);
    rc = parse(&t, text, strlen(text), "f", err, sizeof err);
    ok(starts_with(h5, "$5$") && rc == 0 && t.n == 1 && accepts(&t, "sha256", "pw-5"),
       "auth_parse_htpasswd: a sha256crypt $5$ line is accepted and checked (rc %d, \"%s\")", rc,
       err);
    auth_free(&t);
}

/* The error is "<name>:<line>: <reason>". */
static void check_error(const char *text, size_t len, const char *prefix, const char *reason,
                        const char *what)
{
    struct auth_table t = {0};
    char err[256] = "";
    int rc = parse(&t, text, len, "f.htpasswd", err, sizeof err);
    ok(rc == -1 && starts_with(err, prefix) && strstr(err + strlen(prefix), reason) != NULL,
       "%s: \"%s\" gives \"%s ...%s...\" (got \"%s\")", what, escn(text, len), prefix, reason, err);
    auth_free(&t);
}

static void test_htpasswd_errors(void)
{
    const char *h6 = make_hash("$6$", 0, "x");
    char text[1024];
#define CHECK_ERROR(s, prefix, reason, what) check_error(s, strlen(s), prefix, reason, what)
    CHECK_ERROR("nocolon\n", "f.htpasswd:1: ", "expected user:hash", "no colon");
    snprintf(text, sizeof text, "# c\n\nalice:%s\r\nbad line\n", h6);
    CHECK_ERROR(text, "f.htpasswd:4: ", "expected user:hash",
                "no colon after comment, blank and CRLF lines");
    snprintf(text, sizeof text, ":%s\n", h6);
    CHECK_ERROR(text, "f.htpasswd:1: ", "expected user:hash", "empty user");
    snprintf(text, sizeof text, "a:%s\n  \t:%s\n", h6, h6);
    CHECK_ERROR(text, "f.htpasswd:2: ", "expected user:hash", "a blank user");
    CHECK_ERROR("user:\n", "f.htpasswd:1: ", "missing or too long hash", "missing hash");
    CHECK_ERROR("user:  \t\r\n", "f.htpasswd:1: ", "missing or too long hash", "blank hash");
    CHECK_ERROR("user::extra\n", "f.htpasswd:1: ", "missing or too long hash",
                "an empty hash before an extra field");
    char longhash[400] = "user:$6$";
    memset(longhash + 8, 'a', 300);
    longhash[308] = '\0';
    CHECK_ERROR(longhash, "f.htpasswd:1: ", "missing or too long hash", "a 303-byte hash");
    CHECK_ERROR("apache:$apr1$Vq8wNcVF$5rVbTQb4Xn1dQzq2oN5n/.\n",
                "f.htpasswd:1: ", "use bcrypt: htpasswd -B", "Apache's $apr1$ (htpasswd -m)");
    CHECK_ERROR("sha:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n",
                "f.htpasswd:1: ", "use bcrypt: htpasswd -B", "Apache's {SHA} (htpasswd -s)");
    CHECK_ERROR("bad:$6$ab!d$xyz\n", "f.htpasswd:1: ", "use bcrypt: htpasswd -B",
                "a malformed setting ($6$ with '!')");
    CHECK_ERROR("bad:$9$abc\n", "f.htpasswd:1: ", "use bcrypt: htpasswd -B", "an unknown method");
    CHECK_ERROR("bob:secret\n", "f.htpasswd:1: ", "use bcrypt: htpasswd -B",
                "a plain-text password");
    snprintf(text, sizeof text, "ok:%s\n\n#\nbad:$2y$05$abc def\n", h6);
    CHECK_ERROR(text, "f.htpasswd:4: ", "use bcrypt: htpasswd -B",
                "a space inside a bcrypt setting, line 4");
#undef CHECK_ERROR

    static const char nul[] = "a\0b:$6$abc\n";
    check_error(nul, sizeof nul - 1, "f.htpasswd:1: ", "expected user:hash", "a NUL in the user");
    static const char nul2[] = "ab:$6$a\0c\n";
    check_error(nul2, sizeof nul2 - 1, "f.htpasswd:1: ", "expected user:hash", "a NUL in the hash");

    struct auth_table t = {0};
    char small[12];
    memset(small, 'Z', sizeof small);
    int rc = auth_parse_htpasswd(&t, "nocolon", 7, "a-long-file-name", small, 8);
    ok(rc == -1 && memchr(small, '\0', 8) && small[8] == 'Z',
       "a short err buffer is terminated within its length");
    auth_free(&t);
}

static void test_load(void)
{
    char dir[] = "/tmp/test_auth.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    char path[64], err[512] = "";
    snprintf(path, sizeof path, "%s/htpasswd", dir);
    FILE *f = fopen(path, "w");
    bool wrote = f && fprintf(f, "# file\nu:%s\n", make_hash("$6$", 0, "file-pw")) > 0;
    if (f) wrote = fclose(f) == 0 && wrote;
    struct auth_table t = {0};
    ok(wrote && auth_load_htpasswd(&t, path, err, sizeof err) == 0 && t.n == 1 &&
           accepts(&t, "u", "file-pw"),
       "auth_load_htpasswd reads a file (%s)", err);
    auth_free(&t);

    f = fopen(path, "w");
    wrote = f && fputs("u:x\n", f) >= 0;
    if (f) wrote = fclose(f) == 0 && wrote;
    char want[128];
    snprintf(want, sizeof want, "%s:1: ", path);
    ok(wrote && auth_load_htpasswd(&t, path, err, sizeof err) == -1 && starts_with(err, want),
       "an error in a file names the path and line (%s)", err);
    auth_free(&t);
    unlink(path);

    ok(auth_load_htpasswd(&t, path, err, sizeof err) == -1 && strstr(err, path) &&
           strstr(err, strerror(ENOENT)),
       "a missing file: the path and the reason (%s)", err);
    ok(auth_load_htpasswd(&t, dir, err, sizeof err) == -1 && strstr(err, "regular file"),
       "a directory is refused (%s)", err);
    ok(rmdir(dir) == 0, "the temporary directory is removed clean");
}

/* ---- the cache --------------------------------------------------------------------- */

static void test_cache(void)
{
    struct auth_table t = {0};
    char err[256];
    char text[512];
    snprintf(text, sizeof text, "hashed:%s\n", make_hash("$2y$", 4, "bcrypt-pw"));
    parse(&t, text, strlen(text), "c", err, sizeof err);
    auth_add_plain(&t, "plain:plain-pw", err, sizeof err);
    auth_add_plain(&t, "ab:c", err, sizeof err);
    auth_add_plain(&t, "a:zzz", err, sizeof err);
    ok(t.n == 4 && t.cache_used == 0 && t.cache_next == 0, "a new table has an empty cache");

    ok(accepts(&t, "hashed", "bcrypt-pw") && t.cache_used == 1 && t.cache_next == 1,
       "an accepted password is cached (used %zu, next %zu)", t.cache_used, t.cache_next);
    ok(accepts(&t, "hashed", "bcrypt-pw") && t.cache_used == 1 && t.cache_next == 1,
       "a second check of it is answered from the cache (used %zu, next %zu)", t.cache_used,
       t.cache_next);

    /* With the hash swapped for one nothing matches, only the cache can accept. */
    struct auth_user *h = &t.users[0];
    char *saved = h->secret;
    h->secret = strdup("$6$nothing$matches");
    ok(h->secret && accepts(&t, "hashed", "bcrypt-pw"),
       "the cached credential is accepted without running crypt(3)");
    ok(!auth_check(&t, "hashed", "bcrypt-pwx") && t.cache_used == 1,
       "a wrong password is still checked against the hash");

    ok(!auth_check(&t, "plain", "wrong") && !auth_check(&t, "plain", "wrong") &&
           t.cache_used == 1 && t.cache_next == 1,
       "wrong passwords are never cached");
    ok(!auth_check(&t, "nobody", "x") && t.cache_used == 1, "unknown users are never cached");
    ok(accepts(&t, "ab", "c") && t.cache_used == 2 && !auth_check(&t, "a", "bc"),
       "the cache keeps user and password apart (\"ab\"+\"c\" is not \"a\"+\"bc\")");
    ok(!auth_check(&t, "plain", "bcrypt-pw"), "a cached password is not accepted for another user");

    ok(auth_add_plain(&t, "new:user", err, sizeof err) == 0 && t.cache_used == 0,
       "adding a user resets the cache");
    ok(!auth_check(&t, "hashed", "bcrypt-pw"),
       "after the reset, the password is checked against the (swapped) hash again");
    h = &t.users[0]; /* adding a user may have moved the table */
    free(h->secret);
    h->secret = saved;
    ok(accepts(&t, "hashed", "bcrypt-pw") && t.cache_used == 1, "and cached again");
    snprintf(text, sizeof text, "more:%s\n", make_hash("$6$", 0, "m"));
    ok(parse(&t, text, strlen(text), "c", err, sizeof err) == 0 && t.cache_used == 0,
       "parsing more htpasswd lines resets the cache");
    auth_free(&t);

    /* The ring: at most AUTH_CACHE entries, the oldest overwritten. */
    char spec[32], user[16], pass[16];
    for (int i = 0; i < AUTH_CACHE + 6; i++) {
        snprintf(spec, sizeof spec, "u%d:p%d", i, i);
        auth_add_plain(&t, spec, err, sizeof err);
    }
    size_t accepted = 0;
    for (int i = 0; i < AUTH_CACHE + 6; i++) {
        snprintf(user, sizeof user, "u%d", i);
        snprintf(pass, sizeof pass, "p%d", i);
        if (accepts(&t, user, pass)) accepted++;
    }
    ok(accepted == AUTH_CACHE + 6 && t.cache_used == AUTH_CACHE && t.cache_next == 6,
       "%d accepted users fill the ring of %d (used %zu, next %zu)", AUTH_CACHE + 6, AUTH_CACHE,
       t.cache_used, t.cache_next);
    auth_free(&t);
}

/* ---- auth_parse_basic -------------------------------------------------------------- */

/* "Basic " plus the base64 of n bytes of creds. */
static char *basic(const char *scheme, const char *creds, size_t n)
{
    static char out[8192];
    size_t sl = strlen(scheme);
    memcpy(out, scheme, sl);
    base64_encode((const uint8_t *)creds, n, out + sl);
    out[sl + base64_encoded_len(n)] = '\0';
    return out;
}

/* On an exactly-sized copy, into buffers of ucap and pcap bytes. */
static bool parse_basic(const char *value, size_t ucap, size_t pcap, char *user, char *pass)
{
    size_t len = strlen(value);
    char *copy = malloc(len ? len : 1);
    char *u = malloc(ucap ? ucap : 1), *p = malloc(pcap ? pcap : 1);
    memcpy(copy, value, len);
    bool r = auth_parse_basic(copy, len, u, ucap, p, pcap);
    if (r) {
        snprintf(user, 4096, "%s", u);
        snprintf(pass, 4096, "%s", p);
    }
    free(copy);
    free(u);
    free(p);
    return r;
}

static void check_basic(const char *value, const char *want_user, const char *want_pass,
                        const char *what)
{
    char user[4096] = "", pass[4096] = "";
    bool r = parse_basic(value, 256, 256, user, pass);
    if (want_user)
        ok(r && strcmp(user, want_user) == 0 && strcmp(pass, want_pass) == 0,
           "%s: \"%s\" is %s / %s (got %s, \"%s\" / \"%s\")", what, escn(value, strlen(value)),
           want_user, want_pass, r ? "true" : "false", user, pass);
    else
        ok(!r, "%s: \"%s\" is refused", what, escn(value, strlen(value)));
}

static void test_basic(void)
{
    check_basic("Basic dXNlcjpwYXNz", "user", "pass", "the RFC 7617 form");
    check_basic("basic dXNlcjpwYXNz", "user", "pass", "a lower-case scheme");
    check_basic("BASIC dXNlcjpwYXNz", "user", "pass", "an upper-case scheme");
    check_basic("Basic    dXNlcjpwYXNz", "user", "pass", "extra spaces after the scheme");
    check_basic(basic("Basic ", "a:b:c", 5), "a", "b:c", "a password holding ':'");
    check_basic(basic("Basic ", "user:", 5), "user", "", "an empty password");
    check_basic(basic("Basic ", "Aladdin:open sesame", 19), "Aladdin", "open sesame",
                "RFC 7617's example");
    check_basic(basic("Basic ", "\xc3\xa9t\xc3\xa9:\xe2\x82\xac", 9), "\xc3\xa9t\xc3\xa9",
                "\xe2\x82\xac", "UTF-8 user and password");
    check_basic(basic("Basic ", "user", 4), NULL, NULL, "no colon");
    check_basic(basic("Basic ", "us\0er:pw", 8), NULL, NULL, "a NUL in the user");
    check_basic(basic("Basic ", "user:p\0w", 8), NULL, NULL, "a NUL in the password");
    check_basic("Basic dXNlcjpwYXNz!", NULL, NULL, "a character outside the alphabet");
    check_basic("Basic dXNlcjpwYXN", NULL, NULL, "not a whole quartet");
    check_basic("Basic dXNlcjo=dXNl", NULL, NULL, "data after the padding");
    check_basic("Basic dXNl cjpwYXNz", NULL, NULL, "a space inside the token");
    check_basic("Basic dXNlcjpwYXNz\t", NULL, NULL, "a tab after the token");
    check_basic("Basic ", NULL, NULL, "no token");
    check_basic("Basic    ", NULL, NULL, "only spaces");
    check_basic("Basic", NULL, NULL, "only the scheme");
    check_basic("", NULL, NULL, "empty");
    check_basic("Basic\tdXNlcjpwYXNz", NULL, NULL, "a tab after the scheme");
    check_basic("Bearer dXNlcjpwYXNz", NULL, NULL, "another scheme");
    check_basic("Basicx dXNlcjpwYXNz", NULL, NULL, "a longer scheme name");
    check_basic("dXNlcjpwYXNz", NULL, NULL, "no scheme");

    /* The buffers: a user or password must fit with its terminator. */
    char user[4096], pass[4096];
    const char *v = basic("Basic ", "user:pass", 9);
    ok(parse_basic(v, 5, 5, user, pass) && strcmp(user, "user") == 0 && strcmp(pass, "pass") == 0,
       "a user and a password that just fit (4 bytes each, 5-byte buffers)");
    ok(!parse_basic(v, 4, 5, user, pass), "a user one byte too long for its buffer is refused");
    ok(!parse_basic(v, 5, 4, user, pass), "a password one byte too long for its buffer is refused");
    v = basic("Basic ", ":", 1);
    ok(parse_basic(v, 1, 1, user, pass) && user[0] == '\0' && pass[0] == '\0',
       "empty user and password fit 1-byte buffers");

    /* Length limits: 4096 base64 characters at most. */
    static char creds[3100];
    memset(creds, 'p', sizeof creds);
    creds[0] = 'u';
    creds[1] = ':';
    v = basic("Basic ", creds, 3072); /* exactly 4096 characters */
    ok(strlen(v) == 6 + 4096 && parse_basic(v, 8, 4096, user, pass) && strlen(pass) == 3070,
       "a 4096-character token is decoded");
    v = basic("Basic ", creds, 3075);
    ok(!parse_basic(v, 8, 4096, user, pass), "a 4100-character token is refused");

    /* Only len bytes are read. */
    static const char cut[] = "Basic dXNlcjpwYXNzXXXX";
    char u[16], p[16];
    ok(auth_parse_basic(cut, 18, u, sizeof u, p, sizeof p) && strcmp(u, "user") == 0,
       "only len bytes are read");
}

int main(void)
{
    test_plain();
    test_htpasswd();
    test_htpasswd_errors();
    test_load();
    test_cache();
    test_basic();
    return tap_finish();
}
