#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cidr.h"
#include "proto/proxyproto.h"
#include "../tap.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* On an exactly-sized copy (ASan sees a read past len). */
static long parse(const void *buf, size_t len, struct proxyproto_info *info)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    long r = proxyproto_parse(copy, len, info);
    free(copy);
    return r;
}

static long parse_str(const char *s, struct proxyproto_info *info)
{
    return parse(s, strlen(s), info);
}

static const char *src_of(const struct proxyproto_info *info)
{
    static char out[INET6_ADDRSTRLEN];
    ip_format(&info->src, out, sizeof out);
    return out;
}

static bool src_is(const struct proxyproto_info *info, const char *ip, unsigned port)
{
    struct ip_addr want;
    return info->has_address && ip_parse(ip, strlen(ip), &want) &&
           memcmp(want.b, info->src.b, 16) == 0 && info->src_port == port;
}

/* Every proper prefix of buf[0..total) needs more; total bytes and more
 * (with trailing data) give total. Returns the number of wrong answers. */
static size_t wrong_prefixes(const uint8_t *buf, size_t total, size_t len)
{
    size_t wrong = 0;
    struct proxyproto_info info;
    for (size_t k = 0; k <= len; k++) {
        long r = parse(buf, k, &info);
        if (k < total ? r != 0 : r != (long)total) wrong++;
    }
    return wrong;
}

/* ---- v1 ---------------------------------------------------------------------------- */

static void check_v1(const char *line, const char *src, unsigned port, const char *what)
{
    struct proxyproto_info info;
    size_t len = strlen(line);
    long r = parse_str(line, &info);
    ok(r == (long)len && (src ? src_is(&info, src, port) : !info.has_address),
       "v1 %s: \"%s\" is %zu bytes (got %ld, %s %s:%u)", what, escn(line, len), len, r,
       info.has_address ? "address" : "no address", src_of(&info), info.src_port);

    /* With the connection's first bytes after it, fed a byte at a time. */
    char with[256];
    snprintf(with, sizeof with, "%sGET / HTTP/1.1\r\n\r\n", line);
    size_t wrong = wrong_prefixes((const uint8_t *)with, len, strlen(with));
    ok(wrong == 0, "v1 %s: every prefix needs more, then %zu with trailing data (%zu wrong)", what,
       len, wrong);
}

static void check_v1_bad(const char *line, const char *what)
{
    struct proxyproto_info info;
    long r = parse_str(line, &info);
    ok(r == -1, "v1 %s: \"%s\" is refused (got %ld)", what, escn(line, strlen(line)), r);
}

