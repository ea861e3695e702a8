/* libFuzzer target for one message inflated and compressed (msgzip.c).
 *
 * Input layout: byte 0 picks the settings, byte 1 seeds the chunking, the
 * rest is the data.
 *   byte 0 bits 0-2: the inflater's window, 8 + value
 *   byte 0 bits 3-4: the limit: none, 1, 1000 or 65536 bytes
 *   byte 0 bit 5:    context takeover between the two messages
 *   byte 0 bits 6-7: with byte 1, the deflate settings (below)
 *
 * Inflate: the data is a compressed message (the tail is appended), sent
 * twice on one inflater (msgzip_in_next() between, keeping the window or
 * not). A reference run uses a 15-bit inflater, the input in one piece and a
 * 64 KiB output buffer. Then, with the chosen window: the same way; one byte
 * at a time into a 1-byte buffer; and in input chunks and output buffers of
 * sizes byte 1 chooses (each output buffer ends where its allocation does,
 * so ASan sees an overrun).
 * One byte at a time means: 1-byte input chunks for the first and the last
 * 64 bytes of the message, and a 1-byte output buffer for the first and
 * the last 300 bytes of each message's output (more than the longest match,
 * 258, so a match that ends it is cut everywhere) and within 64 bytes of the
 * limit, where msgzip.c's state changes (its start, its tail, the limit's
 * spare byte); 4 KiB ones in between, where each 1-byte call only resumes
 * zlib (all through, that made most inputs cost over 10 ms and this pass
 * two thirds of the target's time; the chosen chunks still cut the middle
 * anywhere). The chosen output buffers are at least 1/2048
 * of what the messages inflate to (4 KiB at most). Every call must keep the contract (consumed <=
 * given, produced
 * <= room, MORE makes progress, nothing past the limit, END only at the end,
 * errors sticky) and zlib's memory must not grow. With a 15-bit window every
 * run must give the reference's status and bytes for both messages; with a
 * smaller one a run may instead stop earlier with BAD after a prefix of them
 * (see consistent()). With no limit every run stops at the same 64 KiB
 * of a message's output (NO_LIMIT_CUT).
 *
 * Deflate: the data is a message, compressed three times on one stream at
 * level (byte 1 % 10), window 9 + (byte 0 >> 6 | byte 1 >> 4 & 4) % 7 and
 * memlevel 1 + byte 1 % 9: whole, then twice in fragments of sizes byte 1
 * chooses; with context takeover (byte 1 bit 7) the stream goes on, else it
 * is reset before every piece. Each piece goes into a buffer of exactly
 * msgzip_bound(). One inflater with that window (keeping it between
 * messages with context takeover) must give the data back every time. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/msgzip.h"

#include "fuzz_bytes.h"
#include "fuzz_exact.h"

struct sizer {
    uint64_t state;
    size_t fixed; /* 0: chosen from the state, up to max */
    size_t max;
    size_t min;
    /* Nonzero: 1-byte pieces for this many bytes at each end of a message
     * (input: its bytes; output: `total` bytes, and within 64 bytes of a
     * limit). */
    size_t ends;
    uint64_t total;
};

static size_t next_size(struct sizer *z)
{
    size_t n = z->fixed;
    if (!n) {
        z->state ^= z->state << 13;
        z->state ^= z->state >> 7;
        z->state ^= z->state << 17;
        n = 1 + (size_t)(z->state % z->max);
    }
    return n < z->min ? z->min : n;
}

/* With no limit, a run stops taking a message's output at NO_LIMIT_CUT
 * bytes: a few KiB of input can inflate to megabytes, and with limit 0
 * msgzip.c's state does not depend on how much came out (only zlib's does).
 * Such a message ends with MSGZIP_MORE ("cut"); msgzip_in_next() then
 * starts the next one on a fresh stream, as for any unfinished message. Bombs
 * were most of the target's time (5 inputs in 158 took 70% of it). 64 KiB is
 * twice the largest window, so every distance a window can reject is reached,
 * and as much as the largest limit; 256 KiB made the campaign's rate 2,700/s,
 * this 4,400/s. */
#define NO_LIMIT_CUT (64u << 10)

/* What one message gave: its status, and its bytes as a length and a CRC
 * (chunking cannot change it; zlib's is fast); the reference run also keeps
 * the bytes (at most NO_LIMIT_CUT or the limit). */
struct outcome {
    enum msgzip_status st;
    uint64_t n;
    uLong crc;
    struct bytes *kept;
};

static void take(struct outcome *o, const uint8_t *p, size_t n)
{
    o->crc = crc32_z(o->crc, p, n);
    if (o->kept) put(o->kept, p, n);
    o->n += n;
}

