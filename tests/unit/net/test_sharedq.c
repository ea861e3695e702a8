#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/sharedq.h"
#include "proto/ws.h"
#include "../tap.h"

static struct sq_block *block_of(const char *s)
{
    struct sq_block *b = sq_block_new(strlen(s));
    memcpy(b->data, s, strlen(s));
    b->len = strlen(s);
    return b;
}

/* Everything the queue would send, taking chunk bytes at a time. */
static void drain(struct sq *q, size_t chunk, char *out, size_t cap)
{
    size_t used = 0;
    while (!sq_empty(q)) {
        size_t len;
        const uint8_t *p = sq_peek(q, &len);
        size_t n = len < chunk ? len : chunk;
        if (used + n < cap) memcpy(out + used, p, n);
        used += n;
        sq_consume(q, n);
    }
    out[used < cap ? used : cap - 1] = '\0';
}

static void test_shared_blocks(void)
{
    struct sq a = {0}, b = {0};
    struct sq_block *one = block_of("hello "), *two = block_of("world");
    ok(sq_push(&a, one) == 0 && sq_push(&b, one) == 0 && sq_push(&a, two) == 0, "push");
    ok(one->refs == 3 && two->refs == 2, "each queue holds a reference (maker's too)");
    sq_block_unref(one);
    sq_block_unref(two);
    ok(a.bytes == 11 && b.bytes == 6, "byte counts (got %zu, %zu)", a.bytes, b.bytes);
    char out[64];
    for (size_t chunk = 1; chunk <= 12; chunk++) {
        struct sq c = {0};
        struct sq_block *x = block_of("abc"), *y = block_of("defgh");
        sq_push(&c, x);
        sq_push(&c, y);
        sq_block_unref(x);
        sq_block_unref(y);
        drain(&c, chunk, out, sizeof out);
        ok(strcmp(out, "abcdefgh") == 0 && c.bytes == 0 && c.off == 0,
           "drained %zu bytes at a time: \"%s\"", chunk, out);
    }
    drain(&a, 4, out, sizeof out);
    ok(strcmp(out, "hello world") == 0, "reader a gets both blocks");
    ok(b.head && b.head->block->refs == 1, "reader b still holds the first block alone");
    drain(&b, 100, out, sizeof out);
    ok(strcmp(out, "hello ") == 0 && sq_empty(&b), "reader b gets its block; all freed");
}

static void test_drop_unstarted(void)
{
    struct sq q = {0};
    struct sq_block *x = block_of("0123"), *y = block_of("4567"), *z = block_of("89");
    sq_push(&q, x);
    sq_push(&q, y);
    sq_push(&q, z);
    sq_drop_unstarted(&q);
    ok(sq_empty(&q) && q.bytes == 0 && x->refs == 1, "nothing started: everything dropped");
    sq_push(&q, x);
    sq_push(&q, y);
    sq_push(&q, z);
    sq_consume(&q, 1);
    ok(sq_started(&q), "one byte out: the head is started");
    sq_drop_unstarted(&q);
    char out[16];
    drain(&q, 2, out, sizeof out);
    ok(strcmp(out, "123") == 0, "the started head is finished, the rest dropped (\"%s\")", out);
    ok(x->refs == 1 && y->refs == 1 && z->refs == 1, "references given back");
    sq_push(&q, y);
    sq_clear(&q);
    ok(sq_empty(&q) && q.bytes == 0 && y->refs == 1, "sq_clear");
    struct sq_block *empty = sq_block_new(8);
    ok(sq_push(&q, empty) == 0 && sq_empty(&q), "an empty block is not queued");
    sq_block_unref(empty);
    sq_block_unref(x);
    sq_block_unref(y);
    sq_block_unref(z);
}

static void test_messages(void)
{
    struct sq_block *b = NULL;
    ok(sq_block_has_room(b, 1 << 20), "no block yet: any message fits (one will be made)");
    ok(sq_block_add_message(&b, WS_FIN | WS_OP_TEXT, false, (const uint8_t *)"hi", 2, 64) == 0 &&
           b && b->cap == 64,
       "the first message makes a block of min_cap");
    ok(b->len == 4 && memcmp(b->data, "\x81\x02hi", 4) == 0, "a text frame, unmasked");
    uint8_t big[300];
    memset(big, 'x', sizeof big);
    ok(!sq_block_has_room(b, sizeof big), "300 bytes do not fit in the 60 left");
    ok(sq_block_has_room(b, 60 - WS_MAX_HEADER) && !sq_block_has_room(b, 61 - WS_MAX_HEADER),
       "room counts the longest header");
    ok(sq_block_add_message(&b, WS_FIN | WS_OP_BINARY, true, (const uint8_t *)"z", 1, 64) == 0 &&
           b->len == 7 && memcmp(b->data + 4, "\xc2\x01z", 3) == 0,
       "a compressed message has RSV1 set");
    ok(sq_block_add_message(&b, WS_FIN | WS_OP_BINARY, false, NULL, 0, 64) == 0 && b->len == 9 &&
           memcmp(b->data + 7, "\x82\x00", 2) == 0,
       "an empty message");
    sq_block_unref(b);
    b = NULL;
    ok(sq_block_add_message(&b, WS_FIN | WS_OP_BINARY, false, big, sizeof big, 64) == 0 &&
           b->cap >= sizeof big + 4 && b->len == sizeof big + 4 &&
           memcmp(b->data, "\x82\x7e\x01\x2c", 4) == 0 && b->data[b->len - 1] == 'x',
       "a message larger than min_cap gets a block its size, with a 16-bit length");
    sq_block_unref(b);
}

int main(void)
{
    test_shared_blocks();
    test_messages();
    test_drop_unstarted();
    return tap_finish();
}
