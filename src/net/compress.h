/* A connection's permessage-deflate (RFC 7692): the agreed parameters and
 * the zlib streams it holds. In low-memory mode (no context takeover either
 * way) a connection holds a stream only while a client message is being
 * inflated, taken from a small pool, and compresses with a stream it borrows
 * for the length of one call; idle, it holds none. In high-ratio mode each
 * direction has the connection's own stream, made when first needed. */
#ifndef WSB_COMPRESS_H
#define WSB_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "net/settings.h"
#include "proto/pmd.h"

struct msgzip_in;
struct msgzip_out;

enum compress_in_status {
    COMPRESS_IN_MORE,     /* call again: input left, or more output to come */
    COMPRESS_IN_NEED,     /* the chunk is used up; the message goes on in the next one */
    COMPRESS_IN_END,      /* the message is complete */
    COMPRESS_IN_TOO_BIG,  /* it inflates past the limit: close 1009 */
    COMPRESS_IN_BAD,      /* corrupt deflate data: close 1007 */
    COMPRESS_IN_BAD_UTF8, /* a text message that is not UTF-8 once inflated: close 1007 */
    COMPRESS_IN_NOMEM,    /* close 1011 */
};

struct compress_state {
    struct pmd_params params;
    const struct compress_settings *set; /* the route's: it outlives the connection's session */
    struct msgzip_in *in;                /* inflating the current client message (high-ratio:
                                            the connection's, kept between messages) */
    struct msgzip_out *out;              /* high-ratio: the connection's own deflate stream */
    bool out_compressed;                 /* the outgoing message being sent is compressed */
    /* the client message being inflated */
    bool in_text;
    uint32_t utf8_state;
    bool in_started;   /* compress_inflate() has begun the current message */
    bool in_delivered; /* conn.c has handed on a piece of it */
    /* inflated bytes the backend has not taken yet (conn.c's) */
    struct buf held;
    bool holding;
    bool held_first, held_last; /* they begin / end the message */
    bool held_done;             /* they end it, and its compressed bytes are all used */
};

/* The state for a session that agreed on p (NULL when out of memory). */
struct compress_state *compress_new(const struct pmd_params *p,
                                    const struct compress_settings *set);
void compress_free(struct compress_state *z);

/* Outgoing data frame b0 (a whole message, or a fragment: WS_FIN and the
 * opcode say which) with payload p[0..n): returns 1 with *b0 and *out and *out_len
 * changed to the compressed frame (valid until the next call), 0 when it goes
 * out as it is (a control frame, a short message, the rest of a message
 * begun uncompressed, or, without context takeover, a whole message that
 * compression would not shrink), -1 when zlib fails. */
int compress_frame(struct compress_state *z, uint8_t *b0, const uint8_t *p, size_t n,
                   const uint8_t **out, size_t *out_len);

/* Inflate from in[0..n), the chunk of a compressed client message (final:
 * the last chunk), into out[0..cap); text is checked as UTF-8. limit: the
 * most the whole message may inflate to (0: none). *used and *made: bytes
 * consumed and produced. After END the next message may begin. */
enum compress_in_status compress_inflate(struct compress_state *z, bool text, const uint8_t *in,
                                         size_t n, bool final, uint8_t *out, size_t cap,
                                         uint64_t limit, size_t *used, size_t *made);

/* --shared: compress one message once for every client whose session agreed
 * on server_no_context_takeover at window_bits (settings from set). Returns
 * 1 with *out and *out_len (valid until the next call), 0 when it should go out
 * uncompressed (shorter than --compress-min-size, or not smaller compressed),
 * -1 when zlib fails. */
int compress_once(const struct compress_settings *set, const uint8_t *p, size_t n,
                  const uint8_t **out, size_t *out_len);

/* Whether a session's output can share compress_once()'s copies. */
bool compress_shares_output(const struct compress_state *z, const struct compress_settings *set);

#endif
