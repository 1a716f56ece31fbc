/* Record encoding: round trips for every kind, limits, and rejection of malformed bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/record.h"

static void test_metric_round_trip(void **state)
{
    (void)state;
    struct metric_point p = {.namespace_ = "CWAgent",
                             .name = "cpu_usage_idle",
                             .unit = METRIC_UNIT_PERCENT,
                             .storage_resolution = 1,
                             .value = 97.25};
    assert_int_equal(metric_point_add_dim(&p, "cpu", "cpu-total"), 0);
    assert_int_equal(metric_point_add_dim(&p, "host", "h1"), 0);
    struct record_hdr hdr = {.source = 3, .ts_ns = 1234567890123ull, .cookie = 0};
    uint8_t buf[512];
    size_t len = record_metric_size(&p);
    assert_int_equal(record_metric_encode(buf, len - 1, &hdr, &p), -ENOSPC);
    assert_int_equal(record_metric_encode(buf, len, &hdr, &p), 0);

    struct record_view v;
    assert_int_equal(record_decode(buf, len, &v), 0);
    assert_int_equal(v.hdr.kind, RECORD_METRIC);
    assert_int_equal(v.hdr.source, 3);
    assert_int_equal(v.hdr.ts_ns, 1234567890123ull);
    assert_string_equal(v.u.metric.namespace_, "CWAgent");
    assert_string_equal(v.u.metric.name, "cpu_usage_idle");
    assert_int_equal(v.u.metric.unit, METRIC_UNIT_PERCENT);
    assert_int_equal(v.u.metric.storage_resolution, 1);
    assert_true(v.u.metric.value == 97.25);
    assert_int_equal(v.u.metric.n_dims, 2);
    assert_string_equal(v.u.metric.dims[1].name, "host");
    assert_string_equal(v.u.metric.dims[1].value, "h1");

    /* Every truncation is rejected, never read past. */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(record_decode(buf, cut, &v), -EBADMSG);
}

static void test_metric_stats_and_limits(void **state)
{
    (void)state;
    struct metric_point p = {.namespace_ = "N",
                             .name = "latency",
                             .unit = METRIC_UNIT_MILLISECONDS,
                             .value_kind = METRIC_VALUE_STATS,
                             .count = 4,
                             .sum = 10,
                             .min = 1,
                             .max = 4};
    uint8_t buf[4096];
    struct record_hdr hdr = {0};
    assert_int_equal(record_metric_encode(buf, sizeof(buf), &hdr, &p), 0);
    struct record_view v;
    assert_int_equal(record_decode(buf, record_metric_size(&p), &v), 0);
    assert_int_equal(v.u.metric.value_kind, METRIC_VALUE_STATS);
    assert_true(v.u.metric.count == 4 && v.u.metric.sum == 10 && v.u.metric.min == 1 &&
                v.u.metric.max == 4);

    for (int i = 0; i < METRIC_MAX_DIMS; i++)
        assert_int_equal(metric_point_add_dim(&p, "d", "v"), 0);
    assert_int_equal(metric_point_add_dim(&p, "d", "v"), -E2BIG);

    char long_name[METRIC_MAX_NAME + 2];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    p.n_dims = 0;
    p.name = long_name;
    assert_int_equal(record_metric_encode(buf, sizeof(buf), &hdr, &p), -EINVAL);
    p.name = "";
    assert_int_equal(record_metric_encode(buf, sizeof(buf), &hdr, &p), -EINVAL);
}

static void test_log_round_trip(void **state)
{
    (void)state;
    const uint8_t msg[] = {'a', 0, 'b', 0xff};
    struct log_event ev = {
        .group = "/var/log/syslog", .stream = "i-123", .message = msg, .message_len = sizeof(msg)};
    struct record_hdr hdr = {.source = 1, .ts_ns = 5, .cookie = 4096};
    uint8_t buf[256];
    size_t len = record_log_size(&ev);
    assert_int_equal(record_log_encode(buf, len, &hdr, &ev), 0);
    struct record_view v;
    assert_int_equal(record_decode(buf, len, &v), 0);
    assert_int_equal(v.hdr.kind, RECORD_LOG);
    assert_int_equal(v.hdr.cookie, 4096);
    assert_string_equal(v.u.log.group, "/var/log/syslog");
    assert_string_equal(v.u.log.stream, "i-123");
    assert_int_equal(v.u.log.message_len, sizeof(msg));
    assert_memory_equal(v.u.log.message, msg, sizeof(msg));
    /* A message length that disagrees with the record is malformed. */
    buf[sizeof(struct record_hdr)] ^= 1;
    assert_int_equal(record_decode(buf, len, &v), -EBADMSG);
}

