/*
 * Fuzz target: procfs_parse_meminfo() and procfs_mem_compute() on what it accepts,
 * checking the invariants of the derived values.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "collectors/procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct procfs_meminfo mi;
    struct procfs_mem_stats m;
    int r = procfs_parse_meminfo((const char *)data, size, &mi);
    if (r != 0) {
        if (r != -EBADMSG)
            abort();
        return 0;
    }
    if ((mi.present & PROCFS_MEM_REQUIRED) != PROCFS_MEM_REQUIRED || mi.mem_total == 0)
        abort();
    if (procfs_mem_compute(&mi, &m) != 0)
        abort();
    if (m.used > m.total || m.used_percent < 0 || m.used_percent > 100)
        abort();
    if (m.total % 1024 != 0)
        abort();
    return 0;
}
