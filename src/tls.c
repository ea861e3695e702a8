#include "autoconfig.h"

#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void last_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, buf);
    ERR_clear_error();
}

SSL_CTX *tls_client_context(bool verify, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        last_error(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Partial writes, and retries from a buffer that has moved (held client
     * data is copied when the backend cannot take it at once). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (verify) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            last_error(err, errlen, "cannot load the system CA certificates");
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

static bool is_ip_literal(const char *host)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

SSL *tls_client_session(SSL_CTX *ctx, int fd, const char *host, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        last_error(err, errlen, "cannot start TLS");
        SSL_free(ssl);
        return NULL;
    }
    if (host && *host) {
        bool ip = is_ip_literal(host);
        /* SNI carries host names only (RFC 6066 3). */
        if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1) {
            last_error(err, errlen, "cannot set SNI");
            SSL_free(ssl);
            return NULL;
        }
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : SSL_set1_host(ssl, host);
        if (ok != 1) {
            last_error(err, errlen, "cannot set the name to verify");
            SSL_free(ssl);
            return NULL;
        }
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

static enum tls_status status_of(SSL *ssl, int rc)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        /* EOF without close_notify, or a socket error in errno. */
        if (ERR_peek_error() == 0 && (errno == 0 || errno == EPIPE)) return TLS_CLOSED;
        return TLS_FAILED;
    default: return TLS_FAILED;
    }
}

enum tls_status tls_handshake(SSL *ssl)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    return rc == 1 ? TLS_DONE : status_of(ssl, rc);
}

enum tls_status tls_read(SSL *ssl, void *buf, size_t len, size_t *n)
{
    ERR_clear_error();
    errno = 0;
    *n = 0;
    int rc = SSL_read_ex(ssl, buf, len, n);
    return rc == 1 ? TLS_DONE : status_of(ssl, rc);
}

enum tls_status tls_write(SSL *ssl, const void *buf, size_t len, size_t *n)
{
    ERR_clear_error();
    errno = 0;
    *n = 0;
    int rc = SSL_write_ex(ssl, buf, len, n);
    return rc == 1 ? TLS_DONE : status_of(ssl, rc);
}

const char *tls_error_string(SSL *ssl, char *buf, size_t len)
{
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(buf, len, "certificate verification failed: %s", X509_verify_cert_error_string(v));
    else if (e)
        ERR_error_string_n(e, buf, len);
    else if (errno)
        snprintf(buf, len, "%s", strerror(errno));
    else
        snprintf(buf, len, "TLS error");
    ERR_clear_error();
    return buf;
}
