/* The two systemd protocols a daemon needs, without libsystemd: socket
 * activation (sd_listen_fds(3)) and readiness notification (sd_notify(3)). */
#ifndef WSB_SYSTEMD_H
#define WSB_SYSTEMD_H

#include <stddef.h>

/* The listening sockets systemd passed (fds 3 .. 3+n-1) when LISTEN_PID is
 * ours: returns n (0 when not socket-activated), or -1 with the reason in
 * err. The variables are removed from the environment either way, so
 * COMMAND processes never see them, and the fds are made close-on-exec.
 * names receives LISTEN_FDNAMES (or NULL); free() it. */
int systemd_listen_fds(char **names, char *err, size_t errlen);

/* The name of passed fd i (0-based) in a LISTEN_FDNAMES list, copied to out
 * ("" when there is none). */
void systemd_fd_name(const char *names, int i, char *out, size_t outlen);

/* Remember $NOTIFY_SOCKET and remove it from the environment. */
void systemd_notify_init(void);

/* Send a state string ("READY=1\nSTATUS=...") to the service manager;
 * nothing happens when not started by one. */
void systemd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Close the notification socket. */
void systemd_notify_close(void);

#endif
