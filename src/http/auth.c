#include "autoconfig.h"

#include "http/auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/base64.h"
#include "base/readfile.h"

#define HTPASSWD_MAX (4u << 20)

static int add_user(struct auth_table *t, const char *name, size_t nlen, const char *secret,
                    size_t slen, bool hashed)
{
    struct auth_user *u = realloc(t->users, (t->n + 1) * sizeof *u);
    if (!u) return -1;
    t->users = u;
    u = &t->users[t->n];
    u->name = strndup(name, nlen);
    u->secret = strndup(secret, slen);
    u->hashed = hashed;
    if (!u->name || !u->secret) {
        free(u->name);
        free(u->secret);
        return -1;
    }
    t->n++;
    t->cache_used = 0; /* the table changed: forget what was accepted */
    return 0;
}

int auth_add_plain(struct auth_table *t, const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec) {
        snprintf(err, errlen, "expected user:password");
        return -1;
    }
    if (add_user(t, spec, (size_t)(colon - spec), colon + 1, strlen(colon + 1), false) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int auth_parse_htpasswd(struct auth_table *t, const char *text, size_t len, const char *name,
                        char *err, size_t errlen)
{
    size_t i = 0, lineno = 0;
    while (i < len) {
        lineno++;
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + (nl ? 1 : 0);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        size_t s = 0;
        while (s < n && (line[s] == ' ' || line[s] == '\t')) s++;
        if (s == n || line[s] == '#') continue;
        const char *colon = memchr(line + s, ':', n - s);
        if (!colon || colon == line + s || memchr(line + s, '\0', n - s)) {
            snprintf(err, errlen, "%s:%zu: expected user:hash", name, lineno);
            return -1;
        }
        const char *hash = colon + 1;
        size_t hl = n - (size_t)(hash - line);
        /* Apache adds fields after a second ':' in some formats: the hash ends there. */
        const char *extra = memchr(hash, ':', hl);
        if (extra) hl = (size_t)(extra - hash);
        char setting[256];
        if (hl == 0 || hl >= sizeof setting) {
            snprintf(err, errlen, "%s:%zu: missing or too long hash", name, lineno);
            return -1;
        }
        memcpy(setting, hash, hl);
        setting[hl] = '\0';
        /* crypt(3) calls md5crypt ($1$) and sha256crypt ($5$) legacy but still
         * checks them; old DES (no '$' prefix) is refused. */
        int salt = crypt_checksalt(setting);
        bool usable =
            salt == CRYPT_SALT_OK || (salt == CRYPT_SALT_METHOD_LEGACY && setting[0] == '$');
        if (strncmp(setting, "$apr1$", 6) == 0 || strncmp(setting, "{SHA}", 5) == 0 || !usable) {
            snprintf(err, errlen, "%s:%zu: a hash crypt(3) cannot check (use bcrypt: htpasswd -B)",
                     name, lineno);
            return -1;
        }
        if (add_user(t, line + s, (size_t)(colon - (line + s)), hash, hl, true) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

int auth_load_htpasswd(struct auth_table *t, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = readfile(path, HTPASSWD_MAX, &len, err, errlen);
    if (!text) return -1;
    int rc = auth_parse_htpasswd(t, text, len, path, err, errlen);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

bool auth_parse_basic(const char *value, size_t len, char *user, size_t ucap, char *pass,
                      size_t pcap)
{
    if (len < 6 || strncasecmp(value, "Basic ", 6) != 0) return false;
    const char *b = value + 6;
    size_t bl = len - 6;
    while (bl && *b == ' ') b++, bl--;
    if (bl == 0 || bl > 4096) return false;
    uint8_t decoded[3 * 4096 / 4 + 3];
    struct base64_decoder d;
    base64_decoder_init(&d);
    long n = base64_decode(&d, b, bl, decoded);
    if (n < 0 || !base64_decode_finish(&d) || memchr(decoded, '\0', (size_t)n)) return false;
    const uint8_t *colon = memchr(decoded, ':', (size_t)n);
    if (!colon) return false;
    size_t ul = (size_t)(colon - decoded), pl = (size_t)n - ul - 1;
    if (ul >= ucap || pl >= pcap) return false;
    memcpy(user, decoded, ul);
    user[ul] = '\0';
    memcpy(pass, colon + 1, pl);
    pass[pl] = '\0';
    OPENSSL_cleanse(decoded, sizeof decoded);
    return true;
}

static void digest(const char *user, const char *pass, uint8_t out[32])
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, user, strlen(user) + 1) ||
        !EVP_DigestUpdate(ctx, pass, strlen(pass)) || !EVP_DigestFinal_ex(ctx, out, &n))
        memset(out, 0, 32); /* an all-zero digest is never stored: see cache_has */
    EVP_MD_CTX_free(ctx);
}

static bool all_zero(const uint8_t *d)
{
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++) acc |= d[i];
    return acc == 0;
}

static bool cache_has(const struct auth_table *t, const uint8_t d[32])
{
    if (all_zero(d)) return false;
    for (size_t i = 0; i < t->cache_used; i++)
        if (CRYPTO_memcmp(t->cache[i], d, 32) == 0) return true;
    return false;
}

static void cache_put(struct auth_table *t, const uint8_t d[32])
{
    if (all_zero(d)) return;
    memcpy(t->cache[t->cache_next], d, 32);
    t->cache_next = (t->cache_next + 1) % AUTH_CACHE;
    if (t->cache_used < AUTH_CACHE) t->cache_used++;
}

/* Compare two strings in time that depends on their lengths only. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

const struct auth_user *auth_check(struct auth_table *t, const char *user, const char *pass)
{
    const struct auth_user *u = NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->users[i].name, user) == 0) u = &t->users[i]; /* the last line wins */
    if (!u) return NULL;
    uint8_t d[32];
    digest(user, pass, d);
    if (cache_has(t, d)) return u;
    bool good;
    if (u->hashed) {
        struct crypt_data *cd = calloc(1, sizeof *cd);
        const char *h = cd ? crypt_rn(pass, u->secret, cd, sizeof *cd) : NULL;
        good = h && same_secret(h, u->secret);
        if (cd) OPENSSL_cleanse(cd, sizeof *cd);
        free(cd);
    } else {
        good = same_secret(pass, u->secret);
    }
    if (good) cache_put(t, d);
    return good ? u : NULL;
}

void auth_free(struct auth_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->users[i].name);
        if (t->users[i].secret) OPENSSL_cleanse(t->users[i].secret, strlen(t->users[i].secret));
        free(t->users[i].secret);
    }
    free(t->users);
    memset(t, 0, sizeof *t);
}
