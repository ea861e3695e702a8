#include "autoconfig.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_min_level = LOGL_ACCESS;
unsigned log_worker;
bool log_json;

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

/* The length of the well-formed UTF-8 sequence at s[0..n), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (c < 0xC2 || c > 0xF4 || n < len) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    /* no overlong forms, no surrogates, nothing past U+10FFFF */
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* Copy src into dst as the inside of a JSON string: quotes, backslashes and
 * control characters escaped, bytes that are not UTF-8 written as the text
 * \xHH (so the line is always valid JSON). */
static size_t json_escape_into(char *dst, size_t cap, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < cap;) {
        unsigned char ch = (unsigned char)src[i];
        size_t seq = ch >= 0x80 ? utf8_sequence((const unsigned char *)src + i, len - i) : 1;
        if (ch == '"' || ch == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", ch);
        } else if (seq == 0) {
            dst[o++] = '\\';
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[ch >> 4];
            dst[o++] = hex[ch & 15];
            seq = 1;
        } else {
            memcpy(dst + o, src + i, seq);
            o += seq;
        }
        i += seq;
    }
    return o;
}

/* The JSON line being built: fields are added only whole, so a long one is
 * dropped, never cut into invalid JSON. */
struct jline {
    char *p;
    size_t len, cap;
};

/* A field's text: at most this much of the line, escaped. */
#define FIELD_MAX 1024

static void put_str(struct jline *j, const char *key, const char *val)
{
    if (!val || !*val) return;
    size_t klen = strlen(key), room = j->cap - j->len;
    if (room < klen + 6 + 16) return;
    char *o = j->p + j->len;
    size_t n = (size_t)snprintf(o, room, ",\"%s\":\"", key);
    size_t cap = room - n - 1 < FIELD_MAX ? room - n - 1 : FIELD_MAX;
    n += json_escape_into(o + n, cap, val, strlen(val));
    o[n++] = '"';
    j->len += n;
}

__attribute__((format(printf, 2, 3))) static void put_num(struct jline *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->p + j->len, j->cap - j->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < j->cap - j->len) j->len += (size_t)n;
}

static void put_fields(struct jline *j, const struct log_fields *f)
{
    put_str(j, "event", f->event);
    put_str(j, "peer", f->peer);
    if (f->port) put_num(j, ",\"port\":%u", f->port);
    put_str(j, "via", f->via);
    put_str(j, "request", f->request);
    put_str(j, "route", f->route);
    put_str(j, "user", f->user);
    put_str(j, "cert_cn", f->cert_cn);
    if (f->status) put_num(j, ",\"status\":%d", f->status);
    if (f->has & LOGF_BYTES) put_num(j, ",\"bytes\":%lld", f->bytes);
    put_str(j, "encoding", f->encoding);
    put_str(j, "target", f->target);
    if (f->has & LOGF_CLOSE) put_num(j, ",\"close_code\":%u", (unsigned)f->close_code);
    put_str(j, "closed_by", f->closed_by);
    put_str(j, "reason", f->reason);
    if (f->has & LOGF_TRAFFIC)
        put_num(j, ",\"msgs_in\":%llu,\"bytes_in\":%llu,\"msgs_out\":%llu,\"bytes_out\":%llu",
                (unsigned long long)f->msgs_in, (unsigned long long)f->bytes_in,
                (unsigned long long)f->msgs_out, (unsigned long long)f->bytes_out);
    if (f->has & LOGF_DURATION)
        put_num(j, ",\"duration\":%.3f", f->duration > 0 ? f->duration : 0.0);
}

static void log_write(enum log_level level, uint64_t conn_id, const struct log_fields *f,
                      const char *fmt, va_list ap)
{
    /* Room for the fields and, after them, at least as much of msg as a
     * line without fields had. */
    char text[2048], line[4096 + 4096];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    if (n < 0) return;
    size_t tlen = (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    size_t len;
    if (log_json) {
        struct jline j = {line, 0, sizeof line - 4096};
        put_num(&j, "{\"time\":\"%s\",\"level\":\"%s\"", when, level_names[level]);
        if (log_worker) put_num(&j, ",\"worker\":%u", log_worker);
        if (conn_id) put_num(&j, ",\"conn\":%llu", (unsigned long long)conn_id);
        if (f) put_fields(&j, f);
        j.cap = sizeof line;
        put_num(&j, ",\"msg\":\"");
        len = j.len + json_escape_into(line + j.len, sizeof line - j.len - 3, text, tlen);
        line[len++] = '"';
        line[len++] = '}';
    } else {
        int h = snprintf(line, sizeof line, "%s %-6s ", when, level_tags[level]);
        if (log_worker) h += snprintf(line + h, sizeof line - (size_t)h, "w%u ", log_worker);
        if (conn_id)
            h += snprintf(line + h, sizeof line - (size_t)h, "#%llu ", (unsigned long long)conn_id);
        else
            h += snprintf(line + h, sizeof line - (size_t)h, "server ");
        len = (size_t)h + escape_into(line + h, 4096 - (size_t)h - 1, text, tlen);
    }
    line[len++] = '\n';
    /* One write per line keeps lines whole when several processes share stderr. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_msg(enum log_level level, uint64_t conn_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write(level, conn_id, NULL, fmt, ap);
    va_end(ap);
}

void log_msg_with(enum log_level level, uint64_t conn_id, const struct log_fields *f,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write(level, conn_id, f, fmt, ap);
    va_end(ap);
}
