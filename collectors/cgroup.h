/*
 * cgroup: pure parsers for the cgroup v2 interface files the container collector reads
 * (cpu.stat, cpu.max, memory.stat, memory.events, io.stat, single-value files such as
 * memory.current and "max"-or-number files such as memory.max), for the v2 line of
 * /proc/self/cgroup, plus the container id derivation from a cgroup path and the
 * CPU-percent arithmetic.
 *
 * Contract
 * - Everything here is pure: reads only its arguments, writes only its outputs, never
 *   logs, never allocates, safe on any thread. `buf` need not be NUL-terminated; `len`
 *   bytes are read and nothing past them.
 * - Parsers return 0 or -EBADMSG for input that is not what the kernel writes: garbage,
 *   a line not ending in '\n' (a read cut short), a number that overflows u64, a
 *   duplicated or missing required key. On -EBADMSG outputs hold no meaningful data.
 *   Formats are those of Documentation/admin-guide/cgroup-v2.rst.
 * - Flat-keyed files ("key value\n" lines) skip keys they do not know, so newer kernels
 *   that add keys still parse; keys that older kernels lack are optional and reported
 *   through a `present` mask.
 * - Units stay the kernel's: microseconds in cpu.stat and cpu.max, bytes in memory.* and
 *   io.stat, plain counts elsewhere.
 *
 * Limits: CGROUP_IO_DEVICES_MAX devices kept per io.stat parse (the rest are counted).
 */
#ifndef OSPREY_CGROUP_H
#define OSPREY_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_IO_DEVICES_MAX 64
#define CGROUP_ID_MAX         64 /* longest container id cgroup_container_id() returns */

/* ---- cpu.stat --------------------------------------------------------------------- */

/* usage/user/system are printed by every v2 kernel, with or without the cpu controller;
 * the throttling keys only when the cpu controller is enabled for the group. */
struct cgroup_cpu_stat {
    uint64_t usage_usec, user_usec, system_usec;
    uint64_t nr_periods, nr_throttled, throttled_usec;
    unsigned present;
};

#define CGROUP_CPU_HAS_USAGE          0x01u
#define CGROUP_CPU_HAS_USER           0x02u
#define CGROUP_CPU_HAS_SYSTEM         0x04u
#define CGROUP_CPU_HAS_NR_PERIODS     0x08u
#define CGROUP_CPU_HAS_NR_THROTTLED   0x10u
#define CGROUP_CPU_HAS_THROTTLED_USEC 0x20u
#define CGROUP_CPU_REQUIRED           (CGROUP_CPU_HAS_USAGE | CGROUP_CPU_HAS_USER | CGROUP_CPU_HAS_SYSTEM)

int cgroup_parse_cpu_stat(const char *buf, size_t len, struct cgroup_cpu_stat *ret);

/* ---- cpu.max ---------------------------------------------------------------------- */

/* "$MAX $PERIOD\n" where $MAX is "max" (unlimited, *ret_limited = false) or a quota in
 * microseconds; the period must be positive. */
int cgroup_parse_cpu_max(const char *buf, size_t len, bool *ret_limited, uint64_t *ret_quota_usec,
                         uint64_t *ret_period_usec);

/* ---- single values ---------------------------------------------------------------- */

/* A file holding one number ("123\n"): memory.current, pids.current. */
int cgroup_parse_u64(const char *buf, size_t len, uint64_t *ret);
/* A file holding "max\n" (*ret_limited = false, *ret = UINT64_MAX) or a number:
 * memory.max, pids.max. */
int cgroup_parse_max(const char *buf, size_t len, bool *ret_limited, uint64_t *ret);

/* ---- memory.stat / memory.events -------------------------------------------------- */

struct cgroup_memory_stat {
    uint64_t anon, file;
};

/* anon and file are required (every kernel with memory.stat has them). */
int cgroup_parse_memory_stat(const char *buf, size_t len, struct cgroup_memory_stat *ret);

/* Cumulative event counts. oom_kill appeared in Linux 4.13: older kernels do not print
 * it (its present bit is clear). oom is required. */
struct cgroup_memory_events {
    uint64_t oom, oom_kill;
    unsigned present;
};

#define CGROUP_MEMEV_HAS_OOM      0x1u
#define CGROUP_MEMEV_HAS_OOM_KILL 0x2u

int cgroup_parse_memory_events(const char *buf, size_t len, struct cgroup_memory_events *ret);

/* ---- io.stat ---------------------------------------------------------------------- */

/* One "MAJ:MIN rbytes=N wbytes=N rios=N wios=N [dbytes=N dios=N ...]" line; the four
 * required keys must all be there, other key=value pairs (dbytes, dios, iocost's
 * "cost.vrate=100.00", iolatency's "depth=...") are skipped. */
struct cgroup_io_device {
    uint32_t major, minor;
    uint64_t rbytes, wbytes, rios, wios;
};

/* Store up to `cap` device lines in `devs` (NULL when cap is 0); *ret_n receives the
 * number of lines in the file, which may exceed cap. An empty file is valid (no I/O
 * yet: the kernel prints nothing for a device without statistics). A device listed
 * twice is -EBADMSG. */
int cgroup_parse_io_stat(const char *buf, size_t len, struct cgroup_io_device *devs, size_t cap,
                         size_t *ret_n);

/* ---- /proc/self/cgroup ------------------------------------------------------------ */

/* Find the cgroup v2 entry "0::/path" among the file's "ID:CONTROLLERS:PATH" lines and
 * point *ret_path and *ret_path_len into `buf` (the path starts with '/'). Returns 0;
 * -ENOENT when there is no v2 entry (a cgroup v1 only host); -EBADMSG when a line is
 * malformed or the path is not absolute or contains a "." or ".." component. */
int cgroup_parse_self_cgroup(const char *buf, size_t len, const char **ret_path,
                             size_t *ret_path_len);

/* true for "/" and for an absolute path without empty, "." or ".." components: one that
 * can be appended to the cgroup2 mount point without leaving it. */
bool cgroup_path_is_plain(const char *path, size_t len);

/* ---- container id ----------------------------------------------------------------- */

/*
 * Derive a container id from a cgroup path, scanning its components from the last:
 * - a 64-hex-digit id, alone or wrapped as systemd scopes name it: "docker-<id>.scope"
 *   (Docker), "cri-containerd-<id>.scope" (containerd), "crio-<id>.scope" (CRI-O),
 *   "libpod-<id>.scope" (Podman); e.g. "/docker/<id>",
 *   "/kubepods/burstable/pod<uid>/<id>", "/ecs/<task>/<id>" (ECS on EC2);
 * - otherwise, under "/ecs/": the Fargate container id "<32hex>-<digits>" of the last
 *   component, else the 32-hex task id that follows "/ecs/" (a task-level cgroup).
 * Writes the NUL-terminated id into `out` (cap >= CGROUP_ID_MAX + 1) and returns true;
 * false when nothing matches (`out` is then an empty string).
 */
bool cgroup_container_id(const char *path, size_t path_len, char *out, size_t cap);

/* ---- arithmetic ------------------------------------------------------------------- */

/* 100 * delta_usec of CPU time over interval_ns of wall time: percent of one CPU (two
 * busy CPUs make 200). Returns -1 when interval_ns is 0. */
double cgroup_cpu_percent(uint64_t delta_usec, uint64_t interval_ns);

#endif
