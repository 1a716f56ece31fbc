/*
 * otlp_convert: OTLP span -> X-Ray segment document.
 *
 * DESIGN
 * The mapping follows the OpenTelemetry Collector's awsxrayexporter, which is what X-Ray
 * users of OpenTelemetry already see in their consoles, with three deliberate choices:
 * - Segment or subsegment. X-Ray draws its service map from segments, so every span that
 *   starts work in a service is one: SERVER spans, spans without a parent, and CONSUMER
 *   spans whose parent context came from another process (the span flags say so). Every
 *   other span is a standalone subsegment of its parent span (type, parent_id, and the
 *   "remote"/"aws" namespace for outgoing calls).
 * - Names. A segment is named after the service (resource service.name) so that one
 *   service is one node; a subsegment after what it calls (peer.service, aws.service,
 *   db.name, rpc.service, server.address), else the span name. Characters X-Ray does
 *   not accept are removed and the name is cut at 200 characters.
 * - Attributes. Both the old (http.method, http.status_code, db.statement) and the
 *   stable semantic-convention names (http.request.method, url.full, db.query.text) fill
 *   the http / sql blocks. Attributes chosen by indexed_attributes, index_all_attributes
 *   or the span's own aws.xray.annotations list become annotations when X-Ray can index
 *   them (string, number, bool); everything else goes to metadata.default, where a
 *   segment also carries its resource attributes as otel.resource.<key>.
 * The writer keeps the first error and turns every later write into a no-op, so the
 * document code reads as a straight list of fields.
 */
#include "collectors/otlp_convert.h"

#include "agent/jsonw.h"
#include "exporters/xray_encode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Opentelemetry__Proto__Common__V1__KeyValue otlp_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue otlp_any;

#define VCASE(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x
#define KIND(x)  OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_##x

#define NAME_MAX_CHARS       200
#define FIELD_MAX_BYTES      2048 /* http/aws/sql strings: X-Ray keeps far less */
#define ANNOTATION_MAX       50   /* X-Ray indexes at most 50 annotations */
#define ANNOTATION_KEY_MAX   250
#define ANNOTATION_VALUE_MAX 1000
#define EXCEPTIONS_MAX       10
#define STACK_FRAMES_MAX     50
#define MESSAGE_MAX_BYTES    4096
#define ANY_DEPTH_MAX        16

static const char *const reject_names[OTLP_REJECT_MAX] = {
    [OTLP_REJECT_NONE] = "none",
    [OTLP_REJECT_BAD_TRACE_ID] = "bad_trace_id",
    [OTLP_REJECT_BAD_SPAN_ID] = "bad_span_id",
    [OTLP_REJECT_BAD_PARENT_ID] = "bad_parent_id",
    [OTLP_REJECT_BAD_TIMES] = "bad_times",
    [OTLP_REJECT_TOO_LARGE] = "too_large",
};

const char *otlp_reject_name(enum otlp_reject r)
{
    return (unsigned)r < OTLP_REJECT_MAX ? reject_names[r] : "unknown";
}

/* ---- attribute lookup ---------------------------------------------------------------- */

struct attrs {
    otlp_kv *const *span;
    size_t n_span;
    otlp_kv *const *res;
    size_t n_res;
};

static const otlp_any *kv_find(otlp_kv *const *kvs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (kvs[i] && kvs[i]->key && kvs[i]->value && strcmp(kvs[i]->key, key) == 0)
            return kvs[i]->value;
    return NULL;
}

static const char *any_str(const otlp_any *v)
{
    if (v && v->value_case == VCASE(STRING_VALUE) && v->string_value && v->string_value[0])
        return v->string_value;
    return NULL;
}

static const char *span_str(const struct attrs *a, const char *key)
{
    return any_str(kv_find(a->span, a->n_span, key));
}

static const char *res_str(const struct attrs *a, const char *key)
{
    return any_str(kv_find(a->res, a->n_res, key));
}

/* An integer attribute: int, integral double, or a decimal string. */
static bool any_int(const otlp_any *v, int64_t *ret)
{
    if (!v)
        return false;
    if (v->value_case == VCASE(INT_VALUE)) {
        *ret = v->int_value;
        return true;
    }
    if (v->value_case == VCASE(DOUBLE_VALUE) && v->double_value >= -9e15 &&
        v->double_value <= 9e15) {
        *ret = (int64_t)v->double_value;
        return true;
    }
    if (v->value_case == VCASE(STRING_VALUE) && v->string_value && v->string_value[0]) {
        char *end;
        long long x = strtoll(v->string_value, &end, 10);
        if (*end == '\0') {
            *ret = x;
            return true;
        }
    }
    return false;
}

