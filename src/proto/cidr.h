/* Address ranges ("10.0.0.0/8", "2001:db8::/32", "127.0.0.1") for --allow,
 * --deny and --trusted-proxy, and the client address behind trusted proxies. */
#ifndef WSB_CIDR_H
#define WSB_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address in one form for both families: IPv4 as IPv4-mapped IPv6. */
struct ip_addr {
    uint8_t b[16];
};

struct cidr {
    struct ip_addr net;
    unsigned bits; /* prefix length over the 128-bit form */
};

/* Parse an IPv4 or IPv6 literal (brackets allowed) into a. */
bool ip_parse(const char *s, size_t len, struct ip_addr *a);

/* From a socket address; false for other families. */
bool ip_from_sockaddr(const struct sockaddr *sa, struct ip_addr *a);

/* 127.0.0.0/8 (also as ::ffff:127.x.y.z) or ::1. */
bool ip_is_loopback(const struct ip_addr *a);

/* Text form: dotted IPv4 for mapped addresses, else IPv6. */
void ip_format(const struct ip_addr *a, char *out, size_t len);

/* "ADDR" or "ADDR/BITS". Returns 0, or -1 with a reason in err. */
int cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen);

bool cidr_match(const struct cidr *c, const struct ip_addr *a);
bool cidr_match_any(const struct cidr *list, size_t n, const struct ip_addr *a);

/* The client behind trusted proxies, from an X-Forwarded-For value: walking
 * from the right, the first address that is not a trusted proxy (or the
 * leftmost when all are). False when an element on that walk is not an
 * address: then nothing in the header is believed. */
bool cidr_forwarded_client(const char *xff, size_t len, const struct cidr *trusted, size_t ntrusted,
                           struct ip_addr *client);

#endif
