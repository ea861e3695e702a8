#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "proto/cidr.h"
#include "../tap.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* ip_parse on an exactly-sized copy (ASan sees a read past len). */
static bool parse_n(const char *s, size_t len, struct ip_addr *a)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    bool r = ip_parse(copy, len, a);
    free(copy);
    return r;
}

static bool parse(const char *s, struct ip_addr *a)
{
    return parse_n(s, strlen(s), a);
}

/* The address of a literal the test knows to be valid (all-ones when not,
 * which no check below expects). */
static struct ip_addr addr(const char *s)
{
    struct ip_addr a;
    if (!parse(s, &a)) memset(a.b, 0xff, sizeof a.b);
    return a;
}

static bool bytes_are(const struct ip_addr *a, const uint8_t want[16])
{
    return memcmp(a->b, want, 16) == 0;
}

static const char *fmt(const struct ip_addr *a)
{
    static char slots[2][INET6_ADDRSTRLEN];
    static int next;
    char *o = slots[next++ & 1];
    ip_format(a, o, INET6_ADDRSTRLEN);
    return o;
}

static int cidr(const char *s, struct cidr *c, char *err, size_t errlen)
{
    err[0] = '\0';
    return cidr_parse(s, c, err, errlen);
}

/* A rule the test knows to be valid (an empty /128 of all-ones when not). */
static struct cidr rule(const char *s)
{
    struct cidr c;
    char err[128];
    if (cidr(s, &c, err, sizeof err) != 0) {
        memset(c.net.b, 0xff, 16);
        c.bits = 128;
    }
    return c;
}

static bool in(const char *range, const char *ip)
{
    struct cidr c = rule(range);
    struct ip_addr a = addr(ip);
    return cidr_match(&c, &a);
}

/* ---- ip_parse and ip_format -------------------------------------------------------- */

static void test_ip_parse(void)
{
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t doc6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
    static const uint8_t compat[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1};
    struct ip_addr a;

    ok(parse("192.0.2.1", &a) && bytes_are(&a, v4), "IPv4 \"192.0.2.1\" is ::ffff:192.0.2.1");
    ok(parse("0.0.0.0", &a) && a.b[10] == 0xff && a.b[11] == 0xff && a.b[12] == 0 && a.b[15] == 0,
       "\"0.0.0.0\" is mapped too");
    ok(parse("255.255.255.255", &a) && a.b[12] == 255 && a.b[15] == 255, "\"255.255.255.255\"");
    ok(parse("::1", &a) && bytes_are(&a, loop6), "IPv6 \"::1\"");
    ok(parse("2001:db8::42", &a) && bytes_are(&a, doc6), "IPv6 \"2001:db8::42\"");
    ok(parse("2001:0DB8:0000:0000:0000:0000:0000:0042", &a) && bytes_are(&a, doc6),
       "IPv6 in full, upper case");
    ok(parse("[2001:db8::42]", &a) && bytes_are(&a, doc6), "bracketed IPv6 \"[2001:db8::42]\"");
    ok(parse("[::1]", &a) && bytes_are(&a, loop6), "bracketed \"[::1]\"");
    ok(parse("::ffff:192.0.2.1", &a) && bytes_are(&a, v4),
       "v4-mapped \"::ffff:192.0.2.1\" equals \"192.0.2.1\"");
    ok(parse("::FFFF:c000:201", &a) && bytes_are(&a, v4),
       "v4-mapped in hex \"::FFFF:c000:201\" equals \"192.0.2.1\"");
    ok(parse("[::ffff:192.0.2.1]", &a) && bytes_are(&a, v4), "bracketed v4-mapped");
    ok(parse("::192.0.2.1", &a) && bytes_are(&a, compat),
       "v4-compatible \"::192.0.2.1\" is an IPv6 address, not mapped");

    static const char *const bad[] = {"1.2.3",     "1.2.3.256", "::g",     "",         "[::1",
                                      "::1]",      "[]",        "[",       "1.2.3.4 ", " 1.2.3.4",
                                      "1.2.3.4.5", "01.2.3.4",  "1:2:3:4", ":::",      "1.2.3.4/8",
                                      "localhost", "fe80::1%lo"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(a.b, 0xAA, sizeof a.b);
        ok(!parse(bad[i], &a), "\"%s\" is refused", bad[i]);
    }

    ok(!parse_n("1.2.3.4\0", 8, &a), "an embedded NUL inside len is refused (\"1.2.3.4\\0\", 8)");
    ok(!parse_n("1.2\0.3.4", 8, &a), "an embedded NUL in the middle is refused");
    ok(!parse_n("::1\0", 4, &a), "an embedded NUL after an IPv6 address is refused");
    ok(parse_n("10.0.0.1xyz", 8, &a) && a.b[12] == 10 && a.b[15] == 1,
       "only len bytes are parsed (\"10.0.0.1xyz\", 8)");
    ok(!parse_n("10.0.0.1", 0, &a), "len 0 is refused");
    char longv6[80];
    memset(longv6, '0', sizeof longv6);
    memcpy(longv6 + 60, "0000:0:0:0:0:0:0:1", 18);
    ok(!parse_n(longv6, 78, &a), "an over-long literal is refused without overflow");
}

