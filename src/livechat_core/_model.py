"""The records the desk keeps: queues, agents, conversations with their legs and messages.

All of them are frozen, slotted attrs values. A command never mutates a record; it
derives new ones, so a refused command leaves nothing half-changed.
"""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

from ._inputs import check_seconds
from ._states import AgentState, ConversationState, LegState

_R = TypeVar("_R")
_READERS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def field_reader(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """A class's field names and a C-speed getter of all their values as a tuple."""
    found = _READERS.get(cls)
    if found is None:
        names = tuple(f.name for f in attrs.fields(cls))
        getter = operator.attrgetter(*names)
        found = _READERS[cls] = (names, (lambda r: (getter(r),)) if len(names) == 1 else getter)
    return found


def _plain_fields(cls: type) -> tuple[attrs.Attribute[Any], ...]:
    """The fields of a slotted frozen attrs class whose ``__init__`` does nothing but set
    each one (no validator, converter, factory or post-init hook), else ``TypeError``:
    for those, building one slot by slot is what ``__init__`` does."""
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)
    plain = not hasattr(cls, "__attrs_post_init__") and "__slots__" in vars(cls)
    for field in fields:
        factory = isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
        if field.validator or field.converter or factory:
            plain = False
    if not plain:
        raise TypeError(f"{cls.__name__} is not built by setting its fields alone")
    return fields


_BUILDING: dict[type, type] = {}


def _building(cls: type) -> type:
    """The class a new value of ``cls`` is built as: a subclass adding no slot and setting
    attributes the ordinary way, which the interpreter does at the cost of a plain slot
    store (``__init__`` of a frozen class calls ``object.__setattr__`` per field). A
    value built as it becomes a ``cls`` once every field is set (``__class__`` assignment:
    the same slots, so the same layout) and is never changed after that."""
    found = _BUILDING.get(cls)
    if found is None:
        _plain_fields(cls)
        namespace = {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            # an empty instance is made by calling the class (object's __new__ and
            # __init__ in C), cheaper than calling ``object.__new__(building)``
            "__init__": object.__init__,
            "__delattr__": object.__delattr__,
        }
        found = _BUILDING[cls] = type(f"Building{cls.__name__}", (cls,), namespace)
    return found


def _generated(cls: type, what: str, source: str, namespace: dict[str, Any]) -> Any:
    namespace.update(building=_building(cls), cls=cls)
    exec(compile(source, f"<{what} of {cls.__qualname__}>", "exec"), namespace)
    return namespace[what]


def _sets(cls: type, value: Callable[[str], str]) -> str:
    """The body that builds a new ``cls`` on ``self`` with each field ``value(name)``."""
    return (
        "    self = building()\n"
        + "".join(f"    self.{field.name} = {value(field.name)}\n" for field in attrs.fields(cls))
        + "    self.__class__ = cls\n    return self\n"
    )


_BUILDERS: dict[type, Callable[..., Any]] = {}


def builder(cls: type[_R]) -> Callable[..., _R]:
    """A constructor equal to ``cls(**fields)`` for a slotted frozen attrs class whose
    ``__init__`` only sets its fields (records and events), generated once per class. The
    ``__init__`` of a frozen class sets each field through ``object.__setattr__`` (about
    1,000 machine instructions a field in CPython 3.11, against a few dozen for a plain slot
    store); this one builds the value as a subclass that stores slots the plain way and
    makes it a ``cls`` once every field is set (``docs/performance.md``). Nothing is
    changed after that: the value is frozen from the moment it is returned."""
    found = _BUILDERS.get(cls)
    if found is None:
        fields = _plain_fields(cls)
        namespace: dict[str, Any] = {}
        parameters = []
        for field in fields:
            if field.default is attrs.NOTHING:
                parameters.append(field.name)
            else:
                namespace[f"default_{field.name}"] = field.default
                parameters.append(f"{field.name}=default_{field.name}")
        source = f"def build(*, {', '.join(parameters)}):\n" + _sets(cls, lambda name: name)
        found = _BUILDERS[cls] = _generated(cls, "build", source, namespace)
    return found


