#include "autoconfig.h"

#include "net/context.h"

#include <openssl/ssl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "net/conn.h"
#include "net/fallback.h"
#include "net/resolve.h"

static void free_graveyard(struct context *ctx)
{
    while (ctx->graveyard) {
        struct conn *c = ctx->graveyard;
        ctx->graveyard = c->next;
        conn_free(c);
    }
}

static void sweep(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)revents;
    struct context *ctx = container_of(w, struct context, sweeper);
    if (!ctx->graveyard && !ctx->release_pending) return;
    free_graveyard(ctx);
    fallback_sweep(ctx);
    ctx->release_pending = false;
    ctx->released(ctx);
}

void context_init(struct context *ctx, struct ev_loop *loop)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->loop = loop;
    ev_check_init(&ctx->sweeper, sweep);
    /* Lowest priority: it runs after the callbacks of the same iteration,
     * which may have just closed connections. */
    ev_set_priority(&ctx->sweeper, EV_MINPRI);
    ev_check_start(loop, &ctx->sweeper);
    ev_unref(loop); /* the sweeper alone never keeps the loop running */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed) seed = (uint64_t)getpid();
    ipcount_init(&ctx->per_ip, seed);
}

void context_stop_all(struct context *ctx)
{
    struct conn *next;
    for (struct conn *c = ctx->conns; c; c = next) {
        next = c->next;
        if (c->state == CONN_OPEN)
            conn_shutdown(c);
        else if (c->state == CONN_HANDSHAKE && c->between_requests)
            conn_abort(c, NULL); /* kept alive, idle: nothing to say */
        else if (c->state == CONN_HANDSHAKE || c->state == CONN_CONNECTING)
            conn_abort(c, "server shutting down");
    }
    fallback_stop_all(ctx);
}

void context_close_all(struct context *ctx)
{
    fallback_close_all(ctx);
    while (ctx->conns) conn_abort(ctx->conns, "server exiting");
    free_graveyard(ctx);
}

void context_free(struct context *ctx)
{
    SSL_CTX_free(ctx->tls);
    ctx->tls = NULL;
    ipcount_free(&ctx->per_ip);
    resolver_free(ctx->resolver);
    ctx->resolver = NULL;
    ev_check_stop(ctx->loop, &ctx->sweeper);
}

struct resolver *context_resolver(struct context *ctx)
{
    if (!ctx->resolver) ctx->resolver = resolver_new(ctx->loop);
    return ctx->resolver;
}

bool context_address_allowed(const struct context *ctx, const struct ip_addr *ip)
{
    const struct conn_settings *set = ctx->set;
    if (cidr_match_any(set->deny, set->ndeny, ip)) return false;
    return set->nallow == 0 || cidr_match_any(set->allow, set->nallow, ip);
}

void context_log_refusal(struct context *ctx, const char *what)
{
    ev_tstamp now = ev_now(ctx->loop);
    if (now - ctx->refusals_logged < 1.0) {
        ctx->refusals_unlogged++;
        return;
    }
    if (ctx->refusals_unlogged)
        log_warn(0, "%s (and %u more refusals in the last second)", what, ctx->refusals_unlogged);
    else
        log_warn(0, "%s", what);
    ctx->refusals_logged = now;
    ctx->refusals_unlogged = 0;
}

void context_hold(struct context *ctx)
{
    ctx->nbackend_objs++;
}

void context_release(struct context *ctx)
{
    ctx->nbackend_objs--;
    ctx->release_pending = true; /* the sweeper tells the server, after the current callbacks */
}
