/*
 * bench_scrape_all: what one full scrape of every host plugin costs beyond the kernel's
 * own work.
 *
 * Usage: bench_scrape_all [proc_root [iterations]]   (defaults: /proc, 2000)
 *
 * DESIGN: unlike bench_scrape and bench_disk, which call the pure parsers, this runs the
 * real collector types — cpu (totalcpu and every CPU), mem, swap, disk, diskio, net,
 * netstat, processes, each with the CloudWatch agent's defaults (no "measurement" list:
 * every field) — created from a config document and started on a uv loop with a ring,
 * as the agent does. Their first scrape (the timer's tick at once) warms up and sizes
 * the buffers; then the timers' handles are found with uv_walk and each collector's tick
 * (struct collector_timer, collector.h) is called directly, so a timed scrape is exactly
 * what a timer expiry runs: read the files, parse, compute, encode every metric into the
 * ring. No loop wait is timed. The ring is drained between rounds, outside the timing.
 *
 * The baseline, measured in the same run, is the bare cost of the same files read the
 * same number of times (open/read/close into one buffer, no parsing): stat, meminfo (mem
 * and swap read it once each), self/mounts, diskstats, net/dev, net/{tcp,tcp6,udp,udp6},
 * and the proc root's listing plus every <pid>/stat. The disk collector also calls
 * statvfs() on the mount points it keeps, which is kernel work outside any file read, so
 * a second baseline adds a statvfs() of every mount point of self/mounts.
 *
 * Each iteration runs the bare pass, the statvfs pass and the eight ticks back to back,
 * so the three see the same noise; each figure is the median over ROUNDS rounds of
 * `iterations` iterations, in microseconds per full scrape, with scrape/read ratios and
 * each collector's share (in the order the timers were found).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/ring.h"
#include "collectors/collector.h"

extern const struct collector_type collector_cpu;
extern const struct collector_type collector_mem;
extern const struct collector_type collector_swap;
extern const struct collector_type collector_disk;
extern const struct collector_type collector_diskio;
extern const struct collector_type collector_net;
extern const struct collector_type collector_netstat;
extern const struct collector_type collector_processes;

#define ROUNDS       5
#define N_COLLECTORS 8
#define RING_BYTES   (1u << 24)

static const struct collector_type *const types[N_COLLECTORS] = {
    &collector_cpu,    &collector_mem, &collector_swap,    &collector_disk,
    &collector_diskio, &collector_net, &collector_netstat, &collector_processes};

static const char config_json[] =
    "{\"cpu\": {\"totalcpu\": true, \"resources\": [\"*\"]},"
    " \"mem\": {}, \"swap\": {}, \"disk\": {\"resources\": [\"*\"]},"
    " \"diskio\": {\"resources\": [\"*\"]}, \"net\": {\"resources\": [\"*\"]},"
    " \"netstat\": {}, \"processes\": {}}";

/* Files read by the collectors, one entry per read (meminfo twice: mem and swap). */
static const char *const fixed_files[] = {"stat",      "meminfo", "meminfo", "self/mounts",
                                          "diskstats", "net/dev", "net/tcp", "net/tcp6",
                                          "net/udp",   "net/udp6"};
#define N_FIXED (sizeof(fixed_files) / sizeof(fixed_files[0]))

