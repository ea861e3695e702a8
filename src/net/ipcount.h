/* Open connections per client address, for --maxconn-per-ip. */
#ifndef WSB_IPCOUNT_H
#define WSB_IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cidr.h"

struct ipcount_node;

struct ipcount {
    struct ipcount_node **buckets;
    size_t nbuckets, nodes;
    uint64_t seed; /* random, so that clients cannot aim at one bucket */
};

void ipcount_init(struct ipcount *t, uint64_t seed);

/* Count one more connection unless the address already has `limit` (0: no
 * limit). False when refused (or out of memory). */
bool ipcount_take(struct ipcount *t, const struct ip_addr *ip, unsigned limit);

/* One connection of this address ended. */
void ipcount_release(struct ipcount *t, const struct ip_addr *ip);

unsigned ipcount_get(const struct ipcount *t, const struct ip_addr *ip);

void ipcount_free(struct ipcount *t);

#endif
