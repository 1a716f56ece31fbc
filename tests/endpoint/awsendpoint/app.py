"""Request pipeline: route -> decode -> fault -> authenticate -> parse ->
validate -> limits -> handle -> serialise, with every step recorded.

Routing (one host serves every service, so the request itself must say
which service it is for):
  X-Amz-Target: GraniteServiceVersion20100801.*   CloudWatch, AWS JSON 1.0
  X-Amz-Target: Logs_20140328.*                   CloudWatch Logs, AWS JSON 1.1
  form-encoded POST (or GET with Action=...)      query protocol; the Version
      parameter selects the service (2010-08-01 CloudWatch, 2011-06-15 STS,
      2010-03-31 SNS), Action the operation
  POST /TraceSegments, /TelemetryRecords, ...     X-Ray REST-JSON (URIs taken
                                                  from the X-Ray model)
  /_control/...                                   control API
  /latest/...                                     IMDS
  the configured ECS relative URI                 ECS credentials
"""

import json
import time
import urllib.parse
import uuid
import zlib

from . import svc_cloudwatch, svc_logs, svc_sns, svc_sts, svc_xray, wire
from .credentials import CredentialStore, DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, DEFAULT_ACCOUNT
from .errors import AwsError, auth_error, generic_error, service_error, CLOUDWATCH_JSON_TYPES
from .faults import FaultQueue
from .imds import Ecs, Imds
from .messages import Response
from .models import load_services
from .sigv4 import AuthFailure, verify
from .store import Store, MAX_LOGGED_BODY
from .svc_common import Call, validation_error, not_implemented, cw_error
from .svc_sts import StsConfig
from .svc_xray import SamplingConfig
from .validation import Issue, validate

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1")


class _Ctx:
    """What is known about the request so far (for error rendering and the log)."""

    def __init__(self, request_id):
        self.request_id = request_id
        self.protocol = None
        self.service = None
        self.op = None


