/* libFuzzer target for the RFC 6455 frame parser (ws.c).
 *
 * Input layout: byte 0 picks the settings, byte 1 seeds the chunking, the
 * rest is the byte stream a peer sent.
 *   byte 0 bits 0-1: max_message 0 (unlimited), 1, 125 or 70000
 *   byte 0 bit 2:    client mode (frames must not be masked); else server mode
 *   byte 0 bits 3-4: chunk sizes for the third run: 1..7, 1..64, 1..1024, any
 *   byte 0 bit 5:    permessage-deflate agreed (RSV1 allowed on a message's first frame)
 *
 * The stream is parsed three times: in one piece, one byte at a time, and in
 * the chunks byte 1 chooses. Every call is checked against the API contract
 * (consumed <= given, data chunks inside the given buffer and ending where
 * parsing stopped, control payloads inside the parser, progress, sticky
 * errors), and the three runs must report the same events: complete messages
 * (opcode and concatenated payload), control frames and the error. Only the
 * bytes of a message cut short by an error may differ: a coarser split can
 * withhold the chunk that holds an invalid UTF-8 sequence, so its bytes must
 * be a prefix of the byte-at-a-time run's.
 *
 * Then the builders: a frame made with ws_frame_header and ws_mask_bytes from
 * the stream as payload, a bare header for a 63-bit length taken from the
 * stream, and a close frame made with ws_close_payload must parse back to
 * what went in. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/utf8.h"
#include "proto/ws.h"

#include "fuzz_bytes.h"
#include "fuzz_exact.h"

/* What one run saw, in a form that does not depend on the chunking. */
struct run_log {
    uint64_t max_message; /* the setting the run used */
    struct bytes events;  /* serialized complete messages, control frames, the error */
    struct bytes pending; /* payload of the message still open at the end */
    bool in_message;
    uint8_t msg_opcode;
    bool msg_compressed;
    bool failed;
    uint16_t error_code;
    const char *error;
};

static void put_record(struct run_log *log, uint8_t tag, uint16_t code, const uint8_t *p, size_t n)
{
    uint8_t head[11] = {tag, (uint8_t)(code >> 8), (uint8_t)code};
    uint64_t len = n;
    memcpy(head + 3, &len, 8);
    put(&log->events, head, sizeof head);
    put(&log->events, p, n);
}

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_CHOSEN };

struct chunker {
    enum split mode;
    uint64_t state;
    size_t max;
};

static size_t next_chunk(struct chunker *c, size_t left)
{
    if (c->mode == SPLIT_WHOLE) return left;
    if (c->mode == SPLIT_BYTES) return 1;
    c->state ^= c->state << 13;
    c->state ^= c->state >> 7;
    c->state ^= c->state << 17;
    size_t n = 1 + (size_t)(c->state % c->max);
    return n < left ? n : left;
}

/* Check one event against the contract and record it. Returns false once the
 * parser reported an error. */
static bool take_event(struct run_log *log, const struct ws_parser *p, const struct ws_event *ev,
                       const uint8_t *given_buf, size_t given, size_t used, size_t *data_total,
                       size_t stream_len)
{
    if (used > given) abort();
    switch (ev->kind) {
    case WS_EV_NONE:
        if (used != given) abort(); /* "all input consumed" */
        return true;
    case WS_EV_ERROR:
        if (!ev->error || !p->failed || ev->close_code < 1000) abort();
        log->failed = true;
        log->error_code = ev->close_code;
        log->error = ev->error;
        put_record(log, 'E', ev->close_code, (const uint8_t *)ev->error, strlen(ev->error));
        return false;
    default: break;
    }
    /* Any other event must have consumed something, or the caller's loop
     * (conn.c process_input) would spin. */
    if (given && used == 0) abort();
    if (ev->kind == WS_EV_DATA) {
        if (ev->opcode != WS_OP_TEXT && ev->opcode != WS_OP_BINARY) abort();
        if (ev->len) {
            /* Inside what was given, and ending where parsing stopped:
             * conn.c computes the unconsumed rest from that. */
            if (ev->data < given_buf || ev->data + ev->len != given_buf + used) abort();
        }
        *data_total += ev->len;
        if (*data_total > stream_len) abort();
        if (ev->first == log->in_message) abort(); /* first exactly on a message's first chunk */
        if (!ev->first && ev->opcode != log->msg_opcode) abort();
        if (!ev->first && ev->compressed != log->msg_compressed) abort();
        if (ev->compressed && !(p->rsv_allowed & WS_RSV1)) abort();
        log->in_message = true;
        log->msg_opcode = ev->opcode;
        log->msg_compressed = ev->compressed;
        put(&log->pending, ev->data, ev->len);
        /* Compressed bytes may pass the limit by deflate's slack; the inflated
         * size is checked later (conn.c). */
        uint64_t max = log->max_message;
        if (max && ev->compressed) max += (max >> 8) + 1024;
        if (max && log->pending.n > max) abort();
        if (ev->last) {
            /* A delivered text message is valid UTF-8 as a whole, unless it is
             * still compressed. */
            if (log->msg_opcode == WS_OP_TEXT && !ev->compressed &&
                utf8_validate(UTF8_ACCEPT, log->pending.p, log->pending.n) != UTF8_ACCEPT)
                abort();
            put_record(log, 'M', ev->opcode | (ev->compressed ? WS_RSV1 : 0), log->pending.p,
                       log->pending.n);
            log->pending.n = 0;
            log->in_message = false;
        }
        return true;
    }
    /* Control frames: the payload lives in the parser, at most 125 bytes. */
    if (ev->len > WS_MAX_CONTROL) abort();
    if (ev->len && ((const uint8_t *)ev->data < p->ctrl ||
                    (const uint8_t *)ev->data + ev->len > p->ctrl + sizeof p->ctrl))
        abort();
    switch (ev->kind) {
    case WS_EV_PING: put_record(log, 'I', 0, ev->data, ev->len); break;
    case WS_EV_PONG: put_record(log, 'O', 0, ev->data, ev->len); break;
    case WS_EV_CLOSE:
        if (ev->close_code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(ev->close_code)) abort();
        if (ev->close_code == WS_CLOSE_NO_STATUS && ev->len) abort();
        if (utf8_validate(UTF8_ACCEPT, ev->data, ev->len) != UTF8_ACCEPT) abort();
        put_record(log, 'C', ev->close_code, ev->data, ev->len);
        break;
    default: abort(); /* an unknown event kind */
    }
    return true;
}

