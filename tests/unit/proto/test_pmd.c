#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "../tap.h"
#include "proto/http.h"
#include "proto/pmd.h"

static const struct pmd_config high15 = {.window_bits = 15};
static const struct pmd_config high12 = {.window_bits = 12};
static const struct pmd_config low15 = {.low_memory = true, .window_bits = 15};
static const struct pmd_config low10 = {.low_memory = true, .window_bits = 10};
static const struct pmd_config fixed12 = {
    .low_memory = true, .window_bits = 12, .fixed_window = true};
static const struct pmd_config fixed12_high = {.window_bits = 12, .fixed_window = true};

/* Negotiate over an exact-size copy of v (so reading past its end is caught
 * by ASan); *p gets the result. */
static bool negotiate(const struct pmd_config *cfg, const char *v, struct pmd_params *p)
{
    size_t n = strlen(v);
    char *copy = malloc(n ? n : 1);
    if (!copy) abort();
    memcpy(copy, v, n);
    memset(p, 0xA5, sizeof *p);
    bool r = pmd_negotiate_value(copy, n, cfg, p);
    free(copy);
    return r;
}

/* The response for offer v under cfg is want (NULL: every offer declined). */
static void answer(const struct pmd_config *cfg, const char *v, const char *want)
{
    struct pmd_params p;
    bool got = negotiate(cfg, v, &p);
    char buf[PMD_RESPONSE_MAX] = "";
    if (got) pmd_format(&p, buf, sizeof buf);
    if (!want)
        ok(!got, "declined: [%s] (got [%s])", escn(v, strlen(v)), buf);
    else
        ok(got && strcmp(buf, want) == 0, "[%s] -> [%s] (got %s)", escn(v, strlen(v)), want,
           got ? buf : "declined");
}

/* The agreed parameters, field by field. */
static void params(const struct pmd_config *cfg, const char *v, bool snct, bool cnct, int swb,
                   int cwb, bool send_s, bool send_c)
{
    struct pmd_params p;
    bool got = negotiate(cfg, v, &p);
    ok(got && p.server_nct == snct && p.client_nct == cnct && p.server_wbits == swb &&
           p.client_wbits == cwb && p.send_server_wbits == send_s && p.send_client_wbits == send_c,
       "[%s] (window %u%s%s): nct %d/%d bits %d/%d named %d/%d", escn(v, strlen(v)),
       cfg->window_bits, cfg->low_memory ? ", low memory" : "", cfg->fixed_window ? ", fixed" : "",
       snct, cnct, swb, cwb, send_s, send_c);
}

static void test_each_parameter(void)
{
    answer(&high15, "permessage-deflate", "permessage-deflate");
    answer(&high15, "permessage-deflate; server_no_context_takeover",
           "permessage-deflate; server_no_context_takeover");
    answer(&high15, "permessage-deflate; client_no_context_takeover",
           "permessage-deflate; client_no_context_takeover");
    answer(&high15, "permessage-deflate; server_max_window_bits=10",
           "permessage-deflate; server_max_window_bits=10");
    answer(&high15, "permessage-deflate; server_max_window_bits=15",
           "permessage-deflate; server_max_window_bits=15");
    answer(&high15, "permessage-deflate; server_max_window_bits=9",
           "permessage-deflate; server_max_window_bits=9");
    answer(&high15, "permessage-deflate; client_max_window_bits",
           "permessage-deflate; client_max_window_bits=15");
    answer(&high15, "permessage-deflate; client_max_window_bits=10",
           "permessage-deflate; client_max_window_bits=10");
    answer(&high15, "permessage-deflate; client_max_window_bits=8",
           "permessage-deflate; client_max_window_bits=8");
    /* All four, in another order: the answer has ours. */
    answer(&high15,
           "permessage-deflate; client_max_window_bits=9; server_max_window_bits=11; "
           "client_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=11; client_max_window_bits=9");
    answer(&high15, "permessage-deflate; server_no_context_takeover; client_max_window_bits",
           "permessage-deflate; server_no_context_takeover; client_max_window_bits=15");
    answer(&high15, "permessage-deflate; client_no_context_takeover; server_max_window_bits=12",
           "permessage-deflate; client_no_context_takeover; server_max_window_bits=12");

    params(&high15, "permessage-deflate", false, false, 15, 15, false, false);
    params(&high15, "permessage-deflate; server_max_window_bits=10", false, false, 10, 15, true,
           false);
    params(&high15, "permessage-deflate; client_max_window_bits=10", false, false, 15, 10, false,
           true);
    params(&high15, "permessage-deflate; client_max_window_bits", false, false, 15, 15, false,
           true);
}

