"""The fast paths of the decide path give exactly what the rules they shortcut give.

Each shortcut (issue 9, per-command cost) skips work only where the slower rule provably
has the same outcome; these properties compare them with the rules written out plainly.
"""

from __future__ import annotations

import math
import re
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livechat_core import InvalidArgument
from livechat_core import _events as ev
from livechat_core._conversation import Draft, apply_to, started
from livechat_core._inputs import (
    MAX_NAME_LENGTH,
    MAX_SECONDS,
    check_name,
    check_seconds,
    check_text,
)
from livechat_core._machines import LegState
from livechat_core._model import Conversation, Leg, LegRole, Message, OfferKind, Role, replace
from livechat_core._pci import recent_window

_NOT_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXTS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

names = st.one_of(
    st.text(max_size=8),
    st.text(alphabet=st.characters(codec=None), max_size=8),
    st.sampled_from(["a0", " ", "\u3000", "\xa0x", "x\n", "a" * MAX_NAME_LENGTH, "a" * 257]),
    st.integers(),
    st.none(),
)


def _name_rule(value: Any, line_breaks: bool) -> bool:
    if type(value) is not str or not value.strip() or len(value) > MAX_NAME_LENGTH:
        return False
    return (_NOT_IN_TEXTS if line_breaks else _NOT_IN_NAMES).search(value) is None


def _accepted(check: Any, *args: Any, **options: Any) -> bool:
    try:
        check(*args, **options)
    except InvalidArgument:
        return False
    return True


@given(names, st.booleans())
def test_check_name_accepts_what_the_rules_accept(value: Any, line_breaks: bool) -> None:
    assert _accepted(check_name, value, "id", line_breaks=line_breaks) == _name_rule(
        value, line_breaks
    )


@given(st.one_of(st.text(alphabet=st.characters(codec=None), max_size=12), st.integers()))
def test_check_text_accepts_what_the_rules_accept(value: Any) -> None:
    expected = type(value) is str and len(value) <= 10 and not _NOT_IN_TEXTS.search(value)
    assert _accepted(check_text, value, "text", 10) == expected


@given(
    st.one_of(st.floats(), st.integers(), st.booleans(), st.sampled_from([MAX_SECONDS, 1e13])),
    st.booleans(),
)
def test_check_seconds_accepts_what_the_rules_accept(value: Any, positive: bool) -> None:
    number = type(value) in (int, float)
    expected = (
        number
        and not (type(value) is float and not math.isfinite(value))
        and -MAX_SECONDS <= value <= MAX_SECONDS
        and (value > 0 or not positive)
    )
    assert _accepted(check_seconds, value, "now", positive=positive) == expected
    if expected:
        assert check_seconds(value, "now", positive=positive) == float(value)


_LEG = Leg(
    agent_id="a0",
    agent_name="Ann",
    role=LegRole.OWNER,
    kind=OfferKind.CHAT,
    queue="support",
    state=LegState.OFFERED,
    offered_at=1.0,
    deadline=31.0,
)


@given(
    st.dictionaries(
        st.sampled_from([field.name for field in attrs.fields(Leg)]),
        st.one_of(st.none(), st.floats(allow_nan=False), st.text(max_size=3)),
    )
)
def test_replace_is_attrs_evolve(changes: dict[str, Any]) -> None:
    assert replace(_LEG, **changes) == attrs.evolve(_LEG, **changes)


def test_replace_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no_such"):
        replace(_LEG, no_such=1)


@given(st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12)), max_size=6))
def test_next_deadline_is_the_earliest_leg_deadline(deadlines: list[float | None]) -> None:
    conversation = Conversation(
        id="c",
        queue="q",
        asset="livechat",
        customer_name="C",
        customer_contact="",
        proactive=False,
        started_at=0.0,
        legs=tuple(attrs.evolve(_LEG, deadline=deadline) for deadline in deadlines),
    )
    # the rule the loop replaces: the least of the deadlines that are set, else None
    set_ones = [deadline for deadline in deadlines if deadline is not None]
    assert conversation.next_deadline == (min(set_ones) if set_ones else None)


_TEXTS = st.sampled_from(["4111", "1111 ", "wait", "12", "Hello there", "my card 4111 1111", "ok"])


@given(st.lists(st.tuples(st.sampled_from([Role.CUSTOMER, Role.SYSTEM]), _TEXTS), max_size=12))
def test_a_draft_keeps_the_window_masking_may_read(posts: list[tuple[Role, str]]) -> None:
    """What the record keeps after each post is what the walk keeps over the messages
    kept before plus the new one (the rule written out, without its shortcut)."""
    draft = started(
        ev.ChatStarted(
            aggregate_id="c1",
            sequence=1,
            at=0.0,
            queue="support",
            customer_name="Customer",
            customer_contact="",
            proactive=False,
            asset="livechat",
        )
    )
    kept: tuple[Message, ...] = ()
    for number, (role, text) in enumerate(posts, start=1):
        message = Message(id=f"c1/{number}", role=role, author="x", text=text, at=1.0, initials="")
        apply_to(
            draft, ev.MessagePosted(aggregate_id="c1", sequence=number + 1, at=1.0, message=message)
        )
        grown = (*kept, message)
        keep = recent_window(grown)
        kept = grown[len(grown) - keep :] if keep else ()
        assert draft.messages == kept
    assert isinstance(draft, Draft)
