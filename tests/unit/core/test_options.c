#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/options.h"
#include "base/log.h"
#include "../tap.h"

/* ---- running options_parse ------------------------------------------------- */

/* What options_parse printed, captured from stdout and stderr. */
static char out_text[65536], err_text[4096];

static void slurp(FILE *f, char *dst, size_t cap)
{
    rewind(f);
    size_t n = fread(dst, 1, cap - 1, f);
    dst[n] = '\0';
    fclose(f);
}

/* Parse a NULL-terminated list of words (the program name first). The words are
 * string literals: getopt may keep pointers into them between calls. */
static enum config_result parse(struct config *cfg, const char *const *words)
{
    char *argv[32];
    int argc = 0;
    while (words[argc]) {
        argv[argc] = (char *)words[argc];
        argc++;
    }
    argv[argc] = NULL;

    fflush(stdout);
    fflush(stderr);
    FILE *out = tmpfile(), *err = tmpfile();
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    enum config_result r = options_parse(cfg, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    slurp(out, out_text, sizeof out_text);
    slurp(err, err_text, sizeof err_text);
    return r;
}

#define ARGS(...) ((const char *const[]){"wsbridge", __VA_ARGS__, NULL})

/* The same in a table: the unused tail of the array is NULL. */
#define MAXWORDS 8
#define WORDS(...)                                                                                 \
    {                                                                                              \
        "wsbridge", __VA_ARGS__                                                                    \
    }

static bool list_is(char **list, size_t n, const char *const *want)
{
    size_t k = 0;
    for (; want[k]; k++)
        if (!list || !list[k] || strcmp(list[k], want[k]) != 0) return false;
    return n == k && (k == 0 ? list == NULL || list[0] == NULL : list[k] == NULL);
}

static size_t list_len(char **list)
{
    size_t n = 0;
    while (list && list[n]) n++;
    return n;
}

static bool str_is(const char *s, const char *want)
{
    if (!want) return s == NULL;
    return s && strcmp(s, want) == 0;
}

/* A printable copy of s for test names (control bytes as \xNN); two slots. */
static const char *esc(const char *s)
{
    static char slots[2][256];
    static int next;
    char *o = slots[next++ & 1];
    size_t n = 0;
    if (!s) s = "(null)";
    for (; *s && n + 5 < sizeof slots[0]; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7F)
            n += (size_t)snprintf(o + n, 5, "\\x%02X", c);
        else
            o[n++] = (char)c;
    }
    o[n] = '\0';
    return o;
}

/* ---- defaults and values --------------------------------------------------- */

static void test_defaults(void)
{
    struct config c;
    enum config_result r = parse(&c, ARGS("cat"));
    ok(r == CONFIG_RUN, "just a COMMAND: run");
    ok(c.port == 80, "default port 80");
    ok(c.addresses == NULL && c.naddresses == 0, "default: no address (all interfaces)");
    ok(list_is(c.backend.passenv, c.backend.npassenv,
               (const char *const[]){"PATH", "LD_LIBRARY_PATH", NULL}),
       "default passenv PATH,LD_LIBRARY_PATH");
    ok(c.session.maxmsgsize == 16u << 20, "default maxmsgsize 16 MiB");
    ok(c.loglevel == LOGL_ACCESS, "default loglevel access");
    ok(!c.backend.binary && c.http.maxforks == 0 && c.backend.closems == 0 && c.staticdir == NULL,
       "default: text mode, no fork limit, closems 0, no static dir");
    ok(c.http.headers_ws == NULL && c.session.headers_http == NULL, "default: no extra headers");
    ok(list_is(c.backend.command, list_len(c.backend.command), (const char *const[]){"cat", NULL}),
       "the command is {\"cat\"}");
    ok(out_text[0] == '\0' && err_text[0] == '\0', "nothing printed for valid options");
    options_free(&c);
    ok(c.backend.command == NULL && c.backend.passenv == NULL, "options_free releases and clears");
}

static void test_port_forms(void)
{
    static const struct {
        const char *name;
        const char *args[MAXWORDS];
    } forms[] = {
        {"--port=8080", WORDS("--port=8080", "cat")},
        {"--port 8080", WORDS("--port", "8080", "cat")},
        {"-port=8080", WORDS("-port=8080", "cat")},
        {"-port 8080", WORDS("-port", "8080", "cat")},
        {"--port=1 then --port=8080 (last wins)", WORDS("--port=1", "--port=8080", "cat")},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct config c;
        enum config_result r = parse(&c, forms[i].args);
        ok(r == CONFIG_RUN && c.port == 8080, "%s sets port 8080 (got %u)", forms[i].name,
           r == CONFIG_RUN ? c.port : 0);
        options_free(&c);
    }
    struct config c;
    ok(parse(&c, ARGS("--port=65535", "cat")) == CONFIG_RUN && c.port == 65535,
       "port 65535 is the largest");
    options_free(&c);
    ok(parse(&c, ARGS("--port=1", "cat")) == CONFIG_RUN && c.port == 1, "port 1 is the smallest");
    options_free(&c);
}

