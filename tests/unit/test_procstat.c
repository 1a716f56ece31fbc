/*
 * Tests for collectors/procfs_pid.{h,c} (the /proc/[pid] parsers, cpu_usage math and the
 * directory helpers) and the procstat collector (collectors/procstat.c), driven on a real
 * libuv loop against the fixture proc roots tests/data/proc/procstat-*, plus the settings
 * code that makes one procstat instance per array element.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
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
#include "agent/settings.h"
#include "collectors/collector.h"
#include "collector_test.h"
#include "collectors/procfs.h"
#include "collectors/procfs_pid.h"

extern const struct collector_type collector_procstat;

#define KB 1024.0

static struct procfs_buf fixture_buf;

static const struct procfs_buf *fixture(const char *root, const char *file)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/proc/%s/%s", OSPREY_TEST_DATA, root, file);
    int r = procfs_read_file(path, &fixture_buf);
    if (r != 0)
        fail_msg("cannot read fixture '%s': %s", path, strerror(-r));
    return &fixture_buf;
}

/* /proc/self/<file> of this test process. */
static const struct procfs_buf *real(const char *file)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/%s", file);
    int r = procfs_read_file(path, &fixture_buf);
    if (r != 0)
        fail_msg("cannot read '%s': %s", path, strerror(-r));
    return &fixture_buf;
}

static int stat_str(const char *s, struct procfs_pid_stat *st)
{
    return procfs_pid_parse_stat(s, strlen(s), st);
}

static int status_str(const char *s, struct procfs_pid_status *st)
{
    return procfs_pid_parse_status(s, strlen(s), st);
}

static int io_str(const char *s, struct procfs_pid_io *io)
{
    return procfs_pid_parse_io(s, strlen(s), io);
}

/* ---- parsers ---------------------------------------------------------------------- */

static void test_stat_fixtures(void **state)
{
    (void)state;
    struct procfs_pid_stat st;
    const struct procfs_buf *b = fixture("procstat-basic", "100/stat");
    assert_int_equal(procfs_pid_parse_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.pid, 100);
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.utime, 250);
    assert_int_equal(st.stime, 50);
    assert_int_equal(st.nice, 0);
    assert_int_equal(st.num_threads, 1);
    assert_int_equal(st.starttime, 5000);

    /* comm with spaces and ')': fields are found from the last ')' */
    b = fixture("procstat-basic", "301/stat");
    assert_int_equal(procfs_pid_parse_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.pid, 301);
    assert_int_equal(st.state, 'R');
    assert_int_equal(st.utime, 3);
    assert_int_equal(st.stime, 4);
    assert_int_equal(st.starttime, 7000);

    b = fixture("procstat-basic", "300/stat");
    assert_int_equal(procfs_pid_parse_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.nice, -5);
    assert_int_equal(st.num_threads, 4);

    /* The running kernel's own format. */
    b = real("stat");
    assert_int_equal(procfs_pid_parse_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.pid, getpid());
    assert_true(st.num_threads >= 1);
}

