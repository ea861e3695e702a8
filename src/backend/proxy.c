/* The proxy backend: every WebSocket gets its own connection to a TCP or
 * unix socket (optionally TLS), made before the 101 is sent; bytes flow both
 * ways as binary messages (or base64 in text messages for old noVNC). */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "proto/base64.h"
#include "base/buf.h"
#include "net/session.h"
#include "net/context.h"
#include "proto/http.h"
#include "base/log.h"
#include "base/metrics.h"
#include "backend/target.h"
#include "net/tls.h"
#include "backend/tokens.h"
#include "base/util.h"
#include "proto/ws.h"

#define READ_MAX          SESSION_READ_MAX /* one binary message per backend read of at most this */
#define BASE64_READ_MAX   49149            /* encodes to at most 65532 characters */
#define DRAIN_TIMEOUT     5.0 /* seconds a backend gets to close after the client went */
#define TOKEN_CHECK_EVERY 1.0 /* seconds between looks at the token file */
#define TLS_READS_PER_WAKE                                                                         \
    16                         /* data inside OpenSSL does not wake the fd: read on, within reason \
                                */
#define WRITE_BATCH      65536 /* client bytes gathered for the backend before the client waits */
#define DIRECT_WRITE_MIN 16384 /* a chunk this big is written without copying */

struct proxy_state {
    struct target connect; /* --connect, resolved */
    bool have_connect;
    struct token_table tokens;
    uint64_t tokens_fingerprint;
    ev_tstamp tokens_checked;
    SSL_CTX *tls;
    struct peer *peers;
};

enum peer_state {
    PEER_CONNECTING,
    PEER_TLS_HANDSHAKE,
    PEER_OPEN,
    PEER_DRAINING, /* the client has gone: our side is shut, read until EOF */
};

struct peer {
    struct backend *b;
    struct peer *prev, *next;
    struct session *session; /* NULL once the client has gone */
    uint64_t id;
    enum peer_state state;
    int fd;
    ev_io rio, wio;
    ev_timer timer;
    SSL *ssl;
    struct target *target; /* a copy, while connecting */
    size_t next_addr;
    ev_tstamp connect_started;
    int last_errno;
    bool base64;
    bool output_paused;    /* the queue to the client is full: not reading the backend */
    bool input_blocked;    /* the connection holds client data until we can write */
    bool write_wants_read; /* TLS: a blocked write waits for readability */
    bool read_wants_write; /* TLS: a read waits for writability */
    struct base64_decoder b64;
    struct buf pending;               /* client bytes (decoded) not yet written */
    struct backend_refusal *starting; /* set while inside proxy_start() */
    int busy;                         /* callbacks on the stack: freeing waits for them */
    bool free_pending;
};

static uint8_t scratch[BASE64_READ_MAX];

static struct proxy_state *state_of(const struct backend *b)
{
    return b->state;
}

/* ---- lifetime -------------------------------------------------------------- */

static void peer_free(struct peer *p)
{
    struct backend *b = p->b;
    struct context *ctx = b->ctx;
    ev_io_stop(ctx->loop, &p->rio);
    ev_io_stop(ctx->loop, &p->wio);
    ev_timer_stop(ctx->loop, &p->timer);
    SSL_free(p->ssl);
    if (p->fd >= 0) close(p->fd);
    free(p->target);
    buf_free(&p->pending);
    list_unlink(state_of(b)->peers, p);
    free(p);
    backend_release(b);
}

static void release(struct peer *p)
{
    if (p->busy)
        p->free_pending = true;
    else
        peer_free(p);
}

static void enter(struct peer *p)
{
    p->busy++;
}

static void leave(struct peer *p)
{
    if (--p->busy == 0 && p->free_pending) peer_free(p);
}

/* Let go of the connection; it must not be called by us again. */
static struct session *detach(struct peer *p)
{
    struct session *s = p->session;
    p->session = NULL;
    if (s) s->backend_data = NULL;
    return s;
}

/* The backend side ended or failed during the session: close the WebSocket
 * with this code once what is queued for the client has gone out. */
static void end_session(struct peer *p, uint16_t code, const char *why)
{
    struct session *s = detach(p);
    if (s) session_finish(s, code, why);
    release(p);
}

