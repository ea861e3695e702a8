#include "autoconfig.h"

#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "proto/cidr.h"
#include "base/log.h"
#include "base/metrics.h"
#include "net/compress.h"
#include "net/context.h"
#include "net/pipepool.h"
#include "proto/proxyproto.h"
#include "net/tls.h"
#include "base/util.h"

#define READ_CHUNK        65536
#define SENDFILE_CHUNK    (1 << 20)
#define SENDFILE_PER_WAKE (4 << 20) /* fairness: other connections get a turn */

/* Socket reads land here first; only bytes a backend cannot take yet are
 * copied into the connection. One loop, one thread: one buffer. */
static uint8_t scratch[READ_CHUNK];
/* Compressed client messages are inflated here, a piece at a time. */
static uint8_t inflated[READ_CHUNK];

/* A session's transport finds its connection from the session alone. */
_Static_assert(offsetof(struct conn, s) == 0, "struct session is first in struct conn");

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void process_kept_input(struct conn *c);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_idle(struct ev_loop *loop, ev_timer *w, int revents);
static void start_transport(struct conn *c);

static void arm_timer(struct conn *c, ev_tstamp seconds)
{
    c->timer.repeat = seconds;
    ev_timer_again(c->ctx->loop, &c->timer);
}

/* Whether the state wants bytes from the client now. */
static bool wants_input(const struct conn *c)
{
    switch (c->state) {
    case CONN_PROXY_HEADER:
    case CONN_PEEK:
    case CONN_HANDSHAKE:
    case CONN_LINGER: return true;
    case CONN_TLS_HANDSHAKE: return !c->tls_hs_wants_write;
    case CONN_OPEN: return !c->have_held && buf_len(&c->out) < CONN_OUT_HARD;
    case CONN_CLOSING: return buf_len(&c->out) < CONN_OUT_HARD;
    /* Read on after the body too: a client that closes is gone (its
     * answer's program is stopped), and a pipelined request is kept. */
    case CONN_RESPONDING:
        return !c->have_held &&
               (c->body_left || !c->keep_wanted || buf_len(&c->in) < c->head_len + HTTP_MAX_HEAD);
    default: return false;
    }
}

/* Read from the client when the state wants input and nothing holds it
 * back (or when a TLS write waits for readability). */
static void update_reading(struct conn *c)
{
    bool want = wants_input(c) || c->tls_write_wants_read;
    if (want && !ev_is_active(&c->rio)) {
        ev_io_start(c->ctx->loop, &c->rio);
        /* Bytes OpenSSL holds (decrypted or read ahead) do not make the socket readable. */
        if (c->ssl && tls_has_more(c->ssl)) ev_feed_event(c->ctx->loop, &c->rio, EV_READ);
    } else if (!want && ev_is_active(&c->rio)) {
        ev_io_stop(c->ctx->loop, &c->rio);
    }
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
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(c->peer_addr, sizeof c->peer_addr, "unix:"); /* as nginx's $remote_addr */
    } else {
        snprintf(c->peer_addr, sizeof c->peer_addr, "unknown");
    }
}

void conn_new(struct context *ctx, int fd, const struct sockaddr *peer, bool redirect,
              const struct ip_addr *counted)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error(0, "out of memory: dropping a new connection");
        if (counted) ipcount_release(&ctx->per_ip, counted);
        close(fd);
        return;
    }
    c->ctx = ctx;
    c->fd = fd;
    c->s.id = ++ctx->next_conn_id;
    c->file_fd = -1;
    c->pipe[0] = c->pipe[1] = -1;
    c->redirect = redirect;
    c->started = ev_now(ctx->loop);
    if (counted) {
        c->counted_ip = *counted;
        c->ip_counted = true;
    }
    struct ip_addr ip;
    c->from_trusted_proxy = peer->sa_family == AF_UNIX
                                ? ctx->set->trust_unix
                                : ip_from_sockaddr(peer, &ip) &&
                                      cidr_match_any(ctx->set->trusted, ctx->set->ntrusted, &ip);
    format_peer(c, peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ev_init(&c->timer, on_timer);
    ev_init(&c->idle, on_idle);
    http_parser_init(&c->hp);
    list_push(ctx->conns, c);
    ctx->nconns++;
    metrics_gauge(MG_CONNECTIONS_OPEN, 1);
    arm_timer(c, ctx->set->handshake_timeout);
    log_debug(c->s.id, "connection from %s port %u", c->peer_addr, c->peer_port);
    if (c->from_trusted_proxy && ctx->set->proxy_protocol) {
        c->state = CONN_PROXY_HEADER;
        update_reading(c);
    } else {
        start_transport(c);
    }
}

bool conn_set_client(struct conn *c, const struct ip_addr *client, unsigned port)
{
    struct context *ctx = c->ctx;
    struct ip_addr ip;
    if (client) {
        snprintf(c->via, sizeof c->via, "%s", c->peer_addr);
        ip_format(client, c->peer_addr, sizeof c->peer_addr);
        if (port) c->peer_port = port;
        ip = *client;
    } else if (!ip_parse(c->peer_addr, strlen(c->peer_addr), &ip)) {
        return true; /* not an IP peer: nothing to check */
    }
    bool pre_http = c->state != CONN_HANDSHAKE;
    /* Named by a request header, the client may differ in the next request
     * (a proxy reuses its connections for anyone): see reset_request(). */
    if (client && !pre_http) c->client_from_request = true;
    if (!context_address_allowed(ctx, &ip)) {
        char what[160];
        snprintf(what, sizeof what, "%s (via %s) is not allowed (--allow/--deny)", c->peer_addr,
                 c->via[0] ? c->via : "-");
        context_log_refusal(ctx, what);
        if (pre_http)
            conn_abort(c, NULL);
        else
            conn_answer_error(c, 403, "this address is not allowed", NULL, true);
        return false;
    }
    /* A client named by a proxy counts for --maxconn-per-ip; the proxy does
     * not (nor, unless the option was given, a loopback client). */
    if (client && !c->ip_counted && (ctx->set->maxconn_per_ip_set || !ip_is_loopback(&ip))) {
        if (!ipcount_take(&ctx->per_ip, &ip, ctx->set->maxconn_per_ip)) {
            char what[160];
            snprintf(what, sizeof what, "--maxconn-per-ip=%u reached: refusing %s",
                     ctx->set->maxconn_per_ip, c->peer_addr);
            context_log_refusal(ctx, what);
            if (pre_http)
                conn_abort(c, NULL);
            else
                conn_answer_error(c, 503, "too many connections from this address",
                                  "Retry-After: 1\r\n", true);
            return false;
        }
        c->counted_ip = ip;
        c->ip_counted = true;
        c->counted_by_request = !pre_http;
    }
    return true;
}

