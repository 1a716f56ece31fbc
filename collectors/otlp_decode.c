/*
 * otlp_decode: OTLP request bodies to protobuf-c messages.
 *
 * DESIGN
 * Binary bodies go to protobuf-c's unpacker, after one cheap pass over the wire bytes
 * that follows only the message-typed fields of the descriptors: it bounds the nesting
 * depth (protobuf-c recurses without a limit, and OTLP's AnyValue nests freely) and
 * adds up the structs unpacking would allocate, so that a few megabytes of tiny empty
 * messages cannot turn into gigabytes of heap.
 *
 * JSON bodies are parsed by jansson and then walked against the same descriptors, so
 * one generic routine fills any OTLP message (no hand-written per-message code to keep in
 * step with the .proto files). The message is built exactly as protobuf-c's unpacker
 * would build it (malloc'd strings, bytes and arrays, oneof case set), so
 * protobuf_c_message_free_unpacked() frees both kinds. Deviations of OTLP JSON from
 * proto3 JSON are honoured: trace_id / span_id / parent_span_id are hex, not base64;
 * enums are integers (names are accepted too).
 */
#include "collectors/otlp_decode.h"

#include "agent/jsonw.h"
#include "logs_service.pb-c.h"
#include "metrics_service.pb-c.h"
#include "status.pb-c.h"
#include "trace_service.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ProtobufCMessageDescriptor *otlp_request_descriptor(enum otlp_signal sig)
{
    switch (sig) {
    case OTLP_TRACES:
        return &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
    case OTLP_METRICS:
        return &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor;
    case OTLP_LOGS:
        return &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor;
    default:
        return NULL;
    }
}

void otlp_message_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

/* ---- binary: the pre-pass --------------------------------------------------------- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -EBADMSG;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -EBADMSG;
}

static const ProtobufCFieldDescriptor *field_by_id(const ProtobufCMessageDescriptor *d, uint32_t id)
{
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].id == id)
            return &d->fields[i];
    return NULL;
}

struct prescan {
    size_t alloc;
    size_t max_alloc;
};

static int prescan_msg(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                       int depth, struct prescan *ps)
{
    if (depth > OTLP_MAX_DEPTH)
        return -E2BIG;
    ps->alloc += d->sizeof_message;
    if (ps->alloc > ps->max_alloc)
        return -E2BIG;
    while (p < end) {
        uint64_t key, len;
        int r = read_varint(&p, end, &key);
        if (r != 0)
            return r;
        switch (key & 7) {
        case 0:
            r = read_varint(&p, end, &len);
            if (r != 0)
                return r;
            ps->alloc += 8; /* a repeated varint's slot */
            break;
        case 1:
            if (end - p < 8)
                return -EBADMSG;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return -EBADMSG;
            p += 4;
            break;
        case 2: {
            r = read_varint(&p, end, &len);
            if (r != 0)
                return r;
            if (len > (uint64_t)(end - p))
                return -EBADMSG;
            const ProtobufCFieldDescriptor *f = field_by_id(d, (uint32_t)(key >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                ps->alloc += sizeof(void *);
                r = prescan_msg(f->descriptor, p, p + len, depth + 1, ps);
                if (r != 0)
                    return r;
            } else if (f && f->label == PROTOBUF_C_LABEL_REPEATED &&
                       f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_BYTES) {
                ps->alloc += 8 * (size_t)len; /* packed: at most one 8-byte slot per byte */
            } else {
                ps->alloc += (size_t)len + 16;
            }
            p += len;
            break;
        }
        default:
            return -EBADMSG; /* groups: not in OTLP */
        }
        if (ps->alloc > ps->max_alloc)
            return -E2BIG;
    }
    return 0;
}

/* ---- JSON -------------------------------------------------------------------------- */

