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
 * --deflate offers permessage-deflate (RFC 7692) as Chromium does, holds the server's answer to
 * the RFC's rules, inflates its RSV1 messages and compresses its own; the echo check runs on the
 * inflated bytes. --json makes the stream JSON ticker records instead of random characters, so
 * that compression sees what a real feed looks like: message k of a connection is a JSON array
 * that a pure function of (connection, k) renders, so the echo check works as before.
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
#include <zlib.h>

#define EXIT_PROTOCOL 1
#define EXIT_USAGE    2
#define EXIT_FAILURES 3

#define PAT_LEN      65521u /* prime, so slices of consecutive messages never line up */
#define SCRATCH_LEN  (256u * 1024u)
#define HEAD_MAX     8192u
#define MAX_REPORTED 5 /* individual connection failures printed before only counting */
#define SWEEP_NS     (100 * 1000000ull)
#define TLS_RECORD   16384u /* most plaintext one TLS record carries */
#define INFLATE_LEN  (64u * 1024u) /* inflated bytes handed to the echo check at a time */
#define JSON_RECS    8191u        /* prime; ~1.6 MB of records, far more than a 32 KiB window */
#define ZCACHE_MAX   (256u << 20) /* --deflate-cache: most compressed bytes kept */

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
    bool json;          /* the stream is JSON ticker records */
    bool deflate;       /* offer permessage-deflate */
    bool prime;         /* idle: echo one message before counting as established */
    size_t deflate_min; /* smaller messages go out uncompressed */
    int deflate_level;
    bool deflate_cache; /* compress each distinct --json message once, no context takeover */
};

/* permessage-deflate as the server's answer set it up (RFC 7692 section 7.1). */
struct pmd {
    bool on;
    bool server_nct, client_nct;         /* *_no_context_takeover */
    unsigned char server_bits, client_bits; /* LZ77 windows: the server's (inflate), ours */
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
    bool compressed;          /* that message has RSV1: its payload is inflated */
    bool z_ended;             /* ... and its DEFLATE data had a final block (BFINAL) */
    uint64_t msg_len;         /* its payload so far (inflated) */
    unsigned char ctrl[125];
    unsigned ctrl_len;
};

struct zmsg { /* a compressed message, RFC 7692's tail taken off */
    unsigned char *data;
    size_t len;
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
    struct pmd pmd;
    z_stream *inflater;  /* --deflate: made at the first compressed message */
    z_stream *deflater;  /* ours, when context takeover is worth keeping (echo, stream) */
    unsigned char *want; /* --json: the message being checked (rendered again) */
    uint64_t want_msg;   /* which one it is, + 1 (0: none yet) */
    bool priming;        /* idle --prime: its message is not back yet */
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
    uint64_t wire_in, wire_out;       /* WebSocket bytes (frames, after the upgrade) each way */
    uint64_t payload_in, payload_out; /* data message payload, uncompressed */
    unsigned long deflated;           /* connections that agreed on permessage-deflate */
    uint64_t delivered;               /* fanout: messages received in all, in the window or not */
    unsigned long priming;            /* idle --prime: open, their message not back yet */
    unsigned char *inflated;          /* INFLATE_LEN bytes of inflate output */
    unsigned char *zout;              /* one compressed message */
    size_t zout_cap;
    z_stream *shared_deflater[16];    /* by window bits: reset for every message */
    unsigned char *json_recs;         /* --json: JSON_RECS records, each at json_off[i] */
    uint32_t json_off[JSON_RECS + 1];
    size_t json_step;                 /* records a message advances: the most that fit */
    unsigned char *json_tx;           /* the message being sent */
    struct zmsg *zcache[16];          /* --deflate-cache: by window bits, by first record */
    size_t zcache_bytes;
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

/* ---- JSON ticker records (--json) --------------------------------------------------------- */

/* xorshift64* again, on a state of its own with a fixed seed. */
static uint64_t json_rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (*s * 0x2545f4914f6cdd1dull) >> 16;
}

/* The records of a ticker feed, as an exchange's ticker channel sends them: each an update of
 * one symbol's state, where the price moves by a cent or stays, the quote sizes change now and
 * then, volume and the day's high and low follow the trades, sequence numbers and timestamps
 * climb, and the keys repeat in every record. A fixed seed makes every run send the same
 * records, so compression ratios compare across runs. */
struct json_sym {
    const char *name;
    long price, open, high, low; /* cents */
    unsigned bid_size, ask_size;
    uint64_t volume;
};

