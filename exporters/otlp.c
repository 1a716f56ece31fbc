/*
 * otlp: the OTLP/HTTP exporter (osprey.sinks.otlp): metrics, logs and trace segments to
 * any OTLP/HTTP receiver (an OpenTelemetry Collector, another Osprey), binary protobuf,
 * gzip-compressed unless compression is "none".
 *
 * DESIGN
 * OTLP requests are `repeated Resource* = 1` at the top, and protobuf lets a repeated
 * field be written one element at a time: each record is packed on its own as one
 * ResourceMetrics / ResourceLogs / ResourceSpans and appended to the body of the batch of
 * its signal, so a batch is built without holding any protobuf-c tree. The price is one
 * resource per record; receivers merge them by attributes anyway.
 * - metric point -> resource service.name = its namespace (so an Osprey receiver puts it
 *   back in the same namespace), a Gauge point (single value) or a Summary point
 *   (statistic set: count, sum, quantile 0 = min, quantile 1 = max), dimensions as
 *   attributes;
 * - log event -> resource service.name = stream, aws.log.group.names / aws.log.stream.names,
 *   body = the message;
 * - segment document (X-Ray JSON) -> one span: trace id and ids from hex, name, times,
 *   parent, kind (segment: SERVER; subsegment: CLIENT in the remote/aws namespace, else
 *   INTERNAL), http fields, annotations and metadata.default scalars as attributes,
 *   fault/error -> status ERROR; a segment's name is its resource's service.name.
 * A batch is sealed at batch_size records or 4 MiB, and by flush (the pipeline's flush
 * interval, and shutdown). Sealed batches are compressed once and POSTed to
 * <endpoint>/v1/<signal>, at most max_in_flight at a time; 429, 502, 503, 504 and transport
 * errors are retried with capped full-jitter backoff until retry_duration has passed,
 * anything else is rejected (the OTLP/HTTP rules). A 200 with partial_success is
 * accepted (the spec forbids retrying it) and its rejected count is counted and logged.
 * Outcomes go back to the records' sources per batch (delivery runs).
 */
#include "exporters/exporter.h"
#include "exporters/gzip.h"
#include "exporters/http.h"
#include "exporters/retry.h"

#include "agent/clock.h"
#include "agent/log.h"
#include "logs_service.pb-c.h"
#include "metrics_service.pb-c.h"
#include "trace_service.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTLP_MAX_BODY_BYTES  (4u << 20)
#define OTLP_MAX_HEADERS     16
#define OTLP_BACKOFF_BASE_NS (200 * NS_PER_MS)
#define OTLP_BACKOFF_CAP_NS  (30 * NS_PER_SEC)
#define OTLP_MAX_SPAN_ATTRS  64

enum otlp_sig { SIG_METRICS = 0, SIG_LOGS, SIG_TRACES, SIG_MAX };
static const char *const sig_paths[SIG_MAX] = {"/v1/metrics", "/v1/logs", "/v1/traces"};
static const char *const compressions[] = {"gzip", "none", NULL};

struct otlp_config {
    char *endpoint;
    json_t *headers;
    int compression; /* 0 gzip, 1 none */
    uint64_t timeout_ns;
    uint64_t retry_duration_ns;
    int64_t batch_size;
    int64_t max_in_flight;
    bool verify_tls;
};

enum batch_state { B_FREE = 0, B_OPEN, B_SENDING };

struct otlp_batch {
    struct otlp_exporter *owner;
    enum batch_state state;
    enum otlp_sig sig;
    struct buf body;
    struct buf wire;
    bool compressed;
    uint32_t records;
    struct delivery_runs runs;
    unsigned attempts;
    uint64_t first_sent_ns;
    uv_timer_t retry_timer;
};

struct otlp_exporter {
    struct otlp_config cfg;
    struct exporter *e;
    struct http_client *http;
    struct retry_rng rng;
    struct otlp_batch *pool;
    size_t n_pool;
    struct otlp_batch *open[SIG_MAX];
    unsigned in_flight;
    bool blocked;
    bool closing;
    char url[SIG_MAX][600];
    struct http_header headers[OTLP_MAX_HEADERS];
    size_t n_headers;
    struct buf scratch; /* one packed record */
    struct log_complain complain;
};

