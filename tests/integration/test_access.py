"""Access control and limits: origins, Basic auth, --allow/--deny, trusted
proxies (X-Forwarded-For, PROXY protocol), connection limits, timeouts,
pings, privileges."""

import asyncio
import base64
import os
import pwd
import re
import resource
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time
import warnings

import pytest
import websockets

from harness import BINARY, Server, free_port
from rawws import Conn, close_payload, frame, request
from wsclient import OPEN, recv_all, run

CAT = "#!/bin/sh\nexec cat\n"
ENV = "#!/bin/sh\necho \"$REMOTE_ADDR $REMOTE_PORT $REMOTE_USER $AUTH_TYPE\"\n"


def status_of(port, raw):
    c = Conn(port)
    try:
        c.send(raw)
        status, headers, body = c.read_response()
        return status, headers, body
    finally:
        c.close()


def first_message(port, extra=(), path="/"):
    c = Conn(port)
    try:
        c.handshake(path=path, extra=list(extra))
        op, data = c.read_message()
        return data.decode()
    finally:
        c.close()


# --- origins -----------------------------------------------------------------------------

@pytest.mark.parametrize("rules,origin,status", [
    (["--origin=example.com"], "http://example.com", 101),
    (["--origin=example.com"], "https://example.com:8443", 101),       # no port: any port
    (["--origin=example.com"], "http://EXAMPLE.com", 101),
    (["--origin=example.com"], "http://evil.com", 403),
    (["--origin=example.com"], "http://example.com.evil.com", 403),
    (["--origin=example.com"], None, 403),                             # no Origin
    (["--origin=example.com", "--origin-optional"], None, 101),
    (["--origin=example.com:8080"], "http://example.com:8080", 101),
    (["--origin=example.com:8080"], "http://example.com", 403),
    (["--origin=https://example.com"], "http://example.com", 403),     # scheme given: must match
    (["--origin=https://example.com"], "https://example.com", 101),
    (["--origin=a.com, b.com:81"], "http://b.com:81", 101),
    (["--origin=a.com", "--origin=b.com"], "http://b.com", 101),
    (["--origin=example.com"], "null", 403),
    ([], "http://anything.example", 101),                             # no rule: no check
])
def test_origin_matrix(server, script, rules, origin, status):
    s = server(*rules, script(CAT))
    extra = [f"Origin: {origin}"] if origin else []
    got, _, body = status_of(s.port, request(extra=extra))
    assert got == status, body


def test_sameorigin(server, script):
    s = server("--sameorigin", script(CAT))
    assert status_of(s.port, request(host=f"127.0.0.1:{s.port}",
                                     extra=[f"Origin: http://127.0.0.1:{s.port}"]))[0] == 101
    assert status_of(s.port, request(host=f"127.0.0.1:{s.port}",
                                     extra=["Origin: http://127.0.0.1:1"]))[0] == 403
    assert status_of(s.port, request(host=f"127.0.0.1:{s.port}"))[0] == 403
    s.wait_log(r"refused origin http://127\.0\.0\.1:1: the Origin is not this server")


# --- Basic auth ------------------------------------------------------------------------------

def basic(user, password):
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_matrix(server, script):
    s = server("--basic-auth=alice:s3cret", "--basic-auth=bob:pass:with:colons", script(ENV))
    status, headers, body = status_of(s.port, request())
    assert status == 401 and headers["www-authenticate"] == [
        'Basic realm="wsbridge", charset="UTF-8"']
    assert status_of(s.port, request(extra=[basic("alice", "wrong")]))[0] == 401
    assert status_of(s.port, request(extra=[basic("mallory", "s3cret")]))[0] == 401
    assert status_of(s.port, request(extra=["Authorization: Basic !!!"]))[0] == 401
    assert status_of(s.port, request(extra=["Authorization: Bearer abc"]))[0] == 401
    assert first_message(s.port, [basic("alice", "s3cret")]).split()[2:] == ["alice", "Basic"]
    assert first_message(s.port, [basic("bob", "pass:with:colons")]).split()[2] == "bob"
    s.wait_log(r"wrong password for user 'alice'")


