#include "autoconfig.h"

#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "exec.h"
#include "proxy.h"
#include "log.h"
#include "util.h"

#define ACCEPTS_PER_WAKE  64   /* fairness between accepting and serving */
#define ACCEPT_BACKOFF    0.5  /* seconds without accepting after EMFILE/ENFILE */
#define SHUTDOWN_DEADLINE 10.0 /* seconds for connections and children to end */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents);

static void free_graveyard(struct server *srv)
{
    while (srv->graveyard) {
        struct conn *c = srv->graveyard;
        srv->graveyard = c->next;
        conn_free(c);
    }
}

static void sweep(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)revents;
    struct server *srv = container_of(w, struct server, sweeper);
    if (!srv->graveyard) return;
    free_graveyard(srv);
    server_check_done(srv);
}

static void set_accepting(struct server *srv, bool on)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (srv->listeners[i].fd < 0) continue;
        if (on)
            ev_io_start(srv->loop, &srv->listeners[i].io);
        else
            ev_io_stop(srv->loop, &srv->listeners[i].io);
    }
}

static void on_backoff_over(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct server *srv = container_of(w, struct server, accept_backoff);
    if (!srv->stopping) set_accepting(srv, true);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct server *srv = w->data;
    log_info(0, "%s received", strsignal(w->signum));
    server_stop(srv);
}

/* SIGHUP reloads what can change without a restart. */
static void on_hangup(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct server *srv = w->data;
    if (srv->proxy)
        proxy_reload(srv);
    else
        log_info(0, "SIGHUP: nothing to reload when running a COMMAND");
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct server *srv = container_of(w, struct server, stop_deadline);
    log_warn(0,
             "shutdown deadline reached with %zu connections and %u processes left; killing them",
             srv->nconns, srv->nchildren);
    exec_kill_all(srv);
    ev_break(loop, EVBREAK_ALL);
}

void server_init(struct server *srv, struct ev_loop *loop, const struct config *cfg,
                 const char *command_path, const char *static_root)
{
    memset(srv, 0, sizeof *srv);
    srv->loop = loop;
    srv->cfg = cfg;
    srv->command_path = command_path;
    srv->static_root = static_root;
    ev_check_init(&srv->sweeper, sweep);
    /* Lowest priority: it runs after the callbacks of the same iteration,
     * which may have just closed connections. */
    ev_set_priority(&srv->sweeper, EV_MINPRI);
    ev_check_start(loop, &srv->sweeper);
    ev_unref(loop); /* the sweeper alone never keeps the loop running */
    ev_init(&srv->accept_backoff, on_backoff_over);
    ev_init(&srv->stop_deadline, on_deadline);
    ev_signal_init(&srv->sigint, on_signal, SIGINT);
    ev_signal_init(&srv->sigterm, on_signal, SIGTERM);
    ev_signal_init(&srv->sighup, on_hangup, SIGHUP);
    srv->sigint.data = srv->sigterm.data = srv->sighup.data = srv;
    ev_signal_start(loop, &srv->sigint);
    ev_signal_start(loop, &srv->sigterm);
    ev_signal_start(loop, &srv->sighup);
}

static void describe(const struct sockaddr *sa, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET6) {
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
static int listen_on(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
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

static int add_listener(struct server *srv, int fd, const struct sockaddr *sa)
{
    struct listener *l = realloc(srv->listeners, (srv->nlisteners + 1) * sizeof *l);
    if (!l) return -1;
    srv->listeners = l; /* watchers are started only once this array is final */
    l = &srv->listeners[srv->nlisteners++];
    l->srv = srv;
    l->fd = fd;
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

static int listen_address(struct server *srv, const char *addr, bool all_interfaces)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char host[256], port[16];
    if (addr) host_part(addr, host, sizeof host);
    snprintf(port, sizeof port, "%u", srv->cfg->port);
    int rc = getaddrinfo(addr ? host : NULL, port, &hints, &res);
    if (rc) {
        log_fatal(0, "cannot listen on %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    int opened = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = listen_on(ai);
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
        if (add_listener(srv, fd, ai->ai_addr) < 0) {
            close(fd);
            freeaddrinfo(res);
            return -1;
        }
        log_info(0, "listening on http://%s/", name);
        opened++;
    }
    freeaddrinfo(res);
    return opened ? 0 : -1;
}

int server_listen(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    if (cfg->naddresses == 0) {
        if (listen_address(srv, NULL, true) < 0) return -1;
    } else {
        for (size_t i = 0; i < cfg->naddresses; i++)
            if (listen_address(srv, cfg->addresses[i], false) < 0) return -1;
    }
    set_accepting(srv, true);
    return 0;
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
            conn_new(srv, fd, (struct sockaddr *)&ss);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The pending connection stays queued; without a pause the loop would spin. */
            log_error(0, "accept on %s: %s; not accepting for %.1f s", l->name, strerror(errno),
                      ACCEPT_BACKOFF);
            set_accepting(srv, false);
            ev_timer_set(&srv->accept_backoff, ACCEPT_BACKOFF, 0.);
            ev_timer_start(srv->loop, &srv->accept_backoff);
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
        ev_io_stop(srv->loop, &l->io);
        close(l->fd);
        l->fd = -1;
    }
}

void server_stop(struct server *srv)
{
    if (srv->stopping) {
        log_info(0, "second stop signal: exiting now");
        exec_kill_all(srv);
        ev_break(srv->loop, EVBREAK_ALL);
        return;
    }
    srv->stopping = true;
    log_info(0, "shutting down: %zu connections, %u processes", srv->nconns, srv->nchildren);
    close_listeners(srv);
    ev_timer_stop(srv->loop, &srv->accept_backoff);
    struct conn *next;
    for (struct conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c->state == CONN_OPEN)
            conn_ws_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
        else if (c->state == CONN_HANDSHAKE || c->state == CONN_CONNECTING)
            conn_abort(c, "server shutting down");
    }
    ev_timer_set(&srv->stop_deadline, SHUTDOWN_DEADLINE, 0.);
    ev_timer_start(srv->loop, &srv->stop_deadline);
    server_check_done(srv);
}

void server_check_done(struct server *srv)
{
    if (srv->stopping && srv->nconns == 0 && srv->nbackend_objs == 0 && !srv->graveyard)
        ev_break(srv->loop, EVBREAK_ALL);
}

void server_free(struct server *srv)
{
    while (srv->conns) conn_abort(srv->conns, "server exiting");
    free_graveyard(srv);
    exec_free_all(srv);
    proxy_teardown(srv);
    close_listeners(srv);
    free(srv->listeners);
    srv->listeners = NULL;
    ev_check_stop(srv->loop, &srv->sweeper);
    ev_timer_stop(srv->loop, &srv->stop_deadline);
    ev_timer_stop(srv->loop, &srv->accept_backoff);
    ev_signal_stop(srv->loop, &srv->sigint);
    ev_signal_stop(srv->loop, &srv->sigterm);
    ev_signal_stop(srv->loop, &srv->sighup);
}
