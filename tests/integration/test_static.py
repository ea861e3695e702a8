"""--staticdir: the page that hosts the client, and nothing outside it."""

import hashlib
import os
import socket

import pytest

from rawws import Conn, frame

CAT = "#!/bin/sh\nexec cat\n"


@pytest.fixture
def site(tmp_path, server, script):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "style.css").write_text("body{}\n")
    (root / "pic.svg").write_text("<svg/>\n")
    (root / "data.bin").write_bytes(b"\x00\x01")
    (root / "docs" / "index.html").write_text("docs\n")
    big = os.urandom(5 << 20)
    (root / "big.dat").write_bytes(big)
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(root / "app.js", root / "inside.js")
    s = server(f"--staticdir={root}", script(CAT))
    s.big_sha = hashlib.sha256(big).hexdigest()
    return s


def get(port, path, method="GET", extra=b""):
    c = Conn(port)
    try:
        c.send(f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + extra + b"\r\n")
        status, headers, body = c.read_response(expect_body=method != "HEAD")
        if method == "HEAD":
            c.sock.settimeout(2)
            rest = c.buf
            try:
                while True:
                    chunk = c.sock.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
            except socket.timeout:
                pass
            return status, headers, rest
        return status, headers, body
    finally:
        c.close()


def test_index_html_for_the_root(site):
    status, headers, body = get(site.port, "/")
    assert status == 200 and body == b"<h1>home</h1>\n"
    assert headers["content-type"] == ["text/html; charset=utf-8"]
    assert headers["content-length"] == ["14"]
    assert "last-modified" in headers


@pytest.mark.parametrize("path,ctype", [
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/pic.svg", "image/svg+xml"),
    ("/data.bin", "application/octet-stream"),
    ("/inside.js", "text/javascript; charset=utf-8"),
])
def test_content_types(site, path, ctype):
    status, headers, _ = get(site.port, path)
    assert status == 200 and headers["content-type"] == [ctype]


def test_directory_without_slash_redirects(site):
    status, headers, _ = get(site.port, "/docs?x=1")
    assert status == 301 and headers["location"] == ["/docs/?x=1"]
    status, _, body = get(site.port, "/docs/")
    assert status == 200 and body == b"docs\n"


def test_redirect_keeps_the_path_encoded(site, tmp_path):
    # a directory whose name holds a CR LF: the Location header must not split
    weird = tmp_path / "www" / "a\r\nSet-Cookie: x=1"
    weird.mkdir()
    c = Conn(site.port)
    c.send(b"GET /a%0D%0ASet-Cookie:%20x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = c.read_response()
    c.close()
    assert status == 301 and "set-cookie" not in headers
    assert headers["location"] == ["/a%0D%0ASet-Cookie:%20x=1/"]


def test_directory_without_index_is_403(site):
    assert get(site.port, "/sub/")[0] == 403


def test_missing_file_is_404(site):
    assert get(site.port, "/nope.html")[0] == 404


def test_head_sends_headers_only(site):
    status, headers, rest = get(site.port, "/index.html", method="HEAD")
    assert status == 200 and headers["content-length"] == ["14"] and rest == b""


def test_other_methods_are_405(site):
    status, headers, _ = get(site.port, "/index.html", method="POST")
    assert status == 405 and headers["allow"] == ["GET, HEAD"]


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2fsecret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt", "/./index.html",
])
def test_no_way_out_with_dot_segments(site, path):
    status, _, body = get(site.port, path)
    assert status in (403, 404) and b"outside" not in body


def test_symlink_pointing_outside_is_403(site):
    status, _, body = get(site.port, "/escape.txt")
    assert status == 403 and b"outside" not in body


def test_large_file_is_streamed_intact(site):
    status, headers, body = get(site.port, "/big.dat")
    assert status == 200 and int(headers["content-length"][0]) == 5 << 20
    assert hashlib.sha256(body).hexdigest() == site.big_sha


def test_websocket_upgrade_still_works_with_staticdir(site):
    c = Conn(site.port)
    c.handshake(path="/index.html")
    c.send(frame(1, b"hi"))
    assert c.read_message() == (1, b"hi")
    c.close()


def test_staticdir_must_be_a_directory(tmp_path, script):
    import subprocess
    from harness import BINARY, root_children
    r = subprocess.run([BINARY, f"--staticdir={tmp_path}/missing", "--port=1",
                        *root_children([]), script(CAT)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--staticdir" in r.stderr
