"""permessage-deflate (RFC 7692): what is agreed for each offer in each
memory mode, compressed round trips with python3-websockets for every
parameter combination it can offer, in exec (text, --binary, --dir), proxy
and shared mode, and what a raw client sees on the wire: RSV1 per message,
--compress-min-size, fragments, context takeover, the bomb, corrupt data,
RSV1 misuse."""

import asyncio
import os
import random
import re
import zlib

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from harness import refusal
from rawws import Conn, close_payload, frame, request
from wsclient import OPEN, run

TAIL = b"\x00\x00\xff\xff"
LOW = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def offer_response(port, offer, path="/"):
    """(status, the Sec-WebSocket-Extensions answered or None)."""
    c = Conn(port)
    try:
        extra = [f"Sec-WebSocket-Extensions: {o}" for o in
                 ([offer] if isinstance(offer, str) else offer)]
        c.send(request(path=path, extra=extra))
        status, headers, _ = c.read_response()
        ext = headers.get("sec-websocket-extensions")
        assert ext is None or len(ext) == 1, ext
        return status, ext[0] if ext else None
    finally:
        c.close()


# ---- negotiation -----------------------------------------------------------------------------

@pytest.mark.parametrize("offer,low,high", [
    ("permessage-deflate", LOW, "permessage-deflate"),
    # what Chromium and npm ws offer
    ("permessage-deflate; client_max_window_bits", LOW,
     "permessage-deflate; client_max_window_bits=15"),
    ("permessage-deflate; client_max_window_bits=10", LOW,
     "permessage-deflate; client_max_window_bits=10"),
    ('permessage-deflate; client_max_window_bits="12"', LOW,
     "permessage-deflate; client_max_window_bits=12"),
    ("permessage-deflate; server_no_context_takeover", LOW,
     "permessage-deflate; server_no_context_takeover"),
    ("permessage-deflate; client_no_context_takeover", LOW,
     "permessage-deflate; client_no_context_takeover"),
    ("permessage-deflate; server_max_window_bits=10", LOW + "; server_max_window_bits=10",
     "permessage-deflate; server_max_window_bits=10"),
    # a bad offer is declined and the next one taken; unknown extensions are skipped
    ("permessage-deflate; nonsense, permessage-deflate", LOW, "permessage-deflate"),
    ("x-webkit-deflate-frame, permessage-deflate", LOW, "permessage-deflate"),
    (["foo", "permessage-deflate; server_no_context_takeover"], LOW,
     "permessage-deflate; server_no_context_takeover"),
    # declined: the handshake still succeeds, without compression
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None, None),
    ("permessage-deflate; server_max_window_bits=8", None, None),   # zlib cannot do 8
    ("permessage-deflate; server_max_window_bits=16", None, None),
    ("permessage-deflate; server_max_window_bits", None, None),     # needs a value
    ("permessage-deflate; client_no_context_takeover=1", None, None),
    ("permessage-deflate; client_max_window_bits=07", None, None),
    ("x-webkit-deflate-frame", None, None),
])
def test_what_each_offer_gets(server, offer, low, high):
    s = server("cat")
    assert offer_response(s.port, offer) == (101, low)
    s = server("--compress-mode=high-ratio", "cat")
    assert offer_response(s.port, offer) == (101, high)


def test_off_never_accepts_and_a_route_may_differ(server, tmp_path):
    s = server("--compress=off", "cat")
    assert offer_response(s.port, "permessage-deflate") == (101, None)
    conf = tmp_path / "w.conf"
    conf.write_text("command = cat\ncompress-mode = high-ratio\n"
                    "[route /plain]\ncommand = cat\ncompress = off\n"
                    "[route /small]\ncommand = cat\ncompress-window-bits = 10\n")
    s = server(f"--config={conf}")
    assert offer_response(s.port, "permessage-deflate")[1] == "permessage-deflate"
    assert offer_response(s.port, "permessage-deflate", "/plain/x") == (101, None)
    # /small inherits high-ratio; its window is named only when the client offers the parameter
    assert offer_response(s.port, "permessage-deflate; client_max_window_bits",
                          "/small/") == (101, "permessage-deflate; client_max_window_bits=10")


