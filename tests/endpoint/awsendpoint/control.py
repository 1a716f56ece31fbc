"""The /_control API: read what was accepted, inject faults, configure.

Every answer is JSON. Unknown paths give 404, bad input 400 {"error": ...}.
See README.md for the full list.
"""

import json
import urllib.parse

from .faults import FaultSpecError
from .messages import Response, json_response
from .store import LogGroup, LogStream
from .svc_logs import RETENTION_DAYS
from .validation import validate


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _body(req):
    if not req.body:
        return {}
    try:
        doc = json.loads(req.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ControlError(400, "body is not JSON: %s" % e)
    return doc


def _obj(req):
    doc = _body(req)
    if not isinstance(doc, dict):
        raise ControlError(400, "body must be a JSON object")
    return doc


def _num(doc, key, minimum=0):
    v = doc[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < minimum:
        raise ControlError(400, "%s must be a number >= %s" % (key, minimum))
    return v


class Control:
    def __init__(self, app):
        self.app = app
        self.routes = {
            ("GET", "/_control/health"): self.health,
            ("GET", "/_control/state"): self.state,
            ("POST", "/_control/reset"): self.reset,
            ("GET", "/_control/requests"): self.requests,
            ("GET", "/_control/metrics"): self.metrics,
            ("GET", "/_control/logs"): self.logs,
            ("POST", "/_control/logs/groups"): self.create_groups,
            ("GET", "/_control/segments"): self.segments,
            ("GET", "/_control/telemetry"): self.telemetry,
            ("GET", "/_control/sampling"): self.sampling,
            ("POST", "/_control/sampling"): self.set_sampling,
            ("GET", "/_control/sns"): self.sns,
            ("POST", "/_control/sns/topics"): self.create_topic,
            ("GET", "/_control/sts"): self.sts,
            ("POST", "/_control/sts"): self.set_sts,
            ("GET", "/_control/faults"): self.faults,
            ("POST", "/_control/faults"): self.add_faults,
            ("DELETE", "/_control/faults"): self.clear_faults,
            ("POST", "/_control/refuse"): self.refuse,
            ("GET", "/_control/credentials"): self.credentials,
            ("POST", "/_control/credentials"): self.add_credentials,
            ("DELETE", "/_control/credentials"): self.remove_credentials,
            ("GET", "/_control/imds"): self.imds,
            ("POST", "/_control/imds"): self.set_imds,
            ("GET", "/_control/ecs"): self.ecs,
            ("POST", "/_control/ecs"): self.set_ecs,
            ("GET", "/_control/clock"): self.clock,
            ("POST", "/_control/clock"): self.set_clock,
            ("POST", "/_control/config"): self.set_config,
        }

    def handle(self, req):
        fn = self.routes.get((req.method, req.path))
        if fn is None:
            if any(p == req.path for _, p in self.routes):
                return json_response(405, {"error": "method %s not allowed on %s" % (req.method, req.path)})
            return json_response(404, {"error": "no control route %s %s" % (req.method, req.path),
                                       "routes": sorted("%s %s" % k for k in self.routes)})
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(req.query, keep_blank_values=True).items()}
        try:
            result = fn(req, q)
        except ControlError as e:
            return json_response(e.status, {"error": e.message})
        except (FaultSpecError, ValueError, KeyError, TypeError) as e:
            return json_response(400, {"error": "%s: %s" % (type(e).__name__, e)})
        if isinstance(result, Response):
            return result
        return json_response(200, result)

    # -- general ---------------------------------------------------------
    def health(self, req, q):
        return {"ok": True, "listeners": {n: l.port for n, l in self.app.listeners.items()}}

    def state(self, req, q):
        a = self.app
        return {"summary": a.store.summary(), "regions": a.regions, "account_id": a.creds.account_id,
                "clock_offset_seconds": a.clock_offset, "now": a.now(), "max_skew_seconds": a.max_skew,
                "allow_unknown_fields": a.allow_unknown_fields,
                "require_signed_amz_headers": a.require_signed_amz_headers,
                "xray_max_documents": a.xray_max_documents, "pmd_max_bytes": a.pmd_max_bytes,
                "faults": a.faults.pending(),
                "listeners": {n: {"port": l.port, "refusing": l.refusing_until is not None}
                              for n, l in a.listeners.items()}}

    def reset(self, req, q):
        doc = _obj(req)
        self.app.store.reset(keep_log_groups=bool(doc.get("keep_log_groups")),
                             keep_topics=bool(doc.get("keep_topics", False)))
        self.app.faults.clear()
        self.app.sts.calls = []
        for name in self.app.initial_topics:
            self.app.add_topic(name)
        if doc.get("config"):
            self.app.reset_config()
        return {"ok": True}

    def requests(self, req, q):
        since = int(q["since"]) if "since" in q else None
        items = self.app.store.request_list(q.get("service"), q.get("operation"), since)
        if q.get("include_body") not in ("1", "true"):
            for e in items:
                e.pop("body", None)
        return {"requests": items}

    # -- data ------------------------------------------------------------
    def metrics(self, req, q):
        with self.app.store.lock:
            items = list(self.app.store.metrics)
        if "namespace" in q:
            items = [m for m in items if m["namespace"] == q["namespace"]]
        if "name" in q:
            items = [m for m in items if m["metric_name"] == q["name"]]
        return {"metrics": items}

    def logs(self, req, q):
        if "group" in q or "stream" in q:
            return {"events": self.app.store.log_events(q.get("group"), q.get("stream"))}
        return {"log_groups": self.app.store.log_tree()}

    def create_groups(self, req, q):
        doc = _obj(req)
        groups = doc.get("groups", [doc])
        store = self.app.store
        now_ms = int(self.app.now() * 1000)
        region, account = self.app.regions[0], self.app.creds.account_id
        with store.lock:
            for g in groups:
                name = g["name"]
                group = store.log_groups.get(name)
                if group is None:
                    arn = "arn:aws:logs:%s:%s:log-group:%s" % (region, account, name)
                    group = store.log_groups[name] = LogGroup(name, now_ms, arn)
                if "retention_days" in g:
                    if g["retention_days"] is not None and g["retention_days"] not in RETENTION_DAYS:
                        raise ControlError(400, "retention_days must be one of %s" % (RETENTION_DAYS,))
                    group.retention_days = g["retention_days"]
                for s in g.get("streams", []):
                    if s not in group.streams:
                        group.streams[s] = LogStream(s, now_ms, "%s:log-stream:%s" % (group.arn, s))
        return {"ok": True, "log_groups": store.log_tree()}

    def segments(self, req, q):
        with self.app.store.lock:
            items = list(self.app.store.segments)
        if "trace_id" in q:
            items = [s for s in items if s.get("trace_id") == q["trace_id"]]
        return {"segments": items}

    def telemetry(self, req, q):
        with self.app.store.lock:
            return {"telemetry": list(self.app.store.telemetry)}

    def sampling(self, req, q):
        cfg = self.app.sampling
        with self.app.store.lock:
            stats = list(self.app.store.sampling_stats)
        return {"rules": cfg.rules, "reservoir_quota": cfg.reservoir_quota, "quota_ttl": cfg.quota_ttl,
                "interval": cfg.interval, "modified_at": cfg.modified_at, "statistics": stats}

    def set_sampling(self, req, q):
        doc = _obj(req)
        cfg = self.app.sampling
        if "rules" in doc:
            shape = self.app.services["xray"].model.shape_for("SamplingRule")
            for r in doc["rules"]:
                issues = validate(r, shape)
                if issues:
                    raise ControlError(400, "invalid SamplingRule %r: %r" % (r, issues))
            cfg.rules = doc["rules"]
            cfg.modified_at = float(int(self.app.now()))
        for k in ("reservoir_quota", "quota_ttl", "interval"):
            if k in doc:
                setattr(cfg, k, doc[k])
        return self.sampling(req, q)

    def sns(self, req, q):
        with self.app.store.lock:
            return {"topics": list(self.app.store.topics.values()), "messages": list(self.app.store.sns_messages)}

    def create_topic(self, req, q):
        doc = _obj(req)
        return {"TopicArn": self.app.add_topic(doc["name"], doc.get("region"))}

    def sts(self, req, q):
        cfg = self.app.sts
        return {"lifetime_override_seconds": cfg.lifetime_override,
                "max_session_seconds": cfg.max_session_seconds,
                "web_identity_tokens": sorted(cfg.web_identity_tokens) if cfg.web_identity_tokens is not None
                else None, "calls": list(cfg.calls)}

    def set_sts(self, req, q):
        doc = _obj(req)
        cfg = self.app.sts
        if "lifetime_seconds" in doc:
            cfg.lifetime_override = None if doc["lifetime_seconds"] is None else _num(doc, "lifetime_seconds", 1)
        if "max_session_seconds" in doc:
            cfg.max_session_seconds = _num(doc, "max_session_seconds", 900)
        if "web_identity_tokens" in doc:
            toks = doc["web_identity_tokens"]
            cfg.web_identity_tokens = None if toks is None else set(toks)
        return self.sts(req, q)

    # -- faults ----------------------------------------------------------
    def faults(self, req, q):
        return {"pending": self.app.faults.pending(), "fired": list(self.app.faults.fired)}

    def add_faults(self, req, q):
        doc = _body(req)
        specs = doc if isinstance(doc, list) else doc.get("faults", [doc]) if isinstance(doc, dict) else None
        if specs is None:
            raise ControlError(400, "body must be a fault object, a list, or {\"faults\": [...]}")
        added = [self.app.faults.add(s).to_json() for s in specs]
        return {"added": added}

    def clear_faults(self, req, q):
        self.app.faults.clear()
        return {"ok": True}

    def refuse(self, req, q):
        doc = _obj(req)
        seconds = _num(doc, "seconds", 0)
        name = doc.get("listener", req.listener.name if req.listener else "api")
        listener = self.app.listeners.get(name)
        if listener is None:
            raise ControlError(400, "no listener %r (have %s)" % (name, ", ".join(self.app.listeners)))
        close_existing = bool(doc.get("close_connections", True))
        resp = json_response(200, {"ok": True, "listener": name, "port": listener.port, "seconds": seconds},
                             headers=[("Connection", "close")])

        def go():
            listener.refuse(seconds, close_existing)
        resp.after_send = go  # after the answer went out on this connection
        return resp

    # -- credentials -----------------------------------------------------
    def credentials(self, req, q):
        return {"credentials": self.app.creds.snapshot()}

    def add_credentials(self, req, q):
        doc = _obj(req)
        expires_at = None
        if doc.get("expires_in") is not None:
            expires_at = self.app.now() + _num(doc, "expires_in", 0)
        c = self.app.creds.add_static(doc["access_key_id"], doc["secret_access_key"], doc.get("session_token"),
                                      expires_at)
        return {"added": c.to_json()}

    def remove_credentials(self, req, q):
        key = q.get("access_key_id")
        if not key:
            raise ControlError(400, "access_key_id query parameter required")
        return {"removed": self.app.creds.remove(key)}

    def imds(self, req, q):
        return self.app.imds.state()

    def set_imds(self, req, q):
        self.app.imds.configure(_obj(req))
        return self.app.imds.state()

    def ecs(self, req, q):
        return self.app.ecs.state()

    def set_ecs(self, req, q):
        self.app.ecs.configure(_obj(req))
        return self.app.ecs.state()

    def clock(self, req, q):
        return {"offset_seconds": self.app.clock_offset, "now": self.app.now()}

    def set_clock(self, req, q):
        doc = _obj(req)
        v = doc["offset_seconds"]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ControlError(400, "offset_seconds must be a number")
        self.app.clock_offset = float(v)
        return self.clock(req, q)

    def set_config(self, req, q):
        doc = _obj(req)
        a = self.app
        for key in ("allow_unknown_fields", "require_signed_amz_headers"):
            if key in doc:
                setattr(a, key, bool(doc[key]))
        for key in ("max_skew", "xray_max_documents", "pmd_max_bytes"):
            if key in doc:
                setattr(a, key, int(_num(doc, key, 0)))
        if "regions" in doc:
            if not doc["regions"] or not all(isinstance(r, str) for r in doc["regions"]):
                raise ControlError(400, "regions must be a non-empty list of strings")
            a.regions = list(doc["regions"])
        return self.state(req, q)