static void test_lists(void)
{
    struct config c;
    enum config_result r =
        parse(&c, ARGS("--address=127.0.0.1", "--address", "::1", "-address=[::1]", "cat"));
    ok(r == CONFIG_RUN && list_is(c.addresses, c.naddresses,
                                  (const char *const[]){"127.0.0.1", "::1", "[::1]", NULL}),
       "--address is repeatable and keeps the order");
    options_free(&c);

    r = parse(&c, ARGS("--passenv=A,B", "--passenv", "C", "cat"));
    ok(r == CONFIG_RUN && list_is(c.backend.passenv, c.backend.npassenv,
                                  (const char *const[]){"A", "B", "C", NULL}),
       "--passenv is repeatable and replaces the default list");
    options_free(&c);

    r = parse(&c, ARGS("--passenv= D , E ,,F", "cat"));
    ok(r == CONFIG_RUN && list_is(c.backend.passenv, c.backend.npassenv,
                                  (const char *const[]){"D", "E", "F", NULL}),
       "--passenv trims spaces and skips empty names");
    options_free(&c);

    r = parse(&c, ARGS("--passenv=PATH=/x", "cat"));
    ok(r == CONFIG_USAGE, "--passenv with '=' in a name is refused");
    options_free(&c);

    r = parse(&c, ARGS("--binary", "--maxforks=10", "--closems=250", "--staticdir=/a",
                       "--staticdir", "/srv/www", "cat"));
    ok(r == CONFIG_RUN && c.backend.binary && c.http.maxforks == 10 && c.backend.closems == 250 &&
           str_is(c.staticdir, "/srv/www"),
       "--binary, --maxforks, --closems; the last --staticdir wins");
    options_free(&c);

    static const struct {
        const char *arg;
        enum log_level level;
    } levels[] = {{"--loglevel=debug", LOGL_DEBUG},   {"--loglevel=trace", LOGL_TRACE},
                  {"--loglevel=access", LOGL_ACCESS}, {"--loglevel=info", LOGL_INFO},
                  {"--loglevel=warn", LOGL_WARN},     {"--loglevel=error", LOGL_ERROR},
                  {"--loglevel=fatal", LOGL_FATAL}};
    bool good = true;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        r = parse(&c, (const char *const[]){"wsbridge", levels[i].arg, "cat", NULL});
        if (r != CONFIG_RUN || c.loglevel != levels[i].level) good = false;
        options_free(&c);
    }
    ok(good, "--loglevel accepts debug, trace, access, info, warn, error and fatal");
}

