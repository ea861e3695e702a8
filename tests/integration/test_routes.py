"""Routes: [route PATH] sections of the --config file, several endpoints on one
server. Each route serves its own mode (exec, shared, proxy, --dir), keeps its
own limits and auth, longest prefix wins, unknown paths get 404, a reload adds
and removes routes without touching open sessions, and errors name the line."""

import base64
import os
import re
import signal
import subprocess
import time

import pytest
import websockets

from harness import BINARY, free_port, root_children
from test_access import crypt_hash
from rawws import Conn, request
from wsclient import OPEN, recv_all, run

CAT = "#!/bin/sh\nexec cat\n"


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def basic_line(user, password):
    return "".join(f"{k}: {v}" for k, v in basic(user, password).items())


def status_of(port, path, extra=()):
    c = Conn(port)
    try:
        c.send(request(path=path, extra=list(extra)))
        return c.read_response()[0]
    finally:
        c.close()


def http_get(port, path):
    c = Conn(port)
    try:
        c.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        status, _, body = c.read_response()
        return status, body
    finally:
        c.close()


def say(script, word):
    """A script that prints word and then echoes."""
    return script(f"#!/bin/sh\necho {word}\nexec cat\n")


@pytest.fixture
def routes_server(server, tmp_path):
    """routes_server(text, keeps_children=False): wsbridge with this --config file."""

    def start(text, **kw):
        conf = tmp_path / "routes.conf"
        conf.write_text(text)
        s = server(f"--config={conf}", **kw)
        s.conf = conf
        return s

    return start


def test_each_route_serves_its_own_mode(routes_server, script, backend, tmp_path):
    echo = backend("echo")
    scripts = tmp_path / "cgi" / "scripts"
    scripts.mkdir(parents=True)
    hello = scripts / "hello.sh"
    hello.write_text('#!/bin/sh\necho "$SCRIPT_NAME $PATH_INFO"\n')
    hello.chmod(0o755)
    www = tmp_path / "www"
    (www / "room").mkdir(parents=True)
    (www / "index.html").write_text("top page\n")
    (www / "room" / "index.html").write_text("room page\n")
    s = routes_server(f"staticdir = {www}\n"
                      f"[route /echo/]\ncommand = {script(CAT)}\n"
                      f"[route /room/]\nshared\ncommand = {script(CAT)}\n"
                      f"[route /tcp/]\nconnect = {echo.target}\n"
                      f"[route /scripts/]\ndir = {tmp_path / 'cgi'}\n",
                      keeps_children=True)

    async def talk():
        async with websockets.connect(s.url + "/echo/one", **OPEN) as ws:
            await ws.send("exec")
            assert await ws.recv() == "exec"
        async with websockets.connect(s.url + "/room/", **OPEN) as a, \
                websockets.connect(s.url + "/room/", **OPEN) as b:
            await a.send("to everyone")
            assert await a.recv() == "to everyone"
            assert await b.recv() == "to everyone", "one shared COMMAND for the route"
        async with websockets.connect(s.url + "/tcp/", **OPEN) as ws:
            await ws.send(b"\x00binary\xff")
            assert await ws.recv() == b"\x00binary\xff"
        async with websockets.connect(s.url + "/scripts/hello.sh/more", **OPEN) as ws:
            msgs, code, _ = await recv_all(ws)
            assert msgs == ["/scripts/hello.sh /more"] and code == 1000

    run(talk())
    assert status_of(s.port, "/nothing/") == 404, "no route, and no endpoint at the top"
    assert http_get(s.port, "/") == (200, b"top page\n"), "plain HTTP outside routes: staticdir"
    assert http_get(s.port, "/room/") == (200, b"room page\n"), "a route serves the files too"
    log = s.log()
    assert re.search(r'CONNECT .*"GET /echo/one" route /echo/ -> pid', log)
    assert re.search(r'DISCONNECT .*"GET /tcp/" route /tcp/ -> 127\.0\.0\.1:\d+', log)
    assert re.search(r'"GET /room/" route /room/ 200', log)
    assert "route /room/: serving" in log and "route /tcp/: proxying to 127.0.0.1:" in log


