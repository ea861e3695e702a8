/* One client connection: handshake, plain HTTP answers, the WebSocket
 * session, flow control and the one way out (conn_abort / the close
 * handshake). */
#ifndef WSB_CONN_H
#define WSB_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/log.h"
#include "net/session.h"
#include "net/sharedq.h"
#include "proto/cidr.h"
#include "proto/http.h"
#include "proto/ws.h"
#include "net/settings.h"

struct conn;
struct context;
struct compress_state;
typedef struct ssl_st SSL;

/* What a connection in RESPONDING calls on the backend making a plain
 * HTTP answer (CGI; a WebSocket session's backend has a struct
 * session_handler instead); c->s.backend_data is the backend's own. */
struct conn_handler {
    /* Request body bytes (as a WS_EV_DATA event: first and last set for
     * the body's ends). Returns true when all of it was taken. Otherwise
     * *taken says how much was: the connection keeps the rest and stops
     * reading until conn_resume_input(). */
    bool (*client_data)(struct conn *c, const struct ws_event *ev, size_t *taken);
    /* The client was lost before the answer's end. The backend lets go of
     * the connection at once and never calls it again. */
    void (*client_closed)(struct conn *c);
    /* The queue towards the client passed its high-water mark: stop producing. */
    void (*pause_output)(struct conn *c);
    /* ... and drained below the low-water mark: produce again. */
    void (*resume_output)(struct conn *c);
};

/* Flow control of the queue towards the client (bytes). */
#define CONN_OUT_HIGH (256 * 1024)  /* stop the backend above this */
#define CONN_OUT_LOW  (64 * 1024)   /* let it go again below this */
#define CONN_OUT_HARD (1024 * 1024) /* stop reading the client too (pong floods) */

#define CONN_CLOSE_TIMEOUT 5.0 /* seconds for the peer to close once all is sent */
#define CONN_SEND_TIMEOUT                                                                          \
    60.0 /* seconds without progress sending a last answer                                         \
            (HTTP, or what precedes our close frame) */

enum conn_state {
    CONN_PROXY_HEADER,  /* --proxy-protocol: the header from a trusted proxy comes first */
    CONN_PEEK,          /* --ssl=auto: the first byte says TLS or not */
    CONN_TLS_HANDSHAKE, /* --ssl */
    CONN_HANDSHAKE,     /* reading a request head (or, kept alive, waiting for the next one) */
    CONN_HTTP,          /* sending a plain HTTP answer (error or file) */
    CONN_RESPONDING,    /* a backend (CGI) makes the plain HTTP answer; the body goes to it */
    CONN_CONNECTING,    /* upgrade accepted, waiting for the backend before the 101 */
    CONN_OPEN,          /* WebSocket open */
    CONN_CLOSING,       /* our close frame is queued behind what is left to send */
    CONN_LINGER,        /* all sent and our side shut: read until EOF so nothing is reset */
    CONN_DEAD,          /* closed; freed once the current callback returns */
};

struct conn {
    /* First, so that a session's transport is found from it for free. */
    struct session s;
    struct context *ctx;
    struct conn *prev, *next; /* the context's list (or graveyard when dead) */
    int fd;
    enum conn_state state;
    ev_io rio, wio;
    ev_timer timer;          /* handshake, ping (OPEN), send and close deadlines */
    ev_timer idle;           /* --idle-timeout */
    ev_tstamp last_activity; /* last message either way */
    bool awaiting_pong;
    char peer_addr[INET6_ADDRSTRLEN]; /* the client (behind trusted proxies) */
    unsigned peer_port;
    char via[INET6_ADDRSTRLEN]; /* the trusted proxy it came through, or "" */
    bool from_trusted_proxy;
    bool redirect;   /* accepted on --redirport */
    bool ip_counted; /* counted_ip holds one --maxconn-per-ip slot */
    struct ip_addr counted_ip;
    ev_tstamp started;

    SSL *ssl; /* NULL on plain connections */
    bool tls_hs_wants_write, tls_read_wants_write, tls_write_wants_read;
    char client_cn[128];  /* --sslca: the client certificate's subject CN */
    bool client_verified; /* --sslca: the client presented a certificate (verified) */
    char *remote_user;    /* Basic auth: who this is */

    struct buf in; /* the request head; later client bytes the backend could not take yet */
    struct http_parser hp;
    struct buf out;       /* bytes for the client */
    struct sq shared_out; /* --shared: broadcast blocks, after a started one and c->out */
    struct ws_parser wp;
    struct ws_event held; /* the message chunk waiting for the backend (its bytes head `in`) */
    bool have_held;
    bool output_paused;                   /* backend told to stop producing */
    const struct conn_handler *responder; /* RESPONDING: the backend making the answer */