static int json_record(char *out, size_t cap, struct json_sym *y, uint64_t *seed, unsigned seq,
                       uint64_t ts)
{
    long step = (long)(json_rng(seed) % 5) - 2; /* -2..2 cents, mostly small */
    if (step == 2 || step == -2) step /= 2;
    if (y->price + step > 0) y->price += step;
    if (y->price > y->high) y->high = y->price;
    if (y->price < y->low) y->low = y->price;
    long spread = 1 + (long)(json_rng(seed) % 3);
    if (json_rng(seed) % 2) y->bid_size = 100 * (unsigned)(1 + json_rng(seed) % 50);
    if (json_rng(seed) % 2) y->ask_size = 100 * (unsigned)(1 + json_rng(seed) % 50);
    y->volume += 100 * (1 + json_rng(seed) % 20);
    long bid = y->price - spread / 2, ask = bid + spread;
    return snprintf(out, cap,
                    "{\"type\":\"ticker\",\"symbol\":\"%s\",\"seq\":%u,\"price\":%ld.%02ld,"
                    "\"bid\":%ld.%02ld,\"ask\":%ld.%02ld,\"bid_size\":%u,\"ask_size\":%u,"
                    "\"volume\":%" PRIu64 ",\"open\":%ld.%02ld,\"high\":%ld.%02ld,"
                    "\"low\":%ld.%02ld,\"ts\":%" PRIu64 "}",
                    y->name, seq, y->price / 100, y->price % 100, bid / 100, bid % 100, ask / 100,
                    ask % 100, y->bid_size, y->ask_size, y->volume, y->open / 100, y->open % 100,
                    y->high / 100, y->high % 100, y->low / 100, y->low % 100, ts);
}

static void json_init(void)
{
    static const char *const names[] = {
        "AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "BRK.B", "JPM",     "V",
        "XOM",  "UNH",  "JNJ",   "WMT",  "PG",   "MA",   "HD",   "CVX",   "KO",      "PEP",
        "ABBV", "MRK",  "AVGO",  "COST", "ADBE", "CRM",  "NFLX", "AMD",   "BTC-USD", "ETH-USD"};
    enum { NSYM = sizeof names / sizeof names[0], REC_MAX = 320 };
    struct json_sym sym[NSYM];
    uint64_t seed = 0x9e3779b97f4a7c15ull, ts = 1764160000000ull;
    for (unsigned i = 0; i < NSYM; i++) {
        long open = 500 + (long)(json_rng(&seed) % 90000);
        sym[i] = (struct json_sym){.name = names[i],
                                   .price = open,
                                   .open = open,
                                   .high = open,
                                   .low = open,
                                   .bid_size = 100,
                                   .ask_size = 100,
                                   .volume = 1000000 + json_rng(&seed) % 50000000};
    }
    R.json_recs = xmalloc((size_t)JSON_RECS * REC_MAX);
    size_t pos = 0, shortest = REC_MAX;
    for (unsigned i = 0; i < JSON_RECS; i++) {
        ts += 1 + json_rng(&seed) % 40;
        struct json_sym *y = &sym[json_rng(&seed) % NSYM];
        int n = json_record((char *)R.json_recs + pos, REC_MAX, y, &seed, 48000000u + i, ts);
        if (n <= 0 || n >= REC_MAX) die(EXIT_PROTOCOL, "JSON record %u does not fit", i);
        R.json_off[i] = (uint32_t)pos;
        pos += (size_t)n;
        if ((size_t)n < shortest) shortest = (size_t)n;
    }
    R.json_off[JSON_RECS] = (uint32_t)pos;
    /* n whole records and their commas fit in size - 2 bytes when n * (len + 1) <= size - 1,
     * and a cut one may follow. */
    R.json_step = (R.o.size >= 2 ? (R.o.size - 1) / (shortest + 1) : 0) + 1;
    R.json_tx = xmalloc(R.o.size);
}

/* How much of record r (len bytes, '{' to '}') fits into room bytes when it is cut after a
 * field and closed with a '}': the length of that, or 0. Values hold no commas. */
static size_t json_cut(const unsigned char *r, size_t len, size_t room)
{
    if (len <= room) return len;
    size_t fit = 0;
    for (size_t i = 1; i < len && i + 1 <= room; i++)
        if (r[i] == ',') fit = i + 1;
    return fit;
}

/* Message k of connection c: a JSON array of the records from a start that moves by json_step
 * per message (so consecutive messages never repeat a record), as many as fit, the last one cut
 * after its last field that fits (an update of some fields, as feeds send), padded with blanks
 * before the ']' to exactly --size bytes (fewer than one field's worth). */
