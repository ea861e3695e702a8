#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto/fbmsgs.h"
#include "../tap.h"

/* Parse body fed in pieces of `piece` bytes (0: all at once) and describe
 * what came out, a record's chunks joined, so that any split must give the
 * same text:
 *   "[" message start, "]" message end, "SEQ:t:payload" / "SEQ:b:hex" a
 *   record's bytes, "C SEQ CODE reason", "E N why", "|" at a boundary at
 *   the end. */
static const char *parse(const char *body, size_t n, size_t piece, uint64_t max)
{
    static char out[4096];
    size_t o = 0;
    struct fbm_parser p;
    fbm_parser_init(&p, max);
    size_t at = 0;
    bool in_record = false;
    uint64_t expect_offset = 0;
    for (;;) {
        size_t give = piece && n - at > piece ? piece : n - at;
        struct fbm_event ev;
        size_t used = fbm_parser_feed(&p, (const uint8_t *)body + at, give, &ev);
        at += used;
        if (ev.kind == FBM_DATA) {
            if (ev.offset != expect_offset) return "bad offset";
            if (!in_record) {
                if (ev.first) o += (size_t)snprintf(out + o, sizeof out - o, "[");
                o += (size_t)snprintf(out + o, sizeof out - o,
                                      "%llu:%c:", (unsigned long long)ev.seq,
                                      ev.type == FBM_TEXT ? 't' : 'b');
                in_record = true;
            }
            for (size_t i = 0; i < ev.len; i++)
                o += (size_t)snprintf(out + o, sizeof out - o, ev.type == FBM_TEXT ? "%c" : "%02x",
                                      ev.data[i]);
            expect_offset += ev.len;
            if (ev.record_end) {
                in_record = false;
                expect_offset = 0;
                o += (size_t)snprintf(out + o, sizeof out - o, "%s ", ev.last ? "]" : "");
            }
        } else if (ev.kind == FBM_CLOSE) {
            o += (size_t)snprintf(out + o, sizeof out - o, "C %llu %u %.*s ",
                                  (unsigned long long)ev.seq, ev.code, (int)ev.len, ev.data);
        } else if (ev.kind == FBM_ERROR) {
            o += (size_t)snprintf(out + o, sizeof out - o, "E %d %s", ev.error, ev.why);
            return out;
        } else if (at == n) {
            break;
        }
        if (at == n && ev.kind == FBM_NONE) break;
    }
    if (fbm_parser_at_boundary(&p)) o += (size_t)snprintf(out + o, sizeof out - o, "|");
    out[o] = '\0';
    return out;
}

/* body gives want however it is split. */
static void expect(const char *name, const char *body, size_t n, uint64_t max, const char *want)
{
    char whole[4096];
    snprintf(whole, sizeof whole, "%s", parse(body, n, 0, max));
    bool same = strcmp(whole, want) == 0;
    size_t bad = 0;
    for (size_t piece = 1; piece <= n && same; piece++) {
        if (strcmp(parse(body, n, piece, max), want) != 0) {
            same = false;
            bad = piece;
        }
    }
    ok(same, "%s: %s", name, escn(whole, strlen(whole)));
    if (!same) {
        printf("#   want %s\n", escn(want, strlen(want)));
        const char *got = parse(body, n, bad, max);
        printf("#   got  %s (in pieces of %zu bytes; 0: whole)\n", escn(got, strlen(got)), bad);
    }
}

#define EXPECT(name, body, max, want) expect(name, body, sizeof body - 1, max, want)

