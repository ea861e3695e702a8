"""scripts/check-layers, the dependency rule of src/ (doc/HACKING.md): the
real tree passes, and each kind of violation in a copy of it is caught."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "check-layers")


def check(src):
    return subprocess.run([SCRIPT, str(src)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def tree(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "src"), copy)
    return copy


def add_line(path, line, after='#include "autoconfig.h"\n'):
    text = path.read_text()
    assert after in text
    path.write_text(text.replace(after, after + line + "\n", 1))


def test_the_tree_keeps_the_rule():
    r = check(os.path.join(ROOT, "src"))
    assert r.returncode == 0, r.stdout
    assert r.stdout.strip().endswith("layers: 0 violations")


def test_a_copy_of_the_tree_passes(tree):
    r = check(tree)
    assert r.returncode == 0, r.stdout


def test_an_include_of_a_higher_layer_is_caught(tree):
    add_line(tree / "net" / "conn.c", '#include "core/server.h"')
    r = check(tree)
    assert r.returncode == 1
    assert 'src/net/conn.c:2: net/ may not include "core/server.h"' in r.stdout
    assert "layers: 1 violations" in r.stdout


def test_a_codec_reaching_into_the_network_layer_is_caught(tree):
    add_line(tree / "proto" / "ws.c", '#include "net/conn.h"')
    r = check(tree)
    assert r.returncode == 1 and 'proto/ may not include "net/conn.h"' in r.stdout


def test_an_include_without_its_folder_is_caught(tree):
    add_line(tree / "http" / "request.c", '#include "conn.h"')
    r = check(tree)
    assert r.returncode == 1 and "must name its layer folder" in r.stdout


def test_a_missing_header_is_caught(tree):
    add_line(tree / "http" / "request.c", '#include "net/nothing.h"')
    r = check(tree)
    assert r.returncode == 1 and "no such header" in r.stdout


def test_naming_one_backend_above_the_backends_is_caught(tree):
    (tree / "backend" / "exec.h").write_text("void exec_kill_all(void);\n")
    add_line(tree / "http" / "request.c", '#include "backend/exec.h"')
    r = check(tree)
    assert r.returncode == 1
    assert 'backends are known only through backend/backend.h, not "backend/exec.h"' in r.stdout


def test_the_server_naming_a_backend_function_is_caught(tree):
    add_line(tree / "core" / "server.c", "void shared_stop(void);")
    r = check(tree)
    assert r.returncode == 1 and "names a backend (shared_stop)" in r.stdout


def test_a_file_outside_the_layer_folders_is_caught(tree):
    (tree / "stray.c").write_text("int x;\n")
    (tree / "extra").mkdir()
    r = check(tree)
    assert r.returncode == 1
    assert "src/stray.c: every file belongs in a layer folder" in r.stdout
    assert "src/extra/: not a layer" in r.stdout


def test_a_backend_reaching_past_its_session_into_the_connection_is_caught(tree):
    add_line(tree / "backend" / "proxy.c", '#include "net/conn.h"')
    r = check(tree)
    assert r.returncode == 1
    assert "src/backend/proxy.c:5: a backend sees its sessions through net/session.h" in r.stdout
    assert "layers: 1 violations" in r.stdout
