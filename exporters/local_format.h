/*
 * local_format: one record as one line of JSON, in the shape of the CloudWatch APIs, for
 * the local sinks (file, stdout) that a newcomer reads.
 *
 *   metrics   a MetricDatum plus its Namespace:
 *             {"Namespace","MetricName","Dimensions":[{"Name","Value"}],"Timestamp",
 *              "Value" | "StatisticValues":{...},"Unit","StorageResolution"}
 *   logs      {"timestamp": epoch ms, "message", "group", "stream"}
 *   traces    the segment document itself
 *
 * Contract: pure; appends one line ending in '\n' to `b` and returns 0, or the buf's
 * error / -EDOM (a value JSON cannot carry) / -EBADMSG (unknown kind); on error `b` is
 * truncated back to its length at entry. Invalid UTF-8 in log messages is repaired and
 * counted in *ret_repaired.
 */
#ifndef OSPREY_LOCAL_FORMAT_H
#define OSPREY_LOCAL_FORMAT_H

#include "agent/buf.h"
#include "agent/record.h"

int local_format_record(struct buf *b, const struct record_view *v, size_t *ret_repaired);

#endif
