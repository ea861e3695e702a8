/* The shared backend: one COMMAND, many clients.
 *
 * Output: a read from COMMAND's stdout becomes one block of frames, encoded
 * once and queued (reference-counted) to every client. While a client's
 * queue is above the high-water mark, COMMAND's stdout is not read (its pipe
 * fills and it blocks), so everyone who keeps up gets everything, in order.
 * A client that stays above the mark for --slow-client-timeout is closed
 * with 1008 (or, with --slow-client=drop, skipped until it drains), and the
 * others go on.
 *
 * Input: each client message becomes one line on COMMAND's stdin, written
 * whole (never interleaved with another client's), prefixed with the
 * connection id and a tab under --shared-prefix.
 *
 * With --connect instead of COMMAND the source is one connection to the
 * target: bytes both ways, binary messages, reconnected with back-off. */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/buf.h"
#include "net/compress.h"
#include "net/session.h"
#include "net/context.h"
#include "backend/launch.h"
#include "base/log.h"
#include "base/metrics.h"
#include "net/sharedq.h"
#include "backend/target.h"
#include "proto/utf8.h"
#include "base/util.h"
#include "proto/ws.h"

#define READ_MAX        65536      /* bytes read from stdout at a time */
#define SHARED_LINE_MAX 65536      /* a longer line is cut into several messages */
#define STDIN_HIGH      262144     /* stop taking client messages above this */
#define STDIN_LOW       65536      /* and take them again below this */
#define QUEUE_CAP       (4u << 20) /* a client queue this long is too slow at once */
#define BACKOFF_FIRST   0.1        /* seconds before restarting COMMAND; doubles... */
#define BACKOFF_MAX     30.0       /* ...up to this */
#define STABLE_AFTER    10.0       /* a run this long resets the back-off */

struct shared_client {
    struct shared_hub *hub;
    struct shared_client *prev, *next;
    struct session *session;
    uint64_t id;
    bool above;    /* queue over the high-water mark */
    bool dropping; /* --slow-client=drop: skipped until it drains */
    bool zcounted; /* counted in hub->nzclients */
    ev_tstamp above_since;
    uint64_t dropped;
    bool closing;       /* server stopping: 1001 once COMMAND is done */
    bool waiting_stdin; /* a message is held until stdin drains */
    struct buf partial; /* an unfinished (fragmented) client message */
};

struct shared_hub {
    struct backend *b;
    struct shared_client *clients;
    size_t nclients;
    /* permessage-deflate: each message is also compressed once, for the
     * clients whose sessions can take that copy (compress_shares_output) */
    size_t nzclients;              /* clients with server_no_context_takeover agreed */
    struct compress_settings zset; /* the latest such client's route's */
    size_t nblocking;              /* clients above the mark that COMMAND waits for */

    bool running; /* COMMAND started (or the connection opened), not yet down */
    bool sock;    /* --connect: the source is one socket (in_fd == out_fd) */
    bool binary;  /* messages are binary: --binary or --connect */
    struct target target;
    size_t next_addr; /* --connect: the address to try next */
    pid_t pid;
    int in_fd, out_fd, err_fd;
    bool pty; /* --pty: out_fd is the terminal's master */
    ev_io in_w, out_w, err_w;
    ev_child cw;
    bool reaped, out_done, counted;
    int status;
    ev_tstamp started;
    struct buf line;    /* stdout bytes of an unfinished line (text mode) */
    struct buf errline; /* unfinished stderr line */
    struct buf stdin_q; /* bytes for COMMAND's stdin */

    ev_timer restart; /* back-off before starting COMMAND again */
    double backoff;
    ev_timer slow;       /* --slow-client-timeout */
    ev_timer kill_timer; /* stopping: SIGTERM, then SIGKILL */
    int kill_step;
    bool stopping;
    bool retired; /* a reload removed the route: stop once the last client has gone */
    bool utf8_warned, cut_warned;
    bool drop_logged; /* "messages dropped while down" said for this outage */
};

/* ---- output: COMMAND → every client --------------------------------------------- */

/* Frames being gathered for one destination (everyone, or one client):
 * as they are, and the same messages compressed for the clients that agreed
 * on permessage-deflate (built only while there are such clients). */
struct batch {
    struct sq_block *block;
    struct sq_block *zblock;
    unsigned msgs;
    size_t payload;
};