static bool span_int(const struct attrs *a, const char *key, int64_t *ret)
{
    return any_int(kv_find(a->span, a->n_span, key), ret);
}

/* The first of `keys` (NULL-terminated) set as a non-empty string on the span. */
static const char *span_first(const struct attrs *a, const char *const *keys)
{
    for (; *keys; keys++) {
        const char *s = span_str(a, *keys);
        if (s)
            return s;
    }
    return NULL;
}

/* ---- writer ------------------------------------------------------------------------- */

struct jw {
    struct buf *b;
    int err;
};

static void w_raw(struct jw *w, const char *s)
{
    if (!w->err)
        w->err = buf_append_str(w->b, s);
}

/* Longest prefix of s (at most max bytes) that does not split a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static void w_strn(struct jw *w, const char *s, size_t len, size_t max)
{
    if (!w->err)
        w->err = jsonw_string(w->b, (const uint8_t *)s, utf8_cut(s, len, max), NULL);
}

static void w_str(struct jw *w, const char *s)
{
    w_strn(w, s, strlen(s), FIELD_MAX_BYTES);
}

/* `,"key":` or `"key":` for the first member of an object (*n counts members). */
static void w_key(struct jw *w, unsigned *n, const char *key)
{
    if ((*n)++)
        w_raw(w, ",");
    w_strn(w, key, strlen(key), SIZE_MAX);
    w_raw(w, ":");
}

static void w_kstr(struct jw *w, unsigned *n, const char *key, const char *v)
{
    if (!v)
        return;
    w_key(w, n, key);
    w_str(w, v);
}

static void w_i64(struct jw *w, int64_t v)
{
    if (!w->err)
        w->err = buf_printf(w->b, "%" PRId64, v);
}

static void w_double(struct jw *w, double v)
{
    if (w->err)
        return;
    int r = jsonw_double(w->b, v);
    if (r == -EDOM)
        r = buf_append_str(w->b, "null"); /* NaN and infinities have no JSON form */
    w->err = r;
}

/* Epoch seconds with microseconds, from integer ns: no rounding surprises. */
static void w_time(struct jw *w, uint64_t ns)
{
    if (!w->err)
        w->err = buf_printf(w->b, "%" PRIu64 ".%06" PRIu64, ns / 1000000000u,
                            (ns % 1000000000u) / 1000u);
}

static void w_hex(struct jw *w, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    if (w->err)
        return;
    w->err = buf_reserve(w->b, 2 * n + 2);
    if (w->err)
        return;
    char *o = (char *)w->b->data + w->b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        *o++ = digits[p[i] >> 4];
        *o++ = digits[p[i] & 15];
    }
    *o++ = '"';
    buf_advance(w->b, 2 * n + 2);
}

static void w_base64(struct jw *w, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (w->err)
        return;
    size_t out = 4 * ((n + 2) / 3) + 2;
    w->err = buf_reserve(w->b, out);
    if (w->err)
        return;
    char *o = (char *)w->b->data + w->b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = '=';
    }
    *o++ = '"';
    buf_advance(w->b, out);
}

/* Any OTLP value as JSON: arrays and key-value lists as JSON arrays and objects, bytes
 * as base64, an empty value as null; nesting deeper than ANY_DEPTH_MAX becomes null. */
static void w_any(struct jw *w, const otlp_any *v, int depth)
{
    if (!v || depth > ANY_DEPTH_MAX) {
        w_raw(w, "null");
        return;
    }
    switch (v->value_case) {
    case VCASE(STRING_VALUE):
        w_strn(w, v->string_value ? v->string_value : "",
               v->string_value ? strlen(v->string_value) : 0, SIZE_MAX);
        return;
    case VCASE(BOOL_VALUE):
        w_raw(w, v->bool_value ? "true" : "false");
        return;
    case VCASE(INT_VALUE):
        w_i64(w, v->int_value);
        return;
    case VCASE(DOUBLE_VALUE):
        w_double(w, v->double_value);
        return;
    case VCASE(BYTES_VALUE):
        w_base64(w, v->bytes_value.data, v->bytes_value.len);
        return;
    case VCASE(ARRAY_VALUE): {
        w_raw(w, "[");
        for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++) {
            if (i)
                w_raw(w, ",");
            w_any(w, v->array_value->values[i], depth + 1);
        }
        w_raw(w, "]");
        return;
    }
    case VCASE(KVLIST_VALUE): {
        unsigned n = 0;
        w_raw(w, "{");
        for (size_t i = 0; v->kvlist_value && i < v->kvlist_value->n_values; i++) {
            const otlp_kv *kv = v->kvlist_value->values[i];
            if (!kv || !kv->key)
                continue;
            w_key(w, &n, kv->key);
            w_any(w, kv->value, depth + 1);
        }
        w_raw(w, "}");
        return;
    }
    default:
        w_raw(w, "null");
        return;
    }
}

