"""End to end: Osprey as a drop-in X-Ray daemon.

The real `aws-xray-sdk-core` npm SDK (node, AWS_XRAY_DAEMON_ADDRESS) sends segments with
subsegments, annotations, metadata and errors over UDP, and fetches sampling rules and
targets through the TCP proxy; the strict compatible endpoint checks every
PutTraceSegments request (SigV4 "xray", the botocore model, every document) and every
proxied sampling call (SigV4 too: an unsigned forward would be refused). Bad datagrams
from Python are counted per reason while the listener keeps serving; during an outage
segments wait, and what cannot wait is counted, so delivered + dropped == sent. Finally
`osprey xray-daemon` runs with the daemon's flags."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from aws_endpoint import EndpointTestCase, REGION, SOURCE_DIR, agent_env  # noqa: E402
import harness  # noqa: E402

HEADER = b'{"format":"json","version":1}\n'
NODE = "/usr/bin/node"

# The SDK client: phase 1 sends `n` segments (each with a subsegment, annotations,
# metadata; every third subsegment holds an error, every fifth segment a fault), then
# `n` more with streaming on (subsegments sent as standalone documents); it fetches the
# sampling rules and targets through the daemon address, and asks the SDK's own sampler
# for a decision once its rule poller has the rules. Prints one JSON line.
SDK_SCRIPT = r"""
const path = require('path');
const nm = path.join(process.env.OSPREY_SOURCE_DIR, 'tests', 'npm', 'node_modules');
const AWSXRay = require(path.join(nm, 'aws-xray-sdk-core'));
const sampling = path.join(nm, 'aws-xray-sdk-core', 'dist', 'lib', 'middleware', 'sampling');
const connector = require(path.join(sampling, 'service_connector'));
const mode = process.env.OSPREY_SDK_MODE;
const n = parseInt(process.env.OSPREY_SDK_COUNT || '0', 10);
AWSXRay.setLogger({error: () => {}, warn: () => {}, info: () => {}, debug: () => {}});
const out = {sent: [], rules: null, rules_error: null, targets: null, targets_error: null};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function one(i, streamed) {
  const seg = new AWSXRay.Segment('osprey-sdk-test');
  seg.addAnnotation('n', i);
  seg.addAnnotation('phase', streamed ? 'streamed' : 'whole');
  seg.addMetadata('payload', {i: i, text: 'hello'}, 'osprey');
  const sub = seg.addNewSubsegment('work-' + i);
  sub.addAnnotation('step', 'one');
  if (i % 3 === 0) sub.addError(new Error('boom ' + i));
  // A subsegment closed while another is open is streamed (threshold 0) as a
  // standalone document.
  const hold = streamed ? seg.addNewSubsegment('hold') : null;
  sub.close();
  if (hold) hold.close();
  if (i % 5 === 0) seg.addFaultFlag();
  out.sent.push({id: seg.id, trace_id: seg.trace_id, sub_id: sub.id, streamed: streamed});
  seg.close();
}

function rules() {
  return new Promise((resolve) => connector.fetchSamplingRules((err, r) => resolve([err, r])));
}
function targets(r) {
  return new Promise((resolve) => connector.fetchTargets(r, (err, t) => resolve([err, t])));
}

