/*
 * otlp_http: the OTLP/HTTP receiver (traces.traces_collected.otlp), serving
 * POST /v1/traces, /v1/metrics and /v1/logs on one port (default 127.0.0.1:4318), in
 * binary protobuf and OTLP JSON, optionally gzip-compressed.
 *
 * DESIGN
 * The HTTP/1.1 layer is agent/httpd.h on the collect loop; each complete request is
 * handled at once in its callback: content negotiation, bounded gunzip, decoding
 * (otlp_decode.h, which also bounds nesting and the allocation a body may cause), then
 * conversion and emission into the ring:
 * - spans become X-Ray segment documents (otlp_convert.h), one record each;
 * - gauge and sum points become single values, histogram / exponential histogram /
 *   summary points CloudWatch statistic sets (count, sum, min, max), in the configured
 *   namespace or else the resource's service.name or "OTLP", with the point's
 *   attributes as dimensions;
 * - log records become log events in log_group_name / log_stream_name (default: the
 *   resource's service.name); a non-string body is written as JSON.
 * Answers follow the OTLP/HTTP specification: 200 with the Export*ServiceResponse in the
 * request's encoding, partial_success counting what was refused (never to be retried);
 * 400 for a body that does not decode, 404 / 405 / 415 for path, method and content
 * type, 413 for a body (or its inflated form) over max_request_body_size. When the ring
 * is full before anything of a request was taken the answer is 503 with Retry-After, so
 * the client retries; once part of it was taken, the rest is reported as rejected. Every
 * refusal is counted under a fine reason and the listener keeps serving.
 */
#include "collectors/collector.h"
#include "collectors/otlp_convert.h"
#include "collectors/otlp_decode.h"

#include "agent/clock.h"
#include "agent/httpd.h"
#include "agent/log.h"
#include "exporters/gzip.h"
#include "logs_service.pb-c.h"
#include "metrics_service.pb-c.h"
#include "trace_service.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTLP_DEFAULT_ENDPOINT "127.0.0.1:4318"
#define OTLP_DOC_CAP          (1u << 20) /* scratch for one segment document */

/* Fine reject reasons: the converter's first, then the receiver's own. */
enum otlp_http_reject {
    R_BAD_BODY = OTLP_REJECT_MAX,
    R_BAD_CONTENT_TYPE,
    R_BAD_ENCODING,
    R_BAD_PATH,
    R_BAD_METHOD,
    R_BODY_TOO_LARGE,
    R_BAD_METRIC,
    R_BAD_LOG,
    R_RING_FULL,
    R_MAX
};

static const char *const reject_names[R_MAX + 1] = {
    "none",         "bad_trace_id", "bad_span_id", "bad_parent_id",
    "bad_times",    "too_large",    "bad_body",    "bad_content_type",
    "bad_encoding", "bad_path",     "bad_method",  "body_too_large",
    "bad_metric",   "bad_log",      "ring_full",   NULL,
};
_Static_assert(R_MAX < SELFSTATS_REJECT_MAX, "fine reasons must fit selfstats");

struct otlp_http {
    /* configuration */
    char *http_endpoint;
    int64_t max_request_body_size;
    char *namespace_;
    char *log_group_name;
    char *log_stream_name;
    struct cfg_strings indexed_attributes;
    bool index_all_attributes;

    struct collector *c;
    struct httpd *srv;
    struct otlp_xray_options xopts;
    struct buf body;   /* inflated request body */
    struct buf doc;    /* one segment document or log message */
    struct buf answer; /* response body */
    struct log_complain complain;
};

