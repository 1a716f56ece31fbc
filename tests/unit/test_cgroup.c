/*
 * Tests for collectors/cgroup.{h,c} (cgroup v2 parsers, /proc/self/cgroup, container ids,
 * CPU-percent arithmetic) and for the container collector built on them
 * (collectors/container.c), driven on a real libuv loop against copies of the fixture
 * trees in tests/data/cgroup/ whose counters are rewritten between scrapes.
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
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/record.h"
#include "agent/ring.h"
#include "collectors/cgroup.h"
#include "collectors/collector.h"
#include "collector_test.h"
#include "collectors/procfs.h"

extern const struct collector_type collector_container;

#define DOCKER_ID    "3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
#define DOCKER_SCOPE "system.slice/docker-" DOCKER_ID ".scope"
#define FARGATE_TASK "8a0a8ba7e7d04c7a9e0f0c8a4a0a0a0a"
#define FARGATE_PATH "ecs/" FARGATE_TASK "/" FARGATE_TASK "-3814283727"

/* ---- helpers ---------------------------------------------------------------------- */

static void assert_near(double got, double want, const char *what)
{
    double tol = 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
    if (fabs(got - want) > tol)
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static struct procfs_buf fixture_buf;

/* Read tests/data/cgroup/<rel> with the code under test. */
static const struct procfs_buf *fixture(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/cgroup/%s", OSPREY_TEST_DATA, rel);
    int r = procfs_read_file(path, &fixture_buf);
    if (r != 0)
        fail_msg("cannot read fixture '%s': %s", path, strerror(-r));
    return &fixture_buf;
}

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- cpu.stat --------------------------------------------------------------------- */

static void test_cpu_stat(void **state)
{
    (void)state;
    struct cgroup_cpu_stat s;
    const struct procfs_buf *b = fixture("real/cpu.stat");
    assert_int_equal(cgroup_parse_cpu_stat(b->data, b->len, &s), 0);
    assert_int_equal(s.present, CGROUP_CPU_REQUIRED); /* root cgroup: no throttling keys */
    assert_true(s.usage_usec > 0);
    assert_int_equal(s.usage_usec, s.user_usec + s.system_usec);

    b = fixture("limited/" DOCKER_SCOPE "/cpu.stat");
    assert_int_equal(cgroup_parse_cpu_stat(b->data, b->len, &s), 0);
    assert_int_equal(s.present, 0x3fu);
    assert_int_equal(s.usage_usec, 5000000);
    assert_int_equal(s.user_usec, 3000000);
    assert_int_equal(s.system_usec, 2000000);
    assert_int_equal(s.nr_periods, 1000);
    assert_int_equal(s.nr_throttled, 40);
    assert_int_equal(s.throttled_usec, 800000);

    b = fixture("old-kernel/cpu.stat");
    assert_int_equal(cgroup_parse_cpu_stat(b->data, b->len, &s), 0);
    assert_int_equal(s.present, CGROUP_CPU_REQUIRED);
    assert_int_equal(s.usage_usec, 7000);

    assert_int_equal(cgroup_parse_cpu_stat(S("usage_usec 18446744073709551615\nuser_usec 0\n"
                                             "system_usec\t0\nnew_key 1.5\n"),
                                           &s),
                     0);
    assert_true(s.usage_usec == UINT64_MAX);

#define REQ "usage_usec 3\nuser_usec 2\nsystem_usec 1\n"
    static const char *const bad[] = {
        "",
        "\n",
        "usage_usec 3\nuser_usec 2\n",           /* system_usec missing */
        REQ "nr_periods 5",                      /* last line cut */
        REQ "nr_periods\n",                      /* no value */
        REQ "nr_periods \n",                     /* blank value */
        REQ "nr_periods -5\n",                   /* sign */
        REQ "nr_periods 5 6\n",                  /* trailing junk */
        REQ "nr_periods 5x\n",                   /* glued junk */
        REQ "usage_usec 4\n",                    /* duplicate */
        REQ "\n",                                /* empty line */
        REQ "unknown 1 2\n",                     /* unknown key, bad shape */
        REQ " nr_periods 5\n",                   /* empty key */
        REQ "nr_periods 18446744073709551616\n", /* overflows u64 */
    };
#undef REQ
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = cgroup_parse_cpu_stat(bad[i], strlen(bad[i]), &s);
        if (r != -EBADMSG)
            fail_msg("bad[%zu] '%s': got %d, want -EBADMSG", i, bad[i], r);
    }
    static const char nul[] = "usage_usec 3\nuser_usec 2\nsystem_usec 1\0\n";
    assert_int_equal(cgroup_parse_cpu_stat(nul, sizeof(nul) - 1, &s), -EBADMSG);
    b = fixture("truncated/cpu.stat");
    assert_int_equal(cgroup_parse_cpu_stat(b->data, b->len, &s), -EBADMSG);
    b = fixture("garbage/cpu.stat");
    assert_int_equal(cgroup_parse_cpu_stat(b->data, b->len, &s), -EBADMSG);
}

