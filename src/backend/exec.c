/* The exec backend: one child process per WebSocket connection, with
 * websocketd's line protocol on its stdin and stdout. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/buf.h"
#include "backend/cgienv.h"
#include "net/session.h"
#include "net/context.h"
#include "net/resolve.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/rootpath.h"
#include "backend/killseq.h"
#include "backend/launch.h"
#include "proto/json.h"
#include "proto/cidr.h"
#include "proto/pmd.h"
#include "proto/utf8.h"
#include "base/util.h"
#include "proto/ws.h"

extern char **environ;

#define LINE_MAX_BYTES   65536            /* a longer stdout line is sent as a fragmented message */
#define READ_MAX_BYTES   SESSION_READ_MAX /* one binary message per stdout read of at most this */
#define STDIN_BATCH      65536            /* client bytes held for stdin before the client waits */
#define DIRECT_WRITE_MIN 16384            /* a chunk this big is written without copying */
#define STDERR_HELD_MAX  65536            /* --passstderr bytes held behind a fragmented line */

/* The backend's state: the children still tracked (their clients may be gone). */
struct exec_state {
    struct exec_child *children;
};

struct exec_child {
    struct backend *b;
    struct exec_child *prev, *next;
    struct session *session; /* NULL once the client has gone */
    uint64_t id;             /* connection id, for logs */
    pid_t pid;               /* also the process group id */
    bool binary;
    bool pty;                  /* --pty: out_fd is the terminal's master */
    int in_fd, out_fd, err_fd; /* -1 once closed */
    ev_io in_w, out_w, err_w;
    ev_child cw;
    struct kill_seq kill;
    bool terminating; /* the close sequence has begun */
    bool going_away;  /* ... because the server is stopping: close with 1001 */
    bool kill_done;   /* ... and has run its course */
    bool reaped;
    int status;
    struct buf pending; /* client bytes taken but not yet written to stdin */
    bool fragment_open; /* a long line is going out as fragments */
    bool utf8_warned;
    struct buf line;     /* stdout bytes of an unfinished line (text mode) */
    struct buf errline;  /* unfinished stderr line */
    struct buf err_held; /* --passstderr messages waiting for a fragmented stdout line to end */
    bool output_paused;  /* the client is full: stdout (and --passstderr's stderr) not read */
    int busy;            /* callbacks of ours on the stack: freeing waits for them */
    bool free_pending;
};

static uint8_t scratch[READ_MAX_BYTES];

static void maybe_finish(struct exec_child *ch);
static void child_free(struct exec_child *ch);

/* A callback may, through the connection, end up releasing this child; the
 * memory stays valid until the outermost callback returns. */
static void enter(struct exec_child *ch)
{
    ch->busy++;
}

static void leave(struct exec_child *ch)
{
    if (--ch->busy == 0 && ch->free_pending) child_free(ch);
}

static void release(struct exec_child *ch)
{
    if (ch->busy)
        ch->free_pending = true;
    else
        child_free(ch);
}

