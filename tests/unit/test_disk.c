/*
 * Tests for collectors/procfs_disk.{h,c} (swap, vmstat, mount table and diskstats
 * parsers, and the swap/disk math) and for the swap, disk and diskio collectors built
 * on them, driven on a real libuv loop against the fixture trees in tests/data/proc/
 * (copied into a scratch proc root when a test changes them between scrapes).
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
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/record.h"
#include "agent/ring.h"
#include "collectors/collector.h"
#include "collector_test.h"
#include "collectors/procfs.h"
#include "collectors/procfs_disk.h"

extern const struct collector_type collector_swap;
extern const struct collector_type collector_disk;
extern const struct collector_type collector_diskio;

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

static int parse_swap_str(const char *s, struct procfs_swap *ret)
{
    return procfs_parse_swap(s, strlen(s), ret);
}

static int parse_vmstat_str(const char *s, struct procfs_vmstat_swap *ret)
{
    return procfs_parse_vmstat_swap(s, strlen(s), ret);
}

/* Every line of a diskstats text: entries into out (up to cap), codes of bad lines. */
struct walk {
    struct procfs_diskstat d[16];
    size_t n;
    int bad[16];
    size_t n_bad;
};

static void walk_diskstats(const char *buf, size_t len, struct walk *w)
{
    struct procfs_cursor cur;
    struct procfs_diskstat s;
    int r;
    memset(w, 0, sizeof(*w));
    procfs_cursor_init(&cur, buf, len);
    while ((r = procfs_diskstats_next(&cur, &s)) != 0) {
        if (r < 0) {
            assert_true(w->n_bad < 16);
            w->bad[w->n_bad++] = r;
        } else {
            assert_int_equal(r, 1);
            assert_true(w->n < 16);
            w->d[w->n++] = s;
        }
    }
}

static void walk_diskstats_str(const char *s, struct walk *w)
{
    walk_diskstats(s, strlen(s), w);
}

/* ---- swap ------------------------------------------------------------------------- */

static void test_swap_fixtures(void **state)
{
    (void)state;
    struct procfs_swap sw;
    struct procfs_swap_stats s;
    const struct procfs_buf *b = fixture("kernel-2.6.32", "meminfo");
    assert_int_equal(procfs_parse_swap(b->data, b->len, &sw), 0);
    assert_int_equal(sw.total, 4194296 * KB);
    assert_int_equal(sw.free, 4172892 * KB);
    procfs_swap_compute(&sw, &s);
    assert_int_equal(s.used, (4194296 - 4172892) * KB);
    assert_near(s.used_percent, 100.0 * (4194296 - 4172892) / 4194296, "used_percent");

    b = fixture("kernel-2.6.9", "meminfo");
    assert_int_equal(procfs_parse_swap(b->data, b->len, &sw), 0);
    assert_int_equal(sw.total, 2040212 * KB);
    procfs_swap_compute(&sw, &s);
    assert_int_equal(s.used, 0);
    assert_true(s.used_percent == 0);

    /* This machine: no swap at all publishes zeros, not a division by zero. */
    b = fixture("real", "meminfo");
    assert_int_equal(procfs_parse_swap(b->data, b->len, &sw), 0);
    procfs_swap_compute(&sw, &s);
    assert_true(s.used_percent == 0);
    assert_int_equal(s.used, sw.total - sw.free);

    /* multicore has SwapTotal but no SwapFree. */
    b = fixture("multicore", "meminfo");
    assert_int_equal(procfs_parse_swap(b->data, b->len, &sw), -EBADMSG);
    b = fixture("truncated", "meminfo");
    assert_int_equal(procfs_parse_swap(b->data, b->len, &sw), -EBADMSG);
    b = fixture("garbage", "meminfo");
    assert_int_equal(procfs_parse_swap(b->data, b->len, &sw), -EBADMSG);
}

static void test_swap_edges(void **state)
{
    (void)state;
    struct procfs_swap sw;
    struct procfs_swap_stats s;
    assert_int_equal(parse_swap_str("SwapFree: 1 kB\nSwapTotal: 3 kB\n", &sw), 0);
    assert_int_equal(sw.total, 3 * KB);
    assert_int_equal(sw.free, 1 * KB);
    /* Free above total (a racy read) clamps used at 0. */
    assert_int_equal(parse_swap_str("SwapTotal: 3 kB\nSwapFree: 5 kB\n", &sw), 0);
    procfs_swap_compute(&sw, &s);
    assert_int_equal(s.used, 0);
    assert_true(s.used_percent == 0);

    const char *bad[] = {
        "",
        "SwapTotal: 3 kB\n",                                  /* no SwapFree */
        "SwapTotal: 3 kB\nSwapFree: 1 kB",                    /* cut */
        "SwapTotal: 3 kB\nSwapFree: 1\n",                     /* no unit */
        "SwapTotal: 3 kB\nSwapFree: -1 kB\n",                 /* sign */
        "SwapTotal: 3 kB\nSwapTotal: 3 kB\nSwapFree: 1 kB\n", /* duplicate */
        "SwapTotal: 3 kB\nSwapFree: 18014398509481984 kB\n",  /* bytes overflow u64 */
        "SwapTotal 3 kB\nSwapFree: 1 kB\n",                   /* no colon */
        "SwapTotal: 3 kB\nSwapFree: 1 kB\n\n",                /* empty line */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_swap_str(bad[i], &sw) != -EBADMSG)
            fail_msg("accepted bad swap input %zu", i);
}

