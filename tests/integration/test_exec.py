"""The exec backend: websocketd's behaviour, and where we do better."""

import asyncio
import os
import re
import resource
import signal
import socket
import time

import pytest
import websockets

import no_close_range
from harness import refusal
from rawws import Conn, close_payload, frame
from wsclient import OPEN, collect, recv_all, recv_bytes, run

CAT = "#!/bin/sh\nexec cat\n"


# --- text mode ---------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 1 << 20])
def test_text_echo_through_cat(server, script, size):
    s = server(script(CAT))
    payload = "x" * size

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send(payload)
            return await asyncio.wait_for(ws.recv(), 20)
    assert run(go()) == payload


def test_text_messages_become_lines_and_lines_become_messages(server, script):
    s = server(script(CAT))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            for m in ["hello", "", "wörld ✓", "a\nb", "tab\there"]:
                await ws.send(m)
            return [await asyncio.wait_for(ws.recv(), 5) for _ in range(6)]
    # an embedded newline reaches the child as it is, so it comes back as two lines
    assert run(go()) == ["hello", "", "wörld ✓", "a", "b", "tab\there"]


def test_line_endings_stripped_once_and_last_line_without_newline_delivered(server, script):
    body = "#!/bin/sh\nprintf 'a\\nb\\r\\n\\nc\\rd\\n\\r\\ntail-no-newline'\n"
    msgs, code, _ = run(collect(server(script(body)).url))
    assert msgs == ["a", "b", "", "c\rd", "", "tail-no-newline"]
    assert code == 1000


def test_long_line_is_streamed_as_a_fragmented_message(server, script):
    # 300 KiB in one line, then a short one: the first arrives whole, in order
    body = "#!/bin/sh\nhead -c 307200 /dev/zero | tr '\\0' 'y'; printf '\\nshort\\n'\n"
    s = server(script(body))
    c = Conn(s.port)
    c.handshake()
    frames = []
    while True:
        fin, rsv, op, payload = c.read_frame()
        frames.append((fin, op, len(payload)))
        if op == 8:
            break
    c.close()
    data_frames = frames[:-2]
    assert len(data_frames) > 1, "a 300 KiB line must not be one frame"
    assert data_frames[0][1] == 1 and not data_frames[0][0]
    assert all(op == 0 for _, op, _ in data_frames[1:])
    assert data_frames[-1][0] and sum(n for _, _, n in data_frames) == 307200
    assert max(n for _, _, n in data_frames) <= 65536
    assert frames[-2] == (True, 1, 5)


def test_fragmented_client_message_is_one_line(server, script):
    s = server(script(CAT))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send(["frag", "mented ", "message"])
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == "fragmented message"


def test_binary_message_in_text_mode_goes_to_stdin_raw(server, script):
    s = server(script(CAT))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send(b"zz")
            await ws.send("q")
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == "zzq"


def test_invalid_utf8_from_the_child_is_replaced(server, script):
    body = "#!/bin/sh\nprintf 'ok\\n\\377\\376\\n\\303(\\n\\355\\240\\200x\\n'\n"
    s = server(script(body))
    msgs, code, _ = run(collect(s.url))
    assert msgs == ["ok", "\ufffd\ufffd", "\ufffd(", "\ufffd\ufffd\ufffdx"]
    assert code == 1000
    assert len(re.findall("invalid UTF-8", s.log())) == 1, "warn once per connection"


def test_invalid_utf8_split_across_a_long_line_boundary(server, script):
    # a 4-byte character straddling the 64 KiB cut must survive intact
    body = ("#!/bin/sh\nhead -c 65534 /dev/zero | tr '\\0' 'a'; "
            "printf '\\360\\237\\230\\200end\\n'\n")
    msgs, code, _ = run(collect(server(script(body)).url))
    assert msgs == ["a" * 65534 + "\U0001F600end"]


def test_invalid_utf8_from_the_client_closes_1007(server, script):
    s = server(script(CAT))
    c = Conn(s.port)
    c.handshake()
    c.send(frame(1, b"ok\xff"))
    code, _ = c.expect_close()
    assert code == 1007
    assert c.wait_eof()


