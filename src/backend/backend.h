/* What a backend (exec, proxy; later shared) implements, and what it may
 * call on its connection. The connection owns the client socket; the
 * backend owns whatever is on the other side. */
#ifndef WSB_BACKEND_H
#define WSB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct http_request;
struct ws_event;

enum backend_start {
    BACKEND_READY,   /* answer 101 now */
    BACKEND_PENDING, /* the backend calls conn_backend_ready() or conn_backend_refused() */
    BACKEND_REFUSED, /* see struct backend_refusal */
};

struct backend_refusal {
    int http_status; /* the answer, or 0: accept the WebSocket, then close it with 1011 */
    char why[256];   /* logged, and the body of an HTTP answer */
};

struct backend_ops {
    const char *name;
    /* The handshake is valid. The backend may pick c->subprotocol. */
    enum backend_start (*start)(struct conn *c, const struct http_request *req,
                                struct backend_refusal *refusal);
    /* A chunk of a client message (a WS_EV_DATA event). Returns true when all
     * of it was taken. Otherwise *taken says how much was, the connection
     * keeps the rest and stops reading until conn_resume_input(). */
    bool (*client_data)(struct conn *c, const struct ws_event *ev, size_t *taken);
    /* The client closed or was lost (also while PENDING). The backend lets go
     * of the connection at once (it may live on to end its own side) and
     * never calls it again. */
    void (*client_closed)(struct conn *c);
    /* The queue towards the client passed its high-water mark: stop producing. */
    void (*pause_output)(struct conn *c);
    /* ... and drained below the low-water mark: produce again. */
    void (*resume_output)(struct conn *c);
    /* The server is stopping: end the other side, deliver what it still
     * sends, then call conn_backend_finished() with 1001. NULL: the
     * connection closes with 1001 at once. */
    void (*shutdown)(struct conn *c);
    /* Optional: the data events of one read from the client have been
     * handed over; write what client_data() gathered. */
    void (*input_done)(struct conn *c);
};

extern const struct backend_ops exec_backend;
extern const struct backend_ops proxy_backend;
extern const struct backend_ops shared_backend;

#endif
