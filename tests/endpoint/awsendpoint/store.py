"""In-memory record of everything the endpoint accepted.

All access goes through one lock. Values are stored JSON-ready so the
control API can return them as they are.
"""

import collections
import threading

MAX_REQUEST_LOG = 10000
MAX_LOGGED_BODY = 32 * 1024


class LogStream:
    def __init__(self, name, created_ms, arn):
        self.name = name
        self.created_ms = created_ms
        self.arn = arn
        self.events = []            # dicts: timestamp, message, ingestionTime, requestId
        self.last_ingestion_ms = None

    def describe(self):
        d = {"logStreamName": self.name, "creationTime": self.created_ms, "arn": self.arn,
             "storedBytes": 0}
        if self.events:
            d["firstEventTimestamp"] = min(e["timestamp"] for e in self.events)
            d["lastEventTimestamp"] = max(e["timestamp"] for e in self.events)
            d["lastIngestionTime"] = self.last_ingestion_ms
        return d


class LogGroup:
    def __init__(self, name, created_ms, arn, log_class="STANDARD", kms_key=None, tags=None,
                 deletion_protection=None):
        self.name = name
        self.created_ms = created_ms
        self.arn = arn
        self.log_class = log_class
        self.kms_key = kms_key
        self.tags = dict(tags or {})
        self.retention_days = None
        self.deletion_protection = deletion_protection
        self.streams = collections.OrderedDict()

    def describe(self):
        d = {"logGroupName": self.name, "creationTime": self.created_ms, "metricFilterCount": 0,
             "arn": self.arn + ":*", "logGroupArn": self.arn, "storedBytes": 0,
             "logGroupClass": self.log_class}
        if self.retention_days is not None:
            d["retentionInDays"] = self.retention_days
        if self.kms_key:
            d["kmsKeyId"] = self.kms_key
        if self.deletion_protection is not None:
            d["deletionProtectionEnabled"] = self.deletion_protection
        return d


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self, keep_log_groups=False, keep_topics=True):
        with self.lock:
            self.metrics = []
            self.segments = []
            self.telemetry = []
            self.sampling_stats = []
            self.sns_messages = []
            self.requests = collections.deque(maxlen=MAX_REQUEST_LOG)
            self.request_seq = 0
            if not keep_log_groups:
                self.log_groups = collections.OrderedDict()
            if not keep_topics or not hasattr(self, "topics"):
                self.topics = collections.OrderedDict()

    # -- request log -------------------------------------------------------
    def log_request(self, entry):
        with self.lock:
            self.request_seq += 1
            entry["seq"] = self.request_seq
            self.requests.append(entry)
            return entry

    def request_list(self, service=None, operation=None, since=None):
        with self.lock:
            out = []
            for e in self.requests:
                if service and e.get("service") != service:
                    continue
                if operation and e.get("operation") != operation:
                    continue
                if since is not None and e["seq"] <= since:
                    continue
                out.append(dict(e))
            return out

    # -- logs ----------------------------------------------------------------
    def log_events(self, group=None, stream=None):
        with self.lock:
            out = []
            for g in self.log_groups.values():
                if group is not None and g.name != group:
                    continue
                for s in g.streams.values():
                    if stream is not None and s.name != stream:
                        continue
                    for e in s.events:
                        d = dict(e)
                        d["logGroupName"] = g.name
                        d["logStreamName"] = s.name
                        out.append(d)
            return out

    def log_tree(self):
        with self.lock:
            groups = []
            for g in self.log_groups.values():
                d = g.describe()
                d["tags"] = dict(g.tags)
                d["streams"] = [dict(s.describe(), eventCount=len(s.events)) for s in g.streams.values()]
                groups.append(d)
            return groups

    def summary(self):
        with self.lock:
            return {
                "metrics": len(self.metrics),
                "log_groups": len(self.log_groups),
                "log_events": sum(len(s.events) for g in self.log_groups.values() for s in g.streams.values()),
                "segments": len(self.segments),
                "telemetry_records": len(self.telemetry),
                "sns_messages": len(self.sns_messages),
                "requests": len(self.requests),
            }