static const struct cfg_field otlp_fields[] = {
    {"http_endpoint", CFG_STRING, offsetof(struct otlp_http, http_endpoint), OTLP_DEFAULT_ENDPOINT,
     0, 0, NULL, 0, "host:port of the OTLP/HTTP listener (POST /v1/traces, /v1/metrics, /v1/logs)"},
    {"grpc_endpoint", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "OTLP over gRPC is not supported: configure the SDK for OTLP/HTTP (http/protobuf) and use "
     "http_endpoint"},
    {"tls", CFG_JSON, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "TLS on the OTLP listener is not supported: listen on loopback or terminate TLS in front"},
    {"max_request_body_size", CFG_INT, offsetof(struct otlp_http, max_request_body_size),
     "20971520", 1024, 1 << 30, NULL, 0,
     "largest request body in bytes, also after gunzip (larger: HTTP 413)"},
    {"namespace", CFG_STRING, offsetof(struct otlp_http, namespace_), NULL, 0, 0, NULL, 0,
     "CloudWatch namespace of received metrics (default: service.name, else OTLP)"},
    {"log_group_name", CFG_STRING, offsetof(struct otlp_http, log_group_name), "/osprey/otlp", 0, 0,
     NULL, 0, "log group of received log records"},
    {"log_stream_name", CFG_STRING, offsetof(struct otlp_http, log_stream_name), NULL, 0, 0, NULL,
     0, "log stream of received log records (default: service.name, else the host name)"},
    {"indexed_attributes", CFG_STRING_ARRAY, offsetof(struct otlp_http, indexed_attributes), NULL,
     0, 0, NULL, 0, "span attributes that become X-Ray annotations"},
    {"index_all_attributes", CFG_BOOL, offsetof(struct otlp_http, index_all_attributes), "false", 0,
     0, NULL, 0, "make every string, number or bool span attribute an X-Ray annotation"},
    CFG_END,
};

static int otlp_init(struct collector *c)
{
    struct otlp_http *o = c->ctx;
    o->c = c;
    c->stats.reject_names = reject_names;
    o->xopts.indexed_attributes = (const char *const *)o->indexed_attributes.v;
    o->xopts.n_indexed_attributes = o->indexed_attributes.n;
    o->xopts.index_all_attributes = o->index_all_attributes;
    buf_init(&o->body, (size_t)o->max_request_body_size);
    buf_init(&o->doc, OTLP_DOC_CAP);
    buf_init(&o->answer, 64 * 1024);
    return 0;
}

static void reject(struct otlp_http *o, unsigned which, enum selfstats_drop reason, uint64_t n)
{
    if (n)
        selfstats_reject(&o->c->stats, reason, which, n);
}

/* ---- resource helpers ----------------------------------------------------------------- */

static const char *resource_str(const Opentelemetry__Proto__Resource__V1__Resource *r,
                                const char *key)
{
    for (size_t i = 0; r && i < r->n_attributes; i++) {
        const Opentelemetry__Proto__Common__V1__KeyValue *kv = r->attributes[i];
        if (kv && kv->key && strcmp(kv->key, key) == 0 && kv->value &&
            kv->value->value_case ==
                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE &&
            kv->value->string_value[0])
            return kv->value->string_value;
    }
    return NULL;
}

/* The outcome of one request's records. */
struct tally {
    uint64_t taken;
    uint64_t rejected;
    bool ring_full_first; /* the ring was full before anything was taken */
    char why[160];
};

static void tally_reject(struct tally *t, const char *why)
{
    if (t->rejected++ == 0)
        snprintf(t->why, sizeof(t->why), "%s", why);
}

/* An emit's result: true to go on, false when the ring is full (stop the request). */
static bool emitted(struct otlp_http *o, struct tally *t, int r, uint64_t remaining)
{
    if (r == 0) {
        t->taken++;
        return true;
    }
    if (r == -ENOSPC) {
        if (t->taken == 0) {
            t->ring_full_first = true;
            return false;
        }
        reject(o, R_RING_FULL, DROP_RING_FULL, remaining);
        t->rejected += remaining;
        if (!t->why[0])
            snprintf(t->why, sizeof(t->why), "agent buffer full");
        return false;
    }
    tally_reject(t, "record outside the limits of the data model"); /* counted by emit */
    return true;
}

/* ---- traces ------------------------------------------------------------------------ */

static uint64_t
count_spans(const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req)
{
    uint64_t n = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
            n += req->resource_spans[i]->scope_spans[j]->n_spans;
    return n;
}