def copier_from(cls: type[_R]) -> Callable[[Any], _R]:
    """``source -> cls(**{each field: source.<field>})``, generated once: a frozen record
    of any object with the class's attributes (a draft), built as :func:`builder` does."""
    source = "def copy(source):\n" + _sets(cls, lambda name: f"source.{name}")
    return _generated(cls, "copy", source, {})  # type: ignore[no-any-return]


def updater(cls: type[_R], *names: str) -> Callable[..., _R]:
    """``(record, value, ...) -> replace(record, **dict(zip(names, values)))``, generated
    once: the copy :func:`replace` makes, for a change of the same fields every time, with
    the new values passed by position (no dictionary and no look-up per copy). A name that
    is not a field raises ``TypeError``."""
    fields = field_reader(cls)[0]
    unknown = sorted(set(names) - set(fields))
    if unknown or len(set(names)) != len(names):
        raise TypeError(f"{cls.__name__}: not distinct fields {list(names)}")
    parameters = {name: f"value{i}" for i, name in enumerate(names)}
    source = f"def update(record, {', '.join(parameters.values())}):\n" + _sets(
        cls, lambda name: parameters.get(name, f"record.{name}")
    )
    return _generated(cls, "update", source, {})  # type: ignore[no-any-return]


def replace(record: _R, **changes: Any) -> _R:
    """A copy of a frozen record with ``changes``: ``attrs.evolve`` without its per-call
    introspection, for the hot path (the records here have no validators to skip)."""
    key = (type(record), *changes)
    copier = _COPIERS.get(key)
    if copier is None:
        copier = _COPIERS[key] = _copier(type(record), tuple(changes))
    return copier(record, changes)  # type: ignore[no-any-return]


_COPIERS: dict[tuple[Any, ...], Callable[[Any, dict[str, Any]], Any]] = {}


def _copier(cls: type, changed: tuple[str, ...]) -> Callable[[Any, dict[str, Any]], Any]:
    """``(record, changes) -> copy`` for ``cls`` and the field names ``changed``, its code
    generated once (as attrs generates ``__init__``): each changed field from
    ``changes``, every other from the record, with no dictionary of every field built
    per copy. A name that is not a field raises ``TypeError``."""
    names = field_reader(cls)[0]
    unknown = sorted(set(changed) - set(names))
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {unknown}")
    source = "def copy(record, changes):\n" + _sets(
        cls, lambda name: f"changes[{name!r}]" if name in changed else f"record.{name}"
    )
    return _generated(cls, "copy", source, {})  # type: ignore[no-any-return]


class Role(enum.StrEnum):
    """Who wrote a message."""

    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


class LegRole(enum.StrEnum):
    """An agent's part in a conversation: the owner, or a guest invited to a conference."""

    OWNER = "owner"
    GUEST = "guest"


class OfferKind(enum.StrEnum):
    """Why a leg was offered: a routed chat, a transfer to the agent, or a conference."""

    CHAT = "chat"
    TRANSFER = "transfer"
    CONFERENCE = "conference"


class Outcome(enum.StrEnum):
    """How a closed conversation ended; the first cause wins."""

    ABANDONED = "abandoned"
    CUSTOMER_ENDED = "customer_ended"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"


class DisconnectReason(enum.StrEnum):
    """Why a held conversation was disconnected."""

    CUSTOMER_ENDED = "customer_ended"
    ASSET_DELETED = "asset_deleted"


_TITLES: Final = frozenset({
    # honorifics and degrees written without a dot (those with one are told by it)
    "mr", "mrs", "ms", "mx", "miss", "sir", "dame", "md", "dds", "dvm", "phd", "jr", "sr",
    "ii", "iii", "iv", "v", "esq", "mba", "pan", "paní", "pani", "slečna", "slecna", "bc",
    "ing", "mgr",
})  # fmt: skip


