"""Local alarms end to end through build/osprey: a metric from a fixture proc root crosses a
threshold -> ALARM -> exec, webhook and SNS actions fire once -> back to OK -> OK actions fire;
`osprey alarms wait` exit codes; state survives a restart; `osprey alarms test` backtests a
series; `osprey alarms export` validates against the CloudWatch model's input shapes."""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from aws_endpoint import EndpointTestCase, agent_env, SOURCE_DIR  # noqa: E402

# mem_used_percent = (total - free - buffers - cached - sreclaimable) / total
MEMINFO_LOW = harness.MEMINFO  # 45 %
MEMINFO_HIGH = harness.MEMINFO.replace("MemFree:          250000 kB",
                                       "MemFree:           10000 kB").replace(
    "Cached:           200000 kB", "Cached:            20000 kB")  # 87 %


class Webhook:
    def __init__(self):
        self.bodies = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append((dict(self.headers), self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def cli(*args, timeout=60):
    return subprocess.run([harness.OSPREY_BIN, "alarms", *args], capture_output=True, text=True,
                          timeout=timeout)


class AlarmsEndToEnd(EndpointTestCase):
    def setUp(self):
        super().setUp()
        self.webhook = Webhook()
        self.topic = self.endpoint.post("sns/topics", {"name": "ops"})["TopicArn"]
        self.workdir = tempfile.mkdtemp(prefix="osprey-alarms-")
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.http_port = sock.getsockname()[1]
        self.proc_root = os.path.join(self.workdir, "proc")
        os.mkdir(self.proc_root)
        harness.write_atomic(os.path.join(self.proc_root, "meminfo"), MEMINFO_LOW)

    def tearDown(self):
        super().tearDown()
        self.webhook.close()

    def config(self):
        record = os.path.join(self.workdir, "exec")
        alarm = {
            "AlarmName": "mem-high", "AlarmDescription": "memory above 80 %",
            "Namespace": "CWAgent", "MetricName": "mem_used_percent",
            "Dimensions": [{"Name": "host", "Value": "it-host"}],
            "Statistic": "Maximum", "Period": 10, "EvaluationPeriods": 1, "Threshold": 80,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "missing",
            "AlarmActions": ["log", "exec:cat > %s-$OSPREY_ALARM_STATE.json; "
                                    "echo \"$OSPREY_ALARM_NAME $OSPREY_ALARM_OLD_STATE "
                                    "$OSPREY_ALARM_STATE\" >> %s.log" % (record, record),
                             "webhook:" + self.webhook.url, self.topic],
            "OKActions": ["exec:cat > %s-$OSPREY_ALARM_STATE.json; echo \"$OSPREY_ALARM_NAME "
                          "$OSPREY_ALARM_OLD_STATE $OSPREY_ALARM_STATE\" >> %s.log"
                          % (record, record), self.topic],
        }
        composite = {"AlarmName": "any-trouble", "AlarmRule": "ALARM(mem-high) OR ALARM(\"mem-high\")"}
        return {
            "agent": {"metrics_collection_interval": 1, "region": "us-east-1"},
            "metrics": {"metrics_collected": {"mem": {"measurement": ["used_percent"]}}},
            "osprey": {
                "proc_root": self.proc_root, "hostname": "it-host",
                "state_dir": os.path.join(self.workdir, "state"), "flush_interval": 0.2,
                "sinks": {"file": {"directory": os.path.join(self.workdir, "out")}},
                "alarms": [alarm, composite],
                "alarm_settings": {"endpoint": self.endpoint.url, "account_id": "123456789012",
                                   "http_address": "127.0.0.1:%d" % self.http_port},
            },
        }

    def state_file(self):
        return os.path.join(self.workdir, "state", "alarms.json")

    def state_of(self, name):
        r = cli("list", "--state-file", self.state_file(), "--json")
        return {a["AlarmName"]: a["StateValue"] for a in json.loads(r.stdout)["alarms"]}[name]

    def wait_state(self, name, state, timeout):
        r = cli("wait", name, "--state", state, "--timeout", str(timeout),
                "--state-file", self.state_file(), timeout=timeout + 30)
        return r

    def test_alarm_cycle_actions_wait_and_restart(self):
        os.makedirs(os.path.join(self.workdir, "state"))
        cfg = self.config()
        self.start_agent(cfg)
        self.assertTrue(self.agent.wait_for_log("started"), self.agent.log())

        # The first complete period has data below the threshold: OK.
        r = self.wait_state("mem-high", "OK", 40)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.agent.log())
        self.assertIn("was not greater than the threshold (80.0)", r.stdout)
        # Waiting for ALARM while the alarm is OK times out with 2.
        r = self.wait_state("mem-high", "ALARM", 1)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        # An unknown alarm: 3.
        r = self.wait_state("no-such-alarm", "OK", 1)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

        harness.write_atomic(os.path.join(self.proc_root, "meminfo"), MEMINFO_HIGH)
        # A pipeline gate waiting for OK stops the line with 1 once the alarm fires.
        r = cli("wait", "mem-high", "--state", "ALARM", "--timeout", "40",
                "--state-file", self.state_file(), timeout=80)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.agent.log())
        self.assertRegex(r.stdout, r"Threshold Crossed: 1 datapoint \[87\.0 \(\d\d/\d\d/\d\d "
                                   r"\d\d:\d\d:\d\d\)\] was greater than the threshold \(80\.0\)")
        r = cli("wait", "mem-high", "--state", "OK", "--timeout", "5",
                "--state-file", self.state_file())
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        r = cli("wait", "any-trouble", "--state", "ALARM", "--timeout", "10",
                "--state-file", self.state_file())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The read-only endpoint serves the same JSON as `alarms list --json`.
        import urllib.error
        import urllib.request
        base = "http://127.0.0.1:%d/alarms" % self.http_port
        with urllib.request.urlopen(base + "/mem-high", timeout=10) as resp:
            one = json.loads(resp.read())
        self.assertEqual(one["StateValue"], "ALARM")
        with urllib.request.urlopen(base, timeout=10) as resp:
            served = json.loads(resp.read())
        listed = json.loads(cli("list", "--state-file", self.state_file(), "--json").stdout)
        self.assertEqual({a["AlarmName"]: a["StateValue"] for a in served["alarms"]},
                         {a["AlarmName"]: a["StateValue"] for a in listed["alarms"]})
        for method, path, status in (("POST", "/mem-high", 405), ("GET", "/nope", 404)):
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(urllib.request.Request(base + path, method=method,
                                                              data=b"" if method == "POST" else None),
                                       timeout=10)
            self.assertEqual(cm.exception.code, status)

        harness.write_atomic(os.path.join(self.proc_root, "meminfo"), MEMINFO_LOW)
        # (`wait --state OK` answers 1 at once while the alarm is in ALARM: that is the gate.)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and self.state_of("mem-high") != "OK":
            time.sleep(0.2)
        self.assertEqual(self.state_of("mem-high"), "OK", self.agent.log())
        # Actions run on transitions, and finish before we look.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msgs = self.endpoint.get("sns")["messages"]
            if len(msgs) >= 3 and len(self.webhook.bodies) >= 1:
                break
            time.sleep(0.2)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())

        with open(os.path.join(self.workdir, "exec.log")) as f:
            self.assertEqual(f.read().splitlines(),
                             ["mem-high INSUFFICIENT_DATA OK", "mem-high OK ALARM",
                              "mem-high ALARM OK"])
        with open(os.path.join(self.workdir, "exec-ALARM.json")) as f:
            note = json.load(f)
        self.assertEqual(note["AlarmName"], "mem-high")
        self.assertEqual(note["NewStateValue"], "ALARM")
        self.assertEqual(note["OldStateValue"], "OK")
        self.assertEqual(note["AWSAccountId"], "123456789012")
        self.assertEqual(note["Trigger"]["MetricName"], "mem_used_percent")
        self.assertEqual(note["Trigger"]["Statistic"], "MAXIMUM")
        self.assertEqual(note["Trigger"]["Dimensions"], [{"name": "host", "value": "it-host"}])
        self.assertEqual(len(self.webhook.bodies), 1)  # AlarmActions only
        headers, body = self.webhook.bodies[0]
        env = json.loads(body)
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(json.loads(env["Message"])["NewStateValue"], "ALARM")
        msgs = self.endpoint.get("sns")["messages"]
        self.assertEqual([json.loads(m["Message"])["NewStateValue"] for m in msgs],
                         ["OK", "ALARM", "OK"], self.agent.log())
        self.assertEqual(msgs[1]["Subject"], 'ALARM: "mem-high" in us-east-1')
        self.assertEqual(msgs[1]["TopicArn"], self.topic)
        self.assertNotIn("errors", self.agent.log().split("alarms=")[-1].split("|")[0],
                         self.agent.log())

        # `alarms list` reads the state; a restart keeps state and history.
        r = cli("list", "--state-file", self.state_file(), "--json")
        listed = {a["AlarmName"]: a for a in json.loads(r.stdout)["alarms"]}
        self.assertEqual(listed["mem-high"]["StateValue"], "OK")
        self.assertEqual([h["NewState"] for h in listed["mem-high"]["History"]],
                         ["OK", "ALARM", "OK"])
        since = listed["mem-high"]["StateUpdatedTimestamp"]
        self.start_agent(cfg)
        self.assertTrue(self.agent.wait_for_log("alarm state restored"), self.agent.log())
        time.sleep(1)
        r = cli("list", "--state-file", self.state_file())
        self.assertEqual(r.returncode, 0, r.stderr)
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("mem-high ")][0]
        self.assertIn(" OK ", line)
        self.assertIn(since, line)
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log())