static void close_fd(struct exec_child *ch, int *fd, ev_io *w)
{
    ev_io_stop(ch->b->ctx->loop, w);
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void close_stdin(struct exec_child *ch)
{
    close_fd(ch, &ch->in_fd, &ch->in_w);
    buf_free(&ch->pending);
}

static bool group_alive(const struct exec_child *ch)
{
    return kill_seq_group_alive(ch->pid);
}

/* Close stdin, then the close sequence (backend/killseq.h). */
static void begin_termination(struct exec_child *ch)
{
    if (ch->terminating) return;
    ch->terminating = true;
    close_stdin(ch);
    kill_seq_start(&ch->kill, ch->b->set, ch->pid, ch->id);
}

static void on_kill_done(struct kill_seq *k)
{
    struct exec_child *ch = container_of(k, struct exec_child, kill);
    enter(ch);
    ch->kill_done = true;
    maybe_finish(ch);
    leave(ch);
}

static void flush_held_stderr(struct exec_child *ch);

/* One frame of text: as it is when valid UTF-8, else a repaired copy. */
static void send_text_frame(struct exec_child *ch, uint8_t b0, const uint8_t *p, size_t n)
{
    if (utf8_validate(UTF8_ACCEPT, p, n) == UTF8_ACCEPT) {
        session_send(ch->session, b0, p, n);
        return;
    }
    size_t replaced = 0;
    size_t m = utf8_sanitize(p, n, NULL, &replaced);
    uint8_t *dst = session_send_begin(ch->session, b0, m);
    if (!dst) return;
    utf8_sanitize(p, n, dst, NULL);
    session_send_commit(ch->session, m);
    if (!ch->utf8_warned) {
        ch->utf8_warned = true;
        log_warn(ch->id, "the command wrote invalid UTF-8 in text mode; replaced with U+FFFD "
                         "(use --binary for binary data)");
    }
}

/* One text message, or a fragment of one (fin false): the stdout lines. */
static void send_text(struct exec_child *ch, const uint8_t *p, size_t n, bool fin)
{
    uint8_t b0 = (fin ? SESSION_FIN : 0) | (ch->fragment_open ? SESSION_CONT : SESSION_TEXT);
    ch->fragment_open = !fin;
    send_text_frame(ch, b0, p, n);
    if (fin) flush_held_stderr(ch); /* stderr lines that waited for this message to end */
}

/* Turn the complete lines in ch->line into messages; at EOF, the rest too.
 * A line that fills the buffer goes out as a fragment. */
static void emit_lines(struct exec_child *ch, bool eof)
{
    const uint8_t *p = buf_head(&ch->line);
    size_t n = buf_len(&ch->line), used = 0;
    while (ch->session && used < n) { /* an empty queue has no memory: p is NULL */
        const uint8_t *nl = memchr(p + used, '\n', n - used);
        if (!nl) break;
        size_t len = (size_t)(nl - (p + used));
        size_t content = len && p[used + len - 1] == '\r' ? len - 1 : len;
        send_text(ch, p + used, content, true);
        used += len + 1;
    }
    size_t rest = n - used;
    if (ch->session && eof) {
        if (rest || ch->fragment_open) send_text(ch, p + used, rest, true);
        used = n;
    } else if (ch->session && rest >= LINE_MAX_BYTES) {
        /* Keep back a split character and a '\r' that may start "\r\n". */
        size_t keep = utf8_incomplete_tail(p + used, rest);
        if (keep < rest && p[used + rest - keep - 1] == '\r') keep++;
        send_text(ch, p + used, rest - keep, false);
        used += rest - keep;
    }
    buf_consume(&ch->line, ch->session ? used : n);
}

/* stdout is done (EOF, error, or given up on): send what is left. */
static void finish_stdout(struct exec_child *ch)
{
    if (ch->out_fd < 0) return;
    close_fd(ch, &ch->out_fd, &ch->out_w);
    if (ch->session && !ch->binary) emit_lines(ch, true);
    buf_free(&ch->line);
    if (ch->session) session_flush(ch->session);
}

static void read_stdout(struct exec_child *ch);

static void on_stdout(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct exec_child *ch = container_of(w, struct exec_child, out_w);
    enter(ch);
    read_stdout(ch);
    leave(ch);
}

static void read_stdout(struct exec_child *ch)
{
    ssize_t n;
    if (!ch->session) {
        /* The client is gone: drain, so the child can still write while it ends. */
        n = read(ch->out_fd, scratch, sizeof scratch);
    } else if (ch->binary) {
        uint8_t *space = session_space(ch->session, READ_MAX_BYTES);
        if (!space) return;
        n = read(ch->out_fd, space, READ_MAX_BYTES);
        if (n > 0)
            session_space_commit(ch->session, SESSION_FIN | SESSION_BINARY, (size_t)n);
        else
            session_space_abandon(ch->session);
    } else {
        size_t room = LINE_MAX_BYTES - buf_len(&ch->line);
        if (buf_reserve(&ch->line, room) < 0) {
            session_abort(ch->session, "out of memory reading the command's output");
            return;
        }
        n = read(ch->out_fd, buf_tail(&ch->line), room);
        if (n > 0) {
            buf_commit(&ch->line, (size_t)n);
            emit_lines(ch, false);
        }
    }
    if (n > 0) {
        if (ch->session) session_flush(ch->session);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (ch->kill_done) maybe_finish(ch); /* drained a pipe nobody of ours still writes */
        return;
    }
    /* A terminal's master reads EIO once nothing holds the other side: EOF. */
    if (n < 0 && !(ch->pty && errno == EIO))
        log_error(ch->id, "reading the command's stdout: %s", strerror(errno));
    finish_stdout(ch);
    if (!ch->reaped) begin_termination(ch); /* it closed stdout but lives on */
    maybe_finish(ch);
}

/* ---- stderr: logged, and with --passstderr sent too ------------------------------- */

/* Whether stderr is read now: always when it is only logged; with
 * --passstderr only while the client takes output and little is held. */
static void update_stderr_reading(struct exec_child *ch)
{
    if (ch->err_fd < 0) return;
    bool passing = ch->b->set->pass_stderr && ch->session;
    if (passing && (ch->output_paused || buf_len(&ch->err_held) >= STDERR_HELD_MAX))
        ev_io_stop(ch->b->ctx->loop, &ch->err_w);
    else
        ev_io_start(ch->b->ctx->loop, &ch->err_w);
}

/* --passstderr's message for one stderr line, appended to out: the line
 * (UTF-8 repaired), or {"stream":"stderr","data":"LINE"}. */
static int stderr_message(enum pass_stderr how, const uint8_t *p, size_t n, struct buf *out)
{
    static const char head[] = "{\"stream\":\"stderr\",\"data\":\"", tail[] = "\"}";
    uint8_t *fixed = malloc(3 * n + 1);
    if (!fixed) return -1;
    size_t m = utf8_sanitize(p, n, fixed, NULL);
    int rc;
    if (how == STDERR_PLAIN) {
        rc = buf_append(out, fixed, m);
    } else {
        size_t e = json_escape(fixed, m, NULL);
        rc = buf_reserve(out, sizeof head - 1 + e + sizeof tail - 1);
        if (rc == 0) {
            buf_append(out, head, sizeof head - 1);
            buf_commit(out, json_escape(fixed, m, buf_tail(out)));
            buf_append(out, tail, sizeof tail - 1);
        }
    }
    free(fixed);
    return rc;
}

/* Held messages are kept as a 4-byte length, then the payload. */
static void hold_stderr(struct exec_child *ch, const struct buf *msg)
{
    uint32_t len = (uint32_t)buf_len(msg);
    if (buf_append(&ch->err_held, &len, sizeof len) < 0 ||
        buf_append(&ch->err_held, buf_head(msg), len) < 0)
        log_error(ch->id, "out of memory holding a stderr line for the client; line lost");
}

static void flush_held_stderr(struct exec_child *ch)
{
    if (!buf_len(&ch->err_held)) return;
    const uint8_t *p = buf_head(&ch->err_held);
    size_t n = buf_len(&ch->err_held), at = 0;
    while (ch->session && at + sizeof(uint32_t) <= n) {
        uint32_t len;
        memcpy(&len, p + at, sizeof len);
        session_send(ch->session, SESSION_FIN | SESSION_TEXT, p + at + sizeof len, len);
        at += sizeof len + len;
    }
    buf_free(&ch->err_held);
    update_stderr_reading(ch);
}

static void stderr_line(void *arg, const uint8_t *p, size_t n)
{
    struct exec_child *ch = arg;
    const struct backend_settings *set = ch->b->set;
    if (!set->quiet_stderr) launch_log_line(ch->id, "stderr", p, n);
    if (!set->pass_stderr || !ch->session) return;
    struct buf msg = {0};
    if (stderr_message(set->pass_stderr, p, n, &msg) < 0) {
        log_error(ch->id, "out of memory sending a stderr line to the client; line lost");
    } else if (ch->fragment_open) {
        hold_stderr(ch, &msg); /* never inside a stdout message */
    } else {
        session_send(ch->session, SESSION_FIN | SESSION_TEXT, buf_head(&msg), buf_len(&msg));
        session_flush(ch->session);
    }
    buf_free(&msg);
}

static void on_stderr(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct exec_child *ch = container_of(w, struct exec_child, err_w);
    enter(ch);
    if (launch_read_stderr(ch->err_fd, &ch->errline, stderr_line, ch)) {
        update_stderr_reading(ch);
    } else {
        close_fd(ch, &ch->err_fd, &ch->err_w);
        maybe_finish(ch); /* it may have waited for this */
    }
    leave(ch);
}

/* Write what the client sent; EAGAIN arms the watcher. */
static void flush_stdin(struct exec_child *ch)
{
    if (ch->in_fd < 0) return;
    switch (launch_write_queue(ch->in_fd, &ch->pending)) {
    case 0:
        /* A client held back meanwhile is resumed from the watcher, not from
         * inside the parse loop that may be calling us. */
        if (ch->session && session_input_held(ch->session))
            ev_io_start(ch->b->ctx->loop, &ch->in_w);
        else
            ev_io_stop(ch->b->ctx->loop, &ch->in_w);
        break;
    case 1: ev_io_start(ch->b->ctx->loop, &ch->in_w); break;
    default:
        log_debug(ch->id, "the command closed its stdin: %s", strerror(errno));
        close_stdin(ch);
    }
}

static void on_stdin_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct exec_child *ch = container_of(w, struct exec_child, in_w);
    flush_stdin(ch);
    if (buf_len(&ch->pending)) return;
    enter(ch);
    if (ch->session) session_resume_input(ch->session);
    leave(ch);
}