# --- binary mode ---------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 1 << 20])
def test_binary_echo_through_cat(server, script, size):
    s = server("--binary", script(CAT))
    payload = os.urandom(size)

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send(payload)
            if size == 0:
                await ws.send(b"marker")   # nothing comes back for 0 bytes
                return (await recv_bytes(ws, 6))[:-6]
            return await recv_bytes(ws, size)
    assert run(go()) == payload


def test_binary_mode_adds_nothing_to_text_messages(server, script):
    s = server("--binary", script(CAT))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send("hi")
            return await recv_bytes(ws, 2)
    assert run(go()) == b"hi"


def test_binary_output_is_one_message_per_read(server, script):
    body = "#!/bin/sh\nhead -c 300000 /dev/urandom\n"
    msgs, code, _ = run(collect(server("--binary", script(body)).url))
    assert all(isinstance(m, bytes) for m in msgs)
    assert sum(len(m) for m in msgs) == 300000
    assert max(len(m) for m in msgs) <= 65536
    assert code == 1000


# Under AddressSanitizer freed memory sits in a quarantine; keep it small so
# that RSS measures the daemon's buffers, not the sanitizer's bookkeeping.
SMALL_QUARANTINE = {"ASAN_OPTIONS": "detect_leaks=1:quarantine_size_mb=1"}