class AlarmsCli(unittest.TestCase):
    def test_backtest(self):
        d = tempfile.mkdtemp(prefix="osprey-backtest-")
        alarm = os.path.join(d, "alarm.json")
        with open(alarm, "w") as f:
            json.dump({"AlarmName": "cpu", "Namespace": "CWAgent", "MetricName": "cpu_usage_user",
                       "Statistic": "Average", "Period": 60, "EvaluationPeriods": 3,
                       "DatapointsToAlarm": 3, "Threshold": 5,
                       "ComparisonOperator": "GreaterThanThreshold"}, f)
        data = os.path.join(d, "points.csv")
        # Minutes 0..6 as in the documentation's table row "- - X - -" after two OK minutes;
        # a period with no line is missing data.
        with open(data, "w") as f:
            f.write("timestamp,value\n2025-02-02T12:00:10Z,1\n2025-02-02T12:00:50Z,3\n"
                    "2025-02-02T12:01:30Z,2\n2025-02-02T12:04:00Z,10\n2025-02-02T12:07:00Z,1\n")
        r = cli("test", alarm, data)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [ln.split(None, 2) for ln in r.stdout.splitlines()[1:]]
        states = [(row[0], row[1]) for row in rows]
        self.assertEqual(states, [
            ("2025-02-02T12:01:00Z", "OK"),      # 2 (avg of 1 and 3): one real point, OK
            ("2025-02-02T12:02:00Z", "OK"),
            ("2025-02-02T12:03:00Z", "OK"),
            ("2025-02-02T12:04:00Z", "OK"),      # 0 - - : still OK from real OK points
            ("2025-02-02T12:05:00Z", "OK"),      # 0 - - X : the OK point is still in range
            ("2025-02-02T12:06:00Z", "OK"),      # 0 - - X - : range of 5 holds the 0 -> OK
            ("2025-02-02T12:07:00Z", "ALARM"),   # - - X - - : the documented exception
            ("2025-02-02T12:08:00Z", "OK"),
        ])
        self.assertIn("Threshold Crossed", rows[0][2])
        # JSON lines and epoch seconds work too; a bad line is an error with its number.
        with open(data, "w") as f:
            f.write('{"timestamp": 1738497600, "value": 9}\n{"timestamp": "2025-02-02T12:01:00Z", '
                    '"value": 9}\n{"timestamp": 1738497720, "value": 9}\n')
        r = cli("test", alarm, data)
        self.assertEqual(r.stdout.splitlines()[3].split()[1], "ALARM", r.stdout)
        with open(data, "w") as f:
            f.write("2025-02-02T12:00:00Z,1\nnot a line\n")
        r = cli("test", alarm, data)
        self.assertEqual(r.returncode, 1)
        self.assertIn("points.csv:2: want timestamp,value", r.stderr)

    def test_validation_errors_name_alarm_and_field(self):
        d = tempfile.mkdtemp(prefix="osprey-alarm-bad-")
        alarm = os.path.join(d, "alarm.json")
        with open(alarm, "w") as f:
            json.dump({"AlarmName": "bad", "Namespace": "X", "MetricName": "m",
                       "Statistic": "Median", "Period": 45, "EvaluationPeriods": 2,
                       "DatapointsToAlarm": 3, "Threshold": 1,
                       "ComparisonOperator": "GreaterThanUpperThreshold",
                       "TreatMissingData": "zero", "AlarmActions": ["arn:aws:automate:x"]}, f)
        r = cli("test", alarm, "/dev/null")
        self.assertEqual(r.returncode, 1)
        for needle in ["alarm 'bad': 'Statistic' must be SampleCount",
                       "alarm 'bad': 'Period' must be 10, 20, 30 or a multiple of 60, got 45",
                       "alarm 'bad': 'DatapointsToAlarm' (3) cannot exceed EvaluationPeriods (2)",
                       "alarm 'bad': 'ComparisonOperator' must be",
                       "alarm 'bad': 'TreatMissingData' must be",
                       "alarm 'bad': 'AlarmActions' has an action Osprey cannot run"]:
            self.assertIn(needle, r.stderr)

    def test_export_validates_against_botocore(self):
        import botocore.session
        from botocore.validate import ParamValidator
        d = tempfile.mkdtemp(prefix="osprey-export-")
        cfg = os.path.join(d, "osprey.json")
        with open(cfg, "w") as f:
            json.dump({"osprey": {"alarms": [
                {"AlarmName": "cpu high", "Namespace": "CWAgent", "MetricName": "cpu_usage_user",
                 "Dimensions": [{"Name": "host", "Value": "h"}], "ExtendedStatistic": "p99",
                 "Period": 300, "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 90,
                 "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                 "TreatMissingData": "breaching", "EvaluateLowSampleCountPercentile": "ignore",
                 "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:ops", "exec:true", "log"]},
                {"AlarmName": "both", "AlarmRule": "ALARM(\"cpu high\") AND NOT OK(\"cpu high\")",
                 "OKActions": ["arn:aws:sns:us-east-1:123456789012:ops"]},
            ]}}, f)
        r = cli("export", "--config", cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 log/exec/webhook action(s) left out", r.stderr)
        tmpl = json.loads(r.stdout)
        session = botocore.session.get_session()
        session.set_config_variable("data_path", os.path.join(SOURCE_DIR, "tests", "endpoint", "models"))
        model = session.get_service_model("cloudwatch")
        validator = ParamValidator()
        types = {}
        for rid, res in tmpl["Resources"].items():
            op = {"AWS::CloudWatch::Alarm": "PutMetricAlarm",
                  "AWS::CloudWatch::CompositeAlarm": "PutCompositeAlarm"}[res["Type"]]
            report = validator.validate(res["Properties"], model.operation_model(op).input_shape)
            self.assertFalse(report.has_errors(), "%s: %s" % (rid, report.generate_report()))
            types[res["Properties"]["AlarmName"]] = res["Type"]
        self.assertEqual(types, {"cpu high": "AWS::CloudWatch::Alarm",
                                 "both": "AWS::CloudWatch::CompositeAlarm"})
        alarm = [r for r in tmpl["Resources"].values() if r["Properties"]["AlarmName"] == "cpu high"][0]
        self.assertEqual(alarm["Properties"]["AlarmActions"], ["arn:aws:sns:us-east-1:123456789012:ops"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