int otlp_any_to_json(const otlp_any *v, struct buf *out)
{
    size_t mark = out->len;
    struct jw w = {out, 0};
    w_any(&w, v, 0);
    if (w.err && out->data) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return w.err;
}

/* ---- names and ids ------------------------------------------------------------------ */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

void otlp_xray_trace_id(const uint8_t id[16], char ret[OTLP_XRAY_TRACE_ID_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    char *o = ret;
    *o++ = '1';
    *o++ = '-';
    for (int i = 0; i < 16; i++) {
        if (i == 4)
            *o++ = '-';
        *o++ = digits[id[i] >> 4];
        *o++ = digits[id[i] & 15];
    }
    *o = '\0';
}

/* Is the code point a letter X-Ray's name rule (Unicode letters) surely accepts? Only
 * the common scripts are recognised; anything else is removed, never sent. */
static bool letter_cp(uint32_t cp)
{
    return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
           (cp >= 0x391 && cp <= 0x3C9) || (cp >= 0x400 && cp <= 0x4FF) ||
           (cp >= 0x3041 && cp <= 0x30FA) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3);
}

/* Decode one UTF-8 sequence; its length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t n;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        *cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        *cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        *cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    return n;
}

/* X-Ray's name: letters, digits, whitespace and _ . : / % & # = + \ - @, 1..200 chars.
 * Writes at most 4 * NAME_MAX_CHARS bytes + NUL into out; returns the byte length. */
static size_t sanitize_name(const char *in, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t len = strlen(in), o = 0, chars = 0;
    for (size_t i = 0; i < len && chars < NAME_MAX_CHARS;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == ' ' || strchr("_.:/%&#=+\\-@", c)) {
                out[o++] = (char)c;
                chars++;
            }
            i++;
            continue;
        }
        uint32_t cp = 0;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            i++;
            continue;
        }
        if (letter_cp(cp)) {
            memcpy(out + o, s + i, n);
            o += n;
            chars++;
        }
        i += n;
    }
    /* Leading/trailing blanks make names that look equal differ. */
    while (o > 0 && out[o - 1] == ' ')
        o--;
    size_t lead = 0;
    while (lead < o && out[lead] == ' ')
        lead++;
    memmove(out, out + lead, o - lead);
    o -= lead;
    out[o] = '\0';
    return o;
}

static bool outgoing(int kind)
{
    return kind == KIND(CLIENT) || kind == KIND(PRODUCER);
}

static const char *strip_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 && s[n] ? s + n : s;
}

static const char *pick_name(const otlp_span *span, const struct attrs *a, bool segment)
{
    int kind = span->kind;
    const char *s;
    if (kind == KIND(SERVER) && (s = span_str(a, "aws.local.service")))
        return s;
    if (kind != KIND(SERVER) && kind != KIND(INTERNAL) && (s = span_str(a, "aws.remote.service")))
        return strip_prefix(strip_prefix(s, "AWS.SDK."), "AWS::");
    if (segment && (s = res_str(a, "service.name")))
        return s;
    static const char *const remote[] = {"peer.service", "aws.service", "db.name",
                                         "db.namespace", "rpc.service", NULL};
    if ((s = span_first(a, remote)))
        return s;
    if (outgoing(kind)) {
        static const char *const hosts[] = {"server.address", "net.peer.name", "http.host", NULL};
        if ((s = span_first(a, hosts)))
            return s;
    }
    return span->name ? span->name : "";
}

/* A deterministic 16-hex exception id from the span id and the exception's index. */
static void exception_id(const otlp_span *span, unsigned index, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < span->span_id.len; i++)
        h = (h ^ span->span_id.data[i]) * 1099511628211ull;
    h = (h ^ (index + 1)) * 1099511628211ull;
    h ^= h >> 29;
    if (h == 0)
        h = 1;
    snprintf(out, 17, "%016" PRIx64, h);
}

/* ---- blocks ------------------------------------------------------------------------- */

