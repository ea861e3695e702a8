/* wsbench: a WebSocket (and plain TCP) load generator for comparing wsbridge with websocketd,
 * websockify and a raw TCP echo server.
 *
 * One thread, one epoll set, edge-triggered. It has to stay far cheaper per message than any
 * server it measures, so: frames are written straight into one output buffer per connection
 * (masking while copying from a precomputed pattern), everything a wake-up produces leaves in one
 * write(), and echoed payload is checked against the pattern as it arrives, never buffered.
 *
 * What is sent on connection i is a byte stream: stream byte `off` is pattern[(off + salt(i)) %
 * PAT_LEN], cut into messages of --size bytes. Whatever the server does to message boundaries
 * (exec --binary and proxies re-chunk), the echoed payload bytes must be that same stream, so a
 * changed, lost, duplicated or reordered byte shows up as a mismatch at a known offset. Message k
 * counts as echoed when (k + 1) * size bytes have come back; that is its round-trip time.
 *
 * --tls speaks wss://: an OpenSSL session per connection, non-blocking, driven by the same
 * edge-triggered events (the certificate is not verified: this measures, it does not protect).
 *
 * Exit status: 0 all good; 1 protocol error or corrupted echo (reported at once); 2 usage;
 * 3 some connections failed (refused, timed out, closed by the server).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define EXIT_PROTOCOL 1
#define EXIT_USAGE    2
#define EXIT_FAILURES 3

#define PAT_LEN      65521u /* prime, so slices of consecutive messages never line up */
#define SCRATCH_LEN  (256u * 1024u)
#define HEAD_MAX     8192u
#define MAX_REPORTED 5 /* individual connection failures printed before only counting */
#define SWEEP_NS     (100 * 1000000ull)
#define TLS_RECORD   16384u /* most plaintext one TLS record carries */

enum mode { MODE_CONNRATE, MODE_ECHO, MODE_STREAM, MODE_IDLE, MODE_FANOUT };
static const char *const mode_names[] = {"connrate", "echo", "stream", "idle", "fanout"};

struct opts {
    enum mode mode;
    const char *host;
    const char *port;
    const char *path;
    const char *protocol; /* Sec-WebSocket-Protocol to offer, or NULL */
    unsigned long n;      /* connections in all (connrate, idle) */
    unsigned long c;      /* concurrency (connrate, idle opening) or connections (echo, stream) */
    unsigned long w;      /* messages in flight per connection */
    size_t size;          /* message size */
    double duration, warmup, hold, timeout;
    bool text, raw, exact, ping, tls;
};

enum cstate {
    ST_FREE,
    ST_CONNECTING, /* TCP connect in progress */
    ST_TLS,        /* --tls: TLS handshake in progress */
    ST_HANDSHAKE,  /* upgrade request sent, reading the answer */
    ST_OPEN,
    ST_CLOSING, /* our close frame (or raw shutdown) sent, waiting for the server's close */
    ST_CLOSED,  /* close frames exchanged, waiting for the server to end TCP */
};

/* Server-to-client frame parser state. Payload is never stored except control frames. */
struct rx {
    unsigned char hdr[10];
    unsigned hdr_have, hdr_need;
    bool in_payload;
    bool fin;
    unsigned char opcode;
    uint64_t left;            /* payload bytes left in the current frame */
    unsigned char msg_opcode; /* opcode of the data message being received, 0 between messages */
    uint64_t msg_len;
    unsigned char ctrl[125];
    unsigned ctrl_len;
};

struct obuf {
    unsigned char *data;
    size_t off, len, cap;
};

struct conn {
    enum cstate st;
    int fd;
    SSL *ssl;         /* --tls */
    unsigned long id; /* which connection of the run: names it in messages, salts its pattern */
    size_t salt;
    bool blocked;        /* the last write hit EAGAIN: wait for EPOLLOUT */
    bool write_wants_in; /* TLS: SSL_write needs input first: retry it when input arrives */
    bool read_wants_out; /* TLS: SSL_read needs to write first: retry it on EPOLLOUT */
    size_t tls_retry;    /* TLS: bytes offered to an SSL_write that said WANT_*, or 0 */
    bool server_closed;  /* the server sent close first */
    bool alive;          /* idle: our ping was answered */
    struct obuf out;
    uint64_t raw_queued, raw_sent; /* raw mode: stream offsets queued / written */
    char *head;
    size_t head_len;
    char accept[32];
    struct rx rx;
    uint64_t tx_msgs, rx_msgs; /* messages queued / echoed completely */
    uint64_t rx_bytes;         /* payload bytes echoed and verified */
    uint64_t *sent_ns;         /* echo: send time of in-flight message k at [k % w] */
    uint64_t t_start, deadline;
    char close_reason[128];
};

struct hist {
    uint64_t count, max;
    uint64_t b[60 * 32];
};

enum phase { PH_OPENING, PH_TRAFFIC, PH_DRAIN, PH_HOLD, PH_PING, PH_CLOSE };

static struct {
    struct opts o;
    int ep;
    struct addrinfo *addr;
    SSL_CTX *tls;
    unsigned char *pat;
    unsigned char *scratch;
    struct conn *conns;
    unsigned long nslots;
    unsigned long *free_slots;
    unsigned long nfree;
    unsigned long target; /* connections to start: -n, less if idle is told to stop opening */
    unsigned long started, ok, failed, unclean, reported;
    unsigned long active, opening; /* connections in use / not yet OPEN */
    unsigned long established, alive, dropped;
    enum phase phase;
    uint64_t t_warm, t_end;
    uint64_t win_msgs, win_bytes;
    struct hist lat;
    uint64_t rng;
    volatile sig_atomic_t signalled;
} R;

/* ---- small helpers ------------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t secs_ns(double s)
{
    return s <= 0 ? 0 : (uint64_t)(s * 1e9);
}

/* xorshift64*: mask keys and handshake nonces need to be unpredictable to a middlebox, not
 * cryptographic; getrandom() seeds it once. */
static uint64_t rng64(void)
{
    R.rng ^= R.rng >> 12;
    R.rng ^= R.rng << 25;
    R.rng ^= R.rng >> 27;
    return R.rng * 0x2545f4914f6cdd1dull;
}

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die(EXIT_PROTOCOL, "out of memory");
    return p;
}

static const char *state_name(enum cstate st)
{
    switch (st) {
    case ST_FREE: return "free";
    case ST_CONNECTING: return "connecting";
    case ST_TLS: return "tls handshake";
    case ST_HANDSHAKE: return "handshake";
    case ST_OPEN: return "open";
    case ST_CLOSING: return "closing";
    case ST_CLOSED: return "closed";
    }
    return "?";
}

/* ---- SHA-1 and base64, only for checking Sec-WebSocket-Accept (FIPS 180-4, RFC 4648) ------- */