/* Connecting failed: the client gets an HTTP error instead of a 101. */
static void refuse(struct peer *p, int status, const char *why)
{
    if (p->starting) { /* still inside proxy_start(): it returns the refusal */
        p->starting->http_status = status;
        snprintf(p->starting->why, sizeof p->starting->why, "%s", why);
        detach(p);
    } else {
        struct session *s = detach(p);
        if (s) session_refused(s, status, why);
    }
    release(p);
}

/* ---- connecting ------------------------------------------------------------- */

static void open_session(struct peer *p)
{
    ev_timer_stop(p->b->ctx->loop, &p->timer);
    ev_io_stop(p->b->ctx->loop, &p->wio);
    free(p->target);
    p->target = NULL;
    p->state = PEER_OPEN;
    metrics_observe(MH_PROXY_CONNECT, ev_time() - p->connect_started);
    ev_io_start(p->b->ctx->loop, &p->rio);
    /* A greeting may have been read ahead with the end of the handshake. */
    if (p->ssl && tls_has_more(p->ssl)) ev_feed_event(p->b->ctx->loop, &p->rio, EV_READ);
    if (p->session && !p->starting) session_ready(p->session);
}

static void continue_handshake(struct peer *p)
{
    struct ev_loop *loop = p->b->ctx->loop;
    switch (tls_handshake(p->ssl)) {
    case TLS_DONE:
        ev_io_stop(loop, &p->rio);
        open_session(p);
        return;
    case TLS_WANT_READ:
        ev_io_stop(loop, &p->wio);
        ev_io_start(loop, &p->rio);
        return;
    case TLS_WANT_WRITE:
        ev_io_stop(loop, &p->rio);
        ev_io_start(loop, &p->wio);
        return;
    default: {
        char why[512], detail[256];
        snprintf(why, sizeof why, "TLS with %.200s failed: %s", p->target->name,
                 tls_error_string(p->ssl, detail, sizeof detail));
        metrics_count(MC_PROXY_CONNECT_FAILED);
        refuse(p, 502, why);
        return;
    }
    }
}

static void connected(struct peer *p)
{
    if (!p->ssl && state_of(p->b)->tls) {
        char err[256];
        p->ssl = tls_client_session(state_of(p->b)->tls, p->fd,
                                    p->target->is_unix ? NULL : p->target->host, err, sizeof err);
        if (!p->ssl) {
            refuse(p, 502, err);
            return;
        }
        p->state = PEER_TLS_HANDSHAKE;
        continue_handshake(p);
        return;
    }
    open_session(p);
}

/* Try the target's addresses in turn until one accepts or all have failed. */
static void try_connect(struct peer *p)
{
    struct ev_loop *loop = p->b->ctx->loop;
    while (p->next_addr < p->target->naddrs) {
        size_t i = p->next_addr++;
        const struct sockaddr *sa = (const struct sockaddr *)&p->target->addrs[i];
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            p->last_errno = errno;
            continue;
        }
        if (sa->sa_family != AF_UNIX) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        p->fd = fd;
        ev_io_set(&p->rio, fd, EV_READ);
        ev_io_set(&p->wio, fd, EV_WRITE);
        if (connect(fd, sa, p->target->addr_lens[i]) == 0) {
            connected(p);
            return;
        }
        if (errno == EINPROGRESS) {
            ev_io_start(loop, &p->wio);
            return;
        }
        /* A unix socket with a full backlog says EAGAIN: that address is busy. */
        p->last_errno = errno;
        close(fd);
        p->fd = -1;
    }
    char why[400];
    snprintf(why, sizeof why, "cannot connect to %s: %s", p->target->name,
             strerror(p->last_errno ? p->last_errno : ECONNREFUSED));
    metrics_count(MC_PROXY_CONNECT_FAILED);
    refuse(p, 502, why);
}

