#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cidr.h"
#include "net/ipcount.h"
#include "../tap.h"

/* ---- helpers ----------------------------------------------------------------------- */

static struct ip_addr addr(const char *s)
{
    struct ip_addr a;
    if (!ip_parse(s, strlen(s), &a)) memset(a.b, 0xff, sizeof a.b);
    return a;
}

/* The i-th of many distinct addresses: IPv4 for even i, IPv6 for odd. */
static struct ip_addr nth(uint32_t i)
{
    struct ip_addr a;
    memset(a.b, 0, sizeof a.b);
    if (i % 2 == 0) {
        a.b[10] = a.b[11] = 0xff;
        a.b[12] = 10;
        a.b[13] = (uint8_t)(i >> 16);
        a.b[14] = (uint8_t)(i >> 8);
        a.b[15] = (uint8_t)i;
    } else {
        a.b[0] = 0x20;
        a.b[1] = 0x01;
        a.b[2] = 0x0d;
        a.b[3] = 0xb8;
        a.b[12] = (uint8_t)(i >> 24);
        a.b[13] = (uint8_t)(i >> 16);
        a.b[14] = (uint8_t)(i >> 8);
        a.b[15] = (uint8_t)i;
    }
    return a;
}

/* ---- take and release -------------------------------------------------------------- */

static void test_counts(void)
{
    struct ipcount t;
    ipcount_init(&t, 12345);
    struct ip_addr a = addr("192.0.2.1"), b = addr("2001:db8::1"), a6 = addr("::ffff:192.0.2.1");

    ok(ipcount_get(&t, &a) == 0 && t.nodes == 0, "an empty table counts 0");
    ipcount_release(&t, &a);
    ok(t.nodes == 0 && ipcount_get(&t, &a) == 0, "release on an empty table is harmless");

    ok(ipcount_take(&t, &a, 0) && ipcount_get(&t, &a) == 1 && t.nodes == 1, "take: 1");
    ok(ipcount_take(&t, &a, 0) && ipcount_take(&t, &a, 0) && ipcount_get(&t, &a) == 3 &&
           t.nodes == 1,
       "take twice more: 3, still one node");
    ok(ipcount_get(&t, &a6) == 3, "the v4-mapped form is the same address");
    ok(ipcount_take(&t, &b, 0) && ipcount_get(&t, &b) == 1 && ipcount_get(&t, &a) == 3 &&
           t.nodes == 2,
       "another address counts apart");
    ipcount_release(&t, &a);
    ok(ipcount_get(&t, &a) == 2 && t.nodes == 2, "release: 2");
    ipcount_release(&t, &a);
    ipcount_release(&t, &a6);
    ok(ipcount_get(&t, &a) == 0 && t.nodes == 1, "released to 0: the node is freed (nodes %zu)",
       t.nodes);
    ipcount_release(&t, &a);
    ok(ipcount_get(&t, &a) == 0 && ipcount_get(&t, &b) == 1 && t.nodes == 1,
       "releasing an address already at 0 is harmless");
    struct ip_addr c = addr("198.51.100.9");
    ipcount_release(&t, &c);
    ok(ipcount_get(&t, &c) == 0 && ipcount_get(&t, &b) == 1 && t.nodes == 1,
       "releasing an unknown address is harmless");
    ok(ipcount_take(&t, &a, 0) && ipcount_get(&t, &a) == 1 && t.nodes == 2,
       "an address taken again after reaching 0 starts at 1");

    ipcount_free(&t);
    ok(t.nodes == 0 && t.nbuckets == 0 && t.buckets == NULL, "ipcount_free empties the table");
    ok(ipcount_get(&t, &a) == 0, "and nothing is counted after it");
    ok(ipcount_take(&t, &a, 0) && ipcount_get(&t, &a) == 1,
       "a freed table can be used again (as after ipcount_init with seed 0)");
    ipcount_free(&t);
}

