/* Backend addresses: "host:port", "[v6]:port" or "unix:/path", parsed
 * without I/O and resolved (blocking) at start-up or reload. */
#ifndef WSB_TARGET_H
#define WSB_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define TARGET_MAX_ADDRS 8

struct target {
    bool is_unix;
    char host[256]; /* host name or literal, without brackets ("" for unix) */
    unsigned port;
    char path[108]; /* unix socket path (sun_path size) */
    char name[300]; /* as written, for logs */
    /* filled by target_resolve() */
    struct sockaddr_storage addrs[TARGET_MAX_ADDRS];
    socklen_t addr_lens[TARGET_MAX_ADDRS];
    size_t naddrs;
};

/* Parse a target spec. Returns 0, or -1 with a reason in err. */
int target_parse(const char *spec, struct target *t, char *err, size_t errlen);

/* Look the host up (getaddrinfo, blocking: call at start-up or reload only).
 * Returns 0, or -1 with a reason in err. Unix targets need no lookup. */
int target_resolve(struct target *t, char *err, size_t errlen);

#endif
