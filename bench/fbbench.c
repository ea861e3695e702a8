/* fbbench: a load generator for wsbridge's HTTP fallback transport (doc/fallback.md),
 * the counterpart of wsbench for the bench rows that set the fallback against the
 * WebSocket path on the same program (bench/README.md, "The fallback transport").
 *
 *   fbbench echo --port P [-c SESSIONS] [-w IN_FLIGHT] [-s SIZE] [-d SECS] [--warmup SECS]
 *   fbbench idle --port P [-n SESSIONS] [--ping] [--hold SECS]
 *
 * Each session is what a page's FallbackSocket is: an open POST, an event stream (a GET
 * that stays open) and message POSTs on one kept-alive connection, one POST in flight at a
 * time carrying every message the window allows. The server must be `wsbridge --fallback
 * cat` (text mode): message k of session i is SIZE printable ASCII characters, a function
 * of (i, k), and must come back as event k, a text event of exactly those characters.
 * Anything else (a status, a gap in the ids, a byte that differs, a close event) stops the
 * run with exit status 1 and says where. Echo's round trip is from the POST that carried
 * a message to its event.
 *
 * The result line has wsbench's keys (msgs_per_s, p50_us, p99_us; established, alive) so
 * that bench/run reads both alike. Exit status: 0, 1 a protocol or echo error, 2 usage, 3
 * some sessions failed to open or to answer. SIGUSR1 (and SIGINT) ends idle's hold. */

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAILURES 3
#define IO_MAX        65536

struct opts {
    const char *mode, *host, *path;
    int port;
    unsigned long c, w, n;
    size_t size;
    double duration, warmup, timeout, hold;
    bool ping;
};

/* One direction's bytes: what is to be written, or what was read and not parsed yet. */
struct bytes {
    char *p;
    size_t len, off, cap;
};

struct sess {
    unsigned long index;
    char id[33];
    int post_fd, stream_fd;
    struct bytes out; /* the POST being written */
    struct bytes ans; /* its answer being read */
    struct bytes ev;  /* event-stream bytes not parsed yet */
    bool post_busy, dead;
    uint64_t sent, got; /* messages */
    uint64_t *t_sent;   /* w entries: when message k left, at k % w */
};

static struct opts O = {.host = "127.0.0.1",
                        .path = "/",
                        .c = 1,
                        .w = 1,
                        .n = 100,
                        .size = 32,
                        .duration = 5,
                        .warmup = 1,
                        .timeout = 10};
static struct sess *S;
static unsigned long nsess, failed;
static volatile sig_atomic_t signalled;
static int ep = -1;
static uint64_t t_warm, t_end;
static bool sending;

/* Latencies in a log-linear histogram: 64 sub-buckets per power of two of nanoseconds. */
#define HIST_SUB 64
static uint64_t hist[64 * HIST_SUB], hist_n, win_msgs;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t secs_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fbbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) die(1, "out of memory");
    return q;
}

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = xrealloc(b->p, b->cap + 1);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void bytes_take(struct bytes *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    return (e - 5) * HIST_SUB + (unsigned)((v >> (e - 6)) - HIST_SUB);
}

static double hist_pct_us(double pct)
{
    if (!hist_n) return 0;
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)hist_n), seen = 0;
    for (unsigned i = 0; i < sizeof hist / sizeof hist[0]; i++) {
        seen += hist[i];
        if (seen > rank) {
            if (i < HIST_SUB) return i / 1000.0;
            unsigned e = i / HIST_SUB + 5, sub = i % HIST_SUB;
            return (double)(((uint64_t)HIST_SUB + sub) << (e - 6)) / 1000.0;
        }
    }
    return 0;
}

/* Message k (from 1) of session i: printable ASCII, quotes and backslashes included. */
static void payload(unsigned long i, uint64_t k, char *out, size_t n)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ k * 0xD1B54A32D192ED03ull;
    for (size_t j = 0; j < n; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[j] = (char)(0x20 + x % 95);
    }
}

