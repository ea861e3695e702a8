#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "../tap.h"
#include "proto/utf8.h"
#include "proto/ws.h"

/* ---- byte strings ------------------------------------------------------ */

static void put(struct buf *b, const void *p, size_t n)
{
    if (n && buf_append(b, p, n) < 0) abort();
}

static void put_u8(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_be(struct buf *b, uint64_t v, int bytes)
{
    for (int k = bytes - 1; k >= 0; k--) put_u8(b, (uint8_t)(v >> (8 * k)));
}

static bool same(const struct buf *a, const struct buf *b)
{
    return buf_len(a) == buf_len(b) &&
           (buf_len(a) == 0 || memcmp(buf_head(a), buf_head(b), buf_len(a)) == 0);
}

/* ---- client frames, encoded independently of ws_frame_header ------------ */

enum lenform { LEN_MIN, LEN_16, LEN_64 };

/* Mask keys cycle through edge values, then pseudo-random ones. */
static uint32_t key_counter;
static void next_key(uint8_t key[4])
{
    static const uint8_t fixed[][4] = {
        {0x00, 0x00, 0x00, 0x00}, {0xFF, 0xFF, 0xFF, 0xFF}, {0x12, 0x34, 0x56, 0x78},
        {0x80, 0x01, 0xFE, 0x7F}, {0x37, 0xFA, 0x21, 0x3D},
    };
    uint32_t k = key_counter++;
    if (k < sizeof fixed / sizeof fixed[0]) {
        memcpy(key, fixed[k], 4);
        return;
    }
    uint32_t x = k * 2654435761u ^ 0x9E3779B9u;
    for (int i = 0; i < 4; i++) key[i] = (uint8_t)(x >> (8 * i) ^ x >> 13);
}

static void header(struct buf *w, uint8_t b0, uint64_t len, enum lenform form, const uint8_t *key)
{
    uint8_t mbit = key ? 0x80 : 0;
    put_u8(w, b0);
    if (form == LEN_MIN && len < 126) {
        put_u8(w, (uint8_t)(mbit | len));
    } else if (form == LEN_16 || (form == LEN_MIN && len <= 0xFFFF)) {
        put_u8(w, mbit | 126);
        put_be(w, len, 2);
    } else {
        put_u8(w, mbit | 127);
        put_be(w, len, 8);
    }
    if (key) put(w, key, 4);
}

static void masked_payload(struct buf *w, const void *payload, size_t n, const uint8_t *key)
{
    const uint8_t *p = payload;
    for (size_t i = 0; i < n; i++) put_u8(w, key ? (uint8_t)(p[i] ^ key[i % 4]) : p[i]);
}

/* A complete masked client frame. */
static void frame_n(struct buf *w, uint8_t b0, const void *payload, size_t n)
{
    uint8_t key[4];
    next_key(key);
    header(w, b0, n, LEN_MIN, key);
    masked_payload(w, payload, n, key);
}

static void frame(struct buf *w, uint8_t b0, const char *s)
{
    frame_n(w, b0, s, strlen(s));
}

/* An unmasked frame, as a server sends it. */
static void server_frame(struct buf *w, uint8_t b0, const char *s)
{
    header(w, b0, strlen(s), LEN_MIN, NULL);
    masked_payload(w, s, strlen(s), NULL);
}

static void close_frame(struct buf *w, unsigned code, const char *reason, size_t rlen)
{
    uint8_t p[WS_MAX_CONTROL];
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    memcpy(p + 2, reason, rlen);
    frame_n(w, WS_FIN | WS_OP_CLOSE, p, 2 + rlen);
}

/* ---- the event log: what the parser reported, message by message -------- */

static void exp_msg(struct buf *e, uint8_t op, const void *p, size_t n)
{
    put_u8(e, 'M');
    put_u8(e, op);
    put_be(e, n, 8);
    put(e, p, n);
}

static void exp_ctl(struct buf *e, char kind, const void *p, size_t n)
{
    put_u8(e, (uint8_t)kind);
    put_be(e, n, 8);
    put(e, p, n);
}

static void exp_close(struct buf *e, unsigned code, const char *reason, size_t n)
{
    put_u8(e, 'C');
    put_be(e, code, 2);
    exp_ctl(e, ':', reason, n);
}

static void exp_err(struct buf *e, unsigned code)
{
    put_u8(e, 'E');
    put_be(e, code, 2);
}

struct collector {
    struct ws_parser p;
    struct buf log;
    struct buf msg; /* the message being reassembled */
    bool in_msg;
    bool compressed; /* the message being collected had RSV1 */
    uint8_t op;
    bool failed;
    size_t error_at; /* stream offset just after the byte that triggered the error */
};

static void violation(struct collector *c, const char *what)
{
    put_u8(&c->log, 'X');
    put(&c->log, what, strlen(what));
    c->failed = true;
}

/* Checks the flags of a data chunk and reassembles the message. */
static void on_data(struct collector *c, const struct ws_event *ev)
{
    if (ev->first == c->in_msg) {
        violation(c, "first flag wrong");
        return;
    }
    if (ev->first && ev->opcode != WS_OP_TEXT && ev->opcode != WS_OP_BINARY) {
        violation(c, "bad data opcode");
        return;
    }
    if (!ev->first && ev->opcode != c->op) {
        violation(c, "opcode changed inside a message");
        return;
    }
    if (ev->len && !ev->data) {
        violation(c, "NULL data");
        return;
    }
    if (!ev->first && ev->compressed != c->compressed) {
        violation(c, "compressed flag changed inside a message");
        return;
    }
    c->op = ev->opcode;
    c->compressed = ev->compressed;
    put(&c->msg, ev->data, ev->len);
    c->in_msg = !ev->last;
    if (ev->last) {
        /* A compressed message is logged with RSV1 in its opcode. */
        exp_msg(&c->log, c->op | (c->compressed ? WS_RSV1 : 0), buf_head(&c->msg),
                buf_len(&c->msg));
        buf_free(&c->msg);
    }
}

static void on_event(struct collector *c, const struct ws_event *ev, size_t at)
{
    switch (ev->kind) {
    case WS_EV_DATA: on_data(c, ev); break;
    case WS_EV_PING:
    case WS_EV_PONG: exp_ctl(&c->log, ev->kind == WS_EV_PING ? 'P' : 'O', ev->data, ev->len); break;
    case WS_EV_CLOSE: exp_close(&c->log, ev->close_code, (const char *)ev->data, ev->len); break;
    case WS_EV_ERROR: {
        exp_err(&c->log, ev->close_code);
        c->failed = true;
        c->error_at = at;
        if (!ev->error || !*ev->error) violation(c, "error without a reason");
        /* Sticky: whatever comes next is refused without being consumed. */
        uint8_t more[3] = {0x81, 0x80, 0};
        struct ws_event again;
        size_t r = ws_parser_feed(&c->p, more, sizeof more, &again);
        if (r != 0 || again.kind != WS_EV_ERROR || again.close_code != ev->close_code)
            violation(c, "parser did not stay failed");
        break;
    }
    case WS_EV_NONE: violation(c, "NONE reported as an event"); break;
    }
}

/* Feed data[start, end) until it is consumed or the parser fails. */
static void feed_range(struct collector *c, uint8_t *data, size_t start, size_t end)
{
    size_t a = start;
    while (a < end && !c->failed) {
        struct ws_event ev;
        size_t r = ws_parser_feed(&c->p, data + a, end - a, &ev);
        if (r > end - a) {
            violation(c, "consumed more than given");
            return;
        }
        a += r;
        if (ev.kind == WS_EV_NONE) {
            if (a != end) violation(c, "NONE before the input was consumed");
            return;
        }
        on_event(c, &ev, a);
    }
}

struct settings {
    bool server;
    uint64_t max;
    uint8_t rsv;
};

static const struct settings SERVER = {true, 0, 0};

enum mode { WHOLE, BYTES, SPLIT, RANDOM };

static void collector_init(struct collector *c, const struct settings *s)
{
    memset(c, 0, sizeof *c);
    ws_parser_init(&c->p, s->server, s->max);
    c->p.rsv_allowed = s->rsv;
}

static void collector_free(struct collector *c)
{
    buf_free(&c->log);
    buf_free(&c->msg);
}

/* Run the wire through a fresh parser with a chunking schedule; the wire is
 * copied because the parser unmasks in place. */
static void run(struct collector *c, const struct settings *s, const struct buf *wire,
                enum mode mode, size_t arg)
{
    size_t n = buf_len(wire);
    uint8_t *data = malloc(n ? n : 1);
    memcpy(data, buf_head(wire), n);
    collector_init(c, s);
    uint32_t seed = (uint32_t)arg * 7919u + 1;
    size_t pos = 0;
    while (pos < n && !c->failed) {
        size_t len;
        switch (mode) {
        case WHOLE: len = n; break;
        case BYTES: len = 1; break;
        case SPLIT: len = pos < arg ? arg - pos : n - pos; break;
        default:
            seed = seed * 1103515245u + 12345u;
            len = 1 + (seed >> 16) % 300;
            break;
        }
        if (len > n - pos) len = n - pos;
        feed_range(c, data, pos, pos + len);
        pos += len;
    }
    free(data);
}

/* Check one script in every schedule; returns the first failing schedule or NULL. */
static const char *try_all(const struct settings *s, const struct buf *wire,
                           const struct buf *expect)
{
    static char why[64];
    struct collector c;
    size_t n = buf_len(wire);
    run(&c, s, wire, BYTES, 0);
    bool good = same(&c.log, expect);
    collector_free(&c);
    if (!good) return "1 byte at a time";
    for (size_t k = 1; k < n; k++) {
        /* Long wires: every split near the ends, a sample in the middle. */
        if (n > 600 && k > 300 && k < n - 300 && k % 997 != 0) continue;
        run(&c, s, wire, SPLIT, k);
        good = same(&c.log, expect);
        collector_free(&c);
        if (!good) {
            snprintf(why, sizeof why, "split at %zu", k);
            return why;
        }
    }
    for (size_t seed = 0; seed < 8; seed++) {
        run(&c, s, wire, RANDOM, seed);
        good = same(&c.log, expect);
        collector_free(&c);
        if (!good) return "random chunks";
    }
    return NULL;
}

/* Two test points: the whole wire at once, then all the other schedules. */
static void check_script(const char *name, const struct settings *s, struct buf *wire,
                         struct buf *expect)
{
    struct collector c;
    run(&c, s, wire, WHOLE, 0);
    ok(same(&c.log, expect), "%s: events as expected, fed whole", name);
    collector_free(&c);
    const char *bad = try_all(s, wire, expect);
    ok(bad == NULL, "%s: same events 1 byte at a time, split at every position, random chunks%s%s",
       name, bad ? " - failed: " : "", bad ? bad : "");
    buf_free(wire);
    buf_free(expect);
}

/* ---- payload generators -------------------------------------------------- */

/* Valid UTF-8 of exactly n bytes with 1- to 4-byte characters. */
static uint8_t *text_payload(size_t n)
{
    static const char *const chars[] = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", " "};
    uint8_t *p = malloc(n ? n : 1);
    size_t i = 0, k = 0;
    while (i < n) {
        const char *ch = chars[k++ % 5];
        size_t l = strlen(ch);
        if (l > n - i) ch = "z", l = 1;
        memcpy(p + i, ch, l);
        i += l;
    }
    return p;
}

static uint8_t *binary_payload(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + 3 + (i >> 8));
    return p;
}

