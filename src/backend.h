/* What a backend (exec, later proxy and shared) implements, and what it may
 * call on its connection. The connection owns the client socket; the backend
 * owns whatever is on the other side. */
#ifndef WSB_BACKEND_H
#define WSB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct http_request;
struct ws_event;

struct backend_ops {
    const char *name;
    /* The handshake is valid and the 101 is about to be sent. Returns 0, or
     * -1 with a reason in err: the client then gets close 1011 at once. */
    int (*start)(struct conn *c, const struct http_request *req, char *err, size_t errlen);
    /* A chunk of a client message (a WS_EV_DATA event). Returns true when all
     * of it was taken. Otherwise *taken says how much was, the connection
     * keeps the rest and stops reading until conn_resume_input(). */
    bool (*client_data)(struct conn *c, const struct ws_event *ev, size_t *taken);
    /* The client closed or was lost. The backend lets go of the connection at
     * once (it may live on to end its own resources) and never calls it again. */
    void (*client_closed)(struct conn *c);
    /* The queue towards the client passed its high-water mark: stop producing. */
    void (*pause_output)(struct conn *c);
    /* ... and drained below the low-water mark: produce again. */
    void (*resume_output)(struct conn *c);
};

extern const struct backend_ops exec_backend;

#endif
