"""Exports are masked by the desk's policy unless asked otherwise (issue 11 item 2).

Every path that writes a transcript or events out of the desk: the record of an archived
conversation (``Desk.archive`` → ``ArchivedConversation.to_record``) and the ``simulate
--events`` file. Masked by default, by the desk's own policy; clear only on request.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from livechat_core import Desk, MaskingPolicy, find_sensitive
from livechat_core._cli import main
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import ArchivedConversation

T0 = 1_700_000_000.0
PHONE = "+420 603 123 456"
SECRETS = ("603 123 456", "603123456", "jana.novakova", "CH93", "0076 2011", "6238 5295")


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, string) of a JSON-ready value."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, name)


def _archived(tmp_path: pathlib.Path, masking: MaskingPolicy | None = None) -> ArchivedConversation:
    now = [T0]
    store = SqliteStore(tmp_path / "desk.db")
    try:
        desk = Desk(store=store, clock=lambda: now[0], masking=masking)
        desk.add_queue("support", ["Resolved"])
        desk.login("ann", "Ann", ["support"])
        desk.set_available("ann")
        chat = desk.start_chat("support", PHONE, "jana.novakova@example.cz")
        desk.accept("ann", chat)
        desk.send_customer_message(chat, f"call me on {PHONE} or jana.novakova@example.cz")
        desk.send_customer_message(chat, "my IBAN is CH93 0076 2011")
        desk.send_agent_message("ann", chat, "go on")
        desk.send_customer_message(chat, "6238 5295 7")
        desk.send_customer_message(chat, "card 4111 1111")
        desk.send_customer_message(chat, "1111 1111")
        desk.end("ann", chat)
        desk.submit_wrap_up("ann", chat, "Resolved")
        now[0] += 3600
        (archived,) = desk.archive(now[0])
        return archived
    finally:
        store.close()


def test_an_archived_transcript_is_masked_by_the_desks_policy(tmp_path: pathlib.Path) -> None:
    archived = _archived(tmp_path)
    record = archived.to_record()
    dumped = json.dumps(record, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in dumped, secret
    for key, value in _strings(record):
        if not key.endswith("id") and key not in ("type", "aggregate"):
            assert find_sensitive(value) == [], (key, value)
    conversation: Any = record["conversation"]
    assert conversation["customer_name"] == "*********3456"
    assert conversation["customer_contact"] == "j************@example.cz"
    texts = [m["text"] for m in conversation["messages"]]
    assert texts[0] == "call me on *********3456 or j************@example.cz"
    # the IBAN split over two customer messages, an agent line between: masked in both parts
    assert texts[1] == "my IBAN is ************"
    assert texts[2] == "go on"
    assert texts[3] == "*****2957"
    assert texts[4:] == ["card ********", "****1111"]  # masked at rest already
    authors = {m["role"]: m["author"] for m in conversation["messages"]}
    assert authors == {"customer": "*********3456", "agent": "ann"}
    # ids and the desk's own values are kept: the records still refer to each other
    assert conversation["id"] == archived.conversation.id
    assert [m["id"] for m in conversation["messages"]] == [
        m.id for m in archived.conversation.messages
    ]
    events: Any = record["events"]
    assert [e["id"] for e in events] == [e.id for e in archived.events]
    posted = [e["data"]["message"]["text"] for e in events if e["type"] == "MessagePosted"]
    assert posted == texts  # each event reads as the transcript does


def test_clear_text_only_when_asked_and_it_loads_back_unchanged(tmp_path: pathlib.Path) -> None:
    archived = _archived(tmp_path)
    clear = archived.to_record(clear=True)
    dumped = json.dumps(clear, ensure_ascii=False)
    assert PHONE in dumped
    assert "CH93 0076 2011" in dumped
    assert "4111 1111" not in dumped  # a card is masked at rest whatever the export
    assert ArchivedConversation.from_record(clear) == archived
    masked = ArchivedConversation.from_record(archived.to_record())
    assert masked.conversation.id == archived.conversation.id
    assert PHONE not in masked.conversation.customer_name


def test_the_desks_own_policy_decides_what_is_masked(tmp_path: pathlib.Path) -> None:
    cards_and_phones = MaskingPolicy(kinds={"card", "phone"})
    record = _archived(tmp_path, masking=cards_and_phones).to_record()
    conversation: Any = record["conversation"]
    assert conversation["customer_contact"] == "jana.novakova@example.cz"
    assert (
        conversation["messages"][0]["text"]
        == "call me on *********3456 or jana.novakova@example.cz"
    )
    assert conversation["customer_name"] == "*********3456"


def test_a_desk_with_masking_off_exports_as_stored(tmp_path: pathlib.Path) -> None:
    archived = _archived(tmp_path, masking=MaskingPolicy(enabled=False))
    assert archived.to_record() == archived.to_record(clear=True)


@pytest.fixture
def events_files(tmp_path: pathlib.Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    masked = tmp_path / "masked.jsonl"
    clear = tmp_path / "clear.jsonl"
    common = ["simulate", "--minutes", "20", "--seed", "5", "--db", ":memory:"]
    assert main([*common, "--events", str(masked)]) == 0
    assert main([*common, "--events", str(clear), "--unmasked-events"]) == 0

    def read(path: pathlib.Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    return read(masked), read(clear)


def test_simulate_events_keep_ids_and_mask_every_customer_text(
    events_files: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    masked, clear = events_files
    assert len(masked) == len(clear)
    changed = 0
    for ours, theirs in zip(masked, clear, strict=True):
        assert {k: v for k, v in ours.items() if k != "data"} == {
            k: v for k, v in theirs.items() if k != "data"
        }
        for key, value in _strings(ours["data"]):
            if key.endswith("id"):
                continue
            assert find_sensitive(value) == [], (key, value)
        changed += ours != theirs
        for (key, value), (_, original) in zip(
            _strings(ours["data"]), _strings(theirs["data"]), strict=True
        ):
            if key.endswith(("_id", "_ids")) or key == "id":
                assert value == original
    assert changed > 0  # the simulated customers do send numbers and addresses
