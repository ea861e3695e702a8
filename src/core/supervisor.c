#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "base/log.h"
#include "base/metrics.h"
#include "core/supervisor.h"
#include "core/systemd.h"

#define MAX_WORKERS   64
#define EARLY_DEATH   1.0  /* seconds: a worker dying this soon cannot start at all */
#define BACKOFF_FIRST 0.1  /* seconds before restarting a worker; doubles... */
#define BACKOFF_MAX   10.0 /* ...up to this */
#define STABLE_AFTER  10.0 /* a run this long resets the back-off */

struct worker {
    pid_t pid; /* 0: not running */
    double started, restart_at, backoff;
};

static int ready_fd = -1; /* a worker's end of the readiness pipe */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void supervisor_worker_ready(void)
{
    if (ready_fd < 0) return;
    ssize_t n = write(ready_fd, "r", 1);
    (void)n;
    close(ready_fd);
    ready_fd = -1;
}

/* In the child: back to a normal process that returns into main(). */
static void become_worker(unsigned index, const sigset_t *old_mask, int ready[2], pid_t parent)
{
    close(ready[0]);
    ready_fd = ready[1];
    log_worker = index;
    metrics_use_slot(index);
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_CHILD_SUBREAPER)
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* not inherited: each worker reaps its own */
#endif
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_PDEATHSIG)
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the supervisor gone: stop too */
    if (getppid() != parent) raise(SIGTERM);
#endif
    /* systemd's sockets are the workers' to share; the notifications are
     * the supervisor's (NotifyAccess=main). */
    const char *listen_pid = getenv("LISTEN_PID");
    if (listen_pid && atol(listen_pid) == (long)parent) {
        char pid[24];
        snprintf(pid, sizeof pid, "%ld", (long)getpid());
        setenv("LISTEN_PID", pid, 1);
    }
    systemd_notify_close();
    sigprocmask(SIG_SETMASK, old_mask, NULL);
}

static pid_t start_worker(struct worker *w, unsigned index, const sigset_t *old_mask, int ready[2])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        become_worker(index, old_mask, ready, parent);
        return 0;
    }
    if (pid < 0) {
        log_error(0, "cannot start worker %u: %s", index, strerror(errno));
        w->restart_at = now() + w->backoff;
        return -1;
    }
    w->pid = pid;
    w->started = now();
    log_info(0, "worker %u started as pid %d", index, (int)pid);
    return pid;
}

static void signal_all(struct worker *w, unsigned n, int sig)
{
    for (unsigned i = 0; i < n; i++)
        if (w[i].pid) kill(w[i].pid, sig);
}

/* Reap what has ended: workers, and orphans reparented to us. */
static void reap(struct worker *w, unsigned n, bool stopping, int *status, bool *fatal)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            if (w[i].pid != pid) continue;
            w[i].pid = 0;
            double lived = now() - w[i].started;
            if (WIFEXITED(st))
                log_info(0, "worker %u (pid %d) exited with status %d", i + 1, (int)pid,
                         WEXITSTATUS(st));
            else
                log_error(0, "worker %u (pid %d) was killed by signal %d", i + 1, (int)pid,
                          WTERMSIG(st));
            if (stopping) break;
            if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && lived < EARLY_DEATH) {
                /* A port in use or a bad file: restarting would not help. */
                *status = WEXITSTATUS(st);
                *fatal = true;
                break;
            }
            if (lived >= STABLE_AFTER) w[i].backoff = BACKOFF_FIRST;
            w[i].restart_at = now() + w[i].backoff;
            log_info(0, "restarting worker %u in %.1f s", i + 1, w[i].backoff);
            w[i].backoff = w[i].backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w[i].backoff * 2;
            break;
        }
    }
}

bool supervisor_run(unsigned nworkers, int *status)
{
    struct worker w[MAX_WORKERS];
    if (nworkers > MAX_WORKERS) nworkers = MAX_WORKERS;
    memset(w, 0, sizeof w);
    for (unsigned i = 0; i < nworkers; i++) w[i].backoff = BACKOFF_FIRST;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &old);
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) {
        log_fatal(0, "cannot start workers: %s", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        *status = 1;
        return false;
    }
    fcntl(ready[0], F_SETFL, O_NONBLOCK);
    *status = 0;
    /* The write end stays open here too: restarted workers inherit it. */
    for (unsigned i = 0; i < nworkers; i++)
        if (start_worker(&w[i], i + 1, &old, ready) == 0) return true;
    log_info(0, "supervising %u workers", nworkers);
    unsigned readies = 0;
    bool stopping = false, fatal = false;
    for (;;) {
        unsigned running = 0;
        double next = 0;
        for (unsigned i = 0; i < nworkers; i++) {
            if (w[i].pid) running++;
            if (!w[i].pid && !stopping && !fatal && (!next || w[i].restart_at < next))
                next = w[i].restart_at;
        }
        if (running == 0 && (stopping || fatal)) break;
        /* Sleep until a signal, the next restart, or (until all are ready) a
         * readiness poll. */
        double wait = readies < nworkers ? 0.2 : 1.0;
        if (next && next - now() < wait) wait = next - now() > 0 ? next - now() : 0;
        struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &ts);
        char byte;
        while (readies < nworkers && read(ready[0], &byte, 1) == 1)
            if (++readies == nworkers)
                systemd_notify("READY=1\nSTATUS=serving with %u workers", nworkers);
        if (sig == SIGCHLD) {
            reap(w, nworkers, stopping, status, &fatal);
            if (fatal && !stopping) {
                log_fatal(0, "a worker could not start; stopping the others");
                stopping = true;
                signal_all(w, nworkers, SIGTERM);
            }
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_info(0, "%s received%s", strsignal(sig),
                     stopping ? ": workers exit at once" : ": stopping the workers");
            if (!stopping) systemd_notify("STOPPING=1\nSTATUS=stopping");
            stopping = true;
            signal_all(w, nworkers, sig);
        } else if (sig == SIGHUP) {
            systemd_notify("RELOADING=1\nSTATUS=reloading");
            signal_all(w, nworkers, SIGHUP);
            systemd_notify("READY=1\nSTATUS=serving with %u workers", nworkers);
        }
        if (stopping || fatal) continue;
        for (unsigned i = 0; i < nworkers; i++) {
            if (w[i].pid || now() < w[i].restart_at) continue;
            if (start_worker(&w[i], i + 1, &old, ready) == 0) return true;
        }
    }
    close(ready[0]);
    close(ready[1]);
    sigprocmask(SIG_SETMASK, &old, NULL);
    log_info(0, "all workers stopped");
    return false;
}
