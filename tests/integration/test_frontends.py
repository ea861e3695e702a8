"""wsbridge behind the reverse proxies people put in front of it: its unix
socket listener, nginx terminating TLS in front of that socket, and HAProxy
balancing two instances (with the PROXY protocol)."""

import asyncio
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time

import pytest
import websockets

from harness import BINARY, Server, free_port, root_children
from pki import PKI
from wsclient import OPEN, run


@pytest.fixture
def public_dir():
    """A directory nginx's unprivileged workers can reach (pytest's tmp_path
    sits under a 0700 directory)."""
    d = tempfile.mkdtemp(prefix="wsb-sock-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def whoami_script(script):
    return script('#!/bin/sh\necho "$REMOTE_ADDR|$REMOTE_PORT|$HTTPS|${INSTANCE:-}|$HTTP_HOST"\n'
                  'exec cat\n')


async def unix_echo(path, message):
    async with websockets.unix_connect(path, "ws://wsbridge.test/", **OPEN) as ws:
        await ws.send(message)
        return await asyncio.wait_for(ws.recv(), 10)


async def unix_session(path, message):
    async with websockets.unix_connect(path, "ws://wsbridge.test/", **OPEN) as ws:
        first = await asyncio.wait_for(ws.recv(), 10)
        await ws.send(message)
        return first, await asyncio.wait_for(ws.recv(), 10)


def test_unix_socket_listener(tmp_path, script, public_dir):
    path = os.path.join(public_dir, "wsbridge.sock")
    srv = Server([f"--unixsocket={path}", "--unixsocket-mode=0600", whoami_script(script)],
                 tmp_path, listen=[])
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        first, echoed = run(unix_session(path, "over a unix socket"))
        assert first.split("|")[:2] == ["unix:", "0"] and first.endswith("|wsbridge.test")
        assert echoed == "over a unix socket"
        assert "listening on unix:" in srv.log()
        assert "listening on http" not in srv.log(), "no TCP port without --port/--address"
    finally:
        srv.stop()
    assert not os.path.exists(path), "the socket file is removed at exit"


def test_unix_socket_replaces_a_stale_file_but_not_a_live_one(tmp_path, public_dir):
    path = os.path.join(public_dir, "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: what a crash leaves behind
    srv = Server([f"--unix-listen={path}", "cat"], tmp_path, listen=[])
    try:
        assert run(unix_echo(path, "after a stale file")) == "after a stale file"
        second = subprocess.run([BINARY, f"--unixsocket={path}", *root_children(["cat"]), "cat"],
                                capture_output=True, text=True, timeout=10)
        assert second.returncode == 1
        assert "another process is serving it" in second.stderr
    finally:
        srv.stop()

    with open(path, "w") as f:
        f.write("not a socket")
    p = subprocess.run([BINARY, f"--unixsocket={path}", *root_children(["cat"]), "cat"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "exists and is not a socket" in p.stderr
    assert open(path).read() == "not a socket", "a regular file is never removed"


def test_unix_peers_are_trusted_only_when_asked(tmp_path, script, public_dir):
    path = os.path.join(public_dir, "xff.sock")
    who = whoami_script(script)

    async def remote_addr():
        async with websockets.unix_connect(path, "ws://x/", **OPEN,
                                           extra_headers={"X-Forwarded-For": "192.0.2.7"}) as ws:
            return (await asyncio.wait_for(ws.recv(), 10)).split("|")[0]

    srv = Server([f"--unixsocket={path}", who], tmp_path, listen=[])
    try:
        assert run(remote_addr()) == "unix:"
    finally:
        srv.stop()
    srv = Server([f"--unixsocket={path}", "--trusted-proxy=unix", who], tmp_path, listen=[])
    try:
        assert run(remote_addr()) == "192.0.2.7"
    finally:
        srv.stop()


def start_proxy(argv, tmp_path, name, port):
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, open(tmp_path / f"{name}.log").read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"{name} did not listen:\n" + open(tmp_path / f"{name}.log").read())


def stop_proxy(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


NGINX_CONF = """
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log stderr info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream wsbridge {{ server unix:{sock}; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://wsbridge;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


def test_nginx_terminates_tls_in_front_of_the_unix_socket(tmp_path, script, public_dir):
    pki = PKI(tmp_path)
    cert, key = pki.issue("nginx", "localhost")
    sock = os.path.join(public_dir, "behind-nginx.sock")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>page behind nginx</h1>\n")
    srv = Server([f"--unixsocket={sock}", "--unixsocket-mode=0666", "--trusted-proxy=unix",
                  f"--staticdir={site}", whoami_script(script)], tmp_path, listen=[])
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=public_dir, sock=sock, port=port, cert=cert, key=key,
                                      user="user root;" if os.geteuid() == 0 else ""))
    nginx = start_proxy(["/usr/sbin/nginx", "-p", public_dir, "-c", str(conf), "-e", "stderr",
                         "-g", "daemon off;"], tmp_path, "nginx", port)
    ctx = ssl.create_default_context(cafile=pki.ca)

    async def session():
        async with websockets.connect(f"wss://localhost:{port}/", ssl=ctx, **OPEN) as ws:
            first = await asyncio.wait_for(ws.recv(), 10)
            payload = "x" * 100000
            await ws.send(payload)
            return first, await asyncio.wait_for(ws.recv(), 10) == payload

    try:
        first, echoed = run(session())
        addr, _port, _https, _instance, host = first.split("|")
        assert addr == "127.0.0.1", "REMOTE_ADDR is the client named by nginx's X-Forwarded-For"
        assert host == f"localhost:{port}"
        assert echoed
        import urllib.request
        page = urllib.request.urlopen(f"https://localhost:{port}/", context=ctx, timeout=10)
        assert b"page behind nginx" in page.read()
    finally:
        stop_proxy(nginx)
        srv.stop()


NGINX_TCP_CONF = """
worker_processes 1;
worker_rlimit_nofile 4096;
{user}
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""

CLIENTS = 300


async def hold_sessions(url, n):
    """n sessions open at once; each gets one broadcast. Returns how many did."""
    socks = []
    try:
        for _ in range(n):
            socks.append(await websockets.connect(url, **OPEN))
        await socks[0].send("to everyone")
        got = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 20) for ws in socks))
        return sum(m == "to everyone" for m in got)
    finally:
        await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)


