"""Every error code is documented, and ``__all__`` is honest."""

from __future__ import annotations

import pathlib
import pickle

import livechat_core
from livechat_core import LivechatError, ReservedCharacter

DOCS = pathlib.Path(__file__).parent.parent / "docs" / "errors.md"


def _error_classes() -> list[type[LivechatError]]:
    found: list[type[LivechatError]] = []
    pending: list[type[LivechatError]] = [LivechatError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_code_is_listed_in_docs_errors_md() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for cls in _error_classes():
        assert f"| `{cls.code}` | `{cls.__name__}` |" in text, cls


def test_error_codes_are_unique_and_exported() -> None:
    classes = _error_classes()
    assert len({cls.code for cls in classes}) == len(classes)
    for cls in classes:
        assert getattr(livechat_core, cls.__name__) is cls


def test_all_is_sorted_and_names_exist() -> None:
    names = livechat_core.__all__
    # isort-style, as ruff keeps it: CONSTANTS, then Classes, then functions
    assert list(names) == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(livechat_core, name), name
    # ("@py_..." names: pytest's assertion rewriting of the package loaded as a plugin)
    public = {n for n in dir(livechat_core) if not n.startswith(("_", "@"))}
    # submodules, and what `from __future__` and `typing` leave in the namespace
    modules = {
        "adapters",
        "events",
        "ports",
        "service",
        "testing",
        "annotations",
        "TYPE_CHECKING",
    }
    assert public - set(names) - modules == set()


def test_errors_survive_pickling_with_their_details() -> None:
    error = ReservedCharacter("x", position=3, character="<", aggregate_id="c1")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.details, copy.aggregate_id) == (
        "reserved_character",
        {"position": 3, "character": "<"},
        "c1",
    )
    assert str(copy) == "[reserved_character] x"
