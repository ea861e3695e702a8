/* Logging: one line per event on stderr, with a level and the connection id. */
#ifndef WSB_LOG_H
#define WSB_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* websocketd's levels in its order, plus "warn" between info and error. */
enum log_level {
    LOGL_DEBUG,
    LOGL_TRACE,
    LOGL_ACCESS,
    LOGL_INFO,
    LOGL_WARN,
    LOGL_ERROR,
    LOGL_FATAL,
};

extern enum log_level log_min_level;

/* --workers: this process's worker number (1..N), shown in every line; 0: none. */
extern unsigned log_worker;

/* --log-format=json: one JSON object per line (see README, Logging). */
extern bool log_json;

/* Parse a level name ("debug" ... "fatal"); returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *out);

/* conn_id 0 means "the server itself". Control characters in the formatted
 * text are escaped, so client-supplied strings cannot forge log lines. */
void log_msg(enum log_level level, uint64_t conn_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The fields of an access line, for --log-format=json (README, Logging):
 * each set one becomes a key of its own next to "msg"; the text format
 * ignores them (its msg already says it all). A NULL or empty string, a
 * zero port or status, and a number whose LOGF_ flag is not in `has` are
 * left out. */
enum log_fields_has {
    LOGF_BYTES = 1 << 0,    /* bytes */
    LOGF_DURATION = 1 << 1, /* duration */
    LOGF_TRAFFIC = 1 << 2,  /* msgs_in, bytes_in, msgs_out, bytes_out */
    LOGF_CLOSE = 1 << 3,    /* close_code */
};

struct log_fields {
    const char *event; /* "connect", "disconnect", "http" */
    const char *peer;  /* the client's address (behind trusted proxies) */
    unsigned port;
    const char *via;     /* the trusted proxy it came through */
    const char *request; /* "GET /path" */
    const char *route;
    const char *user;    /* Basic auth */
    const char *cert_cn; /* --sslca: the client certificate's CN */
    int status;
    const char *reason;   /* why an error answer or a session ended */
    const char *encoding; /* a static file's stored coding ("gzip") */
    const char *target;   /* the backend: a pid, a host:port */
    const char *closed_by;
    unsigned has; /* enum log_fields_has */
    long long bytes;
    double duration; /* seconds */
    uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
    uint16_t close_code;
};

/* log_msg with fields (JSON format only; the text line is log_msg's). */
void log_msg_with(enum log_level level, uint64_t conn_id, const struct log_fields *f,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_at(level, id, ...)                                                                     \
    do {                                                                                           \
        if ((level) >= log_min_level) log_msg((level), (id), __VA_ARGS__);                         \
    } while (0)

#define log_at_with(level, id, fields, ...)                                                        \
    do {                                                                                           \
        if ((level) >= log_min_level) log_msg_with((level), (id), (fields), __VA_ARGS__);          \
    } while (0)

#define log_access_with(id, fields, ...) log_at_with(LOGL_ACCESS, id, fields, __VA_ARGS__)

#define log_debug(id, ...)  log_at(LOGL_DEBUG, id, __VA_ARGS__)
#define log_trace(id, ...)  log_at(LOGL_TRACE, id, __VA_ARGS__)
#define log_access(id, ...) log_at(LOGL_ACCESS, id, __VA_ARGS__)
#define log_info(id, ...)   log_at(LOGL_INFO, id, __VA_ARGS__)
#define log_warn(id, ...)   log_at(LOGL_WARN, id, __VA_ARGS__)
#define log_error(id, ...)  log_at(LOGL_ERROR, id, __VA_ARGS__)
#define log_fatal(id, ...)  log_at(LOGL_FATAL, id, __VA_ARGS__)

#endif
