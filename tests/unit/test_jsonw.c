/* JSON writing: escapes, UTF-8 repair, numbers, timestamps, the capped buffer, and the
 * local sinks' line format checked by parsing it back with jansson. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/buf.h"
#include "agent/jsonw.h"
#include "exporters/local_format.h"

static void test_buf_invariants(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_null(b.data);
    assert_int_equal(buf_append_str(&b, "0123456789"), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(b.data[10], '\0');
    assert_int_equal(buf_append_str(&b, "0123456"), -ENOBUFS);
    assert_int_equal(b.len, 10); /* unchanged on failure */
    assert_int_equal(buf_append_str(&b, "012345"), 0);
    assert_int_equal(b.len, 16);
    buf_consume(&b, 4);
    assert_string_equal((char *)b.data, "456789012345");
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal((char *)b.data, "42-x");
    buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static char *escaped(const void *s, size_t len, size_t *repaired)
{
    static char out[1024];
    struct buf b;
    buf_init(&b, sizeof(out) - 1);
    assert_int_equal(jsonw_string(&b, s, len, repaired), 0);
    memcpy(out, b.data, b.len + 1);
    buf_release(&b);
    return out;
}

static void test_string_escapes(void **state)
{
    (void)state;
    size_t repaired = 0;
    assert_string_equal(escaped("a\"b\\c\n\t\x01", 8, &repaired), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
    assert_int_equal(repaired, 0);
    /* Valid multi-byte UTF-8 passes through untouched. */
    assert_string_equal(escaped("\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xa6", 9, &repaired),
                        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xa6\"");
    assert_int_equal(repaired, 0);
    /* Invalid bytes, overlong forms, surrogates and truncated sequences are replaced. */
    assert_string_equal(escaped("\xff", 1, &repaired), "\"\xef\xbf\xbd\"");
    assert_string_equal(escaped("\xc0\xaf", 2, &repaired), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(escaped("\xed\xa0\x80", 3, &repaired),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(escaped("ab\xe2\x82", 4, &repaired), "\"ab\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_int_equal(repaired, 1 + 2 + 3 + 2);
    /* NUL bytes are data, not terminators. */
    assert_string_equal(escaped("a\0b", 3, NULL), "\"a\\u0000b\"");
}

static void test_numbers_and_time(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(jsonw_double(&b, 0.1), 0);
    assert_string_equal((char *)b.data, "0.1");
    buf_reset(&b);
    assert_int_equal(jsonw_double(&b, 1.0 / 3.0), 0);
    assert_true(strtod((char *)b.data, NULL) == 1.0 / 3.0);
    buf_reset(&b);
    assert_int_equal(jsonw_double(&b, NAN), -EDOM);
    assert_int_equal(jsonw_double(&b, INFINITY), -EDOM);
    buf_reset(&b);
    assert_int_equal(jsonw_timestamp_ms(&b, 1795000000123456789ull), 0);
    assert_string_equal((char *)b.data, "\"2026-11-18T11:06:40.123Z\"");
    buf_release(&b);
}

static void test_local_format_metric(void **state)
{
    (void)state;
    struct record_view v = {.hdr = {.kind = RECORD_METRIC, .ts_ns = 1795000000000000000ull}};
    struct metric_point *p = &v.u.metric;
    p->namespace_ = "CWAgent";
    p->name = "mem_used_percent";
    p->unit = METRIC_UNIT_PERCENT;
    p->storage_resolution = 60;
    p->value = 41.5;
    metric_point_add_dim(p, "host", "web-1");
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(local_format_record(&b, &v, NULL), 0);
    assert_int_equal(b.data[b.len - 1], '\n');
    json_error_t err;
    json_t *j = json_loadb((char *)b.data, b.len, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "Namespace")), "CWAgent");
    assert_string_equal(json_string_value(json_object_get(j, "MetricName")), "mem_used_percent");
    assert_string_equal(json_string_value(json_object_get(j, "Unit")), "Percent");
    assert_true(json_real_value(json_object_get(j, "Value")) == 41.5);
    assert_int_equal(json_integer_value(json_object_get(j, "StorageResolution")), 60);
    json_t *dim = json_array_get(json_object_get(j, "Dimensions"), 0);
    assert_string_equal(json_string_value(json_object_get(dim, "Name")), "host");
    assert_string_equal(json_string_value(json_object_get(dim, "Value")), "web-1");
    assert_string_equal(json_string_value(json_object_get(j, "Timestamp")),
                        "2026-11-18T11:06:40.000Z");
    json_decref(j);

    /* A value JSON cannot carry leaves the buffer as it was. */
    size_t before = b.len;
    p->value = NAN;
    assert_int_equal(local_format_record(&b, &v, NULL), -EDOM);
    assert_int_equal(b.len, before);
    buf_release(&b);
}

static void test_local_format_log_and_segment(void **state)
{
    (void)state;
    struct record_view v = {.hdr = {.kind = RECORD_LOG, .ts_ns = 1500000000}};
    v.u.log.group = "g";
    v.u.log.stream = "s";
    v.u.log.message = (const uint8_t *)"bad \xff byte";
    v.u.log.message_len = 10;
    struct buf b;
    buf_init(&b, 4096);
    size_t repaired = 0;
    assert_int_equal(local_format_record(&b, &v, &repaired), 0);
    assert_int_equal(repaired, 1);
    json_error_t err;
    json_t *j = json_loadb((char *)b.data, b.len, 0, &err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "timestamp")), 1500);
    assert_string_equal(json_string_value(json_object_get(j, "message")), "bad \xef\xbf\xbd byte");
    json_decref(j);

    buf_reset(&b);
    struct record_view seg = {.hdr = {.kind = RECORD_SEGMENT}};
    const char *doc = "{\"name\":\n\"a\"}";
    seg.u.segment.data = (const uint8_t *)doc;
    seg.u.segment.len = (uint32_t)strlen(doc);
    assert_int_equal(local_format_record(&b, &seg, NULL), 0);
    assert_string_equal((char *)b.data, "{\"name\": \"a\"}\n");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_invariants),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_numbers_and_time),
        cmocka_unit_test(test_local_format_metric),
        cmocka_unit_test(test_local_format_log_and_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
