/*
 * cw_metrics_encode: the form encoder, query and JSON 1.0 bodies of single, statistic and
 * packed (Values/Counts) datums, the packing rule, the point checks, and the limits at
 * their edges (exactly 1000 datums; a batch that would pass 1 MB is cut), with the exact
 * size accounting checked against the encoded body everywhere.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/cw_metrics_encode.h"

#define NS        1000000000ull
#define T0_S      1704164645ull /* 2024-01-02T03:04:05Z */
#define T0        (T0_S * NS)
#define QUERY_HDR "Action=PutMetricData&Version=2010-08-01&Namespace="

static struct metric_point point(const char *name, double value)
{
    struct metric_point p;
    memset(&p, 0, sizeof(p));
    p.namespace_ = "MyApp";
    p.name = name;
    p.unit = METRIC_UNIT_MILLISECONDS;
    p.storage_resolution = 60;
    p.value_kind = METRIC_VALUE_SINGLE;
    p.value = value;
    (void)metric_point_add_dim(&p, "Host", "h1");
    return p;
}

/* Encode and check the size invariant; the caller frees the text. */
static char *encode(const struct cwm_batch *b)
{
    struct buf out;
    buf_init(&out, 4u << 20);
    assert_int_equal(cwm_batch_encode(b, &out), 0);
    assert_int_equal(out.len, cwm_batch_bytes(b));
    assert_true(out.len <= b->max_bytes);
    char *s = malloc(out.len + 1);
    assert_non_null(s);
    memcpy(s, out.data, out.len);
    s[out.len] = '\0';
    buf_release(&out);
    return s;
}

static json_t *encode_json(const struct cwm_batch *b)
{
    char *s = encode(b);
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    if (!j)
        fail_msg("invalid JSON body: %s: %s", err.text, s);
    free(s);
    return j;
}

static void form_equal(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(cwm_form_append(&b, in, strlen(in)), 0);
    assert_int_equal(b.len, strlen(want));
    assert_int_equal(cwm_form_encoded_len(in, strlen(in)), strlen(want));
    assert_memory_equal(b.data, want, b.len);
    buf_release(&b);
}

static void test_form_encoder(void **state)
{
    (void)state;
    form_equal("", "");
    form_equal("AZaz09-._~", "AZaz09-._~");
    form_equal("a b", "a%20b");
    form_equal("1e+300", "1e%2B300");
    form_equal("Bytes/Second", "Bytes%2FSecond");
    form_equal("03:04:05", "03%3A04%3A05");
    form_equal("a&b=c%d", "a%26b%3Dc%25d");
    form_equal("*!'()", "%2A%21%27%28%29");
    form_equal("\xc3\xa9", "%C3%A9");
    form_equal("\x01\x7f\xff", "%01%7F%FF");
    /* Binary-safe. */
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(cwm_form_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "a%00b", 5);
    /* Over the buffer's cap: refused, buffer unchanged. */
    assert_int_equal(cwm_form_append(&b, "////", 4), -ENOBUFS);
    assert_int_equal(b.len, 5);
    buf_release(&b);
}

static void number_equal(double v, const char *want)
{
    char text[CWM_NUMBER_MAX];
    size_t n = cwm_format_double(v, text);
    assert_string_equal(text, want);
    assert_int_equal(n, strlen(want));
}

static void test_numbers(void **state)
{
    (void)state;
    number_equal(12.5, "12.5");
    number_equal(0.1, "0.1");
    number_equal(5, "5");
    number_equal(-0.0, "-0");
    number_equal(1e300, "1e+300");
    number_equal(123456789012345678.0, "1.2345678901234568e+17");
    char text[CWM_NUMBER_MAX];
    for (double v = 1.0 / 3; v < 1e6; v *= 7.3) {
        cwm_format_double(v, text);
        assert_true(strtod(text, NULL) == v);
    }
    cwm_format_double(-0x1p360, text);
    assert_true(strtod(text, NULL) == -0x1p360);
}

