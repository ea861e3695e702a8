/* Minimal TAP producer for the unit tests: one "ok N - name" per check. */
#ifndef WSB_TAP_H
#define WSB_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failures;

__attribute__((format(printf, 4, 5))) static int tap_check(int pass, const char *file, int line,
                                                           const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", pass ? "ok" : "not ok", ++tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!pass) {
        tap_failures++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return pass;
}

/* A printable copy of n bytes for test names (control bytes as \xNN); two
 * results may be used in one call. */
__attribute__((unused)) static const char *escn(const char *s, size_t n)
{
    static char slots[2][256];
    static int next;
    char *o = slots[next++ & 1];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < sizeof slots[0]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7F)
            k += (size_t)snprintf(o + k, 5, "\\x%02X", c);
        else
            o[k++] = (char)c;
    }
    o[k] = '\0';
    return o;
}

#define ok(cond, ...) tap_check((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

static int tap_finish(void)
{
    printf("1..%d\n", tap_count);
    return tap_failures ? 1 : 0;
}

#endif