static void test_stat_bad(void **state)
{
    (void)state;
    struct procfs_pid_stat st;
    static const char *const bad[] = {
        "",
        "\n",
        "1 (x) S 1 2 3\n",                                   /* cut before field 22 */
        "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5",   /* no newline */
        "0 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n", /* pid 0 */
        "4194305 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n",
        "1 x S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n",                      /* no parentheses */
        "1 (x S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n",                     /* no ')' */
        "1 (x) S 1 1 1 0 -1 0 0 0 0 0 99999999999999999999 1 0 0 20 0 1 0 5\n", /* overflow */
        "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -1 1 0 0 20 0 1 0 5\n",                   /* utime<0 */
        "1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 x5\n",
        "1 (x) S  1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n", /* double space */
        "1 (x)\n",
        "garbage\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (stat_str(bad[i], &st) != -EBADMSG)
            fail_msg("accepted bad stat #%zu: %s", i, bad[i]);
    /* Exactly 22 fields is enough (fields after starttime are not needed). */
    assert_int_equal(stat_str("7 (a b) Z 1 1 1 0 -1 0 0 0 0 0 11 22 0 0 20 19 3 0 99\n", &st), 0);
    assert_int_equal(st.utime, 11);
    assert_int_equal(st.stime, 22);
    assert_int_equal(st.nice, 19);
    assert_int_equal(st.starttime, 99);
    assert_int_equal(st.state, 'Z');
    /* An empty comm. */
    assert_int_equal(stat_str("7 () S 1 1 1 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3\n", &st), 0);
}

static void test_status_fixtures(void **state)
{
    (void)state;
    struct procfs_pid_status ss;
    const struct procfs_buf *b = fixture("procstat-basic", "100/status");
    assert_int_equal(procfs_pid_parse_status(b->data, b->len, &ss), 0);
    assert_string_equal(ss.name, "nginx");
    assert_int_equal(ss.threads, 1);
    assert_true(ss.vm_size == 10240 * KB);
    assert_true(ss.vm_rss == 4096 * KB);
    assert_true(ss.vm_data == 2048 * KB);
    assert_true(ss.vm_stk == 132 * KB);
    assert_true(ss.vm_swap == 16 * KB);
    assert_int_equal(ss.vm_lck, 0);
    assert_int_equal(ss.voluntary_ctxt_switches, 41);
    assert_int_equal(ss.nonvoluntary_ctxt_switches, 7);
    assert_true(ss.present & PROCFS_PID_HAS_VMSWAP);

    /* A kernel thread prints no Vm* line: absent, read as 0. */
    b = fixture("procstat-basic", "200/status");
    assert_int_equal(procfs_pid_parse_status(b->data, b->len, &ss), 0);
    assert_string_equal(ss.name, "kworker/0:1");
    assert_false(ss.present & PROCFS_PID_HAS_VMRSS);
    assert_int_equal(ss.vm_rss, 0);

    b = fixture("procstat-basic", "301/status");
    assert_int_equal(procfs_pid_parse_status(b->data, b->len, &ss), 0);
    assert_string_equal(ss.name, "odd) (name");

    /* Cut short: the last line has no newline. */
    b = fixture("procstat-garbage", "501/status");
    assert_int_equal(procfs_pid_parse_status(b->data, b->len, &ss), -EBADMSG);

    b = real("status");
    assert_int_equal(procfs_pid_parse_status(b->data, b->len, &ss), 0);
    assert_true(ss.present & PROCFS_PID_HAS_VMRSS);
    assert_true(ss.vm_rss > 0);
    assert_true(ss.threads >= 1);
}

static void test_status_bad(void **state)
{
    (void)state;
    struct procfs_pid_status ss;
    static const char *const bad[] = {
        "",
        "Name:\tx\n",                                                /* no Threads */
        "Threads:\t1\n",                                             /* no Name */
        "Name:\tx\nThreads:\t1\nThreads:\t1\n",                      /* duplicate */
        "Name:\tx\nName:\ty\nThreads:\t1\n",                         /* duplicate name */
        "Name:\tx\nThreads:\tmany\n",                                /* not a number */
        "Name:\tx\nThreads:\t1\nVmRSS:\t12\n",                       /* no kB */
        "Name:\tx\nThreads:\t1\nVmRSS:\t12 MB\n",                    /* wrong unit */
        "Name:\tx\nThreads:\t1\nVmRSS:\t 18446744073709551615 kB\n", /* bytes overflow */
        "Name:\tx\nThreads:\t1\nno colon here\n",
        "Name:\tx\nThreads:\t1\n:\tempty key\n",
        "Name:\tx\nThreads:\t1", /* cut */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (status_str(bad[i], &ss) != -EBADMSG)
            fail_msg("accepted bad status #%zu: %s", i, bad[i]);
    /* Unknown keys with odd values are skipped; a long name is truncated, not rejected. */
    assert_int_equal(status_str("Groups:\t \nName:\tabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstu"
                                "vwxyzabcdefghijklmnopqrstuvwxyz\nThreads:\t3\n",
                                &ss),
                     0);
    assert_int_equal(strlen(ss.name), sizeof(ss.name) - 1);
    assert_int_equal(ss.threads, 3);
}

static void test_io(void **state)
{
    (void)state;
    struct procfs_pid_io io;
    const struct procfs_buf *b = fixture("procstat-basic", "100/io");
    assert_int_equal(procfs_pid_parse_io(b->data, b->len, &io), 0);
    assert_int_equal(io.rchar, 9000);
    assert_int_equal(io.wchar, 800);
    assert_int_equal(io.syscr, 120);
    assert_int_equal(io.syscw, 30);
    assert_int_equal(io.read_bytes, 409600);
    assert_int_equal(io.write_bytes, 8192);

    b = fixture("procstat-garbage", "502/io");
    assert_int_equal(procfs_pid_parse_io(b->data, b->len, &io), -EBADMSG);
    assert_int_equal(io_str("", &io), -EBADMSG);
    assert_int_equal(io_str("rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\n", &io),
                     -EBADMSG); /* write_bytes missing */
    assert_int_equal(io_str("rchar: 1\nrchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\n"
                            "write_bytes: 6\n",
                            &io),
                     -EBADMSG); /* duplicate */
    assert_int_equal(io_str("rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\n"
                            "write_bytes: 6",
                            &io),
                     -EBADMSG); /* cut */

    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/io", (int)getpid());
    if (procfs_read_file(path, &fixture_buf) == 0) { /* needs task io accounting */
        assert_int_equal(procfs_pid_parse_io(fixture_buf.data, fixture_buf.len, &io), 0);
        assert_true(io.syscr > 0);
    }
}

static void test_cmdline_and_name(void **state)
{
    (void)state;
    char buf[64];
    memcpy(buf, "a\0b c\0d\0\0", 9);
    assert_int_equal(procfs_pid_cmdline_join(buf, 9), 7);
    assert_string_equal(buf, "a b c d");
    assert_int_equal(procfs_pid_cmdline_join(buf, 0), 0);
    assert_string_equal(buf, "");

    char name[32];
    /* Not truncated: comm as is. */
    assert_int_equal(procfs_pid_name("nginx\n", 6, "/usr/sbin/nginx-x\0", 18, name, sizeof(name)),
                     0);
    assert_string_equal(name, "nginx");
    /* Cut at 15 by the kernel: argv[0]'s basename when it extends comm. */
    const struct procfs_buf *b = fixture("procstat-basic", "300/cmdline");
    char cmd[128];
    memcpy(cmd, b->data, b->len);
    assert_int_equal(procfs_pid_name("very-long-daemo\n", 16, cmd, b->len, name, sizeof(name)), 0);
    assert_string_equal(name, "very-long-daemon-name");
    /* ... but not when argv[0] is something else (a process that rewrote its argv). */
    assert_int_equal(
        procfs_pid_name("very-long-daemo", 15, "nginx: worker", 13, name, sizeof(name)), 0);
    assert_string_equal(name, "very-long-daemo");
    /* Truncated to the output size. */
    assert_int_equal(procfs_pid_name("very-long-daemo", 15, cmd, b->len, name, 8), 0);
    assert_string_equal(name, "very-lo");
    assert_int_equal(procfs_pid_name("\n", 1, NULL, 0, name, sizeof(name)), -EBADMSG);
}

static void test_pidfile(void **state)
{
    (void)state;
    int32_t pid = 0;
    assert_int_equal(procfs_pid_parse_pidfile("100\n", 4, &pid), 0);
    assert_int_equal(pid, 100);
    assert_int_equal(procfs_pid_parse_pidfile(" \t42 \r\n\n", 8, &pid), 0);
    assert_int_equal(pid, 42);
    assert_int_equal(procfs_pid_parse_pidfile("4194304", 7, &pid), 0);
    static const char *const bad[] = {"",          "\n",      "0\n",
                                      "-1\n",      "abc\n",   "12 34\n",
                                      "4194305\n", "12abc\n", "99999999999999999999999\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (procfs_pid_parse_pidfile(bad[i], strlen(bad[i]), &pid) != -EBADMSG)
            fail_msg("accepted bad pid file #%zu: %s", i, bad[i]);
}

static void test_cpu_usage_math(void **state)
{
    (void)state;
    double u = -1;
    /* 200 ticks at 100 Hz = 2 s of CPU in 2 s of wall time: one CPU fully busy. */
    assert_int_equal(procfs_pid_cpu_usage(1000, 1200, 100, 2 * NS_PER_SEC, &u), 0);
    assert_true(fabs(u - 100.0) < 1e-9);
    /* Two threads busy on two CPUs read 200, as telegraf publishes. */
    assert_int_equal(procfs_pid_cpu_usage(0, 400, 100, 2 * NS_PER_SEC, &u), 0);
    assert_true(fabs(u - 200.0) < 1e-9);
    assert_int_equal(procfs_pid_cpu_usage(5, 5, 100, NS_PER_SEC, &u), 0);
    assert_true(u == 0.0);
    assert_int_equal(procfs_pid_cpu_usage(5, 30, 100, 500 * NS_PER_MS, &u), 0);
    assert_true(fabs(u - 50.0) < 1e-9);
    assert_int_equal(procfs_pid_cpu_usage(5, 6, 100, 0, &u), -EAGAIN);
    assert_int_equal(procfs_pid_cpu_usage(6, 5, 100, NS_PER_SEC, &u), -ERANGE);
}

static int collect_pid(int32_t pid, void *data)
{
    uint64_t *mask = data;
    int bit = pid == 100   ? 0
              : pid == 101 ? 1
              : pid == 200 ? 2
              : pid == 300 ? 3
              : pid == 301 ? 4
                           : 5;
    *mask |= 1u << bit;
    return 0;
}

static int stop_at_first(int32_t pid, void *data)
{
    *(int32_t *)data = pid;
    return 1;
}

static void test_directories(void **state)
{
    (void)state;
    struct procfs_pid_dirbuf b = {0};
    char path[1024];
    uint64_t n = 0;
    snprintf(path, sizeof(path), "%s/proc/procstat-basic/100/fd", OSPREY_TEST_DATA);
    assert_int_equal(procfs_pid_count_dir(path, &b, &n), 0);
    assert_int_equal(n, 3);
    char *kept = b.data;
    snprintf(path, sizeof(path), "%s/proc/procstat-basic/101/fd", OSPREY_TEST_DATA);
    assert_int_equal(procfs_pid_count_dir(path, &b, &n), 0);
    assert_int_equal(n, 2);
    assert_ptr_equal(b.data, kept); /* reused, not reallocated */
    snprintf(path, sizeof(path), "%s/proc/procstat-basic/999/fd", OSPREY_TEST_DATA);
    assert_int_equal(procfs_pid_count_dir(path, &b, &n), -ENOENT);

    /* Only numeric entries are pids: "stat", "nginx.pid", "self-not-a-pid" are skipped. */
    uint64_t mask = 0;
    snprintf(path, sizeof(path), "%s/proc/procstat-basic", OSPREY_TEST_DATA);
    assert_int_equal(procfs_pid_scan(path, &b, collect_pid, &mask), 0);
    assert_int_equal(mask, 0x1f);
    int32_t first = 0;
    assert_int_equal(procfs_pid_scan(path, &b, stop_at_first, &first), 1);
    assert_true(first > 0);

    /* The real /proc lists this process. */
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)getpid());
    assert_int_equal(procfs_pid_count_dir(path, &b, &n), 0);
    assert_true(n >= 3);
    procfs_pid_dirbuf_release(&b);
    procfs_pid_dirbuf_release(&b); /* idempotent */
}

/* ---- collector harness ------------------------------------------------------------ */

struct got_metric {
    char name[128];
    enum metric_unit unit;
    double value;
    char selector[16];
    char selector_value[256];
    char process_name[128];
    char pid_finder[16];
    size_t n_dims;
};

struct harness {
    uv_loop_t loop;
    struct ring ring;
    struct collect_output out;
    struct plugin_env env;
    struct cfg_doc doc;
    struct cfg_errors errs;
    struct collector *c;
    struct got_metric got[512];
    size_t n_got;
};

/* Create a procstat instance from the JSON of one array element. */
static int harness_create(struct harness *h, const char *entry_json, const char *proc_root,
                          size_t ring_bytes)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(ring_init(&h->ring, ring_bytes), 0);
    h->out.ring = &h->ring;
    h->env = (struct plugin_env){
        .hostname = "testhost",
        .proc_root = proc_root,
        .metrics_namespace = "CWAgent",
        .metrics_interval_ns = 60 * NS_PER_SEC,
    };
    cfg_errors_init(&h->errs);
    assert_int_equal(
        cfg_doc_load_buffer(&h->doc, "test.json", entry_json, strlen(entry_json), &h->errs), 0);
    struct plugin_cfg cfg = {
        .doc = &h->doc, .path = "metrics/metrics_collected/procstat/0", .errs = &h->errs};
    return collector_create(&collector_procstat, "procstat[0]", 7, &h->env, &cfg, h->doc.root,
                            &h->c);
}

