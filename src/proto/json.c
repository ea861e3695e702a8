#include "autoconfig.h"

#include "proto/json.h"

size_t json_escape(const uint8_t *in, size_t n, uint8_t *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
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
                out[o] = '\\';
                out[o + 1] = (uint8_t)short_form;
            }
            o += 2;
        } else if (c < 0x20) {
            if (out) {
                const uint8_t esc[6] = {
                    '\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
                for (int k = 0; k < 6; k++) out[o + k] = esc[k];
            }
            o += 6;
        } else {
            if (out) out[o] = c;
            o++;
        }
    }
    return o;
}
