"""Frame-level conformance, by Autobahn testsuite case family: framing,
ping/pong, reserved bits, opcodes, fragmentation, UTF-8, close codes, limits."""

import struct

import pytest

from rawws import Conn, close_payload, frame

CAT = "#!/bin/sh\nexec cat\n"


@pytest.fixture
def echo(server, script):
    s = server(script(CAT))

    def connect():
        c = Conn(s.port)
        c.handshake()
        return c
    connect.server = s
    return connect


def fails_with(c, code):
    got, _ = c.expect_close()
    assert got == code
    assert c.wait_eof(), "the server must close the TCP connection after its close frame"


# --- 1 framing -------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 128, 65535, 65536, 200000])
def test_text_lengths_in_every_encoding(echo, size):
    c = echo()
    c.send(frame(1, b"*" * size))
    assert c.read_message() == (1, b"*" * size)


def test_frames_written_one_byte_at_a_time(echo):
    c = echo()
    c.send(frame(1, b"byte by byte") + frame(1, b"again"), one_byte_at_a_time=True)
    assert c.read_message() == (1, b"byte by byte")
    assert c.read_message() == (1, b"again")


def test_many_frames_in_one_write(echo):
    c = echo()
    c.send(b"".join(frame(1, b"m%d" % i) for i in range(500)))
    for i in range(500):
        assert c.read_message() == (1, b"m%d" % i)


def test_unmasked_client_frame_is_1002(echo):
    c = echo()
    c.send(frame(1, b"hello", mask=False))
    fails_with(c, 1002)


@pytest.mark.parametrize("raw", [
    b"\x81\xfe\x00\x05" + b"\x00" * 4 + b"hello",                 # 16-bit length for 5 bytes
    b"\x81\xff" + struct.pack("!Q", 5) + b"\x00" * 4 + b"hello",  # 64-bit length for 5 bytes
    b"\x82\xff" + struct.pack("!Q", 1 << 63) + b"\x00" * 4,       # MSB set
])
def test_bad_length_encodings_are_1002(echo, raw):
    c = echo()
    c.send(raw)
    fails_with(c, 1002)


# --- 2 ping/pong -----------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 125])
def test_ping_gets_pong_with_same_payload(echo, size):
    c = echo()
    payload = bytes(range(size))
    c.send(frame(9, payload))
    fin, rsv, op, got = c.read_frame()
    assert (fin, rsv, op, got) == (True, 0, 10, payload)


def test_ping_over_125_bytes_is_1002(echo):
    c = echo()
    c.send(frame(9, b"p" * 126))
    fails_with(c, 1002)


def test_ping_between_fragments_is_answered_and_the_message_survives(echo):
    c = echo()
    c.send(frame(1, b"frag", fin=False) + frame(9, b"ping!") + frame(0, b"ments"))
    fin, _, op, payload = c.read_frame()
    assert (op, payload) == (10, b"ping!")
    assert c.read_message() == (1, b"fragments")


def test_unsolicited_pong_is_ignored(echo):
    c = echo()
    c.send(frame(10, b"unasked") + frame(1, b"still fine"))
    assert c.read_message() == (1, b"still fine")


def test_ten_pings_ten_pongs_in_order(echo):
    c = echo()
    c.send(b"".join(frame(9, b"%d" % i) for i in range(10)))
    for i in range(10):
        assert c.read_frame() == (True, 0, 10, b"%d" % i)


# --- 3 reserved bits ------------------------------------------------------------

