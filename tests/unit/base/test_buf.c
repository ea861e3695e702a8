#include "autoconfig.h"

#include <string.h>

#include "base/buf.h"
#include "../tap.h"

int main(void)
{
    struct buf b = {0};
    ok(buf_len(&b) == 0 && b.data == NULL, "a new queue is empty and holds no memory");
    ok(buf_append(&b, "hello", 5) == 0 && buf_len(&b) == 5, "append 5 bytes");
    ok(memcmp(buf_head(&b), "hello", 5) == 0, "bytes come out in order");
    buf_consume(&b, 2);
    ok(buf_len(&b) == 3 && memcmp(buf_head(&b), "llo", 3) == 0, "consume drops from the head");
    buf_consume(&b, 3);
    ok(buf_len(&b) == 0 && b.data == NULL, "an emptied queue frees its storage");

    /* Growth keeps content across reallocations and compaction. */
    int good = 1;
    for (int i = 0; i < 100000; i++) {
        unsigned char c = (unsigned char)i;
        if (buf_append(&b, &c, 1) < 0) good = 0;
        if (i % 3 == 0) {
            if (buf_head(&b)[0] != (unsigned char)(i - (int)buf_len(&b) + 1)) good = 0;
            buf_consume(&b, 1);
        }
    }
    ok(good, "interleaved appends and consumes keep the byte order");
    size_t len = buf_len(&b);
    ok(buf_reserve(&b, 1 << 20) == 0 && b.cap - b.end >= (1u << 20) && buf_len(&b) == len,
       "reserve makes room without changing the content");
    ok(buf_reserve(&b, SIZE_MAX) < 0 && buf_len(&b) == len, "an impossible reserve fails cleanly");
    buf_free(&b);
    ok(b.data == NULL && buf_len(&b) == 0, "free releases everything");
    return tap_finish();
}
