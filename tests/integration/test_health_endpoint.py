"""The health and self-metrics endpoint (osprey.health) end to end: build/osprey sends
numbered log events (`generate`) to the strict compatible CloudWatch Logs endpoint, and
the test reads /healthz, /metrics and /status over HTTP.

- /metrics is parsed by a real Prometheus text-format parser (the npm package
  parse-prometheus-text-format, installed by scripts/npm-clients.sh) and its counters
  are checked against what the endpoint accepted;
- /healthz answers 200 "ok", goes 503 with the reason once the endpoint refuses
  connections for longer than stuck_after, and 200 again after it is back; nothing is
  lost meanwhile (every event is delivered exactly once);
- other paths 404, other methods 405; a port already in use is a clear start-up error;
  "enabled": false opens no listener."""
import collections
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from aws_endpoint import EndpointTestCase, REGION  # noqa: E402

NODE = "/usr/bin/node"
NPM_DIR = os.path.join(harness.SOURCE_DIR, "tests", "npm")
GROUP = "/osprey/health"
STREAM = "s"

PARSE_JS = r"""
const parse = require('parse-prometheus-text-format');
let text = '';
process.stdin.on('data', d => { text += d; });
process.stdin.on('end', () => { process.stdout.write(JSON.stringify(parse(text))); });
"""


def prometheus_parse(text):
    """Families as parse-prometheus-text-format returns them (it throws on bad input)."""
    r = subprocess.run([NODE, "-e", PARSE_JS], input=text, capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, NODE_PATH=os.path.join(NPM_DIR,
                                                                                "node_modules")))
    if r.returncode != 0:
        raise AssertionError("the Prometheus parser refused /metrics:\n%s\n%s"
                             % (r.stderr, text[:3000]))
    return {f["name"]: f for f in json.loads(r.stdout)}


def sample(families, name, **labels):
    for m in families[name]["metrics"]:
        if all(m.get("labels", {}).get(k) == v for k, v in labels.items()):
            return float(m["value"])
    raise AssertionError("no %s%s in %s" % (name, labels, families[name]["metrics"]))


