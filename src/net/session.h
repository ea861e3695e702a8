/* A session: what a backend serves, one client's exchange of messages,
 * apart from the transport that carries them (doc/HACKING.md, "Sessions and
 * transports"). Today the only transport is the WebSocket connection, and
 * struct session is the first member of its struct conn. */
#ifndef WSB_SESSION_H
#define WSB_SESSION_H

#include <stdint.h>

struct conn_handler;

struct session {
    uint64_t id; /* the connection's number in the logs */
    /* The backend serving the session, and its own data; NULL before a
     * backend starts and after it let go. */
    const struct conn_handler *handler;
    void *backend_data;
    const char *subprotocol; /* chosen by the backend, or NULL */
    uint8_t mode;            /* the backend's enum metric_mode (--metrics-path) */
    char target[128];        /* for the access log: what the backend is (a pid, a host:port) */
};

#endif