static void test_log_batch_round_trip(void **state)
{
    (void)state;
    _Alignas(8) uint8_t buf[256];
    struct record_hdr hdr = {.source = 2, .ts_ns = 10, .cookie = 100};
    struct record_log_batch_writer w;
    size_t head = record_log_batch_overhead(strlen("grp"), strlen("str"));
    assert_int_equal(record_log_batch_begin(&w, buf, head - 1, &hdr, "grp", 3, "str", 3), -ENOSPC);
    /* Room for the header and exactly two events: "one" and the empty one. */
    size_t cap = head + 2 * RECORD_LOG_BATCH_EVENT_OVERHEAD + 3;
    assert_int_equal(record_log_batch_begin(&w, buf, cap, &hdr, "grp", 3, "str", 3), 0);
    assert_int_equal(record_log_batch_add(&w, 10, (const uint8_t *)"one", 3), 0);
    assert_int_equal(record_log_batch_add(&w, 11, NULL, 0), 0);
    /* Full: refused, and the batch is as it was. */
    assert_int_equal(record_log_batch_add(&w, 12, (const uint8_t *)"x", 1), -ENOSPC);
    size_t len = record_log_batch_finish(&w);
    assert_int_equal(len, cap);

    struct record_view batch, ev;
    assert_int_equal(record_decode(buf, len, &batch), 0);
    assert_int_equal(batch.hdr.kind, RECORD_LOG_BATCH);
    assert_int_equal(batch.u.log_batch.n_events, 2);
    struct log_batch_cursor cur = {0};
    assert_true(record_log_batch_next(&batch, &cur, &ev));
    assert_int_equal(ev.hdr.kind, RECORD_LOG);
    assert_int_equal(ev.hdr.source, 2);
    assert_int_equal(ev.hdr.cookie, 100);
    assert_int_equal(ev.hdr.ts_ns, 10);
    assert_string_equal(ev.u.log.group, "grp");
    assert_string_equal(ev.u.log.stream, "str");
    assert_int_equal(ev.u.log.message_len, 3);
    assert_memory_equal(ev.u.log.message, "one", 3);
    /* A cursor kept aside resumes at the same event. */
    struct log_batch_cursor saved = cur;
    assert_true(record_log_batch_next(&batch, &cur, &ev));
    assert_int_equal(ev.hdr.cookie, 101);
    assert_int_equal(ev.hdr.ts_ns, 11);
    assert_int_equal(ev.u.log.message_len, 0);
    assert_false(record_log_batch_next(&batch, &cur, &ev));
    assert_true(record_log_batch_complete(&batch, &cur));
    assert_true(record_log_batch_next(&batch, &saved, &ev));
    assert_int_equal(ev.hdr.cookie, 101);

    /* Cookie 0 (no position) stays 0 for every event. */
    hdr.cookie = 0;
    assert_int_equal(record_log_batch_begin(&w, buf, sizeof(buf), &hdr, "g", 1, "s", 1), 0);
    assert_int_equal(record_log_batch_add(&w, 1, (const uint8_t *)"a", 1), 0);
    assert_int_equal(record_log_batch_add(&w, 2, (const uint8_t *)"b", 1), 0);
    len = record_log_batch_finish(&w);
    assert_int_equal(record_decode(buf, len, &batch), 0);
    cur = (struct log_batch_cursor){0};
    while (record_log_batch_next(&batch, &cur, &ev))
        assert_int_equal(ev.hdr.cookie, 0);
    assert_true(record_log_batch_complete(&batch, &cur));
}

/* However a batch is damaged, the walk never reads past the record and ends short of
 * complete, so the pipeline can count what it could not deliver. */