def test_the_choice_is_logged_and_given_to_command(server, script):
    s = server("--loglevel=debug", script('#!/bin/sh\necho "ext=$SEC_WEBSOCKET_EXTENSIONS"\n'))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            return await ws.recv()
    assert run(go()) == f"ext={LOW}"
    s.wait_log(r"permessage-deflate agreed: " + re.escape(LOW))


def test_bad_option_values_are_refused():
    for bad in ("--compress=maybe", "--compress-mode=fast", "--compress-level=0",
                "--compress-level=10", "--compress-window-bits=8", "--compress-window-bits=16",
                "--compress-mem-level=0", "--compress-min-size=-1"):
        err = refusal(bad, "cat")
        assert bad.split("=")[0] in err, (bad, err)


# ---- round trips with python3-websockets ---------------------------------------------------------

def factories():
    """Every offer python3-websockets can make."""
    out = []
    for snct in (False, True):
        for cnct in (False, True):
            for smwb in (None, *range(9, 16)):
                for cmwb in (None, True, *range(9, 16)):
                    out.append(dict(server_no_context_takeover=snct,
                                    client_no_context_takeover=cnct,
                                    server_max_window_bits=smwb,
                                    client_max_window_bits=cmwb))
    return out


def ticker(i):
    return ('{"symbol":"WSB%d","price":%d.%02d,"volume":%d,"bid":%d.5,"ask":%d.25,'
            '"exchange":"XNYS","currency":"USD"}' % (i % 7, 100 + i % 50, i % 100, 1000 + i,
                                                     99 + i % 50, 101 + i % 50))


MESSAGES = ["", "x", "hello", "é" * 40, ticker(1), " ".join(ticker(i) for i in range(30)),
            "ünïcödé " * 5000]


async def roundtrip_text(url, params, messages=MESSAGES):
    ext = [ClientPerMessageDeflateFactory(**params)]
    async with websockets.connect(url, **OPEN, extensions=ext) as ws:
        agreed = ws.response_headers.get("Sec-WebSocket-Extensions")
        for m in messages:
            await ws.send(m)
            assert await asyncio.wait_for(ws.recv(), 10) == m
        return agreed


def expected_answer(mode, p):
    """What wsbridge answers to an offer, at its default window of 15 bits."""
    low = mode == "low-memory"
    parts = ["permessage-deflate"]
    if low or p["server_no_context_takeover"]:
        parts.append("server_no_context_takeover")
    if low or p["client_no_context_takeover"]:
        parts.append("client_no_context_takeover")
    if p["server_max_window_bits"]:
        parts.append(f"server_max_window_bits={p['server_max_window_bits']}")
    cmwb = p["client_max_window_bits"]
    if cmwb and not low:  # high-ratio bounds the client's window it must keep
        parts.append(f"client_max_window_bits={15 if cmwb is True else cmwb}")
    return "; ".join(parts)


@pytest.mark.parametrize("mode", ["low-memory", "high-ratio"])
def test_every_offer_round_trips_in_exec_text_mode(server, mode):
    s = server(f"--compress-mode={mode}", "--compress-min-size=0", "cat")

    async def go():
        for params in factories():
            agreed = await roundtrip_text(s.url, params)
            assert agreed == expected_answer(mode, params), params
    run(go(), timeout=600)


@pytest.mark.parametrize("mode", ["low-memory", "high-ratio"])
def test_binary_incompressible_and_compressible_bytes(server, mode):
    s = server(f"--compress-mode={mode}", "--binary", "cat")
    rnd = random.Random(7)
    blobs = [rnd.randbytes(n) for n in (1, 100, 5000, 200000)] + [b"\0" * 300000,
                                                                   b"abc" * 100000]

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            assert "permessage-deflate" in ws.response_headers["Sec-WebSocket-Extensions"]
            for b in blobs:
                await ws.send(b)
                got = bytearray()
                while len(got) < len(b):
                    got += await asyncio.wait_for(ws.recv(), 10)
                assert bytes(got) == b
    run(go())


