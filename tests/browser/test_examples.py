"""The example pages (examples/) in headless Chromium, each served by the
command its README gives: every page loads and connects, two chat windows
talk, the ticker ticks, and a page comes back by itself after wsbridge is
stopped and started again on the same port.

The chat test saves a screenshot to $WSBRIDGE_ARTIFACTS (or the test's
temporary directory) and prints where."""

import html
import re
import os
import shlex
import subprocess

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(REPO, "examples")
WAIT = 20  # seconds for any page condition: generous, the conditions are what count

# The one-line commands, exactly as examples/README.md, examples/index.html
# and each example's README.md give them (test_readmes_give_these_commands).
COMMANDS = {
    "basics": "wsbridge --port=8080 --staticdir=examples --fallback examples/basics/echo.sh",
    "chat": "wsbridge --port=8080 --staticdir=examples --fallback --shared --shared-prefix --shared-events "
            "examples/chat/room.py",
    "ticker": "wsbridge --port=8080 --staticdir=examples --fallback --shared --shared-prefix --shared-events "
              "examples/ticker/ticker.py",
    "notifications": "wsbridge --port=8080 --staticdir=examples --fallback --shared "
                     "examples/notifications/notify.sh /tmp/wsbridge-notifications.txt",
    "counter": "wsbridge --port=8080 --staticdir=examples --fallback --shared --shared-prefix --shared-events "
               "examples/counter/counter.sh",
    "tcp": "examples/tcp/kvserver.py --port=7000 & wsbridge --port=8080 --staticdir=examples --fallback "
           "--connect=127.0.0.1:7000; kill $!",
}

# Every page that opens a WebSocket, with the example whose command serves it.
PAGES = [
    ("basics", "basics/connect.html"),
    ("basics", "basics/send.html"),
    ("basics", "basics/close.html"),
    ("chat", "chat/"),
    ("ticker", "ticker/"),
    ("notifications", "notifications/"),
    ("counter", "counter/"),
    ("tcp", "tcp/"),
]


def wsbridge_args(name, notifications_file=None, tcp_port=None):
    """The README's wsbridge command for `name` as arguments for the server
    fixture (which adds the address and a free port): paths made absolute."""
    line = COMMANDS[name]
    if name == "tcp":
        line = line.split("& ", 1)[1].split(";", 1)[0]
    words = shlex.split(line)
    assert words[:2] == ["wsbridge", "--port=8080"], line
    args = []
    for w in words[2:]:
        if w == "--staticdir=examples":
            w = f"--staticdir={EXAMPLES}"
        elif w.startswith("examples/"):
            w = os.path.join(REPO, w)
        elif w == "/tmp/wsbridge-notifications.txt":
            w = notifications_file
        elif w == "--connect=127.0.0.1:7000":
            w = f"--connect=127.0.0.1:{tcp_port}"
        args.append(w)
    return args


def status(driver):
    el = driver.find_element(By.ID, "status")
    return el.get_attribute("data-state"), el.text


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def until(driver, condition, what):
    """Waits for condition(driver); on time-out fails saying what was awaited
    and what the page showed then."""
    try:
        WebDriverWait(driver, WAIT).until(condition)
    except TimeoutException:
        body = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"{what}: not within {WAIT} s; the page shows:\n{body}") from None


def wait_connected(driver):
    until(driver, lambda d: status(d) == ("open", "connected"), "connected")


def wait_text(driver, element_id, wanted):
    """Until the element's text contains `wanted`."""
    until(driver, lambda d: wanted in text(d, element_id), f"#{element_id} showing {wanted!r}")


def submit(driver, input_id, value):
    field = driver.find_element(By.ID, input_id)
    field.clear()
    field.send_keys(value)
    field.submit()


