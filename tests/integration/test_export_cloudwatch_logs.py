"""End to end: build/osprey -> cloudwatch_logs exporter -> the strict compatible endpoint.

Records come from the `generate` collector (numbered, lossless: it pauses when the ring
is full), so every event can be accounted for: nothing lost, nothing duplicated, batch
limits respected at their edges, and the failure paths (throttling, 5xx, refused
connections, malformed answers, bad signatures) handled as the issue asks."""
import collections
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from aws_endpoint import EndpointTestCase, REGION, agent_env  # noqa: E402

GROUP = "/osprey/test"
STREAM = "stream-1"


def config(endpoint, generators, sink=None):
    s = {"endpoint": endpoint.url, "force_flush_interval": 1}
    s.update(sink or {})
    return {
        "agent": {"region": REGION},
        "osprey": {
            "summary_interval": 1,
            "state_dir": "/tmp/osprey-state-unused",
            "shutdown_deadline": 10,
            "generate": generators,
            "sinks": {"cloudwatch_logs": s},
        },
    }


def gen(count, **kw):
    g = {"kind": "logs", "count": count, "log_group_name": GROUP, "log_stream_name": STREAM,
         "message": "event {n}"}
    g.update(kw)
    return g


class CloudWatchLogsExport(EndpointTestCase):
    def events(self, group=GROUP, stream=STREAM):
        return self.endpoint.get("logs", group=group, stream=stream)["events"]

    @staticmethod
    def batch_sizes(events):
        """Events per PutLogEvents call that stored them."""
        return collections.Counter(e["requestId"] for e in events)

    def put_requests(self):
        reqs = self.endpoint.get("requests", operation="PutLogEvents")["requests"]
        return [r for r in reqs if r.get("status") == 200]

    def assert_exactly_once(self, n, events=None):
        events = events if events is not None else self.events()
        numbers = [int(e["message"].split()[1].split(".")[0]) for e in events]
        self.assertEqual(len(numbers), n, "lost or duplicated events")
        self.assertEqual(sorted(numbers), list(range(n)))

    def test_delivery_creates_group_and_stream(self):
        log = self.run_agent(config(self.endpoint, [gen(5000)]))
        self.assertIn("accepted 5000, rejected 0, given up 0", log)
        self.assert_exactly_once(5000)
        events = self.events()
        ts = [e["timestamp"] for e in events]
        self.assertEqual(ts, sorted(ts))
        ops = [r["operation"] for r in self.endpoint.get("requests")["requests"]]
        self.assertIn("CreateLogStream", ops)
        self.assertIn("CreateLogGroup", ops)

    def test_batch_of_exactly_10000_events(self):
        # 25,000 small events flushed only every 30 s: batches are cut by the count limit.
        cfg = config(self.endpoint, [gen(25000)], {"force_flush_interval": 30})
        self.run_agent(cfg)
        events = self.events()
        self.assert_exactly_once(25000, events)
        sizes = sorted(self.batch_sizes(events).values())
        self.assertLessEqual(max(sizes), 10000)
        self.assertEqual(sizes.count(10000), 2, sizes)

    def test_batch_bytes_limit(self):
        # 3,000 events of 1,000 bytes: 1,026 bytes each as the service counts them, so a
        # batch holds at most 1,022 events.
        cfg = config(self.endpoint, [gen(3000, size=1000)], {"force_flush_interval": 30})
        self.run_agent(cfg)
        events = self.events()
        self.assert_exactly_once(3000, events)
        self.assertTrue(all(len(e["message"]) == 1000 for e in events))
        sizes = self.batch_sizes(events)
        # 1,048,576 // 1,026 = 1,022 events fit; the exporter must fill batches to the limit.
        self.assertEqual(max(sizes.values()), 1022, sizes)
        self.assertEqual(len(sizes), 3)

    def test_events_25_hours_apart_go_in_separate_batches(self):
        cfg = config(self.endpoint, [gen(3, timestamp_start=-50 * 3600, timestamp_step=25 * 3600)])
        self.run_agent(cfg)
        events = self.events()
        self.assert_exactly_once(3, events)
        self.assertEqual(len(self.batch_sizes(events)), 3)

    def test_event_over_the_limit_is_truncated_and_counted(self):
        cfg = config(self.endpoint, [gen(2, size=1100000)])
        log = self.run_agent(cfg)
        events = self.events()
        self.assertEqual(len(events), 2)
        self.assertTrue(all(len(e["message"].encode()) == 1048550 for e in events))
        self.assertIn("was truncated", log)

    def test_throttling_and_5xx_are_retried_without_loss_or_duplicates(self):
        self.endpoint.faults({"kind": "throttle", "count": 3, "operation": "PutLogEvents"},
                             {"kind": "error", "status": 500, "count": 2,
                              "operation": "PutLogEvents"},
                             {"kind": "error", "status": 503, "count": 1,
                              "operation": "PutLogEvents"})
        log = self.run_agent(config(self.endpoint, [gen(4000)]))
        self.assert_exactly_once(4000)
        self.assertIn("retrying", log)
        fired = self.endpoint.get("faults")["fired"]
        self.assertEqual(len(fired), 6)

    def test_connection_refused_for_30_seconds_then_back(self):
        self.endpoint.post("logs/groups", {"name": GROUP, "streams": [STREAM]})
        self.endpoint.post("refuse", {"seconds": 30})
        t0 = time.monotonic()
        log = self.run_agent(config(self.endpoint, [gen(2000)]), timeout=120)
        self.assertGreaterEqual(time.monotonic() - t0, 29)
        self.assert_exactly_once(2000)
        self.assertIn("given up 0", log)

    def test_malformed_answers_are_counted_not_fatal(self):
        self.endpoint.post("logs/groups", {"name": GROUP, "streams": [STREAM]})
        self.endpoint.faults({"kind": "malformed", "mode": "truncated", "count": 1,
                              "operation": "PutLogEvents"},
                             {"kind": "malformed", "mode": "bad_body", "count": 1,
                              "operation": "PutLogEvents"},
                             {"kind": "malformed", "mode": "content_type", "count": 1,
                              "operation": "PutLogEvents"})
        log = self.run_agent(config(self.endpoint, [gen(3000, rate=3000)]))
        # None of these answers proves the events were stored (the endpoint stored nothing
        # for them): each batch is sent again, and every event arrives exactly once.
        self.assert_exactly_once(3000)
        self.assertIn("accepted 3000", log)
        self.assertIn("malformed PutLogEvents answer", log)
        self.assertEqual(len(self.endpoint.get("faults")["fired"]), 3)

    def test_retention_applied_to_created_groups(self):
        cfg = config(self.endpoint, [gen(10)], {"retention_in_days": 7})
        self.run_agent(cfg)
        self.assert_exactly_once(10)
        groups = {g["logGroupName"]: g for g in self.endpoint.get("logs")["log_groups"]}
        self.assertEqual(groups[GROUP]["retentionInDays"], 7)

    def test_events_past_retention_are_counted_not_retried(self):
        # The group keeps 1 day; events 2 days old are refused one by one
        # (rejectedLogEventsInfo.expiredLogEventEndIndex), the call itself succeeds.
        self.endpoint.post("logs/groups", {"name": GROUP, "retention_days": 1,
                                           "streams": [STREAM]})
        cfg = config(self.endpoint, [gen(20, timestamp_start=-2 * 86400, timestamp_step=1)])
        log = self.run_agent(cfg)
        self.assertIn("accepted 0, rejected 20, given up 0", log)
        self.assertIn("rejected 20 of 20 events", log)
        self.assertEqual(self.events(), [])
        self.assertEqual(len(self.endpoint.get("requests", operation="PutLogEvents")
                             ["requests"]), 1)

    def test_wrong_secret_is_rejected_and_counted(self):
        env = agent_env()
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        log = self.run_agent(config(self.endpoint, [gen(10)]), env=env)
        self.assertIn("rejected", log)
        self.assertEqual(self.events(), [])
        reqs = self.endpoint.get("requests", operation="PutLogEvents")["requests"]
        self.assertTrue(reqs)
        self.assertTrue(all(r["error_code"] == "InvalidSignatureException" for r in reqs))


if __name__ == "__main__":
    unittest.main(verbosity=2)