(async () => {
  if (mode === 'segments') {
    for (let i = 0; i < n; i++) { one(i, false); if (i % 20 === 19) await sleep(5); }
    AWSXRay.setStreamingThreshold(0);
    for (let i = n; i < 2 * n; i++) { one(i, true); if (i % 20 === 19) await sleep(5); }
    await sleep(300);  // let dgram flush
  }
  if (mode === 'sampling' || mode === 'segments') {
    const [err, r] = await rules();
    if (err) { out.rules_error = String(err.message || err); }
    else {
      out.rules = r.map((x) => x.getName());
      const [terr, t] = await targets(r);
      if (terr) out.targets_error = String(terr.message || terr); else out.targets = t;
    }
  }
  if (mode === 'sampler') {
    // The SDK's own sampler starts its pollers on the first decision, then matches the
    // centralized rule once the poller has fetched it.
    const sampler = AWSXRay.middleware && AWSXRay.middleware.sampler
      ? AWSXRay.middleware.sampler : require(path.join(sampling, 'default_sampler'));
    const req = {host: 'h', httpMethod: 'GET', urlPath: '/x', serviceName: 'osprey-sdk-test'};
    sampler.shouldSample(req);
    const ruleCache = require(path.join(sampling, 'rule_cache'));
    for (let k = 0; k < 100 && !(ruleCache.getRules() || []).length; k++) await sleep(50);
    out.rules = (ruleCache.getRules() || []).map((x) => x.getName());
    out.matched = sampler.shouldSample(req);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
})();
"""


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (the daemon's one address)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


RULE = {"RuleName": "r1", "ResourceARN": "*", "Priority": 1, "FixedRate": 1.0,
        "ReservoirSize": 5, "ServiceName": "*", "ServiceType": "*", "Host": "*",
        "HTTPMethod": "*", "URLPath": "*", "Version": 1, "Attributes": {}}


def segment(n, trace="1-58406520-a006649127e371903a2de979"):
    return json.dumps({"name": "py", "id": "%016x" % (0xa000000000000000 + n), "trace_id": trace,
                       "start_time": time.time(), "end_time": time.time() + 0.01,
                       "annotations": {"n": n}}).encode()


class XRayDaemon(EndpointTestCase):
    def config(self, port, traces=None, osprey=None):
        t = {"endpoint_override": self.endpoint.url,
             "traces_collected": {"xray": {"bind_address": "127.0.0.1:%d" % port,
                                           "tcp_proxy": {"bind_address": "127.0.0.1:%d" % port}}}}
        t.update(traces or {})
        o = {"summary_interval": 1, "shutdown_deadline": 10,
             "state_dir": tempfile.mkdtemp(prefix="osprey-xray-state-")}
        o.update(osprey or {})
        return {"agent": {"region": REGION}, "traces": t, "osprey": o}

    def start_daemon(self, cfg):
        self.start_agent(cfg)
        for needle in ("listening for X-Ray segments", "sampling proxy on TCP"):
            self.assertTrue(self.agent.wait_for_log(needle, 20), self.agent.log())

    def stop_daemon(self):
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        return self.agent.log()

    def node(self, port, mode, n=0):
        env = dict(os.environ, AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:%d" % port,
                   OSPREY_SOURCE_DIR=SOURCE_DIR, OSPREY_SDK_MODE=mode, OSPREY_SDK_COUNT=str(n))
        env.pop("AWS_XRAY_CONTEXT_MISSING", None)
        p = subprocess.run([NODE, "-e", SDK_SCRIPT], env=env,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return json.loads(p.stdout.decode().strip().splitlines()[-1])

    def segments(self):
        return self.endpoint.get("segments")["segments"]

    def wait_endpoint_back(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.endpoint.get("health")
            except OSError:
                time.sleep(0.2)
        self.fail("the endpoint did not come back")

    def wait_segments(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            segs = self.segments()
            if len(segs) >= count:
                return segs
            time.sleep(0.2)
        return self.segments()

    def summary(self, log):
        """(collected, collector drops, reasons, delivered, exporter drops) of the final line."""
        line = [x for x in log.splitlines() if "final collected:" in x][-1]
        collected, delivered = line.split("| delivered:")[0], line.split("| delivered:")[1]
        m = re.search(r" xray=(\d+)((?:\([a-z_]+ \d+\))*)", collected)
        self.assertIsNotNone(m, line)
        reasons = dict((k, int(v)) for k, v in re.findall(r"\(([a-z_]+) (\d+)\)", m.group(2)))
        d = re.search(r" xray=(\d+)(?:\(dropped (\d+)\))?", delivered)
        self.assertIsNotNone(d, line)
        return (int(m.group(1)), reasons.get("dropped", 0), reasons, int(d.group(1)),
                int(d.group(2) or 0))

    # -- the SDK -----------------------------------------------------------------------

    def test_sdk_segments_and_centralized_sampling(self):
        self.endpoint.post("sampling", {"rules": [RULE], "reservoir_quota": 3})
        port = free_port()
        self.start_daemon(self.config(port))
        n = 60
        out = self.node(port, "segments", n)
        sent = out["sent"]
        self.assertEqual(len(sent), 2 * n)

        # Phase 1: one document per segment, subsegment inside. Phase 2 (streaming): the
        # subsegment as a standalone document plus the segment.
        want = n + 2 * n
        segs = self.wait_segments(want)
        by_id = {}
        for s in segs:
            by_id.setdefault(s["id"], []).append(s)
        for i, info in enumerate(sent):
            docs = by_id.get(info["id"], [])
            self.assertTrue(docs, "segment %d (%s) missing" % (i, info["id"]))
            doc = [d for d in docs if d["type"] == "segment"][-1]["document"]
            self.assertEqual(doc["trace_id"], info["trace_id"])
            self.assertEqual(doc["annotations"]["n"], i)
            self.assertEqual(doc["metadata"]["osprey"]["payload"], {"i": i, "text": "hello"})
            self.assertEqual(doc.get("fault", False), i % 5 == 0)
            if not info["streamed"]:
                sub = doc["subsegments"][0]
            else:
                subs = [d for d in by_id.get(info["sub_id"], []) if d["type"] == "subsegment"]
                self.assertTrue(subs, "streamed subsegment of %d missing" % i)
                sub = subs[-1]["document"]
                self.assertEqual(sub["parent_id"], info["id"])
                self.assertEqual(sub["trace_id"], info["trace_id"])
            self.assertEqual(sub["name"], "work-%d" % i)
            self.assertEqual(sub["annotations"]["step"], "one")
            if i % 3 == 0:
                self.assertTrue(sub["fault"] or sub["error"], sub)
                self.assertEqual(sub["cause"]["exceptions"][0]["message"], "boom %d" % i)
        reqs = self.endpoint.get("requests", operation="PutTraceSegments")["requests"]
        self.assertTrue(reqs)
        self.assertTrue(all(r["status"] == 200 for r in reqs), reqs)

        # Sampling went through the proxy, signed, and came back to the SDK.
        self.assertIn("r1", out["rules"])
        self.assertIsNone(out["targets_error"])
        self.assertEqual(out["targets"]["r1"]["quota"], 3)
        for op in ("GetSamplingRules", "GetSamplingTargets"):
            calls = self.endpoint.get("requests", operation=op)["requests"]
            self.assertTrue(calls, op)
            self.assertEqual(calls[-1]["status"], 200, calls[-1])
            self.assertIn("/xray/aws4_request", calls[-1]["headers"]["authorization"])
        stats = self.endpoint.get("sampling")
        self.assertTrue(any(d["RuleName"] == "r1" and len(d["ClientID"]) == 24
                            for st in stats["statistics"] for d in st["documents"]), stats)

        # The SDK's own sampler, with its poller, decides with the centralized rule.
        dec = self.node(port, "sampler")
        self.assertIn("r1", dec["rules"])
        self.assertTrue(dec["matched"])

        # The endpoint unreachable: rules from the last answer, targets refused (503).
        self.endpoint.post("refuse", {"seconds": 4, "close_connections": True})
        out = self.node(port, "sampling")
        self.assertEqual(out["rules_error"], None, out)
        self.assertIn("r1", out["rules"])
        self.assertIsNotNone(out["targets_error"])
        log = self.stop_daemon()
        self.wait_endpoint_back()
        self.assertIn("answering with the last rules", log)
        collected, dropped, _, delivered, exp_dropped = self.summary(log)
        self.assertEqual((collected, dropped, delivered, exp_dropped), (want, 0, want, 0), log)

    def test_proxy_refuses_what_it_cannot_forward(self):
        import http.client
        port = free_port()
        self.start_daemon(self.config(port))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/GetSamplingRules")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "POST")
        # Same connection (keep-alive): a signed forward, X-Ray's answer back.
        c.request("POST", "/GetSamplingRules", body=b"{}",
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        self.assertEqual(r.status, 200)
        self.assertIn("SamplingRuleRecords", body)
        # X-Ray's own error comes back as it is.
        c.request("POST", "/SamplingTargets", body=b'{"SamplingStatisticsDocuments": 5}',
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 400)
        self.assertEqual(r.getheader("x-amzn-ErrorType").split(":")[0], "SerializationException")
        c.close()
        # Transfer codings other than chunked are refused with 501, and the connection closed.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"POST /GetSamplingRules HTTP/1.1\r\nHost: x\r\n"
                        b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            answer = b""
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 501 Not Implemented\r\n"), answer)
        self.assertIn(b"Connection: close", answer)
        log = self.stop_daemon()
        self.assertRegex(log, r"sampling proxy: 3 requests \(2 forwarded, 0 from the rules cache, "
                              r"0 answered 503\), 1 refused as malformed")

    # -- bad input ---------------------------------------------------------------------

    def test_bad_datagrams_counted_listener_keeps_serving(self):
        port = free_port()
        self.start_daemon(self.config(port))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        addr = ("127.0.0.1", port)
        bad = [
            (b'{"format":"xml","version":1}\n' + segment(0), "bad_header"),
            (b'{"format":"json","version":2}\n' + segment(0), "bad_header"),
            (segment(0), "no_separator"),
            (HEADER, "empty_body"),
            (HEADER + b"{not json", "not_json"),
            (HEADER + b"[1,2,3]", "not_object"),
            (HEADER + json.dumps({"name": "x", "id": "abc"}).encode(), "bad_id"),
            (HEADER + json.dumps({"name": "x!", "id": "a" * 16}).encode(), "bad_name"),
        ]
        good = 0
        for i, (payload, _) in enumerate(bad):
            s.sendto(payload, addr)
            s.sendto(HEADER + segment(100 + i), addr)  # interleaved good ones still go through
            good += 1
            time.sleep(0.01)
        # The largest datagram IPv4 carries (65,507 bytes) arrives whole and is delivered.
        big = json.loads(segment(999))
        big["metadata"] = {"pad": {"x": ""}}
        raw = json.dumps(big).encode()
        big["metadata"]["pad"]["x"] = "p" * (65507 - len(HEADER) - len(raw))
        big_bytes = HEADER + json.dumps(big).encode()
        self.assertEqual(len(big_bytes), 65507)
        s.sendto(big_bytes, addr)
        good += 1
        # Anything larger cannot even be sent: the kernel refuses it (EMSGSIZE), so the
        # 64 KiB receive slots can never truncate a datagram over IPv4.
        with self.assertRaises(OSError):
            s.sendto(HEADER + b" " * 70000, addr)
        segs = self.wait_segments(good)
        self.assertEqual(sorted(x["document"]["annotations"]["n"] for x in segs),
                         [100 + i for i in range(len(bad))] + [999])
        self.assertEqual(len([x for x in segs if x["document"]["annotations"]["n"] == 999][0]["raw"]),
                         len(big_bytes) - len(HEADER))
        log = self.stop_daemon()
        collected, dropped, reasons, delivered, _ = self.summary(log)
        self.assertEqual(collected, good)
        self.assertEqual(delivered, good)
        expect = {}
        for _, reason in bad:
            expect[reason] = expect.get(reason, 0) + 1
        self.assertEqual(dropped, len(bad), log)
        for reason, count in expect.items():
            self.assertEqual(reasons.get(reason), count, (reason, log))
        self.assertIn("invalid segment datagram", log)

    # -- outage ------------------------------------------------------------------------

    def test_outage_delivered_plus_dropped_is_sent(self):
        port = free_port()
        # A small ring and one batch in flight plus one queued: during a long throttling
        # spell the export side fills, then the ring, then the listener drops and counts.
        cfg = self.config(port, osprey={"ring_bytes": 65536,
                                        "sinks": {"xray": {"max_in_flight": 1,
                                                           "max_queued_batches": 1}}})
        self.endpoint.faults({"kind": "throttle", "count": 100000, "operation": "PutTraceSegments"})
        self.start_daemon(cfg)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        sent = 1500
        for i in range(sent):
            s.sendto(HEADER + segment(i), ("127.0.0.1", port))
            if i % 50 == 49:
                time.sleep(0.01)
        # Let the listener read everything, then end the outage.
        self.assertTrue(self.agent.wait_for_log("dropping segments", 20), self.agent.log())
        time.sleep(1)
        self.endpoint.control("DELETE", "faults")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            log = self.agent.log()
            lines = [x for x in log.splitlines() if "summary collected:" in x]
            if lines:
                m = re.search(r"collected: xray=(\d+)", lines[-1])
                d = re.search(r"delivered: xray=(\d+)", lines[-1])
                if m and d and m.group(1) == d.group(1) and "ring 0.0%" in lines[-1]:
                    break
            time.sleep(0.5)
        log = self.stop_daemon()
        collected, dropped, reasons, delivered, exp_dropped = self.summary(log)
        ids = set(x["id"] for x in self.segments())
        self.assertEqual(len(ids), delivered, log)
        self.assertGreater(reasons.get("dropped", 0), 0, log)  # the ring did fill up
        self.assertEqual(exp_dropped, 0, log)  # nothing given up at the export side
        self.assertEqual(delivered + dropped, sent, log)
        self.assertEqual(collected, delivered, log)
        throttled = [r for r in self.endpoint.get("requests", operation="PutTraceSegments")["requests"]
                     if r["status"] == 429]
        self.assertTrue(throttled)

    # -- the daemon's command line -----------------------------------------------------

    def test_xray_daemon_command_line(self):
        port = free_port()
        env = agent_env()
        env["AWS_ENDPOINT_URL_XRAY"] = self.endpoint.url
        work = tempfile.mkdtemp(prefix="osprey-xray-cli-")
        log_path = os.path.join(work, "daemon.log")  # -f
        err_path = os.path.join(work, "stderr.log")
        with open(err_path, "wb") as err:
            p = subprocess.Popen([harness.OSPREY_BIN, "xray-daemon", "-b", "127.0.0.1:%d" % port,
                                  "--bind-tcp", "127.0.0.1:%d" % port, "-n", "us-east-1", "-o",
                                  "-l", "dev", "-m", "8", "-a", "arn:aws:ec2:x", "-f", log_path],
                                 stdout=err, stderr=err, env=env, cwd=work)
        try:
            deadline = time.monotonic() + 20
            text = ""
            # Both listeners: the proxy starts on the export loop, the UDP receiver on the
            # collect loop, in either order (a datagram sent before the bind is lost).
            while time.monotonic() < deadline and not (
                    "sampling proxy on TCP" in text and "listening for X-Ray segments" in text):
                time.sleep(0.1)
                if os.path.exists(log_path):
                    with open(log_path, errors="replace") as f:
                        text = f.read()
            self.assertIn("sampling proxy on TCP", text)
            self.assertIn("listening for X-Ray segments", text)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(s.close)
            for i in range(3):
                s.sendto(HEADER + segment(i), ("127.0.0.1", port))
            segs = self.wait_segments(3)
            self.assertEqual(sorted(x["document"]["annotations"]["n"] for x in segs), [0, 1, 2])
            out = self.node(port, "sampling")
            self.assertIsNotNone(out["rules"], out)
        finally:
            p.send_signal(signal.SIGTERM)
            code = p.wait(timeout=30)
        with open(log_path, errors="replace") as f:
            text = f.read()
        with open(err_path, errors="replace") as f:
            err_text = f.read()
        self.assertEqual(code, 0, text + err_text)
        self.assertIn("stopped cleanly", text)
        self.assertIn("debug xray: sampling request '/GetSamplingRules' forwarded: HTTP 200",
                      text)  # -l dev
        self.assertIn("ignoring it", err_text)  # -a

        def run(*args, env_=None):
            return subprocess.run([harness.OSPREY_BIN, "xray-daemon", *args], capture_output=True,
                                  env=env_ or agent_env(), timeout=30)
        r = run("-c", "/etc/amazon/xray/cfg.yaml")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"YAML configuration is not supported", r.stderr)
        r = run("-m", "2", "-n", "us-east-1")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"at least 3", r.stderr)
        r = run("-v")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"X-Ray daemon compatible", r.stdout)
        r = run("--bogus")
        self.assertEqual(r.returncode, 2)
        r = run("-b", "127.0.0.1:%d" % port)  # no region anywhere
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"cannot determine the region", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