static void deliver(struct shared_hub *h, struct batch *b, struct shared_client *only)
{
    if (!b->block) return;
    if (b->block->len) {
        struct shared_client *next;
        for (struct shared_client *cl = only ? only : h->clients; cl; cl = next) {
            next = only ? NULL : cl->next;
            if (cl->dropping) {
                cl->dropped += b->msgs;
                metrics_add(MC_SLOW_DROPPED, b->msgs);
                continue;
            }
            long queued = session_queue_shared(cl->session, b->block, b->zblock, &h->zset, b->msgs,
                                               b->payload);
            if (queued > (long)QUEUE_CAP && !cl->dropping) {
                /* Past any burst the mark allows: too slow right now. */
                cl->above_since = ev_now(h->b->ctx->loop) - h->b->set->slow_client_timeout;
                ev_feed_event(h->b->ctx->loop, &h->slow, EV_TIMER);
            }
        }
    }
    sq_block_unref(b->block);
    if (b->zblock) sq_block_unref(b->zblock);
    *b = (struct batch){0};
}

/* A batch's blocks hold a read's messages with room to spare. */
#define BLOCK_MIN (READ_MAX + 1024)

/* Append one message (a text frame, or binary) to the batch. */
static int add_frame(struct shared_hub *h, struct batch *b, uint8_t type, const uint8_t *p,
                     size_t n)
{
    uint8_t *repaired = NULL;
    if (type == SESSION_TEXT && utf8_validate(UTF8_ACCEPT, p, n) != UTF8_ACCEPT) {
        size_t m = utf8_sanitize(p, n, NULL, NULL);
        if (!(repaired = malloc(m ? m : 1))) return -1;
        utf8_sanitize(p, n, repaired, NULL);
        p = repaired;
        n = m;
        if (!h->utf8_warned) {
            h->utf8_warned = true;
            log_warn(0, "shared COMMAND wrote invalid UTF-8 in text mode; replaced with U+FFFD");
        }
    }
    int rc = -1;
    const uint8_t *zp = p;
    size_t zn = n;
    bool compressed = false;
    if (h->nzclients) {
        int r = compress_once(&h->zset, p, n, &zp, &zn);
        if (r < 0) goto out;
        compressed = r > 0;
    }
    /* Both copies of a batch hold the same messages. */
    if (!sq_block_has_room(b->block, n) || (h->nzclients && !sq_block_has_room(b->zblock, zn)))
        deliver(h, b, NULL);
    if (sq_block_add_message(&b->block, SESSION_FIN | type, false, p, n, BLOCK_MIN) < 0) goto out;
    if (h->nzclients &&
        sq_block_add_message(&b->zblock, SESSION_FIN | type, compressed, zp, zn, BLOCK_MIN) < 0)
        goto out;
    b->msgs++;
    b->payload += n;
    rc = 0;
out:
    free(repaired);
    return rc;
}

static struct shared_client *find_client(struct shared_hub *h, uint64_t id)
{
    for (struct shared_client *cl = h->clients; cl; cl = cl->next)
        if (cl->id == id) return cl;
    return NULL;
}

