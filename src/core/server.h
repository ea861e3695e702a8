/* Listeners, accepting, the set of live connections and shutdown. */
#ifndef WSB_SERVER_H
#define WSB_SERVER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "http/auth.h"
#include "core/options.h"
#include "net/ipcount.h"

struct conn;
struct exec_child;
struct proxy_state;
struct shared_hub;
struct backend_ops;

struct listener {
    struct server *srv;
    int fd;
    ev_io io;
    bool redirect;  /* --redirport: plain HTTP answered with 301 to https */
    char name[128]; /* "127.0.0.1:8080", "[::1]:8080" or "unix:/path" for logs */
};

struct server {
    struct ev_loop *loop;
    struct config *cfg; /* owned; replaced by a SIGHUP reload */
    int argc;           /* the command line, parsed again on reload */
    char **argv;
    const char *command_path;          /* COMMAND resolved against PATH at start-up */
    const char *static_root;           /* --staticdir as a canonical path, or NULL */
    const char *script_root;           /* --dir as a canonical path, or NULL */
    const struct backend_ops *backend; /* exec or proxy */
    struct exec_child *children;       /* exec children still tracked (exec.c owns the list) */
    struct proxy_state *proxy;         /* proxy mode's state (proxy.c owns it) */
    struct shared_hub *shared;         /* --shared's state (shared.c owns it) */
    struct listener *listeners;
    size_t nlisteners;
    struct conn *conns; /* every live connection */
    size_t nconns;
    struct conn *graveyard; /* closed connections, freed after the current callback */
    ev_check sweeper;
    unsigned nchildren;     /* exec processes not yet reaped (what --maxforks counts) */
    unsigned nbackend_objs; /* backend objects still alive (shutdown waits for them) */
    uint64_t next_conn_id;
    bool stopping;
    ev_signal sigint, sigterm, sighup;
    ev_timer accept_backoff; /* listeners paused after EMFILE/ENFILE */
    ev_timer stop_deadline;

    SSL_CTX *tls;           /* --ssl: replaced on SIGHUP, sessions keep theirs */
    struct auth_table auth; /* --basic-auth and --htpasswd */
    bool auth_required;
    struct ipcount per_ip;
    unsigned maxconn;         /* effective limit (0: none) */
    unsigned default_maxconn; /* what the open-file limit allows, without --maxconn */
    char *unix_path;          /* the --unixsocket file we created (removed at exit) */
    dev_t unix_dev;
    ino_t unix_ino;
    int spare_fd; /* given up to accept (and refuse) a connection at EMFILE */
    ev_tstamp refusals_logged;
    unsigned refusals_unlogged;
};

/* Bind every configured address (and --redirport). Returns 0, or -1 after
 * logging why. */
int server_listen(struct server *srv);

/* Load what --ssl, --basic-auth and --htpasswd need. Returns 0, or -1 with
 * one readable line in err. */
int server_load_security(struct server *srv, char *err, size_t errlen);

/* --deny wins, then --allow (when given) must match. */
bool server_address_allowed(const struct server *srv, const struct ip_addr *ip);

/* Log a refused connection, at most one line a second (floods stay quiet). */
void server_log_refusal(struct server *srv, const char *what);

/* srv takes ownership of cfg (heap-allocated); argc/argv are kept for
 * reloads. */
void server_init(struct server *srv, struct ev_loop *loop, struct config *cfg, int argc,
                 char **argv, const char *command_path, const char *static_root);

/* Graceful stop: close listeners, close every connection with 1001, let
 * children end; the loop returns once nothing is left (or at the deadline). */
void server_stop(struct server *srv);

/* Called whenever a connection or child goes away while stopping. */
void server_check_done(struct server *srv);

void server_free(struct server *srv);

#endif
