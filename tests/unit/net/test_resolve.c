#include "autoconfig.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "net/resolve.h"
#include "../tap.h"

/* ---- a lookup the test controls, and a clock it can move ------------------------ */

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cv = PTHREAD_COND_INITIALIZER;
static bool fake_blocked;
static int fake_calls, fake_returned;

/* Addresses ending in an odd byte are named "hostN.test"; even ones have no name. */
static bool fake_lookup(const struct ip_addr *addr, char out[RESOLVE_NAME_MAX])
{
    pthread_mutex_lock(&fake_mu);
    fake_calls++;
    while (fake_blocked) pthread_cond_wait(&fake_cv, &fake_mu);
    pthread_mutex_unlock(&fake_mu);
    unsigned last = addr->b[15];
    bool named = last % 2 == 1;
    if (named) snprintf(out, RESOLVE_NAME_MAX, "host%u.test", last);
    pthread_mutex_lock(&fake_mu);
    fake_returned++;
    pthread_mutex_unlock(&fake_mu);
    return named;
}

static void block_lookups(bool on)
{
    pthread_mutex_lock(&fake_mu);
    fake_blocked = on;
    pthread_cond_broadcast(&fake_cv);
    pthread_mutex_unlock(&fake_mu);
}

static int calls(void)
{
    pthread_mutex_lock(&fake_mu);
    int n = fake_calls;
    pthread_mutex_unlock(&fake_mu);
    return n;
}

static int returned(void)
{
    pthread_mutex_lock(&fake_mu);
    int n = fake_returned;
    pthread_mutex_unlock(&fake_mu);
    return n;
}

static ev_tstamp clock_offset;

static ev_tstamp fake_now(struct ev_loop *loop)
{
    return ev_now(loop) + clock_offset;
}

static const struct resolver_hooks fake = {.lookup = fake_lookup, .now = fake_now};

/* ---- callbacks ------------------------------------------------------------------ */

struct answer {
    int calls;
    bool named;
    char name[RESOLVE_NAME_MAX];
};

static int answers; /* callbacks so far, all waiters together */

static void on_answer(void *arg, const char *name)
{
    struct answer *a = arg;
    a->calls++;
    a->named = name != NULL;
    snprintf(a->name, sizeof a->name, "%s", name ? name : "");
    answers++;
}

