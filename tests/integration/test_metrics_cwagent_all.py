"""End to end: ONE CloudWatch-agent-style config that enables every metrics plugin (cpu,
mem, swap, disk, diskio, net, netstat, processes, procstat, statsd, container), with no
osprey.sinks, so the default `cloudwatch` sink publishes to metrics.endpoint_override: the
project's compatible endpoint, which checks every PutMetricData against the botocore model
and SigV4. Asserted per plugin: the exact metric names, their units (as the CloudWatch
agent documents them), dimensions, the namespace, StorageResolution 1 (1 s interval), the
append_dimensions of one plugin and the aggregation_dimensions [["host"]] rollup, and that
the endpoint accepted every request.

Inputs: a scratch proc root built from fixtures (harness STAT_1/STAT_2/MEMINFO, the
procs pid tree, the netbusy socket tables and net/dev, diskstats lines as in
test_metrics_disk.py) with files rewritten after the first scrape so the delta plugins
publish. Two plugins need something real: disk calls statvfs() on the mount points
listed in <proc_root>/self/mounts, so that table names a scratch directory; procstat
reads /proc/<pid> under the same proc root, so the pid of a real child `sleep` is made a
symlink to /proc/<pid> in the scratch root (processes, which lists directory entries
only, leaves that symlink out)."""
import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from aws_endpoint import EndpointTestCase, REGION  # noqa: E402

HOST = "it-host"
NAMESPACE = "OspreyAll"
PROC_DATA = os.path.join(harness.SOURCE_DIR, "tests", "data", "proc")
CGROUP_DATA = os.path.join(harness.SOURCE_DIR, "tests", "data", "cgroup")
DOCKER_ID = "3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
DOCKER_SCOPE = "system.slice/docker-%s.scope" % DOCKER_ID

MEMINFO = harness.MEMINFO + "SwapTotal:       2000000 kB\nSwapFree:        1500000 kB\n"
VMSTAT = "nr_free_pages 100\npswpin 7\npswpout 9\n"
DISKSTATS_1 = (
    " 259       0 nvme0n1 1000 10 80000 500 2000 20 160000 3000 2 4000 3500 0 0 0 0 100 50\n")
DISKSTATS_2 = (
    " 259       0 nvme0n1 1100 12 88000 520 2250 25 180000 3300 5 4600 3900 0 0 0 0 110 55\n")

CPU_FIELDS = ["usage_idle", "usage_user", "usage_system", "usage_iowait", "usage_active",
              "time_idle"]
MEM_FIELDS = ["used_percent", "available_percent", "total", "used"]
SWAP_FIELDS = ["used_percent", "free", "used"]
DISK_FIELDS = ["used_percent", "free", "total", "used", "inodes_free", "inodes_total",
               "inodes_used"]
DISKIO_FIELDS = ["reads", "writes", "read_bytes", "write_bytes", "read_time", "write_time",
                 "io_time", "iops_in_progress"]
NET_FIELDS = ["bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in",
              "err_out", "drop_in", "drop_out"]
NETSTAT_FIELDS = ["tcp_established", "tcp_listen", "tcp_time_wait", "tcp_close",
                  "udp_socket"]
PROCESSES_FIELDS = ["running", "sleeping", "stopped", "zombies", "idle", "total",
                    "total_threads"]
PROCSTAT_FIELDS = ["pid", "pid_count", "cpu_usage", "memory_rss", "num_threads"]
CONTAINER_FIELDS = ["cpu_usage_percent", "cpu_limit", "memory_current", "memory_max",
                    "memory_used_percent", "pids_current", "pids_max", "io_reads",
                    "memory_oom_kill"]

# Unit of every metric the config asks for, as the CloudWatch agent documents them (and,
# for container_*, as collectors/container.c does).
UNITS = {}
UNITS.update({"cpu_" + f: "Percent" for f in CPU_FIELDS if f.startswith("usage")})
UNITS["cpu_time_idle"] = "None"
UNITS.update({"mem_used_percent": "Percent", "mem_available_percent": "Percent",
              "mem_total": "Bytes", "mem_used": "Bytes"})
UNITS.update({"swap_used_percent": "Percent", "swap_free": "Bytes", "swap_used": "Bytes"})
UNITS.update({"disk_used_percent": "Percent", "disk_free": "Bytes", "disk_total": "Bytes",
              "disk_used": "Bytes", "disk_inodes_free": "Count",
              "disk_inodes_total": "Count", "disk_inodes_used": "Count"})
