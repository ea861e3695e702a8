#include "autoconfig.h"

#include "core/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/cidr.h"
#include "net/conn.h"
#include "net/tls.h"
#include "backend/backend.h"
#include "http/request.h"
#include "base/log.h"
#include "base/metrics.h"
#include "core/systemd.h"
#include "base/util.h"

#define ACCEPTS_PER_WAKE 64  /* fairness between accepting and serving */
#define ACCEPT_BACKOFF   0.5 /* seconds without accepting after EMFILE/ENFILE */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents);

static void set_accepting(struct server *srv, bool on)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (srv->listeners[i].fd < 0) continue;
        if (on)
            ev_io_start(srv->ctx.loop, &srv->listeners[i].io);
        else
            ev_io_stop(srv->ctx.loop, &srv->listeners[i].io);
    }
}

static void on_backoff_over(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct server *srv = container_of(w, struct server, accept_backoff);
    set_accepting(srv,
                  true); /* the listeners still open (a stop closes them, but see --health-path) */
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct server *srv = w->data;
    log_info(0, "%s received", strsignal(w->signum));
    server_stop(srv);
}

int server_setup(struct server *srv, char *err, size_t errlen)
{
    const struct config *cfg = srv->cfg;
    if (cfg->conn.ssl != SSL_OFF) {
        srv->ctx.tls = tls_server_context(cfg->sslcert, cfg->sslkey, cfg->sslca,
                                          cfg->sslkey_password_file, err, errlen);
        if (!srv->ctx.tls) return -1;
    }
    if (!(srv->routes = routes_build(srv->cfg, &srv->ctx, NULL, err, errlen))) return -1;
    srv->ctx.route_arg = &srv->routes->table;
    return 0;
}

/* Point the connections at the settings of cfg (at start-up and after a reload). */
static void use_config(struct server *srv, struct config *cfg)
{
    srv->cfg = cfg;
    srv->ctx.set = &cfg->conn;
    srv->ctx.session = &cfg->session;
}

/* --config given: parse the command line and the file again and build a
 * new route table; connections keep the table they were routed through.
 * Options that need a restart keep their running values (with a warning);
 * a file with errors changes nothing. */
static void reload_config(struct server *srv)
{
    struct config *fresh = calloc(1, sizeof *fresh);
    if (!fresh) {
        log_error(0, "reload: out of memory; keeping the current configuration");
        return;
    }
    if (options_parse(fresh, srv->argc, srv->argv) != CONFIG_RUN) {
        free(fresh);
        log_error(0, "reload: %s has errors (above); keeping the current configuration",
                  srv->cfg->config_file);
        metrics_count(MC_RELOAD_FAILED);
        return;
    }
    char changed[512], err[700];
    options_keep_restart_only(fresh, srv->cfg, changed, sizeof changed);
    struct routes *t = NULL;
    if (routes_resolve(fresh, geteuid() == 0 && !fresh->allow_root_children, err, sizeof err) < 0 ||
        !(t = routes_build(fresh, &srv->ctx, srv->routes, err, sizeof err))) {
        log_error(0, "reload: %s; keeping the current configuration", err);
        metrics_count(MC_RELOAD_FAILED);
        options_keep_restart_only(fresh, srv->cfg, changed, sizeof changed); /* swap back */
        options_free(fresh);
        free(fresh);
        return;
    }
    if (changed[0])
        log_warn(0, "reload: %s changed, which takes a restart; still using the running value",
                 changed);
    routes_retire(srv->routes);
    srv->routes->next = srv->retired;
    srv->retired = srv->routes;
    srv->routes = t;
    srv->ctx.route_arg = &t->table;
    use_config(srv, fresh);
    log_min_level = fresh->loglevel;
    log_json = fresh->log_json;
    srv->maxconn = fresh->maxconn_set ? fresh->maxconn : srv->default_maxconn;
    srv->ctx.maxconn = srv->maxconn;
    metrics_count(MC_RELOAD_OK);
    log_info(0, "reload: %s read", fresh->config_file);
    log_info(0, "reload: %zu users loaded", t->table.top.ep.auth.n);
    if (fresh->nroutes || srv->retired->cfg->nroutes) routes_log(t, "reload: ");
}

/* SIGHUP reloads what can change without a restart: the configuration
 * file (and with it the routes), the certificate, the users, the proxy's
 * target or tokens. A reload that fails keeps what was in use. */
