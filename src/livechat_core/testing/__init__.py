"""Test helpers for users of livechat-core.

* :class:`StoreConformance`: check your own store adapter by subclassing it and
  implementing ``make_store`` (a pytest test class).
* :class:`BlockingDesk`: an :class:`~livechat_core.AsyncDesk` behind blocking calls, so
  a scenario written for ``Desk`` runs through the async face.
* :class:`ManualClock`: a clock your test moves by hand (``Desk(clock=ManualClock())``).
* ``livechat_core.testing.strategies``: Hypothesis strategies for commands, valid command
  sequences, PII items in every supported format and chat text carrying them (imports
  Hypothesis, so it is a module of its own).
* ``livechat_core.testing.pytest_plugin``: fixtures ``livechat_clock``, ``livechat_desk``,
  ``livechat_sqlite_desk`` and more; registered with pytest when the package is installed.

See ``docs/testing.md`` for a user's own property test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._blocking import BlockingDesk
from .clock import ManualClock

if TYPE_CHECKING:
    from ._conformance import StoreConformance

__all__ = ["BlockingDesk", "ManualClock", "StoreConformance"]


def __getattr__(name: str) -> object:
    # StoreConformance is a pytest test class: import pytest only when it is asked for, so
    # ManualClock and the Hypothesis strategies work in a notebook without pytest.
    if name == "StoreConformance":
        from ._conformance import StoreConformance

        return StoreConformance
    raise AttributeError(f"module 'livechat_core.testing' has no attribute {name!r}")
