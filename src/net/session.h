/* A session: what a backend serves, one client's exchange of messages,
 * apart from the transport that carries them (doc/HACKING.md, "Sessions and
 * transports"). Today the only transport is the WebSocket connection, and
 * struct session is the first member of its struct conn. */
#ifndef WSB_SESSION_H
#define WSB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct compress_settings;
struct http_request;
struct log_fields;
struct sq_block;

enum session_transport {
    SESSION_WEBSOCKET, /* struct conn */
    SESSION_FALLBACK,  /* net/fallback.c: HTTP requests */
};

struct session;

/* A chunk of a client message. */
struct session_chunk {
    uint8_t type;     /* SESSION_TEXT or SESSION_BINARY, for every chunk of the message */
    bool first, last; /* the message's first chunk; its last */
    uint8_t *data;    /* the bytes (the backend may change them in place) */
    size_t len;
};

/* What a session calls on the backend serving it (backend/backend.h has
 * the rest of a backend); s->backend_data is the backend's own. */
struct session_handler {
    /* A chunk of a client message. Returns true when all of it was taken.
     * Otherwise *taken says how much was: the session keeps the rest and
     * takes no more from the client until session_resume_input(). */
    bool (*client_data)(struct session *s, const struct session_chunk *m, size_t *taken);
    /* The client closed or was lost (also while PENDING). The backend lets
     * go of the session at once (it may live on to end its own side) and
     * never calls it again. */
    void (*client_closed)(struct session *s);
    /* The queue towards the client passed its high-water mark: stop producing. */
    void (*pause_output)(struct session *s);
    /* ... and drained below the low-water mark: produce again. */
    void (*resume_output)(struct session *s);
    /* The server is stopping: end the other side, deliver what it still
     * sends, then session_finish() with 1001. NULL: the session closes with
     * 1001 at once. */
    void (*shutdown)(struct session *s);
    /* Optional: the chunks of one read from the client have been handed
     * over; write what client_data() gathered. */
    void (*input_done)(struct session *s);
};

struct session {
    uint64_t id; /* the connection's number in the logs */
    /* The backend serving the session, and its own data; NULL before a
     * backend starts and after it let go. */
    const struct session_handler *handler;
    void *backend_data;
    const char *subprotocol; /* chosen by the backend, or NULL */
    uint8_t mode;            /* the backend's enum metric_mode (--metrics-path) */
    uint8_t transport;       /* enum session_transport */
    char target[128];        /* for the access log: what the backend is (a pid, a host:port) */
    /* For the access log and the metrics, whatever the transport. */
    uint64_t msgs_in, msgs_out;
    uint64_t bytes_in, bytes_out; /* message payload bytes (a plain request's body, for CGI) */
    uint16_t close_code;          /* the code that ended the session */
    const char *closed_by;        /* "client", "server", or NULL */
};

/* Who the client is, for a backend's environment and logs. The strings
 * live as long as the session; NULL when not known. */
struct session_client {
    const char *addr; /* the client's address (named by a trusted proxy, or the peer) */
    unsigned port;
    bool tls;            /* reached us over TLS */
    const char *user;    /* Basic auth */
    const char *cert_cn; /* --sslca: the verified client certificate's CN */
};

/* Messages: b0 is SESSION_FIN (the last fragment) or'ed with the type of
 * the first fragment, SESSION_TEXT or SESSION_BINARY, or SESSION_CONT for
 * a later one. The values are WebSocket's (RFC 6455, 5.2), so the
 * WebSocket transport uses them as they are. */
#define SESSION_FIN    0x80
#define SESSION_CONT   0x0
#define SESSION_TEXT   0x1
#define SESSION_BINARY 0x2
/* The size a backend reads into session_space() at a time: with the
 * transport's header it fills 64 KiB. */
#define SESSION_READ_MAX (65536 - 4)

/* Queue one message or fragment (copied). Returns 0, or -1 when the session
 * failed (out of memory); it is then already ending. */
