#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cgienv.h"
#include "proto/http.h"
#include "../tap.h"

/* SERVER_SOFTWARE, the 18 CGI variables from REMOTE_ADDR to REMOTE_USER, and
 * UNIQUE_ID; REQUEST_URI is one of the 18. HTTPS and HTTP_* come on top. */
#define NSTANDARD 20

/* ---- helpers ------------------------------------------------------------- */

struct parsed {
    char *text;
    struct http_request req;
};

static bool parse(struct parsed *p, const char *text)
{
    struct http_parser hp;
    http_parser_init(&hp);
    p->text = strdup(text);
    return http_parse(&hp, p->text, strlen(p->text), &p->req) > 0;
}

static size_t env_count(char **env)
{
    size_t n = 0;
    while (env && env[n]) n++;
    return n;
}

/* How many entries have this name. */
static size_t env_name_count(char **env, const char *name)
{
    size_t n = 0, len = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') n++;
    return n;
}

/* The value of the first entry with this name, or NULL. */
static const char *env_get(char **env, const char *name)
{
    size_t len = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
    return NULL;
}

static bool var_is(char **env, const char *name, const char *want)
{
    const char *v = env_get(env, name);
    return v && strcmp(v, want) == 0;
}

static const char *show(const char *v)
{
    return v ? v : "(unset)";
}

/* Every entry is NAME=value with a unique, non-empty name. */
static bool env_well_formed(char **env)
{
    for (char **e = env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e) return false;
        char name[256];
        size_t len = (size_t)(eq - *e);
        if (len >= sizeof name) return false;
        memcpy(name, *e, len);
        name[len] = '\0';
        if (env_name_count(env, name) != 1) return false;
    }
    return true;
}

static void check_var(char **env, const char *name, const char *want, const char *ctx)
{
    const char *got = env_get(env, name);
    if (!want) {
        ok(env_name_count(env, name) == 0, "%s: %s is not set", ctx, name);
        return;
    }
    ok(got && strcmp(got, want) == 0 && env_name_count(env, name) == 1, "%s: %s=\"%s\" (got %s)",
       ctx, name, escn(want, strlen(want)), got ? escn(got, strlen(got)) : "nothing");
}

/* A request built from a target, a protocol version and header lines. */
static char **build_env(struct parsed *p, const char *request_line, const char *headers, bool https,
                        const char *const *passenv, size_t npassenv, char *const *environ,
                        uint64_t id)
{
    size_t n = strlen(request_line) + strlen(headers) + 8;
    char *text = malloc(n);
    snprintf(text, n, "%s\r\n%s\r\n", request_line, headers);
    bool parsed = parse(p, text);
    free(text);
    if (!parsed) return NULL;
    struct cgienv_input in = {
        .req = &p->req,
        .remote_addr = "192.0.2.7",
        .remote_port = 54321,
        .https = https,
        .passenv = passenv,
        .npassenv = npassenv,
        .environ = environ,
        .unique_id = id,
    };
    return cgienv_build(&in);
}

static void release(struct parsed *p, char **env)
{
    free(env);
    free(p->text);
}

#define UPGRADE_HEADERS                                                                            \
    "Upgrade: websocket\r\n"                                                                       \
    "Connection: Upgrade\r\n"                                                                      \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                              \
    "Sec-WebSocket-Version: 13\r\n"

/* ---- the full variable set ------------------------------------------------ */

