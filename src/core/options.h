/* Command-line options: one table drives parsing, --help and the docs. */
#ifndef WSB_OPTIONS_H
#define WSB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend/settings.h"
#include "base/log.h"
#include "http/settings.h"
#include "net/settings.h"

struct config;

/* A [route PATH] section of the --config file. */
struct route_config {
    char *path;
    bool exact;         /* [route = PATH]: this path only (else every path it prefixes) */
    unsigned line;      /* of the section, for messages */
    struct config *cfg; /* its options; those about the whole server stay unset */
};

/* Everything the command line and the --config file say: the process's own
 * options here, and the settings each layer below reads in its own struct. */
struct config {
    unsigned port;
    char **addresses; /* NULL-terminated; empty: all interfaces, both families */
    size_t naddresses;
    bool port_set;
    enum log_level loglevel;
    bool log_json; /* --log-format=json */
    char *staticdir;
    char *cgidir;

    /* TLS listener */
    char *sslcert, *sslkey, *sslkey_password_file, *sslca;
    unsigned redirport; /* 0: none */

    /* Basic auth users */
    char **basic_auth; /* NULL-terminated "user:password" */
    size_t nbasic_auth;
    char *htpasswd;

    unsigned maxconn; /* 0 with maxconn_set: no limit */
    bool maxconn_set;

    /* privileges */
    char *user, *group;
    bool allow_root_children;

    /* operations */
    char *config_file;       /* --config, re-read on SIGHUP */
    double shutdown_timeout; /* seconds */
    char *unixsocket;        /* listen on this unix socket too (or only) */
    unsigned unixsocket_mode;
    unsigned workers; /* --workers: event-loop processes (1: no supervisor) */

    struct conn_settings conn;       /* net/: what every connection reads */
    struct session_settings session; /* net/: what a session reads (routes have their own) */
    struct http_settings http;       /* http/: what answers a request */
    struct backend_settings backend; /* backend/: what the backends read */

    struct route_config *routes; /* the file's [route] sections, in file order */
    size_t nroutes;

    /* What the options name on disk, found by core/routes.c (not options). */
    char *command_path; /* COMMAND resolved against PATH */
    char *script_root;  /* --dir as a canonical path */
    char *static_root;  /* --staticdir as a canonical path */
    char *cgi_root;     /* --cgidir as a canonical path */
};

enum config_result {
    CONFIG_RUN,   /* options are valid: start the server */
    CONFIG_DONE,  /* --help or --version was printed: exit 0 */
    CONFIG_USAGE, /* an error message was printed: exit 2 */
};

enum config_result options_parse(struct config *cfg, int argc, char **argv);

/* Whether cfg (the top level, or a route's) names something that serves
 * WebSockets: COMMAND, --dir, --connect or --token-file. Without routes
 * the top level always does. */
bool options_has_endpoint(const struct config *cfg);
void options_free(struct config *cfg);

/* For a SIGHUP reload: keep in fresh the live values of the options that
 * only a restart can change (ports, mode, COMMAND, identity...), moving
 * fresh's values into live (which the caller then frees). The names of
 * those that differed are written to changed, comma-separated ("" if none). */
void options_keep_restart_only(struct config *fresh, struct config *live, char *changed,
                               size_t changed_len);
void options_print_help(FILE *out);

#endif
