"""AWS error values and the per-service / per-protocol error catalogue.

An AwsError carries the *query-style* code AWS uses for the service (the code
a botocore client ends up reporting). Rendering for a given wire protocol is
done in wire.py. Where the JSON protocols use a different code for the same
condition (InvalidClientTokenId vs UnrecognizedClientException) the catalogue
below gives both.

Sources: PROTOCOLS.md sections 1.4, 2, 3, 7.6 and 8.13; the model error
shapes; error messages observed from the real services (quoted in the
README).
"""


class AwsError(Exception):
    """An error answer in AWS form.

    code        the error code as the client should see it
    status      HTTP status
    sender      True for client faults (<Type>Sender</Type>), False for Receiver
    json_type   __type / x-amzn-ErrorType to use on JSON protocols when it differs
                from code (CloudWatch's awsQueryCompatible JSON mode)
    headers     extra response headers
    """

    def __init__(self, code, message, status=400, sender=True, json_type=None, headers=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender
        self.json_type = json_type
        self.headers = dict(headers or {})


# ---------------------------------------------------------------------------
# Authentication / signature failures. Families: "query" (CloudWatch query,
# STS, SNS), "json" (CloudWatch Logs, CloudWatch JSON 1.0), "rest-json" (X-Ray).
# JSON 1.x services answer auth failures with HTTP 400, REST and query ones
# with 403 (e.g. "InvalidSignatureException: Signature expired ..." status 400
# from JSON 1.1 services, 403 with x-amzn-ErrorType from REST-JSON ones,
# "SignatureDoesNotMatch: Signature expired" from STS).

AUTH_ERRORS = {
    "missing": {
        "query": ("MissingAuthenticationToken", 403),
        "json": ("MissingAuthenticationTokenException", 400),
        "rest-json": ("MissingAuthenticationTokenException", 403),
    },
    "incomplete": {
        "query": ("IncompleteSignature", 403),
        "json": ("IncompleteSignatureException", 400),
        "rest-json": ("IncompleteSignatureException", 403),
    },
    "invalid_token": {
        "query": ("InvalidClientTokenId", 403),
        "json": ("UnrecognizedClientException", 400),
        "rest-json": ("UnrecognizedClientException", 403),
    },
    "signature": {
        "query": ("SignatureDoesNotMatch", 403),
        "json": ("InvalidSignatureException", 400),
        "rest-json": ("InvalidSignatureException", 403),
    },
    "expired_token": {
        "query": ("ExpiredToken", 403),
        "json": ("ExpiredTokenException", 400),
        "rest-json": ("ExpiredTokenException", 403),
    },
}

AUTH_MESSAGES = {
    "missing": "Request is missing Authentication Token",
    "invalid_token": "The security token included in the request is invalid.",
    "expired_token": "The security token included in the request is expired",
    "signature": ("The request signature we calculated does not match the signature you provided. "
                  "Check your AWS Secret Access Key and signing method. Consult the service "
                  "documentation for details."),
}


def auth_error(kind, protocol, message=None, query_compatible=False):
    """Build the auth error for a protocol family.

    CloudWatch in JSON 1.0 mode is awsQueryCompatible: the JSON __type uses
    the JSON-family name while the x-amzn-query-error header (which clients
    prefer) carries the query code; the status follows the query family.
    """
    msg = message or AUTH_MESSAGES.get(kind, kind)
    if protocol == "json" and query_compatible:
        qcode, qstatus = AUTH_ERRORS[kind]["query"]
        jcode, _ = AUTH_ERRORS[kind]["json"]
        return AwsError(qcode, msg, qstatus, True, json_type=jcode)
    code, status = AUTH_ERRORS[kind][protocol]
    return AwsError(code, msg, status, True)


# ---------------------------------------------------------------------------
# Service-level errors used by fault injection and generic failures.
# (code, http status, sender?)  CloudWatch codes from the model error shapes
# (InternalServiceFault = InternalServiceError/500) and PROTOCOLS.md 1.4;
# Logs: ThrottlingException / ServiceUnavailableException (model, fault);
# X-Ray: ThrottledException 429 (model); SNS: Throttled 429, InternalError
# 500 (model); STS: Throttling (query common error).

SERVICE_ERRORS = {
    "cloudwatch": {
        "throttle": ("Throttling", 400, True, "Rate exceeded"),
        "internal": ("InternalServiceError", 500, False, "Internal service error"),
        "unavailable": ("ServiceUnavailable", 503, False, "Service unavailable"),
    },
    "logs": {
        "throttle": ("ThrottlingException", 400, True, "Rate exceeded"),
        "internal": ("ServiceUnavailableException", 500, False, "The service cannot complete the request."),
        "unavailable": ("ServiceUnavailableException", 503, False, "The service cannot complete the request."),
    },
    "xray": {
        "throttle": ("ThrottledException", 429, True, "Rate exceeded"),
        "internal": ("InternalFailure", 500, False, "Internal failure"),
        "unavailable": ("ServiceUnavailable", 503, False, "Service unavailable"),
    },
    "sts": {
        "throttle": ("Throttling", 400, True, "Rate exceeded"),
        "internal": ("InternalFailure", 500, False, "Internal failure"),
        "unavailable": ("ServiceUnavailable", 503, False, "Service unavailable"),
    },
    "sns": {
        "throttle": ("Throttled", 429, True, "Rate exceeded"),
        "internal": ("InternalError", 500, False, "Internal error"),
        "unavailable": ("ServiceUnavailable", 503, False, "Service unavailable"),
    },
}

# JSON __type for CloudWatch (awsQueryCompatible) when it differs from the query code.
CLOUDWATCH_JSON_TYPES = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
    "InvalidParameterCombination": "InvalidParameterCombinationException",
    "InternalServiceError": "InternalServiceFault",
    "Throttling": "ThrottlingException",
    "RequestEntityTooLarge": "RequestEntityTooLargeException",
}


def service_error(service_key, kind, status=None, code=None, message=None):
    c, s, sender, m = SERVICE_ERRORS[service_key][kind]
    status = status or s
    return AwsError(code or c, message or m, status, sender if status < 500 else False,
                    json_type=CLOUDWATCH_JSON_TYPES.get(code or c) if service_key == "cloudwatch" else None)


def generic_error(service_key, status, code=None, message=None):
    """An arbitrary injected error: default code chosen from the status."""
    if code is None:
        if status == 503:
            return service_error(service_key, "unavailable", status=status, message=message)
        if status >= 500:
            return service_error(service_key, "internal", status=status, message=message)
        if status == 429:
            return service_error(service_key, "throttle", status=status, message=message)
        code = "BadRequest"  # 4xx without an explicit code: caller should give one
    return AwsError(code, message or code, status, status < 500,
                    json_type=CLOUDWATCH_JSON_TYPES.get(code) if service_key == "cloudwatch" else None)
