"""--workers=N: N event-loop processes on SO_REUSEPORT sockets under a supervisor."""

import asyncio
import signal
import socket
import subprocess
import time

import websockets

from harness import BINARY, children_of, root_children
from test_systemd import Notifications
from wsclient import OPEN, recv_all, run


async def echo_many(url, n):
    socks = [await websockets.connect(url, **OPEN) for _ in range(n)]
    for i, ws in enumerate(socks):
        await ws.send(f"m{i}")
    got = [await asyncio.wait_for(ws.recv(), 10) for ws in socks]
    for ws in socks:
        await ws.close()
    return got


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_two_workers_share_the_port(server):
    s = server("--workers=2", "cat")
    s.wait_log("w2 server listening on")
    s.wait_log("w1 server listening on")
    workers = children_of(s.proc.pid)
    assert len(workers) == 2
    assert run(echo_many(s.url + "/", 30)) == [f"m{i}" for i in range(30)]
    log = s.log()
    # The kernel spreads connections over the workers' sockets by address hash.
    assert "w1 #1 CONNECT" in log and "w2 #1 CONNECT" in log


def test_a_dead_worker_is_restarted(server):
    s = server("--workers=2", "cat")
    s.wait_log("w2 server listening on")
    victim = children_of(s.proc.pid)[0]
    subprocess.run(["kill", "-KILL", str(victim)], check=True)
    s.wait_log(r"worker \d \(pid %d\) was killed by signal 9" % victim)
    s.wait_log(r"restarting worker \d in 0\.1 s")
    assert wait_for(lambda: len(children_of(s.proc.pid)) == 2 and
                    victim not in children_of(s.proc.pid))
    assert run(echo_many(s.url + "/", 10)) == [f"m{i}" for i in range(10)]


def test_signals_reach_every_worker(tmp_path, server):
    notes = Notifications(tmp_path)
    try:
        s = server("--workers=2", "cat", env={"NOTIFY_SOCKET": notes.path})
        ready = notes.next()
        assert ready["READY"] == "1" and ready["STATUS"] == "serving with 2 workers"
        s.proc.send_signal(signal.SIGHUP)
        assert notes.next()["RELOADING"] == "1"
        assert wait_for(lambda: s.log().count("SIGHUP: reloading") == 2)

        async def session():
            ws = await websockets.connect(s.url + "/", **OPEN)
            await ws.send("x")
            assert await ws.recv() == "x"
            s.proc.send_signal(signal.SIGTERM)
            return await recv_all(ws)

        msgs, code, _ = run(session())
        assert code == 1001
        assert s.proc.wait(timeout=15) == 0
        assert "all workers stopped" in s.log()
    finally:
        notes.close()


def test_a_worker_that_cannot_start_stops_everything(tmp_path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        p = subprocess.run([BINARY, "--address=127.0.0.1", f"--port={port}", "--workers=2",
                            *root_children(["cat"]), "cat"],
                           capture_output=True, text=True, timeout=20)
    finally:
        blocker.close()
    assert p.returncode == 1
    assert "Address already in use" in p.stderr
    assert "a worker could not start; stopping the others" in p.stderr


def test_shared_mode_runs_one_process(server, script):
    s = server("--workers=2", "--shared", "cat")
    s.wait_log("ignoring --workers=2")
    # One cat for both clients: each hears what either one sends (broadcast).
    # One message in flight at a time: two sent at once may reach cat in either order.
    async def broadcast():
        a = await websockets.connect(s.url + "/", **OPEN)
        b = await websockets.connect(s.url + "/", **OPEN)
        got = []
        for sender, text in [(a, "from a"), (b, "from b")]:
            await sender.send(text)
            got.append([await asyncio.wait_for(ws.recv(), 10) for ws in (a, b)])
        await a.close()
        await b.close()
        return got

    assert run(broadcast()) == [["from a", "from a"], ["from b", "from b"]]
    assert "worker 1 started" not in s.log()
    assert len(s.descendants()) == 1


def test_workers_option_errors():
    for args, message in [(["--workers=0", "cat"], "from 1 to 64"),
                          (["--workers=65", "cat"], "from 1 to 64"),
                          (["--workers=2", "--unixsocket=/tmp/x.sock", "cat"],
                           "--unixsocket cannot be used with --workers")]:
        p = subprocess.run([BINARY, *root_children(args), *args], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 2 and message in p.stderr, p.stderr
