"""The in-process transports: events kept in memory, or handed to a callback.

SPEC section 11 ships four transports: these two, Redis Streams
(:mod:`livechat_core.adapters.redis`) and webhooks (:mod:`livechat_core.adapters.webhook`).
Any object with ``publish(events)`` is a transport (:class:`livechat_core.ports.Transport`);
these cover the common in-process cases: tests and demos that look at what was published
(:class:`MemoryTransport`), and a function of the application's own that reacts to each
event, such as pushing it to agents' screens (:class:`CallbackTransport`).

Delivery is at least once, in order per conversation: when ``publish`` raises, the
events stay in the outbox and the next relay sends the whole batch again, so a consumer
drops duplicates by :attr:`Event.id`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .._errors import InvalidArgument
from .._events import Event


class MemoryTransport:
    """Keeps every published event in memory, in the order published.

    ``events`` is a copy of what arrived so far; ``clear()`` forgets it. Safe to share
    between threads (a relay thread publishing, a test reading).

    >>> from livechat_core import Desk
    >>> transport = MemoryTransport()
    >>> desk = Desk(transport=transport)
    >>> _ = desk.add_queue("support", ["Resolved"])
    >>> transport.events[0].id
    'queue:support:1'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def __repr__(self) -> str:
        return f"MemoryTransport(<{len(self._events)} events>)"

    @property
    def events(self) -> list[Event]:
        """The events published so far, oldest first (a copy)."""
        with self._lock:
            return list(self._events)

    def publish(self, events: Sequence[Event]) -> None:
        """Keep ``events``."""
        with self._lock:
            self._events.extend(events)

    def clear(self) -> None:
        """Forget the events kept so far."""
        with self._lock:
            self._events.clear()


class CallbackTransport:
    """Calls ``callback(event)`` for each published event, in order.

    The callback runs on the thread that publishes (the desk's after a commit, or a
    relay's). If it raises, ``publish`` raises and the batch stays in the outbox: the next
    relay calls back again from the batch's first event, so events before the failing
    one arrive twice (drop them by ``event.id``).

    >>> from livechat_core import Desk
    >>> seen = []
    >>> desk = Desk(transport=CallbackTransport(seen.append))
    >>> _ = desk.add_queue("support", ["Resolved"])
    >>> seen[0].id
    'queue:support:1'
    """

    def __init__(self, callback: Callable[[Event], object]) -> None:
        if not callable(callback):
            raise InvalidArgument(f"callback must be callable, not {callback!r}")
        self.callback = callback

    def __repr__(self) -> str:
        return f"CallbackTransport({self.callback!r})"

    def publish(self, events: Sequence[Event]) -> None:
        """Call back once per event, in order."""
        callback = self.callback
        for event in events:
            callback(event)