def test_100_mib_binary_echo_completes_with_flat_memory(server, script):
    """websocketd 0.4.1 deadlocks on 1 MB; we stream with backpressure both ways."""
    s = server("--binary", script(CAT), env=SMALL_QUARANTINE)
    total = 100 << 20
    chunk = os.urandom(1 << 20)
    rss = []

    def daemon_rss_kib():
        with open(f"/proc/{s.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    async def go():
        async with websockets.connect(s.url, **OPEN, max_queue=4) as ws:
            async def sender():
                for _ in range(total // len(chunk)):
                    await ws.send(chunk)

            async def receiver():
                got, next_sample = 0, 8 << 20
                view = memoryview(chunk)
                while got < total:
                    m = await asyncio.wait_for(ws.recv(), 30)
                    off = got % len(chunk)
                    # compare against the repeating source without buffering it all
                    while m:
                        n = min(len(m), len(chunk) - off)
                        assert m[:n] == view[off:off + n], f"mismatch at byte {got}"
                        m, got, off = m[n:], got + n, 0
                    if got >= next_sample:
                        rss.append(daemon_rss_kib())
                        next_sample += 8 << 20
                return got
            _, got = await asyncio.gather(sender(), receiver())
            return got
    baseline = daemon_rss_kib()
    assert run(go(), timeout=300) == total
    assert rss, "RSS was never sampled"
    assert max(rss) - baseline < 16 * 1024, f"daemon RSS grew from {baseline} to {max(rss)} KiB"


def test_child_that_writes_faster_than_the_client_reads_is_paused(server, script):
    body = "#!/bin/sh\nexec yes 0123456789abcdefghijklmnopqrstuvwxyz\n"
    s = server(script(body), env=SMALL_QUARANTINE)

    def rss_kib():
        with open(f"/proc/{s.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    async def go():
        ws = await websockets.connect(s.url, **OPEN, max_queue=1)
        first = await asyncio.wait_for(ws.recv(), 5)
        before = rss_kib()
        await asyncio.sleep(2.0)       # not reading: the daemon must stop reading `yes`
        after = rss_kib()
        ws.transport.abort()           # this client never drains what is queued for it
        return first, before, after
    first, before, after = run(go())
    assert first == "0123456789abcdefghijklmnopqrstuvwxyz"
    assert after - before < 8 * 1024, (before, after)


# --- lifecycle -------------------------------------------------------------------

@pytest.mark.parametrize("body,code,reason", [
    ("#!/bin/sh\necho bye\nexit 0\n", 1000, ""),
    ("#!/bin/sh\necho bye\nexit 3\n", 1011, "exit 3"),
    ("#!/bin/sh\necho bye\nkill -9 $$\n", 1011, "signal 9"),
])
def test_child_exit_delivers_output_then_closes_with_status(server, script, body, code, reason):
    msgs, got_code, got_reason = run(collect(server(script(body)).url))
    assert msgs == ["bye"]
    assert (got_code, got_reason) == (code, reason)


def test_all_output_is_delivered_before_the_close(server, script):
    body = "#!/bin/sh\nseq 1 20000\n"
    msgs, code, _ = run(collect(server(script(body)).url))
    assert msgs == [str(i) for i in range(1, 20001)]
    assert code == 1000


FILL_PIPE_AND_EXIT = """#!/usr/bin/python3
# Write until the stdout pipe stays full (the daemon has stopped reading it
# because its client is slow), record how much was written, and exit.
import fcntl, os, sys, time
fcntl.fcntl(1, 1031, 1 << 20)                      # F_SETPIPE_SZ: 1 MiB waits in the pipe
fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)
data = b"".join(b"%d\\n" % i for i in range(1, 3000001))
sent, stalls = 0, 0
while sent < len(data) and stalls < 2:
    try:
        sent += os.write(1, data[sent:sent + 65536])
        stalls = 0
    except BlockingIOError:
        stalls += 1
        time.sleep(0.2)
open(sys.argv[1], "w").write(str(sent))
"""


def test_output_of_a_child_that_exits_while_the_client_is_slow_is_all_delivered(
        server, script, tmp_path):
    # The client does not read at first: the daemon's queue fills, it stops
    # reading the pipe, the child exits with a full pipe. All of it must arrive.
    sent_file = tmp_path / "sent"
    s = server("--binary", script(FILL_PIPE_AND_EXIT, name="fill.py"), str(sent_file))
    c = Conn(s.port, rcvbuf=4096, timeout=30)
    c.handshake()
    time.sleep(2.5)
    data = bytearray()
    while True:
        msg = c.read_message()
        if msg[0] == "close":
            break
        data += msg[1]
    sent = int(sent_file.read_text())
    assert sent > (1 << 20)
    expected = b"".join(b"%d\n" % i for i in range(1, 3000001))[:sent]
    assert len(data) == sent and data == expected
    assert msg[1] == 1000


def test_stderr_lines_are_logged_with_the_connection_id(server, script):
    body = "#!/bin/sh\necho 'oops on stderr' >&2\necho out\n"
    s = server(script(body))
    msgs, _, _ = run(collect(s.url))
    assert msgs == ["out"]
    s.wait_log(r"ERROR\s+#1 stderr: oops on stderr")


def test_command_that_cannot_start_closes_1011(server, script, tmp_path):
    path = script(CAT)
    s = server(path)
    os.chmod(path, 0o644)       # no longer executable
    msgs, code, reason = run(collect(s.url))
    assert msgs == [] and code == 1011
    s.wait_log(r"cannot start the command: .*Permission denied")


def test_child_closing_stdin_early_does_not_break_the_session(server, script):
    body = "#!/bin/sh\nexec 0<&-\necho started\nsleep 0.5\necho done\n"
    s = server(script(body))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            for _ in range(100):
                await ws.send("ignored " * 100)
            return [first] + (await recv_all(ws))[0]
    assert run(go()) == ["started", "done"]


def seconds_until_sigint(server, script, tmp_path, *args):
    """Run a child that records when SIGINT reaches it; close the client and
    return how long after we started closing the signal came (the daemon
    cannot act before then, however late we are told the close is done)."""
    marker = tmp_path / "got-int"
    # $EPOCHREALTIME, not $(date): a trap that forks may be too slow for the SIGTERM behind
    body = f"""#!/bin/bash
trap 'echo "$EPOCHREALTIME" > {marker}; exit 0' INT
echo ready
while :; do sleep 0.05; done
"""
    s = server(*args, script(body))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "ready"
            closing_at = time.time()
            await ws.close()
        return closing_at
    closed_at = run(go())
    assert s.wait_no_children(5)
    assert marker.exists(), s.log()
    return float(marker.read_text()) - closed_at


def test_client_close_sends_sigint_to_a_trapping_child(server, script, tmp_path):
    # stdin is closed first; SIGINT follows 100 ms later
    assert 0.09 <= seconds_until_sigint(server, script, tmp_path) <= 1.0


def test_closems_delays_each_signal(server, script, tmp_path):
    assert 0.78 <= seconds_until_sigint(server, script, tmp_path, "--closems=700") <= 2.0


def test_stubborn_child_is_killed_and_reaped(server, script, tmp_path):
    body = "#!/bin/bash\ntrap '' INT TERM HUP\necho ready\nwhile :; do sleep 0.05; done\n"
    s = server(script(body))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "ready"
            return time.monotonic()          # closing starts here
    start = run(go())
    assert s.wait_no_children(5), s.descendants()
    assert time.monotonic() - start < 3.0    # SIGKILL comes after 0.85 s
    s.wait_log(r"did not end after SIGINT and SIGTERM: sent SIGKILL")


def test_grandchildren_are_terminated_with_the_group(server, script, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    body = f"#!/bin/sh\nsleep 1000 &\necho $! > {pidfile}\necho ready\nexec cat\n"
    s = server(script(body))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "ready"
    run(go())
    grandchild = int(pidfile.read_text())
    assert s.wait_no_children(5), s.descendants()
    with pytest.raises(ProcessLookupError):
        os.kill(grandchild, 0)


def test_grandchild_holding_stdout_after_the_child_exits(server, script, tmp_path):
    # the child exits, a background job keeps stdout open: the group is ended
    body = "#!/bin/sh\necho one\nsleep 1000 &\nexit 0\n"
    s = server(script(body))
    start = time.monotonic()
    msgs, code, _ = run(collect(s.url))
    assert msgs == ["one"] and code == 1000
    assert time.monotonic() - start < 5.0    # not held until the grandchild's sleep ends
    assert s.wait_no_children(5), s.descendants()


def test_abrupt_disconnect_ends_the_child(server, script):
    s = server(script("#!/bin/sh\necho ready\nexec cat\n"))
    c = Conn(s.port)
    c.handshake()
    assert c.read_message() == (1, b"ready")
    c.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_LINGER,
                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()      # RST, no close frame
    assert s.wait_no_children(5), s.descendants()
    s.wait_log(r"DISCONNECT .* code 1006")


def test_child_environment(server, script):
    body = "#!/bin/sh\nenv\n"
    s = server("--passenv=PATH,MY_VAR", script(body), env={"MY_VAR": "a\rb", "SECRET": "no"})

    async def go():
        async with websockets.connect(
                s.url + "/some%20path/x?q=1&r=%20",
                extra_headers=[("X-Foo", "1"), ("X-Foo", "2"), ("Proxy", "evil"),
                               ("Cookie", "c=1")], **OPEN) as ws:
            return (await recv_all(ws))[0]
    lines = run(go())
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    expect = {
        "SERVER_SOFTWARE": re.compile(r"wsbridge/\d+\.\d+\.\d+"),
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_HOST": "127.0.0.1",
        "REMOTE_PORT": re.compile(r"\d+"),
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(s.port),
        "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/",
        "PATH_INFO": "/some path/x", "PATH_TRANSLATED": "/some path/x",
        "QUERY_STRING": "q=1&r=%20", "REQUEST_URI": "/some%20path/x?q=1&r=%20",
        "AUTH_TYPE": "", "CONTENT_LENGTH": "", "CONTENT_TYPE": "", "REMOTE_IDENT": "",
        "REMOTE_USER": "", "UNIQUE_ID": re.compile(r"\d+"),
        "HTTP_HOST": f"127.0.0.1:{s.port}", "HTTP_X_FOO": "1, 2", "HTTP_COOKIE": "c=1",
        "HTTP_UPGRADE": "websocket", "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        # python3-websockets offers permessage-deflate; what was agreed:
        "SEC_WEBSOCKET_EXTENSIONS":
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "MY_VAR": "a b", "PATH": os.environ["PATH"],
    }
    for name, value in expect.items():
        assert name in env, name
        if isinstance(value, str):
            assert env[name] == value, (name, env[name])
        else:
            assert value.fullmatch(env[name]), (name, env[name])
    assert "HTTP_PROXY" not in env and "SECRET" not in env and "HTTPS" not in env
    unexpected = set(env) - set(expect) - {
        "HTTP_SEC_WEBSOCKET_KEY", "HTTP_SEC_WEBSOCKET_EXTENSIONS", "HTTP_USER_AGENT", "PWD",
        "SHLVL", "_"}
    assert not unexpected, unexpected


def test_child_inherits_only_stdin_stdout_stderr(server, script, tmp_path):
    # fd 3 of the child is the directory listdir itself opens; the daemon's
    # inherited descriptor (not close-on-exec) must not get through
    leak = open(tmp_path / "inherited", "w")
    os.set_inheritable(leak.fileno(), True)
    body = ("#!/usr/bin/python3\nimport os\n"
            "print(' '.join(sorted(os.listdir('/proc/self/fd'), key=int)))\n")
    s = server(script(body, name="fds.py"), pass_fds=(leak.fileno(),))
    msgs, code, _ = run(collect(s.url))
    leak.close()
    assert msgs == ["0 1 2 3"] and code == 1000


FDS_THEN_UPPER = ("#!/usr/bin/python3\nimport os, sys\n"
                  "print(' '.join(sorted(os.listdir('/proc/self/fd'), key=int)), flush=True)\n"
                  "for line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n")


def start_with_inherited_fd3(server, script, tmp_path, wrapper=()):
    """Children say which descriptors they have, then upper-case lines. The
    daemon starts with fd 3 open and inheritable: below the reserved slots,
    so only the child's own closing keeps it out."""
    leak = ["sh", "-c", 'exec 3>>"$0"; exec "$@"', str(tmp_path / "inherited")]
    return server(script(FDS_THEN_UPPER, name="fds.py"), prefix=[*wrapper, *leak])


async def hold_sessions(url, n, then):
    """Opens n sessions at once, each hearing its child's descriptors first;
    returns (what they heard, await then(sessions)), and closes them all."""
    conns, seen = [], []
    try:
        for _ in range(n):
            ws = await websockets.connect(url, **OPEN)
            conns.append(ws)
            seen.append(await asyncio.wait_for(ws.recv(), 20))
        return seen, await then(conns)
    finally:
        for ws in conns:
            await ws.close()


def test_child_inherits_only_three_descriptors_while_hundreds_are_open(server, script, tmp_path):
    # Children share the daemon's descriptor table until they keep only the
    # lowest few (launch.c): the sessions' sockets and pipes must not leak
    # into later children, nor may a child's pipes into the daemon's table.
    s = start_with_inherited_fd3(server, script, tmp_path)

    async def count_daemon_fds(conns):
        return len(os.listdir(f"/proc/{s.proc.pid}/fd"))
    seen, daemon_fds = run(hold_sessions(s.url, 120, count_daemon_fds), timeout=120)
    assert set(seen) == {"0 1 2 3"}, set(seen)
    assert daemon_fds >= 4 * 120, daemon_fds   # a socket and three pipes per session
    assert s.wait_no_children(10)


@pytest.mark.skipif(not no_close_range.supported(), reason="seccomp numbers unknown here")
def test_commands_start_the_slow_way_on_a_kernel_without_close_range(server, script, tmp_path):
    # Before Linux 5.9 the fast launcher cannot unshare its table (launch.c):
    # the daemon says so once and starts every command with posix_spawn,
    # whose children must get the same three descriptors, with sessions open.
    wrapper = ["/usr/bin/python3", no_close_range.__file__]
    s = start_with_inherited_fd3(server, script, tmp_path, wrapper)

    async def echo_each(conns):
        for i, ws in enumerate(conns):
            await ws.send(f"hello {i}")
        return [await asyncio.wait_for(ws.recv(), 20) for ws in conns]
    seen, echoes = run(hold_sessions(s.url, 30, echo_each), timeout=120)
    assert set(seen) == {"0 1 2 3"}, set(seen)
    assert echoes == [f"HELLO {i}" for i in range(30)]
    warnings = re.findall(r"starting commands the slow way \(close_range: ([^)]*)\)", s.log())
    assert warnings == ["Function not implemented"], s.log()[-4000:]
    assert s.wait_no_children(10)


def test_unique_ids_differ(server, script):
    s = server(script("#!/bin/sh\necho $UNIQUE_ID\n"))
    ids = [run(collect(s.url))[0][0] for _ in range(5)]
    assert len(set(ids)) == 5


def test_100_concurrent_clients(server, script):
    s = server(script(CAT))

    async def client(i):
        async with websockets.connect(s.url, **OPEN) as ws:
            for j in range(10):
                await ws.send(f"client {i} message {j}")
                assert await asyncio.wait_for(ws.recv(), 20) == f"client {i} message {j}"
        return ws.close_code

    async def go():
        return await asyncio.gather(*[client(i) for i in range(100)])
    assert run(go()) == [1000] * 100
    assert s.wait_no_children(10)


def test_sigterm_closes_sessions_with_1001_and_ends_children(server, script):
    s = server(script("#!/bin/sh\necho ready\nexec cat\n"))

    async def go():
        sockets = []
        for _ in range(5):
            ws = await websockets.connect(s.url, **OPEN)
            assert await asyncio.wait_for(ws.recv(), 5) == "ready"
            sockets.append(ws)
        s.proc.send_signal(signal.SIGTERM)
        codes = []
        for ws in sockets:
            await recv_all(ws)
            codes.append(ws.close_code)
        return codes
    assert run(go()) == [1001] * 5
    assert s.proc.wait(10) == 0


# --- --close-signal ------------------------------------------------------------

def signals_seen(server, script, tmp_path, *args):
    """Which signals a child that ignores its stdin closing receives once its
    client has gone, in order, as it logs them; and the daemon."""
    log = tmp_path / "signals"
    body = ("#!/bin/bash\n"
            + "".join(f"trap 'echo {n} >> {log}' {n}\n" for n in ("HUP", "INT", "TERM", "USR1"))
            + "echo ready\nwhile :; do sleep 0.05; done\n")
    s = server(*args, script(body))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "ready"
    run(go())
    assert s.wait_no_children(10), s.descendants()  # SIGKILL ends it in any case
    return (log.read_text().split() if log.exists() else []), s


@pytest.mark.parametrize("value,first", [("HUP", "HUP"), ("SIGUSR1", "USR1"), ("15", "TERM"),
                                         ("int", "INT")])
def test_close_signal_replaces_the_first_signal(server, script, tmp_path, value, first):
    seen, s = signals_seen(server, script, tmp_path, f"--close-signal={value}")
    assert seen == [first, "TERM"], seen
    s.wait_log(rf"did not end after SIG{first} and SIGTERM: sent SIGKILL")


def test_close_signal_none_sends_only_sigkill_after_closems(server, script, tmp_path):
    start = time.monotonic()
    seen, s = signals_seen(server, script, tmp_path, "--close-signal=none", "--closems=400")
    assert seen == []
    assert time.monotonic() - start >= 0.4
    s.wait_log(r"did not end after its stdin closed: sent SIGKILL")


def test_close_signal_none_lets_a_program_finish_by_itself(server, script, tmp_path):
    """What websocketd #207 asks for: a program that cleans up after EOF is
    not interrupted."""
    done = tmp_path / "done"
    body = (f"#!/bin/sh\ntrap 'echo signal >> {done}' INT TERM\ncat >/dev/null\n"
            f"sleep 0.3\necho clean >> {done}\n")
    s = server("--close-signal=none", "--closems=3000", script(body))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send("bye")
    run(go())
    assert s.wait_no_children(10)
    assert done.read_text() == "clean\n"


@pytest.mark.parametrize("args,want", [
    (["--close-signal=FOO", "cat"], "expected a signal"),
    (["--close-signal=0", "cat"], "expected a signal"),
    (["--shared", "--close-signal=HUP", "cat"], "--close-signal cannot be used with --shared"),
])
def test_close_signal_bad_values(args, want):
    assert want in refusal(*args)


def test_close_signal_per_route(server, script, tmp_path):
    log = tmp_path / "signals"
    body = (f"#!/bin/bash\ntrap 'echo HUP >> {log}; exit 0' HUP\necho ready\n"
            "while :; do sleep 0.05; done\n")
    conf = tmp_path / "routes.conf"
    conf.write_text(f"[route /r/]\nclose-signal = HUP\ncommand = {script(body)}\n")
    s = server(f"--config={conf}")

    async def go():
        async with websockets.connect(s.url + "/r/", **OPEN) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "ready"
    run(go())
    assert s.wait_no_children(10)
    assert log.read_text() == "HUP\n"