/* ---- HTTP over blocking sockets (opening and closing) ----------------------------------- */

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
    if (inet_pton(AF_INET, O.host, &a.sin_addr) != 1) die(2, "--host must be an IPv4 address");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(1, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = (time_t)O.timeout,
                         .tv_usec = (long)((O.timeout - (time_t)O.timeout) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* The end of an answer's head in b, or 0 when it is not all there. */
static size_t head_end(const struct bytes *b)
{
    const char *e = b->len ? strstr(b->p, "\r\n\r\n") : NULL;
    return e ? (size_t)(e - b->p) + 4 : 0;
}

static int status_of(const char *head)
{
    int st = 0;
    return sscanf(head, "HTTP/1.%*d %d", &st) == 1 ? st : -1;
}

/* An answer with a Content-Length in b: its status and body (in b, from body_at); 0 when it
 * is not all there yet, -1 when it cannot be read. */
static int answer_in(const struct bytes *b, size_t *body_at, size_t *body_len)
{
    size_t h = head_end(b);
    if (!h) return 0;
    const char *cl = strcasestr(b->p, "\r\nContent-Length:");
    if (!cl || cl > b->p + h) return -1;
    size_t n = strtoul(cl + 17, NULL, 10);
    if (b->len < h + n) return 0;
    *body_at = h;
    *body_len = n;
    return status_of(b->p);
}

/* One request on fd and its whole answer: status, body in b (from *at). */
static int roundtrip(int fd, const char *req, size_t len, struct bytes *b, size_t *at, size_t *blen)
{
    if (!write_all(fd, req, len)) return -1;
    for (;;) {
        int st = answer_in(b, at, blen);
        if (st) return st;
        char buf[4096];
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        bytes_add(b, buf, (size_t)k);
    }
}

static int post_head(char *out, size_t cap, const struct sess *s, size_t body)
{
    return snprintf(out, cap,
                    "POST %s?session=%s HTTP/1.1\r\nHost: %s:%d\r\nX-WSBridge-Session: %s\r\n"
                    "Content-Type: application/vnd.wsbridge.msgs\r\nContent-Length: %zu\r\n\r\n",
                    O.path, s->id, O.host, O.port, s->id, body);
}

/* A session: the open POST, then its event stream's head. */
static bool open_session(struct sess *s)
{
    char req[512];
    struct bytes b = {0};
    size_t at, len;
    s->post_fd = dial();
    if (s->post_fd < 0) return false;
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nX-WSBridge: open\r\n"
                     "Content-Length: 0\r\n\r\n",
                     O.path, O.host, O.port);
    int st = roundtrip(s->post_fd, req, (size_t)n, &b, &at, &len);
    const char *sid = st == 200 ? strstr(b.p + at, "\"session\":\"") : NULL;
    if (!sid || strlen(sid) < 11 + 32) {
        fprintf(stderr, "fbbench: session %lu: open answered %d\n", s->index, st);
        free(b.p);
        return false;
    }
    memcpy(s->id, sid + 11, 32);
    s->id[32] = '\0';
    bytes_take(&b, at + len);
    if (b.len) die(1, "session %lu: bytes after the open answer", s->index);
    free(b.p);
    s->stream_fd = dial();
    if (s->stream_fd < 0) return false;
    n = snprintf(req, sizeof req,
                 "GET %s?session=%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n",
                 O.path, s->id, O.host, O.port);
    if (!write_all(s->stream_fd, req, (size_t)n)) return false;
    size_t h;
    while (!(h = head_end(&s->ev))) {
        char buf[4096];
        ssize_t k = recv(s->stream_fd, buf, sizeof buf, 0);
        if (k <= 0) return false;
        bytes_add(&s->ev, buf, (size_t)k);
    }
    if (status_of(s->ev.p) != 200 || !strcasestr(s->ev.p, "text/event-stream")) {
        fprintf(stderr, "fbbench: session %lu: stream answered %d\n", s->index, status_of(s->ev.p));
        return false;
    }
    bytes_take(&s->ev, h);
    return true;
}

/* ---- the event stream ---------------------------------------------------------------- */

/* Decodes a JSON string (data of a text event) into out (cap bytes). Returns its length, or
 * -1 when it is not one. Only what printable ASCII needs is accepted: \" \\ \/ and \u00XX. */
static long json_string(const char *p, size_t n, char *out, size_t cap)
{
    if (n < 2 || p[0] != '"' || p[n - 1] != '"') return -1;
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        char ch = p[i];
        if (ch == '\\') {
            if (++i + 1 >= n) return -1;
            ch = p[i];
            if (ch == 'u') {
                unsigned v;
                if (i + 5 >= n || sscanf(p + i + 1, "%4x", &v) != 1 || v > 0x7f) return -1;
                ch = (char)v;
                i += 4;
            } else if (ch != '"' && ch != '\\' && ch != '/') {
                return -1;
            }
        }
        if (k == cap) return -1;
        out[k++] = ch;
    }
    return (long)k;
}

