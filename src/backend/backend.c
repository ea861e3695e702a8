/* The table of backends: adding one is adding its file and a line here. */
#include "autoconfig.h"

#include "backend/backend.h"

#include <stddef.h>

extern const struct backend_ops exec_backend, proxy_backend, shared_backend;

static const struct backend_ops *const backends[] = {
    &exec_backend,
    &proxy_backend,
    &shared_backend,
};

const struct backend_ops *backend_select(const struct backend_settings *set)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (backends[i]->serves(set)) return backends[i];
    return NULL;
}
