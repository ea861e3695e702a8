/* --cgidir: CGI/1.1 (RFC 3875) for plain HTTP requests, websocketd's way.
 * A script under the directory named by the URL path runs once per request:
 * the request body (Content-Length only, at most --maxmsgsize) goes to its
 * stdin, its stdout is a head (proto/cgi.h) and the body, which goes to the
 * client with its Content-Length, chunked, or until the connection closes.
 * Children count in --maxforks with the endpoint's WebSocket ones; a script
 * silent for --cgi-timeout, or whose client has gone, gets exec mode's close
 * sequence (backend/killseq.h). */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/cgienv.h"
#include "backend/killseq.h"
#include "backend/launch.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/rootpath.h"
#include "base/util.h"
#include "net/conn.h"
#include "net/context.h"
#include "proto/cgi.h"
#include "proto/http.h"

extern char **environ;

#define READ_MAX    65536 /* one read of the script's stdout */
#define STDIN_BATCH 65536 /* request body bytes held for stdin before the client waits */

struct cgi_state {
    struct cgi_child *children;
};

/* How the body reaches the client. */
enum cgi_framing {
    FRAME_LENGTH,  /* the script's Content-Length */
    FRAME_CHUNKED, /* HTTP/1.1 without one */
    FRAME_CLOSE,   /* HTTP/1.0 without one: the end of the connection ends it */
    FRAME_NONE,    /* HEAD, 204, 304: no body is sent (what the script writes is dropped) */
};

struct cgi_child {
    struct backend *b;
    struct cgi_child *prev, *next;
    struct conn *conn; /* NULL once the answer is done or the client has gone */
    uint64_t id;
    pid_t pid;
    int in_fd, out_fd, err_fd; /* -1 once closed */
    ev_io in_w, out_w, err_w;
    ev_child cw;
    ev_timer silence; /* --cgi-timeout */
    struct kill_seq kill;
    bool reaped, terminating, kill_done;
    int exit_status;
    char script[PATH_MAX]; /* for the logs */

    bool head_only;     /* HEAD request */
    bool http11;        /* the client speaks HTTP/1.1: chunked can frame the body */
    bool body_complete; /* the whole request body is in `pending` or written */
    struct buf pending; /* request body bytes for stdin */

    struct buf head; /* the script's head while it is incomplete */
    bool head_done;
    int status;
    enum cgi_framing framing;
    long long left; /* FRAME_LENGTH: bytes still to send */
    bool overrun_logged;
    uint64_t body_bytes; /* sent to the client */
    bool output_paused;

    struct buf errline;
    int busy; /* callbacks of ours on the stack: freeing waits for them */
    bool free_pending;
};

static uint8_t scratch[READ_MAX];

static void child_free(struct cgi_child *ch);
static void maybe_finish(struct cgi_child *ch);

static void enter(struct cgi_child *ch)
{
    ch->busy++;
}

static void leave(struct cgi_child *ch)
{
    if (--ch->busy == 0 && ch->free_pending) child_free(ch);
}

static void release(struct cgi_child *ch)
{
    if (ch->busy)
        ch->free_pending = true;
    else
        child_free(ch);
}

static struct ev_loop *loop_of(const struct cgi_child *ch)
{
    return ch->b->ctx->loop;
}

