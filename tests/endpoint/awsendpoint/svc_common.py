"""Things shared by the service modules."""

import datetime

from .errors import AwsError, CLOUDWATCH_JSON_TYPES
from .validation import coral_message, query_path

# Code a service uses for model (Coral) validation failures.
VALIDATION_CODES = {
    "logs": "InvalidParameterException",    # 'Value ... at 'logGroupName' failed to satisfy constraint'
    "xray": "InvalidRequestException",      # the only modeled client error of the X-Ray calls
    "sts": "ValidationError",
    "sns": "ValidationError",
}


class Call:
    """One AWS API call being served."""

    def __init__(self, app, service, protocol, op, request_id, identity, params, headers, now,
                 body_size, content_encoding):
        self.app = app
        self.service = service
        self.protocol = protocol
        self.op = op
        self.request_id = request_id
        self.identity = identity
        self.params = params
        self.headers = headers          # lower-case name -> first value
        self.now = now                  # epoch seconds (server clock)
        self.body_size = body_size      # decoded body bytes
        self.content_encoding = content_encoding
        self.response_headers = {}

    @property
    def region(self):
        if self.identity is not None:
            return self.identity.region
        return self.app.regions[0]

    @property
    def account(self):
        return self.app.creds.account_id

    def received_at(self):
        return datetime.datetime.utcfromtimestamp(self.now).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cw_error(code, message, status=400):
    return AwsError(code, message, status, True, json_type=CLOUDWATCH_JSON_TYPES.get(code))


def _cw_issue(shape, issue):
    p = query_path(shape, issue.path)
    k, lim, v = issue.kind, issue.limit, issue.value
    if k == "required":
        return "MissingParameter", "The parameter %s is required." % p
    if k in ("max_length", "min_length") and isinstance(v, (list, dict)):
        if k == "max_length":
            return "InvalidParameterValue", "The collection %s must not have a size greater than %s." % (p, lim)
        return "InvalidParameterValue", "The collection %s must have a size of at least %s." % (p, lim)
    if k == "max_length":
        return "InvalidParameterValue", "The parameter %s must not be longer than %s characters." % (p, lim)
    if k == "min_length":
        return "InvalidParameterValue", "The parameter %s must be at least %s characters long." % (p, lim)
    if k == "enum":
        return "InvalidParameterValue", "The parameter %s must be a value in the set [ %s ]." % (p, ", ".join(lim))
    if k == "unknown":
        return "InvalidParameterValue", ("The parameter %s is not recognized (this test endpoint rejects "
                                         "parameters that are not in the service model)." % p)
    if k == "format" and issue.message:
        return "InvalidParameterValue", "The value %s for parameter %s is invalid (%s)." % (v, p, issue.message)
    return "InvalidParameterValue", "The value %s for parameter %s is invalid." % (v, p)


def validation_error(call, issues):
    shape = call.op.input_shape
    key = call.service.key
    if key == "cloudwatch":
        rendered = [_cw_issue(shape, i) for i in issues]
        return cw_error(rendered[0][0], "\n".join(m for _, m in rendered))
    return AwsError(VALIDATION_CODES[key], coral_message(issues, shape, lower_first=key in ("sts", "sns")), 400)


def not_implemented(call):
    return AwsError("NotImplemented", "Operation %s of %s is not implemented by the Osprey test endpoint"
                    % (call.op.name, call.service.key), 501, False)
