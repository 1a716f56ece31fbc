"""`osprey --dry-run --config FILE`: on a fixture proc root (tests/data/proc/multicore, 8
CPUs), the exact metric series and their count, the listeners with their addresses, the
sinks' resolved endpoints, the credential source the chain would use (without contacting
anything: every AWS endpoint points at a closed loopback port), the files a collect_list
entry matches when the files collector exists, and exit 1 with FILE:LINE:COL for an invalid
configuration."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

PROC = os.path.join(harness.SOURCE_DIR, "tests", "data", "proc", "multicore")


def fixture_cpus():
    """The per-CPU lines of the fixture (8 CPUs with a hot-plug gap: no cpu5)."""
    with open(os.path.join(PROC, "stat")) as f:
        return [l.split()[0] for l in f if re.match(r"cpu\d+ ", l)]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class DryRun(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="osprey-dry-")
        self.dead = "http://127.0.0.1:%d" % closed_port()
        # Only what the test sets: no credentials or profile from the machine.
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.workdir,
                    "AWS_EC2_METADATA_DISABLED": "true"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                self.env[k] = os.environ[k]

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def config(self, **extra):
        c = {
            "agent": {"metrics_collection_interval": 60, "region": "eu-west-1"},
            "metrics": {
                "namespace": "DryRunTest",
                "endpoint_override": self.dead,
                "metrics_collected": {
                    "cpu": {"measurement": ["cpu_time_user", "cpu_time_idle"],
                            "totalcpu": True, "resources": ["*"]},
                    "mem": {"measurement": ["mem_used_percent", "mem_total"],
                            "append_dimensions": {"role": "db"}},
                    "statsd": {"service_address": "127.0.0.1:18125"},
                },
            },
            "traces": {"endpoint_override": self.dead,
                       "traces_collected": {"xray": {"bind_address": "127.0.0.1:12000"}}},
            "logs": {"endpoint_override": self.dead,
                     "metrics_collected": {"emf": {"service_address": "udp:127.0.0.1:25999"}}},
            "osprey": {"proc_root": PROC, "hostname": "dry-host",
                       "state_dir": os.path.join(self.workdir, "state")},
        }
        c.update(extra)
        return c

    def run_dry(self, config, env=None):
        path = os.path.join(self.workdir, "osprey.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=1)
        full = dict(self.env)
        full.update(env or {})
        r = subprocess.run([harness.OSPREY_BIN, "--dry-run", "--config", path], env=full,
                           capture_output=True, text=True, timeout=60)
        return r

    def series(self, out):
        lines = out[out.index("metric series"):].splitlines()[1:]
        return [l.strip() for l in lines if l.startswith("  DryRunTest ")]

    def test_series_listeners_endpoints(self):
        # Hold the listeners' ports: a dry run that tried to bind them would fail to start.
        held = []
        for kind, port in ((socket.SOCK_DGRAM, 18125), (socket.SOCK_DGRAM, 12000),
                           (socket.SOCK_DGRAM, 25999)):
            s = socket.socket(socket.AF_INET, kind)
            s.bind(("127.0.0.1", port))
            held.append(s)
        try:
            r = self.run_dry(self.config())
        finally:
            for s in held:
                s.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        cpus = ["cpu-total"] + fixture_cpus()
        self.assertEqual(len(cpus), 9)
        want = sorted(
            ["DryRunTest cpu_time_%s [None] {cpu=%s, host=dry-host}" % (m, c)
             for m in ("user", "idle") for c in cpus] +
            ["DryRunTest mem_used_percent [Percent] {host=dry-host, role=db}",
             "DryRunTest mem_total [Bytes] {host=dry-host, role=db}"])
        self.assertEqual(sorted(self.series(out)), want)
        n = len(want)
        self.assertEqual(n, 20)
        self.assertIn("%d metric series -> %d custom metrics at CloudWatch pricing" % (n, n), out)
        self.assertIn("the series 'statsd' receives from its clients (not counted)", out)
        # Listeners, as each collector describes itself.
        self.assertIn("listen udp 127.0.0.1:18125", out)
        self.assertIn("listen udp 127.0.0.1:12000 (segments)", out)
        self.assertIn("listen tcp 127.0.0.1:2000 (sampling proxy", out)
        self.assertIn("listen udp 127.0.0.1:25999", out)
        self.assertNotIn("listen tcp 127.0.0.1:25999", out)
        # Sinks with their resolved endpoints and region.
        for sink in ("cloudwatch", "cloudwatch_logs", "xray"):
            self.assertRegex(out, r"(?m)^  %s: takes .*\n    endpoint %s region eu-west-1$"
                             % (sink, re.escape(self.dead)))
        self.assertIn("would use: none", out)  # IMDS disabled, nothing else configured

    def test_regional_endpoints_and_credential_sources(self):
        c = self.config()
        del c["metrics"]["endpoint_override"]
        c["agent"]["credentials"] = {"role_arn": "arn:aws:iam::123456789012:role/dry"}
        r = self.run_dry(c, {"AWS_ACCESS_KEY_ID": "AKIDDRYRUN", "AWS_SECRET_ACCESS_KEY": "s3cr3t"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("endpoint https://monitoring.eu-west-1.amazonaws.com region eu-west-1",
                      r.stdout)
        self.assertIn("environment:  present", r.stdout)
        self.assertIn("would use: environment", r.stdout)
        self.assertIn("AssumeRole arn:aws:iam::123456789012:role/dry (session osprey) at "
                      "https://sts.eu-west-1.amazonaws.com", r.stdout)
        self.assertNotIn("s3cr3t", r.stdout + r.stderr)
        # A shared-file profile: named settings, never values.
        creds = os.path.join(self.workdir, "credentials")
        with open(creds, "w") as f:
            f.write("[team]\naws_access_key_id = AKIDFILE\naws_secret_access_key = f1les3cret\n")
        r = self.run_dry(self.config(), {"AWS_SHARED_CREDENTIALS_FILE": creds,
                                         "AWS_PROFILE": "team"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("shared-file:  profile 'team': present: aws_access_key_id in %s" % creds,
                      r.stdout)
        self.assertIn("would use: shared-file", r.stdout)
        self.assertNotIn("f1les3cret", r.stdout)
        r = self.run_dry(self.config(), {"AWS_EC2_METADATA_DISABLED": "false"})
        self.assertIn("would use: imds", r.stdout)

    def test_files_matched(self):
        probe = harness.run_cli("config-reference")
        if "### `files`" not in probe.stdout:
            self.skipTest("this build has no files collector")
        logs = os.path.join(self.workdir, "logs")
        os.mkdir(logs)
        for name in ("a.log", "b.log", "skip.txt"):
            with open(os.path.join(logs, name), "w") as f:
                f.write("line\n")
        c = self.config()
        c["logs"]["logs_collected"] = {"files": {"collect_list": [{
            "file_path": os.path.join(logs, "*.log"), "log_group_name": "dry-group",
            "log_stream_name": "dry-stream", "publish_multi_logs": True}]}}
        r = self.run_dry(c)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(os.path.join(logs, "a.log"), r.stdout)
        self.assertIn(os.path.join(logs, "b.log"), r.stdout)
        self.assertNotIn("skip.txt", r.stdout)
        self.assertIn("dry-group", r.stdout)

    def test_invalid_config_exits_1(self):
        c = self.config()
        c["metrics"]["metrics_collected"]["cpu"]["totalcpu"] = "yes"
        r = self.run_dry(c)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"osprey\.json:\d+:\d+: .*totalcpu")
        self.assertNotIn("metric series", r.stdout)
        r = subprocess.run([harness.OSPREY_BIN, "--dry-run"], capture_output=True, text=True,
                           env=self.env, timeout=30)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
