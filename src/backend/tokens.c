#include "autoconfig.h"

#include "backend/tokens.h"

#include "base/readfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE_MAX (16u << 20) /* a token file larger than this is refused */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int add_entry(struct token_table *t, const char *token, size_t tlen, const struct target *tg)
{
    struct token_entry *e = realloc(t->entries, (t->n + 1) * sizeof *e);
    if (!e) return -1;
    t->entries = e;
    e = &t->entries[t->n];
    e->token = strndup(token, tlen);
    if (!e->token) return -1;
    e->target = *tg;
    e->resolved = false;
    t->n++;
    return 0;
}

int tokens_parse(struct token_table *t, const char *text, size_t len, const char *name, char *err,
                 size_t errlen)
{
    size_t lineno = 0, i = 0;
    while (i < len) {
        lineno++;
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + (nl ? 1 : 0);
        /* '#' starts a comment at the start of a line or after white space,
         * so a token may still contain one (websockify: line comments only). */
        for (size_t k = 0; k < n; k++) {
            if (line[k] == '#' && (k == 0 || is_space(line[k - 1]))) {
                n = k;
                break;
            }
        }
        while (n && is_space(line[n - 1])) n--;
        size_t s = 0;
        while (s < n && is_space(line[s])) s++;
        if (s == n) continue;
        if (memchr(line + s, '\0', n - s)) {
            snprintf(err, errlen, "%s:%zu: NUL byte", name, lineno);
            return -1;
        }
        /* websockify splits at ": " (so a token may hold a ':'); a bare
         * "token:host:port" is read as the first ':' too. */
        const char *colon = NULL;
        for (size_t k = s; k + 1 < n && !colon; k++)
            if (line[k] == ':' && is_space(line[k + 1])) colon = line + k;
        if (!colon) colon = memchr(line + s, ':', n - s);
        if (!colon) {
            snprintf(err, errlen, "%s:%zu: expected 'token: host:port'", name, lineno);
            return -1;
        }
        size_t tend = (size_t)(colon - line);
        while (tend > s && is_space(line[tend - 1])) tend--;
        if (tend == s) {
            snprintf(err, errlen, "%s:%zu: empty token", name, lineno);
            return -1;
        }
        size_t vs = (size_t)(colon - line) + 1;
        while (vs < n && is_space(line[vs])) vs++;
        char spec[sizeof((struct target *)0)->name];
        if (n - vs >= sizeof spec || n == vs) {
            snprintf(err, errlen, "%s:%zu: missing or too long target", name, lineno);
            return -1;
        }
        memcpy(spec, line + vs, n - vs);
        spec[n - vs] = '\0';
        struct target tg;
        char why[128];
        if (target_parse(spec, &tg, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
            return -1;
        }
        if (add_entry(t, line + s, tend - s, &tg) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

const struct token_entry *tokens_find(const struct token_table *t, const char *token, size_t len)
{
    /* Later lines win, as when websockify reads the files in order. */
    for (size_t i = t->n; i-- > 0;)
        if (strlen(t->entries[i].token) == len && memcmp(t->entries[i].token, token, len) == 0)
            return &t->entries[i];
    return NULL;
}

void tokens_free(struct token_table *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->entries[i].token);
    free(t->entries);
    t->entries = NULL;
    t->n = 0;
}

static int load_file(const char *path, const char *shown, struct token_table *t, char *err,
                     size_t errlen)
{
    size_t len;
    char *text = readfile(path, TOKEN_FILE_MAX, &len, err, errlen);
    if (!text) return -1;
    int rc = tokens_parse(t, text, len, shown, err, errlen);
    free(text);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Regular files of a directory in name order; returns the count or -1. */
static int list_dir(const char *path, struct dirent ***names)
{
    return scandir(path, names, skip_hidden, by_name);
}

int tokens_load(const char *path, struct token_table *t, char *err, size_t errlen,
                void (*warn)(const char *msg))
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        struct dirent **names;
        int n = list_dir(path, &names);
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            char file[4096];
            struct stat fst;
            snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
            if (rc == 0 && stat(file, &fst) == 0 && S_ISREG(fst.st_mode))
                rc = load_file(file, file, t, err, errlen);
            free(names[i]);
        }
        free(names);
    } else {
        rc = load_file(path, path, t, err, errlen);
    }
    if (rc < 0) {
        tokens_free(t);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        char why[300], msg[400];
        t->entries[i].resolved = target_resolve(&t->entries[i].target, why, sizeof why) == 0;
        if (!t->entries[i].resolved && warn) {
            snprintf(msg, sizeof msg, "token '%.40s': %s", t->entries[i].token, why);
            warn(msg);
        }
    }
    return 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    /* FNV-1a over the 8 bytes of v */
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xFF;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix_stat(uint64_t h, const struct stat *st)
{
    h = mix(h, (uint64_t)st->st_ino);
    h = mix(h, (uint64_t)st->st_size);
    h = mix(h, (uint64_t)st->st_mtim.tv_sec);
    return mix(h, (uint64_t)st->st_mtim.tv_nsec);
}

uint64_t tokens_fingerprint(const char *path)
{
    uint64_t h = 0xcbf29ce484222325ull;
    struct stat st;
    if (stat(path, &st) < 0) return mix(h, (uint64_t)errno);
    h = mix_stat(h, &st);
    if (!S_ISDIR(st.st_mode)) return h;
    struct dirent **names;
    int n = list_dir(path, &names);
    for (int i = 0; i < n; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        for (const char *c = names[i]->d_name; *c; c++) h = mix(h, (uint64_t)(unsigned char)*c);
        if (stat(file, &st) == 0) h = mix_stat(h, &st);
        free(names[i]);
    }
    if (n >= 0) free(names);
    return h;
}