static void test_vmstat(void **state)
{
    (void)state;
    struct procfs_vmstat_swap vm;
    const struct procfs_buf *b = fixture("kernel-2.6.32", "vmstat");
    assert_int_equal(procfs_parse_vmstat_swap(b->data, b->len, &vm), 0);
    assert_true(vm.present);
    assert_int_equal(vm.pswpin, 1070);
    assert_int_equal(vm.pswpout, 5351);
    b = fixture("real", "vmstat");
    assert_int_equal(procfs_parse_vmstat_swap(b->data, b->len, &vm), 0);
    assert_true(vm.present);

    assert_int_equal(parse_vmstat_str("nr_free_pages 3\npgpgin 1\n", &vm), 0);
    assert_false(vm.present);
    assert_int_equal(parse_vmstat_str("pswpin 1\n", &vm), 0);
    assert_false(vm.present);

    b = fixture("truncated", "vmstat");
    assert_int_equal(procfs_parse_vmstat_swap(b->data, b->len, &vm), -EBADMSG);
    b = fixture("garbage", "vmstat");
    assert_int_equal(procfs_parse_vmstat_swap(b->data, b->len, &vm), -EBADMSG);
    assert_int_equal(parse_vmstat_str("", &vm), -EBADMSG);
    assert_int_equal(parse_vmstat_str("pswpin 1\npswpin 2\npswpout 1\n", &vm), -EBADMSG);
    assert_int_equal(parse_vmstat_str("pswpin 1 2\npswpout 1\n", &vm), -EBADMSG);
    assert_int_equal(parse_vmstat_str("pswpin\n", &vm), -EBADMSG);
    assert_int_equal(parse_vmstat_str("<html>\n", &vm), -EBADMSG);
}

/* ---- mount table ------------------------------------------------------------------ */

static void test_mounts_fixture(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("multicore", "self/mounts");
    char scratch[4096];
    struct procfs_cursor cur;
    struct procfs_mount m;
    procfs_cursor_init(&cur, b->data, b->len);
    const char *want[][3] = {
        {"sysfs", "/sys", "sysfs"},
        {"proc", "/proc", "proc"},
        {"/dev/nvme0n1p1", "/", "xfs"},
        {"tmpfs", "/run", "tmpfs"},
        {"/dev/nvme1n1", "/mnt/data dir", "ext4"}, /* "\040" decoded */
        {"overlay", "/var/lib/docker/overlay2/abc/merged", "overlay"},
    };
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 1);
        assert_string_equal(m.device, want[i][0]);
        assert_string_equal(m.mount_point, want[i][1]);
        assert_string_equal(m.fstype, want[i][2]);
    }
    assert_string_equal(m.options, "rw,relatime,lowerdir=/a,upperdir=/b,workdir=/c");
    assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 0);
    assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 0);

    /* This machine's table: every line parses. */
    b = fixture("real", "self/mounts");
    size_t lines = 0, ok = 0;
    for (size_t i = 0; i < b->len; i++)
        lines += b->data[i] == '\n';
    static char big[1 << 16];
    assert_true(b->len < sizeof(big));
    procfs_cursor_init(&cur, b->data, b->len);
    int r;
    while ((r = procfs_mounts_next(&cur, big, sizeof(big), &m)) != 0) {
        assert_int_equal(r, 1);
        assert_true(m.mount_point[0] == '/');
        ok++;
    }
    assert_int_equal(ok, lines);
}

