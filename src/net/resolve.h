/* Reverse DNS that never blocks the event loop (--reverselookup's
 * REMOTE_HOST): the blocking lookups run on a few threads of their own, the
 * answers come back to the loop, and a cache remembers them. One resolver
 * per event loop (context_resolver() makes it on first use). */
#ifndef WSB_RESOLVE_H
#define WSB_RESOLVE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto/cidr.h"

#define RESOLVE_NAME_MAX 254 /* a host name (at most 253 bytes) and its NUL */

/* The bounds (see resolve.c for why these numbers). */
#define RESOLVE_THREADS_MAX 4     /* threads doing lookups, made as queries need them */
#define RESOLVE_QUERIES_MAX 256   /* queries queued or running; beyond: no name at once */
#define RESOLVE_CACHE_MAX   1024  /* answers kept; the oldest goes first */
#define RESOLVE_TTL_NAME    300.0 /* seconds a name is kept */
#define RESOLVE_TTL_NONE    60.0  /* seconds "no name" is kept */

struct resolver;
struct resolve_wait; /* one caller waiting for an answer */

enum resolve_status {
    RESOLVE_DONE,    /* the cache answered: out holds the name, or "" for none */
    RESOLVE_PENDING, /* cb will be called (once) */
};

/* The answer: a host name, or NULL when there is none (no PTR record, one
 * that does not lead back to the address, an implausible name, an error, or
 * no answer within the timeout): the caller then uses the address. The
 * string is valid during the call only. */
typedef void (*resolve_cb)(void *arg, const char *name);

/* NULL when out of memory. No thread is made before the first query. */
struct resolver *resolver_new(struct ev_loop *loop);

/* Free everything the loop holds; waiters left get no callback. Threads
 * still inside a lookup finish it and then free what they share. */
void resolver_free(struct resolver *r);

/* The name of addr. RESOLVE_DONE: from the cache (or, with too many queries
 * waiting already, none), in out. RESOLVE_PENDING: cb(arg, name) is called
 * exactly once, from the loop, when the answer comes or after timeout
 * seconds, whichever is first; until then *handle can cancel it. Concurrent
 * lookups of one address share one query; an answer that comes after the
 * timeout still goes into the cache. */
enum resolve_status resolver_lookup(struct resolver *r, const struct ip_addr *addr, double timeout,
                                    char out[RESOLVE_NAME_MAX], resolve_cb cb, void *arg,
                                    struct resolve_wait **handle);

/* No callback for this waiter, ever (not after its callback has run). */
void resolver_cancel(struct resolve_wait *w);

/* Forward-confirmed reverse DNS, blocking (what the threads run): the PTR
 * name of addr (getnameinfo with NI_NAMEREQD), only when it is a plausible
 * host name and its own addresses (getaddrinfo) include addr. Returns
 * whether out got a name. */
bool resolve_confirmed(const struct ip_addr *addr, char out[RESOLVE_NAME_MAX]);

/* Letters, digits, '-', '_' and '.' (no empty label, at most 253 bytes): a
 * PTR record can hold any bytes, and the name goes into an environment
 * variable and the logs. */
bool resolve_name_plausible(const char *name, size_t len);

/* For the unit tests: what the threads run instead of resolve_confirmed()
 * (called on those threads), and the cache's clock instead of ev_now().
 * Before the first lookup. */
struct resolver_hooks {
    bool (*lookup)(const struct ip_addr *addr, char out[RESOLVE_NAME_MAX]);
    ev_tstamp (*now)(struct ev_loop *loop);
};
void resolver_set_hooks(struct resolver *r, const struct resolver_hooks *hooks);

#endif
