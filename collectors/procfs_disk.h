/*
 * procfs_disk: pure parsers and metric math for the swap, disk and diskio collectors:
 * the swap lines of /proc/meminfo, the pswpin/pswpout lines of /proc/vmstat, the mount
 * table (/proc/self/mounts) and /proc/diskstats.
 *
 * Contract
 * - Everything here is pure: reads only its arguments, writes only its outputs, never
 *   logs, never allocates, never does I/O; safe on any thread. Buffers need not be
 *   NUL-terminated: `len` bytes are read and nothing past them.
 * - Whole-file parsers (swap, vmstat) return 0 or -EBADMSG, with the rules of procfs.h:
 *   every consumed line ends in '\n' (a read cut short is reported, not half-used),
 *   numbers are unsigned decimals that fit u64, a duplicated known key is an error.
 * - Line-oriented files (mounts, diskstats) are walked with a cursor, one entry per
 *   call, so a collector can skip a bad line, count it under a fine reason and keep the
 *   rest of the file. *_next() returns 1 with an entry, 0 at the end, or a negative
 *   code for one bad line (the cursor has moved past it; call again):
 *     -EBADMSG       garbage: not the shape the kernel writes, a number that overflows,
 *                    a line without its '\n' (cut short)
 *     -EPROTO        diskstats only: fewer than 14 columns (the 7-column partition
 *                    lines of kernels before 2.6.25), which carry no usable counters
 *     -ENAMETOOLONG  a field longer than the entry can hold
 * - Mount entries point into a caller-owned scratch buffer (octal escapes such as
 *   "\040" are decoded there, and each string is NUL-terminated for statvfs). The
 *   scratch must be at least as large as the file buffer; it is reused by the next call.
 *
 * Units: /proc/meminfo kB are converted to bytes; diskstats sectors stay sectors (the
 * kernel's are always 512 bytes, PROCFS_SECTOR_BYTES) and times stay milliseconds.
 */
#ifndef OSPREY_PROCFS_DISK_H
#define OSPREY_PROCFS_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- swap: /proc/meminfo and /proc/vmstat ---------------------------------------- */

struct procfs_swap {
    uint64_t total, free; /* bytes: SwapTotal, SwapFree */
};

/* SwapTotal and SwapFree (both required, with " kB"); other lines must have the
 * "Key:" shape and are otherwise ignored. */
int procfs_parse_swap(const char *buf, size_t len, struct procfs_swap *ret);

struct procfs_vmstat_swap {
    uint64_t pswpin, pswpout; /* pages swapped in/out since boot */
    bool present;             /* both lines were found */
};

/* "name value" lines; pswpin and pswpout are picked out. A file without them (some
 * container runtimes filter vmstat) is not an error: `present` is false. */
int procfs_parse_vmstat_swap(const char *buf, size_t len, struct procfs_vmstat_swap *ret);

/*
 * The CloudWatch agent's swap metrics are telegraf's inputs.swap over gopsutil's
 * mem.SwapMemory:
 *   total = SwapTotal, free = SwapFree, used = total - free (clamped at 0),
 *   used_percent = 100 * used / total, 0 when there is no swap,
 *   in/out = pswpin/pswpout * page size (bytes, cumulative since boot).
 */
struct procfs_swap_stats {
    uint64_t total, free, used;
    double used_percent;
};

void procfs_swap_compute(const struct procfs_swap *s, struct procfs_swap_stats *ret);

/* ---- mount table ----------------------------------------------------------------- */

struct procfs_cursor {
    const char *p, *end;
};

static inline void procfs_cursor_init(struct procfs_cursor *c, const char *buf, size_t len)
{
    c->p = buf;
    c->end = buf + len;
}

/* One line of /proc/<pid>/mounts: "device mount_point fstype options dump pass". */
struct procfs_mount {
    const char *device;      /* as written, e.g. "/dev/nvme0n1p1", "tmpfs" */
    const char *mount_point; /* decoded, absolute */
    const char *fstype;
    const char *options;
};

int procfs_mounts_next(struct procfs_cursor *cur, char *scratch, size_t scratch_cap,
                       struct procfs_mount *ret);

/*
 * The CloudWatch agent's disk metrics are telegraf's inputs.disk over gopsutil's
 * disk.Usage (statfs of the mount point), in bytes:
 *   total = blocks * frsize          free = bavail * frsize (what non-root may use)
 *   used  = (blocks - bfree) * frsize (clamped at 0)
 *   used_percent = 100 * used / (used + free), 0 when both are 0 (so root's reserved
 *                  blocks count neither as used nor as free, as df(1) shows it)
 *   inodes_total = files, inodes_free = ffree, inodes_used = files - ffree (clamped)
 *   inodes_used_percent = 100 * inodes_used / inodes_total, 0 when there are none
 * A file system with total 0 (proc, sysfs, cgroup...) is a "dummy" telegraf skips.
 */
struct procfs_statfs {
    uint64_t frsize, blocks, bfree, bavail, files, ffree;
};

struct procfs_disk_usage {
    uint64_t total, free, used, inodes_total, inodes_free, inodes_used;
    double used_percent, inodes_used_percent;
};

void procfs_disk_usage_compute(const struct procfs_statfs *st, struct procfs_disk_usage *ret);

/* ---- /proc/diskstats ------------------------------------------------------------- */

#define PROCFS_SECTOR_BYTES  512u
#define PROCFS_DISK_NAME_MAX 63
#define PROCFS_DISKSTATS_MIN 11 /* statistics columns of Linux 2.6.25+ (14 in all) */
#define PROCFS_DISKSTATS_MAX 17 /* up to the flush columns of 5.5 (20 in all) */

/* One device line. Columns a kernel does not print are 0: discard_* appeared in 4.18,
 * flush_* in 5.5. Later columns are ignored. */
struct procfs_diskstat {
    uint32_t major, minor;
    char name[PROCFS_DISK_NAME_MAX + 1];
    uint8_t n_stats; /* statistics columns parsed, PROCFS_DISKSTATS_MIN..MAX */
    uint64_t reads, reads_merged, read_sectors, read_ms;
    uint64_t writes, writes_merged, write_sectors, write_ms;
    uint64_t in_progress, io_ms, weighted_io_ms;
    uint64_t discards, discards_merged, discard_sectors, discard_ms;
    uint64_t flushes, flush_ms;
};

int procfs_diskstats_next(struct procfs_cursor *cur, struct procfs_diskstat *ret);

#endif
