/* The options that shape the answers to requests. core/options.c fills
 * them in; a reload replaces them. */
#ifndef WSB_HTTP_SETTINGS_H
#define WSB_HTTP_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/origin.h"

struct http_settings {
    struct origin_rule *origins;
    size_t norigins;
    bool sameorigin, origin_optional;
    unsigned maxforks;   /* programs running at once; 0: unlimited */
    char *headers_ws;    /* ready "Name: value\r\n" lines for the 101 answer */
    bool devconsole;     /* plain GETs that no file answers get the dev console */
    char *cache_control; /* --cache-control for static files, or NULL */
    char *health_path;   /* --health-path (the top level's counts), or NULL */
    char *metrics_path;  /* --metrics-path (the top level's counts), or NULL */
};

#endif
