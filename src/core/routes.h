/* The route table of one configuration: the top level's endpoint and one
 * per [route] section, each with its users, static directory and backend.
 * A reload builds a new table from the new configuration, keeping the
 * backends of the endpoints whose restart-only settings did not change (a
 * shared COMMAND keeps running); the old table is retired and freed once no
 * connection routed through it and no object of its own backends is left. */
#ifndef WSB_ROUTES_H
#define WSB_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/options.h"
#include "http/route.h"

struct context;
struct backend;

struct routes {
    struct route_table table;
    struct config *cfg;  /* owned: the table's settings point into it */
    struct routes *next; /* the server's list of retired tables */
};

/* Find what each endpoint of cfg names on disk: COMMAND in PATH, --dir and
 * --staticdir as canonical paths (into the configs' command_path,
 * script_root and static_root). refuse_root: no endpoint may run a
 * command (COMMAND would run as root). Returns 0, or -1 with the reason in
 * err (the top level's in the words of the start-up checks; a route's
 * prefixed with its file, line and path). */
int routes_resolve(struct config *cfg, bool refuse_root, char *err, size_t errlen);

/* Build the table of cfg (resolved; the table takes it over). With old (a
 * reload), the backend of the top level and of each route whose backend
 * settings are the same moves to the new table and gets its reload hook;
 * the other endpoints get new backends. Returns the table, or NULL with the
 * reason in err: then old is untouched and cfg still the caller's. */
struct routes *routes_build(struct config *cfg, struct context *ctx, struct routes *old, char *err,
                            size_t errlen);

/* old has been replaced: its own backends get their retire hook. */
void routes_retire(struct routes *old);

/* No connection routed through t and no object of its backends is left. */
bool routes_unused(const struct routes *t);

/* Call fn on each backend t owns. */
void routes_each_backend(struct routes *t, void (*fn)(struct backend *b));

/* Reload what can be reloaded without a new configuration (SIGHUP without
 * --config): the users of every endpoint, the backends' reload hooks. */
void routes_reload_in_place(struct routes *t);

/* Log what each endpoint serves (at start-up and after a reload). */
void routes_log(const struct routes *t, const char *prefix);

/* Tear its backends down and free everything. */
void routes_free(struct routes *t);

#endif
