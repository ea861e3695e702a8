#include "autoconfig.h"

#include "base/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static const int statuses[] = {101, 200, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 408,
                               413, 414, 416, 426, 429, 431, 500, 501, 502, 503, 504, 505};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

static const unsigned close_codes[] = {1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1011};
#define NCLOSE (sizeof close_codes / sizeof close_codes[0])

#define MAX_BUCKETS 14
static const double bounds[MH_NHISTOGRAMS][MAX_BUCKETS] = {
    [MH_PROXY_CONNECT] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                          5, 10},
    [MH_SESSION_DURATION] = {0.1, 1, 10, 60, 300, 900, 1800, 3600, 7200, 21600, 86400},
};
static const unsigned nbounds[MH_NHISTOGRAMS] = {14, 11};

struct slot {
    uint64_t counters[MC_NCOUNTERS];
    int64_t gauges[MG_NGAUGES];
    uint64_t status[NSTATUS + 1]; /* the last: any other status */
    uint64_t closes[2][NCLOSE + 1];
    uint64_t msgs[2][MM_NMODES], bytes[2][MM_NMODES];
    uint64_t buckets[MH_NHISTOGRAMS][MAX_BUCKETS + 1]; /* each bucket's own count; the last +Inf */
    uint64_t sum_us[MH_NHISTOGRAMS];
};

struct shared {
    unsigned nslots;
    struct slot slots[];
};

static struct slot private_slot; /* until metrics_setup(), or if it failed */
static struct slot *mine = &private_slot;
static struct shared *all;
static double started;

/* One writer per slot: a relaxed load and store, no locked instruction. */
#define BUMP(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define LOAD(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

int metrics_setup(unsigned workers, double start_time)
{
    size_t size = sizeof(struct shared) + (workers + 1) * sizeof(struct slot);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    started = start_time;
    if (p == MAP_FAILED) return -1;
    all = p;
    all->nslots = workers + 1;
    mine = &all->slots[0];
    return 0;
}

void metrics_use_slot(unsigned i)
{
    if (!all || i >= all->nslots) return;
    mine = &all->slots[i];
    for (size_t g = 0; g < MG_NGAUGES; g++) __atomic_store_n(&mine->gauges[g], 0, __ATOMIC_RELAXED);
}

void metrics_count(enum metric_counter c)
{
    BUMP(mine->counters[c], 1);
}

void metrics_add(enum metric_counter c, uint64_t n)
{
    BUMP(mine->counters[c], n);
}

void metrics_gauge(enum metric_gauge g, int delta)
{
    BUMP(mine->gauges[g], delta);
}

void metrics_http_status(int status)
{
    size_t i = 0;
    while (i < NSTATUS && statuses[i] != status) i++;
    BUMP(mine->status[i], 1);
}

void metrics_close_code(bool sent, unsigned code)
{
    size_t i = 0;
    while (i < NCLOSE && close_codes[i] != code) i++;
    BUMP(mine->closes[sent][i], 1);
}

void metrics_observe(enum metric_histogram h, double seconds)
{
    unsigned b = 0;
    while (b < nbounds[h] && seconds > bounds[h][b]) b++;
    BUMP(mine->buckets[h][b == nbounds[h] ? MAX_BUCKETS : b], 1);
    BUMP(mine->sum_us[h], (uint64_t)(seconds * 1e6));
}

void metrics_session(enum metric_mode mode, uint64_t msgs_in, uint64_t bytes_in, uint64_t msgs_out,
                     uint64_t bytes_out, double seconds)
{
    BUMP(mine->msgs[0][mode], msgs_in);
    BUMP(mine->bytes[0][mode], bytes_in);
    BUMP(mine->msgs[1][mode], msgs_out);
    BUMP(mine->bytes[1][mode], bytes_out);
    metrics_observe(MH_SESSION_DURATION, seconds);
}

/* ---- exposition ------------------------------------------------------------ */

static unsigned nslots(void)
{
    return all ? all->nslots : 1;
}

static const struct slot *slot_at(unsigned i)
{
    return all ? &all->slots[i] : &private_slot;
}

/* Every field of a slot is a 64-bit count (gauges too, in two's
 * complement), so the total is the word-by-word sum of the slots. */
_Static_assert(sizeof(struct slot) % sizeof(uint64_t) == 0, "slots are 64-bit words");

