"""--shared: one COMMAND for every client (chat rooms, tickers, dashboards)."""

import asyncio
import re
import select
import signal
import socket
import struct
import subprocess
import time

import pytest
import websockets

from harness import BINARY, root_children
from rawws import Conn, frame
from wsclient import OPEN, recv_all, run


def fast_text_reader(conn, want, timeout=60, until=None):
    """Read text frames from a raw connection until `want` messages arrived,
    one equal to `until`, or a close frame: returns (messages, close_code).
    Parses with an offset, so a few hundred thousand frames stay cheap."""
    msgs, data, at = [], bytearray(), 0
    conn.sock.settimeout(timeout)
    data += conn.buf
    while len(msgs) < want:
        while True:
            if len(data) - at < 2:
                break
            b0, b1 = data[at], data[at + 1]
            n, h = b1 & 0x7F, 2
            if n == 126:
                if len(data) - at < 4:
                    break
                n, h = struct.unpack_from("!H", data, at + 2)[0], 4
            elif n == 127:
                if len(data) - at < 10:
                    break
                n, h = struct.unpack_from("!Q", data, at + 2)[0], 10
            if len(data) - at < h + n:
                break
            payload = bytes(data[at + h:at + h + n])
            at += h + n
            op = b0 & 0x0F
            if op == 8:
                return msgs, struct.unpack("!H", payload[:2])[0] if n >= 2 else None
            if op == 1:
                msgs.append(payload)
                if payload == until:
                    want = len(msgs)
                    break
        if len(msgs) >= want:
            break
        del data[:at]
        at = 0
        chunk = conn.sock.recv(1 << 20)
        if not chunk:
            return msgs, None
        data += chunk
    conn.buf = bytes(data[at:])
    return msgs, None


def test_every_client_gets_every_line_in_the_same_order(server, script):
    ticker = script("#!/bin/sh\necho ready\nwhile read -r line; do echo \"tick $line\"; done\n")
    s = server("--shared", ticker)

    async def main():
        a = await websockets.connect(s.url + "/", **OPEN)
        assert await a.recv() == "ready"
        b = await websockets.connect(s.url + "/", **OPEN)
        c = await websockets.connect(s.url + "/", **OPEN)
        for i in range(50):
            await (a, b, c)[i % 3].send(str(i))
        got = [[await asyncio.wait_for(ws.recv(), 10) for _ in range(50)] for ws in (a, b, c)]
        for ws in (a, b, c):
            await ws.close()
        return got

    got = run(main())
    assert got[0] == got[1] == got[2]
    assert sorted(got[0], key=lambda m: int(m.split()[1])) == [f"tick {i}" for i in range(50)]
    assert len(s.descendants()) == 1, "one COMMAND for all clients"


def test_prefix_addresses_one_client_and_events_name_them(server, script):
    room = script(r"""#!/bin/sh
while IFS="$(printf '\t')" read -r kind rest; do
  case "$kind" in
    '!open') id="${rest%%	*}"; echo "@$id	welcome $id" ;;
    '!close') echo "left $rest" ;;
    *) echo "$kind: $rest" ;;
  esac
done
""")
    s = server("--shared", "--shared-prefix", "--shared-events", room)

    async def main():
        a = await websockets.connect(s.url + "/", **OPEN)
        welcome_a = await asyncio.wait_for(a.recv(), 10)
        b = await websockets.connect(s.url + "/", **OPEN)
        welcome_b = await asyncio.wait_for(b.recv(), 10)
        id_a, id_b = welcome_a.split()[1], welcome_b.split()[1]
        await a.send("hello\n99\tforged")
        from_a = [await asyncio.wait_for(ws.recv(), 10) for ws in (a, b)]
        await b.close()
        left = await asyncio.wait_for(a.recv(), 10)
        await a.close()
        return welcome_a, welcome_b, id_a, id_b, from_a, left

    welcome_a, welcome_b, id_a, id_b, from_a, left = run(main())
    assert welcome_a.startswith("welcome ") and welcome_b.startswith("welcome ")
    assert id_a != id_b, "each client hears only its own welcome"
    # A newline inside a message cannot start a line with another client's id.
    assert from_a == [f"{id_a}: hello 99\tforged"] * 2
    assert left == f"left {id_b}"


