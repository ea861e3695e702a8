#include "autoconfig.h"

#include "http/request.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/auth.h"
#include "backend/backend.h"
#include "proto/cidr.h"
#include "net/compress.h"
#include "net/conn.h"
#include "net/context.h"
#include "net/fallback.h"
#include "proto/handshake.h"
#include "proto/http.h"
#include "proto/pmd.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/rootpath.h"
#include "http/origin.h"
#include "http/devconsole.h"
#include "http/route.h"
#include "http/static.h"

/* Methods are case-sensitive (RFC 9110 9.1). */
static bool method_is(const struct http_request *req, const char *m)
{
    return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

/* --devconsole: the page, for a GET or HEAD that nothing else answers. Its
 * script and style are inline and it may only open WebSockets. */
/* A small answer made here (the dev console, the health check): status,
 * headers (lines ending in CRLF, after Content-Length) and the body, which
 * a HEAD request does not get. Returns false when out of memory (aborted). */
static bool answer_body(struct conn *c, const struct http_request *req, int status,
                        const char *headers, const char *body, size_t len)
{
    conn_http_service(c);
    return conn_queue_answer(c, status, headers, body, len, !method_is(req, "HEAD"));
}

/* The plain HTTP side answers only these (and keeps the connection after
 * a 405 too). */
static bool get_or_head(struct conn *c, const struct http_request *req)
{
    conn_http_service(c);
    if (method_is(req, "HEAD") || method_is(req, "GET")) return true;
    conn_answer_error(c, 405, NULL, "Allow: GET, HEAD\r\n", true);
    return false;
}

static void serve_console(struct conn *c, const struct http_request *req)
{
    if (!get_or_head(c, req)) return;
    static const char headers[] =
        "Content-Type: text/html; charset=utf-8\r\n"
        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; connect-src ws: wss:\r\n";
    if (!answer_body(c, req, 200, headers, devconsole_page, devconsole_page_len)) return;
    struct log_fields fields = conn_log_fields(c, "http");
    fields.status = 200;
    fields.bytes = method_is(req, "HEAD") ? 0 : (long long)devconsole_page_len;
    fields.has = LOGF_BYTES | LOGF_DURATION;
    log_access_with(c->s.id, &fields, "%s port %u \"%s\"%s%s 200 dev console", c->peer_addr,
                    c->peer_port, c->request, ROUTE_NOTE(c));
    conn_send_answer(c, 200);
}

/* --health-path: 200 while new connections are taken, 503 while stopping
 * or at --maxconn. Logged at debug level only: probes come every few
 * seconds and would bury the access log. */
static void serve_health(struct conn *c, const struct http_request *req)
{
    if (!get_or_head(c, req)) return;
    const struct context *ctx = c->ctx;
    /* This connection is one of nconns: at the limit means no room for another. */
    const char *body = ctx->stopping                                 ? "stopping\n"
                       : ctx->maxconn && ctx->nconns >= ctx->maxconn ? "at --maxconn\n"
                                                                     : "ok\n";
    int status = body[0] == 'o' ? 200 : 503;
    static const char headers[] = "Content-Type: text/plain; charset=utf-8\r\n"
                                  "Cache-Control: no-store\r\n";
    if (!answer_body(c, req, status, headers, body, strlen(body))) return;
    log_debug(c->s.id, "%s port %u \"%s\" %d health", c->peer_addr, c->peer_port, c->request,
              status);
    conn_send_answer(c, status);
}

/* --metrics-path: the Prometheus text exposition of every worker's counters. */
static void serve_metrics(struct conn *c, const struct http_request *req)
{
    if (!get_or_head(c, req)) return;
    struct buf body = {0};
    if (metrics_format(&body, PACKAGE_VERSION) < 0) {
        buf_free(&body);
        conn_abort(c, "out of memory");
        return;
    }
    static const char headers[] = "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                                  "Cache-Control: no-store\r\n";
    bool ok = answer_body(c, req, 200, headers, (const char *)buf_head(&body), buf_len(&body));
    buf_free(&body);
    if (!ok) return;
    log_debug(c->s.id, "%s port %u \"%s\" 200 metrics", c->peer_addr, c->peer_port, c->request);
    conn_send_answer(c, 200);
}

/* A file found for a GET or HEAD: its conditional and Range headers pick
 * the answer (static_evaluate), the connection streams its bytes. */
static void send_file(const struct endpoint *ep, struct conn *c, const struct http_request *req,
                      struct static_file *f, bool head)
{
    off_t first, len;
    int status = static_evaluate(f, req, time(NULL), &first, &len);
    if (status == 412 || status == 416) {
        struct buf lines = {0};
        bool ok = status == 412 || (static_append_headers(&lines, f, status, 0, 0, NULL) == 0 &&
                                    buf_append(&lines, "", 1) == 0);
        close(f->fd);
        if (ok)
            conn_answer_error(c, status, NULL,
                              status == 416 ? (const char *)buf_head(&lines) : NULL, !head);
        else
            conn_abort(c, "out of memory");
        buf_free(&lines);
        return;
    }
    const char *extra = conn_session_settings(c)->headers_http;
    const char *connection = conn_connection_header(c, status);
    if (http_append_status(&c->out, status) < 0 ||
        static_append_headers(&c->out, f, status, first, len, ep->set->cache_control) < 0 ||
        (extra && buf_append(&c->out, extra, strlen(extra)) < 0) ||
        buf_append(&c->out, connection, strlen(connection)) < 0 ||
        buf_append(&c->out, "\r\n", 2) < 0) {
        close(f->fd);
        conn_abort(c, "out of memory");
        return;
    }
    if (head || status == 304 || len == 0) {
        close(f->fd);
    } else {
        c->file_fd = f->fd;
        c->file_pos = first;
        c->file_end = first + len;
    }
    long long bytes = status == 304 ? 0LL : (long long)len;
    struct log_fields fields = conn_log_fields(c, "http");
    fields.status = status;
    fields.bytes = head ? 0 : bytes;
    fields.encoding = f->gzip ? "gzip" : NULL;
    fields.has = LOGF_BYTES | LOGF_DURATION;
    log_access_with(c->s.id, &fields, "%s port %u \"%s\"%s%s %d %lld bytes%s", c->peer_addr,
                    c->peer_port, c->request, ROUTE_NOTE(c), status, bytes, f->gzip ? " gzip" : "");
    conn_send_answer(c, status);
}

/* path is the decoded path; raw_path the one the client sent (for Location,
 * where a decoded CR or LF must never appear). */
static void serve_static(const struct endpoint *ep, struct conn *c, const struct http_request *req,
                         const char *path, size_t path_len, const char *raw_path, size_t raw_len,
                         const char *query, size_t query_len)
{
    if (!get_or_head(c, req)) return;
    bool head = method_is(req, "HEAD");
    struct static_file f;
    int status =
        static_resolve(ep->static_root, path, path_len, http_coding_weight(req, "gzip") > 0, &f);
    if (status == 301) {
        /* Directories need their slash so relative links resolve. One
         * leading slash: "//host/" would send the browser to another site. */
        while (raw_len > 1 && raw_path[1] == '/') {
            raw_path++;
            raw_len--;
        }
        char *loc = malloc(raw_len + query_len + 32);
        if (!loc) {
            conn_abort(c, "out of memory");
            return;
        }
        int n = sprintf(loc, "Location: %.*s/", (int)raw_len, raw_path);
        if (query_len) n += sprintf(loc + n, "?%.*s", (int)query_len, query);
        sprintf(loc + n, "\r\n");
        conn_answer_error(c, 301, NULL, loc, !head);
        free(loc);
        return;
    }
    if (status == 404 && ep->set->devconsole) {
        serve_console(c, req);
        return;
    }
    if (status != 200) {
        conn_answer_error(c, status, NULL, NULL, !head);
        return;
    }
    send_file(ep, c, req, &f, head);
}

/* --redirport: everything goes to the same place over https. */
static void redirect_to_https(const struct endpoint *ep, struct conn *c,
                              const struct http_request *req)
{
    const struct http_header *h = http_header_find(req, "Host");
    if (!h || !h->value_len) {
        conn_answer_error(c, 400, "a Host header is needed to redirect to https", NULL, true);
        return;
    }
    size_t host_len = h->value_len;
    if (h->value[0] == '[') {
        const char *close = memchr(h->value, ']', h->value_len);
        if (close) host_len = (size_t)(close - h->value) + 1;
    } else {
        const char *colon = memchr(h->value, ':', h->value_len);
        if (colon) host_len = (size_t)(colon - h->value);
    }
    const char *path, *query;
    size_t path_len, query_len;
    if (!http_split_target(req, &path, &path_len, &query, &query_len)) {
        conn_answer_error(c, 400, "unusable request target", NULL, true);
        return;
    }
    unsigned port = ep->https_port;
    char *loc = malloc(host_len + path_len + query_len + 64);
    if (!loc) {
        conn_abort(c, "out of memory");
        return;
    }
    int n = sprintf(loc, "Location: https://%.*s", (int)host_len, h->value);
    if (port != 443) n += sprintf(loc + n, ":%u", port);
    n += sprintf(loc + n, "%.*s", (int)path_len, path);
    if (query_len) n += sprintf(loc + n, "?%.*s", (int)query_len, query);
    sprintf(loc + n, "\r\n");
    conn_answer_error(c, 301, NULL, loc, !method_is(req, "HEAD"));
    free(loc);
}

/* Behind a trusted proxy, the client is named by X-Forwarded-For. Returns
 * false after answering when the client may not come in. */
static bool identify_client(struct conn *c, const struct http_request *req)
{
    const struct conn_settings *set = c->ctx->set;
    if (!c->from_trusted_proxy || c->via[0]) return true; /* direct, or named by PROXY */
    /* Several X-Forwarded-For lines read as one list, in order. */
    char list[HTTP_MAX_HEADER_BYTES];
    size_t len = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!http_name_eq(h->name, h->name_len, "X-Forwarded-For")) continue;
        if (len && len < sizeof list) list[len++] = ',';
        size_t take = h->value_len < sizeof list - len ? h->value_len : sizeof list - len;
        memcpy(list + len, h->value, take);
        len += take;
    }
    struct ip_addr client;
    if (len && cidr_forwarded_client(list, len, set->trusted, set->ntrusted, &client))
        return conn_set_client(c, &client, 0);
    return conn_set_client(c, NULL, 0);
}

