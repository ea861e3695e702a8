"""--reverselookup: REMOTE_HOST from a forward-confirmed reverse lookup that
never blocks the loop (websocketd's flag; without it REMOTE_HOST is the
address, as in websocketd).

The slow and the scripted cases run the daemon in a mount namespace of its
own whose /etc/resolv.conf names a DNS server of this test (FakeDns, on
127.53.0.1:53) and connect from loopback addresses that /etc/hosts does not
list (127.0.0.2 and up), so their lookups reach that server."""

import asyncio
import ipaddress
import os
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import pytest
import websockets

from wsclient import OPEN, run

WHO = '#!/bin/sh\necho "$REMOTE_ADDR|$REMOTE_HOST"\n'
DNS_ADDR = "127.53.0.1"
PLAUSIBLE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def confirmed_name(addr, family):
    """What the daemon should find for addr: the PTR name when its own
    addresses include addr, else the address itself."""
    try:
        name = socket.gethostbyaddr(addr)[0]
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
    except OSError:
        return addr
    if len(name) > 253 or not PLAUSIBLE.fullmatch(name):
        return addr
    want = ipaddress.ip_address(addr)
    return name if any(ipaddress.ip_address(i[4][0]) == want for i in infos) else addr


async def who(url, local_addr=None, **kw):
    """REMOTE_ADDR|REMOTE_HOST as the command saw them."""
    async with websockets.connect(url, **OPEN, local_addr=local_addr, **kw) as ws:
        return await asyncio.wait_for(ws.recv(), 20)


# --- the ordinary resolver of this machine -------------------------------------


def test_without_the_flag_remote_host_is_the_address(server, script):
    s = server("--loglevel=debug", script(WHO))
    assert run(who(s.url)) == "127.0.0.1|127.0.0.1"
    assert "reverse lookup" not in s.log()


def test_ipv4_loopback_gets_its_name(server, script):
    want = confirmed_name("127.0.0.1", socket.AF_INET)
    s = server("--reverselookup", "--loglevel=debug", script(WHO))
    assert run(who(s.url)) == f"127.0.0.1|{want}"
    found = want if want != "127.0.0.1" else "no name"
    s.wait_log(rf"reverse lookup of 127\.0\.0\.1: {re.escape(found)}\n")
    if want != "127.0.0.1":
        s.wait_log(rf"started \S+ as pid \d+ for {re.escape(want)}\n")
    assert run(who(s.url)) == f"127.0.0.1|{want}"
    s.wait_log(rf"reverse lookup of 127\.0\.0\.1: {re.escape(found)} \(cached\)")


def test_ipv6_loopback(server, script):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    want = confirmed_name("::1", socket.AF_INET6)
    port = None
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    s = server("--reverselookup", script(WHO), port=port,
               listen=["--address=::1", f"--port={port}"])
    assert run(who(f"ws://[::1]:{s.port}/")) == f"::1|{want}"


def test_unix_socket_peers_are_not_looked_up(tmp_path, server, script):
    path = os.path.join(str(tmp_path), "w.sock")
    s = server(f"--unixsocket={path}", "--reverselookup", "--loglevel=debug", script(WHO),
               listen=[])

    async def go():
        async with websockets.unix_connect(path, "ws://wsbridge.test/", **OPEN) as ws:
            return await asyncio.wait_for(ws.recv(), 10)
    assert run(go()) == "unix:|unix:"
    assert "reverse lookup" not in s.log()


def test_many_concurrent_clients_each_get_their_answer(server, script):
    want = confirmed_name("127.0.0.1", socket.AF_INET)
    s = server("--reverselookup", script(WHO))

    async def go():
        return await asyncio.gather(*[who(s.url) for _ in range(200)])
    assert run(go()) == [f"127.0.0.1|{want}"] * 200


