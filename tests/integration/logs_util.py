"""Shared helpers for the log tailing tests (test_logs_*.py): the agent configuration of
the CloudWatch agent's `logs.logs_collected.files`, a numbered-line writer that runs in
its own process (so the writer keeps its rate whatever the test process does), and the
accounting of what reached the compatible endpoint: lost, duplicated, out of order.

Lines are "<file-id> <seq> <padding>": seq is a zero-based counter per writer, so every
line can be accounted for across rotations, restarts and outages.

Run as a program it is the writer:
    logs_util.py write --path P --file-id A --rate 25000 --duration 5 --mode reopen
printing one JSON object when done: {"written": N, "seconds": S, "rotations": R}.
"""
import argparse
import collections
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

LINE_BYTES = 100  # every numbered line, "\n" included


def numbered_line(file_id, seq, size=LINE_BYTES):
    head = "%s %09d " % (file_id, seq)
    return head + "p" * max(1, size - len(head) - 1) + "\n"


def parse_numbered(message):
    """(file_id, seq) of a numbered line, or None."""
    parts = message.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


# ---- agent configuration ---------------------------------------------------------------

def files_config(endpoint_url, collect_list, state_dir, force_flush_interval=1, osprey=None,
                 logs=None):
    cfg = {
        "agent": {"region": "us-east-1"},
        "logs": {
            "endpoint_override": endpoint_url,
            "force_flush_interval": force_flush_interval,
            "logs_collected": {"files": {"collect_list": collect_list}},
        },
        "osprey": {"state_dir": state_dir, "summary_interval": 1, "shutdown_deadline": 10},
    }
    cfg["osprey"].update(osprey or {})
    cfg["logs"].update(logs or {})
    return cfg


def multi_logs_stream_name(stream, path):
    """The CloudWatch agent's stream name for one file of a publish_multi_logs entry: the
    configured stream, "_", then the path with every character outside [.-_/#A-Za-z0-9]
    and then every "/" replaced by "_"."""
    safe = "".join(c if (c.isascii() and (c.isalnum() or c in ".-_/#")) else "_" for c in path)
    return "%s_%s" % (stream, safe.replace("/", "_"))


# ---- the writer ------------------------------------------------------------------------