static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1(const void *data, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    const unsigned char *p = data;
    size_t full = len / 64 * 64;
    for (size_t i = 0; i < full; i += 64) sha1_block(h, p + i);
    unsigned char tail[128] = {0};
    size_t rest = len - full;
    memcpy(tail, p + full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tail_len - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < tail_len; i += 64) sha1_block(h, tail + i);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void base64(const unsigned char *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        *out++ = abc[v >> 18 & 63];
        *out++ = abc[v >> 12 & 63];
        *out++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
        *out++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *out = '\0';
}

/* ---- payload pattern -------------------------------------------------------------------- */

/* Twice PAT_LEN long, so any slice of up to PAT_LEN bytes starting below PAT_LEN is contiguous.
 * Text uses printable ASCII only: valid UTF-8, no newline (a line is a message in exec mode) and
 * no CR (servers strip a trailing CR). */
static void pattern_init(bool text)
{
    R.pat = xmalloc(2 * PAT_LEN);
    for (size_t i = 0; i < PAT_LEN; i++) {
        uint64_t r = rng64() >> 32;
        R.pat[i] = text ? (unsigned char)(0x20 + r % 95) : (unsigned char)r;
    }
    memcpy(R.pat + PAT_LEN, R.pat, PAT_LEN);
}

static size_t pattern_pos(const struct conn *c, uint64_t off)
{
    return (size_t)((off + c->salt) % PAT_LEN);
}

/* ---- latency histogram: log-linear buckets, 32 per power of two (error < 3.2%) ---------- */

static unsigned hist_index(uint64_t v)
{
    if (v < 32) return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - 5;
    return (shift + 1) * 32 + (unsigned)((v >> shift) & 31);
}

static uint64_t hist_value(unsigned idx)
{
    if (idx < 32) return idx;
    unsigned shift = idx / 32 - 1;
    return ((uint64_t)(32 + idx % 32) << shift) + ((1ull << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max) h->max = v;
}

static double hist_pct_us(const struct hist *h, double pct)
{
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)h->count);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < sizeof h->b / sizeof h->b[0]; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return (double)(v < h->max ? v : h->max) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ---- output buffer ---------------------------------------------------------------------- */

static unsigned char *obuf_space(struct obuf *b, size_t need)
{
    if (b->off && b->off + b->len + need > b->cap) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
    }
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + need) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) die(EXIT_PROTOCOL, "out of memory");
        b->data = d;
        b->cap = cap;
    }
    return b->data + b->off + b->len;
}

static void obuf_free(struct obuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- connection bookkeeping ------------------------------------------------------------- */

/* Not yet OPEN (and counted in R.opening). */
static bool is_opening(enum cstate st)
{
    return st == ST_CONNECTING || st == ST_TLS || st == ST_HANDSHAKE;
}

static const char *transport(void)
{
    return R.o.raw ? "raw" : R.o.tls ? "wss" : "ws";
}

static void conn_release(struct conn *c)
{
    SSL_free(c->ssl); /* no close_notify: the WebSocket close handshake has ended the session */
    if (c->fd >= 0) close(c->fd); /* also drops it from the epoll set */
    obuf_free(&c->out);
    free(c->head);
    free(c->sent_ns);
    if (is_opening(c->st)) R.opening--;
    c->st = ST_FREE;
    c->fd = -1;
    c->ssl = NULL;
    c->head = NULL;
    c->sent_ns = NULL;
    R.active--;
    R.free_slots[R.nfree++] = (unsigned long)(c - R.conns);
}

static void conn_failed(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_failed(struct conn *c, const char *fmt, ...)
{
    if (R.reported++ < MAX_REPORTED) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "wsbench: connection %lu (%s): ", c->id, state_name(c->st));
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    } else if (R.reported == MAX_REPORTED + 1) {
        fputs("wsbench: (further connection failures only counted)\n", stderr);
    }
    if (c->st == ST_OPEN || c->st == ST_CLOSING || c->st == ST_CLOSED) {
        if (R.phase == PH_HOLD || R.phase == PH_PING) R.dropped++;
    }
    R.failed++;
    conn_release(c);
}

/* An SSL_* call failed for good (`ret` its return value): reports OpenSSL's reason. */
static void tls_failed(struct conn *c, const char *what, int ret)
{
    int err = errno;
    int kind = SSL_get_error(c->ssl, ret);
    unsigned long code = ERR_get_error();
    char why[256];
    if (code)
        ERR_error_string_n(code, why, sizeof why);
    else if (kind == SSL_ERROR_SYSCALL && err)
        snprintf(why, sizeof why, "%s", strerror(err));
    else if (kind == SSL_ERROR_SYSCALL)
        snprintf(why, sizeof why, "unexpected EOF");
    else
        snprintf(why, sizeof why, "SSL error %d", kind);
    ERR_clear_error(); /* SSL_get_error needs an empty queue before the next call */
    conn_failed(c, "%s: %s", what, why);
}

static void conn_succeeded(struct conn *c)
{
    R.ok++;
    conn_release(c);
}