@pytest.mark.parametrize("rsv", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("opcode", [1, 2, 9])
def test_reserved_bits_without_extension_are_1002(echo, rsv, opcode):
    c = echo()
    c.send(frame(opcode, b"x", rsv=rsv))
    fails_with(c, 1002)


# --- 4 opcodes ------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcodes_are_1002(echo, opcode):
    c = echo()
    c.send(frame(opcode, b"x"))
    fails_with(c, 1002)


# --- 5 fragmentation ------------------------------------------------------------

def test_fragmented_text_with_empty_fragments(echo):
    c = echo()
    c.send(frame(1, b"", fin=False) + frame(0, b"a", fin=False) + frame(0, b"", fin=False) +
           frame(0, b"b"))
    assert c.read_message() == (1, b"ab")


def test_one_byte_fragments(echo):
    c = echo()
    text = b"fragmented into single bytes"
    raw = frame(1, text[:1], fin=False)
    raw += b"".join(frame(0, text[i:i + 1], fin=False) for i in range(1, len(text) - 1))
    raw += frame(0, text[-1:])
    c.send(raw)
    assert c.read_message() == (1, text)


def test_continuation_without_a_message_is_1002(echo):
    c = echo()
    c.send(frame(0, b"orphan"))
    fails_with(c, 1002)


def test_new_message_inside_a_fragmented_one_is_1002(echo):
    c = echo()
    c.send(frame(1, b"first", fin=False) + frame(1, b"second"))
    fails_with(c, 1002)


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_fragmented_control_frames_are_1002(echo, opcode):
    c = echo()
    payload = close_payload(1000) if opcode == 8 else b"x"
    c.send(frame(opcode, payload, fin=False))
    fails_with(c, 1002)


# --- 6 UTF-8 --------------------------------------------------------------------

def test_character_split_across_fragments_is_valid(echo):
    c = echo()
    smile = "\U0001F600".encode()
    c.send(frame(1, b"a" + smile[:1], fin=False) + frame(0, smile[1:3], fin=False) +
           frame(0, smile[3:] + b"z"))
    assert c.read_message() == (1, b"a" + smile + b"z")


@pytest.mark.parametrize("bad", [
    b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\x80",
])
def test_invalid_utf8_text_is_1007(echo, bad):
    c = echo()
    c.send(frame(1, b"valid " + bad + b" rest"))
    fails_with(c, 1007)


def test_invalid_utf8_fails_fast_before_the_message_ends(echo):
    c = echo()
    c.send(frame(1, b"ok \xff", fin=False))     # the message is still open
    fails_with(c, 1007)


def test_text_ending_inside_a_character_is_1007(echo):
    c = echo()
    c.send(frame(1, b"cut \xe2\x82"))
    fails_with(c, 1007)


def test_invalid_utf8_in_binary_is_fine(echo):
    c = echo()
    c.send(frame(2, b"\xff\xfe") + frame(1, b""))
    assert c.read_message() == (1, b"\xef\xbf\xbd\xef\xbf\xbd")


# --- 7 close handling ------------------------------------------------------------

@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                  3000, 3999, 4000, 4999])
def test_valid_close_codes_are_echoed(echo, code):
    c = echo()
    c.send(frame(8, close_payload(code, b"bye")))
    got, reason = c.expect_close()
    assert got == code and reason == b"bye"
    assert c.wait_eof()


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016,
                                  1100, 2000, 2999, 5000, 65535])
def test_invalid_close_codes_are_1002(echo, code):
    c = echo()
    c.send(frame(8, close_payload(code)))
    fails_with(c, 1002)


def test_close_with_one_byte_payload_is_1002(echo):
    c = echo()
    c.send(frame(8, b"\x03"))
    fails_with(c, 1002)


def test_close_reason_with_invalid_utf8_is_1007(echo):
    c = echo()
    c.send(frame(8, close_payload(1000, b"\xff")))
    fails_with(c, 1007)


def test_empty_close_gets_an_empty_close(echo):
    c = echo()
    c.send(frame(8, b""))
    fin, _, op, payload = c.read_frame()
    assert (op, payload) == (8, b"")
    assert c.wait_eof()


def test_close_with_a_123_byte_reason(echo):
    c = echo()
    c.send(frame(8, close_payload(1000, b"r" * 123)))
    assert c.expect_close() == (1000, b"r" * 123)


def test_data_after_close_is_ignored(echo):
    c = echo()
    c.send(frame(8, close_payload(1000)) + frame(1, b"too late"))
    fin, _, op, payload = c.read_frame()
    assert op == 8
    assert c.wait_eof()


def test_client_that_never_answers_our_close_is_dropped_after_5s(server, script):
    s = server(script("#!/bin/sh\necho bye\n"))
    c = Conn(s.port, timeout=10)
    c.handshake()
    assert c.read_message() == (1, b"bye")
    assert c.expect_close()[0] == 1000
    # we neither answer nor close: the server half-closed already, then gives up
    import time
    start = time.monotonic()
    c.sock.settimeout(10)
    assert c.sock.recv(10) == b""             # FIN right after the close frame
    c.sock.send(b"\x00")                      # still readable on their side
    assert c.wait_eof(timeout=8)
    assert time.monotonic() - start < 7


# --- 9 limits -------------------------------------------------------------------

def test_message_over_maxmsgsize_is_1009(server, script):
    s = server("--maxmsgsize=1K", script(CAT))
    c = Conn(s.port)
    c.handshake()
    c.send(frame(1, b"a" * 1024))
    assert c.read_message() == (1, b"a" * 1024)
    c.send(frame(1, b"a" * 1025))
    fails_with(c, 1009)


def test_fragmented_message_over_maxmsgsize_is_1009(server, script):
    s = server("--maxmsgsize=1000", script(CAT))
    c = Conn(s.port)
    c.handshake()
    c.send(frame(1, b"a" * 600, fin=False))
    c.send(frame(0, b"a" * 600)[:8])   # only the header: refused before any payload
    fails_with(c, 1009)


def test_maxmsgsize_zero_is_unlimited(server, script):
    size = 20 << 20
    s = server("--binary", "--maxmsgsize=0", script(f"#!/bin/sh\nhead -c {size} | wc -c\n"))
    c = Conn(s.port)
    c.handshake()
    c.send(frame(2, b"z" * size))
    op, data = c.read_message()
    assert data.strip() == str(size).encode()
