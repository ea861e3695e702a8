"""Proxy targets chosen by token (websockify's TokenFile format) and TLS to the target."""

import asyncio
import os
import signal
import subprocess
import time

import pytest
import websockets

from harness import BINARY
from rawws import Conn, request
from wsclient import OPEN, recv_bytes, run


def echo_once(url, payload=b"ping", **kw):
    async def go():
        async with websockets.connect(url, **OPEN, **kw) as ws:
            await ws.send(payload)
            return await recv_bytes(ws, len(payload))
    return run(go())


def http_status(port, path):
    c = Conn(port)
    c.send(request(path))
    status, _, body = c.read_response()
    c.close()
    return status, body


# --- tokens --------------------------------------------------------------------------

@pytest.fixture
def tokens(tmp_path, backend):
    a = backend("echo")
    u = backend("echo", unix=True)
    path = tmp_path / "tokens.cfg"
    path.write_text(f"# websockify TokenFile format\n"
                    f"alpha: {a.target}\n"
                    f"  spaced :   {a.target}   # trailing comment\n"
                    f"sock: {u.target}\n")
    return path, a, u


def test_token_from_query(server, tokens):
    path, _, _ = tokens
    s = server(f"--token-file={path}")
    assert echo_once(s.url + "/?token=alpha") == b"ping"
    assert echo_once(s.url + "/websockify?x=1&token=spaced") == b"ping"
    assert echo_once(s.url + "/?token=sock") == b"ping"


def test_token_from_path(server, tokens):
    path, _, _ = tokens
    s = server(f"--token-file={path}", "--token-source=path")
    assert echo_once(s.url + "/websockify/alpha") == b"ping"
    assert echo_once(s.url + "/sock") == b"ping"


def test_unknown_and_missing_tokens_are_404(server, tokens):
    path, _, _ = tokens
    s = server(f"--token-file={path}")
    status, body = http_status(s.port, "/?token=nope")
    assert status == 404 and b"unknown token 'nope'" in body
    status, body = http_status(s.port, "/")
    assert status == 404 and b"missing token" in body
    # no open proxy: a host:port in the request is just an unknown token
    status, _ = http_status(s.port, "/?token=127.0.0.1:22")
    assert status == 404


def test_token_file_is_reread_when_it_changes(server, tokens, backend):
    path, a, _ = tokens
    s = server(f"--token-file={path}")
    assert http_status(s.port, "/?token=beta")[0] == 404
    b2 = backend("echo")
    path.write_text(path.read_text() + f"beta: {b2.target}\n")
    time.sleep(1.2)                       # changes are looked for at most once a second
    assert echo_once(s.url + "/?token=beta") == b"ping"
    s.wait_log(r"4 tokens loaded")


