/* The HTTP fallback's event stream (doc/fallback.md, "Server -> client"):
 * one server-sent event per message, per fragment, and for the close; the
 * heartbeat; the id a client resumes from. Pure: no I/O. */
#ifndef WSB_SSE_H
#define WSB_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSE_TEXT   0x1 /* the values of SESSION_TEXT and SESSION_BINARY */
#define SSE_BINARY 0x2

/* A comment line: ignored by clients, it keeps idle connections open. */
#define SSE_HEARTBEAT ": heartbeat\n\n"

/* The most bytes sse_message() writes for n payload bytes. */
size_t sse_message_max(uint8_t type, size_t n);

/* Write the event of message (or fragment) `id`: "id: ID\nevent: E\ndata:
 * D\n\n", E text, binary, text-part or binary-part (more is true: a fragment
 * that later events continue), D a JSON string of the UTF-8 text, or the
 * base64 of the bytes. out has room for sse_message_max(type, n). Returns
 * the length written. */
size_t sse_message(char *out, uint64_t id, uint8_t type, bool more, const uint8_t *p, size_t n);

/* The most bytes sse_close() writes. */
#define SSE_CLOSE_MAX 1024

/* Write the last event: "event: close" with {"code":N,"reason":"..."};
 * reason is UTF-8, at most 123 bytes of it are used. Returns the length. */
size_t sse_close(char out[SSE_CLOSE_MAX], uint64_t id, uint16_t code, const char *reason);

/* A Last-Event-ID header's value, or a last= query value: decimal without
 * a leading zero, at most 19 digits (0 allowed: nothing was received). */
bool sse_parse_id(const char *s, size_t n, uint64_t *id);

#endif
