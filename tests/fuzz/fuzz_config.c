/* Fuzz the whole configuration path: jansson parse, position index, binding, plugin
 * init (which does no I/O). Any input must give 0 or a list of errors, never a crash. */
#include <stddef.h>
#include <stdint.h>

#include "agent/log.h"
#include "agent/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    if (settings_load_buffer(&s, "fuzz.json", (const char *)data, size, &errs) == 0)
        settings_release(&s);
    cfg_errors_release(&errs);
    return 0;
}
