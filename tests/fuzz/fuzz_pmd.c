/* libFuzzer target for permessage-deflate negotiation (pmd.c).
 *
 * Input layout: byte 0 picks one configuration, the rest is one
 * Sec-WebSocket-Extensions value.
 *   byte 0 bit 0:    low_memory
 *   byte 0 bit 1:    fixed_window
 *   byte 0 bits 2-7: window_bits 9 + (value % 7); 63 gives an invalid 8
 *
 * The value (an exact-size copy, so ASan sees any read past its end) is
 * negotiated under that configuration and three fixed ones (high ratio at
 * 15, low memory at 15, fixed at 12). An accepted offer must give parameters
 * in range and consistent with the configuration, name only what the value
 * could have offered, and format to an answer that fits PMD_RESPONSE_MAX,
 * is refused by a buffer one byte short, and, read back as an offer,
 * negotiates to the same parameters (the client's window when not named:
 * 15). pmd_negotiate() over a request holding the value as its one
 * Sec-WebSocket-Extensions line (between two other headers) must agree. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "proto/pmd.h"

#include "fuzz_exact.h"

/* One memmem, not a memcmp at every position: each memcmp is a call into
 * ASan's and libFuzzer's interceptors. */
static bool contains(const char *v, size_t n, const char *s)
{
    return memmem(v, n, s, strlen(s)) != NULL;
}

static bool same_params(const struct pmd_params *a, const struct pmd_params *b)
{
    return a->server_nct == b->server_nct && a->client_nct == b->client_nct &&
           a->server_wbits == b->server_wbits && a->client_wbits == b->client_wbits &&
           a->send_server_wbits == b->send_server_wbits &&
           a->send_client_wbits == b->send_client_wbits;
}

static void check(const struct pmd_config *cfg, const char *v, size_t n)
{
    struct pmd_params p;
    memset(&p, 0xA5, sizeof p);
    const bool got = pmd_negotiate_value(v, n, cfg, &p);

    struct http_request req;
    memset(&req, 0, sizeof req);
    req.headers[0] = (struct http_header){"Host", 4, "a", 1};
    req.headers[1] = (struct http_header){"Sec-WebSocket-Extensions", 24, v, n};
    req.headers[2] = (struct http_header){"Sec-WebSocket-Extensionz", 24, "permessage-deflate", 18};
    req.nheaders = 3;
    struct pmd_params q;
    if (pmd_negotiate(&req, cfg, &q) != got || (got && !same_params(&p, &q))) abort();

    if (!got) return;
    const uint8_t w = cfg->window_bits;
    if (w < 9 || w > 15) abort(); /* a bad configuration accepts nothing */
    if (!contains(v, n, "permessage-deflate")) abort();
    if (p.server_wbits < 9 || p.server_wbits > w) abort();
    if (cfg->fixed_window && (p.server_wbits != w || !p.server_nct)) abort();
    if (p.client_wbits < 8 || p.client_wbits > 15) abort();
    if (p.send_client_wbits && p.client_wbits > w) abort();
    if (cfg->low_memory && (!p.server_nct || !p.client_nct || p.send_client_wbits)) abort();
    if (p.send_server_wbits && !contains(v, n, "server_max_window_bits")) abort();
    if (!p.send_server_wbits && p.server_wbits != w) abort();
    if (p.client_wbits != 15 && !contains(v, n, "client_max_window_bits")) abort();
    if (p.send_client_wbits && !contains(v, n, "client_max_window_bits")) abort();
    if (p.server_nct && !cfg->low_memory && !cfg->fixed_window &&
        !contains(v, n, "server_no_context_takeover"))
        abort();
    if (p.client_nct && !cfg->low_memory && !contains(v, n, "client_no_context_takeover")) abort();

    char text[PMD_RESPONSE_MAX];
    memset(text, 'x', sizeof text);
    size_t len = pmd_format(&p, text, sizeof text);
    if (len == 0 || len >= sizeof text || text[len] != '\0' || strlen(text) != len) abort();
    char shorter[PMD_RESPONSE_MAX];
    if (pmd_format(&p, shorter, len) != 0 || shorter[0] != '\0') abort();

    static struct exact answer;
    const char *copy = (const char *)exact_copy(&answer, text, len);
    struct pmd_params b;
    if (!pmd_negotiate_value(copy, len, cfg, &b)) abort();
    if (!p.send_client_wbits) {
        if (b.client_wbits != 15) abort();
        b.client_wbits = p.client_wbits;
    }
    if (!same_params(&p, &b)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t sel = data[0];
    const size_t n = size - 1;
    static struct exact value;
    const char *v = (const char *)exact_copy(&value, data + 1, n);

    const uint8_t wsel = sel >> 2;
    const struct pmd_config chosen = {
        .low_memory = sel & 1,
        .fixed_window = sel & 2,
        .window_bits = (uint8_t)(wsel == 63 ? 8 : 9 + wsel % 7),
    };
    static const struct pmd_config fixed[] = {
        {.window_bits = 15},
        {.low_memory = true, .window_bits = 15},
        {.low_memory = true, .window_bits = 12, .fixed_window = true},
    };
    check(&chosen, v, n);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) check(&fixed[i], v, n);
    return 0;
}