def test_each_worker_looks_up_on_its_own(server, script):
    """The threads are made on first use, so each --workers process makes
    its own after the fork."""
    want = confirmed_name("127.0.0.1", socket.AF_INET)
    s = server("--reverselookup", "--workers=2", script(WHO))

    async def go():
        return await asyncio.gather(*[who(s.url) for _ in range(20)])
    assert run(go()) == [f"127.0.0.1|{want}"] * 20


# --- a DNS server of the test's own ------------------------------------------------


def encode_name(name):
    out = b""
    for label in name.split("."):
        raw = label.encode("latin-1")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


class FakeDns:
    """UDP DNS on DNS_ADDR:53. ptr maps an address to the name its PTR
    record gives, a maps a name to its A record; anything else is NXDOMAIN.
    silent: never answer. queries: every (name, type) received."""

    def __init__(self, silent=False):
        self.silent = silent
        self.ptr, self.a = {}, {}
        self.queries = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((DNS_ADDR, 53))
        except OSError as e:
            self.sock.close()
            pytest.skip(f"cannot run a DNS server on {DNS_ADDR}:53: {e}")
        self.sock.settimeout(0.1)  # a close from another thread would not wake recvfrom
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def count(self, qtype, name=None):
        with self.lock:
            return sum(1 for n, t in self.queries if t == qtype and (name is None or n == name))

    def serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            labels, i = [], 12
            while i < len(data) and data[i]:
                labels.append(data[i + 1:i + 1 + data[i]].decode("latin-1"))
                i += 1 + data[i]
            qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
            question = data[12:i + 5]
            name = ".".join(labels).lower()
            with self.lock:
                self.queries.append((name, {1: "A", 12: "PTR", 28: "AAAA"}.get(qtype, qtype)))
            if self.silent:
                continue
            answer = None
            if qtype == 12 and name.endswith(".in-addr.arpa"):
                addr = ".".join(reversed(name[:-len(".in-addr.arpa")].split(".")))
                if addr in self.ptr:
                    answer = (12, encode_name(self.ptr[addr]))
            elif qtype == 1 and name in self.a:
                answer = (1, socket.inet_aton(self.a[name]))
            flags = 0x8180 if answer else 0x8183
            reply = data[:2] + struct.pack("!HHHHH", flags, 1, 1 if answer else 0, 0, 0) + question
            if answer:
                reply += struct.pack("!HHHIH", 0xC00C, answer[0], 1, 60, len(answer[1])) + answer[1]
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                return

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def hosts_addresses():
    with open("/etc/hosts") as f:
        return {line.split()[0] for line in f if line.strip() and not line.startswith("#")}


