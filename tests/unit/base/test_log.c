#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "../tap.h"

/* stderr goes to a temporary file; take() returns what was written since
 * the last call. */
static FILE *capture;
static long taken;
static char got[32768];

static const char *take(void)
{
    fflush(capture);
    long end = ftell(capture);
    fseek(capture, taken, SEEK_SET);
    size_t n = fread(
        got, 1, (size_t)(end - taken) < sizeof got - 1 ? (size_t)(end - taken) : sizeof got - 1,
        capture);
    got[n] = '\0';
    fseek(capture, end, SEEK_SET);
    taken = end;
    return got;
}

/* A flat JSON object parsed by RFC 8259's grammar: each member's key, its
 * type ('s' string, 'n' number, 'b' true/false, 'z' null) and its value
 * (strings decoded, \u escapes below 0x80 only; the others kept as
 * written). */
struct member {
    char key[32];
    char type;
    char value[8192];
};
static struct member members[64];
static int nmembers;

static const char *parse_string(const char *p, char *out, size_t cap)
{
    size_t o = 0;
    if (*p++ != '"') return NULL;
    for (;;) {
        unsigned char ch = (unsigned char)*p++;
        if (ch == '"') break;
        if (ch < 0x20) return NULL; /* raw control characters are not JSON */
        if (ch == '\\') {
            char e = *p++;
            const char *plain = strchr("\"\\/bfnrt", e);
            if (e == 'u') {
                unsigned v;
                if (sscanf(p, "%4x", &v) != 1 || strspn(p, "0123456789abcdefABCDEF") < 4)
                    return NULL;
                p += 4;
                ch = v < 0x80 ? (unsigned char)v : '?';
            } else if (e && plain) {
                ch = (unsigned char)"\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"];
            } else {
                return NULL;
            }
        }
        if (o + 1 < cap) out[o++] = (char)ch;
    }
    out[o] = '\0';
    return p;
}

static const char *parse_number(const char *p)
{
    if (*p == '-') p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        p += strspn(p, "0123456789");
    else
        return NULL;
    if (*p == '.') {
        size_t d = strspn(++p, "0123456789");
        if (!d) return NULL;
        p += d;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        size_t d = strspn(p, "0123456789");
        if (!d) return NULL;
        p += d;
    }
    return p;
}

/* The whole line: one object and a newline; false when it is not that. */
static bool parse_line(const char *p)
{
    nmembers = 0;
    if (*p++ != '{') return false;
    for (;;) {
        if (nmembers == 64) return false;
        struct member *m = &members[nmembers++];
        if (!(p = parse_string(p, m->key, sizeof m->key)) || *p++ != ':') return false;
        const char *v = p;
        if (*p == '"') {
            m->type = 's';
            p = parse_string(p, m->value, sizeof m->value);
        } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
            m->type = 'b';
            p += *p == 't' ? 4 : 5;
        } else if (!strncmp(p, "null", 4)) {
            m->type = 'z';
            p += 4;
        } else {
            m->type = 'n';
            p = parse_number(p);
        }
        if (!p) return false;
        if (m->type != 's') snprintf(m->value, sizeof m->value, "%.*s", (int)(p - v), v);
        if (*p == ',') {
            p++;
            continue;
        }
        return p[0] == '}' && p[1] == '\n' && p[2] == '\0';
    }
}

static const struct member *member(const char *key)
{
    for (int i = 0; i < nmembers; i++)
        if (!strcmp(members[i].key, key)) return &members[i];
    return NULL;
}

static bool is(const char *key, char type, const char *value)
{
    const struct member *m = member(key);
    return m && m->type == type && !strcmp(m->value, value);
}

static bool keys_are(const char *const *keys)
{
    int n = 0;
    for (; keys[n]; n++)
        if (!member(keys[n])) return false;
    return n == nmembers;
}

/* A line from its level on: the text format with the time cut off. */
static const char *after_time(const char *line)
{
    const char *sp = strchr(line, ' ');
    return sp ? sp + 1 : line;
}