static void test_v1(void)
{
    check_v1("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", "192.168.0.1", 56324, "TCP4");
    check_v1("PROXY TCP6 2001:db8::1 2001:db8::2 1234 443\r\n", "2001:db8::1", 1234, "TCP6");
    check_v1("PROXY TCP6 ::ffff:10.0.0.1 ::1 0 65535\r\n", "10.0.0.1", 0, "TCP6 v4-mapped, port 0");
    check_v1("PROXY TCP4 0.0.0.0 255.255.255.255 65535 1\r\n", "0.0.0.0", 65535, "TCP4 extremes");
    check_v1("PROXY UNKNOWN\r\n", NULL, 0, "UNKNOWN");
    check_v1("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", NULL, 0, "UNKNOWN with addresses");
    /* The longest line the specification allows: 107 bytes. */
    check_v1("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
             NULL, 0, "UNKNOWN, 107 bytes");
    check_v1("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, "TCP6, 104 bytes");

    check_v1_bad("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "bad family");
    check_v1_bad("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "lower-case family");
    check_v1_bad("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "UDP4");
    check_v1_bad("PROXY UNKNOWNX\r\n", "UNKNOWN with more letters");
    check_v1_bad("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "TCP4 with an IPv6 source");
    check_v1_bad("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "TCP4 with an IPv6 destination");
    check_v1_bad("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "TCP6 with an IPv4 source");
    check_v1_bad("PROXY TCP6 ::1 1.2.3.4 1 2\r\n", "TCP6 with an IPv4 destination");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "source port 65536");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "destination port 65536");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "leading zero port \"080\"");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", "port \"00\"");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n", "six-digit port");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "negative port");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1x 2\r\n", "port with a letter");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "missing destination port");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8\r\n", "missing ports");
    check_v1_bad("PROXY TCP4 1.2.3.4\r\n", "missing destination");
    check_v1_bad("PROXY TCP4\r\n", "missing addresses");
    check_v1_bad("PROXY \r\n", "missing family");
    check_v1_bad("PROXY\r\n", "\"PROXY\" without a space");
    check_v1_bad("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "two spaces");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "an extra field");
    check_v1_bad("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "a bad source address");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.999 1 2\r\n", "a bad destination address");
    check_v1_bad("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "a tab as separator");
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n", "a bare LF inside the line");
    /* The specification allows neither a space before CRLF nor brackets. */
    check_v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "parse_v1: a trailing space");
    check_v1_bad("PROXY TCP6 [2001:db8::1] [::1] 1 2\r\n", "parse_v1: bracketed addresses");

    /* No CRLF within 107 bytes: refused once 107 bytes are there. */
    char line[200];
    memset(line, 'x', sizeof line);
    memcpy(line, "PROXY UNKNOWN ", 14);
    struct proxyproto_info info;
    long r106 = parse(line, 106, &info), r107 = parse(line, 107, &info);
    ok(r106 == 0 && r107 == -1, "v1 without CRLF: 106 bytes need more, 107 are refused (%ld, %ld)",
       r106, r107);
    memcpy(line + 106, "\r\n", 2);
    ok(parse(line, 108, &info) == -1, "v1: a 108-byte line is refused");
    memcpy(line + 105, "\r\n", 2);
    ok(parse(line, 200, &info) == 107, "v1: a 107-byte line is accepted");
    ok(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 31, &info) == 0,
       "v1: a CR without its LF needs more");

    /* What is refused stays refused as more bytes arrive. */
    static const char bad[] = "PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\nmore bytes";
    size_t need = 0, refused = 0;
    for (size_t k = 0; k <= sizeof bad - 1; k++) {
        long r = parse(bad, k, &info);
        if (r == 0 && !refused)
            need++;
        else if (r == -1)
            refused++;
    }
    ok(need == 32 && refused == sizeof bad - 1 - 32 + 1,
       "v1: a bad line needs more until its CRLF, then is refused for good (%zu, %zu)", need,
       refused);
}

/* ---- v2 ---------------------------------------------------------------------------- */

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* A v2 header with the given body into out; returns its length. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t blen)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(blen >> 8);
    out[15] = (uint8_t)blen;
    if (blen) memcpy(out + 16, body, blen);
    return 16 + blen;
}

static void check_v2(const uint8_t *h, size_t total, const char *src, unsigned port,
                     const char *what)
{
    uint8_t with[PROXYPROTO_MAX + 64];
    memcpy(with, h, total);
    memcpy(with + total, "\x16\x03\x01 trailing", 12);
    struct proxyproto_info info;
    long r = parse(with, total + 12, &info);
    ok(r == (long)total && (src ? src_is(&info, src, port) : !info.has_address),
       "v2 %s: %zu bytes (got %ld, %s %s:%u)", what, total, r,
       info.has_address ? "address" : "no address", src_of(&info), info.src_port);
    size_t wrong = wrong_prefixes(with, total, total + 12);
    ok(wrong == 0, "v2 %s: every prefix needs more (%zu wrong)", what, wrong);
}

static void check_v2_bad(const uint8_t *h, size_t len, const char *what)
{
    struct proxyproto_info info;
    long r = parse(h, len, &info);
    ok(r == -1, "v2 %s: refused (got %ld)", what, r);
}

