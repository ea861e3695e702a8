/* libFuzzer target for proxyproto.c, differential over arrival: the input is
 * fed as growing prefixes (the bytes past each prefix poisoned, so that a
 * read beyond len is an ASan error). With the result r on the whole input:
 * r > 0 means every prefix shorter than r needs more (0) and every longer one
 * gives r with the same address; r == 0 means every prefix needs more; r ==
 * -1 means prefixes need more until one is refused, and all longer ones are
 * refused too. A length is at most the input and PROXYPROTO_MAX, and the
 * header it spans is checked field by field (v1: a CRLF-terminated line of at
 * most 107 bytes naming the address; v2: the length field and the address
 * bytes). */
#include "autoconfig.h"

#include <sanitizer/asan_interface.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cidr.h"
#include "proto/proxyproto.h"

static bool same_info(const struct proxyproto_info *a, const struct proxyproto_info *b)
{
    return a->has_address == b->has_address && a->src_port == b->src_port &&
           memcmp(a->src.b, b->src.b, 16) == 0;
}

/* The v1 line of r bytes. */
static void check_v1(const uint8_t *data, long r, const struct proxyproto_info *info)
{
    const char *s = (const char *)data;
    size_t n = (size_t)r;
    if (n > 107 || n < 8 || memcmp(s, "PROXY ", 6) != 0 || s[n - 2] != '\r' || s[n - 1] != '\n')
        abort();
    for (size_t i = 0; i + 1 < n - 2; i++)
        if (s[i] == '\r' && s[i + 1] == '\n') abort();
    /* Fields at single spaces. */
    const char *f[8];
    size_t fl[8], nf = 0;
    const char *p = s, *end = s + n - 2;
    while (p <= end && nf < 8) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *e = sp ? sp : end;
        f[nf] = p;
        fl[nf++] = (size_t)(e - p);
        if (!sp) break;
        p = sp + 1;
    }
    if (nf < 2) abort();
    if (fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
        if (info->has_address) abort();
        return;
    }
    if (!info->has_address || nf < 6) abort();
    bool v4 = fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0;
    bool v6 = fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0;
    if (!v4 && !v6) abort();
    struct ip_addr src;
    if (!ip_parse(f[2], fl[2], &src) || memcmp(src.b, info->src.b, 16) != 0) abort();
    if (fl[4] < 1 || fl[4] > 5 || (fl[4] > 1 && f[4][0] == '0')) abort();
    unsigned port = 0;
    for (size_t i = 0; i < fl[4]; i++) {
        if (f[4][i] < '0' || f[4][i] > '9') abort();
        port = port * 10 + (unsigned)(f[4][i] - '0');
    }
    if (port != info->src_port || port > 65535) abort();
    if (v4 != (memchr(f[2], ':', fl[2]) == NULL)) abort();
}

/* The v2 header of r bytes. */
static void check_v2(const uint8_t *d, long r, const struct proxyproto_info *info)
{
    if (r < 16 || (size_t)r != 16 + ((size_t)d[14] << 8 | d[15]) || (d[12] & 0xF0) != 0x20) abort();
    uint8_t cmd = d[12] & 0x0F, fam = d[13];
    if (cmd == 0) {
        if (info->has_address) abort();
        return;
    }
    if (cmd != 1) abort();
    struct ip_addr want;
    unsigned port;
    memset(want.b, 0, 16);
    if (fam == 0x11 || fam == 0x12) {
        if (r < 16 + 12) abort();
        want.b[10] = want.b[11] = 0xff;
        memcpy(want.b + 12, d + 16, 4);
        port = (unsigned)d[24] << 8 | d[25];
    } else if (fam == 0x21 || fam == 0x22) {
        if (r < 16 + 36) abort();
        memcpy(want.b, d + 16, 16);
        port = (unsigned)d[48] << 8 | d[49];
    } else {
        if (info->has_address) abort();
        return;
    }
    if (!info->has_address || info->src_port != port || memcmp(want.b, info->src.b, 16) != 0)
        abort();
}

#define LIMIT (PROXYPROTO_MAX + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxyproto_info info, pinfo;
    long r = proxyproto_parse(data, size, &info);
    if (r < -1 || (r > 0 && ((size_t)r > size || r > PROXYPROTO_MAX))) abort();
    if (r <= 0 && info.has_address) abort();
    if (r > 0 && info.has_address && info.src_port > 65535) abort();
    if (r > 0) {
        if (data[0] == 'P')
            check_v1(data, r, &info);
        else if (data[0] == 0x0D)
            check_v2(data, r, &info);
        else
            abort();
    }

    /* The same bytes arriving one at a time; no decision needs more than
     * PROXYPROTO_MAX bytes. */
    size_t m = size < LIMIT ? size : LIMIT;
    uint8_t *buf = malloc(m ? m : 1);
    if (!buf) abort();
    memcpy(buf, data, m);
    ASAN_POISON_MEMORY_REGION(buf, m);
    bool refused = false;
    for (size_t k = 0; k <= m; k++) {
        if (k) ASAN_UNPOISON_MEMORY_REGION(buf + k - 1, 1);
        long p = proxyproto_parse(buf, k, &pinfo);
        if (r > 0) {
            if ((long)k < r ? p != 0 : p != r || !same_info(&pinfo, &info)) abort();
        } else if (r == 0) {
            if (p != 0) abort();
        } else {
            if (p != 0 && p != -1) abort();
            if (refused && p != -1) abort();
            refused = p == -1;
        }
    }
    if (proxyproto_parse(buf, m, &pinfo) != r) abort();
    ASAN_UNPOISON_MEMORY_REGION(buf, m);
    free(buf);
    return 0;
}
