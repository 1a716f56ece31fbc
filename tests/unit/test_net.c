/*
 * Tests for collectors/procfs_net.{h,c} (/proc/net/dev and socket-table parsers, the
 * streaming socket scan) and for the net and netstat collectors built on them, driven
 * on a real libuv loop against the fixture trees in tests/data/proc/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
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
#include "collectors/procfs_net.h"

extern const struct collector_type collector_net;
extern const struct collector_type collector_netstat;

#include "alloc_hooks.h"

/* ---- helpers ---------------------------------------------------------------------- */

static struct procfs_buf fixture_buf;

static const struct procfs_buf *fixture(const char *dir, const char *file)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/proc/%s/%s", OSPREY_TEST_DATA, dir, file);
    int r = procfs_read_file(path, &fixture_buf);
    if (r != 0)
        fail_msg("cannot read fixture '%s': %s", path, strerror(-r));
    return &fixture_buf;
}

static void fixture_path(char *buf, size_t cap, const char *dir, const char *file)
{
    snprintf(buf, cap, "%s/proc/%s/%s", OSPREY_TEST_DATA, dir, file);
}

/* Every interface line of a /proc/net/dev buffer; returns how many parsed. */
static size_t parse_dev(const char *buf, size_t len, struct procfs_netdev_if *ifs, size_t cap,
                        size_t *bad, size_t *cut)
{
    size_t off = 0, n = 0;
    *bad = *cut = 0;
    assert_int_equal(procfs_netdev_header(buf, len, &off), 0);
    for (;;) {
        struct procfs_netdev_if one;
        int r = procfs_netdev_next(buf, len, &off, &one);
        if (r == 0)
            break;
        if (r == -ENODATA) {
            (*cut)++;
            break;
        }
        if (r == -EBADMSG) {
            (*bad)++;
            continue;
        }
        assert_int_equal(r, 1);
        assert_true(n < cap);
        ifs[n++] = one;
    }
    return n;
}

static void assert_if(const struct procfs_netdev_if *i, const char *name, uint64_t rb, uint64_t rp,
                      uint64_t re, uint64_t rd, uint64_t tb, uint64_t tp, uint64_t te, uint64_t td)
{
    assert_string_equal(i->name, name);
    assert_int_equal(i->v[PROCFS_NETDEV_RX_BYTES], rb);
    assert_int_equal(i->v[PROCFS_NETDEV_RX_PACKETS], rp);
    assert_int_equal(i->v[PROCFS_NETDEV_RX_ERRS], re);
    assert_int_equal(i->v[PROCFS_NETDEV_RX_DROP], rd);
    assert_int_equal(i->v[PROCFS_NETDEV_TX_BYTES], tb);
    assert_int_equal(i->v[PROCFS_NETDEV_TX_PACKETS], tp);
    assert_int_equal(i->v[PROCFS_NETDEV_TX_ERRS], te);
    assert_int_equal(i->v[PROCFS_NETDEV_TX_DROP], td);
}

/* ---- /proc/net/dev ---------------------------------------------------------------- */

static void test_netdev_real(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("real", "net/dev");
    struct procfs_netdev_if ifs[8];
    size_t bad, cut;
    assert_int_equal(parse_dev(b->data, b->len, ifs, 8, &bad, &cut), 4);
    assert_int_equal(bad + cut, 0);
    assert_if(&ifs[0], "lo", 24670, 251, 0, 0, 24670, 251, 0, 0);
    assert_if(&ifs[1], "ifb0", 0, 0, 0, 0, 0, 0, 0, 0);
    assert_if(&ifs[3], "eth0", 71963641, 3963, 0, 0, 332401, 3382, 0, 0);
}

static void test_netdev_old_kernel_and_columns(void **state)
{
    (void)state;
    /* 2.6.9 prints no blank after the colon: "eth0:123456789". */
    const struct procfs_buf *b = fixture("kernel-2.6.9", "net/dev");
    struct procfs_netdev_if ifs[4];
    size_t bad, cut;
    assert_int_equal(parse_dev(b->data, b->len, ifs, 4, &bad, &cut), 2);
    assert_if(&ifs[1], "eth0", 123456789, 98765, 0, 0, 87654321, 76543, 0, 0);

    /* Every column lands where gopsutil reads it (multicast, colls... are skipped). */
    const char *s = "Inter-|\n face |\n"
                    "x: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
    assert_int_equal(parse_dev(s, strlen(s), ifs, 4, &bad, &cut), 1);
    assert_if(&ifs[0], "x", 1, 2, 3, 4, 9, 10, 11, 12);
    /* u64 max is a value; one more is not. */
    s = "Inter-|\n face |\n"
        "a0123456789abcd:18446744073709551615 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n"
        "b:18446744073709551616 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n";
    assert_int_equal(parse_dev(s, strlen(s), ifs, 4, &bad, &cut), 1);
    assert_int_equal(bad, 1);
    assert_string_equal(ifs[0].name, "a0123456789abcd"); /* 15 bytes: the longest */
    assert_int_equal(ifs[0].v[PROCFS_NETDEV_RX_BYTES], UINT64_MAX);
}

