"""Shared helpers for integration tests that drive the real build/osprey binary.

Environment (set by ctest): OSPREY_BIN, OSPREY_SOURCE_DIR, OSPREY_BUILD_DIR.
"""
import json
import os
import signal
import subprocess
import tempfile
import time

OSPREY_BIN = os.environ.get("OSPREY_BIN", "build/osprey")
SOURCE_DIR = os.environ.get("OSPREY_SOURCE_DIR", os.getcwd())


def with_test_health(config):
    """The health endpoint defaults to 127.0.0.1:2021; tests run in parallel, so each agent
    listens on a free port instead (found in its log) unless the test chose one."""
    if isinstance(config, dict) and isinstance(config.get("osprey", {}), dict):
        config = dict(config)
        osprey = dict(config.get("osprey", {}))
        health = osprey.get("health", {})
        if isinstance(health, dict) and "address" not in health:
            osprey["health"] = dict(health, address="127.0.0.1:0")
            config["osprey"] = osprey
    return config


def health_port(agent, timeout=30.0):
    """The port an agent's health endpoint listens on, from its start-up log line."""
    import re
    if not agent.wait_for_log("health endpoint listening on", timeout=timeout):
        raise AssertionError("no health endpoint line\n" + agent.log())
    return int(re.findall(r"health endpoint listening on \S+ \(port (\d+)\)", agent.log())[-1])


class Agent:
    """An osprey process running a config written to a scratch directory."""

    def __init__(self, config, workdir=None, env=None):
        self.env = env
        self.workdir = workdir or tempfile.mkdtemp(prefix="osprey-it-")
        self.config_path = os.path.join(self.workdir, "osprey.json")
        with open(self.config_path, "w") as f:
            json.dump(with_test_health(config), f, indent=2)
        self.log_path = os.path.join(self.workdir, "agent.log")
        self.proc = None

    def start(self):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [OSPREY_BIN, "--config", self.config_path],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=self._log, env=self.env)
        return self

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def wait_for_log(self, needle, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return True
            if self.proc.poll() is not None:
                return needle in self.log()
            time.sleep(0.05)
        return False

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Send `sig`, wait for exit, return (exit code, stdout bytes)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError("osprey did not exit within %.0f s of %s\n%s"
                                 % (timeout, sig, self.log()))
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode, out

    def kill(self):
        """Kill if still running; either way release the log file and the stdout pipe."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if getattr(self, "_log", None) and not self._log.closed:
            self._log.close()


# A fixture proc root for the cpu and mem collectors. Only the STAT_1 -> STAT_2 interval
# has a non-zero delta: user 300, system 100, idle 500, iowait 100 of 1000 ticks.
STAT_1 = """cpu  1000 0 500 8000 500 0 0 0 0 0
cpu0 1000 0 500 8000 500 0 0 0 0 0
intr 0
ctxt 0
btime 1700000000
processes 1
procs_running 1
procs_blocked 0
"""
STAT_2 = STAT_1.replace("cpu  1000 0 500 8000 500", "cpu  1300 0 600 8500 600").replace(
    "cpu0 1000 0 500 8000 500", "cpu0 1300 0 600 8500 600")

MEMINFO = """MemTotal:        1000000 kB
MemFree:          250000 kB
MemAvailable:     600000 kB
Buffers:           50000 kB
Cached:           200000 kB
SwapCached:            0 kB
Active:           300000 kB
Inactive:         200000 kB
Shmem:             10000 kB
SReclaimable:      50000 kB
"""


def read_jsonl(path, settle=5.0):
    """Every complete line of a JSON-lines file, parsed; a malformed line fails the test.

    The agent may be appending while this reads, and a read(2) of a regular file can see
    a write(2) half done, so an unfinished last line is read again until the line is
    complete. A line that stays unfinished for `settle` seconds fails the test: the agent
    writes whole lines only."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    deadline = time.monotonic() + settle
    while data and not data.endswith(b"\n"):
        assert time.monotonic() < deadline, "file does not end with a newline: %s" % path
        time.sleep(0.02)
        with open(path, "rb") as f:
            again = f.read()
        end = again.find(b"\n", len(data) - 1) if again.startswith(data) else -1
        if end >= 0:
            data = again[:end + 1]
        elif not again.startswith(data):
            data = again   # rotated or rewritten between the reads: start over
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def run_cli(*args, timeout=30):
    return subprocess.run([OSPREY_BIN, *args], capture_output=True, text=True, timeout=timeout)