static const char *const k_method[] = {"http.request.method", "http.method", NULL};
static const char *const k_url[] = {"url.full", "http.url", NULL};
static const char *const k_scheme[] = {"url.scheme", "http.scheme", NULL};
static const char *const k_server_host[] = {"server.address", "http.host", "http.server_name",
                                            "net.host.name", NULL};
static const char *const k_client_host[] = {"server.address", "net.peer.name", "net.peer.ip",
                                            "http.host", NULL};
static const char *const k_target[] = {"http.target", NULL};
static const char *const k_agent[] = {"user_agent.original", "http.user_agent", NULL};

static int64_t http_status(const struct attrs *a)
{
    int64_t st = 0;
    if (span_int(a, "http.response.status_code", &st) || span_int(a, "http.status_code", &st))
        return st;
    return 0;
}

static void build_url(const struct attrs *a, int kind, char *out, size_t cap)
{
    out[0] = '\0';
    const char *full = span_first(a, k_url);
    if (full) {
        snprintf(out, cap, "%s", full);
        return;
    }
    const char *host = span_first(a, outgoing(kind) ? k_client_host : k_server_host);
    const char *path = span_str(a, "url.path");
    const char *query = span_str(a, "url.query");
    const char *target = span_first(a, k_target);
    if (!host && !path && !target)
        return;
    const char *scheme = span_first(a, k_scheme);
    int64_t port = 0;
    if (!span_int(a, "server.port", &port) &&
        !span_int(a, outgoing(kind) ? "net.peer.port" : "net.host.port", &port))
        port = 0;
    char portbuf[24] = "";
    if (port > 0 && port < 65536 && !(port == 80 && (!scheme || !strcmp(scheme, "http"))) &&
        !(port == 443 && scheme && !strcmp(scheme, "https")))
        snprintf(portbuf, sizeof(portbuf), ":%" PRId64, port);
    if (target)
        snprintf(out, cap, "%s://%s%s%s", scheme ? scheme : "http", host ? host : "localhost",
                 portbuf, target);
    else
        snprintf(out, cap, "%s://%s%s%s%s%s", scheme ? scheme : "http", host ? host : "localhost",
                 portbuf, path ? path : "/", query ? "?" : "", query ? query : "");
}

static void w_http(struct jw *w, unsigned *n, const struct attrs *a, int kind, bool segment)
{
    const char *method = span_first(a, k_method);
    const char *agent = span_first(a, k_agent);
    const char *fwd_ip = span_str(a, "http.client_ip");
    const char *ip = fwd_ip ? fwd_ip : span_str(a, "client.address");
    char url[FIELD_MAX_BYTES];
    build_url(a, kind, url, sizeof(url));
    int64_t status = http_status(a), length = -1;
    if (!span_int(a, "http.response.body.size", &length) &&
        !span_int(a, "http.response_content_length", &length))
        length = -1;
    bool req = method || url[0] || agent || (segment && ip);
    bool resp = status > 0 || length >= 0;
    if (!req && !resp)
        return;
    w_key(w, n, "http");
    w_raw(w, "{");
    unsigned hn = 0;
    if (req) {
        unsigned rn = 0;
        w_key(w, &hn, "request");
        w_raw(w, "{");
        w_kstr(w, &rn, "method", method);
        w_kstr(w, &rn, "url", url[0] ? url : NULL);
        w_kstr(w, &rn, "user_agent", agent);
        if (segment && ip) {
            w_kstr(w, &rn, "client_ip", ip);
            if (fwd_ip) {
                w_key(w, &rn, "x_forwarded_for");
                w_raw(w, "true");
            }
        }
        w_raw(w, "}");
    }
    if (resp) {
        unsigned rn = 0;
        w_key(w, &hn, "response");
        w_raw(w, "{");
        if (status > 0) {
            w_key(w, &rn, "status");
            w_i64(w, status);
        }
        if (length >= 0) {
            w_key(w, &rn, "content_length");
            w_i64(w, length);
        }
        w_raw(w, "}");
    }
    w_raw(w, "}");
}

static bool is_aws_call(const struct attrs *a)
{
    const char *rpc = span_str(a, "rpc.system");
    return (rpc && strcmp(rpc, "aws-api") == 0) || span_str(a, "aws.service");
}