static const struct cfg_field otlp_fields[] = {
    {"endpoint", CFG_STRING, offsetof(struct otlp_config, endpoint), NULL, 0, 0, NULL, CFG_REQUIRED,
     "base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:4318 (/v1/... added)"},
    {"headers", CFG_JSON, offsetof(struct otlp_config, headers), NULL, 0, 0, NULL, 0,
     "extra request headers, an object of strings (e.g. an authorization token)"},
    {"compression", CFG_ENUM, offsetof(struct otlp_config, compression), "gzip", 0, 0, compressions,
     0, "gzip or none"},
    {"timeout", CFG_SECONDS, offsetof(struct otlp_config, timeout_ns), "10", 0.1, 600, NULL, 0,
     "seconds per HTTP request"},
    {"retry_duration", CFG_SECONDS, offsetof(struct otlp_config, retry_duration_ns), "300", 1,
     86400, NULL, 0,
     "seconds a batch is retried (429, 502, 503, 504, no answer) before it is given up"},
    {"batch_size", CFG_INT, offsetof(struct otlp_config, batch_size), "512", 1, 8192, NULL, 0,
     "records per request at most"},
    {"max_in_flight", CFG_INT, offsetof(struct otlp_config, max_in_flight), "4", 1, 64, NULL, 0,
     "requests in flight at once"},
    {"verify_tls", CFG_BOOL, offsetof(struct otlp_config, verify_tls), "true", 0, 0, NULL, 0,
     "verify the receiver's certificate"},
    CFG_END,
};

static int otlp_init(struct exporter *e)
{
    struct otlp_exporter *x = e->ctx;
    x->e = e;
    const char *ep = x->cfg.endpoint;
    if (!ep || (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)) {
        exporter_config_error(e, "endpoint", "invalid endpoint '%s' (expected http(s)://host:port)",
                              ep ? ep : "");
        return -EINVAL;
    }
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/')
        n--;
    for (int s = 0; s < SIG_MAX; s++)
        snprintf(x->url[s], sizeof(x->url[s]), "%.*s%s", (int)n, ep, sig_paths[s]);
    if (x->cfg.headers) {
        if (!json_is_object(x->cfg.headers)) {
            exporter_config_error(e, "headers", "'headers' must be an object of strings");
            return -EINVAL;
        }
        const char *k;
        json_t *v;
        json_object_foreach(x->cfg.headers, k, v)
        {
            if (!json_is_string(v) || x->n_headers >= OTLP_MAX_HEADERS - 4) {
                exporter_config_error(e, "headers",
                                      "header '%s' must be a string (at most %d headers)", k,
                                      OTLP_MAX_HEADERS - 4);
                return -EINVAL;
            }
            x->headers[x->n_headers++] = (struct http_header){k, json_string_value(v)};
        }
    }
    x->n_pool = (size_t)x->cfg.max_in_flight + SIG_MAX;
    x->pool = calloc(x->n_pool, sizeof(*x->pool));
    if (!x->pool)
        return -ENOMEM;
    for (size_t i = 0; i < x->n_pool; i++) {
        x->pool[i].owner = x;
        buf_init(&x->pool[i].body, OTLP_MAX_BODY_BYTES + (1u << 20));
        buf_init(&x->pool[i].wire, 2 * OTLP_MAX_BODY_BYTES);
    }
    buf_init(&x->scratch, 1u << 20);
    return 0;
}

/* ---- record -> protobuf ------------------------------------------------------------ */

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;

struct attrs {
    kv_t kv[OTLP_MAX_SPAN_ATTRS];
    any_t val[OTLP_MAX_SPAN_ATTRS];
    kv_t *ptr[OTLP_MAX_SPAN_ATTRS];
    size_t n;
};

static any_t *attr_add(struct attrs *a, const char *key)
{
    if (a->n >= OTLP_MAX_SPAN_ATTRS)
        return NULL;
    size_t i = a->n++;
    kv_t kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    any_t v = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    a->kv[i] = kv;
    a->val[i] = v;
    a->kv[i].key = (char *)key;
    a->kv[i].value = &a->val[i];
    a->ptr[i] = &a->kv[i];
    return &a->val[i];
}

static void attr_str(struct attrs *a, const char *key, const char *v)
{
    any_t *x = v ? attr_add(a, key) : NULL;
    if (!x)
        return;
    x->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    x->string_value = (char *)v;
}

/* A JSON scalar as an attribute value (objects and arrays are left out). */
static void attr_json(struct attrs *a, const char *key, json_t *v)
{
    if (json_is_string(v)) {
        attr_str(a, key, json_string_value(v));
        return;
    }
    if (!json_is_number(v) && !json_is_boolean(v))
        return;
    any_t *x = attr_add(a, key);
    if (!x)
        return;
    if (json_is_integer(v)) {
        x->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        x->int_value = json_integer_value(v);
    } else if (json_is_real(v)) {
        x->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
        x->double_value = json_real_value(v);
    } else {
        x->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
        x->bool_value = json_is_true(v);
    }
}

