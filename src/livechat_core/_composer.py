"""The composer rules of SPEC section 5, as pure functions.

* at most :data:`MAX_MESSAGE_LENGTH` code points after normalisation (NFC, ``\\r\\n`` and a
  lone ``\\r`` become ``\\n``);
* ``<`` and ``>`` are reserved for template parameters and refused, naming the position;
* empty or whitespace-only messages are refused; line breaks are kept as typed;
* templates fill ``<name>`` placeholders from a mapping; a missing parameter is an error.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final

import regex

from ._errors import (
    EmptyMessage,
    InvalidArgument,
    MessageTooLong,
    MissingTemplateParameter,
    ReservedCharacter,
)
from ._inputs import check_string

MAX_MESSAGE_LENGTH: Final = 1000
RESERVED_CHARACTERS: Final = frozenset("<>")

_PLACEHOLDER = regex.compile(r"<([^<>\s]+)>")


def normalise(text: str) -> str:
    """NFC, with Windows and old-Mac line ends turned into ``\\n``."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def compose(text: str) -> str:
    """The message an agent's composer sends for ``text``, or a :class:`ComposerError`.

    >>> compose("Hello,\\r\\nhow can I help?")
    'Hello,\\nhow can I help?'
    """
    check_string(text, "text")
    return check_composed(normalise(text))


def check_composed(text: str) -> str:
    """``text``, already normalised (:func:`normalise`), if it obeys the composer rules
    (not empty, no reserved character, not too long), or a :class:`ComposerError`: what
    :func:`compose` checks after normalising."""
    if not text.strip():
        raise EmptyMessage("an empty message cannot be sent")
    positions = [i for i in map(text.find, RESERVED_CHARACTERS) if i >= 0]
    if positions:
        position = min(positions)
        character = text[position]
        raise ReservedCharacter(
            f"{character!r} at position {position} is reserved for template parameters",
            position=position,
            character=character,
        )
    if len(text) > MAX_MESSAGE_LENGTH:
        raise MessageTooLong(
            f"the message has {len(text)} characters; the composer accepts at most "
            f"{MAX_MESSAGE_LENGTH}",
            length=len(text),
            limit=MAX_MESSAGE_LENGTH,
        )
    return text


def fill_template(template: str, parameters: Mapping[str, object]) -> str:
    """Fill a message template's ``<name>`` placeholders, then apply the composer rules.

    Line breaks of the template are kept; the agent may add more. A placeholder with no
    value in ``parameters`` raises :class:`MissingTemplateParameter`.

    >>> fill_template("Hello <name>,\\nyour order <order> has shipped.",
    ...               {"name": "Jana", "order": "A-17"})
    'Hello Jana,\\nyour order A-17 has shipped.'
    """
    check_string(template, "template")
    if not isinstance(parameters, Mapping):
        raise InvalidArgument(f"parameters must be a mapping, not {type(parameters).__name__}")
    missing = [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) not in parameters]
    if missing:
        raise MissingTemplateParameter(
            f"the template needs {', '.join(sorted(set(missing)))}", missing=tuple(missing)
        )
    filled = _PLACEHOLDER.sub(lambda m: str(parameters[m.group(1)]), template)
    return compose(filled)
