"""SPEC 11: ``AsyncDesk`` has "every Desk method, as a coroutine" with "same names, arguments,
results and errors". Checked by introspection, as a caller's own conformance test would: each
public ``Desk`` method is a coroutine function of ``AsyncDesk`` (``batch`` an async context
manager) with the same parameters and defaults."""

from __future__ import annotations

import inspect

import pytest

from livechat_core import AsyncDesk, Desk

PUBLIC = sorted(
    name for name in dir(Desk) if not name.startswith("_") and callable(getattr(Desk, name))
)


@pytest.mark.parametrize("name", [name for name in PUBLIC if name != "batch"])
def test_every_desk_method_is_a_coroutine_of_the_async_desk(name: str) -> None:
    method = inspect.getattr_static(AsyncDesk, name, None)
    assert method is not None, f"AsyncDesk.{name} is not defined on the class"
    assert inspect.iscoroutinefunction(method), name
    sync, asynchronous = inspect.signature(getattr(Desk, name)), inspect.signature(method)
    assert [(p.name, p.kind, p.default) for p in sync.parameters.values()] == [
        (p.name, p.kind, p.default) for p in asynchronous.parameters.values()
    ]


def test_batch_is_an_async_context_manager() -> None:
    assert hasattr(AsyncDesk().batch(), "__aenter__")
