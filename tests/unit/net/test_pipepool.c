#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "net/pipepool.h"
#include "../tap.h"

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n - 3; /* ".", "..", the directory itself */
}

static bool usable(const int p[2])
{
    if (p[0] < 0 || p[1] < 0) return false;
    bool nonblocking = (fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(p[1], F_GETFL) & O_NONBLOCK);
    bool cloexec = (fcntl(p[0], F_GETFD) & FD_CLOEXEC) && (fcntl(p[1], F_GETFD) & FD_CLOEXEC);
    char c = 'x';
    return nonblocking && cloexec && write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1 && c == 'x';
}

int main(void)
{
    int base = open_fds();
    static int pipes[PIPEPOOL_MAX_PIPES + 1][2];

    bool all = true;
    for (int i = 0; i < PIPEPOOL_MAX_PIPES; i++)
        all = all && pipepool_take(pipes[i]) == 0 && usable(pipes[i]);
    ok(all, "%d pipes can be taken, each non-blocking, close-on-exec and working",
       PIPEPOOL_MAX_PIPES);
    ok(open_fds() == base + 2 * PIPEPOOL_MAX_PIPES, "each holds two descriptors");

    errno = 0;
    int extra[2] = {-1, -1};
    ok(pipepool_take(extra) == -1 && errno == EMFILE && extra[0] == -1,
       "one more is refused with EMFILE: the caller copies instead");

    int r0 = pipes[0][0], w0 = pipes[0][1];
    pipepool_give(pipes[0]);
    ok(pipes[0][0] == -1 && pipes[0][1] == -1, "giving a pipe back clears the caller's ends");
    ok(pipepool_take(extra) == 0 && extra[0] == r0 && extra[1] == w0,
       "the next take reuses the pooled pipe, though the cap is reached");
    pipepool_give(extra);

    pipepool_drop(pipes[1]);
    ok(pipes[1][0] == -1 && open_fds() == base + 2 * (PIPEPOOL_MAX_PIPES - 1),
       "dropping closes the pipe (bytes in it are lost)");

    for (int i = 2; i < PIPEPOOL_MAX_PIPES; i++) pipepool_give(pipes[i]);
    int kept = open_fds() - base;
    ok(kept > 0 && kept <= 2 * 8, "given back, only a few stay open for reuse (%d descriptors)",
       kept);

    int none[2] = {-1, -1};
    pipepool_give(none);
    pipepool_drop(none);
    ok(open_fds() - base == kept, "giving or dropping no pipe changes nothing");

    all = true;
    for (int i = 0; i < PIPEPOOL_MAX_PIPES; i++) all = all && pipepool_take(pipes[i]) == 0;
    ok(all, "after everything came back, %d can be taken again", PIPEPOOL_MAX_PIPES);
    for (int i = 0; i < PIPEPOOL_MAX_PIPES; i++) pipepool_drop(pipes[i]);

    pipepool_clear();
    ok(open_fds() == base, "clearing the pool closes every pipe");
    return tap_finish();
}
