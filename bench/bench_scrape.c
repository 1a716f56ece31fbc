/*
 * bench_scrape: what one cpu+mem scrape costs beyond the kernel's own work.
 *
 * Usage: bench_scrape [proc_root [iterations]]   (defaults: /proc, 20000)
 *
 * Measures, in one run and over the same files (<proc_root>/stat, <proc_root>/meminfo):
 *   read    open/read/close of both files into a reused buffer (the bare cost: the
 *           kernel generating the text, plus the syscalls)
 *   parse   procfs_parse_stat + procfs_parse_meminfo + the cpu/mem math, on buffers
 *           already read (Osprey's own cost)
 *   scrape  both together, as a collector does each interval
 * and prints microseconds per iteration (the median of 5 rounds) and parse/read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collectors/procfs.h"

#define ROUNDS 5

struct files {
    char stat_path[4096];
    char meminfo_path[4096];
    struct procfs_buf stat;
    struct procfs_buf meminfo;
    struct procfs_cpu_sample total;
    struct procfs_cpu_sample prev_total;
    struct procfs_cpu_sample *cpus;
    size_t cap_cpus;
    volatile double sink;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Bare read: open, read until EOF, close. No parsing. */
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

static int parse_both(struct files *f)
{
    size_t n = 0;
    struct procfs_meminfo mi;
    struct procfs_mem_stats m;
    struct procfs_cpu_usage u;
    int r = procfs_parse_stat(f->stat.data, f->stat.len, &f->total, f->cpus, f->cap_cpus, &n);
    if (r != 0)
        return r;
    r = procfs_parse_meminfo(f->meminfo.data, f->meminfo.len, &mi);
    if (r != 0)
        return r;
    r = procfs_mem_compute(&mi, &m);
    if (r != 0)
        return r;
    if (procfs_cpu_usage(&f->prev_total.t, &f->total.t, &u) == 0)
        f->sink += u.active;
    f->sink += m.used_percent;
    f->prev_total = f->total;
    return 0;
}

static int read_both(struct files *f)
{
    int r = procfs_read_file(f->stat_path, &f->stat);
    return r != 0 ? r : procfs_read_file(f->meminfo_path, &f->meminfo);
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

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "/proc";
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    static char scratch[1 << 16];
    static struct files f;
    double t_read[ROUNDS], t_parse[ROUNDS], t_scrape[ROUNDS];
    int r;

    if (iters <= 0) {
        fprintf(stderr, "usage: %s [proc_root [iterations]]\n", argv[0]);
        return 2;
    }
    snprintf(f.stat_path, sizeof(f.stat_path), "%s/stat", root);
    snprintf(f.meminfo_path, sizeof(f.meminfo_path), "%s/meminfo", root);

    /* Warm up and size the per-cpu array so every timed parse covers every CPU. */
    size_t n = 0;
    r = read_both(&f);
    if (r == 0)
        r = procfs_parse_stat(f.stat.data, f.stat.len, &f.total, NULL, 0, &n);
    if (r != 0) {
        fprintf(stderr, "bench_scrape: cannot use '%s': %s\n", root, strerror(-r));
        return 1;
    }
    f.cap_cpus = n;
    f.cpus = calloc(n ? n : 1, sizeof(*f.cpus));
    if (!f.cpus)
        return 1;
    if (parse_both(&f) != 0) {
        fprintf(stderr, "bench_scrape: '%s' does not parse\n", root);
        return 1;
    }

    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_us();
        for (long i = 0; i < iters; i++) {
            r = bare_read(f.stat_path, scratch, sizeof(scratch));
            if (r == 0)
                r = bare_read(f.meminfo_path, scratch, sizeof(scratch));
            if (r != 0)
                goto failed;
        }
        double t1 = now_us();
        for (long i = 0; i < iters; i++)
            if ((r = parse_both(&f)) != 0)
                goto failed;
        double t2 = now_us();
        for (long i = 0; i < iters; i++) {
            if ((r = read_both(&f)) != 0 || (r = parse_both(&f)) != 0)
                goto failed;
        }
        double t3 = now_us();
        t_read[round] = (t1 - t0) / (double)iters;
        t_parse[round] = (t2 - t1) / (double)iters;
        t_scrape[round] = (t3 - t2) / (double)iters;
    }

    double read_us = median(t_read), parse_us = median(t_parse), scrape_us = median(t_scrape);
    printf("bench_scrape: %s/{stat,meminfo}: %zu + %zu bytes, %zu cpus, %ld iterations x %d "
           "rounds (median)\n",
           root, f.stat.len, f.meminfo.len, n, iters, ROUNDS);
    printf("  read   (open/read/close only)  %9.3f us/scrape\n", read_us);
    printf("  parse  (stat+meminfo+math)     %9.3f us/scrape\n", parse_us);
    printf("  scrape (read + parse)          %9.3f us/scrape\n", scrape_us);
    printf("  parse/read ratio               %9.3f\n", read_us > 0 ? parse_us / read_us : 0.0);
    free(f.cpus);
    procfs_buf_release(&f.stat);
    procfs_buf_release(&f.meminfo);
    return 0;

failed:
    fprintf(stderr, "bench_scrape: scrape of '%s' failed: %s\n", root, strerror(-r));
    free(f.cpus);
    procfs_buf_release(&f.stat);
    procfs_buf_release(&f.meminfo);
    return 1;
}
