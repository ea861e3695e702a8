/* The records of the HTTP fallback's message POSTs (doc/fallback.md,
 * "Client -> server: messages"): SEQ SP TYPE SP LEN LF PAYLOAD LF, again
 * and again. An incremental parser: it takes the body in pieces of any
 * size, never buffers a payload (its chunks point into the input), and
 * checks the message rules a WebSocket parser would (size, UTF-8 of text,
 * fragments of one type, nothing after a close). Pure: no I/O. */
#ifndef WSB_FBMSGS_H
#define WSB_FBMSGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FBM_TEXT   0x1 /* the values of SESSION_TEXT and SESSION_BINARY */
#define FBM_BINARY 0x2

#define FBM_MAX_DIGITS 19 /* of SEQ and LEN: below 10^19, so they fit 64 bits */
#define FBM_MAX_CLOSE                                                                              \
    128 /* a close record's payload: "CODE[ REASON]", the reason at most 123 bytes as in a close   \
           frame */

enum fbm_kind {
    FBM_NONE,  /* more input needed */
    FBM_DATA,  /* a chunk of a message */
    FBM_CLOSE, /* a close record: code, reason */
    FBM_ERROR, /* the body is bad: error and status say how; sticky */
};

enum fbm_error {
    FBM_ERR_SYNTAX = 1, /* 400: not a record */
    FBM_ERR_TOO_BIG,    /* 413: a message over the maximum (checked at each record's header) */
    FBM_ERR_UTF8,       /* 400, and the session closes with 1007: a text message is not UTF-8 */
};

struct fbm_event {
    enum fbm_kind kind;
    uint64_t seq;     /* DATA, CLOSE: the record's sequence number */
    uint8_t type;     /* DATA: FBM_TEXT or FBM_BINARY (the message's) */
    bool first, last; /* DATA: the message's first chunk; its last */
    /* DATA: where the chunk is in its record's payload, and whether it ends
     * the record (a retried body is skipped up to what was applied). */
    uint64_t offset;
    bool record_end;
    const uint8_t *data; /* DATA: the chunk (in the input); CLOSE: the reason */
    size_t len;
    uint16_t code;        /* CLOSE */
    enum fbm_error error; /* ERROR */
    const char *why;      /* ERROR: for the answer's body and the log */
};

struct fbm_parser {
    uint64_t max_message; /* 0: unlimited */

    int field;            /* which part of a record comes next */
    unsigned digits;      /* of the number being read */
    uint64_t seq, len;    /* the record's */
    uint8_t rtype;        /* its TYPE byte */
    uint64_t offset;      /* payload bytes of the record already given */
    bool in_message;      /* a fragmented message is open (after T or B) */
    bool message_started; /* a chunk of the open message was given */
    uint8_t msg_type;
    uint64_t msg_len;
    uint32_t utf8;
    uint8_t close[FBM_MAX_CLOSE];
    size_t close_len;
    bool closed;     /* a close record was complete: nothing may follow */
    const char *why; /* sticky error */
    enum fbm_error error;
};

void fbm_parser_init(struct fbm_parser *p, uint64_t max_message);

/* Consume input until one event is ready or the input ends. Returns the
 * bytes consumed; *ev says what happened. Call again with the rest. */
size_t fbm_parser_feed(struct fbm_parser *p, const uint8_t *buf, size_t len, struct fbm_event *ev);

/* The body ended here: true when that is between records. */
bool fbm_parser_at_boundary(const struct fbm_parser *p);

#endif
