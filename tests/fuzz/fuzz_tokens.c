/* libFuzzer target for tokens.c and target.c: tokens_parse on arbitrary text
 * (file name "fuzz") against a line-by-line reference, the invariants of every
 * entry (a clean token, a target that parses again to the same fields), that
 * tokens_find finds each token, that parsing the text in two pieces split at
 * a line break gives the same table, and target_parse on the first line. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/target.h"
#include "backend/tokens.h"

static bool blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool same_target(const struct target *a, const struct target *b)
{
    return a->is_unix == b->is_unix && a->port == b->port && strcmp(a->host, b->host) == 0 &&
           strcmp(a->path, b->path) == 0 && strcmp(a->name, b->name) == 0;
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* What a parsed target must look like. */
static void check_target(const struct target *t, const char *spec)
{
    if (!terminated(t->host, sizeof t->host) || !terminated(t->path, sizeof t->path) ||
        !terminated(t->name, sizeof t->name))
        abort();
    if (strcmp(t->name, spec) != 0 || t->naddrs != 0) abort();
    if (t->is_unix) {
        if (t->host[0] || t->port || !t->path[0] || strncmp(spec, "unix:", 5) != 0 ||
            strcmp(t->path, spec + 5) != 0)
            abort();
    } else {
        if (!t->host[0] || t->path[0] || t->port < 1 || t->port > 65535) abort();
        for (const char *c = t->host; *c; c++) {
            unsigned char u = (unsigned char)*c;
            if (u <= ' ' || u == '/' || u >= 0x7F) abort();
        }
        /* The spec is the host, bracketed or (holding no ':') not, then ':'
         * and 1 to 5 digits. */
        size_t hl = strlen(t->host);
        const char *rest;
        if (spec[0] == '[') {
            if (strncmp(spec + 1, t->host, hl) != 0 || spec[hl + 1] != ']') abort();
            rest = spec + hl + 2;
        } else {
            if (strchr(t->host, ':') || strncmp(spec, t->host, hl) != 0 ||
                strncmp(spec, "unix:", 5) == 0)
                abort();
            rest = spec + hl;
        }
        if (rest[0] != ':') abort();
        size_t digits = strspn(rest + 1, "0123456789");
        if (digits < 1 || digits > 5 || rest[1 + digits] || strtoul(rest + 1, NULL, 10) != t->port)
            abort();
    }
    /* The name parses again to the same fields. */
    struct target t2;
    char err[128];
    if (target_parse(t->name, &t2, err, sizeof err) != 0 || !same_target(t, &t2)) abort();
}

/* The reference: returns 0 and the number of entries, or -1 and the number of
 * the first bad line (and the entries before it). */
static int ref_parse(const uint8_t *text, size_t len, size_t *entries, size_t *bad_line)
{
    size_t line = 0, n = 0;
    const uint8_t *p = text, *end = text + len;
    while (p < end) {
        line++;
        const uint8_t *eol = p;
        while (eol < end && *eol != '\n') eol++;
        /* '#' opens a comment at the start of a line or after a blank */
        const uint8_t *stop = p;
        while (stop < eol && !(*stop == '#' && (stop == p || blank(stop[-1])))) stop++;
        const uint8_t *a = p, *b = stop;
        while (a < b && blank(*a)) a++;
        while (b > a && blank(b[-1])) b--;
        p = eol < end ? eol + 1 : end;
        if (a == b) continue;
        *entries = n;
        *bad_line = line;
        if (memchr(a, '\0', (size_t)(b - a))) return -1;
        /* the separator is the first ':' followed by a blank, else the first ':' */
        const uint8_t *colon = NULL;
        for (const uint8_t *k = a; k + 1 < b && !colon; k++)
            if (*k == ':' && blank(k[1])) colon = k;
        if (!colon) colon = memchr(a, ':', (size_t)(b - a));
        if (!colon) return -1;
        const uint8_t *te = colon;
        while (te > a && blank(te[-1])) te--;
        if (te == a) return -1;
        const uint8_t *vs = colon + 1;
        while (vs < b && blank(*vs)) vs++;
        size_t vlen = (size_t)(b - vs);
        if (vlen == 0 || vlen >= sizeof((struct target *)0)->name) return -1;
        char spec[sizeof((struct target *)0)->name];
        memcpy(spec, vs, vlen);
        spec[vlen] = '\0';
        struct target t;
        char err[128];
        if (target_parse(spec, &t, err, sizeof err) != 0) return -1;
        n++;
    }
    *entries = n;
    return 0;
}