struct bench {
    const char *root;
    char fixed_path[N_FIXED][4096];
    char *scratch;
    size_t scratch_cap;
    char **mounts; /* mount points of self/mounts, for the statvfs baseline */
    size_t n_mounts;
    size_t n_pids;
    struct collector_timer *timers[N_COLLECTORS];
    size_t n_timers;
    volatile unsigned long sink;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Bare read: open, read until EOF, close. A file that does not exist (tcp6 without
 * IPv6) costs its failed open, as it does the collector. */
static int bare_read(const char *path, char *scratch, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    ssize_t n;
    while ((n = read(fd, scratch, cap)) > 0)
        ;
    int r = n < 0 ? -errno : 0;
    close(fd);
    return r;
}

static bool is_pid(const char *name)
{
    if (!*name)
        return false;
    for (; *name; name++)
        if (*name < '0' || *name > '9')
            return false;
    return true;
}

/* One bare pass over every file a full scrape reads; ret_pids counts <pid>/stat read. */
static int bare_pass(struct bench *b, size_t *ret_pids)
{
    for (size_t i = 0; i < N_FIXED; i++) {
        int r = bare_read(b->fixed_path[i], b->scratch, b->scratch_cap);
        if (r != 0)
            return r;
    }
    DIR *d = opendir(b->root);
    if (!d)
        return -errno;
    char path[4096];
    size_t pids = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_pid(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s/stat", b->root, e->d_name);
        int r = bare_read(path, b->scratch, b->scratch_cap);
        if (r == 0)
            pids++;
        /* A process that exited meanwhile is skipped, as the collector skips it. */
    }
    closedir(d);
    *ret_pids = pids;
    return 0;
}

static void statvfs_pass(struct bench *b)
{
    struct statvfs sv;
    for (size_t i = 0; i < b->n_mounts; i++)
        if (statvfs(b->mounts[i], &sv) == 0)
            b->sink += sv.f_blocks;
}

/* Mount points of <root>/self/mounts, "\040"-style escapes decoded. */
static int load_mounts(struct bench *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/self/mounts", b->root);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        char *mp = sp + 1, *end = strchr(mp, ' ');
        if (!end)
            continue;
        *end = '\0';
        char *out = mp;
        for (char *in = mp; *in; in++) {
            if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] && in[3]) {
                *out++ = (char)(((in[1] - '0') << 6) | ((in[2] - '0') << 3) | (in[3] - '0'));
                in += 3;
            } else {
                *out++ = *in;
            }
        }
        *out = '\0';
        char **grown = realloc(b->mounts, (b->n_mounts + 1) * sizeof(*grown));
        char *copy = strdup(mp);
        if (!grown || !copy) {
            free(copy);
            if (grown)
                b->mounts = grown;
            fclose(f);
            return -ENOMEM;
        }
        b->mounts = grown;
        b->mounts[b->n_mounts++] = copy;
    }
    fclose(f);
    return 0;
}

static void find_timer(uv_handle_t *h, void *arg)
{
    struct bench *b = arg;
    if (h->type == UV_TIMER && h->data && b->n_timers < N_COLLECTORS)
        b->timers[b->n_timers++] = h->data;
}

static size_t drain(struct ring *ring)
{
    size_t len, n = 0;
    while (ring_peek(ring, &len)) {
        ring_consume(ring);
        n++;
    }
    return n;
}

