/* Starting a program with its stdin, stdout and stderr on pipes: the one
 * place that knows how (exec mode, shared mode). */
#ifndef WSB_LAUNCH_H
#define WSB_LAUNCH_H

#include <sys/types.h>

struct launched {
    pid_t pid;                 /* also its process group id */
    int in_fd, out_fd, err_fd; /* our ends: non-blocking, close-on-exec */
};

/* posix_spawn path in its own process group, with default signal
 * dispositions, an empty signal mask and no descriptor but the three pipes.
 * Returns 0, or an errno value (nothing is left open then). */
int launch_with_pipes(const char *path, char *const *argv, char **envp, struct launched *child);

#endif