def _is_title(word: str) -> bool:
    bare = word.strip(",")
    return (bare.endswith(".") and len(bare) > 2) or bare.casefold() in _TITLES


@functools.lru_cache(maxsize=1024)  # a name's initials never change; names repeat
def initials(name: str) -> str:
    """Display initials of a name: ``"Jana Nováková"`` → ``"JN"`` (at most two letters).

    Titles and degrees (``"Ing."``, ``"Ph.D."``, ``"Dr."``, ``"Jr."``, ``"MD"``, ``"paní"``)
    are skipped, and only words that start with a letter count: a name that is a phone
    number gives none of its digits away (its initials are empty)."""
    words = [word for word in name.split() if word[:1].isalpha()]
    named = [word for word in words if not _is_title(word)] or words
    if not named:
        return ""
    if len(named) == 1:
        return named[0][0].upper()
    return (named[0][0] + named[-1][0]).upper()


@attrs.frozen(kw_only=True)
class Message:
    """One message of a conversation's transcript.

    Attributes:
        id: ``"<conversation id>/<n>"``, unique and stable.
        role: ``"customer"``, ``"agent"`` or ``"system"``.
        author: the customer's name, the agent's id, or ``"system"``.
        text: the text as stored (a card number is masked before it gets here).
        at: POSIX seconds.
        initials: what the bubble shows (the customer's or the agent's initials).
    """

    id: str
    role: Role
    author: str
    text: str
    at: float
    initials: str


@attrs.frozen(kw_only=True)
class Queue:
    """A queue's configuration (SPEC section 9 ``add_queue``)."""

    name: str
    wrap_up_reasons: tuple[str, ...]
    offer_timeout: float = 30.0
    wrap_up_timeout: float | None = None
    default_wrap_up_reason: str | None = None
    version: int = 0

    @property
    def automatic_wrap_up_reason(self) -> str:
        """The reason a wrap-up timeout submits: the default, else the first of the list."""
        return self.default_wrap_up_reason or self.wrap_up_reasons[0]

    def wrap_up_deadline(self, now: float) -> float | None:
        """When a leg that starts wrapping up at ``now`` is wrapped up automatically."""
        return None if self.wrap_up_timeout is None else now + self.wrap_up_timeout


_AVAILABLE: Final = AgentState.AVAILABLE  # (a global: cheaper than the class attribute)


@attrs.frozen(kw_only=True)
class Agent:
    """An agent and the work they hold.

    ``holding`` lists the conversations where the agent has an offered or active leg
    (these count against ``capacity``); ``wrapping`` those where a leg is still wrapping
    up. ``version`` increases with every change, for optimistic concurrency;
    ``sequence`` is the number of events the agent has had, ``last_event_at`` the time of
    the last of them (``None`` only on a record written before the field existed, until
    its next event): with the agent's other times, the time no later command on the agent
    may go below (``docs/decisions.md``, "Time never goes backwards"). A change of its
    holdings is a conversation's event, not the agent's, and does not set it.
    """

    id: str
    name: str
    queues: tuple[str, ...]
    capacity: int = 1
    state: AgentState = AgentState.LOGGED_OUT
    idle_reason: str | None = None
    holding: tuple[str, ...] = ()
    wrapping: tuple[str, ...] = ()
    available_since: float | None = None
    last_offer_at: float | None = None
    version: int = 0
    sequence: int = 0
    last_event_at: float | None = None

    @property
    def free_capacity(self) -> int:
        """How many more chats may be offered to the agent."""
        return self.capacity - len(self.holding)

    @property
    def routable(self) -> bool:
        """Available with free capacity: may receive a new offer."""
        return self.state is _AVAILABLE and len(self.holding) < self.capacity

    @property
    def waiting_since(self) -> float:
        """The routing key: the last offer, or, never offered, when the agent became available."""
        if self.last_offer_at is not None:
            return self.last_offer_at
        return self.available_since if self.available_since is not None else 0.0


