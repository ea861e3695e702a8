#include "autoconfig.h"

#include "core/options.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "proto/cidr.h"
#include "core/conffile.h"
#include "proto/http.h"
#include "http/origin.h"
#include "base/readfile.h"

#define CONFIG_FILE_MAX (1u << 20)
#define UNIX_PATH_MAX   sizeof(((struct sockaddr_un *)0)->sun_path)

enum opt_id {
    OPT_PORT = 256,
    OPT_ADDRESS,
    OPT_BINARY,
    OPT_LINE_BUFFER,
    OPT_PTY,
    OPT_SUBPROTOCOL,
    OPT_SUBPROTOCOL_REQUIRED,
    OPT_PASSENV,
    OPT_REVERSELOOKUP,
    OPT_MAXFORKS,
    OPT_CLOSEMS,
    OPT_CLOSE_SIGNAL,
    OPT_PASSSTDERR,
    OPT_QUIET_STDERR,
    OPT_MAXMSGSIZE,
    OPT_COMPRESS,
    OPT_COMPRESS_MODE,
    OPT_COMPRESS_LEVEL,
    OPT_COMPRESS_WINDOW_BITS,
    OPT_COMPRESS_MEM_LEVEL,
    OPT_COMPRESS_MIN_SIZE,
    OPT_STATICDIR,
    OPT_CGIDIR,
    OPT_CGI_TIMEOUT,
    OPT_CACHE_CONTROL,
    OPT_KEEPALIVE_TIMEOUT,
    OPT_HEALTH_PATH,
    OPT_METRICS_PATH,
    OPT_DEVCONSOLE,
    OPT_HEADER,
    OPT_HEADER_WS,
    OPT_HEADER_HTTP,
    OPT_LOGLEVEL,
    OPT_LOG_FORMAT,
    OPT_CONNECT,
    OPT_UNIX_TARGET,
    OPT_TOKEN_FILE,
    OPT_TOKEN_SOURCE,
    OPT_CONNECT_TIMEOUT,
    OPT_BINARY_ONLY,
    OPT_SSL_TARGET,
    OPT_SSL_TARGET_INSECURE,
    OPT_SSL,
    OPT_SSLCERT,
    OPT_SSLKEY,
    OPT_CERT,
    OPT_KEY,
    OPT_SSLKEY_PASSWORD_FILE,
    OPT_SSLCA,
    OPT_REDIRPORT,
    OPT_ORIGIN,
    OPT_SAMEORIGIN,
    OPT_ORIGIN_OPTIONAL,
    OPT_BASIC_AUTH,
    OPT_HTPASSWD,
    OPT_ALLOW,
    OPT_DENY,
    OPT_TRUSTED_PROXY,
    OPT_PROXY_PROTOCOL,
    OPT_MAXCONN,
    OPT_MAXCONN_PER_IP,
    OPT_HANDSHAKE_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_FALLBACK,
    OPT_FALLBACK_TIMEOUT,
    OPT_PINGMS,
    OPT_USER,
    OPT_GROUP,
    OPT_ALLOW_ROOT_CHILDREN,
    OPT_DIR,
    OPT_CONFIG,
    OPT_SHARED,
    OPT_SHARED_PREFIX,
    OPT_SHARED_EVENTS,
    OPT_SLOW_CLIENT,
    OPT_SLOW_CLIENT_TIMEOUT,
    OPT_SHUTDOWN_TIMEOUT,
    OPT_WORKERS,
    OPT_UNIXSOCKET,
    OPT_UNIXSOCKET_MODE,
    OPT_UNIX_LISTEN,
    OPT_UNIX_LISTEN_MODE,
    OPT_HELP,
    OPT_VERSION,
};

/* Which mode an option belongs to: giving it in the other mode is an error. */
enum opt_mode { MODE_ANY, MODE_EXEC, MODE_PROXY };

struct option_spec {
    const char *name;
    const char *arg; /* value placeholder; NULL for a flag */
    const char *def; /* default shown in the help; NULL for none */
    const char *help;
    int id;
    enum opt_mode mode;
};

