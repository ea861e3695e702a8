"""--passstderr: COMMAND's stderr lines reach the client as messages of
their own (websocketd's JSON shape, or plain), never inside a stdout
message, in the order they were read, with the same flow control as stdout;
still logged unless --quiet-stderr."""

import asyncio
import json

import pytest
import websockets

from harness import refusal
from wsclient import OPEN, recv_all, run


async def everything(url):
    async with websockets.connect(url, **OPEN) as ws:
        return await recv_all(ws, timeout=20)


def test_json_shape_and_still_logged(server, script):
    body = ("#!/bin/sh\necho out\n"
            "printf 'oops \"quoted\" \\\\ back\\ttab\\n' >&2\n"
            "sleep 0.2\necho done\n")
    s = server("--passstderr", script(body))
    msgs, code, _ = run(everything(s.url))
    assert msgs[0] == "out" and msgs[2] == "done" and code == 1000, msgs
    assert json.loads(msgs[1]) == {"stream": "stderr", "data": 'oops "quoted" \\ back\ttab'}
    assert msgs[1].startswith('{"stream":"stderr","data":'), "websocketd's field order"
    s.wait_log(r'stderr: oops "quoted"')


def test_plain_variant(server, script):
    s = server("--passstderr=plain", script("#!/bin/sh\necho 'to stderr' >&2\nsleep 0.2\n"))
    msgs, code, _ = run(everything(s.url))
    assert (msgs, code) == (["to stderr"], 1000)


def test_lines_keep_the_order_they_were_read_in(server, script):
    body = "".join(f"echo out{i}\nsleep 0.1\necho err{i} >&2\nsleep 0.1\n" for i in range(3))
    s = server("--passstderr=plain", script("#!/bin/sh\n" + body))
    msgs, _, _ = run(everything(s.url))
    assert msgs == ["out0", "err0", "out1", "err1", "out2", "err2"]


def test_never_inside_a_fragmented_stdout_message(server, script):
    """A 70,000-byte stdout line goes out in fragments as it comes; a stderr
    line written in the middle of it waits until the message is complete."""
    body = ("#!/usr/bin/python3\nimport sys, time\n"
            "sys.stdout.write('x' * 70000); sys.stdout.flush(); time.sleep(0.3)\n"
            "sys.stderr.write('in the middle\\n'); sys.stderr.flush(); time.sleep(0.3)\n"
            "sys.stdout.write('yyy\\n'); sys.stdout.flush()\n")
    s = server("--passstderr=plain", script(body, "long.py"))
    msgs, code, _ = run(everything(s.url))
    assert msgs == ["x" * 70000 + "yyy", "in the middle"] and code == 1000


def test_invalid_utf8_is_repaired_and_control_characters_escaped(server, script):
    s = server("--passstderr", script("#!/bin/sh\nprintf 'bad \\377 \\001 end\\n' >&2\n"))
    msgs, _, _ = run(everything(s.url))
    assert msgs[0] == '{"stream":"stderr","data":"bad \ufffd \\u0001 end"}'


def test_a_traceback_at_exit_arrives_before_the_close(server, script):
    body = "#!/usr/bin/python3\nprint('starting', flush=True)\nraise SystemExit(undefined)\n"
    s = server("--passstderr", script(body, "broken.py"))
    msgs, code, reason = run(everything(s.url))
    assert msgs[0] == "starting"
    errors = [json.loads(m)["data"] for m in msgs[1:]]
    assert errors[0] == "Traceback (most recent call last):"
    assert errors[-1] == "NameError: name 'undefined' is not defined"
    assert (code, reason) == (1011, "exit 1")


def test_quiet_stderr(server, script):
    s = server("--passstderr=plain", "--quiet-stderr",
               script("#!/bin/sh\necho secret-line >&2\nsleep 0.2\n"))
    msgs, _, _ = run(everything(s.url))
    assert msgs == ["secret-line"]
    s.stop()
    assert "secret-line" not in s.log()


def test_a_child_flooding_stderr_is_paused_with_bounded_memory(server, script):
    """20,000 lines of 1 KB (20 MB) to stderr while the client reads nothing:
    the child waits on its pipe, the daemon's memory stays flat, and then
    every line arrives, in order."""
    lines = 20_000
    body = ("#!/usr/bin/python3\nimport sys\nw = sys.stderr.write\n"
            f"for i in range({lines}):\n    w(str(i).ljust(1000, '.') + '\\n')\n")
    s = server("--passstderr=plain", "--quiet-stderr", "--pingms=0", script(body, "flood.py"))

    def rss_kib():
        with open(f"/proc/{s.proc.pid}/status") as f:
            return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])

    async def go():
        # Uncompressed: these lines deflate so well that 20 MB would fit in
        # the socket buffers, and nothing would have to wait.
        async with websockets.connect(s.url, max_queue=1, compression=None, **OPEN) as ws:
            # Beyond websockets' queue and the socket buffers nothing is read.
            await asyncio.sleep(2.0)
            held, waiting = rss_kib(), bool(s.descendants())
            for i in range(lines):
                m = await asyncio.wait_for(ws.recv(), 20)
                assert m == str(i).ljust(1000, "."), (m[:20], i)
            return held, waiting
    before = rss_kib()
    held, waiting = run(go(), timeout=180)
    assert waiting, "the child wrote 20 MB while nobody read: it was not paused"
    with open(f"/proc/{s.proc.pid}/maps") as f:
        sanitized = "libasan" in f.read()  # its quarantine keeps freed memory resident
    if not sanitized:
        assert held - before < 16 * 1024, f"RSS grew by {held - before} KiB while nobody read"


def test_per_route(server, script, tmp_path):
    conf = tmp_path / "routes.conf"
    body = "#!/bin/sh\necho 'from stderr' >&2\nsleep 0.2\n"
    conf.write_text(f"[route /pass/]\npassstderr = plain\ncommand = {script(body)}\n"
                    f"[route /log/]\ncommand = {script(body)}\n")
    s = server(f"--config={conf}")
    assert run(everything(s.url + "/pass/"))[0] == ["from stderr"]
    assert run(everything(s.url + "/log/"))[0] == []


@pytest.mark.parametrize("args,want", [
    (["--passstderr", "--binary", "cat"], "--passstderr sends text messages"),
    (["--passstderr", "--shared", "cat"], "--passstderr cannot be used with --shared"),
    (["--passstderr=xml", "cat"], "expected json or plain"),
    (["--passstderr", "--connect=127.0.0.1:1"], "applies only to COMMAND"),
])
def test_bad_options(args, want):
    assert want in refusal(*args)