/* "@ID<TAB>text" under --shared-prefix: text for that client alone. */
static bool addressed(const uint8_t *p, size_t n, uint64_t *id, size_t *skip)
{
    if (n < 3 || p[0] != '@') return false;
    uint64_t v = 0;
    size_t i = 1;
    for (; i < n && i < 21 && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (uint64_t)(p[i] - '0');
    if (i == 1 || i >= n || p[i] != '\t') return false;
    *id = v;
    *skip = i + 1;
    return true;
}

static int emit_line(struct shared_hub *h, struct batch *all, const uint8_t *p, size_t n)
{
    uint64_t id;
    size_t skip;
    if (h->b->set->shared_prefix && addressed(p, n, &id, &skip)) {
        struct shared_client *cl = find_client(h, id);
        if (!cl) {
            log_debug(0, "shared COMMAND addressed client #%llu, which is not connected",
                      (unsigned long long)id);
            return 0;
        }
        deliver(h, all, NULL); /* keep the order: what came before goes first */
        struct batch one = {0};
        if (add_frame(h, &one, SESSION_TEXT, p + skip, n - skip) < 0) return -1;
        deliver(h, &one, cl);
        return 0;
    }
    return add_frame(h, all, SESSION_TEXT, p, n);
}

/* Complete lines of h->line become messages; at EOF the rest too. A line
 * that fills the buffer is cut (at a character boundary) into messages. */
static int emit_lines(struct shared_hub *h, struct batch *all, bool eof)
{
    const uint8_t *p = buf_head(&h->line);
    size_t n = buf_len(&h->line), used = 0;
    const uint8_t *nl;
    while ((nl = memchr(p + used, '\n', n - used))) {
        size_t len = (size_t)(nl - (p + used));
        size_t content = len && p[used + len - 1] == '\r' ? len - 1 : len;
        if (emit_line(h, all, p + used, content) < 0) return -1;
        used += len + 1;
    }
    size_t rest = n - used;
    if (rest && (eof || rest >= SHARED_LINE_MAX)) {
        size_t cut = eof ? rest : rest - utf8_incomplete_tail(p + used, rest);
        if (!eof && !h->cut_warned) {
            h->cut_warned = true;
            log_warn(0, "shared COMMAND wrote a line over %d bytes: sent as several messages",
                     SHARED_LINE_MAX);
        }
        if (emit_line(h, all, p + used, cut) < 0) return -1;
        used += cut;
    }
    buf_consume(&h->line, used);
    return 0;
}

static void child_down_maybe(struct shared_hub *h);

static void read_stdout(struct shared_hub *h)
{
    struct batch all = {0};
    ssize_t n;
    int rc = 0;
    if (h->binary) {
        uint8_t tmp[READ_MAX];
        n = read(h->out_fd, tmp, sizeof tmp);
        if (n > 0) rc = add_frame(h, &all, SESSION_BINARY, tmp, (size_t)n);
    } else {
        size_t room = SHARED_LINE_MAX - buf_len(&h->line);
        if (buf_reserve(&h->line, room) < 0) {
            rc = -1;
            n = 0;
        } else {
            n = read(h->out_fd, buf_tail(&h->line), room);
            if (n > 0) {
                buf_commit(&h->line, (size_t)n);
                rc = emit_lines(h, &all, false);
            } else if (n == 0) {
                rc = emit_lines(h, &all, true);
            }
        }
    }
    if (rc < 0) log_error(0, "out of memory broadcasting COMMAND's output; output lost");
    deliver(h, &all, NULL);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return;
    /* A terminal's master reads EIO once nothing holds the other side: EOF. */
    if (n < 0 && !(h->pty && errno == EIO))
        log_error(0, "shared %s: %s", h->sock ? h->target.name : "COMMAND's stdout",
                  strerror(errno));
    ev_io_stop(h->b->ctx->loop, &h->out_w);
    close(h->out_fd);
    h->out_fd = -1;
    h->out_done = true;
    buf_free(&h->line);
    child_down_maybe(h);
}

static void on_stdout(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    read_stdout(container_of(w, struct shared_hub, out_w));
}

/* Read COMMAND's stdout only while no client it must wait for is full. */
static void update_reading(struct shared_hub *h)
{
    if (h->out_fd < 0) return;
    if (h->nblocking == 0)
        ev_io_start(h->b->ctx->loop, &h->out_w);
    else
        ev_io_stop(h->b->ctx->loop, &h->out_w);
}

static void ignore_line(void *arg, const uint8_t *p, size_t n) /* --quiet-stderr */
{
    (void)arg;
    (void)p;
    (void)n;
}

static void on_stderr(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct shared_hub *h = container_of(w, struct shared_hub, err_w);
    bool more = h->b->set->quiet_stderr
                    ? launch_read_stderr(h->err_fd, &h->errline, ignore_line, NULL)
                    : launch_log_stderr(h->err_fd, &h->errline, 0, "shared stderr");
    if (more) return;
    ev_io_stop(loop, &h->err_w);
    close(h->err_fd);
    h->err_fd = -1;
}

/* ---- input: clients → COMMAND's stdin ------------------------------------------ */

static void close_stdin(struct shared_hub *h)
{
    if (h->in_fd < 0) return;
    ev_io_stop(h->b->ctx->loop, &h->in_w);
    if (h->sock)
        shutdown(h->in_fd, SHUT_WR); /* the same descriptor goes on reading */
    else
        close(h->in_fd);
    h->in_fd = -1;
    buf_free(&h->stdin_q);
}

/* Clients held back because stdin was full may send again. */
static void resume_writers(struct shared_hub *h)
{
    struct shared_client *next;
    for (struct shared_client *cl = h->clients; cl; cl = next) {
        next = cl->next;
        if (!cl->waiting_stdin) continue;
        cl->waiting_stdin = false;
        session_resume_input(cl->session);
    }
}

static void write_stdin(struct shared_hub *h)
{
    if (h->in_fd < 0) return;
    switch (launch_write_queue(h->in_fd, &h->stdin_q)) {
    case 0: ev_io_stop(h->b->ctx->loop, &h->in_w); break;
    case 1: ev_io_start(h->b->ctx->loop, &h->in_w); break;
    default:
        log_info(0, "the shared %s closed its input: %s", h->sock ? "connection" : "COMMAND",
                 strerror(errno));
        close_stdin(h);
    }
    if (buf_len(&h->stdin_q) <= STDIN_LOW) resume_writers(h);
}

static void on_stdin_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    write_stdin(container_of(w, struct shared_hub, in_w));
}

