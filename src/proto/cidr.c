#include "autoconfig.h"

#include "proto/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4(const struct ip_addr *a)
{
    return memcmp(a->b, v4_prefix, 12) == 0;
}

bool ip_parse(const char *s, size_t len, struct ip_addr *a)
{
    char tmp[INET6_ADDRSTRLEN + 2];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof tmp || memchr(s, '\0', len)) return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    struct in_addr v4;
    if (inet_pton(AF_INET, tmp, &v4) == 1) {
        memcpy(a->b, v4_prefix, 12);
        memcpy(a->b + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, tmp, a->b) == 1;
}

bool ip_from_sockaddr(const struct sockaddr *sa, struct ip_addr *a)
{
    if (sa->sa_family == AF_INET) {
        memcpy(a->b, v4_prefix, 12);
        memcpy(a->b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(a->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool ip_is_loopback(const struct ip_addr *a)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    return (is_v4(a) && a->b[12] == 127) || memcmp(a->b, v6_loopback, 16) == 0;
}

void ip_format(const struct ip_addr *a, char *out, size_t len)
{
    if (is_v4(a))
        inet_ntop(AF_INET, a->b + 12, out, (socklen_t)len);
    else
        inet_ntop(AF_INET6, a->b, out, (socklen_t)len);
}

int cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (!ip_parse(s, alen, &c->net)) {
        snprintf(err, errlen, "not an IPv4 or IPv6 address");
        return -1;
    }
    /* The prefix length counts in the family the address is written in:
     * "::ffff:0:0/96" is an IPv6 range even though it covers IPv4. */
    bool v4 = !memchr(s, ':', alen);
    unsigned max = v4 ? 32 : 128;
    unsigned bits = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3) {
            snprintf(err, errlen, "bad prefix length");
            return -1;
        }
        bits = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') {
                snprintf(err, errlen, "bad prefix length");
                return -1;
            }
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > max) {
            snprintf(err, errlen, "prefix length over %u", max);
            return -1;
        }
    }
    c->bits = v4 ? bits + 96 : bits;
    /* Clear host bits so that "10.1.2.3/8" means 10.0.0.0/8. */
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = c->bits > i * 8 ? c->bits - i * 8 : 0;
        if (keep < 8) c->net.b[i] &= (uint8_t)(0xff << (8 - keep));
    }
    return 0;
}

bool cidr_match(const struct cidr *c, const struct ip_addr *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net.b, a->b, full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->net.b[full] & mask) == (a->b[full] & mask);
}

bool cidr_match_any(const struct cidr *list, size_t n, const struct ip_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (cidr_match(&list[i], a)) return true;
    return false;
}

/* One element of the list: an address, possibly with a port ("1.2.3.4:5",
 * "[::1]:5"), as proxies write them. */
static bool parse_forwarded_item(const char *s, size_t n, struct ip_addr *a)
{
    if (ip_parse(s, n, a)) return true;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        return close && ip_parse(s, (size_t)(close - s) + 1, a);
    }
    const char *colon = memchr(s, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
        return ip_parse(s, (size_t)(colon - s), a);
    return false;
}

bool cidr_forwarded_client(const char *xff, size_t len, const struct cidr *trusted, size_t ntrusted,
                           struct ip_addr *client)
{
    if (len == 0) return false;
    size_t end = len;
    for (;;) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',') start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t')) a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t')) b--;
        struct ip_addr ip;
        if (!parse_forwarded_item(xff + a, b - a, &ip)) return false; /* garbage: trust nothing */
        *client = ip;
        if (!cidr_match_any(trusted, ntrusted, &ip)) return true;
        if (start == 0) return true; /* every hop trusted: the leftmost is the client */
        end = start - 1;
    }
}