UNITS.update({"diskio_reads": "Count", "diskio_writes": "Count",
              "diskio_read_bytes": "Bytes", "diskio_write_bytes": "Bytes",
              "diskio_read_time": "Milliseconds", "diskio_write_time": "Milliseconds",
              "diskio_io_time": "Milliseconds", "diskio_iops_in_progress": "Count"})
UNITS.update({"net_" + f: ("Bytes" if f.startswith("bytes") else "Count")
              for f in NET_FIELDS})
UNITS.update({"netstat_" + f: "Count" for f in NETSTAT_FIELDS})
UNITS.update({"processes_" + f: "Count" for f in PROCESSES_FIELDS})
UNITS.update({"procstat_pid": "Count", "procstat_lookup_pid_count": "Count",
              "procstat_cpu_usage": "Percent", "procstat_memory_rss": "Bytes",
              "procstat_num_threads": "Count"})
UNITS.update({"req_count": "Count", "queue_depth": "None", "api_latency": "None",
              "users_seen": "None"})
UNITS.update({"container_cpu_usage_percent": "Percent", "container_cpu_limit": "None",
              "container_memory_current": "Bytes", "container_memory_max": "Bytes",
              "container_memory_used_percent": "Percent", "container_pids_current": "Count",
              "container_pids_max": "Count", "container_io_reads": "Count",
              "container_memory_oom_kill": "Count"})

STATSD_LINES = [b"req.count:3|c|#env:prod", b"queue.depth:7|g", b"api.latency:12|ms",
                b"api.latency:20|ms", b"users.seen:alice|s\nusers.seen:bob|s"]


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def copy_atomic(src, dst):
    shutil.copyfile(src, dst + ".tmp")
    os.rename(dst + ".tmp", dst)


