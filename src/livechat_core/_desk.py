"""The application service: load, decide, save with the events, publish.

:class:`Desk` is the one object users hold. Each SPEC section 9 method builds a command
and hands it to :meth:`Desk.handle` (to its common path, ``Desk._commit``, which skips
the checks of what an arbitrary object is; through ``handle`` itself in a subclass that
overrides it). ``handle`` runs :func:`._core.decide` inside one store
transaction, saves the changes with their events and outbox entries, retries a bounded
number of times when another writer won the race for the same records, and finally
relays the outbox to the transport.
"""

from __future__ import annotations

import logging
import math
import operator
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Final, TypeVar

import attrs

from . import _commands as cmd
from ._core import RoutingStrategy, Settings, decide
from ._errors import (
    ClockError,
    ComposerError,
    ConcurrencyConflict,
    InvalidArgument,
    LivechatError,
    RetriesExhausted,
    SettingsMismatch,
    TransportError,
    UnknownAgent,
)
from ._errors import UnknownConversation as _UnknownConversation
from ._events import Event
from ._i18n import check_locale
from ._inputs import MAX_SECONDS, check_count, check_flag, check_name, check_seconds
from ._machines import LegState
from ._masking import MaskingPolicy, mask_text
from ._model import Agent, Conversation, Message, OfferKind, Queue
from ._pci import CARDS_ONLY, MAX_CUSTOMER_MESSAGE_LENGTH, CustomerTextScrubber
from ._report import Report, Wallboard, check_window, compute_report, compute_wallboard
from ._surfaces import Surfaces, render_surfaces
from .ports import (
    ArchivedConversation,
    Changes,
    Clock,
    CommandMetrics,
    Store,
    StoreTransaction,
    Transport,
)

T = TypeVar("T")

_log: Final = logging.getLogger("livechat_core")


@attrs.frozen(kw_only=True)
class Offer:
    """What the request popover shows for one pending offer.

    Attributes:
        conversation_id: the offered conversation.
        kind: ``"chat"`` (routed), ``"transfer"`` or ``"conference"``.
        deadline: when the offer times out (the agent then goes to RONA).
        customer_name, queue, proactive: about the chat.
        agent_name: the offered agent's display name.
        at: when the offer was made (the popover's date).
        messages: the thread so far.
    """

    conversation_id: str
    kind: OfferKind
    deadline: float
    customer_name: str
    queue: str
    agent_name: str
    at: float
    proactive: bool
    messages: tuple[Message, ...]


def _prefetch_hint(command: cmd.Command) -> dict[str, list[str]]:
    """The ids a command names, by kind, for :meth:`StoreTransaction.prefetch`."""

    def named(*fields: str) -> list[str]:
        return [value for field in fields if (value := getattr(command, field, None))]

    queues = [*named("queue"), *getattr(command, "queues", ())]
    if isinstance(command, cmd.AddQueue):
        queues.append(command.name)
    return {
        "conversation_ids": named("conversation_id"),
        "agent_ids": named("agent_id", "target_agent_id", "guest_agent_id"),
        "queues": queues,
        "assets": named("asset"),
        # These put a chat in their queue, and routing then reads that queue.
        "routing": named("queue") if isinstance(command, _QUEUEING) else [],
        # These may give the agent room, and routing then reads the agent's queues.
        "routing_agents": named("agent_id") if isinstance(command, _FREEING) else [],
    }


_QUEUEING: Final = (cmd.StartChat, cmd.TransferToQueue)
_FREEING: Final = (
    cmd.SetAvailable,
    cmd.Decline,
    cmd.End,
    cmd.TransferToAgent,
    cmd.TransferToQueue,
    cmd.EndConference,
)


# The commands the desk's methods build, checked the quick way (``_commands.quick``).
_LOGOUT: Final = cmd.quick(cmd.Logout)
_SET_AVAILABLE: Final = cmd.quick(cmd.SetAvailable)
_SET_IDLE: Final = cmd.quick(cmd.SetIdle)
_START_CHAT: Final = cmd.quick(cmd.StartChat)
_ACCEPT: Final = cmd.quick(cmd.Accept)
_DECLINE: Final = cmd.quick(cmd.Decline)
_SEND_AGENT_MESSAGE: Final = cmd.quick(cmd.SendAgentMessage)
_SEND_CUSTOMER_MESSAGE: Final = cmd.quick(cmd.SendCustomerMessage)
_TRANSFER_TO_AGENT: Final = cmd.quick(cmd.TransferToAgent)
_TRANSFER_TO_QUEUE: Final = cmd.quick(cmd.TransferToQueue)
_REQUEST_CONFERENCE: Final = cmd.quick(cmd.RequestConference)
_END_CONFERENCE: Final = cmd.quick(cmd.EndConference)
_CUSTOMER_END: Final = cmd.quick(cmd.CustomerEnd)
_DELETE_ASSET: Final = cmd.quick(cmd.DeleteAsset)
_END: Final = cmd.quick(cmd.End)
_SUBMIT_WRAP_UP: Final = cmd.quick(cmd.SubmitWrapUp)

_ALL: Final = 2**31 - 1  # "every row" for reads that take a limit


def _check_now(now: float) -> float:
    return check_seconds(now, "now")


_TIME_FIELDS: dict[type, tuple[Callable[[Any], tuple[Any, ...]], bool, bool]] = {}


def _time_fields(cls: type) -> tuple[Callable[[Any], tuple[Any, ...]], bool, bool]:
    """A getter of a record class's ``*_at`` and ``*_since`` values, and whether it has
    messages and legs: worked out once per class, not once per command."""
    found = _TIME_FIELDS.get(cls)
    if found is None:
        names = [field.name for field in attrs.fields(cls)]
        times = [name for name in names if name.endswith(("_at", "_since"))]
        getter: Callable[[Any], tuple[Any, ...]] = (
            operator.attrgetter(*times, *times[:1])  # two names at least: a tuple
            if times
            else lambda record: ()
        )
        found = _TIME_FIELDS[cls] = (getter, "messages" in names, "legs" in names)
    return found


