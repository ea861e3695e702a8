#include "autoconfig.h"

#include "proto/msgzip.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* What a sync flush ends with, and what the sender leaves off (7.2.1). */
static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

/* zlib's allocations, counted into the size_t that opaque points at. Each
 * block starts with its size, for the free. */
union zhead {
    size_t size;
    max_align_t align;
};

static voidpf counted_alloc(voidpf opaque, uInt items, uInt size)
{
    if (size && items > (SIZE_MAX - sizeof(union zhead)) / size) return Z_NULL;
    const size_t n = (size_t)items * size;
    union zhead *h = malloc(sizeof *h + n);
    if (!h) return Z_NULL;
    h->size = n;
    *(size_t *)opaque += n;
    return h + 1;
}

static void counted_free(voidpf opaque, voidpf p)
{
    if (!p) return;
    union zhead *h = (union zhead *)p - 1;
    *(size_t *)opaque -= h->size;
    free(h);
}

static void use_counted(z_stream *z, size_t *mem)
{
    z->zalloc = counted_alloc;
    z->zfree = counted_free;
    z->opaque = mem;
}

static int init_failed(int zret)
{
    errno = zret == Z_MEM_ERROR ? ENOMEM : EINVAL;
    return -1;
}

static uInt clamp_uint(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

/* ---- inflate ------------------------------------------------------------ */

int msgzip_in_init(struct msgzip_in *s, int wbits)
{
    memset(s, 0, sizeof *s);
    if (wbits < 8 || wbits > 15) return init_failed(Z_STREAM_ERROR);
    use_counted(&s->z, &s->mem);
    int r = inflateInit2(&s->z, -wbits);
    if (r != Z_OK) return init_failed(r);
    /* zlib allocates the window on the first output; setting an empty
     * dictionary (allowed at any time on a raw stream) makes it do so now,
     * so that nothing is allocated while a message is inflated and memory
     * runs out, if it does, only here. */
    static const Bytef nothing = 0;
    r = inflateSetDictionary(&s->z, &nothing, 0);
    if (r != Z_OK) {
        inflateEnd(&s->z);
        return init_failed(r);
    }
    s->wbits = (uint8_t)wbits;
    s->ready = true;
    return 0;
}

void msgzip_in_free(struct msgzip_in *s)
{
    if (s->ready) inflateEnd(&s->z);
    s->ready = false;
}

static enum msgzip_status in_fail(struct msgzip_in *s, enum msgzip_status st)
{
    s->failed = st;
    return st;
}

static enum msgzip_status in_end(struct msgzip_in *s)
{
    s->complete = true;
    return MSGZIP_END;
}

/* A block with BFINAL set ends zlib's stream, but not the message (7.2.1:
 * "The next DEFLATE block follows the padded data if any") nor the window
 * (7.2.2: with context takeover each message is inflated with the window of
 * the last). inflateResetKeep() starts a new stream and keeps the window in
 * constant time; copying the window out and back in with
 * inflateGetDictionary() would cost 32 KiB per two-byte empty final block a
 * client sends. It is exported (since 1.2.5.2) though not documented. */
static void restart_keeping_window(struct msgzip_in *s)
{
    inflateResetKeep(&s->z);
    s->stream_end = false;
}

enum msgzip_status msgzip_inflate(struct msgzip_in *s, const uint8_t *in, size_t n, bool final,
                                  uint8_t *out, size_t cap, uint64_t limit, size_t *used,
                                  size_t *made)
{
    *used = *made = 0;
    if (!s->ready) return MSGZIP_NOMEM;
    if (s->failed != MSGZIP_MORE) return s->failed;
    if (s->complete) return n ? in_fail(s, MSGZIP_BAD) : MSGZIP_END;
    if (n) s->started = true;
    for (;;) {
        /* Input: the caller's, then (final) the tail, or none while output
         * that is already decoded waits for room. */
        const uint8_t *src = NULL;
        size_t avail = 0;
        bool from_tail = false;
        if (*used < n) {
            src = in + *used;
            avail = n - *used;
        } else if (!s->pending) {
            if (!final) return MSGZIP_NEED_INPUT;
            /* No bytes at all, or a stream that ended exactly with the
             * message: nothing for the tail to complete. */
            if (s->tail_fed == 0 && (!s->started || s->stream_end)) return in_end(s);
            if (s->tail_fed == sizeof tail) {
                /* Anywhere but between two blocks the message stopped
                 * inside one. */
                if (s->stream_end || s->between_blocks) return in_end(s);
                return in_fail(s, MSGZIP_BAD);
            }
            src = tail + s->tail_fed;
            avail = sizeof tail - s->tail_fed;
            from_tail = true;
        }
        if (avail && s->stream_end) restart_keeping_window(s);

        /* Output: the caller's, up to the limit; at the limit one byte of our
         * own, to learn whether the message goes on (then it is too big). */
        uint8_t spare;
        uint8_t *dst;
        size_t room;
        if (limit && s->total >= limit) {
            dst = &spare;
            room = 1;
        } else {
            if (*made == cap) return MSGZIP_MORE;
            dst = out + *made;
            room = cap - *made;
            if (limit && room > limit - s->total) room = (size_t)(limit - s->total);
        }

        const uInt ain = clamp_uint(avail), aout = clamp_uint(room);
        s->z.next_in = (Bytef *)src;
        s->z.avail_in = ain;
        s->z.next_out = dst;
        s->z.avail_out = aout;
        int r = inflate(&s->z, Z_NO_FLUSH);
        const size_t took = ain - s->z.avail_in, gave = aout - s->z.avail_out;
        s->z.next_in = s->z.next_out = Z_NULL; /* keep no pointer into the caller's buffers */
        if (from_tail)
            s->tail_fed = (uint8_t)(s->tail_fed + took);
        else
            *used += took;
        if (dst == &spare) {
            if (gave) return in_fail(s, MSGZIP_TOO_BIG);
        } else {
            *made += gave;
            s->total += gave;
        }
        s->pending = s->z.avail_out == 0;
        /* zlib says "between blocks" (data_type 128) only on return from
         * the call that got there: the next call, making no progress,
         * clears it. */
        if (took || gave) s->between_blocks = s->z.data_type & 128;
        switch (r) {
        case Z_OK: break;
        case Z_STREAM_END:
            s->stream_end = true;
            s->pending = false; /* zlib returns it with all output produced */
            break;
        case Z_BUF_ERROR: /* no progress: fine only when flushing, with no input */
            if (avail) return in_fail(s, MSGZIP_BAD);
            break;
        case Z_MEM_ERROR: return in_fail(s, MSGZIP_NOMEM);
        default: return in_fail(s, MSGZIP_BAD);
        }
    }
}

void msgzip_in_next(struct msgzip_in *s, bool keep_context)
{
    if (!s->ready) return;
    if (!keep_context || !s->complete)
        inflateReset(&s->z); /* keeps the window's memory, not its contents */
    else if (s->stream_end)
        restart_keeping_window(s);
    s->tail_fed = 0;
    s->total = 0;
    s->started = s->pending = s->between_blocks = s->stream_end = s->complete = false;
    s->failed = MSGZIP_MORE;
}

size_t msgzip_in_memory(const struct msgzip_in *s)
{
    return s->mem;
}

/* ---- deflate ------------------------------------------------------------ */

int msgzip_out_init(struct msgzip_out *s, int level, int wbits, int memlevel)
{
    memset(s, 0, sizeof *s);
    if (wbits < 9 || wbits > 15) return init_failed(Z_STREAM_ERROR);
    use_counted(&s->z, &s->mem);
    int r = deflateInit2(&s->z, level, Z_DEFLATED, -wbits, memlevel, Z_DEFAULT_STRATEGY);
    if (r != Z_OK) return init_failed(r);
    s->ready = true;
    return 0;
}

void msgzip_out_free(struct msgzip_out *s)
{
    if (s->ready) deflateEnd(&s->z);
    s->ready = false;
}

size_t msgzip_bound(const struct msgzip_out *s, size_t n)
{
    /* deflateBound() is for one Z_FINISH call. A sync flush ends the same
     * blocks with an empty stored one instead of the final bit: its 3 bits,
     * padding and 4 bytes are at most 5 more. */
    return (size_t)deflateBound((z_streamp)&s->z, (uLong)n) + 8;
}

size_t msgzip_deflate(struct msgzip_out *s, const uint8_t *in, size_t n, bool final, bool reset,
                      uint8_t *out, size_t cap)
{
    if (!s->ready) return (size_t)-1;
    if (reset && deflateReset(&s->z) != Z_OK) return (size_t)-1;
    if (n == 0) {
        /* zlib makes nothing of a second flush in a row: the empty stored
         * block's header byte, completed by the receiver's tail (7.2.3.6). */
        if (!final) return 0;
        if (cap < 1) return (size_t)-1;
        out[0] = 0x00;
        return 1;
    }
    size_t in_done = 0, out_done = 0;
    for (;;) {
        const size_t in_left = n - in_done;
        if (out_done == cap) return (size_t)-1;
        const uInt ain = clamp_uint(in_left), aout = clamp_uint(cap - out_done);
        const int flush = ain == in_left ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        s->z.next_in = (Bytef *)(in + in_done);
        s->z.avail_in = ain;
        s->z.next_out = out + out_done;
        s->z.avail_out = aout;
        int r = deflate(&s->z, flush);
        in_done += ain - s->z.avail_in;
        out_done += aout - s->z.avail_out;
        const bool flushed = flush == Z_SYNC_FLUSH && s->z.avail_out != 0;
        s->z.next_in = s->z.next_out = Z_NULL;
        if (r != Z_OK) return (size_t)-1;
        /* Output space left over after Z_SYNC_FLUSH means the flush is
         * complete (and all input taken). */
        if (flushed) break;
    }
    if (out_done < sizeof tail || memcmp(out + out_done - sizeof tail, tail, sizeof tail) != 0)
        return (size_t)-1;
    return final ? out_done - sizeof tail : out_done;
}

size_t msgzip_out_memory(const struct msgzip_out *s)
{
    return s->mem;
}
