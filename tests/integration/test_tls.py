"""wss:// and https:// with OpenSSL: certificates, mutual TLS, reload on
SIGHUP, TLS and plain on one port, the redirect port."""

import asyncio
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest
import websockets

from harness import BINARY, free_port, root_children
from pki import PKI
from rawws import ACCEPT, Conn, frame, request
from wsclient import OPEN, recv_all, run

CAT = "#!/bin/sh\nexec cat\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = PKI(tmp_path_factory.mktemp("pki"))
    p.server = p.issue("server", "localhost")
    p.server2 = p.issue("server2", "reloaded")
    p.alice = p.issue("alice", "alice", server=False)
    p.mallory = p.stranger("mallory", "mallory")
    return p


def client_ctx(pki, cert=None):
    ctx = ssl.create_default_context(cafile=pki.ca)
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def tls_args(pki, *extra, cert=None):
    crt, key = cert or pki.server
    return ["--ssl", f"--sslcert={crt}", f"--sslkey={key}", *extra]


def wss_echo(port, ctx, message="over tls"):
    async def go():
        async with websockets.connect(f"wss://127.0.0.1:{port}/", ssl=ctx, **OPEN) as ws:
            await ws.send(message)
            return await asyncio.wait_for(ws.recv(), 5)
    return run(go())


def peer_cn(port, ctx=None):
    ctx = ctx or ssl._create_unverified_context()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem, text=True,
                         capture_output=True, check=True).stdout
    return out.strip().split("CN", 1)[1].lstrip(" =")


def test_wss_echo(server, script, pki):
    s = server(*tls_args(pki), script(CAT))
    assert wss_echo(s.port, client_ctx(pki)) == "over tls"
    big = "y" * (3 << 20)                           # many records, partial writes
    assert wss_echo(s.port, client_ctx(pki), big) == big


class HandDrivenTLS:
    """A TLS client over memory BIOs: the test decides which records share a write."""

    def __init__(self, port, ctx):
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def flush(self):
        self.raw.sendall(self.outgoing.read())

    def call(self, op, send=True):
        """op() until it needs no more input; send=False keeps what it wrote queued."""
        while True:
            try:
                result = op()
                if send:
                    self.flush()
                return result
            except ssl.SSLWantReadError:
                self.flush()
                data = self.raw.recv(65536)
                assert data, "the server closed the connection"
                self.incoming.write(data)

    def read_until(self, done):
        got = b""
        while not done(got):
            got += self.call(lambda: self.tls.read(65536))
        return got


def test_message_and_close_notify_in_one_write_end_the_session(server, script, pki, tmp_path):
    # OpenSSL reads both records at once (read-ahead): the message must reach
    # COMMAND, and the close_notify behind it must still end the session,
    # though the socket has nothing more to say.
    rec = tmp_path / "stdin"
    s = server(*tls_args(pki), script(f"#!/bin/sh\nexec tee {rec}\n"))  # stdout stays open
    t = HandDrivenTLS(s.port, client_ctx(pki))
    try:
        t.call(t.tls.do_handshake)
        t.call(lambda: t.tls.write(request()))
        head = t.read_until(lambda got: b"\r\n\r\n" in got)
        assert head.startswith(b"HTTP/1.1 101"), head
        t.tls.write(frame(1, b"last words"))
        try:
            t.tls.unwrap()                   # queues close_notify; the server's is not awaited
        except ssl.SSLWantReadError:
            pass
        t.flush()                            # both records in one write; our socket stays open
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if not t.raw.recv(65536):
                    break                    # the server closed: the session is over
            except ConnectionResetError:
                break
        else:
            pytest.fail("the session did not end after the client's close_notify")
    finally:
        t.raw.close()
    assert s.wait_no_children(5)
    assert rec.read_text() == "last words\n"


def test_request_and_message_in_one_write_with_the_clients_finished(server, script, pki):
    # The handshake's last read holds the upgrade request and a message too
    # (read ahead, so the socket is not readable afterwards): both are served.
    s = server(*tls_args(pki), script(CAT))
    t = HandDrivenTLS(s.port, client_ctx(pki))
    try:
        t.call(t.tls.do_handshake, send=False)   # our Finished stays queued
        t.tls.write(request() + frame(1, b"early words"))
        t.flush()                                # Finished, request and message together
        echo = bytes([0x81, 11]) + b"early words"
        got = t.read_until(lambda got: echo in got)
        assert got.startswith(b"HTTP/1.1 101") and got.endswith(b"\r\n\r\n" + echo), got
    finally:
        t.raw.close()


def test_child_sees_https_on(server, script, pki):
    s = server(*tls_args(pki), script("#!/bin/sh\necho \"HTTPS=$HTTPS SERVER_PORT=$SERVER_PORT\"\n"))

    async def go():
        async with websockets.connect(f"wss://localhost:{s.port}/", ssl=client_ctx(pki),
                                      **OPEN) as ws:
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == f"HTTPS=on SERVER_PORT={s.port}"


def test_https_static_file(server, script, pki, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    body = os.urandom(3 << 20)
    (www / "big.bin").write_bytes(body)
    s = server(*tls_args(pki), f"--staticdir={www}", script(CAT))
    conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=client_ctx(pki), timeout=10)
    conn.request("GET", "/big.bin")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == body
    conn.close()


def test_alpn_picks_http11(server, script, pki):
    s = server(*tls_args(pki), script(CAT))
    ctx = client_ctx(pki)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            assert t.selected_alpn_protocol() == "http/1.1"
            assert t.version() in ("TLSv1.2", "TLSv1.3")


def test_tls_1_1_is_refused(server, script, pki):
    s = server(*tls_args(pki), script(CAT))
    ctx = client_ctx(pki)
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", DeprecationWarning)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
            ctx.wrap_socket(raw, server_hostname="localhost")