def namespace_prefix(tmp_path):
    """A wrapper that runs wsbridge (exec'd, same PID) in a mount namespace
    whose /etc/resolv.conf names FakeDns; skips where that cannot be done."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace")
    with open("/etc/nsswitch.conf") as f:
        hosts = [line for line in f if line.startswith("hosts:")]
    if not hosts or "dns" not in hosts[0].split():
        pytest.skip("/etc/nsswitch.conf does not ask DNS for host names")
    conf = os.path.join(str(tmp_path), "resolv.conf")
    with open(conf, "w") as f:
        f.write(f"nameserver {DNS_ADDR}\n")  # glibc's defaults: 5 s, 2 attempts
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {conf} /etc/resolv.conf"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.strip()}")
    return ["unshare", "-m", "sh", "-c", f'mount --bind {conf} /etc/resolv.conf && exec "$@"', "sh"]


def client_addresses(n, first=2):
    """n loopback addresses from 127.0.0.FIRST on that /etc/hosts does not name."""
    listed = hosts_addresses()
    out = [f"127.0.{i // 256}.{i % 256}" for i in range(first, first + n + len(listed))]
    out = [a for a in out if a not in listed][:n]
    try:
        with socket.socket() as probe:
            probe.bind((out[0], 0))
    except OSError as e:
        pytest.skip(f"cannot connect from {out[0]}: {e}")
    return out


@pytest.fixture
def fake_dns():
    made = []

    def make(silent=False):
        d = FakeDns(silent)
        made.append(d)
        return d
    yield make
    for d in made:
        d.close()


def test_no_answer_in_time_starts_the_session_with_the_address(tmp_path, server, script,
                                                                fake_dns):
    prefix = namespace_prefix(tmp_path)
    dns = fake_dns(silent=True)
    (client,) = client_addresses(1)
    s = server("--reverselookup", "--loglevel=debug", script(WHO), prefix=prefix)
    started = time.monotonic()
    assert run(who(s.url, local_addr=(client, 0))) == f"{client}|{client}"
    waited = time.monotonic() - started
    assert 1.5 <= waited <= 5, f"the session started after {waited:.2f} s, not about 2 s"
    assert dns.count("PTR") >= 1, "the lookup went to the test's DNS server"
    s.wait_log(rf"reverse lookup of {re.escape(client)}: no name\n")


def test_a_dead_dns_server_never_blocks_the_loop(tmp_path, server, script, fake_dns):
    """200 clients from 200 addresses wait for lookups that never end; the
    daemon still answers at once, and each session starts at its timeout."""
    prefix = namespace_prefix(tmp_path)
    fake_dns(silent=True)
    clients = client_addresses(200, first=10)
    s = server("--reverselookup", "--health-path=/health", script(WHO), prefix=prefix)

    def health():
        t = time.monotonic()
        with urllib.request.urlopen(f"{s.http}/health", timeout=10) as r:
            assert r.status == 200
        return time.monotonic() - t

    async def go():
        sessions = asyncio.gather(*[who(s.url, local_addr=(a, 0)) for a in clients])
        await asyncio.sleep(0.5)  # every lookup is queued or running by now
        took = await asyncio.get_running_loop().run_in_executor(None, health)
        return await sessions, took
    started = time.monotonic()
    answers, took = run(go())
    assert took < 0.5, f"--health-path took {took:.2f} s while lookups waited"
    assert answers == [f"{a}|{a}" for a in clients]
    assert time.monotonic() - started < 8


def test_names_confirmed_forward_and_cached(tmp_path, server, script, fake_dns):
    prefix = namespace_prefix(tmp_path)
    dns = fake_dns()
    good, liar, odd, behind = client_addresses(4)
    dns.ptr.update({good: "client.test", liar: "liar.test", odd: "bad name.test",
                    behind: "behind.test"})
    dns.a.update({"client.test": good, "liar.test": "10.9.9.9", "bad name.test": odd,
                  "behind.test": behind})
    s = server("--reverselookup", "--loglevel=debug", "--trusted-proxy=127.0.0.1",
               script(WHO), prefix=prefix)
    assert run(who(s.url, local_addr=(good, 0))) == f"{good}|client.test"
    s.wait_log(rf"started \S+ as pid \d+ for client\.test\n")
    ptr_name = ".".join(reversed(good.split("."))) + ".in-addr.arpa"
    queried = dns.count("PTR", ptr_name), dns.count("A", "client.test")
    assert queried == (1, 1), f"PTR then A, once each: {dns.queries}"

    assert run(who(s.url, local_addr=(good, 0))) == f"{good}|client.test"
    s.wait_log(rf"reverse lookup of {re.escape(good)}: client\.test \(cached\)")
    assert (dns.count("PTR", ptr_name), dns.count("A", "client.test")) == queried, \
        "the second connection is answered from the cache"

    assert run(who(s.url, local_addr=(liar, 0))) == f"{liar}|{liar}", \
        "a PTR name whose addresses do not include the client is not used"
    assert run(who(s.url, local_addr=(odd, 0))) == f"{odd}|{odd}", \
        "nor is a name that is no host name"
    assert run(who(s.url, extra_headers={"X-Forwarded-For": behind})) == f"{behind}|behind.test", \
        "behind a trusted proxy the client it names is looked up"
