"""Peers for the HTTP client tests: a stdlib ``http.server`` in a thread, an
h11 server whose behaviour each test scripts, a CONNECT/forwarding proxy,
and an in-memory stream pair for mock-clock tests.  Loopback only."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import h11

from curionet.testing import memory_stream_pair as _memory_stream_pair

# ---------------------------------------------------------------------------
# stdlib http.server
# ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StdServer  # type: ignore[assignment]

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return out, "chunked"
        n = int(self.headers.get("Content-Length", 0) or 0)
        return self.rfile.read(n), "length"

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        names = {k.lower() for k, _ in headers}
        for k, v in headers:
            self.send_header(k, v)
        if "content-length" not in names and "transfer-encoding" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def do_ANY(self):
        with self.server.lock:
            self.server.requests += 1
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        body, framing = self._body()
        if path == "/echo":
            payload = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("latin-1"),
                "framing": framing,
            }
            return self._send(200, json.dumps(payload).encode(), [("Content-Type", "application/json")])
        if path.startswith("/bytes/"):
            n = int(path.split("/")[2])
            return self._send(200, b"x" * n, [("Content-Type", "application/octet-stream")])
        if path == "/text":
            return self._send(200, "héllo wörld".encode("latin-1"), [("Content-Type", "text/plain; charset=latin-1")])
        if path == "/gzip":
            data = b"compressible " * 1000
            return self._send(200, gzip.compress(data), [("Content-Encoding", "gzip")])
        if path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/lines":
            return self._send(200, b"one\ntwo\r\nthree\n\nfive")
        if path.startswith("/status/"):
            return self._send(int(path.split("/")[2]), b"")
        if path.startswith("/redirect/"):
            code = int(path.split("/")[2])
            to = query.get("to", ["/echo"])[0]
            return self._send(code, b"moved", [("Location", to)])
        if path == "/loop":
            return self._send(302, b"", [("Location", "/loop")])
        if path == "/set-cookie":
            return self._send(200, b"ok", [("Set-Cookie", "session=abc123; Path=/"), ("Set-Cookie", "theme=dark")])
        if path == "/big":
            n = int(query["n"][0])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"y" * 262144
            sent = 0
            while sent < n:
                part = chunk[: n - sent]
                self.wfile.write(part)
                sent += len(part)
            return None
        return self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_ANY


class StdServer(ThreadingHTTPServer):
    """``http.server`` on 127.0.0.1 in a thread; counts connections and requests."""

    daemon_threads = True
    block_on_close = True

    def __init__(self, ssl_context=None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True)
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def handle_error(self, request, client_address):  # a client hanging up is not an error here
        pass

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        self._thread.join()

    def url(self, path="/", scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"


# ---------------------------------------------------------------------------
# Threaded socket servers: a thread accepts, each connection gets its own
# ---------------------------------------------------------------------------


def loopback_listener(backlog):
    """A TCP socket listening on 127.0.0.1 (a free port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(backlog)
    return listener


class ThreadedServer:
    """Accepts on *listener* in a thread and runs each connection in a thread
    of its own: :meth:`_accepted` says with what (``(target, args)``, or
    ``None`` to drop the connection).  ``stop()`` joins them all."""

    def __init__(self, listener):
        self.listener = listener
        self._stop = threading.Event()
        self._threads = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    def _accepted(self, sock):
        raise NotImplementedError

    def start(self):
        self._acceptor.start()
        return self

    def _accept_loop(self):
        self.listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            job = self._accepted(sock)
            if job is not None:
                t = threading.Thread(target=job[0], args=job[1], daemon=True)
                self._threads.append(t)
                t.start()

    def stop(self):
        self._stop.set()
        self._acceptor.join()
        for t in self._threads:
            t.join()
        self.listener.close()


# ---------------------------------------------------------------------------
# A scripted h11 server
# ---------------------------------------------------------------------------


class H11Server(ThreadedServer):
    """Each connection runs ``app(conn_no, req_no, request, body) -> action``
    in a thread.  An action is ``(status, headers, body)`` (sent with h11; a
    list body is sent piece by piece, 1 ms apart),
    ``bytes`` (written raw, then the connection is closed), ``"close"``
    (close without answering) or ``"hang"`` (never answer).

    ``raw`` records the bytes of every request exactly as they arrived
    (head and body, in arrival order over all connections)."""

    def __init__(self, app, ssl_context=None):
        super().__init__(loopback_listener(64))
        self.app = app
        self.port = self.listener.getsockname()[1]
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests = 0
        self.live = 0  # connections the client has not closed yet
        self.raw: list[bytes] = []
        self.lock = threading.Lock()

    def url(self, path="/", scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accepted(self, sock):
        with self.lock:
            self.connections += 1
            self.live += 1
            n = self.connections
        if self.ssl_context is not None:
            try:
                sock.settimeout(5)
                sock = self.ssl_context.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                sock.close()
                with self.lock:
                    self.live -= 1
                return None
        return self._serve, (sock, n)

    def _serve(self, sock, conn_no):
        conn = h11.Connection(h11.SERVER)
        sock.settimeout(0.1)
        req_no = 0
        received = b""  # bytes of the request being read (and any that followed it)
        try:
            while not self._stop.is_set():
                request = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        try:
                            data = sock.recv(65536)
                        except TimeoutError:
                            if self._stop.is_set():
                                return
                            continue
                        except OSError:
                            return
                        received += data
                        conn.receive_data(data)
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                req_no += 1
                # Bytes h11 has not parsed yet belong to the next request.
                left = len(conn.trailing_data[0])
                with self.lock:
                    self.requests += 1
                    self.raw.append(received[: len(received) - left])
                received = received[len(received) - left :]
                action = self.app(conn_no, req_no, request, body)
                if action == "close":
                    return
                if action == "hang":
                    self._stop.wait()
                    return
                if isinstance(action, bytes):
                    sock.sendall(action)
                    return
                status, headers, payload = action
                data = conn.send(h11.Response(status_code=status, headers=headers))
                if request.method == b"HEAD":
                    pass
                elif isinstance(payload, list):  # sent piece by piece, 1 ms apart
                    sock.sendall(data)
                    for piece in payload:
                        time.sleep(0.001)
                        sock.sendall(conn.send(h11.Data(data=piece)))
                    data = b""
                elif payload:
                    data += conn.send(h11.Data(data=payload))
                data += conn.send(h11.EndOfMessage())
                sock.sendall(data)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (OSError, h11.ProtocolError):
            return
        finally:
            sock.close()
            with self.lock:
                self.live -= 1


def ok_app(conn_no, req_no, request, body):
    return (200, [("Content-Length", "2")], b"ok")


# ---------------------------------------------------------------------------
# A forwarding / CONNECT proxy
# ---------------------------------------------------------------------------


class Proxy(ThreadedServer):
    """An HTTP proxy: absolute-form requests are forwarded (one request per
    connection, ``Connection: close``), ``CONNECT`` opens a tunnel."""

    def __init__(self):
        super().__init__(loopback_listener(16))
        self.port = self.listener.getsockname()[1]
        self.seen = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accepted(self, sock):
        return self._serve, (sock,)

    def _serve(self, sock):
        sock.settimeout(5)
        upstream = None
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, rest = head.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ")
            self.seen.append((method, target))
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._pump(sock, upstream, rest)
                return
            url = urlsplit(target)
            upstream = socket.create_connection((url.hostname, url.port or 80))
            headers = [ln for ln in lines[1:] if not ln.lower().startswith(("connection:", "proxy-"))]
            path = url.path + (f"?{url.query}" if url.query else "")
            out = f"{method} {path} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers)
            out += "Connection: close\r\n\r\n"
            upstream.sendall(out.encode("latin-1") + rest)
            self._pump(sock, upstream, b"")
        except OSError:
            return
        finally:
            sock.close()
            if upstream is not None:
                upstream.close()

    def _pump(self, a, b, initial):
        if initial:
            b.sendall(initial)

        def copy(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        t = threading.Thread(target=copy, args=(b, a), daemon=True)
        t.start()
        copy(a, b)
        t.join()


# ---------------------------------------------------------------------------
# In-memory streams (for the mock clock)
# ---------------------------------------------------------------------------


def memory_stream_pair(capacity=1 << 20):
    """Two connected in-memory streams (:func:`curionet.testing.memory_stream_pair`)
    with *capacity* bytes in flight each way: a peer that never reads makes
    ``send_all`` block (write timeouts)."""
    return _memory_stream_pair(max_buffer=capacity)


def wait_until(predicate, timeout=5.0):
    """Poll (real time, from a thread's point of view) until *predicate*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def split_raw(raw):
    """A recorded request's ``(head lines, body)``: the request line and the
    header lines as sent (names in their original case), and the body bytes
    as they went over the wire (chunk framing included)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n"), body


def header_lines(raw, name):
    """Every header line of a recorded request whose name is *name* (any
    case), in the order they were sent, as ``"Name: value"`` strings."""
    lines, _ = split_raw(raw)
    prefix = name.lower() + ":"
    return [line for line in lines[1:] if line.lower().startswith(prefix)]


# ---------------------------------------------------------------------------
# A raw socket server (TCP or Unix), each connection scripted by the test
# ---------------------------------------------------------------------------


class RawServer(ThreadedServer):
    """Each connection runs ``script(conn, conn_no)`` in a thread, where
    ``conn`` is a :class:`RawConn`: the test reads and writes bytes itself
    (an answer before the request body has arrived, a 100 Continue ...).
    ``path`` given: a Unix-domain socket there, else TCP on 127.0.0.1."""

    def __init__(self, script, path=None):
        if path is None:
            listener = loopback_listener(16)
        else:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(16)
        super().__init__(listener)
        self.script = script
        self.path = path
        self.port = listener.getsockname()[1] if path is None else None
        self.connections = 0
        self.conns: list[RawConn] = []
        self.errors: list[BaseException] = []

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accepted(self, sock):
        self.connections += 1
        conn = RawConn(sock, self._stop)
        self.conns.append(conn)
        return self._run, (conn, self.connections)

    def _run(self, conn, n):
        try:
            self.script(conn, n)
        except OSError:
            pass
        except BaseException as exc:  # surfaced by the test through .errors
            self.errors.append(exc)
        finally:
            conn.sock.close()


class RawConn:
    """One accepted connection of a :class:`RawServer`; ``raw`` is every byte
    received on it, in order."""

    def __init__(self, sock, stop):
        self.sock = sock
        self.raw = b""
        self._stop = stop
        self.closed_by_peer = False
        sock.settimeout(0.05)

    def recv_until(self, marker, timeout=5.0, start=0):
        """Receive until ``raw[start:]`` contains *marker*; return ``raw``."""
        deadline = time.monotonic() + timeout
        while marker not in self.raw[start:] and time.monotonic() < deadline and not self._stop.is_set():
            if not self._recv():
                break
        return self.raw

    def recv_exactly(self, n, timeout=5.0):
        """Receive until ``raw`` holds at least *n* bytes."""
        deadline = time.monotonic() + timeout
        while len(self.raw) < n and time.monotonic() < deadline and not self._stop.is_set():
            if not self._recv():
                break
        return self.raw

    def wait_closed(self, timeout=5.0):
        """Receive (recording) until the peer closes; True if it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            if not self._recv():
                return self.closed_by_peer
        return False

    def _recv(self):
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        except OSError:
            self.closed_by_peer = True
            return False
        if not data:
            self.closed_by_peer = True
            return False
        self.raw += data
        return True

    def send(self, data):
        self.sock.sendall(data)
