/* What the connections and backends of one event loop share. The server
 * (core/) owns it, fills it in and keeps it current across reloads; the
 * layers below reach the server only through the two callbacks here. With
 * --workers every worker has its own. */
#ifndef WSB_CONTEXT_H
#define WSB_CONTEXT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ipcount.h"
#include "net/settings.h"
#include "proto/cidr.h"

struct conn;
struct fb_table;
struct http_request;
struct resolver;
typedef struct ssl_ctx_st SSL_CTX;

struct context {
    struct ev_loop *loop;
    const struct conn_settings *set;        /* replaced by a reload */
    const struct session_settings *session; /* the top level's; replaced by a reload */
    SSL_CTX *tls;                           /* --ssl: replaced by a reload, sessions keep theirs */

    struct conn *conns; /* every live connection */
    size_t nconns;
    struct conn *graveyard; /* closed connections, freed after the current callbacks */
    ev_check sweeper;
    uint64_t next_conn_id;
    struct ipcount per_ip; /* --maxconn-per-ip */
    unsigned maxconn;      /* --maxconn in force (0: none), for --health-path */
    bool stopping;         /* a graceful stop has begun */
    ev_tstamp refusals_logged;
    unsigned refusals_unlogged;

    unsigned nchildren;        /* processes not yet reaped (what --maxforks counts) */
    unsigned nbackend_objs;    /* backend objects alive (a graceful stop waits for them) */
    bool release_pending;      /* one has gone since the sweeper last ran */
    struct resolver *resolver; /* reverse lookups (net/resolve.h): made on first use */
    struct fb_table *fallback; /* --fallback's sessions (net/fallback.h): made on first use */

    /* A complete request head (head_len bytes at the start of c->in):
     * answer it or start a session. */
    void (*route)(void *route_arg, struct conn *c, const struct http_request *req, size_t head_len);
    void *route_arg;
    /* A routed connection is freed: c->route, as the routing callback set it. */
    void (*route_done)(struct context *ctx, void *route);
    /* A connection or a backend object has gone (a graceful stop may be
     * over; a retired route table may be free). Called by the sweeper, after
     * the callbacks of the loop iteration, never from inside them. */
    void (*released)(struct context *ctx);
};

void context_init(struct context *ctx, struct ev_loop *loop);

/* Graceful stop: open sessions end (their backends first deliver what they
 * still have), connections still in their handshake are closed. */
void context_stop_all(struct context *ctx);

/* Close every connection at once and free the closed ones. */
void context_close_all(struct context *ctx);

/* After context_close_all(): free the rest (the TLS context included). */
void context_free(struct context *ctx);

/* The loop's resolver, made (with no thread yet) on the first call; NULL
 * when out of memory. */
struct resolver *context_resolver(struct context *ctx);

/* --deny wins, then --allow (when given) must match. */
bool context_address_allowed(const struct context *ctx, const struct ip_addr *ip);

/* Log a refused connection, at most one line a second (floods stay quiet). */
void context_log_refusal(struct context *ctx, const char *what);

/* A backend object that a graceful stop waits for (a child, a socket to a
 * target) now exists / has gone (the sweeper then calls ctx->released). */
void context_hold(struct context *ctx);
void context_release(struct context *ctx);

#endif