static const struct option_spec option_table[] = {
    {"port", "PORT", "80", "TCP port to listen on.", OPT_PORT, MODE_ANY},
    {"address", "ADDR", "all interfaces, IPv4 and IPv6",
     "Address to listen on: an IPv4 or IPv6 literal (brackets optional) or a host name. "
     "Repeatable.",
     OPT_ADDRESS, MODE_ANY},
    {"binary", NULL, NULL,
     "Binary mode: each read from COMMAND's stdout becomes one binary message, and messages "
     "reach its stdin unchanged. Without it, each stdout line becomes one text message and "
     "each text message becomes one line on stdin.",
     OPT_BINARY, MODE_EXEC},
    {"line-buffer", NULL, NULL,
     "Start COMMAND with its output line-buffered, so each line it prints goes out at once "
     "rather than when 4 KiB have piled up or it exits: C stdio through coreutils' "
     "libstdbuf.so (as 'stdbuf -oL'; grep, sed, tr, jq...) and Python through "
     "PYTHONUNBUFFERED=1. Other programs: --pty.",
     OPT_LINE_BUFFER, MODE_EXEC},
    {"pty", NULL, NULL,
     "Give COMMAND a pseudo-terminal as stdout (raw: no CR added), so that programs which "
     "flush per line only on a terminal do so, whatever buffers they use; stdin and stderr "
     "stay pipes.",
     OPT_PTY, MODE_EXEC},
    {"subprotocol", "NAME[,NAME...]", NULL,
     "Subprotocols COMMAND speaks, in order of preference (repeatable): the first of them that "
     "the client offers is answered in Sec-WebSocket-Protocol and passed to COMMAND as "
     "SEC_WEBSOCKET_PROTOCOL. Without it no subprotocol is ever answered, and a browser that "
     "asks for one (new WebSocket(url, 'chat')) fails the connection.",
     OPT_SUBPROTOCOL, MODE_EXEC},
    {"subprotocol-required", NULL, NULL,
     "With --subprotocol: refuse clients that offer none of them (HTTP 400 naming the "
     "supported ones) instead of connecting them without a subprotocol.",
     OPT_SUBPROTOCOL_REQUIRED, MODE_EXEC},
    {"passenv", "VAR[,VAR...]", "PATH,LD_LIBRARY_PATH",
     "Environment variables passed on to COMMAND; every other variable of the daemon is "
     "removed. Repeatable.",
     OPT_PASSENV, MODE_EXEC},
    {"reverselookup", NULL, NULL,
     "Give COMMAND the client's host name as REMOTE_HOST instead of its address: the name of "
     "its reverse DNS (PTR) record, used only when that name's own addresses include the "
     "client's and it is a plain host name. Looked up off the event loop; COMMAND starts "
     "when the answer comes, or after 2 s with the address. Answers are cached (names for 5 "
     "minutes, none for 1). Not with --shared.",
     OPT_REVERSELOOKUP, MODE_EXEC},
    {"maxforks", "N", "0",
     "Most COMMAND processes running at once; 0 means no limit. Further connections get HTTP 429.",
     OPT_MAXFORKS, MODE_EXEC},
    {"closems", "MS", "0",
     "Extra milliseconds given to COMMAND before each signal once its client has gone "
     "(stdin closed, then SIGINT, SIGTERM and SIGKILL after 100, 250 and 500 ms).",
     OPT_CLOSEMS, MODE_EXEC},
    {"close-signal", "SIG|none", "INT",
     "The first signal of that sequence (HUP, INT, QUIT, TERM, USR1, USR2 or a number), then "
     "SIGTERM and SIGKILL. 'none': no signal but SIGKILL, sent when COMMAND has not ended "
     "within --closems (or 850 ms) of its stdin closing. Not with --shared.",
     OPT_CLOSE_SIGNAL, MODE_EXEC},
    {"passstderr", "[=json|plain]", NULL,
     "Also send each line COMMAND writes to stderr to the client, as a text message of its own: "
     "'json' (the default) as {\"stream\":\"stderr\",\"data\":\"LINE\"} (websocketd's shape), "
     "'plain' as the line itself. Text mode only; not with --shared.",
     OPT_PASSSTDERR, MODE_EXEC},
    {"quiet-stderr", NULL, NULL,
     "Do not log what COMMAND writes to stderr (it still reaches the client with --passstderr).",
     OPT_QUIET_STDERR, MODE_EXEC},
    {"maxmsgsize", "BYTES", "16M",
     "Largest message accepted from a client (suffixes K, M, G; 0 means no limit). A larger one "
     "closes the connection with 1009.",
     OPT_MAXMSGSIZE, MODE_ANY},
    {"compress", "on|off", "on",
     "permessage-deflate (RFC 7692): compress messages for clients that offer it (every "
     "browser does). 'off' never accepts the offer.",
     OPT_COMPRESS, MODE_ANY},
    {"compress-mode", "low-memory|high-ratio", "low-memory",
     "low-memory: every message is compressed on its own (no context takeover either way), so "
     "an idle connection holds no zlib state. high-ratio: context takeover both ways, much "
     "smaller output for similar messages, at (1 << (window-bits + 2)) + (1 << (mem-level + 9)) "
     "bytes plus about 40 KiB per connection once it has sent and received a message (300 KiB "
     "at the defaults). --shared never takes context over on its side.",
     OPT_COMPRESS_MODE, MODE_ANY},
    {"compress-level", "1-9", "6", "zlib compression level: 1 fastest, 9 smallest.",
     OPT_COMPRESS_LEVEL, MODE_ANY},
    {"compress-window-bits", "9-15", "15",
     "Largest deflate window the server compresses with (a client may ask for less; with "
     "--shared an offer that asks for less than this is declined).",
     OPT_COMPRESS_WINDOW_BITS, MODE_ANY},
    {"compress-mem-level", "1-9", "8",
     "zlib memLevel for compressing: lower uses less memory and compresses less.",
     OPT_COMPRESS_MEM_LEVEL, MODE_ANY},
    {"compress-min-size", "BYTES", "64",
     "Messages shorter than this are sent uncompressed (each message says whether it is "
     "compressed).",
     OPT_COMPRESS_MIN_SIZE, MODE_ANY},
    {"staticdir", "DIR", NULL,
     "Serve files from DIR to plain HTTP GET and HEAD requests (index.html for directories). "
     "Without it such requests get 404.",
     OPT_STATICDIR, MODE_ANY},
    {"cgidir", "DIR", NULL,
     "Run CGI/1.1 scripts for plain HTTP requests (websocketd's --cgidir): a path naming an "
     "executable under DIR runs it, with the request body (a Content-Length one, at most "
     "--maxmsgsize) on stdin and COMMAND's environment; its head and output are the answer. "
     "Scripts come before --staticdir files and count in --maxforks.",
     OPT_CGIDIR, MODE_ANY},
    {"cgi-timeout", "SECONDS", "60",
     "A --cgidir script that writes nothing for this long (while its client takes what it "
     "wrote) is stopped: 504 when it has not started its answer, else the connection is "
     "closed. 0: no limit.",
     OPT_CGI_TIMEOUT, MODE_ANY},
    {"cache-control", "VALUE", NULL,
     "The Cache-Control header of --staticdir files (for example 'max-age=3600' or "
     "'no-cache'). Without it files carry none (ETag and Last-Modified let clients revalidate).",
     OPT_CACHE_CONTROL, MODE_ANY},
    {"keepalive-timeout", "SECONDS", "15",
     "Keep plain HTTP connections open for further requests (answered in order, pipelined "
     "ones too) this long while idle; 0 closes after each answer.",
     OPT_KEEPALIVE_TIMEOUT, MODE_ANY},
    {"health-path", "PATH", NULL,
     "Answer GET and HEAD requests for exactly PATH with 200 while accepting connections, and "
     "503 while shutting down or at --maxconn: for load balancers and orchestrators. It is "
     "answered before routes, authentication and origin checks.",
     OPT_HEALTH_PATH, MODE_ANY},
    {"metrics-path", "PATH", NULL,
     "Answer GET requests for exactly PATH with the server's metrics in Prometheus text "
     "format (summed over --workers, whichever answers). Before routes and authentication: "
     "limit who may reach it (--allow, a firewall, or a proxy that does not forward it).",
     OPT_METRICS_PATH, MODE_ANY},
    {"devconsole", NULL, NULL,
     "Answer plain GET requests that no --staticdir file answers with a built-in page for "
     "trying this endpoint: connect (URL and subprotocols editable), send text or binary, see "
     "every message with its time and size, and the close. For development.",
     OPT_DEVCONSOLE, MODE_ANY},
    {"header", "'NAME: VALUE'", NULL, "Add a header to every response. Repeatable.", OPT_HEADER,
     MODE_ANY},
    {"header-ws", "'NAME: VALUE'", NULL, "Add a header to WebSocket upgrade responses. Repeatable.",
     OPT_HEADER_WS, MODE_ANY},
    {"header-http", "'NAME: VALUE'", NULL,
     "Add a header to plain HTTP responses (files and errors). Repeatable.", OPT_HEADER_HTTP,
     MODE_ANY},
    {"loglevel", "LEVEL", "access",
     "Least severe messages logged: debug, trace, access, info, warn, error or fatal.",
     OPT_LOGLEVEL, MODE_ANY},
    {"log-format", "text|json", "text",
     "text: one line per event as 'TIME LEVEL [#ID] MESSAGE'. json: one JSON object per line, "
     "with the same events and stable field names (see the README's Logging section).",
     OPT_LOG_FORMAT, MODE_ANY},
    {"connect", "TARGET", NULL,
     "Proxy mode, instead of COMMAND: connect every WebSocket to TARGET (HOST:PORT, "
     "[IPv6]:PORT or unix:/path) and pass bytes both ways as binary messages.",
     OPT_CONNECT, MODE_ANY},
    {"unix-target", "PATH", NULL, "Same as --connect=unix:PATH (websockify's name).",
     OPT_UNIX_TARGET, MODE_ANY},
    {"token-file", "FILE|DIR", NULL,
     "Proxy mode, instead of COMMAND: pick the target by token from FILE (or every file in DIR), "
     "lines 'token: HOST:PORT' or 'token: unix:/path'; re-read when it changes and on SIGHUP. "
     "An unknown token gets HTTP 404.",
     OPT_TOKEN_FILE, MODE_ANY},
    {"token-source", "query|path", "query",
     "Where the token is: the 'token' query parameter, or the last path segment.", OPT_TOKEN_SOURCE,
     MODE_PROXY},
    {"connect-timeout", "SECONDS", "10",
     "Time allowed to connect to the target (and finish TLS); after it the client gets HTTP 502.",
     OPT_CONNECT_TIMEOUT, MODE_PROXY},
    {"binary-only", NULL, NULL, "Refuse text messages with close code 1003 (as websockify does).",
     OPT_BINARY_ONLY, MODE_PROXY},
    {"ssl-target", NULL, NULL,
     "Speak TLS to the target, verifying its certificate against the system CA store "
     "(SSL_CERT_FILE and SSL_CERT_DIR are honoured) and its name.",
     OPT_SSL_TARGET, MODE_PROXY},
    {"ssl-target-insecure", NULL, NULL, "With --ssl-target: do not verify the certificate.",
     OPT_SSL_TARGET_INSECURE, MODE_PROXY},
    {"ssl", "[=auto]", NULL,
     "Serve wss:// and https:// (TLS 1.2 or later) with --sslcert and --sslkey; the default "
     "port becomes 443. --ssl=auto serves TLS and plain connections on the same port.",
     OPT_SSL, MODE_ANY},
    {"sslcert", "FILE", NULL, "Certificate chain (PEM: the certificate, then intermediates).",
     OPT_SSLCERT, MODE_ANY},
    {"sslkey", "FILE", NULL, "Private key (PEM) of the certificate.", OPT_SSLKEY, MODE_ANY},
    {"cert", "FILE", NULL, "Same as --sslcert (websockify's name).", OPT_CERT, MODE_ANY},
    {"key", "FILE", NULL, "Same as --sslkey (websockify's name).", OPT_KEY, MODE_ANY},
    {"sslkey-password-file", "FILE", NULL,
     "Read the password of an encrypted --sslkey from the first line of FILE.",
     OPT_SSLKEY_PASSWORD_FILE, MODE_ANY},
    {"sslca", "FILE", NULL,
     "Require client certificates signed by the CAs in FILE (mutual TLS); COMMAND sees "
     "SSL_CLIENT_S_DN_CN and SSL_CLIENT_VERIFY.",
     OPT_SSLCA, MODE_ANY},
    {"redirport", "PORT", NULL,
     "Also listen on PORT for plain HTTP and answer every request with a 301 to https.",
     OPT_REDIRPORT, MODE_ANY},
    {"origin", "HOST[:PORT],...", NULL,
     "Accept WebSockets only from these origins (a scheme may be given; without a port any port "
     "matches); others get 403. Repeatable.",
     OPT_ORIGIN, MODE_ANY},
    {"sameorigin", NULL, NULL,
     "Accept WebSockets only from pages of this server (Origin host and port equal to Host).",
     OPT_SAMEORIGIN, MODE_ANY},
    {"origin-optional", NULL, NULL,
     "With --origin or --sameorigin: also accept requests without an Origin header (non-browser "
     "clients); by default they get 403.",
     OPT_ORIGIN_OPTIONAL, MODE_ANY},
    {"basic-auth", "USER:PASSWORD", NULL,
     "Require HTTP Basic authentication with these credentials (401 otherwise). Repeatable.",
     OPT_BASIC_AUTH, MODE_ANY},
    {"htpasswd", "FILE", NULL,
     "Require HTTP Basic authentication against an htpasswd file (bcrypt, sha512crypt, yescrypt "
     "and other crypt(3) hashes). Re-read on SIGHUP.",
     OPT_HTPASSWD, MODE_ANY},
    {"allow", "CIDR", NULL,
     "Accept connections only from these addresses (checked at accept). Repeatable.", OPT_ALLOW,
     MODE_ANY},
    {"deny", "CIDR", NULL,
     "Refuse connections from these addresses (checked at accept). "
     "Repeatable; --deny wins over --allow.",
     OPT_DENY, MODE_ANY},
    {"trusted-proxy", "CIDR|unix", NULL,
     "Believe X-Forwarded-For (and the PROXY protocol, with --proxy-protocol) from these peers "
     "only; the client behind them becomes REMOTE_ADDR. 'unix' trusts every peer of a unix "
     "socket listener. Repeatable.",
     OPT_TRUSTED_PROXY, MODE_ANY},
    {"proxy-protocol", NULL, NULL,
     "Expect a PROXY protocol v1 or v2 header from --trusted-proxy peers (HAProxy "
     "send-proxy, nginx proxy_protocol).",
     OPT_PROXY_PROTOCOL, MODE_ANY},
    {"maxconn", "N", "from the open-file limit",
     "Most connections at once; further ones get HTTP 503. 0 means no limit.", OPT_MAXCONN,
     MODE_ANY},
    {"maxconn-per-ip", "N", "256",
     "Most connections at once from one client address; further ones get HTTP 503. 0 means no "
     "limit.",
     OPT_MAXCONN_PER_IP, MODE_ANY},
    {"handshake-timeout", "SECONDS", "10",
     "Time allowed for TLS and the whole request head; slower clients are dropped.",
     OPT_HANDSHAKE_TIMEOUT, MODE_ANY},
    {"idle-timeout", "SECONDS", "0",
     "Close a WebSocket with 1001 after this long without a message either way (client bytes "
     "held back by a full target count as one); 0 turns it off.",
     OPT_IDLE_TIMEOUT, MODE_ANY},
    {"fallback", NULL, NULL,
     "Also serve every WebSocket endpoint over plain HTTP for clients whose upgrade cannot get "
     "through (a proxy without the Upgrade headers): a session opened with a POST, its messages "
     "on a text/event-stream, the client's in POSTs (doc/fallback.md). Off by default.",
     OPT_FALLBACK, MODE_ANY},
    {"fallback-timeout", "SECONDS", "30",
     "End a --fallback session, as a WebSocket client that vanished (1006), when no event stream "
     "has been attached for this long.",
     OPT_FALLBACK_TIMEOUT, MODE_ANY},
    {"pingms", "MS", "30000",
     "Ping every client this often; one that has sent nothing by the next ping, not even its "
     "pong, is closed (1011). Bytes held back unread by a full target count. 0 turns pings off.",
     OPT_PINGMS, MODE_ANY},
    {"user", "NAME", NULL,
     "After opening the ports and reading keys, run as this user (and its group, unless --group).",
     OPT_USER, MODE_ANY},
    {"group", "NAME", NULL, "After opening the ports and reading keys, run as this group.",
     OPT_GROUP, MODE_ANY},
    {"allow-root-children", NULL, NULL,
     "Allow COMMAND to run as root (without it, a daemon running as root needs --user).",
     OPT_ALLOW_ROOT_CHILDREN, MODE_EXEC},
    {"dir", "DIR", NULL,
     "Instead of one COMMAND, run the executable in DIR that the URL path names (websocketd's "
     "--dir): /chat/room.sh/extra runs DIR/chat/room.sh with PATH_INFO=/extra. Paths cannot "
     "leave DIR; a missing script is 404.",
     OPT_DIR, MODE_EXEC},
    {"shared", "[=eager]", NULL,
     "One COMMAND for all connections (chat rooms, dashboards): every line it prints goes to "
     "every client, every client message becomes a line on its stdin. Started at the first "
     "connection (--shared=eager: at start-up) and restarted with back-off if it dies. With "
     "--connect: one connection to the target, fanned out.",
     OPT_SHARED, MODE_ANY},
    {"shared-prefix", NULL, NULL,
     "With --shared: prefix each line to COMMAND with the connection id and a tab; COMMAND "
     "writes '@ID<TAB>text' to send to one client only.",
     OPT_SHARED_PREFIX, MODE_EXEC},
    {"shared-events", NULL, NULL,
     "With --shared-prefix: tell COMMAND about clients with lines '!open<TAB>ID<TAB>ADDRESS' "
     "(with --subprotocol, then '<TAB>PROTOCOL') and '!close<TAB>ID'.",
     OPT_SHARED_EVENTS, MODE_EXEC},
    {"slow-client", "close|drop", "close",
     "With --shared: a client whose queue stays full for --slow-client-timeout is closed with "
     "1008 (close), or skipped until it catches up (drop); COMMAND waits for it meanwhile.",
     OPT_SLOW_CLIENT, MODE_ANY},
    {"slow-client-timeout", "SECONDS", "1",
     "With --shared: how long COMMAND's output waits for a client whose queue is full.",
     OPT_SLOW_CLIENT_TIMEOUT, MODE_ANY},
    {"unixsocket", "PATH", NULL,
     "Listen on a unix socket at PATH (for a reverse proxy on the same machine). Without "
     "--port or --address, no TCP port is opened. A stale socket file is replaced; the file is "
     "removed at exit.",
     OPT_UNIXSOCKET, MODE_ANY},
    {"unixsocket-mode", "MODE", "0660", "Permissions of the --unixsocket file, in octal.",
     OPT_UNIXSOCKET_MODE, MODE_ANY},
    {"unix-listen", "PATH", NULL, "Same as --unixsocket (websockify's name).", OPT_UNIX_LISTEN,
     MODE_ANY},
    {"unix-listen-mode", "MODE", NULL, "Same as --unixsocket-mode (websockify's name).",
     OPT_UNIX_LISTEN_MODE, MODE_ANY},
    {"workers", "N", "1",
     "Run N event-loop processes, each accepting on its own SO_REUSEPORT socket, under a "
     "supervisor that restarts a worker that dies and passes signals on. --shared uses one.",
     OPT_WORKERS, MODE_ANY},
    {"shutdown-timeout", "SECONDS", "10",
     "On SIGTERM or SIGINT, time given to clients (closed with 1001) and COMMAND processes to "
     "finish before they are killed; a second signal exits at once.",
     OPT_SHUTDOWN_TIMEOUT, MODE_ANY},
    {"config", "FILE", NULL,
     "Read options from FILE, one per line: 'name = value', a bare 'name' for a flag, "
     "'command = PROGRAM ARGS' for COMMAND, '#' comments. Options given on the command line "
     "win. '[route PATH]' starts a route: the WebSocket requests whose path starts with PATH "
     "('[route = PATH]': is PATH) get the endpoint that follows (its own COMMAND, dir, "
     "connect...). Re-read on SIGHUP.",
     OPT_CONFIG, MODE_ANY},
    {"help", NULL, NULL, "Show this help and exit.", OPT_HELP, MODE_ANY},
    {"version", NULL, NULL, "Show the version and exit.", OPT_VERSION, MODE_ANY},
};