static void test_point_check(void **state)
{
    (void)state;
    uint64_t now = T0;
    struct metric_point p = point("Latency", 1);
    assert_int_equal(cwm_point_check(&p, now, now), 0);
    p.value = NAN;
    assert_int_equal(cwm_point_check(&p, now, now), -EINVAL);
    p.value = INFINITY;
    assert_int_equal(cwm_point_check(&p, now, now), -EINVAL);
    p.value = 0x1p360;
    assert_int_equal(cwm_point_check(&p, now, now), 0);
    p.value = -0x1p360;
    assert_int_equal(cwm_point_check(&p, now, now), 0);
    p.value = nextafter(0x1p360, INFINITY);
    assert_int_equal(cwm_point_check(&p, now, now), -EINVAL);
    p.value = 1;

    p.storage_resolution = 30;
    assert_int_equal(cwm_point_check(&p, now, now), -EINVAL);
    p.storage_resolution = 1;
    assert_int_equal(cwm_point_check(&p, now, now), 0);
    p.storage_resolution = 0; /* unset: standard */
    assert_int_equal(cwm_point_check(&p, now, now), 0);

    p.value_kind = METRIC_VALUE_STATS;
    p.count = 2, p.sum = 3, p.min = 1, p.max = 2;
    assert_int_equal(cwm_point_check(&p, now, now), 0);
    p.sum = NAN;
    assert_int_equal(cwm_point_check(&p, now, now), -EINVAL);
    p.value_kind = METRIC_VALUE_SINGLE;

    /* Time window, with the margins. */
    assert_int_equal(cwm_point_check(&p, now - 13 * 86400 * NS, now), 0);
    assert_int_equal(cwm_point_check(&p, now - 14 * 86400 * NS, now), -ERANGE);
    assert_int_equal(cwm_point_check(&p, now - 14 * 86400 * NS + 3600 * NS, now), 0);
    assert_int_equal(cwm_point_check(&p, now + 3600 * NS, now), 0);
    assert_int_equal(cwm_point_check(&p, now + 2 * 3600 * NS, now), -ERANGE);

    /* Text. */
    struct metric_point q = p;
    q.namespace_ = "AWS/EC2";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q.namespace_ = ":ns";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q.namespace_ = "   ";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q.namespace_ = "caf\xc3\xa9";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q = p;
    q.name = "caf\xc3\xa9 latency"; /* UTF-8 metric names are fine */
    assert_int_equal(cwm_point_check(&q, now, now), 0);
    q.name = "bad\xc3";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q.name = "tab\there";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q.name = "";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q = p;
    q.dims[0].value = "";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q.dims[0].value = "a\nb";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q.dims[0].value = "h1";
    q.dims[0].name = ":Host";
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
    q = p;
    q.unit = METRIC_UNIT_MAX;
    assert_int_equal(cwm_point_check(&q, now, now), -EINVAL);
}

