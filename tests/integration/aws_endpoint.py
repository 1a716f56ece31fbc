"""Runs the project's compatible AWS endpoint (tests/endpoint) for an integration test
and talks to its control API."""
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.parse
import unittest
import urllib.request

import harness

SOURCE_DIR = os.environ.get("OSPREY_SOURCE_DIR", os.getcwd())
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


class Endpoint:
    def __init__(self, *extra_args):
        self.dir = tempfile.mkdtemp(prefix="osprey-endpoint-")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "endpoint.log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(SOURCE_DIR, "tests", "endpoint"),
             "--port", "0", "--port-file", port_file, *extra_args],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("endpoint did not start: %s" % self.read_log())
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.url = "http://127.0.0.1:%d" % self.port

    def read_log(self):
        with open(os.path.join(self.dir, "endpoint.log"), "r", errors="replace") as f:
            return f.read()

    def control(self, method, path, body=None, query=None):
        url = self.url + "/_control/" + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def get(self, path, **query):
        return self.control("GET", path, query=query or None)

    def post(self, path, body):
        return self.control("POST", path, body)

    def faults(self, *faults):
        return self.post("faults", list(faults))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def agent_env():
    """Environment for an agent that signs with the endpoint's static key."""
    env = dict(os.environ)
    for k in list(env):
        # A proxy of the machine's must not catch loopback test traffic.
        if k.startswith("AWS_") or k.lower() in ("http_proxy", "https_proxy", "all_proxy",
                                                  "no_proxy"):
            del env[k]
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_EC2_METADATA_DISABLED": "true"})
    return env


class EndpointTestCase(unittest.TestCase):
    """One endpoint per test class, reset before every test; runs build/osprey against it."""

    @classmethod
    def setUpClass(cls):
        cls.endpoint = Endpoint()

    @classmethod
    def tearDownClass(cls):
        cls.endpoint.stop()

    def setUp(self):
        self.endpoint.post("reset", {"config": True})
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.kill()

    def start_agent(self, cfg, env=None):
        self.agent = harness.Agent(cfg, env=env or agent_env()).start()
        return self.agent

    def run_agent(self, cfg, expect_ack=True, timeout=60, env=None,
                  wait_for="records acknowledged"):
        """Start the agent, wait for `wait_for` in its log, stop it with SIGTERM (exit 0)."""
        self.start_agent(cfg, env)
        if expect_ack and wait_for:
            ok = self.agent.wait_for_log(wait_for, timeout=timeout)
            self.assertTrue(ok, "no '%s' line\n%s\nendpoint:\n%s" % (
                wait_for, self.agent.log(), self.endpoint.read_log()[-3000:]))
        code, _ = self.agent.stop(signal.SIGTERM)
        self.assertEqual(code, 0, self.agent.log())
        return self.agent.log()
