"""Access keys the endpoint accepts, and the credential vending sources.

Static keys come from the command line / config / control API. Temporary
keys (ASIA...) are minted by STS AssumeRole / AssumeRoleWithWebIdentity, the
IMDS role endpoint and the ECS container endpoint; each carries a session
token that must be sent as X-Amz-Security-Token and an expiry after which
requests signed with it get ExpiredToken(Exception).
"""

import base64
import datetime
import os
import secrets
import string
import threading

DEFAULT_ACCESS_KEY = "AKIDEXAMPLE"
DEFAULT_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DEFAULT_ACCOUNT = "123456789012"

_UPPER_DIGITS = string.ascii_uppercase + "234567"


def iso8601(ts):
    return datetime.datetime.utcfromtimestamp(int(ts)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Cred:
    __slots__ = ("access_key", "secret_key", "token", "expires_at", "source", "arn", "user_id",
                 "issued_at")

    def __init__(self, access_key, secret_key, token=None, expires_at=None, source="static",
                 arn=None, user_id=None, issued_at=None):
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token
        self.expires_at = expires_at
        self.source = source
        self.arn = arn
        self.user_id = user_id
        self.issued_at = issued_at

    def to_json(self, include_secret=False):
        d = {"AccessKeyId": self.access_key, "Source": self.source, "Arn": self.arn,
             "Expiration": iso8601(self.expires_at) if self.expires_at else None,
             "HasSessionToken": bool(self.token)}
        if include_secret:
            d["SecretAccessKey"] = self.secret_key
            d["SessionToken"] = self.token
        return d


class CredentialStore:
    def __init__(self, clock, account_id=DEFAULT_ACCOUNT):
        self._clock = clock
        self._lock = threading.Lock()
        self._keys = {}
        self.account_id = account_id

    def add_static(self, access_key, secret_key, token=None, expires_at=None, arn=None):
        arn = arn or "arn:aws:iam::%s:user/osprey-test" % self.account_id
        cred = Cred(access_key, secret_key, token, expires_at, "static", arn,
                    user_id="AIDA" + access_key[-16:].upper().rjust(16, "X"))
        with self._lock:
            self._keys[access_key] = cred
        return cred

    def remove(self, access_key):
        with self._lock:
            return self._keys.pop(access_key, None) is not None

    def lookup(self, access_key):
        with self._lock:
            return self._keys.get(access_key)

    def issue(self, lifetime_s, source, role_arn, session_name):
        """Mint temporary credentials for an assumed role."""
        now = self._clock()
        access_key = "ASIA" + "".join(secrets.choice(_UPPER_DIGITS) for _ in range(16))
        secret_key = base64.b64encode(os.urandom(30)).decode()
        token = base64.b64encode(b"osprey-test-session:" + os.urandom(96)).decode()
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = "AROA" + "".join(secrets.choice(_UPPER_DIGITS) for _ in range(17))
        arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (self.account_id, role_name, session_name)
        cred = Cred(access_key, secret_key, token, now + lifetime_s, source, arn,
                    user_id="%s:%s" % (role_id, session_name), issued_at=now)
        with self._lock:
            self._keys[access_key] = cred
        return cred

    def snapshot(self):
        with self._lock:
            return [c.to_json() for c in self._keys.values()]
