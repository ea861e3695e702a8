#include "autoconfig.h"

#include "net/pipepool.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define POOL_MAX 8 /* empty pipes kept for reuse */

static int pool[POOL_MAX][2];
static int pooled;
static int in_use;

int pipepool_take(int p[2])
{
    if (pooled > 0) {
        pooled--;
        p[0] = pool[pooled][0];
        p[1] = pool[pooled][1];
    } else if (in_use >= PIPEPOOL_MAX_PIPES) {
        errno = EMFILE;
        return -1;
    } else if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
        return -1;
    }
    in_use++;
    return 0;
}

void pipepool_give(int p[2])
{
    if (p[0] < 0) return;
    in_use--;
    if (pooled < POOL_MAX) {
        pool[pooled][0] = p[0];
        pool[pooled][1] = p[1];
        pooled++;
        p[0] = p[1] = -1;
    } else {
        close(p[0]);
        close(p[1]);
        p[0] = p[1] = -1;
    }
}

void pipepool_drop(int p[2])
{
    if (p[0] < 0) return;
    in_use--;
    close(p[0]);
    close(p[1]);
    p[0] = p[1] = -1;
}

void pipepool_clear(void)
{
    while (pooled > 0) {
        pooled--;
        close(pool[pooled][0]);
        close(pool[pooled][1]);
    }
}