/* Basic authentication when users are configured. */
static bool authenticate(struct endpoint *ep, struct conn *c, const struct http_request *req)
{
    if (!ep->auth_required) return true;
    const struct http_header *h = http_header_find(req, "Authorization");
    char user[256], pass[1024];
    const struct auth_user *u = NULL;
    if (h && auth_parse_basic(h->value, h->value_len, user, sizeof user, pass, sizeof pass)) {
        u = auth_check(&ep->auth, user, pass);
        if (!u)
            log_warn(c->s.id, "%s port %u: wrong password for user '%.64s'", c->peer_addr,
                     c->peer_port, user);
    }
    memset(pass, 0, sizeof pass);
    if (!u) {
        conn_answer_error(c, 401, h ? "wrong user or password" : "authentication required",
                          "WWW-Authenticate: Basic realm=\"wsbridge\", charset=\"UTF-8\"\r\n",
                          !method_is(req, "HEAD"));
        return false;
    }
    free(c->remote_user);
    c->remote_user = strdup(u->name);
    return true;
}

/* --origin / --sameorigin, with websocketd's meaning; a request without an
 * Origin passes only with --origin-optional. */
static bool origin_ok(const struct endpoint *ep, struct conn *c, const struct http_request *req,
                      const char **why)
{
    const struct http_settings *set = ep->set;
    if (!set->norigins && !set->sameorigin) return true;
    const struct http_header *o = http_header_find(req, "Origin");
    if (!o) {
        *why = "an Origin header is required";
        return set->origin_optional;
    }
    if (set->sameorigin) {
        const struct http_header *h = http_header_find(req, "Host");
        if (!h || !origin_same(o->value, o->value_len, h->value, h->value_len, c->ssl != NULL)) {
            *why = "the Origin is not this server";
            return false;
        }
    }
    if (set->norigins && !origin_allowed(set->origins, set->norigins, o->value, o->value_len)) {
        *why = "the Origin is not allowed";
        return false;
    }
    return true;
}

