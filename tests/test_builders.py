"""The generated constructors of frozen values build exactly what ``__init__`` builds.

``_model.builder`` (and the copies made by ``replace`` and ``freeze``) build a new value
as a subclass that stores its slots the plain way and make it an instance of the frozen
class once every field is set, instead of calling ``object.__setattr__`` per field as
the ``__init__`` of a frozen attrs class does (issue 9, fourth round). These properties
compare them with ``__init__`` for every record, event and ``Changes`` class, with any
values, defaults left out or given.
"""

from __future__ import annotations

import copy
import pickle
import weakref
from typing import Any, cast

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livechat_core import _commands as cmd
from livechat_core import _events as ev
from livechat_core import _model
from livechat_core._conversation import Draft, freeze
from livechat_core._model import builder, copier_from, replace
from livechat_core.ports import Changes

BUILT: list[type] = [
    _model.Message,
    _model.Queue,
    _model.Agent,
    _model.Leg,
    _model.Conversation,
    Changes,
    *ev.EVENT_TYPES.values(),
]

values = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.tuples(st.text(max_size=3)),
    st.booleans(),
)


@st.composite
def fields_of(draw: st.DrawFn, cls: type) -> dict[str, Any]:
    """Values for the fields of ``cls``: every required one, and some of the defaulted."""
    chosen: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.default is attrs.NOTHING or draw(st.booleans()):
            chosen[field.name] = draw(values)
    return chosen


@pytest.mark.parametrize("cls", BUILT, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_builder_builds_what_init_builds(cls: type, data: st.DataObject) -> None:
    fields = data.draw(fields_of(cls))
    built: Any = builder(cls)(**fields)
    expected: Any = cls(**fields)
    assert type(built) is cls
    assert built == expected
    assert hash(built) == hash(expected)
    assert repr(built) == repr(expected)
    for field in attrs.fields(cls):  # the very values, each in its own slot
        assert getattr(built, field.name) is getattr(expected, field.name)
    name = attrs.fields(cls)[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(built, name, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        delattr(built, name)
    # an ordinary value of its class in every other way
    assert pickle.loads(pickle.dumps(built)) == expected
    assert copy.copy(built) == expected
    assert attrs.evolve(cast(Any, built)) == expected
    assert weakref.ref(built)() is built


@pytest.mark.parametrize("cls", BUILT, ids=lambda cls: cls.__name__)
def test_builder_refuses_what_init_refuses(cls: type) -> None:
    required = [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING]
    fields = {f.name: None for f in attrs.fields(cls)}
    with pytest.raises(TypeError):
        builder(cls)(**fields, not_a_field=1)
    with pytest.raises(TypeError):
        builder(cls)(*fields.values())  # keyword-only, as __init__
    for name in required:
        with pytest.raises(TypeError):
            builder(cls)(**{k: v for k, v in fields.items() if k != name})


@pytest.mark.parametrize("cls", BUILT, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_replace_is_evolve_for_every_class(cls: type, data: st.DataObject) -> None:
    record = cls(**data.draw(fields_of(cls)))
    names = [f.name for f in attrs.fields(cls)]
    changed = data.draw(st.lists(st.sampled_from(names), unique=True))
    changes = {name: data.draw(values) for name in changed}
    copy = replace(record, **changes)
    assert type(copy) is cls
    assert copy == attrs.evolve(record, **changes)


@given(data=st.data())
def test_freeze_is_the_record_of_the_draft(data: st.DataObject) -> None:
    fields = data.draw(fields_of(_model.Conversation))
    record = _model.Conversation(**fields)
    draft = Draft.of(record)
    assert freeze(draft) == record
    assert copier_from(_model.Conversation)(record) == record


def test_classes_init_does_more_for_are_refused() -> None:
    # a command validates its fields in __init__: building it slot by slot would skip that
    with pytest.raises(TypeError, match="not built by setting its fields alone"):
        builder(cmd.Accept)
    with pytest.raises(TypeError, match="not built by setting its fields alone"):
        copier_from(cmd.StartChat)

    @attrs.frozen
    class WithPostInit:
        x: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen
    class WithFactory:
        x: list[int] = attrs.field(factory=list)

    @attrs.frozen(slots=False)
    class WithoutSlots:
        x: int

    for cls in (WithPostInit, WithFactory, WithoutSlots):
        with pytest.raises(TypeError, match="not built by setting its fields alone"):
            builder(cls)
