/*
 * procfs: pure parsers for /proc/stat (cpu lines) and /proc/meminfo, the metric math
 * that turns their counters into the CloudWatch agent's cpu_* and mem_* values, and one
 * I/O helper that rereads a /proc file into a reusable buffer.
 *
 * Contract
 * - Parsers (procfs_parse_*) and math (procfs_cpu_usage, procfs_mem_compute) are pure:
 *   they read only their arguments, write only their outputs, never log, never allocate
 *   and are safe on any thread. `buf` need not be NUL-terminated; `len` bytes are read
 *   and nothing past them.
 * - Parsers return 0 or -EBADMSG for input that is not what the kernel writes: garbage,
 *   an empty buffer, a line cut short (every line the parser consumes must end in '\n';
 *   a read cut mid-line is reported, not half-used), a number that overflows u64, a
 *   missing required entry. On -EBADMSG the outputs hold no meaningful data.
 * - procfs_read_file() is the only function that does I/O: open/read/close into a
 *   caller-owned struct procfs_buf that grows (doubling) and is kept between calls, so
 *   a steady-state reread allocates nothing. Returns 0, -errno from open/read, -ENOMEM,
 *   or -EFBIG past PROCFS_READ_MAX. The buffer is owned by the caller and released with
 *   procfs_buf_release(); it is not thread-safe (one owner).
 * - Units: /proc/stat counters stay in USER_HZ ticks (as the kernel reports them);
 *   /proc/meminfo values are converted from kB to bytes (x1024).
 *
 * Limits: PROCFS_READ_MAX bytes per file; CPU ids 0..PROCFS_CPU_ID_MAX.
 */
#ifndef OSPREY_PROCFS_H
#define OSPREY_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCFS_READ_MAX   (16u * 1024 * 1024)
#define PROCFS_CPU_ID_MAX 1048575
#define PROCFS_CPU_TOTAL  (-1) /* procfs_cpu_sample.cpu of the aggregate "cpu" line */

/* ---- reading ---------------------------------------------------------------------- */

struct procfs_buf {
    char *data;
    size_t len; /* bytes of the last read */
    size_t cap;
};

/* Read all of `path` into `b` (replacing its content). */
int procfs_read_file(const char *path, struct procfs_buf *b);
void procfs_buf_release(struct procfs_buf *b);

/* ---- /proc/stat ------------------------------------------------------------------- */

/* One cpu line, in USER_HZ ticks, in the kernel's column order (proc(5)). Columns a
 * kernel does not print are 0: steal appeared in 2.6.11, guest in 2.6.24, guest_nice in
 * 2.6.33. Note that user includes guest and nice includes guest_nice. */
struct procfs_cpu_times {
    uint64_t user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice;
};

#define PROCFS_CPU_COLUMNS_MIN 4  /* user nice system idle: Linux 2.4 */
#define PROCFS_CPU_COLUMNS_MAX 10 /* up to guest_nice; later columns are ignored */

struct procfs_cpu_sample {
    int32_t cpu;       /* PROCFS_CPU_TOTAL, or N of "cpuN" */
    uint8_t n_columns; /* columns parsed, PROCFS_CPU_COLUMNS_MIN..MAX */
    struct procfs_cpu_times t;
};

/*
 * Parse the cpu block at the start of /proc/stat: the aggregate "cpu" line (required,
 * first) and the "cpuN" lines after it (ids strictly increasing; offline CPUs are simply
 * absent). Parsing stops at the first line not starting with "cpu" (intr, ctxt, ...),
 * which is not examined further.
 *
 * Up to `cap` per-cpu lines are stored in `cpus` (may be NULL when cap is 0);
 * *ret_n_cpus receives the number of cpuN lines in the file, which may exceed `cap`:
 * the caller then grows its array and parses again.
 */
int procfs_parse_stat(const char *buf, size_t len, struct procfs_cpu_sample *ret_total,
                      struct procfs_cpu_sample *cpus, size_t cap, size_t *ret_n_cpus);

