"""CloudWatch Logs (AWS JSON 1.1): CreateLogGroup, CreateLogStream,
PutRetentionPolicy, DescribeLogGroups, DescribeLogStreams, PutLogEvents.

PutLogEvents rules (model text of the PutLogEvents operation; PROTOCOLS.md 2.1):
- batch size = sum(UTF-8 bytes of message + 26) <= 1,048,576
  ("Upload too large: N bytes exceeds limit of 1048576")
- one event <= 1 MB, i.e. message bytes + 26 <= 1,048,576 (message <= 1,048,550)
  ("Log event too large: ...")
- 1..10,000 events (model min/max)
- timestamps in non-decreasing order, else the whole call fails
  ("Log events in a single PutLogEvents request must be in chronological order.")
- events > 2 h in the future, older than 14 days, or older than the group's
  retention are rejected individually (rejectedLogEventsInfo:
  tooNewLogEventStartIndex inclusive, tooOldLogEventEndIndex and
  expiredLogEventEndIndex exclusive); the others are stored
- the remaining valid events must span <= 24 h, else the call fails
- sequenceToken is ignored; never InvalidSequenceToken / DataAlreadyAccepted
"""

import base64
import json

from .errors import AwsError
from .store import LogGroup, LogStream

BATCH_LIMIT = 1048576
EVENT_OVERHEAD = 26
FUTURE_LIMIT_MS = 2 * 3600 * 1000
PAST_LIMIT_MS = 14 * 86400 * 1000
SPAN_LIMIT_MS = 24 * 3600 * 1000
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)


def _invalid(msg):
    return AwsError("InvalidParameterException", msg, 400)


def _not_found(what):
    return AwsError("ResourceNotFoundException", "The specified %s does not exist." % what, 400)


def _now_ms(call):
    return int(call.now * 1000)


def _group_arn(call, name):
    return "arn:aws:logs:%s:%s:log-group:%s" % (call.region, call.account, name)


def _get_group(call, name):
    g = call.app.store.log_groups.get(name)
    if g is None:
        raise _not_found("log group")
    return g


def _resolve_identifier(ident):
    """logGroupIdentifier: a name or an ARN (…:log-group:NAME[:*])."""
    if ident.startswith("arn:"):
        marker = ":log-group:"
        if marker not in ident:
            raise _invalid("Invalid log group ARN: %s" % ident)
        name = ident.split(marker, 1)[1]
        if name.endswith(":*"):
            name = name[:-2]
        return name
    return ident


def create_log_group(call):
    p = call.params
    name = p["logGroupName"]
    if name.startswith("aws/"):
        raise _invalid("Log group names can't start with 'aws/': %s" % name)
    store = call.app.store
    with store.lock:
        if name in store.log_groups:
            raise AwsError("ResourceAlreadyExistsException", "The specified log group already exists", 400)
        store.log_groups[name] = LogGroup(name, _now_ms(call), _group_arn(call, name),
                                          p.get("logGroupClass", "STANDARD"), p.get("kmsKeyId"),
                                          p.get("tags"), p.get("deletionProtectionEnabled"))
    return {}


def create_log_stream(call):
    p = call.params
    store = call.app.store
    with store.lock:
        g = _get_group(call, p["logGroupName"])
        name = p["logStreamName"]
        if name in g.streams:
            raise AwsError("ResourceAlreadyExistsException", "The specified log stream already exists", 400)
        g.streams[name] = LogStream(name, _now_ms(call), "%s:log-stream:%s" % (g.arn, name))
    return {}


def put_retention_policy(call):
    p = call.params
    days = p["retentionInDays"]
    if days not in RETENTION_DAYS:
        raise _invalid("1 validation error detected: Value '%s' at 'retentionInDays' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [%s]"
                       % (days, ", ".join(str(d) for d in RETENTION_DAYS)))
    store = call.app.store
    with store.lock:
        _get_group(call, p["logGroupName"]).retention_days = days
    return {}


def _page(call, items, token_kind):
    """Simple offset pagination with an opaque token."""
    p = call.params
    limit = p.get("limit", 50)
    start = 0
    token = p.get("nextToken")
    if token is not None:
        try:
            doc = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
            if doc.get("k") != token_kind:
                raise ValueError
            start = int(doc["o"])
        except (ValueError, KeyError, TypeError):
            raise _invalid("The specified nextToken is invalid.")
    page = items[start:start + limit]
    nxt = None
    if start + limit < len(items):
        nxt = base64.urlsafe_b64encode(json.dumps({"k": token_kind, "o": start + limit}).encode()).decode()
    return page, nxt


