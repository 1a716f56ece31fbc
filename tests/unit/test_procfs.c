/*
 * Tests for collectors/procfs.{h,c} (parsers, cpu/mem math, file reading) and for the
 * cpu and mem collectors built on them (collectors/cpu.c, collectors/mem.c), driven on
 * a real libuv loop against the fixture trees in tests/data/proc/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/record.h"
#include "agent/ring.h"
#include "collectors/collector.h"
#include "collector_test.h"
#include "collectors/procfs.h"

extern const struct collector_type collector_cpu;
extern const struct collector_type collector_mem;

#define KB 1024ull

/* ---- helpers ---------------------------------------------------------------------- */

static void assert_near(double got, double want, const char *what)
{
    double tol = 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
    if (fabs(got - want) > tol)
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static struct procfs_buf fixture_buf;

/* Read tests/data/proc/<dir>/<file> with the code under test. */
static const struct procfs_buf *fixture(const char *dir, const char *file)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/proc/%s/%s", OSPREY_TEST_DATA, dir, file);
    int r = procfs_read_file(path, &fixture_buf);
    if (r != 0)
        fail_msg("cannot read fixture '%s': %s", path, strerror(-r));
    return &fixture_buf;
}

static int parse_stat_str(const char *s, struct procfs_cpu_sample *total,
                          struct procfs_cpu_sample *cpus, size_t cap, size_t *n)
{
    return procfs_parse_stat(s, strlen(s), total, cpus, cap, n);
}

static int parse_meminfo_str(const char *s, struct procfs_meminfo *mi)
{
    return procfs_parse_meminfo(s, strlen(s), mi);
}

static void assert_times(const struct procfs_cpu_times *t, uint64_t user, uint64_t nice,
                         uint64_t system, uint64_t idle, uint64_t iowait, uint64_t irq,
                         uint64_t softirq, uint64_t steal, uint64_t guest, uint64_t guest_nice)
{
    assert_int_equal(t->user, user);
    assert_int_equal(t->nice, nice);
    assert_int_equal(t->system, system);
    assert_int_equal(t->idle, idle);
    assert_int_equal(t->iowait, iowait);
    assert_int_equal(t->irq, irq);
    assert_int_equal(t->softirq, softirq);
    assert_int_equal(t->steal, steal);
    assert_int_equal(t->guest, guest);
    assert_int_equal(t->guest_nice, guest_nice);
}

/* ---- procfs_read_file ------------------------------------------------------------- */

static void test_read_file_grows_and_reuses(void **state)
{
    (void)state;
    char dir[] = "/tmp/osprey-procfs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/big", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 3000; i++)
        fprintf(f, "line %04d\n", i); /* 30000 bytes: several doublings */
    fclose(f);

    struct procfs_buf b = {0};
    assert_int_equal(procfs_read_file(path, &b), 0);
    assert_int_equal(b.len, 30000);
    assert_true(b.cap >= 30000);
    assert_memory_equal(b.data + 29990, "line 2999\n", 10);
    char *data = b.data;
    size_t cap = b.cap;
    assert_int_equal(procfs_read_file(path, &b), 0); /* steady state: no reallocation */
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 30000);

    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(procfs_read_file(path, &b), -ENOENT);
    assert_int_equal(b.len, 0);
    assert_int_equal(procfs_read_file(dir, &b), -EISDIR);

    snprintf(path, sizeof(path), "%s/big", dir);
    unlink(path);
    rmdir(dir);
    procfs_buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    procfs_buf_release(&b); /* twice is fine */
    procfs_buf_release(NULL);
}

static void test_read_file_proc(void **state)
{
    (void)state;
    struct procfs_buf b = {0};
    struct procfs_cpu_sample total;
    struct procfs_meminfo mi;
    size_t n = 0;
    /* The live files of this machine parse. */
    assert_int_equal(procfs_read_file("/proc/stat", &b), 0);
    assert_int_equal(procfs_parse_stat(b.data, b.len, &total, NULL, 0, &n), 0);
    assert_true(n >= 1);
    assert_int_equal(procfs_read_file("/proc/meminfo", &b), 0);
    assert_int_equal(procfs_parse_meminfo(b.data, b.len, &mi), 0);
    procfs_buf_release(&b);
}

/* ---- /proc/stat ------------------------------------------------------------------- */

static void test_stat_real(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("real", "stat");
    struct procfs_cpu_sample total, cpus[4];
    size_t n = 0;
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, cpus, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(total.cpu, PROCFS_CPU_TOTAL);
    assert_int_equal(total.n_columns, 10);
    assert_times(&total.t, 1798, 0, 1293, 118694, 278, 0, 54, 8, 0, 0);
    assert_int_equal(cpus[0].cpu, 0);
    assert_times(&cpus[0].t, 502, 0, 483, 60032, 8, 0, 21, 3, 0, 0);
    assert_int_equal(cpus[1].cpu, 1);
    assert_times(&cpus[1].t, 1296, 0, 810, 58662, 270, 0, 33, 4, 0, 0);
    assert_int_equal(procfs_cpu_total_ticks(&total.t), 1798 + 1293 + 118694 + 278 + 54 + 8);
    assert_int_equal(procfs_cpu_active_ticks(&total.t), 1798 + 1293 + 278 + 54 + 8);
}