def test_limits_and_auth_are_per_route(routes_server, script):
    s = routes_server(f"[route /open/]\ncommand = {script(CAT)}\n"
                      f"[route /locked/]\nbasic-auth = alice:secret\ncommand = {script(CAT)}\n"
                      f"[route /small/]\nmaxmsgsize = 8\ncommand = {script(CAT)}\n"
                      f"[route /one/]\nmaxforks = 1\ncommand = {script(CAT)}\n")
    assert status_of(s.port, "/locked/") == 401
    assert status_of(s.port, "/locked/", [basic_line("alice", "wrong")]) == 401
    assert status_of(s.port, "/open/") == 101, "the route next to it needs no credentials"

    async def talk():
        async with websockets.connect(s.url + "/locked/", extra_headers=basic("alice", "secret"),
                                      **OPEN) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"
        async with websockets.connect(s.url + "/open/", **OPEN) as ws:
            await ws.send("x" * 100)
            assert await ws.recv() == "x" * 100, "the other routes keep the default limit"
        async with websockets.connect(s.url + "/small/", **OPEN) as ws:
            await ws.send("x" * 9)
            _, code, _ = await recv_all(ws)
            assert code == 1009
        async with websockets.connect(s.url + "/one/", **OPEN) as ws:
            await ws.send("first")
            assert await ws.recv() == "first"
            assert status_of(s.port, "/one/") == 429, "the route's own --maxforks"
            async with websockets.connect(s.url + "/open/", **OPEN) as other:
                await other.send("free")
                assert await other.recv() == "free", "other routes do not count against it"

    run(talk())


