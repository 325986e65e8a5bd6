"""The search filter of the transfer, conference and wrap-up dialogs (SPEC section 7)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import TypeVar

from ._errors import InvalidArgument
from ._inputs import check_string

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
    if query is not None:
        check_string(query, "query")
    if isinstance(options, str | bytes | Mapping) or not isinstance(options, Iterable):
        raise InvalidArgument(f"options must be a list of options, not {type(options).__name__}")
    words = fold(query or "").split()
    return [option for option in options if all(w in fold(_label(option)) for w in words)]