/* Append `m` as field 1 (the top-level repeated Resource*) of the batch body. */
static int append_field1(struct buf *body, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t head[11];
    size_t h = 0;
    head[h++] = 0x0a;
    for (size_t v = n;; v >>= 7) {
        head[h++] = (uint8_t)((v & 0x7F) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    size_t mark = body->len;
    int r = buf_reserve(body, h + n);
    if (r != 0)
        return r;
    memcpy(body->data + body->len, head, h);
    protobuf_c_message_pack(m, body->data + body->len + h);
    buf_advance(body, h + n);
    (void)mark;
    return 0;
}

static const char *ucum_of(enum metric_unit u)
{
    switch (u) {
    case METRIC_UNIT_SECONDS:
        return "s";
    case METRIC_UNIT_MILLISECONDS:
        return "ms";
    case METRIC_UNIT_MICROSECONDS:
        return "us";
    case METRIC_UNIT_BYTES:
        return "By";
    case METRIC_UNIT_KILOBYTES:
        return "kBy";
    case METRIC_UNIT_MEGABYTES:
        return "MBy";
    case METRIC_UNIT_GIGABYTES:
        return "GBy";
    case METRIC_UNIT_BITS:
        return "bit";
    case METRIC_UNIT_PERCENT:
        return "%";
    case METRIC_UNIT_COUNT:
        return "{count}";
    case METRIC_UNIT_BYTES_PER_SECOND:
        return "By/s";
    case METRIC_UNIT_NONE:
        return "1";
    default:
        return metric_unit_name(u); /* CloudWatch's name: an Osprey receiver reads it back */
    }
}

static int encode_metric(struct buf *body, const struct record_view *v)
{
    const struct metric_point *p = &v->u.metric;
    struct attrs *dims = calloc(1, sizeof(*dims));
    struct attrs *res = calloc(1, sizeof(*res));
    int r = -ENOMEM;
    if (!dims || !res)
        goto out;
    for (size_t i = 0; i < p->n_dims; i++)
        attr_str(dims, p->dims[i].name, p->dims[i].value);
    attr_str(res, "service.name", p->namespace_);

    Opentelemetry__Proto__Metrics__V1__Metric m = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    m.name = (char *)p->name;
    m.unit = (char *)ucum_of(p->unit);
    Opentelemetry__Proto__Metrics__V1__Gauge gauge = OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint np =
        OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint *nps[1] = {&np};
    Opentelemetry__Proto__Metrics__V1__Summary summary =
        OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY__INIT;
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint sp =
        OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__INIT;
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *sps[1] = {&sp};
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile q0 =
        OPENTELEMETRY__PROTO__METRICS__V1__SUMMARY_DATA_POINT__VALUE_AT_QUANTILE__INIT;
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile q1 = q0;
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint__ValueAtQuantile *qs[2] = {&q0, &q1};
    if (p->value_kind == METRIC_VALUE_STATS) {
        sp.attributes = dims->ptr;
        sp.n_attributes = dims->n;
        sp.time_unix_nano = v->hdr.ts_ns;
        sp.count = p->count > 0 ? (uint64_t)p->count : 0;
        sp.sum = p->sum;
        q0.quantile = 0.0;
        q0.value = p->min;
        q1.quantile = 1.0;
        q1.value = p->max;
        sp.quantile_values = qs;
        sp.n_quantile_values = 2;
        summary.data_points = sps;
        summary.n_data_points = 1;
        m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY;
        m.summary = &summary;
    } else {
        np.attributes = dims->ptr;
        np.n_attributes = dims->n;
        np.time_unix_nano = v->hdr.ts_ns;
        np.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
        np.as_double = p->value;
        gauge.data_points = nps;
        gauge.n_data_points = 1;
        m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
        m.gauge = &gauge;
    }
    Opentelemetry__Proto__Metrics__V1__Metric *ms[1] = {&m};
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "osprey";
    scope.version = OSPREY_VERSION;
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm =
        OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
    sm.scope = &scope;
    sm.metrics = ms;
    sm.n_metrics = 1;
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sms[1] = {&sm};
    Opentelemetry__Proto__Resource__V1__Resource resource =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    resource.attributes = res->ptr;
    resource.n_attributes = res->n;
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm =
        OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
    rm.resource = &resource;
    rm.scope_metrics = sms;
    rm.n_scope_metrics = 1;
    r = append_field1(body, &rm.base);
out:
    free(dims);
    free(res);
    return r;
}

static int encode_log(struct buf *body, const struct record_view *v)
{
    const struct log_event *ev = &v->u.log;
    struct attrs res;
    res.n = 0;
    attr_str(&res, "service.name", ev->stream);
    attr_str(&res, "aws.log.group.names", ev->group);
    attr_str(&res, "aws.log.stream.names", ev->stream);
    /* The message is bytes, not necessarily NUL-terminated or UTF-8: an OTLP string
     * must be UTF-8, so a message that is not goes as bytes. */
    char *text = malloc((size_t)ev->message_len + 1);
    if (!text)
        return -ENOMEM;
    memcpy(text, ev->message, ev->message_len);
    text[ev->message_len] = '\0';
    any_t bodyv = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    bodyv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    bodyv.string_value = text;
    Opentelemetry__Proto__Logs__V1__LogRecord lr = OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
    lr.time_unix_nano = v->hdr.ts_ns;
    lr.observed_time_unix_nano = clock_realtime_ns();
    lr.body = &bodyv;
    Opentelemetry__Proto__Logs__V1__LogRecord *lrs[1] = {&lr};
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "osprey";
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    sl.scope = &scope;
    sl.log_records = lrs;
    sl.n_log_records = 1;
    Opentelemetry__Proto__Logs__V1__ScopeLogs *sls[1] = {&sl};
    Opentelemetry__Proto__Resource__V1__Resource resource =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    resource.attributes = res.ptr;
    resource.n_attributes = res.n;
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl =
        OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    rl.resource = &resource;
    rl.scope_logs = sls;
    rl.n_scope_logs = 1;
    int r = append_field1(body, &rl.base);
    free(text);
    return r;
}

static int hex_to_bytes(const char *s, size_t n_bytes, uint8_t *out)
{
    if (!s || strlen(s) != 2 * n_bytes)
        return -EINVAL;
    for (size_t i = 0; i < n_bytes; i++) {
        unsigned hi, lo;
        char c1 = s[2 * i], c2 = s[2 * i + 1];
        hi = (c1 >= '0' && c1 <= '9')   ? (unsigned)(c1 - '0')
             : (c1 >= 'a' && c1 <= 'f') ? (unsigned)(c1 - 'a' + 10)
                                        : 99;
        lo = (c2 >= '0' && c2 <= '9')   ? (unsigned)(c2 - '0')
             : (c2 >= 'a' && c2 <= 'f') ? (unsigned)(c2 - 'a' + 10)
                                        : 99;
        if (hi > 15 || lo > 15)
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static uint64_t seconds_to_ns(json_t *v)
{
    double s = json_number_value(v);
    return s > 0 && s < 1e11 ? (uint64_t)llround(s * 1e9) : 0;
}

/* An X-Ray segment document -> one span. -EINVAL when its ids or times are unusable. */
static int encode_segment(struct buf *body, const struct record_view *v)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)v->u.segment.data, v->u.segment.len, 0, &err);
    struct attrs *a = calloc(1, sizeof(*a));
    struct attrs *res = calloc(1, sizeof(*res));
    int r = -ENOMEM;
    if (!a || !res)
        goto out;
    r = -EINVAL;
    if (!json_is_object(doc))
        goto out;
    uint8_t tid[16], sid[8], pid[8];
    const char *trace = json_string_value(json_object_get(doc, "trace_id"));
    char hex[33];
    if (!trace || strlen(trace) != 35 || trace[0] != '1' || trace[1] != '-' || trace[10] != '-')
        goto out;
    snprintf(hex, sizeof(hex), "%.8s%.24s", trace + 2, trace + 11);
    if (hex_to_bytes(hex, 16, tid) != 0 ||
        hex_to_bytes(json_string_value(json_object_get(doc, "id")), 8, sid) != 0)
        goto out;
    const char *parent = json_string_value(json_object_get(doc, "parent_id"));
    bool has_parent = parent && hex_to_bytes(parent, 8, pid) == 0;
    uint64_t start = seconds_to_ns(json_object_get(doc, "start_time"));
    uint64_t end = seconds_to_ns(json_object_get(doc, "end_time"));
    if (!start)
        goto out;
    const char *name = json_string_value(json_object_get(doc, "name"));
    bool sub = json_is_string(json_object_get(doc, "type")) &&
               strcmp(json_string_value(json_object_get(doc, "type")), "subsegment") == 0;
    const char *ns = json_string_value(json_object_get(doc, "namespace"));

    Opentelemetry__Proto__Trace__V1__Span s = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    s.trace_id = (ProtobufCBinaryData){16, tid};
    s.span_id = (ProtobufCBinaryData){8, sid};
    if (has_parent)
        s.parent_span_id = (ProtobufCBinaryData){8, pid};
    s.name = (char *)(name ? name : "span");
    s.kind = !sub ? OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER
             : ns ? OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
                  : OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
    s.start_time_unix_nano = start;
    s.end_time_unix_nano = end;

    json_t *req = json_object_get(json_object_get(doc, "http"), "request");
    json_t *resp = json_object_get(json_object_get(doc, "http"), "response");
    attr_json(a, "http.request.method", json_object_get(req, "method"));
    attr_json(a, "url.full", json_object_get(req, "url"));
    attr_json(a, "user_agent.original", json_object_get(req, "user_agent"));
    attr_json(a, "client.address", json_object_get(req, "client_ip"));
    attr_json(a, "http.response.status_code", json_object_get(resp, "status"));
    if (ns && strcmp(ns, "aws") == 0)
        attr_str(a, "rpc.system", "aws-api");
    json_t *awsb = json_object_get(doc, "aws");
    attr_json(a, "aws.operation", json_object_get(awsb, "operation"));
    attr_json(a, "aws.region", json_object_get(awsb, "region"));
    attr_json(a, "aws.request_id", json_object_get(awsb, "request_id"));
    /* Annotations stay annotations through X-Ray exporters and Osprey receivers: the
     * span names them in aws.xray.annotations. */
    const char *k;
    json_t *val;
    any_t ann_vals[OTLP_MAX_SPAN_ATTRS];
    any_t *ann_ptrs[OTLP_MAX_SPAN_ATTRS];
    Opentelemetry__Proto__Common__V1__ArrayValue ann_list =
        OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
    ann_list.values = ann_ptrs;
    json_object_foreach(json_object_get(doc, "annotations"), k, val)
    {
        size_t before = a->n;
        attr_json(a, k, val);
        if (a->n > before && ann_list.n_values < OTLP_MAX_SPAN_ATTRS) {
            any_t av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
            av.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
            av.string_value = (char *)k;
            ann_vals[ann_list.n_values] = av;
            ann_ptrs[ann_list.n_values] = &ann_vals[ann_list.n_values];
            ann_list.n_values++;
        }
    }
    if (ann_list.n_values) {
        any_t *x = attr_add(a, "aws.xray.annotations");
        if (x) {
            x->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
            x->array_value = &ann_list;
        }
    }
    json_object_foreach(json_object_get(json_object_get(doc, "metadata"), "default"), k, val)
    {
        if (strncmp(k, "otel.resource.", 14) == 0)
            attr_json(res, k + 14, val);
        else
            attr_json(a, k, val);
    }
    s.attributes = a->ptr;
    s.n_attributes = a->n;
    Opentelemetry__Proto__Trace__V1__Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    if (json_is_true(json_object_get(doc, "fault")) ||
        json_is_true(json_object_get(doc, "error"))) {
        st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
        s.status = &st;
    }
    /* A segment names its service. */
    bool has_service = false;
    for (size_t i = 0; i < res->n; i++)
        has_service |= strcmp(res->kv[i].key, "service.name") == 0;
    if (!sub && name && !has_service)
        attr_str(res, "service.name", name);

    Opentelemetry__Proto__Trace__V1__Span *ss_spans[1] = {&s};
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "osprey";
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = &scope;
    ss.spans = ss_spans;
    ss.n_spans = 1;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = {&ss};
    Opentelemetry__Proto__Resource__V1__Resource resource =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    resource.attributes = res->ptr;
    resource.n_attributes = res->n;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &resource;
    rs.scope_spans = sss;
    rs.n_scope_spans = 1;
    r = append_field1(body, &rs.base);
out:
    json_decref(doc);
    free(a);
    free(res);
    return r;
}

/* ---- batches ----------------------------------------------------------------------- */

static void batch_free(struct otlp_exporter *x, struct otlp_batch *b)
{
    buf_reset(&b->body);
    buf_reset(&b->wire);
    b->records = 0;
    b->attempts = 0;
    b->state = B_FREE;
    delivery_runs_init(&b->runs);
    if (x->blocked && !x->closing) {
        x->blocked = false;
        exporter_ready(x->e);
    }
}

static void finish(struct otlp_batch *b, enum delivery_outcome outcome)
{
    struct otlp_exporter *x = b->owner;
    x->in_flight--;
    if (outcome == DELIVERY_ACCEPTED) {
        selfstats_add(&x->e->stats.records_out, b->records);
        selfstats_add(&x->e->stats.batches_ok, 1);
    } else {
        selfstats_add(&x->e->stats.batches_failed, 1);
    }
    exporter_report_runs(x->e, &b->runs, outcome);
    batch_free(x, b);
}

static void attempt(struct otlp_batch *b);
static void pump(struct otlp_exporter *x);

static void on_retry_timer(uv_timer_t *h)
{
    attempt(h->data);
}

static void retry_or_give_up(struct otlp_batch *b, const char *why)
{
    struct otlp_exporter *x = b->owner;
    if (x->closing || clock_monotonic_ns() - b->first_sent_ns >= x->cfg.retry_duration_ns) {
        log_complain(&x->complain, LOG_LEVEL_ERROR, x->e->name,
                     "giving up a batch of %u records after %u attempts: %s", b->records,
                     b->attempts, why);
        selfstats_drop(&x->e->stats, x->closing ? DROP_SHUTDOWN : DROP_RETRIES_EXHAUSTED,
                       b->records);
        finish(b, DELIVERY_GAVE_UP);
        pump(x);
        return;
    }
    uint64_t delay =
        retry_backoff_ns(&x->rng, b->attempts - 1, OTLP_BACKOFF_BASE_NS, OTLP_BACKOFF_CAP_NS);
    selfstats_add(&x->e->stats.retries, 1);
    log_complain(&x->complain, LOG_LEVEL_WARN, x->e->name,
                 "batch of %u records failed (%s), retrying in %" PRIu64 " ms", b->records, why,
                 (uint64_t)(delay / NS_PER_MS));
    uv_timer_start(&b->retry_timer, on_retry_timer, delay / NS_PER_MS, 0);
}

/* The rejected count of a 200 answer's partial_success (0 when absent or unreadable). */
static int64_t partial_rejected(enum otlp_sig sig, const struct http_response *r)
{
    int64_t n = 0;
    if (!r->body_len || !strstr(r->content_type, "protobuf"))
        return 0;
    if (sig == SIG_TRACES) {
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *m =
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
                NULL, r->body_len, r->body);
        if (m && m->partial_success)
            n = m->partial_success->rejected_spans;
        if (m)
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
                m, NULL);
    } else if (sig == SIG_METRICS) {
        Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *m =
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
                NULL, r->body_len, r->body);
        if (m && m->partial_success)
            n = m->partial_success->rejected_data_points;
        if (m)
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(
                m, NULL);
    } else {
        Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse *m =
            opentelemetry__proto__collector__logs__v1__export_logs_service_response__unpack(
                NULL, r->body_len, r->body);
        if (m && m->partial_success)
            n = m->partial_success->rejected_log_records;
        if (m)
            opentelemetry__proto__collector__logs__v1__export_logs_service_response__free_unpacked(
                m, NULL);
    }
    return n > 0 ? n : 0;
}

