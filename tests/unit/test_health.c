/* The health endpoint's pure layer: the stuck decision, Prometheus text-format names,
 * escaping and family grouping, and the three answers rendered from a fake agent (no
 * loop, no socket). The endpoint over HTTP is tested in integration/test_health.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/buf.h"
#include "agent/clock.h"
#include "agent/health.h"
#include "agent/ring.h"

#define S NS_PER_SEC

static void test_track_stuck_only_while_data_waits(void **state)
{
    (void)state;
    struct health_track t = {0};
    uint64_t after = 30 * S;
    /* Idle: never stuck, however long nothing moves. */
    assert_false(health_track_update(&t, 0, false, 0, after));
    assert_false(health_track_update(&t, 0, false, 100 * S, after));
    /* Data starts waiting at 100 s: the clock runs from the last idle sample. */
    assert_false(health_track_update(&t, 0, true, 110 * S, after));
    assert_int_equal(t.stalled_ns, 10 * S);
    assert_false(health_track_update(&t, 0, true, 129 * S, after));
    assert_true(health_track_update(&t, 0, true, 130 * S, after));
    assert_int_equal(t.stalled_ns, 30 * S);
    /* One delivery resets it. */
    assert_false(health_track_update(&t, 5, true, 131 * S, after));
    assert_int_equal(t.stalled_ns, 0);
    assert_false(health_track_update(&t, 5, true, 160 * S, after));
    assert_true(health_track_update(&t, 5, true, 161 * S, after));
    /* Draining to idle clears it, with no progress needed (all dropped, say). */
    assert_false(health_track_update(&t, 5, false, 162 * S, after));
    assert_false(t.stuck);
    assert_false(health_track_update(&t, 5, true, 190 * S, after));
}

static void test_track_first_sample_busy(void **state)
{
    (void)state;
    struct health_track t = {0};
    /* The first sample only starts the clock, even when busy and progress is non-zero. */
    assert_false(health_track_update(&t, 42, true, 1000 * S, 3 * S));
    assert_false(health_track_update(&t, 42, true, 1002 * S, 3 * S));
    assert_true(health_track_update(&t, 42, true, 1003 * S, 3 * S));
}

static void test_reason_text(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(health_reason_format(&b, "cloudwatch_logs", 30 * S + 999, 1234), 0);
    assert_string_equal((char *)b.data,
                        "exporter cloudwatch_logs: no acknowledged records for 30 s while data "
                        "waits (1234 records taken and not yet delivered)\n");
    buf_release(&b);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(prom_name_valid("osprey_records_in_total", false));
    assert_true(prom_name_valid("a:b", false));
    assert_false(prom_name_valid("a:b", true));
    assert_true(prom_name_valid("_x9", true));
    assert_false(prom_name_valid("9x", false));
    assert_false(prom_name_valid("", false));
    assert_false(prom_name_valid(NULL, false));
    assert_false(prom_name_valid("tail-lag", false));
    assert_false(prom_name_valid("é", false));
}

static void test_escaping(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(prom_escape_label_value(&b, "C:\\logs\\\"x\"\nend"), 0);
    assert_string_equal((char *)b.data, "C:\\\\logs\\\\\\\"x\\\"\\nend");
    buf_reset(&b);
    /* HELP escapes backslash and newline only. */
    assert_int_equal(prom_escape_help(&b, "a \"q\" \\ b\nc"), 0);
    assert_string_equal((char *)b.data, "a \"q\" \\\\ b\\nc");
    buf_release(&b);
}

static void test_family_and_samples(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    struct prom_text p = {.out = &b};
    prom_family(&p, "osprey_x_total", "counter", "help with \\ and\nnewline");
    prom_sample(&p, "osprey_x_total", (const char *[]){"plugin", "a\"b", "kind", "collector", NULL},
                12);
    prom_sample(&p, "osprey_x_total", NULL, 0.25);
    prom_sample(&p, "osprey_x_total", NULL, 1e20);
    prom_sample(&p, "osprey_x_total", NULL, 1.0 / 0.0);
    prom_sample(&p, "osprey_x_total", NULL, -1.0 / 0.0);
    prom_sample(&p, "osprey_x_total", NULL, 0.0 / 0.0);
    assert_int_equal(p.error, 0);
    assert_string_equal((char *)b.data, "# HELP osprey_x_total help with \\\\ and\\nnewline\n"
                                        "# TYPE osprey_x_total counter\n"
                                        "osprey_x_total{plugin=\"a\\\"b\",kind=\"collector\"} 12\n"
                                        "osprey_x_total 0.25\n"
                                        "osprey_x_total 1e+20\n"
                                        "osprey_x_total +Inf\n"
                                        "osprey_x_total -Inf\n"
                                        "osprey_x_total NaN\n");
    /* A bad label name writes nothing and sticks as the error. */
    size_t before = b.len;
    prom_sample(&p, "osprey_x_total", (const char *[]){"bad-label", "v", NULL}, 1);
    assert_int_equal(b.len, before);
    assert_int_equal(p.error, -EINVAL);
    buf_release(&b);
}