static void test_stat_multicore(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("multicore", "stat");
    struct procfs_cpu_sample total, cpus[16];
    size_t n = 0;
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, cpus, 16, &n), 0);
    assert_int_equal(n, 8);
    assert_times(&total.t, 100000, 2000, 30000, 800000, 5000, 1000, 2000, 500, 4000, 100);
    const int32_t ids[] = {0, 1, 2, 3, 4, 6, 7, 8}; /* cpu5 is offline */
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(cpus[i].cpu, ids[i]);
    assert_times(&cpus[5].t, 12600, 256, 3760, 106000, 606, 126, 256, 66, 506, 16);
    assert_times(&cpus[7].t, 13700, 227, 3870, 77000, 777, 137, 227, 57, 477, 7);

    /* A short array keeps the first `cap` CPUs and still reports how many there are. */
    memset(cpus, 0xff, sizeof(cpus));
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, cpus, 3, &n), 0);
    assert_int_equal(n, 8);
    assert_int_equal(cpus[2].cpu, 2);
    assert_int_equal(cpus[3].cpu, -1); /* untouched */
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, NULL, 0, &n), 0);
    assert_int_equal(n, 8);
    assert_int_equal(total.t.idle, 800000);
}

static void test_stat_old_kernels(void **state)
{
    (void)state;
    struct procfs_cpu_sample total, cpus[4];
    size_t n = 0;

    /* 2.6.9: seven columns, no steal/guest/guest_nice. */
    const struct procfs_buf *b = fixture("kernel-2.6.9", "stat");
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, cpus, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(total.n_columns, 7);
    assert_times(&total.t, 2255, 34, 2290, 22625563, 6290, 127, 456, 0, 0, 0);
    assert_times(&cpus[1].t, 1123, 0, 849, 11313845, 2614, 0, 18, 0, 0, 0);

    /* 2.6.32: nine columns (guest, no guest_nice). */
    b = fixture("kernel-2.6.32", "stat");
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, cpus, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(total.n_columns, 9);
    assert_times(&total.t, 1393280, 32966, 572056, 13343292, 6130, 0, 17875, 1234, 5678, 0);
    assert_times(&cpus[0].t, 696640, 16483, 286028, 6671646, 3065, 0, 8937, 617, 2839, 0);

    /* 2.4: four columns. */
    assert_int_equal(
        parse_stat_str("cpu  10 2 30 400\ncpu0 10 2 30 400\npage 1 2\n", &total, cpus, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(total.n_columns, 4);
    assert_times(&total.t, 10, 2, 30, 400, 0, 0, 0, 0, 0, 0);

    /* A future kernel with an eleventh column: ignored. */
    assert_int_equal(parse_stat_str("cpu  1 2 3 4 5 6 7 8 9 10 11\n", &total, cpus, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(total.n_columns, 10);
    assert_times(&total.t, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
}

static void test_stat_edge_ok(void **state)
{
    (void)state;
    struct procfs_cpu_sample total, cpus[2];
    size_t n = 99;
    /* Only the cpu block is examined: whatever follows it, even cut, is not. */
    assert_int_equal(parse_stat_str("cpu  1 2 3 4\nintr 1 2 3", &total, cpus, 2, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(parse_stat_str("cpu 1 2 3 4\n", &total, cpus, 2, &n), 0);
    assert_int_equal(parse_stat_str("cpu\t1\t2 3 4  \n", &total, cpus, 2, &n), 0);
    assert_int_equal(parse_stat_str("cpu  18446744073709551615 0 0 0\n", &total, cpus, 2, &n), 0);
    assert_int_equal(total.t.user, UINT64_MAX);
}

static void test_stat_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "\n",
        "intr 1 2 3\n",                               /* no cpu block */
        "cpu0 1 2 3 4\n",                             /* aggregate missing */
        "cpu0 1 2 3 4\ncpu  1 2 3 4\n",               /* aggregate not first */
        "cpu  1 2 3 4\ncpu  1 2 3 4\n",               /* two aggregates */
        "cpu  1 2 3 4",                               /* no newline: cut */
        "cpu  1 2 3 4\ncpu0 1 2 3",                   /* cut in a cpu line */
        "cpu  1 2 3 4\ncpu0 1 2 3 4\ncp",             /* cut in "cpu" */
        "cpu  1 2 3 4\ncpu",                          /* cut after "cpu" */
        "cpu  1 2 3\n",                               /* three columns */
        "cpu  1 2 3 x\n",                             /* not a number */
        "cpu  1 2 3 4x\n",                            /* trailing junk */
        "cpu  1 2 -3 4\n",                            /* sign */
        "cpu  1 2 3 18446744073709551616\n",          /* u64 overflow */
        "cpu  1 2 3 4\ncpufreq 1 2 3 4\n",            /* "cpu" but not cpuN */
        "cpu  1 2 3 4\ncpu1 1 2 3 4\ncpu1 1 2 3 4\n", /* duplicated id */
        "cpu  1 2 3 4\ncpu2 1 2 3 4\ncpu1 1 2 3 4\n", /* ids going down */
        "cpu  1 2 3 4\ncpu1048576 1 2 3 4\n",         /* id too large */
        "cpu  1 2 3 4\ncpu0\n",                       /* no columns */
        "cpu  1 2 3 4\ncpu0x 1 2 3 4\n",              /* junk after the id */
        "cpu  1 2\0 3 4\n",                           /* NUL inside */
    };
    struct procfs_cpu_sample total, cpus[4];
    size_t n;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_stat_str(bad[i], &total, cpus, 4, &n);
        if (r != -EBADMSG)
            fail_msg("bad[%zu] '%s': got %d, want -EBADMSG", i, bad[i], r);
    }
    /* Embedded NUL with an explicit length. */
    static const char nul[] = "cpu  1 2\0 3 4\n";
    assert_int_equal(procfs_parse_stat(nul, sizeof(nul) - 1, &total, cpus, 4, &n), -EBADMSG);

    const struct procfs_buf *b = fixture("truncated", "stat");
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, cpus, 4, &n), -EBADMSG);
    b = fixture("garbage", "stat");
    assert_int_equal(procfs_parse_stat(b->data, b->len, &total, cpus, 4, &n), -EBADMSG);
}

/* ---- cpu percentages -------------------------------------------------------------- */

static void test_cpu_usage_fixtures(void **state)
{
    (void)state;
    struct procfs_cpu_sample t0, t1, c0[16], c1[16];
    size_t n0, n1;
    const struct procfs_buf *b = fixture("multicore", "stat");
    assert_int_equal(procfs_parse_stat(b->data, b->len, &t0, c0, 16, &n0), 0);
    b = fixture("multicore-t1", "stat");
    assert_int_equal(procfs_parse_stat(b->data, b->len, &t1, c1, 16, &n1), 0);
    assert_int_equal(n1, 8);

    /* Aggregate: dtotal = 600+200+50+50+20+30+50+3000 = 4000 ticks (guest not added). */
    struct procfs_cpu_usage u;
    assert_int_equal(procfs_cpu_usage(&t0.t, &t1.t, &u), 0);
    assert_true(u.user == 12.5);       /* (600 - guest 100) / 4000 */
    assert_true(u.nice == 1.0);        /* (50 - guest_nice 10) / 4000 */
    assert_true(u.system == 5.0);      /* 200 / 4000 */
    assert_true(u.idle == 75.0);       /* 3000 / 4000 */
    assert_true(u.iowait == 1.25);     /* 50 / 4000 */
    assert_true(u.irq == 0.5);         /* 20 / 4000 */
    assert_true(u.softirq == 0.75);    /* 30 / 4000 */
    assert_true(u.steal == 1.25);      /* 50 / 4000 */
    assert_true(u.guest == 2.5);       /* 100 / 4000 */
    assert_true(u.guest_nice == 0.25); /* 10 / 4000 */
    assert_true(u.active == 25.0);     /* (4000 - 3000) / 4000: iowait counts as active */

    /* cpu0: user +100, system +50, idle +350 -> dtotal 500. */
    assert_int_equal(procfs_cpu_usage(&c0[0].t, &c1[0].t, &u), 0);
    assert_true(u.user == 20.0);
    assert_true(u.system == 10.0);
    assert_true(u.idle == 70.0);
    assert_true(u.active == 30.0);
    assert_true(u.guest == 0.0);
    /* cpu1: user +80 of which guest +20, system +25, idle +395 -> dtotal 500. */
    assert_int_equal(procfs_cpu_usage(&c0[1].t, &c1[1].t, &u), 0);
    assert_true(u.user == 12.0);
    assert_true(u.guest == 4.0);
    assert_true(u.system == 5.0);
    assert_true(u.idle == 79.0);
    assert_true(u.active == 21.0);
    /* cpu2 did not move: no usage. */
    assert_int_equal(procfs_cpu_usage(&c0[2].t, &c1[2].t, &u), -EAGAIN);
    /* Counters going back (cpu offlined/onlined): no usage. */
    assert_int_equal(procfs_cpu_usage(&t1.t, &t0.t, &u), -ERANGE);
}

static void test_cpu_usage_edges(void **state)
{
    (void)state;
    struct procfs_cpu_usage u;
    /* Old kernel, seven columns: missing ones are 0 on both sides. */
    struct procfs_cpu_times a = {.user = 100, .system = 50, .idle = 800, .iowait = 50};
    struct procfs_cpu_times b = {.user = 130, .system = 60, .idle = 850, .iowait = 60};
    assert_int_equal(procfs_cpu_usage(&a, &b, &u), 0);
    assert_true(u.user == 30.0); /* 30 / (30 + 10 + 50 + 10) */
    assert_true(u.system == 10.0);
    assert_true(u.iowait == 10.0);
    assert_true(u.idle == 50.0);
    assert_true(u.active == 50.0); /* user + system + iowait */
    assert_true(u.steal == 0.0);
    /* One column going back while the total goes up: negative, as telegraf. */
    struct procfs_cpu_times c = b;
    c.iowait = 55;
    c.idle = 895; /* dtotal = -5 + 45 = 40 */
    assert_int_equal(procfs_cpu_usage(&b, &c, &u), 0);
    assert_true(u.iowait == -12.5); /* -5 / 40 */
    assert_true(u.idle == 112.5);   /* 45 / 40 */
    /* Counters above 2^53 still give exact deltas. */
    struct procfs_cpu_times big0 = {.user = (1ull << 60), .idle = (1ull << 60)};
    struct procfs_cpu_times big1 = {.user = (1ull << 60) + 1, .idle = (1ull << 60) + 3};
    assert_int_equal(procfs_cpu_usage(&big0, &big1, &u), 0);
    assert_true(u.user == 25.0);
    assert_true(u.idle == 75.0);
}

/* ---- /proc/meminfo ---------------------------------------------------------------- */

static void test_meminfo_real(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("real", "meminfo");
    struct procfs_meminfo mi;
    struct procfs_mem_stats m;
    assert_int_equal(procfs_parse_meminfo(b->data, b->len, &mi), 0);
    assert_int_equal(mi.present, 0x1ff);
    assert_int_equal(mi.mem_total, 24683656 * KB);
    assert_int_equal(mi.mem_free, 24293768 * KB);
    assert_int_equal(mi.mem_available, 24374880 * KB);
    assert_int_equal(mi.buffers, 2616 * KB);
    assert_int_equal(mi.cached, 264740 * KB);
    assert_int_equal(mi.active, 91560 * KB); /* not Active(anon)/Active(file) */
    assert_int_equal(mi.inactive, 174132 * KB);
    assert_int_equal(mi.sreclaimable, 56444 * KB);
    assert_int_equal(mi.shmem, 8896 * KB);

    assert_int_equal(procfs_mem_compute(&mi, &m), 0);
    assert_int_equal(m.total, 24683656 * KB);
    assert_int_equal(m.free, 24293768 * KB);
    assert_int_equal(m.buffered, 2616 * KB);
    assert_int_equal(m.cached, (264740 + 56444) * KB);
    assert_int_equal(m.available, 24374880 * KB);
    assert_int_equal(m.active, 91560 * KB);
    assert_int_equal(m.inactive, 174132 * KB);
    assert_int_equal(m.shared, 8896 * KB);
    /* 24683656 - 24293768 - 2616 - 321184 */
    assert_int_equal(m.used, 66088 * KB);
    assert_near(m.used_percent, 100.0 * 66088 / 24683656, "used_percent");
    assert_near(m.available_percent, 100.0 * 24374880 / 24683656, "available_percent");
}

static void test_meminfo_multicore_shuffled(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("multicore", "meminfo");
    struct procfs_meminfo mi;
    struct procfs_mem_stats m;
    /* Keys in any order, unknown keys (with or without a unit) skipped. */
    assert_int_equal(procfs_parse_meminfo(b->data, b->len, &mi), 0);
    assert_int_equal(procfs_mem_compute(&mi, &m), 0);
    assert_int_equal(m.total, 512ull << 30);
    assert_int_equal(m.free, 240ull << 30);
    assert_int_equal(m.buffered, 4ull << 30);
    assert_int_equal(m.cached, (160ull + 8) << 30);
    assert_int_equal(m.available, 400ull << 30);
    assert_int_equal(m.active, 70ull << 30);
    assert_int_equal(m.inactive, 120ull << 30);
    assert_int_equal(m.shared, 1ull << 30);
    assert_int_equal(m.used, 100ull << 30); /* 512 - 240 - 4 - 168 */
    assert_true(m.used_percent == 19.53125);
    assert_true(m.available_percent == 78.125);
}

static void test_meminfo_old_kernels(void **state)
{
    (void)state;
    struct procfs_meminfo mi;
    struct procfs_mem_stats m;

    /* 2.6.9: no MemAvailable, SReclaimable or Shmem. */
    const struct procfs_buf *b = fixture("kernel-2.6.9", "meminfo");
    assert_int_equal(procfs_parse_meminfo(b->data, b->len, &mi), 0);
    assert_int_equal(mi.present, PROCFS_MEM_REQUIRED);
    assert_int_equal(procfs_mem_compute(&mi, &m), 0);
    assert_int_equal(m.total, 1026952 * KB);
    assert_int_equal(m.cached, 652864 * KB);
    assert_int_equal(m.used, 218428 * KB);                /* 1026952-38124-117536-652864 */
    assert_int_equal(m.available, (38124 + 652864) * KB); /* free + cached fallback */
    assert_int_equal(m.shared, 0);
    assert_near(m.used_percent, 100.0 * 218428 / 1026952, "used_percent");
    assert_near(m.available_percent, 100.0 * 690988 / 1026952, "available_percent");

    /* 2.6.32: SReclaimable and Shmem, no MemAvailable. */
    b = fixture("kernel-2.6.32", "meminfo");
    assert_int_equal(procfs_parse_meminfo(b->data, b->len, &mi), 0);
    assert_int_equal(mi.present,
                     PROCFS_MEM_REQUIRED | PROCFS_MEM_HAS_SRECLAIMABLE | PROCFS_MEM_HAS_SHMEM);
    assert_int_equal(procfs_mem_compute(&mi, &m), 0);
    assert_int_equal(m.cached, (2190644 + 203280) * KB);
    assert_int_equal(m.used, 943180 * KB); /* 3922816-309208-276504-2393924 */
    assert_int_equal(m.available, (309208 + 2393924) * KB);
    assert_int_equal(m.active, 1975588 * KB);
    assert_int_equal(m.inactive, 1247364 * KB);
    assert_int_equal(m.shared, 7248 * KB);
}

static void test_meminfo_used_clamped(void **state)
{
    (void)state;
    struct procfs_meminfo mi;
    struct procfs_mem_stats m;
    /* Containers can show cached + reclaimable above total - free: used stays 0. */
    assert_int_equal(parse_meminfo_str("MemTotal: 1000 kB\nMemFree: 600 kB\nBuffers: 100 kB\n"
                                       "Cached: 250 kB\nSReclaimable: 100 kB\nActive: 1 kB\n"
                                       "Inactive: 2 kB\n",
                                       &mi),
                     0);
    assert_int_equal(procfs_mem_compute(&mi, &m), 0);
    assert_int_equal(m.used, 0);
    assert_true(m.used_percent == 0.0);
    struct procfs_meminfo zero = {0};
    assert_int_equal(procfs_mem_compute(&zero, &m), -EINVAL);
}

static void test_meminfo_bad(void **state)
{
    (void)state;
#define REQ "MemTotal: 8 kB\nMemFree: 1 kB\nBuffers: 1 kB\nCached: 1 kB\nActive: 1 kB\n"
    static const char *const bad[] = {
        "",
        "\n",
        REQ,                                       /* Inactive missing */
        REQ "Inactive: 1 kB",                      /* last line cut */
        REQ "Inactive: 1 kB\nShmem: 4",            /* cut in an unknown-to-be line */
        REQ "Inactive: 1\n",                       /* no unit on a byte entry */
        REQ "Inactive: 1 MB\n",                    /* wrong unit */
        REQ "Inactive: kB\n",                      /* no value */
        REQ "Inactive: -1 kB\n",                   /* sign */
        REQ "Inactive: 1 kB extra\n",              /* trailing junk */
        REQ "Inactive: 1kB\n",                     /* unit glued to the value */
        REQ "Inactive: 18014398509481984 kB\n",    /* bytes overflow u64 */
        REQ "Inactive: 99999999999999999999 kB\n", /* kB overflows u64 */
        REQ "Inactive: 1 kB\nMemTotal: 8 kB\n",    /* duplicate */
        REQ "Inactive: 1 kB\n\n",                  /* empty line */
        REQ "Inactive: 1 kB\nno colon here\n",
        REQ "Inactive: 1 kB\n: 5 kB\n",        /* empty key */
        REQ "Inactive: 1 kB\nBad Key: 5 kB\n", /* space in key */
        "MemTotal: 0 kB\nMemFree: 0 kB\nBuffers: 0 kB\nCached: 0 kB\nActive: 0 kB\n"
        "Inactive: 0 kB\n", /* MemTotal 0 */
    };
#undef REQ
    struct procfs_meminfo mi;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_meminfo_str(bad[i], &mi);
        if (r != -EBADMSG)
            fail_msg("bad[%zu] '%s': got %d, want -EBADMSG", i, bad[i], r);
    }
    const struct procfs_buf *b = fixture("truncated", "meminfo");
    assert_int_equal(procfs_parse_meminfo(b->data, b->len, &mi), -EBADMSG);
    b = fixture("garbage", "meminfo");
    assert_int_equal(procfs_parse_meminfo(b->data, b->len, &mi), -EBADMSG);
    /* The largest representable value is fine. */
    assert_int_equal(parse_meminfo_str("MemTotal: 18014398509481983 kB\nMemFree: 1 kB\n"
                                       "Buffers: 1 kB\nCached: 1 kB\nActive: 1 kB\n"
                                       "Inactive: 1 kB\nHugePages_Total: 3\n",
                                       &mi),
                     0);
    assert_int_equal(mi.mem_total, 18014398509481983ull * 1024);
}

/* ---- collectors on a loop --------------------------------------------------------- */

struct got_metric {
    char name[64];
    char cpu[16];
    char host[32];
    enum metric_unit unit;
    double value;
    uint8_t storage_resolution;
};

struct harness {
    uv_loop_t loop;
    struct ring ring;
    struct collect_output out;
    struct plugin_env env;
    struct cfg_doc doc;
    struct cfg_errors errs;
    struct collector *c;
    char tmp[64];
    struct got_metric got[512];
    size_t n_got;
};

static void copy_fixture(const char *dir, const char *file, const char *to_dir)
{
    const struct procfs_buf *b = fixture(dir, file);
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", to_dir, file);
    /* write-temp-then-rename: the collector never sees a half-written file */
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void harness_init(struct harness *h, const struct collector_type *type, const char *json,
                         const char *proc_root, size_t ring_bytes)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(ring_init(&h->ring, ring_bytes), 0);
    h->out.ring = &h->ring;
    if (!proc_root) {
        snprintf(h->tmp, sizeof(h->tmp), "/tmp/osprey-proc-XXXXXX");
        assert_non_null(mkdtemp(h->tmp));
        proc_root = h->tmp;
    }
    h->env = (struct plugin_env){
        .hostname = "testhost",
        .proc_root = proc_root,
        .metrics_namespace = "CWAgent",
        .metrics_interval_ns = 60 * NS_PER_SEC,
    };
    cfg_errors_init(&h->errs);
    assert_int_equal(cfg_doc_load_buffer(&h->doc, "test.json", json, strlen(json), &h->errs), 0);
    json_t *obj = json_object_get(
        json_object_get(json_object_get(h->doc.root, "metrics"), "metrics_collected"), type->name);
    struct plugin_cfg cfg = {.doc = &h->doc, .path = type->config_path, .errs = &h->errs};
    int r = collector_create(type, type->name, 7, &h->env, &cfg, obj, &h->c);
    for (size_t i = 0; i < h->errs.n; i++)
        fprintf(stderr, "config: %s\n", h->errs.msgs[i]);
    assert_int_equal(r, 0);
}

static void drain(struct harness *h)
{
    const void *rec;
    size_t len;
    while ((rec = ring_peek(&h->ring, &len)) != NULL) {
        struct record_view v;
        assert_int_equal(record_decode(rec, len, &v), 0);
        assert_int_equal(v.hdr.kind, RECORD_METRIC);
        assert_int_equal(v.hdr.source, 7);
        assert_true(h->n_got < sizeof(h->got) / sizeof(h->got[0]));
        struct got_metric *g = &h->got[h->n_got++];
        memset(g, 0, sizeof(*g));
        const struct metric_point *p = &v.u.metric;
        assert_string_equal(p->namespace_, "CWAgent");
        snprintf(g->name, sizeof(g->name), "%s", p->name);
        g->unit = p->unit;
        g->value = p->value;
        g->storage_resolution = p->storage_resolution;
        for (size_t d = 0; d < p->n_dims; d++) {
            if (strcmp(p->dims[d].name, "cpu") == 0)
                snprintf(g->cpu, sizeof(g->cpu), "%s", p->dims[d].value);
            else if (strcmp(p->dims[d].name, "host") == 0)
                snprintf(g->host, sizeof(g->host), "%s", p->dims[d].value);
            else
                fail_msg("unexpected dimension '%s'", p->dims[d].name);
        }
        ring_consume(&h->ring);
    }
}

/* Run one more scrape (the first fires at once, later ones after the interval). */
static void run_scrape(struct harness *h)
{
    uint64_t before = selfstats_get(&h->c->stats.records_in);
    for (int i = 0; i < 1000 && selfstats_get(&h->c->stats.records_in) == before; i++) {
        uv_run(&h->loop, UV_RUN_NOWAIT);
        if (selfstats_get(&h->c->stats.records_in) == before)
            usleep(5000);
    }
    assert_true(selfstats_get(&h->c->stats.records_in) > before);
    drain(h);
}

static void harness_release(struct harness *h)
{
    collector_test_stop(&h->loop, h->c);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    ring_release(&h->ring);
    cfg_doc_release(&h->doc);
    cfg_errors_release(&h->errs);
    if (h->tmp[0]) {
        char path[256];
        snprintf(path, sizeof(path), "%s/stat", h->tmp);
        unlink(path);
        snprintf(path, sizeof(path), "%s/meminfo", h->tmp);
        unlink(path);
        rmdir(h->tmp);
    }
}

static const struct got_metric *find(const struct harness *h, size_t from, const char *name,
                                     const char *cpu)
{
    const struct got_metric *found = NULL;
    for (size_t i = from; i < h->n_got; i++) {
        if (strcmp(h->got[i].name, name) == 0 && strcmp(h->got[i].cpu, cpu ? cpu : "") == 0) {
            if (found)
                fail_msg("%s{cpu=%s} published twice", name, cpu ? cpu : "");
            found = &h->got[i];
        }
    }
    return found;
}

static double value_of(const struct harness *h, size_t from, const char *name, const char *cpu,
                       enum metric_unit unit)
{
    const struct got_metric *g = find(h, from, name, cpu);
    if (!g)
        fail_msg("%s{cpu=%s} not published", name, cpu ? cpu : "");
    assert_int_equal(g->unit, unit);
    assert_string_equal(g->host, "testhost");
    return g->value;
}

static void test_cpu_collector_scrapes(void **state)
{
    (void)state;
    static struct harness h;
    harness_init(&h, &collector_cpu,
                 "{\"metrics\": {\"metrics_collected\": {\"cpu\": {\"resources\": [\"*\"], "
                 "\"metrics_collection_interval\": 1}}}}",
                 NULL, 1u << 18);
    copy_fixture("multicore", "stat", h.tmp);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    assert_int_equal(h.c->open_handles, 1);

    /* First scrape: time_* only, for cpu-total and the 8 online CPUs. */
    run_scrape(&h);
    assert_int_equal(h.n_got, 11 * 9);
    double hz = (double)sysconf(_SC_CLK_TCK);
    double scale = 1.0 / hz; /* seconds per tick, as the CloudWatch agent publishes */
    assert_near(value_of(&h, 0, "cpu_time_user", "cpu-total", METRIC_UNIT_NONE), 100000 * scale,
                "time_user");
    assert_near(value_of(&h, 0, "cpu_time_active", "cpu-total", METRIC_UNIT_NONE),
                (100000 + 30000 + 2000 + 5000 + 1000 + 2000 + 500) * scale, "time_active");
    assert_near(value_of(&h, 0, "cpu_time_guest_nice", "cpu8", METRIC_UNIT_NONE), 7 * scale,
                "time_guest_nice");
    assert_null(find(&h, 0, "cpu_usage_idle", "cpu-total"));
    assert_null(find(&h, 0, "cpu_time_user", "cpu5"));
    assert_int_equal(h.got[0].storage_resolution, 1); /* interval below 60 s */

    /* Second scrape, one interval later: cpu5 came online, cpu8 went offline. */
    size_t from = h.n_got;
    copy_fixture("multicore-t1", "stat", h.tmp);
    run_scrape(&h);
    /* time_* for total + 8 CPUs; usage_* only where time passed: total, cpu0, cpu1. */
    assert_int_equal(h.n_got - from, 11 * 9 + 11 * 3);
    assert_true(value_of(&h, from, "cpu_usage_user", "cpu-total", METRIC_UNIT_PERCENT) == 12.5);
    assert_true(value_of(&h, from, "cpu_usage_active", "cpu-total", METRIC_UNIT_PERCENT) == 25.0);
    assert_true(value_of(&h, from, "cpu_usage_guest_nice", "cpu-total", METRIC_UNIT_PERCENT) ==
                0.25);
    assert_true(value_of(&h, from, "cpu_usage_active", "cpu0", METRIC_UNIT_PERCENT) == 30.0);
    assert_true(value_of(&h, from, "cpu_usage_user", "cpu1", METRIC_UNIT_PERCENT) == 12.0);
    assert_true(value_of(&h, from, "cpu_usage_guest", "cpu1", METRIC_UNIT_PERCENT) == 4.0);
    assert_null(find(&h, from, "cpu_usage_idle", "cpu5")); /* new: primed only */
    assert_near(value_of(&h, from, "cpu_time_idle", "cpu5", METRIC_UNIT_NONE), 1234 * scale,
                "cpu5 time_idle");
    assert_null(find(&h, from, "cpu_time_idle", "cpu8"));
    assert_null(find(&h, from, "cpu_usage_idle", "cpu2")); /* no time passed on cpu2 */

    assert_int_equal(selfstats_get(&h.c->stats.records_in), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);
}

static void test_cpu_collector_measurement(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/real", OSPREY_TEST_DATA);
    harness_init(&h, &collector_cpu,
                 "{\"metrics\": {\"metrics_collected\": {\"cpu\": {\"measurement\": ["
                 "\"cpu_usage_idle\", {\"name\": \"cpu_time_user\", \"rename\": \"CPU_USER\", "
                 "\"unit\": \"Seconds\"}, \"time_system\"], "
                 "\"append_dimensions\": {}}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    /* totalcpu defaults to true, per-cpu to off; usage_idle waits for a second scrape. */
    assert_int_equal(h.n_got, 2);
    double scale = 1.0 / (double)sysconf(_SC_CLK_TCK);
    assert_near(value_of(&h, 0, "CPU_USER", "cpu-total", METRIC_UNIT_SECONDS), 1798 * scale,
                "renamed");
    assert_near(value_of(&h, 0, "cpu_time_system", "cpu-total", METRIC_UNIT_NONE), 1293 * scale,
                "time_system");
    assert_int_equal(h.got[0].storage_resolution, 60);
    harness_release(&h);
}

static void test_cpu_collector_ring_full(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/multicore", OSPREY_TEST_DATA);
    harness_init(&h, &collector_cpu,
                 "{\"metrics\": {\"metrics_collected\": {\"cpu\": {\"resources\": [\"*\"]}}}}",
                 root, RING_MIN_CAPACITY);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    /* Scrape without draining: the ring fills and the rest of the scrape is dropped. */
    uint64_t before = selfstats_get(&h.c->stats.records_in);
    for (int i = 0; i < 100 && selfstats_get(&h.c->stats.records_in) == before; i++)
        uv_run(&h.loop, UV_RUN_NOWAIT);
    uint64_t in = selfstats_get(&h.c->stats.records_in);
    uint64_t out = selfstats_get(&h.c->stats.records_out);
    uint64_t full = selfstats_get(&h.c->stats.dropped[DROP_RING_FULL]);
    assert_int_equal(in, 11 * 9);
    assert_true(out > 0);
    assert_true(full > 0);
    assert_int_equal(in, out + full);
    drain(&h);
    assert_int_equal(h.n_got, out);
    harness_release(&h);
}

static void test_collectors_bad_input(void **state)
{
    (void)state;
    static struct harness h;
    const struct collector_type *types[] = {&collector_cpu, &collector_mem};
    const char *roots[] = {"missing", "garbage", "truncated"};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < 3; i++) {
            char root[512];
            snprintf(root, sizeof(root), "%s/proc/%s", OSPREY_TEST_DATA, roots[i]);
            harness_init(&h, types[t], "{\"metrics\": {\"metrics_collected\": {}}}", root,
                         1u << 16);
            assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
            run_scrape(&h);
            assert_int_equal(h.n_got, 0);
            assert_int_equal(selfstats_get(&h.c->stats.errors), 1);
            assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 1);
            assert_int_equal(selfstats_get(&h.c->stats.records_in), 1);
            assert_true(uv_loop_alive(&h.loop)); /* the timer keeps running */
            harness_release(&h);
        }
    }
}

