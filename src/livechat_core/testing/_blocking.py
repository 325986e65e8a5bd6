"""A blocking face over an :class:`~livechat_core.AsyncDesk`, for reusing sync test code."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from .._async import AsyncDesk


class BlockingDesk:
    """Drives an :class:`~livechat_core.AsyncDesk` through blocking calls, one coroutine at
    a time on a private event loop: every coroutine method of the async desk becomes a
    method that returns its result (or raises its error), so a scenario written for
    :class:`~livechat_core.Desk` runs unchanged through the async face.

    Other attributes (``store``, ``clock``, …) are the async desk's. Call :meth:`close`
    when done (it closes the async desk and the loop, not the store).
    """

    def __init__(self, desk: AsyncDesk) -> None:
        self.async_desk = desk
        self._runner = asyncio.Runner()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.async_desk, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._runner.run(_awaited(result))
            return result

        return call

    def run(self, coroutine_function: Callable[[], Any]) -> Any:
        """Run ``coroutine_function()`` to completion on this face's event loop."""
        return self._runner.run(coroutine_function())

    def close(self) -> None:
        """Close the async desk and the event loop."""
        try:
            self._runner.run(self.async_desk.aclose())
        finally:
            self._runner.close()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
