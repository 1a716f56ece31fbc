"""Endpoint outage (ctest label "torture"): the compatible endpoint refuses connections
for 60 s while a writer keeps appending numbered lines at 1,000 lines/s. The file is the
buffer: once the endpoint is back every line must arrive, exactly once, in order."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logs_util  # noqa: E402
from aws_endpoint import EndpointTestCase  # noqa: E402
from logs_util import Accounting, WriterProcess, Workdir  # noqa: E402

GROUP = "/osprey/outage"
STREAM = "outage"
OUTAGE_S = 60


class EndpointOutage(EndpointTestCase):
    def setUp(self):
        super().setUp()
        self.wd = Workdir()
        self.writer = None

    def tearDown(self):
        if self.writer:
            self.writer.kill()
        super().tearDown()
        self.wd.close()

    def test_refused_for_60_seconds_while_lines_keep_coming(self):
        log_path = os.path.join(self.wd.logs, "app.log")
        open(log_path, "a").close()
        self.start_agent(logs_util.files_config(self.endpoint.url, [{
            "file_path": log_path, "log_group_name": GROUP, "log_stream_name": STREAM,
            "from_beginning": True}], self.wd.state))
        self.writer = WriterProcess(log_path, "A", 1000, OUTAGE_S + 6)
        # Delivery works before the outage (group and stream exist by then).
        self.assertGreater(logs_util.wait_for_count(self.endpoint, GROUP, STREAM, 1, 20,
                                                    self.agent), 0, self.agent.log()[-3000:])
        before = logs_util.stream_counts(self.endpoint)[(GROUP, STREAM)]
        self.endpoint.post("refuse", {"seconds": OUTAGE_S})
        t0 = time.monotonic()
        report = self.writer.wait(timeout=OUTAGE_S + 30)
        written = report["written"]
        self.assertGreaterEqual(time.monotonic() - t0, OUTAGE_S - 5)
        got = logs_util.wait_for_count(self.endpoint, GROUP, STREAM, written, 60, self.agent)
        time.sleep(1.5)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log()[-3000:])
        events = self.endpoint.get("logs", group=GROUP, stream=STREAM)["events"]
        acc = Accounting(events, "A", written)
        print("\n%s (before the outage %d, endpoint count %d)" % (acc.summary(), before, got),
              file=sys.stderr)
        self.assertEqual(acc.extra, [])
        self.assertEqual(acc.duplicated, [], acc.summary())
        self.assertEqual(acc.lost, [], acc.summary())
        self.assertEqual(acc.order_violations[:10], [], acc.summary())
        self.assertEqual(acc.arrival_inversions[:10], [], acc.summary())


if __name__ == "__main__":
    unittest.main(verbosity=2)
