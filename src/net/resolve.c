/* Reverse lookups off the loop. The loop owns the cache, the queries in
 * flight and their waiters; the threads see only jobs, through two lists
 * under one mutex: `todo` (queued by the loop, taken by a thread) and
 * `done` (answered, taken by the loop when the ev_async wakes it).
 *
 * The bounds: 4 threads (a lookup mostly waits on the network, and more
 * threads would only pile more queries on a DNS server that is already
 * slow); 256 queries queued or running (a client never waits past its
 * timeout anyway, so beyond that a new address gets no name at once rather
 * than a place in a queue it could not leave in time); 1024 answers cached,
 * names for 5 minutes and "no name" for 1 (what a short-lived PTR change
 * or a brief DNS outage is worth), the oldest evicted first. */
#include "autoconfig.h"

#include "net/resolve.h"

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

#define BUCKETS         2048 /* a power of two above RESOLVE_CACHE_MAX + RESOLVE_QUERIES_MAX */
#define REFUSAL_LOG_GAP 60.0 /* seconds between "too many queries" lines */

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/* One query: made by the loop, run by a thread, handed back on `done`.
 * Once a thread has it, only the thread writes found and name, and the
 * loop reads them only after taking the job from `done` (the mutex orders
 * both). */
struct job {
    struct job *prev, *next; /* on todo or done */
    enum job_state state;    /* under the mutex */
    struct entry *entry;     /* the loop's, while the resolver lives */
    struct ip_addr addr;
    bool found;
    char name[RESOLVE_NAME_MAX];
};

/* An address: being looked up (job set, waiters), or answered (in the
 * cache's order of age). */
struct entry {
    struct entry *hnext;
    struct entry *older, *newer;
    struct ip_addr addr;
    bool answered;
    ev_tstamp expires;
    char *name; /* answered: the name, or NULL for none */
    struct job *job;
    struct resolve_wait *waiters;
};

struct resolve_wait {
    struct resolve_wait *prev, *next;
    struct resolver *r;
    struct entry *e;
    ev_timer timer;
    resolve_cb cb;
    void *arg;
};

struct resolver {
    /* The loop's. */
    struct ev_loop *loop;
    ev_async wake;
    struct resolver_hooks hooks;
    uint64_t seed;
    struct entry *buckets[BUCKETS];
    struct entry *oldest, *newest; /* the answered entries */
    unsigned ncached, nqueries;
    ev_tstamp refusal_logged;
    unsigned refusals_unlogged;

    /* Shared with the threads: under mu. */
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct job *todo, *todo_tail, *done;
    unsigned queued, idle, nthreads;
    unsigned refs; /* the loop's (until resolver_free) and one per thread */
    bool closing;
};

/* ---- the lookup itself (on a thread) ------------------------------------------ */

bool resolve_name_plausible(const char *name, size_t len)
{
    if (len == 0 || len > RESOLVE_NAME_MAX - 1) return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        if (!ok) return false;
        label++;
    }
    return label > 0;
}

bool resolve_confirmed(const struct ip_addr *addr, char out[RESOLVE_NAME_MAX])
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sslen;
    int family;
    if (memcmp(addr->b, v4_mapped, sizeof v4_mapped) == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = family = AF_INET;
        memcpy(&sin->sin_addr, addr->b + 12, 4);
        sslen = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = family = AF_INET6;
        memcpy(&sin6->sin6_addr, addr->b, 16);
        sslen = sizeof *sin6;
    }
    char host[NI_MAXHOST];
    if (getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof host, NULL, 0, NI_NAMEREQD) != 0)
        return false;
    size_t n = strlen(host);
    if (!resolve_name_plausible(host, n)) return false;
    /* Forward confirmation: whoever controls the PTR record of an address
     * can name it anything; only a name whose own records lead back to the
     * address says something about the client. */
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) return false;
    bool confirmed = false;
    for (const struct addrinfo *ai = res; ai && !confirmed; ai = ai->ai_next) {
        struct ip_addr a;
        confirmed = ip_from_sockaddr(ai->ai_addr, &a) && memcmp(a.b, addr->b, 16) == 0;
    }
    freeaddrinfo(res);
    if (confirmed) memcpy(out, host, n + 1);
    return confirmed;
}

static void destroy(struct resolver *r)
{
    pthread_cond_destroy(&r->work);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void *worker(void *p)
{
    struct resolver *r = p;
    pthread_mutex_lock(&r->mu);
    while (!r->closing) {
        struct job *j = r->todo;
        if (!j) {
            r->idle++;
            pthread_cond_wait(&r->work, &r->mu);
            r->idle--;
            continue;
        }
        r->todo = j->next;
        if (r->todo)
            r->todo->prev = NULL;
        else
            r->todo_tail = NULL;
        r->queued--;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&r->mu);
        bool found = r->hooks.lookup(&j->addr, j->name);
        pthread_mutex_lock(&r->mu);
        if (r->closing) {
            free(j); /* the loop has let go of it */
            break;
        }
        j->found = found;
        j->state = JOB_DONE;
        list_push(r->done, j);
        ev_async_send(r->loop, &r->wake);
    }
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) destroy(r);
    return NULL;
}