static void on_response(const struct http_response *r, void *data)
{
    struct otlp_batch *b = data;
    struct otlp_exporter *x = b->owner;
    char why[300];
    if (r->error == -ECANCELED) {
        selfstats_drop(&x->e->stats, DROP_SHUTDOWN, b->records);
        finish(b, DELIVERY_GAVE_UP);
        return;
    }
    if (r->error) {
        snprintf(why, sizeof(why), "%s", r->error_text);
        retry_or_give_up(b, why);
        return;
    }
    if (r->status >= 200 && r->status < 300) {
        int64_t rejected = partial_rejected(b->sig, r);
        if (rejected) {
            if ((uint64_t)rejected > b->records)
                rejected = b->records;
            selfstats_drop(&x->e->stats, DROP_REJECTED, (uint64_t)rejected);
            log_complain(&x->complain, LOG_LEVEL_WARN, x->e->name,
                         "the receiver refused %" PRId64 " of %u records (partial success), "
                         "not retrying them",
                         rejected, b->records);
        } else {
            log_complain_clear(&x->complain, x->e->name, "delivering again");
        }
        finish(b, DELIVERY_ACCEPTED);
        pump(x);
        return;
    }
    snprintf(why, sizeof(why), "HTTP %ld", r->status);
    if (r->status == 429 || r->status == 502 || r->status == 503 || r->status == 504) {
        retry_or_give_up(b, why);
        return;
    }
    log_error(x->e->name, "batch of %u records rejected by the receiver: %s", b->records, why);
    selfstats_drop(&x->e->stats, DROP_REJECTED, b->records);
    finish(b, DELIVERY_REJECTED);
    pump(x);
}

