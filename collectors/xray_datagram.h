/*
 * xray_datagram: validates one datagram of the X-Ray daemon's UDP protocol and finds the
 * segment document in it.
 *
 * Contract
 * - Pure: no I/O, no logging, no global state; any thread. The only allocation is
 *   jansson's, while parsing the header (unless it is the SDKs' canonical byte string)
 *   and the body; it is freed before returning.
 * - xray_datagram_parse() returns 0 and points ret->body into `buf` (the document exactly
 *   as received, to be forwarded unchanged), or -EINVAL with ret_reason set to the first
 *   rule broken (an index into xray_reject_names, usable as a selfstats reject table).
 * - Framing (aws-xray-daemon 3.x, PROTOCOLS.md 4.1): header = bytes before the first
 *   '\n', body = everything after it. At most XRAY_DATAGRAM_MAX bytes in all. The header
 *   must be a JSON object whose `format` is "json" (any case) and whose `version` is the
 *   integer 1; other keys and whitespace are allowed, and key names match
 *   case-insensitively (Go's encoding/json, which the daemon uses).
 * - Body: the daemon only requires it non-empty (XRAY_DATAGRAM_FRAMING_ONLY: so does
 *   this function, and then it allocates nothing for SDKs' canonical header); by default
 *   Osprey also refuses what X-Ray would
 *   refuse anyway (reported later as UnprocessedTraceSegments and lost): it must be a
 *   JSON object with `id` (16 lowercase hex), `name` (1..200 characters of letters,
 *   digits, whitespace and _ . : / % & # = + \ - @), `start_time` (number), and `end_time`
 *   (number) or `in_progress: true`, and `trace_id` (1-<8 hex>-<24 hex>); when present,
 *   `in_progress` is a bool, `parent_id` is 16 hex, `type` is "subsegment" (which then
 *   requires `parent_id`). Nested subsegments are not inspected. A body that starts with
 *   "T1S" is an OTLP pass-through payload (AWS's UDP span exporter): base64 of at least
 *   one byte.
 */
#ifndef OSPREY_XRAY_DATAGRAM_H
#define OSPREY_XRAY_DATAGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/selfstats.h"

#define XRAY_DATAGRAM_MAX   65536u /* the daemon's read buffer: 64 KiB */
#define XRAY_NAME_MAX_CHARS 200u

/* Why a datagram was refused; the order is that of xray_reject_names. */
enum xray_reject {
    XRAY_REJECT_TOO_LARGE = 0,     /* over 64 KiB (truncated by the socket) */
    XRAY_REJECT_NO_SEPARATOR,      /* no '\n' between header and document */
    XRAY_REJECT_BAD_HEADER,        /* header not {"format":"json","version":1} */
    XRAY_REJECT_EMPTY_BODY,        /* nothing after the '\n' */
    XRAY_REJECT_NOT_JSON,          /* body is not one JSON text */
    XRAY_REJECT_NOT_OBJECT,        /* body is JSON but not an object */
    XRAY_REJECT_BAD_TYPE,          /* `type` present and not "subsegment" */
    XRAY_REJECT_MISSING_ID,        /* no `id` */
    XRAY_REJECT_BAD_ID,            /* `id` not 16 hex digits */
    XRAY_REJECT_MISSING_NAME,      /* no `name` */
    XRAY_REJECT_BAD_NAME,          /* `name` empty, too long or with a refused character */
    XRAY_REJECT_MISSING_START,     /* no `start_time` */
    XRAY_REJECT_BAD_START,         /* `start_time` not a number */
    XRAY_REJECT_MISSING_END,       /* neither `end_time` nor `in_progress: true` */
    XRAY_REJECT_BAD_END,           /* `end_time` not a number */
    XRAY_REJECT_BAD_IN_PROGRESS,   /* `in_progress` not a bool */
    XRAY_REJECT_BAD_PARENT_ID,     /* `parent_id` not 16 hex digits */
    XRAY_REJECT_MISSING_TRACE_ID,  /* no `trace_id` */
    XRAY_REJECT_BAD_TRACE_ID,      /* `trace_id` not 1-<8 hex>-<24 hex> */
    XRAY_REJECT_MISSING_PARENT_ID, /* a subsegment without `parent_id` */
    XRAY_REJECT_BAD_OTLP,          /* "T1S" payload that is not base64 */
    XRAY_REJECT_MAX
};

_Static_assert(XRAY_REJECT_MAX <= SELFSTATS_REJECT_MAX, "reasons must fit the reject table");

/* NULL-terminated, indexed by enum xray_reject. */
extern const char *const xray_reject_names[];

struct xray_datagram {
    const uint8_t *body; /* into the datagram */
    size_t body_len;
    bool otlp; /* a "T1S" OTLP pass-through payload */
};

/* Flags of xray_datagram_parse. */
#define XRAY_DATAGRAM_FRAMING_ONLY 0x1u /* header and non-empty body only, as the daemon */

int xray_datagram_parse(const uint8_t *buf, size_t len, unsigned flags, struct xray_datagram *ret,
                        enum xray_reject *ret_reason);

/* The header rule alone (bytes before the '\n'). */
bool xray_header_valid(const uint8_t *header, size_t len);

/* The coarse drop reason a refusal is counted under. */
enum selfstats_drop xray_reject_drop(enum xray_reject reason);

#endif