/* Queue one whole line for stdin (dropped while COMMAND is not running). */
static void send_line(struct shared_hub *h, const char *prefix, const uint8_t *p, size_t n,
                      bool newline)
{
    if (h->in_fd < 0) {
        if (!h->drop_logged && !h->stopping)
            log_warn(0, "the shared %s is not running: client messages are dropped until it is",
                     h->sock ? "connection" : "COMMAND");
        h->drop_logged = true;
        return;
    }
    size_t plen = prefix ? strlen(prefix) : 0;
    if (buf_reserve(&h->stdin_q, plen + n + 1) < 0) {
        log_error(0, "out of memory: a message for the shared COMMAND is lost");
        return;
    }
    if (plen) buf_append(&h->stdin_q, prefix, plen);
    buf_append(&h->stdin_q, p, n);
    if (newline) buf_append(&h->stdin_q, "\n", 1);
    write_stdin(h);
}

/* --shared-events: "!open<TAB>ID<TAB>ADDRESS" (with --subprotocol, then
 * "<TAB>PROTOCOL", empty for none) and "!close<TAB>ID". */
static void send_event(struct shared_hub *h, const char *what, struct shared_client *cl)
{
    const struct backend_settings *set = h->b->set;
    if (!set->shared_events) return;
    char line[400];
    const char *proto = cl->session->subprotocol ? cl->session->subprotocol : "";
    int n = strcmp(what, "open") == 0
                ? snprintf(line, sizeof line, "!open\t%llu\t%s%s%.200s", (unsigned long long)cl->id,
                           session_client(cl->session).addr, set->nsubprotocols ? "\t" : "", proto)
                : snprintf(line, sizeof line, "!close\t%llu", (unsigned long long)cl->id);
    send_line(h, NULL, (const uint8_t *)line, (size_t)n, true);
}

static bool shared_client_data(struct session *s, const struct session_chunk *m, size_t *taken)
{
    struct shared_client *cl = s->backend_data;
    struct shared_hub *h = cl->hub;
    const struct backend_settings *set = h->b->set;
    *taken = 0;
    if (buf_len(&h->stdin_q) > STDIN_HIGH) {
        cl->waiting_stdin = true; /* resumed once stdin drains */
        return false;
    }
    *taken = m->len;
    if (!m->last || buf_len(&cl->partial)) {
        if (buf_append(&cl->partial, m->data, m->len) < 0) {
            session_close(s, WS_CLOSE_INTERNAL, "out of memory");
            return true;
        }
        if (!m->last) return true;
    }
    uint8_t *p = buf_len(&cl->partial) ? buf_head(&cl->partial) : m->data;
    size_t n = buf_len(&cl->partial) ? buf_len(&cl->partial) : m->len;
    bool text = !h->binary && (m->type == SESSION_TEXT || m->type == SESSION_CONT);
    char prefix[32] = "";
    if (set->shared_prefix) {
        /* One message, one line: a client cannot forge another's prefix. */
        for (size_t i = 0; i < n; i++)
            if (p[i] == '\n' || p[i] == '\r') p[i] = ' ';
        snprintf(prefix, sizeof prefix, "%llu\t", (unsigned long long)cl->id);
    }
    send_line(h, set->shared_prefix ? prefix : NULL, p, n, text);
    buf_free(&cl->partial);
    return true;
}

/* ---- COMMAND's life --------------------------------------------------------------- */

/* PATH and the other --passenv variables, and SERVER_SOFTWARE: COMMAND
 * serves many requests, so no request variables. */