@pytest.mark.parametrize("mode", ["low-memory", "high-ratio"])
def test_long_lines_go_out_as_compressed_fragments(server, script, mode):
    """A line over 64 KiB is sent in fragments; the message is one stream."""
    s = server(f"--compress-mode={mode}", script(
        "#!/bin/sh\nexec python3 -c \"import sys; [print(('%06d ' % i) * 40000) "
        "for i in range(3)]; sys.stdout.flush()\"\n"))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            return [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)]
    got = run(go())
    assert got == [("%06d " % i) * 40000 for i in range(3)]


def test_dir_mode_and_proxy_mode_and_shared_mode(server, backend, script, tmp_path):
    d = tmp_path / "scripts"
    d.mkdir()
    (d / "echo.sh").write_text("#!/bin/sh\nexec cat\n")
    (d / "echo.sh").chmod(0o755)
    text = " ".join(ticker(i) for i in range(200))

    s = server(f"--dir={d}")
    assert run(roundtrip_text(s.url + "/echo.sh", {}, [text])).startswith("permessage-deflate")

    echo = backend("echo")
    p = server(f"--connect={echo.target}")
    rnd = random.Random(1)
    blob = rnd.randbytes(300000) + text.encode() * 20

    async def proxy():
        async with websockets.connect(p.url, **OPEN, subprotocols=["binary"]) as ws:
            assert "permessage-deflate" in ws.response_headers["Sec-WebSocket-Extensions"]
            await ws.send(blob)
            got = bytearray()
            while len(got) < len(blob):
                got += await asyncio.wait_for(ws.recv(), 10)
            assert bytes(got) == blob
    run(proxy())

    sh = server("--shared", "cat")

    async def shared():
        a = await websockets.connect(sh.url, **OPEN)
        b = await websockets.connect(sh.url, **OPEN, compression=None)
        try:
            assert "server_no_context_takeover" in a.response_headers["Sec-WebSocket-Extensions"]
            assert "Sec-WebSocket-Extensions" not in b.response_headers
            await asyncio.sleep(0.2)
            await a.send(text)
            assert await asyncio.wait_for(a.recv(), 10) == text
            assert await asyncio.wait_for(b.recv(), 10) == text
        finally:
            await a.close()
            await b.close()
    run(shared())


# ---- on the wire ---------------------------------------------------------------------------------

class Deflating(Conn):
    """A raw client that agreed on permessage-deflate: compresses what it
    sends and inflates what it reads."""

    def open(self, offer="permessage-deflate", path="/"):
        self.send(request(path=path, extra=[f"Sec-WebSocket-Extensions: {offer}"]))
        status, headers, _ = self.read_response()
        assert status == 101, status
        self.agreed = headers["sec-websocket-extensions"][0]
        self.inflater = zlib.decompressobj(-15)
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        return self

    def compress(self, data, reset=True):
        if reset:
            self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        out = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]

    def message(self):
        """(opcode, compressed?, payload as inflated, wire payload bytes)."""
        op, rsv1, data, wire = None, False, b"", 0
        while True:
            fin, rsv, o, payload = self.read_frame()
            if o in (9, 10):
                continue
            if o == 8:
                return ("close", rsv, payload, len(payload))
            if o != 0:
                op, rsv1 = o, bool(rsv & 4)
            else:
                assert rsv == 0, "RSV1 on a continuation frame"
            data += payload
            wire += len(payload)
            if fin:
                break
        if rsv1:
            if "server_no_context_takeover" in self.agreed:
                self.inflater = zlib.decompressobj(-15)
            data = self.inflater.decompress(data + TAIL)
        return op, rsv1, data, wire


def test_min_size_decides_per_message(server):
    s = server("--compress-min-size=100", "cat")
    c = Deflating(s.port).open()
    try:
        short, long = "a" * 99, ticker(3) * 3
        c.send(frame(1, short.encode()))
        c.send(frame(1, long.encode()))
        c.send(frame(1, c.compress(long.encode()), rsv=4))
        assert c.message() == (1, False, short.encode(), 99)
        op, rsv1, data, wire = c.message()
        assert (op, rsv1, data) == (1, True, long.encode()) and wire < len(long) * 0.6
        assert c.message()[:3] == (1, True, long.encode())
    finally:
        c.close()


