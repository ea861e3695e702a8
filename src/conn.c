#include "autoconfig.h"

#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "handshake.h"
#include "log.h"
#include "server.h"
#include "static.h"
#include "util.h"

#define READ_CHUNK        65536
#define SENDFILE_CHUNK    (1 << 20)
#define SENDFILE_PER_WAKE (4 << 20) /* fairness: other connections get a turn */

/* Socket reads land here first; only bytes a backend cannot take yet are
 * copied into the connection. One loop, one thread: one buffer. */
static uint8_t scratch[READ_CHUNK];

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void process_kept_input(struct conn *c);
static void http_answer_error(struct conn *c, int status, const char *why, const char *extra,
                              bool with_body);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void arm_timer(struct conn *c, ev_tstamp seconds)
{
    c->timer.repeat = seconds;
    ev_timer_again(c->srv->loop, &c->timer);
}

/* Read from the client when the state wants input and nothing holds it back. */
static void update_reading(struct conn *c)
{
    bool want;
    switch (c->state) {
    case CONN_HANDSHAKE:
    case CONN_LINGER: want = true; break;
    case CONN_OPEN: want = !c->have_held && buf_len(&c->out) < CONN_OUT_HARD; break;
    case CONN_CLOSING: want = buf_len(&c->out) < CONN_OUT_HARD; break;
    default: want = false; break;
    }
    if (want && !ev_is_active(&c->rio))
        ev_io_start(c->srv->loop, &c->rio);
    else if (!want && ev_is_active(&c->rio))
        ev_io_stop(c->srv->loop, &c->rio);
}

static void format_peer(struct conn *c, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], c->peer_addr, sizeof c->peer_addr);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, c->peer_addr, sizeof c->peer_addr);
        c->peer_port = ntohs(s6->sin6_port);
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, c->peer_addr, sizeof c->peer_addr);
        c->peer_port = ntohs(s4->sin_port);
    } else {
        snprintf(c->peer_addr, sizeof c->peer_addr, "unknown");
    }
}

void conn_new(struct server *srv, int fd, const struct sockaddr *peer)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error(0, "out of memory: dropping a new connection");
        close(fd);
        return;
    }
    c->srv = srv;
    c->fd = fd;
    c->id = ++srv->next_conn_id;
    c->file_fd = -1;
    c->started = ev_now(srv->loop);
    format_peer(c, peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ev_init(&c->timer, on_timer);
    http_parser_init(&c->hp);
    list_push(srv->conns, c);
    srv->nconns++;
    arm_timer(c, CONN_HANDSHAKE_TIMEOUT);
    update_reading(c);
    log_debug(c->id, "connection from %s port %u", c->peer_addr, c->peer_port);
}

/* Detach the backend; it lets go of the connection and ends its side. */
static void release_backend(struct conn *c)
{
    const struct backend_ops *b = c->backend;
    if (!b) return;
    c->backend = NULL;
    b->client_closed(c);
    c->backend_data = NULL;
}

static void log_end(struct conn *c, const char *why)
{
    double secs = ev_now(c->srv->loop) - c->started;
    const char *req = c->request ? c->request : "-";
    if (c->close_sent || c->close_received || c->closed_by) {
        log_access(c->id,
                   "DISCONNECT %s port %u \"%s\" -> %s code %u by %s%s%s, in %llu messages %llu "
                   "bytes, out %llu messages %llu bytes, %.3f s",
                   c->peer_addr, c->peer_port, req, c->target[0] ? c->target : "-", c->close_code,
                   c->closed_by ? c->closed_by : "client", why ? ": " : "", why ? why : "",
                   (unsigned long long)c->msgs_in, (unsigned long long)c->bytes_in,
                   (unsigned long long)c->msgs_out, (unsigned long long)c->bytes_out, secs);
    } else if (c->status) {
        if (why)
            log_info(c->id, "%s port %u \"%s\" %d: %s", c->peer_addr, c->peer_port, req, c->status,
                     why);
    } else if (why) {
        log_info(c->id, "%s port %u: %s", c->peer_addr, c->peer_port, why);
    }
}