static void test_values(void)
{
    /* Flags take no value, not even an empty one. */
    answer(&high15, "permessage-deflate; server_no_context_takeover=1", NULL);
    answer(&high15, "permessage-deflate; client_no_context_takeover=\"\"", NULL);
    answer(&high15, "permessage-deflate; client_no_context_takeover=x", NULL);
    /* server_max_window_bits needs one. */
    answer(&high15, "permessage-deflate; server_max_window_bits", NULL);
    answer(&high15, "permessage-deflate; server_max_window_bits=", NULL);
    answer(&high15, "permessage-deflate; server_max_window_bits=\"\"", NULL);
    answer(&high15, "permessage-deflate; client_max_window_bits=", NULL);
    answer(&high15, "permessage-deflate; client_max_window_bits=\"\"", NULL);
    /* 8..15, decimal, no leading zero or sign; 8 is valid but zlib cannot
     * compress with it. */
    static const char *const bad[] = {"0",  "1",  "7",  "16", "99",  "100", "08", "015",
                                      "+9", "-9", "9a", "a",  "1e1", "0x9", "9.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char v[128];
        snprintf(v, sizeof v, "permessage-deflate; server_max_window_bits=%s", bad[i]);
        answer(&high15, v, NULL);
        snprintf(v, sizeof v, "permessage-deflate; client_max_window_bits=%s", bad[i]);
        answer(&high15, v, NULL);
    }
    answer(&high15, "permessage-deflate; server_max_window_bits=8", NULL);
    answer(&low15, "permessage-deflate; server_max_window_bits=8", NULL);
    for (int b = 9; b <= 15; b++) {
        char v[128], want[128];
        snprintf(v, sizeof v, "permessage-deflate; server_max_window_bits=%d", b);
        snprintf(want, sizeof want, "permessage-deflate; server_max_window_bits=%d", b);
        answer(&high15, v, want);
    }
    for (int b = 8; b <= 15; b++) {
        char v[128], want[128];
        snprintf(v, sizeof v, "permessage-deflate; client_max_window_bits=%d", b);
        snprintf(want, sizeof want, "permessage-deflate; client_max_window_bits=%d", b);
        answer(&high15, v, want);
    }

    /* Quoted values: what counts is the value after unquoting. */
    answer(&high15, "permessage-deflate; client_max_window_bits=\"10\"",
           "permessage-deflate; client_max_window_bits=10");
    answer(&high15, "permessage-deflate; server_max_window_bits=\"12\"",
           "permessage-deflate; server_max_window_bits=12");
    answer(&high15, "permessage-deflate; server_max_window_bits=\"1\\2\"",
           "permessage-deflate; server_max_window_bits=12");
    answer(&high15, "permessage-deflate; server_max_window_bits=\"12 \"", NULL);
    answer(&high15, "permessage-deflate; server_max_window_bits=\" 12\"", NULL);
    answer(&high15, "permessage-deflate; server_max_window_bits=\"8\"", NULL);
    answer(&high15, "permessage-deflate; server_no_context_takeover=\"\"", NULL);
}

static void test_whitespace_and_syntax(void)
{
    answer(&high15, "  permessage-deflate  ", "permessage-deflate");
    answer(&high15, "permessage-deflate ;  server_max_window_bits = 12 ;client_no_context_takeover",
           "permessage-deflate; client_no_context_takeover; server_max_window_bits=12");
    answer(&high15, "permessage-deflate\t;\tclient_max_window_bits\t=\t\"9\"\t",
           "permessage-deflate; client_max_window_bits=9");
    answer(&high15, ", ,permessage-deflate,,", "permessage-deflate");
    answer(&high15, "", NULL);
    answer(&high15, " , ", NULL);
    /* Names are exact. */
    answer(&high15, "Permessage-Deflate", NULL);
    answer(&high15, "permessage-deflate; Server_No_Context_Takeover", NULL);
    answer(&high15, "permessage-deflat", NULL);
    answer(&high15, "permessage-deflatex", NULL);
    /* A syntax error drops the element it is in; the list goes on. */
    answer(&high15, "permessage-deflate;", NULL);
    answer(&high15, "permessage-deflate;, permessage-deflate", "permessage-deflate");
    answer(&high15, "permessage-deflate; ; server_no_context_takeover, permessage-deflate",
           "permessage-deflate");
    answer(&high15, "permessage-deflate server_no_context_takeover, permessage-deflate",
           "permessage-deflate");
    answer(&high15, "permessage-deflate=1, permessage-deflate; server_no_context_takeover",
           "permessage-deflate; server_no_context_takeover");
    answer(&high15, "@permessage-deflate, permessage-deflate", "permessage-deflate");
    answer(&high15, "permessage-deflate; client_max_window_bits=1 0, permessage-deflate",
           "permessage-deflate");
    answer(&high15, "permessage-deflate; x=\"a\"b, permessage-deflate", "permessage-deflate");
    answer(&high15, "permessage-deflate; client_max_window_bits=\"1\x01\", permessage-deflate",
           "permessage-deflate");
    answer(&high15, "permessage-deflate; client_max_window_bits=\"1\x7f\"", NULL);
    answer(&high15, "permessage-deflate; =12, permessage-deflate", "permessage-deflate");
    answer(&high15, "permessage-deflate; a==b, permessage-deflate", "permessage-deflate");
    /* An unterminated quoted-string hides every later comma. */
    answer(&high15, "permessage-deflate; x=\"unterminated, permessage-deflate", NULL);
    answer(&high15, "foo\"bar, permessage-deflate", NULL);
    answer(&high15, "permessage-deflate; x=\"a\\", NULL);
    answer(&high15, "permessage-deflate; x=\"a\\\"\", permessage-deflate", "permessage-deflate");
    /* ...and resync skips a quoted comma. */
    answer(&high15, "permessage-deflate; @ x=\"a, permessage-deflate\"", NULL);
    answer(&high15, "permessage-deflate; @ x=\"a, b\", permessage-deflate", "permessage-deflate");
}