static void test_query_single(void **state)
{
    (void)state;
    struct cwm_batch b;
    assert_int_equal(cwm_batch_init(&b, CWM_QUERY, 0, 0), 0);
    assert_int_equal(cwm_batch_reset(&b, "My App"), 0);
    struct metric_point p = point("Latency", 12.5);
    assert_int_equal(cwm_batch_add(&b, &p, T0 + 123 * 1000000ull), 0);
    char *s = encode(&b);
    assert_string_equal(s, QUERY_HDR "My%20App"
                                     "&MetricData.member.1.MetricName=Latency"
                                     "&MetricData.member.1.Dimensions.member.1.Name=Host"
                                     "&MetricData.member.1.Dimensions.member.1.Value=h1"
                                     "&MetricData.member.1.Timestamp=2024-01-02T03%3A04%3A05.123Z"
                                     "&MetricData.member.1.Unit=Milliseconds"
                                     "&MetricData.member.1.StorageResolution=60"
                                     "&MetricData.member.1.Value=12.5");
    free(s);

    /* A second metric (no dimensions, high resolution, unit with a slash, a '+' in the
     * number), then a statistic set. */
    struct metric_point q = point("Rx", 1e300);
    q.n_dims = 0;
    q.unit = METRIC_UNIT_BYTES_PER_SECOND;
    q.storage_resolution = 1;
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    struct metric_point st = point("Lat", 0);
    st.value_kind = METRIC_VALUE_STATS;
    st.count = 4, st.sum = 10, st.min = 1, st.max = 4;
    assert_int_equal(cwm_batch_add(&b, &st, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 3);
    s = encode(&b);
    assert_non_null(strstr(s, "&MetricData.member.2.MetricName=Rx"
                              "&MetricData.member.2.Timestamp=2024-01-02T03%3A04%3A05.000Z"
                              "&MetricData.member.2.Unit=Bytes%2FSecond"
                              "&MetricData.member.2.StorageResolution=1"
                              "&MetricData.member.2.Value=1e%2B300"));
    assert_non_null(strstr(s, "&MetricData.member.3.StorageResolution=60"
                              "&MetricData.member.3.StatisticValues.SampleCount=4"
                              "&MetricData.member.3.StatisticValues.Sum=10"
                              "&MetricData.member.3.StatisticValues.Minimum=1"
                              "&MetricData.member.3.StatisticValues.Maximum=4"));
    assert_null(strstr(s, "member.2.Dimensions"));
    assert_null(strstr(s, "member.3.Value="));
    free(s);
    cwm_batch_release(&b);
}

static void test_json_single_and_stats(void **state)
{
    (void)state;
    struct cwm_batch b;
    assert_int_equal(cwm_batch_init(&b, CWM_JSON, 0, 0), 0);
    assert_int_equal(cwm_batch_reset(&b, "MyApp"), 0);
    struct metric_point p = point("Latency", 12.5);
    assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
    char *s = encode(&b);
    assert_string_equal(s, "{\"Namespace\":\"MyApp\",\"MetricData\":[{\"MetricName\":\"Latency\","
                           "\"Dimensions\":[{\"Name\":\"Host\",\"Value\":\"h1\"}],"
                           "\"Timestamp\":1704164645.000,\"Unit\":\"Milliseconds\","
                           "\"StorageResolution\":60,\"Value\":12.5}]}");
    free(s);

    struct metric_point q = point("quo\"te", 3);
    q.n_dims = 0;
    q.unit = METRIC_UNIT_NONE;
    q.storage_resolution = 1;
    assert_int_equal(cwm_batch_add(&b, &q, T0 + 5 * 1000000ull), 0);
    struct metric_point st = point("Lat", 0);
    st.value_kind = METRIC_VALUE_STATS;
    st.count = 2, st.sum = 0.5, st.min = 0.25, st.max = 0.25;
    assert_int_equal(cwm_batch_add(&b, &st, T0), 0);
    json_t *j = encode_json(&b);
    json_t *md = json_object_get(j, "MetricData");
    assert_int_equal(json_array_size(md), 3);
    json_t *d2 = json_array_get(md, 1);
    assert_string_equal(json_string_value(json_object_get(d2, "MetricName")), "quo\"te");
    assert_null(json_object_get(d2, "Dimensions"));
    assert_true(json_real_value(json_object_get(d2, "Timestamp")) == 1704164645.005);
    assert_string_equal(json_string_value(json_object_get(d2, "Unit")), "None");
    assert_int_equal(json_integer_value(json_object_get(d2, "StorageResolution")), 1);
    json_t *sv = json_object_get(json_array_get(md, 2), "StatisticValues");
    assert_true(json_number_value(json_object_get(sv, "SampleCount")) == 2);
    assert_true(json_number_value(json_object_get(sv, "Sum")) == 0.5);
    assert_true(json_number_value(json_object_get(sv, "Minimum")) == 0.25);
    assert_true(json_number_value(json_object_get(sv, "Maximum")) == 0.25);
    assert_null(json_object_get(json_array_get(md, 2), "Value"));
    json_decref(j);
    cwm_batch_release(&b);
}

static void test_packing_query(void **state)
{
    (void)state;
    struct cwm_batch b;
    assert_int_equal(cwm_batch_init(&b, CWM_QUERY, 0, 0), 0);
    assert_int_equal(cwm_batch_reset(&b, "N"), 0);
    struct metric_point p = point("L", 1);
    p.n_dims = 0;
    double vals[] = {1, 2, 1, 3, 1};
    for (size_t i = 0; i < 5; i++) {
        p.value = vals[i];
        /* Spread over the same minute: 03:04:05 .. 03:04:45 */
        assert_int_equal(cwm_batch_add(&b, &p, T0 + i * 10 * NS), 0);
        char *s = encode(&b); /* the size invariant at each step */
        free(s);
    }
    assert_int_equal(cwm_batch_datums(&b), 1);
    char *s = encode(&b);
    assert_string_equal(s, QUERY_HDR "N"
                                     "&MetricData.member.1.MetricName=L"
                                     "&MetricData.member.1.Timestamp=2024-01-02T03%3A04%3A05.000Z"
                                     "&MetricData.member.1.Unit=Milliseconds"
                                     "&MetricData.member.1.StorageResolution=60"
                                     "&MetricData.member.1.Values.member.1=1"
                                     "&MetricData.member.1.Values.member.2=2"
                                     "&MetricData.member.1.Values.member.3=3"
                                     "&MetricData.member.1.Counts.member.1=3"
                                     "&MetricData.member.1.Counts.member.2=1"
                                     "&MetricData.member.1.Counts.member.3=1");
    free(s);
    cwm_batch_release(&b);
}

/* Datums of a JSON batch after adding the points at the given timestamps. */
static json_t *md_of(json_t *j)
{
    return json_object_get(j, "MetricData");
}

static void test_packing_rules(void **state)
{
    (void)state;
    struct cwm_batch b;
    assert_int_equal(cwm_batch_init(&b, CWM_JSON, 0, 0), 0);

    /* The same value twice: Values [v], Counts [2]. */
    assert_int_equal(cwm_batch_reset(&b, "N"), 0);
    struct metric_point p = point("L", 7);
    assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
    assert_int_equal(cwm_batch_add(&b, &p, T0 + NS), 0);
    json_t *j = encode_json(&b);
    json_t *d = json_array_get(md_of(j), 0);
    assert_int_equal(json_array_size(md_of(j)), 1);
    assert_null(json_object_get(d, "Value"));
    assert_int_equal(json_array_size(json_object_get(d, "Values")), 1);
    assert_true(json_number_value(json_array_get(json_object_get(d, "Counts"), 0)) == 2);
    /* The datum keeps its first point's timestamp. */
    assert_true(json_real_value(json_object_get(d, "Timestamp")) == (double)T0_S);
    json_decref(j);

    /* Different minute (standard resolution), unit, resolution, dimensions or dimension
     * order: separate datums. T0 is 03:04:05, so +55 s is the next minute. */
    assert_int_equal(cwm_batch_reset(&b, "N"), 0);
    struct metric_point base = point("L", 1);
    (void)metric_point_add_dim(&base, "Az", "a");
    assert_int_equal(cwm_batch_add(&b, &base, T0), 0);
    assert_int_equal(cwm_batch_add(&b, &base, T0 + 54 * NS), 0); /* 03:04:59: packs */
    assert_int_equal(cwm_batch_datums(&b), 1);
    assert_int_equal(cwm_batch_add(&b, &base, T0 + 55 * NS), 0); /* 03:05:00 */
    assert_int_equal(cwm_batch_datums(&b), 2);
    struct metric_point q = base;
    q.unit = METRIC_UNIT_SECONDS;
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 3);
    q = base;
    q.storage_resolution = 1;
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 4);
    assert_int_equal(cwm_batch_add(&b, &q, T0 + NS / 2), 0); /* same second: packs */
    assert_int_equal(cwm_batch_datums(&b), 4);
    assert_int_equal(cwm_batch_add(&b, &q, T0 + NS), 0); /* next second */
    assert_int_equal(cwm_batch_datums(&b), 5);
    q = base;
    q.dims[1].value = "b";
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 6);
    q = base;
    q.dims[0] = base.dims[1];
    q.dims[1] = base.dims[0];
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 7);
    q = base;
    q.n_dims = 1;
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 8);
    q = base;
    q.name = "L2";
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 9);
    /* Statistic sets are never packed, not even with each other. */
    q = base;
    q.value_kind = METRIC_VALUE_STATS;
    q.count = 1, q.sum = 1, q.min = 1, q.max = 1;
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_add(&b, &q, T0), 0);
    assert_int_equal(cwm_batch_datums(&b), 11);
    /* ... and a single value after them still packs into its datum. */
    assert_int_equal(cwm_batch_add(&b, &base, T0 + NS), 0);
    assert_int_equal(cwm_batch_datums(&b), 11);
    assert_int_equal(b.points, 14);
    j = encode_json(&b);
    d = json_array_get(md_of(j), 0);
    assert_true(json_number_value(json_array_get(json_object_get(d, "Counts"), 0)) == 3);
    json_decref(j);

    /* 150 distinct values per datum, then a new datum takes the key's values (and the
     * later ones, even those the first datum holds: any split of a period is exact). */
    assert_int_equal(cwm_batch_reset(&b, "N"), 0);
    for (int pass = 0; pass < 2; pass++) {
        for (int v = 0; v < 150; v++) {
            p.value = v;
            assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
        }
    }
    for (int v = 150; v < 160; v++) {
        p.value = v;
        assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
    }
    p.value = 0;
    assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
    j = encode_json(&b);
    assert_int_equal(json_array_size(md_of(j)), 2);
    json_t *d1 = json_array_get(md_of(j), 0), *d2 = json_array_get(md_of(j), 1);
    assert_int_equal(json_array_size(json_object_get(d1, "Values")), 150);
    assert_int_equal(json_array_size(json_object_get(d2, "Values")), 11);
    double total = 0;
    for (int k = 0; k < 2; k++) {
        json_t *dk = k ? d2 : d1;
        json_t *vals = json_object_get(dk, "Values"), *counts = json_object_get(dk, "Counts");
        assert_int_equal(json_array_size(vals), json_array_size(counts));
        for (size_t i = 0; i < json_array_size(counts); i++)
            total += json_number_value(json_array_get(counts, i));
    }
    assert_true(total == 311);
    assert_true(json_number_value(json_array_get(json_object_get(d1, "Counts"), 0)) == 2);
    assert_true(json_number_value(json_array_get(json_object_get(d2, "Values"), 10)) == 0);
    json_decref(j);
    cwm_batch_release(&b);
}

