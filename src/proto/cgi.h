/* The head a CGI script writes before its body (RFC 3875 6.2): parsed and
 * checked, and turned into the header lines of our HTTP answer. No I/O. */
#ifndef WSB_CGI_H
#define WSB_CGI_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define CGI_MAX_HEAD   16384 /* bytes, the blank line included */
#define CGI_MAX_FIELDS 100

struct cgi_head {
    int status;               /* Status:, else 302 with a Location, else 200 */
    char reason[65];          /* Status:'s reason phrase (up to 64 bytes), or "" */
    long long content_length; /* the script's Content-Length, or -1 */
    bool has_location;
    bool has_content_type;
};

/* Parse the head at the start of p (n bytes, all the script wrote so far;
 * lines end in LF or CRLF, a blank line ends the head). Returns 0 when more
 * is needed, the head's length when it is complete, or -1 when it is not
 * usable (why says how). Then h is filled and lines holds the fields to
 * send, one "Name: value\r\n" each: everything but Status, Content-Length,
 * the hop-by-hop fields (Connection, Keep-Alive, Transfer-Encoding, TE,
 * Trailer, Upgrade, Proxy-Connection) and the Date and Server we send
 * ourselves. Refused: no field at all, a continuation line (obs-fold), a
 * field that is not "token: value", a control character in a value, a
 * Status that is not three digits from 200 to 599, two Status, Location or
 * Content-Type fields, Content-Lengths that differ or are not digits, more
 * than CGI_MAX_FIELDS fields or CGI_MAX_HEAD bytes, and a head with neither
 * Status, Location nor Content-Type (RFC 3875 requires Content-Type for a
 * document). */
long cgi_parse_head(const char *p, size_t n, struct cgi_head *h, struct buf *lines,
                    const char **why);

#endif