static void on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct peer *p = container_of(w, struct peer, timer);
    enter(p);
    if (p->state == PEER_DRAINING) {
        release(p);
    } else {
        char why[400];
        snprintf(why, sizeof why, "no connection to %s within %g s%s", p->target->name,
                 p->b->set->connect_timeout, p->state == PEER_TLS_HANDSHAKE ? " (TLS)" : "");
        metrics_count(MC_PROXY_CONNECT_FAILED);
        refuse(p, 502, why);
    }
    leave(p);
}

/* ---- moving bytes -------------------------------------------------------------- */

enum write_result { WRITE_OK, WRITE_BLOCKED, WRITE_GONE };

static enum write_result backend_write(struct peer *p, const void *buf, size_t len, size_t *n)
{
    *n = 0;
    if (p->ssl) {
        switch (tls_write(p->ssl, buf, len, n)) {
        case TLS_DONE: return WRITE_OK;
        case TLS_WANT_WRITE: ev_io_start(p->b->ctx->loop, &p->wio); return WRITE_BLOCKED;
        case TLS_WANT_READ:
            p->write_wants_read = true;
            ev_io_start(p->b->ctx->loop, &p->rio);
            return WRITE_BLOCKED;
        default: return WRITE_GONE;
        }
    }
    for (;;) {
        ssize_t w = send(p->fd, buf, len, MSG_NOSIGNAL);
        if (w >= 0) {
            *n = (size_t)w;
            return WRITE_OK;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            ev_io_start(p->b->ctx->loop, &p->wio);
            return WRITE_BLOCKED;
        }
        p->last_errno = errno;
        return WRITE_GONE;
    }
}

/* Write everything in buf; returns the result that stopped it. */
static enum write_result write_all(struct peer *p, const uint8_t *buf, size_t len, size_t *done)
{
    *done = 0;
    while (*done < len) {
        size_t n;
        enum write_result r = backend_write(p, buf + *done, len - *done, &n);
        if (r != WRITE_OK) return r;
        *done += n;
    }
    return WRITE_OK;
}

/* Client bytes waiting for the backend; true once all of them are written. */
static bool flush_pending(struct peer *p, bool *gone)
{
    size_t done = 0;
    enum write_result r = write_all(p, buf_head(&p->pending), buf_len(&p->pending), &done);
    buf_consume(&p->pending, done);
    *gone = r == WRITE_GONE;
    return buf_len(&p->pending) == 0;
}

static void backend_gone_while_writing(struct peer *p)
{
    char why[200];
    snprintf(why, sizeof why, "backend closed the connection (%s)",
             p->last_errno ? strerror(p->last_errno) : "TLS error");
    end_session(p, WS_CLOSE_INTERNAL, why);
}

/* Client messages are gathered while one read from the client is parsed and
 * written to the backend together (proxy_input_done): many small messages
 * cost one send, not one each. A big chunk goes straight to the socket
 * without a copy. Past WRITE_BATCH pending bytes the client is not read. */
static bool proxy_client_data(struct session *s, const struct session_chunk *m, size_t *taken)
{
    struct peer *p = s->backend_data;
    *taken = m->len;
    if (p->base64) {
        if (m->type != SESSION_TEXT) {
            end_session(p, WS_CLOSE_UNSUPPORTED, "the base64 subprotocol carries text messages");
            return true;
        }
    } else if (m->type == SESSION_TEXT && p->b->set->binary_only) {
        end_session(p, WS_CLOSE_UNSUPPORTED, "text messages are not accepted");
        return true;
    }
    size_t incoming = p->base64 ? 3 * (m->len + 3) / 4 : m->len;
    bool gone = false;
    if (buf_len(&p->pending) && buf_len(&p->pending) + incoming > WRITE_BATCH &&
        !flush_pending(p, &gone)) {
        if (gone) {
            backend_gone_while_writing(p);
            return true;
        }
        *taken = 0;
        p->input_blocked = true; /* resumed from on_writable */
        return false;
    }
    if (p->base64) {
        if (m->first) base64_decoder_init(&p->b64);
        long n = -1;
        if (buf_reserve(&p->pending, incoming) == 0)
            n = base64_decode(&p->b64, (const char *)m->data, m->len, buf_tail(&p->pending));
        if (n < 0 || (m->last && !base64_decode_finish(&p->b64))) {
            end_session(p, WS_CLOSE_INVALID_DATA, "invalid base64");
            return true;
        }
        buf_commit(&p->pending, (size_t)n);
        return true;
    }
    if (!buf_len(&p->pending) && m->len >= DIRECT_WRITE_MIN) {
        size_t done = 0;
        enum write_result r = write_all(p, m->data, m->len, &done);
        if (r == WRITE_GONE) {
            backend_gone_while_writing(p);
            return true;
        }
        *taken = done;
        if (done < m->len) {
            p->input_blocked = true;
            return false;
        }
        return true;
    }
    if (buf_append(&p->pending, m->data, m->len) < 0)
        end_session(p, WS_CLOSE_INTERNAL, "out of memory");
    return true;
}

