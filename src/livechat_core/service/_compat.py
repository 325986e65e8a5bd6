"""Interim seam: the service's asynchronous desk where ``AsyncDesk`` is not available yet.

The service is written against :class:`livechat_core.AsyncDesk` and ``desk.events_after``
(SPEC section 11). Until a library build provides them, :class:`ThreadedDesk` runs a sync
:class:`~livechat_core.Desk` on one worker thread and numbers the events this process
commits (an in-process log), which gives one service process everything but the events of
other processes. :func:`async_desk_class` says which one the service uses.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._desk import Desk
from .._events import Event


def async_desk_class() -> type[Any] | None:
    """``livechat_core.AsyncDesk`` when this build has it, else ``None``."""
    import livechat_core

    found: type[Any] | None = getattr(livechat_core, "AsyncDesk", None)
    return found


class _Log:
    """The events this process committed, numbered in commit order."""

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
    """A sync desk on one worker thread with ``AsyncDesk``'s coroutine face."""

    def __init__(self, **options: Any) -> None:
        self.log = _Log()
        self.sync = Desk(transport=self.log, **options)
        self.store = self.sync.store
        self.masking = self.sync.masking
        self.clock = self.sync.clock
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="livechat-desk")

    async def events_after(self, position: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """The events this process committed after ``position``."""
        return self.log.after(position, limit)

    async def aclose(self) -> None:
        """Finish the calls already made and stop the worker thread."""
        await asyncio.to_thread(self._pool.shutdown)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, lambda: method(*args, **kwargs))

        return call