@pytest.mark.parametrize("mode", ["low-memory", "high-ratio"])
def test_what_does_not_shrink_goes_out_as_it_is_without_context_takeover(server, mode):
    """Random bytes grow a little when deflated: without context takeover
    the message is sent uncompressed; with it, it must be compressed (the
    client's window has to see it)."""
    s = server(f"--compress-mode={mode}", "--compress-mem-level=1", "--binary", "cat")
    c = Deflating(s.port).open()
    try:
        blob = random.Random(3).randbytes(16000)
        c.send(frame(2, blob))
        op, rsv1, data, wire = c.message()
        assert (op, data) == (2, blob)
        assert rsv1 == (mode == "high-ratio")
        assert wire == len(blob) if mode == "low-memory" else wire > len(blob)
    finally:
        c.close()


def test_high_ratio_takes_context_over_and_low_memory_does_not(server):
    line = ticker(5) * 4
    sizes = {}
    for mode in ("low-memory", "high-ratio"):
        s = server(f"--compress-mode={mode}", "cat")
        c = Deflating(s.port).open()
        try:
            for _ in range(3):
                c.send(frame(1, line.encode()))
            got = [c.message() for _ in range(3)]
            assert all(m[:3] == (1, True, line.encode()) for m in got)
            sizes[mode] = [m[3] for m in got]
        finally:
            c.close()
    low, high = sizes["low-memory"], sizes["high-ratio"]
    assert low[0] == low[1] == low[2]
    assert high[0] == low[0] and high[1] < high[0] / 4 and high[2] < high[0] / 4


