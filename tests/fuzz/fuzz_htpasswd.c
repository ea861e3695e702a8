/* libFuzzer target for auth.c: auth_parse_htpasswd on arbitrary text (file
 * name "fuzz") against a line-by-line reference (the same users, or the same
 * failing line in "fuzz:<line>: "); every user a non-empty name without ':'
 * and a hash crypt_checksalt() accepts; auth_add_plain and auth_check on a
 * plain user from the first line (no crypt(3): hashed users are never
 * checked here, bcrypt is too slow); auth_parse_basic on the input and on
 * "Basic " plus the input, into exactly-sized buffers: on success the user
 * holds no ':', both are terminated within their buffers, and their lengths
 * add up to what the base64 token decodes to. */
#include "autoconfig.h"

#include <crypt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/auth.h"

/* The reference: 0 and the number of users, or -1 and the bad line. */
/* What crypt(3) checks: current methods, and legacy ones in '$' form
 * (md5crypt, sha256crypt), but not old DES. */
static bool checkable(const char *setting)
{
    int r = crypt_checksalt(setting);
    return r == CRYPT_SALT_OK || (r == CRYPT_SALT_METHOD_LEGACY && setting[0] == '$');
}

static int ref_parse(const char *text, size_t len, size_t *users, size_t *bad_line)
{
    size_t line = 0, n = 0, i = 0;
    while (i < len) {
        line++;
        const char *s = text + i, *nl = memchr(s, '\n', len - i);
        size_t e = nl ? (size_t)(nl - s) : len - i;
        i += e + (nl ? 1 : 0);
        while (e && (s[e - 1] == '\r' || s[e - 1] == ' ' || s[e - 1] == '\t')) e--;
        size_t b = 0;
        while (b < e && (s[b] == ' ' || s[b] == '\t')) b++;
        if (b == e || s[b] == '#') continue;
        *users = n;
        *bad_line = line;
        if (memchr(s + b, '\0', e - b)) return -1;
        const char *colon = memchr(s + b, ':', e - b);
        if (!colon || colon == s + b) return -1;
        const char *h = colon + 1;
        size_t hl = (size_t)(s + e - h);
        const char *extra = memchr(h, ':', hl);
        if (extra) hl = (size_t)(extra - h);
        char setting[256];
        if (hl == 0 || hl >= sizeof setting) return -1;
        memcpy(setting, h, hl);
        setting[hl] = '\0';
        if (strncmp(setting, "$apr1$", 6) == 0 || strncmp(setting, "{SHA}", 5) == 0 ||
            !checkable(setting))
            return -1;
        n++;
    }
    *users = n;
    return 0;
}

static void check_user(const struct auth_user *u)
{
    if (!u->name || !u->secret || !u->hashed) abort();
    if (!u->name[0] || strchr(u->name, ':') || strchr(u->name, '\n')) abort();
    if (u->name[0] == ' ' || u->name[0] == '\t') abort();
    size_t sl = strlen(u->secret);
    if (sl == 0 || sl >= 256 || strchr(u->secret, ':') || strchr(u->secret, '\n')) abort();
    if (!checkable(u->secret)) abort();
    if (strncmp(u->secret, "$apr1$", 6) == 0 || strncmp(u->secret, "{SHA}", 5) == 0) abort();
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* auth_parse_basic into buffers of exactly ucap and pcap bytes. */
static void check_basic(const char *value, size_t len, size_t ucap, size_t pcap)
{
    char *user = malloc(ucap ? ucap : 1), *pass = malloc(pcap ? pcap : 1);
    if (!user || !pass) abort();
    if (auth_parse_basic(value, len, user, ucap, pass, pcap)) {
        const char *ue = memchr(user, '\0', ucap), *pe = memchr(pass, '\0', pcap);
        if (!ue || !pe || memchr(user, ':', (size_t)(ue - user))) abort();
        /* "Basic" in any case, spaces, then a padded base64 token of exactly
         * user ":" pass. */
        if (len < 6 || strncasecmp(value, "basic ", 6) != 0) abort();
        size_t t = 6;
        while (t < len && value[t] == ' ') t++;
        size_t tl = len - t, body = tl;
        while (body && value[t + body - 1] == '=') body--;
        if (tl % 4 || tl - body > 2) abort();
        for (size_t i = 0; i < body; i++)
            if (!b64_char(value[t + i])) abort();
        size_t decoded = tl / 4 * 3 - (tl - body);
        if ((size_t)(ue - user) + 1 + (size_t)(pe - pass) != decoded) abort();
    }
    free(user);
    free(pass);
}

volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;

    struct auth_table t = {0};
    char err[512];
    memset(err, 0, sizeof err);
    int rc = auth_parse_htpasswd(&t, text, size, "fuzz", err, sizeof err);
    if (rc != 0 && rc != -1) abort();
    size_t want_n = 0, bad_line = 0;
    int want = ref_parse(text, size, &want_n, &bad_line);
    if (rc != want) abort();
    if (rc == 0) {
        if (t.n != want_n) abort();
    } else {
        char prefix[40];
        snprintf(prefix, sizeof prefix, "fuzz:%zu: ", bad_line);
        if (strncmp(err, "fuzz:", 5) != 0 || strncmp(err, prefix, strlen(prefix)) != 0) abort();
        if (t.n != want_n) abort();
    }
    for (size_t i = 0; i < t.n; i++) check_user(&t.users[i]);
    if (t.cache_used != 0) abort();

    /* A plain user from the first line is checked without crypt(3), and
     * the second check comes from the cache. */
    const char *eol = memchr(text, '\n', size);
    size_t llen = eol ? (size_t)(eol - text) : size;
    char *spec = malloc(llen + 1);
    if (!spec) abort();
    memcpy(spec, text, llen);
    spec[llen] = '\0';
    char perr[64];
    size_t before = t.n;
    if (auth_add_plain(&t, spec, perr, sizeof perr) == 0) {
        const char *colon = strchr(spec, ':');
        if (!colon || colon == spec || t.n != before + 1) abort();
        char *name = strndup(spec, (size_t)(colon - spec));
        if (!name) abort();
        const struct auth_user *u = auth_check(&t, name, colon + 1);
        if (u != &t.users[t.n - 1] || t.cache_used != 1) abort();
        if (auth_check(&t, name, colon + 1) != u || t.cache_used != 1) abort();
        /* one more byte of password is wrong, and not cached */
        size_t pl = strlen(colon + 1);
        char *longer = malloc(pl + 2);
        if (!longer) abort();
        memcpy(longer, colon + 1, pl);
        longer[pl] = 'x';
        longer[pl + 1] = '\0';
        if (auth_check(&t, name, longer) != NULL || t.cache_used != 1) abort();
        free(longer);
        free(name);
    } else if (strchr(spec, ':') && spec[0] != ':') {
        abort();
    }
    free(spec);
    auth_free(&t);
    if (t.n || t.users) abort();

    /* auth_parse_basic on the input, and with the scheme in front, into
     * buffers sized by the first byte. */
    size_t ucap = size ? data[0] % 64 : 16, pcap = size > 1 ? data[1] % 200 : 16;
    check_basic(text, size, ucap, pcap);
    check_basic(text, size, 4096, 4096);
    char *value = malloc(size + 6);
    if (!value) abort();
    memcpy(value, "Basic ", 6);
    memcpy(value + 6, data, size);
    check_basic(value, size + 6, ucap, pcap);
    check_basic(value, size + 6, 4096, 4096);
    free(value);
    sink = ucap + pcap;
    return 0;
}
