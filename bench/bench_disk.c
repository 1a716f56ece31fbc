/*
 * bench_disk: what one swap + disk + diskio scrape costs beyond the kernel's own work.
 *
 * Usage: bench_disk [proc_root [iterations]]   (defaults: /proc, 20000)
 *
 * Measures, in one run and over the same files (<proc_root>/{meminfo,vmstat,diskstats,
 * self/mounts}):
 *   read    open/read/close of the four files into a scratch buffer (the baseline: the
 *           kernel generating the text, plus the syscalls)
 *   parse   procfs_parse_swap + procfs_parse_vmstat_swap + procfs_swap_compute, a walk
 *           of every diskstats line and of every mount line, on buffers already read
 *           (Osprey's own cost)
 *   statfs  statvfs() of every mount point whose fstype is not a known pseudo one, plus
 *           procfs_disk_usage_compute (the disk collector's other kernel cost)
 * and prints microseconds per scrape (the median of 5 rounds) and parse/read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "collectors/procfs.h"
#include "collectors/procfs_disk.h"

#define ROUNDS  5
#define N_FILES 4

static const char *const files[N_FILES] = {"meminfo", "vmstat", "diskstats", "self/mounts"};

struct bench {
    char path[N_FILES][4096];
    struct procfs_buf buf[N_FILES];
    char *scratch;
    size_t scratch_cap;
    size_t n_devices, n_mounts;
    volatile double sink;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int bare_read(const char *path, char *scratch, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n;
    while ((n = read(fd, scratch, cap)) > 0)
        ;
    int r = n < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int parse_all(struct bench *b)
{
    struct procfs_swap sw;
    struct procfs_swap_stats s;
    struct procfs_vmstat_swap vm;
    int r = procfs_parse_swap(b->buf[0].data, b->buf[0].len, &sw);
    if (r != 0)
        return r;
    procfs_swap_compute(&sw, &s);
    r = procfs_parse_vmstat_swap(b->buf[1].data, b->buf[1].len, &vm);
    if (r != 0)
        return r;
    b->sink += s.used_percent + (double)vm.pswpin;

    struct procfs_cursor cur;
    struct procfs_diskstat d;
    size_t devices = 0, mounts = 0;
    procfs_cursor_init(&cur, b->buf[2].data, b->buf[2].len);
    while ((r = procfs_diskstats_next(&cur, &d)) != 0)
        if (r == 1) {
            devices++;
            b->sink += (double)d.io_ms;
        }
    struct procfs_mount m;
    procfs_cursor_init(&cur, b->buf[3].data, b->buf[3].len);
    while ((r = procfs_mounts_next(&cur, b->scratch, b->scratch_cap, &m)) != 0)
        if (r == 1)
            mounts++;
    b->n_devices = devices;
    b->n_mounts = mounts;
    return 0;
}

static bool pseudo_fs(const char *fstype)
{
    static const char *const pseudo[] = {
        "proc",    "sysfs",      "cgroup", "cgroup2", "devpts",      "mqueue",   "debugfs",
        "tracefs", "securityfs", "pstore", "bpf",     "binfmt_misc", "configfs", NULL};
    for (size_t i = 0; pseudo[i]; i++)
        if (strcmp(pseudo[i], fstype) == 0)
            return true;
    return false;
}

static int statfs_all(struct bench *b)
{
    struct procfs_cursor cur;
    struct procfs_mount m;
    int r;
    procfs_cursor_init(&cur, b->buf[3].data, b->buf[3].len);
    while ((r = procfs_mounts_next(&cur, b->scratch, b->scratch_cap, &m)) != 0) {
        struct statvfs sv;
        if (r != 1 || pseudo_fs(m.fstype) || statvfs(m.mount_point, &sv) != 0)
            continue;
        struct procfs_statfs st = {sv.f_frsize, sv.f_blocks, sv.f_bfree,
                                   sv.f_bavail, sv.f_files,  sv.f_ffree};
        struct procfs_disk_usage u;
        procfs_disk_usage_compute(&st, &u);
        b->sink += u.used_percent;
    }
    return 0;
}

static int read_all(struct bench *b)
{
    for (int i = 0; i < N_FILES; i++) {
        int r = procfs_read_file(b->path[i], &b->buf[i]);
        if (r != 0)
            return r;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp_double);
    return v[ROUNDS / 2];
}

static void release(struct bench *b)
{
    for (int i = 0; i < N_FILES; i++)
        procfs_buf_release(&b->buf[i]);
    free(b->scratch);
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "/proc";
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    static char scratch[1 << 16];
    static struct bench b;
    double t_read[ROUNDS], t_parse[ROUNDS], t_statfs[ROUNDS];
    int r;

    if (iters <= 0) {
        fprintf(stderr, "usage: %s [proc_root [iterations]]\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < N_FILES; i++)
        snprintf(b.path[i], sizeof(b.path[i]), "%s/%s", root, files[i]);
    r = read_all(&b);
    if (r == 0) {
        b.scratch_cap = b.buf[3].len + 1;
        b.scratch = malloc(b.scratch_cap);
        r = b.scratch ? parse_all(&b) : -ENOMEM;
    }
    if (r != 0) {
        fprintf(stderr, "bench_disk: cannot use '%s': %s\n", root, strerror(-r));
        release(&b);
        return 1;
    }

    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_us();
        for (long i = 0; i < iters; i++)
            for (int f = 0; f < N_FILES; f++)
                if ((r = bare_read(b.path[f], scratch, sizeof(scratch))) != 0)
                    goto failed;
        double t1 = now_us();
        for (long i = 0; i < iters; i++)
            if ((r = parse_all(&b)) != 0)
                goto failed;
        double t2 = now_us();
        for (long i = 0; i < iters; i++)
            statfs_all(&b);
        double t3 = now_us();
        t_read[round] = (t1 - t0) / (double)iters;
        t_parse[round] = (t2 - t1) / (double)iters;
        t_statfs[round] = (t3 - t2) / (double)iters;
    }

    double read_us = median(t_read), parse_us = median(t_parse), statfs_us = median(t_statfs);
    printf("bench_disk: %s: meminfo %zu, vmstat %zu, diskstats %zu (%zu devices), mounts %zu "
           "(%zu mounts) bytes; %ld iterations x %d rounds (median)\n",
           root, b.buf[0].len, b.buf[1].len, b.buf[2].len, b.n_devices, b.buf[3].len, b.n_mounts,
           iters, ROUNDS);
    printf("  read   (open/read/close only)   %9.3f us/scrape\n", read_us);
    printf("  parse  (swap,vmstat,disks,mnts) %9.3f us/scrape\n", parse_us);
    printf("  statfs (statvfs per real mount) %9.3f us/scrape\n", statfs_us);
    printf("  parse/read ratio                %9.3f\n", read_us > 0 ? parse_us / read_us : 0.0);
    release(&b);
    return 0;

failed:
    fprintf(stderr, "bench_disk: scrape of '%s' failed: %s\n", root, strerror(-r));
    release(&b);
    return 1;
}
