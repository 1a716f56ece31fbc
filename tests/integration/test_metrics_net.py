"""End to end: build/osprey with the net, netstat and processes plugins on a fixture proc
root (tests/data/proc/netbusy, netbusy-t1, procs) and the file sink; the JSON lines must
carry the CloudWatch agent's metric names, units, dimensions and the exact values."""
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

DATA = os.path.join(harness.SOURCE_DIR, "tests", "data", "proc")

NET_FIELDS = ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv",
              "err_in", "err_out", "drop_in", "drop_out"]


def make_config(workdir, proc_root):
    return {
        "agent": {"metrics_collection_interval": 1},
        "metrics": {
            "namespace": "OspreyTest",
            "metrics_collected": {
                "net": {"resources": ["*"],
                        "measurement": ["net_" + f for f in NET_FIELDS]},
                "netstat": {"measurement": ["tcp_established", "tcp_listen", "tcp_time_wait",
                                            "tcp_none", "udp_socket"]},
                "processes": {"measurement": ["running", "sleeping", "stopped", "zombies",
                                              "idle", "total", "total_threads"],
                              "append_dimensions": {"role": "web"}},
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


def copy_net_dev(src_variant, proc_root):
    tmp = os.path.join(proc_root, "net", "dev.tmp")
    shutil.copyfile(os.path.join(DATA, src_variant, "net", "dev"), tmp)
    os.rename(tmp, os.path.join(proc_root, "net", "dev"))


class NetNetstatProcesses(unittest.TestCase):
    def setUp(self):
        self.agent = None
        self.workdir = tempfile.mkdtemp(prefix="osprey-net-")
        self.proc_root = os.path.join(self.workdir, "proc")
        # Socket tables from netbusy, the pid tree from procs, net/dev switched by the test.
        shutil.copytree(os.path.join(DATA, "procs"), self.proc_root)
        os.mkdir(os.path.join(self.proc_root, "net"))
        for table in ("tcp", "tcp6", "udp", "udp6"):
            shutil.copyfile(os.path.join(DATA, "netbusy", "net", table),
                            os.path.join(self.proc_root, "net", table))
        copy_net_dev("netbusy", self.proc_root)

    def tearDown(self):
        if self.agent:
            self.agent.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def metrics(self):
        return harness.read_jsonl(os.path.join(self.workdir, "out", "metrics.jsonl"))

    def wait_for(self, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.metrics()
            if predicate(got):
                return got
            time.sleep(0.1)
        self.fail("timed out; metrics so far: %r\nlog:\n%s" % (self.metrics(), self.agent.log()))

    def test_names_units_dimensions_values(self):
        self.agent = harness.Agent(make_config(self.workdir, self.proc_root),
                                   self.workdir).start()
        self.assertTrue(self.agent.wait_for_log("started"), self.agent.log())
        # netstat and processes publish from the first scrape; net only primes, then
        # publishes zero deltas while the file stays the same.
        self.wait_for(lambda m: any(x["MetricName"] == "processes_total" for x in m)
                      and any(x["MetricName"] == "netstat_tcp_listen" for x in m))
        copy_net_dev("netbusy-t1", self.proc_root)
        self.wait_for(lambda m: any(x["MetricName"] == "net_bytes_recv" and x["Value"] == 1500
                                    for x in m))
        # One more interval on the same file, where eth1's reset counter publishes again.
        self.wait_for(lambda m: any(x["MetricName"] == "net_bytes_recv" and x["Value"] == 0
                                    and {"Name": "interface", "Value": "eth1"} in x["Dimensions"]
                                    for x in m))
        self.assertTrue(self.agent.wait_for_log("bad_stat"), self.agent.log())
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())

        by_name = {}
        for m in self.metrics():
            self.assertEqual(m["Namespace"], "OspreyTest")
            dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
            self.assertEqual(dims.get("host"), "it-host")
            by_name.setdefault(m["MetricName"], []).append((m, dims))

        # net: eth0's deltas over the one interval in which the file changed, zero in
        # every other interval (never the cumulative counter); Bytes for bytes_*.
        want_eth0 = {"bytes_recv": 1500, "bytes_sent": 900, "packets_recv": 10,
                     "packets_sent": 9, "err_in": 3, "err_out": 0, "drop_in": 0, "drop_out": 1}
        for field, value in want_eth0.items():
            points = [(m, d) for m, d in by_name["net_" + field] if d["interface"] == "eth0"]
            values = [m["Value"] for m, _ in points]
            self.assertIn(value, values, field)
            self.assertEqual(sorted(v for v in values if v != 0), [value] if value else [],
                             field)
            for m, dims in points:
                self.assertEqual(m["Unit"], "Bytes" if field.startswith("bytes") else "Count")
                self.assertEqual(set(dims), {"host", "interface"})
        interfaces = {d["interface"] for name in by_name if name.startswith("net_")
                      for _, d in by_name[name]}
        self.assertNotIn("lo", interfaces)  # "*" leaves out the loopback, as telegraf does
        # docker0 is gone from the second file: only zero deltas from before the switch.
        self.assertEqual({m["Value"] for name in by_name if name.startswith("net_")
                          for m, d in by_name[name] if d["interface"] == "docker0"} - {0}, set())
        # eth1's rx_bytes went back (a reset): that interval publishes nothing for it, so
        # every eth1 bytes_recv is a zero delta; its tx_bytes rose by 60 in that interval.
        eth1 = [m["Value"] for m, d in by_name["net_bytes_recv"] if d["interface"] == "eth1"]
        self.assertTrue(eth1)
        self.assertEqual(set(eth1), {0})
        self.assertIn(60, [m["Value"] for m, d in by_name["net_bytes_sent"]
                           if d["interface"] == "eth1"])

        # netstat: tcp + tcp6 per state, udp + udp6.
        for name, value in (("netstat_tcp_established", 5), ("netstat_tcp_listen", 3),
                            ("netstat_tcp_time_wait", 1), ("netstat_tcp_none", 1),
                            ("netstat_udp_socket", 3)):
            m, dims = by_name[name][0]
            self.assertEqual(m["Value"], value, name)
            self.assertEqual(m["Unit"], "Count")
            self.assertEqual(set(dims), {"host"})
        self.assertNotIn("netstat_tcp_close", by_name)  # not in the measurement list

        # processes: telegraf's Linux state mapping over the procs fixture.
        for name, value in (("processes_running", 2), ("processes_sleeping", 1),
                            ("processes_stopped", 2), ("processes_zombies", 1),
                            ("processes_idle", 1), ("processes_total", 12),
                            ("processes_total_threads", 18)):
            m, dims = by_name[name][0]
            self.assertEqual(m["Value"], value, name)
            self.assertEqual(m["Unit"], "Count")
            self.assertEqual(dims, {"host": "it-host", "role": "web"})

    def test_check_config_rejects_unknown_measurement(self):
        config = make_config(self.workdir, self.proc_root)
        config["metrics"]["metrics_collected"]["netstat"]["measurement"].append("tcp_bogus")
        path = os.path.join(self.workdir, "bad.json")
        with open(path, "w") as f:
            import json
            json.dump(config, f)
        r = harness.run_cli("--check-config", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("tcp_bogus", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
