"""--health-path: 200 while accepting, 503 at --maxconn and during a graceful
stop (the listeners stay open for it then, and every other request gets 503
too), answered before routes, auth and origin checks, exact path only."""

import asyncio
import http.client
import signal
import time

import websockets

from harness import refusal
from wsclient import OPEN, run


def get(port, path="/healthz", method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode(), r.getheader("Cache-Control")
    finally:
        c.close()


def test_ok_while_accepting_and_only_for_the_exact_path(server, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "healthz2").write_text("a file\n")
    s = server("--health-path=/healthz", f"--staticdir={site}", "--basic-auth=u:p",
               "--sameorigin", "cat")
    assert get(s.port) == (200, "ok\n", "no-store")
    assert get(s.port, method="HEAD") == (200, "", "no-store")
    assert get(s.port, method="POST")[0] == 405
    assert get(s.port, "/healthz2")[0] == 401, "other paths go through auth as before"
    assert get(s.port, "/healthz?x=1")[0] == 200, "the query does not matter"
    assert get(s.port, "/healthz/")[0] == 401
    s.stop()
    assert '"GET /healthz"' not in s.log() and '"HEAD /healthz"' not in s.log(), \
        "probes are not access-logged (only at debug level)"


def test_routes_do_not_hide_it(server, tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("health-path = /status/health\n[route /status/]\ncommand = cat\n")
    s = server(f"--config={conf}")
    assert get(s.port, "/status/health")[0] == 200


def test_503_at_maxconn(server):
    s = server("--health-path=/healthz", "--maxconn=2", "cat")

    async def go():
        async with websockets.connect(s.url, **OPEN):
            return await asyncio.get_running_loop().run_in_executor(None, get, s.port)
    assert run(go()) == (503, "at --maxconn\n", "no-store")
    assert get(s.port)[0] == 200


def test_503_while_stopping_then_exit(server, script):
    """A session whose COMMAND takes ~2 s to end after its stdin closes keeps
    the stop going: meanwhile probes get 503 and a new upgrade 503."""
    s = server("--health-path=/healthz", "--closems=2000", script("#!/bin/sh\ncat\nsleep 5\n"))

    async def go():
        async with websockets.connect(s.url, **OPEN) as ws:
            await ws.send("x")
            await asyncio.wait_for(ws.recv(), 5)
            s.proc.send_signal(signal.SIGTERM)
            s.wait_log("shutting down")
            loop = asyncio.get_running_loop()
            health = await loop.run_in_executor(None, get, s.port)
            page = await loop.run_in_executor(None, get, s.port, "/")
            try:
                await websockets.connect(s.url, **OPEN)
                upgrade = 101
            except websockets.InvalidStatusCode as e:
                upgrade = e.status_code
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
            return health, page[0], upgrade, ws.close_code
    health, page, upgrade, code = run(go())
    assert health == (503, "stopping\n", "no-store")
    assert (page, upgrade, code) == (503, 503, 1001)
    deadline = time.monotonic() + 10
    while s.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert s.proc.returncode == 0, s.log()[-2000:]


def test_bad_values_are_refused():
    for bad in ("--health-path=healthz", "--health-path=/a?b", "--health-path=/a b"):
        assert "--health-path" in refusal(bad, "cat")
