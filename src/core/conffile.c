#include "autoconfig.h"

#include "core/conffile.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trim [*start, *end) of blanks on both sides. */
static void trim(const char **start, const char **end)
{
    while (*start < *end && is_blank(**start)) (*start)++;
    while (*end > *start && is_blank((*end)[-1])) (*end)--;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static char *copy(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int add(struct conffile *f, const char *name, size_t name_len, const char *value,
               size_t value_len, unsigned line)
{
    unsigned section = (unsigned)f->nsections;
    struct conffile_entry *grown = realloc(f->entries, (f->n + 1) * sizeof *grown);
    if (!grown) return -1;
    f->entries = grown;
    struct conffile_entry *e = &grown[f->n];
    e->line = line;
    e->section = section;
    e->name = copy(name, name_len);
    e->value = value ? copy(value, value_len) : NULL;
    if (!e->name || (value && !e->value)) {
        free(e->name);
        free(e->value);
        return -1;
    }
    f->n++;
    return 0;
}

/* "[route /prefix/]" or "[route = /exact]", p..end trimmed. */
static int parse_section(struct conffile *f, const char *p, const char *end, unsigned line,
                         char *err, size_t errlen)
{
    if (end - p < 2 || end[-1] != ']') {
        snprintf(err, errlen, "%u: expected '[route /path/]' (a section ends with ']')", line);
        return -1;
    }
    p++;
    end--;
    trim(&p, &end);
    static const char kw[] = "route";
    size_t kwlen = sizeof kw - 1;
    if ((size_t)(end - p) < kwlen || memcmp(p, kw, kwlen) != 0 ||
        (p + kwlen < end && !is_blank(p[kwlen]))) {
        snprintf(err, errlen, "%u: expected '[route /path/]' (the only section is 'route')", line);
        return -1;
    }
    p += kwlen;
    trim(&p, &end);
    bool exact = p < end && *p == '=';
    if (exact) {
        p++;
        trim(&p, &end);
    }
    if (p == end || *p != '/') {
        snprintf(err, errlen, "%u: a route's path starts with '/' ('[route /chat/]')", line);
        return -1;
    }
    for (const char *c = p; c < end; c++) {
        if (is_blank(*c) || *c == '?' || *c == '#' || (unsigned char)*c < 0x20 || *c == 0x7F) {
            snprintf(err, errlen,
                     "%u: a route's path has no blanks, control characters, '?' or '#'", line);
            return -1;
        }
    }
    struct conffile_section *grown = realloc(f->sections, (f->nsections + 1) * sizeof *grown);
    if (!grown) goto oom;
    f->sections = grown;
    struct conffile_section *s = &grown[f->nsections];
    if (!(s->path = copy(p, (size_t)(end - p)))) goto oom;
    s->exact = exact;
    s->line = line;
    f->nsections++;
    return 0;
oom:
    snprintf(err, errlen, "%u: out of memory", line);
    return -1;
}

/* One line without its line break. Returns 0, or -1 with the reason in err. */
static int parse_line(struct conffile *f, const char *p, const char *end, unsigned line, char *err,
                      size_t errlen)
{
    trim(&p, &end);
    if (p == end || *p == '#') return 0;
    if (*p == '[') return parse_section(f, p, end, line, err, errlen);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    const char *name = p, *name_end = eq ? eq : end;
    trim(&name, &name_end);
    /* "--port = 80" pasted from a command line means "port = 80". */
    if (name_end - name > 2 && name[0] == '-' && name[1] == '-') name += 2;
    if (name == name_end) {
        snprintf(err, errlen, "%u: expected 'name = value'", line);
        return -1;
    }
    for (const char *c = name; c < name_end; c++) {
        if (!is_name_char(*c)) {
            snprintf(err, errlen,
                     "%u: expected 'name = value' (an option name is lower-case "
                     "letters, digits and '-')",
                     line);
            return -1;
        }
    }
    const char *value = NULL, *value_end = NULL;
    if (eq) {
        value = eq + 1;
        value_end = end;
        trim(&value, &value_end);
        /* Quotes keep blanks at either end: header = "X-Note:  spaced " */
        if (value_end - value >= 2 && value[0] == '"' && value_end[-1] == '"') {
            value++;
            value_end--;
        }
    }
    if (add(f, name, (size_t)(name_end - name), value, value ? (size_t)(value_end - value) : 0,
            line) < 0) {
        snprintf(err, errlen, "%u: out of memory", line);
        return -1;
    }
    return 0;
}

int conffile_parse(struct conffile *f, const char *text, size_t len, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    unsigned line = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *line_end = stop > p && stop[-1] == '\r' ? stop - 1 : stop;
        if (memchr(p, '\0', (size_t)(line_end - p))) {
            snprintf(err, errlen, "%u: NUL byte (not a text file?)", line);
            return -1;
        }
        if (parse_line(f, p, line_end, line, err, errlen) < 0) return -1;
        p = nl ? nl + 1 : end;
        line++;
    }
    return 0;
}

void conffile_free(struct conffile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->entries[i].name);
        free(f->entries[i].value);
    }
    free(f->entries);
    f->entries = NULL;
    f->n = 0;
    for (size_t i = 0; i < f->nsections; i++) free(f->sections[i].path);
    free(f->sections);
    f->sections = NULL;
    f->nsections = 0;
}
