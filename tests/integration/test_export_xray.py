"""End to end: build/osprey -> xray exporter -> the strict compatible endpoint.

Records come from the `generate` collector with "kind": "traces": valid segment documents
numbered by their annotation n, one cookie each, so every document is accounted for
(the collector logs "all N records acknowledged (accepted a, rejected r, given up g)").
The endpoint checks SigV4 (service "xray"), the REST-JSON request against the botocore
model, at most 50 documents per call and every document's validity; bad documents come
back in UnprocessedTraceSegments with HTTP 200."""
import os
import re
import signal
import sys
import time
import unittest
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))
from aws_endpoint import EndpointTestCase, REGION, agent_env  # noqa: E402


def config(endpoint, generators, sink=None, osprey=None):
    s = {"endpoint": endpoint.url}
    s.update(sink or {})
    o = {
        "summary_interval": 1,
        "state_dir": "/tmp/osprey-state-unused",
        "shutdown_deadline": 10,
        "generate": generators,
        "sinks": {"xray": s},
    }
    o.update(osprey or {})
    return {"agent": {"region": REGION}, "osprey": o}


def gen(count, **kw):
    g = {"kind": "traces", "count": count}
    g.update(kw)
    return g


class XRayExport(EndpointTestCase):
    def segments(self):
        return self.endpoint.get("segments")["segments"]

    def put_requests(self):
        return self.endpoint.get("requests", operation="PutTraceSegments")["requests"]

    def numbers(self, segments=None):
        segments = segments if segments is not None else self.segments()
        return [s["document"]["annotations"]["n"] for s in segments]

    def assert_exactly_once(self, n, segments=None):
        numbers = self.numbers(segments)
        dupes = [k for k, v in Counter(numbers).items() if v > 1]
        self.assertEqual(dupes, [], "duplicated documents")
        self.assertEqual(sorted(numbers), list(range(n)), "lost documents")

    def final_summary(self, log):
        lines = [line for line in log.splitlines() if "final collected:" in line]
        self.assertTrue(lines, log)
        m = re.search(r" xray=(\d+)(?:\(dropped (\d+)\))?", lines[-1])
        self.assertIsNotNone(m, lines[-1])
        return int(m.group(1)), int(m.group(2) or 0)

    # -- delivery ----------------------------------------------------------------------

    def test_every_document_once_in_valid_calls_of_at_most_50(self):
        n = 1234
        log = self.run_agent(config(self.endpoint, [gen(n)]))
        self.assertIn("all %d records acknowledged (accepted %d, rejected 0, given up 0)"
                      % (n, n), log)
        segs = self.segments()
        self.assert_exactly_once(n, segs)
        reqs = self.put_requests()
        self.assertTrue(all(r["status"] == 200 for r in reqs),
                        [(r["status"], r.get("error_code")) for r in reqs])
        for r in reqs:
            self.assertEqual(r["path"], "/TraceSegments")
            self.assertEqual(r["protocol"], "rest-json")
            self.assertEqual(r["headers"]["content-type"], "application/json")
            self.assertIn("/%s/xray/aws4_request" % REGION, r["headers"]["authorization"])
            self.assertIsNone(r["content_encoding"])
        per_call = Counter(s["request_id"] for s in segs)
        self.assertEqual(len(per_call), len(reqs))
        self.assertLessEqual(max(per_call.values()), 50)
        # Documents arrive much faster than 1 s apart: batches are cut by the count.
        self.assertGreaterEqual(list(per_call.values()).count(50), n // 50 - 1)
        self.assertEqual(self.final_summary(log), (n, 0))

    def test_partial_batch_is_sent_one_second_after_the_last_document(self):
        self.start_agent(config(self.endpoint, [gen(7)]))
        deadline = time.monotonic() + 10
        segs = []
        while time.monotonic() < deadline and len(segs) < 7:
            time.sleep(0.05)
            segs = self.segments()
        # Sent by the idle timer, not by a shutdown flush.
        self.assertIsNone(self.agent.proc.poll(), "the agent exited\n" + self.agent.log())
        self.assertEqual(len(segs), 7, self.agent.log())
        self.assert_exactly_once(7, segs)
        self.assertEqual(len(self.put_requests()), 1)
        # start_time is the moment each document was generated (all in the first tick).
        last_added = max(s["document"]["start_time"] for s in segs)
        waited = max(s["received_at"] for s in segs) - last_added
        self.assertGreaterEqual(waited, 0.9, "sent before the batch was idle for 1 s")
        self.assertLess(waited, 2.5, "partial batch waited too long")
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())

    def test_a_steady_trickle_is_sent_by_max_batch_age(self):
        # 5 documents/s never leave the batch idle for 1 s: max_batch_age sends it.
        cfg = config(self.endpoint, [gen(15, rate=5)], {"max_batch_age": 1})
        self.run_agent(cfg)
        segs = self.segments()
        self.assert_exactly_once(15, segs)
        self.assertGreaterEqual(len(self.put_requests()), 2)
        for s in segs:
            self.assertLess(s["received_at"] - s["document"]["start_time"], 2.0, s)

    def test_shutdown_sends_the_partial_batch(self):
        cfg = config(self.endpoint, [gen(7)], {"idle_flush": 60, "max_batch_age": 60})
        self.start_agent(cfg)
        self.assertTrue(self.agent.wait_for_log("collected: generate[0]=7", timeout=10))
        self.assertEqual(self.segments(), [])
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        self.assert_exactly_once(7)
        self.assertIn("accepted 7", self.agent.log())

    def test_gzip(self):
        cfg = config(self.endpoint, [gen(120)], {"gzip": True, "gzip_min_bytes": 0})
        self.run_agent(cfg)
        self.assert_exactly_once(120)
        reqs = self.put_requests()
        self.assertTrue(reqs)
        self.assertTrue(all(r["content_encoding"] == "gzip" and r["status"] == 200
                            for r in reqs))

    # -- failures ----------------------------------------------------------------------

    def test_throttling_is_retried_and_nothing_is_lost(self):
        self.endpoint.faults({"kind": "throttle", "count": 4, "operation": "PutTraceSegments"})
        n = 500
        log = self.run_agent(config(self.endpoint, [gen(n)]))
        self.assert_exactly_once(n)
        self.assertIn("accepted %d, rejected 0, given up 0" % n, log)
        self.assertIn("ThrottledException", log)
        self.assertIn("retrying", log)
        throttled = [r for r in self.put_requests() if r["status"] == 429]
        self.assertEqual(len(throttled), 4)
        self.assertTrue(all(r["fault"] == "throttle" for r in throttled))
        # The agent read the code off the answer (x-amzn-ErrorType), as it logs it.
        self.assertIn("HTTP 429 ThrottledException", log)
        self.assertEqual(self.final_summary(log), (n, 0))

    def test_5xx_is_retried_and_nothing_is_lost(self):
        self.endpoint.faults({"kind": "error", "status": 500, "count": 2,
                              "operation": "PutTraceSegments"},
                             {"kind": "error", "status": 503, "count": 1,
                              "operation": "PutTraceSegments"})
        n = 300
        log = self.run_agent(config(self.endpoint, [gen(n)]))
        self.assert_exactly_once(n)
        self.assertIn("accepted %d, rejected 0, given up 0" % n, log)
        self.assertIn("retrying", log)
        self.assertEqual(len(self.endpoint.get("faults")["fired"]), 3)

    def test_invalid_request_is_rejected_not_retried(self):
        self.endpoint.faults({"kind": "error", "status": 400, "code": "InvalidRequestException",
                              "message": "bad batch", "operation": "PutTraceSegments"})
        log = self.run_agent(config(self.endpoint, [gen(50)]))
        self.assertIn("accepted 0, rejected 50, given up 0", log)
        self.assertEqual(len(self.put_requests()), 1)
        self.assertEqual(self.segments(), [])
        self.assertEqual(self.final_summary(log), (0, 50))

    def test_unprocessed_documents_are_counted_as_rejected(self):
        # The generator's trace_id holds the start time as "%08x": start times past 2^32 s
        # give 9 hex digits, which X-Ray refuses (InvalidTraceId, in
        # UnprocessedTraceSegments with HTTP 200). Record n starts at now + 1e9 * (n + 1).
        n = 6
        now = time.time()
        valid = [i for i in range(n) if int(now + 1e9 * (i + 1)) < 2 ** 32]
        self.assertTrue(0 < len(valid) < n, "clock too far from 2026 for this test")
        cfg = config(self.endpoint, [gen(n, timestamp_start=1e9, timestamp_step=1e9)])
        log = self.run_agent(cfg)
        bad = n - len(valid)
        self.assertIn("accepted %d, rejected %d, given up 0" % (len(valid), bad), log)
        self.assertIn("did not process %d of %d segment documents" % (bad, n), log)
        self.assertIn("InvalidTraceId", log)
        self.assertEqual(sorted(self.numbers()), valid)
        reqs = self.put_requests()
        self.assertEqual(len(reqs), 1)  # the batch itself was accepted, never retried
        self.assertEqual(reqs[0]["status"], 200)
        self.assertEqual(self.final_summary(log), (len(valid), bad))

    def test_slow_api_holds_documents_back_without_loss(self):
        # One request at a time, each answered after 0.25 s, two batches in the pool and a
        # small ring: the exporter pushes back, the ring fills, the generator pauses.
        self.endpoint.faults({"kind": "delay", "delay": 0.25, "count": 1000,
                              "operation": "PutTraceSegments"})
        n = 1000
        cfg = config(self.endpoint, [gen(n)], {"max_in_flight": 1, "max_queued_batches": 1},
                     {"ring_bytes": 65536})
        log = self.run_agent(cfg, timeout=120)
        self.assert_exactly_once(n)
        self.assertIn("accepted %d, rejected 0, given up 0" % n, log)
        self.assertEqual(self.final_summary(log), (n, 0))
        reqs = self.put_requests()
        self.assertEqual(len(reqs), n // 50)

    def test_wrong_secret_is_rejected_and_counted(self):
        env = agent_env()
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        log = self.run_agent(config(self.endpoint, [gen(10)]), env=env)
        self.assertIn("accepted 0, rejected 10", log)
        self.assertEqual(self.segments(), [])
        reqs = self.put_requests()
        self.assertTrue(reqs)
        self.assertTrue(all(r["status"] == 403 for r in reqs))


if __name__ == "__main__":
    unittest.main(verbosity=2)
