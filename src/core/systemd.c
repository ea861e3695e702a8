#include "autoconfig.h"

#include "core/systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FDS_START 3

int systemd_listen_fds(char **names, char *err, size_t errlen)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    const char *names_s = getenv("LISTEN_FDNAMES");
    int n = 0;
    *names = NULL;
    if (pid_s && fds_s) {
        char *end;
        errno = 0;
        long pid = strtol(pid_s, &end, 10);
        bool ours = !errno && !*end && pid == (long)getpid();
        errno = 0;
        long count = strtol(fds_s, &end, 10);
        if (ours && (errno || *end || count < 0 || count > 4096)) {
            snprintf(err, errlen, "LISTEN_FDS=%.32s: not a number of descriptors", fds_s);
            n = -1;
        } else if (ours) {
            n = (int)count;
            for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++) {
                if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                    snprintf(err, errlen, "LISTEN_FDS=%d, but descriptor %d: %s", n, fd,
                             strerror(errno));
                    n = -1;
                    break;
                }
            }
            if (n > 0 && names_s) *names = strdup(names_s);
        }
    }
    /* Always: programs started later must not think the sockets are theirs. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return n;
}

void systemd_fd_name(const char *names, int i, char *out, size_t outlen)
{
    out[0] = '\0';
    for (const char *p = names; p && *p; i--) {
        size_t len = strcspn(p, ":");
        if (i == 0) {
            snprintf(out, outlen, "%.*s", (int)len, p);
            return;
        }
        p += len;
        if (*p == ':') p++;
    }
}

static struct {
    int fd;
    struct sockaddr_un addr;
    socklen_t addrlen;
} notifier = {.fd = -1};

void systemd_notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path && *path && strlen(path) < sizeof notifier.addr.sun_path &&
        (path[0] == '/' || path[0] == '@')) {
        size_t len = strlen(path);
        memset(&notifier.addr, 0, sizeof notifier.addr);
        notifier.addr.sun_family = AF_UNIX;
        memcpy(notifier.addr.sun_path, path, len);
        if (path[0] == '@') notifier.addr.sun_path[0] = '\0'; /* abstract namespace */
        notifier.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        notifier.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    }
    unsetenv("NOTIFY_SOCKET");
}

void systemd_notify(const char *fmt, ...)
{
    if (notifier.fd < 0) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
    /* A datagram; if the manager is not reading, the state is simply lost. */
    ssize_t sent = sendto(notifier.fd, msg, (size_t)n, MSG_NOSIGNAL,
                          (struct sockaddr *)&notifier.addr, notifier.addrlen);
    (void)sent;
}

void systemd_notify_close(void)
{
    if (notifier.fd >= 0) close(notifier.fd);
    notifier.fd = -1;
}
