"""Headless Chromium (Debian's chromium + chromedriver) driven by Selenium, and a static
site on its own loopback origin for the pages the browser loads.

Where chromium, chromedriver or the npm fixtures are missing the tests skip and say what
to install, except when REACH_BROWSER_TESTS=required (set by .ci/run): then they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent
NODE_MODULES = FIXTURES / "node_modules"
ARTIFACTS = FIXTURES.parent.parent / "test-artifacts"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)


def _missing(what: str) -> None:
    message = f"{what}; browser tests need Debian's chromium and chromium-driver and npm"
    if os.environ.get("REACH_BROWSER_TESTS") == "required":
        pytest.fail(message)
    pytest.skip(message)


def _first(paths: tuple[str, ...], name: str) -> str:
    found = next((p for p in paths if os.access(p, os.X_OK)), None) or shutil.which(name)
    if not found:
        _missing(f"{name} not found")
    return found  # type: ignore[return-value]


class Browser:
    """One Chromium; every call runs in a thread so the test's event loop (which also
    serves Reach) keeps running while the browser waits on it."""

    def __init__(self, driver) -> None:
        self.driver = driver

    async def call(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def js(self, script: str, *args):
        return await self.call(self.driver.execute_script, script, *args)

    async def wait_for(self, expression: str, timeout: float = 60.0):
        """Poll a JS expression until it is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.js(f"return ({expression});")
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                logs = await self.js("return (window.__errors || []).join('\\n');")
                raise AssertionError(f"page never had {expression} within {timeout}s: {logs}")
            await asyncio.sleep(0.1)

    async def type(self, css: str, text: str) -> None:
        """Type into the element as a user would (key events, not a value assignment)."""
        from selenium.webdriver.common.by import By

        element = await self.call(self.driver.find_element, By.CSS_SELECTOR, css)
        await self.call(element.clear)
        await self.call(element.send_keys, text)

    async def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        element = await self.call(self.driver.find_element, By.CSS_SELECTOR, css)
        await self.call(element.click)

    async def select(self, css: str, value: str) -> None:
        """Pick the <option> with this value, firing the change event a user's pick does."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        element = await self.call(self.driver.find_element, By.CSS_SELECTOR, css)
        await self.call(Select(element).select_by_value, value)

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.call(self.driver.save_screenshot, str(path))
        return path


@pytest.fixture(scope="session")
def browser(chromium: Browser) -> Browser:
    """Chromium for the pages that load the npm fixtures (Segment's SDK)."""
    if not (NODE_MODULES / ".installed").exists():
        _missing("tests/browser/node_modules is not installed (make test runs npm ci)")
    return chromium


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Chromium alone, for pages Reach serves itself (the dashboard needs no npm)."""
    chromium = _first(CHROMIUM, "chromium")
    chromedriver = _first(CHROMEDRIVER, "chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="reach-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # The closed network refuses Chromium's own background connections; keep them off.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(60)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(origin, directory): files written to the directory are served at the origin,
    on `localhost` so that it is another origin than Reach's 127.0.0.1."""
    root = tmp_path_factory.mktemp("site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