#define NOPTIONS (sizeof option_table / sizeof option_table[0])

/* Where an option may be given in the --config file: */
enum opt_scope {
    SCOPE_SERVER,    /* the top level only: it is about the whole server */
    SCOPE_ENDPOINT,  /* also in a route, which has its own (not inherited) */
    SCOPE_INHERITED, /* also in a route, which inherits the top level's unless it sets it */
};

static enum opt_scope scope_of(int id)
{
    switch (id) {
    case OPT_MAXMSGSIZE:
    case OPT_PINGMS:
    case OPT_IDLE_TIMEOUT:
    case OPT_FALLBACK:
    case OPT_FALLBACK_TIMEOUT:
    case OPT_COMPRESS:
    case OPT_COMPRESS_MODE:
    case OPT_COMPRESS_LEVEL:
    case OPT_COMPRESS_WINDOW_BITS:
    case OPT_COMPRESS_MEM_LEVEL:
    case OPT_COMPRESS_MIN_SIZE:
    case OPT_STATICDIR:
    case OPT_CGIDIR:
    case OPT_CGI_TIMEOUT:
    case OPT_CACHE_CONTROL:
    case OPT_HEADER:
    case OPT_HEADER_WS:
    case OPT_HEADER_HTTP:
    case OPT_ORIGIN:
    case OPT_SAMEORIGIN:
    case OPT_ORIGIN_OPTIONAL:
    case OPT_BASIC_AUTH:
    case OPT_HTPASSWD: return SCOPE_INHERITED;
    case OPT_BINARY:
    case OPT_LINE_BUFFER:
    case OPT_PTY:
    case OPT_SUBPROTOCOL:
    case OPT_SUBPROTOCOL_REQUIRED:
    case OPT_PASSENV:
    case OPT_REVERSELOOKUP:
    case OPT_MAXFORKS:
    case OPT_CLOSEMS:
    case OPT_DEVCONSOLE:
    case OPT_CLOSE_SIGNAL:
    case OPT_PASSSTDERR:
    case OPT_QUIET_STDERR:
    case OPT_CONNECT:
    case OPT_UNIX_TARGET:
    case OPT_TOKEN_FILE:
    case OPT_TOKEN_SOURCE:
    case OPT_CONNECT_TIMEOUT:
    case OPT_BINARY_ONLY:
    case OPT_SSL_TARGET:
    case OPT_SSL_TARGET_INSECURE:
    case OPT_DIR:
    case OPT_SHARED:
    case OPT_SHARED_PREFIX:
    case OPT_SHARED_EVENTS:
    case OPT_SLOW_CLIENT:
    case OPT_SLOW_CLIENT_TIMEOUT: return SCOPE_ENDPOINT;
    default: return SCOPE_SERVER;
    }
}

/* Where the option being applied came from: the command line (file NULL)
 * or a line of the --config file. Messages name it. */
static struct {
    const char *file;
    unsigned line;
} origin_of_option;

static void print_prefix(void)
{
    if (origin_of_option.file)
        fprintf(stderr, "%s: %s:%u: ", PACKAGE_NAME, origin_of_option.file, origin_of_option.line);
    else
        fprintf(stderr, "%s: ", PACKAGE_NAME);
}

__attribute__((format(printf, 1, 2))) static void usage_error(const char *fmt, ...)
{
    va_list ap;
    print_prefix();
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s --help')\n", PACKAGE_NAME);
}

static const struct option_spec *spec_by_id(int id)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (option_table[i].id == id) return &option_table[i];
    return NULL;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+' || *s == ' ') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return false;
    *out = v;
    return true;
}

static bool parse_on_off(const char *s, bool *out)
{
    if (strcmp(s, "on") == 0 || strcmp(s, "off") == 0) {
        *out = s[1] == 'n';
        return true;
    }
    return false;
}

static bool parse_size(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t mult = 1;
    char num[32];
    if (n == 0 || n >= sizeof num) return false;
    memcpy(num, s, n + 1);
    switch (num[n - 1]) {
    case 'k':
    case 'K': mult = 1ull << 10; break;
    case 'm':
    case 'M': mult = 1ull << 20; break;
    case 'g':
    case 'G': mult = 1ull << 30; break;
    default: break;
    }
    if (mult > 1) num[n - 1] = '\0';
    uint64_t v;
    if (!parse_uint(num, UINT64_MAX / mult, &v)) return false;
    *out = v * mult;
    return true;
}

