#include "autoconfig.h"

#include "proto/fbmsgs.h"

#include <string.h>

#include "proto/utf8.h"
#include "proto/ws.h"

/* What comes next in a record. */
enum {
    F_SEQ,     /* digits of SEQ, then SP */
    F_TYPE,    /* the TYPE byte */
    F_TYPE_SP, /* SP */
    F_LEN,     /* digits of LEN, then LF */
    F_PAYLOAD, /* LEN bytes */
    F_END,     /* LF */
};

void fbm_parser_init(struct fbm_parser *p, uint64_t max_message)
{
    memset(p, 0, sizeof *p);
    p->max_message = max_message;
    p->field = F_SEQ;
    p->utf8 = UTF8_ACCEPT;
}

bool fbm_parser_at_boundary(const struct fbm_parser *p)
{
    return !p->why && p->field == F_SEQ && p->digits == 0;
}

static size_t fail(struct fbm_parser *p, struct fbm_event *ev, enum fbm_error e, const char *why,
                   size_t consumed)
{
    p->why = why;
    p->error = e;
    ev->kind = FBM_ERROR;
    ev->error = e;
    ev->why = why;
    return consumed;
}

/* One more digit of a number of at most FBM_MAX_DIGITS, without a leading
 * zero. False when it cannot be. */
static bool add_digit(struct fbm_parser *p, uint64_t *n, uint8_t c)
{
    if (c < '0' || c > '9' || p->digits == FBM_MAX_DIGITS || (p->digits == 1 && *n == 0))
        return false;
    *n = *n * 10 + (uint64_t)(c - '0');
    p->digits++;
    return true;
}

/* The header is complete: check the record against the message rules. */
static const char *check_header(struct fbm_parser *p, enum fbm_error *e)
{
    *e = FBM_ERR_SYNTAX;
    if (p->rtype == 'c') {
        if (p->len > FBM_MAX_CLOSE) return "a close record's payload is longer than 128 bytes";
        return NULL;
    }
    const uint8_t type = p->rtype == 't' || p->rtype == 'T' ? FBM_TEXT : FBM_BINARY;
    if (p->in_message && type != p->msg_type)
        return "a fragment of a message continues with another type";
    const uint64_t so_far = p->in_message ? p->msg_len : 0;
    if (p->max_message && (p->len > p->max_message || so_far > p->max_message - p->len)) {
        *e = FBM_ERR_TOO_BIG;
        return "message larger than the maximum size";
    }
    if (!p->in_message) {
        p->in_message = true;
        p->message_started = false;
        p->msg_type = type;
        p->msg_len = 0;
        p->utf8 = UTF8_ACCEPT;
    }
    p->msg_len += p->len;
    return NULL;
}

/* A close record's payload: "CODE[ REASON]", or nothing (1005). */
static size_t close_event(struct fbm_parser *p, struct fbm_event *ev, size_t consumed)
{
    const uint8_t *c = p->close;
    size_t n = p->close_len;
    unsigned code = WS_CLOSE_NO_STATUS;
    size_t reason = n;
    if (n) {
        if (n < 4 || (n > 4 && c[4] != ' '))
            return fail(p, ev, FBM_ERR_SYNTAX, "a close record is CODE or CODE SP REASON",
                        consumed);
        code = 0;
        for (size_t i = 0; i < 4; i++) {
            if (c[i] < '0' || c[i] > '9')
                return fail(p, ev, FBM_ERR_SYNTAX, "a close code is four digits", consumed);
            code = code * 10 + (unsigned)(c[i] - '0');
        }
        if (!ws_close_code_valid(code))
            return fail(p, ev, FBM_ERR_SYNTAX, "invalid close code", consumed);
        reason = n > 4 ? 5 : 4;
        if (n - reason > 123)
            return fail(p, ev, FBM_ERR_SYNTAX, "a close reason is longer than 123 bytes", consumed);
        if (utf8_validate(UTF8_ACCEPT, c + reason, n - reason) != UTF8_ACCEPT)
            return fail(p, ev, FBM_ERR_UTF8, "close reason is not valid UTF-8", consumed);
    }
    p->closed = true;
    ev->kind = FBM_CLOSE;
    ev->seq = p->seq;
    ev->code = (uint16_t)code;
    ev->data = c + reason;
    ev->len = n - reason;
    return consumed;
}

