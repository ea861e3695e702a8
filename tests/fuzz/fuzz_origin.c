/* libFuzzer target for origin.c: origin_rules_parse on the first line (every
 * rule clean), origin_allowed and origin_same on the rest as the Origin value
 * (with the first line as the Host header), origin_allowed over a list equal
 * to the OR over its rules, and a rule built from the origin itself: when
 * the origin is "scheme://host[:port][/]" with a valid scheme, the rule list
 * made of that same text parses to one rule exactly when the origin parses,
 * and that rule allows it; changing its port or scheme refuses it, and
 * origin_same with the rule's host and port as Host agrees. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/origin.h"

static bool scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

/* Whether s starts with a scheme as parse_origin wants one: 1 to 15 scheme
 * characters, then the first "://" of the text. */
static bool valid_scheme(const char *s, size_t n)
{
    size_t i = 0;
    while (i + 2 < n && !(s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/')) i++;
    if (i + 2 >= n || i == 0 || i >= 16) return false;
    for (size_t k = 0; k < i; k++)
        if (!scheme_char(s[k])) return false;
    return true;
}

static void check_rule(const struct origin_rule *r)
{
    size_t hl = strnlen(r->host, sizeof r->host), sl = strnlen(r->scheme, sizeof r->scheme);
    if (hl == 0 || hl == sizeof r->host || sl == sizeof r->scheme) abort();
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)r->host[i];
        if (c <= ' ' || c == '/' || c == '@') abort();
    }
    for (size_t i = 0; i < sl; i++)
        if (r->scheme[i] >= 'A' && r->scheme[i] <= 'Z') abort();
    if (r->port > 65535) abort();
    if (r->host[0] == '[' && r->host[hl - 1] != ']') abort();
    if (r->host[0] != '[' && strchr(r->host, ':')) abort();
}

static bool allowed1(const struct origin_rule *r, const char *origin, size_t len)
{
    return origin_allowed(r, 1, origin, len);
}

static bool same_host(const char *origin, size_t len, const char *host, bool tls)
{
    return origin_same(origin, len, host, strlen(host), tls);
}

/* The origin is a C string without ',', NUL, or blanks at either end. */
static void check_self(const char *origin, size_t len)
{
    struct origin_rule *rs = NULL;
    size_t n = 0;
    char err[128];
    int rc = origin_rules_parse(origin, &rs, &n, err, sizeof err);
    bool scheme = valid_scheme(origin, len);
    bool any = origin_allowed(rs, n, origin, len);
    if (!scheme || rc != 0) {
        /* not an origin: nothing allows it, not even its own host for any scheme */
        if (any) abort();
        if (rc == 0 && n == 1) {
            struct origin_rule wild = rs[0];
            wild.scheme[0] = '\0';
            if (allowed1(&wild, origin, len)) abort();
        }
        free(rs);
        return;
    }
    if (n != 1 || !rs[0].scheme[0]) abort();
    struct origin_rule r = rs[0];
    free(rs);
    check_rule(&r);
    if (!allowed1(&r, origin, len)) abort();

    bool secure = strcmp(r.scheme, "https") == 0 || strcmp(r.scheme, "wss") == 0;
    unsigned deflt = secure ? 443 : 80;
    struct origin_rule v = r;
    v.scheme[0] = '\0';
    if (!allowed1(&v, origin, len)) abort();
    v = r;
    snprintf(v.scheme, sizeof v.scheme, "%s", strcmp(r.scheme, "zz") ? "zz" : "yy");
    if (allowed1(&v, origin, len)) abort();
    /* Hosts compare without case. */
    v = r;
    for (char *c = v.host; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
        else if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (!allowed1(&v, origin, len)) abort();
    v = r;
    v.host[strlen(v.host) - 1] ^= 0x01;
    if (allowed1(&v, origin, len)) abort();

    unsigned port = r.port ? r.port : deflt;
    v = r;
    v.port = port;
    if (!allowed1(&v, origin, len)) abort();
    v.port = port % 65535 + 1;
    if (allowed1(&v, origin, len)) abort();

    /* origin_same with the rule's host and port as the Host header. */
    char host[300];
    snprintf(host, sizeof host, "%s:%u", r.host, port);
    if (!same_host(origin, len, host, false) || !same_host(origin, len, host, true)) abort();
    snprintf(host, sizeof host, "%s:%u", r.host, port % 65535 + 1);
    if (same_host(origin, len, host, false) || same_host(origin, len, host, true)) abort();
    if (r.port == 0) {
        if (!same_host(origin, len, r.host, secure) || same_host(origin, len, r.host, !secure))
            abort();
    }
}

volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *eol = memchr(data, '\n', size);
    size_t llen = eol ? (size_t)(eol - data) : size;
    size_t olen = eol ? size - llen - 1 : 0;
    char *list = malloc(llen + 1);
    char *origin = malloc(olen ? olen : 1);
    if (!list || !origin) abort();
    memcpy(list, data, llen);
    list[llen] = '\0';
    if (olen) memcpy(origin, eol + 1, olen);

    struct origin_rule *rules = NULL;
    size_t n = 0;
    char err[64];
    memset(err, 'Z', sizeof err);
    int rc = origin_rules_parse(list, &rules, &n, err, 40);
    if (rc != 0 && rc != -1) abort();
    if (rc == -1 && (!err[0] || !memchr(err, '\0', 40) || err[40] != 'Z')) abort();
    for (size_t i = 0; i < n; i++) check_rule(&rules[i]);

    bool all = origin_allowed(rules, n, origin, olen), some = false;
    for (size_t i = 0; i < n && !some; i++) some = allowed1(&rules[i], origin, olen);
    if (all != some) abort();
    if (all && !valid_scheme(origin, olen)) abort();

    bool same_plain = origin_same(origin, olen, list, llen, false);
    bool same_tls = origin_same(origin, olen, list, llen, true);
    if ((same_plain || same_tls) && !valid_scheme(origin, olen)) abort();

    /* The origin against a rule made of itself. */
    if (olen && olen < 600 && !memchr(origin, '\0', olen) && !memchr(origin, ',', olen) &&
        origin[0] != ' ' && origin[0] != '\t' && origin[olen - 1] != ' ' &&
        origin[olen - 1] != '\t') {
        char *self = malloc(olen + 1);
        if (!self) abort();
        memcpy(self, origin, olen);
        self[olen] = '\0';
        check_self(self, olen);
        free(self);
    }

    sink = n + (size_t)same_plain + (size_t)same_tls;
    free(rules);
    free(list);
    free(origin);
    return 0;
}
