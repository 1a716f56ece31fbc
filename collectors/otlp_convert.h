/*
 * otlp_convert: one OTLP span -> one X-Ray segment document (JSON text), following the
 * OpenTelemetry Collector's awsxrayexporter mapping (PROTOCOLS.md 10.2) for the parts
 * an X-Ray console needs: ids, segment vs subsegment, name, times, http / aws / sql
 * blocks, error / throttle / fault with their cause, annotations and metadata.
 *
 * Contract
 * - Pure: no I/O, no logging; writes into the caller's buf (nothing else is allocated)
 *   and reads the borrowed protobuf-c messages. Thread-agnostic.
 * - otlp_span_to_segment() appends exactly one JSON object to `out` and returns 0, or
 *   -EINVAL with *ret_reject telling why the span cannot become a document (its ids or
 *   times are not usable), or the buf's error (-ENOBUFS, -ENOMEM). On any error `out` is
 *   left at its length at entry.
 * - A document is at most XRAY_MAX_DOCUMENT_BYTES (64 KiB): when the full one would be
 *   larger, it is written again without metadata; if that is still too large the span
 *   is refused with OTLP_REJECT_TOO_LARGE.
 * - Mapping choices (see the .c DESIGN note): a span becomes a segment when it is a
 *   SERVER span, has no parent, or is a CONSUMER span whose parent is remote; every
 *   other span becomes a standalone subsegment ("type":"subsegment", parent_id). Trace
 *   ids are not checked for an X-Ray timestamp (X-Ray no longer requires it).
 * - The output is accepted by PutTraceSegments validation (tests/endpoint svc_xray.py):
 *   name restricted to X-Ray's characters (<= 200), 16-hex ids, 1-8hex-24hex trace id.
 */
#ifndef OSPREY_OTLP_CONVERT_H
#define OSPREY_OTLP_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"
#include "resource.pb-c.h"
#include "trace.pb-c.h"

typedef Opentelemetry__Proto__Trace__V1__Span otlp_span;
typedef Opentelemetry__Proto__Resource__V1__Resource otlp_resource;

/* Why a span was refused; indexes the receiver's fine reject reasons. */
enum otlp_reject {
    OTLP_REJECT_NONE = 0,
    OTLP_REJECT_BAD_TRACE_ID,  /* not 16 bytes, or all zero */
    OTLP_REJECT_BAD_SPAN_ID,   /* not 8 bytes, or all zero */
    OTLP_REJECT_BAD_PARENT_ID, /* neither empty nor 8 bytes (8 zero bytes: no parent) */
    OTLP_REJECT_BAD_TIMES,     /* no start time, or end before start */
    OTLP_REJECT_TOO_LARGE,     /* over 64 KiB even without metadata */
    OTLP_REJECT_MAX
};

const char *otlp_reject_name(enum otlp_reject r);

struct otlp_xray_options {
    /* Attributes that become annotations (when string, number or bool). */
    const char *const *indexed_attributes;
    size_t n_indexed_attributes;
    bool index_all_attributes;
};

/* The X-Ray trace id for 16 OTLP trace id bytes: "1-xxxxxxxx-" + 24 hex, NUL-terminated. */
#define OTLP_XRAY_TRACE_ID_LEN 35
void otlp_xray_trace_id(const uint8_t id[16], char ret[OTLP_XRAY_TRACE_ID_LEN + 1]);

/* Any OTLP value as JSON text (arrays, objects, bytes as base64, empty as null),
 * appended to out: 0 or the buf's error (out is then left as it was). */
int otlp_any_to_json(const Opentelemetry__Proto__Common__V1__AnyValue *v, struct buf *out);

int otlp_span_to_segment(const otlp_span *span, const otlp_resource *resource,
                         const struct otlp_xray_options *o, struct buf *out,
                         enum otlp_reject *ret_reject);

#endif
