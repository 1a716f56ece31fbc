/*
 * cw_metrics_encode: PutMetricData request bodies, built point by point, for the query
 * (form) protocol and AWS JSON 1.0 — the pure half of the cloudwatch exporter.
 *
 * Contract
 * - Pure: no I/O, no logging, no clock (the caller passes `now`), no global state.
 *   Thread-agnostic; a struct cwm_batch belongs to one owner.
 * - cwm_point_check() says whether CloudWatch would accept a point at all: 0, -EINVAL
 *   (value NaN/Inf or beyond +-2^360, storage resolution other than 1/60, unit out of
 *   range, namespace / metric / dimension text CloudWatch refuses), or -ERANGE (timestamp
 *   outside the accepted window, with safety margins: see CWM_MAX_AGE_NS).
 * - cwm_batch_add() takes a (checked) point into the batch, packing it into an existing
 *   datum where the rule below allows, and keeps the exact encoded size of the body up to
 *   date: cwm_batch_bytes() is always the length cwm_batch_encode() will write. It
 *   returns 0, -ENOSPC when the point does not fit (max_datums datums, or the body would
 *   pass max_bytes: the batch is left unchanged; seal it and add the point to a fresh
 *   one), -E2BIG when the point could not fit even in an empty batch, -EINVAL for a
 *   value that cannot be encoded (non-finite), or -ENOMEM.
 * - Packing rule: a single-value point joins an earlier datum of the batch with the same
 *   metric name, the same dimensions (names and values, same order), the same unit, the
 *   same storage resolution and the same timestamp period (floor(ts / resolution): the
 *   second for high resolution, the minute for standard). The datum keeps the timestamp
 *   of its first point. Identical values add to their count; at most CWM_MAX_VALUES
 *   distinct values per datum, after which a new datum is started. A datum of one value
 *   seen once is sent as Value; otherwise as Values + Counts. StatisticValues points are
 *   never packed.
 * - Limits: CWM_MAX_DATUMS datums and CWM_MAX_BODY_BYTES bytes of uncompressed body per
 *   request (the caller may choose lower ones).
 */
#ifndef OSPREY_CW_METRICS_ENCODE_H
#define OSPREY_CW_METRICS_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"
#include "agent/record.h"

#define CWM_MAX_DATUMS     1000u
#define CWM_MAX_BODY_BYTES 1048576u
#define CWM_MAX_VALUES     150u
#define CWM_VALUE_LIMIT    0x1p360
/* CloudWatch accepts timestamps from 14 days ago to 2 hours ahead of its own clock. A
 * batch may be retried for minutes and one refused point fails the whole request, so the
 * exporter keeps a margin: 1 hour on the old side, 5 minutes (clock skew) ahead. */
#define CWM_MAX_AGE_NS    ((14ull * 24 - 1) * 3600 * 1000000000ull)
#define CWM_MAX_FUTURE_NS ((2ull * 3600 - 300) * 1000000000ull)
/* Longest text of a double as cwm_format_double() writes it, with the NUL. */
#define CWM_NUMBER_MAX 32

enum cwm_protocol {
    CWM_QUERY = 0, /* application/x-www-form-urlencoded, Action=PutMetricData */
    CWM_JSON,      /* application/x-amz-json-1.0, GraniteServiceVersion20100801 */
};

/* RFC 3986 percent-encoding as AWS query bodies want it: the unreserved set
 * (A-Z a-z 0-9 - . _ ~) as is, every other byte as %XX with upper-case hex. */
size_t cwm_form_encoded_len(const void *s, size_t len);
int cwm_form_append(struct buf *b, const void *s, size_t len);

/* Shortest text ("%.15g" to "%.17g") that reads back as the same finite double; returns
 * its length. */
size_t cwm_format_double(double v, char out[CWM_NUMBER_MAX]);

int cwm_point_check(const struct metric_point *p, uint64_t ts_ns, uint64_t now_ns);

enum cwm_datum_kind {
    CWM_DATUM_VALUE = 0, /* one value, seen once: Value */
    CWM_DATUM_VALUES,    /* Values + Counts */
    CWM_DATUM_STATS,     /* StatisticValues */
};

struct cwm_datum {
    uint32_t key_off; /* in the arena: "name\0" then "dim\0value\0" per dimension */
    uint32_t key_len;
    uint8_t n_dims;
    uint8_t unit;
    uint8_t resolution;
    uint8_t kind;
    uint64_t ts_ms;
    uint64_t period; /* ts / resolution, the packing period */
    uint64_t hash;
    double value;         /* CWM_DATUM_VALUE */
    double stats[4];      /* SampleCount, Sum, Minimum, Maximum */
    uint32_t first, last; /* CWM_DATUM_VALUES: chain in the value pool */
    uint32_t n_values;
    uint32_t base_len;  /* encoded bytes without the value part */
    uint32_t value_len; /* encoded bytes of the value part */
};

struct cwm_value {
    double value;
    double count;
    uint32_t next; /* UINT32_MAX = end */
};

struct cwm_batch {
    enum cwm_protocol proto;
    size_t max_bytes;
    uint32_t max_datums;
    char namespace_[METRIC_MAX_NAME + 1];
    size_t header_len; /* everything but the datums (and, for JSON, their commas) */
    size_t bytes;      /* the encoded body, exactly */
    uint64_t points;   /* points taken */
    struct cwm_datum *datums;
    uint32_t n_datums;
    uint32_t *table; /* open addressing: datum index + 1, 0 = empty */
    uint32_t table_mask;
    struct cwm_value *values;
    uint32_t n_values, values_cap, values_max;
    struct buf arena;   /* datum keys */
    struct buf key;     /* the key of the point being added */
    struct buf scratch; /* encodings being measured */
};

/* max_bytes <= CWM_MAX_BODY_BYTES and max_datums <= CWM_MAX_DATUMS (0 = those). 0 or
 * -ENOMEM; cwm_batch_release() is safe on a zeroed or half-built batch. */
int cwm_batch_init(struct cwm_batch *b, enum cwm_protocol proto, size_t max_bytes,
                   uint32_t max_datums);
void cwm_batch_release(struct cwm_batch *b);
/* Empty the batch and start one for `namespace_` (-EINVAL when it is too long). */
int cwm_batch_reset(struct cwm_batch *b, const char *namespace_);
int cwm_batch_add(struct cwm_batch *b, const struct metric_point *p, uint64_t ts_ns);
static inline size_t cwm_batch_bytes(const struct cwm_batch *b)
{
    return b->bytes;
}
static inline uint32_t cwm_batch_datums(const struct cwm_batch *b)
{
    return b->n_datums;
}
/* Append the request body (exactly cwm_batch_bytes() bytes) to `out`. */
int cwm_batch_encode(const struct cwm_batch *b, struct buf *out);

#endif
