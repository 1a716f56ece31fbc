"""SigV4 (AWS4-HMAC-SHA256, Authorization header form) verification.

The signature is recomputed with botocore.auth.SigV4Auth from what was
actually received: the method, the raw request target, exactly the headers
named in SignedHeaders (in arrival order, repeated headers kept), the body
bytes as sent (compressed if gzip), and the secret known for the access key.
botocore builds the canonical request (path normalisation and double
encoding, header trimming, payload hash), the string to sign and the HMAC
chain; this module only decides *which* inputs to give it and performs the
checks around it (PROTOCOLS.md section 8).

verify() is pure: all state comes in through arguments, so the aws-c-auth
test vectors can drive it directly.
"""

import calendar
import datetime
import email.utils
import hashlib
import hmac
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class AuthFailure(Exception):
    """kind is a key of errors.AUTH_ERRORS."""

    def __init__(self, kind, message=None):
        super().__init__(message or kind)
        self.kind = kind
        self.message = message


class Identity:
    def __init__(self, cred, region, service, amz_date, signed_headers):
        self.cred = cred
        self.access_key = cred.access_key
        self.region = region
        self.service = service
        self.amz_date = amz_date
        self.signed_headers = signed_headers


class _Verifier(SigV4Auth):
    """SigV4Auth fed with the received request instead of building one."""

    def __init__(self, credentials, service, region, signed_headers, query_pairs):
        super().__init__(credentials, service, region)
        self._signed = signed_headers
        self._query_pairs = query_pairs

    def headers_to_sign(self, request):
        return self._signed

    def canonical_query_string(self, request):
        return self._canonical_query_string_params(self._query_pairs)


def parse_authorization(value):
    """Split 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'."""
    value = value.strip()
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise AuthFailure("incomplete", "Unsupported AWS 'algorithm': '%s'" % algorithm)
    parts = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        k, eq, v = item.partition("=")
        if not eq:
            raise AuthFailure("incomplete", "'%s' not a valid key=value pair (missing equal-sign) in "
                              "Authorization header: '%s'." % (item, value))
        parts[k.strip()] = v.strip()
    missing = [k for k in ("Credential", "Signature", "SignedHeaders") if k not in parts]
    if missing:
        raise AuthFailure("incomplete", " ".join(
            "Authorization header requires '%s' parameter." % k for k in missing)
            + " Authorization=" + value)
    return parts


def _fmt(ts):
    return datetime.datetime.utcfromtimestamp(ts).strftime(AMZ_DATE_FORMAT)


def split_target(raw_target):
    path, _, query = raw_target.partition("?")
    return path or "/", query


def query_pairs(raw_query):
    """Decoded (key, value) pairs in the order received; '+' is a literal."""
    pairs = []
    if raw_query:
        for item in raw_query.split("&"):
            if item == "":
                continue
            k, _, v = item.partition("=")
            pairs.append((unquote(k), unquote(v)))
    return pairs