/* A protocol violation or corrupted echo ends the run: the numbers would mean nothing. */
static void conn_fatal(const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void conn_fatal(const struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wsbench: connection %lu: ", c->id);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_PROTOCOL);
}

/* ---- frames, client to server ----------------------------------------------------------- */

/* XOR with the mask key while copying; `phase` is how far into the payload dst starts. 64
 * bytes at a time as a vector type (gcc -O2 does not vectorize a plain loop), then 8. Like its
 * SHA-1 and base64, wsbench keeps its own framing code rather than linking wsbridge's ws.c: a
 * checker that shares the code under test would share its bugs. */
typedef uint64_t mask_vec __attribute__((vector_size(64)));

static void mask_copy(unsigned char *dst, const unsigned char *src, size_t n,
                      const unsigned char key[4], size_t phase)
{
    unsigned char k8[8];
    for (size_t i = 0; i < 8; i++) k8[i] = key[(phase + i) & 3];
    uint64_t k;
    memcpy(&k, k8, 8);
    mask_vec kv = {k, k, k, k, k, k, k, k};
    size_t i = 0;
    for (; i + sizeof kv <= n; i += sizeof kv) {
        mask_vec v;
        memcpy(&v, src + i, sizeof v);
        v ^= kv;
        memcpy(dst + i, &v, sizeof v);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++) dst[i] = src[i] ^ key[(phase + i) & 3];
}

/* Header with a fresh mask key; returns its length. Lengths use the shortest encoding. */
static size_t frame_header(unsigned char *h, unsigned opcode, uint64_t len, unsigned char key[4])
{
    size_t n = 0;
    h[n++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        h[n++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        h[n++] = 0x80 | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) h[n++] = (unsigned char)(len >> (8 * i));
    }
    uint64_t r = rng64();
    memcpy(key, &r, 4);
    memcpy(h + n, key, 4);
    return n + 4;
}

/* One data message: stream bytes [off, off + len) of this connection, masked. */
static void queue_data_frame(struct conn *c, uint64_t off, size_t len)
{
    unsigned char key[4];
    unsigned char *h = obuf_space(&c->out, 14 + len);
    size_t hl = frame_header(h, R.o.text ? 1 : 2, len, key);
    for (size_t done = 0; done < len;) {
        size_t piece = len - done < PAT_LEN ? len - done : PAT_LEN;
        mask_copy(h + hl + done, R.pat + pattern_pos(c, off + done), piece, key, done);
        done += piece;
    }
    c->out.len += hl + len;
}

static void queue_control(struct conn *c, unsigned opcode, const unsigned char *payload, size_t len)
{
    unsigned char key[4];
    unsigned char *h = obuf_space(&c->out, 14 + len);
    size_t hl = frame_header(h, opcode, len, key);
    mask_copy(h + hl, payload, len, key, 0);
    c->out.len += hl + len;
}

/* ---- writing ------------------------------------------------------------------------------ */

static bool write_failed(struct conn *c, ssize_t n)
{
    if (n >= 0 || errno == EINTR) return false;
    if (errno == EAGAIN) {
        c->blocked = true;
        return true;
    }
    conn_failed(c, "write: %s", strerror(errno));
    return true;
}

/* Raw mode writes straight from the pattern: there is nothing to mask. */
static void flush_raw(struct conn *c)
{
    while (c->raw_sent < c->raw_queued) {
        uint64_t left = c->raw_queued - c->raw_sent;
        size_t n = left < PAT_LEN ? (size_t)left : PAT_LEN;
        ssize_t w = write(c->fd, R.pat + pattern_pos(c, c->raw_sent), n);
        if (write_failed(c, w)) return;
        if (w > 0) c->raw_sent += (uint64_t)w;
        if (w >= 0 && (size_t)w < n) {
            c->blocked = true; /* short write: the socket buffer is full */
            return;
        }
    }
}

/* One record per SSL_write, the pending bytes cut into records of equal size: 64 KiB + 14 in
 * five records of 13 KiB rather than four full ones and a runt of 14 bytes, which would cost
 * both ends a read and the server a write of its own.
 * With partial writes, only WANT_* says the socket is full. A retry after WANT_* offers the same
 * bytes again (at least as many), maybe at another address (the buffer may have moved), which
 * the modes set in tls_init allow. */
static void flush_tls(struct conn *c)
{
    while (c->out.len) {
        size_t records = (c->out.len + TLS_RECORD - 1) / TLS_RECORD;
        size_t n = (c->out.len + records - 1) / records;
        if (n < c->tls_retry) n = c->tls_retry;
        int w = SSL_write(c->ssl, c->out.data + c->out.off, (int)n);
        if (w > 0) {
            c->tls_retry = 0;
            c->out.off += (size_t)w;
            c->out.len -= (size_t)w;
            continue;
        }
        c->tls_retry = n;
        switch (SSL_get_error(c->ssl, w)) {
        case SSL_ERROR_WANT_WRITE: c->blocked = true; return;
        case SSL_ERROR_WANT_READ: c->write_wants_in = true; return;
        default: tls_failed(c, "SSL_write", w); return;
        }
    }
    c->out.off = 0;
}

static void flush(struct conn *c)
{
    if (c->st == ST_FREE || c->st == ST_CONNECTING || c->st == ST_TLS) return;
    if (c->blocked || c->write_wants_in) return;
    if (R.o.raw) {
        flush_raw(c);
        return;
    }
    if (c->ssl) {
        flush_tls(c);
        return;
    }
    while (c->out.len) {
        ssize_t w = write(c->fd, c->out.data + c->out.off, c->out.len);
        if (write_failed(c, w)) return;
        if (w < 0) continue;
        c->out.off += (size_t)w;
        c->out.len -= (size_t)w;
        if (c->out.len) {
            c->blocked = true;
            return;
        }
    }
    c->out.off = 0;
}

/* ---- the workloads ---------------------------------------------------------------------- */

static void queue_message(struct conn *c)
{
    uint64_t k = c->tx_msgs++;
    if (c->sent_ns) c->sent_ns[k % R.o.w] = now_ns();
    if (R.o.raw)
        c->raw_queued += R.o.size;
    else
        queue_data_frame(c, k * R.o.size, R.o.size);
}

static void begin_close(struct conn *c)
{
    c->st = ST_CLOSING;
    c->deadline = now_ns() + secs_ns(R.o.timeout);
    if (R.o.raw) {
        flush(c);
        if (c->st != ST_FREE && shutdown(c->fd, SHUT_WR) < 0)
            conn_failed(c, "shutdown: %s", strerror(errno));
        return;
    }
    static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000 */
    queue_control(c, 8, normal, sizeof normal);
}

/* Echo and stream: keep the window full until the run ends, then close once all is back. */
static void pump(struct conn *c)
{
    if (c->st != ST_OPEN) return;
    if (R.phase == PH_TRAFFIC) {
        while (c->tx_msgs - c->rx_msgs < R.o.w) queue_message(c);
    } else if (R.phase == PH_DRAIN && c->rx_msgs == c->tx_msgs) {
        begin_close(c);
    }
}

static void on_open(struct conn *c)
{
    c->st = ST_OPEN;
    R.opening--;
    c->deadline = 0;
    switch (R.o.mode) {
    case MODE_CONNRATE:
        c->deadline = c->t_start + secs_ns(R.o.timeout);
        queue_message(c);
        break;
    case MODE_ECHO:
    case MODE_STREAM: pump(c); break;
    case MODE_IDLE: R.established++; break;
    case MODE_FANOUT: break; /* listens; connection 0 sends the trigger */
    }
}

/* After a batch of input: the one place that decides what to send next. */
static void after_input(struct conn *c)
{
    if (c->st != ST_OPEN) return;
    if (R.o.mode == MODE_CONNRATE && c->rx_msgs == 1)
        begin_close(c);
    else if (R.o.mode == MODE_ECHO || R.o.mode == MODE_STREAM)
        pump(c);
}

static char printable(unsigned char ch)
{
    return ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
}

static void report_mismatch(const struct conn *c, const unsigned char *got, size_t n,
                            const unsigned char *want) __attribute__((noreturn));
static void report_mismatch(const struct conn *c, const unsigned char *got, size_t n,
                            const unsigned char *want)
{
    size_t i = 0;
    while (i < n && got[i] == want[i]) i++;
    uint64_t off = c->rx_bytes + i;
    conn_fatal(c,
               "echo differs at stream byte %" PRIu64 " (message %" PRIu64 ", byte %" PRIu64
               "): expected 0x%02x '%c', got 0x%02x '%c'",
               off, off / R.o.size, off % R.o.size, want[i], printable(want[i]), got[i],
               printable(got[i]));
}

/* Echoed payload, wherever the frame boundaries fall. */
static void on_payload(struct conn *c, const unsigned char *p, size_t n, uint64_t now)
{
    if (R.o.mode == MODE_FANOUT) { /* a broadcast: counted, not compared */
        (void)p;
        if (R.phase == PH_TRAFFIC && now >= R.t_warm && now < R.t_end) R.win_bytes += n;
        c->rx_bytes += n;
        return;
    }
    uint64_t sent = c->tx_msgs * R.o.size;
    if (c->rx_bytes + n > sent)
        conn_fatal(c, "%" PRIu64 " payload bytes echoed but only %" PRIu64 " sent", c->rx_bytes + n,
                   sent);
    for (size_t done = 0; done < n;) {
        size_t piece = n - done < PAT_LEN ? n - done : PAT_LEN;
        const unsigned char *want = R.pat + pattern_pos(c, c->rx_bytes);
        if (memcmp(p + done, want, piece) != 0) report_mismatch(c, p + done, piece, want);
        done += piece;
        c->rx_bytes += piece;
    }
    bool measured = R.phase == PH_TRAFFIC && now >= R.t_warm && now < R.t_end;
    if (measured) R.win_bytes += n;
    while (c->rx_bytes >= (c->rx_msgs + 1) * R.o.size) {
        if (c->sent_ns && measured) hist_add(&R.lat, now - c->sent_ns[c->rx_msgs % R.o.w]);
        if (measured) R.win_msgs++;
        c->rx_msgs++;
    }
}

/* ---- frames, server to client ----------------------------------------------------------- */

static void on_message_end(struct conn *c)
{
    struct rx *rx = &c->rx;
    if (R.o.mode == MODE_FANOUT) {
        uint64_t now = now_ns();
        if (R.phase == PH_TRAFFIC && now >= R.t_warm && now < R.t_end) R.win_msgs++;
        c->rx_msgs++;
    }
    if (R.o.exact) {
        unsigned want = R.o.text ? 1 : 2;
        if (rx->msg_opcode != want)
            conn_fatal(c, "echoed message has opcode %u, sent %u", rx->msg_opcode, want);
        if (rx->msg_len != R.o.size)
            conn_fatal(c, "echoed message has %" PRIu64 " bytes, sent %zu (--exact)", rx->msg_len,
                       R.o.size);
    }
    rx->msg_opcode = 0;
    rx->msg_len = 0;
}

static void on_close_frame(struct conn *c)
{
    struct rx *rx = &c->rx;
    if (rx->ctrl_len == 1) conn_fatal(c, "close frame with a 1-byte payload");
    unsigned code = rx->ctrl_len >= 2 ? (unsigned)rx->ctrl[0] << 8 | rx->ctrl[1] : 1005;
    if (c->st == ST_CLOSED) conn_fatal(c, "a second close frame");
    if (c->st == ST_CLOSING) {
        c->st = ST_CLOSED;
        return;
    }
    /* The server ended the session: answer as RFC 6455 asks, remember why. */
    snprintf(c->close_reason, sizeof c->close_reason, "server closed with %u %.*s", code,
             rx->ctrl_len > 2 ? (int)(rx->ctrl_len - 2) : 0, (const char *)rx->ctrl + 2);
    c->server_closed = true;
    if (rx->ctrl_len >= 2)
        queue_control(c, 8, rx->ctrl, 2);
    else
        queue_control(c, 8, NULL, 0);
    c->st = ST_CLOSED;
    c->deadline = now_ns() + secs_ns(R.o.timeout);
}

static void on_control(struct conn *c)
{
    struct rx *rx = &c->rx;
    switch (rx->opcode) {
    case 8: on_close_frame(c); break;
    case 9:
        if (c->st == ST_OPEN) queue_control(c, 10, rx->ctrl, rx->ctrl_len);
        break;
    case 10: {
        uint64_t want = c->id;
        if (rx->ctrl_len == 8 && memcmp(rx->ctrl, &want, 8) == 0 && !c->alive) {
            c->alive = true;
            R.alive++;
        }
        break;
    }
    }
    rx->ctrl_len = 0;
}

static void on_frame_end(struct conn *c)
{
    struct rx *rx = &c->rx;
    rx->in_payload = false;
    rx->hdr_have = 0;
    if (rx->opcode >= 8)
        on_control(c);
    else if (rx->fin)
        on_message_end(c);
}

/* The header is complete in rx->hdr: check it as strictly as a client must. */
static void decode_header(struct conn *c)
{
    struct rx *rx = &c->rx;
    unsigned b0 = rx->hdr[0], b1 = rx->hdr[1];
    unsigned opcode = b0 & 15;
    uint64_t len = b1 & 127;
    if (b0 & 0x70) conn_fatal(c, "frame with RSV bits 0x%x set (no extension agreed)", b0 & 0x70);
    if (b1 & 0x80) conn_fatal(c, "masked frame from the server");
    if (len == 126) {
        len = (uint64_t)rx->hdr[2] << 8 | rx->hdr[3];
        if (len < 126) conn_fatal(c, "length %" PRIu64 " not in its shortest form", len);
    } else if (len == 127) {
        len = 0;
        for (int i = 2; i < 10; i++) len = len << 8 | rx->hdr[i];
        if (len >> 63) conn_fatal(c, "64-bit length with the top bit set");
        if (len <= 0xffff) conn_fatal(c, "length %" PRIu64 " not in its shortest form", len);
    }
    rx->fin = b0 & 0x80;
    rx->opcode = (unsigned char)opcode;
    rx->left = len;
    rx->in_payload = true;
    if (opcode >= 8) {
        if (opcode > 10) conn_fatal(c, "unknown control opcode %u", opcode);
        if (!rx->fin || len > 125) conn_fatal(c, "fragmented or long control frame");
        rx->ctrl_len = 0;
        return;
    }
    if (opcode > 2) conn_fatal(c, "unknown data opcode %u", opcode);
    if (opcode == 0 && !rx->msg_opcode) conn_fatal(c, "continuation frame outside a message");
    if (opcode != 0 && rx->msg_opcode) conn_fatal(c, "new message inside a fragmented one");
    if (opcode != 0) rx->msg_opcode = (unsigned char)opcode;
}

/* Takes header bytes; returns how many were used. */
static size_t take_header(struct conn *c, const unsigned char *p, size_t n)
{
    struct rx *rx = &c->rx;
    size_t used = 0;
    if (rx->hdr_have < 2) {
        rx->hdr_need = 2;
    }
    while (used < n && rx->hdr_have < rx->hdr_need) {
        rx->hdr[rx->hdr_have++] = p[used++];
        if (rx->hdr_have == 2) {
            unsigned l7 = rx->hdr[1] & 127;
            rx->hdr_need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
        }
    }
    if (rx->hdr_have >= 2 && rx->hdr_have == rx->hdr_need) decode_header(c);
    return used;
}

static void ws_feed(struct conn *c, const unsigned char *p, size_t n, uint64_t now)
{
    struct rx *rx = &c->rx;
    while (c->st != ST_FREE) {
        if (!rx->in_payload) {
            if (!n) return;
            size_t used = take_header(c, p, n);
            p += used;
            n -= used;
            if (rx->in_payload && rx->left == 0) on_frame_end(c);
            continue;
        }
        if (!n) return;
        size_t take = n < rx->left ? n : (size_t)rx->left;
        if (rx->opcode >= 8) {
            memcpy(rx->ctrl + rx->ctrl_len, p, take);
            rx->ctrl_len += (unsigned)take;
        } else {
            if (c->st == ST_CLOSED) conn_fatal(c, "data after the close frame");
            rx->msg_len += take;
            on_payload(c, p, take, now);
        }
        p += take;
        n -= take;
        rx->left -= take;
        if (rx->left == 0) on_frame_end(c);
    }
}

/* ---- the opening handshake -------------------------------------------------------------- */

static void queue_request(struct conn *c)
{
    unsigned char nonce[16];
    uint64_t r1 = rng64(), r2 = rng64();
    memcpy(nonce, &r1, 8);
    memcpy(nonce + 8, &r2, 8);
    char key[32], proto[160] = "";
    base64(nonce, sizeof nonce, key);

    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char joined[sizeof key + sizeof guid];
    unsigned char digest[20];
    snprintf(joined, sizeof joined, "%s%s", key, guid);
    sha1(joined, strlen(joined), digest);
    base64(digest, sizeof digest, c->accept);

    if (R.o.protocol) snprintf(proto, sizeof proto, "Sec-WebSocket-Protocol: %s\r\n", R.o.protocol);
    char req[1024];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n%s\r\n",
                       R.o.path, R.o.host, R.o.port, key, proto);
    if (len < 0 || (size_t)len >= sizeof req) die(EXIT_USAGE, "--path or --host too long");
    memcpy(obuf_space(&c->out, (size_t)len), req, (size_t)len);
    c->out.len += (size_t)len;
}