/* Detach the backend; it lets go of the connection and ends its side. */
static void release_backend(struct conn *c)
{
    const struct session_handler *h = c->s.handler;
    const struct conn_handler *r = c->responder;
    if (!h && !r) return;
    c->s.handler = NULL;
    c->responder = NULL;
    if (h)
        h->client_closed(&c->s);
    else
        r->client_closed(c);
    c->s.backend_data = NULL;
}

struct log_fields conn_log_fields(const struct conn *c, const char *event)
{
    return (struct log_fields){
        .event = event,
        .peer = c->peer_addr,
        .port = c->peer_port,
        .via = c->via,
        .request = c->request,
        .route = c->route_name,
        .user = c->remote_user,
        .cert_cn = c->client_cn,
        .status = c->status,
        .duration = ev_now(c->ctx->loop) - c->started,
    };
}

static void log_end(struct conn *c, const char *why)
{
    const char *req = c->request ? c->request : "-";
    if (c->close_sent || c->close_received || c->s.closed_by) {
        struct log_fields f = conn_log_fields(c, "disconnect");
        session_log_disconnect(&c->s, &f, why);
    } else if (c->status) {
        if (why)
            log_info(c->s.id, "%s port %u \"%s\" %d: %s", c->peer_addr, c->peer_port, req,
                     c->status, why);
    } else if (why) {
        log_info(c->s.id, "%s port %u: %s", c->peer_addr, c->peer_port, why);
    }
}

/* --metrics-path: a session's traffic, or a connection that never got as
 * far as a request, as it ends. */
static void count_end(struct conn *c, const char *why)
{
    if (c->status == 101 &&
        (c->state == CONN_OPEN || c->state == CONN_CLOSING || c->state == CONN_LINGER)) {
        metrics_session(c->s.mode, c->s.msgs_in, c->s.bytes_in, c->s.msgs_out, c->s.bytes_out,
                        ev_now(c->ctx->loop) - c->started);
        return;
    }
    bool before_request = c->state == CONN_PROXY_HEADER || c->state == CONN_PEEK ||
                          c->state == CONN_TLS_HANDSHAKE ||
                          (c->state == CONN_HANDSHAKE && !c->between_requests);
    if (!before_request || c->ctx->stopping) return;
    if (c->timer_fired)
        metrics_count(MC_HANDSHAKE_TIMEOUT);
    else if (c->state == CONN_TLS_HANDSHAKE && why)
        metrics_count(MC_TLS_FAILED);
    else
        metrics_count(MC_HANDSHAKE_CLOSED);
}

void conn_abort(struct conn *c, const char *why)
{
    if (c->state == CONN_DEAD) return;
    struct context *ctx = c->ctx;
    if (c->state == CONN_OPEN && !c->s.closed_by) {
        c->s.closed_by = "client";
        c->s.close_code = WS_CLOSE_ABNORMAL;
    }
    count_end(c, why);
    c->state = CONN_DEAD;
    release_backend(c);
    log_end(c, why);
    ev_io_stop(ctx->loop, &c->rio);
    ev_io_stop(ctx->loop, &c->wio);
    ev_timer_stop(ctx->loop, &c->timer);
    ev_timer_stop(ctx->loop, &c->idle);
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->ip_counted) ipcount_release(&ctx->per_ip, &c->counted_ip);
    c->ip_counted = false;
    if (c->file_fd >= 0) close(c->file_fd);
    c->file_fd = -1;
    pipepool_drop(c->pipe);
    c->piped = 0;
    /* Move to the graveyard: callers up the stack may still hold c. */
    list_unlink(ctx->conns, c);
    list_push(ctx->graveyard, c);
    ctx->nconns--;
    metrics_gauge(MG_CONNECTIONS_OPEN, -1);
}

void conn_free(struct conn *c)
{
    pipepool_drop(c->pipe);
    buf_free(&c->in);
    buf_free(&c->out);
    sq_clear(&c->shared_out);
    compress_free(c->compress);
    free(c->request);
    free(c->remote_user);
    if (c->route) c->ctx->route_done(c->ctx, c->route);
    free(c);
}

const struct session_settings *conn_session_settings(const struct conn *c)
{
    return c->settings ? c->settings : c->ctx->session;
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
    if (c->ssl) SSL_shutdown(c->ssl); /* close_notify; the answer is not awaited */
    if (shutdown(c->fd, SHUT_WR) < 0) {
        conn_abort(c, NULL);
        return;
    }
    update_reading(c);
}

/* Forget what belongs to the request just answered, so that the next one
 * on this connection starts as on a new connection: its route (the table
 * of a retired configuration is let go now, not when the connection
 * closes), its user, and the client a proxy named for it. */
static void reset_request(struct conn *c)
{
    struct context *ctx = c->ctx;
    free(c->request);
    c->request = NULL;
    free(c->remote_user);
    c->remote_user = NULL;
    c->status = 0;
    if (c->route) {
        ctx->route_done(ctx, c->route);
        ctx->release_pending = true; /* the sweeper tells the server */
        c->route = NULL;
    }
    c->settings = NULL;
    c->route_name = NULL;
    c->s.subprotocol = NULL;
    c->s.target[0] = '\0';
    compress_free(c->compress);
    c->compress = NULL;
    http_parser_init(&c->hp);
    c->keep_wanted = c->http_service = c->keep_alive = c->body_unread = false;
    if (c->client_from_request) {
        if (c->counted_by_request) {
            ipcount_release(&ctx->per_ip, &c->counted_ip);
            c->ip_counted = c->counted_by_request = false;
        }
        snprintf(c->peer_addr, sizeof c->peer_addr, "%s", c->via);
        c->via[0] = '\0';
        c->client_from_request = false;
    }
}

/* A kept-alive answer is out: back to reading a request head, with
 * --keepalive-timeout for its first byte, or --handshake-timeout when bytes
 * came behind the answered head (a pipelined request). The request is
 * forgotten, and those bytes parsed, from the loop (read_request), not
 * from here: the code that answered may be up the stack, its request
 * pointing into c->in, and a long pipeline must not recurse. */
static void next_request(struct conn *c)
{
    struct context *ctx = c->ctx;
    c->state = CONN_HANDSHAKE;
    c->answered = true;
    c->between_requests = buf_len(&c->in) <= c->head_len;
    if (!c->between_requests) c->started = ev_now(ctx->loop);
    arm_timer(c, c->between_requests ? ctx->set->keepalive_timeout : ctx->set->handshake_timeout);
    ev_feed_event(ctx->loop, &c->rio, EV_READ);
    update_reading(c);
}

/* ---- transport: plain or TLS ---------------------------------------------- */

