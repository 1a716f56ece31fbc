/*
 * Fuzz target: procfs_diskstats_next() over a whole file, checking that the cursor
 * always advances, that only the documented codes come back, and that every entry has
 * a NUL-terminated name without blanks and a column count in range.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/procfs_disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct procfs_cursor cur;
    struct procfs_diskstat d;
    int r;

    procfs_cursor_init(&cur, (const char *)data, size);
    for (size_t lines = 0;; lines++) {
        const char *before = cur.p;
        r = procfs_diskstats_next(&cur, &d);
        if (r == 0)
            break;
        if (cur.p <= before || lines > size)
            abort();
        if (r < 0) {
            if (r != -EBADMSG && r != -EPROTO && r != -ENAMETOOLONG)
                abort();
            continue;
        }
        size_t n = strnlen(d.name, sizeof(d.name));
        if (r != 1 || n == 0 || n > PROCFS_DISK_NAME_MAX)
            abort();
        if (strchr(d.name, ' ') || strchr(d.name, '\t') || strchr(d.name, '\n'))
            abort();
        if (d.n_stats < PROCFS_DISKSTATS_MIN || d.n_stats > PROCFS_DISKSTATS_MAX)
            abort();
        /* A column is only ever filled when the line had it. */
        if ((d.n_stats < 12 && d.discards) || (d.n_stats < 15 && d.discard_ms) ||
            (d.n_stats < 16 && d.flushes) || (d.n_stats < 17 && d.flush_ms))
            abort();
    }
    return 0;
}