static void test_ip_format(void)
{
    struct ip_addr a;
    ok(parse("::ffff:10.1.2.3", &a) && strcmp(fmt(&a), "10.1.2.3") == 0,
       "a mapped address prints dotted (%s)", fmt(&a));
    ok(parse("10.1.2.3", &a) && strcmp(fmt(&a), "10.1.2.3") == 0, "IPv4 prints dotted");
    ok(parse("2001:0db8:0000:0000:0000:0000:0000:0001", &a) && strcmp(fmt(&a), "2001:db8::1") == 0,
       "IPv6 prints compressed (%s)", fmt(&a));
    ok(parse("[::1]", &a) && strcmp(fmt(&a), "::1") == 0, "\"[::1]\" prints without brackets");
    ok(parse("fe80:0:0:1::", &a) && strcmp(fmt(&a), "fe80:0:0:1::") == 0,
       "trailing zeros compress (%s)", fmt(&a));
    ok(parse("::", &a) && strcmp(fmt(&a), "::") == 0, "the unspecified address prints \"::\"");

    /* Every printed form parses back to the same bytes. */
    static const char *const forms[] = {
        "0.0.0.0",         "255.255.255.255",        "::",         "::1", "::ffff:0:0",
        "1:2:3:4:5:6:7:8", "2001:db8::ffff:1.2.3.4", "[fe80::a:b]"};
    bool good = true;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct ip_addr b;
        if (!parse(forms[i], &a) || !parse(fmt(&a), &b) || memcmp(a.b, b.b, 16) != 0) good = false;
    }
    ok(good, "formatting then parsing gives the same bytes");

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80)};
    sin.sin_addr.s_addr = htonl(0xC0000201);
    ok(ip_from_sockaddr((const struct sockaddr *)&sin, &a) && strcmp(fmt(&a), "192.0.2.1") == 0,
       "ip_from_sockaddr: AF_INET");
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    sin6.sin6_addr.s6_addr[15] = 1;
    ok(ip_from_sockaddr((const struct sockaddr *)&sin6, &a) && strcmp(fmt(&a), "::1") == 0,
       "ip_from_sockaddr: AF_INET6");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ok(!ip_from_sockaddr((const struct sockaddr *)&un, &a), "ip_from_sockaddr: AF_UNIX is false");
}

/* ---- cidr_parse -------------------------------------------------------------------- */

static void check_cidr(const char *s, const char *net, unsigned bits)
{
    struct cidr c;
    memset(&c, 0, sizeof c);
    char err[128];
    int rc = cidr(s, &c, err, sizeof err);
    struct ip_addr want = addr(net);
    ok(rc == 0 && memcmp(c.net.b, want.b, 16) == 0 && c.bits == bits,
       "\"%s\" is %s with %u bits over 128 (rc %d, got %s/%u%s%s)", s, net, bits, rc, fmt(&c.net),
       c.bits, *err ? ", " : "", err);
}