static void check_entry(const struct token_table *t, size_t i)
{
    const struct token_entry *e = &t->entries[i];
    size_t len = strlen(e->token);
    if (len == 0 || strchr(e->token, '\n')) abort();
    if (blank((uint8_t)e->token[0]) || blank((uint8_t)e->token[len - 1])) abort();
    if (e->resolved || e->target.naddrs) abort();
    check_target(&e->target, e->target.name);
    /* The last entry with this token is found; cutting a byte off finds
     * only an entry of that shorter length. */
    const struct token_entry *f = tokens_find(t, e->token, len);
    if (!f || f < e || strcmp(f->token, e->token) != 0) abort();
    const struct token_entry *g = tokens_find(t, e->token, len - 1);
    if (g && (strlen(g->token) != len - 1 || memcmp(g->token, e->token, len - 1) != 0)) abort();
}

volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct token_table t = {0};
    char err[512];
    memset(err, 0, sizeof err);
    int rc = tokens_parse(&t, text, size, "fuzz", err, sizeof err);
    if (rc != 0 && rc != -1) abort();
    if (rc == -1 && strncmp(err, "fuzz:", 5) != 0) abort();

    size_t want_n = 0, bad_line = 0;
    int want = ref_parse(data, size, &want_n, &bad_line);
    if (rc != want || t.n != want_n) abort();
    if (rc == -1) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "fuzz:%zu: ", bad_line);
        if (strncmp(err, prefix, strlen(prefix)) != 0) abort();
    }

    /* Every entry, and tokens_find on a sample of them (it is linear). */
    for (size_t i = 0; i < t.n; i++) {
        if (i < 64 || t.n - i <= 64)
            check_entry(&t, i);
        else if (!t.entries[i].token[0])
            abort();
    }

    /* The text in two pieces split after a line break: the same table. */
    const uint8_t *nl = size > 1 ? memchr(data + size / 2, '\n', size - size / 2) : NULL;
    if (nl) {
        size_t first = (size_t)(nl - data) + 1;
        struct token_table u = {0};
        char err2[512];
        int rc2 = tokens_parse(&u, text, first, "fuzz", err2, sizeof err2);
        if (rc2 == 0) rc2 = tokens_parse(&u, text + first, size - first, "fuzz", err2, sizeof err2);
        if (rc2 != rc || u.n != t.n) abort();
        for (size_t i = 0; i < u.n; i++)
            if (strcmp(u.entries[i].token, t.entries[i].token) != 0 ||
                !same_target(&u.entries[i].target, &t.entries[i].target))
                abort();
        tokens_free(&u);
    }

    /* A short err buffer is cut and terminated. */
    if (rc == -1) {
        struct token_table v = {0};
        char small[12];
        memset(small, 'Z', sizeof small);
        if (tokens_parse(&v, text, size, "fuzz", small, 8) != -1 || !memchr(small, '\0', 8) ||
            small[8] != 'Z')
            abort();
        tokens_free(&v);
    }
    tokens_free(&t);
    if (t.n || t.entries) abort();

    /* target_parse on the first line, as a C string. */
    const uint8_t *eol = memchr(data, '\n', size);
    size_t llen = eol ? (size_t)(eol - data) : size;
    char *spec = malloc(llen + 1);
    if (!spec) abort();
    memcpy(spec, data, llen);
    spec[llen] = '\0';
    struct target tg;
    char terr[64];
    memset(terr, 'Z', sizeof terr);
    int trc = target_parse(spec, &tg, terr, 40);
    if (trc == 0)
        check_target(&tg, spec);
    else if (trc != -1 || !terr[0] || !memchr(terr, '\0', 40) || terr[40] != 'Z')
        abort();
    sink = tg.port + (size_t)trc;
    free(spec);
    return 0;
}
