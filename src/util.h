/* Small helpers shared by the event-driven modules. */
#ifndef WSB_UTIL_H
#define WSB_UTIL_H

#include <stddef.h>

/* Recover the struct that embeds a member (libev watchers live inside their owner). */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
