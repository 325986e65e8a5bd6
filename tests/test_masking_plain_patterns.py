"""The standard-library patterns masking uses on plain text find what the full ``regex``
patterns find there.

Plain text (ASCII, letters and the weak separator; ``_masking._NOT_PLAIN``) is scanned for
digit runs and IBAN starts by ``re`` patterns written for it (``_SIMPLE_RUN``,
``_SIMPLE_IBAN_START``), because that engine is faster there. Their separator and
letter classes are written out by hand. If the full patterns' classes change and these
do not, plain and other text would be read differently: these properties catch it.
"""

from __future__ import annotations

from typing import Any

import regex
from hypothesis import example, given, settings
from hypothesis import strategies as st

from livechat_core import _masking as m

# Every kind of character the patterns treat differently: digits, each separator, letters
# (ASCII, accented, full-width), the weak separator's sources, ASCII controls and punctuation.
_ALPHABET = (
    "0123456789" * 3
    + "\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f"
    + "()+-./\\_,|:;#*&%@!?'\"<>[]{}=~^`$"
    + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyzéŽßЖ"
    + "ＡＺａｚＣＨ"
    + "\ue000\x00\x7f"
)
_PLAIN_TEXTS = st.text(alphabet=_ALPHABET, max_size=80).map(m._normalise_plain)


def _runs(pattern: Any, text: str) -> list[tuple[tuple[int, int], str]]:
    return [(match.span(), match[0]) for match in pattern.finditer(text)]


def _starts(pattern: Any, text: str) -> list[tuple[tuple[int, int], tuple[str, ...]]]:
    return [
        (match.span(), (match[1], match[2], match[3], match[4])) for match in pattern.finditer(text)
    ]


@settings(max_examples=3000)
@given(_PLAIN_TEXTS)
@example(("+420 603 123 456, (030) 1234-5678", True))
@example(("4111\x1c1111\x1d1111 1111", True))
@example(("CH66 0885 3ZCK G25J YDYX I; ＣＨ93 0076", True))
@example(("\x7fCH93 0076 éDE89 3704 _GB29\ue000NW12 xFR76", True))
def test_plain_runs_and_iban_starts_are_the_full_patterns(normalised: tuple[str, object]) -> None:
    text, plain = normalised
    if plain is None:
        plain = m._NOT_PLAIN.search(text) is None
    if not plain:
        return
    assert _runs(m._SIMPLE_RUN, text) == _runs(m._RUN, text)
    assert _starts(m._SIMPLE_IBAN_START, text) == _starts(m._IBAN_START, text)
    groups = [match[0] for match in m._SIMPLE_GROUPS.finditer(text)]
    assert groups == [match[0] for match in regex.finditer(r"\d+", text)]
