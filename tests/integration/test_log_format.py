"""--log-format=json: every line one JSON object (checked with python's json
and with jq), the fields time, level, conn (connection events), worker
(--workers) and msg; what COMMAND writes to stderr (quotes, backslashes,
control bytes, bytes that are not UTF-8) cannot break a line. Access lines
have their own fields (event, peer, port, request, status, bytes, the
session's counts, close_code, ...: README, Logging), with the values the
traffic had."""

import asyncio
import base64
import json
import re
import subprocess
import urllib.error
import urllib.request

import websockets

from harness import refusal
from wsclient import OPEN, recv_all, run

NASTY = r"""#!/bin/sh
printf 'quote" backslash\\ bell\007 bad\377 good\303\251\n' >&2
echo done
"""


BASE = {"time", "level", "conn", "worker", "msg"}
# README, Logging: the keys an access line may have besides BASE
ACCESS = {"event", "peer", "port", "via", "request", "route", "user", "cert_cn", "status",
          "bytes", "encoding", "target", "close_code", "closed_by", "reason", "msgs_in",
          "bytes_in", "msgs_out", "bytes_out", "duration"}


def lines(s):
    return [json.loads(x) for x in s.log().splitlines() if x.strip()]


def test_every_line_is_json_with_stable_fields(server, script):
    s = server("--log-format=json", script(NASTY))

    async def go():
        async with websockets.connect(s.url + "/path?q=1", **OPEN) as ws:
            return await recv_all(ws)
    assert run(go())[0] == ["done"]
    s.stop()
    got = lines(s)
    assert got, s.log()
    for rec in got:
        assert set(rec) <= BASE | (ACCESS if rec["level"] == "access" else set()), rec
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["time"])
        assert rec["level"] in ("debug", "trace", "access", "info", "warn", "error", "fatal")
    access = [r for r in got if r["level"] == "access"]
    assert any(r["msg"].startswith("CONNECT 127.0.0.1 port ") and '"GET /path?q=1"' in r["msg"]
               for r in access), access
    assert all(isinstance(r["conn"], int) and r["conn"] > 0 for r in access)
    assert any(r["msg"].startswith("DISCONNECT") for r in access)
    server_lines = [r for r in got if "listening on" in r["msg"]]
    assert server_lines and "conn" not in server_lines[0], "server events have no conn"
    stderr = [r["msg"] for r in got if "quote" in r["msg"]]
    assert len(stderr) == 1, got
    assert 'quote" backslash\\ bell\x07 bad\\xff good\u00e9' in stderr[0], stderr[0]
    # jq agrees that this is one JSON value per line
    jq = subprocess.run(["jq", "-c", ".msg"], input=s.log(), capture_output=True, text=True)
    assert jq.returncode == 0 and len(jq.stdout.splitlines()) == len(got), jq.stderr


def test_workers_are_named(server):
    s = server("--log-format=json", "--workers=2", "cat")
    s.wait_log(r'"worker":2')
    s.stop()
    assert {r.get("worker") for r in lines(s) if "listening on" in r["msg"]} >= {1, 2}


def test_text_is_the_default_and_bad_values_are_refused(server):
    s = server("cat")
    s.stop()
    assert re.match(r"\d{4}-\d\d-\d\dT\S+Z INFO   server ", s.log())
    assert "--log-format" in refusal("--log-format=xml", "cat")


