"""SIGHUP reload end to end (build/osprey, the file sink, the health endpoint's /status):

(a) a changed metric plugin (mem: measurement list and interval) is restarted and its new
    settings show in the output; an added plugin starts; an unchanged one (generate[0])
    keeps running with its state: same id, its counters keep growing, its record numbers
    continue without a gap or a repeat;
(b) an invalid file is rejected with its errors logged as FILE:LINE:COL, and the old
    configuration keeps producing;
(c) nothing is lost or duplicated across reloads: a restarted generator's records are all
    delivered before its replacement starts; a full restart (a sink setting changed)
    drains the queue first; and, when the `files` collector is in this build, a reload
    that changes a tailed entry resumes from its checkpoint: every line exactly once."""
import collections
import datetime
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=10) as r:
        return json.loads(r.read())


def collector(st, name):
    for c in st["collectors"]:
        if c["name"] == name:
            return c
    raise AssertionError("no collector %s in %s" % (name, [c["name"] for c in st["collectors"]]))


class Reload(unittest.TestCase):
    def setUp(self):
        self.agent = None
        self.workdir = tempfile.mkdtemp(prefix="osprey-reload-")
        self.proc_root = os.path.join(self.workdir, "proc")
        os.mkdir(self.proc_root)
        harness.write_atomic(os.path.join(self.proc_root, "stat"), harness.STAT_1)
        harness.write_atomic(os.path.join(self.proc_root, "meminfo"), harness.MEMINFO)

    def tearDown(self):
        if self.agent:
            self.agent.kill()

    def config(self, metrics=None, generate=None, logs=None, osprey=None):
        cfg = {
            "osprey": {
                "proc_root": self.proc_root,
                "hostname": "it-host",
                "state_dir": os.path.join(self.workdir, "state"),
                "flush_interval": 0.2,
                "summary_interval": 1,
                "shutdown_deadline": 10,
                "generate": generate or [],
                "sinks": {"file": {"directory": os.path.join(self.workdir, "out")}},
            },
        }
        cfg["osprey"].update(osprey or {})
        if metrics:
            cfg["metrics"] = {"namespace": "OspreyTest", "metrics_collected": metrics}
        if logs:
            cfg["logs"] = logs
        return cfg

    def start(self, cfg):
        self.agent = harness.Agent(cfg, self.workdir).start()
        self.port = harness.health_port(self.agent)
        return self.agent

    def reload(self, cfg, expect="reload applied"):
        """Write the new file and SIGHUP; wait for the one reload line it produces."""
        before = self.agent.log().count(expect)
        if isinstance(cfg, str):
            text = cfg
        else:
            text = json.dumps(harness.with_test_health(cfg), indent=2)
        harness.write_atomic(self.agent.config_path, text)
        self.agent.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while self.agent.log().count(expect) <= before:
            self.assertIsNone(self.agent.proc.poll(), self.agent.log())
            self.assertLess(time.monotonic(), deadline, self.agent.log())
            time.sleep(0.05)
        return self.agent.log()

    def out(self, name):
        return harness.read_jsonl(os.path.join(self.workdir, "out", name))

    def wait_for(self, what, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = predicate()
            if got:
                return got
            time.sleep(0.1)
        self.fail("timed out waiting for %s\n%s" % (what, self.agent.log()[-5000:]))

    def stop(self):
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())

    def numbers(self, prefix, stream=None):
        """Record numbers of log lines "<prefix> N" in the file sink's output."""
        got = []
        for e in self.out("logs.jsonl"):
            m = re.fullmatch(re.escape(prefix) + r" (\d+)\.*", e["message"])
            if m and (stream is None or e["stream"] == stream):
                got.append(int(m.group(1)))
        return got

    def assert_exactly_once(self, numbers, n, what):
        counts = collections.Counter(numbers)
        dup = [k for k, v in counts.items() if v > 1]
        self.assertFalse(dup, "%s duplicated: %s" % (what, dup[:20]))
        self.assertEqual(sorted(counts), list(range(n)), "%s lost records" % what)

    # ---- (a) ------------------------------------------------------------------------

    def test_changed_plugin_restarts_unchanged_keeps_state(self):
        keep = {"kind": "logs", "rate": 100, "message": "kept {n}", "log_stream_name": "k"}
        mem1 = {"measurement": ["used_percent"], "metrics_collection_interval": 1}
        self.start(self.config(metrics={"mem": mem1}, generate=[keep]))
        self.wait_for("mem points", lambda: [m for m in self.out("metrics.jsonl")
                                             if m["MetricName"] == "mem_used_percent"])
        before = self.wait_for("generate[0] running", lambda: (
            lambda c: c if c["records_out"] >= 50 else None)(
                collector(status(self.port), "generate[0]")))

        mem2 = {"measurement": ["used_percent", "total"], "metrics_collection_interval": 2}
        added = {"kind": "metrics", "count": 5, "metric_name": "added_value"}
        log = self.reload(self.config(metrics={"mem": mem2}, generate=[keep, added]))
        self.assertIn("reload applied: kept [generate[0]], restarted [mem], "
                      "added [generate[1]], removed [none]", log)
        # The changed plugin runs with its new settings, the added one publishes.
        totals = self.wait_for("mem_total twice", lambda: (
            lambda t: t if len(t) >= 3 else None)(
                [m for m in self.out("metrics.jsonl") if m["MetricName"] == "mem_total"]),
            timeout=30)
        self.assertEqual(totals[0]["Value"], 1000000 * 1024)
        stamps = [datetime.datetime.fromisoformat(m["Timestamp"].replace("Z", "+00:00"))
                  for m in totals]
        gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
        self.assertTrue(all(g >= 1.5 for g in gaps), "interval not 2 s: %s" % gaps)
        self.wait_for("added_value", lambda: len([m for m in self.out("metrics.jsonl")
                                                  if m["MetricName"] == "added_value"]) == 5)
        # The unchanged one was not restarted: same id, counters not reset.
        after = collector(status(self.port), "generate[0]")
        self.assertEqual(after["id"], before["id"])
        self.assertEqual(after["state"], "running")
        self.assertGreater(after["records_out"], before["records_out"])
        self.assertNotIn("generate[0]: stopped", self.agent.log())
        ids = [c["id"] for c in status(self.port)["collectors"]]
        self.assertEqual(len(ids), len(set(ids)))
        self.stop()
        n = int(re.search(r"generate\[0\]: stopped after (\d+) records", self.agent.log())[1])
        self.assert_exactly_once(self.numbers("kept"), n, "generate[0]")

    # ---- (b) ------------------------------------------------------------------------

    def test_invalid_config_rejected_old_keeps_running(self):
        keep = {"kind": "logs", "rate": 100, "message": "kept {n}"}
        cfg = self.config(metrics={"mem": {"measurement": ["used_percent"]}}, generate=[keep])
        self.start(cfg)
        self.wait_for("generate[0] running",
                      lambda: collector(status(self.port), "generate[0]")["records_out"] > 20)
        bad = harness.with_test_health(self.config(generate=[dict(keep, rate="fast")],
                                                   osprey={"bogus_key": 1}))
        text = json.dumps(bad, indent=2)
        log = self.reload(text, expect="reload rejected")
        path = re.escape(self.agent.config_path)
        self.assertRegex(log, path + r":\d+:\d+: .*bogus_key")
        self.assertRegex(log, path + r":\d+:\d+: .*rate")
        self.assertIn("the running configuration stays in force", log)
        # Broken JSON is rejected the same way.
        self.reload("{\"osprey\": {", expect="reload rejected")
        self.assertRegex(self.agent.log(), path + r":\d+:\d+: ")
        # The old configuration keeps producing, with the same plugins.
        seen = collector(status(self.port), "generate[0]")["records_out"]
        self.wait_for("more records",
                      lambda: collector(status(self.port), "generate[0]")["records_out"] > seen + 50)
        st = status(self.port)
        self.assertEqual(sorted(c["name"] for c in st["collectors"]), ["generate[0]", "mem"])
        self.assertEqual(st["reloads"], {"applied": 0, "rejected": 2})
        # A valid file afterwards applies.
        self.reload(cfg)
        self.assertIn("kept [mem, generate[0]]", self.agent.log())
        self.stop()

    # ---- (c) ------------------------------------------------------------------------

    def test_restarted_generator_and_full_restart_lose_nothing(self):
        first = {"kind": "logs", "rate": 1000, "message": "one {n}", "size": 300}
        self.start(self.config(generate=[first]))
        self.wait_for("first records", lambda: len(self.numbers("one")) > 500)
        # Changed: the old instance stops, its acks come in, then the new one starts.
        second = dict(first, message="two {n}")
        self.reload(self.config(generate=[second]))
        self.wait_for("second records", lambda: len(self.numbers("two")) > 500)
        # A sink setting changed: every plugin restarts after the queue drained.
        third = dict(first, message="three {n}")
        log = self.reload(self.config(generate=[third], osprey={"flush_interval": 0.1}))
        self.assertIn("restarting every plugin", log)
        self.wait_for("third records", lambda: len(self.numbers("three")) > 500)
        self.stop()
        stopped = [int(x) for x in re.findall(r"generate\[0\]: stopped after (\d+) records",
                                              self.agent.log())]
        self.assertEqual(len(stopped), 3, self.agent.log())
        for prefix, n in zip(("one", "two", "three"), stopped):
            self.assert_exactly_once(self.numbers(prefix), n, prefix)

    def test_tail_entry_change_resumes_from_checkpoint(self):
        probe = self.config(logs={"logs_collected": {"files": {"collect_list": [
            {"file_path": os.path.join(self.workdir, "x.log")}]}}})
        probe_path = os.path.join(self.workdir, "probe.json")
        with open(probe_path, "w") as f:
            json.dump(probe, f)
        if harness.run_cli("--check-config", probe_path).returncode != 0:
            self.skipTest("the files collector is not in this build; "
                          "test_restarted_generator_and_full_restart_lose_nothing covers (c)")
        app = os.path.join(self.workdir, "app.log")
        open(app, "w").close()

        def entry(stream):
            return {"logs_collected": {"files": {"collect_list": [
                {"file_path": app, "log_group_name": "g", "log_stream_name": stream}]}}}
        self.start(self.config(logs=entry("before")))
        stop = threading.Event()
        written = [0]

        def writer():
            with open(app, "a", buffering=1) as f:
                while not stop.is_set():
                    for _ in range(20):
                        f.write("line %d\n" % written[0])
                        written[0] += 1
                    time.sleep(0.01)
        t = threading.Thread(target=writer)
        t.start()
        try:
            self.wait_for("tailed lines", lambda: len(self.numbers("line")) > 1000)
            self.reload(self.config(logs=entry("after")))
            self.wait_for("lines after the reload",
                          lambda: len(self.numbers("line", stream="after")) > 1000)
            # Reload twice more while lines keep coming.
            self.reload(self.config(logs=entry("again")))
            self.reload(self.config(logs=entry("after")))
        finally:
            stop.set()
            t.join()
        n = written[0]
        self.wait_for("every line", lambda: len(self.numbers("line")) >= n, timeout=60)
        self.stop()
        self.assertIn("restarted [files[0]]", self.agent.log())
        self.assert_exactly_once(self.numbers("line"), n, "tailed lines")


if __name__ == "__main__":
    unittest.main(verbosity=2)