static void test_log_batch_malformed(void **state)
{
    (void)state;
    _Alignas(8) uint8_t buf[256];
    struct record_hdr hdr = {.cookie = 1};
    struct record_log_batch_writer w;
    assert_int_equal(record_log_batch_begin(&w, buf, sizeof(buf), &hdr, "g", 1, "s", 1), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(record_log_batch_add(&w, 1, (const uint8_t *)"abcd", 4), 0);
    size_t len = record_log_batch_finish(&w);
    size_t events_at = record_log_batch_overhead(1, 1);

    struct record_view batch, ev;
    struct log_batch_cursor cur;
    for (size_t cut = 0; cut < len; cut++) {
        if (record_decode(buf, cut, &batch) != 0)
            continue; /* header or names cut: refused outright */
        cur = (struct log_batch_cursor){0};
        while (record_log_batch_next(&batch, &cur, &ev))
            assert_true(ev.u.log.message + ev.u.log.message_len <= buf + cut);
        assert_false(record_log_batch_complete(&batch, &cur));
        assert_true(cur.index < 3);
    }

    /* The second event's length runs past the record. */
    uint32_t huge = 1000;
    memcpy(buf + events_at + RECORD_LOG_BATCH_EVENT_OVERHEAD + 4 + 8, &huge, 4);
    assert_int_equal(record_decode(buf, len, &batch), 0);
    cur = (struct log_batch_cursor){0};
    assert_true(record_log_batch_next(&batch, &cur, &ev));
    assert_false(record_log_batch_next(&batch, &cur, &ev));
    assert_int_equal(cur.index, 1);
    assert_false(record_log_batch_complete(&batch, &cur));

    /* More events announced than present; fewer announced than present; none. */
    uint32_t restored = 4, n = 4;
    memcpy(buf + events_at + RECORD_LOG_BATCH_EVENT_OVERHEAD + 4 + 8, &restored, 4);
    memcpy(buf + sizeof(struct record_hdr), &n, 4);
    assert_int_equal(record_decode(buf, len, &batch), 0);
    cur = (struct log_batch_cursor){0};
    while (record_log_batch_next(&batch, &cur, &ev))
        ;
    assert_int_equal(cur.index, 3);
    assert_false(record_log_batch_complete(&batch, &cur));
    n = 2;
    memcpy(buf + sizeof(struct record_hdr), &n, 4);
    assert_int_equal(record_decode(buf, len, &batch), 0);
    cur = (struct log_batch_cursor){0};
    while (record_log_batch_next(&batch, &cur, &ev))
        ;
    assert_false(record_log_batch_complete(&batch, &cur));
    n = 0;
    memcpy(buf + sizeof(struct record_hdr), &n, 4);
    assert_int_equal(record_decode(buf, len, &batch), -EBADMSG);
}

static void test_segment_and_empty(void **state)
{
    (void)state;
    const char *doc = "{\"name\":\"a\"}";
    uint8_t buf[128];
    struct record_hdr hdr = {.ts_ns = 9};
    assert_int_equal(
        record_segment_encode(buf, sizeof(buf), &hdr, (const uint8_t *)doc, strlen(doc)), 0);
    struct record_view v;
    assert_int_equal(record_decode(buf, record_segment_size(strlen(doc)), &v), 0);
    assert_int_equal(v.hdr.kind, RECORD_SEGMENT);
    assert_int_equal(v.u.segment.len, strlen(doc));
    assert_memory_equal(v.u.segment.data, doc, strlen(doc));

    assert_int_equal(record_segment_encode(buf, sizeof(buf), &hdr, NULL, 0), 0);
    assert_int_equal(record_decode(buf, record_segment_size(0), &v), 0);
    assert_int_equal(v.u.segment.len, 0);

    struct record_hdr bad = {.kind = 99};
    memcpy(buf, &bad, sizeof(bad));
    assert_int_equal(record_decode(buf, sizeof(bad), &v), -EBADMSG);
}

static void test_units(void **state)
{
    (void)state;
    enum metric_unit u;
    assert_int_equal(metric_unit_parse("Bytes/Second", &u), 0);
    assert_int_equal(u, METRIC_UNIT_BYTES_PER_SECOND);
    assert_string_equal(metric_unit_name(u), "Bytes/Second");
    assert_int_equal(metric_unit_parse("Percent", &u), 0);
    assert_int_equal(u, METRIC_UNIT_PERCENT);
    assert_int_equal(metric_unit_parse("percent", &u), -EINVAL);
    for (int i = 0; i < METRIC_UNIT_MAX; i++) {
        assert_int_equal(metric_unit_parse(metric_unit_name((enum metric_unit)i), &u), 0);
        assert_int_equal((int)u, i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_round_trip),
        cmocka_unit_test(test_metric_stats_and_limits),
        cmocka_unit_test(test_log_round_trip),
        cmocka_unit_test(test_log_batch_round_trip),
        cmocka_unit_test(test_log_batch_malformed),
        cmocka_unit_test(test_segment_and_empty),
        cmocka_unit_test(test_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
