"""End to end: per-group retention and class (the cloudwatch_logs sink's `log_groups`, which
the settings fill from collect_list entries) reach CreateLogGroup / PutRetentionPolicy at
the strict compatible endpoint; groups without an entry keep the sink's global settings.
Records come from the `generate` collector so this runs whether or not file tailing is
built."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from aws_endpoint import EndpointTestCase, REGION  # noqa: E402


def gen(group, count=5):
    return {"kind": "logs", "count": count, "log_group_name": group, "log_stream_name": "s",
            "message": "event {n}"}


def config(endpoint, generators, sink):
    s = {"endpoint": endpoint.url, "force_flush_interval": 1}
    s.update(sink)
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


class LogGroupSettings(EndpointTestCase):
    def groups(self):
        return {g["logGroupName"]: g for g in self.endpoint.get("logs")["log_groups"]}

    def test_per_group_retention_and_class(self):
        sink = {
            "retention_in_days": 7,
            "log_groups": {
                "/osprey/a": {"retention_in_days": 14, "log_group_class": "INFREQUENT_ACCESS"},
                # A placeholder is expanded as the tailer expands it.
                "/osprey/{aws_region}": {"retention_in_days": 30},
                "/osprey/class-only": {"log_group_class": "INFREQUENT_ACCESS"},
            },
        }
        groups = ["/osprey/a", "/osprey/" + REGION, "/osprey/class-only", "/osprey/other"]
        log = self.run_agent(config(self.endpoint, [gen(g) for g in groups], sink))
        self.assertEqual(log.count("accepted 5, rejected 0, given up 0"), 4, log)
        got = self.groups()
        self.assertEqual(got["/osprey/a"]["retentionInDays"], 14)
        self.assertEqual(got["/osprey/a"]["logGroupClass"], "INFREQUENT_ACCESS")
        self.assertEqual(got["/osprey/" + REGION]["retentionInDays"], 30)
        self.assertEqual(got["/osprey/" + REGION]["logGroupClass"], "STANDARD")
        # Only the class given: the global retention still applies.
        self.assertEqual(got["/osprey/class-only"]["retentionInDays"], 7)
        self.assertEqual(got["/osprey/class-only"]["logGroupClass"], "INFREQUENT_ACCESS")
        self.assertEqual(got["/osprey/other"]["retentionInDays"], 7)
        self.assertEqual(got["/osprey/other"]["logGroupClass"], "STANDARD")

    def test_bad_log_groups_are_config_errors(self):
        cases = [
            ({"/osprey/a": {"retention_in_days": 2}}, "retention_in_days must be one of"),
            ({"/osprey/a": {"log_group_class": "COLD"}}, "log_group_class must be STANDARD"),
            ({"/osprey/a": {"retention": 1}}, "unknown key 'retention'"),
            ({"/osprey/{instanceid}": {"retention_in_days": 1}},
             "unknown placeholder '{instanceid}'"),
            ([], "must be an object"),
        ]
        for log_groups, needle in cases:
            with self.subTest(needle=needle):
                agent = self.start_agent(config(self.endpoint, [gen("/osprey/a")],
                                                {"log_groups": log_groups}))
                agent.proc.wait(timeout=20)
                code, _ = agent.stop()
                self.assertNotEqual(code, 0)
                self.assertIn(needle, agent.log())


if __name__ == "__main__":
    unittest.main()