static char **shared_environment(const struct backend_settings *set)
{
    size_t n = 0;
    char **env = calloc(set->npassenv + 2, sizeof *env);
    if (!env) return NULL;
    for (size_t i = 0; i < set->npassenv; i++) {
        const char *v = getenv(set->passenv[i]);
        if (!v) continue;
        size_t len = strlen(set->passenv[i]) + strlen(v) + 2;
        if (!(env[n] = malloc(len))) break;
        snprintf(env[n++], len, "%s=%s", set->passenv[i], v);
    }
    env[n] = strdup("SERVER_SOFTWARE=" PACKAGE_NAME "/" PACKAGE_VERSION);
    return env;
}

static void free_environment(char **env)
{
    for (char **p = env; p && *p; p++) free(*p);
    free(env);
}

static void on_exit_status(struct ev_loop *loop, ev_child *w, int revents);

static void start_watchers(struct shared_hub *h)
{
    struct context *ctx = h->b->ctx;
    h->running = true;
    h->out_done = false;
    h->kill_step = 0;
    h->started = ev_now(ctx->loop);
    ev_io_init(&h->in_w, on_stdin_writable, h->in_fd, EV_WRITE);
    ev_io_init(&h->out_w, on_stdout, h->out_fd, EV_READ);
    update_reading(h);
    backend_hold(h->b); /* a graceful stop waits for it */
    h->counted = true;
}

/* --connect: a non-blocking connect; a refusal shows up as a read error,
 * which ends this connection and schedules the next attempt. */
static int open_socket(struct shared_hub *h, char *err, size_t errlen)
{
    const struct target *t = &h->target;
    size_t i = h->next_addr++ % t->naddrs;
    const struct sockaddr *sa = (const struct sockaddr *)&t->addrs[i];
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, sa, t->addr_lens[i]) < 0 && errno != EINPROGRESS)) {
        snprintf(err, errlen, "%s: %s", t->name, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    h->in_fd = h->out_fd = fd;
    h->reaped = true; /* no process to wait for */
    start_watchers(h);
    log_info(0, "shared connection to %s opened", t->name);
    return 0;
}

static int start_child(struct shared_hub *h, char *err, size_t errlen)
{
    struct backend *b = h->b;
    if (h->sock) return open_socket(h, err, errlen);
    char **env = shared_environment(b->set);
    struct launched child;
    const struct launch_how how = launch_how_of(b->set);
    int rc = env ? launch_with_pipes(b->command_path, b->set->command, env, &how, &child) : ENOMEM;
    free_environment(env);
    if (rc) {
        metrics_count(MC_CHILDREN_START_FAILED);
        snprintf(err, errlen, "%.200s: %s", b->command_path, strerror(rc));
        return -1;
    }
    h->pid = child.pid;
    h->pty = child.pty;
    h->in_fd = child.in_fd;
    h->out_fd = child.out_fd;
    h->err_fd = child.err_fd;
    h->reaped = false;
    start_watchers(h);
    ev_io_init(&h->err_w, on_stderr, h->err_fd, EV_READ);
    ev_child_init(&h->cw, on_exit_status, h->pid, 0);
    ev_child_start(b->ctx->loop, &h->cw);
    ev_io_start(b->ctx->loop, &h->err_w);
    backend_child_started(b);
    log_info(0, "started shared %s as pid %d", b->command_path, (int)h->pid);
    /* A restarted COMMAND learns who is there, in the order they came (the
     * list has the newest first). */
    struct shared_client *last = h->clients;
    while (last && last->next) last = last->next;
    for (struct shared_client *cl = last; cl; cl = cl == h->clients ? NULL : cl->prev)
        send_event(h, "open", cl);
    h->drop_logged = false;
    return 0;
}

static void try_start(struct shared_hub *h);

static void on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    try_start(container_of(w, struct shared_hub, restart));
}

static void schedule_restart(struct shared_hub *h)
{
    if (h->stopping || ev_is_active(&h->restart)) return;
    if (!h->clients && h->b->set->shared != SHARED_EAGER) return; /* next client starts it */
    log_info(0, "restarting the shared %s in %.1f s", h->sock ? "connection" : "COMMAND",
             h->backoff);
    ev_timer_set(&h->restart, h->backoff, 0.);
    ev_timer_start(h->b->ctx->loop, &h->restart);
    h->backoff = h->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : h->backoff * 2;
}

static void try_start(struct shared_hub *h)
{
    char err[300];
    if (h->running || h->stopping || ev_is_active(&h->restart)) return;
    if (start_child(h, err, sizeof err) < 0) {
        log_error(0, "cannot start the shared %s: %s", h->sock ? "connection" : "COMMAND", err);
        schedule_restart(h);
    }
}

