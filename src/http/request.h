/* What to do with a complete request head: who the client is (behind
 * trusted proxies), whether it may come in (--allow/--deny, Basic auth,
 * Origin), then a static file, a redirect to https, or a WebSocket session
 * served by the endpoint's backend. */
#ifndef WSB_REQUEST_H
#define WSB_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "http/auth.h"
#include "http/settings.h"

struct backend;
struct conn;
struct http_request;

/* Everything that answers the requests of one route (or of the top level).
 * The server builds it with the route table. */
struct endpoint {
    const struct http_settings *set;
    const char *static_root; /* --staticdir as a canonical path, or NULL */
    struct auth_table auth;  /* --basic-auth and --htpasswd users */
    bool auth_required;
    unsigned https_port;     /* where --redirport's 301s point */
    struct backend *backend; /* serves the WebSocket sessions; NULL: none here (404) */
    struct backend *cgi;     /* --cgidir: runs the scripts of plain HTTP requests, or NULL */
};

/* The routing callback of struct context (route_arg is the struct
 * route_table, http/route.h). head_len: bytes of the head at the start of
 * c->in (frames may follow). */
void request_route(void *table, struct conn *c, const struct http_request *req, size_t head_len);

#endif
