#include "autoconfig.h"

#include "proto/handshake.h"

#include <openssl/evp.h>
#include <string.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool handshake_is_upgrade(const struct http_request *req)
{
    return http_header_has_token(req, "Upgrade", "websocket");
}

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

bool handshake_key_valid(const char *key, size_t len)
{
    /* 16 bytes encode to 22 characters plus "==". */
    if (len != 24 || key[22] != '=' || key[23] != '=') return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64_char(key[i])) return false;
    return true;
}

int handshake_check(const struct http_request *req, const char **why)
{
    if (req->minor_version < 1) {
        *why = "WebSocket requires HTTP/1.1";
        return 400;
    }
    if (req->method_len != 3 ||
        memcmp(req->method, "GET", 3) != 0) { /* methods are case-sensitive */
        *why = "a WebSocket handshake must use GET";
        return 405;
    }
    if (http_header_count(req, "Host") != 1) {
        *why = "exactly one Host header is required";
        return 400;
    }
    if (!http_header_has_token(req, "Connection", "upgrade")) {
        *why = "the Connection header must include \"Upgrade\"";
        return 400;
    }
    const struct http_header *v = http_header_find(req, "Sec-WebSocket-Version");
    if (!v) {
        *why = "missing Sec-WebSocket-Version";
        return 400;
    }
    if (http_header_count(req, "Sec-WebSocket-Version") != 1 ||
        !http_name_eq(v->value, v->value_len, "13")) {
        *why = "unsupported WebSocket version (this server speaks 13)";
        return 426;
    }
    const struct http_header *k = http_header_find(req, "Sec-WebSocket-Key");
    if (!k || http_header_count(req, "Sec-WebSocket-Key") != 1) {
        *why = "exactly one Sec-WebSocket-Key header is required";
        return 400;
    }
    if (!handshake_key_valid(k->value, k->value_len)) {
        *why = "Sec-WebSocket-Key is not base64 of 16 bytes";
        return 400;
    }
    return 0;
}

bool handshake_accept(const char *key, size_t len, char out[HANDSHAKE_ACCEPT_LEN + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key, len) &&
              EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) &&
              EVP_DigestFinal_ex(ctx, digest, &dlen) && dlen == 20;
    EVP_MD_CTX_free(ctx);
    if (ok) EVP_EncodeBlock((unsigned char *)out, digest, 20);
    return ok;
}

static int append_header(struct buf *out, const char *name_colon_space, const char *value)
{
    if (!value) return 0;
    if (buf_append(out, name_colon_space, strlen(name_colon_space)) < 0 ||
        buf_append(out, value, strlen(value)) < 0 || buf_append(out, "\r\n", 2) < 0)
        return -1;
    return 0;
}

int handshake_append_101(struct buf *out, const struct http_request *req, const char *subprotocol,
                         const char *extensions, const char *extra_headers)
{
    const struct http_header *k = http_header_find(req, "Sec-WebSocket-Key");
    char accept[HANDSHAKE_ACCEPT_LEN + 1];
    if (!handshake_accept(k->value, k->value_len, accept)) return -1;
    static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n";
    if (buf_append(out, head, sizeof head - 1) < 0 ||
        append_header(out, "Sec-WebSocket-Accept: ", accept) < 0 ||
        append_header(out, "Sec-WebSocket-Protocol: ", subprotocol) < 0 ||
        append_header(out, "Sec-WebSocket-Extensions: ", extensions) < 0)
        return -1;
    if (extra_headers && buf_append(out, extra_headers, strlen(extra_headers)) < 0) return -1;
    return buf_append(out, "\r\n", 2);
}

const char *handshake_error_headers(int status)
{
    switch (status) {
    case 405: return "Allow: GET\r\n";
    case 426: return "Sec-WebSocket-Version: 13\r\n";
    default: return NULL;
    }
}

const char *handshake_pick_subprotocol(const struct http_request *req, char *const *ours, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(ours[k]);
        for (size_t i = 0; i < req->nheaders; i++) {
            const struct http_header *h = &req->headers[i];
            if (http_name_eq(h->name, h->name_len, "Sec-WebSocket-Protocol") &&
                http_list_has(h->value, h->value_len, ours[k], len, true))
                return ours[k];
        }
    }
    return NULL;
}
