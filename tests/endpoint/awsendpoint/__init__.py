"""Strict local AWS-compatible endpoint for Osprey integration tests.

One threaded HTTP/1.1 server on 127.0.0.1 speaks the wire protocols Osprey
uses -- CloudWatch PutMetricData (query and AWS JSON 1.0), CloudWatch Logs
(AWS JSON 1.1), X-Ray (REST-JSON), STS and SNS (query) -- plus EC2 IMDSv2 and
the ECS container credentials endpoint. Every request is SigV4-verified with
botocore's signer, parsed and validated against the official service models
in ../models, checked against the documented service limits, and recorded in
memory where tests can read it back through the /_control API.

Only the Python standard library and Debian's python3-botocore are used.
"""

__all__ = ["__version__"]
__version__ = "1.0"
