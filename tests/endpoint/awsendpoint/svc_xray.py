"""X-Ray (REST-JSON): PutTraceSegments, PutTelemetryRecords, GetSamplingRules,
GetSamplingTargets.

Segment documents (PROTOCOLS.md 3.1 / 3.5): each element of
TraceSegmentDocuments is a string holding one JSON segment or standalone
subsegment (or an OTLP "T1S"+base64 payload). A bad document is reported in
UnprocessedTraceSegments with HTTP 200, never as an error: X-Ray answers
e.g. {"Id": "...", "ErrorCode": "InvalidName", "Message": "Invalid subsegment.
ErrorCode: InvalidName, Cause: null"} and {"ErrorCode": "MissingId", "Message":
"Invalid segment. ErrorCode: MissingId"}. Those two codes are observed from the
service; the other ErrorCode values used here follow the same naming.

Checked per document: <= 64 KiB; valid JSON object; name (<= 200 chars of
Unicode letters, digits, whitespace and _ . : / % & # = + \\ - @); id (16 hex);
trace_id (1-8hex-24hex); start_time (number); end_time (number) or
in_progress true; standalone subsegments (type "subsegment") need parent_id;
nested subsegments are checked the same way (name, id, start_time, end).

The number of documents per call is limited to 50 (configurable): the model
sets no maximum, but the X-Ray daemon and the OTel X-Ray exporter both cap a
call at 50 and the exporter calls it the API limit (PROTOCOLS.md 3.1).
"""

import base64
import binascii
import json
import re

from .errors import AwsError
from .wire import datetime_to_epoch

MAX_DOC_BYTES = 64 * 1024
NAME_RE = re.compile(r"[\w\s.:/%&#=+\\\-@]{1,200}\Z")
ID_RE = re.compile(r"[0-9a-f]{16}\Z")
TRACE_ID_RE = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}\Z")


class _Bad(Exception):
    def __init__(self, code, sub=False, seg_id=None):
        super().__init__(code)
        self.code = code
        self.sub = sub
        self.seg_id = seg_id


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_common(doc, sub, root):
    seg_id = doc.get("id") if isinstance(doc.get("id"), str) else None
    # X-Ray reports a document with no usable id as MissingId before anything else.
    if "id" not in doc:
        raise _Bad("MissingId", sub, seg_id)
    if not isinstance(doc["id"], str) or not ID_RE.match(doc["id"]):
        raise _Bad("InvalidId", sub, seg_id)
    if "name" not in doc:
        raise _Bad("MissingName", sub, seg_id)
    if not isinstance(doc["name"], str) or not NAME_RE.match(doc["name"]):
        raise _Bad("InvalidName", sub, seg_id)
    if "start_time" not in doc:
        raise _Bad("MissingStartTime", sub, seg_id)
    if not _is_num(doc["start_time"]):
        raise _Bad("InvalidStartTime", sub, seg_id)
    if "end_time" in doc:
        if not _is_num(doc["end_time"]):
            raise _Bad("InvalidEndTime", sub, seg_id)
    elif doc.get("in_progress") is not True:
        raise _Bad("MissingEndTime", sub, seg_id)
    if "in_progress" in doc and not isinstance(doc["in_progress"], bool):
        raise _Bad("InvalidInProgress", sub, seg_id)
    if "parent_id" in doc and (not isinstance(doc["parent_id"], str) or not ID_RE.match(doc["parent_id"])):
        raise _Bad("InvalidParentId", sub, seg_id)
    for k in ("error", "throttle", "fault"):
        if k in doc and not isinstance(doc[k], bool):
            raise _Bad("Invalid%s" % k.capitalize(), sub, seg_id)
    subs = doc.get("subsegments")
    if subs is not None:
        if not isinstance(subs, list):
            raise _Bad("InvalidSubsegments", sub, seg_id)
        for s in subs:
            if not isinstance(s, dict):
                raise _Bad("InvalidSubsegments", True, seg_id)
            _check_common(s, True, False)


