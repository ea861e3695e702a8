"""Shared test harness: start wsbridge on a free port, always tear it down, and
fail the test if the daemon crashed, leaked a child, or a sanitizer spoke."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BINARY = os.path.abspath(os.environ.get("WSBRIDGE", os.path.join(HERE, "..", "..", "wsbridge")))
SANITIZER_PATTERNS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_script(directory, name, body):
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)
    return path


PROXY_MODE = ("--connect", "--unix-target", "--token-file")


def root_children(args):
    """Tests run as root here: exec mode then needs --allow-root-children
    (wsbridge refuses to run COMMAND as root otherwise)."""
    exec_mode = not any(str(a).startswith(PROXY_MODE) for a in args)
    explicit = any(str(a).startswith(("--user", "--allow-root-children")) for a in args)
    return ["--allow-root-children"] if os.geteuid() == 0 and exec_mode and not explicit else []


def refusal(*args):
    """wsbridge with these arguments (and a free port) must refuse to start
    with exit status 2: returns its stderr, the message to check."""
    r = subprocess.run([BINARY, f"--port={free_port()}", *root_children(args), *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, f"exit {r.returncode}, not 2: {r.stderr}"
    return r.stderr


def children_of(pid):
    """Direct children, from /proc (every thread's list)."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def descendants(pid):
    todo, seen = [pid], []
    while todo:
        for child in children_of(todo.pop()):
            seen.append(child)
            todo.append(child)
    return seen


def process_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


class Server:
    def __init__(self, args, tmp_path, port=None, env=None, expect_start=True, pass_fds=(),
                 listen=None, prefix=(), keeps_children=False, cwd=None):
        """cwd: where wsbridge runs (relative paths in a config file);
        listen: the listening options (default: 127.0.0.1 and a free port);
        prefix: a wrapper command (systemd-socket-activate ...) that execs wsbridge;
        keeps_children: a shared COMMAND runs for the daemon's lifetime (a --config
        route with shared, where the arguments do not show it)."""
        self.keeps_children = keeps_children
        self.port = port or free_port()
        self.log_path = os.path.join(str(tmp_path), f"wsbridge-{self.port}.log")
        self.log_file = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        full_env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        if env:
            full_env.update(env)
        if listen is None:
            listen = ["--address=127.0.0.1", f"--port={self.port}"]
        self.args = [*prefix, BINARY, *listen, *root_children(args), *args]
        self.proc = subprocess.Popen(self.args, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=full_env, pass_fds=pass_fds, cwd=cwd)
        if expect_start:
            self.wait_listening()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_listening(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wsbridge exited early ({self.proc.returncode}):\n{self.log()}")
            if "listening on" in self.log():
                return
            time.sleep(0.02)
        raise TimeoutError(f"wsbridge did not listen on {self.port}:\n{self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            time.sleep(0.02)
        raise AssertionError(f"log never matched {pattern!r}:\n{self.log()[-4000:]}")

    def descendants(self):
        return descendants(self.proc.pid)

    def wait_no_children(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.descendants():
                return True
            time.sleep(0.05)
        return False

    def stop(self, check=True):
        """SIGTERM, then wait; a clean stop exits 0. SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise AssertionError(f"wsbridge ignored SIGTERM:\n{self.log()[-4000:]}")
        self.log_file.close()
        if check:
            log = self.log()
            assert not SANITIZER_PATTERNS.search(log), f"sanitizer report:\n{log[-8000:]}"
            assert self.proc.returncode == 0, \
                f"wsbridge exited with {self.proc.returncode}:\n{log[-4000:]}"


@pytest.fixture
def server(tmp_path):
    """Factory: server(args) starts wsbridge; all are stopped and checked at teardown."""
    started = []

    def start(*args, **kw):
        s = Server(list(args), tmp_path, **kw)
        started.append(s)
        return s

    yield start
    problems = []
    for s in started:
        # --shared keeps its one COMMAND (and --workers its workers) for the
        # daemon's lifetime: they must be gone (killed and reaped) once the
        # daemon has stopped.
        shared = s.keeps_children or any(str(a).startswith(("--shared", "--workers"))
                                         for a in s.args)
        kept = s.descendants() if shared else []
        if not shared and s.proc.poll() is None and not s.wait_no_children(timeout=8.0):
            left = [(p, process_state(p)) for p in s.descendants()]
            problems.append(f"processes left behind by the daemon: {left}")
        try:
            s.stop()
        except AssertionError as e:
            problems.append(str(e))
        left = [(p, process_state(p)) for p in kept if process_state(p) is not None]
        if left:
            problems.append(f"processes left behind after the daemon stopped: {left}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def script(tmp_path):
    """Factory: script(body) writes an executable shell script and returns its path."""
    counter = [0]

    def make(body, name=None):
        counter[0] += 1
        return write_script(tmp_path, name or f"script{counter[0]}.sh", body)

    return make


class Backend:
    """A backends.py service in its own process, stopped by PID."""

    def __init__(self, mode, tmp_path, *extra, unix=False):
        self.port = None if unix else free_port()
        self.path = os.path.join(str(tmp_path), f"backend-{mode}.sock") if unix else None
        where = ["--unix", self.path] if unix else ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "backends.py"), mode, *where, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"backend {mode} did not start: {line}{self.proc.stdout.read()}")

    @property
    def target(self):
        return f"unix:{self.path}" if self.path else f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def backend(tmp_path):
    """Factory: backend(mode, *args, unix=False) starts a service for the proxy."""
    started = []

    def start(mode, *extra, unix=False):
        b = Backend(mode, tmp_path, *extra, unix=unix)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()
