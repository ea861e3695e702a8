"""The command line: websocketd's flags, clear errors, exit statuses."""

import asyncio
import os
import re
import socket
import subprocess

import pytest
import websockets

from harness import BINARY, free_port, root_children
from wsclient import OPEN, collect, run

CAT = "#!/bin/sh\nexec cat\n"


def wsbridge(*args, timeout=10):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_option():
    r = wsbridge("--help")
    assert r.returncode == 0 and r.stderr == ""
    for opt in ["--port", "--address", "--binary", "--passenv", "--maxforks", "--closems",
                "--maxmsgsize", "--staticdir", "--cgidir", "--cgi-timeout", "--header=", "--header-ws", "--header-http",
                "--loglevel", "--help", "--version"]:
        assert opt in r.stdout, opt
    assert wsbridge("-h").stdout == r.stdout


def test_version():
    r = wsbridge("--version")
    assert r.returncode == 0 and r.stdout.startswith("wsbridge ")


@pytest.mark.parametrize("args,needle", [
    (["--nope", "cat"], "unknown option '--nope'"),
    (["--he", "cat"], "ambiguous option '--he' (--health-path, --header, --header-ws, --header-http, --help)"),
    (["--port"], "option '--port' needs a value"),
    (["--binary=yes", "cat"], "option '--binary' takes no value"),
    (["--port=0", "cat"], "--port=0"),
    (["--port=65536", "cat"], "--port=65536"),
    (["--port=http", "cat"], "--port=http"),
    (["--maxforks=-1", "cat"], "--maxforks=-1"),
    (["--closems=soon", "cat"], "--closems=soon"),
    (["--maxmsgsize=12Q", "cat"], "--maxmsgsize=12Q"),
    (["--loglevel=loud", "cat"], "--loglevel=loud"),
    (["--header=NoColon", "cat"], "--header=NoColon"),
    (["--header=Bad Name: x", "cat"], "--header=Bad Name: x"),
    (["--passenv=A=B", "cat"], "--passenv=A=B"),
    ([], "missing COMMAND"),
    (["--port=1"], "missing COMMAND"),
    (["no-such-command-anywhere"], "no-such-command-anywhere"),
    (["./not/here.sh"], "./not/here.sh"),
])
def test_bad_command_lines_exit_2_with_one_line(args, needle):
    r = wsbridge(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_port_in_use_exits_1(script):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = wsbridge("--address=127.0.0.1", f"--port={port}", *root_children([]), script(CAT))
    assert r.returncode == 1 and "Address already in use" in r.stderr


def echo_once(url):
    async def go():
        async with websockets.connect(url, **OPEN) as ws:
            await ws.send("ping")
            return await asyncio.wait_for(ws.recv(), 5)
    return run(go())


@pytest.mark.parametrize("style", ["equals", "separate", "single-dash", "double-dash-end"])
def test_option_styles(tmp_path, script, style):
    from harness import Server
    port = free_port()
    path = script(CAT)
    args = {
        "equals": [f"--port={port}", path],
        "separate": ["--port", str(port), path],
        "single-dash": [f"-port={port}", path],
        "double-dash-end": [f"--port={port}", "--", path],
    }[style]
    s = Server([], tmp_path, port=port, expect_start=False)
    s.proc.kill()
    s.proc.wait()
    s.log_file.close()
    s = Server(args[:-1] + [args[-1]], tmp_path, port=port)
    try:
        assert echo_once(s.url) == "ping"
    finally:
        s.stop()


def test_command_arguments_are_not_options(server, script):
    body = '#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\n'
    s = server(script(body), "-u", "--port=2", "--", "x y")
    msgs, _, _ = run(collect(s.url))
    assert msgs == ["arg:-u", "arg:--port=2", "arg:--", "arg:x y"]


def test_repeated_address_listens_on_each(tmp_path, script):
    from harness import Server
    port = free_port()
    s = Server(["--address=127.0.0.2", script(CAT)], tmp_path, port=port)
    try:
        assert echo_once(f"ws://127.0.0.1:{port}") == "ping"
        assert echo_once(f"ws://127.0.0.2:{port}") == "ping"
    finally:
        s.stop()


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback here")
def test_ipv6_literal_with_and_without_brackets(tmp_path, script):
    from harness import Server
    for literal in ["[::1]", "::1"]:
        port = free_port()
        s = Server([f"--address={literal}", script(CAT)], tmp_path, port=port)
        try:
            assert echo_once(f"ws://[::1]:{port}") == "ping"
        finally:
            s.stop()


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback here")
def test_default_listens_on_both_families(tmp_path, script):
    port = free_port()
    log = tmp_path / "all.log"
    with open(log, "w") as f:
        p = subprocess.Popen([BINARY, f"--port={port}", *root_children([]), script(CAT)], stdout=f,
                             stderr=subprocess.STDOUT)
    try:
        import time
        deadline = time.monotonic() + 5
        while log.read_text().count("listening on") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert echo_once(f"ws://127.0.0.1:{port}") == "ping"
        assert echo_once(f"ws://[::1]:{port}") == "ping"
    finally:
        p.terminate()
        assert p.wait(10) == 0


def test_readme_documents_every_option():
    """The README's option table and --help come from the same option list."""
    import os
    import re
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    names = re.findall(r"^  --([a-z-]+)", wsbridge("--help").stdout, re.M)
    assert len(names) >= 14
    for name in names:
        assert re.search(rf"^\| `--{name}[=`[]", readme, re.M), f"--{name} missing from README"


def test_empty_passenv_passes_nothing(server, script):
    s = server("--passenv=", script("#!/bin/sh\nexec /usr/bin/env\n"),
               env={"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/nowhere"})
    names = {line.split("=", 1)[0] for line in run(collect(s.url))[0]}
    assert "REMOTE_ADDR" in names
    assert "PATH" not in names and "LD_LIBRARY_PATH" not in names


def test_man_page_options_match_help():
    """doc/wsbridge.1's OPTIONS come from --help through scripts/gen-man."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    p = subprocess.run([os.path.join(root, "scripts", "gen-man"), "--check", BINARY],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    page = open(os.path.join(root, "doc", "wsbridge.1")).read()
    for name in re.findall(r"^  --([a-z-]+)", wsbridge("--help").stdout, re.M):
        assert "\\fB\\-\\-" + name.replace("-", "\\-") + "\\fR" in page, name


def test_man_page_renders_without_warnings():
    page = os.path.join(os.path.dirname(__file__), "..", "..", "doc", "wsbridge.1")
    p = subprocess.run(["groff", "-ww", "-z", "-man", page], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