/* Made once and reused: msgzip_in_next(s, false) and a deflate reset make
 * them as good as new, and making them for every input would be most of the
 * work. The output buffers are the end of one allocation, so ASan sees a
 * write past any of them. */
#define OUT_MAX 65536
static uint8_t *out_area;
static struct msgzip_in inflaters[16];
/* One deflater per setting (630 of them, tens of MB at most): making a new
 * one for each input that changed the setting was a third of the round
 * trip's time, mostly faulting in its fresh pages. */
static struct msgzip_out deflaters[10][16][10];

static struct msgzip_in *inflater(int wbits)
{
    struct msgzip_in *s = &inflaters[wbits];
    if (!s->ready && msgzip_in_init(s, wbits) != 0) abort();
    msgzip_in_next(s, false);
    return s;
}

static struct msgzip_out *deflater_for(int level, int wbits, int memlevel)
{
    struct msgzip_out *o = &deflaters[level][wbits][memlevel];
    if (!o->ready && msgzip_out_init(o, level, wbits, memlevel) != 0) abort();
    return o;
}

static void inflate_one(struct msgzip_in *s, const uint8_t *data, size_t n, uint64_t limit,
                        struct sizer *in_sz, struct sizer *out_sz, struct outcome *res)
{
    size_t off = 0;
    enum msgzip_status st;
    res->crc = crc32_z(0, Z_NULL, 0);
    for (;;) {
        size_t chunk = next_size(in_sz);
        if (in_sz->ends && (off < in_sz->ends || off + in_sz->ends >= n)) chunk = 1;
        if (chunk > n - off) chunk = n - off;
        const bool fin = off + chunk == n;
        size_t pos = 0;
        do {
            size_t cap = next_size(out_sz);
            if (out_sz->ends && (res->n < out_sz->ends || res->n + out_sz->ends >= out_sz->total ||
                                 (limit && res->n + 64 >= limit && res->n <= limit + 64)))
                cap = 1;
            if (cap > OUT_MAX) abort();
            uint8_t *obuf = out_area + OUT_MAX - cap; /* ends where the allocation does */
            size_t used = SIZE_MAX, made = SIZE_MAX;
            st = msgzip_inflate(s, data + off + pos, chunk - pos, fin, obuf, cap, limit, &used,
                                &made);
            if (used > chunk - pos || made > cap) abort();
            if (st == MSGZIP_MORE && used == 0 && made == 0) abort();
            pos += used;
            if (!limit && res->n + made >= NO_LIMIT_CUT) {
                take(res, obuf, (size_t)(NO_LIMIT_CUT - res->n));
                res->st = MSGZIP_MORE;
                return;
            }
            take(res, obuf, made);
            if (limit && res->n > limit) abort();
        } while (st == MSGZIP_MORE);
        if (st == MSGZIP_NEED_INPUT) {
            if (fin || pos != chunk) abort();
            off += chunk;
            continue;
        }
        if (st == MSGZIP_END && (!fin || pos != chunk)) abort();
        break;
    }
    res->st = st;
}

static void inflate_run(int wbits, bool keep, const uint8_t *data, size_t n, uint64_t limit,
                        struct sizer in_sz, struct sizer out_sz, const struct outcome *ref,
                        struct outcome res[2])
{
    struct msgzip_in *s = inflater(wbits);
    const size_t mem = msgzip_in_memory(s);
    for (int m = 0; m < 2; m++) {
        out_sz.total = ref ? ref[m].n : 0;
        inflate_one(s, data, n, limit, &in_sz, &out_sz, &res[m]);
        if (msgzip_in_memory(s) != mem) abort();
        /* Errors are sticky. */
        if (res[m].st > MSGZIP_END) {
            uint8_t b;
            size_t used, made;
            if (msgzip_inflate(s, data, n, true, &b, 1, limit, &used, &made) != res[m].st || used ||
                made)
                abort();
        }
        msgzip_in_next(s, keep);
    }
}

/* Run b against the reference a (same messages, a 15-bit inflater, in one
 * piece). With a 15-bit window, chunking cannot matter: b is a. With a
 * smaller one, zlib rejects a distance beyond the window only when the
 * bytes it refers to are not in the output buffer of the same call, so b
 * may instead fail earlier: BAD, with a prefix of a's bytes. */
static bool consistent(const struct outcome *a, const struct outcome *b, bool exact)
{
    if (a->st == b->st && a->n == b->n && a->crc == b->crc) return true;
    if (exact || b->st != MSGZIP_BAD || b->n > a->n) return false;
    return crc32_z(crc32_z(0, Z_NULL, 0), a->kept->p, (size_t)b->n) == b->crc;
}

