"""A raw-socket WebSocket client for what no well-behaved client sends:
unmasked frames, reserved bits, odd opcodes, bytes one at a time."""

import base64
import os
import socket
import struct
import time

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request(path="/", host="127.0.0.1", key=KEY, version="13", extra=(), method="GET",
            proto="HTTP/1.1", upgrade="websocket", connection="Upgrade"):
    lines = [f"{method} {path} {proto}"]
    if host is not None:
        lines.append(f"Host: {host}")
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None):
    """Build one frame; `length` overrides the encoded length (for lies)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    size = len(payload)
    mask = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(
        size, "little")                  # one big XOR: megabytes stay cheap
    return head + key + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=5.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf:
            # before connect, so the advertised window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data, one_byte_at_a_time=False, delay=0.0):
        if not one_byte_at_a_time:
            self.sock.sendall(data)
            return
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            if delay:
                time.sleep(delay)

    def recv_more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def read_response(self, expect_body=True):
        """Read an HTTP response head (and body if Content-Length says so)."""
        while b"\r\n\r\n" not in self.buf:
            self.recv_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        body = b""
        if expect_body and "content-length" in headers:
            n = int(headers["content-length"][0])
            while len(self.buf) < n:
                self.recv_more()
            body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def handshake(self, path="/", **kw):
        self.send(request(path, **kw))
        status, headers, _ = self.read_response()
        assert status == 101, status
        assert headers["sec-websocket-accept"] == [ACCEPT]
        return headers

    def read_frame(self):
        """Returns (fin, rsv, opcode, payload); server frames are never masked."""
        while len(self.buf) < 2:
            self.recv_more()
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), "server frame is masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self.recv_more()
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self.recv_more()
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        while len(self.buf) < at + n:
            self.recv_more()
        payload = self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

    def read_message(self):
        """Reassemble one data message, answering nothing; returns (opcode, payload)
        or ('close', code, reason)."""
        opcode, data = None, b""
        while True:
            fin, _, op, payload = self.read_frame()
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return ("close", code, payload[2:])
            if op in (9, 10):
                continue
            if op != 0:
                opcode = op
            data += payload
            if fin:
                return (opcode, data)

    def expect_close(self, timeout=5.0):
        """Read until a close frame; returns (code, reason). Data frames before it are skipped."""
        self.sock.settimeout(timeout)
        while True:
            fin, rsv, op, payload = self.read_frame()
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:]

    def wait_eof(self, timeout=6.0):
        """True if the server closes the TCP connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()
