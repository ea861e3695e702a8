"""Running under systemd: socket activation (LISTEN_FDS), readiness
notification (NOTIFY_SOCKET), graceful shutdown and SIGHUP reloads of the
--config file."""

import asyncio
import os
import signal
import socket
import subprocess
import time

import pytest
import websockets

from harness import BINARY, Server, free_port, root_children
from rawws import Conn
from wsclient import OPEN, recv_all, run

ACTIVATE = "/usr/bin/systemd-socket-activate"


async def echo_once(url, message="ping"):
    async with websockets.connect(url, **OPEN) as ws:
        await ws.send(message)
        return await asyncio.wait_for(ws.recv(), 10)


def test_socket_activation_serves_the_inherited_socket(tmp_path, script):
    port = free_port()
    ignored = free_port()
    env_dump = script('#!/bin/sh\nenv | grep -E "^(LISTEN_|NOTIFY_SOCKET)" | sed "s/^/leak: /"\n'
                      'echo ready\nexec cat\n')
    srv = Server([f"--port={ignored}", env_dump], tmp_path, port=port, expect_start=False,
                 listen=[], prefix=[ACTIVATE, "-l", f"127.0.0.1:{port}"])
    try:
        srv.wait_log(r"Listening on 127\.0\.0\.1:%d as 3" % port)
        # systemd-socket-activate execs wsbridge at the first connection.
        async def session():
            async with websockets.connect(f"ws://127.0.0.1:{port}/", **OPEN) as ws:
                first = await asyncio.wait_for(ws.recv(), 10)
                await ws.send("over an inherited socket")
                return first, await asyncio.wait_for(ws.recv(), 10)

        assert run(session()) == ("ready", "over an inherited socket")
        log = srv.log()
        assert f"listening on 127.0.0.1:{port} (from systemd)" in log
        assert "--port, --address, --redirport and --unixsocket are not used" in log
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", ignored), timeout=2).close()
    finally:
        srv.stop()


def test_activation_names_a_redirect_socket(tmp_path, script):
    """FileDescriptorName=redirect marks --redirport's listener (301 to https)."""
    from pki import PKI
    pki = PKI(tmp_path)
    cert, key = pki.issue("server", "localhost")
    port, redirect = free_port(), free_port()
    srv = Server(["--ssl", f"--sslcert={cert}", f"--sslkey={key}", "cat"], tmp_path, port=port,
                 expect_start=False, listen=[],
                 prefix=[ACTIVATE, "-l", f"127.0.0.1:{port}", "-l", f"127.0.0.1:{redirect}",
                         "--fdname=main:redirect"])
    try:
        srv.wait_log(r"Listening on 127\.0\.0\.1:%d as 4" % redirect)
        c = Conn(redirect)
        c.send(b"GET /page?x=1 HTTP/1.1\r\nHost: example.org\r\n\r\n")
        status, headers, _ = c.read_response()
        assert status == 301
        assert headers["location"] == ["https://example.org/page?x=1"]
        c.close()
        srv.wait_log(r"listening on 127\.0\.0\.1:%d \(from systemd\) \(redirecting" % redirect)
    finally:
        srv.stop()


def test_listen_pid_of_another_process_is_ignored(tmp_path):
    port = free_port()
    env = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
    srv = Server(["cat"], tmp_path, port=port, env=env)
    try:
        assert run(echo_once(srv.url + "/")) == "ping"
        assert "from systemd" not in srv.log()
    finally:
        srv.stop()


def test_a_descriptor_that_is_not_a_listening_socket_is_refused(tmp_path):
    with open(tmp_path / "file", "w") as f:
        f.write("x")
    # $$ is the shell's pid, which exec keeps: LISTEN_PID names wsbridge.
    cmd = (f'LISTEN_PID=$$ LISTEN_FDS=1 exec {BINARY} {" ".join(root_children(["cat"]))} cat '
           f'3<{tmp_path / "file"}')
    p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "descriptor 3 is not a listening stream socket" in p.stderr