static void test_maxmsgsize(void)
{
    static const struct {
        const char *arg;
        bool valid;
        uint64_t value;
    } cases[] = {
        {"--maxmsgsize=64K", true, 65536},
        {"--maxmsgsize=64k", true, 65536},
        {"--maxmsgsize=16M", true, 16777216},
        {"--maxmsgsize=1G", true, 1073741824},
        {"--maxmsgsize=0", true, 0},
        {"--maxmsgsize=12345", true, 12345},
        {"--maxmsgsize=16777216G", true, 16777216ull << 30},
        {"--maxmsgsize=K", false, 0},
        {"--maxmsgsize=", false, 0},
        {"--maxmsgsize=-1", false, 0},
        {"--maxmsgsize=+1", false, 0},
        {"--maxmsgsize=1.5M", false, 0},
        {"--maxmsgsize=16MB", false, 0},
        {"--maxmsgsize=16T", false, 0},
        {"--maxmsgsize= 16", false, 0},
        {"--maxmsgsize=99999999999999999999", false, 0},
        {"--maxmsgsize=17179869184G", false, 0}, /* 2^64 bytes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        enum config_result r =
            parse(&c, (const char *const[]){"wsbridge", cases[i].arg, "cat", NULL});
        if (cases[i].valid)
            ok(r == CONFIG_RUN && c.session.maxmsgsize == cases[i].value, "%s -> %llu bytes",
               cases[i].arg, (unsigned long long)cases[i].value);
        else
            ok(r == CONFIG_USAGE && err_text[0] != '\0', "%s is refused with a message",
               cases[i].arg);
        options_free(&c);
    }
}

static void test_headers(void)
{
    struct config c;
    enum config_result r = parse(&c, ARGS("--header-ws", "X-W: ws", "--header=X-A: all",
                                          "--header-http=X-H:   http", "--header", "X-B:b", "cat"));
    ok(r == CONFIG_RUN, "header options parse");
    ok(str_is(c.http.headers_ws, "X-A: all\r\nX-B: b\r\nX-W: ws\r\n"),
       "headers_ws: --header lines, then --header-ws lines (got \"%s\")", esc(c.http.headers_ws));
    ok(str_is(c.session.headers_http, "X-A: all\r\nX-B: b\r\nX-H: http\r\n"),
       "headers_http: --header lines, then --header-http lines (got \"%s\")",
       esc(c.session.headers_http));
    options_free(&c);

    r = parse(&c, ARGS("--header-http=Cache-Control: no-store", "cat"));
    ok(r == CONFIG_RUN && c.http.headers_ws == NULL &&
           str_is(c.session.headers_http, "Cache-Control: no-store\r\n"),
       "--header-http only: nothing for the 101 answer");
    options_free(&c);

    static const char *const bad[] = {
        "--header=NoColon",      "--header=: value",    "--header=Bad Name: v",
        "--header=X: a\r\nY: b", "--header-ws=X: a\nb", "--header-http=X(: v",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = parse(&c, (const char *const[]){"wsbridge", bad[i], "cat", NULL});
        ok(r == CONFIG_USAGE, "bad header option refused: %s", esc(bad[i]));
        options_free(&c);
    }
}

static void test_command(void)
{
    struct config c;
    enum config_result r = parse(&c, ARGS("--port=1", "cat", "-u", "--port=2"));
    ok(r == CONFIG_RUN && c.port == 1 &&
           list_is(c.backend.command, list_len(c.backend.command),
                   (const char *const[]){"cat", "-u", "--port=2", NULL}),
       "options after COMMAND belong to it: command {cat,-u,--port=2}, port 1");
    options_free(&c);

    r = parse(&c, ARGS("--port=1", "--", "--odd-name", "--port=3"));
    ok(r == CONFIG_RUN && c.port == 1 &&
           list_is(c.backend.command, list_len(c.backend.command),
                   (const char *const[]){"--odd-name", "--port=3", NULL}),
       "\"--\" ends our options: command {--odd-name,--port=3}");
    options_free(&c);

    r = parse(&c, ARGS("./script.sh", "a b", ""));
    ok(r == CONFIG_RUN && list_is(c.backend.command, list_len(c.backend.command),
                                  (const char *const[]){"./script.sh", "a b", "", NULL}),
       "arguments with spaces and empty arguments are kept");
    options_free(&c);
}

/* ---- errors, --help and --version -------------------------------------------- */

static void test_errors(void)
{
    static const struct {
        const char *name;
        const char *args[MAXWORDS];
    } cases[] = {
        {"unknown option", WORDS("--nope", "cat")},
        {"unknown single-dash option", WORDS("-x", "cat")},
        {"missing value at the end", WORDS("--port")},
        {"the command taken as the missing value", WORDS("--port", "cat")},
        {"flag with a value", WORDS("--binary=yes", "cat")},
        {"port 0", WORDS("--port=0", "cat")},
        {"port 65536", WORDS("--port=65536", "cat")},
        {"port abc", WORDS("--port=abc", "cat")},
        {"port -1", WORDS("--port=-1", "cat")},
        {"port empty", WORDS("--port=", "cat")},
        {"port 80x", WORDS("--port=80x", "cat")},
        {"empty address", WORDS("--address=", "cat")},
        {"bad loglevel", WORDS("--loglevel=loud", "cat")},
        {"maxforks abc", WORDS("--maxforks=abc", "cat")},
        {"closems over an hour", WORDS("--closems=3600001", "cat")},
        {"missing COMMAND", WORDS("--port=8080")},
        {"missing COMMAND after --", WORDS("--")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        enum config_result r = parse(&c, cases[i].args);
        ok(r == CONFIG_USAGE && strstr(err_text, "--help") != NULL && out_text[0] == '\0',
           "%s: usage error with a message on stderr", cases[i].name);
        options_free(&c);
    }
    struct config c;
    ok(parse(&c, (const char *const[]){"wsbridge", NULL}) == CONFIG_USAGE,
       "no arguments at all: usage error");
    options_free(&c);
}

static void test_help_version(void)
{
    static const struct {
        const char *name;
        const char *args[MAXWORDS];
    } helps[] = {
        {"--help", WORDS("--help")},
        {"-help", WORDS("-help")},
        {"-h", WORDS("-h")},
        {"--help after other options", WORDS("--port=1", "--help", "cat")},
    };
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        struct config c;
        enum config_result r = parse(&c, helps[i].args);
        ok(r == CONFIG_DONE && strstr(out_text, "Usage:") && strstr(out_text, "--maxmsgsize") &&
               err_text[0] == '\0',
           "%s prints the help on stdout and is done", helps[i].name);
        options_free(&c);
    }
    struct config c;
    ok(parse(&c, ARGS("--version")) == CONFIG_DONE &&
           strcmp(out_text, PACKAGE_NAME " " PACKAGE_VERSION "\n") == 0,
       "--version prints \"" PACKAGE_NAME " " PACKAGE_VERSION "\" and is done");
    options_free(&c);

    /* Every option of the table appears in --help. */
    parse(&c, ARGS("--help"));
    options_free(&c);
    static const char *const names[] = {"--port=",
                                        "--address=",
                                        "--binary",
                                        "--passenv=",
                                        "--maxforks=",
                                        "--closems=",
                                        "--maxmsgsize=",
                                        "--staticdir=",
                                        "--header=",
                                        "--header-ws=",
                                        "--header-http=",
                                        "--loglevel=",
                                        "--help",
                                        "--version",
                                        "--compress=",
                                        "--compress-mode=",
                                        "--compress-level=",
                                        "--compress-window-bits=",
                                        "--compress-mem-level=",
                                        "--compress-min-size=",
                                        "--log-format=",
                                        "--health-path=",
                                        "--cache-control=",
                                        "--keepalive-timeout=",
                                        "--reverselookup",
                                        "--cgidir=",
                                        "--cgi-timeout="};
    bool all = true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strstr(out_text, names[i])) all = false;
    ok(all, "--help lists every option");
}

static void test_reparse(void)
{
    /* Two parses in a row give the same result: no state is left behind. */
    struct config c;
    parse(&c, ARGS("--port=7", "cat"));
    options_free(&c);
    ok(parse(&c, ARGS("--port=9", "cat")) == CONFIG_RUN && c.port == 9,
       "a second parse starts afresh");
    options_free(&c);
    parse(&c, ARGS("--nope", "cat"));
    options_free(&c);
    ok(parse(&c, ARGS("cat")) == CONFIG_RUN && c.port == 80,
       "a parse after a usage error starts afresh");
    options_free(&c);

    /* getopt keeps its position inside a bundle of short options unless reset
     * with optind = 0: a parse after "-hx" stopped at 'h' must start afresh. */
    parse(&c, ARGS("-hx"));
    options_free(&c);
    enum config_result r = parse(&c, ARGS("--port=1", "cat"));
    ok(r == CONFIG_RUN && c.port == 1,
       "a parse after one that stopped inside \"-hx\" starts afresh (got %s)",
       r == CONFIG_RUN    ? "run"
       : r == CONFIG_DONE ? "done"
                          : "usage error");
    options_free(&c);
}

/* ---- --config files ------------------------------------------------------- */

/* Write text to a fresh temporary file; returns its path (static slots). */
static const char *conf_file(const char *text)
{
    static char paths[4][64];
    static int next;
    char *path = paths[next++ & 3];
    snprintf(path, sizeof paths[0], "/tmp/wsb-test-conf-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return "/nonexistent";
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) path[0] = '\0';
    close(fd);
    return path;
}

/* parse() with "--config=PATH" as the first option; words after it. */
static enum config_result parse_with_file(struct config *c, const char *path,
                                          const char *const *more)
{
    static char opt[96];
    snprintf(opt, sizeof opt, "--config=%s", path);
    const char *words[16] = {"wsbridge", opt};
    size_t n = 2;
    for (; more && *more && n < 15; more++) words[n++] = *more;
    words[n] = NULL;
    return parse(c, words);
}

static void test_config_file(void)
{
    struct config c;
    const char *path = conf_file("# wsbridge.conf\n"
                                 "port = 8081\n"
                                 "address = 127.0.0.1\n"
                                 "address = ::1\n"
                                 "binary = yes\n"
                                 "maxforks = 7\n"
                                 "sameorigin = no\n"
                                 "origin = example.com\n"
                                 "header = X-A: 1\n"
                                 "shutdown-timeout = 2.5\n"
                                 "command = /bin/echo  hello   world\n");
    enum config_result r = parse_with_file(&c, path, NULL);
    ok(r == CONFIG_RUN, "a config file alone gives a runnable config (%s)", esc(err_text));
    ok(c.port == 8081 && c.port_set, "port from the file");
    ok(list_is(c.addresses, c.naddresses, (const char *const[]){"127.0.0.1", "::1", NULL}),
       "a repeated key stays repeatable");
    ok(c.backend.binary && !c.http.sameorigin, "flags: yes sets, no leaves unset");
    ok(c.http.maxforks == 7 && c.http.norigins == 1, "numbers and origins from the file");
    ok(c.shutdown_timeout == 2.5, "shutdown-timeout from the file");
    ok(list_is(c.backend.command, list_len(c.backend.command),
               (const char *const[]){"/bin/echo", "hello", "world", NULL}),
       "command = splits at blanks");
    ok(str_is(c.http.headers_ws, "X-A: 1\r\n"), "headers from the file");
    options_free(&c);

    r = parse_with_file(&c, path,
                        (const char *const[]){"--port=9000", "--address=10.0.0.1", "cat", NULL});
    ok(r == CONFIG_RUN, "file plus command line: run");
    ok(c.port == 9000, "a command-line value wins over the file's");
    ok(list_is(c.addresses, c.naddresses, (const char *const[]){"10.0.0.1", NULL}),
       "a repeatable option on the command line replaces the file's list");
    ok(list_is(c.backend.command, list_len(c.backend.command), (const char *const[]){"cat", NULL}),
       "COMMAND on the command line wins over 'command ='");
    ok(c.http.maxforks == 7, "options only in the file still apply");
    options_free(&c);
    unlink(path);

    path = conf_file("sslcert = /file.pem\nsslkey = /file.key\nssl\n");
    r = parse_with_file(&c, path, (const char *const[]){"--cert=/cli.pem", "cat", NULL});
    ok(r == CONFIG_RUN && str_is(c.sslcert, "/cli.pem") && str_is(c.sslkey, "/file.key") &&
           c.conn.ssl == SSL_ON,
       "an alias on the command line (--cert) wins over the file's sslcert");
    options_free(&c);
    unlink(path);

    path = conf_file("ssl = auto\nsslcert = /a\nsslkey = /b\n");
    r = parse_with_file(&c, path, (const char *const[]){"cat", NULL});
    ok(r == CONFIG_RUN && c.conn.ssl == SSL_AUTO, "ssl = auto");
    options_free(&c);
    unlink(path);

    path = conf_file("trusted-proxy = unix\nproxy-protocol\nunixsocket = /run/x.sock\n"
                     "unixsocket-mode = 0600\n");
    r = parse_with_file(&c, path, (const char *const[]){"cat", NULL});
    ok(r == CONFIG_RUN && c.conn.trust_unix && c.conn.proxy_protocol &&
           str_is(c.unixsocket, "/run/x.sock") && c.unixsocket_mode == 0600,
       "unix socket options; --trusted-proxy=unix satisfies --proxy-protocol (%s)", esc(err_text));
    options_free(&c);
    unlink(path);
}

static void test_config_file_errors(void)
{
    static const struct {
        const char *text;
        const char *cli; /* one more command-line word, or NULL */
        const char *want;
        bool names_file;
    } bad[] = {
        {"port = 80\nprot = 1\n", NULL, ":2: unknown option 'prot'", true},
        {"port = x\n", NULL, ":1: invalid value in 'port = x': expected a port number", true},
        {"binary = maybe\n", NULL, ":1: invalid value in 'binary = maybe': expected yes or no",
         true},
        {"\n\nport\n", NULL, ":3: option 'port' needs a value ('port = PORT')", true},
        {"config = /x\n", NULL, ":1: 'config' cannot be used in a configuration file", true},
        {"help\n", NULL, ":1: 'help' cannot be used in a configuration file", true},
        {"command =\n", NULL, ":1: 'command' needs a program", true},
        {"port 80\n", NULL, ":1: expected 'name = value'", true},
        {"unixsocket-mode = 999\n", NULL, ":1: invalid value in 'unixsocket-mode = 999'", true},
        {"binary\n", "--connect=localhost:5900", "option '--binary' applies only to COMMAND",
         false},
        {"command = cat\n", "--connect=localhost:5900", "'command' cannot be used with proxy mode",
         true},
        {"maxforks = 2\n", "--config=/y", "option '--config' given twice", false},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct config c;
        const char *path = conf_file(bad[i].text);
        const char *more[] = {bad[i].cli, NULL};
        enum config_result r = parse_with_file(&c, path, more);
        bool named = !bad[i].names_file || strstr(err_text, path) != NULL;
        ok(r == CONFIG_USAGE && strstr(err_text, bad[i].want) && named,
           "file %s refused: \"%s\" (got \"%s\")", esc(bad[i].text), bad[i].want, esc(err_text));
        unlink(path);
    }
    struct config c;
    enum config_result r = parse(&c, ARGS("--config=/nonexistent/wsbridge.conf", "cat"));
    ok(r == CONFIG_USAGE && strstr(err_text, "/nonexistent/wsbridge.conf: No such file"),
       "a missing file is named (got \"%s\")", esc(err_text));
    r = parse(&c, ARGS("--unixsocket=/0123456789/0123456789/0123456789/0123456789/0123456789/"
                       "0123456789/0123456789/0123456789/0123456789/0123456789/x.sock",
                       "cat"));
    ok(r == CONFIG_USAGE && strstr(err_text, "at most 107 bytes"),
       "a unix socket path longer than sun_path is refused (got \"%s\")", esc(err_text));
}

static const struct route_config *route_at(const struct config *c, size_t i)
{
    return i < c->nroutes ? &c->routes[i] : NULL;
}

static void test_compress(void)
{
    struct config c;
    ok(parse(&c, ARGS("cat")) == CONFIG_RUN && c.session.compress.on &&
           !c.session.compress.high_ratio && c.session.compress.level == 6 &&
           c.session.compress.window_bits == 15 && c.session.compress.mem_level == 8 &&
           c.session.compress.min_size == 64,
       "compression defaults: on, low-memory, level 6, window 15, memLevel 8, 64 bytes");
    options_free(&c);
    ok(parse(&c, ARGS("--compress=off", "--compress-mode=high-ratio", "--compress-level=1",
                      "--compress-window-bits=9", "--compress-mem-level=9",
                      "--compress-min-size=1K", "cat")) == CONFIG_RUN &&
           !c.session.compress.on && c.session.compress.high_ratio &&
           c.session.compress.level == 1 && c.session.compress.window_bits == 9 &&
           c.session.compress.mem_level == 9 && c.session.compress.min_size == 1024,
       "every compress option is read");
    options_free(&c);
    static const char *const bad[] = {
        "--compress=yes",
        "--compress=",
        "--compress-mode=fast",
        "--compress-level=0",
        "--compress-level=10",
        "--compress-window-bits=8",
        "--compress-window-bits=16",
        "--compress-mem-level=0",
        "--compress-mem-level=10",
        "--compress-min-size=5G",
        "--compress-min-size=-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ok(parse(&c, (const char *const[]){"wsbridge", bad[i], "cat", NULL}) == CONFIG_USAGE &&
               err_text[0] != '\0',
           "%s is refused with a message", bad[i]);
        options_free(&c);
    }
    const char *path = conf_file("command = cat\n"
                                 "compress-mode = high-ratio\n"
                                 "compress-level = 9\n"
                                 "[route /a/]\n"
                                 "command = cat\n"
                                 "[route /b/]\n"
                                 "command = cat\n"
                                 "compress = off\n"
                                 "compress-level = 2\n"
                                 "compress-min-size = 0\n");
    ok(parse_with_file(&c, path, NULL) == CONFIG_RUN && c.nroutes == 2, "routes with compression");
    const struct route_config *a = route_at(&c, 0), *b = route_at(&c, 1);
    ok(a && a->cfg->session.compress.on && a->cfg->session.compress.high_ratio &&
           a->cfg->session.compress.level == 9 && a->cfg->session.compress.min_size == 64,
       "a route inherits each compress option");
    ok(b && !b->cfg->session.compress.on && b->cfg->session.compress.high_ratio &&
           b->cfg->session.compress.level == 2 && b->cfg->session.compress.min_size == 0,
       "a route sets its own, one by one, and inherits the rest");
    options_free(&c);
}

