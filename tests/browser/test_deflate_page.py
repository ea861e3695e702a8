"""Chromium's own permessage-deflate against wsbridge in every mode: the
page's socket reports the extension in ws.extensions and round-trips text
(compressible and not) unchanged, in both memory modes."""

import os

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")
TRIPS = "6"


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def run_page(browser, s, query=""):
    browser.get(f"{s.http}/deflate.html{query}")
    WebDriverWait(browser, 30).until(lambda d: not text(d, "status").startswith("connecting") and
                                     text(d, "status") != "")
    WebDriverWait(browser, 30).until(lambda d: text(d, "status").startswith(("closed", "mismatch")))
    return text(browser, "extensions"), text(browser, "trips"), text(browser, "status")


@pytest.mark.parametrize("mode,agreed", [
    ("low-memory", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ("high-ratio", "permessage-deflate; client_max_window_bits=15"),
])
def test_exec_mode(browser, server, mode, agreed):
    s = server(f"--staticdir={PAGES}", f"--compress-mode={mode}", "cat")
    assert run_page(browser, s) == (agreed, TRIPS, "closed 1000")


def test_proxy_mode(browser, server, backend):
    echo = backend("echo")
    s = server(f"--staticdir={PAGES}", f"--connect={echo.target}")
    ext, trips, status = run_page(browser, s, "?binary=1")
    assert ext.startswith("permessage-deflate") and (trips, status) == (TRIPS, "closed 1000")


def test_shared_mode(browser, server):
    s = server(f"--staticdir={PAGES}", "--shared", "cat")
    ext, trips, status = run_page(browser, s)
    assert "server_no_context_takeover" in ext and (trips, status) == (TRIPS, "closed 1000")


def test_off(browser, server):
    s = server(f"--staticdir={PAGES}", "--compress=off", "cat")
    assert run_page(browser, s) == ("", TRIPS, "closed 1000")