int session_send(struct session *s, uint8_t b0, const void *p, size_t n);

/* Room for exactly n payload bytes of one message or fragment, to be
 * written there before session_send_commit(s, n). NULL: as -1 above. */
uint8_t *session_send_begin(struct session *s, uint8_t b0, size_t n);
void session_send_commit(struct session *s, size_t n);

/* Room for up to max (at most 65535) bytes read straight into the
 * queue; once n are there, session_space_commit() makes them one message or
 * fragment, never copied. session_space_abandon(): nothing came after all.
 * NULL: as -1 above. */
uint8_t *session_space(struct session *s, size_t max);
void session_space_commit(struct session *s, uint8_t b0, size_t n);
void session_space_abandon(struct session *s);

/* Whether session_splice() can be used now (false on transports that
 * cannot, and whenever the bytes must pass through user space). */
bool session_can_splice(const struct session *s);
/* Move up to max bytes from the socket fd to the client as one binary
 * message without copying them. Returns the length queued, 0 at EOF of fd,
 * or -1 with errno (EAGAIN: nothing to read; ENOTSUP: use the copying path
 * this time; others: fd failed). */
ssize_t session_splice(struct session *s, int fd, size_t max);

/* Send what is queued now. It calls the handler's pause_output() above the
 * high-water mark and resume_output() below the low one. */
void session_flush(struct session *s);

/* Bytes queued for the client and not yet sent. */
size_t session_queued(const struct session *s);

/* --shared: queue a block of complete messages (msgs of them, payload
 * bytes; net/sharedq.h) made once for many clients, after what is queued:
 * zblock instead of block when it is not NULL and the session can take
 * messages compressed once with zset (see session_shared_compression()).
 * Returns the bytes now queued for the client, or -1 (out of memory: the
 * session is aborted). */
long session_queue_shared(struct session *s, struct sq_block *block, struct sq_block *zblock,
                          const struct compress_settings *zset, unsigned msgs, size_t payload);
/* --shared: the compression settings with which this session can take a
 * message compressed once for every client, or NULL when it cannot. */
const struct compress_settings *session_shared_compression(const struct session *s);
/* --shared: forget the blocks not yet started (a client too slow to keep). */
void session_drop_shared(struct session *s);

/* The backend can take client messages again (after it took part of one). */
void session_resume_input(struct session *s);
/* Client data waits for the backend to take it. */
bool session_input_held(const struct session *s);

/* End the session with this close code and reason, after what is queued.
 * The handler's client_closed() is called before this returns. */
void session_close(struct session *s, uint16_t code, const char *reason);
/* The same, for a backend that has already let go: no call back. */
void session_finish(struct session *s, uint16_t code, const char *reason);
/* Drop the session now, without a close sequence (why is logged). The
 * handler's client_closed() is called. */
void session_abort(struct session *s, const char *why);
/* The session is open: messages can be queued and none was closed yet. */
bool session_is_open(const struct session *s);

/* While the backend's start() is PENDING: it is ready (the session opens),
 * it failed (this HTTP status answers instead), or it needs the opening
 * request again (parsed into req, which points into the session's memory;
 * false when the session is not pending). */
void session_ready(struct session *s);
void session_refused(struct session *s, int http_status, const char *why);
bool session_request(const struct session *s, struct http_request *req);

/* Who the client is. */
struct session_client session_client(const struct session *s);

/* The extensions agreed for the session, as a Sec-WebSocket-Extensions
 * value written into buf (size n), or NULL when none were. */
const char *session_extensions(const struct session *s, char *buf, size_t n);

/* The access log's CONNECT and DISCONNECT lines of a session, the same for
 * every transport: f says who the client is and what it asked (peer, port,
 * via, request, route, user, cert CN; duration for DISCONNECT), the session
 * the rest. */
void session_log_connect(const struct session *s, struct log_fields *f);
void session_log_disconnect(const struct session *s, struct log_fields *f, const char *why);

#endif
