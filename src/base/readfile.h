/* Read a small configuration file (tokens, htpasswd) whole. */
#ifndef WSB_READFILE_H
#define WSB_READFILE_H

#include <stddef.h>

/* The file's bytes (NUL-terminated, *len without it), or NULL with a reason
 * in err when it cannot be opened, is not a regular file, or is larger than
 * max bytes. free() the result. */
char *readfile(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