def test_200000_line_burst_reaches_every_client_completely_and_in_order(server, script):
    burst = script("#!/bin/sh\nread -r go\nseq 1 200000\nexec cat\n")
    s = server("--shared", burst)
    clients = [Conn(s.port, timeout=30) for _ in range(3)]
    try:
        for c in clients:
            c.handshake()
        s.wait_log(r"#3 CONNECT")
        clients[0].send(frame(1, b"go"))
        for c in clients:
            msgs, code = fast_text_reader(c, 200000)
            assert code is None and len(msgs) == 200000
            assert msgs[0] == b"1" and msgs[-1] == b"200000"
            assert all(int(m) == i + 1 for i, m in enumerate(msgs)), "out of order"
    finally:
        for c in clients:
            c.close()


def flood_script(script):
    # 400,000 lines of 60 bytes (24 MB): far more than any queue holds.
    return script("#!/bin/sh\nread -r go\n"
                  "yes 0123456789012345678901234567890123456789012345678901234567 | "
                  "head -n 400000\necho done\nexec cat\n")


def test_a_slow_client_is_closed_with_1008_and_the_others_continue(server, script):
    s = server("--shared", "--slow-client-timeout=0.5", flood_script(script))
    slow = Conn(s.port, rcvbuf=4096, timeout=30)
    fast = Conn(s.port, timeout=30)
    try:
        slow.handshake()
        fast.handshake()
        s.wait_log(r"#2 CONNECT")
        fast.send(frame(1, b"go"))
        msgs, code = fast_text_reader(fast, 400001)
        assert code is None and len(msgs) == 400001 and msgs[-1] == b"done"
        s.wait_log(r"too slow for 0\.5 s .*closing with 1008")
        _, code = fast_text_reader(slow, 10**9)
        assert code == 1008
    finally:
        slow.close()
        fast.close()


def test_drop_mode_skips_a_slow_client_until_it_catches_up(server, script):
    s = server("--shared", "--slow-client=drop", "--slow-client-timeout=0.3",
               flood_script(script))
    slow = Conn(s.port, rcvbuf=4096, timeout=30)
    fast = Conn(s.port, timeout=30)
    try:
        slow.handshake()
        fast.handshake()
        s.wait_log(r"#2 CONNECT")
        fast.send(frame(1, b"go"))
        msgs, code = fast_text_reader(fast, 400001)
        assert code is None and msgs[-1] == b"done"
        s.wait_log("skipping messages until it catches up")
        # The slow one reads what was queued for it, then hears new lines
        # again. It must read: the kernel says the socket is writable only as
        # the client acknowledges, so a client that reads nothing would catch
        # up only when a ping makes the daemon try (30 s).
        caught_up = r"slow client caught up; [0-9]+ messages were skipped"
        queued = bytearray()
        slow.sock.settimeout(0.2)
        deadline = time.monotonic() + 60
        while not re.search(caught_up, s.log()):
            assert time.monotonic() < deadline, "the slow client never caught up"
            try:
                chunk = slow.sock.recv(1 << 20)
                assert chunk, "the server closed the slow client"
                queued += chunk
            except socket.timeout:
                pass
        slow.buf += bytes(queued)
        fast.send(frame(1, b"after the flood"))
        seen, code = fast_text_reader(slow, 1 << 40, timeout=30, until=b"after the flood")
        assert code is None and seen[-1] == b"after the flood"
        assert len(seen) < 400001, "some lines were skipped"
    finally:
        slow.close()
        fast.close()


def test_command_is_restarted_with_back_off_and_clients_stay(server, script, tmp_path):
    counter = tmp_path / "runs"
    flaky = script(f"#!/bin/sh\necho run >> {counter}\necho \"run $(wc -l < {counter})\"\n"
                   "read -r line\nexit 3\n")
    s = server("--shared", flaky)

    async def main():
        ws = await websockets.connect(s.url + "/", **OPEN)
        first = await asyncio.wait_for(ws.recv(), 10)
        await ws.send("die")
        second = await asyncio.wait_for(ws.recv(), 10)
        await ws.send("die again")
        third = await asyncio.wait_for(ws.recv(), 10)
        await ws.close()
        return first, second, third

    assert run(main()) == ("run 1", "run 2", "run 3")
    log = s.log()
    assert "exited with status 3" in log
    assert "restarting the shared COMMAND in 0.1 s" in log
    assert "restarting the shared COMMAND in 0.2 s" in log, "the back-off doubles"


