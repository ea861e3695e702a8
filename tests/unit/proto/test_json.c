#include "autoconfig.h"

#include <stdio.h>
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
    return tap_finish();
}
