"""End to end: the swap, disk and diskio collectors of build/osprey on a fixture proc root
(meminfo, vmstat, diskstats, self/mounts naming real scratch directories so statvfs has
something to measure), with the file sink. Checks names, units, dimensions and exact
values as the CloudWatch agent would publish them, diskio deltas across a change of the
file, and that a bad diskstats line is counted in the summary while the rest is used."""
import os
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

MEMINFO = harness.MEMINFO + "SwapTotal:       2000000 kB\nSwapFree:        1500000 kB\n"
VMSTAT = "nr_free_pages 100\npswpin 7\npswpout 9\n"

# 20-column (5.5+) lines and one line that is not diskstats at all.
DISKSTATS_1 = (
    " 259       0 nvme0n1 1000 10 80000 500 2000 20 160000 3000 2 4000 3500 0 0 0 0 100 50\n"
    " 202       0 xvdf 300 0 2400 90 10 0 80 4 0 90 90 0 0 0 0 0 0\n"
    "garbage line\n"
)
DISKSTATS_2 = (
    " 259       0 nvme0n1 1100 12 88000 520 2250 25 180000 3300 5 4600 3900 0 0 0 0 110 55\n"
    " 202       0 xvdf 300 0 2400 90 10 0 80 4 0 90 90 0 0 0 0 0 0\n"
    "garbage line\n"
)


def make_config(workdir, proc_root):
    return {
        "agent": {"metrics_collection_interval": 1},
        "metrics": {
            "namespace": "OspreyTest",
            "metrics_collected": {
                "swap": {"measurement": ["swap_used_percent", "free", "in"]},
                "disk": {"resources": ["*"], "ignore_file_system_types": ["sysfs"],
                         "measurement": ["used_percent", "total", "inodes_total"]},
                "diskio": {"resources": ["nvme*"]},
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


class DiskMetricsEndToEnd(unittest.TestCase):
    def setUp(self):
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.kill()

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

    def test_swap_disk_diskio(self):
        workdir = tempfile.mkdtemp(prefix="osprey-disk-")
        proc_root = os.path.join(workdir, "proc")
        os.makedirs(os.path.join(proc_root, "self"))
        mnt = os.path.join(workdir, "mnt point")  # a space: written "\040" in the table
        os.mkdir(mnt)
        harness.write_atomic(os.path.join(proc_root, "meminfo"), MEMINFO)
        harness.write_atomic(os.path.join(proc_root, "vmstat"), VMSTAT)
        harness.write_atomic(os.path.join(proc_root, "diskstats"), DISKSTATS_1)
        harness.write_atomic(os.path.join(proc_root, "self", "mounts"),
                             "sysfs /sys sysfs rw 0 0\n"
                             "proc /proc proc rw 0 0\n"
                             "/dev/nvme1n1 %s ext4 rw,relatime 0 0\n"
                             % mnt.replace(" ", "\\040"))
        self.agent = harness.Agent(make_config(workdir, proc_root), workdir).start()
        self.assertTrue(self.agent.wait_for_log("started"), self.agent.log())

        # The first diskio scrape publishes the gauge only; deltas need a second sample.
        self.wait_for(workdir, lambda m: any(x["MetricName"] == "diskio_iops_in_progress"
                                             for x in m))
        self.assertFalse(any(x["MetricName"] == "diskio_reads" for x in self.metrics(workdir)))
        harness.write_atomic(os.path.join(proc_root, "diskstats"), DISKSTATS_2)
        self.wait_for(workdir, lambda m: any(x["MetricName"] == "diskio_reads" for x in m))
        self.assertTrue(self.agent.wait_for_log("(line_malformed"), self.agent.log())
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        self.assertIn("stopped cleanly", self.agent.log())

        by_name = {}
        for m in self.metrics(workdir):
            self.assertEqual(m["Namespace"], "OspreyTest")
            dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
            self.assertEqual(dims.pop("host"), "it-host")
            by_name.setdefault(m["MetricName"], []).append((m, dims))

        # swap: values, units, no dimension of its own; opt-in "in" in bytes.
        m, dims = by_name["swap_used_percent"][0]
        self.assertEqual((m["Value"], m["Unit"], dims), (25.0, "Percent", {}))
        m, _ = by_name["swap_free"][0]
        self.assertEqual((m["Value"], m["Unit"]), (1500000 * 1024, "Bytes"))
        m, _ = by_name["swap_in"][0]
        self.assertEqual((m["Value"], m["Unit"]), (7 * os.sysconf("SC_PAGESIZE"), "Bytes"))
        self.assertNotIn("swap_used", by_name)

        # disk: the scratch mount only (proc is a dummy, sysfs ignored), exact totals.
        st = os.statvfs(mnt)
        for name in ("disk_total", "disk_used_percent", "disk_inodes_total"):
            paths = {d["path"] for _, d in by_name[name]}
            self.assertEqual(paths, {mnt}, name)
        m, dims = by_name["disk_total"][0]
        self.assertEqual(dims, {"path": mnt, "device": "nvme1n1", "fstype": "ext4"})
        self.assertEqual(m["Unit"], "Bytes")
        self.assertEqual(m["Value"], st.f_blocks * st.f_frsize)
        m, _ = by_name["disk_inodes_total"][0]
        self.assertEqual((m["Value"], m["Unit"]), (st.f_files, "Count"))
        self.assertEqual(by_name["disk_used_percent"][0][0]["Unit"], "Percent")
        self.assertNotIn("disk_free", by_name)

        # diskio: nvme0n1 only (resources glob), one delta interval, exact values.
        want = {
            "diskio_reads": (100, "Count"),
            "diskio_writes": (250, "Count"),
            "diskio_read_bytes": (8000 * 512, "Bytes"),
            "diskio_write_bytes": (20000 * 512, "Bytes"),
            "diskio_read_time": (20, "Milliseconds"),
            "diskio_write_time": (300, "Milliseconds"),
            "diskio_io_time": (600, "Milliseconds"),
        }
        for name, (value, unit) in want.items():
            m, dims = by_name[name][0]
            self.assertEqual(dims, {"name": "nvme0n1"}, name)
            self.assertEqual((m["Value"], m["Unit"]), (value, unit), name)
            # Later intervals over the same file are zero deltas, never a repeat.
            for later, _ in by_name[name][1:]:
                self.assertEqual(later["Value"], 0, name)
        gauges = [m["Value"] for m, _ in by_name["diskio_iops_in_progress"]]
        self.assertEqual(gauges[0], 2)
        self.assertEqual(gauges[-1], 5)
        self.assertEqual(by_name["diskio_iops_in_progress"][0][0]["Unit"], "Count")
        for name, series in by_name.items():
            if name.startswith("diskio_"):
                self.assertTrue(all(d["name"] == "nvme0n1" for _, d in series), name)


class DiskConfigErrors(unittest.TestCase):
    def test_unsupported_keys_fail_with_position(self):
        workdir = tempfile.mkdtemp(prefix="osprey-disk-cfg-")
        config = make_config(workdir, "/proc")
        config["metrics"]["metrics_collected"]["diskio"]["skip_serial_number"] = False
        config["metrics"]["metrics_collected"]["disk"]["resources"] = ["data"]
        path = os.path.join(workdir, "osprey.json")
        import json
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        r = harness.run_cli("--config", path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("skip_serial_number", r.stderr)
        self.assertIn("'data' is not a mount point", r.stderr)
        self.assertRegex(r.stderr, r"osprey\.json:\d+:\d+:")


if __name__ == "__main__":
    unittest.main()