static void test_mounts_bad(void **state)
{
    (void)state;
    char scratch[256];
    struct procfs_cursor cur;
    struct procfs_mount m;

    /* garbage: three bad lines, each skipped on its own. */
    const struct procfs_buf *b = fixture("garbage", "self/mounts");
    procfs_cursor_init(&cur, b->data, b->len);
    for (int i = 0; i < 3; i++)
        assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), -EBADMSG);
    assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 0);

    /* truncated: the complete line, then the cut one. */
    b = fixture("truncated", "self/mounts");
    procfs_cursor_init(&cur, b->data, b->len);
    assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 1);
    assert_string_equal(m.mount_point, "/");
    assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), -EBADMSG);
    assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 0);

    const char *bad[] = {
        "a /b c d 0\n",         /* five fields */
        "a /b c d 0 0 0\n",     /* seven */
        "a /b c d x 0\n",       /* dump not a number */
        "a /b\\04 c d 0 0\n",   /* short escape */
        "a /b\\000 c d 0 0\n",  /* NUL */
        "a /b\\8 c d 0 0\n",    /* not octal */
        "a /b\\400x c d 0 0\n", /* above 255 */
        "\n",
        "a b c d 0 0\n", /* relative mount point */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        procfs_cursor_init(&cur, bad[i], strlen(bad[i]));
        int r = procfs_mounts_next(&cur, scratch, sizeof(scratch), &m);
        if (r != -EBADMSG)
            fail_msg("bad mount line %zu: got %d", i, r);
        assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 0);
    }

    /* Escapes of space, tab, newline and backslash; tabs between fields. */
    const char *esc = "dev\\040x /a\\011b\\012c\\134d ext4\trw 0 0\n";
    procfs_cursor_init(&cur, esc, strlen(esc));
    assert_int_equal(procfs_mounts_next(&cur, scratch, sizeof(scratch), &m), 1);
    assert_string_equal(m.device, "dev x");
    assert_string_equal(m.mount_point, "/a\tb\nc\\d");

    /* Scratch too small for the decoded fields. */
    const char *line = "/dev/sda1 /boot ext4 rw 0 0\n";
    procfs_cursor_init(&cur, line, strlen(line));
    assert_int_equal(procfs_mounts_next(&cur, scratch, 12, &m), -ENAMETOOLONG);
    procfs_cursor_init(&cur, line, strlen(line));
    assert_int_equal(procfs_mounts_next(&cur, scratch, strlen(line), &m), 1);
}

static void test_disk_usage_math(void **state)
{
    (void)state;
    struct procfs_disk_usage u;
    /* df: 4 KiB blocks, 1000 total, 300 free of which 250 available to non-root. */
    struct procfs_statfs st = {
        .frsize = 4096, .blocks = 1000, .bfree = 300, .bavail = 250, .files = 640, .ffree = 600};
    procfs_disk_usage_compute(&st, &u);
    assert_int_equal(u.total, 1000 * 4096);
    assert_int_equal(u.free, 250 * 4096);
    assert_int_equal(u.used, 700 * 4096);
    assert_near(u.used_percent, 100.0 * 700 / 950, "used_percent"); /* reserved excluded */
    assert_int_equal(u.inodes_total, 640);
    assert_int_equal(u.inodes_free, 600);
    assert_int_equal(u.inodes_used, 40);
    assert_near(u.inodes_used_percent, 6.25, "inodes_used_percent");

    /* proc, sysfs: all zero, no division by zero. */
    memset(&st, 0, sizeof(st));
    procfs_disk_usage_compute(&st, &u);
    assert_int_equal(u.total, 0);
    assert_true(u.used_percent == 0 && u.inodes_used_percent == 0);

    /* bfree above blocks (never seen, but statfs is the kernel's word) clamps. */
    st = (struct procfs_statfs){
        .frsize = 512, .blocks = 10, .bfree = 20, .bavail = 20, .files = 1, .ffree = 5};
    procfs_disk_usage_compute(&st, &u);
    assert_int_equal(u.used, 0);
    assert_int_equal(u.inodes_used, 0);
    assert_true(u.used_percent == 0);
}

/* ---- diskstats -------------------------------------------------------------------- */

static void test_diskstats_columns(void **state)
{
    (void)state;
    struct walk w;
    /* 2.6.32: 14 columns. */
    const struct procfs_buf *b = fixture("kernel-2.6.32", "diskstats");
    walk_diskstats(b->data, b->len, &w);
    assert_int_equal(w.n_bad, 0);
    assert_int_equal(w.n, 5);
    const struct procfs_diskstat *sda = &w.d[1];
    assert_string_equal(sda->name, "sda");
    assert_int_equal(sda->major, 8);
    assert_int_equal(sda->minor, 0);
    assert_int_equal(sda->n_stats, 11);
    assert_int_equal(sda->reads, 48823);
    assert_int_equal(sda->reads_merged, 10112);
    assert_int_equal(sda->read_sectors, 1650202);
    assert_int_equal(sda->read_ms, 244013);
    assert_int_equal(sda->writes, 36214);
    assert_int_equal(sda->writes_merged, 77901);
    assert_int_equal(sda->write_sectors, 913112);
    assert_int_equal(sda->write_ms, 1502811);
    assert_int_equal(sda->in_progress, 0);
    assert_int_equal(sda->io_ms, 262402);
    assert_int_equal(sda->weighted_io_ms, 1746810);
    assert_int_equal(sda->discards + sda->flushes, 0);
    assert_string_equal(w.d[4].name, "dm-0");
    assert_int_equal(w.d[4].major, 253);

    /* 5.5+: 20 columns; 4.18+: 18 columns (dm-0 line). */
    b = fixture("multicore", "diskstats");
    walk_diskstats(b->data, b->len, &w);
    assert_int_equal(w.n_bad, 0);
    assert_int_equal(w.n, 5);
    assert_string_equal(w.d[0].name, "nvme0n1");
    assert_int_equal(w.d[0].n_stats, 17);
    assert_int_equal(w.d[0].in_progress, 2);
    assert_int_equal(w.d[0].flushes, 100);
    assert_int_equal(w.d[0].flush_ms, 50);
    assert_int_equal(w.d[4].n_stats, 15);
    assert_int_equal(w.d[4].discards, 7);
    assert_int_equal(w.d[4].discard_sectors, 56);
    assert_int_equal(w.d[4].discard_ms, 3);
    assert_int_equal(w.d[4].flushes, 0);

    /* 2.6.9: partition lines have 4 counters (7 columns): skipped as -EPROTO. */
    b = fixture("kernel-2.6.9", "diskstats");
    walk_diskstats(b->data, b->len, &w);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.d[0].name, "hda");
    assert_int_equal(w.d[0].weighted_io_ms, 23705160);
    assert_string_equal(w.d[1].name, "sda");
    assert_int_equal(w.n_bad, 2);
    assert_int_equal(w.bad[0], -EPROTO);
    assert_int_equal(w.bad[1], -EPROTO);

    /* This machine. */
    b = fixture("real", "diskstats");
    walk_diskstats(b->data, b->len, &w);
    assert_int_equal(w.n_bad, 0);
    assert_true(w.n > 0);

    /* A future kernel's extra columns are ignored. */
    walk_diskstats_str("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n", &w);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.d[0].n_stats, 17);
    assert_int_equal(w.d[0].flush_ms, 17);
}

