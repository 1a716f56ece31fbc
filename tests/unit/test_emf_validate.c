/*
 * emf_validate: every rule of the EMF specification the validator enforces, each limit at
 * N (accepted) and N+1 (refused with its reason), defaults, routing and the legacy keys.
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

#include "agent/buf.h"
#include "collectors/emf_validate.h"

/* A valid document to start from; tests change one thing at a time. */
#define AWS_HEAD "\"_aws\":{\"Timestamp\":1700000000123,\"LogGroupName\":\"grp\","
#define GOOD                                                                                       \
    "{" AWS_HEAD "\"CloudWatchMetrics\":[{\"Namespace\":\"App\",\"Dimensions\":[[\"Op\"]],"        \
    "\"Metrics\":[{\"Name\":\"Latency\",\"Unit\":\"Milliseconds\",\"StorageResolution\":1}]}]},"   \
    "\"Op\":\"get\",\"Latency\":[1,2,3.5]}"

static int validate(const char *text, struct emf_doc *doc, enum emf_reject *why)
{
    return emf_validate((const uint8_t *)text, strlen(text), doc, why);
}

static void expect_reject(const char *text, enum emf_reject expected)
{
    struct emf_doc doc;
    enum emf_reject why = EMF_REJECT_MAX;
    int r = validate(text, &doc, &why);
    if (r == 0 || why != expected)
        fprintf(stderr, "expected %s for: %.300s\n got r=%d why=%s\n", emf_reject_names[expected],
                text, r, r == 0 ? "accepted" : emf_reject_names[why]);
    if (r == 0)
        emf_doc_release(&doc);
    assert_int_equal(r, -EINVAL);
    assert_int_equal(why, expected);
}

static void expect_accept(const char *text)
{
    struct emf_doc doc;
    enum emf_reject why = EMF_REJECT_MAX;
    int r = validate(text, &doc, &why);
    if (r != 0)
        fprintf(stderr, "expected accept for: %.300s\n got %s\n", text, emf_reject_names[why]);
    assert_int_equal(r, 0);
    emf_doc_release(&doc);
}

/* A document with one directive: dimensions set `dims` (JSON array text), metrics
 * `metrics` (JSON array text), plus root members `extra` (without braces). */
static char *doc_with(const char *dims, const char *metrics, const char *extra)
{
    struct buf b;
    buf_init(&b, 1u << 22);
    int r = buf_printf(&b,
                       "{" AWS_HEAD "\"CloudWatchMetrics\":[{\"Namespace\":\"App\","
                       "\"Dimensions\":%s,\"Metrics\":%s}]}%s%s}",
                       dims, metrics, extra[0] ? "," : "", extra);
    assert_int_equal(r, 0);
    return (char *)b.data; /* the caller frees */
}

static void test_good_document(void **state)
{
    (void)state;
    struct emf_doc doc;
    enum emf_reject why;
    assert_int_equal(validate(GOOD, &doc, &why), 0);
    assert_string_equal(doc.log_group, "grp");
    assert_null(doc.log_stream);
    assert_true(doc.timestamp_ms == 1700000000123.0);
    assert_int_equal(json_array_size(doc.directives), 1);
    struct emf_metric m;
    emf_metric_get(&doc, 0, 0, &m);
    assert_string_equal(m.namespace_, "App");
    assert_string_equal(m.name, "Latency");
    assert_int_equal(m.unit, METRIC_UNIT_MILLISECONDS);
    assert_int_equal(m.storage_resolution, 1);
    assert_true(json_is_array(m.value));
    assert_int_equal(json_array_size(m.dimensions), 1);
    emf_doc_release(&doc);
    assert_null(doc.root);
    emf_doc_release(NULL);
}

static void test_defaults(void **state)
{
    (void)state;
    char *t = doc_with("[[]]", "[{\"Name\":\"M\"}]", "\"M\":5");
    struct emf_doc doc;
    enum emf_reject why;
    assert_int_equal(validate(t, &doc, &why), 0);
    struct emf_metric m;
    emf_metric_get(&doc, 0, 0, &m);
    assert_int_equal(m.unit, METRIC_UNIT_NONE);
    assert_int_equal(m.storage_resolution, 60);
    assert_true(json_number_value(m.value) == 5.0);
    emf_doc_release(&doc);
    free(t);
}