static void close_fd(struct cgi_child *ch, int *fd, ev_io *w)
{
    ev_io_stop(loop_of(ch), w);
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void close_stdin(struct cgi_child *ch)
{
    close_fd(ch, &ch->in_fd, &ch->in_w);
    buf_free(&ch->pending);
}

static void begin_termination(struct cgi_child *ch)
{
    if (ch->terminating) return;
    ch->terminating = true;
    close_stdin(ch);
    kill_seq_start(&ch->kill, ch->b->set, ch->pid, ch->id);
}

static void on_kill_done(struct kill_seq *k)
{
    struct cgi_child *ch = container_of(k, struct cgi_child, kill);
    enter(ch);
    ch->kill_done = true;
    maybe_finish(ch);
    leave(ch);
}

/* --cgi-timeout counts while the script owes us something: not while the
 * client is too slow to take more. */
static void watch_silence(struct cgi_child *ch)
{
    if (ch->conn && !ch->output_paused && ch->b->set->cgi_timeout > 0) {
        ch->silence.repeat = ch->b->set->cgi_timeout;
        ev_timer_again(loop_of(ch), &ch->silence);
    } else {
        ev_timer_stop(loop_of(ch), &ch->silence);
    }
}

/* The answer is over for the client: failed or gone (the script is
 * stopped if it lives on, its output drained meanwhile), or done (it may
 * take --cgi-timeout to exit before it is stopped). */
static void detach(struct cgi_child *ch, bool done)
{
    ch->conn = NULL;
    buf_free(&ch->head);
    if (ch->out_fd >= 0) ev_io_start(loop_of(ch), &ch->out_w);
    bool alive = !ch->reaped || ch->out_fd >= 0;
    if (done && alive && ch->b->set->cgi_timeout > 0) {
        ch->silence.repeat = ch->b->set->cgi_timeout;
        ev_timer_again(loop_of(ch), &ch->silence);
        return;
    }
    ev_timer_stop(loop_of(ch), &ch->silence);
    if (alive && !done) begin_termination(ch);
}

/* Before the head: answer with an error of ours instead. */
static void fail(struct cgi_child *ch, int status, const char *why)
{
    struct conn *c = ch->conn;
    log_error(ch->id, "CGI %s: %s", ch->script, why);
    detach(ch, false);
    conn_response_error(c, status,
                        status == 504 ? "the script did not answer in time"
                                      : "the script's answer is not usable");
}

/* After the head: only ending the connection early can tell the client. */
static void cut_off(struct cgi_child *ch, const char *why)
{
    struct conn *c = ch->conn;
    detach(ch, false);
    conn_response_cut(c, why);
}

/* The script's answer is complete: the last chunk, the access line. */
static void finish_answer(struct cgi_child *ch)
{
    struct conn *c = ch->conn;
    if (ch->framing == FRAME_LENGTH && ch->left > 0) {
        char why[256];
        snprintf(why, sizeof why,
                 "CGI %.100s: the script wrote %lld bytes less than its Content-Length", ch->script,
                 ch->left);
        cut_off(ch, why);
        return;
    }
    if (ch->framing == FRAME_CHUNKED && buf_append(&c->out, "0\r\n\r\n", 5) < 0) {
        cut_off(ch, "out of memory");
        return;
    }
    struct log_fields fields = conn_log_fields(c, "http");
    fields.status = ch->status;
    fields.bytes = (long long)ch->body_bytes;
    fields.target = c->s.target;
    fields.has = LOGF_BYTES | LOGF_DURATION;
    log_access_with(c->s.id, &fields, "%s port %u \"%s\"%s%s %d %llu bytes CGI %s", c->peer_addr,
                    c->peer_port, c->request ? c->request : "-", ROUTE_NOTE(c), ch->status,
                    (unsigned long long)ch->body_bytes, c->s.target);
    detach(ch, true);
    conn_response_done(c, ch->status);
}

/* Body bytes from the script, framed for the client. */
static void send_body(struct cgi_child *ch, const uint8_t *p, size_t n)
{
    struct conn *c = ch->conn;
    if (ch->framing == FRAME_NONE || n == 0) return;
    if (ch->framing == FRAME_LENGTH && (long long)n > ch->left) {
        if (!ch->overrun_logged)
            log_warn(ch->id, "CGI %s wrote more than its Content-Length; the rest is dropped",
                     ch->script);
        ch->overrun_logged = true;
        n = (size_t)ch->left;
        if (n == 0) return;
    }
    char size[24];
    int h = ch->framing == FRAME_CHUNKED ? snprintf(size, sizeof size, "%zx\r\n", n) : 0;
    if ((h && buf_append(&c->out, size, (size_t)h) < 0) || buf_append(&c->out, p, n) < 0 ||
        (h && buf_append(&c->out, "\r\n", 2) < 0)) {
        cut_off(ch, "out of memory");
        return;
    }
    ch->body_bytes += n;
    c->s.bytes_out += n;
    if (ch->framing == FRAME_LENGTH && (ch->left -= (long long)n) == 0)
        finish_answer(ch); /* all there: the client need not wait for the script to exit */
}

/* The head is complete: our status line and headers, then what followed it. */
static void send_head(struct cgi_child *ch, const struct cgi_head *h, const struct buf *lines,
                      size_t head_len)
{
    struct conn *c = ch->conn;
    ch->head_done = true;
    ch->status = h->status;
    bool no_body = ch->head_only || h->status == 204 || h->status == 304;
    ch->framing = no_body                  ? FRAME_NONE
                  : h->content_length >= 0 ? FRAME_LENGTH
                  : ch->http11             ? FRAME_CHUNKED
                                           : FRAME_CLOSE;
    ch->left = h->content_length;
    /* Only a framed answer can leave the connection to another request. */
    if (ch->framing != FRAME_CLOSE) conn_http_service(c);
    /* Whatever the script's status, a framed answer leaves the connection
     * in a clear state (the body was all read before this head, or it is
     * not kept). */
    const char *connection = conn_connection_header(c, 200);
    const char *extra = conn_session_settings(c)->headers_http;
    char length[48] = "";
    if (h->content_length >= 0 && h->status != 204 && h->status != 304)
        snprintf(length, sizeof length, "Content-Length: %lld\r\n", h->content_length);
    else if (ch->framing == FRAME_CHUNKED)
        snprintf(length, sizeof length, "Transfer-Encoding: chunked\r\n");
    if (http_append_status_reason(&c->out, h->status, h->reason) < 0 ||
        (buf_len(lines) && buf_append(&c->out, buf_head(lines), buf_len(lines)) < 0) ||
        buf_append(&c->out, length, strlen(length)) < 0 ||
        (extra && buf_append(&c->out, extra, strlen(extra)) < 0) ||
        buf_append(&c->out, connection, strlen(connection)) < 0 ||
        buf_append(&c->out, "\r\n", 2) < 0) {
        cut_off(ch, "out of memory");
        return;
    }
    c->status = h->status;
    size_t rest = buf_len(&ch->head) - head_len;
    if (ch->framing == FRAME_NONE || (ch->framing == FRAME_LENGTH && ch->left == 0))
        finish_answer(ch); /* nothing more is sent, whatever the script writes */
    else if (rest)
        send_body(ch, buf_head(&ch->head) + head_len, rest);
    buf_free(&ch->head);
}

/* Script output before the head is complete: gathered, then parsed. */
static void take_head_bytes(struct cgi_child *ch, const uint8_t *p, size_t n)
{
    if (buf_append(&ch->head, p, n) < 0) {
        fail(ch, 500, "out of memory reading the head");
        return;
    }
    struct cgi_head h;
    struct buf lines = {0};
    const char *why = NULL;
    long r =
        cgi_parse_head((const char *)buf_head(&ch->head), buf_len(&ch->head), &h, &lines, &why);
    if (r < 0) {
        buf_free(&lines);
        char text[200];
        snprintf(text, sizeof text, "unusable answer head: %s", why);
        fail(ch, 502, text);
        return;
    }
    if (r > 0) send_head(ch, &h, &lines, (size_t)r);
    buf_free(&lines);
}

static void on_stdout_eof(struct cgi_child *ch)
{
    close_fd(ch, &ch->out_fd, &ch->out_w);
    if (!ch->conn) {
        maybe_finish(ch);
        return;
    }
    if (!ch->head_done)
        fail(ch, 502,
             buf_len(&ch->head) ? "the script ended in the middle of its head"
                                : "the script wrote nothing");
    else
        finish_answer(ch);
    maybe_finish(ch);
}

static void on_stdout(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cgi_child *ch = container_of(w, struct cgi_child, out_w);
    enter(ch);
    ssize_t n = read(ch->out_fd, scratch, sizeof scratch);
    if (n > 0 && ch->conn) {
        watch_silence(ch);
        if (ch->head_done)
            send_body(ch, scratch, (size_t)n);
        else
            take_head_bytes(ch, scratch, (size_t)n);
        if (ch->conn) conn_flush(ch->conn);
    } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        if (n < 0) log_error(ch->id, "reading the CGI script's stdout: %s", strerror(errno));
        on_stdout_eof(ch);
    } else if (n < 0 && ch->kill_done) {
        maybe_finish(ch); /* an idle pipe nobody of ours still writes */
    }
    leave(ch);
}

