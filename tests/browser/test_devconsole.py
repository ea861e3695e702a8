"""--devconsole in headless Chromium: the page connects to the endpoint it
was loaded from, sends text and binary, shows each message with direction,
size and hex for binary, the subprotocol, and the close; works with --dir
(the page's path names the script) and beside --staticdir files. Saves a
screenshot to $WSBRIDGE_ARTIFACTS (or the test's directory)."""

import os
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CAT = "#!/bin/sh\nexec cat\n"


def text(d, element_id):
    return d.find_element(By.ID, element_id).text


def rows(d):
    """The log as (direction, size, data) tuples."""
    out = []
    for li in d.find_elements(By.CSS_SELECTOR, "#log li"):
        spans = li.find_elements(By.TAG_NAME, "span")
        out.append((spans[1].text, spans[2].text, spans[3].text))
    return out


def until(d, cond, what):
    try:
        WebDriverWait(d, 20).until(cond)
    except Exception:
        raise AssertionError(f"{what}; the page shows:\n{d.find_element(By.TAG_NAME, 'body').text}")


def type_and_send(d, words):
    box = d.find_element(By.ID, "message")
    box.send_keys(words)
    box.send_keys(Keys.ENTER)


def test_console_connects_sends_and_shows_the_close(server, browser, script, tmp_path):
    s = server("--devconsole", "--subprotocol=chat", script(CAT))
    browser.get(f"{s.http}/some/path?x=1")
    until(browser, lambda d: text(d, "status") == "open", "connected")
    assert browser.find_element(By.ID, "url").get_attribute("value") == \
        f"ws://127.0.0.1:{s.port}/some/path?x=1"
    assert "no subprotocol" in text(browser, "detail")
    type_and_send(browser, "hello, wörld")
    until(browser, lambda d: ("←", "13 B", "hello, wörld") in rows(d), "the echo")
    assert ("→", "13 B", "hello, wörld") in rows(browser)

    # reconnect offering a subprotocol
    browser.find_element(By.ID, "connect").click()
    until(browser, lambda d: text(d, "status") == "closed", "closed")
    assert any(r[2].startswith("closed 1000") for r in rows(browser)), rows(browser)
    browser.find_element(By.ID, "protocols").send_keys("chat")
    browser.find_element(By.ID, "connect").click()
    until(browser, lambda d: text(d, "status") == "open", "connected again")
    assert "subprotocol chat" in text(browser, "detail")

    where = os.environ.get("WSBRIDGE_ARTIFACTS") or str(tmp_path)
    os.makedirs(where, exist_ok=True)
    shot = os.path.join(where, "devconsole.png")
    browser.set_window_size(1000, 700)
    assert browser.save_screenshot(shot)
    print(f"\ndev console screenshot: {shot}")


def test_console_sends_and_shows_binary_as_hex(server, browser, script):
    s = server("--devconsole", "--binary", script(CAT))
    browser.get(f"{s.http}/")
    until(browser, lambda d: text(d, "status") == "open", "connected")
    browser.find_element(By.CSS_SELECTOR, "#kind option[value=binary]").click()
    type_and_send(browser, "00 ff 41 0a")
    until(browser, lambda d: ("←", "4 B", "00 ff 41 0a") in rows(d), "the binary echo")
    assert ("→", "4 B", "00 ff 41 0a") in rows(browser)
    type_and_send(browser, "zz")
    until(browser, lambda d: any("not hex bytes" in r[2] for r in rows(d)), "a hex error")


def test_console_shows_a_programs_exit_and_close_code(server, browser, script):
    s = server("--devconsole", script("#!/bin/sh\necho bye\nexit 3\n"))
    browser.get(f"{s.http}/")
    until(browser, lambda d: text(d, "status") == "closed", "closed")
    assert ("←", "3 B", "bye") in rows(browser)
    assert 'closed 1011 "exit 3"' in text(browser, "detail")


def test_console_with_dir_and_static_files(server, browser, script, tmp_path):
    scripts, www = tmp_path / "scripts", tmp_path / "www"
    scripts.mkdir()
    www.mkdir()
    (scripts / "hello.sh").write_text("#!/bin/sh\necho hello from the script\nexec cat\n")
    (scripts / "hello.sh").chmod(0o755)
    (www / "index.html").write_text("a real page\n")
    s = server("--devconsole", f"--dir={scripts}", f"--staticdir={www}")
    # A file wins; the console answers where none does, and the path names the script.
    assert urllib.request.urlopen(f"{s.http}/").read() == b"a real page\n"
    browser.get(f"{s.http}/hello.sh")
    until(browser, lambda d: ("←", "21 B", "hello from the script") in rows(d), "the script")