static void attempt(struct otlp_batch *b)
{
    struct otlp_exporter *x = b->owner;
    if (x->closing) {
        selfstats_drop(&x->e->stats, DROP_SHUTDOWN, b->records);
        finish(b, DELIVERY_GAVE_UP);
        return;
    }
    b->attempts++;
    const struct buf *payload = b->compressed ? &b->wire : &b->body;
    struct http_request req = {
        .method = "POST",
        .url = x->url[b->sig],
        .body = payload->data,
        .body_len = payload->len,
        .timeout_ms = x->cfg.timeout_ns / NS_PER_MS,
        .max_response_bytes = 4u << 20,
    };
    http_request_add_header(&req, "Content-Type", "application/x-protobuf");
    if (b->compressed)
        http_request_add_header(&req, "Content-Encoding", "gzip");
    http_request_add_header(&req, "User-Agent", "osprey/" OSPREY_VERSION);
    for (size_t i = 0; i < x->n_headers; i++)
        http_request_add_header(&req, x->headers[i].name, x->headers[i].value);
    int r = http_submit(x->http, &req, on_response, b);
    if (r != 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot send: %s", strerror(-r));
        retry_or_give_up(b, why);
    }
}

static void send_batch(struct otlp_exporter *x, struct otlp_batch *b)
{
    b->compressed = false;
    if (x->cfg.compression == 0 && gzip_compress(b->body.data, b->body.len, 6, &b->wire) == 0)
        b->compressed = true;
    b->attempts = 0;
    b->first_sent_ns = clock_monotonic_ns();
    x->in_flight++;
    selfstats_add(&x->e->stats.bytes_out, b->compressed ? b->wire.len : b->body.len);
    attempt(b);
}