class Notifications:
    """The service manager's end of NOTIFY_SOCKET: a unix datagram socket."""

    def __init__(self, tmp_path):
        self.path = str(tmp_path / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(10)

    def next(self):
        return dict(line.split("=", 1) for line in self.sock.recv(4096).decode().splitlines())

    def close(self):
        self.sock.close()


def test_notify_socket_ready_reloading_stopping(tmp_path, script):
    notes = Notifications(tmp_path)
    env_dump = script('#!/bin/sh\nenv | grep -c "^NOTIFY_SOCKET=" ; cat\n')
    srv = Server([env_dump], tmp_path, env={"NOTIFY_SOCKET": notes.path})
    try:
        ready = notes.next()
        assert ready["READY"] == "1" and ready["STATUS"].startswith("serving on")
        assert run(echo_once(srv.url + "/")) == "0", "COMMAND must not see NOTIFY_SOCKET"
        srv.proc.send_signal(signal.SIGHUP)
        assert notes.next()["RELOADING"] == "1"
        again = notes.next()
        assert again["READY"] == "1" and again["STATUS"].startswith("serving")
        srv.proc.send_signal(signal.SIGTERM)
        stopping = notes.next()
        assert stopping["STOPPING"] == "1" and stopping["STATUS"].startswith("stopping")
        assert srv.proc.wait(timeout=10) == 0
    finally:
        srv.stop()
        notes.close()


def test_abstract_notify_socket(tmp_path):
    name = f"wsbridge-test-{os.getpid()}-{free_port()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    srv = Server(["cat"], tmp_path, env={"NOTIFY_SOCKET": "@" + name})
    try:
        assert b"READY=1" in sock.recv(4096)
    finally:
        srv.stop()
        sock.close()


def test_graceful_shutdown_with_50_sessions(tmp_path, script):
    """Every client gets its COMMAND's last words, then 1001; every child is
    gone; exit status 0 within --shutdown-timeout."""
    goodbye = script('#!/bin/sh\nwhile read -r line; do echo "echo: $line"; done\necho "bye from $$"\n')
    srv = Server(["--shutdown-timeout=8", goodbye], tmp_path)
    n = 50

    async def main():
        socks = [await websockets.connect(srv.url + "/", **OPEN) for _ in range(n)]
        for i, ws in enumerate(socks):
            await ws.send(f"hello {i}")
        for i, ws in enumerate(socks):
            assert await asyncio.wait_for(ws.recv(), 10) == f"echo: hello {i}"
        assert len(srv.descendants()) == n
        srv.proc.send_signal(signal.SIGTERM)
        return await asyncio.gather(*(recv_all(ws, timeout=15) for ws in socks))

    try:
        results = run(main())
        for msgs, code, reason in results:
            assert len(msgs) == 1 and msgs[0].startswith("bye from "), msgs
            assert (code, reason) == (1001, "server shutting down")
        assert srv.proc.wait(timeout=10) == 0
        assert not srv.descendants()
        assert "shutdown deadline" not in srv.log()
    finally:
        srv.stop()


def test_shutdown_deadline_bounds_a_client_that_does_not_read(tmp_path, script):
    flood = script("#!/bin/sh\nyes 'a line that fills every buffer between here and the client'\n")
    srv = Server(["--shutdown-timeout=1", flood], tmp_path)
    c = Conn(srv.port, rcvbuf=4096)
    try:
        c.handshake()
        srv.wait_log(r"started .* as pid")
        time.sleep(0.3)  # let the buffers fill up
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 9, "the deadline was not applied"
        assert "shutdown deadline reached" in srv.log()
        assert not srv.descendants()
    finally:
        c.close()
        srv.stop()


def test_second_signal_exits_at_once(tmp_path, script):
    flood = script("#!/bin/sh\nyes 'never read'\n")
    srv = Server(["--shutdown-timeout=60", flood], tmp_path)
    c = Conn(srv.port, rcvbuf=4096)
    try:
        c.handshake()
        srv.wait_log(r"started .* as pid")
        srv.proc.send_signal(signal.SIGTERM)
        srv.wait_log("shutting down")
        srv.proc.send_signal(signal.SIGINT)
        assert srv.proc.wait(timeout=10) == 0
        assert "second stop signal: exiting now" in srv.log()
        assert not srv.descendants()
    finally:
        c.close()
        srv.stop()


def raw_upgrade_headers(port):
    c = Conn(port)
    try:
        c.handshake()
        return c.headers
    finally:
        c.close()


def test_sighup_reloads_the_config_file(tmp_path, script):
    conf = tmp_path / "wsbridge.conf"
    port = free_port()
    conf.write_text(f"# first\naddress = 127.0.0.1\nport = {port}\nheader-ws = X-Generation: 1\n"
                    "command = cat\n")
    srv = Server([f"--config={conf}"], tmp_path, port=port, listen=[])

    async def session_across_reload():
        async with websockets.connect(srv.url + "/", **OPEN) as ws:
            assert ws.response_headers["X-Generation"] == "1"
            await ws.send("before")
            assert await ws.recv() == "before"
            conf.write_text(f"address = 127.0.0.1\nport = {port + 1}\n"
                            "header-ws = X-Generation: 2\ncommand = cat\n")
            srv.proc.send_signal(signal.SIGHUP)
            srv.wait_log(r"reload: .*wsbridge\.conf read")
            await ws.send("after")
            assert await ws.recv() == "after", "an open session survives the reload"
        async with websockets.connect(srv.url + "/", **OPEN) as ws:
            return ws.response_headers["X-Generation"]

    try:
        assert run(session_across_reload()) == "2"
        assert "reload: --port changed, which takes a restart" in srv.log()
        # A broken file changes nothing.
        conf.write_text("header-ws = X-Generation: 3\nprot = 1\n")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_log(r"reload: .*wsbridge\.conf has errors")
        assert f"{conf}:2: unknown option 'prot'" in srv.log()

        async def generation():
            async with websockets.connect(srv.url + "/", **OPEN) as ws:
                return ws.response_headers["X-Generation"]

        assert run(generation()) == "2"
    finally:
        srv.stop()


def test_command_line_wins_over_the_config_file(tmp_path):
    conf = tmp_path / "wsbridge.conf"
    conf.write_text("maxforks = 1\nheader-ws = X-From: file\ncommand = /bin/false\n")
    srv = Server([f"--config={conf}", "--header-ws=X-From: command line", "cat"], tmp_path)

    async def check():
        async with websockets.connect(srv.url + "/", **OPEN) as ws:
            assert ws.response_headers["X-From"] == "command line"
            await ws.send("cat, not false")
            assert await ws.recv() == "cat, not false"
            # maxforks = 1 from the file still applies: a second session is refused.
            with pytest.raises(websockets.InvalidStatusCode) as e:
                await websockets.connect(srv.url + "/", **OPEN)
            assert e.value.status_code == 429

    try:
        run(check())
    finally:
        srv.stop()


def test_config_file_errors_exit_2_naming_the_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port = 8080\n\nmaxforks = lots\n")
    p = subprocess.run([BINARY, f"--config={conf}", "cat"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 2
    assert f"{conf}:3: invalid value in 'maxforks = lots'" in p.stderr
