#include "autoconfig.h"

#include "backend/killseq.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

/* websocketd's spacing of the signals, in ms (plus --closems). */
static const int delays_ms[] = {100, 250, 500};
static const int signals[] = {SIGINT, SIGTERM, SIGKILL}; /* the first is --close-signal's */
#define STEPS         3
#define NO_SIGNAL_MS  850  /* --close-signal=none without --closems: the whole sequence's time */
#define AFTER_KILL_MS 1000 /* then stop waiting for stdout held by escaped processes */

bool kill_seq_group_alive(pid_t pgid)
{
    return kill(-pgid, 0) == 0 || errno == EPERM;
}

static void schedule(struct kill_seq *k, int ms)
{
    ev_timer_set(&k->timer, ms / 1000.0, 0.);
    ev_timer_start(k->loop, &k->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kill_seq *k = container_of(w, struct kill_seq, timer);
    if (k->step >= STEPS || !kill_seq_group_alive(k->pgid)) {
        if (k->step >= STEPS && !k->reaped)
            log_error(k->id, "pid %d survived SIGKILL", (int)k->pgid);
        k->done(k);
        return;
    }
    int first = k->close_signal;
    int sig = k->step == 0 ? first : signals[k->step];
    if (sig == SIGKILL && first == 0)
        log_info(k->id, "process group %d did not end after its stdin closed: sent SIGKILL",
                 (int)k->pgid);
    else if (sig == SIGKILL)
        log_info(k->id, "process group %d did not end after SIG%s and SIGTERM: sent SIGKILL",
                 (int)k->pgid, sigabbrev_np(first) ? sigabbrev_np(first) : "?");
    else
        log_debug(k->id, "sending %s to process group %d", strsignal(sig), (int)k->pgid);
    kill(-k->pgid, sig);
    k->step++;
    schedule(k, k->step < STEPS ? delays_ms[k->step] + (int)k->closems : AFTER_KILL_MS);
}

void kill_seq_init(struct kill_seq *k, struct ev_loop *loop, void (*done)(struct kill_seq *k))
{
    *k = (struct kill_seq){.loop = loop, .done = done};
    ev_init(&k->timer, on_timer);
}

void kill_seq_start(struct kill_seq *k, const struct backend_settings *set, pid_t pgid, uint64_t id)
{
    if (k->started) return;
    k->started = true;
    k->close_signal = set->close_signal;
    k->closems = set->closems;
    k->pgid = pgid;
    k->id = id;
    if (set->close_signal == 0) {
        k->step = STEPS - 1;
        schedule(k, set->closems ? (int)set->closems : NO_SIGNAL_MS);
        return;
    }
    schedule(k, delays_ms[0] + (int)set->closems);
}

void kill_seq_stop(struct kill_seq *k)
{
    ev_timer_stop(k->loop, &k->timer);
}
