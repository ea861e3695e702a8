/* What to do with a complete request head: who the client is (behind
 * trusted proxies), whether it may come in (--allow/--deny, Basic auth,
 * Origin), then a static file, a redirect to https, or a WebSocket. */
#ifndef WSB_REQUEST_H
#define WSB_REQUEST_H

#include <stddef.h>

struct conn;
struct http_request;

/* head_len: bytes of the head at the start of c->in (frames may follow). */
void request_route(struct conn *c, const struct http_request *req, size_t head_len);

#endif