static void on_exit_status(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct exec_child *ch = container_of(w, struct exec_child, cw);
    ev_child_stop(loop, w);
    ch->reaped = true;
    ch->kill.reaped = true;
    ch->status = w->rstatus;
    backend_child_reaped(ch->b, ch->status);
    if (WIFEXITED(ch->status))
        log_debug(ch->id, "pid %d exited with status %d", (int)ch->pid, WEXITSTATUS(ch->status));
    else if (WIFSIGNALED(ch->status))
        log_debug(ch->id, "pid %d killed by %s", (int)ch->pid, strsignal(WTERMSIG(ch->status)));
    enter(ch);
    if (ch->out_fd >= 0) begin_termination(ch); /* others in its group still hold stdout */
    maybe_finish(ch);
    leave(ch);
}

static void child_free(struct exec_child *ch)
{
    struct backend *b = ch->b;
    struct context *ctx = b->ctx;
    struct exec_state *st = b->state;
    close_stdin(ch);
    close_fd(ch, &ch->out_fd, &ch->out_w);
    close_fd(ch, &ch->err_fd, &ch->err_w);
    kill_seq_stop(&ch->kill);
    if (!ch->reaped) {
        ev_child_stop(ctx->loop, &ch->cw);
        backend_child_reaped(b, -1);
    }
    buf_free(&ch->line);
    buf_free(&ch->errline);
    buf_free(&ch->err_held);
    buf_free(&ch->pending);
    list_unlink(st->children, ch);
    free(ch);
    backend_release(b);
}