/* The value of header `name` in a response head, or NULL. */
static const char *header_value(const char *head, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            const char *end = strstr(v, "\r\n");
            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
            *len = (size_t)(end - v);
            return v;
        }
    }
    return NULL;
}

static bool header_is(const char *head, const char *name, const char *want)
{
    size_t len;
    const char *v = header_value(head, name, &len);
    return v && len == strlen(want) && strncasecmp(v, want, len) == 0;
}

/* Returns false if the connection failed (a refusal is a failure, not a protocol error). */
static bool check_response(struct conn *c)
{
    const char *h = c->head;
    if (strncmp(h, "HTTP/1.1 101 ", 13) != 0 && strncmp(h, "HTTP/1.1 101\r", 13) != 0) {
        int line = (int)(strcspn(h, "\r\n"));
        conn_failed(c, "upgrade refused: %.*s", line, h);
        return false;
    }
    size_t len;
    const char *conn_hdr = header_value(h, "Connection", &len);
    if (!header_is(h, "Upgrade", "websocket") || !conn_hdr || !memmem(conn_hdr, len, "pgrade", 6))
        conn_fatal(c, "101 without Upgrade: websocket / Connection: Upgrade");
    if (!header_is(h, "Sec-WebSocket-Accept", c->accept))
        conn_fatal(c, "wrong or missing Sec-WebSocket-Accept");
    const char *proto = header_value(h, "Sec-WebSocket-Protocol", &len);
    if (proto && len && (!R.o.protocol || strncmp(proto, R.o.protocol, len) != 0))
        conn_fatal(c, "server chose subprotocol %.*s, which was not offered", (int)len, proto);
    if (header_value(h, "Sec-WebSocket-Extensions", &len) && len)
        conn_fatal(c, "server chose an extension, none was offered");
    return true;
}