static void test_netdev_bad_lines(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("badlines", "net/dev");
    struct procfs_netdev_if ifs[8];
    size_t bad, cut;
    /* lo and eth0 parse; a 22-byte name, "x" in a number and a short line are skipped;
     * the last line is cut. */
    assert_int_equal(parse_dev(b->data, b->len, ifs, 8, &bad, &cut), 2);
    assert_int_equal(bad, 3);
    assert_int_equal(cut, 1);
    assert_string_equal(ifs[1].name, "eth0");

    static const char *const bad_lines[] = {
        ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",      /* no name */
        "eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",   /* no colon */
        "et/h: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",  /* '/' */
        "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",     /* 15 numbers */
        "eth0: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", /* sign */
        "eth\0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", /* NUL in the name */
    };
    for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
        size_t off = 0;
        struct procfs_netdev_if one;
        size_t len = strlen(bad_lines[i]);
        if (i == 5)
            len = 45;
        assert_int_equal(procfs_netdev_next(bad_lines[i], len, &off, &one), -EBADMSG);
        assert_int_equal(off, len); /* skipped past its '\n' */
    }
    size_t off = 0;
    struct procfs_netdev_if one;
    /* Numbers past the 16th (a future kernel's) are read past. */
    const char *more = "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n";
    assert_int_equal(procfs_netdev_next(more, strlen(more), &off, &one), 1);
    assert_int_equal(one.v[PROCFS_NETDEV_TX_DROP], 12);
    off = 0;
    assert_int_equal(procfs_netdev_next("eth0: 1 2", 9, &off, &one), -ENODATA);
    assert_int_equal(off, 0);
    assert_int_equal(procfs_netdev_next("", 0, &off, &one), 0);
}

static void test_netdev_bad_headers(void **state)
{
    (void)state;
    size_t off = 0;
    const struct procfs_buf *b = fixture("garbage", "net/dev");
    assert_int_equal(procfs_netdev_header(b->data, b->len, &off), -EBADMSG);
    b = fixture("truncated", "net/dev");
    assert_int_equal(procfs_netdev_header(b->data, b->len, &off), -ENODATA);
    assert_int_equal(procfs_netdev_header("", 0, &off), -EBADMSG);
    assert_int_equal(procfs_netdev_header("Inter-|\n", 8, &off), -ENODATA);
    assert_int_equal(procfs_netdev_header("Inter-|\nface |\n", 15, &off), -EBADMSG);
    assert_int_equal(procfs_netdev_header("Inter-|\n face |\n", 16, &off), 0);
    assert_int_equal(off, 16);
}

/* ---- socket tables ---------------------------------------------------------------- */