int main(void)
{
    capture = tmpfile();
    if (!capture || dup2(fileno(capture), STDERR_FILENO) < 0) return 99;
    log_min_level = LOGL_DEBUG;

    const char *nasty_request = "GET /a\"b\\c\x01\x1f\x7f"
                                "d";
    const char *nasty_user = "bob\"\n\t";
    struct log_fields all = {
        .event = "disconnect",
        .peer = "192.0.2.7",
        .port = 51234,
        .via = "10.0.0.1",
        .request = nasty_request,
        .route = "/echo",
        .user = nasty_user,
        .cert_cn = "client one",
        .status = 101,
        .reason = "idle",
        .encoding = "gzip",
        .target = "pid 4242",
        .closed_by = "server",
        .has = LOGF_BYTES | LOGF_DURATION | LOGF_TRAFFIC | LOGF_CLOSE,
        .bytes = 12,
        .duration = 1.25,
        .msgs_in = 3,
        .bytes_in = 18446744073709551615ull,
        .msgs_out = 0,
        .bytes_out = 42,
        .close_code = 1000,
    };

    /* Text mode: the fields change nothing. */
    log_json = false;
    log_msg(LOGL_ACCESS, 7, "DISCONNECT \"%s\" x", nasty_request);
    char plain[4096];
    snprintf(plain, sizeof plain, "%s", after_time(take()));
    log_msg_with(LOGL_ACCESS, 7, &all, "DISCONNECT \"%s\" x", nasty_request);
    const char *with = after_time(take());
    ok(!strcmp(plain, with), "text: a line with fields is the line without them (%s)",
       escn(with, strlen(with)));
    ok(!strcmp(plain, "ACCESS #7 DISCONNECT \"GET /a\"b\\c\\x01\\x1f\\x7fd\" x\n"),
       "text: the same line as always, control characters as \\xHH");
    log_access_with(0, &all, "server %d", 1);
    ok(!strcmp(after_time(take()), "ACCESS server server 1\n"), "text: a server line");

    /* JSON: every field a key of its own, numbers as numbers. */
    log_json = true;
    log_access_with(7, &all, "DISCONNECT \"%s\"", nasty_request);
    const char *line = take();
    ok(parse_line(line), "json: one valid object per line (%s)", escn(line, strlen(line)));
    static const char *const all_keys[] = {
        "time",      "level",      "conn",      "event",   "peer",    "port",     "via",
        "request",   "route",      "user",      "cert_cn", "status",  "bytes",    "encoding",
        "target",    "close_code", "closed_by", "reason",  "msgs_in", "bytes_in", "msgs_out",
        "bytes_out", "duration",   "msg",       NULL};
    ok(keys_are(all_keys), "json: exactly the documented keys");
    ok(is("level", 's', "access") && is("conn", 'n', "7") && is("event", 's', "disconnect"),
       "json: level, conn, event");
    ok(is("peer", 's', "192.0.2.7") && is("port", 'n', "51234") && is("via", 's', "10.0.0.1"),
       "json: peer, port (a number), via");
    ok(is("request", 's', nasty_request), "json: quotes, backslashes and control characters "
                                          "of the request come back as sent");
    ok(is("user", 's', nasty_user), "json: the user's quote, newline and tab too");
    ok(is("route", 's', "/echo") && is("cert_cn", 's', "client one") &&
           is("target", 's', "pid 4242") && is("closed_by", 's', "server") &&
           is("reason", 's', "idle") && is("encoding", 's', "gzip"),
       "json: the other strings");
    ok(is("status", 'n', "101") && is("bytes", 'n', "12") && is("close_code", 'n', "1000") &&
           is("duration", 'n', "1.250"),
       "json: status, bytes, close_code, duration as numbers");
    ok(is("msgs_in", 'n', "3") && is("bytes_in", 'n', "18446744073709551615") &&
           is("msgs_out", 'n', "0") && is("bytes_out", 'n', "42"),
       "json: the session's counts, zero and 2^64-1 included");
    char msg[256];
    snprintf(msg, sizeof msg, "DISCONNECT \"%s\"", nasty_request);
    ok(is("msg", 's', msg), "json: msg as without fields");

    /* Unset fields are left out; a number flagged as set is there even at 0. */
    struct log_fields few = {.event = "http", .peer = "::1", .via = "", .has = LOGF_BYTES};
    log_access_with(3, &few, "x");
    line = take();
    static const char *const few_keys[] = {"time", "level", "conn", "event",
                                           "peer", "bytes", "msg",  NULL};
    ok(parse_line(line) && keys_are(few_keys) && is("bytes", 'n', "0"),
       "json: only the set fields (%s)", escn(line, strlen(line)));

    /* No fields: the line as before. */
    log_warn(0, "plain %s", "warning");
    line = take();
    static const char *const plain_keys[] = {"time", "level", "msg", NULL};
    ok(parse_line(line) && keys_are(plain_keys) && is("level", 's', "warn"),
       "json: a line without fields has time, level and msg");
    log_worker = 2;
    log_msg_with(LOGL_ERROR, 0, NULL, "x");
    ok(parse_line(take()) && is("worker", 'n', "2") && is("level", 's', "error"),
       "json: NULL fields, with a worker");
    log_worker = 0;

    /* Bytes that are not UTF-8 and huge fields still make one valid line. */
    struct log_fields bad = {.user = "\xff\xc3(", .request = "GET /\xe2\x82\xac"};
    log_access_with(1, &bad, "x");
    ok(parse_line(take()) && is("user", 's', "\\xff\\xc3(") &&
           is("request", 's', "GET /\xe2\x82\xac"),
       "json: invalid UTF-8 as the text \\xHH, valid UTF-8 kept");
    static char huge[6000], huge2[3000];
    memset(huge, '\x01', sizeof huge - 1);
    memset(huge2, '"', sizeof huge2 - 1);
    struct log_fields big = {.event = "http",
                             .request = huge,
                             .user = huge2,
                             .route = huge2,
                             .target = huge2,
                             .reason = huge2,
                             .status = 200};
    log_access_with(1, &big, "%s", huge);
    line = take();
    ok(parse_line(line) && is("event", 's', "http") && is("status", 'n', "200") && member("msg"),
       "json: oversized fields are cut or dropped, the line stays valid (%zu bytes)", strlen(line));
    log_at_with(LOGL_DEBUG, 1, &few, "y");
    log_min_level = LOGL_INFO;
    log_access_with(1, &few, "below the level");
    ok(parse_line(take()) && is("msg", 's', "y"), "the level filters lines with fields too");
    return tap_finish();
}