static void handle_traces(struct otlp_http *o, const ProtobufCMessage *m, struct tally *t)
{
    const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
        (const void *)m;
    uint64_t total = count_spans(req), seen = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[j];
            for (size_t k = 0; k < ss->n_spans; k++, seen++) {
                enum otlp_reject why = OTLP_REJECT_NONE;
                buf_reset(&o->doc);
                int r = otlp_span_to_segment(ss->spans[k], rs->resource, &o->xopts, &o->doc, &why);
                if (r == -EINVAL) {
                    reject(o, why, why == OTLP_REJECT_TOO_LARGE ? DROP_TOO_LARGE : DROP_MALFORMED,
                           1);
                    char msg[96];
                    snprintf(msg, sizeof(msg), "span refused: %s", otlp_reject_name(why));
                    tally_reject(t, msg);
                    continue;
                }
                if (r != 0) {
                    reject(o, OTLP_REJECT_TOO_LARGE, DROP_TOO_LARGE, 1);
                    tally_reject(t, "span could not be converted");
                    continue;
                }
                uint64_t ts = ss->spans[k]->start_time_unix_nano;
                r = collector_emit_segment(o->c, ts, 0, o->doc.data, o->doc.len);
                if (!emitted(o, t, r, total - seen))
                    return;
            }
        }
    }
}

/* ---- metrics ----------------------------------------------------------------------- */

static enum metric_unit unit_of(const char *u)
{
    static const struct {
        const char *ucum;
        enum metric_unit unit;
    } map[] = {
        {"s", METRIC_UNIT_SECONDS},
        {"ms", METRIC_UNIT_MILLISECONDS},
        {"us", METRIC_UNIT_MICROSECONDS},
        {"By", METRIC_UNIT_BYTES},
        {"kBy", METRIC_UNIT_KILOBYTES},
        {"KBy", METRIC_UNIT_KILOBYTES},
        {"MBy", METRIC_UNIT_MEGABYTES},
        {"GBy", METRIC_UNIT_GIGABYTES},
        {"TBy", METRIC_UNIT_TERABYTES},
        {"bit", METRIC_UNIT_BITS},
        {"kbit", METRIC_UNIT_KILOBITS},
        {"Mbit", METRIC_UNIT_MEGABITS},
        {"Gbit", METRIC_UNIT_GIGABITS},
        {"%", METRIC_UNIT_PERCENT},
        {"By/s", METRIC_UNIT_BYTES_PER_SECOND},
        {"bit/s", METRIC_UNIT_BITS_PER_SECOND},
        {"1", METRIC_UNIT_NONE},
    };
    if (!u || !u[0])
        return METRIC_UNIT_NONE;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(u, map[i].ucum) == 0)
            return map[i].unit;
    if (u[0] == '{')
        return METRIC_UNIT_COUNT; /* annotations such as {requests} count things */
    enum metric_unit parsed;
    return metric_unit_parse(u, &parsed) == 0 ? parsed : METRIC_UNIT_NONE;
}

/* Dimension values are text: non-string attributes are written as JSON scalars. Values
 * live in `scratch` (one slot per dimension) until the point is emitted. */
#define DIM_VALUE_MAX 256
static void add_dims(struct metric_point *p, Opentelemetry__Proto__Common__V1__KeyValue **kvs,
                     size_t n, char (*scratch)[DIM_VALUE_MAX])
{
    for (size_t i = 0; i < n && p->n_dims < METRIC_MAX_DIMS; i++) {
        const Opentelemetry__Proto__Common__V1__KeyValue *kv = kvs[i];
        if (!kv || !kv->key || !kv->key[0] || !kv->value)
            continue;
        char *v = scratch[p->n_dims];
        const Opentelemetry__Proto__Common__V1__AnyValue *a = kv->value;
        switch (a->value_case) {
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
            snprintf(v, DIM_VALUE_MAX, "%s", a->string_value);
            break;
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
            snprintf(v, DIM_VALUE_MAX, "%" PRId64, a->int_value);
            break;
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
            snprintf(v, DIM_VALUE_MAX, "%.17g", a->double_value);
            break;
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
            snprintf(v, DIM_VALUE_MAX, "%s", a->bool_value ? "true" : "false");
            break;
        default:
            continue; /* lists, maps and bytes make no dimension */
        }
        if (!v[0])
            continue;
        (void)metric_point_add_dim(p, kv->key, v);
    }
}

struct metric_ctx {
    struct otlp_http *o;
    struct tally *t;
    const char *ns;
    const Opentelemetry__Proto__Metrics__V1__Metric *metric;
    uint64_t remaining;
    char dims[METRIC_MAX_DIMS][DIM_VALUE_MAX];
};

