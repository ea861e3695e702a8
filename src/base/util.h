/* Small helpers shared by the event-driven modules. */
#ifndef WSB_UTIL_H
#define WSB_UTIL_H

#include <stddef.h>

/* Recover the struct that embeds a member (libev watchers live inside their owner). */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Intrusive doubly linked lists: elements carry their own prev and next. */
#define list_push(head, e)                                                                         \
    do {                                                                                           \
        (e)->prev = NULL;                                                                          \
        (e)->next = (head);                                                                        \
        if (head) (head)->prev = (e);                                                              \
        (head) = (e);                                                                              \
    } while (0)

#define list_unlink(head, e)                                                                       \
    do {                                                                                           \
        if ((e)->prev)                                                                             \
            (e)->prev->next = (e)->next;                                                           \
        else                                                                                       \
            (head) = (e)->next;                                                                    \
        if ((e)->next) (e)->next->prev = (e)->prev;                                                \
        (e)->prev = (e)->next = NULL;                                                              \
    } while (0)

#endif
