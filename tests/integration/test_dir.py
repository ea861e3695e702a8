"""--dir: websocketd's script directory, with no way out of it."""

import os
import subprocess

import pytest

from harness import BINARY, root_children
from rawws import Conn, request

ENV = ('#!/bin/sh\necho "SCRIPT_NAME=$SCRIPT_NAME PATH_INFO=$PATH_INFO '
       'PATH_TRANSLATED=$PATH_TRANSLATED QUERY_STRING=$QUERY_STRING"\n')


@pytest.fixture
def scripts(tmp_path, server):
    root = tmp_path / "scripts"
    (root / "chat").mkdir(parents=True)
    (root / "chat" / "env.sh").write_text(ENV)
    (root / "chat" / "env.sh").chmod(0o755)
    (root / "top.sh").write_text("#!/bin/sh\necho top\n")
    (root / "top.sh").chmod(0o755)
    (root / "plain.txt").write_text("not a program\n")
    (tmp_path / "outside.sh").write_text("#!/bin/sh\necho escaped\n")
    (tmp_path / "outside.sh").chmod(0o755)
    os.symlink(tmp_path / "outside.sh", root / "link.sh")
    return server(f"--dir={root}")


def message(port, path):
    c = Conn(port)
    try:
        c.handshake(path=path)
        return c.read_message()[1].decode()
    finally:
        c.close()


def status(port, path):
    c = Conn(port)
    try:
        c.send(request(path=path))
        return c.read_response()[0]
    finally:
        c.close()


def test_path_selects_the_script_and_the_rest_is_path_info(scripts):
    assert message(scripts.port, "/chat/env.sh/extra/path?x=1") == (
        "SCRIPT_NAME=/chat/env.sh PATH_INFO=/extra/path "
        "PATH_TRANSLATED=/chat/env.sh/extra/path QUERY_STRING=x=1")
    assert message(scripts.port, "/chat/env.sh") == (
        "SCRIPT_NAME=/chat/env.sh PATH_INFO= PATH_TRANSLATED=/chat/env.sh QUERY_STRING=")
    assert message(scripts.port, "/top.sh") == "top"


@pytest.mark.parametrize("path,code", [
    ("/nope.sh", 404),
    ("/chat", 404),                       # a directory
    ("/chat/", 404),
    ("/", 404),
    ("/plain.txt", 403),                  # not executable
    ("/link.sh", 403),                    # a symlink out of the directory
    ("/chat/../top.sh", 403),
    ("/chat/%2e%2e/top.sh", 403),
    ("/../outside.sh", 403),
])
def test_no_script_no_escape(scripts, path, code):
    assert status(scripts.port, path) == code


def test_dir_and_command_exclude_each_other(tmp_path):
    r = subprocess.run([BINARY, "--port=1", f"--dir={tmp_path}", *root_children([]), "cat"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "unexpected COMMAND 'cat' with --dir" in r.stderr


def test_dir_must_be_a_directory(tmp_path):
    r = subprocess.run([BINARY, "--port=1", f"--dir={tmp_path}/missing", *root_children([])],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--dir=" in r.stderr
