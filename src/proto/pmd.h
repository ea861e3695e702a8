/* permessage-deflate (RFC 7692) negotiation: the client's
 * Sec-WebSocket-Extensions offers read with the RFC 6455 9.1 grammar, the
 * first one we can honour chosen, and the value that answers it. No I/O. */
#ifndef WSB_PMD_H
#define WSB_PMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/http.h"

/* What the server is willing to do. */
struct pmd_config {
    bool low_memory;     /* always answer server_no_context_takeover and
                            client_no_context_takeover (RFC 7692 7.1.1.1, 7.1.1.2
                            let a server add both unasked) */
    uint8_t window_bits; /* 9..15: the largest window the server compresses with
                            (anything else: every offer is declined) */
    bool fixed_window;   /* shared mode, one compressed copy for everyone: compress
                            with exactly window_bits, so an offer whose
                            server_max_window_bits is smaller is declined; always
                            server_no_context_takeover */
};

/* What was agreed. */
struct pmd_params {
    bool server_nct, client_nct; /* no context takeover, each direction */
    uint8_t server_wbits;        /* the window the server compresses with (9..15) */
    uint8_t client_wbits;        /* the window the client may use (8..15): what our
                                    inflater needs */
    bool send_server_wbits;      /* the response names server_max_window_bits */
    bool send_client_wbits;      /* the response names client_max_window_bits */
};

/* "permessage-deflate" and all four parameters at two digits, plus the NUL. */
#define PMD_RESPONSE_MAX 129

/* Pick from one Sec-WebSocket-Extensions value (n bytes, a comma-separated
 * list of offers). Returns true when an offer was accepted (*out filled).
 *
 * Other extensions are skipped. A permessage-deflate offer with an unknown,
 * repeated or malformed parameter, a value where none is allowed, or a window
 * we cannot honour is declined and the next offer tried; so is any element
 * with a syntax error, the list going on after its next comma. Only an
 * unterminated quoted-string, after which no comma can be found, ends the
 * search. Names are compared exactly (they are lower case in RFC 7692). */
bool pmd_negotiate_value(const char *v, size_t n, const struct pmd_config *cfg,
                         struct pmd_params *out);

/* The same over every Sec-WebSocket-Extensions line of a request, in order;
 * the first acceptable offer wins. Each line is read on its own, so one that
 * cannot be parsed does not hide the lines after it. */
bool pmd_negotiate(const struct http_request *req, const struct pmd_config *cfg,
                   struct pmd_params *out);

/* The response's extension value, e.g. "permessage-deflate;
 * server_no_context_takeover; server_max_window_bits=12", naming exactly what
 * p says. Returns its length (< cap, NUL-terminated); 0 (and "" when cap > 0)
 * when cap is too small. PMD_RESPONSE_MAX is always enough. */
size_t pmd_format(const struct pmd_params *p, char *out, size_t cap);

#endif
