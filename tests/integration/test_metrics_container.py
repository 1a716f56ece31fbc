"""End to end: build/osprey's container collector on a scratch copy of a cgroup v2 fixture
tree (tests/data/cgroup/), counters rewritten between scrapes, metrics read back from the
file sink with exact values."""
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

DATA = os.path.join(harness.SOURCE_DIR, "tests", "data", "cgroup")
DOCKER_ID = "3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
DOCKER_SCOPE = "system.slice/docker-%s.scope" % DOCKER_ID

# Deltas between the fixture's limited/ counters and the ones written after the first
# scrape (see test_limited_counters_and_gauges).
CPU_STAT_2 = ("usage_usec 7000000\nuser_usec 4500000\nsystem_usec 2500000\n"
              "nr_periods 1100\nnr_throttled 65\nthrottled_usec 1050000\n")
MEMORY_EVENTS_2 = "low 0\nhigh 0\nmax 14\noom 3\noom_kill 2\noom_group_kill 0\n"
IO_STAT_2 = ("259:0 rbytes=1052672 wbytes=2105344 rios=101 wios=202 dbytes=0 dios=0\n"
             "8:16 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
             "8:32 rbytes=999999999 wbytes=999999999 rios=99999 wios=99999\n")


def make_config(workdir, cgroup_root, proc_root, container):
    container = dict(container, cgroup_root=cgroup_root, metrics_collection_interval=1)
    return {
        "metrics": {"namespace": "OspreyTest", "metrics_collected": {"container": container}},
        "osprey": {
            "proc_root": proc_root,
            "hostname": "it-host",
            "state_dir": os.path.join(workdir, "state"),
            "flush_interval": 0.2,
            "summary_interval": 1,
            "sinks": {"file": {"directory": os.path.join(workdir, "out")}},
        },
    }