@pytest.mark.parametrize("offer", [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits"])  # high-ratio: context takeover from us
@pytest.mark.parametrize("mode", ["low-memory", "high-ratio"])
def test_fragmented_compressed_client_messages(server, mode, offer):
    s = server(f"--compress-mode={mode}", "cat")
    c = Deflating(s.port).open(offer)
    try:
        text = (ticker(9) + "ü") * 2000
        for _ in range(2):
            wire = c.compress(text.encode(), reset="client_no_context_takeover" in c.agreed)
            parts = [wire[:7], wire[7:len(wire) // 2], wire[len(wire) // 2:]]
            c.send(frame(1, parts[0], fin=False, rsv=4))
            c.send(frame(9, b"ping"))
            c.send(frame(0, parts[1], fin=False))
            c.send(frame(0, parts[2]))
            assert c.message()[:3] == (1, True, text.encode())
        c.send(frame(1, b"plain too"))
        assert c.message()[2] == b"plain too"
    finally:
        c.close()


def sanitized(pid):
    """ASan's quarantine and redzones keep freed memory resident: memory
    bounds are checked in the release run only."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))


@pytest.mark.parametrize("mode", ["exec", "proxy", "shared"])
def test_a_bomb_closes_with_1009_without_growing_memory(server, backend, mode):
    """About 1 MiB of deflate data that inflates to 1 GiB, against a 4 MiB
    limit: closed with 1009; exec and proxy inflate a piece at a time and
    pass it on, so the daemon's peak memory grows by the wire's 1 MiB and a
    few pieces; shared mode gathers each client message whole (it writes it
    to COMMAND as one line), so there it may also hold up to the limit."""
    limit = 4 << 20
    if mode == "exec":
        s = server(f"--maxmsgsize={limit}", "cat")
    elif mode == "proxy":
        echo = backend("echo")
        s = server(f"--maxmsgsize={limit}", f"--connect={echo.target}")
    else:
        s = server(f"--maxmsgsize={limit}", "--shared", "cat")
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(1 << 20)
    wire = b"".join(bomb.compress(zero) for _ in range(1024)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    wire = wire[:-4]
    assert len(wire) < 1100 * 1024
    before = vm_hwm_kib(s.proc.pid)
    c = Deflating(s.port).open()
    try:
        c.send(frame(2, wire, rsv=4))
        assert c.expect_close(timeout=30)[0] == 1009
    finally:
        c.close()
    held = limit // 1024 * 2 if mode == "shared" else 0  # a growing buffer: up to twice
    if not sanitized(s.proc.pid):
        assert vm_hwm_kib(s.proc.pid) - before < 6 * 1024 + held
    s.wait_log(r"maximum size once inflated")


@pytest.mark.parametrize("name,frames,code", [
    ("corrupt deflate data", [frame(1, b"\xff\xff\xff\xff\xff", rsv=4)], 1007),
    ("data after a final block", [frame(1, zlib.compress(b"hi")[2:-4] + b"\x01\x02", rsv=4)],
     1007),
    ("invalid UTF-8 once inflated", [frame(1, b"", rsv=4)], 1007),  # payload set below
    ("RSV1 on a continuation frame", [frame(1, b"", fin=False, rsv=4),
                                      frame(0, b"", rsv=4)], 1002),
    ("RSV1 on a ping", [frame(9, b"", rsv=4)], 1002),
    ("RSV2", [frame(1, b"x", rsv=2)], 1002),
])
def test_misuse_closes_with_the_right_code(server, name, frames, code):
    s = server("cat")
    c = Deflating(s.port).open()
    try:
        if name == "invalid UTF-8 once inflated":
            frames = [frame(1, c.compress(b"ok \xff\xfe"), rsv=4)]
        for f in frames:
            c.send(f)
        assert c.expect_close()[0] == code, name
    finally:
        c.close()


def test_rsv1_without_agreement_is_1002(server):
    s = server("cat")
    c = Conn(s.port)
    try:
        c.handshake()
        c.send(frame(1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4))
        assert c.expect_close()[0] == 1002
    finally:
        c.close()


def test_rfc_7692_examples_inflate(server):
    """RFC 7692 7.2.3.1-7.2.3.4: "Hello" compressed, in one or two frames,
    and with no compression (a stored block)."""
    s = server("cat")
    c = Deflating(s.port).open()
    try:
        c.send(frame(1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4))
        assert c.message()[2] == b"Hello"
        c.send(frame(1, b"\xf2\x48\xcd", fin=False, rsv=4))
        c.send(frame(0, b"\xc9\xc9\x07\x00"))
        assert c.message()[2] == b"Hello"
        c.send(frame(1, b"\x00\x05\x00\xfa\xffHello\x00", rsv=4))
        assert c.message()[2] == b"Hello"
        c.send(frame(8, close_payload(1000)))
        assert c.message()[0] == "close"
    finally:
        c.close()


def test_an_idle_low_memory_session_holds_no_zlib_stream(server):
    """Idle sessions cost what they did without compression: the daemon's
    RSS per session stays far below one zlib stream (~40 KiB to inflate,
    ~260 KiB to deflate) after each has sent and received a message."""
    s = server("--maxconn-per-ip=0", "cat")
    conns = []
    try:
        for _ in range(3):
            c = Deflating(s.port).open()
            c.send(frame(1, c.compress(ticker(1).encode() * 3), rsv=4))
            c.message()
            conns.append(c)

        def rss():
            with open(f"/proc/{s.proc.pid}/status") as f:
                return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        base = rss()
        for _ in range(200):
            c = Deflating(s.port).open()
            c.send(frame(1, c.compress(ticker(2).encode() * 3), rsv=4))
            assert c.message()[1]
            conns.append(c)
        if not sanitized(s.proc.pid):
            assert (rss() - base) / 200 < 16, rss() - base
    finally:
        for c in conns:
            c.close()


@pytest.mark.parametrize("mode", ["low-memory", "high-ratio"])
@pytest.mark.parametrize("binary", [False, True])
def test_autobahn_12_sizes(server, mode, binary):
    """Autobahn's section 12 shape: ten messages each of 16 B to 128 KiB,
    text that compresses and bytes that do not, echoed exactly."""
    s = server(f"--compress-mode={mode}", *(["--binary"] if binary else []), "cat")
    rnd = random.Random(12)

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            for size in (16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072):
                for k in range(10):
                    if binary:
                        m = rnd.randbytes(size) if k % 2 else (ticker(k) * (size // 50 + 1)
                                                                ).encode()[:size]
                    else:
                        m = (ticker(k) * (size // 50 + 1))[:size]
                    await ws.send(m)
                    if binary:
                        got = bytearray()
                        while len(got) < size:
                            got += await asyncio.wait_for(ws.recv(), 10)
                        assert bytes(got) == m, (size, k)
                    else:
                        assert await asyncio.wait_for(ws.recv(), 10) == m, (size, k)
    run(go(), timeout=180)
