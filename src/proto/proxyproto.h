/* PROXY protocol v1 (text) and v2 (binary) headers, as HAProxy and nginx
 * send them ahead of the connection's own bytes. Pure parsing. */
#ifndef WSB_PROXYPROTO_H
#define WSB_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cidr.h"

#define PROXYPROTO_MAX 4096 /* a longer v2 header (TLVs) is refused */

struct proxyproto_info {
    bool has_address; /* false for LOCAL / UNKNOWN: keep the socket's peer */
    struct ip_addr src;
    unsigned src_port;
};

/* Returns the header length once it is complete, 0 when more bytes are
 * needed, or -1 when the bytes are not a valid PROXY header. */
long proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_info *info);

#endif
