/*
 * Fuzz target: every /proc/[pid] parser of collectors/procfs_pid.h on the same input
 * (stat, status, io, pid file, cmdline join, process name), checking that each either
 * rejects it with -EBADMSG or returns values within their documented ranges.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/procfs_pid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    struct procfs_pid_stat st;
    int r = procfs_pid_parse_stat(buf, size, &st);
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0 && (st.pid <= 0 || st.pid > PROCFS_PID_MAX || st.num_threads < 0))
        abort();

    struct procfs_pid_status ss;
    r = procfs_pid_parse_status(buf, size, &ss);
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0 && ((ss.present & PROCFS_PID_STATUS_REQUIRED) != PROCFS_PID_STATUS_REQUIRED ||
                   strlen(ss.name) >= sizeof(ss.name) || ss.vm_rss % 1024 != 0))
        abort();

    struct procfs_pid_io io;
    r = procfs_pid_parse_io(buf, size, &io);
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0 && io.present != PROCFS_PID_IO_REQUIRED)
        abort();

    int32_t pid;
    r = procfs_pid_parse_pidfile(buf, size, &pid);
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0 && (pid <= 0 || pid > PROCFS_PID_MAX))
        abort();

    /* The first 16 bytes as comm, the rest as cmdline. */
    char name[32];
    size_t comm_len = size < 16 ? size : 16;
    r = procfs_pid_name(buf, comm_len, buf + comm_len, size - comm_len, name, sizeof(name));
    if (r != 0 && r != -EBADMSG)
        abort();
    if (r == 0 && strlen(name) >= sizeof(name))
        abort();

    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    size_t n = procfs_pid_cmdline_join(copy, size);
    if (n > size || copy[n] != '\0' || memchr(copy, '\0', n) != NULL)
        abort();
    free(copy);
    return 0;
}
