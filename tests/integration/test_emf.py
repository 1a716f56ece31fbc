"""End to end: the EMF listener (logs.metrics_collected.emf) driven by the real
aws-embedded-metrics npm client in Agent mode over TCP and UDP, plus garbage from Python.

- With a file sink: every EMF document arrives as a log event, verbatim, in its group and
  stream, and its values as metric points (namespace, name, unit, resolution, one point
  per dimension set, an array as StatisticValues); refused lines are counted per reason
  and the listener keeps serving.
- With the compatible AWS endpoint: PutLogEvents carries the EMF events with
  "x-amzn-logs-format: json/emf", and no PutMetricData carries an EMF metric (CloudWatch
  Logs extracts them; the cloudwatch sink skips the points and counts them as local_only).
"""
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from aws_endpoint import EndpointTestCase, REGION  # noqa: E402

NODE = "/usr/bin/node"
NPM_DIR = os.path.join(harness.SOURCE_DIR, "tests", "npm")
GROUP = "/osprey/emf-test"
# The client refuses timestamps older than 14 days; ten minutes ago, on a whole second.
TS_MS = (int(time.time()) - 600) * 1000
TS_ISO = datetime.datetime.fromtimestamp(TS_MS / 1000, datetime.timezone.utc).strftime(
    "%Y-%m-%dT%H:%M:%S.000Z")

# Two flushes: the first with an explicit stream, two dimension sets, a repeated metric
# (an array of values) and a high-resolution one; the second without dimensions.
CLIENT_JS = r"""
const { createMetricsLogger, Unit, StorageResolution } = require('aws-embedded-metrics');
(async () => {
  const m = createMetricsLogger();
  m.setNamespace('OspreyTest');
  m.setDimensions([{ Operation: 'get' }, { Operation: 'get', Service: 'svc' }]);
  m.putMetric('Latency', 12.5, Unit.Milliseconds);
  m.putMetric('Latency', 7.5, Unit.Milliseconds);
  m.putMetric('Hits', 3, Unit.Count, StorageResolution.High);
  m.setProperty('RequestId', 'req-' + process.env.TAG);
  m.setTimestamp(Number(process.env.TS_MS));
  await m.flush();
  const n = createMetricsLogger();
  n.setNamespace('OspreyTest');
  n.setDimensions({});
  n.putMetric('Plain', 42, Unit.Bytes);
  n.setTimestamp(Date.now());
  await n.flush();
  if (process.env.EXIT_AFTER_FLUSH) process.exit(0);
})().catch(e => { console.error(e); process.exit(1); });
"""


