#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "tap.h"

/* ---- running config_parse ------------------------------------------------- */

/* What config_parse printed, captured from stdout and stderr. */
static char out_text[16384], err_text[4096];

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
    enum config_result r = config_parse(cfg, argc, argv);
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
    ok(list_is(c.passenv, c.npassenv, (const char *const[]){"PATH", "LD_LIBRARY_PATH", NULL}),
       "default passenv PATH,LD_LIBRARY_PATH");
    ok(c.maxmsgsize == 16u << 20, "default maxmsgsize 16 MiB");
    ok(c.loglevel == LOGL_ACCESS, "default loglevel access");
    ok(!c.binary && c.maxforks == 0 && c.closems == 0 && c.staticdir == NULL,
       "default: text mode, no fork limit, closems 0, no static dir");
    ok(c.headers_ws == NULL && c.headers_http == NULL, "default: no extra headers");
    ok(list_is(c.command, list_len(c.command), (const char *const[]){"cat", NULL}),
       "the command is {\"cat\"}");
    ok(out_text[0] == '\0' && err_text[0] == '\0', "nothing printed for valid options");
    config_free(&c);
    ok(c.command == NULL && c.passenv == NULL, "config_free releases and clears");
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
        config_free(&c);
    }
    struct config c;
    ok(parse(&c, ARGS("--port=65535", "cat")) == CONFIG_RUN && c.port == 65535,
       "port 65535 is the largest");
    config_free(&c);
    ok(parse(&c, ARGS("--port=1", "cat")) == CONFIG_RUN && c.port == 1, "port 1 is the smallest");
    config_free(&c);
}

static void test_lists(void)
{
    struct config c;
    enum config_result r =
        parse(&c, ARGS("--address=127.0.0.1", "--address", "::1", "-address=[::1]", "cat"));
    ok(r == CONFIG_RUN && list_is(c.addresses, c.naddresses,
                                  (const char *const[]){"127.0.0.1", "::1", "[::1]", NULL}),
       "--address is repeatable and keeps the order");
    config_free(&c);

    r = parse(&c, ARGS("--passenv=A,B", "--passenv", "C", "cat"));
    ok(r == CONFIG_RUN &&
           list_is(c.passenv, c.npassenv, (const char *const[]){"A", "B", "C", NULL}),
       "--passenv is repeatable and replaces the default list");
    config_free(&c);

    r = parse(&c, ARGS("--passenv= D , E ,,F", "cat"));
    ok(r == CONFIG_RUN &&
           list_is(c.passenv, c.npassenv, (const char *const[]){"D", "E", "F", NULL}),
       "--passenv trims spaces and skips empty names");
    config_free(&c);

    r = parse(&c, ARGS("--passenv=PATH=/x", "cat"));
    ok(r == CONFIG_USAGE, "--passenv with '=' in a name is refused");
    config_free(&c);

    r = parse(&c, ARGS("--binary", "--maxforks=10", "--closems=250", "--staticdir=/a",
                       "--staticdir", "/srv/www", "cat"));
    ok(r == CONFIG_RUN && c.binary && c.maxforks == 10 && c.closems == 250 &&
           str_is(c.staticdir, "/srv/www"),
       "--binary, --maxforks, --closems; the last --staticdir wins");
    config_free(&c);

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
        config_free(&c);
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
            ok(r == CONFIG_RUN && c.maxmsgsize == cases[i].value, "%s -> %llu bytes", cases[i].arg,
               (unsigned long long)cases[i].value);
        else
            ok(r == CONFIG_USAGE && err_text[0] != '\0', "%s is refused with a message",
               cases[i].arg);
        config_free(&c);
    }
}