/* The child is done once it has been reaped and its output is delivered (or
 * the close sequence gave up on escaped holders of its stdout). */
/* Bytes waiting in the stdout pipe (the child may have exited while we were
 * not reading because the client was slow). */
static bool stdout_has_data(const struct exec_child *ch)
{
    int n = 0;
    return ch->out_fd >= 0 && ioctl(ch->out_fd, FIONREAD, &n) == 0 && n > 0;
}

static void maybe_finish(struct exec_child *ch)
{
    if (!ch->reaped) return;
    /* stdout still open: wait for EOF, unless the close sequence has run its
     * course and what is left is an idle pipe held open by an escaped process. */
    if (ch->out_fd >= 0 && (!ch->kill_done || stdout_has_data(ch))) return;
    /* --passstderr: its last lines (a traceback) too, on the same terms. */
    if (ch->session && ch->b->set->pass_stderr && ch->err_fd >= 0 && !ch->kill_done) return;
    finish_stdout(ch);
    if (ch->session) flush_held_stderr(ch);
    if (ch->session) {
        struct session *s = ch->session;
        ch->session = NULL;
        char reason[32] = "";
        uint16_t code = WS_CLOSE_INTERNAL;
        if (ch->going_away) {
            code = WS_CLOSE_GOING_AWAY;
            snprintf(reason, sizeof reason, "server shutting down");
        } else if (WIFEXITED(ch->status) && WEXITSTATUS(ch->status) == 0)
            code = WS_CLOSE_NORMAL;
        else if (WIFEXITED(ch->status))
            snprintf(reason, sizeof reason, "exit %d", WEXITSTATUS(ch->status));
        else if (WIFSIGNALED(ch->status))
            snprintf(reason, sizeof reason, "signal %d", WTERMSIG(ch->status));
        session_finish(s, code, reason);
    }
    if (ch->terminating && !ch->kill_done && group_alive(ch)) return; /* stragglers */
    release(ch);
}

