/* libFuzzer target for the --config file: the line splitter (conffile.c)
 * and options.c applying its entries.
 *
 * The input is the file's text. conffile_parse must never read past the
 * input and must give entries whose names are option-name characters, with
 * line numbers in order, and route sections with clean paths; a file that parses is then handed to
 * options_parse (through a memfd) with "cat" as COMMAND, which must leave a consistent config or a
 * usage error, and free everything either way. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/conffile.h"
#include "core/options.h"

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

static void check_entries(const struct conffile *f)
{
    unsigned last = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct conffile_entry *e = &f->entries[i];
        if (!e->name[0] || e->line <= last) abort();
        last = e->line;
        for (const char *c = e->name; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) abort();
        if (e->value && strchr(e->value, '\n')) abort();
        if (e->section > f->nsections) abort();
    }
    for (size_t i = 0; i < f->nsections; i++) {
        const struct conffile_section *s = &f->sections[i];
        if (s->path[0] != '/' || strpbrk(s->path, " \t?#\n\r")) abort();
        if (i && s->line <= f->sections[i - 1].line) abort();
    }
}

static void apply(const uint8_t *data, size_t size)
{
    int fd = memfd_create("wsbridge.conf", MFD_CLOEXEC);
    if (fd < 0) return;
    if (write(fd, data, size) == (ssize_t)size) {
        char opt[64];
        snprintf(opt, sizeof opt, "--config=/proc/self/fd/%d", fd);
        char *argv[] = {"wsbridge", opt, "cat", NULL};
        struct config cfg;
        enum config_result r = options_parse(&cfg, 3, argv);
        if (r == CONFIG_RUN) {
            if (cfg.port < 1 || cfg.port > 65535 || cfg.config_file == NULL) abort();
            if (!cfg.backend.command || strcmp(cfg.backend.command[0], "cat") != 0) abort();
            if (!(cfg.shutdown_timeout >= 0 && cfg.shutdown_timeout <= 3600)) abort();
            if (cfg.unixsocket_mode > 0777) abort();
            options_free(&cfg);
        } else if (r != CONFIG_USAGE) {
            abort(); /* --help and --version are refused in a file */
        }
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees reads past the end */
    if (!copy) return 0;
    memcpy(copy, data, size);
    struct conffile f = {0};
    char err[256];
    int rc = conffile_parse(&f, copy, size, err, sizeof err);
    check_entries(&f);
    conffile_free(&f);
    free(copy);
    if (rc == 0) apply(data, size);
    return 0;
}