static void test_headers(void)
{
    struct config c;
    enum config_result r = parse(&c, ARGS("--header-ws", "X-W: ws", "--header=X-A: all",
                                          "--header-http=X-H:   http", "--header", "X-B:b", "cat"));
    ok(r == CONFIG_RUN, "header options parse");
    ok(str_is(c.headers_ws, "X-A: all\r\nX-B: b\r\nX-W: ws\r\n"),
       "headers_ws: --header lines, then --header-ws lines (got \"%s\")", esc(c.headers_ws));
    ok(str_is(c.headers_http, "X-A: all\r\nX-B: b\r\nX-H: http\r\n"),
       "headers_http: --header lines, then --header-http lines (got \"%s\")", esc(c.headers_http));
    config_free(&c);

    r = parse(&c, ARGS("--header-http=Cache-Control: no-store", "cat"));
    ok(r == CONFIG_RUN && c.headers_ws == NULL &&
           str_is(c.headers_http, "Cache-Control: no-store\r\n"),
       "--header-http only: nothing for the 101 answer");
    config_free(&c);

    static const char *const bad[] = {
        "--header=NoColon",      "--header=: value",    "--header=Bad Name: v",
        "--header=X: a\r\nY: b", "--header-ws=X: a\nb", "--header-http=X(: v",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = parse(&c, (const char *const[]){"wsbridge", bad[i], "cat", NULL});
        ok(r == CONFIG_USAGE, "bad header option refused: %s", esc(bad[i]));
        config_free(&c);
    }
}

static void test_command(void)
{
    struct config c;
    enum config_result r = parse(&c, ARGS("--port=1", "cat", "-u", "--port=2"));
    ok(r == CONFIG_RUN && c.port == 1 &&
           list_is(c.command, list_len(c.command),
                   (const char *const[]){"cat", "-u", "--port=2", NULL}),
       "options after COMMAND belong to it: command {cat,-u,--port=2}, port 1");
    config_free(&c);

    r = parse(&c, ARGS("--port=1", "--", "--odd-name", "--port=3"));
    ok(r == CONFIG_RUN && c.port == 1 &&
           list_is(c.command, list_len(c.command),
                   (const char *const[]){"--odd-name", "--port=3", NULL}),
       "\"--\" ends our options: command {--odd-name,--port=3}");
    config_free(&c);

    r = parse(&c, ARGS("./script.sh", "a b", ""));
    ok(r == CONFIG_RUN && list_is(c.command, list_len(c.command),
                                  (const char *const[]){"./script.sh", "a b", "", NULL}),
       "arguments with spaces and empty arguments are kept");
    config_free(&c);
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
        config_free(&c);
    }
    struct config c;
    ok(parse(&c, (const char *const[]){"wsbridge", NULL}) == CONFIG_USAGE,
       "no arguments at all: usage error");
    config_free(&c);
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
        config_free(&c);
    }
    struct config c;
    ok(parse(&c, ARGS("--version")) == CONFIG_DONE &&
           strcmp(out_text, PACKAGE_NAME " " PACKAGE_VERSION "\n") == 0,
       "--version prints \"" PACKAGE_NAME " " PACKAGE_VERSION "\" and is done");
    config_free(&c);

    /* Every option of the table appears in --help. */
    parse(&c, ARGS("--help"));
    config_free(&c);
    static const char *const names[] = {
        "--port=",        "--address=",    "--binary",     "--passenv=", "--maxforks=",
        "--closems=",     "--maxmsgsize=", "--staticdir=", "--header=",  "--header-ws=",
        "--header-http=", "--loglevel=",   "--help",       "--version"};
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
    config_free(&c);
    ok(parse(&c, ARGS("--port=9", "cat")) == CONFIG_RUN && c.port == 9,
       "a second parse starts afresh");
    config_free(&c);
    parse(&c, ARGS("--nope", "cat"));
    config_free(&c);
    ok(parse(&c, ARGS("cat")) == CONFIG_RUN && c.port == 80,
       "a parse after a usage error starts afresh");
    config_free(&c);

    /* getopt keeps its position inside a bundle of short options unless reset
     * with optind = 0: a parse after "-hx" stopped at 'h' must start afresh. */
    parse(&c, ARGS("-hx"));
    config_free(&c);
    enum config_result r = parse(&c, ARGS("--port=1", "cat"));
    ok(r == CONFIG_RUN && c.port == 1,
       "a parse after one that stopped inside \"-hx\" starts afresh (got %s)",
       r == CONFIG_RUN    ? "run"
       : r == CONFIG_DONE ? "done"
                          : "usage error");
    config_free(&c);
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
    return tap_finish();
}