static int push(char ***list, size_t *n, const char *s)
{
    char **l = realloc(*list, (*n + 2) * sizeof *l);
    if (!l) return -1;
    *list = l;
    if (!(l[*n] = strdup(s))) return -1;
    l[++*n] = NULL;
    return 0;
}

static void free_list(char **l)
{
    for (char **p = l; p && *p; p++) free(*p);
    free(l);
}

/* Check "Name: value" and append it as a header line to *lines. */
static bool add_header_line(char **lines, const char *spec)
{
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec) return false;
    for (const char *c = spec; c < colon; c++)
        if (!http_is_tchar((unsigned char)*c)) return false;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    for (const char *c = v; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7F) return false;
    size_t old = *lines ? strlen(*lines) : 0;
    size_t need = old + (size_t)(colon - spec) + 2 + strlen(v) + 3;
    char *p = realloc(*lines, need);
    if (!p) return false;
    snprintf(p + old, need - old, "%.*s: %s\r\n", (int)(colon - spec), spec, v);
    *lines = p;
    return true;
}

static bool variable_name(const char *name)
{
    return !strchr(name, '=');
}

static bool subprotocol_name(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!http_is_tchar((unsigned char)*p)) return false;
    return true;
}

/* Append the names of a comma list ("a, b,c") to *names. Returns 0, 1 when
 * one is not valid(), or -1 when out of memory. */
static int add_names(char ***names, size_t *n, const char *list, bool (*valid)(const char *))
{
    char *copy = strdup(list);
    if (!copy) return -1;
    int rc = 0;
    char *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name && rc == 0;
         name = strtok_r(NULL, ",", &save)) {
        while (*name == ' ') name++;
        size_t len = strlen(name);
        while (len && name[len - 1] == ' ') name[--len] = '\0';
        if (len == 0) continue;
        if (!valid(name))
            rc = 1;
        else if (push(names, n, name) < 0)
            rc = -1;
    }
    free(copy);
    return rc;
}

static int add_passenv(struct config *cfg, const char *list)
{
    return add_names(&cfg->backend.passenv, &cfg->backend.npassenv, list, variable_name);
}

/* "HUP", "SIGHUP", "hup", "1"; "none" is 0. */
static bool parse_signal(const char *value, int *sig)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"TERM", SIGTERM},
                 {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"KILL", SIGKILL}, {"ALRM", SIGALRM}};
    if (strcasecmp(value, "none") == 0) {
        *sig = 0;
        return true;
    }
    uint64_t v;
    if (parse_uint(value, (uint64_t)SIGRTMAX, &v)) {
        *sig = (int)v;
        return v > 0;
    }
    const char *name = strncasecmp(value, "SIG", 3) == 0 ? value + 3 : value;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *sig = names[i].sig;
            return true;
        }
    }
    return false;
}

static void set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = 80;
    cfg->session.maxmsgsize = 16ull << 20;
    cfg->loglevel = LOGL_ACCESS;
    cfg->backend.connect_timeout = 10.0;
    cfg->backend.cgi_timeout = 60.0;
    cfg->backend.close_signal = SIGINT;
    cfg->conn.maxconn_per_ip = 256;
    cfg->conn.handshake_timeout = 10.0;
    cfg->conn.keepalive_timeout = 15.0;
    cfg->session.pingms = 30000;
    cfg->session.fallback_timeout = 30;
    cfg->session.compress = (struct compress_settings){
        .on = true, .level = 6, .window_bits = 15, .mem_level = 8, .min_size = 64};
    cfg->shutdown_timeout = 10.0;
    cfg->unixsocket_mode = 0660;
    cfg->backend.slow_client_timeout = 1.0;
    cfg->workers = 1;
}

/* Name an offending command-line word in one clear line. */
static void report_bad_option(const char *word, int kind)
{
    const char *name = word;
    while (*name == '-') name++;
    size_t n = strcspn(name, "=");
    char shown[128];
    snprintf(shown, sizeof shown, "--%.*s", (int)(n < 100 ? n : 100), name);
    if (kind == ':') {
        usage_error("option '%s' needs a value", shown);
        return;
    }
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (strlen(option_table[i].name) == n && strncmp(option_table[i].name, name, n) == 0) {
            if (!option_table[i].arg && name[n] == '=')
                usage_error("option '%s' takes no value", shown);
            else
                usage_error("invalid option '%s'", shown);
            return;
        }
    }
    char candidates[256] = "";
    int matches = 0;
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (strncmp(option_table[i].name, name, n) != 0) continue;
        size_t used = strlen(candidates);
        snprintf(candidates + used, sizeof candidates - used, "%s--%s", matches ? ", " : "",
                 option_table[i].name);
        matches++;
    }
    if (n && matches > 1)
        usage_error("ambiguous option '%s' (%s)", shown, candidates);
    else
        usage_error("unknown option '%s'", shown);
}

static bool bad_value(const struct option_spec *s, const char *value, const char *expected)
{
    char what[256];
    snprintf(what, sizeof what, origin_of_option.file ? "%s = %.100s" : "--%s=%.100s", s->name,
             value ? value : "");
    print_prefix();
    fprintf(stderr, "invalid value in '%s': %s (see '%s --help')\n", what, expected, PACKAGE_NAME);
    return false;
}

/* Seconds, fractions allowed, at most an hour (and 0 only when zero_ok). */
static bool parse_seconds(const char *value, bool zero_ok, double *out)
{
    char *end;
    errno = 0;
    double secs = strtod(value, &end);
    if (errno || end == value || *end || !(secs >= 0 && secs <= 3600) || (!zero_ok && secs == 0))
        return false;
    *out = secs;
    return true;
}

static bool set_string(char **field, const char *value, const struct option_spec *s)
{
    if (!*value) return bad_value(s, value, "expected a value");
    free(*field);
    *field = strdup(value);
    return *field != NULL;
}

static bool add_cidr(struct cidr **list, size_t *n, const char *value, const struct option_spec *s)
{
    char why[128];
    struct cidr c;
    if (cidr_parse(value, &c, why, sizeof why) < 0) return bad_value(s, value, why);
    struct cidr *grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown) return false;
    *list = grown;
    grown[(*n)++] = c;
    return true;
}

