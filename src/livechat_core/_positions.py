"""Checks for the arguments of the event log and consumer positions (one place for every store)."""

from __future__ import annotations

from ._errors import InvalidArgument
from ._inputs import check_name


def check_position(position: object, name: str = "position") -> int:
    """``position`` if it is an integer of at least 0 (a position in a store's log)."""
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise InvalidArgument(f"{name} must be an integer of at least 0, not {position!r}")
    return position


def check_limit(limit: object) -> int:
    """``limit`` if it is an integer of at least 1 (how many events one read returns)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgument(f"limit must be an integer of at least 1, not {limit!r}")
    return limit


def check_consumer(name: object) -> str:
    """``name`` if it is a usable consumer name: an id under the desk's input policy (a
    non-empty string of at most 256 characters, one line, no surrogates)."""
    return check_name(name, "consumer name")