/* --maxforks counts the endpoint's processes: WebSocket and CGI. */
static bool at_maxforks(const struct endpoint *ep, const struct conn *c)
{
    unsigned max = ep->set->maxforks;
    unsigned n = (ep->backend ? ep->backend->nchildren : 0) + (ep->cgi ? ep->cgi->nchildren : 0);
    if (!max || n < max) return false;
    log_warn(c->s.id, "--maxforks=%u reached: refusing %s port %u", max, c->peer_addr,
             c->peer_port);
    return true;
}

/* --cgidir: a script the path names answers the request. Returns false
 * when there is none (the files and the dev console may answer). */
static bool serve_cgi(const struct endpoint *ep, struct conn *c, const struct http_request *req,
                      const char *path, size_t path_len, size_t head_len)
{
    struct script_match m;
    int found = rootpath_find_script(ep->cgi->script_root, path, path_len, &m);
    if (found == 404) return false;
    bool body = !method_is(req, "HEAD");
    if (found != 200) {
        conn_answer_error(c, found, "not an executable script inside --cgidir", NULL, body);
        return true;
    }
    if (at_maxforks(ep, c)) {
        conn_answer_error(c, 429, "too many requests, try again later", "Retry-After: 1\r\n", body);
        return true;
    }
    c->head_len = head_len; /* kept in c->in for a next request until the answer is done */
    struct backend_refusal refusal = {0};
    if (ep->cgi->ops->respond(ep->cgi, c, req, &refusal) == BACKEND_READY) return true;
    if (refusal.http_status == 404) return false; /* gone since */
    conn_answer_error(c, refusal.http_status, refusal.why, NULL, body);
    return true;
}

