/*
 * Fuzz target: procfs_sockets_header() and procfs_sockets_next() over a whole buffer,
 * as procfs_net_scan_sockets() counts /proc/net/{tcp,tcp6,udp,udp6}, checking that every
 * line is counted exactly once (parsed or malformed) and that states stay in 0..255.
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
    int r = procfs_sockets_header(buf, size, &off);
    if (r != 0) {
        if (r != -EBADMSG && r != -ENODATA)
            abort();
        return 0;
    }
    if (off == 0 || off > size || buf[off - 1] != '\n')
        abort();
    size_t lines = 0, newlines = 0;
    for (size_t i = off; i < size; i++)
        newlines += buf[i] == '\n';
    for (;;) {
        size_t before = off;
        unsigned state = 0;
        r = procfs_sockets_next(buf, size, &off, &state);
        if (r == 0 || r == -ENODATA) {
            if (off != before || (r == 0 && off != size))
                abort();
            break;
        }
        if ((r != 1 && r != -EBADMSG) || off <= before || off > size || buf[off - 1] != '\n')
            abort();
        if (r == 1 && state >= PROCFS_SOCK_STATES)
            abort();
        lines++;
    }
    if (lines != newlines)
        abort();
    return 0;
}