static void test_diskstats_bad(void **state)
{
    (void)state;
    struct walk w;
    const struct procfs_buf *b = fixture("truncated", "diskstats");
    walk_diskstats(b->data, b->len, &w);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.n_bad, 1);
    assert_int_equal(w.bad[0], -EBADMSG);

    b = fixture("garbage", "diskstats");
    walk_diskstats(b->data, b->len, &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(w.n_bad, 1);

    const char *bad[] = {
        "8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n",
        "8 0 sda 1 2 3 4 5 6 7 8 9 10 11x\n",
        "8 0 sda 1 2 3 4 5 6 7 8 9 10 18446744073709551616\n", /* 2^64 */
        "8 sda 1 2 3 4 5 6 7 8 9 10 11\n",                     /* no minor */
        "4294967296 0 sda 1 2 3 4 5 6 7 8 9 10 11\n",          /* major above u32 */
        "8 0\n",
        "\n",
        "8 0 sd\001a 1 2 3 4 5 6 7 8 9 10 11\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        walk_diskstats_str(bad[i], &w);
        if (w.n != 0 || w.n_bad != 1 || w.bad[0] != -EBADMSG)
            fail_msg("bad diskstats line %zu: n=%zu bad=%zu code=%d", i, w.n, w.n_bad,
                     w.n_bad ? w.bad[0] : 0);
    }
    walk_diskstats_str("8 0 sda 1 2 3 4 5 6 7 8 9 10\n", &w); /* 13 columns */
    assert_int_equal(w.bad[0], -EPROTO);
    char line[200];
    snprintf(line, sizeof(line), "8 0 %064d 1 2 3 4 5 6 7 8 9 10 11\n", 7);
    walk_diskstats_str(line, &w);
    assert_int_equal(w.n_bad, 1);
    assert_int_equal(w.bad[0], -ENAMETOOLONG);
    snprintf(line, sizeof(line), "8 0 %063d 18446744073709551615 2 3 4 5 6 7 8 9 10 11\n", 7);
    walk_diskstats_str(line, &w);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.d[0].reads, UINT64_MAX);
}

/* ---- collectors on a loop --------------------------------------------------------- */

struct got_metric {
    char name[64];
    char host[32];
    char dev[64];    /* diskio name= */
    char path[256];  /* disk path= */
    char device[64]; /* disk device= */
    char fstype[32];
    bool has_device;
    enum metric_unit unit;
    double value;
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

static void write_file(const char *path, const char *data, size_t len)
{
    /* write-temp-then-rename: the collector never sees a half-written file */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void copy_fixture(const char *dir, const char *file, const char *to_dir)
{
    const struct procfs_buf *b = fixture(dir, file);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", to_dir, file);
    write_file(path, b->data, b->len);
}

static void harness_init(struct harness *h, const struct collector_type *type, const char *json,
                         const char *proc_root, size_t ring_bytes)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(ring_init(&h->ring, ring_bytes), 0);
    h->out.ring = &h->ring;
    if (!proc_root) {
        snprintf(h->tmp, sizeof(h->tmp), "/tmp/osprey-disk-XXXXXX");
        assert_non_null(mkdtemp(h->tmp));
        char self[128];
        snprintf(self, sizeof(self), "%s/self", h->tmp);
        assert_int_equal(mkdir(self, 0755), 0);
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

static void copy_dim(char *dst, size_t cap, const char *value)
{
    snprintf(dst, cap, "%s", value);
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
        for (size_t d = 0; d < p->n_dims; d++) {
            const char *n = p->dims[d].name, *val = p->dims[d].value;
            if (strcmp(n, "host") == 0) {
                copy_dim(g->host, sizeof(g->host), val);
            } else if (strcmp(n, "name") == 0) {
                copy_dim(g->dev, sizeof(g->dev), val);
            } else if (strcmp(n, "path") == 0) {
                copy_dim(g->path, sizeof(g->path), val);
            } else if (strcmp(n, "device") == 0) {
                copy_dim(g->device, sizeof(g->device), val);
                g->has_device = true;
            } else if (strcmp(n, "fstype") == 0) {
                copy_dim(g->fstype, sizeof(g->fstype), val);
            } else {
                fail_msg("unexpected dimension '%s'", n);
            }
        }
        assert_string_equal(g->host, "testhost");
        ring_consume(&h->ring);
    }
}

/* Some sign that a scrape ran: a read (bytes_in) or a counted failure (records_in). */
static uint64_t progress(struct harness *h)
{
    return selfstats_get(&h->c->stats.bytes_in) + selfstats_get(&h->c->stats.records_in);
}

/* Run one more scrape (the first fires at once, later ones after the interval). */
static void run_scrape(struct harness *h)
{
    uint64_t before = progress(h);
    for (int i = 0; i < 1000 && progress(h) == before; i++) {
        uv_run(&h->loop, UV_RUN_NOWAIT);
        if (progress(h) == before)
            usleep(5000);
    }
    assert_true(progress(h) > before);
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
        const char *files[] = {"diskstats", "meminfo", "vmstat", "self/mounts"};
        char path[256];
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", h->tmp, files[i]);
            unlink(path);
        }
        snprintf(path, sizeof(path), "%s/self", h->tmp);
        rmdir(path);
        rmdir(h->tmp);
    }
}