static void test_exactly_1000_datums(void **state)
{
    (void)state;
    for (int proto = 0; proto < 2; proto++) {
        struct cwm_batch b;
        assert_int_equal(cwm_batch_init(&b, (enum cwm_protocol)proto, 0, 0), 0);
        assert_int_equal(cwm_batch_reset(&b, "CWAgent"), 0);
        char name[32];
        struct metric_point p = point(name, 0);
        for (int i = 0; i < 1000; i++) {
            snprintf(name, sizeof(name), "metric_%d", i);
            p.value = i;
            assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
        }
        assert_int_equal(cwm_batch_datums(&b), 1000);
        size_t bytes = cwm_batch_bytes(&b);
        snprintf(name, sizeof(name), "metric_%d", 1000);
        assert_int_equal(cwm_batch_add(&b, &p, T0), -ENOSPC);
        /* Refused without a trace. */
        assert_int_equal(cwm_batch_datums(&b), 1000);
        assert_int_equal(cwm_batch_bytes(&b), bytes);
        /* A value that packs into an existing datum still fits. */
        snprintf(name, sizeof(name), "metric_%d", 999);
        assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
        char *s = encode(&b);
        if (proto == CWM_QUERY) {
            assert_non_null(strstr(s, "&MetricData.member.1000.MetricName=metric_999"));
            assert_null(strstr(s, "member.1001."));
        }
        free(s);
        cwm_batch_release(&b);
    }
}