static void check_cidr_error(const char *s, const char *reason)
{
    struct cidr c;
    char err[128];
    int rc = cidr(s, &c, err, sizeof err);
    ok(rc == -1 && strstr(err, reason) != NULL,
       "\"%s\" is refused: \"...%s...\" (got rc %d, \"%s\")", s, reason, rc, err);
}

static void test_cidr_parse(void)
{
    check_cidr("10.0.0.0/8", "10.0.0.0", 104);
    check_cidr("10.1.2.3/8", "10.0.0.0", 104);
    check_cidr("10.255.255.255/9", "10.128.0.0", 105);
    check_cidr("192.168.77.130/25", "192.168.77.128", 121);
    check_cidr("1.2.3.4/0", "0.0.0.0", 96);
    check_cidr("1.2.3.4/32", "1.2.3.4", 128);
    check_cidr("1.2.3.4", "1.2.3.4", 128);
    check_cidr("0.0.0.0/0", "0.0.0.0", 96);
    check_cidr("::1/128", "::1", 128);
    check_cidr("::1", "::1", 128);
    check_cidr("2001:db8::/32", "2001:db8::", 32);
    check_cidr("2001:db8:ffff:1::7/32", "2001:db8::", 32);
    check_cidr("2001:db8::1/127", "2001:db8::", 127);
    check_cidr("fe80::1/10", "fe80::", 10);
    check_cidr("ffff::/1", "8000::", 1);
    check_cidr("::/0", "::", 0);
    check_cidr("[2001:db8::1]/64", "2001:db8::", 64);

    check_cidr_error("10.0.0.0/33", "prefix length over 32");
    check_cidr_error("::/129", "prefix length over 128");
    check_cidr_error("10.0.0.0/-1", "bad prefix length");
    check_cidr_error("10.0.0.0/08x", "bad prefix length");
    check_cidr_error("10.0.0.0/8x", "bad prefix length");
    check_cidr_error("10.0.0.0/ 8", "bad prefix length");
    check_cidr_error("10.0.0.0/1000", "bad prefix length");
    check_cidr_error("1.2.3.4/", "bad prefix length");
    check_cidr_error("1.2.3.4/8/8", "bad prefix length");
    check_cidr_error("abc", "not an IPv4 or IPv6 address");
    check_cidr_error("", "not an IPv4 or IPv6 address");
    check_cidr_error("/8", "not an IPv4 or IPv6 address");
    check_cidr_error("1.2.3/24", "not an IPv4 or IPv6 address");
    check_cidr_error("::g/64", "not an IPv4 or IPv6 address");

    /* A small err buffer is cut and terminated. */
    struct cidr c;
    char small[12];
    memset(small, 'Z', sizeof small);
    ok(cidr_parse("nonsense", &c, small, 8) == -1 && memchr(small, '\0', 8) && small[8] == 'Z',
       "a short err buffer is terminated within its length");

    /* A network written in IPv6 syntax takes an IPv6 prefix length even when
     * its address is v4-mapped: "::ffff:0:0/96" is every IPv4 client. */
    char err[128];
    int rc = cidr("::ffff:0:0/96", &c, err, sizeof err);
    struct ip_addr v4 = addr("198.51.100.7"), v6 = addr("2001:db8::1");
    bool all_v4 = rc == 0 && cidr_match(&c, &v4) && !cidr_match(&c, &v6);
    rc = cidr("::ffff:10.0.0.0/104", &c, err, sizeof err);
    struct ip_addr ten = addr("10.9.8.7"), eleven = addr("11.0.0.1");
    ok(all_v4 && rc == 0 && c.bits == 104 && cidr_match(&c, &ten) && !cidr_match(&c, &eleven),
       "cidr_parse: \"::ffff:0:0/96\" and \"::ffff:10.0.0.0/104\" (IPv6 syntax) take an "
       "IPv6 prefix length (got \"%s\")",
       err);
}

/* ---- cidr_match -------------------------------------------------------------------- */

