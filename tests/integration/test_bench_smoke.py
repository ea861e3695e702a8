"""The benchmark tools (bench/) work: every wsbench mode against wsbridge exec `cat`, wsbridge
proxy -> echod (also over TLS), and echod over plain TCP, with tiny loads, and bench/run's
comparisons of wsbridge with itself (wss, two workers). Correctness only (every message
echoed and verified, no failed connection), never timing; and wsbench must notice a server
that alters what it echoes, or these tests could not fail."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from harness import BINARY
from pki import PKI

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH_SRC = os.path.join(ROOT, "bench")


def _fresh(path, source):
    return os.access(path, os.X_OK) and os.path.getmtime(path) >= os.path.getmtime(source)


@pytest.fixture(scope="session")
def tools(tmp_path_factory):
    """(wsbench, echod, fbbench): from $WSBENCH/$ECHOD/$FBBENCH, the build dir's `make bench`,
    or built here."""
    found = {}
    for name, env in (("wsbench", "WSBENCH"), ("echod", "ECHOD"), ("fbbench", "FBBENCH")):
        source = os.path.join(BENCH_SRC, f"{name}.c")
        built = os.path.join(os.path.dirname(os.path.abspath(BINARY)), "bench", name)
        if os.environ.get(env):
            found[name] = os.environ[env]
        elif _fresh(built, source):
            found[name] = built
    if len(found) < 3:
        out = str(tmp_path_factory.mktemp("bench"))
        subprocess.run(["make", "-s", "-j2", "-f", "bench.mk", "-C", BENCH_SRC, f"OUT={out}"], check=True)
        for name in ("wsbench", "echod", "fbbench"):
            found.setdefault(name, os.path.join(out, name))
    return found["wsbench"], found["echod"], found["fbbench"]


@pytest.fixture
def echod(tools):
    """A running echod; yields its port, stops it by PID and checks it exits 0."""
    proc = subprocess.Popen([tools[1], "--port", "0"], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield port
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def wsbench(tools, port, *args, timeout=15):
    """Runs wsbench; returns (exit status, the result line as a dict, stderr)."""
    p = subprocess.run([tools[0], *args, "--port", str(port)], capture_output=True, text=True,
                       timeout=timeout)
    result = {}
    for line in p.stdout.splitlines():
        if line.startswith("result "):
            result = dict(item.split("=", 1) for item in line.split()[1:])
    return p.returncode, result, p.stderr


def ok(tools, port, *args):
    rc, res, err = wsbench(tools, port, *args)
    assert rc == 0 and res, f"wsbench {' '.join(args)}: exit {rc}\n{err}"
    assert res["failures"] == "0", err
    return res


def check_mode(tools, port, mode, kind):
    """One mode with tiny numbers; message sizes cover all three frame length encodings."""
    if mode == "connrate":
        res = ok(tools, port, "connrate", "-n", "20", "-c", "5", "-s", "32", *kind)
        assert res["ok"] == "20"
    elif mode == "echo":
        res = ok(tools, port, "echo", "-c", "3", "-w", "4", "-s", "300", "-d", "0.3", *kind)
        assert int(res["msgs"]) > 0
    elif mode == "stream":
        res = ok(tools, port, "stream", "-c", "2", "-w", "2", "-s", "70000", "-d", "0.3", *kind)
        assert int(res["bytes"]) > 0
    else:
        res = ok(tools, port, "idle", "-n", "20", "-c", "8", "--hold", "0.1", "--ping", *kind)
        assert res["established"] == "20" and res["alive"] == "20"
    return res


MODES = ["connrate", "echo", "stream", "idle"]


@pytest.mark.parametrize("mode", MODES)
def test_exec_text(server, tools, mode):
    """--exact: every line comes back as one text message of the same size (a 70000-byte
    line as a fragmented one)."""
    s = server("cat")
    check_mode(tools, s.port, mode, ["--text", "--exact"])


@pytest.mark.parametrize("mode", ["echo", "stream"])
def test_exec_binary(server, tools, mode):
    s = server("--binary", "cat")
    check_mode(tools, s.port, mode, ["--binary"])


@pytest.mark.parametrize("mode", MODES)
def test_proxy_to_echod(server, tools, echod, mode):
    s = server(f"--connect=127.0.0.1:{echod}")
    check_mode(tools, s.port, mode, ["--binary", "--protocol", "binary"])


@pytest.mark.parametrize("mode", ["connrate", "echo", "stream"])
def test_raw_tcp_to_echod(tools, echod, mode):
    check_mode(tools, echod, mode, ["--raw"])


@pytest.mark.parametrize("compress", ["low-memory", "high-ratio"])
@pytest.mark.parametrize("mode", MODES)
def test_deflate_against_exec_and_proxy(server, tools, echod, compress, mode):
    """wsbench --deflate (Chromium's offer): every session agrees on permessage-deflate,
    and what it sends (JSON) and gets back is verified after inflating."""
    s = server(f"--compress-mode={compress}", "cat")
    res = check_mode(tools, s.port, mode, ["--text", "--exact", "--json", "--deflate"])
    assert int(res["deflated"]) > 0
    p = server(f"--compress-mode={compress}", f"--connect=127.0.0.1:{echod}")
    res = check_mode(tools, p.port, mode, ["--binary", "--protocol", "binary", "--deflate"])
    assert int(res["deflated"]) > 0


def test_wsbench_deflate_client_checks(tools):
    """bench/wsbench-check: the answers and frames wsbench's client must accept or refuse."""
    p = subprocess.run([os.path.join(BENCH_SRC, "wsbench-check"), "--wsbench", tools[0]],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and re.search(r"\b0 failed", p.stdout), p.stdout + p.stderr


def test_a_corrupted_echo_fails_the_run(server, tools):
    s = server("stdbuf", "-oL", "tr", "a-z", "A-Z")
    rc, _, err = wsbench(tools, s.port, "echo", "--text", "-s", "200", "-d", "0.3")
    assert rc == 1 and "echo differs" in err, err
    rc, _, err = wsbench(tools, s.port, "connrate", "--text", "-n", "3", "-s", "200")
    assert rc == 1 and "echo differs" in err, err


def test_a_missing_echo_fails_the_run(server, tools):
    s = server("--binary", "sleep", "30")
    rc, res, err = wsbench(tools, s.port, "echo", "-d", "0.2", "--timeout", "1")
    assert rc == 3 and res["failures"] == "1" and "timed out" in err, err


def test_a_refused_upgrade_is_a_failure_not_a_hang(server, tools):
    s = server("--maxconn-per-ip=2", "cat")
    rc, res, err = wsbench(tools, s.port, "idle", "-n", "4", "--hold", "0.1", "--text")
    assert rc == 3 and res["established"] == "2" and "503" in err, err


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """(cert, key): self-signed, as bench/run makes one; wsbench does not verify it."""
    return PKI(tmp_path_factory.mktemp("pki")).stranger("bench", "localhost")


@pytest.mark.parametrize("mode", MODES)
def test_wss_proxy_to_echod(server, tools, echod, self_signed, mode):
    """--tls through wsbridge --ssl: a plain client could not even get through its handshake."""
    cert, key = self_signed
    s = server(f"--connect=127.0.0.1:{echod}", "--ssl", f"--sslcert={cert}", f"--sslkey={key}")
    res = check_mode(tools, s.port, mode, ["--tls", "--binary", "--protocol", "binary"])
    assert res["transport"] == "wss", res


def test_wss_stream_moves_bytes(server, tools, echod, self_signed):
    cert, key = self_signed
    s = server(f"--connect=127.0.0.1:{echod}", "--ssl", f"--sslcert={cert}", f"--sslkey={key}")
    res = ok(tools, s.port, "stream", "--tls", "-c", "3", "-d", "0.3", "--binary", "--protocol",
             "binary")
    assert res["transport"] == "wss" and int(res["bytes"]) > 0, res
    assert float(res["mb_per_s"]) > 0, res


def test_tls_to_a_plain_server_fails(server, tools, echod):
    s = server(f"--connect=127.0.0.1:{echod}")
    rc, res, err = wsbench(tools, s.port, "stream", "--tls", "-d", "0.2", "--timeout", "1")
    assert rc == 3 and res["failures"] == "1" and "(tls handshake)" in err, err


def test_tls_with_raw_is_a_usage_error(tools):
    rc, res, err = wsbench(tools, 9, "stream", "--tls", "--raw")
    assert rc == 2 and not res and "--tls" in err and "--raw" in err, err


def test_an_unknown_mode_is_a_usage_error_that_lists_every_mode(tools):
    rc, res, err = wsbench(tools, 9, "flood")
    assert rc == 2 and not res and "unknown mode flood" in err, err
    for mode in ("connrate", "echo", "stream", "idle", "fanout"):
        assert mode in err, (mode, err)


def run_bench(tools, tmp_path, *args):
    """bench/run with these tools and wsbridge; returns (table text, the --json runs)."""
    logs, runs = tmp_path / "logs", tmp_path / "runs.json"
    p = subprocess.run(["/usr/bin/python3", os.path.join(BENCH_SRC, "run"), "--wsbridge", BINARY,
                        "--wsbench", tools[0], "--echod", tools[1], "--fbbench", tools[2],
                        "--logdir", str(logs),
                        "--json", str(runs), "--reps", "1", "--warmup", "0", *args],
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    with open(runs) as f:
        return p.stdout, {(r["row"], r["family"], r["contender"]): r["runs"] for r in json.load(f)}


def table_line(text, row, pair):
    for line in text.splitlines():
        if line.startswith(row + " ") and f" {pair} " in line:
            return line.split()
    raise AssertionError(f"no {row} / {pair} line in:\n{text}")


def test_run_compares_wss_and_two_workers_with_the_plain_proxy(tools, tmp_path):
    text, runs = run_bench(tools, tmp_path, "--only", "stream-64k-c50", "--contenders",
                           "wsbridge,raw-tcp", "--duration", "0.5")
    row = "stream-64k-c50"
    for fam, transport in (("proxy", "ws"), ("wss", "wss"), ("proxy-w2", "ws")):
        (res,) = runs[(row, fam, "wsbridge")]
        assert res["status"] == "ok" and res["mb_per_s"] > 0, (fam, res)
        assert res["transport"] == transport, (fam, res)
    ws = runs[(row, "proxy", "wsbridge")][0]["mb_per_s"]
    for fam, pair in (("wss", "wss vs ws (wsbridge)"), ("proxy-w2", "2 workers vs 1")):
        cells = table_line(text, row, pair)
        mine = runs[(row, fam, "wsbridge")][0]["mb_per_s"]
        # ... MB/s (+) <this> <plain proxy> <ratio> <raw> <this/raw>
        assert float(cells[-3]) == pytest.approx(mine / ws, abs=0.006), cells
    # Both workers were listening before wsbench connected: each served some of the 50.
    with open(tmp_path / "logs" / f"{row}.proxy-w2.wsbridge.0.log") as f:
        workers = set(re.findall(r" (w\d) #\d+ CONNECT ", f.read()))
    assert workers == {"w1", "w2"}, workers


def test_run_gives_the_proxy_an_explicit_maxconn_in_idle_rows(tools, tmp_path):
    """The default comes from the open-file limit with some to spare; the proxy gets N + 64
    in idle rows, exec keeps the default (a clean 503 past it)."""
    _, runs = run_bench(tools, tmp_path, "--quick", "--only", "idle-100", "--contenders",
                        "wsbridge")
    for fam in ("exec-text", "proxy"):
        (res,) = runs[("idle-100", fam, "wsbridge")]
        assert res["status"] == "ok" and res["alive"] == 100, (fam, res)
        with open(tmp_path / "logs" / f"idle-100.{fam}.wsbridge.0.log") as f:
            explicit = "at most 164 connections" in f.read()
        assert explicit == (fam == "proxy"), fam


def test_fanout_counts_a_broadcast(server, tools, script):
    flood = script("#!/bin/sh\nread -r go\nexec yes 0123456789\n")
    # One wsbench parses for all 20 clients; on a loaded machine some fall
    # behind for more than the default 1 s and would rightly be closed (1008).
    s = server("--shared", "--slow-client-timeout=60", flood)
    result = ok(tools, s.port, "fanout", "-c", "20", "-d", "1", "--text", "-s", "2")
    assert result["mode"] == "fanout" and result["listening"] == "20"
    assert float(result["deliveries_per_s"]) > 0 and result["failures"] == "0"


def test_run_measures_a_baseline_binary_in_the_same_cells(tools, tmp_path):
    """--baseline: every wsbridge cell runs from a second binary too (here a wrapper that
    leaves a mark), and the table gives new/base."""
    mark = tmp_path / "baseline-ran"
    base = tmp_path / "old-wsbridge"
    base.write_text(f"#!/bin/sh\necho \"$@\" >> {mark}\nexec {BINARY} \"$@\"\n")
    base.chmod(0o755)
    row = "echo-32-c1"
    text, runs = run_bench(tools, tmp_path, "--only", row, "--contenders", "wsbridge",
                           "--duration", "0.3", "--baseline", str(base))
    assert f"# baseline: {base}" in text, text[:2000]
    for fam in ("exec-text", "exec-bin", "proxy"):
        (new,) = runs[(row, fam, "wsbridge")]
        (old,) = runs[(row, fam, "baseline")]
        assert new["status"] == "ok" and old["status"] == "ok", (fam, new, old)
    # Its --version for the header, then one start per family: the two exec ones run cat,
    # the proxy connects.
    started = mark.read_text().splitlines()
    assert started[0] == "--version", started
    started = started[1:]
    assert len(started) == 3, started
    assert sum(line.endswith(" cat") for line in started) == 2, started
    assert sum("--connect=127.0.0.1:" in line for line in started) == 1, started
    head = text.split("\n\n")[1].splitlines()[0].split()
    assert head[3:6] == ["wsbridge", "baseline", "new/base"], head
    cells = table_line(text, row, "proxy vs websockify")  # its first metric: p50 us (-)
    # ... p50 us (-) <wsbridge> <baseline> <new/base> <vs> <ratio> <raw> <wsb/raw>
    new = runs[(row, "proxy", "wsbridge")][0]["p50_us"]
    old = runs[(row, "proxy", "baseline")][0]["p50_us"]
    assert float(cells[-5]) == pytest.approx(new / old, abs=0.006), cells


def fbbench(tools, port, *args, timeout=30):
    """Runs fbbench; returns (exit status, the result line as a dict, stderr)."""
    p = subprocess.run([tools[2], *args, "--port", str(port)], capture_output=True, text=True,
                       timeout=timeout)
    result = {}
    for line in p.stdout.splitlines():
        if line.startswith("result "):
            result = dict(item.split("=", 1) for item in line.split()[1:])
    return p.returncode, result, p.stderr


def test_fbbench_echoes_and_idles_over_the_fallback(server, tools):
    """Every message verified, message POSTs on one kept connection (fbbench stops when an
    answer says Connection: close), and each session closed with 1000; an idle session's
    POST connection closed by --keepalive-timeout is opened again."""
    s = server("--fallback", "--maxconn-per-ip=0", "--keepalive-timeout=1", "cat")
    rc, res, err = fbbench(tools, s.port, "echo", "-c", "3", "-w", "8", "-s", "300", "-d", "0.3",
                           "--warmup", "0")
    assert rc == 0 and res["mode"] == "echo" and res["transport"] == "fallback", err
    assert int(res["msgs"]) > 0 and res["failures"] == "0" and res["unclean"] == "0", res
    # Held past --keepalive-timeout: the ping's POST needs a new connection.
    rc, res, err = fbbench(tools, s.port, "idle", "-n", "20", "--hold", "1.5", "--ping")
    assert rc == 0 and res["established"] == "20" and res["alive"] == "20", (res, err)
    deadline = time.monotonic() + 5
    while len(re.findall(r"DISCONNECT .* code 1000 by client", s.log())) < 23:
        assert time.monotonic() < deadline, s.log()[-3000:]
        time.sleep(0.05)


def test_fbbench_notices_an_altered_echo_and_a_missing_fallback(server, tools, script):
    changes = script("#!/bin/sh\nread -r l; echo \"$l\"; read -r l; echo \"x$l\"; exec cat\n")
    s = server("--fallback", "--fallback-timeout=1", changes)
    rc, _, err = fbbench(tools, s.port, "echo", "-c", "1", "-w", "1", "-s", "40", "-d", "1",
                         "--warmup", "0")
    assert rc == 1 and "message 2 differs at byte 0" in err, err
    s.wait_no_children(timeout=10)  # the session fbbench left ends after --fallback-timeout
    plain = server("cat")
    rc, _, err = fbbench(tools, plain.port, "echo", "-d", "0.2")
    assert rc == 3 and "open answered 404" in err, err
    rc, _, err = fbbench(tools, plain.port, "flood")
    assert rc == 2 and "usage: fbbench echo" in err, err


def test_run_sets_the_fallback_against_the_websocket_path(tools, tmp_path):
    row = "fb-echo-32-c1"
    text, runs = run_bench(tools, tmp_path, "--only", row, "--contenders", "wsbridge",
                           "--duration", "0.3")
    fb, = runs[(row, "fallback", "wsbridge")]
    ws, = runs[(row, "exec-plain", "wsbridge")]
    assert fb["status"] == "ok" and fb["transport"] == "fallback", fb
    assert ws["status"] == "ok" and ws["transport"] == "ws", ws
    cells = table_line(text, row, "fallback vs WebSocket")  # p50 us (-) <fb> <ws> <ratio>
    assert float(cells[-3]) == pytest.approx(fb["p50_us"] / ws["p50_us"], abs=0.006), cells
    with open(tmp_path / "logs" / f"{row}.fallback.wsbridge.0.log") as f:
        assert "POST /" in f.read(), "the fallback cell ran over the fallback"
