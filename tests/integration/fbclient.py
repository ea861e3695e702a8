"""A client of the HTTP fallback transport (doc/fallback.md), written from the
document: open a session, read its event stream, POST records. Plain sockets,
so that every byte the daemon sends is seen."""

import base64
import json
import socket
import time


def records(*items, first=1):
    """Records of a message POST: items are (type, payload) with type one of
    t b T B c; SEQ counts from first."""
    out = b""
    for i, (kind, payload) in enumerate(items):
        if isinstance(payload, str):
            payload = payload.encode()
        out += b"%d %s %d\n" % (first + i, kind.encode(), len(payload)) + payload + b"\n"
    return out


def request(port, method, target, headers=None, body=b"", timeout=10):
    """One request on a new connection: (status, headers dict, body bytes)."""
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    return parse_answer(data)


def parse_answer(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


class Kept:
    """One connection for several requests (HTTP keep-alive): answers are
    read one at a time by their Content-Length."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.data = b""

    def head(self, method, target, headers, body=b""):
        """The bytes of one request (sent with send(), alone or pipelined)."""
        h = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        for k, v in headers.items():
            h += f"{k}: {v}\r\n"
        return (h + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def send(self, data):
        self.sock.sendall(data)

    def answer(self):
        """(status, headers, body) of the next answer; status 0 when the
        connection ended before one."""
        while b"\r\n\r\n" not in self.data:
            chunk = self.sock.recv(65536)
            if not chunk:
                return 0, {}, self.data
            self.data += chunk
        head, _, rest = self.data.partition(b"\r\n\r\n")
        status, headers, _ = parse_answer(head + b"\r\n\r\n")
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.data = rest[n:]
        return status, headers, rest[:n]

    def at_eof(self):
        """Whether the server closed (after what was read)."""
        return not self.data and self.sock.recv(1) == b""

    def close(self):
        self.sock.close()


def open_session(port, path="/", headers=None):
    """POST X-WSBridge: open. Returns (status, the JSON answer or the body)."""
    h = {"X-WSBridge": "open"}
    h.update(headers or {})
    status, hdrs, body = request(port, "POST", path, h)
    if status == 200:
        assert hdrs["content-type"] == "application/json"
        assert hdrs["cache-control"] == "no-store"
        return status, json.loads(body)
    return status, body


def with_session(path, sid, extra=""):
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}session={sid}{extra}"


def post(port, path, sid, body, headers=None, timeout=10):
    h = {"X-WSBridge-Session": sid, "Content-Type": "application/vnd.wsbridge.msgs"}
    h.update(headers or {})
    return request(port, "POST", with_session(path, sid), h, body, timeout=timeout)


def send(port, path, sid, *items, first=1):
    """POST records; asserts 200 and returns the answer's next."""
    status, _, body = post(port, path, sid, records(*items, first=first))
    assert status == 200, (status, body)
    return json.loads(body)["next"]


OPEN_STREAMS = []  # for a test's teardown to close


class Stream:
    """An event stream (GET ?session=ID), read event by event."""

    def __init__(self, port, path, sid, last=None, extra="", headers=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        OPEN_STREAMS.append(self)
        h = f"GET {with_session(path, sid, extra)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        h += "Accept: text/event-stream\r\n"
        if last is not None:
            h += f"Last-Event-ID: {last}\r\n"
        for k, v in (headers or {}).items():
            h += f"{k}: {v}\r\n"
        self.sock.sendall(h.encode() + b"\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status, self.headers, _ = parse_answer(head + b"\r\n\r\n")
        self.eof = False
        self.comments = 0

    def _line(self, deadline):
        while b"\n" not in self.buf:
            if self.eof:
                return None
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                self.eof = True
                if not self.buf:
                    return None
                continue
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def event(self, timeout=10):
        """The next event as a dict (id, event, data decoded), or None at EOF."""
        deadline = time.monotonic() + timeout
        ev = {}
        while True:
            line = self._line(deadline)
            if line is None:
                return None
            if line == "":
                if ev:
                    return decode(ev)
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            k, _, v = line.partition(": ")
            ev[k] = v

    def events_until_close(self, timeout=10):
        out = []
        while True:
            ev = self.event(timeout)
            if ev is None:
                return out
            out.append(ev)
            if ev["event"] == "close":
                return out

    def read_to_eof(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                self.eof = True
            self.buf += chunk
        return self.eof

    def close(self):
        self.sock.close()


def decode(ev):
    kind = ev.get("event")
    out = {"id": int(ev["id"]) if "id" in ev else None, "event": kind}
    if kind in ("text", "text-part"):
        out["data"] = json.loads(ev["data"])
    elif kind in ("binary", "binary-part"):
        out["data"] = base64.b64decode(ev["data"])
    elif kind == "close":
        out["data"] = json.loads(ev["data"])
    return out