def test_sighup_reloads_tokens(server, tokens, backend):
    path, _, _ = tokens
    s = server(f"--token-file={path}")
    b2 = backend("echo")
    path.write_text(f"gamma: {b2.target}\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"1 tokens loaded")
    assert echo_once(s.url + "/?token=gamma") == b"ping"
    assert http_status(s.port, "/?token=alpha")[0] == 404


def test_bad_token_file_on_reload_keeps_the_old_table(server, tokens):
    path, _, _ = tokens
    s = server(f"--token-file={path}")
    path.write_text("this line has no colon\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"reload: .*tokens.cfg:1: expected 'token: host:port'; keeping the previous tokens")
    assert echo_once(s.url + "/?token=alpha") == b"ping"


def test_directory_of_token_files(server, tmp_path, backend):
    a, b2 = backend("echo"), backend("echo")
    d = tmp_path / "tokens.d"
    d.mkdir()
    (d / "one").write_text(f"one: {a.target}\n")
    (d / "two").write_text(f"two: {b2.target}\n")
    s = server(f"--token-file={d}")
    assert echo_once(s.url + "/?token=one") == b"ping"
    assert echo_once(s.url + "/?token=two") == b"ping"
    (d / "three").write_text(f"three: {a.target}\n")
    time.sleep(1.2)
    assert echo_once(s.url + "/?token=three") == b"ping"


def test_token_whose_target_does_not_resolve_is_502(server, tmp_path):
    path = tmp_path / "t"
    path.write_text("ghost: no-such-host.invalid:5900\n")
    s = server(f"--token-file={path}")
    status, body = http_status(s.port, "/?token=ghost")
    assert status == 502 and b"does not resolve" in body


def test_malformed_token_file_at_start_is_exit_2(tmp_path):
    path = tmp_path / "t"
    path.write_text("ok: 127.0.0.1:1\nbroken: 127.0.0.1:99999\n")
    r = subprocess.run([BINARY, "--port=1", f"--token-file={path}"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and f"{path}:2: port must be a number" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["--connect=1.2.3.4:5", "--token-file=/x"], "exclude each other"),
    (["--connect=1.2.3.4:5", "cat"], "unexpected COMMAND 'cat'"),
    (["--connect=1.2.3.4:5", "--binary"], "'--binary' applies only to COMMAND"),
    (["--connect=1.2.3.4:5", "--closems=5"], "'--closems' applies only to COMMAND"),
    (["--binary-only", "cat"], "'--binary-only' applies only with --connect"),
    (["--connect=1.2.3.4:5", "--ssl-target-insecure"], "needs --ssl-target"),
    (["--connect=nohost"], "expected HOST:PORT"),
    (["--connect=[::1]5900"], "expected [IPv6]:PORT"),
    (["--connect=1.2.3.4:0"], "port must be"),
    (["--connect=1.2.3.4:5", "--token-source=/etc/tokens"], "--token-file=FILE here"),
    (["--connect=1.2.3.4:5", "--connect-timeout=0"], "--connect-timeout=0"),
])
def test_bad_proxy_command_lines_exit_2(args, needle):
    r = subprocess.run([BINARY, "--port=1", *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and needle in r.stderr, r.stderr


# --- TLS to the target -------------------------------------------------------------------

@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    other = d / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=other", "-days", "2",
                    "-keyout", str(d / "other-key.pem"), "-out", str(other)], check=True,
                   capture_output=True)
    return str(crt), str(key), str(other)


def test_tls_target_verified(server, backend, cert):
    crt, key, _ = cert
    b = backend("echo", "--tls", crt, key)
    s = server(f"--connect={b.target}", "--ssl-target", env={"SSL_CERT_FILE": crt})
    payload = os.urandom(3 << 20)                # several TLS records, partial writes
    assert echo_once(s.url, payload) == payload
    s.wait_log(r"CONNECT .* -> 127\.0\.0\.1:\d+ \(TLS\)")


@pytest.mark.parametrize("mode", ["greet", "greet-one-write"])
def test_tls_target_greeting_arrives_before_the_client_says_anything(server, backend, cert,
                                                                     mode):
    # Servers like VNC speak first; OpenSSL may have read the greeting ahead
    # with the end of the handshake, where it does not make the socket readable.
    # greet-one-write makes sure it has: both arrive in one segment.
    crt, key, _ = cert
    b = backend(mode, "--tls", crt, key)
    s = server(f"--connect={b.target}", "--ssl-target", env={"SSL_CERT_FILE": crt})

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            await ws.send(b"and back")
            return first, await asyncio.wait_for(ws.recv(), 5)
    assert run(go()) == (b"hello from the backend", b"and back")


def test_tls_target_by_name_uses_sni_and_checks_the_name(server, backend, cert):
    crt, key, _ = cert
    b = backend("echo", "--tls", crt, key)
    s = server(f"--connect=localhost:{b.port}", "--ssl-target", env={"SSL_CERT_FILE": crt})
    assert echo_once(s.url) == b"ping"


def test_tls_target_with_an_untrusted_certificate_is_502(server, backend, cert):
    crt, key, other = cert
    b = backend("echo", "--tls", crt, key)
    s = server(f"--connect={b.target}", "--ssl-target", env={"SSL_CERT_FILE": other})
    status, body = http_status(s.port, "/")
    assert status == 502 and b"certificate verification failed" in body


def test_tls_target_insecure_skips_verification(server, backend, cert):
    crt, key, other = cert
    b = backend("echo", "--tls", crt, key)
    s = server(f"--connect={b.target}", "--ssl-target", "--ssl-target-insecure",
               env={"SSL_CERT_FILE": other})
    assert echo_once(s.url) == b"ping"


def test_tls_to_a_plain_backend_is_502(server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}", "--ssl-target", "--connect-timeout=3")
    status, body = http_status(s.port, "/")
    assert status == 502 and b"TLS with" in body
