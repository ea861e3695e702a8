/* The proxy backend's shared state: the target or token table, the TLS
 * context, and the live backend connections. */
#ifndef WSB_PROXY_H
#define WSB_PROXY_H

#include <stddef.h>

struct server;

/* At start-up: resolve --connect, or load --token-file; create the TLS
 * context for --ssl-target. Returns 0, or -1 with the reason in err. */
int proxy_setup(struct server *srv, char *err, size_t errlen);

/* SIGHUP: resolve the target again and reload the token table; on error
 * the old ones stay in use. */
void proxy_reload(struct server *srv);

/* At exit: close every backend connection and free the state. */
void proxy_teardown(struct server *srv);

#endif
