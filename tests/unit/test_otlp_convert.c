/* OTLP decoding (binary protobuf and OTLP JSON), the span -> X-Ray segment converter (its
 * output read back with jansson), the limits on hostile bodies (nesting, allocation,
 * truncation) and the answers (partial success, google.rpc.Status). */
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
#include "collectors/otlp_convert.h"
#include "collectors/otlp_decode.h"
#include "status.pb-c.h"
#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req;
typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;

static const uint8_t TRACE_ID[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                     0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t SPAN_ID[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
static const uint8_t PARENT_ID[8] = {0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8};

/* A span built on the stack, with up to 8 attributes. */
struct span_fixture {
    Opentelemetry__Proto__Trace__V1__Span span;
    Opentelemetry__Proto__Trace__V1__Status status;
    kv_t kvs[8];
    any_t vals[8];
    kv_t *attrs[8];
    Opentelemetry__Proto__Resource__V1__Resource res;
    kv_t res_kv;
    any_t res_val;
    kv_t *res_attrs[1];
};

static void fixture_init(struct span_fixture *f, int kind, bool parent)
{
    Opentelemetry__Proto__Trace__V1__Span s = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    Opentelemetry__Proto__Trace__V1__Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    Opentelemetry__Proto__Resource__V1__Resource r =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    f->span = s;
    f->status = st;
    f->res = r;
    f->span.trace_id = (ProtobufCBinaryData){16, (uint8_t *)TRACE_ID};
    f->span.span_id = (ProtobufCBinaryData){8, (uint8_t *)SPAN_ID};
    if (parent)
        f->span.parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)PARENT_ID};
    f->span.name = "GET /orders/<id>?x";
    f->span.kind = kind;
    f->span.start_time_unix_nano = 1700000000123456789ull;
    f->span.end_time_unix_nano = 1700000000223456789ull;
    f->span.attributes = f->attrs;
    f->span.status = &f->status;
    kv_t kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    any_t av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    f->res_kv = kv;
    f->res_val = av;
    f->res_kv.key = "service.name";
    f->res_kv.value = &f->res_val;
    f->res_val.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    f->res_val.string_value = "checkout";
    f->res_attrs[0] = &f->res_kv;
    f->res.attributes = f->res_attrs;
    f->res.n_attributes = 1;
}

static any_t *add_attr(struct span_fixture *f, const char *key)
{
    size_t i = f->span.n_attributes++;
    kv_t kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    any_t av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    f->kvs[i] = kv;
    f->vals[i] = av;
    f->kvs[i].key = (char *)key;
    f->kvs[i].value = &f->vals[i];
    f->attrs[i] = &f->kvs[i];
    return &f->vals[i];
}

static void attr_str(struct span_fixture *f, const char *key, const char *v)
{
    any_t *a = add_attr(f, key);
    a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    a->string_value = (char *)v;
}

static void attr_int(struct span_fixture *f, const char *key, int64_t v)
{
    any_t *a = add_attr(f, key);
    a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    a->int_value = v;
}

static json_t *convert(const struct span_fixture *f, const struct otlp_xray_options *o)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    enum otlp_reject why = OTLP_REJECT_MAX;
    assert_int_equal(otlp_span_to_segment(&f->span, &f->res, o, &b, &why), 0);
    assert_int_equal(why, OTLP_REJECT_NONE);
    json_error_t err;
    json_t *doc = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        fail_msg("not JSON: %s: %.*s", err.text, (int)b.len, (const char *)b.data);
    buf_release(&b);
    return doc;
}

static const char *jstr(json_t *doc, const char *path)
{
    json_t *v = doc;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save))
        v = json_object_get(v, p);
    return json_string_value(v);
}

static json_t *jget(json_t *doc, const char *path)
{
    json_t *v = doc;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save))
        v = json_object_get(v, p);
    return v;
}

