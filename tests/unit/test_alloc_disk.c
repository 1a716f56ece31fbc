/*
 * "A scrape allocates nothing after warm-up", measured for the swap, disk and diskio
 * collectors: the binary is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 * (tests/CMakeLists.txt, test_alloc_* files), so every allocation Osprey's own code makes
 * is counted. The three collectors run on one loop against fixture files (swap with
 * in/out, diskio over every device, disk over a table of real mount points); after two
 * scrapes each have sized their buffers and tables, two more must not allocate.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/ring.h"
#include "collectors/collector.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static size_t allocations;

void *__wrap_malloc(size_t size)
{
    allocations++;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    allocations++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    allocations++;
    return __real_realloc(p, size);
}

extern const struct collector_type collector_swap;
extern const struct collector_type collector_disk;
extern const struct collector_type collector_diskio;

#define N_COLLECTORS 3

static void on_stopped(struct collector *c, void *data)
{
    (void)c;
    (*(int *)data)++;
}

static uint64_t scrapes_seen(struct collector *c)
{
    return selfstats_get(&c->stats.bytes_in);
}

/* Run the loop until every collector has read its files once more, draining the ring. */
static void run_scrape(uv_loop_t *loop, struct ring *ring, struct collector **cs)
{
    uint64_t before[N_COLLECTORS];
    for (int i = 0; i < N_COLLECTORS; i++)
        before[i] = scrapes_seen(cs[i]);
    for (int spin = 0; spin < 1000; spin++) {
        uv_run(loop, UV_RUN_NOWAIT);
        size_t len;
        while (ring_peek(ring, &len))
            ring_consume(ring);
        bool all = true;
        for (int i = 0; i < N_COLLECTORS; i++)
            all = all && scrapes_seen(cs[i]) > before[i];
        if (all)
            return;
        usleep(5000);
    }
    fail_msg("a collector did not scrape");
}

static void test_scrapes_allocate_nothing_after_warm_up(void **state)
{
    (void)state;
    char root[] = "/tmp/osprey-alloc-disk-XXXXXX";
    assert_non_null(mkdtemp(root));
    char path[512], self[256];
    snprintf(self, sizeof(self), "%s/self", root);
    assert_int_equal(mkdir(self, 0755), 0);
    const char *fixtures[][2] = {
        {"kernel-2.6.32", "meminfo"}, {"kernel-2.6.32", "vmstat"}, {"multicore", "diskstats"}};
    for (size_t i = 0; i < 3; i++) {
        char src[512], cmd[1200];
        snprintf(src, sizeof(src), "%s/proc/%s/%s", OSPREY_TEST_DATA, fixtures[i][0],
                 fixtures[i][1]);
        snprintf(path, sizeof(path), "%s/%s", root, fixtures[i][1]);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, path);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(path, sizeof(path), "%s/self/mounts", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "/dev/vda / ext4 rw 0 0\ntmpfs %s tmpfs rw 0 0\nproc /proc proc rw 0 0\n"
            "sysfs /sys sysfs rw 0 0\n/dev/gone /nonexistent-osprey ext4 rw 0 0\n",
            root);
    assert_int_equal(fclose(f), 0);

    const char *json = "{\"swap\": {\"metrics_collection_interval\": 1, \"measurement\": "
                       "[\"free\", \"used_percent\", \"in\", \"out\"]},"
                       " \"disk\": {\"metrics_collection_interval\": 1},"
                       " \"diskio\": {\"metrics_collection_interval\": 1}}";
    const struct collector_type *types[N_COLLECTORS] = {&collector_swap, &collector_disk,
                                                        &collector_diskio};
    struct plugin_env env = {.hostname = "h",
                             .proc_root = root,
                             .metrics_namespace = "CWAgent",
                             .metrics_interval_ns = 60 * NS_PER_SEC};
    struct cfg_errors errs;
    struct cfg_doc doc;
    cfg_errors_init(&errs);
    assert_int_equal(cfg_doc_load_buffer(&doc, "t.json", json, strlen(json), &errs), 0);
    struct collector *cs[N_COLLECTORS];
    for (int i = 0; i < N_COLLECTORS; i++) {
        struct plugin_cfg pc = {&doc, types[i]->name, &errs};
        assert_int_equal(collector_create(types[i], types[i]->name, (uint16_t)i, &env, &pc,
                                          json_object_get(doc.root, types[i]->name), &cs[i]),
                         0);
    }

    uv_loop_t loop;
    struct ring ring;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ring_init(&ring, 1u << 20), 0);
    struct collect_output out = {&ring, NULL};
    for (int i = 0; i < N_COLLECTORS; i++)
        assert_int_equal(collector_start(cs[i], &loop, &out), 0);

    run_scrape(&loop, &ring, cs);
    run_scrape(&loop, &ring, cs);
    size_t before = allocations;
    uint64_t out_before = 0;
    for (int i = 0; i < N_COLLECTORS; i++)
        out_before += selfstats_get(&cs[i]->stats.records_out);
    run_scrape(&loop, &ring, cs);
    run_scrape(&loop, &ring, cs);
    size_t during = allocations - before;
    uint64_t emitted = 0;
    for (int i = 0; i < N_COLLECTORS; i++)
        emitted += selfstats_get(&cs[i]->stats.records_out);
    emitted -= out_before;
    printf("allocations during 2 scrapes of swap+disk+diskio (%llu metrics): %zu\n",
           (unsigned long long)emitted, during);
    assert_true(before > 10); /* the wrap sees Osprey's allocations */
    /* swap 4, diskio 5 devices x 8, disk 2 mounts x 7 (proc a dummy, /nonexistent fails). */
    assert_int_equal(emitted, 2 * (4 + 5 * 8 + 2 * 7));
    assert_int_equal(during, 0);

    int stopped = 0;
    for (int i = 0; i < N_COLLECTORS; i++)
        collector_stop(cs[i], on_stopped, &stopped);
    for (int i = 0; i < 100 && stopped < N_COLLECTORS; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(stopped, N_COLLECTORS);
    for (int i = 0; i < N_COLLECTORS; i++)
        collector_destroy(cs[i]);
    assert_int_equal(uv_loop_close(&loop), 0);
    ring_release(&ring);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
    const char *files[] = {"meminfo", "vmstat", "diskstats", "self/mounts"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, files[i]);
        unlink(path);
    }
    rmdir(self);
    rmdir(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrapes_allocate_nothing_after_warm_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