static void test_full_set(void)
{
    static const char *const passenv[] = {"PATH", "FOO", "HTTPS", "MISSING"};
    static char *const environ_[] = {
        "FOOBAR=no", "PATH=/usr/bin:/bin",  "FOO=x\r\ny\nz", "HTTPS=on",
        "SECRET=s",  "HTTP_PROXY=http://p", "MISSINGX=1",    NULL};
    struct parsed p;
    char **env = build_env(&p, "GET /a%20b/c%2Fd?x=1&y=%20z HTTP/1.1",
                           "Host: example.com:8080\r\n" UPGRADE_HEADERS "X-Multi: a\r\n"
                           "Proxy: http://evil.example:3128\r\n"
                           "x-multi: b, c\r\n"
                           "User-Agent: test/1.0\r\n",
                           false, passenv, 4, environ_, 42);
    ok(env != NULL, "cgienv_build succeeds for an upgrade request");

    static const struct {
        const char *name, *value;
    } want[] = {
        {"SERVER_SOFTWARE", PACKAGE_NAME "/" PACKAGE_VERSION},
        {"PATH", "/usr/bin:/bin"},
        {"FOO", "x  y z"},
        {"REMOTE_ADDR", "192.0.2.7"},
        {"REMOTE_HOST", "192.0.2.7"},
        {"REMOTE_PORT", "54321"},
        {"SERVER_NAME", "example.com"},
        {"SERVER_PORT", "8080"},
        {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"REQUEST_METHOD", "GET"},
        {"SCRIPT_NAME", "/"},
        {"PATH_INFO", "/a b/c/d"},
        {"PATH_TRANSLATED", "/a b/c/d"},
        {"QUERY_STRING", "x=1&y=%20z"},
        {"AUTH_TYPE", ""},
        {"CONTENT_LENGTH", ""},
        {"CONTENT_TYPE", ""},
        {"REMOTE_IDENT", ""},
        {"REMOTE_USER", ""},
        {"UNIQUE_ID", "42"},
        {"REQUEST_URI", "/a%20b/c%2Fd?x=1&y=%20z"},
        {"HTTP_HOST", "example.com:8080"},
        {"HTTP_UPGRADE", "websocket"},
        {"HTTP_CONNECTION", "Upgrade"},
        {"HTTP_SEC_WEBSOCKET_KEY", "dGhlIHNhbXBsZSBub25jZQ=="},
        {"HTTP_SEC_WEBSOCKET_VERSION", "13"},
        {"HTTP_X_MULTI", "a, b, c"},
        {"HTTP_USER_AGENT", "test/1.0"},
    };
    size_t nwant = sizeof want / sizeof want[0];
    for (size_t i = 0; i < nwant; i++) check_var(env, want[i].name, want[i].value, "plain");

    static const char *const absent[] = {"HTTPS",    "HTTP_PROXY", "MISSING",
                                         "MISSINGX", "SECRET",     "FOOBAR"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        check_var(env, absent[i], NULL, "plain");
    ok(env_count(env) == nwant, "plain: exactly %zu variables, nothing else (got %zu)", nwant,
       env_count(env));
    ok(env_well_formed(env), "plain: every entry is NAME=value with a unique name");
    ok(strcmp(environ_[2], "FOO=x\r\ny\nz") == 0, "the daemon's environment is not modified");
    release(&p, env);
}

/* ---- variations ---------------------------------------------------------- */

static void test_server_name(void)
{
    static const struct {
        const char *host; /* NULL: no Host header */
        bool https;
        const char *name, *port;
    } cases[] = {
        {"example.com", false, "example.com", "80"},
        {"example.com", true, "example.com", "443"},
        {"example.com:8443", true, "example.com", "8443"},
        {"example.com:", false, "example.com", "80"},
        {"192.0.2.1:81", false, "192.0.2.1", "81"},
        /* RFC 3875 4.1.14: an IPv6 SERVER_NAME keeps its brackets. */
        {"[::1]:8080", false, "[::1]", "8080"},
        {"[::1]", false, "[::1]", "80"},
        {"[2001:db8::1]", true, "[2001:db8::1]", "443"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char headers[512], ctx[96];
        snprintf(headers, sizeof headers, "Host: %s\r\n" UPGRADE_HEADERS, cases[i].host);
        snprintf(ctx, sizeof ctx, "Host \"%s\"%s", cases[i].host,
                 cases[i].https ? " over TLS" : "");
        struct parsed p;
        char **env = build_env(&p, "GET / HTTP/1.1", headers, cases[i].https, NULL, 0, NULL, 1);
        ok(var_is(env, "SERVER_NAME", cases[i].name) && var_is(env, "SERVER_PORT", cases[i].port),
           "%s: SERVER_NAME=%s SERVER_PORT=%s (got %s %s)", ctx, cases[i].name, cases[i].port,
           show(env_get(env, "SERVER_NAME")), show(env_get(env, "SERVER_PORT")));
        check_var(env, "HTTPS", cases[i].https ? "on" : NULL, ctx);
        ok(env_count(env) == NSTANDARD + 5 + (cases[i].https ? 1 : 0),
           "%s: the standard variables and 5 header variables%s, nothing else (got %zu)", ctx,
           cases[i].https ? ", plus HTTPS" : "", env_count(env));
        release(&p, env);
    }

    struct parsed p;
    char **env = build_env(&p, "GET /x HTTP/1.0", "", false, NULL, 0, NULL, 1);
    check_var(env, "SERVER_PROTOCOL", "HTTP/1.0", "HTTP/1.0 without Host");
    check_var(env, "SERVER_NAME", "", "HTTP/1.0 without Host");
    check_var(env, "SERVER_PORT", "80", "HTTP/1.0 without Host");
    check_var(env, "HTTP_HOST", NULL, "HTTP/1.0 without Host");
    ok(env_count(env) == NSTANDARD,
       "HTTP/1.0 without headers: only the %d standard variables "
       "(got %zu)",
       NSTANDARD, env_count(env));
    release(&p, env);
}

static void test_paths(void)
{
    static const struct {
        const char *target;
        const char *path_info; /* NULL: cgienv_build refuses */
        const char *query;
    } cases[] = {
        {"/", "/", ""},
        {"/chat?", "/chat", ""},
        {"/a%20b/c%2Fd", "/a b/c/d", ""},
        {"/%E2%82%AC?q=%E2%82%AC", "/\xE2\x82\xAC", "q=%E2%82%AC"},
        {"/p%3Fq?r", "/p?q", "r"},
        {"http://h:1/p%41?q=1", "/pA", "q=1"},
        {"http://h", "/", ""},
        {"/a%00b", NULL, NULL},
        {"/a%G1", NULL, NULL},
        {"/a%2", NULL, NULL},
        {"*", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[128], ctx[96];
        snprintf(line, sizeof line, "GET %s HTTP/1.1", cases[i].target);
        snprintf(ctx, sizeof ctx, "target \"%s\"", cases[i].target);
        struct parsed p;
        char **env = build_env(&p, line, "Host: h\r\n", false, NULL, 0, NULL, 7);
        if (!cases[i].path_info) {
            ok(env == NULL, "%s: refused (NULL)", ctx);
            release(&p, env);
            continue;
        }
        ok(var_is(env, "PATH_INFO", cases[i].path_info) &&
               var_is(env, "PATH_TRANSLATED", cases[i].path_info) &&
               var_is(env, "QUERY_STRING", cases[i].query) &&
               var_is(env, "REQUEST_URI", cases[i].target),
           "%s: PATH_INFO=PATH_TRANSLATED=\"%s\", QUERY_STRING=\"%s\", REQUEST_URI raw", ctx,
           cases[i].path_info, cases[i].query);
        release(&p, env);
    }
}

static void test_headers(void)
{
    struct parsed p;
    char **env = build_env(&p, "GET / HTTP/1.1",
                           "Host: h\r\n"
                           "PROXY: a\r\n"
                           "proxy: b\r\n"
                           "X.Dot: 1\r\n"
                           "X-A: one\r\n"
                           "X_A: two\r\n"
                           "x-a: three\r\n"
                           "Cookie: a=1\r\n"
                           "Cookie: b=2\r\n"
                           "X-Empty:\r\n"
                           "Proxy-Authorization: kept\r\n",
                           false, NULL, 0, NULL, UINT64_MAX);
    ok(env != NULL, "headers: cgienv_build succeeds");
    check_var(env, "HTTP_PROXY", NULL, "headers (Proxy in any case, httpoxy)");
    check_var(env, "HTTP_X_DOT", "1", "headers");
    check_var(env, "HTTP_X_A", "one, two, three", "headers (names that map alike are joined)");
    check_var(env, "HTTP_COOKIE", "a=1, b=2", "headers");
    check_var(env, "HTTP_X_EMPTY", "", "headers");
    check_var(env, "HTTP_PROXY_AUTHORIZATION", "kept", "headers");
    check_var(env, "UNIQUE_ID", "18446744073709551615", "headers");
    ok(env_count(env) == NSTANDARD + 6 && env_well_formed(env),
       "headers: the standard variables and 6 header variables, nothing else (got %zu)",
       env_count(env));
    release(&p, env);
}

static void test_passenv(void)
{
    static char *const environ_[] = {"PATH=/bin",  "LANG=C.UTF-8", "HTTPS=on",
                                     "TZ=a\nb\rc", "EMPTY=",       NULL};
    static const char *const names[] = {"LANG", "TZ", "EMPTY", "HTTPS", "NOPE", "PAT"};
    struct parsed p;
    char **env = build_env(&p, "GET / HTTP/1.1", "Host: h\r\n", false, names, 6, environ_, 1);
    check_var(env, "LANG", "C.UTF-8", "passenv");
    check_var(env, "TZ", "a b c", "passenv (CR and LF become spaces)");
    check_var(env, "EMPTY", "", "passenv");
    check_var(env, "HTTPS", NULL, "passenv (HTTPS is never passed on)");
    check_var(env, "PATH", NULL, "passenv (only listed names)");
    check_var(env, "PAT", NULL, "passenv (a prefix of a name does not match)");
    ok(env_count(env) == NSTANDARD + 1 + 3,
       "passenv: the standard variables, 1 header, 3 passed, nothing else (got %zu)",
       env_count(env));
    release(&p, env);

    env = build_env(&p, "GET / HTTP/1.1", "Host: h\r\n", true, names, 6, environ_, 1);
    check_var(env, "HTTPS", "on", "passenv over TLS (HTTPS comes from the server only)");
    release(&p, env);

    env = build_env(&p, "GET / HTTP/1.1", "Host: h\r\n", false, names, 6, NULL, 1);
    ok(env && env_count(env) == NSTANDARD + 1,
       "passenv without an environment passes nothing (got %zu)", env_count(env));
    release(&p, env);

    /* A passed variable whose name the server sets (REMOTE_ADDR, QUERY_STRING,
     * HTTP_HOST, ...) must not shadow the request's value (websocketd: request wins). */
    static char *const spoof[] = {"REMOTE_ADDR=10.9.9.9", "QUERY_STRING=spoof", "HTTP_HOST=evil",
                                  NULL};
    static const char *const shadow[] = {"REMOTE_ADDR", "QUERY_STRING", "HTTP_HOST"};
    env = build_env(&p, "GET /?real HTTP/1.1", "Host: h\r\n", false, shadow, 3, spoof, 1);
    ok(env && env_well_formed(env) && var_is(env, "REMOTE_ADDR", "192.0.2.7") &&
           var_is(env, "QUERY_STRING", "real") && var_is(env, "HTTP_HOST", "h"),
       "passenv cannot shadow a variable the server sets (REMOTE_ADDR=%s, "
       "QUERY_STRING=%s, %zu REMOTE_ADDR entries)",
       show(env_get(env, "REMOTE_ADDR")), show(env_get(env, "QUERY_STRING")),
       env_name_count(env, "REMOTE_ADDR"));
    release(&p, env);
}

/* --reverselookup: REMOTE_HOST is the name given, REMOTE_ADDR stays the address. */
static void test_remote_host(void)
{
    struct parsed p;
    bool parsed = parse(&p, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    struct cgienv_input in = {
        .req = &p.req,
        .remote_addr = "192.0.2.7",
        .remote_host = "client.example",
        .remote_port = 1,
    };
    char **env = parsed ? cgienv_build(&in) : NULL;
    check_var(env, "REMOTE_HOST", "client.example", "remote_host given");
    check_var(env, "REMOTE_ADDR", "192.0.2.7", "remote_host given");
    ok(env && env_count(env) == NSTANDARD + 1, "remote_host adds no variable (got %zu)",
       env_count(env));
    release(&p, env);
}

int main(void)
{
    test_full_set();
    test_server_name();
    test_paths();
    test_headers();
    test_passenv();
    test_remote_host();
    return tap_finish();
}