static void on_stderr(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cgi_child *ch = container_of(w, struct cgi_child, err_w);
    enter(ch);
    bool more;
    if (ch->b->set->quiet_stderr) {
        ssize_t n = read(ch->err_fd, scratch, sizeof scratch);
        more = n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
    } else {
        more = launch_log_stderr(ch->err_fd, &ch->errline, ch->id, "CGI stderr");
    }
    if (!more) {
        close_fd(ch, &ch->err_fd, &ch->err_w);
        buf_free(&ch->errline);
        maybe_finish(ch);
    }
    leave(ch);
}

/* Write what the client sent; the end of the body closes stdin. */
static void flush_stdin(struct cgi_child *ch)
{
    if (ch->in_fd < 0) return;
    switch (launch_write_queue(ch->in_fd, &ch->pending)) {
    case 0:
        if (ch->body_complete) {
            close_stdin(ch);
        } else if (ch->conn && ch->conn->have_held) {
            ev_io_start(loop_of(ch), &ch->in_w); /* resume the client from the loop */
        } else {
            ev_io_stop(loop_of(ch), &ch->in_w);
        }
        break;
    case 1: ev_io_start(loop_of(ch), &ch->in_w); break;
    default:
        /* It does not want (the rest of) the body: its answer still counts. */
        log_debug(ch->id, "the CGI script closed its stdin: %s", strerror(errno));
        close_stdin(ch);
    }
}