/* ---- valid traffic --------------------------------------------------------- */

static void test_lengths(void)
{
    static const size_t lengths[] = {0, 1, 125, 126, 65535, 65536};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (int text = 1; text >= 0; text--) {
            size_t n = lengths[i];
            uint8_t *p = text ? text_payload(n) : binary_payload(n);
            uint8_t op = text ? WS_OP_TEXT : WS_OP_BINARY;
            struct buf w = {0}, e = {0};
            frame_n(&w, WS_FIN | op, p, n);
            exp_msg(&e, op, p, n);
            size_t want_hdr = 2 + 4 + (n < 126 ? 0 : n <= 0xFFFF ? 2 : 8);
            char name[96];
            snprintf(name, sizeof name, "%s frame of %zu bytes (%zu-byte header)",
                     text ? "text" : "binary", n, want_hdr);
            if (buf_len(&w) != want_hdr + n) abort(); /* the test's own encoder */
            check_script(name, &SERVER, &w, &e);
            free(p);
        }
    }
}

static void test_fragments(void)
{
    struct buf w = {0}, e = {0};
    /* "Hello, wor€ld" in four fragments, with control frames between them and
     * the euro sign split across two fragments. */
    frame(&w, WS_OP_TEXT, "Hello");
    frame(&w, WS_FIN | WS_OP_PING, "are you there?");
    frame(&w, WS_OP_CONT, ", wor\xE2\x82");
    frame(&w, WS_FIN | WS_OP_PONG, "");
    frame(&w, WS_OP_CONT, "\xAC");
    frame(&w, WS_FIN | WS_OP_PING, "");
    frame(&w, WS_FIN | WS_OP_PONG, "x");
    frame(&w, WS_FIN | WS_OP_CONT, "ld");
    exp_ctl(&e, 'P', "are you there?", 14);
    exp_ctl(&e, 'O', "", 0);
    exp_ctl(&e, 'P', "", 0);
    exp_ctl(&e, 'O', "x", 1);
    exp_msg(&e, WS_OP_TEXT, "Hello, wor\xE2\x82\xACld", 15);
    check_script("fragmented text with ping/pong between fragments and a split character", &SERVER,
                 &w, &e);

    /* A close may arrive in the middle of a fragmented message too. */
    frame(&w, WS_OP_TEXT, "unfinished");
    frame(&w, WS_FIN | WS_OP_PING, "1");
    close_frame(&w, 1001, "going", 5);
    exp_ctl(&e, 'P', "1", 1);
    exp_close(&e, 1001, "going", 5);
    check_script("ping and close between the fragments of an unfinished message", &SERVER, &w, &e);

    frame_n(&w, WS_OP_BINARY, "", 0);
    frame_n(&w, WS_OP_CONT, "", 0);
    frame_n(&w, WS_OP_CONT, "\x00\xFF", 2);
    frame_n(&w, WS_OP_CONT, "", 0);
    frame_n(&w, WS_FIN | WS_OP_CONT, "\x80", 1);
    exp_msg(&e, WS_OP_BINARY, "\x00\xFF\x80", 3);
    check_script("fragmented binary with empty fragments", &SERVER, &w, &e);

    frame(&w, WS_OP_TEXT, "abc");
    frame(&w, WS_FIN | WS_OP_CONT, "");
    exp_msg(&e, WS_OP_TEXT, "abc", 3);
    check_script("text ended by an empty final fragment", &SERVER, &w, &e);

    frame(&w, WS_OP_TEXT, "");
    frame(&w, WS_FIN | WS_OP_CONT, "");
    exp_msg(&e, WS_OP_TEXT, "", 0);
    check_script("a message made of two empty fragments", &SERVER, &w, &e);

    /* A long fragmented message: 3 fragments with all three length encodings. */
    uint8_t *p = text_payload(70000);
    size_t cut1 = 100, cut2 = 100 + 300; /* character boundaries are not required */
    frame_n(&w, WS_OP_TEXT, p, cut1);
    frame_n(&w, WS_OP_CONT, p + cut1, cut2 - cut1);
    frame(&w, WS_FIN | WS_OP_PING, "mid");
    frame_n(&w, WS_FIN | WS_OP_CONT, p + cut2, 70000 - cut2);
    exp_ctl(&e, 'P', "mid", 3);
    exp_msg(&e, WS_OP_TEXT, p, 70000);
    check_script("70000-byte text in 7-bit, 16-bit and 64-bit length fragments", &SERVER, &w, &e);
    free(p);

    /* Back to back messages, then a close. */
    uint8_t ping[125];
    memset(ping, 'p', sizeof ping);
    frame(&w, WS_FIN | WS_OP_TEXT, "one");
    frame_n(&w, WS_FIN | WS_OP_BINARY, "\x01\x02", 2);
    frame_n(&w, WS_FIN | WS_OP_PING, ping, 125);
    frame(&w, WS_FIN | WS_OP_TEXT, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5");
    close_frame(&w, 1000, "bye", 3);
    exp_msg(&e, WS_OP_TEXT, "one", 3);
    exp_msg(&e, WS_OP_BINARY, "\x01\x02", 2);
    exp_ctl(&e, 'P', ping, 125);
    exp_msg(&e, WS_OP_TEXT, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", 11);
    exp_close(&e, 1000, "bye", 3);
    check_script("several messages, a 125-byte ping, then a close", &SERVER, &w, &e);
}

static void test_close_frames(void)
{
    struct buf w = {0}, e = {0};
    frame(&w, WS_FIN | WS_OP_CLOSE, "");
    exp_close(&e, WS_CLOSE_NO_STATUS, "", 0);
    check_script("empty close frame reports 1005", &SERVER, &w, &e);

    close_frame(&w, 1001, "", 0);
    exp_close(&e, 1001, "", 0);
    check_script("close with a code and no reason", &SERVER, &w, &e);

    char reason[124];
    memset(reason, 'r', 123);
    memcpy(reason, "\xE2\x82\xAC", 3);
    close_frame(&w, 4999, reason, 123);
    exp_close(&e, 4999, reason, 123);
    check_script("close with a 123-byte UTF-8 reason (125-byte payload)", &SERVER, &w, &e);

    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                     1010, 1011, 3000, 3999, 4000, 4999};
    static const unsigned invalid[] = {0,    999,  1004, 1005, 1006, 1012, 1013, 1014,
                                       1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "close code %u is accepted", valid[i]);
        close_frame(&w, valid[i], "ok", 2);
        exp_close(&e, valid[i], "ok", 2);
        check_script(name, &SERVER, &w, &e);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "close code %u is a protocol error", invalid[i]);
        close_frame(&w, invalid[i], "", 0);
        exp_err(&e, WS_CLOSE_PROTOCOL);
        check_script(name, &SERVER, &w, &e);
    }

    int bad = -1;
    for (unsigned code = 0; code <= 65535 && bad < 0; code++) {
        bool want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                    (code >= 3000 && code <= 4999);
        if (ws_close_code_valid(code) != want) bad = (int)code;
    }
    ok(bad < 0, "ws_close_code_valid agrees with RFC 6455 7.4 for all 65536 codes (first bad %d)",
       bad);
}

