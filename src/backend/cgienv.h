/* The environment of an exec child: websocketd's CGI/1.1 variable set. */
#ifndef WSB_CGIENV_H
#define WSB_CGIENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/http.h"

struct cgienv_input {
    const struct http_request *req;
    const char *remote_addr;
    const char *remote_host; /* --reverselookup's name of the client, or NULL: the address */
    unsigned remote_port;
    bool https;
    const char *const *passenv; /* names of daemon variables to pass on */
    size_t npassenv;
    char *const *environ; /* where their values come from */
    uint64_t unique_id;
    const char *remote_user;   /* Basic auth user, or NULL */
    size_t script_name_len;    /* --dir: bytes of the decoded path naming the script, or 0 */
    const char *ssl_client_cn; /* verified client certificate's CN (--sslca), or NULL */
    const char *subprotocol;   /* the one answered (--subprotocol), or NULL */
    const char *extensions;    /* the Sec-WebSocket-Extensions answered, or NULL */
    /* --cgidir: CONTENT_LENGTH and CONTENT_TYPE come from the request
     * (which has no HTTP_CONTENT_LENGTH or HTTP_CONTENT_TYPE then, as RFC
     * 3875 4.1.18 asks); else they are empty, as in websocketd. */
    bool cgi;
};

/* UNIQUE_ID: a nanosecond time, as in websocketd, but one that never repeats. */
uint64_t cgienv_unique_id(void);

/* Build a NULL-terminated environment in one allocation (release it with a
 * single free()). Returns NULL when out of memory or when the request path
 * does not decode (the handshake rejects such paths first). */
char **cgienv_build(const struct cgienv_input *in);

#endif