/* Does a JSON key name this field: its proto name, or the lowerCamelCase JSON name? */
static bool key_matches(const char *key, const char *name)
{
    if (strcmp(key, name) == 0)
        return true;
    const char *k = key;
    for (const char *n = name; *n; n++) {
        char want = *n;
        if (want == '_' && n[1]) {
            n++;
            want = (*n >= 'a' && *n <= 'z') ? (char)(*n - 'a' + 'A') : *n;
        }
        if (*k++ != want)
            return false;
    }
    return *k == '\0';
}

static const ProtobufCFieldDescriptor *field_by_key(const ProtobufCMessageDescriptor *d,
                                                    const char *key)
{
    for (unsigned i = 0; i < d->n_fields; i++)
        if (key_matches(key, d->fields[i].name))
            return &d->fields[i];
    return NULL;
}

static bool hex_field(const ProtobufCFieldDescriptor *f)
{
    return strcmp(f->name, "trace_id") == 0 || strcmp(f->name, "span_id") == 0 ||
           strcmp(f->name, "parent_span_id") == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static int decode_bytes(const ProtobufCFieldDescriptor *f, json_t *v, ProtobufCBinaryData *ret)
{
    if (!json_is_string(v))
        return -EBADMSG;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    ret->len = 0;
    ret->data = NULL;
    if (len == 0)
        return 0;
    uint8_t *out = malloc(len);
    if (!out)
        return -ENOMEM;
    size_t n = 0;
    if (hex_field(f)) {
        if (len % 2)
            goto bad;
        for (size_t i = 0; i < len; i += 2) {
            int hi = hexval(s[i]), lo = hexval(s[i + 1]);
            if (hi < 0 || lo < 0)
                goto bad;
            out[n++] = (uint8_t)(hi << 4 | lo);
        }
    } else {
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t i = 0;
        for (; i < len && s[i] != '='; i++) {
            int x = b64val(s[i]);
            if (x < 0)
                goto bad;
            acc = (acc << 6) | (uint32_t)x;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[n++] = (uint8_t)(acc >> bits);
            }
        }
        for (; i < len; i++)
            if (s[i] != '=')
                goto bad;
    }
    ret->data = out;
    ret->len = n;
    return 0;
bad:
    free(out);
    return -EBADMSG;
}

static int json_i64(json_t *v, int64_t *ret)
{
    if (json_is_integer(v)) {
        *ret = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return -EBADMSG;
        *ret = (int64_t)d;
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0) {
        char *end;
        errno = 0;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (*end || errno)
            return -EBADMSG;
        *ret = x;
        return 0;
    }
    return -EBADMSG;
}

static int json_u64(json_t *v, uint64_t *ret)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -EBADMSG;
        *ret = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < 0 || d > 1.8e19)
            return -EBADMSG;
        *ret = (uint64_t)d;
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0) {
        const char *s = json_string_value(v);
        char *end;
        if (s[0] == '-' || s[0] == ' ')
            return -EBADMSG;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (*end || errno)
            return -EBADMSG;
        *ret = x;
        return 0;
    }
    return -EBADMSG;
}

static int json_double(json_t *v, double *ret)
{
    if (json_is_number(v)) {
        *ret = json_number_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -EBADMSG;
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0)
        *ret = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *ret = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *ret = -INFINITY;
    else {
        char *end;
        *ret = strtod(s, &end);
        if (!s[0] || *end)
            return -EBADMSG;
    }
    return 0;
}

static int json_to_message(const ProtobufCMessageDescriptor *d, json_t *obj, int depth,
                           ProtobufCMessage **ret);

