/*
 * Fuzz target: procfs_netdev_header() and procfs_netdev_next() over a whole buffer, as
 * the net collector walks /proc/net/dev, checking the walking contract: every call
 * either ends the walk or moves the offset forward, never past the buffer, and a parsed
 * interface has a valid name.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/procfs_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t off = 0;
    int r = procfs_netdev_header(buf, size, &off);
    if (r != 0) {
        if (r != -EBADMSG && r != -ENODATA)
            abort();
        /* Still walk it as lines: the line parser must hold on any input. */
        off = 0;
    } else if (off == 0 || off > size || buf[off - 1] != '\n') {
        abort();
    }
    for (;;) {
        size_t before = off;
        struct procfs_netdev_if one;
        r = procfs_netdev_next(buf, size, &off, &one);
        if (r == 0 || r == -ENODATA) {
            if (off != before)
                abort();
            if (r == 0 && off != size)
                abort();
            break;
        }
        if ((r != 1 && r != -EBADMSG) || off <= before || off > size || buf[off - 1] != '\n')
            abort();
        if (r == 1) {
            size_t n = strlen(one.name);
            if (n == 0 || n > PROCFS_IFNAME_MAX || strchr(one.name, ':') || strchr(one.name, '/'))
                abort();
        }
    }
    return 0;
}