static bool apply_option(struct config *cfg, char **header_all, char **header_ws,
                         char **header_http, int id, const char *value)
{
    const struct option_spec *s = spec_by_id(id);
    uint64_t v;
    switch (id) {
    case OPT_PORT:
    case OPT_REDIRPORT:
        if (!parse_uint(value, 65535, &v) || v == 0)
            return bad_value(s, value, "expected a port number from 1 to 65535");
        if (id == OPT_REDIRPORT) {
            cfg->redirport = (unsigned)v;
        } else {
            cfg->port = (unsigned)v;
            cfg->port_set = true;
        }
        return true;
    case OPT_ADDRESS:
        if (!*value) return bad_value(s, value, "expected an address");
        return push(&cfg->addresses, &cfg->naddresses, value) == 0;
    case OPT_BINARY: cfg->backend.binary = true; return true;
    case OPT_LINE_BUFFER: cfg->backend.line_buffer = true; return true;
    case OPT_PTY: cfg->backend.pty = true; return true;
    case OPT_SUBPROTOCOL:
        switch (add_names(&cfg->backend.subprotocols, &cfg->backend.nsubprotocols, value,
                          subprotocol_name)) {
        case 0: return true;
        case 1: return bad_value(s, value, "expected names (tokens) separated by commas");
        default: return false;
        }
    case OPT_SUBPROTOCOL_REQUIRED: cfg->backend.subprotocol_required = true; return true;
    case OPT_PASSENV:
        cfg->backend.passenv_set = true;
        switch (add_passenv(cfg, value)) {
        case 0: return true;
        case 1: return bad_value(s, value, "expected variable names separated by commas");
        default: return false;
        }
    case OPT_REVERSELOOKUP: cfg->backend.reverselookup = true; return true;
    case OPT_MAXFORKS:
        if (!parse_uint(value, 1000000, &v))
            return bad_value(s, value, "expected a whole number (0 for no limit)");
        cfg->http.maxforks = (unsigned)v;
        return true;
    case OPT_CLOSEMS:
        if (!parse_uint(value, 3600000, &v))
            return bad_value(s, value, "expected milliseconds from 0 to 3600000");
        cfg->backend.closems = (unsigned)v;
        return true;
    case OPT_PASSSTDERR:
        if (!value || strcmp(value, "json") == 0)
            cfg->backend.pass_stderr = STDERR_JSON;
        else if (strcmp(value, "plain") == 0)
            cfg->backend.pass_stderr = STDERR_PLAIN;
        else
            return bad_value(s, value, "expected json or plain");
        return true;
    case OPT_QUIET_STDERR: cfg->backend.quiet_stderr = true; return true;
    case OPT_DEVCONSOLE: cfg->http.devconsole = true; return true;
    case OPT_CLOSE_SIGNAL:
        if (!parse_signal(value, &cfg->backend.close_signal))
            return bad_value(s, value, "expected a signal (HUP, INT, TERM... or a number) or none");
        cfg->backend.close_signal_set = true;
        return true;
    case OPT_MAXMSGSIZE:
        if (!parse_size(value, &v))
            return bad_value(s, value, "expected a size in bytes, like 65536, 64K or 16M");
        cfg->session.maxmsgsize = v;
        return true;
    case OPT_COMPRESS:
        if (!parse_on_off(value, &cfg->session.compress.on))
            return bad_value(s, value, "expected on or off");
        return true;
    case OPT_COMPRESS_MODE:
        if (strcmp(value, "low-memory") == 0)
            cfg->session.compress.high_ratio = false;
        else if (strcmp(value, "high-ratio") == 0)
            cfg->session.compress.high_ratio = true;
        else
            return bad_value(s, value, "expected low-memory or high-ratio");
        return true;
    case OPT_COMPRESS_LEVEL:
    case OPT_COMPRESS_MEM_LEVEL:
        if (!parse_uint(value, 9, &v) || v < 1) return bad_value(s, value, "expected 1 to 9");
        if (id == OPT_COMPRESS_LEVEL)
            cfg->session.compress.level = (uint8_t)v;
        else
            cfg->session.compress.mem_level = (uint8_t)v;
        return true;
    case OPT_COMPRESS_WINDOW_BITS:
        if (!parse_uint(value, 15, &v) || v < 9) return bad_value(s, value, "expected 9 to 15");
        cfg->session.compress.window_bits = (uint8_t)v;
        return true;
    case OPT_COMPRESS_MIN_SIZE:
        if (!parse_size(value, &v) || v > UINT32_MAX)
            return bad_value(s, value, "expected a size in bytes, like 64 or 1K");
        cfg->session.compress.min_size = (uint32_t)v;
        return true;
    case OPT_CACHE_CONTROL:
        if (strpbrk(value, "\r\n") || !*value)
            return bad_value(s, value, "expected a header value on one line");
        return set_string(&cfg->http.cache_control, value, s);
    case OPT_KEEPALIVE_TIMEOUT:
        if (!parse_seconds(value, true, &cfg->conn.keepalive_timeout))
            return bad_value(s, value, "expected seconds up to 3600 (0 turns it off)");
        return true;
    case OPT_HEALTH_PATH:
        if (value[0] != '/' || strpbrk(value, "?# \t\r\n"))
            return bad_value(s, value, "expected a path starting with '/' (no query)");
        return set_string(&cfg->http.health_path, value, s);
    case OPT_METRICS_PATH:
        if (value[0] != '/' || strpbrk(value, "?# \t\r\n"))
            return bad_value(s, value, "expected a path starting with '/' (no query)");
        return set_string(&cfg->http.metrics_path, value, s);
    case OPT_LOG_FORMAT:
        if (strcmp(value, "text") == 0)
            cfg->log_json = false;
        else if (strcmp(value, "json") == 0)
            cfg->log_json = true;
        else
            return bad_value(s, value, "expected text or json");
        return true;
    case OPT_STATICDIR:
        free(cfg->staticdir);
        cfg->staticdir = strdup(value);
        return cfg->staticdir != NULL;
    case OPT_CGIDIR:
        free(cfg->cgidir);
        cfg->cgidir = strdup(value);
        return cfg->cgidir != NULL;
    case OPT_CGI_TIMEOUT:
        if (!parse_seconds(value, true, &cfg->backend.cgi_timeout))
            return bad_value(s, value, "expected seconds, at most 3600 (0: no limit)");
        return true;
    case OPT_HEADER:
    case OPT_HEADER_WS:
    case OPT_HEADER_HTTP: {
        char **lines = id == OPT_HEADER      ? header_all
                       : id == OPT_HEADER_WS ? header_ws
                                             : header_http;
        if (!add_header_line(lines, value))
            return bad_value(s, value, "expected 'Name: value' with a valid header name");
        return true;
    }
    case OPT_LOGLEVEL:
        if (log_level_parse(value, &cfg->loglevel) < 0)
            return bad_value(s, value, "expected debug, trace, access, info, warn, error or fatal");
        return true;
    case OPT_CONNECT:
    case OPT_UNIX_TARGET: {
        if (!*value) return bad_value(s, value, "expected a target");
        free(cfg->backend.connect);
        size_t n = strlen(value) + 6;
        cfg->backend.connect = malloc(n);
        if (!cfg->backend.connect) return false;
        snprintf(cfg->backend.connect, n, "%s%s", id == OPT_UNIX_TARGET ? "unix:" : "", value);
        return true;
    }
    case OPT_TOKEN_FILE:
        if (!*value) return bad_value(s, value, "expected a file or directory");
        free(cfg->backend.token_file);
        cfg->backend.token_file = strdup(value);
        return cfg->backend.token_file != NULL;
    case OPT_TOKEN_SOURCE:
        if (strcmp(value, "query") == 0)
            cfg->backend.token_from_path = false;
        else if (strcmp(value, "path") == 0)
            cfg->backend.token_from_path = true;
        else
            return bad_value(s, value,
                             "expected query or path (websockify's --token-source=FILE is "
                             "--token-file=FILE here)");
        return true;
    case OPT_CONNECT_TIMEOUT:
        if (!parse_seconds(value, false, &cfg->backend.connect_timeout))
            return bad_value(s, value, "expected seconds, more than 0 and at most 3600");
        return true;
    case OPT_BINARY_ONLY: cfg->backend.binary_only = true; return true;
    case OPT_SSL_TARGET: cfg->backend.ssl_target = true; return true;
    case OPT_SSL_TARGET_INSECURE: cfg->backend.ssl_target_insecure = true; return true;
    case OPT_SSL:
        if (!value)
            cfg->conn.ssl = SSL_ON;
        else if (strcmp(value, "auto") == 0)
            cfg->conn.ssl = SSL_AUTO;
        else
            return bad_value(s, value, "expected --ssl or --ssl=auto");
        return true;
    case OPT_SSLCERT:
    case OPT_CERT: return set_string(&cfg->sslcert, value, s);
    case OPT_SSLKEY:
    case OPT_KEY: return set_string(&cfg->sslkey, value, s);
    case OPT_SSLKEY_PASSWORD_FILE: return set_string(&cfg->sslkey_password_file, value, s);
    case OPT_SSLCA: return set_string(&cfg->sslca, value, s);
    case OPT_HTPASSWD: return set_string(&cfg->htpasswd, value, s);
    case OPT_USER: return set_string(&cfg->user, value, s);
    case OPT_GROUP: return set_string(&cfg->group, value, s);
    case OPT_ORIGIN: {
        char why[300];
        if (origin_rules_parse(value, &cfg->http.origins, &cfg->http.norigins, why, sizeof why) < 0)
            return bad_value(s, value, why);
        return true;
    }
    case OPT_SAMEORIGIN: cfg->http.sameorigin = true; return true;
    case OPT_ORIGIN_OPTIONAL: cfg->http.origin_optional = true; return true;
    case OPT_BASIC_AUTH:
        if (!strchr(value, ':') || value[0] == ':')
            return bad_value(s, value, "expected USER:PASSWORD");
        return push(&cfg->basic_auth, &cfg->nbasic_auth, value) == 0;
    case OPT_ALLOW: return add_cidr(&cfg->conn.allow, &cfg->conn.nallow, value, s);
    case OPT_DENY: return add_cidr(&cfg->conn.deny, &cfg->conn.ndeny, value, s);
    case OPT_TRUSTED_PROXY:
        if (strcmp(value, "unix") == 0) {
            cfg->conn.trust_unix = true;
            return true;
        }
        return add_cidr(&cfg->conn.trusted, &cfg->conn.ntrusted, value, s);
    case OPT_PROXY_PROTOCOL: cfg->conn.proxy_protocol = true; return true;
    case OPT_MAXCONN:
    case OPT_MAXCONN_PER_IP:
        if (!parse_uint(value, 10000000, &v))
            return bad_value(s, value, "expected a whole number (0 for no limit)");
        if (id == OPT_MAXCONN_PER_IP) {
            cfg->conn.maxconn_per_ip = (unsigned)v;
            cfg->conn.maxconn_per_ip_set = true;
        } else {
            cfg->maxconn = (unsigned)v;
            cfg->maxconn_set = true;
        }
        return true;
    case OPT_HANDSHAKE_TIMEOUT:
        if (!parse_seconds(value, false, &cfg->conn.handshake_timeout))
            return bad_value(s, value, "expected seconds, more than 0 and at most 3600");
        return true;
    case OPT_IDLE_TIMEOUT:
        if (!parse_seconds(value, true, &cfg->session.idle_timeout))
            return bad_value(s, value, "expected seconds up to 3600 (0 turns it off)");
        return true;
    case OPT_FALLBACK: cfg->session.fallback = true; return true;
    case OPT_FALLBACK_TIMEOUT:
        if (!parse_seconds(value, false, &cfg->session.fallback_timeout))
            return bad_value(s, value, "expected seconds, more than 0 and at most 3600");
        return true;
    case OPT_PINGMS:
        if (!parse_uint(value, 3600000, &v))
            return bad_value(s, value, "expected milliseconds up to 3600000 (0 turns pings off)");
        cfg->session.pingms = (unsigned)v;
        return true;
    case OPT_ALLOW_ROOT_CHILDREN: cfg->allow_root_children = true; return true;
    case OPT_DIR: return set_string(&cfg->backend.dir, value, s);
    case OPT_CONFIG: return set_string(&cfg->config_file, value, s);
    case OPT_SHARED:
        if (!value)
            cfg->backend.shared = SHARED_LAZY;
        else if (strcmp(value, "eager") == 0)
            cfg->backend.shared = SHARED_EAGER;
        else
            return bad_value(s, value, "expected --shared or --shared=eager");
        return true;
    case OPT_SHARED_PREFIX: cfg->backend.shared_prefix = true; return true;
    case OPT_SHARED_EVENTS: cfg->backend.shared_events = true; return true;
    case OPT_SLOW_CLIENT:
        if (strcmp(value, "close") == 0)
            cfg->backend.slow_client_drop = false;
        else if (strcmp(value, "drop") == 0)
            cfg->backend.slow_client_drop = true;
        else
            return bad_value(s, value, "expected close or drop");
        return true;
    case OPT_SLOW_CLIENT_TIMEOUT:
        if (!parse_seconds(value, false, &cfg->backend.slow_client_timeout))
            return bad_value(s, value, "expected seconds, more than 0 and at most 3600");
        return true;
    case OPT_WORKERS:
        if (!parse_uint(value, 64, &v) || v == 0)
            return bad_value(s, value, "expected a number of processes from 1 to 64");
        cfg->workers = (unsigned)v;
        return true;
    case OPT_SHUTDOWN_TIMEOUT:
        if (!parse_seconds(value, true, &cfg->shutdown_timeout))
            return bad_value(s, value, "expected seconds up to 3600");
        return true;
    case OPT_UNIXSOCKET:
    case OPT_UNIX_LISTEN:
        if (strlen(value) >= UNIX_PATH_MAX)
            return bad_value(s, value, "a unix socket path is at most 107 bytes");
        return set_string(&cfg->unixsocket, value, s);
    case OPT_UNIXSOCKET_MODE:
    case OPT_UNIX_LISTEN_MODE: {
        char *end;
        errno = 0;
        unsigned long mode = strtoul(value, &end, 8);
        if (!*value || *value == '-' || *end || errno || mode > 0777)
            return bad_value(s, value, "expected an octal mode like 0660");
        cfg->unixsocket_mode = (unsigned)mode;
        return true;
    }
    default: return false;
    }
}