/* Read from the client: bytes, 0 at EOF, or -1 with errno (EAGAIN: later). */
static ssize_t io_recv(struct conn *c, void *buf, size_t len)
{
    if (!c->ssl) {
        for (;;) {
            ssize_t n = recv(c->fd, buf, len, 0);
            if (n >= 0 || errno != EINTR) return n;
        }
    }
    size_t n = 0;
    switch (tls_read(c->ssl, buf, len, &n)) {
    case TLS_DONE:
        if (tls_has_more(c->ssl)) ev_feed_event(c->ctx->loop, &c->rio, EV_READ);
        return (ssize_t)n;
    case TLS_WANT_READ: errno = EAGAIN; return -1;
    case TLS_WANT_WRITE:
        c->tls_read_wants_write = true;
        ev_io_start(c->ctx->loop, &c->wio);
        errno = EAGAIN;
        return -1;
    case TLS_CLOSED: return 0;
    default: errno = EPROTO; return -1;
    }
}

/* Write to the client: bytes, or -1 with errno (EAGAIN: later). more: the
 * bytes that follow come soon (MSG_MORE; plain sockets only). */
static ssize_t io_send(struct conn *c, const void *buf, size_t len, bool more)
{
    if (!c->ssl) {
        for (;;) {
            ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
            if (n >= 0 || errno != EINTR) return n;
        }
    }
    size_t n = 0;
    switch (tls_write(c->ssl, buf, len, &n)) {
    case TLS_DONE: return (ssize_t)n;
    case TLS_WANT_WRITE: errno = EAGAIN; return -1;
    case TLS_WANT_READ:
        c->tls_write_wants_read = true;
        errno = EAGAIN;
        return -1;
    default: errno = EPIPE; return -1;
    }
}

/* Move the next part of the static file towards the client: sendfile on
 * plain sockets, through the queue (and OpenSSL) otherwise. Returns -1 if c
 * died, 0 to stop for now, 1 to go on. */
static int feed_file(struct conn *c, size_t *budget)
{
    if (c->file_pos >= c->file_end) {
        close(c->file_fd);
        c->file_fd = -1;
        return 0;
    }
    off_t left = c->file_end - c->file_pos;
    size_t chunk = left > SENDFILE_CHUNK ? SENDFILE_CHUNK : (size_t)left;
    if (chunk > *budget) chunk = *budget;
    ssize_t n;
    if (!c->ssl) {
        n = sendfile(c->fd, c->file_fd, &c->file_pos, chunk);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    } else {
        if (chunk > READ_CHUNK) chunk = READ_CHUNK;
        if (buf_reserve(&c->out, chunk) < 0) {
            conn_abort(c, "out of memory");
            return -1;
        }
        n = pread(c->file_fd, buf_tail(&c->out), chunk, c->file_pos);
        if (n > 0) {
            buf_commit(&c->out, (size_t)n);
            c->file_pos += n;
        }
    }
    if (n <= 0) {
        peer_gone(c, n == 0 ? "file shrank while being sent" : strerror(errno));
        return -1;
    }
    *budget -= (size_t)n;
    return 1;
}

size_t conn_queued(const struct conn *c)
{
    return buf_len(&c->out) + c->shared_out.bytes + c->piped;
}

/* Tell the backend when the queue passes the high-water mark, and when it
 * is back under the low one. */
static void check_output(struct conn *c)
{
    const struct session_handler *h = c->s.handler;
    const struct conn_handler *r = c->responder;
    if (!h && !r) return;
    size_t q = conn_queued(c);
    if (!c->output_paused && q >= CONN_OUT_HIGH) {
        c->output_paused = true;
        if (h)
            h->pause_output(&c->s);
        else
            r->pause_output(c);
    } else if (c->output_paused && q <= CONN_OUT_LOW) {
        c->output_paused = false;
        if (h)
            h->resume_output(&c->s);
        else
            r->resume_output(c);
    }
}

void conn_want_drained(struct conn *c)
{
    c->output_paused = true; /* check_output() then calls resume_output() at the low mark */
}

long conn_queue_shared(struct conn *c, struct sq_block *b, unsigned msgs, size_t payload)
{
    if (c->state != CONN_OPEN) return (long)conn_queued(c);
    if (sq_push(&c->shared_out, b) < 0) {
        conn_abort(c, "out of memory queueing a message");
        return -1;
    }
    c->s.msgs_out += msgs;
    c->s.bytes_out += payload;
    c->last_activity = ev_now(c->ctx->loop);
    /* Sent from the write callback: the caller may be looping over clients. */
    if (!ev_is_active(&c->wio) && !c->tls_write_wants_read) ev_io_start(c->ctx->loop, &c->wio);
    check_output(c);
    return (long)conn_queued(c);
}

void conn_drop_shared(struct conn *c)
{
    sq_drop_unstarted(&c->shared_out);
}

/* Before our close frame: shared blocks become ordinary queued bytes, in
 * the order conn_flush would have sent them. */
static int flatten_shared(struct conn *c)
{
    if (sq_empty(&c->shared_out)) return 0;
    struct buf all = {0};
    size_t len;
    const uint8_t *p;
    if (sq_started(&c->shared_out)) {
        p = sq_peek(&c->shared_out, &len);
        if (buf_append(&all, p, len) < 0) goto oom;
        sq_consume(&c->shared_out, len);
    }
    if (buf_len(&c->out) && buf_append(&all, buf_head(&c->out), buf_len(&c->out)) < 0) goto oom;
    while ((p = sq_peek(&c->shared_out, &len))) {
        if (buf_append(&all, p, len) < 0) goto oom;
        sq_consume(&c->shared_out, len);
    }
    buf_free(&c->out);
    c->out = all;
    return 0;
oom:
    buf_free(&all);
    return -1;
}

/* The spliced payload, once the bytes before it are out. Returns what
 * splice() did: bytes, or -1 with errno. */
static ssize_t send_piped(struct conn *c)
{
    for (;;) {
        ssize_t n =
            splice(c->pipe[0], NULL, c->fd, NULL, c->piped, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            c->piped -= (size_t)n;
            if (!c->piped) pipepool_give(c->pipe);
        }
        return n;
    }
}