static void total(struct slot *t)
{
    memset(t, 0, sizeof *t);
    uint64_t *dst = (uint64_t *)t;
    for (unsigned i = 0; i < nslots(); i++) {
        const uint64_t *src = (const uint64_t *)slot_at(i);
        for (size_t w = 0; w < sizeof *t / sizeof(uint64_t); w++) dst[w] += LOAD(src[w]);
    }
}

struct out {
    struct buf *b;
    bool failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line || buf_append(o->b, line, (size_t)n) < 0)
        o->failed = true;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const counter_names[MC_NCOUNTERS][2] = {
    [MC_ACCEPTED] = {"wsbridge_connections_accepted_total", NULL},
    [MC_REFUSED_MAXCONN] = {"wsbridge_connections_refused_total", "limit=\"maxconn\""},
    [MC_REFUSED_MAXCONN_PER_IP] = {"wsbridge_connections_refused_total",
                                   "limit=\"maxconn_per_ip\""},
    [MC_REFUSED_ADDRESS] = {"wsbridge_connections_refused_total", "limit=\"allow_deny\""},
    [MC_HANDSHAKE_TIMEOUT] = {"wsbridge_handshake_failures_total", "reason=\"timeout\""},
    [MC_HANDSHAKE_CLOSED] = {"wsbridge_handshake_failures_total", "reason=\"closed\""},
    [MC_TLS_FAILED] = {"wsbridge_handshake_failures_total", "reason=\"tls\""},
    [MC_CHILDREN_STARTED] = {"wsbridge_children_started_total", NULL},
    [MC_CHILDREN_START_FAILED] = {"wsbridge_children_start_failures_total", NULL},
    [MC_CHILD_EXIT_ZERO] = {"wsbridge_children_exits_total", "status=\"zero\""},
    [MC_CHILD_EXIT_NONZERO] = {"wsbridge_children_exits_total", "status=\"nonzero\""},
    [MC_CHILD_EXIT_SIGNAL] = {"wsbridge_children_exits_total", "status=\"signal\""},
    [MC_SLOW_CLOSED] = {"wsbridge_slow_client_closes_total", NULL},
    [MC_SLOW_DROPPED] = {"wsbridge_slow_client_dropped_messages_total", NULL},
    [MC_PROXY_CONNECT_FAILED] = {"wsbridge_proxy_connect_failures_total", NULL},
    [MC_RELOAD_OK] = {"wsbridge_reloads_total", "result=\"ok\""},
    [MC_RELOAD_FAILED] = {"wsbridge_reloads_total", "result=\"failed\""},
};

static const char *const counter_help[][2] = {
    {"wsbridge_connections_accepted_total", "Client connections accepted."},
    {"wsbridge_connections_refused_total",
     "Client connections refused at accept, by the limit that refused them."},
    {"wsbridge_handshake_failures_total",
     "Connections that ended before a complete request: timed out, closed, TLS failed."},
    {"wsbridge_children_started_total", "COMMAND processes started."},
    {"wsbridge_children_start_failures_total", "COMMAND processes that could not be started."},
    {"wsbridge_children_exits_total", "COMMAND processes reaped, by how they ended."},
    {"wsbridge_slow_client_closes_total", "--shared clients closed (1008) for being too slow."},
    {"wsbridge_slow_client_dropped_messages_total",
     "--shared messages not delivered to clients being skipped (--slow-client=drop)."},
    {"wsbridge_proxy_connect_failures_total", "Proxy connections to the target that failed."},
    {"wsbridge_reloads_total", "Configuration reloads (SIGHUP), by result."},
};

static void counters(struct out *o, const struct slot *t)
{
    for (size_t h = 0; h < sizeof counter_help / sizeof counter_help[0]; h++) {
        head(o, counter_help[h][0], "counter", counter_help[h][1]);
        for (size_t c = 0; c < MC_NCOUNTERS; c++) {
            if (strcmp(counter_names[c][0], counter_help[h][0]) != 0) continue;
            uint64_t v = t->counters[c];
            if (counter_names[c][1])
                put(o, "%s{%s} %llu\n", counter_names[c][0], counter_names[c][1],
                    (unsigned long long)v);
            else
                put(o, "%s %llu\n", counter_names[c][0], (unsigned long long)v);
        }
    }
}