/* ---- cpu.max and single values ---------------------------------------------------- */

static void test_cpu_max(void **state)
{
    (void)state;
    bool limited;
    uint64_t quota, period;
    assert_int_equal(cgroup_parse_cpu_max(S("150000 100000\n"), &limited, &quota, &period), 0);
    assert_true(limited);
    assert_int_equal(quota, 150000);
    assert_int_equal(period, 100000);
    assert_int_equal(cgroup_parse_cpu_max(S("max 100000\n"), &limited, &quota, &period), 0);
    assert_false(limited);
    assert_int_equal(period, 100000);

    static const char *const bad[] = {
        "",
        "\n",
        "max\n",
        "max  100000\n",
        "100000\n",
        "1 0\n",
        "-1 100000\n",
        "1 100000",
        "1 100000 5\n",
        "maxx 100000\n",
        "1 1\n1 1\n",
        "unlimited 1\n",
        " 1 100000\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = cgroup_parse_cpu_max(bad[i], strlen(bad[i]), &limited, &quota, &period);
        if (r != -EBADMSG)
            fail_msg("bad[%zu] '%s': got %d, want -EBADMSG", i, bad[i], r);
    }
}

static void test_single_values(void **state)
{
    (void)state;
    uint64_t v;
    bool limited;
    assert_int_equal(cgroup_parse_u64(S("268435456\n"), &v), 0);
    assert_int_equal(v, 268435456);
    assert_int_equal(cgroup_parse_u64(S("0\n"), &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cgroup_parse_max(S("max\n"), &limited, &v), 0);
    assert_false(limited);
    assert_true(v == UINT64_MAX);
    assert_int_equal(cgroup_parse_max(S("536870912\n"), &limited, &v), 0);
    assert_true(limited);
    assert_int_equal(v, 536870912);

    static const char *const bad[] = {
        "",     "\n",     "12",     "12 \n", " 12\n",
        "-1\n", "0x10\n", "1\n2\n", "max\n", "18446744073709551616\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cgroup_parse_u64(bad[i], strlen(bad[i]), &v) != -EBADMSG)
            fail_msg("u64 bad[%zu] '%s' accepted", i, bad[i]);
    static const char *const bad_max[] = {"",      "ma\n",       "max", "maximum\n",
                                          "MAX\n", "max\nmax\n", "1 \n"};
    for (size_t i = 0; i < sizeof(bad_max) / sizeof(bad_max[0]); i++)
        if (cgroup_parse_max(bad_max[i], strlen(bad_max[i]), &limited, &v) != -EBADMSG)
            fail_msg("max bad[%zu] '%s' accepted", i, bad_max[i]);
    const char *files[] = {"truncated/memory.current", "garbage/memory.current",
                           "truncated/pids.current", "garbage/pids.current"};
    for (size_t i = 0; i < 4; i++) {
        const struct procfs_buf *b = fixture(files[i]);
        assert_int_equal(cgroup_parse_u64(b->data, b->len, &v), -EBADMSG);
    }
    const struct procfs_buf *b = fixture("garbage/pids.max");
    assert_int_equal(cgroup_parse_max(b->data, b->len, &limited, &v), -EBADMSG);
}

/* ---- memory.stat / memory.events -------------------------------------------------- */

static void test_memory_files(void **state)
{
    (void)state;
    struct cgroup_memory_stat ms;
    struct cgroup_memory_events ev;
    const struct procfs_buf *b = fixture("limited/" DOCKER_SCOPE "/memory.stat");
    assert_int_equal(cgroup_parse_memory_stat(b->data, b->len, &ms), 0);
    assert_int_equal(ms.anon, 201326592);
    assert_int_equal(ms.file, 50331648);
    b = fixture("limited/" DOCKER_SCOPE "/memory.events");
    assert_int_equal(cgroup_parse_memory_events(b->data, b->len, &ev), 0);
    assert_int_equal(ev.present, CGROUP_MEMEV_HAS_OOM | CGROUP_MEMEV_HAS_OOM_KILL);
    assert_int_equal(ev.oom, 2);
    assert_int_equal(ev.oom_kill, 1);
    b = fixture("old-kernel/memory.events");
    assert_int_equal(cgroup_parse_memory_events(b->data, b->len, &ev), 0);
    assert_int_equal(ev.present, CGROUP_MEMEV_HAS_OOM);
    assert_int_equal(ev.oom, 1);

    assert_int_equal(cgroup_parse_memory_stat(S("anon 1\n"), &ms), -EBADMSG);
    assert_int_equal(cgroup_parse_memory_events(S("low 0\noom_kill 1\n"), &ev), -EBADMSG);
    const char *broken[] = {"truncated/memory.stat", "garbage/memory.stat",
                            "truncated/memory.events", "garbage/memory.events"};
    for (size_t i = 0; i < 4; i++) {
        b = fixture(broken[i]);
        int r = i < 2 ? cgroup_parse_memory_stat(b->data, b->len, &ms)
                      : cgroup_parse_memory_events(b->data, b->len, &ev);
        if (r != -EBADMSG)
            fail_msg("'%s' accepted", broken[i]);
    }
}

/* ---- io.stat ---------------------------------------------------------------------- */

static void test_io_stat(void **state)
{
    (void)state;
    struct cgroup_io_device devs[4];
    size_t n = 99;
    const struct procfs_buf *b = fixture("limited/" DOCKER_SCOPE "/io.stat");
    assert_int_equal(cgroup_parse_io_stat(b->data, b->len, devs, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(devs[0].major, 259);
    assert_int_equal(devs[0].minor, 0);
    assert_int_equal(devs[0].rbytes, 1048576);
    assert_int_equal(devs[0].wbytes, 2097152);
    assert_int_equal(devs[0].rios, 100);
    assert_int_equal(devs[0].wios, 200);
    assert_int_equal(devs[1].major, 8);
    assert_int_equal(devs[1].minor, 16);
    assert_int_equal(devs[1].wios, 2); /* iocost keys after it are skipped */

    /* Over the cap: counted, not stored. */
    memset(devs, 0, sizeof(devs));
    assert_int_equal(cgroup_parse_io_stat(b->data, b->len, devs, 1, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(devs[0].major, 259);
    assert_int_equal(devs[1].major, 0);
    assert_int_equal(cgroup_parse_io_stat(b->data, b->len, NULL, 0, &n), 0);
    assert_int_equal(n, 2);

    /* No I/O yet: an empty file. Keys in any order. */
    assert_int_equal(cgroup_parse_io_stat("", 0, devs, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cgroup_parse_io_stat(S("1:2 wios=4 rios=3 wbytes=2 rbytes=1\n"), devs, 4, &n),
                     0);
    assert_int_equal(devs[0].rbytes, 1);
    assert_int_equal(devs[0].wios, 4);

#define ALL " rbytes=1 wbytes=2 rios=3 wios=4"
    static const char *const bad[] = {
        "\n",
        "8:0" ALL,                        /* cut */
        "8:0 rbytes=1 wbytes=2 rios=3\n", /* wios missing */
        "8:0" ALL " rbytes=5\n",          /* duplicate key */
        "8:0" ALL "\n8:0" ALL "\n",       /* duplicate device */
        "8" ALL "\n",                     /* no minor */
        "8:" ALL "\n",
        ":0" ALL "\n",
        "4294967296:0" ALL "\n", /* major overflows u32 */
        "8:0" ALL " \n",         /* trailing blank */
        "8:0  rbytes=1 wbytes=2 rios=3 wios=4\n",
        "8:0" ALL " dbytes=\n", /* empty value */
        "8:0" ALL " =5\n",      /* empty key */
        "8:0" ALL " dios\n",    /* no '=' */
        "8:0 rbytes=x wbytes=2 rios=3 wios=4\n",
        "8:0 rbytes=1x wbytes=2 rios=3 wios=4\n",
        "sda" ALL "\n",
    };
#undef ALL
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = cgroup_parse_io_stat(bad[i], strlen(bad[i]), devs, 4, &n);
        if (r != -EBADMSG)
            fail_msg("bad[%zu] '%s': got %d, want -EBADMSG", i, bad[i], r);
    }
    b = fixture("truncated/io.stat");
    assert_int_equal(cgroup_parse_io_stat(b->data, b->len, devs, 4, &n), -EBADMSG);
    b = fixture("garbage/io.stat");
    assert_int_equal(cgroup_parse_io_stat(b->data, b->len, devs, 4, &n), -EBADMSG);
}

/* ---- /proc/self/cgroup and container ids ------------------------------------------ */

static void test_self_cgroup(void **state)
{
    (void)state;
    const char *path;
    size_t len;
    const struct procfs_buf *b = fixture("proc-hybrid/self/cgroup");
    assert_int_equal(cgroup_parse_self_cgroup(b->data, b->len, &path, &len), 0);
    assert_int_equal(len, 1);
    assert_memory_equal(path, "/", 1);
    b = fixture("proc-docker/self/cgroup");
    assert_int_equal(cgroup_parse_self_cgroup(b->data, b->len, &path, &len), 0);
    assert_int_equal(len, strlen("/" DOCKER_SCOPE));
    assert_memory_equal(path, "/" DOCKER_SCOPE, len);
    b = fixture("proc-v1/self/cgroup");
    assert_int_equal(cgroup_parse_self_cgroup(b->data, b->len, &path, &len), -ENOENT);

    /* A ':' inside the path (containerd's systemd driver) belongs to the path. */
    assert_int_equal(
        cgroup_parse_self_cgroup(S("0::/kubepods.slice/a.slice:cri-containerd:x\n"), &path, &len),
        0);
    assert_int_equal(len, strlen("/kubepods.slice/a.slice:cri-containerd:x"));

    static const char *const bad[] = {
        "",         "\n",          "0::/a",      "0::docker\n", "0::\n",          "0::/a/../b\n",
        "0::/..\n", "0::/a/./b\n", "0::/a//b\n", "0::/a/\n",    "0::/a\n0::/b\n", "garbage\n",
        "1:cpu\n",  "x::/\n",      "0::/\n\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = cgroup_parse_self_cgroup(bad[i], strlen(bad[i]), &path, &len);
        if (r != -EBADMSG)
            fail_msg("bad[%zu] '%s': got %d, want -EBADMSG", i, bad[i], r);
    }
    assert_true(cgroup_path_is_plain(S("/")));
    assert_true(cgroup_path_is_plain(S("/a/b.c/..d")));
    assert_false(cgroup_path_is_plain(S("a")));
    assert_false(cgroup_path_is_plain("", 0));
}

static void test_container_id(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *id; /* NULL: none */
    } cases[] = {
        {"/docker/" DOCKER_ID, DOCKER_ID},
        {"/" DOCKER_SCOPE, DOCKER_ID},
        {"/kubepods/burstable/pod0b8c1a5e-1f2d-4e3c-9a7b-6c5d4e3f2a1b/" DOCKER_ID, DOCKER_ID},
        {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b8c1a5e_1f2d.slice/"
         "cri-containerd-" DOCKER_ID ".scope",
         DOCKER_ID},
        {"/kubepods.slice/kubepods-pod1.slice/crio-" DOCKER_ID ".scope", DOCKER_ID},
        {"/system.slice/containerd.service/"
         "kubepods-besteffort-pod1.slice:cri-containerd:" DOCKER_ID,
         DOCKER_ID},
        {"/machine.slice/libpod-" DOCKER_ID ".scope/container", DOCKER_ID},
        {"/ecs/" FARGATE_TASK "/" DOCKER_ID, DOCKER_ID},
        {"/" FARGATE_PATH, FARGATE_TASK "-3814283727"},
        {"/ecs/" FARGATE_TASK, FARGATE_TASK},
        {"/ecs/" FARGATE_TASK "/other", FARGATE_TASK},
        {"/", NULL},
        {"/user.slice/user-1000.slice/session-3.scope", NULL},
        {"/docker/" DOCKER_ID "0", NULL}, /* 65 hex */
        {"/docker/x" DOCKER_ID, NULL},    /* not after '-' or ':' */
        {"/docker/3F1B2C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F809", NULL},
        {"/ecs/not-a-task/x", NULL},
        {"/ecsx/" FARGATE_TASK, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char id[CGROUP_ID_MAX + 1];
        bool found = cgroup_container_id(cases[i].path, strlen(cases[i].path), id, sizeof(id));
        if (found != (cases[i].id != NULL))
            fail_msg("case %zu '%s': found=%d", i, cases[i].path, found);
        assert_string_equal(id, cases[i].id ? cases[i].id : "");
    }
    char small[8];
    assert_false(cgroup_container_id(S("/docker/" DOCKER_ID), small, sizeof(small)));
}

static void test_cpu_percent(void **state)
{
    (void)state;
    assert_true(cgroup_cpu_percent(1000000, NS_PER_SEC) == 100.0); /* one CPU busy */
    assert_true(cgroup_cpu_percent(500000, NS_PER_SEC) == 50.0);
    assert_true(cgroup_cpu_percent(4000000, 2 * NS_PER_SEC) == 200.0);
    assert_true(cgroup_cpu_percent(0, NS_PER_SEC) == 0.0);
    assert_true(cgroup_cpu_percent(5, 0) == -1.0);
}

/* ---- the collector on a loop ------------------------------------------------------ */

struct got_metric {
    char name[64];
    char host[32];
    char dim_name[16];
    char dim_value[128];
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
    char tree[64]; /* scratch copy of a cgroup fixture tree */
    struct got_metric got[256];
    size_t n_got;
};

/* A scratch copy of tests/data/cgroup/<variant> (NULL: an empty directory). */
static void copy_tree(struct harness *h, const char *variant)
{
    snprintf(h->tree, sizeof(h->tree), "/tmp/osprey-cgroup-XXXXXX");
    assert_non_null(mkdtemp(h->tree));
    if (!variant)
        return;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp -R '%s/cgroup/%s/.' '%s/'", OSPREY_TEST_DATA, variant, h->tree);
    assert_int_equal(system(cmd), 0);
}

/* Replace <tree>/<rel> atomically: the collector never sees a half-written file. */
static void write_file(struct harness *h, const char *rel, const char *text)
{
    char path[512], tmp[520];
    snprintf(path, sizeof(path), "%s/%s", h->tree, rel);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static int harness_create(struct harness *h, const char *json, const char *proc_variant)
{
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(ring_init(&h->ring, 1u << 16), 0);
    h->out.ring = &h->ring;
    static char proc_root[512];
    snprintf(proc_root, sizeof(proc_root), "%s/cgroup/%s", OSPREY_TEST_DATA,
             proc_variant ? proc_variant : "proc-hybrid");
    h->env = (struct plugin_env){
        .hostname = "testhost",
        .proc_root = proc_root,
        .metrics_namespace = "CWAgent",
        .metrics_interval_ns = 60 * NS_PER_SEC,
    };
    cfg_errors_init(&h->errs);
    assert_int_equal(cfg_doc_load_buffer(&h->doc, "test.json", json, strlen(json), &h->errs), 0);
    json_t *obj = json_object_get(
        json_object_get(json_object_get(h->doc.root, "metrics"), "metrics_collected"), "container");
    struct plugin_cfg cfg = {
        .doc = &h->doc, .path = collector_container.config_path, .errs = &h->errs};
    return collector_create(&collector_container, "container", 7, &h->env, &cfg, obj, &h->c);
}

/* Create the collector on `variant` with extra config keys, e.g. "\"cgroup_path\": \"/\"". */
static void harness_init(struct harness *h, const char *variant, const char *keys,
                         const char *proc_variant)
{
    memset(h, 0, sizeof(*h));
    copy_tree(h, variant);
    char json[2048];
    snprintf(json, sizeof(json),
             "{\"metrics\": {\"metrics_collected\": {\"container\": {\"cgroup_root\": \"%s\", "
             "\"metrics_collection_interval\": 1%s%s}}}}",
             h->tree, keys && keys[0] ? ", " : "", keys ? keys : "");
    int r = harness_create(h, json, proc_variant);
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
        snprintf(g->name, sizeof(g->name), "%s", p->name);
        g->unit = p->unit;
        g->value = p->value;
        for (size_t d = 0; d < p->n_dims; d++) {
            if (strcmp(p->dims[d].name, "host") == 0) {
                snprintf(g->host, sizeof(g->host), "%s", p->dims[d].value);
            } else if (strcmp(p->dims[d].name, "container_id") == 0 ||
                       strcmp(p->dims[d].name, "cgroup") == 0) {
                assert_true(g->dim_name[0] == '\0');
                snprintf(g->dim_name, sizeof(g->dim_name), "%s", p->dims[d].name);
                snprintf(g->dim_value, sizeof(g->dim_value), "%s", p->dims[d].value);
            } else {
                fail_msg("unexpected dimension '%s'", p->dims[d].name);
            }
        }
        ring_consume(&h->ring);
    }
}

/* Run one more scrape (the first fires at once, later ones after the 1 s interval). */
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
    }
    assert_int_equal(uv_loop_close(&h->loop), 0);
    ring_release(&h->ring);
    cfg_doc_release(&h->doc);
    cfg_errors_release(&h->errs);
    if (h->tree[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->tree);
        assert_int_equal(system(cmd), 0);
    }
}

static const struct got_metric *find(const struct harness *h, size_t from, const char *name)
{
    const struct got_metric *found = NULL;
    for (size_t i = from; i < h->n_got; i++) {
        if (strcmp(h->got[i].name, name) == 0) {
            if (found)
                fail_msg("%s published twice", name);
            found = &h->got[i];
        }
    }
    return found;
}

static double value_of(const struct harness *h, size_t from, const char *name,
                       enum metric_unit unit)
{
    const struct got_metric *g = find(h, from, name);
    if (!g)
        fail_msg("%s not published", name);
    assert_int_equal(g->unit, unit);
    assert_string_equal(g->host, "testhost");
    return g->value;
}

static void assert_dims(const struct harness *h, const char *dim_name, const char *dim_value)
{
    for (size_t i = 0; i < h->n_got; i++) {
        assert_string_equal(h->got[i].dim_name, dim_name);
        assert_string_equal(h->got[i].dim_value, dim_value);
    }
}

static void test_collector_limited(void **state)
{
    (void)state;
    static struct harness h;
    harness_init(&h, "limited", "\"cgroup_path\": \"" DOCKER_SCOPE "\"", NULL);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);

    /* First scrape: gauges only; every counter only primes. */
    run_scrape(&h);
    assert_int_equal(h.n_got, 8);
    assert_true(value_of(&h, 0, "container_cpu_limit", METRIC_UNIT_NONE) == 1.5);
    assert_true(value_of(&h, 0, "container_memory_current", METRIC_UNIT_BYTES) == 268435456.0);
    assert_true(value_of(&h, 0, "container_memory_max", METRIC_UNIT_BYTES) == 536870912.0);
    assert_true(value_of(&h, 0, "container_memory_used_percent", METRIC_UNIT_PERCENT) == 50.0);
    assert_true(value_of(&h, 0, "container_memory_anon", METRIC_UNIT_BYTES) == 201326592.0);
    assert_true(value_of(&h, 0, "container_memory_file", METRIC_UNIT_BYTES) == 50331648.0);
    assert_true(value_of(&h, 0, "container_pids_current", METRIC_UNIT_COUNT) == 17.0);
    assert_true(value_of(&h, 0, "container_pids_max", METRIC_UNIT_COUNT) == 256.0);
    assert_null(find(&h, 0, "container_cpu_usage_percent"));
    assert_null(find(&h, 0, "container_memory_oom"));
    assert_null(find(&h, 0, "container_io_read_bytes"));

    /* Move the counters; a new device appears with large counters: it must only prime. */
    const char *dir = DOCKER_SCOPE;
    char rel[256];
    snprintf(rel, sizeof(rel), "%s/cpu.stat", dir);
    write_file(&h, rel,
               "usage_usec 7000000\nuser_usec 4500000\nsystem_usec 2500000\n"
               "nr_periods 1100\nnr_throttled 65\nthrottled_usec 1050000\n");
    snprintf(rel, sizeof(rel), "%s/memory.events", dir);
    write_file(&h, rel, "low 0\nhigh 0\nmax 14\noom 3\noom_kill 2\noom_group_kill 0\n");
    snprintf(rel, sizeof(rel), "%s/io.stat", dir);
    write_file(&h, rel,
               "259:0 rbytes=1052672 wbytes=2105344 rios=101 wios=202 dbytes=0 dios=0\n"
               "8:16 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
               "8:32 rbytes=999999999 wbytes=999999999 rios=99999 wios=99999\n");
    snprintf(rel, sizeof(rel), "%s/memory.current", dir);
    write_file(&h, rel, "134217728\n");
    size_t from = h.n_got;
    run_scrape(&h);
    assert_true(value_of(&h, from, "container_memory_used_percent", METRIC_UNIT_PERCENT) == 25.0);
    assert_true(value_of(&h, from, "container_cpu_periods", METRIC_UNIT_COUNT) == 100.0);
    assert_true(value_of(&h, from, "container_cpu_throttled_periods", METRIC_UNIT_COUNT) == 25.0);
    assert_true(value_of(&h, from, "container_cpu_throttled_percent", METRIC_UNIT_PERCENT) == 25.0);
    assert_near(value_of(&h, from, "container_cpu_throttled_seconds", METRIC_UNIT_SECONDS), 0.25,
                "throttled_seconds");
    assert_true(value_of(&h, from, "container_memory_oom", METRIC_UNIT_COUNT) == 1.0);
    assert_true(value_of(&h, from, "container_memory_oom_kill", METRIC_UNIT_COUNT) == 1.0);
    assert_true(value_of(&h, from, "container_io_read_bytes", METRIC_UNIT_BYTES) == 4096.0);
    assert_true(value_of(&h, from, "container_io_write_bytes", METRIC_UNIT_BYTES) == 8192.0);
    assert_true(value_of(&h, from, "container_io_reads", METRIC_UNIT_COUNT) == 1.0);
    assert_true(value_of(&h, from, "container_io_writes", METRIC_UNIT_COUNT) == 2.0);
    /* The wall interval is the loop's, so only the shares are exact: 2 s of CPU time, of
     * which 1.5 s user and 0.5 s system, in roughly one second. */
    double usage = value_of(&h, from, "container_cpu_usage_percent", METRIC_UNIT_PERCENT);
    double user = value_of(&h, from, "container_cpu_user_percent", METRIC_UNIT_PERCENT);
    double system = value_of(&h, from, "container_cpu_system_percent", METRIC_UNIT_PERCENT);
    assert_true(usage > 0);
    assert_near(user / usage, 0.75, "user share");
    assert_near(system / usage, 0.25, "system share");
    assert_int_equal(h.n_got - from, 8 + 13);

    /* A counter that goes back (a reset) publishes no delta; 8:32 now counts. */
    snprintf(rel, sizeof(rel), "%s/cpu.stat", dir);
    write_file(&h, rel,
               "usage_usec 10\nuser_usec 5\nsystem_usec 5\n"
               "nr_periods 1100\nnr_throttled 65\nthrottled_usec 1050000\n");
    snprintf(rel, sizeof(rel), "%s/io.stat", dir);
    write_file(&h, rel,
               "259:0 rbytes=1052672 wbytes=2105344 rios=101 wios=202\n"
               "8:32 rbytes=1000000999 wbytes=999999999 rios=99999 wios=100000\n");
    from = h.n_got;
    run_scrape(&h);
    assert_null(find(&h, from, "container_cpu_usage_percent"));
    assert_null(find(&h, from, "container_cpu_user_percent"));
    assert_true(value_of(&h, from, "container_cpu_periods", METRIC_UNIT_COUNT) == 0.0);
    assert_null(find(&h, from, "container_cpu_throttled_percent")); /* no period elapsed */
    assert_true(value_of(&h, from, "container_memory_oom", METRIC_UNIT_COUNT) == 0.0);
    assert_true(value_of(&h, from, "container_io_read_bytes", METRIC_UNIT_BYTES) == 1000.0);
    assert_true(value_of(&h, from, "container_io_writes", METRIC_UNIT_COUNT) == 1.0);

    assert_dims(&h, "container_id", DOCKER_ID);
    assert_int_equal(selfstats_get(&h.c->stats.records_in), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), h.n_got);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);
}

static void test_collector_unlimited(void **state)
{
    (void)state;
    static struct harness h;
    harness_init(&h, "unlimited", "\"cgroup_path\": \"/" FARGATE_PATH "\"", NULL);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    /* "max" limits publish nothing: memory_current, anon, file, pids_current. */
    assert_int_equal(h.n_got, 4);
    assert_true(value_of(&h, 0, "container_memory_current", METRIC_UNIT_BYTES) == 1048576.0);
    assert_null(find(&h, 0, "container_memory_max"));
    assert_null(find(&h, 0, "container_memory_used_percent"));
    assert_null(find(&h, 0, "container_cpu_limit"));
    assert_null(find(&h, 0, "container_pids_max"));
    size_t from = h.n_got;
    run_scrape(&h);
    /* An empty io.stat twice: zero I/O, published. No periods: no throttled_percent. */
    assert_true(value_of(&h, from, "container_io_read_bytes", METRIC_UNIT_BYTES) == 0.0);
    assert_true(value_of(&h, from, "container_io_writes", METRIC_UNIT_COUNT) == 0.0);
    assert_true(value_of(&h, from, "container_cpu_usage_percent", METRIC_UNIT_PERCENT) == 0.0);
    assert_true(value_of(&h, from, "container_cpu_periods", METRIC_UNIT_COUNT) == 0.0);
    assert_null(find(&h, from, "container_cpu_throttled_percent"));
    assert_dims(&h, "container_id", FARGATE_TASK "-3814283727");
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);
}