/* Emit one point; false when the request must stop (ring full). */
static bool emit_point(struct metric_ctx *mc, Opentelemetry__Proto__Common__V1__KeyValue **attrs,
                       size_t n_attrs, uint64_t ts, uint32_t flags, bool stats, double value,
                       double count, double sum, double min, double max)
{
    struct otlp_http *o = mc->o;
    mc->remaining--;
    if (flags &
        OPENTELEMETRY__PROTO__METRICS__V1__DATA_POINT_FLAGS__DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK)
        return true; /* "no value": nothing to publish, nothing refused */
    bool finite = stats ? isfinite(count) && isfinite(sum) && isfinite(min) && isfinite(max)
                        : isfinite(value);
    if (!finite || !mc->metric->name[0] || (stats && count <= 0)) {
        reject(o, R_BAD_METRIC, DROP_INVALID, 1);
        tally_reject(mc->t, !mc->metric->name[0] ? "metric without a name"
                            : !finite            ? "NaN or infinite value"
                                                 : "empty histogram");
        return true;
    }
    struct metric_point p;
    memset(&p, 0, sizeof(p));
    p.namespace_ = mc->ns;
    p.name = mc->metric->name;
    p.unit = unit_of(mc->metric->unit);
    p.storage_resolution = 60;
    p.value_kind = stats ? METRIC_VALUE_STATS : METRIC_VALUE_SINGLE;
    p.value = value;
    p.count = count;
    p.sum = sum;
    p.min = min;
    p.max = max;
    add_dims(&p, attrs, n_attrs, mc->dims);
    int r = collector_emit_metric(o->c, ts ? ts : clock_realtime_ns(), 0, &p);
    return emitted(o, mc->t, r, mc->remaining + 1);
}

static uint64_t count_points(const Opentelemetry__Proto__Metrics__V1__Metric *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return m->gauge->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return m->sum->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return m->histogram->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return m->exponential_histogram->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        return m->summary->n_data_points;
    default:
        return 0;
    }
}

static double number_value(const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dp)
{
    if (dp->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT)
        return (double)dp->as_int;
    if (dp->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE)
        return dp->as_double;
    return NAN;
}

/* Min and max when the point does not carry them: the mean stands in for both (all
 * CloudWatch can be told is a statistic set). */
static bool handle_metric(struct metric_ctx *mc)
{
    const Opentelemetry__Proto__Metrics__V1__Metric *m = mc->metric;
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: {
        bool gauge = m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
        size_t n = gauge ? m->gauge->n_data_points : m->sum->n_data_points;
        for (size_t i = 0; i < n; i++) {
            const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dp =
                gauge ? m->gauge->data_points[i] : m->sum->data_points[i];
            if (!emit_point(mc, dp->attributes, dp->n_attributes, dp->time_unix_nano, dp->flags,
                            false, number_value(dp), 0, 0, 0, 0))
                return false;
        }
        return true;
    }
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        for (size_t i = 0; i < m->histogram->n_data_points; i++) {
            const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *dp =
                m->histogram->data_points[i];
            double count = (double)dp->count;
            double sum = dp->_sum_case ? dp->sum : NAN;
            double mean = count > 0 ? sum / count : NAN;
            if (!emit_point(mc, dp->attributes, dp->n_attributes, dp->time_unix_nano, dp->flags,
                            true, 0, count, sum, dp->_min_case ? dp->min : mean,
                            dp->_max_case ? dp->max : mean))
                return false;
        }
        return true;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        for (size_t i = 0; i < m->exponential_histogram->n_data_points; i++) {
            const Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *dp =
                m->exponential_histogram->data_points[i];
            double count = (double)dp->count;
            double sum = dp->_sum_case ? dp->sum : NAN;
            double mean = count > 0 ? sum / count : NAN;
            if (!emit_point(mc, dp->attributes, dp->n_attributes, dp->time_unix_nano, dp->flags,
                            true, 0, count, sum, dp->_min_case ? dp->min : mean,
                            dp->_max_case ? dp->max : mean))
                return false;
        }
        return true;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        for (size_t i = 0; i < m->summary->n_data_points; i++) {
            const Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *dp =
                m->summary->data_points[i];
            double count = (double)dp->count, mean = count > 0 ? dp->sum / count : NAN;
            double min = mean, max = mean;
            for (size_t q = 0; q < dp->n_quantile_values; q++) {
                if (dp->quantile_values[q]->quantile == 0.0)
                    min = dp->quantile_values[q]->value;
                if (dp->quantile_values[q]->quantile == 1.0)
                    max = dp->quantile_values[q]->value;
            }
            if (!emit_point(mc, dp->attributes, dp->n_attributes, dp->time_unix_nano, dp->flags,
                            true, 0, count, dp->sum, min, max))
                return false;
        }
        return true;
    default:
        reject(mc->o, R_BAD_METRIC, DROP_INVALID, 1);
        tally_reject(mc->t, "metric without data");
        return true;
    }
}