static void test_one_megabyte_cut(void **state)
{
    (void)state;
    static char value[1025];
    memset(value, 'v', 1024);
    for (int proto = 0; proto < 2; proto++) {
        struct cwm_batch b;
        assert_int_equal(cwm_batch_init(&b, (enum cwm_protocol)proto, 0, 0), 0);
        assert_int_equal(cwm_batch_reset(&b, "Big"), 0);
        char name[32], dim_names[30][8];
        struct metric_point p = point(name, 1);
        p.n_dims = 0;
        for (int i = 0; i < 30; i++) {
            snprintf(dim_names[i], sizeof(dim_names[i]), "d%d", i);
            (void)metric_point_add_dim(&p, dim_names[i], value);
        }
        int added = 0, r;
        size_t prev = cwm_batch_bytes(&b);
        for (;; added++) {
            snprintf(name, sizeof(name), "m%d", added);
            r = cwm_batch_add(&b, &p, T0);
            if (r != 0)
                break;
            assert_true(cwm_batch_bytes(&b) <= CWM_MAX_BODY_BYTES);
            prev = cwm_batch_bytes(&b);
        }
        assert_int_equal(r, -ENOSPC);
        assert_true(added > 20 && added < 1000); /* cut by bytes, not by count */
        assert_int_equal(cwm_batch_bytes(&b), prev);
        /* Less than one more datum of room was left: the cut is at the limit. */
        size_t per_datum = prev / (size_t)added;
        assert_true(prev + per_datum + 64 > CWM_MAX_BODY_BYTES);
        char *s = encode(&b);
        assert_true(strlen(s) <= CWM_MAX_BODY_BYTES);
        free(s);

        /* A fresh batch takes it. */
        assert_int_equal(cwm_batch_reset(&b, "Big"), 0);
        assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
        cwm_batch_release(&b);
    }
}

