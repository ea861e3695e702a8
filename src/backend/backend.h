/* What a backend (exec, proxy, shared; CGI) is: the calls its sessions
 * make on it (struct session_handler, in net/session.h), how it starts a
 * session, and the hooks the server calls over its life. The server knows backends only
 * through this file; backend.c holds the table of them. */
#ifndef WSB_BACKEND_H
#define WSB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/settings.h"
#include "base/metrics.h"
#include "net/session.h"

struct backend;
struct conn;
struct conn_handler;
struct context;
struct http_request;

enum backend_start {
    BACKEND_READY,   /* answer 101 now */
    BACKEND_PENDING, /* the backend calls session_ready() or session_refused() */
    BACKEND_REFUSED, /* see struct backend_refusal */
};

struct backend_refusal {
    int http_status; /* the answer, or 0: accept the WebSocket, then close it with 1011 */
    char why[256];   /* logged, and the body of an HTTP answer */
};

struct backend_ops {
    enum metric_mode mode; /* what --metrics-path calls its sessions' traffic */
    /* Each message goes to every client (--shared): compressed once, so
     * sessions agree on server_no_context_takeover at a fixed window. */
    bool broadcast;
    /* Whether this backend serves these settings; exactly one does. */
    bool (*serves)(const struct backend_settings *set);
    /* Optional: at start-up, before workers are forked and while few
     * descriptors are open. */
    void (*prepare)(const struct backend_settings *set);
    /* Make b->state: resolve targets, load tokens, start a shared COMMAND.
     * Returns 0, or -1 with the reason in err. */
    int (*setup)(struct backend *b, char *err, size_t errlen);
    /* The handshake is valid and s->handler is &ops->session: take the
     * session. The backend may pick s->subprotocol. */
    enum backend_start (*start)(struct backend *b, struct session *s,
                                const struct http_request *req, struct backend_refusal *refusal);
    /* What the session calls from then on. */
    struct session_handler session;
    /* Instead of start (CGI): answer a plain HTTP request on c, through
     * conn_start_response(c, responder, ...). */
    enum backend_start (*respond)(struct backend *b, struct conn *c, const struct http_request *req,
                                  struct backend_refusal *refusal);
    const struct conn_handler *responder;
    /* Optional: SIGHUP, after b->set was replaced (targets, tokens). */
    void (*reload)(struct backend *b);
    /* Optional: a reload removed or replaced the route this backend serves:
     * new sessions go elsewhere; end once the sessions still here are over. */
    void (*retire)(struct backend *b);
    /* Optional: a graceful stop begins, before the connections are told. */
    void (*stop)(struct backend *b);
    /* Optional: a second signal or the shutdown deadline: SIGKILL what runs. */
    void (*kill)(struct backend *b);
    /* At exit, once every connection is closed: free everything. */
    void (*teardown)(struct backend *b);
};

/* One backend serving sessions (of one route, or of the top level), with
 * its own state. */
struct backend {
    const struct backend_ops *ops;
    struct context *ctx;
    const struct backend_settings *set; /* replaced by a reload */
    const char *command_path;           /* COMMAND resolved against PATH at start-up */
    const char *script_root;            /* --dir as a canonical path, or NULL */
    void *state;                        /* the backend's own */
    unsigned objects;                   /* its objects alive (children, target sockets...) */
    unsigned nchildren;                 /* its processes, unreaped or about to start (--maxforks) */
};

/* The backend that serves these settings. */
const struct backend_ops *backend_select(const struct backend_settings *set);

/* An object a graceful stop waits for (a child, a target socket) now
 * exists / has gone. Once a retired route's backend has no object left,
 * the sweeper frees it after the current callbacks: an object that has
 * been released must not reach b from a later callback. */
void backend_hold(struct backend *b);
void backend_release(struct backend *b);

/* --subprotocol: set s->subprotocol to the first of set's that the client
 * offers. Returns false, with r filled (400 naming ours), when there is
 * none and --subprotocol-required. */
bool backend_pick_subprotocol(const struct backend_settings *set, struct session *s,
                              const struct http_request *req, struct backend_refusal *r);

/* --dir, --cgidir: the script the request's path names under root (see
 * rootpath_find_script): 200 with m filled, 404, 403, or 503 when out of
 * memory. */
struct script_match;
int backend_find_script(const char *root, const struct http_request *req, struct script_match *m);

/* --cgidir: the backend that runs CGI scripts for plain HTTP requests (its
 * start() answers the request: BACKEND_READY once it has taken it,
 * BACKEND_REFUSED with the status to answer otherwise, 404 when no script
 * is there). */
const struct backend_ops *backend_cgi(void);

/* A process of b was started / has been reaped (status as from waitpid(),
 * or -1 when it was not waited for here). */
void backend_child_started(struct backend *b);
void backend_child_reaped(struct backend *b, int status);

#endif