static void test_mem_collector(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/kernel-2.6.32", OSPREY_TEST_DATA);
    harness_init(&h, &collector_mem, "{\"metrics\": {\"metrics_collected\": {\"mem\": {}}}}", root,
                 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 10); /* shared is opt-in */
    assert_true(value_of(&h, 0, "mem_total", NULL, METRIC_UNIT_BYTES) == 3922816.0 * 1024);
    assert_true(value_of(&h, 0, "mem_free", NULL, METRIC_UNIT_BYTES) == 309208.0 * 1024);
    assert_true(value_of(&h, 0, "mem_buffered", NULL, METRIC_UNIT_BYTES) == 276504.0 * 1024);
    assert_true(value_of(&h, 0, "mem_cached", NULL, METRIC_UNIT_BYTES) == 2393924.0 * 1024);
    assert_true(value_of(&h, 0, "mem_used", NULL, METRIC_UNIT_BYTES) == 943180.0 * 1024);
    assert_true(value_of(&h, 0, "mem_available", NULL, METRIC_UNIT_BYTES) == 2703132.0 * 1024);
    assert_true(value_of(&h, 0, "mem_active", NULL, METRIC_UNIT_BYTES) == 1975588.0 * 1024);
    assert_true(value_of(&h, 0, "mem_inactive", NULL, METRIC_UNIT_BYTES) == 1247364.0 * 1024);
    assert_near(value_of(&h, 0, "mem_used_percent", NULL, METRIC_UNIT_PERCENT),
                100.0 * 943180 / 3922816, "used_percent");
    assert_near(value_of(&h, 0, "mem_available_percent", NULL, METRIC_UNIT_PERCENT),
                100.0 * 2703132 / 3922816, "available_percent");
    assert_null(find(&h, 0, "mem_shared", NULL));
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 10);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), 10);
    harness_release(&h);

    harness_init(&h, &collector_mem,
                 "{\"metrics\": {\"metrics_collected\": {\"mem\": {\"measurement\": "
                 "[\"mem_used_percent\", \"shared\"], \"append_dimensions\": {}}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 2);
    assert_true(value_of(&h, 0, "mem_shared", NULL, METRIC_UNIT_BYTES) == 7248.0 * 1024);
    assert_non_null(find(&h, 0, "mem_used_percent", NULL));
    harness_release(&h);
}

