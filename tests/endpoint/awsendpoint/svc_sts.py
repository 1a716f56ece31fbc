"""STS (query): AssumeRole, AssumeRoleWithWebIdentity, GetCallerIdentity.

Issued credentials are registered with the endpoint, so requests signed with
them (plus X-Amz-Security-Token) are accepted until they expire, and answered
with ExpiredToken afterwards. AssumeRoleWithWebIdentity is unsigned (model
auth smithy.api#noAuth). PROTOCOLS.md 7.6.
"""

import base64
import json
import re

from .errors import AwsError

ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+\Z")


class StsConfig:
    def __init__(self):
        self.lifetime_override = None     # seconds; forces Expiration = now + this
        self.max_session_seconds = 3600   # role MaxSessionDuration (IAM default 1 h)
        self.web_identity_tokens = None   # None: any token; else the accepted set
        self.calls = []                   # what was asked (tokens, role ARNs)


def _role_arn(call):
    arn = call.params["RoleArn"]
    if not ROLE_ARN_RE.match(arn):
        raise AwsError("ValidationError", "1 validation error detected: Value '%s' at 'roleArn' failed to "
                       "satisfy constraint: Member must be the ARN of an IAM role" % arn, 400)
    return arn


def _lifetime(call):
    cfg = call.app.sts
    duration = call.params.get("DurationSeconds", 3600)
    if duration > cfg.max_session_seconds:
        raise AwsError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set "
                       "for this role.", 400)
    return cfg.lifetime_override if cfg.lifetime_override is not None else duration


def _issue(call, source):
    arn = _role_arn(call)
    lifetime = _lifetime(call)
    session = call.params["RoleSessionName"]
    cred = call.app.creds.issue(lifetime, source, arn, session)
    out = {
        "Credentials": {"AccessKeyId": cred.access_key, "SecretAccessKey": cred.secret_key,
                        "SessionToken": cred.token, "Expiration": cred.expires_at},
        "AssumedRoleUser": {"AssumedRoleId": cred.user_id, "Arn": cred.arn},
    }
    if "Policy" in call.params or "PolicyArns" in call.params:
        out["PackedPolicySize"] = 6
    return cred, out


def _record(call, op, cred, extra=None):
    entry = {"operation": op, "role_arn": call.params.get("RoleArn"),
             "session_name": call.params.get("RoleSessionName"),
             "duration_seconds": call.params.get("DurationSeconds"),
             "issued_access_key": cred.access_key if cred else None,
             "expiration": cred.expires_at if cred else None,
             "request_id": call.request_id, "received_at": call.now}
    entry.update(extra or {})
    with call.app.store.lock:
        call.app.sts.calls.append(entry)


def assume_role(call):
    cred, out = _issue(call, "sts:AssumeRole")
    _record(call, "AssumeRole", cred, {"caller": call.identity.access_key})
    return out


def _jwt_subject(token):
    parts = token.split(".")
    if len(parts) == 3:
        try:
            payload = parts[1] + "=" * (-len(parts[1]) % 4)
            sub = json.loads(base64.urlsafe_b64decode(payload.encode())).get("sub")
            if isinstance(sub, str) and len(sub) >= 6:
                return sub
        except (ValueError, AttributeError):
            pass
    return "osprey-test-subject"


def assume_role_with_web_identity(call):
    token = call.params["WebIdentityToken"]
    allowed = call.app.sts.web_identity_tokens
    if allowed is not None and token not in allowed:
        _record(call, "AssumeRoleWithWebIdentity", None, {"web_identity_token": token, "rejected": True})
        raise AwsError("InvalidIdentityToken", "The web identity token that was passed could not be "
                       "validated by AWS. Get a new identity token from the identity provider and then "
                       "retry the request.", 400)
    cred, out = _issue(call, "sts:AssumeRoleWithWebIdentity")
    out["SubjectFromWebIdentityToken"] = _jwt_subject(token)
    out["Provider"] = call.params.get("ProviderId", "osprey-test-oidc-provider")
    out["Audience"] = "sts.amazonaws.com"
    _record(call, "AssumeRoleWithWebIdentity", cred, {"web_identity_token": token})
    return out


def get_caller_identity(call):
    cred = call.identity.cred
    return {"UserId": cred.user_id or cred.access_key, "Account": call.account, "Arn": cred.arn}


HANDLERS = {
    "AssumeRole": assume_role,
    "AssumeRoleWithWebIdentity": assume_role_with_web_identity,
    "GetCallerIdentity": get_caller_identity,
}
