"""Helpers of the end-to-end tests (imported by ``conftest.py`` and the tests)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page


class Shots:
    """Numbered screenshots of one test, into a directory the test names."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path))
        return path
