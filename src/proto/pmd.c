#include "autoconfig.h"

#include "proto/pmd.h"

#include <stdio.h>
#include <string.h>

/* Where the reading of a header value is. */
struct cursor {
    const char *p, *end;
};

enum step {
    STEP_OK,    /* the element was read: the cursor is at its ',' or the end */
    STEP_SKIP,  /* a syntax error: the element is dropped, the list goes on after its ',' */
    STEP_FATAL, /* an unterminated quoted-string: no later ',' can be trusted */
};

/* A parameter's value after unquoting. Only its first bytes are kept: the
 * only values we accept have at most two digits. */
struct value {
    bool present;
    size_t len;
    char text[2];
};

/* One permessage-deflate offer as read. */
struct offer {
    bool declined;
    bool server_nct, client_nct;
    bool server_bits_seen, client_bits_seen;
    uint8_t server_bits, client_bits; /* 8..15; client_bits 0: named without a value */
};

static bool at(const struct cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static void skip_ows(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static size_t take_token(struct cursor *c, const char **start)
{
    *start = c->p;
    while (c->p < c->end && http_is_tchar((unsigned char)*c->p)) c->p++;
    return (size_t)(c->p - *start);
}

static void value_add(struct value *v, char ch)
{
    if (v->len < sizeof v->text) v->text[v->len] = ch;
    v->len++;
}

/* qdtext and the escaped byte of a quoted-pair (RFC 7230 3.2.6): HTAB, SP,
 * visible ASCII and obs-text; '"' and '\' only escaped. */
static bool quotable(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7F);
}

/* A quoted-string; the cursor is on its opening quote. The value, unescaped,
 * goes to v (when v is not NULL). */
static enum step take_quoted(struct cursor *c, struct value *v)
{
    bool valid = true;
    for (c->p++; c->p < c->end; c->p++) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            return valid ? STEP_OK : STEP_SKIP;
        }
        if (ch == '\\') {
            if (++c->p == c->end) break;
            ch = (unsigned char)*c->p;
        }
        if (!quotable(ch)) valid = false;
        if (v) value_add(v, (char)ch);
    }
    return STEP_FATAL;
}

/* After a syntax error: on to the element's end (a ',' outside quotes, or the
 * end of the value). False when an unterminated quoted-string hides it. */
static bool resync(struct cursor *c)
{
    while (c->p < c->end && *c->p != ',') {
        if (*c->p == '"') {
            if (take_quoted(c, NULL) == STEP_FATAL) return false;
        } else {
            c->p++;
        }
    }
    return true;
}

static bool name_is(const char *s, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(s, name, n) == 0;
}

/* RFC 7692 7.1.2: a decimal 8..15, no leading zero; 0 when it is not one. */
static uint8_t window_bits(const struct value *v)
{
    if (v->len == 1 && v->text[0] >= '8' && v->text[0] <= '9') return (uint8_t)(v->text[0] - '0');
    if (v->len == 2 && v->text[0] == '1' && v->text[1] >= '0' && v->text[1] <= '5')
        return (uint8_t)(10 + v->text[1] - '0');
    return 0;
}

/* One parameter of a permessage-deflate offer. Anything RFC 7692 7 does not
 * allow in an offer declines it: an unknown name, a repeated one, a value on
 * a flag, a missing or invalid window size. */
static void offer_param(struct offer *o, const char *name, size_t n, const struct value *v)
{
    if (name_is(name, n, "server_no_context_takeover")) {
        if (o->server_nct || v->present) o->declined = true;
        o->server_nct = true;
    } else if (name_is(name, n, "client_no_context_takeover")) {
        if (o->client_nct || v->present) o->declined = true;
        o->client_nct = true;
    } else if (name_is(name, n, "server_max_window_bits")) {
        if (o->server_bits_seen || !v->present) o->declined = true;
        o->server_bits_seen = true;
        if (v->present && !(o->server_bits = window_bits(v))) o->declined = true;
    } else if (name_is(name, n, "client_max_window_bits")) {
        /* The value is optional here: the bare name says the client can be
         * told a window (7.1.2.2). */
        if (o->client_bits_seen) o->declined = true;
        o->client_bits_seen = true;
        if (v->present && !(o->client_bits = window_bits(v))) o->declined = true;
    } else {
        o->declined = true;
    }
}

/* extension = token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] ).
 * *is_pmd tells whether it names permessage-deflate; only then is o filled. */