/* The first record of message k of connection c, which alone decides what the message holds. */
static size_t json_first(const struct conn *c, uint64_t k)
{
    return (size_t)((k % JSON_RECS * (R.json_step % JSON_RECS) + c->salt) % JSON_RECS);
}

static void json_render(const struct conn *c, uint64_t k, unsigned char *buf)
{
    size_t size = R.o.size;
    memset(buf, ' ', size);
    if (size < 2) return;
    size_t rec = json_first(c, k);
    size_t pos = 0;
    buf[pos++] = '[';
    for (bool first = true; pos + !first < size - 1; first = false) {
        const unsigned char *r = R.json_recs + R.json_off[rec];
        size_t len = R.json_off[rec + 1] - R.json_off[rec];
        size_t fit = json_cut(r, len, size - 1 - pos - !first);
        if (!fit) break;
        if (!first) buf[pos++] = ',';
        memcpy(buf + pos, r, fit);
        pos += fit;
        if (fit < len) {
            buf[pos - 1] = '}';
            break;
        }
        rec = rec + 1 == JSON_RECS ? 0 : rec + 1;
    }
    buf[size - 1] = ']';
}

/* Stream bytes from `off` as the echo check expects them, and how many follow contiguously. */
static const unsigned char *expected_at(struct conn *c, uint64_t off, size_t *avail)
{
    if (!R.o.json) {
        *avail = PAT_LEN;
        return R.pat + pattern_pos(c, off);
    }
    uint64_t k = off / R.o.size;
    if (!c->want) c->want = xmalloc(R.o.size);
    if (c->want_msg != k + 1) {
        json_render(c, k, c->want);
        c->want_msg = k + 1;
    }
    size_t in = (size_t)(off % R.o.size);
    *avail = R.o.size - in;
    return c->want + in;
}