/* Under mu. Every signal blocked in the thread: signals stay with the loop
 * (libev's handlers, its SIGCHLD reaping), whichever thread the kernel would
 * otherwise pick. */
static bool start_thread(struct resolver *r)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, &attr, worker, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) return false;
    r->nthreads++;
    r->refs++;
    return true;
}

/* ---- the cache (the loop's) ---------------------------------------------------- */

static size_t hash(const struct resolver *r, const struct ip_addr *a)
{
    uint64_t h = 0xcbf29ce484222325ull ^ r->seed;
    for (int i = 0; i < 16; i++) {
        h ^= a->b[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return (size_t)(h & (BUCKETS - 1));
}

static struct entry **slot_of(struct resolver *r, const struct ip_addr *a)
{
    struct entry **p = &r->buckets[hash(r, a)];
    while (*p && memcmp((*p)->addr.b, a->b, 16) != 0) p = &(*p)->hnext;
    return p;
}

static void drop(struct resolver *r, struct entry *e)
{
    struct entry **p = slot_of(r, &e->addr);
    *p = e->hnext;
    if (e->answered) {
        if (e->older)
            e->older->newer = e->newer;
        else
            r->oldest = e->newer;
        if (e->newer)
            e->newer->older = e->older;
        else
            r->newest = e->older;
        r->ncached--;
    } else {
        r->nqueries--;
    }
    free(e->name);
    free(e);
}

/* The last waiter of a query has gone: a query no thread has begun is
 * dropped (nobody wants it); a running one finishes and fills the cache. */
static void maybe_abandon(struct resolver *r, struct entry *e)
{
    if (e->waiters || e->answered) return;
    struct job *j = e->job;
    pthread_mutex_lock(&r->mu);
    bool queued = j->state == JOB_QUEUED;
    if (queued) {
        if (j->prev)
            j->prev->next = j->next;
        else
            r->todo = j->next;
        if (j->next)
            j->next->prev = j->prev;
        else
            r->todo_tail = j->prev;
        r->queued--;
    }
    pthread_mutex_unlock(&r->mu);
    if (!queued) return;
    free(j);
    drop(r, e);
}

static void answer(struct resolver *r, struct entry *e, const char *name)
{
    r->nqueries--;
    e->job = NULL;
    e->answered = true;
    e->name = name ? strdup(name) : NULL; /* out of memory: no name, as for a failure */
    e->expires = r->hooks.now(r->loop) + (e->name ? RESOLVE_TTL_NAME : RESOLVE_TTL_NONE);
    e->older = r->newest;
    e->newer = NULL;
    if (r->newest)
        r->newest->newer = e;
    else
        r->oldest = e;
    r->newest = e;
    r->ncached++;
    while (r->ncached > RESOLVE_CACHE_MAX) drop(r, r->oldest); /* never e, the newest */
    /* Callbacks may look addresses up (this one is answered from the cache
     * now) or cancel other waiters; each waiter is unlinked before its call. */
    char copy[RESOLVE_NAME_MAX];
    if (e->name) memcpy(copy, e->name, strlen(e->name) + 1);
    struct resolve_wait *w;
    while ((w = e->waiters)) {
        list_unlink(e->waiters, w);
        ev_timer_stop(r->loop, &w->timer);
        resolve_cb cb = w->cb;
        void *arg = w->arg;
        free(w);
        cb(arg, e->name ? copy : NULL);
    }
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    struct resolver *r = container_of(w, struct resolver, wake);
    pthread_mutex_lock(&r->mu);
    struct job *done = r->done;
    r->done = NULL;
    pthread_mutex_unlock(&r->mu);
    while (done) {
        struct job *j = done;
        done = j->next;
        answer(r, j->entry, j->found ? j->name : NULL);
        free(j);
    }
}

static void on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct resolve_wait *w = container_of(t, struct resolve_wait, timer);
    struct resolver *r = w->r;
    struct entry *e = w->e;
    list_unlink(e->waiters, w);
    resolve_cb cb = w->cb;
    void *arg = w->arg;
    free(w);
    maybe_abandon(r, e);
    cb(arg, NULL);
}

static ev_tstamp loop_now(struct ev_loop *loop)
{
    return ev_now(loop);
}

struct resolver *resolver_new(struct ev_loop *loop)
{
    struct resolver *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        return NULL;
    }
    if (pthread_cond_init(&r->work, NULL) != 0) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    r->loop = loop;
    r->refs = 1;
    r->hooks = (struct resolver_hooks){.lookup = resolve_confirmed, .now = loop_now};
    if (getrandom(&r->seed, sizeof r->seed, GRND_NONBLOCK) != sizeof r->seed)
        r->seed = (uint64_t)getpid();
    ev_async_init(&r->wake, on_wake);
    ev_async_start(loop, &r->wake);
    ev_unref(loop); /* waiting for an answer nobody waits for keeps nothing running */
    r->refusal_logged = -REFUSAL_LOG_GAP;
    return r;
}