static void test_sockets_parse(void **state)
{
    (void)state;
    const struct procfs_buf *b = fixture("netbusy", "net/tcp6");
    size_t off = 0;
    unsigned st;
    assert_int_equal(procfs_sockets_header(b->data, b->len, &off), 0);
    unsigned want[] = {0x0A, 0x01, 0x01};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(procfs_sockets_next(b->data, b->len, &off, &st), 1);
        assert_int_equal(st, want[i]);
    }
    assert_int_equal(procfs_sockets_next(b->data, b->len, &off, &st), 0);

    static const char *const bad_lines[] = {
        "0: 0100007F:1F90 0100007F:9C40 0A\n",     /* no blank before the slot is fine, */
        "   x: 0100007F:1F90 0100007F:9C40 0A\n",  /* but the slot is a number */
        "   0 0100007F:1F90 0100007F:9C40 0A\n",   /* "N:" */
        "   0: 0100007:1F90 0100007F:9C40 0A\n",   /* 7 hex digits */
        "   0: 0100007F:1F9 0100007F:9C40 0A\n",   /* 3-digit port */
        "   0: 0100007F:1F90 0100007F:9C40 A\n",   /* one state digit */
        "   0: 0100007F:1F90 0100007F:9C40 0AB\n", /* three */
        "   0: 0100007F:1F90 0100007F:9C40\n",     /* no state */
        "   0: 0100007F:1F900100007F:9C40 0A\n",   /* glued columns */
        "   0: 0100007F:1F90 0100007F:9C40 0x\n",  /* not hex */
    };
    for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
        off = 0;
        int r = procfs_sockets_next(bad_lines[i], strlen(bad_lines[i]), &off, &st);
        if (i == 0) {
            assert_int_equal(r, 1);
            assert_int_equal(st, 0x0A);
        } else {
            assert_int_equal(r, -EBADMSG);
        }
        assert_int_equal(off, strlen(bad_lines[i]));
    }
    off = 0;
    assert_int_equal(procfs_sockets_next("   0: 0100007F:1F90", 19, &off, &st), -ENODATA);
    /* Lowercase hex and the highest state number are taken as they are. */
    const char *s = "   0: 0100007f:1f90 0100007f:9c40 ff 0\n";
    off = 0;
    assert_int_equal(procfs_sockets_next(s, strlen(s), &off, &st), 1);
    assert_int_equal(st, 0xff);

    assert_int_equal(procfs_sockets_header("", 0, &off), -EBADMSG);
    assert_int_equal(procfs_sockets_header("  s", 3, &off), -ENODATA);
    assert_int_equal(procfs_sockets_header("  sl  local", 11, &off), -ENODATA);
    assert_int_equal(procfs_sockets_header("  slot\n", 7, &off), -EBADMSG);
    assert_int_equal(procfs_sockets_header("\n", 1, &off), -EBADMSG);
    b = fixture("garbage", "net/tcp");
    assert_int_equal(procfs_sockets_header(b->data, b->len, &off), -EBADMSG);
}

static void test_sockets_scan_chunks(void **state)
{
    (void)state;
    char path[512];
    struct procfs_sock_scan s;
    /* Whatever the chunk size (down to one line), the counts are the same. */
    static char chunk[65536];
    const size_t sizes[] = {65536, 4096, 400, 200};
    fixture_path(path, sizeof(path), "netbusy", "net/tcp");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memset(&s, 0, sizeof(s));
        assert_int_equal(procfs_net_scan_sockets(path, chunk, sizes[i], &s), 0);
        assert_int_equal(s.sockets, 15);
        assert_int_equal(s.states[0x0A], 2);
        assert_int_equal(s.states[0x01], 3);
        assert_int_equal(s.states[0x0C], 1);
        assert_int_equal(s.bad_lines + s.cut_lines, 0);
        assert_int_equal(s.bytes, fixture("netbusy", "net/tcp")->len);
    }
    /* A chunk shorter than a line is refused rather than miscounted. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(procfs_net_scan_sockets(path, chunk, 100, &s), -E2BIG);
    assert_int_equal(s.sockets, 0);

    /* Results add up across tables; bad and cut lines are counted, not fatal. */
    memset(&s, 0, sizeof(s));
    fixture_path(path, sizeof(path), "badlines", "net/tcp");
    assert_int_equal(procfs_net_scan_sockets(path, chunk, 4096, &s), 0);
    assert_int_equal(s.sockets, 2);
    assert_int_equal(s.bad_lines, 2);
    assert_int_equal(s.cut_lines, 1);
    fixture_path(path, sizeof(path), "netbusy", "net/tcp6");
    assert_int_equal(procfs_net_scan_sockets(path, chunk, 4096, &s), 0);
    assert_int_equal(s.sockets, 5);
    assert_int_equal(s.states[0x0A], 2);

    /* Files that are not socket tables, and missing ones. */
    fixture_path(path, sizeof(path), "garbage", "net/tcp");
    assert_int_equal(procfs_net_scan_sockets(path, chunk, 4096, &s), -EBADMSG);
    fixture_path(path, sizeof(path), "truncated", "net/tcp");
    assert_int_equal(procfs_net_scan_sockets(path, chunk, 4096, &s), -EBADMSG);
    fixture_path(path, sizeof(path), "missing", "net/tcp");
    assert_int_equal(procfs_net_scan_sockets(path, chunk, 4096, &s), -ENOENT);
    assert_int_equal(s.sockets, 5); /* failures add nothing */

    /* This machine's live tables parse without a bad line. */
    const char *live[] = {"/proc/net/tcp", "/proc/net/udp", "/proc/net/tcp6", "/proc/net/udp6"};
    for (size_t i = 0; i < 4; i++) {
        memset(&s, 0, sizeof(s));
        int r = procfs_net_scan_sockets(live[i], chunk, sizeof(chunk), &s);
        if (r == -ENOENT)
            continue;
        assert_int_equal(r, 0);
        assert_int_equal(s.bad_lines + s.cut_lines, 0);
    }
}

