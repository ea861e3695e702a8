/* The server: listeners and accepting, signals, reloads and the graceful
 * stop, around the context its connections share, the endpoint that answers
 * their requests and the backend that serves their sessions. */
#ifndef WSB_SERVER_H
#define WSB_SERVER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/options.h"
#include "core/routes.h"
#include "net/context.h"

struct listener {
    struct server *srv;
    int fd;
    ev_io io;
    bool redirect;  /* --redirport: plain HTTP answered with 301 to https */
    char name[128]; /* "127.0.0.1:8080", "[::1]:8080" or "unix:/path" for logs */
};

struct server {
    struct context ctx;     /* what connections and backends share */
    struct routes *routes;  /* what answers requests; a reload replaces it */
    struct routes *retired; /* replaced tables that connections still use */
    struct config *cfg;     /* routes->cfg once built (before: owned here) */
    int argc;               /* the command line, parsed again on reload */
    char **argv;
    struct listener *listeners;
    size_t nlisteners;
    bool stopping;
    ev_signal sigint, sigterm, sighup;
    ev_timer accept_backoff; /* listeners paused after EMFILE/ENFILE */
    ev_timer stop_deadline;

    unsigned maxconn;         /* effective limit (0: none) */
    unsigned default_maxconn; /* what the open-file limit allows, without --maxconn */
    char *unix_path;          /* the --unixsocket file we created (removed at exit) */
    dev_t unix_dev;
    ino_t unix_ino;
    int spare_fd; /* given up to accept (and refuse) a connection at EMFILE */
};

/* srv takes ownership of cfg (heap-allocated, resolved by routes_resolve());
 * argc/argv are kept for reloads. */
void server_init(struct server *srv, struct ev_loop *loop, struct config *cfg, int argc,
                 char **argv);

/* Load what --ssl needs, then build the route table (users, backends).
 * Returns 0, or -1 with one readable line in err. */
int server_setup(struct server *srv, char *err, size_t errlen);

/* Bind every configured address (and --redirport). Returns 0, or -1 after
 * logging why. */
int server_listen(struct server *srv);

/* Graceful stop: close listeners, close every connection with 1001, let
 * children end; the loop returns once nothing is left (or at the deadline). */
void server_stop(struct server *srv);

void server_free(struct server *srv);

#endif
