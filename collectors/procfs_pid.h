/*
 * procfs_pid: pure parsers for the per-process files under /proc/[pid] that the procstat
 * plugin reads (stat, status, io, cmdline, comm, and a pid file), the cpu_usage math, and
 * two allocation-free directory helpers (count the entries of /proc/[pid]/fd, list the
 * numeric entries of /proc).
 *
 * Contract
 * - Parsers (procfs_pid_parse_*) and procfs_pid_cpu_usage are pure: they read only their
 *   arguments, write only their outputs, never log, never allocate, and are safe on any
 *   thread. `buf` need not be NUL-terminated; `len` bytes are read and nothing past them.
 * - Parsers return 0 or -EBADMSG for input that is not what the kernel writes: garbage,
 *   an empty buffer, a line cut short (every line consumed must end in '\n'), a number
 *   that overflows, a required entry missing. On -EBADMSG the outputs are meaningless.
 * - Kernel versions: status lines a kernel does not print (VmSwap before 2.6.34, every
 *   Vm* line for a kernel thread) are reported absent in `present` and read as 0, which
 *   is what the CloudWatch agent (telegraf over gopsutil) publishes for them.
 * - The directory helpers are the only I/O here. They read with getdents64 into a
 *   caller-owned struct procfs_pid_dirbuf that is sized once and reused, so a steady-state
 *   scan allocates nothing (opendir would malloc a DIR per call). They return 0 or -errno
 *   from open/getdents64 (-ENOENT when the directory vanished, e.g. the process exited).
 *   One owner per buffer; not thread-safe.
 *
 * Units: stat times stay in USER_HZ ticks; status sizes are converted from kB to bytes.
 */
#ifndef OSPREY_PROCFS_PID_H
#define OSPREY_PROCFS_PID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Linux caps pid_max at 2^22 (PID_MAX_LIMIT on 64-bit). */
#define PROCFS_PID_MAX 4194304

/* ---- /proc/[pid]/stat --------------------------------------------------------------- */

/* The fields procstat uses, by their proc_pid_stat(5) numbers. */
struct procfs_pid_stat {
    int32_t pid;         /* (1) */
    char state;          /* (3) R, S, D, Z, ... */
    uint64_t utime;      /* (14) ticks in user mode */
    uint64_t stime;      /* (15) ticks in kernel mode */
    int64_t nice;        /* (19) */
    int64_t num_threads; /* (20) */
    uint64_t starttime;  /* (22) ticks after boot: with pid, identifies one process */
};

/*
 * Parse "pid (comm) state f4 ... f22 ...". comm may hold any byte except NUL, including
 * spaces and ')', so the fields after it are found from the LAST ')' in the line. Fields
 * after (22) are not examined. The line must end in '\n'.
 */
int procfs_pid_parse_stat(const char *buf, size_t len, struct procfs_pid_stat *ret);

/* ---- /proc/[pid]/status ------------------------------------------------------------- */

struct procfs_pid_status {
    char name[64]; /* "Name:" (unescaped as the kernel prints it, at most 15 bytes today) */
    uint64_t threads;
    uint64_t vm_size, vm_lck, vm_rss, vm_data, vm_stk, vm_swap; /* bytes */
    uint64_t voluntary_ctxt_switches, nonvoluntary_ctxt_switches;
    unsigned present;
};

#define PROCFS_PID_HAS_NAME    0x001u
#define PROCFS_PID_HAS_THREADS 0x002u
#define PROCFS_PID_HAS_VMSIZE  0x004u
#define PROCFS_PID_HAS_VMLCK   0x008u
#define PROCFS_PID_HAS_VMRSS   0x010u
#define PROCFS_PID_HAS_VMDATA  0x020u
#define PROCFS_PID_HAS_VMSTK   0x040u
#define PROCFS_PID_HAS_VMSWAP  0x080u /* Linux 2.6.34+ */
#define PROCFS_PID_HAS_VCTX    0x100u /* Linux 2.6.23+ */
#define PROCFS_PID_HAS_NVCTX   0x200u
/* Every Linux 2.6+ prints these, for kernel threads too. */
#define PROCFS_PID_STATUS_REQUIRED (PROCFS_PID_HAS_NAME | PROCFS_PID_HAS_THREADS)