static void test_rsv_and_client_mode(void)
{
    struct buf w = {0}, e = {0};
    struct settings deflate = {true, 0, WS_RSV1};
    frame(&w, WS_FIN | WS_RSV1 | WS_OP_TEXT, "compressed?");
    exp_msg(&e, WS_OP_TEXT | WS_RSV1, "compressed?", 11);
    check_script("RSV1 is accepted once an extension claims it, and marks the message", &deflate,
                 &w, &e);

    frame(&w, WS_FIN | WS_RSV1 | WS_OP_TEXT, "\xff\xfe\xc3");
    exp_msg(&e, WS_OP_TEXT | WS_RSV1, "\xff\xfe\xc3", 3);
    check_script("a compressed text message is not checked as UTF-8 before inflating", &deflate, &w,
                 &e);

    frame(&w, WS_RSV1 | WS_OP_TEXT, "ab");
    frame(&w, WS_FIN | WS_OP_PING, "p");
    frame(&w, WS_FIN | WS_OP_CONT, "cd");
    frame(&w, WS_FIN | WS_OP_TEXT, "plain");
    exp_ctl(&e, 'P', "p", 1);
    exp_msg(&e, WS_OP_TEXT | WS_RSV1, "abcd", 4);
    exp_msg(&e, WS_OP_TEXT, "plain", 5);
    check_script("RSV1 on the first frame marks every fragment; the next message is plain",
                 &deflate, &w, &e);

    frame(&w, WS_RSV1 | WS_OP_BINARY, "ab");
    frame(&w, WS_FIN | WS_RSV1 | WS_OP_CONT, "cd");
    exp_err(&e, WS_CLOSE_PROTOCOL);
    check_script("RSV1 on a continuation frame -> 1002", &deflate, &w, &e);

    frame(&w, WS_FIN | WS_RSV1 | WS_OP_PING, "p");
    exp_err(&e, WS_CLOSE_PROTOCOL);
    check_script("RSV1 on a control frame -> 1002", &deflate, &w, &e);

    struct settings small = {true, 100, WS_RSV1};
    uint8_t *big = binary_payload(1125);
    frame_n(&w, WS_FIN | WS_RSV1 | WS_OP_BINARY, big, 1124);
    exp_msg(&e, WS_OP_BINARY | WS_RSV1, big, 1124);
    check_script("compressed bytes may exceed the limit by the slack deflate needs", &small, &w,
                 &e);
    frame_n(&w, WS_FIN | WS_RSV1 | WS_OP_BINARY, big, 1125);
    exp_err(&e, WS_CLOSE_TOO_BIG);
    check_script("... and no more: 1009", &small, &w, &e);
    free(big);

    frame(&w, WS_FIN | WS_RSV2 | WS_OP_TEXT, "x");
    exp_err(&e, WS_CLOSE_PROTOCOL);
    check_script("RSV2 is still refused when only RSV1 is claimed", &deflate, &w, &e);

    struct settings client = {false, 0, 0};
    server_frame(&w, WS_OP_TEXT, "from ");
    server_frame(&w, WS_FIN | WS_OP_PING, "p");
    server_frame(&w, WS_FIN | WS_OP_CONT, "server");
    header(&w, WS_FIN | WS_OP_BINARY, 70000, LEN_MIN, NULL);
    uint8_t *p = binary_payload(70000);
    put(&w, p, 70000);
    exp_ctl(&e, 'P', "p", 1);
    exp_msg(&e, WS_OP_TEXT, "from server", 11);
    exp_msg(&e, WS_OP_BINARY, p, 70000);
    free(p);
    check_script("client mode accepts unmasked server frames", &client, &w, &e);

    frame(&w, WS_FIN | WS_OP_TEXT, "masked");
    exp_err(&e, WS_CLOSE_PROTOCOL);
    check_script("client mode refuses a masked frame with 1002", &client, &w, &e);
}

