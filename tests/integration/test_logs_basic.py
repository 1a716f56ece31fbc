"""Log file tailing end to end (the default set, label "integration"): build/osprey with
`logs.logs_collected.files.collect_list` entries -> cloudwatch_logs -> the strict compatible
endpoint. Multi-line events (Java stack traces, Python tracebacks), timestamp formats with
time zones (checked on the events' timestamps), filters, name placeholders, lines over the
event limit split into parts, \\r\\n, invalid UTF-8, empty files, files that appear after
start, `**` globs with publish_multi_logs, from_beginning."""
import calendar
import datetime
import json
import os
import socket
import sys
import time
import unittest
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logs_util  # noqa: E402
from aws_endpoint import EndpointTestCase, agent_env  # noqa: E402
from logs_util import Workdir  # noqa: E402

GROUP = "/osprey/files"
MAX_EVENT_MESSAGE = 1048550  # PutLogEvents: 1,048,576 bytes per event including 26


def epoch_ms(dt):
    return calendar.timegm(dt.utctimetuple()) * 1000 + dt.microsecond // 1000


class FilesBasic(EndpointTestCase):
    def setUp(self):
        super().setUp()
        self.wd = Workdir()

    def tearDown(self):
        super().tearDown()
        self.wd.close()

    def path(self, *names):
        p = os.path.join(self.wd.logs, *names)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    @staticmethod
    def write(path, data, mode="ab"):
        with open(path, mode) as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    def entry(self, path, stream, **kw):
        e = {"file_path": path, "log_group_name": GROUP, "log_stream_name": stream,
             "from_beginning": True}
        e.update(kw)
        return e

    def start(self, entries, env=None, **kw):
        return self.start_agent(logs_util.files_config(self.endpoint.url, entries,
                                                       self.wd.state, **kw), env=env)

    def events(self, stream, group=GROUP):
        return self.endpoint.get("logs", group=group, stream=stream)["events"]

    def wait_events(self, stream, n, group=GROUP, timeout=30, settle=1.5):
        got = logs_util.wait_for_count(self.endpoint, group, stream, n, timeout, self.agent)
        log = "\n".join(x for x in self.agent.log().splitlines() if " summary " not in x)
        self.assertGreaterEqual(got, n, "stream %s/%s: %d of %d events; streams %s\nagent log:\n%s"
                                % (group, stream, got, n, logs_util.stream_counts(self.endpoint),
                                   log[-4000:]))
        time.sleep(settle)  # an extra (duplicated, unfiltered) event would arrive by now
        return self.events(stream, group)

    def stop(self):
        code, _ = self.agent.stop()
        self.assertEqual(code, 0, self.agent.log()[-4000:])
        return self.agent.log()

    def messages(self, stream, group=GROUP):
        return [e["message"] for e in self.events(stream, group)]

    # ---------------------------------------------------------------------------------

    def test_existing_and_appended_lines_arrive_once_in_order(self):
        p = self.path("app.log")
        self.write(p, "".join("line %d\n" % i for i in range(1000)))
        self.start([self.entry(p, "basic")])
        self.wait_events("basic", 1000)
        self.write(p, "".join("line %d\n" % i for i in range(1000, 1500)))
        self.wait_events("basic", 1500)
        self.stop()
        self.assertEqual(self.messages("basic"), ["line %d" % i for i in range(1500)])
        ops = [r["operation"] for r in self.endpoint.get("requests")["requests"]]
        self.assertIn("CreateLogGroup", ops)
        self.assertIn("CreateLogStream", ops)

    def test_null_sink_acks_move_the_checkpoint_and_a_restart_resumes(self):
        # The null sink acknowledges everything it takes: the checkpoint must reach the end
        # of the file, and a restart must neither re-send nor skip anything.
        p = self.path("null.log")
        self.write(p, "".join("n %d\n" % i for i in range(5000)))
        cfg = logs_util.files_config(self.endpoint.url, [self.entry(p, "null")], self.wd.state,
                                     osprey={"sinks": {"null": {}}})
        self.start_agent(cfg)
        self.assertTrue(self.agent.wait_for_log("null=5000", 30), self.agent.log()[-3000:])
        log = self.stop()
        self.assertIn("null=5000", log.splitlines()[-2] + log.splitlines()[-1])
        ckpt_dir = os.path.join(self.wd.state, "tail")
        (name,) = os.listdir(ckpt_dir)
        with open(os.path.join(ckpt_dir, name)) as f:
            (entry,) = json.load(f)["files"]
        self.assertEqual(int(entry["offset"]), os.path.getsize(p))
        self.write(p, "".join("n %d\n" % i for i in range(5000, 5100)))
        self.start_agent(cfg)
        self.assertTrue(self.agent.wait_for_log("null=100", 30), self.agent.log()[-3000:])
        time.sleep(1.5)
        log = self.stop()
        self.assertNotIn("null=5", log.split("null=100", 1)[1])  # never more than the 100
        self.assertEqual(logs_util.stream_counts(self.endpoint), {})

    def test_from_beginning_false_skips_existing_content(self):
        p = self.path("app.log")
        self.write(p, "old 1\nold 2\n")
        self.start([self.entry(p, "tail-end", from_beginning=False)])
        time.sleep(2.5)  # the agent has opened the file at its end by now
        self.write(p, "new 1\nnew 2\n")
        self.wait_events("tail-end", 2)
        self.stop()
        self.assertEqual(self.messages("tail-end"), ["new 1", "new 2"])

    def test_multi_line_java_and_python_with_timestamp_format(self):
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        t = [now - datetime.timedelta(minutes=30 - i) for i in range(4)]
        fmt = "%Y-%m-%d %H:%M:%S"
        java = ("%s ERROR [main] request failed\n"
                "java.lang.IllegalStateException: boom\n"
                "\tat com.example.Service.handle(Service.java:42)\n"
                "\tat com.example.Main.main(Main.java:7)\n"
                "Caused by: java.io.IOException: disk\n"
                "\t... 2 more\n") % t[0].strftime(fmt)
        plain = "%s INFO [main] recovered\n" % t[1].strftime(fmt)
        python = ("%s,123 ERROR worker crashed\n"
                  "Traceback (most recent call last):\n"
                  "  File \"/srv/app/worker.py\", line 10, in <module>\n"
                  "    run()\n"
                  "ZeroDivisionError: division by zero\n") % t[2].strftime(fmt)
        # The last event has no successor: it must come out after the bounded wait.
        last = "%s WARN [main] last one\n\tcontinued\n" % t[3].strftime(fmt)
        p = self.path("java.log")
        self.write(p, java + plain + python + last)
        self.start([self.entry(p, "multi", multi_line_start_pattern="{timestamp_format}",
                               timestamp_format=fmt, timezone="UTC")])
        events = self.wait_events("multi", 4, timeout=40)
        self.stop()
        self.assertEqual([e["message"] for e in events],
                         [java[:-1], plain[:-1], python[:-1], last[:-1]])
        self.assertEqual([e["timestamp"] for e in events], [epoch_ms(x) for x in t])

    def test_multi_line_regex_start_pattern(self):
        p = self.path("regex.log")
        self.write(p, "[a] one\n  more of one\n[b] two\n[c] three\n  x\n  y\n")
        self.start([self.entry(p, "regex", multi_line_start_pattern="^\\[")])
        events = self.wait_events("regex", 3, timeout=40)
        self.stop()
        self.assertEqual([e["message"] for e in events],
                         ["[a] one\n  more of one", "[b] two", "[c] three\n  x\n  y"])

    def test_timestamp_formats_and_time_zones(self):
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        base = now - datetime.timedelta(hours=1)
        plus2 = datetime.timezone(datetime.timedelta(hours=2))
        minus5 = datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))
        ny = zoneinfo.ZoneInfo("America/New_York")
        cases = []  # (file, entry options, lines, expected epoch ms)
        # Apache access log, offset in the line.
        a = [base.astimezone(plus2), (base + datetime.timedelta(seconds=5)).astimezone(minus5)]
        cases.append(("apache.log", {"timestamp_format": "%d/%b/%Y:%H:%M:%S %z"},
                      ['10.0.0.1 - - [%s] "GET / HTTP/1.1" 200 12' %
                       x.strftime("%d/%b/%Y:%H:%M:%S %z") for x in a],
                      [epoch_ms(x) for x in a]))
        # ISO-like, timezone UTC, the stamp not at the start of the line.
        b = [base + datetime.timedelta(seconds=i) for i in (10, 11)]
        cases.append(("iso.log", {"timestamp_format": "%Y-%m-%dT%H:%M:%S", "timezone": "UTC"},
                      ["app=x ts=%s msg=hello" % x.strftime("%Y-%m-%dT%H:%M:%S") for x in b],
                      [epoch_ms(x) for x in b]))
        # Fractional seconds.
        c = [base + datetime.timedelta(seconds=20, milliseconds=ms) for ms in (123, 987)]
        cases.append(("frac.log", {"timestamp_format": "%Y-%m-%d %H:%M:%S.%f",
                                   "timezone": "UTC"},
                      ["%s.%03d INFO frac" % (x.strftime("%Y-%m-%d %H:%M:%S"),
                                              x.microsecond // 1000) for x in c],
                      [epoch_ms(x) for x in c]))
        # Syslog, no year, local time of the agent process (TZ=America/New_York).
        d = [(base + datetime.timedelta(seconds=30)).astimezone(ny)]
        cases.append(("syslog.log", {"timestamp_format": "%b %d %H:%M:%S",
                                     "timezone": "Local"},
                      ["%s host sshd[1]: accepted" % d[0].strftime("%b %d %H:%M:%S")],
                      [epoch_ms(d[0])]))
        # No match: the read time.
        cases.append(("nomatch.log", {"timestamp_format": "%Y-%m-%d %H:%M:%S",
                                      "timezone": "UTC"},
                      ["no timestamp here"], None))
        entries = []
        for name, opts, lines, _ in cases:
            p = self.path(name)
            self.write(p, "".join(x + "\n" for x in lines))
            entries.append(self.entry(p, name, **opts))
        env = agent_env()
        env["TZ"] = "America/New_York"
        t_start = int(time.time() * 1000)
        self.start(entries, env=env)
        for name, _, lines, _ in cases:
            self.wait_events(name, len(lines), settle=0)
        t_end = int(time.time() * 1000)
        self.stop()
        for name, _, lines, expected in cases:
            events = self.events(name)
            self.assertEqual([e["message"] for e in events], lines, name)
            if expected is None:
                self.assertTrue(all(t_start - 1000 <= e["timestamp"] <= t_end for e in events),
                                (name, events, t_start, t_end))
            else:
                self.assertEqual([e["timestamp"] for e in events], expected, name)

    def test_filters_include_and_exclude_in_order(self):
        p = self.path("filtered.log")
        lines = ["INFO ok", "ERROR disk full", "WARN slow", "ERROR healthcheck failed",
                 "DEBUG x", "WARN healthcheck slow", "ERROR again"]
        self.write(p, "".join(x + "\n" for x in lines))
        self.start([self.entry(p, "filters", filters=[
            {"type": "include", "expression": "ERROR|WARN"},
            {"type": "exclude", "expression": "healthcheck"}])])
        self.wait_events("filters", 3)
        self.stop()
        self.assertEqual(self.messages("filters"), ["ERROR disk full", "WARN slow", "ERROR again"])

    def test_name_placeholders_off_ec2(self):
        p = self.path("names.log")
        self.write(p, "hello names\n")
        host = socket.gethostname()
        e = self.entry(p, "{instance_id}-{date}")
        e["log_group_name"] = "/osprey/{aws_region}/{hostname}"
        self.start([e])
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        # Off EC2 (metadata disabled) {instance_id} becomes "i-UNKNOWN", as in the CloudWatch
        # agent.
        group, stream = "/osprey/us-east-1/" + host, "i-UNKNOWN-" + date
        self.wait_events(stream, 1, group=group)
        self.stop()
        self.assertEqual(self.messages(stream, group), ["hello names"])
        self.assertEqual(list(logs_util.stream_counts(self.endpoint)), [(group, stream)])

    def test_line_over_the_event_limit_is_split_into_parts(self):
        # 2.5 MiB of 8-digit counters: every part can be located in the line, so the parts
        # must tile it exactly (whatever order their batches arrived in).
        n = (5 * 1024 * 1024 // 2) // 8
        line = "".join("%08d" % i for i in range(n))
        p = self.path("long.log")
        self.write(p, line + "\nshort after\n")
        self.start([self.entry(p, "long")])
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            msgs = self.messages("long")
            if "short after" in msgs and sum(len(m) for m in msgs) >= len(line) + 11:
                break
            time.sleep(0.5)
        time.sleep(1.5)
        self.stop()
        events = self.events("long")
        parts = [e for e in events if e["message"] != "short after"]
        self.assertEqual([e["message"] for e in events].count("short after"), 1)
        self.assertGreaterEqual(len(parts), 3)
        self.assertTrue(all(0 < len(e["message"].encode()) <= MAX_EVENT_MESSAGE for e in parts))
        self.assertEqual(len({e["timestamp"] for e in parts}), 1, "parts share one timestamp")
        spans = sorted((line.find(e["message"]), len(e["message"])) for e in parts)
        pos = 0
        for start, length in spans:
            self.assertEqual(start, pos, "parts do not tile the line")
            pos += length
        self.assertEqual(pos, len(line))

    def test_crlf_and_invalid_utf8(self):
        p = self.path("bytes.log")
        raw = [b"dos line one", b"caf\xc3\xa9 ok", b"bad \xff\xfe end", b"cut \xe2\x82",
               b"overlong \xc0\xaf x", b"surrogate \xed\xa0\x80 x", b"last dos"]
        self.write(p, b"".join(x + b"\r\n" for x in raw))
        self.start([self.entry(p, "bytes")])
        self.wait_events("bytes", len(raw))
        self.stop()
        # Each maximal invalid subsequence becomes one U+FFFD, as Python (and the Unicode
        # standard's recommended practice) does.
        self.assertEqual(self.messages("bytes"), [x.decode("utf-8", "replace") for x in raw])

    def test_empty_file_and_files_that_appear_after_start(self):
        empty = self.path("empty.log")
        open(empty, "w").close()
        late = self.path("late", "late.log")  # neither the file nor its directory exists
        os.rmdir(os.path.dirname(late))
        self.start([self.entry(empty, "empty"), self.entry(late, "late")])
        time.sleep(3)
        self.assertIsNone(self.agent.proc.poll(), self.agent.log()[-3000:])
        self.assertEqual(logs_util.stream_counts(self.endpoint), {})
        os.makedirs(os.path.dirname(late))
        self.write(late, "late 1\nlate 2\nlate 3\n")
        self.write(empty, "now 1\nnow 2\n")
        self.wait_events("late", 3)
        self.wait_events("empty", 2, settle=0)
        self.stop()
        self.assertEqual(self.messages("late"), ["late 1", "late 2", "late 3"])
        self.assertEqual(self.messages("empty"), ["now 1", "now 2"])

    def test_double_star_glob_with_publish_multi_logs(self):
        files = {self.path("sub", "b.log"): "B", self.path("sub", "deep", "c.log"): "C"}
        for p, tag in files.items():
            self.write(p, "".join("%s %d\n" % (tag, i) for i in range(5)))
        self.write(self.path("sub", "skip.txt"), "not matched\n")
        # As in the CloudWatch agent (telegraf's globpath: `**` is any run of characters,
        # separators included), "logs/**/*.log" needs a directory below logs/: logs/a.log
        # does not match.
        self.write(self.path("a.log"), "not matched either\n")
        self.start([self.entry(os.path.join(self.wd.logs, "**", "*.log"), "multi",
                               publish_multi_logs=True)])
        # A file created after start under the glob is picked up too.
        time.sleep(1.0)
        d = self.path("sub", "new", "d.log")
        self.write(d, "".join("D %d\n" % i for i in range(5)))
        files[d] = "D"
        for p in files:
            self.wait_events(logs_util.multi_logs_stream_name("multi", p), 5, settle=0)
        time.sleep(1.5)
        self.stop()
        counts = logs_util.stream_counts(self.endpoint)
        self.assertEqual(sorted(counts), sorted(
            (GROUP, logs_util.multi_logs_stream_name("multi", p)) for p in files))
        for p, tag in files.items():
            self.assertEqual(self.messages(logs_util.multi_logs_stream_name("multi", p)),
                             ["%s %d" % (tag, i) for i in range(5)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