class App:
    def __init__(self, regions=("us-east-1",), account_id=DEFAULT_ACCOUNT, max_skew=300,
                 allow_unknown_fields=False, require_signed_amz_headers=True, xray_max_documents=50,
                 pmd_max_bytes=1048576, max_body_bytes=8 * 1048576, max_decoded_bytes=16 * 1048576,
                 static_credentials=None, verbose=False):
        self.services = load_services()
        self.regions = list(regions)
        self.max_skew = max_skew
        self.allow_unknown_fields = allow_unknown_fields
        self.require_signed_amz_headers = require_signed_amz_headers
        self.xray_max_documents = xray_max_documents
        self.pmd_max_bytes = pmd_max_bytes
        self.max_body_bytes = max_body_bytes
        self.max_decoded_bytes = max_decoded_bytes
        self.verbose = verbose
        self.clock_offset = 0.0

        self._initial = {"regions": list(regions), "max_skew": max_skew,
                         "allow_unknown_fields": allow_unknown_fields,
                         "require_signed_amz_headers": require_signed_amz_headers,
                         "xray_max_documents": xray_max_documents, "pmd_max_bytes": pmd_max_bytes}
        self.initial_ecs = {}
        self.initial_topics = []
        self.creds = CredentialStore(self.now, account_id)
        for akid, secret, token in (static_credentials or [(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, None)]):
            self.creds.add_static(akid, secret, token)
        self.store = Store()
        self.faults = FaultQueue()
        self.sampling = SamplingConfig(self.now)
        self.sts = StsConfig()
        self.imds = Imds(self)
        self.ecs = Ecs(self)
        self.listeners = {}

        self.handlers = {}
        for key, mod in (("cloudwatch", svc_cloudwatch), ("logs", svc_logs), ("xray", svc_xray),
                         ("sts", svc_sts), ("sns", svc_sns)):
            for op, fn in mod.HANDLERS.items():
                self.handlers[(key, op)] = fn
        self.query_versions = {s.api_version: s for s in self.services.values() if "query" in s.protocols}
        self.json_targets = {s.target_prefix: s for s in self.services.values() if "json" in s.protocols}
        self.rest_routes = {}
        for s in self.services.values():
            if "rest-json" in s.protocols:
                for name in s.model.operation_names:
                    http = s.model.operation_model(name).http
                    self.rest_routes[(http["method"], http["requestUri"].split("?")[0])] = (s, name)

        from .control import Control  # control imports app-level helpers
        self.control = Control(self)

    def add_topic(self, name, region=None):
        arn = "arn:aws:sns:%s:%s:%s" % (region or self.regions[0], self.creds.account_id, name)
        with self.store.lock:
            self.store.topics.setdefault(arn, {"TopicArn": arn, "Name": name, "Attributes": {},
                                               "created_at": self.now()})
        return arn

    def reset_config(self):
        """Back to the start-up configuration (clock, limits, STS/IMDS/ECS/sampling settings).
        Accepted keys are kept: credentials already handed out stay valid."""
        for k, v in self._initial.items():
            setattr(self, k, list(v) if isinstance(v, list) else v)
        self.clock_offset = 0.0
        self.sampling = SamplingConfig(self.now)
        self.sts = StsConfig()
        self.imds = Imds(self)
        self.ecs = Ecs(self)
        if self.initial_ecs:
            self.ecs.configure(self.initial_ecs)

    # ------------------------------------------------------------------
    def now(self):
        return time.time() + self.clock_offset

    def handle(self, req):
        if req.path == "/_control" or req.path.startswith("/_control/"):
            return self.control.handle(req)
        if req.path.startswith("/latest/"):
            return self._logged_credential_call(req, "imds", self.imds)
        if self.ecs.matches(req.path):
            return self._logged_credential_call(req, "ecs", self.ecs)
        return self.handle_aws(req)

    def _logged_credential_call(self, req, service, source):
        resp = source.handle(req)
        self.store.log_request({
            "time": self.now(), "method": req.method, "path": req.path, "service": service,
            "operation": None, "status": resp.status, "headers": _header_dict(req.headers),
            "fault": getattr(resp, "fault_kind", None)})
        return resp

    def credential_fault(self, service, operation):
        """Fault response for the IMDS / ECS endpoints, or None."""
        f = self.faults.take(service, operation)
        if f is None:
            return None
        if f.kind == "delay":
            time.sleep(f.delay)
            return None
        if f.kind in ("reset", "close"):
            r = Response(0, action=f.kind)
        elif f.kind == "malformed":
            if f.mode == "content_type":
                r = Response(200, "<html><body>Bad Gateway</body></html>", "text/html")
            elif f.mode == "truncated":
                r = Response(200, '{"Code":"Success","AccessKeyId":"ASIA', "application/json", action="truncate")
            else:
                r = Response(200, '{"Code":"Success","AccessKeyId":', "application/json")
        else:
            status = f.status or (429 if f.kind == "throttle" else 500)
            r = Response(status, f.message or "Injected fault", "text/plain")
        r.fault_kind = f.kind
        return r

    # ------------------------------------------------------------------
    def handle_aws(self, req):
        ctx = _Ctx(str(uuid.uuid4()))
        log = {"time": self.now(), "method": req.method, "path": req.path, "request_id": ctx.request_id,
               "headers": _header_dict(req.headers), "body_bytes": len(req.body),
               "content_encoding": req.header("content-encoding"), "fault": None}
        try:
            resp = self._aws(req, ctx, log)
        except AwsError as e:
            resp = self.render_error(ctx, e)
            log["error_code"] = e.code
            log["error_message"] = e.message
        log.update({"service": ctx.service.key if ctx.service else None,
                    "operation": ctx.op.name if ctx.op else None, "protocol": ctx.protocol,
                    "status": resp.status})
        self.store.log_request(log)
        return resp

    def _aws(self, req, ctx, log):
        target = req.header("x-amz-target")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if req.path.startswith("/service/") and "/operation/" in req.path:
            ctx.protocol = "json"
            raise AwsError("UnknownOperationException", "smithy-rpc-v2-cbor is not supported by the Osprey "
                           "test endpoint; use the query or AWS JSON 1.0 protocol", 400)
        if target is not None:
            ctx.protocol = "json"
            prefix, _, op_name = target.partition(".")
            svc = self.json_targets.get(prefix)
            if svc is None or not op_name:
                raise AwsError("UnknownOperationException", "Unknown X-Amz-Target %r" % target, 400)
            ctx.service = svc
            op = svc.operation(op_name)
            if op is None:
                raise AwsError("UnknownOperationException", "", 400)
            ctx.op = op
            if req.method != "POST" or req.path != "/":
                raise AwsError("UnknownOperationException", "AWS JSON requests are POST /", 400)
            if ctype not in JSON_TYPES:
                raise AwsError("SerializationException", "Content-Type must be application/x-amz-json-%s, "
                               "got %r" % (svc.json_version, ctype or None), 400)
            body = self._decode_body(req, ctx, log)
        elif ctype == FORM_TYPE or (req.method == "GET" and "Action=" in req.query):
            ctx.protocol = "query"
            if req.method not in ("POST", "GET") or req.path != "/":
                raise AwsError("InvalidAction", "Query API requests are POST / (or GET /)", 400)
            body = self._decode_body(req, ctx, log)
            pairs = self._form_pairs(req, body)
            action = [v for k, v in pairs if k == "Action"]
            version = [v for k, v in pairs if k == "Version"]
            ctx.service = self.query_versions.get(version[0]) if len(version) == 1 else None
            if not action:
                raise AwsError("MissingAction", "The request must contain the parameter Action.", 400)
            if len(action) > 1 or len(version) > 1:
                raise AwsError("MalformedQueryString", "Action and Version must be given once.", 400)
            if not version:
                raise AwsError("MissingParameter", "The request must contain the parameter Version.", 400)
            if ctx.service is None:
                raise AwsError("InvalidAction", "Could not find operation %s for version %s"
                               % (action[0], version[0]), 400)
            op = ctx.service.operation(action[0])
            if op is None:
                raise AwsError("InvalidAction", "Could not find operation %s for version %s"
                               % (action[0], version[0]), 400)
            ctx.op = op
            req_pairs = [(k, v) for k, v in pairs if k not in ("Action", "Version")]
        else:
            route = self.rest_routes.get((req.method, req.path))
            ctx.protocol = "rest-json"
            if route is None:
                raise AwsError("UnknownOperationException", "No AWS operation matches %s %s (is the "
                               "Content-Type or X-Amz-Target header missing?)" % (req.method, req.path), 404)
            ctx.service, op_name = route
            ctx.op = ctx.service.operation(op_name)
            body = self._decode_body(req, ctx, log)

        svc, op = ctx.service, ctx.op
        fault = self.faults.take(svc.key, op.name)
        if fault is not None:
            log["fault"] = fault.kind
            if fault.when == "before":
                if fault.kind == "delay":
                    time.sleep(fault.delay)
                else:
                    return self._fault_response(ctx, fault)

        identity = None
        if not _is_unsigned(op):
            try:
                identity = verify(req.method, req.target, req.headers, req.body, self.creds.lookup, self.now(),
                                  svc.signing_name, self.regions, self.max_skew,
                                  self.require_signed_amz_headers)
            except AuthFailure as f:
                raise auth_error(f.kind, ctx.protocol, f.message,
                                 query_compatible=svc.query_compatible and ctx.protocol == "json")
            log["access_key"] = identity.access_key
            log["region"] = identity.region

        if svc.key == "cloudwatch" and op.name == "PutMetricData" and len(body) > self.pmd_max_bytes:
            raise cw_error("RequestEntityTooLarge", "Request size %d exceeded %d bytes"
                           % (len(body), self.pmd_max_bytes), 413)

        issues = []
        if ctx.protocol == "query":
            params, issues = wire.parse_query(req_pairs, op.input_shape)
        else:
            try:
                doc = wire.load_json_body(body)
                params = wire.parse_json_params(doc, op.input_shape, issues) if op.input_shape else {}
                if op.input_shape is None and doc:
                    issues.extend(Issue("unknown", (k,), v) for k, v in doc.items())
            except wire.SerializationError as e:
                raise AwsError("SerializationException", str(e), 400)
        if self.allow_unknown_fields:
            issues = [i for i in issues if i.kind != "unknown"]
        if op.input_shape is not None:
            issues.extend(validate(params, op.input_shape))
        call = Call(self, svc, ctx.protocol, op, ctx.request_id, identity, params,
                    {k.lower(): v for k, v in reversed(req.headers)}, self.now(), len(body),
                    req.header("content-encoding"))
        if issues:
            raise validation_error(call, issues)

        handler = self.handlers.get((svc.key, op.name))
        if handler is None:
            raise not_implemented(call)
        out = handler(call)
        resp = self._success(ctx, out, call.response_headers)
        if fault is not None and fault.when == "after":
            if fault.kind == "delay":
                resp.delay_after = fault.delay
            else:
                return self._fault_response(ctx, fault, resp)
        return resp

    # ------------------------------------------------------------------
    def _form_pairs(self, req, body):
        texts = [req.query] if req.query else []
        if body:
            try:
                texts.append(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise AwsError("MalformedQueryString", "Request body is not valid UTF-8", 400)
        pairs = []
        for text in texts:
            try:
                pairs.extend(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                                                    errors="strict"))
            except (ValueError, UnicodeDecodeError) as e:
                raise AwsError("MalformedQueryString", "Malformed form body: %s" % e, 400)
        return pairs

    def _decode_body(self, req, ctx, log):
        body = req.body
        enc = req.header("content-encoding")
        if enc:
            codings = [c.strip().lower() for c in enc.split(",") if c.strip()]
            for c in reversed(codings):
                if c == "identity":
                    continue
                if c not in ("gzip", "x-gzip"):
                    raise AwsError("UnsupportedMediaType" if ctx.protocol != "query" else "MalformedQueryString",
                                   "Unsupported Content-Encoding %r" % c, 415)
                body = self._gunzip(body, ctx)
        log["decoded_bytes"] = len(body)
        log["body"] = body[:MAX_LOGGED_BODY].decode("utf-8", "replace")
        log["body_truncated"] = len(body) > MAX_LOGGED_BODY
        return body

    def _gunzip(self, data, ctx):
        out = []
        total = 0
        while data:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                chunk = d.decompress(data, self.max_decoded_bytes - total + 1)
            except zlib.error as e:
                raise AwsError("SerializationException" if ctx.protocol != "query" else "MalformedQueryString",
                               "Body is not valid gzip: %s" % e, 400)
            total += len(chunk)
            if total > self.max_decoded_bytes or d.unconsumed_tail:
                raise AwsError("RequestEntityTooLarge", "Decompressed body exceeds %d bytes"
                               % self.max_decoded_bytes, 413)
            if not d.eof:
                raise AwsError("SerializationException" if ctx.protocol != "query" else "MalformedQueryString",
                               "Body is truncated gzip", 400)
            out.append(chunk)
            data = d.unused_data
        return b"".join(out)

    # ------------------------------------------------------------------
    def _success(self, ctx, out, extra_headers):
        op, svc = ctx.op, ctx.service
        headers = [("x-amzn-RequestId", ctx.request_id)] + list(extra_headers.items())
        if ctx.protocol == "query":
            body = wire.query_success_body(op, out or {}, svc.xml_namespace, ctx.request_id)
            return Response(200, body, "text/xml", headers)
        if ctx.protocol == "json":
            body = wire.json_body(out, op.output_shape) if op.output_shape is not None else b""
            return Response(200, body, "application/x-amz-json-%s" % svc.json_version, headers)
        body = wire.json_body(out, op.output_shape)
        return Response(200, body, "application/json", headers)

    def render_error(self, ctx, err):
        headers = [("x-amzn-RequestId", ctx.request_id)] + list(err.headers.items())
        svc = ctx.service
        if ctx.protocol == "query":
            body = wire.query_error_body(err, svc.xml_namespace if svc else "", ctx.request_id)
            return Response(err.status, body, "text/xml", headers)
        if ctx.protocol == "json":
            etype = err.json_type or err.code
            version = svc.json_version if svc else "1.1"
            if svc is not None and svc.query_compatible:
                etype = "com.amazonaws.%s#%s" % (svc.key, err.json_type or CLOUDWATCH_JSON_TYPES.get(err.code, err.code))
                headers.append(("x-amzn-query-error", "%s;%s" % (err.code, "Sender" if err.sender else "Receiver")))
            body = json.dumps({"__type": etype, "message": err.message}).encode()
            return Response(err.status, body, "application/x-amz-json-%s" % version, headers)
        headers.append(("x-amzn-ErrorType", err.code))
        body = json.dumps({"Message": err.message}).encode()
        return Response(err.status, body, "application/json", headers)

    def _fault_response(self, ctx, fault, real=None):
        svc = ctx.service.key
        if fault.kind in ("reset", "close"):
            return Response(0, action=fault.kind)
        if fault.kind == "throttle":
            err = service_error(svc, "throttle", status=fault.status, code=fault.code, message=fault.message)
            return self.render_error(ctx, err)
        if fault.kind == "error":
            err = generic_error(svc, fault.status or 500, fault.code, fault.message)
            return self.render_error(ctx, err)
        # malformed: the request was (when="after") or was not processed; the answer is broken
        rid = [("x-amzn-RequestId", ctx.request_id)]
        if fault.mode == "content_type":
            return Response(200, "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body>"
                                 "</html>", "text/html", rid)
        if real is None:
            real = self._success(ctx, {}, {})
        if fault.mode == "truncated":
            body = real.body or b"{}"
            resp = Response(200, body[: max(1, len(body) // 2)], self._content_type(ctx), rid, action="truncate")
            resp.declared_length = len(body)
            return resp
        # bad_body: right status and content type, unparseable body
        if ctx.protocol == "query":
            body = ('<%sResponse xmlns="%s"><ResponseMetadata><RequestId>'
                    % (ctx.op.name, ctx.service.xml_namespace)).encode()
        else:
            shape = ctx.op.output_shape
            first = next(iter(shape.members), "Result") if shape is not None else "Result"
            body = ('{"%s": [' % first).encode()
        return Response(200, body, self._content_type(ctx), rid)

    @staticmethod
    def _content_type(ctx):
        if ctx.protocol == "query":
            return "text/xml"
        if ctx.protocol == "json":
            return "application/x-amz-json-%s" % ctx.service.json_version
        return "application/json"


def _is_unsigned(op):
    if getattr(op, "auth_type", None) == "none":
        return True
    auth = getattr(op, "_operation_model", {}).get("auth") or ()
    return "smithy.api#noAuth" in auth


def _header_dict(headers):
    d = {}
    for k, v in headers:
        d.setdefault(k.lower(), []).append(v)
    return {k: v[0] if len(v) == 1 else v for k, v in d.items()}