static uint32_t v4_of(const char *s)
{
    struct ip_addr a = addr(s);
    return (uint32_t)a.b[12] << 24 | (uint32_t)a.b[13] << 16 | (uint32_t)a.b[14] << 8 | a.b[15];
}

/* Leading bits two IPv4 addresses share. */
static unsigned common_bits(uint32_t a, uint32_t b)
{
    unsigned n = 0;
    while (n < 32 && ((a ^ b) & (0x80000000u >> n)) == 0) n++;
    return n;
}

static void test_cidr_match(void)
{
    ok(in("192.168.1.0/24", "192.168.1.0"), "the first address of 192.168.1.0/24 is in");
    ok(in("192.168.1.0/24", "192.168.1.255"), "the last address of 192.168.1.0/24 is in");
    ok(!in("192.168.1.0/24", "192.168.0.255"), "the address before 192.168.1.0/24 is out");
    ok(!in("192.168.1.0/24", "192.168.2.0"), "the address after 192.168.1.0/24 is out");
    ok(in("10.0.0.0/12", "10.15.255.255") && !in("10.0.0.0/12", "10.16.0.0") &&
           in("10.0.0.0/12", "10.0.0.0") && !in("10.0.0.0/12", "9.255.255.255"),
       "10.0.0.0/12: 10.0.0.0 and 10.15.255.255 in, 9.255.255.255 and 10.16.0.0 out");
    ok(in("172.16.5.4/31", "172.16.5.4") && in("172.16.5.4/31", "172.16.5.5") &&
           !in("172.16.5.4/31", "172.16.5.3") && !in("172.16.5.4/31", "172.16.5.6"),
       "a /31 holds exactly two addresses");
    ok(in("172.16.5.4/32", "172.16.5.4") && !in("172.16.5.4/32", "172.16.5.5"),
       "a /32 holds exactly one address");
    ok(in("0.0.0.0/0", "0.0.0.0") && in("0.0.0.0/0", "255.255.255.255"),
       "0.0.0.0/0 holds every IPv4 address");
    ok(in("2001:db8::/32", "2001:db8::") &&
           in("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
       "the first and last address of 2001:db8::/32 are in");
    ok(!in("2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff") &&
           !in("2001:db8::/32", "2001:db9::"),
       "the addresses just outside 2001:db8::/32 are out");
    ok(in("fe80::/10", "febf:ffff::1") && !in("fe80::/10", "fec0::") &&
           !in("fe80::/10", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
       "fe80::/10: febf:ffff::1 in, fe7f:...:ffff and fec0:: out");
    ok(in("::1/128", "::1") && !in("::1/128", "::2") && !in("::1/128", "::"),
       "::1/128 holds only ::1");
    ok(in("::/0", "2001:db8::1") && in("::/0", "10.1.2.3"),
       "::/0 holds every address, IPv4 ones included");

    /* IPv4 rules against IPv6 clients: only the v4-mapped form matches. */
    ok(!in("0.0.0.0/0", "::1") && !in("0.0.0.0/0", "2001:db8::1") && !in("0.0.0.0/0", "::"),
       "0.0.0.0/0 does not match IPv6 addresses");
    ok(!in("10.0.0.0/8", "a00::1") && !in("10.0.0.0/8", "::10.1.2.3") &&
           !in("10.0.0.0/8", "::a01:203"),
       "10.0.0.0/8 does not match IPv6 addresses that share its bytes elsewhere");
    ok(in("10.0.0.0/8", "::ffff:10.1.2.3") && in("10.0.0.0/8", "::ffff:a01:203"),
       "10.0.0.0/8 matches the v4-mapped forms of its addresses");
    ok(!in("::1/128", "0.0.0.1") && !in("2001:db8::/32", "32.1.13.184"),
       "IPv6 rules do not match IPv4 addresses with the same bytes (\"32.1.13.184\")");
    ok(in("::/8", "0.1.2.3") && in("::ffff:0:0", "0.0.0.0") && in("::/0", "0.0.0.0"),
       "IPv6 rules over the mapped range hold IPv4 addresses");

    /* Every prefix length for address pairs: a/L holds b exactly when L is
     * at most the number of leading bits they share. */
    static const char *const pairs[][2] = {
        {"192.168.1.1", "192.168.1.129"}, {"10.0.0.0", "10.0.0.1"},
        {"0.0.0.0", "255.255.255.255"},   {"128.0.0.0", "0.0.0.0"},
        {"203.0.113.9", "203.0.113.9"},   {"172.16.0.0", "172.31.255.255"}};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        const char *a = pairs[p][0], *b = pairs[p][1];
        unsigned shared = common_bits(v4_of(a), v4_of(b));
        if (p == 0) {
            for (unsigned bits = 0; bits <= 32; bits++) {
                char range[64];
                snprintf(range, sizeof range, "%s/%u", a, bits);
                ok(in(range, b) == (bits <= shared) && in(range, a),
                   "%s %s %s (they share %u bits)", range, bits <= shared ? "holds" : "misses", b,
                   shared);
            }
            continue;
        }
        unsigned wrong = 0;
        for (unsigned bits = 0; bits <= 32; bits++) {
            char range[64];
            snprintf(range, sizeof range, "%s/%u", a, bits);
            if (in(range, b) != (bits <= shared) || !in(range, a)) wrong++;
        }
        ok(wrong == 0, "%s/0..32 against %s: held exactly up to %u bits (%u wrong)", a, b, shared,
           wrong);
    }

    struct cidr list[3] = {rule("10.0.0.0/8"), rule("192.168.0.0/16"), rule("fd00::/8")};
    struct ip_addr a = addr("192.168.200.1"), b = addr("fdab::1"), c = addr("11.0.0.0");
    ok(cidr_match_any(list, 3, &a) && cidr_match_any(list, 3, &b) && !cidr_match_any(list, 3, &c),
       "cidr_match_any: any rule of the list");
    ok(!cidr_match_any(list, 0, &a), "cidr_match_any: an empty list matches nothing");
}

/* ---- cidr_forwarded_client --------------------------------------------------------- */

/* On an exactly-sized copy; "-" when false. */
static const char *forwarded(const char *xff, const char *const *trusted, size_t ntrusted)
{
    static char out[INET6_ADDRSTRLEN];
    struct cidr list[8];
    for (size_t i = 0; i < ntrusted; i++) list[i] = rule(trusted[i]);
    size_t len = strlen(xff);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, xff, len);
    struct ip_addr client;
    memset(client.b, 0xAA, sizeof client.b);
    bool r = cidr_forwarded_client(copy, len, list, ntrusted, &client);
    free(copy);
    if (!r) return "-";
    ip_format(&client, out, sizeof out);
    return out;
}

