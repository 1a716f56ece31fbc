/*
 * Tests for collectors/procfs_proc.{h,c} (/proc/[pid]/stat parser, pid iterator) and the
 * processes collector built on them, driven on a real libuv loop against the fixture
 * trees in tests/data/proc/ and a scratch proc root whose pids come and go.
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
#include "collectors/procfs_proc.h"

extern const struct collector_type collector_processes;

#include "alloc_hooks.h"

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

static int parse_str(const char *s, struct procfs_pid_stat *st)
{
    return procfs_parse_pid_stat(s, strlen(s), st);
}

/* ---- /proc/[pid]/stat ------------------------------------------------------------- */

static void test_pid_stat_real(void **state)
{
    (void)state;
    struct procfs_pid_stat st;
    const struct procfs_buf *b = fixture("real", "1/stat");
    assert_int_equal(procfs_parse_pid_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.num_threads, 18);
    b = fixture("real", "11661/stat"); /* kworker/0:2, an idle kernel thread */
    assert_int_equal(procfs_parse_pid_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.state, 'I');
    assert_int_equal(st.num_threads, 1);
    b = fixture("procs", "111/stat"); /* comm "a) S (b": the last ')' ends it */
    assert_int_equal(procfs_parse_pid_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.state, 'R');
    assert_int_equal(st.num_threads, 3);
    b = fixture("procs", "101/stat"); /* comm "(sd-pam)" */
    assert_int_equal(procfs_parse_pid_stat(b->data, b->len, &st), 0);
    assert_int_equal(st.state, 'S');

    /* This process, live: running (it is reading its own stat), at least one thread. */
    struct procfs_buf live = {0};
    assert_int_equal(procfs_read_file("/proc/self/stat", &live), 0);
    assert_int_equal(procfs_parse_pid_stat(live.data, live.len, &st), 0);
    assert_int_equal(st.state, 'R');
    assert_true(st.num_threads >= 1);
    procfs_buf_release(&live);
}

static void test_pid_stat_edges(void **state)
{
    (void)state;
    struct procfs_pid_stat st;
    /* Exactly 20 fields; an empty comm; negative priority/nice/tpgid. */
    assert_int_equal(parse_str("7 () D 1 -1 -1 0 -1 0 0 0 0 0 0 0 0 0 -100 -20 9\n", &st), 0);
    assert_int_equal(st.state, 'D');
    assert_int_equal(st.num_threads, 9);
    /* A comm with blanks and a newline-free tail of extra fields. */
    assert_int_equal(parse_str("8 (a b  c) t 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2 0 0\n", &st),
                     0);
    assert_int_equal(st.state, 't');
    assert_int_equal(st.num_threads, 2);

    static const char *const bad[] = {
        "",
        "\n",
        "7 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2",     /* cut: no '\n' */
        "7 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",     /* 19 fields */
        "7 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 -2\n",  /* negative threads */
        "7 (x) 5 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2\n",   /* state not a letter */
        "7 (x)S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2\n",    /* no blank */
        "7 (x) S  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2\n",  /* two blanks */
        "7 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2x\n",  /* "2x" */
        "7 x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2\n",    /* no '(' */
        "7 (x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2\n",    /* no ')' */
        "x (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2\n",   /* pid */
        "7 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 2\n\n", /* ends in an empty line */
        "7 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 - 2\n",    /* a lone '-' */
        "7 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 18446744073709551616\n", /* overflow */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_str(bad[i], &st) != -EBADMSG)
            fail_msg("accepted bad stat #%zu '%s'", i, bad[i]);
    assert_int_equal(procfs_parse_pid_stat(fixture("procs", "112/stat")->data,
                                           fixture("procs", "112/stat")->len, &st),
                     -EBADMSG);
    const struct procfs_buf *b = fixture("garbage", "31337/stat");
    assert_int_equal(procfs_parse_pid_stat(b->data, b->len, &st), -EBADMSG);
    b = fixture("truncated", "31337/stat");
    assert_int_equal(procfs_parse_pid_stat(b->data, b->len, &st), -EBADMSG);
}

