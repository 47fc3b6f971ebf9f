"""Headless Chromium for the browser tests (the report, the dashboard): Debian's chromium and
chromedriver driven by Selenium. CI must have them (.ci/run installs them); a user's machine
without them skips those tests and says what to install."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

# No network here, and none wanted: these stop Chromium calling Google at start-up.
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1366,768",
)


def missing(what: str, purpose: str) -> NoReturn:
    """Fail in CI, skip elsewhere: ``what`` is not installed for ``purpose``."""
    if os.environ.get("TRADINGBOT_REQUIRE_SHARED_DATA"):
        pytest.fail(f"CI requires {what} for {purpose} (.ci/run installs chromium and "
                    "chromium-driver; requirements-dev.txt has selenium)")
    pytest.skip(f"{what} is not installed: {purpose} needs it (apt-get install chromium "
                "chromium-driver; pip install selenium)")


@contextmanager
def chromium(profile: Path, *, purpose: str, load_timeout_s: float) -> Iterator[Any]:
    """A headless Chromium at 1366x768 with the empty profile ``profile``, logging the
    console; quit on exit."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium", purpose)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        missing("chromium" if binary is None else "chromedriver", purpose)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit chromedriver: Selenium Manager would otherwise try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(load_timeout_s)
    try:
        yield driver
    finally:
        driver.quit()
