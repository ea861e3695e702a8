#include "autoconfig.h"

#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define ERR_LINE_MAX 4096 /* stderr is logged in lines of at most this */

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

static void log_line(uint64_t id, const char *label, const uint8_t *p, size_t n)
{
    if (n && p[n - 1] == '\r') n--;
    log_error(id, "%s: %.*s", label, (int)n, (const char *)p);
}

bool launch_log_stderr(int fd, struct buf *partial, uint64_t id, const char *label)
{
    uint8_t tmp[ERR_LINE_MAX];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (n <= 0 || buf_append(partial, tmp, (size_t)n) < 0) {
        if (buf_len(partial)) log_line(id, label, buf_head(partial), buf_len(partial));
        buf_free(partial);
        return n > 0; /* out of memory: the line is lost, the pipe is not */
    }
    const uint8_t *p = buf_head(partial);
    size_t len = buf_len(partial), used = 0;
    const uint8_t *nl;
    while ((nl = memchr(p + used, '\n', len - used))) {
        log_line(id, label, p + used, (size_t)(nl - (p + used)));
        used = (size_t)(nl - p) + 1;
    }
    if (len - used >= ERR_LINE_MAX) {
        log_line(id, label, p + used, len - used);
        used = len;
    }
    buf_consume(partial, used);
    return true;
}

int launch_write_queue(int fd, struct buf *q)
{
    while (buf_len(q)) {
        ssize_t n = write(fd, buf_head(q), buf_len(q));
        if (n > 0) {
            buf_consume(q, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
        if (n == 0) errno = EPIPE;
        return -1;
    }
    buf_free(q);
    return 0;
}