/* Sealed batches wait in the pool (state SENDING, attempts 0, not in flight) until a
 * slot is free; FIFO enough for the pool's size. */
static void pump(struct otlp_exporter *x)
{
    for (size_t i = 0; i < x->n_pool && x->in_flight < (unsigned)x->cfg.max_in_flight; i++) {
        struct otlp_batch *b = &x->pool[i];
        if (b->state == B_SENDING && b->first_sent_ns == 0)
            send_batch(x, b);
    }
}

static void seal(struct otlp_exporter *x, enum otlp_sig sig)
{
    struct otlp_batch *b = x->open[sig];
    if (!b)
        return;
    x->open[sig] = NULL;
    if (b->records == 0) {
        batch_free(x, b);
        return;
    }
    b->state = B_SENDING;
    b->first_sent_ns = 0;
    pump(x);
}

/* A free batch opened for `sig`, or NULL (the exporter is then blocked: -EAGAIN). */
static struct otlp_batch *open_batch(struct otlp_exporter *x, enum otlp_sig sig)
{
    for (size_t i = 0; i < x->n_pool; i++) {
        struct otlp_batch *b = &x->pool[i];
        if (b->state != B_FREE)
            continue;
        b->state = B_OPEN;
        b->sig = sig;
        b->records = 0;
        delivery_runs_init(&b->runs);
        x->open[sig] = b;
        return b;
    }
    x->blocked = true;
    return NULL;
}

