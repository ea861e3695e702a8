/* The options the backends read. core/options.c fills them in; a reload
 * replaces them (the ones that only a restart can change keep their
 * values). */
#ifndef WSB_BACKEND_SETTINGS_H
#define WSB_BACKEND_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

struct backend_settings {
    /* exec: COMMAND, or the scripts of --dir */
    char **command; /* NULL-terminated argv of COMMAND */
    char *dir;      /* --dir: scripts chosen by the URL path instead of COMMAND */
    bool binary;
    bool line_buffer;    /* --line-buffer: libstdbuf.so preloaded */
    bool pty;            /* --pty: stdout on a pseudo-terminal */
    char **subprotocols; /* NULL-terminated, in our order of preference */
    size_t nsubprotocols;
    bool subprotocol_required; /* refuse clients that offer none of them */
    char **passenv;            /* NULL-terminated variable names */
    size_t npassenv;
    bool passenv_set;   /* --passenv given, even empty: no default list */
    bool reverselookup; /* --reverselookup: REMOTE_HOST from a reverse DNS lookup */
    unsigned closems;
    int close_signal;      /* the first of the close sequence; 0: none (only SIGKILL) */
    bool close_signal_set; /* --close-signal given (refused with --shared) */
    enum pass_stderr { STDERR_LOG_ONLY, STDERR_JSON, STDERR_PLAIN } pass_stderr; /* --passstderr */
    bool quiet_stderr;  /* --quiet-stderr: stderr is not logged */
    double cgi_timeout; /* --cgi-timeout: seconds a CGI script may write nothing */

    /* proxy: --connect or --token-file instead of COMMAND */
    bool proxy;
    char *connect;          /* target spec */
    char *token_file;       /* token file or directory */
    bool token_from_path;   /* --token-source=path (else the "token" query parameter) */
    double connect_timeout; /* seconds */
    bool binary_only;
    bool ssl_target;
    bool ssl_target_insecure;

    /* --shared: one COMMAND (or one --connect socket) for every connection */
    enum { SHARED_OFF, SHARED_LAZY, SHARED_EAGER } shared;
    bool shared_prefix, shared_events;
    bool slow_client_drop;      /* --slow-client=drop (else close with 1008) */
    double slow_client_timeout; /* seconds */
};

#endif
