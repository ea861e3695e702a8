/* The exec backend's process bookkeeping, for server start and shutdown. */
#ifndef WSB_EXEC_H
#define WSB_EXEC_H

struct server;

/* SIGKILL every tracked child's process group (second signal, deadline). */
void exec_kill_all(struct server *srv);

/* Forget every tracked child at exit, reaping the ones already dead. */
void exec_free_all(struct server *srv);

#endif
