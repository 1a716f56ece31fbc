/*
 * otlp_decode: OTLP/HTTP request bodies -> protobuf-c messages, and the bodies of the
 * answers (Export*ServiceResponse, google.rpc.Status), in both OTLP encodings:
 * binary protobuf (application/x-protobuf) and OTLP JSON (application/json: proto3 JSON
 * with lowerCamelCase or original field names, trace/span ids as hex, enums as integers
 * or names, 64-bit integers as strings or numbers, unknown fields ignored).
 *
 * Contract
 * - Pure: no I/O, no logging. Thread-agnostic. The decoded message is allocated with
 *   malloc; the caller frees it with otlp_message_free().
 * - otlp_decode() returns 0 with *ret set, or
 *     -EBADMSG  the body is not a valid message of the signal's request type;
 *     -E2BIG    the message nests deeper than OTLP_MAX_DEPTH, or decoding it would
 *               allocate more than max_alloc_bytes (a small body must not become a large
 *               tree: both are checked on the wire bytes before protobuf-c unpacks);
 *     -ENOMEM.
 * - Responses are appended to `out`: 0 or the buf's error.
 */
#ifndef OSPREY_OTLP_DECODE_H
#define OSPREY_OTLP_DECODE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"

#define OTLP_MAX_DEPTH 64

enum otlp_signal { OTLP_TRACES = 0, OTLP_METRICS, OTLP_LOGS, OTLP_SIGNAL_MAX };
enum otlp_format { OTLP_PROTOBUF = 0, OTLP_JSON };

/* The request message type of a signal (ExportTraceServiceRequest, ...). */
const ProtobufCMessageDescriptor *otlp_request_descriptor(enum otlp_signal sig);

int otlp_decode(enum otlp_signal sig, enum otlp_format fmt, const uint8_t *body, size_t len,
                size_t max_alloc_bytes, ProtobufCMessage **ret);
void otlp_message_free(ProtobufCMessage *m);

/* The success answer: partial_success set only when rejected > 0 (then with message). */
int otlp_encode_response(enum otlp_signal sig, enum otlp_format fmt, int64_t rejected,
                         const char *message, struct buf *out);
/* The failure answer for HTTP `status`: google.rpc.Status with a matching gRPC code. */
int otlp_encode_status(enum otlp_format fmt, int http_status, const char *message, struct buf *out);

#endif