class CloudWatchAgentAllPlugins(EndpointTestCase):
    def setUp(self):
        super().setUp()
        self.child = None
        self.workdir = tempfile.mkdtemp(prefix="osprey-cwa-all-")

    def tearDown(self):
        super().tearDown()
        if self.child:
            self.child.kill()
            self.child.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def build_roots(self):
        w = self.workdir
        proc = os.path.join(w, "proc")
        shutil.copytree(os.path.join(PROC_DATA, "procs"), proc)  # pid tree + self/
        os.mkdir(os.path.join(proc, "net"))
        for table in ("tcp", "tcp6", "udp", "udp6", "dev"):
            shutil.copyfile(os.path.join(PROC_DATA, "netbusy", "net", table),
                            os.path.join(proc, "net", table))
        harness.write_atomic(os.path.join(proc, "stat"), harness.STAT_1)
        harness.write_atomic(os.path.join(proc, "meminfo"), MEMINFO)
        harness.write_atomic(os.path.join(proc, "vmstat"), VMSTAT)
        harness.write_atomic(os.path.join(proc, "diskstats"), DISKSTATS_1)
        self.mnt = os.path.join(w, "mnt")
        os.mkdir(self.mnt)
        harness.write_atomic(os.path.join(proc, "self", "mounts"),
                             "proc /proc proc rw 0 0\n"
                             "/dev/nvme1n1 %s ext4 rw,relatime 0 0\n" % self.mnt)
        # procstat: a real child, seen through the scratch root.
        self.child = subprocess.Popen(["sleep", "600"])
        os.symlink("/proc/%d" % self.child.pid, os.path.join(proc, str(self.child.pid)))
        self.pid_file = os.path.join(w, "child.pid")
        harness.write_atomic(self.pid_file, "%d\n" % self.child.pid)
        cgroup = os.path.join(w, "cgroup")
        shutil.copytree(os.path.join(CGROUP_DATA, "limited"), cgroup)
        return proc, cgroup

    def config(self, proc, cgroup, statsd_port):
        return {
            "agent": {"metrics_collection_interval": 1, "region": REGION},
            "metrics": {
                "namespace": NAMESPACE,
                "endpoint_override": self.endpoint.url,
                "force_flush_interval": 1,
                "aggregation_dimensions": [["host"]],
                "metrics_collected": {
                    "cpu": {"totalcpu": True, "resources": ["*"],
                            "measurement": CPU_FIELDS},
                    "mem": {"measurement": MEM_FIELDS,
                            "append_dimensions": {"role": "web"}},
                    "swap": {"measurement": SWAP_FIELDS},
                    "disk": {"resources": ["*"], "measurement": DISK_FIELDS},
                    "diskio": {"resources": ["*"], "measurement": DISKIO_FIELDS},
                    "net": {"resources": ["*"], "measurement": NET_FIELDS},
                    "netstat": {"measurement": NETSTAT_FIELDS},
                    "processes": {"measurement": PROCESSES_FIELDS},
                    "procstat": [{"pid_file": self.pid_file,
                                  "measurement": PROCSTAT_FIELDS}],
                    # Aggregation 0: StatsD points high resolution too (default 60).
                    "statsd": {"service_address": "127.0.0.1:%d" % statsd_port,
                               "metrics_collection_interval": 1,
                               "metrics_aggregation_interval": 0},
                    "container": {"cgroup_root": cgroup, "cgroup_path": DOCKER_SCOPE,
                                  "measurement": CONTAINER_FIELDS},
                },
            },
            "osprey": {"proc_root": proc, "hostname": HOST,
                       "state_dir": os.path.join(self.workdir, "state"),
                       "summary_interval": 1},
        }

    def names(self):
        return {m["metric_name"] for m in self.endpoint.get("metrics")["metrics"]}

    def wait_names(self, want, timeout=30, tick=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if tick:
                tick()
            if want <= self.names():
                return
            if self.agent.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.fail("missing %r\nlog:\n%s\nendpoint:\n%s" % (
            sorted(want - self.names()), self.agent.log(), self.endpoint.read_log()[-3000:]))

    def test_every_plugin_through_put_metric_data(self):
        proc, cgroup = self.build_roots()
        port = free_udp_port()
        self.start_agent(self.config(proc, cgroup, port))
        self.assertTrue(self.agent.wait_for_log("started"), self.agent.log())

        # Everything a first scrape publishes (no deltas yet).
        first = {"mem_used_percent", "swap_used_percent", "disk_used_percent",
                 "diskio_iops_in_progress", "netstat_tcp_established", "processes_total",
                 "procstat_lookup_pid_count", "cpu_time_idle", "container_memory_current"}
        self.wait_names(first)
        # Second samples: cpu percentages, disk I/O and net deltas, cgroup deltas.
        harness.write_atomic(os.path.join(proc, "stat"), harness.STAT_2)
        harness.write_atomic(os.path.join(proc, "diskstats"), DISKSTATS_2)
        copy_atomic(os.path.join(PROC_DATA, "netbusy-t1", "net", "dev"),
                    os.path.join(proc, "net", "dev"))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

        def send_statsd():
            for line in STATSD_LINES:
                sock.sendto(line, ("127.0.0.1", port))
        try:
            self.wait_names(set(UNITS), timeout=30, tick=send_statsd)
        finally:
            sock.close()
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        log = self.agent.log()
        self.assertIn("stopped cleanly", log)
        # Every record reached the sink and none was dropped (no "(dropped N)" after it).
        self.assertRegex(log, r"final collected: .* \| delivered: cloudwatch=[1-9][0-9]* \|")
        self.assertNotRegex(log, r"\b(warn|error)\b")

        # The endpoint accepted every request (model, limits, SigV4), and only those.
        reqs = self.endpoint.get("requests")["requests"]
        self.assertTrue(reqs)
        for r in reqs:
            self.assertEqual(r["operation"], "PutMetricData", r)
            self.assertEqual(r["status"], 200, (r.get("error_code"), r.get("error_message")))
            self.assertIsNone(r.get("error_code"))
            self.assertEqual(r["region"], REGION)

        datums = self.endpoint.get("metrics")["metrics"]
        by_name = collections.defaultdict(list)
        for d in datums:
            self.assertEqual(d["namespace"], NAMESPACE)
            self.assertEqual(d["storage_resolution"], 1, d)  # 1 s interval: high resolution
            by_name[d["metric_name"]].append(d)
        # Exactly the names the config selects: nothing missing, nothing extra.
        self.assertEqual(set(by_name), set(UNITS))
        for name, ds in by_name.items():
            for d in ds:
                self.assertEqual(d["unit"], UNITS[name], d)

        def dimsets(name):
            return {tuple(sorted((x["Name"], x["Value"]) for x in d["dimensions"]))
                    for d in by_name[name]}

        def full(name):
            """The datums' dimension sets, without the [["host"]] rollups."""
            return [dict(s) for s in dimsets(name) if s != (("host", HOST),)]

        host_only = (("host", HOST),)
        for name in by_name:
            # aggregation_dimensions [["host"]]: every metric also goes out by host alone.
            self.assertIn(host_only, dimsets(name), name)
            for s in dimsets(name):
                self.assertIn(("host", HOST), s, name)

        def values(metric, **dims):
            out = []
            for d in by_name[metric]:
                got = {x["Name"]: x["Value"] for x in d["dimensions"]}
                if got != {"host": HOST} and all(got.get(k) == v for k, v in dims.items()):
                    if d.get("value") is not None:
                        out.append(d["value"])
                    elif d.get("values") is not None:
                        out.extend(d["values"])
            return out

        # cpu: cpu-total (totalcpu) and cpu0 (resources "*").
        for f in CPU_FIELDS:
            self.assertEqual({d["cpu"] for d in full("cpu_" + f)}, {"cpu-total", "cpu0"}, f)
            for d in full("cpu_" + f):
                self.assertEqual(set(d), {"host", "cpu"})
        self.assertIn(50.0, values("cpu_usage_idle", cpu="cpu-total"))
        self.assertIn(30.0, values("cpu_usage_user", cpu="cpu0"))

        # mem: host plus the plugin's append_dimensions.
        for f in MEM_FIELDS:
            self.assertEqual(full("mem_" + f), [{"host": HOST, "role": "web"}], f)
        self.assertEqual(set(values("mem_used_percent", role="web")), {45.0})
        self.assertEqual(set(values("mem_total", role="web")), {1000000 * 1024.0})

        # swap, netstat, processes: no dimension of their own, so only {host}.
        for name in [n for n in by_name if n.split("_")[0] in ("swap", "netstat", "processes")]:
            self.assertEqual(dimsets(name), {host_only}, name)

        def host_values(metric):
            return {v for d in by_name[metric]
                    for v in ([d["value"]] if d["value"] is not None else d["values"])}
        self.assertEqual(host_values("swap_used_percent"), {25.0})
        # The 12 fixture pids: processes lists directories only (procfs_pids_next), so
        # the child's symlink is not counted.
        self.assertEqual(host_values("processes_total"), {12.0})
        self.assertEqual(host_values("netstat_tcp_established"), {5.0})

        # disk: the scratch mount point (proc is a "dummy" fs: skipped).
        for f in DISK_FIELDS:
            self.assertEqual(full("disk_" + f), [{"host": HOST, "path": self.mnt,
                                                  "device": "nvme1n1", "fstype": "ext4"}], f)
        # diskio: name=<device>; one delta interval.
        for f in DISKIO_FIELDS:
            self.assertEqual(full("diskio_" + f), [{"host": HOST, "name": "nvme0n1"}], f)
        self.assertIn(100.0, values("diskio_reads", name="nvme0n1"))
        self.assertIn(4096000.0, values("diskio_read_bytes", name="nvme0n1"))
        # net: per interface, loopback left out.
        ifaces = {d["interface"] for d in full("net_bytes_recv")}
        self.assertIn("eth0", ifaces)
        self.assertNotIn("lo", ifaces)
        for f in NET_FIELDS:
            for d in full("net_" + f):
                self.assertEqual(set(d), {"host", "interface"})
        self.assertIn(1500.0, values("net_bytes_recv", interface="eth0"))

        # procstat: the pid file selector; lookup_pid_count carries pid_finder=native.
        self.assertEqual(full("procstat_lookup_pid_count"),
                         [{"host": HOST, "pidfile": self.pid_file, "pid_finder": "native"}])
        self.assertEqual(set(values("procstat_lookup_pid_count", pidfile=self.pid_file)),
                         {1.0})
        for name in ("procstat_pid", "procstat_cpu_usage", "procstat_memory_rss",
                     "procstat_num_threads"):
            self.assertEqual(full(name), [{"host": HOST, "pidfile": self.pid_file,
                                           "process_name": "sleep"}], name)
        self.assertEqual(set(values("procstat_pid", pidfile=self.pid_file)),
                         {float(self.child.pid)})

        # statsd: '.' -> '_', metric_type, the line's tags.
        self.assertEqual(full("req_count"), [{"host": HOST, "metric_type": "counter",
                                              "env": "prod"}])
        self.assertEqual(full("queue_depth"), [{"host": HOST, "metric_type": "gauge"}])
        self.assertEqual(full("api_latency"), [{"host": HOST, "metric_type": "timing"}])
        self.assertEqual(full("users_seen"), [{"host": HOST, "metric_type": "set"}])
        self.assertTrue(all(d["statistic_values"] for d in by_name["api_latency"]
                            if len(d["dimensions"]) > 1))
        self.assertEqual(set(values("queue_depth", metric_type="gauge")), {7.0})
        self.assertEqual(set(values("users_seen", metric_type="set")), {2.0})

        # container: the Docker id from the cgroup path.
        for name in [n for n in by_name if n.startswith("container_")]:
            self.assertEqual(full(name), [{"host": HOST, "container_id": DOCKER_ID}], name)
        self.assertEqual(set(values("container_cpu_limit", container_id=DOCKER_ID)), {1.5})
        self.assertEqual(set(values("container_memory_max", container_id=DOCKER_ID)),
                         {512.0 * 1024 * 1024})


if __name__ == "__main__":
    unittest.main(verbosity=2)
