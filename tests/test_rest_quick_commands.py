"""The desk's quick way to build a command (``_commands.quick``) gives what the command's
own constructor gives: an equal value of the very class for every argument it accepts,
and the same typed refusal for every argument it refuses (issue 9, per-command cost)."""

from __future__ import annotations

import unicodedata
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livechat_core import Desk, InvalidArgument
from livechat_core import _commands as cmd
from livechat_core._composer import MAX_MESSAGE_LENGTH
from livechat_core._errors import LivechatError
from livechat_core._inputs import MAX_NAME_LENGTH
from livechat_core._model import Queue

# Strings near every rule's edge: control characters, line breaks, surrogates, blanks,
# text that is not NFC, reserved characters, lengths at and past the limits.
_EDGES = [
    "a0",
    "",
    " ",
    "\u3000",
    "\xa0x",
    "x\n",
    "x\r\ny",
    "x\ty",
    "\x00",
    "\x85",
    "\ud800",
    "e\u0301",  # not NFC: normalised to "é"
    "\u00e9",
    "\u212b",  # normalised to "Å"
    "<b>",
    "a > b",
    "a" * MAX_NAME_LENGTH,
    "a" * (MAX_NAME_LENGTH + 1),
    "a" * MAX_MESSAGE_LENGTH,
    "a" * (MAX_MESSAGE_LENGTH + 1),
    " " * 3,
]
values = st.one_of(
    st.sampled_from(_EDGES),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec=None), max_size=12),
    st.integers(),
    st.none(),
    st.booleans(),
    st.just(Queue(name="support", wrap_up_reasons=("Resolved",))),
)

QUICK = [
    cls
    for cls in vars(cmd).values()
    if isinstance(cls, type) and issubclass(cls, cmd.Command) and cls in cmd._QUICK
]


def _outcome(build: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        made = build(*args, **kwargs)
    except LivechatError as error:
        return "refused", (type(error), str(error), error.details)
    return "made", (type(made), made)


def _both(cls: type[cmd.Command], arguments: list[Any]) -> None:
    names = [field.name for field in attrs.fields(cls)]
    quick = _outcome(cmd.quick(cls), *arguments)
    plain = _outcome(cls, **dict(zip(names, arguments, strict=True)))
    assert quick == plain


@pytest.mark.parametrize("cls", QUICK, ids=lambda cls: cls.__name__)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_quick_builds_what_the_constructor_builds(cls: type[cmd.Command], data: Any) -> None:
    _both(cls, [data.draw(values) for _ in attrs.fields(cls)])


@pytest.mark.parametrize("cls", QUICK, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("edge", _EDGES)
def test_quick_agrees_at_every_edge_in_every_field(cls: type[cmd.Command], edge: str) -> None:
    good = {
        "text": "Hello",
        "customer_contact": "k@example.com",
        "notes": "",
        "proactive": False,
    }
    fields = attrs.fields(cls)
    for at in range(len(fields)):
        arguments = [good.get(field.name, "a0") for field in fields]
        arguments[at] = edge
        _both(cls, arguments)


def test_every_desk_command_is_built_quickly() -> None:
    """The desk's own methods (all but those taking lists and the tick) use ``quick``."""
    assert {cls.__name__ for cls in QUICK} >= {
        "StartChat",
        "Accept",
        "Decline",
        "SendAgentMessage",
        "SendCustomerMessage",
        "End",
        "SubmitWrapUp",
        "TransferToAgent",
        "TransferToQueue",
        "RequestConference",
        "EndConference",
        "CustomerEnd",
        "DeleteAsset",
        "SetAvailable",
        "SetIdle",
        "Logout",
    }


def test_a_quick_value_is_frozen_and_of_its_own_class() -> None:
    made = cmd.quick(cmd.Accept)("a0", "c1")
    assert type(made) is cmd.Accept
    assert made == cmd.Accept(agent_id="a0", conversation_id="c1")
    assert hash(made) == hash(cmd.Accept(agent_id="a0", conversation_id="c1"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.agent_id = "a1"  # type: ignore[misc]


def test_quick_refuses_a_class_whose_checks_it_does_not_know() -> None:
    with pytest.raises(TypeError):
        cmd.quick(cmd.Login)  # a list of queues: its converter is not a quick check
    with pytest.raises(TypeError):
        cmd.quick(cmd.AddQueue)  # a post-init rule


def test_the_desk_refuses_through_quick_as_through_the_constructor() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    desk.login("a0", "Anna", ["support"])
    desk.set_available("a0")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    desk.accept("a0", chat)
    before = desk.events(chat)
    with pytest.raises(InvalidArgument) as refused:
        desk.send_agent_message("a0\n", chat, "Hello")
    assert refused.value.details["field"] == "agent_id"
    with pytest.raises(LivechatError) as reserved:
        desk.send_agent_message("a0", chat, "<b>")
    assert reserved.value.code == "reserved_character"
    assert reserved.value.state == "active"  # the refusal carries the chat's state
    assert desk.events(chat) == before
    # what is normalised on the way in is stored normalised
    desk.send_agent_message("a0", chat, "Cafe\u0301\r\nok")
    assert desk.conversation(chat).messages[-1].text == unicodedata.normalize(
        "NFC", "Cafe\u0301\nok"
    )
