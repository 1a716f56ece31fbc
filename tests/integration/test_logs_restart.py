"""Restart and crash (ctest label "torture"): build/osprey tails a file a writer keeps
filling with numbered lines while the agent is stopped at random points mid-stream —
3 cycles of SIGTERM, then 3 of SIGKILL — and restarted at once with the same state_dir.

After SIGTERM nothing may be lost or duplicated (offsets are checkpointed at stop). After
SIGKILL nothing may be lost; duplicates are allowed only for events whose delivery the
killed agent had not yet checkpointed: each duplicated line's first copy must have been
stored at the endpoint shortly before a kill (checkpoints are flushed every second, so
within CHECKPOINT_SLACK_MS of it). The duplicates are counted and printed."""
import collections
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logs_util  # noqa: E402
from aws_endpoint import EndpointTestCase  # noqa: E402
from logs_util import Accounting, WriterProcess, Workdir  # noqa: E402

GROUP = "/osprey/restart"
STREAM = "restart"
RATE = 2000
CYCLES = 3
# A checkpoint is written at most 1 s after the ack; the batch itself may be up to a
# flush interval (1 s) plus a request old when the ack comes. 4 s covers both with room.
CHECKPOINT_SLACK_MS = 4000


class RestartAndCrash(EndpointTestCase):
    def setUp(self):
        super().setUp()
        self.wd = Workdir()
        self.log_path = os.path.join(self.wd.logs, "app.log")
        self.writer = None
        seed = int(os.environ.get("OSPREY_TEST_SEED", time.time()))
        print("\nOSPREY_TEST_SEED=%d" % seed, file=sys.stderr)
        self.rng = random.Random(seed)

    def tearDown(self):
        if self.writer:
            self.writer.kill()
        super().tearDown()
        self.wd.close()

    def cfg(self):
        return logs_util.files_config(self.endpoint.url, [{
            "file_path": self.log_path, "log_group_name": GROUP, "log_stream_name": STREAM,
            "from_beginning": True}], self.wd.state)

    def cycle(self, sig):
        """Let the agent run a random while, stop it with `sig`, restart it. The kill time
        in endpoint milliseconds."""
        time.sleep(self.rng.uniform(1.0, 3.0))
        t = int(time.time() * 1000)
        if sig == signal.SIGKILL:
            self.agent.kill()
            self.agent._log.close()
            self.agent.proc.stdout.close()
        else:
            code, _ = self.agent.stop(sig)
            self.assertEqual(code, 0, self.agent.log()[-3000:])
        self.start_agent(self.cfg())
        return t

    def test_sigterm_then_sigkill_cycles(self):
        open(self.log_path, "a").close()
        self.start_agent(self.cfg())
        self.writer = WriterProcess(self.log_path, "A", RATE)
        for _ in range(CYCLES):
            self.cycle(signal.SIGTERM)
        # Everything written so far must arrive exactly once before any SIGKILL.
        mark = self.writer_position()
        got = logs_util.wait_for_count(self.endpoint, GROUP, STREAM, mark, 30, self.agent)
        self.assertGreaterEqual(got, mark)
        events = self.endpoint.get("logs", group=GROUP, stream=STREAM)["events"]
        acc = Accounting(events, "A", mark)
        print("\nafter %d SIGTERM cycles: %s" % (CYCLES, acc.summary()), file=sys.stderr)
        self.assertEqual(acc.duplicated, [], "duplicates after SIGTERM: " + acc.summary())
        self.assertEqual(acc.lost, [], acc.summary())

        kills = [self.cycle(signal.SIGKILL) for _ in range(CYCLES)]
        time.sleep(1.0)
        report = self.writer.stop()
        written = report["written"]
        logs_util.wait_for_count(self.endpoint, GROUP, STREAM, written, 45, self.agent)
        time.sleep(1.5)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log()[-3000:])
        events = self.endpoint.get("logs", group=GROUP, stream=STREAM)["events"]
        acc = Accounting(events, "A", written)
        extra_copies = sum(c - 1 for c in acc.counts.values() if c > 1)
        print("after %d SIGKILL cycles: %s; %d duplicate copies (%s)" % (
            CYCLES, acc.summary(), extra_copies, logs_util.ranges(acc.duplicated)),
            file=sys.stderr)
        self.assertEqual(acc.extra, [])
        self.assertEqual(acc.lost, [], acc.summary())
        # Every copy after the first must be a re-send caused by a kill: it was stored
        # after a SIGKILL, and the copy before it was stored shortly before that kill (its
        # acceptance was not checkpointed yet).
        stored = collections.defaultdict(list)
        for e in events:
            k = logs_util.parse_numbered(e["message"])
            if k:
                stored[k[1]].append(e["ingestionTime"])
        per_kill = [[] for _ in kills]
        unexplained = []
        for seq in acc.duplicated:
            times = sorted(stored[seq])
            for prev, t in zip(times, times[1:]):
                before = [i for i, k in enumerate(kills) if k <= t]
                i = before[-1] if before else None
                if i is None or not kills[i] - CHECKPOINT_SLACK_MS <= prev <= kills[i] + 500:
                    unexplained.append(seq)
                else:
                    per_kill[i].append((seq, kills[i] - prev))
        for i, d in enumerate(per_kill):
            print("  SIGKILL %d: %d lines sent again (%s), previous copies stored %s ms "
                  "before the kill" % (
                      i + 1, len(d), logs_util.ranges([x[0] for x in d]) or "-",
                      "%d..%d" % (min(x[1] for x in d), max(x[1] for x in d)) if d else "-"),
                  file=sys.stderr)
        self.assertEqual(unexplained, [], "copies not explained by a SIGKILL: %s"
                         % logs_util.ranges(unexplained))

    def writer_position(self):
        """Lines the writer has completed so far (the file's whole lines)."""
        with open(self.log_path, "rb") as f:
            return f.read().count(b"\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
