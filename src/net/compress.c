#include "autoconfig.h"

#include "net/compress.h"

#include <stdlib.h>
#include <string.h>

#include "proto/msgzip.h"
#include "proto/utf8.h"
#include "proto/ws.h"

/* One loop per process, and each call below runs to its end: one output
 * buffer, a few deflate streams borrowed per call, and the inflate streams
 * of the messages being read now. */
/* Idle inflate streams kept for reuse (40 KiB each), and deflate streams
 * lent per call, by settings (260 KiB each at the defaults). */
#define INFLATERS_KEPT 8
#define DEFLATERS_KEPT 2

static uint8_t *out_buf;
static size_t out_cap;

static struct msgzip_in *spare_in[INFLATERS_KEPT];
static size_t nspare_in;

static struct borrowed {
    struct msgzip_out *s;
    uint8_t level, wbits, mem_level;
} deflaters[DEFLATERS_KEPT];
static size_t next_replaced;

static struct msgzip_in *new_inflater(int wbits)
{
    struct msgzip_in *s = calloc(1, sizeof *s);
    if (s && msgzip_in_init(s, wbits) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void free_inflater(struct msgzip_in *s)
{
    if (!s) return;
    msgzip_in_free(s);
    free(s);
}

/* Inflaters for sessions without client context takeover: any client
 * window is at most 15 bits, so one size fits all. */
static struct msgzip_in *take_inflater(void)
{
    return nspare_in ? spare_in[--nspare_in] : new_inflater(15);
}

static void give_inflater(struct msgzip_in *s)
{
    msgzip_in_next(s, false);
    if (nspare_in < INFLATERS_KEPT)
        spare_in[nspare_in++] = s;
    else
        free_inflater(s);
}

static struct msgzip_out *new_deflater(int level, int wbits, int mem_level)
{
    struct msgzip_out *s = calloc(1, sizeof *s);
    if (s && msgzip_out_init(s, level, wbits, mem_level) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void free_deflater(struct msgzip_out *s)
{
    if (!s) return;
    msgzip_out_free(s);
    free(s);
}

/* A deflate stream with these settings for the length of one call (no
 * context takeover: it is reset before each use). */
static struct msgzip_out *borrow_deflater(int level, int wbits, int mem_level)
{
    for (size_t i = 0; i < DEFLATERS_KEPT; i++) {
        struct borrowed *d = &deflaters[i];
        if (d->s && d->level == level && d->wbits == wbits && d->mem_level == mem_level)
            return d->s;
    }
    struct msgzip_out *s = new_deflater(level, wbits, mem_level);
    if (!s) return NULL;
    struct borrowed *d = &deflaters[next_replaced++ % DEFLATERS_KEPT];
    free_deflater(d->s);
    *d = (struct borrowed){s, (uint8_t)level, (uint8_t)wbits, (uint8_t)mem_level};
    return s;
}

static bool reserve_out(size_t n)
{
    if (n <= out_cap) return true;
    size_t cap = out_cap ? out_cap : 16384;
    while (cap < n) cap *= 2;
    uint8_t *p = realloc(out_buf, cap);
    if (!p) return false;
    out_buf = p;
    out_cap = cap;
    return true;
}

/* Compress p[0..n) with s into out_buf; *out_len. Returns 1, or -1. */
static int deflate_into_out(struct msgzip_out *s, const uint8_t *p, size_t n, bool fin, bool reset,
                            const uint8_t **out, size_t *out_len)
{
    if (!s || !reserve_out(msgzip_bound(s, n))) return -1;
    size_t m = msgzip_deflate(s, p, n, fin, reset, out_buf, out_cap);
    if (m == (size_t)-1) return -1;
    *out = out_buf;
    *out_len = m;
    return 1;
}

struct compress_state *compress_new(const struct pmd_params *p, const struct compress_settings *set)
{
    struct compress_state *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    z->params = *p;
    z->set = set;
    return z;
}

void compress_free(struct compress_state *z)
{
    if (!z) return;
    if (z->in && z->params.client_nct)
        give_inflater(z->in);
    else
        free_inflater(z->in);
    free_deflater(z->out);
    buf_free(&z->held);
    free(z);
}

int compress_frame(struct compress_state *z, uint8_t *b0, const uint8_t *p, size_t n,
                   const uint8_t **out, size_t *out_len)
{
    uint8_t op = *b0 & 0x0F;
    if (op >= WS_OP_CLOSE) return 0; /* control frames never (RFC 7692 6.1) */
    if (op != WS_OP_CONT) z->out_compressed = n >= z->set->min_size; /* the first frame decides */
    if (!z->out_compressed) return 0;
    const struct compress_settings *set = z->set;
    const uint8_t *zp;
    size_t zn;
    int r;
    if (z->params.server_nct) {
        /* Each fragment on its own: a fresh stream's sync-flushed output refers
         * only to its own bytes, so the pieces make one valid stream and no
         * state lives between fragments. */
        r = deflate_into_out(borrow_deflater(set->level, z->params.server_wbits, set->mem_level), p,
                             n, *b0 & WS_FIN, true, &zp, &zn);
        /* The client's window need not see this message: a whole one that
         * did not shrink goes out as it is. */
        if (r == 1 && op != WS_OP_CONT && (*b0 & WS_FIN) && zn >= n) return 0;
    } else {
        if (!z->out && !(z->out = new_deflater(set->level, z->params.server_wbits, set->mem_level)))
            return -1;
        r = deflate_into_out(z->out, p, n, *b0 & WS_FIN, false, &zp, &zn);
    }
    if (r != 1) return r;
    if (op != WS_OP_CONT) *b0 |= WS_RSV1;
    *out = zp;
    *out_len = zn;
    return 1;
}

enum compress_in_status compress_inflate(struct compress_state *z, bool text, const uint8_t *in,
                                         size_t n, bool final, uint8_t *out, size_t cap,
                                         uint64_t limit, size_t *used, size_t *made)
{
    *used = *made = 0;
    if (!z->in) {
        z->in = z->params.client_nct ? take_inflater() : new_inflater(z->params.client_wbits);
        if (!z->in) return COMPRESS_IN_NOMEM;
    }
    if (!z->in_started) {
        z->in_started = true;
        z->in_text = text;
        z->utf8_state = UTF8_ACCEPT;
    }
    enum msgzip_status st = msgzip_inflate(z->in, in, n, final, out, cap, limit, used, made);
    enum compress_in_status r;
    switch (st) {
    case MSGZIP_MORE: r = COMPRESS_IN_MORE; break;
    case MSGZIP_NEED_INPUT: r = COMPRESS_IN_NEED; break;
    case MSGZIP_END: r = COMPRESS_IN_END; break;
    case MSGZIP_TOO_BIG: r = COMPRESS_IN_TOO_BIG; break;
    case MSGZIP_BAD: r = COMPRESS_IN_BAD; break;
    default: r = COMPRESS_IN_NOMEM; break;
    }
    if (z->in_text && *made && r <= COMPRESS_IN_END) {
        z->utf8_state = utf8_validate(z->utf8_state, out, *made);
        if (z->utf8_state == UTF8_REJECT) r = COMPRESS_IN_BAD_UTF8;
    }
    if (r == COMPRESS_IN_END && z->in_text && z->utf8_state != UTF8_ACCEPT)
        r = COMPRESS_IN_BAD_UTF8;
    if (r >= COMPRESS_IN_END) {
        /* The message is over (or the session is about to be): the stream
         * goes back, or keeps its window for the next message. */
        z->in_started = false;
        if (z->params.client_nct) {
            give_inflater(z->in);
            z->in = NULL;
        } else {
            msgzip_in_next(z->in, r == COMPRESS_IN_END);
        }
    }
    return r;
}

int compress_once(const struct compress_settings *set, const uint8_t *p, size_t n,
                  const uint8_t **out, size_t *out_len)
{
    if (n < set->min_size) return 0;
    const uint8_t *zp;
    size_t zn;
    int r = deflate_into_out(borrow_deflater(set->level, set->window_bits, set->mem_level), p, n,
                             true, true, &zp, &zn);
    if (r != 1) return r;
    if (zn >= n) return 0; /* it did not shrink: the message as it is */
    *out = zp;
    *out_len = zn;
    return 1;
}

bool compress_shares_output(const struct compress_state *z, const struct compress_settings *set)
{
    return z && z->params.server_nct && z->params.server_wbits >= set->window_bits;
}
