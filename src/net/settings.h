/* The options the connections read. core/options.c fills them in; a
 * reload replaces them: nothing keeps a pointer into a struct conn_settings
 * across callbacks, and a connection that holds its route's session
 * settings also holds the route table they belong to. */
#ifndef WSB_NET_SETTINGS_H
#define WSB_NET_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cidr.h"

struct conn_settings {
    enum { SSL_OFF, SSL_ON, SSL_AUTO } ssl; /* TLS on the listeners (not --redirport's) */
    double handshake_timeout;               /* seconds for TLS and the request head */

    /* who may connect */
    struct cidr *allow, *deny, *trusted;
    size_t nallow, ndeny, ntrusted;
    bool trust_unix; /* --trusted-proxy=unix */
    bool proxy_protocol;
    unsigned maxconn_per_ip;  /* 0: no limit */
    bool maxconn_per_ip_set;  /* given: loopback peers count too (else a proxy on this
                                 machine would bring every client under one address) */
    double keepalive_timeout; /* seconds an idle plain HTTP connection is kept; 0: close */
};

/* permessage-deflate (RFC 7692; net/compress.c). */
struct compress_settings {
    bool on;
    bool high_ratio;     /* context takeover both ways: a zlib stream per connection and direction;
                            else streams exist only while a message is compressed or inflated */
    uint8_t level;       /* zlib level, 1..9 */
    uint8_t window_bits; /* 9..15: the largest window the server compresses with */
    uint8_t mem_level;   /* zlib memLevel, 1..9 */
    uint32_t min_size;   /* messages shorter than this go out uncompressed */
};

/* What a connection reads once a route is chosen (each route has its own;
 * before that, and for the global endpoint, the top level's). */
struct session_settings {
    uint64_t maxmsgsize;     /* 0: unlimited */
    unsigned pingms;         /* 0: no pings */
    double idle_timeout;     /* seconds without a message; 0: off */
    bool fallback;           /* --fallback: the HTTP fallback transport too */
    double fallback_timeout; /* --fallback-timeout: seconds a session may go without a stream */
    char *headers_http;      /* ready "Name: value\r\n" lines for every plain HTTP answer */
    struct compress_settings compress;
};

#endif
