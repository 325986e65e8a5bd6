"""TEMPORARY: a sync Desk in a worker thread, with an in-process event log, until
AsyncDesk and events_after land on main (issue 12)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._desk import Desk
from .._events import Event


class _Log:
    def __init__(self) -> None:
        self.events: list[tuple[int, Event]] = []
        self.lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> None:
        with self.lock:
            for event in events:
                self.events.append((len(self.events) + 1, event))

    def after(self, position: int, limit: int) -> list[tuple[int, Event]]:
        with self.lock:
            return self.events[position : position + limit]


class ThreadedDesk:
    def __init__(self, **kwargs: Any) -> None:
        self.log = _Log()
        self.sync = Desk(transport=self.log, **kwargs)
        self.masking = self.sync.masking
        self.clock = self.sync.clock
        self._pool = ThreadPoolExecutor(1)

    async def events_after(self, position: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        return self.log.after(position, limit)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, lambda: method(*args, **kwargs))

        return call