static void test_collector_old_kernel(void **state)
{
    (void)state;
    static struct harness h;
    /* No cgroup_path: our own, "/" from proc-hybrid/self/cgroup. */
    harness_init(&h, "old-kernel", NULL, NULL);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3); /* memory_current, anon, file */
    assert_true(value_of(&h, 0, "container_memory_anon", METRIC_UNIT_BYTES) == 2048000.0);
    write_file(&h, "memory.events", "low 0\nhigh 0\nmax 3\noom 4\n");
    write_file(&h, "cpu.stat", "usage_usec 7000\nuser_usec 4000\nsystem_usec 3000\n");
    size_t from = h.n_got;
    run_scrape(&h);
    assert_true(value_of(&h, from, "container_memory_oom", METRIC_UNIT_COUNT) == 3.0);
    assert_true(value_of(&h, from, "container_cpu_usage_percent", METRIC_UNIT_PERCENT) == 0.0);
    assert_null(find(&h, from, "container_memory_oom_kill"));
    assert_null(find(&h, from, "container_cpu_periods"));
    assert_null(find(&h, from, "container_io_reads"));
    assert_null(find(&h, from, "container_pids_current"));
    assert_int_equal(h.n_got - from, 3 + 1 + 3);

    /* A controller enabled later: pids.current appears and is published. */
    write_file(&h, "pids.current", "5\n");
    from = h.n_got;
    run_scrape(&h);
    assert_true(value_of(&h, from, "container_pids_current", METRIC_UNIT_COUNT) == 5.0);
    assert_dims(&h, "cgroup", "/");
    /* Missing files are not errors. */
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    assert_int_equal(selfstats_dropped_total(&h.c->stats), 0);
    harness_release(&h);
}