static void harness_init(struct harness *h, const char *entry_json, const char *proc_root,
                         size_t ring_bytes)
{
    int r = harness_create(h, entry_json, proc_root, ring_bytes);
    for (size_t i = 0; i < h->errs.n; i++)
        fprintf(stderr, "config: %s\n", h->errs.msgs[i]);
    assert_int_equal(r, 0);
    assert_int_equal(collector_start(h->c, &h->loop, &h->out), 0);
}

static void drain(struct harness *h)
{
    const void *rec;
    size_t len;
    h->n_got = 0;
    while ((rec = ring_peek(&h->ring, &len)) != NULL) {
        struct record_view v;
        assert_int_equal(record_decode(rec, len, &v), 0);
        assert_int_equal(v.hdr.kind, RECORD_METRIC);
        assert_true(h->n_got < sizeof(h->got) / sizeof(h->got[0]));
        struct got_metric *g = &h->got[h->n_got++];
        memset(g, 0, sizeof(*g));
        const struct metric_point *p = &v.u.metric;
        assert_string_equal(p->namespace_, "CWAgent");
        snprintf(g->name, sizeof(g->name), "%s", p->name);
        g->unit = p->unit;
        g->value = p->value;
        g->n_dims = p->n_dims;
        for (size_t d = 0; d < p->n_dims; d++) {
            const char *dn = p->dims[d].name, *dv = p->dims[d].value;
            if (strcmp(dn, "host") == 0) {
                assert_string_equal(dv, "testhost");
            } else if (strcmp(dn, "process_name") == 0) {
                snprintf(g->process_name, sizeof(g->process_name), "%s", dv);
            } else if (strcmp(dn, "pid_finder") == 0) {
                snprintf(g->pid_finder, sizeof(g->pid_finder), "%s", dv);
            } else if (strcmp(dn, "pidfile") == 0 || strcmp(dn, "exe") == 0 ||
                       strcmp(dn, "pattern") == 0) {
                snprintf(g->selector, sizeof(g->selector), "%s", dn);
                snprintf(g->selector_value, sizeof(g->selector_value), "%s", dv);
            } else if (strcmp(dn, "team") != 0) {
                fail_msg("unexpected dimension '%s'", dn);
            }
        }
        ring_consume(&h->ring);
    }
}

