"""Contact-center figures (SPEC section 12): pure functions over events and records.

:func:`compute_report` folds stored events into the figures a contact center is run by:
service level, average speed of answer (ASA), abandonment, average handling time (AHT)
and, per agent, legs, RONA, busy time and occupancy. :func:`compute_wallboard` reads the
live records (queues, agents, queued conversations) into the wallboard's counts.

Both are pure: no store, no clock. The desk feeds them (``Desk.report``/``Desk.stats``)
and so does the simulation; a user may feed :func:`compute_report` any iterable of
events, such as a JSON Lines export read back with :func:`livechat_core.event_from_record`.

Definitions (``docs/reports.md`` has them with the decisions around them):

* a chat belongs to the report when its ``ChatStarted`` is in ``[since, until)``;
* ``offered``: chats started; ``handled``: chats accepted by an agent at least once;
  ``abandoned``: chats the customer left before any agent accepted them;
* ``asa``: mean seconds from start to the first accept, over handled chats;
* ``service_level``: chats first accepted within the threshold (at most that many
  seconds after the start) ÷ (offered − chats abandoned within the threshold);
* ``abandon_rate``: abandoned ÷ offered;
* ``aht``: mean seconds from an owner leg's accept to its submitted wrap-up, over owner
  legs that submitted one;
* per agent: ``legs`` accepted, ``rona`` offers that timed out on them, ``busy`` seconds
  holding at least one active or wrapping-up leg, ``occupancy`` = busy ÷ (seconds logged
  in − seconds idle while not busy). ``legs`` and ``rona`` come from the report's chats;
  the seconds are clock time inside the report's window, whichever chat they were spent on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from . import _events as ev
from ._errors import InvalidArgument
from ._inputs import check_items, check_seconds
from ._machines import AgentState, ConversationState
from ._model import Agent, Conversation, Queue

DEFAULT_THRESHOLD: Final = 20.0
"""Seconds within which a chat counts as answered in time (the service-level target)."""

DEFAULT_INTERVAL: Final = 900.0
"""Length of a trend interval: 15 minutes, the usual contact-center reporting period."""

_MAX_INTERVALS: Final = 100_000


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _mean(values: Sequence[float]) -> float | None:
    return None if not values else math.fsum(values) / len(values)


@attrs.frozen(kw_only=True)
class Figures:
    """The chat figures of a set of chats (the whole report, one queue or one interval).

    Attributes:
        offered: chats started.
        handled: chats an agent accepted at least once.
        abandoned: chats closed with outcome ``abandoned`` (the customer left first).
        answered_in_threshold: chats first accepted within the threshold.
        abandoned_in_threshold: abandoned chats the customer left within the threshold.
        asa: average speed of answer: mean seconds from start to the first accept over
            handled chats; ``None`` when none was handled.
        service_level: answered_in_threshold ÷ (offered − abandoned_in_threshold), in
            ``[0, 1]``; ``None`` when the divisor is 0.
        abandon_rate: abandoned ÷ offered; ``None`` when nothing was offered.
        wrapped_legs: owner legs that submitted a wrap-up (the AHT's sample).
        aht: average handling time: mean seconds from an owner leg's accept to its
            submitted wrap-up (talk plus after-chat work); ``None`` without such legs.
    """

    offered: int = 0
    handled: int = 0
    abandoned: int = 0
    answered_in_threshold: int = 0
    abandoned_in_threshold: int = 0
    asa: float | None = None
    service_level: float | None = None
    abandon_rate: float | None = None
    wrapped_legs: int = 0
    aht: float | None = None


FIGURE_FIELDS: Final = tuple(field.name for field in attrs.fields(Figures))


@attrs.frozen(kw_only=True)
class AgentFigures:
    """One agent's figures over the report's window.

    Attributes:
        agent_id, name: who (the name from their last login).
        legs: legs the agent accepted (owner and guest) in the report's chats.
        rona: offers of the report's chats that timed out on the agent.
        busy: seconds holding at least one active or wrapping-up leg.
        logged_in: seconds logged in.
        idle: seconds in the ``idle`` state (a reason code set).
        idle_not_busy: seconds idle while holding no leg.
        occupancy: busy ÷ (logged_in − idle_not_busy); ``None`` when the divisor is 0.
    """

    agent_id: str
    name: str = ""
    legs: int = 0
    rona: int = 0
    busy: float = 0.0
    logged_in: float = 0.0
    idle: float = 0.0
    idle_not_busy: float = 0.0
    occupancy: float | None = None


@attrs.frozen(kw_only=True)
class Interval:
    """The figures of the chats started in ``[start, end)``: one point of a trend."""

    start: float
    end: float
    figures: Figures


@attrs.frozen(kw_only=True, repr=False)
class Report(Figures):
    """The report of SPEC section 12: overall figures, per queue, per agent, per interval.

    The overall figures are attributes of the report itself (``report.service_level``);
    ``by_queue[name]`` has the same fields for the chats that started in that queue (every
    queue configured is there, with zeros when none did; a leg's handling time counts for
    the queue the chat was in when the leg was offered);
    ``by_agent[agent_id]`` is an :class:`AgentFigures`; ``intervals`` are fixed periods
    (``interval`` seconds, aligned to the epoch: 09:00, 09:15, …) of chat start times.

    Attributes:
        since, until: the window asked for (``None``: open).
        start, end: the window measured: agent time is counted inside ``[start, end]``.
        service_level_threshold: seconds, for service level.
    """

    since: float | None = None
    until: float | None = None
    start: float | None = None
    end: float | None = None
    service_level_threshold: float = DEFAULT_THRESHOLD
    interval: float = DEFAULT_INTERVAL
    by_queue: Mapping[str, Figures] = attrs.field(factory=dict)
    by_agent: Mapping[str, AgentFigures] = attrs.field(factory=dict)
    intervals: tuple[Interval, ...] = ()

    def __repr__(self) -> str:
        # the headline only: by_queue, by_agent and intervals are views of their own
        return (
            f"<Report offered={self.offered} handled={self.handled} "
            f"abandoned={self.abandoned} service_level={_short(self.service_level)} "
            f"asa={_short(self.asa)} aht={_short(self.aht)} "
            f"abandon_rate={_short(self.abandon_rate)}; {len(self.by_queue)} queues, "
            f"{len(self.by_agent)} agents, {len(self.intervals)} intervals>"
        )

    @property
    def figures(self) -> Figures:
        """The overall figures alone, as a plain :class:`Figures`."""
        return Figures(**{name: getattr(self, name) for name in FIGURE_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "since": self.since,
            "until": self.until,
            "start": self.start,
            "end": self.end,
            "service_level_threshold": self.service_level_threshold,
            "interval": self.interval,
            "overall": attrs.asdict(self.figures),
            "by_queue": {name: attrs.asdict(f) for name, f in self.by_queue.items()},
            "by_agent": {agent: attrs.asdict(f) for agent, f in self.by_agent.items()},
            "intervals": [
                {"start": i.start, "end": i.end, **attrs.asdict(i.figures)} for i in self.intervals
            ],
        }

    def format(self, width: int = 100) -> str:
        """A plain-text report for a terminal."""
        from ._report_view import report_text

        return report_text(self, width)

    def _repr_html_(self) -> str:
        """Tables and small inline SVG charts for notebooks."""
        from ._report_view import report_html

        return report_html(self)

    def plot(self) -> Any:
        """A matplotlib ``Figure`` of the trends (chats offered/handled/abandoned per
        interval, service level, ASA) and agent occupancy. The global backend and
        pyplot's figure list are left alone: display it, or ``figure.savefig(path)``.
        Needs matplotlib (``pip install 'livechat-core[plots]'``)."""
        from ._report_view import report_figure

        return report_figure(self)

    def to_frame(self) -> Any:
        """The trend as a pandas ``DataFrame``: one row per interval (needs pandas)."""
        from ._frames import intervals_frame

        return intervals_frame(self)

    def queues_frame(self) -> Any:
        """A pandas ``DataFrame`` with one row per queue (needs pandas)."""
        from ._frames import queues_frame

        return queues_frame(self)

    def agents_frame(self) -> Any:
        """A pandas ``DataFrame`` with one row per agent (needs pandas)."""
        from ._frames import agents_frame

        return agents_frame(self)


def _short(value: float | None) -> str:
    return "None" if value is None else f"{value:.4g}"


def _check_time(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    return check_seconds(value, name)


def check_window(
    since: float | None, until: float | None, threshold: float, interval: float
) -> tuple[float | None, float | None, float, float]:
    """Validated ``(since, until, threshold, interval)``; :class:`InvalidArgument` if bad."""
    since = _check_time(since, "since")
    until = _check_time(until, "until")
    if since is not None and until is not None and until < since:
        raise InvalidArgument(f"until ({until!r}) is before since ({since!r})")
    for value, name in ((threshold, "service_level_threshold"), (interval, "interval")):
        if check_seconds(value, name) < 0:
            raise InvalidArgument(f"{name} must be a finite, non-negative number, not {value!r}")
    if interval == 0:
        raise InvalidArgument("interval must be more than 0 seconds")
    return since, until, float(threshold), float(interval)


# --------------------------------------------------------------------------- the fold


@attrs.define
class _Chat:
    """What the fold learns about one conversation."""

    queue: str
    started_at: float
    first_accept: float | None = None
    abandoned_at: float | None = None
    interrupted: bool = False
    current_queue: str = ""
    pending: dict[str, tuple[bool, str]] = attrs.field(factory=dict)  # agent → (owner?, queue)
    open_legs: dict[str, list[tuple[bool, str, float]]] = attrs.field(factory=dict)
    wrapped: list[tuple[str, float]] = attrs.field(factory=list)  # (queue, seconds) of owner legs


@attrs.define
class _AgentLog:
    name: str = ""
    legs: int = 0
    rona: int = 0
    held: list[tuple[float, float]] = attrs.field(factory=list)
    logged_in: list[tuple[float, float]] = attrs.field(factory=list)
    idle: list[tuple[float, float]] = attrs.field(factory=list)


def _by_aggregate(
    events: Iterable[ev.Event],
) -> tuple[list[list[ev.Event]], list[list[ev.Event]], set[str]]:
    """The conversations' and the agents' histories, and the queues ever configured."""
    conversations: dict[str, list[ev.Event]] = defaultdict(list)
    agents: dict[str, list[ev.Event]] = defaultdict(list)
    queues: set[str] = set()
    for event in events:
        if not isinstance(event, ev.Event):
            raise InvalidArgument(f"not an event: {event!r}")
        if event.aggregate == "conversation":
            conversations[event.aggregate_id].append(event)
        elif event.aggregate == "agent":
            agents[event.aggregate_id].append(event)
        elif event.aggregate == "queue":
            queues.add(event.aggregate_id)
    order = lambda e: e.sequence  # noqa: E731 - the events of one aggregate, in their order
    return (
        [sorted(found, key=order) for found in conversations.values()],
        [sorted(found, key=order) for found in agents.values()],
        queues,
    )


def _fold_chat(
    events: list[ev.Event], agents: dict[str, _AgentLog], end: float, *, counted: bool
) -> _Chat | None:
    """Fold one conversation; its legs' held time always goes to ``agents`` (agent time
    is measured by the clock), its legs and RONAs only when it is ``counted`` (started
    in the report's window)."""
    first = events[0]
    if not isinstance(first, ev.ChatStarted):
        return None  # an incomplete history (archived or cut): not a chat this report can read
    chat = _Chat(queue=first.queue, started_at=first.at, current_queue=first.queue)
    for event in events[1:]:
        if isinstance(event, ev.ChatOffered):
            chat.pending[event.agent_id] = (True, chat.current_queue)
        elif isinstance(event, ev.TransferRequested):
            chat.pending[event.target_agent_id] = (True, chat.current_queue)
        elif isinstance(event, ev.ConferenceRequested):
            chat.pending[event.guest_agent_id] = (False, chat.current_queue)
        elif isinstance(event, ev.OfferAccepted):
            owner, queue = chat.pending.pop(event.agent_id, (True, chat.current_queue))
            if chat.first_accept is None:
                chat.first_accept = event.at
            chat.open_legs.setdefault(event.agent_id, []).append((owner, queue, event.at))
            if counted:
                agents.setdefault(event.agent_id, _AgentLog()).legs += 1
        elif isinstance(event, ev.OfferTimedOut):
            chat.pending.pop(event.agent_id, None)
            if counted:
                agents.setdefault(event.agent_id, _AgentLog()).rona += 1
        elif isinstance(event, ev.OfferDeclined | ev.OfferRescinded):
            chat.pending.pop(event.agent_id, None)
        elif isinstance(event, ev.TransferredToQueue):
            chat.current_queue = event.queue
        elif isinstance(event, ev.WrapUpSubmitted):
            legs = chat.open_legs.get(event.agent_id)
            if not legs:
                continue
            owner, queue, accepted_at = legs.pop(0)  # an agent settles their older leg first
            agents.setdefault(event.agent_id, _AgentLog()).held.append((accepted_at, event.at))
            if owner:
                chat.wrapped.append((queue, event.at - accepted_at))
        elif isinstance(event, ev.ChatInterrupted):
            chat.interrupted = True
        elif (
            isinstance(event, ev.CustomerEnded)
            and chat.first_accept is None
            and not chat.interrupted
            and chat.abandoned_at is None
        ):
            chat.abandoned_at = event.at
    for agent_id, legs in chat.open_legs.items():
        for _, _, accepted_at in legs:  # still held when the report was made
            agents.setdefault(agent_id, _AgentLog()).held.append((accepted_at, end))
    return chat


def _fold_agent(events: list[ev.Event], log: _AgentLog, end: float) -> None:
    logged_in_at: float | None = None
    idle_since: float | None = None
    for event in events:
        if isinstance(event, ev.AgentLoggedIn):
            log.name = event.name
            if logged_in_at is None:
                logged_in_at = event.at
            if idle_since is None:
                idle_since = event.at
        elif isinstance(event, ev.AgentIdle):
            if idle_since is None:
                idle_since = event.at
        elif isinstance(event, ev.AgentAvailable | ev.AgentRona | ev.AgentLoggedOut):
            if idle_since is not None:
                log.idle.append((idle_since, event.at))
                idle_since = None
            if isinstance(event, ev.AgentLoggedOut) and logged_in_at is not None:
                log.logged_in.append((logged_in_at, event.at))
                logged_in_at = None
    if idle_since is not None:
        log.idle.append((idle_since, max(idle_since, end)))
    if logged_in_at is not None:
        log.logged_in.append((logged_in_at, max(logged_in_at, end)))


_Span = tuple[float, float]


def _clip(intervals: Iterable[_Span], low: float, high: float) -> list[_Span]:
    """``intervals`` cut to ``[low, high]``, merged where they overlap, sorted."""
    cut = sorted((max(a, low), min(b, high)) for a, b in intervals if min(b, high) > max(a, low))
    merged: list[tuple[float, float]] = []
    for a, b in cut:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _length(intervals: Iterable[tuple[float, float]]) -> float:
    return math.fsum(b - a for a, b in intervals)


def _overlap(first: list[tuple[float, float]], second: list[tuple[float, float]]) -> float:
    """Seconds covered by both merged, sorted interval lists."""
    total, i, j = 0.0, 0, 0
    while i < len(first) and j < len(second):
        low = max(first[i][0], second[j][0])
        high = min(first[i][1], second[j][1])
        if high > low:
            total += high - low
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return total


def _figures(chats: Sequence[_Chat], legs: Sequence[float], threshold: float) -> Figures:
    offered = len(chats)
    waits = [c.first_accept - c.started_at for c in chats if c.first_accept is not None]
    abandoned = [c.abandoned_at - c.started_at for c in chats if c.abandoned_at is not None]
    in_threshold = sum(1 for wait in waits if wait <= threshold)
    abandoned_early = sum(1 for wait in abandoned if wait <= threshold)
    return Figures(
        offered=offered,
        handled=len(waits),
        abandoned=len(abandoned),
        answered_in_threshold=in_threshold,
        abandoned_in_threshold=abandoned_early,
        asa=_mean(waits),
        service_level=_ratio(in_threshold, offered - abandoned_early),
        abandon_rate=_ratio(len(abandoned), offered),
        wrapped_legs=len(legs),
        aht=_mean(legs),
    )


def compute_report(
    events: Iterable[ev.Event],
    *,
    since: float | None = None,
    until: float | None = None,
    service_level_threshold: float = DEFAULT_THRESHOLD,
    now: float | None = None,
    interval: float = DEFAULT_INTERVAL,
    queues: Iterable[str] = (),
) -> Report:
    """The figures of SPEC section 12 from ``events`` (any order across aggregates).

    Args:
        events: conversation and agent events (other aggregates are ignored). Each
            conversation needs its whole history from ``ChatStarted``.
        since: the chats started at or after ``since`` are reported, and agent time is
            measured from it (``None``: from the beginning).
        until: the chats started before ``until`` are reported, and agent time is
            measured up to it (``None``: up to ``now``).
        service_level_threshold: seconds within which a chat counts as answered in time
            (and an abandonment as too quick to count against the service level).
        now: when the report is made: legs still held and agents still logged in count
            until ``now`` (or ``until``, whichever is earlier); ``None`` → the last event.
        interval: length of a trend interval in seconds (default 15 minutes).
        queues: names of queues to report even where no chat started in them (with
            zeros), besides those of ``QueueConfigured`` events among ``events``: a desk
            passes every queue it has.
    """
    since, until, threshold, interval = check_window(
        since, until, service_level_threshold, interval
    )
    now = _check_time(now, "now")
    conversations, agent_histories, configured = _by_aggregate(
        check_items(events, ev.Event, "events")
    )
    for name in check_items(queues, str, "queues"):
        configured.add(name)
    last = max(
        (history[-1].at for history in (*conversations, *agent_histories) if history),
        default=None,
    )
    end_candidates = [t for t in (until, now if now is not None else last) if t is not None]
    end = min(end_candidates) if end_candidates else 0.0

    agents: dict[str, _AgentLog] = {}
    chats: list[_Chat] = []
    for history in conversations:
        started = history[0].at
        counted = not (
            (since is not None and started < since) or (until is not None and started >= until)
        )
        chat = _fold_chat(history, agents, end, counted=counted)
        if chat is not None and counted:
            chats.append(chat)
    for history in agent_histories:
        _fold_agent(history, agents.setdefault(history[0].aggregate_id, _AgentLog()), end)

    firsts = [chat.started_at for chat in chats]
    firsts += [log.logged_in[0][0] for log in agents.values() if log.logged_in]
    start = since if since is not None else min(firsts, default=None)

    overall = _figures(chats, [seconds for chat in chats for _, seconds in chat.wrapped], threshold)
    # every queue configured (a quiet one with its zeros, as the wallboard lists it) and any
    # other a reported chat was in
    queue_names = sorted(
        configured | {chat.queue for chat in chats} | {q for c in chats for q, _ in c.wrapped}
    )
    by_queue = {
        name: _figures(
            [chat for chat in chats if chat.queue == name],
            [seconds for chat in chats for queue, seconds in chat.wrapped if queue == name],
            threshold,
        )
        for name in queue_names
    }
    low = -math.inf if start is None else start
    by_agent = {}
    for agent_id in sorted(agents):
        log = agents[agent_id]
        busy = _clip(log.held, low, end)
        logged_in = _clip(log.logged_in, low, end)
        idle = _clip(log.idle, low, end)
        busy_seconds = _length(busy)
        logged_seconds = _length(logged_in)
        idle_seconds = _length(idle)
        idle_not_busy = idle_seconds - _overlap(idle, busy)
        by_agent[agent_id] = AgentFigures(
            agent_id=agent_id,
            name=log.name,
            legs=log.legs,
            rona=log.rona,
            busy=busy_seconds,
            logged_in=logged_seconds,
            idle=idle_seconds,
            idle_not_busy=idle_not_busy,
            occupancy=_ratio(busy_seconds, logged_seconds - idle_not_busy),
        )
    return Report(
        **attrs.asdict(overall),
        since=since,
        until=until,
        start=start,
        end=end if start is not None else None,
        service_level_threshold=threshold,
        interval=interval,
        by_queue=by_queue,
        by_agent=by_agent,
        intervals=_intervals(chats, since, until, threshold, interval),
    )


def _intervals(
    chats: Sequence[_Chat],
    since: float | None,
    until: float | None,
    threshold: float,
    interval: float,
) -> tuple[Interval, ...]:
    starts = [chat.started_at for chat in chats]
    low = since if since is not None else min(starts, default=None)
    high = until if until is not None else max(starts, default=None)
    if low is None or high is None:
        return ()
    first = math.floor(low / interval)
    last = math.ceil(high / interval) if until is not None else math.floor(high / interval) + 1
    count = max(1, last - first)
    if count > _MAX_INTERVALS:
        raise InvalidArgument(
            f"{count} intervals of {interval:g} s: choose a longer interval or a shorter window"
        )
    buckets: dict[int, list[_Chat]] = defaultdict(list)
    for chat in chats:
        buckets[math.floor(chat.started_at / interval)].append(chat)
    return tuple(
        Interval(
            start=index * interval,
            end=(index + 1) * interval,
            figures=_figures(
                buckets.get(index, []),
                [seconds for chat in buckets.get(index, []) for _, seconds in chat.wrapped],
                threshold,
            ),
        )
        for index in range(first, first + count)
    )


# --------------------------------------------------------------------------- the wallboard


@attrs.frozen(kw_only=True)
class QueueStats:
    """One queue on the wallboard.

    Attributes:
        name: the queue.
        waiting: chats queued now (waiting for an offer).
        longest_wait: seconds the oldest of them has waited (0 when none): since the chat
            started, or since an agent last had it (a transfer put it back in a queue).
        available: agents serving the queue who are available now.
    """

    name: str
    waiting: int = 0
    longest_wait: float = 0.0
    available: int = 0


@attrs.frozen(kw_only=True)
class Wallboard:
    """The live wallboard (``desk.stats()``): queues and agent states at ``at``.

    Attributes:
        at: when it was read.
        queues: ``queues[name]`` is a :class:`QueueStats` for every queue.
        agents: how many agents are in each state; every state is present
            (``logged_out``, ``idle``, ``available``, ``rona``).
    """

    at: float
    queues: Mapping[str, QueueStats]
    agents: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """The wallboard as JSON-ready values."""
        return {
            "at": self.at,
            "queues": {name: attrs.asdict(q) for name, q in self.queues.items()},
            "agents": dict(self.agents),
        }

    def _repr_html_(self) -> str:
        """Tables and small inline SVG bars for notebooks."""
        from ._report_view import wallboard_html

        return wallboard_html(self)


def waiting_since(conversation: Conversation) -> float:
    """When a queued chat's current wait began: its start, or the moment an agent last
    had it (the end of the latest accepted leg), whichever is later."""
    ends = [
        leg.ended_at
        for leg in conversation.legs
        if leg.accepted_at is not None and leg.ended_at is not None
    ]
    return max([conversation.started_at, *ends])


def compute_wallboard(
    now: float,
    queues: Collection[Queue],
    agents: Collection[Agent],
    queued: Iterable[Conversation],
) -> Wallboard:
    """The wallboard at ``now`` from the live records (pure)."""
    now = check_seconds(now, "now")
    queues = check_items(queues, Queue, "queues")
    agents = check_items(agents, Agent, "agents")
    queued = check_items(queued, Conversation, "queued")
    waiting: dict[str, list[float]] = {queue.name: [] for queue in queues}
    for conversation in queued:
        if conversation.state is ConversationState.QUEUED:
            waiting.setdefault(conversation.queue, []).append(waiting_since(conversation))
    available: dict[str, int] = defaultdict(int)
    states = dict.fromkeys((str(state) for state in AgentState), 0)
    for agent in agents:
        states[str(agent.state)] += 1
        if agent.state is AgentState.AVAILABLE:
            for name in agent.queues:
                available[name] += 1
    return Wallboard(
        at=now,
        queues={
            name: QueueStats(
                name=name,
                waiting=len(since),
                longest_wait=max(0.0, now - min(since)) if since else 0.0,
                available=available[name],
            )
            for name, since in sorted(waiting.items())
        },
        agents=states,
    )