static void on_stdin_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cgi_child *ch = container_of(w, struct cgi_child, in_w);
    enter(ch);
    flush_stdin(ch);
    if (!buf_len(&ch->pending) && ch->conn) conn_resume_input(ch->conn);
    leave(ch);
}

static void on_silence(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cgi_child *ch = container_of(w, struct cgi_child, silence);
    enter(ch);
    if (!ch->conn) { /* its answer was done a --cgi-timeout ago, and it still runs */
        begin_termination(ch);
        leave(ch);
        return;
    }
    char why[200];
    snprintf(why, sizeof why, "the script wrote nothing for %g s (--cgi-timeout)",
             ch->b->set->cgi_timeout);
    if (!ch->head_done) {
        fail(ch, 504, why);
    } else {
        char text[360];
        snprintf(text, sizeof text, "CGI %.100s: %s", ch->script, why);
        cut_off(ch, text);
    }
    maybe_finish(ch);
    leave(ch);
}

static void on_exit_status(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct cgi_child *ch = container_of(w, struct cgi_child, cw);
    ev_child_stop(loop, w);
    ch->reaped = ch->kill.reaped = true;
    ch->exit_status = w->rstatus;
    backend_child_reaped(ch->b, ch->exit_status);
    if (WIFEXITED(ch->exit_status) && WEXITSTATUS(ch->exit_status) != 0)
        log_warn(ch->id, "CGI %s exited with status %d", ch->script, WEXITSTATUS(ch->exit_status));
    else if (WIFSIGNALED(ch->exit_status) && !ch->terminating)
        log_warn(ch->id, "CGI %s killed by %s", ch->script, strsignal(WTERMSIG(ch->exit_status)));
    enter(ch);
    if (ch->out_fd >= 0) begin_termination(ch); /* others of its group may hold stdout */
    maybe_finish(ch);
    leave(ch);
}

/* Done once reaped, with stdout at EOF (or the close sequence over). */
static void maybe_finish(struct cgi_child *ch)
{
    if (!ch->reaped || ch->conn) return;
    if (ch->out_fd >= 0 && !ch->kill_done) return;
    if (ch->terminating && !ch->kill_done && kill_seq_group_alive(ch->pid)) return;
    release(ch);
}

static void child_free(struct cgi_child *ch)
{
    struct backend *b = ch->b;
    close_stdin(ch);
    close_fd(ch, &ch->out_fd, &ch->out_w);
    close_fd(ch, &ch->err_fd, &ch->err_w);
    kill_seq_stop(&ch->kill);
    ev_timer_stop(loop_of(ch), &ch->silence);
    if (!ch->reaped) {
        ev_child_stop(loop_of(ch), &ch->cw);
        backend_child_reaped(b, -1);
    }
    buf_free(&ch->head);
    buf_free(&ch->errline);
    list_unlink(((struct cgi_state *)b->state)->children, ch);
    free(ch);
    backend_release(b);
}

/* ---- the request ------------------------------------------------------------------- */

/* Whether the body may come: 0, or the status refusing it (with why). */
static int check_body(struct conn *c, const struct http_request *req, long long *len,
                      const char **why)
{
    if (http_header_find(req, "Transfer-Encoding")) {
        *why = "a request body needs a Content-Length (chunked bodies are not taken)";
        return 411;
    }
    *len = http_content_length(req);
    if (*len < 0) {
        *why = "unreadable Content-Length";
        return 400;
    }
    uint64_t max = conn_session_settings(c)->maxmsgsize;
    if (max && (uint64_t)*len > max) {
        *why = "the request body is larger than --maxmsgsize";
        return 413;
    }
    const struct http_header *e = http_header_find(req, "Expect");
    if (e && !http_name_eq(e->value, e->value_len, "100-continue")) {
        *why = "only 'Expect: 100-continue' is understood";
        return 417;
    }
    return 0;
}

