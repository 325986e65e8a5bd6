"""A desk refuses a store set up with other settings (issue 15, item 5, second half).

Two desks on one file with different ``pci_at_rest`` used to leave a whole card number
stored by the one that did not mask. The first desk records the settings that change
what is stored; a desk with other ones gets ``SettingsMismatch`` unless it is told to
take the store's (``adopt_stored_settings=True``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from livechat_core import Desk, MaskingPolicy, MemoryStore, SettingsMismatch, SqliteStore
from livechat_core.ports import Store

CARD = "4111 1111 1111 1111"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens the same store again each call (a new object on the same file or database)."""
    opened: list[Store] = []
    if request.param == "memory":
        shared = MemoryStore()

        def make() -> Store:
            return shared
    elif request.param == "sqlite":

        def make() -> Store:
            store = SqliteStore(tmp_path / "desk.db")
            opened.append(store)
            return store
    else:
        if not os.environ.get("LIVECHAT_TEST_POSTGRES"):
            pytest.skip("LIVECHAT_TEST_POSTGRES is not set")
        dsn = request.getfixturevalue("postgres_dsn")
        from livechat_core.adapters.postgres import PostgresStore

        def make() -> Store:
            store = PostgresStore(dsn)
            opened.append(store)
            return store

    yield make
    for store in opened:
        store.close()


def test_a_desk_that_would_store_cards_unmasked_is_refused(
    open_store: Callable[[], Store],
) -> None:
    first = Desk(store=open_store())
    first.add_queue("support", ["Resolved"])
    with pytest.raises(SettingsMismatch) as caught:
        Desk(store=open_store(), pci_at_rest=False)
    assert caught.value.code == "settings_mismatch"
    assert caught.value.details["stored"]["pci_at_rest"] == "on"
    assert caught.value.details["own"]["pci_at_rest"] == "off"
    # The same settings open it again.
    again = Desk(store=open_store())
    assert [q.name for q in again.queues()] == ["support"]


def test_a_desk_told_to_adopt_takes_the_stored_settings(open_store: Callable[[], Store]) -> None:
    first = Desk(store=open_store())
    first.add_queue("support", ["Resolved"])
    chat = first.start_chat("support", "Karel", "k@example.com")
    adopting = Desk(store=open_store(), pci_at_rest=False, locale="cs", adopt_stored_settings=True)
    assert adopting.pci_at_rest
    assert adopting.locale == "en"
    adopting.send_customer_message(chat, f"my card {CARD}")
    stored = adopting.conversation(chat).messages[-1].text
    assert "4111 1111 1111 1111" not in stored
    assert stored.endswith("1111")
    assert [e.type for e in adopting.events(chat)][-1] == "MessagePosted"


def test_a_store_set_up_without_masking_keeps_that_setting(
    open_store: Callable[[], Store],
) -> None:
    """The first desk decides, whichever way: a vault-backed desk that stores cards in
    clear is not joined by one that would mask half of them."""
    first = Desk(store=open_store(), pci_at_rest=False)
    first.add_queue("support", ["Resolved"])
    with pytest.raises(SettingsMismatch):
        Desk(store=open_store())
    adopting = Desk(store=open_store(), adopt_stored_settings=True)
    assert not adopting.pci_at_rest
    chat = adopting.start_chat("support", "Karel", "k@example.com")
    adopting.send_customer_message(chat, f"my card {CARD}")
    assert adopting.conversation(chat).messages[-1].text == f"my card {CARD}"


@pytest.mark.parametrize(
    "other",
    [
        {"locale": "cs"},
        {"mask_at_rest": MaskingPolicy()},
        {"mask_at_rest": MaskingPolicy(kinds=frozenset({"card"}), keep_card_bin=True)},
    ],
    ids=["locale", "every-kind-at-rest", "card-bin-kept"],
)
def test_other_stored_settings_are_refused_too(
    open_store: Callable[[], Store], other: dict[str, object]
) -> None:
    Desk(store=open_store())
    with pytest.raises(SettingsMismatch):
        Desk(store=open_store(), **other)  # type: ignore[arg-type]


def test_settings_that_change_nothing_stored_may_differ(open_store: Callable[[], Store]) -> None:
    """The display policy and the message cap are each desk's own: no data depends on them."""
    Desk(store=open_store())
    other = Desk(
        store=open_store(), masking=MaskingPolicy(enabled=False), max_customer_message_length=50
    )
    assert other.queues() == []


def test_the_first_of_two_new_desks_wins_on_a_file(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db") as first, SqliteStore(tmp_path / "a.db") as second:
        assert first.claim_settings({"locale": "cs"}) == {"locale": "cs"}
        assert second.claim_settings({"locale": "en"}) == {"locale": "cs"}