def verify(method, raw_target, headers, body, lookup, now, expected_service, regions,
           max_skew=300, require_signed_amz_headers=True):
    """Verify one request; return an Identity or raise AuthFailure.

    headers   list of (name, value) pairs as received
    lookup    callable(access_key_id) -> credentials.Cred or None
    now       server time, epoch seconds
    """
    lower = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)

    auth_values = lower.get("authorization")
    path, raw_query = split_target(raw_target)
    qpairs = query_pairs(raw_query)
    if not auth_values:
        if any(k == "X-Amz-Algorithm" for k, _ in qpairs):
            raise AuthFailure("incomplete", "Query-string (presigned) SigV4 authentication is not "
                                            "supported by this test endpoint")
        raise AuthFailure("missing")
    if len(auth_values) > 1:
        raise AuthFailure("incomplete", "More than one Authorization header")
    auth_value = auth_values[0]
    parts = parse_authorization(auth_value)

    scope = parts["Credential"].split("/")
    if len(scope) != 5:
        raise AuthFailure("incomplete", "Credential should be of the form "
                          "'<AccessKeyId>/<yyyymmdd>/<region>/<service>/aws4_request', got '%s'."
                          % parts["Credential"])
    access_key, scope_date, region, service, terminator = scope
    if terminator != "aws4_request":
        raise AuthFailure("signature", "Credential should be scoped with a valid terminator: "
                          "'aws4_request', not '%s'." % terminator)

    # Request time: X-Amz-Date, else Date (SigV4 allows either).
    amz_values = lower.get("x-amz-date")
    if amz_values:
        if len(amz_values) > 1:
            raise AuthFailure("incomplete", "More than one X-Amz-Date header")
        amz_date = amz_values[0].strip()
        try:
            req_dt = datetime.datetime.strptime(amz_date, AMZ_DATE_FORMAT)
        except ValueError:
            raise AuthFailure("incomplete", "Date must be in ISO-8601 'basic format'. Got '%s'. "
                                            "See http://en.wikipedia.org/wiki/ISO_8601" % amz_date)
        date_header = "x-amz-date"
    elif lower.get("date"):
        try:
            req_dt = email.utils.parsedate_to_datetime(lower["date"][0])
        except (TypeError, ValueError):
            raise AuthFailure("incomplete", "Date header is not a valid HTTP date: '%s'" % lower["date"][0])
        if req_dt.tzinfo is not None:
            req_dt = req_dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        amz_date = req_dt.strftime(AMZ_DATE_FORMAT)
        date_header = "date"
    else:
        raise AuthFailure("incomplete", "Authorization header requires existence of either a "
                                        "'X-Amz-Date' or a 'Date' header. Authorization=" + auth_value)
    req_ts = calendar.timegm(req_dt.timetuple())

    if scope_date != amz_date[:8]:
        raise AuthFailure("signature", "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                          "version of date from HTTP: '%s' != '%s', from '%s'."
                          % (scope_date, amz_date[:8], amz_date))
    if region not in regions:
        raise AuthFailure("signature", "Credential should be scoped to a valid region, not '%s'. " % region)
    if service != expected_service:
        raise AuthFailure("signature", "Credential should be scoped to correct service: '%s'. "
                          % expected_service)

    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed:
        raise AuthFailure("incomplete", "'Host' or ':authority' must be a 'SignedHeader' in the "
                                        "AWS Authorization.")
    if date_header not in signed:
        raise AuthFailure("signature", "The '%s' header used as the request time is not signed "
                                       "(SignedHeaders=%s)." % (date_header, parts["SignedHeaders"]))
    if require_signed_amz_headers:
        unsigned = sorted(n for n in lower if n.startswith("x-amz-") and n not in signed)
        if unsigned:
            raise AuthFailure("signature", "Header(s) %s present in the request but not listed in "
                              "SignedHeaders (every x-amz-* header must be signed, PROTOCOLS.md 8.5)."
                              % ", ".join(unsigned))

    cred = lookup(access_key)
    if cred is None:
        raise AuthFailure("invalid_token")
    sent_token = lower.get("x-amz-security-token")
    sent_token = sent_token[0] if sent_token else None
    if (cred.token or None) != sent_token:
        raise AuthFailure("invalid_token")
    if cred.expires_at is not None and now >= cred.expires_at:
        raise AuthFailure("expired_token")

    if req_ts < now - max_skew:
        raise AuthFailure("signature", "Signature expired: %s is now earlier than %s (%s - %d min.)"
                          % (amz_date, _fmt(now - max_skew), _fmt(now), max_skew // 60))
    if req_ts > now + max_skew:
        raise AuthFailure("signature", "Signature not yet current: %s is still later than %s (%s + %d min.)"
                          % (amz_date, _fmt(now + max_skew), _fmt(now), max_skew // 60))

    content_sha = lower.get("x-amz-content-sha256")
    if content_sha and content_sha[0] != hashlib.sha256(body).hexdigest():
        raise AuthFailure("signature", "The provided 'x-amz-content-sha256' header does not match "
                                       "what was computed.")

    to_sign = HTTPHeaders()
    for name, value in headers:
        if name.lower() in signed:
            to_sign[name.lower()] = value
    host = (lower.get("host") or [""])[0]
    request = AWSRequest(method=method, url="http://%s%s" % (host or "localhost", path), data=body)
    request.context["timestamp"] = amz_date
    verifier = _Verifier(Credentials(cred.access_key, cred.secret_key, cred.token),
                         service, region, to_sign, qpairs)
    canonical = verifier.canonical_request(request)
    string_to_sign = verifier.string_to_sign(request, canonical)
    expected = verifier.signature(string_to_sign, request)
    if not hmac.compare_digest(expected, parts["Signature"]):
        raise AuthFailure("signature")
    return Identity(cred, region, service, amz_date, signed)
