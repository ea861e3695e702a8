/* echod: a small epoll TCP echo server, the backend for proxy benchmarks and the raw-TCP
 * ceiling. It must cost as little as possible per byte, so it echoes from one shared buffer and
 * only keeps bytes of its own when the client is not reading (and then stops reading that
 * client until they are gone: bounded memory, natural backpressure).
 *
 *   echod [--host ADDR] [--port N]    (defaults 127.0.0.1 and 0 = any free port)
 *
 * Prints the port it listens on, alone on a line, once it accepts connections. Exits 0 on
 * SIGTERM or SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#define BUF_LEN (64u * 1024u)

struct client {
    int fd;
    unsigned char *pending; /* echo bytes the client has not taken yet */
    size_t off, len;
};

static volatile sig_atomic_t stop;
static unsigned char buf[BUF_LEN];

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void client_close(struct client *cl)
{
    close(cl->fd);
    free(cl->pending);
    free(cl);
}

/* Writes all of p or keeps the rest; false if the client is gone. */
static bool send_or_keep(struct client *cl, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(cl->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN) return false;
        if (w < 0) break;
        p += w;
        n -= (size_t)w;
    }
    if (!n) return true;
    unsigned char *keep = malloc(n);
    if (!keep) return false;
    memcpy(keep, p, n);
    cl->pending = keep;
    cl->off = 0;
    cl->len = n;
    return true;
}

/* Retries what the client did not take; false if the client is gone. */
static bool flush_pending(struct client *cl)
{
    while (cl->len) {
        ssize_t w = write(cl->fd, cl->pending + cl->off, cl->len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno == EAGAIN;
        cl->off += (size_t)w;
        cl->len -= (size_t)w;
    }
    free(cl->pending);
    cl->pending = NULL;
    return true;
}

/* Echoes until the socket is empty or the client stops reading; false when it is finished.
 * `drain`: the client has half-closed, so read to EOF: the FIN raised its edge already. */
static bool echo(struct client *cl, bool drain)
{
    if (!flush_pending(cl)) return false;
    while (!cl->pending) {
        ssize_t n = read(cl->fd, buf, BUF_LEN);
        if (n == 0) return false; /* EOF; nothing is pending, or we would not be reading */
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN;
        }
        if (!send_or_keep(cl, buf, (size_t)n)) return false;
        /* Edge-triggered: a short read emptied the socket; new data raises a new edge. */
        if ((size_t)n < BUF_LEN && !drain) break;
    }
    return true;
}

static int listen_on(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int err = getaddrinfo(host, port, &hints, &ai);
    if (err) {
        fprintf(stderr, "echod: %s:%s: %s\n", host, port, gai_strerror(err));
        exit(2);
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        fprintf(stderr, "echod: listen on %s:%s: %s\n", host, port, strerror(errno));
        exit(1);
    }
    freeaddrinfo(ai);
    return fd;
}

static void print_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    printf("%u\n", port);
    fflush(stdout);
}

/* When descriptors run out, a spare one is given up to accept and drop a client, so the
 * level-triggered listener does not spin. */
static void accept_all(int ep, int lfd, int *spare)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if ((errno == EMFILE || errno == ENFILE) && *spare >= 0) {
                close(*spare);
                int drop = accept(lfd, NULL, NULL);
                if (drop >= 0) close(drop);
                *spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
                fputs("echod: out of file descriptors, dropped a client\n", stderr);
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct client *cl = calloc(1, sizeof *cl);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = cl};
        if (!cl || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(cl);
            continue;
        }
        cl->fd = fd;
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "0";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc)
            host = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = argv[++i];
        else {
            fputs("usage: echod [--host ADDR] [--port N]\n", stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = listen_on(host, port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    static int listener_tag;
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("echod: epoll");
        return 1;
    }
    print_port(lfd);

    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag) {
                accept_all(ep, lfd, &spare);
                continue;
            }
            struct client *cl = evs[i].data.ptr;
            uint32_t ev = evs[i].events;
            if ((ev & EPOLLERR) || !echo(cl, ev & (EPOLLHUP | EPOLLRDHUP))) client_close(cl);
        }
    }
    return 0;
}