/* Start COMMAND (or --dir's script) for c and track it. Returns 0, or -1
 * with the reason in err. */
static int spawn(struct backend *b, struct session *s, const struct http_request *req,
                 const char *path, char *const *argv, size_t script_name_len,
                 const char *remote_host, char *err, size_t errlen)
{
    const struct backend_settings *set = b->set;
    struct context *ctx = b->ctx;
    char extensions[PMD_RESPONSE_MAX];
    const struct session_client client = session_client(s);
    struct cgienv_input in = {
        .req = req,
        .remote_addr = client.addr,
        .remote_host = remote_host,
        .remote_port = client.port,
        .https = client.tls,
        .passenv = (const char *const *)set->passenv,
        .npassenv = set->npassenv,
        .environ = environ,
        .unique_id = cgienv_unique_id(),
        .remote_user = client.user,
        .script_name_len = script_name_len,
        .ssl_client_cn = client.cert_cn,
        .subprotocol = s->subprotocol,
        .extensions = session_extensions(s, extensions, sizeof extensions),
    };
    char **envp = cgienv_build(&in);
    if (!envp) {
        snprintf(err, errlen, "cannot build the environment (out of memory)");
        return -1;
    }
    struct launched sp;
    const struct launch_how how = launch_how_of(set);
    int rc = launch_with_pipes(path, argv, envp, &how, &sp);
    free(envp);
    struct exec_child *ch = rc ? NULL : calloc(1, sizeof *ch);
    if (!ch) {
        if (!rc) {
            /* Spawned, but we cannot track it: end it rather than orphan it. */
            kill(-sp.pid, SIGKILL);
            close(sp.in_fd);
            close(sp.out_fd);
            close(sp.err_fd);
            rc = ENOMEM;
        }
        metrics_count(MC_CHILDREN_START_FAILED);
        snprintf(err, errlen, "%.200s: %s", path, strerror(rc));
        return -1;
    }
    pid_t pid = sp.pid;
    ch->b = b;
    ch->session = s;
    ch->id = s->id;
    ch->pid = pid;
    ch->binary = set->binary;
    ch->pty = sp.pty;
    ch->in_fd = sp.in_fd;
    ch->out_fd = sp.out_fd;
    ch->err_fd = sp.err_fd;
    ev_io_init(&ch->in_w, on_stdin_writable, ch->in_fd, EV_WRITE);
    ev_io_init(&ch->out_w, on_stdout, ch->out_fd, EV_READ);
    ev_io_init(&ch->err_w, on_stderr, ch->err_fd, EV_READ);
    /* When both pipes have lines at once, stdout's go first: a program
     * usually prints its output before the error that explains it. */
    ev_set_priority(&ch->err_w, -1);
    ev_child_init(&ch->cw, on_exit_status, pid, 0);
    kill_seq_init(&ch->kill, ctx->loop, on_kill_done);
    ev_child_start(ctx->loop, &ch->cw);
    ev_io_start(ctx->loop, &ch->out_w);
    ev_io_start(ctx->loop, &ch->err_w);
    list_push(((struct exec_state *)b->state)->children, ch);
    backend_child_started(b);
    backend_hold(b);
    s->backend_data = ch;
    snprintf(s->target, sizeof s->target, "pid %d", (int)pid);
    if (remote_host)
        log_info(s->id, "started %s as pid %d for %s", path, (int)pid, remote_host);
    else
        log_info(s->id, "started %s as pid %d", path, (int)pid);
    return 0;
}