def http(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def config(endpoint, generators, health=None):
    return {
        "agent": {"region": REGION},
        "osprey": {
            "summary_interval": 1,
            "state_dir": "/tmp/osprey-state-unused",
            "shutdown_deadline": 20,
            "health": dict({"address": "127.0.0.1:0", "stuck_after": 3}, **(health or {})),
            "generate": generators,
            "sinks": {"cloudwatch_logs": {"endpoint": endpoint.url, "force_flush_interval": 0.2}},
        },
    }


def gen(count, **kw):
    g = {"kind": "logs", "count": count, "log_group_name": GROUP, "log_stream_name": STREAM,
         "message": "event {n}"}
    g.update(kw)
    return g


class HealthEndpoint(EndpointTestCase):
    def events(self):
        got = self.endpoint.get("logs", group=GROUP, stream=STREAM)
        return [e["message"] for e in got.get("events", [])]

    def wait_health(self, port, status, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = http(port, "/healthz")
            if last[0] == status:
                return last
            time.sleep(0.2)
        raise AssertionError("/healthz stayed %r, wanted %d\n%s" % (last, status,
                                                                    self.agent.log()[-4000:]))

    def test_metrics_status_and_paths(self):
        n = 300
        self.start_agent(config(self.endpoint, [gen(n, rate=400)]))
        port = harness.health_port(self.agent)
        self.assertTrue(self.agent.wait_for_log("all %d records acknowledged" % n, timeout=60),
                        self.agent.log())
        status, body, headers = http(port, "/healthz")
        self.assertEqual((status, body), (200, "ok\n"))

        status, text, headers = http(port, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        fams = prometheus_parse(text)
        self.assertEqual(fams["osprey_records_in_total"]["type"], "COUNTER")
        self.assertEqual(sample(fams, "osprey_records_out_total", plugin="generate[0]",
                                kind="collector"), n)
        self.assertEqual(sample(fams, "osprey_records_out_total", plugin="cloudwatch_logs",
                                kind="exporter"), n)
        self.assertEqual(len(self.events()), n)
        self.assertGreaterEqual(sample(fams, "osprey_batches_total", plugin="cloudwatch_logs",
                                       result="ok"), 1)
        self.assertEqual(sample(fams, "osprey_dropped_total", plugin="cloudwatch_logs",
                                reason="retries_exhausted"), 0)
        self.assertEqual(sample(fams, "osprey_ring_capacity_bytes"), 8388608)
        self.assertGreater(sample(fams, "osprey_ring_high_water_bytes"), 0)
        self.assertEqual(sample(fams, "osprey_exporter_stuck", plugin="cloudwatch_logs"), 0)
        for family in ("osprey_retries_total", "osprey_acks_lost_total", "osprey_uptime_seconds",
                       "osprey_reloads_total", "osprey_ring_used_bytes", "osprey_build_info"):
            self.assertIn(family, fams)
        self.assertFalse([f for f in fams if "spool" in f])  # Osprey has no disk spool

        status, body, headers = http(port, "/status")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        st = json.loads(body)
        self.assertTrue(st["healthy"])
        self.assertEqual(st["config"], self.agent.config_path)
        self.assertEqual([(c["name"], c["state"], c["records_out"]) for c in st["collectors"]],
                         [("generate[0]", "running", n)])
        self.assertEqual(st["exporters"][0]["name"], "cloudwatch_logs")
        self.assertEqual(st["ring"]["capacity_bytes"], 8388608)

        self.assertEqual(http(port, "/nope")[0], 404)
        status, _, headers = http(port, "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET")
        self.assertEqual(http(port, "/healthz", method="DELETE")[0], 405)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())

    def test_503_while_endpoint_refuses_then_200(self):
        # 40 events a second for 30 s; the endpoint refuses connections for 10 s of it.
        n = 1200
        self.start_agent(config(self.endpoint, [gen(n, rate=40)]))
        port = harness.health_port(self.agent)
        self.wait_health(port, 200, 10)
        deadline = time.monotonic() + 20
        while not self.events() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(self.events(), self.agent.log())
        self.endpoint.post("refuse", {"seconds": 10, "close_connections": True})
        t0 = time.monotonic()
        status, body, _ = self.wait_health(port, 503, 9)
        went_bad = time.monotonic() - t0
        # stuck_after is 3 s; the decision runs once a second.
        self.assertGreaterEqual(went_bad, 1.5, body)
        self.assertRegex(self.agent.log(),
                         r"cloudwatch_logs: stuck: holding data and nothing delivered for \d+ s")
        self.assertRegex(body, r"^exporter cloudwatch_logs: no acknowledged records for \d+ s "
                               r"while data waits \(\d+ records taken and not yet delivered\)\n$")
        fams = prometheus_parse(http(port, "/metrics")[1])
        self.assertEqual(sample(fams, "osprey_exporter_stuck", plugin="cloudwatch_logs"), 1)
        self.assertFalse(json.loads(http(port, "/status")[1])["healthy"])
        # Back after the refusal ends (10 s) plus the exporter's retry back-off.
        self.wait_health(port, 200, 40)
        self.assertGreaterEqual(time.monotonic() - t0, 9.0)
        self.assertIn("cloudwatch_logs: no longer stuck", self.agent.log())
        self.assertTrue(self.agent.wait_for_log("all %d records acknowledged" % n, timeout=90),
                        self.agent.log()[-4000:])
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())
        counts = collections.Counter(self.events())
        self.assertEqual(len(counts), n, "lost events")
        self.assertEqual(set(counts.values()), {1}, "duplicated events")

    def test_port_in_use_is_a_startup_error(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            self.start_agent(config(self.endpoint, [gen(10)],
                                    {"address": "127.0.0.1:%d" % port}))
            self.agent.proc.wait(timeout=30)
            log = self.agent.log()
            self.assertEqual(self.agent.proc.returncode, 1, log)
            self.assertIn("cannot serve the health endpoint on 127.0.0.1:%d" % port, log)
            self.assertIn("address already in use", log)
        finally:
            busy.close()

    def test_disabled(self):
        self.start_agent(config(self.endpoint, [gen(50)], {"enabled": False}))
        self.assertTrue(self.agent.wait_for_log("all 50 records acknowledged", timeout=60),
                        self.agent.log())
        self.assertNotIn("health endpoint listening", self.agent.log())
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
