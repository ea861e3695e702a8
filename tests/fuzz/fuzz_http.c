/* libFuzzer target for the HTTP request-head parser (http.c) and what runs on
 * a parsed request: handshake.c and cgienv.c.
 *
 * The whole input is what a client sent. http_parse is fed growing prefixes:
 * at split points drawn from a generator seeded with the first input bytes,
 * alternating between two buffers (the caller's buffer may move between
 * calls: the one not in use is poisoned, so a pointer kept into it faults),
 * and one byte more at a time in one buffer. Each call sees exactly the
 * prefix (the bytes past it poisoned: ASan catches a read past the end).
 * Every run must reach the verdict of a one-shot parse of the whole input,
 * with the same request. One byte at a time goes through every position of
 * the first 64 bytes; past that, through every position within 4 bytes of a
 * CR or LF, or of a limit counted from a line's start, and 32 more drawn at
 * random. That is every cut that can matter: http_parse parses a line when
 * its LF arrives and checks a limit against the line or head being read
 * (which starts after a LF); between two such positions it only scans.
 * (Every position of the first 2 KiB cost a third of each run and found
 * nothing the marked ones do not reach.) A complete head is then
 * checked and handed to handshake_check, handshake_append_101, http_split_target,
 * http_percent_decode, http_query_param (against a reference, on the query
 * and on the raw input), cgienv_build and handshake_pick_subprotocol, whose
 * results are checked too. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "backend/cgienv.h"
#include "proto/handshake.h"
#include "proto/http.h"

#include "fuzz_exact.h"

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The request fields as offsets into the buffer they were parsed from, so
 * parses of different copies compare. */
static bool same_request(const struct http_request *a, const char *abuf,
                         const struct http_request *b, const char *bbuf)
{
    if (a->method - abuf != b->method - bbuf || a->method_len != b->method_len ||
        a->target - abuf != b->target - bbuf || a->target_len != b->target_len ||
        a->minor_version != b->minor_version || a->nheaders != b->nheaders)
        return false;
    for (size_t i = 0; i < a->nheaders; i++) {
        const struct http_header *x = &a->headers[i], *y = &b->headers[i];
        if (x->name - abuf != y->name - bbuf || x->name_len != y->name_len ||
            x->value - abuf != y->value - bbuf || x->value_len != y->value_len)
            return false;
    }
    return true;
}

/* Copies of the input: the reference parse's (its request is checked last),
 * and the two the other runs alternate between. */
static struct exact ref_copy, copies[2];

/* Feed the input as a growing buffer ending at the given prefix lengths
 * (increasing; stops early on a verdict), from bufs[k % 2] at the k-th call
 * (each holding a copy of the input). Each call sees exactly its prefix; the
 * other buffer is poisoned all through. Returns the verdict; a complete
 * request is left in req, pointing into *keep (the last buffer). */
static long parse_growing(struct exact *bufs[2], const size_t *cuts, size_t ncuts,
                          struct http_request *req, const char **keep)
{
    struct http_parser p;
    http_parser_init(&p);
    const char *buf = NULL;
    long r = 0;
    for (size_t k = 0; k < ncuts; k++) {
        struct exact *e = bufs[k & 1];
        if (bufs[0] != bufs[1]) exact_hide(bufs[(k & 1) ^ 1]);
        buf = (const char *)exact_use(e, cuts[k]);
        r = http_parse(&p, buf, cuts[k], req);
        if (r != 0) break;
    }
    *keep = buf;
    return r;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* What a complete head must look like. */
static void check_request(const char *buf, long head, const struct http_request *req)
{
    const char *end = buf + head;
    if (buf[head - 1] != '\n') abort();
    if (req->method_len == 0 || req->method < buf || req->method + req->method_len > end) abort();
    for (size_t i = 0; i < req->method_len; i++)
        if (!http_is_tchar((unsigned char)req->method[i])) abort();
    if (req->target_len == 0 || req->target < buf || req->target + req->target_len > end) abort();
    for (size_t i = 0; i < req->target_len; i++) {
        unsigned char c = (unsigned char)req->target[i];
        if (c <= 0x20 || c >= 0x7F) abort();
    }
    if (req->minor_version < 0 || req->minor_version > 9) abort();
    if (req->nheaders > HTTP_MAX_HEADERS) abort();
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (h->name_len == 0 || h->name < buf || h->name + h->name_len > end) abort();
        for (size_t k = 0; k < h->name_len; k++)
            if (!http_is_tchar((unsigned char)h->name[k])) abort();
        if (h->value < buf || h->value + h->value_len > end) abort();
        if (h->value_len && (is_ows(h->value[0]) || is_ows(h->value[h->value_len - 1]))) abort();
        for (size_t k = 0; k < h->value_len; k++) {
            unsigned char c = (unsigned char)h->value[k];
            if (c == '\r' || c == '\n' || c == '\0' || c == 0x7F) abort();
        }
    }
}

