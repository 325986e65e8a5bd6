"""The screening of masking (``_masking.may_hold``) changes no result, and is tight enough.

Most chat lines cannot hold an item of the kinds the at-rest policy masks: masking returns
them at once, without running the finders. These properties compare every public result with
the full path (the same code with the screening switched off) on texts built from what the
finders treat specially: digits of every script, zero-width and format characters, HTML
entities, separators, look-alikes (``4O12``), number words, ``@`` and its look-alikes; and on
cards split over customer messages (the chain of :mod:`livechat_core._pci`).

The boundary examples hold a card (or an e-mail address) with as few digits (characters) as
the screening lets through; the mutation tests make each threshold one step too eager and
check that those examples then tell the two paths apart, so the properties would catch it.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from unittest import mock

import pytest
import regex
from hypothesis import example, given, settings
from hypothesis import strategies as st

from livechat_core import _masking, _pci
from livechat_core._masking import (
    MaskingPolicy,
    find_sensitive,
    mask_text,
    may_hold,
)
from livechat_core._model import Message, Role

CARDS = MaskingPolicy(kinds=frozenset({"card"}))
POLICIES = {
    "cards": CARDS,
    "email": MaskingPolicy(kinds=frozenset({"email"})),
    "cards-email": MaskingPolicy(kinds=frozenset({"card", "email"})),
    "cards-bin-label": MaskingPolicy(kinds=frozenset({"card"}), keep_card_bin=True, style="label"),
    "default": MaskingPolicy(),
    "phones": MaskingPolicy(kinds=frozenset({"phone"})),
}


@contextmanager
def full_path() -> Iterator[None]:
    """Masking with the screening off: every text goes through the finders."""
    with (
        mock.patch.object(_masking, "_may_hold", return_value=True),
        mock.patch.object(_pci, "may_hold", return_value=True),
    ):
        yield


def _luhn_complete(body: str) -> str:
    """``body`` with the Luhn check digit appended."""
    for check in "0123456789":
        if _masking._luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")  # pragma: no cover


MAESTRO_12 = _luhn_complete("50180000000")  # the shortest card the finders accept
VISA_16 = _luhn_complete("411111111111111")
_WORD_FOR = {
    "0": "oh",
    "1": "one",
    "2": "two",
    "3": "tri",
    "4": "four",
    "5": "pet",
    "6": "six",
    "7": "sedm",
    "8": "osm",
    "9": "nine",
}


def _spelled(digits: str) -> str:
    return " ".join(_WORD_FOR[d] for d in digits)


def _shortest_spelled_maestro() -> str:
    """A 12-digit Maestro card spelled out in as few characters as these words allow."""
    texts = []
    for prefix in _masking._MAESTRO_PREFIXES:
        for fill in itertools.product("0125", repeat=2):
            body = (prefix + "".join(fill)).ljust(11, "0")[:11]
            texts.append(_spelled(_luhn_complete(body)))
    return min(texts, key=len)


SPELLED_MAESTRO = _shortest_spelled_maestro()
LOOKALIKE_MAESTRO = "5O18O0O0O0O" + MAESTRO_12[-1]
"""The 12-digit Maestro card with five zeros written as "O": seven digits in one token."""

# Characters and pieces the finders treat specially.
_PIECES = (
    *"0123456789",
    *"0123456789",
    "٣",  # Arabic-Indic
    "７",  # full-width
    "४",  # Devanagari
    "𝟗",  # mathematical
    "²",  # superscript (a digit, not a decimal)
    "①",  # circled
    "\u200b",  # zero-width space
    "\u200c",
    "\u2060",
    "\ufeff",
    "\u00ad",  # soft hyphen (Cf)
    " ",
    "  ",
    "-",
    "–",
    ".",
    "/",
    "(",
    ")",
    "_",
    "\n",
    "\u00a0",
    "\u2009",
    "|",
    ",",
    "🙂",
    "O",
    "o",
    "l",
    "I",
    "&#52;",
    "&#x34;",
    "&sup2;",
    "&amp;",
    "&nbsp;",
    "four ",
    "oh ",
    "six ",
    "FOUR ",
    "ſix ",  # a long s folds to "s"
    "jedna ",
    "@",
    "＠",
    " at ",
    "(at)",
    " zavináč ",
    "example.com",
    ".cz",
    "jan",
    "a",
    "Z",
    "é",
    "***",
    "+",
    "Customer ",
    MAESTRO_12,
    VISA_16,
)


def _with_lookalikes(digits: str, draw: st.DrawFn) -> str:
    """``digits`` with some zeros and ones written as look-alikes (fewer than the digits)."""
    out = []
    swapped = 0
    for d in digits:
        if d in "01" and swapped + 1 < len(digits) - swapped - 1 and draw(st.booleans()):
            out.append(draw(st.sampled_from("Oo" if d == "0" else "lI")))
            swapped += 1
        else:
            out.append(d)
    return "".join(out)


@st.composite
def card_texts(draw: st.DrawFn) -> str:
    """A card (12 to 19 digits, Luhn-valid, a plausible issuer or not) written in one of the
    ways people write them, with text around it."""
    length = draw(st.integers(12, 19))
    prefix = draw(st.sampled_from(["4", "51", "5018", "6304", "37", "0604", "9", "2221", "1"]))
    body = prefix + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=length)))
    digits = _luhn_complete(body[: length - 1])
    if draw(st.booleans()):
        digits = digits[:-1] + draw(st.sampled_from("0123456789"))  # maybe not Luhn-valid
    style = draw(st.sampled_from(["plain", "grouped", "lookalike", "script", "spelled", "zw"]))
    if style == "grouped":
        sep = draw(st.sampled_from([" ", "-", ".", "|", "\u00a0", " / "]))
        text = sep.join(digits[k : k + 4] for k in range(0, len(digits), 4))
    elif style == "lookalike":
        text = _with_lookalikes(digits, draw)
    elif style == "script":
        zero = draw(st.sampled_from([0x660, 0xFF10, 0x966, 0x1D7CE]))
        text = "".join(chr(zero + int(d)) if draw(st.booleans()) else d for d in digits)
    elif style == "spelled":
        text = _spelled(digits)
    elif style == "zw":
        text = "\u200b".join(digits)
    else:
        text = digits
    keep = draw(st.integers(0, len(text)))
    if draw(st.booleans()):
        text = text[:keep]  # cut short: a few digits too few
    before = draw(st.sampled_from(["", "card ", "IMEI ", "my number ", "x"]))
    after = draw(st.sampled_from(["", " thanks", "@example.com", "O", "1"]))
    return before + text + after


TEXTS = st.one_of(
    st.lists(st.sampled_from(_PIECES), max_size=24).map("".join),
    card_texts(),
    st.text(max_size=60),
)


def _results(text: str) -> list[object]:
    out: list[object] = []
    for policy in POLICIES.values():
        out.append(mask_text(text, policy))
        out.append(find_sensitive(text, policy))
    return out


def _check_text(text: str) -> None:
    with full_path():
        expected = _results(text)
    assert _results(text) == expected
    for name, policy in POLICIES.items():
        if not may_hold(text, policy):
            with full_path():
                assert find_sensitive(text, policy) == [], name


@settings(max_examples=2500, deadline=None)
@given(TEXTS)
@example(MAESTRO_12)
@example("Customer 17")
@example("customer@example.com")
@example(LOOKALIKE_MAESTRO)
@example(SPELLED_MAESTRO)
@example("jan(at)example.cz")
@example("&#53;018000000" + MAESTRO_12[-2:])
def test_screening_changes_no_result(text: str) -> None:
    _check_text(text)


def _message(k: int, role: Role, text: str) -> Message:
    return Message(id=f"c/{k}", role=role, author="x", text=text, at=0.0, initials="X")


_PART = st.one_of(
    st.text(alphabet="0123456789 -.\u200b٣７", min_size=1, max_size=8),
    st.sampled_from(["wait", "sorry", "ok", "IMEI 4111111111111111", "card: 4111", "+44 ", "O1"]),
)


@st.composite
def chains(draw: st.DrawFn) -> tuple[list[Message], str]:
    """Earlier messages (customer parts of numbers, short lines, agent lines) and a new one."""
    if draw(st.booleans()):
        # a card split over messages, the new message holding its last part
        digits = draw(st.sampled_from([MAESTRO_12, VISA_16, "4111 1111 1111 111"]))
        cuts = sorted(draw(st.lists(st.integers(1, len(digits) - 1), max_size=4, unique=True)))
        parts = [digits[a:b] for a, b in itertools.pairwise([0, *cuts, len(digits)])]
        earlier = [(Role.CUSTOMER, part) for part in parts[:-1]]
        new = parts[-1] + draw(st.sampled_from(["", " thanks", "O", "0"]))
    else:
        earlier = draw(
            st.lists(
                st.tuples(st.sampled_from([Role.CUSTOMER, Role.CUSTOMER, Role.AGENT]), _PART),
                max_size=6,
            )
        )
        new = draw(st.one_of(_PART, TEXTS))
    return [_message(k, role, text) for k, (role, text) in enumerate(earlier)], new


def _chain_results(messages: list[Message], text: str) -> list[object]:
    scrub = _pci._mask_with_chain
    return [scrub(messages, text, policy) for policy in POLICIES.values()]


def _check_chain(messages: list[Message], text: str) -> None:
    with full_path():
        expected = _chain_results(messages, text)
    assert _chain_results(messages, text) == expected


@settings(max_examples=2000, deadline=None)
@given(chains())
@example(([_message(0, Role.CUSTOMER, MAESTRO_12[:11])], MAESTRO_12[11:]))
@example(([_message(0, Role.CUSTOMER, MAESTRO_12[:6])], "O" + MAESTRO_12[7:]))
@example(([_message(0, Role.CUSTOMER, "IMEI 4111111111111111")], "thanks"))
@example(([_message(0, Role.CUSTOMER, "5018 0000 00")], "wait"))
def test_screening_keeps_the_chain(case: tuple[list[Message], str]) -> None:
    _check_chain(*case)


def test_the_boundary_examples_are_items_the_finders_find() -> None:
    """Each example sits at a threshold of the screening: the full path finds the item."""
    assert len(MAESTRO_12) == _masking._CARD_MIN_DIGITS
    assert mask_text(MAESTRO_12, CARDS) == "********" + MAESTRO_12[-4:]
    assert MAESTRO_12.startswith("50180000000")
    assert len(_masking._ASCII_DIGIT.findall(LOOKALIKE_MAESTRO)) == 7
    assert find_sensitive(LOOKALIKE_MAESTRO, CARDS)
    assert len(SPELLED_MAESTRO) >= _masking._SPELLED_CARD_MIN_LENGTH
    assert find_sensitive(SPELLED_MAESTRO, CARDS)
    masked, redactions = _pci._mask_with_chain(
        [_message(0, Role.CUSTOMER, MAESTRO_12[:11])], MAESTRO_12[11:], CARDS
    )
    assert redactions
    assert masked == MAESTRO_12[11:]  # the last digit is one of the kept four
    # the IMEI is no card where it was sent, but its number alone is: the next message
    # redacts it, with the screening as without it
    assert _pci._mask_with_chain(
        [_message(0, Role.CUSTOMER, "IMEI 4111111111111111")], "thanks", CARDS
    )[1] == (("c/0", "IMEI ************1111"),)


def test_every_letter_has_no_digit_value() -> None:
    """The screening counts the ASCII digits of the normalised text, where every digit the
    finders read is ASCII: text normalised as plain (ASCII and letters) keeps its letters,
    so none of them may be a digit to ``unicodedata`` (the two Unicode databases agree)."""
    letter = regex.compile(r"\p{L}")
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.digit(char, None) is not None:
            assert not letter.match(char), hex(code)


# Mutations: each makes one threshold one step too eager; the examples above must then tell
# the screened path from the full one.


def _caught(mutation: Callable[[], AbstractContextManager[object]]) -> bool:
    examples = [
        MAESTRO_12,
        LOOKALIKE_MAESTRO,
        SPELLED_MAESTRO,
        "jan(at)example.cz",
        "customer@example.com",
    ]
    chains_ = [([_message(0, Role.CUSTOMER, MAESTRO_12[:11])], MAESTRO_12[11:])]
    with mutation():
        try:
            for text in examples:
                _check_text(text)
            for messages, text in chains_:
                _check_chain(messages, text)
        except AssertionError:
            return True
    return False


_REAL_MAY_HOLD_CARD = _masking._may_hold_card
_NO_LOOKALIKES = str.maketrans("", "", "OolI")


@pytest.mark.parametrize(
    "mutation",
    [
        # one digit more needed than a card has
        lambda: mock.patch.object(
            _masking,
            "_may_hold_card",
            lambda normal, before=0: _REAL_MAY_HOLD_CARD(normal, before - 1),
        ),
        # look-alikes not counted
        lambda: mock.patch.object(
            _masking,
            "_may_hold_card",
            lambda normal, before=0: _REAL_MAY_HOLD_CARD(normal.translate(_NO_LOOKALIKES), before),
        ),
        # one character more needed than the shortest spelled card has
        lambda: mock.patch.object(_masking, "_SPELLED_CARD_MIN_LENGTH", len(SPELLED_MAESTRO) + 1),
        # e-mail addresses not screened for
        lambda: mock.patch.object(
            _masking,
            "_may_hold",
            lambda normal, kinds: "card" not in kinds or _REAL_MAY_HOLD_CARD(normal),
        ),
    ],
    ids=["digits", "lookalikes", "spelled", "email"],
)
def test_a_threshold_one_step_too_eager_is_caught(
    mutation: Callable[[], AbstractContextManager[object]],
) -> None:
    assert _caught(mutation)


@settings(max_examples=1500)
@given(st.one_of(st.text(alphabet=st.characters(max_codepoint=127)), st.text(), TEXTS))
def test_digit_count_counts_every_decimal_digit(text: str) -> None:
    """``digit_count`` (the chain's count) reads ASCII text by a pattern: the same count."""
    assert _masking.digit_count(text) == sum(
        unicodedata.decimal(char, None) is not None for char in text
    )