/* ---- --reverselookup: COMMAND waits for the client's name ---------------------------- */

/* How long a session waits for its client's name before COMMAND starts
 * with the address: enough for a working DNS server (answers take
 * milliseconds) and one lost packet's retry, short enough that a client
 * behind a dead one hardly notices. An answer that comes later still goes
 * into the cache for the next connection. */
#define LOOKUP_TIMEOUT 2.0

/* While it waits, the connection is CONNECTING and its backend is
 * waiting_session: only client_closed can come. */
struct exec_wait {
    struct backend *b;
    struct session *session;
    struct resolve_wait *lookup;
    size_t script_name_len;
    char script[]; /* --dir: the script found; "" for COMMAND */
};

static void waiting_client_closed(struct session *s)
{
    struct exec_wait *w = s->backend_data;
    resolver_cancel(w->lookup);
    w->b->nchildren--; /* the --maxforks slot it held */
    free(w);
}

static const struct session_handler waiting_session = {.client_closed = waiting_client_closed};

/* The name came, or the timeout: start COMMAND now. */
static void on_client_name(void *arg, const char *name)
{
    struct exec_wait *w = arg;
    struct session *s = w->session;
    struct backend *b = w->b;
    b->nchildren--;
    log_debug(s->id, "reverse lookup of %s: %s", session_client(s).addr, name ? name : "no name");
    s->handler = &b->ops->session;
    s->backend_data = NULL;
    char err[256] = "the request head is gone";
    struct http_request req;
    char *script_argv[2] = {w->script, NULL};
    bool dir = w->script[0] != '\0';
    bool started =
        session_request(s, &req) &&
        spawn(b, s, &req, dir ? w->script : b->command_path, dir ? script_argv : b->set->command,
              w->script_name_len, name, err, sizeof err) == 0;
    free(w);
    if (!started) s->handler = NULL;
    session_ready(s);
    if (!started && session_is_open(s)) { /* 101 then 1011, as when COMMAND cannot start */
        log_error(s->id, "cannot start the command: %s", err);
        session_close(s, WS_CLOSE_INTERNAL, "cannot start the command");
    }
}

/* Look the client up. Returns true when COMMAND must wait for the answer
 * (c then waits, holding a --maxforks slot); else *found is the cached
 * name (in name), or NULL for the address. */