static void proxy_input_done(struct session *s)
{
    struct peer *p = s->backend_data;
    if (!p || p->state != PEER_OPEN || !buf_len(&p->pending)) return;
    bool gone = false;
    flush_pending(p, &gone); /* what is left goes from on_writable */
    if (gone) backend_gone_while_writing(p);
}

/* Reading the backend failed (errno in last_errno): end the session.
 * Returns false: p was released. */
static bool read_failed(struct peer *p)
{
    char why[300], detail[256];
    if (p->ssl)
        tls_error_string(p->ssl, detail, sizeof detail);
    else
        snprintf(detail, sizeof detail, "%s", strerror(p->last_errno));
    snprintf(why, sizeof why, "backend %s: %s",
             p->last_errno == ECONNRESET ? "reset the connection" : "read failed", detail);
    end_session(p, WS_CLOSE_INTERNAL, p->last_errno == ECONNRESET ? "backend reset" : why);
    if (p->last_errno != ECONNRESET) log_info(p->id, "%s", why);
    return false;
}

/* Backend bytes become one message per read. Returns false if p was released. */
static bool read_backend(struct peer *p)
{
    for (int round = 0; round < TLS_READS_PER_WAKE; round++) {
        struct session *s = p->session;
        if (!s || p->output_paused) return true;
        if (!p->ssl && !p->base64 && session_can_splice(s)) {
            /* Straight from socket to socket: the bytes are not copied to us. */
            ssize_t r = session_splice(s, p->fd, READ_MAX);
            if (r > 0) {
                session_flush(s);
                return true;
            }
            if (r == 0) {
                end_session(p, WS_CLOSE_NORMAL, "backend closed");
                return false;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            if (!p->session) return true; /* the session failed and released us */
            if (errno != ENOTSUP) {
                p->last_errno = errno;
                return read_failed(p);
            }
        }
        size_t max = p->base64 ? BASE64_READ_MAX : READ_MAX;
        uint8_t *space = p->base64 ? scratch : session_space(s, max);
        if (!space) return true; /* the connection failed; it released us */
        size_t n = 0;
        enum tls_status st;
        if (p->ssl) {
            st = tls_read(p->ssl, space, max, &n);
        } else {
            ssize_t r = recv(p->fd, space, max, 0);
            if (r > 0) {
                n = (size_t)r;
                st = TLS_DONE;
            } else if (r == 0) {
                st = TLS_CLOSED;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                st = TLS_WANT_READ;
            } else {
                p->last_errno = errno;
                st = TLS_FAILED;
            }
        }
        switch (st) {
        case TLS_DONE:
            if (p->base64) {
                uint8_t *dst =
                    session_send_begin(s, SESSION_FIN | SESSION_TEXT, base64_encoded_len(n));
                if (!dst) return true;
                base64_encode(space, n, (char *)dst);
                session_send_commit(s, base64_encoded_len(n));
            } else {
                session_space_commit(s, SESSION_FIN | SESSION_BINARY, n);
            }
            session_flush(s);
            if (!p->ssl || !tls_has_more(p->ssl)) return true;
            continue;
        case TLS_WANT_READ: session_space_abandon(s); return true;
        case TLS_WANT_WRITE:
            session_space_abandon(s);
            p->read_wants_write = true;
            ev_io_start(p->b->ctx->loop, &p->wio);
            return true;
        case TLS_CLOSED: end_session(p, WS_CLOSE_NORMAL, "backend closed"); return false;
        default: return read_failed(p);
        }
    }
    /* More TLS data is waiting in OpenSSL: come back next loop iteration. */
    ev_feed_event(p->b->ctx->loop, &p->rio, EV_READ);
    return true;
}

/* The client has gone: read and discard until the backend closes. While
 * client bytes are still being written over TLS, records are read through
 * the session, which may need them. */
static void drain(struct peer *p)
{
    for (;;) {
        if (p->ssl && buf_len(&p->pending)) {
            size_t n;
            enum tls_status st = tls_read(p->ssl, scratch, sizeof scratch, &n);
            if (st == TLS_DONE) continue;
            if (st == TLS_WANT_READ || st == TLS_WANT_WRITE) return;
            release(p);
            return;
        }
        ssize_t r = recv(p->fd, scratch, sizeof scratch, 0);
        if (r > 0) continue;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        release(p); /* EOF or error: done */
        return;
    }
}

/* The client has gone: write the client bytes still pending, then shut our
 * side. Called again from on_writable (or on_readable for TLS) until done;
 * DRAIN_TIMEOUT bounds the whole. */
static void finish_writing(struct peer *p)
{
    bool gone = false;
    if (buf_len(&p->pending) && !flush_pending(p, &gone) && !gone) return;
    buf_free(&p->pending);
    if (p->ssl) SSL_shutdown(p->ssl);
    if (gone || shutdown(p->fd, SHUT_WR) < 0) release(p);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct peer *p = container_of(w, struct peer, rio);
    enter(p);
    switch (p->state) {
    case PEER_TLS_HANDSHAKE: continue_handshake(p); break;
    case PEER_DRAINING:
        if (p->write_wants_read) {
            p->write_wants_read = false;
            finish_writing(p);
        }
        if (!p->free_pending) drain(p);
        break;
    case PEER_OPEN:
        if (p->write_wants_read) {
            p->write_wants_read = false;
            if (p->output_paused) ev_io_stop(p->b->ctx->loop, &p->rio);
            if (p->input_blocked && p->session) {
                p->input_blocked = false;
                session_resume_input(p->session);
            }
        }
        if (!p->free_pending && p->state == PEER_OPEN) read_backend(p);
        break;
    default: break;
    }
    leave(p);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct peer *p = container_of(w, struct peer, wio);
    enter(p);
    ev_io_stop(loop, &p->wio);
    if (p->state == PEER_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            p->last_errno = err;
            close(p->fd);
            p->fd = -1;
            try_connect(p);
        } else {
            connected(p);
        }
    } else if (p->state == PEER_TLS_HANDSHAKE) {
        continue_handshake(p);
    } else if (p->state == PEER_DRAINING) {
        finish_writing(p);
    } else if (p->state == PEER_OPEN) {
        if (p->read_wants_write) {
            p->read_wants_write = false;
            if (!read_backend(p)) goto out;
        }
        bool gone = false;
        if (buf_len(&p->pending) && !flush_pending(p, &gone)) {
            if (gone) backend_gone_while_writing(p);
            goto out;
        }
        if (p->input_blocked && p->session) {
            p->input_blocked = false;
            session_resume_input(p->session);
        }
    }
out:
    leave(p);
}