static char *concat(const char *a, const char *b)
{
    size_t na = a ? strlen(a) : 0, nb = b ? strlen(b) : 0;
    if (na + nb == 0) return NULL;
    char *s = malloc(na + nb + 1);
    if (!s) return NULL;
    memcpy(s, a ? a : "", na);
    memcpy(s + na, b ? b : "", nb + 1);
    return s;
}

/* An alias counts as its option: --cert on the command line overrides
 * "sslcert" in the file. */
static size_t index_of(int id)
{
    switch (id) {
    case OPT_CERT: id = OPT_SSLCERT; break;
    case OPT_KEY: id = OPT_SSLKEY; break;
    case OPT_UNIX_TARGET: id = OPT_CONNECT; break;
    case OPT_UNIX_LISTEN: id = OPT_UNIXSOCKET; break;
    case OPT_UNIX_LISTEN_MODE: id = OPT_UNIXSOCKET_MODE; break;
    default: break;
    }
    for (size_t i = 0; i < NOPTIONS; i++)
        if (option_table[i].id == id) return i;
    return 0;
}

static const struct option_spec *spec_by_name(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(option_table[i].name, name) == 0) return &option_table[i];
    return NULL;
}

/* A flag's value in the file: a bare name or yes/true/on/1 sets it,
 * no/false/off/0 leaves it unset. Returns 1, 0, or -1 for anything else. */
static int flag_value(const char *v)
{
    static const char *const on[] = {"yes", "true", "on", "1"};
    static const char *const off[] = {"no", "false", "off", "0"};
    if (!v) return 1;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, on[i]) == 0) return 1;
        if (strcasecmp(v, off[i]) == 0) return 0;
    }
    return -1;
}

/* "command = PROGRAM ARGS...": words split at blanks (no quoting; a script
 * is the answer to anything fancier). */
static bool split_command(const char *value, char ***argv)
{
    size_t n = 0;
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        size_t len = strcspn(p, " \t");
        if (!len) break;
        char word[4096];
        if (len >= sizeof word) return false;
        memcpy(word, p, len);
        word[len] = '\0';
        if (push(argv, &n, word) < 0) return false;
        p += len;
    }
    return n > 0;
}

struct header_acc {
    char *all, *ws, *http;
};

/* Apply one line of the file, unless the command line gave that option
 * (cli_seen; NULL in a route, whose own lines always apply). */
static bool apply_entry(struct config *cfg, struct header_acc *h, const bool *cli_seen, bool *seen,
                        const struct conffile_entry *e, char ***file_command)
{
    if (strcmp(e->name, "command") == 0) {
        free_list(*file_command);
        *file_command = NULL;
        if (!e->value || !split_command(e->value, file_command)) {
            usage_error("'command' needs a program (and its arguments)");
            return false;
        }
        return true;
    }
    const struct option_spec *s = spec_by_name(e->name);
    if (!s) {
        usage_error("unknown option '%s'", e->name);
        return false;
    }
    if (s->id == OPT_CONFIG || s->id == OPT_HELP || s->id == OPT_VERSION) {
        usage_error("'%s' cannot be used in a configuration file", e->name);
        return false;
    }
    if (e->section && scope_of(s->id) == SCOPE_SERVER) {
        usage_error("'%s' is about the whole server: it goes before the first [route]", e->name);
        return false;
    }
    size_t idx = index_of(s->id);
    if (cli_seen && cli_seen[idx]) return true;
    const char *value = e->value;
    if (!s->arg || s->arg[0] == '[') {
        int on = flag_value(value);
        if (on == 0) return true;
        if (on > 0)
            value = NULL;
        else if (!s->arg)
            return bad_value(s, value, "expected yes or no");
    } else if (!value) {
        usage_error("option '%s' needs a value ('%s = %s')", e->name, e->name, s->arg);
        return false;
    }
    seen[idx] = true;
    return apply_option(cfg, &h->all, &h->ws, &h->http, s->id, value);
}

/* Read the --config file and split it into f. */
static bool load_file(const char *path, struct conffile *f)
{
    char err[512];
    size_t len;
    char *text = readfile(path, CONFIG_FILE_MAX, &len, err, sizeof err);
    if (!text) {
        fprintf(stderr, "%s: --config: %s\n", PACKAGE_NAME, err);
        return false;
    }
    bool ok = conffile_parse(f, text, len, err, sizeof err) == 0;
    if (!ok) fprintf(stderr, "%s: %s:%s\n", PACKAGE_NAME, path, err);
    free(text);
    return ok;
}

/* Apply the entries of one section of the file (0: the top level). */
static bool apply_section(struct config *cfg, struct header_acc *h, const bool *cli_seen,
                          bool *seen, const struct conffile *f, unsigned section, const char *file,
                          char ***file_command)
{
    bool ok = true;
    origin_of_option.file = file; /* "config" itself is refused in the file */
    for (size_t i = 0; ok && i < f->n; i++) {
        if (f->entries[i].section != section) continue;
        origin_of_option.line = f->entries[i].line;
        ok = apply_entry(cfg, h, cli_seen, seen, &f->entries[i], file_command);
    }
    origin_of_option.file = NULL;
    return ok;
}

/* The options about the whole server, which only the top level has. */
static bool check_server(struct config *cfg)
{
    const char *needs_ssl = cfg->sslcert                ? "--sslcert"
                            : cfg->sslkey               ? "--sslkey"
                            : cfg->sslca                ? "--sslca"
                            : cfg->redirport            ? "--redirport"
                            : cfg->sslkey_password_file ? "--sslkey-password-file"
                                                        : NULL;
    if (cfg->conn.ssl == SSL_OFF && needs_ssl) {
        usage_error("option '%s' needs --ssl", needs_ssl);
        return false;
    }
    if (cfg->conn.ssl != SSL_OFF && (!cfg->sslcert || !cfg->sslkey)) {
        usage_error("--ssl needs --sslcert=FILE and --sslkey=FILE");
        return false;
    }
    if (cfg->conn.ssl != SSL_OFF && !cfg->port_set) cfg->port = 443;
    if (cfg->redirport && cfg->redirport == cfg->port) {
        usage_error("--redirport must differ from --port");
        return false;
    }
    if (cfg->conn.proxy_protocol && !cfg->conn.ntrusted && !cfg->conn.trust_unix) {
        usage_error("--proxy-protocol needs --trusted-proxy=CIDR");
        return false;
    }
    if (cfg->workers > 1 && cfg->unixsocket) {
        usage_error("--unixsocket cannot be used with --workers");
        return false;
    }
    return true;
}

/* The options of COMMAND that --cgidir's scripts also read, so that a
 * proxy endpoint with --cgidir takes them. */
static bool runs_cgi_too(int id)
{
    return id == OPT_PASSENV || id == OPT_MAXFORKS || id == OPT_CLOSEMS || id == OPT_CLOSE_SIGNAL ||
           id == OPT_QUIET_STDERR;
}

/* What serves WebSockets: exec mode runs COMMAND (or --dir's scripts);
 * proxy mode (--connect or --token-file) takes none. Options of the other
 * mode are refused rather than silently ignored. where is "" at the top
 * level, "route PATH: " in a route (origin_of_option then names its line).
 * cli: COMMAND from the command line, or NULL. optional: the top level of
 * a file with routes may have no endpoint of its own. */