def describe_log_groups(call):
    p = call.params
    if "logGroupNamePrefix" in p and "logGroupNamePattern" in p:
        raise _invalid("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
    store = call.app.store
    with store.lock:
        groups = list(store.log_groups.values())
        if "logGroupNamePrefix" in p:
            groups = [g for g in groups if g.name.startswith(p["logGroupNamePrefix"])]
        if "logGroupNamePattern" in p:
            pat = p["logGroupNamePattern"].lower()
            groups = [g for g in groups if pat in g.name.lower()]
        if "logGroupClass" in p:
            groups = [g for g in groups if g.log_class == p["logGroupClass"]]
        if "logGroupIdentifiers" in p:
            wanted = {_resolve_identifier(i) for i in p["logGroupIdentifiers"]}
            groups = [g for g in groups if g.name in wanted]
        groups.sort(key=lambda g: g.name)
        page, nxt = _page(call, [g.describe() for g in groups], "groups")
    out = {"logGroups": page}
    if nxt:
        out["nextToken"] = nxt
    return out


def describe_log_streams(call):
    p = call.params
    if ("logGroupName" in p) == ("logGroupIdentifier" in p):
        if "logGroupName" in p:
            raise _invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        raise _invalid("Should provide either name or ARN of the log group.")
    name = p.get("logGroupName") or _resolve_identifier(p["logGroupIdentifier"])
    order = p.get("orderBy", "LogStreamName")
    prefix = p.get("logStreamNamePrefix")
    if prefix is not None and order == "LastEventTime":
        raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
    store = call.app.store
    with store.lock:
        g = _get_group(call, name)
        streams = list(g.streams.values())
        if prefix is not None:
            streams = [s for s in streams if s.name.startswith(prefix)]
        if order == "LastEventTime":
            streams.sort(key=lambda s: (max((e["timestamp"] for e in s.events), default=-1), s.name))
        else:
            streams.sort(key=lambda s: s.name)
        if p.get("descending"):
            streams.reverse()
        page, nxt = _page(call, [s.describe() for s in streams], "streams:" + name)
    out = {"logStreams": page}
    if nxt:
        out["nextToken"] = nxt
    return out


def put_log_events(call):
    p = call.params
    events = p["logEvents"]
    now_ms = _now_ms(call)
    store = call.app.store
    with store.lock:
        g = _get_group(call, p["logGroupName"])
        s = g.streams.get(p["logStreamName"])
        if s is None:
            raise _not_found("log stream")
        retention_days = g.retention_days

    total = 0
    for e in events:
        n = len(e["message"].encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
        if n > BATCH_LIMIT:
            raise _invalid("Log event too large: %d bytes exceeds limit of %d" % (n, BATCH_LIMIT))
        total += n
    if total > BATCH_LIMIT:
        raise _invalid("Upload too large: %d bytes exceeds limit of %d" % (total, BATCH_LIMIT))
    for a, b in zip(events, events[1:]):
        if b["timestamp"] < a["timestamp"]:
            raise _invalid("Log events in a single PutLogEvents request must be in chronological order.")

    too_old_end = 0          # events [0, too_old_end) older than 14 days
    expired_end = 0          # events [0, expired_end) older than the retention period
    too_new_start = None     # events [too_new_start, n) more than 2 h in the future
    for i, e in enumerate(events):
        ts = e["timestamp"]
        if ts < now_ms - PAST_LIMIT_MS:
            too_old_end = i + 1
        if retention_days is not None and ts < now_ms - retention_days * 86400 * 1000:
            expired_end = i + 1
        if ts > now_ms + FUTURE_LIMIT_MS and too_new_start is None:
            too_new_start = i
    first_valid = max(too_old_end, expired_end)
    end_valid = too_new_start if too_new_start is not None else len(events)
    valid = events[first_valid:end_valid]
    if valid and valid[-1]["timestamp"] - valid[0]["timestamp"] > SPAN_LIMIT_MS:
        raise _invalid("The batch of log events in a single PutLogEvents request cannot span more than "
                       "24 hours.")

    with store.lock:
        if g.name not in store.log_groups or s.name not in g.streams:
            raise _not_found("log stream")   # deleted by a concurrent reset
        for e in valid:
            s.events.append({"timestamp": e["timestamp"], "message": e["message"], "ingestionTime": now_ms,
                             "requestId": call.request_id,
                             "contentEncoding": call.content_encoding})
        if valid:
            s.last_ingestion_ms = now_ms
    out = {"nextSequenceToken": "%056d" % (len(s.events))}
    rejected = {}
    if too_new_start is not None:
        rejected["tooNewLogEventStartIndex"] = too_new_start
    if too_old_end:
        rejected["tooOldLogEventEndIndex"] = too_old_end
    if expired_end:
        rejected["expiredLogEventEndIndex"] = expired_end
    if rejected:
        out["rejectedLogEventsInfo"] = rejected
    if "entity" in p:
        keys = (p["entity"] or {}).get("keyAttributes") or {}
        if any(k not in ("Type", "ResourceType", "Identifier", "Name", "Environment") for k in keys):
            out["rejectedEntityInfo"] = {"errorType": "InvalidKeyAttributes"}
    return out


HANDLERS = {
    "CreateLogGroup": create_log_group,
    "CreateLogStream": create_log_stream,
    "PutRetentionPolicy": put_retention_policy,
    "DescribeLogGroups": describe_log_groups,
    "DescribeLogStreams": describe_log_streams,
    "PutLogEvents": put_log_events,
}