static void test_collector_bad_files(void **state)
{
    (void)state;
    static struct harness h;
    const char *variants[] = {"truncated", "garbage"};
    for (size_t v = 0; v < 2; v++) {
        harness_init(&h, variants[v], "\"cgroup_path\": \"/\"", NULL);
        assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
        run_scrape(&h);
        assert_int_equal(h.n_got, 0);
        /* One per file, each under its own fine reason. */
        assert_int_equal(selfstats_get(&h.c->stats.errors), 9);
        assert_int_equal(selfstats_get(&h.c->stats.records_in), 9);
        assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 9);
        for (size_t i = 0; i < 9; i++) {
            assert_non_null(h.c->stats.reject_names[i]);
            assert_int_equal(selfstats_get(&h.c->stats.rejects[i]), 1);
        }
        assert_string_equal(h.c->stats.reject_names[0], "cpu_stat_malformed");
        assert_int_equal(selfstats_get(&h.c->stats.rejects[9]), 0); /* read_error */
        /* Fixed files are published again on the next scrape. */
        write_file(&h, "memory.current", "42\n");
        run_scrape(&h);
        assert_true(value_of(&h, 0, "container_memory_current", METRIC_UNIT_BYTES) == 42.0);
        assert_true(uv_loop_alive(&h.loop));
        harness_release(&h);
    }
}