/* A chunk of a data record's payload (possibly empty). */
static size_t data_event(struct fbm_parser *p, struct fbm_event *ev, const uint8_t *at, size_t n,
                         size_t consumed)
{
    const bool record_end = p->offset + n == p->len;
    const bool final_record = p->rtype == 't' || p->rtype == 'b';
    if (p->msg_type == FBM_TEXT) {
        p->utf8 = utf8_validate(p->utf8, at, n);
        if (p->utf8 == UTF8_REJECT || (record_end && final_record && p->utf8 != UTF8_ACCEPT))
            return fail(p, ev, FBM_ERR_UTF8, "invalid UTF-8 in a text message", consumed);
    }
    ev->kind = FBM_DATA;
    ev->seq = p->seq;
    ev->type = p->msg_type;
    ev->first = !p->message_started;
    ev->last = record_end && final_record;
    ev->offset = p->offset;
    ev->record_end = record_end;
    ev->data = at;
    ev->len = n;
    p->message_started = true;
    p->offset += n;
    if (ev->last) p->in_message = false;
    return consumed;
}

size_t fbm_parser_feed(struct fbm_parser *p, const uint8_t *buf, size_t len, struct fbm_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = FBM_NONE;
    if (p->why) {
        ev->kind = FBM_ERROR;
        ev->error = p->error;
        ev->why = p->why;
        return 0;
    }
    size_t i = 0;
    while (i < len) {
        const uint8_t c = buf[i];
        switch (p->field) {
        case F_SEQ:
            if (p->closed) return fail(p, ev, FBM_ERR_SYNTAX, "a record after the close", i);
            if (p->digits == 0) p->seq = 0; /* a new record */
            if (c == ' ' && p->digits) {
                if (p->seq == 0) return fail(p, ev, FBM_ERR_SYNTAX, "SEQ counts from 1", i);
                p->field = F_TYPE;
                p->digits = 0;
            } else if (!add_digit(p, &p->seq, c)) {
                return fail(p, ev, FBM_ERR_SYNTAX, "a record starts with SEQ SP (decimal)", i);
            }
            i++;
            break;
        case F_TYPE:
            if (!strchr("tbTBc", c) || c == '\0')
                return fail(p, ev, FBM_ERR_SYNTAX, "TYPE is one of t b T B c", i);
            p->rtype = c;
            p->field = F_TYPE_SP;
            i++;
            break;
        case F_TYPE_SP:
            if (c != ' ') return fail(p, ev, FBM_ERR_SYNTAX, "TYPE is followed by SP", i);
            p->field = F_LEN;
            p->len = 0;
            i++;
            break;
        case F_LEN: {
            if (c != '\n' || !p->digits) {
                if (!add_digit(p, &p->len, c))
                    return fail(p, ev, FBM_ERR_SYNTAX, "LEN is decimal, then LF", i);
                i++;
                break;
            }
            i++;
            p->digits = 0;
            enum fbm_error e;
            const char *why = check_header(p, &e);
            if (why) return fail(p, ev, e, why, i);
            p->field = F_PAYLOAD;
            p->offset = 0;
            p->close_len = 0;
            if (p->len == 0 && p->rtype != 'c') {
                p->field = F_END;
                return data_event(p, ev, buf + i, 0, i);
            }
            break;
        }
        case F_PAYLOAD: {
            size_t n = len - i;
            if (n > p->len - p->offset) n = (size_t)(p->len - p->offset);
            if (p->rtype == 'c') {
                memcpy(p->close + p->close_len, buf + i, n);
                p->close_len += n;
                p->offset += n;
                i += n;
                if (p->offset == p->len) p->field = F_END;
                break;
            }
            const uint8_t *at = buf + i;
            i += n;
            if (p->offset + n == p->len) p->field = F_END;
            return data_event(p, ev, at, n, i);
        }
        case F_END:
            if (c != '\n') return fail(p, ev, FBM_ERR_SYNTAX, "a payload is followed by LF", i);
            i++;
            p->field = F_SEQ;
            p->digits = 0;
            if (p->rtype == 'c') return close_event(p, ev, i);
            break;
        }
    }
    return i;
}
