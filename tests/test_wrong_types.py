"""Wrong types get ``InvalidArgument`` at every public entry point (issue 15, item 6).

Every public :class:`Desk` method and every public function is fed, argument by
argument, values of every type its signature does not take. Each must be refused with
:class:`InvalidArgument`, which is a ``LivechatError`` and also a ``TypeError`` and a
``ValueError`` as the standard library's conventions expect, and the desk must not
change. A SQLite store in a read-only location says why it cannot be opened.
"""

from __future__ import annotations

import inspect
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import livechat_core as lc
from livechat_core import Desk, InvalidArgument, SqliteStore, StoreError

T0 = 1_700_000_000.0

_ANYTHING: list[Any] = [
    None,
    0,
    -1,
    1.5,
    math.nan,
    math.inf,
    2**70,
    10**400,
    True,
    "text",
    "",
    b"bytes",
    ["a", "b"],
    ("a",),
    {"a": 1},
    {"a"},
    object(),
    lambda: None,
]


def _accepts(annotation: str, value: Any) -> bool:
    """Whether ``value`` is of a type the annotation names (the content may still be
    refused: a number out of range, an empty id)."""
    optional = annotation.endswith("| None")
    if value is None:
        return optional
    base = annotation.removesuffix(" | None")
    if base == "str":
        return isinstance(value, str)
    if base == "float":
        return type(value) in (int, float)
    if base == "int":
        return type(value) is int
    if base == "bool":
        return type(value) is bool
    if base == "Sequence[str]":
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    if base == "MaskingPolicy":
        return isinstance(value, lc.MaskingPolicy)
    raise AssertionError(f"no rule for the annotation {annotation!r}")


def _fresh_desk() -> tuple[Desk, str]:
    desk = Desk(clock=lambda: T0)
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.login("petr", "Petr", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    return desk, chat


def _state(desk: Desk, chat: str) -> tuple[object, ...]:
    return (desk.conversation(chat), desk.events(chat), desk.agents(), desk.queues())


_GOOD: dict[str, Any] = {
    "agent_id": "jana",
    "name": "support",
    "wrap_up_reasons": ["Resolved"],
    "queues": ["support"],
    "reason": "Resolved",
    "queue": "support",
    "customer_name": "Eva",
    "customer_contact": "eva@example.com",
    "text": "hello",
    "target_agent_id": "petr",
    "guest_agent_id": "petr",
    "asset": "livechat",
    "before": T0,
}

_NOT_ARGUMENTS = {"handle"}  # takes a command: covered by test_handle_refuses_non_commands

_METHOD_CASES = [
    (name, parameter.name, str(parameter.annotation), value)
    for name, method in inspect.getmembers(Desk, inspect.isfunction)
    if not name.startswith("_") and name not in _NOT_ARGUMENTS
    for parameter in list(inspect.signature(method).parameters.values())[1:]
    for value in _ANYTHING
    if not _accepts(str(parameter.annotation), value)
]


def _case_id(case: tuple[str, str, str, Any]) -> str:
    name, parameter, _, value = case
    shown = repr(value) if len(repr(value)) < 20 else type(value).__name__
    return f"{name}-{parameter}-{shown}"


@pytest.mark.parametrize("case", _METHOD_CASES, ids=[_case_id(c) for c in _METHOD_CASES])
def test_every_desk_method_refuses_every_wrong_type(case: tuple[str, str, str, Any]) -> None:
    name, parameter, _, value = case
    desk, chat = _fresh_desk()
    method = getattr(desk, name)
    arguments: dict[str, Any] = {}
    for other in inspect.signature(method).parameters.values():
        if other.name == parameter:
            arguments[other.name] = value
        elif other.default is inspect.Parameter.empty:
            arguments[other.name] = chat if other.name == "conversation_id" else _GOOD[other.name]
    before = _state(desk, chat)
    with pytest.raises(InvalidArgument) as caught:
        method(**arguments)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.code == "invalid_argument"
    assert _state(desk, chat) == before


@pytest.mark.parametrize("now", [None, "soon", math.nan, math.inf, 10**400, [1.0], True])
def test_the_timer_refuses_a_time_that_is_no_time(now: Any) -> None:
    desk, chat = _fresh_desk()
    desk.accept("jana", chat)
    with pytest.raises(InvalidArgument):
        desk.conversation(chat).elapsed(now)
    assert desk.conversation(chat).elapsed(T0 + 5) == 5.0


def test_handle_refuses_non_commands() -> None:
    desk, chat = _fresh_desk()
    for value in _ANYTHING:
        with pytest.raises(InvalidArgument):
            desk.handle(value)
    assert desk.conversation(chat).state == "offered"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("store", "desk.db"),
        ("transport", object()),
        ("clock", 5),
        ("masking", True),
        ("locale", None),
        ("locale", ["en"]),
        ("pci_at_rest", "yes"),
        ("mask_at_rest", "card"),
        ("max_customer_message_length", 2.5),
        ("new_id", "chat-1"),
        ("retries", -1),
        ("retries", 10**400),
        ("adopt_stored_settings", 1),
    ],
)
def test_the_desk_refuses_wrong_options(option: str, value: Any) -> None:
    with pytest.raises(InvalidArgument):
        Desk(**{option: value})


