"""--staticdir: the page that hosts the client, and nothing outside it;
validators and conditional requests (ETag, Last-Modified, 304, 412), byte
ranges (206, 416, If-Range), precompressed FILE.gz and --cache-control,
with curl and http.client as real clients."""

import email.utils
import gzip
import hashlib
import http.client
import os
import socket
import subprocess

import pytest

from rawws import Conn, frame

CAT = "#!/bin/sh\nexec cat\n"


@pytest.fixture
def site(tmp_path, server, script):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "app.js").write_text("console.log(1)\n")
    (root / "style.css").write_text("body{}\n")
    (root / "pic.svg").write_text("<svg/>\n")
    (root / "data.bin").write_bytes(b"\x00\x01")
    (root / "docs" / "index.html").write_text("docs\n")
    big = os.urandom(5 << 20)
    (root / "big.dat").write_bytes(big)
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(root / "app.js", root / "inside.js")
    s = server(f"--staticdir={root}", script(CAT))
    s.big_sha = hashlib.sha256(big).hexdigest()
    s.root = root
    return s


def get(port, path, method="GET", extra=b""):
    c = Conn(port)
    try:
        c.send(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() + extra +
               b"\r\n")
        status, headers, body = c.read_response(expect_body=method != "HEAD")
        if method == "HEAD":
            c.sock.settimeout(2)
            rest = c.buf
            try:
                while True:
                    chunk = c.sock.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
            except socket.timeout:
                pass
            return status, headers, rest
        return status, headers, body
    finally:
        c.close()


def test_index_html_for_the_root(site):
    status, headers, body = get(site.port, "/")
    assert status == 200 and body == b"<h1>home</h1>\n"
    assert headers["content-type"] == ["text/html; charset=utf-8"]
    assert headers["content-length"] == ["14"]
    assert "last-modified" in headers


@pytest.mark.parametrize("path,ctype", [
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/pic.svg", "image/svg+xml"),
    ("/data.bin", "application/octet-stream"),
    ("/inside.js", "text/javascript; charset=utf-8"),
])
def test_content_types(site, path, ctype):
    status, headers, _ = get(site.port, path)
    assert status == 200 and headers["content-type"] == [ctype]


def test_directory_without_slash_redirects(site):
    status, headers, _ = get(site.port, "/docs?x=1")
    assert status == 301 and headers["location"] == ["/docs/?x=1"]
    status, _, body = get(site.port, "/docs/")
    assert status == 200 and body == b"docs\n"


def test_redirect_keeps_the_path_encoded(site, tmp_path):
    # a directory whose name holds a CR LF: the Location header must not split
    weird = tmp_path / "www" / "a\r\nSet-Cookie: x=1"
    weird.mkdir()
    c = Conn(site.port)
    c.send(b"GET /a%0D%0ASet-Cookie:%20x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = c.read_response()
    c.close()
    assert status == 301 and "set-cookie" not in headers
    assert headers["location"] == ["/a%0D%0ASet-Cookie:%20x=1/"]


def test_directory_without_index_is_403(site):
    assert get(site.port, "/sub/")[0] == 403


def test_missing_file_is_404(site):
    assert get(site.port, "/nope.html")[0] == 404


def test_head_sends_headers_only(site):
    status, headers, rest = get(site.port, "/index.html", method="HEAD")
    assert status == 200 and headers["content-length"] == ["14"] and rest == b""


def test_other_methods_are_405(site):
    status, headers, _ = get(site.port, "/index.html", method="POST")
    assert status == 405 and headers["allow"] == ["GET, HEAD"]


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2fsecret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt", "/./index.html",
])
def test_no_way_out_with_dot_segments(site, path):
    status, _, body = get(site.port, path)
    assert status in (403, 404) and b"outside" not in body


def test_symlink_pointing_outside_is_403(site):
    status, _, body = get(site.port, "/escape.txt")
    assert status == 403 and b"outside" not in body


def test_large_file_is_streamed_intact(site):
    status, headers, body = get(site.port, "/big.dat")
    assert status == 200 and int(headers["content-length"][0]) == 5 << 20
    assert hashlib.sha256(body).hexdigest() == site.big_sha


def test_websocket_upgrade_still_works_with_staticdir(site):
    c = Conn(site.port)
    c.handshake(path="/index.html")
    c.send(frame(1, b"hi"))
    assert c.read_message() == (1, b"hi")
    c.close()


