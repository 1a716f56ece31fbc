"""End to end: the real OpenTelemetry JS SDK (BasicTracerProvider + the
@opentelemetry/exporter-trace-otlp-proto exporter) -> Osprey's OTLP/HTTP receiver
(traces.traces_collected.otlp) -> span-to-segment conversion -> the xray sink -> the strict
compatible endpoint, which validates every PutTraceSegments call and document.

The JS exporter always sends its body with Transfer-Encoding: chunked, so every SDK test
also covers agent/httpd's chunked request bodies; test_sdk_direct_chunked_request checks
that on the wire, with a recording TCP proxy between the SDK and Osprey.

Also: OTLP JSON requests, and bad requests (truncated protobuf, wrong content type, gzip
bomb, wrong path and method) answered with the OTLP/HTTP statuses while the listener keeps
serving."""
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from aws_endpoint import EndpointTestCase, REGION  # noqa: E402

SOURCE_DIR = os.environ.get("OSPREY_SOURCE_DIR", os.getcwd())
NODE = "/usr/bin/node"
NODE_MODULES = os.path.join(SOURCE_DIR, "tests", "npm", "node_modules")

NODE_SCRIPT = r"""
const path = require('path');
const nm = process.env.NODE_MODULES;
const api = require(path.join(nm, '@opentelemetry/api'));
const { BasicTracerProvider, SimpleSpanProcessor, BatchSpanProcessor } =
    require(path.join(nm, '@opentelemetry/sdk-trace-base'));
const { OTLPTraceExporter } = require(path.join(nm, '@opentelemetry/exporter-trace-otlp-proto'));
const { Resource } = require(path.join(nm, '@opentelemetry/resources'));

async function main() {
  const url = process.env.OTLP_URL;
  let failures = 0;
  const inner = new OTLPTraceExporter({ url, compression: process.env.GZIP === '1' ? 'gzip' : 'none' });
  // Count export failures: SimpleSpanProcessor would otherwise only log them.
  const exporter = {
    export: (spans, done) => inner.export(spans, (r) => {
      if (r.code !== 0) { failures++; console.error('export failed: ' + r.error); }
      done(r);
    }),
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush(),
  };
  const provider = new BasicTracerProvider({
    resource: new Resource({ 'service.name': 'checkout', 'deployment.environment': 'test' }),
  });
  provider.addSpanProcessor(process.env.BATCH === '1' ? new BatchSpanProcessor(exporter)
                                                      : new SimpleSpanProcessor(exporter));
  const tracer = provider.getTracer('osprey-it', '1.0.0');
  const out = [];
  const server = tracer.startSpan('GET /orders/:id', {
    kind: api.SpanKind.SERVER,
    attributes: { 'http.request.method': 'GET', 'url.scheme': 'http', 'server.address': 'shop',
                  'url.path': '/orders/7', 'http.response.status_code': 200, 'order.id': 7,
                  'user_agent.original': 'curl/8' },
  });
  const ctx = api.trace.setSpan(api.context.active(), server);
  const client = tracer.startSpan('GET', {
    kind: api.SpanKind.CLIENT,
    attributes: { 'http.request.method': 'GET', 'url.full': 'http://inventory:8080/stock/7',
                  'server.address': 'inventory', 'http.response.status_code': 503 },
  }, ctx);
  client.setStatus({ code: api.SpanStatusCode.ERROR, message: 'inventory unavailable' });
  client.end();
  const internal = tracer.startSpan('compute-price', {
    kind: api.SpanKind.INTERNAL, attributes: { 'price.items': 3, 'price.currency': 'EUR' },
  }, ctx);
  try { throw new TypeError('bad price'); } catch (e) { internal.recordException(e); }
  internal.setStatus({ code: api.SpanStatusCode.ERROR, message: 'bad price' });
  internal.end();
  const db = tracer.startSpan('SELECT orders', {
    kind: api.SpanKind.CLIENT,
    attributes: { 'db.system': 'postgresql', 'db.name': 'shop', 'db.statement': 'SELECT 1',
                  'db.user': 'app' },
  }, ctx);
  db.end();
  server.end();
  for (const s of [server, client, internal, db])
    out.push({ name: s.name, trace_id: s.spanContext().traceId, span_id: s.spanContext().spanId });
  await provider.forceFlush();
  await provider.shutdown();
  if (failures) process.exit(2);
  console.log(JSON.stringify(out));
}
main().catch((e) => { console.error(e); process.exit(1); });
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RecordingProxy:
    """A TCP proxy to 127.0.0.1:`target` that passes bytes through unchanged both ways
    and records what the clients sent."""

    def __init__(self, target):
        import threading
        self.target = target
        self.lock = threading.Lock()
        self.upstream_bytes = bytearray()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.threads = []
        self.socks = []
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()

    def accept_loop(self):
        import threading
        while True:
            try:
                client, _ = self.srv.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [client, upstream]
            for a, b, rec in ((client, upstream, True), (upstream, client, False)):
                t = threading.Thread(target=self.pump, args=(a, b, rec), daemon=True)
                t.start()
                self.threads.append(t)

    def pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self.lock:
                        self.upstream_bytes += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def sent(self):
        with self.lock:
            return bytes(self.upstream_bytes)

    def close(self):
        self.srv.close()
        for t in self.threads:
            t.join(timeout=5)
        for s in self.socks:
            s.close()


def config(endpoint, port, otlp=None):
    o = {"http_endpoint": "127.0.0.1:%d" % port}
    o.update(otlp or {})
    return {
        "agent": {"region": REGION},
        "traces": {"traces_collected": {"otlp": o}},
        "osprey": {
            "summary_interval": 1,
            "state_dir": "/tmp/osprey-state-unused",
            "shutdown_deadline": 10,
            "sinks": {"xray": {"endpoint": endpoint.url, "idle_flush": 0.1}},
        },
    }


def post(port, path, body, headers, method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        conn.close()


def json_request(trace_hex, span_hex, name="json-span", parent_hex=""):
    now = time.time_ns()
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "jsonsvc"}}]},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": [{
            "traceId": trace_hex, "spanId": span_hex, "parentSpanId": parent_hex, "name": name,
            "kind": 2, "startTimeUnixNano": str(now - 5000000), "endTimeUnixNano": str(now),
            "attributes": [{"key": "http.status_code", "value": {"intValue": "404"}}],
            "status": {"code": 2, "message": "not found"}}]}]}]}


class OtlpReceiver(EndpointTestCase):
    def segments(self):
        return self.endpoint.get("segments")["segments"]

    def wait_segments(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        segs = self.segments()
        while len(segs) < n and time.monotonic() < deadline:
            time.sleep(0.1)
            segs = self.segments()
        return segs

    def start(self, otlp=None):
        self.port = free_port()
        self.start_agent(config(self.endpoint, self.port, otlp))
        self.assertTrue(self.agent.wait_for_log("OTLP/HTTP listening", timeout=20),
                        self.agent.log())

    def run_node(self, batch=False, gzip=False, port=None):
        with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
            f.write(NODE_SCRIPT)
            script = f.name
        env = dict(os.environ, NODE_MODULES=NODE_MODULES, BATCH="1" if batch else "0",
                   GZIP="1" if gzip else "0",
                   OTLP_URL="http://127.0.0.1:%d/v1/traces" % (port or self.port))
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env.pop(k, None)
        p = subprocess.run([NODE, script], env=env, capture_output=True, text=True, timeout=60)
        os.unlink(script)
        self.assertEqual(p.returncode, 0, p.stderr + "\n" + self.agent.log())
        return json.loads(p.stdout.strip().splitlines()[-1])

    def check_sdk_spans(self, spans):
        segs = self.wait_segments(len(spans))
        by_id = {s["id"]: s for s in segs}
        self.assertEqual(len(segs), len(spans), (segs, self.agent.log()))
        reqs = self.endpoint.get("requests", operation="PutTraceSegments")["requests"]
        self.assertTrue(reqs and all(r["status"] == 200 for r in reqs), reqs)
        server, client, internal, db = [by_id[s["span_id"]] for s in spans]
        tid = spans[0]["trace_id"]
        xray_tid = "1-%s-%s" % (tid[:8], tid[8:])
        for s in (server, client, internal, db):
            self.assertEqual(s["trace_id"], xray_tid)
        d = server["document"]
        self.assertEqual(server["type"], "segment")
        self.assertEqual(d["name"], "checkout")
        self.assertNotIn("parent_id", d)
        self.assertEqual(d["http"]["request"]["method"], "GET")
        self.assertEqual(d["http"]["request"]["url"], "http://shop/orders/7")
        self.assertEqual(d["http"]["response"]["status"], 200)
        self.assertEqual(d["metadata"]["default"]["order.id"], 7)
        self.assertEqual(d["metadata"]["default"]["otel.resource.service.name"], "checkout")
        self.assertGreater(d["end_time"], d["start_time"])
        self.assertEqual(d["aws"]["xray"]["sdk"], "opentelemetry for nodejs")
        c = client["document"]
        self.assertEqual(client["type"], "subsegment")
        self.assertEqual(c["parent_id"], spans[0]["span_id"])
        self.assertEqual(c["name"], "inventory")
        self.assertEqual(c["namespace"], "remote")
        self.assertTrue(c["fault"])
        self.assertEqual(c["http"]["response"]["status"], 503)
        self.assertEqual(c["http"]["request"]["url"], "http://inventory:8080/stock/7")
        i = internal["document"]
        self.assertEqual(internal["type"], "subsegment")
        self.assertEqual(i["name"], "compute-price")
        self.assertTrue(i["fault"])
        exc = i["cause"]["exceptions"][0]
        self.assertEqual(exc["type"], "TypeError")
        self.assertEqual(exc["message"], "bad price")
        self.assertRegex(exc["id"], r"^[0-9a-f]{16}$")
        self.assertTrue(exc["stack"] and all("label" in f for f in exc["stack"]), exc)
        self.assertNotIn("namespace", i)
        q = db["document"]
        self.assertEqual(q["name"], "shop")
        self.assertEqual(q["sql"]["database_type"], "postgresql")
        self.assertEqual(q["sql"]["sanitized_query"], "SELECT 1")
        self.assertEqual(q["sql"]["user"], "app")

    def test_sdk_spans_arrive_as_valid_segments(self):
        self.start()
        self.check_sdk_spans(self.run_node())

    def test_sdk_batch_processor_gzip(self):
        self.start()
        self.check_sdk_spans(self.run_node(batch=True, gzip=True))

    def test_sdk_direct_chunked_request(self):
        # The SDK talks to Osprey straight, through a TCP proxy that only records what
        # the SDK sent: the bodies must really have been chunked.
        self.start()
        proxy = RecordingProxy(self.port)
        try:
            spans = self.run_node(port=proxy.port)
        finally:
            proxy.close()
        sent = proxy.sent().lower()
        self.assertIn(b"transfer-encoding: chunked\r\n", sent)
        self.assertNotIn(b"content-length:", sent.split(b"\r\n\r\n", 1)[0])
        self.check_sdk_spans(spans)

    def test_json_request_and_annotations(self):
        self.start({"indexed_attributes": ["http.status_code"]})
        body = json.dumps(json_request("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"))
        st, hdrs, out = post(self.port, "/v1/traces", body, {"Content-Type": "application/json"})
        self.assertEqual(st, 200, out)
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual(json.loads(out), {})
        segs = self.wait_segments(1)
        self.assertEqual(len(segs), 1, self.agent.log())
        d = segs[0]["document"]
        self.assertEqual(d["trace_id"], "1-5b8efff7-98038103d269b633813fc60c")
        self.assertEqual(d["id"], "eee19b7ec3c1b174")
        self.assertEqual(d["name"], "jsonsvc")
        self.assertEqual(d["annotations"], {"http_status_code": 404})
        self.assertTrue(d["error"])
        self.assertNotIn("fault", d)

    def test_partial_success_counts_refused_spans(self):
        self.start()
        req = json_request("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
        bad = dict(req["resourceSpans"][0]["scopeSpans"][0]["spans"][0])
        bad["spanId"] = "00"  # one byte: not a span id
        req["resourceSpans"][0]["scopeSpans"][0]["spans"].append(bad)
        st, _, out = post(self.port, "/v1/traces", json.dumps(req),
                          {"Content-Type": "application/json"})
        self.assertEqual(st, 200, out)
        ps = json.loads(out)["partialSuccess"]
        self.assertEqual(ps["rejectedSpans"], "1")
        self.assertIn("bad_span_id", ps["errorMessage"])
        self.assertEqual(len(self.wait_segments(1)), 1)

    def test_bad_requests_are_refused_and_the_listener_keeps_serving(self):
        self.start({"max_request_body_size": 1 << 20})
        good = json.dumps(json_request("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"))
        pb = {"Content-Type": "application/x-protobuf"}
        # A truncated protobuf: a length-delimited field announcing more than is there.
        st, hdrs, _ = post(self.port, "/v1/traces", b"\x0a\x20\x0a\x05", pb)
        self.assertEqual(st, 400)
        self.assertEqual(hdrs["content-type"], "application/x-protobuf")
        st, _, _ = post(self.port, "/v1/traces", good, {"Content-Type": "text/plain"})
        self.assertEqual(st, 415)
        st, _, out = post(self.port, "/v1/traces", b"{not json", {"Content-Type": "application/json"})
        self.assertEqual(st, 400)
        self.assertIn("message", json.loads(out))
        bomb = gzip.compress(b"\0" * (8 << 20))
        self.assertLess(len(bomb), 1 << 20)
        st, _, _ = post(self.port, "/v1/traces", bomb, dict(pb, **{"Content-Encoding": "gzip"}))
        self.assertEqual(st, 413)
        st, _, _ = post(self.port, "/v1/traces", b"\x1f\x8b garbage",
                        dict(pb, **{"Content-Encoding": "gzip"}))
        self.assertEqual(st, 400)
        st, _, _ = post(self.port, "/v1/spans", good, {"Content-Type": "application/json"})
        self.assertEqual(st, 404)
        st, hdrs, _ = post(self.port, "/v1/traces", None, {}, method="GET")
        self.assertEqual(st, 405)
        self.assertEqual(hdrs.get("allow"), "POST")
        # Still serving, also gzip-compressed JSON.
        st, _, out = post(self.port, "/v1/traces", gzip.compress(good.encode()),
                          {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        self.assertEqual(st, 200, out)
        segs = self.wait_segments(1)
        self.assertEqual([s["id"] for s in segs], ["b7ad6b7169203331"])
        self.assertIsNone(self.agent.proc.poll())

    def test_grpc_endpoint_is_a_clear_config_error(self):
        self.port = free_port()
        cfg = config(self.endpoint, self.port, {"grpc_endpoint": "127.0.0.1:4317"})
        self.start_agent(cfg)
        code = self.agent.proc.wait(timeout=20)
        self.assertNotEqual(code, 0)
        log = self.agent.log()
        self.assertIn("grpc_endpoint", log)
        self.assertIn("OTLP/HTTP", log)


def plain_env():
    env = dict(os.environ)
    for k in list(env):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            del env[k]
    return env


class OtlpExport(unittest.TestCase):
    """osprey A (generate: metrics, logs, traces) -> otlp sink -> osprey B's OTLP receiver
    -> file sink. A is started first, while nothing listens: its batches are retried
    (connection refused) until B is up, then every record arrives exactly once."""

    def tearDown(self):
        for a in getattr(self, "agents", []):
            a.kill()

    def test_metrics_logs_and_segments_round_trip(self):
        import harness
        port = free_port()
        out = tempfile.mkdtemp(prefix="osprey-otlp-out-")
        sender = harness.Agent({"osprey": {
            "summary_interval": 1, "state_dir": "/tmp/osprey-state-unused", "shutdown_deadline": 10,
            "generate": [{"kind": "metrics", "count": 30, "metric_name": "m"},
                         {"kind": "logs", "count": 50, "log_group_name": "g", "log_stream_name": "s"},
                         {"kind": "traces", "count": 40}],
            "sinks": {"otlp": {"endpoint": "http://127.0.0.1:%d" % port, "batch_size": 16}}}},
            env=plain_env())
        receiver = harness.Agent({
            "traces": {"traces_collected": {"otlp": {"http_endpoint": "127.0.0.1:%d" % port,
                                                     "log_group_name": "received"}}},
            "osprey": {"summary_interval": 1, "state_dir": "/tmp/osprey-state-unused",
                       "sinks": {"file": {"directory": out}}}}, env=plain_env())
        self.agents = [sender, receiver]
        sender.start()
        self.assertTrue(sender.wait_for_log("retrying", timeout=20), sender.log())
        receiver.start()
        self.assertTrue(sender.wait_for_log("all 40 records acknowledged", timeout=60), sender.log())
        for n in (30, 50):
            self.assertTrue(sender.wait_for_log("all %d records acknowledged (accepted %d, rejected 0"
                                                % (n, n), timeout=30), sender.log())
        self.assertIn("all 40 records acknowledged (accepted 40, rejected 0", sender.log())
        code, _ = sender.stop()
        self.assertEqual(code, 0, sender.log())
        time.sleep(1.5)  # the receiver's file sink flushes every second
        code, _ = receiver.stop()
        self.assertEqual(code, 0, receiver.log())
        metrics = harness.read_jsonl(os.path.join(out, "metrics.jsonl"))
        logs = harness.read_jsonl(os.path.join(out, "logs.jsonl"))
        traces = harness.read_jsonl(os.path.join(out, "traces.jsonl"))
        self.assertEqual(sorted(m["Value"] for m in metrics), list(range(30)))
        self.assertTrue(all(m["MetricName"] == "m" for m in metrics), metrics[:2])
        self.assertEqual(len(logs), 50)
        self.assertEqual(sorted(int(l["message"].rsplit(" ", 1)[1]) for l in logs), list(range(50)))
        self.assertTrue(all(l["group"] == "received" and l["stream"] == "s" for l in logs), logs[:2])
        self.assertEqual(len(traces), 40)
        self.assertEqual(sorted(t["annotations"]["n"] for t in traces), list(range(40)))


class ScriptedReceiver:
    """An OTLP/HTTP stand-in answering each POST with the next status of `statuses` (the
    last one repeats); records method, path, headers and body size."""

    def __init__(self, statuses):
        import http.server
        import threading
        outer = self
        self.statuses = list(statuses)
        self.requests = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "body": body})
                st = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(st)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class OtlpExportStatuses(unittest.TestCase):
    def tearDown(self):
        if getattr(self, "agent", None):
            self.agent.kill()
        self.rx.close()

    def run_sender(self, statuses, expect):
        import harness
        self.rx = ScriptedReceiver(statuses)
        self.agent = harness.Agent({"osprey": {
            "summary_interval": 1, "state_dir": "/tmp/osprey-state-unused",
            "generate": [{"kind": "logs", "count": 20}],
            "sinks": {"otlp": {"endpoint": "http://127.0.0.1:%d/" % self.rx.port,
                               "headers": {"x-api-key": "secret"}}}}}, env=plain_env()).start()
        self.assertTrue(self.agent.wait_for_log(expect, timeout=60), self.agent.log())
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())
        return self.rx.requests

    def test_retryable_statuses_are_retried(self):
        reqs = self.run_sender([429, 503, 502, 504, 200],
                               "all 20 records acknowledged (accepted 20, rejected 0, given up 0)")
        self.assertEqual(len(reqs), 5)
        for r in reqs:
            self.assertEqual(r["path"], "/v1/logs")
            self.assertEqual(r["headers"]["Content-Type"], "application/x-protobuf")
            self.assertEqual(r["headers"]["Content-Encoding"], "gzip")
            self.assertEqual(r["headers"]["x-api-key"], "secret")
        self.assertEqual(len({r["body"] for r in reqs}), 1, "a retry must resend the same batch")
        self.assertIn(b"osprey generated line 19", gzip.decompress(reqs[0]["body"]))

    def test_bad_request_is_not_retried(self):
        reqs = self.run_sender([400],
                               "all 20 records acknowledged (accepted 0, rejected 20, given up 0)")
        self.assertEqual(len(reqs), 1)


class OtlpMetricsLogs(unittest.TestCase):
    """OTLP JSON metrics and logs into the receiver, out through the file sink."""

    def tearDown(self):
        if getattr(self, "agent", None):
            self.agent.kill()

    def test_metrics_and_logs(self):
        import harness
        port = free_port()
        out = tempfile.mkdtemp(prefix="osprey-otlp-ml-")
        self.agent = harness.Agent({
            "traces": {"traces_collected": {"otlp": {"http_endpoint": "127.0.0.1:%d" % port}}},
            "osprey": {"summary_interval": 1, "state_dir": "/tmp/osprey-state-unused",
                       "sinks": {"file": {"directory": out}}}}, env=plain_env()).start()
        self.assertTrue(self.agent.wait_for_log("OTLP/HTTP listening", timeout=20), self.agent.log())
        now = str(time.time_ns())
        attrs = [{"key": "route", "value": {"stringValue": "/a"}},
                 {"key": "code", "value": {"intValue": "200"}}]
        metrics = {"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeMetrics": [{"metrics": [
                {"name": "queue.depth", "unit": "{items}", "gauge": {"dataPoints": [
                    {"timeUnixNano": now, "asInt": "7", "attributes": attrs}]}},
                {"name": "requests", "unit": "1", "sum": {"aggregationTemporality": 1,
                    "isMonotonic": True, "dataPoints": [{"timeUnixNano": now, "asDouble": 3.5}]}},
                {"name": "latency", "unit": "ms", "histogram": {"aggregationTemporality": 1,
                    "dataPoints": [{"timeUnixNano": now, "count": "4", "sum": 10.0, "min": 1.0,
                                    "max": 4.0, "bucketCounts": ["1", "3"],
                                    "explicitBounds": [2.0]}]}},
                {"name": "bad", "gauge": {"dataPoints": [{"timeUnixNano": now,
                                                          "asDouble": "NaN"}]}},
            ]}]}]}
        st, _, body = post(port, "/v1/metrics", json.dumps(metrics),
                           {"Content-Type": "application/json"})
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["partialSuccess"]["rejectedDataPoints"], "1")
        logs = {"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeLogs": [{"logRecords": [
                {"timeUnixNano": now, "severityNumber": 9, "body": {"stringValue": "hello"}},
                {"observedTimeUnixNano": now, "body": {"kvlistValue": {"values": [
                    {"key": "k", "value": {"intValue": "1"}}]}}},
            ]}]}]}
        st, _, body = post(port, "/v1/logs", gzip.compress(json.dumps(logs).encode()),
                           {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {})
        time.sleep(1.5)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())
        got = {m["MetricName"]: m for m in harness.read_jsonl(os.path.join(out, "metrics.jsonl"))}
        self.assertEqual(set(got), {"queue.depth", "requests", "latency"})
        self.assertEqual(got["queue.depth"]["Namespace"], "shop")
        self.assertEqual(got["queue.depth"]["Value"], 7)
        self.assertEqual(got["queue.depth"]["Unit"], "Count")
        self.assertEqual(sorted((d["Name"], d["Value"]) for d in got["queue.depth"]["Dimensions"]),
                         [("code", "200"), ("route", "/a")])
        self.assertEqual(got["requests"]["Value"], 3.5)
        self.assertEqual(got["latency"]["StatisticValues"],
                         {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4})
        self.assertEqual(got["latency"]["Unit"], "Milliseconds")
        lines = harness.read_jsonl(os.path.join(out, "logs.jsonl"))
        self.assertEqual([l["message"] for l in lines], ["hello", '{"k":1}'])
        self.assertTrue(all(l["group"] == "/osprey/otlp" and l["stream"] == "shop" for l in lines))


if __name__ == "__main__":
    unittest.main()