/* Run one scrape: the first fires at once, later ones after the (1 s) interval. */
static void run_scrape(struct harness *h)
{
    uint64_t before = selfstats_get(&h->c->stats.records_in);
    for (int i = 0; i < 2000 && selfstats_get(&h->c->stats.records_in) == before; i++) {
        uv_run(&h->loop, UV_RUN_NOWAIT);
        if (selfstats_get(&h->c->stats.records_in) == before)
            usleep(5000);
    }
    assert_true(selfstats_get(&h->c->stats.records_in) > before);
    drain(h);
}

static void harness_release(struct harness *h)
{
    if (h->c) {
        collector_test_stop(&h->loop, h->c);
        h->c = NULL;
    }
    assert_int_equal(uv_loop_close(&h->loop), 0);
    ring_release(&h->ring);
    cfg_doc_release(&h->doc);
    cfg_errors_release(&h->errs);
}

/* The metric `name` of the process `pid` (-1: the first of any process, or the lookup
 * metric). A process's metrics start with its procstat_pid (tests that look a process up
 * select "pid"), so the nearest procstat_pid before a metric names its process. */
static const struct got_metric *find(const struct harness *h, const char *name, double pid)
{
    double owner = -1;
    for (size_t i = 0; i < h->n_got; i++) {
        if (strcmp(h->got[i].name, "procstat_pid") == 0)
            owner = h->got[i].value;
        if (strcmp(h->got[i].name, name) == 0 && (pid < 0 || owner == pid))
            return &h->got[i];
    }
    return NULL;
}

static double value_of(const struct harness *h, const char *name, double pid, enum metric_unit unit)
{
    const struct got_metric *g = find(h, name, pid);
    if (!g)
        fail_msg("metric '%s' of pid %g not published", name, pid);
    if (g->unit != unit)
        fail_msg("metric '%s': unit %s, want %s", name, metric_unit_name(g->unit),
                 metric_unit_name(unit));
    return g->value;
}