_FUNCTION_CASES: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
    (lc.compose, (None,)),
    (lc.compose, (b"hello",)),
    (lc.fill_template, (None, {})),
    (lc.fill_template, ("Hello <name>", ["name"])),
    (lc.filter_options, (["a"], 5)),
    (lc.filter_options, (5, "a")),
    (lc.filter_options, ("abc", "a")),
    (lc.replay, (None,)),
    (lc.replay, ([1, 2],)),
    (lc.event_to_record, (None,)),
    (lc.event_to_record, ({"id": "x"},)),
    (lc.compute_report, ([None],)),
    (lc.compute_report, (5,)),
    (lc.compute_wallboard, (math.nan, [], [], [])),
    (lc.compute_wallboard, (T0, [None], [], [])),
    (lc.compute_wallboard, (T0, [], "agents", [])),
    (lc.mask_text, (None,)),
    (lc.mask_text, (b"4111 1111 1111 1111",)),
    (lc.mask_text, ("text", "not a policy")),
    (lc.find_sensitive, (None,)),
    (lc.find_sensitive, (["4111 1111 1111 1111"],)),
    (lc.find_sensitive, ("text", {"enabled": False})),
    (lc.mask_across, (None,)),
    (lc.mask_across, ("4111 1111",)),
    (lc.mask_across, ([None],)),
    (lc.mask_across, (["4111 1111"], object())),
]


@pytest.mark.parametrize(
    ("function", "arguments"),
    _FUNCTION_CASES,
    ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(_FUNCTION_CASES)],
)
def test_public_functions_refuse_wrong_types(
    function: Callable[..., Any], arguments: tuple[Any, ...]
) -> None:
    with pytest.raises(InvalidArgument):
        function(*arguments)


@pytest.fixture
def read_only_directory() -> Iterator[Path]:
    """A directory holding a store file, which the tests then may not write into."""
    directory = Path(tempfile.mkdtemp(prefix="livechat-ro-"))
    directory.chmod(0o755)
    with SqliteStore(directory / "desk.db") as store:
        Desk(store=store).add_queue("support", ["Resolved"])
    (directory / "desk.db").chmod(0o644)
    if os.geteuid() != 0:
        directory.chmod(0o555)
    try:
        yield directory
    finally:
        directory.chmod(0o755)
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()


def _open_as_nobody(path: str) -> str:
    """What opening the store says in a child process that gave up root (uid 65534)."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        message = "opened"
        try:
            os.setgid(65534)
            os.setuid(65534)
            SqliteStore(path)
        except StoreError as error:
            message = str(error)
        except BaseException as error:
            message = f"unexpected {error!r}"
        os.write(writing, message.encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        message = pipe.read()
    os.waitpid(child, 0)
    return message


def test_a_store_in_a_read_only_directory_names_the_cause(read_only_directory: Path) -> None:
    """SQLite's own words are "unable to open database file"; the store says the
    directory is not writable and that WAL mode needs its side files there."""
    path = str(read_only_directory / "desk.db")
    if os.geteuid() == 0:
        message = _open_as_nobody(path)  # root writes anywhere: give that up first
    else:
        with pytest.raises(StoreError) as caught:
            SqliteStore(path)
        message = str(caught.value)
    assert "desk.db-wal" in message
    assert "must be writable" in message
    assert str(read_only_directory) in message


def test_a_store_in_a_missing_directory_names_the_cause(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        SqliteStore(tmp_path / "missing" / "desk.db")