def test_staticdir_must_be_a_directory(tmp_path, script):
    import subprocess
    from harness import BINARY, root_children
    r = subprocess.run([BINARY, f"--staticdir={tmp_path}/missing", "--port=1",
                        *root_children([]), script(CAT)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--staticdir" in r.stderr


# --- validators and conditional requests ---------------------------------------------------

TEXT = b"".join(b"line %05d of the text\n" % i for i in range(4000))   # 92,000 bytes


@pytest.fixture
def files(tmp_path, server, script):
    """A site with text.txt and its text.txt.gz, plain.txt without one, and an
    old mtime so that If-Modified-Since dates are easy to make."""
    root = tmp_path / "files"
    root.mkdir()
    (root / "text.txt").write_bytes(TEXT)
    (root / "text.txt.gz").write_bytes(gzip.compress(TEXT, mtime=0))
    (root / "plain.txt").write_bytes(b"0123456789" * 10)
    (root / "empty.txt").write_bytes(b"")
    when = 1700000000
    for name in ("text.txt", "text.txt.gz", "plain.txt", "empty.txt"):
        os.utime(root / name, (when, when))
    s = server(f"--staticdir={root}", "--cache-control=max-age=60, must-revalidate", script(CAT))
    s.root = root
    s.mtime = when
    return s


def fetch(port, path, headers=None, method="GET", conn=None):
    """One request with http.client: (status, headers as a case-insensitive
    message, body). conn: an open HTTPConnection to reuse."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, r.headers, body
    finally:
        if conn is None:
            c.close()


def httpdate(t):
    return email.utils.formatdate(t, usegmt=True)


def test_validators_on_every_file_answer(files):
    status, h, body = fetch(files.port, "/plain.txt")
    assert status == 200 and body == b"0123456789" * 10
    etag = h["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert h["Last-Modified"] == httpdate(files.mtime)
    assert h["Accept-Ranges"] == "bytes"
    assert h["Cache-Control"] == "max-age=60, must-revalidate"
    assert h["Vary"] is None and h["Content-Encoding"] is None, "no .gz sibling: no Vary"
    status, h206, _ = fetch(files.port, "/plain.txt", {"Range": "bytes=0-1"})
    assert status == 206 and h206["ETag"] == etag and h206["Last-Modified"] == h["Last-Modified"]
    assert h206["Cache-Control"] == "max-age=60, must-revalidate"
    status, h304, body = fetch(files.port, "/plain.txt", {"If-None-Match": etag})
    assert status == 304 and body == b""
    assert h304["ETag"] == etag and h304["Last-Modified"] == h["Last-Modified"]
    assert h304["Cache-Control"] == "max-age=60, must-revalidate"
    assert h304["Content-Length"] is None and h304["Content-Type"] is None
    # the file changes: so does its ETag, and the old one no longer matches
    os.utime(files.root / "plain.txt", (files.mtime + 5, files.mtime + 5))
    status, h2, _ = fetch(files.port, "/plain.txt", {"If-None-Match": etag})
    assert status == 200 and h2["ETag"] != etag
    # errors carry no validators nor the file's Cache-Control
    status, h404, _ = fetch(files.port, "/missing.txt")
    assert status == 404 and h404["ETag"] is None and h404["Cache-Control"] is None


@pytest.mark.parametrize("inm,want", [
    ("{etag}", 304),
    ("W/{etag}", 304),                        # weak comparison for GET
    ('"other", {etag}', 304),
    ('"a", "b",{etag} ', 304),
    ("*", 304),
    ('"other"', 200),
    ("{bare}", 200),                          # not an entity-tag: quotes are part of it
    ('"other" {etag}', 200),                  # malformed list
])
def test_if_none_match(files, inm, want):
    etag = fetch(files.port, "/plain.txt")[1]["ETag"]
    value = inm.format(etag=etag, bare=etag.strip('"'))
    status, _, body = fetch(files.port, "/plain.txt", {"If-None-Match": value})
    assert status == want and (body == b"") == (want == 304)


def test_if_none_match_in_two_header_lines(files):
    etag = fetch(files.port, "/plain.txt")[1]["ETag"]
    status, _, _ = get(files.port, "/plain.txt",
                       extra=f'If-None-Match: "x"\r\nIf-None-Match: {etag}\r\n'.encode())
    assert status == 304


@pytest.mark.parametrize("ims,want", [
    (0, 304),                                 # the modification time itself
    (3600, 304),                              # later
    (-1, 200),                                # a second earlier
    (-86400, 200),
])
def test_if_modified_since(files, ims, want):
    status, h, body = fetch(files.port, "/plain.txt",
                            {"If-Modified-Since": httpdate(files.mtime + ims)})
    assert status == want
    if want == 304:
        assert body == b"" and h["ETag"] and h["Last-Modified"] == httpdate(files.mtime)


@pytest.mark.parametrize("form", [
    "Tuesday, 14-Nov-23 22:13:20 GMT",        # RFC 850
    "Tue Nov 14 22:13:20 2023",               # asctime
])
def test_if_modified_since_in_the_obsolete_date_forms(files, form):
    assert email.utils.parsedate_to_datetime(form).timestamp() == files.mtime
    assert fetch(files.port, "/plain.txt", {"If-Modified-Since": form})[0] == 304


@pytest.mark.parametrize("value", ["yesterday", "Tue, 14 Nov 2023 22:13:20", "0", ""])
def test_an_unparseable_if_modified_since_is_ignored(files, value):
    assert fetch(files.port, "/plain.txt", {"If-Modified-Since": value})[0] == 200


def test_if_none_match_wins_over_if_modified_since(files):
    fresh = httpdate(files.mtime + 60)
    status, _, _ = fetch(files.port, "/plain.txt",
                         {"If-None-Match": '"not-it"', "If-Modified-Since": fresh})
    assert status == 200, "If-Modified-Since is ignored when If-None-Match is there"
    etag = fetch(files.port, "/plain.txt")[1]["ETag"]
    old = httpdate(files.mtime - 60)
    status, _, _ = fetch(files.port, "/plain.txt", {"If-None-Match": etag,
                                                    "If-Modified-Since": old})
    assert status == 304


def test_if_match_and_if_unmodified_since(files):
    etag = fetch(files.port, "/plain.txt")[1]["ETag"]
    assert fetch(files.port, "/plain.txt", {"If-Match": etag})[0] == 200
    assert fetch(files.port, "/plain.txt", {"If-Match": "*"})[0] == 200
    assert fetch(files.port, "/plain.txt", {"If-Match": "W/" + etag})[0] == 412, "strong only"
    assert fetch(files.port, "/plain.txt", {"If-Match": '"other"'})[0] == 412
    assert fetch(files.port, "/plain.txt",
                 {"If-Unmodified-Since": httpdate(files.mtime)})[0] == 200
    assert fetch(files.port, "/plain.txt",
                 {"If-Unmodified-Since": httpdate(files.mtime - 1)})[0] == 412


def test_curl_revalidates_with_both_validators(files, tmp_path):
    """curl -z sends If-Modified-Since; --etag-save/--etag-compare If-None-Match."""
    url = f"{files.http}/plain.txt"
    saved = tmp_path / "etag"
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "--etag-save", str(saved), url],
                         capture_output=True, text=True, timeout=20)
    assert out.stdout == "200" and saved.read_text().strip().startswith('"')
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "--etag-compare", str(saved), url],
                         capture_output=True, text=True, timeout=20)
    assert out.stdout == "304"
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "-z", httpdate(files.mtime), url],
                         capture_output=True, text=True, timeout=20)
    assert out.stdout == "304"
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "-z", httpdate(files.mtime - 3600), url],
                         capture_output=True, text=True, timeout=20)
    assert out.stdout == "200"


# --- byte ranges ----------------------------------------------------------------------------

@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-9", 0, 9),
    ("bytes=10-19", 10, 19),
    ("bytes=95-", 95, 99),
    ("bytes=-7", 93, 99),
    ("bytes=0-", 0, 99),
    ("bytes=90-1000", 90, 99),                # last-pos past the end: the end
    ("bytes=-1000", 0, 99),                   # a suffix longer than the file: all of it
    ("bytes=99-99", 99, 99),
    ("BYTES=3-4", 3, 4),
    ("bytes=500-, 2-3", 2, 3),                # the unsatisfiable member is skipped
])
def test_single_range_gets_206(files, spec, first, last):
    status, h, body = fetch(files.port, "/plain.txt", {"Range": spec})
    assert status == 206
    assert body == (b"0123456789" * 10)[first:last + 1]
    assert h["Content-Range"] == f"bytes {first}-{last}/100"
    assert int(h["Content-Length"]) == last - first + 1
    assert h["Accept-Ranges"] == "bytes" and h["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=1000-2000", "bytes=-0", "bytes=200-,300-"])
def test_unsatisfiable_range_gets_416(files, spec):
    status, h, body = fetch(files.port, "/plain.txt", {"Range": spec})
    assert status == 416 and h["Content-Range"] == "bytes */100"
    assert int(h["Content-Length"]) == len(body) and body.startswith(b"416")


@pytest.mark.parametrize("spec", [
    "bytes=0-1,5-6",                          # several ranges: all of it
    "bytes=5-2", "bytes=abc", "bytes=", "items=0-1", "bytes=1-2;x", "bytes = 0-1",
])
def test_several_or_invalid_ranges_get_the_whole_file(files, spec):
    status, h, body = fetch(files.port, "/plain.txt", {"Range": spec})
    assert status == 200 and body == b"0123456789" * 10 and h["Content-Range"] is None


def test_range_of_an_empty_file_is_ignored(files):
    status, h, body = fetch(files.port, "/empty.txt", {"Range": "bytes=0-"})
    assert status == 200 and body == b"" and h["Content-Length"] == "0"


def test_if_range(files):
    status, h, _ = fetch(files.port, "/plain.txt")
    etag, modified = h["ETag"], h["Last-Modified"]
    rng = {"Range": "bytes=0-3"}
    assert fetch(files.port, "/plain.txt", {**rng, "If-Range": etag})[:3:2] == (206, b"0123")
    assert fetch(files.port, "/plain.txt", {**rng, "If-Range": modified})[:3:2] == (206, b"0123")
    for other in ('"stale"', "W/" + etag, httpdate(files.mtime - 10), "garbage"):
        status, _, body = fetch(files.port, "/plain.txt", {**rng, "If-Range": other})
        assert (status, len(body)) == (200, 100), other


def test_range_in_a_large_file_is_byte_exact(site):
    data = (site.root / "big.dat").read_bytes()
    first, last = (2 << 20) + 12345, (4 << 20) + 999
    status, h, body = fetch(site.port, "/big.dat", {"Range": f"bytes={first}-{last}"})
    assert status == 206 and body == data[first:last + 1]
    status, _, body = fetch(site.port, "/big.dat", {"Range": "bytes=-100000"})
    assert status == 206 and body == data[-100000:]


def test_curl_ranges(files):
    url = f"{files.http}/text.txt"
    for spec, want in (("0-99", TEXT[:100]), ("-50", TEXT[-50:]), ("91990-", TEXT[91990:])):
        out = subprocess.run(["curl", "-s", "-r", spec, url], capture_output=True, timeout=20)
        assert out.returncode == 0 and out.stdout == want, spec
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r",
                          f"{len(TEXT)}-", url], capture_output=True, text=True, timeout=20)
    assert out.stdout == "416"


def test_head_mirrors_get(files):
    for extra in ({}, {"Range": "bytes=1-2"}, {"Accept-Encoding": "gzip"}):
        gs, gh, _ = fetch(files.port, "/text.txt", extra)
        hs, hh, body = fetch(files.port, "/text.txt", extra, method="HEAD")
        assert hs == gs and body == b""
        for name in ("Content-Length", "Content-Range", "Content-Encoding", "ETag",
                     "Last-Modified", "Accept-Ranges", "Vary", "Cache-Control"):
            assert hh[name] == gh[name], (extra, name)
    out = subprocess.run(["curl", "-s", "-I", f"{files.http}/plain.txt"], capture_output=True,
                         text=True, timeout=20)
    assert out.stdout.startswith("HTTP/1.1 200") and "Content-Length: 100\n" in out.stdout


# --- precompressed files ----------------------------------------------------------------------

def test_gzip_sibling_is_served_to_clients_that_accept_it(files):
    zipped = (files.root / "text.txt.gz").read_bytes()
    status, hz, body = fetch(files.port, "/text.txt", {"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200 and body == zipped and gzip.decompress(body) == TEXT
    assert hz["Content-Encoding"] == "gzip" and hz["Vary"] == "Accept-Encoding"
    assert hz["Content-Type"] == "text/plain; charset=utf-8", "the original's type"
    assert int(hz["Content-Length"]) == len(zipped)
    status, hp, body = fetch(files.port, "/text.txt")
    assert status == 200 and body == TEXT and hp["Content-Encoding"] is None
    assert hp["Vary"] == "Accept-Encoding", "both variants say what they vary on"
    assert hp["ETag"] != hz["ETag"]
    # each variant revalidates with its own ETag
    assert fetch(files.port, "/text.txt", {"Accept-Encoding": "gzip",
                                           "If-None-Match": hz["ETag"]})[0] == 304
    assert fetch(files.port, "/text.txt", {"If-None-Match": hz["ETag"]})[0] == 200
    status, h304, _ = fetch(files.port, "/text.txt", {"If-None-Match": hp["ETag"]})
    assert status == 304 and h304["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize("accept,gz", [
    ("gzip", True),
    ("gzip;q=0.5, br", True),
    ("x-gzip", True),
    ("*", True),
    ("GZIP", True),
    ("gzip;q=0", False),
    ("gzip;q=0.000", False),
    ("*;q=0", False),
    ("gzip;q=0, *", False),
    ("br, deflate", False),
    ("identity", False),
    ("", False),
])
def test_accept_encoding_decides(files, accept, gz):
    status, h, body = fetch(files.port, "/text.txt", {"Accept-Encoding": accept})
    assert status == 200 and (h["Content-Encoding"] == "gzip") == gz
    assert (body != TEXT) == gz


def test_range_applies_to_the_gzip_bytes(files):
    zipped = (files.root / "text.txt.gz").read_bytes()
    status, h, body = fetch(files.port, "/text.txt", {"Accept-Encoding": "gzip",
                                                      "Range": "bytes=10-29"})
    assert status == 206 and body == zipped[10:30]
    assert h["Content-Range"] == f"bytes 10-29/{len(zipped)}" and h["Content-Encoding"] == "gzip"
    status, h, _ = fetch(files.port, "/text.txt", {"Accept-Encoding": "gzip",
                                                   "Range": f"bytes={len(zipped)}-"})
    assert status == 416 and h["Content-Range"] == f"bytes */{len(zipped)}"
    assert h["Vary"] == "Accept-Encoding"


def test_curl_compressed(files):
    out = subprocess.run(["curl", "-s", "--compressed", "-D", "-", f"{files.http}/text.txt"],
                         capture_output=True, timeout=20)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head and body == TEXT, "curl inflated it"
    out = subprocess.run(["curl", "-s", "-D", "-", f"{files.http}/text.txt"],
                         capture_output=True, timeout=20)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert b"Content-Encoding" not in head and body == TEXT


def test_gzip_siblings_that_do_not_count(tmp_path, server, script):
    root = tmp_path / "w"
    root.mkdir()
    (tmp_path / "outside.gz").write_bytes(gzip.compress(b"secret"))
    (root / "a.txt").write_text("a\n")
    os.symlink(tmp_path / "outside.gz", root / "a.txt.gz")      # leads out of the root
    (root / "b.txt").write_text("b\n")
    (root / "b.txt.gz").mkdir()                                 # not a regular file
    (root / "c.txt").write_text("c\n")
    (root / "c.gz.txt").write_text("c\n")
    (root / "d").mkdir()
    (root / "d" / "index.html").write_text("<p>d</p>\n")
    (root / "d" / "index.html.gz").write_bytes(gzip.compress(b"<p>d</p>\n"))
    s = server(f"--staticdir={root}", script(CAT))
    for path, body in (("/a.txt", b"a\n"), ("/b.txt", b"b\n"), ("/c.txt", b"c\n")):
        status, h, got = fetch(s.port, path, {"Accept-Encoding": "gzip"})
        assert (status, got, h["Content-Encoding"], h["Vary"]) == (200, body, None, None), path
    status, h, got = fetch(s.port, "/d/", {"Accept-Encoding": "gzip"})
    assert h["Content-Encoding"] == "gzip" and gzip.decompress(got) == b"<p>d</p>\n"
    assert h["Content-Type"] == "text/html; charset=utf-8"


def test_no_cache_control_without_the_option(site):
    status, h, _ = fetch(site.port, "/index.html")
    assert status == 200 and h["Cache-Control"] is None and h["ETag"]
