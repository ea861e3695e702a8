/* Command-line options: one table drives parsing, --help and the docs. */
#ifndef WSB_OPTIONS_H
#define WSB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/cidr.h"
#include "base/log.h"
#include "http/origin.h"

struct config {
    unsigned port;
    char **addresses; /* NULL-terminated; empty: all interfaces, both families */
    size_t naddresses;
    bool binary;
    char **passenv; /* NULL-terminated variable names */
    size_t npassenv;
    bool passenv_set;  /* --passenv given, even empty: no default list */
    unsigned maxforks; /* 0: unlimited */
    unsigned closems;
    uint64_t maxmsgsize; /* 0: unlimited */
    enum log_level loglevel;
    char *staticdir;
    char *headers_ws;   /* ready "Name: value\r\n" lines for the 101 answer */
    char *headers_http; /* and for every plain HTTP answer */
    char **command;     /* NULL-terminated argv of COMMAND (exec mode) */
    char *dir;          /* --dir: scripts chosen by the URL path instead of COMMAND */

    /* proxy mode: --connect or --token-file instead of COMMAND */
    bool proxy;
    char *connect;          /* target spec */
    char *token_file;       /* token file or directory */
    bool token_from_path;   /* --token-source=path (else the "token" query parameter) */
    double connect_timeout; /* seconds */
    bool binary_only;
    bool ssl_target;
    bool ssl_target_insecure;

    /* TLS listener */
    enum { SSL_OFF, SSL_ON, SSL_AUTO } ssl;
    char *sslcert, *sslkey, *sslkey_password_file, *sslca;
    unsigned redirport; /* 0: none */
    bool port_set;

    /* access control */
    struct origin_rule *origins;
    size_t norigins;
    bool sameorigin, origin_optional;
    char **basic_auth; /* NULL-terminated "user:password" */
    size_t nbasic_auth;
    char *htpasswd;
    struct cidr *allow, *deny, *trusted;
    size_t nallow, ndeny, ntrusted;
    bool proxy_protocol;

    /* limits and timeouts */
    unsigned maxconn; /* 0 with maxconn_set: no limit */
    bool maxconn_set;
    unsigned maxconn_per_ip;                /* 0: no limit */
    double handshake_timeout, idle_timeout; /* seconds; idle 0: off */
    unsigned pingms;                        /* 0: no pings */

    /* privileges */
    char *user, *group;
    bool allow_root_children;

    /* operations */
    char *config_file;       /* --config, re-read on SIGHUP */
    double shutdown_timeout; /* seconds */
    char *unixsocket;        /* listen on this unix socket too (or only) */
    unsigned unixsocket_mode;
    bool trust_unix; /* --trusted-proxy=unix */

    /* --shared: one COMMAND for every connection */
    enum { SHARED_OFF, SHARED_LAZY, SHARED_EAGER } shared;
    bool shared_prefix, shared_events;
    bool slow_client_drop;      /* --slow-client=drop (else close with 1008) */
    double slow_client_timeout; /* seconds */

    unsigned workers; /* --workers: event-loop processes (1: no supervisor) */
};

enum config_result {
    CONFIG_RUN,   /* options are valid: start the server */
    CONFIG_DONE,  /* --help or --version was printed: exit 0 */
    CONFIG_USAGE, /* an error message was printed: exit 2 */
};

enum config_result options_parse(struct config *cfg, int argc, char **argv);
void options_free(struct config *cfg);

/* For a SIGHUP reload: keep in fresh the live values of the options that
 * only a restart can change (ports, mode, COMMAND, identity...), moving
 * fresh's values into live (which the caller then frees). The names of
 * those that differed are written to changed, comma-separated ("" if none). */
void options_keep_restart_only(struct config *fresh, struct config *live, char *changed,
                               size_t changed_len);
void options_print_help(FILE *out);

#endif
