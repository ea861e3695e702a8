#include "autoconfig.h"

#include "core/routes.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/log.h"
#include "http/auth.h"

/* ---- what the endpoints name on disk ------------------------------------------ */

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Find COMMAND as exec would, once, so a typo fails at start-up. */
static char *resolve_command(const char *name)
{
    if (strchr(name, '/')) return is_executable_file(name) ? strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char candidate[PATH_MAX];
        int len = snprintf(candidate, sizeof candidate, "%.*s/%s", (int)(n ? n : 1), n ? path : ".",
                           name);
        if (len > 0 && (size_t)len < sizeof candidate && is_executable_file(candidate))
            return strdup(candidate);
        path += n;
        if (*path == ':') path++;
    }
    return NULL;
}

/* A directory option as a canonical path; NULL with the reason otherwise. */
static char *directory(const char *given, const char *option, const char *where, char *err,
                       size_t errlen)
{
    struct stat st;
    char *real = realpath(given, NULL);
    if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s%s=%s: %s", where, option, given,
                 real ? "not a directory" : strerror(errno));
        free(real);
        return NULL;
    }
    return real;
}

static bool runs_exec(const struct config *e)
{
    return !e->backend.proxy && (e->backend.command || e->backend.dir);
}

static bool runs_commands(const struct config *e)
{
    return e->cgidir || runs_exec(e);
}

static int resolve_endpoint(struct config *e, const char *where, bool refuse_root, char *err,
                            size_t errlen)
{
    if (e->backend.command && !e->backend.dir && !e->backend.proxy &&
        !(e->command_path = resolve_command(e->backend.command[0]))) {
        snprintf(err, errlen, "%scannot run '%s': %s", where, e->backend.command[0],
                 strchr(e->backend.command[0], '/') ? "not an executable file"
                                                    : "not found in PATH");
        return -1;
    }
    if (refuse_root && runs_commands(e)) {
        bool scripts = e->backend.dir || !runs_exec(e);
        const char *what = e->backend.dir ? e->backend.dir
                           : runs_exec(e) ? e->backend.command[0]
                                          : e->cgidir;
        const char *it = scripts ? "them" : "it";
        snprintf(err, errlen,
                 "%srefusing to run %s%.200s as root: add --user=nobody (or any user who may read "
                 "and run %s) to run %s as that user, or --allow-root-children to run %s as root",
                 where, scripts ? "the scripts in " : "", what, it, it, it);
        return -1;
    }
    if (e->backend.dir &&
        !(e->script_root = directory(e->backend.dir, "--dir", where, err, errlen)))
        return -1;
    if (e->staticdir &&
        !(e->static_root = directory(e->staticdir, "--staticdir", where, err, errlen)))
        return -1;
    if (e->cgidir && !(e->cgi_root = directory(e->cgidir, "--cgidir", where, err, errlen)))
        return -1;
    return 0;
}

/* "FILE:LINE: route PATH: " for the messages about route i. */
static void route_where(const struct config *cfg, size_t i, char *out, size_t n)
{
    const struct route_config *r = &cfg->routes[i];
    snprintf(out, n, "%s:%u: route %s%.200s: ", cfg->config_file, r->line, r->exact ? "= " : "",
             r->path);
}

int routes_resolve(struct config *cfg, bool refuse_root, char *err, size_t errlen)
{
    if (resolve_endpoint(cfg, "", refuse_root, err, errlen) < 0) return -1;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        char where[400];
        route_where(cfg, i, where, sizeof where);
        if (resolve_endpoint(cfg->routes[i].cfg, where, refuse_root, err, errlen) < 0) return -1;
    }
    return 0;
}

/* ---- building a table ----------------------------------------------------------- */

/* --basic-auth users, then the --htpasswd file's. */
static int load_users(const struct config *e, struct auth_table *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < e->nbasic_auth; i++)
        if (auth_add_plain(t, e->basic_auth[i], err, errlen) < 0) return -1;
    if (e->htpasswd && auth_load_htpasswd(t, e->htpasswd, err, errlen) < 0) return -1;
    if (e->htpasswd && t->n == 0) {
        snprintf(err, errlen, "%s: no users", e->htpasswd);
        return -1;
    }
    return 0;
}

static int make_endpoint(struct route *r, struct config *e, unsigned https_port, char *err,
                         size_t errlen)
{
    r->session = &e->session;
    r->ep.set = &e->http;
    r->ep.static_root = e->static_root;
    r->ep.https_port = https_port;
    r->ep.auth_required = e->nbasic_auth || e->htpasswd;
    return load_users(e, &r->ep.auth, err, errlen);
}