    /* Set by the routing callback: the route's session settings and what
     * keeps them alive (ctx->route_done(ctx, route) is called when the
     * connection is freed); until then the context's current ones apply. */
    const struct session_settings *settings;
    void *route;
    const char *route_name;          /* for the logs: the route's path, or NULL */
    bool timer_fired;                /* the handshake's deadline passed (--metrics-path) */
    struct compress_state *compress; /* permessage-deflate agreed (net/compress.h), or NULL */
    uint8_t begun_b0;                /* conn_send_begin()'s frame, compressed at the commit */
    size_t head_len;                 /* the current request's head bytes at the start of `in` */

    /* HTTP keep-alive: after a plain answer the connection may wait for
     * another request (conn_connection_header() decides). */
    bool keep_wanted;         /* this request allows it: asked for, no upgrade, no chunks */
    bool body_unread;         /* its body is not all read: the next request is not found */
    bool http_service;        /* the plain HTTP side answers it (conn_http_service) */
    bool keep_alive;          /* the answer being sent said "Connection: keep-alive" */
    bool between_requests;    /* kept alive, no byte of the next request yet */
    bool answered;            /* an answer is out, its request not yet forgotten */
    bool client_from_request; /* peer_addr came from this request (X-Forwarded-For) */
    bool counted_by_request;  /* ... and so did the --maxconn-per-ip slot */

    /* CONN_RESPONDING: the request body still to come, handed to the backend
     * as WS_EV_DATA events (opcode 0, first and last set). */
    uint64_t body_left;
    bool body_started;
    bool offering_body; /* in the backend's client_data: a next request waits for its return */

    int file_fd; /* static file being sent, or -1 */
    off_t file_pos, file_end;

    /* A payload spliced from a backend socket (conn_splice_message): it goes
     * out after the first out_before_pipe bytes of `out`. */
    int pipe[2];
    size_t piped, out_before_pipe;

    /* for the access log */
    char *request; /* "GET /path" */
    int status;
    bool close_sent, close_received;
};

/* Two printf arguments for "%s%s" in access lines: " route /path" when a
 * route served c, else nothing. */
#define ROUTE_NOTE(c) ((c)->route_name ? " route " : ""), ((c)->route_name ? (c)->route_name : "")

/* The access-log fields for --log-format=json that say who c is and what it
 * asked (peer, port, via, request, route, user, cert CN, status); duration
 * holds the seconds since its request began (the connection's accept for
 * its first one), for the caller to add with LOGF_DURATION. */
struct log_fields conn_log_fields(const struct conn *c, const char *event);

/* The session settings that apply to c now. */
const struct session_settings *conn_session_settings(const struct conn *c);

/* Take ownership of an accepted, non-blocking socket. counted: the address
 * whose --maxconn-per-ip slot this connection holds (released with it). */
void conn_new(struct context *ctx, int fd, const struct sockaddr *peer, bool redirect,
              const struct ip_addr *counted);

/* The client is this address (named by a trusted proxy), or, with NULL, the
 * socket's peer itself: apply --allow/--deny and --maxconn-per-ip to it.
 * Returns false after refusing (an HTTP answer once a request was read). */
bool conn_set_client(struct conn *c, const struct ip_addr *client, unsigned port);

/* --- for http/request.c --- */

/* The current request is answered by the plain HTTP side (a file, the
 * dev console, --health-path): its answer may keep the connection open for
 * the next request. Any other answer closes it. */
void conn_http_service(struct conn *c);

/* The Connection header line for the answer being made to the current
 * request ("Connection: keep-alive\r\n" or "Connection: close\r\n"):
 * keep-alive when the request was marked with conn_http_service(), asked
 * to be kept (HTTP/1.1 without "Connection: close", HTTP/1.0 with
 * "Connection: keep-alive"), has no body and is no upgrade, the status
 * leaves the connection in a clear state (http_status_keeps_connection),
 * --keepalive-timeout is not 0, the port is not --redirport's and the
 * server is not stopping. conn_send_answer() then acts on it. */
const char *conn_connection_header(struct conn *c, int status);

/* Queue a small whole answer in c->out: the status line, Content-Length,
 * headers (lines ending in CRLF), the route's headers for plain answers,
 * the Connection header conn_connection_header() gives, and body (len
 * bytes) unless with_body is false (HEAD). False when out of memory (c is
 * then aborted). */
bool conn_queue_answer(struct conn *c, int status, const char *headers, const void *body,
                       size_t len, bool with_body);

/* Send the answer queued in c->out (status for the log); then, when its
 * Connection header said keep-alive, read the next request (one already
 * received first), else close. */
void conn_send_answer(struct conn *c, int status);

/* Queue and send an error answer (see http_append_error()), with the
 * Connection header conn_connection_header() gives. */
void conn_answer_error(struct conn *c, int status, const char *why, const char *extra,
                       bool with_body);

/* A backend makes the answer to this plain HTTP request (CGI): c becomes
 * RESPONDING, served by handler (its client_data gets the body_len bytes
 * of the request body, client_closed tells of a client gone before the
 * end, pause_output/resume_output follow the queue towards the client). With a body the request
 * head is released first (such a connection closes after its answer); without one it stays in c->in
 * until the answer is done. The backend queues the answer in c->out and calls conn_flush(). */