static size_t count_named(const struct harness *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_got; i++)
        n += strcmp(h->got[i].name, name) == 0;
    return n;
}

static const char ALL_MEASUREMENTS[] =
    "[\"cpu_time_system\", \"cpu_time_user\", \"cpu_usage\", \"memory_data\", "
    "\"memory_locked\", \"memory_rss\", \"memory_stack\", \"memory_swap\", \"memory_vms\", "
    "\"read_bytes\", \"read_count\", \"write_bytes\", \"write_count\", \"num_fds\", "
    "\"num_threads\", \"pid\", \"pid_count\", \"procstat_voluntary_context_switches\", "
    "\"involuntary_context_switches\", \"nice_priority\"]";

static uint64_t reject_count(struct collector *c, const char *reason)
{
    for (unsigned i = 0; c->stats.reject_names && c->stats.reject_names[i]; i++)
        if (strcmp(c->stats.reject_names[i], reason) == 0)
            return selfstats_get(&c->stats.rejects[i]);
    fail_msg("no reject reason '%s'", reason);
    return 0;
}

static void assert_accounted(struct collector *c)
{
    assert_int_equal(selfstats_get(&c->stats.records_in),
                     selfstats_get(&c->stats.records_out) + selfstats_dropped_total(&c->stats));
}

static void fixture_root(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/proc/%s", OSPREY_TEST_DATA, name);
}

/* ---- collector tests ---------------------------------------------------------------- */

static void test_collector_pid_file(void **state)
{
    (void)state;
    static struct harness h;
    char root[512], json[2048];
    fixture_root(root, sizeof(root), "procstat-basic");
    snprintf(json, sizeof(json), "{\"pid_file\": \"%s/nginx.pid\", \"measurement\": %s}", root,
             ALL_MEASUREMENTS);
    harness_init(&h, json, root, 1u << 16);
    run_scrape(&h);

    const double pid = 100, hz = (double)sysconf(_SC_CLK_TCK);
    assert_true(value_of(&h, "procstat_cpu_time_user", pid, METRIC_UNIT_COUNT) == 250 / hz);
    assert_true(value_of(&h, "procstat_cpu_time_system", pid, METRIC_UNIT_COUNT) == 50 / hz);
    /* First sample of the process: no usage (no spike). */
    assert_null(find(&h, "procstat_cpu_usage", -1));
    assert_true(value_of(&h, "procstat_memory_rss", pid, METRIC_UNIT_BYTES) == 4096 * KB);
    assert_true(value_of(&h, "procstat_memory_vms", pid, METRIC_UNIT_BYTES) == 10240 * KB);
    assert_true(value_of(&h, "procstat_memory_data", pid, METRIC_UNIT_BYTES) == 2048 * KB);
    assert_true(value_of(&h, "procstat_memory_stack", pid, METRIC_UNIT_BYTES) == 132 * KB);
    assert_true(value_of(&h, "procstat_memory_swap", pid, METRIC_UNIT_BYTES) == 16 * KB);
    assert_true(value_of(&h, "procstat_memory_locked", pid, METRIC_UNIT_BYTES) == 0);
    assert_true(value_of(&h, "procstat_read_bytes", pid, METRIC_UNIT_BYTES) == 409600);
    assert_true(value_of(&h, "procstat_write_bytes", pid, METRIC_UNIT_BYTES) == 8192);
    assert_true(value_of(&h, "procstat_read_count", pid, METRIC_UNIT_COUNT) == 120);
    assert_true(value_of(&h, "procstat_write_count", pid, METRIC_UNIT_COUNT) == 30);
    assert_true(value_of(&h, "procstat_num_fds", pid, METRIC_UNIT_COUNT) == 3);
    assert_true(value_of(&h, "procstat_num_threads", pid, METRIC_UNIT_COUNT) == 1);
    assert_true(value_of(&h, "procstat_pid", pid, METRIC_UNIT_COUNT) == 100);
    assert_true(value_of(&h, "procstat_voluntary_context_switches", pid, METRIC_UNIT_COUNT) == 41);
    assert_true(value_of(&h, "procstat_involuntary_context_switches", pid, METRIC_UNIT_COUNT) == 7);
    assert_true(value_of(&h, "procstat_nice_priority", pid, METRIC_UNIT_NONE) == 0);
    assert_true(value_of(&h, "procstat_lookup_pid_count", -1, METRIC_UNIT_COUNT) == 1);
    assert_null(find(&h, "procstat_pid_count", -1));

    char want[600];
    snprintf(want, sizeof(want), "%s/nginx.pid", root);
    for (size_t i = 0; i < h.n_got; i++) {
        const struct got_metric *g = &h.got[i];
        assert_string_equal(g->selector, "pidfile");
        assert_string_equal(g->selector_value, want);
        if (strcmp(g->name, "procstat_lookup_pid_count") == 0) {
            assert_string_equal(g->pid_finder, "native");
            assert_string_equal(g->process_name, "");
            assert_int_equal(g->n_dims, 3); /* host, pidfile, pid_finder */
        } else {
            assert_string_equal(g->process_name, "nginx");
            assert_string_equal(g->pid_finder, "");
            assert_int_equal(g->n_dims, 3); /* host, pidfile, process_name */
        }
    }
    assert_int_equal(h.n_got, 19); /* 18 per-process (no usage yet) + lookup */
    assert_accounted(h.c);
    harness_release(&h);
}