static void detach(struct shared_hub *h, struct shared_client *cl);

/* Stopping and COMMAND is done: what is queued goes out, then 1001. */
static void finish_client(struct shared_hub *h, struct shared_client *cl)
{
    struct session *s = cl->session;
    detach(h, cl);
    session_finish(s, WS_CLOSE_GOING_AWAY, "server shutting down");
}

static void finish_closing_clients(struct shared_hub *h)
{
    struct shared_client *next;
    for (struct shared_client *cl = h->clients; cl; cl = next) {
        next = cl->next;
        if (cl->closing) finish_client(h, cl);
    }
}

/* COMMAND is down once it is reaped and its stdout is at EOF. */
static void child_down_maybe(struct shared_hub *h)
{
    if (!h->running || !h->reaped || !h->out_done) return;
    struct context *ctx = h->b->ctx;
    close_stdin(h);
    if (h->err_fd >= 0) {
        ev_io_stop(ctx->loop, &h->err_w);
        close(h->err_fd);
        h->err_fd = -1;
    }
    buf_free(&h->errline);
    ev_timer_stop(ctx->loop, &h->kill_timer);
    int st = h->status;
    if (h->sock) {
        if (!h->stopping) log_error(0, "shared connection to %s closed", h->target.name);
    } else if (!h->stopping) {
        if (WIFSIGNALED(st))
            log_error(0, "shared COMMAND (pid %d) was killed by signal %d", (int)h->pid,
                      WTERMSIG(st));
        else
            log_error(0, "shared COMMAND (pid %d) exited with status %d", (int)h->pid,
                      WEXITSTATUS(st));
    }
    if (ev_now(ctx->loop) - h->started >= STABLE_AFTER) h->backoff = BACKOFF_FIRST;
    h->pid = 0;
    h->running = false;
    h->counted = false; /* start_watchers() counted it when it began running */
    if (h->stopping)
        finish_closing_clients(h);
    else
        schedule_restart(h);
    backend_release(h->b);
}

static void on_exit_status(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct shared_hub *h = container_of(w, struct shared_hub, cw);
    ev_child_stop(loop, w);
    h->reaped = true;
    h->status = w->rstatus;
    backend_child_reaped(h->b, h->status);
    close_stdin(h);
    /* Others in its group may hold stdout: SIGTERM, then SIGKILL. */
    if (!h->out_done && !ev_is_active(&h->kill_timer)) {
        h->kill_step = 0;
        ev_timer_set(&h->kill_timer, 0., 0.);
        ev_timer_start(loop, &h->kill_timer);
    }
    child_down_maybe(h);
}

/* Stopping: stdin is closed; then SIGTERM and SIGKILL to the group. */
static void on_kill_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct shared_hub *h = container_of(w, struct shared_hub, kill_timer);
    if (!h->running) return;
    if (h->sock) { /* the target did not close its side in time */
        ev_io_stop(loop, &h->out_w);
        close(h->out_fd);
        h->out_fd = -1;
        h->out_done = true;
        child_down_maybe(h);
        return;
    }
    kill(-h->pid, h->kill_step == 0 ? SIGTERM : SIGKILL);
    if (h->kill_step++ == 0) {
        ev_timer_set(w, 1.0, 0.);
        ev_timer_start(loop, w);
    }
}

/* ---- clients ------------------------------------------------------------------------ */

static enum backend_start shared_start(struct backend *b, struct session *s,
                                       const struct http_request *req,
                                       struct backend_refusal *refusal)
{
    struct shared_hub *h = b->state;
    refusal->http_status = 0; /* as exec: accept, then close 1011 */
    if (h->sock && http_header_has_token(req, "Sec-WebSocket-Protocol", "binary"))
        s->subprotocol = "binary"; /* what noVNC and websockify clients ask for */
    else if (!backend_pick_subprotocol(b->set, s, req, refusal))
        return BACKEND_REFUSED;
    if (!h->running && !ev_is_active(&h->restart) &&
        start_child(h, refusal->why, sizeof refusal->why) < 0)
        return BACKEND_REFUSED;
    struct shared_client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        snprintf(refusal->why, sizeof refusal->why, "out of memory");
        return BACKEND_REFUSED;
    }
    cl->hub = h;
    cl->session = s;
    cl->id = s->id;
    list_push(h->clients, cl);
    h->nclients++;
    metrics_gauge(MG_SHARED_CLIENTS, 1);
    const struct compress_settings *zset = session_shared_compression(s);
    if (zset) {
        cl->zcounted = true;
        h->nzclients++;
        h->zset = *zset;
    }
    s->backend_data = cl;
    if (h->sock)
        snprintf(s->target, sizeof s->target, "shared %.100s", h->target.name);
    else if (h->running)
        snprintf(s->target, sizeof s->target, "shared pid %d", (int)h->pid);
    else
        snprintf(s->target, sizeof s->target, "shared (restarting)");
    send_event(h, "open", cl);
    return BACKEND_READY;
}