/* The same for sending: message `off / size` has been rendered into json_tx. */
static const unsigned char *sent_at(const struct conn *c, uint64_t off, size_t *avail)
{
    if (!R.o.json) {
        *avail = PAT_LEN;
        return R.pat + pattern_pos(c, off);
    }
    size_t in = (size_t)(off % R.o.size);
    *avail = R.o.size - in;
    return R.json_tx + in;
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
    free(c->want);
    if (c->inflater) inflateEnd(c->inflater);
    free(c->inflater);
    if (c->deflater) deflateEnd(c->deflater);
    free(c->deflater);
    if (is_opening(c->st)) R.opening--;
    if (c->priming) R.priming--;
    c->st = ST_FREE;
    c->fd = -1;
    c->ssl = NULL;
    c->head = NULL;
    c->sent_ns = NULL;
    c->want = NULL;
    c->inflater = NULL;
    c->deflater = NULL;
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

/* Header with a fresh mask key; returns its length. Lengths use the shortest encoding. `first`
 * is the first byte without FIN: the opcode and, for a compressed message, RSV1. */
static size_t frame_header(unsigned char *h, unsigned first, uint64_t len, unsigned char key[4])
{
    size_t n = 0;
    h[n++] = (unsigned char)(0x80 | first);
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

static z_stream *deflater_new(unsigned bits)
{
    z_stream *z = calloc(1, sizeof *z);
    /* zlib cannot make a raw stream with a 256-byte window; one without back-references at all
     * (Huffman codes only) keeps to any window. */
    int strategy = bits < 9 ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY;
    if (!z || deflateInit2(z, R.o.deflate_level, Z_DEFLATED, -(int)(bits < 9 ? 9 : bits), 8,
                           strategy) != Z_OK)
        die(EXIT_PROTOCOL, "deflateInit2 failed");
    return z;
}

/* Our compressor for c. Context takeover pays off only across many messages (echo, stream);
 * otherwise, and whenever the server said client_no_context_takeover, one compressor per window
 * size serves every connection, reset for each message: a sender may always start afresh. */
static z_stream *deflater_for(struct conn *c)
{
    bool keep = !c->pmd.client_nct && !R.o.deflate_cache &&
                (R.o.mode == MODE_ECHO || R.o.mode == MODE_STREAM);
    if (keep) {
        if (!c->deflater) c->deflater = deflater_new(c->pmd.client_bits);
        return c->deflater;
    }
    z_stream **z = &R.shared_deflater[c->pmd.client_bits];
    if (!*z)
        *z = deflater_new(c->pmd.client_bits);
    else
        deflateReset(*z);
    return *z;
}

/* Compresses stream bytes [off, off + len) into R.zout as RFC 7692 section 7.2.1 says: DEFLATE,
 * a sync flush, its 00 00 ff ff taken off again. Returns the compressed length. */
static size_t deflate_message(struct conn *c, uint64_t off, size_t len)
{
    z_stream *z = deflater_for(c);
    size_t need = deflateBound(z, len) + 16;
    if (need > R.zout_cap) {
        free(R.zout);
        R.zout = xmalloc(need);
        R.zout_cap = need;
    }
    z->next_out = R.zout;
    z->avail_out = (uInt)R.zout_cap;
    for (size_t done = 0; done < len;) {
        size_t avail;
        const unsigned char *src = sent_at(c, off + done, &avail);
        size_t piece = len - done < avail ? len - done : avail;
        z->next_in = (unsigned char *)src;
        z->avail_in = (uInt)piece;
        done += piece;
        if (deflate(z, done == len ? Z_SYNC_FLUSH : Z_NO_FLUSH) != Z_OK || z->avail_in)
            die(EXIT_PROTOCOL, "deflate failed");
    }
    size_t n = R.zout_cap - z->avail_out;
    if (!z->avail_out || n < 4 || memcmp(R.zout + n - 4, "\0\0\xff\xff", 4) != 0)
        die(EXIT_PROTOCOL, "deflate: no sync flush marker");
    return n - 4;
}

/* Message off / size compressed: from the cache with --deflate-cache (there is one message per
 * first record, and each is compressed on its own), else now. */
static struct zmsg compressed(struct conn *c, uint64_t off, size_t len)
{
    struct zmsg *slot = NULL;
    if (R.o.deflate_cache) {
        struct zmsg **cache = &R.zcache[c->pmd.client_bits];
        if (!*cache && !(*cache = calloc(JSON_RECS, sizeof **cache)))
            die(EXIT_PROTOCOL, "out of memory");
        slot = &(*cache)[json_first(c, off / R.o.size)];
        if (slot->data) return *slot;
    }
    if (R.o.json) json_render(c, off / R.o.size, R.json_tx);
    size_t zlen = deflate_message(c, off, len); /* may move R.zout */
    struct zmsg z = {R.zout, zlen};
    if (slot && R.zcache_bytes + z.len <= ZCACHE_MAX) {
        slot->data = xmalloc(z.len);
        memcpy(slot->data, z.data, z.len);
        slot->len = z.len;
        R.zcache_bytes += z.len;
    }
    return z;
}

/* One data message: stream bytes [off, off + len) of this connection (off = k * size), masked;
 * compressed with RSV1 when permessage-deflate is on and it is at least --deflate-min long. */
static void queue_data_frame(struct conn *c, uint64_t off, size_t len)
{
    unsigned char key[4];
    unsigned first = R.o.text ? 1 : 2;
    R.payload_out += len;
    if (c->pmd.on && len >= R.o.deflate_min) {
        struct zmsg z = compressed(c, off, len);
        unsigned char *h = obuf_space(&c->out, 14 + z.len);
        size_t hl = frame_header(h, first | 0x40, z.len, key);
        mask_copy(h + hl, z.data, z.len, key, 0);
        c->out.len += hl + z.len;
        R.wire_out += hl + z.len;
        return;
    }
    if (R.o.json) json_render(c, off / R.o.size, R.json_tx);
    unsigned char *h = obuf_space(&c->out, 14 + len);
    size_t hl = frame_header(h, first, len, key);
    for (size_t done = 0; done < len;) {
        size_t avail;
        const unsigned char *src = sent_at(c, off + done, &avail);
        size_t piece = len - done < avail ? len - done : avail;
        mask_copy(h + hl + done, src, piece, key, done);
        done += piece;
    }
    c->out.len += hl + len;
    R.wire_out += hl + len;
}

static void queue_control(struct conn *c, unsigned opcode, const unsigned char *payload, size_t len)
{
    unsigned char key[4];
    unsigned char *h = obuf_space(&c->out, 14 + len);
    size_t hl = frame_header(h, opcode, len, key);
    mask_copy(h + hl, payload, len, key, 0);
    c->out.len += hl + len;
    R.wire_out += hl + len;
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
    if (R.o.raw) {
        c->raw_queued += R.o.size;
        R.payload_out += R.o.size;
        R.wire_out += R.o.size;
    } else {
        queue_data_frame(c, k * R.o.size, R.o.size);
    }
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
    case MODE_IDLE:
        if (!R.o.prime) {
            R.established++;
            break;
        }
        R.priming++;
        c->priming = true;
        c->deadline = now_ns() + secs_ns(R.o.timeout);
        queue_message(c);
        break;
    case MODE_FANOUT: break; /* listens; connection 0 sends the trigger */
    }
}

/* idle --prime: the message is back, the connection now idles like the others. What it needed
 * for checking that echo goes. */
static void on_primed(struct conn *c)
{
    c->priming = false;
    R.priming--;
    R.established++;
    c->deadline = 0;
    free(c->want);
    c->want = NULL;
    c->want_msg = 0;
}

/* After a batch of input: the one place that decides what to send next. */
static void after_input(struct conn *c)
{
    if (c->st != ST_OPEN) return;
    if (R.o.mode == MODE_CONNRATE && c->rx_msgs == 1)
        begin_close(c);
    else if (c->priming && c->rx_msgs == 1)
        on_primed(c);
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
    R.payload_in += n;
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
        size_t avail;
        const unsigned char *want = expected_at(c, c->rx_bytes, &avail);
        size_t piece = n - done < avail ? n - done : avail;
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
        R.delivered++;
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

static z_stream *inflater_for(struct conn *c)
{
    if (c->inflater) return c->inflater;
    c->inflater = calloc(1, sizeof *c->inflater);
    if (!c->inflater || inflateInit2(c->inflater, -(int)c->pmd.server_bits) != Z_OK)
        die(EXIT_PROTOCOL, "inflateInit2 failed");
    return c->inflater;
}

/* Compressed payload of a data message, inflated into the echo check. `tail`: the 00 00 ff ff
 * that RFC 7692 section 7.2.2 appends at the end of the message. A message whose DEFLATE data
 * ends in a final block (BFINAL, section 7.2.3.5) has nothing after it but that tail, and the
 * next one starts a new stream. */
static void inflate_payload(struct conn *c, const unsigned char *p, size_t n, bool tail,
                            uint64_t now)
{
    struct rx *rx = &c->rx;
    if (rx->z_ended) {
        if (n && !tail) conn_fatal(c, "compressed data after the final DEFLATE block");
        return;
    }
    z_stream *z = inflater_for(c);
    z->next_in = (unsigned char *)p;
    z->avail_in = (uInt)n;
    for (;;) {
        z->next_out = R.inflated;
        z->avail_out = INFLATE_LEN;
        int ret = inflate(z, Z_SYNC_FLUSH);
        size_t got = INFLATE_LEN - z->avail_out;
        if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
            conn_fatal(c, "inflate: %s (message %" PRIu64 " in, %" PRIu64 " bytes inflated)",
                       z->msg ? z->msg : "error", c->rx_msgs, rx->msg_len);
        if (got) {
            rx->msg_len += got;
            on_payload(c, R.inflated, got, now);
        }
        if (ret == Z_STREAM_END) {
            if (z->avail_in && !tail)
                conn_fatal(c, "compressed data after the final DEFLATE block");
            rx->z_ended = true;
            inflateReset(z);
            return;
        }
        if (z->avail_out) return; /* all input taken and all output given */
    }
}

static void on_frame_end(struct conn *c)
{
    struct rx *rx = &c->rx;
    rx->in_payload = false;
    rx->hdr_have = 0;
    if (rx->opcode >= 8) {
        on_control(c);
        return;
    }
    if (!rx->fin) return;
    if (rx->compressed) {
        static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
        inflate_payload(c, tail, sizeof tail, true, now_ns());
        if (c->pmd.server_nct && c->inflater && !rx->z_ended) inflateReset(c->inflater);
    }
    on_message_end(c);
}

/* The header is complete in rx->hdr: check it as strictly as a client must. */
static void decode_header(struct conn *c)
{
    struct rx *rx = &c->rx;
    unsigned b0 = rx->hdr[0], b1 = rx->hdr[1];
    unsigned opcode = b0 & 15;
    uint64_t len = b1 & 127;
    unsigned allowed = c->pmd.on ? 0x40 : 0; /* RSV1: permessage-deflate */
    if (b0 & 0x70 & ~allowed)
        conn_fatal(c, "frame with RSV bits 0x%x set (%s)", b0 & 0x70,
                   allowed ? "only RSV1 was agreed on" : "no extension agreed");
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
        if (b0 & 0x40) conn_fatal(c, "control frame with RSV1 set");
        rx->ctrl_len = 0;
        return;
    }
    if (opcode > 2) conn_fatal(c, "unknown data opcode %u", opcode);
    if (opcode == 0 && !rx->msg_opcode) conn_fatal(c, "continuation frame outside a message");
    if (opcode != 0 && rx->msg_opcode) conn_fatal(c, "new message inside a fragmented one");
    if (opcode == 0 && (b0 & 0x40)) conn_fatal(c, "continuation frame with RSV1 set");
    if (opcode != 0) {
        rx->msg_opcode = (unsigned char)opcode;
        rx->compressed = b0 & 0x40;
        rx->z_ended = false;
    }
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
    R.wire_in += n;
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
            if (rx->compressed) {
                inflate_payload(c, p, take, false, now);
            } else {
                rx->msg_len += take;
                on_payload(c, p, take, now);
            }
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
                       "Sec-WebSocket-Version: 13\r\n%s%s\r\n",
                       R.o.path, R.o.host, R.o.port, key, proto,
                       R.o.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                     "client_max_window_bits\r\n"
                                   : "");
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

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* Every Sec-WebSocket-Extensions line of a response head, joined with commas as RFC 7230
 * section 3.2.2 allows; false if they do not fit into cap bytes. */
static bool extensions_joined(const char *head, char *out, size_t cap)
{
    static const char name[] = "Sec-WebSocket-Extensions";
    size_t used = 0;
    out[0] = '\0';
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, sizeof name - 1) != 0 || line[sizeof name - 1] != ':')
            continue;
        const char *v = skip_ows(line + sizeof name);
        const char *end = strstr(v, "\r\n");
        size_t len = (size_t)(end - v);
        if (used + len + 2 >= cap) return false;
        if (used) out[used++] = ',';
        memcpy(out + used, v, len);
        used += len;
        out[used] = '\0';
    }
    return true;
}