static void test_collector_pid_file_problems(void **state)
{
    (void)state;
    static struct harness h;
    char root[512], json[1024];
    fixture_root(root, sizeof(root), "procstat-basic");
    static const struct {
        const char *file;
        const char *reason; /* NULL: not an error */
    } cases[] = {
        {"stale.pid", NULL}, /* the process is gone: counted as 0, not an error */
        {"garbage.pid", "pidfile_garbage"},
        {"missing.pid", "pidfile_unreadable"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"pid_file\": \"%s/%s\", \"measurement\": [\"pid_count\", \"memory_rss\"]}",
                 root, cases[i].file);
        harness_init(&h, json, root, 1u << 16);
        run_scrape(&h);
        assert_int_equal(h.n_got, 1);
        assert_true(value_of(&h, "procstat_lookup_pid_count", -1, METRIC_UNIT_COUNT) == 0);
        if (cases[i].reason) {
            assert_int_equal(reject_count(h.c, cases[i].reason), 1);
            assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 1);
        } else {
            assert_int_equal(selfstats_dropped_total(&h.c->stats), 0);
        }
        assert_accounted(h.c);
        harness_release(&h);
    }
}

static void write_file(const char *path, const char *text)
{
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void test_collector_exe_two_scrapes(void **state)
{
    (void)state;
    static struct harness h;
    /* A scratch copy of the fixture root, so the test can advance a process's ticks. */
    char root[64] = "/tmp/osprey-procstat-XXXXXX", cmd[1200];
    assert_non_null(mkdtemp(root));
    snprintf(cmd, sizeof(cmd), "cp -r %s/proc/procstat-basic/. %s", OSPREY_TEST_DATA, root);
    assert_int_equal(system(cmd), 0);

    harness_init(&h,
                 "{\"exe\": \"^ngin\", \"metrics_collection_interval\": 1, \"append_dimensions\": "
                 "{\"team\": \"web\"}, \"measurement\": [\"cpu_usage\", \"read_bytes\", "
                 "\"write_count\", \"pid\", {\"name\": \"pid_count\", \"rename\": \"NginxUp\"}, "
                 "{\"name\": \"memory_rss\", \"unit\": \"Kilobytes\"}]}",
                 root, 1u << 16);
    run_scrape(&h);
    assert_true(value_of(&h, "procstat_pid", 100, METRIC_UNIT_COUNT) == 100);
    assert_true(value_of(&h, "procstat_pid", 101, METRIC_UNIT_COUNT) == 101);
    assert_int_equal(count_named(&h, "procstat_pid"), 2);
    assert_true(value_of(&h, "procstat_memory_rss", 101, METRIC_UNIT_KILOBYTES) == 5120 * KB);
    assert_true(value_of(&h, "procstat_read_bytes", 100, METRIC_UNIT_BYTES) == 409600);
    /* 101 has no io file: its io metrics are left out, counted once. */
    assert_null(find(&h, "procstat_read_bytes", 101));
    assert_null(find(&h, "procstat_write_count", 101));
    assert_int_equal(reject_count(h.c, "io_unreadable"), 1);
    assert_true(value_of(&h, "NginxUp", -1, METRIC_UNIT_COUNT) == 2);
    assert_null(find(&h, "procstat_lookup_pid_count", -1));
    assert_null(find(&h, "procstat_cpu_usage", -1));
    assert_string_equal(find(&h, "procstat_pid", 100)->selector, "exe");
    assert_string_equal(find(&h, "procstat_pid", 100)->selector_value, "^ngin");
    assert_int_equal(find(&h, "procstat_pid", 100)->n_dims, 4); /* + team */

    /* 100 used 100 more ticks; 101 was replaced by another process with the same pid. */
    char path[128];
    snprintf(path, sizeof(path), "%s/100/stat", root);
    write_file(path, "100 (nginx) S 1 100 100 0 -1 4194560 1200 0 3 0 300 100 0 0 20 0 1 0 5000 "
                     "123456789 4321\n");
    snprintf(path, sizeof(path), "%s/101/stat", root);
    write_file(path, "101 (nginx) S 1 101 101 0 -1 4194560 1200 0 3 0 1 1 0 0 20 0 1 0 9999 "
                     "123456789 4321\n");
    run_scrape(&h);
    double usage = value_of(&h, "procstat_cpu_usage", 100, METRIC_UNIT_PERCENT);
    assert_true(usage > 0);
    assert_null(find(&h, "procstat_cpu_usage", 101)); /* a new process: first sample */
    /* The new 101 has no io either: counted again, once (a new process). */
    assert_int_equal(reject_count(h.c, "io_unreadable"), 2);
    run_scrape(&h);
    /* Nothing moved: 0 %, and 101 now has a previous sample. */
    assert_true(value_of(&h, "procstat_cpu_usage", 100, METRIC_UNIT_PERCENT) == 0);
    assert_true(value_of(&h, "procstat_cpu_usage", 101, METRIC_UNIT_PERCENT) == 0);
    assert_int_equal(reject_count(h.c, "io_unreadable"), 2);

    /* 101 exits. */
    snprintf(cmd, sizeof(cmd), "rm -rf %s/101", root);
    assert_int_equal(system(cmd), 0);
    run_scrape(&h);
    assert_true(value_of(&h, "NginxUp", -1, METRIC_UNIT_COUNT) == 1);
    assert_null(find(&h, "procstat_pid", 101));
    assert_accounted(h.c);
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 2);
    harness_release(&h);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

static void test_collector_exe_long_name_and_pattern(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    fixture_root(root, sizeof(root), "procstat-basic");

    /* The kernel cut the name at 15 bytes; exe still matches the full name. */
    harness_init(&h, "{\"exe\": \"daemon-name$\", \"measurement\": [\"pid\", \"pid_count\"]}", root,
                 1u << 16);
    run_scrape(&h);
    assert_int_equal(h.n_got, 2);
    assert_string_equal(find(&h, "procstat_pid", 300)->process_name, "very-long-daemon-name");
    harness_release(&h);

    /* pattern matches the whole command line, arguments included. */
    harness_init(&h, "{\"pattern\": \"-c /etc/nginx\", \"measurement\": [\"pid\", \"pid_count\"]}",
                 root, 1u << 16);
    run_scrape(&h);
    assert_int_equal(h.n_got, 2);
    assert_non_null(find(&h, "procstat_pid", 100));
    assert_string_equal(find(&h, "procstat_pid", 100)->selector, "pattern");
    assert_true(value_of(&h, "procstat_lookup_pid_count", -1, METRIC_UNIT_COUNT) == 1);
    harness_release(&h);

    /* A kernel thread: empty command line, no Vm* lines (published as 0). */
    harness_init(&h,
                 "{\"pattern\": \"^$\", \"measurement\": [\"pid\", \"memory_rss\", \"num_fds\"]}",
                 root, 1u << 16);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3);
    assert_true(value_of(&h, "procstat_memory_rss", 200, METRIC_UNIT_BYTES) == 0);
    assert_string_equal(find(&h, "procstat_pid", 200)->process_name, "kworker/0:1");
    harness_release(&h);

    /* Odd names; a regex that matches nothing publishes a 0 count. */
    harness_init(&h, "{\"exe\": \"\\\\) \\\\(\", \"measurement\": [\"pid\", \"pid_count\"]}", root,
                 1u << 16);
    run_scrape(&h);
    assert_string_equal(find(&h, "procstat_pid", 301)->process_name, "odd) (name");
    harness_release(&h);
    harness_init(&h, "{\"exe\": \"^no-such$\", \"measurement\": [\"pid\", \"pid_count\"]}", root,
                 1u << 16);
    run_scrape(&h);
    assert_int_equal(h.n_got, 1);
    assert_true(value_of(&h, "procstat_lookup_pid_count", -1, METRIC_UNIT_COUNT) == 0);
    harness_release(&h);
}

