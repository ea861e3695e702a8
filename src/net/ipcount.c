#include "autoconfig.h"

#include "net/ipcount.h"

#include <stdlib.h>
#include <string.h>

struct ipcount_node {
    struct ipcount_node *next;
    struct ip_addr ip;
    unsigned count;
};

void ipcount_init(struct ipcount *t, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->seed = seed;
}

static size_t hash(const struct ipcount *t, const struct ip_addr *ip)
{
    uint64_t h = 0xcbf29ce484222325ull ^ t->seed;
    for (int i = 0; i < 16; i++) {
        h ^= ip->b[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return (size_t)(h % t->nbuckets);
}

static struct ipcount_node **find(const struct ipcount *t, const struct ip_addr *ip)
{
    if (!t->nbuckets) return NULL;
    struct ipcount_node **p = &t->buckets[hash(t, ip)];
    while (*p && memcmp((*p)->ip.b, ip->b, 16) != 0) p = &(*p)->next;
    return p;
}

static void grow(struct ipcount *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    struct ipcount_node **b = calloc(n, sizeof *b);
    if (!b) return; /* keep the old table: longer chains, still correct */
    struct ipcount old = *t;
    t->buckets = b;
    t->nbuckets = n;
    for (size_t i = 0; i < old.nbuckets; i++) {
        struct ipcount_node *e = old.buckets[i];
        while (e) {
            struct ipcount_node *next = e->next;
            size_t h = hash(t, &e->ip);
            e->next = b[h];
            b[h] = e;
            e = next;
        }
    }
    free(old.buckets);
}

bool ipcount_take(struct ipcount *t, const struct ip_addr *ip, unsigned limit)
{
    if (t->nodes >= t->nbuckets) grow(t);
    if (!t->nbuckets) return false;
    struct ipcount_node **p = find(t, ip);
    if (*p) {
        if (limit && (*p)->count >= limit) return false;
        (*p)->count++;
        return true;
    }
    struct ipcount_node *e = malloc(sizeof *e);
    if (!e) return false;
    e->next = NULL;
    e->ip = *ip;
    e->count = 1;
    *p = e;
    t->nodes++;
    return true;
}

void ipcount_release(struct ipcount *t, const struct ip_addr *ip)
{
    struct ipcount_node **p = find(t, ip);
    if (!p || !*p) return;
    if (--(*p)->count == 0) {
        struct ipcount_node *e = *p;
        *p = e->next;
        free(e);
        t->nodes--;
    }
}

unsigned ipcount_get(const struct ipcount *t, const struct ip_addr *ip)
{
    struct ipcount_node **p = find(t, ip);
    return p && *p ? (*p)->count : 0;
}

void ipcount_free(struct ipcount *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct ipcount_node *e = t->buckets[i];
        while (e) {
            struct ipcount_node *next = e->next;
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof *t);
}