struct event {
    uint64_t id;
    char type[16];
    const char *data;
    size_t data_len;
};

/* The next whole event in s->ev (comments skipped): 1 and ev, or 0 when none is complete.
 * ev's data points into s->ev until the caller takes the event's *used bytes. */
static int next_event(struct sess *s, struct event *ev, size_t *used)
{
    size_t from = 0;
    for (;;) {
        char *end = strstr(s->ev.p + from, "\n\n");
        if (!s->ev.len || !end) {
            if (from) bytes_take(&s->ev, from);
            return 0;
        }
        char *p = s->ev.p + from;
        *end = '\0';
        memset(ev, 0, sizeof *ev);
        bool any = false;
        for (char *line = p; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = '\0';
            if (!strncmp(line, "id: ", 4)) {
                ev->id = strtoull(line + 4, NULL, 10);
                any = true;
            } else if (!strncmp(line, "event: ", 7)) {
                snprintf(ev->type, sizeof ev->type, "%s", line + 7);
            } else if (!strncmp(line, "data: ", 6)) {
                ev->data = line + 6;
                ev->data_len = strlen(line + 6);
            } else if (line[0] != ':') {
                die(1, "session %lu: an event line fbbench does not know: %.60s", s->index, line);
            }
            line = nl ? nl + 1 : NULL;
        }
        from = (size_t)(end - s->ev.p) + 2;
        if (!any && !ev->type[0]) continue; /* a heartbeat */
        if (from) {
            *used = from;
            return 1;
        }
    }
}

/* Event k must be message k echoed. Returns false on a close event (the session ended). */
static bool check_event(struct sess *s, const struct event *ev, uint64_t now)
{
    if (!strcmp(ev->type, "close"))
        die(1, "session %lu: closed by the server after %" PRIu64 " messages: %.*s", s->index,
            s->got, (int)ev->data_len, ev->data ? ev->data : "");
    if (strcmp(ev->type, "text") != 0)
        die(1, "session %lu: event %" PRIu64 " is '%s', not text", s->index, ev->id, ev->type);
    if (ev->id != s->got + 1 || ev->id > s->sent)
        die(1, "session %lu: event id %" PRIu64 " where %" PRIu64 " was due (%" PRIu64 " sent)",
            s->index, ev->id, s->got + 1, s->sent);
    static char got[IO_MAX], want[IO_MAX];
    long n = json_string(ev->data, ev->data_len, got, sizeof got);
    if (n < 0) die(1, "session %lu: event %" PRIu64 ": data is no JSON string", s->index, ev->id);
    payload(s->index, ev->id, want, O.size);
    if ((size_t)n != O.size || memcmp(got, want, O.size) != 0) {
        size_t at = 0;
        while (at < (size_t)n && at < O.size && got[at] == want[at]) at++;
        die(1, "session %lu: message %" PRIu64 " differs at byte %zu (%ld bytes back, %zu sent)",
            s->index, ev->id, at, n, O.size);
    }
    s->got++;
    if (now >= t_warm && now < t_end) {
        uint64_t rtt = now - s->t_sent[ev->id % O.w];
        hist[hist_index(rtt)]++;
        hist_n++;
        win_msgs++;
    }
    return true;
}

/* ---- echo: the event loop ------------------------------------------------------------- */

/* epoll's tag: the session's index, and which of its two connections (1: the stream). */
static void watch(int fd, struct sess *s, uint32_t events, int op)
{
    struct epoll_event e = {.events = events,
                            .data.u64 = (uint64_t)s->index << 1 | (fd == s->stream_fd)};
    if (epoll_ctl(ep, op, fd, &e) < 0) die(1, "epoll_ctl: %s", strerror(errno));
}