/* The one metric `name` with dimension value `key` (name= for diskio, path= for disk;
 * NULL matches any), or NULL. */
static const struct got_metric *find(const struct harness *h, size_t from, const char *name,
                                     const char *key)
{
    const struct got_metric *found = NULL;
    for (size_t i = from; i < h->n_got; i++) {
        const struct got_metric *g = &h->got[i];
        const char *k = g->dev[0] ? g->dev : g->path;
        if (strcmp(g->name, name) == 0 && (!key || strcmp(k, key) == 0)) {
            if (found)
                fail_msg("%s{%s} published twice", name, key ? key : "");
            found = g;
        }
    }
    return found;
}

static double value_of(const struct harness *h, size_t from, const char *name, const char *key,
                       enum metric_unit unit)
{
    const struct got_metric *g = find(h, from, name, key);
    if (!g)
        fail_msg("%s{%s} not published", name, key ? key : "");
    assert_int_equal(g->unit, unit);
    return g->value;
}

static void test_swap_collector(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/kernel-2.6.32", OSPREY_TEST_DATA);
    harness_init(&h, &collector_swap, "{\"metrics\": {\"metrics_collected\": {\"swap\": {}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3); /* total, in, out are opt-in */
    assert_true(value_of(&h, 0, "swap_free", NULL, METRIC_UNIT_BYTES) == 4172892.0 * 1024);
    assert_true(value_of(&h, 0, "swap_used", NULL, METRIC_UNIT_BYTES) == 21404.0 * 1024);
    assert_near(value_of(&h, 0, "swap_used_percent", NULL, METRIC_UNIT_PERCENT),
                100.0 * 21404 / 4194296, "used_percent");
    assert_int_equal(selfstats_get(&h.c->stats.records_out), 3);
    harness_release(&h);

    harness_init(&h, &collector_swap,
                 "{\"metrics\": {\"metrics_collected\": {\"swap\": {\"measurement\": "
                 "[\"swap_in\", \"out\", {\"name\": \"total\", \"rename\": \"SwapSize\", "
                 "\"unit\": \"Megabytes\"}]}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3);
    double page = (double)sysconf(_SC_PAGESIZE);
    assert_true(value_of(&h, 0, "swap_in", NULL, METRIC_UNIT_BYTES) == 1070 * page);
    assert_true(value_of(&h, 0, "swap_out", NULL, METRIC_UNIT_BYTES) == 5351 * page);
    assert_true(value_of(&h, 0, "SwapSize", NULL, METRIC_UNIT_MEGABYTES) == 4194296.0 * 1024);
    harness_release(&h);

    /* meminfo without SwapFree: nothing, one counted failure; vmstat garbage only costs
     * in/out. */
    snprintf(root, sizeof(root), "%s/proc/multicore", OSPREY_TEST_DATA);
    harness_init(&h, &collector_swap, "{\"metrics\": {\"metrics_collected\": {\"swap\": {}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 0);
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 1);
    assert_int_equal(selfstats_get(&h.c->stats.rejects[1]), 1); /* meminfo_malformed */
    harness_release(&h);

    harness_init(&h, &collector_swap,
                 "{\"metrics\": {\"metrics_collected\": {\"swap\": {\"measurement\": "
                 "[\"free\", \"in\"]}}}}",
                 NULL, 1u << 16);
    copy_fixture("kernel-2.6.9", "meminfo", h.tmp);
    const char *vm = "pswpin x\npswpout 1\n";
    char path[256];
    snprintf(path, sizeof(path), "%s/vmstat", h.tmp);
    write_file(path, vm, strlen(vm));
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 1);
    assert_true(value_of(&h, 0, "swap_free", NULL, METRIC_UNIT_BYTES) == 2040212.0 * 1024);
    assert_int_equal(selfstats_get(&h.c->stats.rejects[3]), 1); /* vmstat_malformed */
    assert_int_equal(selfstats_get(&h.c->stats.errors), 1);
    harness_release(&h);
}

static void test_diskio_collector_deltas(void **state)
{
    (void)state;
    static struct harness h;
    harness_init(&h, &collector_diskio,
                 "{\"metrics\": {\"metrics_collected\": {\"diskio\": {\"resources\": [\"*\"], "
                 "\"metrics_collection_interval\": 1}}}}",
                 NULL, 1u << 18);
    copy_fixture("multicore", "diskstats", h.tmp);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);

    /* First scrape: the gauge only, for each of the 5 devices. */
    run_scrape(&h);
    assert_int_equal(h.n_got, 5);
    assert_true(value_of(&h, 0, "diskio_iops_in_progress", "nvme0n1", METRIC_UNIT_COUNT) == 2);
    assert_true(value_of(&h, 0, "diskio_iops_in_progress", "loop0", METRIC_UNIT_COUNT) == 0);

    /* One interval later: xvda's counters went back (re-created), loop0 went away,
     * loop1 appeared. */
    size_t from = h.n_got;
    copy_fixture("multicore-t1", "diskstats", h.tmp);
    run_scrape(&h);
    const char *nv = "nvme0n1";
    assert_true(value_of(&h, from, "diskio_reads", nv, METRIC_UNIT_COUNT) == 100);
    assert_true(value_of(&h, from, "diskio_writes", nv, METRIC_UNIT_COUNT) == 250);
    assert_true(value_of(&h, from, "diskio_read_bytes", nv, METRIC_UNIT_BYTES) == 8000.0 * 512);
    assert_true(value_of(&h, from, "diskio_write_bytes", nv, METRIC_UNIT_BYTES) == 20000.0 * 512);
    assert_true(value_of(&h, from, "diskio_read_time", nv, METRIC_UNIT_MILLISECONDS) == 20);
    assert_true(value_of(&h, from, "diskio_write_time", nv, METRIC_UNIT_MILLISECONDS) == 300);
    assert_true(value_of(&h, from, "diskio_io_time", nv, METRIC_UNIT_MILLISECONDS) == 600);
    assert_true(value_of(&h, from, "diskio_iops_in_progress", nv, METRIC_UNIT_COUNT) == 5);
    assert_null(find(&h, from, "diskio_weighted_io_time", nv)); /* opt-in */
    assert_true(value_of(&h, from, "diskio_reads", "dm-0", METRIC_UNIT_COUNT) == 5);
    assert_true(value_of(&h, from, "diskio_write_bytes", "dm-0", METRIC_UNIT_BYTES) == 160.0 * 512);
    /* Reset and new device: the gauge only. */
    assert_null(find(&h, from, "diskio_reads", "xvda"));
    assert_null(find(&h, from, "diskio_io_time", "xvda"));
    assert_true(value_of(&h, from, "diskio_iops_in_progress", "xvda", METRIC_UNIT_COUNT) == 0);
    assert_null(find(&h, from, "diskio_reads", "loop1"));
    assert_non_null(find(&h, from, "diskio_iops_in_progress", "loop1"));
    assert_null(find(&h, from, "diskio_iops_in_progress", "loop0"));
    /* 3 devices with 8 values, 2 with the gauge alone. */
    assert_int_equal(h.n_got - from, 3 * 8 + 2);

    /* Third scrape on the same file: zero deltas for everyone now primed, including
     * xvda (primed by the reset) and loop1. */
    from = h.n_got;
    run_scrape(&h);
    assert_int_equal(h.n_got - from, 5 * 8);
    assert_true(value_of(&h, from, "diskio_reads", "xvda", METRIC_UNIT_COUNT) == 0);
    assert_true(value_of(&h, from, "diskio_reads", "loop1", METRIC_UNIT_COUNT) == 0);

    /* loop0 comes back after missing a scrape: primed again, no delta against its old
     * counters. */
    from = h.n_got;
    copy_fixture("multicore", "diskstats", h.tmp);
    run_scrape(&h);
    assert_null(find(&h, from, "diskio_reads", "loop0"));
    assert_non_null(find(&h, from, "diskio_iops_in_progress", "loop0"));

    assert_int_equal(selfstats_get(&h.c->stats.records_in), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);
}

