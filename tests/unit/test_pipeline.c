/*
 * Pipeline: routing by kind, backpressure from a full exporter back to the ring and the
 * paused source, delivery acknowledgements back to the source, and shutdown (drain,
 * final flush, deadline, clean loop close). A test collector type and a test exporter
 * type implement the real plugin contracts; everything runs on one loop here, the
 * two-thread case is covered by the stress and integration tests.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/clock.h"
#include "agent/pipeline.h"
#include "agent/ring.h"
#include "collectors/collector.h"
#include "exporters/exporter.h"

/* ---- a capturing exporter ---------------------------------------------------------- */

struct capture {
    int64_t capacity;
    bool never_idle;
    bool stuck; /* flush delivers nothing: what it holds stays held */
    int64_t held;
    int64_t added[RECORD_KIND_MAX];
    int64_t flushes;
    bool blocked;
    struct delivery_runs runs;
};

static const struct cfg_field capture_fields[] = {
    {"capacity", CFG_INT, offsetof(struct capture, capacity), "1000000", 0, 0, NULL, 0, "c"},
    {"never_idle", CFG_BOOL, offsetof(struct capture, never_idle), "false", 0, 0, NULL, 0, "n"},
    {"stuck", CFG_BOOL, offsetof(struct capture, stuck), "false", 0, 0, NULL, 0, "s"},
    CFG_END,
};

static int capture_add(struct exporter *e, const struct record_view *v)
{
    struct capture *c = e->ctx;
    if (c->held >= c->capacity) {
        c->blocked = true;
        return -EAGAIN;
    }
    c->held++;
    c->added[v->hdr.kind]++;
    assert_int_equal(delivery_runs_add(&c->runs, &v->hdr), 0);
    return 0;
}

static int capture_flush(struct exporter *e)
{
    struct capture *c = e->ctx;
    c->flushes++;
    if (c->stuck)
        return 0;
    c->held = 0;
    exporter_report_runs(e, &c->runs, DELIVERY_ACCEPTED);
    if (c->blocked) {
        c->blocked = false;
        exporter_ready(e);
    }
    return 0;
}

static bool capture_idle(struct exporter *e)
{
    struct capture *c = e->ctx;
    return !c->never_idle && c->held == 0;
}

static const struct exporter_type exporter_capture = {
    .name = "capture",
    .kinds = RECORD_KINDS_ALL,
    .fields = capture_fields,
    .ctx_size = sizeof(struct capture),
    .add = capture_add,
    .flush = capture_flush,
    .idle = capture_idle,
};

static const struct collector_type collector_source = {
    .name = "source",
    .kinds = RECORD_KINDS_ALL,
};

/* ---- fixture ----------------------------------------------------------------------- */

struct fixture {
    uv_loop_t loop;
    uv_async_t ack_wake;
    struct ring ring;
    struct pipeline pipeline;
    struct plugin_env env;
    struct cfg_doc doc;
    struct cfg_errors errs;
    struct exporter *exporters[2];
    size_t n_exporters;
    struct collector *source;
    struct collect_output out;
    bool done;
};

static void on_ack_wake(uv_async_t *h)
{
    (void)h;
}

static void on_done(struct pipeline *p, void *data)
{
    (void)p;
    struct fixture *f = data;
    f->done = true;
    uv_close((uv_handle_t *)&f->ack_wake, NULL);
}

static struct exporter *make_exporter(struct fixture *f, const char *json)
{
    assert_int_equal(cfg_doc_load_buffer(&f->doc, "t.json", json, strlen(json), &f->errs), 0);
    struct plugin_cfg pc = {&f->doc, "", &f->errs};
    struct exporter *e = NULL;
    assert_int_equal(exporter_create(&exporter_capture, "capture", (uint16_t)f->n_exporters,
                                     &f->env, &pc, f->doc.root, &e),
                     0);
    cfg_doc_release(&f->doc);
    f->exporters[f->n_exporters++] = e;
    return e;
}

static void fixture_start(struct fixture *f, uint64_t deadline_ns)
{
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_async_init(&f->loop, &f->ack_wake, on_ack_wake), 0);
    assert_int_equal(ring_init(&f->ring, RING_MIN_CAPACITY), 0);
    assert_int_equal(pipeline_init(&f->pipeline, &f->ring, f->exporters, f->n_exporters,
                                   /* flush_interval_ns= */ 0, deadline_ns),
                     0);
    assert_int_equal(pipeline_start(&f->pipeline, &f->loop, &f->ack_wake, on_done, f), 0);
    struct plugin_cfg pc = {&f->doc, "", &f->errs};
    assert_int_equal(
        collector_create(&collector_source, "source", 0, &f->env, &pc, NULL, &f->source), 0);
    f->out.ring = &f->ring;
    f->out.wake = &f->pipeline.wake;
    assert_int_equal(collector_start(f->source, &f->loop, &f->out), 0);
}

