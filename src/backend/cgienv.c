#include "autoconfig.h"

#include "backend/cgienv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"

/* Entries are collected as "NAME=value\0" strings in one arena. */
struct env_builder {
    struct buf arena;
    size_t *offsets;
    size_t n, cap;
    bool oom;
};

static void put(struct env_builder *b, const void *p, size_t n)
{
    if (!b->oom && buf_append(&b->arena, p, n) < 0) b->oom = true;
}

/* Start a new "NAME=value" entry; the caller writes the name and '='. */
static void entry_start(struct env_builder *b)
{
    if (b->oom) return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        size_t *o = realloc(b->offsets, cap * sizeof *o);
        if (!o) {
            b->oom = true;
            return;
        }
        b->offsets = o;
        b->cap = cap;
    }
    b->offsets[b->n++] = buf_len(&b->arena);
}

static void entry_begin(struct env_builder *b, const char *name)
{
    entry_start(b);
    put(b, name, strlen(name));
    put(b, "=", 1);
}

/* Values never carry CR or LF into the child (they would split the variable
 * in naive consumers). */
static void put_value(struct env_builder *b, const char *v, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') {
            put(b, v + start, i - start);
            put(b, " ", 1);
            start = i + 1;
        }
    }
    put(b, v + start, n - start);
}

static void entry_end(struct env_builder *b)
{
    put(b, "", 1);
}

static void add(struct env_builder *b, const char *name, const char *v, size_t n)
{
    entry_begin(b, name);
    put_value(b, v, n);
    entry_end(b);
}

static void add_str(struct env_builder *b, const char *name, const char *v)
{
    add(b, name, v, strlen(v));
}

/* HTTP_<NAME>: upper case, anything but ASCII letters and digits becomes
 * '_' (whatever the locale). */
static char var_char(char c)
{
    unsigned char u = (unsigned char)c;
    if (u >= 'a' && u <= 'z') return (char)(u - 'a' + 'A');
    return (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ? c : '_';
}

/* A header's variable name hashed with its length: names that differ
 * mostly differ here, so the headers are compared in full only when the
 * keys are equal (up to 100 headers: this runs for every pair). */
static uint32_t var_key(const struct http_header *h)
{
    uint32_t k = 2166136261u ^ (uint32_t)h->name_len;
    for (size_t i = 0; i < h->name_len; i++) k = (k ^ (uint8_t)var_char(h->name[i])) * 16777619u;
    return k;
}

static bool same_var(const struct http_header *a, const struct http_header *b)
{
    if (a->name_len != b->name_len) return false;
    for (size_t i = 0; i < a->name_len; i++)
        if (var_char(a->name[i]) != var_char(b->name[i])) return false;
    return true;
}

static bool is_var(const struct http_header *h, const char *name)
{
    return same_var(h, &(struct http_header){.name = name, .name_len = strlen(name)});
}

/* One HTTP_* variable per name: headers that map to the same name are
 * joined with ", " in their order. */
static void add_headers(struct env_builder *b, const struct http_request *req, bool cgi)
{
    uint32_t key[HTTP_MAX_HEADERS];
    bool done[HTTP_MAX_HEADERS] = {false};
    for (size_t i = 0; i < req->nheaders; i++) key[i] = var_key(&req->headers[i]);
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (done[i]) continue;
        /* httpoxy: a client "Proxy" header must never become HTTP_PROXY. */
        if (is_var(h, "PROXY")) continue;
        if (cgi && (is_var(h, "CONTENT_LENGTH") || is_var(h, "CONTENT_TYPE"))) continue;
        entry_start(b);
        put(b, "HTTP_", 5);
        for (size_t k = 0; k < h->name_len; k++) {
            char c = var_char(h->name[k]);
            put(b, &c, 1);
        }
        put(b, "=", 1);
        put_value(b, h->value, h->value_len);
        for (size_t j = i + 1; j < req->nheaders; j++) {
            if (key[j] != key[i] || !same_var(h, &req->headers[j])) continue;
            done[j] = true;
            put(b, ", ", 2);
            put_value(b, req->headers[j].value, req->headers[j].value_len);
        }
        entry_end(b);
    }
}

/* SERVER_NAME and SERVER_PORT come from the Host header, as in websocketd. */
static void add_server_name(struct env_builder *b, const struct http_request *req, bool https)
{
    const struct http_header *h = http_header_find(req, "Host");
    const char *v = h ? h->value : "";
    size_t n = h ? h->value_len : 0, host_len = n;
    const char *port = NULL;
    size_t port_len = 0;
    if (n && v[0] == '[') {
        const char *close = memchr(v, ']', n);
        if (close) {
            host_len = (size_t)(close - v) + 1;
            if (host_len < n && v[host_len] == ':') {
                port = v + host_len + 1;
                port_len = n - host_len - 1;
            }
        }
    } else {
        const char *colon = memchr(v, ':', n);
        if (colon) {
            host_len = (size_t)(colon - v);
            port = colon + 1;
            port_len = n - host_len - 1;
        }
    }
    add(b, "SERVER_NAME", v, host_len);
    if (port && port_len)
        add(b, "SERVER_PORT", port, port_len);
    else
        add_str(b, "SERVER_PORT", https ? "443" : "80");
}

