/* Pipes for splice(): a connection holds one only while bytes sit in it,
 * and empty ones wait in a small pool for the next, so idle connections
 * cost no descriptors and no pipe pages. */
#ifndef WSB_PIPEPOOL_H
#define WSB_PIPEPOOL_H

/* Pipes open at once, in use or pooled (each two descriptors, set aside
 * from the open-file limit before --maxconn's default is derived); past
 * it, bytes are copied instead. */
#define PIPEPOOL_MAX_PIPES 64

/* An empty non-blocking pipe ([0] read end, [1] write end), from the pool
 * or new. Returns 0, or -1 with errno (EMFILE past PIPEPOOL_MAX_PIPES). */
int pipepool_take(int p[2]);

/* Back to the pool (it must be empty), or closed when the pool is full.
 * Sets both ends to -1. */
void pipepool_give(int p[2]);

/* Close a pipe that may still hold bytes. Sets both ends to -1. */
void pipepool_drop(int p[2]);

/* Close every pooled pipe (at exit). */
void pipepool_clear(void);

#endif