/* ---- protocol errors ----------------------------------------------------- */

static void error_script(const char *name, const struct settings *s, struct buf *w, struct buf *e,
                         unsigned code)
{
    exp_err(e, code);
    check_script(name, s, w, e);
}

static void test_errors(void)
{
    struct buf w = {0}, e = {0};
    char name[96];

    server_frame(&w, WS_FIN | WS_OP_TEXT, "hello");
    error_script("unmasked client frame -> 1002", &SERVER, &w, &e, 1002);

    static const struct {
        uint8_t bit;
        const char *name;
    } rsv[] = {{WS_RSV1, "RSV1"}, {WS_RSV2, "RSV2"}, {WS_RSV3, "RSV3"}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s set without an extension -> 1002", rsv[i].name);
        frame(&w, WS_FIN | rsv[i].bit | WS_OP_TEXT, "x");
        error_script(name, &SERVER, &w, &e, 1002);
    }

    for (uint8_t op = 3; op <= 15; op++) {
        if (op >= 8 && op <= 10) continue;
        snprintf(name, sizeof name, "unknown opcode %u -> 1002", op);
        frame(&w, WS_FIN | op, "x");
        error_script(name, &SERVER, &w, &e, 1002);
    }

    uint8_t big[126];
    memset(big, 'b', sizeof big);
    frame_n(&w, WS_FIN | WS_OP_PING, big, 126);
    error_script("ping of 126 bytes -> 1002", &SERVER, &w, &e, 1002);
    big[0] = 0x03, big[1] = 0xE8;
    frame_n(&w, WS_FIN | WS_OP_CLOSE, big, 126);
    error_script("close of 126 bytes -> 1002", &SERVER, &w, &e, 1002);
    frame(&w, WS_OP_PING, "frag");
    error_script("ping without FIN (fragmented control frame) -> 1002", &SERVER, &w, &e, 1002);
    frame(&w, WS_OP_CLOSE, "");
    error_script("close without FIN -> 1002", &SERVER, &w, &e, 1002);

    frame(&w, WS_FIN | WS_OP_CONT, "x");
    error_script("continuation without a message -> 1002", &SERVER, &w, &e, 1002);
    frame(&w, WS_OP_CONT, "x");
    error_script("non-final continuation without a message -> 1002", &SERVER, &w, &e, 1002);
    frame(&w, WS_FIN | WS_OP_TEXT, "done");
    frame(&w, WS_FIN | WS_OP_CONT, "late");
    exp_msg(&e, WS_OP_TEXT, "done", 4);
    error_script("continuation after a finished message -> 1002", &SERVER, &w, &e, 1002);

    frame(&w, WS_OP_TEXT, "part");
    frame(&w, WS_FIN | WS_OP_PING, "ok");
    frame(&w, WS_FIN | WS_OP_TEXT, "new");
    exp_ctl(&e, 'P', "ok", 2);
    error_script("text frame inside a fragmented message -> 1002", &SERVER, &w, &e, 1002);
    frame(&w, WS_OP_BINARY, "part");
    frame(&w, WS_OP_TEXT, "new");
    error_script("text frame inside a fragmented binary message -> 1002", &SERVER, &w, &e, 1002);

    uint8_t key[4] = {1, 2, 3, 4};
    header(&w, WS_FIN | WS_OP_BINARY, 125, LEN_16, key);
    error_script("16-bit length 125 (not minimal) -> 1002", &SERVER, &w, &e, 1002);
    header(&w, WS_FIN | WS_OP_BINARY, 0, LEN_16, key);
    error_script("16-bit length 0 (not minimal) -> 1002", &SERVER, &w, &e, 1002);
    header(&w, WS_FIN | WS_OP_BINARY, 65535, LEN_64, key);
    error_script("64-bit length 65535 (not minimal) -> 1002", &SERVER, &w, &e, 1002);
    header(&w, WS_FIN | WS_OP_BINARY, 126, LEN_64, key);
    error_script("64-bit length 126 (not minimal) -> 1002", &SERVER, &w, &e, 1002);
    header(&w, WS_FIN | WS_OP_BINARY, 1ull << 63, LEN_64, key);
    error_script("64-bit length with its most significant bit set -> 1002", &SERVER, &w, &e, 1002);
    header(&w, WS_FIN | WS_OP_BINARY, UINT64_MAX, LEN_64, key);
    error_script("64-bit length 2^64-1 -> 1002", &SERVER, &w, &e, 1002);

    frame_n(&w, WS_FIN | WS_OP_CLOSE, "\x03", 1);
    error_script("close with a 1-byte payload -> 1002", &SERVER, &w, &e, 1002);
    close_frame(&w, 1000, "bad \xFF reason", 12);
    error_script("close reason with invalid UTF-8 -> 1007", &SERVER, &w, &e, 1007);
    close_frame(&w, 1000, "cut \xE2\x82", 6);
    error_script("close reason ending inside a character -> 1007", &SERVER, &w, &e, 1007);

    frame(&w, WS_FIN | WS_OP_TEXT, "bad \xC0\xAF text");
    error_script("text with an overlong sequence -> 1007", &SERVER, &w, &e, 1007);
    frame(&w, WS_FIN | WS_OP_TEXT, "\xED\xA0\x80");
    error_script("text with a surrogate -> 1007", &SERVER, &w, &e, 1007);
    frame(&w, WS_FIN | WS_OP_TEXT, "a\xE2\x82");
    error_script("text message ending inside a character -> 1007", &SERVER, &w, &e, 1007);
    frame(&w, WS_OP_TEXT, "a\xE2");
    frame(&w, WS_FIN | WS_OP_CONT, "");
    error_script("fragmented text whose empty last fragment leaves a character open -> 1007",
                 &SERVER, &w, &e, 1007);
    frame(&w, WS_OP_TEXT, "a\xE2");
    frame(&w, WS_FIN | WS_OP_CONT, "\x82");
    error_script("fragmented text ending inside a character -> 1007", &SERVER, &w, &e, 1007);
    frame(&w, WS_OP_TEXT, "ok");
    frame(&w, WS_FIN | WS_OP_CONT, "\xFF");
    error_script("invalid UTF-8 in a continuation -> 1007", &SERVER, &w, &e, 1007);

    frame_n(&w, WS_FIN | WS_OP_BINARY, "\xFF\xC0", 2);
    exp_msg(&e, WS_OP_BINARY, "\xFF\xC0", 2);
    check_script("binary messages are not UTF-8 checked", &SERVER, &w, &e);
}