static void handle_metrics(struct otlp_http *o, const ProtobufCMessage *msg, struct tally *t)
{
    const Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
        (const void *)msg;
    struct metric_ctx *mc = calloc(1, sizeof(*mc));
    if (!mc) {
        tally_reject(t, "out of memory");
        return;
    }
    mc->o = o;
    mc->t = t;
    for (size_t i = 0; i < req->n_resource_metrics; i++)
        for (size_t j = 0; j < req->resource_metrics[i]->n_scope_metrics; j++)
            for (size_t k = 0; k < req->resource_metrics[i]->scope_metrics[j]->n_metrics; k++)
                mc->remaining +=
                    count_points(req->resource_metrics[i]->scope_metrics[j]->metrics[k]);
    for (size_t i = 0; i < req->n_resource_metrics; i++) {
        const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
        const char *svc = resource_str(rm->resource, "service.name");
        mc->ns = o->namespace_ ? o->namespace_ : svc ? svc : "OTLP";
        for (size_t j = 0; j < rm->n_scope_metrics; j++)
            for (size_t k = 0; k < rm->scope_metrics[j]->n_metrics; k++) {
                mc->metric = rm->scope_metrics[j]->metrics[k];
                if (!handle_metric(mc))
                    goto done;
            }
    }
done:
    free(mc);
}

/* ---- logs -------------------------------------------------------------------------- */

