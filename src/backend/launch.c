#include "autoconfig.h"

#include "backend/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/pty.h"
#include "base/log.h"

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

static int spawn(const char *path, char *const *argv, char **envp, const char *dir, const int in[2],
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
    if (!rc && dir) rc = posix_spawn_file_actions_addchdir_np(&fa, dir);
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

/* ---- the fast path ----------------------------------------------------------
 *
 * posix_spawn copies the daemon's descriptor table and the child then closes
 * every entry, so starting a command costs time in proportion to the open
 * sessions: with 3,000 exec sessions (12,000 descriptors) about 8 ms, while
 * the event loop waits, and new connections drop from 1,150/s to 130/s.
 *
 * Here the child shares the table instead (CLONE_FILES) and takes a private
 * copy of only the descriptors below `top` (close_range with
 * CLOSE_RANGE_UNSHARE, Linux 5.9). Its three pipe ends are first placed in
 * three slots reserved at start-up, so they are among those few. Like
 * posix_spawn it runs on a separate stack sharing our memory (CLONE_VM) while
 * we wait (CLONE_VFORK), and it makes raw system calls only. If the kernel
 * lacks close_range, posix_spawn is used from then on. */

#if defined(__linux__) && defined(SYS_close_range) && defined(SYS_rt_sigaction) &&                 \
    defined(SYS_dup3) && defined(SYS_execve)
#define FAST_SPAWN               1
#define CLOSE_RANGE_UNSHARE_FLAG (1U << 1) /* linux/close_range.h */

static int slots[3] = {-1, -1, -1}; /* the child's stdin, stdout, stderr on their way */
static int filler = -1;             /* /dev/null, put back into the slots afterwards */
static bool fast_unavailable;
static _Alignas(16) unsigned char child_stack[32768];

struct child_args {
    const char *path;
    char *const *argv;
    char **envp;
    const char *dir; /* where it starts, or NULL: here */
    int top;         /* the table the child keeps: descriptors below this */
    int err;         /* set by the child when it fails */
    bool unshare;    /* ... and whether it failed already at close_range */
};

void launch_reserve_slots(void)
{
    if (filler >= 0 || fast_unavailable) return; /* once is enough (several endpoints ask) */
    filler = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 3 && filler >= 0; i++) slots[i] = fcntl(filler, F_DUPFD_CLOEXEC, 0);
    if (filler < 0 || slots[2] < 0) fast_unavailable = true;
}

/* Runs in the child, on child_stack, with our memory: system calls only. */
__attribute__((no_sanitize("address", "undefined"))) static int child_main(void *p)
{
    struct child_args *a = p;
    if (syscall(SYS_close_range, a->top, ~0U, CLOSE_RANGE_UNSHARE_FLAG) < 0) {
        a->err = errno;
        a->unshare = true;
        syscall(SYS_exit_group, 127);
    }
    for (int i = 0; i < 3; i++) {
        long rc =
            slots[i] == i ? syscall(SYS_fcntl, i, F_SETFD, 0) : syscall(SYS_dup3, slots[i], i, 0);
        if (rc < 0) goto failed;
    }
    if (syscall(SYS_close_range, 3, ~0U, 0) < 0) goto failed;
    if (a->dir && syscall(SYS_chdir, a->dir) < 0) goto failed;
    /* Default dispositions, then an empty mask. An all-zero kernel
     * sigaction is SIG_DFL with no flags on every architecture. */
    unsigned long dfl[8] = {0};
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);
    if (syscall(SYS_setpgid, 0, 0) < 0) goto failed;
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
    syscall(SYS_execve, a->path, a->argv, a->envp);
failed:
    a->err = errno;
    syscall(SYS_exit_group, 127);
    return 127;
}

/* Returns 0, an errno value, or -1 when the fast path cannot be used. */
static int fast_spawn(const char *path, char *const *argv, char **envp, const char *dir,
                      const int theirs[3], pid_t *pid)
{
    if (fast_unavailable) return -1;
    for (int i = 0; i < 3; i++)
        if (dup3(theirs[i], slots[i], O_CLOEXEC) < 0) return errno;
    struct child_args a = {path, argv, envp, dir, slots[2] + 1, 0, false};
    sigset_t all, old;
    sigfillset(&all);
    /* No handler of ours may run in the child while it shares our memory. */
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t p = clone(child_main, child_stack + sizeof child_stack,
                    CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &a);
    int clone_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < 3; i++) dup3(filler, slots[i], O_CLOEXEC); /* drop the child's ends */
    if (p < 0) return clone_errno;
    if (!a.err) {
        *pid = p;
        return 0;
    }
    waitpid(p, NULL, 0); /* it has exited: reap it here */
    if (a.unshare) {
        log_warn(0, "starting commands the slow way (close_range: %s)", strerror(a.err));
        fast_unavailable = true;
        return -1;
    }
    return a.err;
}
#else
void launch_reserve_slots(void)
{
}

static int fast_spawn(const char *path, char *const *argv, char **envp, const char *dir,
                      const int theirs[3], pid_t *pid)
{
    (void)path;
    (void)argv;
    (void)envp;
    (void)dir;
    (void)theirs;
    (void)pid;
    return -1;
}
#endif

const char *launch_stdbuf_library(void)
{
    static const char *const places[] = {
        LIBSTDBUF_PATH,
        "/usr/libexec/coreutils/libstdbuf.so",
        "/usr/lib/coreutils/libstdbuf.so",
        "/usr/local/libexec/coreutils/libstdbuf.so",
    };
    static const char *found; /* looked for until found, then kept */
    for (size_t i = 0; !found && i < sizeof places / sizeof places[0]; i++)
        if (access(places[i], R_OK) == 0) found = places[i];
    return found;
}