static void test_server_span_is_a_segment(void **state)
{
    (void)state;
    struct span_fixture f;
    fixture_init(&f, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER, false);
    attr_str(&f, "http.request.method", "GET");
    attr_str(&f, "url.path", "/orders/7");
    attr_str(&f, "server.address", "shop");
    attr_int(&f, "http.response.status_code", 404);
    attr_str(&f, "http.client_ip", "10.0.0.1");
    attr_str(&f, "enduser.id", "alice");
    json_t *d = convert(&f, NULL);
    assert_string_equal(jstr(d, "trace_id"), "1-5b8efff7-98038103d269b633813fc60c");
    assert_string_equal(jstr(d, "id"), "eee19b7ec3c1b174");
    assert_string_equal(jstr(d, "name"), "checkout");
    assert_null(jget(d, "type"));
    assert_null(jget(d, "parent_id"));
    assert_true(json_is_true(jget(d, "error")));
    assert_null(jget(d, "fault"));
    assert_string_equal(jstr(d, "user"), "alice");
    assert_string_equal(jstr(d, "http/request/url"), "http://shop/orders/7");
    assert_string_equal(jstr(d, "http/request/client_ip"), "10.0.0.1");
    assert_true(json_is_true(jget(d, "http/request/x_forwarded_for")));
    assert_int_equal(json_integer_value(jget(d, "http/response/status")), 404);
    /* Integer ns -> seconds with microseconds, no float rounding. */
    assert_true(json_real_value(jget(d, "start_time")) > 1700000000.123456 - 1e-6);
    assert_true(json_real_value(jget(d, "end_time")) - json_real_value(jget(d, "start_time")) >
                0.0999);
    assert_string_equal(jstr(d, "metadata/default/otel.resource.service.name"), "checkout");
    json_decref(d);
}

static void test_client_span_is_a_subsegment(void **state)
{
    (void)state;
    struct span_fixture f;
    fixture_init(&f, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, true);
    attr_str(&f, "peer.service", "inventory");
    attr_int(&f, "http.status_code", 503);
    attr_str(&f, "http.url", "http://inventory/x");
    f.status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    f.status.message = "unavailable";
    json_t *d = convert(&f, NULL);
    assert_string_equal(jstr(d, "type"), "subsegment");
    assert_string_equal(jstr(d, "parent_id"), "53995c3f42cd8ad8");
    assert_string_equal(jstr(d, "name"), "inventory");
    assert_string_equal(jstr(d, "namespace"), "remote");
    assert_true(json_is_true(jget(d, "fault")));
    json_t *exc = json_array_get(jget(d, "cause/exceptions"), 0);
    assert_non_null(exc);
    assert_string_equal(jstr(exc, "message"), "unavailable");
    assert_true(json_is_true(jget(exc, "remote")));
    assert_int_equal(strlen(jstr(exc, "id")), 16);
    /* Subsegments carry no resource metadata. */
    assert_null(jget(d, "metadata/default/otel.resource.service.name"));
    json_decref(d);
}

static void test_aws_and_sql_blocks(void **state)
{
    (void)state;
    struct span_fixture f;
    fixture_init(&f, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, true);
    attr_str(&f, "rpc.system", "aws-api");
    attr_str(&f, "rpc.service", "DynamoDB");
    attr_str(&f, "rpc.method", "GetItem");
    attr_str(&f, "aws.request_id", "REQ1");
    json_t *d = convert(&f, NULL);
    assert_string_equal(jstr(d, "namespace"), "aws");
    assert_string_equal(jstr(d, "name"), "DynamoDB");
    assert_string_equal(jstr(d, "aws/operation"), "GetItem");
    assert_string_equal(jstr(d, "aws/request_id"), "REQ1");
    json_decref(d);

    fixture_init(&f, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT, true);
    attr_str(&f, "db.system", "postgresql");
    attr_str(&f, "db.name", "shop");
    attr_str(&f, "db.statement", "SELECT 1");
    d = convert(&f, NULL);
    assert_string_equal(jstr(d, "sql/database_type"), "postgresql");
    assert_string_equal(jstr(d, "sql/connection_string"), "localhost/shop");
    assert_string_equal(jstr(d, "sql/sanitized_query"), "SELECT 1");
    json_decref(d);
}

