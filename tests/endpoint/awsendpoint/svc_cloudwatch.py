"""CloudWatch PutMetricData (query protocol and AWS JSON 1.0).

Limits and rules (PROTOCOLS.md 1.2/1.3 and the model's PutMetricData text):
- <= 1000 metrics per request, MetricData and EntityMetricData together
- <= 30 dimensions (model max), <= 150 Values, Counts same length as Values
- Value / Values / StatisticValues members finite and within -2^360..2^360
- Value and StatisticValues, Value and Values are mutually exclusive
  (Values + StatisticValues together is accepted, as AWS does)
- StorageResolution 1 or 60; Unit from StandardUnit (model enum)
- Timestamp from two weeks in the past to two hours in the future
- Namespace and dimension names/values: ASCII, no control characters, at
  least one non-space character; dimension names must not start with ':';
  namespaces starting with 'AWS/' are reserved
- request body <= 1 MB (checked on the uncompressed body, see app.py)
Error codes/messages follow what the service returns (InvalidParameterValue,
InvalidParameterCombination, MissingParameter; several problems are joined
with newlines as CloudWatch does).
"""

import math

from .svc_common import cw_error
from .wire import datetime_to_epoch

MAX_METRICS = 1000
MAX_VALUES = 150
VALUE_LIMIT = 2.0 ** 360
PAST_LIMIT_S = 14 * 86400
FUTURE_LIMIT_S = 2 * 3600
ENTITY_KEYS = ("Type", "ResourceType", "Identifier", "Name", "Environment")


def _ascii_text_ok(s):
    return (all(32 <= ord(c) < 127 for c in s)) and s.strip() != ""


def _num_ok(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and -VALUE_LIMIT <= v <= VALUE_LIMIT


def _fmt(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
    return str(v)


def _check_datum(d, prefix, now, errors):
    def bad(code, msg):
        errors.append((code, msg))

    has_value = "Value" in d
    has_stats = "StatisticValues" in d
    has_values = "Values" in d and d["Values"] is not None
    if has_value and has_stats:
        bad("InvalidParameterCombination", "The parameters %s.Value and %s.StatisticValues are mutually "
            "exclusive and you have specified both." % (prefix, prefix))
    if has_value and has_values:
        bad("InvalidParameterCombination", "The parameters %s.Value and %s.Values are mutually exclusive "
            "and you have specified both." % (prefix, prefix))
    if has_value and not _num_ok(d["Value"]):
        bad("InvalidParameterValue", "The value %s for parameter %s.Value is invalid." % (_fmt(d["Value"]), prefix))
    if has_stats:
        for k in ("SampleCount", "Sum", "Minimum", "Maximum"):
            if k in d["StatisticValues"] and not _num_ok(d["StatisticValues"][k]):
                bad("InvalidParameterValue", "The value %s for parameter %s.StatisticValues.%s is invalid."
                    % (_fmt(d["StatisticValues"][k]), prefix, k))
    values = d.get("Values") or []
    if len(values) > MAX_VALUES:
        bad("InvalidParameterValue", "The collection %s.Values must not have a size greater than %d."
            % (prefix, MAX_VALUES))
    for i, v in enumerate(values):
        if not _num_ok(v):
            bad("InvalidParameterValue", "The value %s for parameter %s.Values.member.%d is invalid."
                % (_fmt(v), prefix, i + 1))
    if "Counts" in d:
        counts = d["Counts"] or []
        if len(counts) != len(values):
            bad("InvalidParameterValue", "The parameters %s.Values and %s.Counts must be of the same size."
                % (prefix, prefix))
        for i, c in enumerate(counts):
            if not _num_ok(c):
                bad("InvalidParameterValue", "The value %s for parameter %s.Counts.member.%d is invalid."
                    % (_fmt(c), prefix, i + 1))
    if "StorageResolution" in d and d["StorageResolution"] not in (1, 60):
        bad("InvalidParameterValue", "The value %s for parameter %s.StorageResolution is invalid. "
            "Valid values are 1 and 60." % (d["StorageResolution"], prefix))
    for i, dim in enumerate(d.get("Dimensions") or []):
        for k in ("Name", "Value"):
            s = dim.get(k)
            if s is None:
                continue
            if not _ascii_text_ok(s) or (k == "Name" and s.startswith(":")):
                bad("InvalidParameterValue", "The value %s for parameter %s.Dimensions.member.%d.%s is invalid."
                    % (s, prefix, i + 1, k))
    if "Timestamp" in d:
        ts = datetime_to_epoch(d["Timestamp"])
        if ts < now - PAST_LIMIT_S:
            bad("InvalidParameterValue", "The parameter %s.Timestamp must specify a time within the past "
                "two weeks." % prefix)
        elif ts > now + FUTURE_LIMIT_S:
            bad("InvalidParameterValue", "The parameter %s.Timestamp must specify a time no more than two "
                "hours in the future." % prefix)


def _record(d, namespace, entity, call):
    rec = {
        "namespace": namespace,
        "metric_name": d["MetricName"],
        "dimensions": [{"Name": x["Name"], "Value": x["Value"]} for x in d.get("Dimensions") or []],
        "timestamp": datetime_to_epoch(d["Timestamp"]) if "Timestamp" in d else None,
        "value": d.get("Value"),
        "values": d.get("Values"),
        "counts": d.get("Counts"),
        "statistic_values": d.get("StatisticValues"),
        "unit": d.get("Unit"),
        "storage_resolution": d.get("StorageResolution"),
        "entity": entity,
        "protocol": call.protocol,
        "content_encoding": call.content_encoding,
        "request_id": call.request_id,
        "access_key": call.identity.access_key if call.identity else None,
        "received_at": call.now,
    }
    return rec


def put_metric_data(call):
    p = call.params
    namespace = p["Namespace"]
    errors = []
    if not _ascii_text_ok(namespace) or namespace.startswith("AWS/"):
        errors.append(("InvalidParameterValue", "The value %s for parameter Namespace is invalid." % namespace))
    md = p.get("MetricData")
    emd = p.get("EntityMetricData")
    if md is None and emd is None:
        raise cw_error("MissingParameter", "The parameter MetricData is required.")
    datums = [("MetricData.member.%d" % (i + 1), d, None) for i, d in enumerate(md or [])]
    failure = None
    for j, e in enumerate(emd or []):
        entity = e.get("Entity")
        keys = (entity or {}).get("KeyAttributes") or {}
        bad_keys = [k for k in keys if k not in ENTITY_KEYS]
        if bad_keys:
            if p.get("StrictEntityValidation"):
                errors.append(("InvalidParameterValue", "The value %s for parameter EntityMetricData.member.%d."
                               "Entity.KeyAttributes is invalid." % (",".join(bad_keys), j + 1)))
            failure = "InvalidKeyAttributes"
        for i, d in enumerate(e.get("MetricData") or []):
            datums.append(("EntityMetricData.member.%d.MetricData.member.%d" % (j + 1, i + 1), d, entity))
    if len(datums) > MAX_METRICS:
        raise cw_error("InvalidParameterValue", "The collection MetricData must not have a size greater "
                                                "than %d." % MAX_METRICS)
    for prefix, d, _ in datums:
        _check_datum(d, prefix, call.now, errors)
    if errors:
        raise cw_error(errors[0][0], "\n".join(m for _, m in errors))
    if failure:
        call.response_headers["X-Amzn-Failure-Message"] = failure
    recs = [_record(d, namespace, entity, call) for _, d, entity in datums]
    with call.app.store.lock:
        call.app.store.metrics.extend(recs)
    return {}


HANDLERS = {"PutMetricData": put_metric_data}
