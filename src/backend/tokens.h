/* Token → target tables, compatible with websockify's TokenFile plugin:
 * lines "token: host:port" or "token: unix:/path", split at the first ": "
 * (else the first ':'); '#' starts a comment at the start of a line or after
 * a blank. A table comes from one file or from every file in a directory. */
#ifndef WSB_TOKENS_H
#define WSB_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/target.h"

struct token_entry {
    char *token;
    struct target target;
    bool resolved; /* target_resolve() succeeded */
};

struct token_table {
    struct token_entry *entries;
    size_t n;
};

/* Parse one file's text, appending to t. Returns 0, or -1 with
 * "<name>:<line>: <reason>" in err (t keeps the entries before the error). */
int tokens_parse(struct token_table *t, const char *text, size_t len, const char *name, char *err,
                 size_t errlen);

const struct token_entry *tokens_find(const struct token_table *t, const char *token, size_t len);

void tokens_free(struct token_table *t);

/* Load a file, or every regular file of a directory (in name order), and
 * resolve the targets. Returns 0, or -1 with the reason in err. A target
 * that does not resolve is kept (connecting to it fails with 502) and
 * reported through warn(). */
int tokens_load(const char *path, struct token_table *t, char *err, size_t errlen,
                void (*warn)(const char *msg));

/* A cheap fingerprint of the file or directory (names, sizes, mtimes,
 * inodes): when it changes, the table is loaded again. */
uint64_t tokens_fingerprint(const char *path);

#endif
