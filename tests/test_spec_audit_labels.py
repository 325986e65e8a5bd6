"""SPEC 6: "a label before a number ("account", "účet", "card", "SSN", "order") may change
which kind a number is read as, never cancel masking of a number that is otherwise a kind".

A serial-number word (IMEI, EAN, SN, serial, tracking, SKU…) cancels a card, as the team
decided, but only when it labels the number; ``_LABEL_GAP`` stops at a comma. The card
finder checks the gap on the *normalised* text, where a comma has become the weak separator
U+E000, so a comma no longer stops it: "tracking, my card 4111 1111 1111 1111" leaks the card.
(The library's own docs property test, docs/testing.md, found "SN, prosím: 4000000000006".)
The fix is in ``_masking.py`` (helper "mask-audit"'s file right now): see /work/coord/notes.md
under "## spec-audit".
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


@pytest.mark.xfail(
    strict=True,
    reason="_masking._card_candidates checks the label gap on the normalised text, where a "
    "comma is U+E000 and no longer ends the gap",
)
@pytest.mark.parametrize("before", BEFORE)
def test_a_serial_word_before_a_comma_does_not_cancel_a_card(before: str) -> None:
    for card in CARDS:
        text = before + card + " díky"
        assert card not in mask_text(text), text
        assert ("card", card) in [(f.kind, text[f.start : f.end]) for f in find_sensitive(text)]


@pytest.mark.parametrize("label", ["IMEI ", "SN: ", "serial no. "])
def test_a_serial_label_right_before_a_number_still_rules_out_a_card(label: str) -> None:
    # the team's decision (docs/decisions.md, masking): IMEIs are Luhn-valid by design
    assert mask_text(label + "490154203237518") == label + "490154203237518"
