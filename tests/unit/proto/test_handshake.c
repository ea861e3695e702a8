#include "autoconfig.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/handshake.h"
#include "proto/http.h"
#include "../tap.h"

/* A parsed request; the text must outlive it. */
struct parsed {
    char *text;
    struct http_request req;
    long rc;
};

static void parse(struct parsed *p, const char *text)
{
    struct http_parser hp;
    http_parser_init(&hp);
    p->text = strdup(text);
    p->rc = http_parse(&hp, p->text, strlen(p->text), &p->req);
}

/* A request built from a request line and header lines, each "Name: value". */
static void build(struct parsed *p, const char *request_line, const char *const *headers)
{
    struct buf b = {0};
    buf_append(&b, request_line, strlen(request_line));
    buf_append(&b, "\r\n", 2);
    for (const char *const *h = headers; *h; h++) {
        buf_append(&b, *h, strlen(*h));
        buf_append(&b, "\r\n", 2);
    }
    buf_append(&b, "\r\n", 3); /* with a NUL to end the string */
    parse(p, (const char *)buf_head(&b));
    buf_free(&b);
}

static void release(struct parsed *p)
{
    free(p->text);
}

#define RFC_KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* ---- Sec-WebSocket-Accept and key checks ---------------------------------- */

static void test_accept(void)
{
    char out[HANDSHAKE_ACCEPT_LEN + 1];
    memset(out, 'x', sizeof out);
    ok(handshake_accept(RFC_KEY, strlen(RFC_KEY), out) && strcmp(out, RFC_ACCEPT) == 0,
       "RFC 6455 example: key %s -> accept %s", RFC_KEY, RFC_ACCEPT);

    static const char other[] = "x3JJHMbDL1EzLkh9GBhXDw==";
    ok(handshake_accept(other, strlen(other), out) &&
           strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0,
       "a second key: x3JJHMbDL1EzLkh9GBhXDw== -> HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    ok(handshake_accept(RFC_KEY, strlen(RFC_KEY) - 1, out) && strcmp(out, RFC_ACCEPT) != 0,
       "the whole key goes into the hash");
}

static void test_key_valid(void)
{
    ok(handshake_key_valid(RFC_KEY, strlen(RFC_KEY)), "the RFC's example key is valid");

    /* Base64 of random-looking 15, 16, 17 and 18 byte values. */
    int bad16 = 0;
    for (int seed = 0; seed < 256; seed++) {
        unsigned char raw[18];
        for (int i = 0; i < 18; i++) raw[i] = (unsigned char)(seed * 31 + i * 97 + (seed >> 3));
        char enc[40];
        int n = EVP_EncodeBlock((unsigned char *)enc, raw, 16);
        if (!handshake_key_valid(enc, (size_t)n)) bad16++;
        n = EVP_EncodeBlock((unsigned char *)enc, raw, 15);
        if (handshake_key_valid(enc, (size_t)n)) bad16++;
        n = EVP_EncodeBlock((unsigned char *)enc, raw, 17);
        if (handshake_key_valid(enc, (size_t)n)) bad16++;
        n = EVP_EncodeBlock((unsigned char *)enc, raw, 18);
        if (handshake_key_valid(enc, (size_t)n)) bad16++;
    }
    ok(bad16 == 0,
       "256 encoded 16-byte keys are valid; their 15, 17 and 18-byte cousins are "
       "not (%d wrong)",
       bad16);

    static const struct {
        const char *name;
        const char *key;
    } invalid[] = {
        {"15-byte key", "AAECAwQFBgcICQoLDA0O"},
        {"17-byte key", "AAECAwQFBgcICQoLDA0ODxA="},
        {"missing padding", "dGhlIHNhbXBsZSBub25jZQ"},
        {"one '=' only", "dGhlIHNhbXBsZSBub25jZQ="},
        {"base64url '-'", "dGhlIHNhbXBsZSBub25j-Q=="},
        {"base64url '_'", "dGhlIHNhbXBsZSBub25j_Q=="},
        {"a space inside", "dGhlIHNhbXBsZSBub25j Q=="},
        {"'=' in the middle", "dGhlIHNhbXBs=SBub25jZQ=="},
        {"three '='", "dGhlIHNhbXBsZSBub25jZ==="},
        {"empty", ""},
        {"trailing newline", "dGhlIHNhbXBsZSBub25jZQ==\n"},
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        ok(!handshake_key_valid(invalid[i].key, strlen(invalid[i].key)), "invalid key: %s",
           invalid[i].name);
    ok(!handshake_key_valid(RFC_KEY, strlen(RFC_KEY) - 1), "the length given is honoured");
}

/* ---- handshake_check ------------------------------------------------------ */

struct check_case {
    const char *name;
    const char *request_line;
    const char *headers[10];
    int status;
};

#define H_HOST    "Host: example.com"
#define H_UPGRADE "Upgrade: websocket"
#define H_CONN    "Connection: Upgrade"
#define H_VERSION "Sec-WebSocket-Version: 13"
#define H_KEY     "Sec-WebSocket-Key: " RFC_KEY

static const struct check_case check_cases[] = {
    {"a valid request", "GET /chat HTTP/1.1", {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION}, 0},
    {"Connection: keep-alive, Upgrade",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, "Connection: keep-alive, Upgrade", H_KEY, H_VERSION},
     0},
    {"Connection token in any case",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, "connection: UPGRADE", H_KEY, H_VERSION},
     0},
    {"extra headers (Origin, protocols) are fine",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION, "Origin: http://x",
      "Sec-WebSocket-Protocol: chat"},
     0},
    {"HTTP/1.0", "GET / HTTP/1.0", {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION}, 400},
    {"POST", "POST / HTTP/1.1", {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION}, 405},
    {"HEAD", "HEAD / HTTP/1.1", {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION}, 405},
    {"no Host", "GET / HTTP/1.1", {H_UPGRADE, H_CONN, H_KEY, H_VERSION}, 400},
    {"two Host headers",
     "GET / HTTP/1.1",
     {H_HOST, H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION},
     400},
    {"no Connection", "GET / HTTP/1.1", {H_HOST, H_UPGRADE, H_KEY, H_VERSION}, 400},
    {"Connection without upgrade",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, "Connection: keep-alive", H_KEY, H_VERSION},
     400},
    {"Connection: upgraded is not upgrade",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, "Connection: upgraded", H_KEY, H_VERSION},
     400},
    {"missing version", "GET / HTTP/1.1", {H_HOST, H_UPGRADE, H_CONN, H_KEY}, 400},
    {"version 8",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, H_CONN, H_KEY, "Sec-WebSocket-Version: 8"},
     426},
    {"version \"13, 8\"",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, H_CONN, H_KEY, "Sec-WebSocket-Version: 13, 8"},
     426},
    {"two version headers",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION, H_VERSION},
     426},
    {"missing key", "GET / HTTP/1.1", {H_HOST, H_UPGRADE, H_CONN, H_VERSION}, 400},
    {"two keys", "GET / HTTP/1.1", {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_KEY, H_VERSION}, 400},
    {"a 15-byte key",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, H_CONN, "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0O", H_VERSION},
     400},
    {"a key with bad characters",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, H_CONN, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j-Q==", H_VERSION},
     400},
    {"an empty key",
     "GET / HTTP/1.1",
     {H_HOST, H_UPGRADE, H_CONN, "Sec-WebSocket-Key:", H_VERSION},
     400},
};