static void compare(const struct outcome ref[2], const struct outcome run[2], bool exact)
{
    if (!consistent(&ref[0], &run[0], exact)) abort();
    /* After a first message that ended differently the streams differ. */
    const bool first_same = ref[0].st == run[0].st && ref[0].n == run[0].n;
    if (first_same && !consistent(&ref[1], &run[1], exact)) abort();
}

static void round_trip(const uint8_t *data, size_t n, uint8_t cfg, uint8_t seed)
{
    const int level = seed % 10;
    const int wbits = 9 + ((cfg >> 6) | ((seed >> 4) & 4)) % 7;
    const int memlevel = 1 + seed % 9;
    const bool takeover = seed & 0x80;
    struct msgzip_out *o = deflater_for(level, wbits, memlevel);
    const size_t mem = msgzip_out_memory(o);
    struct msgzip_in *s = inflater(wbits);
    struct sizer frag = {.state = 0x9E3779B97F4A7C15ull ^ seed, .max = n / 3 + 1};
    static struct exact piece;
    static struct bytes wire, back; /* kept from one input to the next */
    for (int m = 0; m < 3; m++) {
        /* Message 0 whole; messages 1 and 2 in fragments, on the same streams. */
        wire.n = back.n = 0;
        size_t off = 0;
        do {
            size_t len = m == 0 ? n : next_size(&frag);
            if (len > n - off) len = n - off;
            const bool last = off + len == n;
            const size_t cap = msgzip_bound(o, len);
            uint8_t *buf = exact_use(&piece, cap);
            /* The first piece starts a fresh stream whatever the mode. */
            const bool reset = !takeover || (m == 0 && off == 0);
            size_t c = msgzip_deflate(o, data + off, len, last, reset, buf, cap);
            if (c == (size_t)-1 || c > cap) abort();
            if (len == 0 && c != (last ? 1 : 0)) abort();
            put(&wire, buf, c);
            off += len;
        } while (off < n);
        if (msgzip_out_memory(o) != mem) abort();

        uint8_t obuf[4096];
        size_t used, made, pos = 0;
        enum msgzip_status st;
        do {
            st = msgzip_inflate(s, wire.p + pos, wire.n - pos, true, obuf, sizeof obuf, 0, &used,
                                &made);
            put(&back, obuf, made);
            pos += used;
        } while (st == MSGZIP_MORE);
        if (st != MSGZIP_END || back.n != n || (n && memcmp(back.p, data, n) != 0)) abort();
        msgzip_in_next(s, takeover);
    }
}

static const uint64_t limits[4] = {0, 1, 1000, 65536};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!out_area && !(out_area = malloc(OUT_MAX))) abort();
    const uint8_t cfg = data[0], seed = data[1];
    const size_t n = size - 2;
    /* An exact-size copy: ASan sees any read past the end. */
    static struct exact msg_buf;
    const uint8_t *msg = exact_copy(&msg_buf, data + 2, n);

    const int wbits = 8 + (cfg & 7);
    const uint64_t limit = limits[(cfg >> 3) & 3];
    const bool keep = cfg & 0x20;
    const uint64_t st = 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32 | cfg);
    static struct bytes kept[2]; /* kept from one input to the next */
    kept[0].n = kept[1].n = 0;
    struct outcome ref[2] = {{.kept = &kept[0]}, {.kept = &kept[1]}};
    struct outcome whole[2] = {{0}}, bytes[2] = {{0}}, chosen[2] = {{0}};
    const struct sizer all = {.fixed = SIZE_MAX}, out64k = {.fixed = 65536};
    inflate_run(15, keep, msg, n, limit, all, out64k, NULL, ref);
    inflate_run(wbits, keep, msg, n, limit, all, out64k, NULL, whole);
    /* A byte at a time all through would take too long for more than a few
     * kilobytes (a small input can inflate to megabytes): see above. */
    inflate_run(wbits, keep, msg, n, limit, (struct sizer){.fixed = 4096, .ends = 64},
                (struct sizer){.fixed = 4096, .ends = 300}, ref, bytes);
    /* At most about 2048 output buffers a run (at least 1 byte, at most 4 KiB). */
    const uint64_t total = ref[0].n + ref[1].n;
    const size_t min_out = total < (2 << 10) ? 1 : total > (8u << 20) ? 4096 : total >> 11;
    inflate_run(wbits, keep, msg, n, limit,
                (struct sizer){.state = st, .max = (size_t)1 << (seed & 15)},
                (struct sizer){.state = ~st, .max = (size_t)1 << (seed >> 4), .min = min_out}, NULL,
                chosen);
    const bool exact = wbits == 15;
    compare(ref, whole, exact);
    compare(ref, bytes, exact);
    compare(ref, chosen, exact);

    round_trip(msg, n, cfg, seed);
    return 0;
}