/*
 * Parse "Key:<whitespace>value" lines in any order; unknown keys are skipped (only the
 * "Key:" shape is checked). Vm* values must carry " kB". A duplicated known key or a
 * missing required one is -EBADMSG.
 */
int procfs_pid_parse_status(const char *buf, size_t len, struct procfs_pid_status *ret);

/* ---- /proc/[pid]/io ----------------------------------------------------------------- */

/* gopsutil's IOCounters, which the CloudWatch agent publishes: read_count = syscr,
 * write_count = syscw, read_bytes/write_bytes = the storage-layer read_bytes/write_bytes
 * (not rchar/wchar, which include cache hits, pipes and sockets). */
struct procfs_pid_io {
    uint64_t rchar, wchar, syscr, syscw, read_bytes, write_bytes;
    unsigned present;
};

#define PROCFS_PID_IO_REQUIRED 0x3fu /* all six */

int procfs_pid_parse_io(const char *buf, size_t len, struct procfs_pid_io *ret);

/* ---- /proc/[pid]/cmdline, comm, and pid files ---------------------------------------- */

/*
 * Turn the NUL-separated argv of /proc/[pid]/cmdline into one string, in place: trailing
 * NULs dropped, inner NULs become spaces (gopsutil's Cmdline, which telegraf's "pattern"
 * is matched against). buf must have room for len + 1 bytes (for the final NUL).
 * Returns the new length; 0 for a kernel thread or a zombie (empty file).
 */
size_t procfs_pid_cmdline_join(char *buf, size_t len);

/*
 * The process name to publish and to match "exe" against, into out (NUL-terminated,
 * truncated to cap - 1): comm without its newline; when comm is exactly 15 bytes (the
 * kernel's TASK_COMM_LEN truncation), the basename of argv[0] if it starts with comm, as
 * gopsutil's Name() does, so a long name is not published cut short. `cmdline` is the raw
 * file (NUL-separated), may be NULL. Returns 0, or -EBADMSG for an empty comm.
 */
int procfs_pid_name(const char *comm, size_t comm_len, const char *cmdline, size_t cmdline_len,
                    char *out, size_t cap);

/*
 * A pid file: one decimal pid in 1..PROCFS_PID_MAX, optionally surrounded by whitespace
 * (what daemons write, usually "1234\n"). Anything else is -EBADMSG.
 */
int procfs_pid_parse_pidfile(const char *buf, size_t len, int32_t *ret_pid);

/* ---- math --------------------------------------------------------------------------- */

/*
 * cpu_usage as telegraf publishes it (gopsutil Percent(0)): the process's user + system
 * time over the interval, as a percentage of the wall time elapsed; a process using two
 * CPUs fully reads 200. prev/cur are utime + stime in ticks. Returns 0; -EAGAIN when no
 * time elapsed; -ERANGE when the ticks went back (another process got the pid).
 */
int procfs_pid_cpu_usage(uint64_t prev_ticks, uint64_t cur_ticks, long ticks_per_sec,
                         uint64_t elapsed_ns, double *ret_percent);

/* ---- directories -------------------------------------------------------------------- */

struct procfs_pid_dirbuf {
    char *data;
    size_t cap;
};

/* Number of entries in `path` other than "." and "..". */
int procfs_pid_count_dir(const char *path, struct procfs_pid_dirbuf *b, uint64_t *ret_n);

/*
 * Call fn(pid, data) for every entry of `root` whose name is a pid (all digits, in range).
 * fn returns 0 to go on, anything else to stop the scan and be returned.
 */
int procfs_pid_scan(const char *root, struct procfs_pid_dirbuf *b,
                    int (*fn)(int32_t pid, void *data), void *data);

void procfs_pid_dirbuf_release(struct procfs_pid_dirbuf *b);

#endif
