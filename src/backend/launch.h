/* Starting a program with its stdin, stdout and stderr on pipes, feeding
 * its stdin and logging its stderr: the one place that knows how (exec
 * mode, shared mode). */
#ifndef WSB_LAUNCH_H
#define WSB_LAUNCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/settings.h"
#include "base/buf.h"

struct launched {
    pid_t pid;                 /* also its process group id */
    int in_fd, out_fd, err_fd; /* our ends: non-blocking, close-on-exec */
    bool pty;                  /* out_fd is a pty's master (it reads EIO at the end) */
};

/* How stdio is set up, beyond three pipes. */
struct launch_how {
    bool line_buffer; /* libstdbuf.so preloaded, stdout line-buffered (stdbuf -oL) */
    bool pty;         /* stdout on a raw pseudo-terminal (backend/pty.h) */
    const char *dir;  /* the working directory it starts in, or NULL: the daemon's */
};

/* Reserve the descriptors the fast way of starting commands needs; call it
 * at start-up, while few descriptors are open (see launch.c). Calls after
 * the first do nothing. */
void launch_reserve_slots(void);

/* What the options (--line-buffer, --pty) ask for. */
struct launch_how launch_how_of(const struct backend_settings *set);

/* Start path in its own process group, with default signal
 * dispositions, an empty signal mask and no descriptor but its stdin,
 * stdout and stderr: three pipes, or with how->pty stdout on a terminal.
 * how may be NULL. Returns 0, or an errno value (nothing is left open then). */
int launch_with_pipes(const char *path, char *const *argv, char **envp,
                      const struct launch_how *how, struct launched *child);

/* coreutils' libstdbuf.so for --line-buffer: where configure found it, or
 * where Debian and others install it; NULL when it is nowhere. */
const char *launch_stdbuf_library(void);

/* Whether how can be done on this machine (a backend's setup asks, so a
 * start-up or reload fails with the reason): 0, or -1 with err set. */
int launch_check(const struct launch_how *how, char *err, size_t errlen);

/* Read what is in a child's stderr pipe and hand it to line() one line at a
 * time (without its "\n" or "\r\n"; longer lines cut at LAUNCH_ERR_LINE_MAX).
 * partial keeps an unfinished line. Returns false at EOF or on an error,
 * after handing over what was left: the caller closes the pipe. */
#define LAUNCH_ERR_LINE_MAX 4096
bool launch_read_stderr(int fd, struct buf *partial,
                        void (*line)(void *arg, const uint8_t *p, size_t n), void *arg);

/* Log a line of stderr as "LABEL: text" under connection id (0: the server). */
void launch_log_line(uint64_t id, const char *label, const uint8_t *p, size_t n);

/* launch_read_stderr() that only logs (what a line() of the server's does). */
bool launch_log_stderr(int fd, struct buf *partial, uint64_t id, const char *label);

/* Write queued bytes to a non-blocking pipe or socket. Returns 0 when all
 * are out (q is freed), 1 when it would block (the rest stays queued), or
 * -1 with errno set when the other side is gone. */
int launch_write_queue(int fd, struct buf *q);

#endif
