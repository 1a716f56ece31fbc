"""End to end: build/osprey -> cloudwatch exporter (PutMetricData) -> the strict compatible
endpoint, which checks every request against the botocore model, SigV4 and the service
limits.

Records come from the `generate` collector (metric `generated_value`, value = record
number, lossless) and from cpu/mem on a fixture proc root, so every point can be
accounted for: exact values, names, units and dimensions, both protocols, batches cut at
1000 datums and at the byte limit, gzip from 10 KiB, throttling (HTTP 400 Throttling)
and 5xx retried without loss, validation errors never retried."""
import collections
import os
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from aws_endpoint import EndpointTestCase, Endpoint, REGION, agent_env  # noqa: E402

HOST = "it-host"
NAME = "generated_value"


def config(endpoint, generators, sink=None, extra=None):
    s = {"endpoint": endpoint.url, "force_flush_interval": 1}
    s.update(sink or {})
    cfg = {
        "agent": {"region": REGION},
        "osprey": {
            "summary_interval": 1,
            "hostname": HOST,
            "state_dir": "/tmp/osprey-state-unused",
            "shutdown_deadline": 10,
            "generate": generators,
            "sinks": {"cloudwatch": s},
        },
    }
    for k, v in (extra or {}).items():
        cfg.setdefault(k, {}).update(v)
    return cfg


def gen(count, **kw):
    g = {"kind": "metrics", "count": count, "metric_name": NAME}
    g.update(kw)
    return g


def expand(datums):
    """(value, count) pairs of every datum, whatever its shape."""
    out = []
    for d in datums:
        if d.get("value") is not None:
            out.append((d["value"], 1))
        elif d.get("values") is not None:
            counts = d.get("counts") or [1] * len(d["values"])
            out.extend(zip(d["values"], counts))
    return out