static void test_sockets_scan_large_table(void **state)
{
    (void)state;
    /* 20000 sockets (about 3 MB, as on a busy server): many chunk refills, lines split
     * across every possible chunk boundary, exact counts. */
    char path[] = "/tmp/osprey-tcp-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
          "timeout inode\n",
          f);
    for (unsigned i = 0; i < 20000; i++)
        fprintf(f,
                "%6u: 0100007F:%04X 0A00020F:%04X %02X 00000000:00000000 00:00000000 00000000  "
                "1000        0 %u 1 0000000000000000 100 0 0 10 0\n",
                i, 1024 + i % 60000, 443u, 1 + i % 11, 100000 + i);
    assert_int_equal(fclose(f), 0);

    static char chunk[65536];
    const size_t sizes[] = {65536, 4093, 257};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct procfs_sock_scan s;
        memset(&s, 0, sizeof(s));
        assert_int_equal(procfs_net_scan_sockets(path, chunk, sizes[k], &s), 0);
        assert_int_equal(s.sockets, 20000);
        assert_int_equal(s.bad_lines + s.cut_lines, 0);
        for (unsigned st = 1; st <= 11; st++)
            assert_int_equal(s.states[st], 20000 / 11 + (st <= 20000 % 11 ? 1 : 0));
    }
    unlink(path);
}

/* ---- collectors on a loop --------------------------------------------------------- */

struct got_metric {
    char name[64];
    char iface[32];
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

/* Copy tests/data/proc/<dir>/net/dev to <to_dir>/net/dev, atomically. */
static void copy_fixture(const char *dir, const char *file, const char *to_dir)
{
    const struct procfs_buf *b = fixture(dir, file);
    char path[256], tmp[300];
    snprintf(path, sizeof(path), "%s/net", to_dir);
    (void)mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s", to_dir, file);
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
        snprintf(h->tmp, sizeof(h->tmp), "/tmp/osprey-net-XXXXXX");
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
        assert_true(h->n_got < sizeof(h->got) / sizeof(h->got[0]));
        struct got_metric *g = &h->got[h->n_got++];
        memset(g, 0, sizeof(*g));
        const struct metric_point *p = &v.u.metric;
        assert_string_equal(p->namespace_, "CWAgent");
        snprintf(g->name, sizeof(g->name), "%s", p->name);
        g->unit = p->unit;
        g->value = p->value;
        bool host = false;
        for (size_t d = 0; d < p->n_dims; d++) {
            if (strcmp(p->dims[d].name, "interface") == 0)
                snprintf(g->iface, sizeof(g->iface), "%s", p->dims[d].value);
            else if (strcmp(p->dims[d].name, "host") == 0 &&
                     strcmp(p->dims[d].value, "testhost") == 0)
                host = true;
            else
                fail_msg("unexpected dimension '%s'", p->dims[d].name);
        }
        assert_true(host);
        ring_consume(&h->ring);
    }
}

/* Something every scrape moves: records_in (values or rejects) or bytes_in (a file was
 * read; a priming net scrape produces no value). */
static uint64_t progress(struct harness *h)
{
    return selfstats_get(&h->c->stats.records_in) + selfstats_get(&h->c->stats.bytes_in);
}

/* Run one more scrape: the first fires at once, later ones after the interval. */
static void run_scrape(struct harness *h)
{
    uint64_t before = progress(h);
    for (int i = 0; i < 1000 && progress(h) == before; i++) {
        counting = true;
        uv_run(&h->loop, UV_RUN_NOWAIT);
        counting = false;
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
        char path[256];
        snprintf(path, sizeof(path), "%s/net/dev", h->tmp);
        unlink(path);
        snprintf(path, sizeof(path), "%s/net", h->tmp);
        rmdir(path);
        rmdir(h->tmp);
    }
}

static const struct got_metric *find(const struct harness *h, size_t from, const char *name,
                                     const char *iface)
{
    const struct got_metric *found = NULL;
    for (size_t i = from; i < h->n_got; i++) {
        if (strcmp(h->got[i].name, name) == 0 && strcmp(h->got[i].iface, iface ? iface : "") == 0) {
            if (found)
                fail_msg("%s{interface=%s} published twice", name, iface ? iface : "");
            found = &h->got[i];
        }
    }
    return found;
}