/* ---- a fake agent ---------------------------------------------------------------------- */

static void fake_self_metrics(struct collector *c,
                              void (*emit)(void *user, const char *name, const char *label,
                                           const char *label_value, double value),
                              void *user)
{
    (void)c;
    emit(user, "tail_lag_bytes", "file", "/var/log/a \"quoted\"\\dir\nx.log", 10);
    emit(user, "tail_files", NULL, NULL, 2);
    emit(user, "tail_lag_bytes", "file", "/var/log/b.log", 0);
    emit(user, "records_in_total", NULL, NULL, 1); /* a built-in family: ignored */
    emit(user, "bad-name", NULL, NULL, 1);         /* invalid: ignored */
    emit(user, "tail_x", "plugin", "v", 1);        /* would clash with our label: ignored */
}

static const struct collector_type fake_tail = {.name = "files", .self_metrics = fake_self_metrics};
static const struct collector_type fake_cpu = {.name = "cpu"};
static const struct exporter_type fake_sink = {.name = "cloudwatch_logs"};
static const char *const fake_rejects[] = {"bad_type", "no_value", NULL};

struct fake {
    struct collector c[2];
    struct exporter e[1];
    struct ring ring;
};

static size_t f_nc(void *d)
{
    (void)d;
    return 2;
}
static struct collector *f_c(void *d, size_t i)
{
    return &((struct fake *)d)->c[i];
}
static size_t f_ne(void *d)
{
    (void)d;
    return 1;
}
static struct exporter *f_e(void *d, size_t i)
{
    return &((struct fake *)d)->e[i];
}
static struct ring *f_ring(void *d)
{
    return &((struct fake *)d)->ring;
}
static void f_counters(void *d, uint64_t *lost, uint64_t *unrouted, uint64_t *undecodable,
                       uint64_t *ok, uint64_t *failed)
{
    (void)d;
    *lost = 1;
    *unrouted = 2;
    *undecodable = 0;
    *ok = 3;
    *failed = 4;
}

static void fake_init(struct fake *f, struct health *h)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(ring_init(&f->ring, 4096), 0);
    f->c[0].type = &fake_tail;
    strcpy(f->c[0].name, "files[0]");
    f->c[0].state = PLUGIN_STARTED;
    f->c[1].type = &fake_cpu;
    strcpy(f->c[1].name, "cpu");
    f->c[1].state = PLUGIN_STOPPED;
    f->c[1].stats.reject_names = fake_rejects;
    selfstats_add(&f->c[1].stats.records_in, 7);
    selfstats_reject(&f->c[1].stats, DROP_MALFORMED, 1, 2);
    f->e[0].type = &fake_sink;
    strcpy(f->e[0].name, "cloudwatch_logs");
    selfstats_add(&f->e[0].stats.records_in, 1300);
    selfstats_add(&f->e[0].stats.records_out, 60);
    selfstats_drop(&f->e[0].stats, DROP_RETRIES_EXHAUSTED, 6);
    selfstats_add(&f->e[0].stats.batches_failed, 3);
    health_init(h, &(struct health_source){.data = f,
                                           .n_collectors = f_nc,
                                           .collector = f_c,
                                           .n_exporters = f_ne,
                                           .exporter = f_e,
                                           .ring = f_ring,
                                           .agent_counters = f_counters,
                                           .config_path = "/etc/osprey/osprey.json"});
    h->config.stuck_after_ns = 30 * S;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_render_metrics(void **state)
{
    (void)state;
    struct fake f;
    struct health h;
    fake_init(&f, &h);
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(health_render_metrics(&h, &b), 0);
    const char *t = (const char *)b.data;
    assert_non_null(strstr(t, "osprey_records_in_total{plugin=\"cpu\",kind=\"collector\"} 7\n"));
    assert_non_null(
        strstr(t, "osprey_records_in_total{plugin=\"cloudwatch_logs\",kind=\"exporter\"} 1300\n"));
    assert_non_null(strstr(t, "osprey_dropped_total{plugin=\"cloudwatch_logs\",kind=\"exporter\","
                              "reason=\"retries_exhausted\"} 6\n"));
    assert_non_null(strstr(t, "osprey_rejected_total{plugin=\"cpu\",kind=\"collector\","
                              "reason=\"no_value\"} 2\n"));
    assert_non_null(strstr(t, "osprey_batches_total{plugin=\"cloudwatch_logs\",kind=\"exporter\","
                              "result=\"failed\"} 3\n"));
    assert_non_null(strstr(t, "osprey_ring_capacity_bytes 4096\n"));
    assert_non_null(strstr(t, "osprey_acks_lost_total 1\n"));
    assert_non_null(strstr(t, "osprey_reloads_total{result=\"rejected\"} 4\n"));
    /* Collector self-metrics: prefixed, escaped, grouped into one family each. */
    assert_non_null(strstr(t, "# TYPE osprey_tail_lag_bytes gauge\n"
                              "osprey_tail_lag_bytes{plugin=\"files[0]\",file=\"/var/log/a "
                              "\\\"quoted\\\"\\\\dir\\nx.log\"} 10\n"
                              "osprey_tail_lag_bytes{plugin=\"files[0]\",file=\"/var/log/b.log\"} "
                              "0\n"));
    assert_non_null(strstr(t, "osprey_tail_files{plugin=\"files[0]\"} 2\n"));
    assert_null(strstr(t, "bad-name"));
    assert_null(strstr(t, "osprey_tail_x"));
    assert_int_equal(count(t, "# TYPE osprey_records_in_total "), 1);
    /* No spool metric: Osprey has no disk spool, and a constant 0 would be a lie. */
    assert_null(strstr(t, "spool"));
    /* Every family's TYPE line appears once, and every sample line names a declared family. */
    char *copy = strdup(t);
    assert_non_null(copy);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[200];
            assert_int_equal(sscanf(line + 7, "%199s", name), 1);
            char needle[220];
            snprintf(needle, sizeof(needle), "# TYPE %s ", name);
            assert_int_equal(count(t, needle), 1);
        } else if (line[0] != '#') {
            char name[200];
            size_t n = strcspn(line, "{ ");
            assert_true(n < sizeof(name));
            memcpy(name, line, n);
            name[n] = '\0';
            char needle[220];
            snprintf(needle, sizeof(needle), "# TYPE %s ", name);
            assert_int_equal(count(t, needle), 1);
        }
    }
    free(copy);
    buf_release(&b);
    health_release(&h);
    ring_release(&f.ring);
}

