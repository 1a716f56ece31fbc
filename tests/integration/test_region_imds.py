"""The region of AWS sinks from EC2 instance metadata when none is configured (agent.region,
the sink's region, AWS_REGION): --check-config accepts such a config, the agent signs with the
identity document's region; off EC2 it refuses to start with a message naming the fix."""
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from aws_endpoint import EndpointTestCase, agent_env  # noqa: E402


class RegionFromInstance(EndpointTestCase):
    def config(self, workdir):
        proc_root = os.path.join(workdir, "proc")
        os.makedirs(proc_root, exist_ok=True)
        harness.write_atomic(os.path.join(proc_root, "meminfo"), harness.MEMINFO)
        return {
            "agent": {"metrics_collection_interval": 1},
            "metrics": {"endpoint_override": self.endpoint.url, "force_flush_interval": 1,
                        "metrics_collected": {"mem": {"measurement": ["used_percent"]}}},
            "osprey": {"proc_root": proc_root, "hostname": "it-host",
                       "state_dir": os.path.join(workdir, "state"), "flush_interval": 0.2,
                       "credentials": {"imds_endpoint": self.endpoint.url}},
        }

    def test_region_from_identity_document(self):
        workdir = tempfile.mkdtemp(prefix="osprey-region-")
        cfg = self.config(workdir)
        path = os.path.join(workdir, "osprey.json")
        harness.write_atomic(path, __import__("json").dumps(cfg))
        env = agent_env()
        env.pop("AWS_EC2_METADATA_DISABLED")
        r = harness.run_cli("--check-config", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.start_agent(cfg, env=env)
        deadline = time.monotonic() + 20
        got = []
        while time.monotonic() < deadline and not got:
            got = self.endpoint.get("metrics")["metrics"]
            time.sleep(0.2)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())
        self.assertTrue(got, self.agent.log())
        self.assertIn("region us-east-1 (from instance metadata)", self.agent.log())
        reqs = self.endpoint.get("requests", operation="PutMetricData")["requests"]
        self.assertTrue(reqs)

    def test_no_region_anywhere_refuses_to_start(self):
        workdir = tempfile.mkdtemp(prefix="osprey-region-")
        cfg = self.config(workdir)
        env = agent_env()  # AWS_EC2_METADATA_DISABLED=true: no metadata, no region
        agent = harness.Agent(cfg, env=env).start()
        self.agent = agent
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and agent.proc.poll() is None:
            time.sleep(0.1)
        self.assertNotEqual(agent.proc.poll(), None, agent.log())
        self.assertNotEqual(agent.proc.returncode, 0)
        self.assertIn("no region", agent.log())
        self.assertIn("EC2 instance metadata gave none", agent.log())


if __name__ == "__main__":
    unittest.main()
