/* The server: listeners and accepting, signals, reloads and the graceful
 * stop, around the context its connections share, the endpoint that answers
 * their requests and the backend that serves their sessions. */
#ifndef WSB_SERVER_H
#define WSB_SERVER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "core/options.h"
#include "http/request.h"
#include "net/context.h"

struct listener {
    struct server *srv;
    int fd;
    ev_io io;
    bool redirect;  /* --redirport: plain HTTP answered with 301 to https */
    char name[128]; /* "127.0.0.1:8080", "[::1]:8080" or "unix:/path" for logs */
};

struct server {
    struct context ctx;       /* what connections and backends share */
    struct endpoint endpoint; /* what answers requests */
    struct backend backend;   /* what serves the WebSocket sessions */
    struct config *cfg;       /* owned; replaced by a SIGHUP reload */
    int argc;                 /* the command line, parsed again on reload */
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

/* srv takes ownership of cfg (heap-allocated); argc/argv are kept for
 * reloads; ops serves the sessions. The caller then fills in what start-up
 * resolved: backend.command_path, backend.script_root, endpoint.static_root
 * (they must outlive the server). */
void server_init(struct server *srv, struct ev_loop *loop, struct config *cfg, int argc,
                 char **argv, const struct backend_ops *ops);

/* Load what --ssl, --basic-auth and --htpasswd need, then set the backend
 * up. Returns 0, or -1 with one readable line in err. */
int server_setup(struct server *srv, char *err, size_t errlen);

/* Bind every configured address (and --redirport). Returns 0, or -1 after
 * logging why. */
int server_listen(struct server *srv);

/* Graceful stop: close listeners, close every connection with 1001, let
 * children end; the loop returns once nothing is left (or at the deadline). */
void server_stop(struct server *srv);

void server_free(struct server *srv);

#endif