class CloudWatchExport(EndpointTestCase):
    def metrics(self, **q):
        return self.endpoint.get("metrics", **q)["metrics"]

    def put_requests(self, ok_only=True):
        reqs = self.endpoint.get("requests", operation="PutMetricData")["requests"]
        return [r for r in reqs if r.get("status") == 200 or not ok_only]

    def assert_values_exactly_once(self, n, datums=None):
        datums = datums if datums is not None else self.metrics(name=NAME)
        values = collections.Counter()
        for v, c in expand(datums):
            values[v] += c
        self.assertEqual(sum(values.values()), n, "lost or duplicated points")
        self.assertEqual(sorted(values), [float(i) for i in range(n)])
        self.assertTrue(all(c == 1 for c in values.values()))

    def assert_shape(self, datums, protocol):
        for d in datums:
            self.assertEqual(d["namespace"], "CWAgent")
            self.assertEqual(d["metric_name"], NAME)
            self.assertEqual(d["dimensions"], [{"Name": "host", "Value": HOST}])
            self.assertEqual(d["unit"], "Count")
            self.assertEqual(d["storage_resolution"], 60)
            self.assertEqual(d["protocol"], protocol)
            self.assertIsNotNone(d["timestamp"])
            self.assertLess(abs(d["timestamp"] - time.time()), 600)

    # ---- protocols and exact values ------------------------------------------------

    def test_query_protocol_exact_values(self):
        log = self.run_agent(config(self.endpoint, [gen(500)]))
        self.assertIn("accepted 500, rejected 0, given up 0", log)
        datums = self.metrics(name=NAME)
        self.assert_shape(datums, "query")
        self.assert_values_exactly_once(500, datums)
        # Points of one minute are packed into Values/Counts (<= 150 per datum).
        self.assertLessEqual(len(datums), 10)
        for d in datums:
            if d["values"] is not None:
                self.assertLessEqual(len(d["values"]), 150)
                self.assertEqual(len(d["counts"]), len(d["values"]))
        for r in self.put_requests():
            self.assertEqual(r["protocol"], "query")
            self.assertTrue(r["headers"].get("Content-Type", r["headers"].get("content-type", ""))
                            .startswith("application/x-www-form-urlencoded"))

    def test_json_protocol_exact_values(self):
        cfg = config(self.endpoint, [gen(300)], {"protocol": "json"})
        log = self.run_agent(cfg)
        self.assertIn("accepted 300, rejected 0, given up 0", log)
        datums = self.metrics(name=NAME)
        self.assert_shape(datums, "json")
        self.assert_values_exactly_once(300, datums)
        reqs = self.put_requests()
        self.assertTrue(reqs)
        for r in reqs:
            self.assertEqual(r["protocol"], "json")
            headers = {k.lower(): v for k, v in r["headers"].items()}
            self.assertEqual(headers["x-amz-target"],
                             "GraniteServiceVersion20100801.PutMetricData")
            self.assertEqual(headers["content-type"], "application/x-amz-json-1.0")
            self.assertEqual(headers["x-amzn-query-mode"], "true")
            self.assertIn("x-amzn-query-mode", headers["authorization"])  # signed

    def test_single_point_goes_as_value(self):
        self.run_agent(config(self.endpoint, [gen(1)]))
        datums = self.metrics(name=NAME)
        self.assertEqual(len(datums), 1)
        self.assertEqual(datums[0]["value"], 0.0)
        self.assertIsNone(datums[0]["values"])
        self.assertIsNone(self.put_requests()[0]["content_encoding"])  # small: not gzipped

    # ---- limits ----------------------------------------------------------------------

    def distinct(self, n):
        # One point per minute, ending two minutes ago: no two points share a period,
        # so every point is its own datum.
        return gen(n, timestamp_start=-(n + 2) * 60, timestamp_step=60)

    def by_request(self):
        counts = collections.Counter(d["request_id"] for d in self.metrics(name=NAME))
        return counts

    def test_2500_distinct_metrics_cut_at_1000(self):
        for protocol in ("query", "json"):
            with self.subTest(protocol=protocol):
                self.endpoint.post("reset", {"config": True})
                cfg = config(self.endpoint, [self.distinct(2500)],
                             {"force_flush_interval": 5, "protocol": protocol})
                t0 = time.time()
                self.run_agent(cfg)
                datums = self.metrics(name=NAME)
                self.assert_values_exactly_once(2500, datums)
                self.assertTrue(all(d["value"] is not None for d in datums))
                # Timestamps are the points' own: value n at start + 60 n.
                base = min(d["timestamp"] for d in datums)
                self.assertAlmostEqual(base, t0 - 2502 * 60, delta=30)
                for d in datums:
                    self.assertAlmostEqual(d["timestamp"] - base, d["value"] * 60, delta=0.002)
                sizes = sorted(self.by_request().values(), reverse=True)
                self.assertEqual(sizes, [1000, 1000, 500])
                reqs = self.put_requests()
                self.assertEqual(len(reqs), 3)
                for r in reqs:
                    # Large bodies are gzipped; the limit is on the uncompressed body.
                    self.assertEqual(r["content_encoding"], "gzip")
                    self.assertLessEqual(r["decoded_bytes"], 1048576)
                    self.assertLess(r["body_bytes"], r["decoded_bytes"])

    def test_byte_limit_cut(self):
        # A compatible endpoint with a 64 KiB limit: every request stays under it.
        self.endpoint.post("config", {"pmd_max_bytes": 65536})
        cfg = config(self.endpoint, [self.distinct(2000)],
                     {"force_flush_interval": 5, "max_request_bytes": 65536})
        log = self.run_agent(cfg)
        self.assertIn("accepted 2000, rejected 0, given up 0", log)
        self.assert_values_exactly_once(2000)
        reqs = self.put_requests(ok_only=False)
        self.assertGreaterEqual(len(reqs), 2000 * 200 // 65536)
        for r in reqs:
            self.assertEqual(r["status"], 200, r.get("error_message"))
            self.assertLessEqual(r["decoded_bytes"], 65536)
        # Cut by bytes, not by count: close to the limit.
        self.assertGreater(max(r["decoded_bytes"] for r in reqs), 65536 - 1000)

    def test_gzip_threshold_and_off(self):
        # 20 distinct datums: about 6 KiB, below gzip_min_bytes -> plain.
        self.run_agent(config(self.endpoint, [self.distinct(20)], {"force_flush_interval": 5}))
        reqs = self.put_requests()
        self.assertEqual(len(reqs), 1)
        self.assertLess(reqs[0]["decoded_bytes"], 10240)
        self.assertIsNone(reqs[0]["content_encoding"])
        # gzip_min_bytes lowered: the same body is compressed.
        self.endpoint.post("reset", {"config": True})
        self.run_agent(config(self.endpoint, [self.distinct(20)],
                              {"force_flush_interval": 5, "gzip_min_bytes": 1024}))
        self.assertEqual(self.put_requests()[0]["content_encoding"], "gzip")
        # gzip off: a large body goes plain.
        self.endpoint.post("reset", {"config": True})
        self.run_agent(config(self.endpoint, [self.distinct(1000)],
                              {"force_flush_interval": 5, "gzip": False}))
        reqs = self.put_requests()
        self.assertEqual(len(reqs), 1)
        self.assertGreater(reqs[0]["decoded_bytes"], 10240)
        self.assertIsNone(reqs[0]["content_encoding"])
        self.assert_values_exactly_once(1000)

    # ---- failures ----------------------------------------------------------------------

    def test_throttling_and_5xx_retried_without_loss(self):
        for protocol in ("query", "json"):
            with self.subTest(protocol=protocol):
                self.endpoint.post("reset", {"config": True})
                self.endpoint.faults(
                    {"kind": "throttle", "count": 2, "operation": "PutMetricData"},
                    {"kind": "error", "status": 500, "count": 2, "operation": "PutMetricData"},
                    {"kind": "error", "status": 503, "count": 1, "operation": "PutMetricData"})
                log = self.run_agent(config(self.endpoint, [self.distinct(1500)],
                                            {"protocol": protocol}))
                self.assertIn("accepted 1500, rejected 0, given up 0", log)
                self.assert_values_exactly_once(1500)
                self.assertIn("retrying", log)
                fired = self.endpoint.get("faults")["fired"]
                self.assertEqual(len(fired), 5)
                failed = [r for r in self.put_requests(ok_only=False) if r["status"] != 200]
                self.assertEqual(sorted(r["status"] for r in failed), [400, 400, 500, 500, 503])

    def test_validation_error_not_retried(self):
        for protocol in ("query", "json"):
            with self.subTest(protocol=protocol):
                self.endpoint.post("reset", {"config": True})
                self.endpoint.faults({"kind": "error", "status": 400,
                                      "code": "InvalidParameterValue",
                                      "operation": "PutMetricData"})
                log = self.run_agent(config(self.endpoint, [gen(10)], {"protocol": protocol}))
                self.assertIn("accepted 0, rejected 10, given up 0", log)
                self.assertIn("rejected", log)
                reqs = self.put_requests(ok_only=False)
                self.assertEqual(len(reqs), 1, "a validation error was retried")
                self.assertEqual(reqs[0]["status"], 400)
                self.assertEqual(self.metrics(name=NAME), [])

    def test_wrong_secret_rejected(self):
        env = agent_env()
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        log = self.run_agent(config(self.endpoint, [gen(10)]), env=env)
        self.assertIn("rejected 10", log)
        reqs = self.put_requests(ok_only=False)
        self.assertTrue(reqs)
        self.assertTrue(all(r["error_code"] == "SignatureDoesNotMatch" for r in reqs))

    def test_points_outside_the_time_window_dropped_not_sent(self):
        # 15 days old: CloudWatch would refuse the whole request; dropped and counted.
        cfg = config(self.endpoint, [gen(5, timestamp_start=-15 * 86400),
                                     gen(5, metric_name="fresh")])
        log = self.run_agent(cfg, wait_for="cloudwatch=5(dropped 5)", timeout=30)
        self.assertEqual(self.metrics(name=NAME), [])
        self.assertEqual(len(expand(self.metrics(name="fresh"))), 5)
        self.assertIn("older than 14 days", log)


STAT_1, STAT_2, MEMINFO = harness.STAT_1, harness.STAT_2, harness.MEMINFO


class CloudWatchHostMetrics(unittest.TestCase):
    """cpu and mem on a fixture proc root, through the query protocol."""

    @classmethod
    def setUpClass(cls):
        cls.endpoint = Endpoint()

    @classmethod
    def tearDownClass(cls):
        cls.endpoint.stop()

    def setUp(self):
        self.endpoint.post("reset", {})  # what an earlier test left would satisfy wait_for
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.kill()

    def wait_for(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.endpoint.get("metrics")["metrics"]
            if predicate(got):
                return got
            time.sleep(0.2)
        self.fail("timed out; metrics so far: %r\nlog:\n%s" % (
            self.endpoint.get("metrics")["metrics"], self.agent.log()))

    def test_cpu_and_mem_arrive_exactly(self):
        workdir = tempfile.mkdtemp(prefix="osprey-cw-")
        proc_root = os.path.join(workdir, "proc")
        os.mkdir(proc_root)
        harness.write_atomic(os.path.join(proc_root, "stat"), STAT_1)
        harness.write_atomic(os.path.join(proc_root, "meminfo"), MEMINFO)
        cfg = {
            "agent": {"metrics_collection_interval": 1, "region": REGION},
            "metrics": {
                "metrics_collected": {
                    "cpu": {"totalcpu": True,
                            "measurement": ["usage_idle", "usage_user", "usage_system",
                                            "usage_iowait", "usage_active"]},
                    "mem": {"measurement": ["used_percent", "total",
                                            {"name": "available_percent", "rename": "MemAvail",
                                             "unit": "Percent"}]},
                },
            },
            "osprey": {
                "proc_root": proc_root,
                "hostname": HOST,
                "state_dir": os.path.join(workdir, "state"),
                "flush_interval": 0.2,
                "summary_interval": 1,
                "sinks": {"cloudwatch": {"endpoint": self.endpoint.url,
                                         "force_flush_interval": 0.5}},
            },
        }
        self.agent = harness.Agent(cfg, workdir, env=agent_env()).start()
        self.wait_for(lambda m: any(x["metric_name"] == "mem_used_percent" for x in m))
        harness.write_atomic(os.path.join(proc_root, "stat"), STAT_2)
        self.wait_for(lambda m: any(x["metric_name"] == "cpu_usage_idle" for x in m))
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        self.assertIn("stopped cleanly", self.agent.log())

        got = self.endpoint.get("metrics")["metrics"]
        by_name = collections.defaultdict(list)
        for m in got:
            self.assertEqual(m["namespace"], "CWAgent")
            self.assertEqual(m["storage_resolution"], 1)  # 1 s interval -> high resolution
            self.assertEqual(m["protocol"], "query")
            dims = {d["Name"]: d["Value"] for d in m["dimensions"]}
            self.assertEqual(dims.get("host"), HOST)
            by_name[m["metric_name"]].append((m, dims))

        def values(name):
            return [v for m, _ in by_name[name] for v, _ in expand([m])]

        # Exact values: only the STAT_1 -> STAT_2 interval has a non-zero delta.
        expected = {"cpu_usage_idle": 50.0, "cpu_usage_user": 30.0, "cpu_usage_system": 10.0,
                    "cpu_usage_iowait": 10.0, "cpu_usage_active": 50.0}
        for name, want in expected.items():
            self.assertEqual(values(name), [want], name)
            m, dims = by_name[name][0]
            self.assertEqual(m["unit"], "Percent")
            self.assertEqual(dims["cpu"], "cpu-total")
        total, _ = by_name["mem_total"][0]
        self.assertEqual(set(values("mem_total")), {1000000 * 1024.0})
        self.assertEqual(total["unit"], "Bytes")
        self.assertEqual(set(values("MemAvail")), {60.0})
        self.assertEqual(by_name["MemAvail"][0][0]["unit"], "Percent")
        self.assertNotIn("mem_available_percent", by_name)

    def test_cloudwatch_agent_config_without_sinks(self):
        """A plain CloudWatch agent config (no osprey.sinks) publishes to CloudWatch, at
        metrics.endpoint_override, flushing every metrics.force_flush_interval."""
        workdir = tempfile.mkdtemp(prefix="osprey-cwa-")
        proc_root = os.path.join(workdir, "proc")
        os.mkdir(proc_root)
        harness.write_atomic(os.path.join(proc_root, "stat"), STAT_1)
        harness.write_atomic(os.path.join(proc_root, "meminfo"), MEMINFO)
        cfg = {
            "agent": {"metrics_collection_interval": 1, "region": REGION},
            "metrics": {
                "namespace": "MyApp",
                "endpoint_override": self.endpoint.url,
                "force_flush_interval": 1,
                "metrics_collected": {"mem": {"measurement": ["mem_used_percent"]}},
            },
            "osprey": {"proc_root": proc_root, "hostname": HOST,
                       "state_dir": os.path.join(workdir, "state")},
        }
        self.agent = harness.Agent(cfg, workdir, env=agent_env()).start()
        got = self.wait_for(lambda m: any(x["metric_name"] == "mem_used_percent" for x in m))
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        self.assertEqual({m["namespace"] for m in got}, {"MyApp"})
        used = [v for v, _ in expand([m for m in got if m["metric_name"] == "mem_used_percent"])]
        self.assertTrue(used)
        self.assertTrue(all(abs(v - 45.0) < 1e-9 for v in used), used)


if __name__ == "__main__":
    unittest.main(verbosity=2)
