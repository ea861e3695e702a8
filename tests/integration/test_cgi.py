"""--cgidir: CGI/1.1 scripts for plain HTTP requests, driven with curl and
http.client: the environment (and its hygiene), request bodies on stdin and
their limits, the script's head (Status, Location, Content-Type, what is
refused), framing (Content-Length, chunked, close), keep-alive, HEAD,
--cgi-timeout, --maxforks, a client that leaves, routing next to
--staticdir, routes, a proxy endpoint, descriptors and children."""

import http.client
import os
import socket
import ssl
import subprocess
import time

import pytest

from harness import BINARY, free_port, root_children
from pki import PKI

CAT = "#!/bin/sh\nexec cat\n"

SCRIPTS = {
    "env.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv | sort\necho \"CWD=$(pwd)\"\n",
    "echo.sh": "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat\n",
    "length.sh": "#!/bin/sh\nprintf 'Status: 201 Made Here\\r\\nContent-Type: text/plain\\r\\n"
                 "Content-Length: 5\\r\\nX-Custom: yes\\r\\nConnection: close\\r\\n"
                 "Date: yesterday\\r\\n\\r\\nhello'\n",
    "short.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 100\\n\\nonly this'\n",
    "long.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 3\\n\\nabcdef'\n",
    "redirect.sh": "#!/bin/sh\nprintf 'Location: /elsewhere?x=1\\n\\n'\n",
    "notfound.sh": "#!/bin/sh\nprintf 'Status: 404 Nothing Here\\nContent-Type: text/plain\\n\\nno\\n'\n",
    "nocontent.sh": "#!/bin/sh\nprintf 'Status: 204\\nContent-Type: text/plain\\n\\nignored'\n",
    "notype.sh": "#!/bin/sh\nprintf 'X-A: b\\n\\nbody'\n",
    "informational.sh": "#!/bin/sh\nprintf 'Status: 100 Continue\\n\\n'\n",
    "folded.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\nX-A: a\\n b\\n\\n'\n",
    "nothing.sh": "#!/bin/sh\nexit 0\n",
    "halfhead.sh": "#!/bin/sh\nprintf 'Content-Type: text/pl'\nexit 3\n",
    "fails.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\npartial\\n'\necho oops >&2\nexit 7\n",
    "big.sh": "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\n"
              "exec head -c 5000000 /dev/zero\n",
    "huge.sh": "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\n"
               "exec head -c 100000000 /dev/zero\n",
    "silent.sh": "#!/bin/sh\nsleep 30\n",
    "stalls.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nstarted\\n'\nsleep 30\n",
    "slow.sh": "#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\n\\nslow\\n'\n",
    "stdin.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nwc -c\n",
    "count.sh": "#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\n\\n%s\\n' $n\n",
    "pid.sh": "#!/bin/sh\necho $$ > \"$PIDFILE\"\nprintf 'Content-Type: text/plain\\n\\nwaiting\\n'\n"
              "sleep 30\n",
}


@pytest.fixture
def cgi(tmp_path):
    root = tmp_path / "cgi"
    (root / "sub").mkdir(parents=True)
    for name, body in SCRIPTS.items():
        (root / name).write_text(body)
        (root / name).chmod(0o755)
    (root / "sub" / "inner.sh").write_text(SCRIPTS["env.sh"])
    (root / "sub" / "inner.sh").chmod(0o755)
    (root / "data.txt").write_text("not a program\n")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("static index\n")
    (www / "page.txt").write_text("static page\n")
    (www / "env.sh").write_text("the static one\n")
    return root


@pytest.fixture
def site(cgi, server, script, tmp_path):
    s = server(f"--cgidir={cgi}", f"--staticdir={tmp_path / 'www'}", "--passenv=PATH,PIDFILE",
               "--cgi-timeout=2", script(CAT),
               env={"PIDFILE": str(tmp_path / "pid"), "SECRET_OF_THE_DAEMON": "leak"})
    s.root = cgi
    return s


