"""Self-test of the Osprey test endpoint.

Run:  /usr/bin/python3 -m unittest discover -s tests/endpoint -p 'test_*.py' -v

1. botocore's own clients (real serializers, real SigV4 signer, real
   response parsers) call every implemented operation and must succeed; the
   control API must show exactly what was sent.
2. Hand-built HTTP requests, signed with botocore.auth.SigV4Auth and then
   broken on purpose, must be refused with the codes AWS uses.
3. Fault injection, credential endpoints, the CLI, and the aws-c-auth SigV4
   test vectors against the verifier.
"""

import calendar
import datetime
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import botocore.session  # noqa: E402
from botocore import UNSIGNED  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.utils import ContainerMetadataFetcher, InstanceMetadataFetcher  # noqa: E402

from awsendpoint import sigv4  # noqa: E402
from awsendpoint.app import App  # noqa: E402
from awsendpoint.httpserver import Listener  # noqa: E402

MODELS = os.path.join(HERE, "models")
VECTORS = os.path.join(HERE, "testdata", "sigv4")
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
SEG = {"name": "svc", "id": "70de5b6f19ff9a0a", "trace_id": "1-58406520-a006649127e371903a2de979",
       "start_time": 1480615200.010, "end_time": 1480615200.090}

_server = {}


def setUpModule():
    app = App(regions=[REGION])
    listener = Listener(app, "api", "127.0.0.1", 0)
    listener.start()
    app.listeners["api"] = listener
    tmp = tempfile.mkdtemp(prefix="osprey-ep-test-")
    # The shipped CloudWatch model prefers smithy-rpc-v2-cbor, which Debian's
    # botocore cannot speak; the same model with protocol set to query / json
    # drives botocore's QuerySerializer / JSONSerializer.
    for proto in ("query", "json"):
        d = os.path.join(tmp, proto, "cloudwatch", "2010-08-01")
        os.makedirs(d)
        with open(os.path.join(MODELS, "cloudwatch", "2010-08-01", "service-2.json")) as f:
            model = json.load(f)
        model["metadata"]["protocol"] = proto
        with open(os.path.join(d, "service-2.json"), "w") as f:
            json.dump(model, f)
    _server.update(app=app, listener=listener, port=listener.port, tmp=tmp)


