"""HTTP request/response values passed between the server and the app."""

import json


class Request:
    def __init__(self, method, target, headers, body, client=None, listener=None):
        self.method = method
        self.target = target                    # raw request target, e.g. "/?a=b"
        path, _, query = target.partition("?")
        self.path = path or "/"
        self.query = query
        self.headers = headers                  # list of (name, value) as received
        self.body = body                        # bytes as received (maybe compressed)
        self.client = client
        self.listener = listener
        self._lower = {}
        for name, value in headers:
            self._lower.setdefault(name.lower(), value)

    def header(self, name, default=None):
        return self._lower.get(name.lower(), default)

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]


class Response:
    def __init__(self, status, body=b"", content_type="text/plain", headers=None, action=None,
                 delay_after=0.0, after_send=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.headers = [("Content-Type", content_type)] if content_type else []
        if isinstance(headers, dict):
            self.headers.extend(headers.items())
        elif headers:
            self.headers.extend(headers)
        self.action = action            # None | "reset" | "close" | "truncate"
        self.delay_after = delay_after  # seconds to wait before answering
        self.after_send = after_send    # callable run after the answer went out


def json_response(status, doc, content_type="application/json", headers=None):
    return Response(status, json.dumps(doc, sort_keys=True, default=str).encode(), content_type, headers)
