"""The tables: the derived lookups agree with the ``transitions`` declarations on every
pair, every name in them means something, and a refusal names command, input and state."""

from __future__ import annotations

import enum
import pathlib
import re
from typing import Any

import pytest
from transitions import MachineError

from livechat_core import AgentStateError, ConversationStateError, Desk, InvalidTransition
from livechat_core import _commands as cmd
from livechat_core._conversation import EFFECTS
from livechat_core._core import Settings, decide
from livechat_core._events import EVENT_TYPES
from livechat_core._machines import (
    AGENT_MACHINE,
    AGENT_TABLE,
    ALL_WRAPPED_UP,
    COMMANDS,
    CONFERENCE,
    CONVERSATION_MACHINE,
    CONVERSATION_TABLE,
    CUSTOMER_PRESENT,
    HELD,
    IN_QUEUE,
    LEG_MACHINE,
    LOGGED_IN,
    MACHINES,
    OPEN,
    OWNED,
    WAITING,
    StateMachine,
    mermaid,
)
from livechat_core.ports import Changes

DOCS = pathlib.Path(__file__).parent.parent / "docs" / "model.md"


class _Model:
    state: str


def _declared_dest(machine: StateMachine[Any], state: str, trigger: str) -> str | None:
    """Ask the ``transitions`` declaration itself, with a throwaway model."""
    model = _Model()
    machine.declaration.add_model(model, initial=state)
    try:
        getattr(model, trigger)()
    except MachineError:
        return None
    finally:
        machine.declaration.remove_model(model)
    return model.state


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_derived_table_agrees_with_declaration_on_every_pair(machine: StateMachine[Any]) -> None:
    pairs = list(machine.pairs())
    assert len(pairs) == len(machine.states.__members__) * len(machine.triggers)
    for state, trigger, derived in pairs:
        assert derived == _declared_dest(machine, state, trigger), (state, trigger)


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_missing_pair_raises_typed_error_naming_machine_state_and_trigger(
    machine: StateMachine[Any],
) -> None:
    for state, trigger, dest in machine.pairs():
        if dest is not None:
            assert machine.next_state(state, trigger) == dest
            continue
        with pytest.raises(InvalidTransition) as caught:
            machine.next_state(state, trigger, aggregate_id="x1")
        assert caught.value.machine == machine.name
        assert caught.value.state == state
        assert caught.value.trigger == trigger
        assert caught.value.aggregate_id == "x1"


def test_machines_raise_their_own_error_classes() -> None:
    with pytest.raises(AgentStateError):
        AGENT_MACHINE.next_state("logged_out", "AgentAvailable")
    with pytest.raises(ConversationStateError):
        CONVERSATION_MACHINE.next_state("closed", "OfferAccepted")
    assert LEG_MACHINE.next_state("offered", "OfferAccepted") == "active"


def test_declarations_never_ignore_invalid_triggers_nor_add_auto_transitions() -> None:
    for machine in MACHINES.values():
        assert machine.declaration.ignore_invalid_triggers is False
        assert not any(t.startswith("to_") for t in machine.declaration.events)


def test_every_state_is_reachable_from_the_initial_state() -> None:
    for machine in MACHINES.values():
        seen = {machine.initial.value}
        frontier = [machine.initial.value]
        while frontier:
            state = frontier.pop()
            for source, _, dest in machine.pairs():
                if source == state and dest is not None and dest not in seen:
                    seen.add(dest)
                    frontier.append(dest)
        assert seen == {s.value for s in machine.states}, machine.name


def test_generated_diagrams_in_docs_are_current() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name, machine in MACHINES.items():
        match = re.search(
            rf"<!-- diagram:{name} -->\n```mermaid\n(.*?)```\n<!-- /diagram:{name} -->",
            text,
            re.S,
        )
        assert match is not None, f"docs/model.md lacks the {name} diagram"
        assert match.group(1) == mermaid(machine), (
            f"the {name} diagram is stale: run python scripts/generate_diagrams.py"
        )


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_each_pair_steps_to_its_rows_next_state_with_its_rows_effect(
    machine: StateMachine[Any],
) -> None:
    expected: dict[tuple[str, str], tuple[str, str]] = {}
    for sources, input_, dest, effect in machine.table:
        for source in sorted(sources) if isinstance(sources, frozenset | tuple) else [sources]:
            expected[(str(source), input_)] = (str(source if dest is None else dest), effect)
    assert machine.step_table() == expected


