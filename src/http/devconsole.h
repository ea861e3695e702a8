/* --devconsole: a page for trying an endpoint in the browser (connect,
 * send text or binary, see every message and the close), compiled in from
 * devconsole.html, so it needs nothing else and works offline. */
#ifndef WSB_DEVCONSOLE_H
#define WSB_DEVCONSOLE_H

#include <stddef.h>

extern const char devconsole_page[];
extern const size_t devconsole_page_len;

#endif