static void gauges(struct out *o, const struct slot *t)
{
    static const char *const names[MG_NGAUGES][2] = {
        [MG_CONNECTIONS_OPEN] = {"wsbridge_connections_open", "Client connections open now."},
        [MG_CHILDREN_RUNNING] = {"wsbridge_children_running",
                                 "COMMAND processes running (not yet reaped)."},
        [MG_SHARED_CLIENTS] = {"wsbridge_shared_clients", "Clients of --shared endpoints."},
    };
    for (size_t g = 0; g < MG_NGAUGES; g++) {
        int64_t v = t->gauges[g];
        head(o, names[g][0], "gauge", names[g][1]);
        put(o, "%s %lld\n", names[g][0], (long long)v);
    }
}

static void statuses_and_closes(struct out *o, const struct slot *t)
{
    head(o, "wsbridge_http_responses_total", "counter",
         "Answers to requests by status (101: a WebSocket session began).");
    for (size_t k = 0; k <= NSTATUS; k++) {
        uint64_t v = t->status[k];
        if (k < NSTATUS)
            put(o, "wsbridge_http_responses_total{status=\"%d\"} %llu\n", statuses[k],
                (unsigned long long)v);
        else
            put(o, "wsbridge_http_responses_total{status=\"other\"} %llu\n", (unsigned long long)v);
    }
    head(o, "wsbridge_websocket_closes_total", "counter",
         "WebSocket close frames by direction and code (1005: received without a code).");
    for (int sent = 0; sent < 2; sent++) {
        for (size_t k = 0; k <= NCLOSE; k++) {
            uint64_t v = t->closes[sent][k];
            char code[16];
            if (k < NCLOSE)
                snprintf(code, sizeof code, "%u", close_codes[k]);
            else
                snprintf(code, sizeof code, "other");
            put(o, "wsbridge_websocket_closes_total{direction=\"%s\",code=\"%s\"} %llu\n",
                sent ? "sent" : "received", code, (unsigned long long)v);
        }
    }
}

static void traffic(struct out *o, const struct slot *t)
{
    static const char *const modes[MM_NMODES] = {"exec", "proxy", "shared"};
    head(o, "wsbridge_messages_total", "counter",
         "WebSocket data messages of ended sessions, by direction (in: from clients) and mode.");
    for (int d = 0; d < 2; d++)
        for (int m = 0; m < MM_NMODES; m++)
            put(o, "wsbridge_messages_total{direction=\"%s\",mode=\"%s\"} %llu\n", d ? "out" : "in",
                modes[m], (unsigned long long)t->msgs[d][m]);
    head(o, "wsbridge_message_bytes_total", "counter",
         "Payload bytes of those messages (inflated, when compressed).");
    for (int d = 0; d < 2; d++)
        for (int m = 0; m < MM_NMODES; m++)
            put(o, "wsbridge_message_bytes_total{direction=\"%s\",mode=\"%s\"} %llu\n",
                d ? "out" : "in", modes[m], (unsigned long long)t->bytes[d][m]);
}

static void histogram(struct out *o, const struct slot *t, enum metric_histogram h,
                      const char *name, const char *help)
{
    head(o, name, "histogram", help);
    uint64_t cumulative = 0;
    for (unsigned b = 0; b < nbounds[h]; b++) {
        cumulative += t->buckets[h][b];
        put(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[h][b], (unsigned long long)cumulative);
    }
    cumulative += t->buckets[h][MAX_BUCKETS];
    put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    put(o, "%s_sum %.6f\n", name, (double)t->sum_us[h] / 1e6);
    put(o, "%s_count %llu\n", name, (unsigned long long)cumulative);
}

int metrics_format(struct buf *b, const char *version)
{
    struct out o = {b, false};
    struct slot t;
    total(&t);
    head(&o, "wsbridge_build_info", "gauge", "Always 1; the version is a label.");
    put(&o, "wsbridge_build_info{version=\"%s\"} 1\n", version);
    head(&o, "wsbridge_start_time_seconds", "gauge", "When the server started (Unix time).");
    put(&o, "wsbridge_start_time_seconds %.3f\n", started);
    gauges(&o, &t);
    counters(&o, &t);
    statuses_and_closes(&o, &t);
    traffic(&o, &t);
    histogram(&o, &t, MH_PROXY_CONNECT, "wsbridge_proxy_connect_seconds",
              "Time to connect to the proxy target (TLS handshake included).");
    histogram(&o, &t, MH_SESSION_DURATION, "wsbridge_session_duration_seconds",
              "WebSocket session lengths, from the 101 to the end.");
    return o.failed ? -1 : 0;
}
