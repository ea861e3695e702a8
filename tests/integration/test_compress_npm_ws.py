"""npm's ws (installed from the npm registry on first use) as a second,
independent permessage-deflate implementation, with its default offer:
byte-exact round trips of large texts in exec and proxy mode, both memory
modes."""

import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NPM_DIR = os.environ.get("WSB_NPM_DIR", os.path.join(ROOT, "build", "npm"))
SCRIPT = os.path.join(HERE, "node", "ws_roundtrip.cjs")


@pytest.fixture(scope="module")
def ws_module():
    """The ws package's directory, installed with npm into build/npm once."""
    module = os.path.join(NPM_DIR, "node_modules", "ws")
    if not os.path.exists(os.path.join(module, "package.json")):
        os.makedirs(NPM_DIR, exist_ok=True)
        r = subprocess.run(["npm", "install", "--prefix", NPM_DIR, "--no-audit", "--no-fund",
                            "--no-save", "--loglevel=error", "ws@8"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"npm install ws failed (scripts/deps test installs npm):\n" \
                                  f"{r.stdout}{r.stderr}"
    return module


def roundtrip(ws_module, url, binary=False):
    r = subprocess.run(["node", SCRIPT, ws_module, url] + (["binary"] if binary else []),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode,agreed", [
    ("low-memory", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ("high-ratio", "permessage-deflate; client_max_window_bits=15"),
])
def test_exec_text_round_trips(server, ws_module, mode, agreed):
    s = server(f"--compress-mode={mode}", "cat")
    assert roundtrip(ws_module, s.url) == {"extensions": "permessage-deflate", "agreed": agreed,
                                           "trips": 4, "ok": True}


@pytest.mark.parametrize("mode", ["low-memory", "high-ratio"])
def test_proxy_round_trips(server, backend, ws_module, mode):
    echo = backend("echo")
    s = server(f"--compress-mode={mode}", f"--connect={echo.target}")
    got = roundtrip(ws_module, s.url, binary=True)
    assert got["ok"] and got["trips"] == 4 and got["extensions"] == "permessage-deflate"
    assert got["agreed"].startswith("permessage-deflate")
