"""EC2 instance metadata (IMDSv2) and the ECS container credentials endpoint.

IMDS (PROTOCOLS.md 7.4): PUT /latest/api/token with
X-aws-ec2-metadata-token-ttl-seconds (1..21600, else 400; a PUT carrying
X-Forwarded-For is refused with 403) returns a session token; every GET needs
X-aws-ec2-metadata-token with a live token, else 401 (IMDSv1 is off unless
enabled through /_control/imds). Credentials are minted for the role and are
re-minted once fewer than refresh_before seconds remain, so a client polling
before expiry sees new keys (old keys stay valid until they expire).

ECS (PROTOCOLS.md 7.5): GET <relative path> returns AccessKeyId,
SecretAccessKey, Token, Expiration, RoleArn; if an authorization value is
configured the Authorization header must equal it (else 401).
"""

import json
import secrets
import threading

from .credentials import iso8601
from .messages import Response, json_response


class _CredSource:
    """Common minting logic for IMDS and ECS."""

    def __init__(self, app, source, role_arn, lifetime, refresh_before):
        self.app = app
        self.source = source
        self.role_arn = role_arn
        self.lifetime = lifetime
        self.refresh_before = refresh_before
        self.current = None
        self.served = 0
        self._lock = threading.Lock()

    def credentials(self, session_name):
        now = self.app.now()
        with self._lock:
            c = self.current
            if c is None or c.expires_at - now < self.refresh_before:
                c = self.current = self.app.creds.issue(self.lifetime, self.source, self.role_arn, session_name)
            self.served += 1
            return c

    def rotate(self):
        with self._lock:
            self.current = None

    def state(self):
        c = self.current
        return {"role_arn": self.role_arn, "lifetime_seconds": self.lifetime,
                "refresh_before_seconds": self.refresh_before, "served": self.served,
                "current": c.to_json() if c else None}


