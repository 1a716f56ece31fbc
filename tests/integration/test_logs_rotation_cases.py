"""Rotation corner cases of the `files` collector (ctest label "integration"), each one
deterministic and short (the whole file stays under 60 s in the ASan build):

1. agent downtime across three rename rotations, one rotated sibling gzipped meanwhile:
   the unread tail of the checkpointed file is read once from its new name, then the
   current file; the .gz is never read; files created *and* rotated away while the agent
   was down are not known (docs/logs.md, "downtime across rotations"): not read with the
   exact pattern, nor with `app.log*` in single-file mode (only the newest match is
   followed); what happened to them is printed;
2. an atomic symlink swap (ln -s b.log tmp && mv -T tmp current.log);
3. deletion while unread data remains (the endpoint refuses connections, the tailer is
   paused by its full table of pending events, the file is deleted), then a new file of
   the same name;
4. truncation to zero (not copytruncate): the new lines arrive once, the truncation is
   logged and its lost bytes are counted (`truncated` at GET /metrics);
5. inode reuse: a new file that gets a deleted file's inode is read from 0, not from the
   stale checkpoint — while the agent is stopped, and while it runs.

Lines are logs_util's numbered lines "<file-id> <seq> ..."; every file of a case has its
own file id, so each physical file is accounted for on its own."""
import gzip
import os
import re
import shutil
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import logs_util  # noqa: E402
from aws_endpoint import EndpointTestCase  # noqa: E402
from logs_util import Accounting, Workdir, numbered_line  # noqa: E402

GROUP = "/osprey/rotation-cases"


def append_lines(path, file_id, first, count, size=logs_util.LINE_BYTES):
    with open(path, "ab") as f:
        f.write("".join(numbered_line(file_id, s, size)
                        for s in range(first, first + count)).encode())


def rotate_numbered(path):
    """One rename rotation as logrotate's `create` does it: app.log.N -> app.log.N+1 for
    every N (highest first), app.log -> app.log.1; the caller creates the new app.log."""
    d, base = os.path.split(path)
    numbered = sorted((int(n[len(base) + 1:]) for n in os.listdir(d)
                       if n.startswith(base + ".") and n[len(base) + 1:].isdigit()), reverse=True)
    for n in numbered:
        os.rename("%s.%d" % (path, n), "%s.%d" % (path, n + 1))
    os.rename(path, path + ".1")