def _latest_time(record: Any) -> float:
    """The latest time a stored record holds (its ``*_at`` and ``*_since`` fields, its
    legs', its last message's): no command may change it at an earlier time. The time
    floor of an agent; a conversation's is its ``last_event_at`` (the time of its newest
    event, which its other times may not show), this only for a record written before
    that field existed."""
    times, has_messages, has_legs = _time_fields(type(record))
    latest = -math.inf
    for value in times(record):
        if value is not None and value > latest:
            latest = value
    if has_messages and record.messages:
        latest = max(latest, record.messages[-1].at)
    if has_legs:
        for leg in record.legs:
            latest = max(latest, _latest_time(leg))
    return latest


def _stored_settings(locale: str, at_rest: MaskingPolicy | None) -> dict[str, str]:
    """The settings a desk records in its store: those that change what is stored."""
    masked = at_rest is not None and at_rest.enabled
    return {
        "locale": locale,
        "pci_at_rest": "on" if at_rest is not None else "off",
        "mask_at_rest": ",".join(sorted(at_rest.kinds)) if masked and at_rest else "",
        "keep_card_bin": "yes" if masked and at_rest and at_rest.keep_card_bin else "no",
    }


def _from_stored_settings(recorded: Mapping[str, str]) -> tuple[str, MaskingPolicy | None]:
    """The locale and at-rest policy of recorded settings, or ``SettingsMismatch``."""
    try:
        locale = check_locale(recorded["locale"])
        if recorded["pci_at_rest"] == "off":
            return locale, None
        kinds = [kind for kind in recorded["mask_at_rest"].split(",") if kind]
        policy = MaskingPolicy(
            enabled=bool(kinds),
            kinds=frozenset(kinds) if kinds else CARDS_ONLY.kinds,
            keep_card_bin=recorded.get("keep_card_bin") == "yes",
        )
    except (KeyError, AttributeError, LivechatError) as error:
        raise SettingsMismatch(
            f"the store's recorded settings {dict(recorded)} cannot be taken over",
            stored=dict(recorded),
        ) from error
    return locale, policy


def _clock_raised(error: Exception) -> ClockError:
    return ClockError(f"the desk's clock raised {type(error).__name__}; nothing was changed")


def _clock_time(now: Any) -> float:
    """A time the clock gave, checked: ``ClockError`` unless a finite number of seconds."""
    try:
        return check_seconds(now, "the clock's time")
    except InvalidArgument as error:
        raise ClockError(f"{error.message}; nothing was changed") from None


def _masking_at_rest(policy: MaskingPolicy) -> Callable[[str], str]:
    """``mask_text`` by ``policy``, as the desk's filter of the free text it stores (a
    closure calling it by position: a ``functools.partial`` with the policy as a keyword
    builds a keyword dictionary per call, about 950 machine instructions more)."""

    def scrub(text: str) -> str:
        return mask_text(text, policy)

    return scrub


def _new_id() -> str:
    """16 random hex digits (64 bits from the system's random source)."""
    return os.urandom(8).hex()


_EARLIEST: Final = -MAX_SECONDS
_NO_PREFETCH: Final = StoreTransaction.prefetch  # a store's that needs none
_OWN: Final = 128  # records remembered as saved by the desk (see ``Desk._saved``)
_BATCHES_LOCK: Final = threading.Lock()

TICK_BATCH: Final = 100
"""How many due conversations one transaction of :meth:`Desk.tick` fires at most: few
enough that a batch's records stay among the memory store's unpacked ones while the
transaction reads them again (``docs/decisions.md``)."""


def _through_handle(self: Desk, command: cmd.Command) -> list[Event]:
    """``_commit`` of a :class:`Desk` subclass that overrides ``handle``: its ``handle``."""
    return self.handle(command)


class _DueWindow:
    """One batch of a tick: the due conversations after a ``(deadline, id)`` cursor.

    :meth:`over` wraps a transaction so that the decision's ``due`` reads return this
    batch only (through the store's indexed ``due_after``), recording where it ended.
    """

    def __init__(self, now: float, after: tuple[float, str] | None, limit: int) -> None:
        self.now = now
        self.after = after
        self.limit = limit
        self.last: tuple[float, str] | None = None
        self.full = False

    def copy(self) -> _DueWindow:
        return _DueWindow(self.now, self.after, self.limit)

    def next(self) -> _DueWindow | None:
        """The batch after this one, or ``None`` when this one was the last."""
        if not self.full or self.last is None:
            return None
        return _DueWindow(self.now, self.last, self.limit)

    def over(self, txn: StoreTransaction) -> StoreTransaction:
        return _WindowedReader(txn, self)

    def read(self, txn: StoreTransaction, now: float, limit: int) -> list[str]:
        if self.last is not None:
            return []  # one read per batch: what it fired is not due again
        wanted = min(limit, self.limit)
        pairs = txn.due_after(min(now, self.now), self.after, wanted)
        self.full = len(pairs) >= wanted
        self.last = pairs[-1] if pairs else self.after
        return [conversation_id for _, conversation_id in pairs]


class _WindowedReader(StoreTransaction):
    """A transaction whose ``due`` reads one tick batch; everything else passes through."""

    def __init__(self, txn: StoreTransaction, window: _DueWindow) -> None:
        self._txn = txn
        self._window = window

    def queue(self, name: str) -> Queue | None:
        return self._txn.queue(name)

    def queues(self) -> list[Queue]:
        return self._txn.queues()

    def agent(self, agent_id: str) -> Agent | None:
        return self._txn.agent(agent_id)

    def agents(self, queue: str | None = None) -> list[Agent]:
        return self._txn.agents(queue)

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        return self._txn.routable(queue, limit)

    def conversation(self, conversation_id: str) -> Conversation | None:
        return self._txn.conversation(conversation_id)

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        return self._txn.queued(queues, limit)

    def due(self, now: float, limit: int) -> list[str]:
        return self._window.read(self._txn, now, limit)

    def due_after(
        self, now: float, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[float, str]]:
        return self._txn.due_after(now, after, limit)

    def open_on_asset(self, asset: str) -> list[str]:
        return self._txn.open_on_asset(asset)

    def asset_deleted(self, asset: str) -> bool:
        return self._txn.asset_deleted(asset)

    def save(self, changes: Changes) -> None:
        self._txn.save(changes)

    def save_last(self, changes: Changes) -> None:
        self._txn.save_last(changes)

    def savepoint(self) -> AbstractContextManager[None]:
        return self._txn.savepoint()


