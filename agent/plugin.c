#include "agent/plugin.h"

#include "agent/log.h"

#include <stdio.h>

void plugin_cfg_verror(const struct plugin_cfg *cfg, const char *component, const char *key,
                       const char *fmt, va_list ap)
{
    char path[1024];
    char msg[768];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (!cfg->errs) {
        log_error(component, "%s", msg);
        return;
    }
    if (key)
        cfg_path_join(path, sizeof(path), cfg->path, key);
    else
        snprintf(path, sizeof(path), "%s", cfg->path);
    cfg_error_at(cfg->errs, cfg->doc, path, key != NULL, "%s", msg);
}
