/* The server's counters for --metrics (Prometheus text exposition). Each
 * process writes only its own slot of one shared mapping made before the
 * workers are forked (the supervisor's, or the one process's, is slot 0);
 * a scrape, answered by any of them, sums every slot, so the numbers are
 * the whole server's whichever worker answers. A writer is the only one
 * to write its slot, so no lock is needed: stores and loads are relaxed
 * atomics, which cost what plain ones do. */
#ifndef WSB_METRICS_H
#define WSB_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

enum metric_counter {
    MC_ACCEPTED,               /* connections accepted */
    MC_REFUSED_MAXCONN,        /* refused at accept: --maxconn */
    MC_REFUSED_MAXCONN_PER_IP, /* --maxconn-per-ip */
    MC_REFUSED_ADDRESS,        /* --allow/--deny */
    MC_HANDSHAKE_TIMEOUT,      /* no complete request (or TLS handshake) in time */
    MC_HANDSHAKE_CLOSED,       /* the client went before its request was complete */
    MC_TLS_FAILED,             /* the TLS handshake failed */
    MC_CHILDREN_STARTED,
    MC_CHILDREN_START_FAILED,
    MC_CHILD_EXIT_ZERO,
    MC_CHILD_EXIT_NONZERO,
    MC_CHILD_EXIT_SIGNAL,
    MC_SLOW_CLOSED,  /* --shared: clients closed (1008) for being too slow */
    MC_SLOW_DROPPED, /* --shared: messages not delivered to dropping clients */
    MC_PROXY_CONNECT_FAILED,
    MC_RELOAD_OK,
    MC_RELOAD_FAILED,
    MC_NCOUNTERS
};

enum metric_gauge { MG_CONNECTIONS_OPEN, MG_CHILDREN_RUNNING, MG_SHARED_CLIENTS, MG_NGAUGES };

enum metric_mode { MM_EXEC, MM_PROXY, MM_SHARED, MM_NMODES };

enum metric_histogram { MH_PROXY_CONNECT, MH_SESSION_DURATION, MH_NHISTOGRAMS };

/* Before any worker is forked: room for slots 0..workers. Without it (or
 * when it fails) counting goes to a private slot and scrapes see only this
 * process. Returns 0 or -1. */
int metrics_setup(unsigned workers, double start_time);

/* In worker i (1..N): count into slot i from now on; its gauges start at
 * zero (a restarted worker's predecessor held connections no longer open). */
void metrics_use_slot(unsigned i);

void metrics_count(enum metric_counter c);
void metrics_add(enum metric_counter c, uint64_t n);
void metrics_gauge(enum metric_gauge g, int delta);
/* A plain HTTP answer (or the 101 of a WebSocket) with this status. */
void metrics_http_status(int status);
/* A close frame sent by us (sent) or received from the client. */
void metrics_close_code(bool sent, unsigned code);
/* A session's traffic, at its end. */
void metrics_session(enum metric_mode mode, uint64_t msgs_in, uint64_t bytes_in, uint64_t msgs_out,
                     uint64_t bytes_out, double seconds);
void metrics_observe(enum metric_histogram h, double seconds);

/* The Prometheus text exposition (format 0.0.4) of the sums over every
 * slot. Returns 0, or -1 when out of memory. */
int metrics_format(struct buf *out, const char *version);

#endif