/* Collects the answer head; what follows it is already WebSocket data. */
static void handshake_input(struct conn *c, const unsigned char *p, size_t n, uint64_t now)
{
    size_t room = HEAD_MAX - c->head_len;
    size_t take = n < room ? n : room;
    memcpy(c->head + c->head_len, p, take);
    size_t scan_from = c->head_len > 3 ? c->head_len - 3 : 0;
    c->head_len += take;
    c->head[c->head_len] = '\0';
    char *end = memmem(c->head + scan_from, c->head_len - scan_from, "\r\n\r\n", 4);
    if (!end) {
        if (c->head_len == HEAD_MAX) conn_fatal(c, "response head longer than %u", HEAD_MAX);
        return;
    }
    size_t head_len = (size_t)(end - c->head) + 4;
    size_t rest = c->head_len - head_len + (n - take);
    end[2] = '\0';
    if (!check_response(c)) return;
    free(c->head);
    c->head = NULL;
    on_open(c);
    ws_feed(c, p + (n - rest), rest, now);
}

/* ---- socket events ---------------------------------------------------------------------- */

static void consume(struct conn *c, const unsigned char *p, size_t n, uint64_t now)
{
    if (c->st == ST_HANDSHAKE)
        handshake_input(c, p, n, now);
    else if (R.o.raw)
        on_payload(c, p, n, now);
    else
        ws_feed(c, p, n, now);
}

static void on_eof(struct conn *c)
{
    if (c->st == ST_CLOSED && !c->server_closed) {
        conn_succeeded(c);
    } else if (c->st == ST_CLOSING && R.o.raw) {
        if (c->rx_bytes == c->tx_msgs * R.o.size)
            conn_succeeded(c);
        else
            conn_failed(c, "EOF with %" PRIu64 " bytes missing",
                        c->tx_msgs * R.o.size - c->rx_bytes);
    } else if (c->st == ST_CLOSING) {
        /* Our close was not answered with a close frame before TCP ended. */
        R.unclean++;
        conn_succeeded(c);
    } else if (c->server_closed) {
        conn_failed(c, "%s", c->close_reason);
    } else if (c->st == ST_HANDSHAKE) {
        conn_failed(c, "the server ended TCP before answering the upgrade");
    } else {
        conn_failed(c, "the server ended TCP without a close frame");
    }
}

/* SSL_read hands out at most one record per call, and may hold more that it has read ahead:
 * with edge-triggered events it must be called until it asks for more input (WANT_READ). */
static void read_input_tls(struct conn *c)
{
    c->read_wants_out = false;
    c->write_wants_in = false; /* what a blocked SSL_write waited for is read here: flush retries */
    for (;;) {
        int n = SSL_read(c->ssl, R.scratch, (int)SCRATCH_LEN);
        if (n > 0) {
            consume(c, R.scratch, (size_t)n, now_ns());
            if (c->st == ST_FREE) return;
            continue;
        }
        int kind = SSL_get_error(c->ssl, n);
        if (kind == SSL_ERROR_WANT_READ) break;
        if (kind == SSL_ERROR_WANT_WRITE) {
            c->read_wants_out = true;
            break;
        }
        if (kind == SSL_ERROR_ZERO_RETURN) { /* close_notify, or TCP ended (see tls_init) */
            on_eof(c);
            return;
        }
        tls_failed(c, "SSL_read", n);
        return;
    }
    after_input(c);
}

/* `drain`: the peer has half-closed, so read to EOF: the FIN raised its edge already. */
static void read_input(struct conn *c, bool drain)
{
    if (c->ssl) {
        read_input_tls(c);
        return;
    }
    for (;;) {
        ssize_t n = read(c->fd, R.scratch, SCRATCH_LEN);
        if (n > 0) {
            consume(c, R.scratch, (size_t)n, now_ns());
            if (c->st == ST_FREE) return;
            /* Edge-triggered: a short read emptied the socket, and data arriving later raises a
             * new edge, so there is no need to pay for the read that says EAGAIN. */
            if ((size_t)n < SCRATCH_LEN && !drain) break;
        } else if (n == 0) {
            on_eof(c);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN) {
            break;
        } else {
            conn_failed(c, "read: %s", strerror(errno));
            return;
        }
    }
    after_input(c);
}

/* TCP (and TLS) is up: send the upgrade request. */
static void start_upgrade(struct conn *c)
{
    c->st = ST_HANDSHAKE;
    c->head = xmalloc(HEAD_MAX + 1);
    c->head_len = 0;
    queue_request(c);
}

/* ---- TLS ------------------------------------------------------------------------------------ */

static void tls_init(void)
{
    R.tls = SSL_CTX_new(TLS_client_method());
    if (!R.tls) die(EXIT_PROTOCOL, "SSL_CTX_new failed");
    SSL_CTX_set_verify(R.tls, SSL_VERIFY_NONE, NULL); /* a load generator: no verification */
    SSL_CTX_set_min_proto_version(R.tls, TLS1_2_VERSION);
    long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    if (R.o.mode == MODE_IDLE) mode |= SSL_MODE_RELEASE_BUFFERS; /* thousands of quiet sessions */
    SSL_CTX_set_mode(R.tls, mode);
    SSL_CTX_set_read_ahead(R.tls, 1); /* a record in one read(), not header and body */
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* TCP ending without close_notify is an EOF like any other: the WebSocket close handshake
     * says whether the session ended cleanly. */
    SSL_CTX_set_options(R.tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
}

static void tls_start(struct conn *c)
{
    c->ssl = SSL_new(R.tls);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) die(EXIT_PROTOCOL, "SSL_new failed");
    /* SNI is the --host name; RFC 6066 leaves it out for an address literal. */
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, R.o.host, addr) != 1 && inet_pton(AF_INET6, R.o.host, addr) != 1)
        SSL_set_tlsext_host_name(c->ssl, R.o.host);
    SSL_set_connect_state(c->ssl);
    c->st = ST_TLS;
}