def check_document(text):
    """Return the parsed document (dict) or raise _Bad."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOC_BYTES:
        raise _Bad("SegmentTooLarge")
    try:
        doc = json.loads(text)
    except ValueError:
        raise _Bad("InvalidJson")
    if not isinstance(doc, dict):
        raise _Bad("MissingId")   # observed: a document "[]" is answered with MissingId
    sub = doc.get("type") == "subsegment"
    if "type" in doc and not sub:
        raise _Bad("InvalidType", False, doc.get("id") if isinstance(doc.get("id"), str) else None)
    _check_common(doc, sub, True)
    if "trace_id" not in doc:
        raise _Bad("MissingTraceId", sub, doc["id"])
    if not isinstance(doc["trace_id"], str) or not TRACE_ID_RE.match(doc["trace_id"]):
        raise _Bad("InvalidTraceId", sub, doc["id"])
    if sub and "parent_id" not in doc:
        raise _Bad("MissingParentId", sub, doc["id"])
    return doc


def put_trace_segments(call):
    docs = call.params["TraceSegmentDocuments"]
    limit = call.app.xray_max_documents
    if limit and len(docs) > limit:
        raise AwsError("InvalidRequestException", "1 validation error detected: Value '[...]' at "
                       "'traceSegmentDocuments' failed to satisfy constraint: Member must have length less "
                       "than or equal to %d" % limit, 400)
    unprocessed = []
    accepted = []
    for text in docs:
        if text.startswith("T1S"):
            try:
                raw = base64.b64decode(text[3:], validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if not raw:
                unprocessed.append({"ErrorCode": "InvalidOtlpPayload",
                                    "Message": "Invalid segment. ErrorCode: InvalidOtlpPayload"})
                continue
            accepted.append({"format": "otlp", "otlp_base64": text[3:], "document": None})
            continue
        try:
            doc = check_document(text)
        except _Bad as b:
            item = {"ErrorCode": b.code,
                    "Message": "Invalid %s. ErrorCode: %s" % ("subsegment" if b.sub else "segment", b.code)}
            if b.seg_id:
                item["Id"] = b.seg_id
            unprocessed.append(item)
            continue
        accepted.append({"format": "json", "document": doc, "raw": text, "trace_id": doc["trace_id"],
                         "id": doc["id"], "type": doc.get("type", "segment")})
    store = call.app.store
    with store.lock:
        for a in accepted:
            a["request_id"] = call.request_id
            a["received_at"] = call.now
            a["content_encoding"] = call.content_encoding
            store.segments.append(a)
    return {"UnprocessedTraceSegments": unprocessed}


def put_telemetry_records(call):
    p = call.params
    recs = []
    for r in p["TelemetryRecords"]:
        d = dict(r)
        d["Timestamp"] = datetime_to_epoch(d["Timestamp"])
        recs.append(d)
    entry = {"records": recs, "EC2InstanceId": p.get("EC2InstanceId"), "Hostname": p.get("Hostname"),
             "ResourceARN": p.get("ResourceARN"), "request_id": call.request_id, "received_at": call.now}
    with call.app.store.lock:
        call.app.store.telemetry.append(entry)
    return {}


def get_sampling_rules(call):
    if call.params.get("NextToken") not in (None, ""):
        raise AwsError("InvalidRequestException", "Invalid NextToken", 400)
    cfg = call.app.sampling
    records = []
    for rule in cfg.rules:
        r = dict(rule)
        r.setdefault("RuleARN", "arn:aws:xray:%s:%s:sampling-rule/%s" % (call.region, call.account,
                                                                          r.get("RuleName", "rule")))
        records.append({"SamplingRule": r, "CreatedAt": cfg.modified_at, "ModifiedAt": cfg.modified_at})
    return {"SamplingRuleRecords": records}


def get_sampling_targets(call):
    cfg = call.app.sampling
    names = {r.get("RuleName"): r for r in cfg.rules}
    targets, unprocessed = [], []
    for doc in call.params["SamplingStatisticsDocuments"]:
        rule = names.get(doc["RuleName"])
        if rule is None:
            unprocessed.append({"RuleName": doc["RuleName"], "ErrorCode": "400",
                                "Message": "Unknown rule %s" % doc["RuleName"]})
            continue
        t = {"RuleName": doc["RuleName"], "FixedRate": rule["FixedRate"],
             "ReservoirQuota": cfg.reservoir_quota if cfg.reservoir_quota is not None else rule["ReservoirSize"],
             "ReservoirQuotaTTL": call.now + cfg.quota_ttl, "Interval": cfg.interval}
        targets.append(t)
    with call.app.store.lock:
        call.app.store.sampling_stats.append({
            "documents": [dict(d, Timestamp=datetime_to_epoch(d["Timestamp"]))
                          for d in call.params["SamplingStatisticsDocuments"]],
            "request_id": call.request_id, "received_at": call.now})
    return {"SamplingTargetDocuments": targets, "LastRuleModification": cfg.modified_at,
            "UnprocessedStatistics": unprocessed}


class SamplingConfig:
    """What GetSamplingRules / GetSamplingTargets hand out (settable via /_control)."""

    DEFAULT_RULE = {"RuleName": "Default", "ResourceARN": "*", "Priority": 10000, "FixedRate": 0.05,
                    "ReservoirSize": 1, "ServiceName": "*", "ServiceType": "*", "Host": "*",
                    "HTTPMethod": "*", "URLPath": "*", "Version": 1, "Attributes": {}}

    def __init__(self, clock):
        self.rules = [dict(self.DEFAULT_RULE)]
        self.reservoir_quota = None
        self.quota_ttl = 300
        self.interval = 10
        self.modified_at = float(int(clock()))


HANDLERS = {
    "PutTraceSegments": put_trace_segments,
    "PutTelemetryRecords": put_telemetry_records,
    "GetSamplingRules": get_sampling_rules,
    "GetSamplingTargets": get_sampling_targets,
}
