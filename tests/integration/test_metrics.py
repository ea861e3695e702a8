"""--metrics-path: the Prometheus text exposition, parsed by a real parser
(python3-prometheus-client) and checked by `promtool check metrics`, with
the numbers checked against what the test did: connections, answers by
status, WebSocket closes, messages and bytes per mode, children, proxy
connects, refusals, reloads, and the sums under --workers. The alert rules
and scrape configuration of doc/monitoring are checked with promtool."""

import asyncio
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from wsclient import OPEN, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def samples(text):
    """{(name, frozenset(labels.items())): value} for every sample."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m, name, **labels):
    return m.get((name, frozenset(labels.items())), None)


def test_promtool_accepts_the_exposition(server):
    s = server("--metrics-path=/metrics", "cat")
    text = scrape(s.port)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    m = samples(text)
    assert value(m, "wsbridge_build_info", version=re_version(text)) == 1
    assert abs(value(m, "wsbridge_start_time_seconds") - time.time()) < 60


def re_version(text):
    import re
    return re.search(r'wsbridge_build_info\{version="([^"]+)"\}', text).group(1)


def test_exec_sessions_are_counted(server, script):
    s = server("--metrics-path=/metrics", "cat")

    async def session():
        async with websockets.connect(s.url, **OPEN) as ws:
            for m in ("one", "two", "three"):
                await ws.send(m)
                assert await asyncio.wait_for(ws.recv(), 5) == m
            mid = samples(scrape(s.port))
        return mid
    mid = run(session())
    assert value(mid, "wsbridge_connections_open") == 2  # the session and the scrape
    assert value(mid, "wsbridge_children_running") == 1
    for _ in range(3):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{s.port}/nothing", timeout=5)
        except urllib.error.HTTPError as e:
            assert e.code == 404
    # the session's end is counted once the child is reaped and the connection closed
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = samples(scrape(s.port))
        if value(m, "wsbridge_children_running") == 0 and \
                value(m, "wsbridge_session_duration_seconds_count") == 1:
            break
        time.sleep(0.05)
    assert value(m, "wsbridge_http_responses_total", status="101") == 1
    assert value(m, "wsbridge_http_responses_total", status="404") == 3
    assert value(m, "wsbridge_messages_total", direction="in", mode="exec") == 3
    assert value(m, "wsbridge_messages_total", direction="out", mode="exec") == 3
    assert value(m, "wsbridge_message_bytes_total", direction="in", mode="exec") == 11
    assert value(m, "wsbridge_websocket_closes_total", direction="received", code="1000") == 1
    assert value(m, "wsbridge_websocket_closes_total", direction="sent", code="1000") == 1
    assert value(m, "wsbridge_children_started_total") == 1
    assert value(m, "wsbridge_children_exits_total", status="zero") == 1
    # accepted: the session, 3 x 404 and the scrapes so far
    assert value(m, "wsbridge_connections_accepted_total") >= 5
    assert value(m, "wsbridge_session_duration_seconds_count") == 1


def test_proxy_connects_and_failures(server, backend):
    echo = backend("echo")
    s = server("--metrics-path=/metrics", f"--connect={echo.target}")

    async def session():
        async with websockets.connect(s.url, **OPEN, subprotocols=["binary"]) as ws:
            await ws.send(b"x" * 1000)
            got = b""
            while len(got) < 1000:
                got += await asyncio.wait_for(ws.recv(), 5)
    run(session())
    echo.stop()

    async def refused():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await websockets.connect(s.url, **OPEN)
        return e.value.status_code
    assert run(refused()) == 502
    time.sleep(0.2)
    m = samples(scrape(s.port))
    assert value(m, "wsbridge_proxy_connect_seconds_count") == 1
    assert value(m, "wsbridge_proxy_connect_failures_total") == 1
    assert value(m, "wsbridge_http_responses_total", status="502") == 1
    assert value(m, "wsbridge_message_bytes_total", direction="in", mode="proxy") == 1000


def test_refusals_and_reloads(server, tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("command = cat\nmaxconn-per-ip = 5\nmetrics-path = /metrics\n")
    s = server(f"--config={conf}", "--shared")
    conf.write_text("command = cat\nmaxconn-per-ip = 2\nmetrics-path = /metrics\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log("reload: .* read")
    conf.write_text("command = cat\nmaxconn-per-ip = nonsense\n")
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log("keeping the current configuration")

    async def three():
        a = await websockets.connect(s.url, **OPEN)
        b = await websockets.connect(s.url, **OPEN)
        try:
            with pytest.raises(websockets.InvalidStatusCode):
                await websockets.connect(s.url, **OPEN)
        finally:
            await a.close()
            await b.close()
    run(three())
    time.sleep(0.2)
    m = samples(scrape(s.port))
    assert value(m, "wsbridge_connections_refused_total", limit="maxconn_per_ip") == 1
    assert value(m, "wsbridge_reloads_total", result="ok") == 1
    assert value(m, "wsbridge_reloads_total", result="failed") == 1
    assert value(m, "wsbridge_shared_clients") == 0


def test_workers_are_summed_whichever_answers(server):
    s = server("--metrics-path=/metrics", "--workers=2", "--shared", "cat")

    async def sessions():
        socks = [await websockets.connect(s.url, **OPEN) for _ in range(6)]
        try:
            return [samples(scrape(s.port)) for _ in range(8)]
        finally:
            for ws in socks:
                await ws.close()
    scrapes = run(sessions())
    # each scrape is one more connection, answered by either worker: the total is the same
    assert {value(m, "wsbridge_shared_clients") for m in scrapes} == {6}
    assert {value(m, "wsbridge_http_responses_total", status="101") for m in scrapes} == {6}


def test_rules_and_scrape_config_pass_promtool():
    d = os.path.join(ROOT, "doc", "monitoring")
    for argv in (["promtool", "check", "rules", os.path.join(d, "wsbridge-alerts.yml")],
                 ["promtool", "check", "config", os.path.join(d, "prometheus.yml")],
                 ["promtool", "test", "rules", os.path.join(d, "wsbridge-alerts.test.yml")]):
        r = subprocess.run(argv, capture_output=True, text=True)
        assert r.returncode == 0, (argv, r.stdout, r.stderr)


def test_handshake_failures(server):
    import socket
    s = server("--metrics-path=/metrics", "--handshake-timeout=0.3", "cat")
    socket.create_connection(("127.0.0.1", s.port)).close()           # closed: no request
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"GET / HTTP/1.1\r\n")                                 # never finished
    time.sleep(0.8)
    slow.close()
    m = samples(scrape(s.port))
    assert value(m, "wsbridge_handshake_failures_total", reason="closed") == 1
    assert value(m, "wsbridge_handshake_failures_total", reason="timeout") == 1