def free_port(kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_client(endpoint, tag, stream=None):
    """The real aws-embedded-metrics client, Agent environment, pointed at `endpoint`."""
    script = os.path.join(tempfile.mkdtemp(prefix="osprey-emf-js-"), "client.js")
    with open(script, "w") as f:
        f.write(CLIENT_JS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"NODE_PATH": os.path.join(NPM_DIR, "node_modules"),
                "AWS_EMF_ENVIRONMENT": "Agent",
                "AWS_EMF_AGENT_ENDPOINT": endpoint,
                "AWS_EMF_LOG_GROUP_NAME": GROUP,
                "AWS_EMF_SERVICE_NAME": "emf-it",
                "AWS_EMF_SERVICE_TYPE": "test",
                "TAG": tag, "TS_MS": str(TS_MS)})
    if stream:
        env["AWS_EMF_LOG_STREAM_NAME"] = stream
    if endpoint.startswith("tcp:"):
        # flush() resolves once the kernel has the bytes; do not wait for the idle timeout.
        env["EXIT_AFTER_FLUSH"] = "1"
    r = subprocess.run([NODE, script], cwd=NPM_DIR, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "node client failed: %s %s" % (r.stdout, r.stderr)


def wait_for(predicate, what, agent, timeout=30.0):
    """Poll until predicate() is true; fail with the agent log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if agent.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s\n%s" % (what, agent.log()))


def final_summary(log):
    lines = [l for l in log.splitlines() if "final collected:" in l]
    assert lines, log
    return lines[-1]


def valid_line(name, value, group=GROUP, stream=None):
    aws = {"Timestamp": 1700000000000, "LogGroupName": group,
           "CloudWatchMetrics": [{"Namespace": "Py", "Dimensions": [["D"]],
                                  "Metrics": [{"Name": name, "Unit": "Count"}]}]}
    if stream:
        aws["LogStreamName"] = stream
    return json.dumps({"_aws": aws, "D": "d", name: value}, separators=(",", ":"))


class EmfToFileSink(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="osprey-emf-out-")
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.kill()

    def start(self, emf, log_stream_name=None):
        logs = {"metrics_collected": {"emf": emf}}
        if log_stream_name:
            logs["log_stream_name"] = log_stream_name
        cfg = {"logs": logs,
               "osprey": {"summary_interval": 0, "flush_interval": 0.05,
                          "hostname": "emf-host",
                          "sinks": {"file": {"directory": self.out}}}}
        self.agent = harness.Agent(cfg).start()
        self.assertTrue(self.agent.wait_for_log("listening for EMF"), self.agent.log())
        return self.agent

    def logs(self):
        return harness.read_jsonl(os.path.join(self.out, "logs.jsonl"))

    def metrics(self):
        return harness.read_jsonl(os.path.join(self.out, "metrics.jsonl"))

    def stop(self):
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        return self.agent.log()

    def check_client_output(self, tag, stream):
        logs = [e for e in self.logs() if ("req-%s" % tag) in e["message"] or
                ('"Plain"' in e["message"] and e["stream"] == stream)]
        self.assertEqual(len(logs), 2, logs)
        first = json.loads(logs[0]["message"])
        self.assertEqual(logs[0]["group"], GROUP)
        self.assertEqual(logs[0]["stream"], stream)
        self.assertEqual(first["_aws"]["CloudWatchMetrics"][0]["Namespace"], "OspreyTest")
        self.assertEqual(first["Latency"], [12.5, 7.5])
        # The message is the line the client sent, byte for byte (no re-serialisation).
        self.assertNotIn("\n", logs[0]["message"])

        pts = [m for m in self.metrics() if m["Namespace"] == "OspreyTest"
               and m["Timestamp"] == TS_ISO]
        latency = [m for m in pts if m["MetricName"] == "Latency"]
        self.assertEqual(len(latency), 2, pts)  # one per dimension set
        dims = sorted(tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in latency)
        self.assertEqual(dims, [(("Operation", "get"),),
                                (("Operation", "get"), ("Service", "svc"))])
        for m in latency:
            self.assertEqual(m["Unit"], "Milliseconds")
            self.assertEqual(m["StorageResolution"], 60)
            self.assertEqual(m["StatisticValues"], {"SampleCount": 2, "Sum": 20, "Minimum": 7.5,
                                                    "Maximum": 12.5})
        hits = [m for m in pts if m["MetricName"] == "Hits"]
        self.assertEqual(len(hits), 2)
        for m in hits:
            self.assertEqual(m["Value"], 3)
            self.assertEqual(m["Unit"], "Count")
            self.assertEqual(m["StorageResolution"], 1)
        plain = [m for m in self.metrics() if m["MetricName"] == "Plain"]
        self.assertTrue(plain)
        self.assertEqual(plain[-1]["Dimensions"], [])
        self.assertEqual(plain[-1]["Value"], 42)
        self.assertEqual(plain[-1]["Unit"], "Bytes")

    def test_tcp_client(self):
        port = free_port("tcp")
        self.start({"service_address": "tcp://127.0.0.1:%d" % port})
        run_client("tcp://127.0.0.1:%d" % port, "tcp", stream="s-tcp")
        wait_for(lambda: len(self.logs()) >= 2 and any(m["MetricName"] == "Plain"
                                                        for m in self.metrics()),
                 "two EMF events", self.agent)
        self.stop()
        self.check_client_output("tcp", "s-tcp")

    def test_udp_client_and_default_stream(self):
        port = free_port("udp")
        self.start({"service_address": "udp:127.0.0.1:%d" % port},
                   log_stream_name="{hostname}-emf")
        run_client("udp://127.0.0.1:%d" % port, "udp")
        wait_for(lambda: len(self.logs()) >= 2 and any(m["MetricName"] == "Plain"
                                                        for m in self.metrics()),
                 "two EMF events", self.agent)
        self.stop()
        # No LogStreamName in the documents: the logs section's, expanded.
        self.check_client_output("udp", "emf-host-emf")

    def test_default_listens_on_loopback_tcp_and_udp(self):
        for kind in ("tcp", "udp"):
            s = socket.socket(socket.AF_INET,
                              socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", 25888))
            except OSError:
                self.skipTest("port 25888 is in use on this host")
            finally:
                s.close()
        self.start({})
        log = self.agent.log()
        self.assertIn("listening for EMF on tcp 127.0.0.1:25888", log)
        self.assertIn("listening for EMF on udp 127.0.0.1:25888", log)
        run_client("tcp://127.0.0.1:25888", "dflt-tcp", stream="dt")
        run_client("udp://127.0.0.1:25888", "dflt-udp", stream="du")
        wait_for(lambda: len(self.logs()) >= 4, "four EMF events", self.agent)
        self.stop()
        self.assertEqual(sorted(e["stream"] for e in self.logs()), ["dt", "dt", "du", "du"])

    def test_garbage_is_counted_and_the_listener_keeps_serving(self):
        tport, uport = free_port("tcp"), free_port("udp")
        # Two instances cannot share the key: use one TCP and check UDP with a second run.
        self.start({"service_address": "tcp:127.0.0.1:%d" % tport, "max_connections": 2})
        c = socket.create_connection(("127.0.0.1", tport))
        lines = [
            "not json",
            "[1,2]",
            "{}",
            json.dumps({"_aws": {"Timestamp": 1, "CloudWatchMetrics": []}}),  # no group
            valid_line("Bad", "text"),
            json.dumps({"_aws": {"Timestamp": 1, "LogGroupName": "g",
                                 "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [],
                                                        "Metrics": [{"Name": "M",
                                                                     "Unit": "Furlongs"}]}]},
                        "M": 1}),
            "",  # blank: not an event
            valid_line("Good", 1, stream="tcp-good"),
        ]
        c.sendall(("\r\n".join(lines) + "\r\n").encode())
        # A line over the 1 MiB event limit, then a good line on the same connection.
        c.sendall(b"{\"x\":\"" + b"a" * (1100 * 1024) + b"\"}\n")
        c.sendall((valid_line("AfterLong", 2, stream="tcp-good") + "\n").encode())
        # A third client while two are connected is refused; the first two are served.
        c2 = socket.create_connection(("127.0.0.1", tport))
        c3 = socket.create_connection(("127.0.0.1", tport))
        c3.settimeout(10)
        self.assertEqual(c3.recv(1), b"")  # closed by the listener
        c2.sendall((valid_line("Second", 3, stream="tcp-good")).encode())  # no final newline
        c2.close()
        wait_for(lambda: len(self.logs()) >= 3, "three good events", self.agent)
        c.close()
        c3.close()
        log = self.stop()
        names = sorted(json.loads(e["message"])["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]
                       ["Name"] for e in self.logs())
        self.assertEqual(names, ["AfterLong", "Good", "Second"])
        line = final_summary(log)
        for reason in ("not_json 1", "not_object 1", "no_aws 1", "no_log_group 1",
                       "bad_metric_value 1", "bad_unit 1", "line_too_long 1", "tcp_refused 1"):
            self.assertIn("(%s)" % reason, line)
        self.assertIn("(dropped 7)", line)

        # UDP: a datagram holds several lines; bad ones are skipped, good ones kept.
        self.out = tempfile.mkdtemp(prefix="osprey-emf-out-")
        self.start({"service_address": "udp://127.0.0.1:%d" % uport})
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(("%s\n{broken\n%s" % (valid_line("U1", 1, stream="u"),
                                       valid_line("U2", [1, 2], stream="u"))).encode(),
                 ("127.0.0.1", uport))
        u.close()
        wait_for(lambda: len(self.logs()) >= 2, "two UDP events", self.agent)
        log = self.stop()
        self.assertEqual(len(self.logs()), 2)
        self.assertIn("(not_json 1)", final_summary(log))
        u2 = [m for m in self.metrics() if m["MetricName"] == "U2"]
        self.assertEqual(u2[0]["StatisticValues"]["SampleCount"], 2)


class EmfToAws(EndpointTestCase):
    def put_log_requests(self):
        return [r for r in self.endpoint.get("requests", operation="PutLogEvents")["requests"]
                if r.get("status") == 200]

    def config(self, tport, sinks=None):
        cfg = {
            "agent": {"region": REGION},
            "metrics": {"endpoint_override": self.endpoint.url, "force_flush_interval": 1,
                        "metrics_collected": {"mem": {"measurement": ["used_percent"]}}},
            "logs": {"endpoint_override": self.endpoint.url, "force_flush_interval": 1,
                     "log_stream_name": "dflt",
                     "metrics_collected": {"emf": {
                         "service_address": "tcp://127.0.0.1:%d" % tport}}},
            "osprey": {"summary_interval": 0, "shutdown_deadline": 10,
                       "state_dir": "/tmp/osprey-state-unused"},
        }
        if sinks:
            cfg["osprey"]["sinks"] = sinks
        return cfg

    def check_endpoint(self):
        events = self.endpoint.get("logs", group=GROUP, stream="aws")["events"]
        self.assertEqual(len(events), 2, events)
        self.assertEqual(json.loads(events[0]["message"])["Latency"], [12.5, 7.5])
        reqs = self.put_log_requests()
        self.assertTrue(reqs)
        for r in reqs:
            self.assertEqual(r["headers"].get("x-amzn-logs-format"), "json/emf", r)
        # mem went to CloudWatch; the EMF metrics did not.
        metrics = self.endpoint.get("metrics")["metrics"]
        self.assertTrue(any(m["metric_name"] == "mem_used_percent" for m in metrics))
        for m in metrics:
            self.assertNotEqual(m["namespace"], "OspreyTest", m)
            self.assertNotIn(m["metric_name"], ("Latency", "Hits", "Plain"), m)

    def test_cloudwatch_agent_config(self):
        tport = free_port("tcp")
        agent = self.start_agent(self.config(tport))
        self.assertTrue(agent.wait_for_log("listening for EMF"), agent.log())
        run_client("tcp://127.0.0.1:%d" % tport, "aws", stream="aws")
        wait_for(lambda: len(self.endpoint.get("logs", group=GROUP, stream="aws")["events"]) >= 2
                 and self.endpoint.get("metrics")["metrics"], "PutLogEvents", agent)
        code, _ = agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, agent.log())
        self.check_endpoint()

    def test_cloudwatch_sink_skips_emf_points(self):
        tport = free_port("tcp")
        out = tempfile.mkdtemp(prefix="osprey-emf-out-")
        agent = self.start_agent(self.config(tport, {"cloudwatch": {}, "cloudwatch_logs": {},
                                                     "file": {"directory": out}}))
        self.assertTrue(agent.wait_for_log("listening for EMF"), agent.log())
        run_client("tcp://127.0.0.1:%d" % tport, "aws", stream="aws")
        wait_for(lambda: len(self.endpoint.get("logs", group=GROUP, stream="aws")["events"]) >= 2
                 and self.endpoint.get("metrics")["metrics"], "PutLogEvents", agent)
        code, _ = agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, agent.log())
        self.check_endpoint()
        # The points reached the local sink, and the cloudwatch sink counted what it kept
        # local: Latency x2 sets, Hits x2, Plain x1 = 5, not as drops.
        local = harness.read_jsonl(os.path.join(out, "metrics.jsonl"))
        self.assertEqual(len([m for m in local if m["Namespace"] == "OspreyTest"]), 5)
        line = final_summary(agent.log())
        self.assertIn("(local_only 5)", line)
        cw = [p for p in line.split() if p.startswith("cloudwatch=")]
        self.assertTrue(cw and "dropped" not in cw[0], line)


if __name__ == "__main__":
    unittest.main(verbosity=2)