static void test_operator_options(void)
{
    struct config c;
    ok(parse(&c, ARGS("cat")) == CONFIG_RUN && c.conn.keepalive_timeout == 15.0 &&
           !c.conn.maxconn_per_ip_set && c.conn.maxconn_per_ip == 256 && !c.log_json &&
           !c.http.health_path && !c.http.cache_control,
       "defaults: keep-alive 15 s, --maxconn-per-ip 256 (not given), text logs, no health path");
    options_free(&c);
    ok(parse(&c, ARGS("--keepalive-timeout=0", "--maxconn-per-ip=256", "--log-format=json",
                      "--health-path=/healthz", "--cache-control=max-age=60", "cat")) ==
               CONFIG_RUN &&
           c.conn.keepalive_timeout == 0 && c.conn.maxconn_per_ip_set && c.log_json &&
           str_is(c.http.health_path, "/healthz") && str_is(c.http.cache_control, "max-age=60"),
       "each is read; --maxconn-per-ip given counts as given even at its default value");
    options_free(&c);
    static const char *const bad[] = {"--log-format=xml",   "--health-path=healthz",
                                      "--health-path=/a?b", "--keepalive-timeout=-1",
                                      "--cache-control=",   "--keepalive-timeout=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ok(parse(&c, (const char *const[]){"wsbridge", bad[i], "cat", NULL}) == CONFIG_USAGE &&
               err_text[0] != '\0',
           "%s is refused with a message", bad[i]);
        options_free(&c);
    }
    const char *path = conf_file("command = cat\n"
                                 "cache-control = no-cache\n"
                                 "[route /a/]\n"
                                 "command = cat\n"
                                 "[route /b/]\n"
                                 "command = cat\n"
                                 "cache-control = max-age=5\n");
    ok(parse_with_file(&c, path, NULL) == CONFIG_RUN, "cache-control in routes");
    ok(route_at(&c, 0) && str_is(route_at(&c, 0)->cfg->http.cache_control, "no-cache") &&
           route_at(&c, 1) && str_is(route_at(&c, 1)->cfg->http.cache_control, "max-age=5"),
       "a route inherits cache-control or sets its own");
    options_free(&c);
    path = conf_file("command = cat\n[route /a/]\ncommand = cat\nhealth-path = /h\n");
    ok(parse_with_file(&c, path, NULL) == CONFIG_USAGE && strstr(err_text, "health-path"),
       "health-path is about the whole server: refused in a route");
    options_free(&c);
}

