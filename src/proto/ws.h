/* RFC 6455 frame codec: an incremental parser that never does I/O, and the
 * frame header builder. */
#ifndef WSB_WS_H
#define WSB_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

#define WS_FIN  0x80
#define WS_RSV1 0x40
#define WS_RSV2 0x20
#define WS_RSV3 0x10

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame had no code" */
    WS_CLOSE_ABNORMAL = 1006,  /* never sent: "no close frame at all" */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_EXTENSION = 1010,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_MAX_HEADER 14 /* 2 + 8 (length) + 4 (mask) */
/* The largest payload with a 4-byte header whose frame is exactly 64 KiB:
 * four full TLS records, no small one left over. Reads that become one
 * binary message each take at most this. */
#define WS_PAYLOAD_64K      (65536 - 4)
#define WS_MAX_CONTROL      125 /* control frame payload limit */
#define WS_MAX_CLOSE_REASON 123

enum ws_event_kind {
    WS_EV_NONE,  /* all input consumed, nothing to report: feed more */
    WS_EV_DATA,  /* a chunk of a text or binary message */
    WS_EV_PING,  /* a complete ping; data/len is its payload */
    WS_EV_PONG,  /* a complete pong */
    WS_EV_CLOSE, /* a valid close frame; close_code (1005 if none), data/len = reason */
    WS_EV_ERROR, /* protocol violation: close with close_code, reason in error */
};

struct ws_event {
    enum ws_event_kind kind;
    uint8_t opcode;  /* DATA: WS_OP_TEXT or WS_OP_BINARY, for every chunk */
    bool first;      /* DATA: first chunk of the message */
    bool last;       /* DATA: last chunk of the message */
    bool compressed; /* DATA: RSV1 was set on the message's first frame (permessage-deflate):
                        the payload is deflate data, not yet checked as UTF-8 */
    uint8_t
        *data; /* payload, unmasked (in the caller's buffer, or the parser's for control frames) */
    size_t len;
    uint16_t close_code;
    const char *error;
};

struct ws_parser {
    /* settings */
    uint64_t max_message; /* 0: unlimited */
    bool server;          /* true: frames must be masked; false: must not be */
    uint8_t rsv_allowed;  /* RSV bits an extension has claimed; RSV1 is permessage-deflate's:
                             allowed on a message's first frame only (RFC 7692 6.1) */

    /* current frame */
    uint8_t hdr[WS_MAX_HEADER];
    uint8_t hdr_len, hdr_need;
    uint8_t opcode;
    bool fin;
    bool masked;
    uint8_t mask[4];
    uint8_t mask_pos;
    uint64_t remaining; /* payload bytes of this frame not yet seen */
    bool in_payload;
    bool frame_first; /* the next data chunk is the first of its frame */

    /* current (possibly fragmented) message */
    bool in_message;
    bool message_first; /* no chunk of this message delivered yet */
    uint8_t msg_opcode;
    bool msg_compressed;
    uint64_t msg_len;
    uint32_t utf8_state;

    /* a control frame being collected */
    uint8_t ctrl[WS_MAX_CONTROL];
    size_t ctrl_len;

    const char *failed; /* sticky error */
    uint16_t failed_code;
};

void ws_parser_init(struct ws_parser *p, bool server, uint64_t max_message);

/* Consume input until one event is ready or the input ends. Returns the
 * number of bytes consumed; *ev says what happened. Data payloads are
 * unmasked in place, so buf must be writable. Call again with the rest. */
size_t ws_parser_feed(struct ws_parser *p, uint8_t *buf, size_t len, struct ws_event *ev);

/* Build a frame header; b0 is WS_FIN | RSV bits | opcode. mask may be NULL
 * (servers never mask). Returns the header length. */
size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], uint8_t b0, uint64_t len, const uint8_t *mask);

/* XOR p with the 4-byte mask starting at mask position `pos` (0..3). */
void ws_mask_bytes(uint8_t *p, size_t n, const uint8_t mask[4], size_t pos);

/* Whether a close code may appear on the wire (RFC 6455 7.4). */
bool ws_close_code_valid(unsigned code);

/* Build a close payload (code + reason truncated to 123 bytes at a character
 * boundary) into out[WS_MAX_CONTROL]; returns its length. */
size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason);

#endif