static void on_hangup(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct server *srv = w->data;
    char err[600];
    log_info(0, "SIGHUP: reloading");
    systemd_notify("RELOADING=1\nSTATUS=reloading");
    if (srv->cfg->config_file)
        reload_config(srv);
    else
        routes_reload_in_place(srv->routes);
    const struct config *cfg = srv->cfg;
    if (cfg->conn.ssl != SSL_OFF) {
        SSL_CTX *fresh = tls_server_context(cfg->sslcert, cfg->sslkey, cfg->sslca,
                                            cfg->sslkey_password_file, err, sizeof err);
        if (fresh) {
            SSL_CTX_free(srv->ctx.tls); /* open sessions hold their own reference */
            srv->ctx.tls = fresh;
            log_info(0, "reload: certificate %s loaded for new connections", cfg->sslcert);
        } else {
            log_error(0, "reload: %s; keeping the previous certificate", err);
        }
    }
    systemd_notify("READY=1\nSTATUS=serving, %zu connections", srv->ctx.nconns);
}

static void kill_backend(struct backend *b)
{
    if (b->ops->kill) b->ops->kill(b);
}

static void stop_backend(struct backend *b)
{
    if (b->ops->stop) b->ops->stop(b);
}

/* Every table's backends: the current one's and the retired ones'. */
static void each_backend(struct server *srv, void (*fn)(struct backend *b))
{
    if (srv->routes) routes_each_backend(srv->routes, fn);
    for (struct routes *t = srv->retired; t; t = t->next) routes_each_backend(t, fn);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct server *srv = container_of(w, struct server, stop_deadline);
    log_warn(0,
             "shutdown deadline reached with %zu connections and %u processes left; killing them",
             srv->ctx.nconns, srv->ctx.nchildren);
    each_backend(srv, kill_backend);
    ev_break(loop, EVBREAK_ALL);
}

/* A graceful stop ends the loop once no connection and no backend object is left. */
static void check_done(struct server *srv)
{
    const struct context *ctx = &srv->ctx;
    if (srv->stopping && ctx->nconns == 0 && ctx->nbackend_objs == 0 && !ctx->graveyard)
        ev_break(ctx->loop, EVBREAK_ALL);
}

/* Free the retired tables nobody uses any more (each is unlinked first: its
 * backends' teardown may release objects, and that comes back here later). */
static void free_unused_tables(struct server *srv)
{
    struct routes **p = &srv->retired;
    while (*p) {
        struct routes *t = *p;
        if (!routes_unused(t)) {
            p = &t->next;
            continue;
        }
        *p = t->next;
        routes_free(t);
    }
}

static void on_released(struct context *ctx)
{
    struct server *srv = container_of(ctx, struct server, ctx);
    free_unused_tables(srv);
    check_done(srv);
}

void server_init(struct server *srv, struct ev_loop *loop, struct config *cfg, int argc,
                 char **argv)
{
    memset(srv, 0, sizeof *srv);
    context_init(&srv->ctx, loop);
    srv->ctx.route = request_route;
    srv->ctx.route_done = route_done;
    srv->ctx.released = on_released;
    use_config(srv, cfg);
    srv->argc = argc;
    srv->argv = argv;
    ev_init(&srv->accept_backoff, on_backoff_over);
    ev_init(&srv->stop_deadline, on_deadline);
    ev_signal_init(&srv->sigint, on_signal, SIGINT);
    ev_signal_init(&srv->sigterm, on_signal, SIGTERM);
    ev_signal_init(&srv->sighup, on_hangup, SIGHUP);
    srv->sigint.data = srv->sigterm.data = srv->sighup.data = srv;
    ev_signal_start(loop, &srv->sigint);
    ev_signal_start(loop, &srv->sigterm);
    ev_signal_start(loop, &srv->sighup);
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void describe(const struct sockaddr *sa, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *su = (const struct sockaddr_un *)sa;
        snprintf(out, n, "unix:%.*s", (int)sizeof su->sun_path, su->sun_path);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        snprintf(out, n, "[%s]:%u", host, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        snprintf(out, n, "%s:%u", host, port);
    }
}

/* Open one listening socket; returns the fd or -1 with errno set. */
static int listen_on(const struct addrinfo *ai, bool reuseport)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* --workers: each worker has its own socket; the kernel spreads connections. */
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    /* Separate v4 and v6 sockets: binding both works everywhere. */
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int add_listener(struct server *srv, int fd, const struct sockaddr *sa, bool redirect)
{
    struct listener *l = realloc(srv->listeners, (srv->nlisteners + 1) * sizeof *l);
    if (!l) return -1;
    srv->listeners = l; /* watchers are started only once this array is final */
    l = &srv->listeners[srv->nlisteners++];
    l->srv = srv;
    l->fd = fd;
    l->redirect = redirect;
    describe(sa, l->name, sizeof l->name);
    ev_io_init(&l->io, on_accept, fd, EV_READ);
    return 0;
}

/* Strip the brackets of "[::1]". */
static void host_part(const char *addr, char *out, size_t n)
{
    size_t len = strlen(addr);
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']')
        snprintf(out, n, "%.*s", (int)len - 2, addr + 1);
    else
        snprintf(out, n, "%s", addr);
}

