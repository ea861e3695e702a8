"""Proxy mode (--connect, --token-file): websockify's job, done strictly."""

import asyncio
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest
import websockets

from rawws import Conn, close_payload, frame, request
from wsclient import OPEN, recv_all, recv_bytes, run

BIN = dict(subprotocols=["binary"])


def echo_roundtrip(url, payloads, **kw):
    async def go():
        async with websockets.connect(url, **OPEN, **kw) as ws:
            out = []
            for p in payloads:
                await ws.send(p)
                want = len(p.encode() if isinstance(p, str) else p)
                out.append(await recv_bytes(ws, want) if want else b"")
            return out, ws.subprotocol
    return run(go())


# --- moving bytes -----------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 125, 126, 65535, 65536, 1 << 20, 16 << 20])
def test_binary_echo_is_byte_exact(server, backend, size):
    b = backend("echo")
    s = server(f"--connect={b.target}", "--maxmsgsize=32M")
    payload = os.urandom(size)
    out, proto = echo_roundtrip(s.url, [payload], **BIN)
    assert out == [payload] and proto == "binary"


@pytest.mark.parametrize("size", [1, 125, 126, 65535, 65536, 1 << 20, 16 << 20])
def test_text_echo_comes_back_as_the_same_bytes(server, backend, size):
    b = backend("echo")
    s = server(f"--connect={b.target}", "--maxmsgsize=32M")
    text = ("wsbridge ✓ " * (size // 12 + 1)).encode()[:size].decode("utf-8", "ignore")
    out, _ = echo_roundtrip(s.url, [text])
    assert out == [text.encode()]


def test_empty_message_reaches_nothing_and_breaks_nothing(server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}")
    out, _ = echo_roundtrip(s.url, [b"", b"after"])
    assert out == [b"", b"after"]


def test_text_messages_go_through_as_bytes(server, backend):
    b = backend("line")
    s = server(f"--connect={b.target}")

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send("first line\nsecond ")
            await ws.send("line\n")
            return await recv_bytes(ws, len(b"echo: first line\necho: second line\n"))
    assert run(go()) == b"echo: first line\necho: second line\n"


def test_backend_bytes_arrive_as_binary_messages_of_at_most_64k(server, backend):
    b = backend("source", "--bytes", str(3 << 20))
    s = server(f"--connect={b.target}")
    c = Conn(s.port)
    c.handshake()
    sizes, ops = [], set()
    while True:
        fin, rsv, op, payload = c.read_frame()
        if op == 8:
            break
        ops.add(op)
        sizes.append(len(payload))
    assert ops == {2} and sum(sizes) == 3 << 20 and max(sizes) <= 65535


def test_binary_only_refuses_text_with_1003(server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}", "--binary-only")

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send(b"bytes are fine")
            first = await ws.recv()
            await ws.send("text is not")
            return first, (await recv_all(ws))[1:]
    first, (code, reason) = run(go())
    assert first == b"bytes are fine" and code == 1003


def test_200_concurrent_connections(server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}")

    async def client(i):
        async with websockets.connect(s.url, **OPEN, **BIN) as ws:
            for j in range(5):
                msg = f"{i}:{j}".encode() * 10
                await ws.send(msg)
                assert await recv_bytes(ws, len(msg), timeout=30) == msg
        return ws.close_code

    async def go():
        return await asyncio.gather(*[client(i) for i in range(200)])
    assert run(go()) == [1000] * 200


def test_unix_socket_backend(server, backend):
    b = backend("echo", unix=True)
    s = server(f"--connect={b.target}")
    out, _ = echo_roundtrip(s.url, [b"over a unix socket"])
    assert out == [b"over a unix socket"]


def test_unix_target_alias(server, backend):
    b = backend("echo", unix=True)
    s = server(f"--unix-target={b.path}")
    out, _ = echo_roundtrip(s.url, [b"alias"])
    assert out == [b"alias"]


# --- subprotocols --------------------------------------------------------------------

@pytest.mark.parametrize("offer,chosen", [
    (None, None),
    (["binary"], "binary"),
    (["base64", "binary"], "binary"),
    (["binary", "base64"], "binary"),
])
def test_subprotocol_choice(server, backend, offer, chosen):
    b = backend("echo")
    s = server(f"--connect={b.target}")
    out, proto = echo_roundtrip(s.url, [b"x"], **({"subprotocols": offer} if offer else {}))
    assert out == [b"x"] and proto == chosen


def test_offer_list_with_spaces_is_trimmed(server, backend):
    # websockify splits "base64, binary" without trimming and refuses it
    b = backend("echo")
    s = server(f"--connect={b.target}")
    c = Conn(s.port)
    headers = c.handshake(extra=["Sec-WebSocket-Protocol: base64,   binary"])
    assert headers["sec-websocket-protocol"] == ["binary"]


def test_base64_subprotocol_round_trip(server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}")
    data = os.urandom(100000)

    async def go():
        async with websockets.connect(s.url, **OPEN, subprotocols=["base64"]) as ws:
            assert ws.subprotocol == "base64"
            text = base64.b64encode(data).decode()
            await ws.send([text[:1001], text[1001:50002], text[50002:]])   # fragmented
            got = b""
            while len(got) < len(data):
                m = await asyncio.wait_for(ws.recv(), 10)
                assert isinstance(m, str)
                got += base64.b64decode(m, validate=True)
            return got
    assert run(go()) == data


@pytest.mark.parametrize("bad", ["not base64!", "QUJD=", "QQ==QQ=="])
def test_invalid_base64_closes_1007(server, backend, bad):
    b = backend("echo")
    s = server(f"--connect={b.target}")

    async def go():
        async with websockets.connect(s.url, **OPEN, subprotocols=["base64"]) as ws:
            await ws.send(bad)
            return (await recv_all(ws))[1]
    assert run(go()) == 1007


def test_unknown_subprotocol_is_400(server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}")
    c = Conn(s.port)
    c.send(request(extra=["Sec-WebSocket-Protocol: chat"]))
    status, _, body = c.read_response()
    assert status == 400 and b"binary or base64" in body


# --- connecting -----------------------------------------------------------------------

def test_refused_backend_is_502(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]      # bound, never listening
        s = server(f"--connect=127.0.0.1:{dead_port}")
        c = Conn(s.port)
        c.send(request())
        status, headers, body = c.read_response()
    assert status == 502 and b"Connection refused" in body
    assert headers["connection"] == ["close"]
    s.wait_log(r'"GET /" 502 cannot connect to 127\.0\.0\.1:\d+: Connection refused')


def test_missing_unix_socket_is_502(server, tmp_path):
    s = server(f"--connect=unix:{tmp_path}/nobody.sock")
    c = Conn(s.port)
    c.send(request())
    status, _, body = c.read_response()
    assert status == 502 and b"No such file" in body


def test_backend_slow_to_accept_times_out_with_502(server):
    # A listener whose accept queue is full drops further SYNs: connect() hangs.
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    for _ in range(8):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    try:
        s = server(f"--connect=127.0.0.1:{port}", "--connect-timeout=1")
        c = Conn(s.port, timeout=10)
        start = time.monotonic()
        c.send(request())
        status, _, body = c.read_response()
        assert status == 502 and b"within 1 s" in body
        assert 0.8 <= time.monotonic() - start <= 5
    finally:
        for f in fillers:
            f.close()
        lst.close()


def test_connecting_happens_before_the_101(server, backend):
    # the backend is already connected when the client sees the 101
    b = backend("greet-close")
    s = server(f"--connect={b.target}")

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            return await recv_all(ws)
    msgs, code, reason = run(go())
    assert msgs == [b"hello from the backend"] and (code, reason) == (1000, "backend closed")


# --- closing -------------------------------------------------------------------------

def test_backend_closes_first_queued_data_then_1000(server, backend):
    b = backend("source", "--bytes", str(5 << 20))
    s = server(f"--connect={b.target}")

    async def go():
        async with websockets.connect(s.url, **OPEN, max_queue=2) as ws:
            await asyncio.sleep(0.5)      # the backend is done long before we read
            return await recv_all(ws)
    msgs, code, reason = run(go())
    assert sum(len(m) for m in msgs) == 5 << 20
    assert (code, reason) == (1000, "backend closed")


def test_pongs_to_a_slow_reader_never_land_inside_a_backend_message(server, backend):
    # Backend bytes may wait in a pipe (splice) behind their frame header
    # while the client pings: each pong must go out between whole frames,
    # or the stream (checked byte by byte) and the close frame would break.
    total = 8 << 20
    b = backend("source", "--bytes", str(total))
    s = server(f"--connect={b.target}")
    base = bytes(range(251)) * 300

    async def go():
        async with websockets.connect(s.url, **OPEN, max_queue=1) as ws:
            got, waiters = 0, []
            while got < total:
                m = await asyncio.wait_for(ws.recv(), 30)
                off = got % 251
                assert m == base[off:off + len(m)], f"mismatch at {got}"
                got += len(m)
                if len(waiters) < 50 and len(m) > 1000:  # a slow reader that pings
                    waiters.append(await ws.ping())
                    await asyncio.sleep(0.005)
            rest, code, _ = await recv_all(ws)
        # Pings that reach the server after its close frame stay unanswered.
        answered = sum(1 for w in waiters if w.done() and not w.exception())
        return got, rest, answered, code
    got, rest, answered, code = run(go(), timeout=120)
    assert got == total and rest == [] and code == 1000
    assert answered >= 1


def test_many_slow_readers_get_every_byte_and_pipes_are_given_back(server, backend):
    # 80 clients with small windows that do not read at first: the target's
    # bytes wait in the kernel, in splice pipes or in the queue. Afterwards
    # only a few empty pipes stay open (pooled), however many were lent.
    each, n = 512 << 10, 80
    b = backend("source", "--bytes", str(each))
    s = server(f"--connect={b.target}")
    base = bytes(range(251)) * 300

    def fds():
        return len(os.listdir(f"/proc/{s.proc.pid}/fd"))
    before = fds()

    async def client(ws):
        msgs, code, _ = await recv_all(ws, timeout=30)
        got = b"".join(msgs)
        assert got == (base * (len(got) // len(base) + 1))[:len(got)], "mismatch"
        return len(got), code

    async def go():
        conns = []
        for _ in range(n):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
            sock.connect(("127.0.0.1", s.port))
            conns.append(await websockets.connect(s.url, **OPEN, max_queue=1, sock=sock))
        await asyncio.sleep(1.0)                  # nobody reads: the server's queues fill
        return await asyncio.gather(*[client(ws) for ws in conns])
    assert run(go(), timeout=120) == [(each, 1000)] * n
    deadline = time.monotonic() + 5
    while fds() > before + 2 * 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fds() <= before + 2 * 8, (before, fds())


def test_client_closes_first_backend_gets_eof(server, backend, tmp_path):
    rec = tmp_path / "received"
    b = backend("record", "--record", str(rec))
    s = server(f"--connect={b.target}")

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send(b"last words")
        return ws.close_code
    assert run(go()) == 1000
    deadline = time.monotonic() + 5
    while not os.path.exists(str(rec) + ".eof") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rec.read_bytes() == b"last words"
    assert os.path.exists(str(rec) + ".eof"), "the backend never saw the half-close"
    s.wait_log(r"DISCONNECT .* code 1000 by client, in 1 messages 10 bytes")


def messages_then_close_in_one_write(port, msgs):
    """All frames and the close behind them in one write, so they share the
    daemon's reads however the scheduler runs us; returns the close code."""
    c = Conn(port, timeout=30)
    try:
        c.handshake()
        c.send(b"".join(frame(2, m) for m in msgs) + frame(8, close_payload(1000)))
        return c.expect_close(timeout=30)[0]
    finally:
        c.close()


def wait_recorded(rec, timeout=20):
    deadline = time.monotonic() + timeout
    while not os.path.exists(str(rec) + ".eof") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(str(rec) + ".eof"), "the backend never saw the half-close"
    return rec.read_bytes()


def test_small_messages_are_batched_into_few_backend_writes(server, backend, tmp_path):
    rec = tmp_path / "received"
    b = backend("record", "--record", str(rec))
    s = server(f"--connect={b.target}")
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("strace is not installed")
    tracer = subprocess.Popen([strace, "-f", "-qq", "-e", "trace=sendto,write", "-o",
                               str(tmp_path / "trace"), "-p", str(s.proc.pid)])
    try:
        deadline = time.monotonic() + 10   # strace attached (then a moment to set up)
        while "TracerPid:\t0\n" in open(f"/proc/{s.proc.pid}/status").read():
            assert time.monotonic() < deadline, "strace did not attach"
            time.sleep(0.05)
        time.sleep(0.2)
        # An unbatched proxy makes 2000 sends however the scheduler interleaves
        # (websockets' one write per message raced the daemon's reads under load).
        msgs = [bytes([i % 251]) * 32 for i in range(2000)]
        assert messages_then_close_in_one_write(s.port, msgs) == 1000
        assert wait_recorded(rec) == b"".join(msgs)
    finally:
        tracer.terminate()
        tracer.wait(10)
    writes = [ln for ln in (tmp_path / "trace").read_text().splitlines()
              if re.search(r"(sendto|write)\(\d+, \"", ln)]
    assert writes, "strace saw no writes"
    # 2000 messages reach the backend in a few sends (one per client read)
    backend_sends = [ln for ln in writes if "sendto(" in ln]
    assert len(backend_sends) < 100, len(backend_sends)


@pytest.mark.parametrize("size", [32, 1000, 20000])
def test_client_bytes_still_pending_at_close_all_reach_a_slow_backend(server, backend, tmp_path,
                                                                        size):
    rec = tmp_path / "received"
    b = backend("record", "--record", str(rec), "--delay", "1.5")
    s = server(f"--connect={b.target}")
    msgs = [bytes([i % 251]) * size for i in range((8 << 20) // size)]
    assert messages_then_close_in_one_write(s.port, msgs) == 1000
    got, sent = wait_recorded(rec), b"".join(msgs)
    assert len(got) == len(sent) and got == sent


def test_backend_reset_is_1011(server, backend):
    b = backend("reset")
    s = server(f"--connect={b.target}")

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send(b"x")
            return await recv_all(ws)
    msgs, code, reason = run(go())
    assert msgs == [] and code == 1011 and "reset" in reason


def test_access_log_line(server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}")
    echo_roundtrip(s.url + "/path?q", [b"12345"])
    line = s.wait_log(r"DISCONNECT 127\.0\.0\.1 port \d+ \"GET /path\?q\" -> 127\.0\.0\.1:\d+ "
                      r"code 1000 by client, in 1 messages 5 bytes, out 1 messages 5 bytes, "
                      r"[0-9.]+ s")
    assert line


# --- flow control ---------------------------------------------------------------------

@pytest.mark.parametrize("timer", [["--pingms=300"], ["--idle-timeout=0.5", "--pingms=0"]])
def test_a_client_held_back_by_a_slow_backend_is_neither_dead_nor_idle(server, backend, tmp_path,
                                                                        timer):
    # The target reads nothing for 2 s, so the daemon stops reading the client:
    # its messages (and pongs) wait unread. Unread bytes show it is alive and
    # busy: neither 1011 (ping timeout) nor 1001 (idle timeout).
    rec = tmp_path / "received"
    b = backend("record", "--record", str(rec), "--delay", "2")
    s = server(f"--connect={b.target}", *timer)
    msgs = [os.urandom(65536) for _ in range(256)]
    assert messages_then_close_in_one_write(s.port, msgs) == 1000
    assert wait_recorded(rec) == b"".join(msgs)
    assert "no pong" not in s.log() and "idle timeout" not in s.log()


def test_1_gib_to_a_slow_reader_keeps_memory_flat(server, backend):
    """Documented bound: the daemon's RSS grows by less than 16 MiB."""
    total = 1 << 30
    b = backend("source", "--bytes", str(total))
    s = server(f"--connect={b.target}", env={"ASAN_OPTIONS": "detect_leaks=1:quarantine_size_mb=1"})

    def rss_kib():
        with open(f"/proc/{s.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    base = bytes(range(251)) * 300
    samples = []

    async def go():
        async with websockets.connect(s.url, **OPEN, max_queue=1) as ws:
            got, next_pause = 0, 0
            while got < total:
                m = await asyncio.wait_for(ws.recv(), 30)
                off = got % 251
                assert m == base[off:off + len(m)], f"mismatch at {got}"
                got += len(m)
                if got >= next_pause:         # a slow reader: stop now and then
                    next_pause += 64 << 20
                    samples.append(rss_kib())
                    await asyncio.sleep(0.3)
                    samples.append(rss_kib())
            return got, (await recv_all(ws))[1]
    start_rss = rss_kib()
    got, code = run(go(), timeout=600)
    assert got == total and code == 1000
    assert max(samples) - start_rss < 16 * 1024, (start_rss, max(samples))


def test_client_flooding_a_backend_that_does_not_read_is_paused(server, tmp_path):
    # a listener that accepts and never reads: our writes block, we stop reading the client
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    s = server(f"--connect=127.0.0.1:{lst.getsockname()[1]}",
               env={"ASAN_OPTIONS": "detect_leaks=1:quarantine_size_mb=1"})

    def rss_kib():
        with open(f"/proc/{s.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    async def go():
        ws = await websockets.connect(s.url, **OPEN)
        before = rss_kib()
        chunk = b"z" * (1 << 20)
        try:
            for _ in range(64):
                await asyncio.wait_for(ws.send(chunk), 2)
        except asyncio.TimeoutError:
            pass                           # our send blocked: backpressure reached us
        after = rss_kib()
        ws.transport.abort()
        return before, after
    try:
        before, after = run(go())
    finally:
        lst.close()
    assert after - before < 8 * 1024, (before, after)