/* Where an error is reported: byte by byte, the stream offset of the report. */
static size_t error_offset(const struct settings *s, const struct buf *w, unsigned *code)
{
    struct collector c;
    run(&c, s, w, BYTES, 0);
    size_t at = c.failed ? c.error_at : SIZE_MAX;
    *code = 0;
    if (c.failed && buf_len(&c.log) >= 3) {
        const uint8_t *l = buf_head(&c.log) + buf_len(&c.log) - 3;
        if (l[0] == 'E') *code = (unsigned)(l[1] << 8 | l[2]);
    }
    collector_free(&c);
    return at;
}

static void test_fail_fast(void)
{
    struct buf w = {0};
    unsigned code;
    uint8_t key[4] = {0xA1, 0xB2, 0xC3, 0xD4};

    /* A 1000-byte text frame whose 7th payload byte is invalid; only 20 bytes sent. */
    uint8_t payload[20];
    memcpy(payload, "hello \xFF world, and ", 20);
    header(&w, WS_FIN | WS_OP_TEXT, 1000, LEN_MIN, key);
    size_t hdr = buf_len(&w);
    masked_payload(&w, payload, 20, key);
    struct collector c;
    run(&c, &SERVER, &w, WHOLE, 0);
    ok(c.failed && buf_len(&c.log) == 3 && buf_head(&c.log)[0] == 'E',
       "invalid UTF-8 is reported before the text frame is complete");
    collector_free(&c);
    size_t at = error_offset(&SERVER, &w, &code);
    ok(at == hdr + 7 && code == 1007,
       "fed byte by byte, 1007 comes with the invalid byte itself (offset %zu, want %zu)", at,
       hdr + 7);
    buf_free(&w);

    /* max_message: checked against the header, before any payload arrives. */
    struct settings max10 = {true, 10, 0};
    header(&w, WS_FIN | WS_OP_TEXT, 11, LEN_MIN, key);
    hdr = buf_len(&w);
    at = error_offset(&max10, &w, &code);
    ok(at == hdr && code == 1009, "an 11-byte message with max 10 gets 1009 at its header");
    buf_free(&w);

    frame(&w, WS_OP_TEXT, "123456");
    header(&w, WS_FIN | WS_OP_CONT, 5, LEN_MIN, key);
    hdr = buf_len(&w);
    at = error_offset(&max10, &w, &code);
    ok(at == hdr && code == 1009,
       "6 + 5 bytes in two fragments with max 10 gets 1009 at the second header");
    buf_free(&w);

    struct buf e = {0};
    frame(&w, WS_OP_TEXT, "123456");
    frame(&w, WS_FIN | WS_OP_PING, "pings do not count");
    frame(&w, WS_FIN | WS_OP_CONT, "7890");
    frame(&w, WS_FIN | WS_OP_TEXT, "0123456789");
    exp_ctl(&e, 'P', "pings do not count", 18);
    exp_msg(&e, WS_OP_TEXT, "1234567890", 10);
    exp_msg(&e, WS_OP_TEXT, "0123456789", 10);
    check_script("messages of exactly max_message bytes pass, the count restarts per message",
                 &max10, &w, &e);

    struct settings max16m = {true, 16u << 20, 0};
    header(&w, WS_FIN | WS_OP_BINARY, 1ull << 40, LEN_MIN, key);
    hdr = buf_len(&w);
    at = error_offset(&max16m, &w, &code);
    ok(at == hdr && code == 1009, "a 2^40-byte frame header with max 16M gets 1009 at once");
    buf_free(&w);

    struct settings max64k = {true, 65536, 0};
    uint8_t *p = binary_payload(65537);
    frame_n(&w, WS_FIN | WS_OP_BINARY, p, 65536);
    exp_msg(&e, WS_OP_BINARY, p, 65536);
    check_script("a 65536-byte message with max 65536 passes", &max64k, &w, &e);
    frame_n(&w, WS_FIN | WS_OP_BINARY, p, 65537);
    exp_err(&e, 1009);
    check_script("a 65537-byte message with max 65536 -> 1009", &max64k, &w, &e);
    free(p);

    struct settings unlimited = {true, 0, 0};
    header(&w, WS_FIN | WS_OP_BINARY, 1ull << 40, LEN_MIN, key);
    run(&c, &unlimited, &w, WHOLE, 0);
    ok(!c.failed && buf_len(&c.log) == 0 && c.p.remaining == 1ull << 40,
       "max_message 0 means unlimited: a 2^40-byte header is accepted");
    collector_free(&c);
    buf_free(&w);

    /* After an error nothing more is parsed, not even valid frames. */
    struct ws_parser ps;
    ws_parser_init(&ps, true, 0);
    uint8_t bad[2] = {WS_FIN | 0x3, 0x80};
    struct ws_event ev;
    ws_parser_feed(&ps, bad, 2, &ev);
    bool first = ev.kind == WS_EV_ERROR && ev.close_code == 1002;
    frame(&w, WS_FIN | WS_OP_TEXT, "fine");
    size_t r = ws_parser_feed(&ps, buf_head(&w), buf_len(&w), &ev);
    ok(first && r == 0 && ev.kind == WS_EV_ERROR && ev.close_code == 1002,
       "after an error the parser stays failed and consumes nothing");
    buf_free(&w);
}

