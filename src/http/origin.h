/* Origin checks with websocketd's semantics: --origin=host[:port],... (a
 * scheme may be given; without a port any port matches) and --sameorigin
 * (the Origin's host and port equal the Host header's). Pure. */
#ifndef WSB_ORIGIN_H
#define WSB_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

struct origin_rule {
    char scheme[16]; /* "" when any scheme is allowed */
    char host[256];
    unsigned port; /* 0: any port */
};

/* Parse one comma-separated list, appending to *rules. Returns 0, or -1 with
 * a reason in err. */
int origin_rules_parse(const char *list, struct origin_rule **rules, size_t *n, char *err,
                       size_t errlen);

/* Whether the Origin header value matches a rule. */
bool origin_allowed(const struct origin_rule *rules, size_t n, const char *origin, size_t len);

/* Whether the Origin header names the same host and port as the Host header
 * (default ports: 80, or 443 over TLS / for https origins). */
bool origin_same(const char *origin, size_t olen, const char *host, size_t hlen, bool tls);

#endif
