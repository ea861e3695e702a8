/* Which endpoint answers a request: the [route] sections of the --config
 * file, matched by the request's (decoded) path; the top level answers what
 * no route matches. */
#ifndef WSB_ROUTE_H
#define WSB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"
#include "net/settings.h"

struct context;

struct route {
    const char *path; /* NULL for the top level */
    size_t len;
    bool exact; /* this path only; else every path it is a prefix of */
    struct endpoint ep;
    const struct session_settings *session;
};

/* One configuration's routes. The server builds it (core/routes.c) and keeps
 * it, once a reload has replaced it, until no connection routed through it
 * is left. */
struct route_table {
    struct route *routes;
    size_t n;
    struct route top;
    unsigned conns; /* connections routed here and not yet freed */
};

/* The route for a decoded path: the route of exactly that path, else the
 * longest prefix, else the top level. */
struct route *route_match(struct route_table *t, const char *path, size_t len);

/* struct context's route_done: a connection routed through table is freed. */
void route_done(struct context *ctx, void *table);

#endif