def test_every_effect_named_in_the_conversation_table_has_code_and_none_is_unused() -> None:
    named = {effect for _, _, _, effect in CONVERSATION_MACHINE.table}
    assert named == set(EFFECTS)


def test_every_input_names_an_event_or_a_state_triggered_rule() -> None:
    for machine in MACHINES.values():
        for input_ in machine.inputs:
            event_type = input_.partition("[")[0]
            assert event_type in EVENT_TYPES or input_ == ALL_WRAPPED_UP, input_


def test_every_conversation_event_has_rows_except_the_one_that_creates_it() -> None:
    with_rows = {input_.partition("[")[0] for input_ in CONVERSATION_MACHINE.inputs}
    conversation_events = {
        name for name, cls in EVENT_TYPES.items() if cls.aggregate == "conversation"
    }
    assert conversation_events - with_rows == {"ChatStarted"}
    agent_events = {name for name, cls in EVENT_TYPES.items() if cls.aggregate == "agent"}
    assert set(AGENT_MACHINE.inputs) == agent_events


def test_the_command_vocabulary_names_every_command_and_only_inputs_of_the_tables() -> None:
    commands = {
        name
        for name, value in vars(cmd).items()
        if isinstance(value, type) and issubclass(value, cmd.Command) and value is not cmd.Command
    }
    assert set(COMMANDS) - {"(routing)"} == commands - {"AddQueue"}
    inputs = {i for machine in MACHINES.values() for i in machine.inputs} | {"ChatStarted"}
    for command, emitted in COMMANDS.items():
        assert set(emitted) <= inputs, command


def test_state_groups_partition_the_open_states_as_documented() -> None:
    assert WAITING | HELD == CUSTOMER_PRESENT
    assert not WAITING & HELD
    assert CUSTOMER_PRESENT | {"disconnected", "wrap_up"} == OPEN
    assert HELD | {"disconnected"} == OWNED
    assert IN_QUEUE <= WAITING
    assert CONFERENCE <= HELD


def test_a_refusal_names_the_command_the_input_the_conversation_and_its_state() -> None:
    desk = Desk(clock=lambda: 1000.0)
    desk.add_queue("support", ["Resolved"])
    conversation_id = desk.start_chat("support", "Karel", "")
    desk.customer_end(conversation_id)
    with pytest.raises(ConversationStateError) as caught:
        desk.send_customer_message(conversation_id, "Hello?")
    error = caught.value
    assert (error.machine, error.trigger, error.state, error.aggregate_id) == (
        "conversation",
        "MessagePosted[customer]",
        "closed",
        conversation_id,
    )
    assert isinstance(error.command, cmd.SendCustomerMessage)
    assert "SendCustomerMessage" in error.message
    assert desk.conversation(conversation_id).version == 2  # nothing changed


def test_a_refused_agent_step_names_the_command_and_changes_nothing() -> None:
    desk = Desk(clock=lambda: 1000.0)
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.logout("jana")
    with pytest.raises(AgentStateError) as caught:
        desk.set_available("jana")
    assert (caught.value.trigger, caught.value.state) == ("AgentAvailable", "logged_out")
    assert isinstance(caught.value.command, cmd.SetAvailable)
    assert desk.agent("jana").state == "logged_out"


# --- a test-only variant: what a new state costs (docs/decisions.md walks the list) -----


class _BusyAgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    IDLE = "idle"
    AVAILABLE = "available"
    RONA = "rona"
    BUSY = "busy"


def test_a_new_agent_state_is_rows_of_the_table_and_nothing_else_of_the_machine() -> None:
    busy = _BusyAgentState.BUSY
    logged_in = frozenset({*LOGGED_IN, busy})
    table = (
        *AGENT_TABLE,
        ((_BusyAgentState.AVAILABLE, _BusyAgentState.IDLE), "AgentBusy", busy, "go_idle"),
        (busy, "AgentAvailable", _BusyAgentState.AVAILABLE, "become_available"),
        (busy, "AgentLoggedOut", _BusyAgentState.LOGGED_OUT, "log_out"),
    )
    variant = StateMachine(
        "agent", _BusyAgentState, table, _BusyAgentState.LOGGED_OUT, AgentStateError
    )
    for state, input_, derived in variant.pairs():
        assert derived == _declared_dest(variant, state, input_), (state, input_)
    assert variant.step("available", "AgentBusy") == (busy, "go_idle")
    assert "    busy --> available: AgentAvailable" in mermaid(variant).splitlines()
    with pytest.raises(AgentStateError):
        variant.step("busy", "AgentRona")
    assert logged_in - LOGGED_IN == {"busy"}


