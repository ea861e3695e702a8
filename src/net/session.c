/* A session's calls, to its transport. Each checks the transport and calls
 * it directly: on the WebSocket path that is one compare and the call
 * conn.c had before the split (see doc/HACKING.md, "Sessions and
 * transports"). */
#include "autoconfig.h"

#include "net/session.h"

#include <errno.h>
#include <stddef.h>

#include "net/compress.h"
#include "base/log.h"
#include "net/conn.h"
#include "net/fallback.h"
#include "proto/pmd.h"
#include "proto/ws.h"

_Static_assert(SESSION_FIN == WS_FIN && SESSION_CONT == WS_OP_CONT && SESSION_TEXT == WS_OP_TEXT &&
                   SESSION_BINARY == WS_OP_BINARY,
               "message types are WebSocket's");
_Static_assert(SESSION_READ_MAX == WS_PAYLOAD_64K, "a read and its frame header fill 64 KiB");

/* The connection a WebSocket session is the first member of. */
static struct conn *ws(struct session *s)
{
    return (struct conn *)s;
}

static const struct conn *ws_const(const struct session *s)
{
    return (const struct conn *)s;
}

/* The fallback transport, for a session that is not a WebSocket one. */
#define FB(s) ((s)->transport == SESSION_FALLBACK)

int session_send(struct session *s, uint8_t b0, const void *p, size_t n)
{
    if (FB(s)) return fallback_send(s, b0, p, n);
    return conn_send(ws(s), b0, p, n);
}

uint8_t *session_send_begin(struct session *s, uint8_t b0, size_t n)
{
    if (FB(s)) return fallback_send_begin(s, b0, n);
    return conn_send_begin(ws(s), b0, n);
}

void session_send_commit(struct session *s, size_t n)
{
    if (FB(s))
        fallback_send_commit(s, n);
    else
        conn_send_commit(ws(s), n);
}

uint8_t *session_space(struct session *s, size_t max)
{
    if (FB(s)) return fallback_space(s, max);
    return conn_frame_space(ws(s), max);
}

void session_space_commit(struct session *s, uint8_t b0, size_t n)
{
    if (FB(s))
        fallback_space_commit(s, b0, n);
    else
        conn_frame_commit(ws(s), b0, n);
}

void session_space_abandon(struct session *s)
{
    if (!FB(s)) conn_frame_abandon(ws(s)); /* the fallback's space is not the queue */
}

bool session_can_splice(const struct session *s)
{
    return s->transport == SESSION_WEBSOCKET && conn_can_splice(ws_const(s));
}

ssize_t session_splice(struct session *s, int fd, size_t max)
{
    if (s->transport != SESSION_WEBSOCKET) {
        errno = ENOTSUP;
        return -1;
    }
    return conn_splice_message(ws(s), fd, max);
}

void session_flush(struct session *s)
{
    if (FB(s))
        fallback_flush(s);
    else
        conn_flush(ws(s));
}

size_t session_queued(const struct session *s)
{
    if (FB(s)) return fallback_queued(s);
    return conn_queued(ws_const(s));
}

long session_queue_shared(struct session *s, struct sq_block *block, struct sq_block *zblock,
                          const struct compress_settings *zset, unsigned msgs, size_t payload)
{
    if (FB(s)) return fallback_queue_shared(s, block, msgs);
    struct conn *c = ws(s);
    bool z = zblock && compress_shares_output(c->compress, zset);
    return conn_queue_shared(c, z ? zblock : block, msgs, payload);
}

const struct compress_settings *session_shared_compression(const struct session *s)
{
    if (FB(s)) return NULL;
    const struct conn *c = ws_const(s);
    /* Without context takeover the same compressed bytes suit every client. */
    return c->compress && c->compress->params.server_nct ? c->compress->set : NULL;
}

void session_drop_shared(struct session *s)
{
    if (FB(s))
        fallback_drop_shared(s);
    else
        conn_drop_shared(ws(s));
}

void session_resume_input(struct session *s)
{
    if (FB(s))
        fallback_resume_input(s);
    else
        conn_resume_input(ws(s));
}

