/*
 * bench_otlp: OTLP receiver cost per span. One ExportTraceServiceRequest of 512 spans (a
 * realistic mix: SERVER/CLIENT/INTERNAL, 8 attributes each, every 8th with an exception
 * event) is packed once; then, in the same run and on the same bytes:
 *   unpack   protobuf-c unpack + free alone (the baseline: the floor of any decoder);
 *   decode   otlp_decode (wire pre-pass + unpack) + free;
 *   convert  otlp_decode + every span -> X-Ray segment document + free (the receiver's
 *            whole per-request work except the ring).
 * Each case runs `reps` rounds of `seconds` and reports the median spans/s and its ratio
 * to the baseline measured in the same round.
 *   usage: bench_otlp [seconds_per_case [rounds]]   (default 1 s, 5 rounds)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/otlp_convert.h"
#include "collectors/otlp_decode.h"
#include "trace_service.pb-c.h"

#define SPANS 512
#define ATTRS 8

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t *build_request(size_t *ret_len)
{
    static uint8_t ids[SPANS][8],
        tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    static Opentelemetry__Proto__Trace__V1__Span spans[SPANS];
    static Opentelemetry__Proto__Trace__V1__Span *span_ptrs[SPANS];
    static kv_t kvs[SPANS][ATTRS];
    static any_t vals[SPANS][ATTRS];
    static kv_t *kv_ptrs[SPANS][ATTRS];
    static Opentelemetry__Proto__Trace__V1__Span__Event ev, *evs[1];
    static kv_t ev_kv[2];
    static any_t ev_val[2];
    static kv_t *ev_ptrs[2];
    static const char *keys[ATTRS] = {"http.request.method",
                                      "url.full",
                                      "http.response.status_code",
                                      "server.address",
                                      "user_agent.original",
                                      "order.id",
                                      "customer.tier",
                                      "retry.count"};
    Opentelemetry__Proto__Trace__V1__Span__Event e =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
    ev = e;
    ev.name = "exception";
    for (int i = 0; i < 2; i++) {
        kv_t kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
        any_t av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
        ev_kv[i] = kv;
        ev_val[i] = av;
        ev_kv[i].key = i ? "exception.message" : "exception.type";
        ev_kv[i].value = &ev_val[i];
        ev_val[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        ev_val[i].string_value = i ? "connection reset by peer" : "IOError";
        ev_ptrs[i] = &ev_kv[i];
    }
    ev.attributes = ev_ptrs;
    ev.n_attributes = 2;
    evs[0] = &ev;
    for (int s = 0; s < SPANS; s++) {
        Opentelemetry__Proto__Trace__V1__Span sp = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
        spans[s] = sp;
        for (int b = 0; b < 8; b++)
            ids[s][b] = (uint8_t)(s * 31 + b + 1);
        spans[s].trace_id = (ProtobufCBinaryData){16, tid};
        spans[s].span_id = (ProtobufCBinaryData){8, ids[s]};
        if (s % 4)
            spans[s].parent_span_id = (ProtobufCBinaryData){8, ids[s - s % 4]};
        spans[s].name = "GET /api/orders/{id}";
        spans[s].kind = s % 4 == 0 ? 2 : s % 4 == 1 ? 3 : 1;
        spans[s].start_time_unix_nano = 1700000000000000000ull + (uint64_t)s * 1000;
        spans[s].end_time_unix_nano = spans[s].start_time_unix_nano + 2500000;
        for (int a = 0; a < ATTRS; a++) {
            kv_t kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
            any_t av = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
            kvs[s][a] = kv;
            vals[s][a] = av;
            kvs[s][a].key = (char *)keys[a];
            kvs[s][a].value = &vals[s][a];
            if (a == 2 || a == 7) {
                vals[s][a].value_case =
                    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
                vals[s][a].int_value = a == 2 ? 200 : s % 3;
            } else {
                vals[s][a].value_case =
                    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
                vals[s][a].string_value = a == 1 ? "https://shop.example.com/api/orders/123?x=1"
                                                 : "value-of-moderate-length";
            }
            kv_ptrs[s][a] = &kvs[s][a];
        }
        spans[s].attributes = kv_ptrs[s];
        spans[s].n_attributes = ATTRS;
        if (s % 8 == 7) {
            spans[s].events = evs;
            spans[s].n_events = 1;
        }
        span_ptrs[s] = &spans[s];
    }
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.spans = span_ptrs;
    ss.n_spans = SPANS;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[1] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.scope_spans = sss;
    rs.n_scope_spans = 1;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[1] = {&rs};
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.resource_spans = rss;
    req.n_resource_spans = 1;
    *ret_len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *out = malloc(*ret_len);
    if (out)
        protobuf_c_message_pack(&req.base, out);
    return out;
}

enum which { UNPACK, DECODE, CONVERT };

/* Spans per second for `seconds` of whole requests. */
static double run(enum which w, const uint8_t *wire, size_t len, double seconds, struct buf *doc)
{
    const ProtobufCMessageDescriptor *d = otlp_request_descriptor(OTLP_TRACES);
    size_t requests = 0;
    double start = now_s(), t;
    do {
        for (int k = 0; k < 8; k++, requests++) {
            ProtobufCMessage *m = NULL;
            if (w == UNPACK) {
                m = protobuf_c_message_unpack(d, NULL, len, wire);
            } else if (otlp_decode(OTLP_TRACES, OTLP_PROTOBUF, wire, len, 64u << 20, &m) != 0) {
                fprintf(stderr, "decode failed\n");
                exit(1);
            }
            if (w == CONVERT) {
                Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
                    (void *)m;
                Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
                    req->resource_spans[0]->scope_spans[0];
                for (size_t s = 0; s < ss->n_spans; s++) {
                    enum otlp_reject why;
                    buf_reset(doc);
                    if (otlp_span_to_segment(ss->spans[s], req->resource_spans[0]->resource, NULL,
                                             doc, &why) != 0) {
                        fprintf(stderr, "convert failed\n");
                        exit(1);
                    }
                }
            }
            protobuf_c_message_free_unpacked(m, NULL);
        }
        t = now_s() - start;
    } while (t < seconds);
    return (double)requests * SPANS / t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (seconds <= 0 || rounds < 1 || rounds > 99)
        return 2;
    size_t len;
    uint8_t *wire = build_request(&len);
    if (!wire)
        return 1;
    struct buf doc;
    buf_init(&doc, 1u << 20);
    double r[3][99], ratio[2][99];
    for (int i = 0; i < rounds; i++) {
        r[UNPACK][i] = run(UNPACK, wire, len, seconds, &doc);
        r[DECODE][i] = run(DECODE, wire, len, seconds, &doc);
        r[CONVERT][i] = run(CONVERT, wire, len, seconds, &doc);
        ratio[0][i] = r[DECODE][i] / r[UNPACK][i];
        ratio[1][i] = r[CONVERT][i] / r[UNPACK][i];
    }
    for (int k = 0; k < 3; k++)
        qsort(r[k], (size_t)rounds, sizeof(double), cmp);
    qsort(ratio[0], (size_t)rounds, sizeof(double), cmp);
    qsort(ratio[1], (size_t)rounds, sizeof(double), cmp);
    int m = rounds / 2;
    printf("request: %d spans, %zu bytes protobuf; median of %d rounds of %.1f s\n", SPANS, len,
           rounds, seconds);
    printf("%-34s %12.0f spans/s  (baseline)\n", "protobuf-c unpack + free", r[UNPACK][m]);
    printf("%-34s %12.0f spans/s  %.2fx of baseline\n", "otlp_decode + free", r[DECODE][m],
           ratio[0][m]);
    printf("%-34s %12.0f spans/s  %.2fx of baseline\n", "otlp_decode + convert + free",
           r[CONVERT][m], ratio[1][m]);
    buf_release(&doc);
    free(wire);
    return 0;
}
