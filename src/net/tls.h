/* OpenSSL on non-blocking sockets: contexts, and read/write/handshake calls
 * that say which readiness (read or write) the caller must wait for. */
#ifndef WSB_TLS_H
#define WSB_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum tls_status {
    TLS_DONE,       /* the call completed (n says how much for read/write) */
    TLS_WANT_READ,  /* retry the same call once the socket is readable */
    TLS_WANT_WRITE, /* ... once it is writable */
    TLS_CLOSED,     /* the peer closed (close_notify or EOF) */
    TLS_FAILED,     /* error; tls_error_string() says why */
};

/* Client context for backends: TLS 1.2 or later, peer verified against the
 * system CA store (SSL_CERT_FILE/SSL_CERT_DIR are honoured) unless !verify.
 * Returns NULL with a reason in err. */
SSL_CTX *tls_client_context(bool verify, char *err, size_t errlen);

/* Start a client session on a connected socket: SNI and the name (or IP
 * address) to verify come from host. Returns NULL with a reason in err. */
SSL *tls_client_session(SSL_CTX *ctx, int fd, const char *host, char *err, size_t errlen);

/* Server context for wss://: TLS 1.2 or later, the certificate chain and key
 * (checked to match), ALPN http/1.1, session tickets, and with ca_file client
 * certificates required and verified. password_file holds the key's password
 * on its first line. Returns NULL with one readable line in err. */
SSL_CTX *tls_server_context(const char *cert_file, const char *key_file, const char *ca_file,
                            const char *password_file, char *err, size_t errlen);

/* A server session on an accepted socket. */
SSL *tls_server_session(SSL_CTX *ctx, int fd, char *err, size_t errlen);

/* After the handshake: the peer certificate's subject CN ("" without one).
 * Returns whether the peer presented a certificate: servers ask for one only
 * with a client CA, and then the handshake succeeds only if it verified. */
bool tls_peer_cn(SSL *ssl, char *out, size_t len);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
void tls_describe(SSL *ssl, char *out, size_t len);

enum tls_status tls_handshake(SSL *ssl);
/* Reads what the socket and OpenSSL have, up to len (several records). */
enum tls_status tls_read(SSL *ssl, void *buf, size_t len, size_t *n);

/* True when the next tls_read must not wait for the socket to be readable:
 * OpenSSL holds bytes (decrypted, or read ahead), or the last read met the
 * peer's close_notify after some data. */
bool tls_has_more(SSL *ssl);
/* Partial writes are allowed; after WANT_*, retry with the same bytes (they may have moved). */
enum tls_status tls_write(SSL *ssl, const void *buf, size_t len, size_t *n);

/* The most recent OpenSSL error (or the verification result) as text. */
const char *tls_error_string(SSL *ssl, char *buf, size_t len);

#endif
