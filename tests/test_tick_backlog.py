"""A tick fires every expired deadline, however many are due (SPEC section 4).

The core reads due conversations from the store in batches; a small batch here stands in
for a backlog larger than one batch (a desk reopened after a long outage).
"""

from __future__ import annotations

import pytest

from livechat_core import Desk, _core


def test_one_tick_fires_a_backlog_larger_than_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "_DUE_BATCH", 2)
    now = 1_000.0
    desk = Desk(clock=lambda: now)
    desk.add_queue("support", ["Resolved"])
    desk.login("a", "Alice Adams", ["support"], capacity=7)
    desk.set_available("a")
    chats = [desk.start_chat("support", f"Customer {n}", "") for n in range(7)]
    assert len(desk.offers("a")) == 7
    fired = desk.tick(now + 30)
    assert {event.aggregate_id for event in fired} >= {*chats, "a"}
    assert [desk.conversation(chat).state for chat in chats] == ["queued"] * 7
    assert [desk.conversation(chat).legs[0].state for chat in chats] == ["timed_out"] * 7
    assert desk.agent("a").state == "rona"
    assert desk.tick(now + 60) == []