static double value_of(const struct harness *h, size_t from, const char *name, const char *iface,
                       enum metric_unit unit)
{
    const struct got_metric *g = find(h, from, name, iface);
    if (!g)
        fail_msg("%s{interface=%s} not published", name, iface ? iface : "");
    assert_int_equal(g->unit, unit);
    return g->value;
}

static size_t count_iface(const struct harness *h, size_t from, const char *iface)
{
    size_t n = 0;
    for (size_t i = from; i < h->n_got; i++)
        n += strcmp(h->got[i].iface, iface) == 0;
    return n;
}

static void test_net_collector_deltas(void **state)
{
    (void)state;
    static struct harness h;
    harness_init(&h, &collector_net,
                 "{\"metrics\": {\"metrics_collected\": {\"net\": {\"resources\": [\"*\"], "
                 "\"metrics_collection_interval\": 1}}}}",
                 NULL, 1u << 18);
    copy_fixture("netbusy", "net/dev", h.tmp);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);

    /* First sample: only primes, for every interface. */
    run_scrape(&h);
    assert_int_equal(h.n_got, 0);
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 0);
    assert_int_equal(selfstats_dropped_total(&h.c->stats), 0);

    copy_fixture("netbusy-t1", "net/dev", h.tmp);
    run_scrape(&h);
    /* eth0: all 8 deltas. */
    assert_true(value_of(&h, 0, "net_bytes_recv", "eth0", METRIC_UNIT_BYTES) == 1500);
    assert_true(value_of(&h, 0, "net_bytes_sent", "eth0", METRIC_UNIT_BYTES) == 900);
    assert_true(value_of(&h, 0, "net_packets_recv", "eth0", METRIC_UNIT_COUNT) == 10);
    assert_true(value_of(&h, 0, "net_packets_sent", "eth0", METRIC_UNIT_COUNT) == 9);
    assert_true(value_of(&h, 0, "net_err_in", "eth0", METRIC_UNIT_COUNT) == 3);
    assert_true(value_of(&h, 0, "net_err_out", "eth0", METRIC_UNIT_COUNT) == 0);
    assert_true(value_of(&h, 0, "net_drop_in", "eth0", METRIC_UNIT_COUNT) == 0);
    assert_true(value_of(&h, 0, "net_drop_out", "eth0", METRIC_UNIT_COUNT) == 1);
    /* eth1: rx_bytes went back (reset): that counter publishes nothing, the rest do. */
    assert_null(find(&h, 0, "net_bytes_recv", "eth1"));
    assert_true(value_of(&h, 0, "net_bytes_sent", "eth1", METRIC_UNIT_BYTES) == 60);
    assert_int_equal(count_iface(&h, 0, "eth1"), 7);
    /* lo is not part of "*"; veth1a2b is new (primes); docker0 is gone. */
    assert_int_equal(count_iface(&h, 0, "lo"), 0);
    assert_int_equal(count_iface(&h, 0, "veth1a2b"), 0);
    assert_int_equal(count_iface(&h, 0, "docker0"), 0);
    assert_int_equal(h.n_got, 15);

    /* Back to the first file: docker0 reappears and primes again; eth0 went back. */
    size_t from = h.n_got;
    copy_fixture("netbusy", "net/dev", h.tmp);
    run_scrape(&h);
    assert_int_equal(count_iface(&h, from, "docker0"), 0);
    assert_null(find(&h, from, "net_bytes_recv", "eth0"));
    assert_true(value_of(&h, from, "net_drop_in", "eth0", METRIC_UNIT_COUNT) == 0);
    assert_true(value_of(&h, from, "net_bytes_recv", "eth1", METRIC_UNIT_BYTES) == 50);

    assert_int_equal(selfstats_get(&h.c->stats.records_in), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);
}