@pytest.fixture
def page(module_browser, server):
    """The module's browser. Afterwards every window the test used is closed
    (leaving a fresh blank one), which closes the pages' connections before
    the server fixture checks that no program was left behind: navigating
    away is not enough, as the back-forward cache may keep a page alive."""
    d = module_browser
    yield d
    used = d.window_handles
    d.switch_to.new_window("window")
    fresh = d.current_window_handle
    for handle in used:
        d.switch_to.window(handle)
        d.close()
    d.switch_to.window(fresh)


@pytest.fixture
def kvserver():
    """examples/tcp/kvserver.py on a free port, stopped by PID."""
    from harness import free_port
    port = free_port()
    proc = subprocess.Popen([os.path.join(EXAMPLES, "tcp", "kvserver.py"), f"--port={port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "listening" in line, f"kvserver did not start: {line}"
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.fixture
def artifacts(tmp_path):
    where = os.environ.get("WSBRIDGE_ARTIFACTS") or str(tmp_path)
    os.makedirs(where, exist_ok=True)
    return where


def serve(server, name, tmp_path, request):
    notifications = str(tmp_path / "notifications.txt")
    tcp_port = request.getfixturevalue("kvserver") if name == "tcp" else None
    return server(*wsbridge_args(name, notifications, tcp_port))


def test_readmes_give_these_commands():
    with open(os.path.join(EXAMPLES, "README.md")) as f:
        index_md = f.read()
    with open(os.path.join(EXAMPLES, "index.html")) as f:
        index_html = f.read()
    for name, command in COMMANDS.items():
        with open(os.path.join(EXAMPLES, name, "README.md")) as f:
            assert command in f.read(), f"examples/{name}/README.md lacks {command}"
        assert command in index_md, f"examples/README.md lacks {command}"
        assert html.escape(command, quote=False) in index_html, \
            f"examples/index.html lacks {command}"


@pytest.mark.parametrize("name,path", PAGES, ids=[p for _, p in PAGES])
def test_page_loads_and_connects(page, server, tmp_path, request, name, path):
    s = serve(server, name, tmp_path, request)
    page.get(f"{s.http}/{path}")
    wait_connected(page)
    assert page.execute_script("return document.readyState") == "complete"
    if path == "basics/connect.html":
        wait_text(page, "greeting", "hello, this is process")
    elif path == "basics/close.html":
        # The program exits on "bye": close 1000, and this page does not come back.
        wait_text(page, "log", "hello, this is process")
        page.find_element(By.ID, "bye").click()
        wait_text(page, "closed", "code 1000")
        assert "for good" in text(page, "closed")
        assert status(page)[0] == "closed"
        page.find_element(By.ID, "again").click()
        wait_connected(page)
    elif name == "tcp":
        wait_text(page, "log", "HELLO")
        submit(page, "cmd", "SET colour blue")
        wait_text(page, "log", "OK")
        submit(page, "cmd", "GET colour")
        wait_text(page, "log", "VALUE blue")


def test_index_pages_list_the_examples(page, server, tmp_path, request):
    s = serve(server, "basics", tmp_path, request)
    page.get(f"{s.http}/")
    links = {a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "dt a")}
    assert {f"{s.http}/{name}/" for name in COMMANDS} <= links
    page.get(f"{s.http}/basics/")
    assert len(page.find_elements(By.CSS_SELECTOR, "ol a")) == 3


def test_page_without_websocket_uses_the_fallback(page, server, tmp_path, request):
    """The README's command has --fallback: a browser without WebSocket still
    connects, over plain HTTP, and the page says which transport it got."""
    s = server(*wsbridge_args("basics"), "--fallback-timeout=2")
    script = page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                  {"source": "delete window.WebSocket;"})
    try:
        page.get(f"{s.http}/basics/send.html")
        wait_connected(page)
        assert page.execute_script("return typeof WebSocket") == "undefined"
        assert page.find_element(By.ID, "status").get_attribute("data-transport") == "fallback"
        submit(page, "msg", "hello over http")
        wait_text(page, "log", "echo: hello over http")
        for i in range(3):
            submit(page, "msg", f"in order {i}")
        wait_text(page, "log", "echo: in order 2")
        lines = [li.text for li in page.find_elements(By.CSS_SELECTOR, "#log li")]
        echoed = [t for t in lines if t.startswith("echo: in order")]
        assert echoed == ["echo: in order 2", "echo: in order 1", "echo: in order 0"], lines
    finally:
        page.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)