def test_plain_client_on_a_tls_port_is_dropped(server, script, pki):
    s = server(*tls_args(pki), script(CAT))
    c = Conn(s.port)
    c.send(request())
    assert c.wait_eof(timeout=5)
    s.wait_log(r"TLS handshake failed")


def test_ssl_auto_serves_both_on_one_port(server, script, pki):
    s = server("--ssl=auto", f"--sslcert={pki.server[0]}", f"--sslkey={pki.server[1]}",
               script(CAT))
    assert wss_echo(s.port, client_ctx(pki)) == "over tls"

    async def plain():
        async with websockets.connect(f"ws://127.0.0.1:{s.port}/", **OPEN) as ws:
            await ws.send("plain")
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(plain()) == "plain"


def test_redirport_answers_301_to_https(server, script, pki):
    redir = free_port()
    s = server(*tls_args(pki, f"--redirport={redir}"), script(CAT))
    c = Conn(redir)
    c.send(b"GET /page?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
    status, headers, _ = c.read_response()
    assert status == 301
    assert headers["location"] == [f"https://example.com:{s.port}/page?x=1"]


@pytest.mark.parametrize("mess,needle", [
    ("missing-cert", "cannot load the certificate"),
    ("missing-key", "cannot load the key"),
    ("mismatch", "does not match the certificate"),
    ("encrypted-no-password", "if it is encrypted"),
    ("wrong-password", "wrong password"),
    ("no-key-option", "--ssl needs --sslcert=FILE and --sslkey=FILE"),
    ("key-without-ssl", "option '--sslkey' needs --ssl"),
])
def test_tls_start_up_errors_are_one_line_and_exit_2(pki, tmp_path, mess, needle):
    crt, key = pki.server
    other_crt, _ = pki.server2
    enc = pki.encrypted_key(key, "s3cret")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-it\n")
    args = {
        "missing-cert": ["--ssl", f"--sslcert={tmp_path}/nope.pem", f"--sslkey={key}"],
        "missing-key": ["--ssl", f"--sslcert={crt}", f"--sslkey={tmp_path}/nope.key"],
        "mismatch": ["--ssl", f"--sslcert={other_crt}", f"--sslkey={key}"],
        "encrypted-no-password": ["--ssl", f"--sslcert={crt}", f"--sslkey={enc}"],
        "wrong-password": ["--ssl", f"--sslcert={crt}", f"--sslkey={enc}",
                           f"--sslkey-password-file={wrong}"],
        "no-key-option": ["--ssl", f"--sslcert={crt}"],
        "key-without-ssl": [f"--sslkey={key}"],
    }[mess]
    r = subprocess.run([BINARY, "--address=127.0.0.1", f"--port={free_port()}",
                        *root_children([]), *args, "cat"],
                       capture_output=True, text=True, timeout=10)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr


def test_encrypted_key_with_the_password_file(server, script, pki, tmp_path):
    crt, key = pki.server
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    s = server("--ssl", f"--sslcert={crt}", f"--sslkey={pki.encrypted_key(key, 's3cret')}",
               f"--sslkey-password-file={pw}", script(CAT))
    assert wss_echo(s.port, client_ctx(pki)) == "over tls"


def test_sighup_reloads_the_certificate_and_keeps_sessions(server, script, pki, tmp_path):
    crt, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(pki.server[0], crt)
    shutil.copy(pki.server[1], key)
    s = server("--ssl", f"--sslcert={crt}", f"--sslkey={key}", script(CAT))
    assert peer_cn(s.port) == "localhost"

    async def go():
        async with websockets.connect(f"wss://127.0.0.1:{s.port}/", ssl=client_ctx(pki),
                                      **OPEN) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            shutil.copy(pki.server2[0], crt)
            shutil.copy(pki.server2[1], key)
            s.proc.send_signal(signal.SIGHUP)
            s.wait_log(r"reload: certificate .* loaded")
            await ws.send("after")              # the open session is untouched
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == "after"
    assert peer_cn(s.port) == "reloaded"        # new connections get the new one
    # a broken file keeps the working certificate
    crt.write_text("garbage\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"reload: cannot load the certificate .*; keeping the previous certificate")
    assert peer_cn(s.port) == "reloaded"


# --- mutual TLS -------------------------------------------------------------------------

def test_client_certificate_accepted_and_exported(server, script, pki):
    body = "#!/bin/sh\necho \"$SSL_CLIENT_S_DN_CN $SSL_CLIENT_VERIFY\"\n"
    s = server(*tls_args(pki, f"--sslca={pki.ca}"), script(body))

    async def go():
        async with websockets.connect(f"wss://127.0.0.1:{s.port}/",
                                      ssl=client_ctx(pki, pki.alice), **OPEN) as ws:
            return await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == "alice SUCCESS"
    s.wait_log(r"CONNECT .* cert CN=alice")


@pytest.mark.parametrize("who", ["nobody", "mallory"])
def test_client_without_a_valid_certificate_is_refused(server, script, pki, who):
    s = server(*tls_args(pki, f"--sslca={pki.ca}"), script(CAT))
    ctx = client_ctx(pki, pki.mallory if who == "mallory" else None)

    async def go():
        async with websockets.connect(f"wss://127.0.0.1:{s.port}/", ssl=ctx, **OPEN) as ws:
            await ws.send("let me in")
            return await asyncio.wait_for(ws.recv(), 5)
    with pytest.raises((ssl.SSLError, ConnectionError, websockets.ConnectionClosed, OSError,
                        asyncio.TimeoutError, websockets.InvalidMessage)):
        run(go())
    s.wait_log(r"TLS handshake failed")