static void test_annotations_and_names(void **state)
{
    (void)state;
    struct span_fixture f;
    fixture_init(&f, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL, true);
    attr_str(&f, "order.id", "7");
    attr_int(&f, "items", 3);
    attr_str(&f, "note", "free text");
    const char *indexed[] = {"order.id", "items"};
    struct otlp_xray_options o = {indexed, 2, false};
    json_t *d = convert(&f, &o);
    /* X-Ray-illegal characters of the span name are removed, not replaced. */
    assert_string_equal(jstr(d, "name"), "GET /orders/idx");
    assert_string_equal(jstr(d, "annotations/order_id"), "7");
    assert_int_equal(json_integer_value(jget(d, "annotations/items")), 3);
    assert_null(jget(d, "annotations/note"));
    assert_string_equal(jstr(d, "metadata/default/note"), "free text");
    assert_null(jget(d, "metadata/default/order.id"));
    assert_null(jget(d, "namespace"));
    json_decref(d);
}

static void test_rejects(void **state)
{
    (void)state;
    struct span_fixture f;
    struct buf b;
    buf_init(&b, 1u << 20);
    enum otlp_reject why;
    fixture_init(&f, 2, false);
    f.span.trace_id.len = 8;
    assert_int_equal(otlp_span_to_segment(&f.span, NULL, NULL, &b, &why), -EINVAL);
    assert_int_equal(why, OTLP_REJECT_BAD_TRACE_ID);
    fixture_init(&f, 2, false);
    static const uint8_t zero[8];
    f.span.span_id.data = (uint8_t *)zero;
    assert_int_equal(otlp_span_to_segment(&f.span, NULL, NULL, &b, &why), -EINVAL);
    assert_int_equal(why, OTLP_REJECT_BAD_SPAN_ID);
    fixture_init(&f, 2, false);
    f.span.parent_span_id = (ProtobufCBinaryData){3, (uint8_t *)PARENT_ID};
    assert_int_equal(otlp_span_to_segment(&f.span, NULL, NULL, &b, &why), -EINVAL);
    assert_int_equal(why, OTLP_REJECT_BAD_PARENT_ID);
    fixture_init(&f, 2, false);
    f.span.end_time_unix_nano = f.span.start_time_unix_nano - 1;
    assert_int_equal(otlp_span_to_segment(&f.span, NULL, NULL, &b, &why), -EINVAL);
    assert_int_equal(why, OTLP_REJECT_BAD_TIMES);
    assert_int_equal(b.len, 0);
    /* Metadata too large for 64 KiB: written without it. */
    fixture_init(&f, 2, false);
    char *big = malloc(70000);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    attr_str(&f, "blob", big);
    assert_int_equal(otlp_span_to_segment(&f.span, NULL, NULL, &b, &why), 0);
    assert_true(b.len < 65536);
    assert_null(strstr((const char *)b.data, "blob"));
    free(big);
    buf_release(&b);
}

/* ---- decoding ---------------------------------------------------------------------- */

static uint8_t *pack_request(struct span_fixture *f, size_t *len)
{
    Opentelemetry__Proto__Trace__V1__Span *spans[1] = {&f->span};
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.spans = spans;
    ss.n_spans = 1;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &f->res;
    rs.scope_spans = sss;
    rs.n_scope_spans = 1;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[1] = {&rs};
    trace_req req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.resource_spans = rss;
    req.n_resource_spans = 1;
    *len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *out = malloc(*len);
    protobuf_c_message_pack(&req.base, out);
    return out;
}

static const Opentelemetry__Proto__Trace__V1__Span *only_span(ProtobufCMessage *m)
{
    trace_req *req = (trace_req *)m;
    assert_int_equal(req->n_resource_spans, 1);
    assert_int_equal(req->resource_spans[0]->n_scope_spans, 1);
    assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 1);
    return req->resource_spans[0]->scope_spans[0]->spans[0];
}

