"""A noVNC-style page in headless Chromium, through the proxy to a TCP echo service."""

import os

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def test_binary_subprotocol_page_exchanges_bytes_with_a_tcp_echo(browser, server, backend):
    b = backend("echo")
    s = server(f"--connect={b.target}", f"--staticdir={PAGES}")
    browser.get(f"{s.http}/binary_echo.html?size=300000")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: text(d, "result") != "")
    assert text(browser, "result") == "ok 300000"
    assert text(browser, "protocol") == "binary"
    wait.until(lambda d: text(d, "status").startswith("closed"))
    assert text(browser, "status") == "closed 1000"
    s.wait_log(r"DISCONNECT .* code 1000 by client, in \d+ messages 300000 bytes, "
               r"out \d+ messages 300000 bytes")