void resolver_set_hooks(struct resolver *r, const struct resolver_hooks *hooks)
{
    if (hooks->lookup) r->hooks.lookup = hooks->lookup;
    if (hooks->now) r->hooks.now = hooks->now;
}

void resolver_free(struct resolver *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->closing = true; /* from here no thread touches the loop or a job it does not hold */
    struct job *lists[2] = {r->todo, r->done};
    r->todo = r->todo_tail = r->done = NULL;
    pthread_cond_broadcast(&r->work);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < 2; i++) {
        while (lists[i]) {
            struct job *j = lists[i];
            lists[i] = j->next;
            free(j);
        }
    }
    ev_ref(r->loop);
    ev_async_stop(r->loop, &r->wake);
    for (size_t i = 0; i < BUCKETS; i++) {
        while (r->buckets[i]) {
            struct entry *e = r->buckets[i];
            r->buckets[i] = e->hnext;
            while (e->waiters) {
                struct resolve_wait *w = e->waiters;
                e->waiters = w->next;
                ev_timer_stop(r->loop, &w->timer);
                free(w);
            }
            free(e->name);
            free(e);
        }
    }
    pthread_mutex_lock(&r->mu);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) destroy(r);
}

/* Too many queries already: this address gets no name, and the log one
 * line a minute at most. */
static void note_refusal(struct resolver *r, const struct ip_addr *addr)
{
    ev_tstamp now = ev_now(r->loop);
    if (now - r->refusal_logged < REFUSAL_LOG_GAP) {
        r->refusals_unlogged++;
        return;
    }
    char text[64];
    ip_format(addr, text, sizeof text);
    if (r->refusals_unlogged)
        log_warn(0,
                 "reverse lookups: %d queries waiting already, %s gets no name (and %u others "
                 "since the last such line)",
                 RESOLVE_QUERIES_MAX, text, r->refusals_unlogged);
    else
        log_warn(0, "reverse lookups: %d queries waiting already, %s gets no name",
                 RESOLVE_QUERIES_MAX, text);
    r->refusal_logged = now;
    r->refusals_unlogged = 0;
}

/* A new entry with its job queued, a thread woken or made for it. NULL
 * when that cannot be done (out of memory, no thread at all). */
static struct entry *start_query(struct resolver *r, const struct ip_addr *addr)
{
    struct entry *e = calloc(1, sizeof *e);
    struct job *j = calloc(1, sizeof *j);
    if (!e || !j) {
        free(e);
        free(j);
        return NULL;
    }
    e->addr = j->addr = *addr;
    e->job = j;
    j->entry = e;
    j->state = JOB_QUEUED;
    pthread_mutex_lock(&r->mu);
    j->prev = r->todo_tail;
    if (r->todo_tail)
        r->todo_tail->next = j;
    else
        r->todo = j;
    r->todo_tail = j;
    r->queued++;
    if (r->queued > r->idle && r->nthreads < RESOLVE_THREADS_MAX && !start_thread(r) &&
        r->nthreads == 0) {
        r->todo = r->todo_tail = NULL; /* j was the only one: no thread ever ran */
        r->queued = 0;
        pthread_mutex_unlock(&r->mu);
        log_error(0, "reverse lookups: cannot start a thread");
        free(j);
        free(e);
        return NULL;
    }
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->mu);
    struct entry **p = slot_of(r, addr);
    e->hnext = *p;
    *p = e;
    r->nqueries++;
    return e;
}

enum resolve_status resolver_lookup(struct resolver *r, const struct ip_addr *addr, double timeout,
                                    char out[RESOLVE_NAME_MAX], resolve_cb cb, void *arg,
                                    struct resolve_wait **handle)
{
    *handle = NULL;
    out[0] = '\0';
    struct entry *e = *slot_of(r, addr);
    if (e && e->answered && e->expires <= r->hooks.now(r->loop)) {
        drop(r, e);
        e = NULL;
    }
    if (e && e->answered) {
        if (e->name) memcpy(out, e->name, strlen(e->name) + 1);
        return RESOLVE_DONE;
    }
    if (!e) {
        if (r->nqueries >= RESOLVE_QUERIES_MAX) {
            note_refusal(r, addr);
            return RESOLVE_DONE;
        }
        if (!(e = start_query(r, addr))) return RESOLVE_DONE;
    }
    struct resolve_wait *w = calloc(1, sizeof *w);
    if (!w) {
        maybe_abandon(r, e);
        return RESOLVE_DONE;
    }
    w->r = r;
    w->e = e;
    w->cb = cb;
    w->arg = arg;
    list_push(e->waiters, w);
    ev_timer_init(&w->timer, on_timeout, timeout, 0.);
    ev_timer_start(r->loop, &w->timer);
    *handle = w;
    return RESOLVE_PENDING;
}

void resolver_cancel(struct resolve_wait *w)
{
    if (!w) return;
    struct resolver *r = w->r;
    struct entry *e = w->e;
    ev_timer_stop(r->loop, &w->timer);
    list_unlink(e->waiters, w);
    free(w);
    maybe_abandon(r, e);
}