static void test_decode_protobuf(void **state)
{
    (void)state;
    struct span_fixture f;
    fixture_init(&f, 3, true);
    attr_int(&f, "n", -5);
    size_t len;
    uint8_t *wire = pack_request(&f, &len);
    ProtobufCMessage *m = NULL;
    assert_int_equal(otlp_decode(OTLP_TRACES, OTLP_PROTOBUF, wire, len, 1u << 20, &m), 0);
    const Opentelemetry__Proto__Trace__V1__Span *s = only_span(m);
    assert_memory_equal(s->trace_id.data, TRACE_ID, 16);
    assert_memory_equal(s->parent_span_id.data, PARENT_ID, 8);
    assert_int_equal(s->kind, 3);
    assert_int_equal(s->attributes[0]->value->int_value, -5);
    otlp_message_free(m);
    /* Truncated: every proper prefix that cuts a field fails cleanly. */
    for (size_t cut = 1; cut < len; cut++) {
        int r = otlp_decode(OTLP_TRACES, OTLP_PROTOBUF, wire, cut, 1u << 20, &m);
        if (r == 0)
            otlp_message_free(m);
        else
            assert_int_equal(r, -EBADMSG);
    }
    assert_int_equal(otlp_decode(OTLP_TRACES, OTLP_PROTOBUF, wire, len - 1, 1u << 20, &m),
                     -EBADMSG);
    /* The allocation bound. */
    assert_int_equal(otlp_decode(OTLP_TRACES, OTLP_PROTOBUF, wire, len, 64, &m), -E2BIG);
    free(wire);
}

static void test_decode_depth_bomb(void **state)
{
    (void)state;
    /* ExportTraceServiceRequest.resource_spans(1).resource(1).attributes(1).value(2).
     * kvlist_value(6).values(1).value(2)... nested far past OTLP_MAX_DEPTH. */
    enum { LEVELS = 200 };
    uint8_t *inner = NULL;
    size_t n = 0;
    for (int i = 0; i < LEVELS; i++) {
        /* AnyValue{kvlist_value: KeyValueList{values: KeyValue{value: inner}}} */
        uint8_t *kv = malloc(n + 8), *kvl = malloc(n + 16), *any = malloc(n + 24);
        size_t a = 0, b = 0, c = 0;
        kv[a++] = 0x12; /* KeyValue.value */
        kv[a++] = (uint8_t)n;
        if (n >= 0x80) {
            kv[a - 1] = (uint8_t)(n | 0x80);
            kv[a++] = (uint8_t)(n >> 7);
        }
        if (n)
            memcpy(kv + a, inner, n);
        a += n;
        kvl[b++] = 0x0a;
        kvl[b++] = (uint8_t)(a | (a >= 0x80 ? 0x80 : 0));
        if (a >= 0x80)
            kvl[b++] = (uint8_t)(a >> 7);
        memcpy(kvl + b, kv, a);
        b += a;
        any[c++] = 0x32; /* AnyValue.kvlist_value */
        any[c++] = (uint8_t)(b | (b >= 0x80 ? 0x80 : 0));
        if (b >= 0x80)
            any[c++] = (uint8_t)(b >> 7);
        memcpy(any + c, kvl, b);
        c += b;
        free(kv);
        free(kvl);
        free(inner);
        inner = any;
        n = c;
        if (n > 16000)
            break;
    }
    /* Wrap it as the value of a resource attribute. */
    uint8_t *msg = malloc(n + 64);
    size_t len = 0;
    size_t kv_len = 2 + (n >= 0x80 ? 1 : 0) + n + 2 + 1;
    size_t res_len = 1 + 2 + kv_len;
    size_t rs_len = 1 + 2 + res_len;
    msg[len++] = 0x0a; /* resource_spans */
    msg[len++] = (uint8_t)(rs_len | 0x80);
    msg[len++] = (uint8_t)(rs_len >> 7);
    msg[len++] = 0x0a; /* resource */
    msg[len++] = (uint8_t)(res_len | 0x80);
    msg[len++] = (uint8_t)(res_len >> 7);
    msg[len++] = 0x0a; /* attributes */
    msg[len++] = (uint8_t)(kv_len | 0x80);
    msg[len++] = (uint8_t)(kv_len >> 7);
    msg[len++] = 0x0a; /* key "k" */
    msg[len++] = 1;
    msg[len++] = 'k';
    msg[len++] = 0x12; /* value */
    msg[len++] = (uint8_t)(n | 0x80);
    msg[len++] = (uint8_t)(n >> 7);
    memcpy(msg + len, inner, n);
    len += n;
    ProtobufCMessage *m = NULL;
    int r = otlp_decode(OTLP_TRACES, OTLP_PROTOBUF, msg, len, 1u << 26, &m);
    assert_int_equal(r, -E2BIG);
    assert_null(m);
    free(inner);
    free(msg);
}

