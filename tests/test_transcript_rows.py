"""Messages are appended rows: the conversation record keeps only what masking needs.

The record a store keeps (and a decision reads) holds the newest messages that masking
at rest of the next customer message may look back over; the whole transcript is one row
per message. These tests check that the window loses nothing masking needs, and that the
record stays small however long the chat is.
"""

from __future__ import annotations

import pathlib

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livechat_core import Desk, MemoryStore, SqliteStore
from livechat_core._model import Conversation, Message, Role
from livechat_core._pci import CARDS_ONLY, recent_window, scrub_customer_text
from livechat_core.ports import Store

T0 = 1_700_000_000.0

_PIECES = st.one_of(
    st.text("0123456789", min_size=1, max_size=6),  # a part of a number
    st.sampled_from(["wait", "sorry", "ok", "4111 1111", "1111 1111", "card: 4111"]),
    st.text("abc 0123456789-", max_size=12),
    st.sampled_from(["a much longer line of chat that talks about something else"]),
)
_LINES = st.lists(st.tuples(st.sampled_from([Role.CUSTOMER, Role.AGENT]), _PIECES), max_size=60)


def _conversation(lines: list[tuple[Role, str]]) -> Conversation:
    messages = tuple(
        Message(id=f"c/{n}", role=role, author="x", text=text, at=T0 + n, initials="X")
        for n, (role, text) in enumerate(lines, 1)
    )
    return Conversation(
        id="c",
        queue="support",
        asset="livechat",
        customer_name="Karel",
        customer_contact="",
        proactive=False,
        started_at=T0,
        messages=messages,
        message_count=len(messages),
    )


@settings(max_examples=300)
@given(_LINES, _PIECES)
def test_masking_the_next_message_reads_nothing_before_the_window(
    lines: list[tuple[Role, str]], text: str
) -> None:
    whole = _conversation(lines)
    keep = recent_window(whole.messages)
    window = attrs.evolve(whole, messages=whole.messages[len(whole.messages) - keep :])
    assert scrub_customer_text(window, text, CARDS_ONLY) == scrub_customer_text(
        whole, text, CARDS_ONLY
    )


@settings(max_examples=200)
@given(_LINES, _LINES)
def test_the_window_after_more_messages_reads_no_further_back(
    first: list[tuple[Role, str]], then: list[tuple[Role, str]]
) -> None:
    # What a record trimmed after ``first`` dropped is never needed later.
    whole = _conversation([*first, *then])
    dropped = len(first) - recent_window(whole.messages[: len(first)])
    for end in range(len(first), len(whole.messages) + 1):
        assert end - recent_window(whole.messages[:end]) >= dropped


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Store:
    if request.param == "memory":
        return MemoryStore()
    return SqliteStore(tmp_path / "desk.db")


def test_a_long_chat_keeps_a_small_record_and_the_whole_transcript(store: Store) -> None:
    clock = iter(range(10**6))
    desk = Desk(store=store, clock=lambda: T0 + next(clock), new_id=lambda: "chat")
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "")
    desk.accept("jana", chat)
    for n in range(150):
        desk.send_customer_message(chat, f"question {n}?")
        desk.send_agent_message("jana", chat, f"answer {n}")
    desk.send_customer_message(chat, "my card is 4111 1111")
    desk.send_customer_message(chat, "wait")
    desk.send_customer_message(chat, "1111 1111")
    with store.transaction(write=False) as txn:
        record = txn.conversation(chat)
    assert record is not None
    assert record.message_count == 303
    assert len(record.messages) <= 3
    view = desk.conversation(chat)
    assert len(view.messages) == 303
    assert [m.id for m in view.messages] == [f"chat/{n}" for n in range(1, 304)]
    assert view.messages[0].text == "question 0?"
    assert [m.text for m in view.messages[-3:]] == ["my card is ********", "wait", "****1111"]
    assert list(view.messages) == store.transcript(chat)
    assert desk.offers("jana") == []