extern const struct backend_ops cgi_backend;

static struct cgi_child *spawn(struct backend *b, struct conn *c, const struct http_request *req,
                               const struct script_match *m, char *err, size_t errlen)
{
    const struct backend_settings *set = b->set;
    struct cgienv_input in = {
        .req = req,
        .remote_addr = c->peer_addr,
        .remote_port = c->peer_port,
        .https = c->ssl != NULL,
        .passenv = (const char *const *)set->passenv,
        .npassenv = set->npassenv,
        .environ = environ,
        .unique_id = cgienv_unique_id(),
        .remote_user = c->remote_user,
        .script_name_len = m->script_name_len,
        .ssl_client_cn = c->client_verified ? c->client_cn : NULL,
        .cgi = true,
    };
    char **envp = cgienv_build(&in);
    if (!envp) {
        snprintf(err, errlen, "cannot build the environment (out of memory)");
        return NULL;
    }
    /* It starts in its own directory (RFC 3875 9.1, as Go's net/http/cgi). */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", m->file);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = '\0';
    struct launch_how how = {.dir = dir};
    char *argv[] = {(char *)m->file, NULL};
    struct launched sp;
    int rc = launch_with_pipes(m->file, argv, envp, &how, &sp);
    free(envp);
    struct cgi_child *ch = rc ? NULL : calloc(1, sizeof *ch);
    if (!ch) {
        if (!rc) {
            kill(-sp.pid, SIGKILL); /* started, but cannot be tracked: not left to run */
            close(sp.in_fd);
            close(sp.out_fd);
            close(sp.err_fd);
            rc = ENOMEM;
        }
        metrics_count(MC_CHILDREN_START_FAILED);
        snprintf(err, errlen, "%.200s: %s", m->file, strerror(rc));
        return NULL;
    }
    struct ev_loop *loop = b->ctx->loop;
    ch->b = b;
    ch->conn = c;
    ch->id = c->s.id;
    ch->pid = sp.pid;
    snprintf(ch->script, sizeof ch->script, "%s", m->file);
    ch->in_fd = sp.in_fd;
    ch->out_fd = sp.out_fd;
    ch->err_fd = sp.err_fd;
    ev_io_init(&ch->in_w, on_stdin_writable, ch->in_fd, EV_WRITE);
    ev_io_init(&ch->out_w, on_stdout, ch->out_fd, EV_READ);
    ev_io_init(&ch->err_w, on_stderr, ch->err_fd, EV_READ);
    ev_set_priority(&ch->err_w, -1);
    ev_child_init(&ch->cw, on_exit_status, sp.pid, 0);
    ev_init(&ch->silence, on_silence);
    kill_seq_init(&ch->kill, loop, on_kill_done);
    ev_child_start(loop, &ch->cw);
    ev_io_start(loop, &ch->out_w);
    ev_io_start(loop, &ch->err_w);
    list_push(((struct cgi_state *)b->state)->children, ch);
    backend_child_started(b);
    backend_hold(b);
    snprintf(c->s.target, sizeof c->s.target, "pid %d", (int)sp.pid);
    log_debug(c->s.id, "started CGI %s as pid %d", m->file, (int)sp.pid);
    return ch;
}

static const struct conn_handler cgi_responder;

