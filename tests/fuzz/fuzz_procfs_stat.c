/*
 * Fuzz target: procfs_parse_stat() and the cpu percentage math on what it accepts.
 * Parses each input twice (with a short per-cpu array and with none) and checks that
 * both agree, then runs procfs_cpu_usage() between the aggregate and each CPU.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct procfs_cpu_sample total, total2, cpus[4];
    size_t n = 0, n2 = 0;
    int r = procfs_parse_stat((const char *)data, size, &total, cpus, 4, &n);
    int r2 = procfs_parse_stat((const char *)data, size, &total2, NULL, 0, &n2);
    if (r != r2)
        abort();
    if (r != 0) {
        if (r != -EBADMSG)
            abort();
        return 0;
    }
    if (n != n2 || memcmp(&total.t, &total2.t, sizeof(total.t)) != 0)
        abort();
    if (total.cpu != PROCFS_CPU_TOTAL || total.n_columns < PROCFS_CPU_COLUMNS_MIN ||
        total.n_columns > PROCFS_CPU_COLUMNS_MAX)
        abort();
    struct procfs_cpu_usage u;
    for (size_t i = 0; i < n && i < 4; i++) {
        if (cpus[i].cpu < 0 || cpus[i].cpu > PROCFS_CPU_ID_MAX)
            abort();
        if (i > 0 && cpus[i].cpu <= cpus[i - 1].cpu)
            abort();
        r = procfs_cpu_usage(&cpus[i].t, &total.t, &u);
        if (r != 0 && r != -EAGAIN && r != -ERANGE)
            abort();
    }
    if (procfs_cpu_usage(&total.t, &total.t, &u) != -EAGAIN)
        abort();
    return 0;
}