def get(s, path, method="GET", body=None, headers=None, version=11):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
    c._http_vsn, c._http_vsn_str = version, f"HTTP/{version // 10}.{version % 10}"
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def environment(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def raw(port, data, timeout=10.0):
    """Send data, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_the_cgi_environment(site, cgi):
    r, data = get(site, "/env.sh/extra/path?a=1&b=%20", headers={"X-Thing": "v", "Proxy": "evil"})
    assert r.status == 200 and r.getheader("Content-Type") == "text/plain"
    env = environment(data.decode())
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/env.sh"
    assert env["PATH_INFO"] == "/extra/path"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["REQUEST_URI"] == "/env.sh/extra/path?a=1&b=%20"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(site.port)
    assert env["CONTENT_LENGTH"] == "" and env["CONTENT_TYPE"] == ""
    assert env["HTTP_X_THING"] == "v"
    assert env["CWD"] == str(cgi), "a script starts in its own directory"
    assert "HTTP_PROXY" not in env, "httpoxy: a Proxy header never becomes HTTP_PROXY"
    assert "SECRET_OF_THE_DAEMON" not in env, "only --passenv variables reach the script"
    assert env["PIDFILE"], "--passenv applies to CGI scripts"
    r, data = get(site, "/sub/inner.sh")
    env = environment(data.decode())
    assert env["SCRIPT_NAME"] == "/sub/inner.sh" and env["CWD"] == str(cgi / "sub")


def test_a_request_body_reaches_stdin_with_its_length_and_type(site):
    body = os.urandom(1 << 20)
    r, data = get(site, "/echo.sh", "POST", body, {"Content-Type": "application/x-thing"})
    assert r.status == 200 and data == body
    r, data = get(site, "/env.sh", "PUT", b"12345", {"Content-Type": "text/csv"})
    env = environment(data.decode())
    assert env["REQUEST_METHOD"] == "PUT"
    assert env["CONTENT_LENGTH"] == "5" and env["CONTENT_TYPE"] == "text/csv"
    assert "HTTP_CONTENT_LENGTH" not in env and "HTTP_CONTENT_TYPE" not in env


def test_curl_uploads_with_expect_100_continue(site, tmp_path):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(os.urandom(300000))
    r = subprocess.run(["curl", "-sS", "-v", "--data-binary", f"@{upload}",
                        "-H", "Expect: 100-continue", f"{site.http}/stdin.sh"],
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"300000"
    assert b"HTTP/1.1 100 Continue" in r.stderr


@pytest.mark.parametrize("extra,status", [
    (b"Transfer-Encoding: chunked\r\n", 411),
    (b"Content-Length: 1\r\nContent-Length: 2\r\n", 400),
    (b"Content-Length: 5000\r\n", 413),
    (b"Content-Length: 3\r\nExpect: magic\r\n", 417),
])
def test_bodies_it_cannot_take_are_refused(cgi, server, script, tmp_path, extra, status):
    s = server(f"--cgidir={cgi}", "--maxmsgsize=4096", script(CAT),
               env={"PIDFILE": str(tmp_path / "pid")})
    out = raw(s.port, b"POST /pid.sh HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
    assert out.startswith(b"HTTP/1.1 %d " % status), out[:200]
    assert not (tmp_path / "pid").exists(), "the script was not started"


def test_the_scripts_status_headers_and_length(site):
    r, data = get(site, "/length.sh")
    assert (r.status, r.reason, data) == (201, "Made Here", b"hello")
    assert r.getheader("X-Custom") == "yes"
    assert r.getheader("Content-Length") == "5"
    assert r.getheader("Connection") == "keep-alive", "the script's Connection is not ours"
    assert r.getheader("Date") != "yesterday" and r.getheader("Server").startswith("wsbridge/")
    r, data = get(site, "/notfound.sh")
    assert (r.status, r.reason, data) == (404, "Nothing Here", b"no\n")
    r, data = get(site, "/redirect.sh")
    assert r.status == 302 and r.getheader("Location") == "/elsewhere?x=1"
    r, data = get(site, "/nocontent.sh")
    assert r.status == 204 and data == b"" and r.getheader("Content-Length") is None


@pytest.mark.parametrize("name,why", [
    ("notype.sh", "no Content-Type"),
    ("informational.sh", "200 to 599"),
    ("folded.sh", "continuation line"),
    ("nothing.sh", "wrote nothing"),
    ("halfhead.sh", "in the middle of its head"),
])
def test_an_unusable_head_is_a_502(site, name, why):
    r, data = get(site, f"/{name}")
    assert r.status == 502, (r.status, data)
    site.wait_log(f"CGI .*{name}: .*{why}")


def test_without_a_length_the_body_is_chunked_or_ends_with_the_connection(site):
    out = raw(site.port, b"GET /env.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert body.endswith(b"\r\n0\r\n\r\n")
    out = raw(site.port, b"GET /env.sh HTTP/1.0\r\n\r\n")
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"chunked" not in head and b"Content-Length" not in head
    assert b"Connection: close" in head and b"GATEWAY_INTERFACE=CGI/1.1" in body
    r, data = get(site, "/big.sh")
    assert data == b"\0" * 5000000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def test_a_slow_reader_pauses_the_script_and_memory_stays_flat(site):
    """100 MB of output to a client that reads nothing for 3 s (past
    --cgi-timeout=2, which does not count while the client is full): the
    daemon holds about its high-water mark, then everything arrives."""
    before = rss_kib(site.proc.pid)
    c = socket.create_connection(("127.0.0.1", site.port))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.sendall(b"GET /huge.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    time.sleep(3)
    grown = rss_kib(site.proc.pid) - before
    assert grown < 8 * 1024, f"the daemon grew by {grown} KiB for an unread answer"
    total = 0
    data = b""
    while True:
        chunk = c.recv(1 << 20)
        if not chunk:
            break
        if len(data) < 4096:
            data += chunk
        total += len(chunk)
    c.close()
    head_len = data.index(b"\r\n\r\n") + 4
    assert data.startswith(b"HTTP/1.1 200 ") and b"chunked" in data[:head_len]
    # the chunk framing adds a few bytes per read of the script's output
    assert 100000000 < total - head_len < 100000000 + 20 * (100000000 // 4096 + 1)
    site.wait_log(r'"GET /huge.sh" 200 100000000 bytes CGI')


def test_a_script_that_writes_less_or_more_than_its_length(site):
    c = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    c.request("GET", "/short.sh")
    r = c.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    c.close()
    site.wait_log(r"wrote 91 bytes less than its Content-Length")
    r, data = get(site, "/long.sh")
    assert data == b"abc"
    site.wait_log(r"long.sh wrote more than its Content-Length")


def test_answers_keep_the_connection_and_requests_in_order(site):
    c = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    seen = []
    for path in ["/length.sh", "/env.sh", "/page.txt", "/length.sh", "/notfound.sh"]:
        c.request("GET", path)
        r = c.getresponse()
        seen.append((r.status, len(r.read())))
        if not seen[-1][1]:
            break
    sock = c.sock
    c.request("GET", "/length.sh")
    r = c.getresponse()
    assert r.read() == b"hello" and c.sock is sock, "one connection throughout"
    c.close()
    assert [s for s, _ in seen] == [201, 200, 200, 201, 404]
    pipelined = raw(site.port, b"GET /length.sh HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /page.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /notfound.sh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert pipelined.count(b"HTTP/1.1 ") == 3
    assert pipelined.index(b"201 Made") < pipelined.index(b"static page") < \
        pipelined.index(b"404 Nothing")


def test_a_connection_is_kept_after_a_body_that_was_all_read(site):
    c = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
    try:
        c.request("POST", "/count.sh", body=os.urandom(300000))
        r = c.getresponse()
        assert r.status == 200 and r.getheader("Connection") == "keep-alive"
        assert r.read() == b"300000\n"
        sock = c.sock
        c.request("GET", "/length.sh")
        r = c.getresponse()
        assert r.read() == b"hello" and c.sock is sock, "kept after the POST"
        # An answer whose head comes before its body is all read cannot say
        # where the next request starts: it closes.
        body = os.urandom(2000000)
        c.request("POST", "/echo.sh", body=body)
        r = c.getresponse()
        assert r.getheader("Connection") == "close" and r.read() == body
    finally:
        c.close()
    # Pipelined behind a body, in the same write: the body is not taken for
    # a request, and what follows it is answered in order.
    pipelined = raw(site.port, b"POST /echo.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 23\r\n\r\n"
                               b"GET /page.txt HTTP/1.0\n"
                               b"GET /page.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert pipelined.count(b"HTTP/1.1 200") == 2, pipelined
    first, _, second = pipelined.partition(b"GET /page.txt HTTP/1.0\n")
    assert second.endswith(b"static page\n"), "the body came back, then the file"
    # A script that answers without reading its body: that connection closes.
    with socket.create_connection(("127.0.0.1", site.port), timeout=20) as s:
        s.sendall(b"POST /length.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" +
                  b"GET /page.txt HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 60000)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    assert out.count(b"HTTP/1.1 ") == 1 and b"static page" not in out, out


def test_head_gets_no_body(site):
    r, data = get(site, "/length.sh", "HEAD")
    assert r.status == 201 and data == b"" and r.getheader("Content-Length") == "5"
    r, data = get(site, "/env.sh", "HEAD")
    assert r.status == 200 and data == b""


def test_scripts_come_first_then_files_then_404(site):
    assert get(site, "/env.sh")[1].startswith(b"AUTH_TYPE="), "the script, not the file"
    assert get(site, "/page.txt")[1] == b"static page\n"
    assert get(site, "/")[1] == b"static index\n"
    r, _ = get(site, "/data.txt")
    assert r.status == 403, "a file in --cgidir that is not executable"
    assert get(site, "/sub")[0].status in (301, 404)
    assert get(site, "/nope")[0].status == 404


def test_silence_past_cgi_timeout(site):
    start = time.monotonic()
    r, data = get(site, "/silent.sh")
    assert r.status == 504 and 1.5 < time.monotonic() - start < 10
    site.wait_log(r"silent.sh: the script wrote nothing for 2 s")
    c = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
    c.request("GET", "/stalls.sh")
    r = c.getresponse()
    assert r.status == 200
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    c.close()
    assert site.wait_no_children(timeout=8.0), "the silent scripts were stopped"


def test_a_client_that_leaves_stops_its_script(site, tmp_path):
    pidfile = tmp_path / "pid"
    c = socket.create_connection(("127.0.0.1", site.port))
    c.sendall(b"GET /pid.sh HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"waiting" in c.recv(4096) or b"waiting" in c.recv(4096)
    pid = int(pidfile.read_text())
    c.close()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}"), "killed and reaped"
    site.wait_log(r"client closed before the answer was complete")


def test_maxforks_counts_cgi_scripts(cgi, server, script, tmp_path):
    s = server(f"--cgidir={cgi}", "--maxforks=1", script(CAT))
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(b"GET /slow.sh HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    r, data = get(s, "/length.sh")
    assert r.status == 429 and r.getheader("Retry-After") == "1"
    first = b""
    while b"slow" not in first:
        first += c.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 ")
    c.close()


def test_stderr_is_logged_and_the_exit_status_too(site):
    r, data = get(site, "/fails.sh")
    assert r.status == 200 and data == b"partial\n"
    site.wait_log(r"CGI stderr: oops")
    site.wait_log(r"fails.sh exited with status 7")


def test_no_descriptor_is_left_behind(site):
    get(site, "/length.sh")
    time.sleep(0.3)
    before = len(os.listdir(f"/proc/{site.proc.pid}/fd"))
    for path in ["/env.sh", "/echo.sh", "/short.sh", "/notype.sh", "/length.sh"] * 4:
        try:
            get(site, path, "POST" if path == "/echo.sh" else "GET", b"x" * 10)
        except http.client.IncompleteRead:
            pass
    assert site.wait_no_children(timeout=8.0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(os.listdir(f"/proc/{site.proc.pid}/fd")) != before:
        time.sleep(0.05)
    assert len(os.listdir(f"/proc/{site.proc.pid}/fd")) == before


def test_an_answer_cut_short_still_arrives_before_the_end(site):
    """The script falls short of its Content-Length while the request body
    it never read is still on its way: the bytes sent come first, then a
    clean end (a close with unread input would be a reset that can destroy
    them)."""
    for _ in range(40):
        with pytest.raises(http.client.IncompleteRead) as cut:
            get(site, "/short.sh", "GET", b"x" * 10)  # http.client sends the body on its own
        assert cut.value.partial == b"only this" and cut.value.expected == 91


def test_access_lines_name_the_script_run(site):
    get(site, "/length.sh")
    site.wait_log(r'"GET /length.sh" 201 5 bytes CGI pid \d+')


def test_per_route_cgidir_and_a_proxy_endpoint(cgi, server, script, backend, tmp_path):
    other = tmp_path / "other"
    (other / "app").mkdir(parents=True)  # the path is not stripped, as for staticdir
    (other / "app" / "who.sh").write_text(
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nroute\\n'\n")
    (other / "app" / "who.sh").chmod(0o755)
    target = backend("echo")
    conf = tmp_path / "c.conf"
    conf.write_text(f"cgidir = {cgi}\ncommand = {script(CAT)}\n"
                    f"[route /app/]\nconnect = {target.target}\ncgidir = {other}\n"
                    f"passenv = PATH\n")
    s = server(f"--config={conf}")
    assert get(s, "/length.sh")[1] == b"hello"
    assert get(s, "/app/who.sh")[1] == b"route\n", "the route's own --cgidir"
    assert get(s, "/app/length.sh")[0].status == 404


def test_bad_options(tmp_path):
    for args, want in [
        (["--cgidir=/nonexistent"], "--cgidir=/nonexistent: No such file or directory"),
        (["--cgidir=/tmp", "--cgi-timeout=-1"], "invalid value in '--cgi-timeout=-1'"),
    ]:
        r = subprocess.run([BINARY, f"--port={free_port()}", *root_children(["cat"]), *args,
                            "cat"], capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and want in r.stderr, r.stderr


def test_cgi_as_root_needs_a_user_or_the_flag(cgi, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root is refused")
    r = subprocess.run([BINARY, f"--port={free_port()}", f"--cgidir={cgi}",
                        "--connect=127.0.0.1:9"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and f"refusing to run the scripts in {cgi}" in r.stderr, r.stderr


def test_over_tls(cgi, server, script, tmp_path):
    (tmp_path / "pki").mkdir()
    p = PKI(tmp_path / "pki")
    crt, key = p.issue("server", "localhost")
    s = server("--ssl", f"--sslcert={crt}", f"--sslkey={key}", f"--cgidir={cgi}", script(CAT))
    ctx = ssl.create_default_context(cafile=p.ca)
    c = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=20)
    try:
        body = os.urandom(700000)
        c.request("POST", "/echo.sh", body=body)
        r = c.getresponse()
        assert r.status == 200 and r.read() == body
        c.close()
        c.request("GET", "/env.sh")
        r = c.getresponse()
        env = environment(r.read().decode())
        assert env["HTTPS"] == "on" and env["SERVER_PORT"] == str(s.port)
        port = c.sock.getsockname()[1]
        c.request("GET", "/length.sh")
        r = c.getresponse()
        assert r.read() == b"hello" and c.sock.getsockname()[1] == port, "kept over TLS"
    finally:
        c.close()