static enum backend_start cgi_start(struct backend *b, struct conn *c,
                                    const struct http_request *req, struct backend_refusal *r)
{
    struct script_match m;
    int found = backend_find_script(b->script_root, req, &m);
    if (found != 200) {
        r->http_status = found;
        snprintf(r->why, sizeof r->why, "%s",
                 found == 404 ? "no such script" : "not an executable script inside --cgidir");
        return BACKEND_REFUSED;
    }
    long long len = 0;
    const char *why = NULL;
    int refused = check_body(c, req, &len, &why);
    if (refused) {
        r->http_status = refused;
        snprintf(r->why, sizeof r->why, "%s", why);
        return BACKEND_REFUSED;
    }
    struct cgi_child *ch = spawn(b, c, req, &m, r->why, sizeof r->why);
    if (!ch) {
        log_error(c->s.id, "cannot start the CGI script: %s", r->why);
        r->http_status = 500;
        snprintf(r->why, sizeof r->why, "the script cannot be started");
        return BACKEND_REFUSED;
    }
    ch->head_only = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    ch->http11 = req->minor_version >= 1;
    /* A client that waits for it (curl does for bodies over 1 KiB) gets the go-ahead. */
    if (len && req->minor_version >= 1 && http_header_find(req, "Expect") &&
        buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0) {
        detach(ch, false);
        r->http_status = 500;
        snprintf(r->why, sizeof r->why, "out of memory");
        return BACKEND_REFUSED;
    }
    if (!len) {
        ch->body_complete = true;
        close_stdin(ch);
    }
    watch_silence(ch);
    enter(ch);
    conn_start_response(c, &cgi_responder, ch, (uint64_t)len);
    leave(ch);
    return BACKEND_READY;
}

/* ---- what the connection calls -------------------------------------------------------- */

static bool cgi_client_data(struct conn *c, const struct ws_event *ev, size_t *taken)
{
    struct cgi_child *ch = c->s.backend_data;
    *taken = ev->len;
    if (ch->in_fd < 0) return true; /* it closed its stdin: the rest is dropped */
    if (buf_len(&ch->pending) >= STDIN_BATCH) {
        *taken = 0; /* resumed from on_stdin_writable */
        return false;
    }
    if (buf_append(&ch->pending, ev->data, ev->len) < 0) {
        enter(ch);
        fail(ch, 500, "out of memory holding the request body");
        leave(ch);
        return true;
    }
    ch->body_complete = ev->last;
    watch_silence(ch);
    enter(ch);
    flush_stdin(ch);
    leave(ch);
    return true;
}

static void cgi_client_closed(struct conn *c)
{
    struct cgi_child *ch = c->s.backend_data;
    if (!ch) return;
    enter(ch);
    detach(ch, false);
    maybe_finish(ch);
    leave(ch);
}

static void cgi_pause_output(struct conn *c)
{
    struct cgi_child *ch = c->s.backend_data;
    ch->output_paused = true;
    ev_io_stop(loop_of(ch), &ch->out_w);
    watch_silence(ch);
}

static void cgi_resume_output(struct conn *c)
{
    struct cgi_child *ch = c->s.backend_data;
    ch->output_paused = false;
    if (ch->out_fd >= 0) ev_io_start(loop_of(ch), &ch->out_w);
    watch_silence(ch);
}

/* ---- the backend's life ----------------------------------------------------------------- */

static bool cgi_serves(const struct backend_settings *set)
{
    (void)set;
    return false; /* made for --cgidir beside the endpoint's own backend (backend_cgi) */
}

static int cgi_setup(struct backend *b, char *err, size_t errlen)
{
    launch_reserve_slots();
    if (!(b->state = calloc(1, sizeof(struct cgi_state)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void cgi_kill(struct backend *b)
{
    struct cgi_state *st = b->state;
    for (struct cgi_child *ch = st->children; ch; ch = ch->next)
        if (!ch->reaped || kill_seq_group_alive(ch->pid)) kill(-ch->pid, SIGKILL);
}

static void cgi_teardown(struct backend *b)
{
    struct cgi_state *st = b->state;
    if (!st) return;
    while (st->children) {
        struct cgi_child *ch = st->children;
        if (!ch->reaped) {
            kill(-ch->pid, SIGKILL);
            int status = -1;
            waitpid(ch->pid, &status, 0);
            ch->reaped = true;
            ev_child_stop(b->ctx->loop, &ch->cw);
            backend_child_reaped(b, status);
        }
        ch->conn = NULL;
        child_free(ch);
    }
    free(st);
    b->state = NULL;
}

static const struct conn_handler cgi_responder = {
    .client_data = cgi_client_data,
    .client_closed = cgi_client_closed,
    .pause_output = cgi_pause_output,
    .resume_output = cgi_resume_output,
};

const struct backend_ops cgi_backend = {
    .mode = MM_EXEC,
    .serves = cgi_serves,
    .setup = cgi_setup,
    .respond = cgi_start,
    .responder = &cgi_responder,
    .kill = cgi_kill,
    .teardown = cgi_teardown,
};
