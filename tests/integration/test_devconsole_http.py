"""--devconsole over plain HTTP: the page and its headers, HEAD, other
methods, files first, 404 without the option, per route."""

from rawws import Conn

CAT = "#!/bin/sh\nexec cat\n"


def answer(port, method="GET", path="/"):
    c = Conn(port)
    try:
        c.send(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        return c.read_response(expect_body=method != "HEAD")
    finally:
        c.close()


def test_the_page_and_its_headers(server, script):
    s = server("--devconsole", script(CAT))
    status, headers, body = answer(s.port, path="/any/path?q=1")
    assert status == 200
    assert headers["content-type"] == ["text/html; charset=utf-8"]
    assert headers["cache-control"] == ["no-store"]
    csp = headers["content-security-policy"][0]
    assert "default-src 'none'" in csp and "connect-src ws: wss:" in csp
    assert body.startswith(b"<!doctype html>") and b"wsbridge dev console" in body
    assert int(headers["content-length"][0]) == len(body)
    assert b"http://" not in body and b"https://" not in body, "nothing fetched from elsewhere"
    head_status, head_headers, head_body = answer(s.port, "HEAD")
    assert (head_status, head_body) == (200, b"")
    assert head_headers["content-length"] == headers["content-length"]
    assert answer(s.port, "POST")[0] == 405
    s.wait_log(r'"GET /any/path\?q=1" 200 dev console')


def test_files_win_and_without_the_option_404(server, script, tmp_path):
    (tmp_path / "index.html").write_text("mine\n")
    s = server("--devconsole", f"--staticdir={tmp_path}", script(CAT))
    assert answer(s.port)[2] == b"mine\n"
    assert b"dev console" in answer(s.port, path="/missing")[2]
    plain = server(script(CAT))
    assert answer(plain.port)[0] == 404


def test_per_route(server, script, tmp_path):
    conf = tmp_path / "routes.conf"
    conf.write_text(f"[route /dev/]\ndevconsole\ncommand = {script(CAT)}\n"
                    f"[route /prod/]\ncommand = {script(CAT)}\n")
    s = server(f"--config={conf}")
    assert answer(s.port, path="/dev/")[0] == 200
    assert answer(s.port, path="/prod/")[0] == 404