static void spin(struct fixture *f)
{
    for (int i = 0; i < 8; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void fixture_finish(struct fixture *f)
{
    if (!f->done) {
        pipeline_close_input(&f->pipeline);
        uv_run(&f->loop, UV_RUN_DEFAULT);
    }
    assert_true(f->done);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    collector_destroy(f->source);
    for (size_t i = 0; i < f->n_exporters; i++)
        exporter_destroy(f->exporters[i]);
    pipeline_release(&f->pipeline);
    ring_release(&f->ring);
    cfg_errors_release(&f->errs);
}

static int emit_log(struct fixture *f, uint64_t cookie)
{
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "line %llu", (unsigned long long)cookie);
    struct log_event ev = {"g", "s", (const uint8_t *)msg, (uint32_t)n};
    return collector_emit_log(f->source, clock_realtime_ns(), cookie, &ev);
}

static int emit_metric(struct fixture *f)
{
    struct metric_point p = {.namespace_ = "N", .name = "m", .value = 1};
    return collector_emit_metric(f->source, clock_realtime_ns(), 0, &p);
}

static struct capture *cap(struct exporter *e)
{
    return e->ctx;
}

/* Flush the slow exporter until it has every emitted record, then both, and check that
 * each exporter got them all. */
static void deliver_all(struct fixture *f, struct exporter *fast, struct exporter *slow,
                        int emitted)
{
    for (int i = 0; i < 1000 && cap(slow)->added[RECORD_LOG] < emitted; i++) {
        exporter_flush(slow);
        spin(f);
    }
    exporter_flush(slow);
    exporter_flush(fast);
    spin(f);
    assert_int_equal(cap(slow)->added[RECORD_LOG], emitted);
    assert_int_equal(cap(fast)->added[RECORD_LOG], emitted);
}

/* Acks: per exporter (two here), accepted runs of source 0's cookies 1..emitted, contiguous
 * and in order, none lost. */
static void expect_contiguous_acks(struct fixture *f, int emitted)
{
    uint64_t next[2] = {1, 1};
    struct delivery_ack ack;
    while (pipeline_take_ack(&f->pipeline, &ack)) {
        assert_int_equal(ack.source, 0);
        assert_int_equal(ack.outcome, DELIVERY_ACCEPTED);
        assert_true(ack.exporter < 2);
        assert_int_equal(ack.cookie_first, next[ack.exporter]);
        assert_int_equal(ack.cookie_last - ack.cookie_first + 1, ack.records);
        next[ack.exporter] = ack.cookie_last + 1;
    }
    assert_int_equal(next[0], (uint64_t)emitted + 1);
    assert_int_equal(next[1], (uint64_t)emitted + 1);
    assert_int_equal(atomic_load(&f->pipeline.acks_lost), 0);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_routing_by_kind(void **state)
{
    (void)state;
    struct fixture f = {0};
    struct exporter *logs = make_exporter(&f, "{\"kinds\": [\"logs\"]}");
    struct exporter *all = make_exporter(&f, "{}");
    fixture_start(&f, NS_PER_SEC);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(emit_log(&f, (uint64_t)i + 1), 0);
        assert_int_equal(emit_metric(&f), 0);
    }
    spin(&f);
    assert_int_equal(cap(logs)->added[RECORD_LOG], 10);
    assert_int_equal(cap(logs)->added[RECORD_METRIC], 0);
    assert_int_equal(cap(all)->added[RECORD_LOG], 10);
    assert_int_equal(cap(all)->added[RECORD_METRIC], 10);
    assert_int_equal(ring_used_bytes(&f.ring), 0);
    assert_int_equal(selfstats_get(&f.source->stats.records_out), 20);
    fixture_finish(&f);
}

static void test_unrouted_records_are_counted(void **state)
{
    (void)state;
    struct fixture f = {0};
    make_exporter(&f, "{\"kinds\": [\"logs\"]}");
    fixture_start(&f, NS_PER_SEC);
    assert_int_equal(emit_metric(&f), 0);
    spin(&f);
    assert_int_equal(atomic_load(&f.pipeline.records_unrouted), 1);
    fixture_finish(&f);
}

static void test_backpressure_and_acks(void **state)
{
    (void)state;
    struct fixture f = {0};
    /* The fast exporter comes first, so it takes the record the slow one refuses. */
    struct exporter *fast = make_exporter(&f, "{}");
    struct exporter *slow = make_exporter(&f, "{\"capacity\": 5}");
    fixture_start(&f, NS_PER_SEC);

    /* Fill the ring: the slow exporter takes 5 and then holds the pipeline back. */
    uint64_t cookie = 0;
    int emitted = 0;
    for (int round = 0; round < 4; round++) {
        while (emit_log(&f, cookie + 1) == 0) {
            cookie++;
            emitted++;
        }
        spin(&f);
    }
    assert_int_equal(cap(slow)->held, 5);
    /* The fast exporter got the blocked record too, but only once. */
    assert_int_equal(cap(fast)->added[RECORD_LOG], 6);
    assert_true(ring_used_bytes(&f.ring) > 0);
    assert_int_equal(emit_log(&f, cookie + 1), -ENOSPC);

    /* The paused source asks for space; nothing is freed while the exporter is full. */
    collector_request_space(f.source);
    spin(&f);
    assert_false(pipeline_take_space_freed(&f.pipeline));

    /* Draining in steps of 5 eventually delivers everything, in order. */
    deliver_all(&f, fast, slow, emitted);
    assert_true(pipeline_take_space_freed(&f.pipeline));
    assert_int_equal(selfstats_get(&f.source->stats.paused), 1);
    expect_contiguous_acks(&f, emitted);
    fixture_finish(&f);
}

static void test_shutdown_drains_and_flushes(void **state)
{
    (void)state;
    struct fixture f = {0};
    struct exporter *e = make_exporter(&f, "{}");
    fixture_start(&f, 5 * NS_PER_SEC);
    for (int i = 0; i < 50; i++)
        assert_int_equal(emit_log(&f, (uint64_t)i + 1), 0);
    /* No spin: close_input alone must drain, flush (capture_flush) and stop. */
    uint64_t t0 = clock_monotonic_ns();
    pipeline_close_input(&f.pipeline);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_true(f.done);
    assert_int_equal(cap(e)->added[RECORD_LOG], 50);
    assert_true(cap(e)->flushes >= 1);
    assert_int_equal(e->state, PLUGIN_STOPPED);
    assert_true(clock_monotonic_ns() - t0 < 2 * NS_PER_SEC);
    fixture_finish(&f);
}

static void test_shutdown_deadline(void **state)
{
    (void)state;
    struct fixture f = {0};
    struct exporter *e = make_exporter(&f, "{\"never_idle\": true}");
    fixture_start(&f, 200 * NS_PER_MS);
    assert_int_equal(emit_log(&f, 1), 0);
    uint64_t t0 = clock_monotonic_ns();
    pipeline_close_input(&f.pipeline);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    uint64_t elapsed = clock_monotonic_ns() - t0;
    assert_true(f.done);
    assert_true(elapsed >= 190 * NS_PER_MS);
    assert_true(elapsed < 3 * NS_PER_SEC);
    assert_int_equal(e->state, PLUGIN_STOPPED);
    fixture_finish(&f);
}

/* Batches of log events (a tailed file's RECORD_LOG_BATCH) reach exporters as single
 * events with consecutive cookies; an exporter that fills up mid-batch resumes at the
 * event it refused, so neither exporter sees an event twice or misses one. */
static void test_log_batches_resume_mid_batch(void **state)
{
    (void)state;
    struct fixture f = {0};
    struct exporter *fast = make_exporter(&f, "{}");
    struct exporter *slow = make_exporter(&f, "{\"capacity\": 7}");
    fixture_start(&f, NS_PER_SEC);

    static const char *const groups[] = {"g1", "g2"};
    struct collector_log_batch b = {0};
    uint64_t cookie = 1;
    int emitted = 0;
    for (int round = 0; round < 6; round++) {
        /* 25 events, the group changing after 10: two records, the second opened by the
         * change of names. */
        for (int i = 0; i < 25; i++) {
            char msg[32];
            int n = snprintf(msg, sizeof(msg), "line %llu", (unsigned long long)cookie);
            int r = collector_log_batch_add(f.source, &b, groups[i >= 10], "s", clock_realtime_ns(),
                                            cookie, (const uint8_t *)msg, (uint32_t)n);
            if (r == -ENOSPC)
                break;
            assert_int_equal(r, 0);
            cookie++;
            emitted++;
        }
        collector_log_batch_commit(f.source, &b);
        spin(&f);
    }
    assert_int_equal(cap(slow)->held, 7);
    assert_true(emitted > 7);
    assert_int_equal(selfstats_get(&f.source->stats.records_out), emitted);

    deliver_all(&f, fast, slow, emitted);
    assert_int_equal(atomic_load(&f.pipeline.records_undecodable), 0);
    expect_contiguous_acks(&f, emitted);
    fixture_finish(&f);
}

/* Events of a batch still in the ring when the deadline passes are each counted. */
static void test_log_batch_abandoned_events_counted(void **state)
{
    (void)state;
    struct fixture f = {0};
    make_exporter(&f, "{\"capacity\": 3, \"never_idle\": true, \"stuck\": true}");
    fixture_start(&f, 200 * NS_PER_MS);
    struct collector_log_batch b = {0};
    for (uint64_t c = 1; c <= 10; c++)
        assert_int_equal(collector_log_batch_add(f.source, &b, "g", "s", clock_realtime_ns(), c,
                                                 (const uint8_t *)"x", 1),
                         0);
    collector_log_batch_commit(f.source, &b);
    spin(&f);
    pipeline_close_input(&f.pipeline);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(atomic_load(&f.pipeline.records_abandoned), 7);
    fixture_finish(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_by_kind),
        cmocka_unit_test(test_unrouted_records_are_counted),
        cmocka_unit_test(test_backpressure_and_acks),
        cmocka_unit_test(test_shutdown_drains_and_flushes),
        cmocka_unit_test(test_shutdown_deadline),
        cmocka_unit_test(test_log_batches_resume_mid_batch),
        cmocka_unit_test(test_log_batch_abandoned_events_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