static void test_pid_names_and_iterator(void **state)
{
    (void)state;
    uint32_t pid = 0;
    assert_true(procfs_is_pid_name("1", &pid));
    assert_int_equal(pid, 1);
    assert_true(procfs_is_pid_name("4194304", &pid));
    assert_int_equal(pid, 4194304);
    assert_false(procfs_is_pid_name("4194305", &pid));
    assert_false(procfs_is_pid_name("12345678", &pid));
    assert_false(procfs_is_pid_name("0123", &pid));
    assert_false(procfs_is_pid_name("0", &pid));
    assert_false(procfs_is_pid_name("", &pid));
    assert_false(procfs_is_pid_name("self", &pid));
    assert_false(procfs_is_pid_name("12a", &pid));

    /* The fixture root: 100..113, not "self" nor "0123"; a small buffer refills. */
    static char buf[PROCFS_PIDS_BUF_MIN] __attribute__((aligned(8)));
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/procs", OSPREY_TEST_DATA);
    struct procfs_pids it;
    assert_int_equal(procfs_pids_open(&it, root, buf, sizeof(buf)), 0);
    uint32_t seen = 0, n = 0;
    int r;
    while ((r = procfs_pids_next(&it, &pid)) == 1) {
        assert_true(pid >= 100 && pid <= 113);
        assert_false(seen & (1u << (pid - 100)));
        seen |= 1u << (pid - 100);
        n++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, 14);
    procfs_pids_close(&it);
    procfs_pids_close(&it); /* twice is fine */

    assert_int_equal(procfs_pids_open(&it, "/nonexistent-proc", buf, sizeof(buf)), -ENOENT);
    procfs_pids_close(&it);
    assert_int_equal(procfs_pids_open(&it, root, buf, 16), -EINVAL);

    /* The live /proc lists this process (its entries need several 1 KiB refills). */
    assert_int_equal(procfs_pids_open(&it, "/proc", buf, sizeof(buf)), 0);
    bool found = false;
    while ((r = procfs_pids_next(&it, &pid)) == 1)
        found = found || pid == (uint32_t)getpid();
    assert_int_equal(r, 0);
    assert_true(found);
    procfs_pids_close(&it);
}

/* ---- the collector on a loop ------------------------------------------------------ */

struct got_metric {
    char name[64];
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
    struct got_metric got[256];
    size_t n_got;
    bool stopped;
};

static void harness_init(struct harness *h, const char *json, const char *proc_root,
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
    assert_int_equal(cfg_doc_load_buffer(&h->doc, "test.json", json, strlen(json), &h->errs), 0);
    json_t *obj = json_object_get(
        json_object_get(json_object_get(h->doc.root, "metrics"), "metrics_collected"), "processes");
    struct plugin_cfg cfg = {
        .doc = &h->doc, .path = collector_processes.config_path, .errs = &h->errs};
    int r = collector_create(&collector_processes, "processes", 7, &h->env, &cfg, obj, &h->c);
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
        const struct metric_point *p = &v.u.metric;
        snprintf(g->name, sizeof(g->name), "%s", p->name);
        g->unit = p->unit;
        g->value = p->value;
        /* No dimension of its own: host only. */
        assert_int_equal(p->n_dims, 1);
        assert_string_equal(p->dims[0].name, "host");
        ring_consume(&h->ring);
    }
}

