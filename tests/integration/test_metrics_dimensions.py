"""metrics.append_dimensions (${aws:...} from EC2 instance metadata, IMDSv2 on the compatible
endpoint) and metrics.aggregation_dimensions rollups, end to end through build/osprey with the
file sink; and what happens off EC2 and with bad values."""
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from aws_endpoint import EndpointTestCase, agent_env  # noqa: E402

ALL_GLOBAL = {"ImageId": "${aws:ImageId}", "InstanceId": "${aws:InstanceId}",
              "InstanceType": "${aws:InstanceType}",
              "AutoScalingGroupName": "${aws:AutoScalingGroupName}"}


def dims(metric):
    return {d["Name"]: d["Value"] for d in metric["Dimensions"]}


class Dimensions(EndpointTestCase):
    def config(self, workdir, imds_url, metrics_extra, mem_extra=None):
        proc_root = os.path.join(workdir, "proc")
        os.makedirs(proc_root, exist_ok=True)
        harness.write_atomic(os.path.join(proc_root, "meminfo"), harness.MEMINFO)
        mem = {"measurement": ["used_percent"]}
        mem.update(mem_extra or {})
        metrics = {"metrics_collected": {"mem": mem}}
        metrics.update(metrics_extra)
        return {
            "agent": {"metrics_collection_interval": 1},
            "metrics": metrics,
            "osprey": {"proc_root": proc_root, "hostname": "it-host",
                       "state_dir": os.path.join(workdir, "state"), "flush_interval": 0.2,
                       "credentials": {"imds_endpoint": imds_url},
                       "sinks": {"file": {"directory": os.path.join(workdir, "out")}}},
        }

    def collect(self, cfg, workdir, want):
        env = agent_env()
        env.pop("AWS_EC2_METADATA_DISABLED")
        self.start_agent(cfg, env=env)
        path = os.path.join(workdir, "out", "metrics.jsonl")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = harness.read_jsonl(path)
            if want(got):
                break
            time.sleep(0.1)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())
        got = harness.read_jsonl(path)
        self.assertTrue(want(got), "metrics: %r\nlog:\n%s" % (got[:6], self.agent.log()))
        return got

    def test_instance_dimensions_and_rollups(self):
        self.endpoint.post("imds", {"instance_tags": {"aws:autoscaling:groupName": "web-asg"}})
        workdir = tempfile.mkdtemp(prefix="osprey-dims-")
        cfg = self.config(workdir, self.endpoint.url,
                          {"append_dimensions": ALL_GLOBAL,
                           "aggregation_dimensions": [["AutoScalingGroupName"],
                                                      ["InstanceId", "InstanceType"], [],
                                                      ["NoSuchDimension"]]},
                          {"append_dimensions": {"role": "web",
                                                 "instance": "${aws:InstanceId}"}})
        got = self.collect(cfg, workdir, lambda m: len(m) >= 8)
        by_dims = {}
        for m in got:
            self.assertEqual(m["MetricName"], "mem_used_percent")
            self.assertAlmostEqual(m["Value"], 45.0)  # (total-free-buffers-cached)/total
            by_dims.setdefault(tuple(sorted(dims(m).items())), 0)
            by_dims[tuple(sorted(dims(m).items()))] += 1
        full = {"host": "it-host", "role": "web", "instance": "i-0123456789abcdef0",
                "ImageId": "ami-0123456789abcdef0", "InstanceId": "i-0123456789abcdef0",
                "InstanceType": "t3.micro", "AutoScalingGroupName": "web-asg"}
        expected = [full, {"AutoScalingGroupName": "web-asg"},
                    {"InstanceId": "i-0123456789abcdef0", "InstanceType": "t3.micro"}, {}]
        self.assertEqual(set(by_dims), {tuple(sorted(e.items())) for e in expected}, by_dims)
        counts = set(by_dims.values())
        self.assertLessEqual(max(counts) - min(counts), 1, by_dims)  # one of each per scrape
        self.assertIn("instance metadata: i-0123456789abcdef0", self.agent.log())
        self.assertGreaterEqual(self.endpoint.get("imds")["token_requests"], 1)

    def test_no_autoscaling_tag_leaves_that_dimension_out(self):
        workdir = tempfile.mkdtemp(prefix="osprey-dims-")
        cfg = self.config(workdir, self.endpoint.url, {"append_dimensions": ALL_GLOBAL})
        got = self.collect(cfg, workdir, lambda m: len(m) >= 1)
        self.assertEqual(dims(got[0]), {"host": "it-host", "ImageId": "ami-0123456789abcdef0",
                                        "InstanceId": "i-0123456789abcdef0",
                                        "InstanceType": "t3.micro"})

    def test_off_ec2_publishes_without_instance_dimensions(self):
        workdir = tempfile.mkdtemp(prefix="osprey-dims-")
        # A loopback port nobody listens on: connection refused, as off EC2 (no route).
        cfg = self.config(workdir, "http://127.0.0.1:9", {"append_dimensions": ALL_GLOBAL})
        got = self.collect(cfg, workdir, lambda m: len(m) >= 1)
        self.assertEqual(dims(got[0]), {"host": "it-host"})
        self.assertIn("did not answer", self.agent.log())
        self.assertIn("dimensions are left out", self.agent.log())


class BadDimensions(unittest.TestCase):
    def check(self, metrics, needle):
        workdir = tempfile.mkdtemp(prefix="osprey-dims-")
        path = os.path.join(workdir, "c.json")
        doc = {"metrics": dict({"metrics_collected": {"mem": {}}}, **metrics),
               "osprey": {"sinks": {"file": {"directory": workdir}}}}
        harness.write_atomic(path, __import__("json").dumps(doc, indent=2))
        r = harness.run_cli("--check-config", path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(needle, r.stderr)
        self.assertRegex(r.stderr, r"c\.json:\d+:\d+: ")

    def test_unknown_global_dimension(self):
        self.check({"append_dimensions": {"Team": "x"}}, "unknown global dimension 'Team'")

    def test_wrong_placeholder(self):
        self.check({"append_dimensions": {"InstanceId": "${aws:InstanceType}"}},
                   "'InstanceId' must be \"${aws:InstanceId}\"")

    def test_unknown_placeholder_in_plugin(self):
        self.check({"metrics_collected": {"mem": {"append_dimensions": {"a": "${aws:Region}"}}}},
                   "unknown placeholder '${aws:Region}'")

    def test_aggregation_not_nested(self):
        self.check({"aggregation_dimensions": ["InstanceId"]},
                   "each aggregation must be an array")


if __name__ == "__main__":
    unittest.main(verbosity=2)
