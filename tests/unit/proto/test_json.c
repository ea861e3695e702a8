#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "../tap.h"

static void check(const char *in, size_t n, const char *want)
{
    uint8_t out[256];
    memset(out, 0x55, sizeof out);
    size_t len = json_escape((const uint8_t *)in, n, NULL);
    size_t wrote = json_escape((const uint8_t *)in, n, out);
    ok(len == strlen(want) && wrote == len && memcmp(out, want, len) == 0 && out[len] == 0x55,
       "json_escape -> %s", want);
}

#define CHECK(in, want) check(in, sizeof in - 1, want)

/* The escape byte by byte, as RFC 8259 7 states it, to compare the runs with. */
static size_t reference(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        const char *two = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                                      : NULL;
        if (two)
            o += (size_t)sprintf((char *)out + o, "%s", two);
        else if (c < 0x20)
            o += (size_t)sprintf((char *)out + o, "\\u%04x", c);
        else
            out[o++] = c;
    }
    return o;
}

/* Random strings of plain runs and escapes, every length up to 300, each
 * escaped into a buffer that is exactly long enough (ASan sees any overrun). */
static void differential(void)
{
    static const uint8_t alphabet[] = "ab \"\\\n\x01\x1f\x7f\xc3\xa9/";
    uint32_t seed = 12345;
    int bad = 0;
    for (size_t n = 0; n <= 300 && !bad; n++) {
        for (int round = 0; round < 20 && !bad; round++) {
            uint8_t in[300], want[6 * 300 + 1];
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                /* mostly plain, so that runs of every length occur */
                in[i] = (seed >> 16) % 4 ? 'x' : alphabet[(seed >> 20) % (sizeof alphabet - 1)];
            }
            size_t len = reference(in, n, want);
            uint8_t *out = malloc(len ? len : 1);
            size_t wrote = json_escape(in, n, out);
            if (json_escape(in, n, NULL) != len || wrote != len || memcmp(out, want, len) != 0)
                bad = 1;
            free(out);
        }
    }
    ok(!bad, "json_escape equals the byte-by-byte reference on 6,020 random strings");
}

int main(void)
{
    CHECK("", "");
    CHECK("plain text", "plain text");
    CHECK("say \"hi\"", "say \\\"hi\\\"");
    CHECK("back\\slash", "back\\\\slash");
    CHECK("a\nb\rc\td\be\ff", "a\\nb\\rc\\td\\be\\ff");
    CHECK("\x01\x1f", "\\u0001\\u001f");
    CHECK("nul\0byte", "nul\\u0000byte");
    CHECK("del\x7f stays, / too", "del\x7f stays, / too");
    CHECK("\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80",
          "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
    /* the worst case: six bytes out per byte in */
    char all[32];
    for (int i = 0; i < 32; i++)
        all[i] = (char)(i == 8 || i == 9 || i == 10 || i == 12 || i == 13 ? 1 : i);
    ok(json_escape((const uint8_t *)all, sizeof all, NULL) == 6 * sizeof all,
       "32 control characters take 6 bytes each");
    differential();
    return tap_finish();
}
