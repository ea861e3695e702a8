#include "autoconfig.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "config.h"
#include "log.h"
#include "backend.h"
#include "proxy.h"
#include "server.h"

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

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Find COMMAND as exec would, once, so a typo fails at start-up. */
static char *resolve_command(const char *name)
{
    if (strchr(name, '/')) return is_executable_file(name) ? strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char candidate[PATH_MAX];
        int len = snprintf(candidate, sizeof candidate, "%.*s/%s", (int)(n ? n : 1), n ? path : ".",
                           name);
        if (len > 0 && (size_t)len < sizeof candidate && is_executable_file(candidate))
            return strdup(candidate);
        path += n;
        if (*path == ':') path++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct config cfg;
    switch (config_parse(&cfg, argc, argv)) {
    case CONFIG_DONE: config_free(&cfg); return 0;
    case CONFIG_USAGE: return 2;
    case CONFIG_RUN: break;
    }
    log_min_level = cfg.loglevel;
    ensure_std_fds();
    signal(SIGPIPE, SIG_IGN);

    char *command = NULL;
    if (!cfg.proxy && !(command = resolve_command(cfg.command[0]))) {
        fprintf(stderr, "%s: cannot run '%s': %s\n", PACKAGE_NAME, cfg.command[0],
                strchr(cfg.command[0], '/') ? "not an executable file" : "not found in PATH");
        config_free(&cfg);
        return 2;
    }
    char *static_root = NULL;
    if (cfg.staticdir) {
        struct stat st;
        static_root = realpath(cfg.staticdir, NULL);
        if (!static_root || stat(static_root, &st) < 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: --staticdir=%s: %s\n", PACKAGE_NAME, cfg.staticdir,
                    static_root ? "not a directory" : strerror(errno));
            free(static_root);
            free(command);
            config_free(&cfg);
            return 2;
        }
    }
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_CHILD_SUBREAPER)
    /* Orphaned grandchildren become ours, so they are reaped even when PID 1 does not. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        fprintf(stderr, "%s: cannot initialise libev\n", PACKAGE_NAME);
        return 1;
    }
    struct server srv;
    server_init(&srv, loop, &cfg, command, static_root);
    int status = 0;
    char err[512];
    srv.backend = cfg.proxy ? &proxy_backend : &exec_backend;
    if (cfg.proxy && proxy_setup(&srv, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", PACKAGE_NAME, err);
        status = 2;
    } else if (server_listen(&srv) < 0) {
        status = 1;
    } else {
        if (cfg.proxy)
            log_info(0, "%s %s proxying to %s%s", PACKAGE_NAME, PACKAGE_VERSION,
                     cfg.connect ? cfg.connect : cfg.token_file,
                     cfg.connect ? "" : " (token file)");
        else
            log_info(0, "%s %s serving %s (%s mode)", PACKAGE_NAME, PACKAGE_VERSION, command,
                     cfg.binary ? "binary" : "text");
        ev_run(loop, 0);
        log_info(0, "stopped");
    }
    server_free(&srv);
    ev_loop_destroy(loop);
    free(static_root);
    free(command);
    config_free(&cfg);
    return status;
}