def test_doubled_slashes_do_not_dodge_a_routes_auth(routes_server, script, tmp_path):
    (tmp_path / "www" / "locked" / "sub").mkdir(parents=True)
    (tmp_path / "www" / "locked" / "secret.txt").write_text("secret\n")
    s = routes_server(f"staticdir = {tmp_path / 'www'}\n"
                      f"[route /locked/]\nbasic-auth = alice:secret\ncommand = {script(CAT)}\n")
    for path in ("/locked/secret.txt", "//locked/secret.txt", "/%2Flocked/secret.txt",
                 "///locked//secret.txt"):
        assert http_get(s.port, path)[0] == 401, path
    c = Conn(s.port)
    try:
        c.send(f"GET //locked//secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"{basic_line('alice', 'secret')}\r\nConnection: close\r\n\r\n".encode())
        assert c.read_response()[0::2] == (200, b"secret\n")
    finally:
        c.close()
    # A directory's redirect keeps one leading slash: never "//host/".
    c = Conn(s.port)
    try:
        c.send(f"GET //locked/sub HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"{basic_line('alice', 'secret')}\r\nConnection: close\r\n\r\n".encode())
        status, headers, _ = c.read_response()
        assert status == 301
        assert headers["location"] == ["/locked/sub/"], headers
    finally:
        c.close()


def test_longest_prefix_wins_and_exact_routes(routes_server, script):
    s = routes_server(f"[route /a/]\ncommand = {say(script, 'a')}\n"
                      f"[route /a/b/]\ncommand = {say(script, 'ab')}\n"
                      f"[route = /a/x]\ncommand = {say(script, 'exact')}\n"
                      f"[route /api]\ncommand = {say(script, 'api')}\n")

    async def first(path):
        async with websockets.connect(s.url + path, **OPEN) as ws:
            return await ws.recv()

    async def talk():
        return [await first(p) for p in
                ("/a/", "/a/c", "/a/b/", "/a/b/c/d", "/a/x", "/a/xy", "/api", "/api/v1", "/apis")]

    assert run(talk()) == ["a", "a", "ab", "ab", "exact", "a", "api", "api", "api"]
    assert status_of(s.port, "/b") == 404
    assert status_of(s.port, "/") == 404
    assert status_of(s.port, "/a") == 404, "/a/ does not match /a"


def test_the_top_level_endpoint_answers_what_no_route_matches(routes_server, script):
    s = routes_server(f"command = {say(script, 'top')}\n"
                      f"[route /r/]\ncommand = {say(script, 'route')}\n")

    async def first(path):
        async with websockets.connect(s.url + path, **OPEN) as ws:
            return await ws.recv()

    async def talk():
        return [await first("/r/x"), await first("/"), await first("/other")]

    assert run(talk()) == ["route", "top", "top"]
    log = s.log()
    assert re.search(r'CONNECT .*"GET /other" -> pid', log), "no route named for the top level"


def test_reload_adds_and_removes_routes_and_keeps_open_sessions(routes_server, script):
    cat = script(CAT)
    shared = script(CAT)
    base = f"[route /room/]\nshared\ncommand = {shared}\n"
    s = routes_server(base + f"[route /old/]\ncommand = {cat}\n", keeps_children=True)

    def reload(text, done=r"reload: .*routes\.conf read"):
        before = len(re.findall(done, s.log()))
        s.conf.write_text(text)
        s.proc.send_signal(signal.SIGHUP)
        s.wait_log(rf"(?s)(?:.*{done}){{{before + 1}}}")

    async def talk():
        async with websockets.connect(s.url + "/old/", **OPEN) as old, \
                websockets.connect(s.url + "/room/", **OPEN) as room:
            await room.send("hello")
            assert await room.recv() == "hello"
            pid = int(re.search(r"started shared \S+ as pid (\d+)", s.log()).group(1))
            reload(base + f"[route /new/]\ncommand = {cat}\n")
            await old.send("still here")
            assert await old.recv() == "still here", "a removed route's session goes on"
            assert status_of(s.port, "/old/") == 404, "new connections see the new table"
            async with websockets.connect(s.url + "/new/", **OPEN) as new:
                await new.send("added")
                assert await new.recv() == "added"
            async with websockets.connect(s.url + "/room/", **OPEN) as room2:
                await room2.send("same room")
                assert await room2.recv() == "same room"
                assert await room.recv() == "same room", "an unchanged shared route keeps COMMAND"
            assert len(re.findall(r"started shared", s.log())) == 1
            assert os.path.exists(f"/proc/{pid}")
            # A broken file changes nothing, and names the line.
            reload(base + "[route /x/]\nport = 1\n", done=r"routes\.conf has errors")
            assert f"{s.conf}:5: 'port' is about the whole server" in s.log()
            async with websockets.connect(s.url + "/new/", **OPEN) as new:
                await new.send("kept")
                assert await new.recv() == "kept"
            # A route whose command cannot run is refused too.
            reload(base + "[route /y/]\ncommand = /nonexistent/prog\n",
                   done=r"keeping the current configuration")
            assert re.search(rf"{re.escape(str(s.conf))}:4: route /y/: cannot run "
                             r"'/nonexistent/prog': not an executable file", s.log())
            assert status_of(s.port, "/new/") == 101

    run(talk())
    deadline = time.monotonic() + 8
    while len(s.descendants()) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(s.descendants()) == 1, "only the shared COMMAND is left once the sessions end"


def test_reload_changes_the_static_files_of_the_top_level_and_of_routes(routes_server, script,
                                                                        tmp_path):
    for d in ("one", "two"):
        (tmp_path / d / "r").mkdir(parents=True)
        (tmp_path / d / "page.html").write_text(f"{d}\n")
        (tmp_path / d / "r" / "page.html").write_text(f"{d}/r\n")  # the path is not stripped
    cat = script(CAT)
    s = routes_server(f"staticdir = {tmp_path / 'one'}\n[route /r/]\ncommand = {cat}\n")
    assert http_get(s.port, "/page.html") == (200, b"one\n")
    assert http_get(s.port, "/r/page.html") == (200, b"one/r\n")
    s.conf.write_text(f"staticdir = {tmp_path / 'two'}\n[route /r/]\ncommand = {cat}\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"reload: .*routes\.conf read")
    assert "staticdir changed" not in s.log()
    assert http_get(s.port, "/page.html") == (200, b"two\n")
    assert http_get(s.port, "/r/page.html") == (200, b"two/r\n"), "the route inherits it"


def test_a_removed_shared_route_stops_its_command_after_the_last_client(routes_server, script):
    shared = script(CAT)
    s = routes_server(f"[route /room/]\nshared\ncommand = {shared}\n"
                      f"[route /other/]\ncommand = {script(CAT)}\n")

    async def talk():
        async with websockets.connect(s.url + "/room/", **OPEN) as room:
            await room.send("a")
            assert await room.recv() == "a"
            s.conf.write_text(f"[route /other/]\ncommand = {script(CAT)}\n")
            s.proc.send_signal(signal.SIGHUP)
            s.wait_log(r"reload: .*routes\.conf read")
            await room.send("b")
            assert await room.recv() == "b", "its client keeps the shared COMMAND"
            assert len(s.descendants()) == 1

    run(talk())
    assert s.wait_no_children(timeout=8.0), "the retired COMMAND ends with its last client"


@pytest.mark.parametrize("text,want", [
    ("[route /a/]\nworkers = 2\ncommand = cat\n",
     ":2: 'workers' is about the whole server: it goes before the first [route]"),
    ("port = 1\n\n[route /a/]\nbinary\n",
     ":3: route /a/: no endpoint: give 'command = PROGRAM ARGS', dir, connect or token-file"),
    ("[route a/]\n", ":1: a route's path starts with '/'"),
    ("[route /a/]\ncommand = cat\n[route /a/]\ncommand = cat\n",
     ":3: route /a/: given twice (first on line 1)"),
    ("[route /a/]\ncommand = no-such-program-here\n",
     ":1: route /a/: cannot run 'no-such-program-here': not found in PATH"),
    ("[route /a/]\ncommand = cat\ndir = /nonexistent\n",
     ":1: route /a/: 'command' cannot be used with --dir"),
    ("[route /a/]\nstaticdir = /nonexistent\ncommand = cat\n",
     ":1: route /a/: --staticdir=/nonexistent: No such file or directory"),
])
def test_errors_name_the_file_and_line(tmp_path, text, want):
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    r = subprocess.run([BINARY, f"--config={conf}", "--port", str(free_port()),
                        *root_children([])], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r.stderr
    assert f"{conf}{want}" in r.stderr, r.stderr


def test_the_readmes_routes_example_runs_as_it_says(routes_server, script, backend, tmp_path):
    """README.md's example file, with its paths and target moved into the
    test's directory: it starts, and each route serves what its comment says."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    text = readme.split("## Routes", 1)[1].split("```ini\n", 1)[1].split("```", 1)[0]
    www, ws = tmp_path / "www", tmp_path / "ws"
    (www / "chat").mkdir(parents=True)
    (www / "chat" / "index.html").write_text("chat page\n")
    (ws / "jobs").mkdir(parents=True)
    job = ws / "jobs" / "run.sh"
    job.write_text("#!/bin/sh\necho job\n")
    job.chmod(0o755)
    (tmp_path / "ops.htpasswd").write_text(f"ops:{crypt_hash('pw', 'METHOD_SHA512')}\n")
    target = backend("echo")
    swaps = {"port = 8080\n": "", "address = 127.0.0.1\n": "",
             "/srv/www": str(www), "/srv/ws": str(ws),
             "/usr/local/bin/room.py": script(CAT), "/usr/local/bin/status.sh": say(script, "ok"),
             "/etc/wsbridge/ops.htpasswd": str(tmp_path / "ops.htpasswd"),
             "127.0.0.1:5901": target.target}
    for old, new in swaps.items():
        assert old in text, f"the README's routes example no longer has {old!r}"
        text = text.replace(old, new)
    s = routes_server(text, keeps_children=True)
    origin = {"Origin": "https://example.org"}

    async def talk():
        async with websockets.connect(s.url + "/chat/", extra_headers=origin, **OPEN) as chat:
            # cat as the room: the events and the prefixed lines come back to everyone
            assert (await chat.recv()).startswith("!open\t")
            await chat.send("hi")
            assert (await chat.recv()).endswith("\thi")
        async with websockets.connect(s.url + "/vnc/", extra_headers=origin, **OPEN) as vnc:
            await vnc.send(b"\x01\x02")
            assert await vnc.recv() == b"\x01\x02"
        async with websockets.connect(s.url + "/status", extra_headers=origin, **OPEN) as st:
            assert await st.recv() == "ok"

    run(talk())
    assert http_get(s.port, "/chat/index.html") == (200, b"chat page\n")
    assert status_of(s.port, "/chat/") == 403, "the top level's origin rule is inherited"
    assert status_of(s.port, "/jobs/run.sh", ["Origin: https://example.org"]) == 401
    assert status_of(s.port, "/jobs/run.sh",
                     ["Origin: https://example.org", basic_line("ops", "pw")]) == 101
    assert status_of(s.port, "/status/x", ["Origin: https://example.org"]) == 404
