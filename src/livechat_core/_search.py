"""The search filter of the transfer, conference and wrap-up dialogs (SPEC section 7)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def fold(text: str) -> str:
    """Case- and diacritic-insensitive form: ``"Nováková"`` → ``"novakova"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def _label(option: object) -> str:
    if isinstance(option, str):
        return option
    parts = [getattr(option, "name", None), getattr(option, "id", None)]
    return " ".join(str(part) for part in parts if part is not None) or str(option)


def filter_options(options: Iterable[T], query: str | None) -> list[T]:
    """The options whose label contains every word of ``query``, ignoring case and accents.

    Options are strings (wrap-up reasons, queue names) or views with a ``name`` (and an
    ``id``, matched too). An empty query keeps every option; order is kept.

    >>> filter_options(["Jana Nováková", "Petr Svoboda"], "novak")
    ['Jana Nováková']
    """
    words = fold(query or "").split()
    return [option for option in options if all(w in fold(_label(option)) for w in words)]
