"""The one input policy: what ids, names, texts, numbers and times may hold.

Every value a caller hands the desk passes through here before any store sees it (the
command constructors and the desk's read methods call these checks), so a value is
accepted or refused the same way on every store. Before this policy, a lone surrogate
failed on SQLite and PostgreSQL (their drivers encode UTF-8) but not in memory, a NUL
character failed on PostgreSQL only, and an id of some kilobytes broke PostgreSQL's
index rows. A refusal is :class:`InvalidArgument` (``invalid_argument``), whose
``field`` detail names the argument, and ``position`` the offending character if any.

The rules (``docs/decisions.md`` gives the reasons):

* **ids and names** (agent, conversation, queue and asset ids; display names; wrap-up
  and idle reasons): a ``str`` of 1 to :data:`MAX_NAME_LENGTH` code points, not blank,
  without control characters (``Cc``, line breaks and tabs included) or surrogates;
* **what a customer typed into the widget** (``customer_name``, ``customer_contact``):
  the same, but line breaks and tabs pass, and the contact may be empty;
* **texts** (messages, wrap-up notes): a ``str`` without surrogates or control
  characters other than line feed, carriage return and tab; at most
  :data:`MAX_TEXT_LENGTH` code points (messages have their own, smaller limits, checked
  after normalisation by the composer and the desk's customer limit);
* **lists of names**: at most :data:`MAX_LIST_LENGTH` entries;
* **numbers of seconds and times**: ``int`` or ``float`` (not ``bool``), finite, and no
  larger than :data:`MAX_SECONDS`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

from ._errors import InvalidArgument

MAX_NAME_LENGTH: Final = 256
"""Code points in an id or a name: a few hundred bytes of UTF-8 at most, far inside
PostgreSQL's index row limit (about 2,700 bytes)."""

MAX_TEXT_LENGTH: Final = 100_000
"""Code points in any free text (notes; messages are limited further)."""

MAX_LIST_LENGTH: Final = 1_000
"""Entries in a list of names (an agent's queues, a queue's wrap-up reasons)."""

MAX_SECONDS: Final = 1e12
"""The largest time or duration in seconds: year 33,658 as a POSIX time; beyond it a
float no longer keeps milliseconds apart."""

# Surrogates cannot be encoded as UTF-8; control characters break display, logs and
# (NUL) PostgreSQL. Texts keep line breaks and tabs; names keep nothing of the kind.
_NOT_IN_NAMES: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXTS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _shown(value: Any) -> str:
    """``value`` for an error message: its repr when short, else its type."""
    try:
        text = repr(value)
    except Exception:  # a repr that fails, or an int too long to print
        text = ""
    if text and len(text) <= 60:
        return text
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return f"a {type(value).__name__}"


def _refuse_characters(value: str, field: str, pattern: re.Pattern[str], what: str) -> None:
    found = pattern.search(value)
    if found is not None:
        character = found.group()
        kind = "a surrogate" if "\ud800" <= character <= "\udfff" else "a control character"
        raise InvalidArgument(
            f"{field} must not hold {kind} ({character!a} at position {found.start()}); {what}",
            field=field,
            position=found.start(),
        )


def check_name(value: Any, field: str, *, line_breaks: bool = False) -> str:
    """``value`` if it is a valid id or name, else :class:`InvalidArgument`; with
    ``line_breaks`` (what a customer typed into the widget) line breaks and tabs pass."""
    # The usual case in one pass of C code: control characters and surrogates are not
    # printable, so a printable string of 1 to MAX_NAME_LENGTH code points that is not
    # all spaces passes every rule below; anything else is judged (and refused) by them.
    if (
        type(value) is str
        and value.isprintable()
        and 0 < len(value) <= MAX_NAME_LENGTH
        and not value.isspace()
    ):
        return value
    if type(value) is not str:
        raise InvalidArgument(f"{field} must be a string, not {_shown(value)}", field=field)
    if not value.strip():
        raise InvalidArgument(f"{field} must be a non-empty string, not {value!r}", field=field)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"{field} has {len(value)} characters; ids and names have at most {MAX_NAME_LENGTH}",
            field=field,
        )
    if line_breaks:
        _refuse_characters(value, field, _NOT_IN_TEXTS, "only line breaks and tabs may be")
    else:
        _refuse_characters(value, field, _NOT_IN_NAMES, "ids and names are one line of text")
    return value


