/* The options the connections read. core/options.c fills them in; a
 * reload replaces them, so nothing keeps a pointer into them across
 * callbacks. */
#ifndef WSB_NET_SETTINGS_H
#define WSB_NET_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cidr.h"

struct conn_settings {
    enum { SSL_OFF, SSL_ON, SSL_AUTO } ssl; /* TLS on the listeners (not --redirport's) */
    double handshake_timeout;               /* seconds for TLS and the request head */
    double idle_timeout;                    /* seconds without a message; 0: off */
    unsigned pingms;                        /* 0: no pings */
    uint64_t maxmsgsize;                    /* 0: unlimited */
    char *headers_http; /* ready "Name: value\r\n" lines for every plain HTTP answer */

    /* who may connect */
    struct cidr *allow, *deny, *trusted;
    size_t nallow, ndeny, ntrusted;
    bool trust_unix; /* --trusted-proxy=unix */
    bool proxy_protocol;
    unsigned maxconn_per_ip; /* 0: no limit */
};

#endif