/* The endpoint's WebSocket backend (ops NULL: the one its settings name),
 * or its --cgidir one. */
static struct backend *new_backend(struct config *e, const struct backend_ops *ops,
                                   struct context *ctx, char *err, size_t errlen)
{
    struct backend *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->ops = ops ? ops : backend_select(&e->backend);
    b->ctx = ctx;
    b->set = &e->backend;
    b->command_path = e->command_path;
    b->script_root = ops ? e->cgi_root : e->script_root;
    if (b->ops->setup(b, err, errlen) < 0) {
        b->ops->teardown(b);
        free(b);
        return NULL;
    }
    return b;
}

static bool same_string(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_list(char *const *a, char *const *b)
{
    for (; a && b && *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0) return false;
    return (!a || !*a) && (!b || !*b);
}

/* Whether the running backend b can serve e: the same kind, the same
 * program or target (what only a new backend can change). */
static bool same_backend(const struct backend *b, const struct config *e)
{
    const struct backend_settings *x = b->set, *y = &e->backend;
    return b->ops == backend_select(y) && same_list(x->command, y->command) &&
           same_string(b->command_path, e->command_path) &&
           same_string(b->script_root, e->script_root) && x->binary == y->binary &&
           x->line_buffer == y->line_buffer && x->pty == y->pty && x->shared == y->shared &&
           x->shared_prefix == y->shared_prefix && x->shared_events == y->shared_events &&
           same_string(x->connect, y->connect) && same_string(x->token_file, y->token_file) &&
           x->ssl_target == y->ssl_target && x->ssl_target_insecure == y->ssl_target_insecure;
}

static struct route *route_of(struct routes *t, const struct route_config *rc)
{
    for (size_t i = 0; i < t->table.n; i++) {
        struct route *r = &t->table.routes[i];
        if (r->exact == rc->exact && strcmp(r->path, rc->path) == 0) return r;
    }
    return NULL;
}

/* The endpoints of t, the top level last: route i < n, or the top at i == n. */
static struct route *nth(struct routes *t, size_t i)
{
    return i < t->table.n ? &t->table.routes[i] : &t->table.top;
}

static struct config *nth_config(struct config *cfg, size_t i)
{
    return i < cfg->nroutes ? cfg->routes[i].cfg : cfg;
}

/* Call fn on the backends of endpoint i: its WebSocket one, its --cgidir one. */
static void each_of(struct routes *t, size_t i, void (*fn)(struct backend *b))
{
    struct route *r = nth(t, i);
    if (r->ep.backend) fn(r->ep.backend);
    if (r->ep.cgi) fn(r->ep.cgi);
}

static void free_backend(struct backend *b)
{
    b->ops->teardown(b);
    free(b);
}

static void free_table(struct routes *t)
{
    for (size_t i = 0; i <= t->table.n; i++) {
        each_of(t, i, free_backend);
        auth_free(&nth(t, i)->ep.auth);
    }
    free(t->table.routes);
    free(t);
}

struct routes *routes_build(struct config *cfg, struct context *ctx, struct routes *old, char *err,
                            size_t errlen)
{
    size_t n = cfg->nroutes;
    struct routes *t = calloc(1, sizeof *t);
    struct backend **keep = calloc(n + 1, sizeof *keep); /* old backends that stay */
    if (t) t->table.routes = calloc(n ? n : 1, sizeof *t->table.routes);
    if (!t || !keep || !t->table.routes) {
        if (t) free(t->table.routes);
        free(t);
        free(keep);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->table.n = n;
    for (size_t i = 0; i <= n; i++) {
        struct route *r = nth(t, i);
        struct config *e = nth_config(cfg, i);
        char where[400] = "", why[600];
        if (i < n) {
            r->path = cfg->routes[i].path;
            r->len = strlen(r->path);
            r->exact = cfg->routes[i].exact;
            route_where(cfg, i, where, sizeof where);
        }
        bool ok = make_endpoint(r, e, cfg->port, why, sizeof why) == 0;
        if (ok && options_has_endpoint(e)) {
            const struct route *prev = !old    ? NULL
                                       : i < n ? route_of(old, &cfg->routes[i])
                                               : &old->table.top;
            if (prev && prev->ep.backend && (i == n || same_backend(prev->ep.backend, e)))
                keep[i] = prev->ep.backend;
            else
                ok = (r->ep.backend = new_backend(e, NULL, ctx, why, sizeof why)) != NULL;
        }
        /* Never kept: the old one ends with its table, once its scripts are done. */
        if (ok && e->cgi_root)
            ok = (r->ep.cgi = new_backend(e, backend_cgi(), ctx, why, sizeof why)) != NULL;
        if (!ok) {
            snprintf(err, errlen, "%s%s", where, why);
            free_table(t);
            free(keep);
            return NULL;
        }
    }
    /* Everything is in place: the kept backends move over, with their new settings. */
    for (size_t i = 0; i <= n; i++) {
        struct backend *b = keep[i];
        if (!b) continue;
        struct config *e = nth_config(cfg, i);
        struct route *prev = i < n ? route_of(old, &cfg->routes[i]) : &old->table.top;
        prev->ep.backend = NULL;
        nth(t, i)->ep.backend = b;
        b->set = &e->backend;
        b->command_path = e->command_path;
        b->script_root = e->script_root;
        if (b->ops->reload) b->ops->reload(b);
    }
    free(keep);
    t->cfg = cfg;
    return t;
}

static void retire_backend(struct backend *b)
{
    if (b->ops->retire) b->ops->retire(b);
}

void routes_retire(struct routes *old)
{
    routes_each_backend(old, retire_backend);
}

bool routes_unused(const struct routes *t)
{
    if (t->table.conns) return false;
    for (size_t i = 0; i <= t->table.n; i++) {
        const struct endpoint *ep = &nth((struct routes *)t, i)->ep;
        if ((ep->backend && ep->backend->objects) || (ep->cgi && ep->cgi->objects)) return false;
    }
    return true;
}

void routes_each_backend(struct routes *t, void (*fn)(struct backend *b))
{
    for (size_t i = 0; i <= t->table.n; i++) each_of(t, i, fn);
}

void routes_reload_in_place(struct routes *t)
{
    for (size_t i = 0; i <= t->table.n; i++) {
        struct route *r = nth(t, i);
        const struct config *e = nth_config(t->cfg, i);
        if (e->htpasswd) {
            struct auth_table fresh = {0};
            char err[600];
            if (load_users(e, &fresh, err, sizeof err) == 0) {
                auth_free(&r->ep.auth);
                r->ep.auth = fresh;
                log_info(0, "reload: %zu users loaded", fresh.n);
            } else {
                auth_free(&fresh);
                log_error(0, "reload: %s; keeping the previous users", err);
            }
        }
        struct backend *b = r->ep.backend;
        if (b && b->ops->reload) b->ops->reload(b);
    }
}

/* "serving COMMAND (text mode)", "proxying to TARGET": what e does. */
static void describe(const struct config *e, char *out, size_t n)
{
    const struct backend_settings *b = &e->backend;
    if (b->proxy)
        snprintf(out, n, "proxying to %s%s", b->connect ? b->connect : b->token_file,
                 b->shared    ? " (one connection, shared)"
                 : b->connect ? ""
                              : " (token file)");
    else
        snprintf(out, n, "serving %s%s (%s mode%s)", e->script_root ? "the scripts in " : "",
                 e->script_root ? e->script_root : e->command_path, b->binary ? "binary" : "text",
                 b->shared ? ", one process shared" : "");
}

void routes_log(const struct routes *t, const char *prefix)
{
    const struct config *cfg = t->cfg;
    char what[PATH_MAX + 64];
    if (options_has_endpoint(cfg)) {
        describe(cfg, what, sizeof what);
        log_info(0, "%s%s %s %s", prefix, PACKAGE_NAME, PACKAGE_VERSION, what);
    } else {
        log_info(0, "%s%s %s serving %zu route%s", prefix, PACKAGE_NAME, PACKAGE_VERSION,
                 cfg->nroutes, cfg->nroutes == 1 ? "" : "s");
    }
    if (cfg->cgi_root) log_info(0, "%sCGI scripts from %s", prefix, cfg->cgi_root);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct route_config *r = &cfg->routes[i];
        describe(r->cfg, what, sizeof what);
        log_info(0, "%sroute %s%s: %s%s%s%s%s", prefix, r->exact ? "= " : "", r->path, what,
                 r->cfg->static_root ? ", files from " : "",
                 r->cfg->static_root ? r->cfg->static_root : "",
                 r->cfg->cgi_root ? ", CGI scripts from " : "",
                 r->cfg->cgi_root ? r->cfg->cgi_root : "");
    }
}

void routes_free(struct routes *t)
{
    struct config *cfg = t->cfg;
    free_table(t);
    options_free(cfg);
    free(cfg);
}
