/*
 * Fuzz target: procfs_mounts_next() over a whole mount table, checking that the cursor
 * always advances, that every entry it yields is NUL-terminated inside the scratch with
 * an absolute mount point, and that procfs_disk_usage_compute() keeps its invariants on
 * statfs numbers taken from the input.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/procfs_disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const char *s, const char *scratch, size_t cap)
{
    return s >= scratch && s < scratch + cap && memchr(s, '\0', (size_t)(scratch + cap - s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char scratch[1 << 16];
    size_t cap = size + 1 < sizeof(scratch) ? size + 1 : sizeof(scratch);
    struct procfs_cursor cur;
    struct procfs_mount m;
    int r;

    procfs_cursor_init(&cur, (const char *)data, size);
    for (size_t lines = 0;; lines++) {
        const char *before = cur.p;
        r = procfs_mounts_next(&cur, scratch, cap, &m);
        if (r == 0)
            break;
        if (cur.p <= before || lines > size)
            abort(); /* no progress */
        if (r < 0) {
            if (r != -EBADMSG && r != -ENAMETOOLONG)
                abort();
            continue;
        }
        if (r != 1 || !inside(m.device, scratch, cap) || !inside(m.mount_point, scratch, cap) ||
            !inside(m.fstype, scratch, cap) || !inside(m.options, scratch, cap))
            abort();
        if (m.mount_point[0] != '/' || !m.device[0] || !m.fstype[0] || !m.options[0])
            abort();
    }

    if (size >= 6 * sizeof(uint64_t)) {
        struct procfs_statfs st;
        memcpy(&st, data, sizeof(st));
        st.frsize &= 0xffff; /* block sizes are small: keep the products exact */
        st.blocks &= 0xffffffffffull;
        st.bfree &= 0xffffffffffull;
        st.bavail &= 0xffffffffffull;
        struct procfs_disk_usage u;
        procfs_disk_usage_compute(&st, &u);
        if (u.used > u.total || u.inodes_used > u.inodes_total)
            abort();
        if (u.used_percent < 0 || u.used_percent > 100 || u.inodes_used_percent < 0 ||
            u.inodes_used_percent > 100)
            abort();
    }
    return 0;
}