def tearDownModule():
    _server["listener"].stop()
    shutil.rmtree(_server["tmp"], ignore_errors=True)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.app = _server["app"]
        self.port = _server["port"]
        self.url = "http://127.0.0.1:%d" % self.port
        self.control("POST", "/_control/reset", {"config": True})
        self._clients = []

    def tearDown(self):
        for c in self._clients:
            c.close()

    # -- helpers -----------------------------------------------------------
    def client(self, service, variant=None, akid=AKID, secret=SECRET, token=None, unsigned=False, **cfg):
        session = botocore.session.Session()
        paths = session.get_component("data_loader").search_paths
        paths.insert(0, MODELS)
        if variant:
            paths.insert(0, os.path.join(_server["tmp"], variant))
        config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=15,
                        signature_version=UNSIGNED if unsigned else None, **cfg)
        client = session.create_client(service, region_name=REGION, endpoint_url=self.url,
                                       aws_access_key_id=akid, aws_secret_access_key=secret,
                                       aws_session_token=token, config=config)
        self._clients.append(client)
        return client

    def raw(self, method, path, body=b"", headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
        except Exception:
            c.close()
            raise
        if conn is None:
            c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def control(self, method, path, doc=None):
        body = json.dumps(doc).encode() if doc is not None else b""
        status, _, data = self.raw(method, path, body, {"Content-Type": "application/json"})
        self.assertLess(status, 300, data)
        return json.loads(data)

    def signed(self, method, path, body, headers, service, region=REGION, akid=AKID, secret=SECRET, token=None,
               mutate=None, sign_service=None):
        """Sign with botocore's SigV4Auth, optionally tamper, send raw."""
        if isinstance(body, str):
            body = body.encode()
        req = AWSRequest(method=method, url=self.url + path, data=body, headers=dict(headers))
        SigV4Auth(Credentials(akid, secret, token), sign_service or service, region).add_auth(req)
        hdrs = dict(req.headers.items())
        if mutate:
            body, hdrs = mutate(body, hdrs)
        return self.raw(method, path, body, hdrs)

    def query(self, params, service="monitoring", **kw):
        body = urllib.parse.urlencode(params)
        return self.signed("POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                           service, **kw)

    def logs_call(self, op, doc, **kw):
        body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
        return self.signed("POST", "/", body, {"Content-Type": "application/x-amz-json-1.1",
                                               "X-Amz-Target": "Logs_20140328." + op}, "logs", **kw)

    def xml_code(self, data):
        text = data.decode()
        return text.split("<Code>")[1].split("</Code>")[0]

    def json_code(self, data):
        return json.loads(data)["__type"].split("#")[-1]

    def assertClientError(self, code, fn, *a, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(*a, **kw)
        self.assertEqual(cm.exception.response["Error"]["Code"], code, cm.exception.response)
        return cm.exception.response

    def make_log_stream(self, group="/osprey/test", stream="s1", retention=None):
        doc = {"name": group, "streams": [stream]}
        if retention:
            doc["retention_days"] = retention
        self.control("POST", "/_control/logs/groups", doc)


# ---------------------------------------------------------------------------
class CloudWatchTest(Base):
    def _put_all_shapes(self, cw):
        ts = now_utc().replace(microsecond=0)
        cw.put_metric_data(Namespace="Osprey/Test", MetricData=[
            {"MetricName": "Latency", "Dimensions": [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "a"}],
             "Timestamp": ts, "Value": 12.5, "Unit": "Milliseconds", "StorageResolution": 1},
            {"MetricName": "Stats", "StatisticValues": {"SampleCount": 3, "Sum": 6, "Minimum": 1, "Maximum": 3}},
            {"MetricName": "Dist", "Values": [1.0, 2.5], "Counts": [4, 1], "Unit": "Count"},
            {"MetricName": "Both", "Values": [1.0], "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1,
                                                                       "Maximum": 1}},
        ])
        return ts

    def test_put_metric_data_query_and_json(self):
        for proto in ("query", "json"):
            self.control("POST", "/_control/reset", {})
            ts = self._put_all_shapes(self.client("cloudwatch", proto))
            m = self.control("GET", "/_control/metrics?namespace=Osprey/Test")["metrics"]
            self.assertEqual([x["metric_name"] for x in m], ["Latency", "Stats", "Dist", "Both"])
            self.assertEqual(m[0]["dimensions"], [{"Name": "Host", "Value": "h1"}, {"Name": "Az", "Value": "a"}])
            self.assertEqual(m[0]["timestamp"], ts.timestamp())
            self.assertEqual((m[0]["value"], m[0]["unit"], m[0]["storage_resolution"]), (12.5, "Milliseconds", 1))
            self.assertEqual(m[1]["statistic_values"], {"SampleCount": 3.0, "Sum": 6.0, "Minimum": 1.0,
                                                        "Maximum": 3.0})
            self.assertEqual((m[2]["values"], m[2]["counts"]), ([1.0, 2.5], [4.0, 1.0]))
            self.assertTrue(all(x["protocol"] == proto for x in m))
            req = self.control("GET", "/_control/requests?operation=PutMetricData")["requests"][-1]
            if proto == "json":
                self.assertEqual(req["headers"]["x-amz-target"], "GraniteServiceVersion20100801.PutMetricData")
            self.assertEqual(req["status"], 200)

    def test_validation_errors_both_protocols(self):
        old = now_utc() - datetime.timedelta(days=15)
        cases = [
            ([{"MetricName": "m", "Value": 1, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1,
                                                                  "Maximum": 1}}], "InvalidParameterCombination"),
            ([{"MetricName": "m", "Value": 1, "Values": [1]}], "InvalidParameterCombination"),
            ([{"MetricName": "m", "Values": [1, 2], "Counts": [1]}], "InvalidParameterValue"),
            ([{"MetricName": "m", "Value": 2.0 ** 361}], "InvalidParameterValue"),
            ([{"MetricName": "m", "Value": 1, "StorageResolution": 30}], "InvalidParameterValue"),
            ([{"MetricName": "m", "Value": 1, "Unit": "Furlongs"}], "InvalidParameterValue"),
            ([{"MetricName": "m", "Value": 1, "Timestamp": old}], "InvalidParameterValue"),
            ([{"MetricName": "m", "Value": 1, "Dimensions": [{"Name": "d%d" % i, "Value": "v"} for i in range(31)]}],
             "InvalidParameterValue"),
            ([{"MetricName": "m", "Values": [float(i) for i in range(151)]}], "InvalidParameterValue"),
            ([{"MetricName": "m", "Value": 1, "Dimensions": [{"Name": "d", "Value": "caf\u00e9"}]}],
             "InvalidParameterValue"),
            ([{"MetricName": "m", "Value": 1, "Dimensions": [{"Name": "d"}]}], "MissingParameter"),
            ([{"MetricName": "m%d" % i, "Value": 1} for i in range(1001)], "InvalidParameterValue"),
        ]
        for proto in ("query", "json"):
            cw = self.client("cloudwatch", proto, parameter_validation=False)
            for data, code in cases:
                with self.subTest(proto=proto, data=str(data)[:80]):
                    r = self.assertClientError(code, cw.put_metric_data, Namespace="Osprey/Test", MetricData=data)
                    self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
            self.assertClientError("InvalidParameterValue", cw.put_metric_data, Namespace="AWS/EC2",
                                   MetricData=[{"MetricName": "m", "Value": 1}])
        self.assertEqual(self.control("GET", "/_control/metrics")["metrics"], [])

    def test_query_wire_errors(self):
        base = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "N",
                "MetricData.member.1.MetricName": "m"}
        status, _, data = self.query(dict(base, **{"MetricData.member.1.Value": "abc"}))
        self.assertEqual((status, self.xml_code(data)), (400, "InvalidParameterValue"))
        status, _, data = self.query({k: v for k, v in base.items() if k != "Namespace"})
        self.assertEqual((status, self.xml_code(data)), (400, "MissingParameter"))
        self.assertIn("The parameter Namespace is required.", data.decode())
        status, _, data = self.query(dict(base, **{"MetricData.member.1.Valu": "1"}))
        self.assertEqual((status, self.xml_code(data)), (400, "InvalidParameterValue"))
        status, _, data = self.query(dict(base, **{"MetricData.member.3.MetricName": "gap"}))
        self.assertEqual((status, self.xml_code(data)), (400, "InvalidParameterValue"))
        status, _, data = self.query(dict(base, Action="PutNothing"))
        self.assertEqual((status, self.xml_code(data)), (400, "InvalidAction"))
        status, _, data = self.query(dict(base, **{"MetricData.member.1.Value": "NaN"}))
        self.assertIn("The value NaN for parameter MetricData.member.1.Value is invalid.", data.decode())
        status, _, data = self.query(dict(base, **{"MetricData.member.1.Value": "1"}))
        self.assertEqual(status, 200, data)
        self.assertIn(b"<PutMetricDataResponse", data)

    def test_json_error_has_query_error_header(self):
        body = json.dumps({"Namespace": "N", "MetricData": [{"MetricName": "m", "Value": 1, "Values": [1]}]})
        status, headers, data = self.signed("POST", "/", body, {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}, "monitoring")
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-query-error"], "InvalidParameterCombination;Sender")
        self.assertEqual(self.json_code(data), "InvalidParameterCombinationException")

    def test_gzip_body_and_size_limit(self):
        params = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "Osprey/Gz"}
        for i in range(200):
            params["MetricData.member.%d.MetricName" % (i + 1)] = "metric_%d" % i
            params["MetricData.member.%d.Value" % (i + 1)] = str(i)
        raw = urllib.parse.urlencode(params).encode()
        status, _, data = self.signed("POST", "/", gzip.compress(raw), {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Content-Encoding": "gzip"},
            "monitoring")
        self.assertEqual(status, 200, data)
        m = self.control("GET", "/_control/metrics?namespace=Osprey/Gz")["metrics"]
        self.assertEqual(len(m), 200)
        self.assertEqual(m[0]["content_encoding"], "gzip")
        # > 1 MB uncompressed is refused even though it compresses to a few KB
        big = dict(params)
        big["MetricData.member.1.Dimensions.member.1.Name"] = "d"
        big["MetricData.member.1.Dimensions.member.1.Value"] = "x" * 1024
        filler = urllib.parse.urlencode(big).encode()
        pad = b"&" + b"&".join(b"MetricData.member.%d.Dimensions.member.1.Name=d&MetricData.member.%d.Dimensions."
                               b"member.1.Value=" % (i, i) + b"y" * 1000 for i in range(2, 200))
        body = filler + pad * 6
        self.assertGreater(len(body), 1048576)
        status, _, data = self.signed("POST", "/", gzip.compress(body), {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Content-Encoding": "gzip"},
            "monitoring")
        self.assertEqual((status, self.xml_code(data)), (413, "RequestEntityTooLarge"))
        status, _, data = self.signed("POST", "/", b"\x1f\x8bnot-gzip", {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Content-Encoding": "gzip"},
            "monitoring")
        self.assertEqual(status, 400)


# ---------------------------------------------------------------------------
class LogsTest(Base):
    def test_lifecycle_and_put(self):
        logs = self.client("logs")
        logs.create_log_group(logGroupName="/osprey/app", tags={"team": "obs"})
        self.assertClientError("ResourceAlreadyExistsException", logs.create_log_group, logGroupName="/osprey/app")
        self.assertClientError("ResourceNotFoundException", logs.create_log_stream, logGroupName="/nope",
                               logStreamName="s")
        logs.create_log_stream(logGroupName="/osprey/app", logStreamName="i-0abc")
        self.assertClientError("ResourceAlreadyExistsException", logs.create_log_stream,
                               logGroupName="/osprey/app", logStreamName="i-0abc")
        logs.put_retention_policy(logGroupName="/osprey/app", retentionInDays=7)
        self.assertClientError("InvalidParameterException", logs.put_retention_policy,
                               logGroupName="/osprey/app", retentionInDays=2)
        g = logs.describe_log_groups(logGroupNamePrefix="/osprey")["logGroups"]
        self.assertEqual([(x["logGroupName"], x["retentionInDays"]) for x in g], [("/osprey/app", 7)])
        ms = int(time.time() * 1000)
        r = logs.put_log_events(logGroupName="/osprey/app", logStreamName="i-0abc", sequenceToken="ignored",
                                logEvents=[{"timestamp": ms - 1000, "message": "one"},
                                           {"timestamp": ms, "message": "tw\u00f6"}])
        self.assertNotIn("rejectedLogEventsInfo", r)
        s = logs.describe_log_streams(logGroupName="/osprey/app")["logStreams"]
        self.assertEqual(s[0]["logStreamName"], "i-0abc")
        self.assertEqual((s[0]["firstEventTimestamp"], s[0]["lastEventTimestamp"]), (ms - 1000, ms))
        s = logs.describe_log_streams(logGroupIdentifier="arn:aws:logs:us-east-1:123456789012:log-group:/osprey/app",
                                      orderBy="LastEventTime", descending=True)["logStreams"]
        self.assertEqual(len(s), 1)
        ev = self.control("GET", "/_control/logs?group=/osprey/app&stream=i-0abc")["events"]
        self.assertEqual([(e["timestamp"], e["message"]) for e in ev], [(ms - 1000, "one"), (ms, "tw\u00f6")])
        self.assertClientError("ResourceNotFoundException", logs.put_log_events, logGroupName="/osprey/app",
                               logStreamName="other", logEvents=[{"timestamp": ms, "message": "x"}])

    def test_pagination(self):
        self.control("POST", "/_control/logs/groups", {"name": "/p", "streams": ["s%02d" % i for i in range(7)]})
        logs = self.client("logs")
        names, token = [], None
        while True:
            kw = {"nextToken": token} if token else {}
            r = logs.describe_log_streams(logGroupName="/p", limit=3, **kw)
            names += [s["logStreamName"] for s in r["logStreams"]]
            token = r.get("nextToken")
            if not token:
                break
        self.assertEqual(names, ["s%02d" % i for i in range(7)])

    def test_rejected_events_and_batch_rules(self):
        self.make_log_stream(retention=3)
        logs = self.client("logs")
        ms = int(time.time() * 1000)
        day = 86400000
        r = logs.put_log_events(logGroupName="/osprey/test", logStreamName="s1", logEvents=[
            {"timestamp": ms - 15 * day, "message": "too old"},
            {"timestamp": ms - 4 * day, "message": "expired by retention"},
            {"timestamp": ms, "message": "ok"},
            {"timestamp": ms + 3 * 3600000, "message": "too new"}])
        self.assertEqual(r["rejectedLogEventsInfo"], {"tooOldLogEventEndIndex": 1, "expiredLogEventEndIndex": 2,
                                                      "tooNewLogEventStartIndex": 3})
        ev = self.control("GET", "/_control/logs?group=/osprey/test")["events"]
        self.assertEqual([e["message"] for e in ev], ["ok"])

        def fails(events, needle):
            resp = self.assertClientError("InvalidParameterException", logs.put_log_events,
                                          logGroupName="/osprey/test", logStreamName="s1", logEvents=events)
            self.assertIn(needle, resp["Error"]["Message"])

        fails([{"timestamp": ms, "message": "b"}, {"timestamp": ms - 1, "message": "a"}], "chronological order")
        fails([{"timestamp": ms - 25 * 3600000, "message": "a"}, {"timestamp": ms, "message": "b"}], "24 hours")
        fails([{"timestamp": ms, "message": "x" * 1048551}], "Log event too large")
        fails([{"timestamp": ms, "message": "x" * 600000}, {"timestamp": ms, "message": "y" * 448525}],
              "Upload too large: 1048577 bytes exceeds limit of 1048576")
        # exactly at the limit: 1,048,550 bytes + 26 overhead = 1,048,576
        logs.put_log_events(logGroupName="/osprey/test", logStreamName="s1",
                            logEvents=[{"timestamp": ms, "message": "z" * 1048550}])
        fails([{"timestamp": ms, "message": "e"}] * 10001, "less than or equal to 10000")
        self.assertEqual(len(self.control("GET", "/_control/logs?group=/osprey/test")["events"]), 2)

    def test_wire_errors(self):
        self.make_log_stream()
        ms = int(time.time() * 1000)
        ok = {"logGroupName": "/osprey/test", "logStreamName": "s1", "logEvents": [{"timestamp": ms, "message": "m"}]}
        status, _, data = self.logs_call("PutLogEvents", dict(ok, logEvents=[{"timestamp": str(ms), "message": "m"}]))
        self.assertEqual((status, self.json_code(data)), (400, "SerializationException"))
        status, _, data = self.logs_call("PutLogEvents", b'{"logGroupName": ')
        self.assertEqual((status, self.json_code(data)), (400, "SerializationException"))
        status, _, data = self.logs_call("PutLogEvents", dict(ok, logGroupName="bad name"))
        self.assertEqual((status, self.json_code(data)), (400, "InvalidParameterException"))
        self.assertIn("Member must satisfy regular expression pattern", json.loads(data)["message"])
        status, _, data = self.logs_call("PutLogEvents", {k: v for k, v in ok.items() if k != "logEvents"})
        self.assertEqual((status, self.json_code(data)), (400, "InvalidParameterException"))
        self.assertIn("Value null at 'logEvents' failed to satisfy constraint: Member must not be null",
                      json.loads(data)["message"])
        status, _, data = self.logs_call("PutLogEvents", dict(ok, logEvents=[]))
        self.assertEqual((status, self.json_code(data)), (400, "InvalidParameterException"))
        status, _, data = self.logs_call("PutLogEvents", dict(ok, logevents=ok["logEvents"]))
        self.assertEqual((status, self.json_code(data)), (400, "InvalidParameterException"))
        status, _, data = self.logs_call("PutLogEvent", ok)
        self.assertEqual((status, self.json_code(data)), (400, "UnknownOperationException"))
        status, _, data = self.logs_call("PutLogEvents", ok)
        self.assertEqual(status, 200, data)
        gz = gzip.compress(json.dumps(ok).encode())
        status, _, data = self.signed("POST", "/", gz, {"Content-Type": "application/x-amz-json-1.1",
                                                         "X-Amz-Target": "Logs_20140328.PutLogEvents",
                                                         "Content-Encoding": "gzip"}, "logs")
        self.assertEqual(status, 200, data)


# ---------------------------------------------------------------------------
class XRayTest(Base):
    def test_segments(self):
        xr = self.client("xray")
        sub = {"name": "db", "id": "1111111111111111", "trace_id": SEG["trace_id"], "parent_id": SEG["id"],
               "type": "subsegment", "start_time": 1.0, "in_progress": True}
        bad_sub = dict(sub, id="2222222222222222")
        del bad_sub["parent_id"]
        nested_bad = dict(SEG, id="3333333333333333", subsegments=[{"name": "x;y", "id": "4444444444444444",
                                                                    "start_time": 1, "end_time": 2}])
        docs = [json.dumps(SEG), json.dumps(sub), json.dumps(dict(SEG, name="bad;name")), "[]", "{not json",
                json.dumps(dict(SEG, id="5555555555555555", trace_id="1-123")), json.dumps(bad_sub),
                json.dumps({k: v for k, v in SEG.items() if k != "end_time"}), json.dumps(nested_bad)]
        r = xr.put_trace_segments(TraceSegmentDocuments=docs)
        codes = [(u.get("Id"), u["ErrorCode"]) for u in r["UnprocessedTraceSegments"]]
        self.assertEqual(codes, [("70de5b6f19ff9a0a", "InvalidName"), (None, "MissingId"), (None, "InvalidJson"),
                                 ("5555555555555555", "InvalidTraceId"), ("2222222222222222", "MissingParentId"),
                                 ("70de5b6f19ff9a0a", "MissingEndTime"), ("4444444444444444", "InvalidName")])
        self.assertIn("Invalid subsegment. ErrorCode: InvalidName", r["UnprocessedTraceSegments"][-1]["Message"])
        stored = self.control("GET", "/_control/segments")["segments"]
        self.assertEqual([s["document"]["id"] for s in stored], [SEG["id"], sub["id"]])
        self.assertClientError("InvalidRequestException", xr.put_trace_segments,
                               TraceSegmentDocuments=[json.dumps(SEG)] * 51)

    def test_sampling_and_telemetry(self):
        xr = self.client("xray")
        rules = xr.get_sampling_rules()["SamplingRuleRecords"]
        self.assertEqual(rules[0]["SamplingRule"]["RuleName"], "Default")
        self.control("POST", "/_control/sampling", {"rules": [dict(rules[0]["SamplingRule"], RuleName="r1",
                                                                   Priority=1, FixedRate=0.5)],
                                                     "reservoir_quota": 7})
        t = xr.get_sampling_targets(SamplingStatisticsDocuments=[
            {"RuleName": "r1", "ClientID": "a" * 24, "Timestamp": now_utc(), "RequestCount": 5,
             "SampledCount": 2}, {"RuleName": "zz", "ClientID": "a" * 24, "Timestamp": now_utc(),
                                  "RequestCount": 1, "SampledCount": 0}])
        self.assertEqual([(d["RuleName"], d["FixedRate"], d["ReservoirQuota"]) for d in t["SamplingTargetDocuments"]],
                         [("r1", 0.5, 7)])
        self.assertEqual(t["UnprocessedStatistics"][0]["RuleName"], "zz")
        xr = self.client("xray", parameter_validation=False)
        self.assertClientError("InvalidRequestException", xr.get_sampling_targets, SamplingStatisticsDocuments=[
            {"RuleName": "r1", "ClientID": "short", "Timestamp": now_utc(), "RequestCount": 1, "SampledCount": 0}])
        xr.put_telemetry_records(TelemetryRecords=[{"Timestamp": now_utc(), "SegmentsReceivedCount": 3,
                                                    "BackendConnectionErrors": {"TimeoutCount": 1}}],
                                 EC2InstanceId="i-0123", Hostname="h")
        tel = self.control("GET", "/_control/telemetry")["telemetry"]
        self.assertEqual(tel[0]["records"][0]["SegmentsReceivedCount"], 3)


# ---------------------------------------------------------------------------
class StsSnsTest(Base):
    def test_assume_role_credentials_are_accepted_then_expire(self):
        sts = self.client("sts")
        ident = sts.get_caller_identity()
        self.assertEqual(ident["Arn"], "arn:aws:iam::123456789012:user/osprey-test")
        c = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/osprey", RoleSessionName="t1",
                            DurationSeconds=900)["Credentials"]
        self.assertTrue(c["AccessKeyId"].startswith("ASIA"))
        left = (c["Expiration"] - now_utc()).total_seconds()
        self.assertTrue(850 < left <= 900, left)
        sts2 = self.client("sts", akid=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
        self.assertIn(":assumed-role/osprey/t1", sts2.get_caller_identity()["Arn"])
        logs2 = self.client("logs", akid=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
        logs2.describe_log_groups()
        # the same key without its session token is an unknown token
        logs3 = self.client("logs", akid=c["AccessKeyId"], secret=c["SecretAccessKey"])
        self.assertClientError("UnrecognizedClientException", logs3.describe_log_groups)
        self.assertClientError("ValidationError", sts.assume_role, RoleArn="arn:aws:iam::123456789012:role/osprey",
                               RoleSessionName="t1", DurationSeconds=7200)
        self.assertClientError("ValidationError", sts.assume_role, RoleArn="not-an-arn-but-long-enough",
                               RoleSessionName="t1")
        # move the server clock past the expiry
        self.control("POST", "/_control/clock", {"offset_seconds": 901})
        self.assertClientError("ExpiredToken", sts2.get_caller_identity)
        self.assertClientError("ExpiredTokenException", logs2.describe_log_groups)

    def test_web_identity(self):
        sts = self.client("sts", unsigned=True)
        r = sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/irsa",
                                              RoleSessionName="pod", WebIdentityToken="eyJ.token.sig")
        c = r["Credentials"]
        self.client("logs", akid=c["AccessKeyId"], secret=c["SecretAccessKey"],
                    token=c["SessionToken"]).describe_log_groups()
        calls = self.control("GET", "/_control/sts")["calls"]
        self.assertEqual(calls[-1]["web_identity_token"], "eyJ.token.sig")
        self.control("POST", "/_control/sts", {"web_identity_tokens": ["good-token"], "lifetime_seconds": 60})
        self.assertClientError("InvalidIdentityToken", sts.assume_role_with_web_identity,
                               RoleArn="arn:aws:iam::123456789012:role/irsa", RoleSessionName="pod",
                               WebIdentityToken="eyJ.token.sig")
        c = sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/irsa",
                                              RoleSessionName="pod", WebIdentityToken="good-token")["Credentials"]
        left = (c["Expiration"] - now_utc()).total_seconds()
        self.assertTrue(50 < left <= 60, left)
        sts = self.client("sts", unsigned=True, parameter_validation=False)
        self.assertClientError("ValidationError", sts.assume_role_with_web_identity,
                               RoleArn="arn:aws:iam::123456789012:role/irsa", RoleSessionName="p",
                               WebIdentityToken="good-token")

    def test_sns(self):
        sns = self.client("sns")
        arn = sns.create_topic(Name="osprey-alarms")["TopicArn"]
        self.assertEqual(arn, "arn:aws:sns:us-east-1:123456789012:osprey-alarms")
        mid = sns.publish(TopicArn=arn, Subject="ALARM: cpu", Message=json.dumps({"AlarmName": "cpu"}),
                          MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})["MessageId"]
        msgs = self.control("GET", "/_control/sns")["messages"]
        self.assertEqual((msgs[0]["MessageId"], msgs[0]["Subject"]), (mid, "ALARM: cpu"))
        self.assertEqual(msgs[0]["MessageAttributes"], {"k": {"DataType": "String", "StringValue": "v"}})
        self.assertClientError("NotFound", sns.publish, TopicArn=arn + "-missing", Message="x")
        self.assertClientError("InvalidParameter", sns.publish, TopicArn=arn, Message="x" * 262145)
        self.assertClientError("InvalidParameter", sns.publish, TopicArn=arn, Message="x", Subject="a\nb")
        self.assertClientError("InvalidParameter", sns.create_topic, Name="bad name")


# ---------------------------------------------------------------------------
class AuthTest(Base):
    LOGS_OK = {"logGroupNamePrefix": "/"}

    def test_signature_failures_per_protocol(self):
        def wrong_secret(**kw):
            return dict(secret="not-the-secret", **kw)
        # query (CloudWatch), JSON 1.1 (Logs), REST-JSON (X-Ray)
        q = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "N", "MetricData.member.1.MetricName": "m",
             "MetricData.member.1.Value": "1"}
        status, _, data = self.query(q, **wrong_secret())
        self.assertEqual((status, self.xml_code(data)), (403, "SignatureDoesNotMatch"))
        status, _, data = self.logs_call("DescribeLogGroups", self.LOGS_OK, **wrong_secret())
        self.assertEqual((status, self.json_code(data)), (400, "InvalidSignatureException"))
        status, headers, data = self.signed("POST", "/TraceSegments", json.dumps({"TraceSegmentDocuments": []}),
                                            {"Content-Type": "application/json"}, "xray", **wrong_secret())
        self.assertEqual((status, headers["x-amzn-errortype"]), (403, "InvalidSignatureException"))
        # unknown access key
        status, _, data = self.query(q, akid="AKIDUNKNOWN")
        self.assertEqual((status, self.xml_code(data)), (403, "InvalidClientTokenId"))
        status, _, data = self.logs_call("DescribeLogGroups", self.LOGS_OK, akid="AKIDUNKNOWN")
        self.assertEqual((status, self.json_code(data)), (400, "UnrecognizedClientException"))
        # CloudWatch JSON 1.0 (awsQueryCompatible): query code in x-amzn-query-error
        status, headers, data = self.signed("POST", "/", json.dumps({"Namespace": "N"}), {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}, "monitoring", **wrong_secret())
        self.assertEqual((status, headers["x-amzn-query-error"]), (403, "SignatureDoesNotMatch;Sender"))
        # nothing was stored
        self.assertEqual(self.control("GET", "/_control/metrics")["metrics"], [])

    def test_tampering_and_malformed_headers(self):
        q = {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "N",
             "MetricData.member.1.MetricName": "m", "MetricData.member.1.Value": "1"}

        def body_changed(body, h):
            return body.replace(b"Value=1", b"Value=2"), h

        def no_signature(body, h):
            h["Authorization"] = h["Authorization"].split(", Signature=")[0]
            return body, h

        def no_auth(body, h):
            del h["Authorization"]
            return body, h

        def no_host_signed(body, h):
            h["Authorization"] = h["Authorization"].replace("SignedHeaders=content-type;host;x-amz-date",
                                                            "SignedHeaders=content-type;x-amz-date")
            return body, h

        def extra_amz_header(body, h):
            h["X-Amz-Meta-Unsigned"] = "1"
            return body, h

        def unsigned_token(body, h):
            h["X-Amz-Security-Token"] = "tok"
            return body, h

        for mutate, status, code in ((body_changed, 403, "SignatureDoesNotMatch"),
                                     (no_signature, 403, "IncompleteSignature"),
                                     (no_auth, 403, "MissingAuthenticationToken"),
                                     (no_host_signed, 403, "IncompleteSignature"),
                                     (extra_amz_header, 403, "SignatureDoesNotMatch"),
                                     (unsigned_token, 403, "SignatureDoesNotMatch")):
            with self.subTest(mutate.__name__):
                s, _, data = self.query(q, mutate=mutate)
                self.assertEqual((s, self.xml_code(data)), (status, code), data)
        # wrong region / wrong service in the credential scope
        s, _, data = self.query(q, region="eu-west-1")
        self.assertEqual(self.xml_code(data), "SignatureDoesNotMatch")
        self.assertIn("Credential should be scoped to a valid region, not 'eu-west-1'", data.decode())
        s, _, data = self.logs_call("DescribeLogGroups", self.LOGS_OK, sign_service="monitoring")
        self.assertEqual((s, self.json_code(data)), (400, "InvalidSignatureException"))
        self.assertIn("Credential should be scoped to correct service: 'logs'", json.loads(data)["message"])
        s, _, data = self.query(dict(q, Version="2011-06-15", Action="GetCallerIdentity"), service="monitoring")
        self.assertIn("correct service: 'sts'", data.decode())

    def test_clock_skew(self):
        self.control("POST", "/_control/clock", {"offset_seconds": 301})
        s, _, data = self.logs_call("DescribeLogGroups", self.LOGS_OK)
        self.assertEqual((s, self.json_code(data)), (400, "InvalidSignatureException"))
        self.assertIn("Signature expired", json.loads(data)["message"])
        self.control("POST", "/_control/clock", {"offset_seconds": -301})
        s, _, data = self.query({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, service="sts")
        self.assertEqual((s, self.xml_code(data)), (403, "SignatureDoesNotMatch"))
        self.assertIn("Signature not yet current", data.decode())
        self.control("POST", "/_control/clock", {"offset_seconds": 299})
        s, _, data = self.logs_call("DescribeLogGroups", self.LOGS_OK)
        self.assertEqual(s, 200, data)

    def test_sigv4_test_vectors(self):
        """aws-c-auth v4 suite: every normalized case verifies; S3-style (unnormalized) ones do not."""
        count = 0
        for case in sorted(os.listdir(VECTORS)):
            if not os.path.isdir(os.path.join(VECTORS, case)):
                continue
            with open(os.path.join(VECTORS, case, "context.json")) as f:
                ctx = json.load(f)
            with open(os.path.join(VECTORS, case, "header-signed-request.txt"), "rb") as f:
                raw = f.read().decode("utf-8")
            head, _, body = raw.partition("\n\n")
            lines = head.split("\n")
            method = lines[0].split(" ", 1)[0]
            target = lines[0][len(method) + 1:lines[0].rindex(" HTTP/")]
            headers = []
            for line in lines[1:]:
                if line[:1] in (" ", "\t") and headers:
                    headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
                else:
                    n, _, v = line.partition(":")
                    headers.append((n, v))
            cr = ctx["credentials"]

            class Cred:
                access_key, secret_key, token, expires_at = (cr["access_key_id"], cr["secret_access_key"],
                                                             cr.get("token"), None)
            ts = calendar.timegm(time.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
            expect_ok = ctx["normalize"] and not ctx.get("omit_session_token")
            with self.subTest(case):
                try:
                    sigv4.verify(method, target, headers, body.encode(), lambda a: Cred if a == Cred.access_key
                                 else None, ts, ctx["service"], {ctx["region"]})
                    ok = True
                except sigv4.AuthFailure:
                    ok = False
                if case == "get-space-unnormalized":
                    expect_ok = True   # normalisation does not change this path
                self.assertEqual(ok, expect_ok)
            count += 1
        self.assertGreaterEqual(count, 30)


# ---------------------------------------------------------------------------
class FaultTest(Base):
    def setUp(self):
        super().setUp()
        self.make_log_stream()
        self.logs = self.client("logs")
        self.ev = [{"timestamp": int(time.time() * 1000), "message": "m"}]

    def put(self):
        return self.logs.put_log_events(logGroupName="/osprey/test", logStreamName="s1", logEvents=self.ev)

    def test_throttle_per_service_then_recover(self):
        self.control("POST", "/_control/faults", {"kind": "throttle", "operation": "PutLogEvents", "count": 2})
        self.logs.create_log_stream(logGroupName="/osprey/test", logStreamName="unaffected")
        for _ in range(2):
            r = self.assertClientError("ThrottlingException", self.put)
            self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.put()
        self.assertEqual(len(self.control("GET", "/_control/logs?group=/osprey/test")["events"]), 1)
        self.control("POST", "/_control/faults", [{"kind": "throttle", "service": "cloudwatch"},
                                                  {"kind": "throttle", "service": "xray"},
                                                  {"kind": "throttle", "service": "sns"}])
        r = self.assertClientError("Throttling", self.client("cloudwatch", "query").put_metric_data,
                                   Namespace="N", MetricData=[{"MetricName": "m", "Value": 1}])
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
        r = self.assertClientError("ThrottledException", self.client("xray").get_sampling_rules)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 429)
        self.assertClientError("Throttled", self.client("sns").create_topic, Name="t")

    def test_status_errors_and_after(self):
        self.control("POST", "/_control/faults", [{"kind": "error", "status": 503, "operation": "PutLogEvents"},
                                                  {"kind": "error", "status": 500, "code": "InternalFailure",
                                                   "operation": "PutLogEvents"}])
        r = self.assertClientError("ServiceUnavailableException", self.put)
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertClientError("InternalFailure", self.put)
        self.assertEqual(self.control("GET", "/_control/logs?group=/osprey/test")["events"], [])
        # "after": stored, but the client sees an error (lost acknowledgement)
        self.control("POST", "/_control/faults", {"kind": "error", "status": 500, "when": "after"})
        self.assertClientError("ServiceUnavailableException", self.put)
        self.assertEqual(len(self.control("GET", "/_control/logs?group=/osprey/test")["events"]), 1)
        fired = self.control("GET", "/_control/faults")["fired"]
        self.assertEqual([f["kind"] for f in fired], ["error", "error", "error"])

    def test_delay(self):
        self.control("POST", "/_control/faults", {"kind": "delay", "delay": 0.4})
        t = time.monotonic()
        self.put()
        self.assertGreaterEqual(time.monotonic() - t, 0.4)

    def test_connection_faults(self):
        body = json.dumps({"logGroupNamePrefix": "/"})
        hdr = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.DescribeLogGroups"}
        self.control("POST", "/_control/faults", {"kind": "reset"})
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
            self.signed("POST", "/", body, hdr, "logs")
        self.control("POST", "/_control/faults", {"kind": "close"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.signed("POST", "/", body, hdr, "logs")
        self.control("POST", "/_control/faults", {"kind": "malformed", "mode": "truncated"})
        with self.assertRaises(http.client.IncompleteRead):
            self.signed("POST", "/", body, hdr, "logs")
        self.control("POST", "/_control/faults", {"kind": "malformed", "mode": "bad_body"})
        s, h, data = self.signed("POST", "/", body, hdr, "logs")
        self.assertEqual((s, h["content-type"]), (200, "application/x-amz-json-1.1"))
        with self.assertRaises(ValueError):
            json.loads(data)
        self.control("POST", "/_control/faults", {"kind": "malformed", "mode": "content_type"})
        s, h, data = self.signed("POST", "/", body, hdr, "logs")
        self.assertEqual((s, h["content-type"]), (200, "text/html"))
        s, _, _ = self.signed("POST", "/", body, hdr, "logs")
        self.assertEqual(s, 200)

    def _wait_until_listening(self, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.control("GET", "/_control/health")
                return True
            except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
                time.sleep(0.05)
        return False

    def test_refuse_connections(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        self.addCleanup(conn.close)
        self.raw("GET", "/_control/health", conn=conn)   # an idle keep-alive connection
        self.control("POST", "/_control/refuse", {"seconds": 0.6})
        try:
            deadline = time.monotonic() + 2
            refused = False
            while time.monotonic() < deadline and not refused:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    time.sleep(0.02)
                except ConnectionResetError:
                    pass      # accepted into the backlog just as the listening socket closed
                except ConnectionRefusedError:
                    refused = True
            self.assertTrue(refused, "port kept accepting connections")
            with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, OSError)):
                self.raw("GET", "/_control/health", conn=conn)
        finally:
            self.assertTrue(self._wait_until_listening(), "listener did not come back")
        self.put()

    def test_bad_fault_spec(self):
        s, _, data = self.raw("POST", "/_control/faults", json.dumps({"kind": "explode"}).encode())
        self.assertEqual(s, 400)


# ---------------------------------------------------------------------------
class CredentialEndpointTest(Base):
    def test_imds_v2(self):
        s, _, _ = self.raw("GET", "/latest/meta-data/instance-id")
        self.assertEqual(s, 401)
        s, _, _ = self.raw("PUT", "/latest/api/token")
        self.assertEqual(s, 400)
        s, _, _ = self.raw("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21601"})
        self.assertEqual(s, 400)
        s, _, tok = self.raw("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        self.assertEqual(s, 200)
        h = {"X-aws-ec2-metadata-token": tok.decode()}
        self.assertEqual(self.raw("GET", "/latest/meta-data/instance-id", headers=h)[2], b"i-0123456789abcdef0")
        self.assertEqual(self.raw("GET", "/latest/meta-data/placement/region", headers=h)[2], b"us-east-1")
        self.assertEqual(self.raw("GET", "/latest/meta-data/nope", headers=h)[0], 404)
        self.assertEqual(self.raw("GET", "/latest/meta-data/instance-id",
                                  headers={"X-aws-ec2-metadata-token": "forged"})[0], 401)
        self.assertEqual(self.raw("PUT", "/latest/api/token", headers={
            "X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"})[0], 403)
        # botocore's own IMDS client
        fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=self.url)
        self.addCleanup(fetcher._session.close)
        creds = fetcher.retrieve_iam_role_credentials()
        self.assertEqual(creds["role_name"], "osprey-test-role")
        self.client("logs", akid=creds["access_key"], secret=creds["secret_key"],
                    token=creds["token"]).describe_log_groups()
        # token expiry: the same token is refused once its TTL has passed
        self.control("POST", "/_control/clock", {"offset_seconds": 61})
        self.assertEqual(self.raw("GET", "/latest/meta-data/instance-id", headers=h)[0], 401)

    def test_imds_refresh_and_faults(self):
        self.control("POST", "/_control/imds", {"lifetime_seconds": 1200, "refresh_before_seconds": 900})
        fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=self.url)
        self.addCleanup(fetcher._session.close)
        a = fetcher.retrieve_iam_role_credentials()
        b = fetcher.retrieve_iam_role_credentials()
        self.assertEqual(a["access_key"], b["access_key"])
        self.control("POST", "/_control/clock", {"offset_seconds": 301})   # 899 s left < 900
        c = fetcher.retrieve_iam_role_credentials()
        self.assertNotEqual(a["access_key"], c["access_key"])
        self.control("POST", "/_control/faults", {"kind": "error", "status": 500, "service": "imds",
                                                  "operation": "ImdsGet"})
        self.assertEqual(fetcher.retrieve_iam_role_credentials(), {})
        # an un-targeted fault does not hit the credential endpoints
        self.control("POST", "/_control/faults", {"kind": "error", "status": 500})
        self.assertTrue(fetcher.retrieve_iam_role_credentials())
        self.control("DELETE", "/_control/faults")

    def test_ecs(self):
        self.control("POST", "/_control/ecs", {"path": "/v2/credentials/abc", "authorization": "secret-token",
                                               "lifetime_seconds": 3600})
        fetcher = ContainerMetadataFetcher(sleep=lambda s: None)
        self.addCleanup(fetcher._session.close)
        full = self.url + "/v2/credentials/abc"
        creds = fetcher.retrieve_full_uri(full, headers={"Authorization": "secret-token"})
        self.assertEqual(creds["RoleArn"], "arn:aws:iam::123456789012:role/osprey-task-role")
        self.client("xray", akid=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                    token=creds["Token"]).get_sampling_rules()
        s, _, _ = self.raw("GET", "/v2/credentials/abc", headers={"Authorization": "wrong"})
        self.assertEqual(s, 401)
        s, _, _ = self.raw("GET", "/v2/credentials/abc")
        self.assertEqual(s, 401)


# ---------------------------------------------------------------------------
class ServerTest(Base):
    def test_keep_alive_and_control_errors(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        for _ in range(3):
            s, h, _ = self.raw("GET", "/_control/health", conn=conn)
            self.assertEqual(s, 200)
        sock = conn.sock
        self.raw("GET", "/_control/state", conn=conn)
        self.assertIs(conn.sock, sock)   # the same TCP connection was reused
        conn.close()
        self.assertEqual(self.raw("GET", "/_control/nope")[0], 404)
        s, h, data = self.raw("POST", "/Nope", b"{}", {"Content-Type": "application/json"})
        self.assertEqual((s, h["x-amzn-errortype"]), (404, "UnknownOperationException"))

    def test_chunked_body_with_expect_100_continue(self):
        body = json.dumps({"offset_seconds": 5}).encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST /_control/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue"))
            s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertEqual(self.control("GET", "/_control/clock")["offset_seconds"], 5)

    def test_unknown_fields_switch(self):
        self.make_log_stream()
        doc = {"logGroupNamePrefix": "/", "futureField": 1}
        s, _, data = self.logs_call("DescribeLogGroups", doc)
        self.assertEqual((s, self.json_code(data)), (400, "InvalidParameterException"))
        self.control("POST", "/_control/config", {"allow_unknown_fields": True})
        s, _, data = self.logs_call("DescribeLogGroups", doc)
        self.assertEqual(s, 200, data)

    def test_request_log(self):
        self.client("logs").describe_log_groups()
        reqs = self.control("GET", "/_control/requests?service=logs")["requests"]
        self.assertEqual((reqs[-1]["operation"], reqs[-1]["status"], reqs[-1]["access_key"]),
                         ("DescribeLogGroups", 200, AKID))
        self.assertIn("SignedHeaders=", reqs[-1]["headers"]["authorization"])

    def test_cli_port_file_and_sigterm(self):
        tmp = tempfile.mkdtemp()
        try:
            port_file = os.path.join(tmp, "port")
            proc = subprocess.Popen([sys.executable, HERE, "--port", "0", "--port-file", port_file,
                                     "--metadata-port", "0", "--metadata-port-file", port_file + ".md"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 20
                while not os.path.exists(port_file) and time.monotonic() < deadline:
                    time.sleep(0.05)
                with open(port_file) as f:
                    port = int(f.read())
                with open(port_file + ".md") as f:
                    md_port = int(f.read())
                for p in (port, md_port):
                    c = http.client.HTTPConnection("127.0.0.1", p, timeout=5)
                    c.request("GET", "/_control/health")
                    self.assertEqual(c.getresponse().status, 200)
                    c.close()
            finally:
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=10)
            self.assertEqual(proc.returncode, 0, err)
            self.assertIn(b"listening on http://127.0.0.1:%d" % port, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