/* Store one value of field f at `slot` (the field itself, or an element of its array). */
static int set_value(const ProtobufCFieldDescriptor *f, json_t *v, void *slot, int depth)
{
    int64_t i = 0;
    uint64_t u = 0;
    double dbl = 0;
    int r = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((r = json_i64(v, &i)) == 0 && (i < INT32_MIN || i > INT32_MAX))
            r = -EBADMSG;
        if (r == 0)
            *(int32_t *)slot = (int32_t)i;
        return r;
    case PROTOBUF_C_TYPE_ENUM:
        if (json_is_string(v) && !json_is_number(v)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
            if (ev) {
                *(int32_t *)slot = ev->value;
                return 0;
            }
        }
        if ((r = json_i64(v, &i)) == 0 && (i < INT32_MIN || i > INT32_MAX))
            r = -EBADMSG;
        if (r == 0)
            *(int32_t *)slot = (int32_t)i;
        return r;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((r = json_u64(v, &u)) == 0 && u > UINT32_MAX)
            r = -EBADMSG;
        if (r == 0)
            *(uint32_t *)slot = (uint32_t)u;
        return r;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((r = json_i64(v, &i)) == 0)
            *(int64_t *)slot = i;
        return r;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((r = json_u64(v, &u)) == 0)
            *(uint64_t *)slot = u;
        return r;
    case PROTOBUF_C_TYPE_FLOAT:
        if ((r = json_double(v, &dbl)) == 0)
            *(float *)slot = (float)dbl;
        return r;
    case PROTOBUF_C_TYPE_DOUBLE:
        if ((r = json_double(v, &dbl)) == 0)
            *(double *)slot = dbl;
        return r;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return -EBADMSG;
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return -EBADMSG;
        char *s = strdup(json_string_value(v));
        if (!s)
            return -ENOMEM;
        *(char **)slot = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return decode_bytes(f, v, slot);
    case PROTOBUF_C_TYPE_MESSAGE:
        return json_to_message(f->descriptor, v, depth + 1, slot);
    }
    return -EBADMSG;
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

static int set_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v, int depth)
{
    char *base = (char *)m;
    void *slot = base + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = (size_t *)(base + f->quantifier_offset);
        if (!json_is_array(v) || *n)
            return -EBADMSG; /* not a list, or the field given twice (name and JSON name) */
        size_t count = json_array_size(v);
        if (count == 0)
            return 0;
        size_t es = elem_size(f->type);
        char *arr = calloc(count, es);
        if (!arr)
            return -ENOMEM;
        *(void **)slot = arr;
        for (size_t i = 0; i < count; i++) {
            int r = set_value(f, json_array_get(v, i), arr + i * es, depth);
            if (r != 0)
                return r; /* *n counts only complete elements: the free stays exact */
            (*n)++;
        }
        return 0;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
        if (*which)
            return -EBADMSG; /* two members of one oneof */
        int r = set_value(f, v, slot, depth);
        if (r == 0)
            *which = f->id;
        return r;
    }
    /* A field set twice must not leak what it held. */
    if ((f->type == PROTOBUF_C_TYPE_MESSAGE && *(void **)slot) ||
        (f->type == PROTOBUF_C_TYPE_STRING && *(char **)slot != f->default_value &&
         *(char **)slot) ||
        (f->type == PROTOBUF_C_TYPE_BYTES && ((ProtobufCBinaryData *)slot)->data))
        return -EBADMSG;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        /* Until set_value succeeds the slot must keep the static default. */
        char *s = NULL;
        int r = set_value(f, v, &s, depth);
        if (r == 0)
            *(char **)slot = s;
        return r;
    }
    return set_value(f, v, slot, depth);
}

static int json_to_message(const ProtobufCMessageDescriptor *d, json_t *obj, int depth,
                           ProtobufCMessage **ret)
{
    *ret = NULL;
    if (depth > OTLP_MAX_DEPTH)
        return -E2BIG;
    if (!json_is_object(obj))
        return -EBADMSG;
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (!m)
        return -ENOMEM;
    protobuf_c_message_init(d, m);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const ProtobufCFieldDescriptor *f = field_by_key(d, key);
        if (!f || json_is_null(v))
            continue; /* unknown fields are ignored, null is the default */
        int r = set_field(m, f, v, depth);
        if (r != 0) {
            protobuf_c_message_free_unpacked(m, NULL);
            return r;
        }
    }
    *ret = m;
    return 0;
}