/* ---- ws_frame_header ------------------------------------------------------ */

static void test_frame_header(void)
{
    static const struct {
        uint64_t len;
        size_t n;
        uint8_t bytes[10];
    } cases[] = {
        {0, 2, {0x81, 0}},
        {125, 2, {0x81, 125}},
        {126, 4, {0x81, 126, 0x00, 0x7E}},
        {65535, 4, {0x81, 126, 0xFF, 0xFF}},
        {65536, 10, {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
        {1ull << 32, 10, {0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0}},
        {0x0102030405060708ull, 10, {0x81, 127, 1, 2, 3, 4, 5, 6, 7, 8}},
    };
    static const uint8_t mask[4] = {0xDE, 0xAD, 0xBE, 0xEF};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[WS_MAX_HEADER];
        memset(out, 0x55, sizeof out);
        size_t n = ws_frame_header(out, WS_FIN | WS_OP_TEXT, cases[i].len, NULL);
        ok(n == cases[i].n && memcmp(out, cases[i].bytes, n) == 0,
           "frame header for length %llu: %zu bytes, minimal encoding",
           (unsigned long long)cases[i].len, cases[i].n);
        uint8_t want[WS_MAX_HEADER];
        memcpy(want, cases[i].bytes, cases[i].n);
        want[1] |= 0x80;
        memcpy(want + cases[i].n, mask, 4);
        n = ws_frame_header(out, WS_FIN | WS_OP_TEXT, cases[i].len, mask);
        ok(n == cases[i].n + 4 && memcmp(out, want, n) == 0,
           "masked frame header for length %llu: mask bit and key appended",
           (unsigned long long)cases[i].len);
    }
    uint8_t out[WS_MAX_HEADER];
    ok(ws_frame_header(out, WS_RSV1 | WS_OP_CLOSE, 2, NULL) == 2 && out[0] == 0x48 && out[1] == 2,
       "the first byte is written as given (RSV1, no FIN, close)");

    /* Round trip: the builder's output parses back to the same frame. */
    static const uint64_t lengths[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (int masked = 1; masked >= 0; masked--) {
            size_t n = (size_t)lengths[i];
            uint8_t *p = binary_payload(n);
            uint8_t key[4] = {(uint8_t)i, 0x5A, 0xA5, 0xFF};
            size_t h = ws_frame_header(out, WS_FIN | WS_OP_BINARY, n, masked ? key : NULL);
            struct buf w = {0}, e = {0};
            put(&w, out, h);
            put(&w, p, n);
            if (masked) ws_mask_bytes(buf_head(&w) + h, n, key, 0);
            exp_msg(&e, WS_OP_BINARY, p, n);
            struct settings s = {masked, 0, 0};
            struct collector c;
            run(&c, &s, &w, WHOLE, 0);
            ok(same(&c.log, &e), "round trip of a %zu-byte %s frame through the %s parser", n,
               masked ? "masked" : "unmasked", masked ? "server" : "client");
            collector_free(&c);
            buf_free(&w);
            buf_free(&e);
            free(p);
        }
    }
    static const uint64_t huge[] = {1ull << 32, (1ull << 63) - 1};
    for (size_t i = 0; i < 2; i++) {
        uint8_t key[4] = {9, 8, 7, 6};
        size_t h = ws_frame_header(out, WS_FIN | WS_OP_BINARY, huge[i], key);
        struct ws_parser ps;
        ws_parser_init(&ps, true, 0);
        struct ws_event ev;
        size_t r = ws_parser_feed(&ps, out, h, &ev);
        ok(r == h && ev.kind == WS_EV_NONE && ps.remaining == huge[i],
           "a built header for %llu bytes parses back to that length", (unsigned long long)huge[i]);
    }
}

/* ---- ws_close_payload ----------------------------------------------------- */

/* Largest character boundary <= limit in a valid UTF-8 string. */
static size_t boundary_at_most(const char *s, size_t limit)
{
    size_t best = 0;
    for (size_t i = 0; s[i] && i <= limit; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) best = i;
    if (strlen(s) <= limit) best = strlen(s);
    return best;
}

static void test_close_payload(void)
{
    uint8_t out[WS_MAX_CONTROL];
    ok(ws_close_payload(out, 1000, NULL) == 2 && out[0] == 0x03 && out[1] == 0xE8,
       "close payload without a reason is the big-endian code");
    ok(ws_close_payload(out, 4999, "bye") == 5 && out[0] == 0x13 && out[1] == 0x87 &&
           memcmp(out + 2, "bye", 3) == 0,
       "close payload with a short reason");

    char reason[300];
    memset(reason, 'x', sizeof reason);
    reason[299] = '\0';
    size_t n = ws_close_payload(out, 1011, reason);
    ok(n == WS_MAX_CONTROL, "a 299-byte ASCII reason is cut to 123 bytes (payload %zu)", n);
    reason[123] = '\0';
    ok(ws_close_payload(out, 1011, reason) == 125, "a 123-byte reason is kept whole");

    /* Multi-byte characters straddling byte 123, at every offset. */
    static const char *const chars[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
    for (size_t c = 0; c < 3; c++) {
        size_t cl = strlen(chars[c]);
        int bad = -1;
        for (size_t pre = 115; pre <= 124 && bad < 0; pre++) {
            char s[200];
            memset(s, 'a', pre);
            strcpy(s + pre, chars[c]);
            strcat(s, "tail");
            n = ws_close_payload(out, 1000, s);
            size_t want = boundary_at_most(s, WS_MAX_CLOSE_REASON);
            if (n != 2 + want || memcmp(out + 2, s, want) != 0 ||
                utf8_validate(UTF8_ACCEPT, out + 2, n - 2) != UTF8_ACCEPT)
                bad = (int)pre;
        }
        ok(bad < 0, "a %zu-byte character around byte 123 is never split (first bad prefix %d)", cl,
           bad);
    }
}

/* ---- ws_mask_bytes ---------------------------------------------------------- */

static void test_mask_bytes(void)
{
    static const uint8_t key[4] = {0x01, 0x80, 0xFE, 0x3C};
    uint8_t orig[200], buf[216], want[200];
    for (size_t i = 0; i < sizeof orig; i++) orig[i] = (uint8_t)(i * 37 + 11);
    int bad = 0, checks = 0;
    for (size_t pos = 0; pos < 4; pos++)
        for (size_t off = 0; off < 8; off++)
            for (size_t n = 0; n <= sizeof orig; n++) {
                memset(buf, 0xAA, sizeof buf);
                memcpy(buf + off, orig, n);
                for (size_t i = 0; i < n; i++) want[i] = orig[i] ^ key[(pos + i) % 4];
                ws_mask_bytes(buf + off, n, key, pos);
                checks++;
                if (memcmp(buf + off, want, n) != 0) bad++;
                for (size_t i = 0; i < sizeof buf; i++)
                    if ((i < off || i >= off + n) && buf[i] != 0xAA) {
                        bad++;
                        break;
                    }
            }
    ok(bad == 0,
       "ws_mask_bytes equals the bytewise definition for every start position, "
       "length 0..200 (past three 64-byte steps) and alignment (%d of %d bad)",
       bad, checks);

    /* Masking in two pieces with the position carried equals one pass. */
    bad = 0;
    for (size_t cut = 0; cut <= 70; cut++) {
        memcpy(buf, orig, 70);
        ws_mask_bytes(buf, cut, key, 0);
        ws_mask_bytes(buf + cut, 70 - cut, key, cut % 4);
        for (size_t i = 0; i < 70; i++)
            if (buf[i] != (orig[i] ^ key[i % 4])) bad++;
    }
    ok(bad == 0, "masking in two pieces with the position carried over equals one pass");
}

int main(void)
{
    test_lengths();
    test_fragments();
    test_close_frames();
    test_rsv_and_client_mode();
    test_errors();
    test_fail_fast();
    test_frame_header();
    test_close_payload();
    test_mask_bytes();
    return tap_finish();
}
