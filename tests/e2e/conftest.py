"""End-to-end fixtures: the real service (uvicorn, a SQLite file) and a real browser.

The browser is Debian's ``chromium`` package driven by Playwright for Python
(``executable_path``; no browser download). ``LIVECHAT_TEST_CHROMIUM`` names its
executable (``scripts/test`` installs the package and sets it). Without it the tests are
skipped locally and fail in CI, as the PostgreSQL tests do.

Every step saves a screenshot into ``LIVECHAT_E2E_ARTIFACTS/<test name>/`` when that
variable is set (``artifacts/`` is git-ignored), else into the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from e2e.browser_support import Shots
from livechat_core import SqliteStore
from livechat_core.service import create_app, running
from livechat_core.service._serve import make_desk

CHROMIUM_ENV = "LIVECHAT_TEST_CHROMIUM"
ARTIFACTS_ENV = "LIVECHAT_E2E_ARTIFACTS"


def chromium_path() -> str:
    """The chromium executable, or skip (fail in CI) when there is none."""
    path = os.environ.get(CHROMIUM_ENV)
    if not path or not os.path.exists(path):
        message = f"{CHROMIUM_ENV} is not set to a chromium executable (scripts/test sets it)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium per test module: Playwright's sync API keeps an event loop
    in the main thread while it runs, so it must be gone before other tests use asyncio."""
    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start the service on a fresh SQLite file; ``service(queues={...})`` returns its URL.

    ``queues`` maps a queue name to ``(wrap_up_reasons, offer_timeout)``.
    """
    stack: list[Any] = []

    def start(
        queues: dict[str, tuple[list[str], float]], masking: bool = True, locale: str = "en"
    ) -> str:
        path = str(tmp_path / "desk.db")
        desk = make_desk(SqliteStore(path), masking=masking, locale=locale)
        reader = make_desk(SqliteStore(path), masking=masking, locale=locale)

        async def add_queues() -> None:
            for name, (reasons, timeout) in queues.items():
                await desk.add_queue(name, reasons, offer_timeout=timeout)

        async def close() -> None:
            for each in (desk, reader):
                if each is not None:
                    await each.aclose()
                    each.store.close()

        app = create_app(
            desk,
            reader=reader,
            tick_interval=0.2,
            poll_interval=0.1,
            on_startup=add_queues,
            on_shutdown=close,
        )
        context = running(app)
        url = context.__enter__()
        stack.append(context)
        return url

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Shots:
    """Where this test's screenshots go (see the module docstring)."""
    base = os.environ.get(ARTIFACTS_ENV)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    directory = Path(base) / name if base else tmp_path / "screenshots"
    return Shots(directory)


@pytest.fixture
def pages(browser: Browser) -> Iterator[Callable[[str], Page]]:
    """``pages(url)``: a page in its own browser context (its own storage), closed after."""
    contexts = []

    def open_page(url: str) -> Page:
        context = browser.new_context(viewport={"width": 1360, "height": 860}, locale="en-GB")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