static int otlp_add(struct exporter *e, const struct record_view *v)
{
    struct otlp_exporter *x = e->ctx;
    enum otlp_sig sig = v->hdr.kind == RECORD_METRIC ? SIG_METRICS
                        : v->hdr.kind == RECORD_LOG  ? SIG_LOGS
                                                     : SIG_TRACES;
    struct otlp_batch *b = x->open[sig];
    if (b && !delivery_runs_has_room(&b->runs, &v->hdr))
        seal(x, sig);
    if (!x->open[sig] && !open_batch(x, sig))
        return -EAGAIN;
    buf_reset(&x->scratch);
    int r = sig == SIG_METRICS ? encode_metric(&x->scratch, v)
            : sig == SIG_LOGS  ? encode_log(&x->scratch, v)
                               : encode_segment(&x->scratch, v);
    if (r != 0) {
        selfstats_add(&e->stats.records_in, 1);
        selfstats_drop(&e->stats, r == -ENOBUFS ? DROP_TOO_LARGE : DROP_INVALID, 1);
        log_complain(&x->complain, LOG_LEVEL_WARN, e->name,
                     "cannot encode a %s record for OTLP (%s), dropping it",
                     record_kind_name(v->hdr.kind), strerror(-r));
        return r;
    }
    b = x->open[sig];
    if (b->body.len + x->scratch.len > OTLP_MAX_BODY_BYTES && b->records > 0) {
        seal(x, sig);
        b = open_batch(x, sig);
        if (!b)
            return -EAGAIN; /* offered again later, encoded again then */
    }
    selfstats_add(&e->stats.records_in, 1);
    r = buf_append(&b->body, x->scratch.data, x->scratch.len);
    if (r != 0) {
        selfstats_drop(&e->stats, DROP_TOO_LARGE, 1);
        return r;
    }
    (void)delivery_runs_add(&b->runs, &v->hdr);
    selfstats_add(&e->stats.bytes_in, x->scratch.len);
    b->records++;
    if (b->records >= (uint32_t)x->cfg.batch_size)
        seal(x, sig);
    return 0;
}