/* Called on every event until done: with edge-triggered events, whatever SSL_connect waits for
 * (input, or room to write) raises an edge when it comes. */
static void tls_handshake(struct conn *c)
{
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        start_upgrade(c);
        return;
    }
    int kind = SSL_get_error(c->ssl, r);
    if (kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE) return;
    tls_failed(c, "TLS handshake", r);
}

/* ---- connection events -------------------------------------------------------------------- */

static void on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        conn_failed(c, "connect: %s", strerror(err));
        return;
    }
    if (R.o.raw)
        on_open(c);
    else if (R.o.tls)
        tls_start(c);
    else
        start_upgrade(c);
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->st == ST_FREE) return;
    const uint32_t in_ev = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP;
    if (ev & EPOLLOUT) c->blocked = false;
    if (c->st == ST_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        on_connected(c);
        if (c->st == ST_FREE) return;
    }
    if (c->st == ST_TLS) {
        tls_handshake(c);
        if (c->st != ST_HANDSHAKE) return; /* still under way, or failed */
    }
    bool input = ev & in_ev;
    /* TLS: input SSL already holds raises no edge; a read that had to write waits for room. */
    if (c->ssl && ((c->read_wants_out && (ev & EPOLLOUT)) || SSL_has_pending(c->ssl))) input = true;
    if (input) read_input(c, ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP));
    if (c->st == ST_FREE) return;
    flush(c);
}

