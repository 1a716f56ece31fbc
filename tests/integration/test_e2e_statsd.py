"""End to end: build/osprey with a statsd listener and the file sink, driven by the real
hot-shots npm client (node) and by garbage datagrams from Python's socket. The interval is
long, so every sample lands in the one aggregate flushed at SIGTERM: exact values."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

NODE = "/usr/bin/node"

# hot-shots sends a sampled value only when Math.random() < rate; pinning it to 0 makes it
# send every call (with its "|@rate"), so the aggregates are exact.
CLIENT_JS = r"""
const path = require('path');
const StatsD = require(path.join(process.env.OSPREY_SOURCE_DIR, 'tests/npm/node_modules/hot-shots'));
Math.random = () => 0;
const port = parseInt(process.argv[2], 10);
const c = new StatsD({host: '127.0.0.1', port: port, errorHandler: (e) => { console.error(e); process.exit(3); }});
c.increment('app.requests');                      // 1
c.increment('app.requests', 3, 0.5);              // 6
c.decrement('app.requests', 2);                   // -2
c.increment('app.requests', 1, {env: 'prod'});    // another series
c.gauge('queue.depth', 20);
c.gaugeDelta('queue.depth', 2);
c.gaugeDelta('queue.depth', -0.5);
c.timing('db.latency', 10);
c.timing('db.latency', 30, 0.5);
c.timing('db.latency', 2, 0.25, ['shard:a']);
c.histogram('payload.size', 7, ['route:/x', 'bare']);
c.histogram('payload.size', 3, ['bare', 'route:/x']);
c.set('users', 'alice');
c.set('users', 'bob');
c.unique('users', 'alice');
setTimeout(() => c.close((err) => process.exit(err ? 4 : 0)), 300);
"""


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class StatsdEndToEnd(unittest.TestCase):
    def setUp(self):
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.kill()

    def test_hot_shots_and_garbage(self):
        workdir = tempfile.mkdtemp(prefix="osprey-statsd-")
        port = free_port()
        config = {
            "metrics": {
                "namespace": "StatsdTest",
                "metrics_collected": {
                    "statsd": {"service_address": "127.0.0.1:%d" % port,
                               "metrics_collection_interval": 3600,
                               "max_datagram_bytes": 4096},
                },
            },
            "osprey": {
                "hostname": "it-host",
                "state_dir": os.path.join(workdir, "state"),
                "flush_interval": 0.2,
                "summary_interval": 1,
                "sinks": {"file": {"directory": os.path.join(workdir, "out")}},
            },
        }
        self.agent = harness.Agent(config, workdir).start()
        self.assertTrue(self.agent.wait_for_log("listening on udp 127.0.0.1 port %d" % port),
                        self.agent.log())

        script = os.path.join(workdir, "client.js")
        with open(script, "w") as f:
            f.write(CLIENT_JS)
        env = dict(os.environ, OSPREY_SOURCE_DIR=harness.SOURCE_DIR)
        r = subprocess.run([NODE, script, str(port)], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dst = ("127.0.0.1", port)
        # Valid lines keep flowing around bad ones in the same datagram.
        s.sendto(b"garbage.ok:1|c\nnocolon\ngarbage.ok:1|zz\ngarbage.ok:x|c\n"
                 b"garbage.ok:1|c|@9\ngarbage.t:-1|ms\nbad#name:1|c\ngarbage.ok:1\n"
                 b"garbage.ok:2|c\n", dst)
        s.sendto(b"\x00\xff\xfe garbage", dst)
        s.sendto(b"garbage.ok:1|c\n" + b"x" * 5000, dst)  # over max_datagram_bytes
        s.sendto(b"garbage.ok:4|c", dst)
        s.close()

        want = ["(no_colon 2)", "(bad_type 1)", "(bad_value 1)", "(bad_rate 1)",
                "(sign_not_allowed 1)", "(bad_name 1)", "(no_pipe 1)",
                "(datagram_too_large 1)"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            summaries = [l for l in self.agent.log().splitlines() if "summary collected" in l]
            if summaries and all(w in summaries[-1] for w in want):
                break
            time.sleep(0.1)
        else:
            self.fail("fine reasons not in the summary:\n" + self.agent.log())
        self.assertIn("statsd=0(dropped 9)", summaries[-1])

        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        log = self.agent.log()
        self.assertIn("stopped cleanly", log)

        got = harness.read_jsonl(os.path.join(workdir, "out", "metrics.jsonl"))
        series = {}
        for m in got:
            self.assertEqual(m["Namespace"], "StatsdTest")
            self.assertEqual(m["StorageResolution"], 60)  # aggregation interval 60 (default)
            dims = tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))
            key = (m["MetricName"], dims)
            self.assertNotIn(key, series, "published twice: %r" % (key,))
            series[key] = m

        def one(name, metric_type, **tags):
            dims = dict(tags, host="it-host", metric_type=metric_type)
            key = (name, tuple(sorted(dims.items())))
            self.assertIn(key, series, "missing %r; got %r" % (key, sorted(series)))
            return series[key]

        m = one("app_requests", "counter")
        self.assertEqual(m["Value"], 1 + 6 - 2)
        self.assertEqual(m["Unit"], "Count")
        self.assertEqual(one("app_requests", "counter", env="prod")["Value"], 1)
        m = one("queue_depth", "gauge")
        self.assertEqual(m["Value"], 21.5)
        self.assertEqual(m["Unit"], "None")
        m = one("db_latency", "timing")
        self.assertEqual(m["StatisticValues"],
                         {"SampleCount": 3, "Sum": 70, "Minimum": 10, "Maximum": 30})
        m = one("db_latency", "timing", shard="a")
        self.assertEqual(m["StatisticValues"],
                         {"SampleCount": 4, "Sum": 8, "Minimum": 2, "Maximum": 2})
        m = one("payload_size", "histogram", route="/x", bare="<empty>")
        self.assertEqual(m["StatisticValues"],
                         {"SampleCount": 2, "Sum": 10, "Minimum": 3, "Maximum": 7})
        self.assertEqual(one("users", "set")["Value"], 2)
        self.assertEqual(one("garbage_ok", "counter")["Value"], 1 + 2 + 4)
        self.assertEqual(len(series), 8, sorted(series))


if __name__ == "__main__":
    unittest.main(verbosity=2)