static void on_stopped(struct collector *c, void *data)
{
    (void)c;
    (*(int *)data)++;
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

static uint64_t records_out(struct collector *const *cs)
{
    uint64_t n = 0;
    for (int i = 0; i < N_COLLECTORS; i++)
        n += selfstats_get(&cs[i]->stats.records_out);
    return n;
}

int main(int argc, char **argv)
{
    static struct bench b;
    const char *root = argc > 1 ? argv[1] : "/proc";
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 2000;
    double t_read[ROUNDS], t_read_statfs[ROUNDS], t_scrape[ROUNDS];
    static double t_tick[N_COLLECTORS][ROUNDS];
    struct collector *cs[N_COLLECTORS] = {0};
    struct cfg_errors errs;
    struct cfg_doc doc;
    struct ring ring;
    uv_loop_t loop;
    int ret = 1, r, started = 0;

    if (iters <= 0) {
        fprintf(stderr, "usage: %s [proc_root [iterations]]\n", argv[0]);
        return 2;
    }
    b.root = root;
    for (size_t i = 0; i < N_FIXED; i++)
        snprintf(b.fixed_path[i], sizeof(b.fixed_path[i]), "%s/%s", root, fixed_files[i]);
    b.scratch_cap = 1 << 16;
    b.scratch = malloc(b.scratch_cap);
    if (!b.scratch || (r = load_mounts(&b)) != 0) {
        fprintf(stderr, "bench_scrape_all: cannot read '%s/self/mounts'\n", root);
        return 1;
    }

    struct plugin_env env = {.hostname = "bench",
                             .proc_root = root,
                             .metrics_namespace = "CWAgent",
                             .metrics_interval_ns = 60 * NS_PER_SEC};
    cfg_errors_init(&errs);
    if (cfg_doc_load_buffer(&doc, "bench.json", config_json, strlen(config_json), &errs) != 0) {
        fprintf(stderr, "bench_scrape_all: bad built-in config\n");
        cfg_errors_release(&errs);
        return 1;
    }
    if (uv_loop_init(&loop) != 0 || ring_init(&ring, RING_BYTES) != 0) {
        fprintf(stderr, "bench_scrape_all: no loop or ring\n");
        cfg_doc_release(&doc);
        cfg_errors_release(&errs);
        return 1;
    }
    struct collect_output out = {&ring, NULL};
    for (int i = 0; i < N_COLLECTORS; i++) {
        struct plugin_cfg pc = {&doc, types[i]->name, &errs};
        r = collector_create(types[i], types[i]->name, (uint16_t)i, &env, &pc,
                             json_object_get(doc.root, types[i]->name), &cs[i]);
        if (r != 0) {
            fprintf(stderr, "bench_scrape_all: '%s' not created: %s\n", types[i]->name,
                    strerror(-r));
            goto stop;
        }
        if ((r = collector_start(cs[i], &loop, &out)) != 0) {
            fprintf(stderr, "bench_scrape_all: '%s' not started: %s\n", types[i]->name,
                    strerror(-r));
            goto stop;
        }
        started = i + 1;
    }
    /* The first tick (at once) of every timer: warm-up, sizes every buffer. */
    for (int spin = 0; spin < 10; spin++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        drain(&ring);
    }
    uv_walk(&loop, find_timer, &b);
    if (b.n_timers != N_COLLECTORS) {
        fprintf(stderr, "bench_scrape_all: found %zu timers, want %d\n", b.n_timers, N_COLLECTORS);
        goto stop;
    }
    /* A second scrape, so that the delta plugins (cpu usage, diskio, net) publish. */
    for (size_t t = 0; t < b.n_timers; t++)
        b.timers[t]->tick(b.timers[t]->c);
    drain(&ring);

    uint64_t out_before = records_out(cs);
    size_t emitted_total = 0;
    for (int round = 0; round < ROUNDS; round++) {
        /* The baselines and the scrape are interleaved per iteration so that they see the
         * same noise (other processes, the pid count changing). */
        double read = 0, statfs = 0, scrape = 0, tick[N_COLLECTORS] = {0};
        for (long i = 0; i < iters; i++) {
            double s0 = now_us();
            if ((r = bare_pass(&b, &b.n_pids)) != 0)
                goto failed;
            double s1 = now_us();
            statvfs_pass(&b);
            double s2 = now_us();
            double s = s2;
            for (size_t t = 0; t < b.n_timers; t++) {
                b.timers[t]->tick(b.timers[t]->c);
                double e = now_us();
                tick[t] += e - s;
                s = e;
            }
            read += s1 - s0;
            statfs += s2 - s1;
            scrape += s - s2;
            emitted_total += drain(&ring); /* outside the timing; the ring is 16 MiB */
        }
        t_read[round] = read / (double)iters;
        t_read_statfs[round] = (read + statfs) / (double)iters;
        t_scrape[round] = scrape / (double)iters;
        for (size_t t = 0; t < b.n_timers; t++)
            t_tick[t][round] = tick[t] / (double)iters;
    }
    uint64_t emitted = records_out(cs) - out_before;
    if (emitted != emitted_total) {
        fprintf(stderr, "bench_scrape_all: %llu records emitted, %zu drained\n",
                (unsigned long long)emitted, emitted_total);
        goto stop;
    }

    double read_us = median(t_read), read_statfs_us = median(t_read_statfs);
    double scrape_us = median(t_scrape);
    printf("bench_scrape_all: %s, 8 collectors (cpu mem swap disk diskio net netstat "
           "processes), %zu pids, %zu mounts, %.1f metrics/scrape, %ld iterations x %d rounds "
           "(median)\n",
           root, b.n_pids, b.n_mounts, (double)emitted / (double)(iters * ROUNDS), iters, ROUNDS);
    printf("  read         (open/read/close of the same files)    %10.2f us/scrape\n", read_us);
    printf("  read+statvfs (plus statvfs of every mount point)    %10.2f us/scrape\n",
           read_statfs_us);
    printf("  scrape       (8 collector ticks: read, parse, emit) %10.2f us/scrape\n", scrape_us);
    for (size_t t = 0; t < b.n_timers; t++)
        printf("    %-10s %10.2f us\n", b.timers[t]->c->name, median(t_tick[t]));
    printf("  scrape/read ratio                                   %10.3f\n",
           read_us > 0 ? scrape_us / read_us : 0.0);
    printf("  scrape/(read+statvfs) ratio                         %10.3f\n",
           read_statfs_us > 0 ? scrape_us / read_statfs_us : 0.0);
    ret = 0;
    goto stop;

failed:
    fprintf(stderr, "bench_scrape_all: bare read of '%s' failed: %s\n", root, strerror(-r));
stop:;
    int stopped = 0;
    for (int i = 0; i < started; i++)
        collector_stop(cs[i], on_stopped, &stopped);
    for (int i = 0; i < 1000 && stopped < started; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        drain(&ring);
    }
    for (int i = 0; i < N_COLLECTORS; i++)
        collector_destroy(cs[i]);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "bench_scrape_all: loop not clean at exit\n");
        ret = 1;
    }
    ring_release(&ring);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
    for (size_t i = 0; i < b.n_mounts; i++)
        free(b.mounts[i]);
    free(b.mounts);
    free(b.scratch);
    return ret;
}
