/* libFuzzer target for the fallback's message records (fbmsgs.c).
 *
 * Input layout: byte 0 picks the maximum message size (bits 0-1: 0, that is
 * unlimited, 1, 100 or 1000) and the chunk sizes of the third run (bits 2-3:
 * 1..3, 1..16, 1..256, any); byte 1 seeds the chunking; the rest is a
 * POST body.
 *
 * The body is parsed three times: in one piece, one byte at a time, and in
 * the chunks byte 1 chooses. Every call is checked against the contract:
 * consumed <= given; a call that finds nothing consumed everything; a data
 * chunk lies inside the given bytes and ends where parsing stopped; offsets
 * run on within a record and restart at 0; `first` only on a message's first
 * chunk, `last` only on a record's end, every chunk of a message of one
 * type; no message over the maximum; a text message is valid UTF-8 when
 * complete; a close has a code that may be sent and a reason of at most 123
 * bytes of UTF-8, and nothing but an error follows it; errors are sticky.
 * The three runs must give the same records (sequence number, type, message
 * start and end, bytes), closes and error. Only a record cut short by an
 * error may differ: a coarser split withholds the chunk that holds the bad
 * bytes, so its bytes must be a prefix of the byte-at-a-time run's. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/fbmsgs.h"
#include "proto/utf8.h"
#include "proto/ws.h"

#include "fuzz_bytes.h"
#include "fuzz_exact.h"

/* What one run saw, in a form that does not depend on the chunking. */
struct run_log {
    struct bytes events;  /* records, closes, the error */
    struct bytes record;  /* the bytes of the record being given */
    struct bytes message; /* a text message so far, to check its UTF-8 when complete */
    bool boundary;
    bool failed;
};

static void log_u64(struct bytes *b, uint64_t v)
{
    put(b, &v, sizeof v);
}

static void run(const uint8_t *body, size_t n, uint64_t max, size_t fixed, uint64_t seed,
                size_t spread, struct run_log *log)
{
    static struct exact piece;
    struct fbm_parser p;
    fbm_parser_init(&p, max);
    log->events.n = log->record.n = log->message.n = 0;
    size_t at = 0;
    bool in_message = false, in_record = false, closed = false, failed = false;
    uint8_t msg_type = 0;
    uint64_t msg_len = 0, record_seq = 0, next_offset = 0;
    bool record_starts_message = false;
    for (;;) {
        size_t give = fixed;
        if (!give) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            give = spread ? 1 + (size_t)(seed % spread) : n - at;
        }
        if (give > n - at) give = n - at;
        /* An exact copy: ASan sees any read past the piece. */
        uint8_t *buf = exact_use(&piece, give);
        if (give) memcpy(buf, body + at, give);
        struct fbm_event ev;
        size_t used = fbm_parser_feed(&p, buf, give, &ev);
        if (used > give) abort();
        if (failed && (ev.kind != FBM_ERROR || used)) abort(); /* sticky */
        switch (ev.kind) {
        case FBM_NONE:
            if (used != give) abort();
            break;
        case FBM_DATA:
            if (closed || !used) abort();
            if (ev.len && (ev.data < buf || ev.data + ev.len != buf + used)) abort();
            if (ev.type != FBM_TEXT && ev.type != FBM_BINARY) abort();
            if (ev.first == in_message) abort(); /* first exactly when no message is open */
            if (in_message && ev.type != msg_type) abort();
            if (in_record ? ev.seq != record_seq || ev.offset != next_offset : ev.offset != 0)
                abort();
            if (ev.last && !ev.record_end) abort();
            if (!in_message) {
                msg_len = 0;
                log->message.n = 0;
            }
            in_message = !ev.last;
            msg_type = ev.type;
            msg_len += ev.len;
            if (max && msg_len > max) abort();
            if (ev.type == FBM_TEXT) put(&log->message, ev.data, ev.len);
            if (ev.last && ev.type == FBM_TEXT &&
                utf8_validate(UTF8_ACCEPT, log->message.p, log->message.n) != UTF8_ACCEPT)
                abort();
            if (!in_record) record_starts_message = ev.first;
            put(&log->record, ev.data, ev.len);
            in_record = !ev.record_end;
            record_seq = ev.seq;
            next_offset = ev.offset + ev.len;
            if (ev.record_end) {
                put(&log->events, "D", 1);
                log_u64(&log->events, ev.seq);
                const uint8_t flags =
                    (uint8_t)(ev.type | record_starts_message << 4 | ev.last << 5);
                put(&log->events, &flags, 1);
                log_u64(&log->events, log->record.n);
                put(&log->events, log->record.p, log->record.n);
                log->record.n = 0;
            }
            break;
        case FBM_CLOSE:
            if (closed || in_record || !used) abort();
            if (ev.code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(ev.code)) abort();
            if (ev.len > 123 || utf8_validate(UTF8_ACCEPT, ev.data, ev.len) != UTF8_ACCEPT) abort();
            if (ev.code == WS_CLOSE_NO_STATUS && ev.len) abort();
            closed = true;
            in_message = false;
            put(&log->events, "C", 1);
            log_u64(&log->events, ev.seq);
            log_u64(&log->events, ev.code);
            put(&log->events, ev.data, ev.len);
            break;
        case FBM_ERROR:
            if (ev.error < FBM_ERR_SYNTAX || ev.error > FBM_ERR_UTF8 || !ev.why) abort();
            if (!failed) {
                put(&log->events, "E", 1);
                put(&log->events, &ev.error, sizeof ev.error);
                put(&log->events, ev.why, strlen(ev.why));
            }
            failed = true;
            break;
        }
        at += used;
        if (failed || (at == n && ev.kind == FBM_NONE)) break;
    }
    exact_hide(&piece);
    log->failed = failed;
    log->boundary = fbm_parser_at_boundary(&p);
    if (log->boundary && (failed || in_record)) abort();
    /* Once failed, the parser stays so. */
    if (failed) {
        struct fbm_event ev;
        if (fbm_parser_feed(&p, (const uint8_t *)"1 b 0\n\n", 7, &ev) != 0 || ev.kind != FBM_ERROR)
            abort();
    }
}

static bool same_bytes(const struct bytes *a, const struct bytes *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

/* fine: byte at a time; b: a coarser run. The records and errors must be
 * the same; an open record's bytes may stop short only before an error. */
static void compare(const struct run_log *fine, const struct run_log *b)
{
    if (!same_bytes(&fine->events, &b->events) || fine->boundary != b->boundary) abort();
    if (b->record.n > fine->record.n ||
        (b->record.n && memcmp(fine->record.p, b->record.p, b->record.n) != 0))
        abort();
    if (!fine->failed && b->record.n != fine->record.n) abort();
}

static const uint64_t maxima[4] = {0, 1, 100, 1000};
static const size_t spreads[4] = {3, 16, 256, 0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const uint64_t max = maxima[data[0] & 3];
    const size_t spread = spreads[(data[0] >> 2) & 3];
    const uint64_t seed = 0x9E3779B97F4A7C15ull ^ data[1];
    static struct run_log whole, bytes, chosen;
    run(data + 2, size - 2, max, 0, seed, 0, &whole);
    run(data + 2, size - 2, max, 1, seed, 0, &bytes);
    run(data + 2, size - 2, max, 0, seed, spread ? spread : size, &chosen);
    compare(&bytes, &whole);
    compare(&bytes, &chosen);
    return 0;
}
