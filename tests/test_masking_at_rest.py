"""Masking at rest and in exports (SPEC section 6, issue 11 item 2; issue 15 item 5).

A card completed across any number of consecutive customer messages is redacted in the store
(a real SQLite file, searched byte by byte), the views and the outbox; short lines between its
parts do not hide it; a desk setting masks every kind at rest; the display masks a split card
whatever ``pci_at_rest`` says; customer messages are capped.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from livechat_core import Desk, MaskingPolicy, MessageTooLong, SqliteStore
from livechat_core.__main__ import main
from livechat_core.events import MessagePosted

CARD = "4111111111111111"


def _files_containing(directory: pathlib.Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in directory.iterdir():
        data = path.read_bytes()
        found += [f"{path.name}: {needle!r}" for needle in needles if needle in data]
    return found


def _stored_digits(desk: Desk, chat: str) -> str:
    """Every digit of every stored customer message, in order."""
    texts = [m.text for m in desk.conversation(chat).messages if m.role == "customer"]
    return "".join(c for c in "".join(texts) if c.isdigit())


def _sqlite_desk(tmp_path: pathlib.Path, **options: object) -> tuple[Desk, SqliteStore, str]:
    store = SqliteStore(tmp_path / "desk.db")
    # A fixed clock and id: the file is searched for digits such as "4111", which a wall-clock
    # timestamp (1796189120.1411133) or a random hex id holds now and then by chance.
    desk = Desk(
        store=store,
        clock=lambda: 1_700_000_000.0,
        new_id=lambda: "chat-a",
        **options,  # type: ignore[arg-type]
    )
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    return desk, store, chat


def test_a_card_sent_one_digit_per_message_leaves_no_trace_in_the_file(
    tmp_path: pathlib.Path,
) -> None:
    desk, store, chat = _sqlite_desk(tmp_path)
    try:
        desk.send_customer_message(chat, "ok here is my card")
        for digit in CARD:
            desk.send_customer_message(chat, digit)
        # only the last four digits of the card are left anywhere
        assert _stored_digits(desk, chat) == "1111"
    finally:
        store.close()
    assert _files_containing(tmp_path, [CARD[:6].encode(), b"4\n1", b'"4"']) == []


@pytest.mark.parametrize(
    "parts",
    [
        ["4111 1111", "wait", "1111 1111"],
        ["card 4111", "1111", "sorry", "one sec", "1111", "1111 thanks"],
        ["41", "11", "11", "11", "11", "11", "11", "11"],
        ["4111-1111-", "1111-1111"],
        ["4111 1111 1111", "hmm", "oops", "1111"],
        ["5555", "5555", "5555", "4444 exp 12/29"],
    ],
)
def test_a_card_split_with_chat_lines_between_its_parts_is_redacted(
    tmp_path: pathlib.Path, parts: list[str]
) -> None:
    desk, store, chat = _sqlite_desk(tmp_path)
    try:
        for part in parts:
            desk.send_customer_message(chat, part)
        digits = _stored_digits(desk, chat)
        assert len(digits.replace("1229", "").replace("29", "")) <= 4, digits
        outbox = [e for e in desk.events(chat) if isinstance(e, MessagePosted)]
        assert not any("4111" in e.message.text or "5555" in e.message.text for e in outbox)
    finally:
        store.close()
    assert _files_containing(tmp_path, [b"4111", b"5555"]) == []


def test_unrelated_numbers_in_a_conversation_are_left_alone() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    for text in ("order 1234", "it was 2 items", "delivered on 12. 3.", "room 42"):
        desk.send_customer_message(chat, text)
    texts = [m.text for m in desk.conversation(chat).messages]
    assert texts == ["order 1234", "it was 2 items", "delivered on 12. 3.", "room 42"]


def test_a_split_card_is_masked_on_display_with_pci_at_rest_off() -> None:
    desk = Desk(pci_at_rest=False)
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    desk.send_customer_message(chat, "card 4111 1111")
    desk.send_customer_message(chat, "1111 1111 thanks")
    surfaces = desk.surfaces(chat)
    assert surfaces.message_preview == "****1111 thanks"
    for text in (surfaces.message_preview, surfaces.desktop_notification):
        assert "1111 1111" not in text


def test_every_kind_can_be_masked_at_rest_authors_included(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "desk.db")
    try:
        desk = Desk(store=store, mask_at_rest=MaskingPolicy())
        desk.add_queue("support", ["Resolved"])
        chat = desk.start_chat("support", "+420 603 123 456", "+420603123456")
        desk.send_customer_message(chat, "mail me at jana.novakova@example.cz")
        desk.send_customer_message(chat, "IBAN CZ65 0800 0000 1920 0014 5399")
        view = desk.conversation(chat)
        assert view.customer_name == "*********3456"
        assert [m.author for m in view.messages] == ["*********3456"] * 2
        assert view.messages[0].text == "mail me at j************@example.cz"
        assert view.messages[1].text == "IBAN ********************5399"
    finally:
        store.close()
    assert _files_containing(tmp_path, [b"603123456", b"603 123", b"novakova", b"0800"]) == []


def test_a_customer_message_longer_than_the_cap_is_refused() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    desk.send_customer_message(chat, "x" * 10_000)
    with pytest.raises(MessageTooLong) as caught:
        desk.send_customer_message(chat, "x" * 10_001)
    assert caught.value.code == "message_too_long"
    assert len(desk.conversation(chat).messages) == 1
    small = Desk(max_customer_message_length=20)
    small.add_queue("support", ["Resolved"])
    other = small.start_chat("support", "Karel", "karel@example.com")
    with pytest.raises(MessageTooLong):
        small.send_customer_message(other, "a" * 21)


def test_simulate_events_are_masked_unless_asked_otherwise(tmp_path: pathlib.Path) -> None:
    masked = tmp_path / "masked.jsonl"
    clear = tmp_path / "clear.jsonl"
    common = ["simulate", "--minutes", "30", "--seed", "3", "--db", ":memory:"]
    assert main([*common, "--events", str(masked)]) == 0
    assert main([*common, "--events", str(clear), "--unmasked-events"]) == 0
    from livechat_core import find_sensitive

    def findings(path: pathlib.Path) -> int:
        total = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)["data"]
            for key in ("text", "customer_name", "customer_contact"):
                value = data.get(key) or (data.get("message") or {}).get(key)
                if isinstance(value, str):
                    total += len(find_sensitive(value))
        return total

    assert findings(clear) > 0
    assert findings(masked) == 0


def test_mask_jsonl_refuses_a_field_the_records_do_not_have(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"text": "card 4111 1111 1111 1111"}) + "\n", encoding="utf-8")
    assert main(["mask", str(path), "--format", "jsonl", "--field", "message"]) == 2
    captured = capsys.readouterr()
    assert "4111" not in captured.out
    assert "no field 'message'" in captured.err
    assert "'text'" in captured.err
