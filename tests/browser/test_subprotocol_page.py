"""Chromium offering a subprotocol (new WebSocket(url, ["chat"])): with
--subprotocol it connects and COMMAND learns the choice; without, the
browser itself fails the connection, as README.md says."""

import os

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")
REPLY = "#!/bin/sh\nread -r line\necho \"$SEC_WEBSOCKET_PROTOCOL: $line\"\nexec cat\n"


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def closed(driver):
    WebDriverWait(driver, 20).until(lambda d: text(d, "status").startswith("closed"))


def test_browser_gets_the_subprotocol_it_offers(browser, server, script):
    s = server(f"--staticdir={PAGES}", "--subprotocol=v2.chat,chat", script(REPLY))
    browser.get(f"{s.http}/subprotocol.html?protocols=chat,v2.chat")
    closed(browser)
    assert text(browser, "protocol") == "v2.chat", "our order of preference wins"
    assert text(browser, "reply") == "v2.chat: hi"
    assert text(browser, "status") == "closed 1000"


def test_without_subprotocol_a_browser_that_asks_for_one_fails(browser, server, script):
    s = server(f"--staticdir={PAGES}", script(REPLY))
    browser.get(f"{s.http}/subprotocol.html?protocols=chat")
    closed(browser)
    assert text(browser, "status") == "closed 1006"
    assert text(browser, "reply") == ""