static void test_decode_json(void **state)
{
    (void)state;
    const char *body =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"svc\"}}]},\"scope_spans\":[{\"spans\":[{"
        "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\","
        "\"parentSpanId\":\"\",\"name\":\"x\",\"kind\":\"SPAN_KIND_SERVER\","
        "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":1700000000000001000,"
        "\"unknownField\":{\"a\":[1,2]},\"status\":{\"code\":2},"
        "\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":\"-9007199254740993\"}},"
        "{\"key\":\"b\",\"value\":{\"bytesValue\":\"aGk=\"}},"
        "{\"key\":\"d\",\"value\":{\"doubleValue\":\"NaN\"}}]}]}]}]}";
    ProtobufCMessage *m = NULL;
    assert_int_equal(
        otlp_decode(OTLP_TRACES, OTLP_JSON, (const uint8_t *)body, strlen(body), 1u << 20, &m), 0);
    const Opentelemetry__Proto__Trace__V1__Span *s = only_span(m);
    assert_memory_equal(s->trace_id.data, TRACE_ID, 16);
    assert_memory_equal(s->span_id.data, SPAN_ID, 8);
    assert_int_equal(s->parent_span_id.len, 0);
    assert_int_equal(s->kind, 2);
    assert_true(s->start_time_unix_nano == 1700000000000000000ull);
    assert_int_equal(s->status->code, 2);
    assert_true(s->attributes[0]->value->int_value == -9007199254740993ll);
    assert_int_equal(s->attributes[1]->value->bytes_value.len, 2);
    assert_memory_equal(s->attributes[1]->value->bytes_value.data, "hi", 2);
    assert_true(s->attributes[2]->value->double_value != s->attributes[2]->value->double_value);
    otlp_message_free(m);

    static const char *const bad[] = {
        "[]",
        "{\"resourceSpans\":{}}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"xyz\"}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"-1\"}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"a\",\"name\":\"b\"}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"a\"}],\"scope_spans\":1}],"
        "\"scope_spans\":[]}]}",
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"value\":{\"stringValue\":\"a\","
        "\"intValue\":1}}]}}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":1.5}]}]}]}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"a\",\"name_\":1,"
        "\"traceId\":\"00\",\"trace_id\":\"11\"}]}]}]}",
        "{\"resourceSpans\":[",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = NULL;
        int r = otlp_decode(OTLP_TRACES, OTLP_JSON, (const uint8_t *)bad[i], strlen(bad[i]),
                            1u << 20, &m);
        if (r != -EBADMSG)
            fail_msg("case %zu: %d", i, r);
        assert_null(m);
    }
}

static void test_answers(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(otlp_encode_response(OTLP_TRACES, OTLP_PROTOBUF, 0, NULL, &b), 0);
    assert_int_equal(b.len, 0); /* full success: an empty message */
    assert_int_equal(otlp_encode_response(OTLP_TRACES, OTLP_PROTOBUF, 3, "bad", &b), 0);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
            NULL, b.len, b.data);
    assert_non_null(resp);
    assert_non_null(resp->partial_success);
    assert_int_equal(resp->partial_success->rejected_spans, 3);
    assert_string_equal(resp->partial_success->error_message, "bad");
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(resp,
                                                                                             NULL);
    buf_reset(&b);
    assert_int_equal(otlp_encode_response(OTLP_LOGS, OTLP_JSON, 2, "x\"y", &b), 0);
    assert_string_equal((const char *)b.data,
                        "{\"partialSuccess\":{\"rejectedLogRecords\":\"2\",\"errorMessage\":"
                        "\"x\\\"y\"}}");
    buf_reset(&b);
    assert_int_equal(otlp_encode_status(OTLP_PROTOBUF, 400, "broken", &b), 0);
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, b.len, b.data);
    assert_non_null(st);
    assert_int_equal(st->code, 3);
    assert_string_equal(st->message, "broken");
    google__rpc__status__free_unpacked(st, NULL);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_span_is_a_segment),
        cmocka_unit_test(test_client_span_is_a_subsegment),
        cmocka_unit_test(test_aws_and_sql_blocks),
        cmocka_unit_test(test_annotations_and_names),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_decode_protobuf),
        cmocka_unit_test(test_decode_depth_bomb),
        cmocka_unit_test(test_decode_json),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
