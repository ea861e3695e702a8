/* One WebSocket message compressed or inflated as permessage-deflate frames
 * it (RFC 7692 7.2): zlib raw deflate, each message ending in a sync flush
 * whose 00 00 ff ff is left off the wire. No I/O; zlib allocates only in the
 * _init functions, never while a message is inflated, however large. */
#ifndef WSB_MSGZIP_H
#define WSB_MSGZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

enum msgzip_status {
    MSGZIP_MORE,       /* the output is full, or input is left: call again with the rest */
    MSGZIP_NEED_INPUT, /* the input is used up and it was not the end of the message */
    MSGZIP_END,        /* the message is complete: all its output has been produced */
    MSGZIP_TOO_BIG,    /* it inflates to more than the limit (close 1009) */
    MSGZIP_BAD,        /* corrupt deflate data, or the message stops inside a block (1007) */
    MSGZIP_NOMEM,      /* (1011) */
};

struct msgzip_in {
    z_stream z;
    uint8_t wbits;
    bool ready;                /* initialized */
    uint8_t tail_fed;          /* bytes of the 00 00 ff ff tail given to zlib for this message */
    uint64_t total;            /* inflated bytes of the current message */
    bool started;              /* the current message has had a byte of input */
    bool pending;              /* the last inflate() filled its output: more may be waiting */
    bool between_blocks;       /* the last inflate() that did anything stopped between blocks */
    bool stream_end;           /* a block with BFINAL set ended the deflate stream (see msgzip.c) */
    bool complete;             /* MSGZIP_END was returned */
    enum msgzip_status failed; /* MSGZIP_MORE, or the error every later call returns */
    size_t mem;                /* bytes zlib holds for this stream */
};

/* Raw inflate with a window of wbits (8..15). Returns 0, or -1 with errno
 * (ENOMEM, or EINVAL for a bad wbits). The window is allocated here.
 * Under 15 bits zlib checks a distance against the window only when the
 * bytes it refers to are not in the output buffer of the same call: data
 * that breaks its client_max_window_bits may then pass or fail depending on
 * buffer sizes (at 15, the most DEFLATE allows, it never depends on them). */
int msgzip_in_init(struct msgzip_in *s, int wbits);
/* Safe on a zeroed struct or one whose init failed. */
void msgzip_in_free(struct msgzip_in *s);

/* Inflate from in[0..n) into out[0..cap), cap > 0. final: in is the rest of
 * the message; the 00 00 ff ff tail (7.2.2) is appended internally after it,
 * possibly over several calls as out fills. *used and *made: bytes consumed
 * and produced. limit: the most the whole message may inflate to (0: none);
 * past it, MSGZIP_TOO_BIG, with no byte beyond the limit produced. Blocks
 * may follow a block with BFINAL set (7.2.1: a new deflate stream, with the
 * same window); a message of no bytes at all is an empty message, and so is
 * the end of one exactly where a BFINAL block ends. Errors are sticky until
 * msgzip_in_next(). */
enum msgzip_status msgzip_inflate(struct msgzip_in *s, const uint8_t *in, size_t n, bool final,
                                  uint8_t *out, size_t cap, uint64_t limit, size_t *used,
                                  size_t *made);

/* Before the next message (after END, or to drop a failed or abandoned one):
 * keep_context (context takeover) keeps the window when the message ended
 * well; otherwise the stream starts afresh. Resets total. */
void msgzip_in_next(struct msgzip_in *s, bool keep_context);

/* The bytes zlib holds for this stream (its state and window; the struct
 * itself not included). They do not change after init. */
size_t msgzip_in_memory(const struct msgzip_in *s);

struct msgzip_out {
    z_stream z;
    bool ready; /* initialized */
    size_t mem; /* bytes zlib holds for this stream */
};

/* Raw deflate: level 0..9, wbits 9..15 (zlib cannot compress raw with 8),
 * memlevel 1..9. Returns 0, or -1 with errno (ENOMEM, or EINVAL). */
int msgzip_out_init(struct msgzip_out *s, int level, int wbits, int memlevel);
/* Safe on a zeroed struct or one whose init failed. */
void msgzip_out_free(struct msgzip_out *s);

/* The most msgzip_deflate() can make of n bytes (deflateBound() plus the
 * flush marker and a margin). */
size_t msgzip_bound(const struct msgzip_out *s, size_t n);

/* Compress in[0..n), a whole message or one fragment of it (final false),
 * into out (cap >= msgzip_bound(s, n)). reset: deflateReset() first (no
 * context takeover: before every fragment, as a fresh stream's sync-flushed
 * output refers only to its own bytes, so the pieces still make one valid
 * stream and nothing lives between fragments). Each call ends in
 * Z_SYNC_FLUSH; when final, the trailing 00 00 ff ff is removed, and an empty
 * final piece is the single byte 0x00 (7.2.3.6). An empty non-final piece is
 * empty. Returns the compressed length, or (size_t)-1 when zlib fails. */
size_t msgzip_deflate(struct msgzip_out *s, const uint8_t *in, size_t n, bool final, bool reset,
                      uint8_t *out, size_t cap);

/* The bytes zlib holds for this stream (fixed at init). */
size_t msgzip_out_memory(const struct msgzip_out *s);

#endif