static void tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* Run the loop until `answers` reaches want (or 10 s pass). */
static bool run_until(struct ev_loop *loop, int want)
{
    ev_timer t;
    ev_timer_init(&t, tick, 0.02, 0.02);
    ev_timer_start(loop, &t);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        if (answers >= want) break;
        ev_run(loop, EVRUN_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (answers < want && now.tv_sec - start.tv_sec < 10);
    ev_timer_stop(loop, &t);
    return answers >= want;
}

/* Let the loop run for a while (callbacks that should not come, have time to). */
static void run_for(struct ev_loop *loop, double seconds)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    ev_timer t;
    ev_timer_init(&t, tick, 0.01, 0.01);
    ev_timer_start(loop, &t);
    do {
        ev_run(loop, EVRUN_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    ev_timer_stop(loop, &t);
}

static struct ip_addr addr(const char *text)
{
    struct ip_addr a;
    memset(&a, 0, sizeof a);
    ip_parse(text, strlen(text), &a);
    return a;
}

/* ---- the name check ------------------------------------------------------------- */

static void test_plausible(void)
{
    static const char *const good[] = {"localhost", "a.b",   "host-1.example.com",
                                       "_srv.x",    "A1.B2", "xn--bcher-kva.example"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ok(resolve_name_plausible(good[i], strlen(good[i])), "plausible: \"%s\"", good[i]);
    static const char *const bad[] = {"",      ".",           "a..b",         ".a",  "a.",
                                      "a b",   "a\tb",        "evil\nREMOTE", "a;b", "a/b",
                                      "$(id)", "caf\xc3\xa9", "a:b",          "a\\b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(!resolve_name_plausible(bad[i], strlen(bad[i])), "implausible: \"%s\"",
           escn(bad[i], strlen(bad[i])));
    ok(!resolve_name_plausible("a\0b", 3), "implausible: a NUL inside");
    char longest[254];
    for (int i = 0; i < 253; i++) longest[i] = i % 2 ? '.' : 'a';
    longest[252] = 'a';
    longest[253] = '\0';
    ok(resolve_name_plausible(longest, 253), "253 bytes are a host name");
    char too_long[255];
    memcpy(too_long, longest, 253);
    memcpy(too_long + 253, "a", 2);
    ok(!resolve_name_plausible(too_long, 254), "254 bytes are not");
}

/* ---- the cache, shared queries, timeouts, cancel -------------------------------- */

static void test_cache(struct ev_loop *loop)
{
    struct resolver *r = resolver_new(loop);
    resolver_set_hooks(r, &fake);
    char out[RESOLVE_NAME_MAX];
    struct resolve_wait *h1, *h2, *h3;
    struct answer a1 = {0}, a2 = {0}, a3 = {0};
    struct ip_addr one = addr("192.0.2.1"), two = addr("192.0.2.2");
    int base = calls();

    block_lookups(true);
    ok(resolver_lookup(r, &one, 10, out, on_answer, &a1, &h1) == RESOLVE_PENDING && h1,
       "a new address is PENDING");
    ok(resolver_lookup(r, &one, 10, out, on_answer, &a2, &h2) == RESOLVE_PENDING,
       "a second lookup of it is PENDING too");
    ok(resolver_lookup(r, &one, 10, out, on_answer, &a3, &h3) == RESOLVE_PENDING, "and a third");
    resolver_cancel(h3);
    block_lookups(false);
    answers = 0;
    ok(run_until(loop, 2), "both waiters are answered");
    ok(a1.calls == 1 && a1.named && strcmp(a1.name, "host1.test") == 0 && a2.calls == 1 &&
           strcmp(a2.name, "host1.test") == 0,
       "each gets the name once (%s, %s)", a1.name, a2.name);
    run_for(loop, 0.05);
    ok(a3.calls == 0, "the cancelled one never is");
    ok(calls() == base + 1, "the three shared one query (%d)", calls() - base);

    ok(resolver_lookup(r, &one, 10, out, on_answer, &a1, &h1) == RESOLVE_DONE && !h1 &&
           strcmp(out, "host1.test") == 0,
       "then the cache answers at once: %s", out);
    ok(calls() == base + 1, "without a query");

    answers = 0;
    ok(resolver_lookup(r, &two, 10, out, on_answer, &a1, &h1) == RESOLVE_PENDING &&
           run_until(loop, 1) && !a1.named,
       "an address without a name: the callback gets NULL");
    ok(resolver_lookup(r, &two, 10, out, on_answer, &a1, &h1) == RESOLVE_DONE && out[0] == '\0',
       "and the cache remembers that (\"\")");

    /* TTLs: names 5 minutes, none 1 minute. */
    clock_offset += RESOLVE_TTL_NONE - 1;
    ok(resolver_lookup(r, &two, 10, out, on_answer, &a1, &h1) == RESOLVE_DONE,
       "no name is still cached %g s later", RESOLVE_TTL_NONE - 1);
    clock_offset += 2;
    answers = 0;
    ok(resolver_lookup(r, &two, 10, out, on_answer, &a1, &h1) == RESOLVE_PENDING &&
           run_until(loop, 1),
       "... and looked up again after %g s", RESOLVE_TTL_NONE);
    ok(resolver_lookup(r, &one, 10, out, on_answer, &a1, &h1) == RESOLVE_DONE &&
           strcmp(out, "host1.test") == 0,
       "a name is still cached then");
    clock_offset += RESOLVE_TTL_NAME;
    int before = calls();
    answers = 0;
    ok(resolver_lookup(r, &one, 10, out, on_answer, &a1, &h1) == RESOLVE_PENDING &&
           run_until(loop, 1) && strcmp(a1.name, "host1.test") == 0 && calls() == before + 1,
       "and looked up again after %g s", RESOLVE_TTL_NAME);

    /* The timeout, and a late answer. */
    struct ip_addr three = addr("192.0.2.3");
    block_lookups(true);
    memset(&a1, 0, sizeof a1);
    answers = 0;
    ok(resolver_lookup(r, &three, 0.05, out, on_answer, &a1, &h1) == RESOLVE_PENDING &&
           run_until(loop, 1) && a1.calls == 1 && !a1.named,
       "no answer within the timeout: the callback gets NULL");
    before = calls();
    block_lookups(false);
    memset(&a1, 0, sizeof a1);
    answers = 0;
    enum resolve_status st = resolver_lookup(r, &three, 10, out, on_answer, &a1, &h1);
    if (st == RESOLVE_PENDING) run_until(loop, 1);
    ok((st == RESOLVE_DONE && strcmp(out, "host3.test") == 0) ||
           (st == RESOLVE_PENDING && strcmp(a1.name, "host3.test") == 0),
       "the late answer is used by the next lookup");
    ok(calls() == before, "without a second query");
    ok(resolver_lookup(r, &three, 10, out, on_answer, &a1, &h1) == RESOLVE_DONE &&
           strcmp(out, "host3.test") == 0,
       "and cached");

    /* Cancel, whether a thread has begun the query or not. */
    struct ip_addr five = addr("192.0.2.5"), seven = addr("192.0.2.7");
    block_lookups(true);
    memset(&a1, 0, sizeof a1);
    memset(&a2, 0, sizeof a2);
    resolver_lookup(r, &five, 0.02, out, on_answer, &a1, &h1);
    resolver_lookup(r, &seven, 0.02, out, on_answer, &a2, &h2);
    resolver_cancel(h1);
    resolver_cancel(h2);
    run_for(loop, 0.1);
    block_lookups(false);
    run_for(loop, 0.1);
    ok(a1.calls == 0 && a2.calls == 0, "a cancelled lookup is never called back, not even at "
                                       "its timeout nor at the answer");
    resolver_free(r);
}

/* ---- the bounds ----------------------------------------------------------------- */

static void test_cap(struct ev_loop *loop)
{
    struct resolver *r = resolver_new(loop);
    resolver_set_hooks(r, &fake);
    static struct answer a[RESOLVE_QUERIES_MAX + 1];
    memset(a, 0, sizeof a);
    char out[RESOLVE_NAME_MAX], text[32];
    struct resolve_wait *h;
    block_lookups(true);
    bool all = true;
    for (int i = 0; i < RESOLVE_QUERIES_MAX; i++) {
        snprintf(text, sizeof text, "10.1.%d.%d", i / 256, i % 256);
        struct ip_addr ip = addr(text);
        all = all && resolver_lookup(r, &ip, 30, out, on_answer, &a[i], &h) == RESOLVE_PENDING;
    }
    ok(all, "%d different addresses are all PENDING", RESOLVE_QUERIES_MAX);
    struct ip_addr more = addr("10.2.0.1");
    strcpy(out, "x");
    ok(resolver_lookup(r, &more, 30, out, on_answer, &a[RESOLVE_QUERIES_MAX], &h) == RESOLVE_DONE &&
           !h && out[0] == '\0',
       "one more is answered at once with no name");
    struct ip_addr first = addr("10.1.0.0");
    ok(resolver_lookup(r, &first, 30, out, on_answer, &a[0], &h) == RESOLVE_PENDING,
       "an address already being looked up still joins its query");
    resolver_cancel(h);
    answers = 0;
    block_lookups(false);
    ok(run_until(loop, RESOLVE_QUERIES_MAX), "once the lookups go on, all %d are answered",
       RESOLVE_QUERIES_MAX);
    ok(a[RESOLVE_QUERIES_MAX].calls == 0, "the one refused is never called back");
    answers = 0;
    ok(resolver_lookup(r, &more, 30, out, on_answer, &a[RESOLVE_QUERIES_MAX], &h) ==
               RESOLVE_PENDING &&
           run_until(loop, 1),
       "after that, a new address is looked up again");
    resolver_free(r);
}

static void test_eviction(struct ev_loop *loop)
{
    struct resolver *r = resolver_new(loop);
    resolver_set_hooks(r, &fake);
    static struct answer a[RESOLVE_CACHE_MAX + 1];
    char out[RESOLVE_NAME_MAX], text[32];
    struct resolve_wait *h;
    answers = 0;
    bool all = true;
    /* One at a time, so that the answers enter the cache in this order. */
    for (int i = 0; i <= RESOLVE_CACHE_MAX; i++) {
        snprintf(text, sizeof text, "10.3.%d.%d", i / 256, i % 256);
        struct ip_addr ip = addr(text);
        all = all && resolver_lookup(r, &ip, 30, out, on_answer, &a[i], &h) == RESOLVE_PENDING &&
              run_until(loop, i + 1);
    }
    ok(all, "%d addresses looked up", RESOLVE_CACHE_MAX + 1);
    struct ip_addr oldest = addr("10.3.0.0"), second = addr("10.3.0.1");
    snprintf(text, sizeof text, "10.3.%d.%d", RESOLVE_CACHE_MAX / 256, RESOLVE_CACHE_MAX % 256);
    struct ip_addr newest = addr(text);
    ok(resolver_lookup(r, &second, 30, out, on_answer, &a[0], &h) == RESOLVE_DONE &&
           strcmp(out, "host1.test") == 0,
       "the second oldest is still cached");
    ok(resolver_lookup(r, &newest, 30, out, on_answer, &a[0], &h) == RESOLVE_DONE,
       "so is the newest");
    answers = 0;
    ok(resolver_lookup(r, &oldest, 30, out, on_answer, &a[0], &h) == RESOLVE_PENDING &&
           run_until(loop, 1),
       "the oldest was evicted: looked up again");
    resolver_free(r);
}

/* Freeing the resolver while a thread is inside a lookup: the thread
 * finishes and frees what they shared (AddressSanitizer watches). */
static void test_free_while_running(struct ev_loop *loop)
{
    struct resolver *r = resolver_new(loop);
    resolver_set_hooks(r, &fake);
    char out[RESOLVE_NAME_MAX];
    struct resolve_wait *h;
    struct answer a = {0};
    struct ip_addr ip = addr("192.0.2.9");
    int before = returned(), asked = calls();
    block_lookups(true);
    resolver_lookup(r, &ip, 30, out, on_answer, &a, &h);
    for (int i = 0; i < 200 && calls() == asked; i++) run_for(loop, 0.01);
    resolver_free(r);
    block_lookups(false);
    for (int i = 0; i < 200 && returned() == before; i++) run_for(loop, 0.01);
    run_for(loop, 0.05); /* the thread frees the rest after its lookup returns */
    ok(a.calls == 0 && returned() == before + 1,
       "resolver_free while a lookup runs: no callback, the thread ends on its own");
}

/* ---- real lookups ----------------------------------------------------------------- */

/* The first name /etc/hosts gives 127.0.0.1, or "". */
static void hosts_name(char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/etc/hosts", "r");
    if (!f) return;
    char line[512];
    while (!out[0] && fgets(line, sizeof line, f)) {
        char a[64], name[256];
        if (line[0] != '#' && sscanf(line, "%63s %255s", a, name) == 2 &&
            strcmp(a, "127.0.0.1") == 0)
            snprintf(out, len, "%s", name);
    }
    fclose(f);
}

static void test_real(struct ev_loop *loop)
{
    char want[256];
    hosts_name(want, sizeof want);
    if (!want[0]) {
        ok(1, "real lookup of 127.0.0.1 # SKIP /etc/hosts has no name for 127.0.0.1");
        return;
    }
    struct ip_addr lo = addr("127.0.0.1");
    char out[RESOLVE_NAME_MAX] = "";
    ok(resolve_confirmed(&lo, out) && strcmp(out, want) == 0,
       "127.0.0.1 is \"%s\" (from /etc/hosts, confirmed forward): got \"%s\"", want, out);

    struct resolver *r = resolver_new(loop);
    struct resolve_wait *h;
    struct answer a = {0};
    answers = 0;
    ok(resolver_lookup(r, &lo, 10, out, on_answer, &a, &h) == RESOLVE_PENDING &&
           run_until(loop, 1) && strcmp(a.name, want) == 0,
       "through the resolver's threads too: \"%s\"", a.name);
    ok(resolver_lookup(r, &lo, 10, out, on_answer, &a, &h) == RESOLVE_DONE &&
           strcmp(out, want) == 0,
       "then from its cache");
    resolver_free(r);
}

int main(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    test_plausible();
    test_cache(loop);
    test_cap(loop);
    test_eviction(loop);
    test_free_while_running(loop);
    test_real(loop);
    ev_loop_destroy(loop);
    return tap_finish();
}