static void test_offers(void)
{
    /* The first acceptable offer wins. */
    answer(&high15, "permessage-deflate; server_no_context_takeover, permessage-deflate",
           "permessage-deflate; server_no_context_takeover");
    answer(&high15,
           "permessage-deflate; server_max_window_bits=8, "
           "permessage-deflate; server_max_window_bits=9",
           "permessage-deflate; server_max_window_bits=9");
    answer(&high15, "permessage-deflate; foo, permessage-deflate", "permessage-deflate");
    answer(&high15,
           "permessage-deflate; client_max_window_bits=20, "
           "permessage-deflate; client_max_window_bits",
           "permessage-deflate; client_max_window_bits=15");
    /* Other extensions, before and after, with parameters. */
    answer(&high15, "x-webkit-deflate-frame, permessage-deflate", "permessage-deflate");
    answer(&high15, "permessage-deflate, foo; bar=baz", "permessage-deflate");
    answer(&high15, "foo; a=\"x, y\"; b, permessage-deflate; client_no_context_takeover",
           "permessage-deflate; client_no_context_takeover");
    answer(&high15, "foo, bar; permessage-deflate", NULL);
    answer(&high15, "foo; permessage-deflate=1", NULL);
    /* Duplicates decline the offer. */
    answer(&high15, "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           NULL);
    answer(&high15, "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
           NULL);
    answer(&high15, "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
           NULL);
    answer(&high15, "permessage-deflate; client_max_window_bits; client_max_window_bits=10", NULL);
    answer(&high15,
           "permessage-deflate; client_max_window_bits; client_max_window_bits, "
           "permessage-deflate; client_no_context_takeover",
           "permessage-deflate; client_no_context_takeover");
    /* Unknown parameters decline it. */
    answer(&high15, "permessage-deflate; mux", NULL);
    answer(&high15, "permessage-deflate; server_no_context_takeover; x=1", NULL);
}

static void test_configs(void)
{
    /* Low memory: both directions without context takeover, always; the
     * client's window is never named. */
    answer(&low15, "permessage-deflate",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    answer(&low15, "permessage-deflate; client_max_window_bits=10",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    params(&low15, "permessage-deflate; client_max_window_bits=10", true, true, 15, 10, false,
           false);
    params(&low15, "permessage-deflate; client_max_window_bits", true, true, 15, 15, false, false);
    answer(&low10, "permessage-deflate",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    params(&low10, "permessage-deflate", true, true, 10, 15, false, false);
    answer(&low10, "permessage-deflate; server_max_window_bits=12",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=10");
    answer(&low10, "permessage-deflate; server_max_window_bits=9",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=9");

    /* High ratio with a 12-bit window: ours bounds both. */
    answer(&high12, "permessage-deflate", "permessage-deflate");
    params(&high12, "permessage-deflate", false, false, 12, 15, false, false);
    answer(&high12, "permessage-deflate; server_max_window_bits=14",
           "permessage-deflate; server_max_window_bits=12");
    answer(&high12, "permessage-deflate; server_max_window_bits=10",
           "permessage-deflate; server_max_window_bits=10");
    answer(&high12, "permessage-deflate; client_max_window_bits",
           "permessage-deflate; client_max_window_bits=12");
    answer(&high12, "permessage-deflate; client_max_window_bits=10",
           "permessage-deflate; client_max_window_bits=10");
    params(&high12, "permessage-deflate; client_max_window_bits=14", false, false, 12, 12, false,
           true);

    /* Fixed window: exactly 12, never less; always server_no_context_takeover. */
    answer(&fixed12, "permessage-deflate",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    params(&fixed12, "permessage-deflate", true, true, 12, 15, false, false);
    answer(&fixed12, "permessage-deflate; server_max_window_bits=11", NULL);
    answer(&fixed12, "permessage-deflate; server_max_window_bits=12",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=12");
    answer(&fixed12, "permessage-deflate; server_max_window_bits=15",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=12");
    answer(&fixed12, "permessage-deflate; server_max_window_bits=9, permessage-deflate",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    answer(&fixed12_high, "permessage-deflate", "permessage-deflate; server_no_context_takeover");
    answer(&fixed12_high, "permessage-deflate; client_max_window_bits",
           "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
    params(&fixed12_high, "permessage-deflate; server_max_window_bits=13", true, false, 12, 15,
           true, false);

    /* A window we cannot compress with declines everything. */
    static const uint8_t bad_bits[] = {0, 8, 16, 255};
    for (size_t i = 0; i < sizeof bad_bits; i++) {
        struct pmd_config c = {.window_bits = bad_bits[i]};
        struct pmd_params p;
        ok(!negotiate(&c, "permessage-deflate", &p), "window_bits %u in the config: declined",
           bad_bits[i]);
    }
}

/* A parsed request; the text must outlive it. */
struct parsed {
    char *text;
    struct http_request req;
    long rc;
};

static void parse_request(struct parsed *p, const char *const *headers)
{
    struct buf b = {0};
    static const char line[] = "GET /chat HTTP/1.1\r\nHost: example.com\r\n";
    if (buf_append(&b, line, strlen(line)) < 0) abort();
    for (const char *const *h = headers; *h; h++)
        if (buf_append(&b, *h, strlen(*h)) < 0 || buf_append(&b, "\r\n", 2) < 0) abort();
    if (buf_append(&b, "\r\n", 3) < 0) abort(); /* with a NUL to end the string */
    p->text = strdup((const char *)buf_head(&b));
    buf_free(&b);
    if (!p->text) abort();
    struct http_parser hp;
    http_parser_init(&hp);
    p->rc = http_parse(&hp, p->text, strlen(p->text), &p->req);
}

static void request_answer(const struct pmd_config *cfg, const char *const *headers,
                           const char *want, const char *what)
{
    struct parsed r;
    parse_request(&r, headers);
    struct pmd_params p;
    bool got = r.rc > 0 && pmd_negotiate(&r.req, cfg, &p);
    char buf[PMD_RESPONSE_MAX] = "";
    if (got) pmd_format(&p, buf, sizeof buf);
    ok(r.rc > 0 && (want ? got && strcmp(buf, want) == 0 : !got), "request: %s (got [%s])", what,
       got ? buf : "declined");
    free(r.text);
}

static void test_requests(void)
{
    request_answer(&high15, (const char *const[]){"Upgrade: websocket", NULL}, NULL, "no header");
    request_answer(&high15,
                   (const char *const[]){"Sec-WebSocket-Extensions: permessage-deflate", NULL},
                   "permessage-deflate", "one line");
    request_answer(&high15,
                   (const char *const[]){"Sec-WebSocket-Extensions: foo",
                                         "Sec-WebSocket-Extensions: permessage-deflate; "
                                         "server_max_window_bits=8",
                                         "sec-websocket-extensions: permessage-deflate; "
                                         "client_no_context_takeover",
                                         "Sec-WebSocket-Extensions: permessage-deflate", NULL},
                   "permessage-deflate; client_no_context_takeover",
                   "the first acceptable offer over several lines, names in any case");
    request_answer(&high15,
                   (const char *const[]){"Sec-WebSocket-Extensions: permessage-deflate; x=\"open",
                                         "Sec-WebSocket-Extensions: permessage-deflate; "
                                         "server_no_context_takeover",
                                         NULL},
                   "permessage-deflate; server_no_context_takeover",
                   "a line that cannot be parsed does not hide the next");
    request_answer(&high15,
                   (const char *const[]){"Sec-WebSocket-Extensions: permessage-deflate; "
                                         "server_no_context_takeover",
                                         "Sec-WebSocket-Extensions: permessage-deflate", NULL},
                   "permessage-deflate; server_no_context_takeover", "the first line first");
    request_answer(&high15,
                   (const char *const[]){"Sec-WebSocket-Extension: permessage-deflate", NULL}, NULL,
                   "another header's name");
    request_answer(&low15,
                   (const char *const[]){"Sec-WebSocket-Extensions: x-foo, permessage-deflate; "
                                         "client_max_window_bits",
                                         NULL},
                   "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                   "low memory");

    /* Built by hand: the values need not end in a NUL. */
    struct http_request req = {0};
    static const char v1[] = "permessage-deflate; server_max_window_bits=8XXXX";
    static const char v2[] = "permessage-deflate; server_max_window_bits=9";
    req.headers[0] = (struct http_header){"Sec-WebSocket-Extensions", 24, v1, 44};
    req.headers[1] = (struct http_header){"Origin", 6, "https://a", 9};
    req.headers[2] = (struct http_header){"SEC-WEBSOCKET-EXTENSIONS", 24, v2, sizeof v2 - 1};
    req.nheaders = 3;
    struct pmd_params p;
    ok(pmd_negotiate(&req, &high15, &p) && p.server_wbits == 9 && p.send_server_wbits,
       "request built by hand: counted values, the second line's offer");
    req.nheaders = 2;
    ok(!pmd_negotiate(&req, &high15, &p), "request built by hand: only the declined offer");
}

static void format_is(const struct pmd_params *p, const char *want)
{
    char buf[PMD_RESPONSE_MAX];
    memset(buf, 'x', sizeof buf);
    size_t n = pmd_format(p, buf, sizeof buf);
    ok(n == strlen(want) && strcmp(buf, want) == 0, "format: [%s] (got [%s])", want, buf);
}

static void test_format(void)
{
    format_is(&(struct pmd_params){.server_wbits = 15, .client_wbits = 15}, "permessage-deflate");
    format_is(&(struct pmd_params){.server_nct = true, .server_wbits = 15, .client_wbits = 15},
              "permessage-deflate; server_no_context_takeover");
    format_is(&(struct pmd_params){.client_nct = true, .server_wbits = 15, .client_wbits = 15},
              "permessage-deflate; client_no_context_takeover");
    format_is(&(struct pmd_params){.server_wbits = 9, .client_wbits = 15, .send_server_wbits = 1},
              "permessage-deflate; server_max_window_bits=9");
    format_is(&(struct pmd_params){.server_wbits = 15, .client_wbits = 8, .send_client_wbits = 1},
              "permessage-deflate; client_max_window_bits=8");
    format_is(&(struct pmd_params){.server_wbits = 12, .client_wbits = 10},
              "permessage-deflate"); /* windows not named are not written */
    const struct pmd_params all = {true, true, 15, 15, true, true};
    static const char all_text[] =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=15; client_max_window_bits=15";
    format_is(&all, all_text);
    ok(sizeof all_text == PMD_RESPONSE_MAX, "PMD_RESPONSE_MAX is the longest answer (%zu)",
       sizeof all_text);

    char buf[PMD_RESPONSE_MAX];
    size_t len = sizeof all_text - 1;
    memset(buf, 'x', sizeof buf);
    ok(pmd_format(&all, buf, len) == 0 && buf[0] == '\0', "format: one byte short: 0 and \"\"");
    ok(pmd_format(&all, buf, len + 1) == len && strcmp(buf, all_text) == 0,
       "format: exactly enough");
    ok(pmd_format(&all, NULL, 0) == 0, "format: no buffer at all");

    /* What pmd_format writes negotiates back to the same thing. */
    static const char *const offers[] = {
        "permessage-deflate",
        "permessage-deflate; server_max_window_bits=13; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=15",
    };
    const struct pmd_config *const cfgs[] = {&high15, &high12, &low10, &fixed12_high};
    for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++)
        for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
            struct pmd_params a, b;
            char text[PMD_RESPONSE_MAX];
            bool first = negotiate(cfgs[k], offers[i], &a);
            bool again = first && pmd_format(&a, text, sizeof text) && negotiate(cfgs[k], text, &b);
            ok(first && again && a.server_nct == b.server_nct && a.client_nct == b.client_nct &&
                   a.server_wbits == b.server_wbits && a.send_server_wbits == b.send_server_wbits &&
                   a.send_client_wbits == b.send_client_wbits &&
                   (a.send_client_wbits ? b.client_wbits == a.client_wbits : b.client_wbits == 15),
               "the answer to [%s] (config %zu) negotiates to the same (the client's window "
               "when named)",
               offers[i], k);
        }
}

int main(void)
{
    test_each_parameter();
    test_values();
    test_whitespace_and_syntax();
    test_offers();
    test_configs();
    test_requests();
    test_format();
    return tap_finish();
}