class ContainerMetrics(unittest.TestCase):
    def setUp(self):
        self.agent = None
        self.workdir = tempfile.mkdtemp(prefix="osprey-container-")

    def tearDown(self):
        if self.agent:
            self.agent.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, variant, container, proc_variant="proc-hybrid", proc_root=None):
        root = os.path.join(self.workdir, "cgroup")
        shutil.copytree(os.path.join(DATA, variant), root)
        proc_root = proc_root or os.path.join(DATA, proc_variant)
        config = make_config(self.workdir, root, proc_root, container)
        self.agent = harness.Agent(config, self.workdir).start()
        return root

    def metrics(self):
        return harness.read_jsonl(os.path.join(self.workdir, "out", "metrics.jsonl"))

    def wait_for(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.metrics()
            if predicate(got):
                return got
            if self.agent.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.fail("timed out; metrics so far: %r\nlog:\n%s" % (self.metrics(), self.agent.log()))

    def stop_cleanly(self):
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        log = self.agent.log()
        self.assertIn("stopped cleanly", log)
        return log

    @staticmethod
    def by_name(metrics):
        out = {}
        for m in metrics:
            out.setdefault(m["MetricName"], []).append(m)
        return out

    @staticmethod
    def count(name, n):
        return lambda ms: sum(1 for m in ms if m["MetricName"] == name) >= n

    def test_limited_counters_and_gauges(self):
        root = self.start("limited", {"cgroup_path": DOCKER_SCOPE})
        self.wait_for(self.count("container_memory_current", 1))
        cg = os.path.join(root, DOCKER_SCOPE)
        harness.write_atomic(os.path.join(cg, "cpu.stat"), CPU_STAT_2)
        harness.write_atomic(os.path.join(cg, "memory.events"), MEMORY_EVENTS_2)
        harness.write_atomic(os.path.join(cg, "io.stat"), IO_STAT_2)
        # Two scrapes after the change: one carries the deltas, the next one zeros.
        self.wait_for(self.count("container_cpu_periods", 2))
        log = self.stop_cleanly()
        self.assertNotIn("ERROR", log.upper().replace("ERRORS", ""))

        got = self.by_name(self.metrics())
        for name, ms in got.items():
            self.assertTrue(name.startswith("container_"), name)
            for m in ms:
                self.assertEqual(m["Namespace"], "OspreyTest")
                dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
                self.assertEqual(dims, {"host": "it-host", "container_id": DOCKER_ID})

        def gauge(name, unit):
            values = {m["Value"] for m in got[name]}
            self.assertEqual(len(values), 1, (name, values))
            self.assertEqual(got[name][0]["Unit"], unit, name)
            return values.pop()

        self.assertEqual(gauge("container_cpu_limit", "None"), 1.5)
        self.assertEqual(gauge("container_memory_current", "Bytes"), 268435456)
        self.assertEqual(gauge("container_memory_max", "Bytes"), 536870912)
        self.assertEqual(gauge("container_memory_used_percent", "Percent"), 50.0)
        self.assertEqual(gauge("container_memory_anon", "Bytes"), 201326592)
        self.assertEqual(gauge("container_memory_file", "Bytes"), 50331648)
        self.assertEqual(gauge("container_pids_current", "Count"), 17)
        self.assertEqual(gauge("container_pids_max", "Count"), 256)

        # Counters: the first scrape only primes, so the per-interval deltas add up to
        # exactly the change written (however scrapes fell around the rewrite), and the
        # device that appeared with large counters (8:32) adds nothing.
        def deltas(name, unit, total):
            ms = got[name]
            self.assertEqual({m["Unit"] for m in ms}, {unit}, name)
            self.assertAlmostEqual(sum(m["Value"] for m in ms), total, places=9, msg=name)
            self.assertEqual(len(ms), len(got["container_memory_current"]) - 1, name)

        deltas("container_cpu_periods", "Count", 100)
        deltas("container_cpu_throttled_periods", "Count", 25)
        deltas("container_cpu_throttled_seconds", "Seconds", 0.25)
        deltas("container_memory_oom", "Count", 1)
        deltas("container_memory_oom_kill", "Count", 1)
        deltas("container_io_read_bytes", "Bytes", 4096)
        deltas("container_io_write_bytes", "Bytes", 8192)
        deltas("container_io_reads", "Count", 1)
        deltas("container_io_writes", "Count", 2)
        # Percent of one CPU over the measured interval: only the shares are exact.
        usage = got["container_cpu_usage_percent"]
        user = got["container_cpu_user_percent"]
        system = got["container_cpu_system_percent"]
        self.assertEqual(len(usage), len(got["container_memory_current"]) - 1)
        busy = [(u["Value"], us["Value"], s["Value"]) for u, us, s in zip(usage, user, system)
                if u["Value"] > 0]
        self.assertEqual(len(busy), 1, usage)
        u, us, s = busy[0]
        self.assertAlmostEqual(us / u, 0.75, places=9)
        self.assertAlmostEqual(s / u, 0.25, places=9)
        self.assertEqual({m["Unit"] for m in usage}, {"Percent"})
        throttled = [m["Value"] for m in got["container_cpu_throttled_percent"]]
        self.assertIn(25.0, throttled)

    def test_own_cgroup_from_proc_root(self):
        proc = os.path.join(self.workdir, "proc")
        os.makedirs(os.path.join(proc, "self"))
        with open(os.path.join(proc, "self", "cgroup"), "w") as f:
            f.write("0::/%s\n" % DOCKER_SCOPE)
        self.start("limited", {"measurement": ["memory_current", "pids_max"]}, proc_root=proc)
        self.wait_for(self.count("container_pids_max", 1))
        self.stop_cleanly()
        got = self.by_name(self.metrics())
        self.assertEqual(set(got), {"container_memory_current", "container_pids_max"})
        dims = {d["Name"]: d["Value"] for d in got["container_pids_max"][0]["Dimensions"]}
        self.assertEqual(dims["container_id"], DOCKER_ID)
        self.assertIn("watching cgroup '/%s'" % DOCKER_SCOPE, self.agent.log())

    def test_missing_controllers_logged_once(self):
        self.start("old-kernel", {})
        self.wait_for(self.count("container_memory_oom", 3))
        log = self.stop_cleanly()
        for f in ("io.stat", "cpu.max", "pids.current", "pids.max"):
            self.assertEqual(log.count("/%s' does not exist" % f), 1, log)
        self.assertEqual(log.count("has no oom_kill"), 1, log)
        self.assertEqual(log.count("no throttling statistics"), 1, log)
        got = self.by_name(self.metrics())
        self.assertEqual(sum(m["Value"] for m in got["container_memory_oom"]), 0)
        dims = {d["Name"]: d["Value"] for d in got["container_memory_current"][0]["Dimensions"]}
        self.assertEqual(dims["cgroup"], "/")
        self.assertNotIn("container_io_reads", got)
        self.assertNotIn("container_memory_max", got)

    def test_cgroup_v1_is_a_start_error(self):
        self.start("v1", {})
        self.agent.proc.wait(timeout=30)  # it exits by itself
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 1, self.agent.log())
        self.assertIn("cgroup v2 required", self.agent.log())

    def test_check_config_rejects_bad_path(self):
        config = make_config(self.workdir, "/sys/fs/cgroup", os.path.join(DATA, "proc-hybrid"),
                             {"cgroup_path": "../escape"})
        path = os.path.join(self.workdir, "bad.json")
        import json
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        r = harness.run_cli("--check-config", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("'cgroup_path' must name a cgroup below cgroup_root", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
