"""Threaded HTTP/1.1 server (keep-alive) and the listener that can stop
accepting connections for a while and come back on the same port."""

import http.server
import socket
import struct
import sys
import threading
import time

from .messages import Request, Response


class BodyError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OspreyTestEndpoint/1.0"
    sys_version = ""
    timeout = 300          # idle keep-alive connections are dropped after this

    # -- connection tracking (so a "refuse" can also cut open connections) --
    def setup(self):
        super().setup()
        self.server.listener.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.listener.track(self.connection, False)

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.listener.app.verbose:
            sys.stderr.write("%s [%s] %s\n" % (self.address_string(), self.log_date_time_string(), fmt % args))

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _read_body(self, limit):
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise BodyError(501, "Transfer-Encoding %r not supported" % te)
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise BodyError(400, "connection closed inside chunked body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BodyError(400, "bad chunk size line")
                if size == 0:
                    while True:   # trailers
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > limit:
                    raise BodyError(413, "request body exceeds %d bytes" % limit)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise BodyError(400, "bad Content-Length")
        if n < 0:
            raise BodyError(400, "bad Content-Length")
        if n > limit:
            raise BodyError(413, "request body exceeds %d bytes" % limit)
        data = self.rfile.read(n)
        if len(data) != n:
            raise BodyError(400, "connection closed before the whole body was received")
        return data

    def _handle(self):
        listener = self.server.listener
        app = listener.app
        try:
            body = self._read_body(app.max_body_bytes)
        except BodyError as e:
            self.close_connection = True
            self._send(Response(e.status, e.message + "\n", "text/plain"))
            return
        target = self.path
        if target.startswith(("http://", "https://")):
            rest = target.split("://", 1)[1]
            target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        req = Request(self.command, target, list(self.headers.items()), body, self.client_address, listener)
        try:
            resp = app.handle(req)
        except Exception as e:  # a bug in the endpoint must be loud, never a silent pass
            import traceback
            traceback.print_exc()
            resp = Response(500, "Osprey test endpoint internal error: %r\n" % e, "text/plain",
                            [("x-amzn-ErrorType", "EndpointBug")])
        self._send(resp)
        if resp.after_send is not None:
            resp.after_send()

    def _send(self, resp):
        if resp.delay_after:
            time.sleep(resp.delay_after)
        if resp.action == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            return
        if resp.action == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = resp.body if self.command != "HEAD" else b""
        has_connection = False
        for name, value in resp.headers:
            if name.lower() == "connection":
                has_connection = True
                if value.lower() == "close":
                    self.close_connection = True
        self.send_response(resp.status)
        length = len(resp.body)
        if resp.action == "truncate":
            length = getattr(resp, "declared_length", None) or 2 * len(resp.body) + 16
            self.close_connection = True
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        if self.close_connection and not has_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        if resp.action == "truncate":
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Listener:
    """One listening socket; can be closed and re-opened on the same port."""

    def __init__(self, app, name, host, port):
        self.app = app
        self.name = name
        self.host = host
        self.port = port
        self.refusing_until = None
        self._server = None
        self._thread = None
        self._conns = set()
        self._lock = threading.Lock()
        self._refuser = None
        self._cutting = False

    def start(self):
        srv = _Server((self.host, self.port), Handler)
        srv.listener = self
        self.port = srv.server_address[1]
        with self._lock:
            self._cutting = False
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="listener-%s" % self.name, daemon=True)
        self._thread.start()

    def stop(self, close_connections=True):
        # Open connections are cut before the listening socket closes, and any connection
        # whose handler registers from now on is cut at once: a client that sees the port
        # refused must not still get an answer on an older keep-alive connection.
        srv = self._server
        self._server = None
        if close_connections:
            with self._lock:
                self._cutting = True
                conns = list(self._conns)
            for c in conns:
                self._cut(c)
        if srv is not None:
            srv.shutdown()
            srv.server_close()

    @staticmethod
    def _cut(conn):
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
                cut = self._cutting
            else:
                self._conns.discard(conn)
                cut = False
        if cut:
            self._cut(conn)

    def refuse(self, seconds, close_connections=True):
        """Stop listening now; listen again on the same port after `seconds`.
        A second call while refusing extends the window."""
        with self._lock:
            until = time.time() + seconds
            self.refusing_until = max(until, self.refusing_until or 0)
            if self._refuser is not None and self._refuser.is_alive():
                return
            self._refuser = threading.Thread(target=self._refuse_run, args=(close_connections,),
                                             name="refuse-%s" % self.name, daemon=True)
            self._refuser.start()

    def _refuse_run(self, close_connections):
        self.stop(close_connections)
        while True:
            with self._lock:
                remaining = self.refusing_until - time.time()
            if remaining <= 0:
                break
            time.sleep(min(remaining, 0.05))
        for _ in range(100):
            try:
                self.start()
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.stderr.write("listener %s: could not re-bind port %d\n" % (self.name, self.port))
        with self._lock:
            self.refusing_until = None
