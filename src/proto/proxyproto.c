#include "autoconfig.h"

#include "proto/proxyproto.h"

#include <string.h>

static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define V1_MAX 107 /* the longest line the specification allows, CRLF included */

static bool parse_port(const char *s, size_t n, unsigned *port)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535) return false;
    *port = v;
    return true;
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", or "PROXY UNKNOWN ...\r\n". */
static long parse_v1(const uint8_t *buf, size_t len, struct proxyproto_info *info)
{
    const char *s = (const char *)buf;
    size_t lim = len < V1_MAX ? len : V1_MAX;
    const char *crlf = NULL;
    for (size_t i = 0; i + 1 < lim; i++)
        if (s[i] == '\r' && s[i + 1] == '\n') {
            crlf = s + i;
            break;
        }
    if (!crlf) return len >= V1_MAX ? -1 : 0;
    long total = (long)(crlf - s) + 2;
    const char *f[6];
    size_t fl[6], nf = 0;
    const char *p = s, *end = crlf;
    while (p < end && nf < 6) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *e = sp ? sp : end;
        f[nf] = p;
        fl[nf++] = (size_t)(e - p);
        p = sp ? sp + 1 : end;
    }
    if (nf < 2 || fl[0] != 5 || memcmp(f[0], "PROXY", 5) != 0) return -1;
    if (fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
        info->has_address = false;
        return total;
    }
    bool tcp4 = fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0;
    bool tcp6 = fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0;
    if ((!tcp4 && !tcp6) || nf != 6 || p != end || end[-1] == ' ') return -1;
    for (size_t k = 2; k < 4; k++)
        if (fl[k] == 0 || memchr(f[k], '[', fl[k])) return -1; /* bare addresses only */
    struct ip_addr src, dst;
    unsigned sport, dport;
    if (!ip_parse(f[2], fl[2], &src) || !ip_parse(f[3], fl[3], &dst) ||
        !parse_port(f[4], fl[4], &sport) || !parse_port(f[5], fl[5], &dport))
        return -1;
    /* the family word must match the addresses */
    bool src_v4 = memchr(f[2], ':', fl[2]) == NULL, dst_v4 = memchr(f[3], ':', fl[3]) == NULL;
    if (src_v4 != tcp4 || dst_v4 != tcp4) return -1;
    info->has_address = true;
    info->src = src;
    info->src_port = sport;
    return total;
}

static long parse_v2(const uint8_t *buf, size_t len, struct proxyproto_info *info)
{
    if (len < 16) return 0;
    uint8_t ver_cmd = buf[12], fam = buf[13];
    size_t body = (size_t)buf[14] << 8 | buf[15];
    if ((ver_cmd & 0xF0) != 0x20) return -1;
    if (16 + body > PROXYPROTO_MAX) return -1;
    if (len < 16 + body) return 0;
    uint8_t cmd = ver_cmd & 0x0F;
    if (cmd == 0x0) { /* LOCAL: a health check from the proxy itself */
        info->has_address = false;
        return (long)(16 + body);
    }
    if (cmd != 0x1) return -1;
    const uint8_t *a = buf + 16;
    switch (fam) {
    case 0x11: /* TCP over IPv4 */
    case 0x12: /* UDP over IPv4 */
        if (body < 12) return -1;
        memset(info->src.b, 0, 10);
        info->src.b[10] = info->src.b[11] = 0xff;
        memcpy(info->src.b + 12, a, 4);
        info->src_port = (unsigned)a[8] << 8 | a[9];
        info->has_address = true;
        break;
    case 0x21: /* TCP over IPv6 */
    case 0x22:
        if (body < 36) return -1;
        memcpy(info->src.b, a, 16);
        info->src_port = (unsigned)a[32] << 8 | a[33];
        info->has_address = true;
        break;
    default: /* UNSPEC or unix sockets: no address we can use */ info->has_address = false; break;
    }
    return (long)(16 + body);
}

long proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_info *info)
{
    memset(info, 0, sizeof *info);
    size_t n = len < sizeof v2_signature ? len : sizeof v2_signature;
    if (memcmp(buf, v2_signature, n) == 0)
        return len < sizeof v2_signature ? 0 : parse_v2(buf, len, info);
    n = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", n) == 0) return len < 6 ? 0 : parse_v1(buf, len, info);
    return -1;
}
