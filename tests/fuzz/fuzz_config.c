/* libFuzzer target for the command-line parser (options.c).
 *
 * The input is argv after the program name, words separated by NUL bytes
 * (at most 64 words). The options accepted must leave a consistent config:
 * values in range, a command, and header lines that cannot inject a line
 * break into a response. options_free must release everything (LeakSanitizer
 * checks), whatever the outcome. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/options.h"

/* options_parse prints its messages; send the stdio streams to /dev/null.
 * libFuzzer keeps the stderr stream it captured at start-up, and the
 * sanitizers write to file descriptor 2 directly, so reports still show. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        stdout = null;
        stderr = null;
    }
    (void)argc;
    (void)argv;
    return 0;
}

/* Every line is "Name: value\r\n", with no other CR or LF. */
static void check_header_lines(const char *s)
{
    if (!s) return;
    if (!*s) abort();
    while (*s) {
        const char *crlf = strstr(s, "\r\n");
        if (!crlf) abort();
        const char *colon = memchr(s, ':', (size_t)(crlf - s));
        if (!colon || colon == s || colon[1] != ' ') abort();
        for (const char *c = s; c < crlf; c++)
            if (*c == '\r' || *c == '\n') abort();
        s = crlf + 2;
    }
}

volatile int sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    char *argv[66];
    int argc = 0;
    argv[argc++] = "wsbridge";
    for (char *w = text; w <= text + size && argc < 65; w += strlen(w) + 1) argv[argc++] = w;
    argv[argc] = NULL;

    struct config cfg;
    enum config_result r = options_parse(&cfg, argc, argv);
    switch (r) {
    case CONFIG_RUN:
        if (cfg.port < 1 || cfg.port > 65535 || cfg.http.maxforks > 1000000 ||
            cfg.backend.closems > 3600000)
            abort();
        /* Exec mode has a COMMAND; proxy mode a target or token file and no COMMAND. */
        if (cfg.backend.proxy != (cfg.backend.connect || cfg.backend.token_file)) abort();
        /* --dir (exec mode) runs the scripts it names: no COMMAND either. */
        bool no_command = cfg.backend.proxy || cfg.backend.dir;
        if (no_command ? cfg.backend.command != NULL
                       : (!cfg.backend.command || !cfg.backend.command[0]))
            abort();
        if (cfg.backend.proxy && cfg.backend.dir) abort();
        if (cfg.backend.proxy && cfg.backend.connect && cfg.backend.token_file) abort();
        if (!(cfg.backend.connect_timeout > 0 && cfg.backend.connect_timeout <= 3600)) abort();
        if (cfg.backend.ssl_target_insecure && !cfg.backend.ssl_target) abort();
        /* An empty --passenv= leaves no list at all. */
        if (cfg.backend.npassenv && !cfg.backend.passenv) abort();
        for (size_t i = 0; i < cfg.backend.npassenv; i++)
            if (!cfg.backend.passenv[i] || !*cfg.backend.passenv[i] ||
                strchr(cfg.backend.passenv[i], '='))
                abort();
        if (cfg.backend.passenv && cfg.backend.passenv[cfg.backend.npassenv]) abort();
        for (size_t i = 0; i < cfg.naddresses; i++)
            if (!cfg.addresses[i] || !*cfg.addresses[i]) abort();
        if (cfg.naddresses && cfg.addresses[cfg.naddresses]) abort();
        check_header_lines(cfg.http.headers_ws);
        check_header_lines(cfg.session.headers_http);
        if (cfg.loglevel > LOGL_FATAL) abort();
        options_free(&cfg);
        break;
    case CONFIG_DONE: options_free(&cfg); break;
    case CONFIG_USAGE: break; /* options_parse has freed it */
    default: abort();
    }
    free(text);
    return 0;
}
