/* The --config file's syntax: one long option per line, "name = value" (or
 * a bare "name" for a flag), '#' comments on lines of their own, and route
 * sections: a line "[route /prefix/]" (or "[route = /exact]") starts one,
 * and the entries after it belong to it until the next. Pure: it only
 * splits text into entries; options.c gives them meaning. */
#ifndef WSB_CONFFILE_H
#define WSB_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>

struct conffile_entry {
    char *name;       /* option name without dashes */
    char *value;      /* NULL for a bare name; may be "" for "name =" */
    unsigned line;    /* 1-based, for error messages */
    unsigned section; /* 0: before any section; k: the k-th section (sections[k - 1]) */
};

struct conffile_section {
    char *path;    /* the URL path: starts with '/', no blanks, '?' or '#' */
    bool exact;    /* "[route = /path]": this path only (else a prefix) */
    unsigned line; /* of the "[route ...]" line */
};

struct conffile {
    struct conffile_entry *entries;
    size_t n;
    struct conffile_section *sections;
    size_t nsections;
};

/* Split text (len bytes, not necessarily NUL-terminated) into entries,
 * appended to f. Returns 0, or -1 with "LINE: reason" in err (f keeps the
 * entries before the bad line; conffile_free releases them either way). */
int conffile_parse(struct conffile *f, const char *text, size_t len, char *err, size_t errlen);

void conffile_free(struct conffile *f);

#endif