void conn_flush(struct conn *c)
{
    if (c->state == CONN_DEAD) return;
    bool progress = false;
    size_t budget = SENDFILE_PER_WAKE; /* fairness: other connections get a turn */
    for (;;) {
        while (buf_len(&c->out) || !sq_empty(&c->shared_out) || c->piped) {
            ssize_t n;
            if (c->piped && !c->out_before_pipe) {
                n = send_piped(c);
                if (n > 0) {
                    progress = true;
                    continue;
                }
            } else {
                /* Whole frames only: a started shared block first, then our own
                 * bytes (which may end in a started frame), then shared blocks. */
                bool shared = sq_started(&c->shared_out) || !buf_len(&c->out);
                size_t len;
                const uint8_t *p = shared ? sq_peek(&c->shared_out, &len) : buf_head(&c->out);
                if (!shared) len = buf_len(&c->out);
                bool before_pipe = !shared && c->piped && len >= c->out_before_pipe;
                if (before_pipe) len = c->out_before_pipe; /* the header of the piped payload */
                n = io_send(c, p, len, before_pipe);
                if (n > 0) {
                    if (shared) {
                        sq_consume(&c->shared_out, (size_t)n);
                    } else {
                        buf_consume(&c->out, (size_t)n);
                        if (c->piped) c->out_before_pipe -= (size_t)n;
                    }
                    progress = true;
                    continue;
                }
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) goto blocked;
            peer_gone(c, n < 0 ? strerror(errno) : "send returned 0");
            return;
        }
        if (c->file_fd < 0 || budget == 0) break;
        int r = feed_file(c, &budget);
        if (r < 0) return;
        progress = true;
        if (r == 0) break;
    }
blocked:
    if (progress && (c->state == CONN_HTTP || c->state == CONN_CLOSING))
        arm_timer(c, CONN_SEND_TIMEOUT);
    bool pending = conn_queued(c) || c->file_fd >= 0;
    if (c->state == CONN_RESPONDING) { /* only a client that stops reading is timed here */
        if (!pending)
            ev_timer_stop(c->ctx->loop, &c->timer);
        else if (progress || !ev_is_active(&c->timer))
            arm_timer(c, CONN_SEND_TIMEOUT);
    }
    bool want_write = (pending && !c->tls_write_wants_read) || c->tls_read_wants_write;
    if (want_write && !ev_is_active(&c->wio))
        ev_io_start(c->ctx->loop, &c->wio);
    else if (!want_write && ev_is_active(&c->wio))
        ev_io_stop(c->ctx->loop, &c->wio);

    check_output(c);
    if (!pending && c->state == CONN_HTTP && c->keep_alive) {
        if (!c->offering_body) next_request(c); /* else offer_body() comes back here */
        return;
    }
    if (!pending && (c->state == CONN_CLOSING || c->state == CONN_HTTP)) {
        start_linger(c);
        return;
    }
    update_reading(c);
}

static void count_out(struct conn *c, uint8_t b0, size_t payload)
{
    if ((b0 & 0x0F) < WS_OP_CLOSE) {
        c->s.bytes_out += payload;
        c->last_activity = ev_now(c->ctx->loop);
        if (b0 & WS_FIN) c->s.msgs_out++;
    }
}

/* A compressing session: the n payload bytes at `payload`, in the space
 * reserved at the tail of c->out (at most WS_MAX_HEADER past it), become a
 * frame there, compressed when compress_frame() says so. Returns 0, or -1
 * when the connection failed. */
static int commit_compressed(struct conn *c, uint8_t b0, uint8_t *payload, size_t n)
{
    count_out(c, b0, n);
    const uint8_t *p = payload;
    size_t len = n;
    int r = compress_frame(c->compress, &b0, payload, n, &p, &len);
    if (r < 0) {
        conn_abort(c, "compressing a message failed");
        return -1;
    }
    /* The compressed copy is elsewhere, so the queue may move. */
    if (r > 0 && buf_reserve(&c->out, WS_MAX_HEADER + len) < 0) {
        conn_abort(c, "out of memory queueing a message");
        return -1;
    }
    uint8_t hdr[WS_MAX_HEADER];
    size_t h = ws_frame_header(hdr, b0, len, NULL);
    uint8_t *at = buf_tail(&c->out);
    if (at + h != p) memmove(at + h, p, len);
    memcpy(at, hdr, h);
    buf_commit(&c->out, h + len);
    return 0;
}

uint8_t *conn_send_begin(struct conn *c, uint8_t b0, size_t len)
{
    if (c->state == CONN_DEAD) return NULL;
    if (buf_reserve(&c->out, WS_MAX_HEADER + len) < 0) {
        conn_abort(c, "out of memory queueing a message");
        return NULL;
    }
    if (c->compress) {
        /* The header is known only once the payload is compressed. */
        c->begun_b0 = b0;
        return buf_tail(&c->out) + WS_MAX_HEADER;
    }
    buf_commit(&c->out, ws_frame_header(buf_tail(&c->out), b0, len, NULL));
    count_out(c, b0, len);
    return buf_tail(&c->out);
}

void conn_send_commit(struct conn *c, size_t len)
{
    if (c->compress)
        commit_compressed(c, c->begun_b0, buf_tail(&c->out) + WS_MAX_HEADER, len);
    else
        buf_commit(&c->out, len);
}

bool conn_can_splice(const struct conn *c)
{
    return !c->ssl && !c->piped && !c->compress && c->state == CONN_OPEN;
}

ssize_t conn_splice_message(struct conn *c, int fd, size_t max)
{
    if (max > WS_PAYLOAD_64K) max = WS_PAYLOAD_64K;
    if (c->pipe[0] < 0 && pipepool_take(c->pipe) < 0) {
        errno = ENOTSUP;
        return -1;
    }
    ssize_t n;
    do n = splice(fd, NULL, c->pipe[1], NULL, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        int saved = errno;
        pipepool_give(c->pipe); /* empty: nothing was moved */
        errno = saved;
        return n;
    }
    uint8_t hdr[WS_MAX_HEADER];
    size_t h = ws_frame_header(hdr, WS_FIN | WS_OP_BINARY, (uint64_t)n, NULL);
    if (buf_append(&c->out, hdr, h) < 0) {
        conn_abort(c, "out of memory queueing a message");
        return -1;
    }
    c->piped = (size_t)n;
    c->out_before_pipe = buf_len(&c->out);
    c->s.bytes_out += (size_t)n;
    c->s.msgs_out++;
    c->last_activity = ev_now(c->ctx->loop);
    return n;
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
    if (c->compress) {
        commit_compressed(c, b0, at + FRAME_SPACE_HEADER, n);
        return;
    }
    if (n < 126) memmove(at + 2, at + FRAME_SPACE_HEADER, n); /* a short frame: close the gap */
    buf_commit(&c->out, ws_frame_header(at, b0, n, NULL) + n);
    count_out(c, b0, n);
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
    metrics_close_code(true, code);
    c->s.close_code = code;
    if (!c->s.closed_by) c->s.closed_by = "server";
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(payload, code, reason);
    /* Held client bytes are dropped: after our close nothing more reaches the backend. */
    buf_free(&c->in);
    c->have_held = false;
    if (c->compress) {
        buf_free(&c->compress->held);
        c->compress->holding = c->compress->held_done = false;
    }
    if (flatten_shared(c) < 0) {
        conn_abort(c, "out of memory closing");
        return;
    }
    if (conn_send(c, WS_FIN | WS_OP_CLOSE, payload, n) < 0) return;
    c->close_sent = true;
    c->state = CONN_CLOSING;
    ev_timer_stop(c->ctx->loop, &c->idle);
    /* Data queued before the close may take long to reach a slow client;
     * only a client that stops reading altogether is dropped. */
    arm_timer(c, CONN_SEND_TIMEOUT);
    conn_flush(c);
}

void conn_shutdown(struct conn *c)
{
    if (c->state != CONN_OPEN) return;
    if (c->s.handler && c->s.handler->shutdown && c->s.backend_data)
        c->s.handler->shutdown(&c->s);
    else
        conn_ws_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}