@pytest.mark.parametrize("trusted", [False, True])
def test_300_clients_behind_nginx_on_this_machine_are_not_limited(tmp_path, public_dir, trusted):
    """nginx on the same machine, upstream over TCP as in a plain setup: every
    client arrives from 127.0.0.1. The default --maxconn-per-ip (256) must not
    turn the 257th user away: loopback peers are not counted unless the
    option is given; with --trusted-proxy the clients nginx names are, and
    here they too are loopback."""
    srv = Server(["--shared", "--pingms=0"] + (["--trusted-proxy=127.0.0.1"] if trusted else []) +
                 ["cat"], tmp_path)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_TCP_CONF.format(dir=public_dir, port=port, upstream=srv.port,
                                          user="user root;" if os.geteuid() == 0 else ""))
    nginx = start_proxy(["/usr/sbin/nginx", "-p", public_dir, "-c", str(conf), "-e", "stderr",
                         "-g", "daemon off;"], tmp_path, "nginx", port)
    try:
        assert run(hold_sessions(f"ws://127.0.0.1:{port}/", CLIENTS), timeout=120) == CLIENTS
        assert "--maxconn-per-ip" not in srv.log()
    finally:
        stop_proxy(nginx)
        srv.stop()


def test_an_explicit_maxconn_per_ip_counts_loopback_too(tmp_path):
    srv = Server(["--shared", "--pingms=0", "--maxconn-per-ip=20", "cat"], tmp_path)
    try:
        async def over():
            socks = [await websockets.connect(srv.url, **OPEN) for _ in range(20)]
            try:
                with pytest.raises(websockets.InvalidStatusCode) as e:
                    await websockets.connect(srv.url, **OPEN)
                return e.value.status_code
            finally:
                await asyncio.gather(*(ws.close() for ws in socks))
        assert run(over()) == 503
        srv.wait_log(r"--maxconn-per-ip=20 reached: refusing 127\.0\.0\.1")
    finally:
        srv.stop()


HAPROXY_CFG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    retries 2
    option redispatch 1
frontend websockets
    bind 127.0.0.1:{port}
    default_backend bridges
backend bridges
    balance roundrobin
    server a 127.0.0.1:{a} send-proxy-v2
    server b 127.0.0.1:{b} send-proxy-v2
