#include "autoconfig.h"

#include "net/sharedq.h"

#include <stdlib.h>
#include <string.h>

#include "proto/ws.h"

struct sq_block *sq_block_new(size_t cap)
{
    struct sq_block *b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->refs = 1;
    b->len = 0;
    b->cap = cap;
    return b;
}

void sq_block_ref(struct sq_block *b)
{
    b->refs++;
}

void sq_block_unref(struct sq_block *b)
{
    if (b && --b->refs == 0) free(b);
}

bool sq_block_has_room(const struct sq_block *b, size_t n)
{
    return !b || b->cap - b->len >= WS_MAX_HEADER + n;
}

int sq_block_add_message(struct sq_block **b, uint8_t b0, bool compressed, const uint8_t *p,
                         size_t n, size_t min_cap)
{
    if (!*b && !(*b = sq_block_new(WS_MAX_HEADER + n > min_cap ? WS_MAX_HEADER + n : min_cap)))
        return -1;
    uint8_t *at = (*b)->data + (*b)->len;
    size_t hl = ws_frame_header(at, compressed ? b0 | WS_RSV1 : b0, n, NULL);
    if (n) memcpy(at + hl, p, n);
    (*b)->len += hl + n;
    return 0;
}

int sq_push(struct sq *q, struct sq_block *b)
{
    if (b->len == 0) return 0;
    struct sq_node *n = malloc(sizeof *n);
    if (!n) return -1;
    n->next = NULL;
    n->block = b;
    sq_block_ref(b);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->bytes += b->len;
    return 0;
}

const uint8_t *sq_peek(const struct sq *q, size_t *len)
{
    if (!q->head) {
        *len = 0;
        return NULL;
    }
    *len = q->head->block->len - q->off;
    return q->head->block->data + q->off;
}

static void pop(struct sq *q)
{
    struct sq_node *n = q->head;
    q->head = n->next;
    if (!q->head) q->tail = NULL;
    q->bytes -= n->block->len - q->off;
    q->off = 0;
    sq_block_unref(n->block);
    free(n);
}

void sq_consume(struct sq *q, size_t n)
{
    while (n && q->head) {
        size_t left = q->head->block->len - q->off;
        if (n < left) {
            q->off += n;
            q->bytes -= n;
            return;
        }
        n -= left;
        pop(q);
    }
}

void sq_drop_unstarted(struct sq *q)
{
    if (!q->head) return;
    if (q->off == 0) {
        sq_clear(q);
        return;
    }
    while (q->head->next) {
        struct sq_node *n = q->head->next;
        q->head->next = n->next;
        q->bytes -= n->block->len;
        sq_block_unref(n->block);
        free(n);
    }
    q->tail = q->head;
}

void sq_clear(struct sq *q)
{
    while (q->head) pop(q);
    q->off = 0;
    q->bytes = 0;
}
