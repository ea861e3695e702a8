#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/origin.h"
#include "../tap.h"

/* ---- helpers ----------------------------------------------------------------------- */

struct rules {
    struct origin_rule *r;
    size_t n;
    char err[256];
};

static int parse_into(struct rules *rs, const char *list)
{
    rs->err[0] = '\0';
    return origin_rules_parse(list, &rs->r, &rs->n, rs->err, sizeof rs->err);
}

static void rules_free(struct rules *rs)
{
    free(rs->r);
    rs->r = NULL;
    rs->n = 0;
}

static bool rule_is(const struct rules *rs, size_t i, const char *scheme, const char *host,
                    unsigned port)
{
    return i < rs->n && strcmp(rs->r[i].scheme, scheme) == 0 && strcmp(rs->r[i].host, host) == 0 &&
           rs->r[i].port == port;
}

/* On exactly-sized copies (ASan sees a read past len). */
static bool allowed(const struct rules *rs, const char *origin)
{
    size_t len = strlen(origin);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, origin, len);
    bool r = origin_allowed(rs->r, rs->n, copy, len);
    free(copy);
    return r;
}

static bool same(const char *origin, const char *host, bool tls)
{
    size_t olen = strlen(origin), hlen = strlen(host);
    char *o = malloc(olen ? olen : 1), *h = malloc(hlen ? hlen : 1);
    memcpy(o, origin, olen);
    memcpy(h, host, hlen);
    bool r = origin_same(o, olen, h, hlen, tls);
    free(o);
    free(h);
    return r;
}

/* ---- origin_rules_parse ------------------------------------------------------------ */