static void test_json_shape(void **state)
{
    (void)state;
    expect_reject("", EMF_REJECT_NOT_JSON);
    expect_reject("{", EMF_REJECT_NOT_JSON);
    expect_reject("not json", EMF_REJECT_NOT_JSON);
    expect_reject(GOOD " trailing", EMF_REJECT_NOT_JSON);
    expect_reject(GOOD GOOD, EMF_REJECT_NOT_JSON);
    expect_reject("42", EMF_REJECT_NOT_JSON);
    expect_reject("[1,2]", EMF_REJECT_NOT_OBJECT);
    expect_reject("{\"a\":NaN}", EMF_REJECT_NOT_JSON);
    /* A NUL byte inside the line. */
    struct emf_doc doc;
    enum emf_reject why;
    static const uint8_t nul[] = "{\"_aws\":\0}";
    assert_int_equal(emf_validate(nul, sizeof(nul) - 1, &doc, &why), -EINVAL);
    assert_int_equal(why, EMF_REJECT_NOT_JSON);
    /* Whitespace around the object is fine. */
    expect_accept("  " GOOD "  ");
}

static void test_aws_and_timestamp(void **state)
{
    (void)state;
    expect_reject("{}", EMF_REJECT_NO_AWS);
    expect_reject("{\"_aws\":[]}", EMF_REJECT_NO_AWS);
    expect_reject("{\"_AWS\":{}}", EMF_REJECT_NO_AWS); /* members are case-sensitive */
    expect_reject("{\"_aws\":{\"CloudWatchMetrics\":[],\"LogGroupName\":\"g\"}}",
                  EMF_REJECT_BAD_TIMESTAMP);
    expect_reject("{\"_aws\":{\"Timestamp\":\"1\",\"CloudWatchMetrics\":[]}}",
                  EMF_REJECT_BAD_TIMESTAMP);
    expect_reject("{\"_aws\":{\"Timestamp\":-1,\"CloudWatchMetrics\":[]}}",
                  EMF_REJECT_BAD_TIMESTAMP);
    expect_accept("{\"_aws\":{\"Timestamp\":0,\"CloudWatchMetrics\":[],\"LogGroupName\":\"g\"}}");
    expect_accept("{\"_aws\":{\"Timestamp\":1.5e12,\"CloudWatchMetrics\":[],"
                  "\"LogGroupName\":\"g\"}}");
}

static void test_directives(void **state)
{
    (void)state;
    expect_reject("{\"_aws\":{\"Timestamp\":1,\"LogGroupName\":\"g\"}}", EMF_REJECT_NO_DIRECTIVES);
    expect_reject("{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":{}}}",
                  EMF_REJECT_NO_DIRECTIVES);
    expect_reject("{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[1]}}",
                  EMF_REJECT_BAD_DIRECTIVE);
    expect_reject("{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Dimensions\":[],"
                  "\"Metrics\":[]}]}}",
                  EMF_REJECT_BAD_NAMESPACE);
    expect_reject("{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":7,"
                  "\"Dimensions\":[],\"Metrics\":[]}]}}",
                  EMF_REJECT_BAD_NAMESPACE);
    expect_reject("{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"\","
                  "\"Dimensions\":[],\"Metrics\":[]}]}}",
                  EMF_REJECT_BAD_NAMESPACE);
    /* Namespace length: 255 bytes ok, 256 not. */
    char ns[300];
    memset(ns, 'n', sizeof(ns));
    for (int n = 255; n <= 256; n++) {
        char text[800];
        snprintf(text, sizeof(text),
                 "{\"_aws\":{\"Timestamp\":1,\"LogGroupName\":\"g\",\"CloudWatchMetrics\":[{"
                 "\"Namespace\":\"%.*s\",\"Dimensions\":[],\"Metrics\":[]}]}}",
                 n, ns);
        if (n == 255)
            expect_accept(text);
        else
            expect_reject(text, EMF_REJECT_BAD_NAMESPACE);
    }
    /* Several directives: the second one is checked too. */
    expect_reject("{\"_aws\":{\"Timestamp\":1,\"LogGroupName\":\"g\",\"CloudWatchMetrics\":["
                  "{\"Namespace\":\"a\",\"Dimensions\":[],\"Metrics\":[]},"
                  "{\"Namespace\":\"b\",\"Dimensions\":[],\"Metrics\":[{\"Name\":\"x\"}]}]}}",
                  EMF_REJECT_BAD_METRIC_VALUE);
}

