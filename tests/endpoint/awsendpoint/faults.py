"""Fault injection queue.

A fault applies to the next `count` requests that match it. Matching:
  operation   exact operation name (PutLogEvents, PutMetricData, ...,
              ImdsToken / ImdsGet / EcsCredentials for the credential endpoints)
  service     cloudwatch | logs | xray | sts | sns | imds | ecs
A fault with neither filter matches AWS API calls only, never the credential
endpoints (so "next 3 requests fail" does not also break a credential refresh).

kinds
  throttle    the service's real throttling error (Throttling 400 for
              CloudWatch/STS, ThrottlingException 400 for Logs,
              ThrottledException 429 for X-Ray, Throttled 429 for SNS)
  error       HTTP `status` (default 500) with `code`/`message` (defaults per
              service: InternalServiceError, ServiceUnavailableException, ...)
  delay       sleep `delay` seconds, then answer normally
  reset       close the connection with a TCP RST, no answer
  close       close the connection cleanly (FIN), no answer
  malformed   `mode`: bad_body (200 with a truncated/unparseable body of the
              right content type), truncated (Content-Length larger than the
              bytes sent, then close), content_type (200 with text/html)

when  "before" (default): the request is not processed (nothing is stored);
      "after": the request is processed and stored, then the fault replaces
      the real answer (a lost acknowledgement: the client should retry and the
      test can observe the duplicate). "delay" with "after" delays the real answer.
"""

import threading

KINDS = ("throttle", "error", "delay", "reset", "close", "malformed")
MALFORMED_MODES = ("bad_body", "truncated", "content_type")
CREDENTIAL_SERVICES = ("imds", "ecs")


class FaultSpecError(ValueError):
    pass


class Fault:
    _seq = 0

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise FaultSpecError("fault must be a JSON object")
        unknown = set(spec) - {"kind", "count", "operation", "service", "status", "code", "message",
                               "delay", "mode", "when", "retry_after"}
        if unknown:
            raise FaultSpecError("unknown fault fields: %s" % ", ".join(sorted(unknown)))
        self.kind = spec.get("kind")
        if self.kind not in KINDS:
            raise FaultSpecError("kind must be one of %s" % ", ".join(KINDS))
        self.count = spec.get("count", 1)
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise FaultSpecError("count must be a positive integer")
        self.operation = spec.get("operation")
        self.service = spec.get("service")
        self.status = spec.get("status")
        if self.status is not None and (not isinstance(self.status, int) or not 400 <= self.status <= 599):
            raise FaultSpecError("status must be an integer 400..599")
        self.code = spec.get("code")
        self.message = spec.get("message")
        self.delay = spec.get("delay", 0)
        if not isinstance(self.delay, (int, float)) or isinstance(self.delay, bool) or self.delay < 0:
            raise FaultSpecError("delay must be a non-negative number of seconds")
        if self.kind == "delay" and not self.delay:
            raise FaultSpecError("kind 'delay' needs delay > 0")
        self.mode = spec.get("mode", "bad_body")
        if self.kind == "malformed" and self.mode not in MALFORMED_MODES:
            raise FaultSpecError("mode must be one of %s" % ", ".join(MALFORMED_MODES))
        self.when = spec.get("when", "before")
        if self.when not in ("before", "after"):
            raise FaultSpecError("when must be 'before' or 'after'")
        self.retry_after = spec.get("retry_after")
        Fault._seq += 1
        self.id = Fault._seq
        self.hits = 0

    def matches(self, service, operation):
        if self.operation is not None and self.operation != operation:
            return False
        if self.service is not None and self.service != service:
            return False
        if self.operation is None and self.service is None and service in CREDENTIAL_SERVICES:
            return False
        return True

    def to_json(self):
        return {"id": self.id, "kind": self.kind, "remaining": self.count, "hits": self.hits,
                "operation": self.operation, "service": self.service, "status": self.status,
                "code": self.code, "message": self.message, "delay": self.delay,
                "mode": self.mode, "when": self.when}


class FaultQueue:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self.fired = []   # history: (fault id, kind, service, operation)

    def add(self, spec):
        f = Fault(spec)
        with self._lock:
            self._faults.append(f)
        return f

    def clear(self):
        with self._lock:
            self._faults = []
            self.fired = []

    def take(self, service, operation):
        """Consume one use of the first matching fault, or return None."""
        with self._lock:
            for f in self._faults:
                if f.matches(service, operation):
                    f.count -= 1
                    f.hits += 1
                    if f.count <= 0:
                        self._faults.remove(f)
                    self.fired.append({"id": f.id, "kind": f.kind, "service": service,
                                       "operation": operation})
                    return f
        return None

    def pending(self):
        with self._lock:
            return [f.to_json() for f in self._faults]