/* Decode into an exactly-sized buffer; a result must fit and hold no NUL. */
static long decode_checked(const char *in, size_t n, struct exact *buf, char **out)
{
    *out = (char *)exact_use(buf, n);
    long d = http_percent_decode(in, n, *out);
    if (d < -1 || d > (long)n) abort();
    if (d > 0 && memchr(*out, '\0', (size_t)d)) abort();
    return d;
}

/* http_query_param written out from its documentation: the first
 * '&'-separated pair that is the name alone (value "") or the name, '=' and a
 * value; the value with '+' as a space, then %XX escapes decoded; a bad
 * escape or a NUL byte refuses it. */
static int ref_hex(char c)
{
    static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    const char *p = c ? strchr(lower, c) : NULL;
    if (p) return (int)(p - lower);
    p = c ? strchr(upper, c) : NULL;
    return p ? (int)(p - upper) : -1;
}

static long ref_query_param(const char *q, size_t len, const char *name, char *out)
{
    size_t nlen = strlen(name);
    for (size_t start = 0; start < len;) {
        size_t end = start;
        while (end < len && q[end] != '&') end++;
        size_t plen = end - start;
        const char *pair = q + start;
        start = end + 1;
        if (plen == nlen && memcmp(pair, name, nlen) == 0) return 0;
        if (plen <= nlen || memcmp(pair, name, nlen) != 0 || pair[nlen] != '=') continue;
        long o = 0;
        for (size_t i = nlen + 1; i < plen; i++) {
            char c = pair[i];
            if (c == '+') {
                c = ' ';
            } else if (c == '%') {
                int hi = i + 1 < plen ? ref_hex(pair[i + 1]) : -1;
                int lo = i + 2 < plen ? ref_hex(pair[i + 2]) : -1;
                if (hi < 0 || lo < 0) return -1;
                c = (char)(hi * 16 + lo);
                i += 2;
            }
            if (c == '\0') return -1;
            out[o++] = c;
        }
        return o;
    }
    return -1;
}

/* http_query_param into an exactly-sized buffer, against the reference. */
static struct exact param_out, param_ref, path_dec, query_dec;

static void check_query_param(const char *q, size_t len, const char *name)
{
    char *out = (char *)exact_use(&param_out, len), *ref = (char *)exact_use(&param_ref, len);
    long got = http_query_param(q, len, name, out);
    long want = ref_query_param(q, len, name, ref);
    if (got != want || (got > 0 && memcmp(out, ref, (size_t)got) != 0)) abort();
}

/* The parameter names to look up in a query: "token", and the name of its
 * first pair (when it has one without '&' or '='). */
static void check_query_params(const char *q, size_t len)
{
    check_query_param(q, len, "token");
    size_t n = 0;
    while (n < len && n < 32 && q[n] != '&' && q[n] != '=' && q[n] != '\0') n++;
    if (n > 0 && n < 32) {
        char name[32];
        memcpy(name, q, n);
        name[n] = '\0';
        check_query_param(q, len, name);
    }
}

static const char *env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **e = env; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/* The length of an environment entry's name, before its '='. */
static size_t name_len(const char *e)
{
    const char *eq = strchr(e, '=');
    return eq ? (size_t)(eq - e) : strlen(e);
}

static int cmp_names(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t xn = name_len(x), yn = name_len(y);
    int c = memcmp(x, y, xn < yn ? xn : yn);
    return c ? c : (xn > yn) - (xn < yn);
}

volatile long sink;