static void test_net_collector_resources_and_measurement(void **state)
{
    (void)state;
    static struct harness h;
    /* Globs select; "lo" is published when it is asked for by name. */
    harness_init(&h, &collector_net,
                 "{\"metrics\": {\"metrics_collected\": {\"net\": {\"resources\": [\"eth*\", "
                 "\"lo\"], \"measurement\": [\"net_bytes_sent\", {\"name\": \"drop_out\", "
                 "\"rename\": \"DropOut\", \"unit\": \"Bytes\"}], "
                 "\"metrics_collection_interval\": 1}}}}",
                 NULL, 1u << 18);
    copy_fixture("netbusy", "net/dev", h.tmp);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    copy_fixture("netbusy-t1", "net/dev", h.tmp);
    run_scrape(&h);
    assert_int_equal(h.n_got, 6); /* lo, eth0, eth1 x bytes_sent, DropOut */
    assert_true(value_of(&h, 0, "net_bytes_sent", "lo", METRIC_UNIT_BYTES) == 600);
    assert_true(value_of(&h, 0, "DropOut", "eth0", METRIC_UNIT_BYTES) == 1);
    assert_true(value_of(&h, 0, "DropOut", "eth1", METRIC_UNIT_BYTES) == 0);
    assert_null(find(&h, 0, "net_drop_out", "eth0"));
    assert_int_equal(count_iface(&h, 0, "veth1a2b"), 0);
    harness_release(&h);

    /* No resources at all behaves as "*". */
    harness_init(&h, &collector_net,
                 "{\"metrics\": {\"metrics_collected\": {\"net\": {\"measurement\": "
                 "[\"bytes_recv\"], \"metrics_collection_interval\": 1}}}}",
                 NULL, 1u << 18);
    copy_fixture("netbusy", "net/dev", h.tmp);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    copy_fixture("netbusy-t1", "net/dev", h.tmp);
    run_scrape(&h);
    assert_int_equal(h.n_got, 1); /* eth0 only: eth1 reset, lo excluded, veth new */
    assert_true(value_of(&h, 0, "net_bytes_recv", "eth0", METRIC_UNIT_BYTES) == 1500);
    harness_release(&h);
}

static void test_net_collector_bad_input(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    /* Bad lines and a cut last line are rejected one by one; the rest is used. */
    snprintf(root, sizeof(root), "%s/proc/badlines", OSPREY_TEST_DATA);
    harness_init(&h, &collector_net,
                 "{\"metrics\": {\"metrics_collected\": {\"net\": {\"resources\": [\"*\"], "
                 "\"metrics_collection_interval\": 1}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 0);                               /* first sample */
    assert_int_equal(selfstats_get(&h.c->stats.rejects[2]), 3); /* bad_line */
    assert_int_equal(selfstats_get(&h.c->stats.rejects[3]), 1); /* cut_line */
    assert_string_equal(h.c->stats.reject_names[2], "bad_line");
    assert_string_equal(h.c->stats.reject_names[3], "cut_line");
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 4);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    run_scrape(&h);
    /* Same file again: eth0 (lo excluded) publishes 8 zero deltas. */
    assert_int_equal(h.n_got, 8);
    assert_true(value_of(&h, 0, "net_bytes_recv", "eth0", METRIC_UNIT_BYTES) == 0);
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 8 + 8);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), 8);
    harness_release(&h);

    /* Unreadable and non-/proc/net/dev files fail the scrape; the timer keeps going. */
    const char *roots[] = {"missing", "garbage", "truncated"};
    const unsigned reasons[] = {0, 1, 1};
    for (size_t i = 0; i < 3; i++) {
        snprintf(root, sizeof(root), "%s/proc/%s", OSPREY_TEST_DATA, roots[i]);
        harness_init(&h, &collector_net, "{\"metrics\": {\"metrics_collected\": {}}}", root,
                     1u << 16);
        assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
        run_scrape(&h);
        assert_int_equal(h.n_got, 0);
        assert_int_equal(selfstats_get(&h.c->stats.errors), 1);
        assert_int_equal(selfstats_get(&h.c->stats.rejects[reasons[i]]), 1);
        assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 1);
        assert_true(uv_loop_alive(&h.loop));
        harness_release(&h);
    }
}

