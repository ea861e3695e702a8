"""--fallback (doc/fallback.md): the same sessions over plain HTTP, driven here
by a client written from the document (fbclient.py): the open request and its
checks, the event stream (order, ids, types, resume, the replay window, long
polls, heartbeats), the message POSTs (retries, gaps, errors, sizes), the
close sequence both ways, expiry, the binding of an id to its client, flow
control with a reader that does not read, and every backend mode."""

import asyncio
import json
import os
import signal
import socket
import time

import pytest
import websockets

import fbclient
from fbclient import (Stream, open_session, post, records, request, send, with_session)


@pytest.fixture
def fbserver(server):
    """server() with --fallback, and --fallback-timeout=1 unless given, so that
    a session whose streams are closed ends soon after the test."""
    def start(*args, **kw):
        quick = [] if any(str(a).startswith("--fallback-timeout") for a in args) \
            else ["--fallback-timeout=1"]
        return server("--fallback", *quick, *args, **kw)
    return start


@pytest.fixture(autouse=True)
def close_streams(server):
    """Every stream a test opened is closed before its servers are checked."""
    yield
    for st in fbclient.OPEN_STREAMS:
        st.close()
    fbclient.OPEN_STREAMS.clear()


def opened(s, path="/", headers=None):
    status, j = open_session(s.port, path, headers)
    assert status == 200, (status, j)
    return j["session"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_off_by_default(server):
    s = server("cat")
    status, body = open_session(s.port)
    assert status == 404, "without --fallback an open request is a plain request"
    status, _, _ = request(s.port, "GET", "/?session=" + "0" * 32)
    assert status == 404


def test_exec_messages_in_order_with_consecutive_ids(fbserver, server):
    s = fbserver("cat")
    status, j = open_session(s.port)
    assert status == 200
    assert j["mode"] == "exec" and j["protocol"] is None and j["heartbeat"] == 30
    sid = j["session"]
    assert len(sid) == 32 and all(c in "0123456789abcdef" for c in sid)
    st = Stream(s.port, "/", sid)
    assert st.status == 200
    assert st.headers["content-type"] == "text/event-stream"
    assert st.headers["cache-control"] == "no-store"
    assert st.headers["x-accel-buffering"] == "no"
    texts = ['plain', 'say "hi" \\ back\tslash', 'wörld ✓ 𝄞', '']
    assert send(s.port, "/", sid, *[("t", t) for t in texts]) == len(texts) + 1
    got = [st.event() for _ in texts]
    assert [e["id"] for e in got] == [1, 2, 3, 4]
    assert [e["event"] for e in got] == ["text"] * 4
    assert [e["data"] for e in got] == texts
    many = [("t", f"line {i}") for i in range(200)]
    assert send(s.port, "/", sid, *many, first=5) == 205
    got = [st.event() for _ in many]
    assert [e["data"] for e in got] == [f"line {i}" for i in range(200)]
    assert [e["id"] for e in got] == list(range(5, 205))
    st.close()


def test_binary_mode_events_are_base64(fbserver, server):
    s = fbserver("--binary", "cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    blob = bytes(range(256)) * 3
    send(s.port, "/", sid, ("b", blob))
    got = b""
    while len(got) < len(blob):
        ev = st.event()
        assert ev["event"] in ("binary", "binary-part")
        got += ev["data"]
    assert got == blob


def test_fragments_are_one_message(fbserver, server, script):
    out = script("#!/bin/sh\nwhile read -r l; do echo \"[$l]\"; done\n")
    s = fbserver(out)
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    assert send(s.port, "/", sid, ("T", "hel"), ("T", "lo wo"), ("t", "rld")) == 4
    assert st.event()["data"] == "[hello world]"
    st.close()


def test_a_retried_post_is_applied_once(fbserver, server):
    s = fbserver("cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    body = records(("t", "one"), ("t", "two"))
    for _ in range(3):
        status, _, answer = post(s.port, "/", sid, body)
        assert status == 200 and json.loads(answer) == {"next": 3}
    # A retry that carries more than was applied: only the new record counts.
    status, _, answer = post(s.port, "/", sid, records(("t", "two"), ("t", "three"), first=2))
    assert status == 200 and json.loads(answer) == {"next": 4}
    assert [st.event()["data"] for _ in range(3)] == ["one", "two", "three"]
    send(s.port, "/", sid, ("t", "four"), first=4)
    ev = st.event()
    assert (ev["id"], ev["data"]) == (4, "four"), "nothing was applied twice"


def test_posts_keep_their_connection_also_pipelined(fbserver, server):
    s = fbserver("cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    c = fbclient.Kept(s.port)
    hdrs = {"X-WSBridge-Session": sid, "Content-Type": "application/vnd.wsbridge.msgs"}
    target = with_session("/", sid)
    try:
        for i in range(1, 4):
            c.send(c.head("POST", target, hdrs, records(("t", f"m{i}"), first=i)))
            status, h, body = c.answer()
            assert status == 200 and h["connection"] == "keep-alive", (status, h, body)
            assert json.loads(body) == {"next": i + 1}
        # Three POSTs in one write, the last asking to close: three answers in order.
        c.send(c.head("POST", target, hdrs, records(("t", "m4"), first=4)) +
               c.head("POST", target, hdrs, records(("t", "m5"), ("t", "m6"), first=5)) +
               c.head("POST", target, dict(hdrs, Connection="close"),
                      records(("t", "m7"), first=7)))
        nexts = []
        for _ in range(3):
            status, h, body = c.answer()
            assert status == 200, (status, body)
            nexts.append(json.loads(body)["next"])
        assert nexts == [5, 7, 8] and h["connection"] == "close"
        assert c.at_eof()
    finally:
        c.close()
    assert [st.event()["data"] for _ in range(7)] == [f"m{i}" for i in range(1, 8)]
    # A body that is not read (refused before it) cannot be followed: the
    # answer closes, and what came after it is not taken for a request.
    c = fbclient.Kept(s.port)
    try:
        c.send(c.head("POST", target, {"X-WSBridge-Session": sid, "Content-Type": "text/plain"},
                      b"GET /x HTTP/1.1\r\n\r\n"))
        status, h, _ = c.answer()
        assert status == 415 and h["connection"] == "close"
        assert c.at_eof()
    finally:
        c.close()


def test_a_gap_is_409_and_applies_nothing(fbserver, server):
    s = fbserver("cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    status, _, body = post(s.port, "/", sid, records(("t", "late"), first=3))
    assert status == 409, body
    status, _, body = post(s.port, "/", sid, records(("t", "a")) + records(("t", "b"), first=5))
    assert status == 400 and b"one after the other" in body
    assert send(s.port, "/", sid, ("t", "b"), first=2) == 3, "record 1 of that body was applied"
    assert [st.event()["data"] for _ in range(2)] == ["a", "b"]


def test_resume_with_last_event_id_loses_nothing(fbserver, server):
    s = fbserver("cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    send(s.port, "/", sid, *[("t", f"m{i}") for i in range(1, 6)])
    first = [st.event() for _ in range(2)]
    assert [e["id"] for e in first] == [1, 2]
    st.close()
    send(s.port, "/", sid, ("t", "m6"), first=6)
    st = Stream(s.port, "/", sid, last=2)
    assert [st.event()["data"] for _ in range(4)] == ["m3", "m4", "m5", "m6"]
    st.close()
    # last= in the query, for clients that cannot set the header.
    st = Stream(s.port, "/", sid, extra="&last=4")
    assert [st.event()["id"] for _ in range(2)] == [5, 6]
    # A newer stream replaces the older one, which ends at once.
    st2 = Stream(s.port, "/", sid, last=6)
    assert st.read_to_eof(5), "the replaced stream ends"
    send(s.port, "/", sid, ("t", "m7"), first=7)
    assert st2.event()["data"] == "m7"
    bad = Stream(s.port, "/", sid, last=99)
    assert bad.status == 400, "an id the session never sent"
    bad = Stream(s.port, "/", sid, extra="&last=x1")
    assert bad.status == 400


def test_resume_before_the_replay_window_is_410_and_ends_the_session(fbserver, server, script):
    big = script("#!/bin/sh\nread -r l\nhead -c 700000 /dev/zero | tr '\\0' x | fold -w 1000\n"
                 "echo\nsleep 30\n")
    s = fbserver(big)
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    send(s.port, "/", sid, ("t", "go"))
    n = 0
    while n < 700:
        ev = st.event()
        assert ev["data"] == "x" * 1000
        n += 1
    st.close()
    st = Stream(s.port, "/", sid, last=1)
    assert st.status == 410
    s.wait_log(r"DISCONNECT .* code 1006 by client: the client resumed past the replay window")
    status, _, _ = post(s.port, "/", sid, records(("t", "x"), first=2))
    assert status == 404
    assert s.wait_no_children()
    st = Stream(s.port, "/", sid, last=650)
    assert st.status == 404


def test_a_session_without_a_stream_expires(fbserver, server):
    s = fbserver("--fallback-timeout=0.5", "cat")
    sid = opened(s)
    assert s.descendants(), "cat runs"
    s.wait_log(r"DISCONNECT .* code 1006 by client: no event stream for 0.5 s", timeout=5)
    assert s.wait_no_children()
    assert Stream(s.port, "/", sid).status == 404
    # A stream that is attached keeps it alive past the timeout.
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    time.sleep(1.2)
    assert send(s.port, "/", sid, ("t", "alive")) == 2
    assert st.event()["data"] == "alive"


def bind_from(addr):
    def connect(port):
        sock = socket.socket()
        sock.bind((addr, 0))
        sock.connect(("127.0.0.1", port))
        return sock
    return connect


def test_ids_are_bound_to_their_client_and_route(server, tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("fallback\nfallback-timeout = 1\n[route /other]\ncommand = cat\n")
    s = server(f"--config={conf}", "cat")
    sid = opened(s)
    for wrong in ["0" * 32, sid.upper(), sid[:-1], sid + "0", "zz" + sid[2:]]:
        assert Stream(s.port, "/", wrong).status == 404
        assert post(s.port, "/", wrong, records(("t", "x")))[0] == 404
    assert Stream(s.port, "/other", sid).status == 404, "another route's URL"
    # Another client address (127.0.0.2 reaches the same loopback listener).
    sock = bind_from("127.0.0.2")(s.port)
    sock.sendall(f"GET /?session={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert sock.recv(100).startswith(b"HTTP/1.1 404")
    sock.close()
    st = Stream(s.port, "/", sid)
    assert st.status == 200, "its own client still can"
    # The header and the query must name the same session.
    other = opened(s)
    status, _, body = post(s.port, "/", sid, records(("t", "x")),
                           headers={"X-WSBridge-Session": other})
    assert status == 415


def test_post_errors(fbserver, server):
    s = fbserver("--maxmsgsize=1000", "cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    assert post(s.port, "/", sid, records(("t", "x" * 2000)))[0] == 413, "over the body bound"
    status, _, body = post(s.port, "/", sid, b"1 t 5\nhello")
    assert status == 400 and b"ends inside a record" in body
    assert post(s.port, "/", sid, b"1 q 1\nx\n")[0] == 400
    assert post(s.port, "/", sid, records(("t", "x")),
                headers={"Content-Type": "text/plain"})[0] == 415
    status, _, _ = request(s.port, "POST", with_session("/", sid),
                           {"Content-Type": "application/vnd.wsbridge.msgs"},
                           records(("t", "x")))
    assert status == 415, "no X-WSBridge-Session header"
    status, _, _ = request(s.port, "POST", with_session("/", sid),
                           {"Content-Type": "application/vnd.wsbridge.msgs",
                            "X-WSBridge-Session": sid, "Transfer-Encoding": "chunked"},
                           b"")
    assert status == 411
    # The truncated body's record was whole but for its LF: it was applied.
    assert st.event()["data"] == "hello"
    assert send(s.port, "/", sid, ("t", "ok"), first=2) == 3
    assert st.event()["data"] == "ok"
    # A message of fragments over --maxmsgsize: 413, and the session closes with 1009.
    status, _, _ = post(s.port, "/", sid, records(("T", "a" * 500), ("t", "b" * 510), first=3))
    assert status == 413
    ev = st.event()
    assert ev["event"] == "close" and ev["data"]["code"] == 1009


def test_bad_utf8_closes_with_1007(fbserver, server):
    s = fbserver("cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    status, _, _ = post(s.port, "/", sid, records(("t", b"\xff\xfe")))
    assert status == 400
    ev = st.event()
    assert ev["event"] == "close" and ev["data"]["code"] == 1007
    assert st.read_to_eof(5)
    s.wait_log(r"DISCONNECT .* code 1007")


def test_close_record_and_exit_codes(fbserver, server, script):
    s = fbserver("cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    assert send(s.port, "/", sid, ("t", "last words")) == 2
    assert st.event()["data"] == "last words"
    # As a close frame: the program is let go at once (what it writes after is not sent).
    assert send(s.port, "/", sid, ("c", "4000 done here"), first=2) == 3
    evs = st.events_until_close()
    assert [e["event"] for e in evs] == ["close"]
    assert evs[-1]["data"] == {"code": 4000, "reason": "done here"}
    assert evs[-1]["id"] == 2
    assert st.read_to_eof(5), "the stream ends after the close event"
    s.wait_log(r"DISCONNECT .* code 4000 by client: done here, in 1 messages")
    assert s.wait_no_children(), "cat saw the end of its stdin"
    assert post(s.port, "/", sid, records(("t", "x"), first=3))[0] == 404
    # The program's exit status becomes the close event, as on a WebSocket.
    for body, code, reason in [("#!/bin/sh\necho bye\nexit 0\n", 1000, ""),
                               ("#!/bin/sh\necho bye\nexit 3\n", 1011, "exit 3")]:
        s2 = fbserver(script(body))
        sid = opened(s2)
        st = Stream(s2.port, "/", sid)
        evs = st.events_until_close()
        assert evs[0]["data"] == "bye"
        assert evs[-1]["data"] == {"code": code, "reason": reason}
    # An ended session keeps its close event for a stream that comes back for it.
    st = Stream(s2.port, "/", sid, last=1)
    assert st.events_until_close()[-1]["data"]["code"] == 1011


def test_slow_reader_pauses_the_program_and_memory_stays_bounded(fbserver, server, script):
    counter = script("#!/bin/sh\nexec seq 1 100000000\n")
    s = fbserver(counter)
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(1.0)
    base = rss_kib(s.proc.pid)
    time.sleep(2.0)
    grown = rss_kib(s.proc.pid) - base
    assert grown < 2048, f"daemon grew {grown} KiB with a stream nobody reads"
    # The program was paused, not dropped: every number arrives, in order.
    for i in range(1, 5001):
        assert st.event()["data"] == str(i)
    st.close()


def test_long_poll_and_heartbeats(fbserver, server, script):
    s = fbserver("--pingms=1000", "cat")
    sid = opened(s)
    send(s.port, "/", sid, ("t", "a"), ("t", "b"))
    status, headers, body = request(s.port, "GET", with_session("/", sid, "&poll=1"))
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert int(headers["content-length"]) == len(body)
    assert b"id: 1\nevent: text\ndata: \"a\"\n\n" in body and b"id: 2\n" in body
    t0 = time.monotonic()
    status, _, body = request(s.port, "GET", with_session("/", sid, "&poll=1&last=2"))
    assert status == 200 and body == b": heartbeat\n\n"
    assert time.monotonic() - t0 >= 0.9, "waited for the heartbeat period"
    st = Stream(s.port, "/", sid, last=2)
    time.sleep(2.3)
    st.sock.settimeout(2)
    send(s.port, "/", sid, ("t", "c"), first=3)
    assert st.event()["data"] == "c"
    assert st.comments >= 2, "heartbeat comments every --pingms"


def test_open_goes_through_the_upgrades_checks(fbserver, server, script, tmp_path):
    s = fbserver("--origin=good.example", "--basic-auth=u:p", "cat")
    auth = {"Authorization": "Basic dTpw"}
    assert open_session(s.port)[0] == 401
    assert open_session(s.port, headers={**auth, "Origin": "http://evil.example"})[0] == 403
    assert open_session(s.port, headers=auth)[0] == 403, "an upgrade needs an Origin too"
    status, j = open_session(s.port, headers={**auth, "Origin": "http://good.example"})
    assert status == 200
    sid = j["session"]
    st = Stream(s.port, "/", sid, headers={**auth, "Origin": "http://evil.example"})
    assert st.status == 403, "the origin rules apply to a stream that has an Origin"
    assert Stream(s.port, "/", sid, headers=auth).status == 200, "a same-origin GET has none"
    assert Stream(s.port, "/", sid).status == 401, "every request is authenticated"
    # A preflight is never answered with CORS headers.
    status, headers, _ = request(s.port, "OPTIONS", "/", {
        **auth, "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-wsbridge"})
    assert status in (404, 405) and "access-control-allow-origin" not in headers
    s2 = fbserver("--maxforks=1", "cat")
    opened(s2)
    assert open_session(s2.port)[0] == 429
    assert open_session(s2.port, headers={"Content-Length": "2"})[0] in (400, 429)


def test_subprotocol_and_environment(fbserver, server, script):
    env = script("#!/bin/sh\necho \"$REQUEST_METHOD $SEC_WEBSOCKET_PROTOCOL "
                 "${HTTP_X_WSBRIDGE:-none} ${SEC_WEBSOCKET_EXTENSIONS:-none} $REMOTE_ADDR\"\n")
    s = fbserver("--subprotocol=chat", "--subprotocol=superchat", env)
    status, j = open_session(s.port, headers={"X-WSBridge-Protocol": "superchat, chat"})
    assert status == 200 and j["protocol"] == "chat"
    st = Stream(s.port, "/", j["session"])
    assert st.event()["data"] == "GET chat none none 127.0.0.1"


def test_dir_scripts(fbserver, server, tmp_path):
    d = tmp_path / "scripts"
    d.mkdir()
    (d / "hello.sh").write_text("#!/bin/sh\necho \"hi from $SCRIPT_NAME ${QUERY_STRING}\"\n")
    os.chmod(d / "hello.sh", 0o755)
    s = fbserver(f"--dir={d}")
    assert open_session(s.port, "/nope.sh")[0] == 404
    status, j = open_session(s.port, "/hello.sh?x=1")
    assert status == 200
    st = Stream(s.port, "/hello.sh?x=1", j["session"])
    evs = st.events_until_close()
    assert evs[0]["data"] == "hi from /hello.sh x=1"
    assert evs[-1]["data"]["code"] == 1000


def test_proxy_mode(fbserver, server, backend):
    b = backend("echo")
    s = fbserver(f"--connect={b.target}")
    status, j = open_session(s.port)
    assert status == 200 and j["mode"] == "proxy"
    sid = j["session"]
    st = Stream(s.port, "/", sid)
    send(s.port, "/", sid, ("b", b"\x00\x01binary\xff"))
    got = b""
    while len(got) < 9:
        ev = st.event()
        assert ev["event"] == "binary"
        got += ev["data"]
    assert got == b"\x00\x01binary\xff"
    send(s.port, "/", sid, ("c", "1000"), first=2)
    assert st.events_until_close()[-1]["data"]["code"] == 1000
    # A target that refuses: the open gets 502, as an upgrade would.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    s2 = fbserver(f"--connect=127.0.0.1:{port}")
    assert open_session(s2.port)[0] == 502


def test_shared_mode_with_a_websocket_client_beside(server, script):
    room = script("#!/bin/sh\nwhile read -r l; do echo \"room: $l\"; done\n")
    s = server("--shared", "--fallback", room)
    status, j = open_session(s.port)
    assert status == 200 and j["mode"] == "shared"
    sid = j["session"]
    st = Stream(s.port, "/", sid)

    async def ws_side():
        async with websockets.connect(s.url + "/") as ws:
            await asyncio.sleep(0.2)
            await ws.send("from ws")
            got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)]
            return got

    async def both():
        task = asyncio.create_task(ws_side())
        await asyncio.sleep(0.5)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: send(s.port, "/", sid, ("t", "from fallback")))
        return await task

    got = asyncio.run(both())
    assert sorted(got) == ["room: from fallback", "room: from ws"]
    evs = [st.event()["data"] for _ in range(2)]
    assert sorted(evs) == ["room: from fallback", "room: from ws"]


def test_idle_timeout_and_graceful_stop(fbserver, server):
    s = fbserver("--idle-timeout=0.5", "cat")
    sid = opened(s)
    st = Stream(s.port, "/", sid)
    ev = st.events_until_close(5)[-1]
    assert ev["data"] == {"code": 1001, "reason": "idle timeout"}
    s2 = fbserver("cat")
    sid = opened(s2)
    st = Stream(s2.port, "/", sid)
    send(s2.port, "/", sid, ("t", "x"))
    assert st.event()["data"] == "x"
    s2.proc.send_signal(signal.SIGTERM)
    ev = st.events_until_close(10)[-1]
    assert ev["data"]["code"] == 1001
    st.close()
    s2.proc.wait(10)
    assert s2.proc.returncode == 0


def test_per_route(server, tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("[route /fb]\ncommand = cat\nfallback\nfallback-timeout = 0.5\n"
                    "[route /plain]\ncommand = cat\n")
    s = server(f"--config={conf}", "cat")
    assert open_session(s.port, "/plain")[0] == 404
    assert open_session(s.port, "/")[0] == 404
    sid = opened(s, "/fb")
    s.wait_log(r"DISCONNECT .* route /fb .* no event stream for 0.5 s", timeout=5)
    assert Stream(s.port, "/fb", sid).status == 404
