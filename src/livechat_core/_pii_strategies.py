"""Hypothesis strategies for sensitive items and the chat text that carries them.

For tests (ours, and users' own through ``livechat_core.testing``): every strategy draws from
the generators of :mod:`livechat_core._pii_samples`, so it produces the same formats and
evasions the benchmark measures. Importing this module imports Hypothesis; nothing else in
the library does.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ._masking import ALL_KINDS
from ._pii_samples import Item, LabelledMessage, make_item, make_negative

__all__ = ["chat_texts", "hard_negatives", "messages_with_item", "pii_items", "surrounding_text"]

_CZECH = "aábcčdďeéěfghiíjklmnňoópqrřsštťuúůvwxyýzž"
_AROUND = _CZECH + _CZECH.upper() + "  .,!?0123456789🙂👍😢🙏€" + "\u00a0"


def pii_items(kind: str | None = None) -> st.SearchStrategy[Item]:
    """A valid item of ``kind`` (any kind when ``None``) in a random format, evasions included."""
    if kind is not None and kind not in ALL_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return st.randoms(use_true_random=False).map(lambda rng: make_item(rng, kind))


def surrounding_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Chat-like text: Czech letters, emoji, punctuation, spaces and digits."""
    return st.text(alphabet=_AROUND, max_size=max_size)


def messages_with_item(kind: str | None = None) -> st.SearchStrategy[LabelledMessage]:
    """A message of random text with one item inside, set apart from the text around it by a
    word and a comma, so the digits around it cannot legitimately extend or label it."""

    @st.composite
    def build(draw: st.DrawFn) -> LabelledMessage:
        before = draw(surrounding_text()) + draw(st.sampled_from(_LEAD_INS))
        item = draw(pii_items(kind))
        after = draw(st.sampled_from(_TRAILERS)) + draw(surrounding_text())
        return LabelledMessage(
            text=before + item.text + after,
            kind=item.kind,
            start=len(before),
            end=len(before) + len(item.text),
        )

    return build()


_LEAD_INS = (", prosím: ", "; tady: ", ",\n", ", here: ", "! Číslo: ", ", moje: ")
_TRAILERS = (" díky, ", " ok; ", " 🙂, ", "\nJana, ", " thanks, ")


def hard_negatives() -> st.SearchStrategy[str]:
    """Messages full of numbers that are none of the kinds: dates, amounts, order numbers..."""
    return st.randoms(use_true_random=False).map(make_negative)


def chat_texts() -> st.SearchStrategy[str]:
    """Any mix: plain chat text, hard negatives and messages carrying an item."""
    return st.one_of(
        surrounding_text(80),
        hard_negatives(),
        messages_with_item().map(lambda message: message.text),
    )