void conn_start_response(struct conn *c, const struct conn_handler *handler, void *data,
                         uint64_t body_len);

/* The backend's answer is all in c->out (status for the log and the
 * metrics): it lets go of c, which sends the rest and then, as the answer's
 * Connection header said, reads the next request or closes. */
void conn_response_done(struct conn *c, int status);

/* The backend cannot make its answer after all (nothing of it is queued):
 * it lets go of c, which answers this error and closes. */
void conn_response_error(struct conn *c, int status, const char *why);

/* The backend cannot finish an answer already begun (why is logged): it
 * lets go of c, which sends what is queued and then closes gracefully, so
 * the client sees the answer cut short rather than a reset that could
 * destroy the bytes before it. */
void conn_response_cut(struct conn *c, const char *why);

/* The 101 is queued: start the WebSocket session. */
void conn_open_session(struct conn *c);

/* The 101 is queued, the backend is still connecting. */
void conn_wait_for_backend(struct conn *c);

/* Close at once: no close handshake, backend released, freed after the
 * current callback. `why` is logged. */
void conn_abort(struct conn *c, const char *why);

/* Free a dead connection (the server's sweeper does this). */
void conn_free(struct conn *c);

/* Start the close handshake with this code and reason. */
void conn_ws_close(struct conn *c, uint16_t code, const char *reason);

/* --- calls for backends --- */

/* Whether conn_splice_message() can be used now: a plain socket with no
 * spliced payload still waiting, and no compression agreed. */
bool conn_can_splice(const struct conn *c);

/* Move up to max bytes (at most WS_PAYLOAD_64K) from the socket fd to the
 * client as one binary message, through a pipe, so they are never copied
 * into user space. Returns the payload length queued, 0 at EOF of fd, or -1
 * with errno (EAGAIN: nothing to read now; others: fd failed, or no pipe
 * could be had: ENOTSUP then, and the copying path must be used). */
ssize_t conn_splice_message(struct conn *c, int fd, size_t max);

/* Queue one frame (b0 = WS_FIN | opcode). Returns 0, or -1 if the
 * connection failed (out of memory); it is then already closing. */
int conn_send(struct conn *c, uint8_t b0, const void *payload, size_t len);

/* Queue a frame header for len payload bytes and return where to write
 * them; conn_send_commit() once written. NULL if the connection failed. */
uint8_t *conn_send_begin(struct conn *c, uint8_t b0, size_t len);
void conn_send_commit(struct conn *c, size_t len);

/* Zero-copy framing for payloads read straight into the queue: room for up
 * to max (at most 65535) bytes; once n are written there,
 * conn_frame_commit() puts the frame header in front of them. NULL if the
 * connection failed. */
uint8_t *conn_frame_space(struct conn *c, size_t max);
void conn_frame_commit(struct conn *c, uint8_t b0, size_t n);
/* Nothing was read into the space after all: an empty queue holds no memory. */
void conn_frame_abandon(struct conn *c);

/* The responder's resume_output() is called once the queue is at or below
 * the low-water mark, even if it never passed the high one (a backend that
 * feeds the queue from a store of its own, the fallback's stream). */
void conn_want_drained(struct conn *c);

/* Write what is queued; manages pause/resume of the backend. */
void conn_flush(struct conn *c);

/* --shared: queue a block of complete frames (msgs messages, payload bytes)
 * made once for many clients; it goes out after what is queued. Returns
 * what is now queued for the client in bytes, or -1 (out of memory: the
 * connection is aborted). */
long conn_queue_shared(struct conn *c, struct sq_block *b, unsigned msgs, size_t payload);

/* Bytes queued for the client (own and shared). */
size_t conn_queued(const struct conn *c);

/* --shared: forget the shared blocks not yet started (a client too slow to
 * keep, about to be closed). */
void conn_drop_shared(struct conn *c);

/* The server is stopping: the backend ends its side and delivers what it
 * still has before the close (1001); without that ability, close at once. */
void conn_shutdown(struct conn *c);

/* The backend has nothing more to say: deliver what is queued, then close. */
void conn_backend_finished(struct conn *c, uint16_t code, const char *reason);

/* The backend can take client data again. */
void conn_resume_input(struct conn *c);

/* A PENDING backend is ready: send the 101 and start the session. */
void conn_backend_ready(struct conn *c);

/* A PENDING backend needs its request again: its head stays at the start
 * of c->in, and nothing more is read, until the session opens. Parse it
 * into req (which points into c->in). False when c is not waiting. */
bool conn_pending_request(const struct conn *c, struct http_request *req);

/* A PENDING backend failed: answer with this HTTP status instead of 101. */
void conn_backend_refused(struct conn *c, int http_status, const char *why);

#endif