static void test_dimensions(void **state)
{
    (void)state;
    const char *metric = "[{\"Name\":\"M\"}]";
    char *t;
#define CHECK(dims, extra, reason)                                                                 \
    do {                                                                                           \
        t = doc_with(dims, metric, extra);                                                         \
        if ((int)(reason) < 0)                                                                     \
            expect_accept(t);                                                                      \
        else                                                                                       \
            expect_reject(t, reason);                                                              \
        free(t);                                                                                   \
    } while (0)
    CHECK("[]", "\"M\":1", -1);
    CHECK("[[]]", "\"M\":1", -1);
    CHECK("[[\"A\"],[\"A\",\"B\"]]", "\"M\":1,\"A\":\"a\",\"B\":\"b\"", -1);
    CHECK("{}", "\"M\":1", EMF_REJECT_BAD_DIMENSIONS);
    CHECK("[\"A\"]", "\"M\":1,\"A\":\"a\"", EMF_REJECT_BAD_DIMENSIONS);
    CHECK("[[1]]", "\"M\":1", EMF_REJECT_BAD_DIMENSIONS);
    CHECK("[[\"\"]]", "\"M\":1,\"\":\"a\"", EMF_REJECT_BAD_DIMENSIONS);
    CHECK("[[\"A\"]]", "\"M\":1", EMF_REJECT_BAD_DIMENSION_VALUE);
    CHECK("[[\"A\"]]", "\"M\":1,\"A\":5", EMF_REJECT_BAD_DIMENSION_VALUE);
    CHECK("[[\"A\"]]", "\"M\":1,\"A\":null", EMF_REJECT_BAD_DIMENSION_VALUE);
    /* References are literal top-level keys, never nested paths. */
    CHECK("[[\"A.b\"]]", "\"M\":1,\"A\":{\"b\":\"x\"}", EMF_REJECT_BAD_DIMENSION_VALUE);
    CHECK("[[\"A.b\"]]", "\"M\":1,\"A.b\":\"x\"", -1);
#undef CHECK
}

static void test_dimension_limits(void **state)
{
    (void)state;
    /* 30 keys in a set: ok; 31: too many. */
    for (int n = 30; n <= 31; n++) {
        struct buf dims, extra;
        buf_init(&dims, 1 << 16);
        buf_init(&extra, 1 << 16);
        assert_int_equal(buf_append_str(&dims, "[["), 0);
        assert_int_equal(buf_append_str(&extra, "\"M\":1"), 0);
        for (int i = 0; i < n; i++) {
            assert_int_equal(buf_printf(&dims, "%s\"d%d\"", i ? "," : "", i), 0);
            assert_int_equal(buf_printf(&extra, ",\"d%d\":\"v\"", i), 0);
        }
        assert_int_equal(buf_append_str(&dims, "]]"), 0);
        char *t = doc_with((char *)dims.data, "[{\"Name\":\"M\"}]", (char *)extra.data);
        if (n == 30)
            expect_accept(t);
        else
            expect_reject(t, EMF_REJECT_TOO_MANY_DIMENSIONS);
        free(t);
        buf_release(&dims);
        buf_release(&extra);
    }
    /* Dimension value: 1024 characters ok, 1025 not; counted in characters (a 2-byte
     * character counts once). */
    static const char *const units[] = {"v", "\xc3\xa9"};
    for (int u = 0; u < 2; u++) {
        for (int n = 1024; n <= 1025; n++) {
            struct buf extra;
            buf_init(&extra, 1 << 16);
            assert_int_equal(buf_append_str(&extra, "\"M\":1,\"A\":\""), 0);
            for (int i = 0; i < n; i++)
                assert_int_equal(buf_append_str(&extra, units[u]), 0);
            assert_int_equal(buf_append_str(&extra, "\""), 0);
            char *t = doc_with("[[\"A\"]]", "[{\"Name\":\"M\"}]", (char *)extra.data);
            if (n == 1024)
                expect_accept(t);
            else
                expect_reject(t, EMF_REJECT_DIMENSION_VALUE_LONG);
            free(t);
            buf_release(&extra);
        }
    }
}