static void run_scrape(struct harness *h)
{
    uint64_t before = selfstats_get(&h->c->stats.records_in);
    for (int i = 0; i < 1000 && selfstats_get(&h->c->stats.records_in) == before; i++) {
        counting = true;
        uv_run(&h->loop, UV_RUN_NOWAIT);
        counting = false;
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
}

static double value_of(const struct harness *h, size_t from, const char *name)
{
    const struct got_metric *found = NULL;
    for (size_t i = from; i < h->n_got; i++) {
        if (strcmp(h->got[i].name, name) == 0) {
            if (found)
                fail_msg("%s published twice", name);
            found = &h->got[i];
        }
    }
    if (!found)
        fail_msg("%s not published", name);
    assert_int_equal(found->unit, METRIC_UNIT_COUNT);
    return found->value;
}

static bool published(const struct harness *h, const char *name)
{
    for (size_t i = 0; i < h->n_got; i++)
        if (strcmp(h->got[i].name, name) == 0)
            return true;
    return false;
}

static void test_processes_collector_fixture(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/procs", OSPREY_TEST_DATA);
    harness_init(&h, "{\"metrics\": {\"metrics_collected\": {\"processes\": {}}}}", root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    /* The ten Linux fields, not "wait". */
    assert_int_equal(h.n_got, 10);
    assert_false(published(&h, "processes_wait"));
    assert_true(value_of(&h, 0, "processes_running") == 2); /* 100, 111 */
    assert_true(value_of(&h, 0, "processes_sleeping") == 1);
    assert_true(value_of(&h, 0, "processes_blocked") == 1);
    assert_true(value_of(&h, 0, "processes_zombies") == 1);
    assert_true(value_of(&h, 0, "processes_dead") == 1);
    assert_true(value_of(&h, 0, "processes_stopped") == 2); /* T and t */
    assert_true(value_of(&h, 0, "processes_paging") == 1);
    assert_true(value_of(&h, 0, "processes_idle") == 1);
    /* P and K count in the total only; 112 (bad stat) nowhere; 113 (gone) silently. */
    assert_true(value_of(&h, 0, "processes_total") == 12);
    assert_true(value_of(&h, 0, "processes_total_threads") == 18);
    assert_string_equal(h.c->stats.reject_names[2], "bad_stat");
    assert_int_equal(selfstats_get(&h.c->stats.rejects[2]), 1);
    assert_int_equal(selfstats_get(&h.c->stats.rejects[1]), 0);
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 10 + 1);
    assert_int_equal(selfstats_get(&h.c->stats.records_out), 10);
    assert_int_equal(selfstats_get(&h.c->stats.dropped[DROP_MALFORMED]), 1);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    harness_release(&h);

    /* The real tree; measurement names with and without the prefix, and "wait". */
    snprintf(root, sizeof(root), "%s/proc/real", OSPREY_TEST_DATA);
    harness_init(&h,
                 "{\"metrics\": {\"metrics_collected\": {\"processes\": {\"measurement\": "
                 "[\"processes_total\", \"idle\", \"sleeping\", \"wait\", {\"name\": "
                 "\"total_threads\", \"rename\": \"Threads\"}]}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 4);
    assert_true(value_of(&h, 0, "processes_total") == 3);
    assert_true(value_of(&h, 0, "processes_idle") == 1);
    assert_true(value_of(&h, 0, "processes_sleeping") == 2);
    assert_true(value_of(&h, 0, "Threads") == 20);
    assert_false(published(&h, "processes_wait"));
    harness_release(&h);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void add_pid(const char *root, unsigned pid, char state, unsigned threads)
{
    char path[512], line[256];
    snprintf(path, sizeof(path), "%s/%u", root, pid);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/%u/stat", root, pid);
    snprintf(line, sizeof(line), "%u (p%u) %c 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 %u 0 1\n", pid, pid,
             state, threads);
    write_file(path, line);
}

static void remove_pid(const char *root, unsigned pid)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%u/stat", root, pid);
    (void)unlink(path);
    snprintf(path, sizeof(path), "%s/%u", root, pid);
    assert_int_equal(rmdir(path), 0);
}

static void test_processes_collector_churn(void **state)
{
    (void)state;
    static struct harness h;
    char root[] = "/tmp/osprey-procs-XXXXXX";
    assert_non_null(mkdtemp(root));
    for (unsigned pid = 1; pid <= 300; pid++)
        add_pid(root, pid, pid % 3 == 0 ? 'R' : 'S', 1 + pid % 2);
    harness_init(&h,
                 "{\"metrics\": {\"metrics_collected\": {\"processes\": {\"measurement\": "
                 "[\"running\", \"sleeping\", \"total\", \"total_threads\"], "
                 "\"metrics_collection_interval\": 1}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_true(value_of(&h, 0, "processes_total") == 300);
    assert_true(value_of(&h, 0, "processes_running") == 100);
    assert_true(value_of(&h, 0, "processes_sleeping") == 200);
    assert_true(value_of(&h, 0, "processes_total_threads") == 450);

    /* Processes exit (stat gone, dir still listed: the race with a live exit) and start;
     * none of it is an error. */
    for (unsigned pid = 1; pid <= 50; pid++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%u/stat", root, pid);
        assert_int_equal(unlink(path), 0);
    }
    for (unsigned pid = 51; pid <= 60; pid++)
        remove_pid(root, pid);
    add_pid(root, 1000, 'Z', 1);
    size_t from = h.n_got;
    run_scrape(&h);
    assert_true(value_of(&h, from, "processes_total") == 241);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
    assert_int_equal(selfstats_dropped_total(&h.c->stats), 0);
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 8);
    harness_release(&h);

    for (unsigned pid = 1; pid <= 300; pid++)
        if (pid > 60 || pid <= 50)
            remove_pid(root, pid);
    remove_pid(root, 1000);
    assert_int_equal(rmdir(root), 0);
}

static void test_processes_collector_bad_root(void **state)
{
    (void)state;
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/missing", OSPREY_TEST_DATA);
    harness_init(&h, "{\"metrics\": {\"metrics_collected\": {}}}", root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    run_scrape(&h);
    assert_int_equal(h.n_got, 0);
    assert_int_equal(selfstats_get(&h.c->stats.errors), 1);
    assert_int_equal(selfstats_get(&h.c->stats.rejects[0]), 1); /* proc_unreadable */
    assert_int_equal(selfstats_get(&h.c->stats.records_in), 1);
    assert_true(uv_loop_alive(&h.loop));
    harness_release(&h);

    /* garbage and truncated roots: the one pid is rejected, the counts are still
     * published (that process is simply not counted). */
    const char *roots[] = {"garbage", "truncated"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(root, sizeof(root), "%s/proc/%s", OSPREY_TEST_DATA, roots[i]);
        harness_init(&h,
                     "{\"metrics\": {\"metrics_collected\": {\"processes\": {\"measurement\": "
                     "[\"total\"]}}}}",
                     root, 1u << 16);
        assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
        run_scrape(&h);
        assert_int_equal(h.n_got, 1);
        assert_true(value_of(&h, 0, "processes_total") == 0);
        assert_int_equal(selfstats_get(&h.c->stats.rejects[2]), 1);
        assert_int_equal(selfstats_get(&h.c->stats.errors), 0);
        harness_release(&h);
    }
}

static void test_processes_allocate_nothing_after_warm_up(void **state)
{
    (void)state;
    if (!ALLOC_COUNTING)
        skip();
    alloc_counting_install();
    static struct harness h;
    char root[512];
    snprintf(root, sizeof(root), "%s/proc/procs", OSPREY_TEST_DATA);
    harness_init(&h,
                 "{\"metrics\": {\"metrics_collected\": {\"processes\": "
                 "{\"metrics_collection_interval\": 1}}}}",
                 root, 1u << 16);
    assert_int_equal(collector_start(h.c, &h.loop, &h.out), 0);
    allocations = 0;
    run_scrape(&h);
    assert_true(allocations > 0); /* the hook sees the stat buffer being sized */
    allocations = 0;
    run_scrape(&h);
    run_scrape(&h);
    assert_int_equal(h.n_got, 3 * 10);
    assert_int_equal(allocations, 0);
    harness_release(&h);
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
        cmocka_unit_test(test_pid_stat_real),
        cmocka_unit_test(test_pid_stat_edges),
        cmocka_unit_test(test_pid_names_and_iterator),
        cmocka_unit_test(test_processes_collector_fixture),
        cmocka_unit_test(test_processes_collector_churn),
        cmocka_unit_test(test_processes_collector_bad_root),
        cmocka_unit_test(test_processes_allocate_nothing_after_warm_up),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_fixture);
}
