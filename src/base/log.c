#include "autoconfig.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_min_level = LOGL_ACCESS;
unsigned log_worker;

static const char *const level_names[] = {"debug", "trace", "access", "info",
                                          "warn",  "error", "fatal"};
static const char *const level_tags[] = {"DEBUG", "TRACE", "ACCESS", "INFO",
                                         "WARN",  "ERROR", "FATAL"};

int log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Copy src to dst escaping bytes that could break the one-line format. */
static size_t escape_into(char *dst, size_t cap, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch < 0x20 || ch == 0x7f) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[ch >> 4];
            dst[o++] = hex[ch & 15];
        } else {
            dst[o++] = (char)ch;
        }
    }
    return o;
}

void log_msg(enum log_level level, uint64_t conn_id, const char *fmt, ...)
{
    char text[2048], line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t tlen = (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int h = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-6s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_tags[level]);
    if (log_worker) h += snprintf(line + h, sizeof line - (size_t)h, "w%u ", log_worker);
    if (conn_id)
        h += snprintf(line + h, sizeof line - (size_t)h, "#%llu ", (unsigned long long)conn_id);
    else
        h += snprintf(line + h, sizeof line - (size_t)h, "server ");
    size_t len = (size_t)h + escape_into(line + h, sizeof line - (size_t)h - 1, text, tlen);
    line[len++] = '\n';
    /* One write per line keeps lines whole when several processes share stderr. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