static void test_small_limit_values_growth(void **state)
{
    (void)state;
    /* Packing growth hits the byte limit too: the batch stays within it, exactly. */
    for (int proto = 0; proto < 2; proto++) {
        struct cwm_batch b;
        assert_int_equal(cwm_batch_init(&b, (enum cwm_protocol)proto, 1000, 0), 0);
        assert_int_equal(cwm_batch_reset(&b, "N"), 0);
        struct metric_point p = point("L", 0);
        int r = 0, i;
        for (i = 0; i < 10000; i++) {
            p.value = i * 1.5;
            r = cwm_batch_add(&b, &p, T0);
            if (r != 0)
                break;
            char *s = encode(&b);
            free(s);
        }
        assert_int_equal(r, -ENOSPC);
        assert_true(cwm_batch_bytes(&b) <= 1000);
        /* An identical value only grows a count: "1" -> "2" costs nothing. */
        p.value = 0;
        assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
        char *s = encode(&b);
        free(s);
        /* Too large even for an empty batch. */
        assert_int_equal(cwm_batch_reset(&b, "N"), 0);
        static char big[1025];
        memset(big, 'x', 1024);
        p.dims[0].value = big;
        p.value = 1;
        assert_int_equal(cwm_batch_add(&b, &p, T0), -E2BIG);
        assert_int_equal(cwm_batch_datums(&b), 0);
        cwm_batch_release(&b);
    }
}

static void test_body_of_exactly_max_bytes(void **state)
{
    (void)state;
    /* A limit equal to the body's size: everything fits, and the body encodes into a
     * buffer capped at exactly that many bytes (the request body's own buffer). */
    for (int proto = 0; proto < 2; proto++) {
        size_t exact = 0;
        for (int round = 0; round < 2; round++) {
            struct cwm_batch b;
            assert_int_equal(cwm_batch_init(&b, (enum cwm_protocol)proto, exact, 0), 0);
            assert_int_equal(cwm_batch_reset(&b, "N"), 0);
            struct metric_point p = point("L", 0.5);
            assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
            p.value = 1e-7;
            assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
            p.name = "M";
            assert_int_equal(cwm_batch_add(&b, &p, T0), 0);
            if (round == 0) {
                exact = cwm_batch_bytes(&b);
            } else {
                assert_int_equal(cwm_batch_bytes(&b), exact);
                struct buf out;
                buf_init(&out, exact);
                assert_int_equal(cwm_batch_encode(&b, &out), 0);
                assert_int_equal(out.len, exact);
                buf_release(&out);
                /* One more byte of anything does not fit. */
                p.value = 2;
                assert_int_equal(cwm_batch_add(&b, &p, T0), -ENOSPC);
            }
            cwm_batch_release(&b);
        }
    }
}

