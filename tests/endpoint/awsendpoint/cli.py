"""Command line entry: start the endpoint and run until SIGINT/SIGTERM.

    /usr/bin/python3 tests/endpoint --port 0 --port-file /tmp/ep.port
"""

import argparse
import ipaddress
import os
import signal
import sys
import threading

from .app import App
from .credentials import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, DEFAULT_ACCOUNT
from .httpserver import Listener


def _write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)   # atomic: readers never see a half-written file


def _credential(text):
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("expected ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 and parts[2] else None


def _loopback(host):
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise argparse.ArgumentTypeError("the test endpoint only listens on loopback addresses")


def build_parser():
    p = argparse.ArgumentParser(prog="osprey-test-endpoint",
                                description="Strict local CloudWatch / Logs / X-Ray / STS / SNS / IMDS / ECS "
                                            "endpoint for Osprey integration tests.")
    p.add_argument("--host", type=_loopback, default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port (default)")
    p.add_argument("--port-file", help="write the chosen port here once listening")
    p.add_argument("--metadata-port", type=int, default=None,
                   help="also serve IMDS/ECS (and everything else) on a second listener; 0 = free port")
    p.add_argument("--metadata-port-file")
    p.add_argument("--region", action="append", dest="regions",
                   help="region accepted in credential scopes (repeatable; default us-east-1)")
    p.add_argument("--account-id", default=DEFAULT_ACCOUNT)
    p.add_argument("--credentials", action="append", type=_credential, metavar="AKID:SECRET[:TOKEN]",
                   help="accepted static key (repeatable; default %s with the AWS example secret)"
                        % DEFAULT_ACCESS_KEY)
    p.add_argument("--max-skew", type=int, default=300, help="allowed request-time skew, seconds")
    p.add_argument("--allow-unknown-fields", action="store_true",
                   help="ignore request members not in the model instead of rejecting them")
    p.add_argument("--allow-unsigned-amz-headers", action="store_true",
                   help="do not require every x-amz-* header to be in SignedHeaders")
    p.add_argument("--xray-max-documents", type=int, default=50,
                   help="max TraceSegmentDocuments per PutTraceSegments (0 = no limit)")
    p.add_argument("--pmd-max-bytes", type=int, default=1048576,
                   help="PutMetricData uncompressed body limit")
    p.add_argument("--ecs-path", default=None, help="ECS relative credentials URI to serve")
    p.add_argument("--ecs-authorization", default=None, help="required Authorization header value for ECS")
    p.add_argument("--sns-topic", action="append", default=[], help="create this SNS topic at start")
    p.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    # installed before the port file exists, so "port file present" implies
    # that SIGTERM/SIGINT give a clean shutdown
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    app = App(regions=args.regions or ["us-east-1"], account_id=args.account_id, max_skew=args.max_skew,
              allow_unknown_fields=args.allow_unknown_fields,
              require_signed_amz_headers=not args.allow_unsigned_amz_headers,
              xray_max_documents=args.xray_max_documents, pmd_max_bytes=args.pmd_max_bytes,
              static_credentials=args.credentials or [(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, None)],
              verbose=args.verbose)
    if args.ecs_path or args.ecs_authorization:
        cfg = {}
        if args.ecs_path:
            cfg["path"] = args.ecs_path
        if args.ecs_authorization:
            cfg["authorization"] = args.ecs_authorization
        app.ecs.configure(cfg)
        app.initial_ecs = cfg
    for name in args.sns_topic:
        app.add_topic(name)
    app.initial_topics = list(args.sns_topic)

    api = Listener(app, "api", args.host, args.port)
    api.start()
    app.listeners["api"] = api
    if args.metadata_port is not None:
        md = Listener(app, "metadata", args.host, args.metadata_port)
        md.start()
        app.listeners["metadata"] = md
        if args.metadata_port_file:
            _write_port_file(args.metadata_port_file, md.port)
    if args.port_file:
        _write_port_file(args.port_file, api.port)
    extra = " metadata=%d" % app.listeners["metadata"].port if "metadata" in app.listeners else ""
    print("osprey-test-endpoint listening on http://%s:%d%s" % (args.host, api.port, extra), flush=True)

    while not stop.wait(0.5):
        pass
    for listener in app.listeners.values():
        listener.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