class RotationCases(EndpointTestCase):
    # The endpoint's control API shares the refused listener: no call until it is back.
    refused_until = 0.0

    def setUp(self):
        self.wait_endpoint_back()
        super().setUp()
        self.wd = Workdir()

    @classmethod
    def wait_endpoint_back(cls):
        time.sleep(max(0.0, cls.refused_until - time.monotonic()))

    def refuse(self, seconds):
        self.endpoint.post("refuse", {"seconds": seconds})
        type(self).refused_until = time.monotonic() + seconds + 0.5

    def tearDown(self):
        super().tearDown()
        self.wd.close()

    # ---- helpers ---------------------------------------------------------------------

    def start(self, file_path, stream, osprey=None, **entry):
        e = {"file_path": file_path, "log_group_name": GROUP, "log_stream_name": stream,
             "from_beginning": True}
        e.update(entry)
        return self.start_agent(logs_util.files_config(self.endpoint.url, [e], self.wd.state,
                                                       osprey=osprey))

    def wait_tailing(self, path, timeout=20):
        self.assertTrue(self.agent.wait_for_log("tailing '%s'" % path, timeout),
                        self.agent.log()[-3000:])

    def wait_count(self, stream, n, timeout=30, settle=1.5):
        got = logs_util.wait_for_count(self.endpoint, GROUP, stream, n, timeout, self.agent)
        self.assertGreaterEqual(got, n, "stream %s: %d of %d events\nagent log:\n%s" % (
            stream, got, n, self.agent_log_tail()))
        time.sleep(settle)  # a duplicate would arrive right behind
        return self.events(stream)

    def agent_log_tail(self, n=4000):
        return "\n".join(x for x in self.agent.log().splitlines() if " summary " not in x)[-n:]

    def events(self, stream):
        return self.endpoint.get("logs", group=GROUP, stream=stream)["events"]

    def stop(self):
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log()[-4000:])
        return self.agent.log()

    def account(self, events, file_id, written, label):
        acc = Accounting(events, file_id, written)
        print("\n  [%s] %s" % (label, acc.summary()), file=sys.stderr)
        return acc

    def assert_exactly_once(self, acc):
        self.assertEqual(acc.extra, [], acc.summary())
        self.assertEqual(acc.duplicated, [], acc.summary())
        self.assertEqual(acc.lost, [], acc.summary())
        self.assertEqual(acc.order_violations[:10], [], acc.summary())
        # Arrival order at the endpoint too, not only timestamps: line n arrives before
        # n + 1, also across retries after an outage.
        self.assertEqual(acc.arrival_inversions[:10], [], acc.summary())

    @staticmethod
    def time_span(events, file_id):
        """(first, last) event timestamp of a file's lines (read times: the order in which
        the tailer took them)."""
        ts = [e["timestamp"] for e in events
              if (logs_util.parse_numbered(e["message"]) or ("",))[0] == file_id]
        return (min(ts), max(ts)) if ts else None

    def assert_file_before(self, events, first, then):
        a, b = self.time_span(events, first), self.time_span(events, then)
        self.assertLessEqual(a[1], b[0], "%s's lines (ms %s) overlap %s's (ms %s)"
                             % (then, b, first, a))

    def metric(self, name, **labels):
        port = harness.health_port(self.agent)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if not line.startswith(name + "{"):
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        self.fail("no %s%r in /metrics:\n%s" % (name, labels, text[-3000:]))

    def emitted(self):
        """files[0]'s emitted records, from the last summary line (logged every second)."""
        counts = re.findall(r" summary collected:.* files\[0\]=(\d+)", self.agent.log())
        return int(counts[-1]) if counts else None

    # ---- 1. downtime across several rotations -------------------------------------------

    def run_downtime(self, pattern_suffix, stream):
        p = os.path.join(self.wd.logs, "app.log")
        append_lines(p, "G0", 0, 100)
        self.start(p + pattern_suffix, stream)
        self.wait_tailing(p)
        self.wait_count(stream, 100, settle=0)
        # One rotation while running: G0 becomes app.log.1, fully delivered.
        rotate_numbered(p)
        append_lines(p, "G1", 0, 100)
        self.wait_count(stream, 200, settle=0)
        self.stop()
        # Down: G1 gets 50 more lines, then three rotations with lines in between.
        append_lines(p, "G1", 100, 50)
        for gen in ("G2", "G3", "G4"):
            rotate_numbered(p)
            append_lines(p, gen, 0, 50)
        # app.log.4 = G0 (delivered), .3 = G1 (unread tail), .2 = G2, .1 = G3 (never seen),
        # app.log = G4. The delivered one is compressed: it must never be read again.
        with open(p + ".4", "rb") as src, gzip.open(p + ".4.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(p + ".4")
        self.start(p + pattern_suffix, stream)
        events = self.wait_count(stream, 100 + 150 + 50)
        log = self.stop()
        self.assertIn("was rotated to '%s.3' while stopped: reading its last 5000 bytes" % p, log)
        self.assertNotIn(".gz'", log, "a compressed file was opened")
        for fid, n in (("G0", 100), ("G1", 150), ("G4", 50)):
            self.assert_exactly_once(self.account(events, fid, n, stream))
        # The current file waits while its rotated-away predecessor is read to its end.
        self.assert_file_before(events, "G1", "G4")
        never_seen = {fid: len(Accounting(events, fid, 50).counts) for fid in ("G2", "G3")}
        print("\n  [%s] files created and rotated away while down: %s delivered of 50 each"
              % (stream, never_seen), file=sys.stderr)
        return events, never_seen

    def test_downtime_across_three_rotations_exact_pattern(self):
        _, never_seen = self.run_downtime("", "downtime-exact")
        # docs/logs.md: never-seen files are not known and the exact pattern cannot match
        # app.log.2 / app.log.1: they are not read (not even in part).
        self.assertEqual(never_seen, {"G2": 0, "G3": 0})

    def test_downtime_across_three_rotations_star_pattern(self):
        _, never_seen = self.run_downtime("*", "downtime-star")
        # `app.log*` matches the never-seen files, but without publish_multi_logs only the
        # most recently modified match is followed, older ones are left (docs/logs.md, the
        # CloudWatch agent's rule): they are not read either. (The rotation table's "unless
        # the pattern matches them" holds for publish_multi_logs only.)
        self.assertEqual(never_seen, {"G2": 0, "G3": 0})

    # ---- 2. symlink swap ----------------------------------------------------------------

    def test_atomic_symlink_swap(self):
        a = os.path.join(self.wd.logs, "a.log")
        b = os.path.join(self.wd.logs, "b.log")
        cur = os.path.join(self.wd.logs, "current.log")
        append_lines(a, "A", 0, 100)
        os.symlink("a.log", cur)
        self.start(cur, "symlink")
        self.wait_tailing(cur)
        self.wait_count("symlink", 100, settle=0)
        # Lines just before the swap, the swap (ln -s b.log tmp && mv -T tmp current.log),
        # then the new target's lines.
        append_lines(a, "A", 100, 100)
        open(b, "ab").close()
        os.symlink("b.log", cur + ".tmp")
        os.rename(cur + ".tmp", cur)
        append_lines(b, "B", 0, 100)
        events = self.wait_count("symlink", 300)
        self.stop()
        self.assert_exactly_once(self.account(events, "A", 200, "symlink"))
        self.assert_exactly_once(self.account(events, "B", 100, "symlink"))
        self.assert_file_before(events, "A", "B")

    # ---- 3. deletion while unread data remains --------------------------------------------

    def test_deleted_while_unread_data_remains(self):
        p = os.path.join(self.wd.logs, "app.log")
        append_lines(p, "D", 0, 10, size=40)
        self.start(p, "deleted")
        self.wait_tailing(p)
        self.wait_count("deleted", 10, settle=0)
        # The endpoint refuses connections: nothing is acknowledged, so the tailer stops
        # reading once its table of 65,536 pending events is full (the file is the
        # buffer). (The sink drains the ring into its own queue: a small ring would not
        # stop it earlier.)
        written = 70000
        self.refuse(4)
        append_lines(p, "D", 10, written - 10, size=40)
        time.sleep(1.5)
        os.unlink(p)
        time.sleep(1.2)  # a summary line logged after the unlink
        emitted = self.emitted()
        print("\n  [deleted] %d lines written, %s emitted when the file was deleted "
              "(the rest was still in the file only)" % (written, emitted), file=sys.stderr)
        self.assertIsNotNone(emitted, self.agent.log()[-2000:])
        self.assertLess(emitted, written, "the premise failed: nothing was left unread")
        append_lines(p, "E", 0, 100, size=40)
        self.wait_endpoint_back()
        events = self.wait_count("deleted", written + 100, timeout=45)
        self.stop()
        self.assert_exactly_once(self.account(events, "D", written, "deleted"))
        self.assert_exactly_once(self.account(events, "E", 100, "deleted"))
        # The new file waits at most 5 s for the deleted one (docs/logs.md): printed only.
        d, e = self.time_span(events, "D"), self.time_span(events, "E")
        print("\n  [deleted] read times (ms): D %s, E %s: E %s" % (
            d, e, "after D" if e[0] >= d[1] else "overlapping D"), file=sys.stderr)

    # ---- 4. truncation to zero -------------------------------------------------------------

    def test_truncation_to_zero(self):
        p = os.path.join(self.wd.logs, "app.log")
        append_lines(p, "T", 0, 100)
        self.start(p, "truncate")
        self.wait_tailing(p)
        self.wait_count("truncate", 100, settle=0)
        # Seen at size 0 first (the file shrank below the offset) ...
        open(p, "w").close()
        time.sleep(1.5)
        append_lines(p, "U", 0, 50)
        self.wait_count("truncate", 150, settle=0)
        # ... then truncated and rewritten past the old offset at once: only the changed
        # first bytes can tell.
        with open(p, "w") as f:
            f.write("".join(numbered_line("V", s) for s in range(200)))
        events = self.wait_count("truncate", 350)
        truncated = self.metric("osprey_rejected_total", plugin="files[0]", reason="truncated")
        log = self.stop()
        for fid, n in (("T", 100), ("U", 50), ("V", 200)):
            self.assert_exactly_once(self.account(events, fid, n, "truncate"))
        notes = re.findall(r"'%s' was truncated \((\d+) unread bytes lost\)" % re.escape(p), log)
        print("\n  [truncate] truncations logged: %s unread bytes lost each; "
              "osprey_rejected_total{reason=truncated} = %d" % (notes, truncated),
              file=sys.stderr)
        self.assertEqual(len(notes), 2, self.agent_log_tail())
        # Everything was read before each truncation: nothing lost, and the counter (unread
        # bytes lost, docs/logs.md) says so.
        self.assertEqual(truncated, sum(int(n) for n in notes))
        self.assertEqual(truncated, 0)

    # ---- 5. inode reuse -------------------------------------------------------------------

    @staticmethod
    def recreate_with_inode(path, ino, content, tries=20):
        """Put a new file with `content` at `path`, made under a name the pattern does not
        match and renamed into place once it got inode `ino` (a miss stays out of the
        agent's sight, kept so the next try gets another inode). False when the file
        system would not hand the inode out again; the file is put in place anyway."""
        d = os.path.dirname(path)
        probes = []
        try:
            for i in range(tries):
                probe = os.path.join(d, "inode-probe-%d" % i)
                with open(probe, "wb") as f:
                    f.write(content)
                probes.append(probe)
                if os.stat(probe).st_ino == ino:
                    break
                time.sleep(0.05)
            os.rename(probes[-1], path)
            return os.stat(path).st_ino == ino
        finally:
            for probe in probes[:-1]:
                os.unlink(probe)

    def agent_holds(self, path):
        fd_dir = "/proc/%d/fd" % self.agent.proc.pid
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in (path, path + " (deleted)"):
                return True
        return False

    def test_inode_reuse_reads_the_new_file_from_zero(self):
        p = os.path.join(self.wd.logs, "app.log")
        append_lines(p, "R", 0, 200)
        self.start(p, "reuse")
        self.wait_tailing(p)
        self.wait_count("reuse", 200, settle=0)
        self.stop()
        with self.subTest("while stopped"):
            ino = os.stat(p).st_ino
            os.unlink(p)
            # Longer than the stale offset (20,000 bytes): resuming there would skip
            # S 0-199 and still find lines to send.
            content = "".join(numbered_line("S", s) for s in range(300)).encode()
            if not self.recreate_with_inode(p, ino, content):
                print("\n  [reuse] skipped while stopped: inode %d not reused" % ino,
                      file=sys.stderr)
                self.skipTest("the file system did not reuse inode %d" % ino)
            self.start(p, "reuse")
            events = self.wait_count("reuse", 500)
            self.assertIn("'%s' reuses the inode of a checkpointed file" % p, self.agent.log())
            self.assert_exactly_once(self.account(events, "R", 200, "reuse"))
            self.assert_exactly_once(self.account(events, "S", 300, "reuse"))
        if self.agent.proc.poll() is not None or "tailing '%s'" % p not in self.agent.log():
            self.start(p, "reuse")
            self.wait_tailing(p)
        expected = len(self.events("reuse"))
        with self.subTest("while running"):
            ino = os.stat(p).st_ino
            os.unlink(p)
            # The inode is free only once the agent has read the deleted file to its end
            # and closed it.
            deadline = time.monotonic() + 10
            while self.agent_holds(p) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertFalse(self.agent_holds(p), "the deleted file is still open")
            content = "".join(numbered_line("W", s) for s in range(400)).encode()
            if not self.recreate_with_inode(p, ino, content):
                print("\n  [reuse] skipped while running: inode %d not reused" % ino,
                      file=sys.stderr)
                self.skipTest("the file system did not reuse inode %d" % ino)
            events = self.wait_count("reuse", expected + 400)
            self.assert_exactly_once(self.account(events, "W", 400, "reuse"))
        self.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