class _OnHoldState(enum.StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    TRANSFER_REQUESTED = "transfer_requested"
    CONFERENCE_REQUESTED = "conference_requested"
    CONFERENCING = "conferencing"
    DISCONNECTED = "disconnected"
    WRAP_UP = "wrap_up"
    CLOSED = "closed"


def test_a_new_conversation_state_is_rows_of_the_table_and_nothing_else_of_the_machine() -> None:
    on_hold = _OnHoldState.ON_HOLD
    table = (
        *CONVERSATION_TABLE,
        (_OnHoldState.ACTIVE, "ChatHeld", on_hold, "post"),
        (on_hold, "ChatResumed", _OnHoldState.ACTIVE, "post"),
        (on_hold, "CustomerEnded", _OnHoldState.DISCONNECTED, "disconnect"),
        (on_hold, "MessagePosted[customer]", None, "post"),
    )
    variant = StateMachine(
        "conversation", _OnHoldState, table, _OnHoldState.QUEUED, ConversationStateError
    )
    for state, input_, derived in variant.pairs():
        assert derived == _declared_dest(variant, state, input_), (state, input_)
    assert variant.next_state("on_hold", "ChatResumed") == "active"
    with pytest.raises(ConversationStateError) as caught:
        variant.step("on_hold", "MessagePosted[owner]", aggregate_id="c1")
    assert (caught.value.state, caught.value.trigger) == ("on_hold", "MessagePosted[owner]")
    assert "    on_hold --> disconnected: CustomerEnded" in mermaid(variant).splitlines()


# --- a decision writes what changed, and routes only when something routable changed ----


class _CountingReader:
    """A memory-store transaction that counts the routing reads a decision makes."""

    def __init__(self, txn: Any) -> None:
        self._txn = txn
        self.routing_reads = 0

    def __getattr__(self, name: str) -> Any:
        if name in ("queued", "agents"):
            self.routing_reads += 1
        return getattr(self._txn, name)


def _decided(desk: Desk, command: cmd.Command) -> tuple[Changes, int]:
    """What ``command`` would change on ``desk``, and how many routing reads it made."""
    with desk.store.transaction() as txn:
        reader = _CountingReader(txn)
        changes = decide(reader, command, 1010.0, Settings())
    return changes, reader.routing_reads


def test_only_the_agents_whose_legs_moved_are_written_and_routing_runs_only_when_needed() -> None:
    desk = Desk(clock=lambda: 1000.0)
    desk.add_queue("support", ["Resolved"])
    for agent_id in ("jana", "petr"):
        desk.login(agent_id, agent_id.title(), ["support"])
    desk.set_available("jana")
    conversation_id = desk.start_chat("support", "Karel", "")
    desk.set_available("petr")

    accepted, reads = _decided(desk, cmd.Accept(agent_id="jana", conversation_id=conversation_id))
    assert (accepted.agents, reads) == ((), 0)  # an accepted offer still counts: no change
    desk.accept("jana", conversation_id)

    message = cmd.SendCustomerMessage(conversation_id=conversation_id, text="Hello")
    posted, reads = _decided(desk, message)
    assert (posted.agents, reads) == ((), 0)
    assert [type(event).__name__ for event in posted.events] == ["MessagePosted"]

    ended, reads = _decided(desk, cmd.End(agent_id="jana", conversation_id=conversation_id))
    jana = desk.agent("jana")
    assert [(agent.id, base) for agent, base in ended.agents] == [("jana", jana.version)]
    ((after, _),) = ended.agents
    assert (after.holding, after.wrapping) == ((), (conversation_id,))
    assert after.version == jana.version + 1
    assert reads > 0  # jana, available, has room again: her queue is routed
    desk.end("jana", conversation_id)

    wrap_up = cmd.SubmitWrapUp(agent_id="jana", conversation_id=conversation_id, reason="Resolved")
    wrapped, reads = _decided(desk, wrap_up)
    assert [agent.id for agent, _ in wrapped.agents] == ["jana"]
    assert reads == 0  # a wrap-up frees no capacity
    ((conversation, _),) = wrapped.conversations
    assert conversation.state == "closed"