static void test_collector_garbage(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    fixture_root(root, sizeof(root), "procstat-garbage");
    harness_init(&h,
                 "{\"exe\": \"^app$\", \"measurement\": [\"pid\", \"pid_count\", \"read_bytes\"]}",
                 root, 1u << 16);
    run_scrape(&h);
    /* 500 (bad stat) and 501 (cut status) are skipped; 502's io is garbage; 503 is fine. */
    assert_null(find(&h, "procstat_pid", 500));
    assert_null(find(&h, "procstat_pid", 501));
    assert_non_null(find(&h, "procstat_pid", 502));
    assert_null(find(&h, "procstat_read_bytes", 502));
    assert_true(value_of(&h, "procstat_read_bytes", 503, METRIC_UNIT_BYTES) == 5);
    assert_true(value_of(&h, "procstat_lookup_pid_count", -1, METRIC_UNIT_COUNT) == 2);
    assert_int_equal(reject_count(h.c, "stat_garbage"), 1);
    assert_int_equal(reject_count(h.c, "status_garbage"), 1);
    assert_int_equal(reject_count(h.c, "io_garbage"), 1);
    assert_int_equal(reject_count(h.c, "io_unreadable"), 0); /* 500, 501 were skipped before */
    assert_accounted(h.c);
    harness_release(&h);
}

static void test_collector_ring_full(void **state)
{
    (void)state;
    static struct harness h;
    char root[512], json[2048];
    fixture_root(root, sizeof(root), "procstat-basic");
    snprintf(json, sizeof(json), "{\"exe\": \".\", \"measurement\": %s}", ALL_MEASUREMENTS);
    harness_init(&h, json, root, 4096);
    run_scrape(&h);
    assert_true(h.n_got > 0);
    assert_true(selfstats_get(&h.c->stats.dropped[DROP_RING_FULL]) > 0);
    assert_accounted(h.c);
    harness_release(&h);
}

static void expect_config_error(const char *entry_json, const char *needle)
{
    static struct harness h;
    char root[512];
    fixture_root(root, sizeof(root), "procstat-basic");
    assert_int_equal(harness_create(&h, entry_json, root, 4096), -EINVAL);
    assert_null(h.c);
    bool found = false;
    for (size_t i = 0; i < h.errs.n; i++)
        found = found || strstr(h.errs.msgs[i], needle) != NULL;
    if (!found) {
        for (size_t i = 0; i < h.errs.n; i++)
            fprintf(stderr, "got: %s\n", h.errs.msgs[i]);
        fail_msg("no config error containing '%s' for %s", needle, entry_json);
    }
    harness_release(&h);
}