static void test_collector_measurement(void **state)
{
    (void)state;
    static struct harness h;
    harness_init(&h, "limited",
                 "\"measurement\": [{\"name\": \"memory_current\", \"rename\": \"MemNow\", "
                 "\"unit\": \"Megabytes\"}, \"container_pids_current\"], "
                 "\"append_dimensions\": {}",
                 "proc-docker");
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 2);
    assert_true(value_of(&h, 0, "MemNow", METRIC_UNIT_MEGABYTES) == 268435456.0);
    assert_true(value_of(&h, 0, "container_pids_current", METRIC_UNIT_COUNT) == 17.0);
    assert_dims(&h, "container_id", DOCKER_ID); /* resolved from proc-docker/self/cgroup */
    harness_release(&h);
}

static void test_collector_start_errors(void **state)
{
    (void)state;
    static struct harness h;
    static const struct {
        const char *variant, *keys, *proc;
    } cases[] = {
        {"v1", NULL, NULL},                              /* not cgroup v2 */
        {"real", NULL, "proc-v1"},                       /* no 0:: line */
        {"limited", "\"cgroup_path\": \"/nope\"", NULL}, /* no such cgroup */
        {"limited", NULL, "proc-missing"},               /* no /proc/self/cgroup */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        harness_init(&h, cases[i].variant, cases[i].keys, cases[i].proc);
        int r = collector_start(h.c, &h.loop, &h.out);
        if (r >= 0)
            fail_msg("case %zu started", i);
        assert_int_equal(h.c->open_handles, 0);
        harness_release(&h);
    }
    /* The host's root cgroup (real files): cpu.stat only, no errors. */
    harness_init(&h, "real", NULL, NULL);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    for (int i = 0; i < 1000 && selfstats_get(&h.c->stats.bytes_in) == 0; i++)
        uv_run(&h.loop, UV_RUN_NOWAIT);
    assert_true(selfstats_get(&h.c->stats.bytes_in) > 0); /* cpu.stat was read */
    drain(&h);
    assert_int_equal(h.n_got, 0); /* cpu.stat counters only prime */
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);
}