static bool check_endpoint(struct config *cfg, const bool *seen, char **cli, char ***file_command,
                           bool optional, const char *where)
{
    cfg->backend.proxy = cfg->backend.connect || cfg->backend.token_file;
    if (cfg->backend.connect && cfg->backend.token_file) {
        usage_error("%s--connect and --token-file exclude each other", where);
        return false;
    }
    if (optional && !cfg->backend.proxy && !cfg->backend.dir && !cli && !*file_command) {
        for (size_t i = 0; i < NOPTIONS; i++) {
            if (!seen[i] || scope_of(option_table[i].id) != SCOPE_ENDPOINT) continue;
            usage_error("%s: option '--%s' belongs to an endpoint, and there is none outside "
                        "the routes (no COMMAND, --dir, --connect or --token-file): give it in a "
                        "route",
                        cfg->config_file, option_table[i].name);
            return false;
        }
        return true;
    }
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_spec *o = &option_table[i];
        if (!seen[i] || o->mode == MODE_ANY || (o->mode == MODE_PROXY) == cfg->backend.proxy)
            continue;
        if (cfg->cgidir && runs_cgi_too(o->id)) continue; /* the scripts read them */
        usage_error("%soption '--%s' applies only %s", where, o->name,
                    o->mode == MODE_PROXY ? "with --connect or --token-file" : "to COMMAND");
        return false;
    }
    if (cfg->http.origin_optional && !cfg->http.norigins && !cfg->http.sameorigin) {
        usage_error("%s--origin-optional needs --origin or --sameorigin", where);
        return false;
    }
    const char *needs_shared = seen[index_of(OPT_SHARED_PREFIX)]         ? "--shared-prefix"
                               : seen[index_of(OPT_SLOW_CLIENT)]         ? "--slow-client"
                               : seen[index_of(OPT_SLOW_CLIENT_TIMEOUT)] ? "--slow-client-timeout"
                                                                         : NULL;
    if (!cfg->backend.shared && needs_shared) {
        usage_error("%soption '%s' needs --shared", where, needs_shared);
        return false;
    }
    if (cfg->backend.shared_events && !cfg->backend.shared_prefix) {
        usage_error("%soption '--shared-events' needs --shared-prefix", where);
        return false;
    }
    const char *not_shared = cfg->backend.dir                ? "--dir"
                             : cfg->backend.token_file       ? "--token-file"
                             : cfg->backend.ssl_target       ? "--ssl-target"
                             : cfg->http.maxforks            ? "--maxforks"
                             : cfg->backend.close_signal_set ? "--close-signal"
                             : cfg->backend.pass_stderr      ? "--passstderr"
                             : cfg->backend.reverselookup    ? "--reverselookup"
                             : cfg->backend.binary && cfg->backend.shared_prefix
                                 ? "--binary with --shared-prefix"
                                 : NULL;
    if (cfg->backend.shared && not_shared) {
        usage_error("%s%s cannot be used with --shared", where, not_shared);
        return false;
    }
    if (cfg->backend.pass_stderr && cfg->backend.binary) {
        usage_error("%s--passstderr sends text messages: it cannot be used with --binary", where);
        return false;
    }
    if (cfg->backend.subprotocol_required && !cfg->backend.nsubprotocols) {
        usage_error("%soption '--subprotocol-required' needs --subprotocol", where);
        return false;
    }
    if (cfg->backend.ssl_target_insecure && !cfg->backend.ssl_target) {
        usage_error("%soption '--ssl-target-insecure' needs --ssl-target", where);
        return false;
    }
    if (*file_command && (cfg->backend.proxy || cfg->backend.dir)) {
        const char *with = cfg->backend.dir ? "--dir" : "proxy mode";
        if (*where)
            usage_error("%s'command' cannot be used with %s", where, with);
        else
            usage_error("%s: 'command' cannot be used with %s", cfg->config_file, with);
        return false;
    }
    if (cfg->backend.proxy || cfg->backend.dir) {
        if (cli) {
            usage_error("unexpected COMMAND '%s' with %s", cli[0],
                        cfg->backend.dir       ? "--dir"
                        : cfg->backend.connect ? "--connect"
                                               : "--token-file");
            return false;
        }
        return true;
    }
    if (!cli && *file_command) { /* the command line's COMMAND wins */
        cfg->backend.command = *file_command;
        *file_command = NULL;
        return true;
    }
    if (!cli) {
        if (*where)
            usage_error("%sno endpoint: give 'command = PROGRAM ARGS', dir, connect or token-file",
                        where);
        else
            usage_error("missing COMMAND to run");
        return false;
    }
    size_t n = 0;
    for (char **w = cli; *w; w++)
        if (push(&cfg->backend.command, &n, *w) < 0) return false;
    return true;
}

/* The end of one scope: PATH's default for --passenv, the header lines. */
static bool finish_scope(struct config *cfg, const struct header_acc *h)
{
    if (!cfg->backend.passenv_set && add_passenv(cfg, "PATH,LD_LIBRARY_PATH") != 0) return false;
    cfg->http.headers_ws = concat(h->all, h->ws);
    cfg->session.headers_http = concat(h->all, h->http);
    return true;
}

static bool copy_string(char **to, const char *from)
{
    return !from || (*to = strdup(from)) != NULL;
}

/* A route takes the top level's value of each SCOPE_INHERITED group of
 * options that it does not set itself (one option set replaces the group:
 * its own headers, its own origin rules, its own users). */
static bool inherit(struct config *r, const struct config *top, const bool *seen)
{
#define SET(id) seen[index_of(id)]
    if (!SET(OPT_MAXMSGSIZE)) r->session.maxmsgsize = top->session.maxmsgsize;
    if (!SET(OPT_PINGMS)) r->session.pingms = top->session.pingms;
    if (!SET(OPT_IDLE_TIMEOUT)) r->session.idle_timeout = top->session.idle_timeout;
    if (!SET(OPT_FALLBACK)) r->session.fallback = top->session.fallback;
    if (!SET(OPT_FALLBACK_TIMEOUT)) r->session.fallback_timeout = top->session.fallback_timeout;
    struct compress_settings *z = &r->session.compress;
    const struct compress_settings *tz = &top->session.compress;
    if (!SET(OPT_COMPRESS)) z->on = tz->on;
    if (!SET(OPT_COMPRESS_MODE)) z->high_ratio = tz->high_ratio;
    if (!SET(OPT_COMPRESS_LEVEL)) z->level = tz->level;
    if (!SET(OPT_COMPRESS_WINDOW_BITS)) z->window_bits = tz->window_bits;
    if (!SET(OPT_COMPRESS_MEM_LEVEL)) z->mem_level = tz->mem_level;
    if (!SET(OPT_COMPRESS_MIN_SIZE)) z->min_size = tz->min_size;
    if (!SET(OPT_STATICDIR) && !copy_string(&r->staticdir, top->staticdir)) return false;
    if (!SET(OPT_CGIDIR) && !copy_string(&r->cgidir, top->cgidir)) return false;
    if (!SET(OPT_CGI_TIMEOUT)) r->backend.cgi_timeout = top->backend.cgi_timeout;
    if (!SET(OPT_CACHE_CONTROL) && !copy_string(&r->http.cache_control, top->http.cache_control))
        return false;
    if (!SET(OPT_HEADER) && !SET(OPT_HEADER_WS) && !SET(OPT_HEADER_HTTP)) {
        free(r->http.headers_ws);
        free(r->session.headers_http);
        r->http.headers_ws = r->session.headers_http = NULL;
        if (!copy_string(&r->http.headers_ws, top->http.headers_ws) ||
            !copy_string(&r->session.headers_http, top->session.headers_http))
            return false;
    }
    if (!SET(OPT_ORIGIN) && !SET(OPT_SAMEORIGIN) && !SET(OPT_ORIGIN_OPTIONAL)) {
        if (top->http.norigins) {
            size_t bytes = top->http.norigins * sizeof *top->http.origins;
            if (!(r->http.origins = malloc(bytes))) return false;
            memcpy(r->http.origins, top->http.origins, bytes);
            r->http.norigins = top->http.norigins;
        }
        r->http.sameorigin = top->http.sameorigin;
        r->http.origin_optional = top->http.origin_optional;
    }
    if (!SET(OPT_BASIC_AUTH) && !SET(OPT_HTPASSWD)) {
        for (size_t i = 0; i < top->nbasic_auth; i++)
            if (push(&r->basic_auth, &r->nbasic_auth, top->basic_auth[i]) < 0) return false;
        if (!copy_string(&r->htpasswd, top->htpasswd)) return false;
    }
#undef SET
    return true;
}

/* Section k of f becomes a route of top: its own entries, checked as an
 * endpoint, then what it inherits. */
static bool add_route(struct config *top, const struct conffile *f, unsigned k)
{
    const struct conffile_section *sec = &f->sections[k - 1];
    char where[160];
    snprintf(where, sizeof where, "route %s%.120s: ", sec->exact ? "= " : "", sec->path);
    for (size_t i = 0; i < top->nroutes; i++) {
        const struct route_config *o = &top->routes[i];
        if (o->exact == sec->exact && strcmp(o->path, sec->path) == 0) {
            origin_of_option.file = top->config_file;
            origin_of_option.line = sec->line;
            usage_error("%sgiven twice (first on line %u)", where, o->line);
            origin_of_option.file = NULL;
            return false;
        }
    }
    struct route_config *grown = realloc(top->routes, (top->nroutes + 1) * sizeof *grown);
    if (!grown) return false;
    top->routes = grown;
    struct route_config *r = &grown[top->nroutes];
    memset(r, 0, sizeof *r);
    if (!(r->cfg = calloc(1, sizeof *r->cfg)) || !(r->path = strdup(sec->path))) {
        free(r->cfg);
        free(r->path);
        return false;
    }
    r->exact = sec->exact;
    r->line = sec->line;
    top->nroutes++; /* options_free(top) frees it from here on */
    set_defaults(r->cfg);
    bool seen[NOPTIONS] = {false};
    struct header_acc h = {0};
    char **file_command = NULL;
    bool ok = apply_section(r->cfg, &h, NULL, seen, f, k, top->config_file, &file_command);
    if (ok) {
        origin_of_option.file = top->config_file;
        origin_of_option.line = sec->line;
        ok = check_endpoint(r->cfg, seen, NULL, &file_command, false, where);
        origin_of_option.file = NULL;
    }
    ok = ok && finish_scope(r->cfg, &h) && inherit(r->cfg, top, seen);
    free_list(file_command);
    free(h.all);
    free(h.ws);
    free(h.http);
    return ok;
}

