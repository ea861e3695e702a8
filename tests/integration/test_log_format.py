"""--log-format=json: every line one JSON object (checked with python's json
and with jq), the fields time, level, conn (connection events), worker
(--workers) and msg; what COMMAND writes to stderr (quotes, backslashes,
control bytes, bytes that are not UTF-8) cannot break a line."""

import json
import re
import subprocess

import websockets

from harness import refusal
from wsclient import OPEN, recv_all, run

NASTY = r"""#!/bin/sh
printf 'quote" backslash\\ bell\007 bad\377 good\303\251\n' >&2
echo done
"""


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
        assert set(rec) <= {"time", "level", "conn", "worker", "msg"}, rec
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
