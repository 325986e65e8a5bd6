"""System messages, in English and Czech.

The text is rendered in the desk's locale when the message is posted and stored as
written, so a transcript reads the same wherever it is replayed.
"""

from __future__ import annotations

from typing import Final

from ._errors import InvalidArgument

SYSTEM_MESSAGES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "agent_joined": "{name} joined the conversation",
        "agent_left": "{name} left the conversation",
        "customer_ended": "Customer ended the conversation",
        "asset_deleted": (
            "The chat channel was deleted by an administrator. "
            "The conversation cannot continue; please end it."
        ),
    },
    "cs": {
        "agent_joined": "{name} se připojil(a) ke konverzaci",
        "agent_left": "{name} opustil(a) konverzaci",
        "customer_ended": "Zákazník ukončil konverzaci",
        "asset_deleted": (
            "Správce odstranil prostředek chatu. V konverzaci nelze pokračovat, ukončete ji prosím."
        ),
    },
}

LOCALES: Final = frozenset(SYSTEM_MESSAGES)


def check_locale(locale: str) -> str:
    """``locale`` if the library ships its system messages, else :class:`InvalidArgument`."""
    if locale not in SYSTEM_MESSAGES:
        raise InvalidArgument(f"unknown locale {locale!r}; choose one of {sorted(LOCALES)}")
    return locale


def system_text(locale: str, key: str, **parameters: str) -> str:
    """The system message ``key`` in ``locale``, with its parameters filled in."""
    return SYSTEM_MESSAGES[locale][key].format(**parameters)