static void test_metrics(void **state)
{
    (void)state;
    char *t;
#define CHECK(metrics, extra, reason)                                                              \
    do {                                                                                           \
        t = doc_with("[[]]", metrics, extra);                                                      \
        if ((int)(reason) < 0)                                                                     \
            expect_accept(t);                                                                      \
        else                                                                                       \
            expect_reject(t, reason);                                                              \
        free(t);                                                                                   \
    } while (0)
    CHECK("[]", "", -1);
    CHECK("{}", "", EMF_REJECT_BAD_METRICS);
    CHECK("null", "", EMF_REJECT_BAD_METRICS);
    CHECK("[1]", "", EMF_REJECT_BAD_METRIC);
    CHECK("[{}]", "", EMF_REJECT_BAD_METRIC);
    CHECK("[{\"Name\":3}]", "\"3\":1", EMF_REJECT_BAD_METRIC);
    CHECK("[{\"Name\":\"\"}]", "\"\":1", EMF_REJECT_BAD_METRIC);
    CHECK("[{\"Name\":\"M\",\"Unit\":\"Count/Second\"}]", "\"M\":1", -1);
    CHECK("[{\"Name\":\"M\",\"Unit\":\"Percent\"}]", "\"M\":1", -1);
    CHECK("[{\"Name\":\"M\",\"Unit\":\"percent\"}]", "\"M\":1", EMF_REJECT_BAD_UNIT);
    CHECK("[{\"Name\":\"M\",\"Unit\":\"Furlongs\"}]", "\"M\":1", EMF_REJECT_BAD_UNIT);
    CHECK("[{\"Name\":\"M\",\"Unit\":1}]", "\"M\":1", EMF_REJECT_BAD_UNIT);
    CHECK("[{\"Name\":\"M\",\"StorageResolution\":60}]", "\"M\":1", -1);
    CHECK("[{\"Name\":\"M\",\"StorageResolution\":1}]", "\"M\":1", -1);
    CHECK("[{\"Name\":\"M\",\"StorageResolution\":30}]", "\"M\":1",
          EMF_REJECT_BAD_STORAGE_RESOLUTION);
    CHECK("[{\"Name\":\"M\",\"StorageResolution\":\"1\"}]", "\"M\":1",
          EMF_REJECT_BAD_STORAGE_RESOLUTION);
    CHECK("[{\"Name\":\"M\"}]", "", EMF_REJECT_BAD_METRIC_VALUE);
    CHECK("[{\"Name\":\"M\"}]", "\"M\":\"1\"", EMF_REJECT_BAD_METRIC_VALUE);
    CHECK("[{\"Name\":\"M\"}]", "\"M\":true", EMF_REJECT_BAD_METRIC_VALUE);
    CHECK("[{\"Name\":\"M\"}]", "\"M\":[]", EMF_REJECT_BAD_METRIC_VALUE);
    CHECK("[{\"Name\":\"M\"}]", "\"M\":[1,\"2\"]", EMF_REJECT_BAD_METRIC_VALUE);
    CHECK("[{\"Name\":\"M\"}]", "\"M\":-2.5e3", -1);
    CHECK("[{\"Name\":\"M\"}]", "\"M\":[0,-1,2e10]", -1);
#undef CHECK
    /* Metric name length: 255 ok, 256 not. */
    char name[300];
    memset(name, 'm', sizeof(name));
    for (int n = 255; n <= 256; n++) {
        char metrics[400], extra[400];
        snprintf(metrics, sizeof(metrics), "[{\"Name\":\"%.*s\"}]", n, name);
        snprintf(extra, sizeof(extra), "\"%.*s\":1", n, name);
        t = doc_with("[[]]", metrics, extra);
        if (n == 255)
            expect_accept(t);
        else
            expect_reject(t, EMF_REJECT_BAD_METRIC);
        free(t);
    }
}