static void test_limits(void)
{
    struct ipcount t;
    ipcount_init(&t, 1);
    struct ip_addr a = addr("203.0.113.5"), b = addr("203.0.113.6");

    ok(ipcount_take(&t, &a, 2) && ipcount_take(&t, &a, 2), "limit 2: two are taken");
    ok(!ipcount_take(&t, &a, 2) && ipcount_get(&t, &a) == 2,
       "limit 2: the third is refused and not counted");
    ok(!ipcount_take(&t, &a, 2) && ipcount_get(&t, &a) == 2, "and refused again");
    ok(ipcount_take(&t, &b, 2) && ipcount_get(&t, &b) == 1, "the limit is per address");
    ipcount_release(&t, &a);
    ok(ipcount_take(&t, &a, 2) && ipcount_get(&t, &a) == 2, "after one is released: taken");
    ok(!ipcount_take(&t, &a, 1) && ipcount_get(&t, &a) == 2,
       "a limit below the count refuses without changing it");
    ok(ipcount_take(&t, &a, 3) && ipcount_get(&t, &a) == 3, "a higher limit takes one more");

    struct ip_addr c = addr("2001:db8::c");
    ok(ipcount_take(&t, &c, 1) && !ipcount_take(&t, &c, 1) && ipcount_get(&t, &c) == 1,
       "limit 1: the first is taken, the second refused");

    unsigned taken = 0;
    struct ip_addr d = addr("2001:db8::d");
    for (int i = 0; i < 1000; i++)
        if (ipcount_take(&t, &d, 0)) taken++;
    ok(taken == 1000 && ipcount_get(&t, &d) == 1000, "limit 0: no limit (1000 taken)");
    for (int i = 0; i < 1000; i++) ipcount_release(&t, &d);
    ok(ipcount_get(&t, &d) == 0 && t.nodes == 3, "all released: the node is freed");

    size_t before = t.nodes;
    ok(!ipcount_take(&t, &c, 1) && t.nodes == before, "a refused take adds no node");
    ipcount_release(&t, &b);
    ok(t.nodes == before - 1 && ipcount_get(&t, &b) == 0,
       "an address released to 0 frees its node");
    ipcount_free(&t);
}

/* ---- many addresses ---------------------------------------------------------------- */

#define MANY 100000u

/* Take address i (i % 3 + 1) times, check every count, release all. Returns
 * the number of wrong answers, with the nodes and buckets at the peak and the
 * nodes left after one release of each address. */
static size_t many(uint64_t seed, size_t *peak_nodes, size_t *peak_buckets, size_t *after)
{
    struct ipcount t;
    ipcount_init(&t, seed);
    size_t wrong = 0;
    for (uint32_t i = 0; i < MANY; i++) {
        struct ip_addr a = nth(i);
        for (uint32_t k = 0; k <= i % 3; k++)
            if (!ipcount_take(&t, &a, 3)) wrong++;
        if (ipcount_take(&t, &a, i % 3 + 1)) wrong++; /* at its limit */
    }
    *peak_nodes = t.nodes;
    *peak_buckets = t.nbuckets;
    for (uint32_t i = 0; i < MANY; i++) {
        struct ip_addr a = nth(i);
        if (ipcount_get(&t, &a) != i % 3 + 1) wrong++;
    }
    /* Release one of each: the addresses taken once disappear. */
    for (uint32_t i = 0; i < MANY; i++) {
        struct ip_addr a = nth(i);
        ipcount_release(&t, &a);
    }
    for (uint32_t i = 0; i < MANY; i++) {
        struct ip_addr a = nth(i);
        if (ipcount_get(&t, &a) != i % 3) wrong++;
    }
    *after = t.nodes;
    for (uint32_t i = 0; i < MANY; i++) {
        struct ip_addr a = nth(i);
        for (uint32_t k = 0; k < i % 3; k++) ipcount_release(&t, &a);
    }
    if (t.nodes != 0) wrong++;
    ipcount_free(&t);
    return wrong;
}

static void test_many(void)
{
    size_t nodes, buckets, after;
    size_t wrong = many(0x9e3779b97f4a7c15ull, &nodes, &buckets, &after);
    ok(nodes == MANY, "%u distinct addresses: %zu nodes", MANY, nodes);
    ok(buckets >= MANY, "the table grew to at least one bucket per node (%zu buckets)", buckets);
    ok(wrong == 0, "every count stays right through growth and release (%zu wrong)", wrong);
    size_t once = (MANY + 2) / 3;
    ok(after == MANY - once, "releasing once frees exactly the nodes taken once (%zu, want %zu)",
       after, MANY - once);

    /* The seed changes where addresses go, nothing that can be observed. */
    bool same = true;
    static const uint64_t seeds[] = {0, 1, 0xffffffffffffffffull, 0x0123456789abcdefull};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        size_t n2, b2, a2;
        if (many(seeds[s], &n2, &b2, &a2) != 0 || n2 != nodes || b2 != buckets || a2 != after)
            same = false;
    }
    ok(same, "other seeds give the same counts, nodes and growth");

    /* Addresses that differ in one byte anywhere are apart. */
    struct ipcount t;
    ipcount_init(&t, 7);
    struct ip_addr base = addr("2001:db8::1");
    bool apart = ipcount_take(&t, &base, 0);
    for (int i = 0; i < 16; i++) {
        struct ip_addr v = base;
        v.b[i] ^= 0x80;
        if (!ipcount_take(&t, &v, 0) || ipcount_get(&t, &v) != 1) apart = false;
    }
    ok(apart && t.nodes == 17 && ipcount_get(&t, &base) == 1,
       "addresses one bit apart in any byte count apart");
    ipcount_free(&t);
}

int main(void)
{
    test_counts();
    test_limits();
    test_many();
    return tap_finish();
}