static void test_reverselookup(void)
{
    struct config c;
    ok(parse(&c, ARGS("cat")) == CONFIG_RUN && !c.backend.reverselookup,
       "--reverselookup is off by default (REMOTE_HOST is the address)");
    options_free(&c);
    ok(parse(&c, ARGS("--reverselookup", "cat")) == CONFIG_RUN && c.backend.reverselookup,
       "--reverselookup turns it on");
    options_free(&c);
    static const struct {
        const char *name, *want;
        const char *args[MAXWORDS];
    } refused[] = {
        {"with a value", "takes no value", WORDS("--reverselookup=yes", "cat")},
        {"in proxy mode", "applies only to COMMAND",
         WORDS("--reverselookup", "--connect=127.0.0.1:1")},
        {"with --shared", "--reverselookup cannot be used with --shared",
         WORDS("--reverselookup", "--shared", "cat")},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ok(parse(&c, refused[i].args) == CONFIG_USAGE && strstr(err_text, refused[i].want),
           "--reverselookup %s is refused (\"%s\")", refused[i].name, refused[i].want);
        options_free(&c);
    }
    /* An endpoint's own, as --passenv: a route does not inherit it. */
    const char *path = conf_file("command = cat\n"
                                 "reverselookup\n"
                                 "[route /a/]\n"
                                 "command = cat\n"
                                 "[route /b/]\n"
                                 "command = cat\n"
                                 "reverselookup = yes\n");
    ok(parse_with_file(&c, path, NULL) == CONFIG_RUN && c.backend.reverselookup &&
           route_at(&c, 0) && !route_at(&c, 0)->cfg->backend.reverselookup && route_at(&c, 1) &&
           route_at(&c, 1)->cfg->backend.reverselookup,
       "in a file: the top level's and each route's own (not inherited)");
    options_free(&c);
}

