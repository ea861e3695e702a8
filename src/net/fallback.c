/* The HTTP fallback transport (doc/fallback.md; doc/HACKING.md, "Sessions
 * and transports"). A session lives here, apart from the connections that
 * carry it: the open request, one event stream at a time, one message POST
 * at a time. Each of those is a connection in RESPONDING whose responder is
 * one of the handlers below.
 *
 * Messages towards the client become events in the session's log as they
 * are queued. The stream takes them from the log into its connection's
 * queue while that is under the high-water mark; the log keeps what was
 * sent for FALLBACK_REPLAY more bytes, so that a stream that resumes from
 * a Last-Event-ID loses nothing. The backend is paused while the unsent
 * events and the stream's queue together pass the high-water mark, as on a
 * WebSocket. */
#include "autoconfig.h"

#include "net/fallback.h"

#include <ev.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/util.h"
#include "net/conn.h"
#include "net/context.h"
#include "proto/fbmsgs.h"
#include "proto/http.h"
#include "proto/json.h"
#include "proto/sse.h"
#include "proto/ws.h"

#define ID_BYTES 16
#define ID_HEX   (2 * ID_BYTES)

enum fb_state {
    FB_OPENING, /* the backend is starting; the open request waits */
    FB_OPEN,
    FB_ENDED, /* the close event is the log's last; waiting for a stream to take it */
    FB_DEAD,  /* out of the table; freed by the sweeper */
};

struct fb_session {
    struct session s; /* first: the session's address is the fallback session's */
    struct context *ctx;
    struct fb_session *prev, *next; /* the table's list of live sessions, or its dead */
    struct fb_session *hnext;       /* the table's hash chain */
    uint8_t key[ID_BYTES];
    char hex[ID_HEX + 1];
    enum fb_state state;
    ev_tstamp started, last_activity;

    /* The route, its settings, and the open request (for the backend and the logs). */
    const struct session_settings *set;
    void *route;
    char *route_name;
    char *request; /* "POST /path" */
    char *head;    /* the open request's head, for session_request() */
    size_t head_len;

    /* The client: who opened the session, and who may carry it on. */
    char addr[INET6_ADDRSTRLEN];
    char via[INET6_ADDRSTRLEN];
    unsigned port;
    bool tls;
    char *user;
    char cert_cn[128];
    bool cert_verified;
    struct ip_addr ip; /* addr, when it is an IP address: its --maxconn-per-ip slot */
    bool ip_counted;

    /* The connections carrying it now (each in RESPONDING, served by a handler below). */
    struct conn *opener, *stream, *post;
    bool poll; /* the stream is a long poll: its answer ends after the first events */

    /* Events towards the client: the log holds them whole, one after the
     * other; ev_end[i] is where event first_id + (i - ev_head) ends, in
     * bytes counted since the session began (log_base is where the log's
     * first byte is in that count). */
    struct buf log;
    uint64_t log_base;
    uint64_t *ev_end;
    size_t ev_head, ev_n, ev_cap;
    uint64_t first_id; /* of the log's first event */
    uint64_t pumped;   /* the next event to give a stream */
    uint64_t close_id; /* the close event's, once there is one */
    /* Of the current stream: where its events began in the count, how many
     * event bytes it has been given; and of the last stream, how far it
     * surely wrote. */
    uint64_t stream_from, stream_bytes, written;
    uint8_t out_type; /* the type of the fragmented message being sent */
    bool output_paused;
    uint8_t begun_b0; /* session_send_begin()'s, until the commit */

    /* Records from the client: the next SEQ expected, and the bytes of its
     * payload already handed to the backend. */
    uint64_t next_seq, applied;
    bool msg_open; /* a message is partly handed to the backend */
    /* The current POST: its parser, the SEQ its next record must have (0
     * before its first), whether a record is half read; and what the
     * backend left of the last chunk (those bytes come again first). */
    struct fbm_parser fp;
    uint64_t body_seq;
    bool in_record;
    size_t pending, pending_skip;
    uint8_t pending_type;
    bool pending_last, pending_record_end;

    ev_timer expiry; /* no stream for --fallback-timeout; or the linger of an ended one */
    ev_timer beat;   /* the stream's heartbeats; a long poll's wait */
    ev_timer idle;   /* --idle-timeout */
};

struct fb_table {
    struct fb_session **buckets;
    size_t nbuckets, n;
    struct fb_session *live, *dead;
};

/* Room for one message read or written before it becomes an event. The
 * loop is single-threaded and a space is committed before the next one. */
static struct buf scratch;

static struct fb_session *fb_of(const struct session *s)
{
    return (struct fb_session *)(void *)s;
}

static struct fb_session *fb_of_conn(const struct conn *c)
{
    return c->s.backend_data;
}

static double heartbeat_seconds(const struct fb_session *fb)
{
    unsigned ms = fb->set->pingms;
    return ms ? (ms < 1000 ? 1.0 : ms / 1000) : 0.0;
}

/* ---- the table ----------------------------------------------------------------- */

static uint64_t bucket_of(const uint8_t key[ID_BYTES], size_t nbuckets)
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* random already */
    return h & (nbuckets - 1);
}