static void test_render_status_and_healthz(void **state)
{
    (void)state;
    struct fake f;
    struct health h;
    fake_init(&f, &h);
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(health_render_status(&h, &b), 0);
    json_error_t err;
    json_t *root = json_loads((const char *)b.data, 0, &err);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "config")),
                        "/etc/osprey/osprey.json");
    json_t *cols = json_object_get(root, "collectors");
    assert_int_equal(json_array_size(cols), 2);
    json_t *cpu = json_array_get(cols, 1);
    assert_string_equal(json_string_value(json_object_get(cpu, "state")), "stopped");
    assert_int_equal(json_integer_value(json_object_get(cpu, "records_in")), 7);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(cpu, "rejected"), "no_value")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(root, "ring"), "capacity_bytes")), 4096);
    assert_true(json_is_true(json_object_get(root, "healthy")));
    json_decref(root);

    /* Healthy until the exporter's track says stuck. */
    buf_reset(&b);
    assert_int_equal(health_render_healthz(&h, &b), 200);
    assert_string_equal((char *)b.data, "ok\n");
    h.n_tracked = 1;
    strcpy(h.tracked_names[0], "cloudwatch_logs");
    assert_true(health_track_update(&h.tracks[0], 60, true, 0, 0));
    h.tracks[0].stalled_ns = 45 * S;
    buf_reset(&b);
    assert_int_equal(health_render_healthz(&h, &b), 503);
    /* 1300 taken, 60 delivered, 6 dropped: 1234 wait. */
    assert_string_equal((char *)b.data,
                        "exporter cloudwatch_logs: no acknowledged records for 45 s while data "
                        "waits (1234 records taken and not yet delivered)\n");
    buf_reset(&b);
    assert_int_equal(health_render_status(&h, &b), 0);
    root = json_loads((const char *)b.data, 0, &err);
    assert_non_null(root);
    assert_true(json_is_false(json_object_get(root, "healthy")));
    json_decref(root);
    buf_reset(&b);
    assert_int_equal(health_render_metrics(&h, &b), 0);
    assert_non_null(
        strstr((char *)b.data, "osprey_exporter_stuck{plugin=\"cloudwatch_logs\"} 1\n"));
    assert_non_null(
        strstr((char *)b.data, "osprey_exporter_stalled_seconds{plugin=\"cloudwatch_logs\"} 45\n"));
    buf_release(&b);
    health_release(&h);
    ring_release(&f.ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_track_stuck_only_while_data_waits),
        cmocka_unit_test(test_track_first_sample_busy),
        cmocka_unit_test(test_reason_text),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_render_metrics),
        cmocka_unit_test(test_render_status_and_healthz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
