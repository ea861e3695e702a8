/* --workers=N: N processes, each with its own event loop and its own
 * SO_REUSEPORT listeners (the kernel spreads connections over them), and
 * this process watching them: it restarts a worker that dies, forwards
 * SIGTERM, SIGINT and SIGHUP, and speaks to systemd for them. */
#ifndef WSB_SUPERVISOR_H
#define WSB_SUPERVISOR_H

#include <stdbool.h>

/* Fork the workers. Returns true in a worker, which goes on starting the
 * server (and calls supervisor_worker_ready() once it listens). In the
 * supervisor it returns false once every worker is gone after a stop, with
 * the exit status in *status. */
bool supervisor_run(unsigned nworkers, int *status);

/* In a worker: listening; the supervisor reports READY=1 when all are. */
void supervisor_worker_ready(void);

#endif
