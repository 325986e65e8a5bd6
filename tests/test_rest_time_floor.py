"""The time floor's short way (issue 9, per-command cost): a stored version this desk
committed itself is not read again, because one writer commits each version of a record.
That holds only if the desk remembers a record once it committed: not a save that a
failed commit or a rolled-back ``batch()`` block took back, after which another desk may
commit the same version with a later time. These check both."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from livechat_core import ConcurrencyConflict, Desk, InvalidArgument, MemoryStore
from livechat_core._errors import LivechatError
from livechat_core._model import Agent, Conversation, Queue
from livechat_core.adapters import memory
from livechat_core.events import Event
from livechat_core.ports import Changes, StoreTransaction
from livechat_core.testing.clock import ManualClock

T0 = 1_700_000_000.0


def _in_order(events: list[Event]) -> bool:
    times = [event.at for event in events]
    return times == sorted(times)


class _Deferred(StoreTransaction):
    """A memory transaction whose ``save_last`` waits for the commit (as the SQL
    stores' may): the store's ``interlude`` then runs first and the commit fails."""

    def __init__(self, txn: StoreTransaction) -> None:
        self.txn = txn
        self.held: Changes | None = None

    def queue(self, name: str) -> Queue | None:
        return self.txn.queue(name)

    def queues(self) -> list[Queue]:
        return self.txn.queues()

    def agent(self, agent_id: str) -> Agent | None:
        return self.txn.agent(agent_id)

    def agents(self, queue: str | None = None) -> list[Agent]:
        return self.txn.agents(queue)

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        return self.txn.routable(queue, limit)

    def conversation(self, conversation_id: str) -> Conversation | None:
        return self.txn.conversation(conversation_id)

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        return self.txn.queued(queues, limit)

    def due(self, now: float, limit: int) -> list[str]:
        return self.txn.due(now, limit)

    def open_on_asset(self, asset: str) -> list[str]:
        return self.txn.open_on_asset(asset)

    def asset_deleted(self, asset: str) -> bool:
        return self.txn.asset_deleted(asset)

    def save(self, changes: Changes) -> None:
        self.txn.save(changes)

    def save_last(self, changes: Changes) -> None:
        self.held = changes


class DeferringStore(MemoryStore):
    """Commits a transaction's last save at its end; with ``interlude`` set, runs it
    there instead (another desk's command) and fails the commit with a conflict."""

    interlude: Callable[[], Any] | None = None

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        return self._deferred(write)

    @contextmanager
    def _deferred(self, write: bool) -> Iterator[StoreTransaction]:
        with super().transaction(write=write) as txn:
            deferred = _Deferred(txn)
            yield deferred
            if deferred.held is not None:
                interlude, self.interlude = self.interlude, None
                if interlude is not None:
                    interlude()
                    raise ConcurrencyConflict("another desk committed first")
                txn.save_last(deferred.held)


def _active_chat(desk: Desk) -> str:
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    desk.accept("jana", chat)
    return chat


def test_a_save_whose_commit_failed_is_not_the_desks_own() -> None:
    """The lagging desk's ``end`` fails to commit: the other desk, ahead in time, ended
    the chat first, committing the very version the lagging desk had saved. The retry is
    refused; the lagging desk's next command must still be held at the other's time."""
    store = DeferringStore()
    lagging = Desk(store=store, clock=ManualClock(T0))
    chat = _active_chat(lagging)
    other = Desk(store=store, clock=ManualClock(T0 + 600))
    store.interlude = lambda: other.end("jana", chat)
    with pytest.raises(LivechatError):
        lagging.end("jana", chat)  # retried after the conflict, then refused: ended
    lagging.submit_wrap_up("jana", chat, "Resolved")
    events = lagging.events(chat)
    assert events[-1].at == T0 + 600
    assert _in_order(events)


def test_a_rolled_back_block_leaves_no_record_the_desks_own() -> None:
    """The lagging desk ends the chat in a ``batch()`` block that rolls back; the other
    desk, ahead in time, then ends it, committing the same version. The lagging desk's
    wrap-up must be held at the other's time."""
    store = MemoryStore()
    lagging = Desk(store=store, clock=ManualClock(T0))
    chat = _active_chat(lagging)

    def rolled_back() -> None:
        with lagging.batch():
            lagging.end("jana", chat)
            raise InvalidArgument("roll the block back")

    with pytest.raises(InvalidArgument):
        rolled_back()
    other = Desk(store=store, clock=ManualClock(T0 + 600))
    other.end("jana", chat)
    lagging.submit_wrap_up("jana", chat, "Resolved")
    events = lagging.events(chat)
    assert events[-1].at == T0 + 600
    assert _in_order(events)


def test_a_desk_does_not_read_what_it_committed_itself() -> None:
    """The short way is taken: after its own commits, a desk's command reads the chat
    once (the decision's read), not a second time for the time floor."""
    desk = Desk(clock=ManualClock(T0))
    chat = _active_chat(desk)
    store = desk.store
    assert isinstance(store, MemoryStore)
    reads: list[str] = []
    conversation = memory._MemoryTransaction.conversation

    def counted(txn: memory._MemoryTransaction, conversation_id: str) -> Conversation | None:
        reads.append(conversation_id)
        return conversation(txn, conversation_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory._MemoryTransaction, "conversation", counted)
        desk.send_agent_message("jana", chat, "Hello")
    assert reads.count(chat) == 1