static const char *origin_of(const struct attrs *a)
{
    static const char *const map[][2] = {
        {"aws_ec2", "AWS::EC2::Instance"},
        {"aws_ecs", "AWS::ECS::Container"},
        {"aws_eks", "AWS::EKS::Container"},
        {"aws_elastic_beanstalk", "AWS::ElasticBeanstalk::Environment"},
        {"aws_app_runner", "AWS::AppRunner::Service"},
    };
    const char *platform = res_str(a, "cloud.platform");
    for (size_t i = 0; platform && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(platform, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* Subsegments: the AWS call; segments: where the service runs and which SDK traced it. */
static void w_aws(struct jw *w, unsigned *n, const struct attrs *a, bool segment)
{
    size_t mark = w->b->len;
    unsigned saved = *n, an = 0;
    w_key(w, n, "aws");
    w_raw(w, "{");
    if (!segment) {
        const char *op = span_str(a, "aws.operation");
        if (!op && is_aws_call(a))
            op = span_str(a, "rpc.method");
        w_kstr(w, &an, "operation", op);
        w_kstr(w, &an, "account_id", span_str(a, "aws.account_id"));
        w_kstr(w, &an, "region", span_str(a, "aws.region"));
        static const char *const req_id[] = {"aws.request_id", "aws.requestId", NULL};
        w_kstr(w, &an, "request_id", span_first(a, req_id));
        static const char *const queue[] = {"aws.queue_url", "aws.queue.url", "messaging.url",
                                            NULL};
        w_kstr(w, &an, "queue_url", span_first(a, queue));
        const char *table = span_str(a, "aws.table_name");
        const otlp_any *names = kv_find(a->span, a->n_span, "aws.dynamodb.table_names");
        if (!table && names && names->value_case == VCASE(ARRAY_VALUE) && names->array_value &&
            names->array_value->n_values == 1)
            table = any_str(names->array_value->values[0]);
        w_kstr(w, &an, "table_name", table);
    } else {
        const char *provider = res_str(a, "cloud.provider");
        if (provider && strcmp(provider, "aws") != 0)
            goto none;
        w_kstr(w, &an, "account_id", res_str(a, "cloud.account.id"));
        const char *platform = res_str(a, "cloud.platform");
        if (platform && strcmp(platform, "aws_ec2") == 0) {
            unsigned en = 0;
            w_key(w, &an, "ec2");
            w_raw(w, "{");
            w_kstr(w, &en, "instance_id", res_str(a, "host.id"));
            w_kstr(w, &en, "availability_zone", res_str(a, "cloud.availability_zone"));
            w_kstr(w, &en, "instance_size", res_str(a, "host.type"));
            w_kstr(w, &en, "ami_id", res_str(a, "host.image.id"));
            w_raw(w, "}");
        } else if (platform && strcmp(platform, "aws_eks") == 0) {
            unsigned en = 0;
            w_key(w, &an, "eks");
            w_raw(w, "{");
            w_kstr(w, &en, "cluster_name", res_str(a, "k8s.cluster.name"));
            w_kstr(w, &en, "pod", res_str(a, "k8s.pod.name"));
            w_kstr(w, &en, "container_id", res_str(a, "container.id"));
            w_raw(w, "}");
        } else if (platform && strcmp(platform, "aws_ecs") == 0) {
            unsigned en = 0;
            w_key(w, &an, "ecs");
            w_raw(w, "{");
            w_kstr(w, &en, "container", res_str(a, "container.name"));
            w_kstr(w, &en, "container_id", res_str(a, "container.id"));
            w_kstr(w, &en, "container_arn", res_str(a, "aws.ecs.container.arn"));
            w_raw(w, "}");
        }
        const char *sdk = res_str(a, "telemetry.sdk.name");
        if (sdk) {
            unsigned xn = 0;
            char sdk_name[256];
            const char *lang = res_str(a, "telemetry.sdk.language");
            snprintf(sdk_name, sizeof(sdk_name), "%s for %s", sdk, lang ? lang : "unknown");
            w_key(w, &an, "xray");
            w_raw(w, "{");
            w_kstr(w, &xn, "sdk", sdk_name);
            w_kstr(w, &xn, "sdk_version", res_str(a, "telemetry.sdk.version"));
            if (res_str(a, "telemetry.auto.version")) {
                w_key(w, &xn, "auto_instrumentation");
                w_raw(w, "true");
            }
            w_raw(w, "}");
        }
    }
    if (an > 0 || w->err) {
        w_raw(w, "}");
        return;
    }
none:
    /* Nothing to say: take the key back out. */
    if (!w->err) {
        w->b->len = mark;
        w->b->data[mark] = '\0';
        *n = saved;
    }
}

static bool sql_system(const char *s)
{
    static const char *const systems[] = {"db2",    "derby",    "hive",      "mariadb",
                                          "mssql",  "mysql",    "oracle",    "postgresql",
                                          "sqlite", "teradata", "other_sql", NULL};
    for (const char *const *p = systems; s && *p; p++)
        if (strcmp(s, *p) == 0)
            return true;
    return false;
}

static void w_sql(struct jw *w, unsigned *n, const struct attrs *a)
{
    const char *system = span_str(a, "db.system");
    if (!sql_system(system))
        return;
    static const char *const dbname[] = {"db.name", "db.namespace", NULL};
    static const char *const stmt[] = {"db.statement", "db.query.text", NULL};
    const char *conn = span_str(a, "db.connection_string");
    const char *db = span_first(a, dbname);
    char cs[FIELD_MAX_BYTES];
    snprintf(cs, sizeof(cs), "%s%s%s", conn ? conn : "localhost", db ? "/" : "", db ? db : "");
    unsigned sn = 0;
    w_key(w, n, "sql");
    w_raw(w, "{");
    w_kstr(w, &sn, "connection_string", cs);
    w_kstr(w, &sn, "database_type", system);
    w_kstr(w, &sn, "user", span_str(a, "db.user"));
    w_kstr(w, &sn, "sanitized_query", span_first(a, stmt));
    w_raw(w, "}");
}

static const otlp_any *event_attr(const Opentelemetry__Proto__Trace__V1__Span__Event *ev,
                                  const char *key)
{
    return kv_find(ev->attributes, ev->n_attributes, key);
}

/* Stack frames as labels, one per line after the first of a stack trace text; X-Ray
 * shows them as they are. */
static void w_stack(struct jw *w, unsigned *en, const char *trace)
{
    unsigned frames = 0, skipped = 0;
    const char *line = strchr(trace, '\n');
    if (!line)
        return;
    w_key(w, en, "stack");
    w_raw(w, "[");
    while (line && *line) {
        line++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == '\r' || p[len - 1] == ' '))
            len--;
        if (len) {
            if (frames < STACK_FRAMES_MAX) {
                w_raw(w, frames ? ",{\"label\":" : "{\"label\":");
                w_strn(w, p, len, 512);
                w_raw(w, "}");
                frames++;
            } else {
                skipped++;
            }
        }
        line = end;
    }
    w_raw(w, "]");
    if (skipped) {
        w_key(w, en, "skipped");
        w_i64(w, skipped);
    }
}

static void w_cause(struct jw *w, unsigned *n, const otlp_span *span, bool error)
{
    bool remote = outgoing(span->kind);
    unsigned count = 0;
    for (size_t i = 0; i < span->n_events && count < EXCEPTIONS_MAX; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Event *ev = span->events[i];
        if (!ev || !ev->name || strcmp(ev->name, "exception") != 0)
            continue;
        if (count == 0) {
            w_key(w, n, "cause");
            w_raw(w, "{\"exceptions\":[");
        } else {
            w_raw(w, ",");
        }
        char id[17];
        exception_id(span, count, id);
        unsigned en = 0;
        w_raw(w, "{");
        w_kstr(w, &en, "id", id);
        const char *type = any_str(event_attr(ev, "exception.type"));
        const char *msg = any_str(event_attr(ev, "exception.message"));
        const char *trace = any_str(event_attr(ev, "exception.stacktrace"));
        w_kstr(w, &en, "type", type);
        if (msg) {
            w_key(w, &en, "message");
            w_strn(w, msg, strlen(msg), MESSAGE_MAX_BYTES);
        }
        if (remote) {
            w_key(w, &en, "remote");
            w_raw(w, "true");
        }
        if (trace)
            w_stack(w, &en, trace);
        w_raw(w, "}");
        count++;
    }
    if (count) {
        w_raw(w, "]}");
        return;
    }
    const char *msg = span->status ? span->status->message : NULL;
    if (error && msg && msg[0]) {
        char id[17];
        exception_id(span, 0, id);
        unsigned en = 0;
        w_key(w, n, "cause");
        w_raw(w, "{\"exceptions\":[{");
        w_kstr(w, &en, "id", id);
        w_key(w, &en, "message");
        w_strn(w, msg, strlen(msg), MESSAGE_MAX_BYTES);
        if (remote) {
            w_key(w, &en, "remote");
            w_raw(w, "true");
        }
        w_raw(w, "}]}");
    }
}

/* ---- annotations and metadata ------------------------------------------------------- */

static bool in_list(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], key) == 0)
            return true;
    return false;
}