static bool look_up_client(struct backend *b, struct session *s, const char *script,
                           size_t script_name_len, char name[RESOLVE_NAME_MAX], const char **found)
{
    *found = NULL;
    struct ip_addr ip;
    struct resolver *r;
    /* A unix socket peer ("unix:") has no address to look up. */
    const char *addr = session_client(s).addr;
    if (!ip_parse(addr, strlen(addr), &ip) || !(r = context_resolver(b->ctx))) return false;
    size_t len = strlen(script);
    struct exec_wait *w = malloc(sizeof *w + len + 1);
    if (!w) return false;
    *w = (struct exec_wait){.b = b, .session = s, .script_name_len = script_name_len};
    memcpy(w->script, script, len + 1);
    if (resolver_lookup(r, &ip, LOOKUP_TIMEOUT, name, on_client_name, w, &w->lookup) ==
        RESOLVE_PENDING) {
        b->nchildren++; /* held for the COMMAND about to start: --maxforks counts it */
        s->handler = &waiting_session;
        s->backend_data = w;
        return true;
    }
    free(w);
    log_debug(s->id, "reverse lookup of %s: %s (cached)", addr, name[0] ? name : "no name");
    if (name[0]) *found = name;
    return false;
}

static enum backend_start exec_start(struct backend *b, struct session *s,
                                     const struct http_request *req,
                                     struct backend_refusal *refusal)
{
    char *err = refusal->why;
    size_t errlen = sizeof refusal->why;
    refusal->http_status = 0; /* websocketd's way: accept, then close 1011 */
    const struct backend_settings *set = b->set;
    /* --dir: the URL path names the script; else the one COMMAND. */
    if (!backend_pick_subprotocol(set, s, req, refusal)) return BACKEND_REFUSED;
    const char *path = b->command_path;
    char *const *argv = set->command;
    struct script_match script;
    char *script_argv[2] = {script.file, NULL};
    size_t script_name_len = 0;
    if (b->script_root) {
        int found = backend_find_script(b->script_root, req, &script);
        if (found != 200) {
            refusal->http_status = found;
            snprintf(err, errlen, "%s",
                     found == 404 ? "no such script" : "no executable script there inside --dir");
            return BACKEND_REFUSED;
        }
        path = script.file;
        argv = script_argv;
        script_name_len = script.script_name_len;
    }
    char name[RESOLVE_NAME_MAX];
    const char *remote_host = NULL;
    if (set->reverselookup && look_up_client(b, s, b->script_root ? script.file : "",
                                             script_name_len, name, &remote_host))
        return BACKEND_PENDING;
    if (spawn(b, s, req, path, argv, script_name_len, remote_host, err, errlen) < 0)
        return BACKEND_REFUSED;
    return BACKEND_READY;
}

/* Client messages are gathered while one read from the client is parsed
 * and written to stdin together (exec_input_done): many small messages cost
 * one write and one wake-up of the command, not one each. Memory stays
 * bounded: past STDIN_BATCH pending bytes the client is not read. */