static void check_forwarded(const char *xff, const char *const *trusted, size_t ntrusted,
                            const char *want, const char *what)
{
    const char *got = forwarded(xff, trusted, ntrusted);
    ok(strcmp(got, want) == 0, "%s: \"%s\" gives %s (got %s)", what, escn(xff, strlen(xff)),
       strcmp(want, "-") ? want : "false", got);
}

static void test_forwarded(void)
{
    static const char *const none[] = {NULL};
    static const char *const ten[] = {"10.0.0.0/8"};
    static const char *const both[] = {"10.0.0.0/8", "2001:db8::/32"};

    check_forwarded("1.1.1.1", none, 0, "1.1.1.1", "one element, nothing trusted");
    check_forwarded("1.1.1.1", ten, 1, "1.1.1.1", "one untrusted element");
    check_forwarded("1.1.1.1, 10.0.0.2", ten, 1, "1.1.1.1", "behind one trusted proxy");
    check_forwarded("1.1.1.1, 10.0.0.2", none, 0, "10.0.0.2",
                    "nothing trusted: the rightmost element");
    check_forwarded("6.6.6.6, 1.1.1.1, 10.0.0.2", ten, 1, "1.1.1.1",
                    "a spoofed left part is not believed: the rightmost untrusted");
    check_forwarded("10.9.9.9, 1.1.1.1, 10.0.0.3, 10.0.0.2", ten, 1, "1.1.1.1",
                    "two trusted hops, a trusted address left of the client");
    check_forwarded("10.0.0.5, 10.0.0.4, 10.0.0.3", ten, 1, "10.0.0.5",
                    "all trusted: the leftmost");
    check_forwarded("10.0.0.5", ten, 1, "10.0.0.5", "one trusted element: itself");
    check_forwarded("1.1.1.1:55", ten, 1, "1.1.1.1", "IPv4 with a port");
    check_forwarded("1.1.1.1:55, 10.0.0.2:8080", ten, 1, "1.1.1.1", "ports on every element");
    check_forwarded("[2001:db8::1]:55", ten, 1, "2001:db8::1", "bracketed IPv6 with a port");
    check_forwarded("[2001:db8::1]", ten, 1, "2001:db8::1", "bracketed IPv6 without a port");
    check_forwarded("2001:db8::1", ten, 1, "2001:db8::1", "bare IPv6");
    check_forwarded("3.3.3.3, 2001:db8::7, 10.1.1.1", both, 2, "3.3.3.3",
                    "trusted IPv6 and IPv4 hops");
    check_forwarded("::ffff:1.1.1.1, ::ffff:10.0.0.2", ten, 1, "1.1.1.1",
                    "v4-mapped elements against an IPv4 rule");
    check_forwarded("garbage, 1.1.1.1, 10.0.0.2", ten, 1, "1.1.1.1",
                    "garbage left of the client is never looked at");
    check_forwarded("1.1.1.1, garbage, 10.0.0.2", ten, 1, "-", "garbage on the walk");
    check_forwarded("1.1.1.1, 10.0.0.2, garbage", ten, 1, "-", "garbage as the last element");
    check_forwarded("1.1.1.1, 10.0.0.2,", ten, 1, "-", "an empty last element");
    check_forwarded("1.1.1.1,, 10.0.0.2", ten, 1, "-", "an empty element on the walk");
    check_forwarded("1.1.1.1, 10.0.0.256", ten, 1, "-", "a bad address on the walk");
    check_forwarded("1.1.1.1, 10.0.0.2:1:2", ten, 1, "-", "two ports on an element");
    check_forwarded("1.1.1.1, [2001:db8::1", ten, 1, "-", "an unclosed bracket");
    check_forwarded("", ten, 1, "-", "empty");
    check_forwarded(" ", ten, 1, "-", "one space");
    check_forwarded(",", ten, 1, "-", "one comma");
    check_forwarded("unknown", ten, 1, "-", "\"unknown\"");
    check_forwarded("  1.1.1.1\t,\t 10.0.0.2 \t", ten, 1, "1.1.1.1", "spaces and tabs around");
    check_forwarded("\t1.1.1.1 ", none, 0, "1.1.1.1", "a tab and a space around one element");
    check_forwarded("1.1.1.1,10.0.0.2", ten, 1, "1.1.1.1", "no spaces at all");
    check_forwarded("1.1.1.1 , 10.0.0.2", ten, 1, "1.1.1.1", "a space before the comma");
    check_forwarded("1.1. 1.1, 10.0.0.2", ten, 1, "-", "a space inside an element");
    check_forwarded("1.1.1.1\n, 10.0.0.2", ten, 1, "-", "a line feed is not a blank");

    /* The length is honoured. */
    struct cidr t10 = rule("10.0.0.0/8");
    struct ip_addr client;
    static const char cut[] = "1.1.1.1, 10.0.0.2, 9.9.9.9";
    ok(cidr_forwarded_client(cut, 17, &t10, 1, &client) && strcmp(fmt(&client), "1.1.1.1") == 0,
       "only len bytes are read (\"%.17s\")", cut);

    /* An empty leftmost element is garbage like any other: nothing is believed. */
    check_forwarded(" ,10.0.0.2", ten, 1, "-", "a blank leftmost element, all others trusted");
    check_forwarded(",10.0.0.2", ten, 1, "-",
                    "cidr_forwarded_client: an empty leftmost element, all others trusted");
}

int main(void)
{
    test_ip_parse();
    test_ip_format();
    test_cidr_parse();
    test_cidr_match();
    test_forwarded();
    return tap_finish();
}