static void test_cgidir(void)
{
    struct config c;
    ok(parse(&c, ARGS("cat")) == CONFIG_RUN && !c.cgidir && c.backend.cgi_timeout == 60.0,
       "no --cgidir by default; --cgi-timeout is 60 s");
    options_free(&c);
    ok(parse(&c, ARGS("--cgidir=/srv/cgi", "--cgi-timeout=2.5", "cat")) == CONFIG_RUN &&
           str_is(c.cgidir, "/srv/cgi") && c.backend.cgi_timeout == 2.5,
       "--cgidir and --cgi-timeout are read");
    options_free(&c);
    ok(parse(&c, ARGS("--cgi-timeout=0", "cat")) == CONFIG_RUN && c.backend.cgi_timeout == 0,
       "--cgi-timeout=0: no limit");
    options_free(&c);
    static const char *const bad[] = {"--cgi-timeout=-1", "--cgi-timeout=x", "--cgi-timeout=3601",
                                      "--cgidir"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ok(parse(&c, (const char *const[]){"wsbridge", bad[i], "cat", NULL}) == CONFIG_USAGE &&
               err_text[0] != '\0',
           "%s is refused with a message", bad[i]);
        options_free(&c);
    }
    /* A proxy endpoint with scripts takes the options its scripts read. */
    ok(parse(&c, ARGS("--cgidir=/srv/cgi", "--passenv=PATH,HOME", "--maxforks=4", "--closems=10",
                      "--close-signal=TERM", "--quiet-stderr", "--connect=127.0.0.1:1")) ==
           CONFIG_RUN,
       "with --cgidir a proxy endpoint takes --passenv, --maxforks, --closems, --close-signal");
    options_free(&c);
    ok(parse(&c, ARGS("--passenv=PATH", "--connect=127.0.0.1:1")) == CONFIG_USAGE &&
           strstr(err_text, "applies only to COMMAND"),
       "without it they are still refused in proxy mode");
    options_free(&c);
    const char *path = conf_file("command = cat\n"
                                 "cgidir = /srv/cgi\n"
                                 "cgi-timeout = 5\n"
                                 "[route /a/]\n"
                                 "command = cat\n"
                                 "[route /b/]\n"
                                 "command = cat\n"
                                 "cgidir = /srv/other\n"
                                 "cgi-timeout = 7\n");
    ok(parse_with_file(&c, path, NULL) == CONFIG_RUN && route_at(&c, 0) &&
           str_is(route_at(&c, 0)->cfg->cgidir, "/srv/cgi") &&
           route_at(&c, 0)->cfg->backend.cgi_timeout == 5 && route_at(&c, 1) &&
           str_is(route_at(&c, 1)->cfg->cgidir, "/srv/other") &&
           route_at(&c, 1)->cfg->backend.cgi_timeout == 7,
       "a route inherits cgidir and cgi-timeout or sets its own");
    options_free(&c);
}