def test_two_chat_windows_talk(page, server, tmp_path, request, artifacts, capsys):
    s = serve(server, "chat", tmp_path, request)
    page.get(f"{s.http}/chat/?nick=alice")
    wait_connected(page)
    wait_text(page, "log", "you joined as alice")
    alice = page.current_window_handle

    page.switch_to.new_window("window")
    bob = page.current_window_handle
    page.get(f"{s.http}/chat/?nick=bob")
    wait_connected(page)
    wait_text(page, "log", "you joined as bob")
    wait_text(page, "users", "alice")

    page.switch_to.window(alice)
    wait_text(page, "log", "bob joined")
    submit(page, "text", "hello bob, this is alice")

    page.switch_to.window(bob)
    wait_text(page, "log", "alice: hello bob, this is alice")
    submit(page, "text", "hi alice!")
    wait_text(page, "log", "bob: hi alice!")

    page.switch_to.window(alice)
    wait_text(page, "log", "bob: hi alice!")
    assert text(page, "count") == "2"
    shot = os.path.join(artifacts, "chat.png")
    size = page.get_window_size()
    page.set_window_size(900, 800)
    page.execute_script("window.scrollTo(0, 0)")
    assert page.save_screenshot(shot)
    page.set_window_size(size["width"], size["height"])
    with capsys.disabled():
        print(f"\nchat screenshot: {shot}")

    page.switch_to.window(bob)
    page.close()
    page.switch_to.window(alice)
    wait_text(page, "log", "bob left")
    assert text(page, "count") == "1"


def test_ticker_shows_changing_prices(page, server, tmp_path, request):
    s = serve(server, "ticker", tmp_path, request)
    page.get(f"{s.http}/ticker/")
    wait_connected(page)
    until(page, lambda d: int(text(d, "updates")) >= 1, "a first update")
    first = text(page, "quotes")
    assert "ACME" in first
    until(page, lambda d: int(text(d, "updates")) >= 2 and text(d, "quotes") != first,
          "an update with other prices")
    assert len(page.find_elements(By.CSS_SELECTOR, "#quotes tr")) == 5


def tail_is_at_end(s, path):
    """Some program under wsbridge has `path` open, positioned at its end."""
    path = os.path.realpath(path)
    size = os.path.getsize(path)
    for pid in s.descendants():
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                        if int(f.readline().split()[1]) == size:
                            return True
        except (FileNotFoundError, ProcessLookupError):
            continue
    return False


def test_notifications_show_appended_lines(page, server, tmp_path, request):
    path = str(tmp_path / "notifications.txt")
    with open(path, "w") as f:
        f.write("old news\n")
    s = serve(server, "notifications", tmp_path, request)
    page.get(f"{s.http}/notifications/")
    wait_connected(page)
    # tail -n 0 shows only what comes after it reached the end of the file.
    until(page, lambda d: tail_is_at_end(s, path), "tail at the end of the file")
    with open(path, "a") as f:
        f.write("warning: disk 91% full\n")
    wait_text(page, "log", "warning: disk 91% full")
    assert "old news" not in text(page, "log")
    assert text(page, "count") == "1"


def test_counter_is_shared(page, server, tmp_path, request):
    s = serve(server, "counter", tmp_path, request)
    page.get(f"{s.http}/counter/")
    wait_connected(page)
    wait_text(page, "count", "0")
    first = page.current_window_handle
    page.switch_to.new_window("window")
    page.get(f"{s.http}/counter/")
    wait_connected(page)
    wait_text(page, "online", "2")
    page.find_element(By.ID, "click").click()
    page.find_element(By.ID, "click").click()
    wait_text(page, "count", "2")
    page.switch_to.window(first)
    wait_text(page, "count", "2")