static void test_net_collector_ring_full(void **state)
{
    (void)state;
    static struct harness h;
    harness_init(&h, &collector_net,
                 "{\"metrics\": {\"metrics_collected\": {\"net\": {\"resources\": [\"*\"], "
                 "\"metrics_collection_interval\": 1}}}}",
                 NULL, RING_MIN_CAPACITY);
    copy_fixture("netbusy", "net/dev", h.tmp);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    copy_fixture("netbusy-t1", "net/dev", h.tmp);
    /* Scrape without draining until the ring has refused something. */
    for (int i = 0; i < 2000 && selfstats_get(&h.c->stats.dropped[DROP_RING_FULL]) == 0; i++) {
        uv_run(&h.loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
    uint64_t in = selfstats_get(&h.c->stats.records_in);
    uint64_t out = selfstats_get(&h.c->stats.records_out);
    uint64_t full = selfstats_get(&h.c->stats.dropped[DROP_RING_FULL]);
    assert_true(full > 0);
    assert_int_equal(in, out + full);
    drain(&h);
    assert_int_equal(h.n_got, out);
    harness_release(&h);
}

static void test_netstat_collector(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/netbusy", OSPREY_TEST_DATA);
    harness_init(&h, &collector_netstat,
                 "{\"metrics\": {\"metrics_collected\": {\"netstat\": {}}}}", root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    /* Every field, every scrape (the first included); tcp + tcp6, udp + udp6. */
    assert_int_equal(h.n_got, 13);
    const struct {
        const char *name;
        double value;
    } want[] = {
        {"netstat_tcp_listen", 3},     {"netstat_tcp_established", 5}, {"netstat_tcp_time_wait", 1},
        {"netstat_tcp_close_wait", 1}, {"netstat_tcp_syn_sent", 1},    {"netstat_tcp_syn_recv", 1},
        {"netstat_tcp_fin_wait1", 1},  {"netstat_tcp_fin_wait2", 1},   {"netstat_tcp_close", 1},
        {"netstat_tcp_last_ack", 1},   {"netstat_tcp_closing", 1},     {"netstat_tcp_none", 1},
        {"netstat_udp_socket", 3},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (value_of(&h, 0, want[i].name, NULL, METRIC_UNIT_COUNT) != want[i].value)
            fail_msg("%s: got %g, want %g", want[i].name,
                     value_of(&h, 0, want[i].name, NULL, METRIC_UNIT_COUNT), want[i].value);
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 13);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), 13);
    harness_release(&h);

    /* 2.6.9 without IPv6: the missing tables count as empty. Measurement selects. */
    snprintf(root, sizeof(root), "%s/proc/kernel-2.6.9", OSPREY_TEST_DATA);
    harness_init(&h, &collector_netstat,
                 "{\"metrics\": {\"metrics_collected\": {\"netstat\": {\"measurement\": "
                 "[\"tcp_established\", \"netstat_udp_socket\", {\"name\": \"tcp_listen\", "
                 "\"rename\": \"Listeners\"}]}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3);
    assert_true(value_of(&h, 0, "netstat_tcp_established", NULL, METRIC_UNIT_COUNT) == 1);
    assert_true(value_of(&h, 0, "netstat_udp_socket", NULL, METRIC_UNIT_COUNT) == 1);
    assert_true(value_of(&h, 0, "Listeners", NULL, METRIC_UNIT_COUNT) == 1);
    harness_release(&h);
}

static void test_netstat_collector_bad_input(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/badlines", OSPREY_TEST_DATA);
    harness_init(&h, &collector_netstat,
                 "{\"metrics\": {\"metrics_collected\": {\"netstat\": {\"measurement\": "
                 "[\"tcp_established\", \"tcp_listen\", \"udp_socket\"]}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3);
    assert_true(value_of(&h, 0, "netstat_tcp_listen", NULL, METRIC_UNIT_COUNT) == 1);
    assert_true(value_of(&h, 0, "netstat_tcp_established", NULL, METRIC_UNIT_COUNT) == 1);
    assert_true(value_of(&h, 0, "netstat_udp_socket", NULL, METRIC_UNIT_COUNT) == 3);
    assert_string_equal(h.c->stats.reject_names[3], "bad_line");
    assert_int_equal(selfstats_get(&h.c->stats.rejects[3]), 2);
    assert_int_equal(selfstats_get(&h.c->stats.rejects[4]), 1); /* cut_line */
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 3 + 3);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);

    /* A table that is not one fails the whole scrape: no half counts are published. */
    const char *roots[] = {"garbage", "truncated", "missing"};
    const unsigned reasons[] = {1, 1, 0};
    for (size_t i = 0; i < 3; i++) {
        snprintf(root, sizeof(root), "%s/proc/%s", OSPREY_TEST_DATA, roots[i]);
        harness_init(&h, &collector_netstat, "{\"metrics\": {\"metrics_collected\": {}}}", root,
                     1u << 16);
        assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
        run_scrape(&h);
        assert_int_equal(h.n_got, 0);
        assert_int_equal(selfstats_get(&h.c->stats.errors), 1);
        assert_int_equal(selfstats_get(&h.c->stats.rejects[reasons[i]]), 1);
        assert_int_equal(selfstats_get(&h.c->stats.records_in), 1);
        assert_true(uv_loop_alive(&h.loop));
        harness_release(&h);
    }
}

static void test_scrapes_allocate_nothing_after_warm_up(void **state)
{
    (void)state;
    if (!ALLOC_COUNTING)
        skip();
    alloc_counting_install();
    static struct harness h;
    /* net: interfaces come and go (docker0) and counters reset, within the table's size. */
    harness_init(&h, &collector_net,
                 "{\"metrics\": {\"metrics_collected\": {\"net\": {\"resources\": [\"*\"], "
                 "\"metrics_collection_interval\": 1}}}}",
                 NULL, 1u << 18);
    copy_fixture("netbusy", "net/dev", h.tmp);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    allocations = 0;
    run_scrape(&h);
    assert_true(allocations > 0); /* the hook sees the buffer and table being sized */
    copy_fixture("netbusy-t1", "net/dev", h.tmp);
    run_scrape(&h);
    allocations = 0;
    for (int i = 0; i < 2; i++) {
        copy_fixture(i % 2 ? "netbusy-t1" : "netbusy", "net/dev", h.tmp);
        size_t before = h.n_got;
        run_scrape(&h);
        assert_true(h.n_got > before);
    }
    assert_int_equal(allocations, 0);
    harness_release(&h);

    /* netstat: counts stream through the chunk allocated at init. */
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/netbusy", OSPREY_TEST_DATA);
    harness_init(&h, &collector_netstat,
                 "{\"metrics\": {\"metrics_collected\": {\"netstat\": "
                 "{\"metrics_collection_interval\": 1}}}}",
                 root, 1u << 18);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    allocations = 0;
    run_scrape(&h);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3 * 13);
    assert_int_equal(allocations, 0);
    harness_release(&h);
}

