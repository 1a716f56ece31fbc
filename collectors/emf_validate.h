/*
 * emf_validate: checks one Embedded Metric Format (EMF) document — one line as received
 * by the EMF listener — against the EMF specification, and finds where it goes.
 *
 * Contract
 * - Pure: no I/O, no logging, no global state; any thread. The only allocation is what
 *   jansson needs to parse the line (the document tree, owned by struct emf_doc until
 *   emf_doc_release()).
 * - emf_validate() returns 0 and fills `ret_doc`, or -EINVAL and sets `ret_reason` to the
 *   first rule broken (an index into emf_reject_names, usable as a selfstats reject
 *   table). On error nothing is left to release.
 * - Rules (spec: "Specification: Embedded metric format", CloudWatch user guide):
 *   the line is exactly one JSON object; `_aws` is an object with `Timestamp` (a number
 *   >= 0, ms since the epoch) and `CloudWatchMetrics` (an array of directives). A
 *   directive is an object with `Namespace` (string, 1..255 bytes), `Dimensions` (array of
 *   arrays of 0..30 dimension keys, each a 1..255-byte string naming a root member that
 *   is a string of at most 1024 characters) and `Metrics` (array of at most 100 objects:
 *   `Name` a 1..255-byte string, `Unit` a CloudWatch StandardUnit (default None),
 *   `StorageResolution` 1 or 60 (default 60)). Each metric's root member is a number or a
 *   non-empty array of at most 100 numbers. Members are case-sensitive; unknown members
 *   are ignored.
 * - Routing: the log group is `_aws.LogGroupName`, else the legacy top-level
 *   `log_group_name` (the CloudWatch agent's "v0" form); a document without one is
 *   rejected (the CloudWatch agent drops it too). The stream is `_aws.LogStreamName`,
 *   else `log_stream_name`, else NULL (the listener applies its default). Names must be
 *   ones CloudWatch Logs accepts (group: 1..512 of [.-_/#A-Za-z0-9]; stream: 1..512, no
 *   ':' or '*').
 */
#ifndef OSPREY_EMF_VALIDATE_H
#define OSPREY_EMF_VALIDATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/record.h"

#define EMF_MAX_DIMENSION_KEYS  30
#define EMF_MAX_METRICS         100
#define EMF_MAX_VALUES          100
#define EMF_MAX_DIMENSION_VALUE 1024 /* characters */
#define EMF_MAX_NAME            255  /* namespace, metric and dimension names, bytes */
#define EMF_MAX_LOG_NAME        512  /* log group and stream names, bytes */

/* Why a line was refused. The order is the order of emf_reject_names. */
enum emf_reject {
    EMF_REJECT_NOT_JSON = 0,           /* not parseable as one JSON text */
    EMF_REJECT_NOT_OBJECT,             /* JSON, but not an object */
    EMF_REJECT_NO_AWS,                 /* no `_aws` object */
    EMF_REJECT_BAD_TIMESTAMP,          /* Timestamp missing, not a number, or negative */
    EMF_REJECT_NO_DIRECTIVES,          /* CloudWatchMetrics missing or not an array */
    EMF_REJECT_BAD_DIRECTIVE,          /* a directive is not an object */
    EMF_REJECT_BAD_NAMESPACE,          /* Namespace missing, not a string, empty or too long */
    EMF_REJECT_BAD_DIMENSIONS,         /* Dimensions not an array of arrays of key strings */
    EMF_REJECT_TOO_MANY_DIMENSIONS,    /* a dimension set with more than 30 keys */
    EMF_REJECT_BAD_DIMENSION_VALUE,    /* a key's root member missing or not a string */
    EMF_REJECT_DIMENSION_VALUE_LONG,   /* a dimension value over 1024 characters */
    EMF_REJECT_BAD_METRICS,            /* Metrics missing or not an array */
    EMF_REJECT_TOO_MANY_METRICS,       /* more than 100 metrics in a directive */
    EMF_REJECT_BAD_METRIC,             /* a metric not an object, or its Name bad */
    EMF_REJECT_BAD_UNIT,               /* Unit not a StandardUnit */
    EMF_REJECT_BAD_STORAGE_RESOLUTION, /* StorageResolution not 1 or 60 */
    EMF_REJECT_BAD_METRIC_VALUE,       /* a metric's root member missing, not numeric, empty */
    EMF_REJECT_TOO_MANY_VALUES,        /* a value array of more than 100 numbers */
    EMF_REJECT_NO_LOG_GROUP,           /* no log group name */
    EMF_REJECT_BAD_LOG_GROUP,          /* a log group name CloudWatch Logs refuses */
    EMF_REJECT_BAD_LOG_STREAM,         /* a log stream name that is not a valid string */
    /* The listener's own (emf_validate never returns these): */
    EMF_REJECT_LINE_TOO_LONG, /* a TCP line or UDP datagram line over the event limit */
    EMF_REJECT_TCP_REFUSED,   /* a connection over max_connections (not a drop) */
    EMF_REJECT_MAX,
};

/* NULL-terminated names of enum emf_reject (a selfstats reject table). */
extern const char *const emf_reject_names[];

struct emf_doc {
    json_t *root;           /* owned */
    const char *log_group;  /* borrowed from root */
    const char *log_stream; /* borrowed from root; NULL = not in the document */
    double timestamp_ms;
    json_t *directives; /* borrowed: _aws.CloudWatchMetrics, validated */
};

int emf_validate(const uint8_t *line, size_t len, struct emf_doc *ret_doc,
                 enum emf_reject *ret_reason);
void emf_doc_release(struct emf_doc *doc);

/* One metric of a validated document, for walking it without re-checking. */
struct emf_metric {
    const char *namespace_;
    const char *name;
    enum metric_unit unit;
    uint8_t storage_resolution;
    json_t *value;      /* number or array of numbers */
    json_t *dimensions; /* the directive's Dimensions (array of arrays) */
};

/* The i-th metric of directive d (both validated): fills `ret`. */
void emf_metric_get(const struct emf_doc *doc, size_t d, size_t i, struct emf_metric *ret);

#endif
