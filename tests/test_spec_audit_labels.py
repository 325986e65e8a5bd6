"""SPEC 6: "a label before a number ("account", "účet", "card", "SSN", "order") may change
which kind a number is read as, never cancel masking of a number that is otherwise a kind".

A serial-number word (IMEI, EAN, SN, serial, tracking, SKU…) may rule out a card only when it
labels the number; the label's gap stops at a comma. It did not: the card finder checked the
gap on the normalised text, where a comma is the weak separator U+E000, so "tracking, my
card 4111 1111 1111 1111" leaked the card (found by this audit and by the docs' property
test, "SN, prosím: 4000000000006"; fixed in 3293b01).
"""

from __future__ import annotations

import pytest

from livechat_core import find_sensitive, mask_text

CARDS = ["4111 1111 1111 1111", "4111111111111111", "4000000000006", "5555 5555 5555 4444"]
BEFORE = [
    "SN, prosím: ",
    "Hi SN, my card: ",
    "tracking, my card ",
    "IMEI, karta ",
    "The SKU, card ",
    "ean, card ",
]


@pytest.mark.parametrize("before", BEFORE)
def test_a_serial_word_before_a_comma_does_not_cancel_a_card(before: str) -> None:
    for card in CARDS:
        text = before + card + " díky"
        assert card not in mask_text(text), text
        assert ("card", card) in [(f.kind, text[f.start : f.end]) for f in find_sensitive(text)]


@pytest.mark.parametrize("label", ["IMEI ", "SN: ", "serial no. "])
def test_a_serial_label_right_before_a_number_still_rules_out_a_card(label: str) -> None:
    # the team's decision (docs/decisions.md, masking): IMEIs are Luhn-valid by design, so
    # a 15-digit number labelled so is not a card; a 16-digit card after the label still is
    assert mask_text(label + "490154203237518") == label + "490154203237518"


def test_a_serial_label_does_not_cancel_a_card_of_another_length() -> None:
    assert mask_text("IMEI: 4111111111111111") == "IMEI: ************1111"