/* An RFC 7230 token into out (cap bytes); returns its end, or NULL if there is none or it is
 * too long. */
static const char *take_token(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    while (*p > 0x20 && *p < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", *p)) {
        if (n + 1 >= cap) return NULL;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return n ? p : NULL;
}

/* A parameter value: a token or a quoted-string (RFC 7692 section 7.1 allows both). */
static const char *take_value(const char *p, char *out, size_t cap)
{
    if (*p != '"') return take_token(p, out, cap);
    size_t n = 0;
    for (p++; *p != '"'; p++) {
        if (*p == '\\') p++;
        if (!*p || n + 1 >= cap) return NULL;
        out[n++] = *p;
    }
    out[n] = '\0';
    return p + 1;
}

/* A window size: 8 to 15 in decimal, no leading zero (RFC 7692 sections 7.1.2.1 and 7.1.2.2). */
static int window_bits(const char *v)
{
    if (!strcmp(v, "8") || !strcmp(v, "9")) return v[0] - '0';
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && !v[2]) return 10 + v[1] - '0';
    return -1;
}

/* The server's answer to our offer "permessage-deflate; client_max_window_bits", held to RFC
 * 7692 section 7.1: NULL if it is a valid acceptance (pmd filled in, or left off if the server
 * declined), else what is wrong with it, in why. */