/* What an upgrade and a fallback open request both pass before a backend
 * starts: the origin rules, a backend at this path, --maxforks. Returns the
 * backend, or NULL after answering. */
static struct backend *admit_session(const struct endpoint *ep, struct conn *c,
                                     const struct http_request *req)
{
    const char *why = NULL;
    if (!origin_ok(ep, c, req, &why)) {
        const struct http_header *o = http_header_find(req, "Origin");
        log_warn(c->s.id, "%s port %u: refused origin %.*s: %s", c->peer_addr, c->peer_port,
                 o ? (int)(o->value_len > 100 ? 100 : o->value_len) : 1, o ? o->value : "-", why);
        conn_answer_error(c, 403, why, NULL, true);
        return NULL;
    }
    struct backend *b = ep->backend;
    if (!b) {
        conn_answer_error(c, 404, "no WebSocket endpoint at this path", NULL, true);
        return NULL;
    }
    if (at_maxforks(ep, c)) {
        conn_answer_error(c, 429, "too many connections, try again later", "Retry-After: 1\r\n",
                          true);
        return NULL;
    }
    return b;
}

static void start_websocket(const struct endpoint *ep, struct conn *c,
                            const struct http_request *req, size_t head_len)
{
    const struct http_settings *set = ep->set;
    const char *why = NULL;
    int status = handshake_check(req, &why);
    if (status) {
        conn_answer_error(c, status, why, handshake_error_headers(status), true);
        return;
    }
    struct backend *b = admit_session(ep, c, req);
    if (!b) return;
    const struct compress_settings *zset = &conn_session_settings(c)->compress;
    struct pmd_params pmd;
    if (zset->on &&
        pmd_negotiate(req,
                      &(struct pmd_config){.low_memory = !zset->high_ratio,
                                           .window_bits = zset->window_bits,
                                           .fixed_window = b->ops->broadcast},
                      &pmd) &&
        !(c->compress = compress_new(&pmd, zset))) {
        conn_abort(c, "out of memory");
        return;
    }
    char extensions[PMD_RESPONSE_MAX];
    if (c->compress) {
        pmd_format(&pmd, extensions, sizeof extensions);
        log_debug(c->s.id, "permessage-deflate agreed: %s", extensions);
    }
    struct backend_refusal refusal = {0};
    c->s.handler = &b->ops->session;
    c->s.mode = (uint8_t)b->ops->mode;
    enum backend_start started = b->ops->start(b, &c->s, req, &refusal);
    if (started == BACKEND_REFUSED) {
        c->s.handler = NULL;
        c->s.backend_data = NULL;
        if (refusal.http_status) {
            conn_answer_error(c, refusal.http_status, refusal.why, NULL, true);
            return;
        }
    }
    /* The request head is still in c->in; the 101 waits in c->out until the backend is ready. */
    if (handshake_append_101(&c->out, req, c->s.subprotocol, c->compress ? extensions : NULL,
                             set->headers_ws) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    c->head_len = head_len;
    if (started == BACKEND_PENDING) {
        conn_wait_for_backend(c);
        return;
    }
    conn_open_session(c);
    if (started == BACKEND_REFUSED && c->state == CONN_OPEN) {
        log_error(c->s.id, "cannot start the command: %s", refusal.why);
        conn_ws_close(c, WS_CLOSE_INTERNAL, "cannot start the command");
    }
}

/* --fallback: a request that opens a session (doc/fallback.md), through
 * the same checks as an upgrade, the backend started as for one. */
static void open_fallback(const struct endpoint *ep, struct conn *c, const struct http_request *req,
                          size_t head_len)
{
    struct backend *b = admit_session(ep, c, req);
    if (!b) return;
    if (http_has_body(req)) {
        conn_answer_error(c, 400, "the open request has no body", NULL, true);
        return;
    }
    struct route_table *t = c->route;
    t->conns++; /* the session's own hold on its route, as a connection's */
    struct session *s = fallback_open(c, head_len, t);
    if (!s) return;
    struct http_request view;
    fallback_request_view(&view, req);
    struct backend_refusal refusal = {0};
    s->handler = &b->ops->session;
    s->mode = (uint8_t)b->ops->mode;
    enum backend_start started = b->ops->start(b, s, &view, &refusal);
    if (started == BACKEND_PENDING) return; /* the backend says when */
    if (started == BACKEND_READY) {
        session_ready(s);
        return;
    }
    s->handler = NULL;
    s->backend_data = NULL;
    if (refusal.http_status) {
        session_refused(s, refusal.http_status, refusal.why);
        return;
    }
    session_ready(s);
    log_error(s->id, "cannot start the command: %s", refusal.why);
    session_close(s, WS_CLOSE_INTERNAL, "cannot start the command");
}

/* --fallback: an event stream or a message POST. The origin rules apply
 * when the request carries an Origin (a same-origin GET does not). */
static void serve_fallback(const struct endpoint *ep, struct conn *c,
                           const struct http_request *req, enum fallback_kind kind,
                           const char *query, size_t query_len)
{
    const char *why = NULL;
    if (http_header_find(req, "Origin") && !origin_ok(ep, c, req, &why)) {
        conn_answer_error(c, 403, why, NULL, true);
        return;
    }
    fallback_serve(c, req, kind, query, query_len);
}

void request_route(void *table, struct conn *c, const struct http_request *req, size_t head_len)
{
    struct route_table *t = table;
    const char *path, *query;
    size_t path_len, query_len;
    size_t shown = req->target_len > 200 ? 200 : req->target_len;
    c->request = malloc(req->method_len + shown + 2);
    if (!c->request) {
        conn_abort(c, "out of memory");
        return;
    }
    sprintf(c->request, "%.*s %.*s", (int)req->method_len, req->method, (int)shown, req->target);

    if (!http_split_target(req, &path, &path_len, &query, &query_len)) {
        conn_answer_error(c, 400, "unusable request target", NULL, true);
        return;
    }
    if (req->minor_version >= 1 && http_header_count(req, "Host") != 1) {
        conn_answer_error(c, 400, "exactly one Host header is required", NULL, true);
        return;
    }
    const char *health = t->top.ep.set->health_path;
    if (health && strlen(health) == path_len && memcmp(health, path, path_len) == 0) {
        serve_health(c, req);
        return;
    }
    const char *metrics = t->top.ep.set->metrics_path;
    if (metrics && strlen(metrics) == path_len && memcmp(metrics, path, path_len) == 0) {
        serve_metrics(c, req);
        return;
    }
    if (c->ctx->stopping) { /* the listeners are open only for --health-path */
        conn_answer_error(c, 503, "the server is shutting down", "Retry-After: 5\r\n", true);
        return;
    }
    if (c->redirect) {
        redirect_to_https(&t->top.ep, c, req);
        return;
    }
    if (!identify_client(c, req)) return;
    char *decoded = malloc(path_len + 1);
    if (!decoded) {
        conn_abort(c, "out of memory");
        return;
    }
    long dlen = http_percent_decode(path, path_len, decoded);
    if (dlen < 0) {
        conn_answer_error(c, 400, "bad percent-encoding in the path", NULL, true);
        free(decoded);
        return;
    }
    /* "//admin/" must not dodge the route /admin/ (and its auth) for the
     * files it shares with the top level. */
    dlen = (long)http_merge_slashes(decoded, (size_t)dlen);
    /* From here the route's settings apply, and c keeps its table alive. */
    struct route *r = route_match(t, decoded, (size_t)dlen);
    struct endpoint *ep = &r->ep;
    t->conns++;
    c->route = t;
    c->settings = r->session;
    c->route_name = r->path;
    enum fallback_kind fb = r->session->fallback && !handshake_is_upgrade(req)
                                ? fallback_classify(req, query, query_len)
                                : FALLBACK_NONE;
    if (authenticate(ep, c, req)) { /* else it answered 401 */
        if (handshake_is_upgrade(req))
            start_websocket(ep, c, req, head_len);
        else if (fb == FALLBACK_OPEN)
            open_fallback(ep, c, req, head_len);
        else if (fb != FALLBACK_NONE)
            serve_fallback(ep, c, req, fb, query, query_len);
        else if (ep->cgi && serve_cgi(ep, c, req, decoded, (size_t)dlen, head_len))
            ; /* answered */
        else if (ep->static_root)
            serve_static(ep, c, req, decoded, (size_t)dlen, path, path_len, query, query_len);
        else if (ep->set->devconsole)
            serve_console(c, req);
        else
            conn_answer_error(c, 404, NULL, NULL, !method_is(req, "HEAD"));
    }
    free(decoded);
}