static struct exact copy;

static void run(struct run_log *log, const uint8_t *stream, size_t n, bool server,
                uint64_t max_message, bool deflate, struct chunker *ch)
{
    /* A writable copy of exactly n bytes: payloads are unmasked in place, and
     * ASan catches any access past the end. */
    uint8_t *buf = exact_copy(&copy, stream, n);
    struct ws_parser p;
    ws_parser_init(&p, server, max_message);
    if (deflate) p.rsv_allowed = WS_RSV1;
    struct ws_event ev;
    size_t off = 0, data_total = 0;
    bool alive = true;
    while (alive && off < n) {
        size_t end = off + next_chunk(ch, n - off);
        while (alive && off < end) {
            size_t used = ws_parser_feed(&p, buf + off, end - off, &ev);
            alive = take_event(log, &p, &ev, buf + off, end - off, used, &data_total, n);
            off += used;
        }
    }
    if (alive) {
        /* Nothing left to feed: no event, nothing consumed. */
        if (ws_parser_feed(&p, buf + n, 0, &ev) != 0 || ev.kind != WS_EV_NONE) abort();
    } else {
        /* The error is sticky: whatever follows, nothing is consumed. */
        size_t used = ws_parser_feed(&p, buf + off, n - off, &ev);
        if (used != 0 || ev.kind != WS_EV_ERROR || ev.close_code != log->error_code ||
            ev.error != log->error)
            abort();
        if (ws_parser_feed(&p, buf, 0, &ev) != 0 || ev.kind != WS_EV_ERROR) abort();
    }
}

/* The logs' buffers are kept from one input to the next (emptied). */
static void log_reset(struct run_log *log, uint64_t max_message)
{
    struct bytes events = log->events, pending = log->pending;
    memset(log, 0, sizeof *log);
    log->max_message = max_message;
    log->events = events;
    log->pending = pending;
    log->events.n = log->pending.n = 0;
}

