#include "autoconfig.h"

#include "http/origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* host[:port] with an optional [IPv6]; the port stays 0 when absent. */
static bool split_host_port(const char *s, size_t n, char *host, size_t hcap, unsigned *port)
{
    const char *h = s, *p = NULL;
    size_t hl;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return false;
        hl = (size_t)(close - s) + 1; /* keep the brackets: compared as text */
        if (s + hl < s + n) {
            if (s[hl] != ':') return false;
            p = s + hl + 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        hl = colon ? (size_t)(colon - s) : n;
        if (colon) p = colon + 1;
    }
    if (hl == 0 || hl >= hcap) return false;
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= ' ' || h[i] == '/' || h[i] == '@') return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = 0;
    if (p) {
        size_t pl = n - (size_t)(p - s);
        if (pl == 0 || pl > 5) return false;
        unsigned v = 0;
        for (size_t i = 0; i < pl; i++) {
            if (p[i] < '0' || p[i] > '9') return false;
            v = v * 10 + (unsigned)(p[i] - '0');
        }
        if (v == 0 || v > 65535) return false;
        *port = v;
    }
    return true;
}

/* scheme "://" host[:port], as browsers send Origin. */
static bool parse_origin(const char *s, size_t n, char *scheme, size_t scap, char *host,
                         size_t hcap, unsigned *port)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    if (!sep || sep == s || (size_t)(sep - s) >= scap) return false;
    for (const char *c = s; c < sep; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '+' || *c == '-' || *c == '.'))
            return false;
    size_t sl = (size_t)(sep - s);
    for (size_t i = 0; i < sl; i++) scheme[i] = (char)(s[i] | 0x20);
    scheme[sl] = '\0';
    const char *rest = sep + 3;
    size_t rl = n - (size_t)(rest - s);
    if (rl && rest[rl - 1] == '/') rl--; /* tolerate a trailing slash */
    if (!split_host_port(rest, rl, host, hcap, port)) return false;
    if (*port == 0) *port = strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0 ? 443 : 80;
    return true;
}

int origin_rules_parse(const char *list, struct origin_rule **rules, size_t *n, char *err,
                       size_t errlen)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len) {
            struct origin_rule r = {0};
            const char *sep = NULL;
            for (size_t i = 0; i + 2 < len; i++)
                if (p[i] == ':' && p[i + 1] == '/' && p[i + 2] == '/') {
                    sep = p + i;
                    break;
                }
            const char *hp = p;
            size_t hl = len;
            if (sep) {
                size_t sl = (size_t)(sep - p);
                if (sl == 0 || sl >= sizeof r.scheme) {
                    snprintf(err, errlen, "bad scheme in '%.*s'", (int)len, p);
                    return -1;
                }
                for (size_t i = 0; i < sl; i++) r.scheme[i] = (char)(p[i] | 0x20);
                hp = sep + 3;
                hl = len - sl - 3;
            }
            if (hl && hp[hl - 1] == '/') hl--;
            if (!split_host_port(hp, hl, r.host, sizeof r.host, &r.port)) {
                snprintf(err, errlen, "expected host[:port] in '%.*s'", (int)len, p);
                return -1;
            }
            struct origin_rule *grown = realloc(*rules, (*n + 1) * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            *rules = grown;
            grown[(*n)++] = r;
        }
        p += (comma ? (size_t)(comma - p) + 1 : strlen(p));
    }
    return 0;
}

bool origin_allowed(const struct origin_rule *rules, size_t n, const char *origin, size_t len)
{
    char scheme[16], host[256];
    unsigned port;
    if (!parse_origin(origin, len, scheme, sizeof scheme, host, sizeof host, &port)) return false;
    for (size_t i = 0; i < n; i++) {
        const struct origin_rule *r = &rules[i];
        if (r->scheme[0] && strcmp(r->scheme, scheme) != 0) continue;
        if (strcasecmp(r->host, host) != 0) continue;
        if (r->port && r->port != port) continue;
        return true;
    }
    return false;
}

bool origin_same(const char *origin, size_t olen, const char *hosthdr, size_t hlen, bool tls)
{
    char scheme[16], ohost[256], host[256];
    unsigned oport, port;
    if (!parse_origin(origin, olen, scheme, sizeof scheme, ohost, sizeof ohost, &oport))
        return false;
    if (!split_host_port(hosthdr, hlen, host, sizeof host, &port)) return false;
    if (port == 0) port = tls ? 443 : 80;
    return strcasecmp(ohost, host) == 0 && oport == port;
}