enum config_result options_parse(struct config *cfg, int argc, char **argv)
{
    struct option longopts[NOPTIONS + 1];
    for (size_t i = 0; i < NOPTIONS; i++) {
        longopts[i].name = option_table[i].name;
        const char *arg = option_table[i].arg;
        longopts[i].has_arg = !arg            ? no_argument
                              : arg[0] == '[' ? optional_argument
                                              : required_argument;
        longopts[i].flag = NULL;
        longopts[i].val = option_table[i].id;
    }
    memset(&longopts[NOPTIONS], 0, sizeof longopts[0]);

    set_defaults(cfg);
    origin_of_option.file = NULL;
    bool seen[NOPTIONS] = {false};
    struct header_acc h = {0};
    struct conffile f = {0};
    char **file_command = NULL;
    enum config_result result = CONFIG_RUN;
    bool ok = true;
    opterr = 0;
    optind = 0; /* 0, not 1: glibc then also forgets a half-parsed option bundle */
    /* '+': stop at COMMAND, whose own options are not ours; ':' reports a
     * missing value separately. Single-dash long options work as in Go's flag. */
    int c;
    while (ok && (c = getopt_long_only(argc, argv, "+:h", longopts, NULL)) != -1) {
        if (c == '?' || c == ':') {
            report_bad_option(argv[optind - 1], c);
            ok = false;
        } else if (c == OPT_HELP || c == 'h') {
            options_print_help(stdout);
            result = CONFIG_DONE;
            break;
        } else if (c == OPT_VERSION) {
            printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            result = CONFIG_DONE;
            break;
        } else {
            if (c == OPT_CONFIG && cfg->config_file) {
                usage_error("option '--config' given twice");
                ok = false;
                break;
            }
            ok = apply_option(cfg, &h.all, &h.ws, &h.http, c, optarg);
            seen[index_of(c)] = true;
        }
    }
    if (ok && result == CONFIG_RUN && cfg->config_file) {
        bool cli_seen[NOPTIONS];
        memcpy(cli_seen, seen, sizeof seen);
        ok = load_file(cfg->config_file, &f) &&
             apply_section(cfg, &h, cli_seen, seen, &f, 0, cfg->config_file, &file_command);
    }
    if (ok && result == CONFIG_RUN)
        ok = check_server(cfg) && check_endpoint(cfg, seen, optind < argc ? argv + optind : NULL,
                                                 &file_command, f.nsections > 0, "");
    if (ok) ok = finish_scope(cfg, &h);
    for (unsigned k = 1; ok && result == CONFIG_RUN && k <= f.nsections; k++)
        ok = add_route(cfg, &f, k);
    conffile_free(&f);
    free_list(file_command);
    free(h.all);
    free(h.ws);
    free(h.http);
    if (!ok) {
        options_free(cfg);
        return CONFIG_USAGE;
    }
    return result;
}

bool options_has_endpoint(const struct config *cfg)
{
    return cfg->backend.proxy || cfg->backend.dir || cfg->backend.command;
}

void options_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->nroutes; i++) {
        if (cfg->routes[i].cfg) options_free(cfg->routes[i].cfg);
        free(cfg->routes[i].cfg);
        free(cfg->routes[i].path);
    }
    free(cfg->routes);
    free(cfg->command_path);
    free(cfg->script_root);
    free(cfg->static_root);
    free(cfg->cgi_root);
    free(cfg->backend.connect);
    free(cfg->backend.token_file);
    free(cfg->sslcert);
    free(cfg->sslkey);
    free(cfg->sslkey_password_file);
    free(cfg->sslca);
    free(cfg->http.origins);
    free_list(cfg->basic_auth);
    free(cfg->htpasswd);
    free(cfg->conn.allow);
    free(cfg->conn.deny);
    free(cfg->conn.trusted);
    free(cfg->user);
    free(cfg->group);
    free(cfg->backend.dir);
    free(cfg->config_file);
    free(cfg->unixsocket);
    free_list(cfg->addresses);
    free_list(cfg->backend.passenv);
    free_list(cfg->backend.subprotocols);
    free_list(cfg->backend.command);
    free(cfg->staticdir);
    free(cfg->cgidir);
    free(cfg->http.headers_ws);
    free(cfg->http.cache_control);
    free(cfg->http.health_path);
    free(cfg->http.metrics_path);
    free(cfg->session.headers_http);
    memset(cfg, 0, sizeof *cfg);
}

static bool same_string(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_list(char **a, char **b)
{
    for (; a && b && *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0) return false;
    return (!a || !*a) && (!b || !*b);
}

static void note_change(char *changed, size_t len, const char *name)
{
    size_t used = strlen(changed);
    snprintf(changed + used, len - used, "%s--%s", used ? ", " : "", name);
}

#define SWAP(a, b)                                                                                 \
    do {                                                                                           \
        __typeof__(a) swap_tmp_ = (a);                                                             \
        (a) = (b);                                                                                 \
        (b) = swap_tmp_;                                                                           \
    } while (0)

/* Compare one field, note it if it changed, and keep the live value. */
#define KEEP(field, same, name)                                                                    \
    do {                                                                                           \
        if (!(same)) note_change(changed, changed_len, name);                                      \
        SWAP(fresh->field, live->field);                                                           \
    } while (0)

void options_keep_restart_only(struct config *fresh, struct config *live, char *changed,
                               size_t changed_len)
{
    changed[0] = '\0';
    KEEP(port, fresh->port == live->port, "port");
    KEEP(port_set, true, "port");
    KEEP(addresses, same_list(fresh->addresses, live->addresses), "address");
    KEEP(naddresses, true, "address");
    KEEP(redirport, fresh->redirport == live->redirport, "redirport");
    KEEP(conn.ssl, fresh->conn.ssl == live->conn.ssl, "ssl");
    KEEP(unixsocket, same_string(fresh->unixsocket, live->unixsocket), "unixsocket");
    KEEP(unixsocket_mode, fresh->unixsocket_mode == live->unixsocket_mode, "unixsocket-mode");
    KEEP(backend.proxy, true, "connect"); /* a change shows as --connect or --token-file */
    KEEP(backend.command, same_list(fresh->backend.command, live->backend.command), "command");
    KEEP(backend.dir, same_string(fresh->backend.dir, live->backend.dir), "dir");
    KEEP(backend.binary, fresh->backend.binary == live->backend.binary, "binary");
    KEEP(backend.line_buffer, fresh->backend.line_buffer == live->backend.line_buffer,
         "line-buffer");
    KEEP(backend.pty, fresh->backend.pty == live->backend.pty, "pty");
    KEEP(backend.shared, fresh->backend.shared == live->backend.shared, "shared");
    KEEP(workers, fresh->workers == live->workers, "workers");
    KEEP(backend.shared_prefix, fresh->backend.shared_prefix == live->backend.shared_prefix,
         "shared-prefix");
    KEEP(backend.shared_events, fresh->backend.shared_events == live->backend.shared_events,
         "shared-events");
    KEEP(backend.connect, same_string(fresh->backend.connect, live->backend.connect), "connect");
    KEEP(backend.token_file, same_string(fresh->backend.token_file, live->backend.token_file),
         "token-file");
    KEEP(backend.ssl_target, fresh->backend.ssl_target == live->backend.ssl_target, "ssl-target");
    KEEP(backend.ssl_target_insecure,
         fresh->backend.ssl_target_insecure == live->backend.ssl_target_insecure,
         "ssl-target-insecure");
    KEEP(user, same_string(fresh->user, live->user), "user");
    KEEP(group, same_string(fresh->group, live->group), "group");
    KEEP(allow_root_children, fresh->allow_root_children == live->allow_root_children,
         "allow-root-children");
}

/* Print text wrapped at 79 columns, indented by `indent`. */
static void print_wrapped(FILE *out, const char *text, int indent, int col)
{
    const char *w = text;
    while (*w) {
        size_t n = strcspn(w, " ");
        if (col + (int)n + 1 > 79 && col > indent) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        }
        if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)n, w);
        col += (int)n;
        w += n;
        while (*w == ' ') w++;
    }
    fputc('\n', out);
}

void options_print_help(FILE *out)
{
    fprintf(out,
            "Usage: %s [OPTIONS] [--] COMMAND [ARGS...]\n"
            "       %s [OPTIONS] --connect=TARGET | --token-file=FILE\n\n"
            "Serve WebSockets: every connection gets its own COMMAND process, whose stdin\n"
            "receives the client's messages and whose stdout lines become messages to the\n"
            "client; or, in proxy mode, its own connection to a TCP or unix socket.\n\n"
            "Options (--name=value or --name value):\n",
            PACKAGE_NAME, PACKAGE_NAME);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_spec *s = &option_table[i];
        char head[64];
        bool opt = s->arg && s->arg[0] == '[';
        int n = snprintf(head, sizeof head, "  --%s%s%s", s->name, s->arg && !opt ? "=" : "",
                         s->arg ? s->arg : "");
        fputs(head, out);
        int col = n;
        if (col >= 26) {
            fprintf(out, "\n%*s", 26, "");
        } else {
            fprintf(out, "%*s", 26 - col, "");
        }
        char text[1024]; /* room for the longest help and its default */
        if (s->def)
            snprintf(text, sizeof text, "%s (default: %s)", s->help, s->def);
        else
            snprintf(text, sizeof text, "%s", s->help);
        print_wrapped(out, text, 26, 26);
    }
    fprintf(out, "\nExit status: 0 after a clean shutdown, 1 when the server cannot run "
                 "(for\nexample a port in use), 2 for invalid options.\n");
}
