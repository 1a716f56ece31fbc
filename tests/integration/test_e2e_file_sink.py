"""End to end: build/osprey on a fixture proc root with the file sink, stopped by
SIGTERM/SIGINT; the JSON lines written must be CloudWatch-shaped metrics with exact values."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

STAT_1, STAT_2, MEMINFO = harness.STAT_1, harness.STAT_2, harness.MEMINFO


def make_config(workdir, proc_root, interval=1):
    return {
        "agent": {"metrics_collection_interval": interval},
        "metrics": {
            "namespace": "OspreyTest",
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
            "hostname": "it-host",
            "state_dir": os.path.join(workdir, "state"),
            "flush_interval": 0.2,
            "summary_interval": 1,
            "sinks": {"file": {"directory": os.path.join(workdir, "out")}},
        },
    }


class FileSinkEndToEnd(unittest.TestCase):
    def setUp(self):
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.kill()

    def start_agent(self):
        import tempfile
        workdir = tempfile.mkdtemp(prefix="osprey-e2e-")
        proc_root = os.path.join(workdir, "proc")
        os.mkdir(proc_root)
        harness.write_atomic(os.path.join(proc_root, "stat"), STAT_1)
        harness.write_atomic(os.path.join(proc_root, "meminfo"), MEMINFO)
        self.agent = harness.Agent(make_config(workdir, proc_root), workdir).start()
        self.assertTrue(self.agent.wait_for_log("started"), self.agent.log())
        return workdir, proc_root

    def metrics(self, workdir):
        return harness.read_jsonl(os.path.join(workdir, "out", "metrics.jsonl"))

    def wait_for(self, workdir, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.metrics(workdir)
            if predicate(got):
                return got
            time.sleep(0.1)
        self.fail("timed out; metrics so far: %r\nlog:\n%s" % (self.metrics(workdir),
                                                                self.agent.log()))

    def test_metrics_flow_and_sigterm_flushes(self):
        workdir, proc_root = self.start_agent()
        # The first cpu scrape only primes; mem publishes at once.
        self.wait_for(workdir, lambda m: any(x["MetricName"] == "mem_used_percent" for x in m))
        harness.write_atomic(os.path.join(proc_root, "stat"), STAT_2)
        got = self.wait_for(workdir, lambda m: any(x["MetricName"] == "cpu_usage_idle" for x in m))
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        log = self.agent.log()
        self.assertIn("stopped cleanly", log)
        self.assertNotIn("ERROR", log.upper().replace("ERRORS", ""))

        got = self.metrics(workdir)
        by_name = {}
        for m in got:
            self.assertEqual(m["Namespace"], "OspreyTest")
            self.assertEqual(m["StorageResolution"], 1)  # 1 s interval -> high resolution
            self.assertRegex(m["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
            self.assertEqual(dims.get("host"), "it-host")
            by_name.setdefault(m["MetricName"], []).append((m, dims))

        # Exact values: only the STAT_1 -> STAT_2 interval has a non-zero delta.
        usage = {name: by_name[name][0][0]["Value"] for name in
                 ("cpu_usage_idle", "cpu_usage_user", "cpu_usage_system",
                  "cpu_usage_iowait", "cpu_usage_active")}
        self.assertEqual(usage["cpu_usage_idle"], 50.0)
        self.assertEqual(usage["cpu_usage_user"], 30.0)
        self.assertEqual(usage["cpu_usage_system"], 10.0)
        self.assertEqual(usage["cpu_usage_iowait"], 10.0)
        # telegraf: active = total - idle, so iowait counts as active.
        self.assertEqual(usage["cpu_usage_active"], 50.0)
        for name in usage:
            m, dims = by_name[name][0]
            self.assertEqual(m["Unit"], "Percent")
            self.assertEqual(dims["cpu"], "cpu-total")
            self.assertEqual(len(by_name[name]), 1, "a zero-delta interval published usage")

        total, _ = by_name["mem_total"][0]
        self.assertEqual(total["Value"], 1000000 * 1024)
        self.assertEqual(total["Unit"], "Bytes")
        self.assertIn("MemAvail", by_name)  # rename
        self.assertEqual(by_name["MemAvail"][0][0]["Value"], 60.0)
        self.assertNotIn("mem_available_percent", by_name)
        self.assertNotIn("cpu_usage_nice", by_name)  # not in the measurement list

    def test_sigint_stops_cleanly(self):
        workdir, _ = self.start_agent()
        self.wait_for(workdir, lambda m: len(m) > 0)
        code, _ = self.agent.stop(signal.SIGINT)
        self.assertEqual(code, 0, self.agent.log())
        self.assertIn("stopped cleanly", self.agent.log())


class StdoutSink(unittest.TestCase):
    def test_stdout_lines_and_kind_filter(self):
        import tempfile
        workdir = tempfile.mkdtemp(prefix="osprey-stdout-")
        proc_root = os.path.join(workdir, "proc")
        os.mkdir(proc_root)
        harness.write_atomic(os.path.join(proc_root, "stat"), STAT_1)
        harness.write_atomic(os.path.join(proc_root, "meminfo"), MEMINFO)
        config = make_config(workdir, proc_root)
        config["osprey"]["sinks"] = {"stdout": {"kinds": ["metrics"]}}
        agent = harness.Agent(config, workdir).start()
        try:
            self.assertTrue(agent.wait_for_log("summary collected"), agent.log())
            code, out = agent.stop(signal.SIGTERM)
        finally:
            agent.kill()
        self.assertEqual(code, 0, agent.log())
        lines = [json.loads(l) for l in out.decode().splitlines()]
        names = {m["MetricName"] for m in lines}
        self.assertIn("mem_used_percent", names)
        self.assertIn("mem_total", names)
        self.assertFalse(os.path.exists(os.path.join(workdir, "out")))


class CommandLine(unittest.TestCase):
    def test_version_and_help(self):
        r = harness.run_cli("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^osprey \d+\.\d+\.\d+")
        r = harness.run_cli("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check-config", r.stdout)

    def test_unknown_flag_is_usage_error(self):
        r = harness.run_cli("--frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage:", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_check_config_valid(self):
        path = os.path.join(harness.SOURCE_DIR, "packaging", "examples", "local.json")
        r = harness.run_cli("--check-config", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("valid", r.stdout)

    def test_check_config_unknown_key(self):
        path = os.path.join(harness.SOURCE_DIR, "tests", "data", "config", "bad_unknown_key.json")
        r = harness.run_cli("--check-config", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":4:5: unknown key 'colour' in 'agent'", r.stderr)

    def test_run_with_invalid_config_exits_1(self):
        path = os.path.join(harness.SOURCE_DIR, "tests", "data", "config", "bad_type.json")
        r = harness.run_cli("--config", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":3:25:", r.stderr)

    def test_missing_file(self):
        r = harness.run_cli("--check-config", "/nonexistent/osprey.json")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
