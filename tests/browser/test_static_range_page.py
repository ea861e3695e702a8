"""Chromium and the file server: a fetch() with a Range header gets the 206
bytes, a whole file comes gzip-encoded from its .gz sibling, its
revalidation is a 304 the browser answers from its cache, the page's
requests share kept-alive connections, and a WebSocket follows."""

import gzip
import re
import shutil
import os

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")
DATA = "".join(f"{i % 10}" if i < 10 else chr(ord("a") + (i - 10) % 26) for i in range(40)) * 500


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def test_range_gzip_and_revalidation_in_chromium(browser, server, script, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(os.path.join(PAGES, "static_range.html"), www / "static_range.html")
    (www / "range.txt").write_text(DATA)
    (www / "data.txt").write_text(DATA)
    (www / "data.txt.gz").write_bytes(gzip.compress(DATA.encode()))
    s = server(f"--staticdir={www}", "--cache-control=no-cache", script("#!/bin/sh\nexec cat\n"))
    browser.get(f"{s.http}/static_range.html")
    WebDriverWait(browser, 20).until(lambda d: text(d, "status") != "fetching")
    assert text(browser, "status") == "closed 1000"
    assert text(browser, "range-status") == "206"
    assert text(browser, "content-range") == f"bytes 10-19/{len(DATA)}"
    assert text(browser, "range") == DATA[10:20]
    assert text(browser, "whole-status") == "200"
    assert text(browser, "whole-length") == str(len(DATA))
    assert text(browser, "encoding") == "gzip"
    assert text(browser, "again-status") == "200" and text(browser, "again-same") == "same"
    assert text(browser, "reply") == "after the files"
    log = s.log()
    assert re.search(r'"GET /range\.txt" 206 10 bytes\n', log)
    assert re.search(r'"GET /data\.txt" 200 \d+ bytes gzip\n', log)
    assert re.search(r'"GET /data\.txt" 304 0 bytes gzip\n', log), "Chromium revalidated"
    ids = re.findall(r"ACCESS (#\d+) \S+ port \d+ \"GET /(?:static_range\.html|\w+\.txt)\"", log)
    assert len(ids) == 4 and len(set(ids)) < len(ids), f"keep-alive reused a connection: {ids}"
