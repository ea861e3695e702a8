"""HTTP/1.1 keep-alive for plain answers (--keepalive-timeout): several
requests on one connection (http.client, curl, raw pipelining), HTTP/1.0's
opt-in, Connection: close, the idle timeout, a WebSocket upgrade as a later
request, what always closes (bodies, malformed heads, upgrades refused),
descriptors and the access log, a reload between two requests, TLS."""

import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from pki import PKI
from rawws import Conn, frame, request

CAT = "#!/bin/sh\nexec cat\n"
PAGES = {"a.txt": b"first file\n", "b.txt": b"second, longer file\n" * 3,
         "c.txt": b"third\n", "index.html": b"<h1>index</h1>\n"}


@pytest.fixture
def www(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    for name, data in PAGES.items():
        (root / name).write_bytes(data)
    (root / "big.bin").write_bytes(os.urandom(3 << 20))
    (root / "dir").mkdir()
    (root / "dir" / "index.html").write_bytes(b"dir\n")
    return root


@pytest.fixture
def site(www, server, script):
    s = server(f"--staticdir={www}", script(CAT))
    s.root = www
    return s


def raw_get(path, version="1.1", extra=""):
    host = "Host: x\r\n" if version == "1.1" else ""
    return f"GET {path} HTTP/{version}\r\n{host}{extra}\r\n".encode()


def open_fds(s):
    return len(os.listdir(f"/proc/{s.proc.pid}/fd"))


def wait_fds(s, want, timeout=8.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if open_fds(s) == want:
            return True
        time.sleep(0.05)
    return open_fds(s) == want


def access_lines(s, what):
    return [line for line in s.log().splitlines() if " ACCESS " in line and what in line]


def conn_ids(lines):
    return {re.search(r" ACCESS (#\d+) ", line).group(1) for line in lines}


# --- several requests on one connection -------------------------------------------------------

def test_two_requests_on_one_http_client_connection(site):
    c = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        c.request("GET", "/a.txt")
        r = c.getresponse()
        assert r.status == 200 and r.read() == PAGES["a.txt"]
        assert r.headers["Connection"] == "keep-alive"
        port = c.sock.getsockname()[1]
        c.request("GET", "/b.txt")
        r = c.getresponse()
        assert r.status == 200 and r.read() == PAGES["b.txt"]
        assert c.sock is not None and c.sock.getsockname()[1] == port, "the same connection"
    finally:
        c.close()
    lines = access_lines(site, '"GET /')
    assert len(lines) == 2 and len(conn_ids(lines)) == 1, "one line per request, one connection"


def test_ten_requests_of_every_kind_on_one_connection(site):
    c = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        c.request("GET", "/a.txt")
        r = c.getresponse()
        r.read()
        etag = r.headers["ETag"]
        port = c.sock.getsockname()[1]
        big = (site.root / "big.bin").read_bytes()
        plan = [
            ("GET", "/b.txt", {}, 200, PAGES["b.txt"]),
            ("GET", "/missing", {}, 404, None),
            ("GET", "/a.txt", {"If-None-Match": etag}, 304, b""),
            ("GET", "/big.bin", {"Range": "bytes=1000-1999"}, 206, big[1000:2000]),
            ("HEAD", "/c.txt", {}, 200, b""),
            ("GET", "/big.bin", {"Range": "bytes=999999999-"}, 416, None),
            ("GET", "/dir", {}, 301, None),
            ("POST", "/a.txt", {}, 405, None),
            ("GET", "/big.bin", {}, 200, big),
        ]
        for method, path, headers, status, body in plan:
            c.request(method, path, headers=headers)
            r = c.getresponse()
            got = r.read()
            assert r.status == status, (method, path)
            assert r.headers["Connection"] == "keep-alive", (method, path)
            if body is not None:
                assert got == body, (method, path)
        assert c.sock.getsockname()[1] == port
    finally:
        c.close()
    assert len(conn_ids(access_lines(site, '"'))) == 1
    assert len(access_lines(site, '"')) == 10


def test_curl_reuses_the_connection(site):
    urls = [f"{site.http}/{name}" for name in ("a.txt", "b.txt", "c.txt")]
    out = subprocess.run(["curl", "-sv", *urls], capture_output=True, timeout=20)
    assert out.returncode == 0
    assert out.stdout == PAGES["a.txt"] + PAGES["b.txt"] + PAGES["c.txt"]
    assert out.stderr.count(b"Re-using existing connection") == 2 or \
        out.stderr.count(b"Connected to") == 1
    assert len(conn_ids(access_lines(site, '"GET /'))) == 1


def read_all(c, timeout=10.0):
    c.sock.settimeout(timeout)
    data = c.buf
    while True:
        chunk = c.sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_three_pipelined_requests_in_one_write(site):
    c = Conn(site.port)
    c.send(raw_get("/a.txt") + raw_get("/big.bin") + raw_get("/c.txt", extra="Connection: close\r\n"))
    answers = []
    for _ in range(3):
        answers.append(c.read_response())
    assert [a[0] for a in answers] == [200, 200, 200]
    assert answers[0][2] == PAGES["a.txt"]
    assert answers[1][2] == (site.root / "big.bin").read_bytes()
    assert answers[2][2] == PAGES["c.txt"]
    assert [a[1]["connection"] for a in answers] == [["keep-alive"], ["keep-alive"], ["close"]]
    assert read_all(c) == b"", "nothing after the last answer, then the close"
    c.close()
    paths = [re.search(r'"GET (\S+)"', line).group(1) for line in access_lines(site, '"GET')]
    assert paths == ["/a.txt", "/big.bin", "/c.txt"], "answered in order"


def test_a_long_pipeline_in_one_write(site):
    """Hundreds of small requests in one write: each answered, in order, and
    the daemon neither recurses nor reads past what it can hold."""
    n = 600
    c = Conn(site.port, timeout=20)
    names = ["a.txt", "c.txt", "missing"]
    c.send(b"".join(raw_get("/" + names[i % 3]) for i in range(n)))
    for i in range(n):
        status, _, body = c.read_response()
        if names[i % 3] == "missing":
            assert status == 404
        else:
            assert status == 200 and body == PAGES[names[i % 3]], i
    c.close()


def test_pipelined_requests_arriving_in_pieces(site):
    c = Conn(site.port)
    data = raw_get("/a.txt") + raw_get("/b.txt") + raw_get("/c.txt")
    c.send(data, one_byte_at_a_time=True)
    for name in ("a.txt", "b.txt", "c.txt"):
        status, _, body = c.read_response()
        assert status == 200 and body == PAGES[name]
    c.close()


# --- what the client asks for -----------------------------------------------------------------

def test_http10_closes_unless_it_asks_for_keep_alive(site):
    c = Conn(site.port)
    c.send(raw_get("/a.txt", version="1.0"))
    status, headers, body = c.read_response()
    assert status == 200 and body == PAGES["a.txt"] and headers["connection"] == ["close"]
    assert c.wait_eof(timeout=5)
    c.close()
    c = Conn(site.port)
    c.send(raw_get("/a.txt", version="1.0", extra="Connection: keep-alive\r\n"))
    status, headers, body = c.read_response()
    assert status == 200 and headers["connection"] == ["keep-alive"]
    c.send(raw_get("/c.txt", version="1.0", extra="Connection: Keep-Alive\r\n"))
    status, headers, body = c.read_response()
    assert status == 200 and body == PAGES["c.txt"] and headers["connection"] == ["keep-alive"]
    c.send(raw_get("/b.txt", version="1.0"))
    status, headers, body = c.read_response()
    assert body == PAGES["b.txt"] and headers["connection"] == ["close"]
    assert c.wait_eof(timeout=5)
    c.close()


def test_connection_close_is_honoured(site):
    c = Conn(site.port)
    c.send(raw_get("/a.txt", extra="Connection: close\r\n"))
    status, headers, _ = c.read_response()
    assert status == 200 and headers["connection"] == ["close"]
    assert c.wait_eof(timeout=5)
    c.close()


def test_keepalive_timeout_zero_closes_after_every_answer(www, server, script):
    s = server(f"--staticdir={www}", "--keepalive-timeout=0", script(CAT))
    c = Conn(s.port)
    c.send(raw_get("/a.txt"))
    status, headers, _ = c.read_response()
    assert status == 200 and headers["connection"] == ["close"]
    assert c.wait_eof(timeout=5)
    c.close()


def test_idle_connection_is_closed_after_the_timeout(www, server, script):
    s = server(f"--staticdir={www}", "--keepalive-timeout=1", script(CAT))
    c = Conn(s.port)
    c.send(raw_get("/a.txt"))
    assert c.read_response()[0] == 200
    start = time.monotonic()
    assert c.wait_eof(timeout=8), "the idle connection must be closed"
    assert time.monotonic() - start >= 0.5
    c.close()
    log = s.log()
    assert "no request in time" not in log and "handshake too slow" not in log, "closed quietly"


def test_a_partial_head_gets_the_handshake_timeout(www, server, script):
    s = server(f"--staticdir={www}", "--keepalive-timeout=1", "--handshake-timeout=4",
               script(CAT))
    c = Conn(s.port)
    c.send(raw_get("/a.txt"))
    assert c.read_response()[0] == 200
    c.send(b"GET /c.txt HTTP/1.1\r\n")
    assert not c.wait_eof(timeout=2), "a request has begun: the keep-alive timeout is over"
    assert c.wait_eof(timeout=8), "but the head must still come within --handshake-timeout"
    c.close()
    s.wait_log(r"handshake too slow")


def test_a_request_with_a_body_is_answered_then_closed(site):
    """The body is never read: a request hidden in it must not be answered."""
    smuggled = raw_get("/c.txt")
    c = Conn(site.port)
    c.send(f"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {len(smuggled)}\r\n\r\n".encode()
           + smuggled)
    status, headers, body = c.read_response()
    assert status == 200 and body == PAGES["a.txt"] and headers["connection"] == ["close"]
    assert read_all(c) == b""
    c.close()
    c = Conn(site.port)
    c.send(b"POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n")
    status, headers, _ = c.read_response()
    assert status == 405 and headers["connection"] == ["close"]
    assert read_all(c) == b""
    c.close()
    assert not access_lines(site, "/c.txt")


@pytest.mark.parametrize("second,status", [
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n\r\n", 400),                           # no Host
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
])
def test_a_bad_request_after_a_good_one_closes(site, second, status):
    c = Conn(site.port)
    c.send(raw_get("/a.txt") + second)
    assert c.read_response()[0] == 200
    got, headers, _ = c.read_response()
    assert got == status and headers["connection"] == ["close"]
    assert c.wait_eof(timeout=5)
    c.close()


def test_errors_of_the_file_server_keep_the_connection(site, tmp_path):
    (site.root / "locked").mkdir()
    (site.root / "locked" / "x").write_text("x")
    c = Conn(site.port)
    for path, status in (("/missing", 404), ("/locked/", 403), ("/dir", 301),
                         ("/../x", 403), ("/a.txt", 200)):
        c.send(raw_get(path))
        got, headers, _ = c.read_response()
        assert got == status and headers["connection"] == ["keep-alive"], path
    c.close()


def test_a_refused_upgrade_still_closes(site):
    c = Conn(site.port)
    c.send(raw_get("/a.txt"))
    assert c.read_response()[0] == 200
    c.send(request(version="8"))
    status, headers, _ = c.read_response()
    assert status == 426 and headers["connection"] == ["close"]
    assert c.wait_eof(timeout=5)
    c.close()


def test_without_staticdir_plain_requests_still_close(server, script):
    s = server(script(CAT))
    c = Conn(s.port)
    c.send(raw_get("/"))
    status, headers, _ = c.read_response()
    assert status == 404 and headers["connection"] == ["close"]
    assert c.wait_eof(timeout=5)
    c.close()


# --- a WebSocket after files --------------------------------------------------------------------

def test_websocket_upgrade_after_a_file_request(site):
    c = Conn(site.port)
    c.send(raw_get("/index.html"))
    status, _, body = c.read_response()
    assert status == 200 and body == PAGES["index.html"]
    c.send(raw_get("/a.txt"))
    assert c.read_response()[2] == PAGES["a.txt"]
    c.handshake(path="/")
    c.send(frame(1, b"after two files"))
    assert c.read_message() == (1, b"after two files")
    c.close()
    site.wait_log(r'CONNECT 127\.0\.0\.1 port \d+ "GET /"')
    ids = conn_ids(access_lines(site, "GET /"))
    assert len(ids) == 1, "files and the session on one connection"


def test_websocket_upgrade_pipelined_behind_a_file_request(site):
    c = Conn(site.port)
    c.send(raw_get("/c.txt") + request(path="/") + frame(1, b"early"))
    status, _, body = c.read_response()
    assert status == 200 and body == PAGES["c.txt"]
    status, _, _ = c.read_response()
    assert status == 101
    assert c.read_message() == (1, b"early")
    c.close()


def test_routes_and_auth_are_per_request(server, script, tmp_path, www):
    """A route's settings and a user's login belong to one request: the next
    request on the connection is routed and authenticated again."""
    conf = tmp_path / "site.conf"
    conf.write_text(f"staticdir = {www}\nheader-http = X-Where: top\ncommand = {script(CAT)}\n"
                    f"[route /dir/]\nheader-http = X-Where: dir\ncommand = {script(CAT)}\n")
    s = server(f"--config={conf}")
    c = Conn(s.port)
    for path, where in (("/a.txt", "top"), ("/dir/", "dir"), ("/c.txt", "top"),
                        ("/dir/", "dir")):
        c.send(raw_get(path))
        status, headers, _ = c.read_response()
        assert status == 200 and headers["x-where"] == [where], path
    c.close()


def test_a_reload_between_two_requests(server, script, tmp_path, www):
    conf = tmp_path / "site.conf"
    conf.write_text(f"staticdir = {www}\ncache-control = max-age=1\ncommand = {script(CAT)}\n")
    s = server(f"--config={conf}")
    c = Conn(s.port)
    c.send(raw_get("/a.txt"))
    assert c.read_response()[1]["cache-control"] == ["max-age=1"]
    conf.write_text(f"staticdir = {www}\ncache-control = max-age=2\ncommand = {script(CAT)}\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"reload: .*site\.conf read")
    c.send(raw_get("/a.txt"))
    status, headers, _ = c.read_response()
    assert status == 200 and headers["cache-control"] == ["max-age=2"], "the new configuration"
    c.handshake(path="/")
    c.send(frame(1, b"still here"))
    assert c.read_message() == (1, b"still here")
    c.close()


def test_each_request_names_its_own_client_behind_a_proxy(www, server, script):
    """A proxy reuses a connection for any client: X-Forwarded-For is read
    for each request, so --deny cannot be dodged by a connection that an
    allowed client opened."""
    s = server(f"--staticdir={www}", "--trusted-proxy=127.0.0.1", "--deny=192.0.2.66",
               script(CAT))
    c = Conn(s.port)
    c.send(raw_get("/a.txt", extra="X-Forwarded-For: 192.0.2.1\r\n"))
    assert c.read_response()[0] == 200
    c.send(raw_get("/a.txt", extra="X-Forwarded-For: 192.0.2.7\r\n"))
    assert c.read_response()[0] == 200
    c.send(raw_get("/a.txt", extra="X-Forwarded-For: 192.0.2.66\r\n"))
    status, headers, _ = c.read_response()
    assert status == 403 and headers["connection"] == ["close"]
    c.close()
    lines = access_lines(s, '"GET /a.txt" 200')
    assert [line.split()[3] for line in lines] == ["192.0.2.1", "192.0.2.7"]


# --- the other plain answers ---------------------------------------------------------------------

def test_dev_console_keeps_the_connection(server, script):
    s = server("--devconsole", script(CAT))
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        for _ in range(2):
            c.request("GET", "/")
            r = c.getresponse()
            assert r.status == 200 and b"dev console" in r.read()
            assert r.headers["Connection"] == "keep-alive"
        c.request("HEAD", "/")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b""
    finally:
        c.close()
    assert len(conn_ids(access_lines(s, "dev console"))) == 1


def test_health_answers_keep_the_connection(server, script):
    s = server("--health-path=/healthz", script(CAT))
    c = Conn(s.port)
    for _ in range(3):
        c.send(raw_get("/healthz"))
        status, headers, body = c.read_response()
        assert status == 200 and headers["connection"] == ["keep-alive"]
    c.close()


# --- resources --------------------------------------------------------------------------------------

def test_descriptors_return_to_the_baseline(site):
    base = open_fds(site)
    c = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    c.request("GET", "/a.txt")
    c.getresponse().read()
    for _ in range(10):
        c.request("GET", "/big.bin", headers={"Range": "bytes=0-99"})
        c.getresponse().read()
        c.request("GET", "/c.txt")
        c.getresponse().read()
    assert wait_fds(site, base + 1), "one socket while idle: every file was closed"
    c.close()
    assert wait_fds(site, base), f"{open_fds(site)} descriptors, {base} before"
    others = [Conn(site.port) for _ in range(20)]
    for o in others:
        o.send(raw_get("/a.txt"))
        o.read_response()
    assert wait_fds(site, base + 20)
    for o in others:
        o.close()
    assert wait_fds(site, base)


def test_idle_connections_go_at_the_timeout_and_count_no_more(www, server, script):
    s = server(f"--staticdir={www}", "--keepalive-timeout=1", "--maxconn=5", script(CAT))
    base = open_fds(s)
    held = [Conn(s.port) for _ in range(5)]
    for h in held:
        h.send(raw_get("/a.txt"))
        assert h.read_response()[0] == 200
    late = Conn(s.port)
    late.send(raw_get("/a.txt"))
    assert late.read_response()[0] == 503, "kept connections count for --maxconn"
    late.close()
    for h in held:
        assert h.wait_eof(timeout=8)
        h.close()
    assert wait_fds(s, base)
    again = Conn(s.port)
    again.send(raw_get("/a.txt"))
    assert again.read_response()[0] == 200
    again.close()


def test_a_graceful_stop_does_not_wait_for_idle_connections(site):
    c = Conn(site.port)
    c.send(raw_get("/a.txt"))
    assert c.read_response()[0] == 200
    start = time.monotonic()
    site.proc.send_signal(signal.SIGTERM)
    assert site.proc.wait(timeout=10) == 0
    assert time.monotonic() - start < 5, "the idle keep-alive connection did not hold it up"
    assert c.wait_eof(timeout=5)
    c.close()


# --- TLS ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = PKI(tmp_path_factory.mktemp("pki"))
    p.server = p.issue("server", "localhost")
    return p


def test_tls_keep_alive_and_ranges(www, server, script, pki):
    crt, key = pki.server
    s = server("--ssl", f"--sslcert={crt}", f"--sslkey={key}", f"--staticdir={www}", script(CAT))
    ctx = ssl.create_default_context(cafile=pki.ca)
    big = (www / "big.bin").read_bytes()
    c = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=10)
    try:
        c.request("GET", "/a.txt")
        r = c.getresponse()
        assert r.status == 200 and r.read() == PAGES["a.txt"]
        port = c.sock.getsockname()[1]
        for first, last in ((0, 9), (65530, 65540), (1 << 20, (2 << 20) + 17), (len(big) - 5,
                                                                                len(big) - 1)):
            c.request("GET", "/big.bin", headers={"Range": f"bytes={first}-{last}"})
            r = c.getresponse()
            assert r.status == 206 and r.read() == big[first:last + 1]
            assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(big)}"
        c.request("GET", "/big.bin")
        r = c.getresponse()
        assert r.status == 200 and r.read() == big
        c.request("GET", "/missing")
        r = c.getresponse()
        assert r.status == 404 and r.headers["Connection"] == "keep-alive"
        r.read()
        assert c.sock.getsockname()[1] == port, "one TLS connection throughout"
    finally:
        c.close()
    assert len(conn_ids(access_lines(s, '"GET /'))) == 1


def test_tls_pipelined_requests_and_then_a_websocket(www, server, script, pki):
    crt, key = pki.server
    s = server("--ssl", f"--sslcert={crt}", f"--sslkey={key}", f"--staticdir={www}", script(CAT))
    ctx = ssl.create_default_context(cafile=pki.ca)
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            c = Conn.__new__(Conn)
            c.sock, c.buf = t, b""
            c.send(raw_get("/a.txt") + raw_get("/b.txt") + request(path="/"))
            assert c.read_response()[2] == PAGES["a.txt"]
            assert c.read_response()[2] == PAGES["b.txt"]
            assert c.read_response()[0] == 101
            c.send(frame(1, b"over tls"))
            assert c.read_message() == (1, b"over tls")
