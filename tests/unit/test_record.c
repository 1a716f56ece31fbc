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
        cmocka_unit_test(test_segment_and_empty),
        cmocka_unit_test(test_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