class Imds(_CredSource):
    def __init__(self, app):
        self.role_name = "osprey-test-role"
        super().__init__(app, "imds", "arn:aws:iam::%s:role/%s" % (app.creds.account_id, self.role_name),
                         lifetime=6 * 3600, refresh_before=5 * 60)
        self.instance_id = "i-0123456789abcdef0"
        self.instance_type = "t3.micro"
        self.ami_id = "ami-0123456789abcdef0"
        self.hostname = "ip-10-0-0-10.ec2.internal"
        self.local_ipv4 = "10.0.0.10"
        self.region = app.regions[0]
        self.availability_zone = self.region + "a"
        self.v1_allowed = False
        # Instance tags in metadata (the instance's InstanceMetadataTags option); None = off,
        # as on an instance launched without it: /latest/meta-data/tags/ is then 404.
        self.instance_tags = None
        self.tokens = {}
        self.token_requests = 0

    def configure(self, doc):
        for key, attr in (("role_name", "role_name"), ("instance_id", "instance_id"),
                          ("instance_type", "instance_type"), ("ami_id", "ami_id"), ("region", "region"),
                          ("availability_zone", "availability_zone"), ("hostname", "hostname"),
                          ("lifetime_seconds", "lifetime"), ("refresh_before_seconds", "refresh_before"),
                          ("v1_allowed", "v1_allowed"), ("instance_tags", "instance_tags")):
            if key in doc:
                setattr(self, attr, doc[key])
        if "role_name" in doc:
            self.role_arn = "arn:aws:iam::%s:role/%s" % (self.app.creds.account_id, self.role_name)
            self.rotate()
        if "region" in doc and "availability_zone" not in doc:
            self.availability_zone = self.region + "a"
        if doc.get("rotate"):
            self.rotate()
        if doc.get("expire_tokens"):
            self.tokens.clear()

    def state(self):
        d = super().state()
        d.update({"role_name": self.role_name, "instance_id": self.instance_id, "region": self.region,
                  "v1_allowed": self.v1_allowed, "live_tokens": sum(1 for t in self.tokens.values()
                                                                     if t > self.app.now()),
                  "token_requests": self.token_requests})
        return d

    def _identity_document(self):
        return {"accountId": self.app.creds.account_id, "architecture": "x86_64",
                "availabilityZone": self.availability_zone, "imageId": self.ami_id,
                "instanceId": self.instance_id, "instanceType": self.instance_type,
                "pendingTime": "2024-01-01T00:00:00Z", "privateIp": self.local_ipv4, "region": self.region,
                "version": "2017-09-30"}

    def handle(self, req):
        op = "ImdsToken" if req.path == "/latest/api/token" else "ImdsGet"
        fault = self.app.credential_fault("imds", op)
        if fault is not None:
            return fault
        now = self.app.now()
        if req.path == "/latest/api/token":
            if req.method != "PUT":
                return Response(405, "Method Not Allowed")
            if req.header("x-forwarded-for") is not None:
                return Response(403, "Forbidden")
            ttl = req.header("x-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.strip().isdigit() or not 1 <= int(ttl) <= 21600:
                return Response(400, "Bad Request")
            token = secrets.token_urlsafe(40)
            self.tokens[token] = now + int(ttl)
            self.token_requests += 1
            return Response(200, token, headers={"X-aws-ec2-metadata-token-ttl-seconds": str(int(ttl))})
        if req.method not in ("GET", "HEAD"):
            return Response(405, "Method Not Allowed")
        token = req.header("x-aws-ec2-metadata-token")
        if token is None:
            if not self.v1_allowed:
                return Response(401, "Unauthorized")
        elif self.tokens.get(token, 0) <= now:
            return Response(401, "Unauthorized")

        path = req.path
        md = "/latest/meta-data/"
        creds_prefix = md + "iam/security-credentials/"
        simple = {
            md + "instance-id": self.instance_id,
            md + "instance-type": self.instance_type,
            md + "ami-id": self.ami_id,
            md + "hostname": self.hostname,
            md + "local-hostname": self.hostname,
            md + "local-ipv4": self.local_ipv4,
            md + "placement/region": self.region,
            md + "placement/availability-zone": self.availability_zone,
            md: "ami-id\nhostname\niam/\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/",
            md + "placement/": "availability-zone\nregion",
            md + "iam/": "info\nsecurity-credentials/",
            creds_prefix: self.role_name,
        }
        if path in simple:
            return Response(200, simple[path])
        tags_prefix = md + "tags/instance/"
        if self.instance_tags is not None and path.startswith(md + "tags/"):
            if path in (md + "tags/", md + "tags"):
                return Response(200, "instance")
            if path in (tags_prefix, tags_prefix[:-1]):
                return Response(200, "\n".join(sorted(self.instance_tags)))
            key = path[len(tags_prefix):]
            if path.startswith(tags_prefix) and key in self.instance_tags:
                return Response(200, self.instance_tags[key])
        if path == "/latest/dynamic/instance-identity/document":
            return Response(200, json.dumps(self._identity_document(), indent=2))
        if path == md + "iam/info":
            return Response(200, json.dumps({
                "Code": "Success", "LastUpdated": iso8601(now),
                "InstanceProfileArn": "arn:aws:iam::%s:instance-profile/%s" % (self.app.creds.account_id,
                                                                               self.role_name),
                "InstanceProfileId": "AIPAOSPREYTESTPROFILE"}, indent=2))
        if path.startswith(creds_prefix):
            if path[len(creds_prefix):] != self.role_name:
                return Response(404, "Not Found")
            c = self.credentials(self.instance_id)
            return Response(200, json.dumps({
                "Code": "Success", "LastUpdated": iso8601(c.issued_at), "Type": "AWS-HMAC",
                "AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key, "Token": c.token,
                "Expiration": iso8601(c.expires_at)}, indent=2))
        return Response(404, "Not Found")


class Ecs(_CredSource):
    def __init__(self, app):
        super().__init__(app, "ecs", "arn:aws:iam::%s:role/osprey-task-role" % app.creds.account_id,
                         lifetime=6 * 3600, refresh_before=5 * 60)
        self.path = "/v2/credentials/osprey-test"
        self.authorization = None

    def configure(self, doc):
        if "path" in doc:
            if not isinstance(doc["path"], str) or not doc["path"].startswith("/") or doc["path"] == "/" or \
                    doc["path"].startswith(("/_control", "/latest/")) or \
                    any(doc["path"] == uri for _, uri in self.app.rest_routes):
                raise ValueError("path must start with '/' and not be '/', an X-Ray URI, /_control... or "
                                 "/latest/...")
            self.path = doc["path"]
        if "authorization" in doc:
            self.authorization = doc["authorization"]
        if "role_arn" in doc:
            self.role_arn = doc["role_arn"]
            self.rotate()
        if "lifetime_seconds" in doc:
            self.lifetime = doc["lifetime_seconds"]
        if "refresh_before_seconds" in doc:
            self.refresh_before = doc["refresh_before_seconds"]
        if doc.get("rotate"):
            self.rotate()

    def state(self):
        d = super().state()
        d.update({"path": self.path, "authorization_required": self.authorization is not None})
        return d

    def matches(self, path):
        return path == self.path

    def handle(self, req):
        fault = self.app.credential_fault("ecs", "EcsCredentials")
        if fault is not None:
            return fault
        if req.method != "GET":
            return Response(405, "Method Not Allowed")
        if self.authorization is not None and req.header("authorization") != self.authorization:
            return json_response(401, {"code": "AccessDenied",
                                       "message": "Authorization header missing or not valid"})
        c = self.credentials("osprey-ecs-task")
        return json_response(200, {"AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key,
                                   "Token": c.token, "Expiration": iso8601(c.expires_at),
                                   "RoleArn": self.role_arn, "AccountId": self.app.creds.account_id})
