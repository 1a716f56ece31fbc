/*
 * Fuzz target: procfs_parse_swap() and procfs_parse_vmstat_swap() on the same input,
 * and procfs_swap_compute() on what the first accepts.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "collectors/procfs_disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct procfs_swap sw;
    struct procfs_swap_stats s;
    struct procfs_vmstat_swap vm;

    int r = procfs_parse_swap((const char *)data, size, &sw);
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0) {
        if (sw.total % 1024 || sw.free % 1024)
            abort();
        procfs_swap_compute(&sw, &s);
        if (s.used > s.total || s.used_percent < 0 || s.used_percent > 100)
            abort();
    }
    r = procfs_parse_vmstat_swap((const char *)data, size, &vm);
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0 && !vm.present && (vm.pswpin && vm.pswpout))
        abort();
    return 0;
}