static int listen_address(struct server *srv, const char *addr, bool all_interfaces,
                          unsigned port_number, bool redirect)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char host[256], port[16];
    if (addr) host_part(addr, host, sizeof host);
    snprintf(port, sizeof port, "%u", port_number);
    int rc = getaddrinfo(addr ? host : NULL, port, &hints, &res);
    if (rc) {
        log_fatal(0, "cannot listen on %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    int opened = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = listen_on(ai, srv->cfg->workers > 1);
        char name[96];
        describe(ai->ai_addr, name, sizeof name);
        if (fd < 0) {
            /* A host without IPv6 still serves IPv4 when no address was named,
             * and a name like "localhost" may list an address family the host lacks. */
            bool several = all_interfaces || res->ai_next;
            if (several && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
                log_warn(0, "skipping %s: %s", name, strerror(errno));
                continue;
            }
            log_fatal(0, "cannot listen on %s: %s", name, strerror(errno));
            freeaddrinfo(res);
            return -1;
        }
        if (add_listener(srv, fd, ai->ai_addr, redirect) < 0) {
            close(fd);
            freeaddrinfo(res);
            return -1;
        }
        log_info(0, "listening on %s://%s/%s",
                 redirect || srv->cfg->conn.ssl == SSL_OFF ? "http" : "https", name,
                 redirect ? " (redirecting to https)" : "");
        opened++;
    }
    freeaddrinfo(res);
    return opened ? 0 : -1;
}

/* Socket activation: the listening sockets systemd passed, in the order of
 * the .socket unit. One named "redirect" (FileDescriptorName=) serves
 * --redirport's 301s. Returns the number taken, or -1. */
static int listen_inherited(struct server *srv)
{
    char err[300], *names = NULL;
    int n = systemd_listen_fds(&names, err, sizeof err);
    if (n < 0) log_fatal(0, "socket activation: %s", err);
    for (int i = 0; i < n; i++) {
        int fd = 3 + i, type = 0, listening = 0;
        socklen_t len = sizeof type;
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
            (len = sizeof listening, getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) <
                0 ||
            !listening || getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
            log_fatal(0,
                      "socket activation: descriptor %d is not a listening stream socket "
                      "(use ListenStream= and Accept=no)",
                      fd);
            n = -1;
            break;
        }
        char name[64];
        systemd_fd_name(names, i, name, sizeof name);
        bool redirect = strcmp(name, "redirect") == 0;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (add_listener(srv, fd, (struct sockaddr *)&ss, redirect) < 0) {
            n = -1;
            break;
        }
        log_info(0, "listening on %s (from systemd)%s", srv->listeners[srv->nlisteners - 1].name,
                 redirect ? " (redirecting to https)" : "");
    }
    free(names);
    return n;
}

/* Is something accepting on this unix socket file? */
static bool unix_socket_alive(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool alive =
        connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0 || errno != ECONNREFUSED;
    close(fd);
    return alive;
}

/* --unixsocket: replace a stale socket file (never another kind of file or
 * a socket in use), create it with --unixsocket-mode, remember it for
 * removal at exit. */