static bool exec_client_data(struct session *s, const struct session_chunk *m, size_t *taken)
{
    struct exec_child *ch = s->backend_data;
    *taken = m->len;
    if (ch->in_fd < 0) return true; /* the command closed its stdin: nothing can be delivered */
    if (buf_len(&ch->pending) >= STDIN_BATCH) {
        flush_stdin(ch);
        if (ch->in_fd < 0) return true;
        if (buf_len(&ch->pending) >= STDIN_BATCH) {
            *taken = 0; /* resumed from on_stdin_writable */
            return false;
        }
    }
    size_t done = 0;
    if (!buf_len(&ch->pending) && m->len >= DIRECT_WRITE_MIN) {
        /* A big chunk goes straight to the pipe, without a copy. */
        ssize_t n = write(ch->in_fd, m->data, m->len);
        if (n > 0) {
            done = (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            log_debug(ch->id, "the command closed its stdin: %s", strerror(errno));
            close_stdin(ch);
            return true;
        }
    }
    /* websocketd: a text message is one line; binary data goes through as is. */
    bool newline = !ch->binary && m->last && m->type == SESSION_TEXT;
    if (buf_append(&ch->pending, m->data + done, m->len - done) < 0 ||
        (newline && buf_append(&ch->pending, "\n", 1) < 0))
        session_close(s, WS_CLOSE_INTERNAL, "out of memory");
    return true;
}

static void exec_input_done(struct session *s)
{
    struct exec_child *ch = s->backend_data;
    if (ch) flush_stdin(ch);
}

static void exec_client_closed(struct session *s)
{
    struct exec_child *ch = s->backend_data;
    if (!ch) return;
    ch->session = NULL;
    buf_free(&ch->line);
    buf_free(&ch->err_held);
    ch->fragment_open = false;
    /* Keep draining stdout so a child that writes while it ends is not killed by SIGPIPE. */
    if (ch->out_fd >= 0) ev_io_start(ch->b->ctx->loop, &ch->out_w);
    update_stderr_reading(ch); /* ... and stderr, which is only logged from now on */
    enter(ch);
    begin_termination(ch);
    maybe_finish(ch);
    leave(ch);
}

/* Stopping: stdin closed and the close sequence, but the client stays
 * attached, so every line the command still prints reaches it before 1001. */
static void exec_shutdown(struct session *s)
{
    struct exec_child *ch = s->backend_data;
    enter(ch);
    ch->going_away = true;
    begin_termination(ch);
    maybe_finish(ch);
    leave(ch);
}

static void exec_pause_output(struct session *s)
{
    struct exec_child *ch = s->backend_data;
    ch->output_paused = true;
    ev_io_stop(ch->b->ctx->loop, &ch->out_w);
    update_stderr_reading(ch);
}

static void exec_resume_output(struct session *s)
{
    struct exec_child *ch = s->backend_data;
    ch->output_paused = false;
    if (ch->out_fd >= 0) ev_io_start(ch->b->ctx->loop, &ch->out_w);
    update_stderr_reading(ch);
}

/* SIGKILL every tracked child's process group (second signal, deadline). */
static void exec_kill(struct backend *b)
{
    struct exec_state *st = b->state;
    for (struct exec_child *ch = st->children; ch; ch = ch->next)
        if (!ch->reaped || group_alive(ch)) kill(-ch->pid, SIGKILL);
}

/* Forget every tracked child at exit, reaping the ones already dead. */
static void exec_teardown(struct backend *b)
{
    struct exec_state *st = b->state;
    if (!st) return;
    while (st->children) {
        struct exec_child *ch = st->children;
        if (!ch->reaped) {
            /* Killed by exec_kill or about to be: reap it rather than leave a zombie. */
            kill(-ch->pid, SIGKILL);
            int status = -1;
            waitpid(ch->pid, &status, 0);
            ch->reaped = true;
            ev_child_stop(b->ctx->loop, &ch->cw);
            backend_child_reaped(b, status);
        }
        ch->session = NULL;
        child_free(ch);
    }
    free(st);
    b->state = NULL;
}

static int exec_setup(struct backend *b, char *err, size_t errlen)
{
    const struct launch_how how = launch_how_of(b->set);
    if (launch_check(&how, err, errlen) < 0) return -1;
    if (!(b->state = calloc(1, sizeof(struct exec_state)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static bool exec_serves(const struct backend_settings *set)
{
    return !set->proxy && set->shared == SHARED_OFF;
}

/* Reserve the descriptors launch.c needs while few are open. */
static void exec_prepare(const struct backend_settings *set)
{
    (void)set;
    launch_reserve_slots();
}

const struct backend_ops exec_backend = {
    .mode = MM_EXEC,
    .serves = exec_serves,
    .prepare = exec_prepare,
    .setup = exec_setup,
    .start = exec_start,
    .session =
        {
            .client_data = exec_client_data,
            .client_closed = exec_client_closed,
            .pause_output = exec_pause_output,
            .resume_output = exec_resume_output,
            .shutdown = exec_shutdown,
            .input_done = exec_input_done,
        },
    .kill = exec_kill,
    .teardown = exec_teardown,
};
