/*
 * Fuzz target: every cgroup v2 parser of collectors/cgroup.h on the same input (the
 * files share one line grammar, so a seed for one is a near miss for the others), plus
 * the container id derivation, checking what each promises on success.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/cgroup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_code(int r)
{
    if (r != 0 && r != -EBADMSG)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct cgroup_cpu_stat cs;
    int r = cgroup_parse_cpu_stat(buf, size, &cs);
    check_code(r);
    if (r == 0 && (cs.present & CGROUP_CPU_REQUIRED) != CGROUP_CPU_REQUIRED)
        abort();

    bool limited;
    uint64_t a, b;
    r = cgroup_parse_cpu_max(buf, size, &limited, &a, &b);
    check_code(r);
    if (r == 0 && (b == 0 || (!limited && a != UINT64_MAX)))
        abort();
    check_code(cgroup_parse_u64(buf, size, &a));
    r = cgroup_parse_max(buf, size, &limited, &a);
    check_code(r);
    if (r == 0 && !limited && a != UINT64_MAX)
        abort();

    struct cgroup_memory_stat ms;
    check_code(cgroup_parse_memory_stat(buf, size, &ms));
    struct cgroup_memory_events ev;
    r = cgroup_parse_memory_events(buf, size, &ev);
    check_code(r);
    if (r == 0 && !(ev.present & CGROUP_MEMEV_HAS_OOM))
        abort();

    struct cgroup_io_device devs[4];
    size_t n = 0;
    r = cgroup_parse_io_stat(buf, size, devs, 4, &n);
    check_code(r);
    for (size_t i = 0; r == 0 && i < n && i < 4; i++)
        for (size_t j = 0; j < i; j++)
            if (devs[i].major == devs[j].major && devs[i].minor == devs[j].minor)
                abort();

    const char *path = NULL;
    size_t path_len = 0;
    r = cgroup_parse_self_cgroup(buf, size, &path, &path_len);
    if (r != 0 && r != -EBADMSG && r != -ENOENT)
        abort();
    if (r == 0) {
        if (path < buf || path + path_len > buf + size || path_len == 0 || path[0] != '/' ||
            !cgroup_path_is_plain(path, path_len))
            abort();
    }
    char id[CGROUP_ID_MAX + 1];
    if (cgroup_container_id(buf, size, id, sizeof(id))) {
        size_t id_len = strlen(id);
        if (id_len == 0 || id_len > CGROUP_ID_MAX)
            abort();
    } else if (id[0] != '\0') {
        abort();
    }
    return 0;
}
