/* libFuzzer target for cidr.c: ip_parse on the whole input and ip_format
 * round trips (a parsed address prints to text that parses to the same
 * bytes); cidr_parse on the first line (accepted: at most 128 bits, the host
 * bits clear, the address itself and the network inside the range);
 * cidr_forwarded_client on the whole input as an X-Forwarded-For value
 * against a reference walk of the same list. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cidr.h"

static bool is_mapped(const struct ip_addr *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->b, prefix, 12) == 0;
}

static bool same(const struct ip_addr *a, const struct ip_addr *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

/* Formatting gives a terminated literal that parses to the same bytes, in
 * dotted form exactly for mapped addresses. */
static void check_round_trip(const struct ip_addr *a)
{
    char text[INET6_ADDRSTRLEN + 8];
    memset(text, 'Z', sizeof text);
    ip_format(a, text, INET6_ADDRSTRLEN);
    const char *end = memchr(text, '\0', INET6_ADDRSTRLEN);
    if (!end) abort();
    size_t n = (size_t)(end - text);
    struct ip_addr b;
    if (!ip_parse(text, n, &b) || !same(a, &b)) abort();
    if (is_mapped(a) != (memchr(text, ':', n) == NULL)) abort();
    /* and bracketed too */
    char br[INET6_ADDRSTRLEN + 2];
    br[0] = '[';
    memcpy(br + 1, text, n);
    br[n + 1] = ']';
    if (!ip_parse(br, n + 2, &b) || !same(a, &b)) abort();
}

static void check_cidr(const char *spec)
{
    struct cidr c;
    char err[64];
    memset(err, 'Z', sizeof err);
    if (cidr_parse(spec, &c, err, 40) != 0) {
        if (!err[0] || !memchr(err, '\0', 40) || err[40] != 'Z') abort();
        return;
    }
    if (c.bits > 128) abort();
    for (unsigned i = c.bits; i < 128; i++)
        if (c.net.b[i / 8] & (0x80 >> (i % 8))) abort();
    /* An IPv4 range keeps the mapped prefix. */
    if (is_mapped(&c.net) && c.bits < 96) abort();
    if (!cidr_match(&c, &c.net)) abort();
    /* The address as written lies in the range. */
    const char *slash = strchr(spec, '/');
    struct ip_addr a;
    if (!ip_parse(spec, slash ? (size_t)(slash - spec) : strlen(spec), &a)) abort();
    if (!cidr_match(&c, &a)) abort();
    if (!slash && (c.bits != 128 || !same(&a, &c.net))) abort();
    /* The first address past the range is outside it (unless it wraps). */
    if (c.bits > 0) {
        struct ip_addr past = c.net;
        unsigned bit = c.bits - 1;
        int i = (int)(bit / 8);
        uint8_t add = (uint8_t)(0x80 >> (bit % 8));
        unsigned carry = add;
        for (; i >= 0 && carry; i--) {
            unsigned v = past.b[i] + carry;
            past.b[i] = (uint8_t)v;
            carry = v >> 8;
        }
        if (!carry && cidr_match(&c, &past)) abort();
    }
}

/* One element of an X-Forwarded-For list as the module reads it: an address,
 * "[v6]" with anything after the bracket, or "addr:port" with one ':'. */
static bool ref_item(const char *s, size_t n, struct ip_addr *a)
{
    if (ip_parse(s, n, a)) return true;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        return close && ip_parse(s, (size_t)(close - s) + 1, a);
    }
    const char *colon = memchr(s, ':', n);
    if (!colon || memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) return false;
    return ip_parse(s, (size_t)(colon - s), a);
}

#define MAX_ITEMS 64

struct item {
    bool valid, trusted;
    struct ip_addr ip;
};

static void check_forwarded(const char *xff, size_t len, const struct cidr *trusted,
                            size_t ntrusted)
{
    struct ip_addr client;
    memset(client.b, 0xA5, sizeof client.b);
    bool r = cidr_forwarded_client(xff, len, trusted, ntrusted, &client);

    /* The elements, split at every ',' and trimmed of spaces and tabs. */
    struct item items[MAX_ITEMS];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && xff[i] != ',') continue;
        if (n == MAX_ITEMS) return; /* too many to follow: only the sanitizers check */
        size_t a = start, b = i;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t')) a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t')) b--;
        struct item *it = &items[n++];
        it->valid = ref_item(xff + a, b - a, &it->ip);
        it->trusted = it->valid && cidr_match_any(trusted, ntrusted, &it->ip);
        start = i + 1;
    }
    if (len == 0) {
        if (r) abort();
        return;
    }

    /* Walking from the right: the first element that is not a trusted proxy.
     * Every element up to it must be an address. */
    size_t k = n;
    while (k > 0 && items[k - 1].trusted) k--;
    if (k > 0 && items[k - 1].valid) {
        /* an untrusted address with only trusted proxies after it */
        if (!r || !same(&client, &items[k - 1].ip)) abort();
        return;
    }
    if (k > 0) {
        /* garbage on the walk (an empty leftmost element too): nothing is believed */
        if (r) abort();
        return;
    }
    /* all trusted: the leftmost */
    if (!r || !same(&client, &items[0].ip)) abort();
}

static const char *const trusted_specs[] = {"10.0.0.0/8", "192.168.0.0/16", "::1", "fc00::/7",
                                            "2001:db8::/32"};

volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;

    /* The whole input as one literal. */
    struct ip_addr a;
    if (ip_parse(text, size, &a)) {
        check_round_trip(&a);
        if (memchr(text, '\0', size)) abort();
    }

    /* The last 16 bytes as an address, printed and parsed back. */
    if (size >= 16) {
        memcpy(a.b, data + size - 16, 16);
        check_round_trip(&a);
    }

    /* The first line as a range. */
    const uint8_t *eol = memchr(data, '\n', size);
    size_t llen = eol ? (size_t)(eol - data) : size;
    char spec[128];
    if (llen < sizeof spec) {
        memcpy(spec, data, llen);
        spec[llen] = '\0';
        check_cidr(spec);
    }

    /* The whole input as X-Forwarded-For, against the fixed trusted ranges
     * and, when the first line is one, that range as well. */
    struct cidr trusted[8];
    size_t nt = 0;
    char err[64];
    for (size_t i = 0; i < sizeof trusted_specs / sizeof trusted_specs[0]; i++)
        if (cidr_parse(trusted_specs[i], &trusted[nt], err, sizeof err) == 0) nt++;
    check_forwarded(text, size, trusted, nt);
    check_forwarded(text, size, NULL, 0);
    if (llen < sizeof spec && cidr_parse(spec, &trusted[nt], err, sizeof err) == 0)
        check_forwarded(text, size, trusted, nt + 1);
    sink = nt;
    return 0;
}