static void check_after_parse(const struct http_request *req, uint64_t rnd)
{
    const char *why = NULL;
    int st = handshake_check(req, &why);
    if (st != 0 && st != 400 && st != 405 && st != 426) abort();
    if (st != 0 && !why) abort();
    bool upgrade = handshake_is_upgrade(req);
    if (st == 0) {
        const struct http_header *k = http_header_find(req, "Sec-WebSocket-Key");
        if (!k || !handshake_key_valid(k->value, k->value_len)) abort();
        struct buf out = {0};
        if (handshake_append_101(&out, req, (rnd & 2) ? "binary" : NULL,
                                 (rnd & 4) ? "permessage-deflate" : NULL,
                                 (rnd & 1) ? "X-Fuzz: 1\r\n" : NULL) != 0)
            abort();
        static const char start[] = "HTTP/1.1 101 Switching Protocols\r\n";
        if (buf_len(&out) < sizeof start + 4 ||
            memcmp(buf_head(&out), start, sizeof start - 1) != 0 ||
            memcmp(buf_head(&out) + buf_len(&out) - 4, "\r\n\r\n", 4) != 0)
            abort();
        buf_free(&out);
    }

    const char *path = NULL, *query = NULL;
    size_t path_len = 0, query_len = 0;
    bool split = http_split_target(req, &path, &path_len, &query, &query_len);
    long dlen = -1;
    char *decoded = NULL;
    if (split) {
        const char *tend = req->target + req->target_len;
        /* The path is the static "/" or inside the target, and starts with '/'. */
        if (path_len == 0 || path[0] != '/') abort();
        if (!(path_len == 1 && path != req->target) &&
            (path < req->target || path + path_len > tend))
            abort();
        if (query < req->target || query + query_len > tend) abort();
        dlen = decode_checked(path, path_len, &path_dec, &decoded);
        char *qdec;
        sink = decode_checked(query, query_len, &query_dec, &qdec);
        check_query_params(query, query_len);
    }

    /* HTTPS and REMOTE_ADDR in the daemon's environment must not reach the
     * child: the server sets those. */
    static const char *const passenv[] = {"PATH", "HOME", "HTTPS", "REMOTE_ADDR"};
    static char *const environ_[] = {"PATH=/usr/bin:/bin", "HOME=/root", "HTTPS=forged",
                                     "REMOTE_ADDR=forged", NULL};
    const bool https = rnd & 2;
    struct cgienv_input in = {
        .req = req,
        .remote_addr = "192.0.2.7",
        .remote_port = 54321,
        .https = https,
        .passenv = passenv,
        .npassenv = 4,
        .environ = environ_,
        .unique_id = rnd,
    };
    char **env = cgienv_build(&in);
    if (!split || dlen < 0) {
        /* The documented failure: the path does not split or decode. */
        if (env) abort();
    } else {
        if (!env) abort(); /* not out of memory under the fuzzer */
        size_t n = 0;
        for (char **e = env; *e; e++, n++) {
            const char *eq = strchr(*e, '=');
            if (!eq || eq == *e) abort();
            if (strpbrk(*e, "\r\n")) abort(); /* values never carry a line break */
        }
        if (n > 32 + HTTP_MAX_HEADERS) abort();
        /* No variable twice: sorted by name, equal names are neighbours. */
        const char *sorted[32 + HTTP_MAX_HEADERS];
        memcpy(sorted, env, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_names);
        for (size_t i = 1; i < n; i++)
            if (cmp_names(&sorted[i - 1], &sorted[i]) == 0) abort();
        if (env_get(env, "HTTP_PROXY")) abort(); /* httpoxy */
        const char *h = env_get(env, "HTTPS");
        if (https ? !h || strcmp(h, "on") != 0 : h != NULL) abort();
        const char *pi = env_get(env, "PATH_INFO");
        const char *pe = env_get(env, "PATH");
        const char *ra = env_get(env, "REMOTE_ADDR");
        if (!ra || strcmp(ra, "192.0.2.7") != 0) abort();
        if (!pi || !env_get(env, "QUERY_STRING") || !env_get(env, "SERVER_NAME") || !pe ||
            strcmp(pe, "/usr/bin:/bin") != 0)
            abort();
        /* PATH_INFO is the decoded path (line breaks turned into spaces). */
        if (strlen(pi) != (size_t)dlen) abort();
        for (long i = 0; i < dlen; i++) {
            char want = decoded[i] == '\r' || decoded[i] == '\n' ? ' ' : decoded[i];
            if (pi[i] != want) abort();
        }
        free(env);
    }
    /* The subprotocol picked is one of ours, and one the client offered:
     * the case-insensitive token search finds it too. */
    char *ours[] = {"chat", "v2.chat", "binary", NULL};
    const char *picked = handshake_pick_subprotocol(req, ours, 3);
    if (picked && !http_header_has_token(req, "Sec-WebSocket-Protocol", picked)) abort();
    if (picked && picked != ours[0] && picked != ours[1] && picked != ours[2]) abort();
    sink = st + upgrade + http_header_has_token(req, "Connection", "upgrade") + (picked != NULL);
}

/* The prefix lengths for the one-byte-at-a-time run, as a bit set. */
static uint64_t *marks;
static size_t marks_cap;

static void mark(size_t at, size_t size)
{
    if (at <= size) marks[at / 64] |= 1ull << (at % 64);
}

static void mark_around(size_t at, size_t size)
{
    for (size_t k = at > 4 ? at - 4 : 0; k <= at + 4; k++) mark(k, size);
}

/* Every prefix length up to BYTEWISE_ALL, then those near a CR or LF or a limit
 * counted from a line's start (and so from the head's: it starts a line),
 * and some at random. Returns their number, in cuts. */