static void test_collector_config_errors(void **state)
{
    (void)state;
    struct cfg_doc doc;
    struct cfg_errors errs;
    struct plugin_env env = {.proc_root = "/proc", .metrics_interval_ns = 60 * NS_PER_SEC};
    const char *json = "{\"cpu\": {\"totalcpu\": \"yes\", \"percpu\": true}}";
    cfg_errors_init(&errs);
    assert_int_equal(cfg_doc_load_buffer(&doc, "t.json", json, strlen(json), &errs), 0);
    struct plugin_cfg cfg = {.doc = &doc, .path = "cpu", .errs = &errs};
    struct collector *c = NULL;
    assert_int_equal(collector_create(&collector_cpu, "cpu", 1, &env, &cfg,
                                      json_object_get(doc.root, "cpu"), &c),
                     -EINVAL);
    assert_null(c);
    assert_int_equal(errs.n, 2); /* bad type for totalcpu; unknown key percpu */
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
}

static int teardown_fixture(void **state)
{
    (void)state;
    procfs_buf_release(&fixture_buf);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_file_grows_and_reuses),
        cmocka_unit_test(test_read_file_proc),
        cmocka_unit_test(test_stat_real),
        cmocka_unit_test(test_stat_multicore),
        cmocka_unit_test(test_stat_old_kernels),
        cmocka_unit_test(test_stat_edge_ok),
        cmocka_unit_test(test_stat_bad),
        cmocka_unit_test(test_cpu_usage_fixtures),
        cmocka_unit_test(test_cpu_usage_edges),
        cmocka_unit_test(test_meminfo_real),
        cmocka_unit_test(test_meminfo_multicore_shuffled),
        cmocka_unit_test(test_meminfo_old_kernels),
        cmocka_unit_test(test_meminfo_used_clamped),
        cmocka_unit_test(test_meminfo_bad),
        cmocka_unit_test(test_cpu_collector_scrapes),
        cmocka_unit_test(test_cpu_collector_measurement),
        cmocka_unit_test(test_cpu_collector_ring_full),
        cmocka_unit_test(test_collectors_bad_input),
        cmocka_unit_test(test_mem_collector),
        cmocka_unit_test(test_collector_config_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, teardown_fixture);
    return failed;
}