void conn_backend_finished(struct conn *c, uint16_t code, const char *reason)
{
    /* The backend has let go already; do not call it back. */
    c->s.handler = NULL;
    c->s.backend_data = NULL;
    conn_ws_close(c, code, reason);
}

static void on_client_close(struct conn *c, const struct ws_event *ev)
{
    c->close_received = true;
    c->s.closed_by = "client";
    metrics_close_code(false, ev->close_code);
    char reason[WS_MAX_CLOSE_REASON + 1];
    memcpy(reason, ev->data, ev->len);
    reason[ev->len] = '\0';
    /* Echo the client's code, as most servers do. */
    conn_ws_close(c, ev->close_code, reason);
}

static void protocol_error(struct conn *c, uint16_t code, const char *why)
{
    log_info(c->s.id, "protocol error from %s port %u: %s (closing with %u)", c->peer_addr,
             c->peer_port, why, code);
    conn_ws_close(c, code, why);
}

/* Parse frames from data (writable: payloads are unmasked in place) and hand
 * them on. Returns the offset from which bytes must be kept because the
 * backend could not take them (len when all were used). */
static void input_done(struct conn *c)
{
    if (c->s.handler && c->s.backend_data && c->s.handler->input_done)
        c->s.handler->input_done(&c->s);
}

/* A chunk of a client message to the backend serving the session. */
static bool hand_over(struct conn *c, const struct ws_event *ev, size_t *taken)
{
    const struct session_chunk m = {
        .type = ev->opcode, .first = ev->first, .last = ev->last, .data = ev->data, .len = ev->len};
    return c->s.handler->client_data(&c->s, &m, taken);
}

/* Inflated bytes the backend could not take before: offered first. Returns
 * true once they are all taken. */
static bool offer_held_inflated(struct conn *c, uint8_t opcode)
{
    struct compress_state *z = c->compress;
    if (!z->holding) return true;
    struct ws_event d = {.kind = WS_EV_DATA,
                         .opcode = opcode,
                         .first = z->held_first,
                         .last = z->held_last,
                         .data = buf_head(&z->held),
                         .len = buf_len(&z->held)};
    size_t taken = 0;
    if (hand_over(c, &d, &taken)) {
        buf_free(&z->held);
        z->holding = false;
        return true;
    }
    buf_consume(&z->held, taken);
    if (taken) z->held_first = false;
    return false;
}

