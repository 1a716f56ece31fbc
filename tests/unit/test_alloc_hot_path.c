/*
 * "No allocation per record on the hot path", measured: the test binary is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (tests/CMakeLists.txt), so every
 * allocation made by Osprey's own code is counted. After a warm-up, records go
 * collector -> ring -> pipeline -> file sink (JSON lines, written and fdatasync'ed) ->
 * delivery acks back, and the count must not move.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/clock.h"
#include "agent/pipeline.h"
#include "agent/ring.h"
#include "collectors/collector.h"
#include "exporters/exporter.h"

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

extern const struct exporter_type exporter_file;

static const struct collector_type collector_source = {
    .name = "source",
    .kinds = RECORD_KINDS_ALL,
};

static void on_ack_wake(uv_async_t *h)
{
    (void)h;
}

static bool done;

static void on_done(struct pipeline *p, void *data)
{
    (void)p;
    done = true;
    uv_close((uv_handle_t *)data, NULL);
}

static void spin(uv_loop_t *loop)
{
    for (int i = 0; i < 4; i++)
        uv_run(loop, UV_RUN_NOWAIT);
}

static void test_records_allocate_nothing_after_warm_up(void **state)
{
    (void)state;
    char dir[] = "/tmp/osprey-alloc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char config[256];
    snprintf(config, sizeof(config), "{\"directory\": \"%s\"}", dir);

    struct plugin_env env = {.hostname = "h", .metrics_namespace = "CWAgent"};
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc doc;
    assert_int_equal(cfg_doc_load_buffer(&doc, "t.json", config, strlen(config), &errs), 0);
    struct plugin_cfg pc = {&doc, "", &errs};
    struct exporter *file = NULL;
    assert_int_equal(exporter_create(&exporter_file, "file", 0, &env, &pc, doc.root, &file), 0);
    struct collector *src = NULL;
    assert_int_equal(collector_create(&collector_source, "source", 0, &env, &pc, NULL, &src), 0);
    cfg_doc_release(&doc);

    uv_loop_t loop;
    uv_async_t ack_wake;
    struct ring ring;
    struct pipeline pipeline;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_async_init(&loop, &ack_wake, on_ack_wake), 0);
    assert_int_equal(ring_init(&ring, 1u << 20), 0);
    assert_int_equal(pipeline_init(&pipeline, &ring, &file, 1, NS_PER_SEC, NS_PER_SEC), 0);
    assert_int_equal(pipeline_start(&pipeline, &loop, &ack_wake, on_done, &ack_wake), 0);
    struct collect_output out = {&ring, &pipeline.wake};
    assert_int_equal(collector_start(src, &loop, &out), 0);

    char msg[256];
    struct metric_point p = {.namespace_ = "CWAgent", .name = "m", .unit = METRIC_UNIT_COUNT};
    metric_point_add_dim(&p, "host", "h");
    uint64_t cookie = 1;
    size_t before = 0;
    for (int round = 0; round < 20; round++) {
        if (round == 10)
            before = allocations; /* buffers have reached their size by now */
        for (int i = 0; i < 500; i++, cookie++) {
            int n = snprintf(msg, sizeof(msg), "log line %llu with some text",
                             (unsigned long long)cookie);
            struct log_event ev = {"group", "stream", (const uint8_t *)msg, (uint32_t)n};
            assert_int_equal(collector_emit_log(src, clock_realtime_ns(), cookie, &ev), 0);
            p.value = (double)i;
            assert_int_equal(collector_emit_metric(src, clock_realtime_ns(), 0, &p), 0);
        }
        spin(&loop);
        assert_int_equal(exporter_flush(file), 0); /* write + fdatasync + acks */
        struct delivery_ack ack;
        while (pipeline_take_ack(&pipeline, &ack))
            assert_int_equal(ack.outcome, DELIVERY_ACCEPTED);
    }
    /* The wrap sees Osprey's allocations (set-up made plenty), so zero below means zero. */
    assert_true(before > 10);
    size_t per_10000 = allocations - before;
    printf("allocations during 10,000 records after warm-up: %zu\n", per_10000);
    assert_int_equal(per_10000, 0);
    assert_int_equal(selfstats_get(&file->stats.records_out), 20000);

    pipeline_close_input(&pipeline);
    collector_stop(src, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(done);
    assert_int_equal(uv_loop_close(&loop), 0);
    collector_destroy(src);
    exporter_destroy(file);
    pipeline_release(&pipeline);
    ring_release(&ring);
    cfg_errors_release(&errs);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_allocate_nothing_after_warm_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