static bool in_any_list(const char *key, const otlp_any *list)
{
    if (!list || list->value_case != VCASE(ARRAY_VALUE) || !list->array_value)
        return false;
    for (size_t i = 0; i < list->array_value->n_values; i++) {
        const char *s = any_str(list->array_value->values[i]);
        if (s && strcmp(s, key) == 0)
            return true;
    }
    return false;
}

static bool indexable(const otlp_any *v)
{
    return v && (v->value_case == VCASE(STRING_VALUE) || v->value_case == VCASE(BOOL_VALUE) ||
                 v->value_case == VCASE(INT_VALUE) ||
                 (v->value_case == VCASE(DOUBLE_VALUE) && v->double_value == v->double_value));
}

static bool is_annotation(const otlp_kv *kv, const struct otlp_xray_options *o,
                          const otlp_any *span_list)
{
    if (!indexable(kv->value))
        return false;
    return o->index_all_attributes ||
           in_list(kv->key, o->indexed_attributes, o->n_indexed_attributes) ||
           in_any_list(kv->key, span_list);
}

static void w_annotations(struct jw *w, unsigned *n, const otlp_span *span,
                          const struct otlp_xray_options *o, const otlp_any *span_list)
{
    unsigned an = 0;
    for (size_t i = 0; i < span->n_attributes && an < ANNOTATION_MAX; i++) {
        const otlp_kv *kv = span->attributes[i];
        if (!kv || !kv->key || !kv->key[0] || !is_annotation(kv, o, span_list))
            continue;
        char key[ANNOTATION_KEY_MAX + 1];
        size_t k = 0;
        for (const char *p = kv->key; *p && k < ANNOTATION_KEY_MAX; p++) {
            char c = *p;
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            key[k++] = ok ? c : '_';
        }
        key[k] = '\0';
        if (an == 0) {
            w_key(w, n, "annotations");
            w_raw(w, "{");
        }
        w_key(w, &an, key);
        const otlp_any *v = kv->value;
        if (v->value_case == VCASE(STRING_VALUE))
            w_strn(w, v->string_value, strlen(v->string_value), ANNOTATION_VALUE_MAX);
        else
            w_any(w, v, 0);
    }
    if (an)
        w_raw(w, "}");
}