def test_basic_auth_protects_static_files(server, script, tmp_path):
    (tmp_path / "index.html").write_text("secret page\n")
    s = server("--basic-auth=alice:s3cret", f"--staticdir={tmp_path}", script(CAT))
    raw = b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
    assert status_of(s.port, raw + b"\r\n")[0] == 401
    status, _, body = status_of(s.port, raw + basic("alice", "s3cret").encode() + b"\r\n\r\n")
    assert status == 200 and body == b"secret page\n"


def crypt_hash(password, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(getattr(crypt, method)))


def test_htpasswd_bcrypt_and_sha512_and_reload(server, script, tmp_path):
    htp = tmp_path / "htpasswd"
    htp.write_text(f"# users\nalice:{crypt_hash('wonderland', 'METHOD_BLOWFISH')}\n"
                   f"carol:{crypt_hash('x' * 20, 'METHOD_SHA512')}\n")
    s = server(f"--htpasswd={htp}", script(ENV))
    assert first_message(s.port, [basic("alice", "wonderland")]).split()[2] == "alice"
    assert first_message(s.port, [basic("carol", "x" * 20)]).split()[2] == "carol"
    assert status_of(s.port, request(extra=[basic("alice", "Wonderland")]))[0] == 401
    htp.write_text(f"alice:{crypt_hash('new-password', 'METHOD_BLOWFISH')}\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"reload: 1 users loaded")
    assert status_of(s.port, request(extra=[basic("alice", "wonderland")]))[0] == 401
    assert first_message(s.port, [basic("alice", "new-password")]).split()[2] == "alice"


def test_htpasswd_with_apr1_is_refused_at_start(tmp_path):
    htp = tmp_path / "htpasswd"
    htp.write_text("alice:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    r = subprocess.run([BINARY, "--port=1", f"--htpasswd={htp}", "--connect=127.0.0.1:1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and f"{htp}:1:" in r.stderr and "bcrypt" in r.stderr


# --- addresses ---------------------------------------------------------------------------

@pytest.mark.parametrize("rules,allowed", [
    (["--deny=127.0.0.1"], False),
    (["--allow=10.0.0.0/8"], False),
    (["--allow=127.0.0.0/8"], True),
    (["--allow=127.0.0.0/8", "--deny=127.0.0.1/32"], False),   # deny wins
    (["--allow=::1/128", "--allow=127.0.0.1"], True),
])
def test_allow_and_deny_at_accept(server, script, rules, allowed):
    s = server(*rules, script(CAT))
    c = Conn(s.port)
    c.send(request())
    if allowed:
        assert c.read_response()[0] == 101
    else:
        with pytest.raises((EOFError, ConnectionError)):
            c.read_response()
        s.wait_log(r"127\.0\.0\.1 is not allowed")
    c.close()


@pytest.mark.parametrize("trusted,xff,expect", [
    ([], "1.2.3.4", "127.0.0.1"),                                   # untrusted peer: ignored
    (["127.0.0.1"], "1.2.3.4", "1.2.3.4"),
    (["127.0.0.1"], "6.6.6.6, 1.2.3.4", "1.2.3.4"),                 # spoofed left part ignored
    (["127.0.0.1", "1.2.3.4"], "6.6.6.6, 1.2.3.4", "6.6.6.6"),      # through two proxies
    (["127.0.0.0/8"], "garbage, 1.2.3.4", "1.2.3.4"),
    (["127.0.0.0/8"], "1.2.3.4, garbage", "127.0.0.1"),             # broken chain: trust nothing
    (["127.0.0.1"], "[2001:db8::7]:4444", "2001:db8::7"),
])
def test_x_forwarded_for_only_from_trusted_proxies(server, script, trusted, xff, expect):
    s = server(*[f"--trusted-proxy={t}" for t in trusted], script(ENV))
    assert first_message(s.port, [f"X-Forwarded-For: {xff}"]).split()[0] == expect


def test_deny_applies_to_the_client_behind_a_trusted_proxy(server, script):
    s = server("--trusted-proxy=127.0.0.1", "--deny=9.9.9.0/24", script(ENV))
    status, _, body = status_of(s.port, request(extra=["X-Forwarded-For: 9.9.9.9"]))
    assert status == 403
    assert first_message(s.port, ["X-Forwarded-For: 8.8.8.8"]).split()[0] == "8.8.8.8"


def proxy_v2(src, sport, dst="127.0.0.1", dport=80):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


@pytest.mark.parametrize("header", [
    b"PROXY TCP4 9.8.7.6 127.0.0.1 5555 80\r\n",
    proxy_v2("9.8.7.6", 5555),
])
def test_proxy_protocol_names_the_client(server, script, header):
    s = server("--trusted-proxy=127.0.0.1", "--proxy-protocol", script(ENV))
    c = Conn(s.port)
    c.send(header + request())
    assert c.read_response()[0] == 101
    assert c.read_message()[1].decode().split()[:2] == ["9.8.7.6", "5555"]
    c.close()
    s.wait_log(r"CONNECT 9\.8\.7\.6 port 5555 via 127\.0\.0\.1")


def test_proxy_protocol_header_missing_or_broken_is_dropped(server, script):
    s = server("--trusted-proxy=127.0.0.1", "--proxy-protocol", script(CAT))
    for raw in (request(), b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n" + request()):
        c = Conn(s.port)
        c.send(raw)
        assert c.wait_eof(timeout=5)
        c.close()
    s.wait_log(r"invalid PROXY protocol header")


def test_proxy_protocol_before_tls(server, script, tmp_path):
    from pki import PKI
    import ssl
    p = PKI(tmp_path)
    crt, key = p.issue("srv", "localhost")
    s = server("--trusted-proxy=127.0.0.1", "--proxy-protocol", "--ssl", f"--sslcert={crt}",
               f"--sslkey={key}", script(ENV))
    raw = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    raw.sendall(b"PROXY TCP6 2001:db8::9 ::1 4242 443\r\n")
    ctx = ssl.create_default_context(cafile=p.ca)
    t = ctx.wrap_socket(raw, server_hostname="localhost")
    t.sendall(request())
    data = b""
    while b"\r\n\r\n" not in data:
        data += t.recv(4096)
    assert data.startswith(b"HTTP/1.1 101")
    t.close()
    s.wait_log(r"CONNECT 2001:db8::9 port 4242 via 127\.0\.0\.1")


# --- limits ----------------------------------------------------------------------------------

def test_maxconn_extra_connections_get_503(server, script):
    s = server("--maxconn=5", "--maxconn-per-ip=0", script(CAT))
    held = []
    for _ in range(5):
        c = Conn(s.port)
        c.handshake()
        held.append(c)
    refused = 0
    for _ in range(10):
        status, headers, body = status_of(s.port, request())
        assert status == 503 and headers["retry-after"] == ["1"]
        refused += 1
    assert refused == 10
    for c in held:
        c.close()
    # and the daemon goes on serving once it has seen them go (a late loop may
    # accept a newcomer before it reads the closes: 503, then 101)
    deadline = time.monotonic() + 10
    while (status := status_of(s.port, request())[0]) != 101 and time.monotonic() < deadline:
        assert status == 503, status
        time.sleep(0.05)
    assert status == 101
    s.wait_log(r"--maxconn=5 reached")


def test_maxconn_per_ip(server, script):
    s = server("--maxconn-per-ip=3", script(CAT))
    held = [Conn(s.port) for _ in range(3)]
    for c in held:
        c.handshake()
    assert status_of(s.port, request())[0] == 503
    other = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.2", 0))
    other.sendall(request())
    assert other.recv(12) == b"HTTP/1.1 101"            # another address is not affected
    other.close()
    for c in held:
        c.close()


def test_1000_half_open_handshakes_do_not_stop_a_real_client(server, script):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    # Given explicitly, the limit counts loopback peers too (the default does not).
    s = server("--maxconn-per-ip=256", script(CAT))
    slow = []
    try:
        for _ in range(1000):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")   # and never finish
            slow.append(c)
        real = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.2", 0),
                                        timeout=5)
        real.sendall(request())
        assert real.recv(12) == b"HTTP/1.1 101"
        real.close()
        s.wait_log(r"--maxconn-per-ip=256 reached")
    finally:
        for c in slow:
            c.close()


def test_out_of_descriptors_refuses_without_spinning(tmp_path, script):
    def low_fd_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
    port = free_port()
    log = open(tmp_path / "fd.log", "w")
    p = subprocess.Popen([BINARY, "--address=127.0.0.1", f"--port={port}", "--maxconn=0",
                          "--maxconn-per-ip=0", "--allow-root-children", script(CAT)],
                         stdout=log, stderr=subprocess.STDOUT, preexec_fn=low_fd_limit)
    held = []
    try:
        deadline = time.monotonic() + 5
        while "listening" not in open(tmp_path / "fd.log").read() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(60):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(c)
        cpu_before = _cpu(p.pid)
        time.sleep(2)
        assert _cpu(p.pid) - cpu_before < 1.0, "the accept loop spins"
        assert b"503" in held[-1].recv(64)
        for c in held:
            c.close()
        held = []
        time.sleep(0.5)
        c = Conn(port)
        c.handshake()                                   # serving again
        c.close()
    finally:
        for c in held:
            c.close()
        p.terminate()
        assert p.wait(10) == 0
        log.close()
    assert "out of file descriptors" in open(tmp_path / "fd.log").read()


def _cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- timeouts and pings -----------------------------------------------------------------------

def test_handshake_timeout_option(server, script):
    s = server("--handshake-timeout=0.5", script(CAT))
    c = Conn(s.port, timeout=5)
    start = time.monotonic()
    assert c.wait_eof(timeout=4)
    assert time.monotonic() - start < 3


def test_ping_timeout_closes_a_peer_that_never_answers(server, script):
    s = server("--pingms=300", script(CAT))
    c = Conn(s.port, timeout=5)
    c.handshake()
    fin, _, op, payload = c.read_frame()
    assert op == 9                                     # a ping
    code, reason = c.expect_close(timeout=5)           # never answered: 1011
    assert (code, reason) == (1011, b"ping timeout")
    s.wait_log(r"no pong within 300 ms")


def test_a_client_that_answers_pings_stays(server, script):
    s = server("--pingms=400", script(CAT))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:      # answers pings itself
            await asyncio.sleep(1.8)                              # 4 pings
            await ws.send("still here")
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == "still here"


def test_idle_timeout(server, script):
    s = server("--idle-timeout=1", "--pingms=0", script(CAT))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            for _ in range(4):                           # busy: kept open
                await asyncio.sleep(0.3)
                await ws.send("tick")
                await ws.recv()
            return await recv_all(ws, timeout=5)        # then idle: closed
    _, code, reason = run(go())
    assert (code, reason) == (1001, "idle timeout")


# --- privileges -------------------------------------------------------------------------------

def test_root_needs_user_or_allow_root_children(script):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    cat = script(CAT)
    r = subprocess.run([BINARY, f"--port={free_port()}", cat], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2, r.stderr
    # It says what to type: the program, and both ways out.
    assert f"refusing to run {cat} as root: add --user=nobody" in r.stderr
    assert "or --allow-root-children to run it as root" in r.stderr


def test_user_drops_privileges_for_the_daemon_and_children(server):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    nobody = pwd.getpwnam("nobody")
    d = tempfile.mkdtemp(prefix="wsbridge-user-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "id.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"$(id -u) $(id -g)\"\n")
    os.chmod(path, 0o755)
    try:
        s = server("--user=nobody", path)
        assert first_message(s.port) == f"{nobody.pw_uid} {nobody.pw_gid}"
        with open(f"/proc/{s.proc.pid}/status") as f:
            uids = re.search(r"Uid:\s+(\d+)\s+(\d+)\s+(\d+)", f.read()).groups()
        assert uids == (str(nobody.pw_uid),) * 3
        s.wait_log(r"running as uid %d" % nobody.pw_uid)
    finally:
        os.unlink(path)
        os.rmdir(d)


def test_unknown_user_is_exit_2(script):
    r = subprocess.run([BINARY, "--port=1", "--user=no-such-user-here", script(CAT)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--user=no-such-user-here" in r.stderr
