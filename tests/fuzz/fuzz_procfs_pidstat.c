/*
 * Fuzz target: procfs_parse_pid_stat(), checking what it accepts: a record ending in
 * its only line break, with a state letter, as the processes collector relies on.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/procfs_proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct procfs_pid_stat st;
    int r = procfs_parse_pid_stat((const char *)data, size, &st);
    if (r != 0) {
        if (r != -EBADMSG)
            abort();
        return 0;
    }
    if (size == 0 || data[size - 1] != '\n' || data[0] < '0' || data[0] > '9')
        abort();
    if (!((st.state >= 'A' && st.state <= 'Z') || (st.state >= 'a' && st.state <= 'z')))
        abort();
    if (!memchr(data, '(', size) || !memchr(data, ')', size))
        abort();
    return 0;
}