static void test_routes(void)
{
    struct config c;
    const char *path = conf_file("port = 8080\n"
                                 "staticdir = /srv/www\n"
                                 "maxmsgsize = 1K\n"
                                 "pingms = 5000\n"
                                 "header = X-Top: 1\n"
                                 "origin = example.com\n"
                                 "basic-auth = top:secret\n"
                                 "[route /chat/]\n"
                                 "shared\n"
                                 "shared-prefix\n"
                                 "command = /usr/bin/room  --fast\n"
                                 "[route /tcp/]\n"
                                 "connect = 127.0.0.1:7000\n"
                                 "binary-only\n"
                                 "maxmsgsize = 2M\n"
                                 "header-ws = X-Tcp: 1\n"
                                 "[route = /exact]\n"
                                 "dir = /srv/scripts\n"
                                 "maxforks = 3\n"
                                 "sameorigin\n"
                                 "htpasswd = /etc/wsbridge/users\n"
                                 "staticdir = /srv/other\n");
    enum config_result r = parse_with_file(&c, path, NULL);
    ok(r == CONFIG_RUN, "a file with routes and no top-level COMMAND runs (%s)", esc(err_text));
    ok(c.nroutes == 3, "three routes (got %zu)", c.nroutes);
    ok(!options_has_endpoint(&c), "the top level has no endpoint of its own");
    const struct route_config *chat = route_at(&c, 0), *tcp = route_at(&c, 1),
                              *ex = route_at(&c, 2);
    ok(chat && str_is(chat->path, "/chat/") && !chat->exact && chat->line == 8,
       "[route /chat/]: a prefix route, line 8");
    ok(chat && chat->cfg->backend.shared == SHARED_LAZY && chat->cfg->backend.shared_prefix &&
           list_is(chat->cfg->backend.command, list_len(chat->cfg->backend.command),
                   (const char *const[]){"/usr/bin/room", "--fast", NULL}),
       "the chat route: shared, prefixed, its own command");
    ok(chat && chat->cfg->session.maxmsgsize == 1024 && chat->cfg->session.pingms == 5000 &&
           str_is(chat->cfg->staticdir, "/srv/www") && chat->cfg->http.norigins == 1 &&
           chat->cfg->nbasic_auth == 1 && str_is(chat->cfg->http.headers_ws, "X-Top: 1\r\n"),
       "a route inherits limits, pings, the static dir, origins, users and headers");
    ok(chat && list_is(chat->cfg->backend.passenv, chat->cfg->backend.npassenv,
                       (const char *const[]){"PATH", "LD_LIBRARY_PATH", NULL}),
       "a route gets the default --passenv");
    ok(tcp && tcp->cfg->backend.proxy && str_is(tcp->cfg->backend.connect, "127.0.0.1:7000") &&
           tcp->cfg->backend.binary_only && tcp->cfg->session.maxmsgsize == (2u << 20),
       "the tcp route: proxy mode with its own limit");
    ok(tcp && str_is(tcp->cfg->http.headers_ws, "X-Tcp: 1\r\n") &&
           tcp->cfg->session.headers_http == NULL,
       "a header option in a route replaces all the inherited header lines");
    ok(ex && ex->exact && str_is(ex->path, "/exact") &&
           str_is(ex->cfg->backend.dir, "/srv/scripts") && ex->cfg->http.maxforks == 3,
       "[route = /exact]: an exact route with --dir and --maxforks");
    ok(ex && ex->cfg->http.sameorigin && ex->cfg->http.norigins == 0 && ex->cfg->nbasic_auth == 0 &&
           str_is(ex->cfg->htpasswd, "/etc/wsbridge/users") &&
           str_is(ex->cfg->staticdir, "/srv/other"),
       "setting one option of a group (origins, users) replaces the whole inherited group");
    options_free(&c);
    ok(c.nroutes == 0 && c.routes == NULL, "options_free frees the routes");
    unlink(path);

    path = conf_file("[route /a/]\ncommand = cat\n");
    r = parse_with_file(&c, path, (const char *const[]){"echo", NULL});
    ok(r == CONFIG_RUN && options_has_endpoint(&c) && c.nroutes == 1 &&
           list_is(c.backend.command, 1, (const char *const[]){"echo", NULL}),
       "COMMAND on the command line is the top level's endpoint next to the routes");
    options_free(&c);
    unlink(path);

    path = conf_file("[route /a/]\ncommand = cat\n");
    r = parse_with_file(&c, path, (const char *const[]){"--maxmsgsize=5", NULL});
    ok(r == CONFIG_RUN && c.routes[0].cfg->session.maxmsgsize == 5,
       "a command-line option is inherited like the file's top level");
    options_free(&c);
    unlink(path);

    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"[route /a/]\nport = 1\ncommand = cat\n",
         ":2: 'port' is about the whole server: it goes before the first [route]"},
        {"[route /a/]\nworkers = 2\ncommand = cat\n", ":2: 'workers' is about the whole server"},
        {"[route /a/]\nbinary\n",
         ":1: route /a/: no endpoint: give 'command = PROGRAM ARGS', dir, connect or token-file"},
        {"[route /a/]\ncommand = cat\n[route /b/]\nconnect = x:1\ncommand = cat\n",
         ":3: route /b/: 'command' cannot be used with proxy mode"},
        {"[route /a/]\nconnect = x:1\nbinary\n",
         ":1: route /a/: option '--binary' applies only to COMMAND"},
        {"[route /a/]\ncommand = cat\nshared-prefix\n",
         ":1: route /a/: option '--shared-prefix' needs --shared"},
        {"\n[route /a/]\ncommand = cat\n[route /a/]\ncommand = cat\n",
         ":4: route /a/: given twice (first on line 2)"},
        {"binary\n[route /a/]\ncommand = cat\n",
         "option '--binary' belongs to an endpoint, and there is none outside the routes"},
        {"[route /a/]\ncommand = cat\nbogus = 1\n", ":3: unknown option 'bogus'"},
        {"[route /a/]\ncommand = cat\nmaxmsgsize = lots\n",
         ":3: invalid value in 'maxmsgsize = lots'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = conf_file(bad[i].text);
        r = parse_with_file(&c, path, NULL);
        ok(r == CONFIG_USAGE && strstr(err_text, bad[i].want) && strstr(err_text, path),
           "routes file %s refused: \"%s\" (got \"%s\")", esc(bad[i].text), bad[i].want,
           esc(err_text));
        unlink(path);
    }
    path = conf_file("");
    r = parse_with_file(&c, path, NULL);
    ok(r == CONFIG_USAGE && strstr(err_text, "missing COMMAND to run"),
       "no routes and no COMMAND: still 'missing COMMAND' (got \"%s\")", esc(err_text));
    unlink(path);
}