int otlp_decode(enum otlp_signal sig, enum otlp_format fmt, const uint8_t *body, size_t len,
                size_t max_alloc_bytes, ProtobufCMessage **ret)
{
    const ProtobufCMessageDescriptor *d = otlp_request_descriptor(sig);
    *ret = NULL;
    if (!d)
        return -EINVAL;
    if (fmt == OTLP_PROTOBUF) {
        struct prescan ps = {0, max_alloc_bytes};
        int r = prescan_msg(d, body, body + len, 0, &ps);
        if (r != 0)
            return r;
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, body);
        if (!m)
            return -EBADMSG;
        *ret = m;
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return -EBADMSG;
    int r = json_to_message(d, root, 0, ret);
    json_decref(root);
    return r;
}

/* ---- answers ------------------------------------------------------------------------ */

static int pack_into(const ProtobufCMessage *m, struct buf *out)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    int r = buf_reserve(out, n ? n : 1);
    if (r != 0)
        return r;
    buf_advance(out, protobuf_c_message_pack(m, out->data + out->len));
    return 0;
}

int otlp_encode_response(enum otlp_signal sig, enum otlp_format fmt, int64_t rejected,
                         const char *message, struct buf *out)
{
    static const char *const json_names[OTLP_SIGNAL_MAX] = {"rejectedSpans", "rejectedDataPoints",
                                                            "rejectedLogRecords"};
    if ((unsigned)sig >= OTLP_SIGNAL_MAX)
        return -EINVAL;
    if (!message)
        message = "";
    if (fmt == OTLP_JSON) {
        if (rejected <= 0)
            return buf_append_str(out, "{}");
        int r = buf_printf(out, "{\"partialSuccess\":{\"%s\":\"%" PRId64 "\",\"errorMessage\":",
                           json_names[sig], rejected);
        if (r == 0)
            r = jsonw_cstring(out, message);
        if (r == 0)
            r = buf_append_str(out, "}}");
        return r;
    }
    switch (sig) {
    case OTLP_TRACES: {
        Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
            OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
        Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
            OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
        ps.rejected_spans = rejected;
        ps.error_message = (char *)message;
        if (rejected > 0)
            resp.partial_success = &ps;
        return pack_into(&resp.base, out);
    }
    case OTLP_METRICS: {
        Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse resp =
            OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
        Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
            OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
        ps.rejected_data_points = rejected;
        ps.error_message = (char *)message;
        if (rejected > 0)
            resp.partial_success = &ps;
        return pack_into(&resp.base, out);
    }
    default: {
        Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse resp =
            OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_RESPONSE__INIT;
        Opentelemetry__Proto__Collector__Logs__V1__ExportLogsPartialSuccess ps =
            OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_PARTIAL_SUCCESS__INIT;
        ps.rejected_log_records = rejected;
        ps.error_message = (char *)message;
        if (rejected > 0)
            resp.partial_success = &ps;
        return pack_into(&resp.base, out);
    }
    }
}

/* gRPC status codes (google.rpc.Code) for the HTTP statuses the receiver answers. */
static int grpc_code(int http_status)
{
    switch (http_status) {
    case 400:
    case 413:
    case 415:
        return 3; /* INVALID_ARGUMENT */
    case 404:
        return 5; /* NOT_FOUND */
    case 405:
        return 12; /* UNIMPLEMENTED */
    case 429:
        return 8; /* RESOURCE_EXHAUSTED */
    case 503:
        return 14; /* UNAVAILABLE */
    default:
        return 13; /* INTERNAL */
    }
}

int otlp_encode_status(enum otlp_format fmt, int http_status, const char *message, struct buf *out)
{
    if (!message)
        message = "";
    int code = grpc_code(http_status);
    if (fmt == OTLP_JSON) {
        int r = buf_printf(out, "{\"code\":%d,\"message\":", code);
        if (r == 0)
            r = jsonw_cstring(out, message);
        if (r == 0)
            r = buf_append_str(out, "}");
        return r;
    }
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = code;
    st.message = (char *)message;
    return pack_into(&st.base, out);
}
