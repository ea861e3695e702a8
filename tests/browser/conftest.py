"""Headless Chromium (Debian's chromium + chromium-driver, driven by
python3-selenium) for the browser tests. Reuses the integration fixtures."""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import backend, script, server  # noqa: E402,F401  (shared fixtures)


def launch_chromium():
    """Headless Chromium with a throw-away profile: (driver, profile directory)."""
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        assert os.path.exists(tool), f"{tool} is missing: run scripts/deps test"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="wsbridge-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=800,600",
                # the TLS tests use a throw-away CA the browser does not know
                "--ignore-certificate-errors",
                "--user-data-dir=" + profile):
        opts.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts), profile
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise


@pytest.fixture
def browser():
    driver, profile = launch_chromium()
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def module_browser():
    """One Chromium for a whole test module (starting one takes a second or
    two); tests must leave it on about:blank with one window."""
    driver, profile = launch_chromium()
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
