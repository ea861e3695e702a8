/* HTTP Basic authentication: users from --basic-auth=user:password and
 * --htpasswd files (crypt(3) hashes: bcrypt $2y$/$2b$, sha512crypt $6$,
 * yescrypt $y$, ...), the Authorization header, and the check itself in
 * constant time. */
#ifndef WSB_AUTH_H
#define WSB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_user {
    char *name;
    char *secret; /* a plain password, or a crypt(3) hash */
    bool hashed;
};

#define AUTH_CACHE 64

struct auth_table {
    struct auth_user *users;
    size_t n;
    /* Digests of recently accepted credentials, so that a user reconnecting
     * does not pay for bcrypt every time (failures are never cached). */
    uint8_t cache[AUTH_CACHE][32];
    size_t cache_next, cache_used;
};

/* "user:password" from the command line. Returns 0, or -1 with err. */
int auth_add_plain(struct auth_table *t, const char *spec, char *err, size_t errlen);

/* Parse htpasswd text ("user:hash" lines, '#' comments). Hashes crypt(3)
 * cannot check (Apache's $apr1$ and {SHA}) are refused with the line number.
 * Returns 0, or -1 with "<name>:<line>: <reason>" in err. */
int auth_parse_htpasswd(struct auth_table *t, const char *text, size_t len, const char *name,
                        char *err, size_t errlen);

/* Read and parse an htpasswd file. */
int auth_load_htpasswd(struct auth_table *t, const char *path, char *err, size_t errlen);

/* Decode an Authorization value "Basic <base64 of user:password>". The
 * buffers get NUL-terminated strings. */
bool auth_parse_basic(const char *value, size_t len, char *user, size_t ucap, char *pass,
                      size_t pcap);

/* The user whose password this is, or NULL. */
const struct auth_user *auth_check(struct auth_table *t, const char *user, const char *pass);

void auth_free(struct auth_table *t);

#endif
