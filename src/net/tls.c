#include "autoconfig.h"

#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define TLS_READ_BUFFER 65536 /* read-ahead room: four full records */

static void last_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, buf);
    ERR_clear_error();
}

/* What both sides share: TLS 1.2 or later, no renegotiation, partial writes
 * and retries from a buffer that has moved (held data is copied when the
 * other side cannot take it at once), buffers released while idle. */
static SSL_CTX *new_context(const SSL_METHOD *method, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) {
        last_error(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Read what the socket has, several records at once, rather than a
     * record header and then its body: half the reads or fewer. Bytes read
     * ahead do not make the socket readable: callers ask tls_has_more(). */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUFFER);
    return ctx;
}

SSL_CTX *tls_client_context(bool verify, char *err, size_t errlen)
{
    SSL_CTX *ctx = new_context(TLS_client_method(), err, errlen);
    if (!ctx) return NULL;
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

/* Only "http/1.1" is spoken; a client offering nothing we know goes on
 * without ALPN rather than failing. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *selected;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11 - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* The key's password comes from a file; without one an encrypted key fails
 * cleanly instead of prompting on a terminal. */
static int key_password(char *buf, int size, int rwflag, void *userdata)
{
    (void)rwflag;
    const char *file = userdata;
    if (!file) return 0;
    FILE *f = fopen(file, "re");
    if (!f) return 0;
    int n = 0;
    if (fgets(buf, size, f)) {
        n = (int)strcspn(buf, "\r\n");
        buf[n] = '\0';
    }
    fclose(f);
    return n;
}

SSL_CTX *tls_server_context(const char *cert_file, const char *key_file, const char *ca_file,
                            const char *password_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = new_context(TLS_server_method(), err, errlen);
    if (!ctx) return NULL;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    SSL_CTX_set_default_passwd_cb(ctx, key_password);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)password_file);
    static const unsigned char sid_ctx[] = "wsbridge";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    char what[600];
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(what, sizeof what, "cannot load the certificate %.500s", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            snprintf(what, sizeof what, "the key %.250s does not match the certificate %.250s",
                     key_file, cert_file);
            goto fail;
        }
        snprintf(what, sizeof what, "cannot load the key %.500s%s", key_file,
                 password_file ? " (wrong password?)"
                               : " (if it is encrypted, give --sslkey-password-file)");
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof what, "the key %.250s does not match the certificate %.250s",
                 key_file, cert_file);
        goto fail;
    }
    if (ca_file) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
        if (!names || SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            snprintf(what, sizeof what, "cannot load the client CA file %.500s", ca_file);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    /* The password callback's data points at the caller's string: drop it. */
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    return ctx;
fail:
    last_error(err, errlen, what);
    SSL_CTX_free(ctx);
    return NULL;
}

SSL *tls_server_session(SSL_CTX *ctx, int fd, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        last_error(err, errlen, "cannot start TLS");
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

bool tls_peer_cn(SSL *ssl, char *out, size_t len)
{
    out[0] = '\0';
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return false;
    X509_NAME *subject = X509_get_subject_name(cert);
    if (subject && X509_NAME_get_text_by_NID(subject, NID_commonName, out, (int)len) < 0)
        out[0] = '\0';
    X509_free(cert);
    return true;
}

void tls_describe(SSL *ssl, char *out, size_t len)
{
    snprintf(out, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
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

/* SSL_read gives at most one record (16 KiB) per call; what OpenSSL holds
 * already is gathered too, since callers pay per read (a frame parse, a
 * send to the other side). Whatever stops the gathering after some bytes is
 * met again, and reported, at the next call (tls_has_more says to make it). */
enum tls_status tls_read(SSL *ssl, void *buf, size_t len, size_t *n)
{
    *n = 0;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        size_t got = 0;
        int rc = SSL_read_ex(ssl, (char *)buf + *n, len - *n, &got);
        if (rc != 1) {
            enum tls_status st = status_of(ssl, rc);
            return *n ? TLS_DONE : st;
        }
        *n += got;
        if (*n == len || !SSL_has_pending(ssl)) return TLS_DONE;
    }
}

bool tls_has_more(SSL *ssl)
{
    return SSL_has_pending(ssl) || (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN);
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
