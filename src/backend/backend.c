/* The table of backends: adding one is adding its file and a line here. */
#include "autoconfig.h"

#include "backend/backend.h"

#include <sys/wait.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/metrics.h"
#include "base/rootpath.h"

#include "net/context.h"
#include "proto/handshake.h"

extern const struct backend_ops exec_backend, proxy_backend, shared_backend, cgi_backend;

static const struct backend_ops *const backends[] = {
    &exec_backend,
    &proxy_backend,
    &shared_backend,
};

const struct backend_ops *backend_select(const struct backend_settings *set)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (backends[i]->serves(set)) return backends[i];
    return NULL;
}

void backend_hold(struct backend *b)
{
    b->objects++;
    context_hold(b->ctx);
}

void backend_release(struct backend *b)
{
    b->objects--;
    context_release(b->ctx); /* the sweeper may free b, once these callbacks are over */
}

void backend_child_started(struct backend *b)
{
    b->nchildren++;
    b->ctx->nchildren++;
    metrics_count(MC_CHILDREN_STARTED);
    metrics_gauge(MG_CHILDREN_RUNNING, 1);
}

void backend_child_reaped(struct backend *b, int status)
{
    b->nchildren--;
    b->ctx->nchildren--;
    metrics_gauge(MG_CHILDREN_RUNNING, -1);
    if (status < 0) return; /* not waited for here */
    metrics_count(WIFSIGNALED(status)        ? MC_CHILD_EXIT_SIGNAL
                  : WEXITSTATUS(status) == 0 ? MC_CHILD_EXIT_ZERO
                                             : MC_CHILD_EXIT_NONZERO);
}

bool backend_pick_subprotocol(const struct backend_settings *set, struct session *s,
                              const struct http_request *req, struct backend_refusal *r)
{
    if (!set->nsubprotocols) return true;
    s->subprotocol = handshake_pick_subprotocol(req, set->subprotocols, set->nsubprotocols);
    if (s->subprotocol || !set->subprotocol_required) return true;
    r->http_status = 400;
    int n = snprintf(r->why, sizeof r->why, "no subprotocol this endpoint speaks was offered:");
    for (size_t i = 0; i < set->nsubprotocols && n > 0 && (size_t)n < sizeof r->why; i++)
        n += snprintf(r->why + n, sizeof r->why - (size_t)n, "%s %s", i ? "," : "",
                      set->subprotocols[i]);
    return false;
}

int backend_find_script(const char *root, const struct http_request *req, struct script_match *m)
{
    const char *path, *query;
    size_t path_len, query_len;
    if (!http_split_target(req, &path, &path_len, &query, &query_len)) return 404;
    char *decoded = malloc(path_len + 1);
    if (!decoded) return 503;
    long n = http_percent_decode(path, path_len, decoded);
    int status = n < 0 ? 404 : rootpath_find_script(root, decoded, (size_t)n, m);
    free(decoded);
    return status;
}

const struct backend_ops *backend_cgi(void)
{
    return &cgi_backend;
}
