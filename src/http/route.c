#include "autoconfig.h"

#include "http/route.h"

#include <string.h>

struct route *route_match(struct route_table *t, const char *path, size_t len)
{
    struct route *best = NULL;
    for (size_t i = 0; i < t->n; i++) {
        struct route *r = &t->routes[i];
        if (r->exact) {
            if (r->len == len && memcmp(r->path, path, len) == 0) return r;
        } else if (r->len <= len && memcmp(r->path, path, r->len) == 0 &&
                   (!best || r->len > best->len)) {
            best = r;
        }
    }
    return best ? best : &t->top;
}

void route_done(struct context *ctx, void *table)
{
    (void)ctx;
    struct route_table *t = table;
    t->conns--;
}