static void unblock(struct shared_hub *h, struct shared_client *cl)
{
    if (cl->above && !cl->dropping) h->nblocking--;
    cl->above = false;
    update_reading(h);
}

static void shared_stop(struct backend *b);

static void detach(struct shared_hub *h, struct shared_client *cl)
{
    cl->session->backend_data = NULL;
    unblock(h, cl);
    list_unlink(h->clients, cl);
    h->nclients--;
    metrics_gauge(MG_SHARED_CLIENTS, -1);
    if (cl->zcounted) h->nzclients--;
    send_event(h, "close", cl);
    if (cl->dropped)
        log_info(cl->id, "%llu messages were not delivered to this slow client",
                 (unsigned long long)cl->dropped);
    buf_free(&cl->partial);
    free(cl);
    if (h->retired && !h->clients) shared_stop(h->b);
}

static void shared_client_closed(struct session *s)
{
    struct shared_client *cl = s->backend_data;
    if (cl) detach(cl->hub, cl);
}

static void arm_slow_timer(struct shared_hub *h)
{
    ev_tstamp first = 0;
    for (struct shared_client *cl = h->clients; cl; cl = cl->next)
        if (cl->above && !cl->dropping && (!first || cl->above_since < first))
            first = cl->above_since;
    ev_timer_stop(h->b->ctx->loop, &h->slow);
    if (!first) return;
    double in = first + h->b->set->slow_client_timeout - ev_now(h->b->ctx->loop);
    ev_timer_set(&h->slow, in > 0.001 ? in : 0.001, 0.);
    ev_timer_start(h->b->ctx->loop, &h->slow);
}

static void shared_pause_output(struct session *s)
{
    struct shared_client *cl = s->backend_data;
    struct shared_hub *h = cl->hub;
    if (cl->above || cl->dropping) return;
    cl->above = true;
    cl->above_since = ev_now(h->b->ctx->loop);
    h->nblocking++;
    update_reading(h);
    arm_slow_timer(h);
}

static void shared_resume_output(struct session *s)
{
    struct shared_client *cl = s->backend_data;
    struct shared_hub *h = cl->hub;
    unblock(h, cl);
    if (cl->dropping) {
        cl->dropping = false;
        log_info(cl->id, "slow client caught up; %llu messages were skipped",
                 (unsigned long long)cl->dropped);
    }
    arm_slow_timer(h);
}

/* A client above the mark for --slow-client-timeout: close it (1008) or skip it. */
static void on_slow(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct shared_hub *h = container_of(w, struct shared_hub, slow);
    const struct backend_settings *set = h->b->set;
    ev_tstamp now = ev_now(loop);
    struct shared_client *next;
    for (struct shared_client *cl = h->clients; cl; cl = next) {
        next = cl->next;
        if (!cl->above || cl->dropping || now - cl->above_since < set->slow_client_timeout - 1e-3)
            continue;
        if (set->slow_client_drop) {
            h->nblocking--;
            cl->dropping = true;
            log_warn(cl->id, "client too slow for %.1f s: skipping messages until it catches up",
                     set->slow_client_timeout);
        } else {
            log_warn(cl->id, "client too slow for %.1f s (%zu bytes queued): closing with 1008",
                     set->slow_client_timeout, session_queued(cl->session));
            session_drop_shared(cl->session);
            metrics_count(MC_SLOW_CLOSED);
            session_close(cl->session, WS_CLOSE_POLICY, "too slow");
        }
    }
    update_reading(h);
    arm_slow_timer(h);
}

static void shared_shutdown(struct session *s)
{
    struct shared_client *cl = s->backend_data;
    struct shared_hub *h = cl->hub;
    cl->closing = true;
    if (!h->running) finish_client(h, cl);
}