static void inflate_failed(struct conn *c, enum compress_in_status st)
{
    switch (st) {
    case COMPRESS_IN_TOO_BIG:
        protocol_error(c, WS_CLOSE_TOO_BIG, "message larger than the maximum size once inflated");
        break;
    case COMPRESS_IN_BAD:
        protocol_error(c, WS_CLOSE_INVALID_DATA, "corrupt compressed data");
        break;
    case COMPRESS_IN_BAD_UTF8:
        protocol_error(c, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in a text message");
        break;
    default:
        log_error(c->s.id, "out of memory inflating a message");
        conn_ws_close(c, WS_CLOSE_INTERNAL, "out of memory");
        break;
    }
}

/* A chunk of a compressed message, inflated a piece at a time (so a small
 * chunk that inflates to a lot costs one piece of memory) and handed to the
 * backend. Returns true when all of it was used; otherwise *taken says how
 * much, and what was inflated but not taken waits in z->held. */
static bool offer_inflated(struct conn *c, const struct ws_event *ev, size_t *taken)
{
    struct compress_state *z = c->compress;
    *taken = 0;
    if (!offer_held_inflated(c, ev->opcode)) return false;
    if (c->state != CONN_OPEN) return true;
    if (z->held_done) { /* the held piece ended the message; ev is what was left: nothing */
        z->held_done = false;
        *taken = ev->len;
        return true;
    }
    size_t at = 0;
    for (;;) {
        size_t used, made;
        enum compress_in_status st = compress_inflate(
            z, ev->opcode == WS_OP_TEXT, ev->data + at, ev->len - at, ev->last, inflated,
            sizeof inflated, conn_session_settings(c)->maxmsgsize, &used, &made);
        at += used;
        if (st >= COMPRESS_IN_TOO_BIG) {
            inflate_failed(c, st);
            return true;
        }
        bool end = st == COMPRESS_IN_END;
        if (made || end) {
            struct ws_event d = {.kind = WS_EV_DATA,
                                 .opcode = ev->opcode,
                                 .first = !z->in_delivered,
                                 .last = end,
                                 .data = inflated,
                                 .len = made};
            z->in_delivered = !end;
            c->s.bytes_in += made;
            size_t took = 0;
            if (!hand_over(c, &d, &took)) {
                if (c->state != CONN_OPEN) return true;
                if (buf_append(&z->held, inflated + took, made - took) < 0) {
                    conn_abort(c, "out of memory holding client data");
                    return true;
                }
                z->holding = true;
                z->held_first = d.first && !took;
                z->held_last = end;
                z->held_done = end;
                *taken = at;
                return false;
            }
            if (c->state != CONN_OPEN) return true;
        }
        if (end || st == COMPRESS_IN_NEED) break;
    }
    *taken = ev->len;
    return true;
}

/* Hand a chunk of a client message to the backend, inflated when it is
 * compressed. Returns true when all of it was taken. */
static bool offer(struct conn *c, const struct ws_event *ev, size_t *taken)
{
    if (ev->compressed) return offer_inflated(c, ev, taken);
    return hand_over(c, ev, taken);
}

static size_t process_input(struct conn *c, uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len && c->state == CONN_OPEN) {
        struct ws_event ev;
        i += ws_parser_feed(&c->wp, data + i, len - i, &ev);
        switch (ev.kind) {
        case WS_EV_NONE: break;
        case WS_EV_DATA: {
            if (ev.last) c->s.msgs_in++;
            if (!ev.compressed) c->s.bytes_in += ev.len; /* else counted once inflated */
            c->last_activity = ev_now(c->ctx->loop);
            if (!c->s.handler) break;
            size_t taken = 0;
            if (offer(c, &ev, &taken) || c->state != CONN_OPEN) break;
            size_t keep_from = i - (ev.len - taken);
            c->held = ev;
            c->held.data = data + keep_from;
            c->held.len = ev.len - taken;
            if (taken) c->held.first = false;
            c->have_held = true;
            input_done(c);
            return keep_from;
        }
        case WS_EV_PING: conn_send(c, WS_FIN | WS_OP_PONG, ev.data, ev.len); break;
        case WS_EV_PONG: c->awaiting_pong = false; break;
        case WS_EV_CLOSE: on_client_close(c, &ev); break;
        case WS_EV_ERROR: protocol_error(c, ev.close_code, ev.error); break;
        }
    }
    input_done(c);
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

static void offer_body(struct conn *c, uint8_t *data, size_t len, bool kept);

void conn_resume_input(struct conn *c)
{
    if (!c->have_held) return;
    if (c->state == CONN_RESPONDING) {
        c->have_held = false;
        offer_body(c, buf_head(&c->in), buf_len(&c->in), true);
        if (c->state == CONN_RESPONDING) update_reading(c);
        return;
    }
    if (c->state == CONN_OPEN && c->s.handler) {
        struct ws_event ev = c->held;
        ev.data = buf_head(&c->in);
        size_t taken = 0;
        bool all = offer(c, &ev, &taken);
        if (c->state == CONN_DEAD) return;
        input_done(c);
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
    ssize_t n = io_recv(c, scratch, sizeof scratch);
    if (n == 0) {
        peer_gone(c, c->state == CONN_OPEN ? "connection closed without a close frame" : NULL);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        peer_gone(c, strerror(errno));
        return;
    }
    c->awaiting_pong = false;          /* any bytes show the peer is alive */
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

void conn_http_service(struct conn *c)
{
    c->http_service = true;
}

static bool answer_keeps(const struct conn *c, int status)
{
    return c->http_service && c->keep_wanted && !c->body_unread && !c->ctx->stopping &&
           c->ctx->set->keepalive_timeout > 0 && http_status_keeps_connection(status);
}

const char *conn_connection_header(struct conn *c, int status)
{
    c->keep_alive = answer_keeps(c, status);
    return c->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
}

bool conn_queue_answer(struct conn *c, int status, const char *headers, const void *body,
                       size_t len, bool with_body)
{
    char length[48];
    int n = snprintf(length, sizeof length, "Content-Length: %zu\r\n", len);
    const char *extra = conn_session_settings(c)->headers_http;
    const char *connection = conn_connection_header(c, status);
    if (http_append_status(&c->out, status) < 0 || buf_append(&c->out, length, (size_t)n) < 0 ||
        buf_append(&c->out, headers, strlen(headers)) < 0 ||
        (extra && buf_append(&c->out, extra, strlen(extra)) < 0) ||
        buf_append(&c->out, connection, strlen(connection)) < 0 ||
        buf_append(&c->out, "\r\n", 2) < 0 || (with_body && buf_append(&c->out, body, len) < 0)) {
        conn_abort(c, "out of memory");
        return false;
    }
    return true;
}

void conn_send_answer(struct conn *c, int status)
{
    metrics_http_status(status);
    c->status = status;
    c->state = CONN_HTTP;
    arm_timer(c, CONN_SEND_TIMEOUT);
    conn_flush(c);
}

/* The body bytes of the answer queued in out after its first `before`
 * bytes: what follows the blank line that ends its head. */
static long long body_bytes(const struct buf *out, size_t before)
{
    const char *answer = (const char *)buf_head(out) + before;
    size_t len = buf_len(out) - before;
    const char *end = memmem(answer, len, "\r\n\r\n", 4);
    return end ? (long long)(len - (size_t)(end + 4 - answer)) : 0;
}

void conn_answer_error(struct conn *c, int status, const char *why, const char *extra,
                       bool with_body)
{
    c->keep_alive = answer_keeps(c, status);
    size_t before = buf_len(&c->out);
    if (http_append_error_keep(&c->out, status, why, extra, conn_session_settings(c)->headers_http,
                               with_body, c->keep_alive) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    struct log_fields f = conn_log_fields(c, "http");
    f.status = status;
    f.reason = why;
    f.bytes = body_bytes(&c->out, before);
    f.has = LOGF_BYTES | LOGF_DURATION;
    log_access_with(c->s.id, &f, "%s port %u \"%s\"%s%s %d%s%s", c->peer_addr, c->peer_port,
                    c->request ? c->request : "-", ROUTE_NOTE(c), status, why ? " " : "",
                    why ? why : "");
    conn_send_answer(c, status);
}

/* After `taken` of the len bytes at data were handed on, `body` of them
 * being the request's: c->in keeps the body bytes not taken and, when the
 * connection may be kept, those after the body (the next request). With
 * `kept`, data is c->in itself. Returns false when out of memory. */
static bool keep_rest(struct conn *c, uint8_t *data, size_t len, size_t body, size_t taken,
                      bool kept)
{
    size_t keep = c->keep_wanted ? len - taken : body - taken;
    if (!kept) return buf_append(&c->in, data + taken, keep) == 0;
    buf_consume(&c->in, taken);
    if (keep)
        buf_truncate(&c->in, keep);
    else
        buf_free(&c->in);
    return true;
}

/* Hand request body bytes to the backend: data (len bytes) was just read,
 * or (kept) is all that c->in holds. What it cannot take yet stays in c->in,
 * and so do the bytes past the body of a connection that may be kept. */
static void offer_body(struct conn *c, uint8_t *data, size_t len, bool kept)
{
    size_t n = len < c->body_left ? len : (size_t)c->body_left;
    size_t taken = 0;
    bool all = true;
    if (n) {
        struct ws_event ev = {.kind = WS_EV_DATA,
                              .first = !c->body_started,
                              .last = n == c->body_left,
                              .data = data,
                              .len = n};
        c->body_started = true;
        c->body_unread = !ev.last; /* an answer made on the last bytes may keep the connection */
        c->offering_body = true;
        all = c->responder->client_data(c, &ev, &taken);
        c->offering_body = false;
        /* Answered (kept only on the body's last bytes), or dead. */
        if (c->state != CONN_RESPONDING) {
            if (c->state == CONN_HTTP && c->keep_alive) {
                if (!keep_rest(c, data, len, n, n, kept)) {
                    conn_abort(c, "out of memory");
                    return;
                }
                conn_flush(c); /* now the next request may be read */
            }
            return;
        }
        if (all) taken = n;
        c->body_left -= taken;
        c->s.bytes_in += taken;
        c->body_unread = c->body_left > 0;
    }
    if (!keep_rest(c, data, len, n, taken, kept)) {
        conn_abort(c, "out of memory holding the request body");
        return;
    }
    if (all) return;
    c->held.len = n - taken;
    c->have_held = true;
}

void conn_start_response(struct conn *c, const struct conn_handler *handler, void *data,
                         uint64_t body_len)
{
    c->responder = handler;
    c->s.backend_data = data;
    c->state = CONN_RESPONDING;
    c->body_left = body_len;
    c->body_started = false;
    ev_timer_stop(c->ctx->loop, &c->timer);
    if (body_len) {
        buf_consume(&c->in, c->head_len);
        c->head_len = 0;
        offer_body(c, buf_head(&c->in), buf_len(&c->in), true);
        if (c->state != CONN_RESPONDING) return;
    }
    conn_flush(c);
}

void conn_response_done(struct conn *c, int status)
{
    if (c->state != CONN_RESPONDING) return;
    c->responder = NULL; /* it has let go */
    c->s.backend_data = NULL;
    if (c->body_unread) { /* the rest of the body is not read: no next request can be found */
        c->keep_alive = false;
        c->have_held = false;
        buf_free(&c->in);
    }
    conn_send_answer(c, status);
}

void conn_response_error(struct conn *c, int status, const char *why)
{
    if (c->state != CONN_RESPONDING) return;
    c->responder = NULL; /* it has let go */
    c->s.backend_data = NULL;
    c->have_held = false;
    c->http_service = false; /* closes: the body may be unread */
    conn_answer_error(c, status, why, status == 503 ? "Retry-After: 1\r\n" : NULL, true);
}

void conn_response_cut(struct conn *c, const char *why)
{
    if (c->state != CONN_RESPONDING) return;
    c->responder = NULL; /* it has let go */
    c->s.backend_data = NULL;
    c->keep_alive = false;
    c->http_service = false;
    c->have_held = false;
    buf_free(&c->in);
    log_info(c->s.id, "%s port %u \"%s\" %d: %s", c->peer_addr, c->peer_port,
             c->request ? c->request : "-", c->status, why);
    conn_send_answer(c, c->status); /* what is queued, then the linger drains the body */
}

/* RESPONDING: the body, then (see wants_input) the next request or EOF. */
static void read_responding(struct conn *c)
{
    ssize_t n = io_recv(c, scratch, sizeof scratch);
    if (n == 0) {
        conn_abort(c, "client closed before the answer was complete");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_abort(c, strerror(errno));
        return;
    }
    if (c->body_left) {
        offer_body(c, scratch, (size_t)n, false);
        if (c->state != CONN_RESPONDING) return;
    } else if (c->keep_wanted && buf_append(&c->in, scratch, (size_t)n) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    update_reading(c);
}

void conn_open_session(struct conn *c)
{
    const struct session_settings *set = conn_session_settings(c);
    c->status = 101;
    metrics_http_status(101);
    c->state = CONN_OPEN;
    ev_timer_stop(c->ctx->loop, &c->timer);
    ws_parser_init(&c->wp, true, set->maxmsgsize);
    if (c->compress) c->wp.rsv_allowed = WS_RSV1;
    c->last_activity = ev_now(c->ctx->loop);
    if (set->pingms) arm_timer(c, set->pingms / 1000.0);
    if (set->idle_timeout > 0) {
        ev_timer_set(&c->idle, set->idle_timeout, 0.);
        ev_timer_start(c->ctx->loop, &c->idle);
    }
    struct log_fields f = conn_log_fields(c, "connect");
    session_log_connect(&c->s, &f);
    /* Frames the client sent right behind its request (allowed by no RFC,
     * but harmless) are processed now rather than dropped. */
    buf_consume(&c->in, c->head_len);
    c->head_len = 0;
    process_kept_input(c);
}

void conn_wait_for_backend(struct conn *c)
{
    c->state = CONN_CONNECTING;
    ev_timer_stop(c->ctx->loop, &c->timer); /* the backend times its own attempt */
    update_reading(c);
}

void conn_backend_ready(struct conn *c)
{
    if (c->state == CONN_CONNECTING) conn_open_session(c);
}

bool conn_pending_request(const struct conn *c, struct http_request *req)
{
    if (c->state != CONN_CONNECTING || !c->head_len) return false;
    struct http_parser p;
    http_parser_init(&p);
    return http_parse(&p, (const char *)buf_head(&c->in), c->head_len, req) == (long)c->head_len;
}

void conn_backend_refused(struct conn *c, int http_status, const char *why)
{
    if (c->state != CONN_CONNECTING) return;
    c->s.handler = NULL; /* it has let go */
    c->s.backend_data = NULL;
    buf_free(&c->out); /* the queued 101 */
    conn_answer_error(c, http_status, why, NULL, true);
}

/* ---- before HTTP: PROXY header, TLS or not, the TLS handshake ---------------- */

static void start_transport(struct conn *c)
{
    const struct conn_settings *set = c->ctx->set;
    if (c->redirect || set->ssl == SSL_OFF)
        c->state = CONN_HANDSHAKE;
    else if (set->ssl == SSL_AUTO)
        c->state = CONN_PEEK;
    else
        c->state = CONN_TLS_HANDSHAKE;
    if (c->state == CONN_TLS_HANDSHAKE) {
        char err[256];
        c->ssl = tls_server_session(c->ctx->tls, c->fd, err, sizeof err);
        if (!c->ssl) {
            conn_abort(c, err);
            return;
        }
    }
    update_reading(c);
}

/* The PROXY header is peeked at and then taken exactly, so that whatever
 * follows (a TLS ClientHello) stays in the socket for OpenSSL. */
static void read_proxy_header(struct conn *c)
{
    uint8_t buf[PROXYPROTO_MAX];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_abort(c, n == 0 ? "closed before the PROXY header" : strerror(errno));
        return;
    }
    if (n < 0) return;
    struct proxyproto_info info;
    long len = proxyproto_parse(buf, (size_t)n, &info);
    if (len < 0) {
        conn_abort(c, "invalid PROXY protocol header from a trusted proxy");
        return;
    }
    if (len == 0) {
        /* Not all here yet: wake up only when more has arrived. */
        int lowat = (int)n + 1;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
        return;
    }
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    if (recv(c->fd, buf, (size_t)len, 0) != len) {
        conn_abort(c, "cannot take the PROXY header");
        return;
    }
    if (info.has_address && !conn_set_client(c, &info.src, info.src_port)) return;
    start_transport(c);
}

/* --ssl=auto: a TLS ClientHello starts with a handshake record (0x16). */
static void peek_protocol(struct conn *c)
{
    uint8_t first;
    ssize_t n = recv(c->fd, &first, 1, MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_abort(c, NULL);
        return;
    }
    if (n < 0) return;
    if (first == 0x16) {
        char err[256];
        c->ssl = tls_server_session(c->ctx->tls, c->fd, err, sizeof err);
        if (!c->ssl) {
            conn_abort(c, err);
            return;
        }
        c->state = CONN_TLS_HANDSHAKE;
    } else {
        c->state = CONN_HANDSHAKE;
    }
    update_reading(c);
    ev_feed_event(c->ctx->loop, &c->rio, EV_READ); /* the bytes are there already */
}

static void continue_tls_handshake(struct conn *c)
{
    char detail[256];
    switch (tls_handshake(c->ssl)) {
    case TLS_DONE:
        c->client_verified = tls_peer_cn(c->ssl, c->client_cn, sizeof c->client_cn);
        if (log_min_level <= LOGL_DEBUG) {
            tls_describe(c->ssl, detail, sizeof detail);
            log_debug(c->s.id, "TLS %s%s%s", detail, c->client_cn[0] ? ", client " : "",
                      c->client_cn);
        }
        c->state = CONN_HANDSHAKE;
        c->tls_hs_wants_write = false;
        ev_io_stop(c->ctx->loop, &c->wio);
        update_reading(c);
        ev_feed_event(c->ctx->loop, &c->rio, EV_READ); /* the request may be decrypted already */
        return;
    case TLS_WANT_READ:
        c->tls_hs_wants_write = false;
        ev_io_stop(c->ctx->loop, &c->wio);
        update_reading(c);
        return;
    case TLS_WANT_WRITE:
        c->tls_hs_wants_write = true;
        ev_io_start(c->ctx->loop, &c->wio);
        update_reading(c);
        return;
    default: {
        char why[320];
        snprintf(why, sizeof why, "TLS handshake failed: %s",
                 tls_error_string(c->ssl, detail, sizeof detail));
        conn_abort(c, why);
        return;
    }
    }
}

/* Read more of the request head into c->in. Returns false when there is
 * nothing new (or c died). */
static bool receive_head(struct conn *c)
{
    if (buf_reserve(&c->in, 4096) < 0) {
        conn_abort(c, "out of memory");
        return false;
    }
    size_t room = c->in.cap - c->in.end;
    size_t limit = HTTP_MAX_HEAD - buf_len(&c->in);
    if (room > limit) room = limit;
    ssize_t n = io_recv(c, buf_tail(&c->in), room);
    if (n == 0) {
        conn_abort(c, buf_len(&c->in) ? "client closed during the request" : NULL);
        return false;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (!buf_len(&c->in)) buf_free(&c->in); /* an idle connection holds no buffer */
            return false;
        }
        conn_abort(c, strerror(errno));
        return false;
    }
    buf_commit(&c->in, (size_t)n);
    if (c->between_requests) { /* a new request begins: --handshake-timeout applies */
        c->between_requests = false;
        c->started = ev_now(c->ctx->loop);
        arm_timer(c, c->ctx->set->handshake_timeout);
    }
    return true;
}

static void read_request(struct conn *c)
{
    if (c->answered) { /* see next_request() */
        c->answered = false;
        buf_consume(&c->in, c->head_len);
        c->head_len = 0;
        reset_request(c);
        if (!buf_len(&c->in) && !receive_head(c)) return; /* else parse what was pipelined */
    } else if (!receive_head(c)) {
        return;
    }
    struct http_request req;
    long r = http_parse(&c->hp, (const char *)buf_head(&c->in), buf_len(&c->in), &req);
    if (r == 0) {
        if (buf_len(&c->in) >= HTTP_MAX_HEAD) conn_answer_error(c, 431, NULL, NULL, true);
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
        conn_answer_error(c, status, why[k], NULL, true);
        return;
    }
    c->head_len = (size_t)r;
    c->keep_wanted = !c->redirect && http_wants_keep_alive(&req) &&
                     !http_header_find(&req, "Transfer-Encoding") &&
                     !http_header_find(&req, "Upgrade");
    c->body_unread = http_has_body(&req);
    c->ctx->route(c->ctx->route_arg, c, &req, (size_t)r);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = container_of(w, struct conn, rio);
    if (c->tls_write_wants_read) { /* a TLS write was waiting for this */
        c->tls_write_wants_read = false;
        conn_flush(c);
        if (c->state == CONN_DEAD) return;
    }
    if (!wants_input(c)) {
        update_reading(c);
        return;
    }
    switch (c->state) {
    case CONN_PROXY_HEADER: read_proxy_header(c); break;
    case CONN_PEEK: peek_protocol(c); break;
    case CONN_TLS_HANDSHAKE: continue_tls_handshake(c); break;
    case CONN_HANDSHAKE: read_request(c); break;
    case CONN_OPEN:
    case CONN_CLOSING: read_frames(c); break;
    case CONN_LINGER: read_linger(c); break;
    case CONN_RESPONDING: read_responding(c); break;
    default: break;
    }
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = container_of(w, struct conn, wio);
    if (c->state == CONN_TLS_HANDSHAKE) {
        continue_tls_handshake(c);
        return;
    }
    if (c->tls_read_wants_write) { /* a TLS read was waiting for this */
        c->tls_read_wants_write = false;
        on_read(loop, &c->rio, EV_READ);
        if (c->state == CONN_DEAD) return;
    }
    conn_flush(c);
}

/* Bytes from the client that we have not read: it has spoken, whether the
 * read is held back (the backend is full) or only comes later in this loop
 * pass (a busy loop runs timers first). */
static bool input_waiting(const struct conn *c)
{
    int n = 0;
    if (c->ssl && tls_has_more(c->ssl)) return true;
    return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

/* In OPEN the timer paces pings: a client that has sent nothing since the
 * last ping (not even its pong) is gone. One whose bytes wait unread is
 * not: its pong may be among them, so it gets another period. */
static void ping_or_give_up(struct conn *c)
{
    if (c->awaiting_pong && input_waiting(c)) {
        arm_timer(c, conn_session_settings(c)->pingms / 1000.0);
        return;
    }
    if (c->awaiting_pong) {
        log_info(c->s.id, "%s port %u: no pong within %u ms", c->peer_addr, c->peer_port,
                 conn_session_settings(c)->pingms);
        conn_ws_close(c, WS_CLOSE_INTERNAL, "ping timeout");
        return;
    }
    c->awaiting_pong = true;
    conn_send(c, WS_FIN | WS_OP_PING, NULL, 0);
    arm_timer(c, conn_session_settings(c)->pingms / 1000.0);
    conn_flush(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = container_of(w, struct conn, timer);
    if (c->state == CONN_HANDSHAKE && c->between_requests) {
        conn_abort(c, NULL); /* kept alive and idle for --keepalive-timeout: close quietly */
        return;
    }
    switch (c->state) {
    case CONN_PROXY_HEADER:
    case CONN_PEEK:
    case CONN_TLS_HANDSHAKE:
    case CONN_HANDSHAKE:
        c->timer_fired = true;
        conn_abort(c, buf_len(&c->in) || c->state != CONN_HANDSHAKE ? "handshake too slow"
                                                                    : "no request in time");
        break;
    case CONN_OPEN: ping_or_give_up(c); break;
    case CONN_HTTP:
    case CONN_RESPONDING: conn_abort(c, "client stopped reading the response"); break;
    case CONN_CLOSING:
        conn_abort(c, "client stopped reading before our close frame was sent");
        break;
    case CONN_LINGER:
        conn_abort(c, NULL); /* it has everything; it just did not close its side */
        break;
    default: break;
    }
}

/* --idle-timeout: no message either way for that long. Bytes waiting to
 * be read count as a message: held back, or about to be read (see
 * input_waiting). */
static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct conn *c = container_of(w, struct conn, idle);
    if (c->state != CONN_OPEN) return;
    if (input_waiting(c)) c->last_activity = ev_now(loop);
    ev_tstamp left = c->last_activity + conn_session_settings(c)->idle_timeout - ev_now(loop);
    if (left > 0.001) {
        ev_timer_set(&c->idle, left, 0.);
        ev_timer_start(loop, &c->idle);
        return;
    }
    conn_ws_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
}