static bool has_entry(const struct env_builder *b, const char *name, size_t len)
{
    for (size_t i = 0; i < b->n; i++) {
        const char *e = (const char *)buf_head(&b->arena) + b->offsets[i];
        if (strncmp(e, name, len) == 0 && e[len] == '=') return true;
    }
    return false;
}

/* Passed variables come last and never shadow what the server sets (a
 * duplicate would win in getenv(), the first one being found). */
static void add_passenv(struct env_builder *b, const struct cgienv_input *in)
{
    for (size_t i = 0; i < in->npassenv && !b->oom; i++) {
        const char *name = in->passenv[i];
        size_t len = strlen(name);
        if (strcmp(name, "HTTPS") == 0 || has_entry(b, name, len)) continue;
        for (char *const *e = in->environ; e && *e; e++) {
            if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') {
                add_str(b, name, *e + len + 1);
                break;
            }
        }
    }
}

char **cgienv_build(const struct cgienv_input *in)
{
    const struct http_request *req = in->req;
    const char *path, *query;
    size_t path_len, query_len;
    if (!http_split_target(req, &path, &path_len, &query, &query_len)) return NULL;
    char *decoded = malloc(path_len + 1);
    if (!decoded) return NULL;
    long dlen = http_percent_decode(path, path_len, decoded);
    if (dlen < 0) {
        free(decoded);
        return NULL;
    }

    struct env_builder b = {0};
    char num[32];
    add_str(&b, "SERVER_SOFTWARE", PACKAGE_NAME "/" PACKAGE_VERSION);
    add_str(&b, "REMOTE_ADDR", in->remote_addr);
    add_str(&b, "REMOTE_HOST", in->remote_host ? in->remote_host : in->remote_addr);
    snprintf(num, sizeof num, "%u", in->remote_port);
    add_str(&b, "REMOTE_PORT", num);
    add_server_name(&b, req, in->https);
    add_str(&b, "SERVER_PROTOCOL", req->minor_version ? "HTTP/1.1" : "HTTP/1.0");
    add_str(&b, "GATEWAY_INTERFACE", "CGI/1.1");
    add(&b, "REQUEST_METHOD", req->method, req->method_len);
    /* One COMMAND: SCRIPT_NAME is "/" and the whole path is PATH_INFO; with
     * --dir the script's part of the path is SCRIPT_NAME (as websocketd). */
    size_t sn = in->script_name_len <= (size_t)dlen ? in->script_name_len : 0;
    if (sn)
        add(&b, "SCRIPT_NAME", decoded, sn);
    else
        add_str(&b, "SCRIPT_NAME", "/");
    add(&b, "PATH_INFO", decoded + sn, (size_t)dlen - sn);
    add(&b, "PATH_TRANSLATED", decoded, (size_t)dlen);
    add(&b, "QUERY_STRING", query, query_len);
    add_str(&b, "AUTH_TYPE", in->remote_user ? "Basic" : "");
    const struct http_header *length = in->cgi ? http_header_find(req, "Content-Length") : NULL;
    const struct http_header *type = in->cgi ? http_header_find(req, "Content-Type") : NULL;
    add(&b, "CONTENT_LENGTH", length ? length->value : "", length ? length->value_len : 0);
    add(&b, "CONTENT_TYPE", type ? type->value : "", type ? type->value_len : 0);
    add_str(&b, "REMOTE_IDENT", "");
    add_str(&b, "REMOTE_USER", in->remote_user ? in->remote_user : "");
    snprintf(num, sizeof num, "%llu", (unsigned long long)in->unique_id);
    add_str(&b, "UNIQUE_ID", num);
    add(&b, "REQUEST_URI", req->target, req->target_len);
    if (in->https) add_str(&b, "HTTPS", "on");
    if (in->ssl_client_cn) {
        add_str(&b, "SSL_CLIENT_S_DN_CN", in->ssl_client_cn);
        add_str(&b, "SSL_CLIENT_VERIFY", "SUCCESS"); /* unverified clients never get this far */
    }
    if (in->subprotocol) add_str(&b, "SEC_WEBSOCKET_PROTOCOL", in->subprotocol);
    if (in->extensions) add_str(&b, "SEC_WEBSOCKET_EXTENSIONS", in->extensions);
    add_headers(&b, req, in->cgi);
    add_passenv(&b, in);
    free(decoded);

    char **env = NULL;
    if (!b.oom) {
        size_t ptrs = (b.n + 1) * sizeof(char *);
        env = malloc(ptrs + buf_len(&b.arena));
        if (env) {
            char *strings = (char *)env + ptrs;
            memcpy(strings, buf_head(&b.arena), buf_len(&b.arena));
            for (size_t i = 0; i < b.n; i++) env[i] = strings + b.offsets[i];
            env[b.n] = NULL;
        }
    }
    buf_free(&b.arena);
    free(b.offsets);
    return env;
}

uint64_t cgienv_unique_id(void)
{
    static uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    last = now > last ? now : last + 1;
    return last;
}