void conn_abort(struct conn *c, const char *why)
{
    if (c->state == CONN_DEAD) return;
    struct server *srv = c->srv;
    if (c->state == CONN_OPEN && !c->closed_by) {
        c->closed_by = "client";
        c->close_code = WS_CLOSE_ABNORMAL;
    }
    c->state = CONN_DEAD;
    release_backend(c);
    log_end(c, why);
    ev_io_stop(srv->loop, &c->rio);
    ev_io_stop(srv->loop, &c->wio);
    ev_timer_stop(srv->loop, &c->timer);
    close(c->fd);
    c->fd = -1;
    if (c->file_fd >= 0) close(c->file_fd);
    c->file_fd = -1;
    /* Move to the graveyard: callers up the stack may still hold c. */
    list_unlink(srv->conns, c);
    list_push(srv->graveyard, c);
    srv->nconns--;
}

void conn_free(struct conn *c)
{
    buf_free(&c->in);
    buf_free(&c->out);
    free(c->request);
    free(c);
}

/* The peer vanished (EOF without a close frame, reset, write error). */
static void peer_gone(struct conn *c, const char *why)
{
    conn_abort(c, why);
}

/* Everything is sent: shut our side so the FIN follows the last byte, and
 * read until the peer closes too (closing with unread input would send a
 * reset that can destroy our last bytes in flight). */
static void start_linger(struct conn *c)
{
    arm_timer(c, CONN_CLOSE_TIMEOUT);
    c->state = CONN_LINGER;
    buf_free(&c->in);
    c->have_held = false;
    if (shutdown(c->fd, SHUT_WR) < 0) {
        conn_abort(c, NULL);
        return;
    }
    update_reading(c);
}

/* Stream the static file once the head is out. Returns -1 if c died. */
static int send_file(struct conn *c)
{
    size_t sent = 0;
    while (c->file_pos < c->file_end && sent < SENDFILE_PER_WAKE) {
        off_t left = c->file_end - c->file_pos;
        size_t chunk = left > SENDFILE_CHUNK ? SENDFILE_CHUNK : (size_t)left;
        ssize_t n = sendfile(c->fd, c->file_fd, &c->file_pos, chunk);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        peer_gone(c, n == 0 ? "file shrank while being sent" : strerror(errno));
        return -1;
    }
    if (sent) arm_timer(c, CONN_SEND_TIMEOUT);
    if (c->file_pos >= c->file_end) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    return 0;
}

