"""A page served over https talks wss:// to the same port, in headless Chromium."""

import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from pki import PKI  # noqa: E402

PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def test_https_page_and_wss_echo(browser, server, script, tmp_path):
    pki = PKI(tmp_path)
    crt, key = pki.issue("server", "localhost")
    s = server("--ssl", f"--sslcert={crt}", f"--sslkey={key}", f"--staticdir={PAGES}",
               script("#!/bin/sh\nexec cat\n"))
    browser.get(f"https://127.0.0.1:{s.port}/echo.html")
    WebDriverWait(browser, 20).until(lambda d: text(d, "status").startswith("closed"))
    assert text(browser, "url") == f"wss://127.0.0.1:{s.port}/echo"
    assert text(browser, "reply") == "hello over https:"
    assert text(browser, "status") == "closed 1000"