static void test_collector_config_errors(void **state)
{
    (void)state;
    expect_config_error("{\"measurement\": [\"pid\"]}",
                        "needs one of 'pid_file', 'exe' or 'pattern'");
    expect_config_error("{\"exe\": \"a\", \"pattern\": \"b\", \"measurement\": [\"pid\"]}",
                        "'pattern' cannot be combined with 'exe'");
    expect_config_error("{\"pid_file\": \"/x\", \"exe\": \"b\", \"measurement\": [\"pid\"]}",
                        "'exe' cannot be combined with 'pid_file'");
    expect_config_error("{\"exe\": \"nginx\"}", "needs 'measurement'");
    expect_config_error("{\"exe\": \"nginx\", \"measurement\": [\"rlimit_memory_rss_soft\"]}",
                        "'rlimit_memory_rss_soft' is not supported");
    expect_config_error("{\"exe\": \"nginx\", \"measurement\": [\"bogus\"]}",
                        "unknown procstat measurement 'bogus'");
    expect_config_error("{\"exe\": \"(\", \"measurement\": [\"pid\"]}",
                        "not a valid regular expression");
    expect_config_error("{\"exe\": \"\", \"measurement\": [\"pid\"]}", "must not be empty");
    expect_config_error("{\"exe\": \"a\", \"measurement\": [\"pid\"], \"drop_original_metrics\": "
                        "[\"pid\"]}",
                        "drop_original_metrics");
    expect_config_error("{\"exe\": \"a\", \"measurement\": [\"pid\"], \"pid_finder\": \"pgrep\"}",
                        "pid_finder");
}

/* settings: one instance per array element, named procstat[N]. */
static void test_settings_instances(void **state)
{
    (void)state;
    struct settings s;
    struct cfg_errors errs;
    const char *json = "{\"metrics\": {\"metrics_collected\": {\"procstat\": ["
                       "{\"exe\": \"sshd\", \"measurement\": [\"pid_count\"]},"
                       "{\"pattern\": \"nginx\", \"measurement\": [\"cpu_usage\"], "
                       "\"metrics_collection_interval\": 10}]}},"
                       " \"osprey\": {\"sinks\": {\"stdout\": {}}}}";
    cfg_errors_init(&errs);
    int r = settings_load_buffer(&s, "t.json", json, strlen(json), &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "config: %s\n", errs.msgs[i]);
    assert_int_equal(r, 0);
    size_t n = 0;
    for (size_t i = 0; i < s.n_collectors; i++) {
        if (strcmp(s.collectors[i]->type->name, "procstat") != 0)
            continue;
        char want[32];
        snprintf(want, sizeof(want), "procstat[%zu]", n);
        assert_string_equal(s.collectors[i]->name, want);
        n++;
    }
    assert_int_equal(n, 2);
    settings_release(&s);
    cfg_errors_release(&errs);

    /* Not an array; and an error inside the second element points at it. */
    cfg_errors_init(&errs);
    json = "{\"metrics\": {\"metrics_collected\": {\"procstat\": {\"exe\": \"sshd\"}}},"
           " \"osprey\": {\"sinks\": {\"stdout\": {}}}}";
    assert_int_equal(settings_load_buffer(&s, "t.json", json, strlen(json), &errs), -EINVAL);
    assert_true(errs.n >= 1);
    assert_non_null(strstr(errs.msgs[0], "'procstat' must be an array"));
    cfg_errors_release(&errs);

    cfg_errors_init(&errs);
    json = "{\"metrics\": {\"metrics_collected\": {\"procstat\": [\n"
           "{\"exe\": \"sshd\", \"measurement\": [\"pid\"]},\n"
           "{\"exe\": \"x\", \"pattern\": \"y\", \"measurement\": [\"pid\"]}]}},\n"
           " \"osprey\": {\"sinks\": {\"stdout\": {}}}}";
    assert_int_equal(settings_load_buffer(&s, "t.json", json, strlen(json), &errs), -EINVAL);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.msgs[0], "t.json:3:"));
    assert_non_null(strstr(errs.msgs[0], "'pattern' cannot be combined"));
    cfg_errors_release(&errs);
}

static int teardown(void **state)
{
    (void)state;
    procfs_buf_release(&fixture_buf);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_fixtures),
        cmocka_unit_test(test_stat_bad),
        cmocka_unit_test(test_status_fixtures),
        cmocka_unit_test(test_status_bad),
        cmocka_unit_test(test_io),
        cmocka_unit_test(test_cmdline_and_name),
        cmocka_unit_test(test_pidfile),
        cmocka_unit_test(test_cpu_usage_math),
        cmocka_unit_test(test_directories),
        cmocka_unit_test(test_collector_pid_file),
        cmocka_unit_test(test_collector_pid_file_problems),
        cmocka_unit_test(test_collector_exe_two_scrapes),
        cmocka_unit_test(test_collector_exe_long_name_and_pattern),
        cmocka_unit_test(test_collector_garbage),
        cmocka_unit_test(test_collector_ring_full),
        cmocka_unit_test(test_collector_config_errors),
        cmocka_unit_test(test_settings_instances),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