def test_eager_starts_command_before_any_client(server, script):
    s = server("--shared=eager", script("#!/bin/sh\nexec cat\n"))
    s.wait_log("started shared .* as pid")
    assert len(s.descendants()) == 1


def test_binary_chunks_are_broadcast(server, script):
    s = server("--shared", "--binary", script("#!/bin/sh\nexec cat\n"))

    async def main():
        a = await websockets.connect(s.url + "/", **OPEN)
        b = await websockets.connect(s.url + "/", **OPEN)
        await a.send(b"\x00\xff binary \x01")
        got = [await asyncio.wait_for(ws.recv(), 10) for ws in (a, b)]
        await a.close()
        await b.close()
        return got

    assert run(main()) == [b"\x00\xff binary \x01"] * 2


def test_graceful_stop_delivers_last_words_then_1001(server, script):
    s = server("--shared", script("#!/bin/sh\nwhile read -r l; do echo \"$l\"; done\n"
                                  "echo goodbye everyone\n"))

    async def main():
        socks = [await websockets.connect(s.url + "/", **OPEN) for _ in range(5)]
        await socks[0].send("hi")
        for ws in socks:
            assert await asyncio.wait_for(ws.recv(), 10) == "hi"
        s.proc.send_signal(signal.SIGTERM)
        return await asyncio.gather(*(recv_all(ws, timeout=15) for ws in socks))

    for msgs, code, reason in run(main()):
        assert msgs == ["goodbye everyone"] and (code, reason) == (1001, "server shutting down")
    assert s.proc.wait(timeout=10) == 0


def test_a_command_that_cannot_start_closes_1011(server, tmp_path):
    bad = tmp_path / "notexec.sh"
    bad.write_text("#!/nonexistent/interpreter\n")
    bad.chmod(0o755)
    s = server("--shared", str(bad))

    async def main():
        async with websockets.connect(s.url + "/", **OPEN) as ws:
            return await recv_all(ws)

    msgs, code, _ = run(main())
    assert msgs == [] and code == 1011


@pytest.mark.parametrize("args,message", [
    (["--shared-prefix", "cat"], "option '--shared-prefix' needs --shared"),
    (["--slow-client=drop", "cat"], "option '--slow-client' needs --shared"),
    (["--shared", "--shared-events", "cat"], "'--shared-events' needs --shared-prefix"),
    (["--shared", "--maxforks=2", "cat"], "--maxforks cannot be used with --shared"),
    (["--shared", "--binary", "--shared-prefix", "cat"], "--binary with --shared-prefix cannot"),
    (["--shared=lazy", "cat"], "expected --shared or --shared=eager"),
    (["--shared", "--slow-client=ignore", "cat"], "expected close or drop"),
    (["--shared", "--token-file=/nonexistent"], "--token-file cannot be used with --shared"),
    (["--shared", "--connect=localhost:1", "--ssl-target"], "--ssl-target cannot be used"),
])
def test_shared_option_errors(args, message):
    p = subprocess.run([BINARY, *root_children(args), *args], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 2 and message in p.stderr, p.stderr


def test_shared_connect_fans_out_one_backend_connection(server, backend):
    echo = backend("echo")
    s = server("--shared", f"--connect={echo.target}")

    async def main():
        a = await websockets.connect(s.url + "/", **OPEN, subprotocols=["binary"])
        b = await websockets.connect(s.url + "/", **OPEN)
        await a.send(b"\x00from a\xff")
        got = [await asyncio.wait_for(ws.recv(), 10) for ws in (a, b)]
        await b.send("text from b")  # the payload goes to the target as it is
        got += [await asyncio.wait_for(ws.recv(), 10) for ws in (a, b)]
        sub = a.subprotocol
        await a.close()
        await b.close()
        return got, sub

    got, sub = run(main())
    assert got == [b"\x00from a\xff"] * 2 + [b"text from b"] * 2
    assert sub == "binary"
    assert s.log().count("shared connection to") == 1, "one backend connection for all"


def test_shared_connect_reconnects_with_back_off(server, backend):
    greeter = backend("greet-close")
    s = server("--shared", f"--connect={greeter.target}")

    async def main():
        async with websockets.connect(s.url + "/", **OPEN) as ws:
            return [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)]

    assert run(main()) == [b"hello from the backend"] * 3
    log = s.log()
    assert "restarting the shared connection in 0.1 s" in log
    assert "restarting the shared connection in 0.2 s" in log
