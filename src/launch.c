#include "autoconfig.h"

#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

static int make_pipe(int fds[2], int our_end)
{
    if (pipe2(fds, O_CLOEXEC) < 0) return -1;
    int fl = fcntl(fds[our_end], F_GETFL);
    if (fl < 0 || fcntl(fds[our_end], F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fds[0]);
        close(fds[1]);
        fds[0] = fds[1] = -1;
        return -1;
    }
    return 0;
}

static int spawn(const char *path, char *const *argv, char **envp, const int in[2],
                 const int out[2], const int err[2], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, err[1], 2);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
    /* Descriptors the daemon inherited without CLOEXEC must not reach the child either. */
    if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    if (!rc)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF);
    if (!rc) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (!rc) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (!rc) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc) rc = posix_spawn(pid, path, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

int launch_with_pipes(const char *path, char *const *argv, char **envp, struct launched *child)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    int rc = 0;
    if (make_pipe(pin, 1) < 0 || make_pipe(pout, 0) < 0 || make_pipe(perr, 0) < 0) rc = errno;
    if (!rc) rc = spawn(path, argv, envp, pin, pout, perr, &child->pid);
    /* The child's ends belong to the child now (or to nobody). */
    int theirs[] = {pin[0], pout[1], perr[1]};
    for (int i = 0; i < 3; i++)
        if (theirs[i] >= 0) close(theirs[i]);
    if (rc) {
        int ours[] = {pin[1], pout[0], perr[0]};
        for (int i = 0; i < 3; i++)
            if (ours[i] >= 0) close(ours[i]);
        return rc;
    }
    child->in_fd = pin[1];
    child->out_fd = pout[0];
    child->err_fd = perr[0];
    return 0;
}
