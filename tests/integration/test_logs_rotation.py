"""Rotation torture (ctest label "torture"): build/osprey tails a file that a writer fills
with numbered lines at >= 20,000 lines/s while it is rotated >= 10 times — by Debian's
real logrotate (create, copytruncate, compress, compress + delaycompress) run in a loop,
and by Python's RotatingFileHandler and TimedRotatingFileHandler (when='S'). Every line
must reach the compatible endpoint exactly once, in order; copytruncate inherently loses
lines written between logrotate's copy and its truncate (and lines the tailer had not read
yet when the file was truncated): those are measured and reported, only duplicates are
asserted for it. The figures of each case are printed.

Each case stays under 60 s wall in the ASan build."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logs_util  # noqa: E402
from aws_endpoint import EndpointTestCase  # noqa: E402
from logs_util import Accounting, Logrotate, WriterProcess, Workdir  # noqa: E402

GROUP = "/osprey/rotation"
RATE = 25000            # lines/s asked of the writer; the test asserts >= 20,000 achieved
MIN_RATE = 20000
MIN_ROTATIONS = 10


class Rotation(EndpointTestCase):
    def setUp(self):
        super().setUp()
        self.wd = Workdir()
        self.log_path = os.path.join(self.wd.logs, "app.log")
        self.writer = None

    def tearDown(self):
        if self.writer:
            self.writer.kill()
        super().tearDown()
        self.wd.close()

    def start_tailing(self, stream):
        open(self.log_path, "a").close()
        cfg = logs_util.files_config(self.endpoint.url, [{
            "file_path": self.log_path, "log_group_name": GROUP, "log_stream_name": stream,
            "from_beginning": True}], self.wd.state)
        self.start_agent(cfg)
        # Rotating before the agent has the file open would move lines out of its sight
        # (the rotated name does not match file_path): that is not what is measured here.
        self.assertTrue(self.agent.wait_for_log("tailing '%s'" % self.log_path, 20),
                        self.agent.log()[-3000:])

    def finish(self, stream, written, expect_all=True, timeout=40):
        """Wait until the endpoint has everything (or stops growing), stop the agent with
        SIGTERM, and account for every line."""
        if expect_all:
            got = logs_util.wait_for_count(self.endpoint, GROUP, stream, written, timeout,
                                           self.agent)
            # Anything sent twice would arrive right behind: give it a moment.
            time.sleep(1.5)
        else:
            got = logs_util.wait_until_stable(self.endpoint, GROUP, stream, quiet=4,
                                              timeout=timeout)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log()[-4000:])
        events = self.endpoint.get("logs", group=GROUP, stream=stream)["events"]
        acc = Accounting(events, "A", written)
        print("\n[%s] %s (endpoint count when done waiting: %d)" % (stream, acc.summary(), got),
              file=sys.stderr)
        return acc

    def check_writer(self, report, rotations):
        rate = report["written"] / report["seconds"]
        print("\n  writer: %d lines in %.1f s = %.0f lines/s, %d rotations" % (
            report["written"], report["seconds"], rate, rotations), file=sys.stderr)
        self.assertGreaterEqual(rate, MIN_RATE, "the writer could not keep the rate")
        self.assertGreaterEqual(rotations, MIN_ROTATIONS)

    def assert_exactly_once(self, acc):
        self.assertEqual(acc.extra, [], "lines that were never written")
        self.assertEqual(acc.duplicated, [], acc.summary())
        self.assertEqual(acc.lost, [], acc.summary())
        self.assertEqual(acc.order_violations[:10], [], acc.summary())
        self.assertEqual(acc.arrival_inversions[:10], [], acc.summary())

    # ---- logrotate ---------------------------------------------------------------------

    def run_logrotate(self, mode, rotations=12, min_seconds=4.0, interval=0.3):
        stream = "logrotate-" + mode
        self.start_tailing(stream)
        ack = os.path.join(self.wd.path, "reopened")
        self.writer = WriterProcess(self.log_path, "A", RATE, 0,
                                    mode="append" if mode == "copytruncate" else "reopen",
                                    ack_path=ack)
        rot = Logrotate(self.wd.path, self.log_path, mode, self.writer.pid, ack)
        t0 = time.monotonic()
        time.sleep(interval)
        while rot.count < rotations or time.monotonic() - t0 < min_seconds:
            rot.rotate()
            time.sleep(interval)
        report = self.writer.stop()
        self.check_writer(report, rot.count)
        return stream, report, rot

    def test_logrotate_create(self):
        stream, report, _ = self.run_logrotate("create")
        self.assert_exactly_once(self.finish(stream, report["written"]))

    def test_logrotate_compress(self):
        # The rotated file is gzipped (and removed) right after postrotate: the tailer must
        # have its data from the open descriptor and never read the .gz.
        stream, report, _ = self.run_logrotate("compress")
        self.assert_exactly_once(self.finish(stream, report["written"]))
        self.assertTrue(any(n.endswith(".gz") for n in os.listdir(self.wd.logs)))

    def test_logrotate_delaycompress(self):
        stream, report, _ = self.run_logrotate("delaycompress")
        self.assert_exactly_once(self.finish(stream, report["written"]))
        names = os.listdir(self.wd.logs)
        self.assertIn("app.log.1", names)
        self.assertTrue(any(n.endswith(".gz") for n in names))

    def test_logrotate_copytruncate(self):
        stream, report, _ = self.run_logrotate("copytruncate")
        written = report["written"]
        acc = self.finish(stream, written, expect_all=False)
        on_disk = logs_util.lines_on_disk(self.wd.logs, "app.log")
        never_on_disk = [s for s in acc.lost if on_disk[("A", s)] == 0]
        only_in_copies = [s for s in acc.lost if on_disk[("A", s)] > 0]
        print("\n  copytruncate: lost %d of %d lines: %d written between copy and truncate "
              "(on no disk file: inherent), %d in rotated copies only (truncated before the "
              "tailer read them)%s" % (
                  len(acc.lost), written, len(never_on_disk), len(only_in_copies),
                  ("; " + logs_util.ranges(only_in_copies)) if only_in_copies else ""),
              file=sys.stderr)
        self.assertEqual(acc.extra, [])
        self.assertEqual(acc.duplicated, [], acc.summary())
        # A loss is bounded by what one rotation can lose; most lines must arrive.
        self.assertGreater(len(acc.counts), written * 0.5, acc.summary())

    # ---- Python logging handlers --------------------------------------------------------------

    def test_python_rotating_file_handler(self):
        stream = "python-size"
        self.start_tailing(stream)
        # 25,000 lines/s of 100 bytes = 2.5 MB/s: a 1 MB maxBytes rotates ~2.5 times a second.
        self.writer = WriterProcess(self.log_path, "A", RATE, 5.0, mode="python-size",
                                    extra=("--max-bytes", str(1000000)))
        # (The writer logs 4 numbered lines per record so that Python keeps 20,000 lines/s
        # next to an ASan agent on 2 cores; rotation happens between records.)
        report = self.writer.wait(timeout=60)
        self.check_writer(report, report["rotations"])
        self.assert_exactly_once(self.finish(stream, report["written"]))

    def test_python_timed_rotating_file_handler(self):
        stream = "python-timed"
        self.start_tailing(stream)
        # when='S': one rotation per second; 11 s of writing gives >= 10 rotations.
        self.writer = WriterProcess(self.log_path, "A", MIN_RATE + 2000, 11.0,
                                    mode="python-timed")
        report = self.writer.wait(timeout=60)
        self.check_writer(report, report["rotations"])
        self.assert_exactly_once(self.finish(stream, report["written"], timeout=45))


if __name__ == "__main__":
    unittest.main(verbosity=2)