static int listen_unix(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", cfg->unixsocket);
    struct stat st;
    if (lstat(cfg->unixsocket, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_fatal(0, "cannot listen on unix:%s: the file exists and is not a socket",
                      cfg->unixsocket);
            return -1;
        }
        if (unix_socket_alive(&sun)) {
            log_fatal(0, "cannot listen on unix:%s: another process is serving it",
                      cfg->unixsocket);
            return -1;
        }
        unlink(cfg->unixsocket);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* The mode is right from the start: no moment where anyone may connect. */
    mode_t old = umask(~cfg->unixsocket_mode & 0777);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc < 0 || chmod(cfg->unixsocket, cfg->unixsocket_mode) < 0 || listen(fd, SOMAXCONN) < 0 ||
        stat(cfg->unixsocket, &st) < 0) {
        log_fatal(0, "cannot listen on unix:%s: %s", cfg->unixsocket, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    srv->unix_path = strdup(cfg->unixsocket);
    srv->unix_dev = st.st_dev;
    srv->unix_ino = st.st_ino;
    if (add_listener(srv, fd, (struct sockaddr *)&sun, false) < 0) {
        close(fd);
        return -1;
    }
    log_info(0, "listening on unix:%s (mode %04o)", cfg->unixsocket, cfg->unixsocket_mode);
    return 0;
}

/* Remove our socket file, unless something else has replaced it since. */
static void remove_unix_socket(struct server *srv)
{
    struct stat st;
    if (!srv->unix_path) return;
    if (lstat(srv->unix_path, &st) == 0 && st.st_dev == srv->unix_dev &&
        st.st_ino == srv->unix_ino && unlink(srv->unix_path) < 0)
        log_debug(0, "cannot remove %s: %s", srv->unix_path, strerror(errno));
    free(srv->unix_path);
    srv->unix_path = NULL;
}

int server_listen(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    int inherited = listen_inherited(srv);
    if (inherited < 0) return -1;
    if (inherited > 0) {
        if (cfg->port_set || cfg->naddresses || cfg->unixsocket || cfg->redirport)
            log_info(0, "socket-activated: --port, --address, --redirport and --unixsocket are "
                        "not used");
        set_accepting(srv, true);
        return 0;
    }
    if (cfg->unixsocket && listen_unix(srv) < 0) return -1;
    bool tcp = !cfg->unixsocket || cfg->port_set || cfg->naddresses;
    unsigned ports[2] = {tcp ? cfg->port : 0, cfg->redirport};
    for (int k = 0; k < 2; k++) {
        if (!ports[k]) continue;
        if (cfg->naddresses == 0) {
            if (listen_address(srv, NULL, true, ports[k], k == 1) < 0) return -1;
        } else {
            for (size_t i = 0; i < cfg->naddresses; i++)
                if (listen_address(srv, cfg->addresses[i], false, ports[k], k == 1) < 0) return -1;
        }
    }
    set_accepting(srv, true);
    return 0;
}

/* A canned 503 for connections refused before any parsing. Over TLS it
 * would be noise, so TLS-only listeners just close. */
static void refuse_busy(int fd, bool plain)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 45\r\n"
                               "Retry-After: 1\r\n"
                               "Connection: close\r\n\r\n"
                               "503 Service Unavailable: too many connections\n";
    if (plain) {
        ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
        shutdown(fd, SHUT_WR);
    }
}

/* Checks made at accept, before any parsing: --allow/--deny and the
 * connection limits (a trusted proxy is judged by the client behind it,
 * once that is known). */
static void admit(struct server *srv, struct listener *l, int fd, const struct sockaddr *sa)
{
    const struct config *cfg = srv->cfg;
    struct ip_addr ip;
    bool have_ip = ip_from_sockaddr(sa, &ip);
    bool proxy = have_ip && cidr_match_any(cfg->conn.trusted, cfg->conn.ntrusted, &ip);
    char addr[INET6_ADDRSTRLEN] = "?", what[160];
    if (have_ip) ip_format(&ip, addr, sizeof addr);
    if (have_ip && !proxy && !context_address_allowed(&srv->ctx, &ip)) {
        metrics_count(MC_REFUSED_ADDRESS);
        snprintf(what, sizeof what, "%s is not allowed (--allow/--deny): closed", addr);
        context_log_refusal(&srv->ctx, what);
        close(fd);
        return;
    }
    if (srv->maxconn && srv->ctx.nconns >= srv->maxconn) {
        metrics_count(MC_REFUSED_MAXCONN);
        snprintf(what, sizeof what, "--maxconn=%u reached: refusing %s with 503", srv->maxconn,
                 addr);
        context_log_refusal(&srv->ctx, what);
        refuse_busy(fd, l->redirect || cfg->conn.ssl != SSL_ON);
        close(fd);
        return;
    }
    /* Loopback peers are counted only when --maxconn-per-ip was given: behind
     * a proxy on this machine every client would otherwise share one count. */
    bool counted = have_ip && !proxy && (cfg->conn.maxconn_per_ip_set || !ip_is_loopback(&ip));
    if (counted && !ipcount_take(&srv->ctx.per_ip, &ip, cfg->conn.maxconn_per_ip)) {
        metrics_count(MC_REFUSED_MAXCONN_PER_IP);
        snprintf(what, sizeof what, "--maxconn-per-ip=%u reached: refusing %s with 503",
                 cfg->conn.maxconn_per_ip, addr);
        context_log_refusal(&srv->ctx, what);
        refuse_busy(fd, l->redirect || cfg->conn.ssl != SSL_ON);
        close(fd);
        return;
    }
    metrics_count(MC_ACCEPTED);
    conn_new(&srv->ctx, fd, sa, l->redirect, counted ? &ip : NULL);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct listener *l = container_of(w, struct listener, io);
    struct server *srv = l->srv;
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(srv, l, fd, (struct sockaddr *)&ss);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if ((errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
            /* Out of descriptors: give up the spare one to take the connection
             * off the queue and refuse it, so the queue does not fill and the
             * loop does not spin. */
            close(srv->spare_fd);
            fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                refuse_busy(fd, l->redirect || srv->cfg->conn.ssl != SSL_ON);
                close(fd);
            }
            srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            context_log_refusal(&srv->ctx,
                                "out of file descriptors: refusing new connections with 503");
            if (srv->spare_fd >= 0) continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The pending connection stays queued; without a pause the loop would spin. */
            log_error(0, "accept on %s: %s; not accepting for %.1f s", l->name, strerror(errno),
                      ACCEPT_BACKOFF);
            set_accepting(srv, false);
            ev_timer_set(&srv->accept_backoff, ACCEPT_BACKOFF, 0.);
            ev_timer_start(srv->ctx.loop, &srv->accept_backoff);
            return;
        }
        log_error(0, "accept on %s: %s", l->name, strerror(errno));
        return;
    }
}