static int otlp_flush(struct exporter *e)
{
    struct otlp_exporter *x = e->ctx;
    for (int s = 0; s < SIG_MAX; s++)
        seal(x, (enum otlp_sig)s);
    return 0;
}

static bool otlp_idle(struct exporter *e)
{
    struct otlp_exporter *x = e->ctx;
    for (size_t i = 0; i < x->n_pool; i++)
        if (x->pool[i].state != B_FREE)
            return false;
    return true;
}

/* ---- lifecycle --------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct otlp_batch *b = h->data;
    exporter_handle_closed(b->owner->e);
}

static void on_http_closed(void *data)
{
    exporter_handle_closed(data);
}

static int otlp_start(struct exporter *e, uv_loop_t *loop)
{
    struct otlp_exporter *x = e->ctx;
    struct http_client_options o;
    http_client_options_default(&o);
    o.verify_tls = x->cfg.verify_tls;
    if (o.max_connections < (unsigned)x->cfg.max_in_flight)
        o.max_connections = (unsigned)x->cfg.max_in_flight;
    retry_rng_seed(&x->rng, clock_monotonic_ns() ^ (uint64_t)(uintptr_t)x);
    int r = http_client_create(loop, &o, &x->http);
    if (r != 0)
        return r;
    exporter_handle_opened(e);
    for (size_t i = 0; i < x->n_pool; i++) {
        uv_timer_init(loop, &x->pool[i].retry_timer);
        x->pool[i].retry_timer.data = &x->pool[i];
        exporter_handle_opened(e);
    }
    log_info(e->name, "sending OTLP/HTTP protobuf to %.*s/v1/... (%s)",
             (int)(strlen(x->url[0]) - strlen(sig_paths[0])), x->url[0],
             x->cfg.compression == 0 ? "gzip" : "uncompressed");
    return 0;
}

static void otlp_stop(struct exporter *e)
{
    struct otlp_exporter *x = e->ctx;
    if (!x->http)
        return;
    x->closing = true;
    for (size_t i = 0; i < x->n_pool; i++) {
        struct otlp_batch *b = &x->pool[i];
        if (b->state == B_OPEN || (b->state == B_SENDING && b->first_sent_ns == 0)) {
            /* Never sent: the shutdown deadline passed first. */
            selfstats_drop(&e->stats, DROP_SHUTDOWN, b->records);
            exporter_report_runs(e, &b->runs, DELIVERY_GAVE_UP);
            b->state = B_FREE;
        } else if (b->state == B_SENDING && uv_is_active((uv_handle_t *)&b->retry_timer)) {
            uv_timer_stop(&b->retry_timer);
            selfstats_drop(&e->stats, DROP_SHUTDOWN, b->records);
            finish(b, DELIVERY_GAVE_UP);
        }
        uv_close((uv_handle_t *)&b->retry_timer, on_handle_closed);
    }
    for (int s = 0; s < SIG_MAX; s++)
        x->open[s] = NULL;
    /* Requests in flight finish through on_response with -ECANCELED. */
    struct http_client *c = x->http;
    x->http = NULL;
    http_client_close(c, on_http_closed, e);
}

static void otlp_destroy(struct exporter *e)
{
    struct otlp_exporter *x = e->ctx;
    for (size_t i = 0; x->pool && i < x->n_pool; i++) {
        buf_release(&x->pool[i].body);
        buf_release(&x->pool[i].wire);
    }
    free(x->pool);
    buf_release(&x->scratch);
}

const struct exporter_type exporter_otlp = {
    .name = "otlp",
    .help = "OTLP/HTTP (protobuf) to an OpenTelemetry Collector or another OTLP receiver",
    .kinds = RECORD_KINDS_ALL,
    .fields = otlp_fields,
    .ctx_size = sizeof(struct otlp_exporter),
    .init = otlp_init,
    .start = otlp_start,
    .add = otlp_add,
    .flush = otlp_flush,
    .idle = otlp_idle,
    .stop = otlp_stop,
    .destroy = otlp_destroy,
};
