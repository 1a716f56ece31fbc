/*
 * xray_datagram: every framing, header and document rule, with the reason each refusal
 * is counted under, and documents passed through byte for byte.
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

#include "collectors/xray_datagram.h"

#define HDR    "{\"format\":\"json\",\"version\":1}\n"
#define SEG_ID "70de5b6f19ff9a0a"
#define TRACE  "1-58406520-a006649127e371903a2de979"
#define GOOD_SEGMENT                                                                               \
    "{\"name\":\"svc\",\"id\":\"" SEG_ID "\",\"trace_id\":\"" TRACE                                \
    "\",\"start_time\":1480615200.010,"                                                            \
    "\"end_time\":1480615200.090}"

static int parse(const char *text, struct xray_datagram *d, enum xray_reject *why)
{
    return xray_datagram_parse((const uint8_t *)text, strlen(text), 0, d, why);
}

static void expect_ok(const char *datagram, const char *body)
{
    struct xray_datagram d;
    enum xray_reject why = XRAY_REJECT_MAX;
    int r = parse(datagram, &d, &why);
    if (r != 0)
        fprintf(stderr, "refused (%s): %s\n", xray_reject_names[why], datagram);
    assert_int_equal(r, 0);
    assert_int_equal(d.body_len, strlen(body));
    assert_memory_equal(d.body, body, d.body_len);
    /* The body points into the datagram: forwarded unchanged, nothing copied. */
    assert_true((const char *)d.body >= datagram &&
                (const char *)d.body < datagram + strlen(datagram));
}

static void expect_refused(const char *datagram, enum xray_reject reason)
{
    struct xray_datagram d;
    enum xray_reject why = XRAY_REJECT_MAX;
    int r = parse(datagram, &d, &why);
    if (r == 0 || why != reason)
        fprintf(stderr, "expected %s, got %s: %s\n", xray_reject_names[reason],
                r == 0 ? "accepted" : xray_reject_names[why], datagram);
    assert_int_equal(r, -EINVAL);
    assert_int_equal(why, reason);
}

static void test_valid_segment(void **state)
{
    (void)state;
    expect_ok(HDR GOOD_SEGMENT, GOOD_SEGMENT);
    /* The body may contain newlines: only the first one separates. */
    expect_ok(HDR "{\"name\":\"a\",\n\"id\":\"" SEG_ID "\",\"trace_id\":\"" TRACE
                  "\",\"start_time\":1,\"end_time\":2}\n",
              "{\"name\":\"a\",\n\"id\":\"" SEG_ID "\",\"trace_id\":\"" TRACE
              "\",\"start_time\":1,\"end_time\":2}\n");
    /* In progress instead of end_time; integers are numbers too. */
    const char *inprog = "{\"name\":\"a\",\"id\":\"" SEG_ID "\",\"trace_id\":\"" TRACE
                         "\",\"start_time\":1,\"in_progress\":true}";
    char buf[512];
    snprintf(buf, sizeof(buf), HDR "%s", inprog);
    expect_ok(buf, inprog);
    /* A standalone subsegment. */
    const char *sub = "{\"type\":\"subsegment\",\"name\":\"dynamodb\",\"id\":\"" SEG_ID
                      "\",\"parent_id\":\"1234567890abcdef\",\"trace_id\":\"" TRACE
                      "\",\"start_time\":1.5,\"end_time\":2.5,\"namespace\":\"aws\"}";
    snprintf(buf, sizeof(buf), HDR "%s", sub);
    expect_ok(buf, sub);
}