static void w_metadata(struct jw *w, unsigned *n, const otlp_span *span, const otlp_resource *res,
                       const struct otlp_xray_options *o, const otlp_any *span_list, bool segment)
{
    unsigned mn = 0;
    char key[512];
    for (size_t i = 0; i < span->n_attributes; i++) {
        const otlp_kv *kv = span->attributes[i];
        if (!kv || !kv->key || is_annotation(kv, o, span_list) ||
            strcmp(kv->key, "aws.xray.annotations") == 0)
            continue;
        if (mn == 0) {
            w_key(w, n, "metadata");
            w_raw(w, "{\"default\":{");
        }
        w_key(w, &mn, kv->key);
        w_any(w, kv->value, 0);
    }
    for (size_t i = 0; segment && res && i < res->n_attributes; i++) {
        const otlp_kv *kv = res->attributes[i];
        if (!kv || !kv->key)
            continue;
        if (mn == 0) {
            w_key(w, n, "metadata");
            w_raw(w, "{\"default\":{");
        }
        snprintf(key, sizeof(key), "otel.resource.%s", kv->key);
        w_key(w, &mn, key);
        w_any(w, kv->value, 0);
    }
    if (mn)
        w_raw(w, "}}");
}

/* ---- the document ------------------------------------------------------------------- */

static bool has_parent(const otlp_span *span)
{
    return span->parent_span_id.len == 8 && !all_zero(span->parent_span_id.data, 8);
}

static bool is_segment(const otlp_span *span)
{
    if (!has_parent(span) || span->kind == KIND(SERVER))
        return true;
    uint32_t has_remote =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN_FLAGS__SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK;
    uint32_t remote =
        OPENTELEMETRY__PROTO__TRACE__V1__SPAN_FLAGS__SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK;
    return span->kind == KIND(CONSUMER) && (span->flags & has_remote) && (span->flags & remote);
}

