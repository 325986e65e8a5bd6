"""The SQLite store passes the store conformance suite, on a real file."""

from __future__ import annotations

import pathlib

import pytest

from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Store
from livechat_core.testing import StoreConformance


class TestSqliteStore(StoreConformance):
    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: pathlib.Path) -> None:
        self.path = tmp_path / "desk.db"

    def make_store(self) -> Store:
        return SqliteStore(self.path)