static int table_grow(struct fb_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    struct fb_session **b = calloc(n, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct fb_session *next;
        for (struct fb_session *fb = t->buckets[i]; fb; fb = next) {
            next = fb->hnext;
            uint64_t k = bucket_of(fb->key, n);
            fb->hnext = b[k];
            b[k] = fb;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

static struct fb_table *table_of(struct context *ctx)
{
    if (!ctx->fallback) ctx->fallback = calloc(1, sizeof(struct fb_table));
    return ctx->fallback;
}

static int table_add(struct fb_table *t, struct fb_session *fb)
{
    if (t->n >= t->nbuckets && table_grow(t) < 0) return -1;
    uint64_t k = bucket_of(fb->key, t->nbuckets);
    fb->hnext = t->buckets[k];
    t->buckets[k] = fb;
    t->n++;
    list_push(t->live, fb);
    return 0;
}

static void table_remove(struct fb_table *t, struct fb_session *fb)
{
    struct fb_session **p = &t->buckets[bucket_of(fb->key, t->nbuckets)];
    while (*p && *p != fb) p = &(*p)->hnext;
    if (*p) *p = fb->hnext;
    t->n--;
    list_unlink(t->live, fb);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The session an id names (32 lowercase hex digits), or NULL. */
static struct fb_session *table_find(struct context *ctx, const char *hex, size_t len)
{
    struct fb_table *t = ctx->fallback;
    if (!t || !t->n || len != ID_HEX) return NULL;
    uint8_t key[ID_BYTES];
    for (size_t i = 0; i < ID_BYTES; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return NULL;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    for (struct fb_session *fb = t->buckets[bucket_of(key, t->nbuckets)]; fb; fb = fb->hnext)
        if (CRYPTO_memcmp(fb->key, key, ID_BYTES) == 0) return fb;
    return NULL;
}

size_t fallback_count(const struct context *ctx)
{
    const struct fb_table *t = ctx->fallback;
    return t ? t->n : 0;
}

/* ---- the log of events ----------------------------------------------------------- */

static uint64_t next_id(const struct fb_session *fb)
{
    return fb->first_id + (fb->ev_n - fb->ev_head);
}

static uint64_t log_end(const struct fb_session *fb)
{
    return fb->log_base + buf_len(&fb->log);
}

/* Where event id begins in the count of bytes (id may be next_id(): the end). */
static uint64_t event_start(const struct fb_session *fb, uint64_t id)
{
    if (id == fb->first_id) return fb->log_base;
    if (id >= next_id(fb)) return log_end(fb);
    return fb->ev_end[fb->ev_head + (id - fb->first_id) - 1];
}

/* The event just written at the log's tail (len bytes) is one more. */
static int log_commit(struct fb_session *fb, size_t len)
{
    if (fb->ev_n == fb->ev_cap) {
        if (fb->ev_head > fb->ev_cap / 2) { /* most of the index is trimmed: reuse it */
            memmove(fb->ev_end, fb->ev_end + fb->ev_head,
                    (fb->ev_n - fb->ev_head) * sizeof *fb->ev_end);
            fb->ev_n -= fb->ev_head;
            fb->ev_head = 0;
        } else {
            size_t cap = fb->ev_cap ? fb->ev_cap * 2 : 16;
            uint64_t *p = realloc(fb->ev_end, cap * sizeof *p);
            if (!p) return -1;
            fb->ev_end = p;
            fb->ev_cap = cap;
        }
    }
    buf_commit(&fb->log, len);
    fb->ev_end[fb->ev_n++] = log_end(fb);
    return 0;
}

/* How far the bytes given to streams surely went out: the current
 * stream's queue is not out yet. */
static void update_written(struct fb_session *fb)
{
    if (!fb->stream) return;
    size_t q = conn_queued(fb->stream);
    uint64_t given = fb->stream_from + fb->stream_bytes;
    fb->written = given - (q < fb->stream_bytes ? q : fb->stream_bytes);
}

/* Forget the oldest events while the newest FALLBACK_REPLAY bytes of those
 * written are kept without them. */
static void trim(struct fb_session *fb)
{
    update_written(fb);
    size_t drop = 0;
    while (fb->ev_head < fb->ev_n && fb->ev_end[fb->ev_head] + FALLBACK_REPLAY <= fb->written &&
           fb->first_id < fb->pumped) {
        fb->ev_head++;
        fb->first_id++;
        drop = 1;
    }
    if (!drop) return;
    uint64_t base = fb->ev_head ? fb->ev_end[fb->ev_head - 1] : fb->log_base;
    buf_consume(&fb->log, (size_t)(base - fb->log_base));
    fb->log_base = base;
}

/* The client has every event up to and including id: they need not be kept. */
static void forget_through(struct fb_session *fb, uint64_t id)
{
    if (id < fb->first_id) return;
    uint64_t n = id - fb->first_id + 1;
    uint64_t base = fb->ev_end[fb->ev_head + n - 1];
    fb->ev_head += (size_t)n;
    fb->first_id += n;
    buf_consume(&fb->log, (size_t)(base - fb->log_base));
    fb->log_base = base;
}

/* ---- flow control and the stream ------------------------------------------------- */

size_t fallback_queued(const struct session *s)
{
    const struct fb_session *fb = fb_of(s);
    size_t unsent = (size_t)(log_end(fb) - event_start(fb, fb->pumped));
    return unsent + (fb->stream ? conn_queued(fb->stream) : 0);
}

/* Tell the backend when the queue passes the high-water mark, and when it
 * is back under the low one. */
static void check_output(struct fb_session *fb)
{
    const struct session_handler *h = fb->s.handler;
    if (!h || fb->state != FB_OPEN) return;
    size_t q = fallback_queued(&fb->s);
    if (!fb->output_paused && q >= CONN_OUT_HIGH) {
        fb->output_paused = true;
        h->pause_output(&fb->s);
    } else if (fb->output_paused && q <= CONN_OUT_LOW) {
        fb->output_paused = false;
        h->resume_output(&fb->s);
    }
}

static void start_expiry(struct fb_session *fb, double seconds)
{
    ev_timer_stop(fb->ctx->loop, &fb->expiry);
    ev_timer_set(&fb->expiry, seconds, 0.);
    ev_timer_start(fb->ctx->loop, &fb->expiry);
}

/* The stream is no longer this session's (gone, replaced or done). */
static void detach_stream(struct fb_session *fb)
{
    if (!fb->stream) return;
    update_written(fb);
    fb->stream = NULL;
    ev_timer_stop(fb->ctx->loop, &fb->beat);
    if (fb->state == FB_DEAD) return;
    bool closed = fb->close_id && fb->pumped > fb->close_id;
    start_expiry(fb, closed ? FALLBACK_LINGER : fb->set->fallback_timeout);
}

/* A long poll's answer: the events not yet given (up to the high-water
 * mark's worth), or a heartbeat when none came in time. */
static void answer_poll(struct fb_session *fb)
{
    struct conn *c = fb->stream;
    uint64_t from = event_start(fb, fb->pumped), to = from;
    uint64_t last = fb->pumped;
    while (last < next_id(fb) && (to == from || to - from < CONN_OUT_HIGH)) {
        to = fb->ev_end[fb->ev_head + (last - fb->first_id)];
        last++;
    }
    const uint8_t *body =
        to > from ? buf_head(&fb->log) + (from - fb->log_base) : (const uint8_t *)SSE_HEARTBEAT;
    size_t len = to > from ? (size_t)(to - from) : strlen(SSE_HEARTBEAT);
    static const char headers[] = "Content-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                                  "X-Accel-Buffering: no\r\n";
    conn_http_service(c); /* complete and with a length: the connection may be kept */
    if (!conn_queue_answer(c, 200, headers, body, len, true)) return; /* aborted: detached */
    fb->stream_from = from;
    fb->stream_bytes = (size_t)(to - from);
    fb->pumped = last;
    update_written(fb);
    detach_stream(fb);
    conn_response_done(c, 200);
}

/* Give the stream the events it has not had, while its queue has room. */
static void pump(struct fb_session *fb)
{
    struct conn *c = fb->stream;
    if (!c) return;
    if (fb->poll) {
        if (fb->pumped < next_id(fb)) answer_poll(fb);
        return;
    }
    uint64_t from = event_start(fb, fb->pumped), to = from;
    size_t room = conn_queued(c) < CONN_OUT_HIGH ? CONN_OUT_HIGH - conn_queued(c) : 0;
    while (fb->pumped < next_id(fb) && room && to - from < room) {
        to = fb->ev_end[fb->ev_head + (fb->pumped - fb->first_id)];
        fb->pumped++;
    }
    if (to > from) {
        if (buf_append(&c->out, buf_head(&fb->log) + (from - fb->log_base), (size_t)(to - from)) <
            0) {
            conn_abort(c, "out of memory");
            return;
        }
        fb->stream_bytes += to - from;
    }
    if (fb->close_id && fb->pumped > fb->close_id) { /* the close event is on its way: the end */
        update_written(fb);
        detach_stream(fb);
        conn_response_done(c, 200);
        return;
    }
    /* More to give, or a backend waiting for room: be told when the queue drains. */
    if (fb->pumped < next_id(fb) || fb->output_paused) conn_want_drained(c);
    conn_flush(c); /* may lose the client: then detached */
    trim(fb);
}

static void stream_closed(struct conn *c)
{
    struct fb_session *fb = fb_of_conn(c);
    if (fb && fb->stream == c) detach_stream(fb);
}

static void stream_paused(struct conn *c)
{
    (void)c; /* pump() gives no more while the queue is above the mark */
}

static void stream_resumed(struct conn *c)
{
    struct fb_session *fb = fb_of_conn(c);
    if (!fb || fb->stream != c) return;
    pump(fb);
    check_output(fb);
}

static bool no_body(struct conn *c, const struct ws_event *ev, size_t *taken)
{
    (void)c;
    (void)ev;
    (void)taken;
    return true; /* GET and the open POST have none */
}

static const struct conn_handler stream_handler = {
    .client_data = no_body,
    .client_closed = stream_closed,
    .pause_output = stream_paused,
    .resume_output = stream_resumed,
};

static void on_beat(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct fb_session *fb = container_of(w, struct fb_session, beat);
    struct conn *c = fb->stream;
    if (!c) return;
    if (fb->poll) {
        answer_poll(fb);
        return;
    }
    if (buf_append(&c->out, SSE_HEARTBEAT, strlen(SSE_HEARTBEAT)) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    conn_flush(c);
}

/* ---- the session's end ----------------------------------------------------------- */

static struct log_fields log_fields_of(const struct fb_session *fb)
{
    return (struct log_fields){
        .peer = fb->addr,
        .port = fb->port,
        .via = fb->via,
        .request = fb->request,
        .route = fb->route_name,
        .user = fb->user,
        .cert_cn = fb->cert_cn,
        .duration = ev_now(fb->ctx->loop) - fb->started,
    };
}

/* Detach the backend; it lets go of the session and ends its side. */
static void release_backend(struct fb_session *fb)
{
    const struct session_handler *h = fb->s.handler;
    if (!h) return;
    fb->s.handler = NULL;
    h->client_closed(&fb->s);
    fb->s.backend_data = NULL;
}

/* The access line and the metrics of a session that was open. */
static void log_session_end(struct fb_session *fb, const char *why)
{
    struct log_fields f = log_fields_of(fb);
    session_log_disconnect(&fb->s, &f, why);
    metrics_session(fb->s.mode, fb->s.msgs_in, fb->s.bytes_in, fb->s.msgs_out, fb->s.bytes_out,
                    f.duration);
}

/* Out of the table now (its id is unknown from here), freed by the sweeper:
 * callers up the stack may still hold it. Its connections are cut. */
static void kill_session(struct fb_session *fb, const char *why)
{
    if (fb->state == FB_DEAD) return;
    struct context *ctx = fb->ctx;
    fb->state = FB_DEAD;
    release_backend(fb);
    struct fb_table *t = ctx->fallback;
    table_remove(t, fb);
    list_push(t->dead, fb);
    ctx->release_pending = true; /* the sweeper frees it */
    ev_timer_stop(ctx->loop, &fb->expiry);
    ev_timer_stop(ctx->loop, &fb->beat);
    ev_timer_stop(ctx->loop, &fb->idle);
    struct conn *conns[3] = {fb->opener, fb->stream, fb->post};
    fb->opener = fb->stream = fb->post = NULL;
    for (int i = 0; i < 3; i++)
        if (conns[i]) conn_abort(conns[i], why);
}

static void free_session(struct fb_session *fb)
{
    struct context *ctx = fb->ctx;
    if (fb->ip_counted) ipcount_release(&ctx->per_ip, &fb->ip);
    if (fb->route) ctx->route_done(ctx, fb->route);
    buf_free(&fb->log);
    free(fb->ev_end);
    free(fb->route_name);
    free(fb->request);
    free(fb->head);
    free(fb->user);
    free(fb);
}

void fallback_sweep(struct context *ctx)
{
    struct fb_table *t = ctx->fallback;
    if (!t) return;
    while (t->dead) {
        struct fb_session *fb = t->dead;
        list_unlink(t->dead, fb);
        free_session(fb);
    }
}

/* The session ends with a close event (code and reason), the last of its
 * log; a stream delivers it. */
static void end_with_close(struct fb_session *fb, uint16_t code, const char *reason)
{
    if (fb->state != FB_OPEN) return;
    release_backend(fb);
    metrics_close_code(true, code);
    fb->s.close_code = code;
    if (!fb->s.closed_by) fb->s.closed_by = "server";
    fb->state = FB_ENDED;
    ev_timer_stop(fb->ctx->loop, &fb->idle);
    log_session_end(fb, reason && reason[0] ? reason : NULL);
    if (buf_reserve(&fb->log, SSE_CLOSE_MAX) < 0) {
        kill_session(fb, "out of memory");
        return;
    }
    fb->close_id = next_id(fb);
    size_t n = sse_close((char *)buf_tail(&fb->log), fb->close_id, code, reason ? reason : "");
    if (log_commit(fb, n) < 0) {
        kill_session(fb, "out of memory");
        return;
    }
    if (fb->stream)
        pump(fb);
    else
        start_expiry(fb, fb->set->fallback_timeout);
}

/* The client is gone (no stream for --fallback-timeout, or resumed past
 * the window): as a WebSocket client that vanished. */
static void vanish(struct fb_session *fb, const char *why)
{
    if (fb->state == FB_OPEN) {
        fb->s.closed_by = "client";
        fb->s.close_code = WS_CLOSE_ABNORMAL;
        release_backend(fb);
        log_session_end(fb, why);
    }
    kill_session(fb, why);
}

static void on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct fb_session *fb = container_of(w, struct fb_session, expiry);
    if (fb->state == FB_OPEN) {
        char why[96];
        snprintf(why, sizeof why, "no event stream for %g s (--fallback-timeout)",
                 fb->set->fallback_timeout);
        vanish(fb, why);
    } else {
        kill_session(fb, NULL); /* ended: its close event was delivered, or nobody came */
    }
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct fb_session *fb = container_of(w, struct fb_session, idle);
    ev_tstamp left = fb->last_activity + fb->set->idle_timeout - ev_now(loop);
    if (left > 0.001) {
        ev_timer_set(&fb->idle, left, 0.);
        ev_timer_start(loop, &fb->idle);
        return;
    }
    end_with_close(fb, WS_CLOSE_GOING_AWAY, "idle timeout");
}

void fallback_close(struct session *s, uint16_t code, const char *reason)
{
    end_with_close(fb_of(s), code, reason);
}

void fallback_finish(struct session *s, uint16_t code, const char *reason)
{
    struct fb_session *fb = fb_of(s);
    fb->s.handler = NULL; /* it has let go already: no call back */
    fb->s.backend_data = NULL;
    end_with_close(fb, code, reason);
}

void fallback_abort(struct session *s, const char *why)
{
    vanish(fb_of(s), why);
}

bool fallback_is_open(const struct session *s)
{
    return fb_of(s)->state == FB_OPEN;
}

void fallback_stop_all(struct context *ctx)
{
    struct fb_table *t = ctx->fallback;
    if (!t) return;
    struct fb_session *next;
    for (struct fb_session *fb = t->live; fb; fb = next) {
        next = fb->next;
        if (fb->state == FB_OPENING) {
            kill_session(fb, "server shutting down");
        } else if (fb->state == FB_OPEN) {
            const struct session_handler *h = fb->s.handler;
            if (h && h->shutdown && fb->s.backend_data)
                h->shutdown(&fb->s);
            else
                end_with_close(fb, WS_CLOSE_GOING_AWAY, "server shutting down");
        }
    }
}

void fallback_close_all(struct context *ctx)
{
    struct fb_table *t = ctx->fallback;
    if (!t) return;
    while (t->live) vanish(t->live, "server exiting");
    fallback_sweep(ctx);
    free(t->buckets);
    free(t);
    ctx->fallback = NULL;
    buf_free(&scratch);
}

/* ---- messages towards the client ------------------------------------------------- */

int fallback_send(struct session *s, uint8_t b0, const void *p, size_t n)
{
    struct fb_session *fb = fb_of(s);
    if (fb->state != FB_OPEN) return -1;
    uint8_t op = b0 & 0x0F;
    if (op != SESSION_CONT) fb->out_type = op;
    if (buf_reserve(&fb->log, sse_message_max(fb->out_type, n)) < 0) goto oom;
    size_t len = sse_message((char *)buf_tail(&fb->log), next_id(fb), fb->out_type,
                             !(b0 & SESSION_FIN), p, n);
    if (log_commit(fb, len) < 0) goto oom;
    fb->s.bytes_out += n;
    if (b0 & SESSION_FIN) fb->s.msgs_out++;
    fb->last_activity = ev_now(fb->ctx->loop);
    return 0;
oom:
    vanish(fb, "out of memory queueing a message");
    return -1;
}

uint8_t *fallback_send_begin(struct session *s, uint8_t b0, size_t n)
{
    struct fb_session *fb = fb_of(s);
    if (fb->state != FB_OPEN) return NULL;
    buf_truncate(&scratch, 0);
    if (buf_reserve(&scratch, n ? n : 1) < 0) {
        vanish(fb, "out of memory queueing a message");
        return NULL;
    }
    fb->begun_b0 = b0;
    return buf_tail(&scratch);
}

void fallback_send_commit(struct session *s, size_t n)
{
    fallback_send(s, fb_of(s)->begun_b0, buf_tail(&scratch), n);
}

uint8_t *fallback_space(struct session *s, size_t max)
{
    return fallback_send_begin(s, 0, max);
}

void fallback_space_commit(struct session *s, uint8_t b0, size_t n)
{
    fallback_send(s, b0, buf_tail(&scratch), n);
}

void fallback_flush(struct session *s)
{
    struct fb_session *fb = fb_of(s);
    if (fb->state != FB_OPEN && fb->state != FB_ENDED) return;
    pump(fb);
    if (fb->state == FB_OPEN) check_output(fb);
}

/* --shared: the block's frames (a server's: unmasked) become events. */
long fallback_queue_shared(struct session *s, struct sq_block *block, unsigned msgs)
{
    (void)msgs; /* counted as they become events */
    struct fb_session *fb = fb_of(s);
    if (fb->state != FB_OPEN) return (long)fallback_queued(s);
    struct ws_parser p;
    ws_parser_init(&p, false, 0);
    size_t at = 0;
    while (at < block->len && fb->state == FB_OPEN) {
        struct ws_event ev;
        at += ws_parser_feed(&p, block->data + at, block->len - at, &ev);
        if (ev.kind == WS_EV_ERROR) {
            log_error(fb->s.id, "a shared block is not frames: %s", ev.error);
            break;
        }
        if (ev.kind != WS_EV_DATA) continue;
        uint8_t b0 = (ev.first ? ev.opcode : SESSION_CONT) | (ev.last ? SESSION_FIN : 0);
        if (fallback_send(s, b0, ev.data, ev.len) < 0) return -1;
    }
    fallback_flush(s);
    return (long)fallback_queued(s);
}

void fallback_drop_shared(struct session *s)
{
    struct fb_session *fb = fb_of(s);
    /* The events no stream has had yet: nobody saw their ids. */
    size_t keep = (size_t)(event_start(fb, fb->pumped) - fb->log_base);
    buf_truncate(&fb->log, keep);
    fb->ev_n = fb->ev_head + (size_t)(fb->pumped - fb->first_id);
}

/* ---- messages from the client: the POST ------------------------------------------ */

static void answer_next(struct conn *c, struct fb_session *fb)
{
    char body[48];
    int n = snprintf(body, sizeof body, "{\"next\":%llu}", (unsigned long long)fb->next_seq);
    static const char headers[] = "Content-Type: application/json\r\nCache-Control: no-store\r\n";
    if (fb->post == c) fb->post = NULL;
    conn_http_service(c); /* kept when the body was all read (conn.c decides) */
    if (!conn_queue_answer(c, 200, headers, body, (size_t)n, true)) return;
    log_debug(fb->s.id, "%s port %u: messages up to %llu applied", fb->addr, fb->port,
              (unsigned long long)fb->next_seq - 1);
    conn_response_done(c, 200);
}

static void post_failed(struct conn *c, struct fb_session *fb, int status, const char *why)
{
    if (fb->post == c) fb->post = NULL;
    log_info(fb->s.id, "%s port %u: message POST refused with %d: %s", fb->addr, fb->port, status,
             why);
    conn_response_error(c, status, why);
}

/* Hand n bytes of a message to the backend. Returns how many it took. */
static size_t deliver(struct fb_session *fb, uint8_t type, bool last, uint8_t *p, size_t n)
{
    if (!fb->s.handler) return n;
    struct session_chunk m = {
        .type = type, .first = !fb->msg_open, .last = last, .data = p, .len = n};
    size_t took = 0;
    bool all = fb->s.handler->client_data(&fb->s, &m, &took);
    if (all) took = n;
    if (took || all) fb->msg_open = !(all && last);
    fb->s.bytes_in += took;
    if (all && last) fb->s.msgs_in++;
    fb->last_activity = ev_now(fb->ctx->loop);
    return took;
}

/* A record's bytes were all handed over. */
static void record_done(struct fb_session *fb)
{
    fb->next_seq++;
    fb->applied = 0;
}

static void input_done(struct fb_session *fb)
{
    if (fb->s.handler && fb->s.backend_data && fb->s.handler->input_done)
        fb->s.handler->input_done(&fb->s);
}

/* The client's close record: as a WebSocket close frame, echoed. */
static void client_close(struct fb_session *fb, const struct fbm_event *e)
{
    fb->s.closed_by = "client";
    metrics_close_code(false, e->code);
    char reason[WS_MAX_CLOSE_REASON + 1];
    size_t n = e->len < WS_MAX_CLOSE_REASON ? e->len : WS_MAX_CLOSE_REASON;
    memcpy(reason, e->data, n);
    reason[n] = '\0';
    end_with_close(fb, e->code, reason);
}

/* Is this record where the body's order says? Returns 0, or the status. */
static int check_order(struct fb_session *fb, uint64_t seq, const char **why)
{
    if (fb->in_record) return 0;
    if (!fb->body_seq && seq > fb->next_seq) {
        *why = "a record is missing before this body's first (see the answer's next)";
        return 409;
    }
    if (fb->body_seq && seq != fb->body_seq) {
        *why = "the records of a body must be numbered one after the other";
        return 400;
    }
    fb->body_seq = seq + 1;
    return 0;
}

static bool post_data(struct conn *c, const struct ws_event *ev, size_t *taken)
{
    struct fb_session *fb = fb_of_conn(c);
    uint8_t *data = ev->data;
    size_t len = ev->len, i = 0;
    if (fb->pending) { /* what the backend left of the last chunk comes first */
        size_t n = fb->pending;
        size_t took = deliver(fb, fb->pending_type, fb->pending_last, data, n);
        if (fb->state != FB_OPEN) goto ended;
        fb->applied += took;
        if (took < n) {
            fb->pending -= took;
            *taken = took;
            input_done(fb);
            return false;
        }
        fb->pending = 0;
        if (fb->pending_record_end) record_done(fb);
        i = n + fb->pending_skip;
        fb->pending_skip = 0;
    }
    while (i < len) {
        struct fbm_event e;
        i += fbm_parser_feed(&fb->fp, data + i, len - i, &e);
        const char *why = NULL;
        int status = 0;
        if (e.kind == FBM_NONE) continue;
        if (e.kind == FBM_ERROR) {
            status = e.error == FBM_ERR_TOO_BIG ? 413 : 400;
            why = e.why;
            if (e.error == FBM_ERR_UTF8) {
                end_with_close(fb, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in a text message");
            } else if (e.error == FBM_ERR_TOO_BIG && fb->msg_open) {
                end_with_close(fb, WS_CLOSE_TOO_BIG, "message larger than the maximum size");
            }
            post_failed(c, fb, status, why);
            return true;
        }
        if ((status = check_order(fb, e.seq, &why))) {
            post_failed(c, fb, status, why);
            return true;
        }
        if (e.kind == FBM_CLOSE) {
            if (e.seq == fb->next_seq) {
                record_done(fb);
                client_close(fb, &e);
                goto ended;
            }
            continue;
        }
        fb->in_record = !e.record_end;
        if (e.seq != fb->next_seq) continue; /* applied before: a retry */
        uint64_t end = e.offset + e.len;
        if (end <= fb->applied && !(e.record_end && end == 0)) continue;
        size_t skip = fb->applied > e.offset ? (size_t)(fb->applied - e.offset) : 0;
        uint8_t *p = data + (e.data - data) + skip;
        size_t n = e.len - skip;
        size_t took = deliver(fb, e.type, e.last, p, n);
        if (fb->state != FB_OPEN) goto ended;
        fb->applied += took;
        if (took < n) {
            size_t chunk_end = (size_t)(p - data) + n;
            fb->pending = n - took;
            fb->pending_skip = i - chunk_end;
            fb->pending_type = e.type;
            fb->pending_last = e.last;
            fb->pending_record_end = e.record_end;
            *taken = chunk_end - fb->pending;
            input_done(fb);
            return false;
        }
        if (e.record_end) record_done(fb);
    }
    input_done(fb);
    if (!ev->last) return true;
    if (!fbm_parser_at_boundary(&fb->fp)) {
        post_failed(c, fb, 400, "the body ends inside a record");
        return true;
    }
    answer_next(c, fb);
    return true;
ended: /* the session ended while its messages were handed over */
    if (c->state == CONN_RESPONDING) answer_next(c, fb);
    return true;
}

static void post_closed(struct conn *c)
{
    struct fb_session *fb = fb_of_conn(c);
    if (fb && fb->post == c) {
        fb->post = NULL;
        fb->pending = 0; /* a retry comes again from what was applied */
    }
}

static void post_output(struct conn *c)
{
    (void)c; /* the answer is small */
}

static const struct conn_handler post_handler = {
    .client_data = post_data,
    .client_closed = post_closed,
    .pause_output = post_output,
    .resume_output = post_output,
};

void fallback_resume_input(struct session *s)
{
    struct fb_session *fb = fb_of(s);
    if (fb->post) conn_resume_input(fb->post);
}

bool fallback_input_held(const struct session *s)
{
    const struct fb_session *fb = fb_of(s);
    return fb->post && fb->post->have_held;
}

/* ---- opening -------------------------------------------------------------------- */

static const char *mode_name(uint8_t mode)
{
    return mode == MM_PROXY ? "proxy" : mode == MM_SHARED ? "shared" : "exec";
}

static void opener_closed(struct conn *c)
{
    struct fb_session *fb = fb_of_conn(c);
    if (!fb || fb->opener != c) return;
    fb->opener = NULL;
    kill_session(fb, "client closed before the session opened");
}

static const struct conn_handler opener_handler = {
    .client_data = no_body,
    .client_closed = opener_closed,
    .pause_output = post_output,
    .resume_output = post_output,
};

/* The raw value of parameter name in a query string, or NULL. Ids and
 * numbers need no decoding: an encoded one is simply not found. */
static const char *query_value(const char *q, size_t n, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    for (size_t at = 0; at < n;) {
        const char *amp = memchr(q + at, '&', n - at);
        size_t end = amp ? (size_t)(amp - q) : n;
        if (end - at > name_len && q[at + name_len] == '=' && memcmp(q + at, name, name_len) == 0) {
            *len = end - at - name_len - 1;
            return q + at + name_len + 1;
        }
        at = end + 1;
    }
    return NULL;
}

enum fallback_kind fallback_classify(const struct http_request *req, const char *query,
                                     size_t query_len)
{
    bool post = req->method_len == 4 && memcmp(req->method, "POST", 4) == 0;
    const struct http_header *h = http_header_find(req, "X-WSBridge");
    if (post && h && http_name_eq(h->value, h->value_len, "open")) return FALLBACK_OPEN;
    size_t n;
    if (query_value(query, query_len, "session", &n)) return post ? FALLBACK_POST : FALLBACK_STREAM;
    return FALLBACK_NONE;
}

static bool is_header(const struct http_header *h, const char *name)
{
    return http_name_eq(h->name, h->name_len, name);
}

void fallback_request_view(struct http_request *view, const struct http_request *req)
{
    struct http_request v = *req;
    v.method = "GET";
    v.method_len = 3;
    v.nheaders = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        struct http_header h = req->headers[i];
        if (is_header(&h, "X-WSBridge") || is_header(&h, "Sec-WebSocket-Protocol") ||
            is_header(&h, "Sec-WebSocket-Extensions") || is_header(&h, "Content-Length"))
            continue;
        if (is_header(&h, "X-WSBridge-Protocol")) {
            h.name = "Sec-WebSocket-Protocol";
            h.name_len = strlen(h.name);
        }
        v.headers[v.nheaders++] = h;
    }
    *view = v;
}

struct session *fallback_open(struct conn *c, size_t head_len, void *route)
{
    struct context *ctx = c->ctx;
    struct fb_table *t = table_of(ctx);
    struct fb_session *fb = t ? calloc(1, sizeof *fb) : NULL;
    if (fb) {
        fb->head = malloc(head_len);
        fb->request = strdup(c->request ? c->request : "-");
        fb->route_name = c->route_name ? strdup(c->route_name) : NULL;
        fb->user = c->remote_user ? strdup(c->remote_user) : NULL;
    }
    if (!fb || !fb->head || !fb->request || (c->route_name && !fb->route_name) ||
        (c->remote_user && !fb->user)) {
        if (fb) {
            free(fb->head);
            free(fb->request);
            free(fb->route_name);
            free(fb->user);
            free(fb);
        }
        ctx->route_done(ctx, route);
        conn_abort(c, "out of memory");
        return NULL;
    }
    fb->ctx = ctx;
    fb->route = route;
    fb->set = conn_session_settings(c);
    memcpy(fb->head, buf_head(&c->in), head_len);
    fb->head_len = head_len;
    snprintf(fb->addr, sizeof fb->addr, "%s", c->peer_addr);
    snprintf(fb->via, sizeof fb->via, "%s", c->via);
    fb->port = c->peer_port;
    fb->tls = c->ssl != NULL;
    fb->cert_verified = c->client_verified;
    snprintf(fb->cert_cn, sizeof fb->cert_cn, "%s", c->client_cn);
    fb->s.transport = SESSION_FALLBACK;
    fb->s.id = ++ctx->next_conn_id;
    fb->started = fb->last_activity = ev_now(ctx->loop);
    fb->first_id = fb->pumped = 1;
    fb->next_seq = 1;
    ev_init(&fb->expiry, on_expiry);
    ev_init(&fb->beat, on_beat);
    ev_init(&fb->idle, on_idle);
    const char *why = NULL;
    int status = 0;
    if (getrandom(fb->key, sizeof fb->key, GRND_NONBLOCK) != (ssize_t)sizeof fb->key) {
        status = 503;
        why = "no randomness for a session id yet";
    } else if (ctx->maxconn && ctx->nconns + t->n >= ctx->maxconn + 1) {
        status = 503;
        why = "too many connections and sessions (--maxconn)";
    } else if (ip_parse(fb->addr, strlen(fb->addr), &fb->ip) &&
               (ctx->set->maxconn_per_ip_set || !ip_is_loopback(&fb->ip))) {
        if (!ipcount_take(&ctx->per_ip, &fb->ip, ctx->set->maxconn_per_ip)) {
            status = 503;
            why = "too many connections from this address";
        } else {
            fb->ip_counted = true;
        }
    }
    if (!status && table_add(t, fb) < 0) {
        status = 503;
        why = "out of memory";
    }
    if (status) {
        fb->state = FB_DEAD;
        free_session(fb);
        conn_answer_error(c, status, why, "Retry-After: 1\r\n", true);
        return NULL;
    }
    for (size_t i = 0; i < ID_BYTES; i++) sprintf(fb->hex + 2 * i, "%02x", fb->key[i]);
    fb->state = FB_OPENING;
    fb->opener = c;
    conn_start_response(c, &opener_handler, fb, 0);
    return &fb->s;
}

bool fallback_request(const struct session *s, struct http_request *req)
{
    const struct fb_session *fb = fb_of(s);
    if (fb->state != FB_OPENING) return false;
    struct http_parser p;
    http_parser_init(&p);
    if (http_parse(&p, fb->head, fb->head_len, req) != (long)fb->head_len) return false;
    fallback_request_view(req, req);
    return true;
}

void fallback_ready(struct session *s)
{
    struct fb_session *fb = fb_of(s);
    if (fb->state != FB_OPENING) return;
    struct conn *c = fb->opener;
    fb->state = FB_OPEN;
    fb->opener = NULL;
    free(fb->head); /* session_request() is for the pending only */
    fb->head = NULL;
    char protocol[160] = "null";
    if (s->subprotocol && strlen(s->subprotocol) < 64) {
        protocol[0] = '"';
        size_t n = json_escape((const uint8_t *)s->subprotocol, strlen(s->subprotocol),
                               (uint8_t *)protocol + 1);
        snprintf(protocol + 1 + n, sizeof protocol - 1 - n, "\"");
    }
    char body[320];
    int n = snprintf(body, sizeof body,
                     "{\"session\":\"%s\",\"mode\":\"%s\",\"protocol\":%s,\"heartbeat\":%g}\n",
                     fb->hex, mode_name(s->mode), protocol, heartbeat_seconds(fb));
    static const char headers[] = "Content-Type: application/json\r\nCache-Control: no-store\r\n";
    struct log_fields f = log_fields_of(fb);
    session_log_connect(s, &f);
    start_expiry(fb, fb->set->fallback_timeout); /* for the first stream to come */
    if (fb->set->idle_timeout > 0) {
        ev_timer_set(&fb->idle, fb->set->idle_timeout, 0.);
        ev_timer_start(fb->ctx->loop, &fb->idle);
    }
    if (c) {
        conn_http_service(c);
        if (conn_queue_answer(c, 200, headers, body, (size_t)n, true)) conn_response_done(c, 200);
    }
    pump(fb); /* messages queued while it opened wait for a stream */
}

void fallback_refused(struct session *s, int http_status, const char *why)
{
    struct fb_session *fb = fb_of(s);
    if (fb->state != FB_OPENING) return;
    fb->s.handler = NULL; /* it has let go */
    fb->s.backend_data = NULL;
    struct conn *c = fb->opener;
    fb->opener = NULL;
    if (c) conn_response_error(c, http_status, why);
    kill_session(fb, why);
}

struct session_client fallback_client(const struct session *s)
{
    const struct fb_session *fb = fb_of(s);
    return (struct session_client){
        .addr = fb->addr,
        .port = fb->port,
        .tls = fb->tls,
        .user = fb->user,
        .cert_cn = fb->cert_verified ? fb->cert_cn : NULL,
    };
}

/* ---- the stream and the POST: finding the session ------------------------------------ */

/* The session c's request names, when c's client may use it; else NULL
 * after answering 404. */
static struct fb_session *find_for(struct conn *c, const struct http_request *req,
                                   const char *query, size_t query_len)
{
    size_t n = 0;
    const char *id = query_value(query, query_len, "session", &n);
    struct fb_session *fb = id ? table_find(c->ctx, id, n) : NULL;
    /* Bound to the client that opened it, on the same route. */
    if (fb && (fb->state == FB_DEAD || strcmp(fb->addr, c->peer_addr) != 0 ||
               fb->cert_verified != c->client_verified ||
               (fb->cert_verified && strcmp(fb->cert_cn, c->client_cn) != 0) ||
               (fb->route_name == NULL) != (c->route_name == NULL) ||
               (fb->route_name && strcmp(fb->route_name, c->route_name) != 0)))
        fb = NULL;
    if (!fb)
        conn_answer_error(c, 404, "no such session (unknown, expired or ended)", NULL,
                          !(req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0));
    return fb;
}

static bool is_method(const struct http_request *req, const char *m)
{
    return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

/* Where a stream resumes: Last-Event-ID, or last= in the query. Returns
 * false after answering a bad one. */
static bool resume_point(struct conn *c, const struct http_request *req, const char *query,
                         size_t query_len, bool *given, uint64_t *last)
{
    const struct http_header *h = http_header_find(req, "Last-Event-ID");
    size_t vlen = 0;
    const char *v = h ? h->value : query_value(query, query_len, "last", &vlen);
    if (h) vlen = h->value_len;
    long n = v ? (long)vlen : -1;
    const char *s = v;
    *given = n >= 0;
    if (!*given) return true;
    if (!sse_parse_id(s, (size_t)n, last)) {
        conn_answer_error(c, 400, "Last-Event-ID is not an event id", NULL, true);
        return false;
    }
    return true;
}

static void serve_stream(struct conn *c, const struct http_request *req, const char *query,
                         size_t query_len)
{
    if (!is_method(req, "GET")) {
        conn_answer_error(c, 405, NULL, "Allow: GET, POST\r\n", !is_method(req, "HEAD"));
        return;
    }
    if (http_has_body(req)) {
        conn_answer_error(c, 400, "an event stream request has no body", NULL, true);
        return;
    }
    bool given;
    uint64_t last = 0;
    if (!resume_point(c, req, query, query_len, &given, &last)) return;
    struct fb_session *fb = find_for(c, req, query, query_len);
    if (!fb) return;
    if (fb->state == FB_OPENING) {
        conn_answer_error(c, 409, "the session is still opening", NULL, true);
        return;
    }
    uint64_t from = fb->pumped;
    if (given) {
        if (last >= next_id(fb)) {
            conn_answer_error(c, 400, "Last-Event-ID is ahead of the session", NULL, true);
            return;
        }
        if (last + 1 < fb->first_id) {
            conn_answer_error(c, 410, "Last-Event-ID is older than the replay window", NULL, true);
            vanish(fb, "the client resumed past the replay window");
            return;
        }
        from = last + 1;
    }
    if (fb->stream) {
        struct conn *old = fb->stream;
        detach_stream(fb);
        conn_response_cut(old, "replaced by a newer event stream");
    }
    if (given) forget_through(fb, last); /* the client has them */
    fb->pumped = from;
    size_t plen = 0;
    const char *poll = query_value(query, query_len, "poll", &plen);
    fb->poll = poll && plen == 1 && poll[0] == '1';
    fb->stream = c;
    fb->stream_from = event_start(fb, from);
    fb->stream_bytes = 0;
    ev_timer_stop(fb->ctx->loop, &fb->expiry);
    conn_start_response(c, &stream_handler, fb, 0);
    if (c->state != CONN_RESPONDING) return;
    if (!fb->poll) {
        static const char headers[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                      "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n";
        const char *extra = conn_session_settings(c)->headers_http;
        const char *connection = conn_connection_header(c, 200); /* close: no length */
        if (buf_append(&c->out, headers, strlen(headers)) < 0 ||
            (extra && buf_append(&c->out, extra, strlen(extra)) < 0) ||
            buf_append(&c->out, connection, strlen(connection)) < 0 ||
            buf_append(&c->out, "\r\n", 2) < 0) {
            conn_abort(c, "out of memory");
            return;
        }
    }
    double beat = heartbeat_seconds(fb);
    if (fb->poll) {
        ev_timer_set(&fb->beat, beat ? beat : FALLBACK_POLL_MAX, 0.);
        ev_timer_start(fb->ctx->loop, &fb->beat);
    } else if (beat) {
        ev_timer_set(&fb->beat, beat, beat);
        ev_timer_start(fb->ctx->loop, &fb->beat);
    }
    log_debug(fb->s.id, "%s port %u: event stream from event %llu%s", fb->addr, fb->port,
              (unsigned long long)from, fb->poll ? " (long poll)" : "");
    pump(fb);
    if (fb->state == FB_OPEN) check_output(fb);
}

static bool content_type_is(const struct http_request *req, const char *type)
{
    const struct http_header *h = http_header_find(req, "Content-Type");
    if (!h) return false;
    size_t n = strlen(type);
    if (h->value_len < n || strncasecmp(h->value, type, n) != 0) return false;
    return h->value_len == n || h->value[n] == ';' || h->value[n] == ' ';
}

static void serve_post(struct conn *c, const struct http_request *req, const char *query,
                       size_t query_len)
{
    const char *why = NULL;
    int status = 0;
    const struct http_header *sh = http_header_find(req, "X-WSBridge-Session");
    long long len = http_content_length(req);
    uint64_t max = conn_session_settings(c)->maxmsgsize;
    const struct http_header *expect = http_header_find(req, "Expect");
    if (!content_type_is(req, "application/vnd.wsbridge.msgs") || !sh) {
        status = 415;
        why = "messages come as application/vnd.wsbridge.msgs with X-WSBridge-Session";
    } else if (http_header_find(req, "Transfer-Encoding") ||
               !http_header_find(req, "Content-Length")) {
        status = 411;
        why = "a message POST needs a Content-Length";
    } else if (len < 0) {
        status = 400;
        why = "unreadable Content-Length";
    } else if (max && (uint64_t)len > max + FALLBACK_BODY_SLACK) {
        status = 413;
        why = "the body is larger than --maxmsgsize";
    } else if (expect && !http_name_eq(expect->value, expect->value_len, "100-continue")) {
        status = 417;
        why = "only 'Expect: 100-continue' is understood";
    }
    if (status) {
        conn_answer_error(c, status, why, NULL, true);
        return;
    }
    struct fb_session *fb = find_for(c, req, query, query_len);
    if (!fb) return;
    if (sh->value_len != ID_HEX || CRYPTO_memcmp(sh->value, fb->hex, ID_HEX) != 0) {
        conn_answer_error(c, 415, "X-WSBridge-Session is not the session of the query", NULL, true);
        return;
    }
    if (fb->state != FB_OPEN) {
        conn_answer_error(c, fb->state == FB_OPENING ? 409 : 404,
                          fb->state == FB_OPENING ? "the session is still opening"
                                                  : "no such session (it has ended)",
                          NULL, true);
        return;
    }
    if (fb->post) { /* a retry while the first is stuck: this one carries on */
        struct conn *old = fb->post;
        fb->post = NULL;
        fb->pending = 0;
        conn_response_error(old, 409, "replaced by a newer POST");
    }
    if (expect && buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0) {
        conn_abort(c, "out of memory");
        return;
    }
    fbm_parser_init(&fb->fp, max);
    fb->body_seq = 0;
    fb->in_record = false;
    fb->pending = fb->pending_skip = 0;
    fb->post = c;
    if (len == 0) {
        conn_start_response(c, &post_handler, fb, 0);
        if (c->state == CONN_RESPONDING) answer_next(c, fb);
        return;
    }
    conn_start_response(c, &post_handler, fb, (uint64_t)len);
}

void fallback_serve(struct conn *c, const struct http_request *req, enum fallback_kind kind,
                    const char *query, size_t query_len)
{
    if (kind == FALLBACK_POST)
        serve_post(c, req, query, query_len);
    else
        serve_stream(c, req, query, query_len);
}