static int write_doc(const otlp_span *span, const otlp_resource *res,
                     const struct otlp_xray_options *o, struct buf *out, bool with_metadata)
{
    struct jw w = {out, 0};
    struct attrs a = {span->attributes, span->n_attributes, res ? res->attributes : NULL,
                      res ? res->n_attributes : 0};
    bool segment = is_segment(span);
    unsigned n = 0;
    char name[4 * NAME_MAX_CHARS + 1];
    if (sanitize_name(pick_name(span, &a, segment), name) == 0 &&
        sanitize_name(span->name ? span->name : "", name) == 0)
        snprintf(name, sizeof(name), "span");
    char trace_id[OTLP_XRAY_TRACE_ID_LEN + 1];
    otlp_xray_trace_id(span->trace_id.data, trace_id);

    w_raw(&w, "{");
    w_kstr(&w, &n, "name", name);
    w_key(&w, &n, "id");
    w_hex(&w, span->span_id.data, 8);
    w_kstr(&w, &n, "trace_id", trace_id);
    if (has_parent(span)) {
        w_key(&w, &n, "parent_id");
        w_hex(&w, span->parent_span_id.data, 8);
    }
    w_key(&w, &n, "start_time");
    w_time(&w, span->start_time_unix_nano);
    if (span->end_time_unix_nano) {
        w_key(&w, &n, "end_time");
        w_time(&w, span->end_time_unix_nano);
    } else {
        w_key(&w, &n, "in_progress");
        w_raw(&w, "true");
    }
    if (!segment) {
        w_kstr(&w, &n, "type", "subsegment");
        if (is_aws_call(&a))
            w_kstr(&w, &n, "namespace", "aws");
        else if (span->kind == KIND(CLIENT))
            w_kstr(&w, &n, "namespace", "remote");
    } else {
        w_kstr(&w, &n, "origin", origin_of(&a));
        w_kstr(&w, &n, "user", span_str(&a, "enduser.id"));
    }

    int64_t status = http_status(&a);
    bool error = false, throttle = false, fault = false;
    if (status >= 400 && status <= 499) {
        error = true;
        throttle = status == 429;
    } else if (status >= 500 && status <= 599) {
        fault = true;
    } else if (span->status &&
               span->status->code ==
                   OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR) {
        fault = true;
    }
    if (error) {
        w_key(&w, &n, "error");
        w_raw(&w, "true");
    }
    if (throttle) {
        w_key(&w, &n, "throttle");
        w_raw(&w, "true");
    }
    if (fault) {
        w_key(&w, &n, "fault");
        w_raw(&w, "true");
    }
    w_cause(&w, &n, span, error || fault);
    w_http(&w, &n, &a, span->kind, segment);
    w_aws(&w, &n, &a, segment);
    w_sql(&w, &n, &a);

    const otlp_any *span_list = kv_find(a.span, a.n_span, "aws.xray.annotations");
    w_annotations(&w, &n, span, o, span_list);
    if (with_metadata)
        w_metadata(&w, &n, span, res, o, span_list, segment);
    w_raw(&w, "}");
    return w.err;
}

static void truncate_to(struct buf *b, size_t len)
{
    if (b->data && b->len > len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

int otlp_span_to_segment(const otlp_span *span, const otlp_resource *resource,
                         const struct otlp_xray_options *o, struct buf *out,
                         enum otlp_reject *ret_reject)
{
    static const struct otlp_xray_options none = {NULL, 0, false};
    *ret_reject = OTLP_REJECT_NONE;
    if (!o)
        o = &none;
    if (span->trace_id.len != 16 || all_zero(span->trace_id.data, 16))
        *ret_reject = OTLP_REJECT_BAD_TRACE_ID;
    else if (span->span_id.len != 8 || all_zero(span->span_id.data, 8))
        *ret_reject = OTLP_REJECT_BAD_SPAN_ID;
    else if (span->parent_span_id.len != 0 && span->parent_span_id.len != 8)
        *ret_reject = OTLP_REJECT_BAD_PARENT_ID;
    else if (span->start_time_unix_nano == 0 ||
             (span->end_time_unix_nano && span->end_time_unix_nano < span->start_time_unix_nano))
        *ret_reject = OTLP_REJECT_BAD_TIMES;
    if (*ret_reject != OTLP_REJECT_NONE)
        return -EINVAL;

    size_t mark = out->len;
    int r = write_doc(span, resource, o, out, true);
    if ((r == 0 && out->len - mark > XRAY_MAX_DOCUMENT_BYTES) || r == -ENOBUFS) {
        truncate_to(out, mark);
        r = write_doc(span, resource, o, out, false);
        if ((r == 0 && out->len - mark > XRAY_MAX_DOCUMENT_BYTES) || r == -ENOBUFS) {
            truncate_to(out, mark);
            *ret_reject = OTLP_REJECT_TOO_LARGE;
            return -EINVAL;
        }
    }
    if (r != 0)
        truncate_to(out, mark);
    return r;
}
