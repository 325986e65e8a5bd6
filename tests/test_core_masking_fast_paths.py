"""The masking shortcuts of the decide path give exactly what the full path gives.

Issue 9 (per-command cost): masking at rest runs on every text a lifecycle stores, and most
of it holds no card. ``mask_text`` with the desk's default policy (cards only) returns a
text unchanged when one C-level match proves the finders find no card in it
(``_holds_no_card``); ``number_tail_start`` answers at once for a text ending with an ASCII
character that is neither a digit nor a separator; the customer-text scrubber skips the walk
over earlier messages when the record keeps none. Each property compares a shortcut with the
full path written out.
"""

from __future__ import annotations

import unicodedata

import pytest
from faker import Faker
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livechat_core import _masking, _pci
from livechat_core._errors import InvalidArgument
from livechat_core._masking import (
    _CARDS_ONLY,
    _TAIL_CHAR,
    _TAIL_LIMIT,
    _apply,
    _find_in,
    _holds_no_card,
    mask_text,
    number_tail_start,
)
from livechat_core._model import Conversation, Message, Role
from livechat_core._pci import CARDS_ONLY, CustomerTextScrubber
from livechat_core._pii_strategies import chat_texts, messages_with_item

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ASCII dense in what the screen looks at: digits, look-alikes, "&" and entities, the weak
# separators, number words; and a few characters outside ASCII that normalise to digits
tricky = st.lists(
    st.sampled_from(
        [
            *"0123456789OolI &|,.-/#;+",
            "&sup1;",
            "&#52;",
            "&amp;",
            "one ",
            "four ",
            "tri ",
            "nine-",
            "Hello ",
            "card ",
            "\u00b9",
            "\u0663",
            "\uff17",
            "\u200b",
            "\u00a0",
        ]
    ),
    max_size=40,
).map("".join)


def full_mask(text: str) -> str:
    """``mask_text`` by the full path: find, then mask (no screen before it)."""
    normal, candidates = _find_in(text, _CARDS_ONLY)
    return _apply(text, normal, candidates, _CARDS_ONLY)


def plain_tail_start(text: str) -> int:
    """``number_tail_start`` as written before its shortcut: the pattern on every character."""
    position = len(text)
    floor = max(0, len(text) - _TAIL_LIMIT)
    first_digit = len(text)
    while position > floor and _TAIL_CHAR.match(text[position - 1]):
        position -= 1
        if unicodedata.decimal(text[position], None) is not None:
            first_digit = position
    if first_digit < len(text) and first_digit > 0 and text[first_digit - 1] in "+＋":
        first_digit -= 1
    return first_digit


# A card of 13 digits written with 7 digits and 6 look-alikes ("l" for 1, "O" for 0): the
# most look-alikes a token of 7 digits may hold. With a screen that let 7 digits pass, it
# would be stored unmasked.
LOOKALIKE_CARD = "card 4l2O3l4O5l6O0 thanks"
# A card spelled out: no digit at all, and longer than the shortest spelled card.
SPELLED_CARD = "four one one one one one one one one one one one one one one one"
# A card whose digits but one are entities ("&sup1;" is a superscript one): ASCII with one digit.
ENTITY_CARD = "pay 4" + "&sup1;" * 15 + " ok"


@pytest.mark.parametrize("text", [LOOKALIKE_CARD, SPELLED_CARD, ENTITY_CARD])
def test_the_screen_lets_through_every_card_that_hides_from_it(text: str) -> None:
    assert full_mask(text) != text  # (the full path finds a card here)
    assert not _holds_no_card(text)
    assert mask_text(text, _CARDS_ONLY) == full_mask(text)


def test_the_desk_default_policy_is_the_screened_one() -> None:
    assert CARDS_ONLY is _CARDS_ONLY
    assert _masking.MaskingPolicy(kinds=frozenset({"card"})) == CARDS_ONLY


@FAST
@given(text=st.one_of(tricky, chat_texts(), st.text(max_size=60)))
@example(LOOKALIKE_CARD)
@example(SPELLED_CARD)
@example(ENTITY_CARD)
@example("Customer 123")
@example("customer@example.com")
def test_mask_text_with_the_screen_is_the_full_path(text: str) -> None:
    if _holds_no_card(text):
        assert _find_in(text, _CARDS_ONLY)[1] == []
    assert mask_text(text, _CARDS_ONLY) == full_mask(text)


@FAST
@given(message=messages_with_item("card"))
def test_no_generated_card_passes_the_screen(message: object) -> None:
    text = message.text  # type: ignore[attr-defined]
    assert not _holds_no_card(text)
    assert mask_text(text, _CARDS_ONLY) == full_mask(text)


def test_faker_text_is_masked_as_by_the_full_path() -> None:
    fake = Faker(["en_US", "cs_CZ"])
    fake.seed_instance(9)
    texts = [fake.sentence() for _ in range(100)]
    texts += [fake.credit_card_number() for _ in range(50)]
    texts += [f"my card is {fake.credit_card_number()}, thanks" for _ in range(50)]
    texts += [fake.name() for _ in range(50)] + [fake.email() for _ in range(50)]
    texts += [fake.phone_number() for _ in range(50)] + [fake.address() for _ in range(50)]
    for text in texts:
        assert mask_text(text, _CARDS_ONLY) == full_mask(text), text


def test_the_screen_is_for_str_only() -> None:
    class Text(str):
        pass

    assert mask_text(Text("4111 1111 1111 1111"), _CARDS_ONLY) == "************1111"
    with pytest.raises(InvalidArgument):
        mask_text(b"hello", _CARDS_ONLY)  # type: ignore[arg-type]


@FAST
@given(text=st.one_of(tricky, chat_texts(), st.text(max_size=30)))
@example("")
@example("call me at 555.")
@example("ok?")
@example("+")
@example("number 1234")
def test_number_tail_start_is_the_pattern_walk(text: str) -> None:
    assert number_tail_start(text) == plain_tail_start(text)


def test_the_characters_that_end_no_number_are_those_the_pattern_refuses() -> None:
    refused = {chr(c) for c in range(128) if _TAIL_CHAR.match(chr(c)) is None}
    assert refused == _masking._NEVER_IN_TAIL
    assert not {".", "7", " "} & refused


def _conversation(*texts: tuple[Role, str]) -> Conversation:
    messages = tuple(
        Message(id=f"c/{n}", role=role, author="x", text=text, at=0.0, initials="")
        for n, (role, text) in enumerate(texts, 1)
    )
    return Conversation(
        id="c",
        queue="q",
        asset="",
        customer_name="x",
        customer_contact="",
        proactive=False,
        started_at=0.0,
        messages=messages,
        message_count=len(messages),
    )


@FAST
@given(
    earlier=st.lists(st.tuples(st.sampled_from(list(Role)), tricky), max_size=3),
    text=st.one_of(tricky, chat_texts()),
)
@example(earlier=[], text=LOOKALIKE_CARD)
@example(earlier=[(Role.CUSTOMER, "4111 1111")], text="1111 1111")
def test_the_customer_text_scrubber_is_the_walk_and_the_full_mask(
    earlier: list[tuple[Role, str]], text: str
) -> None:
    conversation = _conversation(*earlier)
    got = CustomerTextScrubber()(conversation, text)
    if not earlier:
        assert got == (full_mask(text), ())
    assert got == _pci.scrub_customer_text(conversation, text)
    # the walk over earlier messages, with the full mask of an unchained text
    chain, _ = _pci._chain(conversation.messages)
    if not chain:
        assert got == (full_mask(text), ())
