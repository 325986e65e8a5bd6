"""The in-memory store passes the store conformance suite."""

from __future__ import annotations

from livechat_core.adapters.memory import MemoryStore
from livechat_core.ports import Store
from livechat_core.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    def make_store(self) -> Store:
        return MemoryStore()