/* Bind json's "net" object; returns collector_create's result and the error count. */
static int create_net(const char *json, size_t *ret_n_errs, char *first_err, size_t cap)
{
    struct cfg_doc doc;
    struct cfg_errors errs;
    struct plugin_env env = {.proc_root = "/proc", .metrics_interval_ns = 60 * NS_PER_SEC};
    cfg_errors_init(&errs);
    assert_int_equal(cfg_doc_load_buffer(&doc, "t.json", json, strlen(json), &errs), 0);
    struct plugin_cfg cfg = {.doc = &doc, .path = "net", .errs = &errs};
    struct collector *c = NULL;
    int r = collector_create(&collector_net, "net", 1, &env, &cfg, json_object_get(doc.root, "net"),
                             &c);
    *ret_n_errs = errs.n;
    snprintf(first_err, cap, "%s", errs.n ? errs.msgs[0] : "");
    collector_destroy(c);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
    return r;
}

static void test_collector_config_errors(void **state)
{
    (void)state;
    size_t n;
    char msg[512];
    /* resources is not an array; "interfaces" (telegraf's name) is not a key. */
    assert_int_equal(create_net("{\"net\": {\"resources\": \"eth0\", \"interfaces\": [\"eth0\"]}}",
                                &n, msg, sizeof(msg)),
                     -EINVAL);
    assert_int_equal(n, 2);
    /* A measurement that is not a net field. */
    assert_int_equal(create_net("{\"net\": {\"measurement\": [\"bytes_sent\", \"tcp_listen\"]}}",
                                &n, msg, sizeof(msg)),
                     -EINVAL);
    assert_int_equal(n, 1);
    assert_non_null(strstr(msg, "tcp_listen"));
    /* The CloudWatch agent's own spellings bind. */
    assert_int_equal(create_net("{\"net\": {\"resources\": [\"*\"], \"measurement\": "
                                "[\"net_bytes_sent\", \"drop_in\"], "
                                "\"metrics_collection_interval\": 10}}",
                                &n, msg, sizeof(msg)),
                     0);
    assert_int_equal(n, 0);
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
        cmocka_unit_test(test_netdev_real),
        cmocka_unit_test(test_netdev_old_kernel_and_columns),
        cmocka_unit_test(test_netdev_bad_lines),
        cmocka_unit_test(test_netdev_bad_headers),
        cmocka_unit_test(test_sockets_parse),
        cmocka_unit_test(test_sockets_scan_chunks),
        cmocka_unit_test(test_sockets_scan_large_table),
        cmocka_unit_test(test_net_collector_deltas),
        cmocka_unit_test(test_net_collector_resources_and_measurement),
        cmocka_unit_test(test_net_collector_bad_input),
        cmocka_unit_test(test_net_collector_ring_full),
        cmocka_unit_test(test_netstat_collector),
        cmocka_unit_test(test_netstat_collector_bad_input),
        cmocka_unit_test(test_scrapes_allocate_nothing_after_warm_up),
        cmocka_unit_test(test_collector_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_fixture);
}
