"""A small HTTP/1.1 server on 127.0.0.1 for the C unit tests of the HTTP client.

Usage: http_fixture_server.py PORT_FILE
Writes the chosen port to PORT_FILE, then serves until killed:
  POST|PUT /echo        200, echoes the body; X-Echo-Method, X-Echo-Header-<name> headers
  GET  /status/<code>   that status, with x-amzn-ErrorType: TestError for 4xx/5xx
  GET  /slow/<ms>       answers after <ms> milliseconds
  GET  /big/<bytes>     a body of <bytes> 'x'
  GET  /reset           closes the connection without answering
  GET  /truncated       announces 100 bytes, sends 10, closes
  GET  /conn            the number of TCP connections accepted so far (keep-alive check)
  GET  http://...       (as a forward proxy) 200 "proxied <absolute URL>"
"""
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

connections = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        global connections
        with lock:
            connections += 1
        super().setup()

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/echo":
            hdrs = [("X-Echo-Method", self.command), ("Content-Type", "application/octet-stream")]
            for k, v in self.headers.items():
                hdrs.append(("X-Echo-Header-" + k, v))
            self.reply(200, body, hdrs)
        else:
            self.reply(404)

    do_PUT = do_POST

    def do_GET(self):
        if self.path.startswith("http://"):
            # Asked as a forward proxy: the request line carries the absolute URL.
            self.reply(200, ("proxied " + self.path).encode())
            return
        parts = self.path.strip("/").split("/")
        if parts[0] == "status":
            code = int(parts[1])
            hdrs = [("x-amzn-ErrorType", "TestError:http://internal")] if code >= 400 else []
            self.reply(code, b'{"status": %d}' % code, hdrs + [("Content-Type", "application/json")])
        elif parts[0] == "slow":
            time.sleep(int(parts[1]) / 1000.0)
            self.reply(200, b"slow")
        elif parts[0] == "big":
            self.reply(200, b"x" * int(parts[1]))
        elif parts[0] == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
        elif parts[0] == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif parts[0] == "conn":
            with lock:
                n = connections
            self.reply(200, str(n).encode())
        else:
            self.reply(404)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # /reset and /truncated end connections on purpose


def main():
    server = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