static void test_metric_limits(void **state)
{
    (void)state;
    /* 100 metrics in a directive: ok; 101: too many. */
    for (int n = 100; n <= 101; n++) {
        struct buf metrics, extra;
        buf_init(&metrics, 1 << 20);
        buf_init(&extra, 1 << 20);
        assert_int_equal(buf_append_str(&metrics, "["), 0);
        for (int i = 0; i < n; i++) {
            assert_int_equal(buf_printf(&metrics, "%s{\"Name\":\"m%d\"}", i ? "," : "", i), 0);
            assert_int_equal(buf_printf(&extra, "%s\"m%d\":%d", i ? "," : "", i, i), 0);
        }
        assert_int_equal(buf_append_str(&metrics, "]"), 0);
        char *t = doc_with("[[]]", (char *)metrics.data, (char *)extra.data);
        if (n == 100)
            expect_accept(t);
        else
            expect_reject(t, EMF_REJECT_TOO_MANY_METRICS);
        free(t);
        buf_release(&metrics);
        buf_release(&extra);
    }
    /* 100 values in an array: ok; 101: too many. */
    for (int n = 100; n <= 101; n++) {
        struct buf extra;
        buf_init(&extra, 1 << 20);
        assert_int_equal(buf_append_str(&extra, "\"M\":["), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(buf_printf(&extra, "%s%d", i ? "," : "", i), 0);
        assert_int_equal(buf_append_str(&extra, "]"), 0);
        char *t = doc_with("[[]]", "[{\"Name\":\"M\"}]", (char *)extra.data);
        if (n == 100)
            expect_accept(t);
        else
            expect_reject(t, EMF_REJECT_TOO_MANY_VALUES);
        free(t);
        buf_release(&extra);
    }
}

#define NO_GROUP_HEAD                                                                              \
    "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"N\",\"Dimensions\":[],"    \
    "\"Metrics\":[]}]"

static void test_routing(void **state)
{
    (void)state;
    struct emf_doc doc;
    enum emf_reject why;
    /* No group at all: dropped, as the CloudWatch agent does. */
    expect_reject(NO_GROUP_HEAD "}}", EMF_REJECT_NO_LOG_GROUP);
    expect_reject(NO_GROUP_HEAD ",\"LogGroupName\":5}}", EMF_REJECT_BAD_LOG_GROUP);
    expect_reject(NO_GROUP_HEAD ",\"LogGroupName\":\"\"}}", EMF_REJECT_BAD_LOG_GROUP);
    expect_reject(NO_GROUP_HEAD ",\"LogGroupName\":\"a b\"}}", EMF_REJECT_BAD_LOG_GROUP);
    expect_accept(NO_GROUP_HEAD ",\"LogGroupName\":\"/aws/a-b_c.d#e\"}}");
    expect_reject(NO_GROUP_HEAD ",\"LogGroupName\":\"g\",\"LogStreamName\":\"a:b\"}}",
                  EMF_REJECT_BAD_LOG_STREAM);
    expect_reject(NO_GROUP_HEAD ",\"LogGroupName\":\"g\",\"LogStreamName\":\"a*\"}}",
                  EMF_REJECT_BAD_LOG_STREAM);
    expect_reject(NO_GROUP_HEAD ",\"LogGroupName\":\"g\",\"LogStreamName\":1}}",
                  EMF_REJECT_BAD_LOG_STREAM);
    expect_reject(NO_GROUP_HEAD ",\"LogGroupName\":\"g\",\"LogStreamName\":\"\"}}",
                  EMF_REJECT_BAD_LOG_STREAM);

    /* Group and stream names: 512 bytes ok, 513 not. */
    char big[600];
    memset(big, 'g', sizeof(big));
    for (int n = 512; n <= 513; n++) {
        char text[1600];
        snprintf(text, sizeof(text), NO_GROUP_HEAD ",\"LogGroupName\":\"%.*s\"}}", n, big);
        if (n == 512)
            expect_accept(text);
        else
            expect_reject(text, EMF_REJECT_BAD_LOG_GROUP);
        snprintf(text, sizeof(text),
                 NO_GROUP_HEAD ",\"LogGroupName\":\"g\",\"LogStreamName\":\"%.*s\"}}", n, big);
        if (n == 512)
            expect_accept(text);
        else
            expect_reject(text, EMF_REJECT_BAD_LOG_STREAM);
    }

    /* _aws names win over the legacy top-level ones. */
    assert_int_equal(validate(NO_GROUP_HEAD
                              ",\"LogGroupName\":\"new\",\"LogStreamName\":\"s1\"},"
                              "\"log_group_name\":\"old\",\"log_stream_name\":\"s0\"}",
                              &doc, &why),
                     0);
    assert_string_equal(doc.log_group, "new");
    assert_string_equal(doc.log_stream, "s1");
    emf_doc_release(&doc);

    /* Legacy form: top-level log_group_name / log_stream_name. */
    assert_int_equal(validate(NO_GROUP_HEAD
                              "},\"log_group_name\":\"legacy\",\"log_stream_name\":\"ls\"}",
                              &doc, &why),
                     0);
    assert_string_equal(doc.log_group, "legacy");
    assert_string_equal(doc.log_stream, "ls");
    emf_doc_release(&doc);
    expect_reject(NO_GROUP_HEAD "},\"log_group_name\":[\"x\"]}", EMF_REJECT_BAD_LOG_GROUP);
    expect_reject(NO_GROUP_HEAD "},\"log_group_name\":\"g\",\"log_stream_name\":\"a:b\"}",
                  EMF_REJECT_BAD_LOG_STREAM);
}

static void test_reason_names(void **state)
{
    (void)state;
    for (int i = 0; i < EMF_REJECT_MAX; i++) {
        assert_non_null(emf_reject_names[i]);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(emf_reject_names[i], emf_reject_names[j]);
    }
    assert_null(emf_reject_names[EMF_REJECT_MAX]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_document),    cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_json_shape),       cmocka_unit_test(test_aws_and_timestamp),
        cmocka_unit_test(test_directives),       cmocka_unit_test(test_dimensions),
        cmocka_unit_test(test_dimension_limits), cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_metric_limits),    cmocka_unit_test(test_routing),
        cmocka_unit_test(test_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