static enum step read_element(struct cursor *c, bool *is_pmd, struct offer *o)
{
    const char *name;
    size_t n = take_token(c, &name);
    if (!n) return STEP_SKIP;
    *is_pmd = name_is(name, n, "permessage-deflate");
    memset(o, 0, sizeof *o);
    for (;;) {
        skip_ows(c);
        if (c->p == c->end || *c->p == ',') return STEP_OK;
        if (*c->p != ';') return STEP_SKIP;
        c->p++;
        skip_ows(c);
        const char *pname;
        size_t pn = take_token(c, &pname);
        if (!pn) return STEP_SKIP;
        skip_ows(c);
        struct value v = {0};
        if (at(c, '=')) {
            c->p++;
            skip_ows(c);
            v.present = true;
            if (at(c, '"')) {
                enum step s = take_quoted(c, &v);
                if (s != STEP_OK) return s;
            } else {
                const char *t;
                size_t tn = take_token(c, &t);
                if (!tn) return STEP_SKIP;
                for (size_t i = 0; i < tn; i++) value_add(&v, t[i]);
            }
        }
        if (*is_pmd) offer_param(o, pname, pn, &v);
    }
}

/* Whether we can honour the offer, and with what. */
static bool accept_offer(const struct offer *o, const struct pmd_config *cfg,
                         struct pmd_params *out)
{
    const uint8_t w = cfg->window_bits;
    if (o->declined) return false;
    struct pmd_params p = {0};
    if (o->server_bits_seen) {
        /* zlib cannot compress with a 256-byte window (deflateInit2 refuses
         * raw 8), and in the shared mode every client takes the same stream. */
        if (o->server_bits < 9 || (cfg->fixed_window && o->server_bits < w)) return false;
        p.server_wbits = o->server_bits < w ? o->server_bits : w;
        p.send_server_wbits = true; /* accepting it means naming it (7.1.2.1) */
    } else {
        /* Always decodable: the client keeps a 32 KiB window. RFC 7692
         * 7.1.2.1 would let us name a smaller one unasked, but some clients
         * fail the connection on a parameter they did not offer, and
         * compressing with less than the client holds needs no word. */
        p.server_wbits = w;
    }
    p.server_nct = o->server_nct || cfg->low_memory || cfg->fixed_window;
    p.client_nct = o->client_nct || cfg->low_memory;
    const uint8_t offered = o->client_bits ? o->client_bits : 15;
    if (o->client_bits_seen && !cfg->low_memory) {
        /* Only when offered may the response name it (7.1.2.2); it bounds the
         * window the connection's own inflater keeps. */
        p.client_wbits = offered < w ? offered : w;
        p.send_client_wbits = true;
    } else {
        /* A value in the offer is a promise even when we do not answer it. */
        p.client_wbits = o->client_bits_seen ? offered : 15;
    }
    *out = p;
    return true;
}

bool pmd_negotiate_value(const char *v, size_t n, const struct pmd_config *cfg,
                         struct pmd_params *out)
{
    if (cfg->window_bits < 9 || cfg->window_bits > 15) return false;
    struct cursor c = {v, v + n};
    for (;;) {
        skip_ows(&c);
        if (c.p == c.end) return false;
        if (*c.p == ',') { /* an empty element (RFC 7230 7) */
            c.p++;
            continue;
        }
        bool is_pmd = false;
        struct offer o;
        enum step s = read_element(&c, &is_pmd, &o);
        if (s == STEP_FATAL) return false;
        if (s == STEP_SKIP) {
            if (!resync(&c)) return false;
        } else if (is_pmd && accept_offer(&o, cfg, out)) {
            return true;
        }
    }
}

bool pmd_negotiate(const struct http_request *req, const struct pmd_config *cfg,
                   struct pmd_params *out)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (http_name_eq(h->name, h->name_len, "Sec-WebSocket-Extensions") &&
            pmd_negotiate_value(h->value, h->value_len, cfg, out))
            return true;
    }
    return false;
}

size_t pmd_format(const struct pmd_params *p, char *out, size_t cap)
{
    char sbits[4] = "", cbits[4] = "";
    if (p->send_server_wbits) snprintf(sbits, sizeof sbits, "%u", (unsigned)p->server_wbits);
    if (p->send_client_wbits) snprintf(cbits, sizeof cbits, "%u", (unsigned)p->client_wbits);
    int len = snprintf(out, cap, "permessage-deflate%s%s%s%s%s%s",
                       p->server_nct ? "; server_no_context_takeover" : "",
                       p->client_nct ? "; client_no_context_takeover" : "",
                       p->send_server_wbits ? "; server_max_window_bits=" : "", sbits,
                       p->send_client_wbits ? "; client_max_window_bits=" : "", cbits);
    if (len < 0 || (size_t)len >= cap) {
        if (cap) out[0] = '\0';
        return 0;
    }
    return (size_t)len;
}