@attrs.frozen(kw_only=True)
class Leg:
    """One agent's participation in a conversation (TaskRouter's reservation).

    ``deadline`` is the offer deadline while ``offered`` and the automatic wrap-up
    deadline (if the queue has one) while ``wrapping_up``; otherwise ``None``.
    """

    agent_id: str
    agent_name: str
    role: LegRole
    kind: OfferKind
    queue: str
    state: LegState
    offered_at: float
    deadline: float | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    wrap_up_reason: str | None = None
    wrap_up_notes: str = ""
    wrapped_up_at: float | None = None
    wrapped_up_automatically: bool = False


class LegLookups:
    """The leg lookups shared by a conversation record and its working draft."""

    __slots__ = ()
    legs: tuple[Leg, ...]

    def legs_in(self, *states: LegState) -> list[tuple[int, Leg]]:
        """The legs in any of ``states``, with their index."""
        return [(i, leg) for i, leg in enumerate(self.legs) if leg.state in states]

    def leg_of(self, agent_id: str, *states: LegState) -> tuple[int, Leg] | None:
        """The agent's oldest leg in any of ``states``."""
        for i, leg in enumerate(self.legs):
            if leg.agent_id == agent_id and leg.state in states:
                return i, leg
        return None

    def leg_in(self, agent_id: str, state: LegState) -> tuple[int, Leg] | None:
        """The agent's oldest leg in ``state``: :meth:`leg_of` with one state (the decide
        path's look-up, without a tuple of states per call)."""
        i = 0
        for leg in self.legs:
            if leg.state is state and leg.agent_id == agent_id:
                return i, leg
            i += 1  # noqa: SIM113 (no enumerate object and index tuple per leg)
        return None


@attrs.frozen(kw_only=True)
class Conversation(LegLookups):
    """A chat: its state, owner, legs and transcript. Built only by applying events.

    ``message_count`` is the number of messages posted so far. ``messages`` is the whole
    transcript in every view (``desk.conversation``, ``replay``); the record a store keeps
    and a decision reads holds only the newest messages that masking at rest may still look
    back over (usually none or a few), while the transcript lives in the store as one row
    per message, so a message costs the same however long the chat is.

    ``last_event_at`` is the time of the newest event applied to the conversation (its last
    event's ``at``): the time no later command may go below (``docs/decisions.md``, "Time
    never goes backwards"), which the record's other times do not always show (the
    record keeps only a few recent messages). ``None`` only on a record written before
    the field existed, until its next event.
    """

    id: str
    queue: str
    asset: str
    customer_name: str
    customer_contact: str
    proactive: bool
    started_at: float
    state: ConversationState = ConversationState.QUEUED
    owner: str | None = None
    accepted_at: float | None = None
    first_accepted_at: float | None = None
    legs: tuple[Leg, ...] = ()
    messages: tuple[Message, ...] = ()
    message_count: int = 0
    declined_by: frozenset[str] = frozenset()
    handed_off_by: str | None = None
    cause: Outcome | None = None
    disconnect_reason: DisconnectReason | None = None
    outcome: Outcome | None = None
    ended_at: float | None = None
    closed_at: float | None = None
    last_event_at: float | None = None
    version: int = 0

    def elapsed(self, now: float) -> float:
        """Seconds since the current owner accepted (the desktop's timer); 0 before that.
        ``now`` must be a finite number of seconds (:class:`InvalidArgument` otherwise)."""
        now = check_seconds(now, "now")
        if self.accepted_at is None:
            return 0.0
        return max(0.0, now - self.accepted_at)

    @property
    def next_deadline(self) -> float | None:
        """The earliest offer or wrap-up deadline of any leg, if any."""
        earliest = None
        for leg in self.legs:  # (a loop: no list built per save)
            deadline = leg.deadline
            if deadline is not None and (earliest is None or deadline < earliest):
                earliest = deadline
        return earliest