static void test_diskio_collector_options(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];

    /* report_deltas false: cumulative values from the first scrape; globs; opt-in
     * fields when listed. */
    snprintf(root, sizeof(root), "%s/proc/multicore", OSPREY_TEST_DATA);
    harness_init(&h, &collector_diskio,
                 "{\"metrics\": {\"metrics_collected\": {\"diskio\": {\"resources\": "
                 "[\"nvme*\", \"dm-?\"], \"report_deltas\": false, \"measurement\": "
                 "[\"diskio_reads\", \"weighted_io_time\", \"merged_writes\", "
                 "{\"name\": \"write_bytes\", \"rename\": \"WB\"}]}}}}",
                 root, 1u << 18);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3 * 4); /* nvme0n1, nvme0n1p1, dm-0 */
    assert_true(value_of(&h, 0, "diskio_reads", "nvme0n1", METRIC_UNIT_COUNT) == 1000);
    assert_true(value_of(&h, 0, "diskio_weighted_io_time", "nvme0n1p1", METRIC_UNIT_MILLISECONDS) ==
                3350);
    assert_true(value_of(&h, 0, "diskio_merged_writes", "dm-0", METRIC_UNIT_COUNT) == 0);
    assert_true(value_of(&h, 0, "WB", "dm-0", METRIC_UNIT_BYTES) == 160.0 * 512);
    assert_null(find(&h, 0, "diskio_reads", "xvda"));
    harness_release(&h);

    /* Old kernel: the 7-column partition lines are counted and skipped, the disks
     * still publish. */
    snprintf(root, sizeof(root), "%s/proc/kernel-2.6.9", OSPREY_TEST_DATA);
    harness_init(&h, &collector_diskio, "{\"metrics\": {\"metrics_collected\": {\"diskio\": {}}}}",
                 root, 1u << 18);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 2);
    assert_int_equal(selfstats_get(&h.c->stats.rejects[2]), 2); /* line_short */
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 2);
    harness_release(&h);

    /* Cut and garbage files: the good lines are used, the bad ones counted; a missing
     * file is one counted failure and the timer goes on. */
    const char *roots[] = {"truncated", "garbage", "missing"};
    const size_t want_got[] = {1, 0, 0};
    const unsigned want_reason[] = {1, 1, 0};
    for (size_t i = 0; i < 3; i++) {
        snprintf(root, sizeof(root), "%s/proc/%s", OSPREY_TEST_DATA, roots[i]);
        harness_init(&h, &collector_diskio,
                     "{\"metrics\": {\"metrics_collected\": {\"diskio\": {}}}}", root, 1u << 16);
        assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
        run_scrape(&h);
        assert_int_equal(h.n_got, want_got[i]);
        assert_int_equal(selfstats_get(&h.c->stats.rejects[want_reason[i]]), 1);
        assert_int_equal(selfstats_get(&h.c->stats.errors), 1);
        assert_true(uv_loop_alive(&h.loop));
        harness_release(&h);
    }
}

