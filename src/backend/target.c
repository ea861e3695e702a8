#include "autoconfig.h"

#include "backend/target.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static bool parse_port(const char *s, unsigned *port)
{
    if (!*s || strlen(s) > 5) return false;
    unsigned v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10 + (unsigned)(*c - '0');
    }
    if (v == 0 || v > 65535) return false;
    *port = v;
    return true;
}

int target_parse(const char *spec, struct target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    size_t len = strlen(spec);
    if (len >= sizeof t->name) {
        snprintf(err, errlen, "target too long");
        return -1;
    }
    memcpy(t->name, spec, len + 1);
    if (strncmp(spec, "unix:", 5) == 0) {
        const char *path = spec + 5;
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof t->path) {
            snprintf(err, errlen, "unix socket path must be 1 to %zu bytes", sizeof t->path - 1);
            return -1;
        }
        t->is_unix = true;
        memcpy(t->path, path, n + 1);
        return 0;
    }
    const char *host = spec, *colon;
    size_t host_len;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "expected [IPv6]:PORT");
            return -1;
        }
        host = spec + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || strchr(spec, ':') != colon) {
            snprintf(err, errlen, "expected HOST:PORT, [IPv6]:PORT or unix:/path");
            return -1;
        }
        host_len = (size_t)(colon - spec);
    }
    if (host_len == 0 || host_len >= sizeof t->host) {
        snprintf(err, errlen, "missing or too long host");
        return -1;
    }
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= ' ' || c == '/' || c >= 0x7F) {
            snprintf(err, errlen, "invalid character in host");
            return -1;
        }
    }
    if (!parse_port(colon + 1, &t->port)) {
        snprintf(err, errlen, "port must be a number from 1 to 65535");
        return -1;
    }
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    return 0;
}

int target_resolve(struct target *t, char *err, size_t errlen)
{
    if (t->is_unix) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&t->addrs[0];
        memset(sun, 0, sizeof *sun);
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, t->path, strlen(t->path) + 1);
        t->addr_lens[0] = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(t->path) + 1);
        t->naddrs = 1;
        return 0;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    char port[8];
    snprintf(port, sizeof port, "%u", t->port);
    int rc = getaddrinfo(t->host, port, &hints, &res);
    if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
        /* AI_ADDRCONFIG hides loopback-only families; try without it. */
        hints.ai_flags = 0;
        rc = getaddrinfo(t->host, port, &hints, &res);
    }
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", t->host, gai_strerror(rc));
        return -1;
    }
    size_t n = 0;
    for (struct addrinfo *ai = res; ai && n < TARGET_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof t->addrs[n]) continue;
        memcpy(&t->addrs[n], ai->ai_addr, ai->ai_addrlen);
        t->addr_lens[n] = ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    if (n == 0) {
        snprintf(err, errlen, "no usable address for %s", t->host);
        return -1;
    }
    t->naddrs = n;
    return 0;
}