/* ---- the hub -------------------------------------------------------------------------- */

/* Set up the hub; with --shared=eager, start COMMAND now. */
static int shared_setup(struct backend *b, char *err, size_t errlen)
{
    const struct launch_how how = launch_how_of(b->set);
    if (launch_check(&how, err, errlen) < 0) return -1;
    struct shared_hub *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->b = b;
    h->in_fd = h->out_fd = h->err_fd = -1;
    h->backoff = BACKOFF_FIRST;
    h->sock = b->set->connect != NULL;
    h->binary = b->set->binary || h->sock;
    if (h->sock && (target_parse(b->set->connect, &h->target, err, errlen) < 0 ||
                    target_resolve(&h->target, err, errlen) < 0)) {
        free(h);
        return -1;
    }
    ev_init(&h->restart, on_restart);
    ev_init(&h->slow, on_slow);
    ev_init(&h->kill_timer, on_kill_timer);
    b->state = h;
    if (b->set->shared == SHARED_EAGER && start_child(h, err, errlen) < 0) return -1;
    return 0;
}

/* The server is stopping: end COMMAND (stdin closed, then signals), deliver
 * what it still prints, then close every client with 1001. */
static void shared_stop(struct backend *b)
{
    struct shared_hub *h = b->state;
    if (!h || h->stopping) return;
    h->stopping = true;
    ev_timer_stop(b->ctx->loop, &h->restart);
    if (!h->running) return;
    close_stdin(h); /* COMMAND sees EOF; what it prints meanwhile is still delivered */
    ev_timer_set(&h->kill_timer, 0.5 + b->set->closems / 1000.0, 0.);
    ev_timer_start(b->ctx->loop, &h->kill_timer);
}

/* A reload removed the route: the clients keep COMMAND until the last one goes. */
static void shared_retire(struct backend *b)
{
    struct shared_hub *h = b->state;
    if (!h) return;
    h->retired = true;
    if (!h->clients) shared_stop(b);
}

/* Second signal or deadline: SIGKILL COMMAND's process group. */
static void shared_kill(struct backend *b)
{
    struct shared_hub *h = b->state;
    if (h && h->running && !h->sock) kill(-h->pid, SIGKILL);
}

/* At exit: reap and free everything. */
static void shared_teardown(struct backend *b)
{
    struct shared_hub *h = b->state;
    if (!h) return;
    struct context *ctx = b->ctx;
    while (h->clients) {
        struct shared_client *cl = h->clients;
        cl->session->handler = NULL;
        cl->session->backend_data = NULL;
        list_unlink(h->clients, cl);
        buf_free(&cl->partial);
        free(cl);
    }
    if (h->running && !h->reaped) {
        kill(-h->pid, SIGKILL);
        int status = -1;
        waitpid(h->pid, &status, 0);
        ev_child_stop(ctx->loop, &h->cw);
        backend_child_reaped(b, status);
    }
    close_stdin(h);
    if (h->out_fd >= 0) {
        ev_io_stop(ctx->loop, &h->out_w);
        close(h->out_fd);
    }
    if (h->err_fd >= 0) {
        ev_io_stop(ctx->loop, &h->err_w);
        close(h->err_fd);
    }
    if (h->counted) backend_release(b);
    ev_timer_stop(ctx->loop, &h->restart);
    ev_timer_stop(ctx->loop, &h->slow);
    ev_timer_stop(ctx->loop, &h->kill_timer);
    buf_free(&h->line);
    buf_free(&h->errline);
    free(h);
    b->state = NULL;
}

static bool shared_serves(const struct backend_settings *set)
{
    return set->shared != SHARED_OFF;
}

/* A shared COMMAND is started the way exec starts its children. */
static void shared_prepare(const struct backend_settings *set)
{
    if (!set->proxy) launch_reserve_slots();
}

const struct backend_ops shared_backend = {
    .mode = MM_SHARED,
    .broadcast = true,
    .serves = shared_serves,
    .prepare = shared_prepare,
    .setup = shared_setup,
    .start = shared_start,
    .session =
        {
            .client_data = shared_client_data,
            .client_closed = shared_client_closed,
            .pause_output = shared_pause_output,
            .resume_output = shared_resume_output,
            .shutdown = shared_shutdown,
        },
    .retire = shared_retire,
    .stop = shared_stop,
    .kill = shared_kill,
    .teardown = shared_teardown,
};
