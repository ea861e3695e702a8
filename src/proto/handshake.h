/* WebSocket opening handshake (RFC 6455 4.2): validation and the 101 answer. */
#ifndef WSB_HANDSHAKE_H
#define WSB_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "proto/http.h"

#define HANDSHAKE_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

/* The client asks for a WebSocket ("Upgrade: websocket"). */
bool handshake_is_upgrade(const struct http_request *req);

/* Check an upgrade request. Returns 0 when it is acceptable, otherwise the
 * HTTP status to answer (400, 405, 426) with *why set to a short reason. */
int handshake_check(const struct http_request *req, const char **why);

/* Whether a Sec-WebSocket-Key value is base64 of exactly 16 bytes. */
bool handshake_key_valid(const char *key, size_t len);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)). False only
 * when OpenSSL cannot allocate. */
bool handshake_accept(const char *key, size_t len, char out[HANDSHAKE_ACCEPT_LEN + 1]);

/* Append the 101 response for a request that passed handshake_check(),
 * naming the chosen subprotocol and the agreed extensions (each NULL for
 * none). Returns 0, or -1 when out of memory. */
int handshake_append_101(struct buf *out, const struct http_request *req, const char *subprotocol,
                         const char *extensions, const char *extra_headers);

/* The subprotocol to answer: the first of ours (n names, in our order of
 * preference) that the client offers in its Sec-WebSocket-Protocol headers
 * (comma lists, blanks trimmed; compared exactly, as browsers check the
 * answer against their offer exactly). NULL when it offers none of them. */
const char *handshake_pick_subprotocol(const struct http_request *req, char *const *ours, size_t n);

/* Extra header lines that go with an error status (Allow, Sec-WebSocket-Version). */
const char *handshake_error_headers(int status);

#endif
