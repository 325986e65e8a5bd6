"""Checks for the arguments of the event log and consumer positions (one place for every store)."""

from __future__ import annotations

from ._errors import InvalidArgument
from ._inputs import check_name

POSITION_MAX = 2**63 - 1
"""The largest position or limit a store accepts: SQL stores keep positions as signed
64-bit integers, so a larger one is refused on every store alike (not an overflow)."""


def check_position(position: object, name: str = "position") -> int:
    """``position`` if it is an integer from 0 to :data:`POSITION_MAX` (a position in a
    store's log)."""
    if isinstance(position, bool) or not isinstance(position, int):
        raise InvalidArgument(f"{name} must be an integer of at least 0, not {position!r}")
    if not 0 <= position <= POSITION_MAX:
        raise InvalidArgument(
            f"{name} must be an integer from 0 to {POSITION_MAX}, not {position!r}"
        )
    return position


def check_limit(limit: object) -> int:
    """``limit`` if it is an integer from 1 to :data:`POSITION_MAX` (how many events one
    read returns)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidArgument(f"limit must be an integer of at least 1, not {limit!r}")
    if not 1 <= limit <= POSITION_MAX:
        raise InvalidArgument(f"limit must be an integer from 1 to {POSITION_MAX}, not {limit!r}")
    return limit


def check_consumer(name: object) -> str:
    """``name`` if it is a usable consumer name: an id under the desk's input policy (a
    non-empty string of at most 256 characters, one line, no surrogates)."""
    return check_name(name, "consumer name")