/* A mount table over real directories, so statvfs has something to measure. */
static void test_disk_collector(void **state)
{
    (void)state;
    static struct harness h;
    char dir_a[64], dir_b[80], table[2048], path[256];
    snprintf(dir_a, sizeof(dir_a), "/tmp/osprey-mnt-XXXXXX");
    assert_non_null(mkdtemp(dir_a));
    snprintf(dir_b, sizeof(dir_b), "%s/b dir", dir_a); /* a space: "\040" in the table */
    assert_int_equal(mkdir(dir_b, 0755), 0);
    char dir_b_escaped[96];
    snprintf(dir_b_escaped, sizeof(dir_b_escaped), "%s/b\\040dir", dir_a);

    harness_init(&h, &collector_disk,
                 "{\"metrics\": {\"metrics_collected\": {\"disk\": {\"resources\": [\"*\"], "
                 "\"ignore_file_system_types\": [\"sysfs\", \"overlay\"]}}}}",
                 NULL, 1u << 18);
    snprintf(table, sizeof(table),
             "sysfs /sys sysfs rw 0 0\n"
             "proc /proc proc rw 0 0\n"
             "/dev/old %s ext4 rw 0 0\n"    /* shadowed by the next line */
             "/dev/nvme1n1 %s xfs rw 0 0\n" /* the mount on top */
             "tmpfs %s tmpfs rw 0 0\n"
             "overlay /var/lib/x overlay rw 0 0\n"
             "/dev/gone /nonexistent-osprey-mount ext4 rw 0 0\n"
             "this line is garbage\n",
             dir_a, dir_a, dir_b_escaped);
    snprintf(path, sizeof(path), "%s/self/mounts", h.tmp);
    write_file(path, table, strlen(table));
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);

    /* dir_a and dir_b, 7 values each; /proc is a dummy (total 0); sysfs and overlay
     * ignored; the missing mount point and the garbage line counted. */
    assert_int_equal(h.n_got, 2 * 7);
    struct statvfs sv;
    assert_int_equal(statvfs(dir_a, &sv), 0);
    double frsize = (double)(sv.f_frsize ? sv.f_frsize : sv.f_bsize);
    assert_true(value_of(&h, 0, "disk_total", dir_a, METRIC_UNIT_BYTES) ==
                (double)sv.f_blocks * frsize);
    assert_true(value_of(&h, 0, "disk_inodes_total", dir_a, METRIC_UNIT_COUNT) ==
                (double)sv.f_files);
    assert_non_null(find(&h, 0, "disk_free", dir_a));
    assert_non_null(find(&h, 0, "disk_used", dir_a));
    assert_non_null(find(&h, 0, "disk_inodes_free", dir_a));
    assert_non_null(find(&h, 0, "disk_inodes_used", dir_a));
    double pct = value_of(&h, 0, "disk_used_percent", dir_a, METRIC_UNIT_PERCENT);
    assert_true(pct >= 0 && pct <= 100);
    const struct got_metric *g = find(&h, 0, "disk_total", dir_a);
    assert_string_equal(g->device, "nvme1n1"); /* "/dev/" removed, top mount */
    assert_string_equal(g->fstype, "xfs");
    g = find(&h, 0, "disk_total", dir_b);
    assert_non_null(g);
    assert_string_equal(g->device, "tmpfs");
    assert_string_equal(g->fstype, "tmpfs");
    assert_null(find(&h, 0, "disk_total", "/proc"));
    assert_null(find(&h, 0, "disk_total", "/sys"));
    assert_int_equal(selfstats_get(&h.c->stats.rejects[3]), 1); /* statfs_failed */
    assert_int_equal(selfstats_get(&h.c->stats.rejects[1]), 1); /* mount_line_malformed */
    assert_int_equal(selfstats_get(&h.c->stats.records_in), h.n_got + 2);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), h.n_got);
    harness_release(&h);

    /* resources (exact), drop_device, measurement with the opt-in field. */
    harness_init(&h, &collector_disk,
                 "{\"metrics\": {\"metrics_collected\": {\"disk\": {\"resources\": [\"/none\", "
                 "\"/tmp\"], \"drop_device\": true, \"measurement\": [\"used_percent\", "
                 "\"disk_inodes_used_percent\"]}}}}",
                 NULL, 1u << 18);
    snprintf(table, sizeof(table), "/dev/vda /tmp ext4 rw 0 0\n/dev/vdb %s ext4 rw 0 0\n", dir_a);
    snprintf(path, sizeof(path), "%s/self/mounts", h.tmp);
    write_file(path, table, strlen(table));
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 2);
    assert_false(find(&h, 0, "disk_used_percent", "/tmp")->has_device);
    assert_non_null(find(&h, 0, "disk_inodes_used_percent", "/tmp"));
    assert_null(find(&h, 0, "disk_used_percent", dir_a));
    harness_release(&h);

    assert_int_equal(rmdir(dir_b), 0);
    assert_int_equal(rmdir(dir_a), 0);

    /* An unreadable table: one counted failure. */
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/missing", OSPREY_TEST_DATA);
    harness_init(&h, &collector_disk, "{\"metrics\": {\"metrics_collected\": {\"disk\": {}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 0);
    assert_int_equal(selfstats_get(&h.c->stats.rejects[0]), 1); /* mounts_unreadable */
    harness_release(&h);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct {
        const struct collector_type *type;
        const char *json;
        size_t n_errors;
    } cases[] = {
        {&collector_disk, "{\"resources\": [\"tmp\"]}", 1},
        {&collector_disk, "{\"drop_device\": \"yes\", \"ignore_file_system_types\": \"tmpfs\"}", 2},
        {&collector_diskio, "{\"skip_serial_number\": true}", 1},
        {&collector_diskio, "{\"report_deltas\": 1}", 1},
        {&collector_diskio, "{\"measurement\": [\"diskio_bogus\", \"read_bytes\"]}", 1},
        {&collector_swap, "{\"resources\": [\"*\"]}", 1},
        {&collector_swap, "{\"measurement\": [\"swap_cached\"]}", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg_doc doc;
        struct cfg_errors errs;
        struct plugin_env env = {.proc_root = "/proc", .metrics_interval_ns = 60 * NS_PER_SEC};
        cfg_errors_init(&errs);
        assert_int_equal(
            cfg_doc_load_buffer(&doc, "t.json", cases[i].json, strlen(cases[i].json), &errs), 0);
        struct plugin_cfg cfg = {.doc = &doc, .path = "", .errs = &errs};
        struct collector *c = NULL;
        int r = collector_create(cases[i].type, cases[i].type->name, 1, &env, &cfg, doc.root, &c);
        if (r != -EINVAL || errs.n != cases[i].n_errors) {
            for (size_t e = 0; e < errs.n; e++)
                fprintf(stderr, "case %zu: %s\n", i, errs.msgs[e]);
            fail_msg("case %zu: r=%d, %zu errors, want %zu", i, r, errs.n, cases[i].n_errors);
        }
        assert_null(c);
        cfg_doc_release(&doc);
        cfg_errors_release(&errs);
    }
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
        cmocka_unit_test(test_swap_fixtures),
        cmocka_unit_test(test_swap_edges),
        cmocka_unit_test(test_vmstat),
        cmocka_unit_test(test_mounts_fixture),
        cmocka_unit_test(test_mounts_bad),
        cmocka_unit_test(test_disk_usage_math),
        cmocka_unit_test(test_diskstats_columns),
        cmocka_unit_test(test_diskstats_bad),
        cmocka_unit_test(test_swap_collector),
        cmocka_unit_test(test_diskio_collector_deltas),
        cmocka_unit_test(test_diskio_collector_options),
        cmocka_unit_test(test_disk_collector),
        cmocka_unit_test(test_config_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, teardown_fixture);
    return failed;
}