static void test_restart_only(void)
{
    struct config live, fresh;
    char changed[256];
    parse(&live, ARGS("--port=8080", "--origin=a.example", "--maxforks=1", "cat"));
    parse(&fresh, ARGS("--port=8080", "--origin=b.example", "--maxforks=2", "cat"));
    options_keep_restart_only(&fresh, &live, changed, sizeof changed);
    ok(changed[0] == '\0', "nothing restart-only changed (got \"%s\")", changed);
    ok(fresh.http.maxforks == 2 && fresh.http.norigins == 1 &&
           strstr(fresh.http.origins[0].host, "b.example"),
       "reloadable values are the fresh ones");
    options_free(&live);
    options_free(&fresh);

    parse(&live, ARGS("--port=8080", "--address=127.0.0.1", "cat", "-u"));
    parse(&fresh, ARGS("--port=9090", "--address=::1", "--binary", "sh"));
    options_keep_restart_only(&fresh, &live, changed, sizeof changed);
    ok(strcmp(changed, "--port, --address, --command, --binary") == 0,
       "the changed restart-only options are named (got \"%s\")", changed);
    ok(fresh.port == 8080 && !fresh.backend.binary &&
           list_is(fresh.addresses, fresh.naddresses, (const char *const[]){"127.0.0.1", NULL}) &&
           list_is(fresh.backend.command, list_len(fresh.backend.command),
                   (const char *const[]){"cat", "-u", NULL}),
       "and keep their running values");
    ok(live.port == 9090 && live.backend.binary,
       "the caller's old config holds the discarded values");
    options_free(&live);
    options_free(&fresh);
}

int main(void)
{
    test_defaults();
    test_port_forms();
    test_lists();
    test_maxmsgsize();
    test_headers();
    test_command();
    test_errors();
    test_help_version();
    test_reparse();
    test_config_file();
    test_config_file_errors();
    test_compress();
    test_operator_options();
    test_reverselookup();
    test_cgidir();
    test_routes();
    test_restart_only();
    return tap_finish();
}