/* ---- the backend interface ------------------------------------------------- */

/* The token names the target: "?token=NAME" or the last path segment. */
static void proxy_reload(struct backend *b);

static const struct target *target_by_token(struct backend *b, const struct http_request *req,
                                            struct backend_refusal *r)
{
    struct proxy_state *st = state_of(b);
    ev_tstamp now = ev_now(b->ctx->loop);
    if (now - st->tokens_checked >= TOKEN_CHECK_EVERY) {
        st->tokens_checked = now;
        if (tokens_fingerprint(b->set->token_file) != st->tokens_fingerprint) proxy_reload(b);
    }
    const char *path, *query;
    size_t path_len, query_len;
    char token[HTTP_MAX_REQUEST_LINE + 1];
    long n = -1;
    if (http_split_target(req, &path, &path_len, &query, &query_len)) {
        if (b->set->token_from_path) {
            const char *slash = path + path_len;
            while (slash > path && slash[-1] != '/') slash--;
            n = http_percent_decode(slash, (size_t)(path + path_len - slash), token);
        } else {
            n = http_query_param(query, query_len, "token", token);
        }
    }
    if (n <= 0) {
        r->http_status = 404;
        snprintf(r->why, sizeof r->why, "missing token (connect with %s)",
                 b->set->token_from_path ? "a path ending in /TOKEN" : "?token=TOKEN");
        return NULL;
    }
    const struct token_entry *e = tokens_find(&st->tokens, token, (size_t)n);
    if (!e) {
        r->http_status = 404;
        snprintf(r->why, sizeof r->why, "unknown token '%.*s'", n > 64 ? 64 : (int)n, token);
        return NULL;
    }
    if (!e->resolved) {
        r->http_status = 502;
        snprintf(r->why, sizeof r->why, "the target of token '%.64s' (%.120s) does not resolve",
                 e->token, e->target.name);
        return NULL;
    }
    return &e->target;
}