"""


def test_haproxy_balances_two_instances_with_the_proxy_protocol(tmp_path, script):
    who = whoami_script(script)
    common = ["--passenv=PATH,INSTANCE", "--proxy-protocol", "--trusted-proxy=127.0.0.1", who]
    a = Server(common, tmp_path, env={"INSTANCE": "A"})
    b = Server(common, tmp_path, env={"INSTANCE": "B"})
    port = free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=port, a=a.port, b=b.port))
    haproxy = start_proxy(["/usr/sbin/haproxy", "-f", str(cfg), "-db"], tmp_path, "haproxy", port)

    async def sessions():
        seen = []
        for i in range(4):
            async with websockets.connect(f"ws://127.0.0.1:{port}/", **OPEN) as ws:
                local_port = ws.transport.get_extra_info("sockname")[1]
                addr, remote_port, _https, instance, _host = \
                    (await asyncio.wait_for(ws.recv(), 10)).split("|")
                assert (addr, int(remote_port)) == ("127.0.0.1", local_port), \
                    "the PROXY header names the real client, not HAProxy"
                await ws.send(f"message {i}")
                assert await asyncio.wait_for(ws.recv(), 10) == f"message {i}"
                seen.append(instance)
        return seen

    try:
        seen = run(sessions())
        assert sorted(set(seen)) == ["A", "B"], seen
        # One instance goes away: new clients still get through (to the other).
        a.stop()
        assert set(run(sessions())) == {"B"}
    finally:
        stop_proxy(haproxy)
        b.stop()
        a.stop()


HAPROXY_CHECK_CFG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    timeout check 2s
    retries 2
    option redispatch 1
frontend websockets
    bind 127.0.0.1:{port}
    default_backend bridges
backend bridges
    balance roundrobin
    option httpchk GET /healthz
    server a 127.0.0.1:{a} send-proxy-v2 check check-send-proxy inter 200 fall 1 rise 1
    server b 127.0.0.1:{b} send-proxy-v2 check check-send-proxy inter 200 fall 1 rise 1
"""


def test_haproxy_health_checks_take_a_draining_instance_out(tmp_path, script):
    """deploy.md's HAProxy setup with --health-path: while instance A drains its
    last session after SIGTERM, its checks get 503, HAProxy sends every new
    client to B, and A exits cleanly once the session is over."""
    who = script('#!/bin/sh\necho "$INSTANCE"\ncat\nsleep 10\n')
    common = ["--passenv=PATH,INSTANCE", "--proxy-protocol", "--trusted-proxy=127.0.0.1",
              "--health-path=/healthz", "--closems=3000", who]
    a = Server(["--loglevel=debug"] + common, tmp_path, env={"INSTANCE": "A"})
    b = Server(common, tmp_path, env={"INSTANCE": "B"})
    port = free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CHECK_CFG.format(port=port, a=a.port, b=b.port))
    haproxy = start_proxy(["/usr/sbin/haproxy", "-f", str(cfg), "-db"], tmp_path, "haproxy", port)

    async def instance_of_new_session():
        async with websockets.connect(f"ws://127.0.0.1:{port}/", **OPEN) as ws:
            return await asyncio.wait_for(ws.recv(), 10)

    async def scenario():
        await asyncio.sleep(1.0)  # both checked up
        held = None
        for _ in range(6):
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/", **OPEN)
            if await asyncio.wait_for(ws.recv(), 10) == "A":
                held = ws
                break
            await ws.close()
        assert held, "round robin never reached A"
        a.proc.send_signal(signal.SIGTERM)
        a.wait_log("answering 503 to every request")
        await asyncio.sleep(1.0)  # several checks at 200 ms
        after = [await instance_of_new_session() for _ in range(4)]
        try:
            await asyncio.wait_for(held.recv(), 15)
        except websockets.ConnectionClosed:
            pass
        return after, held.close_code
    try:
        after, code = run(scenario())
        assert after == ["B"] * 4, after
        assert code == 1001
        a.proc.wait(timeout=15)
        assert a.proc.returncode == 0
        drained = a.log().split("answering 503 to every request", 1)[1]
        assert '"GET /healthz" 503 health' in drained, "HAProxy's checks saw the 503"
    finally:
        stop_proxy(haproxy)
        a.stop()
        b.stop()