static void test_check(void)
{
    for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
        const struct check_case *c = &check_cases[i];
        struct parsed p;
        build(&p, c->request_line, c->headers);
        const char *why = NULL;
        int status = p.rc > 0 ? handshake_check(&p.req, &why) : -1;
        bool why_ok = c->status == 0 || (why != NULL && *why != '\0');
        ok(status == c->status && why_ok, "handshake_check: %s -> %d (got %d%s%s)", c->name,
           c->status, status, why ? ", " : "", why ? why : "");
        release(&p);
    }

    /* Methods are case-sensitive (RFC 9110 9.1) and RFC 6455 4.1 requires GET. */
    struct parsed p;
    static const char *const all[] = {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION, NULL};
    build(&p, "get / HTTP/1.1", all);
    const char *why = NULL;
    int status = p.rc > 0 ? handshake_check(&p.req, &why) : -1;
    ok(status == 405, "handshake_check: lowercase method \"get\" -> 405 (got %d)", status);
    release(&p);
}

static void test_is_upgrade(void)
{
    static const struct {
        const char *upgrade; /* NULL: no Upgrade header */
        bool want;
    } cases[] = {
        {"Upgrade: websocket", true},      {"Upgrade: WebSocket", true},
        {"Upgrade: foo, websocket", true}, {"Upgrade: h2c", false},
        {"Upgrade: websockets", false},    {NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *headers[3] = {H_HOST, cases[i].upgrade, NULL};
        struct parsed p;
        build(&p, "GET / HTTP/1.1", headers);
        ok(p.rc > 0 && handshake_is_upgrade(&p.req) == cases[i].want,
           "handshake_is_upgrade: %s -> %s", cases[i].upgrade ? cases[i].upgrade : "no header",
           cases[i].want ? "yes" : "no");
        release(&p);
    }
}

/* ---- responses -------------------------------------------------------------- */

static void test_append_101(void)
{
    static const char *const headers[] = {H_HOST, H_UPGRADE, H_CONN, H_KEY, H_VERSION, NULL};
    struct parsed p;
    build(&p, "GET /chat HTTP/1.1", headers);

    static const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                               "\r\n";
    struct buf out = {0};
    int rc = handshake_append_101(&out, &p.req, NULL, NULL, NULL);
    ok(rc == 0 && buf_len(&out) == sizeof want - 1 &&
           memcmp(buf_head(&out), want, sizeof want - 1) == 0,
       "101 answer for the RFC's example key, byte for byte");
    buf_free(&out);

    static const char want_extra[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                     "Upgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                                     "X-A: 1\r\nX-B: two\r\n"
                                     "\r\n";
    buf_append(&out, "before", 6);
    rc = handshake_append_101(&out, &p.req, NULL, NULL, "X-A: 1\r\nX-B: two\r\n");
    ok(rc == 0 && buf_len(&out) == 6 + sizeof want_extra - 1 &&
           memcmp(buf_head(&out), "before", 6) == 0 &&
           memcmp(buf_head(&out) + 6, want_extra, sizeof want_extra - 1) == 0,
       "extra header lines go before the blank line; existing output is kept");
    buf_free(&out);

    static const char want_proto[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                     "Upgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                                     "Sec-WebSocket-Protocol: binary\r\n"
                                     "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                     "X-A: 1\r\n"
                                     "\r\n";
    rc = handshake_append_101(&out, &p.req, "binary", "permessage-deflate", "X-A: 1\r\n");
    ok(rc == 0 && buf_len(&out) == sizeof want_proto - 1 &&
           memcmp(buf_head(&out), want_proto, sizeof want_proto - 1) == 0,
       "the chosen subprotocol and the agreed extensions are named in the 101");
    buf_free(&out);
    release(&p);

    ok(handshake_error_headers(405) && strcmp(handshake_error_headers(405), "Allow: GET\r\n") == 0,
       "405 comes with \"Allow: GET\"");
    ok(handshake_error_headers(426) &&
           strcmp(handshake_error_headers(426), "Sec-WebSocket-Version: 13\r\n") == 0,
       "426 comes with \"Sec-WebSocket-Version: 13\"");
    ok(handshake_error_headers(400) == NULL && handshake_error_headers(0) == NULL,
       "other statuses come with no extra header");

    /* The error answers are well-formed when combined with http_append_error. */
    ok(http_append_error(&out, 426, "v", NULL, handshake_error_headers(426), true) == 0 &&
           memmem(buf_head(&out), buf_len(&out), "\r\nSec-WebSocket-Version: 13\r\n", 29),
       "the 426 answer carries the version header");
    buf_free(&out);
}

/* ---- subprotocols -------------------------------------------------------------- */

/* The pick for a request with these Sec-WebSocket-Protocol lines (NULL-ended). */
static const char *pick(const char *const *offers, char *const *ours, size_t n)
{
    const char *headers[8] = {"Host: x"};
    size_t k = 1;
    char lines[6][128];
    for (; offers[k - 1] && k < 7; k++) {
        snprintf(lines[k - 1], sizeof lines[0], "Sec-WebSocket-Protocol: %s", offers[k - 1]);
        headers[k] = lines[k - 1];
    }
    headers[k] = NULL;
    static struct parsed p;
    build(&p, "GET / HTTP/1.1", headers);
    const char *r = p.rc > 0 ? handshake_pick_subprotocol(&p.req, ours, n) : "(unparsed)";
    release(&p);
    return r;
}

static void check_pick(const char *const *offers, char *const *ours, size_t n, const char *want)
{
    const char *got = pick(offers, ours, n);
    ok(want ? got && strcmp(got, want) == 0 : got == NULL, "offer \"%s\"%s -> %s (got %s)",
       offers[0] ? offers[0] : "", offers[0] && offers[1] ? " + more" : "", want ? want : "none",
       got ? got : "none");
}

static void test_pick_subprotocol(void)
{
    char *chat_first[] = {"chat", "superchat", NULL};
    char *super_first[] = {"superchat", "chat", NULL};
    check_pick((const char *[]){"chat", NULL}, chat_first, 2, "chat");
    check_pick((const char *[]){"superchat, chat", NULL}, chat_first, 2, "chat"); /* our order */
    check_pick((const char *[]){"chat,superchat", NULL}, super_first, 2, "superchat");
    check_pick((const char *[]){" \t chat \t", NULL}, chat_first, 2, "chat"); /* trimmed */
    check_pick((const char *[]){"x", "superchat", NULL}, chat_first, 2, "superchat");
    check_pick((const char *[]){"Chat", NULL}, chat_first, 2, NULL); /* exact: browsers check so */
    check_pick((const char *[]){"chatty, cha, hat", NULL}, chat_first, 2, NULL);
    check_pick((const char *[]){",,", NULL}, chat_first, 2, NULL);
    check_pick((const char *[]){NULL}, chat_first, 2, NULL);
    check_pick((const char *[]){"chat", NULL}, chat_first, 0, NULL);
}

static void test_list_has(void)
{
    ok(http_list_has("a, B ,c", 7, "b", 1, false), "list: case-insensitive element found");
    ok(!http_list_has("a, B ,c", 7, "b", 1, true), "list: exact element not found");
    ok(http_list_has("a, B ,c", 7, "B", 1, true), "list: exact element found");
    ok(!http_list_has("ab", 2, "a", 1, false), "list: a prefix is not an element");
    ok(!http_list_has(", ,", 3, "", 0, false), "list: an empty element never matches");
}

int main(void)
{
    test_accept();
    test_key_valid();
    test_check();
    test_is_upgrade();
    test_append_101();
    test_pick_subprotocol();
    test_list_has();
    return tap_finish();
}