bool session_input_held(const struct session *s)
{
    if (FB(s)) return fallback_input_held(s);
    return ws_const(s)->have_held;
}

void session_close(struct session *s, uint16_t code, const char *reason)
{
    if (FB(s))
        fallback_close(s, code, reason);
    else
        conn_ws_close(ws(s), code, reason);
}

void session_finish(struct session *s, uint16_t code, const char *reason)
{
    if (FB(s))
        fallback_finish(s, code, reason);
    else
        conn_backend_finished(ws(s), code, reason);
}

void session_abort(struct session *s, const char *why)
{
    if (FB(s))
        fallback_abort(s, why);
    else
        conn_abort(ws(s), why);
}

bool session_is_open(const struct session *s)
{
    if (FB(s)) return fallback_is_open(s);
    return ws_const(s)->state == CONN_OPEN;
}

void session_ready(struct session *s)
{
    if (FB(s))
        fallback_ready(s);
    else
        conn_backend_ready(ws(s));
}

void session_refused(struct session *s, int http_status, const char *why)
{
    if (FB(s))
        fallback_refused(s, http_status, why);
    else
        conn_backend_refused(ws(s), http_status, why);
}

bool session_request(const struct session *s, struct http_request *req)
{
    if (FB(s)) return fallback_request(s, req);
    return conn_pending_request(ws_const(s), req);
}

struct session_client session_client(const struct session *s)
{
    if (FB(s)) return fallback_client(s);
    const struct conn *c = ws_const(s);
    return (struct session_client){
        .addr = c->peer_addr,
        .port = c->peer_port,
        .tls = c->ssl != NULL,
        .user = c->remote_user,
        .cert_cn = c->client_verified ? c->client_cn : NULL,
    };
}

const char *session_extensions(const struct session *s, char *buf, size_t n)
{
    if (FB(s)) return NULL; /* nothing is compressed on the fallback */
    const struct conn *c = ws_const(s);
    if (!c->compress) return NULL;
    pmd_format(&c->compress->params, buf, n);
    return buf;
}

void session_log_connect(const struct session *s, struct log_fields *f)
{
    f->event = "connect";
    f->target = s->target;
    bool via = f->via && f->via[0], cn = f->cert_cn && f->cert_cn[0];
    log_access_with(s->id, f, "CONNECT %s port %u%s%s \"%s\"%s%s%s%s%s%s -> %s", f->peer, f->port,
                    via ? " via " : "", via ? f->via : "", f->request ? f->request : "-",
                    f->route ? " route " : "", f->route ? f->route : "", f->user ? " user " : "",
                    f->user ? f->user : "", cn ? " cert CN=" : "", cn ? f->cert_cn : "",
                    s->target[0] ? s->target : "-");
}

void session_log_disconnect(const struct session *s, struct log_fields *f, const char *why)
{
    const char *by = s->closed_by ? s->closed_by : "client";
    f->event = "disconnect";
    f->target = s->target;
    f->close_code = s->close_code;
    f->closed_by = by;
    f->reason = why;
    f->msgs_in = s->msgs_in;
    f->bytes_in = s->bytes_in;
    f->msgs_out = s->msgs_out;
    f->bytes_out = s->bytes_out;
    f->has = LOGF_CLOSE | LOGF_TRAFFIC | LOGF_DURATION;
    log_access_with(s->id, f,
                    "DISCONNECT %s port %u \"%s\"%s%s -> %s code %u by %s%s%s, in %llu messages "
                    "%llu bytes, out %llu messages %llu bytes, %.3f s",
                    f->peer, f->port, f->request ? f->request : "-", f->route ? " route " : "",
                    f->route ? f->route : "", s->target[0] ? s->target : "-", s->close_code, by,
                    why ? ": " : "", why ? why : "", (unsigned long long)s->msgs_in,
                    (unsigned long long)s->bytes_in, (unsigned long long)s->msgs_out,
                    (unsigned long long)s->bytes_out, f->duration);
}