void conn_flush(struct conn *c)
{
    if (c->state == CONN_DEAD) return;
    bool progress = false;
    while (buf_len(&c->out)) {
        ssize_t n = send(c->fd, buf_head(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            progress = true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        peer_gone(c, n < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    if (progress && (c->state == CONN_HTTP || c->state == CONN_CLOSING))
        arm_timer(c, CONN_SEND_TIMEOUT);
    if (!buf_len(&c->out) && c->file_fd >= 0 && send_file(c) < 0) return;

    bool pending = buf_len(&c->out) || c->file_fd >= 0;
    if (pending && !ev_is_active(&c->wio))
        ev_io_start(c->srv->loop, &c->wio);
    else if (!pending && ev_is_active(&c->wio))
        ev_io_stop(c->srv->loop, &c->wio);

    if (c->backend) {
        size_t q = buf_len(&c->out);
        if (!c->output_paused && q >= CONN_OUT_HIGH) {
            c->output_paused = true;
            c->backend->pause_output(c);
        } else if (c->output_paused && q <= CONN_OUT_LOW) {
            c->output_paused = false;
            c->backend->resume_output(c);
        }
    }
    if (!pending && (c->state == CONN_CLOSING || c->state == CONN_HTTP)) {
        start_linger(c);
        return;
    }
    update_reading(c);
}

uint8_t *conn_send_begin(struct conn *c, uint8_t b0, size_t len)
{
    if (c->state == CONN_DEAD) return NULL;
    if (buf_reserve(&c->out, WS_MAX_HEADER + len) < 0) {
        conn_abort(c, "out of memory queueing a message");
        return NULL;
    }
    buf_commit(&c->out, ws_frame_header(buf_tail(&c->out), b0, len, NULL));
    if ((b0 & 0x0F) < WS_OP_CLOSE) {
        c->bytes_out += len;
        if (b0 & WS_FIN) c->msgs_out++;
    }
    return buf_tail(&c->out);
}

void conn_send_commit(struct conn *c, size_t len)
{
    buf_commit(&c->out, len);
}

/* Payloads up to 65535 bytes take a 2- or 4-byte header; room for 4 is kept. */
#define FRAME_SPACE_HEADER 4

uint8_t *conn_frame_space(struct conn *c, size_t max)
{
    if (c->state == CONN_DEAD) return NULL;
    if (buf_reserve(&c->out, FRAME_SPACE_HEADER + max) < 0) {
        conn_abort(c, "out of memory queueing a message");
        return NULL;
    }
    return buf_tail(&c->out) + FRAME_SPACE_HEADER;
}

void conn_frame_abandon(struct conn *c)
{
    if (!buf_len(&c->out)) buf_free(&c->out);
}

void conn_frame_commit(struct conn *c, uint8_t b0, size_t n)
{
    uint8_t *at = buf_tail(&c->out);
    if (n < 126) memmove(at + 2, at + FRAME_SPACE_HEADER, n); /* a short frame: close the gap */
    buf_commit(&c->out, ws_frame_header(at, b0, n, NULL) + n);
    if ((b0 & 0x0F) < WS_OP_CLOSE) {
        c->bytes_out += n;
        if (b0 & WS_FIN) c->msgs_out++;
    }
}

int conn_send(struct conn *c, uint8_t b0, const void *payload, size_t len)
{
    uint8_t *dst = conn_send_begin(c, b0, len);
    if (!dst) return -1;
    if (len) memcpy(dst, payload, len);
    conn_send_commit(c, len);
    return 0;
}

void conn_ws_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_OPEN) return;
    release_backend(c);
    c->close_code = code;
    if (!c->closed_by) c->closed_by = "server";
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(payload, code, reason);
    /* Held client bytes are dropped: after our close nothing more reaches the backend. */
    buf_free(&c->in);
    c->have_held = false;
    if (conn_send(c, WS_FIN | WS_OP_CLOSE, payload, n) < 0) return;
    c->close_sent = true;
    c->state = CONN_CLOSING;
    /* Data queued before the close may take long to reach a slow client;
     * only a client that stops reading altogether is dropped. */
    arm_timer(c, CONN_SEND_TIMEOUT);
    conn_flush(c);
}

void conn_backend_finished(struct conn *c, uint16_t code, const char *reason)
{
    /* The backend has let go already; do not call it back. */
    c->backend = NULL;
    c->backend_data = NULL;
    conn_ws_close(c, code, reason);
}

static void on_client_close(struct conn *c, const struct ws_event *ev)
{
    c->close_received = true;
    c->closed_by = "client";
    char reason[WS_MAX_CLOSE_REASON + 1];
    memcpy(reason, ev->data, ev->len);
    reason[ev->len] = '\0';
    /* Echo the client's code, as most servers do. */
    conn_ws_close(c, ev->close_code, reason);
}

static void protocol_error(struct conn *c, uint16_t code, const char *why)
{
    log_info(c->id, "protocol error from %s port %u: %s (closing with %u)", c->peer_addr,
             c->peer_port, why, code);
    conn_ws_close(c, code, why);
}

/* Parse frames from data (writable: payloads are unmasked in place) and hand
 * them on. Returns the offset from which bytes must be kept because the
 * backend could not take them (len when all were used). */
static size_t process_input(struct conn *c, uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len && c->state == CONN_OPEN) {
        struct ws_event ev;
        i += ws_parser_feed(&c->wp, data + i, len - i, &ev);
        switch (ev.kind) {
        case WS_EV_NONE: break;
        case WS_EV_DATA: {
            if (ev.last) c->msgs_in++;
            c->bytes_in += ev.len;
            if (!c->backend) break;
            size_t taken = 0;
            if (c->backend->client_data(c, &ev, &taken) || c->state != CONN_OPEN) break;
            size_t keep_from = i - (ev.len - taken);
            c->held = ev;
            c->held.data = data + keep_from;
            c->held.len = ev.len - taken;
            if (taken) c->held.first = false;
            c->have_held = true;
            return keep_from;
        }
        case WS_EV_PING: conn_send(c, WS_FIN | WS_OP_PONG, ev.data, ev.len); break;
        case WS_EV_PONG: break;
        case WS_EV_CLOSE: on_client_close(c, &ev); break;
        case WS_EV_ERROR: protocol_error(c, ev.close_code, ev.error); break;
        }
    }
    return len;
}

/* Process the client bytes waiting in c->in; whatever the backend cannot
 * take yet stays there, the rest is released. */
static void process_kept_input(struct conn *c)
{
    if (buf_len(&c->in) && c->state == CONN_OPEN) {
        size_t keep_from = process_input(c, buf_head(&c->in), buf_len(&c->in));
        if (c->state == CONN_DEAD) return;
        if (c->have_held)
            buf_consume(&c->in, keep_from);
        else
            buf_free(&c->in);
    } else {
        buf_free(&c->in);
    }
    conn_flush(c);
}

void conn_resume_input(struct conn *c)
{
    if (!c->have_held) return;
    if (c->state == CONN_OPEN && c->backend) {
        struct ws_event ev = c->held;
        ev.data = buf_head(&c->in);
        size_t taken = 0;
        bool all = c->backend->client_data(c, &ev, &taken);
        if (c->state == CONN_DEAD) return;
        if (!all && c->state == CONN_OPEN) {
            buf_consume(&c->in, taken);
            c->held.len -= taken;
            if (taken) c->held.first = false;
            return;
        }
    }
    if (!c->have_held) return; /* closed meanwhile */
    buf_consume(&c->in, c->held.len);
    c->have_held = false;
    process_kept_input(c);
}

static void read_frames(struct conn *c)
{
    ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
    if (n == 0) {
        peer_gone(c, c->state == CONN_OPEN ? "connection closed without a close frame" : NULL);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        peer_gone(c, strerror(errno));
        return;
    }
    if (c->state != CONN_OPEN) return; /* closing: the rest is not for us */
    size_t keep_from = process_input(c, scratch, (size_t)n);
    if (c->state == CONN_DEAD) return;
    if (c->have_held && buf_append(&c->in, scratch + keep_from, (size_t)n - keep_from) < 0) {
        conn_abort(c, "out of memory holding client data");
        return;
    }
    conn_flush(c);
}

static void read_linger(struct conn *c)
{
    ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
    if (n == 0)
        conn_abort(c, NULL);
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn_abort(c, NULL);
}

static void http_answer_error(struct conn *c, int status, const char *why, const char *extra,
                              bool with_body)
{
    c->status = status;
    c->state = CONN_HTTP;
    if (http_append_error(&c->out, status, why, extra, c->srv->cfg->headers_http, with_body) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    log_access(c->id, "%s port %u \"%s\" %d%s%s", c->peer_addr, c->peer_port,
               c->request ? c->request : "-", status, why ? " " : "", why ? why : "");
    arm_timer(c, CONN_SEND_TIMEOUT);
    conn_flush(c);
}

/* Methods are case-sensitive (RFC 9110 9.1). */
static bool method_is(const struct http_request *req, const char *m)
{
    return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

/* path is the decoded path; raw_path the one the client sent (for Location,
 * where a decoded CR or LF must never appear). */
static void serve_static(struct conn *c, const struct http_request *req, const char *path,
                         size_t path_len, const char *raw_path, size_t raw_len, const char *query,
                         size_t query_len)
{
    bool head = method_is(req, "HEAD");
    if (!head && !method_is(req, "GET")) {
        http_answer_error(c, 405, NULL, "Allow: GET, HEAD\r\n", true);
        return;
    }
    struct static_file f;
    int status = static_resolve(c->srv->static_root, path, path_len, &f);
    if (status == 301) {
        /* Directories need their slash so relative links resolve. */
        char *loc = malloc(raw_len + query_len + 32);
        if (!loc) {
            conn_abort(c, "out of memory");
            return;
        }
        int n = sprintf(loc, "Location: %.*s/", (int)raw_len, raw_path);
        if (query_len) n += sprintf(loc + n, "?%.*s", (int)query_len, query);
        sprintf(loc + n, "\r\n");
        http_answer_error(c, 301, NULL, loc, !head);
        free(loc);
        return;
    }
    if (status != 200) {
        http_answer_error(c, status, NULL, NULL, !head);
        return;
    }
    char head_lines[512], date[64];
    struct tm tm;
    gmtime_r(&f.mtime, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int n = snprintf(head_lines, sizeof head_lines,
                     "Content-Type: %s\r\nContent-Length: %lld\r\nLast-Modified: %s\r\n"
                     "X-Content-Type-Options: nosniff\r\nConnection: close\r\n",
                     f.content_type, (long long)f.size, date);
    const char *extra = c->srv->cfg->headers_http;
    if (http_append_status(&c->out, 200) < 0 || buf_append(&c->out, head_lines, (size_t)n) < 0 ||
        (extra && buf_append(&c->out, extra, strlen(extra)) < 0) ||
        buf_append(&c->out, "\r\n", 2) < 0) {
        close(f.fd);
        conn_abort(c, "out of memory");
        return;
    }
    c->status = 200;
    c->state = CONN_HTTP;
    if (head) {
        close(f.fd);
    } else {
        c->file_fd = f.fd;
        c->file_pos = 0;
        c->file_end = f.size;
    }
    log_access(c->id, "%s port %u \"%s\" 200 %lld bytes", c->peer_addr, c->peer_port, c->request,
               (long long)f.size);
    arm_timer(c, CONN_SEND_TIMEOUT);
    conn_flush(c);
}

/* The session starts: the 101 (queued already) goes out, frames flow. */
static void open_session(struct conn *c)
{
    c->status = 101;
    c->state = CONN_OPEN;
    ev_timer_stop(c->srv->loop, &c->timer);
    ws_parser_init(&c->wp, true, c->srv->cfg->maxmsgsize);
    log_access(c->id, "CONNECT %s port %u \"%s\" -> %s", c->peer_addr, c->peer_port, c->request,
               c->target[0] ? c->target : "-");
    /* Frames the client sent right behind its request (allowed by no RFC,
     * but harmless) are processed now rather than dropped. */
    buf_consume(&c->in, c->head_len);
    c->head_len = 0;
    process_kept_input(c);
}

void conn_backend_ready(struct conn *c)
{
    if (c->state == CONN_CONNECTING) open_session(c);
}

void conn_backend_refused(struct conn *c, int http_status, const char *why)
{
    if (c->state != CONN_CONNECTING) return;
    c->backend = NULL; /* it has let go */
    c->backend_data = NULL;
    buf_free(&c->out); /* the queued 101 */
    http_answer_error(c, http_status, why, NULL, true);
}

static void start_websocket(struct conn *c, const struct http_request *req, size_t head_len)
{
    const struct config *cfg = c->srv->cfg;
    const char *why = NULL;
    int status = handshake_check(req, &why);
    if (status) {
        http_answer_error(c, status, why, handshake_error_headers(status), true);
        return;
    }
    if (cfg->maxforks && c->srv->nchildren >= cfg->maxforks) {
        log_warn(c->id, "--maxforks=%u reached: refusing %s port %u", cfg->maxforks, c->peer_addr,
                 c->peer_port);
        http_answer_error(c, 429, "too many connections, try again later", "Retry-After: 1\r\n",
                          true);
        return;
    }
    struct backend_refusal refusal = {0};
    c->backend = c->srv->backend;
    enum backend_start started = c->backend->start(c, req, &refusal);
    if (started == BACKEND_REFUSED) {
        c->backend = NULL;
        c->backend_data = NULL;
        if (refusal.http_status) {
            http_answer_error(c, refusal.http_status, refusal.why, NULL, true);
            return;
        }
    }
    /* The request head is still in c->in; the 101 waits in c->out until the backend is ready. */
    if (handshake_append_101(&c->out, req, c->subprotocol, cfg->headers_ws) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    c->head_len = head_len;
    if (started == BACKEND_PENDING) {
        c->state = CONN_CONNECTING;
        ev_timer_stop(c->srv->loop, &c->timer); /* the backend times its own attempt */
        return;
    }
    open_session(c);
    if (started == BACKEND_REFUSED && c->state == CONN_OPEN) {
        log_error(c->id, "cannot start the command: %s", refusal.why);
        conn_ws_close(c, WS_CLOSE_INTERNAL, "cannot start the command");
    }
}

static void route(struct conn *c, const struct http_request *req, size_t head_len)
{
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
        http_answer_error(c, 400, "unusable request target", NULL, true);
        return;
    }
    char *decoded = malloc(path_len + 1);
    if (!decoded) {
        conn_abort(c, "out of memory");
        return;
    }
    long dlen = http_percent_decode(path, path_len, decoded);
    if (dlen < 0) {
        free(decoded);
        http_answer_error(c, 400, "bad percent-encoding in the path", NULL, true);
        return;
    }
    if (req->minor_version >= 1 && http_header_count(req, "Host") != 1) {
        free(decoded);
        http_answer_error(c, 400, "exactly one Host header is required", NULL, true);
        return;
    }
    if (handshake_is_upgrade(req)) {
        start_websocket(c, req, head_len);
    } else if (c->srv->static_root) {
        serve_static(c, req, decoded, (size_t)dlen, path, path_len, query, query_len);
    } else {
        http_answer_error(c, 404, NULL, NULL, !method_is(req, "HEAD"));
    }
    free(decoded);
}

static void read_request(struct conn *c)
{
    if (buf_reserve(&c->in, 4096) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    size_t room = c->in.cap - c->in.end;
    size_t limit = HTTP_MAX_HEAD - buf_len(&c->in);
    if (room > limit) room = limit;
    ssize_t n = recv(c->fd, buf_tail(&c->in), room, 0);
    if (n == 0) {
        conn_abort(c, buf_len(&c->in) ? "client closed during the request" : NULL);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        conn_abort(c, strerror(errno));
        return;
    }
    buf_commit(&c->in, (size_t)n);
    struct http_request req;
    long r = http_parse(&c->hp, (const char *)buf_head(&c->in), buf_len(&c->in), &req);
    if (r == 0) {
        if (buf_len(&c->in) >= HTTP_MAX_HEAD) http_answer_error(c, 431, NULL, NULL, true);
        return;
    }
    if (r < 0) {
        static const char *const why[] = {
            [0] = "malformed request",
            [1] = "request line too long",
            [2] = "header section too large or too many header fields",
            [3] = "only HTTP/1.x is spoken here",
        };
        int status = (int)-r;
        int k = status == 414 ? 1 : status == 431 ? 2 : status == 505 ? 3 : 0;
        http_answer_error(c, status, why[k], NULL, true);
        return;
    }
    route(c, &req, (size_t)r);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = container_of(w, struct conn, rio);
    switch (c->state) {
    case CONN_HANDSHAKE: read_request(c); break;
    case CONN_OPEN:
    case CONN_CLOSING: read_frames(c); break;
    case CONN_LINGER: read_linger(c); break;
    default: break;
    }
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_flush(container_of(w, struct conn, wio));
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = container_of(w, struct conn, timer);
    switch (c->state) {
    case CONN_HANDSHAKE:
        conn_abort(c, buf_len(&c->in) ? "incomplete request after 10 s" : "no request after 10 s");
        break;
    case CONN_HTTP: conn_abort(c, "client stopped reading the response"); break;
    case CONN_CLOSING:
        conn_abort(c, "client stopped reading before our close frame was sent");
        break;
    case CONN_LINGER:
        conn_abort(c, NULL); /* it has everything; it just did not close its side */
        break;
    default: break;
    }
}