/*
 * The CloudWatch agent's cpu metrics are telegraf's inputs.cpu (plugins/inputs/cpu/cpu.go)
 * over gopsutil's cpu.Times. Its definitions, followed here exactly:
 *   total  = user + system + nice + iowait + irq + softirq + steal + idle
 *            (guest and guest_nice are not added: the kernel already counts them in
 *            user and nice)
 *   active = total - idle                      (so iowait counts as active)
 *   usage_X      = 100 * dX / dtotal  for X in system idle iowait irq softirq steal
 *                                     guest guest_nice active
 *   usage_user   = 100 * (duser - dguest) / dtotal
 *   usage_nice   = 100 * (dnice - dguest_nice) / dtotal
 * where dX = cur.X - prev.X. Returns 0; -EAGAIN when dtotal is 0 (no time passed:
 * telegraf publishes nothing); -ERANGE when dtotal is negative (counters went back, e.g.
 * a CPU was offlined and onlined: telegraf reports an error and publishes nothing).
 * A single column that goes back (iowait does on some NO_HZ kernels) yields a negative
 * percentage, as in telegraf.
 */
struct procfs_cpu_usage {
    double active, guest, guest_nice, idle, iowait, irq, nice, softirq, steal, system, user;
};

uint64_t procfs_cpu_total_ticks(const struct procfs_cpu_times *t);
uint64_t procfs_cpu_active_ticks(const struct procfs_cpu_times *t);
int procfs_cpu_usage(const struct procfs_cpu_times *prev, const struct procfs_cpu_times *cur,
                     struct procfs_cpu_usage *ret);

/* ---- /proc/meminfo ---------------------------------------------------------------- */

/* Raw /proc/meminfo entries, in bytes. `present` has a PROCFS_MEM_HAS_* bit for each
 * entry the file had. */
struct procfs_meminfo {
    uint64_t mem_total, mem_free, mem_available, buffers, cached, active, inactive, sreclaimable,
        shmem;
    unsigned present;
};

#define PROCFS_MEM_HAS_TOTAL        0x001u
#define PROCFS_MEM_HAS_FREE         0x002u
#define PROCFS_MEM_HAS_AVAILABLE    0x004u /* Linux 3.14+ */
#define PROCFS_MEM_HAS_BUFFERS      0x008u
#define PROCFS_MEM_HAS_CACHED       0x010u
#define PROCFS_MEM_HAS_ACTIVE       0x020u
#define PROCFS_MEM_HAS_INACTIVE     0x040u
#define PROCFS_MEM_HAS_SRECLAIMABLE 0x080u /* Linux 2.6.19+ */
#define PROCFS_MEM_HAS_SHMEM        0x100u /* Linux 2.6.32+ */
/* Entries every Linux 2.6+ prints; a meminfo without one of them is rejected. */
#define PROCFS_MEM_REQUIRED                                                                        \
    (PROCFS_MEM_HAS_TOTAL | PROCFS_MEM_HAS_FREE | PROCFS_MEM_HAS_BUFFERS | PROCFS_MEM_HAS_CACHED | \
     PROCFS_MEM_HAS_ACTIVE | PROCFS_MEM_HAS_INACTIVE)

/*
 * Parse /proc/meminfo: "Key:<spaces>value[ kB]" lines in any order. Unknown keys are
 * skipped (only the "Key:" shape is checked). The entries above must carry " kB". A
 * duplicated known key, a MemTotal of 0 or a missing required entry is -EBADMSG.
 */
int procfs_parse_meminfo(const char *buf, size_t len, struct procfs_meminfo *ret);

/*
 * The CloudWatch agent's mem metrics are telegraf's inputs.mem (plugins/inputs/mem/mem.go)
 * over gopsutil's mem.VirtualMemory (mem/mem_linux.go). Their definitions, in bytes:
 *   total     = MemTotal            free     = MemFree          buffered = Buffers
 *   cached    = Cached + SReclaimable (gopsutil, like free(1) and psutil)
 *   active    = Active              inactive = Inactive          shared   = Shmem
 *   available = MemAvailable; on kernels without it (< 3.14) free + cached, which is
 *               gopsutil's fallback when it cannot use /proc/zoneinfo
 *   used      = total - free - buffered - cached, clamped at 0 (gopsutil computes it in
 *               uint64 and would wrap; clamping is Osprey's only deviation)
 *   used_percent      = 100 * used / total        (telegraf)
 *   available_percent = 100 * available / total   (telegraf)
 * Returns 0, or -EINVAL when total is 0.
 */
struct procfs_mem_stats {
    uint64_t active, available, buffered, cached, free, inactive, shared, total, used;
    double available_percent, used_percent;
};

int procfs_mem_compute(const struct procfs_meminfo *mi, struct procfs_mem_stats *ret);

#endif
