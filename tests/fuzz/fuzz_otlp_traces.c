/* Fuzz the OTLP trace path of the receiver: the same bytes are decoded as a binary
 * ExportTraceServiceRequest and as OTLP JSON, and every span that decodes is converted to
 * an X-Ray segment document, which must be valid JSON of at most 64 KiB. The answers
 * are encoded too. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/otlp_convert.h"
#include "collectors/otlp_decode.h"
#include "trace_service.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void convert_all(ProtobufCMessage *m)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req = (void *)m;
    static const char *const indexed[] = {"http.method", "n"};
    struct otlp_xray_options o = {indexed, 2, false};
    struct buf b;
    buf_init(&b, 1u << 20);
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++)
            for (size_t k = 0; k < rs->scope_spans[j]->n_spans; k++) {
                enum otlp_reject why;
                buf_reset(&b);
                o.index_all_attributes = (k & 1) != 0;
                int r =
                    otlp_span_to_segment(rs->scope_spans[j]->spans[k], rs->resource, &o, &b, &why);
                if (r != 0) {
                    if (r == -EINVAL && (why == OTLP_REJECT_NONE || why >= OTLP_REJECT_MAX))
                        abort();
                    if (b.len != 0)
                        abort();
                    continue;
                }
                if (b.len > 65536)
                    abort();
                json_error_t err;
                json_t *doc = json_loadb((const char *)b.data, b.len, 0, &err);
                if (!doc || !json_is_object(doc) || !json_is_string(json_object_get(doc, "id")))
                    abort();
                json_decref(doc);
            }
    }
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int fmt = OTLP_PROTOBUF; fmt <= OTLP_JSON; fmt++) {
        ProtobufCMessage *m = NULL;
        int r = otlp_decode(OTLP_TRACES, (enum otlp_format)fmt, data, size, 1u << 24, &m);
        if (r == 0) {
            convert_all(m);
            otlp_message_free(m);
        } else if (m || (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)) {
            abort();
        }
    }
    struct buf b;
    buf_init(&b, 1u << 16);
    char msg[64];
    size_t n = size < sizeof(msg) - 1 ? size : sizeof(msg) - 1;
    memcpy(msg, data, n);
    msg[n] = '\0';
    (void)otlp_encode_response(OTLP_TRACES, OTLP_JSON, (int64_t)size, msg, &b);
    (void)otlp_encode_status(OTLP_PROTOBUF, 400, msg, &b);
    buf_release(&b);
    return 0;
}
