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

#define log_at(level, id, ...)                                                                     \
    do {                                                                                           \
        if ((level) >= log_min_level) log_msg((level), (id), __VA_ARGS__);                         \
    } while (0)

#define log_debug(id, ...)  log_at(LOGL_DEBUG, id, __VA_ARGS__)
#define log_trace(id, ...)  log_at(LOGL_TRACE, id, __VA_ARGS__)
#define log_access(id, ...) log_at(LOGL_ACCESS, id, __VA_ARGS__)
#define log_info(id, ...)   log_at(LOGL_INFO, id, __VA_ARGS__)
#define log_warn(id, ...)   log_at(LOGL_WARN, id, __VA_ARGS__)
#define log_error(id, ...)  log_at(LOGL_ERROR, id, __VA_ARGS__)
#define log_fatal(id, ...)  log_at(LOGL_FATAL, id, __VA_ARGS__)

#endif
