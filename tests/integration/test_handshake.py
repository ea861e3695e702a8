"""The opening handshake and every HTTP error answer (RFC 6455 4.2)."""

import base64
import socket
import time

import pytest

from rawws import ACCEPT, Conn, frame, request

ECHO = "#!/bin/sh\nexec cat\n"


@pytest.fixture
def echo(server, script):
    return server(script(ECHO))


def answer(port, raw, one_byte=False):
    c = Conn(port)
    try:
        c.send(raw, one_byte_at_a_time=one_byte)
        status, headers, body = c.read_response()
        closed = c.wait_eof(timeout=6.0)
        return status, headers, body, closed
    finally:
        c.close()


def assert_error(result, status):
    got, headers, body, closed = result
    assert got == status, (got, body)
    assert headers["content-type"] == ["text/plain; charset=utf-8"]
    assert headers["connection"] == ["close"]
    assert body.startswith(str(status).encode()) and body.endswith(b"\n")
    assert closed, "the server must close the connection after an error answer"
    return headers, body


def test_valid_handshake_gets_101_with_rfc_accept(echo):
    c = Conn(echo.port)
    headers = c.handshake()
    assert headers["upgrade"] == ["websocket"]
    assert headers["connection"] == ["Upgrade"]
    assert headers["sec-websocket-accept"] == [ACCEPT]
    assert "sec-websocket-protocol" not in headers
    assert "sec-websocket-extensions" not in headers
    c.send(frame(1, b"hi"))
    assert c.read_message() == (1, b"hi")
    c.close()


def test_handshake_sent_one_byte_at_a_time(echo):
    c = Conn(echo.port)
    c.send(request(), one_byte_at_a_time=True)
    status, headers, _ = c.read_response()
    assert status == 101 and headers["sec-websocket-accept"] == [ACCEPT]
    c.send(frame(1, b"slow"), one_byte_at_a_time=True)
    assert c.read_message() == (1, b"slow")
    c.close()


def test_header_names_and_tokens_are_case_insensitive(echo):
    raw = (b"GET / HTTP/1.1\r\nhost: x\r\nuPgRaDe: WebSocket\r\n"
           b"connection: keep-alive, UPGRADE\r\nsec-websocket-key: " + rawkey() +
           b"\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n")
    c = Conn(echo.port)
    c.send(raw)
    status, headers, _ = c.read_response()
    assert status == 101
    c.close()


def rawkey():
    return base64.b64encode(b"0123456789abcdef")


def test_frame_pipelined_behind_the_request_is_processed(echo):
    c = Conn(echo.port)
    c.send(request() + frame(1, b"early"))
    status, _, _ = c.read_response()
    assert status == 101
    assert c.read_message() == (1, b"early")
    c.close()


def test_http10_upgrade_is_400(echo):
    assert_error(answer(echo.port, request(proto="HTTP/1.0")), 400)


def test_post_upgrade_is_405_with_allow(echo):
    headers, _ = assert_error(answer(echo.port, request(method="POST")), 405)
    assert headers["allow"] == ["GET"]


def test_missing_key_is_400(echo):
    _, body = assert_error(answer(echo.port, request(key=None)), 400)
    assert b"Sec-WebSocket-Key" in body


@pytest.mark.parametrize("key", [
    base64.b64encode(b"x" * 15).decode(),        # 15 bytes
    base64.b64encode(b"x" * 17).decode(),        # 17 bytes
    "not base64 at all!!!!!==",                  # right length, wrong alphabet
    "dGhlIHNhbXBsZSBub25jZQ",                    # padding missing
    "",
])
def test_invalid_key_is_400(echo, key):
    assert_error(answer(echo.port, request(key=key)), 400)


def test_two_keys_is_400(echo):
    raw = request(extra=["Sec-WebSocket-Key: " + rawkey().decode()])
    assert_error(answer(echo.port, raw), 400)


@pytest.mark.parametrize("version", ["8", "12", "14", "13, 8", "abc"])
def test_other_version_is_426_with_supported_version(echo, version):
    headers, _ = assert_error(answer(echo.port, request(version=version)), 426)
    assert headers["sec-websocket-version"] == ["13"]


def test_missing_version_is_400(echo):
    assert_error(answer(echo.port, request(version=None)), 400)


def test_connection_without_upgrade_token_is_400(echo):
    assert_error(answer(echo.port, request(connection="keep-alive")), 400)


def test_missing_host_is_400(echo):
    assert_error(answer(echo.port, request(host=None)), 400)


def test_request_line_over_8k_is_414(echo):
    assert_error(answer(echo.port, request(path="/" + "a" * 8200)), 414)


def test_request_line_of_8k_is_accepted(echo):
    path = "/" + "a" * (8192 - len("GET  HTTP/1.1") - 1)
    c = Conn(echo.port)
    c.handshake(path=path)
    c.close()


def test_headers_over_16k_are_431(echo):
    big = ["X-Big-%d: %s" % (i, "v" * 1000) for i in range(17)]
    assert_error(answer(echo.port, request(extra=big)), 431)


def test_more_than_100_header_fields_are_431(echo):
    many = ["X-H%d: 1" % i for i in range(100)]
    assert_error(answer(echo.port, request(extra=many)), 431)


def test_malformed_request_is_400(echo):
    assert_error(answer(echo.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"), 400)
    assert_error(answer(echo.port, b"GET /\r\n\r\n"), 400)
    assert_error(answer(echo.port, b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400)


def test_http2_request_line_is_505(echo):
    assert_error(answer(echo.port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505)


def test_plain_request_without_staticdir_is_404(echo):
    raw = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
    assert_error(answer(echo.port, raw), 404)


def test_bad_percent_encoding_is_400(echo):
    assert_error(answer(echo.port, request(path="/a%zz")), 400)
    assert_error(answer(echo.port, request(path="/a%00b")), 400)


def test_maxforks_answers_429(server, script):
    s = server("--maxforks=1", script("#!/bin/sh\necho ready\nexec cat\n"))
    first = Conn(s.port)
    first.handshake()
    assert first.read_message() == (1, b"ready")
    headers, body = assert_error(answer(s.port, request()), 429)
    assert b"Too Many Requests" in body
    first.close()
    # the slot frees once the first child has been reaped
    deadline = time.monotonic() + 5
    while True:
        c = Conn(s.port)
        c.send(request())
        status, _, _ = c.read_response()
        c.close()
        if status == 101 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 101


def test_extra_headers_go_to_the_right_responses(server, script):
    s = server("--header=X-All: 1", "--header-ws=X-Ws: 2", "--header-http=X-Http: 3",
               script(ECHO))
    c = Conn(s.port)
    headers = c.handshake()
    assert headers["x-all"] == ["1"] and headers["x-ws"] == ["2"] and "x-http" not in headers
    c.close()
    status, headers, _, _ = answer(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404
    assert headers["x-all"] == ["1"] and headers["x-http"] == ["3"] and "x-ws" not in headers


def test_silent_and_slow_clients_are_dropped_after_10s(echo):
    silent = Conn(echo.port, timeout=15)
    slow = Conn(echo.port, timeout=15)
    slow.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    assert silent.wait_eof(timeout=14) and slow.wait_eof(timeout=14)
    elapsed = time.monotonic() - start
    assert 8 <= elapsed <= 13, elapsed
    # meanwhile, and afterwards, the server still serves
    c = Conn(echo.port)
    c.handshake()
    c.close()
