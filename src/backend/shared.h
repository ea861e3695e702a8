/* --shared: one COMMAND for every connection. Each line (or, with --binary,
 * each read) it prints is encoded once and goes to every client; each client
 * message becomes one line on its stdin. */
#ifndef WSB_SHARED_H
#define WSB_SHARED_H

#include <stddef.h>

struct server;

/* Set up the hub; with --shared=eager, start COMMAND now. Returns 0, or -1
 * with the reason in err. */
int shared_setup(struct server *srv, char *err, size_t errlen);

/* The server is stopping: end COMMAND (stdin closed, then signals), deliver
 * what it still prints, then close every client with 1001. */
void shared_stop(struct server *srv);

/* Second signal or deadline: SIGKILL COMMAND's process group. */
void shared_kill(struct server *srv);

/* At exit: reap and free everything. */
void shared_teardown(struct server *srv);

#endif