static const char *pmd_answer(const char *v, struct pmd *pmd, char *why, size_t cap)
{
    *pmd = (struct pmd){.server_bits = 15, .client_bits = 15};
    bool seen_sbits = false, seen_cbits = false;
    for (const char *p = v;;) {
        p = skip_ows(p);
        if (*p == ',') { /* an empty list element, which RFC 7230 section 7 tolerates */
            p++;
            continue;
        }
        if (!*p) return NULL;
        char name[64];
        const char *end = take_token(p, name, sizeof name);
        if (!end) return "malformed Sec-WebSocket-Extensions";
        if (strcmp(name, "permessage-deflate") != 0) {
            snprintf(why, cap, "server chose extension %s, which was not offered", name);
            return why;
        }
        if (pmd->on) return "permessage-deflate accepted twice";
        pmd->on = true;
        for (p = skip_ows(end); *p == ';'; p = skip_ows(p)) {
            char param[64], value[16] = "";
            p = take_token(skip_ows(p + 1), param, sizeof param);
            if (!p) return "malformed permessage-deflate parameter";
            p = skip_ows(p);
            bool has_value = *p == '=';
            if (has_value && !(p = take_value(skip_ows(p + 1), value, sizeof value))) {
                snprintf(why, cap, "malformed value of %s", param);
                return why;
            }
            bool nct_s = !strcmp(param, "server_no_context_takeover");
            bool nct_c = !strcmp(param, "client_no_context_takeover");
            bool bits_s = !strcmp(param, "server_max_window_bits");
            bool bits_c = !strcmp(param, "client_max_window_bits");
            if (!nct_s && !nct_c && !bits_s && !bits_c) {
                snprintf(why, cap, "unknown permessage-deflate parameter %s", param);
                return why;
            }
            if ((nct_s && pmd->server_nct) || (nct_c && pmd->client_nct) ||
                (bits_s && seen_sbits) || (bits_c && seen_cbits)) {
                snprintf(why, cap, "permessage-deflate parameter %s twice", param);
                return why;
            }
            if ((nct_s || nct_c) && has_value) {
                snprintf(why, cap, "%s with a value (%s)", param, value);
                return why;
            }
            int bits = has_value ? window_bits(value) : -1;
            if ((bits_s || bits_c) && bits < 0) {
                snprintf(why, cap, "%s=%s: not a window size of 8 to 15", param,
                         has_value ? value : "(none)");
                return why;
            }
            if (nct_s) pmd->server_nct = true;
            if (nct_c) pmd->client_nct = true;
            if (bits_s) {
                pmd->server_bits = (unsigned char)bits;
                seen_sbits = true;
            }
            if (bits_c) {
                pmd->client_bits = (unsigned char)bits;
                seen_cbits = true;
            }
        }
        if (*p && *p != ',') return "malformed Sec-WebSocket-Extensions";
    }
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
    if (!R.o.deflate) {
        if (header_value(h, "Sec-WebSocket-Extensions", &len) && len)
            conn_fatal(c, "server chose an extension, none was offered");
        return true;
    }
    char ext[1024], why[160];
    if (!extensions_joined(h, ext, sizeof ext)) conn_fatal(c, "Sec-WebSocket-Extensions too long");
    const char *bad = pmd_answer(ext, &c->pmd, why, sizeof why);
    if (bad) conn_fatal(c, "%s (Sec-WebSocket-Extensions: %s)", bad, ext);
    if (c->pmd.on) R.deflated++;
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
    if (c->st == ST_HANDSHAKE) {
        handshake_input(c, p, n, now);
    } else if (R.o.raw) {
        R.wire_in += n;
        on_payload(c, p, n, now);
    } else {
        ws_feed(c, p, n, now);
    }
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
        if (R.o.mode == MODE_IDLE && R.opening + R.priming >= R.o.c) break;
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
    return R.started == R.target && R.opening == 0 && R.priming == 0;
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

/* What every result line ends with: bytes on the wire and payload, each way, over the whole run
 * (in: from the server), and how many connections agreed on permessage-deflate. */
static void result_tail(void)
{
    printf(" deflated=%lu wire_in=%" PRIu64 " payload_in=%" PRIu64 " wire_out=%" PRIu64
           " payload_out=%" PRIu64 "\n",
           R.deflated, R.wire_in, R.payload_in, R.wire_out, R.payload_out);
}

/* The same for people, with --deflate. */
static void deflate_summary(unsigned long conns)
{
    if (!R.o.deflate) return;
    printf("# permessage-deflate on %lu of %lu connections; wire/payload: in %.1f%%, out %.1f%%\n",
           R.deflated, conns, R.payload_in ? 100.0 * (double)R.wire_in / (double)R.payload_in : 0,
           R.payload_out ? 100.0 * (double)R.wire_out / (double)R.payload_out : 0);
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
    deflate_summary(R.started);
    printf("result mode=connrate transport=%s n=%lu c=%lu size=%zu ok=%lu failures=%lu "
           "unclean=%lu secs=%.3f conns_per_s=%.1f",
           transport(), R.o.n, R.o.c, R.o.size, R.ok, R.failed, R.unclean, secs, rate);
    result_tail();
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
    deflate_summary(R.o.c);
    char rtt[96] = "";
    if (R.o.mode == MODE_ECHO)
        snprintf(rtt, sizeof rtt, ", rtt p50 %.1f p99 %.1f p99.9 %.1f us", hist_pct_us(&R.lat, 50),
                 hist_pct_us(&R.lat, 99), hist_pct_us(&R.lat, 99.9));
    printf("# %s: %lu conns x %lu in flight, %zu B %s%s: %.0f msg/s, %.1f MB/s%s, %lu failed\n",
           mode_names[R.o.mode], R.o.c, R.o.w, R.o.size, type, R.o.tls ? " over TLS" : "", msgs,
           mbs, rtt, R.failed);
    printf("result mode=%s transport=%s type=%s c=%lu w=%lu size=%zu secs=%.3f msgs=%" PRIu64
           " bytes=%" PRIu64 " msgs_per_s=%.1f mb_per_s=%.3f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f drained=%" PRIu64 " failures=%lu unclean=%lu",
           mode_names[R.o.mode], transport(), type, R.o.c, R.o.w, R.o.size, secs, R.win_msgs,
           R.win_bytes, msgs, mbs, hist_pct_us(&R.lat, 50), hist_pct_us(&R.lat, 90),
           hist_pct_us(&R.lat, 99), hist_pct_us(&R.lat, 99.9), (double)R.lat.max / 1000.0,
           in_flight, R.failed, R.unclean);
    result_tail();
    return finish_status();
}

/* fanout: C clients listen to a broadcast (wsbridge --shared) that the first
 * one starts with a message; deliveries per second over all of them. The 'opened' line tells a
 * driver that the handshakes are over (to measure the server's CPU from there). */
static int run_fanout(void)
{
    R.o.n = R.target = R.o.c;
    R.phase = PH_OPENING;
    uint64_t t_open = now_ns();
    if (!run_loop(all_open, now_ns() + secs_ns(R.o.timeout)))
        fail_leftovers("could not open in time");
    printf("opened c=%lu failed=%lu secs=%.3f\n", R.o.c, R.failed, elapsed_s(t_open));
    fflush(stdout);
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
    deflate_summary(R.o.c);
    printf("result mode=fanout transport=%s c=%lu listening=%lu secs=%.3f msgs=%" PRIu64
           " deliveries_per_s=%.1f mb_per_s=%.3f failures=%lu delivered=%" PRIu64,
           transport(), R.o.c, listening, secs, R.win_msgs, msgs, mbs, R.failed, R.delivered);
    result_tail();
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
        if (c->priming) conn_failed(c, "its --prime echo not back when told to stop");
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
    deflate_summary(R.started);
    printf("result mode=idle transport=%s n=%lu established=%lu held=%lu alive=%lu dropped=%lu "
           "failures=%lu unclean=%lu open_secs=%.3f",
           transport(), R.o.n, R.established, held, R.o.ping ? R.alive : held, R.dropped, R.failed,
           R.unclean, open_secs);
    result_tail();
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
          "  --prime  idle: each connection echoes one -s message before it counts as\n"
          "           established (so that what a first message leaves behind is held too)\n"
          "  --json   the stream is JSON ticker records: message k is a JSON array of records\n"
          "           (symbol, price, volume, ts, ...) blank-padded to -s bytes; any type\n"
          "  --deflate  offer permessage-deflate (RFC 7692) as Chromium does; inflate what\n"
          "           the server compresses, compress what we send (echoes checked inflated)\n"
          "  --deflate-min BYTES  send shorter messages uncompressed (0: compress all)\n"
          "  --deflate-level N  zlib level of what we send, 1..9 (6)\n"
          "  --deflate-cache  (with --json) compress each distinct message once, on its own\n"
          "           (no context takeover: a sender may always do without), and send the\n"
          "           stored bytes: sending costs a copy, so the server bounds the rate\n"
          "result lines end with deflated=CONNS wire_in= payload_in= wire_out= payload_out=\n"
          "(WebSocket bytes and uncompressed payload; in = from the server; the whole run)\n"
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
    else if (!strcmp(a, "--prime"))
        o->prime = true;
    else if (!strcmp(a, "--json"))
        o->json = true;
    else if (!strcmp(a, "--deflate"))
        o->deflate = true;
    else if (!strcmp(a, "--deflate-cache"))
        o->deflate_cache = true;
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
                       .timeout = 10,
                       .deflate_level = 6};
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
        else if (!strcmp(a, "--deflate-min"))
            o->deflate_min = parse_count(v, a);
        else if (!strcmp(a, "--deflate-level"))
            o->deflate_level = (int)parse_count(v, a);
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
    if (o->raw && (o->deflate || o->json))
        die(EXIT_USAGE, "--deflate and --json need WebSocket messages, not --raw");
    if (o->prime && o->mode != MODE_IDLE) die(EXIT_USAGE, "--prime is for idle");
    if (o->deflate_cache && !(o->deflate && o->json))
        die(EXIT_USAGE, "--deflate-cache needs --deflate and --json");
    if (o->deflate_level < 1 || o->deflate_level > 9) die(EXIT_USAGE, "--deflate-level: 1..9");
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
    if (R.o.json) json_init();
    if (R.o.deflate) R.inflated = xmalloc(INFLATE_LEN);
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