static void flush_post(struct sess *s)
{
    while (s->out.off < s->out.len) {
        ssize_t k = send(s->post_fd, s->out.p + s->out.off, s->out.len - s->out.off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (k <= 0) die(1, "session %lu: POST write: %s", s->index, strerror(errno));
        s->out.off += (size_t)k;
    }
    bool more = s->out.off < s->out.len;
    if (!more) s->out.len = s->out.off = 0;
    watch(s->post_fd, s, EPOLLIN | (more ? EPOLLOUT : 0), EPOLL_CTL_MOD);
}

/* A POST with every message the window has room for, when none is in flight. */
static void pump(struct sess *s)
{
    if (!sending || s->post_busy || s->sent - s->got >= O.w) return;
    static char body[IO_MAX * 4], msg[IO_MAX];
    size_t len = 0;
    uint64_t now = now_ns();
    while (s->sent - s->got < O.w && len + O.size + 48 < sizeof body) {
        uint64_t k = ++s->sent;
        payload(s->index, k, msg, O.size);
        len += (size_t)snprintf(body + len, sizeof body - len, "%" PRIu64 " t %zu\n", k, O.size);
        memcpy(body + len, msg, O.size);
        len += O.size;
        body[len++] = '\n';
        s->t_sent[k % O.w] = now;
    }
    char head[512];
    int h = post_head(head, sizeof head, s, len);
    bytes_add(&s->out, head, (size_t)h);
    bytes_add(&s->out, body, len);
    s->post_busy = true;
    flush_post(s);
}

static void post_readable(struct sess *s)
{
    char buf[4096];
    ssize_t k = recv(s->post_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (k <= 0) die(1, "session %lu: the POST connection ended", s->index);
    bytes_add(&s->ans, buf, (size_t)k);
    size_t at, len;
    int st = answer_in(&s->ans, &at, &len);
    if (!st) return;
    unsigned long long next = 0;
    if (st != 200 || sscanf(s->ans.p + at, "{\"next\":%llu}", &next) != 1 || next != s->sent + 1)
        die(1, "session %lu: POST answered %d: %.*s", s->index, st, (int)len, s->ans.p + at);
    if (strcasestr(s->ans.p, "\r\nConnection: close")) die(1, "the POST connection is not kept");
    bytes_take(&s->ans, at + len);
    s->post_busy = false;
    pump(s);
}

static void stream_readable(struct sess *s)
{
    char buf[IO_MAX];
    ssize_t k = recv(s->stream_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (k <= 0) die(1, "session %lu: the event stream ended", s->index);
    bytes_add(&s->ev, buf, (size_t)k);
    struct event ev;
    size_t used;
    uint64_t now = now_ns();
    while (next_event(s, &ev, &used)) {
        check_event(s, &ev, now);
        bytes_take(&s->ev, used);
    }
    pump(s);
}

static void run_loop(bool (*done)(void), uint64_t deadline)
{
    struct epoll_event evs[256];
    while (!done() && now_ns() < deadline) {
        int n = epoll_wait(ep, evs, 256, 50);
        for (int i = 0; i < n; i++) {
            struct sess *s = &S[evs[i].data.u64 >> 1];
            if (evs[i].data.u64 & 1)
                stream_readable(s);
            else if (evs[i].events & EPOLLOUT)
                flush_post(s);
            else
                post_readable(s);
        }
    }
}

static bool window_over(void)
{
    return signalled || now_ns() >= t_end;
}

static bool all_back(void)
{
    for (unsigned long i = 0; i < nsess; i++)
        if (S[i].got < S[i].sent || S[i].post_busy) return false;
    return true;
}

/* ---- the end of a session --------------------------------------------------------------- */

/* Reads s's stream (blocking) until one event: 1, 0 on a timeout or its end. */
static int wait_event(struct sess *s, struct event *ev, size_t *used)
{
    while (!next_event(s, ev, used)) {
        char buf[IO_MAX];
        ssize_t k = recv(s->stream_fd, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return 0;
        bytes_add(&s->ev, buf, (size_t)k);
    }
    return 1;
}

static bool blocking_post(struct sess *s, const char *body, size_t len)
{
    char head[512];
    int h = post_head(head, sizeof head, s, len);
    struct bytes req = {0};
    bytes_add(&req, head, (size_t)h);
    bytes_add(&req, body, len);
    size_t at, blen;
    int st = roundtrip(s->post_fd, req.p, req.len, &s->ans, &at, &blen);
    if (st < 0 && !s->ans.len) { /* the kept connection timed out (--keepalive-timeout) */
        close(s->post_fd);
        s->post_fd = dial();
        if (s->post_fd >= 0) st = roundtrip(s->post_fd, req.p, req.len, &s->ans, &at, &blen);
    }
    free(req.p);
    if (st != 200) return false;
    bytes_take(&s->ans, at + blen);
    return true;
}

/* One more message, echoed: the session is alive. */
static bool ping(struct sess *s)
{
    static char body[IO_MAX + 48], msg[IO_MAX];
    uint64_t k = ++s->sent;
    payload(s->index, k, msg, O.size);
    int n = snprintf(body, sizeof body, "%" PRIu64 " t %zu\n", k, O.size);
    memcpy(body + n, msg, O.size);
    body[n + (int)O.size] = '\n';
    if (!blocking_post(s, body, (size_t)n + O.size + 1)) return false;
    struct event ev;
    size_t used;
    if (!wait_event(s, &ev, &used)) return false;
    check_event(s, &ev, 0);
    bytes_take(&s->ev, used);
    return true;
}

/* The close record, and the stream's close event echoing 1000. Returns false when the
 * session did not end cleanly. */
static bool close_session(struct sess *s)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%" PRIu64 " c 4\n1000\n", s->sent + 1);
    bool ok = blocking_post(s, body, (size_t)n);
    struct event ev;
    size_t used;
    while (ok && (ok = wait_event(s, &ev, &used)) && strcmp(ev.type, "close") != 0) {
        check_event(s, &ev, 0);
        bytes_take(&s->ev, used);
    }
    ok = ok && ev.data && strstr(ev.data, "\"code\":1000");
    close(s->post_fd);
    close(s->stream_fd);
    s->post_fd = s->stream_fd = -1;
    return ok;
}

static unsigned long open_all(unsigned long n)
{
    S = calloc(n, sizeof *S);
    if (!S) die(1, "out of memory");
    unsigned long ok = 0;
    for (unsigned long i = 0; i < n && !signalled; i++) {
        struct sess *s = &S[ok];
        s->index = ok;
        s->t_sent = calloc(O.w, sizeof *s->t_sent);
        if (!s->t_sent) die(1, "out of memory");
        if (open_session(s)) {
            ok++;
        } else {
            failed++;
            if (s->post_fd > 0) close(s->post_fd);
            if (s->stream_fd > 0) close(s->stream_fd);
            free(s->t_sent);
            free(s->ev.p);
            memset(s, 0, sizeof *s);
        }
    }
    nsess = ok;
    return ok;
}

static unsigned long close_all(void)
{
    unsigned long unclean = 0;
    for (unsigned long i = 0; i < nsess; i++)
        if (!close_session(&S[i])) unclean++;
    return unclean;
}

static int run_echo(void)
{
    if (open_all(O.c) < O.c) die(EXIT_FAILURES, "%lu of %lu sessions did not open", failed, O.c);
    ep = epoll_create1(EPOLL_CLOEXEC);
    for (unsigned long i = 0; i < nsess; i++) {
        watch(S[i].post_fd, &S[i], EPOLLIN, EPOLL_CTL_ADD);
        watch(S[i].stream_fd, &S[i], EPOLLIN, EPOLL_CTL_ADD);
    }
    uint64_t t0 = now_ns();
    t_warm = t0 + secs_ns(O.warmup);
    t_end = t_warm + secs_ns(O.duration);
    sending = true;
    for (unsigned long i = 0; i < nsess; i++) pump(&S[i]);
    run_loop(window_over, UINT64_MAX);
    uint64_t stopped = now_ns() < t_end ? now_ns() : t_end;
    double secs = stopped > t_warm ? (double)(stopped - t_warm) / 1e9 : 0;
    sending = false;
    run_loop(all_back, now_ns() + secs_ns(O.timeout));
    if (!all_back()) die(1, "the messages in flight did not come back within %g s", O.timeout);
    for (unsigned long i = 0; i < nsess; i++) { /* blocking from here */
        epoll_ctl(ep, EPOLL_CTL_DEL, S[i].post_fd, NULL);
        epoll_ctl(ep, EPOLL_CTL_DEL, S[i].stream_fd, NULL);
    }
    unsigned long unclean = close_all();
    double msgs = secs > 0 ? (double)win_msgs / secs : 0;
    printf("# echo over the fallback: %lu sessions x %lu in flight, %zu B text: %.0f msg/s, "
           "rtt p50 %.1f p99 %.1f us\n",
           nsess, O.w, O.size, msgs, hist_pct_us(50), hist_pct_us(99));
    printf("result mode=echo transport=fallback type=text c=%lu w=%lu size=%zu secs=%.3f "
           "msgs=%" PRIu64 " msgs_per_s=%.1f mb_per_s=%.3f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f failures=%lu unclean=%lu\n",
           nsess, O.w, O.size, secs, win_msgs, msgs, msgs * (double)O.size / 1e6, hist_pct_us(50),
           hist_pct_us(90), hist_pct_us(99), hist_pct_us(99.9), failed, unclean);
    return unclean ? EXIT_FAILURES : 0;
}

static int run_idle(void)
{
    uint64_t t0 = now_ns();
    open_all(O.n);
    double open_secs = (double)(now_ns() - t0) / 1e9;
    printf("established n=%lu ok=%lu failed=%lu secs=%.3f\n", O.n, nsess, failed, open_secs);
    fflush(stdout);
    signalled = 0;
    uint64_t until = O.hold > 0 ? now_ns() + secs_ns(O.hold) : UINT64_MAX;
    while (!signalled && now_ns() < until) usleep(50000);
    unsigned long alive = nsess;
    if (O.ping) {
        alive = 0;
        for (unsigned long i = 0; i < nsess; i++) alive += ping(&S[i]);
    }
    unsigned long unclean = close_all();
    printf("# idle: %lu of %lu fallback sessions open in %.2f s, %lu alive\n", nsess, O.n,
           open_secs, alive);
    printf("result mode=idle transport=fallback n=%lu established=%lu held=%lu alive=%lu "
           "failures=%lu unclean=%lu open_secs=%.3f\n",
           O.n, nsess, nsess, alive, failed, unclean, open_secs);
    return failed || unclean || alive < nsess ? EXIT_FAILURES : 0;
}

/* ---- options ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: fbbench echo --port P [-c SESSIONS] [-w IN_FLIGHT] [-s SIZE] [-d SECS]\n"
          "                    [--warmup SECS] [--timeout SECS] [--host IPV4] [--path PATH]\n"
          "       fbbench idle --port P [-n SESSIONS] [--ping] [--hold SECS] [-s SIZE] ...\n"
          "against wsbridge --fallback cat (text mode); see bench/README.md\n",
          f);
}

static double number(const char *opt, const char *v, double min, double max)
{
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || *end || x < min || x > max) {
        fprintf(stderr, "fbbench: %s wants a number from %g to %g\n", opt, min, max);
        exit(2);
    }
    return x;
}

static void on_signal(int sig)
{
    (void)sig;
    signalled = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "echo") && strcmp(argv[1], "idle"))) {
        usage(stderr);
        return 2;
    }
    O.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ping")) {
            O.ping = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        i++;
        if (!strcmp(a, "--port"))
            O.port = (int)number(a, v, 1, 65535);
        else if (!strcmp(a, "--host") && v)
            O.host = v;
        else if (!strcmp(a, "--path") && v && v[0] == '/' && !strchr(v, '?'))
            O.path = v;
        else if (!strcmp(a, "-c"))
            O.c = (unsigned long)number(a, v, 1, 100000);
        else if (!strcmp(a, "-w"))
            O.w = (unsigned long)number(a, v, 1, 1024);
        else if (!strcmp(a, "-n"))
            O.n = (unsigned long)number(a, v, 1, 1000000);
        else if (!strcmp(a, "-s"))
            O.size = (size_t)number(a, v, 1, IO_MAX - 1);
        else if (!strcmp(a, "-d"))
            O.duration = number(a, v, 0.1, 86400);
        else if (!strcmp(a, "--warmup"))
            O.warmup = number(a, v, 0, 3600);
        else if (!strcmp(a, "--timeout"))
            O.timeout = number(a, v, 0.1, 3600);
        else if (!strcmp(a, "--hold"))
            O.hold = number(a, v, 0, 86400);
        else {
            fprintf(stderr, "fbbench: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!O.port) die(2, "--port is required");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return !strcmp(O.mode, "echo") ? run_echo() : run_idle();
}