int main(void)
{
    EXPECT("a text and a binary message", "1 t 5\nhello\n2 b 3\n\x00\x01\xff\n", 0,
           "[1:t:hello] [2:b:0001ff] |");
    EXPECT("a message in three records", "7 T 3\nhel\n8 T 0\n\n9 t 2\nlo\n", 0,
           "[7:t:hel 8:t: 9:t:lo] |");
    EXPECT("an empty message", "1 b 0\n\n", 0, "[1:b:] |");
    EXPECT("a payload holding LF and SP", "1 t 5\na\n b\n\n", 0, "[1:t:a\n b\n] |");
    EXPECT("a close with a reason, after a message", "1 t 2\nhi\n2 c 8\n1000 bye\n", 0,
           "[1:t:hi] C 2 1000 bye |");
    EXPECT("a close without a code is 1005", "1 c 0\n\n", 0, "C 1 1005  |");
    EXPECT("a close code alone", "3 c 4\n4000\n", 0, "C 3 4000  |");
    EXPECT("a close ends an open fragmented message", "1 T 1\na\n2 c 4\n1001\n", 0,
           "[1:t:a C 2 1001  |");
    EXPECT("a text split inside a character", "1 T 1\n\xc3\n2 t 1\n\xa9\n", 0,
           "[1:t:\xc3 2:t:\xa9] |");
    EXPECT("the largest SEQ", "9999999999999999999 b 1\nx\n", 0, "[9999999999999999999:b:78] |");
    EXPECT("a message of exactly the maximum", "1 T 2\nab\n2 t 2\ncd\n", 4, "[1:t:ab 2:t:cd] |");

    /* What a body cut short leaves: no boundary. */
    ok(strcmp(parse("1 t 5\nhel", 9, 0, 0), "[1:t:hel") == 0, "a body cut inside a payload");
    ok(strcmp(parse("1 t 5\nhello\n2 t", 15, 0, 0), "[1:t:hello] ") == 0,
       "a body cut inside a header: not at a boundary");

    EXPECT("SEQ 0", "0 t 1\na\n", 0, "E 1 SEQ counts from 1");
    EXPECT("a leading zero", "01 t 1\na\n", 0, "E 1 a record starts with SEQ SP (decimal)");
    EXPECT("twenty digits", "10000000000000000000 t 1\na\n", 0,
           "E 1 a record starts with SEQ SP (decimal)");
    EXPECT("no SEQ", " t 1\na\n", 0, "E 1 a record starts with SEQ SP (decimal)");
    EXPECT("an unknown type", "1 x 1\na\n", 0, "E 1 TYPE is one of t b T B c");
    EXPECT("a NUL type", "1 \0 1\na\n", 0, "E 1 TYPE is one of t b T B c");
    EXPECT("two spaces", "1 t  1\na\n", 0, "E 1 LEN is decimal, then LF");
    EXPECT("CR LF", "1 t 1\r\na\n", 0, "E 1 LEN is decimal, then LF");
    EXPECT("no LEN", "1 t \na\n", 0, "E 1 LEN is decimal, then LF");
    EXPECT("a payload longer than LEN", "1 t 1\nab\n", 0,
           "[1:t:a] E 1 a payload is followed by LF");
    EXPECT("invalid UTF-8", "1 t 2\n\xff\xfe\n", 0, "E 3 invalid UTF-8 in a text message");
    EXPECT("a text ending inside a character", "1 t 1\n\xc3\n", 0,
           "E 3 invalid UTF-8 in a text message");
    EXPECT("binary is not checked", "1 b 2\n\xff\xfe\n", 0, "[1:b:fffe] |");
    EXPECT("over the maximum in one record", "1 t 5\nhello\n", 4,
           "E 2 message larger than the maximum size");
    EXPECT("over the maximum in fragments", "1 T 3\nabc\n2 t 2\nde\n", 4,
           "[1:t:abc E 2 message larger than the maximum size");
    EXPECT("a LEN near 2^64 with a maximum", "1 b 9999999999999999999\n", 1 << 20,
           "E 2 message larger than the maximum size");
    EXPECT("a fragment continued by another type", "1 T 1\na\n2 b 1\nb\n", 0,
           "[1:t:a E 1 a fragment of a message continues with another type");
    EXPECT("a record after the close", "1 c 4\n1000\n2 t 1\na\n", 0,
           "C 1 1000  E 1 a record after the close");
    EXPECT("a close code that may not be sent", "1 c 4\n1005\n", 0, "E 1 invalid close code");
    EXPECT("a close code of three digits", "1 c 3\n100\n", 0,
           "E 1 a close record is CODE or CODE SP REASON");
    EXPECT("a close code not followed by SP", "1 c 5\n1000x\n", 0,
           "E 1 a close record is CODE or CODE SP REASON");
    EXPECT("a close reason that is not UTF-8", "1 c 6\n1000 \xff\n", 0,
           "E 3 close reason is not valid UTF-8");
    EXPECT("a close payload over 128 bytes", "1 c 129\n", 0,
           "E 1 a close record's payload is longer than 128 bytes");

    /* Errors are sticky. */
    struct fbm_parser p;
    struct fbm_event ev;
    fbm_parser_init(&p, 0);
    fbm_parser_feed(&p, (const uint8_t *)"x", 1, &ev);
    size_t used = fbm_parser_feed(&p, (const uint8_t *)"1 t 1\na\n", 8, &ev);
    ok(used == 0 && ev.kind == FBM_ERROR && ev.error == FBM_ERR_SYNTAX &&
           !fbm_parser_at_boundary(&p),
       "after an error nothing more is parsed");
    return tap_finish();
}
