/* The HTTP fallback transport (doc/fallback.md): a session carried by plain
 * HTTP/1.1 requests when a WebSocket cannot get through. An open request
 * makes it; an event stream (text/event-stream) carries its messages to the
 * client, from a bounded replay window; POSTs of records carry the
 * client's. The backends see the same struct session as on a WebSocket
 * (net/session.h); session.c passes their calls here when
 * s->transport == SESSION_FALLBACK. */
#ifndef WSB_FALLBACK_H
#define WSB_FALLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/session.h"

struct compress_settings;
struct conn;
struct context;
struct http_request;
struct sq_block;

/* The newest sent bytes of events a session keeps for a client that
 * resumes its stream. */
#define FALLBACK_REPLAY (256 * 1024)
/* Seconds an ended session keeps its close event once a stream has taken
 * it, for a client whose stream broke just then. */
#define FALLBACK_LINGER 5.0
/* A long poll's longest wait when heartbeats are off (--pingms=0). */
#define FALLBACK_POLL_MAX 25.0
/* Bytes of record headers a POST body may carry beyond --maxmsgsize. */
#define FALLBACK_BODY_SLACK 64

enum fallback_kind {
    FALLBACK_NONE,   /* not a fallback request */
    FALLBACK_OPEN,   /* POST with X-WSBridge: open */
    FALLBACK_STREAM, /* session=ID, not a POST: the event stream */
    FALLBACK_POST,   /* session=ID, a POST: client messages */
};

/* What kind of fallback request req is; query is its query string. */
enum fallback_kind fallback_classify(const struct http_request *req, const char *query,
                                     size_t query_len);

/* The open request on c (its head is the first head_len bytes of c->in):
 * a new session for c's client, pending, with its route (route, already
 * counted by the caller, is given to the session: ctx->route_done() lets go
 * of it). NULL after answering a refusal. The caller sets the handler and
 * mode, starts the backend, and then calls session_ready() or
 * session_refused(), or leaves it pending for the backend to. */
struct session *fallback_open(struct conn *c, size_t head_len, void *route);

/* The request a backend sees for a fallback session: req as a WebSocket
 * upgrade would have carried it (GET; X-WSBridge-Protocol as
 * Sec-WebSocket-Protocol; the fallback's own headers left out). */
void fallback_request_view(struct http_request *view, const struct http_request *req);

/* An event stream or a message POST on c for the session its query names. */
void fallback_serve(struct conn *c, const struct http_request *req, enum fallback_kind kind,
                    const char *query, size_t query_len);

/* Fallback sessions alive (they count in --maxconn with the connections). */
size_t fallback_count(const struct context *ctx);

/* The server is stopping: open sessions end as WebSocket sessions do. */
void fallback_stop_all(struct context *ctx);
/* End every session at once (before the loop stops) and free them. */
void fallback_close_all(struct context *ctx);
/* Free the sessions that ended (the context's sweeper calls this). */
void fallback_sweep(struct context *ctx);

/* The session calls of net/session.h, for a fallback session. */
int fallback_send(struct session *s, uint8_t b0, const void *p, size_t n);
uint8_t *fallback_send_begin(struct session *s, uint8_t b0, size_t n);
void fallback_send_commit(struct session *s, size_t n);
uint8_t *fallback_space(struct session *s, size_t max);
void fallback_space_commit(struct session *s, uint8_t b0, size_t n);
void fallback_flush(struct session *s);
size_t fallback_queued(const struct session *s);
long fallback_queue_shared(struct session *s, struct sq_block *block, unsigned msgs);
void fallback_drop_shared(struct session *s);
void fallback_resume_input(struct session *s);
bool fallback_input_held(const struct session *s);
void fallback_close(struct session *s, uint16_t code, const char *reason);
void fallback_finish(struct session *s, uint16_t code, const char *reason);
void fallback_abort(struct session *s, const char *why);
bool fallback_is_open(const struct session *s);
void fallback_ready(struct session *s);
void fallback_refused(struct session *s, int http_status, const char *why);
bool fallback_request(const struct session *s, struct http_request *req);
struct session_client fallback_client(const struct session *s);

#endif
