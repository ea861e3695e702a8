/* The --config file's syntax: one long option per line, "name = value" (or
 * a bare "name" for a flag), '#' comments on lines of their own. Pure: it
 * only splits text into entries; options.c gives them meaning. */
#ifndef WSB_CONFFILE_H
#define WSB_CONFFILE_H

#include <stddef.h>

struct conffile_entry {
    char *name;    /* option name without dashes */
    char *value;   /* NULL for a bare name; may be "" for "name =" */
    unsigned line; /* 1-based, for error messages */
};

struct conffile {
    struct conffile_entry *entries;
    size_t n;
};

/* Split text (len bytes, not necessarily NUL-terminated) into entries,
 * appended to f. Returns 0, or -1 with "LINE: reason" in err (f keeps the
 * entries before the bad line; conffile_free releases them either way). */
int conffile_parse(struct conffile *f, const char *text, size_t len, char *err, size_t errlen);

void conffile_free(struct conffile *f);

#endif
