"""Test helpers for users of livechat-core: the store conformance suite.

Check your own store adapter by subclassing :class:`StoreConformance` and implementing
``make_store``.
"""

from __future__ import annotations

from ._conformance import StoreConformance

__all__ = ["StoreConformance"]