/* "binary" if offered, else "base64" (old noVNC), else none at all; any
 * other offer cannot be served. Returns false after filling r. */
static bool pick_subprotocol(struct session *s, const struct http_request *req, bool *base64,
                             struct backend_refusal *r)
{
    *base64 = false;
    if (http_header_has_token(req, "Sec-WebSocket-Protocol", "binary")) {
        s->subprotocol = "binary";
    } else if (http_header_has_token(req, "Sec-WebSocket-Protocol", "base64")) {
        s->subprotocol = "base64";
        *base64 = true;
    } else if (http_header_find(req, "Sec-WebSocket-Protocol")) {
        r->http_status = 400;
        snprintf(r->why, sizeof r->why,
                 "unsupported subprotocol: this endpoint speaks binary or "
                 "base64 (or none)");
        return false;
    }
    return true;
}

static enum backend_start proxy_start(struct backend *b, struct session *s,
                                      const struct http_request *req, struct backend_refusal *r)
{
    struct proxy_state *st = state_of(b);
    bool base64;
    if (!pick_subprotocol(s, req, &base64, r)) return BACKEND_REFUSED;
    const struct target *t = st->have_connect ? &st->connect : target_by_token(b, req, r);
    if (!t) return BACKEND_REFUSED;
    struct peer *p = calloc(1, sizeof *p);
    struct target *copy = malloc(sizeof *copy);
    if (!p || !copy) {
        free(p);
        free(copy);
        r->http_status = 503;
        snprintf(r->why, sizeof r->why, "out of memory");
        return BACKEND_REFUSED;
    }
    *copy = *t;
    p->b = b;
    p->session = s;
    p->id = s->id;
    p->fd = -1;
    p->target = copy;
    p->base64 = base64;
    ev_init(&p->rio, on_readable);
    ev_init(&p->wio, on_writable);
    ev_init(&p->timer, on_connect_timeout);
    ev_timer_set(&p->timer, b->set->connect_timeout, 0.);
    ev_timer_start(b->ctx->loop, &p->timer);
    list_push(st->peers, p);
    backend_hold(b);
    s->backend_data = p;
    snprintf(s->target, sizeof s->target, "%.110s%s", t->name, st->tls ? " (TLS)" : "");

    /* Connecting may finish (or fail) at once, unix sockets especially. */
    enter(p);
    p->starting = r;
    p->connect_started = ev_time();
    try_connect(p);
    p->starting = NULL;
    enum backend_start result = !p->session             ? BACKEND_REFUSED
                                : p->state == PEER_OPEN ? BACKEND_READY
                                                        : BACKEND_PENDING;
    leave(p);
    return result;
}

static void proxy_client_closed(struct session *s)
{
    struct peer *p = s->backend_data;
    if (!p) return;
    enter(p);
    detach(p);
    if (p->state != PEER_OPEN) {
        release(p);
    } else {
        /* Tell the backend we are done and give it a moment to finish. */
        p->state = PEER_DRAINING;
        p->input_blocked = false;
        ev_io_stop(p->b->ctx->loop, &p->wio);
        ev_io_start(p->b->ctx->loop, &p->rio);
        ev_timer_stop(p->b->ctx->loop, &p->timer);
        ev_timer_set(&p->timer, DRAIN_TIMEOUT, 0.);
        ev_timer_start(p->b->ctx->loop, &p->timer);
        finish_writing(p);
    }
    leave(p);
}

