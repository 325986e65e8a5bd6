"""Detectors of one's own kinds and mask styles (issue 11 item 4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import regex

from livechat_core import Detector, InvalidArgument, MaskingPolicy, find_sensitive, mask_text

# A Czech passport number: eight digits after the word "pas" / "passport".
_PASSPORT = regex.compile(r"(?i)(?<=\b(?:pas|passport)(?: no\.?)?:?\s)\d{8}(?!\d)")


def find_passports(text: str) -> Iterator[tuple[int, int]]:
    for match in _PASSPORT.finditer(text):
        yield match.start(), match.end()


PASSPORTS = Detector(kind="passport", find=find_passports)


def test_a_detector_of_ones_own_adds_a_kind() -> None:
    policy = MaskingPolicy(detectors=(PASSPORTS,))
    text = "passport 45123456, mail jana@example.cz"
    assert [f.kind for f in find_sensitive(text, policy)] == ["passport", "email"]
    assert mask_text(text, policy) == "passport ****3456, mail j***@example.cz"
    # the kind can be chosen like a built-in one
    only = MaskingPolicy(kinds={"passport"}, detectors=(PASSPORTS,))
    assert mask_text(text, only) == "passport ****3456, mail jana@example.cz"


def test_a_detector_may_bring_its_own_mask() -> None:
    hidden = Detector(kind="passport", find=find_passports, mask=lambda item: "▒" * len(item))
    assert mask_text("pas 45123456", MaskingPolicy(detectors=(hidden,))) == "pas ▒▒▒▒▒▒▒▒"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
        ("mail jana@example.cz", "mail [EMAIL]"),
        ("call +420 603 123 456", "call [PHONE]"),
        ("IBAN CZ65 0800 0000 1920 0014 5399", "IBAN [IBAN]"),
        ("pas 45123456", "pas [PASSPORT]"),
    ],
)
def test_the_label_style(text: str, expected: str) -> None:
    policy = MaskingPolicy(style="label", detectors=(PASSPORTS,))
    assert mask_text(text, policy) == expected
    assert mask_text(expected, policy) == expected


def test_the_token_style_is_keyed_and_stable() -> None:
    key = b"0123456789abcdef-secret"
    policy = MaskingPolicy(style="token", token_key=key)
    first = mask_text("card 4111 1111 1111 1111", policy)
    again = mask_text("card 4111-1111-1111-1111", policy)
    other_key = mask_text(
        "card 4111 1111 1111 1111", MaskingPolicy(style="token", token_key=b"x" * 16)
    )
    assert first == again
    assert first != other_key
    assert regex.fullmatch(r"card \[CARD:[a-p]{12}\]", first)
    assert mask_text(first, policy) == first


@pytest.mark.parametrize(
    "arguments",
    [
        {"style": "hash"},
        {"style": "token"},
        {"style": "token", "token_key": b"short"},
        {"token_key": b"0123456789abcdef"},
        {"kinds": {"passport"}},
        {"detectors": [object()]},
        {"detectors": [PASSPORTS, PASSPORTS]},
    ],
)
def test_an_invalid_policy_is_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        MaskingPolicy(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["card", "Passport", "", "a b"])
def test_a_detector_needs_a_name_of_its_own(kind: str) -> None:
    with pytest.raises(InvalidArgument):
        Detector(kind=kind, find=find_passports)
