/* Ending a child's process group the way websocketd does, once its client
 * has gone (exec mode, CGI): the first signal (--close-signal, SIGINT by
 * default), SIGTERM, then SIGKILL, 100, 250 and 500 ms apart plus --closems
 * each; with --close-signal=none only SIGKILL, after --closems (or 850 ms).
 * The one place that knows the sequence. */
#ifndef WSB_KILLSEQ_H
#define WSB_KILLSEQ_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/settings.h"

struct kill_seq {
    ev_timer timer;
    struct ev_loop *loop;
    int close_signal; /* copied: a reload may free the settings meanwhile */
    unsigned closems;
    pid_t pgid;
    uint64_t id; /* connection id, for the logs */
    int step;
    bool reaped; /* the leader has been waited for (a survivor of SIGKILL is logged) */
    bool started;
    /* The sequence has run its course: the group is gone, or was sent
     * SIGKILL a second ago (what is left holds no pipe of ours worth waiting
     * for). Called once, from the timer. */
    void (*done)(struct kill_seq *k);
};

void kill_seq_init(struct kill_seq *k, struct ev_loop *loop, void (*done)(struct kill_seq *k));

/* Begin the sequence for process group pgid (once; later calls do nothing). */
void kill_seq_start(struct kill_seq *k, const struct backend_settings *set, pid_t pgid,
                    uint64_t id);

/* Stop its timer (the child is being forgotten). */
void kill_seq_stop(struct kill_seq *k);

/* Whether some process of group pgid still exists. */
bool kill_seq_group_alive(pid_t pgid);

#endif