static void conn_open(void)
{
    struct conn *c = &R.conns[R.free_slots[--R.nfree]];
    memset(c, 0, sizeof *c);
    c->id = R.started++;
    c->salt = (size_t)((c->id * 7919u) % PAT_LEN);
    c->t_start = now_ns();
    c->deadline = c->t_start + secs_ns(R.o.timeout);
    c->st = ST_CONNECTING;
    R.active++;
    R.opening++;
    if (R.o.mode == MODE_ECHO) c->sent_ns = xmalloc(R.o.w * sizeof *c->sent_ns);

    c->fd = socket(R.addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_failed(c, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(R.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die(EXIT_PROTOCOL, "epoll_ctl: %s", strerror(errno));
    if (connect(c->fd, R.addr->ai_addr, R.addr->ai_addrlen) < 0 && errno != EINPROGRESS)
        conn_failed(c, "connect: %s", strerror(errno));
    /* Completion (or an immediate connect on loopback) arrives as EPOLLOUT. */
}

/* ---- the event loop --------------------------------------------------------------------- */

static void sweep_deadlines(uint64_t now)
{
    for (unsigned long i = 0; i < R.nslots; i++) {
        struct conn *c = &R.conns[i];
        if (c->st != ST_FREE && c->deadline && now > c->deadline)
            conn_failed(c, "timed out after %.1f s", R.o.timeout);
    }
}

/* Opens connections as the mode allows: all at once for echo and stream, C at a time for
 * connrate (C in total) and idle (C still opening). */
static void top_up(void)
{
    if (R.phase != PH_OPENING && R.phase != PH_TRAFFIC) return;
    while (R.started < R.target && R.nfree) {
        if (R.o.mode == MODE_CONNRATE && R.active >= R.o.c) break;
        if (R.o.mode == MODE_IDLE && R.opening >= R.o.c) break;
        conn_open();
    }
}

/* Runs until done() says so or the deadline passes (0 = none); false on the deadline. */
static bool run_loop(bool (*done)(void), uint64_t deadline)
{
    struct epoll_event evs[512];
    uint64_t next_sweep = now_ns() + SWEEP_NS;
    for (;;) {
        top_up();
        if (done()) return true;
        uint64_t now = now_ns();
        if (deadline && now >= deadline) return false;
        if (now >= next_sweep) {
            sweep_deadlines(now);
            next_sweep = now + SWEEP_NS;
            continue;
        }
        uint64_t wake = next_sweep;
        if (deadline && deadline < wake) wake = deadline;
        int ms = (int)((wake - now + 999999) / 1000000);
        int n = epoll_wait(R.ep, evs, 512, ms);
        if (n < 0 && errno != EINTR) die(EXIT_PROTOCOL, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }
}

static bool all_finished(void)
{
    return R.started == R.target && R.active == 0;
}

static bool all_open(void)
{
    return R.started == R.target && R.opening == 0;
}

static bool opening_over(void)
{
    return all_open() || R.signalled;
}

static bool all_alive(void)
{
    return R.alive == R.active || R.signalled;
}

static bool got_signal(void)
{
    return R.signalled;
}

/* For every connection in use: start closing it, or count it as failed. */
static void close_all(void)
{
    for (unsigned long i = 0; i < R.nslots; i++) {
        struct conn *c = &R.conns[i];
        if (c->st == ST_OPEN) {
            begin_close(c);
            flush(c);
        } else if (is_opening(c->st)) {
            conn_failed(c, "not open at the end of the run");
        }
    }
}

static void fail_leftovers(const char *why)
{
    for (unsigned long i = 0; i < R.nslots; i++)
        if (R.conns[i].st != ST_FREE) conn_failed(&R.conns[i], "%s", why);
}

/* ---- modes ---------------------------------------------------------------------------- */

static double elapsed_s(uint64_t from)
{
    return (double)(now_ns() - from) / 1e9;
}

static int finish_status(void)
{
    return R.failed ? EXIT_FAILURES : 0;
}

static int run_connrate(void)
{
    uint64_t t0 = now_ns();
    R.phase = PH_OPENING;
    run_loop(all_finished, 0);
    double secs = elapsed_s(t0);
    double rate = secs > 0 ? (double)R.ok / secs : 0;
    const char *over = R.o.raw ? " (raw TCP)" : R.o.tls ? " (TLS)" : "";
    printf("# connrate%s: %lu connections, %lu at a time: %.0f conn/s, %lu failed, %lu unclean "
           "closes, %.2f s\n",
           over, R.o.n, R.o.c, rate, R.failed, R.unclean, secs);
    printf("result mode=connrate transport=%s n=%lu c=%lu size=%zu ok=%lu failures=%lu "
           "unclean=%lu secs=%.3f conns_per_s=%.1f\n",
           transport(), R.o.n, R.o.c, R.o.size, R.ok, R.failed, R.unclean, secs, rate);
    return finish_status();
}

static bool traffic_over(void)
{
    return R.signalled || now_ns() >= R.t_end || R.active == 0;
}

static int run_echo(void)
{
    R.o.n = R.target = R.o.c;
    R.phase = PH_OPENING;
    if (!run_loop(all_open, now_ns() + secs_ns(R.o.timeout)))
        fail_leftovers("could not open in time");
    uint64_t t0 = now_ns();
    R.t_warm = t0 + secs_ns(R.o.warmup);
    R.t_end = R.t_warm + secs_ns(R.o.duration);
    R.phase = PH_TRAFFIC;
    for (unsigned long i = 0; i < R.nslots; i++) {
        pump(&R.conns[i]);
        flush(&R.conns[i]);
    }
    run_loop(traffic_over, 0);
    uint64_t stopped = now_ns() < R.t_end ? now_ns() : R.t_end; /* early on a signal */
    double secs = stopped > R.t_warm ? (double)(stopped - R.t_warm) / 1e9 : 0;

    /* Stop sending, let everything in flight come back, then close cleanly. */
    R.phase = PH_DRAIN;
    uint64_t in_flight = 0;
    for (unsigned long i = 0; i < R.nslots; i++) {
        struct conn *c = &R.conns[i];
        if (c->st == ST_FREE) continue;
        in_flight += c->tx_msgs - c->rx_msgs;
        c->deadline = now_ns() + secs_ns(R.o.timeout);
        pump(c);
        flush(c);
    }
    if (!run_loop(all_finished, now_ns() + secs_ns(R.o.timeout) + SWEEP_NS))
        fail_leftovers("echo or close did not complete in time");

    double msgs = secs > 0 ? (double)R.win_msgs / secs : 0;
    double mbs = secs > 0 ? (double)R.win_bytes / secs / 1e6 : 0;
    const char *type = R.o.raw ? "raw" : R.o.text ? "text" : "binary";
    char rtt[96] = "";
    if (R.o.mode == MODE_ECHO)
        snprintf(rtt, sizeof rtt, ", rtt p50 %.1f p99 %.1f p99.9 %.1f us", hist_pct_us(&R.lat, 50),
                 hist_pct_us(&R.lat, 99), hist_pct_us(&R.lat, 99.9));
    printf("# %s: %lu conns x %lu in flight, %zu B %s%s: %.0f msg/s, %.1f MB/s%s, %lu failed\n",
           mode_names[R.o.mode], R.o.c, R.o.w, R.o.size, type, R.o.tls ? " over TLS" : "", msgs,
           mbs, rtt, R.failed);
    printf("result mode=%s transport=%s type=%s c=%lu w=%lu size=%zu secs=%.3f msgs=%" PRIu64
           " bytes=%" PRIu64 " msgs_per_s=%.1f mb_per_s=%.3f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f drained=%" PRIu64 " failures=%lu unclean=%lu\n",
           mode_names[R.o.mode], transport(), type, R.o.c, R.o.w, R.o.size, secs, R.win_msgs,
           R.win_bytes, msgs, mbs, hist_pct_us(&R.lat, 50), hist_pct_us(&R.lat, 90),
           hist_pct_us(&R.lat, 99), hist_pct_us(&R.lat, 99.9), (double)R.lat.max / 1000.0,
           in_flight, R.failed, R.unclean);
    return finish_status();
}

/* fanout: C clients listen to a broadcast (wsbridge --shared) that the first
 * one starts with a message; deliveries per second over all of them. */
static int run_fanout(void)
{
    R.o.n = R.target = R.o.c;
    R.phase = PH_OPENING;
    if (!run_loop(all_open, now_ns() + secs_ns(R.o.timeout)))
        fail_leftovers("could not open in time");
    uint64_t t0 = now_ns();
    R.t_warm = t0 + secs_ns(R.o.warmup);
    R.t_end = R.t_warm + secs_ns(R.o.duration);
    R.phase = PH_TRAFFIC;
    if (R.conns[0].st == ST_OPEN) {
        queue_message(&R.conns[0]);
        flush(&R.conns[0]);
    }
    run_loop(traffic_over, 0);
    uint64_t stopped = now_ns() < R.t_end ? now_ns() : R.t_end;
    double secs = stopped > R.t_warm ? (double)(stopped - R.t_warm) / 1e9 : 0;
    unsigned long listening = 0;
    for (unsigned long i = 0; i < R.nslots; i++)
        if (R.conns[i].st == ST_OPEN) listening++;
    R.phase = PH_CLOSE;
    close_all();
    if (!run_loop(all_finished, now_ns() + secs_ns(R.o.timeout) + SWEEP_NS))
        fail_leftovers("close did not complete in time");
    double msgs = secs > 0 ? (double)R.win_msgs / secs : 0;
    double mbs = secs > 0 ? (double)R.win_bytes / secs / 1e6 : 0;
    printf("# fanout: %lu clients (%lu listening to the end): %.0f deliveries/s, %.1f MB/s, "
           "%lu failed\n",
           R.o.c, listening, msgs, mbs, R.failed);
    printf("result mode=fanout transport=%s c=%lu listening=%lu secs=%.3f msgs=%" PRIu64
           " deliveries_per_s=%.1f mb_per_s=%.3f failures=%lu\n",
           transport(), R.o.c, listening, secs, R.win_msgs, msgs, mbs, R.failed);
    return finish_status();
}

static void on_signal(int sig)
{
    (void)sig;
    R.signalled = 1;
}

static void send_pings(void)
{
    for (unsigned long i = 0; i < R.nslots; i++) {
        struct conn *c = &R.conns[i];
        if (c->st != ST_OPEN) continue;
        uint64_t id = c->id;
        queue_control(c, 9, (const unsigned char *)&id, sizeof id);
        c->deadline = now_ns() + secs_ns(R.o.timeout);
        flush(c);
    }
}

/* A signal while opening means "enough": a server that stalls (out of descriptors, say) must
 * not keep the run waiting for every connection to time out. */
static void stop_opening(void)
{
    R.signalled = 0;
    for (unsigned long i = 0; i < R.nslots; i++) {
        struct conn *c = &R.conns[i];
        if (is_opening(c->st)) conn_failed(c, "still opening when told to stop");
    }
    R.failed += R.o.n - R.started;
    R.target = R.started;
}

static int run_idle(void)
{
    uint64_t t0 = now_ns();
    R.phase = PH_OPENING;
    run_loop(opening_over, 0);
    if (R.signalled) stop_opening();
    double open_secs = elapsed_s(t0);
    printf("established n=%lu ok=%lu failed=%lu secs=%.3f\n", R.o.n, R.established, R.failed,
           open_secs);
    fflush(stdout);

    R.phase = PH_HOLD;
    run_loop(got_signal, R.o.hold > 0 ? now_ns() + secs_ns(R.o.hold) : 0);
    unsigned long held = R.active;
    R.signalled = 0;
    if (R.o.ping) {
        R.phase = PH_PING;
        send_pings();
        run_loop(all_alive, now_ns() + secs_ns(R.o.timeout));
    }
    unsigned long not_alive = R.o.ping ? R.active - R.alive : 0;

    R.phase = PH_CLOSE;
    close_all();
    if (!run_loop(all_finished, now_ns() + secs_ns(R.o.timeout) + SWEEP_NS))
        fail_leftovers("close did not complete in time");

    printf("# idle: %lu of %lu connections established in %.2f s, %lu held, %s%lu dropped, "
           "%lu failed\n",
           R.established, R.o.n, open_secs, held, R.o.ping ? "" : "(no ping) ", R.dropped,
           R.failed);
    printf("result mode=idle transport=%s n=%lu established=%lu held=%lu alive=%lu dropped=%lu "
           "failures=%lu unclean=%lu open_secs=%.3f\n",
           transport(), R.o.n, R.established, held, R.o.ping ? R.alive : held, R.dropped, R.failed,
           R.unclean, open_secs);
    return R.failed || not_alive ? EXIT_FAILURES : 0;
}

/* ---- options ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: wsbench MODE [options]\n"
          "modes:\n"
          "  connrate  -n N connections, -c C at a time: connect, handshake, one message,\n"
          "            its echo, clean close; reports connections/s\n"
          "  echo      -c C connections, -w W messages in flight each, -s S bytes each, for\n"
          "            -d D seconds; every echoed byte checked; msgs/s, MB/s, round trips\n"
          "  stream    like echo, but message boundaries may change on the way (proxies);\n"
          "            counts and checks bytes only; window W*S bytes; reports MB/s\n"
          "  idle      open -n N connections (-c at a time), print 'established ...', hold\n"
          "            them until SIGUSR1, SIGINT or SIGTERM (or --hold), then --ping them\n"
          "            all and close; a signal while opening stops opening\n"
          "  fanout    -c C clients listen to a broadcast (wsbridge --shared) that the\n"
          "            first starts with one message; deliveries/s over all of them\n"
          "options:\n"
          "  --host H (127.0.0.1)  --port P (required)  --path /P (/)\n"
          "  -n N (1000)  -c C (connrate 50, echo/stream 1, idle 64)  -w W (echo 1, stream 4)\n"
          "  -s S bytes, K/M suffixes (echo 32, stream 64K)  -d SECONDS (5)  --warmup SECONDS (0)\n"
          "  --text | --binary (default) message type   --raw  plain TCP, no WebSocket\n"
          "  --tls  wss://: TLS to the server (SNI: --host unless it is an address); the\n"
          "         certificate is NOT verified: a benchmark tool, not a client to trust\n"
          "  --protocol P  offer subprotocol P   --exact  each echo must be one message, same\n"
          "                type and size as sent\n"
          "  --hold SECONDS (idle; 0 = until a signal)  --ping (idle)  --timeout SECONDS (10)\n"
          "output: a '# ...' line for people, then 'result key=value ...'\n"
          "exit: 0 ok, 1 protocol error or corrupted echo, 2 usage, 3 failed connections\n",
          f);
}

static unsigned long parse_count(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mult = 1;
    if (*end == 'K' || *end == 'k') mult = 1024;
    if (*end == 'M' || *end == 'm') mult = 1024 * 1024;
    if (mult > 1) end++;
    if (errno || end == s || *end || v * mult > 1ull << 40)
        die(EXIT_USAGE, "%s: not a count: %s", what, s);
    return (unsigned long)(v * mult);
}

static double parse_secs(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 1e6) die(EXIT_USAGE, "%s: not a duration: %s", what, s);
    return v;
}

/* The options that take no value; false if `a` is not one of them. */
static bool parse_flag(const char *a, struct opts *o)
{
    if (!strcmp(a, "--text"))
        o->text = true;
    else if (!strcmp(a, "--binary"))
        o->text = false;
    else if (!strcmp(a, "--raw"))
        o->raw = true;
    else if (!strcmp(a, "--tls"))
        o->tls = true;
    else if (!strcmp(a, "--exact"))
        o->exact = true;
    else if (!strcmp(a, "--ping"))
        o->ping = true;
    else
        return false;
    return true;
}

static enum mode parse_mode(const char *name)
{
    for (unsigned m = 0; m < sizeof mode_names / sizeof mode_names[0]; m++)
        if (!strcmp(name, mode_names[m])) return (enum mode)m;
    die(EXIT_USAGE, "unknown mode %s (connrate, echo, stream, idle, fanout)", name);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    if (argc < 2) {
        usage(stderr);
        exit(EXIT_USAGE);
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        exit(0);
    }
    *o = (struct opts){.mode = parse_mode(argv[1]),
                       .host = "127.0.0.1",
                       .path = "/",
                       .n = 1000,
                       .duration = 5,
                       .timeout = 10};
    long c = -1, w = -1, s = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (parse_flag(a, o)) continue;
        if (!v) die(EXIT_USAGE, "%s: unknown option or missing value", a);
        i++;
        if (!strcmp(a, "--host"))
            o->host = v;
        else if (!strcmp(a, "--port"))
            o->port = v;
        else if (!strcmp(a, "--path"))
            o->path = v;
        else if (!strcmp(a, "--protocol"))
            o->protocol = v;
        else if (!strcmp(a, "-n"))
            o->n = parse_count(v, a);
        else if (!strcmp(a, "-c"))
            c = (long)parse_count(v, a);
        else if (!strcmp(a, "-w"))
            w = (long)parse_count(v, a);
        else if (!strcmp(a, "-s"))
            s = (long)parse_count(v, a);
        else if (!strcmp(a, "-d"))
            o->duration = parse_secs(v, a);
        else if (!strcmp(a, "--warmup"))
            o->warmup = parse_secs(v, a);
        else if (!strcmp(a, "--hold"))
            o->hold = parse_secs(v, a);
        else if (!strcmp(a, "--timeout"))
            o->timeout = parse_secs(v, a);
        else
            die(EXIT_USAGE, "unknown option %s", a);
    }
    bool streamy = o->mode == MODE_STREAM;
    o->c = c >= 0                     ? (unsigned long)c
           : o->mode == MODE_CONNRATE ? 50
           : o->mode == MODE_IDLE     ? 64
                                      : 1;
    o->w = w >= 0 ? (unsigned long)w : streamy ? 4 : 1;
    o->size = s >= 0 ? (size_t)s : streamy ? 64 * 1024 : 32;
    if (!o->port) die(EXIT_USAGE, "--port is required");
    if (!o->c || !o->w || !o->size || !o->n) die(EXIT_USAGE, "-n, -c, -w and -s must be positive");
    if (o->raw && (o->mode == MODE_IDLE || o->exact || o->protocol))
        die(EXIT_USAGE, "--raw works with connrate, echo and stream, without --exact/--protocol");
    if (o->raw && o->tls) die(EXIT_USAGE, "--tls and --raw exclude each other");
    if (o->timeout <= 0) die(EXIT_USAGE, "--timeout must be positive");
}

static void resolve(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    int err = getaddrinfo(R.o.host, R.o.port, &hints, &R.addr);
    if (err) die(EXIT_USAGE, "%s:%s: %s", R.o.host, R.o.port, gai_strerror(err));
}

int main(int argc, char **argv)
{
    parse_args(argc, argv, &R.o);
    resolve();
    if (getrandom(&R.rng, sizeof R.rng, 0) != sizeof R.rng) R.rng = (uint64_t)now_ns();
    R.rng |= 1;
    pattern_init(R.o.text);
    R.scratch = xmalloc(SCRATCH_LEN);
    if (R.o.tls) tls_init();

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    R.target = R.o.n;
    R.nslots = R.o.mode == MODE_CONNRATE ? R.o.c : R.o.mode == MODE_IDLE ? R.o.n : R.o.c;
    R.conns = calloc(R.nslots, sizeof *R.conns);
    R.free_slots = xmalloc(R.nslots * sizeof *R.free_slots);
    if (!R.conns) die(EXIT_PROTOCOL, "out of memory");
    for (unsigned long i = 0; i < R.nslots; i++) {
        R.conns[i].fd = -1;
        R.free_slots[R.nfree++] = R.nslots - 1 - i;
    }
    R.ep = epoll_create1(EPOLL_CLOEXEC);
    if (R.ep < 0) die(EXIT_PROTOCOL, "epoll_create1: %s", strerror(errno));

    switch (R.o.mode) {
    case MODE_CONNRATE: return run_connrate();
    case MODE_ECHO:
    case MODE_STREAM: return run_echo();
    case MODE_IDLE: return run_idle();
    case MODE_FANOUT: return run_fanout();
    }
    return EXIT_USAGE;
}
