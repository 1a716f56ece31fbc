/*
 * record: the unit that travels through the ring, and its binary encoding.
 *
 * Contract
 * - Records are self-describing: strings (namespace, metric and dimension names, log
 *   group and stream) travel inside the record, NUL-terminated, so the export side needs
 *   no shared tables and a decoded view points straight into ring memory (no copy, no
 *   allocation). A view is valid until the ring record is consumed.
 * - record_*_size() tells how many bytes the encoding needs; record_*_encode() writes
 *   exactly that many into caller memory (usually a ring reservation) and returns 0, or
 *   -EINVAL for a value out of the model's limits (too many dimensions, string too long),
 *   or -ENOSPC when `cap` is too small.
 * - record_decode() validates every length against the buffer: 0, or -EBADMSG for a
 *   malformed record (a batch's events are checked as record_log_batch_next() walks
 *   them). Pure; thread-agnostic.
 * - `source` is the producing collector instance's id; `cookie` is an opaque position in
 *   that source (for a tailed file, the offset just after the event) that comes back in
 *   delivery acknowledgements so the source can checkpoint after delivery. 0 = none.
 */
#ifndef OSPREY_RECORD_H
#define OSPREY_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RECORD_LOG_BATCH: many log events of one group/stream in one ring record, so a tailed
 * file pays the ring's per-record cost once per batch rather than once per line. Only the
 * pipeline reads it: it hands exporters one RECORD_LOG view per event (event i carries
 * cookie hdr.cookie + i and its own time), so no exporter and no ack path sees batches.
 * It lies past RECORD_KIND_MAX so loops over the kinds exporters take never meet it. */
enum record_kind {
    RECORD_METRIC = 1,
    RECORD_LOG = 2,
    RECORD_SEGMENT = 3,
    RECORD_KIND_MAX,
    RECORD_LOG_BATCH = 16
};

#define RECORD_KIND_BIT(k) (1u << (k))
#define RECORD_KINDS_ALL                                                                           \
    (RECORD_KIND_BIT(RECORD_METRIC) | RECORD_KIND_BIT(RECORD_LOG) | RECORD_KIND_BIT(RECORD_SEGMENT))

const char *record_kind_name(enum record_kind kind);

/* record_hdr.flags */
/* LOG: the message is an Embedded Metric Format document (CloudWatch Logs gets it with
 * "x-amzn-logs-format: json/emf" and extracts its metrics itself). */
#define RECORD_FLAG_EMF 0x1u
/* METRIC: for local sinks and local alarms only. The cloudwatch exporter skips it (counts
 * it, acknowledges it as accepted): CloudWatch receives the value another way (EMF). */
#define RECORD_FLAG_LOCAL_ONLY 0x2u

struct record_hdr {
    uint16_t kind;
    uint16_t source;
    uint32_t flags; /* RECORD_FLAG_* */
    uint64_t ts_ns; /* event time, UNIX epoch ns */
    uint64_t cookie;
};

/* CloudWatch StandardUnit values, in the service model's order. */
enum metric_unit {
    METRIC_UNIT_NONE = 0,
    METRIC_UNIT_SECONDS,
    METRIC_UNIT_MICROSECONDS,
    METRIC_UNIT_MILLISECONDS,
    METRIC_UNIT_BYTES,
    METRIC_UNIT_KILOBYTES,
    METRIC_UNIT_MEGABYTES,
    METRIC_UNIT_GIGABYTES,
    METRIC_UNIT_TERABYTES,
    METRIC_UNIT_BITS,
    METRIC_UNIT_KILOBITS,
    METRIC_UNIT_MEGABITS,
    METRIC_UNIT_GIGABITS,
    METRIC_UNIT_TERABITS,
    METRIC_UNIT_PERCENT,
    METRIC_UNIT_COUNT,
    METRIC_UNIT_BYTES_PER_SECOND,
    METRIC_UNIT_KILOBYTES_PER_SECOND,
    METRIC_UNIT_MEGABYTES_PER_SECOND,
    METRIC_UNIT_GIGABYTES_PER_SECOND,
    METRIC_UNIT_TERABYTES_PER_SECOND,
    METRIC_UNIT_BITS_PER_SECOND,
    METRIC_UNIT_KILOBITS_PER_SECOND,
    METRIC_UNIT_MEGABITS_PER_SECOND,
    METRIC_UNIT_GIGABITS_PER_SECOND,
    METRIC_UNIT_TERABITS_PER_SECOND,
    METRIC_UNIT_COUNT_PER_SECOND,
    METRIC_UNIT_MAX
};