static void test_collector_config_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"metrics\": {\"metrics_collected\": {\"container\": {\"cgroup_path\": \"../x\"}}}}",
        "{\"metrics\": {\"metrics_collected\": {\"container\": {\"cgroup_path\": \"/a//b\"}}}}",
        "{\"metrics\": {\"metrics_collected\": {\"container\": {\"cgroup_root\": \"rel\"}}}}",
        "{\"metrics\": {\"metrics_collected\": {\"container\": {\"cgroup_dir\": \"/\"}}}}",
        "{\"metrics\": {\"metrics_collected\": {\"container\": {\"measurement\": [\"bogus\"]}}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static struct harness h;
        memset(&h, 0, sizeof(h));
        int r = harness_create(&h, bad[i], NULL);
        if (r == 0)
            fail_msg("config %zu accepted", i);
        assert_true(h.errs.n > 0);
        assert_null(h.c);
        harness_release(&h);
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
        cmocka_unit_test(test_cpu_stat),
        cmocka_unit_test(test_cpu_max),
        cmocka_unit_test(test_single_values),
        cmocka_unit_test(test_memory_files),
        cmocka_unit_test(test_io_stat),
        cmocka_unit_test(test_self_cgroup),
        cmocka_unit_test(test_container_id),
        cmocka_unit_test(test_cpu_percent),
        cmocka_unit_test(test_collector_limited),
        cmocka_unit_test(test_collector_unlimited),
        cmocka_unit_test(test_collector_old_kernel),
        cmocka_unit_test(test_collector_bad_files),
        cmocka_unit_test(test_collector_measurement),
        cmocka_unit_test(test_collector_start_errors),
        cmocka_unit_test(test_collector_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_fixture);
}