def check_contact(value: Any, field: str) -> str:
    """A customer's contact as typed into the widget: like a name (line breaks and tabs
    pass), or empty when the widget did not ask for it."""
    if value == "" and type(value) is str:
        return value
    return check_name(value, field, line_breaks=True)


def check_text(value: Any, field: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """``value`` if it is a valid free text of at most ``limit`` code points."""
    if type(value) is str and value.isprintable() and len(value) <= limit:
        return value  # no control character, no surrogate: see check_name
    if type(value) is not str:
        raise InvalidArgument(f"{field} must be a string, not {_shown(value)}", field=field)
    if len(value) > limit:
        raise InvalidArgument(
            f"{field} has {len(value)} characters; at most {limit} are accepted", field=field
        )
    _refuse_characters(
        value, field, _NOT_IN_TEXTS, "texts may hold line breaks and tabs, no other control"
    )
    return value


def check_seconds(value: Any, field: str, *, positive: bool = False) -> float:
    """``value`` as a float if it is a finite number of seconds (``> 0`` if ``positive``)
    no larger than :data:`MAX_SECONDS`; else :class:`InvalidArgument`."""
    if (
        type(value) is float
        and -MAX_SECONDS <= value <= MAX_SECONDS
        and (value > 0 or not positive)
    ):
        return value  # the usual case: NaN and the infinities fail the range test
    if type(value) is bool or not isinstance(value, int | float):
        raise InvalidArgument(
            f"{field} must be a number of seconds, not {_shown(value)}", field=field
        )
    # Compared before any conversion: float() of a huge int raises OverflowError.
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(
            f"{field} must be a finite number of seconds, not {value!r}", field=field
        )
    if not -MAX_SECONDS <= value <= MAX_SECONDS:
        raise InvalidArgument(
            f"{field} must be at most {MAX_SECONDS:g} seconds, not {_shown(value)}", field=field
        )
    if positive and value <= 0:
        raise InvalidArgument(
            f"{field} must be a positive, finite number of seconds, not {value!r}", field=field
        )
    return float(value)


def check_count(value: Any, field: str, *, low: int, high: int) -> int:
    """``value`` if it is an ``int`` (not ``bool``) in ``[low, high]``."""
    if type(value) is bool or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(
            f"{field} must be a whole number from {low} to {high}, not {_shown(value)}",
            field=field,
        )
    return int(value)


T = TypeVar("T")


def check_string(value: Any, field: str) -> str:
    """``value`` if it is a ``str`` (any content: for the pure text functions)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string, not {_shown(value)}", field=field)
    return value


def check_instance(value: Any, cls: type[T], field: str) -> T:
    """``value`` if it is a ``cls``, else :class:`InvalidArgument`."""
    if not isinstance(value, cls):
        raise InvalidArgument(f"{field} must be a {cls.__name__}, not {_shown(value)}", field=field)
    return value


def check_items(values: Any, cls: type[T], field: str) -> list[T]:
    """The items of the iterable ``values`` (not a string or a mapping), each a ``cls``."""
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise InvalidArgument(
            f"{field} must be an iterable of {cls.__name__}, not {_shown(values)}", field=field
        )
    items = list(values)
    for item in items:
        check_instance(item, cls, f"every item of {field}")
    return items


def check_flag(value: Any, field: str) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if type(value) is not bool:
        raise InvalidArgument(f"{field} must be True or False, not {_shown(value)}", field=field)
    return value