/* "Percent" -> METRIC_UNIT_PERCENT; -EINVAL for a name CloudWatch does not define. */
int metric_unit_parse(const char *name, enum metric_unit *ret_unit);
const char *metric_unit_name(enum metric_unit unit);

#define METRIC_MAX_DIMS      30  /* PutMetricData: 30 dimensions per datum */
#define METRIC_MAX_NAME      255 /* metric, namespace, dimension name and value */
#define METRIC_MAX_DIM_VALUE 1024

enum metric_value_kind {
    METRIC_VALUE_SINGLE = 0, /* value */
    METRIC_VALUE_STATS = 1,  /* StatisticValues: count, sum, min, max */
};

struct metric_dim {
    const char *name;
    const char *value;
};

struct metric_point {
    const char *namespace_;
    const char *name;
    enum metric_unit unit;
    uint8_t storage_resolution; /* 1 (high resolution) or 60 */
    enum metric_value_kind value_kind;
    double value;
    double count, sum, min, max;
    size_t n_dims;
    struct metric_dim dims[METRIC_MAX_DIMS];
};

struct log_event {
    const char *group;
    const char *stream;
    const uint8_t *message;
    uint32_t message_len;
};

struct log_batch {
    const char *group;
    const char *stream;
    uint32_t n_events;
    const uint8_t *events; /* n_events x {uint64 ts_ns, uint32 len, len bytes}, unaligned */
    size_t events_len;
};

struct record_view {
    struct record_hdr hdr;
    union {
        struct metric_point metric;
        struct log_event log;
        struct log_batch log_batch;
        struct {
            const uint8_t *data;
            uint32_t len;
        } segment;
    } u;
};

size_t record_metric_size(const struct metric_point *p);
int record_metric_encode(void *dst, size_t cap, const struct record_hdr *hdr,
                         const struct metric_point *p);

size_t record_log_size(const struct log_event *ev);
int record_log_encode(void *dst, size_t cap, const struct record_hdr *hdr,
                      const struct log_event *ev);

/* A batch is written in place: begin (header and names), add events while they fit,
 * finish (returns the bytes used, to commit). The record's hdr.cookie is the first
 * event's cookie; the events' cookies follow one by one. */
#define RECORD_LOG_BATCH_EVENT_OVERHEAD 12u
struct record_log_batch_writer {
    uint8_t *base;
    uint8_t *pos;
    uint8_t *end;
    uint32_t n_events;
};
/* Bytes a batch needs before its first event. */
size_t record_log_batch_overhead(size_t group_len, size_t stream_len);
/* -ENOSPC when `cap` cannot hold the header and names. */
int record_log_batch_begin(struct record_log_batch_writer *w, void *dst, size_t cap,
                           const struct record_hdr *hdr, const char *group, size_t group_len,
                           const char *stream, size_t stream_len);
/* -ENOSPC when the event does not fit what is left; the batch is unchanged then. */
int record_log_batch_add(struct record_log_batch_writer *w, uint64_t ts_ns, const uint8_t *msg,
                         uint32_t len);
size_t record_log_batch_finish(struct record_log_batch_writer *w);

/* Walks the events of a decoded RECORD_LOG_BATCH view. `index` and `offset` may be kept
 * to resume a walk on the same record later. */
struct log_batch_cursor {
    uint32_t index;
    size_t offset;
};
/* The cursor's event as a RECORD_LOG view, and the cursor moved past it; false at the
 * end, or at an event whose length runs past the record: a walk that ends with
 * cur->index < n_events, or one that ends short of events_len, found a malformed batch.
 * record_log_batch_complete() tells the two apart from a good end. */
bool record_log_batch_next(const struct record_view *batch, struct log_batch_cursor *cur,
                           struct record_view *ret_event);
/* After next() returned false: true when the walk covered the batch exactly. */
bool record_log_batch_complete(const struct record_view *batch, const struct log_batch_cursor *cur);

size_t record_segment_size(size_t len);
int record_segment_encode(void *dst, size_t cap, const struct record_hdr *hdr, const uint8_t *data,
                          size_t len);

int record_decode(const void *buf, size_t len, struct record_view *ret_view);

/* Add a dimension to a point being built; -E2BIG past METRIC_MAX_DIMS. */
int metric_point_add_dim(struct metric_point *p, const char *name, const char *value);

#endif