static void test_header_variants(void **state)
{
    (void)state;
    /* Whitespace, key order, extra keys, case of the format value and of the keys (the
     * daemon decodes with Go's encoding/json). */
    expect_ok("{\"format\": \"json\", \"version\": 1}\n" GOOD_SEGMENT, GOOD_SEGMENT);
    expect_ok("{\"version\":1,\"format\":\"json\"}\n" GOOD_SEGMENT, GOOD_SEGMENT);
    expect_ok("{\"format\":\"JSON\",\"version\":1,\"sdk\":\"x\"}\n" GOOD_SEGMENT, GOOD_SEGMENT);
    expect_ok("{\"Format\":\"json\",\"Version\":1}\n" GOOD_SEGMENT, GOOD_SEGMENT);
    expect_ok(" {\"format\":\"json\",\"version\":1} \n" GOOD_SEGMENT, GOOD_SEGMENT);

    expect_refused("{\"format\":\"json\",\"version\":2}\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"format\":\"json\",\"version\":\"1\"}\n" GOOD_SEGMENT,
                   XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"format\":\"json\",\"version\":1.0}\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"format\":\"xml\",\"version\":1}\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"format\":\"jsonx\",\"version\":1}\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"version\":1}\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"format\":\"json\"}\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"format\":1,\"version\":1}\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("[\"json\",1]\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("{\"format\":\"json\",\"version\":1\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    expect_refused("garbage\n" GOOD_SEGMENT, XRAY_REJECT_BAD_HEADER);
    assert_true(xray_header_valid((const uint8_t *)"{\"format\":\"json\",\"version\":1}", 29));
    assert_false(xray_header_valid((const uint8_t *)"{\"format\":\"json\",\"version\":1}", 28));
}

static void test_framing(void **state)
{
    (void)state;
    expect_refused("", XRAY_REJECT_NO_SEPARATOR);
    expect_refused(GOOD_SEGMENT, XRAY_REJECT_NO_SEPARATOR);
    expect_refused("{\"format\":\"json\",\"version\":1}", XRAY_REJECT_NO_SEPARATOR);
    expect_refused(HDR, XRAY_REJECT_EMPTY_BODY);

    /* Over 64 KiB in all. */
    size_t n = XRAY_DATAGRAM_MAX + 1;
    uint8_t *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, HDR, strlen(HDR));
    struct xray_datagram d;
    enum xray_reject why = XRAY_REJECT_MAX;
    assert_int_equal(xray_datagram_parse(big, n, 0, &d, &why), -EINVAL);
    assert_int_equal(why, XRAY_REJECT_TOO_LARGE);
    /* Exactly 64 KiB: a padded, valid document. */
    n = XRAY_DATAGRAM_MAX;
    memset(big, ' ', n);
    memcpy(big, HDR GOOD_SEGMENT, strlen(HDR GOOD_SEGMENT));
    assert_int_equal(xray_datagram_parse(big, n, 0, &d, &why), 0);
    assert_int_equal(d.body_len, n - strlen(HDR));
    free(big);
}

static void test_body_json(void **state)
{
    (void)state;
    expect_refused(HDR "{\"name\":", XRAY_REJECT_NOT_JSON);
    expect_refused(HDR "not json", XRAY_REJECT_NOT_JSON);
    expect_refused(HDR GOOD_SEGMENT "{}", XRAY_REJECT_NOT_JSON);
    expect_refused(HDR "[]", XRAY_REJECT_NOT_OBJECT);
    expect_refused(HDR "\"segment\"", XRAY_REJECT_NOT_OBJECT);
    expect_refused(HDR "42", XRAY_REJECT_NOT_OBJECT);
    expect_refused(HDR "null", XRAY_REJECT_NOT_OBJECT);
}

/* A document with one field replaced (or removed when value is NULL). */
static void doc_with(char *out, size_t cap, const char *field, const char *value)
{
    static const char *const keys[] = {"name", "id", "trace_id", "start_time", "end_time"};
    static const char *const values[] = {"\"svc\"", "\"" SEG_ID "\"", "\"" TRACE "\"", "1.5",
                                         "2.5"};
    size_t n = (size_t)snprintf(out, cap, HDR "{");
    bool first = true;
    bool replaced = false;
    for (size_t i = 0; i < 5; i++) {
        const char *v = values[i];
        if (strcmp(keys[i], field) == 0) {
            v = value;
            replaced = true;
        }
        if (!v)
            continue;
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%s", first ? "" : ",", keys[i], v);
        first = false;
    }
    if (!replaced && value)
        n += (size_t)snprintf(out + n, cap - n, ",\"%s\":%s", field, value);
    snprintf(out + n, cap - n, "}");
}

static void expect_field(const char *field, const char *value, enum xray_reject reason)
{
    char buf[1024];
    doc_with(buf, sizeof(buf), field, value);
    if (reason == XRAY_REJECT_MAX)
        expect_ok(buf, buf + strlen(HDR));
    else
        expect_refused(buf, reason);
}

static void test_required_fields(void **state)
{
    (void)state;
    expect_field("id", NULL, XRAY_REJECT_MISSING_ID);
    expect_field("id", "\"70de5b6f19ff9a0\"", XRAY_REJECT_BAD_ID);
    expect_field("id", "\"70de5b6f19ff9a0a0\"", XRAY_REJECT_BAD_ID);
    expect_field("id", "\"70DE5B6F19FF9A0A\"", XRAY_REJECT_BAD_ID);
    expect_field("id", "\"70de5b6f19ff9a0g\"", XRAY_REJECT_BAD_ID);
    expect_field("id", "12345", XRAY_REJECT_BAD_ID);
    expect_field("name", NULL, XRAY_REJECT_MISSING_NAME);
    expect_field("name", "\"\"", XRAY_REJECT_BAD_NAME);
    expect_field("name", "\"a!b\"", XRAY_REJECT_BAD_NAME);
    expect_field("name", "\"<svc>\"", XRAY_REJECT_BAD_NAME);
    expect_field("name", "7", XRAY_REJECT_BAD_NAME);
    expect_field("name", "\"my-svc_1 .:/%&#=+\\\\-@\"", XRAY_REJECT_MAX);
    expect_field("name", "\"caf\\u00e9 \\u6771\\u4eac\"", XRAY_REJECT_MAX);
    expect_field("name", "\"a\\u0000b\"", XRAY_REJECT_BAD_NAME);
    expect_field("start_time", NULL, XRAY_REJECT_MISSING_START);
    expect_field("start_time", "\"1.5\"", XRAY_REJECT_BAD_START);
    expect_field("start_time", "null", XRAY_REJECT_BAD_START);
    expect_field("end_time", NULL, XRAY_REJECT_MISSING_END);
    expect_field("end_time", "\"2\"", XRAY_REJECT_BAD_END);
    expect_field("end_time", "true", XRAY_REJECT_BAD_END);
    expect_field("trace_id", NULL, XRAY_REJECT_MISSING_TRACE_ID);
    expect_field("trace_id", "\"1-58406520-a006649127e371903a2de97\"", XRAY_REJECT_BAD_TRACE_ID);
    expect_field("trace_id", "\"2-58406520-a006649127e371903a2de979\"", XRAY_REJECT_BAD_TRACE_ID);
    expect_field("trace_id", "\"1_58406520-a006649127e371903a2de979\"", XRAY_REJECT_BAD_TRACE_ID);
    expect_field("trace_id", "\"1-58406520_a006649127e371903a2de979\"", XRAY_REJECT_BAD_TRACE_ID);
    expect_field("trace_id", "\"1-5840652z-a006649127e371903a2de979\"", XRAY_REJECT_BAD_TRACE_ID);
    expect_field("trace_id", "\"4efaaf4d1e8720b39541901950019ee5\"", XRAY_REJECT_BAD_TRACE_ID);
    expect_field("trace_id", "[]", XRAY_REJECT_BAD_TRACE_ID);
}

static void test_name_length(void **state)
{
    (void)state;
    char name[260], value[270];
    memset(name, 'n', 200);
    name[200] = '\0';
    snprintf(value, sizeof(value), "\"%s\"", name);
    expect_field("name", value, XRAY_REJECT_MAX);
    name[200] = 'n';
    name[201] = '\0';
    snprintf(value, sizeof(value), "\"%s\"", name);
    expect_field("name", value, XRAY_REJECT_BAD_NAME);
    /* Characters, not bytes: 200 two-byte characters fit. */
    char wide[1300] = "\"";
    for (int i = 0; i < 200; i++)
        strcat(wide, "\xc3\xa9");
    strcat(wide, "\"");
    expect_field("name", wide, XRAY_REJECT_MAX);
}

static void test_optional_fields(void **state)
{
    (void)state;
    expect_field("in_progress", "\"yes\"", XRAY_REJECT_BAD_IN_PROGRESS);
    expect_field("in_progress", "false", XRAY_REJECT_MAX);
    expect_field("parent_id", "\"xyz\"", XRAY_REJECT_BAD_PARENT_ID);
    expect_field("parent_id", "\"1234567890abcdef\"", XRAY_REJECT_MAX);
    expect_field("type", "\"segment\"", XRAY_REJECT_BAD_TYPE);
    expect_field("type", "7", XRAY_REJECT_BAD_TYPE);
    expect_field("type", "\"subsegment\"", XRAY_REJECT_MISSING_PARENT_ID);

    /* in_progress:false does not stand in for end_time; true does. */
    char buf[1024];
    snprintf(buf, sizeof(buf),
             HDR "{\"name\":\"a\",\"id\":\"" SEG_ID "\",\"trace_id\":\"" TRACE
                 "\",\"start_time\":1,\"in_progress\":false}");
    expect_refused(buf, XRAY_REJECT_MISSING_END);
    /* Everything else a real SDK sends is passed through uninspected. */
    const char *full =
        "{\"name\":\"svc\",\"id\":\"" SEG_ID "\",\"trace_id\":\"" TRACE "\",\"start_time\":1,"
        "\"end_time\":2,\"error\":true,\"http\":{\"request\":{\"method\":\"GET\"},\"response\":"
        "{\"status\":404}},\"annotations\":{\"k\":1},\"metadata\":{\"default\":{\"x\":[1,2]}},"
        "\"subsegments\":[{\"name\":\"x\"}],\"aws\":{\"xray\":{\"sdk\":\"X-Ray for Node.js\"}}}";
    snprintf(buf, sizeof(buf), HDR "%s", full);
    expect_ok(buf, full);
}

static void test_otlp_passthrough(void **state)
{
    (void)state;
    struct xray_datagram d;
    enum xray_reject why;
    assert_int_equal(parse(HDR "T1SAAECAw==", &d, &why), 0);
    assert_true(d.otlp);
    assert_int_equal(parse(HDR "T1SAAECAwQ=", &d, &why), 0);
    expect_refused(HDR "T1S", XRAY_REJECT_BAD_OTLP);
    expect_refused(HDR "T1S!!!!", XRAY_REJECT_BAD_OTLP);
    expect_refused(HDR "T1SAAE", XRAY_REJECT_BAD_OTLP);
    expect_refused(HDR "T1SA=AA", XRAY_REJECT_BAD_OTLP);
    expect_refused(HDR "T1X", XRAY_REJECT_NOT_JSON);
}

static void test_framing_only(void **state)
{
    (void)state;
    /* The daemon's own rule: any non-empty body behind a valid header. */
    struct xray_datagram d;
    enum xray_reject why = XRAY_REJECT_MAX;
    const char *t = HDR "not json at all";
    assert_int_equal(
        xray_datagram_parse((const uint8_t *)t, strlen(t), XRAY_DATAGRAM_FRAMING_ONLY, &d, &why),
        0);
    assert_int_equal(d.body_len, strlen("not json at all"));
    t = HDR;
    assert_int_equal(
        xray_datagram_parse((const uint8_t *)t, strlen(t), XRAY_DATAGRAM_FRAMING_ONLY, &d, &why),
        -EINVAL);
    assert_int_equal(why, XRAY_REJECT_EMPTY_BODY);
    t = "{\"format\":\"json\",\"version\":2}\n{}";
    assert_int_equal(
        xray_datagram_parse((const uint8_t *)t, strlen(t), XRAY_DATAGRAM_FRAMING_ONLY, &d, &why),
        -EINVAL);
    assert_int_equal(why, XRAY_REJECT_BAD_HEADER);
    t = "{}";
    assert_int_equal(
        xray_datagram_parse((const uint8_t *)t, strlen(t), XRAY_DATAGRAM_FRAMING_ONLY, &d, &why),
        -EINVAL);
    assert_int_equal(why, XRAY_REJECT_NO_SEPARATOR);
}

static void test_reason_table(void **state)
{
    (void)state;
    for (unsigned i = 0; i < XRAY_REJECT_MAX; i++) {
        assert_non_null(xray_reject_names[i]);
        for (unsigned j = 0; j < i; j++)
            assert_string_not_equal(xray_reject_names[i], xray_reject_names[j]);
    }
    assert_null(xray_reject_names[XRAY_REJECT_MAX]);
    assert_int_equal(xray_reject_drop(XRAY_REJECT_TOO_LARGE), DROP_TOO_LARGE);
    assert_int_equal(xray_reject_drop(XRAY_REJECT_BAD_HEADER), DROP_MALFORMED);
    assert_int_equal(xray_reject_drop(XRAY_REJECT_NOT_JSON), DROP_MALFORMED);
    assert_int_equal(xray_reject_drop(XRAY_REJECT_MISSING_ID), DROP_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_segment),   cmocka_unit_test(test_header_variants),
        cmocka_unit_test(test_framing),         cmocka_unit_test(test_body_json),
        cmocka_unit_test(test_required_fields), cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_optional_fields), cmocka_unit_test(test_otlp_passthrough),
        cmocka_unit_test(test_framing_only),    cmocka_unit_test(test_reason_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