struct launch_how launch_how_of(const struct backend_settings *set)
{
    return (struct launch_how){.line_buffer = set->line_buffer, .pty = set->pty};
}

int launch_check(const struct launch_how *how, char *err, size_t errlen)
{
    if (how->line_buffer && !launch_stdbuf_library()) {
        snprintf(err, errlen,
                 "--line-buffer needs coreutils' libstdbuf.so, which is not at %s nor in the "
                 "usual places: install coreutils, or build with --with-libstdbuf=PATH",
                 LIBSTDBUF_PATH);
        return -1;
    }
    return 0;
}

static bool named(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* envp plus what stdbuf -oL adds: libstdbuf.so first in LD_PRELOAD (before
 * any the environment already has) and _STDBUF_O=L; and for Python, which
 * buffers without C stdio, PYTHONUNBUFFERED=1. One allocation. */
static char **line_buffered(char **envp, const char *lib)
{
    static const char *const replaced[] = {"LD_PRELOAD", "_STDBUF_O", "PYTHONUNBUFFERED"};
    size_t n = 0, extra = 0;
    const char *theirs = NULL;
    for (; envp[n]; n++)
        if (named(envp[n], "LD_PRELOAD")) theirs = envp[n] + sizeof "LD_PRELOAD";
    if (theirs && *theirs) extra = 1 + strlen(theirs);
    size_t ptrs = (n + 4) * sizeof(char *);
    size_t preload_len = sizeof "LD_PRELOAD=" + strlen(lib) + extra;
    char **env = malloc(ptrs + preload_len);
    if (!env) return NULL;
    char *preload = (char *)env + ptrs;
    snprintf(preload, preload_len, "LD_PRELOAD=%s%s%s", lib, extra ? ":" : "", extra ? theirs : "");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool keep = true;
        for (size_t r = 0; r < sizeof replaced / sizeof replaced[0]; r++)
            if (named(envp[i], replaced[r])) keep = false;
        if (keep) env[k++] = envp[i];
    }
    env[k++] = preload;
    env[k++] = "_STDBUF_O=L";
    env[k++] = "PYTHONUNBUFFERED=1";
    env[k] = NULL;
    return env;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}

int launch_with_pipes(const char *path, char *const *argv, char **envp,
                      const struct launch_how *how, struct launched *child)
{
    bool pty = how && how->pty;
    char **env = envp;
    if (how && how->line_buffer) {
        const char *lib = launch_stdbuf_library();
        if (!lib) return ENOENT;
        if (!(env = line_buffered(envp, lib))) return ENOMEM;
    }
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    int rc = 0;
    if (make_pipe(pin, 1) < 0)
        rc = errno;
    else if (pty)
        rc = pty_open(&pout[0], &pout[1]); /* stdout: the master is ours, the slave the child's */
    else if (make_pipe(pout, 0) < 0)
        rc = errno;
    if (!rc && make_pipe(perr, 0) < 0) rc = errno;
    /* The child's ends. */
    int theirs[] = {pin[0], pout[1], perr[1]};
    const char *dir = how ? how->dir : NULL;
    if (!rc) rc = fast_spawn(path, argv, env, dir, theirs, &child->pid);
    if (rc == -1) rc = spawn(path, argv, env, dir, pin, pout, perr, &child->pid);
    if (env != envp) free(env);
    /* They belong to the child now (or to nobody). */
    close_all(theirs, 3);
    int ours[] = {pin[1], pout[0], perr[0]};
    if (rc) {
        close_all(ours, 3);
        return rc;
    }
    child->in_fd = pin[1];
    child->out_fd = pout[0];
    child->err_fd = perr[0];
    child->pty = pty;
    return 0;
}

void launch_log_line(uint64_t id, const char *label, const uint8_t *p, size_t n)
{
    log_error(id, "%s: %.*s", label, (int)n, (const char *)p);
}

/* One line handed over: without its '\r' (the '\n' is gone already). */
static void hand_over(void (*line)(void *, const uint8_t *, size_t), void *arg, const uint8_t *p,
                      size_t n)
{
    if (n && p[n - 1] == '\r') n--;
    line(arg, p, n);
}

bool launch_read_stderr(int fd, struct buf *partial,
                        void (*line)(void *arg, const uint8_t *p, size_t n), void *arg)
{
    uint8_t tmp[LAUNCH_ERR_LINE_MAX];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (n <= 0 || buf_append(partial, tmp, (size_t)n) < 0) {
        if (buf_len(partial)) hand_over(line, arg, buf_head(partial), buf_len(partial));
        buf_free(partial);
        return n > 0; /* out of memory: the line is lost, the pipe is not */
    }
    const uint8_t *p = buf_head(partial);
    size_t len = buf_len(partial), used = 0;
    const uint8_t *nl;
    while ((nl = memchr(p + used, '\n', len - used))) {
        hand_over(line, arg, p + used, (size_t)(nl - (p + used)));
        used = (size_t)(nl - p) + 1;
    }
    if (len - used >= LAUNCH_ERR_LINE_MAX) {
        hand_over(line, arg, p + used, len - used);
        used = len;
    }
    buf_consume(partial, used);
    return true;
}

struct log_target {
    uint64_t id;
    const char *label;
};

static void log_one(void *arg, const uint8_t *p, size_t n)
{
    const struct log_target *t = arg;
    launch_log_line(t->id, t->label, p, n);
}

bool launch_log_stderr(int fd, struct buf *partial, uint64_t id, const char *label)
{
    struct log_target t = {id, label};
    return launch_read_stderr(fd, partial, log_one, &t);
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