static void proxy_pause_output(struct session *s)
{
    struct peer *p = s->backend_data;
    p->output_paused = true;
    if (!p->write_wants_read) ev_io_stop(p->b->ctx->loop, &p->rio);
}

static void proxy_resume_output(struct session *s)
{
    struct peer *p = s->backend_data;
    p->output_paused = false;
    if (p->state != PEER_OPEN) return;
    ev_io_start(p->b->ctx->loop, &p->rio);
    if (p->ssl && tls_has_more(p->ssl)) ev_feed_event(p->b->ctx->loop, &p->rio, EV_READ);
}

/* ---- set-up, reload, teardown -------------------------------------------------- */

static void warn_token(const char *msg)
{
    log_warn(0, "%s", msg);
}

static int load_tokens(struct backend *b, struct proxy_state *st, char *err, size_t errlen)
{
    struct token_table fresh = {0};
    uint64_t fp = tokens_fingerprint(b->set->token_file);
    if (tokens_load(b->set->token_file, &fresh, err, errlen, warn_token) < 0) return -1;
    tokens_free(&st->tokens);
    st->tokens = fresh;
    st->tokens_fingerprint = fp;
    log_info(0, "%zu tokens loaded from %s", fresh.n, b->set->token_file);
    return 0;
}

static int proxy_setup(struct backend *b, char *err, size_t errlen)
{
    const struct backend_settings *set = b->set;
    struct proxy_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->state = st;
    if (set->connect) {
        char why[300];
        if (target_parse(set->connect, &st->connect, why, sizeof why) < 0 ||
            target_resolve(&st->connect, why, sizeof why) < 0) {
            snprintf(err, errlen, "--connect=%s: %s", set->connect, why);
            return -1;
        }
        st->have_connect = true;
    } else if (load_tokens(b, st, err, errlen) < 0) {
        return -1;
    }
    st->tokens_checked = ev_now(b->ctx->loop);
    if (set->ssl_target) {
        st->tls = tls_client_context(!set->ssl_target_insecure, err, errlen);
        if (!st->tls) return -1;
    }
    return 0;
}

/* SIGHUP: resolve the target again and reload the token table; on error
 * the old ones stay in use. */
static void proxy_reload(struct backend *b)
{
    struct proxy_state *st = state_of(b);
    char err[512];
    if (st->have_connect) {
        struct target fresh = st->connect;
        if (target_resolve(&fresh, err, sizeof err) < 0) {
            log_error(0, "reload: %s; keeping the previous addresses", err);
            return;
        }
        st->connect = fresh;
        log_info(0, "reload: %s resolved again", fresh.name);
    } else if (load_tokens(b, st, err, sizeof err) < 0) {
        st->tokens_fingerprint = tokens_fingerprint(b->set->token_file); /* do not retry at once */
        log_error(0, "reload: %s; keeping the previous tokens", err);
    }
}

/* At exit: close every backend connection and free the state. */
static void proxy_teardown(struct backend *b)
{
    struct proxy_state *st = state_of(b);
    if (!st) return;
    while (st->peers) {
        struct peer *p = st->peers;
        if (p->session) detach(p);
        p->busy = 0;
        peer_free(p);
    }
    tokens_free(&st->tokens);
    SSL_CTX_free(st->tls);
    free(st);
    b->state = NULL;
}

static bool proxy_serves(const struct backend_settings *set)
{
    return set->proxy && set->shared == SHARED_OFF;
}

const struct backend_ops proxy_backend = {
    .mode = MM_PROXY,
    .serves = proxy_serves,
    .setup = proxy_setup,
    .start = proxy_start,
    .session =
        {
            .client_data = proxy_client_data,
            .client_closed = proxy_client_closed,
            .pause_output = proxy_pause_output,
            .resume_output = proxy_resume_output,
            .input_done = proxy_input_done,
        },
    .reload = proxy_reload,
    .teardown = proxy_teardown,
};
