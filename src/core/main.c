#include "autoconfig.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "backend/backend.h"
#include "base/log.h"
#include "base/metrics.h"
#include "core/options.h"
#include "core/routes.h"
#include "core/server.h"
#include "core/supervisor.h"
#include "core/systemd.h"
#include "net/pipepool.h"

/* Descriptors 0-2 must exist, or a pipe could land on them and then be
 * clobbered when a child's stdio is set up. */
static void ensure_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) continue;
        int n = open("/dev/null", O_RDWR);
        if (n >= 0 && n != fd) close(n);
    }
}

/* Who the daemon becomes after start-up (--user, --group). */
struct identity {
    bool change_user, change_group;
    uid_t uid;
    gid_t gid;
    char name[64];
};

static int resolve_identity(const struct config *cfg, struct identity *id, char *err, size_t errlen)
{
    memset(id, 0, sizeof *id);
    if (!cfg->user && !cfg->group) return 0;
    if (geteuid() != 0) {
        snprintf(err, errlen, "--user and --group need the daemon to start as root");
        return -1;
    }
    if (cfg->user) {
        struct passwd *pw = getpwnam(cfg->user);
        if (!pw) {
            snprintf(err, errlen, "--user=%s: no such user", cfg->user);
            return -1;
        }
        id->change_user = id->change_group = true;
        id->uid = pw->pw_uid;
        id->gid = pw->pw_gid;
        snprintf(id->name, sizeof id->name, "%s", pw->pw_name);
    }
    if (cfg->group) {
        struct group *gr = getgrnam(cfg->group);
        if (!gr) {
            snprintf(err, errlen, "--group=%s: no such group", cfg->group);
            return -1;
        }
        id->change_group = true;
        id->gid = gr->gr_gid;
    }
    return 0;
}

/* After the ports are open and the keys read: groups first, then the user,
 * and make sure there is no way back. */
static int drop_privileges(const struct identity *id, char *err, size_t errlen)
{
    if (id->change_user ? initgroups(id->name, id->gid) < 0
                        : id->change_group && setgroups(1, &id->gid) < 0) {
        snprintf(err, errlen, "cannot set the supplementary groups: %s", strerror(errno));
        return -1;
    }
    if (id->change_group && setgid(id->gid) < 0) {
        snprintf(err, errlen, "cannot change group: %s", strerror(errno));
        return -1;
    }
    if (id->change_user && setuid(id->uid) < 0) {
        snprintf(err, errlen, "cannot change user: %s", strerror(errno));
        return -1;
    }
    if (id->change_user && id->uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "privileges could be regained after dropping them");
        return -1;
    }
    return 0;
}

/* Use every descriptor the hard limit allows, and size --maxconn's default
 * from it: a connection takes a socket plus three pipes (exec) or a second
 * socket (proxy). */
static unsigned default_maxconn(bool proxy)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t spare = 32 + (proxy ? 2 * PIPEPOOL_MAX_PIPES : 0); /* listeners, logs, splice pipes */
    rlim_t usable = rl.rlim_cur > 2 * spare ? rl.rlim_cur - spare : spare;
    rlim_t n = usable / (proxy ? 2 : 4);
    return n > 1000000 ? 1000000 : (unsigned)n;
}

/* Calls fn with the top level's settings (if it has an endpoint) and each route's. */
static bool any_endpoint(const struct config *cfg, bool (*fn)(const struct config *e))
{
    if (options_has_endpoint(cfg) && fn(cfg)) return true;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (fn(cfg->routes[i].cfg)) return true;
    return false;
}

static bool is_shared(const struct config *e)
{
    return e->backend.shared != SHARED_OFF;
}

static bool runs_commands(const struct config *e)
{
    return !e->backend.proxy;
}

/* At start-up, while few descriptors are open. */
static bool prepare_backend(const struct config *e)
{
    const struct backend_ops *ops = backend_select(&e->backend);
    if (ops->prepare) ops->prepare(&e->backend);
    return false;
}

static int give_up(struct config *cfg, int status)
{
    if (cfg) {
        options_free(cfg);
        free(cfg);
    }
    return status;
}

int main(int argc, char **argv)
{
    struct config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return 1;
    switch (options_parse(cfg, argc, argv)) {
    case CONFIG_DONE: return give_up(cfg, 0);
    case CONFIG_USAGE: return give_up(cfg, 2);
    case CONFIG_RUN: break;
    }
    systemd_notify_init(); /* before anything could hand NOTIFY_SOCKET to a child */
    log_min_level = cfg->loglevel;
    log_json = cfg->log_json;
    ensure_std_fds();
    signal(SIGPIPE, SIG_IGN);

    struct identity identity;
    char why[700];
    if (resolve_identity(cfg, &identity, why, sizeof why) < 0) {
        fprintf(stderr, "%s: %s\n", PACKAGE_NAME, why);
        return give_up(cfg, 2);
    }
    bool children_as_root = identity.change_user ? identity.uid == 0 : geteuid() == 0;
    if (routes_resolve(cfg, children_as_root && !cfg->allow_root_children, why, sizeof why) < 0) {
        fprintf(stderr, "%s: %s\n", PACKAGE_NAME, why);
        return give_up(cfg, 2);
    }
    any_endpoint(cfg, prepare_backend);
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_CHILD_SUBREAPER)
    /* Orphaned grandchildren become ours, so they are reaped even when PID 1 does not. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
    if (cfg->workers > 1 && any_endpoint(cfg, is_shared)) {
        log_warn(0, "--shared runs one process for every client: ignoring --workers=%u",
                 cfg->workers);
        cfg->workers = 1;
    }
    /* Before the workers exist: each counts into its slot of one mapping. */
    if (metrics_setup(cfg->workers > 1 ? cfg->workers : 0, ev_time()) < 0)
        log_warn(0, "cannot map the metrics' shared memory: each process counts its own");
    int supervised_status;
    if (cfg->workers > 1 && !supervisor_run(cfg->workers, &supervised_status))
        return give_up(cfg, supervised_status); /* the supervisor, once the workers are gone */

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        fprintf(stderr, "%s: cannot initialise libev\n", PACKAGE_NAME);
        return give_up(cfg, 1);
    }
    struct server srv;
    server_init(&srv, loop, cfg, argc, argv); /* the server owns cfg now */
    srv.default_maxconn = default_maxconn(!any_endpoint(cfg, runs_commands));
    srv.maxconn = cfg->maxconn_set ? cfg->maxconn : srv.default_maxconn;
    srv.ctx.maxconn = srv.maxconn;
    int status = 0;
    char err[700];
    if (server_setup(&srv, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PACKAGE_NAME, err);
        status = 2;
    } else if (server_listen(&srv) < 0) {
        status = 1;
    } else if (drop_privileges(&identity, err, sizeof err) < 0) {
        log_fatal(0, "%s", err);
        status = 1;
    } else {
        routes_log(srv.routes, "");
        if (srv.maxconn) log_info(0, "at most %u connections (--maxconn)", srv.maxconn);
        if (identity.change_user || identity.change_group)
            log_info(0, "running as uid %u, gid %u", (unsigned)getuid(), (unsigned)getgid());
        systemd_notify("READY=1\nSTATUS=serving on %zu listener%s", srv.nlisteners,
                       srv.nlisteners == 1 ? "" : "s");
        supervisor_worker_ready();
        ev_run(loop, 0);
        log_info(0, "stopped");
    }
    server_free(&srv);
    pipepool_clear();
    ev_loop_destroy(loop);
    systemd_notify_close();
    return status;
}