@pytest.mark.parametrize("name,path,field,reply", [
    ("basics", "basics/send.html", "msg", "echo: {}"),  # exec mode: a new echo.sh
    ("chat", "chat/?nick=carol", "text", "carol: {}"),  # shared mode: a new room.py
], ids=["exec", "shared"])
def test_page_reconnects_after_a_restart_on_the_same_port(page, server, name, path, field, reply):
    args = wsbridge_args(name)
    first = server(*args)
    page.get(f"{first.http}/{path}")
    wait_connected(page)
    if name == "chat":
        wait_text(page, "log", "you joined as carol")
    submit(page, field, "before the restart")
    wait_text(page, "log", reply.format("before the restart"))

    first.stop()  # SIGTERM by PID; checks that it exited cleanly
    until(page, lambda d: status(d)[0] == "reconnecting", "the page noticing")
    assert "disconnected" in status(page)[1]

    server(*args, port=first.port)
    wait_connected(page)
    # To the new room.py the page is a newcomer: it names itself again before
    # anything it says goes out, so the reply comes under the same name.
    submit(page, field, "after the restart")
    wait_text(page, "log", reply.format("after the restart"))


def quickstart_config(tmp_path, kv_port, notifications):
    """examples/wsbridge.conf, which ./quickstart serves, with the TCP service
    on a free port and the notifications file in the test's directory."""
    with open(os.path.join(EXAMPLES, "wsbridge.conf")) as f:
        conf = f.read()
    for old, new in (("127.0.0.1:7000", f"127.0.0.1:{kv_port}"),
                     ("/tmp/wsbridge-notifications.txt", notifications)):
        assert old in conf, f"examples/wsbridge.conf no longer has {old}"
        conf = conf.replace(old, new)
    path = tmp_path / "wsbridge.conf"
    path.write_text(conf)
    return str(path)


def connected(driver):
    """The status line says connected: examples/common/status.js's states,
    or the clock page's own."""
    state, words = status(driver)
    return (state, words) == ("open", "connected") or (state is None and words == "open")


def test_one_server_serves_every_example_from_the_index(page, server, tmp_path, kvserver):
    with open(os.path.join(REPO, "quickstart")) as f:
        assert "--config=examples/wsbridge.conf" in f.read(), "./quickstart serves another file"
    conf = quickstart_config(tmp_path, kvserver, str(tmp_path / "notifications.txt"))
    # Relative paths in the file are relative to where wsbridge runs: the top
    # of the tree, as with ./quickstart.
    s = server(f"--config={conf}", cwd=REPO, keeps_children=True)
    page.get(f"{s.http}/")
    examples = [a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "dt a")]
    assert {f"{s.http}/{name}/" for name in [*COMMANDS, "clock"]} <= set(examples)
    pages = []
    for link in examples:
        page.get(link)
        tutorial = page.find_elements(By.CSS_SELECTOR, "ol a")  # basics/ lists its pages
        pages += [a.get_attribute("href") for a in tutorial] or [link]
    assert len(pages) == len(examples) + 2
    for url in pages:
        page.get(url)
        until(page, connected, f"{url} connected")
        if url.endswith("/tcp/"):
            wait_text(page, "log", "HELLO")  # the route's target answered
        elif url.endswith("/clock/"):
            until(page, lambda d: ":" in text(d, "time") and "--" not in text(d, "time"),
                  "the clock ticking")
    # Every route, in one server: the shared programs it started, and one
    # access line per page naming its route.
    log = s.log()
    for name in [*COMMANDS, "clock"]:
        assert re.search(rf"CONNECT .* route /{name}/ ", log), f"no connection on /{name}/:\n{log}"
