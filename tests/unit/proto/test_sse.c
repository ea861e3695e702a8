#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto/sse.h"
#include "../tap.h"

static char out[1 << 16];

static bool is(const char *got, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(got, want, n) == 0;
}

/* The event's lines: no CR or LF inside one, ended by a blank line. */
static bool well_formed(const char *e, size_t n)
{
    if (n < 2 || e[n - 1] != '\n' || e[n - 2] != '\n') return false;
    for (size_t i = 0; i + 2 < n; i++)
        if (e[i] == '\r' || (e[i] == '\n' && e[i + 1] == '\n')) return false;
    return true;
}

int main(void)
{
    size_t n = sse_message(out, 1, SSE_TEXT, false, (const uint8_t *)"hi\n\"x\"\\", 7);
    ok(is(out, n, "id: 1\nevent: text\ndata: \"hi\\n\\\"x\\\"\\\\\"\n\n"),
       "a text message is one JSON string: %s", escn(out, n));
    n = sse_message(out, 42, SSE_BINARY, false, (const uint8_t *)"\x00\x01\xff", 3);
    ok(is(out, n, "id: 42\nevent: binary\ndata: AAH/\n\n"), "a binary message is base64: %s",
       escn(out, n));
    n = sse_message(out, 7, SSE_TEXT, true, (const uint8_t *)"ab", 2);
    ok(is(out, n, "id: 7\nevent: text-part\ndata: \"ab\"\n\n"), "a fragment: %s", escn(out, n));
    n = sse_message(out, 8, SSE_BINARY, true, NULL, 0);
    ok(is(out, n, "id: 8\nevent: binary-part\ndata: \n\n"), "an empty binary fragment: %s",
       escn(out, n));
    n = sse_message(out, 18446744073709551615ull, SSE_TEXT, false, NULL, 0);
    ok(is(out, n, "id: 18446744073709551615\nevent: text\ndata: \"\"\n\n") &&
           n <= sse_message_max(SSE_TEXT, 0),
       "the largest id, an empty text, within the bound");

    /* Every control character, CR and LF included, escaped: one data line. */
    uint8_t ctl[32];
    for (int i = 0; i < 32; i++) ctl[i] = (uint8_t)i;
    n = sse_message(out, 3, SSE_TEXT, false, ctl, sizeof ctl);
    ok(well_formed(out, n) && n <= sse_message_max(SSE_TEXT, sizeof ctl),
       "control characters stay inside one line, within the bound (%zu <= %zu)", n,
       sse_message_max(SSE_TEXT, sizeof ctl));
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    n = sse_message(out, 4, SSE_BINARY, true, all, sizeof all);
    ok(well_formed(out, n) && n <= sse_message_max(SSE_BINARY, sizeof all),
       "every byte value as binary, within the bound");
    n = sse_message(out, 5, SSE_TEXT, false, (const uint8_t *)"caf\xc3\xa9 \xe2\x80\xa8", 9);
    ok(is(out, n, "id: 5\nevent: text\ndata: \"caf\xc3\xa9 \xe2\x80\xa8\"\n\n"),
       "other characters go as they are (U+2028 too: the line ends only at CR or LF)");

    n = sse_close(out, 9, 1000, "exit 0");
    ok(is(out, n, "id: 9\nevent: close\ndata: {\"code\":1000,\"reason\":\"exit 0\"}\n\n"),
       "the close event: %s", escn(out, n));
    char longer[200];
    memset(longer, 'a', sizeof longer);
    memcpy(longer + 122, "\xc3\xa9", 2); /* a character across the 123rd byte */
    longer[199] = '\0';
    n = sse_close(out, 10, 1011, longer);
    const char *reason = strstr(out, "\"reason\":\"") + 10;
    size_t rlen = (size_t)(strstr(reason, "\"}") - reason);
    ok(well_formed(out, n) && rlen == 122 && n < SSE_CLOSE_MAX,
       "a long reason is cut at 123 bytes without splitting a character (%zu)", rlen);
    n = sse_close(out, 11, 1006, "line\nbreak");
    ok(is(out, n, "id: 11\nevent: close\ndata: {\"code\":1006,\"reason\":\"line\\nbreak\"}\n\n"),
       "a reason is escaped");
    ok(strcmp(SSE_HEARTBEAT, ": heartbeat\n\n") == 0, "the heartbeat is a comment");

    uint64_t id = 99;
    ok(sse_parse_id("41", 2, &id) && id == 41, "Last-Event-ID 41");
    ok(sse_parse_id("0", 1, &id) && id == 0, "0: nothing received yet");
    ok(sse_parse_id("9999999999999999999", 19, &id) && id == 9999999999999999999ull, "19 digits");
    ok(!sse_parse_id("10000000000000000000", 20, &id), "20 digits refused");
    ok(!sse_parse_id("", 0, &id) && !sse_parse_id("01", 2, &id) && !sse_parse_id("4a", 2, &id) &&
           !sse_parse_id(" 4", 2, &id) && !sse_parse_id("-1", 2, &id),
       "empty, leading zero, letters, space, sign refused");
    return tap_finish();
}