#define BYTEWISE_ALL 64
static size_t bytewise_cuts(const uint8_t *data, size_t size, uint64_t seed, size_t *cuts)
{
    const size_t words = size / 64 + 1;
    if (words > marks_cap) {
        free(marks);
        marks = malloc(words * sizeof *marks);
        if (!marks) abort();
        marks_cap = words;
    }
    memset(marks, 0, words * sizeof *marks);
    for (size_t i = 0; i <= size && i <= BYTEWISE_ALL; i++) mark(i, size);
    if (size > BYTEWISE_ALL) {
        static const size_t limits[] = {HTTP_MAX_LEADING_EMPTY, HTTP_MAX_REQUEST_LINE,
                                        HTTP_MAX_REQUEST_LINE + 2, HTTP_MAX_HEADER_BYTES};
        for (size_t i = 0; i <= size; i++) {
            if (i == 0 || data[i - 1] == '\n')
                for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++)
                    mark_around(i + limits[l], size);
            if (i < size && (data[i] == '\n' || data[i] == '\r')) mark_around(i, size);
        }
        mark_around(HTTP_MAX_HEAD, size);
        for (int k = 0; k < 32; k++) mark((size_t)(xorshift(&seed) % (size + 1)), size);
        mark(size, size);
    }
    size_t n = 0;
    for (size_t w = 0; w < words; w++)
        for (uint64_t b = marks[w]; b; b &= b - 1) cuts[n++] = w * 64 + (size_t)__builtin_ctzll(b);
    return n;
}

#define RAW_MAX 1024

static size_t *cut_buf;
static size_t cut_cap;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size + 1 > cut_cap) {
        free(cut_buf);
        cut_cap = size + 1 > 4096 ? size + 1 : 4096;
        cut_buf = malloc(cut_cap * sizeof *cut_buf);
        if (!cut_buf) abort();
    }
    exact_copy(&ref_copy, data, size);
    exact_copy(&copies[0], data, size);
    exact_copy(&copies[1], data, size);
    struct exact *alternate[2] = {&copies[0], &copies[1]};
    struct exact *in_place[2] = {&copies[0], &copies[0]};
    struct exact *reference[2] = {&ref_copy, &ref_copy};

    /* The reference: the whole input at once. */
    struct http_request ref_req, req;
    const char *ref_buf, *buf;
    long ref = parse_growing(reference, &size, 1, &ref_req, &ref_buf);
    if (ref > (long)size || (ref < 0 && ref != -400 && ref != -414 && ref != -431 && ref != -505))
        abort();
    /* HTTP_MAX_HEAD is the most a client can make us hold: an undecided
     * input is never longer, and neither is a complete head. */
    if ((ref == 0 && size > HTTP_MAX_HEAD) || ref > HTTP_MAX_HEAD) abort();

    /* Growing prefixes, moving, at split points drawn from the first bytes. */
    uint64_t seed = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < size && i < 8; i++) seed = (seed ^ data[i]) * 0x100000001b3ull;
    seed |= 1;
    size_t cuts[66], ncuts = 0, at = 0;
    const size_t step_max = 1 + (size_t)(seed >> 59) * 97; /* up to about 3000 bytes */
    while (at < size && ncuts < 64) {
        at += 1 + (size_t)(xorshift(&seed) % step_max);
        if (at > size) at = size;
        cuts[ncuts++] = at;
    }
    if (ncuts == 0 || cuts[ncuts - 1] != size) cuts[ncuts++] = size;
    long r = parse_growing(alternate, cuts, ncuts, &req, &buf);
    if (r != ref || (r > 0 && !same_request(&req, buf, &ref_req, ref_buf))) abort();

    /* One byte more at a time, in place (the parser looks at each byte
     * once, so this is linear), which hits every limit exactly at its edge. */
    exact_hide(&copies[1]);
    size_t nall = bytewise_cuts(data, size, seed, cut_buf);
    r = parse_growing(in_place, cut_buf, nall, &req, &buf);
    if (r != ref || (r > 0 && !same_request(&req, buf, &ref_req, ref_buf))) abort();

    if (ref > 0) {
        /* The head alone, without what followed it, parses the same. */
        size_t head = (size_t)ref;
        r = parse_growing(alternate, &head, 1, &req, &buf);
        if (r != ref || !same_request(&req, buf, &ref_req, ref_buf)) abort();
        check_request(ref_buf, ref, &ref_req);
        check_after_parse(&ref_req, seed);
    }

    /* The helpers on raw bytes: exactly the input's first KiB at most (they
     * scan without state that grows, so more only costs time). */
    const size_t raw_len = size < RAW_MAX ? size : RAW_MAX;
    const char *raw_in = (const char *)exact_use(&ref_copy, raw_len);
    char *raw;
    sink = decode_checked(raw_in, raw_len, &query_dec, &raw);
    sink = handshake_key_valid(raw_in, raw_len);
    check_query_params(raw_in, raw_len);
    return 0;
}