static void test_rules_parse(void)
{
    struct rules rs = {0};
    int rc = parse_into(&rs, "a.com");
    ok(rc == 0 && rs.n == 1 && rule_is(&rs, 0, "", "a.com", 0),
       "\"a.com\": any scheme, any port (rc %d, %zu rules, %s)", rc, rs.n, rs.err);
    rules_free(&rs);

    rc = parse_into(&rs, "a.com:8080, https://b.com");
    ok(rc == 0 && rs.n == 2 && rule_is(&rs, 0, "", "a.com", 8080) &&
           rule_is(&rs, 1, "https", "b.com", 0),
       "\"a.com:8080, https://b.com\": a port, then a scheme without a port");
    rules_free(&rs);

    rc = parse_into(&rs, "http://c.com:81/");
    ok(rc == 0 && rs.n == 1 && rule_is(&rs, 0, "http", "c.com", 81),
       "\"http://c.com:81/\": the trailing slash is dropped");
    rules_free(&rs);

    rc = parse_into(&rs, "HTTPS://Mixed.Case.com:443");
    ok(rc == 0 && rs.n == 1 && rule_is(&rs, 0, "https", "Mixed.Case.com", 443),
       "the scheme is lower-cased, the host kept as written");
    rules_free(&rs);

    rc = parse_into(&rs, "  a.com  ,\tb.com:81\t, ws://c.com ");
    ok(rc == 0 && rs.n == 3 && rule_is(&rs, 0, "", "a.com", 0) &&
           rule_is(&rs, 1, "", "b.com", 81) && rule_is(&rs, 2, "ws", "c.com", 0),
       "leading and trailing spaces and tabs are trimmed");
    rules_free(&rs);

    rc = parse_into(&rs, ",a.com,, ,\t,b.com,");
    ok(rc == 0 && rs.n == 2 && rule_is(&rs, 0, "", "a.com", 0) && rule_is(&rs, 1, "", "b.com", 0),
       "empty items are skipped");
    rules_free(&rs);

    rc = parse_into(&rs, "");
    ok(rc == 0 && rs.n == 0 && rs.r == NULL, "an empty list gives no rules");
    rc = parse_into(&rs, " , ,");
    ok(rc == 0 && rs.n == 0, "a list of blanks gives no rules");

    rc = parse_into(&rs, "[::1]:8080, http://[2001:db8::1]");
    ok(rc == 0 && rs.n == 2 && rule_is(&rs, 0, "", "[::1]", 8080) &&
           rule_is(&rs, 1, "http", "[2001:db8::1]", 0),
       "bracketed IPv6 hosts keep their brackets");
    rc = parse_into(&rs, "x.org:1,y.org:65535");
    ok(rc == 0 && rs.n == 4 && rule_is(&rs, 0, "", "[::1]", 8080) &&
           rule_is(&rs, 2, "", "x.org", 1) && rule_is(&rs, 3, "", "y.org", 65535),
       "a second list is appended; ports 1 and 65535");
    rules_free(&rs);

    static const struct {
        const char *list, *reason;
    } bad[] = {
        {"://x", "bad scheme"},
        {"averyveryverylongscheme://x", "bad scheme"},
        {"a.com:0", "expected host[:port]"},
        {"a.com:99999", "expected host[:port]"},
        {"a.com:65536", "expected host[:port]"},
        {"a.com:123456", "expected host[:port]"},
        {"a b.com", "expected host[:port]"},
        {"a.com:80x", "expected host[:port]"},
        {"a.com:", "expected host[:port]"},
        {":80", "expected host[:port]"},
        {"https://", "expected host[:port]"},
        {"http://a.com/path", "expected host[:port]"},
        {"http://user@a.com", "expected host[:port]"},
        {"[::1", "expected host[:port]"},
        {"[::1]8080", "expected host[:port]"},
        {"::1", "expected host[:port]"},
        {"good.com, bad host.com", "expected host[:port]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rules e = {0};
        rc = parse_into(&e, bad[i].list);
        ok(rc == -1 && strstr(e.err, bad[i].reason) != NULL,
           "\"%s\" is refused: \"...%s...\" (got rc %d, \"%s\")", bad[i].list, bad[i].reason, rc,
           e.err);
        rules_free(&e);
    }

    char small[12];
    memset(small, 'Z', sizeof small);
    struct origin_rule *r = NULL;
    size_t n = 0;
    rc = origin_rules_parse("bad host", &r, &n, small, 8);
    ok(rc == -1 && memchr(small, '\0', 8) && small[8] == 'Z',
       "a short err buffer is terminated within its length");
    free(r);
}

/* ---- origin_allowed ---------------------------------------------------------------- */

static void check_allowed(const struct rules *rs, const char *list, const char *origin, bool want)
{
    bool got = allowed(rs, origin);
    ok(got == want, "rules \"%s\": origin \"%s\" is %s", list, escn(origin, strlen(origin)),
       want ? "allowed" : "refused");
}

static void matrix(const char *list, const char *const *yes, const char *const *no)
{
    struct rules rs = {0};
    if (parse_into(&rs, list) != 0) {
        ok(0, "rules \"%s\" parse (%s)", list, rs.err);
        return;
    }
    for (; *yes; yes++) check_allowed(&rs, list, *yes, true);
    for (; *no; no++) check_allowed(&rs, list, *no, false);
    rules_free(&rs);
}

static void test_allowed(void)
{
    /* No scheme and no port: any scheme, any port; the host case does not matter. */
    matrix("a.com",
           (const char *const[]){"http://a.com", "https://a.com", "https://a.com:8443",
                                 "ws://a.com:1", "HTTP://A.COM", "http://A.com/", NULL},
           (const char *const[]){"http://b.com", "http://a.com.evil", "http://xa.com",
                                 "http://a.co", "http://a.com@evil.com", "http://evil.com/a.com",
                                 NULL});

    /* An exact port, any scheme; default ports 80 and 443 count. */
    matrix(
        "a.com:8080",
        (const char *const[]){"http://a.com:8080", "https://a.com:8080", "wss://a.com:8080", NULL},
        (const char *const[]){"http://a.com", "https://a.com", "http://a.com:8081",
                              "http://a.com:80800", NULL});
    matrix("d.com:443",
           (const char *const[]){"https://d.com", "wss://d.com", "http://d.com:443",
                                 "HTTPS://D.COM", NULL},
           (const char *const[]){"http://d.com", "ws://d.com", "https://d.com:8443", NULL});
    matrix("e.com:80",
           (const char *const[]){"http://e.com", "ws://e.com", "https://e.com:80",
                                 "custom-app://e.com", NULL},
           (const char *const[]){"https://e.com", "wss://e.com", NULL});

    /* A scheme: required; without a port any port. */
    matrix("https://b.com",
           (const char *const[]){"https://b.com", "https://b.com:444", "HTTPS://B.com", NULL},
           (const char *const[]){"http://b.com", "wss://b.com", "httpss://b.com", "ttps://b.com",
                                 NULL});
    matrix("http://c.com:81/", (const char *const[]){"http://c.com:81", "http://C.COM:81", NULL},
           (const char *const[]){"http://c.com", "https://c.com:81", "http://c.com:810", NULL});
    matrix("https://f.com:443", (const char *const[]){"https://f.com", "https://f.com:443", NULL},
           (const char *const[]){"http://f.com:443", "wss://f.com", NULL});

    /* IPv6 hosts. */
    matrix("[::1]:8080", (const char *const[]){"http://[::1]:8080", "https://[::1]:8080", NULL},
           (const char *const[]){"http://[::1]", "http://[::2]:8080", "http://::1:8080",
                                 "http://[::1]:80", NULL});
    matrix("http://[2001:db8::1]",
           (const char *const[]){"http://[2001:db8::1]", "http://[2001:DB8::1]:9", NULL},
           (const char *const[]){"https://[2001:db8::1]", "http://[2001:db8::2]", NULL});

    /* Several rules: any of them. */
    matrix("a.com:8080, https://b.com",
           (const char *const[]){"http://a.com:8080", "https://b.com:1", NULL},
           (const char *const[]){"http://b.com", "http://a.com", NULL});

    /* Values that are not origins. */
    matrix("a.com, null, localhost", (const char *const[]){"http://localhost", NULL},
           (const char *const[]){"null",
                                 "",
                                 "a.com",
                                 "//a.com",
                                 "http:/a.com",
                                 "http:a.com",
                                 "http://",
                                 "://a.com",
                                 "http://a.com:0",
                                 "http://a.com:99999",
                                 "http://a.com:",
                                 "http://a.com:80x",
                                 "http://a.com/path",
                                 "http://a.com//",
                                 "http://user@a.com",
                                 "http://a .com",
                                 "http://a.com ",
                                 " http://a.com",
                                 "ht tp://a.com",
                                 "verylongscheme01://a.com",
                                 "http://[::1",
                                 "http://[::1]x",
                                 "file://",
                                 NULL});

    struct rules none = {0};
    ok(!allowed(&none, "http://a.com"), "no rules: nothing is allowed");

    struct rules rs = {0};
    parse_into(&rs, "a.com");
    static const char nul[] = "http://a.com\0";
    ok(!origin_allowed(rs.r, rs.n, nul, sizeof nul - 1), "a NUL after the host is refused");
    static const char cut[] = "http://a.comXYZ";
    ok(origin_allowed(rs.r, rs.n, cut, 12), "only len bytes are read (\"http://a.comXYZ\", 12)");
    rules_free(&rs);
}

/* ---- origin_same ------------------------------------------------------------------- */

static void check_same(const char *origin, const char *host, bool tls, bool want)
{
    ok(same(origin, host, tls) == want, "origin \"%s\", Host \"%s\" over %s: %s", origin, host,
       tls ? "TLS" : "plain", want ? "same" : "not the same");
}

static void test_same(void)
{
    check_same("https://example.com", "example.com", true, true);
    check_same("https://example.com", "example.com", false, false);
    check_same("http://example.com", "example.com", false, true);
    check_same("http://example.com", "example.com", true, false);
    check_same("wss://example.com", "example.com", true, true);
    check_same("ws://example.com", "example.com", false, true);
    check_same("https://example.com:443", "example.com", true, true);
    check_same("https://example.com", "example.com:443", false, true);
    check_same("http://example.com", "example.com:80", true, true);
    check_same("http://example.com:8080", "example.com:8080", false, true);
    check_same("https://example.com:8080", "example.com:8080", false, true);
    check_same("http://example.com:8080", "example.com:8081", false, false);
    check_same("http://example.com:8080", "example.com", false, false);
    check_same("http://example.com", "example.com:8080", false, false);
    check_same("https://EXAMPLE.com", "example.COM", true, true);
    check_same("https://example.com/", "example.com", true, true);
    check_same("http://example.com", "example.org", false, false);
    check_same("http://example.com", "www.example.com", false, false);
    check_same("http://[::1]:8080", "[::1]:8080", false, true);
    check_same("http://[::1]", "[::1]", false, true);
    check_same("https://[2001:db8::1]", "[2001:db8::1]", true, true);
    check_same("http://[::1]:8080", "[::1]:8081", false, false);
    check_same("http://[::1]:8080", "[::2]:8080", false, false);
    check_same("null", "example.com", false, false);
    check_same("example.com", "example.com", false, false);
    check_same("http://example.com", "", false, false);
    check_same("http://example.com", "example.com:", false, false);
    check_same("http://example.com", "example.com:0", false, false);
    check_same("http://example.com", "exa mple.com", false, false);
    check_same("http://example.com", "[::1", false, false);
    check_same("http://example.com", "example.com:80x", false, false);

    static const char host[] = "example.com:8080";
    ok(origin_same("http://example.com", 18, host, 11, false),
       "only hlen bytes of the Host header are read (\"%s\", 11)", host);
}

int main(void)
{
    test_rules_parse();
    test_allowed();
    test_same();
    return tap_finish();
}