/* Whether a is a prefix of b. */
static bool is_prefix(const struct bytes *a, const struct bytes *b)
{
    return a->n <= b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

/* Runs a and b (b byte-at-a-time) saw the same thing. */
static void compare(const struct run_log *a, const struct run_log *b)
{
    if (a->events.n != b->events.n || !is_prefix(&a->events, &b->events)) abort();
    if (a->failed != b->failed) abort();
    if (!is_prefix(&a->pending, &b->pending)) abort();
    if (!(a->failed && a->error_code == WS_CLOSE_INVALID_DATA) && a->pending.n != b->pending.n)
        abort();
}

/* Feed a frame in one piece and return the event it gives. */
static size_t parse_one(uint8_t *frame, size_t n, bool server, struct ws_parser *p,
                        struct ws_event *ev)
{
    ws_parser_init(p, server, 0);
    return ws_parser_feed(p, frame, n, ev);
}

/* Build a frame from the stream (as payload) and parse it back. */
static void round_trip(const uint8_t *payload, size_t n, uint8_t cfg, uint8_t seed)
{
    const bool server = !(cfg & 4); /* the parser's side; the builder is the peer */
    const uint8_t mask[4] = {seed, (uint8_t)(seed * 7 + 1), (uint8_t)~seed, cfg};
    const bool text = utf8_validate(UTF8_ACCEPT, payload, n) == UTF8_ACCEPT && (seed & 1);
    static struct exact frame_buf;
    uint8_t *frame = exact_use(&frame_buf, WS_MAX_HEADER + n);
    size_t h = ws_frame_header(frame, WS_FIN | (text ? WS_OP_TEXT : WS_OP_BINARY), n,
                               server ? mask : NULL);
    if (h != 2 + (n < 126 ? 0 : n <= 0xFFFF ? 2 : 8) + (server ? 4 : 0)) abort();
    if (n) memcpy(frame + h, payload, n);
    /* Mask in two uneven pieces to exercise the start position. */
    if (server) {
        size_t cut = n ? seed % (n + 1) : 0;
        ws_mask_bytes(frame + h, cut, mask, 0);
        ws_mask_bytes(frame + h + cut, n - cut, mask, cut & 3);
    }
    struct ws_parser p;
    struct ws_event ev;
    size_t used;

    /* Any length (up to 2^63 - 1) from the stream: its header alone parses
     * back, leaving the parser waiting for that many payload bytes. */
    uint8_t hdr[WS_MAX_HEADER];
    uint64_t big = 0;
    for (size_t k = 0; k < 8 && k < n; k++) big = big << 8 | payload[k];
    big >>= seed & 63;
    big &= ~(1ull << 63);
    size_t hn = ws_frame_header(hdr, WS_OP_BINARY, big, server ? mask : NULL);
    used = parse_one(hdr, hn, server, &p, &ev);
    if (used != hn || ev.kind != (big ? WS_EV_NONE : WS_EV_DATA) || (big && p.remaining != big))
        abort();

    frame = exact_use(&frame_buf, h + n); /* the frame exactly */
    used = parse_one(frame, h + n, server, &p, &ev);
    if (used != h + n || ev.kind != WS_EV_DATA || !ev.first || !ev.last || ev.len != n ||
        ev.opcode != (text ? WS_OP_TEXT : WS_OP_BINARY) || (n && memcmp(ev.data, payload, n) != 0))
        abort();

    /* A close frame with a code and the stream's first bytes as its reason. */
    char reason[256];
    size_t rn = n < sizeof reason - 1 ? n : sizeof reason - 1;
    if (rn) memcpy(reason, payload, rn);
    reason[rn] = '\0';
    rn = strlen(reason);
    uint16_t code = (uint16_t)(n > 1 ? payload[0] << 8 | payload[1] : 1000);
    uint8_t cframe[WS_MAX_HEADER + WS_MAX_CONTROL];
    uint8_t cp[WS_MAX_CONTROL];
    size_t cn = ws_close_payload(cp, code, reason);
    if (cn < 2 || cn > WS_MAX_CONTROL || cn - 2 > rn || memcmp(cp + 2, reason, cn - 2) != 0)
        abort();
    if (cp[0] != (uint8_t)(code >> 8) || cp[1] != (uint8_t)code) abort();
    const bool reason_valid =
        utf8_validate(UTF8_ACCEPT, (const uint8_t *)reason, rn) == UTF8_ACCEPT;
    const bool cut_valid = utf8_validate(UTF8_ACCEPT, cp + 2, cn - 2) == UTF8_ACCEPT;
    if (reason_valid && !cut_valid) abort(); /* truncation must not split a character */
    if (rn <= WS_MAX_CLOSE_REASON && cn - 2 != rn) abort();
    h = ws_frame_header(cframe, WS_FIN | WS_OP_CLOSE, cn, server ? mask : NULL);
    memcpy(cframe + h, cp, cn);
    if (server) ws_mask_bytes(cframe + h, cn, mask, 0);
    used = parse_one(cframe, h + cn, server, &p, &ev);
    if (used != h + cn) abort();
    if (ws_close_code_valid(code) && cut_valid) {
        if (ev.kind != WS_EV_CLOSE || ev.close_code != code || ev.len != cn - 2 ||
            memcmp(ev.data, cp + 2, cn - 2) != 0)
            abort();
    } else if (ev.kind != WS_EV_ERROR) {
        abort();
    }
}

static const uint64_t max_messages[4] = {0, 1, 125, 70000};
static const size_t chunk_max[4] = {7, 64, 1024, SIZE_MAX - 1};

volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const uint8_t cfg = data[0], seed = data[1];
    const uint8_t *stream = data + 2;
    const size_t n = size - 2;
    const bool server = !(cfg & 4);
    const uint64_t max_message = max_messages[cfg & 3];
    const bool deflate = cfg & 32;

    static struct run_log whole, bytes, chosen;
    log_reset(&whole, max_message);
    log_reset(&bytes, max_message);
    log_reset(&chosen, max_message);
    struct chunker c_whole = {SPLIT_WHOLE, 0, 0}, c_bytes = {SPLIT_BYTES, 0, 0};
    struct chunker c_chosen = {SPLIT_CHOSEN, 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32 | cfg),
                               chunk_max[(cfg >> 3) & 3]};
    run(&whole, stream, n, server, max_message, deflate, &c_whole);
    run(&bytes, stream, n, server, max_message, deflate, &c_bytes);
    run(&chosen, stream, n, server, max_message, deflate, &c_chosen);
    compare(&whole, &bytes);
    compare(&chosen, &bytes);
    sink = whole.events.n + bytes.events.n + chosen.events.n;

    round_trip(stream, n, cfg, seed);
    return 0;
}