static void test_v2(void)
{
    uint8_t h[PROXYPROTO_MAX + 64];
    static const uint8_t tcp4[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB};
    check_v2(h, v2(h, 0x21, 0x11, tcp4, 12), "192.0.2.1", 56324, "PROXY TCP4");
    check_v2(h, v2(h, 0x21, 0x12, tcp4, 12), "192.0.2.1", 56324, "PROXY UDP4");

    uint8_t tcp6[36] = {0x20, 0x01, 0x0d, 0xb8};
    tcp6[15] = 1;
    memcpy(tcp6 + 16, tcp6, 16);
    tcp6[31] = 2;
    tcp6[32] = 0x30;
    tcp6[33] = 0x39;
    tcp6[35] = 80;
    check_v2(h, v2(h, 0x21, 0x21, tcp6, 36), "2001:db8::1", 12345, "PROXY TCP6");

    /* TLVs after the addresses are within the length and skipped. */
    static const uint8_t tlvs[12] = {0x01, 0x00, 0x02, 'h', '2',            /* PP2_TYPE_ALPN */
                                     0x02, 0x00, 0x04, 'a', '.', 'i', 'o'}; /* AUTHORITY */
    uint8_t tlv[12 + sizeof tlvs];
    memcpy(tlv, tcp4, 12);
    memcpy(tlv + 12, tlvs, sizeof tlvs);
    check_v2(h, v2(h, 0x21, 0x11, tlv, sizeof tlv), "192.0.2.1", 56324, "TCP4 with TLVs");

    check_v2(h, v2(h, 0x20, 0x00, NULL, 0), NULL, 0, "LOCAL");
    check_v2(h, v2(h, 0x20, 0x11, tcp4, 12), NULL, 0, "LOCAL with an address (ignored)");
    check_v2(h, v2(h, 0x20, 0x00, tcp4, 3), NULL, 0, "LOCAL with a short body");
    check_v2(h, v2(h, 0x21, 0x00, NULL, 0), NULL, 0, "PROXY UNSPEC");
    check_v2(h, v2(h, 0x21, 0x00, tcp4, 12), NULL, 0, "PROXY UNSPEC with a body");
    uint8_t unixbody[216] = {'/'};
    check_v2(h, v2(h, 0x21, 0x31, unixbody, sizeof unixbody), NULL, 0, "PROXY UNIX stream");

    /* The largest accepted header, and one byte more. */
    static uint8_t big[PROXYPROTO_MAX];
    memcpy(big, tcp4, 12);
    check_v2(h, v2(h, 0x21, 0x11, big, PROXYPROTO_MAX - 16), "192.0.2.1", 56324,
             "TCP4 of PROXYPROTO_MAX bytes");
    size_t n = v2(h, 0x21, 0x11, big, PROXYPROTO_MAX - 15);
    check_v2_bad(h, n, "a header of PROXYPROTO_MAX + 1 bytes");
    check_v2_bad(h, 16, "a length over PROXYPROTO_MAX is refused from the first 16 bytes");
    v2(h, 0x21, 0x11, NULL, 0);
    h[14] = h[15] = 0xFF;
    check_v2_bad(h, 16, "length 65535");

    /* A truncated body needs more. */
    struct proxyproto_info info;
    v2(h, 0x21, 0x21, tcp6, 36);
    ok(parse(h, 16, &info) == 0 && parse(h, 16 + 35, &info) == 0,
       "v2: a truncated body needs more");

    /* A body shorter than the family needs. */
    check_v2_bad(h, v2(h, 0x21, 0x11, tcp4, 11), "TCP4 with an 11-byte body");
    check_v2_bad(h, v2(h, 0x21, 0x11, NULL, 0), "TCP4 with no body");
    check_v2_bad(h, v2(h, 0x21, 0x21, tcp6, 35), "TCP6 with a 35-byte body");
    check_v2_bad(h, v2(h, 0x21, 0x21, tcp4, 12), "TCP6 with a TCP4-sized body");

    /* Version and command. */
    check_v2_bad(h, v2(h, 0x11, 0x11, tcp4, 12), "version 1");
    check_v2_bad(h, v2(h, 0x31, 0x11, tcp4, 12), "version 3");
    check_v2_bad(h, v2(h, 0x01, 0x11, tcp4, 12), "version 0");
    check_v2_bad(h, v2(h, 0x22, 0x11, tcp4, 12), "command 2");
    check_v2_bad(h, v2(h, 0x2F, 0x11, tcp4, 12), "command 15");
    v2(h, 0x11, 0x11, tcp4, 12);
    ok(parse(h, 15, &info) == 0 && parse(h, 16, &info) == -1,
       "v2: a wrong version is refused once 16 bytes are there");
}

/* ---- neither ----------------------------------------------------------------------- */

static void test_neither(void)
{
    struct proxyproto_info info;
    ok(parse_str("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &info) == -1, "an HTTP request is refused");
    ok(parse("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, &info) == -1,
       "a TLS ClientHello is refused");
    ok(parse("G", 1, &info) == -1, "one byte that starts neither is refused");
    ok(parse("PROXX", 5, &info) == -1, "\"PROXX\" is refused");
    ok(parse("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32, &info) == -1, "lower-case \"proxy\"");
    ok(parse("\r\n\r\n\x00\r\nX", 8, &info) == -1, "a signature that goes wrong at byte 8");
    ok(parse(sig, 11, &info) == 0 && parse("PROXY", 5, &info) == 0 && parse("P", 1, &info) == 0 &&
           parse("\r", 1, &info) == 0,
       "prefixes of either signature need more");
    ok(parse("", 0, &info) == 0, "no bytes need more");
    memset(&info, 0xAA, sizeof info);
    ok(parse("nope", 4, &info) == -1 && !info.has_address, "info is cleared on failure");
}

int main(void)
{
    test_v1();
    test_v2();
    test_neither();
    return tap_finish();
}
