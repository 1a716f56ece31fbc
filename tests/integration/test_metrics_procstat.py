"""End to end: build/osprey's procstat plugin on the real /proc, watching a child process
(a copy of sleep under a unique name) selected by pid_file, exe and pattern, with the file
sink. Checks the CloudWatch agent's metric names, units and dimensions, that cpu_usage
only comes from the second scrape on, and that procstat_lookup_pid_count drops to 0 once
the process is gone."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def make_config(workdir, entries):
    return {
        "agent": {"metrics_collection_interval": 1},
        "metrics": {
            "namespace": "OspreyTest",
            "metrics_collected": {"procstat": entries},
        },
        "osprey": {
            "hostname": "it-host",
            "state_dir": os.path.join(workdir, "state"),
            "flush_interval": 0.2,
            "summary_interval": 1,
            "sinks": {"file": {"directory": os.path.join(workdir, "out")}},
        },
    }


ALL = ["cpu_time_system", "cpu_time_user", "cpu_usage", "memory_rss", "memory_vms",
       "memory_data", "memory_stack", "memory_swap", "memory_locked", "read_bytes",
       "write_bytes", "read_count", "write_count", "num_fds", "num_threads", "pid",
       "pid_count"]

UNITS = {
    "procstat_cpu_time_system": "Count", "procstat_cpu_time_user": "Count",
    "procstat_cpu_usage": "Percent", "procstat_memory_rss": "Bytes",
    "procstat_memory_vms": "Bytes", "procstat_memory_data": "Bytes",
    "procstat_memory_stack": "Bytes", "procstat_memory_swap": "Bytes",
    "procstat_memory_locked": "Bytes", "procstat_read_bytes": "Bytes",
    "procstat_write_bytes": "Bytes", "procstat_read_count": "Count",
    "procstat_write_count": "Count", "procstat_num_fds": "Count",
    "procstat_num_threads": "Count", "procstat_pid": "Count",
    "procstat_lookup_pid_count": "Count",
}


class ProcstatEndToEnd(unittest.TestCase):
    def setUp(self):
        self.agent = None
        self.child = None
        self.workdir = tempfile.mkdtemp(prefix="osprey-procstat-")
        # A unique process name (at most 15 bytes, the kernel's comm) and a unique
        # argument, so that nothing else on the host matches.
        self.name = "osp-slp-%05d" % random.randrange(100000)
        self.token = "0.%06d" % random.randrange(1000000)
        self.exe = os.path.join(self.workdir, self.name)
        shutil.copy(shutil.which("sleep"), self.exe)
        self.child = subprocess.Popen([self.exe, "600", self.token],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid_file = os.path.join(self.workdir, "child.pid")
        harness.write_atomic(self.pid_file, "%d\n" % self.child.pid)

    def tearDown(self):
        if self.agent:
            self.agent.kill()
        if self.child and self.child.poll() is None:
            self.child.kill()
            self.child.wait()

    def metrics(self):
        return harness.read_jsonl(os.path.join(self.workdir, "out", "metrics.jsonl"))

    def wait_for(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.metrics()
            if predicate(got):
                return got
            time.sleep(0.1)
        self.fail("timed out; last metrics: %r\nlog:\n%s" % (self.metrics()[-20:],
                                                              self.agent.log()))

    @staticmethod
    def dims(m):
        return {d["Name"]: d["Value"] for d in m["Dimensions"]}

    def test_pid_file_exe_pattern(self):
        entries = [
            {"pid_file": self.pid_file, "measurement": ALL},
            {"exe": "^%s$" % self.name, "measurement": ALL},
            {"pattern": "600 %s" % self.token.replace(".", "\\."),
             "measurement": ["pid", "pid_count", {"name": "memory_rss", "rename": "ChildRss"}]},
        ]
        self.agent = harness.Agent(make_config(self.workdir, entries), self.workdir).start()
        self.assertTrue(self.agent.wait_for_log("started"), self.agent.log())
        selectors = {"pidfile": self.pid_file, "exe": "^%s$" % self.name,
                     "pattern": entries[2]["pattern"]}

        def usage_everywhere(got):
            seen = {k for m in got for k in self.dims(m)
                    if m["MetricName"] == "procstat_cpu_usage"}
            return {"pidfile", "exe"} <= seen
        self.wait_for(usage_everywhere)

        for key, value in selectors.items():
            mine = [m for m in self.metrics() if self.dims(m).get(key) == value]
            names = {m["MetricName"] for m in mine}
            lookup = [m for m in mine if m["MetricName"] == "procstat_lookup_pid_count"]
            self.assertTrue(lookup, key)
            for m in lookup:
                self.assertEqual(m["Value"], 1, key)
                self.assertEqual(self.dims(m), {"host": "it-host", key: value,
                                                "pid_finder": "native"})
            per_process = [m for m in mine if m["MetricName"] != "procstat_lookup_pid_count"]
            for m in per_process:
                self.assertEqual(self.dims(m), {"host": "it-host", key: value,
                                                "process_name": self.name}, m)
            pids = {m["Value"] for m in per_process if m["MetricName"] == "procstat_pid"}
            self.assertEqual(pids, {self.child.pid}, key)
            if key == "pattern":
                self.assertEqual(names, {"procstat_pid", "procstat_lookup_pid_count",
                                         "ChildRss"})
                continue
            self.assertEqual(names, set(UNITS), key)
            by_name = {}
            for m in mine:
                self.assertEqual(m["Unit"], UNITS[m["MetricName"]], m)
                self.assertEqual(m["Namespace"], "OspreyTest")
                self.assertEqual(m["StorageResolution"], 1)
                by_name.setdefault(m["MetricName"], []).append(m["Value"])
            self.assertTrue(all(v > 0 for v in by_name["procstat_memory_rss"]))
            self.assertTrue(all(v >= v2 for v, v2 in zip(by_name["procstat_memory_vms"],
                                                         by_name["procstat_memory_rss"])))
            self.assertTrue(all(v >= 3 for v in by_name["procstat_num_fds"]))
            self.assertTrue(all(v == 1 for v in by_name["procstat_num_threads"]))
            self.assertTrue(all(0 <= v < 50 for v in by_name["procstat_cpu_usage"]))
            # No usage from the first scrape: fewer usage points than pid points.
            self.assertLess(len(by_name["procstat_cpu_usage"]), len(by_name["procstat_pid"]))

        # The process exits: every selector counts 0, and no error is logged for it.
        self.child.kill()
        self.child.wait()
        start = len(self.metrics())

        def all_zero(got):
            zero = {k for m in got[start:] for k in self.dims(m)
                    if m["MetricName"] == "procstat_lookup_pid_count" and m["Value"] == 0}
            return {"pidfile", "exe", "pattern"} <= zero
        self.wait_for(all_zero)
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        self.assertIn("stopped cleanly", self.agent.log())

    def test_config_errors(self):
        bad = [
            ({"exe": "a", "pattern": "b", "measurement": ["pid"]},
             "'pattern' cannot be combined with 'exe'"),
            ({"measurement": ["pid"]}, "needs one of 'pid_file', 'exe' or 'pattern'"),
            ({"exe": "a"}, "needs 'measurement'"),
            ({"exe": "a", "measurement": ["rlimit_memory_rss_hard"]}, "is not supported"),
        ]
        for entry, message in bad:
            path = os.path.join(self.workdir, "bad.json")
            with open(path, "w") as f:
                json.dump(make_config(self.workdir, [{"pid_file": self.pid_file,
                                                      "measurement": ["pid"]}, entry]), f,
                          indent=2)
            r = harness.run_cli("--check-config", path)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(message, r.stderr)
            self.assertIn(path + ":", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