static void handle_logs(struct otlp_http *o, const ProtobufCMessage *msg, struct tally *t)
{
    const Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *req =
        (const void *)msg;
    uint64_t total = 0, seen = 0;
    for (size_t i = 0; i < req->n_resource_logs; i++)
        for (size_t j = 0; j < req->resource_logs[i]->n_scope_logs; j++)
            total += req->resource_logs[i]->scope_logs[j]->n_log_records;
    for (size_t i = 0; i < req->n_resource_logs; i++) {
        const Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = req->resource_logs[i];
        const char *svc = resource_str(rl->resource, "service.name");
        const char *stream = o->log_stream_name ? o->log_stream_name
                             : svc              ? svc
                                                : o->c->env->hostname;
        for (size_t j = 0; j < rl->n_scope_logs; j++) {
            for (size_t k = 0; k < rl->scope_logs[j]->n_log_records; k++, seen++) {
                const Opentelemetry__Proto__Logs__V1__LogRecord *lr =
                    rl->scope_logs[j]->log_records[k];
                buf_reset(&o->doc);
                const Opentelemetry__Proto__Common__V1__AnyValue *b = lr->body;
                int r = 0;
                if (b && b->value_case ==
                             OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
                    r = buf_append_str(&o->doc, b->string_value);
                else if (b && b->value_case != 0)
                    r = otlp_any_to_json(b, &o->doc);
                if (r != 0 || o->doc.len == 0) {
                    reject(o, R_BAD_LOG, r ? DROP_TOO_LARGE : DROP_INVALID, 1);
                    tally_reject(t, r ? "log body too large" : "log record without a body");
                    continue;
                }
                uint64_t ts = lr->time_unix_nano            ? lr->time_unix_nano
                              : lr->observed_time_unix_nano ? lr->observed_time_unix_nano
                                                            : clock_realtime_ns();
                struct log_event ev = {o->log_group_name, stream ? stream : "otlp", o->doc.data,
                                       (uint32_t)o->doc.len};
                r = collector_emit_log(o->c, ts, 0, &ev);
                if (!emitted(o, t, r, total - seen))
                    return;
            }
        }
    }
}

/* ---- requests ---------------------------------------------------------------------- */

static void respond(struct otlp_http *o, struct httpd_conn *conn, int status, enum otlp_format fmt,
                    const char *message, bool retry_after)
{
    struct httpd_response_header h[3];
    size_t n = 0;
    h[n++] = (struct httpd_response_header){
        "Content-Type", fmt == OTLP_JSON ? "application/json" : "application/x-protobuf"};
    if (status == 405)
        h[n++] = (struct httpd_response_header){"Allow", "POST"};
    if (retry_after)
        h[n++] = (struct httpd_response_header){"Retry-After", "1"};
    buf_reset(&o->answer);
    if (status != 200 && otlp_encode_status(fmt, status, message, &o->answer) != 0)
        buf_reset(&o->answer);
    (void)httpd_respond(conn, status, h, n, o->answer.data, o->answer.len, false);
}

/* Answer a refused request; returns 0 so that handlers can `return fail(...)`. */
static int fail(struct otlp_http *o, struct httpd_conn *conn, int status, enum otlp_format fmt,
                unsigned which, enum selfstats_drop reason, const char *message)
{
    reject(o, which, reason, 1);
    selfstats_add(&o->c->stats.errors, 1);
    log_complain(&o->complain, LOG_LEVEL_WARN, o->c->name,
                 "refused an OTLP request from %s with HTTP %d: %s", httpd_conn_peer(conn), status,
                 message);
    respond(o, conn, status, fmt, message, false);
    return 0;
}

static bool content_type_is(const struct httpd_field *f, const char *type)
{
    size_t n = strlen(type);
    if (f->value.len < n || strncasecmp(f->value.p, type, n) != 0)
        return false;
    return f->value.len == n || f->value.p[n] == ';' || f->value.p[n] == ' ';
}

static int handle_request(struct otlp_http *o, struct httpd_conn *conn,
                          const struct httpd_request *req)
{
    /* Every answer, errors too, is in the request's encoding when it names one. */
    const struct httpd_field *ct = httpd_request_field(req, "Content-Type");
    enum otlp_format fmt = OTLP_PROTOBUF;
    bool known_type = false;
    if (ct && content_type_is(ct, "application/json")) {
        fmt = OTLP_JSON;
        known_type = true;
    } else if (ct && content_type_is(ct, "application/x-protobuf")) {
        known_type = true;
    }
    enum otlp_signal sig;
    if (httpd_str_eq(req->path, "/v1/traces"))
        sig = OTLP_TRACES;
    else if (httpd_str_eq(req->path, "/v1/metrics"))
        sig = OTLP_METRICS;
    else if (httpd_str_eq(req->path, "/v1/logs"))
        sig = OTLP_LOGS;
    else
        return fail(o, conn, 404, fmt, R_BAD_PATH, DROP_MALFORMED,
                    "unknown path (OTLP/HTTP serves /v1/traces, /v1/metrics, /v1/logs)");

    if (!httpd_str_eq(req->method, "POST"))
        return fail(o, conn, 405, fmt, R_BAD_METHOD, DROP_MALFORMED, "only POST is allowed");
    if (!known_type)
        return fail(o, conn, 415, fmt, R_BAD_CONTENT_TYPE, DROP_MALFORMED,
                    "unsupported content type (use application/x-protobuf or application/json)");

    selfstats_add(&o->c->stats.bytes_in, req->body_len);
    const uint8_t *body = req->body;
    size_t len = req->body_len;
    const struct httpd_field *ce = httpd_request_field(req, "Content-Encoding");
    if (ce && httpd_str_eq_nocase(ce->value, "gzip")) {
        buf_reset(&o->body);
        int r = gzip_decompress(body, len, &o->body);
        if (r == -ENOBUFS)
            return fail(o, conn, 413, fmt, R_BODY_TOO_LARGE, DROP_TOO_LARGE,
                        "decompressed body larger than max_request_body_size");
        if (r != 0)
            return fail(o, conn, 400, fmt, R_BAD_BODY, DROP_MALFORMED, "invalid gzip body");
        body = o->body.data;
        len = o->body.len;
    } else if (ce && !httpd_str_eq_nocase(ce->value, "identity") && ce->value.len) {
        return fail(o, conn, 415, fmt, R_BAD_ENCODING, DROP_MALFORMED,
                    "unsupported Content-Encoding (use gzip or none)");
    }

    ProtobufCMessage *m = NULL;
    int r = otlp_decode(sig, fmt, body ? body : (const uint8_t *)"", len,
                        8 * (size_t)o->max_request_body_size, &m);
    if (r == -E2BIG)
        return fail(o, conn, 413, fmt, R_BODY_TOO_LARGE, DROP_TOO_LARGE,
                    "message too deeply nested or too large once decoded");
    if (r != 0)
        return fail(o, conn, r == -ENOMEM ? 503 : 400, fmt, R_BAD_BODY, DROP_MALFORMED,
                    fmt == OTLP_JSON ? "body is not a valid OTLP JSON request"
                                     : "body is not a valid OTLP protobuf request");

    struct tally t;
    memset(&t, 0, sizeof(t));
    if (sig == OTLP_TRACES)
        handle_traces(o, m, &t);
    else if (sig == OTLP_METRICS)
        handle_metrics(o, m, &t);
    else
        handle_logs(o, m, &t);
    otlp_message_free(m);

    if (t.ring_full_first) {
        selfstats_add(&o->c->stats.paused, 1);
        respond(o, conn, 503, fmt, "agent buffer full, retry later", true);
        return 0;
    }
    buf_reset(&o->answer);
    if (otlp_encode_response(sig, fmt, (int64_t)t.rejected, t.why, &o->answer) != 0)
        buf_reset(&o->answer);
    struct httpd_response_header h = {"Content-Type", fmt == OTLP_JSON ? "application/json"
                                                                       : "application/x-protobuf"};
    (void)httpd_respond(conn, 200, &h, 1, o->answer.data, o->answer.len, false);
    return 0;
}

static void on_request(struct httpd_conn *conn, const struct httpd_request *req, void *data)
{
    (void)handle_request(data, conn, req);
}

/* ---- lifecycle --------------------------------------------------------------------- */

static void on_closed(void *data)
{
    struct otlp_http *o = data;
    collector_handle_closed(o->c);
}

static int otlp_start(struct collector *c, uv_loop_t *loop)
{
    struct otlp_http *o = c->ctx;
    struct httpd_options opts;
    httpd_options_default(&opts);
    opts.limits.max_body_bytes = (size_t)o->max_request_body_size;
    opts.server_name = "osprey/" OSPREY_VERSION;
    int r = httpd_create(loop, &opts, on_request, o, &o->srv);
    if (r != 0)
        return r;
    collector_handle_opened(c);
    r = httpd_listen(o->srv, o->http_endpoint);
    if (r != 0) {
        log_error(c->name, "cannot listen on '%s': %s", o->http_endpoint, strerror(-r));
        struct httpd *s = o->srv;
        o->srv = NULL;
        httpd_close(s, on_closed, o);
        return r;
    }
    log_info(c->name, "OTLP/HTTP listening on %s (/v1/traces, /v1/metrics, /v1/logs)",
             o->http_endpoint);
    return 0;
}

static void otlp_stop(struct collector *c)
{
    struct otlp_http *o = c->ctx;
    struct httpd *s = o->srv;
    o->srv = NULL;
    if (s)
        httpd_close(s, on_closed, o);
}

static void otlp_destroy(struct collector *c)
{
    struct otlp_http *o = c->ctx;
    buf_release(&o->body);
    buf_release(&o->doc);
    buf_release(&o->answer);
}

static void otlp_describe(struct collector *c, FILE *out)
{
    const struct otlp_http *o = c->ctx;
    fprintf(out, "listen tcp %s (OTLP/HTTP: POST /v1/traces, /v1/metrics, /v1/logs)\n",
            o->http_endpoint);
    fprintf(out, "log group %s; metric series depend on what clients send\n",
            o->log_group_name ? o->log_group_name : "-");
}

const struct collector_type collector_otlp = {
    .name = "otlp",
    .help = "OTLP/HTTP receiver: spans -> X-Ray segments, metrics -> CloudWatch metrics, logs -> "
            "log events",
    .config_path = "traces/traces_collected/otlp",
    .kinds = RECORD_KINDS_ALL,
    .fields = otlp_fields,
    .ctx_size = sizeof(struct otlp_http),
    .init = otlp_init,
    .start = otlp_start,
    .stop = otlp_stop,
    .destroy = otlp_destroy,
    .describe = otlp_describe,
};