static void test_size_invariant_random(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (int proto = 0; proto < 2; proto++) {
        struct cwm_batch b;
        assert_int_equal(cwm_batch_init(&b, (enum cwm_protocol)proto, 200000, 300), 0);
        assert_int_equal(cwm_batch_reset(&b, "R&D/metrics"), 0);
        static const char *const names[] = {"a", "b b", "c+c", "d/é"};
        static const char *const vals[] = {"x", "y z", "1:2", "~"};
        int full = 0;
        for (int i = 0; i < 20000; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(rng >> 33);
            struct metric_point p = point(names[r % 4], 0);
            p.dims[0].value = vals[(r >> 2) % 4];
            p.unit = (enum metric_unit)((r >> 4) % 3);
            p.storage_resolution = (r >> 6) & 1 ? 1 : 60;
            p.value = (double)((r >> 7) % 200) * ((r >> 15) & 1 ? 0.001 : 1e17);
            if ((r >> 16) % 50 == 0) {
                p.value_kind = METRIC_VALUE_STATS;
                p.count = (r >> 8) % 10 + 1, p.sum = p.value, p.min = -1, p.max = 1e-300;
            }
            uint64_t ts = T0 + (uint64_t)((r >> 20) % 600) * NS / 3;
            int rc = cwm_batch_add(&b, &p, ts);
            if (rc == -ENOSPC) {
                full++;
                char *s = encode(&b);
                free(s);
                assert_int_equal(cwm_batch_reset(&b, "R&D/metrics"), 0);
                rc = cwm_batch_add(&b, &p, ts);
            }
            assert_int_equal(rc, 0);
            if (i % 97 == 0) {
                char *s = encode(&b);
                free(s);
            }
        }
        assert_true(full > 0);
        char *s = encode(&b);
        free(s);
        cwm_batch_release(&b);
    }
}

static void test_not_finite_refused(void **state)
{
    (void)state;
    struct cwm_batch b;
    assert_int_equal(cwm_batch_init(&b, CWM_JSON, 0, 0), 0);
    assert_int_equal(cwm_batch_reset(&b, "N"), 0);
    struct metric_point p = point("L", NAN);
    assert_int_equal(cwm_batch_add(&b, &p, T0), -EINVAL);
    p.value_kind = METRIC_VALUE_STATS;
    p.count = 1, p.sum = INFINITY, p.min = 0, p.max = 0;
    assert_int_equal(cwm_batch_add(&b, &p, T0), -EINVAL);
    assert_int_equal(cwm_batch_datums(&b), 0);
    char too_long[300];
    memset(too_long, 'n', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    assert_int_equal(cwm_batch_reset(&b, too_long), -EINVAL);
    cwm_batch_release(&b);
    cwm_batch_release(&b); /* twice: safe */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_encoder),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_point_check),
        cmocka_unit_test(test_query_single),
        cmocka_unit_test(test_json_single_and_stats),
        cmocka_unit_test(test_packing_query),
        cmocka_unit_test(test_packing_rules),
        cmocka_unit_test(test_exactly_1000_datums),
        cmocka_unit_test(test_one_megabyte_cut),
        cmocka_unit_test(test_small_limit_values_growth),
        cmocka_unit_test(test_body_of_exactly_max_bytes),
        cmocka_unit_test(test_size_invariant_random),
        cmocka_unit_test(test_not_finite_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