def http_status(url, headers=None):
    """(status, body) of a GET."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def access_lines(s):
    got = lines(s)
    for rec in got:
        assert set(rec) <= BASE | (ACCESS if rec["level"] == "access" else set()), rec
        if rec["level"] != "access":
            assert set(rec) <= BASE, f"only access lines have fields: {rec}"
    return [r for r in got if r["level"] == "access"]


def test_access_lines_have_fields(server, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    page = "<h1>h\u00e9llo</h1>\n".encode()
    (www / "page.html").write_bytes(page)
    s = server("--log-format=json", f"--staticdir={www}", "cat")
    assert http_status(s.http + "/page.html") == (200, page)
    status, body404 = http_status(s.http + "/missing.html")
    assert status == 404
    head = urllib.request.Request(s.http + "/page.html", method="HEAD")
    with urllib.request.urlopen(head, timeout=10) as r:
        assert r.status == 200 and int(r.headers["Content-Length"]) == len(page)
    sent = ["hello", "w\u00f6rld", "x" * 300]

    async def go():
        async with websockets.connect(s.url + "/chat?room=1", **OPEN) as ws:
            for m in sent:
                await ws.send(m)
                assert await asyncio.wait_for(ws.recv(), 10) == m
            await ws.close(1000)
    run(go())
    s.wait_log(r'"event":"disconnect"')
    s.stop()
    access = access_lines(s)
    events = [r["event"] for r in access]
    assert events == ["http", "http", "http", "connect", "disconnect"], access
    ok, missing, head, connect, disconnect = access
    assert head["request"] == "HEAD /page.html" and head["status"] == 200, head
    assert head["bytes"] == 0, "HEAD sends no body"
    for rec in access:
        assert rec["peer"] == "127.0.0.1" and isinstance(rec["port"], int) and rec["port"] > 0
        assert isinstance(rec["conn"], int) and rec["conn"] > 0
        assert "user" not in rec and "via" not in rec and "route" not in rec, rec
    assert ok["request"] == "GET /page.html" and ok["status"] == 200, ok
    assert ok["bytes"] == len(page) and isinstance(ok["duration"], float), ok
    assert missing["request"] == "GET /missing.html" and missing["status"] == 404, missing
    assert missing["bytes"] == len(body404) and missing["duration"] >= 0, missing
    assert connect["request"] == "GET /chat?room=1" and connect["status"] == 101, connect
    assert re.fullmatch(r"pid \d+", connect["target"]), connect
    assert "bytes_in" not in connect and "duration" not in connect, connect
    assert disconnect["conn"] == connect["conn"] and disconnect["status"] == 101, disconnect
    assert disconnect["request"] == "GET /chat?room=1", disconnect
    assert disconnect["target"] == connect["target"], disconnect
    nbytes = sum(len(m.encode()) for m in sent)
    assert (disconnect["msgs_in"], disconnect["bytes_in"]) == (len(sent), nbytes), disconnect
    assert (disconnect["msgs_out"], disconnect["bytes_out"]) == (len(sent), nbytes), disconnect
    assert disconnect["close_code"] == 1000 and disconnect["closed_by"] == "client", disconnect
    assert isinstance(disconnect["duration"], float) and disconnect["duration"] >= 0, disconnect
    assert "bytes" not in disconnect, "a session counts messages, not a body"
    for rec in access:  # the text of each line is still in msg
        assert f'"{rec["request"]}"' in rec["msg"], rec


def test_route_user_via_and_escaping(server, tmp_path):
    conf = tmp_path / "wsbridge.conf"
    conf.write_text("log-format = json\n"
                    "trusted-proxy = 127.0.0.1\n"
                    "[route /echo/]\n"
                    "basic-auth = al\"ice:s3cret\n"
                    "command = cat\n")
    s = server(f"--config={conf}")
    auth = "Basic " + base64.b64encode(b'al"ice:s3cret').decode()
    headers = {"Authorization": auth, "X-Forwarded-For": "192.0.2.7"}

    async def go():
        async with websockets.connect(s.url + '/echo/"q"', extra_headers=headers,
                                      **OPEN) as ws:
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 10) == "hi"
    run(go())
    assert http_status(s.http + "/echo/x", {"X-Forwarded-For": "192.0.2.8"})[0] == 401
    s.wait_log(r'"event":"disconnect"')
    s.stop()
    access = access_lines(s)
    connect = [r for r in access if r["event"] == "connect"]
    disconnect = [r for r in access if r["event"] == "disconnect"]
    refused = [r for r in access if r["event"] == "http"]
    assert len(connect) == len(disconnect) == len(refused) == 1, access
    for rec in connect + disconnect:
        assert rec["request"] == 'GET /echo/"q"', rec
        assert rec["route"] == "/echo/" and rec["user"] == 'al"ice', rec
        assert rec["peer"] == "192.0.2.7" and rec["via"] == "127.0.0.1", rec
    assert disconnect[0]["msgs_in"] == 1 and disconnect[0]["bytes_out"] == 2, disconnect
    assert refused[0]["status"] == 401 and refused[0]["peer"] == "192.0.2.8", refused
    assert "user" not in refused[0] and refused[0]["route"] == "/echo/", refused
