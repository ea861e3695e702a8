"""--subprotocol in exec mode: our order of preference, exact names, the
101's Sec-WebSocket-Protocol and COMMAND's SEC_WEBSOCKET_PROTOCOL; no
match connects without one unless --subprotocol-required (400); in --dir
and --shared modes (the !open event names it) and per route."""


import pytest

from harness import refusal
from rawws import Conn, request

SAY = "#!/bin/sh\necho \"protocol=$SEC_WEBSOCKET_PROTOCOL\"\nexec cat\n"


def upgrade(port, offer=None, path="/", starting=""):
    """(status, headers, the first text message that starts with `starting`,
    or the body)."""
    c = Conn(port)
    try:
        extra = [f"Sec-WebSocket-Protocol: {offer}"] if offer is not None else []
        c.send(request(path=path, extra=extra))
        status, headers, body = c.read_response()
        if status != 101:
            return status, headers, body.decode()
        while True:
            message = c.read_message()[1].decode()
            if message.startswith(starting):
                return status, headers, message
    finally:
        c.close()


@pytest.mark.parametrize("offer,want", [
    ("chat", "chat"),
    ("superchat, chat", "chat"),        # ours is the order that counts
    ("superchat", "superchat"),
    ("x, y,superchat ", "superchat"),
])
def test_the_first_of_ours_that_the_client_offers_is_answered(server, script, offer, want):
    s = server("--subprotocol=chat", "--subprotocol=superchat", script(SAY))
    status, headers, first = upgrade(s.port, offer)
    assert status == 101
    assert headers["sec-websocket-protocol"] == [want]
    assert first == f"protocol={want}"


@pytest.mark.parametrize("offer", [None, "Chat", "other"])
def test_no_match_connects_without_a_subprotocol(server, script, offer):
    s = server("--subprotocol=chat", script(SAY))
    status, headers, first = upgrade(s.port, offer)
    assert status == 101
    assert "sec-websocket-protocol" not in headers
    assert first == "protocol="


def test_required_refuses_with_400_naming_ours(server, script):
    s = server("--subprotocol=chat,superchat", "--subprotocol-required", script(SAY))
    status, _, body = upgrade(s.port, "other")
    assert status == 400
    assert "chat, superchat" in body
    assert upgrade(s.port, "superchat")[0] == 101


def test_without_the_option_offers_are_not_answered(server, script):
    """As before (and as websocketd): a browser that offers one then fails;
    README.md says to add --subprotocol."""
    s = server(script(SAY))
    status, headers, first = upgrade(s.port, "chat")
    assert status == 101 and "sec-websocket-protocol" not in headers
    assert first == "protocol="


def test_dir_mode(server, script, tmp_path):
    d = tmp_path / "scripts"
    d.mkdir()
    (d / "say.sh").write_text(SAY)
    (d / "say.sh").chmod(0o755)
    s = server(f"--dir={d}", "--subprotocol=chat")
    status, headers, first = upgrade(s.port, "chat", path="/say.sh")
    assert (status, headers["sec-websocket-protocol"], first) == (101, ["chat"], "protocol=chat")


def test_shared_open_event_names_the_protocol(server, script):
    s = server("--shared", "--shared-prefix", "--shared-events", "--subprotocol=chat,v2",
               script("#!/bin/sh\nexec cat\n"))
    status, headers, first = upgrade(s.port, "v2")
    assert (status, headers["sec-websocket-protocol"]) == (101, ["v2"])
    assert first.startswith("!open\t") and first.endswith("\t127.0.0.1\tv2"), first
    # (earlier clients' !close lines are broadcast too)
    status, headers, first = upgrade(s.port, "none", starting="!open")
    assert first.endswith("\t127.0.0.1\t"), first  # the field is there, empty


def test_shared_without_the_option_keeps_its_event_format(server, script):
    s = server("--shared", "--shared-prefix", "--shared-events", script("#!/bin/sh\nexec cat\n"))
    first = upgrade(s.port, "v2")[2]
    assert first.startswith("!open\t") and first.endswith("\t127.0.0.1"), first


def test_routes_have_their_own(server, script, tmp_path):
    conf = tmp_path / "routes.conf"
    conf.write_text(f"[route /a/]\nsubprotocol = alpha\ncommand = {script(SAY)}\n"
                    f"[route /b/]\nsubprotocol = beta\nsubprotocol-required\n"
                    f"command = {script(SAY)}\n")
    s = server(f"--config={conf}")
    assert upgrade(s.port, "alpha, beta", "/a/")[1]["sec-websocket-protocol"] == ["alpha"]
    assert upgrade(s.port, "alpha, beta", "/b/")[1]["sec-websocket-protocol"] == ["beta"]
    assert upgrade(s.port, "alpha", "/b/")[0] == 400


@pytest.mark.parametrize("args,want", [
    (["--subprotocol-required", "cat"], "'--subprotocol-required' needs --subprotocol"),
    (["--subprotocol=a b", "cat"], "expected names (tokens) separated by commas"),
    (["--subprotocol=chat", "--connect=127.0.0.1:1"], "applies only to COMMAND"),
])
def test_bad_options(args, want):
    assert want in refusal(*args)