class Desk:
    """A contact-center desk: agents, queues and live chats, persisted through a store.

    Args:
        store: where state lives; ``None`` → a fresh :class:`MemoryStore`.
        transport: receives every committed event (at least once, in order per
            aggregate); ``None`` → events are only stored.
        clock: zero-argument callable returning POSIX seconds; ``None`` → ``time.time``.
        masking: the administrator's masking policy for displays; ``None`` →
            ``MaskingPolicy()`` (everything masked).
        locale: language of system messages, ``"en"`` or ``"cs"``.
        routing: who gets an offer; ``None`` → longest waiting agent first.
        pci_at_rest: mask card numbers in customer messages before they are stored
            (the default; turn off only where a PCI-compliant vault stores transcripts).
        mask_at_rest: what is masked before it is stored when ``pci_at_rest`` is on;
            ``None`` → card numbers only. ``MaskingPolicy()`` masks every kind at rest.
        max_customer_message_length: the longest customer message, in code points after
            normalisation (SPEC section 6); a longer one is refused with
            :class:`MessageTooLong`.
        new_id: makes conversation ids; ``None`` → random 16 hex digits.
        retries: how many times a command that lost a race for its records is retried.
        adopt_stored_settings: take the settings recorded in the store (``pci_at_rest``,
            ``mask_at_rest``, ``locale``) when they differ from this desk's, instead of
            refusing to open it with :class:`SettingsMismatch`. The first desk to open a
            store records its settings there.
        metrics: called after every command handled, committed or not, as
            ``metrics(command, outcome, seconds, retries)``: the command's class name,
            ``"ok"`` or the refusal's error code, the seconds it took (retries
            included) and how many times it lost a race (see ``docs/services.md``).
    """

    def __init__(
        self,
        store: Store | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        masking: MaskingPolicy | None = None,
        *,
        locale: str = "en",
        routing: RoutingStrategy | None = None,
        pci_at_rest: bool = True,
        mask_at_rest: MaskingPolicy | None = None,
        max_customer_message_length: int = MAX_CUSTOMER_MESSAGE_LENGTH,
        new_id: Callable[[], str] | None = None,
        retries: int = 20,
        adopt_stored_settings: bool = False,
        metrics: CommandMetrics | None = None,
    ) -> None:
        if metrics is not None and not callable(metrics):
            raise InvalidArgument(f"metrics must be callable, not {metrics!r}")
        if masking is not None and not isinstance(masking, MaskingPolicy):
            raise InvalidArgument(f"masking must be a MaskingPolicy, not {masking!r}")
        if store is not None and not isinstance(store, Store):
            raise InvalidArgument(f"store must be a livechat_core Store, not {store!r}")
        if transport is not None and not callable(getattr(transport, "publish", None)):
            raise InvalidArgument(f"transport must have a publish method, not {transport!r}")
        for name, function in (("clock", clock), ("new_id", new_id)):
            if function is not None and not callable(function):
                raise InvalidArgument(f"{name} must be callable, not {function!r}")
        check_flag(pci_at_rest, "pci_at_rest")
        check_flag(adopt_stored_settings, "adopt_stored_settings")
        if store is None:
            # imported here: the desk imports no adapter unless it is asked to build one
            from .adapters.memory import MemoryStore

            store = MemoryStore(outbox=transport is not None)
        self.store: Store = store
        self.transport = transport
        self.clock: Clock = time.time if clock is None else clock
        self.masking = MaskingPolicy() if masking is None else masking
        locale = check_locale(check_name(locale, "locale"))
        if mask_at_rest is not None and not isinstance(mask_at_rest, MaskingPolicy):
            raise InvalidArgument(f"mask_at_rest must be a MaskingPolicy, not {mask_at_rest!r}")
        at_rest = (CARDS_ONLY if mask_at_rest is None else mask_at_rest) if pci_at_rest else None
        # What changes the stored data must agree between the desks sharing the store.
        own = _stored_settings(locale, at_rest)
        recorded = self.store.claim_settings(own)
        if recorded != own:
            if not adopt_stored_settings:
                raise SettingsMismatch(
                    f"the store was set up with {recorded}, this desk has {own}; desks "
                    "sharing a store must agree (adopt_stored_settings=True takes the "
                    "store's)",
                    stored=recorded,
                    own=own,
                )
            locale, at_rest = _from_stored_settings(recorded)
        self.locale = locale
        self.pci_at_rest = at_rest is not None
        settings = Settings(locale=locale)
        if routing is not None:
            settings = attrs.evolve(settings, routing=routing)
        if (
            not isinstance(max_customer_message_length, int)
            or isinstance(max_customer_message_length, bool)
            or max_customer_message_length < 1
        ):
            raise InvalidArgument(
                "max_customer_message_length must be a positive int, "
                f"not {max_customer_message_length!r}"
            )
        settings = attrs.evolve(
            settings,
            customer_text=CustomerTextScrubber(
                policy=MaskingPolicy(enabled=False) if at_rest is None else at_rest,
                max_length=max_customer_message_length,
            ),
        )
        if at_rest is not None:
            settings = attrs.evolve(settings, scrub=_masking_at_rest(at_rest))
        self._settings = settings
        self._new_id = _new_id if new_id is None else new_id
        self._retries = check_count(retries, "retries", low=0, high=10_000)
        self._local = threading.local()  # .batch: this thread's batch() transaction
        # The latest time this desk ran a command at: its time never goes backwards.
        # (never below the earliest time a clock may give: ``_attempt`` relies on it)
        self._high_water = _EARLIEST
        self._metrics = metrics
        # Why a command may not take the common way (``_commit``): one for the metrics
        # hook, one more for each batch() block open in any thread (none → no
        # thread-local lookup per command).
        self._general = 0 if metrics is None else 1
        # the versions of the records this desk saved last, by id (see ``_changed_floor``):
        # conversations and agents apart (their ids may be equal)
        self._own: dict[str, int] = {}
        self._own_agents: dict[str, int] = {}

    # --- the one entry point ------------------------------------------------------------

    def handle(self, command: cmd.Command) -> list[Event]:
        """Apply ``command`` atomically and return its events.

        Raises a :class:`LivechatError` subclass when the command is refused; nothing
        changed then. A command that keeps losing the race for its records raises
        :class:`RetriesExhausted` after the desk's retries. Once the command committed
        it returns its events whatever the transport does: a failing relay is logged
        (logger ``"livechat_core"``) and its events stay in the outbox for the next one.
        Inside :meth:`batch` the command runs in the block's transaction and is durable
        when the block ends.
        """
        if not isinstance(command, cmd.Command):
            raise InvalidArgument(f"not a livechat command: {command!r}")
        if isinstance(command, cmd.Tick):
            return self._handle_general(command)
        # ``Desk``'s own: a subclass's ``_commit`` may be a way back to ``handle``
        return Desk._commit(self, command)

    def _commit(self, command: cmd.Command) -> list[Event]:
        """:meth:`handle` of a command that is not a tick, without the checks of what
        it is: the way the desk's own command methods hand it what they built.

        The common case (no metrics, no :meth:`batch` block open) runs here, the way
        :meth:`_run`'s first attempt does; everything else goes the general way. A
        subclass that overrides :meth:`handle` has its command methods go through its
        ``handle`` (``__init_subclass__``), as they did when they called it.
        """
        if self._general:  # metrics to take, or a batch() block open
            return self._handle_general(command)
        try:
            try:
                changes = self.store.transact(self._attempt, command)
            except ConcurrencyConflict:
                return self._retry(command, None, None, None, 1)[0]
        except LivechatError as error:
            # the code only: a refusal's message may quote what a customer typed
            _log.info("%s refused: %s", type(command).__name__, error.code)
            raise
        self._saved(changes)  # what was committed
        if self.transport is not None:
            self._relay_committed()
        return list(changes.events)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.handle is not Desk.handle:
            # the command methods hand their commands to the subclass's ``handle``
            cls._commit = _through_handle  # type: ignore[method-assign]

    def _handle_general(self, command: cmd.Command) -> list[Event]:
        """:meth:`handle` the general way: a tick, a command inside a :meth:`batch`
        block, a command whose time and outcome the metrics take."""
        metrics = self._metrics
        if metrics is None:  # nobody reads the time a command took: it is not taken
            try:
                if isinstance(command, cmd.Tick):
                    return self._tick(command.now, [0])
                return self._run(command, None, None)[0]
            except LivechatError as error:
                _log.info("%s refused: %s", type(command).__name__, error.code)
                raise
        started = time.perf_counter()
        name = type(command).__name__
        lost = [0]  # races lost, for the metrics
        try:
            if isinstance(command, cmd.Tick):
                events = self._tick(command.now, lost)
            else:
                events, _ = self._run(command, None, lost)
        except LivechatError as error:
            _log.info("%s refused: %s", name, error.code)
            metrics(name, error.code, time.perf_counter() - started, lost[0])
            raise
        metrics(name, "ok", time.perf_counter() - started, lost[0])
        return events

    def _run(
        self, command: cmd.Command, window: _DueWindow | None, lost: list[int] | None
    ) -> tuple[list[Event], _DueWindow | None]:
        """Decide and save ``command`` in its own transaction (or, inside :meth:`batch`, in
        a savepoint of the block's), retrying lost races; its events, and ``window`` as
        the successful attempt left it (a tick batch's cursor). ``lost`` counts the races
        lost (``None``: nobody counts them)."""
        batch = self._local.__dict__.get("batch") if self._general else None
        if batch is None and window is None:
            # the common case, first: one attempt in a transaction of its own
            try:
                changes = self.store.transact(self._attempt, command)
            except ConcurrencyConflict:
                return self._retry(command, window, lost, batch, 1)
            self._saved(changes)
            if self.transport is not None:
                self._relay_committed()
            return list(changes.events), None
        return self._retry(command, window, lost, batch, 0)

    def _attempt(self, txn: StoreTransaction, command: cmd.Command) -> Changes:
        """One attempt of ``command`` (not a tick) in ``txn``, a transaction of its own:
        :meth:`_decide` it and save it as the transaction's last act; the common case
        inline: a store without prefetch, a clock that gives a float, and records this
        desk committed itself (or a time floor no later than the clock's). The caller
        remembers the records (:meth:`_saved`) once the transaction committed."""
        if type(txn).prefetch is not _NO_PREFETCH:
            changes, _ = self._decide(txn, command, None, None)
        else:
            try:
                now = self.clock()
            except Exception as error:
                raise _clock_raised(error) from error
            # ``_high_water`` is never below the earliest time (``__init__``): one test
            # finds a float in range and not behind the desk's latest time
            if not (type(now) is float and self._high_water <= now <= MAX_SECONDS):
                now = max(_clock_time(now), self._high_water)
            changes = decide(txn, command, now, self._settings)
            # The time floor (``_changed_floor``) of records whose stored version this
            # desk committed itself is no later than its latest time: not even worked
            # out. (Agents only when there are: no iterator for a message's none.)
            own = self._own
            for record, base in changes.conversations:
                if not base:  # a new record: ``_own`` grows by it (see ``_saved``)
                    if len(own) > _OWN:
                        own.clear()
                elif own.get(record.id) != base:
                    changes = self._floored(txn, command, changes, now)
                    break
            else:
                agents = changes.agents
                if agents:
                    own = self._own_agents
                    for agent, base in agents:
                        if not base:  # (as above)
                            if len(own) > _OWN:
                                own.clear()
                        elif own.get(agent.id) != base:
                            changes = self._floored(txn, command, changes, now)
                            break
                    else:
                        self._high_water = now
                else:
                    self._high_water = now
        if changes.events or changes:
            txn.save_last(changes)
        return changes  # remembered by the caller once committed (``_saved``)

    def _floored(
        self, txn: StoreTransaction, command: cmd.Command, changes: Changes, now: float
    ) -> Changes:
        """``changes``, decided at ``now``, if the stored records they change hold no
        later time; else ``command`` decided again (by :meth:`_decide`) at that time."""
        if self._changed_floor(txn, changes) <= now:
            self._high_water = now
            return changes
        return self._decide(txn, command, None, None)[0]

    def _retry(
        self,
        command: cmd.Command,
        window: _DueWindow | None,
        lost: list[int] | None,
        batch: StoreTransaction | None,
        first: int,
    ) -> tuple[list[Event], _DueWindow | None]:
        """:meth:`_run` from attempt ``first`` (after ``first`` races lost), inside a
        :meth:`batch` block, or for a tick batch."""
        hint: dict[str, list[str]] | None = None
        for attempt in range(first, self._retries + 1):
            if attempt:
                if lost is not None:
                    lost[0] += 1
                _log.debug(
                    "%s lost a race for its records (attempt %d); retrying",
                    type(command).__name__,
                    attempt,
                )
                # Writers that aborted each other would retry in lockstep: spread them out
                # (full jitter, growing, capped at 50 ms).
                time.sleep(random.uniform(0, min(0.05, 0.0005 * 2 ** min(attempt - 1, 7))))
            attempt_window = None if window is None else window.copy()
            try:
                if batch is not None:
                    with batch.savepoint():
                        changes, hint = self._decide(batch, command, hint, attempt_window)
                        if changes:
                            batch.save(changes)
                            self._saved(changes)
                else:
                    with self.store.transaction() as txn:
                        changes, hint = self._decide(txn, command, hint, attempt_window)
                        if changes:
                            txn.save_last(changes)
                    self._saved(changes)  # committed
            except ConcurrencyConflict:
                if attempt >= self._retries:
                    break
                continue
            if attempt:
                _log.info("%s committed after %d lost races", type(command).__name__, attempt)
            if self.transport is not None and batch is None:
                self._relay_committed()
            return list(changes.events), attempt_window
        if lost is not None:
            lost[0] += 1
        _log.warning(
            "%s lost the race for its records %d times; giving up",
            type(command).__name__,
            self._retries + 1,
        )
        raise RetriesExhausted(
            f"{type(command).__name__} lost the race for its records {self._retries + 1} times",
            command=command,
        )

    def _saved(self, changes: Changes) -> None:
        """Remember the versions of the records this desk saved last, once committed (or
        saved in a :meth:`batch` block, which forgets them all if it does not commit):
        their times are at most the time it ran at, so the next command's time floor
        need not read them again.

        ``_own`` is kept bounded where a save can make it grow: by the time floor, which
        every save this remembers went through first (``_attempt`` or
        ``_changed_floor``), and which sees each record a save adds, a new one or one
        whose stored version is not the desk's own.
        """
        own = self._own
        for record, _ in changes.conversations:
            own[record.id] = record.version
        agents = changes.agents
        if agents:  # (no iterator for none)
            own = self._own_agents
            for agent, _ in agents:
                own[agent.id] = agent.version

    def _now(self) -> float:
        """The clock's time, checked: ``ClockError`` unless a finite number of seconds."""
        try:
            now = self.clock()
        except Exception as error:
            raise _clock_raised(error) from error
        if type(now) is float and -MAX_SECONDS <= now <= MAX_SECONDS:
            return now  # the common case (NaN fails the comparison)
        return _clock_time(now)

    def _changed_floor(self, txn: StoreTransaction, changes: Changes) -> float:
        """The latest time on the stored versions of the records ``changes`` changes.

        A record this desk committed holds no time after the time it ran at, so a stored
        version it committed itself is not even read (one writer commits each version of
        a record, and ``_own`` holds only committed ones, or saved ones of a ``batch()``
        block that forgets them all if it does not commit).
        """
        latest = -math.inf
        own = self._own
        if len(own) > _OWN:  # (see ``_saved``)
            own.clear()
        for conversation, base in changes.conversations:
            if base and own.get(conversation.id) != base:
                stored = txn.conversation(conversation.id)
                if stored is not None:
                    # the time of its newest event (a record written before that field
                    # existed: the latest time it holds)
                    at = stored.last_event_at
                    if at is None:
                        at = _latest_time(stored)
                    if at > latest:
                        latest = at
        own = self._own_agents
        if len(own) > _OWN:
            own.clear()
        for agent, base in changes.agents:
            if base and own.get(agent.id) != base:
                stored_agent = txn.agent(agent.id)
                if stored_agent is not None:
                    latest = max(latest, _latest_time(stored_agent))
        return latest

    def _decide(
        self,
        txn: StoreTransaction,
        command: cmd.Command,
        hint: dict[str, list[str]] | None,
        window: _DueWindow | None,
    ) -> tuple[Changes, dict[str, list[str]] | None]:
        """:func:`decide` at the command's time, which never goes backwards.

        The time is the clock's (a tick's own ``now``), held at the latest time this
        desk used and at the latest time on the stored records the command changes: a
        clock that went back (or another desk's clock behind this one) never stores an
        event before the events it follows (``docs/decisions.md``). A held tick still
        fires only the deadlines due at its own ``now``.
        """
        # A hint for stores with round trips: the records the command names, fetched
        # together before decide reads them one at a time (skipped for stores that do
        # not use it, such as the memory store).
        if type(txn).prefetch is not StoreTransaction.prefetch:
            hint = hint or _prefetch_hint(command)
            txn.prefetch(**hint)
        tick = isinstance(command, cmd.Tick)
        now = command.now if isinstance(command, cmd.Tick) else self._now()
        if now < self._high_water:
            now = self._high_water
        if window is None and not tick:  # the common case: no window, no tick
            changes = decide(txn, command, now, self._settings)
            floor = self._changed_floor(txn, changes)
            if floor <= now:
                self._high_water = now
                return changes, hint
            now = floor  # the records changed hold a later time: run at that one
        for _ in range(3):
            trial = None if window is None else window.copy()
            reader: StoreTransaction = txn if trial is None else trial.over(txn)
            at = attrs.evolve(command, now=now) if isinstance(command, cmd.Tick) else command
            changes = decide(reader, at, now, self._settings)
            floor = self._changed_floor(txn, changes)
            if floor <= now:
                break
            now = floor  # the records changed hold a later time: run at that one
        if window is not None and trial is not None:
            window.last, window.full = trial.last, trial.full
        self._high_water = max(self._high_water, now)
        return changes, hint

    def _tick(self, now: float, lost: list[int]) -> list[Event]:
        """Fire the deadlines due at ``now`` in batches of at most :data:`TICK_BATCH`
        conversations, each batch its own transaction, resuming after the last
        ``(deadline, id)`` of the batch before; all their events."""
        fired: list[Event] = []
        window: _DueWindow | None = _DueWindow(now, None, TICK_BATCH)
        command = cmd.Tick(now=now)
        while window is not None:
            events, window = self._run(command, window, lost)
            fired.extend(events)
            assert window is not None
            window = window.next()
        return fired

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: the commands inside the block share one store transaction.

        Each command is still atomic on its own: a refused one raises and changes
        nothing (catch it and the others go on), and each runs in a savepoint of the
        block's transaction. The block is made durable by one commit at its end, and the
        events are relayed to the transport after that commit. A command inside the block
        is acknowledged only when the block ends: an exception leaving the block (or a
        crash) rolls back every command of it and nothing else. Views read inside the
        block see its commands. A nested ``batch()`` joins the outer block. Other threads
        using the same desk run their commands in their own transactions, which wait for
        the block on stores with one writer at a time.
        """
        if self._local.__dict__.get("batch") is not None:
            yield
            return
        try:
            with self.store.transaction() as txn:
                self._local.batch = txn
                with _BATCHES_LOCK:
                    self._general += 1
                try:
                    yield
                finally:
                    with _BATCHES_LOCK:
                        self._general -= 1
                    self._local.batch = None
        except BaseException:
            # the block's saves did not stand: none of its records is this desk's own
            self._own.clear()
            self._own_agents.clear()
            raise
        if self.transport is not None:
            self._relay_committed()

    def archive(self, before: float, limit: int = 1000) -> list[ArchivedConversation]:
        """Move conversations closed before ``before`` out of the store; returns them.

        Oldest closed first, at most ``limit`` per call (call again until it returns an
        empty list). Each :class:`~livechat_core.ports.ArchivedConversation` carries the
        whole transcript and every event; ``.to_record()`` is a JSON-ready mapping (one
        line of a JSON Lines file) with customer text masked by this desk's ``masking``
        (``.to_record(clear=True)``: as stored) and ``.changes()`` loads it into another
        store. The
        events of an archived conversation leave the outbox with it: relay first if a
        transport must still receive them.
        """
        if self._local.__dict__.get("batch") is not None:
            raise InvalidArgument("archive() cannot run inside a batch() block")
        archived = self.store.archive(
            check_seconds(before, "before"), check_count(limit, "limit", low=1, high=1_000_000)
        )
        # their records leave the desk: masked by its policy unless to_record(clear=True)
        return [attrs.evolve(item, masking=self.masking) for item in archived]

    def relay(self) -> int:
        """Hand pending outbox events to the transport; returns how many were published.

        Called after every command when the desk has a transport; call it at start-up
        to deliver what a crashed process committed but did not publish. A desk without a
        transport leaves events in the store's outbox for one that has.

        Raises:
            TransportError: ``publish`` raised; the batch stays in the outbox (the
                transport's exception is chained as ``__cause__``).
        """
        published = 0
        while batch := self.store.pending(500):
            if self.transport is not None:
                try:
                    self.transport.publish(batch)
                except Exception as error:
                    raise TransportError(
                        f"the transport failed to publish {len(batch)} events "
                        f"({type(error).__name__}); they stay in the outbox"
                    ) from error
            self.store.mark_published([event.id for event in batch])
            published += len(batch)
        return published

    def _relay_committed(self) -> None:
        """Relay after a commit. The command stands whatever happens here: a failure is
        logged (its kind, never the events or the exception's text, which may quote
        customer messages) and the events wait in the outbox for the next relay."""
        try:
            self.relay()
        except Exception as error:
            cause = error.__cause__ if isinstance(error, TransportError) else error
            _log.warning(
                "relaying committed events failed (%s: %s); they stay in the outbox "
                "and the next relay sends them",
                getattr(error, "code", "error"),
                type(cause).__name__,
            )

    # --- commands (SPEC section 9) ----------------------------------------------------------

    def add_queue(
        self,
        name: str,
        wrap_up_reasons: Sequence[str],
        offer_timeout: float = 30.0,
        wrap_up_timeout: float | None = None,
        default_wrap_up_reason: str | None = None,
    ) -> list[Event]:
        """Add a queue (or change its configuration) with its list of wrap-up reasons."""
        return self._commit(
            cmd.AddQueue(
                name=name,
                wrap_up_reasons=wrap_up_reasons,
                offer_timeout=offer_timeout,
                wrap_up_timeout=wrap_up_timeout,
                default_wrap_up_reason=default_wrap_up_reason,
            )
        )

    def login(
        self, agent_id: str, name: str, queues: Sequence[str], capacity: int = 1
    ) -> list[Event]:
        """Log an agent in, idle, serving ``queues`` with up to ``capacity`` chats."""
        return self._commit(
            cmd.Login(agent_id=agent_id, name=name, queues=queues, capacity=capacity)
        )

    def logout(self, agent_id: str) -> list[Event]:
        """Log an agent out; refused while they hold an offered, active or wrapping leg."""
        return self._commit(_LOGOUT(agent_id))

    def set_available(self, agent_id: str) -> list[Event]:
        """Make an agent available (the manual way out of RONA); routing may offer at once."""
        return self._commit(_SET_AVAILABLE(agent_id))

    def set_idle(self, agent_id: str, reason: str) -> list[Event]:
        """Make an agent idle with a reason code; their pending offers are withdrawn."""
        return self._commit(_SET_IDLE(agent_id, reason))

    def start_chat(
        self,
        queue: str,
        customer_name: str,
        customer_contact: str,
        proactive: bool = False,
        asset: str = "livechat",
    ) -> str:
        """A customer starts a chat in ``queue``; returns the new conversation's id."""
        conversation_id = self._new_id()
        self._commit(
            _START_CHAT(conversation_id, queue, customer_name, customer_contact, proactive, asset)
        )
        return conversation_id

    def accept(self, agent_id: str, conversation_id: str) -> list[Event]:
        """Accept the agent's pending offer (a chat, a transfer or a conference)."""
        return self._commit(_ACCEPT(agent_id, conversation_id))

    def decline(self, agent_id: str, conversation_id: str) -> list[Event]:
        """Decline the agent's pending offer; the chat is offered to somebody else."""
        return self._commit(_DECLINE(agent_id, conversation_id))

    def send_agent_message(self, agent_id: str, conversation_id: str, text: str) -> list[Event]:
        """Send an agent message (composer rules: 1000 code points, no ``<`` or ``>``)."""
        try:
            command = _SEND_AGENT_MESSAGE(agent_id, conversation_id, text)
        except ComposerError as error:
            self._with_state(error)
            raise
        return self._commit(command)

    def send_customer_message(self, conversation_id: str, text: str) -> list[Event]:
        """The customer sends a message (card numbers are masked before storing)."""
        try:
            command = _SEND_CUSTOMER_MESSAGE(conversation_id, text)
        except ComposerError as error:
            self._with_state(error)
            raise
        return self._commit(command)

    def _with_state(self, error: ComposerError) -> None:
        """Give a composer refusal (raised as a message command is made) the
        conversation's current state, as every refusal carries it."""
        if error.aggregate_id is not None and error.state is None:
            conversation_id = error.aggregate_id
            found = self._read(lambda txn: txn.conversation(conversation_id))
            error.state = None if found is None else found.state

    def transfer_to_agent(
        self, agent_id: str, conversation_id: str, target_agent_id: str
    ) -> list[Event]:
        """Transfer to another available agent; the owner's leg goes to wrap-up at once."""
        return self._commit(_TRANSFER_TO_AGENT(agent_id, conversation_id, target_agent_id))

    def transfer_to_queue(self, agent_id: str, conversation_id: str, queue: str) -> list[Event]:
        """Transfer to a queue; the owner's leg goes to wrap-up at once."""
        return self._commit(_TRANSFER_TO_QUEUE(agent_id, conversation_id, queue))

    def request_conference(
        self, agent_id: str, conversation_id: str, guest_agent_id: str
    ) -> list[Event]:
        """Invite another available agent into the chat."""
        return self._commit(_REQUEST_CONFERENCE(agent_id, conversation_id, guest_agent_id))

    def end_conference(self, agent_id: str, conversation_id: str) -> list[Event]:
        """The owner ends the conference (or withdraws the invitation), or the guest leaves."""
        return self._commit(_END_CONFERENCE(agent_id, conversation_id))

    def customer_end(self, conversation_id: str) -> list[Event]:
        """The customer clicks "End chat" in the widget."""
        return self._commit(_CUSTOMER_END(conversation_id))

    def delete_asset(self, asset: str) -> list[Event]:
        """An administrator deletes an asset: its conversations are interrupted."""
        return self._commit(_DELETE_ASSET(asset))

    def end(self, agent_id: str, conversation_id: str) -> list[Event]:
        """The owner ends the chat; every active leg goes to wrap-up."""
        return self._commit(_END(agent_id, conversation_id))

    def submit_wrap_up(
        self, agent_id: str, conversation_id: str, reason: str, notes: str = ""
    ) -> list[Event]:
        """Submit the agent's own wrap-up with a reason from the queue's list."""
        return self._commit(_SUBMIT_WRAP_UP(agent_id, conversation_id, reason, notes))

    def tick(self, now: float | None = None) -> list[Event]:
        """Fire every deadline expired at ``now`` (the clock's time when omitted).

        The deadlines fire in batches of at most :data:`TICK_BATCH` conversations, each
        its own transaction, so a tick's cost per deadline does not grow with how many
        are due; it returns the events of all of them.
        """
        return self.handle(cmd.Tick(now=self._now() if now is None else now))

    # --- views --------------------------------------------------------------------------

    def _read(self, reader: Callable[[StoreTransaction], T]) -> T:
        batch = self._local.__dict__.get("batch")
        if batch is not None:  # inside batch(): what the block did so far
            return reader(batch)
        with self.store.transaction(write=False) as txn:
            return reader(txn)

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation as it stands (a frozen view; ``.elapsed(now)`` is the timer)."""
        conversation_id = cmd.identifier(conversation_id, "conversation_id")
        found = self._read(lambda txn: txn.conversation(conversation_id))
        if found is None:
            raise _UnknownConversation(
                f"no conversation {conversation_id!r}", aggregate_id=conversation_id
            )
        return self._with_transcript(found)

    def _with_transcript(self, conversation: Conversation) -> Conversation:
        """The record (which keeps only its newest messages) with the whole transcript,
        read from the store's message rows; no message newer than the record."""
        if conversation.message_count == len(conversation.messages):
            return conversation  # nothing left out (a short chat)
        messages = self.store.transcript(conversation.id)[: conversation.message_count]
        return attrs.evolve(conversation, messages=tuple(messages))

    def agent(self, agent_id: str) -> Agent:
        """The agent as they stand: ``.state``, ``.capacity``, ``.holding``, …"""
        agent_id = cmd.identifier(agent_id, "agent_id")
        found = self._read(lambda txn: txn.agent(agent_id))
        if found is None:
            raise UnknownAgent(f"no agent {agent_id!r} ever logged in", aggregate_id=agent_id)
        return found

    def offers(self, agent_id: str) -> list[Offer]:
        """The agent's pending offers, oldest first: what the request popover shows."""
        agent_id = cmd.identifier(agent_id, "agent_id")

        def read(txn: StoreTransaction) -> list[tuple[Offer, Conversation]]:
            agent = txn.agent(agent_id)
            if agent is None:
                raise UnknownAgent(f"no agent {agent_id!r} ever logged in", aggregate_id=agent_id)
            offers = []
            for conversation_id in dict.fromkeys(agent.holding):
                conversation = txn.conversation(conversation_id)
                if conversation is None:
                    continue
                found = conversation.leg_of(agent_id, LegState.OFFERED)
                if found is None:
                    continue
                leg = found[1]
                offers.append(
                    (
                        Offer(
                            conversation_id=conversation.id,
                            kind=leg.kind,
                            deadline=leg.deadline if leg.deadline is not None else leg.offered_at,
                            customer_name=conversation.customer_name,
                            queue=conversation.queue,
                            agent_name=leg.agent_name,
                            at=leg.offered_at,
                            proactive=conversation.proactive,
                            messages=(),
                        ),
                        conversation,
                    )
                )
            return sorted(offers, key=lambda pair: (pair[0].at, pair[0].conversation_id))

        # the thread so far: the whole transcript, from the store's message rows
        return [
            attrs.evolve(offer, messages=self._with_transcript(conversation).messages)
            for offer, conversation in self._read(read)
        ]

    def available_agents(self, exclude: str | None = None) -> list[Agent]:
        """Agents a chat can be transferred to or conferenced with: available, with free
        capacity, other than ``exclude`` (the asking agent); by name."""
        if exclude is not None:
            exclude = cmd.identifier(exclude, "exclude")
        # the store's index of routable agents: no agent who cannot take a chat is read
        agents = self._read(lambda txn: txn.routable(None, _ALL))
        found = [a for a in agents if a.id != exclude]
        return sorted(found, key=lambda agent: (agent.name.casefold(), agent.id))

    def agents(self) -> list[Agent]:
        """Every agent that ever logged in, by id."""
        return self._read(lambda txn: txn.agents())

    def queues(self) -> list[Queue]:
        """Every queue (the transfer dialog's list), by name."""
        return self._read(lambda txn: txn.queues())

    def events(self, conversation_id: str) -> list[Event]:
        """The stored events of a conversation, oldest first (replayable)."""
        conversation_id = cmd.identifier(conversation_id, "conversation_id")
        return self.store.events(conversation_id, "conversation")

    def events_after(self, position: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """At most ``limit`` stored events after ``position`` in the store's log, as
        ``(position, event)``, oldest first: every aggregate's events, in one order per
        store. Pass the last position handled to resume (0: from the start); a consumer
        keeps its own with ``store.save_consumer_position``."""
        return self.store.log(position, limit)

    # --- figures (SPEC section 12) -------------------------------------------------------

    def stored_events(self) -> Iterator[Event]:
        """Every stored conversation and agent event: each aggregate's events oldest
        first (the input of :func:`livechat_core.compute_report`)."""
        for conversation_id in self.store.conversation_ids():
            yield from self.store.events(conversation_id, "conversation")
        for agent in self.agents():
            yield from self.store.events(agent.id, "agent")

    def report(
        self,
        since: float | None = None,
        until: float | None = None,
        service_level_threshold: float = 20.0,
        *,
        interval: float = 900.0,
    ) -> Report:
        """The contact-center figures of the chats started in ``[since, until)``
        (SPEC section 12): overall, ``.by_queue[name]``, ``.by_agent[agent_id]`` and
        ``.intervals`` of ``interval`` seconds. Legs still held and agents still logged
        in count until the desk's clock (or ``until``, if earlier)."""
        since, until, threshold, interval = check_window(
            since, until, service_level_threshold, interval
        )
        return compute_report(
            self.stored_events(),
            since=since,
            until=until,
            service_level_threshold=threshold,
            now=self._now(),
            interval=interval,
            queues=[queue.name for queue in self.queues()],
        )

    def stats(self, now: float | None = None) -> Wallboard:
        """The live wallboard: ``.queues[name].waiting`` and ``.longest_wait`` (seconds),
        ``.agents[state]`` (every agent state present); ``now`` ``None`` → the clock."""
        at = self._now() if now is None else _check_now(now)

        def read(txn: StoreTransaction) -> Wallboard:
            queues = txn.queues()
            queued = txn.queued([queue.name for queue in queues], _ALL) if queues else []
            return compute_wallboard(at, queues, txn.agents(), queued)

        return self._read(read)

    def _repr_html_(self) -> str:
        """An overview for notebooks: agents, queues and open chats, masked by the desk's
        policy, timers by the desk's clock."""
        from ._html import desk_html

        return desk_html(self)

    def surfaces(self, conversation_id: str, policy: MaskingPolicy | None = None) -> Surfaces:
        """Every masked surface of SPEC section 6 for a conversation (policy ``None`` → the
        desk's masking policy)."""
        return render_surfaces(
            self.conversation(conversation_id), self.masking if policy is None else policy
        )