class WriterProcess:
    """`logs_util.py write ...` in a child process. stop() ends it and returns its report."""

    def __init__(self, path, file_id, rate, duration=0.0, mode="append", ack_path=None,
                 size=LINE_BYTES, extra=()):
        args = [sys.executable, os.path.abspath(__file__), "write", "--path", path,
                "--file-id", file_id, "--rate", str(rate), "--duration", str(duration),
                "--mode", mode, "--size", str(size), *extra]
        if ack_path:
            args += ["--ack", ack_path]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.report = None
        # The writer says when its signal handlers are in place (logrotate's postrotate
        # sends SIGUSR1, the test SIGTERM).
        ready = self.proc.stdout.readline()
        if not ready.startswith(b'{"ready"'):
            self.proc.kill()
            raise AssertionError("writer did not start: %r %r" % (ready, self.proc.stderr.read()))

    @property
    def pid(self):
        return self.proc.pid

    def wait(self, timeout=None):
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise AssertionError("writer failed (%d): %s" % (self.proc.returncode, err.decode()))
        self.report = json.loads(out.decode().strip().splitlines()[-1])
        return self.report

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout=30)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _writer_main(a):
    stop = {"now": False, "reopen": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("now", True))
    signal.signal(signal.SIGUSR1, lambda *_: stop.__setitem__("reopen", True))
    print(json.dumps({"ready": True}), flush=True)
    rotations = 0
    logger = None
    f = None
    if a.mode in ("python-size", "python-timed"):
        import logging
        import logging.handlers
        if a.mode == "python-size":
            h = logging.handlers.RotatingFileHandler(a.path, maxBytes=a.max_bytes,
                                                     backupCount=a.backup_count)
        else:
            h = logging.handlers.TimedRotatingFileHandler(a.path, when="S", interval=1,
                                                          backupCount=a.backup_count)
        h.setFormatter(logging.Formatter("%(message)s"))
        base_rollover = h.doRollover

        def counted_rollover():
            nonlocal rotations
            rotations += 1
            base_rollover()
        h.doRollover = counted_rollover
        logger = logging.getLogger("osprey-writer")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(h)
    else:
        f = os.open(a.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    seq = 0
    t0 = time.monotonic()
    tick = 0.005
    while not stop["now"]:
        now = time.monotonic()
        elapsed = now - t0
        if a.duration and elapsed >= a.duration:
            break
        if a.count and seq >= a.count:
            break
        if stop["reopen"] and f is not None:
            # logrotate's postrotate asked for it: reopen by path, then tell it we did.
            stop["reopen"] = False
            os.close(f)
            f = os.open(a.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            rotations += 1
            if a.ack:
                with open(a.ack + ".tmp", "w") as af:
                    af.write("%d\n" % seq)
                os.rename(a.ack + ".tmp", a.ack)
        due = int(elapsed * a.rate) + 1 if a.rate else seq + 2000
        if a.count:
            due = min(due, a.count)
        if due > seq:
            if logger is not None:
                # Several lines per record: logging costs ~10 us a record, so this keeps
                # the rate on a loaded machine; the handler still rotates between records.
                for s in range(seq, due, a.lines_per_record):
                    logger.info("".join(numbered_line(a.file_id, x, a.size)
                                        for x in range(s, min(due, s + a.lines_per_record)))[:-1])
            else:
                os.write(f, "".join(numbered_line(a.file_id, s, a.size)
                                    for s in range(seq, due)).encode())
            seq = due
        else:
            time.sleep(tick)
    seconds = time.monotonic() - t0
    if f is not None:
        os.close(f)
    if logger is not None:
        for h in list(logger.handlers):
            h.close()
    print(json.dumps({"written": seq, "seconds": seconds, "rotations": rotations}), flush=True)


# ---- logrotate --------------------------------------------------------------------------

LOGROTATE = "/usr/sbin/logrotate"


class Logrotate:
    """Debian's logrotate on one file, forced, with a private state file. Modes: create,
    copytruncate, compress (create + compress), delaycompress (create + compress +
    delaycompress). In the create modes postrotate signals the writer (SIGUSR1) and waits
    until it reopened the file, as a real daemon's reload would."""

    def __init__(self, workdir, log_path, mode, writer_pid=None, ack_path=None):
        self.conf = os.path.join(workdir, "logrotate.conf")
        self.state = os.path.join(workdir, "logrotate.state")
        opts = ["rotate 1000", "missingok", "nomail"]
        if mode == "copytruncate":
            opts.append("copytruncate")
        else:
            opts.append("create 0644")
        if mode in ("compress", "delaycompress"):
            opts.append("compress")
        if mode == "delaycompress":
            opts.append("delaycompress")
        body = "%s {\n    %s\n" % (log_path, "\n    ".join(opts))
        if mode != "copytruncate":
            body += ("    postrotate\n"
                     "        rm -f %(ack)s; kill -USR1 %(pid)d; i=0\n"
                     "        while [ ! -e %(ack)s ] && [ $i -lt 1000 ]; do sleep 0.005; i=$((i+1)); done\n"
                     "    endscript\n" % {"ack": ack_path, "pid": writer_pid})
        body += "}\n"
        with open(self.conf, "w") as f:
            f.write(body)
        self.count = 0

    def rotate(self):
        r = subprocess.run([LOGROTATE, "-f", "-s", self.state, self.conf],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("logrotate failed: %s %s" % (r.stdout, r.stderr))
        self.count += 1


def lines_on_disk(directory, prefix):
    """Every numbered line in the files of `directory` whose name starts with `prefix`
    (rotated copies included, .gz decompressed): {(file_id, seq), ...} with counts."""
    seen = collections.Counter()
    for name in os.listdir(directory):
        if not name.startswith(prefix):
            continue
        p = os.path.join(directory, name)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(p, "rb") as f:
            for raw in f.read().decode("utf-8", "replace").splitlines():
                k = parse_numbered(raw)
                if k:
                    seen[k] += 1
    return seen


# ---- accounting -------------------------------------------------------------------------

class Accounting:
    """What the endpoint holds for numbered lines of `file_id` vs. the `written` lines."""

    def __init__(self, events, file_id, written):
        self.file_id = file_id
        self.written = written
        self.counts = collections.Counter()
        self.first_index = {}
        for i, e in enumerate(events):
            k = parse_numbered(e["message"])
            if not k or k[0] != file_id:
                continue
            self.counts[k[1]] += 1
            self.first_index.setdefault(k[1], i)
        self.lost = [s for s in range(written) if self.counts[s] == 0]
        self.duplicated = sorted(s for s, c in self.counts.items() if c > 1)
        self.extra = sorted(s for s in self.counts if s >= written)
        # Order: the endpoint keeps events in arrival order; CloudWatch shows them by
        # timestamp. A later line must never carry an earlier timestamp than the line
        # before it (timestamps are read times here, so equal stamps are fine).
        ts = {}
        for e in events:
            k = parse_numbered(e["message"])
            if k and k[0] == file_id and k[1] not in ts:
                ts[k[1]] = e["timestamp"]
        seqs = sorted(ts)
        self.order_violations = [(a, b) for a, b in zip(seqs, seqs[1:]) if ts[b] < ts[a]]
        # Arrival order at the endpoint: the first copy of line n arrives before that of
        # n + 1 (the sink keeps one batch per stream in flight).
        arrived = sorted(self.first_index)
        self.arrival_inversions = [a for a, b in zip(arrived, arrived[1:])
                                   if self.first_index[a] > self.first_index[b]]

    def summary(self):
        later = (" (+%d written after the count was taken)" % len(self.extra)
                 if self.extra else "")
        return ("file %s: written %d, delivered %d distinct%s, lost %d, duplicated %d "
                "(extra copies %d), order violations %d%s%s" % (
                    self.file_id, self.written, len(self.counts) - len(self.extra), later,
                    len(self.lost),
                    len(self.duplicated), sum(c - 1 for c in self.counts.values() if c > 1),
                    len(self.order_violations),
                    ("; lost " + ranges(self.lost)) if self.lost else "",
                    ("; duplicated " + ranges(self.duplicated)) if self.duplicated else ""))


def ranges(seqs, limit=12):
    """[1,2,3,7,8] -> '1-3, 7-8' (at most `limit` ranges shown)."""
    out = []
    for s in sorted(seqs):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    text = ", ".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out[:limit])
    if len(out) > limit:
        text += ", ... (%d ranges)" % len(out)
    return text


# ---- endpoint helpers ---------------------------------------------------------------------

def stream_counts(endpoint):
    """{(group, stream): event count} from the endpoint's cheap tree view."""
    out = {}
    for g in endpoint.get("logs")["log_groups"]:
        for s in g.get("streams", []):
            out[(g["logGroupName"], s["logStreamName"])] = s["eventCount"]
    return out


def wait_for_count(endpoint, group, stream, n, timeout, agent=None):
    """Poll until the stream holds >= n events; the count reached."""
    deadline = time.monotonic() + timeout
    c = 0
    while time.monotonic() < deadline:
        c = stream_counts(endpoint).get((group, stream), 0)
        if c >= n:
            return c
        if agent is not None and agent.proc.poll() is not None:
            break
        time.sleep(0.2)
    return c


def wait_until_stable(endpoint, group, stream, quiet=3.0, timeout=60):
    """Poll until the stream's count has not changed for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        c = stream_counts(endpoint).get((group, stream), 0)
        if c != last:
            last, since = c, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.2)
    return last


class Workdir:
    """A scratch directory (0700, as logrotate wants its parent directory) removed at close."""

    def __init__(self, prefix="osprey-logs-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        self.state = os.path.join(self.path, "state")
        self.logs = os.path.join(self.path, "logs")
        os.makedirs(self.logs, mode=0o700)

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--path", required=True)
    w.add_argument("--file-id", required=True)
    w.add_argument("--rate", type=float, default=1000)
    w.add_argument("--duration", type=float, default=0)
    w.add_argument("--count", type=int, default=0)
    w.add_argument("--size", type=int, default=LINE_BYTES)
    w.add_argument("--mode", default="append",
                   choices=["append", "reopen", "python-size", "python-timed"])
    w.add_argument("--ack")
    w.add_argument("--max-bytes", type=int, default=1 << 20)
    w.add_argument("--backup-count", type=int, default=1000)
    w.add_argument("--lines-per-record", type=int, default=4)
    a = p.parse_args()
    if a.cmd == "write":
        _writer_main(a)


if __name__ == "__main__":
    main()