static void close_listeners(struct server *srv)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = &srv->listeners[i];
        if (l->fd < 0) continue;
        ev_io_stop(srv->ctx.loop, &l->io);
        close(l->fd);
        l->fd = -1;
    }
}

void server_stop(struct server *srv)
{
    if (srv->stopping) {
        log_info(0, "second stop signal: exiting now");
        each_backend(srv, kill_backend);
        ev_break(srv->ctx.loop, EVBREAK_ALL);
        return;
    }
    srv->stopping = true;
    srv->ctx.stopping = true;
    log_info(0, "shutting down: %zu connections, %u processes", srv->ctx.nconns,
             srv->ctx.nchildren);
    /* With --health-path the listeners stay open while sessions end, so that
     * probes learn of the stop from a 503 (every other request gets one too)
     * rather than from a refused connection. */
    if (srv->cfg->http.health_path) {
        log_info(0, "answering 503 to every request (--health-path: %s) until the stop is over",
                 srv->cfg->http.health_path);
    } else {
        close_listeners(srv);
        ev_timer_stop(srv->ctx.loop, &srv->accept_backoff);
    }
    each_backend(srv, stop_backend);
    context_stop_all(&srv->ctx);
    systemd_notify("STOPPING=1\nSTATUS=stopping: %zu connections, %u processes", srv->ctx.nconns,
                   srv->ctx.nchildren);
    ev_timer_set(&srv->stop_deadline, srv->cfg->shutdown_timeout, 0.);
    ev_timer_start(srv->ctx.loop, &srv->stop_deadline);
    check_done(srv);
}

void server_free(struct server *srv)
{
    context_close_all(&srv->ctx);
    while (srv->retired) {
        struct routes *t = srv->retired;
        srv->retired = t->next;
        routes_free(t);
    }
    struct routes *current = srv->routes;
    srv->routes = NULL;
    if (current) {
        routes_free(current); /* and with it srv->cfg */
    } else {
        options_free(srv->cfg); /* the table was never built */
        free(srv->cfg);
    }
    srv->cfg = NULL;
    close_listeners(srv);
    remove_unix_socket(srv);
    if (srv->spare_fd >= 0) close(srv->spare_fd);
    srv->spare_fd = -1;
    free(srv->listeners);
    srv->listeners = NULL;
    ev_timer_stop(srv->ctx.loop, &srv->stop_deadline);
    ev_timer_stop(srv->ctx.loop, &srv->accept_backoff);
    ev_signal_stop(srv->ctx.loop, &srv->sigint);
    ev_signal_stop(srv->ctx.loop, &srv->sigterm);
    ev_signal_stop(srv->ctx.loop, &srv->sighup);
    context_free(&srv->ctx);
}
